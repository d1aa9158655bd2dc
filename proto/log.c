/*
 * log.c: the append-only log in LMDB with an RFC 6962 tree and signed
 * checkpoints.  Layout (docs/protocol.md "The log"):
 *
 *   entries  u64be index      -> canonical msgpack entry (leaf data)
 *   hashes   u64be stored idx -> 32-byte hash (tlog StoredHashIndex order)
 *   msgs     msg_id || u32be kind || u64be index -> ""
 *   envs     SHA-256(envelope) -> envelope bytes
 *   ckpts    u64be tree size  -> signed checkpoint note (archive)
 *   meta     "format", "origin", "pubkey", "checkpoint" (latest note)
 *
 * plus the caller's own tables (log_open_ex), written through the batch.
 * Every write to entries and hashes is an MDB_APPEND.  This file opens
 * and closes the log (its tables, held read snapshots, compaction);
 * log_batch.c writes it (batches, commits, checkpoints, erasure);
 * log_entry.c is the entry codec, log_read.c the reads.
 */
#include "log.h"
#include "log_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>


#define LOG_FORMAT "ferry-log/1"

static size_t initial_mapsize = (size_t)1 << 30;

static const char *const own_dbs[] = { "entries", "hashes", "msgs", "envs",
    "ckpts", "meta" };
#define OWN_DBS (sizeof(own_dbs) / sizeof(own_dbs[0]))



/** log_set_initial_mapsize(bytes): map size for later log_open calls. */
void
log_set_initial_mapsize(size_t bytes)
{

	initial_mapsize = bytes;
}

/* Map an LMDB / errno code to a FERRY_E* code. */
int
logx_lmdb_err(int rc)
{

	switch (rc) {
	case 0:
		return (0);
	case MDB_MAP_FULL:
	case ENOSPC:
	case EDQUOT:	/* the user's disk quota: full, for us */
		return (FERRY_ENOSPC);
	case ENOMEM:
		return (FERRY_ENOMEM);
	case EIO:
		return (FERRY_EIO);
	case MDB_NOTFOUND:
		return (FERRY_ENOENT);
	case MDB_KEYEXIST:
		return (FERRY_EEXIST);
	case ENOENT:
		return (FERRY_ENOENT);
	case EACCES:
	case EPERM:
		return (FERRY_EACCES);
	default:
		return (FERRY_ELMDB);
	}
}




/* A read-only transaction, adopting a map grown by another process. */
int
logx_rtxn(struct log *l, MDB_txn **txn)
{
	int rc;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn);
	if (rc == MDB_MAP_RESIZED) {
		if ((rc = mdb_env_set_mapsize(l->env, 0)) != 0)
			return (logx_lmdb_err(rc));
		rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn);
	}
	if (rc == 0)
		l->rtxns++;
	return (logx_lmdb_err(rc));
}

/* End the snapshot that log_hold keeps, if any (the hold stays on). */
void
logx_drop_held(struct log *l)
{

	if (l->held != NULL) {
		mdb_txn_abort(l->held);
		l->held = NULL;
	}
}

/** log_hold(l, on): reads share one snapshot while on (log.h). */
void
log_hold(struct log *l, int on)
{

	l->hold = on != 0;
	if (!l->hold)
		logx_drop_held(l);
}

/** log_read_txns(l): read snapshots begun on ${l} since open. */
uint64_t
log_read_txns(const struct log *l)
{

	return (l->rtxns);
}


int
logx_hread(void *ctx, uint64_t index, uint8_t out[32])
{
	struct hctx *h = ctx;
	uint8_t kb[8];
	MDB_val k, v;
	int rc;

	bytes_be64_put(kb, index);
	k.mv_data = kb;
	k.mv_size = 8;
	if ((rc = mdb_get(h->txn, h->dbi, &k, &v)) != 0)
		return (rc == MDB_NOTFOUND ? FERRY_ELOGCORRUPT : logx_lmdb_err(rc));
	if (v.mv_size != 32)
		return (FERRY_ELOGCORRUPT);
	memcpy(out, v.mv_data, 32);
	return (0);
}

/* Number of entries in ${txn}'s snapshot: last key + 1. */
int
logx_count_entries(struct log *l, MDB_txn *txn, uint64_t *n)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(txn, l->entries, &c)) != 0)
		return (logx_lmdb_err(rc));
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND) {
		*n = 0;
		return (0);
	}
	if (rc != 0)
		return (logx_lmdb_err(rc));
	if (k.mv_size != 8)
		return (FERRY_ELOGCORRUPT);
	*n = bytes_be_get(k.mv_data, 8) + 1;
	return (0);
}

/* Is ${s} an acceptable origin (a note key name)? */
static int
origin_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > LOG_ORIGIN_MAX)
		return (0);
	for (i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];

		if (c <= 0x20 || c == 0x7f || c == '+')
			return (0);
	}
	return (1);
}

/* Get meta value ${key} into ${buf} of ${cap}; *${len}. */
static int
meta_get(struct log *l, MDB_txn *txn, const char *key, void *buf,
    size_t cap, size_t *len)
{
	MDB_val k, v;
	int rc;

	k.mv_data = (void *)(uintptr_t)key;
	k.mv_size = strlen(key);
	if ((rc = mdb_get(txn, l->meta, &k, &v)) != 0)
		return (logx_lmdb_err(rc));
	if (v.mv_size > cap)
		return (FERRY_ELOGCORRUPT);
	memcpy(buf, v.mv_data, v.mv_size);
	*len = v.mv_size;
	return (0);
}

/** logx_meta_put(l, txn, key, buf, len): meta value ${key} (LMDB code). */
int
logx_meta_put(struct log *l, MDB_txn *txn, const char *key, const void *buf,
    size_t len)
{
	MDB_val k, v;

	k.mv_data = (void *)(uintptr_t)key;
	k.mv_size = strlen(key);
	v.mv_data = (void *)(uintptr_t)buf;
	v.mv_size = len;
	return (mdb_put(txn, l->meta, &k, &v, 0));
}

/* Open the DBIs, the log's and the caller's (creating them when ${create}). */
static int
open_dbis(struct log *l, MDB_txn *txn, int create)
{
	MDB_dbi *own[OWN_DBS] = { &l->entries, &l->hashes, &l->msgs,
	    &l->envs, &l->ckpts, &l->meta };
	unsigned fl = create ? MDB_CREATE : 0;
	size_t i;
	int rc;

	for (i = 0; i < OWN_DBS; i++)
		if ((rc = mdb_dbi_open(txn, own_dbs[i], fl, own[i])) != 0)
			return (logx_lmdb_err(rc));
	for (i = 0; i < l->nx; i++)
		if ((rc = mdb_dbi_open(txn, l->xname[i], fl, &l->xdbi[i])) != 0)
			return (logx_lmdb_err(rc));
	return (0);
}

/* Copy the caller's table names of ${o} into ${l}; FERRY_EINVAL if bad. */
static int
take_names(struct log *l, const struct log_opts *o)
{
	size_t i, j, n;

	if (o == NULL || o->ndbs == 0)
		return (0);
	if (o->ndbs > LOG_DBS_MAX || o->dbs == NULL)
		return (FERRY_EINVAL);
	for (i = 0; i < o->ndbs; i++) {
		if (o->dbs[i] == NULL || (n = strlen(o->dbs[i])) == 0 ||
		    n > 64)
			return (FERRY_EINVAL);
		for (j = 0; j < OWN_DBS; j++)
			if (strcmp(o->dbs[i], own_dbs[j]) == 0)
				return (FERRY_EINVAL);
		for (j = 0; j < i; j++)
			if (strcmp(o->dbs[i], o->dbs[j]) == 0)
				return (FERRY_EINVAL);
		if ((l->xname[i] = malloc(n + 1)) == NULL)
			return (FERRY_ENOMEM);
		memcpy(l->xname[i], o->dbs[i], n + 1);
		l->nx = i + 1;
	}
	return (0);
}

static void
free_names(struct log *l)
{
	size_t i;

	for (i = 0; i < l->nx; i++)
		free(l->xname[i]);
	l->nx = 0;
}

/** log_open(dir, origin, sign_sk, out): open or create the log in ${dir}. */
int
log_open(const char *dir, const char *origin, const uint8_t *sign_sk,
    struct log **out)
{

	return (log_open_ex(dir, origin, sign_sk, NULL, out));
}

/** log_open_ex(dir, origin, sign_sk, opts, out): log_open with caller tables. */
int
log_open_ex(const char *dir, const char *origin, const uint8_t *sign_sk,
    const struct log_opts *opts, struct log **out)
{
	struct log *l;
	MDB_txn *txn = NULL;
	char buf[LOG_ORIGIN_MAX + 1];
	uint8_t pk[32];
	size_t len;
	int rc, dead, rdonly = (sign_sk == NULL);

	if (dir == NULL || out == NULL ||
	    (origin == NULL && !rdonly) ||
	    (origin != NULL && !origin_valid(origin)))
		return (FERRY_EINVAL);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (FERRY_ENOMEM);
	if ((rc = take_names(l, opts)) != 0)
		goto err0;
	if (!rdonly) {
		if ((l->sk = sodium_malloc(64)) == NULL) {
			rc = FERRY_ENOMEM;
			goto err0;
		}
		memcpy(l->sk, sign_sk, 64);
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			rc = FERRY_EIO;
			goto err0;
		}
	}
	if ((rc = mdb_env_create(&l->env)) != 0) {
		rc = logx_lmdb_err(rc);
		goto err0;
	}
	/* log_read_end finds the handle (and its held snapshot) from a
	 * transaction. */
	(void)mdb_env_set_userctx(l->env, l);
	/*
	 * MDB_NOTLS: read snapshots belong to their transaction, not the
	 * thread, so a caller may read its tables while walking the log.
	 */
	if ((rc = mdb_env_set_maxdbs(l->env, (MDB_dbi)(OWN_DBS + l->nx))) !=
	    0 ||
	    (rc = mdb_env_set_mapsize(l->env, opts != NULL &&
	    opts->map_size != 0 ? opts->map_size : initial_mapsize)) != 0 ||
	    (rc = mdb_env_open(l->env, dir, MDB_NOTLS |
	    (rdonly ? MDB_RDONLY : 0), 0600)) != 0) {
		rc = logx_lmdb_err(rc);
		goto err1;
	}
	if ((rc = mdb_reader_check(l->env, &dead)) != 0) {
		rc = logx_lmdb_err(rc);
		goto err1;
	}
	if (rdonly) {
		if ((rc = logx_rtxn(l, &txn)) != 0)
			goto err1;
	} else if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) != 0) {
		rc = logx_lmdb_err(rc);
		goto err1;
	}
	if ((rc = open_dbis(l, txn, !rdonly)) != 0)
		goto err2;
	rc = meta_get(l, txn, "origin", buf, LOG_ORIGIN_MAX, &len);
	if (rc == FERRY_ENOENT && !rdonly) {
		/* A new log: record what it is and whose. */
		memcpy(l->pk, sign_sk + 32, 32);
		if ((rc = logx_meta_put(l, txn, "format", LOG_FORMAT,
		    strlen(LOG_FORMAT))) != 0 ||
		    (rc = logx_meta_put(l, txn, "origin", origin,
		    strlen(origin))) != 0 ||
		    (rc = logx_meta_put(l, txn, "pubkey", l->pk, 32)) != 0) {
			rc = logx_lmdb_err(rc);
			goto err2;
		}
		memcpy(l->origin, origin, strlen(origin) + 1);
	} else if (rc != 0) {
		goto err2;
	} else {
		buf[len] = '\0';
		rc = FERRY_EINVAL;
		if (origin != NULL && strcmp(buf, origin) != 0)
			goto err2;
		memcpy(l->origin, buf, len + 1);
		if ((rc = meta_get(l, txn, "pubkey", pk, 32, &len)) != 0)
			goto err2;
		rc = FERRY_ELOGCORRUPT;
		if (len != 32)
			goto err2;
		memcpy(l->pk, pk, 32);
		rc = FERRY_EINVAL;
		if (!rdonly && sodium_memcmp(pk, sign_sk + 32, 32) != 0)
			goto err2;
	}
	if ((rc = logx_count_entries(l, txn, &l->size)) != 0)
		goto err2;
	l->last_archive_size = UINT64_MAX;
	/* Commit even a read-only txn: DBI handles die with an abort. */
	if ((rc = mdb_txn_commit(txn)) != 0) {
		rc = logx_lmdb_err(rc);
		goto err1;
	}
	*out = l;
	return (0);

err2:
	mdb_txn_abort(txn);
err1:
	mdb_env_close(l->env);
err0:
	if (l->sk != NULL)
		sodium_free(l->sk);
	free_names(l);
	free(l);
	return (rc);
}

/** log_dbi(l, name, dbi): the handle of caller table ${name}. */
int
log_dbi(struct log *l, const char *name, MDB_dbi *dbi)
{
	size_t i;

	for (i = 0; i < l->nx; i++)
		if (strcmp(l->xname[i], name) == 0) {
			*dbi = l->xdbi[i];
			return (0);
		}
	return (FERRY_ENOENT);
}

/** log_commits(l): synced commits of batches since open. */
uint64_t
log_commits(const struct log *l)
{

	return (l->commits);
}

/** log_map_grows(l): map growths since open. */
uint64_t
log_map_grows(const struct log *l)
{

	return (l->grows);
}

/** log_close(l): close ${l}. */
void
log_close(struct log *l)
{

	if (l == NULL)
		return;
	if (l->batch != NULL)
		log_abort(l->batch);
	logx_drop_held(l);
	mdb_env_close(l->env);
	if (l->sk != NULL)
		sodium_free(l->sk);
	free_names(l);
	free(l);
}

/** log_origin(l): the origin of ${l}. */
const char *
log_origin(const struct log *l)
{

	return (l->origin);
}

/** log_pubkey(l, pk): the stored public key. */
int
log_pubkey(struct log *l, uint8_t pk[32])
{

	memcpy(pk, l->pk, 32);
	return (0);
}

/** log_size(l): committed entries. */
uint64_t
log_size(const struct log *l)
{
	struct log *w = (struct log *)(uintptr_t)l;
	MDB_txn *txn;
	uint64_t n;

	/* A read-only handle follows a log another process appends to. */
	if (l->sk == NULL && logx_rtxn(w, &txn) == 0) {
		if (logx_count_entries(w, txn, &n) == 0)
			w->size = n;
		mdb_txn_abort(txn);
	}
	return (l->size);
}

/** log_compact(l, path): a compacted copy of the environment in ${path}. */
int
log_compact(struct log *l, const char *path)
{
	int fd, rc;

	if (l->batch != NULL)
		return (FERRY_EINVAL);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		return (errno == EEXIST ? FERRY_EEXIST : FERRY_EIO);
	rc = mdb_env_copyfd2(l->env, fd, MDB_CP_COMPACT);
	if (rc == 0 && fsync(fd) != 0)
		rc = EIO;
	if (close(fd) != 0 && rc == 0)
		rc = EIO;
	if (rc != 0) {
		(void)unlink(path);
		return (logx_lmdb_err(rc));
	}
	return (0);
}

