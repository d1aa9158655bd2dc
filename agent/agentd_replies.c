/*
 * agentd_replies.c: the relay's replies about our messages (see agentd.h):
 * ACCEPTED (a relay's custody receipt), RECEIPT (the recipient's
 * delivery receipt, with its checkpoint; RECEIPT_P and ACCEPTED_P proven
 * by their signer's checkpoint and an inclusion proof instead of signed), NACK (refused for good, or
 * for now, or a relay's copy not held, or the recipient refused by a
 * relay whose roster is behind ours: routed again, agentd_out.c); the
 * RECEIPTs read together are recorded in one group commit
 * (agentd_grp_flush); an ACCEPTED is acted on at once and recorded by
 * the agent's next commit (agentd_defer.c).
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

/* ---- relay replies ---------------------------------------------------- */

/*
 * Log reply entry ${le} and store the outgoing record ${r} in one synced
 * commit.  A redelivered reply finds its entry already logged (unique
 * kinds: FERRY_EDUPMSG) and only updates the state.
 */
static int
log_and_update_route(struct agentd *a, const struct log_entry *le,
    const struct astore_out *r, int link, int reason)
{
	struct log_entry re;
	struct log_batch *b;
	int rc;

	if ((rc = log_begin(a->log, &b)) != 0)
		return (rc);
	rc = log_add(b, le, NULL, 0, NULL);
	if (rc == FERRY_EDUPMSG)
		rc = 0;
	if (rc == 0 && link >= 0 && agentd_route_logged(a, reason)) {
		agentd_route_entry(a, &re, r->msg_id, r->env_hash, link, reason);
		rc = log_add(b, &re, NULL, 0, NULL);
	}
	if (rc == 0)
		rc = astore_update_out(a->store, b, r);
	if (rc != 0) {
		log_abort(b);
		return (rc);
	}
	return (log_commit(b));
}

static int
log_and_update(struct agentd *a, const struct log_entry *le,
    const struct astore_out *r)
{

	return (log_and_update_route(a, le, r, -1, 0));
}

/* The outgoing record ${id}, as the replies of the group so far left it
 * (then custody records not committed yet, then the store's). */
static int
out_get(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN],
    struct astore_out *r)
{
	size_t i;

	if (a->grp != NULL)
		for (i = a->grp->n; i > 0; i--)
			if (memcmp(a->grp->it[i - 1].r.msg_id, id,
			    FERRY_MSGID_LEN) == 0) {
				*r = a->grp->it[i - 1].r;
				return (0);
			}
	return (agentd_out_get(a, id, r));
}

static void
accepted_done(struct agentd *a, const struct log_entry *le,
    const struct astore_out *r)
{
	const struct pending_msg *m;
	char hx[33];

	agentd_idhex(hx, r->msg_id);
	a->n_accepted++;
	agentd_count_move(a, r, ASTORE_QUEUED, ASTORE_ACCEPTED);
	alog(ALOG_INFO, "accepted", "msg=%s to=%s relay_log=%llu", hx, r->to,
	    (unsigned long long)le->ref_index);
	/* Asked about (ASK) after reask_ms, then with backoff. */
	if (pending_set(a->pend, r->msg_id, ASTORE_ACCEPTED, agentd_mono_ms() +
	    a->conf.reask_ms) == 0 && (m = pending_find(a->pend,
	    r->msg_id)) != NULL) {
		pending_retime(a->pend, m, m->next_try, 0);
		/* In the custody of the relay that signed the ACCEPTED. */
		pending_route(a->pend, m, agentd_link_find(a, le->from),
		    agentd_mono_ms());
	}
}

static void
receipt_done(struct agentd *a, const struct log_entry *le,
    const struct astore_out *r, uint32_t was)
{
	char hx[33], when[32], reason[ASTORE_REASON_MAX + 1];
	char qreason[4 * ASTORE_REASON_MAX + 16];

	agentd_idhex(hx, r->msg_id);
	a->n_delivered++;
	agentd_count_move(a, r, was, ASTORE_DELIVERED);
	pending_del(a->pend, r->msg_id);
	if (was != ASTORE_FAILED) {
		alog(ALOG_INFO, "delivered", "msg=%s to=%s their_log=%llu "
		    "receipt verified", hx, r->to,
		    (unsigned long long)le->ref_index);
		return;
	}
	/*
	 * Reported failed (a relay expired or purged it, or a NACK), yet
	 * the recipient's verified receipt says it has it: e.g. a relay
	 * restored from a backup that still held it, or a copy left in
	 * another relay.  Recorded (the proof of delivery is kept), the
	 * failure kept on the record, and said: people may have acted on
	 * "failed" and sent the referral again another way.
	 */
	agentd_copy_str(reason, sizeof(reason), r->reason);
	(void)alog_esc(qreason, sizeof(qreason), reason, 1);
	ferry_utc_s(when, sizeof(when), r->t_failed);
	alog(ALOG_WARN, "delivered-after-failed", "msg=%s to=%s their_log=%llu "
	    "failed_at=%s code=%s reason=\"%s\": reported failed then, but "
	    "%s's receipt (verified) says it has the message: now delivered, "
	    "the failure kept in `ferry status %s`; if it was sent again "
	    "another way after the failure, tell %s that copy is a duplicate",
	    hx, r->to, (unsigned long long)le->ref_index, when,
	    ferry_errname(-(int)r->code), qreason, r->to, hx, r->to);
}

/*
 * ACCEPTED ${le}, record ${r}: custody acted on now (pending table,
 * counters), its entry and record kept for the agent's next commit
 * (agentd_defer.c): no synced commit of its own.  Only if it cannot be
 * kept is it committed at once.
 */
static int
accepted_defer(struct agentd *a, const struct log_entry *le,
    const struct astore_out *r)
{
	int rc;

	if (agentd_defer_accepted(a, le, r) != 0 &&
	    (rc = log_and_update(a, le, r)) != 0)
		return (rc);
	accepted_done(a, le, r);
	(void)FERRY_FAULT("agent-accepted-buffered");
	return (0);
}

/*
 * Record reply entry ${le} and record ${r} (in state ${was} before the
 * reply): an ACCEPTED deferred (accepted_defer); a RECEIPT into the open
 * group, or at once (log_and_update) followed by its actions.
 */
static int
record_reply(struct agentd *a, const struct log_entry *le,
    const struct astore_out *r, uint32_t was)
{
	struct agentd_grp_item *it;
	int rc;

	if (le->kind == LOG_ACCEPTED)
		return (accepted_defer(a, le, r));
	if (a->grp != NULL && a->grp->n < AGENTD_GRP_MAX) {
		it = &a->grp->it[a->grp->n++];
		it->le = *le;
		it->r = *r;
		it->was = was;
		return (0);
	}
	if ((rc = log_and_update(a, le, r)) != 0)
		return (rc);
	receipt_done(a, le, r, was);
	return (0);
}

/** agentd_grp_flush(a, g): record the relay replies of group ${g}. */
/* Commit group ${g} (RECEIPTs; custody records waiting come first in the
 * batch: agentd_defer.c): one batch, one synced commit, then the
 * actions. */
void
agentd_grp_flush(struct agentd *a, struct agentd_grp *g)
{
	struct log_batch *b;
	size_t i;
	int rc;

	if (g->n == 0)
		return;
	if ((rc = log_begin(a->log, &b)) == 0) {
		for (i = 0; i < g->n && rc == 0; i++) {
			rc = log_add(b, &g->it[i].le, NULL, 0, NULL);
			if (rc == FERRY_EDUPMSG)
				rc = 0;
			if (rc == 0)
				rc = astore_update_out(a->store, b,
				    &g->it[i].r);
		}
		if (rc != 0)
			log_abort(b);
		else if ((rc = log_commit(b)) == 0)
			(void)FERRY_FAULT("agent-commit-reply");
	}
	if (rc != 0) {
		/* Not recorded: the relay answers again (a HELLO makes it
		 * push final envelopes; ACCEPTED answers a retransmission). */
		alog(ALOG_ERROR, "replies", "%zu relay replies not recorded: "
		    "%s; asking for them again", g->n, ferry_strerror(rc));
		a->want_hello = 1;
	} else
		for (i = 0; i < g->n; i++)
			receipt_done(a, &g->it[i].le, &g->it[i].r,
			    g->it[i].was);
	g->n = 0;
}

/*
 * The relay's checkpoint in a verified custody receipt ${e}: its log must
 * never be behind, or at the same size differ from, one it signed before
 * (held in memory per link since this agent started).  One that is says
 * the relay's data folder was restored from a backup, replaced, or its
 * log rewritten: WARN relay-log-behind, once per link until the relay's
 * log grows past the one held.  The receipt is still taken (its proof
 * holds under the relay's key).
 */
static void
relay_cp_seen(struct agentd *a, const struct env *e)
{
	struct note_checkpoint cp;
	struct agentd_link *l;
	int k;

	if (e->type != ENV_ACCEPTED_P || e->blob == NULL ||
	    (k = agentd_link_find(a, e->from)) < 0 ||
	    note_parse_checkpoint(e->blob, e->blob_len, &cp) != 0)
		return;
	l = &a->links[k];
	if (l->rcp_size != 0 && (cp.size < l->rcp_size ||
	    (cp.size == l->rcp_size && memcmp(cp.root, l->rcp_root, 32) != 0))) {
		if (!l->rcp_said) {
			l->rcp_said = 1;
			a->n_relay_behind++;
			alog(ALOG_WARN, "relay-log-behind", "relay=%s size=%llu "
			    "held=%llu: its custody receipt carries a checkpoint "
			    "%s one it signed earlier, which this agent holds: "
			    "its data folder was restored from a backup or "
			    "replaced, or its log rewritten; what it held "
			    "since is resent (not-held). Tell the relay's "
			    "operator and the auditors (docs/operations.md "
			    "section 8)", e->from, (unsigned long long)cp.size,
			    (unsigned long long)l->rcp_size, cp.size <
			    l->rcp_size ? "behind" : "of another history than");
		}
		return;
	}
	if (cp.size > l->rcp_size) {
		l->rcp_size = cp.size;
		memcpy(l->rcp_root, cp.root, 32);
		l->rcp_said = 0;
	}
}

/** agentd_handle_accepted(a, buf, len, e): an ACCEPTED. */
int
agentd_handle_accepted(struct agentd *a, const uint8_t *buf, size_t len,
    const struct env *e)
{
	struct astore_out r;
	struct log_entry le;
	char hx[33];
	int rc;

	agentd_idhex(hx, e->msg_id);
	if (roster_find_relay(a->roster, e->from) == NULL ||
	    agentd_verify_from(a, e) != 0) {
		alog(ALOG_WARN, "bad-accepted", "msg=%s from=%s: signature "
		    "(or inclusion proof) or signer wrong; ignored", hx,
		    e->from);
		return (0);
	}
	relay_cp_seen(a, e);
	if ((rc = out_get(a, e->msg_id, &r)) != 0) {
		if (rc == FERRY_ENOENT)
			alog(ALOG_WARN, "bad-accepted", "msg=%s: not ours",
			    hx);
		return (rc == FERRY_ENOENT ? 0 : rc);
	}
	if (memcmp(r.env_hash, e->env_hash, 32) != 0) {
		alog(ALOG_WARN, "bad-accepted", "msg=%s: env_hash differs "
		    "from what we sent; ignored", hx);
		return (0);
	}
	if (r.state != ASTORE_QUEUED)
		return (0);
	memset(&le, 0, sizeof(le));
	le.kind = LOG_ACCEPTED;
	memcpy(le.msg_id, e->msg_id, FERRY_MSGID_LEN);
	memcpy(le.env_hash, r.env_hash, 32);
	agentd_copy_str(le.from, sizeof(le.from), e->from);
	agentd_copy_str(le.to, sizeof(le.to), r.to);
	le.ref_index = e->log_index;
	le.roster_version = e->roster_version;
	if (len <= LOG_AUX_MAX) {
		le.aux = buf;
		le.aux_len = len;
	}
	r.state = ASTORE_ACCEPTED;
	r.t_accepted = ferry_now_ms();
	r.relay_index = e->log_index;
	/* The entry's time is the custody's arrival, as the record's, not
	 * the later commit that carries it (agentd_defer.c). */
	le.time_ms = r.t_accepted;
	return (record_reply(a, &le, &r, ASTORE_QUEUED));
}

/*
 * The receipt's checkpoint is the recipient's signed log head (origin
 * "ferry/<id>"): it must verify under the recipient's key and cover the
 * log index the receipt names.  The receipt's own signature already
 * proves delivery, so a bad checkpoint is reported, not fatal.
 */
static void
check_receipt_checkpoint(const struct env *e, const uint8_t pk[32],
    const char *hx)
{
	struct note_checkpoint cp;
	char origin[LOG_ORIGIN_MAX];

	snprintf(origin, sizeof(origin), "ferry/%s", e->from);
	if (e->blob == NULL || e->blob_len == 0 ||
	    note_parse_checkpoint(e->blob, e->blob_len, &cp) != 0 ||
	    strcmp(cp.origin, origin) != 0 || cp.size <= e->log_index ||
	    note_verify(e->blob, e->blob_len, origin, pk) != 0)
		alog(ALOG_WARN, "receipt-checkpoint", "msg=%s from=%s: the "
		    "receipt's checkpoint is missing, does not verify or does "
		    "not cover log index %llu", hx, e->from,
		    (unsigned long long)e->log_index);
}

/*
 * The recipient's signing key to verify a receipt for message ${r} with:
 * from the roster in force, or, when the recipient has been revoked since
 * the message was sent, from the roster version in force then
 * (r->roster_version, saved in <data>/roster/ when it was adopted): the
 * receipt answers a message sent while the recipient was active.
 * *${used} is the version whose key was used.
 */
static int
receipt_key(struct agentd *a, const struct env *e, const struct astore_out *r,
    uint8_t pk[32], uint64_t *used)
{
	struct roster *old;
	char path[ACONF_PATH_MAX + 64];
	int rc, rc2;

	*used = a->roster->version;
	if ((rc = roster_sender_key(a->roster, e->from, pk)) != FERRY_EREVOKED ||
	    r->roster_version == 0 || r->roster_version >= a->roster->version)
		return (rc);
	if (agentd_roster_path(a, r->roster_version, path, sizeof(path)) != 0 ||
	    agentd_roster_read(path, &old) != 0)
		return (rc);
	rc2 = old->version == r->roster_version ?
	    roster_sender_key(old, e->from, pk) : FERRY_EINVAL;
	roster_free(old);
	if (rc2 != 0)
		return (rc);
	*used = r->roster_version;
	return (0);
}

/** agentd_handle_receipt(a, buf, len, e): a RECEIPT. */
int
agentd_handle_receipt(struct agentd *a, const uint8_t *buf, size_t len,
    const struct env *e)
{
	struct astore_out r;
	struct log_entry le;
	uint8_t pk[32];
	uint64_t used;
	uint32_t was;
	char hx[33];
	int rc;

	agentd_idhex(hx, e->msg_id);
	if ((rc = out_get(a, e->msg_id, &r)) == FERRY_ENOENT) {
		/* Most often not forged nor stray: our store is older than
		 * the message (restored from a backup taken before it was
		 * sent).  Its signature cannot be checked against a record
		 * we do not hold. */
		alog(ALOG_WARN, "receipt-not-in-store", "msg=%s from=%s: a "
		    "receipt for message %s, which this agency's store does "
		    "not hold; ignored. If this data folder was restored from "
		    "a backup, %s was sent after that backup was taken "
		    "(docs/operations.md section 8: the relay's and %s's logs "
		    "record it); otherwise report it", hx, e->from, hx, hx,
		    e->from);
		return (0);
	}
	if (rc != 0) {
		alog(ALOG_WARN, "bad-receipt", "msg=%s from=%s: our record of "
		    "it cannot be read: %s; ignored", hx, e->from,
		    ferry_strerror(rc));
		return (rc);
	}
	if (strcmp(e->to, a->me->id) != 0 || strcmp(e->from, r.to) != 0 ||
	    memcmp(r.env_hash, e->env_hash, 32) != 0) {
		alog(ALOG_WARN, "bad-receipt", "msg=%s from=%s: names another "
		    "recipient or envelope; ignored", hx, e->from);
		return (0);
	}
	if ((rc = receipt_key(a, e, &r, pk, &used)) != 0 ||
	    (rc = agentd_verify_with(a, e, pk)) != 0) {
		alog(ALOG_WARN, "bad-receipt", "msg=%s from=%s: %s; ignored",
		    hx, e->from, ferry_strerror(rc));
		return (0);
	}
	/*
	 * Already delivered: nothing new.  Reported FAILED (expired,
	 * purged or NACKed): still recorded, the receipt is proof the
	 * recipient has it; its failure time, code and reason stay on the
	 * record and receipt_done says so (WARN delivered-after-failed).
	 */
	if (r.state == ASTORE_DELIVERED)
		return (0);
	if (used != a->roster->version)
		alog(ALOG_INFO, "receipt-old-roster", "msg=%s from=%s: "
		    "recipient revoked since the message was sent; receipt "
		    "verified with its key in roster version %llu (in force "
		    "when sent; now %llu)", hx, e->from,
		    (unsigned long long)used,
		    (unsigned long long)a->roster->version);
	if (e->type == ENV_RECEIPT)
		check_receipt_checkpoint(e, pk, hx);
	memset(&le, 0, sizeof(le));
	le.kind = LOG_RECEIPT;
	memcpy(le.msg_id, e->msg_id, FERRY_MSGID_LEN);
	memcpy(le.env_hash, r.env_hash, 32);
	agentd_copy_str(le.from, sizeof(le.from), e->from);
	agentd_copy_str(le.to, sizeof(le.to), a->me->id);
	le.ref_index = e->log_index;
	le.roster_version = e->roster_version;
	if (len <= LOG_AUX_MAX) {
		le.aux = buf;
		le.aux_len = len;
	}
	was = r.state;
	r.state = ASTORE_DELIVERED;
	r.t_delivered = ferry_now_ms();
	if (r.t_accepted == 0)
		r.t_accepted = r.t_delivered;
	r.rcpt_index = e->log_index;
	return (record_reply(a, &le, &r, was));
}

/*
 * Is a NACK with ${code} transient (the message stays queued and is sent
 * again later)?  Only the relay's own refusals can be: a condition of the
 * relay's that passes (queue full, no credit, out of space or memory, an
 * internal or storage error, its roster expired).  A recipient's NACK is
 * always final: the relay removed the message when it forwarded it.
 */
static int
nack_transient(struct agentd *a, const struct env *e)
{
	int c = -(int)e->code;

	if (roster_find_relay(a->roster, e->from) == NULL)
		return (0);
	return (c == FERRY_EQUEUEFULL || c == FERRY_ENOCREDIT ||
	    c == FERRY_ETIMEOUT || c == FERRY_ENOSPC || c == FERRY_EEXPIRED ||
	    c == FERRY_ENOMEM || c == FERRY_EINTERNAL || c == FERRY_EIO ||
	    c == FERRY_ELMDB || c == FERRY_ESODIUM || c == FERRY_ENOTHELD ||
	    c == FERRY_EWRONGKEY);
}

/*
 * A relay keeps an undelivered message this long (its `expiry`, 5 days by
 * default, docs/relay.md): a recipient every relay has refused for longer
 * (a roster it was added in never reached them) is failed as before.
 */
#define ROSTER_BEHIND_MAX_MS (5ULL * 24 * 3600 * 1000)

/*
 * Is NACK ${e} about our message ${r} a relay refusing, by its roster, an
 * agency the roster in force here lists as active?  FERRY_ERECIPIENT is a
 * relay's refusal of a recipient its roster does not list as active
 * (protocol.md 6.3 step 1); FERRY_EUNKNOWNAGENCY and FERRY_EREVOKED are
 * its roster's refusals of an agency (it gives them of the sender).  With
 * our recipient and ourselves both active in our roster, that relay's
 * roster is behind ours: relays take a new roster one at a time, and an
 * agency added in it (pushed to us by a relay that has it) is unknown to
 * the others until their turn.  A relay ahead of us pushes its roster
 * before anything else on the link (HELLO, SIGHUP), so by its NACK ours
 * is as new.  The recipient's own NACK is always final.
 */
static int
nack_roster_behind(const struct agentd *a, const struct env *e,
    const struct astore_out *r)
{
	const struct roster_agency *ag;
	int c = -(int)e->code;

	if (c != FERRY_ERECIPIENT && c != FERRY_EUNKNOWNAGENCY &&
	    c != FERRY_EREVOKED)
		return (0);
	if (roster_find_relay(a->roster, e->from) == NULL)
		return (0);
	if ((ag = roster_find(a->roster, r->to)) == NULL ||
	    ag->status != ROSTER_ACTIVE)
		return (0);
	if ((ag = roster_find(a->roster, a->me->id)) == NULL ||
	    ag->status != ROSTER_ACTIVE)
		return (0);
	return (1);
}

/*
 * NACK ${e} (its log entry ${le}) of message ${r} from a relay whose
 * roster is behind ours (nack_roster_behind): not final.  The NACK is
 * logged; a message still routed to that relay goes through another
 * connected relay at once (LOG_ROUTE_NO_ACCEPT: that relay did not take
 * it), or, with none, stays with it, sent again with its backoff (the
 * relay may have caught up by then) and moved by the first tick that
 * finds another relay up.  A message that has moved on (failover, or in
 * another relay's custody) is left where it is.  0, an error, or 1 when
 * the message has been refused for longer than a relay keeps one
 * (ROSTER_BEHIND_MAX_MS since it was queued): the caller fails it.
 */
static int
nack_behind_route(struct agentd *a, const struct env *e,
    const struct log_entry *le, const struct astore_out *r, const char *hx,
    const char *qreason)
{
	const struct pending_msg *m;
	uint64_t now = ferry_now_ms(), mono = agentd_mono_ms();
	unsigned long long ver = (unsigned long long)a->roster->version;
	const char *code = ferry_errname(-(int)e->code);
	int nl, to, rc;

	if (r->t_queued != 0 && now > r->t_queued &&
	    now - r->t_queued >= ROSTER_BEHIND_MAX_MS) {
		alog(ALOG_WARN, "relay-roster-behind", "msg=%s relay=%s to=%s "
		    "code=%s reason=\"%s\" roster=%llu: refused by the relays "
		    "for longer than a relay keeps a message (5 days) although "
		    "roster version %llu in force here lists %s as active: "
		    "failed", hx, e->from, r->to, code, qreason, ver, ver,
		    r->to);
		return (1);
	}
	nl = agentd_link_find(a, e->from);
	m = pending_find(a->pend, e->msg_id);
	if (r->state != ASTORE_QUEUED || m == NULL ||
	    (m->link >= 0 && m->link != nl)) {
		/* About a copy sent through that relay before the message
		 * moved on: nothing to change. */
		if ((rc = log_append(a->log, le, NULL, 0, NULL)) != 0)
			return (rc);
		alog(ALOG_WARN, "relay-roster-behind", "msg=%s relay=%s to=%s "
		    "code=%s reason=\"%s\" roster=%llu: relay %s refused %s, "
		    "which roster version %llu in force here lists as active: "
		    "its roster is behind; the message is with relay %s, left "
		    "there", hx, e->from, r->to, code, qreason, ver, e->from,
		    r->to, ver, m != NULL && m->link >= 0 &&
		    (size_t)m->link < a->nlinks ? a->links[m->link].id :
		    "(another)");
		return (0);
	}
	to = agentd_choose_link(a, nl, 0);
	if (to >= 0) {
		if ((rc = log_and_update_route(a, le, r, to,
		    LOG_ROUTE_NO_ACCEPT)) != 0)
			return (rc);
		pending_route(a->pend, m, to, 0);
		/* At once the first time; after that with the retry backoff:
		 * two relays both behind would otherwise bounce it between
		 * them at network speed, two log entries a bounce. */
		pending_retime(a->pend, m, mono + (m->attempts <= 1 ? 0 :
		    agentd_backoff(a, a->conf.retry_ms, a->conf.retry_max_ms,
		    m->attempts - 2)), m->attempts);
		a->n_failovers++;
	} else {
		if ((rc = log_append(a->log, le, NULL, 0, NULL)) != 0)
			return (rc);
		/* As if failover_after had passed since its first send
		 * there: the first tick with another relay up moves it. */
		if (nl >= 0)
			pending_route(a->pend, m, nl,
			    mono > a->conf.failover_ms ?
			    mono - a->conf.failover_ms : 1);
	}
	alog(ALOG_WARN, "relay-roster-behind", "msg=%s relay=%s to=%s code=%s "
	    "reason=\"%s\" roster=%llu: relay %s refused %s, which roster "
	    "version %llu in force here lists as active: its roster is "
	    "behind; the message stays queued, %s%s", hx, e->from, r->to,
	    code, qreason, ver, e->from, r->to, ver, to >= 0 ?
	    "sent through relay " : "sent again later (no other relay "
	    "connected), through another relay as soon as one is",
	    to >= 0 ? a->links[to].id : "");
	if (to >= 0)
		alog(ALOG_INFO, "route", "msg=%s relay=%s reason=%s", hx,
		    a->links[to].id, agentd_route_reason(LOG_ROUTE_NO_ACCEPT));
	return (0);
}

/** agentd_handle_nack(a, e): a NACK of a message of ours. */
int
agentd_handle_nack(struct agentd *a, const struct env *e)
{
	struct astore_out r;
	struct log_entry le;
	char hx[33], reason[ASTORE_REASON_MAX + 1];
	char qreason[4 * ASTORE_REASON_MAX + 16];
	const struct pending_msg *m;
	uint8_t pk[32];
	uint64_t used;
	uint32_t was;
	size_t n;
	int rc, to, c;

	agentd_idhex(hx, e->msg_id);
	/* A NACK from our message's recipient revoked since it was sent:
	 * its key in the roster version in force then (as for receipts). */
	if ((rc = agentd_verify_from(a, e)) == FERRY_EREVOKED &&
	    astore_get_out(a->store, e->msg_id, &r) == 0 &&
	    strcmp(e->from, r.to) == 0 &&
	    receipt_key(a, e, &r, pk, &used) == 0)
		rc = env_verify(e, pk);
	if (rc != 0) {
		alog(ALOG_WARN, "bad-nack", "msg=%s from=%s: %s; ignored", hx,
		    e->from, ferry_strerror(rc));
		return (0);
	}
	n = e->reason_len < ASTORE_REASON_MAX ? e->reason_len :
	    ASTORE_REASON_MAX;
	memcpy(reason, e->reason, n);
	reason[n] = '\0';
	/* Chosen by the relay or the recipient: escaped in our log lines. */
	(void)alog_esc(qreason, sizeof(qreason), reason, 1);
	rc = out_get(a, e->msg_id, &r);
	if (rc == FERRY_ENOENT) {
		alog(ALOG_WARN, "nack", "msg=%s from=%s code=%s reason=\"%s\" "
		    "(not an outgoing message)", hx, e->from,
		    ferry_errname(-(int)e->code), qreason);
		return (0);
	}
	if (rc != 0)
		return (rc);
	/* Only the relay or the message's recipient may refuse it, and
	 * only in a NACK addressed to us (not left to the relay alone). */
	if (strcmp(e->to, a->me->id) != 0 ||
	    (roster_find_relay(a->roster, e->from) == NULL &&
	    strcmp(e->from, r.to) != 0)) {
		alog(ALOG_WARN, "bad-nack", "msg=%s from=%s to=%s: not from "
		    "the relay or the recipient (%s), or not addressed to us; "
		    "ignored", hx, e->from, e->to, r.to);
		return (0);
	}
	if (r.state == ASTORE_DELIVERED || r.state == ASTORE_FAILED)
		return (0);
	/* About one relay's own copy (it expired, was purged, or is not
	 * held there): only the relay the message is with counts.  With
	 * several relays a copy left in another (resent from it) may
	 * expire there while the one in custody is delivered. */
	c = -(int)e->code;
	if ((c == FERRY_EEXPIREDMSG || c == FERRY_EPURGED ||
	    c == FERRY_ENOTHELD) && (m = pending_find(a->pend,
	    e->msg_id)) != NULL && m->link >= 0 &&
	    (size_t)m->link < a->nlinks &&
	    strcmp(a->links[m->link].id, e->from) != 0) {
		alog(ALOG_WARN, "stale-nack", "msg=%s from=%s code=%s: about "
		    "that relay's copy, but the message is with relay %s; "
		    "ignored", hx, e->from, ferry_errname(c),
		    a->links[m->link].id);
		return (0);
	}
	if (memcmp(r.env_hash, e->env_hash, 32) != 0) {
		alog(ALOG_WARN, "bad-nack", "msg=%s: env_hash differs; "
		    "ignored", hx);
		return (0);
	}
	memset(&le, 0, sizeof(le));
	le.kind = LOG_NACK;
	memcpy(le.msg_id, e->msg_id, FERRY_MSGID_LEN);
	memcpy(le.env_hash, r.env_hash, 32);
	agentd_copy_str(le.from, sizeof(le.from), e->from);
	agentd_copy_str(le.to, sizeof(le.to), a->me->id);
	le.code = -(int32_t)e->code;
	le.roster_version = a->roster->version;
	/* A relay whose roster is behind ours refused the recipient: not
	 * final, routed again (until a relay would have expired it). */
	if (nack_roster_behind(a, e, &r) &&
	    (rc = nack_behind_route(a, e, &le, &r, hx, qreason)) != 1)
		return (rc);
	/* The relay holds no record of a message it accepted (it lost its
	 * data, or runs from an old backup): back to QUEUED, logged with
	 * the NACK in one commit, and uploaded again at once; the
	 * recipient's de-duplication makes a second copy harmless. */
	if (-(int)e->code == FERRY_ENOTHELD && nack_transient(a, e) &&
	    r.state == ASTORE_ACCEPTED) {
		r.state = ASTORE_QUEUED;
		/* Routed again at once: another relay if one is up. */
		if ((to = agentd_choose_link(a, agentd_link_find(a, e->from), 0)) < 0)
			to = agentd_choose_link(a, -1, 1);
		if ((rc = log_and_update_route(a, &le, &r, to,
		    LOG_ROUTE_NOT_HELD)) != 0)
			return (rc);
		a->n_not_held++;
		agentd_count_move(a, &r, ASTORE_ACCEPTED, ASTORE_QUEUED);
		(void)pending_set(a->pend, e->msg_id, ASTORE_QUEUED,
		    agentd_mono_ms());
		if ((m = pending_find(a->pend, e->msg_id)) != NULL)
			pending_route(a->pend, m, to, 0);
		if (to >= 0)
			alog(ALOG_INFO, "route", "msg=%s relay=%s reason=%s",
			    hx, a->links[to].id,
			    agentd_route_reason(LOG_ROUTE_NOT_HELD));
		alog(ALOG_WARN, "not-held", "msg=%s to=%s: the relay holds no "
		    "record of it (it lost its data or runs from an older "
		    "backup); sending it again", hx, r.to);
		return (0);
	}
	if (nack_transient(a, e)) {
		if ((rc = log_append(a->log, &le, NULL, 0, NULL)) != 0)
			return (rc);
		alog(ALOG_WARN, "nack", "msg=%s code=%s reason=\"%s\": will "
		    "retry", hx, ferry_errname(-(int)e->code), qreason);
		return (0);
	}
	was = r.state;
	r.state = ASTORE_FAILED;
	r.t_failed = ferry_now_ms();
	r.code = e->code;
	agentd_copy_str(r.reason, sizeof(r.reason), reason);
	if ((rc = log_and_update(a, &le, &r)) != 0)
		return (rc);
	a->n_failed++;
	agentd_count_move(a, &r, was, ASTORE_FAILED);
	pending_del(a->pend, e->msg_id);
	alog(ALOG_ERROR, "failed", "msg=%s to=%s code=%s reason=\"%s\"", hx,
	    r.to, ferry_errname(-(int)e->code), qreason);
	return (0);
}
