/*
 * log_int.h: what the files of the log share (log.c: open, close, held
 * snapshots, compaction; log_batch.c: batches, commits, checkpoints,
 * erasure; log_entry.c: the entry codec; log_read.c: reads, proofs,
 * checkpoints, walks).  Not for other files:
 * log.h is the interface.
 */
#ifndef FERRY_LOG_INT_H
#define FERRY_LOG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "bytes.h"
#include "log.h"

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
	/* log_set_hook: run by log_begin on each new batch, and by
	 * log_commit after a batch committed. */
	int (*hook_begin)(void *ctx, struct log_batch *b);
	void (*hook_committed)(void *ctx);
	void *hook_ctx;
	int hold;		/* log_hold: reads share held */
	MDB_txn *held;		/* the shared read snapshot, or NULL */
	uint64_t rtxns;		/* read snapshots begun since open */
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
	uint8_t *env;		/* ENTRY: envelope (a copy) or NULL; PUT: value */
	const uint8_t *envp;	/* ENTRY: the envelope written: env, or the
				 * caller's (log_add_hashed borrows it) */
	size_t envlen;
	uint8_t env_hash[32];	/* ENTRY with an envelope: its SHA-256, from
				 * log_add (hashed once: the envs key) */
	uint8_t msg_id[FERRY_MSGID_LEN];	/* ENTRY */
	uint32_t kind;				/* ENTRY */
	MDB_dbi dbi;				/* PUT, DEL */
	unsigned flags;				/* PUT */
};

#define LOG_PROVE_MEMO 128	/* hashes log_batch_prove keeps */

struct log_batch {
	struct log *l;
	MDB_txn *txn;
	uint64_t size;		/* entries including this batch */
	struct item *items;
	size_t n, cap;
	int dead;
	uint8_t *sealed;	/* log_batch_seal's note; no entry after it */
	size_t sealed_len;
	/* Stored tree hashes log_batch_prove read, by stored index + 1 (0:
	 * empty), direct-mapped: the receipts of one batch share most of
	 * their audit paths.  A stored hash never changes once written (a
	 * redo after a full map writes the same), so they stay true. */
	struct {
		uint64_t at1;
		uint8_t h[32];
	} memo[LOG_PROVE_MEMO];
};

/* Hash reader over a transaction. */
struct hctx {
	MDB_txn *txn;
	MDB_dbi dbi;
};

/* An all-zero test. */
static inline int
allzero(const uint8_t *p, size_t n)
{
	size_t i;
	uint8_t acc = 0;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return (acc == 0);
}

/* The msgs index key (msg_id, kind, index): its first 20 bytes, the
 * index (bytes 20..27) zero. */
static inline void
logx_msg_key(uint8_t mk[FERRY_MSGID_LEN + 12], const uint8_t *msg_id,
    uint32_t kind)
{

	memset(mk, 0, FERRY_MSGID_LEN + 12);
	memcpy(mk, msg_id, FERRY_MSGID_LEN);
	mk[16] = (uint8_t)(kind >> 24);
	mk[17] = (uint8_t)(kind >> 16);
	mk[18] = (uint8_t)(kind >> 8);
	mk[19] = (uint8_t)kind;
}

/** logx_lmdb_err(rc): an LMDB / errno code as a FERRY_E* code. */
int logx_lmdb_err(int rc);

/** logx_rtxn(l, txn): a read-only transaction (adopting a grown map). */
int logx_rtxn(struct log *l, MDB_txn **txn);

/** logx_drop_held(l): end log_hold's snapshot, if any (hold stays on). */
void logx_drop_held(struct log *l);

/** logx_hread(ctx, index, out): stored hash ${index} (struct hctx). */
int logx_hread(void *ctx, uint64_t index, uint8_t out[32]);

/** logx_meta_put(l, txn, key, buf, len): meta value ${key} (LMDB code). */
int logx_meta_put(struct log *l, MDB_txn *txn, const char *key,
    const void *buf, size_t len);

/** logx_count_entries(l, txn, n): entries in ${txn}'s snapshot. */
int logx_count_entries(struct log *l, MDB_txn *txn, uint64_t *n);

/**
 * logx_msg_lookup(l, txn, msg_id, kind, index): is (msg_id, kind) in
 * ${txn}?  1 (its index in *${index}), 0, or an error.
 */
int logx_msg_lookup(struct log *l, MDB_txn *txn, const uint8_t *msg_id,
    uint32_t kind, uint64_t *index);

/** logx_raw_get(l, txn, index, v): entry ${index}'s bytes (borrowed). */
int logx_raw_get(struct log *l, MDB_txn *txn, uint64_t index, MDB_val *v);

/** logx_kind_unique(kind): must (msg_id, ${kind}) be unique in a log? */
int logx_kind_unique(uint32_t kind);

#endif
