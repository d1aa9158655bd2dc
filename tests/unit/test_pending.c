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
	return (t_done());
}
