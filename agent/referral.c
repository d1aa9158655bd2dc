/*
 * referral.c: the ferry-referral/1 document: validation of the JSON form,
 * and conversion between JSON and the canonical msgpack form.
 *
 * One table (the specs below) describes every object: its fields, their
 * JSON names, wire field numbers, types and limits.  The generic walker
 * checks structure against the table; check_referral and check_response
 * then apply the rules that depend on the kind of document (required
 * fields per referral type, consent, Duty to Notify anonymity).  The wire
 * encoder and decoder walk the same table, so the two forms cannot drift
 * apart.  docs/referral-schema.md is the normative description.
 */
#include "referral.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "ferry.h"
#include "wire.h"

/* Value types. */
enum vtype {
	V_STR = 1,	/* JSON string, wire str; fmt refines it */
	V_ENUM,		/* JSON string from a list, wire str */
	V_BOOL,		/* JSON true/false, wire bool */
	V_UINT,		/* JSON integer in [min, max], wire uint */
	V_HEX16,	/* JSON 32 lowercase hex digits, wire bin 16 */
	V_B64,		/* JSON base64 (RFC 4648, padded), wire bin */
	V_OBJ,		/* JSON object, wire map with field-number keys */
	V_ARR		/* JSON array, wire array */
};

/* String formats (V_STR). */
enum sfmt {
	S_LINE = 0,	/* no control characters */
	S_TEXT,		/* control characters other than TAB, LF, CR refused */
	S_CASEID,	/* [A-Za-z0-9][A-Za-z0-9._-]* */
	S_DATE,		/* YYYY-MM-DD, a real date, not in the future */
	S_PDATE,	/* YYYY, YYYY-MM or YYYY-MM-DD, not in the future */
	S_EMAIL,	/* local@domain.tld, no spaces */
	S_PHONE,	/* digits, spaces, -, (, ), an optional leading + */
	S_MEDIA,	/* type/subtype, lowercase tokens */
	S_FILE		/* a file name: no / or \, not starting with . */
};

struct ospec;

struct vspec {
	enum vtype type;
	enum sfmt fmt;
	uint64_t min, max;	/* bytes (str), value (uint), items (arr) */
	const char *const *enums;	/* V_ENUM: NULL-terminated */
	const struct ospec *obj;	/* V_OBJ */
	const struct vspec *elem;	/* V_ARR */
	int unique;			/* V_ARR: items must differ */
};

struct fspec {
	const char *name;
	uint64_t num;		/* wire key, ascending within an object */
	int required;		/* always required (others: per kind) */
	struct vspec v;
};

struct ospec {
	const struct fspec *f;
	size_t n;
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const kinds[] = { "referral", "response", NULL };
static const char *const rtypes[] = { "nrm", "duty-to-notify",
    "safeguarding", "housing", "health", "crime-report", NULL };
static const char *const urgencies[] = { "routine", "urgent", "emergency",
    NULL };
static const char *const agegroups[] = { "adult", "child", NULL };
static const char *const sexes[] = { "female", "male", "other", "unknown",
    NULL };
static const char *const methods[] = { "phone", "email", "via-referrer",
    "none", NULL };
static const char *const xtypes[] = { "labour", "sexual", "criminal",
    "domestic-servitude", "organ-removal", "financial", "other", NULL };
static const char *const responses[] = { "accepted", "declined",
    "more-information-needed", "information-provided", "closed", NULL };

#define STR(f, lo, hi) { V_STR, f, lo, hi, NULL, NULL, NULL, 0 }
#define ENUM(e) { V_ENUM, S_LINE, 0, 0, e, NULL, NULL, 0 }
#define BOOL { V_BOOL, S_LINE, 0, 0, NULL, NULL, NULL, 0 }
#define UINT(lo, hi) { V_UINT, S_LINE, lo, hi, NULL, NULL, NULL, 0 }
#define OBJ(o) { V_OBJ, S_LINE, 0, 0, NULL, &o, NULL, 0 }
#define ARR(e, lo, hi, u) { V_ARR, S_LINE, lo, hi, NULL, NULL, &e, u }

static const struct vspec name_item = STR(S_LINE, 1, 128);
static const struct vspec lang_item = STR(S_LINE, 1, 64);
static const struct vspec indicator_item = STR(S_LINE, 1, 512);
static const struct vspec need_item = STR(S_LINE, 1, 256);
static const struct vspec xtype_item = ENUM(xtypes);

static const struct fspec consent_f[] = {
	{ "referral", 1, 1, BOOL },
	{ "support", 2, 1, BOOL },
	{ "police_contact", 3, 1, BOOL },
	{ "obtained_by", 4, 0, STR(S_LINE, 1, 128) },
	{ "obtained_at", 5, 0, STR(S_DATE, 1, 10) },
};
static const struct ospec consent_o = { consent_f, NELEM(consent_f) };

static const struct fspec safe_f[] = {
	{ "method", 1, 1, ENUM(methods) },
	{ "details", 2, 0, STR(S_LINE, 1, 256) },
};
static const struct ospec safe_o = { safe_f, NELEM(safe_f) };

static const struct fspec subject_f[] = {
	{ "given_name", 1, 0, STR(S_LINE, 1, 128) },
	{ "family_name", 2, 0, STR(S_LINE, 1, 128) },
	{ "aliases", 3, 0, ARR(name_item, 0, 16, 0) },
	{ "date_of_birth", 4, 0, STR(S_DATE, 1, 10) },
	{ "age_estimate", 5, 0, UINT(0, 120) },
	{ "sex", 6, 0, ENUM(sexes) },
	{ "nationality", 7, 0, STR(S_LINE, 1, 64) },
	{ "languages", 8, 0, ARR(lang_item, 0, 16, 0) },
	{ "interpreter_needed", 9, 0, BOOL },
	{ "safe_contact", 10, 0, OBJ(safe_o) },
};
static const struct ospec subject_o = { subject_f, NELEM(subject_f) };

static const struct fspec exploit_f[] = {
	{ "types", 1, 1, ARR(xtype_item, 1, 7, 1) },
	{ "location", 2, 0, STR(S_LINE, 1, 256) },
	{ "started", 3, 0, STR(S_PDATE, 1, 10) },
	{ "ongoing", 4, 0, BOOL },
};
static const struct ospec exploit_o = { exploit_f, NELEM(exploit_f) };

static const struct fspec needs_f[] = {
	{ "accommodation", 1, 1, BOOL },
	{ "medical", 2, 1, BOOL },
	{ "immediate_threat", 3, 1, BOOL },
	{ "other", 4, 0, ARR(need_item, 0, 16, 0) },
};
static const struct ospec needs_o = { needs_f, NELEM(needs_f) };

static const struct fspec party_f[] = {
	{ "name", 1, 1, STR(S_LINE, 1, 128) },
	{ "role", 2, 0, STR(S_LINE, 1, 128) },
	{ "organisation", 3, 1, STR(S_LINE, 1, 128) },
	{ "phone", 4, 0, STR(S_PHONE, 3, 32) },
	{ "email", 5, 0, STR(S_EMAIL, 3, 254) },
};
static const struct ospec party_o = { party_f, NELEM(party_f) };

static const struct fspec attach_f[] = {
	{ "name", 1, 1, STR(S_FILE, 1, 255) },
	{ "media_type", 2, 1, STR(S_MEDIA, 3, 127) },
	{ "data_base64", 3, 1, { V_B64, S_LINE, 1, REFERRAL_ATTACH_MAX, NULL,
	    NULL, NULL, 0 } },
};
static const struct ospec attach_o = { attach_f, NELEM(attach_f) };
static const struct vspec attach_item = OBJ(attach_o);

/* Top-level field numbers, used by the per-kind rules. */
enum {
	T_SCHEMA = 1, T_KIND, T_CASE, T_TYPE, T_URGENCY, T_AGE, T_CONSENT,
	T_SUBJECT, T_EXPLOIT, T_INDICATORS, T_NARRATIVE, T_NEEDS, T_POLICEREF,
	T_REFERRER, T_ATTACH, T_REPLYTO, T_RESPONSE, T_REASON, T_RESPONDER
};

static const struct fspec top_f[] = {
	{ "schema", T_SCHEMA, 1, STR(S_LINE, 1, 32) },
	{ "message_kind", T_KIND, 1, ENUM(kinds) },
	{ "case_id", T_CASE, 0, STR(S_CASEID, 1, REFERRAL_CASEID_MAX) },
	{ "referral_type", T_TYPE, 0, ENUM(rtypes) },
	{ "urgency", T_URGENCY, 0, ENUM(urgencies) },
	{ "age_group", T_AGE, 0, ENUM(agegroups) },
	{ "consent", T_CONSENT, 0, OBJ(consent_o) },
	{ "subject", T_SUBJECT, 0, OBJ(subject_o) },
	{ "exploitation", T_EXPLOIT, 0, OBJ(exploit_o) },
	{ "indicators", T_INDICATORS, 0, ARR(indicator_item, 0, 64, 0) },
	{ "narrative", T_NARRATIVE, 0, STR(S_TEXT, 1, REFERRAL_NARRATIVE_MAX) },
	{ "needs", T_NEEDS, 0, OBJ(needs_o) },
	{ "police_reference", T_POLICEREF, 0, STR(S_LINE, 1, 64) },
	{ "referrer", T_REFERRER, 0, OBJ(party_o) },
	{ "attachments", T_ATTACH, 0,
	    ARR(attach_item, 0, REFERRAL_ATTACH_COUNT, 0) },
	{ "in_reply_to", T_REPLYTO, 0, { V_HEX16, S_LINE, 0, 0, NULL, NULL,
	    NULL, 0 } },
	{ "response", T_RESPONSE, 0, ENUM(responses) },
	{ "reason", T_REASON, 0, STR(S_TEXT, 1, 4096) },
	{ "responder", T_RESPONDER, 0, OBJ(party_o) },
};
static const struct ospec top_o = { top_f, NELEM(top_f) };
static const struct vspec top_v = OBJ(top_o);

#define PATH_MAX_ 160

struct ctx {
	char *err;
	size_t errlen;
	int64_t today;		/* days since 1970-01-01, UTC */
	uint64_t attach_bytes;
	size_t attach_count;
};

static int
fail(struct ctx *c, int code, const char *path, const char *fmt, ...)
{
	char msg[REFERRAL_ERR_MAX];
	va_list ap;
	char *p;

	if (c->err == NULL || c->errlen == 0)
		return (code);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s", path[0] ? path : "document",
	    msg);
	/* One line, always: member names and parser text come from input. */
	for (p = c->err; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return (code);
}

/*
 * Paths are built for every field checked, found or not (the hot path of
 * each send and receive), so by hand: the text snprintf "%s.%s" and
 * "%s[%zu]" would give, cut to PATH_MAX_ - 1 bytes the same way.
 */
static size_t
path_put(char *out, size_t n, const char *s)
{
	size_t k = strlen(s);

	if (k > PATH_MAX_ - 1 - n)
		k = PATH_MAX_ - 1 - n;
	memcpy(out + n, s, k);
	return (n + k);
}

static void
path_field(char *out, const char *parent, const char *name)
{
	size_t n;

	n = path_put(out, 0, parent);
	if (parent[0] != '\0')
		n = path_put(out, n, ".");
	out[path_put(out, n, name)] = '\0';
}

static void
path_index(char *out, const char *parent, size_t i)
{
	char d[24];
	size_t k = sizeof(d);

	d[--k] = '\0';
	d[--k] = ']';
	do
		d[--k] = (char)('0' + i % 10);
	while ((i /= 10) != 0);
	d[--k] = '[';
	out[path_put(out, path_put(out, 0, parent), d + k)] = '\0';
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + (int64_t)doe - 719468);
}

static int
digits(const char *s, size_t n, unsigned *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (0);
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return (1);
}

/*
 * Parse a date of ${len} bytes: YYYY-MM-DD, or with ${partial} also YYYY
 * and YYYY-MM.  Sets *${days} to its first day.  Returns 1 if it is a
 * real calendar date with a year from 1900 to 9999.
 */
static int
parse_date(const char *s, size_t len, int partial, int64_t *days)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	unsigned y, m = 1, d = 1, dim;

	if (len != 10 && !(partial && (len == 4 || len == 7)))
		return (0);
	if (!digits(s, 4, &y) || y < 1900)
		return (0);
	if (len >= 7) {
		if (s[4] != '-' || !digits(s + 5, 2, &m) || m < 1 || m > 12)
			return (0);
	}
	if (len == 10) {
		if (s[7] != '-' || !digits(s + 8, 2, &d))
			return (0);
		dim = mdays[m - 1];
		if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
			dim = 29;
		if (d < 1 || d > dim)
			return (0);
	}
	*days = days_from_civil(y, m, d);
	return (1);
}

static int
is_token(unsigned char ch)
{

	return ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	    strchr("!#$&^_.+-", ch) != NULL);
}

static int
check_format(struct ctx *c, const char *s, size_t len, enum sfmt fmt,
    const char *path)
{
	size_t i, at = 0, nat = 0, ndig = 0;
	int64_t days;

	/* Control characters first: they are refused everywhere. */
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f) {
			if (fmt == S_TEXT &&
			    (ch == '\t' || ch == '\n' || ch == '\r'))
				continue;
			return (fail(c, FERRY_ESCHEMA, path,
			    "control characters not allowed"));
		}
	}
	switch (fmt) {
	case S_LINE:
	case S_TEXT:
		return (0);
	case S_CASEID:
		for (i = 0; i < len; i++) {
			unsigned char ch = (unsigned char)s[i];

			if ((ch >= 'A' && ch <= 'Z') ||
			    (ch >= 'a' && ch <= 'z') ||
			    (ch >= '0' && ch <= '9'))
				continue;
			if (i > 0 && (ch == '.' || ch == '_' || ch == '-'))
				continue;
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be letters, digits, '.', '_', '-' and "
			    "start with a letter or digit"));
		}
		return (0);
	case S_DATE:
	case S_PDATE:
		if (!parse_date(s, len, fmt == S_PDATE, &days))
			return (fail(c, FERRY_ESCHEMA, path, "not a date"));
		/* One day of grace for senders east of UTC. */
		if (days > c->today + 1)
			return (fail(c, FERRY_ESCHEMA, path, "in the future"));
		return (0);
	case S_EMAIL:
		for (i = 0; i < len; i++) {
			if (s[i] == '@') {
				at = i;
				nat++;
			} else if (s[i] == ' ')
				nat = 99;
		}
		if (nat != 1 || at == 0 || at + 1 >= len ||
		    memchr(s + at + 1, '.', len - at - 1) == NULL)
			return (fail(c, FERRY_ESCHEMA, path,
			    "not an email address"));
		return (0);
	case S_PHONE:
		for (i = 0; i < len; i++) {
			if (s[i] >= '0' && s[i] <= '9')
				ndig++;
			else if (!((s[i] == '+' && i == 0) || s[i] == ' ' ||
			    s[i] == '-' || s[i] == '(' || s[i] == ')'))
				break;
		}
		if (i < len || ndig < 3)
			return (fail(c, FERRY_ESCHEMA, path,
			    "not a phone number"));
		return (0);
	case S_MEDIA:
		for (i = 0; i < len; i++) {
			if (s[i] == '/') {
				at = i;
				nat++;
			} else if (!is_token((unsigned char)s[i]))
				nat = 99;
		}
		if (nat != 1 || at == 0 || at + 1 >= len)
			return (fail(c, FERRY_ESCHEMA, path,
			    "not a media type (lowercase type/subtype)"));
		return (0);
	case S_FILE:
		if (s[0] == '.' || memchr(s, '/', len) != NULL ||
		    memchr(s, '\\', len) != NULL)
			return (fail(c, FERRY_ESCHEMA, path,
			    "not a file name (no '/', '\\', leading '.')"));
		return (0);
	}
	return (fail(c, FERRY_EINTERNAL, path, "internal error"));
}

static int
enum_index(const char *const *e, const char *s)
{
	int i;

	for (i = 0; e[i] != NULL; i++)
		if (strcmp(e[i], s) == 0)
			return (i);
	return (-1);
}

/* The words of ${e} (NULL-terminated) into ${out}, ", " between them. */
static void
join_words(const char *const *e, char *out, size_t cap)
{
	size_t off = 0;
	int i;

	out[0] = '\0';
	for (i = 0; e[i] != NULL; i++) {
		int n = snprintf(out + off, cap - off, "%s%s", i ? ", " : "",
		    e[i]);

		if (n < 0 || (size_t)n >= cap - off)
			break;
		off += (size_t)n;
	}
}

static int
fail_enum(struct ctx *c, const char *path, const char *const *e)
{
	char list[REFERRAL_ERR_MAX];

	join_words(e, list, sizeof(list));
	return (fail(c, FERRY_ESCHEMA, path, "must be one of %s", list));
}

/* Base64 (ferry_unbase64: RFC 4648 section 4, padded, canonical) into a
 * new buffer *${out} (free()). */
static int
b64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t *buf;
	size_t cap = len / 4 * 3 + 1;
	int rc;

	*out = NULL;
	*outlen = 0;
	if ((buf = malloc(cap)) == NULL)
		return (FERRY_ENOMEM);
	if ((rc = ferry_unbase64(buf, cap, s, len, outlen)) != 0) {
		free(buf);
		return (rc);
	}
	*out = buf;
	return (0);
}

static int
is_lowhex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
	return (1);
}

static int check_value(struct ctx *, const json_t *, const struct vspec *,
    const char *);

static int
check_obj(struct ctx *c, const json_t *o, const struct ospec *spec,
    const char *path)
{
	char sub[PATH_MAX_];
	const char *key;
	json_t *v;
	size_t i;
	int rc;

	if (!json_is_object(o))
		return (fail(c, FERRY_ESCHEMA, path, "must be an object"));
	/* Unknown fields, in document order. */
	json_object_foreach((json_t *)o, key, v) {
		for (i = 0; i < spec->n; i++)
			if (strcmp(spec->f[i].name, key) == 0)
				break;
		if (i == spec->n) {
			path_field(sub, path, key);
			return (fail(c, FERRY_ESCHEMA, sub, "unknown field"));
		}
	}
	for (i = 0; i < spec->n; i++) {
		path_field(sub, path, spec->f[i].name);
		if ((v = json_object_get(o, spec->f[i].name)) == NULL) {
			if (spec->f[i].required)
				return (fail(c, FERRY_ESCHEMA, sub,
				    "required"));
			continue;
		}
		if ((rc = check_value(c, v, &spec->f[i].v, sub)) != 0)
			return (rc);
	}
	return (0);
}

static int
check_value(struct ctx *c, const json_t *v, const struct vspec *vs,
    const char *path)
{
	char sub[PATH_MAX_];
	const char *s;
	uint8_t *bin;
	size_t len, i, j, binlen;
	json_int_t n;
	int rc;

	switch (vs->type) {
	case V_STR:
		if (!json_is_string(v))
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be a string"));
		s = json_string_value(v);
		len = json_string_length(v);
		if (len == 0)
			return (fail(c, FERRY_ESCHEMA, path,
			    "must not be empty"));
		if (len > vs->max)
			return (fail(c, FERRY_ESCHEMA, path,
			    "longer than %llu bytes",
			    (unsigned long long)vs->max));
		if (len < vs->min)
			return (fail(c, FERRY_ESCHEMA, path,
			    "shorter than %llu bytes",
			    (unsigned long long)vs->min));
		return (check_format(c, s, len, vs->fmt, path));
	case V_ENUM:
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    enum_index(vs->enums, json_string_value(v)) < 0)
			return (fail_enum(c, path, vs->enums));
		return (0);
	case V_BOOL:
		if (!json_is_boolean(v))
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be true or false"));
		return (0);
	case V_UINT:
		if (!json_is_integer(v) ||
		    (n = json_integer_value(v)) < (json_int_t)vs->min ||
		    (uint64_t)n > vs->max)
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be an integer from %llu to %llu",
			    (unsigned long long)vs->min,
			    (unsigned long long)vs->max));
		return (0);
	case V_HEX16:
		if (!json_is_string(v) ||
		    json_string_length(v) != 2 * FERRY_MSGID_LEN ||
		    !is_lowhex(json_string_value(v), 2 * FERRY_MSGID_LEN))
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be a message id (32 lowercase hex digits)"));
		return (0);
	case V_B64:
		if (!json_is_string(v))
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be a string"));
		len = json_string_length(v);
		/* Refuse before decoding what cannot fit. */
		if (len / 4 * 3 > vs->max + 2)
			return (fail(c, FERRY_ESCHEMA, path,
			    "attachment larger than %llu bytes",
			    (unsigned long long)vs->max));
		rc = b64_decode(json_string_value(v), len, &bin, &binlen);
		if (rc == FERRY_ENOMEM)
			return (fail(c, rc, path, "out of memory"));
		if (rc != 0)
			return (fail(c, FERRY_ESCHEMA, path,
			    "not base64 (RFC 4648, padded, no whitespace)"));
		free(bin);
		if (binlen < vs->min)
			return (fail(c, FERRY_ESCHEMA, path,
			    "attachment is empty"));
		if (binlen > vs->max)
			return (fail(c, FERRY_ESCHEMA, path,
			    "attachment larger than %llu bytes",
			    (unsigned long long)vs->max));
		c->attach_bytes += binlen;
		c->attach_count++;
		if (c->attach_bytes > REFERRAL_ATTACH_MAX)
			return (fail(c, FERRY_ESCHEMA, path,
			    "attachments larger than %u bytes in total",
			    REFERRAL_ATTACH_MAX));
		return (0);
	case V_OBJ:
		return (check_obj(c, v, vs->obj, path));
	case V_ARR:
		if (!json_is_array(v))
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be an array"));
		if (json_array_size(v) > vs->max)
			return (fail(c, FERRY_ESCHEMA, path,
			    "more than %llu items",
			    (unsigned long long)vs->max));
		if (json_array_size(v) < vs->min)
			return (fail(c, FERRY_ESCHEMA, path,
			    "must have at least %llu item%s",
			    (unsigned long long)vs->min,
			    vs->min == 1 ? "" : "s"));
		for (i = 0; i < json_array_size(v); i++) {
			path_index(sub, path, i);
			if ((rc = check_value(c, json_array_get(v, i),
			    vs->elem, sub)) != 0)
				return (rc);
			if (!vs->unique)
				continue;
			for (j = 0; j < i; j++)
				if (json_equal(json_array_get(v, i),
				    json_array_get(v, j)))
					return (fail(c, FERRY_ESCHEMA, sub,
					    "repeats an earlier item"));
		}
		return (0);
	}
	return (fail(c, FERRY_EINTERNAL, path, "internal error"));
}

static const char *
str_of(const json_t *o, const char *key)
{

	return (json_string_value(json_object_get(o, key)));
}

/*
 * Refuse a member of ${d} named in ${notallowed} ("not allowed in a
 * ${what}") and a missing member named in ${required}.
 */
static int
check_members(struct ctx *c, const json_t *d, const char *const *notallowed,
    const char *const *required, const char *what)
{
	int i;

	for (i = 0; notallowed[i] != NULL; i++)
		if (json_object_get(d, notallowed[i]) != NULL)
			return (fail(c, FERRY_ESCHEMA, notallowed[i],
			    "not allowed in a %s", what));
	for (i = 0; required[i] != NULL; i++)
		if (json_object_get(d, required[i]) == NULL)
			return (fail(c, FERRY_ESCHEMA, required[i],
			    "required"));
	return (0);
}

static int
check_referral(struct ctx *c, const json_t *d)
{
	static const char *const notallowed[] = { "in_reply_to", "response",
	    "reason", "responder", NULL };
	static const char *const required[] = { "case_id", "referral_type",
	    "urgency", "age_group", "subject", "narrative", "referrer", NULL };
	static const char *const anonymous[] = { "given_name", "family_name",
	    "aliases", "date_of_birth", NULL };
	const json_t *subj, *cons, *sc, *ref;
	const char *type, *method;
	char sub[PATH_MAX_];
	int i, rc, nrm, dtn, adult;

	if ((rc = check_members(c, d, notallowed, required, "referral")) != 0)
		return (rc);
	type = str_of(d, "referral_type");
	nrm = strcmp(type, "nrm") == 0;
	dtn = strcmp(type, "duty-to-notify") == 0;
	adult = strcmp(str_of(d, "age_group"), "adult") == 0;
	subj = json_object_get(d, "subject");
	cons = json_object_get(d, "consent");
	ref = json_object_get(d, "referrer");
	sc = json_object_get(subj, "safe_contact");

	if (dtn) {
		/* Duty to Notify: an adult who did not consent to the NRM,
		 * reported to the Home Office without identifying them. */
		if (!adult)
			return (fail(c, FERRY_ESCHEMA, "age_group",
			    "duty-to-notify is for adults; refer a child "
			    "through nrm"));
		for (i = 0; anonymous[i] != NULL; i++) {
			if (json_object_get(subj, anonymous[i]) == NULL)
				continue;
			path_field(sub, "subject", anonymous[i]);
			return (fail(c, FERRY_ESCHEMA, sub,
			    "not allowed in duty-to-notify (anonymous)"));
		}
		if (sc != NULL && json_object_get(sc, "details") != NULL)
			return (fail(c, FERRY_ESCHEMA,
			    "subject.safe_contact.details",
			    "not allowed in duty-to-notify (anonymous)"));
		if (json_object_get(d, "attachments") != NULL)
			return (fail(c, FERRY_ESCHEMA, "attachments",
			    "not allowed in duty-to-notify (anonymous)"));
	} else if (json_object_get(subj, "given_name") == NULL &&
	    json_object_get(subj, "family_name") == NULL)
		return (fail(c, FERRY_ESCHEMA, "subject.given_name",
		    "required (or subject.family_name; \"unknown\" if not "
		    "known)"));
	if (nrm || dtn) {
		if (json_object_get(d, "exploitation") == NULL)
			return (fail(c, FERRY_ESCHEMA, "exploitation",
			    "required for %s", type));
		if (json_array_size(json_object_get(d, "indicators")) == 0)
			return (fail(c, FERRY_ESCHEMA, "indicators",
			    "at least one required for %s", type));
	}
	if ((strcmp(type, "housing") == 0 || strcmp(type, "health") == 0) &&
	    json_object_get(d, "needs") == NULL)
		return (fail(c, FERRY_ESCHEMA, "needs", "required for %s",
		    type));
	if (json_object_get(subj, "date_of_birth") != NULL &&
	    json_object_get(subj, "age_estimate") != NULL)
		return (fail(c, FERRY_ESCHEMA, "subject.age_estimate",
		    "not allowed with subject.date_of_birth"));
	if (sc != NULL) {
		method = str_of(sc, "method");
		if ((strcmp(method, "phone") == 0 ||
		    strcmp(method, "email") == 0) &&
		    json_object_get(sc, "details") == NULL)
			return (fail(c, FERRY_ESCHEMA,
			    "subject.safe_contact.details",
			    "required when method is %s", method));
		if (strcmp(method, "none") == 0 &&
		    json_object_get(sc, "details") != NULL)
			return (fail(c, FERRY_ESCHEMA,
			    "subject.safe_contact.details",
			    "not allowed when method is none"));
		if (json_object_get(sc, "details") != NULL &&
		    strcmp(method, "phone") == 0 &&
		    check_format(c, str_of(sc, "details"), json_string_length(
		    json_object_get(sc, "details")), S_PHONE,
		    "subject.safe_contact.details") != 0)
			return (FERRY_ESCHEMA);
		if (json_object_get(sc, "details") != NULL &&
		    strcmp(method, "email") == 0 &&
		    check_format(c, str_of(sc, "details"), json_string_length(
		    json_object_get(sc, "details")), S_EMAIL,
		    "subject.safe_contact.details") != 0)
			return (FERRY_ESCHEMA);
	}
	if (cons != NULL && (json_is_true(json_object_get(cons, "referral")) ||
	    json_is_true(json_object_get(cons, "support")) ||
	    json_is_true(json_object_get(cons, "police_contact")))) {
		if (json_object_get(cons, "obtained_by") == NULL)
			return (fail(c, FERRY_ESCHEMA, "consent.obtained_by",
			    "required when consent is given"));
		if (json_object_get(cons, "obtained_at") == NULL)
			return (fail(c, FERRY_ESCHEMA, "consent.obtained_at",
			    "required when consent is given"));
	}
	if (json_object_get(ref, "phone") == NULL &&
	    json_object_get(ref, "email") == NULL)
		return (fail(c, FERRY_ESCHEMA, "referrer.phone",
		    "required (or referrer.email)"));
	/* Last, so that a malformed document is reported as such first. */
	if (nrm && adult) {
		if (cons == NULL)
			return (fail(c, FERRY_ECONSENT, "consent",
			    "adult NRM referral requires consent"));
		if (!json_is_true(json_object_get(cons, "referral")))
			return (fail(c, FERRY_ECONSENT, "consent.referral",
			    "adult NRM referral requires consent"));
	}
	return (0);
}

static int
check_response(struct ctx *c, const json_t *d)
{
	static const char *const notallowed[] = { "referral_type", "urgency",
	    "age_group", "consent", "subject", "exploitation", "indicators",
	    "needs", "referrer", NULL };
	static const char *const required[] = { "case_id", "in_reply_to",
	    "response", "responder", NULL };
	const char *resp;
	int rc;

	if ((rc = check_members(c, d, notallowed, required, "response")) != 0)
		return (rc);
	resp = str_of(d, "response");
	if ((strcmp(resp, "declined") == 0 ||
	    strcmp(resp, "more-information-needed") == 0) &&
	    json_object_get(d, "reason") == NULL)
		return (fail(c, FERRY_ESCHEMA, "reason",
		    "required when response is %s", resp));
	return (0);
}

static const char *
static_name(const char *const *e, const char *s)
{
	int i;

	if (s == NULL || (i = enum_index(e, s)) < 0)
		return (NULL);
	return (e[i]);
}

static void
fill_info(const struct ctx *c, const json_t *d, struct referral_info *info)
{
	const char *s;

	memset(info, 0, sizeof(*info));
	info->message_kind = static_name(kinds, str_of(d, "message_kind"));
	info->kind = strcmp(info->message_kind, "referral") == 0 ?
	    REFERRAL_KIND_REFERRAL : REFERRAL_KIND_RESPONSE;
	info->referral_type = static_name(rtypes, str_of(d, "referral_type"));
	info->urgency = static_name(urgencies, str_of(d, "urgency"));
	info->age_group = static_name(agegroups, str_of(d, "age_group"));
	info->response = static_name(responses, str_of(d, "response"));
	if ((s = str_of(d, "case_id")) != NULL)
		snprintf(info->case_id, sizeof(info->case_id), "%s", s);
	if ((s = str_of(d, "in_reply_to")) != NULL &&
	    ferry_unhex(info->in_reply_to, FERRY_MSGID_LEN, s) == 0)
		info->has_in_reply_to = 1;
	info->attachments = c->attach_count;
	info->attachment_bytes = c->attach_bytes;
}

/* Validate a parsed document. */
static int
check_doc(struct ctx *c, const json_t *d, struct referral_info *info)
{
	const json_t *v;
	int rc;

	c->attach_bytes = 0;
	c->attach_count = 0;
	if (!json_is_object(d))
		return (fail(c, FERRY_ESCHEMA, "", "must be a JSON object"));
	/* The version first: a later version's fields are not "unknown". */
	if ((v = json_object_get(d, "schema")) == NULL)
		return (fail(c, FERRY_ESCHEMA, "schema", "required"));
	if (!json_is_string(v) || strcmp(json_string_value(v),
	    REFERRAL_SCHEMA) != 0 ||
	    json_string_length(v) != strlen(REFERRAL_SCHEMA))
		return (fail(c, FERRY_ESCHEMA, "schema",
		    "must be \"" REFERRAL_SCHEMA "\""));
	if ((rc = check_value(c, d, &top_v, "")) != 0)
		return (rc);
	if (strcmp(str_of(d, "message_kind"), "referral") == 0)
		rc = check_referral(c, d);
	else
		rc = check_response(c, d);
	if (rc == 0 && info != NULL)
		fill_info(c, d, info);
	return (rc);
}

/*
 * Deepest nesting of [ and { outside strings, and the number of commas
 * outside strings (members and items beyond the first of each container):
 * both bound what the parser would build before the schema is consulted.
 */
static void
json_shape(const char *s, size_t len, size_t *maxdepth, size_t *commas)
{
	size_t i, depth = 0;
	int instr = 0;

	*maxdepth = *commas = 0;
	for (i = 0; i < len; i++) {
		if (instr) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				instr = 0;
		} else if (s[i] == '"')
			instr = 1;
		else if (s[i] == ',')
			(*commas)++;
		else if (s[i] == '[' || s[i] == '{') {
			if (++depth > *maxdepth)
				*maxdepth = depth;
		} else if ((s[i] == ']' || s[i] == '}') && depth > 0)
			depth--;
	}
}

static int
parse_json(struct ctx *c, const char *json, size_t len, json_t **out)
{
	json_error_t jerr;
	size_t depth, commas;

	*out = NULL;
	if (len > REFERRAL_JSON_MAX)
		return (fail(c, FERRY_EJSON, "json", "larger than %u bytes",
		    REFERRAL_JSON_MAX));
	json_shape(json, len, &depth, &commas);
	if (depth > REFERRAL_JSON_DEPTH)
		return (fail(c, FERRY_EJSON, "json", "nested deeper than %d",
		    REFERRAL_JSON_DEPTH));
	if (commas > REFERRAL_JSON_COMMAS)
		return (fail(c, FERRY_EJSON, "json",
		    "more than %d members and items", REFERRAL_JSON_COMMAS));
	if ((*out = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			return (fail(c, FERRY_ENOMEM, "json", "out of memory"));
		return (fail(c, FERRY_EJSON, "json", "line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text));
	}
	return (0);
}

static int64_t
today_of(uint64_t now_ms)
{

	return ((int64_t)(now_ms / 86400000u));
}

static void
clear_err(char *err, size_t errlen)
{

	if (err != NULL && errlen > 0)
		err[0] = '\0';
}

/** referral_validate_json_at(json, len, now_ms, err, errlen, info): validate ${json} with today taken from ${now_ms}. */
int
referral_validate_json_at(const char *json, size_t len, uint64_t now_ms,
    char *err, size_t errlen, struct referral_info *info)
{
	struct ctx c = { err, errlen, today_of(now_ms), 0, 0 };
	json_t *d;
	int rc;

	clear_err(err, errlen);
	if ((rc = parse_json(&c, json, len, &d)) != 0)
		return (rc);
	rc = check_doc(&c, d, info);
	json_decref(d);
	return (rc);
}

/** referral_validate_json(json, len, err, errlen, info): validate ${json} against ferry-referral/1. */
int
referral_validate_json(const char *json, size_t len, char *err,
    size_t errlen, struct referral_info *info)
{

	return (referral_validate_json_at(json, len, ferry_now_ms(), err,
	    errlen, info));
}

/* Encoding: walk a validated document in field-number order. */
static int
encode_value(struct wire_buf *w, const json_t *v, const struct vspec *vs)
{
	uint8_t id[FERRY_MSGID_LEN];
	uint8_t *bin;
	size_t i, n, binlen;
	int rc;

	switch (vs->type) {
	case V_STR:
	case V_ENUM:
		wire_put_str(w, json_string_value(v), json_string_length(v));
		return (0);
	case V_BOOL:
		wire_put_bool(w, json_is_true(v));
		return (0);
	case V_UINT:
		wire_put_uint(w, (uint64_t)json_integer_value(v));
		return (0);
	case V_HEX16:
		if (ferry_unhex(id, sizeof(id), json_string_value(v)) != 0)
			return (FERRY_EINTERNAL);
		wire_put_bin(w, id, sizeof(id));
		return (0);
	case V_B64:
		if ((rc = b64_decode(json_string_value(v),
		    json_string_length(v), &bin, &binlen)) != 0)
			return (rc == FERRY_ENOMEM ? rc : FERRY_EINTERNAL);
		wire_put_bin(w, bin, binlen);
		free(bin);
		return (0);
	case V_OBJ:
		for (i = n = 0; i < vs->obj->n; i++)
			if (json_object_get(v, vs->obj->f[i].name) != NULL)
				n++;
		wire_put_map(w, n);
		for (i = 0; i < vs->obj->n; i++) {
			const json_t *f = json_object_get(v,
			    vs->obj->f[i].name);

			if (f == NULL)
				continue;
			wire_put_uint(w, vs->obj->f[i].num);
			if ((rc = encode_value(w, f, &vs->obj->f[i].v)) != 0)
				return (rc);
		}
		return (0);
	case V_ARR:
		wire_put_array(w, json_array_size(v));
		for (i = 0; i < json_array_size(v); i++)
			if ((rc = encode_value(w, json_array_get(v, i),
			    vs->elem)) != 0)
				return (rc);
		return (0);
	}
	return (FERRY_EINTERNAL);
}

static int
encode_doc(const json_t *d, uint8_t **out, size_t *outlen)
{
	struct wire_buf w;
	int rc;

	wire_buf_init(&w);
	if ((rc = encode_value(&w, d, &top_v)) != 0) {
		wire_buf_free(&w);
		return (rc);
	}
	return (wire_buf_take(&w, out, outlen));
}

/** referral_json_to_wire_at(json, len, now_ms, out, outlen, err, errlen, info): validate ${json}, then its canonical msgpack. */
int
referral_json_to_wire_at(const char *json, size_t len, uint64_t now_ms,
    uint8_t **out, size_t *outlen, char *err, size_t errlen,
    struct referral_info *info)
{
	struct ctx c = { err, errlen, today_of(now_ms), 0, 0 };
	json_t *d;
	int rc;

	*out = NULL;
	*outlen = 0;
	clear_err(err, errlen);
	if ((rc = parse_json(&c, json, len, &d)) != 0)
		return (rc);
	if ((rc = check_doc(&c, d, info)) != 0)
		goto done;
	if ((rc = encode_doc(d, out, outlen)) != 0)
		fail(&c, rc, "", "%s", ferry_strerror(rc));
done:
	json_decref(d);
	return (rc);
}

/** referral_json_to_wire(json, len, out, outlen, err, errlen): validate ${json}, then its canonical msgpack. */
int
referral_json_to_wire(const char *json, size_t len, uint8_t **out,
    size_t *outlen, char *err, size_t errlen)
{

	return (referral_json_to_wire_at(json, len, ferry_now_ms(), out,
	    outlen, err, errlen, NULL));
}

/* Decoding: untrusted msgpack to JSON, shape checked against the specs. */
static int
decode_value(struct ctx *c, const msgpack_object *o, const struct vspec *vs,
    const char *path, json_t **out)
{
	char sub[PATH_MAX_];
	char hex[2 * FERRY_MSGID_LEN + 1];
	char *b64;
	const msgpack_object_kv *kv;
	json_t *j, *e;
	size_t i, k, b64len;
	uint64_t prev = 0;
	int rc;

	*out = NULL;
	switch (vs->type) {
	case V_STR:
	case V_ENUM:
		if (o->type != MSGPACK_OBJECT_STR)
			return (fail(c, FERRY_ETYPE, path, "must be a str"));
		if ((*out = json_stringn(o->via.str.ptr, o->via.str.size)) ==
		    NULL)
			return (fail(c, FERRY_EBADVALUE, path,
			    "not UTF-8 text"));
		return (0);
	case V_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return (fail(c, FERRY_ETYPE, path,
			    "must be a boolean"));
		*out = json_boolean(o->via.boolean);
		return (0);
	case V_UINT:
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return (fail(c, FERRY_ETYPE, path,
			    "must be an unsigned integer"));
		if (o->via.u64 > vs->max)
			return (fail(c, FERRY_EBADVALUE, path,
			    "must be an integer from %llu to %llu",
			    (unsigned long long)vs->min,
			    (unsigned long long)vs->max));
		if ((*out = json_integer((json_int_t)o->via.u64)) == NULL)
			return (fail(c, FERRY_ENOMEM, path, "out of memory"));
		return (0);
	case V_HEX16:
		if (o->type != MSGPACK_OBJECT_BIN)
			return (fail(c, FERRY_ETYPE, path, "must be a bin"));
		if (o->via.bin.size != FERRY_MSGID_LEN)
			return (fail(c, FERRY_EBADVALUE, path,
			    "must be %d bytes", FERRY_MSGID_LEN));
		ferry_hex(hex, (const uint8_t *)o->via.bin.ptr,
		    FERRY_MSGID_LEN);
		if ((*out = json_string(hex)) == NULL)
			return (fail(c, FERRY_ENOMEM, path, "out of memory"));
		return (0);
	case V_B64:
		if (o->type != MSGPACK_OBJECT_BIN)
			return (fail(c, FERRY_ETYPE, path, "must be a bin"));
		if (o->via.bin.size > vs->max)
			return (fail(c, FERRY_ETOOBIG, path,
			    "attachment larger than %llu bytes",
			    (unsigned long long)vs->max));
		b64len = sodium_base64_ENCODED_LEN(o->via.bin.size,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = malloc(b64len)) == NULL)
			return (fail(c, FERRY_ENOMEM, path, "out of memory"));
		sodium_bin2base64(b64, b64len,
		    (const unsigned char *)o->via.bin.ptr, o->via.bin.size,
		    sodium_base64_VARIANT_ORIGINAL);
		*out = json_string(b64);
		free(b64);
		if (*out == NULL)
			return (fail(c, FERRY_ENOMEM, path, "out of memory"));
		return (0);
	case V_OBJ:
		if (o->type != MSGPACK_OBJECT_MAP)
			return (fail(c, FERRY_ETYPE, path, "must be a map"));
		if ((j = json_object()) == NULL)
			return (fail(c, FERRY_ENOMEM, path, "out of memory"));
		kv = o->via.map.ptr;
		for (i = k = 0; i < o->via.map.size; i++) {
			uint64_t key;

			if (kv[i].key.type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
				rc = fail(c, FERRY_ETYPE, path,
				    "map key must be a field number");
				goto objerr;
			}
			key = kv[i].key.via.u64;
			if (i > 0 && key <= prev) {
				rc = fail(c, key == prev ? FERRY_EDUPKEY :
				    FERRY_ENONCANON, path,
				    "field numbers not strictly ascending");
				goto objerr;
			}
			prev = key;
			while (k < vs->obj->n && vs->obj->f[k].num < key)
				k++;
			if (k == vs->obj->n || vs->obj->f[k].num != key) {
				rc = fail(c, FERRY_EUNKNOWNFIELD, path,
				    "unknown field number %llu",
				    (unsigned long long)key);
				goto objerr;
			}
			path_field(sub, path, vs->obj->f[k].name);
			if ((rc = decode_value(c, &kv[i].val,
			    &vs->obj->f[k].v, sub, &e)) != 0)
				goto objerr;
			if (json_object_set_new(j, vs->obj->f[k].name, e) !=
			    0) {
				rc = fail(c, FERRY_ENOMEM, path,
				    "out of memory");
				goto objerr;
			}
		}
		*out = j;
		return (0);
objerr:
		json_decref(j);
		return (rc);
	case V_ARR:
		if (o->type != MSGPACK_OBJECT_ARRAY)
			return (fail(c, FERRY_ETYPE, path,
			    "must be an array"));
		if (o->via.array.size > vs->max)
			return (fail(c, FERRY_ETOOBIG, path,
			    "more than %llu items",
			    (unsigned long long)vs->max));
		if ((j = json_array()) == NULL)
			return (fail(c, FERRY_ENOMEM, path, "out of memory"));
		for (i = 0; i < o->via.array.size; i++) {
			path_index(sub, path, i);
			if ((rc = decode_value(c, &o->via.array.ptr[i],
			    vs->elem, sub, &e)) != 0)
				goto arrerr;
			if (json_array_append_new(j, e) != 0) {
				rc = fail(c, FERRY_ENOMEM, path,
				    "out of memory");
				goto arrerr;
			}
		}
		*out = j;
		return (0);
arrerr:
		json_decref(j);
		return (rc);
	}
	return (fail(c, FERRY_EINTERNAL, path, "internal error"));
}

/* Pretty JSON text with a final newline, malloc'd. */
static int
dump_json(const json_t *d, char **json_out)
{
	char *s, *t;
	size_t n;

	*json_out = NULL;
	if ((s = json_dumps(d, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
		return (FERRY_ENOMEM);
	n = strlen(s);
	if ((t = malloc(n + 2)) == NULL) {
		free(s);
		return (FERRY_ENOMEM);
	}
	memcpy(t, s, n);
	t[n] = '\n';
	t[n + 1] = '\0';
	free(s);
	*json_out = t;
	return (0);
}

/** referral_wire_to_json_at(wire, len, now_ms, json_out, err, errlen, info): strict decode and validation of ${wire}. */
int
referral_wire_to_json_at(const uint8_t *wire, size_t len, uint64_t now_ms,
    char **json_out, char *err, size_t errlen, struct referral_info *info)
{
	struct ctx c = { err, errlen, today_of(now_ms), 0, 0 };
	struct wire_doc doc;
	json_t *d = NULL;
	uint8_t *again = NULL;
	size_t againlen;
	int rc;

	if (json_out != NULL)
		*json_out = NULL;
	clear_err(err, errlen);
	if (len > REFERRAL_WIRE_MAX)
		return (fail(&c, FERRY_ETOOBIG, "", "larger than %u bytes",
		    REFERRAL_WIRE_MAX));
	/* No array or map in the schema has more than REFERRAL_WIRE_ITEMS
	 * entries: refuse more before msgpack-c allocates for them. */
	if ((rc = wire_scan_limit(wire, len, REFERRAL_WIRE_DEPTH,
	    REFERRAL_WIRE_ITEMS)) != 0 ||
	    (rc = wire_parse(wire, len, REFERRAL_WIRE_DEPTH, &doc)) != 0)
		return (fail(&c, rc, "", "%s", ferry_strerror(rc)));
	rc = decode_value(&c, &doc.root, &top_v, "", &d);
	wire_doc_free(&doc);
	if (rc != 0)
		return (rc);
	if ((rc = check_doc(&c, d, info)) != 0)
		goto done;
	/*
	 * Accept only the one encoding: the decoder is lenient about
	 * nothing by construction, but comparing with the encoder's output
	 * makes that a checked fact rather than an argument.
	 */
	if ((rc = encode_doc(d, &again, &againlen)) != 0) {
		fail(&c, rc, "", "%s", ferry_strerror(rc));
		goto done;
	}
	if (againlen != len || memcmp(again, wire, len) != 0) {
		rc = fail(&c, FERRY_ENONCANON, "", "%s",
		    ferry_strerror(FERRY_ENONCANON));
		goto done;
	}
	if (json_out != NULL && (rc = dump_json(d, json_out)) != 0)
		fail(&c, rc, "", "%s", ferry_strerror(rc));
done:
	free(again);
	json_decref(d);
	return (rc);
}

/** referral_wire_to_json(wire, len, json_out): strict decode and validation of ${wire}. */
int
referral_wire_to_json(const uint8_t *wire, size_t len, char **json_out)
{

	return (referral_wire_to_json_at(wire, len, ferry_now_ms(), json_out,
	    NULL, 0, NULL));
}

static int
set_str(json_t *o, const char *key, const char *s)
{
	json_t *v;

	if (s == NULL)
		return (0);
	/* json_string refuses invalid UTF-8: the validator reports it. */
	if ((v = json_string(s)) == NULL)
		v = json_integer(0);
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		return (FERRY_ENOMEM);
	return (0);
}

/** referral_response_json(case_id, in_reply_to, response, reason, narrative, responder, json_out, err, errlen): a validated response document. */
int
referral_response_json(const char *case_id, const uint8_t *in_reply_to,
    const char *response, const char *reason, const char *narrative,
    const struct referral_party *responder, char **json_out, char *err,
    size_t errlen)
{
	struct ctx c = { err, errlen, 0, 0, 0 };
	char hex[2 * FERRY_MSGID_LEN + 1];
	json_t *d, *p = NULL;
	int rc = FERRY_ENOMEM;

	*json_out = NULL;
	clear_err(err, errlen);
	if (case_id == NULL || in_reply_to == NULL || response == NULL ||
	    responder == NULL)
		return (fail(&c, FERRY_EINVAL, "", "missing argument"));
	ferry_hex(hex, in_reply_to, FERRY_MSGID_LEN);
	if ((d = json_object()) == NULL)
		goto nomem;
	if (set_str(d, "schema", REFERRAL_SCHEMA) ||
	    set_str(d, "message_kind", "response") ||
	    set_str(d, "case_id", case_id) ||
	    set_str(d, "in_reply_to", hex) ||
	    set_str(d, "response", response) ||
	    set_str(d, "reason", reason) ||
	    set_str(d, "narrative", narrative))
		goto nomem;
	if ((p = json_object()) == NULL ||
	    set_str(p, "name", responder->name) ||
	    set_str(p, "role", responder->role) ||
	    set_str(p, "organisation", responder->organisation) ||
	    set_str(p, "phone", responder->phone) ||
	    set_str(p, "email", responder->email))
		goto nomem;
	if (json_object_set_new(d, "responder", p) != 0) {
		p = NULL;
		goto nomem;
	}
	p = NULL;
	c.today = today_of(ferry_now_ms());
	if ((rc = check_doc(&c, d, NULL)) != 0)
		goto done;
	if ((rc = dump_json(d, json_out)) != 0)
		fail(&c, rc, "", "%s", ferry_strerror(rc));
	goto done;
nomem:
	rc = fail(&c, FERRY_ENOMEM, "", "out of memory");
done:
	json_decref(p);
	json_decref(d);
	return (rc);
}

/*
 * The thread of a case (docs/referral-schema.md, "The thread"): which
 * responses may answer a received message, by what that message is.  A
 * referral opens the thread; more-information-needed asks the referrer,
 * who answers it with information-provided; accepted and declined end
 * the exchange but for closed; closed ends the thread.  closed may
 * answer anything still open, so either side can close a case.
 */
static const char *const ans_referral[] = { "accepted", "declined",
    "more-information-needed", "closed", NULL };
static const char *const ans_needinfo[] = { "information-provided",
    "closed", NULL };
static const char *const ans_closed_only[] = { "closed", NULL };
static const char *const ans_none[] = { NULL };

static const struct {
	const char *answered;		/* "referral", or a response */
	const char *const *answers;	/* what may answer it */
} thread_rules[] = {
	{ "referral", ans_referral },
	{ "more-information-needed", ans_needinfo },
	{ "information-provided", ans_referral },
	{ "accepted", ans_closed_only },
	{ "declined", ans_closed_only },
	{ "closed", ans_none },
};

/** referral_answer_check(kind, response, answer, err, errlen): may ${answer} answer a received message of ${kind} (its response ${response})? */
int
referral_answer_check(const char *kind, const char *response,
    const char *answer, char *err, size_t errlen)
{
	struct ctx c = { err, errlen, 0, 0, 0 };
	char list[REFERRAL_ERR_MAX];
	const char *what;
	size_t i;

	clear_err(err, errlen);
	if (kind == NULL || answer == NULL)
		return (fail(&c, FERRY_EINVAL, "", "missing argument"));
	if (enum_index(responses, answer) < 0)
		return (fail_enum(&c, "response", responses));
	if (strcmp(kind, "referral") == 0)
		what = kind;
	else if (strcmp(kind, "response") == 0 && response != NULL)
		what = response;
	else
		return (fail(&c, FERRY_EINVAL, "in_reply_to", "the message "
		    "answered is neither a referral nor a response"));
	for (i = 0; i < sizeof(thread_rules) / sizeof(thread_rules[0]); i++) {
		if (strcmp(thread_rules[i].answered, what) != 0)
			continue;
		if (enum_index(thread_rules[i].answers, answer) >= 0)
			return (0);
		if (thread_rules[i].answers[0] == NULL)
			return (fail(&c, FERRY_ESCHEMA, "response", "the case "
			    "is closed: a closed response takes no answer "
			    "(the thread, referral-schema.md section 4)"));
		join_words(thread_rules[i].answers, list, sizeof(list));
		return (fail(&c, FERRY_ESCHEMA, "response", "%s cannot "
		    "answer %s%s: it is answered with %s (the thread, "
		    "referral-schema.md section 4)", answer, what == kind ?
		    "a " : "a response ", what, list));
	}
	return (fail(&c, FERRY_EINVAL, "in_reply_to", "the message answered "
	    "has an unknown response"));
}
