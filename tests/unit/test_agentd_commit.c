/*
 * test_agentd_commit.c: the agent core's group commits (agent/agentd.c,
 * agentd_ctl.c, agentd_replies.c, agentd_defer.c) without sockets, with
 * the fixtures of tests/lib/tagentd.c, counted in synced commits
 * (log_commits).  Control requests, relay replies and MSGs read together
 * are handled in order and stored in one commit per group; a group
 * received costs the recipient one signature and the sender one check of
 * its receipts.  A relay's ACCEPTED costs the sender no commit of its
 * own: custody is acted on at once and recorded by the next commit, or
 * by one of its own once it has waited AGENTD_DEFER_MS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "../lib/harness.h"
#include "../lib/tagentd.h"
#include "agentd.h"
#include "agentd_int.h"
#include "envelope.h"
#include "note.h"
#include "pending.h"

/*
 * Group commit: several control requests read together are answered in
 * order; consecutive sends are stored together (one batch), a refused
 * one does not affect the others, the same request id twice in one batch
 * is one message, and a request between sends keeps its place.
 */
TEST(ctl_group_commit)
{
	struct agentd_ctl_msg m[6];
	const char *rq[6] = {
		"{\"cmd\":\"send\",\"to\":\"bravo\",\"request_id\":"
		    "\"1111111111111111111111111111111111111111111111111111111111111111\"}",
		"{\"cmd\":\"send\",\"to\":\"nobody\"}",
		"{\"cmd\":\"send\",\"to\":\"bravo\",\"request_id\":"
		    "\"1111111111111111111111111111111111111111111111111111111111111111\"}",
		"{\"cmd\":\"partners\"}",
		"{\"cmd\":\"send\",\"to\":\"bravo\"}",
		"{\"cmd\":\"send\",\"to\":\"bravo\"}",
	};
	json_t *r[6];
	json_error_t jerr;
	char *json;
	size_t len, i;
	uint64_t sent = A.n_sent, logn = log_size(A.log);
	uint64_t c0 = log_commits(A.log);

	CHECK((json = doc(&len)) != NULL);
	memset(m, 0, sizeof(m));
	for (i = 0; i < 6; i++) {
		m[i].req = rq[i];
		m[i].reqlen = strlen(rq[i]);
		m[i].doc = (const uint8_t *)json;
		m[i].doclen = len;
	}
	cap_clear(&capA);
	agentd_ctl_handle_many(&A, m, 6);
	free(json);
	for (i = 0; i < 6; i++) {
		CHECK(m[i].reply != NULL);
		r[i] = json_loadb(m[i].reply, m[i].replylen, 0, &jerr);
		free(m[i].reply);
		free(m[i].body);
		CHECK(r[i] != NULL);
	}
	CHECK(json_is_true(json_object_get(r[0], "ok")));
	CHECK(json_is_false(json_object_get(r[1], "ok")));
	CHECK(json_is_true(json_object_get(r[2], "ok")));
	CHECK(json_is_true(json_object_get(r[2], "duplicate")));
	CHECK(strcmp(json_string_value(json_object_get(r[0], "msg_id")),
	    json_string_value(json_object_get(r[2], "msg_id"))) == 0);
	CHECK(json_object_get(r[3], "partners") != NULL);
	CHECK(json_is_true(json_object_get(r[4], "ok")));
	CHECK(json_is_true(json_object_get(r[5], "ok")));
	CHECK(strcmp(json_string_value(json_object_get(r[4], "msg_id")),
	    json_string_value(json_object_get(r[5], "msg_id"))) != 0);
	/* Three messages stored, logged and sent. */
	CHECK_EQ(A.n_sent, sent + 3);
	CHECK_EQ(log_size(A.log), logn + 3);
	/* In two synced commits: sends 0-2 together, then 4-5 after the
	 * partners request (one commit per message would be three). */
	CHECK_EQ(log_commits(A.log), c0 + 2);
	CHECK_EQ(cap_count(&capA, ENV_MSG), 3);
	cap_clear(&capA);
	for (i = 0; i < 6; i++)
		json_decref(r[i]);
}

/*
 * Group commit of relay replies: frames read together (ACCEPTED and the
 * RECEIPT of one message, a duplicate ACCEPTED, a frame of another kind
 * between) are handled in order, the replies recorded in group commits:
 * the message ends delivered, logged once per kind.
 */
TEST(replies_group_commit)
{
	struct astore_out o;
	char *json, err[AGENTD_ERR_MAX];
	const uint8_t *bufs[5];
	size_t len, mlen, lens[5], rlen, alen, hlen;
	uint8_t id[16], *m, *rcpt, *acc, *hb;
	uint64_t logn, c0, delivered = A.n_delivered, accepted = A.n_accepted;
	struct env e;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	mlen = capA.len[capA.n - 1];
	CHECK((m = malloc(mlen)) != NULL);
	memcpy(m, capA.buf[capA.n - 1], mlen);
	cap_clear(&capA);
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	free(m);
	rlen = capB.len[capB.n - 1];
	CHECK((rcpt = malloc(rlen)) != NULL);
	memcpy(rcpt, capB.buf[capB.n - 1], rlen);
	cap_clear(&capB);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &acc,
	    &alen), 0);
	memset(&e, 0, sizeof(e));
	e.version = ENV_VERSION;
	e.type = ENV_HEARTBEAT;
	env_new_id(e.id);
	snprintf(e.from, sizeof(e.from), "relay");
	snprintf(e.to, sizeof(e.to), "alpha");
	e.time = ferry_now_ms();
	CHECK_EQ(env_encode(&e, relay->sign_sk, &hb, &hlen), 0);
	/* ACCEPTED and RECEIPT in one group (the RECEIPT sees the state
	 * the ACCEPTED left), duplicates, another kind between. */
	bufs[0] = acc; lens[0] = alen;
	bufs[1] = rcpt; lens[1] = rlen;
	bufs[2] = acc; lens[2] = alen;
	bufs[3] = hb; lens[3] = hlen;
	bufs[4] = rcpt; lens[4] = rlen;
	logn = log_size(A.log);
	c0 = log_commits(A.log);
	CHECK_EQ(agentd_receive_many(&A, bufs, lens, 5), 0);
	free(acc);
	free(rcpt);
	free(hb);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	CHECK_EQ(o.relay_index, 7);
	CHECK(o.t_accepted > 0);
	CHECK_EQ(log_size(A.log), logn + 2);	/* ACCEPTED, RECEIPT */
	/* One synced commit for the ACCEPTED and the RECEIPT read together
	 * (the duplicates after the heartbeat commit nothing). */
	CHECK_EQ(log_commits(A.log), c0 + 1);
	CHECK_EQ(A.n_accepted, accepted + 1);
	CHECK_EQ(A.n_delivered, delivered + 1);
	CHECK(A.grp == NULL);
}

/*
 * Group commit on receive: MSGs read together are received in ONE synced
 * commit (counted by log_commits, not by log entries), every one gets its
 * own RECEIPT naming its own entry, all carrying one checkpoint that
 * covers every entry; a receipt leaves only after the commit; the same
 * frames again commit nothing and get the very same receipts; the same
 * id twice in one read is one message; a bad MSG among them is refused
 * without holding back the others.
 */
TEST(recv_group_commit)
{
	struct note_checkpoint cp;
	struct astore_in in;
	struct env e, e0;
	const uint8_t *bufs[6];
	uint8_t *m[4], id[4][16], *rc0[3], *bad;
	size_t lens[6], ml[4], rl0[3], i, j;
	uint64_t c0, logn;

	memset(&e0, 0, sizeof(e0));
	CHECK_EQ(alpha_sends(4, id, m, ml), 0);
	/* A forged copy of a fifth: m[0] with a byte of its signature
	 * flipped, under another id would not decode; flip its last byte. */
	CHECK((bad = malloc(ml[3])) != NULL);
	memcpy(bad, m[3], ml[3]);
	bad[ml[3] - 1] ^= 1;
	cap_clear(&capB);
	c0 = log_commits(B.log);
	logn = log_size(B.log);
	for (i = 0; i < 3; i++) {
		bufs[i] = m[i];
		lens[i] = ml[i];
	}
	bufs[3] = bad;
	lens[3] = ml[3];
	CHECK_EQ(agentd_receive_many(&B, bufs, lens, 4), 0);
	/* One commit for the three (RECEIVED + RECEIPT each); the forged
	 * one refused (NACK) with its LOG_REFUSED entry, its own commit. */
	CHECK_EQ(log_commits(B.log), c0 + 2);
	CHECK_EQ(log_size(B.log), logn + 7);
	CHECK_EQ(B.n_received, 3);
	CHECK_EQ(capB.n, 4);
	for (i = 0, j = 0; i < capB.n; i++) {
		CHECK_EQ(env_decode(capB.buf[i], capB.len[i], 0, &e), 0);
		if (e.type == ENV_NACK)
			continue;
		CHECK_EQ(e.type, ENV_RECEIPT_P);
		CHECK_EQ(env_verify_proof(&e, bravo->sign_pk, NULL), 0);
		CHECK(j < 3 && memcmp(e.msg_id, id[j], 16) == 0);
		CHECK_EQ(astore_get_in(B.store, id[j], &in), 0);
		CHECK_EQ(e.log_index, in.log_index);
		astore_in_clear(&in);
		/* One checkpoint for all, covering every entry. */
		CHECK(e.blob_len > 0);
		CHECK_EQ(note_parse_checkpoint(e.blob, e.blob_len, &cp), 0);
		CHECK(cp.size > e.log_index);
		if (j == 0)
			e0 = e;
		else
			CHECK(e.blob_len == e0.blob_len &&
			    memcmp(e.blob, e0.blob, e.blob_len) == 0);
		CHECK(cp.size >= logn + 3);
		rc0[j] = capB.buf[i];
		rl0[j] = capB.len[i];
		capB.buf[i] = NULL;
		j++;
	}
	CHECK_EQ(j, 3);
	cap_clear(&capB);
	/* The same three again: nothing committed, the same receipts. */
	CHECK_EQ(agentd_receive_many(&B, bufs, lens, 3), 0);
	CHECK_EQ(log_commits(B.log), c0 + 2);
	CHECK_EQ(capB.n, 3);
	for (i = 0; i < 3 && i < capB.n; i++)
		CHECK(capB.len[i] == rl0[i] &&
		    memcmp(capB.buf[i], rc0[i], rl0[i]) == 0);
	CHECK_EQ(B.n_duplicates, 3);
	cap_clear(&capB);
	/* The same new id twice in one read: received once, the second
	 * copy answered with the first one's receipt. */
	bufs[0] = m[3];
	lens[0] = ml[3];
	bufs[1] = m[3];
	lens[1] = ml[3];
	CHECK_EQ(agentd_receive_many(&B, bufs, lens, 2), 0);
	CHECK_EQ(log_commits(B.log), c0 + 3);
	CHECK_EQ(B.n_received, 4);
	CHECK_EQ(capB.n, 2);
	if (capB.n == 2)
		CHECK(capB.len[0] == capB.len[1] &&
		    memcmp(capB.buf[0], capB.buf[1], capB.len[0]) == 0);
	cap_clear(&capB);
	for (i = 0; i < 3; i++)
		free(rc0[i]);
	for (i = 0; i < 4; i++)
		free(m[i]);
	free(bad);
}

/*
 * Issue 10 step 3: a group of N MSGs received together costs the
 * recipient ONE signature (its commit's checkpoint) and no per-message
 * one: its receipts are RECEIPT_P, proven under that checkpoint; the
 * sender checks the N receipts with ONE note signature check (the note
 * cache) and no envelope signature check.
 */
TEST(receipt_signature_counts)
{
	const uint8_t *bufs[6];
	uint8_t *m[6], *rc[6], id[6][16];
	size_t ml[6], rl[6], i, n = 0;
	uint64_t s0, s1, v0, v1, es0, es1, ev0, ev1, c0, delivered;
	struct env e;

	CHECK_EQ(alpha_sends(6, id, m, ml), 0);
	for (i = 0; i < 6; i++)
		bufs[i] = m[i];
	cap_clear(&capB);
	c0 = log_commits(B.log);
	note_counts(&s0, NULL);
	env_counts(&es0, NULL);
	CHECK_EQ(agentd_receive_many(&B, bufs, ml, 6), 0);
	note_counts(&s1, NULL);
	env_counts(&es1, NULL);
	CHECK_EQ(log_commits(B.log), c0 + 1);
	CHECK_EQ(s1 - s0, 1);		/* the commit's checkpoint */
	CHECK_EQ(es1 - es0, 0);		/* no receipt signed */
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 6);
	for (i = 0; i < capB.n && n < 6; i++) {
		rc[n] = capB.buf[i];
		rl[n] = capB.len[i];
		capB.buf[i] = NULL;
		CHECK_EQ(env_decode(rc[n], rl[n], 0, &e), 0);
		bufs[n] = rc[n];
		n++;
	}
	cap_clear(&capB);
	CHECK_EQ(n, 6);
	delivered = A.n_delivered;
	note_counts(NULL, &v0);
	env_counts(NULL, &ev0);
	CHECK_EQ(agentd_receive_many(&A, bufs, rl, n), 0);
	note_counts(NULL, &v1);
	env_counts(NULL, &ev1);
	CHECK_EQ(A.n_delivered, delivered + 6);
	CHECK_EQ(v1 - v0, 1);		/* one note for the six */
	CHECK_EQ(ev1 - ev0, 0);		/* no receipt signature */
	for (i = 0; i < n; i++)
		free(rc[i]);
	for (i = 0; i < 6; i++)
		free(m[i]);
}

/*
 * Issue 10: a relay's ACCEPTED costs the sender no synced commit of its
 * own.  N referrals sent, their N ACCEPTEDs read one by one (as they
 * come, pipelined): no commit at all (one each before), yet custody is
 * acted on at once (pending state, counters, `status MSGID`); the first
 * RECEIPT's commit carries every custody record, each LOG_ACCEPTED before
 * the RECEIPT of its message.  So the sender's synced commits per
 * referral fall from 3 (send, ACCEPTED, RECEIPT) to at most 2.
 */
#define DEFER_N 8
TEST(accepted_deferred)
{
	static const char st[] = "{\"cmd\":\"status\",\"msg_id\":\"%s\"}";
	struct astore_out o;
	const struct pending_msg *pm;
	char rq[128], hx[33], *reply, *body;
	uint8_t id[DEFER_N][16], *m[DEFER_N], *acc, *rcpt;
	size_t ml[DEFER_N], alen, rlen, rl, bl, i;
	uint64_t c0, c1, accepted = A.n_accepted, ia, ir;
	const uint8_t *bufs[1];
	json_error_t jerr;
	json_t *r;

	c0 = log_commits(A.log);
	CHECK_EQ(alpha_sends(DEFER_N, id, m, ml), 0);
	CHECK_EQ(log_commits(A.log), c0 + DEFER_N);	/* one per send */
	c1 = log_commits(A.log);
	for (i = 0; i < DEFER_N; i++) {
		CHECK_EQ(astore_get_out(A.store, id[i], &o), 0);
		CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id[i], o.env_hash,
		    0, &acc, &alen), 0);
		/* Each in a wakeup of its own; the frame closed after. */
		bufs[0] = acc;
		CHECK_EQ(agentd_receive_many(&A, bufs, &alen, 1), 0);
		free(acc);
	}
	/* No synced commit for the ACCEPTEDs (before: one each). */
	CHECK_EQ(log_commits(A.log), c1);
	CHECK_EQ(A.ndefer, DEFER_N);
	/* Custody known at once: counters, schedule, the agent's view. */
	CHECK_EQ(A.n_accepted, accepted + DEFER_N);
	CHECK((pm = pending_find(A.pend, id[0])) != NULL &&
	    pm->state == ASTORE_ACCEPTED && pm->link == 0);
	CHECK_EQ(agentd_out_get(&A, id[0], &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	CHECK_EQ(o.relay_index, 7);
	/* ... and shown: `ferry status MSGID` says accepted. */
	for (i = 0; i < 16; i++)
		snprintf(hx + 2 * i, 3, "%02x", id[1][i]);
	snprintf(rq, sizeof(rq), st, hx);
	agentd_ctl_handle(&A, rq, strlen(rq), NULL, 0, &reply, &rl, &body,
	    &bl);
	CHECK((r = json_loadb(reply, rl, 0, &jerr)) != NULL);
	CHECK(r != NULL && strcmp(json_string_value(json_object_get(
	    json_object_get(r, "message"), "state")), "accepted") == 0);
	json_decref(r);
	free(reply);
	free(body);
	/* Not durable yet: the store still says queued. */
	CHECK_EQ(astore_get_out(A.store, id[0], &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK_EQ(log_find_msg(A.log, id[0], LOG_ACCEPTED, &ia), FERRY_ENOENT);
	/* A duplicate ACCEPTED (the relay answering a retransmission):
	 * nothing more kept. */
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id[0], o.env_hash, 0,
	    &acc, &alen), 0);
	bufs[0] = acc;
	CHECK_EQ(agentd_receive_many(&A, bufs, &alen, 1), 0);
	free(acc);
	CHECK_EQ(A.ndefer, DEFER_N);
	/* The first RECEIPT: one commit for it and every custody record. */
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, m[0], ml[0]), 0);
	CHECK(capB.n >= 1);
	rlen = capB.len[capB.n - 1];
	CHECK((rcpt = malloc(rlen)) != NULL);
	memcpy(rcpt, capB.buf[capB.n - 1], rlen);
	cap_clear(&capB);
	bufs[0] = rcpt;
	CHECK_EQ(agentd_receive_many(&A, bufs, &rlen, 1), 0);
	free(rcpt);
	CHECK_EQ(log_commits(A.log), c1 + 1);
	CHECK_EQ(A.ndefer, 0);
	for (i = 0; i < DEFER_N; i++) {
		CHECK_EQ(astore_get_out(A.store, id[i], &o), 0);
		CHECK_EQ(o.state, i == 0 ? ASTORE_DELIVERED : ASTORE_ACCEPTED);
		CHECK_EQ(log_find_msg(A.log, id[i], LOG_ACCEPTED, &ia), 0);
	}
	/* In the log, the ACCEPTED before the RECEIPT of its message. */
	CHECK_EQ(log_find_msg(A.log, id[0], LOG_ACCEPTED, &ia), 0);
	CHECK_EQ(log_find_msg(A.log, id[0], LOG_RECEIPT, &ir), 0);
	CHECK(ia < ir);
	/* Synced commits per referral so far: N sends + 1, not 2N + 1. */
	CHECK(log_commits(A.log) - c0 <= DEFER_N + 1);
	for (i = 0; i < DEFER_N; i++)
		free(m[i]);
}

/*
 * Issue 10: a custody record waits for a commit at most AGENTD_DEFER_MS:
 * the loop's poll timeout is cut to it (agentd_defer_wait) and, once
 * due, agentd_defer_due commits it alone; before that, nothing.  A
 * submission's commit carries one waiting (no commit of its own); and
 * agentd_close commits what is left (the reopened store has it).
 */
TEST(accepted_deferred_due)
{
	struct astore_out o;
	char *json, err[AGENTD_ERR_MAX];
	uint8_t id[3][16], *acc;
	size_t len, alen, i;
	uint64_t c0, t;
	const uint8_t *bufs[1];

	CHECK((json = doc(&len)) != NULL);
	for (i = 0; i < 3; i++)
		CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL,
		    id[i], err, sizeof(err)), 0);
	cap_clear(&capA);
	CHECK_EQ(agentd_defer_wait(&A, agentd_mono_ms(), 1000), 1000);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(astore_get_out(A.store, id[i], &o), 0);
		CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id[i], o.env_hash,
		    0, &acc, &alen), 0);
		bufs[0] = acc;
		CHECK_EQ(agentd_receive_many(&A, bufs, &alen, 1), 0);
		free(acc);
		if (i == 0) {
			/* Due at once: a poll of no more than the delay. */
			t = A.defer_since;
			CHECK_EQ(agentd_defer_wait(&A, t, 1000),
			    AGENTD_DEFER_MS);
			CHECK_EQ(agentd_defer_wait(&A, t + 40, 1000),
			    AGENTD_DEFER_MS - 40);
			CHECK_EQ(agentd_defer_wait(&A, t + AGENTD_DEFER_MS,
			    1000), 0);
			c0 = log_commits(A.log);
			CHECK_EQ(agentd_defer_due(&A, t + AGENTD_DEFER_MS - 1),
			    0);
			CHECK_EQ(log_commits(A.log), c0);
			CHECK_EQ(agentd_defer_due(&A, t + AGENTD_DEFER_MS), 0);
			CHECK_EQ(log_commits(A.log), c0 + 1);
			CHECK_EQ(astore_get_out(A.store, id[0], &o), 0);
			CHECK_EQ(o.state, ASTORE_ACCEPTED);
			CHECK_EQ(A.ndefer, 0);
			CHECK_EQ(agentd_defer_wait(&A, t, 1000), 1000);
		}
		if (i == 1) {
			/* A send's commit carries it: one commit for both. */
			c0 = log_commits(A.log);
			CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL,
			    NULL, id[0], err, sizeof(err)), 0);
			cap_clear(&capA);
			CHECK_EQ(log_commits(A.log), c0 + 1);
			CHECK_EQ(A.ndefer, 0);
			CHECK_EQ(astore_get_out(A.store, id[1], &o), 0);
			CHECK_EQ(o.state, ASTORE_ACCEPTED);
		}
	}
	free(json);
	/* The third waits; a stop commits it. */
	CHECK_EQ(A.ndefer, 1);
	agentd_close(&A);
	CHECK_EQ(open_agent(&A, "alpha", &capA), 0);
	CHECK_EQ(astore_get_out(A.store, id[2], &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
}

/*
 * Review of session 10: a request_id used again with another document
 * (a caller's mistake) is refused, naming the message the id was used
 * for; it was answered "duplicate", ok, and the new referral (an
 * emergency, in the review) never stored.  The same document again is
 * still a duplicate; so is a second copy within one batch, and a copy
 * with another document in the same batch is refused too.
 */
TEST(request_id_other_document_refused)
{
	static const char rq[] = "{\"cmd\":\"send\",\"to\":\"bravo\","
	    "\"request_id\":\"2222222222222222222222222222222222222222222222"
	    "222222222222222222\"}";
	struct agentd_ctl_msg m[3];
	json_error_t jerr;
	json_t *r[3];
	char *json, *other, *p;
	size_t len, i, k;
	uint64_t sent;
	const char *first;

	CHECK((json = doc(&len)) != NULL);
	CHECK((other = malloc(len + 1)) != NULL);
	if (json == NULL || other == NULL)
		return;
	memcpy(other, json, len + 1);
	/* Another document: one letter of its case id changed. */
	CHECK((p = strstr(other, "\"case_id\"")) != NULL);
	if (p == NULL)
		return;
	p = strchr(p + 10, '"') + 1;
	*p = *p == 'X' ? 'Y' : 'X';
	for (k = 0; k < 2; k++) {
		/* k 0: the first document, then itself and the other in one
		 * batch; k 1: each alone, later. */
		memset(m, 0, sizeof(m));
		for (i = 0; i < 3; i++) {
			m[i].req = rq;
			m[i].reqlen = strlen(rq);
			m[i].doc = (const uint8_t *)(i == 2 ? other : json);
			m[i].doclen = len;
		}
		sent = A.n_sent;
		agentd_ctl_handle_many(&A, m, 3);
		for (i = 0; i < 3; i++) {
			CHECK(m[i].reply != NULL);
			r[i] = json_loadb(m[i].reply, m[i].replylen, 0, &jerr);
			free(m[i].reply);
			free(m[i].body);
		}
		CHECK_EQ(A.n_sent, sent + (k == 0));
		CHECK(json_is_true(json_object_get(r[0], "ok")));
		CHECK(json_is_true(json_object_get(r[1], "ok")));
		CHECK(json_is_true(json_object_get(r[1], "duplicate")));
		CHECK(json_is_false(json_object_get(r[2], "ok")));
		first = json_string_value(json_object_get(r[0], "msg_id"));
		CHECK(first != NULL && strstr(json_string_value(json_object_get(
		    r[2], "error")), first) != NULL);
		for (i = 0; i < 3; i++)
			json_decref(r[i]);
	}
	free(json);
	free(other);
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
	RUN(ctl_group_commit);
	RUN(request_id_other_document_refused);
	RUN(replies_group_commit);
	RUN(recv_group_commit);
	RUN(receipt_signature_counts);
	RUN(accepted_deferred);
	RUN(accepted_deferred_due);
	tnet_free();
	return (t_done());
}
