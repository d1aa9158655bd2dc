/*
 * referral.c: the ferry-referral/1 document in its JSON form: a sender's
 * JSON parsed (the fast reader refjson first, jansson for what it does not
 * handle), validated and encoded to the canonical msgpack in one pass
 * (referral_check.c); a response document built and validated; and the
 * thread of a case, which responses may answer what.  The wire form in is
 * referral_wire.c's; referral_int.h says how the files fit.
 * docs/referral-schema.md is the normative description.
 */
#include "referral.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ferry.h"
#include "referral_int.h"
#include "refjson.h"
#include "wire.h"

static int
enum_index(const char *const *e, const char *s)
{
	int i;

	for (i = 0; e[i] != NULL; i++)
		if (strcmp(e[i], s) == 0)
			return (i);
	return (-1);
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
	char *near;
	size_t depth, commas;

	memset(p, 0, sizeof(*p));
	*root = ref_dv_none;
	if (len > REFERRAL_JSON_MAX)
		return (ref_fail(c, FERRY_EJSON, "json",
		    "larger than %u bytes", REFERRAL_JSON_MAX));
	json_shape(json, len, &depth, &commas);
	if (depth > REFERRAL_JSON_DEPTH)
		return (ref_fail(c, FERRY_EJSON, "json",
		    "nested deeper than %d", REFERRAL_JSON_DEPTH));
	if (commas > REFERRAL_JSON_COMMAS)
		return (ref_fail(c, FERRY_EJSON, "json",
		    "more than %d members and items", REFERRAL_JSON_COMMAS));
	if (refjson_parse(json, len, &p->rj) == 0) {
		root->r = &p->rj.nodes[1];
		return (0);
	}
	if ((p->j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			return (ref_fail(c, FERRY_ENOMEM, "json",
			    "out of memory"));
		/* Not jansson's "near '...'": it quotes the document (a
		 * victim's name), and this text reaches log lines. */
		if ((near = strstr(jerr.text, " near '")) != NULL)
			*near = '\0';
		return (ref_fail(c, FERRY_EJSON, "json",
		    "line %d column %d: %s", jerr.line, jerr.column,
		    jerr.text));
	}
	root->j = p->j;
	return (0);
}
/** referral_validate_json_at(json, len, now_ms, err, errlen, info): validate ${json} with today taken from ${now_ms}. */
int
referral_validate_json_at(const char *json, size_t len, uint64_t now_ms,
    char *err, size_t errlen, struct referral_info *info)
{
	struct ctx c = { err, errlen, ref_today_of(now_ms), 0, 0, NULL };
	struct parsed p;
	struct dv d;
	int rc;

	ref_clear_err(err, errlen);
	if ((rc = parse_json(&c, json, len, &p, &d)) != 0)
		return (rc);
	rc = ref_check_doc(&c, d, info);
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
	struct ctx c = { err, errlen, ref_today_of(now_ms), 0, 0, NULL };
	struct wire_buf w;
	struct parsed p;
	struct dv d;
	int rc;

	*out = NULL;
	*outlen = 0;
	ref_clear_err(err, errlen);
	if ((rc = parse_json(&c, json, len, &p, &d)) != 0)
		return (rc);
	/* Encoded in the validation pass; the msgpack form is smaller than
	 * the JSON text (base64 shrinks, names become numbers). */
	wire_buf_init_cap(&w, len);
	c.w = &w;
	rc = ref_check_doc(&c, d, info);
	c.w = NULL;
	if (rc != 0)
		wire_buf_free(&w);
	else if ((rc = wire_buf_take(&w, out, outlen)) != 0)
		ref_fail(&c, rc, "", "%s", ferry_strerror(rc));
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
	ref_clear_err(err, errlen);
	if (case_id == NULL || in_reply_to == NULL || response == NULL ||
	    responder == NULL)
		return (ref_fail(&c, FERRY_EINVAL, "", "missing argument"));
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
	c.today = ref_today_of(ferry_now_ms());
	if ((rc = ref_check_doc(&c, (struct dv){ NULL, d, NULL }, NULL)) != 0)
		goto done;
	if ((rc = dump_json(d, json_out)) != 0)
		ref_fail(&c, rc, "", "%s", ferry_strerror(rc));
	goto done;
nomem:
	rc = ref_fail(&c, FERRY_ENOMEM, "", "out of memory");
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

	ref_clear_err(err, errlen);
	if (kind == NULL || answer == NULL)
		return (ref_fail(&c, FERRY_EINVAL, "", "missing argument"));
	if (enum_index(ref_responses, answer) < 0)
		return (ref_fail_enum(&c, "response", ref_responses));
	if (strcmp(kind, "referral") == 0)
		what = kind;
	else if (strcmp(kind, "response") == 0 && response != NULL)
		what = response;
	else
		return (ref_fail(&c, FERRY_EINVAL, "in_reply_to",
		    "the message answered is neither a referral nor a "
		    "response"));
	for (i = 0; i < sizeof(thread_rules) / sizeof(thread_rules[0]); i++) {
		if (strcmp(thread_rules[i].answered, what) != 0)
			continue;
		if (enum_index(thread_rules[i].answers, answer) >= 0)
			return (0);
		if (thread_rules[i].answers[0] == NULL)
			return (ref_fail(&c, FERRY_ESCHEMA, "response",
			    "the case is closed: a closed response takes no "
			    "answer (the thread, referral-schema.md section 4)"));
		ref_join_words(thread_rules[i].answers, list, sizeof(list));
		return (ref_fail(&c, FERRY_ESCHEMA, "response", "%s cannot "
		    "answer %s%s: it is answered with %s (the thread, "
		    "referral-schema.md section 4)", answer, what == kind ?
		    "a " : "a response ", what, list));
	}
	return (ref_fail(&c, FERRY_EINVAL, "in_reply_to",
	    "the message answered has an unknown response"));
}
