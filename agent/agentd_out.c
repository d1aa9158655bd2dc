/*
 * agentd_out.c: the agent's outgoing side (see agentd.h, and agentd.c for
 * the durability order): referrals validated, sealed, then stored and
 * logged in one group commit (agentd_submit_batch); the retransmission
 * of pending messages (agentd_tick; the table is pending.c), HELLO and
 * HEARTBEAT; the routing of each message through one relay (issue 12).
 * The relay's replies about our messages are agentd_replies.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agentd_int.h"
#include "alog.h"
#include "envelope.h"
#include "note.h"
#include "pending.h"
#include "referral.h"

/* ---- HELLO, heartbeat, retransmission ---------------------------------- */

int
agentd_hello(struct agentd *a, int link)
{
	struct agentd_link *l = &a->links[link];
	struct env e;
	uint64_t now = agentd_mono_ms();
	int rc;

	memset(&e, 0, sizeof(e));
	e.type = ENV_HELLO;
	e.roster_version = a->roster->version;
	e.credit = a->conf.credit;
	/* Everything unanswered goes at once: QUEUED ones whole, ACCEPTED
	 * ones as an ASK (a kept RECEIPT may have been lost with the link
	 * or the relay); each backoff starts again.  O(n), once per
	 * reconnection: the n messages leave now anyway. */
	pending_all_due(a->pend, now);
	a->want_hello = 0;
	l->last_hello = now;
	a->nheld = 0;	/* the relay's count in flight restarts at 0 */
	a->nheld_lag = 0;
	a->held_retry = 0;	/* and it redelivers every held message */
	l->cp_size = 0;		/* our checkpoint again, once answered */
	l->cp_mono = 0;
	/* Until a frame from the relay shows it was received, the HELLO is
	 * sent again (agentd_hello_due); a HEARTBEAT behind it makes the
	 * relay answer at once even with nothing to push or deliver. */
	if (l->hello_wait == 0)
		l->hello_wait = AGENTD_HELLO_RETRY_MIN;
	if ((rc = agentd_send_control(a, link, &e)) != 0) {
		l->hello_state = AGENTD_HELLO_UNSENT;
		return (rc);
	}
	l->hello_state = AGENTD_HELLO_SENT;
	(void)agentd_heartbeat(a, link);
	return (0);
}

int
agentd_hello_due(struct agentd *a, int link, uint64_t now)
{
	struct agentd_link *l = &a->links[link];

	if (!l->listed || !l->connected)
		return (0);
	/* A roster push skipped a version, or keys were reloaded: at most
	 * once a second. */
	if (a->want_hello && now - l->last_hello >= 1000)
		return (1);
	/* Messages held after a local failure: the relay redelivers them. */
	if (a->held_retry != 0 && now >= a->held_retry)
		return (1);
	/* No frame from the relay since our HELLO (lost, or not sent). */
	if (l->hello_state != AGENTD_HELLO_DONE &&
	    now - l->last_hello >= l->hello_wait) {
		if (l->hello_wait < AGENTD_HELLO_RETRY_MAX / 2)
			l->hello_wait *= 2;
		else
			l->hello_wait = AGENTD_HELLO_RETRY_MAX;
		return (1);
	}
	return (0);
}

int
agentd_heartbeat(struct agentd *a, int link)
{
	struct env e;
	int rc;

	memset(&e, 0, sizeof(e));
	e.type = ENV_HEARTBEAT;
	if ((rc = agentd_send_control(a, link, &e)) == 0 &&
	    a->links[link].ping == 0)
		a->links[link].ping = agentd_mono_ms();
	return (rc);
}

int
agentd_checkpoint_due(struct agentd *a, int link, uint64_t now)
{
	struct agentd_link *l = &a->links[link];
	struct env e;
	uint8_t *note;
	size_t len;
	uint64_t size;
	int rc;

	if (!l->listed || !l->connected || l->hello_state != AGENTD_HELLO_DONE ||
	    (size = log_size(a->log)) == 0 || size == l->cp_size ||
	    (l->cp_mono != 0 && now - l->cp_mono < AGENTD_CHECKPOINT_MS))
		return (0);
	if ((rc = log_checkpoint(a->log, &note, &len)) != 0)
		return (rc);
	memset(&e, 0, sizeof(e));
	e.type = ENV_CHECKPOINT;
	e.blob = note;
	e.blob_len = len;
	if ((rc = agentd_send_control(a, link, &e)) == 0) {
		l->cp_size = size;
		l->cp_mono = now;
		a->n_checkpoints_sent++;
	}
	free(note);
	return (rc);
}

/* Send the stored envelope of outgoing message ${id} on ${link}. */
static int
send_stored(struct agentd *a, int link, const uint8_t id[FERRY_MSGID_LEN])
{
	uint8_t *env;
	size_t len, i;
	int rc;

	/* Committed just now by agentd_submit_batch: the same bytes. */
	for (i = 0; i < a->nfresh; i++)
		if (a->fresh[i]->prepared && a->fresh[i]->env != NULL &&
		    memcmp(a->fresh[i]->id, id, FERRY_MSGID_LEN) == 0)
			return (agentd_send_frame(a, link, a->fresh[i]->env,
			    a->fresh[i]->envlen));
	if ((rc = astore_get_out_env(a->store, id, &env, &len)) != 0)
		return (rc);
	rc = agentd_send_frame(a, link, env, len);
	free(env);
	return (rc);
}

/* ASK relay ${link} what became of accepted message ${id} (6.3 step 7). */
static int
send_ask(struct agentd *a, int link, const uint8_t id[FERRY_MSGID_LEN])
{
	struct astore_out r;
	struct env e;
	int rc;

	if ((rc = astore_get_out(a->store, id, &r)) != 0)
		return (rc);
	memset(&e, 0, sizeof(e));
	e.type = ENV_ASK;
	memcpy(e.msg_id, id, FERRY_MSGID_LEN);
	memcpy(e.env_hash, r.env_hash, 32);
	if ((rc = agentd_send_control(a, link, &e)) == 0)
		a->n_asks++;
	return (rc);
}

/* ${base} doubled ${attempts} times, capped at ${max}, plus up to a
 * quarter of jitter so that agents spread out.  At least 1 ms (aconf
 * refuses 0), so a message taken by a tick is not due again in it. */
uint64_t
agentd_backoff(struct agentd *a, uint64_t base, uint64_t max,
    uint32_t attempts)
{
	uint64_t d;

	d = base << (attempts < 16 ? attempts : 16);
	if (d > max || d < base)
		d = max > base ? max : base;
	if (d == 0)
		d = 1;
	return (d + rpool_uniform(&a->pubrand, (uint32_t)(d / 4 + 1)));
}

/* ---- routing (issue 12): which relay takes each message ---------------- */

/* The links as the routing rules see them (pending.h); returns how many. */
static size_t
links_view(const struct agentd *a, struct pending_link *v)
{
	size_t i;

	for (i = 0; i < a->nlinks; i++) {
		v[i].listed = a->links[i].listed;
		v[i].up = a->links[i].connected;
		v[i].has_rtt = a->links[i].has_rtt;
		v[i].rtt_ms = a->links[i].rtt_ms;
		v[i].order = a->links[i].order;
		v[i].down_since = a->links[i].down_since;
	}
	return (a->nlinks);
}

static int
choice_how(const struct agentd *a)
{

	return (strcmp(a->conf.relay_choice, "fastest") == 0 ?
	    PENDING_CHOOSE_FASTEST : PENDING_CHOOSE_ORDER);
}

/* A relay link for a message, other than ${exclude}: by relay_choice
 * among those up; with ${any}, when none is up, the first listed. */
int
agentd_choose_link(const struct agentd *a, int exclude, int any)
{
	struct pending_link v[AGENTD_LINKS];
	size_t n = links_view(a, v), i;
	int k;

	if ((k = pending_choose(v, n, choice_how(a), exclude)) >= 0 || !any)
		return (k);
	for (i = 0; i < n; i++)
		if (v[i].listed && (k < 0 || v[i].order < v[k].order))
			k = (int)i;
	return (k);
}

/*
 * Is a choice of relay for ${reason} logged?  When the roster lists
 * several relays, and for every choice but a first one (a message sent
 * again through a relay other than the one it was with, e.g. after that
 * relay left the roster): with one relay listed a first choice is no
 * choice, but a resend is, and without its ROUTE the new relay's
 * ACCEPTED would not be logged and the audit would find that relay
 * carrying a message it was never routed to.
 */
int
agentd_route_logged(const struct agentd *a, int reason)
{

	return (a->roster->nrelays > 1 || reason != LOG_ROUTE_FIRST);
}

/* LOG_ROUTE entry ${le}: message ${id} (${h}) routed to ${link}. */
void
agentd_route_entry(const struct agentd *a, struct log_entry *le,
    const uint8_t id[FERRY_MSGID_LEN], const uint8_t h[32], int link,
    int reason)
{

	memset(le, 0, sizeof(*le));
	le->kind = LOG_ROUTE;
	memcpy(le->msg_id, id, FERRY_MSGID_LEN);
	memcpy(le->env_hash, h, FERRY_HASH_LEN);
	agentd_copy_str(le->from, sizeof(le->from), a->me->id);
	agentd_copy_str(le->to, sizeof(le->to), a->links[link].id);
	le->code = reason;
	le->roster_version = a->roster->version;
}

const char *
agentd_route_reason(int reason)
{

	switch (reason) {
	case LOG_ROUTE_FIRST: return ("first-choice");
	case LOG_ROUTE_NO_ACCEPT: return ("no-accepted");
	case LOG_ROUTE_LINK_LOST: return ("link-lost");
	case LOG_ROUTE_RESEND: return ("resend");
	case LOG_ROUTE_NOT_HELD: return ("not-held");
	case LOG_ROUTE_NO_RECEIPT: return ("no-receipt");
	default: return ("?");
	}
}

/*
 * The messages a tick routes again (a relay failed them) or for the
 * first time since a start: their LOG_ROUTE entries (and, for a resend,
 * the record back to QUEUED) in one batch and one synced commit, then
 * each is sent through its new relay.
 */
struct route_grp {
	struct log_batch *b;
	size_t n;
	int rc;
	int flushed;		/* committed once within the tick already */
	struct {
		uint8_t id[FERRY_MSGID_LEN];
		int link, reason, from;
		uint32_t was;
	} it[AGENTD_ASK_BURST];
};

/* Message ${m} to ${link} for ${reason}: 0; 1 if the group is full, or
 * a group was committed already within this tick (the next tick takes
 * it: at most two synced commits per tick, however reroutes and plain
 * resends interleave); -1 after a storage error (the group is dropped,
 * route_flush says so; the message waits for its next time). */
static int
route_add(struct agentd *a, struct route_grp *g, const struct pending_msg *m,
    int link, int reason)
{
	struct astore_out r;
	struct log_entry le;
	int rc;

	if (g->rc != 0)
		return (-1);
	if (g->n == AGENTD_ASK_BURST || (g->flushed && g->b == NULL))
		return (1);
	/* Read in the group's batch once it is open (this thread may then
	 * open no read snapshot: FERRY_EINVAL, and the whole group was lost
	 * whenever two messages were rerouted at once). */
	/* Before the batch: a custody record not committed yet first (the
	 * batch, once open, holds it: agentd_defer.c). */
	if ((rc = g->b == NULL ? agentd_out_get(a, m->msg_id, &r) :
	    astore_get_out_b(a->store, g->b, m->msg_id, &r)) != 0)
		goto fail;
	if (agentd_route_logged(a, reason)) {
		if (g->b == NULL && (rc = log_begin(a->log, &g->b)) != 0)
			goto fail;
		agentd_route_entry(a, &le, m->msg_id, r.env_hash, link, reason);
		if ((rc = log_add(g->b, &le, NULL, 0, NULL)) != 0)
			goto fail;
	}
	if (r.state == ASTORE_ACCEPTED) {
		/* Resent: QUEUED again until a relay takes it. */
		r.state = ASTORE_QUEUED;
		if (g->b == NULL && (rc = log_begin(a->log, &g->b)) != 0)
			goto fail;
		if ((rc = astore_update_out(a->store, g->b, &r)) != 0)
			goto fail;
	}
	memcpy(g->it[g->n].id, m->msg_id, FERRY_MSGID_LEN);
	g->it[g->n].link = link;
	g->it[g->n].reason = reason;
	g->it[g->n].from = m->link;
	g->it[g->n].was = m->state;
	g->n++;
	return (0);
fail:
	g->rc = rc;
	return (-1);
}

static void
route_flush(struct agentd *a, struct route_grp *g, uint64_t now)
{
	const struct pending_msg *m;
	uint64_t d;
	char hx[33];
	size_t i;
	int rc = g->rc;

	if (rc == 0 && g->b != NULL)
		rc = log_commit(g->b);
	else if (g->b != NULL)
		log_abort(g->b);
	g->b = NULL;
	if (rc != 0) {
		/* Left as they were: tried again at their next time. */
		alog(ALOG_ERROR, "route", "%zu routing choice(s) not logged: "
		    "%s; tried again later", g->n, ferry_strerror(rc));
		g->n = 0;
		g->rc = 0;
		return;
	}
	for (i = 0; i < g->n; i++) {
		agentd_idhex(hx, g->it[i].id);
		if (g->it[i].was == ASTORE_ACCEPTED) {
			/* Both undelivered: the backlog needs no record. */
			agentd_count_move(a, NULL, ASTORE_ACCEPTED,
			    ASTORE_QUEUED);
			a->n_resends++;
			(void)pending_set(a->pend, g->it[i].id, ASTORE_QUEUED,
			    now);
		} else if (g->it[i].reason != LOG_ROUTE_FIRST)
			a->n_failovers++;
		if (g->it[i].reason != LOG_ROUTE_FIRST) {
			alog(ALOG_WARN, "failover", "msg=%s: relay %s %s",
			    hx, g->it[i].from >= 0 ?
			    a->links[g->it[i].from].id : "(unknown)",
			    g->it[i].reason == LOG_ROUTE_NO_ACCEPT ?
			    "gave no ACCEPTED within failover_after" :
			    g->it[i].reason == LOG_ROUTE_LINK_LOST ?
			    "lost its link before ACCEPTED" :
			    "held it and has been unreachable for "
			    "resend_after");
			alog(ALOG_INFO, "route", "msg=%s relay=%s reason=%s",
			    hx, a->links[g->it[i].link].id,
			    agentd_route_reason(g->it[i].reason));
		}
		if ((m = pending_find(a->pend, g->it[i].id)) == NULL)
			continue;
		if (send_stored(a, g->it[i].link, g->it[i].id) == 0)
			pending_route(a->pend, m, g->it[i].link, now);
		else
			pending_route(a->pend, m, g->it[i].link, 0);
		/* Its failover check again at failover_after at the
		 * earliest, later ones further apart (its backoff). */
		d = agentd_backoff(a, a->conf.retry_ms, a->conf.retry_max_ms,
		    m->attempts);
		if (d < a->conf.failover_ms)
			d = a->conf.failover_ms;
		pending_retime(a->pend, m, now + d, m->attempts);
	}
	g->n = 0;
}

/* The ms from ${now} until message ${m} (may be NULL) is due, if later
 * than ${now} and sooner than ${next}; else ${next}. */
static uint64_t
sooner(const struct pending_msg *m, uint64_t now, uint64_t next)
{

	if (m != NULL && m->next_try > now && m->next_try - now < next)
		return (m->next_try - now);
	return (next);
}

/*
 * The due messages are taken earliest first from the pending table
 * (pending_first), so a tick costs the messages it sends, not all those
 * pending: every QUEUED one due is sent whole; then up to
 * AGENTD_ASK_BURST ACCEPTED ones due are asked about, the rest left for
 * the next tick (in 1 ms).  Each one taken is rescheduled after ${now}.
 * While disconnected nothing is sent and due messages do not shorten
 * the wait: they wait for the link, and the HELLO that follows it makes
 * every message due.
 */
uint64_t
agentd_tick(struct agentd *a, uint64_t now)
{
	const struct pending_msg *m;
	struct pending_link v[AGENTD_LINKS];
	struct route_grp *g;
	uint64_t next = 60000, d, t;
	uint32_t n;
	size_t asks = 0, nv;
	int why, to, rc;

	(void)agentd_roster_expired(a, ferry_now_ms());
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return (1000);
	nv = links_view(a, v);
	while (a->connected &&
	    (m = pending_first(a->pend, ASTORE_QUEUED)) != NULL &&
	    m->next_try <= now) {
		n = m->attempts;
		d = agentd_backoff(a, a->conf.retry_ms, a->conf.retry_max_ms, n);
		/* No relay yet (a start), or its relay failed it. */
		why = m->link < 0 ? LOG_ROUTE_FIRST : pending_reroute(m, v,
		    nv, now, a->conf.failover_ms, a->conf.resend_ms,
		    a->conf.no_receipt_ms, a->started);
		to = why == LOG_ROUTE_FIRST && m->link < 0 ?
		    agentd_choose_link(a, -1, 0) : why != 0 ?
		    agentd_choose_link(a, m->link, 0) : -1;
		if (to >= 0) {
			if ((rc = route_add(a, g, m, to, why)) > 0) {
				next = 1;	/* more: the next tick */
				break;
			}
			pending_retime(a->pend, m, now + d, n + 1);
			if (rc < 0)
				break;
			continue;
		}
		/* The store is read outside a batch: the routing choices
		 * so far are committed (and sent) first. */
		if (m->link >= 0 && g->b != NULL) {
			route_flush(a, g, now);
			g->flushed = 1;
		}
		if (m->link >= 0 && send_stored(a, m->link, m->msg_id) == 0) {
			n++;
			if (m->sent_at == 0)
				pending_route(a->pend, m, m->link, now);
			/* Checked again when failover_after has passed since
			 * the first send there without ACCEPTED, if that comes
			 * before the next retry (else a retry shorter than
			 * failover_after put the failover off to the retry
			 * after: up to twice failover_after). */
			t = m->sent_at + a->conf.failover_ms;
			if (a->nlinks > 1 && t > now && t - now < d)
				d = t - now;
		}
		pending_retime(a->pend, m, now + d, n);
	}
	while (a->connected &&
	    (m = pending_first(a->pend, ASTORE_ACCEPTED)) != NULL &&
	    m->next_try <= now) {
		if (asks == AGENTD_ASK_BURST) {
			next = 1;	/* more ASKs due: soon */
			break;
		}
		n = m->attempts;
		d = agentd_backoff(a, a->conf.reask_ms, a->conf.reask_max_ms, n);
		/* Sent again through another relay, which takes over its
		 * custody: its relay down (or gone) for resend_after
		 * (LOG_ROUTE_RESEND), or connected but with no RECEIPT for
		 * resend_no_receipt_after, the recipient perhaps unable to
		 * reach it (LOG_ROUTE_NO_RECEIPT). */
		why = pending_reroute(m, v, nv, now, a->conf.failover_ms,
		    a->conf.resend_ms, a->conf.no_receipt_ms, a->started);
		if (why != 0 && (to = agentd_choose_link(a, m->link, 0)) >= 0) {
			if ((rc = route_add(a, g, m, to, why)) > 0) {
				next = 1;
				break;
			}
			pending_retime(a->pend, m, now + d, n);
			if (rc < 0)
				break;
			continue;
		}
		if (m->link < 0 || !v[m->link].up) {
			/* Looked at again when resend_after has passed. */
			t = (m->link >= 0 ? v[m->link].down_since :
			    a->started) + a->conf.resend_ms;
			if (t > now && t - now < d)
				d = t - now;
			pending_retime(a->pend, m, now + d, n);
			continue;
		}
		/* In the relay's custody: ASK, not upload (read outside a
		 * batch, as above). */
		if (g->b != NULL) {
			route_flush(a, g, now);
			g->flushed = 1;
		}
		asks++;
		if (send_ask(a, m->link, m->msg_id) == 0 && n < 16)
			n++;
		pending_retime(a->pend, m, now + agentd_backoff(a, a->conf.reask_ms,
		    a->conf.reask_max_ms, n), n);
	}
	if (g->n > 0 || g->b != NULL || g->rc != 0)
		route_flush(a, g, now);
	free(g);
	next = sooner(pending_first(a->pend, ASTORE_QUEUED), now, next);
	return (sooner(pending_first(a->pend, ASTORE_ACCEPTED), now, next));
}

/* ---- outgoing ---------------------------------------------------------- */

/*
 * A response answers a message this agency received from its recipient,
 * in that message's case and as the thread allows (referral-schema.md
 * section 4), whichever way it is sent (reply, send, the spool): a
 * response filed under another case reference would escape the case's
 * export and erasure at both ends.  0 or FERRY_ESCHEMA (why in ${err}).
 */
static int
answer_check(struct agentd *a, const char *to,
    const struct referral_info *info, char *err, size_t errlen)
{
	struct astore_in in;
	struct astore_out o;
	char hx[33];
	int rc;

	if (!info->has_in_reply_to)
		return (0);
	agentd_idhex(hx, info->in_reply_to);
	memset(&in, 0, sizeof(in));
	if ((rc = astore_get_in(a->store, info->in_reply_to, &in)) != 0) {
		if (rc != FERRY_ENOENT)
			return (rc);
		/* Our own message to ${to}: only closed (the referrer
		 * withdraws it), in its case. */
		if ((rc = astore_get_out(a->store, info->in_reply_to,
		    &o)) == 0 && strcmp(o.to, to) == 0 &&
		    info->response != NULL &&
		    strcmp(info->response, "closed") == 0) {
			if (strcmp(o.case_id, info->case_id) == 0)
				return (0);
			agentd_seterr(err, errlen, "case_id: \"%s\" is not the "
			    "case of the message it closes (%s is in case "
			    "\"%s\"): a response carries its thread's case "
			    "id", info->case_id, hx, o.case_id);
			return (FERRY_ESCHEMA);
		}
		if (rc != 0 && rc != FERRY_ENOENT)
			return (rc);
		agentd_seterr(err, errlen, "in_reply_to: %s is no message "
		    "this agency received from %s: a response answers a "
		    "message received from its recipient (ferry inbox lists "
		    "them), or closes one sent to it", hx, to);
		return (FERRY_ESCHEMA);
	}
	astore_in_clear(&in);
	if (strcmp(in.from, to) != 0) {
		agentd_seterr(err, errlen, "in_reply_to: %s came from %s, not "
		    "from %s: a response goes back to the agency that sent "
		    "the message it answers", hx, in.from, to);
		return (FERRY_ESCHEMA);
	}
	if (strcmp(in.case_id, info->case_id) != 0) {
		agentd_seterr(err, errlen, "case_id: \"%s\" is not the case "
		    "of the message it answers (%s is in case \"%s\"): a "
		    "response carries its thread's case id", info->case_id,
		    hx, in.case_id);
		return (FERRY_ESCHEMA);
	}
	return (referral_answer_check(in.kind, in.response, info->response,
	    err, errlen));
}

/*
 * Prepare submission ${sb}: validate the referral, check the recipient's
 * backlog (with ${extra} more to it earlier in this group), seal it to
 * the recipient's current key, fill its outbox record and log entry.
 * Stores nothing.  0, or the error (sb->err says why).
 */
static int
sub_prepare(struct agentd *a, struct agentd_sub *sb, uint64_t now,
    uint64_t extra)
{
	struct referral_info info;
	const struct roster_agency *ag;
	struct astore_out *rec = &sb->rec;
	uint8_t *wire = NULL, pk[32];
	char *err = sb->err;
	size_t wlen, errlen = sizeof(sb->err);
	int rc;

	/* Checked first: whatever the document, it has nowhere to go. */
	if (strcmp(sb->to, a->me->id) == 0) {
		agentd_seterr(err, errlen, "to: %s is this agency itself: a "
		    "referral goes to another agency (ferry partners lists "
		    "them)", sb->to);
		return (FERRY_ERECIPIENT);
	}
	if ((rc = referral_json_to_wire_at(sb->json, sb->len, now, &wire,
	    &wlen, err, errlen, &info)) != 0)
		return (rc);
	if (!ferry_id_valid(sb->to, strlen(sb->to)) ||
	    (ag = roster_find(a->roster, sb->to)) == NULL) {
		agentd_seterr(err, errlen, "to: %s is not an agency in the "
		    "roster", sb->to);
		rc = FERRY_ERECIPIENT;
		goto done;
	}
	if (ag->status != ROSTER_ACTIVE) {
		agentd_seterr(err, errlen, "to: %s is revoked", sb->to);
		rc = FERRY_ERECIPIENT;
		goto done;
	}
	if ((rc = answer_check(a, sb->to, &info, err, errlen)) != 0)
		goto done;
	if ((rc = agentd_backlog_check(a, sb->to, info.urgency, extra, err,
	    errlen)) != 0)
		goto done;
	if ((rc = roster_enc_key_for_sending(a->roster, sb->to, now,
	    &sb->kid, pk)) != 0) {
		agentd_seterr(err, errlen, "to: %s has no encryption key valid "
		    "now", sb->to);
		goto done;
	}
	if ((rc = env_seal(a->me, sb->to, pk, sb->kid, wire, wlen,
	    info.has_in_reply_to ? info.in_reply_to : NULL, now, a->ckey,
	    sb->id, &sb->env, &sb->envlen)) != 0) {
		agentd_seterr(err, errlen, "sealing: %s", ferry_strerror(rc));
		goto done;
	}
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->msg_id, sb->id, FERRY_MSGID_LEN);
	agentd_copy_str(rec->to, sizeof(rec->to), sb->to);
	env_hash(sb->env, sb->envlen, rec->env_hash);
	rec->state = ASTORE_QUEUED;
	rec->t_queued = now;
	rec->roster_version = a->roster->version;
	if ((rc = agentd_key_seal(a, a->ckey, rec->sealed_key)) != 0)
		goto done;
	rec->has_reply_to = info.has_in_reply_to;
	if (info.has_in_reply_to)
		memcpy(rec->reply_to, info.in_reply_to, FERRY_MSGID_LEN);
	agentd_copy_str(rec->case_id, sizeof(rec->case_id), info.case_id);
	agentd_copy_str(rec->kind, sizeof(rec->kind), info.message_kind ?
	    info.message_kind : "");
	agentd_copy_str(rec->response, sizeof(rec->response), info.response ?
	    info.response : "");
	agentd_copy_str(rec->spool_name, sizeof(rec->spool_name),
	    sb->spool_name ? sb->spool_name : "");
	rc = 0;
done:
	sodium_memzero(a->ckey, 32);
	free(wire);
	if (rc != 0) {
		free(sb->env);
		sb->env = NULL;
	}
	return (rc);
}

/* Add prepared ${sb} to batch ${b}: LOG_SENT with the envelope, the outbox record. */
static int
sub_add(struct agentd *a, struct log_batch *b, struct agentd_sub *sb,
    uint64_t now)
{
	struct log_entry le;
	int rc;

	memset(&le, 0, sizeof(le));
	le.kind = LOG_SENT;
	le.time_ms = now;
	memcpy(le.msg_id, sb->id, FERRY_MSGID_LEN);
	memcpy(le.env_hash, sb->rec.env_hash, FERRY_HASH_LEN);
	agentd_copy_str(le.from, sizeof(le.from), a->me->id);
	agentd_copy_str(le.to, sizeof(le.to), sb->to);
	le.roster_version = sb->rec.roster_version;
	if ((rc = log_add_hashed(b, &le, sb->env, sb->envlen,
	    &sb->idx)) != 0) {
		agentd_seterr(sb->err, sizeof(sb->err), "logging: %s",
		    ferry_strerror(rc));
		return (rc);
	}
	sb->rec.log_index = sb->idx;
	/* The envelope is stored once, in the log (log_add above): erasure
	 * (log_erase) then shreds the only copy. */
	if ((rc = astore_put_out(a->store, b, &sb->rec, NULL, 0,
	    sb->spool_key)) != 0 || (sb->doc_key != NULL &&
	    (rc = astore_spool_put(a->store, b, sb->doc_key,
	    sb->rec.msg_id)) != 0)) {
		agentd_seterr(sb->err, sizeof(sb->err), "storing: %s",
		    ferry_strerror(rc));
		return (rc);
	}
	/* Its relay, chosen now and logged in the same commit. */
	sb->link = agentd_choose_link(a, -1, 1);
	if (sb->link >= 0 && agentd_route_logged(a, LOG_ROUTE_FIRST)) {
		agentd_route_entry(a, &le, sb->id, sb->rec.env_hash, sb->link,
		    LOG_ROUTE_FIRST);
		le.time_ms = now;
		if ((rc = log_add(b, &le, NULL, 0, NULL)) != 0)
			agentd_seterr(sb->err, sizeof(sb->err), "logging "
			    "the route: %s", ferry_strerror(rc));
	}
	return (rc);
}

/* ${sb}'s request id names message ${id}, sent with another document. */
static void
reused_key(struct agentd_sub *sb, const uint8_t id[FERRY_MSGID_LEN])
{
	char hx[33];

	agentd_idhex(hx, id);
	sb->rc = FERRY_EINVAL;
	agentd_seterr(sb->err, sizeof(sb->err), "request_id: already used "
	    "for another document (message %s); a new referral needs a "
	    "request_id of its own", hx);
}

void
agentd_submit_batch(struct agentd *a, struct agentd_sub *const *sb, size_t n)
{
	struct log_batch *b = NULL;
	const struct pending_msg *m;
	uint64_t now = ferry_now_ms(), extra;
	uint8_t dk[FERRY_MSGID_LEN];
	size_t i, j, nprep = 0;
	char h[33];
	int rc;

	for (i = 0; i < n; i++) {
		sb[i]->rc = 0;
		sb[i]->err[0] = '\0';
		sb[i]->dup = 0;
		sb[i]->env = NULL;
		sb[i]->prepared = 0;
		if ((rc = agentd_can_send(a, sb[i]->err,
		    sizeof(sb[i]->err))) != 0) {
			sb[i]->rc = rc;
			continue;
		}
		/* The same request (spool key) stored before, or earlier in
		 * this batch: its message id, nothing sent twice. */
		if (sb[i]->spool_key != NULL) {
			for (j = 0; j < i; j++)
				if (sb[j]->spool_key != NULL &&
				    memcmp(sb[j]->spool_key, sb[i]->spool_key,
				    32) == 0 && (sb[j]->prepared || sb[j]->dup))
					break;
			if (j < i) {
				if (sb[i]->doc_key != NULL &&
				    sb[j]->doc_key != NULL &&
				    memcmp(sb[i]->doc_key, sb[j]->doc_key,
				    32) != 0) {
					reused_key(sb[i], sb[j]->id);
					continue;
				}
				sb[i]->dup = 1;
				memcpy(sb[i]->id, sb[j]->id, FERRY_MSGID_LEN);
				continue;
			}
			rc = astore_spool_lookup(a->store, sb[i]->spool_key,
			    sb[i]->id);
			if (rc == 0 && sb[i]->doc_key != NULL &&
			    (rc = astore_spool_lookup(a->store,
			    sb[i]->doc_key, dk)) != 0) {
				if (rc == FERRY_ENOENT)
					reused_key(sb[i], sb[i]->id);
				else
					sb[i]->rc = rc;
				continue;
			}
			if (rc == 0) {
				sb[i]->dup = 1;
				continue;
			}
			if (rc != FERRY_ENOENT) {
				sb[i]->rc = rc;
				continue;
			}
		}
		/* The group's earlier ones to the same recipient count in
		 * its backlog (they are not counted until the commit). */
		for (j = 0, extra = 0; a->conf.max_backlog != 0 && j < i; j++)
			if (sb[j]->prepared && strcmp(sb[j]->to, sb[i]->to) == 0)
				extra++;
		if ((sb[i]->rc = sub_prepare(a, sb[i], now, extra)) == 0) {
			sb[i]->prepared = 1;
			nprep++;
		}
	}
	if (nprep == 0)
		return;
	/* Every LOG_SENT and outbox record: one batch, one synced commit. */
	if ((rc = log_begin(a->log, &b)) == 0) {
		for (i = 0; i < n && rc == 0; i++)
			if (sb[i]->prepared)
				rc = sub_add(a, b, sb[i], now);
		if (rc != 0)
			log_abort(b);
		else if ((rc = log_commit(b)) == 0)
			(void)FERRY_FAULT("agent-commit-send");
	}
	if (rc != 0) {
		for (i = 0; i < n; i++) {
			if (!sb[i]->prepared)
				continue;
			sb[i]->prepared = 0;
			sb[i]->rc = rc;
			if (sb[i]->err[0] == '\0')
				agentd_seterr(sb[i]->err, sizeof(sb[i]->err),
				    "storing and logging: %s",
				    ferry_strerror(rc));
			free(sb[i]->env);
			sb[i]->env = NULL;
		}
		/* Duplicates of a failed one within the batch fail too. */
		for (i = 0; i < n; i++)
			if (sb[i]->dup && sb[i]->spool_key != NULL &&
			    astore_spool_lookup(a->store, sb[i]->spool_key,
			    sb[i]->id) != 0) {
				sb[i]->dup = 0;
				sb[i]->rc = rc;
			}
		return;
	}
	agentd_crash_point("send-committed");
	for (i = 0; i < n; i++) {
		if (!sb[i]->prepared)
			continue;
		a->n_sent++;
		agentd_count_move(a, &sb[i]->rec, 0, ASTORE_QUEUED);
		agentd_idhex(h, sb[i]->id);
		alog(ALOG_INFO, "queued", "msg=%s to=%s key=%u bytes=%zu "
		    "log=%llu%s", h, sb[i]->to, sb[i]->kid, sb[i]->envlen,
		    (unsigned long long)sb[i]->idx, nprep > 1 ? " (group)" : "");
		if (pending_set(a->pend, sb[i]->id, ASTORE_QUEUED,
		    agentd_mono_ms()) != 0)
			alog(ALOG_WARN, "pending", "msg=%s: not scheduled (out "
			    "of memory): sent at the next start", h);
		else if ((m = pending_find(a->pend, sb[i]->id)) != NULL)
			pending_route(a->pend, m, sb[i]->link, 0);
	}
	/* Sent now (the tick), from the envelopes in hand. */
	a->fresh = sb;
	a->nfresh = n;
	(void)agentd_tick(a, agentd_mono_ms());
	a->fresh = NULL;
	a->nfresh = 0;
	for (i = 0; i < n; i++) {
		free(sb[i]->env);
		sb[i]->env = NULL;
	}
}

int
agentd_submit(struct agentd *a, const char *to, const char *json,
    size_t len, const char *spool_name, const uint8_t *spool_key,
    uint8_t id[FERRY_MSGID_LEN], char *err, size_t errlen)
{
	struct agentd_sub *sb;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((sb = calloc(1, sizeof(*sb))) == NULL)
		return (FERRY_ENOMEM);
	sb->to = to;
	sb->json = json;
	sb->len = len;
	sb->spool_name = spool_name;
	sb->spool_key = spool_key;
	agentd_submit_batch(a, &sb, 1);
	rc = sb->rc;
	if (rc == 0)
		memcpy(id, sb->id, FERRY_MSGID_LEN);
	else if (err != NULL && errlen > 0)
		agentd_copy_str(err, errlen, sb->err);
	free(sb);
	return (rc);
}
