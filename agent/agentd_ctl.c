/*
 * agentd_ctl.c: the control requests of the `ferry` CLI (docs/agent.md,
 * "Control socket").  A request is one JSON object {"cmd": ...} in the
 * first frame, with the document in an optional second frame; the answer
 * is one JSON object {"ok": true, ...} or {"ok": false, "code":
 * "FERRY_E...", "error": "..."}, with the referral JSON in an optional
 * second frame (show).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "agentd.h"
#include "agentd_int.h"
#include "alog.h"
#include "backlog.h"
#include "pending.h"
#include "referral.h"

static json_t *
fail(int code, const char *msg)
{

	return (json_pack("{s:b, s:s, s:s}", "ok", 0, "code",
	    ferry_errname(code), "error", msg ? msg : ferry_strerror(code)));
}

static json_t *
ok_obj(void)
{

	return (json_pack("{s:b}", "ok", 1));
}

static void
hexs(char *out, const uint8_t *b, size_t n)
{

	ferry_hex(out, b, n);
}

static int
get_id(json_t *req, const char *key, uint8_t id[FERRY_MSGID_LEN])
{
	const char *s;

	if ((s = json_string_value(json_object_get(req, key))) == NULL ||
	    strlen(s) != 2 * FERRY_MSGID_LEN)
		return (FERRY_EINVAL);
	return (ferry_unhex(id, FERRY_MSGID_LEN, s));
}

static json_t *
out_json(const struct astore_out *r)
{
	char id[33], h[65], rt[33];
	json_t *o;

	hexs(id, r->msg_id, FERRY_MSGID_LEN);
	hexs(h, r->env_hash, FERRY_HASH_LEN);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, "
	    "s:s, s:s, s:I}",
	    "direction", "out", "msg_id", id, "to", r->to, "state",
	    astore_state_name(r->state), "env_hash", h,
	    "queued_ms", (json_int_t)r->t_queued,
	    "accepted_ms", (json_int_t)r->t_accepted,
	    "delivered_ms", (json_int_t)r->t_delivered,
	    "failed_ms", (json_int_t)r->t_failed,
	    "case_id", r->case_id, "kind", r->kind,
	    "response", r->response,
	    "roster_version", (json_int_t)r->roster_version);
	if (o == NULL)
		return (NULL);
	if (r->state == ASTORE_ACCEPTED || r->state == ASTORE_DELIVERED)
		json_object_set_new(o, "relay_log_index",
		    json_integer((json_int_t)r->relay_index));
	if (r->state == ASTORE_DELIVERED) {
		json_object_set_new(o, "recipient_log_index",
		    json_integer((json_int_t)r->rcpt_index));
		json_object_set_new(o, "receipt_verified", json_true());
	}
	/* Also once delivered after it was reported failed (a receipt
	 * after the NACK or expiry): the failure stays on the record. */
	if (r->state == ASTORE_FAILED || r->t_failed != 0) {
		json_object_set_new(o, "code",
		    json_string(ferry_errname(-(int)r->code)));
		json_object_set_new(o, "reason", json_string(r->reason));
	}
	if (r->has_reply_to) {
		hexs(rt, r->reply_to, FERRY_MSGID_LEN);
		json_object_set_new(o, "in_reply_to", json_string(rt));
	}
	if (r->spool_name[0] != '\0')
		json_object_set_new(o, "spool_file", json_string(r->spool_name));
	return (o);
}

static json_t *
in_json(const struct astore_in *r)
{
	char id[33], h[65], rt[33];
	json_t *o;

	hexs(id, r->msg_id, FERRY_MSGID_LEN);
	hexs(h, r->env_hash, FERRY_HASH_LEN);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}",
	    "direction", "in", "msg_id", id, "from", r->from, "state",
	    "received", "env_hash", h,
	    "received_ms", (json_int_t)r->t_received,
	    "log_index", (json_int_t)r->log_index,
	    "case_id", r->case_id, "kind", r->kind, "response", r->response);
	if (o == NULL)
		return (NULL);
	json_object_set_new(o, "referral_type", json_string(r->referral_type));
	json_object_set_new(o, "urgency", json_string(r->urgency));
	json_object_set_new(o, "acked_ms", json_integer((json_int_t)r->t_acked));
	if (r->has_reply_to) {
		hexs(rt, r->reply_to, FERRY_MSGID_LEN);
		json_object_set_new(o, "in_reply_to", json_string(rt));
	}
	return (o);
}

struct listing {
	struct agentd *a;
	json_t *arr;
};

static void add_erased(struct agentd *, json_t *,
    const uint8_t[FERRY_MSGID_LEN]);

static int
add_out(void *ctx, const struct astore_out *r)
{
	struct listing *l = ctx;
	const struct astore_out *d;
	json_t *o;

	/* A custody record not committed yet (agentd_defer.c): shown. */
	if (r->state == ASTORE_QUEUED && (d = agentd_defer_find(l->a,
	    r->msg_id)) != NULL)
		r = d;
	if ((o = out_json(r)) == NULL)
		return (FERRY_ENOMEM);
	add_erased(l->a, o, r->msg_id);
	return (json_array_append_new(l->arr, o) != 0 ? FERRY_ENOMEM : 0);
}

static int
add_in(void *ctx, const struct astore_in *r)
{
	struct listing *l = ctx;
	json_t *o;

	if ((o = in_json(r)) == NULL)
		return (FERRY_ENOMEM);
	add_erased(l->a, o, r->msg_id);
	return (json_array_append_new(l->arr, o) != 0 ? FERRY_ENOMEM : 0);
}

/* Sort listings by time (queued or received), oldest first. */
static json_int_t
tkey(json_t *o)
{
	json_t *t;

	if ((t = json_object_get(o, "queued_ms")) == NULL)
		t = json_object_get(o, "received_ms");
	return (json_integer_value(t));
}

static int
cmp_time(const void *x, const void *y)
{
	json_int_t a = tkey(*(json_t *const *)x), b = tkey(*(json_t *const *)y);

	return (a < b ? -1 : a > b);
}

static json_t *
sorted(json_t *arr)
{
	size_t n = json_array_size(arr), i;
	json_t **v, *out;

	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return (arr);
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp_time);
	out = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(out, v[i]);
	free(v);
	json_decref(arr);
	return (out);
}

static json_t *
do_list(struct agentd *a, int in)
{
	struct listing l;
	json_t *arr, *o;
	int rc;

	if ((arr = json_array()) == NULL)
		return (NULL);
	l.a = a;
	l.arr = arr;
	rc = in ? astore_foreach_in(a->store, add_in, &l) :
	    astore_foreach_out(a->store, add_out, &l);
	if (rc != 0) {
		json_decref(arr);
		return (fail(rc, NULL));
	}
	o = ok_obj();
	json_object_set_new(o, "messages", sorted(arr));
	return (o);
}

/*
 * The client's request id (optional "request_id": 64 hex digits, which
 * the ferry CLI derives from the request and the document, so the same
 * command run again carries the same one) as a key of the store's index
 * (shared with the spool, domain-separated): SHA-256("ferry-ctl-request/
 * v1" 0 to 0 request_id).  1 with ${key} set, 0 if the request has none,
 * FERRY_EINVAL if it is malformed.
 */
static int
request_key(json_t *req, const char *to, uint8_t key[32])
{
	static const char tag[] = "ferry-ctl-request/v1";
	crypto_hash_sha256_state st;
	const char *rid;
	uint8_t raw[32];

	if ((rid = json_string_value(json_object_get(req, "request_id"))) ==
	    NULL)
		return (json_object_get(req, "request_id") == NULL ? 0 :
		    FERRY_EINVAL);
	if (strlen(rid) != 64 || ferry_unhex(raw, 32, rid) != 0)
		return (FERRY_EINVAL);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)tag, sizeof(tag));
	crypto_hash_sha256_update(&st, (const uint8_t *)to, strlen(to) + 1);
	crypto_hash_sha256_update(&st, (const uint8_t *)rid, 64);
	crypto_hash_sha256_final(&st, key);
	return (1);
}

/*
 * The request key ${key} bound to document ${doc} into ${out}, returned:
 * SHA-256("ferry-ctl-request-doc/v1" 0 key SHA-256(doc)).  The same id
 * with another document is a mistake of the caller's, refused (it was
 * answered "duplicate" and the new referral dropped).
 */
static const uint8_t *
doc_key(const uint8_t key[32], const char *doc, size_t doclen,
    uint8_t out[32])
{
	static const char tag[] = "ferry-ctl-request-doc/v1";
	crypto_hash_sha256_state st;
	uint8_t dh[32];

	crypto_hash_sha256(dh, (const uint8_t *)doc, doclen);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)tag, sizeof(tag));
	crypto_hash_sha256_update(&st, key, 32);
	crypto_hash_sha256_update(&st, dh, 32);
	crypto_hash_sha256_final(&st, out);
	return (out);
}

/*
 * A send or reply request on its way to a group commit: the submission,
 * its idempotency key, and what it owns.  When the answer is known before
 * the commit (a malformed request), it is in ${early}.
 */
struct ctl_pend {
	struct agentd_sub sb;
	uint8_t key[32];
	uint8_t dkey[32];		/* key bound to the document */
	char to[FERRY_ID_MAX + 1];
	char *doc;			/* reply: the response document */
	json_t *early;
};

/*
 * Fill ${p} for sending ${doc} to ${to}, once per request id: a request
 * carrying one already stored is answered with that message's id
 * ("duplicate": true) and nothing is sent again (agentd_submit_batch), so
 * a CLI retried after a timeout never sends a referral twice.
 */
static void
pend_fill(json_t *req, const char *to, const char *doc, size_t doclen,
    struct ctl_pend *p)
{
	int has;

	if ((has = request_key(req, to, p->key)) < 0) {
		p->early = fail(FERRY_EINVAL, "request_id: not 64 hex digits");
		return;
	}
	snprintf(p->to, sizeof(p->to), "%s", to);
	p->sb.to = p->to;
	p->sb.json = doc;
	p->sb.len = doclen;
	p->sb.spool_key = has ? p->key : NULL;
	p->sb.doc_key = has ? doc_key(p->key, doc, doclen, p->dkey) : NULL;
}

/* The answer to ${p} after agentd_submit_batch; frees what ${p} owns. */
static json_t *
pend_answer(struct ctl_pend *p)
{
	char hx[33];
	json_t *o;

	free(p->doc);
	p->doc = NULL;
	if (p->early != NULL)
		return (p->early);
	if (p->sb.rc != 0)
		return (fail(p->sb.rc, p->sb.err[0] ? p->sb.err : NULL));
	hexs(hx, p->sb.id, FERRY_MSGID_LEN);
	o = ok_obj();
	json_object_set_new(o, "msg_id", json_string(hx));
	if (p->sb.dup) {
		alog(ALOG_INFO, "send-again", "msg=%s to=%s: the same request "
		    "again (a retry): its message id returned, nothing sent "
		    "twice", hx, p->to);
		json_object_set_new(o, "duplicate", json_true());
	}
	return (o);
}

static void
prep_send(json_t *req, const uint8_t *doc, size_t doclen,
    struct ctl_pend *p)
{
	const char *to;

	if ((to = json_string_value(json_object_get(req, "to"))) == NULL)
		p->early = fail(FERRY_EINVAL, "request: \"to\" missing");
	else if (doc == NULL)
		p->early = fail(FERRY_EINVAL, "request: document frame "
		    "missing");
	else
		pend_fill(req, to, (const char *)doc, doclen, p);
}

/* reply: build a response document to a received message, to send. */
static void
prep_reply(struct agentd *a, json_t *req, struct ctl_pend *p)
{
	struct referral_party who;
	struct astore_in in;
	uint8_t id[FERRY_MSGID_LEN];
	char err[AGENTD_ERR_MAX];
	const char *resp;
	int rc;

	if (get_id(req, "msg_id", id) != 0) {
		p->early = fail(FERRY_EINVAL, "msg_id: not a message id");
		return;
	}
	if ((resp = json_string_value(json_object_get(req, "response"))) ==
	    NULL) {
		p->early = fail(FERRY_EINVAL, "response: missing");
		return;
	}
	if ((rc = astore_get_in(a->store, id, &in)) != 0) {
		p->early = fail(rc, "msg_id: no such received message");
		return;
	}
	astore_in_clear(&in);
	/* Only the thread the schema describes: no accepting a response. */
	if ((rc = referral_answer_check(in.kind, in.response, resp, err,
	    sizeof(err))) != 0) {
		p->early = fail(rc, err);
		return;
	}
	memset(&who, 0, sizeof(who));
	who.name = json_string_value(json_object_get(req, "name"));
	who.organisation = json_string_value(json_object_get(req,
	    "organisation"));
	if (who.name == NULL)
		who.name = a->me->name[0] ? a->me->name : a->me->id;
	if (who.organisation == NULL)
		who.organisation = a->me->name[0] ? a->me->name : a->me->id;
	who.role = json_string_value(json_object_get(req, "role"));
	who.phone = json_string_value(json_object_get(req, "phone"));
	who.email = json_string_value(json_object_get(req, "email"));
	err[0] = '\0';
	if ((rc = referral_response_json(in.case_id, id, resp,
	    json_string_value(json_object_get(req, "reason")),
	    json_string_value(json_object_get(req, "narrative")), &who,
	    &p->doc, err, sizeof(err))) != 0) {
		p->early = fail(rc, err[0] ? err : NULL);
		return;
	}
	pend_fill(req, in.from, p->doc, strlen(p->doc), p);
}

/* Submit the pending requests ${p}[0..n-1] in one group commit. */
static void
pend_submit(struct agentd *a, struct ctl_pend **p, size_t n)
{
	struct agentd_sub **sb;
	size_t i, k = 0;

	if ((sb = calloc(n + 1, sizeof(*sb))) == NULL) {
		for (i = 0; i < n; i++)
			if (p[i]->early == NULL)
				p[i]->early = fail(FERRY_ENOMEM, NULL);
		return;
	}
	for (i = 0; i < n; i++)
		if (p[i]->early == NULL)
			sb[k++] = &p[i]->sb;
	if (k > 0)
		agentd_submit_batch(a, sb, k);
	free(sb);
}

/*
 * Into show's answer ${o}: the authenticated sender of received message
 * ${id} (the agency whose key signed it: what Ferry vouches for) with
 * its roster name, and whether the organisation the document names
 * (referrer.organisation, or responder.organisation in a response)
 * matches it, by id or by name, ignoring case.  The document's
 * organisation is whatever the sender typed: a mismatch is flagged, not
 * refused (issue 13).
 */
static void
show_sender(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN],
    const char *doc, json_t *o)
{
	struct astore_in in;
	const struct roster_agency *ag;
	const char *org = NULL, *name;
	json_t *d;
	json_error_t jerr;

	if (astore_get_in(a->store, id, &in) != 0)
		return;
	ag = roster_find(a->roster, in.from);
	name = ag != NULL ? ag->name : "";
	json_object_set_new(o, "from", json_string(in.from));
	json_object_set_new(o, "from_name", json_string(name));
	if ((d = json_loads(doc, 0, &jerr)) != NULL) {
		org = json_string_value(json_object_get(json_object_get(d,
		    "referrer"), "organisation"));
		if (org == NULL)
			org = json_string_value(json_object_get(
			    json_object_get(d, "responder"), "organisation"));
		if (org != NULL) {
			json_object_set_new(o, "organisation",
			    json_string(org));
			json_object_set_new(o, "organisation_matches",
			    json_boolean(strcasecmp(org, in.from) == 0 ||
			    (name[0] != '\0' && strcasecmp(org, name) == 0)));
		}
		json_decref(d);
	}
	astore_in_clear(&in);
}

/* The erasure of ${id} as JSON, or NULL if it is not erased. */
static json_t *
erased_json(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN])
{
	struct astore_erased er;

	if (astore_get_erased(a->store, id, &er) != 0)
		return (NULL);
	return (json_pack("{s:I, s:s, s:s, s:s}", "erased_ms",
	    (json_int_t)er.t_erased, "by", er.reason == LOG_ERASE_RETENTION ?
	    "retention" : "request", "ref", er.ref, "rule", er.rule));
}

/* Add "erased" to listing entry ${o} of ${id} when it is erased. */
static void
add_erased(struct agentd *a, json_t *o, const uint8_t id[FERRY_MSGID_LEN])
{
	json_t *e;

	if (o != NULL && (e = erased_json(a, id)) != NULL)
		json_object_set_new(o, "erased", e);
}

/*
 * A request's reference: an operator's reference number, kept in the
 * store (never in the log): letters, digits and ". / _ -", so that no
 * name or free text goes in.
 */
static int
ref_ok(const char *r)
{
	size_t i, n = strlen(r);

	if (n == 0 || n > ASTORE_REF_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= 'A' &&
		    r[i] <= 'Z') || (r[i] >= '0' && r[i] <= '9') ||
		    strchr("./_-", r[i]) != NULL))
			return (0);
	return (1);
}

/*
 * After an erasure: the store compacted at once (agentd_compact), so the
 * answer says the erased copies are gone from the file, or why not yet
 * ("compacted": false, "compact_error").  ${o} is returned.
 */
static json_t *
compacted(struct agentd *a, json_t *o)
{
	char cerr[AGENTD_ERR_MAX];
	int rc;

	if (!a->compact_due)
		return (o);
	cerr[0] = '\0';
	rc = agentd_compact(a, cerr, sizeof(cerr));
	json_object_set_new(o, "compacted", json_boolean(rc == 0));
	if (rc != 0)
		json_object_set_new(o, "compact_error", json_string(cerr));
	return (o);
}

/*
 * erase: {"msg_id": ID} | {"case": CASE} | {"before_ms": MS}, optional
 * "ref": the matching messages erased by request (agentd_erase_many: up
 * to 128 in one commit).
 */
static json_t *
do_erase(struct agentd *a, json_t *req)
{
	struct agentd_erase_sel sel;
	uint8_t id[FERRY_MSGID_LEN];
	char err[AGENTD_ERR_MAX], hx[33];
	const char *ref, *cs;
	json_t *bm, *done, *o;
	uint8_t *ok = NULL;
	size_t i, nf, nu;
	int rc, first;

	ref = json_string_value(json_object_get(req, "ref"));
	if (json_object_get(req, "ref") != NULL && (ref == NULL ||
	    !ref_ok(ref)))
		return (fail(FERRY_EINVAL, "ref: a reference number of 1 to "
		    "64 letters, digits and . / _ - (no names: it is "
		    "kept with the erasure record)"));
	memset(&sel, 0, sizeof(sel));
	cs = json_string_value(json_object_get(req, "case"));
	bm = json_object_get(req, "before_ms");
	if (json_object_get(req, "msg_id") != NULL) {
		if (get_id(req, "msg_id", id) != 0)
			return (fail(FERRY_EINVAL, "msg_id: not a message id"));
		err[0] = '\0';
		if ((rc = agentd_erase(a, id, LOG_ERASE_REQUEST, ref, NULL,
		    err, sizeof(err))) != 0)
			return (fail(rc, err[0] ? err : NULL));
		hexs(hx, id, FERRY_MSGID_LEN);
		o = ok_obj();
		json_object_set_new(o, "erased", json_pack("[s]", hx));
		return (compacted(a, o));
	}
	if ((cs == NULL || cs[0] == '\0') && (!json_is_integer(bm) ||
	    json_integer_value(bm) <= 0))
		return (fail(FERRY_EINVAL, "request: give msg_id, case or "
		    "before_ms"));
	if ((rc = agentd_erase_select(a, cs, bm != NULL ?
	    (uint64_t)json_integer_value(bm) : 0, &sel)) != 0)
		return (fail(rc, NULL));
	if (sel.n > 0 && (ok = malloc(sel.n)) == NULL) {
		agentd_erase_sel_free(&sel);
		return (fail(FERRY_ENOMEM, NULL));
	}
	err[0] = '\0';
	first = agentd_erase_many(a, sel.p, sel.n, LOG_ERASE_REQUEST, ref, ok,
	    err, sizeof(err));
	done = json_array();
	for (i = 0; i < sel.n; i++) {
		if (!ok[i])
			continue;
		hexs(hx, sel.p[i].id, FERRY_MSGID_LEN);
		json_array_append_new(done, json_string(hx));
	}
	free(ok);
	/* Spool files of the case (or of before then) refused before they
	 * became messages: no record, same data. */
	nf = agentd_erase_failed(a, cs != NULL && cs[0] != '\0' ? cs : NULL,
	    cs != NULL && cs[0] != '\0' ? 0 : (uint64_t)json_integer_value(bm),
	    NULL, 0, 0, &nu);
	o = first != 0 ? fail(first, err) : ok_obj();
	json_object_set_new(o, "failed_files_erased", json_integer(
	    (json_int_t)nf));
	if (nu > 0)
		json_object_set_new(o, "failed_files_unread", json_integer(
		    (json_int_t)nu));
	json_object_set_new(o, "erased", done);
	json_object_set_new(o, "already_erased",
	    json_integer((json_int_t)sel.already));
	json_object_set_new(o, "in_flight",
	    json_integer((json_int_t)sel.in_flight));
	agentd_erase_sel_free(&sel);
	return (compacted(a, o));
}

static json_t *
do_show(struct agentd *a, json_t *req, char **body, size_t *bodylen)
{
	uint8_t id[FERRY_MSGID_LEN];
	char dir, *json;
	json_t *o, *e;
	int rc;

	if (get_id(req, "msg_id", id) != 0)
		return (fail(FERRY_EINVAL, "msg_id: not a message id"));
	if ((e = erased_json(a, id)) != NULL) {
		o = ok_obj();
		json_object_set_new(o, "erased", e);
		return (o);
	}
	if ((rc = agentd_content(a, id, &dir, &json)) != 0)
		return (fail(rc, rc == FERRY_ENOENT ? "no such message" :
		    NULL));
	o = ok_obj();
	json_object_set_new(o, "direction", json_string(dir == 'i' ? "in" :
	    "out"));
	if (dir == 'i')
		show_sender(a, id, json, o);
	*body = json;
	*bodylen = strlen(json);
	return (o);
}

/* export: {"case": CASE}: the case's messages and documents (agentd_export). */
static json_t *
do_export(struct agentd *a, json_t *req)
{
	char err[AGENTD_ERR_MAX];
	const char *cs;
	json_t *o, *x;
	int rc;

	cs = json_string_value(json_object_get(req, "case"));
	if (cs == NULL || cs[0] == '\0')
		return (fail(FERRY_EINVAL, "case: missing (the case reference "
		    "to export)"));
	err[0] = '\0';
	if ((rc = agentd_export(a, cs, &x, err, sizeof(err))) != 0)
		return (fail(rc, err[0] ? err : NULL));
	/* Who exported what is the operator's record; the case reference
	 * stays out of the log, as for erase. */
	alog(ALOG_INFO, "exported", "messages=%zu",
	    json_array_size(json_object_get(x, "messages")));
	o = ok_obj();
	json_object_set_new(o, "export", x);
	return (o);
}

/* ack: mark a received message read (ferry ack), durably. */
static json_t *
do_ack(struct agentd *a, json_t *req)
{
	uint8_t id[FERRY_MSGID_LEN];
	char hx[33];
	int rc;

	if (get_id(req, "msg_id", id) != 0)
		return (fail(FERRY_EINVAL, "msg_id: not a message id (32 "
		    "lowercase hex digits)"));
	if ((rc = astore_ack_in(a->store, id, ferry_now_ms())) != 0)
		return (fail(rc, rc == FERRY_ENOENT ? "no such message in the "
		    "inbox (ferry inbox lists them)" : NULL));
	hexs(hx, id, FERRY_MSGID_LEN);
	alog(ALOG_INFO, "acked", "msg=%s", hx);
	return (ok_obj());
}

/*
 * Our undelivered messages per recipient (backlog.h: kept in memory):
 * the bound and the largest few, each with its oldest message's age.
 */
static json_t *
backlog_json(struct agentd *a, uint64_t now)
{
	struct backlog_row rows[AGENTD_BACKLOG_TOP];
	json_t *arr;
	size_t i, n;

	arr = json_array();
	n = backlog_top(a->backlog, rows, AGENTD_BACKLOG_TOP);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I}",
		    "to", rows[i].to, "messages", (json_int_t)rows[i].n,
		    "oldest_ms", (json_int_t)rows[i].oldest_ms,
		    "oldest_age_s", (json_int_t)(rows[i].oldest_ms != 0 &&
		    now > rows[i].oldest_ms ? (now - rows[i].oldest_ms) / 1000 :
		    0)));
	return (json_pack("{s:I, s:o}", "max_backlog",
	    (json_int_t)a->conf.max_backlog, "top", arr));
}

/* The links summed up for the "agent" and "link" objects of status. */
struct link_sum {
	const char *endpoint;		/* the first connected, else first */
	int refused;			/* any refused our key */
	uint64_t connected_since, last_rx, reconnects, since;
	const struct agentd_link *err;	/* the latest error, or NULL */
};

static void
link_summary(const struct agentd *a, struct link_sum *s)
{
	const struct agentd_link *l, *first = NULL, *up = NULL;
	size_t i;

	memset(s, 0, sizeof(*s));
	s->endpoint = "";
	for (i = 0; i < a->nlinks; i++) {
		l = &a->links[i];
		if (!l->listed)
			continue;
		if (first == NULL || l->order < first->order)
			first = l;
		if (l->connected && (up == NULL || l->order < up->order))
			up = l;
		s->refused |= l->refused;
		s->reconnects += l->reconnects;
		if (l->last_rx > s->last_rx)
			s->last_rx = l->last_rx;
		if (l->last_error[0] != '\0' && (s->err == NULL ||
		    l->last_error_ms > s->err->last_error_ms))
			s->err = l;
		/* Not connected: since the last link went down. */
		if (!a->connected && l->link_since > s->since)
			s->since = l->link_since;
	}
	if (up != NULL) {
		s->endpoint = up->endpoint;
		s->connected_since = up->connected_since;
		s->since = up->link_since;
	} else if (first != NULL)
		s->endpoint = first->endpoint;
}

static const char *
link_state_name(const struct agentd_link *l)
{

	return (l->connected ? "connected" : l->refused ? "refused" :
	    "connecting");
}

/* status's "relays": one object per relay of the roster, in its order. */
static json_t *
relays_json(struct agentd *a)
{
	const struct agentd_link *l;
	char since[32];
	json_t *arr = json_array(), *o;
	size_t i, k;

	for (k = 0; k < a->roster->nrelays; k++) {
		for (i = 0; i < a->nlinks; i++)
			if (a->links[i].listed && a->links[i].order == k)
				break;
		if (i == a->nlinks)
			continue;
		l = &a->links[i];
		ferry_utc_s(since, sizeof(since), l->link_since);
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s}",
		    "id", l->id, "endpoint", l->endpoint,
		    "state", link_state_name(l), "since", since,
		    "since_ms", (json_int_t)l->link_since,
		    "custody", (json_int_t)pending_custody(a->pend, (int)i),
		    "reconnects", (json_int_t)l->reconnects,
		    "last_error", l->last_error, "check", l->last_check);
		if (o == NULL)
			continue;
		json_object_set_new(o, "rtt_ms", l->has_rtt ?
		    json_integer((json_int_t)l->rtt_ms) : json_null());
		json_array_append_new(arr, o);
	}
	return (arr);
}

/*
 * status MSGID's "relay": the relay holding (or that held) sent message
 * ${id}: its link while pending, else the relay of its last LOG_ROUTE
 * (several relays), else the relay that signed its latest ACCEPTED;
 * absent if none is known.
 */
static void
msg_relay(struct agentd *a, json_t *m, const uint8_t id[FERRY_MSGID_LEN])
{
	const struct pending_msg *p;
	struct log_entry le;
	uint64_t idx;

	if ((p = pending_find(a->pend, id)) != NULL && p->link >= 0 &&
	    (size_t)p->link < a->nlinks) {
		json_object_set_new(m, "relay",
		    json_string(a->links[p->link].id));
		return;
	}
	if ((log_find_msg_last(a->log, id, LOG_ROUTE, &idx) == 0 ||
	    log_find_msg_last(a->log, id, LOG_ACCEPTED, &idx) == 0) &&
	    log_get(a->log, idx, &le) == 0) {
		/* ROUTE: to = the relay; ACCEPTED: from = the relay. */
		json_object_set_new(m, "relay", json_string(le.kind ==
		    LOG_ROUTE ? le.to : le.from));
		log_entry_clear(&le);
	}
}

static json_t *
do_status(struct agentd *a, json_t *req)
{
	struct astore_out o;
	struct astore_in in;
	uint8_t id[FERRY_MSGID_LEN];
	struct link_sum ls;
	uint64_t now, kexp;
	json_t *r, *m;
	int rc;

	if (json_object_get(req, "msg_id") != NULL) {
		if (get_id(req, "msg_id", id) != 0)
			return (fail(FERRY_EINVAL, "msg_id: not a message id"));
		/* A custody record not committed yet (agentd_defer.c)
		 * is shown as it will be: the message is accepted. */
		if ((rc = agentd_out_get(a, id, &o)) == 0) {
			m = out_json(&o);
			msg_relay(a, m, id);
		} else if (rc == FERRY_ENOENT &&
		    (rc = astore_get_in(a->store, id, &in)) == 0) {
			m = in_json(&in);
			astore_in_clear(&in);
		} else
			return (fail(rc, rc == FERRY_ENOENT ?
			    "no such message" : NULL));
		add_erased(a, m, id);
		r = ok_obj();
		json_object_set_new(r, "message", m);
		return (r);
	}
	/* Every value is kept in memory: O(1), however big the store. */
	now = ferry_now_ms();
	kexp = agentd_key_expires(a);
	link_summary(a, &ls);
	r = ok_obj();
	json_object_set_new(r, "agent", json_pack("{s:s, s:s, s:b, s:b, s:b, "
	    "s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "id", a->me->id, "relay", ls.endpoint,
	    "connected", a->connected, "relay_refused_key", ls.refused,
	    "listed", a->listed,
	    "roster_expired", agentd_roster_expired(a, now),
	    "roster_expires_ms", (json_int_t)a->roster->expires,
	    "roster_expires_in_s",
	    (json_int_t)agentd_secs_left(a->roster->expires, now),
	    "key_expires_ms", (json_int_t)kexp,
	    "key_expires_in_s", (json_int_t)agentd_secs_left(kexp, now),
	    "connected_since_ms", (json_int_t)ls.connected_since,
	    "last_rx_ms", (json_int_t)ls.last_rx,
	    "reconnects", (json_int_t)ls.reconnects,
	    "roster_version", (json_int_t)a->roster->version));
	/* Erased messages whose freed pages are still in the store's file
	 * (a compaction failed: agentd_compact said why; retried). */
	json_object_set_new(json_object_get(r, "agent"), "compact_due",
	    json_boolean(a->compact_due));
	json_object_set_new(json_object_get(r, "agent"), "log_behind",
	    json_boolean(a->log_behind));
	/* Why the link is as it is: since when, the last error, what to
	 * check (error and check are "" until an error happens).  With
	 * several relays: connected if any is; the last error of any. */
	json_object_set_new(r, "link", json_pack("{s:b, s:I, s:I, s:s, s:I, "
	    "s:s}",
	    "connected", a->connected,
	    "since_ms", (json_int_t)ls.since,
	    "for_s", (json_int_t)-agentd_secs_left(ls.since, now),
	    "last_error", ls.err != NULL ? ls.err->last_error : "",
	    "last_error_ms", (json_int_t)(ls.err != NULL ?
	    ls.err->last_error_ms : 0),
	    "check", ls.err != NULL ? ls.err->last_check : ""));
	json_object_set_new(r, "relays", relays_json(a));
	json_object_set_new(r, "queues", json_pack("{s:I, s:I, s:I, s:I, "
	    "s:I, s:I}",
	    "queued", (json_int_t)a->n_out[ASTORE_QUEUED],
	    "accepted", (json_int_t)a->n_out[ASTORE_ACCEPTED],
	    "delivered", (json_int_t)a->n_out[ASTORE_DELIVERED],
	    "failed", (json_int_t)a->n_out[ASTORE_FAILED],
	    "received", (json_int_t)a->n_in,
	    "held", (json_int_t)a->nheld));
	json_object_set_new(r, "counters", json_pack("{s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "sent", (json_int_t)a->n_sent,
	    "accepted", (json_int_t)a->n_accepted,
	    "delivered", (json_int_t)a->n_delivered,
	    "failed", (json_int_t)a->n_failed,
	    "received", (json_int_t)a->n_received,
	    "duplicates", (json_int_t)a->n_duplicates,
	    "refused", (json_int_t)a->n_refused,
	    "rosters", (json_int_t)a->n_rosters,
	    "asks", (json_int_t)a->n_asks,
	    "not_held", (json_int_t)a->n_not_held,
	    "failovers", (json_int_t)a->n_failovers,
	    "resends", (json_int_t)a->n_resends,
	    "held_key_not_loaded", (json_int_t)a->n_held,
	    "held_local_failure", (json_int_t)a->n_held_local,
	    "log_size", (json_int_t)log_size(a->log)));
	/* Synced commits of the agent's store since start: messages per
	 * commit = (sent + received + replies) / this (group commit). */
	json_object_set_new(json_object_get(r, "counters"), "synced_commits",
	    json_integer((json_int_t)agentd_commits(a)));
	json_object_set_new(json_object_get(r, "counters"),
	    "checkpoints_sent", json_integer((json_int_t)
	    a->n_checkpoints_sent));
	json_object_set_new(json_object_get(r, "counters"),
	    "relay_log_behind", json_integer((json_int_t)
	    a->n_relay_behind));
	/* fsync calls of the spool folders since start: per received
	 * group 2 per message (its two files) + 1 (inbox/), per outbox
	 * scan 1 per file (its .id) + 3 per recipient folder. */
	json_object_set_new(json_object_get(r, "counters"), "spool_fsyncs",
	    json_integer((json_int_t)a->n_spool_fsyncs));
	json_object_set_new(r, "backlog", backlog_json(a, now));
	return (r);
}

static json_t *
do_partners(struct agentd *a)
{
	const struct roster_agency *ag;
	char fp[IDENT_FP_LEN];
	json_t *arr, *o;
	size_t i;

	arr = json_array();
	for (i = 0; i < a->roster->nagencies; i++) {
		ag = &a->roster->agencies[i];
		roster_id_fingerprint(ag->id, ag->kind, ag->sign_pk, fp);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, "
		    "s:s}", "id", ag->id, "kind", ident_kind_name(ag->kind) ?
		    ident_kind_name(ag->kind) : "?", "name", ag->name,
		    "status", ag->status == ROSTER_ACTIVE ? "active" :
		    "revoked", "fingerprint", fp));
	}
	o = ok_obj();
	json_object_set_new(o, "roster_version",
	    json_integer((json_int_t)a->roster->version));
	json_object_set_new(o, "partners", arr);
	return (o);
}

/* Any request but send and reply. */
static json_t *
dispatch(struct agentd *a, json_t *req, const char *cmd, char **body,
    size_t *bodylen)
{

	if (cmd == NULL)
		return (fail(FERRY_EINVAL, "request: not a JSON object with "
		    "cmd"));
	if (strcmp(cmd, "inbox") == 0)
		return (do_list(a, 1));
	if (strcmp(cmd, "outbox") == 0)
		return (do_list(a, 0));
	if (strcmp(cmd, "show") == 0)
		return (do_show(a, req, body, bodylen));
	if (strcmp(cmd, "status") == 0)
		return (do_status(a, req));
	if (strcmp(cmd, "partners") == 0)
		return (do_partners(a));
	if (strcmp(cmd, "erase") == 0)
		return (do_erase(a, req));
	if (strcmp(cmd, "ack") == 0)
		return (do_ack(a, req));
	if (strcmp(cmd, "export") == 0)
		return (do_export(a, req));
	return (fail(FERRY_EINVAL, "request: unknown cmd"));
}

/* Answer ${m} with ${r} (consumed). */
static void
set_reply(struct agentd_ctl_msg *m, json_t *r)
{
	static const char nomem[] = "{\"ok\":false,\"code\":\"FERRY_ENOMEM\"}";

	m->reply = r != NULL ? json_dumps(r, JSON_COMPACT) : NULL;
	json_decref(r);
	if (m->reply == NULL && (m->reply = malloc(sizeof(nomem))) != NULL)
		memcpy(m->reply, nomem, sizeof(nomem));
	m->replylen = m->reply != NULL ? strlen(m->reply) : 0;
}

/* The cmd of request ${m} parsed into *${req}, or NULL. */
static const char *
parse_req(const struct agentd_ctl_msg *m, json_t **req)
{
	json_error_t jerr;

	if ((*req = json_loadb(m->req, m->reqlen, 0, &jerr)) == NULL ||
	    !json_is_object(*req))
		return (NULL);
	return (json_string_value(json_object_get(*req, "cmd")));
}

/* Commit the pending send/reply requests among ${m}[0..n-1] and answer them. */
static void
flush(struct agentd *a, struct agentd_ctl_msg *m, struct ctl_pend *pend,
    int *state, size_t n)
{
	struct ctl_pend **pp;
	size_t i, k = 0;

	if ((pp = calloc(n + 1, sizeof(*pp))) == NULL) {
		for (i = 0; i < n; i++)
			if (state[i] == 1 && pend[i].early == NULL)
				pend[i].early = fail(FERRY_ENOMEM, NULL);
	} else {
		for (i = 0; i < n; i++)
			if (state[i] == 1)
				pp[k++] = &pend[i];
		if (k > 0)
			pend_submit(a, pp, k);
		free(pp);
	}
	for (i = 0; i < n; i++)
		if (state[i] == 1) {
			set_reply(&m[i], pend_answer(&pend[i]));
			state[i] = 2;
		}
}

void
agentd_ctl_handle_many(struct agentd *a, struct agentd_ctl_msg *m, size_t n)
{
	struct ctl_pend *pend;
	json_t **reqs;
	const char *cmd;
	int *state;
	size_t i;

	pend = calloc(n + 1, sizeof(*pend));
	reqs = calloc(n + 1, sizeof(*reqs));
	state = calloc(n + 1, sizeof(*state));
	for (i = 0; i < n; i++) {
		m[i].reply = m[i].body = NULL;
		m[i].replylen = m[i].bodylen = 0;
	}
	if (pend == NULL || reqs == NULL || state == NULL) {
		for (i = 0; i < n; i++)
			set_reply(&m[i], fail(FERRY_ENOMEM, NULL));
		goto done;
	}
	/*
	 * In order: consecutive send and reply requests are stored in one
	 * group commit (agentd_submit_batch: one synced commit for all),
	 * then answered; any other request first commits and answers those
	 * before it, so answers keep the order of the requests.
	 */
	for (i = 0; i < n; i++) {
		if (a->store_lost) {
			/* A compaction lost the store: the loop stops next. */
			set_reply(&m[i], fail(FERRY_EIO, "the agent's store "
			    "could not be reopened after a compaction: the "
			    "agent stops; start it again"));
			state[i] = 2;
			continue;
		}
		cmd = parse_req(&m[i], &reqs[i]);
		if (cmd != NULL && strcmp(cmd, "send") == 0) {
			prep_send(reqs[i], m[i].doc, m[i].doclen, &pend[i]);
			state[i] = 1;
		} else if (cmd != NULL && strcmp(cmd, "reply") == 0) {
			prep_reply(a, reqs[i], &pend[i]);
			state[i] = 1;
		} else {
			flush(a, m, pend, state, i);
			set_reply(&m[i], dispatch(a, reqs[i], cmd, &m[i].body,
			    &m[i].bodylen));
			state[i] = 2;
		}
	}
	flush(a, m, pend, state, n);
done:
	if (reqs != NULL)
		for (i = 0; i < n; i++)
			json_decref(reqs[i]);
	free(reqs);
	free(pend);
	free(state);
}

void
agentd_ctl_handle(struct agentd *a, const char *reqs, size_t reqlen,
    const uint8_t *doc, size_t doclen, char **reply, size_t *replylen,
    char **body, size_t *bodylen)
{
	struct agentd_ctl_msg m;

	memset(&m, 0, sizeof(m));
	m.req = reqs;
	m.reqlen = reqlen;
	m.doc = doc;
	m.doclen = doclen;
	agentd_ctl_handle_many(a, &m, 1);
	*reply = m.reply;
	*replylen = m.replylen;
	*body = m.body;
	*bodylen = m.bodylen;
}
