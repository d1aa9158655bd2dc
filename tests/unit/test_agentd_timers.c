/*
 * test_agentd_timers.c: what the agent core (agent/agentd_out.c,
 * agentd_roster.c) does as time passes, without sockets, with the
 * fixtures of tests/lib/tagentd.c and explicit times.  Its timers run on
 * the monotonic clock; a HELLO is sent again until the relay answers; a
 * message in the relay's custody is asked about (ASK) with a growing
 * backoff, never uploaded again unless the relay no longer holds it; the
 * coming expiry of the roster or of our key is warned of once per
 * threshold crossed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../lib/harness.h"
#include "../lib/tagentd.h"
#include "agentd.h"
#include "agentd_int.h"
#include "envelope.h"
#include "pending.h"

/*
 * Review M10: retransmission and link timers run on CLOCK_MONOTONIC, so a
 * step of the wall clock neither stops nor hurries them: the schedule of
 * a new message, the last transmission and the last HELLO are on the
 * monotonic clock, far from wall-clock milliseconds.
 */
TEST(timers_monotonic)
{
	const struct pending_msg *p;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16];
	uint64_t mono, wall = ferry_now_ms();

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	cap_clear(&capA);
	CHECK_EQ(agentd_hello(&A, 0), 0);
	cap_clear(&capA);
	mono = agentd_mono_ms();
	CHECK((p = pending_find(A.pend, id)) != NULL);
	CHECK(p->next_try <= mono);
	CHECK(A.links[0].last_tx <= mono && A.links[0].last_tx + 60000 > mono);
	CHECK(A.links[0].last_hello <= mono && A.links[0].last_hello + 60000 > mono);
	CHECK(mono < wall / 2);
	/* Due now on the monotonic clock: sent, and rescheduled on it. */
	CHECK(agentd_tick(&A, mono) > 0);
	CHECK(capA.n >= 1);
	CHECK((p = pending_find(A.pend, id)) != NULL);
	CHECK(p->next_try > mono && p->next_try < mono + 3600000);
	cap_clear(&capA);
}

static int
failing_send(void *ctx, int link, const uint8_t *buf, size_t len)
{

	(void)ctx;
	(void)link;
	(void)buf;
	(void)len;
	return (FERRY_ETIMEOUT);
}

/*
 * Review M12: a HELLO that was lost (or could not be sent) is sent again
 * until a frame from the relay shows it arrived; a HEARTBEAT follows each
 * HELLO so that the relay answers even with nothing to push or deliver.
 */
TEST(hello_resent_until_answered)
{
	struct env e;
	uint8_t *b;
	size_t len;
	uint64_t now;

	cap_clear(&capA);
	A.want_hello = 0;
	A.held_retry = 0;
	CHECK_EQ(agentd_hello(&A, 0), 0);
	CHECK_EQ(cap_count(&capA, ENV_HELLO), 1);
	CHECK_EQ(cap_count(&capA, ENV_HEARTBEAT), 1);
	cap_clear(&capA);
	now = A.links[0].last_hello;
	CHECK_EQ(agentd_hello_due(&A, 0, now + 100), 0);
	CHECK_EQ(agentd_hello_due(&A, 0, now + AGENTD_HELLO_RETRY_MIN), 1);
	CHECK_EQ(agentd_hello(&A, 0), 0);
	cap_clear(&capA);
	/* The relay answers (its HEARTBEAT): no more HELLOs. */
	memset(&e, 0, sizeof(e));
	e.version = ENV_VERSION;
	e.type = ENV_HEARTBEAT;
	env_new_id(e.id);
	snprintf(e.from, sizeof(e.from), "relay");
	snprintf(e.to, sizeof(e.to), "alpha");
	e.time = ferry_now_ms();
	CHECK_EQ(env_encode(&e, relay->sign_sk, &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	CHECK_EQ(A.links[0].hello_state, AGENTD_HELLO_DONE);
	CHECK_EQ(agentd_hello_due(&A, 0, A.links[0].last_hello + 3600000), 0);
	/* A HELLO that could not be sent: a reply to something else does
	 * not count, it is sent again. */
	A.send = failing_send;
	CHECK(agentd_hello(&A, 0) != 0);
	A.send = capture;
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(A.links[0].hello_state, AGENTD_HELLO_UNSENT);
	CHECK_EQ(agentd_hello_due(&A, 0, A.links[0].last_hello + AGENTD_HELLO_RETRY_MIN),
	    1);
	CHECK_EQ(agentd_hello(&A, 0), 0);
	CHECK_EQ(cap_count(&capA, ENV_HELLO), 1);
	cap_clear(&capA);
	/* Not connected: nothing due. */
	agentd_link_up(&A, 0, 0);
	CHECK_EQ(agentd_hello_due(&A, 0, A.links[0].last_hello + 3600000), 0);
	agentd_link_up(&A, 0, 1);
}

/* Count captured MSG frames of message ${id}. */
static size_t
cap_msgs(struct cap *c, const uint8_t id[16])
{
	struct env e;
	size_t i, n = 0;

	for (i = 0; i < c->n; i++)
		if (env_decode(c->buf[i], c->len[i], 0, &e) == 0 &&
		    e.type == ENV_MSG && memcmp(e.id, id, 16) == 0)
			n++;
	return (n);
}

/* ASKs about message ${id} among the frames captured. */
static size_t
cap_asks(const struct cap *c, const uint8_t id[16])
{
	struct env e;
	size_t i, n = 0;

	for (i = 0; i < c->n; i++)
		if (env_decode(c->buf[i], c->len[i], 0, &e) == 0 &&
		    e.type == ENV_ASK && memcmp(e.msg_id, id, 16) == 0)
			n++;
	return (n);
}

/*
 * Issue 13, hole 1 (and review M7): once ACCEPTED, the envelope is never
 * re-uploaded on a timer; the agent ASKs about it instead (msg_id and
 * env_hash, not the envelope): first reask_ms after the ACCEPTED, then
 * with a doubling backoff, never giving up (a lost RECEIPT forward must
 * come again however long the link stays up), and at once after a HELLO.
 * A NACK FERRY_ENOTHELD from the relay (it lost its data) moves the
 * message back to QUEUED and the whole MSG is sent again.
 */
TEST(accepted_asked_until_answered)
{
	struct astore_out o;
	const struct pending_msg *p;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16], *b;
	uint64_t mono, t;
	uint64_t first = A.conf.reask_ms;
	size_t n, m;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	cap_clear(&capA);
	/* No message is added to or removed from A's pending table below,
	 * so ${p} stays valid (pending_find). */
	CHECK((p = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &b,
	    &len), 0);
	mono = agentd_mono_ms();
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(p->state, ASTORE_ACCEPTED);
	/* Before reask_ms: nothing about it. */
	cap_clear(&capA);
	(void)agentd_tick(&A, mono + first / 2);
	CHECK_EQ(cap_msgs(&capA, id) + cap_asks(&capA, id), 0);
	/* At reask_ms: one ASK, not the envelope. */
	(void)agentd_tick(&A, mono + first + 1000);
	CHECK_EQ(cap_asks(&capA, id), 1);
	CHECK_EQ(cap_msgs(&capA, id), 0);
	CHECK(p->next_try >= mono + first + 1000 + 2 * first);
	/* Hours on a live link: asked again and again (backoff capped at
	 * reask_max_ms), never uploaded. */
	for (t = mono + first, n = 0, m = 0; t < mono + 6 * 3600000ULL;
	    t += 600000) {
		cap_clear(&capA);
		(void)agentd_tick(&A, t);
		n += cap_asks(&capA, id);
		m += cap_msgs(&capA, id);
	}
	CHECK(n >= 5);
	CHECK_EQ(m, 0);
	CHECK(p->next_try <= t + A.conf.reask_max_ms +
	    A.conf.reask_max_ms / 4);
	/* A HELLO: asked at once. */
	CHECK_EQ(agentd_hello(&A, 0), 0);
	cap_clear(&capA);
	(void)agentd_tick(&A, agentd_mono_ms());
	CHECK_EQ(cap_asks(&capA, id), 1);
	CHECK_EQ(cap_msgs(&capA, id), 0);
	/* The relay holds no record of it: back to QUEUED, uploaded. */
	CHECK_EQ(relay_answer(relay, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_ENOTHELD, &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK_EQ(p->state, ASTORE_QUEUED);
	cap_clear(&capA);
	(void)agentd_tick(&A, agentd_mono_ms());
	CHECK_EQ(cap_msgs(&capA, id), 1);
	/* Accepted again: asked about again, later. */
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &b,
	    &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(p->state, ASTORE_ACCEPTED);
}

/*
 * Issue 11 item 8: a WARN when the roster in force or our encryption key
 * comes within 30, 7, 1 day(s) of its expiry, once per threshold crossed
 * however often the check runs; a newer roster that moves the expiry
 * away re-arms the warnings.  Driven by explicit times (no clock).
 */
TEST(expiry_warnings)
{
	const uint64_t D = 86400000;
	uint64_t t, k;

	/* The roster: the key's expiry kept far away meanwhile. */
	k = agentd_key_expires(&A);
	CHECK(k > 0);
	t = k - 300 * D;
	A.roster->expires = t;
	A.roster_stage = A.key_stage = 0;
	CHECK_EQ(agentd_expiry_check(&A, t - 31 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, t - 30 * D), 1);	/* 30 days */
	CHECK_EQ(agentd_expiry_check(&A, t - 30 * D + 1000), 0);
	CHECK_EQ(agentd_expiry_check(&A, t - 8 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, t - 7 * D + 1), 1);	/* 7 days */
	CHECK_EQ(agentd_expiry_check(&A, t - 6 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, t - 2 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, t - D + 5000), 1);	/* 1 day */
	CHECK_EQ(agentd_expiry_check(&A, t - 1000), 0);
	CHECK_EQ(A.roster_stage, 3);
	/* Expired: the ERROR line of agentd_roster_expired says it. */
	CHECK_EQ(agentd_expiry_check(&A, t + 1000), 0);
	/* A newer roster 60 days away: re-armed, silent until 30 days. */
	A.roster->expires = t + 60 * D;
	CHECK_EQ(agentd_expiry_check(&A, t + 1000), 0);
	CHECK_EQ(A.roster_stage, 0);
	CHECK_EQ(agentd_expiry_check(&A, t + 31 * D), 1);
	/* Starting within 7 days warns once, for 7 days, not for 30 too. */
	A.roster_stage = 0;
	CHECK_EQ(agentd_expiry_check(&A, t + 55 * D), 1);
	CHECK_EQ(A.roster_stage, 2);

	/* Our encryption key (the roster's listing of alpha). */
	A.roster->expires = k + 1000 * D;
	A.roster_stage = A.key_stage = 0;
	CHECK_EQ(agentd_expiry_check(&A, k - 40 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, k - 29 * D), 1);
	CHECK_EQ(agentd_expiry_check(&A, k - 29 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, k - 12 * 3600000ULL), 1);
	CHECK_EQ(A.key_stage, 3);
	CHECK_EQ(agentd_secs_left(k, k - 12 * 3600000ULL), 12 * 3600);
	CHECK_EQ(agentd_secs_left(k, k + 5000), -5);
}

int
main(void)
{

	t_init();
	if (sodium_init() < 0 || setup_net() != 0) {
		printf("not ok - setup\n");
		return (t_done() || 1);
	}
	RUN(timers_monotonic);
	RUN(hello_resent_until_answered);
	RUN(accepted_asked_until_answered);
	RUN(expiry_warnings);
	tnet_free();
	return (t_done());
}
