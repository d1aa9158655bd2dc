/*
 * queue.c: the relay's store-and-forward queue, kept in the relay log's
 * LMDB environment (<data>/log/) as tables of the relay's own
 * (log_open_ex), so that a batch's queue writes and its log entries are
 * one transaction and one synced commit (log_commit).
 *
 * Tables:
 *   q.msgs     seq (8 bytes big-endian, MDB_APPEND) -> record: accepted_ms,
 *              log_index, msg_id, env_hash, from, to, envelope bytes
 *   q.byrcpt   to || 0x00 || seq -> "" (per-recipient order)
 *   q.ids      msg_id -> state (1) || env_hash (32) || seq (8) || final
 *              envelope (RECEIPT or NACK, once done)
 *   q.notices  sender || 0x00 || nseq -> final envelope kept for the sender
 *   q.rosters  version -> roster file bytes
 *   q.meta     "seq", "nseq" -> next sequence numbers; "done" = 1 once
 *              every finished record has its q.done entry
 *   q.done     done_ms (8 bytes big-endian) || msg_id -> nseq || sender
 *              of the final kept in q.notices, or "" if none: finished
 *              records in the order they finished, for pruning
 *
 * Writes go through the batch (log_batch_put / log_batch_del), which
 * redoes them itself when the map grows; reads inside a batch use its
 * transaction (log_batch_txn), fetched again after every write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "bytes.h"
#include "log.h"
#include "relay.h"

enum { D_MSGS, D_BYRCPT, D_IDS, D_NOTICES, D_ROSTERS, D_META, D_DONE, D_N };

/** queue_dbs: the queue's table names, for log_open_ex. */
const char *const queue_dbs[QUEUE_NDBS] = { "q.msgs", "q.byrcpt", "q.ids",
    "q.notices", "q.rosters", "q.meta", "q.done" };

#define DONE_KEY (8 + FERRY_MSGID_LEN)

struct queue {
	struct log *l;
	MDB_dbi dbi[D_N];
	uint64_t seq;		/* next message seq */
	uint64_t nseq;		/* next notice seq */
};

struct queue_txn {
	struct queue *q;
	struct log_batch *b;
	uint64_t seq0, nseq0;	/* restored on abort */
	int dead;
};

static int
lmdb_err(int rc)
{

	if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT)
		return (FERRY_ENOSPC);
	if (rc == EIO)
		return (FERRY_EIO);
	if (rc == ENOMEM)
		return (FERRY_ENOMEM);
	return (FERRY_ELMDB);
}

/* key = id || 0x00 || seq; returns its length. */
static size_t
idseq_key(uint8_t *k, const char *id, uint64_t seq)
{
	size_t n = strlen(id);

	memcpy(k, id, n);
	k[n] = 0;
	bytes_be64_put(k + n + 1, seq);
	return (n + 9);
}

static int
meta_get(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v)
{
	MDB_val k = { strlen(name), (void *)name }, d;
	int rc;

	rc = mdb_get(txn, dbi, &k, &d);
	if (rc == MDB_NOTFOUND) {
		*v = 0;
		return (0);
	}
	if (rc != 0)
		return (lmdb_err(rc));
	if (d.mv_size != 8)
		return (FERRY_ELMDB);
	*v = bytes_be_get(d.mv_data, 8);
	return (0);
}

static int
meta_put(struct queue_txn *t, const char *name, uint64_t v)
{
	uint8_t b[8];

	bytes_be64_put(b, v);
	return (log_batch_put(t->b, t->q->dbi[D_META], name, strlen(name), b,
	    8, 0));
}

/* The q.done key of ${msg_id} finished at ${done_ms}. */
static void
done_key(uint8_t k[DONE_KEY], uint64_t done_ms, const uint8_t *msg_id)
{

	bytes_be64_put(k, done_ms);
	memcpy(k + 8, msg_id, FERRY_MSGID_LEN);
}

/*
 * Call ${each}(ctx, key, data) for the rows of table ${dbi} in key
 * order, in a read snapshot, from the first key >= ${start} (${slen}
 * bytes; NULL: from the first row); the MDB_vals are valid during the
 * call only.  A non-zero return stops the scan and is returned; else 0,
 * or a FERRY_E* code if LMDB fails.
 */
static int
scan(struct queue *q, int dbi, const void *start, size_t slen,
    int (*each)(void *, const MDB_val *, const MDB_val *), void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k = { slen, (void *)start }, d;
	int rc, op = start != NULL ? MDB_SET_RANGE : MDB_FIRST;

	if ((rc = log_read_begin(q->l, &txn)) != 0)
		return (rc);
	if ((rc = mdb_cursor_open(txn, q->dbi[dbi], &c)) != 0) {
		log_read_end(txn);
		return (lmdb_err(rc));
	}
	for (;;) {
		if ((rc = mdb_cursor_get(c, &k, &d, op)) != 0) {
			rc = rc == MDB_NOTFOUND ? 0 : lmdb_err(rc);
			break;
		}
		op = MDB_NEXT;
		if ((rc = each(ctx, &k, &d)) != 0)
			break;
	}
	mdb_cursor_close(c);
	log_read_end(txn);
	return (rc);
}

struct ids_ctx {
	uint8_t *ids;		/* FERRY_MSGID_LEN each */
	size_t n, cap;
};

/* scan: collect the id of a finished record of q.ids. */
static int
done_id(void *ctx, const MDB_val *k, const MDB_val *d)
{
	struct ids_ctx *ic = ctx;
	uint8_t *nb;

	if (k->mv_size != FERRY_MSGID_LEN || d->mv_size < 1 ||
	    ((const uint8_t *)d->mv_data)[0] != QUEUE_DONE)
		return (0);
	if (ic->n == ic->cap) {
		ic->cap = ic->cap ? 2 * ic->cap : 1024;
		if ((nb = realloc(ic->ids, ic->cap * FERRY_MSGID_LEN)) == NULL)
			return (FERRY_ENOMEM);
		ic->ids = nb;
	}
	memcpy(ic->ids + ic->n++ * FERRY_MSGID_LEN, k->mv_data,
	    FERRY_MSGID_LEN);
	return (0);
}

/*
 * Once (q.meta "done" says it ran): records finished before q.done
 * existed get an entry finished ${now}, in one commit, so that they are
 * pruned like the others, a retention period after this start.  It runs
 * at open, before anything else writes.
 */
static int
done_migrate(struct queue *q, uint64_t now)
{
	struct ids_ctx ic = { NULL, 0, 0 };
	struct log_batch *b;
	struct queue_txn *t;
	MDB_txn *txn;
	uint8_t k[DONE_KEY];
	uint64_t done = 0;
	size_t i;
	int rc;

	if ((rc = log_read_begin(q->l, &txn)) != 0)
		return (rc);
	rc = meta_get(txn, q->dbi[D_META], "done", &done);
	log_read_end(txn);
	if (rc != 0 || done != 0)
		return (rc);
	if ((rc = scan(q, D_IDS, NULL, 0, done_id, &ic)) != 0)
		goto out;
	if ((rc = log_begin(q->l, &b)) != 0)
		goto out;
	if ((rc = queue_begin(q, b, &t)) != 0) {
		log_abort(b);
		goto out;
	}
	for (i = 0; i < ic.n && rc == 0; i++) {
		done_key(k, now, ic.ids + i * FERRY_MSGID_LEN);
		rc = log_batch_put(b, q->dbi[D_DONE], k, sizeof(k), "", 0, 0);
	}
	if (rc == 0)
		rc = meta_put(t, "done", 1);
	if (rc != 0) {
		queue_abort(t);
		goto out;
	}
	if ((rc = queue_commit(t)) == 0 && ic.n > 0)
		rlog(RLOG_INFO, "queue-done-index", "finished=%zu: kept for "
		    "the retention period from now", ic.n);
out:
	free(ic.ids);
	return (rc);
}

/** queue_open(l, out): the queue kept in log ${l}'s environment. */
int
queue_open(struct log *l, struct queue **out)
{
	struct queue *q;
	MDB_txn *txn;
	int rc, i;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return (FERRY_ENOMEM);
	q->l = l;
	for (i = 0; i < D_N; i++)
		if ((rc = log_dbi(l, queue_dbs[i], &q->dbi[i])) != 0)
			goto err;
	if ((rc = log_read_begin(l, &txn)) != 0)
		goto err;
	if ((rc = meta_get(txn, q->dbi[D_META], "seq", &q->seq)) == 0)
		rc = meta_get(txn, q->dbi[D_META], "nseq", &q->nseq);
	log_read_end(txn);
	if (rc != 0)
		goto err;
	if (q->seq == 0)
		q->seq = 1;
	if (q->nseq == 0)
		q->nseq = 1;
	if ((rc = done_migrate(q, ferry_now_ms())) != 0)
		goto err;
	*out = q;
	return (0);
err:
	free(q);
	return (rc);
}

/** queue_close(q): free; NULL ok.  The log stays open. */
void
queue_close(struct queue *q)
{

	free(q);
}

/** queue_begin(q, b, out): queue writes within log batch ${b}. */
int
queue_begin(struct queue *q, struct log_batch *b, struct queue_txn **out)
{
	struct queue_txn *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (FERRY_ENOMEM);
	t->q = q;
	t->b = b;
	t->seq0 = q->seq;
	t->nseq0 = q->nseq;
	*out = t;
	return (0);
}

/* A batch write failed: FERRY code ${rc}; the batch is dead. */
static int
txn_fail(struct queue_txn *t, int rc)
{

	t->dead = 1;
	return (rc);
}

/* A read in the batch failed: LMDB code ${rc}. */
static int
read_fail(struct queue_txn *t, int rc)
{

	t->dead = 1;
	return (lmdb_err(rc));
}

/** queue_put(t, m): append message ${m}; assigns m->seq. */
int
queue_put(struct queue_txn *t, struct queue_msg *m)
{
	struct queue *q = t->q;
	uint8_t k[8], bk[FERRY_ID_MAX + 9], *rec, *p;
	uint8_t idv[1 + 32 + 8];
	size_t fl = strlen(m->from), tl = strlen(m->to), len;
	int rc;

	if (t->dead)
		return (FERRY_EINVAL);
	len = 8 + 8 + 16 + 32 + 1 + fl + 1 + tl + m->env_len;
	if ((rec = malloc(len)) == NULL)
		return (txn_fail(t, FERRY_ENOMEM));
	m->seq = q->seq;
	bytes_be64_put(k, m->seq);
	p = rec;
	bytes_be64_put(p, m->accepted_ms);
	bytes_be64_put(p + 8, m->log_index);
	memcpy(p + 16, m->msg_id, 16);
	memcpy(p + 32, m->env_hash, 32);
	p += 64;
	*p++ = (uint8_t)fl;
	memcpy(p, m->from, fl);
	p += fl;
	*p++ = (uint8_t)tl;
	memcpy(p, m->to, tl);
	p += tl;
	memcpy(p, m->env, m->env_len);
	/* The record (the whole envelope) is the batch's: not copied. */
	rc = log_batch_put_own(t->b, q->dbi[D_MSGS], k, 8, rec, len,
	    MDB_APPEND);
	if (rc != 0)
		return (txn_fail(t, rc));
	if ((rc = log_batch_put(t->b, q->dbi[D_BYRCPT], bk,
	    idseq_key(bk, m->to, m->seq), "", 0, 0)) != 0)
		return (txn_fail(t, rc));
	idv[0] = QUEUE_QUEUED;
	memcpy(idv + 1, m->env_hash, 32);
	bytes_be64_put(idv + 33, m->seq);
	if ((rc = log_batch_put(t->b, q->dbi[D_IDS], m->msg_id, 16, idv,
	    sizeof(idv), 0)) != 0)
		return (txn_fail(t, rc));
	q->seq++;	/* written once, by queue_commit */
	return (0);
}

/* Decode a msgs record into ${m} (headers; env if want_env). */
static int
rec_decode(const MDB_val *k, const MDB_val *d, struct queue_msg *m,
    int want_env)
{
	const uint8_t *p = d->mv_data, *end = p + d->mv_size;
	size_t fl, tl;

	memset(m, 0, sizeof(*m));
	if (k->mv_size != 8 || d->mv_size < 66)
		return (FERRY_ELMDB);
	m->seq = bytes_be_get(k->mv_data, 8);
	m->accepted_ms = bytes_be_get(p, 8);
	m->log_index = bytes_be_get(p + 8, 8);
	memcpy(m->msg_id, p + 16, 16);
	memcpy(m->env_hash, p + 32, 32);
	p += 64;
	fl = *p++;
	if (fl > FERRY_ID_MAX || (size_t)(end - p) < fl + 1)
		return (FERRY_ELMDB);
	memcpy(m->from, p, fl);
	p += fl;
	tl = *p++;
	if (tl > FERRY_ID_MAX || (size_t)(end - p) < tl)
		return (FERRY_ELMDB);
	memcpy(m->to, p, tl);
	p += tl;
	m->env_len = (size_t)(end - p);
	if (want_env) {
		if ((m->env = malloc(m->env_len ? m->env_len : 1)) == NULL)
			return (FERRY_ENOMEM);
		memcpy(m->env, p, m->env_len);
	}
	return (0);
}

/**
 * queue_finish(t, msg_id, final, len, notify, done_ms): remove a queued
 * message, finished at ${done_ms}.
 */
int
queue_finish(struct queue_txn *t, const uint8_t msg_id[FERRY_MSGID_LEN],
    const uint8_t *final, size_t len, int notify, uint64_t done_ms)
{
	struct queue *q = t->q;
	MDB_val key = { 16, (void *)msg_id }, data, mk, md;
	uint8_t k8[8], bk[FERRY_ID_MAX + 9], *v, dk[DONE_KEY];
	uint8_t dv[8 + FERRY_ID_MAX];
	size_t dvlen = 0, fl;
	struct queue_msg m;
	uint64_t seq;
	int rc;

	if (t->dead)
		return (FERRY_EINVAL);
	/* Reads first (MDB_vals die at the next write), then the writes. */
	if ((rc = mdb_get(log_batch_txn(t->b), q->dbi[D_IDS], &key,
	    &data)) != 0)
		return (rc == MDB_NOTFOUND ? FERRY_ENOENT : read_fail(t, rc));
	if (data.mv_size < 41 || ((uint8_t *)data.mv_data)[0] != QUEUE_QUEUED)
		return (FERRY_ENOENT);
	seq = bytes_be_get((uint8_t *)data.mv_data + 33, 8);
	bytes_be64_put(k8, seq);
	mk.mv_size = 8;
	mk.mv_data = k8;
	if ((rc = mdb_get(log_batch_txn(t->b), q->dbi[D_MSGS], &mk,
	    &md)) != 0)
		return (read_fail(t, rc));
	if ((rc = rec_decode(&mk, &md, &m, 0)) != 0)
		return (txn_fail(t, rc));
	if ((rc = log_batch_del(t->b, q->dbi[D_MSGS], k8, 8)) != 0)
		return (txn_fail(t, rc));
	rc = log_batch_del(t->b, q->dbi[D_BYRCPT], bk,
	    idseq_key(bk, m.to, seq));
	if (rc != 0 && rc != FERRY_ENOENT)
		return (txn_fail(t, rc));
	/* ids: done || env_hash || seq || final */
	if ((v = malloc(41 + len)) == NULL)
		return (txn_fail(t, FERRY_ENOMEM));
	v[0] = QUEUE_DONE;
	memcpy(v + 1, m.env_hash, 32);
	bytes_be64_put(v + 33, seq);
	if (len > 0)
		memcpy(v + 41, final, len);
	rc = log_batch_put(t->b, q->dbi[D_IDS], msg_id, 16, v, 41 + len, 0);
	free(v);
	if (rc != 0)
		return (txn_fail(t, rc));
	if (notify && len > 0) {
		if ((rc = log_batch_put(t->b, q->dbi[D_NOTICES], bk,
		    idseq_key(bk, m.from, q->nseq), final, len, 0)) != 0)
			return (txn_fail(t, rc));
		/* The notice goes with the record when it is pruned. */
		fl = strlen(m.from);
		bytes_be64_put(dv, q->nseq);
		memcpy(dv + 8, m.from, fl);
		dvlen = 8 + fl;
		q->nseq++;
		if ((rc = meta_put(t, "nseq", q->nseq)) != 0)
			return (txn_fail(t, rc));
	}
	done_key(dk, done_ms, msg_id);
	if ((rc = log_batch_put(t->b, q->dbi[D_DONE], dk, sizeof(dk), dv,
	    dvlen, 0)) != 0)
		return (txn_fail(t, rc));
	return (0);
}

/** queue_prune(t, done_ms, msg_id): forget a finished message. */
int
queue_prune(struct queue_txn *t, uint64_t done_ms,
    const uint8_t msg_id[FERRY_MSGID_LEN])
{
	struct queue *q = t->q;
	uint8_t dk[DONE_KEY], bk[FERRY_ID_MAX + 9];
	MDB_val k = { sizeof(dk), dk }, d, ik = { 16, (void *)msg_id };
	char sender[FERRY_ID_MAX + 1] = "";
	uint64_t nseq = 0;
	int rc, done = 0;

	if (t->dead)
		return (FERRY_EINVAL);
	/* Reads first (MDB_vals die at the next write), then the writes. */
	done_key(dk, done_ms, msg_id);
	if ((rc = mdb_get(log_batch_txn(t->b), q->dbi[D_DONE], &k, &d)) != 0)
		return (rc == MDB_NOTFOUND ? FERRY_ENOENT : read_fail(t, rc));
	if (d.mv_size > 8 && d.mv_size <= 8 + FERRY_ID_MAX) {
		nseq = bytes_be_get(d.mv_data, 8);
		memcpy(sender, (uint8_t *)d.mv_data + 8, d.mv_size - 8);
		sender[d.mv_size - 8] = '\0';
	}
	rc = mdb_get(log_batch_txn(t->b), q->dbi[D_IDS], &ik, &d);
	if (rc == 0)
		done = d.mv_size >= 1 &&
		    ((uint8_t *)d.mv_data)[0] == QUEUE_DONE;
	else if (rc != MDB_NOTFOUND)
		return (read_fail(t, rc));
	if ((rc = log_batch_del(t->b, q->dbi[D_DONE], dk, sizeof(dk))) != 0)
		return (txn_fail(t, rc));
	/* Never a queued record (an id is finished once; this is defence). */
	if (done && (rc = log_batch_del(t->b, q->dbi[D_IDS], msg_id,
	    FERRY_MSGID_LEN)) != 0)
		return (txn_fail(t, rc));
	if (sender[0] != '\0') {
		rc = log_batch_del(t->b, q->dbi[D_NOTICES], bk,
		    idseq_key(bk, sender, nseq));
		if (rc != 0 && rc != FERRY_ENOENT)	/* pushed already */
			return (txn_fail(t, rc));
	}
	return (0);
}

/** queue_notified(t, sender, nseq): drop one pending notice. */
int
queue_notified(struct queue_txn *t, const char *sender, uint64_t nseq)
{
	uint8_t bk[FERRY_ID_MAX + 9];
	int rc;

	if (t->dead)
		return (FERRY_EINVAL);
	rc = log_batch_del(t->b, t->q->dbi[D_NOTICES], bk,
	    idseq_key(bk, sender, nseq));
	if (rc != 0 && rc != FERRY_ENOENT)
		return (txn_fail(t, rc));
	return (0);
}

/** queue_roster_put(t, version, bytes, len): store a roster version. */
int
queue_roster_put(struct queue_txn *t, uint64_t version, const uint8_t *bytes,
    size_t len)
{
	uint8_t k8[8];
	int rc;

	if (t->dead)
		return (FERRY_EINVAL);
	bytes_be64_put(k8, version);
	if ((rc = log_batch_put(t->b, t->q->dbi[D_ROSTERS], k8, 8, bytes, len,
	    0)) != 0)
		return (txn_fail(t, rc));
	return (0);
}

/** queue_commit(t): log_commit of the batch; frees ${t}. */
int
queue_commit(struct queue_txn *t)
{
	int rc;

	if (t->dead) {
		queue_abort(t);
		return (FERRY_EINVAL);
	}
	/* The next seq, once per batch (queue_put counts in memory). */
	if (t->q->seq != t->seq0 && (rc = meta_put(t, "seq", t->q->seq)) != 0) {
		queue_abort(t);
		return (rc);
	}
	if ((rc = log_commit(t->b)) != 0) {
		t->q->seq = t->seq0;
		t->q->nseq = t->nseq0;
	}
	free(t);
	return (rc);
}

/** queue_abort(t): log_abort of the batch; NULL ok. */
void
queue_abort(struct queue_txn *t)
{

	if (t == NULL)
		return;
	log_abort(t->b);
	t->q->seq = t->seq0;
	t->q->nseq = t->nseq0;
	free(t);
}

static int
rdtxn(struct queue *q, MDB_txn **txn)
{

	return (log_read_begin(q->l, txn));
}

/* The q.meta key of agency ${id}'s checkpoint held: "cp/<id>". */
static size_t
cp_key(char *k, size_t cap, const char *id)
{
	int n = snprintf(k, cap, "cp/%s", id);

	return (n < 0 || (size_t)n >= cap ? 0 : (size_t)n);
}

int
queue_cp_put(struct queue_txn *t, const char *id, uint64_t size,
    const uint8_t root[FERRY_HASH_LEN])
{
	char k[FERRY_ID_MAX + 8];
	uint8_t v[8 + FERRY_HASH_LEN];
	size_t kl;

	if ((kl = cp_key(k, sizeof(k), id)) == 0)
		return (FERRY_EINVAL);
	bytes_be64_put(v, size);
	memcpy(v + 8, root, FERRY_HASH_LEN);
	return (log_batch_put(t->b, t->q->dbi[D_META], k, kl, v, sizeof(v),
	    0));
}

int
queue_cp_get(struct queue *q, const char *id, uint64_t *size,
    uint8_t root[FERRY_HASH_LEN])
{
	char k[FERRY_ID_MAX + 8];
	MDB_txn *txn;
	MDB_val key, d;
	int rc;

	if ((key.mv_size = cp_key(k, sizeof(k), id)) == 0)
		return (FERRY_EINVAL);
	key.mv_data = k;
	if ((rc = rdtxn(q, &txn)) != 0)
		return (rc);
	rc = mdb_get(txn, q->dbi[D_META], &key, &d);
	if (rc == 0 && d.mv_size == 8 + FERRY_HASH_LEN) {
		*size = bytes_be_get(d.mv_data, 8);
		memcpy(root, (const uint8_t *)d.mv_data + 8, FERRY_HASH_LEN);
	}
	log_read_end(txn);
	if (rc == MDB_NOTFOUND)
		return (FERRY_ENOENT);
	if (rc != 0)
		return (lmdb_err(rc));
	return (d.mv_size == 8 + FERRY_HASH_LEN ? 0 : FERRY_ELMDB);
}

/** queue_lookup(q, msg_id, env_hash, seq, final, flen): state of ${msg_id}. */
int
queue_lookup(struct queue *q, const uint8_t msg_id[FERRY_MSGID_LEN],
    uint8_t env_hash[FERRY_HASH_LEN], uint64_t *seq, uint8_t **final,
    size_t *flen)
{
	MDB_txn *txn;
	MDB_val k = { 16, (void *)msg_id }, d;
	const uint8_t *v;
	int rc, st;

	*final = NULL;
	*flen = 0;
	if ((rc = rdtxn(q, &txn)) != 0)
		return (rc);
	rc = mdb_get(txn, q->dbi[D_IDS], &k, &d);
	if (rc == MDB_NOTFOUND) {
		log_read_end(txn);
		return (QUEUE_NONE);
	}
	if (rc != 0 || d.mv_size < 41) {
		log_read_end(txn);
		return (rc ? lmdb_err(rc) : FERRY_ELMDB);
	}
	v = d.mv_data;
	st = v[0];
	memcpy(env_hash, v + 1, 32);
	*seq = bytes_be_get(v + 33, 8);
	if (st == QUEUE_DONE && d.mv_size > 41) {
		*flen = d.mv_size - 41;
		if ((*final = malloc(*flen)) == NULL) {
			log_read_end(txn);
			return (FERRY_ENOMEM);
		}
		memcpy(*final, v + 41, *flen);
	}
	log_read_end(txn);
	return (st);
}

/** queue_get(q, seq, m): read queued message ${seq}. */
int
queue_get(struct queue *q, uint64_t seq, struct queue_msg *m)
{
	MDB_txn *txn;
	uint8_t k8[8];
	MDB_val k = { 8, k8 }, d;
	int rc;

	bytes_be64_put(k8, seq);
	if ((rc = rdtxn(q, &txn)) != 0)
		return (rc);
	rc = mdb_get(txn, q->dbi[D_MSGS], &k, &d);
	if (rc == 0)
		rc = rec_decode(&k, &d, m, 1);
	else
		rc = rc == MDB_NOTFOUND ? FERRY_ENOENT : lmdb_err(rc);
	log_read_end(txn);
	return (rc);
}

/** queue_msg_clear(m): free m->env and zero ${m}. */
void
queue_msg_clear(struct queue_msg *m)
{

	free(m->env);
	memset(m, 0, sizeof(*m));
}

/** queue_next_for(q, to, after, seq): next queued seq for ${to}. */
int
queue_next_for(struct queue *q, const char *to, uint64_t after, uint64_t *seq)
{
	MDB_txn *txn;
	MDB_cursor *c;
	uint8_t bk[FERRY_ID_MAX + 9];
	size_t n = strlen(to);
	MDB_val k, d;
	int rc;

	if ((rc = rdtxn(q, &txn)) != 0)
		return (rc);
	if ((rc = mdb_cursor_open(txn, q->dbi[D_BYRCPT], &c)) != 0) {
		log_read_end(txn);
		return (lmdb_err(rc));
	}
	k.mv_size = idseq_key(bk, to, after == UINT64_MAX ? after : after + 1);
	k.mv_data = bk;
	rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == n + 9 && memcmp(k.mv_data, to, n) == 0 &&
	    ((uint8_t *)k.mv_data)[n] == 0) {
		*seq = bytes_be_get((uint8_t *)k.mv_data + n + 1, 8);
		rc = (*seq > after) ? 0 : FERRY_ENOENT;
	} else if (rc == 0 || rc == MDB_NOTFOUND)
		rc = FERRY_ENOENT;
	else
		rc = lmdb_err(rc);
	mdb_cursor_close(c);
	log_read_end(txn);
	return (rc);
}

struct foreach_ctx {
	int (*fn)(void *, const struct queue_msg *);
	void *ctx;
};

/* scan: one q.msgs record, its header decoded. */
static int
foreach_one(void *ctx, const MDB_val *k, const MDB_val *d)
{
	struct foreach_ctx *fc = ctx;
	struct queue_msg m;
	int rc;

	if ((rc = rec_decode(k, d, &m, 0)) != 0)
		return (rc);
	return (fc->fn(fc->ctx, &m));
}

/** queue_foreach(q, fn, ctx): every queued message header, in seq order. */
int
queue_foreach(struct queue *q, int (*fn)(void *, const struct queue_msg *),
    void *ctx)
{
	struct foreach_ctx fc = { fn, ctx };

	return (scan(q, D_MSGS, NULL, 0, foreach_one, &fc));
}

struct finished_ctx {
	int (*fn)(void *, uint64_t, const uint8_t *);
	void *ctx;
};

/* scan: one q.done entry. */
static int
finished_one(void *ctx, const MDB_val *k, const MDB_val *d)
{
	struct finished_ctx *fc = ctx;

	if (k->mv_size != DONE_KEY)
		return (0);
	return (fc->fn(fc->ctx, bytes_be_get(k->mv_data, 8),
	    (const uint8_t *)k->mv_data + 8));
}

/** queue_finished(q, fn, ctx): finished records, oldest first. */
int
queue_finished(struct queue *q,
    int (*fn)(void *, uint64_t, const uint8_t *), void *ctx)
{
	struct finished_ctx fc = { fn, ctx };

	return (scan(q, D_DONE, NULL, 0, finished_one, &fc));
}

struct walk_ctx {
	int (*fn)(void *, uint64_t, const uint8_t *, size_t);
	void *ctx;
	const uint8_t *prefix;
	size_t n;			/* prefix bytes (0: 8-byte keys) */
	int end;			/* left the prefix */
};

/* scan: one row keyed prefix || seq, while the prefix lasts. */
static int
walk_one(void *ctx, const MDB_val *k, const MDB_val *d)
{
	struct walk_ctx *wc = ctx;

	if (k->mv_size != wc->n + 8 ||
	    (wc->n && memcmp(k->mv_data, wc->prefix, wc->n) != 0)) {
		wc->end = 1;
		return (1);
	}
	/* MDB_val data is copied by callers that keep it. */
	return (wc->fn(wc->ctx,
	    bytes_be_get((const uint8_t *)k->mv_data + wc->n, 8), d->mv_data,
	    d->mv_size));
}

/* Walk a database keyed by prefix || seq (prefix may be NULL: 8-byte keys). */
static int
walk(struct queue *q, int dbi, const char *prefix, uint64_t from,
    int (*fn)(void *, uint64_t, const uint8_t *, size_t), void *ctx)
{
	uint8_t bk[FERRY_ID_MAX + 9];
	struct walk_ctx wc = { fn, ctx, bk, prefix ? strlen(prefix) + 1 : 0,
	    0 };
	size_t klen;
	int rc;

	if (prefix) {
		klen = idseq_key(bk, prefix, from);
	} else {
		bytes_be64_put(bk, from);
		klen = 8;
	}
	rc = scan(q, dbi, bk, klen, walk_one, &wc);
	return (wc.end ? 0 : rc);
}

/** queue_notices(q, sender, fn, ctx): final envelopes kept for ${sender}. */
int
queue_notices(struct queue *q, const char *sender,
    int (*fn)(void *, uint64_t, const uint8_t *, size_t), void *ctx)
{

	return (walk(q, D_NOTICES, sender, 0, fn, ctx));
}

/** queue_rosters(q, after, fn, ctx): roster versions > ${after}. */
int
queue_rosters(struct queue *q, uint64_t after,
    int (*fn)(void *, uint64_t, const uint8_t *, size_t), void *ctx)
{

	return (walk(q, D_ROSTERS, NULL, after + 1, fn, ctx));
}

/** queue_roster_latest(q, version, bytes, len): newest stored roster. */
int
queue_roster_latest(struct queue *q, uint64_t *version, uint8_t **bytes,
    size_t *len)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, d;
	int rc;

	if ((rc = rdtxn(q, &txn)) != 0)
		return (rc);
	if ((rc = mdb_cursor_open(txn, q->dbi[D_ROSTERS], &c)) != 0) {
		log_read_end(txn);
		return (lmdb_err(rc));
	}
	rc = mdb_cursor_get(c, &k, &d, MDB_LAST);
	if (rc == 0 && k.mv_size == 8) {
		*version = bytes_be_get(k.mv_data, 8);
		*len = d.mv_size;
		if ((*bytes = malloc(d.mv_size ? d.mv_size : 1)) == NULL)
			rc = FERRY_ENOMEM;
		else
			memcpy(*bytes, d.mv_data, d.mv_size);
	} else
		rc = (rc == MDB_NOTFOUND || rc == 0) ? FERRY_ENOENT :
		    lmdb_err(rc);
	mdb_cursor_close(c);
	log_read_end(txn);
	return (rc);
}
