/*
 * log_read.c: reading the log: entries, envelopes, the latest and
 * archived checkpoints, Merkle roots and proofs, walks and the full check
 * (log_check).  Every public read runs in a read snapshot of committed
 * state, its own or, under log_hold, the one the handle holds (PITFALLS
 * LMDB 4: never while this handle's batch is open in its thread).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <sodium.h>

#include "log.h"
#include "log_int.h"
#include "merkle.h"
#include "note.h"
#include "wire.h"

/*
 * Reads.  Every public read runs in a read snapshot of committed state,
 * opened by snap(): its own, or under log_hold the held one (begun at the
 * first read; log_read_end leaves it open).  Refused while this handle's
 * batch is open: its thread must not open a read transaction (PITFALLS
 * LMDB 4).
 */
static int
snap(struct log *l, MDB_txn **txn)
{

	int rc;

	if (l->batch != NULL)
		return (FERRY_EINVAL);
	if (!l->hold)
		return (logx_rtxn(l, txn));
	if (l->held == NULL && (rc = logx_rtxn(l, &l->held)) != 0)
		return (rc);
	*txn = l->held;
	return (0);
}

/** log_read_begin(l, txn): a read snapshot for the caller's tables. */
int
log_read_begin(struct log *l, MDB_txn **txn)
{

	return (snap(l, txn));
}

/** log_read_end(txn): end a log_read_begin snapshot. */
void
log_read_end(MDB_txn *txn)
{

	struct log *l;

	if (txn == NULL)
		return;
	l = mdb_env_get_userctx(mdb_txn_env(txn));
	if (l != NULL && txn == l->held)
		return;		/* log_hold's: ended by log_hold(l, 0) */
	mdb_txn_abort(txn);
}

/* The value of ${key} in ${dbi}, copied into a new buffer *${buf}. */
static int
snap_copy(struct log *l, MDB_dbi dbi, const void *key, size_t klen,
    uint8_t **buf, size_t *len)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if ((rc = snap(l, &txn)) != 0)
		return (rc);
	k.mv_data = (void *)(uintptr_t)key;
	k.mv_size = klen;
	if ((rc = mdb_get(txn, dbi, &k, &v)) != 0)
		rc = logx_lmdb_err(rc);
	else if ((*buf = malloc(v.mv_size ? v.mv_size : 1)) == NULL)
		rc = FERRY_ENOMEM;
	else {
		memcpy(*buf, v.mv_data, v.mv_size);
		*len = v.mv_size;
	}
	log_read_end(txn);
	return (rc);
}

/* Fetch the raw bytes of entry ${index} in ${txn} (borrowed). */
int
logx_raw_get(struct log *l, MDB_txn *txn, uint64_t index, MDB_val *v)
{
	uint8_t kb[8];
	MDB_val k;
	int rc;

	bytes_be64_put(kb, index);
	k.mv_data = kb;
	k.mv_size = 8;
	if ((rc = mdb_get(txn, l->entries, &k, v)) != 0)
		return (logx_lmdb_err(rc));
	return (0);
}

/** log_get_raw(l, index, buf, len): the stored bytes of entry ${index}. */
int
log_get_raw(struct log *l, uint64_t index, uint8_t **buf, size_t *len)
{
	uint8_t kb[8];

	bytes_be64_put(kb, index);
	return (snap_copy(l, l->entries, kb, 8, buf, len));
}

/** log_get(l, index, e): decode entry ${index} into ${e}. */
int
log_get(struct log *l, uint64_t index, struct log_entry *e)
{
	uint8_t *raw, *aux = NULL;
	size_t len;
	int rc;

	memset(e, 0, sizeof(*e));
	if ((rc = log_get_raw(l, index, &raw, &len)) != 0)
		return (rc);
	if ((rc = log_entry_decode(raw, len, e)) != 0) {
		free(raw);
		return (FERRY_ELOGCORRUPT);
	}
	if (e->aux_len > 0) {
		if ((aux = malloc(e->aux_len)) == NULL) {
			free(raw);
			memset(e, 0, sizeof(*e));
			return (FERRY_ENOMEM);
		}
		memcpy(aux, e->aux, e->aux_len);
	}
	e->aux = aux;
	free(raw);
	return (0);
}

/** log_find_msg(l, msg_id, kind, index): lowest index of (msg_id, kind). */
int
log_find_msg(struct log *l, const uint8_t msg_id[FERRY_MSGID_LEN],
    uint32_t kind, uint64_t *index)
{
	MDB_txn *txn;
	int rc;

	if ((rc = snap(l, &txn)) != 0)
		return (rc);
	rc = logx_msg_lookup(l, txn, msg_id, kind, index);
	log_read_end(txn);
	if (rc < 0)
		return (rc);
	return (rc == 0 ? FERRY_ENOENT : 0);
}

/** log_find_msg_last(l, msg_id, kind, index): highest index of (msg_id, kind). */
int
log_find_msg_last(struct log *l, const uint8_t msg_id[FERRY_MSGID_LEN],
    uint32_t kind, uint64_t *index)
{
	uint8_t mk[FERRY_MSGID_LEN + 12];
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, found = 0;

	if (kind == 0)
		return (FERRY_EINVAL);
	if ((rc = snap(l, &txn)) != 0)
		return (rc);
	/* Just after the last key (msg_id, kind, *): one step back. */
	logx_msg_key(mk, msg_id, kind);
	memset(mk + 20, 0xff, 8);
	if ((rc = mdb_cursor_open(txn, l->msgs, &c)) != 0) {
		log_read_end(txn);
		return (logx_lmdb_err(rc));
	}
	k.mv_data = mk;
	k.mv_size = sizeof(mk);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == sizeof(mk) &&
	    memcmp(k.mv_data, mk, 20) == 0) {
		*index = bytes_be_get((const uint8_t *)k.mv_data + 20, 8);
		found = 1;
	}
	mdb_cursor_close(c);
	log_read_end(txn);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (logx_lmdb_err(rc));
	return (found ? 0 : FERRY_ENOENT);
}

/** log_get_envelope(l, env_hash, buf, len): a stored envelope. */
int
log_get_envelope(struct log *l, const uint8_t env_hash[FERRY_HASH_LEN],
    uint8_t **buf, size_t *len)
{

	return (snap_copy(l, l->envs, env_hash, 32, buf, len));
}

/** log_checkpoint(l, note, len): the latest signed checkpoint. */
int
log_checkpoint(struct log *l, uint8_t **note, size_t *len)
{

	return (snap_copy(l, l->meta, "checkpoint", strlen("checkpoint"),
	    note, len));
}

/* The tree reads of log_root, log_leaf_hash and the two proofs. */
enum { TREE_ROOT, TREE_LEAF, TREE_INCLUSION, TREE_CONSISTENCY };

/*
 * Run tree read ${op} (with argument ${arg}: leaf index or m) over a tree
 * of ${size} entries, in one snapshot that must hold that many (else
 * ${toobig}).  One hash into ${hash}, or a proof into ${proof} / *${n}.
 */
static int
tree_read(struct log *l, int op, uint64_t arg, uint64_t size, int toobig,
    uint8_t hash[FERRY_HASH_LEN], uint8_t proof[][FERRY_HASH_LEN], size_t *n)
{
	struct hctx hc;
	MDB_txn *txn;
	uint64_t have;
	int rc;

	if ((rc = snap(l, &txn)) != 0)
		return (rc);
	hc.txn = txn;
	hc.dbi = l->hashes;
	if ((rc = logx_count_entries(l, txn, &have)) != 0)
		goto out;
	if (size > have) {
		rc = toobig;
		goto out;
	}
	switch (op) {
	case TREE_ROOT:
		rc = merkle_root(size, logx_hread, &hc, hash);
		break;
	case TREE_LEAF:
		rc = logx_hread(&hc, merkle_stored_index(0, arg), hash);
		break;
	case TREE_INCLUSION:
		rc = merkle_prove_inclusion(arg, size, logx_hread, &hc, proof, n);
		break;
	default:
		rc = merkle_prove_consistency(arg, size, logx_hread, &hc, proof, n);
		break;
	}
out:
	log_read_end(txn);
	return (rc);
}

/** log_root(l, size, root): the root of the first ${size} entries. */
int
log_root(struct log *l, uint64_t size, uint8_t root[FERRY_HASH_LEN])
{

	return (tree_read(l, TREE_ROOT, 0, size, FERRY_EINVAL, root, NULL,
	    NULL));
}

/** log_leaf_hash(l, index, hash): the stored leaf hash of ${index}. */
int
log_leaf_hash(struct log *l, uint64_t index, uint8_t hash[FERRY_HASH_LEN])
{

	if (index == UINT64_MAX)
		return (FERRY_ENOENT);
	return (tree_read(l, TREE_LEAF, index, index + 1, FERRY_ENOENT, hash,
	    NULL, NULL));
}

/** log_prove_inclusion(l, index, size, proof, n): RFC 6962 audit path. */
int
log_prove_inclusion(struct log *l, uint64_t index, uint64_t size,
    uint8_t proof[][FERRY_HASH_LEN], size_t *n)
{

	return (tree_read(l, TREE_INCLUSION, index, size, FERRY_EINVAL, NULL,
	    proof, n));
}

/** log_prove_consistency(l, m, size, proof, n): RFC 6962 consistency proof. */
int
log_prove_consistency(struct log *l, uint64_t m, uint64_t size,
    uint8_t proof[][FERRY_HASH_LEN], size_t *n)
{

	return (tree_read(l, TREE_CONSISTENCY, m, size, FERRY_EINVAL, NULL,
	    proof, n));
}

/** log_checkpoint_foreach(l, fn, ctx): every archived checkpoint, then the latest. */
int
log_checkpoint_foreach(struct log *l,
    int (*fn)(void *, uint64_t, const uint8_t *, size_t), void *ctx)
{
	struct note_checkpoint cp;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t last = 0;
	int rc, have = 0;

	if ((rc = snap(l, &txn)) != 0)
		return (rc);
	if ((rc = mdb_cursor_open(txn, l->ckpts, &c)) != 0) {
		log_read_end(txn);
		return (logx_lmdb_err(rc));
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			rc = FERRY_ELOGCORRUPT;
			goto out;
		}
		last = bytes_be_get(k.mv_data, 8);
		have = 1;
		if ((rc = fn(ctx, last, v.mv_data, v.mv_size)) != 0)
			goto out;
	}
	if (rc != MDB_NOTFOUND) {
		rc = logx_lmdb_err(rc);
		goto out;
	}
	k.mv_data = (void *)"checkpoint";
	k.mv_size = strlen("checkpoint");
	rc = mdb_get(txn, l->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc != 0) {
		rc = logx_lmdb_err(rc);
		goto out;
	}
	/* The size named inside the note; a bad note is the caller's finding. */
	if (note_parse_checkpoint(v.mv_data, v.mv_size, &cp) != 0)
		rc = fn(ctx, UINT64_MAX, v.mv_data, v.mv_size);
	else if (!have || cp.size > last)
		rc = fn(ctx, cp.size, v.mv_data, v.mv_size);
out:
	mdb_cursor_close(c);
	log_read_end(txn);
	return (rc);
}


/** log_foreach(l, from, fn, ctx, bad_index): walk committed entries. */
int
log_foreach(struct log *l, uint64_t from,
    int (*fn)(void *, uint64_t, const struct log_entry *, const uint8_t *,
    size_t), void *ctx, uint64_t *bad_index)
{
	struct log_entry e;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t kb[8];
	uint64_t idx, want = from;
	int rc;

	if ((rc = snap(l, &txn)) != 0)
		return (rc);
	if ((rc = mdb_cursor_open(txn, l->entries, &c)) != 0) {
		log_read_end(txn);
		return (logx_lmdb_err(rc));
	}
	bytes_be64_put(kb, from);
	k.mv_data = kb;
	k.mv_size = 8;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		idx = k.mv_size == 8 ? bytes_be_get(k.mv_data, 8) : UINT64_MAX;
		if (idx != want ||
		    log_entry_decode(v.mv_data, v.mv_size, &e) != 0) {
			if (bad_index != NULL)
				*bad_index = want;
			rc = FERRY_ELOGCORRUPT;
			goto out;
		}
		if ((rc = fn(ctx, idx, &e, v.mv_data, v.mv_size)) != 0)
			goto out;
		want++;
	}
	rc = (rc == MDB_NOTFOUND) ? 0 : logx_lmdb_err(rc);
out:
	mdb_cursor_close(c);
	log_read_end(txn);
	return (rc);
}

/** log_check(l, bad_index): recompute the tree and compare. */
int
log_check(struct log *l, uint64_t *bad_index)
{
	struct hctx hc;
	struct note_checkpoint cp;
	struct log_entry e;
	MDB_txn *txn;
	MDB_cursor *ce = NULL, *ch = NULL;
	MDB_val k, v, hk, hv;
	uint8_t leaf[32], root[32];
	uint8_t add[MERKLE_APPEND_MAX][32];
	uint64_t i = 0, base, n;
	size_t c, j;
	int rc, hrc;

	if ((rc = snap(l, &txn)) != 0)
		return (rc);
	hc.txn = txn;
	hc.dbi = l->hashes;
	if ((rc = mdb_cursor_open(txn, l->entries, &ce)) != 0 ||
	    (rc = mdb_cursor_open(txn, l->hashes, &ch)) != 0) {
		rc = logx_lmdb_err(rc);
		goto out;
	}
	hrc = mdb_cursor_get(ch, &hk, &hv, MDB_FIRST);
	for (rc = mdb_cursor_get(ce, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(ce, &k, &v, MDB_NEXT), i++) {
		if (k.mv_size != 8 || bytes_be_get(k.mv_data, 8) != i ||
		    log_entry_decode(v.mv_data, v.mv_size, &e) != 0)
			goto corrupt;
		merkle_leaf_hash(v.mv_data, v.mv_size, leaf);
		/* Earlier stored hashes were all checked: read them. */
		if ((rc = merkle_append(i, leaf, logx_hread, &hc, add, &c)) != 0)
			goto corrupt;
		base = merkle_stored_count(i);
		for (j = 0; j < c; j++) {
			if (hrc != 0 || hk.mv_size != 8 ||
			    bytes_be_get(hk.mv_data, 8) != base + j ||
			    hv.mv_size != 32 ||
			    memcmp(hv.mv_data, add[j], 32) != 0)
				goto corrupt;
			hrc = mdb_cursor_get(ch, &hk, &hv, MDB_NEXT);
		}
	}
	if (rc != MDB_NOTFOUND) {
		rc = logx_lmdb_err(rc);
		goto out;
	}
	n = i;
	if (hrc != MDB_NOTFOUND) {
		/* Hashes beyond the last entry: the log was cut short. */
		i = n;
		goto corrupt;
	}
	/* The latest checkpoint must match the recomputed tree. */
	k.mv_data = (void *)"checkpoint";
	k.mv_size = strlen("checkpoint");
	rc = mdb_get(txn, l->meta, &k, &v);
	if (rc == MDB_NOTFOUND && n == 0) {
		rc = 0;
		goto out;
	}
	if (rc != 0 || note_parse_checkpoint(v.mv_data, v.mv_size, &cp) != 0 ||
	    cp.size > n) {
		i = n;
		rc = FERRY_EINCONSISTENT;
		goto fail;
	}
	/* Every commit signs the checkpoint of its whole tree (log_commit):
	 * entries past the latest one were written without the log's key. */
	if (cp.size < n) {
		i = cp.size;
		rc = FERRY_EINCONSISTENT;
		goto fail;
	}
	if ((rc = merkle_root(cp.size, logx_hread, &hc, root)) != 0 ||
	    sodium_memcmp(root, cp.root, 32) != 0) {
		i = cp.size;
		rc = FERRY_EINCONSISTENT;
		goto fail;
	}
	rc = 0;
	goto out;

corrupt:
	rc = FERRY_ELOGCORRUPT;
fail:
	if (bad_index != NULL)
		*bad_index = i;
out:
	if (ch != NULL)
		mdb_cursor_close(ch);
	if (ce != NULL)
		mdb_cursor_close(ce);
	log_read_end(txn);
	return (rc);
}
