/*
 * log.h: each party's append-only log (DESIGN.md "The log",
 * docs/protocol.md "The log").
 *
 * One LMDB environment per party, in its own folder.  The party may keep
 * its own tables (the relay's queue, the agent's store) in the same
 * environment, opened by log_open_ex, and write them in the same
 * transaction as its log entries (log_batch_put / log_batch_del): one
 * synced commit then makes log and state durable together, atomically.
 * Entries are numbered from 0 and never rewritten; each entry is a small canonical msgpack map of
 * ids, hashes, times and codes (never personal data) and is a leaf of an
 * RFC 6962 Merkle tree whose hashes are stored densely in append order.
 * Every commit signs one C2SP checkpoint (origin, size, root) with the
 * party's Ed25519 key.  Envelope bytes may be stored beside an entry, keyed
 * by their SHA-256, so an auditor can re-verify signatures later and erasure
 * can destroy them while every proof stays valid.
 *
 * Threads: a process opens a log once and uses it from one thread at a time
 * (the handle is not locked).  Other processes may open the same log
 * read-only (ferry-audit) while a writer runs.
 *
 * Every function returns 0 (or a count) on success, or a negative FERRY_E*
 * code: FERRY_ENOMEM, FERRY_EINVAL, FERRY_ENOENT, FERRY_ELMDB (errno-free
 * LMDB failure), FERRY_EIO (disk I/O error), FERRY_ENOSPC (disk full or map
 * could not grow: nothing of the failed call was written),
 * FERRY_ELOGCORRUPT (stored bytes do not decode or do not match).
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "ferry.h"

/* Entry kinds.  Numbers are stored in logs: they never change meaning. */
enum log_kind {
	LOG_SENT = 1,		/* agent sealed and queued a message (msg_id, env_hash, from, to) */
	LOG_ACCEPTED = 2,	/* relay took custody / agent got ACCEPTED (aux: the custody receipt) */
	LOG_RECEIVED = 3,	/* recipient stored a message (msg_id, env_hash, from, to) */
	LOG_RECEIPT = 4,	/* delivery receipt issued or received (aux: the receipt; ref_index: recipient's log index) */
	LOG_DELIVERED = 5,	/* relay forwarded the receipt: message done */
	LOG_NACK = 6,		/* NACK sent or received (code) */
	LOG_REFUSED = 7,	/* bad input refused (code; env_hash of the bytes if any) */
	LOG_ROSTER = 8,		/* roster version adopted (roster_version; env_hash = SHA-256 of roster bytes) */
	LOG_ERASURE = 9,	/* content destroyed (msg_id; ref_index = erased entry; code = reason; from = authoriser) */
	LOG_CHECKPOINT = 10,	/* another party's signed checkpoint held (aux: the note; from: its party) */
	LOG_EXPIRED = 11,	/* message expired undelivered (msg_id) */
	LOG_ROUTE = 12		/* sender chose a relay for a message (msg_id, env_hash, from = sender, to = relay id; code = LOG_ROUTE_* reason) */
};
#define LOG_KIND_MAX 12

/* Routing reasons, stored in log_entry.code of a LOG_ROUTE entry. */
#define LOG_ROUTE_FIRST 0	/* first choice (relay_choice) */
#define LOG_ROUTE_NO_ACCEPT 1	/* no ACCEPTED within failover_after */
#define LOG_ROUTE_LINK_LOST 2	/* link to the previous relay lost before ACCEPTED */
#define LOG_ROUTE_RESEND 3	/* no RECEIPT, custody relay unreachable for resend_after */
#define LOG_ROUTE_NOT_HELD 4	/* custody relay answered NACK FERRY_ENOTHELD */
#define LOG_ROUTE_NO_RECEIPT 5	/* custody relay connected, no RECEIPT for resend_no_receipt_after */
#define LOG_ROUTE_MAX LOG_ROUTE_NO_RECEIPT

/* Erasure reasons, stored in log_entry.code of a LOG_ERASURE entry. */
#define LOG_ERASE_RETENTION 1	/* retention period ended (authoriser: this party) */
#define LOG_ERASE_REQUEST 2	/* data-protection request (authoriser: sender or recipient of the message) */

/* Limits. */
#define LOG_AUX_MAX 4096		/* bytes of aux per entry */
#define LOG_ENV_MAX (64u * 1024 * 1024)	/* bytes of one stored envelope */
#define LOG_PROOF_MAX 64		/* hashes in any proof */
#define LOG_ORIGIN_MAX 128		/* bytes of an origin / key name */
#define LOG_DBS_MAX 16			/* caller tables per log (log_opts) */

/*
 * One entry.  Zero / empty fields are simply absent from the encoding and
 * read back as zero / empty.  ${code} is 0 or a negative FERRY_E* code,
 * except for LOG_ERASURE (a LOG_ERASE_* reason) and LOG_ROUTE (a
 * LOG_ROUTE_* reason), where it is positive.
 * ${from} and ${to} are agency ids ("" when not applicable).
 * ${aux}: optional opaque bytes (a receipt, a checkpoint note), at most
 * LOG_AUX_MAX; borrowed on input; on output from log_get it points into
 * memory owned by the entry, released by log_entry_clear().
 */
struct log_entry {
	uint32_t kind;			/* enum log_kind */
	uint64_t time_ms;		/* ms since epoch; 0 on input = now */
	uint8_t msg_id[FERRY_MSGID_LEN];	/* all-zero = none */
	uint8_t env_hash[FERRY_HASH_LEN];	/* SHA-256 of envelope / roster bytes; all-zero = none */
	char from[FERRY_ID_MAX + 1];
	char to[FERRY_ID_MAX + 1];
	uint64_t ref_index;		/* index in some log (see kinds) */
	int32_t code;
	uint64_t roster_version;	/* roster version in force */
	const uint8_t *aux;
	size_t aux_len;
};

struct log;
struct log_batch;

/**
 * log_open(dir, origin, sign_sk, out): log_open_ex with no options: open
 * (creating if needed, mode 0700
 * folder / 0600 files) the log in folder ${dir}.  ${origin} names the log
 * (e.g. "ferry/met-police"); it is the checkpoint origin line and the note
 * key name.  A new log stores ${origin} and the public half of ${sign_sk};
 * an existing one must match both (FERRY_EINVAL otherwise).  ${sign_sk} is
 * the 64-byte libsodium Ed25519 secret key; it is copied into locked
 * memory.  With ${sign_sk} NULL the log is opened read-only (no appends;
 * ${origin} may then be NULL to accept the stored one).  Clears stale
 * LMDB readers.  On success *${out} is a handle for log_close().
 */
int log_open(const char *dir, const char *origin, const uint8_t *sign_sk,
    struct log **out);

/*
 * Options of log_open_ex.  ${dbs}: names of ${ndbs} (at most LOG_DBS_MAX)
 * tables of the caller's own, kept in the log's LMDB environment and
 * opened (created when writable) at open time; a name may not be one of
 * the log's own ("entries", "hashes", "msgs", "envs", "ckpts", "meta"):
 * prefix them ("q.msgs").  ${map_size}: initial LMDB map size in bytes
 * (0: the log_set_initial_mapsize default); a full map still grows.
 */
struct log_opts {
	const char *const *dbs;
	size_t ndbs;
	size_t map_size;
};

/**
 * log_open_ex(dir, origin, sign_sk, opts, out): log_open, also opening
 * the caller tables and map size of ${opts} (may be NULL).  FERRY_EINVAL
 * for a bad or reserved table name; FERRY_ENOENT when a read-only open
 * names a table that does not exist.
 */
int log_open_ex(const char *dir, const char *origin, const uint8_t *sign_sk,
    const struct log_opts *opts, struct log **out);

/**
 * log_dbi(l, name, dbi): the LMDB handle of caller table ${name} (one of
 * log_open_ex's ${opts}->dbs) into *${dbi}, for log_batch_put/del and for
 * reads in a log_read_begin or log_batch_txn transaction.  FERRY_ENOENT
 * if ${l} was not opened with that table.
 */
int log_dbi(struct log *l, const char *name, MDB_dbi *dbi);

/** log_close(l): close ${l}; no-op for NULL.  Aborts an open batch. */
void log_close(struct log *l);

/** log_origin(l): the origin string of ${l}; owned by ${l}. */
const char *log_origin(const struct log *l);

/** log_pubkey(l, pk): the Ed25519 public key stored in ${l} into ${pk}. */
int log_pubkey(struct log *l, uint8_t pk[32]);

/**
 * log_size(l): number of committed entries in ${l}.  On a read-only
 * handle this reads the current size (another process may be appending),
 * so it must not be called from inside a log_foreach or
 * log_checkpoint_foreach callback.
 */
uint64_t log_size(const struct log *l);

/**
 * log_begin(l, out): start a batch (one LMDB write transaction) on ${l}.
 * Only one batch may be open per log (FERRY_EINVAL otherwise).  No read
 * function of this header may be called on ${l} while it is open, except
 * log_size (which shows committed entries only).
 */
int log_begin(struct log *l, struct log_batch **out);

/**
 * log_add(b, e, env, env_len, index_out): add entry ${e} to batch ${b};
 * sets *${index_out} (may be NULL) to the index it will have once
 * committed.  If ${env} is not NULL, the ${env_len} envelope bytes are
 * stored keyed by their SHA-256, and ${e}->env_hash must be that hash or
 * all zero (then it is filled in).  ${e} and ${env} are copied.  Refuses
 * with FERRY_EDUPMSG a second entry with the same msg_id and kind for kinds
 * SENT, ACCEPTED, RECEIVED, RECEIPT, DELIVERED, ERASURE and EXPIRED
 * (committed or earlier in the batch): a receiver de-duplicates with it.
 * ACCEPTED is unique per (msg_id, relay) instead: a further one is added
 * if its from (the relay that signed the custody receipt) signed none
 * before and a LOG_ROUTE of the message names it (the message was resent
 * through it, issue 12); else FERRY_EDUPMSG too.
 * FERRY_EINVAL for a bad kind, id or size.  After any error other than
 * FERRY_EDUPMSG / FERRY_EINVAL the batch is dead: only log_abort remains.
 */
int log_add(struct log_batch *b, const struct log_entry *e,
    const uint8_t *env, size_t env_len, uint64_t *index_out);

/**
 * log_add_hashed(b, e, env, env_len, index_out): log_add of an envelope
 * whose SHA-256 the caller has just computed (env_hash) into
 * ${e}->env_hash, which must not be all zero (FERRY_EINVAL): the log
 * takes it as the hash instead of hashing the envelope a second time
 * (one SHA-256 pass per envelope per process).  A wrong hash is not
 * seen: pass only the hash of these very bytes.  And ${env} is borrowed,
 * not copied: it must stay as it is until log_commit or log_abort of
 * ${b} has returned (a full map redoes the batch from it).
 */
int log_add_hashed(struct log_batch *b, const struct log_entry *e,
    const uint8_t *env, size_t env_len, uint64_t *index_out);

/**
 * log_commit(b): write the batch's entries and hashes, sign one checkpoint
 * for the new size (none when the batch added no entry, only caller
 * writes), commit with a synced LMDB commit, and free ${b}.  Only
 * when this returns 0 are the entries logged; on any error nothing of the
 * batch is logged (FERRY_ENOSPC for a full disk or a map that could not
 * grow, FERRY_EIO, FERRY_ELMDB).  A full map is grown and the batch
 * (entries and caller writes) redone transparently.  ${b} is freed in
 * every case.
 */
int log_commit(struct log_batch *b);

/** log_abort(b): discard batch ${b}; nothing of it is logged.  NULL ok. */

/*
 * Caller tables in a batch.  A batch may hold, besides log entries, writes
 * to the caller's own tables (log_open_ex); log_commit makes them durable
 * in the same synced commit as the entries, or none of them.  All writes
 * go through log_batch_put / log_batch_del, which record a copy: when the
 * map fills (MDB_MAP_FULL, in any call of the batch) the log aborts the
 * transaction, grows the map and redoes every entry and every caller
 * write of the batch in order, transparently, so the caller never redoes
 * anything.  Hence: never write with mdb_* calls on log_batch_txn (a
 * write the batch did not record is lost on a redo), and treat the
 * transaction, cursors on it and MDB_vals read from it as invalid after
 * any later log_add / log_batch_put / log_batch_del / log_commit call.
 */

/**
 * log_batch_txn(b): the write transaction of batch ${b}, for reads of the
 * caller's tables (and the log's) that see the batch's own writes.
 * Borrowed: valid until the next call that writes to ${b} (see above).
 */
MDB_txn *log_batch_txn(struct log_batch *b);

/**
 * log_batch_put(b, dbi, key, klen, val, vlen, flags): put ${key} ->
 * ${val} into caller table ${dbi} within batch ${b} (both copied).
 * ${flags}: 0, MDB_NOOVERWRITE (an existing key gives FERRY_EEXIST) or
 * MDB_APPEND (keys must increase; else FERRY_EEXIST).  FERRY_EEXIST and
 * FERRY_EINVAL leave the batch usable; after any other error the batch is
 * dead (only log_abort remains).
 */
int log_batch_put(struct log_batch *b, MDB_dbi dbi, const void *key,
    size_t klen, const void *val, size_t vlen, unsigned flags);

/**
 * log_batch_put_own(b, dbi, key, klen, val, vlen, flags): log_batch_put
 * of a value the caller malloc'd, which the batch keeps as its record
 * instead of copying it (a big value written once: no second copy); it
 * is the batch's whatever the result (freed with the batch).
 */
int log_batch_put_own(struct log_batch *b, MDB_dbi dbi, const void *key,
    size_t klen, void *val, size_t vlen, unsigned flags);

/**
 * log_batch_del(b, dbi, key, klen): delete ${key} from caller table
 * ${dbi} within batch ${b}.  FERRY_ENOENT (batch usable) if absent.
 */
int log_batch_del(struct log_batch *b, MDB_dbi dbi, const void *key,
    size_t klen);

/**
 * log_batch_checkpoint(b, note, len): sign a checkpoint for the entries
 * committed plus those added to ${b} so far, into a new buffer *${note}
 * (free()).  That tree exists only once ${b} commits: release the note
 * only after log_commit returned 0.  (A receiver names it in a receipt
 * stored in the same batch.)  FERRY_EINVAL on an empty log or dead batch.
 */
int log_batch_checkpoint(struct log_batch *b, uint8_t **note, size_t *len);

/**
 * log_batch_seal(b, note, len): the one checkpoint of batch ${b}, signed
 * now for every entry added so far, into a new buffer *${note} (free());
 * log_commit then stores this note instead of signing another, and no
 * further entry may be added (log_add: FERRY_EINVAL; caller writes still
 * may).  So a receiver can put receipts proven under the commit's own
 * checkpoint into the same commit (caller tables), with one signature.
 * Release the note only after log_commit returned 0.  FERRY_EINVAL on an
 * empty log, a dead or an already sealed batch.
 */
int log_batch_seal(struct log_batch *b, uint8_t **note, size_t *len);

/**
 * log_batch_prove(b, index, raw, rawlen, proof, n): the exact bytes of
 * entry ${index} (committed or added to ${b}) in a new buffer *${raw}
 * (free()) and its RFC 6962 audit path in the tree of every entry of
 * ${b} so far (the sealed checkpoint's), *${n} hashes into ${proof}
 * (room for LOG_PROOF_MAX).  FERRY_EINVAL unless index < that size.
 */
int log_batch_prove(struct log_batch *b, uint64_t index, uint8_t **raw,
    size_t *rawlen, uint8_t proof[][FERRY_HASH_LEN], size_t *n);

/**
 * log_hold(l, on): while on, every read of ${l} (log_read_begin and the
 * log_* reads) shares one read snapshot, begun at the first read and
 * ended by log_hold(l, 0), by log_begin (so reads after a batch see it)
 * and by log_close; log_read_end leaves it open.  For a process that is
 * the log's only writer, around one turn of its work: a relay checking a
 * batch of messages and answering it opens a snapshot per phase, not
 * several per message.  A transaction from log_read_begin must not be
 * used after the hold ends.
 */
void log_hold(struct log *l, int on);

/** log_read_txns(l): read snapshots begun on ${l} since open (a count for
 * tests and benchmarks). */
uint64_t log_read_txns(const struct log *l);

/**
 * log_read_begin(l, txn): a read-only snapshot of ${l}'s environment
 * (committed state only) in *${txn}, for reads of the caller's tables;
 * end it with log_read_end.  Several may be open at once in one thread
 * (the environment is opened MDB_NOTLS).  FERRY_EINVAL while a batch is
 * open on ${l}: its thread must not open a read transaction.
 */
int log_read_begin(struct log *l, MDB_txn **txn);

/** log_read_end(txn): end a log_read_begin snapshot; NULL ok. */
void log_read_end(MDB_txn *txn);

/**
 * log_map_grows(l): how many times ${l} grew its map (full map) since it
 * was opened; for the caller's log lines and tests.
 */
uint64_t log_map_grows(const struct log *l);

/**
 * log_set_hook(l, begin, committed, ctx): writes that ride on the
 * caller's next commit.  log_begin calls ${begin}(ctx, b) on every new
 * batch, before the caller adds anything (so what it adds comes first in
 * the batch and in the log); a non-zero return aborts the batch and is
 * log_begin's result.  log_commit calls ${committed}(ctx) once that batch
 * committed (not when it failed or was aborted: ${begin} adds the same
 * again to the next batch).  ${begin} may call log_add and
 * log_batch_put / log_batch_del on ${b}, never log_begin or log_commit.
 * NULL functions: no hook (the default).
 */
void log_set_hook(struct log *l, int (*begin)(void *ctx, struct log_batch *b),
    void (*committed)(void *ctx), void *ctx);

/**
 * log_commits(l): how many batches ${l} committed (each one synced LMDB
 * commit) since it was opened; what group-commit tests and the daemons'
 * status count (a batch with nothing to write commits nothing).
 */
uint64_t log_commits(const struct log *l);
void log_abort(struct log_batch *b);

/**
 * log_append(l, e, env, env_len, index_out): log_begin + log_add +
 * log_commit for one entry.
 */
int log_append(struct log *l, const struct log_entry *e, const uint8_t *env,
    size_t env_len, uint64_t *index_out);

/**
 * log_get(l, index, e): decode committed entry ${index} into ${e}
 * (FERRY_ENOENT past the end).  Aux bytes are copied into memory owned by
 * ${e}; call log_entry_clear(${e}) afterwards.
 */
int log_get(struct log *l, uint64_t index, struct log_entry *e);

/** log_entry_clear(e): free memory log_get attached to ${e}; zero it. */
void log_entry_clear(struct log_entry *e);

/**
 * log_get_raw(l, index, buf, len): the exact stored bytes of entry
 * ${index} (the Merkle leaf data) in a new buffer *${buf} (free()).
 */
int log_get_raw(struct log *l, uint64_t index, uint8_t **buf, size_t *len);

/**
 * log_find_msg(l, msg_id, kind, index): the lowest index of a committed
 * entry with ${msg_id} and ${kind} into *${index}, or FERRY_ENOENT.
 * ${kind} 0 matches any kind.
 */
int log_find_msg(struct log *l, const uint8_t msg_id[FERRY_MSGID_LEN],
    uint32_t kind, uint64_t *index);

/**
 * log_find_msg_last(l, msg_id, kind, index): the highest index of a
 * committed entry with ${msg_id} and ${kind} (not 0) into *${index}, or
 * FERRY_ENOENT: the latest of a kind a message may have several of
 * (LOG_ROUTE; LOG_ACCEPTED: the current custodian).
 */
int log_find_msg_last(struct log *l, const uint8_t msg_id[FERRY_MSGID_LEN],
    uint32_t kind, uint64_t *index);

/**
 * log_get_envelope(l, env_hash, buf, len): the stored envelope whose
 * SHA-256 is ${env_hash} into a new buffer *${buf} (free()); FERRY_ENOENT
 * if never stored or erased.
 */
int log_get_envelope(struct log *l, const uint8_t env_hash[FERRY_HASH_LEN],
    uint8_t **buf, size_t *len);

/**
 * log_root(l, size, root): the RFC 6962 root of the first ${size} entries
 * (size <= log_size; size 0 gives SHA-256 of nothing).
 */
int log_root(struct log *l, uint64_t size, uint8_t root[FERRY_HASH_LEN]);

/**
 * log_leaf_hash(l, index, hash): the stored leaf hash of entry ${index}.
 */
int log_leaf_hash(struct log *l, uint64_t index, uint8_t hash[FERRY_HASH_LEN]);

/**
 * log_prove_inclusion(l, index, size, proof, n): the RFC 6962 audit path
 * for leaf ${index} in the tree of ${size} entries; *${n} hashes written to
 * ${proof} (room for LOG_PROOF_MAX).  Verify with merkle_verify_inclusion.
 */
int log_prove_inclusion(struct log *l, uint64_t index, uint64_t size,
    uint8_t proof[][FERRY_HASH_LEN], size_t *n);

/**
 * log_prove_consistency(l, m, size, proof, n): the RFC 6962 consistency
 * proof between the trees of ${m} and ${size} entries (0 < m <= size).
 */
int log_prove_consistency(struct log *l, uint64_t m, uint64_t size,
    uint8_t proof[][FERRY_HASH_LEN], size_t *n);

/**
 * log_checkpoint(l, note, len): the latest signed checkpoint (C2SP signed
 * note, see note.h) into a new buffer *${note} (free()).  A log with no
 * commit yet: FERRY_ENOENT.  Signed once per commit.
 */
int log_checkpoint(struct log *l, uint8_t **note, size_t *len);

/**
 * log_checkpoint_foreach(l, fn, ctx): call ${fn}(ctx, size, note, len) for
 * every archived checkpoint in increasing size (at least one per 100 ms of
 * activity, plus the latest).  ${note} is valid during the call only.  A
 * non-zero return from ${fn} stops the walk and is returned.
 */
int log_checkpoint_foreach(struct log *l,
    int (*fn)(void *, uint64_t, const uint8_t *, size_t), void *ctx);

/**
 * log_erase(l, msg_id, reason, authoriser, roster_version, index_out):
 * crypto-shredding.  Delete the stored envelopes of every entry carrying
 * ${msg_id} and append a LOG_ERASURE entry (code = ${reason}, from =
 * ${authoriser}, ref_index = the first entry with ${msg_id}), in one
 * synced commit.  The tree and all proofs stay valid.  FERRY_ENOENT if no
 * entry has ${msg_id}; FERRY_EDUPMSG if already erased.  The caller
 * destroys its own copies of content keys.  LMDB keeps freed pages: use
 * log_compact afterwards to drop the bytes from disk.
 */
int log_erase(struct log *l, const uint8_t msg_id[FERRY_MSGID_LEN],
    int reason, const char *authoriser, uint64_t roster_version,
    uint64_t *index_out);

/**
 * log_erase_batch(b, msg_id, reason, authoriser, roster_version,
 * index_out): log_erase inside the caller's batch ${b}, so that the
 * caller's own tables (its copies of content keys) change in the same
 * commit.  On an error the caller aborts ${b}.
 */
int log_erase_batch(struct log_batch *b,
    const uint8_t msg_id[FERRY_MSGID_LEN], int reason,
    const char *authoriser, uint64_t roster_version, uint64_t *index_out);

/**
 * log_compact(l, path): write a compacted copy of ${l}'s environment to
 * the new file ${path} (mdb_env_copy2 with MDB_CP_COMPACT), mode 0600.
 */
int log_compact(struct log *l, const char *path);

/**
 * log_check(l, bad_index): recompute every leaf and stored hash from the
 * stored entries and compare with the stored hashes, check every entry
 * decodes canonically and the latest checkpoint's root.  Returns 0, or
 * FERRY_ELOGCORRUPT with *${bad_index} the first entry whose bytes or
 * hashes do not match (or the log's size when hashes continue past the
 * last entry), or FERRY_EINCONSISTENT when the latest checkpoint names a
 * size or root the entries do not have, or covers fewer entries than the
 * log holds (*${bad_index}: the first it does not cover; every commit
 * signs its whole tree).  Does not check signatures (see
 * ferry-audit).  One read snapshot; safe while another process appends.
 */
int log_check(struct log *l, uint64_t *bad_index);

/**
 * log_foreach(l, from, fn, ctx): call ${fn}(ctx, index, e, raw, rawlen) for
 * every committed entry from index ${from} on, in order, inside one read
 * snapshot.  ${e} (its aux too) and ${raw} (the stored bytes) are valid
 * during the call only.  An entry that does not decode stops the walk with
 * FERRY_ELOGCORRUPT and its index in *${bad_index} (may be NULL).  A
 * non-zero return from ${fn} stops the walk and is returned.
 */
int log_foreach(struct log *l, uint64_t from,
    int (*fn)(void *, uint64_t, const struct log_entry *, const uint8_t *,
    size_t), void *ctx, uint64_t *bad_index);

/**
 * log_set_initial_mapsize(bytes): LMDB map size for logs created or opened
 * after this call (default 1 GiB; the file is sparse and grows on demand,
 * and a full map is grown automatically).  For tests of map growth.
 */
void log_set_initial_mapsize(size_t bytes);

/**
 * log_entry_encode(e, out, len): the canonical msgpack bytes of ${e} in a
 * new buffer *${out} (free()).
 */
int log_entry_encode(const struct log_entry *e, uint8_t **out, size_t *len);

/**
 * log_entry_decode(buf, len, e): strict decode of entry bytes; aux points
 * into ${buf} (do not call log_entry_clear).
 */
int log_entry_decode(const uint8_t *buf, size_t len, struct log_entry *e);

/** log_kind_name(kind): "SENT", "ACCEPTED", ...; "?" if unknown. */
const char *log_kind_name(uint32_t kind);

/**
 * log_kind_unique(kind): 1 if a log holds at most one entry of ${kind}
 * per message id (SENT, ACCEPTED, RECEIVED, RECEIPT, DELIVERED, ERASURE,
 * EXPIRED; log_append refuses a second with FERRY_EDUPMSG), else 0.
 * ACCEPTED: at most one per message id and relay (see log_add).
 */
int log_kind_unique(uint32_t kind);

#endif
