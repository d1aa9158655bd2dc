/*
 * batch_check.c: a turn's envelopes taken into the relay's batch
 * (docs/protocol.md section 6.3) and checked, each into an item: a new
 * MSG to store, a duplicate to answer again, a refusal, a recipient's
 * RECEIPT or NACK, an agent's checkpoint.  HELLO, CREDIT, HEARTBEAT and
 * ASK are answered here from what is committed.  The pure part of each
 * check (hash, decoding, sender, signature) runs on the relay's verify
 * threads; the rest in the order the envelopes were read.  batch.c
 * commits and answers the items.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "note.h"
#include "roster.h"
#include "relay_int.h"

#define HELLO_PUSH_MS 1000	/* HELLO pushes per route: at most 1/s */
#define REFUSED_LOG_MS 1000	/* REFUSED log entries: 1/s per peer (M3) */
#define CHECKPOINT_NOTE_MAX 1024 /* bytes of an agent's checkpoint note */

/** batch_item_new(r): a zeroed item at the batch's end (NULL: no memory). */
struct item *
batch_item_new(struct relay *r)
{
	struct item *it;

	if (r->nitems == r->capitems) {
		size_t nc = r->capitems ? r->capitems * 2 : 64;

		if ((it = realloc(r->items, nc * sizeof(*it))) == NULL)
			return (NULL);
		r->items = it;
		r->capitems = nc;
	}
	it = &r->items[r->nitems++];
	memset(it, 0, sizeof(*it));
	return (it);
}

/** batch_items_clear(r): free the items' memory; the batch is empty. */
void
batch_items_clear(struct relay *r)
{
	size_t i;

	for (i = 0; i < r->nitems; i++) {
		free(r->items[i].buf);
		free(r->items[i].final);
		queue_msg_clear(&r->items[i].qm);
	}
	r->nitems = 0;
	r->npend = 0;
}

static void
refuse(struct relay *r, struct item *it, int code)
{

	uint64_t now = rutil_mono_ms();

	it->kind = IT_REFUSE;
	it->code = code;
	rutil_count_refused(r, code);
	/*
	 * One REFUSED log entry (and WARN line) per peer per second; the
	 * others are only counted (metrics) and summed up in the next line,
	 * so a peer sending garbage cannot grow the append-only log (M3).
	 * A refused MSG is NACKed all the same.
	 */
	if (it->p->refused_entry_ms != 0 &&
	    now - it->p->refused_entry_ms < REFUSED_LOG_MS) {
		it->quiet = 1;
		it->p->refused_quiet++;
		it->nle = 0;
		return;
	}
	it->p->refused_entry_ms = now;
	it->quiet_n = it->p->refused_quiet;
	it->p->refused_quiet = 0;
	rutil_le_set(&it->le[0], LOG_REFUSED, it->e.type == ENV_MSG ? it->e.id :
	    NULL, it->hash, it->p->id, NULL, r->roster->version);
	it->le[0].code = code;
	it->nle = 1;
}

/**
 * batch_refuse_nolog(r, it, code): refuse without a log entry: nothing may
 * be written (disk full).  Unlike
 * refuse(), this takes neither the peer's REFUSED entry of the second nor
 * its count of refusals not logged: the next REFUSED entry logged still
 * reports those.  Counted in metrics; its line is DEBUG (the disk-full
 * ERROR line says it once).
 */
void
batch_refuse_nolog(struct relay *r, struct item *it, int code)
{

	it->kind = IT_REFUSE;
	it->code = code;
	rutil_count_refused(r, code);
	it->quiet = 1;
	it->quiet_n = 0;
	it->nle = 0;
}

/** batch_has(r, self, id): the item of ${id} earlier in the batch than
 * ${self} (NULL: anywhere), or NULL. */
struct item *
batch_has(struct relay *r, struct item *self, const uint8_t *id)
{
	size_t i;

	for (i = 0; i < r->nitems; i++) {
		struct item *o = &r->items[i];

		if (o == self)
			break;
		if ((o->kind == IT_ACCEPT || o->kind == IT_RECEIPT ||
		    o->kind == IT_RNACK || o->kind == IT_EXPIRE) &&
		    memcmp(o->qm.msg_id, id, FERRY_MSGID_LEN) == 0)
			return (o);
	}
	return (NULL);
}

/* The highest encryption key id the roster in force lists for ${id}. */
static uint32_t
top_key(const struct relay *r, const char *id)
{
	const struct roster_agency *ag = roster_find(r->roster, id);
	uint32_t top = 0;
	size_t i;

	for (i = 0; ag != NULL && i < ag->nenc; i++)
		if (ag->enc[i].key_id > top)
			top = ag->enc[i].key_id;
	return (top);
}

static void
check_msg(struct relay *r, struct item *it)
{
	struct env *e = &it->e;
	struct item *o;
	uint8_t h[32];
	uint64_t seq;
	int st, q;

	/* Duplicates first: a message already held is answered as such
	 * even if its recipient was revoked since (review H4). */
	if ((o = batch_has(r, it, e->id)) != NULL) {
		if (o->kind == IT_ACCEPT &&
		    memcmp(o->hash, it->hash, 32) == 0) {
			it->kind = IT_DUP;
			memcpy(it->qm.msg_id, e->id, FERRY_MSGID_LEN);
			it->dup_same = 1;	/* index known after commit */
			it->dup_ref = (size_t)(o - r->items);
		} else if (o->kind != IT_ACCEPT &&
		    memcmp(o->qm.env_hash, it->hash, 32) == 0) {
			/*
			 * Finished in this very batch (RECEIPT, recipient
			 * NACK or expiry): a duplicate of a finished message,
			 * answered with that final envelope (review H3b).
			 */
			const uint8_t *fb = o->kind == IT_EXPIRE ? o->final :
			    o->buf;
			size_t fl = o->kind == IT_EXPIRE ? o->flen : o->len;

			if ((it->final = malloc(fl ? fl : 1)) == NULL) {
				refuse(r, it, FERRY_ENOMEM);
				return;
			}
			memcpy(it->final, fb, fl);
			it->flen = fl;
			it->kind = IT_DUP;
			it->dup_final = 1;
			memcpy(it->qm.msg_id, e->id, FERRY_MSGID_LEN);
			it->qm.log_index = o->qm.log_index;
		} else
			refuse(r, it, FERRY_EDUPMSG);
		return;
	}
	st = queue_lookup(r->q, e->id, h, &seq, &it->final, &it->flen);
	if (st == QUEUE_NONE) {
		/* Its record may have been pruned: answered from the log. */
		st = retain_final(r, e->id, it->hash, e->from,
		    &it->qm.log_index, &it->final, &it->flen);
		if (st == FERRY_EDUPMSG) {
			refuse(r, it, FERRY_EDUPMSG);
			return;
		}
		if (st == 1) {
			it->kind = IT_DUP;
			memcpy(it->qm.msg_id, e->id, FERRY_MSGID_LEN);
			r->m.pruned_answered++;
			return;
		}
	}
	if (st < 0) {
		refuse(r, it, FERRY_EINTERNAL);
		return;
	}
	if (st != QUEUE_NONE) {
		if (memcmp(h, it->hash, 32) != 0) {
			refuse(r, it, FERRY_EDUPMSG);
			return;
		}
		/* Same bytes as an envelope already verified and held. */
		it->kind = IT_DUP;
		memcpy(it->qm.msg_id, e->id, FERRY_MSGID_LEN);
		if (st == QUEUE_QUEUED) {
			struct queue_msg qm;

			if (queue_get(r->q, seq, &qm) == 0) {
				it->qm.log_index = qm.log_index;
				queue_msg_clear(&qm);
			}
		} else if (log_find_msg(r->log, e->id, LOG_ACCEPTED,
		    &it->qm.log_index) != 0)
			it->qm.log_index = 0;
		return;
	}
	if (!rutil_active(r, e->to)) {
		refuse(r, it, FERRY_ERECIPIENT);
		return;
	}
	if (e->key_id > top_key(r, e->to)) {
		/* Issue 13, hole 3: sealed to a key the roster in force never
		 * listed for the recipient, which could only hold it (its own
		 * roster may lag) and so fill its delivery window.  Transient
		 * for the sender: a newer roster here may list it. */
		refuse(r, it, FERRY_EWRONGKEY);
		return;
	}
	if (it->sig != 0) {	/* env_verify in batch_settle */
		refuse(r, it, FERRY_EBADSIG);
		return;
	}
	if (rroster_expired(r)) {
		/*
		 * DESIGN: a roster past its expiry is not trusted for new
		 * work.  Messages already accepted are still delivered and
		 * receipted; the sender retries once a newer version is in
		 * force (agents treat FERRY_EEXPIRED from the relay as
		 * transient).
		 */
		refuse(r, it, FERRY_EEXPIRED);
		return;
	}
	if (r->full_until > rutil_mono_ms()) {
		/* H1: out of space; transient for the sender, which retries. */
		batch_refuse_nolog(r, it, FERRY_ENOSPC);
		return;
	}
	if ((q = peer_quota_hit(r, e->from, e->to, it->len)) >= 0) {
		/* Transient for the sender, which retries later. */
		r->m.queue_full[q]++;
		it->why = metrics_quota_keys[q];
		refuse(r, it, FERRY_EQUEUEFULL);
		return;
	}
	/* Counted now, so the next MSG of the batch sees it; undone if the
	 * batch fails (undo_accept). */
	if (peer_queued(r, e->from, e->to, it->len, 1) != 0) {
		refuse(r, it, FERRY_ENOMEM);
		return;
	}
	it->kind = IT_ACCEPT;
	it->qm.accepted_ms = ferry_now_ms();
	memcpy(it->qm.msg_id, e->id, FERRY_MSGID_LEN);
	memcpy(it->qm.env_hash, it->hash, 32);
	snprintf(it->qm.from, sizeof(it->qm.from), "%s", e->from);
	snprintf(it->qm.to, sizeof(it->qm.to), "%s", e->to);
	it->qm.env = NULL;	/* points at it->buf when stored */
	it->qm.env_len = it->len;
	rutil_le_set(&it->le[0], LOG_ACCEPTED, e->id, it->hash, e->from, e->to,
	    r->roster->version);
	it->nle = 1;
}

/* RECEIPT (or RECEIPT_P) or NACK from a message's recipient. */
static void
check_answer(struct relay *r, struct item *it, const uint8_t *spk)
{
	struct env *e = &it->e;
	uint8_t h[32];
	uint64_t seq;
	uint8_t *fin = NULL;
	size_t flen = 0;
	struct queue_msg qm;
	struct peer *sp;
	int st, receipt;

	/*
	 * A RECEIPT is logged whole (aux): the relay's log then holds a copy
	 * signed by the recipient.  One too big for that is not acted on
	 * (the message stays queued); an honest one is a few hundred bytes.
	 */
	receipt = e->type == ENV_RECEIPT || e->type == ENV_RECEIPT_P;
	if (receipt && it->len > LOG_AUX_MAX) {
		refuse(r, it, FERRY_ETOOBIG);
		return;
	}
	/* A RECEIPT_P by its proof: its note's signature checked once per
	 * note (the recipient's batch), not once per receipt. */
	if ((e->type == ENV_RECEIPT_P ? env_verify_proof(e, spk,
	    &r->note_cache) : it->sig) != 0) {
		refuse(r, it, FERRY_EBADSIG);
		return;
	}
	if (batch_has(r, it, e->msg_id) != NULL) {
		it->kind = IT_SKIP;	/* duplicate answer in one batch */
		return;
	}
	st = queue_lookup(r->q, e->msg_id, h, &seq, &fin, &flen);
	free(fin);
	if (st == QUEUE_DONE || (st == QUEUE_NONE && log_find_msg(r->log,
	    e->msg_id, LOG_ACCEPTED, &seq) == 0)) {
		/* Already finished (its record maybe pruned since). */
		it->kind = IT_SKIP;
		return;
	}
	if (st != QUEUE_QUEUED || memcmp(h, e->env_hash, 32) != 0 ||
	    queue_get(r->q, seq, &qm) != 0) {
		refuse(r, it, FERRY_ENOENT);
		return;
	}
	if (strcmp(qm.to, e->from) != 0 || strcmp(qm.from, e->to) != 0) {
		queue_msg_clear(&qm);
		refuse(r, it, FERRY_ESENDER);
		return;
	}
	free(qm.env);
	qm.env = NULL;
	it->qm = qm;
	it->kind = receipt ? IT_RECEIPT : IT_RNACK;
	sp = peer_get(r, qm.from, 0);
	it->notify = !(sp != NULL && sp->routed);
	if (receipt) {
		rutil_le_set(&it->le[0], LOG_RECEIPT, qm.msg_id, qm.env_hash,
		    qm.to, qm.from, e->roster_version);
		it->le[0].ref_index = e->log_index;
		it->le[0].aux = it->buf;
		it->le[0].aux_len = it->len;
		rutil_le_set(&it->le[1], LOG_DELIVERED, qm.msg_id, qm.env_hash,
		    qm.to, qm.from, r->roster->version);
		it->nle = 2;
	} else {
		rutil_le_set(&it->le[0], LOG_NACK, qm.msg_id, qm.env_hash,
		    qm.to, qm.from, r->roster->version);
		it->le[0].code = -(int32_t)e->code;
		it->nle = 1;
	}
}

/*
 * Agency ${p}'s CHECKPOINT of size ${size} is behind (or, at ${held}, not)
 * the checkpoint of its log this relay holds, of size ${held}: its log was
 * restored from a backup or rewritten.  Refused (a REFUSED entry
 * FERRY_EINCONSISTENT, the proof the relay saw it) and answered with a
 * NACK of that code, so the agency's agent says so too; one ERROR per
 * connection.
 */
static void
behind(struct relay *r, struct item *it, struct peer *p, uint64_t size,
    uint64_t held)
{

	r->m.checkpoints_behind++;
	refuse(r, it, FERRY_EINCONSISTENT);
	it->nack = 1;
	if (p->cp_behind_said)
		return;
	p->cp_behind_said = 1;
	rlog(RLOG_ERROR, "checkpoint-behind", "agency=%s size=%llu held=%llu: "
	    "its log is %s the checkpoint of size %llu it signed earlier, "
	    "which this relay holds: its data folder was restored from a "
	    "backup or its log rewritten; referrals it received after that "
	    "point are lost to it (their senders show them delivered): "
	    "docs/operations.md section 8", p->id, (unsigned long long)size,
	    (unsigned long long)held, size < held ? "behind" : "another "
	    "history than", (unsigned long long)held);
}

/*
 * An agent's CHECKPOINT (M3, issue 13 hole 4): logged only if its note
 * fits CHECKPOINT_NOTE_MAX, parses, is a plain checkpoint (docs/protocol.md
 * 5.4: no extension lines, one signature line), names the sender's own
 * log (origin "ferry/<id>"), is signed by the sender's key, grows the
 * tree past the last one logged for this peer (since start), and comes
 * checkpoint_interval or more after that one; an unchanged one is
 * skipped, a newer one within the interval skipped and counted (not kept:
 * the agency's next one after the interval is logged), anything else
 * refused.  So one agency adds at most one small entry per interval.
 */
static void
check_checkpoint(struct relay *r, struct item *it, struct peer *p,
    const uint8_t *spk)
{
	struct note_checkpoint cp;
	char origin[FERRY_ID_MAX + 8];
	uint8_t hroot[32];
	uint64_t now, hsize;
	int rc;

	if (it->e.blob_len == 0 || it->e.blob_len > CHECKPOINT_NOTE_MAX) {
		refuse(r, it, FERRY_ETOOBIG);
		return;
	}
	if ((rc = note_parse_checkpoint(it->e.blob, it->e.blob_len, &cp)) !=
	    0) {
		refuse(r, it, rc);
		return;
	}
	if (cp.ext_lines != 0 || cp.nsigs != 1) {
		refuse(r, it, FERRY_EBADVALUE);
		return;
	}
	snprintf(origin, sizeof(origin), "ferry/%s", p->id);
	if (strcmp(cp.origin, origin) != 0) {
		refuse(r, it, FERRY_ESENDER);
		return;
	}
	if (note_verify(it->e.blob, it->e.blob_len, cp.origin, spk) != 0) {
		refuse(r, it, FERRY_EBADSIG);
		return;
	}
	/* The one held of this agency (on disk, across restarts and
	 * reconnections): a log now behind it, or another at its size, was
	 * restored or rewritten.  Before the skips below, which compare
	 * with what this run logged: a restored agent reconnecting to a
	 * relay that kept running sends a smaller one. */
	if ((rc = queue_cp_get(r->q, p->id, &hsize, hroot)) == 0 &&
	    (cp.size < hsize || (cp.size == hsize &&
	    memcmp(cp.root, hroot, 32) != 0))) {
		behind(r, it, p, cp.size, hsize);
		return;
	}
	if (cp.size <= p->cp_size || (rc == 0 && cp.size == hsize)) {
		it->kind = IT_SKIP;	/* nothing new, or held already */
		return;
	}
	now = rutil_mono_ms();
	if (p->cp_ms != 0 && now - p->cp_ms < r->c->checkpoint_ms) {
		it->kind = IT_SKIP;	/* too soon after the last one */
		r->m.checkpoints_skipped++;
		return;
	}
	it->cp_size0 = p->cp_size;
	it->cp_ms0 = p->cp_ms;
	p->cp_ms = now;
	p->cp_size = cp.size;
	memcpy(it->cp_root, cp.root, 32);
	it->kind = IT_CHECKPOINT;
	rutil_le_set(&it->le[0], LOG_CHECKPOINT, NULL, it->hash, p->id, NULL,
	    r->roster->version);
	it->le[0].aux = it->e.blob;
	it->le[0].aux_len = it->e.blob_len;
	it->nle = 1;
}

struct push_ctx {
	struct relay *r;
	struct peer *p;
};

static int
push_one(void *ctx, uint64_t v, const uint8_t *b, size_t n)
{
	struct push_ctx *pc = ctx;

	peer_push_roster(pc->r, pc->p, v, b, n);
	return (0);
}

/* Push kept notices (receipts/NACKs) to ${p}; queue their removal. */
static int
notice_one(void *ctx, uint64_t nseq, const uint8_t *b, size_t n)
{
	struct push_ctx *pc = ctx;
	struct item *it;

	if (peer_send(pc->r, pc->p, b, n) != 0)
		return (1);
	if ((it = batch_item_new(pc->r)) == NULL)
		return (1);
	it->kind = IT_NOTIFIED;
	it->p = pc->p;
	it->nseq = nseq;
	snprintf(it->nsender, sizeof(it->nsender), "%s", pc->p->id);
	return (0);
}

/*
 * A HELLO's values are passed, not the envelope: pushing kept notices adds
 * items (notice_one -> item_new), which may move the item array that the
 * HELLO's own envelope lives in.
 */
static void
on_hello(struct relay *r, struct peer *p, uint64_t credit,
    uint64_t roster_version)
{
	struct push_ctx pc = { r, p };

	p->window = credit < r->c->credit_max ? credit : r->c->credit_max;
	p->cp_behind_said = 0;	/* said again to this connection */
	/*
	 * A HELLO resends what is in flight (an agent asks so after it
	 * reloads its keys) and pushes rosters and kept notices, but at most
	 * once a second per route: a HELLO loop cannot pile sends up in the
	 * peer's pipe (H2); later ones within the second only set W.
	 */
	if (p->hello_ms != 0 && rutil_mono_ms() - p->hello_ms < HELLO_PUSH_MS) {
		rlog(RLOG_DEBUG, "hello", "agency=%s credit=%llu repeated=1",
		    p->id, (unsigned long long)p->window);
		return;
	}
	p->hello_ms = rutil_mono_ms();
	peer_fl_clear(p);
	p->progress_ms = rutil_mono_ms();
	rlog(RLOG_INFO, "hello", "agency=%s roster=%llu credit=%llu depth=%llu",
	    p->id, (unsigned long long)roster_version,
	    (unsigned long long)p->window, (unsigned long long)p->depth);
	if (roster_version < r->roster->version)
		(void)queue_rosters(r->q, roster_version, push_one, &pc);
	(void)queue_notices(r->q, p->id, notice_one, &pc);
}

/*
 * An ASK from sender ${p}: what became of its message e->msg_id (issue 13,
 * hole 1)?  Answered from what is committed, never from this batch (an
 * answer in this batch is sent after its commit anyway): finished -> the
 * final kept in q.ids (the recipient's RECEIPT, or a NACK), sent again;
 * still queued -> nothing (it is in custody, the sender asks again
 * later); unknown here (this relay lost its data or was restored from an
 * old backup), or known under another envelope hash -> NACK
 * FERRY_ENOTHELD, on which the sender uploads the whole MSG again.  Only
 * the message's own sender is told anything.  Nothing is logged.
 */
static void
on_ask(struct relay *r, struct item *it, struct peer *p)
{
	const struct env *e = &it->e;
	struct queue_msg qm;
	struct env fe;
	uint8_t h[32], *fin = NULL;
	size_t flen = 0;
	uint64_t seq;
	int st, mine = 0;

	it->kind = IT_SKIP;
	r->m.asks++;
	if (batch_has(r, it, e->msg_id) != NULL)
		return;
	st = queue_lookup(r->q, e->msg_id, h, &seq, &fin, &flen);
	if (st == QUEUE_NONE && retain_final(r, e->msg_id, e->env_hash,
	    p->id, &seq, &fin, &flen) == 1 && fin != NULL) {
		/* Finished, its record pruned since: the log's final. */
		r->m.asks_answered++;
		r->m.pruned_answered++;
		(void)peer_send(r, p, fin, flen);
		free(fin);
		return;
	}
	if (st < 0) {
		rlog(RLOG_WARN, "ask", "agency=%s: %s", p->id,
		    ferry_strerror(st));
		return;
	}
	if (st == QUEUE_NONE || memcmp(h, e->env_hash, 32) != 0) {
		free(fin);
		r->m.asks_unknown++;
		peer_send_nack(r, p, e->msg_id, e->env_hash, FERRY_ENOTHELD,
		    NULL);
		return;
	}
	if (st == QUEUE_QUEUED) {
		if (queue_get(r->q, seq, &qm) == 0) {
			mine = strcmp(qm.from, p->id) == 0;
			queue_msg_clear(&qm);
		}
		if (!mine)	/* someone else's: as if unknown */
			peer_send_nack(r, p, e->msg_id, e->env_hash,
			    FERRY_ENOTHELD, NULL);
		return;
	}
	/* Finished: the final is addressed to the message's sender. */
	if (fin != NULL && env_decode(fin, flen, r->c->max_body, &fe) == 0 &&
	    strcmp(fe.to, p->id) == 0) {
		r->m.asks_answered++;
		(void)peer_send(r, p, fin, flen);
	} else
		peer_send_nack(r, p, e->msg_id, e->env_hash, FERRY_ENOTHELD,
		    NULL);
	free(fin);
}

/**
 * batch_add(r, p, b, len, nframes): take the message of ${nframes} frames
 * whose first frame ${b} came from agency ${p} into the batch; the bytes
 * are copied, batch_settle checks them.
 */
void
batch_add(struct relay *r, struct peer *p, const uint8_t *b, size_t len,
    int nframes)
{
	struct item *it;

	if ((it = batch_item_new(r)) == NULL)
		return;
	it->p = p;
	it->len = len;
	if ((it->buf = malloc(len ? len : 1)) == NULL) {
		r->nitems--;
		return;
	}
	memcpy(it->buf, b, len);
	it->nframes = nframes;
	it->pend = 1;
	if (r->npend++ == 0)
		r->pend_first = r->nitems - 1;
}

/*
 * batch_settle's first phase, for the ${i}th item taken: what depends on
 * the envelope's bytes and the roster alone (the roster is not changed
 * during a turn).  Runs on any of the pool's threads: it writes item i
 * only.
 */
static void
prep_one(void *ctx, size_t i)
{
	struct relay *r = ctx;
	struct item *it = &r->items[r->pend_first + i];
	int rc;

	if (!it->pend)
		return;		/* added meanwhile by the loop itself */
	it->sig = FERRY_EBADSIG;	/* until checked */
	env_hash(it->buf, it->len, it->hash);
	if (it->nframes != 1 || it->len == 0) {
		it->pre = FERRY_EFRAMES;
		return;
	}
	if ((rc = env_decode(it->buf, it->len, r->c->max_body, &it->e)) != 0) {
		memset(&it->e, 0, sizeof(it->e));
		it->pre = rc;
		return;
	}
	if (strcmp(it->e.from, it->p->id) != 0) {
		it->pre = FERRY_ESENDER;
		return;
	}
	if ((rc = roster_sender_key(r->roster, it->p->id, it->spk)) != 0) {
		it->pre = rc == FERRY_EUNKNOWNAGENCY ? FERRY_EREVOKED : rc;
		return;
	}
	switch (it->e.type) {
	case ENV_MSG:
	case ENV_RECEIPT:
	case ENV_NACK:
	case ENV_HELLO:
	case ENV_CREDIT:
	case ENV_HEARTBEAT:
	case ENV_CHECKPOINT:
	case ENV_ASK:
		it->sig = env_verify(&it->e, it->spk);
		break;
	default:
		/* RECEIPT_P: proven in order (its note's check is cached
		 * per relay); other types are refused. */
		break;
	}
}

/* batch_settle's second phase: one item, in order, on the loop's thread. */
static void
check_one(struct relay *r, struct item *it)
{
	struct peer *p = it->p;

	it->pend = 0;
	if (it->pre != 0) {
		refuse(r, it, it->pre);
		return;
	}
	switch (it->e.type) {
	case ENV_MSG:
		check_msg(r, it);
		break;
	case ENV_RECEIPT:
	case ENV_RECEIPT_P:
	case ENV_NACK:
		check_answer(r, it, it->spk);
		break;
	case ENV_HELLO:
	case ENV_CREDIT:
	case ENV_HEARTBEAT:
	case ENV_CHECKPOINT:
	case ENV_ASK:
		if (it->sig != 0) {
			refuse(r, it, FERRY_EBADSIG);
			break;
		}
		if (it->e.type == ENV_HELLO) {
			it->kind = IT_SKIP;
			on_hello(r, p, it->e.credit, it->e.roster_version);
		} else if (it->e.type == ENV_ASK) {
			on_ask(r, it, p);
		} else if (it->e.type == ENV_CREDIT) {
			it->kind = IT_SKIP;
			p->window = it->e.credit < r->c->credit_max ?
			    it->e.credit : r->c->credit_max;
		} else if (it->e.type == ENV_HEARTBEAT) {
			it->kind = IT_SKIP;
			peer_send_simple(r, p, ENV_HEARTBEAT);
		} else
			check_checkpoint(r, it, p, it->spk);
		break;
	default:
		refuse(r, it, FERRY_EMSGTYPE);
		break;
	}
}

/**
 * batch_settle(r): check what batch_add took since the last call (see
 * relay_int.h): the pure part of each on the pool, then each in order.
 */
void
batch_settle(struct relay *r)
{
	size_t i, end = r->nitems;

	if (r->npend == 0)
		return;
	workers_run(r->npend >= WORKERS_MIN_BATCH ? r->workers : NULL,
	    end - r->pend_first, prep_one, r);
	r->npend = 0;
	/* By index: a HELLO's pushed notices add items (and may move
	 * them); those are not this batch's envelopes. */
	for (i = r->pend_first; i < end; i++)
		if (r->items[i].pend)
			check_one(r, &r->items[i]);
}

/**
 * batch_drain(r, take, ctx): the group commit's policy (see relay_int.h):
 * take what is waiting, bounded, and never wait for more.
 */
size_t
batch_drain(struct relay *r, int (*take)(struct relay *, void *, size_t *),
    void *ctx)
{
	size_t n, bytes = 0;

	/*
	 * From here to the end of the turn (loop.c), the log's reads share
	 * one snapshot per phase: one for checking the batch, one after its
	 * commit for the ACCEPTED_P proofs and forwarding (log_hold), not
	 * several per message.  The relay is the log's only writer.
	 */
	log_hold(r->log, 1);
	for (n = 0; n < r->c->batch_max && bytes < r->c->batch_bytes; n++)
		if (take(r, ctx, &bytes) <= 0)
			break;
	batch_settle(r);
	return (n);
}
