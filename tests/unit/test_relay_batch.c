/*
 * test_relay_batch.c: the group commit's policy (batch_drain,
 * relay/batch.c) and the checks of a batch on threads (batch_check.c,
 * proto/workers.c), without sockets, with the fixtures of
 * tests/lib/trelay.c.  A lone message is committed in the turn it
 * arrives, a batch grows to what is waiting (bounded by batch_max),
 * counted in synced commits (log_commits); a turn opens as many log read
 * snapshots whatever the number of its messages; the relay's own ids
 * come from a pool of random bytes; a batch checked on two threads gets
 * the same verdicts, answers and log as one checked alone.  The one of
 * the relay's batch tests that runs threads of its own (make tsan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../lib/harness.h"
#include "../lib/trelay.h"
#include "envelope.h"
#include "log.h"
#include "relay_int.h"
#include "workers.h"

/* ---- the group commit's policy (batch_drain) ---- */

/* A socket's worth of envelopes that arrived during the last commit:
 * batch_drain's source; counts how often it was asked. */
#define SRC_MAX 64
struct src {
	const char *from[SRC_MAX];
	uint8_t *b[SRC_MAX];
	size_t n[SRC_MAX];
	size_t count, next, asked;
};

static int
src_take(struct relay *r, void *ctx, size_t *bytes)
{
	struct src *s = ctx;

	s->asked++;
	if (s->next == s->count)
		return (0);	/* nothing more waiting: EAGAIN */
	*bytes += s->n[s->next];
	batch_add(r, peer_get(r, s->from[s->next], 1), s->b[s->next],
	    s->n[s->next], 1);
	s->next++;
	return (1);
}

static void
src_free(struct src *s)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		free(s->b[i]);
	memset(s, 0, sizeof(*s));
}

/* ${k} new MSGs of alpha's to bravo waiting; their ids in ${ids}. */
static int
src_msgs(struct src *s, size_t k, uint8_t ids[][FERRY_MSGID_LEN])
{
	uint8_t h[32];
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < k && i < SRC_MAX; i++) {
		if (make_msg(ids[i], h, &s->b[i], &s->n[i]) != 0)
			return (-1);
		s->from[i] = "alpha";
		s->count++;
	}
	return (0);
}

/*
 * Issue 10 (relay CPU): one turn of N new MSGs opens the same number of
 * log read snapshots whatever N: one to check the batch (duplicate
 * lookups), one after the commit (the checkpoint, every ACCEPTED_P's
 * entry and audit path), not several per message (it was 4 a MSG: two
 * lookups, the entry, the path).  Each ACCEPTED_P still verifies, and a
 * later turn's reads see the commit: the same MSGs again, the hold never
 * turned off, are duplicates at the same indices.
 */
static int
snapshots_of_turn(size_t k, uint64_t *used)
{
	struct relay *r = relay_new();
	uint8_t ids[24][FERRY_MSGID_LEN];
	uint64_t t0, idx[24], again;
	struct env e;
	struct src s;
	size_t i;
	int bad = 0;

	if (r == NULL || k > 24 || src_msgs(&s, k, ids) != 0)
		return (-1);
	t0 = log_read_txns(r->log);
	if (batch_drain(r, src_take, &s) != k || turn(r) != 0 || nsent != k)
		bad = 1;
	*used = log_read_txns(r->log) - t0;
	for (i = 0; i < k && !bad; i++)
		if (accepted_of(i, ids[i], &idx[i]) != 0 ||
		    sent_type(i, &e) != ENV_ACCEPTED_P ||
		    env_verify_proof(&e, relay->sign_pk, NULL) != 0)
			bad = 1;
	/* The same k again in a later turn, still held: duplicates. */
	sent_clear();
	s.next = 0;
	if (!bad && (batch_drain(r, src_take, &s) != k ||
	    r->items[0].kind != IT_DUP || turn(r) != 0 || nsent != k))
		bad = 1;
	for (i = 0; i < k && !bad; i++)
		if (accepted_of(i, ids[i], &again) != 0 || again != idx[i])
			bad = 1;
	log_hold(r->log, 0);
	src_free(&s);
	relay_done(r);
	return (bad ? -1 : 0);
}

TEST(read_snapshots_per_turn_not_per_msg)
{
	uint64_t one = 0, many = 0;

	CHECK_EQ(snapshots_of_turn(1, &one), 0);
	CHECK_EQ(snapshots_of_turn(24, &many), 0);
	CHECK_EQ(many, one);
	CHECK(one <= 2);
}

/*
 * The ids of the relay's own envelopes take their random part from a
 * pool drawn 64 at a time (one getrandom call per 64 answers): 200
 * ACCEPTED_Ps in one turn have 200 different ids, each time-ordered
 * (ids made later sort later) and with 4 draws, not 200.
 */
TEST(relay_ids_pooled_and_distinct)
{
	struct relay *r = relay_new();
	uint8_t ids[SRC_MAX][FERRY_MSGID_LEN], got[200][FERRY_MSGID_LEN];
	uint64_t d0;
	struct env e;
	struct src s;
	size_t i, j, n = 0;
	int dup = 0, order = 1;

	CHECK(r != NULL);
	d0 = r->rnd.draws;
	/* 4 turns of 50 (SRC_MAX is 64): 200 answers. */
	for (j = 0; j < 4; j++) {
		CHECK_EQ(src_msgs(&s, 50, ids), 0);
		CHECK_EQ(batch_drain(r, src_take, &s), 50);
		CHECK_EQ(turn(r), 0);
		for (i = 0; i < nsent && n < 200; i++)
			if (sent_type(i, &e) == ENV_ACCEPTED_P)
				memcpy(got[n++], e.id, FERRY_MSGID_LEN);
		sent_clear();
		src_free(&s);
	}
	log_hold(r->log, 0);
	CHECK_EQ(n, 200);
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++)
			dup |= memcmp(got[i], got[j], FERRY_MSGID_LEN) == 0;
		if (i > 0 && memcmp(got[i - 1], got[i], ENV_ID_TIME_LEN) > 0)
			order = 0;
	}
	CHECK(!dup);
	CHECK(order);
	/* 200 ids of 10 random bytes from pools of RPOOL_BYTES: 2000
	 * bytes, 2 draws (the commits' checkpoints draw none). */
	CHECK_EQ(r->rnd.draws - d0,
	    (200 * (FERRY_MSGID_LEN - ENV_ID_TIME_LEN) + RPOOL_BYTES - 1) /
	    RPOOL_BYTES);
	relay_done(r);
}

/*
 * Issue 10, step 7: a message alone is committed and answered in the
 * turn it arrives: the drain stops as soon as nothing more is waiting
 * (no timer, no batch-size threshold), one synced commit (log_commits),
 * its ACCEPTED sent.
 */
TEST(lone_msg_committed_at_once)
{
	struct relay *r = relay_new();
	uint8_t ids[1][FERRY_MSGID_LEN];
	struct src s;
	uint64_t c0;

	CHECK(r != NULL);
	CHECK_EQ(src_msgs(&s, 1, ids), 0);
	c0 = log_commits(r->log);
	CHECK_EQ(batch_drain(r, src_take, &s), 1);
	CHECK_EQ(s.asked, 2);		/* the one, then "nothing waiting" */
	CHECK_EQ(r->items[0].kind, IT_ACCEPT);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_commits(r->log), c0 + 1);
	CHECK_EQ(nsent, 1);
	CHECK_EQ(accepted_of(0, ids[0], &c0), 0);
	CHECK_EQ(lookup(r, ids[0], NULL, NULL), QUEUE_QUEUED);
	src_free(&s);
	relay_done(r);
}

/*
 * Issue 10, step 7: under load a batch is whatever arrived during the
 * previous commit: 40 waiting go in ONE synced commit, answered in the
 * order they came with increasing log indices; batch_max still bounds a
 * turn (16: three commits for 40).
 */
TEST(batch_grows_under_load)
{
	struct relay *r = relay_new();
	uint8_t ids[40][FERRY_MSGID_LEN];
	struct src s;
	uint64_t c0, idx, size0;
	size_t i, turns;

	CHECK(r != NULL);
	CHECK_EQ(src_msgs(&s, 40, ids), 0);
	c0 = log_commits(r->log);
	size0 = log_size(r->log);
	CHECK_EQ(batch_drain(r, src_take, &s), 40);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_commits(r->log), c0 + 1);
	CHECK_EQ(nsent, 40);
	for (i = 0; i < 40; i++) {
		CHECK_EQ(accepted_of(i, ids[i], &idx), 0);
		CHECK_EQ(idx, size0 + i);	/* in the order they came */
	}
	CHECK_EQ(r->m.accepted, 40);
	src_free(&s);
	sent_clear();
	conf.batch_max = 16;
	CHECK_EQ(src_msgs(&s, 40, ids), 0);
	c0 = log_commits(r->log);
	for (turns = 0; turns < 10 && s.next < s.count; turns++) {
		CHECK(batch_drain(r, src_take, &s) <= 16);
		CHECK_EQ(turn(r), 0);
	}
	CHECK_EQ(turns, 3);
	CHECK_EQ(log_commits(r->log), c0 + 3);
	CHECK_EQ(nsent, 40);
	src_free(&s);
	relay_done(r);
}

/*
 * Issue 10 step 6: a turn's envelopes are checked (hash, decoding,
 * sender, signature) on verify_threads threads, then acted on in order on
 * the loop's: the same batch through a relay checking on two threads and
 * through one checking alone gives the same verdict for every envelope,
 * the same answers in the same order and the same log.  The batch mixes
 * new MSGs, one with a broken signature, one sent on the wrong agency's
 * connection, a duplicate of an earlier one of the batch, bytes that are
 * no envelope, a HEARTBEAT (answered at once), a HELLO and a CREDIT (the
 * window they leave is the last one's), the recipient's RECEIPT of a
 * message queued in an earlier turn, the sender's ASK about another, the
 * recipient's NACK of a third (a referral it refused), an agency's
 * CHECKPOINT.  And the second relay really
 * shared the work: its pool checked some of the envelopes (up to 20
 * turns are tried: a pool whose thread never helps fails).
 */
#define MIX 40

/* Three MSGs of alpha's, queued in an earlier turn (the same bytes for
 * each relay of the test), that the mixed batch receipts, asks about and
 * NACKs. */
#define PRE 3
static uint8_t pre_id[PRE][FERRY_MSGID_LEN], pre_h[PRE][32], *pre_m[PRE];
static size_t pre_n[PRE];

static int
pre_queue(struct relay *r)
{
	int k;

	for (k = 0; k < PRE; k++)
		if (committed(r, "alpha", pre_m[k], pre_n[k], pre_id[k],
		    QUEUE_QUEUED) != 0)
			return (-1);
	return (0);
}

static int
mixed_batch(struct src *s)
{
	uint8_t id[FERRY_MSGID_LEN], h[32];
	size_t i;

	for (i = 0; i < PRE; i++)
		if (make_msg(pre_id[i], pre_h[i], &pre_m[i], &pre_n[i]) != 0)
			return (-1);

	memset(s, 0, sizeof(*s));
	for (i = 0; i < MIX; i++) {
		s->from[i] = "alpha";
		if (i == 3) {		/* a broken signature */
			if (make_msg(id, h, &s->b[i], &s->n[i]) != 0)
				return (-1);
			s->b[i][s->n[i] - 1] ^= 0x01;
		} else if (i == 5) {	/* alpha's MSG on bravo's connection */
			if (make_msg(id, h, &s->b[i], &s->n[i]) != 0)
				return (-1);
			s->from[i] = "bravo";
		} else if (i == 8) {	/* the first one again */
			if ((s->b[i] = malloc(s->n[0])) == NULL)
				return (-1);
			memcpy(s->b[i], s->b[0], s->n[0]);
			s->n[i] = s->n[0];
		} else if (i == 10) {	/* not an envelope */
			if ((s->b[i] = malloc(7)) == NULL)
				return (-1);
			memcpy(s->b[i], "garbage", 7);
			s->n[i] = 7;
		} else if (i == 25) {	/* bravo's RECEIPT of the first */
			if (make_env(bravo, "alpha", ENV_RECEIPT, pre_id[0],
			    pre_h[0], NULL, 0, &s->b[i], &s->n[i]) != 0)
				return (-1);
			s->from[i] = "bravo";
		} else if (i == 27) {	/* alpha ASKs about the second */
			if (make_env(alpha, "relay", ENV_ASK, pre_id[1],
			    pre_h[1], NULL, 0, &s->b[i], &s->n[i]) != 0)
				return (-1);
		} else if (i == 33) {	/* bravo NACKs the third */
			struct env e;

			memset(&e, 0, sizeof(e));
			e.version = ENV_VERSION;
			e.type = ENV_NACK;
			env_new_id(e.id);
			snprintf(e.from, sizeof(e.from), "bravo");
			snprintf(e.to, sizeof(e.to), "alpha");
			e.time = ferry_now_ms();
			memcpy(e.msg_id, pre_id[2], FERRY_MSGID_LEN);
			memcpy(e.env_hash, pre_h[2], 32);
			e.code = (uint32_t)-FERRY_ESCHEMA;
			e.reason = "referral refused";
			e.reason_len = strlen(e.reason);
			e.roster_version = 1;
			if (env_encode(&e, bravo->sign_sk, &s->b[i],
			    &s->n[i]) != 0)
				return (-1);
			s->from[i] = "bravo";
		} else if (i == 30) {	/* bravo's checkpoint of its log */
			uint8_t *note;
			size_t nn;
			int rc;

			if (make_note(bravo, "ferry/bravo", 5, 0, &note,
			    &nn) != 0)
				return (-1);
			rc = make_env(bravo, "relay", ENV_CHECKPOINT, NULL, NULL,
			    note, nn, &s->b[i], &s->n[i]);
			free(note);
			if (rc != 0)
				return (-1);
			s->from[i] = "bravo";
		} else if (i == 12 || i == 15 || i == 20) {
			struct env e;

			memset(&e, 0, sizeof(e));
			e.version = ENV_VERSION;
			e.type = i == 12 ? ENV_HEARTBEAT : i == 15 ? ENV_HELLO :
			    ENV_CREDIT;
			env_new_id(e.id);
			snprintf(e.from, sizeof(e.from), "bravo");
			snprintf(e.to, sizeof(e.to), "relay");
			e.time = ferry_now_ms();
			e.roster_version = 1;
			e.credit = i == 15 ? 7 : 5;
			if (env_encode(&e, bravo->sign_sk, &s->b[i],
			    &s->n[i]) != 0)
				return (-1);
			s->from[i] = "bravo";
		} else if (make_msg(id, h, &s->b[i], &s->n[i]) != 0)
			return (-1);
		s->count++;
	}
	return (0);
}

TEST(batch_on_threads_same_as_one)
{
	struct relay *one = relay_new(), *two;
	struct src s;
	int kinds[MIX], codes[MIX], types[64];
	uint8_t hashes[MIX][32], want[32];
	size_t n1, i, tries;
	uint64_t size1;
	struct env e;

	CHECK(one != NULL);
	CHECK_EQ(mixed_batch(&s), 0);
	CHECK(one->workers == NULL);
	CHECK_EQ(pre_queue(one), 0);
	CHECK_EQ(batch_drain(one, src_take, &s), MIX);
	for (i = 0; i < MIX; i++) {
		kinds[i] = one->items[i].kind;
		codes[i] = one->items[i].code;
		memcpy(hashes[i], one->items[i].hash, 32);
		crypto_hash_sha256(want, s.b[i], s.n[i]);
		CHECK(memcmp(hashes[i], want, 32) == 0);
	}
	CHECK_EQ(kinds[0], IT_ACCEPT);
	CHECK(kinds[3] == IT_REFUSE && codes[3] == FERRY_EBADSIG);
	CHECK(kinds[5] == IT_REFUSE && codes[5] == FERRY_ESENDER);
	CHECK_EQ(kinds[8], IT_DUP);
	CHECK(kinds[10] == IT_REFUSE && codes[10] != 0);
	CHECK_EQ(kinds[12], IT_SKIP);
	CHECK(kinds[15] == IT_SKIP && kinds[20] == IT_SKIP);
	CHECK_EQ(kinds[25], IT_RECEIPT);
	CHECK_EQ(kinds[30], IT_CHECKPOINT);
	CHECK_EQ(kinds[33], IT_RNACK);
	CHECK_EQ(peer_get(one, "bravo", 0)->window, 5);	/* the CREDIT's */
	CHECK_EQ(turn(one), 0);
	log_hold(one->log, 0);
	n1 = nsent;
	/* all but HELLO, CREDIT, the ASK and the CHECKPOINT */
	CHECK(n1 >= MIX - 4 && n1 <= 64);
	for (i = 0; i < n1 && i < 64; i++)
		types[i] = (int)sent_type(i, &e);
	size1 = log_size(one->log);
	relay_done(one);

	for (tries = 0; tries < 20; tries++) {
		uint64_t helped;

		CHECK((two = relay_new()) != NULL);
		if (two == NULL)
			break;
		CHECK((two->workers = workers_new(2)) != NULL);
		CHECK_EQ(pre_queue(two), 0);
		s.next = 0;
		CHECK_EQ(batch_drain(two, src_take, &s), MIX);
		for (i = 0; i < MIX; i++) {
			CHECK_EQ(two->items[i].kind, kinds[i]);
			CHECK_EQ(two->items[i].code, codes[i]);
			CHECK(memcmp(two->items[i].hash, hashes[i], 32) == 0);
		}
		CHECK_EQ(peer_get(two, "bravo", 0)->window, 5);
		CHECK_EQ(turn(two), 0);
		log_hold(two->log, 0);
		CHECK_EQ(nsent, n1);
		for (i = 0; i < n1 && i < nsent && i < 64; i++)
			CHECK_EQ(sent_type(i, &e), types[i]);
		CHECK_EQ(log_size(two->log), size1);
		helped = workers_helped(two->workers);
		workers_free(two->workers);
		two->workers = NULL;
		relay_done(two);
		if (helped > 0)
			break;
	}
	CHECK(tries < 20);	/* the pool's thread checked some */
	src_free(&s);
	for (i = 0; i < PRE; i++)
		free(pre_m[i]);
}

int
main(void)
{

	t_init();
	if (setup() != 0) {
		printf("not ok - setup\n");
		return (1);
	}
	RUN(lone_msg_committed_at_once);
	RUN(batch_grows_under_load);
	RUN(read_snapshots_per_turn_not_per_msg);
	RUN(relay_ids_pooled_and_distinct);
	RUN(batch_on_threads_same_as_one);
	roster_free(ro);
	tnet_free();
	return (t_done());
}
