/*
 * note.h: C2SP signed notes (https://c2sp.org/signed-note), checkpoints
 * (https://c2sp.org/tlog-checkpoint) and Ed25519 cosignatures
 * (https://c2sp.org/tlog-cosignature, "cosignature/v1").
 *
 * A checkpoint note is
 *     <origin>\n<decimal size>\n<base64 root>\n[extension lines\n]
 *     \n
 *     — <key name> <base64(key id[4] || signature)>\n   (one or more)
 * The signed message is the text up to and including the newline before
 * the blank line.  Key ids: SHA-256(name || "\n" || type || pubkey)[:4],
 * type 0x01 for Ed25519 note signatures and 0x04 for cosignature/v1, whose
 * signature is timestamp (8 bytes big-endian, seconds) || Ed25519 signature
 * over "cosignature/v1\ntime <timestamp>\n" || the note text.
 * Verifiers ignore signature lines whose name and key id they do not know.
 */
#ifndef FERRY_NOTE_H
#define FERRY_NOTE_H

#include <stddef.h>
#include <stdint.h>

#define NOTE_MAX 16384		/* bytes of a whole note */
#define NOTE_SIGS_MAX 100	/* signature lines */
#define NOTE_NAME_MAX 128	/* bytes of a key name / origin */
#define NOTE_TYPE_ED25519 0x01
#define NOTE_TYPE_COSIG_V1 0x04

struct note_checkpoint {
	char origin[NOTE_NAME_MAX + 1];
	uint64_t size;
	uint8_t root[32];
	size_t text_len;	/* bytes of the signed text */
	size_t ext_lines;	/* extension lines after the root */
	size_t nsigs;		/* signature lines (syntax-checked only) */
};

/** note_keyid(name, type, pk, id): the 4-byte key id of (${name}, ${type}, ${pk}). */
void note_keyid(const char *name, uint8_t type, const uint8_t pk[32],
    uint8_t id[4]);

/**
 * note_sign_checkpoint(origin, size, root, sk, out, len): a checkpoint for
 * (${origin}, ${size}, ${root}) signed by Ed25519 secret key ${sk} (64
 * bytes) under key name ${origin}, into a new buffer *${out} (free();
 * not NUL-terminated).  FERRY_EINVAL for an origin that is empty, too
 * long, or holds whitespace, '+' or control characters.
 */
int note_sign_checkpoint(const char *origin, uint64_t size,
    const uint8_t root[32], const uint8_t *sk, uint8_t **out, size_t *len);

/**
 * note_parse_checkpoint(note, len, cp): strict syntax check of the signed
 * note ${note} and its checkpoint body; fills ${cp}.  Does not verify any
 * signature.  FERRY_EMALFORMED / FERRY_ETOOBIG / FERRY_EBADVALUE.
 */
int note_parse_checkpoint(const uint8_t *note, size_t len,
    struct note_checkpoint *cp);

/**
 * note_verify(note, len, name, pk): 0 if ${note} (syntax as
 * note_parse_checkpoint) carries a valid Ed25519 note signature by key
 * (${name}, ${pk}); lines of other keys are ignored.  FERRY_ENOENT if no
 * line has that name and key id, FERRY_EBADSIG if such a line does not
 * verify.
 */
int note_verify(const uint8_t *note, size_t len, const char *name,
    const uint8_t pk[32]);

/**
 * note_cosign(note, len, name, sk, time_s, out, outlen): append a
 * cosignature/v1 line by (${name}, ${sk}) at POSIX time ${time_s} to the
 * checkpoint ${note} (which is only syntax-checked: check the log's own
 * signature and consistency first), into a new buffer *${out} (free()).
 */
int note_cosign(const uint8_t *note, size_t len, const char *name,
    const uint8_t *sk, uint64_t time_s, uint8_t **out, size_t *outlen);

/**
 * note_verify_cosig(note, len, name, pk, time_s): 0 if ${note} carries a
 * valid cosignature/v1 by (${name}, ${pk}); *${time_s} (may be NULL) gets
 * its timestamp.  Errors as note_verify.
 */
int note_verify_cosig(const uint8_t *note, size_t len, const char *name,
    const uint8_t pk[32], uint64_t *time_s);

/**
 * note_counts(signs, verifies): how many checkpoints this process signed
 * (note_sign_checkpoint) and how many note signature lines it checked
 * (note_verify, note_verify_cosig), since it started; for the daemons'
 * status and the tests that count signatures.  Either may be NULL.
 */
void note_counts(uint64_t *signs, uint64_t *verifies);

#endif
