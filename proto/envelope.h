/*
 * envelope.h: everything on the wire between agents and the relay.
 *
 * An envelope is the canonical msgpack array
 *     [ inner (bin), signature (bin 64) ]
 * where inner is a canonical msgpack map (int keys, see docs/protocol.md):
 *     1 version (=1)   2 type   3 id (bin 16)   4 from (str)   5 to (str)
 *     6 time (uint, ms since epoch)   16.. type-specific fields
 * (id: 6 bytes of time big-endian, then 10 random bytes; env_new_id)
 * and signature is Ed25519 by ${from}'s signing key over
 *     domain-tag || 0x00 || inner
 * with the tag of the type ("ferry-envelope/v1" for MSG, "ferry-receipt/v1"
 * for RECEIPT, "ferry-accepted/v1", "ferry-nack/v1", "ferry-hello/v1",
 * "ferry-credit/v1", "ferry-heartbeat/v1", "ferry-roster-push/v1",
 * "ferry-checkpoint/v1", "ferry-ask/v1"), so no signed object can be replayed as another
 * kind.  The hash of an envelope (env_hash) is SHA-256 of its exact bytes.
 *
 * MSG construction (env_seal):
 *   content key K (32 random), commitment key C (32 random), nonce (24);
 *   commitment = BLAKE2b-256 keyed by C over the content;
 *   plaintext = canonical [C (bin 32), content (bin)], padded with
 *   ISO/IEC 7816-4 (sodium_pad) to the size bucket: the smallest power of
 *   two >= max(1024, len + 1);
 *   ciphertext = XChaCha20-Poly1305-IETF(K, nonce, plaintext, AD) where AD
 *   is "ferry-msg-ad/v1" 0x00 || canonical [version, type, id, from, to,
 *   time, key_id, wrapped_key, reply_to (bin 0 when absent), commitment];
 *   wrapped_key = crypto_box_seal(K, recipient's X25519 key ${key_id});
 *   then the whole inner map is signed as above.
 */
#ifndef FERRY_ENVELOPE_H
#define FERRY_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.h"
#include "ident.h"

#define ENV_VERSION 1

enum env_type {
	ENV_MSG = 1,		/* referral content, end-to-end encrypted */
	ENV_RECEIPT = 2,	/* recipient's signed delivery receipt */
	ENV_ACCEPTED = 3,	/* relay's signed custody receipt */
	ENV_NACK = 4,		/* refusal with a reason code */
	ENV_HELLO = 5,		/* agent (re)connected */
	ENV_CREDIT = 6,		/* flow-control credit grant */
	ENV_HEARTBEAT = 7,	/* liveness */
	ENV_ROSTER = 8,		/* roster push (roster bytes in blob) */
	ENV_CHECKPOINT = 9,	/* a signed log checkpoint note (in blob) */
	ENV_ASK = 10,		/* sender asks the relay what became of its
				 * message (msg_id, env_hash) */
	ENV_RECEIPT_P = 11,	/* recipient's delivery receipt by inclusion
				 * proof: no envelope signature */
	ENV_ACCEPTED_P = 12	/* relay's custody receipt by inclusion proof */
};

/** ENV_IS_PROOF(type): a receipt type whose authenticity is a proof. */
#define ENV_IS_PROOF(t) ((t) == ENV_RECEIPT_P || (t) == ENV_ACCEPTED_P)
#define ENV_ENTRY_MAX 8192	/* bytes of a proven log entry */
#define ENV_PATH_MAX 64		/* hashes of an audit path */

#define ENV_WRAPPED_LEN 80	/* crypto_box_SEALBYTES + 32 */
#define ENV_NONCE_LEN 24
#define ENV_SIG_LEN 64
#define ENV_BLOB_MAX (8u * 1024 * 1024)	/* roster / checkpoint blobs */
#define ENV_REASON_MAX 1024

/*
 * A decoded envelope.  Pointer fields borrow from the buffer given to
 * env_decode and are valid while it lives; fixed arrays are copies.
 * Fields a type does not use are zero.
 */
struct env {
	uint32_t version;
	uint32_t type;			/* enum env_type */
	uint8_t id[FERRY_MSGID_LEN];	/* this envelope's id */
	char from[FERRY_ID_MAX + 1];
	char to[FERRY_ID_MAX + 1];
	uint64_t time;			/* ms since epoch, set by the signer */

	/* MSG */
	uint32_t key_id;		/* recipient encryption key id */
	uint8_t wrapped[ENV_WRAPPED_LEN];
	uint8_t nonce[ENV_NONCE_LEN];
	const uint8_t *ct;		/* ciphertext incl. 16-byte tag */
	size_t ct_len;
	uint8_t commitment[32];
	int has_reply_to;
	uint8_t reply_to[FERRY_MSGID_LEN];	/* message this one answers */

	/* RECEIPT, ACCEPTED, NACK, ASK: what they refer to */
	uint8_t msg_id[FERRY_MSGID_LEN];
	uint8_t env_hash[32];		/* SHA-256 of the referred envelope */
	uint64_t log_index;		/* signer's log index for it */
	uint64_t roster_version;	/* RECEIPT/ACCEPTED/HELLO */
	uint32_t code;			/* NACK: -FERRY_E* (positive) */
	const char *reason;		/* NACK: UTF-8, not NUL-terminated */
	size_t reason_len;

	/* CREDIT, HELLO */
	uint64_t credit;

	/* RECEIPT/ACCEPTED and their _P types: signer's checkpoint note;
	 * ROSTER: roster bytes; CHECKPOINT: note */
	const uint8_t *blob;
	size_t blob_len;

	/* RECEIPT_P/ACCEPTED_P: the signer's log entry at log_index (its
	 * exact bytes) and its audit path (path_len / 32 hashes, leaf
	 * upward) in the tree of the note's size. */
	const uint8_t *entry;
	size_t entry_len;
	const uint8_t *path;
	size_t path_len;

	/* The exact signed bytes (inner map) and the signature. */
	const uint8_t *inner;
	size_t inner_len;
	uint8_t sig[ENV_SIG_LEN];
};

/** env_type_name(type): "MSG", "RECEIPT", ...; NULL if unknown. */
const char *env_type_name(uint32_t type);
/** env_tag(type): the signature domain tag of ${type}; NULL if unknown. */
const char *env_tag(uint32_t type);

/**
 * env_decode(buf, len, max_body, e): strict decode of untrusted bytes into
 * ${e}; verifies nothing cryptographic.  ${max_body} bounds the ciphertext
 * (0 = FERRY_BODY_MAX_DEFAULT); checked before any allocation.  Errors:
 * FERRY_ETRUNCATED, FERRY_ETRAILING, FERRY_EDUPKEY, FERRY_EUNKNOWNFIELD,
 * FERRY_EMISSING, FERRY_ETYPE, FERRY_ETOOBIG, FERRY_ENESTING,
 * FERRY_ENONCANON, FERRY_EVERSION, FERRY_EMSGTYPE, FERRY_EBADVALUE,
 * FERRY_EBADID, FERRY_EMALFORMED, FERRY_ENOMEM.
 */
int env_decode(const uint8_t *buf, size_t len, size_t max_body,
    struct env *e);

/**
 * env_verify(e, sign_pk): check ${e}'s signature with ${e}'s type tag; 0
 * or FERRY_EBADSIG.  The proof types carry no signature: FERRY_EMSGTYPE
 * (use env_verify_proof).
 */
int env_verify(const struct env *e, const uint8_t sign_pk[32]);

/*
 * The note signatures a verifier already checked: SHA-256(pk || note) of
 * the last ENV_NOTE_CACHE notes, so that the receipts of one batch (one
 * note) cost one note signature check; with what the note says (its
 * size and root) and whose it was found (from), so that it is not parsed
 * again either.  Zeroed memory is an empty cache; one per thread.
 */
#define ENV_NOTE_CACHE 16
struct env_note_cache {
	uint8_t h[ENV_NOTE_CACHE][32];
	uint8_t used[ENV_NOTE_CACHE];
	uint64_t size[ENV_NOTE_CACHE];
	uint8_t root[ENV_NOTE_CACHE][32];
	char from[ENV_NOTE_CACHE][FERRY_ID_MAX + 1];
	unsigned next;
};

/**
 * env_verify_proof(e, sign_pk, cache): the authenticity of a RECEIPT_P or
 * ACCEPTED_P ${e} from the checkpoint of its signer (e->from) and the
 * inclusion proof (docs/protocol.md 3.3): the note parses, its origin is
 * "ferry/<from>", its size is above log_index; the entry decodes as a
 * log entry of kind LOG_RECEIVED (RECEIPT_P) or LOG_ACCEPTED (ACCEPTED_P)
 * with e's msg_id and env_hash, from e->to (the message's sender) and,
 * for RECEIPT_P, to e->from; the path proves its leaf at log_index under
 * the note's root; and the note is signed by ${sign_pk} (not checked
 * again when ${cache}, which may be NULL, holds it).  0; FERRY_EMSGTYPE
 * (not a proof type), FERRY_EBADVALUE (note or entry malformed, wrong
 * origin, kind, ids, or a size not above log_index), FERRY_EBADPROOF,
 * FERRY_EBADSIG or FERRY_ENOENT (no signature line of the signer).
 */
int env_verify_proof(const struct env *e, const uint8_t sign_pk[32],
    struct env_note_cache *cache);

/**
 * env_counts(signs, verifies): envelope signatures this process made and
 * checked since it started (either may be NULL); with note_counts, what
 * the signature-count tests and the bench read.
 */
void env_counts(uint64_t *signs, uint64_t *verifies);

/**
 * env_encode(e, sign_sk, out, len): encode and sign a non-MSG envelope from
 * the fields of ${e} that its type uses (id, from, to, time set by the
 * caller; env_new_id_at helps).  *${out} is malloc'd, owned by the caller.
 * The pointer fields inner/inner_len/sig of ${e} are not read.
 * RECEIPT_P and ACCEPTED_P are not signed: the frame is [inner] alone and
 * ${sign_sk} may be NULL; their blob (the note) and entry are required,
 * path_len a multiple of 32 of at most ENV_PATH_MAX hashes.
 */
int env_encode(const struct env *e, const uint8_t sign_sk[64],
    uint8_t **out, size_t *len);

#define ENV_ID_TIME_LEN 6	/* id bytes holding the time */

/**
 * env_new_id(id): a new envelope id, time-ordered like UUIDv7: the
 * current time (ferry_now_ms) as 6 bytes big-endian, then 10 random
 * bytes.  See env_new_id_at.
 */
void env_new_id(uint8_t id[FERRY_MSGID_LEN]);

/**
 * env_new_id_at(id, now_ms): a new id for an envelope whose time field is
 * ${now_ms}: its low 48 bits big-endian in id[0..5] (ids made later sort
 * later, so the log's message-id index grows at its end), 10 random
 * bytes in id[6..15] (unique within a millisecond).  env_seal uses its
 * ${now}.
 */
void env_new_id_at(uint8_t id[FERRY_MSGID_LEN], uint64_t now_ms);

/**
 * env_id_make(id, now_ms, rnd): the id env_new_id_at makes, from the 10
 * random bytes ${rnd} the caller drew (several ids' worth in one draw).
 */
void env_id_make(uint8_t id[FERRY_MSGID_LEN], uint64_t now_ms,
    const uint8_t rnd[FERRY_MSGID_LEN - ENV_ID_TIME_LEN]);

/** env_hash(buf, len, out): SHA-256 of an envelope's exact bytes. */
void env_hash(const uint8_t *buf, size_t len, uint8_t out[32]);

/**
 * env_seal(sender, to, rcpt_pk, key_id, content, len, reply_to, now,
 *     content_key, id, out, outlen): seal ${content} (at most
 * FERRY_BODY_MAX_DEFAULT bytes) for agency ${to} whose current encryption
 * key is ${rcpt_pk} with id ${key_id}, signed by ${sender}.  ${reply_to}
 * may be NULL.  The random content key is copied to ${content_key} so the
 * sender can keep its own (locally sealed) copy; the new message id to
 * ${id}.  *${out} is malloc'd, owned by the caller.
 */
int env_seal(const struct ident *sender, const char *to,
    const uint8_t rcpt_pk[32], uint32_t key_id, const uint8_t *content,
    size_t len, const uint8_t *reply_to, uint64_t now,
    uint8_t content_key[32], uint8_t id[FERRY_MSGID_LEN], uint8_t **out,
    size_t *outlen);

/**
 * env_open(buf, len, max_body, sender_pk, rcpt, e, content, clen): decode,
 * verify the signature with ${sender_pk} (the roster's key for e->from,
 * which the caller looks up: use env_decode first to learn e->from), check that e->to is ${rcpt}'s id (FERRY_ENOTFORUS), find
 * the key by e->key_id (FERRY_EWRONGKEY), unwrap, decrypt, unpad, check the
 * commitment.  Nothing is decrypted before the signature verifies.
 * *${content} is malloc'd (free with free()); ${e} borrows from ${buf}.
 */
int env_open(const uint8_t *buf, size_t len, size_t max_body,
    const uint8_t sender_pk[32], const struct ident *rcpt, struct env *e,
    uint8_t **content, size_t *clen);

/**
 * env_open_decoded(e, sender_pk, rcpt, content_key, content, clen):
 * env_open of an envelope already decoded into ${e} (env_decode, whose
 * buffer must still live): each received frame is decoded once.  The
 * content key, unwrapped once, is copied to ${content_key} when it is not
 * NULL and the message opened (for the recipient's own sealed copy; the
 * caller wipes it, sodium_memzero).  Errors as env_open, less decoding's.
 */
int env_open_decoded(const struct env *e, const uint8_t sender_pk[32],
    const struct ident *rcpt, uint8_t content_key[32], uint8_t **content,
    size_t *clen);

/**
 * env_open_with_key(e, content_key, content, clen): decrypt a decoded MSG
 * with a known content key (the sender rereading what it sent).
 */
int env_open_with_key(const struct env *e, const uint8_t content_key[32],
    uint8_t **content, size_t *clen);

/**
 * env_pad(buf, len, bucket): ISO/IEC 7816-4 padding of the ${len} bytes at
 * ${buf} to ${bucket} (> len) bytes: 0x80, then zeros; the bytes of
 * sodium_pad(.., len, bucket, bucket).
 */
void env_pad(uint8_t *buf, size_t len, size_t bucket);

/**
 * env_unpad(buf, bucket, ul): the unpadded length of a padded bucket into
 * *${ul}, constant-time, as sodium_unpad(ul, buf, bucket, bucket): the
 * last nonzero byte must be 0x80, else FERRY_EPADDING.
 */
int env_unpad(const uint8_t *buf, size_t bucket, size_t *ul);

/** env_bucket(len): padded plaintext size for ${len} bytes of plaintext. */
size_t env_bucket(size_t len);

#endif
