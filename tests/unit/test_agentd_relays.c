/*
 * test_agentd_relays.c: the agent core's links to the relays of its
 * roster (agent/agentd_out.c, agentd_replies.c, agentd_roster.c) without
 * sockets, with the fixtures of tests/lib/tagentd.c and a second relay,
 * relay-b.  One link per relay, following roster changes; a frame signed
 * by another relay than its link's is dropped; a message goes through
 * another relay when one does not take it in time (even with shorter
 * retries), loses its link or no longer holds it, the route logged each
 * time; relay_choice = fastest; each relay's custody receipt is logged,
 * and the latest names the message's relay, also after a reopen; a
 * relay whose roster is behind ours refusing the recipient is routed
 * around, not final.
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
#include "pending.h"
#include "roster.h"

/*
 * The next roster version after ${a}'s, with relay ${rb} listed at ${ep}
 * (ep != NULL) or relay "relay" removed (ep == NULL), placed where
 * agentd_roster_reload finds it, and adopted.
 */
static int
adopt_relay_change(struct agentd *a, const struct ident *rb, const char *ep)
{
	struct roster *n = NULL;
	const uint8_t *b;
	uint8_t *req = NULL;
	char path[1200];
	size_t len, rlen;
	uint64_t now = ferry_now_ms();
	int rc;

	if ((rc = roster_next(a->roster, now, now + 365 * DAY, &n)) != 0)
		return (rc);
	if (ep != NULL) {
		if ((rc = roster_request_make(rb, now, &req, &rlen)) == 0)
			rc = roster_relay_set(n, req, rlen, ep);
		free(req);
	} else
		rc = roster_relay_remove(n, "relay");
	if (rc == 0 && (rc = roster_seal(n)) == 0 &&
	    (rc = roster_sign(n, admin->sign_sk)) == 0 &&
	    (rc = roster_bytes(n, &b, &len)) == 0) {
		snprintf(path, sizeof(path), "%s/roster/v%020llu.roster",
		    a->conf.data, (unsigned long long)n->version);
		rc = ferry_write_file(path, b, len, 0600);
	}
	roster_free(n);
	return (rc != 0 ? rc : agentd_roster_reload(a));
}

TEST(links_follow_roster)
{
	struct ident *rb = NULL;
	uint64_t now = ferry_now_ms();

	/* One link per relay of the roster, at the roster's endpoint. */
	CHECK_EQ(A.nlinks, 1);
	CHECK(strcmp(A.links[0].id, "relay") == 0);
	CHECK(strcmp(A.links[0].endpoint, "tcp://127.0.0.1:1") == 0);
	CHECK_EQ(A.links[0].listed, 1);
	CHECK_EQ(agentd_link_find(&A, "relay"), 0);
	A.links[0].reopen = 0;	/* as the event loop leaves it */
	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	/* A relay added: a new link to it; the first is left alone. */
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	CHECK_EQ(A.nlinks, 2);
	CHECK(strcmp(A.links[1].id, "relay-b") == 0);
	CHECK(strcmp(A.links[1].endpoint, "tcp://127.0.0.1:2") == 0);
	CHECK_EQ(A.links[1].reopen, 1);
	CHECK_EQ(A.links[1].order, 1);
	CHECK_EQ(A.links[0].reopen, 0);
	A.links[1].reopen = 0;
	/* Its endpoint moved: that link alone reconnects. */
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:3"), 0);
	CHECK_EQ(A.links[1].reopen, 1);
	CHECK(strcmp(A.links[1].endpoint, "tcp://127.0.0.1:3") == 0);
	CHECK_EQ(A.links[0].reopen, 0);
	A.links[1].reopen = 0;
	/* The first relay removed: its link closed (unlisted), relay-b
	 * keeps its slot and comes first in roster order. */
	CHECK_EQ(adopt_relay_change(&A, NULL, NULL), 0);
	CHECK_EQ(A.links[0].listed, 0);
	CHECK_EQ(A.links[0].reopen, 1);
	CHECK_EQ(A.links[1].listed, 1);
	CHECK_EQ(A.links[1].reopen, 0);
	CHECK_EQ(A.links[1].order, 0);
	CHECK_EQ(agentd_link_find(&A, "relay"), -1);
	CHECK_EQ(agentd_link_find(&A, "relay-b"), 1);
	ident_free(rb);
}

/* A frame signed as another relay than the one whose link it came by is
 * dropped; the same frame by the right link is handled. */
TEST(frame_from_wrong_relay_link)
{
	struct ident *rb = NULL;
	struct astore_out o;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16], *acc;
	uint64_t now = ferry_now_ms();

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	CHECK_EQ(A.nlinks, 2);
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	/* "relay" signs an ACCEPTED; it arrives by relay-b's link. */
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &acc,
	    &len), 0);
	A.cur_link = 1;
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&acc, &len,
	    1), 0);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	/* By its own link: taken. */
	A.cur_link = 0;
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&acc, &len,
	    1), 0);
	CHECK_EQ(agentd_defer_flush(&A), 0);	/* custody committed */
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	free(acc);
	ident_free(rb);
}

/* The link the last frame of ${type} in ${c} went to, or -1. */
static int
cap_link_of(struct cap *c, uint32_t type)
{
	struct env e;
	size_t i;

	for (i = c->n; i > 0; i--)
		if (env_decode(c->buf[i - 1], c->len[i - 1], 0, &e) == 0 &&
		    e.type == type)
			return (c->link[i - 1]);
	return (-1);
}

/* The reason (code) of ${id}'s latest LOG_ROUTE and its relay, or -1. */
static int
last_route(struct agentd *a, const uint8_t id[16], char *relay_id)
{
	struct log_entry le;
	uint64_t idx;
	int code;

	if (log_find_msg_last(a->log, id, LOG_ROUTE, &idx) != 0 ||
	    log_get(a->log, idx, &le) != 0)
		return (-1);
	code = le.code;
	snprintf(relay_id, FERRY_ID_MAX + 1, "%s", le.to);
	log_entry_clear(&le);
	return (code);
}

/*
 * Two relays: a new message goes through the first (LOG_ROUTE 0); with no
 * ACCEPTED within failover_after it goes through the second (1); the
 * second's link lost before its ACCEPTED: back to the first (2); a
 * RECEIPT comes back by the link the MSG came by.
 */
TEST(failover_between_relays)
{
	struct ident *rb = NULL;
	const struct pending_msg *m;
	char *json, err[AGENTD_ERR_MAX], rid[FERRY_ID_MAX + 1];
	size_t len;
	uint8_t id[16], *msg;
	uint64_t now = ferry_now_ms(), t;

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&A, 1, 1);
	cap_clear(&capA);
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(cap_link_of(&capA, ENV_MSG), 0);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_FIRST);
	CHECK(strcmp(rid, "relay") == 0);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(m->link, 0);
	CHECK(m->sent_at != 0);
	/* failover_after (1.5 s by default) later, no ACCEPTED: the second relay. */
	t = m->sent_at + A.conf.failover_ms;
	cap_clear(&capA);
	(void)agentd_tick(&A, t);
	CHECK_EQ(cap_link_of(&capA, ENV_MSG), 1);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_NO_ACCEPT);
	CHECK(strcmp(rid, "relay-b") == 0);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(m->link, 1);
	CHECK_EQ(A.n_failovers, 1);
	/* Its link lost before the ACCEPTED: back to the first. */
	agentd_link_up(&A, 1, 0);
	cap_clear(&capA);
	(void)agentd_tick(&A, m->next_try);
	CHECK_EQ(cap_link_of(&capA, ENV_MSG), 0);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_LINK_LOST);
	CHECK(strcmp(rid, "relay") == 0);
	/* The recipient answers through the link the MSG came by. */
	msg = malloc(capA.len[capA.n - 1]);
	CHECK(msg != NULL);
	memcpy(msg, capA.buf[capA.n - 1], capA.len[capA.n - 1]);
	len = capA.len[capA.n - 1];
	CHECK_EQ(adopt_relay_change(&B, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&B, 1, 1);
	cap_clear(&capB);
	B.cur_link = 1;
	CHECK_EQ(agentd_receive_many(&B, (const uint8_t *const *)&msg, &len,
	    1), 0);
	CHECK_EQ(cap_link_of(&capB, ENV_RECEIPT_P), 1);
	/* Again through the other relay: a duplicate, receipted by it. */
	B.cur_link = 0;
	cap_clear(&capB);
	CHECK_EQ(agentd_receive_many(&B, (const uint8_t *const *)&msg, &len,
	    1), 0);
	CHECK_EQ(B.n_duplicates, 1);
	CHECK_EQ(cap_link_of(&capB, ENV_RECEIPT_P), 0);
	/* That link down: by any link up. */
	agentd_link_up(&B, 0, 0);
	cap_clear(&capB);
	CHECK_EQ(agentd_receive_many(&B, (const uint8_t *const *)&msg, &len,
	    1), 0);
	CHECK_EQ(cap_link_of(&capB, ENV_RECEIPT_P), 1);
	free(msg);
	ident_free(rb);
}

/*
 * relay_choice = fastest: the relay with the lower round trip takes a new
 * message; it ACCEPTs it, then answers an ASK with NACK FERRY_ENOTHELD:
 * routed again at once through the other relay (LOG_ROUTE 4).
 */
TEST(fastest_then_not_held)
{
	struct ident *rb = NULL;
	struct astore_out o;
	const struct pending_msg *m;
	char *json, err[AGENTD_ERR_MAX], rid[FERRY_ID_MAX + 1];
	size_t len;
	uint8_t id[16], *b;
	uint64_t now = ferry_now_ms();

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&A, 1, 1);
	snprintf(A.conf.relay_choice, sizeof(A.conf.relay_choice), "fastest");
	A.links[0].has_rtt = A.links[1].has_rtt = 1;
	A.links[0].rtt_ms = 40;
	A.links[1].rtt_ms = 3;
	cap_clear(&capA);
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(cap_link_of(&capA, ENV_MSG), 1);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_FIRST);
	CHECK(strcmp(rid, "relay-b") == 0);
	/* relay-b takes custody (its ACCEPTED, by its link). */
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(relay_answer(rb, ENV_ACCEPTED, id, o.env_hash, 0, &b, &len),
	    0);
	A.cur_link = 1;
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(m->state, ASTORE_ACCEPTED);
	CHECK_EQ(m->link, 1);
	CHECK_EQ(pending_custody(A.pend, 1), 1);
	/* It lost its data: routed again at once, through the other. */
	CHECK_EQ(relay_answer(rb, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_ENOTHELD, &b, &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_NOT_HELD);
	CHECK(strcmp(rid, "relay") == 0);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(m->state, ASTORE_QUEUED);
	CHECK_EQ(m->link, 0);
	CHECK_EQ(pending_custody(A.pend, 1), 0);
	cap_clear(&capA);
	(void)agentd_tick(&A, agentd_mono_ms());
	CHECK_EQ(cap_link_of(&capA, ENV_MSG), 0);
	/* The first relay takes custody; then relay-b, which still had a
	 * copy, expires it there: about relay-b's copy, not the message
	 * (with the first relay): ignored.  The first relay's expiry
	 * fails it. */
	A.cur_link = 0;
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &b,
	    &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK((m = pending_find(A.pend, id)) != NULL && m->link == 0 &&
	    m->state == ASTORE_ACCEPTED);
	A.cur_link = 1;
	CHECK_EQ(relay_answer(rb, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_EEXPIREDMSG, &b, &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(agentd_defer_flush(&A), 0);	/* custody committed */
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	A.cur_link = 0;
	CHECK_EQ(relay_answer(relay, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_EEXPIREDMSG, &b, &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_FAILED);
	ident_free(rb);
}

/* The relay that signed ${id}'s first (${last} 0) or latest ACCEPTED logged. */
static int
accepted_by(struct agentd *a, const uint8_t id[16], int last, char *relay_id)
{
	struct log_entry le;
	uint64_t idx;

	if ((last ? log_find_msg_last(a->log, id, LOG_ACCEPTED, &idx) :
	    log_find_msg(a->log, id, LOG_ACCEPTED, &idx)) != 0 ||
	    log_get(a->log, idx, &le) != 0)
		return (-1);
	snprintf(relay_id, FERRY_ID_MAX + 1, "%s", le.from);
	log_entry_clear(&le);
	return (0);
}

/* status MSGID's "relay" for ${id}, into ${relay_id} ("" if none). */
static void
status_relay(struct agentd *a, const uint8_t id[16], char *relay_id)
{
	char req[128], hx[33], *reply = NULL, *body = NULL;
	size_t rl = 0, bl = 0;
	json_t *r, *v;
	json_error_t jerr;

	ferry_hex(hx, id, 16);
	snprintf(req, sizeof(req), "{\"cmd\":\"status\",\"msg_id\":\"%s\"}",
	    hx);
	relay_id[0] = '\0';
	agentd_ctl_handle(a, req, strlen(req), NULL, 0, &reply, &rl, &body,
	    &bl);
	if ((r = json_loadb(reply, rl, 0, &jerr)) != NULL) {
		v = json_object_get(json_object_get(r, "message"), "relay");
		if (json_is_string(v))
			snprintf(relay_id, FERRY_ID_MAX + 1, "%s",
			    json_string_value(v));
		json_decref(r);
	}
	free(reply);
	free(body);
}

/*
 * Issue 12: a message in one relay's custody, resent through a second
 * (the first answered not-held): the second relay's custody receipt is
 * logged too (one ACCEPTED per relay, with its signed receipt), status
 * names the second as its relay, and after a reopen its custody link is
 * the second's (the latest ACCEPTED), not the first's.
 */
TEST(second_custody_logged)
{
	struct ident *rb = NULL;
	struct astore_out o;
	const struct pending_msg *m;
	struct log_entry le;
	char *json, err[AGENTD_ERR_MAX], rid[FERRY_ID_MAX + 1];
	size_t len;
	uint8_t id[16], *b;
	uint64_t idx, now = ferry_now_ms();
	struct env e;

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&A, 1, 1);
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_FIRST);
	CHECK(strcmp(rid, "relay") == 0);
	/* The first relay takes custody, then no longer holds it. */
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	A.cur_link = 0;
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &b,
	    &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(relay_answer(relay, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_ENOTHELD, &b, &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_NOT_HELD);
	CHECK(strcmp(rid, "relay-b") == 0);
	/* relay-b takes custody: its receipt logged, the first kept. */
	A.cur_link = 1;
	CHECK_EQ(relay_answer(rb, ENV_ACCEPTED, id, o.env_hash, 0, &b, &len),
	    0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(agentd_defer_flush(&A), 0);	/* custody committed */
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	CHECK_EQ(accepted_by(&A, id, 0, rid), 0);
	CHECK(strcmp(rid, "relay") == 0);
	CHECK_EQ(accepted_by(&A, id, 1, rid), 0);
	CHECK(strcmp(rid, "relay-b") == 0);
	CHECK_EQ(log_find_msg_last(A.log, id, LOG_ACCEPTED, &idx), 0);
	CHECK_EQ(log_get(A.log, idx, &le), 0);
	CHECK(le.aux_len > 0 && env_decode(le.aux, le.aux_len, 0, &e) == 0 &&
	    e.type == ENV_ACCEPTED && strcmp(e.from, "relay-b") == 0 &&
	    env_verify(&e, rb->sign_pk) == 0);
	log_entry_clear(&le);
	status_relay(&A, id, rid);
	CHECK(strcmp(rid, "relay-b") == 0);
	/* Reopened: in relay-b's custody, from its (latest) ACCEPTED. */
	agentd_close(&A);
	CHECK_EQ(open_agent(&A, "alpha", &capA), 0);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(m->state, ASTORE_ACCEPTED);
	CHECK(m->link >= 0 && m->link == agentd_link_find(&A, "relay-b"));
	status_relay(&A, id, rid);
	CHECK(strcmp(rid, "relay-b") == 0);
	ident_free(rb);
}

/*
 * A relay that stays silent (link up, no ACCEPTED): the message goes to
 * the other relay when failover_after has passed since its first send,
 * even with retry shorter than failover_after (its retries there must
 * not put the check off to a later retry).
 */
TEST(failover_not_put_off_by_retries)
{
	struct ident *rb = NULL;
	const struct pending_msg *m;
	char *json, err[AGENTD_ERR_MAX];
	size_t len, i;
	uint8_t id[16];
	uint64_t now = ferry_now_ms(), retry = A.conf.retry_ms, first;
	int link;

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&A, 0, 1);
	agentd_link_up(&A, 1, 1);
	A.conf.retry_ms = A.conf.failover_ms / 4;
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	link = m->link;
	first = m->sent_at;
	CHECK(link >= 0 && first != 0);
	/* Retries through the silent relay, each due no later than the
	 * failover; the tick at the failover moves it. */
	for (i = 0; i < 16 && (m = pending_find(A.pend, id)) != NULL &&
	    m->link == link; i++) {
		CHECK(m->next_try <= first + A.conf.failover_ms);
		(void)agentd_tick(&A, m->next_try);
	}
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK(m->link >= 0 && m->link != link);
	A.conf.retry_ms = retry;
	ident_free(rb);
}

/* Frames of ${type} about message ${id} captured in ${c} on ${link}. */
static size_t
frames_about(struct cap *c, uint32_t type, const uint8_t id[16], int link)
{
	struct env e;
	size_t i, n = 0;

	for (i = 0; i < c->n; i++)
		if (c->link[i] == link &&
		    env_decode(c->buf[i], c->len[i], 0, &e) == 0 &&
		    e.type == type && memcmp(type == ENV_MSG ? e.id :
		    e.msg_id, id, 16) == 0)
			n++;
	return (n);
}

/*
 * Review of session 10: a tick that fails one message over to the other
 * relay opens the batch of its routing choice; the messages the same tick
 * sends again (${resend}) or asks about after it, on their own relay, are
 * read from the store all the same (they failed with FERRY_EINVAL,
 * silently, and waited a retry: the ASK after every HELLO, which recovers
 * a RECEIPT the relay lost, was dropped).
 */
static void
failover_in_tick(int resend)
{
	struct ident *rb = NULL;
	const struct pending_msg *m;
	struct astore_out o;
	char *json, err[AGENTD_ERR_MAX];
	size_t len, n;
	uint8_t m1[16], m2[16], m3[16], *b;
	uint64_t now = ferry_now_ms(), t;

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&A, 1, 1);
	CHECK((json = doc(&len)) != NULL);
	/* m1: in the first relay's custody (ACCEPTED): asked about. */
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, m1, err,
	    sizeof(err)), 0);
	CHECK_EQ(astore_get_out(A.store, m1, &o), 0);
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, m1, o.env_hash, 0, &b, &n),
	    0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	free(b);
	CHECK_EQ(agentd_defer_flush(&A), 0);
	/* m2: no ACCEPTED: fails over to relay-b; m3: sent again where it
	 * is, its failover_after not passed. */
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, m2, err,
	    sizeof(err)), 0);
	if (resend)
		CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, m3,
		    err, sizeof(err)), 0);
	free(json);
	CHECK((m = pending_find(A.pend, m2)) != NULL);
	t = m->sent_at + A.conf.failover_ms + A.conf.reask_ms * 4;
	pending_retime(A.pend, m, t - 20, m->attempts);
	if (resend) {
		CHECK((m = pending_find(A.pend, m3)) != NULL);
		pending_route(A.pend, m, 0, t - 10);
		pending_retime(A.pend, m, t - 5, m->attempts);
	}
	cap_clear(&capA);
	(void)agentd_tick(&A, t);
	CHECK_EQ(frames_about(&capA, ENV_MSG, m2, 1), 1);
	if (resend)
		CHECK_EQ(frames_about(&capA, ENV_MSG, m3, 0), 1);
	CHECK_EQ(frames_about(&capA, ENV_ASK, m1, 0), 1);
	cap_clear(&capA);
	ident_free(rb);
}

TEST(failover_then_ask_in_one_tick)
{

	failover_in_tick(0);
}

TEST(failover_then_resend_in_one_tick)
{

	failover_in_tick(1);
}

/* The next roster version after ${a}'s with agency ${id} revoked, adopted
 * (as adopt_relay_change). */
static int
adopt_revoked(struct agentd *a, const char *id)
{
	struct roster *n = NULL;
	const uint8_t *b;
	char path[1200];
	size_t len;
	uint64_t now = ferry_now_ms();
	int rc;

	if ((rc = roster_next(a->roster, now, now + 365 * DAY, &n)) != 0)
		return (rc);
	if ((rc = roster_agency_revoke(n, id)) == 0 &&
	    (rc = roster_seal(n)) == 0 &&
	    (rc = roster_sign(n, admin->sign_sk)) == 0 &&
	    (rc = roster_bytes(n, &b, &len)) == 0) {
		snprintf(path, sizeof(path), "%s/roster/v%020llu.roster",
		    a->conf.data, (unsigned long long)n->version);
		rc = ferry_write_file(path, b, len, 0600);
	}
	roster_free(n);
	return (rc != 0 ? rc : agentd_roster_reload(a));
}

/* ${signer}'s NACK of ${code} about ${id} handed to A by ${link}; the
 * record's state after it. */
static uint32_t
nack_by(struct ident *signer, int link, const uint8_t id[16], int code)
{
	struct astore_out o;
	uint8_t *b;
	size_t len;

	if (astore_get_out(A.store, id, &o) != 0 ||
	    relay_answer(signer, ENV_NACK, id, o.env_hash, (uint32_t)-code,
	    &b, &len) != 0)
		return (0);
	A.cur_link = link;
	if (agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1) != 0)
		o.state = 0;
	free(b);
	if (o.state != 0 && astore_get_out(A.store, id, &o) != 0)
		o.state = 0;
	A.cur_link = 0;
	return (o.state);
}

/* Message ${id}'s record queued ${ms} earlier than it was. */
static int
queued_earlier(struct agentd *a, const uint8_t id[16], uint64_t ms)
{
	struct astore_out o;
	struct log_batch *b;
	int rc;

	if ((rc = astore_get_out(a->store, id, &o)) != 0)
		return (rc);
	o.t_queued -= ms;
	if ((rc = log_begin(a->log, &b)) != 0)
		return (rc);
	if ((rc = astore_update_out(a->store, b, &o)) != 0) {
		log_abort(b);
		return (rc);
	}
	return (log_commit(b));
}

/*
 * Relays take a new roster one at a time: one whose roster is behind ours
 * refuses a recipient ours lists as active (NACK FERRY_ERECIPIENT).  Not
 * final: the message goes through the other relay at once (LOG_ROUTE 1),
 * or, that one down, stays with the relay, sent again later, and moves
 * as soon as the other is up.  Final as before: the recipient's own
 * refusal, a recipient our roster revokes, and a message refused for
 * longer than a relay keeps one.
 */
TEST(relay_roster_behind)
{
	struct ident *rb = NULL;
	struct astore_out o;
	const struct pending_msg *m;
	char *json, err[AGENTD_ERR_MAX], rid[FERRY_ID_MAX + 1];
	size_t len, jlen;
	uint8_t m1[16], m2[16], m3[16], m4[16], m5[16], *b;
	uint64_t now = ferry_now_ms();

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&A, 1, 1);
	CHECK((json = doc(&jlen)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, jlen, NULL, NULL, m1, err,
	    sizeof(err)), 0);
	CHECK((m = pending_find(A.pend, m1)) != NULL && m->link == 0);
	/* The first relay refuses bravo: through relay-b at once. */
	CHECK_EQ(nack_by(relay, 0, m1, FERRY_ERECIPIENT), ASTORE_QUEUED);
	CHECK_EQ(last_route(&A, m1, rid), LOG_ROUTE_NO_ACCEPT);
	CHECK(strcmp(rid, "relay-b") == 0);
	CHECK((m = pending_find(A.pend, m1)) != NULL && m->link == 1);
	cap_clear(&capA);
	(void)agentd_tick(&A, agentd_mono_ms());
	CHECK_EQ(frames_about(&capA, ENV_MSG, m1, 1), 1);
	CHECK_EQ(astore_get_out(A.store, m1, &o), 0);
	CHECK_EQ(relay_answer(rb, ENV_ACCEPTED, m1, o.env_hash, 0, &b, &len),
	    0);
	A.cur_link = 1;
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(agentd_defer_flush(&A), 0);
	CHECK_EQ(astore_get_out(A.store, m1, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	/* The same refusal again, late: the message is with relay-b. */
	CHECK_EQ(nack_by(relay, 0, m1, FERRY_ERECIPIENT), ASTORE_ACCEPTED);
	CHECK((m = pending_find(A.pend, m1)) != NULL && m->link == 1);

	/* relay-b down: kept with the first relay, sent there again with
	 * its backoff (also for its code of an agency it does not list),
	 * through relay-b as soon as it is up. */
	agentd_link_up(&A, 1, 0);
	CHECK_EQ(agentd_submit(&A, "bravo", json, jlen, NULL, NULL, m2, err,
	    sizeof(err)), 0);
	CHECK_EQ(nack_by(relay, 0, m2, FERRY_ERECIPIENT), ASTORE_QUEUED);
	CHECK((m = pending_find(A.pend, m2)) != NULL && m->link == 0);
	cap_clear(&capA);
	(void)agentd_tick(&A, m->next_try);
	CHECK_EQ(frames_about(&capA, ENV_MSG, m2, 0), 1);
	CHECK_EQ(nack_by(relay, 0, m2, FERRY_EUNKNOWNAGENCY), ASTORE_QUEUED);
	agentd_link_up(&A, 1, 1);
	CHECK((m = pending_find(A.pend, m2)) != NULL && m->link == 0);
	cap_clear(&capA);
	(void)agentd_tick(&A, m->next_try);
	CHECK_EQ(frames_about(&capA, ENV_MSG, m2, 1), 1);
	CHECK_EQ(last_route(&A, m2, rid), LOG_ROUTE_NO_ACCEPT);
	CHECK(strcmp(rid, "relay-b") == 0);
	cap_clear(&capA);

	/* The recipient's own refusal stays final. */
	CHECK_EQ(agentd_submit(&A, "bravo", json, jlen, NULL, NULL, m3, err,
	    sizeof(err)), 0);
	CHECK_EQ(nack_by(bravo, 0, m3, FERRY_ERECIPIENT), ASTORE_FAILED);
	/* Refused for longer than a relay keeps a message: failed. */
	CHECK_EQ(agentd_submit(&A, "bravo", json, jlen, NULL, NULL, m4, err,
	    sizeof(err)), 0);
	CHECK_EQ(queued_earlier(&A, m4, 6 * DAY), 0);
	CHECK_EQ(nack_by(relay, 0, m4, FERRY_ERECIPIENT), ASTORE_FAILED);
	CHECK_EQ(astore_get_out(A.store, m4, &o), 0);
	CHECK_EQ(o.code, (uint32_t)-FERRY_ERECIPIENT);
	/* Our roster revokes bravo: a relay's refusal of it is final. */
	CHECK_EQ(agentd_submit(&A, "bravo", json, jlen, NULL, NULL, m5, err,
	    sizeof(err)), 0);
	free(json);
	cap_clear(&capA);
	CHECK_EQ(adopt_revoked(&A, "bravo"), 0);
	CHECK_EQ(nack_by(relay, 0, m5, FERRY_ERECIPIENT), ASTORE_FAILED);
	cap_clear(&capA);
	ident_free(rb);
}

/*
 * Review of 762527c: with BOTH relays behind, the message bounced between
 * them at network speed (6,000 NACK and ROUTE entries in 10 s), for up to
 * 5 days.  The first reroute is at once; the next ones wait the retry
 * backoff: a tick right after the second refusal sends nothing, the log
 * grew by the NACK and the ROUTE only.
 */
TEST(relay_roster_behind_both)
{
	struct ident *rb = NULL;
	const struct pending_msg *m;
	char *json, err[AGENTD_ERR_MAX], rid[FERRY_ID_MAX + 1];
	size_t jlen;
	uint64_t size, mono, now = ferry_now_ms();
	uint8_t m1[16];

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&A, 1, 1);
	CHECK((json = doc(&jlen)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, jlen, NULL, NULL, m1, err,
	    sizeof(err)), 0);
	free(json);
	/* The first relay refuses: through relay-b at once. */
	CHECK_EQ(nack_by(relay, 0, m1, FERRY_ERECIPIENT), ASTORE_QUEUED);
	cap_clear(&capA);
	(void)agentd_tick(&A, agentd_mono_ms());
	CHECK_EQ(frames_about(&capA, ENV_MSG, m1, 1), 1);
	/* relay-b refuses too: back to the first relay, not at once. */
	size = log_size(A.log);
	CHECK_EQ(nack_by(rb, 1, m1, FERRY_ERECIPIENT), ASTORE_QUEUED);
	CHECK_EQ(last_route(&A, m1, rid), LOG_ROUTE_NO_ACCEPT);
	CHECK(strcmp(rid, "relay") == 0);
	CHECK_EQ(log_size(A.log), size + 2);
	mono = agentd_mono_ms();
	CHECK((m = pending_find(A.pend, m1)) != NULL && m->link == 0 &&
	    m->next_try >= mono + A.conf.retry_ms);
	cap_clear(&capA);
	(void)agentd_tick(&A, mono);
	CHECK_EQ(frames_about(&capA, ENV_MSG, m1, 0), 0);
	CHECK_EQ(log_size(A.log), size + 2);
	/* Its time come, it goes. */
	(void)agentd_tick(&A, m->next_try);
	CHECK_EQ(frames_about(&capA, ENV_MSG, m1, 0), 1);
	cap_clear(&capA);
	ident_free(rb);
}

int
main(void)
{

	t_init();
	if (sodium_init() < 0 || setup_net() != 0) {
		printf("not ok - setup\n");
		return (t_done() || 1);
	}
	RUN(links_follow_roster);
	RUN(frame_from_wrong_relay_link);
	RUN(failover_between_relays);
	RUN(second_custody_logged);
	RUN(fastest_then_not_held);
	RUN(failover_not_put_off_by_retries);
	RUN(failover_then_ask_in_one_tick);
	RUN(failover_then_resend_in_one_tick);
	RUN(relay_roster_behind);
	RUN(relay_roster_behind_both);
	tnet_free();
	return (t_done());
}
