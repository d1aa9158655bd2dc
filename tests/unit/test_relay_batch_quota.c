/*
 * test_relay_batch_quota.c: the bounds of the relay's queues
 * (relay/batch_check.c, peer.c, config.c), without sockets, with the
 * fixtures of tests/lib/trelay.c.  A sender's share of a recipient's
 * queue, in messages and in bytes, and all queues together are bounded
 * (issue 13, item 5.2): each refused with a transient NACK naming the
 * limit, and counted by it; a failed commit gives the shares back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/harness.h"
#include "../lib/trelay.h"
#include "envelope.h"
#include "relay_int.h"

/* ${from}'s MSG to bravo arrives; the kind of its item (and the limit). */
static int
offer(struct relay *r, struct ident *from, const char **why)
{
	uint8_t id[FERRY_MSGID_LEN], h[32], *m = NULL;
	struct item *it;
	size_t n;

	if (make_msg_from(from, "bravo", id, h, &m, &n) != 0)
		return (-1);
	arrive(r, from->id, m, n);
	free(m);
	it = &r->items[r->nitems - 1];
	*why = it->why;
	return (it->kind == IT_REFUSE ? it->code : it->kind);
}

/*
 * Issue 13, item 5.2: one sender's share of a recipient's queue is
 * bounded (queue_max_per_sender, by default queue_max / 4, and
 * queue_max_bytes_per_sender), so an insider cannot fill an offline
 * partner's queue for everyone; all queues together are bounded too
 * (queue_max_total_bytes).  Each refused FERRY_EQUEUEFULL (NACKed,
 * transient) naming the limit, and counted by it.
 */
TEST(sender_quota_per_recipient)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *rc = NULL;
	const char *why;
	struct env e;
	size_t i, rn;

	CHECK(r != NULL);
	conf.queue_max = 8;		/* alpha's share: 2 */
	CHECK_EQ(queued_msg(r, id, h), 0);
	CHECK_EQ(offer(r, alpha, &why), IT_ACCEPT);
	CHECK_EQ(offer(r, alpha, &why), FERRY_EQUEUEFULL);
	CHECK(why != NULL && strcmp(why, "queue_max_per_sender") == 0);
	/* Another sender still queues for bravo, up to its own share. */
	CHECK_EQ(offer(r, charlie, &why), IT_ACCEPT);
	CHECK_EQ(offer(r, charlie, &why), IT_ACCEPT);
	CHECK_EQ(offer(r, charlie, &why), FERRY_EQUEUEFULL);
	route(r, "charlie");
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 4);
	CHECK_EQ(peer_share(r, "alpha", "bravo", 0)->depth, 2);
	CHECK_EQ(peer_share(r, "charlie", "bravo", 0)->depth, 2);
	CHECK_EQ(r->m.queue_full[QUOTA_SENDER_MSGS], 2);
	/* NACKed, the reason naming the limit. */
	for (i = 0; i < nsent; i++)
		if (sent_type(i, &e) == ENV_NACK)
			break;
	CHECK(i < nsent);
	CHECK(strcmp(sent[i].to, "alpha") == 0);
	CHECK_EQ(-(int)e.code, FERRY_EQUEUEFULL);
	CHECK(e.reason_len > 20 && memmem(e.reason, e.reason_len,
	    "queue_max_per_sender", 20) != NULL);
	sent_clear();
	/* Once bravo took one of alpha's, alpha may queue one more. */
	CHECK_EQ(receipted(r, id, h, &rc, &rn), 0);
	free(rc);
	CHECK_EQ(peer_share(r, "alpha", "bravo", 0)->depth, 1);
	CHECK_EQ(offer(r, alpha, &why), IT_ACCEPT);
	CHECK_EQ(offer(r, alpha, &why), FERRY_EQUEUEFULL);
	CHECK_EQ(turn(r), 0);
	/* In bytes: alpha holds two envelopes; a share of one and a half
	 * refuses a third. */
	conf.queue_max = 100;
	conf.queue_max_bytes_per_sender = r->m.queued_bytes / 4 * 3 / 2;
	CHECK_EQ(offer(r, alpha, &why), FERRY_EQUEUEFULL);
	CHECK(strcmp(why, "queue_max_bytes_per_sender") == 0);
	/* All queues together. */
	conf.queue_max_bytes_per_sender = 0;
	conf.queue_max_total_bytes = r->m.queued_bytes + 100;
	CHECK_EQ(offer(r, alpha, &why), FERRY_EQUEUEFULL);
	CHECK(strcmp(why, "queue_max_total_bytes") == 0);
	CHECK_EQ(r->m.queue_full[QUOTA_SENDER_BYTES], 1);
	CHECK_EQ(r->m.queue_full[QUOTA_TOTAL_BYTES], 1);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 4);
	relay_done(r);
}

/* A failed commit gives the shares back; the default shares. */
TEST(sender_quota_undone_and_defaults)
{
	struct relay *r = relay_new();
	uint64_t m, b;
	const char *why;

	CHECK(r != NULL);
	config_sender_limits(&conf, &m, &b);
	CHECK_EQ(m, 100000 / 4);
	CHECK_EQ(b, (1ULL << 30) / 4);
	conf.queue_max = 3;
	config_sender_limits(&conf, &m, &b);
	CHECK_EQ(m, 1);
	CHECK_EQ(offer(r, alpha, &why), IT_ACCEPT);
	CHECK_EQ(offer(r, alpha, &why), FERRY_EQUEUEFULL);
	CHECK(r->m.queued_bytes > 0);
	r->fail_commits = 1;
	CHECK_EQ(batch_commit(r), FERRY_ENOSPC);
	batch_undo(r);
	CHECK_EQ(peer_share(r, "alpha", "bravo", 0)->depth, 0);
	CHECK_EQ(peer_share(r, "alpha", "bravo", 0)->bytes, 0);
	CHECK_EQ(r->m.queued_bytes, 0);
	CHECK_EQ(offer(r, alpha, &why), IT_ACCEPT);
	CHECK_EQ(turn(r), 0);
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
	RUN(sender_quota_per_recipient);
	RUN(sender_quota_undone_and_defaults);
	roster_free(ro);
	tnet_free();
	return (t_done());
}
