/*
 * test_relay_batch_answers.c: the relay's batch (relay/batch.c,
 * batch_check.c) without sockets, with the fixtures of
 * tests/lib/trelay.c: a relay state with its log and queue in a
 * temporary folder, envelopes handed to batch_add as if drained from the
 * socket, sends captured through r->send.  A new MSG is committed once
 * and answered only after the commit (ACCEPTED_P: one signature for a
 * batch); a duplicate in the same batch gets the same log index; a
 * RECEIPT (or RECEIPT_P: one note check for a batch) finishes a queued
 * message and its final is kept; RECEIPTs for unknown messages, under
 * another hash or too big to be logged whole are refused; an ASK is
 * answered from what is committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/harness.h"
#include "../lib/tproof.h"
#include "../lib/trelay.h"
#include "envelope.h"
#include "log.h"
#include "note.h"
#include "relay_int.h"

TEST(msg_committed_then_accepted)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *m = NULL;
	uint64_t size0;
	size_t n;
	struct env e;

	CHECK(r != NULL);
	CHECK_EQ(make_msg(id, h, &m, &n), 0);
	size0 = log_size(r->log);
	arrive(r, "alpha", m, n);
	free(m);
	/* Checked, held in the batch: nothing answered, nothing written. */
	CHECK_EQ(r->nitems, 1);
	CHECK_EQ(r->items[0].kind, IT_ACCEPT);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(r->m.commits, 0);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 1);
	/* Committed once (one log entry, queued), still unanswered. */
	CHECK_EQ(batch_commit(r), 0);
	CHECK_EQ(r->m.commits, 1);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(log_size(r->log), size0 + 1);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_QUEUED);
	/* Then answered: ACCEPTED with the entry's index. */
	batch_answer(r);
	CHECK_EQ(r->nitems, 0);
	CHECK_EQ(nsent, 1);
	CHECK(strcmp(sent[0].to, "alpha") == 0);
	CHECK_EQ(sent_type(0, &e), ENV_ACCEPTED_P);
	CHECK(memcmp(e.msg_id, id, FERRY_MSGID_LEN) == 0);
	CHECK(memcmp(e.env_hash, h, 32) == 0);
	CHECK_EQ(e.log_index, size0);
	/* Proven under the relay's checkpoint of that commit. */
	CHECK_EQ(env_verify_proof(&e, relay->sign_pk, NULL), 0);
	CHECK_EQ(env_verify_proof(&e, alpha->sign_pk, NULL), FERRY_ENOENT);
	CHECK_EQ(r->m.accepted, 1);
	/* A turn with nothing new commits nothing. */
	CHECK_EQ(batch_commit(r), 0);
	CHECK_EQ(r->m.commits, 1);
	relay_done(r);
}

TEST(dup_in_one_batch_same_index)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *m = NULL;
	uint64_t size0;
	size_t n;
	struct env e1, e2;

	CHECK(r != NULL);
	CHECK_EQ(make_msg(id, h, &m, &n), 0);
	size0 = log_size(r->log);
	arrive(r, "alpha", m, n);
	arrive(r, "alpha", m, n);
	free(m);
	CHECK_EQ(r->nitems, 2);
	CHECK_EQ(r->items[0].kind, IT_ACCEPT);
	CHECK_EQ(r->items[1].kind, IT_DUP);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 1);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 1);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(sent_type(0, &e1), ENV_ACCEPTED_P);
	CHECK_EQ(sent_type(1, &e2), ENV_ACCEPTED_P);
	CHECK_EQ(e1.log_index, size0);
	CHECK_EQ(e2.log_index, e1.log_index);
	CHECK_EQ(env_verify_proof(&e1, relay->sign_pk, NULL), 0);
	CHECK_EQ(env_verify_proof(&e2, relay->sign_pk, NULL), 0);
	CHECK_EQ(r->m.accepted, 1);
	CHECK_EQ(r->m.duplicates, 1);
	relay_done(r);
}

TEST(receipt_finishes_and_keeps_final)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *rc = NULL, *fin = NULL;
	size_t n, flen = 0;
	uint64_t size0;
	struct env e;

	CHECK(r != NULL);
	CHECK_EQ(queued_msg(r, id, h), 0);
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, h, NULL, 0, &rc,
	    &n), 0);
	size0 = log_size(r->log);
	arrive(r, "bravo", rc, n);
	CHECK_EQ(r->items[0].kind, IT_RECEIPT);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(turn(r), 0);
	/* RECEIPT and DELIVERED entries; the message is done, final kept. */
	CHECK_EQ(log_size(r->log), size0 + 2);
	CHECK_EQ(lookup(r, id, &fin, &flen), QUEUE_DONE);
	CHECK(fin != NULL);
	CHECK_EQ(flen, n);
	CHECK(memcmp(fin, rc, n) == 0);
	free(fin);
	CHECK_EQ(r->m.delivered, 1);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 0);
	/* Forwarded to the (connected) sender after the commit. */
	CHECK_EQ(nsent, 1);
	CHECK(strcmp(sent[0].to, "alpha") == 0);
	CHECK_EQ(sent_type(0, &e), ENV_RECEIPT);
	CHECK_EQ(sent[0].n, n);
	free(rc);
	relay_done(r);
}

/*
 * Issue 10 step 3: the RECEIPT_Ps of one recipient batch cost the relay
 * ONE note signature check (its cache) and no envelope signature check;
 * each is logged and forwarded to the sender byte for byte; a RECEIPT_P
 * whose path was tampered with is refused (FERRY_EBADSIG).
 */
TEST(receipts_by_proof_one_note)
{
	struct relay *r = relay_new();
	uint8_t ids[6][FERRY_MSGID_LEN], h[6][32], *rb[6] = { NULL };
	size_t rl[6], i;
	uint64_t v0, v1, ev0, ev1;
	struct env e;

	CHECK(r != NULL);
	for (i = 0; i < 6; i++)
		CHECK_EQ(queued_msg(r, ids[i], h[i]), 0);
	/* bravo's, as its agent makes them: one batch, one checkpoint. */
	CHECK_EQ(tproof_receipts(bravo, ENV_RECEIPT_P, 6,
	    (const uint8_t (*)[16])ids, (const uint8_t (*)[32])h, "alpha",
	    "bravo", dir, rb, rl), 0);
	rb[5][rl[5] - 1] ^= 1;	/* the last path hash */
	note_counts(NULL, &v0);
	env_counts(NULL, &ev0);
	for (i = 0; i < 6; i++)
		arrive(r, "bravo", rb[i], rl[i]);
	for (i = 0; i < 5; i++)
		CHECK_EQ(r->items[i].kind, IT_RECEIPT);
	CHECK_EQ(r->items[5].kind, IT_REFUSE);
	CHECK_EQ(r->items[5].code, FERRY_EBADSIG);
	CHECK_EQ(turn(r), 0);
	note_counts(NULL, &v1);
	env_counts(NULL, &ev1);
	CHECK_EQ(v1 - v0, 1);
	CHECK_EQ(ev1 - ev0, 0);
	CHECK_EQ(r->m.delivered, 5);
	for (i = 0; i < 5; i++)
		CHECK_EQ(lookup(r, ids[i], NULL, NULL), QUEUE_DONE);
	CHECK_EQ(lookup(r, ids[5], NULL, NULL), QUEUE_QUEUED);
	/* Forwarded as they came (a NACK goes back to bravo). */
	for (i = 0; i < nsent && i < 5; i++) {
		CHECK(strcmp(sent[i].to, "alpha") == 0);
		CHECK_EQ(sent_type(i, &e), ENV_RECEIPT_P);
		CHECK(sent[i].n == rl[i] && memcmp(sent[i].b, rb[i], rl[i]) == 0);
	}
	for (i = 0; i < 6; i++)
		free(rb[i]);
	relay_done(r);
}

TEST(receipt_unknown_or_other_hash_refused)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], other[32], unknown[16];
	uint8_t *b = NULL;
	size_t n;

	CHECK(r != NULL);
	CHECK_EQ(queued_msg(r, id, h), 0);
	/* A message the relay never held. */
	env_new_id(unknown);
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, unknown, h, NULL, 0,
	    &b, &n), 0);
	arrive(r, "bravo", b, n);
	free(b);
	CHECK_EQ(r->items[0].kind, IT_REFUSE);
	CHECK_EQ(r->items[0].code, FERRY_ENOENT);
	/* The queued message, under another envelope hash. */
	memcpy(other, h, 32);
	other[0] ^= 1;
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, other, NULL, 0,
	    &b, &n), 0);
	arrive(r, "bravo", b, n);
	free(b);
	CHECK_EQ(r->items[1].kind, IT_REFUSE);
	CHECK_EQ(r->items[1].code, FERRY_ENOENT);
	CHECK_EQ(turn(r), 0);
	/* Counted and (rate-limited) logged, never NACKed, nothing done. */
	CHECK_EQ(r->m.refused[-FERRY_ENOENT], 2);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(r->m.delivered, 0);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_QUEUED);
	CHECK_EQ(lookup(r, unknown, NULL, NULL), QUEUE_NONE);
	relay_done(r);
}

TEST(ask_answered_from_store)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], id2[FERRY_MSGID_LEN], h2[32];
	uint8_t unknown[16], *rc = NULL;
	size_t rn;
	struct env e;

	CHECK(r != NULL);
	CHECK_EQ(queued_msg(r, id, h), 0);
	CHECK_EQ(queued_msg(r, id2, h2), 0);
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, h, NULL, 0, &rc,
	    &rn), 0);
	arrive(r, "bravo", rc, rn);
	CHECK_EQ(turn(r), 0);
	sent_clear();
	/* Finished: the stored final (the RECEIPT) again. */
	CHECK_EQ(ask(r, alpha, id, h), 0);
	CHECK_EQ(nsent, 1);
	CHECK(strcmp(sent[0].to, "alpha") == 0);
	CHECK_EQ(sent[0].n, rn);
	CHECK(memcmp(sent[0].b, rc, rn) == 0);
	CHECK_EQ(r->m.asks_answered, 1);
	/* Still queued: nothing. */
	CHECK_EQ(ask(r, alpha, id2, h2), 0);
	CHECK_EQ(nsent, 1);
	/* Unknown: NACK FERRY_ENOTHELD. */
	env_new_id(unknown);
	CHECK_EQ(ask(r, alpha, unknown, h), 0);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(sent_type(1, &e), ENV_NACK);
	CHECK_EQ(-(int)e.code, FERRY_ENOTHELD);
	CHECK(memcmp(e.msg_id, unknown, 16) == 0);
	/* Someone else's queued message: as if unknown. */
	CHECK_EQ(ask(r, bravo, id2, h2), 0);
	CHECK_EQ(nsent, 3);
	CHECK(strcmp(sent[2].to, "bravo") == 0);
	CHECK_EQ(sent_type(2, &e), ENV_NACK);
	CHECK_EQ(-(int)e.code, FERRY_ENOTHELD);
	CHECK_EQ(r->m.asks, 4);
	CHECK_EQ(r->m.asks_unknown, 1);
	/* Asks are answered at once and write nothing. */
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(nsent, 3);
	free(rc);
	relay_done(r);
}

/*
 * Issue 13, closing note (b): a RECEIPT is logged whole (aux, at most
 * LOG_AUX_MAX bytes), so the relay's log holds the recipient's signed
 * copy; a bigger one is refused FERRY_ETOOBIG (logged, not NACKed) and
 * not acted on: the message stays queued until a RECEIPT that fits.
 */
TEST(oversized_receipt_refused)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *b = NULL, *blob = NULL;
	struct log_entry le;
	uint64_t size0, idx;
	size_t n;

	CHECK(r != NULL);
	CHECK_EQ(queued_msg(r, id, h), 0);
	CHECK((blob = calloc(1, LOG_AUX_MAX)) != NULL);
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, h, blob,
	    LOG_AUX_MAX, &b, &n), 0);
	CHECK(n > LOG_AUX_MAX);
	size0 = log_size(r->log);
	arrive(r, "bravo", b, n);
	free(b);
	CHECK_EQ(r->items[0].kind, IT_REFUSE);
	CHECK_EQ(r->items[0].code, FERRY_ETOOBIG);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(log_size(r->log), size0 + 1);	/* the REFUSED entry */
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_QUEUED);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 1);
	CHECK_EQ(r->m.delivered, 0);
	/* A RECEIPT that fits finishes it, logged whole. */
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, h, blob, 256, &b,
	    &n), 0);
	arrive(r, "bravo", b, n);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_DONE);
	CHECK_EQ(log_find_msg(r->log, id, LOG_RECEIPT, &idx), 0);
	CHECK_EQ(log_get(r->log, idx, &le), 0);
	CHECK_EQ(le.aux_len, n);
	CHECK(le.aux != NULL && memcmp(le.aux, b, n) == 0);
	log_entry_clear(&le);
	free(b);
	free(blob);
	relay_done(r);
}

/*
 * Issue 10 step 3: a batch of N new MSGs costs the relay ONE signature
 * (its commit's checkpoint): each ACCEPTED_P is proven under it, none
 * signed; a sender checking the N with a note cache checks ONE note
 * signature.  A duplicate later gets a fresh ACCEPTED_P (same index,
 * the latest checkpoint) that verifies too.
 */
TEST(accepted_by_proof_one_signature)
{
	struct relay *r = relay_new();
	struct env_note_cache cache;
	uint8_t ids[5][FERRY_MSGID_LEN], h[32], *m[5];
	size_t n[5], i;
	uint64_t s0, s1, es0, es1, v0, v1, idx;
	struct env e;

	CHECK(r != NULL);
	memset(&cache, 0, sizeof(cache));
	for (i = 0; i < 5; i++)
		CHECK_EQ(make_msg(ids[i], h, &m[i], &n[i]), 0);
	for (i = 0; i < 5; i++)
		arrive(r, "alpha", m[i], n[i]);
	note_counts(&s0, NULL);
	env_counts(&es0, NULL);
	CHECK_EQ(turn(r), 0);
	note_counts(&s1, NULL);
	env_counts(&es1, NULL);
	CHECK_EQ(s1 - s0, 1);
	CHECK_EQ(es1 - es0, 0);
	CHECK_EQ(nsent, 5);
	note_counts(NULL, &v0);
	for (i = 0; i < 5 && i < nsent; i++) {
		CHECK_EQ(accepted_of(i, ids[i], &idx), 0);
		CHECK_EQ(sent_type(i, &e), ENV_ACCEPTED_P);
		CHECK_EQ(env_verify_proof(&e, relay->sign_pk, &cache), 0);
	}
	note_counts(NULL, &v1);
	CHECK_EQ(v1 - v0, 1);
	/* A retransmission of the first, in a later turn. */
	CHECK_EQ(accepted_of(0, ids[0], &idx), 0);
	sent_clear();
	arrive(r, "alpha", m[0], n[0]);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(nsent, 1);
	CHECK_EQ(sent_type(0, &e), ENV_ACCEPTED_P);
	CHECK_EQ(e.log_index, idx);
	CHECK_EQ(env_verify_proof(&e, relay->sign_pk, &cache), 0);
	for (i = 0; i < 5; i++)
		free(m[i]);
	relay_done(r);
}

int
main(void)
{

	t_init();
	if (setup() != 0) {
		printf("not ok - setup\n");
		return (1);
	}
	RUN(msg_committed_then_accepted);
	RUN(dup_in_one_batch_same_index);
	RUN(receipt_finishes_and_keeps_final);
	RUN(receipts_by_proof_one_note);
	RUN(accepted_by_proof_one_signature);
	RUN(receipt_unknown_or_other_hash_refused);
	RUN(ask_answered_from_store);
	RUN(oversized_receipt_refused);
	roster_free(ro);
	tnet_free();
	return (t_done());
}
