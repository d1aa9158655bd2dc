/*
 * referral.h: the referral document ("ferry-referral/1"), the JSON an
 * agency's case-management system hands to Ferry and receives from it.
 *
 * JSON at the agency boundary, canonical msgpack on the wire (inside the
 * encrypted envelope).  docs/referral-schema.md is the normative schema:
 * every field, its type, its limits, the rules per referral type, and the
 * field-number table of the wire encoding.
 *
 * Every function here is pure: no I/O, no globals, no printing.  The only
 * outside input is the clock (dates may not lie in the future); the *_at
 * forms take it as an argument so that tests and fuzzers are
 * deterministic.
 *
 * Errors: 0 on success, or a negative FERRY_E* code, and when an ${err}
 * buffer is given it receives one line "PATH: RULE", for example
 * "subject.date_of_birth: not a date" or
 * "consent.referral: adult NRM referral requires consent".
 *   FERRY_EJSON     the bytes are not JSON (or too big, or nested too deep);
 *   FERRY_ESCHEMA   JSON, but not a valid ferry-referral/1 document;
 *   FERRY_ECONSENT  a consent the referral type needs is missing or false;
 *   FERRY_ENOMEM    out of memory;
 * and from the wire decoder also the wire.h codes (FERRY_ETRUNCATED,
 * FERRY_ETRAILING, FERRY_ENESTING, FERRY_ENONCANON, FERRY_ETYPE,
 * FERRY_EMALFORMED, FERRY_EBADVALUE, FERRY_EDUPKEY, FERRY_EUNKNOWNFIELD,
 * FERRY_ETOOBIG).
 */
#ifndef FERRY_REFERRAL_H
#define FERRY_REFERRAL_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.h"

#define REFERRAL_SCHEMA "ferry-referral/1"

/* Limits (docs/referral-schema.md, "Limits"). */
#define REFERRAL_JSON_MAX (24u * 1024 * 1024)	/* JSON document, bytes */
#define REFERRAL_WIRE_MAX (20u * 1024 * 1024)	/* msgpack form, bytes */
#define REFERRAL_ATTACH_MAX (16u * 1024 * 1024)	/* decoded attachments, total */
#define REFERRAL_ATTACH_COUNT 16		/* attachments per document */
#define REFERRAL_NARRATIVE_MAX 65536		/* narrative, bytes */
#define REFERRAL_CASEID_MAX 64			/* case_id, bytes */
#define REFERRAL_JSON_DEPTH 8			/* JSON nesting refused beyond */
#define REFERRAL_JSON_COMMAS 4096		/* commas outside strings */
#define REFERRAL_WIRE_ITEMS 64			/* entries of any array or map */
#define REFERRAL_WIRE_DEPTH 3			/* msgpack nesting, exact need */
#define REFERRAL_ERR_MAX 256			/* an err buffer this big never truncates */

enum referral_kind {
	REFERRAL_KIND_REFERRAL = 1,
	REFERRAL_KIND_RESPONSE = 2
};

/*
 * What the agent may log and use locally about a valid document: ids and
 * kinds, never personal data.  The const char * members point to static
 * strings (valid for the life of the program) or are NULL when the field
 * does not apply to the document's kind.
 */
struct referral_info {
	enum referral_kind kind;
	const char *message_kind;	/* "referral" or "response" */
	const char *referral_type;	/* "nrm", ... (referral only) */
	const char *urgency;		/* "routine", ... (referral only) */
	const char *age_group;		/* "adult" or "child" (referral only) */
	const char *response;		/* "accepted", ... (response only) */
	char case_id[REFERRAL_CASEID_MAX + 1];
	int has_in_reply_to;		/* 1 for a response */
	uint8_t in_reply_to[FERRY_MSGID_LEN];
	size_t attachments;		/* number of attachments */
	uint64_t attachment_bytes;	/* their decoded size, total */
};

/**
 * referral_validate_json(json, len, err, errlen, info): check that the
 * ${len} bytes at ${json} are one valid ferry-referral/1 document, dates
 * judged against today's UTC date.  On success fills *${info} when it is
 * not NULL.  On failure writes "PATH: RULE" into ${err} (when not NULL,
 * NUL-terminated, truncated to ${errlen}).  Returns 0, FERRY_EJSON,
 * FERRY_ESCHEMA, FERRY_ECONSENT or FERRY_ENOMEM.
 */
int referral_validate_json(const char *json, size_t len, char *err,
    size_t errlen, struct referral_info *info);

/**
 * referral_validate_json_at(json, len, now_ms, err, errlen, info): as
 * referral_validate_json, with "today" taken from ${now_ms} (milliseconds
 * since the Unix epoch) instead of the clock.
 */
int referral_validate_json_at(const char *json, size_t len, uint64_t now_ms,
    char *err, size_t errlen, struct referral_info *info);

/**
 * referral_json_to_wire(json, len, out, outlen, err, errlen): validate the
 * JSON document ${json} and convert it to its one canonical msgpack
 * encoding.  On success *${out} is a new buffer of *${outlen} bytes owned
 * by the caller (free with free()); on failure *${out} is NULL and ${err}
 * says why.  Errors as referral_validate_json.
 */
int referral_json_to_wire(const char *json, size_t len, uint8_t **out,
    size_t *outlen, char *err, size_t errlen);

/**
 * referral_json_to_wire_at(json, len, now_ms, out, outlen, err, errlen,
 * info): referral_json_to_wire with an explicit clock; fills *${info}
 * when not NULL.
 */
int referral_json_to_wire_at(const char *json, size_t len, uint64_t now_ms,
    uint8_t **out, size_t *outlen, char *err, size_t errlen,
    struct referral_info *info);

/**
 * referral_wire_to_json(wire, len, json_out): decode the untrusted
 * msgpack document ${wire} (as decrypted from another agency), strictly:
 * only the exact bytes referral_json_to_wire would produce for a valid
 * document are accepted.  On success *${json_out} is a new NUL-terminated
 * pretty-printed JSON text ending in a newline, owned by the caller (free
 * with free()).  Returns 0, FERRY_ESCHEMA, FERRY_ECONSENT, FERRY_ENOMEM or
 * a wire decoding error (see the top of this file).
 */
int referral_wire_to_json(const uint8_t *wire, size_t len, char **json_out);

/**
 * referral_wire_to_json_at(wire, len, now_ms, json_out, err, errlen,
 * info): referral_wire_to_json with an explicit clock, an error line in
 * ${err} ("PATH: RULE"; wire errors name the field path too) and the
 * document's *${info} when not NULL.  ${json_out} may be NULL to only
 * check.
 */
int referral_wire_to_json_at(const uint8_t *wire, size_t len,
    uint64_t now_ms, char **json_out, char *err, size_t errlen,
    struct referral_info *info);

/* The person answering, for referral_response_json. */
struct referral_party {
	const char *name;		/* required */
	const char *role;		/* or NULL */
	const char *organisation;	/* required */
	const char *phone;		/* or NULL */
	const char *email;		/* or NULL */
};

/**
 * referral_response_json(case_id, in_reply_to, response, reason,
 * narrative, responder, json_out, err, errlen): build a response document
 * (as `ferry reply` needs) answering message ${in_reply_to} (16 bytes) of
 * case ${case_id}; ${response} is one of accepted, declined,
 * more-information-needed, information-provided, closed; ${reason} and
 * ${narrative} may be NULL.  The result is validated like any document.
 * On success *${json_out} is a new pretty JSON text owned by the caller
 * (free with free()).  Errors as referral_validate_json.
 */
int referral_response_json(const char *case_id, const uint8_t *in_reply_to,
    const char *response, const char *reason, const char *narrative,
    const struct referral_party *responder, char **json_out, char *err,
    size_t errlen);

/**
 * referral_answer_check(kind, response, answer, err, errlen): whether a
 * response ${answer} may answer a received message whose message_kind is
 * ${kind} ("referral" or "response") and, for a response, whose response
 * is ${response} (may be NULL for a referral): the thread of
 * docs/referral-schema.md section 4 (information-provided answers only
 * more-information-needed; accepted and declined take only closed;
 * closed takes nothing).  0, or FERRY_ESCHEMA with "response: ANSWER
 * cannot answer ...: it is answered with ..." in ${err}; FERRY_EINVAL
 * for a ${kind} or ${response} that is neither.
 */
int referral_answer_check(const char *kind, const char *response,
    const char *answer, char *err, size_t errlen);

#endif
