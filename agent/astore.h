/*
 * astore.h: the agent's local store, kept as tables of the agent's own in
 * its log's LMDB environment (log_open_ex with astore_dbs): the outbox (every message this
 * agency sent, its envelope, its state, and its content key sealed under
 * the local storage key), the inbox (every message received, its envelope,
 * the receipt we issued for it, and its content key sealed likewise), the
 * spool index (which spool files became which message), and the received
 * messages whose spool inbox file may not be written yet.
 *
 * Every write takes a log batch ${b} (log_begin): it commits with the
 * batch's log entries, in one synced commit (log_commit), or not at all.
 * With ${b} NULL the write is a batch of its own, committed before the
 * call returns.  Reads see committed state only and may not be called
 * while a batch of the log is open.  The store holds no personal data
 * in clear: referral content only exists encrypted (the envelope) plus a
 * content key sealed under a key only the agent's secret key file gives.
 *
 * Threads: one thread uses a store at a time.  Returns 0 or a negative
 * FERRY_E* code (FERRY_ENOENT, FERRY_ELMDB, FERRY_ENOSPC, FERRY_EIO,
 * FERRY_ENOMEM, FERRY_ELOGCORRUPT for a record that does not decode).
 */
#ifndef FERRY_ASTORE_H
#define FERRY_ASTORE_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.h"
#include "log.h"

/* A content key sealed with crypto_secretbox: nonce (24) || mac (16) || key (32). */
#define ASTORE_SEALED_LEN 72
#define ASTORE_REASON_MAX 255
#define ASTORE_NAME_MAX 255
#define ASTORE_WORD_MAX 31
#define ASTORE_REF_MAX 64		/* an erasure request's reference */
#define ASTORE_RULE_MAX 63		/* a retention rule, "referral 6y" */

/* Outgoing message states (stored: numbers never change meaning). */
enum astore_state {
	ASTORE_QUEUED = 1,	/* logged and stored; not yet in the relay's custody */
	ASTORE_ACCEPTED = 2,	/* relay's signed ACCEPTED verified */
	ASTORE_DELIVERED = 3,	/* recipient's signed RECEIPT verified */
	ASTORE_FAILED = 4	/* NACKed (code, reason) */
};

struct astore_out {
	uint8_t msg_id[FERRY_MSGID_LEN];
	char to[FERRY_ID_MAX + 1];
	uint8_t env_hash[FERRY_HASH_LEN];
	uint32_t state;			/* enum astore_state */
	uint64_t t_queued, t_accepted, t_delivered, t_failed;	/* ms, 0 = not yet */
	uint32_t code;			/* failure: positive FERRY_E* number */
	char reason[ASTORE_REASON_MAX + 1];
	uint64_t relay_index;		/* relay's log index (ACCEPTED) */
	uint64_t rcpt_index;		/* recipient's log index (RECEIPT) */
	uint64_t roster_version;	/* roster version used to seal */
	uint64_t log_index;		/* our LOG_SENT entry */
	uint8_t sealed_key[ASTORE_SEALED_LEN];
	int has_reply_to;
	uint8_t reply_to[FERRY_MSGID_LEN];
	char case_id[ASTORE_NAME_MAX + 1];
	char kind[ASTORE_WORD_MAX + 1];	/* "referral" / "response" */
	char response[ASTORE_WORD_MAX + 1];	/* response kind or "" */
	char spool_name[ASTORE_NAME_MAX + 1];	/* spool file it came from, or "" */
};

struct astore_in {
	uint8_t msg_id[FERRY_MSGID_LEN];
	char from[FERRY_ID_MAX + 1];
	uint8_t env_hash[FERRY_HASH_LEN];
	uint64_t t_received;		/* ms */
	uint64_t log_index;		/* our LOG_RECEIVED entry */
	uint8_t sealed_key[ASTORE_SEALED_LEN];
	int has_reply_to;
	uint8_t reply_to[FERRY_MSGID_LEN];
	char case_id[ASTORE_NAME_MAX + 1];
	char kind[ASTORE_WORD_MAX + 1];
	char response[ASTORE_WORD_MAX + 1];
	char referral_type[ASTORE_WORD_MAX + 1];	/* "nrm", ... or "" */
	char urgency[ASTORE_WORD_MAX + 1];	/* "emergency", ... or "" */
	uint64_t t_acked;		/* ms: marked read (ferry ack); 0 = unread */
	uint8_t *receipt;		/* the RECEIPT envelope we issued; malloc'd */
	size_t receipt_len;
};

/*
 * An erased message: when, why (LOG_ERASE_RETENTION or LOG_ERASE_REQUEST,
 * as in its LOG_ERASURE entry), the request's reference (an operator's
 * reference number, "" if none: kept here only, never in the log) and the
 * retention rule that applied ("referral 6y"; "" for a request).
 */
struct astore_erased {
	uint64_t t_erased;		/* ms */
	uint32_t reason;
	char ref[ASTORE_REF_MAX + 1];
	char rule[ASTORE_RULE_MAX + 1];
};

struct astore;

/* The store's table names in the agent log's environment (log_open_ex). */
#define ASTORE_NDBS 7
extern const char *const astore_dbs[ASTORE_NDBS];

/**
 * astore_open(l, out): the store kept in the tables astore_dbs of log
 * ${l} (opened with log_open_ex; ${l} must outlive the store).
 */
int astore_open(struct log *l, struct astore **out);
/** astore_close(s): free ${s} (the log stays open); NULL ok. */
void astore_close(struct astore *s);

/**
 * astore_put_out(s, b, rec, env, envlen, spool_key): store outgoing
 * record ${rec} with its envelope bytes (${env} NULL: none, the envelope
 * is the log's, found by rec->env_hash; the agent does so, so that
 * log_erase shreds the only copy) and, when ${spool_key} (32 bytes)
 * is not NULL, the spool index entry spool_key -> msg id, in batch ${b}.
 * FERRY_EEXIST if the message id is already stored (${b} stays usable).
 */
int astore_put_out(struct astore *s, struct log_batch *b,
    const struct astore_out *rec, const uint8_t *env, size_t envlen,
    const uint8_t *spool_key);
/** astore_update_out(s, b, rec): overwrite the stored record of rec->msg_id in batch ${b}. */
int astore_update_out(struct astore *s, struct log_batch *b,
    const struct astore_out *rec);
/** astore_get_out(s, id, rec): read the outgoing record ${id}; FERRY_ENOENT if none. */
int astore_get_out(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    struct astore_out *rec);
/**
 * astore_get_out_b(s, b, id, rec): astore_get_out read in batch ${b}'s
 * transaction (committed state; not ${b}'s own puts), for a thread with
 * ${b} open, which may not open a read snapshot; astore_get_out when ${b}
 * is NULL.
 */
int astore_get_out_b(struct astore *s, struct log_batch *b,
    const uint8_t id[FERRY_MSGID_LEN], struct astore_out *rec);
/** astore_get_out_env(s, id, buf, len): the envelope of ${id} in a new buffer (free()): the store's copy, else the log's (log_get_envelope); FERRY_ENOENT once erased. */
int astore_get_out_env(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    uint8_t **buf, size_t *len);
/**
 * astore_foreach_out(s, fn, ctx): call ${fn}(ctx, rec) for every outgoing
 * record (in message id order); ${rec} is valid during the call only.  A
 * non-zero return stops the walk and is returned.  ${fn} must not write
 * to the store.
 */
int astore_foreach_out(struct astore *s,
    int (*fn)(void *, const struct astore_out *), void *ctx);

/**
 * astore_put_in(s, b, rec, env, envlen, unspooled): store incoming record
 * ${rec} (its receipt included) with its envelope bytes (${env} NULL:
 * none, as for astore_put_out) in batch ${b};
 * with ${unspooled}, also mark it as not yet written to the spool inbox
 * (astore_spooled clears the mark).  FERRY_EEXIST if already stored.
 */
int astore_put_in(struct astore *s, struct log_batch *b,
    const struct astore_in *rec, const uint8_t *env, size_t envlen,
    int unspooled);
/** astore_spooled(s, b, id): clear the unspooled mark of ${id} in batch ${b} (none: 0). */
int astore_spooled(struct astore *s, struct log_batch *b,
    const uint8_t id[FERRY_MSGID_LEN]);
/** astore_is_unspooled(s, id): 1 if ${id} is marked unspooled, 0 if not, or an error. */
int astore_is_unspooled(struct astore *s, const uint8_t id[FERRY_MSGID_LEN]);
/**
 * astore_foreach_unspooled(s, fn, ctx): call ${fn}(ctx, id) for every
 * message marked unspooled; a non-zero return stops the walk.
 */
int astore_foreach_unspooled(struct astore *s,
    int (*fn)(void *, const uint8_t *), void *ctx);
/**
 * astore_get_in(s, id, rec): read incoming record ${id} (FERRY_ENOENT);
 * rec->receipt is malloc'd: call astore_in_clear(${rec}) afterwards.
 */
int astore_get_in(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    struct astore_in *rec);
/** astore_get_in_env(s, id, buf, len): the envelope of incoming ${id} (free()): the store's copy, else the log's; FERRY_ENOENT once erased. */
int astore_get_in_env(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    uint8_t **buf, size_t *len);
/** astore_in_clear(rec): free what astore_get_in attached to ${rec}. */
void astore_in_clear(struct astore_in *rec);
/**
 * astore_ack_in(s, id, now): mark incoming message ${id} read at ${now}
 * (ms), in a synced commit of its own; a message already marked keeps
 * its first time.  FERRY_ENOENT if no such message.
 */
int astore_ack_in(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    uint64_t now);
/** astore_foreach_in(s, fn, ctx): as astore_foreach_out for incoming records (receipt not loaded). */
int astore_foreach_in(struct astore *s,
    int (*fn)(void *, const struct astore_in *), void *ctx);

/** astore_count_in(s, n): how many incoming records are stored, into *${n} (O(1): the table's entry count). */
int astore_count_in(struct astore *s, uint64_t *n);

/** astore_spool_lookup(s, key, id): msg id recorded for spool key ${key}; FERRY_ENOENT. */
int astore_spool_lookup(struct astore *s, const uint8_t key[32],
    uint8_t id[FERRY_MSGID_LEN]);

/** astore_spool_put(s, b, key, id): the spool index entry ${key} -> ${id}
 * in batch ${b} (a second key of a message, astore_put_out the first). */
int astore_spool_put(struct astore *s, struct log_batch *b,
    const uint8_t key[32], const uint8_t id[FERRY_MSGID_LEN]);

/**
 * astore_erase_out(s, b, rec, er) / astore_erase_in(s, b, rec, er): in
 * batch ${b} (with the log's log_erase_batch), shred message rec->msg_id:
 * its record is kept with the sealed content key zeroed, its envelope
 * copy (a.outenv / a.inenv) and unspooled mark are deleted, and ${er} is
 * recorded (FERRY_EEXIST if it already was).  ${rec}: the record as read
 * before the batch began.
 */
int astore_erase_out(struct astore *s, struct log_batch *b,
    const struct astore_out *rec, const struct astore_erased *er);
int astore_erase_in(struct astore *s, struct log_batch *b,
    const struct astore_in *rec, const struct astore_erased *er);
/** astore_get_erased(s, id, er): the erasure of ${id}; FERRY_ENOENT if not erased. */
int astore_get_erased(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    struct astore_erased *er);

/** astore_state_name(state): "queued", "accepted", "delivered", "failed", "?". */
const char *astore_state_name(uint32_t state);

#endif
