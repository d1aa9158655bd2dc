/*
 * test_agentd.c: the agent core (agent/agentd.c) without sockets, its
 * outgoing path and the replies to it: two agents and a fake relay in one
 * process (tests/lib/tagentd.c), frames handed over by hand.  A message
 * sent is taken into the relay's custody (ACCEPTED, or ACCEPTED_P by
 * proof, logged whole), received (verified, decrypted, de-duplicated: the
 * same receipt again) and delivered (RECEIPT); forged answers are
 * ignored.  A NACK fails a message for good, or leaves it queued when
 * transient, and its reason cannot forge a line of our log; a receipt or
 * NACK from a recipient revoked since is still verified and acted on.
 * A receipt for a message reported failed is recorded and said (WARN
 * delivered-after-failed); one for a message not in our store is said
 * as a likely restore.
 * The sender rereads its own message; a reopened agent keeps its state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <sodium.h>

#include "../lib/harness.h"
#include "../lib/tagentd.h"
#include "../lib/tproof.h"
#include "agentd.h"
#include "agentd_int.h"
#include "envelope.h"
#include "pending.h"
#include "referral.h"
#include "roster.h"

TEST(send_path)
{
	struct astore_out o;
	struct env e;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16];

	CHECK((json = doc(&len)) != NULL);
	/* Refusals store nothing. */
	CHECK_EQ(agentd_submit(&A, "bravo", "{", 1, NULL, NULL, id, err,
	    sizeof(err)), FERRY_EJSON);
	CHECK_EQ(agentd_submit(&A, "nobody", json, len, NULL, NULL, id, err,
	    sizeof(err)), FERRY_ERECIPIENT);
	CHECK(strstr(err, "to: nobody") != NULL);
	CHECK_EQ(capA.n, 0);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, sent_id,
	    err, sizeof(err)), 0);
	free(json);
	CHECK_EQ(capA.n, 1);
	CHECK_EQ(cap_type(&capA, &e), ENV_MSG);
	CHECK(memcmp(e.id, sent_id, 16) == 0);
	sent_msg = capA.buf[0];
	sent_len = capA.len[0];
	capA.n = 0;
	env_hash(sent_msg, sent_len, sent_hash);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK(memcmp(o.env_hash, sent_hash, 32) == 0);
	CHECK_EQ(log_size(A.log), 1);
}

TEST(accepted)
{
	send_path();	/* the story so far, in this test's own agents */
	if (t_failed_now)
		return;
	struct astore_out o;
	uint8_t *b, badhash[32];
	size_t n;

	/* Signed by an agency, not the relay: ignored. */
	CHECK_EQ(relay_answer(bravo, ENV_ACCEPTED, sent_id, sent_hash, 0, &b,
	    &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	/* The relay's, but naming other bytes: ignored. */
	memcpy(badhash, sent_hash, 32);
	badhash[0] ^= 1;
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, sent_id, badhash, 0, &b,
	    &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	/* The real one. */
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, sent_id, sent_hash, 0, &b,
	    &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);	/* idempotent */
	free(b);
	CHECK_EQ(agentd_defer_flush(&A), 0);	/* custody committed */
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	CHECK_EQ(o.relay_index, 7);
	CHECK_EQ(log_size(A.log), 2);
}

/*
 * ${signer}'s ACCEPTED_P of (${id}, ${hash}), sent by alpha to bravo, as
 * the relay makes it (entry 1 of a batch of two, the first an unrelated
 * message); ${tamper}: its last path byte flipped.
 */
static int
accepted_p(struct ident *signer, const uint8_t id[16],
    const uint8_t hash[32], int tamper, uint8_t **out, size_t *len)
{
	uint8_t ids[2][16], hashes[2][32], *b[2] = { NULL, NULL };
	size_t l[2];
	int rc;

	memset(ids[0], 0x5a, 16);
	memset(hashes[0], 0x5b, 32);
	memcpy(ids[1], id, 16);
	memcpy(hashes[1], hash, 32);
	rc = tproof_receipts(signer, ENV_ACCEPTED_P, 2,
	    (const uint8_t (*)[16])ids, (const uint8_t (*)[32])hashes, "alpha",
	    "bravo", dir, b, l);
	free(b[0]);
	if (rc != 0) {
		free(b[1]);
		return (rc);
	}
	if (tamper)
		b[1][l[1] - 1] ^= 1;
	*out = b[1];
	*len = l[1];
	return (0);
}

/*
 * The relay's custody receipt by proof (ACCEPTED_P): one by an agency,
 * or with a tampered path, is ignored; the relay's own is taken (the
 * message ACCEPTED, its relay index kept) and logged whole as the
 * LOG_ACCEPTED entry's aux.
 */
TEST(accepted_by_proof)
{
	struct astore_out o;
	struct log_entry le;
	struct env e;
	uint64_t idx;
	uint8_t *b;
	size_t n;

	send_path();
	if (t_failed_now)
		return;
	CHECK_EQ(accepted_p(bravo, sent_id, sent_hash, 0, &b, &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK_EQ(accepted_p(relay, sent_id, sent_hash, 1, &b, &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK_EQ(accepted_p(relay, sent_id, sent_hash, 0, &b, &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	CHECK_EQ(agentd_defer_flush(&A), 0);	/* custody committed */
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	CHECK_EQ(o.relay_index, 1);
	CHECK_EQ(log_find_msg(A.log, sent_id, LOG_ACCEPTED, &idx), 0);
	CHECK_EQ(log_get(A.log, idx, &le), 0);
	CHECK(le.aux_len == n && memcmp(le.aux, b, n) == 0);
	CHECK_EQ(env_decode(le.aux, le.aux_len, 0, &e), 0);
	CHECK_EQ(e.type, ENV_ACCEPTED_P);
	log_entry_clear(&le);
	free(b);
}

TEST(receive_and_duplicate)
{
	struct astore_in in;
	struct env e;
	char dirc, *json;

	accepted();
	if (t_failed_now)
		return;
	CHECK_EQ(agentd_receive(&B, sent_msg, sent_len), 0);
	CHECK_EQ(capB.n, 1);
	CHECK_EQ(cap_type(&capB, &e), ENV_RECEIPT_P);
	CHECK(memcmp(e.msg_id, sent_id, 16) == 0);
	CHECK(memcmp(e.env_hash, sent_hash, 32) == 0);
	CHECK_EQ(env_verify_proof(&e, bravo->sign_pk, NULL), 0);
	CHECK(e.blob_len > 0);
	receipt = capB.buf[0];
	receipt_len = capB.len[0];
	capB.n = 0;
	CHECK_EQ(astore_get_in(B.store, sent_id, &in), 0);
	CHECK(strcmp(in.from, "alpha") == 0);
	astore_in_clear(&in);
	/* The same bytes again: the very same receipt, nothing new stored. */
	CHECK_EQ(agentd_receive(&B, sent_msg, sent_len), 0);
	CHECK_EQ(capB.n, 1);
	CHECK_EQ(capB.len[0], receipt_len);
	CHECK(memcmp(capB.buf[0], receipt, receipt_len) == 0);
	cap_clear(&capB);
	CHECK_EQ(B.n_received, 1);
	CHECK_EQ(B.n_duplicates, 1);
	/* The recipient reads it; so does the sender, from its own copy. */
	CHECK_EQ(agentd_content(&B, sent_id, &dirc, &json), 0);
	CHECK_EQ(dirc, 'i');
	CHECK(strstr(json, "ferry-referral/1") != NULL);
	free(json);
	CHECK_EQ(agentd_content(&A, sent_id, &dirc, &json), 0);
	CHECK_EQ(dirc, 'o');
	CHECK(strstr(json, "ferry-referral/1") != NULL);
	free(json);
}

TEST(receipt_delivers)
{
	struct astore_out o;
	uint8_t *forged;

	receive_and_duplicate();
	if (t_failed_now)
		return;
	/* A receipt whose bytes were altered does not verify: ignored. */
	CHECK((forged = malloc(receipt_len)) != NULL);
	memcpy(forged, receipt, receipt_len);
	forged[receipt_len - 1] ^= 1;
	CHECK_EQ(agentd_receive(&A, forged, receipt_len), 0);
	free(forged);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	/* The real one: delivered. */
	CHECK_EQ(agentd_receive(&A, receipt, receipt_len), 0);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	CHECK(o.t_delivered > 0);
	CHECK_EQ(A.n_delivered, 1);
	CHECK_EQ(pending_count(A.pend), 0);
	CHECK(pending_find(A.pend, sent_id) == NULL);
}

/*
 * The next 10-byte draw of randombytes_buf (the random part of an
 * envelope id, env_new_id_at) made ${chosen_rnd} when ${chosen_on}: a
 * sealed MSG whose id is one we pick (as a dishonest sender could).
 */
static int chosen_on;
static uint8_t chosen_rnd[10];

static void
chosen_buf(void *const buf, const size_t size)
{

	if (chosen_on && size == sizeof(chosen_rnd)) {
		memcpy(buf, chosen_rnd, sizeof(chosen_rnd));
		chosen_on = 0;
		return;
	}
	randombytes_sysrandom_implementation.buf(buf, size);
}

static uint32_t
chosen_random(void)
{

	return (randombytes_sysrandom_implementation.random());
}

static const char *
chosen_name(void)
{

	return ("chosen");
}

static struct randombytes_implementation chosen_impl = {
	chosen_name, chosen_random, NULL, NULL, chosen_buf, NULL
};

/* A MSG from bravo to alpha of the test referral, with message id ${id}
 * (NULL: a fresh one) into *${out}; 0, or -1 if the id came out other. */
static int
msg_to_alpha(const uint8_t *id, uint8_t **out, size_t *outlen)
{
	uint8_t *wire = NULL, pk[32], key[32], got[16];
	char *json;
	size_t len, wlen;
	uint32_t kid;
	uint64_t now = ferry_now_ms();
	int i, rc;

	if ((json = doc(&len)) == NULL)
		return (-1);
	rc = referral_json_to_wire_at(json, len, now, &wire, &wlen, NULL, 0,
	    NULL);
	free(json);
	if (rc == 0)
		rc = roster_enc_key_for_sending(B.roster, "alpha", now, &kid,
		    pk);
	if (rc == 0 && id != NULL) {
		/* The id's 6 bytes of time are the envelope's time. */
		for (now = 0, i = 0; i < 6; i++)
			now = (now << 8) | id[i];
		memcpy(chosen_rnd, id + 6, sizeof(chosen_rnd));
		chosen_on = 1;
	}
	if (rc == 0)
		rc = env_seal(bravo, "alpha", pk, kid, wire, wlen, NULL, now,
		    key, got, out, outlen);
	chosen_on = 0;
	free(wire);
	if (rc == 0 && id != NULL && memcmp(got, id, 16) != 0) {
		free(*out);
		return (-1);
	}
	return (rc);
}

/* The code of the NACK among ${c}'s frames about message ${id}, or 0. */
static int
nack_code(struct cap *c, const uint8_t id[16])
{
	struct env e;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (env_decode(c->buf[i], c->len[i], 0, &e) == 0 &&
		    e.type == ENV_NACK && memcmp(e.msg_id, id, 16) == 0)
			return (-(int)e.code);
	return (0);
}

/*
 * Review of session 10: a partner (dishonest: ids are random) seals a
 * message to us with the id of one we sent it, through a relay that never
 * saw that id.  Refused (NACK FERRY_EDUPMSG) on its own: the honest
 * message read with it is received all the same, nothing is held (its
 * log entries would have collided with ours: the whole group held at
 * every redelivery, until expiry).
 */
TEST(reused_id_refused_group_received)
{
	uint8_t *evil = NULL, *good = NULL;
	const uint8_t *bufs[2];
	size_t lens[2];
	struct astore_in in;
	struct env ge;
	uint64_t held = A.n_held_local;

	receipt_delivers();
	if (t_failed_now)
		return;
	CHECK_EQ(msg_to_alpha(sent_id, &evil, &lens[1]), 0);
	CHECK_EQ(msg_to_alpha(NULL, &good, &lens[0]), 0);
	if (evil == NULL || good == NULL)
		return;
	bufs[0] = good;
	bufs[1] = evil;
	cap_clear(&capA);
	CHECK_EQ(agentd_receive_many(&A, bufs, lens, 2), 0);
	CHECK_EQ(A.n_held_local, held);
	CHECK_EQ(nack_code(&capA, sent_id), FERRY_EDUPMSG);
	CHECK_EQ(cap_count(&capA, ENV_RECEIPT_P), 1);
	CHECK_EQ(env_decode(good, lens[0], 0, &ge), 0);
	CHECK_EQ(astore_get_in(A.store, ge.id, &in), 0);
	astore_in_clear(&in);
	CHECK_EQ(astore_get_in(A.store, sent_id, &in), FERRY_ENOENT);
	cap_clear(&capA);
	free(evil);
	free(good);
}

/*
 * The same id arriving before the partner's real receipt of our message:
 * refused, so the real receipt is still the one our log holds (taken, our
 * own LOG_RECEIPT of that id stood in its place and the real one was
 * dropped as "already logged").
 */
TEST(reused_id_keeps_partner_receipt)
{
	struct log_entry le;
	struct astore_out o;
	uint8_t *evil = NULL;
	size_t el;
	uint64_t idx;

	receive_and_duplicate();
	if (t_failed_now)
		return;
	CHECK_EQ(msg_to_alpha(sent_id, &evil, &el), 0);
	if (evil == NULL)
		return;
	cap_clear(&capA);
	CHECK_EQ(agentd_receive(&A, evil, el), 0);
	CHECK_EQ(nack_code(&capA, sent_id), FERRY_EDUPMSG);
	CHECK_EQ(cap_count(&capA, ENV_RECEIPT_P), 0);
	cap_clear(&capA);
	CHECK_EQ(agentd_receive(&A, receipt, receipt_len), 0);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	CHECK_EQ(log_find_msg(A.log, sent_id, LOG_RECEIPT, &idx), 0);
	CHECK_EQ(log_get(A.log, idx, &le), 0);
	CHECK(strcmp(le.from, "bravo") == 0);
	CHECK(le.aux_len > 0);		/* bravo's receipt itself */
	log_entry_clear(&le);
	free(evil);
}

/* The kept state counts (a->n_out, a->n_in) equal a walk of the store. */
struct walk_counts {
	uint64_t out[5], in;
};

static int
wc_out(void *ctx, const struct astore_out *r)
{

	if (r->state < 5)
		((struct walk_counts *)ctx)->out[r->state]++;
	return (0);
}

static int
wc_in(void *ctx, const struct astore_in *r)
{

	(void)r;
	((struct walk_counts *)ctx)->in++;
	return (0);
}

static int
counts_match(struct agentd *a)
{
	struct walk_counts w;
	int k;

	memset(&w, 0, sizeof(w));
	if (astore_foreach_out(a->store, wc_out, &w) != 0 ||
	    astore_foreach_in(a->store, wc_in, &w) != 0)
		return (0);
	for (k = 1; k < 5; k++)
		if (w.out[k] != a->n_out[k])
			return (0);
	return (w.in == a->n_in);
}

TEST(nack_fails_message)
{
	struct astore_out o;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16], *b;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	cap_clear(&capA);
	/* Transient (queue full): stays queued. */
	CHECK_EQ(relay_answer(relay, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_EQUEUEFULL, &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	/* The relay refuses bravo, whom our roster lists as active: its
	 * roster is behind ours, not final (test_agentd_relays.c). */
	CHECK_EQ(relay_answer(relay, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_ERECIPIENT, &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	/* Permanent (the recipient's own refusal): failed with code and
	 * reason. */
	CHECK_EQ(relay_answer(bravo, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_ERECIPIENT, &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_FAILED);
	CHECK_EQ(o.code, (uint32_t)-FERRY_ERECIPIENT);
	CHECK(strcmp(o.reason, "recipient unknown") == 0);
	/* Counted as it changed: queued -> failed, none left queued. */
	CHECK_EQ(A.n_out[ASTORE_FAILED], 1);
	CHECK_EQ(A.n_out[ASTORE_QUEUED], 0);
	CHECK(counts_match(&A));
}

/* A NACK about ${id} signed by ${signer}, addressed to ${to}. */
static int
nack_from(struct ident *signer, const char *to, const uint8_t id[16],
    const uint8_t hash[32], int code, uint8_t **out, size_t *len)
{
	struct env e;

	memset(&e, 0, sizeof(e));
	e.version = ENV_VERSION;
	e.type = ENV_NACK;
	env_new_id(e.id);
	snprintf(e.from, sizeof(e.from), "%s", signer->id);
	snprintf(e.to, sizeof(e.to), "%s", to);
	e.time = ferry_now_ms();
	memcpy(e.msg_id, id, 16);
	memcpy(e.env_hash, hash, 32);
	e.code = (uint32_t)-code;
	e.reason = "x";
	e.reason_len = 1;
	return (env_encode(&e, signer->sign_sk, out, len));
}

/* Run agentd_receive(a, b, n) with stderr (the agent's log lines) into
 * <dir>/stderr.txt; those lines, malloc'd (NULL if unread). */
static char *
receive_logged(struct agentd *a, const uint8_t *b, size_t n, int *rc)
{
	char path[600];
	uint8_t *txt;
	size_t len;
	int saved, fd;

	snprintf(path, sizeof(path), "%s/stderr.txt", dir);
	fflush(stderr);
	if ((saved = dup(2)) < 0)
		return (NULL);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0) {
		close(saved);
		return (NULL);
	}
	dup2(fd, 2);
	close(fd);
	*rc = agentd_receive(a, b, n);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if ((txt = t_read_file(path, &len)) == NULL)
		return (NULL);
	fputs((char *)txt, stderr);	/* still in the test's output */
	return ((char *)txt);
}

/*
 * Review of a restore drill: a message reported failed (the relay expired
 * it: FERRY_EEXPIREDMSG, final) whose recipient's receipt comes after all
 * (a relay restored from a backup that still held it delivered it) is
 * recorded: delivered, the receipt logged, the failure's time, code and
 * reason kept on the record, and said at WARN delivered-after-failed
 * naming the message, the failure and what to do: not a silent INFO
 * "delivered".
 */
TEST(receipt_after_failed)
{
	struct astore_out o;
	uint64_t idx, failed_ms;
	char hx[33], want[80], reason[ASTORE_REASON_MAX + 1], *txt;
	char req[128], *reply = NULL, *body = NULL;
	size_t len, rl = 0, bl = 0;
	uint8_t *b;
	int rc = -1;

	receive_and_duplicate();
	if (t_failed_now)
		return;
	CHECK_EQ(relay_answer(relay, ENV_NACK, sent_id, sent_hash,
	    (uint32_t)-FERRY_EEXPIREDMSG, &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_FAILED);
	failed_ms = o.t_failed;
	CHECK(failed_ms > 0);
	snprintf(reason, sizeof(reason), "%s", o.reason);
	CHECK(reason[0] != '\0');
	txt = receive_logged(&A, receipt, receipt_len, &rc);
	CHECK_EQ(rc, 0);
	CHECK(txt != NULL);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	CHECK(o.t_delivered > 0);
	CHECK_EQ(o.t_failed, failed_ms);
	CHECK_EQ(o.code, (uint32_t)-FERRY_EEXPIREDMSG);
	CHECK(strcmp(o.reason, reason) == 0);
	CHECK_EQ(log_find_msg(A.log, sent_id, LOG_RECEIPT, &idx), 0);
	CHECK_EQ(A.n_out[ASTORE_FAILED], 0);
	CHECK_EQ(A.n_out[ASTORE_DELIVERED], 1);
	CHECK(counts_match(&A));
	agentd_idhex(hx, sent_id);
	snprintf(want, sizeof(want), " WARN delivered-after-failed msg=%s ",
	    hx);
	CHECK(txt != NULL && strstr(txt, want) != NULL);
	CHECK(txt != NULL && strstr(txt, "code=FERRY_EEXPIREDMSG") != NULL);
	CHECK(txt != NULL && strstr(txt, "failed_at=") != NULL);
	CHECK(txt != NULL && strstr(txt, "duplicate") != NULL);
	CHECK(txt != NULL && strstr(txt, " INFO delivered ") == NULL);
	free(txt);
	/* `ferry status MSGID` reads the failure too: its time, code and
	 * reason, with the state delivered. */
	snprintf(req, sizeof(req), "{\"cmd\":\"status\",\"msg_id\":\"%s\"}",
	    hx);
	agentd_ctl_handle(&A, req, strlen(req), NULL, 0, &reply, &rl, &body,
	    &bl);
	CHECK(reply != NULL && memmem(reply, rl, "\"delivered\"", 11) !=
	    NULL);
	CHECK(reply != NULL && memmem(reply, rl, "\"failed_ms\"", 11) !=
	    NULL);
	CHECK(reply != NULL && memmem(reply, rl, "\"code\"", 6) != NULL);
	CHECK(reply != NULL && memmem(reply, rl, "\"FERRY_EEXPIREDMSG\"",
	    19) != NULL);
	CHECK(reply != NULL && memmem(reply, rl, "\"reason\"", 8) != NULL);
	CHECK(reply != NULL && memmem(reply, rl, reason, strlen(reason)) !=
	    NULL);
	if (reply != NULL && memmem(reply, rl, "\"code\"", 6) == NULL)
		printf("# %.*s\n", (int)rl, reply);
	free(reply);
	free(body);
	/* The same receipt again, or the NACK again: nothing changes. */
	CHECK_EQ(agentd_receive(&A, receipt, receipt_len), 0);
	CHECK_EQ(relay_answer(relay, ENV_NACK, sent_id, sent_hash,
	    (uint32_t)-FERRY_EEXPIREDMSG, &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	CHECK_EQ(A.n_delivered, 1);
}

/*
 * A receipt for a message our store does not hold (the data folder
 * restored from a backup taken before it was sent): ignored, and said as
 * what it most likely is, with the next step, not as a forged one.
 */
TEST(receipt_not_in_store)
{
	char path[600], moved[620], hx[33], *txt;
	int rc = -1;

	receive_and_duplicate();
	if (t_failed_now)
		return;
	/* alpha's data folder "restored" from before it sent: empty. */
	agentd_close(&A);
	snprintf(path, sizeof(path), "%s/alpha-data-%ld", dir, (long)getpid());
	snprintf(moved, sizeof(moved), "%s.old", path);
	CHECK_EQ(rename(path, moved), 0);
	CHECK_EQ(open_agent(&A, "alpha", &capA), 0);
	txt = receive_logged(&A, receipt, receipt_len, &rc);
	CHECK_EQ(rc, 0);
	agentd_idhex(hx, sent_id);
	CHECK(txt != NULL && strstr(txt, " WARN receipt-not-in-store msg=") !=
	    NULL);
	CHECK(txt != NULL && strstr(txt, "restored from a backup") != NULL);
	CHECK(txt != NULL && strstr(txt, hx) != NULL);
	CHECK(txt != NULL && strstr(txt, "section 8") != NULL);
	CHECK(txt != NULL && strstr(txt, "bad-receipt") == NULL);
	free(txt);
	CHECK_EQ(A.n_delivered, 0);
}

/*
 * Review H4, sender side: the relay's out-of-memory and internal-error
 * NACKs are transient (the message stays queued); a recipient's NACK is
 * final whatever its code (the relay removed the message).
 */
TEST(nack_transient_codes)
{
	struct astore_out o;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16], *b;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	cap_clear(&capA);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(nack_from(relay, "alpha", id, o.env_hash, FERRY_EINTERNAL,
	    &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(nack_from(relay, "alpha", id, o.env_hash, FERRY_ENOMEM, &b,
	    &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	/* Review L3: signed by an agency that is neither the relay nor the
	 * recipient, or addressed to someone else: ignored. */
	CHECK_EQ(nack_from(alpha, "alpha", id, o.env_hash, FERRY_ERECIPIENT,
	    &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(nack_from(relay, "bravo", id, o.env_hash, FERRY_ERECIPIENT,
	    &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK_EQ(nack_from(bravo, "alpha", id, o.env_hash, FERRY_EQUEUEFULL,
	    &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_FAILED);
}

/*
 * Review M11: a NACK reason is chosen by the relay or the recipient; a
 * newline or quote in it must not forge a line or a field in our log.
 */
TEST(nack_reason_escaped)
{
	struct astore_out o;
	struct env e;
	char *json, err[AGENTD_ERR_MAX], path[600];
	const char *evil = "x\"\n2026-01-01T00:00:00.000Z INFO delivered "
	    "msg=forged\xc2\x9b" "2J";
	size_t len;
	uint8_t id[16], *b, *logtxt;
	int saved, fd;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	cap_clear(&capA);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	memset(&e, 0, sizeof(e));
	e.version = ENV_VERSION;
	e.type = ENV_NACK;
	env_new_id(e.id);
	snprintf(e.from, sizeof(e.from), "relay");
	snprintf(e.to, sizeof(e.to), "alpha");
	e.time = ferry_now_ms();
	memcpy(e.msg_id, id, 16);
	memcpy(e.env_hash, o.env_hash, 32);
	e.code = (uint32_t)-FERRY_ERECIPIENT;
	e.reason = evil;
	e.reason_len = strlen(evil);
	CHECK_EQ(env_encode(&e, relay->sign_sk, &b, &len), 0);
	snprintf(path, sizeof(path), "%s/stderr.txt", dir);
	fflush(stderr);
	saved = dup(2);
	CHECK((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	dup2(fd, 2);
	close(fd);
	(void)agentd_receive(&A, b, len);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	free(b);
	CHECK((logtxt = t_read_file(path, &len)) != NULL);
	CHECK(strstr((char *)logtxt, "\n2026-01-01") == NULL);
	CHECK(strstr((char *)logtxt, "\\x0a2026-01-01") != NULL);
	CHECK(strstr((char *)logtxt, "x\\x22") != NULL);
	CHECK(strstr((char *)logtxt, "\xc2\x9b") == NULL);
	free(logtxt);
}

/*
 * Review M8: a receipt from a recipient revoked after the message was
 * sent is verified with the roster version in force when it was sent
 * (kept in <data>/roster/) and accepted: delivered, not ignored forever.
 */
TEST(receipt_after_revocation)
{
	struct astore_out o;
	struct roster *v1 = NULL, *v2 = NULL;
	const uint8_t *rb;
	char *json, err[AGENTD_ERR_MAX], path[1200];
	size_t len, mlen, rlen;
	uint8_t id[16], *m, *rcpt;
	uint64_t now = ferry_now_ms();

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK(capA.n >= 1);
	mlen = capA.len[capA.n - 1];
	CHECK((m = malloc(mlen)) != NULL);
	memcpy(m, capA.buf[capA.n - 1], mlen);
	cap_clear(&capA);
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	free(m);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 1);
	rlen = capB.len[capB.n - 1];
	CHECK((rcpt = malloc(rlen)) != NULL);
	memcpy(rcpt, capB.buf[capB.n - 1], rlen);
	cap_clear(&capB);
	/* Roster version 2 revokes bravo; alpha adopts it (SIGHUP path). */
	snprintf(path, sizeof(path), "%s/roster", dir);
	CHECK((rb = t_read_file(path, &len)) != NULL);
	CHECK_EQ(roster_parse(rb, len, &v1), 0);
	free((void *)rb);
	CHECK_EQ(roster_next(v1, now, now + 365 * DAY, &v2), 0);
	roster_free(v1);
	CHECK_EQ(roster_agency_revoke(v2, "bravo"), 0);
	CHECK_EQ(roster_seal(v2), 0);
	CHECK_EQ(roster_sign(v2, admin->sign_sk), 0);
	CHECK_EQ(roster_bytes(v2, &rb, &len), 0);
	snprintf(path, sizeof(path), "%s/roster/v%020d.roster", A.conf.data,
	    2);
	CHECK_EQ(ferry_write_file(path, rb, len, 0600), 0);
	roster_free(v2);
	CHECK_EQ(agentd_roster_reload(&A), 0);
	CHECK_EQ(A.roster->version, 2);
	/* The receipt arrives now: verified with version 1, delivered. */
	CHECK_EQ(agentd_receive(&A, rcpt, rlen), 0);
	free(rcpt);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	/* Likewise a NACK from bravo about a message sent under version 1:
	 * verified with version 1's key and acted on. */
	{
		struct astore_out q;

		memset(&q, 0, sizeof(q));
		memcpy(q.msg_id, id, 16);
		q.msg_id[15] ^= 0x5a;
		snprintf(q.to, sizeof(q.to), "bravo");
		memcpy(q.env_hash, o.env_hash, 32);
		q.state = ASTORE_ACCEPTED;
		q.t_queued = now;
		q.roster_version = 1;
		CHECK_EQ(astore_put_out(A.store, NULL, &q, NULL, 0, NULL), 0);
		CHECK_EQ(nack_from(bravo, "alpha", q.msg_id, q.env_hash,
		    FERRY_ESCHEMA, &m, &mlen), 0);
		CHECK_EQ(agentd_receive(&A, m, mlen), 0);
		free(m);
		CHECK_EQ(astore_get_out(A.store, q.msg_id, &q), 0);
		CHECK_EQ(q.state, ASTORE_FAILED);
	}
}

TEST(reopen_keeps_state)
{
	struct astore_out o;
	const struct pending_msg *pm;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t q[16], acc[16], *b;

	receipt_delivers();	/* one delivered */
	if (t_failed_now)
		return;
	/* One waiting for ACCEPTED, one for its RECEIPT. */
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, q, err,
	    sizeof(err)), 0);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, acc, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(astore_get_out(A.store, acc, &o), 0);
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, acc, o.env_hash, 0, &b,
	    &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	agentd_close(&A);
	CHECK_EQ(open_agent(&A, "alpha", &capA), 0);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	/* The schedule is rebuilt from the store: both pending, each in
	 * its state; the delivered one not. */
	CHECK_EQ(pending_count(A.pend), 2);
	CHECK((pm = pending_find(A.pend, q)) != NULL);
	CHECK_EQ(pm->state, ASTORE_QUEUED);
	CHECK((pm = pending_find(A.pend, acc)) != NULL);
	CHECK_EQ(pm->state, ASTORE_ACCEPTED);
	CHECK(pending_find(A.pend, sent_id) == NULL);
	/* The state counts, counted again at open, agree with the store. */
	CHECK_EQ(A.n_out[ASTORE_QUEUED], 1);
	CHECK_EQ(A.n_out[ASTORE_ACCEPTED], 1);
	CHECK_EQ(A.n_out[ASTORE_DELIVERED], 1);
	CHECK(counts_match(&A));
	CHECK(counts_match(&B));
	CHECK_EQ(B.n_in, 1);
}

/* Does the file ${path} hold the ${n} bytes ${b}?  1 yes, 0 no, -1 unread. */
static int
file_holds(const char *path, const uint8_t *b, size_t n)
{
	uint8_t *f;
	size_t len;
	int r;

	if ((f = t_read_file(path, &len)) == NULL)
		return (-1);
	r = memmem(f, len, b, n) != NULL;
	free(f);
	return (r);
}

/*
 * Review of session 11 (DPO): an erasure deletes the envelope and zeroes
 * the sealed content key, but LMDB writes copy-on-write: the old pages,
 * freed, kept both in data.mdb, where the agency's own key opened them
 * again.  Now each erasure compacts the store (agentd_compact: a copy of
 * the live pages takes the file's place): the envelope's bytes are in
 * neither agency's file before the next message, log/compact-due (made
 * durable before the erasure's commit) is gone, and the store reopened
 * goes on: state, log, commit counter, a new message received.
 */
TEST(erase_compacts)
{
	char path[2][1200], due[1200], err[AGENTD_ERR_MAX];
	struct agentd *ag[2] = { &A, &B };
	struct astore_erased er;
	struct astore_out o;
	char req[200], hx[33], *reply = NULL, *body = NULL;
	uint8_t h2[32], *acc = NULL;
	size_t rl, bl, al;
	uint64_t size[2], commits[2];
	uint8_t *m[1], id2[1][16];
	size_t ml[1], k;

	receipt_delivers();
	if (t_failed_now)
		return;
	for (k = 0; k < 2; k++) {
		snprintf(path[k], sizeof(path[k]), "%s/log/data.mdb",
		    ag[k]->conf.data);
		/* The envelope's last 64 bytes (its signature): there
		 * first, so the check below can fail. */
		CHECK_EQ(file_holds(path[k], sent_msg + sent_len - 64, 64),
		    1);
		err[0] = '\0';
		CHECK_EQ(agentd_erase(ag[k], sent_id, LOG_ERASE_REQUEST, "T-1",
		    NULL, err, sizeof(err)), 0);
		snprintf(due, sizeof(due), "%s/log/compact-due",
		    ag[k]->conf.data);
		CHECK_EQ(access(due, F_OK), 0);
		CHECK_EQ(ag[k]->compact_due, 1);
		/* Erased, not yet compacted: the freed pages hold it. */
		CHECK_EQ(file_holds(path[k], sent_msg + sent_len - 64, 64),
		    1);
		size[k] = log_size(ag[k]->log);
		commits[k] = agentd_commits(ag[k]);
		CHECK_EQ(agentd_compact(ag[k], err, sizeof(err)), 0);
		CHECK_EQ(ag[k]->compact_due, 0);
		CHECK(access(due, F_OK) != 0);
		CHECK_EQ(file_holds(path[k], sent_msg + sent_len - 64, 64),
		    0);
		/* The store reopened: the same log, the erasure recorded,
		 * the commit counter not reset. */
		CHECK_EQ(log_size(ag[k]->log), size[k]);
		CHECK_EQ(astore_get_erased(ag[k]->store, sent_id, &er), 0);
		CHECK_EQ(agentd_commits(ag[k]), commits[k]);
		CHECK_EQ(agentd_compact(ag[k], err, sizeof(err)), 0);
	}
	/* Both go on: a new referral sent, received and receipted. */
	cap_clear(&capA);
	cap_clear(&capB);
	CHECK_EQ(alpha_sends(1, id2, m, ml), 0);
	if (t_failed_now)
		return;
	CHECK_EQ(agentd_receive(&B, m[0], ml[0]), 0);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 1);
	CHECK_EQ(agentd_commits(&B), commits[1] + 1);
	/* The relay's ACCEPTED first: a custody record deferred to the
	 * next commit by the log's hook, which the reopened log has too
	 * (else it stayed in memory and shadowed the delivery in status). */
	env_hash(m[0], ml[0], h2);
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id2[0], h2, 0, &acc, &al),
	    0);
	if (acc != NULL)
		CHECK_EQ(agentd_receive(&A, acc, al), 0);
	free(acc);
	CHECK_EQ(A.ndefer, 1);
	CHECK_EQ(capB.n, 1);
	if (capB.n == 1)
		CHECK_EQ(agentd_receive(&A, capB.buf[0], capB.len[0]), 0);
	CHECK_EQ(A.ndefer, 0);
	CHECK_EQ(astore_get_out(A.store, id2[0], &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	/* What `ferry status MSGID` reads says so too. */
	ferry_hex(hx, id2[0], 16);
	snprintf(req, sizeof(req), "{\"cmd\":\"status\",\"msg_id\":\"%s\"}",
	    hx);
	agentd_ctl_handle(&A, req, strlen(req), NULL, 0, &reply, &rl, &body,
	    &bl);
	CHECK(reply != NULL && memmem(reply, rl, "\"delivered\"", 11) !=
	    NULL);
	if (reply != NULL && memmem(reply, rl, "\"delivered\"", 11) == NULL)
		printf("# %.*s\n", (int)rl, reply);
	free(reply);
	free(body);
	free(m[0]);
	cap_clear(&capB);
}

/*
 * A compaction that fails (here a fault point; in life a disk too full
 * for the copy) leaves the erasure committed and says so: the erase
 * answer has "compacted": false and why, status has compact_due, the
 * marker stays for the next start, and the next try does it.
 */
TEST(erase_compact_fails)
{
	char req[200], hx[33], due[1200], err[AGENTD_ERR_MAX];
	char *reply = NULL, *body = NULL;
	size_t rl, bl;

	receipt_delivers();
	if (t_failed_now)
		return;
	ferry_hex(hx, sent_id, 16);
	snprintf(req, sizeof(req), "{\"cmd\":\"erase\",\"msg_id\":\"%s\"}",
	    hx);
	setenv("FERRY_TEST_FAULT", "compact", 1);
	agentd_ctl_handle(&B, req, strlen(req), NULL, 0, &reply, &rl, &body,
	    &bl);
	unsetenv("FERRY_TEST_FAULT");
	CHECK(reply != NULL && memmem(reply, rl, "\"compacted\":false",
	    17) != NULL && memmem(reply, rl, "the store was not compacted: "
	    "out of memory", 42) != NULL);
	free(reply);
	free(body);
	CHECK_EQ(B.compact_due, 1);
	snprintf(due, sizeof(due), "%s/log/compact-due", B.conf.data);
	CHECK_EQ(access(due, F_OK), 0);
	snprintf(req, sizeof(req), "{\"cmd\":\"status\"}");
	agentd_ctl_handle(&B, req, strlen(req), NULL, 0, &reply, &rl, &body,
	    &bl);
	CHECK(reply != NULL && memmem(reply, rl, "\"compact_due\":true",
	    18) != NULL);
	free(reply);
	free(body);
	CHECK_EQ(agentd_compact(&B, err, sizeof(err)), 0);
	CHECK_EQ(B.compact_due, 0);
	CHECK(access(due, F_OK) != 0);
}

/*
 * DPO review, session 11: a response filed under another case reference
 * than the message it answers escaped `export --case` and `erase --case`
 * at both ends.  The sender's agent refuses it (and a response to no
 * message it received, or against the thread's rules), whatever the way
 * it is sent; the recipient refuses one that arrives anyway (NACK
 * FERRY_ESCHEMA, nothing stored).
 */
TEST(response_case_checked)
{
	struct referral_party who = { "DS Smith", NULL, "Bravo", NULL, NULL };
	struct astore_out o;
	struct astore_in in;
	struct log_batch *b;
	char *json, err[AGENTD_ERR_MAX], req[200], hx[33], *reply = NULL;
	char *body = NULL;
	uint8_t id[16], other[16], *m;
	size_t rl, bl, mlen;
	struct env e;

	receipt_delivers();
	if (t_failed_now)
		return;
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	/* Another case: refused by the sender's agent, nothing sent. */
	CHECK_EQ(referral_response_json("OTHER-CASE-1", sent_id, "accepted",
	    NULL, NULL, &who, &json, err, sizeof(err)), 0);
	cap_clear(&capB);
	CHECK_EQ(agentd_submit(&B, "alpha", json, strlen(json), NULL, NULL, id,
	    err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strstr(err, "case_id: \"OTHER-CASE-1\" is not the case of the "
	    "message it answers") != NULL);
	free(json);
	/* Answering no message bravo received. */
	memset(other, 0x42, sizeof(other));
	CHECK_EQ(referral_response_json(o.case_id, other, "accepted", NULL,
	    NULL, &who, &json, err, sizeof(err)), 0);
	CHECK_EQ(agentd_submit(&B, "alpha", json, strlen(json), NULL, NULL, id,
	    err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strstr(err, "is no message this agency received") != NULL);
	free(json);
	/* Against the thread: information nobody asked for. */
	CHECK_EQ(referral_response_json(o.case_id, sent_id,
	    "information-provided", NULL, "x", &who, &json, err, sizeof(err)),
	    0);
	CHECK_EQ(agentd_submit(&B, "alpha", json, strlen(json), NULL, NULL, id,
	    err, sizeof(err)), FERRY_ESCHEMA);
	free(json);
	CHECK_EQ(capB.n, 0);
	/* A proper reply from bravo, received by an alpha whose record of
	 * the message names another case (as a dishonest bravo's agent
	 * would make it look): refused, nothing stored. */
	ferry_hex(hx, sent_id, 16);
	snprintf(req, sizeof(req), "{\"cmd\":\"reply\",\"msg_id\":\"%s\","
	    "\"response\":\"accepted\"}", hx);
	agentd_ctl_handle(&B, req, strlen(req), NULL, 0, &reply, &rl, &body,
	    &bl);
	CHECK(reply != NULL && memmem(reply, rl, "\"ok\":true", 9) != NULL);
	free(reply);
	free(body);
	CHECK_EQ(cap_count(&capB, ENV_MSG), 1);
	if (capB.n < 1)
		return;
	m = capB.buf[capB.n - 1];
	mlen = capB.len[capB.n - 1];
	CHECK_EQ(env_decode(m, mlen, 0, &e), 0);
	snprintf(o.case_id, sizeof(o.case_id), "ANOTHER-CASE");
	CHECK_EQ(log_begin(A.log, &b), 0);
	CHECK_EQ(astore_update_out(A.store, b, &o), 0);
	CHECK_EQ(log_commit(b), 0);
	cap_clear(&capA);
	CHECK_EQ(agentd_receive(&A, m, mlen), 0);
	CHECK_EQ(nack_code(&capA, e.id), FERRY_ESCHEMA);
	CHECK_EQ(astore_get_in(A.store, e.id, &in), FERRY_ENOENT);
	cap_clear(&capA);
	cap_clear(&capB);
	/* The referrer may close its own referral (withdraw it), in its
	 * case; nothing else answers one's own message. */
	CHECK_EQ(referral_response_json(o.case_id, sent_id, "closed", NULL,
	    NULL, &who, &json, err, sizeof(err)), 0);
	CHECK_EQ(agentd_submit(&A, "bravo", json, strlen(json), NULL, NULL, id,
	    err, sizeof(err)), 0);
	free(json);
	CHECK_EQ(referral_response_json("OTHER-CASE-2", sent_id, "closed", NULL,
	    NULL, &who, &json, err, sizeof(err)), 0);
	CHECK_EQ(agentd_submit(&A, "bravo", json, strlen(json), NULL, NULL, id,
	    err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strstr(err, "is not the case of the message it closes") != NULL);
	free(json);
	CHECK_EQ(referral_response_json(o.case_id, sent_id, "accepted", NULL,
	    NULL, &who, &json, err, sizeof(err)), 0);
	CHECK_EQ(agentd_submit(&A, "bravo", json, strlen(json), NULL, NULL, id,
	    err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strstr(err, "is no message this agency received from bravo") !=
	    NULL);
	free(json);
	cap_clear(&capA);
}

int
main(void)
{

	t_init();
	if (sodium_init() < 0 || setup_net() != 0) {
		printf("not ok - setup\n");
		return (t_done() || 1);
	}
	if (randombytes_set_implementation(&chosen_impl) != 0) {
		printf("not ok - setup: randombytes implementation\n");
		return (1);
	}
	RUN(send_path);
	RUN(accepted);
	RUN(receive_and_duplicate);
	RUN(receipt_delivers);
	RUN(nack_fails_message);
	RUN(nack_reason_escaped);
	RUN(receipt_after_failed);
	RUN(receipt_not_in_store);
	RUN(accepted_by_proof);
	RUN(nack_transient_codes);
	RUN(receipt_after_revocation);
	RUN(reopen_keeps_state);
	RUN(reused_id_refused_group_received);
	RUN(reused_id_keeps_partner_receipt);
	RUN(erase_compacts);
	RUN(erase_compact_fails);
	RUN(response_case_checked);
	tnet_free();
	return (t_done());
}
