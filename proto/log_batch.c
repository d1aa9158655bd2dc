/*
 * log_batch.c: the log's writes.  A batch (log_begin) is one LMDB write
 * transaction: entries with their tree hashes, message index and
 * envelopes, the caller's own table writes, inclusion proofs of the
 * batch's entries, checkpoints; log_commit commits it (growing the map
 * and redoing the batch when it is full) and signs a checkpoint;
 * log_append and log_erase are one-entry batches.  log.c opens and
 * closes the log; layout in log.c.
 */
#include "log.h"
#include "log_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>

#include "merkle.h"
#include "note.h"

#define MAP_MAX ((size_t)1 << 40)	/* never grow the map past 1 TiB */
#define GROW_TRIES 12
#define ARCHIVE_MS 100

/* Write one item into the batch's transaction; LMDB code. */
static int
write_item(struct log_batch *b, struct item *it, uint64_t index)
{
	struct log *l = b->l;
	struct hctx hc = { b->txn, l->hashes };
	uint8_t kb[8], mk[FERRY_MSGID_LEN + 12], leaf[32];
	uint8_t add[MERKLE_APPEND_MAX][32];
	uint64_t base;
	size_t c, i;
	MDB_val k, v;
	int rc;

	if (it->type == ITEM_DEL) {
		k.mv_data = it->bytes;
		k.mv_size = it->len;
		return (mdb_del(b->txn, it->dbi, &k, NULL));
	}
	if (it->type == ITEM_PUT) {
		k.mv_data = it->bytes;
		k.mv_size = it->len;
		v.mv_data = it->env;
		v.mv_size = it->envlen;
		return (mdb_put(b->txn, it->dbi, &k, &v, it->flags));
	}
	bytes_be64_put(kb, index);
	k.mv_data = kb;
	k.mv_size = 8;
	v.mv_data = it->bytes;
	v.mv_size = it->len;
	if ((rc = mdb_put(b->txn, l->entries, &k, &v, MDB_APPEND)) != 0)
		return (rc);
	merkle_leaf_hash(it->bytes, it->len, leaf);
	if ((rc = merkle_append(index, leaf, logx_hread, &hc, add, &c)) != 0)
		return (rc == FERRY_ELOGCORRUPT ? MDB_CORRUPTED : MDB_PANIC);
	base = merkle_stored_count(index);
	for (i = 0; i < c; i++) {
		bytes_be64_put(kb, base + i);
		v.mv_data = add[i];
		v.mv_size = 32;
		if ((rc = mdb_put(b->txn, l->hashes, &k, &v, MDB_APPEND)) != 0)
			return (rc);
	}
	if (!allzero(it->msg_id, FERRY_MSGID_LEN)) {
		logx_msg_key(mk, it->msg_id, it->kind);
		bytes_be64_put(mk + 20, index);
		k.mv_data = mk;
		k.mv_size = sizeof(mk);
		v.mv_data = (void *)"";
		v.mv_size = 0;
		if ((rc = mdb_put(b->txn, l->msgs, &k, &v, 0)) != 0)
			return (rc);
	}
	if (it->envp != NULL) {
		k.mv_data = it->env_hash;	/* hashed by log_add */
		k.mv_size = 32;
		v.mv_data = (void *)it->envp;	/* LMDB only reads it */
		v.mv_size = it->envlen;
		rc = mdb_put(b->txn, l->envs, &k, &v, MDB_NOOVERWRITE);
		if (rc != 0 && rc != MDB_KEYEXIST)
			return (rc);
	}
	return (0);
}

/*
 * The map is full: abort, grow the map with no transaction open, start
 * again and redo every item so far.  Returns a FERRY_E* code.
 */
static int
grow_and_redo(struct log_batch *b)
{
	struct log *l = b->l;
	MDB_envinfo info;
	uint64_t index;
	size_t i, newsize;
	int rc, tries;

	for (tries = 0; tries < GROW_TRIES; tries++) {
		if (b->txn != NULL) {
			mdb_txn_abort(b->txn);
			b->txn = NULL;
		}
		if ((rc = mdb_env_info(l->env, &info)) != 0)
			return (logx_lmdb_err(rc));
		if (info.me_mapsize >= MAP_MAX)
			return (FERRY_ENOSPC);
		newsize = info.me_mapsize * 2;
		if ((rc = mdb_env_set_mapsize(l->env, newsize)) != 0)
			return (FERRY_ENOSPC);
		l->grows++;
		if ((rc = mdb_txn_begin(l->env, NULL, 0, &b->txn)) != 0) {
			b->txn = NULL;
			return (logx_lmdb_err(rc));
		}
		index = l->size;
		for (i = 0, rc = 0; i < b->n; i++) {
			rc = write_item(b, &b->items[i], index);
			/* A delete that found nothing did nothing, again. */
			if (rc == MDB_NOTFOUND && b->items[i].type == ITEM_DEL)
				rc = 0;
			if (rc != 0)
				break;
			if (b->items[i].type == ITEM_ENTRY)
				index++;
		}
		if (rc == 0)
			return (0);
		if (rc != MDB_MAP_FULL)
			return (logx_lmdb_err(rc));
	}
	return (FERRY_ENOSPC);
}

/* Write item ${it} (already in b->items) at ${index}, growing if needed. */
static int
write_or_grow(struct log_batch *b, struct item *it, uint64_t index)
{
	int rc;

	rc = write_item(b, it, index);
	if (rc == MDB_MAP_FULL)
		return (grow_and_redo(b));
	return (logx_lmdb_err(rc));
}

/** log_begin(l, out): start a batch. */
int
log_begin(struct log *l, struct log_batch **out)
{
	struct log_batch *b;
	int rc;

	if (l->sk == NULL || l->batch != NULL)
		return (FERRY_EINVAL);
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return (FERRY_ENOMEM);
	/* A held snapshot ends before the write (PITFALLS LMDB 4, and a
	 * map grown in the batch needs no transaction open); reads after
	 * the batch see it. */
	logx_drop_held(l);
	rc = mdb_txn_begin(l->env, NULL, 0, &b->txn);
	if (rc == MDB_MAP_RESIZED) {
		if ((rc = mdb_env_set_mapsize(l->env, 0)) == 0)
			rc = mdb_txn_begin(l->env, NULL, 0, &b->txn);
	}
	if (rc != 0) {
		free(b);
		return (logx_lmdb_err(rc));
	}
	b->l = l;
	b->size = l->size;
	l->batch = b;
	if (l->hook_begin != NULL && (rc = l->hook_begin(l->hook_ctx, b)) != 0) {
		log_abort(b);
		return (rc);
	}
	*out = b;
	return (0);
}

/** log_set_hook(l, begin, committed, ctx): writes riding on each batch. */
void
log_set_hook(struct log *l, int (*begin)(void *ctx, struct log_batch *b),
    void (*committed)(void *ctx), void *ctx)
{

	l->hook_begin = begin;
	l->hook_committed = committed;
	l->hook_ctx = ctx;
}

/** log_abort(b): discard batch ${b}. */
void
log_abort(struct log_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	if (b->txn != NULL)
		mdb_txn_abort(b->txn);
	for (i = 0; i < b->n; i++) {
		free(b->items[i].bytes);
		free(b->items[i].env);
	}
	free(b->items);
	free(b->sealed);
	b->l->batch = NULL;
	free(b);
}

/* Append an item slot to ${b}. */
static struct item *
new_item(struct log_batch *b)
{
	struct item *ni;
	size_t ncap;

	if (b->n == b->cap) {
		ncap = b->cap ? b->cap * 2 : 16;
		if ((ni = realloc(b->items, ncap * sizeof(*ni))) == NULL)
			return (NULL);
		b->items = ni;
		b->cap = ncap;
	}
	memset(&b->items[b->n], 0, sizeof(b->items[0]));
	return (&b->items[b->n++]);
}

/* Is there an entry (msg_id, kind) in ${txn}?  1, 0, or negative error. */
int
logx_msg_lookup(struct log *l, MDB_txn *txn, const uint8_t *msg_id,
    uint32_t kind, uint64_t *index)
{
	uint8_t mk[FERRY_MSGID_LEN + 12];
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t best = UINT64_MAX, idx;
	uint32_t kk;
	int rc;

	logx_msg_key(mk, msg_id, kind);
	if ((rc = mdb_cursor_open(txn, l->msgs, &c)) != 0)
		return (logx_lmdb_err(rc));
	k.mv_data = mk;
	k.mv_size = sizeof(mk);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (k.mv_size != sizeof(mk) ||
		    memcmp(k.mv_data, msg_id, FERRY_MSGID_LEN) != 0)
			break;
		kk = (uint32_t)bytes_be_get((const uint8_t *)k.mv_data + 16, 4);
		idx = bytes_be_get((const uint8_t *)k.mv_data + 20, 8);
		if (kind != 0) {
			if (kk != kind)
				break;
			best = idx;	/* first of this kind is lowest */
			break;
		}
		if (idx < best)
			best = idx;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (logx_lmdb_err(rc));
	if (best == UINT64_MAX)
		return (0);
	if (index != NULL)
		*index = best;
	return (1);
}

/*
 * Does an entry (msg_id, ${kind}) in ${txn} name relay ${id} (its `to`
 * if ${to}, else its `from`)?  1, 0, or negative error.
 */
static int
msg_names(struct log *l, MDB_txn *txn, const uint8_t *msg_id, uint32_t kind,
    int to, const char *id)
{
	uint8_t mk[FERRY_MSGID_LEN + 12];
	struct log_entry e;
	MDB_cursor *c;
	MDB_val k, v, ev;
	uint64_t idx;
	int rc, found = 0;

	logx_msg_key(mk, msg_id, kind);
	if ((rc = mdb_cursor_open(txn, l->msgs, &c)) != 0)
		return (logx_lmdb_err(rc));
	k.mv_data = mk;
	k.mv_size = sizeof(mk);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && !found && k.mv_size == sizeof(mk) &&
	    memcmp(k.mv_data, mk, 20) == 0) {
		idx = bytes_be_get((const uint8_t *)k.mv_data + 20, 8);
		if ((rc = logx_raw_get(l, txn, idx, &ev)) != 0) {
			mdb_cursor_close(c);
			return (rc);
		}
		if ((rc = log_entry_decode(ev.mv_data, ev.mv_size, &e)) != 0) {
			mdb_cursor_close(c);
			return (rc);
		}
		found = strcmp(to ? e.to : e.from, id) == 0;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (logx_lmdb_err(rc));
	return (found);
}

/*
 * A second LOG_ACCEPTED of a message: allowed (0) only from a relay that
 * signed none before and that a LOG_ROUTE of the message names (it was
 * resent through it: a custody receipt per relay); else 1 (a duplicate),
 * or negative error.
 */
static int
accepted_again(struct log_batch *b, const struct log_entry *c)
{
	int rc;

	if (c->from[0] == '\0')
		return (1);
	if ((rc = msg_names(b->l, b->txn, c->msg_id, LOG_ACCEPTED, 0,
	    c->from)) != 0)
		return (rc);
	rc = msg_names(b->l, b->txn, c->msg_id, LOG_ROUTE, 1, c->from);
	return (rc < 0 ? rc : !rc);
}

/* log_add and log_add_hashed: ${hashed}, e->env_hash is env's hash. */
static int
add_entry(struct log_batch *b, const struct log_entry *e, const uint8_t *env,
    size_t env_len, uint64_t *index_out, int hashed)
{
	struct log_entry c;
	struct item *it;
	uint8_t eh[32];
	int rc;

	if (b->dead || b->sealed != NULL)
		return (FERRY_EINVAL);
	if (e == NULL || (env == NULL && env_len != 0) || env_len > LOG_ENV_MAX)
		return (FERRY_EINVAL);
	c = *e;
	if (c.time_ms == 0)
		c.time_ms = ferry_now_ms();
	if (env != NULL && hashed) {
		if (allzero(c.env_hash, 32))
			return (FERRY_EINVAL);
		memcpy(eh, c.env_hash, 32);
	} else if (env != NULL) {
		ferry_sha256(eh, env, env_len);
		if (allzero(c.env_hash, 32))
			memcpy(c.env_hash, eh, 32);
		else if (memcmp(c.env_hash, eh, 32) != 0)
			return (FERRY_EINVAL);
	}
	if (logx_kind_unique(c.kind) && !allzero(c.msg_id, FERRY_MSGID_LEN)) {
		if ((rc = logx_msg_lookup(b->l, b->txn, c.msg_id, c.kind, NULL)) < 0)
			goto dead;
		if (rc > 0 && c.kind == LOG_ACCEPTED &&
		    (rc = accepted_again(b, &c)) < 0)
			goto dead;
		if (rc > 0)
			return (FERRY_EDUPMSG);
	}
	if ((it = new_item(b)) == NULL) {
		rc = FERRY_ENOMEM;
		goto dead;
	}
	it->type = ITEM_ENTRY;
	memcpy(it->msg_id, c.msg_id, FERRY_MSGID_LEN);
	it->kind = c.kind;
	if ((rc = log_entry_encode(&c, &it->bytes, &it->len)) != 0) {
		b->n--;
		return (rc);	/* bad input: the batch lives on */
	}
	if (env != NULL && hashed) {
		it->envp = env;		/* borrowed until commit or abort */
		it->envlen = env_len;
		memcpy(it->env_hash, eh, 32);
	} else if (env != NULL) {
		if ((it->env = malloc(env_len ? env_len : 1)) == NULL) {
			rc = FERRY_ENOMEM;
			goto dead;
		}
		memcpy(it->env, env, env_len);
		it->envp = it->env;
		it->envlen = env_len;
		memcpy(it->env_hash, eh, 32);
	}
	if ((rc = write_or_grow(b, it, b->size)) != 0)
		goto dead;
	if (index_out != NULL)
		*index_out = b->size;
	b->size++;
	return (0);

dead:
	b->dead = 1;
	return (rc);
}

/** log_add(b, e, env, env_len, index_out): add an entry to the batch. */
int
log_add(struct log_batch *b, const struct log_entry *e, const uint8_t *env,
    size_t env_len, uint64_t *index_out)
{

	return (add_entry(b, e, env, env_len, index_out, 0));
}

/** log_add_hashed(b, e, env, env_len, index_out): log_add, hash given. */
int
log_add_hashed(struct log_batch *b, const struct log_entry *e,
    const uint8_t *env, size_t env_len, uint64_t *index_out)
{

	return (add_entry(b, e, env, env_len, index_out, 1));
}

/** log_batch_txn(b): the batch's write transaction (reads only). */
MDB_txn *
log_batch_txn(struct log_batch *b)
{

	return (b->txn);
}

/*
 * Record and apply a caller put (${val} != NULL) or delete; ${own}: ${val}
 * is malloc'd and becomes the record (freed here on any failure).
 */
static int
batch_write(struct log_batch *b, MDB_dbi dbi, const void *key, size_t klen,
    const void *val, size_t vlen, unsigned flags, void *own)
{
	struct item *it;
	size_t i;
	int rc;

	if (b->dead)
		rc = FERRY_EINVAL;
	else if (key == NULL || klen == 0 || klen > 511 ||
	    (val == NULL && vlen != 0) ||
	    (flags & ~(unsigned)(MDB_NOOVERWRITE | MDB_APPEND)) != 0)
		rc = FERRY_EINVAL;
	else {
		for (i = 0; i < b->l->nx; i++)
			if (b->l->xdbi[i] == dbi)
				break;
		/* only the caller's own tables */
		rc = i == b->l->nx ? FERRY_EINVAL : 0;
	}
	if (rc != 0) {
		free(own);
		return (rc);
	}
	if ((it = new_item(b)) == NULL) {
		free(own);
		b->dead = 1;
		return (FERRY_ENOMEM);
	}
	it->type = val != NULL ? ITEM_PUT : ITEM_DEL;
	it->dbi = dbi;
	it->flags = flags;
	it->env = own;
	if ((it->bytes = malloc(klen)) == NULL ||
	    (it->type == ITEM_PUT && it->env == NULL &&
	    (it->env = malloc(vlen ? vlen : 1)) == NULL)) {
		rc = FERRY_ENOMEM;
		goto dead;
	}
	memcpy(it->bytes, key, klen);
	it->len = klen;
	if (it->type == ITEM_PUT) {
		if (vlen > 0 && own == NULL)
			memcpy(it->env, val, vlen);
		it->envlen = vlen;
	}
	rc = write_or_grow(b, it, 0);
	if (rc == FERRY_EEXIST || rc == FERRY_ENOENT) {
		/* Refused by LMDB without a change: forget it. */
		free(it->bytes);
		free(it->env);
		b->n--;
		return (rc);
	}
	if (rc != 0)
		goto dead_kept;
	return (0);

dead:
	free(it->bytes);
	free(it->env);
	b->n--;
dead_kept:
	b->dead = 1;
	return (rc);
}

/** log_batch_put(b, dbi, key, klen, val, vlen, flags): a caller put. */
int
log_batch_put(struct log_batch *b, MDB_dbi dbi, const void *key, size_t klen,
    const void *val, size_t vlen, unsigned flags)
{

	if (val == NULL)
		val = "";
	return (batch_write(b, dbi, key, klen, val, vlen, flags, NULL));
}

/** log_batch_put_own(b, dbi, key, klen, val, vlen, flags): no copy. */
int
log_batch_put_own(struct log_batch *b, MDB_dbi dbi, const void *key,
    size_t klen, void *val, size_t vlen, unsigned flags)
{

	if (val == NULL)
		return (FERRY_EINVAL);
	return (batch_write(b, dbi, key, klen, val, vlen, flags, val));
}

/** log_batch_del(b, dbi, key, klen): a caller delete. */
int
log_batch_del(struct log_batch *b, MDB_dbi dbi, const void *key, size_t klen)
{

	return (batch_write(b, dbi, key, klen, NULL, 0, 0, NULL));
}

/** log_batch_checkpoint(b, note, len): sign the batch's tree so far. */
int
log_batch_checkpoint(struct log_batch *b, uint8_t **note, size_t *len)
{
	struct hctx hc = { b->txn, b->l->hashes };
	uint8_t root[32];
	int rc;

	if (b->dead || b->size == 0)
		return (FERRY_EINVAL);
	if ((rc = merkle_root(b->size, logx_hread, &hc, root)) != 0)
		return (rc);
	return (note_sign_checkpoint(b->l->origin, b->size, root, b->l->sk,
	    note, len));
}

/** log_batch_seal(b, note, len): the batch's one checkpoint, signed now. */
int
log_batch_seal(struct log_batch *b, uint8_t **note, size_t *len)
{
	int rc;

	*note = NULL;
	*len = 0;
	if (b->sealed != NULL)
		return (FERRY_EINVAL);
	if ((rc = log_batch_checkpoint(b, &b->sealed, &b->sealed_len)) != 0)
		return (rc);
	if ((*note = malloc(b->sealed_len)) == NULL)
		return (FERRY_ENOMEM);
	memcpy(*note, b->sealed, b->sealed_len);
	*len = b->sealed_len;
	return (0);
}

/* logx_hread through batch ${ctx}'s memo. */
static int
memo_hread(void *ctx, uint64_t index, uint8_t out[32])
{
	struct log_batch *b = ctx;
	struct hctx hc = { b->txn, b->l->hashes };
	size_t slot = index % LOG_PROVE_MEMO;
	int rc;

	if (b->memo[slot].at1 == index + 1) {
		memcpy(out, b->memo[slot].h, 32);
		return (0);
	}
	if ((rc = logx_hread(&hc, index, out)) != 0)
		return (rc);
	b->memo[slot].at1 = index + 1;
	memcpy(b->memo[slot].h, out, 32);
	return (0);
}

/** log_batch_prove(b, index, raw, rawlen, proof, n): entry and path in the batch's tree. */
int
log_batch_prove(struct log_batch *b, uint64_t index, uint8_t **raw,
    size_t *rawlen, uint8_t proof[][FERRY_HASH_LEN], size_t *n)
{
	uint8_t kb[8];
	MDB_val k, v;
	int rc;

	*raw = NULL;
	*rawlen = 0;
	if (b->dead || index >= b->size)
		return (FERRY_EINVAL);
	bytes_be64_put(kb, index);
	k.mv_data = kb;
	k.mv_size = 8;
	if ((rc = mdb_get(b->txn, b->l->entries, &k, &v)) != 0)
		return (rc == MDB_NOTFOUND ? FERRY_ELOGCORRUPT :
		    logx_lmdb_err(rc));
	if ((rc = merkle_prove_inclusion(index, b->size, memo_hread, b,
	    proof, n)) != 0)
		return (rc);
	if ((*raw = malloc(v.mv_size ? v.mv_size : 1)) == NULL)
		return (FERRY_ENOMEM);
	memcpy(*raw, v.mv_data, v.mv_size);
	*rawlen = v.mv_size;
	return (0);
}

/* Sign (or take the sealed one) and store the checkpoint for b->size;
 * LMDB code or FERRY code. */
static int
put_checkpoint(struct log_batch *b, int archive, int *ferr)
{
	struct log *l = b->l;
	struct hctx hc = { b->txn, l->hashes };
	uint8_t root[32], kb[8];
	uint8_t *note;
	size_t len;
	MDB_val k, v;
	int rc;

	*ferr = 0;
	if (b->sealed != NULL) {
		/* Signed by log_batch_seal for this very tree (a redo after
		 * growing the map rebuilds the same entries and hashes). */
		if ((note = malloc(b->sealed_len)) == NULL) {
			*ferr = FERRY_ENOMEM;
			return (0);
		}
		memcpy(note, b->sealed, b->sealed_len);
		len = b->sealed_len;
	} else if ((rc = merkle_root(b->size, logx_hread, &hc, root)) != 0) {
		*ferr = rc;
		return (0);
	} else if ((rc = note_sign_checkpoint(l->origin, b->size, root, l->sk,
	    &note, &len)) != 0) {
		*ferr = rc;
		return (0);
	}
	if ((rc = logx_meta_put(l, b->txn, "checkpoint", note, len)) != 0)
		goto out;
	if (archive) {
		bytes_be64_put(kb, b->size);
		k.mv_data = kb;
		k.mv_size = 8;
		v.mv_data = note;
		v.mv_size = len;
		rc = mdb_put(b->txn, l->ckpts, &k, &v, 0);
	}
out:
	free(note);
	return (rc);
}

/** log_commit(b): sign, sync, and free the batch. */
/*
 * A commit's write error.  LMDB reports a short write (what a full disk
 * or an exhausted quota gives) as EIO: if the log's filesystem has
 * (almost) no space left, say FERRY_ENOSPC so callers refuse new work
 * and retry instead of stopping.  (A quota short while the filesystem has
 * space still reads as EIO: the same as a failed write, which stops the
 * relay; an fsync that failed leaves no page it can trust.)
 */
static int
commit_err(struct log *l, int rc)
{
	struct statvfs sv;
	const char *path;

	if (rc == EIO && mdb_env_get_path(l->env, &path) == 0 &&
	    statvfs(path, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize < 1024 * 1024)
		return (FERRY_ENOSPC);
	return (logx_lmdb_err(rc));
}

int
log_commit(struct log_batch *b)
{
	struct log *l = b->l;
	int rc, ferr, tries, archived;
	uint64_t now;

	if (b->dead) {
		log_abort(b);
		return (FERRY_EINVAL);
	}
	if (b->size == l->size && b->n == 0) {
		/* Nothing to write (the hook's writes too): done. */
		log_abort(b);
		if (l->hook_committed != NULL)
			l->hook_committed(l->hook_ctx);
		return (0);
	}
	for (tries = 0; tries < GROW_TRIES; tries++) {
		now = ferry_now_ms();
		archived = 0;
		rc = 0;
		/* Only caller writes: the tree, hence the checkpoint, stays. */
		if (b->size != l->size) {
			archived = (l->last_archive_size == UINT64_MAX ||
			    now >= l->last_archive_ms + ARCHIVE_MS);
			rc = put_checkpoint(b, archived, &ferr);
			if (ferr != 0) {
				rc = ferr;
				goto fail;
			}
		}
		if (rc == 0) {
			rc = mdb_txn_commit(b->txn);
			b->txn = NULL;
			if (rc == 0)
				break;
		}
		if (rc != MDB_MAP_FULL) {
			rc = commit_err(l, rc);
			goto fail;
		}
		if ((rc = grow_and_redo(b)) != 0)
			goto fail;
	}
	if (tries == GROW_TRIES) {
		rc = FERRY_ENOSPC;
		goto fail;
	}
	l->size = b->size;
	l->commits++;
	if (archived) {
		l->last_archive_ms = now;
		l->last_archive_size = b->size;
	}
	log_abort(b);
	if (l->hook_committed != NULL)
		l->hook_committed(l->hook_ctx);
	return (0);

fail:
	log_abort(b);
	return (rc);
}

/** log_append(l, e, env, env_len, index_out): one entry, one commit. */
int
log_append(struct log *l, const struct log_entry *e, const uint8_t *env,
    size_t env_len, uint64_t *index_out)
{
	struct log_batch *b;
	int rc;

	if ((rc = log_begin(l, &b)) != 0)
		return (rc);
	if ((rc = log_add(b, e, env, env_len, index_out)) != 0) {
		log_abort(b);
		return (rc);
	}
	return (log_commit(b));
}

/** log_erase(l, msg_id, reason, authoriser, roster_version, index_out). */
int
log_erase(struct log *l, const uint8_t msg_id[FERRY_MSGID_LEN], int reason,
    const char *authoriser, uint64_t roster_version, uint64_t *index_out)
{
	struct log_batch *b;
	int rc;

	if ((rc = log_begin(l, &b)) != 0)
		return (rc);
	if ((rc = log_erase_batch(b, msg_id, reason, authoriser,
	    roster_version, index_out)) != 0) {
		log_abort(b);
		return (rc);
	}
	return (log_commit(b));
}

/** log_erase_batch(b, msg_id, reason, authoriser, roster_version, index_out). */
int
log_erase_batch(struct log_batch *b, const uint8_t msg_id[FERRY_MSGID_LEN],
    int reason, const char *authoriser, uint64_t roster_version,
    uint64_t *index_out)
{
	struct log *l = b->l;
	struct log_entry e, old;
	struct item *it;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint8_t mk[FERRY_MSGID_LEN + 12];
	uint8_t (*hashes)[32] = NULL, (*nh)[32];
	size_t nhash = 0, i;
	uint64_t first = UINT64_MAX, idx;
	int rc;

	if (authoriser == NULL || strlen(authoriser) > FERRY_ID_MAX ||
	    (reason != LOG_ERASE_RETENTION && reason != LOG_ERASE_REQUEST))
		return (FERRY_EINVAL);
	/* Every entry with this msg id: collect its envelope hash. */
	memset(mk, 0, sizeof(mk));
	memcpy(mk, msg_id, FERRY_MSGID_LEN);
	if ((rc = mdb_cursor_open(b->txn, l->msgs, &c)) != 0) {
		rc = logx_lmdb_err(rc);
		goto err;
	}
	k.mv_data = mk;
	k.mv_size = sizeof(mk);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != sizeof(mk) ||
		    memcmp(k.mv_data, msg_id, FERRY_MSGID_LEN) != 0)
			break;
		idx = bytes_be_get((const uint8_t *)k.mv_data + 20, 8);
		if (idx < first)
			first = idx;
		if (logx_raw_get(l, b->txn, idx, &v) != 0 ||
		    log_entry_decode(v.mv_data, v.mv_size, &old) != 0) {
			rc = FERRY_ELOGCORRUPT;
			goto err;
		}
		if (old.kind == LOG_ERASURE) {
			rc = FERRY_EDUPMSG;
			goto err;
		}
		if (allzero(old.env_hash, 32))
			continue;
		if ((nh = realloc(hashes, (nhash + 1) * 32)) == NULL) {
			rc = FERRY_ENOMEM;
			goto err;
		}
		hashes = nh;
		memcpy(hashes[nhash++], old.env_hash, 32);
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		rc = logx_lmdb_err(rc);
		goto err;
	}
	mdb_cursor_close(c);
	c = NULL;
	if (first == UINT64_MAX) {
		rc = FERRY_ENOENT;
		goto err;
	}
	for (i = 0; i < nhash; i++) {
		if ((it = new_item(b)) == NULL ||
		    (it->bytes = malloc(32)) == NULL) {
			if (it != NULL)
				b->n--;
			rc = FERRY_ENOMEM;
			goto err;
		}
		it->type = ITEM_DEL;
		it->dbi = l->envs;
		memcpy(it->bytes, hashes[i], 32);
		it->len = 32;
		/* A message may share its envelope between entries. */
		if ((rc = write_or_grow(b, it, 0)) != 0 && rc != FERRY_ENOENT)
			goto err;
	}
	memset(&e, 0, sizeof(e));
	e.kind = LOG_ERASURE;
	memcpy(e.msg_id, msg_id, FERRY_MSGID_LEN);
	memcpy(e.from, authoriser, strlen(authoriser) + 1);
	e.ref_index = first;
	e.code = reason;
	e.roster_version = roster_version;
	if ((rc = log_add(b, &e, NULL, 0, index_out)) != 0)
		goto err;
	free(hashes);
	return (0);

err:
	if (c != NULL)
		mdb_cursor_close(c);
	free(hashes);
	return (rc);
}
