/*
 * agentd_export.c: a subject access export (`ferry export --case CASE`,
 * docs/operations.md, "Subject access requests"): every message this
 * agency holds, sent or received, whose case reference is CASE, with
 * its counterpart (id and roster name), kind, times (ISO 8601 UTC),
 * state and outcome, its place in the thread, and the decrypted document
 * (opened with the stored content key, as `ferry show` does); an erased
 * message with its erasure and no content.  The CLI writes it as JSON
 * and as an HTML page.
 *
 * Calls: agentd_ctl.c calls this file; it calls agentd.c (content) and
 * agentd_util.c only (and the store).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentd.h"
#include "agentd_int.h"

/* Set ISO 8601 UTC time ${ms} as ${key} of ${o}, unless it is 0 (not yet). */
static void
put_time(json_t *o, const char *key, uint64_t ms)
{
	char t[40];

	if (ms == 0)
		return;
	ferry_utc_s(t, sizeof(t), ms);
	json_object_set_new(o, key, json_string(t));
}

/* Set string ${s} as ${key} of ${o}, unless it is empty. */
static void
put_str(json_t *o, const char *key, const char *s)
{

	if (s != NULL && s[0] != '\0')
		json_object_set_new(o, key, json_string(s));
}

struct exp {
	struct agentd *a;
	const char *case_id;
	json_t *msgs;
	int rc;
};

/*
 * The export entry of message ${id}, common part: id, direction,
 * counterpart ${who} with its roster name, case, kind, response, and
 * the message it answers.
 */
static json_t *
entry(struct exp *x, const uint8_t id[FERRY_MSGID_LEN], const char *dir,
    const char *who, const char *kind, const char *response,
    int has_reply_to, const uint8_t reply_to[FERRY_MSGID_LEN])
{
	const struct roster_agency *ag = roster_find(x->a->roster, who);
	char hx[33];
	json_t *o;

	agentd_idhex(hx, id);
	if ((o = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s}", "msg_id", hx,
	    "direction", dir, "counterpart", "id", who, "name",
	    ag != NULL ? ag->name : "", "case_id", x->case_id, "kind",
	    kind)) == NULL)
		return (NULL);
	put_str(o, "response", response);
	if (has_reply_to) {
		agentd_idhex(hx, reply_to);
		json_object_set_new(o, "in_reply_to", json_string(hx));
	}
	return (o);
}

/*
 * Finish entry ${o} of ${id}: its erasure (then no content), else its
 * document, from which a sent message's referral type and urgency are
 * read (a received one has them in its record); then into the list.
 */
static int
finish(struct exp *x, json_t *o, const uint8_t id[FERRY_MSGID_LEN])
{
	struct astore_erased er;
	json_error_t jerr;
	json_t *e, *d;
	char *doc = NULL, dir;
	int rc;

	if (o == NULL)
		return (FERRY_ENOMEM);
	if ((rc = astore_get_erased(x->a->store, id, &er)) == 0) {
		e = json_pack("{s:s}", "by", er.reason == LOG_ERASE_RETENTION ?
		    "retention" : "request");
		put_time(e, "at", er.t_erased);
		put_str(e, "ref", er.ref);
		put_str(e, "rule", er.rule);
		json_object_set_new(o, "erased", e);
	} else if (rc != FERRY_ENOENT) {
		json_decref(o);
		return (rc);
	} else if ((rc = agentd_content(x->a, id, &dir, &doc)) != 0) {
		/* The record stays in the export: say why its content does not. */
		json_object_set_new(o, "document_error",
		    json_string(ferry_strerror(rc)));
	} else if ((d = json_loads(doc, 0, &jerr)) == NULL)
		json_object_set_new(o, "document_error", json_string("the "
		    "decrypted document is not JSON"));
	else {
		if (json_object_get(o, "referral_type") == NULL)
			put_str(o, "referral_type", json_string_value(
			    json_object_get(d, "referral_type")));
		if (json_object_get(o, "urgency") == NULL)
			put_str(o, "urgency", json_string_value(
			    json_object_get(d, "urgency")));
		json_object_set_new(o, "document", d);
	}
	free(doc);
	return (json_array_append_new(x->msgs, o) != 0 ? FERRY_ENOMEM : 0);
}

static int
exp_out(void *ctx, const struct astore_out *r)
{
	struct exp *x = ctx;
	json_t *o, *t;

	if (strcmp(r->case_id, x->case_id) != 0)
		return (0);
	if ((o = entry(x, r->msg_id, "sent", r->to, r->kind, r->response,
	    r->has_reply_to, r->reply_to)) == NULL)
		return (FERRY_ENOMEM);
	json_object_set_new(o, "state", json_string(astore_state_name(
	    r->state)));
	t = json_object();
	put_time(t, "queued", r->t_queued);
	put_time(t, "accepted", r->t_accepted);
	put_time(t, "delivered", r->t_delivered);
	put_time(t, "failed", r->t_failed);
	json_object_set_new(o, "times", t);
	json_object_set_new(o, "t_ms", json_integer((json_int_t)r->t_queued));
	if (r->state == ASTORE_FAILED)
		json_object_set_new(o, "failure", json_pack("{s:s, s:s}",
		    "code", ferry_errname(-(int)r->code), "reason",
		    r->reason));
	return (finish(x, o, r->msg_id));
}

static int
exp_in(void *ctx, const struct astore_in *r)
{
	struct exp *x = ctx;
	json_t *o, *t;

	if (strcmp(r->case_id, x->case_id) != 0)
		return (0);
	if ((o = entry(x, r->msg_id, "received", r->from, r->kind,
	    r->response, r->has_reply_to, r->reply_to)) == NULL)
		return (FERRY_ENOMEM);
	put_str(o, "referral_type", r->referral_type);
	put_str(o, "urgency", r->urgency);
	json_object_set_new(o, "state", json_string(r->t_acked != 0 ?
	    "received, read" : "received, unread"));
	t = json_object();
	put_time(t, "received", r->t_received);
	put_time(t, "read", r->t_acked);
	json_object_set_new(o, "times", t);
	json_object_set_new(o, "t_ms", json_integer((json_int_t)
	    r->t_received));
	return (finish(x, o, r->msg_id));
}

static int
cmp_t(const void *p, const void *q)
{
	json_int_t a = json_integer_value(json_object_get(*(json_t *const *)p,
	    "t_ms"));
	json_int_t b = json_integer_value(json_object_get(*(json_t *const *)q,
	    "t_ms"));

	return (a < b ? -1 : a > b);
}

/*
 * ${msgs} oldest first (the sort key t_ms dropped), each with "replies":
 * the ids of the messages of the export that answer it.
 */
static json_t *
thread(json_t *msgs)
{
	size_t n = json_array_size(msgs), i, j;
	const char *id, *rt;
	json_t **v, *out, *rep;

	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return (NULL);
	for (i = 0; i < n; i++)
		v[i] = json_array_get(msgs, i);
	qsort(v, n, sizeof(*v), cmp_t);
	out = json_array();
	for (i = 0; i < n && out != NULL; i++) {
		id = json_string_value(json_object_get(v[i], "msg_id"));
		rep = json_array();
		for (j = 0; j < n; j++)
			if ((rt = json_string_value(json_object_get(v[j],
			    "in_reply_to"))) != NULL && strcmp(rt, id) == 0)
				json_array_append_new(rep, json_string(
				    json_string_value(json_object_get(v[j],
				    "msg_id"))));
		json_object_set_new(v[i], "replies", rep);
		json_object_del(v[i], "t_ms");
		json_array_append(out, v[i]);
	}
	free(v);
	return (out);
}

int
agentd_export(struct agentd *a, const char *case_id, json_t **out,
    char *err, size_t errlen)
{
	struct exp x;
	json_t *msgs, *o;
	char t[40];
	int rc;

	*out = NULL;
	memset(&x, 0, sizeof(x));
	x.a = a;
	x.case_id = case_id;
	if ((x.msgs = json_array()) == NULL)
		return (FERRY_ENOMEM);
	if ((rc = astore_foreach_out(a->store, exp_out, &x)) != 0 ||
	    (rc = astore_foreach_in(a->store, exp_in, &x)) != 0) {
		json_decref(x.msgs);
		agentd_seterr(err, errlen, "reading the store: %s",
		    ferry_strerror(rc));
		return (rc);
	}
	if (json_array_size(x.msgs) == 0) {
		json_decref(x.msgs);
		agentd_seterr(err, errlen, "no message of case %s in this "
		    "agency's store (sent or received; the case reference is "
		    "the one in the referral, as `ferry inbox` and `ferry "
		    "outbox` show it)", case_id);
		return (FERRY_ENOENT);
	}
	msgs = thread(x.msgs);
	json_decref(x.msgs);
	ferry_utc_s(t, sizeof(t), ferry_now_ms());
	if (msgs == NULL || (o = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, "
	    "s:I, s:o}", "format", "ferry-subject-access/1", "agency", "id",
	    a->me->id, "name", a->me->name, "case_id", case_id,
	    "exported_at", t, "roster_version",
	    (json_int_t)a->roster->version, "messages", msgs)) == NULL)
		return (FERRY_ENOMEM);
	*out = o;
	return (0);
}
