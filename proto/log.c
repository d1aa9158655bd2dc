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
 * Every write to entries and hashes is an MDB_APPEND.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "merkle.h"
#include "note.h"
#include "wire.h"

#define LOG_FORMAT "ferry-log/1"
#define MAP_MAX ((size_t)1 << 40)	/* never grow the map past 1 TiB */
#define GROW_TRIES 12
#define ARCHIVE_MS 100

static size_t initial_mapsize = (size_t)1 << 30;

static const char *const own_dbs[] = { "entries", "hashes", "msgs", "envs",
    "ckpts", "meta" };
#define OWN_DBS (sizeof(own_dbs) / sizeof(own_dbs[0]))

struct log {
	MDB_env *env;
	MDB_dbi entries, hashes, msgs, envs, ckpts, meta;
	MDB_dbi xdbi[LOG_DBS_MAX];	/* the caller's tables */
	char *xname[LOG_DBS_MAX];
	size_t nx;
	uint64_t grows;			/* map growths since open */
	uint64_t commits;		/* synced commits since open */
	char origin[LOG_ORIGIN_MAX + 1];
	uint8_t pk[32];
	uint8_t *sk;		/* sodium_malloc'd; NULL when read-only */
	uint64_t size;		/* committed entries */
	uint64_t last_archive_ms;
	uint64_t last_archive_size;
	struct log_batch *batch;
};

/*
 * A batch remembers what it wrote so it can redo it after growing: log
 * entries, and puts / deletes in any table (the caller's, and the envs
 * deletions of log_erase).
 */
enum { ITEM_ENTRY, ITEM_PUT, ITEM_DEL };
struct item {
	int type;
	uint8_t *bytes;		/* ENTRY: encoded entry; PUT, DEL: key */
	size_t len;
	uint8_t *env;		/* ENTRY: envelope or NULL; PUT: value */
	size_t envlen;
	uint8_t msg_id[FERRY_MSGID_LEN];	/* ENTRY */
	uint32_t kind;				/* ENTRY */
	MDB_dbi dbi;				/* PUT, DEL */
	unsigned flags;				/* PUT */
};

struct log_batch {
	struct log *l;
	MDB_txn *txn;
	uint64_t size;		/* entries including this batch */
	struct item *items;
	size_t n, cap;
	int dead;
};

/* Kinds whose (msg_id, kind) must be unique in a log. */
static int
kind_unique(uint32_t kind)
{

	switch (kind) {
	case LOG_SENT: case LOG_ACCEPTED: case LOG_RECEIVED: case LOG_RECEIPT:
	case LOG_DELIVERED: case LOG_ERASURE: case LOG_EXPIRED:
		return (1);
	default:
		return (0);
	}
}

/** log_kind_name(kind): "SENT", "ACCEPTED", ... */
const char *
log_kind_name(uint32_t kind)
{
	static const char *names[] = { "?", "SENT", "ACCEPTED", "RECEIVED",
	    "RECEIPT", "DELIVERED", "NACK", "REFUSED", "ROSTER", "ERASURE",
	    "CHECKPOINT", "EXPIRED", "ROUTE" };

	if (kind > LOG_KIND_MAX)
		return ("?");
	return (names[kind]);
}

/** log_set_initial_mapsize(bytes): map size for later log_open calls. */
void
log_set_initial_mapsize(size_t bytes)
{

	initial_mapsize = bytes;
}

/* Map an LMDB / errno code to a FERRY_E* code. */
static int
lmdb_err(int rc)
{

	switch (rc) {
	case 0:
		return (0);
	case MDB_MAP_FULL:
	case ENOSPC:
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

static void
be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
getbe64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (v);
}

static int
allzero(const uint8_t *p, size_t n)
{
	size_t i;
	uint8_t acc = 0;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return (acc == 0);
}

/* A read-only transaction, adopting a map grown by another process. */
static int
rtxn(struct log *l, MDB_txn **txn)
{
	int rc;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn);
	if (rc == MDB_MAP_RESIZED) {
		if ((rc = mdb_env_set_mapsize(l->env, 0)) != 0)
			return (lmdb_err(rc));
		rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn);
	}
	return (lmdb_err(rc));
}

/* Hash reader over a transaction. */
struct hctx {
	MDB_txn *txn;
	MDB_dbi dbi;
};

static int
hread(void *ctx, uint64_t index, uint8_t out[32])
{
	struct hctx *h = ctx;
	uint8_t kb[8];
	MDB_val k, v;
	int rc;

	be64(kb, index);
	k.mv_data = kb;
	k.mv_size = 8;
	if ((rc = mdb_get(h->txn, h->dbi, &k, &v)) != 0)
		return (rc == MDB_NOTFOUND ? FERRY_ELOGCORRUPT : lmdb_err(rc));
	if (v.mv_size != 32)
		return (FERRY_ELOGCORRUPT);
	memcpy(out, v.mv_data, 32);
	return (0);
}

/* Number of entries in ${txn}'s snapshot: last key + 1. */
static int
count_entries(struct log *l, MDB_txn *txn, uint64_t *n)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(txn, l->entries, &c)) != 0)
		return (lmdb_err(rc));
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND) {
		*n = 0;
		return (0);
	}
	if (rc != 0)
		return (lmdb_err(rc));
	if (k.mv_size != 8)
		return (FERRY_ELOGCORRUPT);
	*n = getbe64(k.mv_data) + 1;
	return (0);
}

/** log_entry_encode(e, out, len): canonical msgpack bytes of ${e}. */
int
log_entry_encode(const struct log_entry *e, uint8_t **out, size_t *len)
{
	struct wire_buf w;
	uint64_t code;
	size_t n = 2;
	size_t fl = strlen(e->from), tl = strlen(e->to);

	if (e->kind == 0 || e->kind > LOG_KIND_MAX)
		return (FERRY_EINVAL);
	if (e->kind == LOG_ERASURE) {
		if (e->code != LOG_ERASE_RETENTION &&
		    e->code != LOG_ERASE_REQUEST)
			return (FERRY_EINVAL);
		code = (uint64_t)e->code;
	} else if (e->kind == LOG_ROUTE) {
		if (e->code < LOG_ROUTE_FIRST || e->code > LOG_ROUTE_NOT_HELD)
			return (FERRY_EINVAL);
		code = (uint64_t)e->code;
	} else {
		/* log_entry_decode bounds the stored magnitude by INT32_MAX. */
		if (e->code > 0 || e->code == INT32_MIN)
			return (FERRY_EINVAL);
		code = (uint64_t)(-(int64_t)e->code);
	}
	if ((fl != 0 && !ferry_id_valid(e->from, fl)) ||
	    (tl != 0 && !ferry_id_valid(e->to, tl)))
		return (FERRY_EBADID);
	if (e->aux_len > LOG_AUX_MAX || (e->aux_len > 0 && e->aux == NULL))
		return (FERRY_EINVAL);
	n += !allzero(e->msg_id, sizeof(e->msg_id));
	n += !allzero(e->env_hash, sizeof(e->env_hash));
	n += fl != 0;
	n += tl != 0;
	n += e->ref_index != 0;
	n += code != 0;
	n += e->roster_version != 0;
	n += e->aux_len != 0;
	wire_buf_init(&w);
	wire_put_map(&w, n);
	wire_put_uint(&w, 1);
	wire_put_uint(&w, e->kind);
	wire_put_uint(&w, 2);
	wire_put_uint(&w, e->time_ms);
	if (!allzero(e->msg_id, sizeof(e->msg_id))) {
		wire_put_uint(&w, 3);
		wire_put_bin(&w, e->msg_id, sizeof(e->msg_id));
	}
	if (!allzero(e->env_hash, sizeof(e->env_hash))) {
		wire_put_uint(&w, 4);
		wire_put_bin(&w, e->env_hash, sizeof(e->env_hash));
	}
	if (fl != 0) {
		wire_put_uint(&w, 5);
		wire_put_str(&w, e->from, fl);
	}
	if (tl != 0) {
		wire_put_uint(&w, 6);
		wire_put_str(&w, e->to, tl);
	}
	if (e->ref_index != 0) {
		wire_put_uint(&w, 7);
		wire_put_uint(&w, e->ref_index);
	}
	if (code != 0) {
		wire_put_uint(&w, 8);
		wire_put_uint(&w, code);
	}
	if (e->roster_version != 0) {
		wire_put_uint(&w, 9);
		wire_put_uint(&w, e->roster_version);
	}
	if (e->aux_len != 0) {
		wire_put_uint(&w, 10);
		wire_put_bin(&w, e->aux, e->aux_len);
	}
	return (wire_buf_take(&w, out, len));
}

/** log_entry_decode(buf, len, e): strict decode; aux points into ${buf}. */
int
log_entry_decode(const uint8_t *buf, size_t len, struct log_entry *e)
{
	static const struct wire_field spec[] = {
		{ 1, WIRE_UINT, 1, 1, LOG_KIND_MAX },
		{ 2, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 3, WIRE_BIN, 0, FERRY_MSGID_LEN, FERRY_MSGID_LEN },
		{ 4, WIRE_BIN, 0, FERRY_HASH_LEN, FERRY_HASH_LEN },
		{ 5, WIRE_STR, 0, 1, FERRY_ID_MAX },
		{ 6, WIRE_STR, 0, 1, FERRY_ID_MAX },
		{ 7, WIRE_UINT, 0, 1, UINT64_MAX },
		{ 8, WIRE_UINT, 0, 1, INT32_MAX },
		{ 9, WIRE_UINT, 0, 1, UINT64_MAX },
		{ 10, WIRE_BIN, 0, 1, LOG_AUX_MAX },
	};
	const msgpack_object *f[10];
	struct wire_doc doc;
	size_t n;
	int rc;

	memset(e, 0, sizeof(*e));
	if ((rc = wire_parse(buf, len, 2, &doc)) != 0)
		return (rc);
	if ((rc = wire_map_read(&doc.root, spec, 10, f)) != 0)
		goto out;
	e->kind = (uint32_t)f[0]->via.u64;
	e->time_ms = f[1]->via.u64;
	rc = FERRY_ENONCANON;	/* a present field must not be zero */
	if (f[2] != NULL) {
		if ((rc = wire_bin_copy(f[2], e->msg_id, FERRY_MSGID_LEN)) != 0)
			goto out;
		rc = FERRY_ENONCANON;
		if (allzero(e->msg_id, FERRY_MSGID_LEN))
			goto out;
	}
	if (f[3] != NULL) {
		if ((rc = wire_bin_copy(f[3], e->env_hash, FERRY_HASH_LEN)) != 0)
			goto out;
		rc = FERRY_ENONCANON;
		if (allzero(e->env_hash, FERRY_HASH_LEN))
			goto out;
	}
	if (f[4] != NULL) {
		if ((rc = wire_str_copy(f[4], e->from, sizeof(e->from))) != 0)
			goto out;
		rc = FERRY_EBADID;
		if (!ferry_id_valid(e->from, strlen(e->from)) ||
		    strlen(e->from) != f[4]->via.str.size)
			goto out;
	}
	if (f[5] != NULL) {
		if ((rc = wire_str_copy(f[5], e->to, sizeof(e->to))) != 0)
			goto out;
		rc = FERRY_EBADID;
		if (!ferry_id_valid(e->to, strlen(e->to)) ||
		    strlen(e->to) != f[5]->via.str.size)
			goto out;
	}
	if (f[6] != NULL)
		e->ref_index = f[6]->via.u64;
	if (f[7] != NULL) {
		if (e->kind == LOG_ERASURE || e->kind == LOG_ROUTE)
			e->code = (int32_t)f[7]->via.u64;
		else
			e->code = -(int32_t)f[7]->via.u64;
	}
	rc = FERRY_EBADVALUE;
	if (e->kind == LOG_ERASURE && e->code != LOG_ERASE_RETENTION &&
	    e->code != LOG_ERASE_REQUEST)
		goto out;
	if (e->kind == LOG_ROUTE && (e->code < LOG_ROUTE_FIRST ||
	    e->code > LOG_ROUTE_NOT_HELD))
		goto out;
	if (f[8] != NULL)
		e->roster_version = f[8]->via.u64;
	if (f[9] != NULL) {
		e->aux = wire_bin(f[9], &n);
		e->aux_len = n;
	}
	rc = 0;
out:
	wire_doc_free(&doc);
	if (rc != 0)
		memset(e, 0, sizeof(*e));
	return (rc);
}

/** log_entry_clear(e): free memory log_get attached to ${e}. */
void
log_entry_clear(struct log_entry *e)
{

	if (e == NULL)
		return;
	free((void *)(uintptr_t)e->aux);
	memset(e, 0, sizeof(*e));
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
		return (lmdb_err(rc));
	if (v.mv_size > cap)
		return (FERRY_ELOGCORRUPT);
	memcpy(buf, v.mv_data, v.mv_size);
	*len = v.mv_size;
	return (0);
}

static int
meta_put(struct log *l, MDB_txn *txn, const char *key, const void *buf,
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
			return (lmdb_err(rc));
	for (i = 0; i < l->nx; i++)
		if ((rc = mdb_dbi_open(txn, l->xname[i], fl, &l->xdbi[i])) != 0)
			return (lmdb_err(rc));
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
		rc = lmdb_err(rc);
		goto err0;
	}
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
		rc = lmdb_err(rc);
		goto err1;
	}
	if ((rc = mdb_reader_check(l->env, &dead)) != 0) {
		rc = lmdb_err(rc);
		goto err1;
	}
	if (rdonly) {
		if ((rc = rtxn(l, &txn)) != 0)
			goto err1;
	} else if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) != 0) {
		rc = lmdb_err(rc);
		goto err1;
	}
	if ((rc = open_dbis(l, txn, !rdonly)) != 0)
		goto err2;
	rc = meta_get(l, txn, "origin", buf, LOG_ORIGIN_MAX, &len);
	if (rc == FERRY_ENOENT && !rdonly) {
		/* A new log: record what it is and whose. */
		memcpy(l->pk, sign_sk + 32, 32);
		if ((rc = meta_put(l, txn, "format", LOG_FORMAT,
		    strlen(LOG_FORMAT))) != 0 ||
		    (rc = meta_put(l, txn, "origin", origin,
		    strlen(origin))) != 0 ||
		    (rc = meta_put(l, txn, "pubkey", l->pk, 32)) != 0) {
			rc = lmdb_err(rc);
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
	if ((rc = count_entries(l, txn, &l->size)) != 0)
		goto err2;
	l->last_archive_size = UINT64_MAX;
	/* Commit even a read-only txn: DBI handles die with an abort. */
	if ((rc = mdb_txn_commit(txn)) != 0) {
		rc = lmdb_err(rc);
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
	if (l->sk == NULL && rtxn(w, &txn) == 0) {
		if (count_entries(w, txn, &n) == 0)
			w->size = n;
		mdb_txn_abort(txn);
	}
	return (l->size);
}

/* Write one item into the batch's transaction; LMDB code. */
static int
write_item(struct log_batch *b, struct item *it, uint64_t index)
{
	struct log *l = b->l;
	struct hctx hc = { b->txn, l->hashes };
	uint8_t kb[8], mk[FERRY_MSGID_LEN + 12], leaf[32], eh[32];
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
	be64(kb, index);
	k.mv_data = kb;
	k.mv_size = 8;
	v.mv_data = it->bytes;
	v.mv_size = it->len;
	if ((rc = mdb_put(b->txn, l->entries, &k, &v, MDB_APPEND)) != 0)
		return (rc);
	merkle_leaf_hash(it->bytes, it->len, leaf);
	if ((rc = merkle_append(index, leaf, hread, &hc, add, &c)) != 0)
		return (rc == FERRY_ELOGCORRUPT ? MDB_CORRUPTED : MDB_PANIC);
	base = merkle_stored_count(index);
	for (i = 0; i < c; i++) {
		be64(kb, base + i);
		v.mv_data = add[i];
		v.mv_size = 32;
		if ((rc = mdb_put(b->txn, l->hashes, &k, &v, MDB_APPEND)) != 0)
			return (rc);
	}
	if (!allzero(it->msg_id, FERRY_MSGID_LEN)) {
		memcpy(mk, it->msg_id, FERRY_MSGID_LEN);
		mk[16] = (uint8_t)(it->kind >> 24);
		mk[17] = (uint8_t)(it->kind >> 16);
		mk[18] = (uint8_t)(it->kind >> 8);
		mk[19] = (uint8_t)it->kind;
		be64(mk + 20, index);
		k.mv_data = mk;
		k.mv_size = sizeof(mk);
		v.mv_data = (void *)"";
		v.mv_size = 0;
		if ((rc = mdb_put(b->txn, l->msgs, &k, &v, 0)) != 0)
			return (rc);
	}
	if (it->env != NULL) {
		crypto_hash_sha256(eh, it->env, it->envlen);
		k.mv_data = eh;
		k.mv_size = 32;
		v.mv_data = it->env;
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
			return (lmdb_err(rc));
		if (info.me_mapsize >= MAP_MAX)
			return (FERRY_ENOSPC);
		newsize = info.me_mapsize * 2;
		if ((rc = mdb_env_set_mapsize(l->env, newsize)) != 0)
			return (FERRY_ENOSPC);
		l->grows++;
		if ((rc = mdb_txn_begin(l->env, NULL, 0, &b->txn)) != 0) {
			b->txn = NULL;
			return (lmdb_err(rc));
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
			return (lmdb_err(rc));
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
	return (lmdb_err(rc));
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
	rc = mdb_txn_begin(l->env, NULL, 0, &b->txn);
	if (rc == MDB_MAP_RESIZED) {
		if ((rc = mdb_env_set_mapsize(l->env, 0)) == 0)
			rc = mdb_txn_begin(l->env, NULL, 0, &b->txn);
	}
	if (rc != 0) {
		free(b);
		return (lmdb_err(rc));
	}
	b->l = l;
	b->size = l->size;
	l->batch = b;
	*out = b;
	return (0);
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
static int
msg_lookup(struct log *l, MDB_txn *txn, const uint8_t *msg_id, uint32_t kind,
    uint64_t *index)
{
	uint8_t mk[FERRY_MSGID_LEN + 12];
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t best = UINT64_MAX, idx;
	uint32_t kk;
	int rc;

	memset(mk, 0, sizeof(mk));
	memcpy(mk, msg_id, FERRY_MSGID_LEN);
	if (kind != 0) {
		mk[16] = (uint8_t)(kind >> 24);
		mk[17] = (uint8_t)(kind >> 16);
		mk[18] = (uint8_t)(kind >> 8);
		mk[19] = (uint8_t)kind;
	}
	if ((rc = mdb_cursor_open(txn, l->msgs, &c)) != 0)
		return (lmdb_err(rc));
	k.mv_data = mk;
	k.mv_size = sizeof(mk);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (k.mv_size != sizeof(mk) ||
		    memcmp(k.mv_data, msg_id, FERRY_MSGID_LEN) != 0)
			break;
		kk = (uint32_t)(getbe64((const uint8_t *)k.mv_data + 12) &
		    0xffffffffu);
		idx = getbe64((const uint8_t *)k.mv_data + 20);
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
		return (lmdb_err(rc));
	if (best == UINT64_MAX)
		return (0);
	if (index != NULL)
		*index = best;
	return (1);
}

/** log_add(b, e, env, env_len, index_out): add an entry to the batch. */
int
log_add(struct log_batch *b, const struct log_entry *e, const uint8_t *env,
    size_t env_len, uint64_t *index_out)
{
	struct log_entry c;
	struct item *it;
	uint8_t eh[32];
	int rc;

	if (b->dead)
		return (FERRY_EINVAL);
	if (e == NULL || (env == NULL && env_len != 0) || env_len > LOG_ENV_MAX)
		return (FERRY_EINVAL);
	c = *e;
	if (c.time_ms == 0)
		c.time_ms = ferry_now_ms();
	if (env != NULL) {
		crypto_hash_sha256(eh, env, env_len);
		if (allzero(c.env_hash, 32))
			memcpy(c.env_hash, eh, 32);
		else if (memcmp(c.env_hash, eh, 32) != 0)
			return (FERRY_EINVAL);
	}
	if (kind_unique(c.kind) && !allzero(c.msg_id, FERRY_MSGID_LEN)) {
		if ((rc = msg_lookup(b->l, b->txn, c.msg_id, c.kind, NULL)) < 0)
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
	if (env != NULL) {
		if ((it->env = malloc(env_len ? env_len : 1)) == NULL) {
			rc = FERRY_ENOMEM;
			goto dead;
		}
		memcpy(it->env, env, env_len);
		it->envlen = env_len;
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

/** log_batch_txn(b): the batch's write transaction (reads only). */
MDB_txn *
log_batch_txn(struct log_batch *b)
{

	return (b->txn);
}

/* Record and apply a caller put (${val} != NULL) or delete. */
static int
batch_write(struct log_batch *b, MDB_dbi dbi, const void *key, size_t klen,
    const void *val, size_t vlen, unsigned flags)
{
	struct item *it;
	size_t i;
	int rc;

	if (b->dead)
		return (FERRY_EINVAL);
	if (key == NULL || klen == 0 || klen > 511 ||
	    (val == NULL && vlen != 0) ||
	    (flags & ~(unsigned)(MDB_NOOVERWRITE | MDB_APPEND)) != 0)
		return (FERRY_EINVAL);
	for (i = 0; i < b->l->nx; i++)
		if (b->l->xdbi[i] == dbi)
			break;
	if (i == b->l->nx)
		return (FERRY_EINVAL);	/* only the caller's own tables */
	if ((it = new_item(b)) == NULL) {
		b->dead = 1;
		return (FERRY_ENOMEM);
	}
	it->type = val != NULL ? ITEM_PUT : ITEM_DEL;
	it->dbi = dbi;
	it->flags = flags;
	if ((it->bytes = malloc(klen)) == NULL ||
	    (it->type == ITEM_PUT &&
	    (it->env = malloc(vlen ? vlen : 1)) == NULL)) {
		rc = FERRY_ENOMEM;
		goto dead;
	}
	memcpy(it->bytes, key, klen);
	it->len = klen;
	if (it->type == ITEM_PUT) {
		if (vlen > 0)
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
	return (batch_write(b, dbi, key, klen, val, vlen, flags));
}

/** log_batch_del(b, dbi, key, klen): a caller delete. */
int
log_batch_del(struct log_batch *b, MDB_dbi dbi, const void *key, size_t klen)
{

	return (batch_write(b, dbi, key, klen, NULL, 0, 0));
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
	if ((rc = merkle_root(b->size, hread, &hc, root)) != 0)
		return (rc);
	return (note_sign_checkpoint(b->l->origin, b->size, root, b->l->sk,
	    note, len));
}

/* Sign and store the checkpoint for b->size; LMDB code or FERRY code. */
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
	if ((rc = merkle_root(b->size, hread, &hc, root)) != 0) {
		*ferr = rc;
		return (0);
	}
	if ((rc = note_sign_checkpoint(l->origin, b->size, root, l->sk, &note,
	    &len)) != 0) {
		*ferr = rc;
		return (0);
	}
	if ((rc = meta_put(l, b->txn, "checkpoint", note, len)) != 0)
		goto out;
	if (archive) {
		be64(kb, b->size);
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
 * gives) as EIO: if the log's filesystem has (almost) no space left, say
 * FERRY_ENOSPC so callers refuse new work and retry instead of stopping.
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
	return (lmdb_err(rc));
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
		log_abort(b);
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

/*
 * Reads.  Every public read runs in its own read snapshot of committed
 * state, opened by snap() (refused while this handle's batch is open:
 * its thread must not open a read transaction, PITFALLS LMDB 4).
 */
static int
snap(struct log *l, MDB_txn **txn)
{

	if (l->batch != NULL)
		return (FERRY_EINVAL);
	return (rtxn(l, txn));
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

	if (txn != NULL)
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
		rc = lmdb_err(rc);
	else if ((*buf = malloc(v.mv_size ? v.mv_size : 1)) == NULL)
		rc = FERRY_ENOMEM;
	else {
		memcpy(*buf, v.mv_data, v.mv_size);
		*len = v.mv_size;
	}
	mdb_txn_abort(txn);
	return (rc);
}

/* Fetch the raw bytes of entry ${index} in ${txn} (borrowed). */
static int
raw_get(struct log *l, MDB_txn *txn, uint64_t index, MDB_val *v)
{
	uint8_t kb[8];
	MDB_val k;
	int rc;

	be64(kb, index);
	k.mv_data = kb;
	k.mv_size = 8;
	if ((rc = mdb_get(txn, l->entries, &k, v)) != 0)
		return (lmdb_err(rc));
	return (0);
}

/** log_get_raw(l, index, buf, len): the stored bytes of entry ${index}. */
int
log_get_raw(struct log *l, uint64_t index, uint8_t **buf, size_t *len)
{
	uint8_t kb[8];

	be64(kb, index);
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
	rc = msg_lookup(l, txn, msg_id, kind, index);
	mdb_txn_abort(txn);
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
	memcpy(mk, msg_id, FERRY_MSGID_LEN);
	mk[16] = (uint8_t)(kind >> 24);
	mk[17] = (uint8_t)(kind >> 16);
	mk[18] = (uint8_t)(kind >> 8);
	mk[19] = (uint8_t)kind;
	memset(mk + 20, 0xff, 8);
	if ((rc = mdb_cursor_open(txn, l->msgs, &c)) != 0) {
		mdb_txn_abort(txn);
		return (lmdb_err(rc));
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
		*index = getbe64((const uint8_t *)k.mv_data + 20);
		found = 1;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return (lmdb_err(rc));
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
	if ((rc = count_entries(l, txn, &have)) != 0)
		goto out;
	if (size > have) {
		rc = toobig;
		goto out;
	}
	switch (op) {
	case TREE_ROOT:
		rc = merkle_root(size, hread, &hc, hash);
		break;
	case TREE_LEAF:
		rc = hread(&hc, merkle_stored_index(0, arg), hash);
		break;
	case TREE_INCLUSION:
		rc = merkle_prove_inclusion(arg, size, hread, &hc, proof, n);
		break;
	default:
		rc = merkle_prove_consistency(arg, size, hread, &hc, proof, n);
		break;
	}
out:
	mdb_txn_abort(txn);
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
		mdb_txn_abort(txn);
		return (lmdb_err(rc));
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			rc = FERRY_ELOGCORRUPT;
			goto out;
		}
		last = getbe64(k.mv_data);
		have = 1;
		if ((rc = fn(ctx, last, v.mv_data, v.mv_size)) != 0)
			goto out;
	}
	if (rc != MDB_NOTFOUND) {
		rc = lmdb_err(rc);
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
		rc = lmdb_err(rc);
		goto out;
	}
	/* The size named inside the note; a bad note is the caller's finding. */
	if (note_parse_checkpoint(v.mv_data, v.mv_size, &cp) != 0)
		rc = fn(ctx, UINT64_MAX, v.mv_data, v.mv_size);
	else if (!have || cp.size > last)
		rc = fn(ctx, cp.size, v.mv_data, v.mv_size);
out:
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return (rc);
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
		rc = lmdb_err(rc);
		goto err;
	}
	k.mv_data = mk;
	k.mv_size = sizeof(mk);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != sizeof(mk) ||
		    memcmp(k.mv_data, msg_id, FERRY_MSGID_LEN) != 0)
			break;
		idx = getbe64((const uint8_t *)k.mv_data + 20);
		if (idx < first)
			first = idx;
		if (raw_get(l, b->txn, idx, &v) != 0 ||
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
		rc = lmdb_err(rc);
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
		return (lmdb_err(rc));
	}
	return (0);
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
		mdb_txn_abort(txn);
		return (lmdb_err(rc));
	}
	be64(kb, from);
	k.mv_data = kb;
	k.mv_size = 8;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		idx = k.mv_size == 8 ? getbe64(k.mv_data) : UINT64_MAX;
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
	rc = (rc == MDB_NOTFOUND) ? 0 : lmdb_err(rc);
out:
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
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
		rc = lmdb_err(rc);
		goto out;
	}
	hrc = mdb_cursor_get(ch, &hk, &hv, MDB_FIRST);
	for (rc = mdb_cursor_get(ce, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(ce, &k, &v, MDB_NEXT), i++) {
		if (k.mv_size != 8 || getbe64(k.mv_data) != i ||
		    log_entry_decode(v.mv_data, v.mv_size, &e) != 0)
			goto corrupt;
		merkle_leaf_hash(v.mv_data, v.mv_size, leaf);
		/* Earlier stored hashes were all checked: read them. */
		if ((rc = merkle_append(i, leaf, hread, &hc, add, &c)) != 0)
			goto corrupt;
		base = merkle_stored_count(i);
		for (j = 0; j < c; j++) {
			if (hrc != 0 || hk.mv_size != 8 ||
			    getbe64(hk.mv_data) != base + j ||
			    hv.mv_size != 32 ||
			    memcmp(hv.mv_data, add[j], 32) != 0)
				goto corrupt;
			hrc = mdb_cursor_get(ch, &hk, &hv, MDB_NEXT);
		}
	}
	if (rc != MDB_NOTFOUND) {
		rc = lmdb_err(rc);
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
	if ((rc = merkle_root(cp.size, hread, &hc, root)) != 0 ||
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
	mdb_txn_abort(txn);
	return (rc);
}

/** log_kind_unique(kind): is (msg_id, ${kind}) unique in a log? */
int
log_kind_unique(uint32_t kind)
{

	return (kind_unique(kind));
}
