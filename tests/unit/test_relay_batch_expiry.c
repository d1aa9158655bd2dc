/*
 * test_relay_batch_expiry.c: the relay's expiry of undelivered messages
 * (relay/batch.c, the sweep) without sockets, with the fixtures of
 * tests/lib/trelay.c.  A message past its expiry that was in flight to
 * its recipient when the recipient's route reset (its link dropped, it
 * restarted, it said HELLO) is kept RESET_GRACE_MS more, for the
 * redelivery that makes the recipient send again a RECEIPT the link may
 * have lost: its late RECEIPT is then forwarded, the sender never told
 * it expired.  Past that grace it expires as before.  What the sweep
 * would expire is never forwarded (batch_expired, asked by loop.c's
 * pump).
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

static void
wait_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	(void)nanosleep(&ts, NULL);
}

/* Sent to alpha since sent_clear: a NACK FERRY_EEXPIREDMSG (1), a
 * RECEIPT (2), both (3), or neither (0). */
static int
told_alpha(void)
{
	struct env e;
	size_t i;
	int got = 0;

	for (i = 0; i < nsent; i++) {
		uint32_t t = sent_type(i, &e);

		if (t == ENV_NACK && -(int)e.code == FERRY_EEXPIREDMSG)
			got |= 1;
		if (t == ENV_RECEIPT || t == ENV_RECEIPT_P)
			got |= 2;
	}
	return (got);
}

/* bravo's message ${id} (seq ${seq}) sent to it: in flight. */
static struct peer *
in_flight(struct relay *r, uint64_t seq)
{
	struct peer *p = peer_get(r, "bravo", 0);

	if (p == NULL)
		return (NULL);
	p->window = 10;
	if (peer_fl_add(p, seq, rutil_mono_ms(), 100) != 0)
		return (NULL);
	p->cursor = seq;
	return (p);
}

TEST(late_receipt_after_route_reset)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *rc = NULL;
	struct peer *p;
	size_t rn;

	CHECK(r != NULL);
	if (r == NULL)
		return;
	CHECK_EQ(queued_msg(r, id, h), 0);
	route(r, "bravo");
	conf.expiry_ms = 1;
	wait_ms(5);
	CHECK((p = in_flight(r, 1)) != NULL);
	if (p == NULL)
		goto out;
	sent_clear();
	(void)batch_sweep(r, ferry_now_ms());
	CHECK_EQ(r->nitems, 0);		/* in flight: kept (review H3a) */
	/* bravo has stored it; its link drops before its RECEIPT arrives. */
	peer_offline(r, p, "test");
	(void)batch_sweep(r, ferry_now_ms());
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(told_alpha() & 1, 0);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_QUEUED);
	/* Back, the message redelivered: its RECEIPT goes to the sender. */
	route(r, "bravo");
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, h, NULL, 0, &rc,
	    &rn), 0);
	arrive(r, "bravo", rc, rn);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(told_alpha(), 2);
	CHECK(lookup(r, id, NULL, NULL) != QUEUE_QUEUED);
out:
	free(rc);
	relay_done(r);
}

TEST(expired_after_reset_grace)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32];
	struct peer *p;

	CHECK(r != NULL);
	if (r == NULL)
		return;
	CHECK_EQ(queued_msg(r, id, h), 0);
	route(r, "bravo");
	conf.expiry_ms = 1;
	wait_ms(5);
	CHECK((p = in_flight(r, 1)) != NULL);
	if (p == NULL)
		goto out;
	peer_offline(r, p, "test");
	/* The grace over, the recipient still away: expired. */
	p->reset_ms -= RESET_GRACE_MS;
	sent_clear();
	(void)batch_sweep(r, ferry_now_ms());
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(told_alpha(), 1);
	CHECK(lookup(r, id, NULL, NULL) != QUEUE_QUEUED);
out:
	relay_done(r);
}

/*
 * What pump (loop.c) never forwards is what the sweep expires
 * (batch_expired): past its expiry, unless in flight to the connected
 * recipient or in flight when its route reset (RESET_GRACE_MS); a relay
 * just started (restored from a backup) holds no such state.
 */
TEST(expired_is_what_the_sweep_expires)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32];
	struct queue_msg qm;
	struct peer *p;

	CHECK(r != NULL);
	if (r == NULL)
		return;
	CHECK_EQ(queued_msg(r, id, h), 0);
	CHECK_EQ(queue_get(r->q, 1, &qm), 0);
	CHECK_EQ(batch_expired(r, &qm, ferry_now_ms()), 0);	/* young */
	conf.expiry_ms = 1;
	wait_ms(5);
	/* Just started, its recipient connecting: due, not to be sent. */
	route(r, "bravo");
	CHECK_EQ(batch_expired(r, &qm, ferry_now_ms()), 1);
	/* In flight to the connected recipient: kept (H3a). */
	CHECK((p = in_flight(r, 1)) != NULL);
	if (p == NULL)
		goto out;
	CHECK_EQ(batch_expired(r, &qm, ferry_now_ms()), 0);
	/* Its route reset: kept for the redelivery, within the grace. */
	peer_offline(r, p, "test");
	route(r, "bravo");
	CHECK_EQ(p->inflight, 0);
	CHECK_EQ(batch_expired(r, &qm, ferry_now_ms()), 0);
	p->reset_ms -= RESET_GRACE_MS;
	CHECK_EQ(batch_expired(r, &qm, ferry_now_ms()), 1);
	/* And the sweep expires exactly it: NACK to alpha. */
	sent_clear();
	(void)batch_sweep(r, ferry_now_ms());
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(told_alpha(), 1);
	CHECK(lookup(r, id, NULL, NULL) != QUEUE_QUEUED);
out:
	queue_msg_clear(&qm);
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
	RUN(late_receipt_after_route_reset);
	RUN(expired_after_reset_grace);
	RUN(expired_is_what_the_sweep_expires);
	roster_free(ro);
	tnet_free();
	return (t_done());
}
