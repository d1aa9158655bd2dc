/*
 * referral_schema.c: the schema of the ferry-referral/1 document, one
 * table (the specs below) that describes every object: its fields, their
 * JSON names, wire field numbers, types and limits; and the helpers that
 * every walk over it shares: the error message, the path of a field, the
 * string formats and dates.  The validator (referral_check.c), the wire
 * shape check and the JSON text writer (referral_wire.c) walk this one
 * table, so the forms cannot drift apart.  docs/referral-schema.md is the
 * normative description; referral_int.h says how the files fit.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "referral_int.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *const ref_kinds[] = { "referral", "response", NULL };
const char *const ref_rtypes[] = { "nrm", "duty-to-notify",
    "safeguarding", "housing", "health", "crime-report", NULL };
const char *const ref_urgencies[] = { "routine", "urgent", "emergency",
    NULL };
const char *const ref_agegroups[] = { "adult", "child", NULL };
static const char *const sexes[] = { "female", "male", "other", "unknown",
    NULL };
const char *const ref_methods[] = { "phone", "email", "via-referrer",
    "none", NULL };
static const char *const xtypes[] = { "labour", "sexual", "criminal",
    "domestic-servitude", "organ-removal", "financial", "other", NULL };
const char *const ref_responses[] = { "accepted", "declined",
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
const struct ospec ref_consent_o = { consent_f, NELEM(consent_f) };

static const struct fspec safe_f[] = {
	{ "method", 1, 1, ENUM(ref_methods) },
	{ "details", 2, 0, STR(S_LINE, 1, 256) },
};
const struct ospec ref_safe_o = { safe_f, NELEM(safe_f) };

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
	{ "safe_contact", 10, 0, OBJ(ref_safe_o) },
};
const struct ospec ref_subject_o = { subject_f, NELEM(subject_f) };

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
const struct ospec ref_party_o = { party_f, NELEM(party_f) };

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
	{ "message_kind", T_KIND, 1, ENUM(ref_kinds) },
	{ "case_id", T_CASE, 0, STR(S_CASEID, 1, REFERRAL_CASEID_MAX) },
	{ "referral_type", T_TYPE, 0, ENUM(ref_rtypes) },
	{ "urgency", T_URGENCY, 0, ENUM(ref_urgencies) },
	{ "age_group", T_AGE, 0, ENUM(ref_agegroups) },
	{ "consent", T_CONSENT, 0, OBJ(ref_consent_o) },
	{ "subject", T_SUBJECT, 0, OBJ(ref_subject_o) },
	{ "exploitation", T_EXPLOIT, 0, OBJ(exploit_o) },
	{ "indicators", T_INDICATORS, 0, ARR(indicator_item, 0, 64, 0) },
	{ "narrative", T_NARRATIVE, 0, STR(S_TEXT, 1, REFERRAL_NARRATIVE_MAX) },
	{ "needs", T_NEEDS, 0, OBJ(needs_o) },
	{ "police_reference", T_POLICEREF, 0, STR(S_LINE, 1, 64) },
	{ "referrer", T_REFERRER, 0, OBJ(ref_party_o) },
	{ "attachments", T_ATTACH, 0,
	    ARR(attach_item, 0, REFERRAL_ATTACH_COUNT, 0) },
	{ "in_reply_to", T_REPLYTO, 0, { V_HEX16, S_LINE, 0, 0, NULL, NULL,
	    NULL, 0 } },
	{ "response", T_RESPONSE, 0, ENUM(ref_responses) },
	{ "reason", T_REASON, 0, STR(S_TEXT, 1, 4096) },
	{ "responder", T_RESPONDER, 0, OBJ(ref_party_o) },
};
const struct ospec ref_top_o = { top_f, NELEM(top_f) };
const struct vspec ref_top_v = OBJ(ref_top_o);

int
ref_fail(struct ctx *c, int code, const char *path, const char *fmt, ...)
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

void
ref_path_field(char *out, const char *parent, const char *name)
{
	size_t n;

	n = path_put(out, 0, parent);
	if (parent[0] != '\0')
		n = path_put(out, n, ".");
	out[path_put(out, n, name)] = '\0';
}

void
ref_path_index(char *out, const char *parent, size_t i)
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

int
ref_check_format(struct ctx *c, const char *s, size_t len, enum sfmt fmt,
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
			return (ref_fail(c, FERRY_ESCHEMA, path,
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
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "must be letters, digits, '.', '_', '-' and "
			    "start with a letter or digit"));
		}
		return (0);
	case S_DATE:
	case S_PDATE:
		if (!parse_date(s, len, fmt == S_PDATE, &days))
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "not a date"));
		/* One day of grace for senders east of UTC. */
		if (days > c->today + 1)
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "in the future"));
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
			return (ref_fail(c, FERRY_ESCHEMA, path,
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
			return (ref_fail(c, FERRY_ESCHEMA, path,
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
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "not a media type (lowercase type/subtype)"));
		return (0);
	case S_FILE:
		if (s[0] == '.' || memchr(s, '/', len) != NULL ||
		    memchr(s, '\\', len) != NULL)
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "not a file name (no '/', '\\', leading '.')"));
		return (0);
	}
	return (ref_fail(c, FERRY_EINTERNAL, path, "internal error"));
}

/* The words of ${e} (NULL-terminated) into ${out}, ", " between them. */
void
ref_join_words(const char *const *e, char *out, size_t cap)
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

int
ref_fail_enum(struct ctx *c, const char *path, const char *const *e)
{
	char list[REFERRAL_ERR_MAX];

	ref_join_words(e, list, sizeof(list));
	return (ref_fail(c, FERRY_ESCHEMA, path, "must be one of %s", list));
}

int64_t
ref_today_of(uint64_t now_ms)
{

	return ((int64_t)(now_ms / 86400000u));
}

void
ref_clear_err(char *err, size_t errlen)
{

	if (err != NULL && errlen > 0)
		err[0] = '\0';
}
