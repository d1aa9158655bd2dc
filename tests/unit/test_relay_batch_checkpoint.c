/*
 * test_relay_batch_checkpoint.c: an agency's CHECKPOINTs at the relay
 * (relay/batch.c, batch_check.c), without sockets, with the fixtures of
 * tests/lib/trelay.c: at most one logged per checkpoint_interval, and
 * only small plain notes of the agency's own log (issue 13, hole 4); the
 * others refused and logged, not NACKed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/harness.h"
#include "../lib/trelay.h"
#include "envelope.h"
#include "log.h"
#include "note.h"
#include "relay_int.h"

/* ${from}'s CHECKPOINT envelope carrying ${note} arrives. */
static int
arrive_checkpoint(struct relay *r, struct ident *from, const uint8_t *note,
    size_t nlen)
{
	uint8_t *b;
	size_t n;
	int rc;

	if ((rc = make_env(from, "relay", ENV_CHECKPOINT, NULL, NULL, note,
	    nlen, &b, &n)) != 0)
		return (rc);
	arrive(r, from->id, b, n);
	free(b);
	return (0);
}

/* ${from} sends a plain checkpoint of its own log at ${size}. */
static int
own_checkpoint(struct relay *r, struct ident *from, uint64_t size)
{
	char origin[FERRY_ID_MAX + 8];
	uint8_t *note;
	size_t n;
	int rc;

	snprintf(origin, sizeof(origin), "ferry/%s", from->id);
	if ((rc = make_note(from, origin, size, 0, &note, &n)) != 0)
		return (rc);
	rc = arrive_checkpoint(r, from, note, n);
	free(note);
	return (rc);
}

TEST(checkpoint_once_per_interval)
{
	struct relay *r = relay_new();
	uint64_t size0;

	CHECK(r != NULL);
	size0 = log_size(r->log);
	CHECK_EQ(own_checkpoint(r, alpha, 5), 0);
	CHECK_EQ(r->items[0].kind, IT_CHECKPOINT);
	/* A newer one within the interval: skipped, counted. */
	CHECK_EQ(own_checkpoint(r, alpha, 6), 0);
	CHECK_EQ(r->items[1].kind, IT_SKIP);
	CHECK_EQ(r->m.checkpoints_skipped, 1);
	/* Another agency's is its own matter. */
	CHECK_EQ(own_checkpoint(r, bravo, 2), 0);
	CHECK_EQ(r->items[2].kind, IT_CHECKPOINT);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 2);
	CHECK_EQ(nsent, 0);
	/* Again within the interval, in a later batch: skipped. */
	CHECK_EQ(own_checkpoint(r, alpha, 7), 0);
	CHECK_EQ(r->items[0].kind, IT_SKIP);
	CHECK_EQ(r->m.checkpoints_skipped, 2);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 2);
	/* Once the interval has passed, the next newer one is logged; an
	 * older one, or one of the held size with another root (these
	 * notes have random roots), is not: it is behind or forked from
	 * the one held, refused FERRY_EINCONSISTENT and NACKed (the agency
	 * told its log was restored or rewritten), not counted as skipped. */
	peer_get(r, "alpha", 0)->cp_ms -= conf.checkpoint_ms;
	CHECK_EQ(own_checkpoint(r, alpha, 4), 0);
	CHECK_EQ(r->items[0].kind, IT_REFUSE);
	CHECK_EQ(r->items[0].code, FERRY_EINCONSISTENT);
	CHECK_EQ(r->items[0].nack, 1);
	CHECK_EQ(own_checkpoint(r, alpha, 5), 0);
	CHECK_EQ(r->items[1].kind, IT_REFUSE);
	CHECK_EQ(r->m.checkpoints_behind, 2);
	CHECK_EQ(own_checkpoint(r, alpha, 8), 0);
	CHECK_EQ(r->items[2].kind, IT_CHECKPOINT);
	CHECK_EQ(r->m.checkpoints_skipped, 2);
	CHECK_EQ(turn(r), 0);
	/* The checkpoint of 8 and one REFUSED entry (one a second). */
	CHECK_EQ(log_size(r->log), size0 + 4);
	relay_done(r);
}

TEST(checkpoint_small_and_plain_only)
{
	struct relay *r = relay_new();
	uint8_t *note = NULL, *cos = NULL;
	size_t n, cn;
	uint64_t size0;
	size_t i;

	CHECK(r != NULL);
	size0 = log_size(r->log);
	/* Over 1 KiB (here a 3.5 KiB extension line): FERRY_ETOOBIG. */
	CHECK_EQ(make_note(alpha, "ferry/alpha", 5, 3584, &note, &n), 0);
	CHECK(n > 1024 && n <= LOG_AUX_MAX);
	CHECK_EQ(arrive_checkpoint(r, alpha, note, n), 0);
	free(note);
	/* Small, but with an extension line: FERRY_EBADVALUE. */
	CHECK_EQ(make_note(alpha, "ferry/alpha", 6, 100, &note, &n), 0);
	CHECK(n < 1024);
	CHECK_EQ(note_verify(note, n, "ferry/alpha", alpha->sign_pk), 0);
	CHECK_EQ(arrive_checkpoint(r, alpha, note, n), 0);
	free(note);
	/* Two signature lines (cosigned): FERRY_EBADVALUE. */
	CHECK_EQ(make_note(alpha, "ferry/alpha", 7, 0, &note, &n), 0);
	CHECK_EQ(note_cosign(note, n, "ferry/bravo", bravo->sign_sk, 1, &cos,
	    &cn), 0);
	CHECK_EQ(arrive_checkpoint(r, alpha, cos, cn), 0);
	free(cos);
	free(note);
	/* Another party's log: FERRY_ESENDER. */
	CHECK_EQ(make_note(alpha, "ferry/bravo", 8, 0, &note, &n), 0);
	CHECK_EQ(arrive_checkpoint(r, alpha, note, n), 0);
	free(note);
	CHECK_EQ(r->nitems, 4);
	for (i = 0; i < 4; i++)
		CHECK_EQ(r->items[i].kind, IT_REFUSE);
	CHECK_EQ(r->items[0].code, FERRY_ETOOBIG);
	CHECK_EQ(r->items[1].code, FERRY_EBADVALUE);
	CHECK_EQ(r->items[2].code, FERRY_EBADVALUE);
	CHECK_EQ(r->items[3].code, FERRY_ESENDER);
	/* Refused, not NACKed; one REFUSED entry (rate-limited), no
	 * CHECKPOINT entry; a plain one is still logged afterwards. */
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(log_size(r->log), size0 + 1);
	CHECK_EQ(r->m.refused[-FERRY_EBADVALUE], 2);
	CHECK_EQ(own_checkpoint(r, alpha, 9), 0);
	CHECK_EQ(r->items[0].kind, IT_CHECKPOINT);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 2);
	relay_done(r);
}

/*
 * Review of session 10: a checkpoint dropped because the disk was full is
 * not logged, so it must not count: the agency's next one (even the same
 * note) is neither "nothing new" nor "too soon" because of it.
 */
TEST(checkpoint_unlogged_not_counted)
{
	struct relay *r = relay_new();
	uint64_t size0;

	CHECK(r != NULL);
	if (r == NULL)
		return;
	size0 = log_size(r->log);
	CHECK_EQ(own_checkpoint(r, alpha, 5), 0);
	CHECK_EQ(r->items[0].kind, IT_CHECKPOINT);
	r->fail_commits = 1;
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0);
	CHECK_EQ(r->m.disk_full, 1);
	r->m.disk_full = 0;	/* space again */
	CHECK_EQ(own_checkpoint(r, alpha, 5), 0);
	CHECK_EQ(r->items[0].kind, IT_CHECKPOINT);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 1);
	CHECK_EQ(r->m.checkpoints_skipped, 0);
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
	RUN(checkpoint_once_per_interval);
	RUN(checkpoint_unlogged_not_counted);
	RUN(checkpoint_small_and_plain_only);
	roster_free(ro);
	tnet_free();
	return (t_done());
}
