/*
 * test_relay_batch_retention.c: the relay's finished records
 * (relay/batch.c, queue.c), without sockets, with the fixtures of
 * tests/lib/trelay.c.  They are pruned by the sweep once `retention` has
 * passed since they finished, and what is asked about them afterwards is
 * answered from the relay's log; records finished before the index of
 * finished records existed are indexed once, at the next open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/harness.h"
#include "../lib/trelay.h"
#include "envelope.h"
#include "log.h"
#include "relay_int.h"

/* A MSG of alpha's to bravo committed (one turn); its envelope in *${m}. */
static int
sent_msg(struct relay *r, uint8_t id[FERRY_MSGID_LEN], uint8_t hash[32],
    uint8_t **m, size_t *n)
{
	int rc;

	if ((rc = make_msg(id, hash, m, n)) != 0)
		return (rc);
	return (committed(r, "alpha", *m, *n, id, QUEUE_QUEUED));
}

static int
count_one(void *ctx, uint64_t a, const uint8_t *b, size_t n)
{

	(*(size_t *)ctx)++;
	return (0);
}

static int
count_done(void *ctx, uint64_t done_ms, const uint8_t *id)
{

	(*(size_t *)ctx)++;
	return (0);
}

/* Finished records in q.done. */
static size_t
ndone(struct relay *r)
{
	size_t n = 0;

	(void)queue_finished(r->q, count_done, &n);
	return (n);
}

/* Notices kept for ${id}. */
static size_t
nnotices(struct relay *r, const char *id)
{
	size_t n = 0;

	(void)queue_notices(r->q, id, count_one, &n);
	return (n);
}

/* Let the wall clock move on by at least ${ms}. */
static void
wait_ms(uint64_t ms)
{
	uint64_t t0 = ferry_now_ms();
	struct timespec ts = { 0, 2000000 };

	while (ferry_now_ms() < t0 + ms)
		(void)nanosleep(&ts, NULL);
}

/*
 * Issue 13, item 5.1: finished records (q.ids, with their finals and kept
 * notices) are pruned by the sweep once `retention` has passed since they
 * finished: exactly those, not queued ones nor recent ones.  A duplicate
 * of a recent one is answered from its record; a MSG or ASK about a
 * pruned one is answered from the relay's log (its ACCEPTED index, the
 * RECEIPT logged whole), never taken as new: the log holds one ACCEPTED
 * per id, so taking it again would fail the commit and stop the relay.
 */
TEST(retention_prunes_finished_records)
{
	struct relay *r = relay_new();
	uint8_t id1[FERRY_MSGID_LEN], h1[32], id2[FERRY_MSGID_LEN], h2[32];
	uint8_t id3[FERRY_MSGID_LEN], h3[32], *m1 = NULL, *m2 = NULL;
	uint8_t *m3 = NULL, *r1 = NULL, *r2 = NULL;
	size_t n1, n2, n3, rn1, rn2;
	uint64_t t0, size0, acc1;
	struct env e;

	CHECK(r != NULL);
	conf.retention_ms = 2 * DAY;
	/* id1 finished while alpha is offline (its RECEIPT kept for it). */
	CHECK_EQ(sent_msg(r, id1, h1, &m1, &n1), 0);
	peer_get(r, "alpha", 0)->routed = 0;
	CHECK_EQ(receipted(r, id1, h1, &r1, &rn1), 0);
	route(r, "alpha");
	CHECK_EQ(nnotices(r, "alpha"), 1);
	t0 = ferry_now_ms();
	wait_ms(20);
	/* id2 finished later, id3 still queued. */
	CHECK_EQ(sent_msg(r, id2, h2, &m2, &n2), 0);
	CHECK_EQ(receipted(r, id2, h2, &r2, &rn2), 0);
	CHECK_EQ(sent_msg(r, id3, h3, &m3, &n3), 0);
	CHECK_EQ(ndone(r), 2);
	CHECK_EQ(log_find_msg(r->log, id1, LOG_ACCEPTED, &acc1), 0);
	/* Before retention has passed for any: nothing. */
	CHECK_EQ(batch_sweep(r, t0 + conf.retention_ms - 1000), 0);
	CHECK_EQ(r->nitems, 0);
	/* Past it for id1 only: id1 pruned, record, entry and notice. */
	CHECK_EQ(batch_sweep(r, t0 + conf.retention_ms + 1), 0);
	CHECK_EQ(r->nitems, 1);
	CHECK_EQ(r->items[0].kind, IT_PRUNE);
	size0 = log_size(r->log);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(r->m.pruned, 1);
	CHECK_EQ(log_size(r->log), size0);
	CHECK_EQ(lookup(r, id1, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(lookup(r, id2, NULL, NULL), QUEUE_DONE);
	CHECK_EQ(lookup(r, id3, NULL, NULL), QUEUE_QUEUED);
	CHECK_EQ(ndone(r), 1);
	CHECK_EQ(nnotices(r, "alpha"), 0);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 1);
	/* A duplicate of id2, within retention: from its record. */
	arrive(r, "alpha", m2, n2);
	CHECK_EQ(r->items[0].kind, IT_DUP);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(sent_type(0, &e), ENV_ACCEPTED_P);
	CHECK_EQ(sent[1].n, rn2);
	CHECK(memcmp(sent[1].b, r2, rn2) == 0);
	CHECK_EQ(r->m.pruned_answered, 0);
	sent_clear();
	/* id1 sent again: answered from the log, not taken again. */
	arrive(r, "alpha", m1, n1);
	CHECK_EQ(r->items[0].kind, IT_DUP);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0);
	CHECK_EQ(lookup(r, id1, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 1);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(sent_type(0, &e), ENV_ACCEPTED_P);
	CHECK(memcmp(e.msg_id, id1, FERRY_MSGID_LEN) == 0);
	CHECK_EQ(e.log_index, acc1);
	CHECK_EQ(sent[1].n, rn1);
	CHECK(memcmp(sent[1].b, r1, rn1) == 0);
	sent_clear();
	/* An ASK about it: the RECEIPT from the log. */
	CHECK_EQ(ask(r, alpha, id1, h1), 0);
	CHECK_EQ(nsent, 1);
	CHECK_EQ(sent[0].n, rn1);
	CHECK(memcmp(sent[0].b, r1, rn1) == 0);
	CHECK_EQ(r->m.pruned_answered, 2);
	/* A late RECEIPT for it is ignored, as for any finished message. */
	arrive(r, "bravo", r1, rn1);
	CHECK_EQ(r->items[0].kind, IT_SKIP);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0);
	/* Later, id2's turn; id3, queued, is never pruned. */
	CHECK_EQ(batch_sweep(r, ferry_now_ms() + conf.retention_ms), 0);
	CHECK_EQ(r->nitems, 1);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(lookup(r, id2, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(lookup(r, id3, NULL, NULL), QUEUE_QUEUED);
	CHECK_EQ(ndone(r), 0);
	free(m1);
	free(m2);
	free(m3);
	free(r1);
	free(r2);
	relay_done(r);
}

/* Drop every q.done entry and the q.meta "done" mark (a queue as it was
 * before q.done existed). */
static int
forget_done_index(struct relay *r)
{
	MDB_dbi dd, dm;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, d;
	struct log_batch *b;
	uint8_t keys[8][8 + FERRY_MSGID_LEN];
	size_t n = 0, i;
	int rc;

	if (log_dbi(r->log, "q.done", &dd) != 0 ||
	    log_dbi(r->log, "q.meta", &dm) != 0 ||
	    log_read_begin(r->log, &txn) != 0)
		return (-1);
	if (mdb_cursor_open(txn, dd, &c) != 0) {
		log_read_end(txn);
		return (-1);
	}
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && n < 8;
	    rc = mdb_cursor_get(c, &k, &d, MDB_NEXT))
		memcpy(keys[n++], k.mv_data, sizeof(keys[0]));
	mdb_cursor_close(c);
	log_read_end(txn);
	if (log_begin(r->log, &b) != 0)
		return (-1);
	for (i = 0; i < n; i++)
		if (log_batch_del(b, dd, keys[i], sizeof(keys[i])) != 0) {
			log_abort(b);
			return (-1);
		}
	if (log_batch_del(b, dm, "done", 4) != 0) {
		log_abort(b);
		return (-1);
	}
	return (log_commit(b));
}

/*
 * Records finished before q.done existed get an entry at the next open,
 * finished then (once: a later open changes nothing), so they are pruned
 * a retention period after it.
 */
TEST(retention_index_made_once)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *m = NULL, *rc = NULL;
	size_t n, rn;
	uint64_t t0;

	CHECK(r != NULL);
	conf.retention_ms = 2 * DAY;
	CHECK_EQ(sent_msg(r, id, h, &m, &n), 0);
	CHECK_EQ(receipted(r, id, h, &rc, &rn), 0);
	t0 = ferry_now_ms();
	CHECK_EQ(forget_done_index(r), 0);
	CHECK_EQ(ndone(r), 0);
	wait_ms(20);
	queue_close(r->q);
	r->q = NULL;
	CHECK_EQ(queue_open(r->log, &r->q), 0);
	CHECK_EQ(ndone(r), 1);
	queue_close(r->q);
	r->q = NULL;
	CHECK_EQ(queue_open(r->log, &r->q), 0);
	CHECK_EQ(ndone(r), 1);
	/* Finished "now" at the first open, not when it really did. */
	CHECK_EQ(batch_sweep(r, t0 + conf.retention_ms + 1), 0);
	CHECK_EQ(r->nitems, 0);
	CHECK_EQ(batch_sweep(r, ferry_now_ms() + conf.retention_ms), 0);
	CHECK_EQ(r->nitems, 1);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(ndone(r), 0);
	free(m);
	free(rc);
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
	RUN(retention_prunes_finished_records);
	RUN(retention_index_made_once);
	roster_free(ro);
	tnet_free();
	return (t_done());
}
