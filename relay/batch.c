/*
 * batch.c: the relay's batch (docs/protocol.md section 6.3): what one
 * turn of the loop drained, each envelope checked into an item
 * (batch_check.c), with the expiries and prunings of a sweep; then ONE
 * log batch with every log entry and queue change, ONE synced commit;
 * only then the answers (ACCEPTED, NACKs, forwarded finals).  A commit
 * that failed for lack of space (H1) refuses the new MSGs and commits
 * what frees space.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "envelope.h"
#include "log.h"
#include "note.h"
#include "roster.h"
#include "relay_int.h"

#define SWEEP_MAX 1000		/* expired messages handled per sweep */
#define PRUNE_MAX 1000		/* finished records pruned per sweep */
#define FULL_RETRY_MS 60000	/* disk full: try new MSGs again after this */

/*
 * The NACK envelope of ${code} (FERRY_EEXPIREDMSG, or FERRY_EPURGED with
 * the operator's reason ${why}) that finishes a queued message, and its
 * EXPIRED log entry with that code.
 */
static int
expire_item(struct relay *r, const struct queue_msg *qm, int code,
    const char *why)
{
	struct item *it;
	struct peer *sp;

	if ((it = batch_item_new(r)) == NULL)
		return (-1);
	it->kind = IT_EXPIRE;
	it->code = code;
	it->qm = *qm;
	it->qm.env = NULL;
	if (peer_make_nack(r, qm->from, qm->msg_id, qm->env_hash,
	    code, why, &it->final, &it->flen) != 0) {
		r->nitems--;
		return (-1);
	}
	sp = peer_get(r, qm->from, 0);
	it->notify = !(sp != NULL && sp->routed);
	rutil_le_set(&it->le[0], LOG_EXPIRED, qm->msg_id, qm->env_hash,
	    qm->from, qm->to, r->roster->version);
	it->le[0].code = code;
	it->nle = 1;
	return (0);
}

/**
 * batch_expired(r, qm, now): is queued message ${qm} due to expire at wall
 * clock ${now}: past its lifetime and not kept from expiry (below)?  The
 * sweep expires exactly these, and pump (loop.c) forwards none of them:
 * a message past its expiry whose sender may have been told it failed
 * (a relay restored from a backup still holding it) must never reach its
 * recipient.
 */
int
batch_expired(struct relay *r, const struct queue_msg *qm, uint64_t now)
{
	struct peer *rp;

	if (qm->accepted_ms + r->c->expiry_ms > now)
		return (0);
	/*
	 * In flight to a connected recipient: it may be in its inbox
	 * already, so its RECEIPT must still be taken (review H3a).  It
	 * expires once the recipient is gone (disconnect, heartbeat
	 * timeout) or a send to it failed; a connected recipient that
	 * never answers keeps it (redelivered every `redeliver`).
	 */
	rp = peer_get(r, qm->to, 0);
	if (rp != NULL && rp->routed && rp->inflight > 0 &&
	    qm->seq <= rp->cursor)
		return (0);
	/*
	 * In flight when its route reset (a link that dropped, a restart
	 * of the agent, a HELLO): the recipient may have stored it and
	 * sent a RECEIPT lost with the link, which only a redelivery makes
	 * it send again.  Kept for RESET_GRACE_MS after the reset, for
	 * that redelivery (review of session 10), and never more than
	 * RESET_GRACE_MS past its expiry: a recipient that resets again
	 * and again (restarted by systemd on that very message) must not
	 * keep it for ever.  A relay that restarts knows nothing of what
	 * was in flight before: no grace then.
	 */
	if (rp != NULL && qm->seq <= rp->reset_cursor &&
	    rutil_mono_ms() - rp->reset_ms < RESET_GRACE_MS &&
	    now < qm->accepted_ms + r->c->expiry_ms + RESET_GRACE_MS)
		return (0);
	return (1);
}

struct sweep_ctx {
	struct relay *r;
	uint64_t now;
	size_t n;
};

static int
sweep_one(void *ctx, const struct queue_msg *qm)
{
	struct sweep_ctx *sc = ctx;

	if (qm->accepted_ms + sc->r->c->expiry_ms > sc->now)
		return (1);	/* seq order is accept order: done */
	if (!batch_expired(sc->r, qm, sc->now))
		return (0);
	if (batch_has(sc->r, NULL, qm->msg_id) != NULL)
		return (0);	/* answered in this very batch */
	if (expire_item(sc->r, qm, FERRY_EEXPIREDMSG, NULL) != 0)
		return (1);
	return (++sc->n >= SWEEP_MAX);
}

struct purge_ctx {
	struct relay *r;
	const char *to, *why;
	size_t n;
	int failed;
};

static int
purge_one(void *ctx, const struct queue_msg *qm)
{
	struct purge_ctx *pc = ctx;

	if (strcmp(qm->to, pc->to) != 0)
		return (0);
	if (batch_has(pc->r, NULL, qm->msg_id) != NULL)
		return (0);	/* finished in this very batch */
	if (expire_item(pc->r, qm, FERRY_EPURGED, pc->why) != 0) {
		pc->failed = 1;
		return (1);
	}
	return (++pc->n >= SWEEP_MAX);
}

/**
 * batch_purge(r, to, why, n): add to the batch the purge of each message
 * queued for ${to} (at most SWEEP_MAX a turn): an EXPIRED entry of code
 * FERRY_EPURGED and a NACK of it, with ${why}, to the sender, committed
 * and answered with the batch.  *${n}: how many.  1 if the bound was
 * reached (more may be queued), 0 if none is left after this batch, -1
 * if out of memory.
 */
int
batch_purge(struct relay *r, const char *to, const char *why, size_t *n)
{
	struct purge_ctx pc = { r, to, why, 0, 0 };
	int rc;

	batch_settle(r);	/* batch_has must see every item's kind */
	rc = queue_foreach(r->q, purge_one, &pc);
	*n = pc.n;
	if (pc.failed || rc < 0)
		return (-1);
	return (pc.n >= SWEEP_MAX);
}

/* A finished record, oldest first: forget it once past retention. */
static int
prune_one(void *ctx, uint64_t done_ms, const uint8_t *msg_id)
{
	struct sweep_ctx *sc = ctx;
	struct item *it;

	if (done_ms + sc->r->c->retention_ms > sc->now)
		return (1);	/* finish order: the rest are younger */
	if ((it = batch_item_new(sc->r)) == NULL)
		return (1);
	it->kind = IT_PRUNE;
	it->done_ms = done_ms;
	memcpy(it->qm.msg_id, msg_id, FERRY_MSGID_LEN);
	return (++sc->n >= PRUNE_MAX);
}

/**
 * batch_sweep(r, now): add to the batch an expiry for each queued message
 * past its lifetime at wall clock ${now} (at most SWEEP_MAX), and the
 * removal of each finished record past the retention period (at most
 * PRUNE_MAX, so that a turn stays short; committed with the batch like
 * everything else).  1 if a bound was reached (more may be due), else 0.
 */
int
batch_sweep(struct relay *r, uint64_t now)
{
	struct sweep_ctx sc = { r, now, 0 };
	int more;

	batch_settle(r);	/* batch_has must see every item's kind */
	(void)queue_foreach(r->q, sweep_one, &sc);
	more = sc.n >= SWEEP_MAX;
	sc.n = 0;
	(void)queue_finished(r->q, prune_one, &sc);
	return (more || sc.n >= PRUNE_MAX);
}

/**
 * batch_commit(r): commit the batch: every log entry and every queue
 * change in one log batch, one synced commit (a full map is grown and the
 * batch redone by the log).  Returns 0, or a negative code after which
 * the relay stops (FERRY_ENOSPC: batch_disk_full first); nothing of a
 * failed batch was written.
 */
int
batch_commit(struct relay *r)
{
	struct log_batch *lb;
	struct queue_txn *t;
	uint64_t got, grows, now = ferry_now_ms();
	size_t i;
	int j, rc = 0, need = 0;

	batch_settle(r);	/* taken without batch_drain (tests) */
	for (i = 0; i < r->nitems; i++)
		if (r->items[i].nle > 0 || r->items[i].kind == IT_NOTIFIED ||
		    r->items[i].kind == IT_PRUNE)
			need = 1;
	if (!need)
		return (0);
	grows = log_map_grows(r->log);
	if ((rc = log_begin(r->log, &lb)) != 0)
		return (rc);
	if ((rc = queue_begin(r->q, lb, &t)) != 0) {
		log_abort(lb);
		return (rc);
	}
	for (i = 0; i < r->nitems && rc == 0; i++) {
		struct item *it = &r->items[i];

		for (j = 0; j < it->nle; j++) {
			if ((rc = log_add(lb, &it->le[j], NULL, 0, &got)) != 0)
				break;
			if (j == 0)
				it->log_index = got;
		}
		if (rc != 0)
			break;
		switch (it->kind) {
		case IT_ACCEPT:
			it->qm.log_index = it->log_index;
			it->qm.env = it->buf;
			rc = queue_put(t, &it->qm);
			it->qm.env = NULL;
			break;
		case IT_RECEIPT:
		case IT_RNACK:
			rc = queue_finish(t, it->qm.msg_id, it->buf, it->len,
			    it->notify, now);
			break;
		case IT_EXPIRE:
			rc = queue_finish(t, it->qm.msg_id, it->final,
			    it->flen, it->notify, now);
			break;
		case IT_NOTIFIED:
			rc = queue_notified(t, it->nsender, it->nseq);
			break;
		case IT_CHECKPOINT:
			/* Held with its entry: a later one behind it is
			 * caught, also after a restart. */
			rc = queue_cp_put(t, it->p->id, it->p->cp_size,
			    it->cp_root);
			break;
		case IT_PRUNE:
			if ((rc = queue_prune(t, it->done_ms,
			    it->qm.msg_id)) == FERRY_ENOENT)
				rc = 0;
			break;
		default:
			break;
		}
	}
	if (rc != 0) {
		queue_abort(t);
		return (rc);
	}
	/* Test hook: die with the batch received and checked, unwritten. */
	if (r->fault == BATCH_FAULT_BEFORE_COMMIT)
		_exit(137);
	/* Test hook (unit tests): fail as a full disk does. */
	if (r->fail_commits > 0) {
		r->fail_commits--;
		queue_abort(t);
		return (FERRY_ENOSPC);
	}
	rc = queue_commit(t);
	if (log_map_grows(r->log) != grows)
		rlog(RLOG_WARN, "queue-map-grow", "grows=%llu",
		    (unsigned long long)(log_map_grows(r->log) - grows));
	if (rc != 0)
		return (rc);
	r->m.commits++;
	/* Test hook: die with the batch committed, nothing answered. */
	if (r->fault == BATCH_FAULT_AFTER_COMMIT)
		_exit(137);
	(void)FERRY_FAULT("relay-commit");
	for (i = 0; i < r->nitems; i++)
		if (r->items[i].kind == IT_RECEIPT ||
		    r->items[i].kind == IT_RNACK ||
		    r->items[i].kind == IT_EXPIRE) {
			(void)FERRY_FAULT("relay-commit-final");
			break;
		}
	r->m.log_size = log_size(r->log);
	return (rutil_refresh_checkpoint(r));
}

/**
 * batch_answer(r): after the commit: answer, forward, account; the batch
 * is empty then.
 */
void
batch_answer(struct relay *r)
{
	struct peer *p;
	size_t i;
	char h[17];

	for (i = 0; i < r->nitems; i++) {
		struct item *it = &r->items[i];

		switch (it->kind) {
		case IT_ACCEPT:
			r->m.accepted++;
			rutil_hex8(h, it->qm.msg_id);
			rlog(RLOG_INFO, "accepted",
			    "msg=%s from=%s to=%s bytes=%zu log=%llu", h,
			    it->qm.from, it->qm.to, it->len,
			    (unsigned long long)it->log_index);
			peer_send_accepted(r, it->p, it->qm.msg_id, it->hash,
			    it->log_index);
			break;
		case IT_DUP:
			r->m.duplicates++;
			if (it->dup_same)
				it->qm.log_index =
				    r->items[it->dup_ref].log_index;
			rutil_hex8(h, it->qm.msg_id);
			rlog(RLOG_INFO, "duplicate", "msg=%s from=%s%s", h,
			    it->p->id, it->final ? " done=1" : "");
			peer_send_accepted(r, it->p, it->qm.msg_id, it->hash,
			    it->qm.log_index);
			if (it->final != NULL)
				(void)peer_send(r, it->p, it->final, it->flen);
			break;
		case IT_REFUSE:
			/* Rate-limited refusals: DEBUG lines only. */
			rlog(it->quiet ? RLOG_DEBUG : RLOG_WARN, "refused",
			    "from=%s code=%s%s%s bytes=%zu "
			    "not_logged_before=%llu", it->p->id,
			    ferry_errname(it->code), it->why ? " limit=" : "",
			    it->why ? it->why : "", it->len,
			    (unsigned long long)it->quiet_n);
			/* NACK refused MSGs and undecodable input; a refused
			 * RECEIPT, NACK or control envelope is only logged,
			 * so no NACK can be mistaken for one about a MSG. */
			if (it->e.type == ENV_MSG || it->e.type == 0)
				peer_send_nack(r, it->p, it->e.type == ENV_MSG ?
				    it->e.id : NULL, it->hash, it->code,
				    it->why);
			/* A CHECKPOINT behind the one held: its agent is
			 * told (no message id: about its log). */
			else if (it->nack)
				peer_send_nack(r, it->p, NULL, it->hash,
				    it->code, "this agency's log is behind the "
				    "checkpoint of it the relay holds");
			break;
		case IT_PRUNE:
			r->m.pruned++;
			break;
		case IT_RECEIPT:
		case IT_RNACK:
		case IT_EXPIRE:
			rutil_hex8(h, it->qm.msg_id);
			if (it->kind == IT_RECEIPT)
				r->m.delivered++;
			if (it->kind == IT_EXPIRE && it->code == FERRY_EPURGED)
				r->m.purged++;
			else if (it->kind == IT_EXPIRE)
				r->m.expired++;
			rlog(it->kind == IT_RECEIPT ? RLOG_INFO : RLOG_WARN,
			    it->kind == IT_RECEIPT ? "delivered" :
			    it->kind == IT_RNACK ? "recipient-nack" :
			    it->code == FERRY_EPURGED ? "purged" : "expired",
			    "msg=%s from=%s to=%s", h, it->qm.from, it->qm.to);
			(void)peer_queued(r, it->qm.from, it->qm.to,
			    it->qm.env_len, 0);
			/* Credit back only for a message in flight on this
			 * route (M2). */
			if ((p = peer_get(r, it->qm.to, 0)) != NULL &&
			    peer_fl_done(p, it->qm.seq))
				p->progress_ms = rutil_mono_ms();
			/* Sent to the sender if it is connected now, even
			 * when it was not at the check (a HELLO later in
			 * this batch pushed the notices committed before
			 * this one): the kept copy goes at its next HELLO,
			 * and an ASK gets it from q.ids in any case. */
			if ((p = peer_get(r, it->qm.from, 0)) != NULL &&
			    FERRY_FAULT("relay-route-lost"))
				peer_offline(r, p, "test-fault");
			if (p != NULL && FERRY_FAULT("relay-forward-final"))
				continue;	/* as if the send failed */
			if (p != NULL && p->routed) {
				if (it->kind == IT_EXPIRE)
					(void)peer_send(r, p, it->final,
					    it->flen);
				else
					(void)peer_send(r, p, it->buf, it->len);
			}
			break;
		default:
			break;
		}
	}
	batch_items_clear(r);
}

/* Bytes free for us on the data folder's filesystem (0 if unknown). */
static uint64_t
disk_free(const struct relay *r)
{
	struct statvfs sv;

	if (statvfs(r->c->data, &sv) != 0)
		return (0);
	return ((uint64_t)sv.f_bavail * sv.f_frsize);
}

/**
 * batch_disk_tick(r, now): while the disk is full (looked at every turn
 * of the loop, a statvfs call): new MSGs are tried again once 1 MiB more than
 * at the failure is free on the filesystem (space returned), or after
 * FULL_RETRY_MS anyway (LMDB may have reusable pages by then).
 */
void
batch_disk_tick(struct relay *r, uint64_t now)
{

	if (!r->m.disk_full || r->full_until <= now)
		return;
	if (disk_free(r) >= r->full_free0 + (1u << 20)) {
		r->full_until = 0;
		rlog(RLOG_INFO, "disk-retry", "free_kib=%llu",
		    (unsigned long long)(disk_free(r) >> 10));
	}
}

/** batch_accepts(r): does the batch store a new message? */
int
batch_accepts(const struct relay *r)
{
	size_t i;

	for (i = 0; i < r->nitems; i++)
		if (r->items[i].kind == IT_ACCEPT)
			return (1);
	return (0);
}

/* Undo the in-memory counts of an IT_ACCEPT item that was not stored. */
static void
undo_accept(struct relay *r, struct item *it)
{

	(void)peer_queued(r, it->qm.from, it->qm.to, it->len, 0);
}

/**
 * batch_undo(r): undo in-memory counts of a batch that failed to commit;
 * the batch is empty then.
 */
void
batch_undo(struct relay *r)
{
	size_t i;

	for (i = 0; i < r->nitems; i++)
		if (r->items[i].kind == IT_ACCEPT)
			undo_accept(r, &r->items[i]);
	batch_items_clear(r);
}

/**
 * batch_disk_full(r, rc): a commit failed for lack of space (H1, ${rc} is
 * FERRY_ENOSPC).  Nothing of the batch was
 * written and nothing answered.  Refuse its new MSGs with a transient
 * FERRY_ENOSPC NACK (no log entry) and drop its log-only entries, then
 * try once more with what frees space (RECEIPTs, NACKs, expiries) and
 * what answers from the store (duplicates); if that fails too, drop those
 * as well (their senders and recipients retry: nothing was acknowledged).
 * New MSGs are refused without trying until space returns (see
 * batch_disk_tick).  0, or the
 * error of a second failure that is not a lack of space.
 */
int
batch_disk_full(struct relay *r, int rc)
{
	size_t i;

	r->m.commit_failures++;
	if (r->m.disk_full == 0)
		rlog(RLOG_ERROR, "disk-full", "err=%s: no space left for the "
		    "queue/log; new messages get NACK FERRY_ENOSPC, receipts "
		    "still processed; free space in the data folder",
		    ferry_errname(rc));
	r->m.disk_full = 1;
	r->full_until = rutil_mono_ms() + FULL_RETRY_MS;
	r->full_free0 = disk_free(r);
	for (i = 0; i < r->nitems; i++) {
		struct item *it = &r->items[i];

		if (it->kind == IT_ACCEPT) {
			undo_accept(r, it);
			batch_refuse_nolog(r, it, FERRY_ENOSPC);
		} else if (it->kind == IT_REFUSE && it->nle > 0) {
			/* Its REFUSED entry is not written after all: it and
			 * those it reported go back to the unlogged count. */
			it->p->refused_quiet += it->quiet_n + 1;
			it->quiet = 1;
			it->quiet_n = 0;
			it->nle = 0;
		}
		else if (it->kind == IT_CHECKPOINT) {
			/* Not logged: the agency's next one is not "nothing
			 * new" nor "too soon" because of it. */
			it->p->cp_size = it->cp_size0;
			it->p->cp_ms = it->cp_ms0;
			it->kind = IT_SKIP;
			it->nle = 0;
		} else if (it->kind == IT_DUP && it->dup_same &&
		    r->items[it->dup_ref].kind != IT_ACCEPT)
			batch_refuse_nolog(r, it, FERRY_ENOSPC);
	}
	if ((rc = batch_commit(r)) == 0)
		return (0);
	if (rc != FERRY_ENOSPC)
		return (rc);
	r->m.commit_failures++;
	rlog(RLOG_WARN, "disk-full", "err=%s: receipts of this batch not "
	    "recorded; they are asked again", ferry_errname(rc));
	ctl_purge_lost(r);
	for (i = 0; i < r->nitems; i++) {
		struct item *it = &r->items[i];

		if (it->nle > 0 || it->kind == IT_NOTIFIED ||
		    it->kind == IT_PRUNE || it->dup_final) {
			it->kind = IT_SKIP;
			it->nle = 0;
		}
	}
	return (0);
}

/** batch_free(r): free the batch's items; the relay is stopping. */
void
batch_free(struct relay *r)
{

	batch_items_clear(r);
	free(r->items);
	r->items = NULL;
	r->capitems = 0;
}
