/*
 * referral.c: the ferry-referral/1 document: validation of the JSON form,
 * and conversion between JSON and the canonical msgpack form.
 *
 * One table (the specs below) describes every object: its fields, their
 * JSON names, wire field numbers, types and limits.  The generic walker
 * checks structure against the table; check_referral and check_response
 * then apply the rules that depend on the kind of document (required
 * fields per referral type, consent, Duty to Notify anonymity).  The
 * walker reads the document through accessors (struct dv) over any of its
 * forms: the sender's JSON as refjson or jansson read it, the recipient's
 * msgpack objects; and it writes the canonical msgpack as it goes, so the
 * sender encodes in the validation pass and the recipient compares that
 * encoding with the bytes it received.  The wire shape check and the JSON
 * text writer walk the same table, so the forms cannot drift apart.
 * docs/referral-schema.md is the normative description.
 */
#include "referral.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "ferry.h"
#include "refjson.h"
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
	struct wire_buf *w;	/* when not NULL, the msgpack form is
				   written here as the checks go */
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

/*
 * A value of the document being checked: a node of a refjson document
 * (the JSON form as the sender's fast reader gives it), of a jansson tree
 * (the JSON form otherwise, and documents built here), or a msgpack object
 * (the wire form, its shape already checked by shape_value).  The checks
 * below read any of them through these accessors, so every form is judged
 * by the same code, and none needs a jansson tree built for it.
 */
struct dv {
	const struct refjson_node *r;
	const json_t *j;
	const msgpack_object *m;
};

static const struct dv dv_none = { NULL, NULL, NULL };

static int
dv_present(struct dv v)
{

	return (v.r != NULL || v.j != NULL || v.m != NULL);
}

/* What a value is, whatever its form (strings and integers: dv_str and
 * dv_uint). */
enum dkind {
	DK_NONE = 0,	/* absent */
	DK_OBJECT,
	DK_ARRAY,
	DK_BOOL,
	DK_OTHER
};

static enum dkind
dv_kind(struct dv v)
{

	if (v.r != NULL)
		return (v.r->type == REFJSON_OBJECT ? DK_OBJECT :
		    v.r->type == REFJSON_ARRAY ? DK_ARRAY :
		    v.r->type == REFJSON_TRUE || v.r->type == REFJSON_FALSE ?
		    DK_BOOL : DK_OTHER);
	if (v.j != NULL)
		return (json_is_object(v.j) ? DK_OBJECT :
		    json_is_array(v.j) ? DK_ARRAY :
		    json_is_boolean(v.j) ? DK_BOOL : DK_OTHER);
	if (v.m != NULL)
		return (v.m->type == MSGPACK_OBJECT_MAP ? DK_OBJECT :
		    v.m->type == MSGPACK_OBJECT_ARRAY ? DK_ARRAY :
		    v.m->type == MSGPACK_OBJECT_BOOLEAN ? DK_BOOL : DK_OTHER);
	return (DK_NONE);
}

static int
dv_is_true(struct dv v)
{

	if (v.r != NULL)
		return (v.r->type == REFJSON_TRUE);
	return (v.j != NULL ? json_is_true(v.j) :
	    v.m != NULL && v.m->type == MSGPACK_OBJECT_BOOLEAN &&
	    v.m->via.boolean);
}

/* Members of an object or items of an array; 0 for anything else. */
static size_t
dv_size(struct dv v)
{
	enum dkind k = dv_kind(v);

	if (k != DK_OBJECT && k != DK_ARRAY)
		return (0);
	if (v.r != NULL)
		return (v.r->n);
	if (v.j != NULL)
		return (k == DK_OBJECT ? json_object_size(v.j) :
		    json_array_size(v.j));
	return (k == DK_OBJECT ? v.m->via.map.size : v.m->via.array.size);
}

/* Item ${i} (< dv_size) of an array. */
static struct dv
dv_item(struct dv v, size_t i)
{
	struct dv r = dv_none;

	if (v.r != NULL)
		for (r.r = v.r->kid; i > 0; i--)
			r.r = r.r->next;
	else if (v.j != NULL)
		r.j = json_array_get(v.j, i);
	else
		r.m = &v.m->via.array.ptr[i];
	return (r);
}

/* Field ${k} of ${spec} in the object ${o}, or dv_none when absent. */
static struct dv
dv_field(struct dv o, const struct ospec *spec, size_t k)
{
	struct dv r = dv_none;
	const struct refjson_node *n;
	const msgpack_object_kv *kv;
	const char *name = spec->f[k].name;
	size_t i, len;

	if (o.r != NULL && o.r->type == REFJSON_OBJECT) {
		len = strlen(name);
		for (n = o.r->kid; n != NULL; n = n->next)
			if (n->keylen == len && memcmp(n->key, name, len) == 0) {
				r.r = n;
				break;
			}
	} else if (o.j != NULL)
		r.j = json_object_get(o.j, name);
	else if (o.m != NULL && o.m->type == MSGPACK_OBJECT_MAP) {
		kv = o.m->via.map.ptr;
		for (i = 0; i < o.m->via.map.size; i++)
			if (kv[i].key.type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
			    kv[i].key.via.u64 == spec->f[k].num) {
				r.m = &kv[i].val;
				break;
			}
	}
	return (r);
}

/* The member ${name} of ${o}, an object of ${spec}, or dv_none. */
static struct dv
dv_get(struct dv o, const struct ospec *spec, const char *name)
{
	size_t k;

	for (k = 0; k < spec->n; k++)
		if (strcmp(spec->f[k].name, name) == 0)
			return (dv_field(o, spec, k));
	return (dv_none);
}

/* The bytes of a string (a msgpack str is not NUL-terminated), or NULL. */
static const char *
dv_str(struct dv v, size_t *len)
{

	*len = 0;
	if (v.r != NULL) {
		if (v.r->type != REFJSON_STRING)
			return (NULL);
		*len = v.r->len;
		return (v.r->s);
	}
	if (v.j != NULL) {
		if (!json_is_string(v.j))
			return (NULL);
		*len = json_string_length(v.j);
		return (json_string_value(v.j));
	}
	if (v.m == NULL || v.m->type != MSGPACK_OBJECT_STR)
		return (NULL);
	*len = v.m->via.str.size;
	return (*len > 0 ? v.m->via.str.ptr : "");
}

/* Index in ${e} (NULL-terminated) of the ${len} bytes at ${s}, or -1. */
static int
enum_find(const char *const *e, const char *s, size_t len)
{
	int i;

	for (i = 0; e[i] != NULL; i++)
		if (strlen(e[i]) == len && memcmp(e[i], s, len) == 0)
			return (i);
	return (-1);
}

/* The word of ${e} that the string ${v} is (static), or NULL. */
static const char *
dv_enum(struct dv v, const char *const *e)
{
	const char *s;
	size_t len;
	int i;

	if ((s = dv_str(v, &len)) == NULL || (i = enum_find(e, s, len)) < 0)
		return (NULL);
	return (e[i]);
}

/* Whether ${v} is exactly the string ${s}. */
static int
dv_streq(struct dv v, const char *s)
{
	const char *p;
	size_t len;

	return ((p = dv_str(v, &len)) != NULL && len == strlen(s) &&
	    memcmp(p, s, len) == 0);
}

/* A non-negative integer into *${u}: 1, or 0 if ${v} is not one. */
static int
dv_uint(struct dv v, uint64_t *u)
{
	json_int_t n;

	if (v.r != NULL) {
		if (v.r->type != REFJSON_INTEGER)
			return (0);
		*u = v.r->u;
		return (1);
	}
	if (v.j != NULL) {
		if (!json_is_integer(v.j) || (n = json_integer_value(v.j)) < 0)
			return (0);
		*u = (uint64_t)n;
		return (1);
	}
	if (v.m == NULL || v.m->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (0);
	*u = v.m->via.u64;
	return (1);
}

/* Whether two items of one array are equal (they have passed their
 * checks: the one array whose items must differ holds strings). */
static int
dv_equal(struct dv a, struct dv b)
{
	const char *s, *t;
	size_t sl, tl;

	if (a.j != NULL)
		return (b.j != NULL && json_equal(a.j, b.j));
	if (a.m != NULL)
		return (b.m != NULL && msgpack_object_equal(*a.m, *b.m));
	return ((s = dv_str(a, &sl)) != NULL && (t = dv_str(b, &tl)) != NULL &&
	    sl == tl && memcmp(s, t, sl) == 0);
}

static int check_value(struct ctx *, struct dv, const struct vspec *,
    const char *);

/* Refuse a member ${key} of an object of ${spec} that is no field of it. */
static int
known_field(struct ctx *c, const struct ospec *spec, const char *key,
    const char *path)
{
	char sub[PATH_MAX_];
	size_t i;

	for (i = 0; i < spec->n; i++)
		if (strcmp(spec->f[i].name, key) == 0)
			return (0);
	path_field(sub, path, key);
	return (fail(c, FERRY_ESCHEMA, sub, "unknown field"));
}

/*
 * Checks of an object, and (c->w not NULL) its canonical msgpack written
 * as it goes: the fields in field-number order, as the spec lists them.
 */
static int
check_obj(struct ctx *c, struct dv o, const struct ospec *spec,
    const char *path)
{
	char sub[PATH_MAX_];
	const struct refjson_node *n;
	const char *key;
	json_t *v;
	struct dv f;
	size_t i;
	int rc;

	if (dv_kind(o) != DK_OBJECT)
		return (fail(c, FERRY_ESCHEMA, path, "must be an object"));
	/* Unknown fields, in document order (the wire form has none:
	 * shape_value refused unknown field numbers). */
	if (o.r != NULL) {
		for (n = o.r->kid; n != NULL; n = n->next)
			if ((rc = known_field(c, spec, n->key, path)) != 0)
				return (rc);
	} else if (o.j != NULL) {
		json_object_foreach((json_t *)o.j, key, v)
			if ((rc = known_field(c, spec, key, path)) != 0)
				return (rc);
	}
	/* Every member is a known field now, each once. */
	if (c->w != NULL)
		wire_put_map(c->w, dv_size(o));
	for (i = 0; i < spec->n; i++) {
		f = dv_field(o, spec, i);
		if (!dv_present(f) && !spec->f[i].required)
			continue;
		path_field(sub, path, spec->f[i].name);
		if (!dv_present(f))
			return (fail(c, FERRY_ESCHEMA, sub, "required"));
		if (c->w != NULL)
			wire_put_uint(c->w, spec->f[i].num);
		if ((rc = check_value(c, f, &spec->f[i].v, sub)) != 0)
			return (rc);
	}
	return (0);
}

/*
 * An attachment's data: the JSON form's base64 decoded into *${bin}
 * (*${tofree}, free()), or the wire form's bin as it is.
 */
static int
check_b64(struct ctx *c, struct dv v, const struct vspec *vs,
    const char *path, const uint8_t **bin, size_t *binlen, uint8_t **tofree)
{
	const char *s;
	size_t len;
	int rc;

	*tofree = NULL;
	if (v.m != NULL) {
		/* shape_value checked the type and the size limit. */
		*bin = (const uint8_t *)v.m->via.bin.ptr;
		*binlen = v.m->via.bin.size;
		return (0);
	}
	if ((s = dv_str(v, &len)) == NULL)
		return (fail(c, FERRY_ESCHEMA, path, "must be a string"));
	/* Refuse before decoding what cannot fit. */
	if (len / 4 * 3 > vs->max + 2)
		return (fail(c, FERRY_ESCHEMA, path,
		    "attachment larger than %llu bytes",
		    (unsigned long long)vs->max));
	rc = b64_decode(s, len, tofree, binlen);
	if (rc == FERRY_ENOMEM)
		return (fail(c, rc, path, "out of memory"));
	if (rc != 0)
		return (fail(c, FERRY_ESCHEMA, path,
		    "not base64 (RFC 4648, padded, no whitespace)"));
	*bin = *tofree;
	return (0);
}

static int
check_value(struct ctx *c, struct dv v, const struct vspec *vs,
    const char *path)
{
	char sub[PATH_MAX_];
	uint8_t id[FERRY_MSGID_LEN];
	const uint8_t *bin = NULL;
	uint8_t *tofree;
	const char *s;
	size_t len, i, j, n, binlen;
	uint64_t u;
	int rc;

	switch (vs->type) {
	case V_STR:
		if ((s = dv_str(v, &len)) == NULL)
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be a string"));
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
		if ((rc = check_format(c, s, len, vs->fmt, path)) != 0)
			return (rc);
		if (c->w != NULL)
			wire_put_str(c->w, s, len);
		return (0);
	case V_ENUM:
		/* A NUL inside the string matches no word. */
		if ((s = dv_str(v, &len)) == NULL ||
		    enum_find(vs->enums, s, len) < 0)
			return (fail_enum(c, path, vs->enums));
		if (c->w != NULL)
			wire_put_str(c->w, s, len);
		return (0);
	case V_BOOL:
		if (dv_kind(v) != DK_BOOL)
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be true or false"));
		if (c->w != NULL)
			wire_put_bool(c->w, dv_is_true(v));
		return (0);
	case V_UINT:
		if (!dv_uint(v, &u) || u < vs->min || u > vs->max)
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be an integer from %llu to %llu",
			    (unsigned long long)vs->min,
			    (unsigned long long)vs->max));
		if (c->w != NULL)
			wire_put_uint(c->w, u);
		return (0);
	case V_HEX16:
		if (v.m != NULL) {
			/* shape_value checked: a bin of 16 bytes. */
			if (c->w != NULL)
				wire_put_bin(c->w, v.m->via.bin.ptr,
				    v.m->via.bin.size);
			return (0);
		}
		if ((s = dv_str(v, &len)) == NULL ||
		    len != 2 * FERRY_MSGID_LEN ||
		    !is_lowhex(s, 2 * FERRY_MSGID_LEN))
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be a message id (32 lowercase hex digits)"));
		if (c->w != NULL) {
			if (ferry_unhex(id, sizeof(id), s) != 0)
				return (fail(c, FERRY_EINTERNAL, path,
				    "internal error"));
			wire_put_bin(c->w, id, sizeof(id));
		}
		return (0);
	case V_B64:
		if ((rc = check_b64(c, v, vs, path, &bin, &binlen, &tofree)) !=
		    0)
			return (rc);
		if (binlen < vs->min)
			rc = fail(c, FERRY_ESCHEMA, path,
			    "attachment is empty");
		else if (binlen > vs->max)
			rc = fail(c, FERRY_ESCHEMA, path,
			    "attachment larger than %llu bytes",
			    (unsigned long long)vs->max);
		else if ((c->attach_bytes += binlen) > REFERRAL_ATTACH_MAX)
			rc = fail(c, FERRY_ESCHEMA, path,
			    "attachments larger than %u bytes in total",
			    REFERRAL_ATTACH_MAX);
		else if (c->w != NULL)
			wire_put_bin(c->w, bin, binlen);
		if (binlen >= vs->min && binlen <= vs->max)
			c->attach_count++;
		free(tofree);
		return (rc);
	case V_OBJ:
		return (check_obj(c, v, vs->obj, path));
	case V_ARR:
		if (dv_kind(v) != DK_ARRAY)
			return (fail(c, FERRY_ESCHEMA, path,
			    "must be an array"));
		n = dv_size(v);
		if (n > vs->max)
			return (fail(c, FERRY_ESCHEMA, path,
			    "more than %llu items",
			    (unsigned long long)vs->max));
		if (n < vs->min)
			return (fail(c, FERRY_ESCHEMA, path,
			    "must have at least %llu item%s",
			    (unsigned long long)vs->min,
			    vs->min == 1 ? "" : "s"));
		if (c->w != NULL)
			wire_put_array(c->w, n);
		for (i = 0; i < n; i++) {
			path_index(sub, path, i);
			if ((rc = check_value(c, dv_item(v, i), vs->elem,
			    sub)) != 0)
				return (rc);
			if (!vs->unique)
				continue;
			for (j = 0; j < i; j++)
				if (dv_equal(dv_item(v, i), dv_item(v, j)))
					return (fail(c, FERRY_ESCHEMA, sub,
					    "repeats an earlier item"));
		}
		return (0);
	}
	return (fail(c, FERRY_EINTERNAL, path, "internal error"));
}

/*
 * Refuse a member of ${d} named in ${notallowed} ("not allowed in a
 * ${what}") and a missing member named in ${required}.
 */
static int
check_members(struct ctx *c, struct dv d, const char *const *notallowed,
    const char *const *required, const char *what)
{
	int i;

	for (i = 0; notallowed[i] != NULL; i++)
		if (dv_present(dv_get(d, &top_o, notallowed[i])))
			return (fail(c, FERRY_ESCHEMA, notallowed[i],
			    "not allowed in a %s", what));
	for (i = 0; required[i] != NULL; i++)
		if (!dv_present(dv_get(d, &top_o, required[i])))
			return (fail(c, FERRY_ESCHEMA, required[i],
			    "required"));
	return (0);
}

/* The safe contact's details, checked as the method says. */
static int
check_safe_contact(struct ctx *c, struct dv sc)
{
	static const char *const dpath = "subject.safe_contact.details";
	struct dv det = dv_get(sc, &safe_o, "details");
	const char *method = dv_enum(dv_get(sc, &safe_o, "method"), methods);
	const char *s;
	size_t len;
	int phone, email;

	phone = strcmp(method, "phone") == 0;
	email = strcmp(method, "email") == 0;
	if ((phone || email) && !dv_present(det))
		return (fail(c, FERRY_ESCHEMA, dpath,
		    "required when method is %s", method));
	if (strcmp(method, "none") == 0 && dv_present(det))
		return (fail(c, FERRY_ESCHEMA, dpath,
		    "not allowed when method is none"));
	if (!dv_present(det) || !(phone || email))
		return (0);
	s = dv_str(det, &len);
	if (check_format(c, s, len, phone ? S_PHONE : S_EMAIL, dpath) != 0)
		return (FERRY_ESCHEMA);
	return (0);
}

static int
check_referral(struct ctx *c, struct dv d)
{
	static const char *const notallowed[] = { "in_reply_to", "response",
	    "reason", "responder", NULL };
	static const char *const required[] = { "case_id", "referral_type",
	    "urgency", "age_group", "subject", "narrative", "referrer", NULL };
	static const char *const anonymous[] = { "given_name", "family_name",
	    "aliases", "date_of_birth", NULL };
	struct dv subj, cons, sc, ref;
	const char *type;
	char sub[PATH_MAX_];
	int i, rc, nrm, dtn, adult;

	if ((rc = check_members(c, d, notallowed, required, "referral")) != 0)
		return (rc);
	type = dv_enum(dv_get(d, &top_o, "referral_type"), rtypes);
	nrm = strcmp(type, "nrm") == 0;
	dtn = strcmp(type, "duty-to-notify") == 0;
	adult = dv_streq(dv_get(d, &top_o, "age_group"), "adult");
	subj = dv_get(d, &top_o, "subject");
	cons = dv_get(d, &top_o, "consent");
	ref = dv_get(d, &top_o, "referrer");
	sc = dv_get(subj, &subject_o, "safe_contact");

	if (dtn) {
		/* Duty to Notify: an adult who did not consent to the NRM,
		 * reported to the Home Office without identifying them. */
		if (!adult)
			return (fail(c, FERRY_ESCHEMA, "age_group",
			    "duty-to-notify is for adults; refer a child "
			    "through nrm"));
		for (i = 0; anonymous[i] != NULL; i++) {
			if (!dv_present(dv_get(subj, &subject_o,
			    anonymous[i])))
				continue;
			path_field(sub, "subject", anonymous[i]);
			return (fail(c, FERRY_ESCHEMA, sub,
			    "not allowed in duty-to-notify (anonymous)"));
		}
		if (dv_present(dv_get(sc, &safe_o, "details")))
			return (fail(c, FERRY_ESCHEMA,
			    "subject.safe_contact.details",
			    "not allowed in duty-to-notify (anonymous)"));
		if (dv_present(dv_get(d, &top_o, "attachments")))
			return (fail(c, FERRY_ESCHEMA, "attachments",
			    "not allowed in duty-to-notify (anonymous)"));
	} else if (!dv_present(dv_get(subj, &subject_o, "given_name")) &&
	    !dv_present(dv_get(subj, &subject_o, "family_name")))
		return (fail(c, FERRY_ESCHEMA, "subject.given_name",
		    "required (or subject.family_name; \"unknown\" if not "
		    "known)"));
	if (nrm || dtn) {
		if (!dv_present(dv_get(d, &top_o, "exploitation")))
			return (fail(c, FERRY_ESCHEMA, "exploitation",
			    "required for %s", type));
		if (dv_size(dv_get(d, &top_o, "indicators")) == 0)
			return (fail(c, FERRY_ESCHEMA, "indicators",
			    "at least one required for %s", type));
	}
	if ((strcmp(type, "housing") == 0 || strcmp(type, "health") == 0) &&
	    !dv_present(dv_get(d, &top_o, "needs")))
		return (fail(c, FERRY_ESCHEMA, "needs", "required for %s",
		    type));
	if (dv_present(dv_get(subj, &subject_o, "date_of_birth")) &&
	    dv_present(dv_get(subj, &subject_o, "age_estimate")))
		return (fail(c, FERRY_ESCHEMA, "subject.age_estimate",
		    "not allowed with subject.date_of_birth"));
	if (dv_present(sc) && (rc = check_safe_contact(c, sc)) != 0)
		return (rc);
	if (dv_present(cons) &&
	    (dv_is_true(dv_get(cons, &consent_o, "referral")) ||
	    dv_is_true(dv_get(cons, &consent_o, "support")) ||
	    dv_is_true(dv_get(cons, &consent_o, "police_contact")))) {
		if (!dv_present(dv_get(cons, &consent_o, "obtained_by")))
			return (fail(c, FERRY_ESCHEMA, "consent.obtained_by",
			    "required when consent is given"));
		if (!dv_present(dv_get(cons, &consent_o, "obtained_at")))
			return (fail(c, FERRY_ESCHEMA, "consent.obtained_at",
			    "required when consent is given"));
	}
	if (!dv_present(dv_get(ref, &party_o, "phone")) &&
	    !dv_present(dv_get(ref, &party_o, "email")))
		return (fail(c, FERRY_ESCHEMA, "referrer.phone",
		    "required (or referrer.email)"));
	/* Last, so that a malformed document is reported as such first. */
	if (nrm && adult) {
		if (!dv_present(cons))
			return (fail(c, FERRY_ECONSENT, "consent",
			    "adult NRM referral requires consent"));
		if (!dv_is_true(dv_get(cons, &consent_o, "referral")))
			return (fail(c, FERRY_ECONSENT, "consent.referral",
			    "adult NRM referral requires consent"));
	}
	return (0);
}

static int
check_response(struct ctx *c, struct dv d)
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
	resp = dv_enum(dv_get(d, &top_o, "response"), responses);
	if ((strcmp(resp, "declined") == 0 ||
	    strcmp(resp, "more-information-needed") == 0) &&
	    !dv_present(dv_get(d, &top_o, "reason")))
		return (fail(c, FERRY_ESCHEMA, "reason",
		    "required when response is %s", resp));
	return (0);
}

static void
fill_info(const struct ctx *c, struct dv d, struct referral_info *info)
{
	struct dv v;
	const char *s;
	size_t len;

	memset(info, 0, sizeof(*info));
	info->message_kind = dv_enum(dv_get(d, &top_o, "message_kind"),
	    kinds);
	info->kind = strcmp(info->message_kind, "referral") == 0 ?
	    REFERRAL_KIND_REFERRAL : REFERRAL_KIND_RESPONSE;
	info->referral_type = dv_enum(dv_get(d, &top_o, "referral_type"),
	    rtypes);
	info->urgency = dv_enum(dv_get(d, &top_o, "urgency"), urgencies);
	info->age_group = dv_enum(dv_get(d, &top_o, "age_group"), agegroups);
	info->response = dv_enum(dv_get(d, &top_o, "response"), responses);
	/* A valid case_id: at most REFERRAL_CASEID_MAX bytes, no NUL. */
	if ((s = dv_str(dv_get(d, &top_o, "case_id"), &len)) != NULL) {
		if (len > REFERRAL_CASEID_MAX)
			len = REFERRAL_CASEID_MAX;
		memcpy(info->case_id, s, len);
		info->case_id[len] = '\0';
	}
	v = dv_get(d, &top_o, "in_reply_to");
	if (v.m != NULL && v.m->type == MSGPACK_OBJECT_BIN &&
	    v.m->via.bin.size == FERRY_MSGID_LEN) {
		memcpy(info->in_reply_to, v.m->via.bin.ptr, FERRY_MSGID_LEN);
		info->has_in_reply_to = 1;
	} else if ((s = dv_str(v, &len)) != NULL &&
	    ferry_unhex(info->in_reply_to, FERRY_MSGID_LEN, s) == 0)
		info->has_in_reply_to = 1;
	info->attachments = c->attach_count;
	info->attachment_bytes = c->attach_bytes;
}

/* Validate a parsed document (and write its msgpack when c->w is set). */
static int
check_doc(struct ctx *c, struct dv d, struct referral_info *info)
{
	struct dv v;
	int rc;

	c->attach_bytes = 0;
	c->attach_count = 0;
	if (dv_kind(d) != DK_OBJECT)
		return (fail(c, FERRY_ESCHEMA, "", "must be a JSON object"));
	/* The version first: a later version's fields are not "unknown". */
	if (!dv_present(v = dv_get(d, &top_o, "schema")))
		return (fail(c, FERRY_ESCHEMA, "schema", "required"));
	if (!dv_streq(v, REFERRAL_SCHEMA))
		return (fail(c, FERRY_ESCHEMA, "schema",
		    "must be \"" REFERRAL_SCHEMA "\""));
	if ((rc = check_value(c, d, &top_v, "")) != 0)
		return (rc);
	if (dv_streq(dv_get(d, &top_o, "message_kind"), "referral"))
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

/* A parsed JSON document: by refjson when it can, else by jansson. */
struct parsed {
	struct refjson_doc rj;
	json_t *j;
};

static void
parsed_free(struct parsed *p)
{

	refjson_free(&p->rj);
	json_decref(p->j);
	p->j = NULL;
}

/*
 * Parse ${json} into *${p} and its root *${root}.  The fast reader first;
 * what it does not handle (refjson.h: errors among it) goes to jansson,
 * whose verdict and message stand.
 */
static int
parse_json(struct ctx *c, const char *json, size_t len, struct parsed *p,
    struct dv *root)
{
	json_error_t jerr;
	size_t depth, commas;

	memset(p, 0, sizeof(*p));
	*root = dv_none;
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
	if (refjson_parse(json, len, &p->rj) == 0) {
		root->r = &p->rj.nodes[1];
		return (0);
	}
	if ((p->j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			return (fail(c, FERRY_ENOMEM, "json", "out of memory"));
		return (fail(c, FERRY_EJSON, "json", "line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text));
	}
	root->j = p->j;
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
	struct ctx c = { err, errlen, today_of(now_ms), 0, 0, NULL };
	struct parsed p;
	struct dv d;
	int rc;

	clear_err(err, errlen);
	if ((rc = parse_json(&c, json, len, &p, &d)) != 0)
		return (rc);
	rc = check_doc(&c, d, info);
	parsed_free(&p);
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

/** referral_json_to_wire_at(json, len, now_ms, out, outlen, err, errlen, info): validate ${json}, then its canonical msgpack. */
int
referral_json_to_wire_at(const char *json, size_t len, uint64_t now_ms,
    uint8_t **out, size_t *outlen, char *err, size_t errlen,
    struct referral_info *info)
{
	struct ctx c = { err, errlen, today_of(now_ms), 0, 0, NULL };
	struct wire_buf w;
	struct parsed p;
	struct dv d;
	int rc;

	*out = NULL;
	*outlen = 0;
	clear_err(err, errlen);
	if ((rc = parse_json(&c, json, len, &p, &d)) != 0)
		return (rc);
	/* Encoded in the validation pass; the msgpack form is smaller than
	 * the JSON text (base64 shrinks, names become numbers). */
	wire_buf_init_cap(&w, len);
	c.w = &w;
	rc = check_doc(&c, d, info);
	c.w = NULL;
	if (rc != 0)
		wire_buf_free(&w);
	else if ((rc = wire_buf_take(&w, out, outlen)) != 0)
		fail(&c, rc, "", "%s", ferry_strerror(rc));
	parsed_free(&p);
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

/*
 * Decoding: untrusted msgpack, its shape checked against the specs (types,
 * field numbers, sizes) before the rules are (check_doc).
 */
static int
shape_value(struct ctx *c, const msgpack_object *o, const struct vspec *vs,
    const char *path)
{
	char sub[PATH_MAX_];
	const msgpack_object_kv *kv;
	size_t i, k;
	uint64_t prev = 0;
	int rc;

	switch (vs->type) {
	case V_STR:
	case V_ENUM:
		/* wire_scan_limit refused malformed UTF-8 before. */
		if (o->type != MSGPACK_OBJECT_STR)
			return (fail(c, FERRY_ETYPE, path, "must be a str"));
		return (0);
	case V_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return (fail(c, FERRY_ETYPE, path,
			    "must be a boolean"));
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
		return (0);
	case V_HEX16:
		if (o->type != MSGPACK_OBJECT_BIN)
			return (fail(c, FERRY_ETYPE, path, "must be a bin"));
		if (o->via.bin.size != FERRY_MSGID_LEN)
			return (fail(c, FERRY_EBADVALUE, path,
			    "must be %d bytes", FERRY_MSGID_LEN));
		return (0);
	case V_B64:
		if (o->type != MSGPACK_OBJECT_BIN)
			return (fail(c, FERRY_ETYPE, path, "must be a bin"));
		if (o->via.bin.size > vs->max)
			return (fail(c, FERRY_ETOOBIG, path,
			    "attachment larger than %llu bytes",
			    (unsigned long long)vs->max));
		return (0);
	case V_OBJ:
		if (o->type != MSGPACK_OBJECT_MAP)
			return (fail(c, FERRY_ETYPE, path, "must be a map"));
		kv = o->via.map.ptr;
		for (i = k = 0; i < o->via.map.size; i++) {
			uint64_t key;

			if (kv[i].key.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				return (fail(c, FERRY_ETYPE, path,
				    "map key must be a field number"));
			key = kv[i].key.via.u64;
			if (i > 0 && key <= prev)
				return (fail(c, key == prev ? FERRY_EDUPKEY :
				    FERRY_ENONCANON, path,
				    "field numbers not strictly ascending"));
			prev = key;
			while (k < vs->obj->n && vs->obj->f[k].num < key)
				k++;
			if (k == vs->obj->n || vs->obj->f[k].num != key)
				return (fail(c, FERRY_EUNKNOWNFIELD, path,
				    "unknown field number %llu",
				    (unsigned long long)key));
			path_field(sub, path, vs->obj->f[k].name);
			if ((rc = shape_value(c, &kv[i].val,
			    &vs->obj->f[k].v, sub)) != 0)
				return (rc);
		}
		return (0);
	case V_ARR:
		if (o->type != MSGPACK_OBJECT_ARRAY)
			return (fail(c, FERRY_ETYPE, path,
			    "must be an array"));
		if (o->via.array.size > vs->max)
			return (fail(c, FERRY_ETOOBIG, path,
			    "more than %llu items",
			    (unsigned long long)vs->max));
		for (i = 0; i < o->via.array.size; i++) {
			path_index(sub, path, i);
			if ((rc = shape_value(c, &o->via.array.ptr[i],
			    vs->elem, sub)) != 0)
				return (rc);
		}
		return (0);
	}
	return (fail(c, FERRY_EINTERNAL, path, "internal error"));
}

/*
 * The JSON text of a checked wire document, written straight from the
 * msgpack objects: the very text json_dumps(JSON_INDENT(2) |
 * JSON_PRESERVE_ORDER) gives for the same document as a jansson tree
 * (members in field-number order, two spaces per level, ": " and ",",
 * escapes as jansson writes them), then a newline; test_referral
 * (wire_json_text_as_jansson) holds it to that.
 */
struct jtext {
	char *p;
	size_t n, cap;
	int err;
};

/* Room for ${k} more bytes: a pointer to them, or NULL (j->err set). */
static char *
jt_room(struct jtext *j, size_t k)
{
	size_t cap;
	char *p;

	if (j->err)
		return (NULL);
	if (k > j->cap - j->n) {
		cap = j->cap ? j->cap : 256;
		while (cap - j->n < k) {
			if (cap > SIZE_MAX / 2) {
				j->err = FERRY_ENOMEM;
				return (NULL);
			}
			cap *= 2;
		}
		if ((p = realloc(j->p, cap)) == NULL) {
			j->err = FERRY_ENOMEM;
			return (NULL);
		}
		j->p = p;
		j->cap = cap;
	}
	return (j->p + j->n);
}

static void
jt_put(struct jtext *j, const char *s, size_t k)
{
	char *p;

	if ((p = jt_room(j, k)) == NULL)
		return;
	memcpy(p, s, k);
	j->n += k;
}

/* A newline and two spaces per level. */
static void
jt_indent(struct jtext *j, int depth)
{
	size_t k = 1 + 2 * (size_t)depth;
	char *p;

	if ((p = jt_room(j, k)) == NULL)
		return;
	p[0] = '\n';
	memset(p + 1, ' ', k - 1);
	j->n += k;
}

/* A JSON string, escaped as jansson does without flags. */
static void
jt_str(struct jtext *j, const char *s, size_t len)
{
	static const char hexd[] = "0123456789ABCDEF";
	char *p, *o;
	size_t i;

	/* Six bytes at most per byte (\u00XX), and the quotes. */
	if (len > (SIZE_MAX - 2) / 6 || (p = jt_room(j, 6 * len + 2)) ==
	    NULL) {
		j->err = FERRY_ENOMEM;
		return;
	}
	o = p;
	*o++ = '"';
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch != '"' && ch != '\\') {
			*o++ = (char)ch;
			continue;
		}
		*o++ = '\\';
		switch (ch) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hexd[ch >> 4];
			*o++ = hexd[ch & 15];
		}
	}
	*o++ = '"';
	j->n += (size_t)(o - p);
}

/* A container of ${n} entries opens, "{" or "[" (empty: "{}" or "[]"). */
static void
jt_open(struct jtext *j, size_t n, const char *pair)
{

	jt_put(j, pair, n == 0 ? 2 : 1);
}

/* Before entry ${i}: a comma after the one before, a new line. */
static void
jt_entry(struct jtext *j, size_t i, int depth)
{

	if (i > 0)
		jt_put(j, ",", 1);
	jt_indent(j, depth);
}

/* ... and closes on a line of its own (nothing more when empty). */
static void
jt_close(struct jtext *j, size_t n, int depth, const char *pair)
{

	if (n == 0)
		return;
	jt_indent(j, depth);
	jt_put(j, pair + 1, 1);
}

static void
jt_value(struct jtext *j, const msgpack_object *o, const struct vspec *vs,
    int depth)
{
	const msgpack_object_kv *kv;
	char num[24], *p;
	size_t i, k, len;
	uint64_t u;

	switch (vs->type) {
	case V_STR:
	case V_ENUM:
		jt_str(j, o->via.str.ptr, o->via.str.size);
		return;
	case V_BOOL:
		if (o->via.boolean)
			jt_put(j, "true", 4);
		else
			jt_put(j, "false", 5);
		return;
	case V_UINT:
		k = sizeof(num);
		u = o->via.u64;
		do
			num[--k] = (char)('0' + u % 10);
		while ((u /= 10) != 0);
		jt_put(j, num + k, sizeof(num) - k);
		return;
	case V_HEX16:
		if ((p = jt_room(j, 2 * FERRY_MSGID_LEN + 3)) == NULL)
			return;
		p[0] = '"';
		ferry_hex(p + 1, (const uint8_t *)o->via.bin.ptr,
		    FERRY_MSGID_LEN);
		p[2 * FERRY_MSGID_LEN + 1] = '"';
		j->n += 2 * FERRY_MSGID_LEN + 2;
		return;
	case V_B64:
		len = sodium_base64_ENCODED_LEN(o->via.bin.size,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((p = jt_room(j, len + 2)) == NULL)
			return;
		p[0] = '"';
		sodium_bin2base64(p + 1, len, (const unsigned char *)
		    o->via.bin.ptr, o->via.bin.size,
		    sodium_base64_VARIANT_ORIGINAL);
		p[len] = '"';	/* over the NUL */
		j->n += len + 1;
		return;
	case V_OBJ:
		kv = o->via.map.ptr;
		jt_open(j, o->via.map.size, "{}");
		for (i = k = 0; i < o->via.map.size; i++) {
			/* shape_value checked: known, ascending. */
			while (vs->obj->f[k].num != kv[i].key.via.u64)
				k++;
			jt_entry(j, i, depth + 1);
			jt_str(j, vs->obj->f[k].name,
			    strlen(vs->obj->f[k].name));
			jt_put(j, ": ", 2);
			jt_value(j, &kv[i].val, &vs->obj->f[k].v, depth + 1);
		}
		jt_close(j, o->via.map.size, depth, "{}");
		return;
	case V_ARR:
		jt_open(j, o->via.array.size, "[]");
		for (i = 0; i < o->via.array.size; i++) {
			jt_entry(j, i, depth + 1);
			jt_value(j, &o->via.array.ptr[i], vs->elem, depth + 1);
		}
		jt_close(j, o->via.array.size, depth, "[]");
		return;
	}
}

/* The pretty JSON text of the checked wire document ${root}, malloc'd. */
static int
wire_json_text(const msgpack_object *root, char **json_out)
{
	struct jtext j = { NULL, 0, 0, 0 };

	*json_out = NULL;
	jt_value(&j, root, &top_v, 0);
	jt_put(&j, "\n", 2);	/* and the NUL */
	if (j.err != 0) {
		free(j.p);
		return (j.err);
	}
	*json_out = j.p;
	return (0);
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
	struct ctx c = { err, errlen, today_of(now_ms), 0, 0, NULL };
	struct wire_doc doc;
	struct wire_buf w;
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
	/* The shape first, then the rules, on the msgpack objects: no JSON
	 * tree; the JSON text, when wanted, is written from them. */
	if ((rc = shape_value(&c, &doc.root, &top_v, "")) != 0) {
		wire_doc_free(&doc);
		return (rc);
	}
	/*
	 * Accept only the one encoding: the decoder is lenient about
	 * nothing by construction, but comparing with the encoder's output
	 * (written by the validation pass) makes that a checked fact rather
	 * than an argument.
	 */
	wire_buf_init_cap(&w, len);
	c.w = &w;
	rc = check_doc(&c, (struct dv){ NULL, NULL, &doc.root }, info);
	c.w = NULL;
	if (rc != 0)
		goto done;
	if (w.err != 0) {
		rc = fail(&c, w.err, "", "%s", ferry_strerror(w.err));
		goto done;
	}
	if (w.sb.size != len || memcmp(w.sb.data, wire, len) != 0) {
		rc = fail(&c, FERRY_ENONCANON, "", "%s",
		    ferry_strerror(FERRY_ENONCANON));
		goto done;
	}
	if (json_out == NULL)
		goto done;
	if ((rc = wire_json_text(&doc.root, json_out)) != 0)
		fail(&c, rc, "", "%s", ferry_strerror(rc));
done:
	wire_buf_free(&w);
	wire_doc_free(&doc);
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
	struct ctx c = { err, errlen, 0, 0, 0, NULL };
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
	if ((rc = check_doc(&c, (struct dv){ NULL, d, NULL }, NULL)) != 0)
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
	struct ctx c = { err, errlen, 0, 0, 0, NULL };
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
