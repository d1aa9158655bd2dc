/*
 * referral_int.h: what the files of the ferry-referral/1 document share,
 * not for the agent's other files (referral.h is their interface).
 *
 *   referral_schema.c  the schema (one table describes every object: its
 *                      fields, their JSON names, wire field numbers, types
 *                      and limits) and the helpers every walk uses:
 *                      errors, paths, string formats and dates
 *   referral_check.c   the validator: one walk over the table that reads
 *                      the document in any of its forms and writes the
 *                      canonical msgpack as it checks
 *   referral_wire.c    the wire form in: its shape against the table, the
 *                      canonical check, the recipient's JSON text written
 *                      from the msgpack objects
 *   referral.c         the JSON form in (refjson, else jansson), a
 *                      response built, the thread of a case
 *
 * Calls go one way: referral.c and referral_wire.c call referral_check.c
 * and referral_schema.c; referral_check.c calls referral_schema.c, which
 * calls none of them.  Each part below names the file that defines it.
 * ref_ is the prefix of these internal names.
 */
#ifndef FERRY_REFERRAL_INT_H
#define FERRY_REFERRAL_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "referral.h"
#include "refjson.h"
#include "wire.h"

/* ---- referral_schema.c: the schema ---- */

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

/* The words of the enumerations (NULL-terminated) that the rules use. */
extern const char *const ref_kinds[];
extern const char *const ref_rtypes[];
extern const char *const ref_urgencies[];
extern const char *const ref_agegroups[];
extern const char *const ref_methods[];
extern const char *const ref_responses[];

/* The objects whose fields the rules name, and the document itself. */
extern const struct ospec ref_consent_o;
extern const struct ospec ref_safe_o;
extern const struct ospec ref_subject_o;
extern const struct ospec ref_party_o;
extern const struct ospec ref_top_o;
extern const struct vspec ref_top_v;

/* ---- referral_schema.c: errors, paths, formats ---- */

#define PATH_MAX_ 160

/* One check or conversion: where its error goes, its today, what it
 * counted of the attachments, the msgpack it writes. */
struct ctx {
	char *err;
	size_t errlen;
	int64_t today;		/* days since 1970-01-01, UTC */
	uint64_t attach_bytes;
	size_t attach_count;
	struct wire_buf *w;	/* when not NULL, the msgpack form is
				   written here as the checks go */
};

/**
 * ref_fail(c, code, path, fmt, ...): ${code}, after writing "${path}:
 * ${fmt}" into c->err ("document" for an empty path), on one line.
 */
int ref_fail(struct ctx *c, int code, const char *path, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/** ref_path_field(out, parent, name): "${parent}.${name}" (or ${name}) into ${out}, PATH_MAX_ bytes. */
void ref_path_field(char *out, const char *parent, const char *name);

/** ref_path_index(out, parent, i): "${parent}[${i}]" into ${out}, PATH_MAX_ bytes. */
void ref_path_index(char *out, const char *parent, size_t i);

/** ref_check_format(c, s, len, fmt, path): 0 if the ${len} bytes at ${s} are of format ${fmt}, else FERRY_ESCHEMA (ref_fail). */
int ref_check_format(struct ctx *c, const char *s, size_t len,
    enum sfmt fmt, const char *path);

/** ref_join_words(e, out, cap): the words of ${e} (NULL-terminated) into ${out}, ", " between them. */
void ref_join_words(const char *const *e, char *out, size_t cap);

/** ref_fail_enum(c, path, e): FERRY_ESCHEMA, "must be one of" the words of ${e}. */
int ref_fail_enum(struct ctx *c, const char *path, const char *const *e);

/** ref_today_of(now_ms): the day of ${now_ms}, in days since 1970-01-01 UTC. */
int64_t ref_today_of(uint64_t now_ms);

/** ref_clear_err(err, errlen): an empty message in ${err}, if there is room. */
void ref_clear_err(char *err, size_t errlen);

/* ---- referral_check.c: the validator ---- */

/*
 * A value of the document being checked: a node of a refjson document
 * (the JSON form as the sender's fast reader gives it), of a jansson tree
 * (the JSON form otherwise, and documents built here), or a msgpack object
 * (the wire form, its shape already checked by shape_value in
 * referral_wire.c).  The checks read any of them through the accessors of
 * referral_check.c, so every form is judged by the same code, and none
 * needs a jansson tree built for it.
 */
struct dv {
	const struct refjson_node *r;
	const json_t *j;
	const msgpack_object *m;
};

/* No value (an absent member). */
extern const struct dv ref_dv_none;

/**
 * ref_check_doc(c, d, info): validate the document ${d} (and, c->w not
 * NULL, write its canonical msgpack to c->w as the checks go); fill
 * *${info} (not NULL) when it is valid.  0 or a FERRY_E* code (ref_fail).
 */
int ref_check_doc(struct ctx *c, struct dv d, struct referral_info *info);

#endif /* !FERRY_REFERRAL_INT_H */
