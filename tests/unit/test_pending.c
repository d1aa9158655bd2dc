/*
 * test_pending.c: the agent's pending table (agent/pending.c): add, find,
 * change, delete; the messages of each kind taken in order of time;
 * reschedules, HELLO (all due); and a long random run of 100,000
 * messages checked step by step against a plain array.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../lib/harness.h"
#include "astore.h"
#include "ferry.h"
#include "pending.h"

/* Message id ${n}: ids alike but for a few bytes, as time-ordered ids
 * of one millisecond are (env_new_id). */
static void
mkid(uint8_t id[FERRY_MSGID_LEN], uint32_t n)
{

	memset(id, 0x42, FERRY_MSGID_LEN);
	id[12] = (uint8_t)(n >> 24);
	id[13] = (uint8_t)(n >> 16);
	id[14] = (uint8_t)(n >> 8);
	id[15] = (uint8_t)n;
}

TEST(empty)
{
	struct pending *p;
	uint8_t id[FERRY_MSGID_LEN];

	CHECK((p = pending_new()) != NULL);
	mkid(id, 1);
	CHECK_EQ(pending_count(p), 0);
	CHECK(pending_find(p, id) == NULL);
	CHECK(pending_first(p, ASTORE_QUEUED) == NULL);
	CHECK(pending_first(p, ASTORE_ACCEPTED) == NULL);
	pending_del(p, id);		/* absent: no-op */
	pending_all_due(p, 5);
	CHECK_EQ(pending_count(p), 0);
	pending_free(p);
	pending_free(NULL);
}

TEST(add_find_change_delete)
{
	const struct pending_msg *m;
	struct pending *p;
	uint8_t id[FERRY_MSGID_LEN];
	uint32_t i;

	CHECK((p = pending_new()) != NULL);
	for (i = 0; i < 10; i++) {
		mkid(id, i);
		CHECK_EQ(pending_set(p, id, ASTORE_QUEUED, 100 + i), 0);
	}
	CHECK_EQ(pending_count(p), 10);
	mkid(id, 3);
	CHECK((m = pending_find(p, id)) != NULL);
	CHECK(memcmp(m->msg_id, id, FERRY_MSGID_LEN) == 0);
	CHECK_EQ(m->state, ASTORE_QUEUED);
	CHECK_EQ(m->next_try, 103);
	CHECK_EQ(m->attempts, 0);
	/* Rescheduled with attempts, then accepted: the attempts stay
	 * (the caller resets them), state and time change, nothing added. */
	pending_retime(p, m, 500, 4);
	CHECK_EQ(pending_set(p, id, ASTORE_ACCEPTED, 50), 0);
	CHECK_EQ(pending_count(p), 10);
	CHECK((m = pending_find(p, id)) != NULL);
	CHECK_EQ(m->state, ASTORE_ACCEPTED);
	CHECK_EQ(m->next_try, 50);
	CHECK_EQ(m->attempts, 4);
	CHECK((m = pending_first(p, ASTORE_ACCEPTED)) != NULL);
	CHECK(memcmp(m->msg_id, id, FERRY_MSGID_LEN) == 0);
	/* The QUEUED heap lost it: its first is message 0. */
	CHECK((m = pending_first(p, ASTORE_QUEUED)) != NULL);
	CHECK_EQ(m->next_try, 100);
	/* Deleted: gone, the others still found. */
	pending_del(p, id);
	CHECK_EQ(pending_count(p), 9);
	CHECK(pending_find(p, id) == NULL);
	CHECK(pending_first(p, ASTORE_ACCEPTED) == NULL);
	pending_del(p, id);
	CHECK_EQ(pending_count(p), 9);
	for (i = 0; i < 10; i++) {
		mkid(id, i);
		if (i == 3)
			continue;
		CHECK((m = pending_find(p, id)) != NULL);
		CHECK_EQ(m->next_try, 100 + i);
	}
	pending_free(p);
}

TEST(due_in_order)
{
	const struct pending_msg *m;
	struct pending *p;
	uint8_t id[FERRY_MSGID_LEN];
	uint64_t last;
	uint32_t i, n;

	CHECK((p = pending_new()) != NULL);
	/* 1,000 messages, times out of order, a third ACCEPTED. */
	for (i = 0; i < 1000; i++) {
		mkid(id, i);
		CHECK_EQ(pending_set(p, id, i % 3 == 0 ? ASTORE_ACCEPTED :
		    ASTORE_QUEUED, (i * 7919u) % 1000), 0);
	}
	/* Taken first to last per kind, as a tick takes them: each time
	 * rescheduled past the others, so each is seen once, in order. */
	for (n = 0, last = 0; n < 666; n++) {
		CHECK((m = pending_first(p, ASTORE_QUEUED)) != NULL);
		CHECK_EQ(m->state, ASTORE_QUEUED);
		CHECK(m->next_try >= last && m->next_try < 1000);
		last = m->next_try;
		pending_retime(p, m, 5000 + n, m->attempts + 1);
	}
	CHECK((m = pending_first(p, ASTORE_QUEUED)) != NULL);
	CHECK_EQ(m->next_try, 5000);
	CHECK_EQ(m->attempts, 1);
	for (n = 0, last = 0; n < 334; n++) {
		CHECK((m = pending_first(p, ASTORE_ACCEPTED)) != NULL);
		CHECK(m->next_try >= last && m->next_try < 1000);
		last = m->next_try;
		pending_del(p, m->msg_id);
	}
	CHECK(pending_first(p, ASTORE_ACCEPTED) == NULL);
	CHECK_EQ(pending_count(p), 666);
	/* A HELLO: all due now, attempts reset; the order still holds
	 * for reschedules after it. */
	pending_all_due(p, 9000);
	for (i = 0; i < 1000; i++) {
		mkid(id, i);
		if ((m = pending_find(p, id)) == NULL)
			continue;
		CHECK_EQ(m->next_try, 9000);
		CHECK_EQ(m->attempts, 0);
	}
	for (n = 0; n < 666; n++) {
		CHECK((m = pending_first(p, ASTORE_QUEUED)) != NULL);
		CHECK_EQ(m->next_try, 9000);
		pending_retime(p, m, 9001 + n, 1);
	}
	CHECK_EQ(pending_first(p, ASTORE_QUEUED)->next_try, 9001);
	pending_free(p);
}

/* The reference: what the table should hold, as a plain array. */
struct ref {
	uint8_t live;
	uint32_t state, attempts;
	uint64_t next_try;
};

/* The earliest time among the reference's live messages in ${state}. */
static uint64_t
ref_first(const struct ref *r, size_t n, uint32_t state, int *any)
{
	uint64_t t = UINT64_MAX;
	size_t i;

	*any = 0;
	for (i = 0; i < n; i++)
		if (r[i].live && r[i].state == state && r[i].next_try <= t) {
			t = r[i].next_try;
			*any = 1;
		}
	return (t);
}

TEST(large_random_against_reference)
{
	const struct pending_msg *m;
	struct pending *p;
	struct ref *r;
	uint8_t id[FERRY_MSGID_LEN];
	const uint32_t n = 100000;
	uint32_t i, k, op, st, live = 0;
	uint64_t t, seen;
	int any;

	CHECK((p = pending_new()) != NULL);
	CHECK((r = calloc(n, sizeof(*r))) != NULL);
	/* 400,000 random steps over 100,000 ids (adds, changes,
	 * reschedules, deletions), the table grown and shrunk. */
	for (k = 0; k < 400000; k++) {
		i = randombytes_uniform(k < 200000 ? n : n / 2);
		mkid(id, i);
		op = randombytes_uniform(10);
		st = randombytes_uniform(2) ? ASTORE_ACCEPTED : ASTORE_QUEUED;
		t = randombytes_uniform(1000000);
		if (op < 6) {
			CHECK_EQ(pending_set(p, id, st, t), 0);
			if (!r[i].live) {
				r[i].attempts = 0;
				live++;
			}
			r[i].live = 1;
			r[i].state = st;
			r[i].next_try = t;
		} else if (op < 8) {
			m = pending_find(p, id);
			CHECK((m != NULL) == r[i].live);
			if (m == NULL)
				continue;
			pending_retime(p, m, t, op);
			r[i].next_try = t;
			r[i].attempts = op;
		} else {
			pending_del(p, id);
			if (r[i].live)
				live--;
			r[i].live = 0;
		}
		/* Now and then: the first of each kind is the reference's. */
		if (k % 4096 == 0) {
			t = ref_first(r, n, ASTORE_QUEUED, &any);
			m = pending_first(p, ASTORE_QUEUED);
			CHECK((m != NULL) == any);
			CHECK(m == NULL || m->next_try == t);
		}
	}
	CHECK_EQ(pending_count(p), live);
	for (i = 0; i < n; i++) {
		mkid(id, i);
		m = pending_find(p, id);
		CHECK((m != NULL) == r[i].live);
		if (m == NULL)
			continue;
		CHECK_EQ(m->state, r[i].state);
		CHECK_EQ(m->next_try, r[i].next_try);
		CHECK_EQ(m->attempts, r[i].attempts);
	}
	/* Drained kind by kind: every message once, in order of time. */
	for (st = ASTORE_QUEUED, seen = 0; ; ) {
		for (t = 0; (m = pending_first(p, st)) != NULL; seen++) {
			CHECK(m->next_try >= t);
			CHECK_EQ(m->state, st);
			t = m->next_try;
			memcpy(id, m->msg_id, FERRY_MSGID_LEN);
			i = ((uint32_t)id[12] << 24) | ((uint32_t)id[13] << 16) |
			    ((uint32_t)id[14] << 8) | id[15];
			CHECK(i < n && r[i].live && r[i].state == st);
			r[i].live = 0;
			pending_del(p, id);
			CHECK(pending_find(p, id) == NULL);
		}
		if (st == ASTORE_ACCEPTED)
			break;
		st = ASTORE_ACCEPTED;
	}
	CHECK_EQ(seen, live);
	CHECK_EQ(pending_count(p), 0);
	free(r);
	pending_free(p);
}

/* Three relay links: slot i is the relay at roster place order[i]. */
static void
mklinks(struct pending_link *l, const unsigned *order, const int *up,
    const int64_t *rtt)
{
	size_t i;

	memset(l, 0, 3 * sizeof(*l));
	for (i = 0; i < 3; i++) {
		l[i].listed = 1;
		l[i].order = order[i];
		l[i].up = up[i];
		l[i].has_rtt = rtt[i] >= 0;
		l[i].rtt_ms = rtt[i] >= 0 ? (uint64_t)rtt[i] : 0;
	}
}

TEST(choose_order)
{
	static const unsigned order[3] = { 2, 0, 1 };
	struct pending_link l[3];
	int up[3] = { 1, 1, 1 };
	int64_t rtt[3] = { 5, 50, 1 };

	/* The first connected in roster order, whatever the round trips:
	 * slot 1 holds roster place 0. */
	mklinks(l, order, up, rtt);
	CHECK_EQ(pending_choose(l, 3, PENDING_CHOOSE_ORDER, -1), 1);
	/* That one down: roster place 1 (slot 2). */
	l[1].up = 0;
	CHECK_EQ(pending_choose(l, 3, PENDING_CHOOSE_ORDER, -1), 2);
	/* Excluded (failing over from it): the next, slot 0. */
	CHECK_EQ(pending_choose(l, 3, PENDING_CHOOSE_ORDER, 2), 0);
	/* Unlisted (removed from the roster): never chosen. */
	l[0].listed = 0;
	CHECK_EQ(pending_choose(l, 3, PENDING_CHOOSE_ORDER, 2), -1);
	/* None up: none. */
	l[0].listed = 1;
	l[0].up = l[2].up = 0;
	CHECK_EQ(pending_choose(l, 3, PENDING_CHOOSE_ORDER, -1), -1);
}

TEST(choose_fastest)
{
	static const unsigned order[3] = { 0, 1, 2 };
	struct pending_link l[3];
	int up[3] = { 1, 1, 1 };
	int64_t rtt[3] = { 30, 7, 12 };

	mklinks(l, order, up, rtt);
	CHECK_EQ(pending_choose(l, 3, PENDING_CHOOSE_FASTEST, -1), 1);
	/* The fastest down: the next fastest. */
	l[1].up = 0;
	CHECK_EQ(pending_choose(l, 3, PENDING_CHOOSE_FASTEST, -1), 2);
	/* Ties: roster order. */
	l[1].up = 1;
	l[0].rtt_ms = l[1].rtt_ms = l[2].rtt_ms = 9;
	CHECK_EQ(pending_choose(l, 3, PENDING_CHOOSE_FASTEST, -1), 0);
	/* A link never measured comes after every measured one. */
	l[0].has_rtt = 0;
	CHECK_EQ(pending_choose(l, 3, PENDING_CHOOSE_FASTEST, -1), 1);
	/* None measured: roster order. */
	l[1].has_rtt = l[2].has_rtt = 0;
	CHECK_EQ(pending_choose(l, 3, PENDING_CHOOSE_FASTEST, -1), 0);
	CHECK_EQ(pending_choose(l, 3, PENDING_CHOOSE_FASTEST, 0), 1);
}

TEST(reroute_failover_and_resend)
{
	static const unsigned order[3] = { 0, 1, 2 };
	struct pending_link l[3];
	struct pending_msg m;
	int up[3] = { 1, 1, 1 };
	int64_t rtt[3] = { -1, -1, -1 };

	mklinks(l, order, up, rtt);
	memset(&m, 0, sizeof(m));
	m.state = ASTORE_QUEUED;
	/* Not routed yet: no reason (the first choice is the caller's). */
	m.link = -1;
	CHECK_EQ(pending_reroute(&m, l, 3, 5000, 2000, 30000, 0), 0);
	/* Sent to link 0 at 1000: stays until failover_after has passed
	 * without ACCEPTED, then LOG_ROUTE_NO_ACCEPT. */
	m.link = 0;
	m.sent_at = 1000;
	CHECK_EQ(pending_reroute(&m, l, 3, 2999, 2000, 30000, 0), 0);
	CHECK_EQ(pending_reroute(&m, l, 3, 3000, 2000, 30000, 0),
	    LOG_ROUTE_NO_ACCEPT);
	/* Its link lost before ACCEPTED: at once, sent or not. */
	l[0].up = 0;
	l[0].down_since = 1500;
	CHECK_EQ(pending_reroute(&m, l, 3, 1600, 2000, 30000, 0),
	    LOG_ROUTE_LINK_LOST);
	m.sent_at = 0;
	CHECK_EQ(pending_reroute(&m, l, 3, 1600, 2000, 30000, 0),
	    LOG_ROUTE_LINK_LOST);
	/* Its relay removed from the roster: lost too. */
	l[0].up = 1;
	l[0].listed = 0;
	CHECK_EQ(pending_reroute(&m, l, 3, 1600, 2000, 30000, 0),
	    LOG_ROUTE_LINK_LOST);
	l[0].listed = 1;
	/* ACCEPTED by link 0: stays while it is up, however long. */
	m.state = ASTORE_ACCEPTED;
	m.sent_at = 1000;
	CHECK_EQ(pending_reroute(&m, l, 3, 10000000, 2000, 30000, 0), 0);
	/* Down since 1500: resent once resend_after has passed. */
	l[0].up = 0;
	CHECK_EQ(pending_reroute(&m, l, 3, 31499, 2000, 30000, 0), 0);
	CHECK_EQ(pending_reroute(&m, l, 3, 31500, 2000, 30000, 0),
	    LOG_ROUTE_RESEND);
	/* Back up: stays (asked about, not resent). */
	l[0].up = 1;
	CHECK_EQ(pending_reroute(&m, l, 3, 31500, 2000, 30000, 0), 0);
	/* Custody unknown (a relay no longer listed): counted from
	 * ${unknown_since}. */
	m.link = -1;
	CHECK_EQ(pending_reroute(&m, l, 3, 39999, 2000, 30000, 10000), 0);
	CHECK_EQ(pending_reroute(&m, l, 3, 40000, 2000, 30000, 10000),
	    LOG_ROUTE_RESEND);
}

TEST(custody_counts)
{
	struct pending *p;
	const struct pending_msg *m;
	uint8_t id[3][FERRY_MSGID_LEN];
	int i;

	CHECK((p = pending_new()) != NULL);
	for (i = 0; i < 3; i++) {
		mkid(id[i], (uint32_t)i);
		CHECK_EQ(pending_set(p, id[i], ASTORE_QUEUED, 10), 0);
		CHECK((m = pending_find(p, id[i])) != NULL);
		CHECK_EQ(m->link, -1);
		pending_route(p, m, 1, 10);
	}
	/* QUEUED ones routed through link 1 are not in its custody. */
	CHECK_EQ(pending_custody(p, 1), 0);
	CHECK_EQ(pending_set(p, id[0], ASTORE_ACCEPTED, 20), 0);
	CHECK_EQ(pending_set(p, id[1], ASTORE_ACCEPTED, 20), 0);
	CHECK_EQ(pending_custody(p, 1), 2);
	/* Moved to link 2's custody (ACCEPTED by it). */
	pending_route(p, pending_find(p, id[1]), 2, 0);
	CHECK_EQ(pending_custody(p, 1), 1);
	CHECK_EQ(pending_custody(p, 2), 1);
	/* Back to QUEUED (resent), then delivered (deleted). */
	CHECK_EQ(pending_set(p, id[1], ASTORE_QUEUED, 30), 0);
	CHECK_EQ(pending_custody(p, 2), 0);
	pending_del(p, id[0]);
	CHECK_EQ(pending_custody(p, 1), 0);
	/* The message moved into the deleted one's place keeps its link. */
	CHECK((m = pending_find(p, id[2])) != NULL);
	CHECK_EQ(m->link, 1);
	CHECK_EQ(pending_custody(p, -1), 0);
	CHECK_EQ(pending_custody(p, PENDING_LINKS), 0);
	pending_free(p);
}

int
main(void)
{

	t_init();
	if (sodium_init() < 0)
		return (1);
	RUN(empty);
	RUN(add_find_change_delete);
	RUN(due_in_order);
	RUN(large_random_against_reference);
	RUN(choose_order);
	RUN(choose_fastest);
	RUN(reroute_failover_and_resend);
	RUN(custody_counts);
	return (t_done());
}
