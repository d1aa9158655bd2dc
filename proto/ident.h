/*
 * ident.h: an agency's (or admin's, or the relay's) identity: three key
 * pairs for three jobs, never mixed (DESIGN.md, "Identities and keys"):
 *   - signing (Ed25519): identity; signs envelopes, receipts, checkpoints,
 *     and its own encryption keys;
 *   - encryption (X25519), with a key id and validity window, rotatable;
 *     older keys are kept for decryption until their window ends;
 *   - transport (CURVE / Curve25519) for the ZeroMQ link.
 * Secret halves live in sodium_malloc'd memory and are wiped on free.
 */
#ifndef FERRY_IDENT_H
#define FERRY_IDENT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.h"

/* Agency kinds (also used in the roster). */
enum ident_kind {
	IDENT_CHARITY = 1,
	IDENT_POLICE = 2,
	IDENT_COUNCIL = 3,
	IDENT_HEALTH = 4,
	IDENT_OTHER = 5,
	IDENT_ADMIN = 6,	/* an admin: only the signing key is used */
	IDENT_RELAY = 7		/* the relay: signing + transport keys */
};

#define IDENT_MAX_ENC 8		/* encryption keys held at once */
#define IDENT_FP_LEN 48		/* fingerprint text incl. NUL */
#define IDENT_FP_DIGITS 40	/* its digits: 8 groups of 5 */

struct ident_enckey {
	uint32_t key_id;		/* 1, 2, 3, ...: increases on rotation */
	uint8_t pk[32];
	uint8_t *sk;			/* 32 bytes, sodium_malloc'd */
	uint64_t not_before;		/* ms since epoch */
	uint64_t not_after;		/* ms since epoch; decrypt-only after */
	uint8_t sig[64];		/* signing key's signature (ident_enckey_sign) */
};

struct ident {
	char id[FERRY_ID_MAX + 1];
	uint32_t kind;			/* enum ident_kind */
	char name[FERRY_NAME_MAX + 1];	/* display name, UTF-8 */
	uint8_t sign_pk[32];
	uint8_t *sign_sk;		/* 64 bytes (seed || pk), sodium_malloc'd */
	uint8_t curve_pk[32];
	uint8_t *curve_sk;		/* 32 bytes, sodium_malloc'd */
	size_t nenc;
	struct ident_enckey enc[IDENT_MAX_ENC];	/* enc[0] is the current key */
};

/** ident_kind_name(kind): "charity", "police", ...; NULL if unknown. */
const char *ident_kind_name(uint32_t kind);
/** ident_kind_parse(s, kind): name to kind; 0 or FERRY_EINVAL. */
int ident_kind_parse(const char *s, uint32_t *kind);

/**
 * ident_generate(id, kind, name, now, validity_ms, out): fresh keys for
 * agency ${id}.  The first encryption key has key id 1 and is valid from
 * ${now} for ${validity_ms}.  *${out} is owned by the caller (ident_free).
 * A ${name} that is not UTF-8 or longer than FERRY_NAME_MAX: FERRY_EINVAL;
 * one holding control characters (wire_text_ok): FERRY_EBADVALUE.
 */
int ident_generate(const char *id, uint32_t kind, const char *name,
    uint64_t now, uint64_t validity_ms, struct ident **out);

/** ident_free(ident): wipe and free; no-op on NULL. */
void ident_free(struct ident *ident);

/**
 * ident_save(ident, path, passphrase): write the secret key file, mode
 * 0600, atomically (refuses to overwrite: FERRY_EEXIST unless the file is
 * being replaced by a rotation, see ident_save_replace).  With a non-NULL
 * ${passphrase} the contents are sealed with Argon2id
 * (crypto_pwhash_ALG_ARGON2ID13, random salt, limits in the header) and
 * XChaCha20-Poly1305.
 */
int ident_save(const struct ident *ident, const char *path,
    const char *passphrase);
/**
 * ident_save_replace(ident, path, passphrase): as ident_save, replacing
 * the file and keeping its owner and group (ferry_write_file_owned):
 * FERRY_EACCES, nothing changed, if they cannot be kept.
 */
int ident_save_replace(const struct ident *ident, const char *path,
    const char *passphrase);

/**
 * ident_load(path, passphrase, out): read a secret key file.  Refuses files
 * accessible by group or others (FERRY_EPERM); a sealed file needs the
 * passphrase (FERRY_EPASSPHRASE when wrong, FERRY_ENOPASSPHRASE when
 * ${passphrase} is NULL); FERRY_EACCES when this user may not read the
 * file; FERRY_EBADKEYFILE if malformed.
 */
int ident_load(const char *path, const char *passphrase, struct ident **out);

/**
 * ident_load_why(rc, path, out, cap): one line for a person on why
 * loading key file ${path} failed with ${rc}, naming the cause and the
 * fix where it is the file's: "key file P is readable by group or others
 * (mode 0644): chmod 600 P", "key file P may not be read by this user
 * (it, or its folder, belongs to ferry): run as that user", "key file P is sealed with a
 * passphrase, and none was given" (where the passphrase comes from is
 * the caller's to add), "key file P: wrong passphrase".  Truncated to
 * ${cap}.  Looks at the file (stat) but changes nothing.
 */
void ident_load_why(int rc, const char *path, char *out, size_t cap);

/** ident_is_sealed(path): 1 if the key file is passphrase-sealed, 0 if not, <0 error. */
int ident_is_sealed(const char *path);

/**
 * ident_is_keyfile(buf, len): 1 if ${buf} has the outer form of a secret
 * key file (sealed or not), else 0.  For saying what a file is when it
 * could not be read as one (a key file of mode 0644 read as a public
 * file); it proves nothing about the keys inside.
 */
int ident_is_keyfile(const uint8_t *buf, size_t len);

/*
 * Passphrases.  One rule for every program (ferry-keys, ferry-agent,
 * ferry-relay), wherever a passphrase comes from (a file, an environment
 * variable): the passphrase is the first line, up to the first CR, LF or
 * NUL; what follows is ignored.  A passphrase given explicitly but empty
 * (an empty file, a first line that is empty, a variable set to "") is
 * an error, never "no passphrase": a key must not be written unsealed, or
 * read as unsealed, because a file or variable was left empty by mistake.
 */
#define IDENT_PASS_MAX 1024		/* passphrase bytes, exclusive */
#define IDENT_PASS_FILE_MAX 4096	/* a passphrase file, bytes */

/**
 * ident_passphrase_len(s, n): the length of the passphrase in
 * ${s}[0..${n}): its first line (up to the first CR, LF or NUL).
 */
size_t ident_passphrase_len(const char *s, size_t n);

/**
 * ident_passphrase_parse(s, n, out): the passphrase in ${s}[0..${n}) by
 * the rule above into *${out}, NUL-terminated, sodium_malloc'd (free with
 * ident_passphrase_free).  FERRY_EINVAL: its first line is empty (the
 * caller names the source); FERRY_ETOOBIG: IDENT_PASS_MAX bytes or more;
 * FERRY_ENOMEM.  *${out} is NULL on error.
 */
int ident_passphrase_parse(const char *s, size_t n, char **out);

/**
 * ident_passphrase_read(path, out): the passphrase in file ${path} by the
 * rule above.  Errors: those of ferry_read_file with FERRY_READ_SECRET
 * (FERRY_EPERM: group or others may read it; FERRY_EACCES, FERRY_ENOENT,
 * FERRY_ETOOBIG over IDENT_PASS_FILE_MAX, FERRY_EIO) and of
 * ident_passphrase_parse (FERRY_EINVAL: empty).  The file's bytes are
 * wiped after use.
 */
int ident_passphrase_read(const char *path, char **out);

/** ident_passphrase_free(p): wipe and free a passphrase; no-op on NULL. */
void ident_passphrase_free(char *p);

/**
 * ident_rotate(ident, now, validity_ms, overlap_ms): make a new current
 * encryption key (key id + 1) valid from ${now}; the previous current key's
 * not_after becomes now + ${overlap_ms}.  Keys whose not_after has passed
 * are wiped and dropped.
 */
int ident_rotate(struct ident *ident, uint64_t now, uint64_t validity_ms,
    uint64_t overlap_ms);

/** ident_enc_find(ident, key_id): the held encryption key ${key_id}, or NULL. */
const struct ident_enckey *ident_enc_find(const struct ident *ident,
    uint32_t key_id);

/**
 * ident_enckey_sign(sign_sk, id, k): sign encryption key ${k} of agency
 * ${id} into k->sig.  Signed bytes: "ferry-enckey/v1" 0x00, then the
 * canonical msgpack array [id, key_id, pk, not_before, not_after].
 */
int ident_enckey_sign(const uint8_t sign_sk[64], const char *id,
    struct ident_enckey *k);
/** ident_enckey_verify(sign_pk, id, key_id, pk, nb, na, sig): 0 or FERRY_EBADSIG. */
int ident_enckey_verify(const uint8_t sign_pk[32], const char *id,
    uint32_t key_id, const uint8_t pk[32], uint64_t not_before,
    uint64_t not_after, const uint8_t sig[64]);

/**
 * ident_fingerprint(data, len, out): a fingerprint to read aloud: SHA-256
 * of "ferry-fingerprint/v1" 0x00 || ${data}, shown as 8 groups of 5
 * decimal digits (group i: hash bytes 4i..4i+3 big-endian mod 100000,
 * zero-padded) separated by spaces.  ${out} holds IDENT_FP_LEN bytes.
 */
void ident_fingerprint(const uint8_t *data, size_t len, char out[IDENT_FP_LEN]);

/** ident_sign(sk, tag, msg, len, sig): Ed25519 over tag || 0x00 || msg. */
int ident_sign(const uint8_t sk[64], const char *tag, const uint8_t *msg,
    size_t len, uint8_t sig[64]);
/** ident_verify(pk, tag, msg, len, sig): 0 or FERRY_EBADSIG. */
int ident_verify(const uint8_t pk[32], const char *tag, const uint8_t *msg,
    size_t len, const uint8_t sig[64]);

#endif
