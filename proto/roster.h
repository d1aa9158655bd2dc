/*
 * roster.h: the partner roster, the network's single source of truth about
 * who is in it (DESIGN.md, "The partner roster"; docs/protocol.md section 4
 * is the byte-level spec).
 *
 * A roster file is the canonical msgpack array
 *     [ body (bin), [ [signer_pk (bin 32), sig (bin 64)], ... ] ]
 * where body is the canonical msgpack map of one roster version and each
 * signature is Ed25519 by an admin over
 *     "ferry-roster/v1" || 0x00 || body
 * (the exact body bytes, never re-encoded).  Signatures are kept beside the
 * body, so adding one never changes what is signed.
 *
 * Trust (TUF root rules):
 *   - the first roster an installation holds is pinned by its fingerprint
 *     (roster_verify_genesis) and must carry a threshold of its own admins'
 *     signatures;
 *   - roster N+1 is accepted only from a party holding a verified roster N
 *     (roster_verify_next): version exactly N+1, signed by a threshold of
 *     N's admins AND a threshold of N+1's admins, each key counted once,
 *     not expired;
 *   - agencies are never deleted, a revoked agency stays revoked, and an
 *     agency's id, kind and signing and transport keys never change
 *     (key-transparency style: the directory only grows).
 *
 * Key requests.  An agency (or admin, or the relay) joins with a key
 * request, the canonical array [ body (bin), sig (bin 64) ] where sig is
 * Ed25519 by the request's own signing key over
 *     "ferry-keyrequest/v1" || 0x00 || body
 * (proof of possession of the signing key), and each encryption key in it
 * carries its ident_enckey_sign signature.  The CURVE transport key cannot
 * sign, and an X25519 proof of possession needs a verifier's secret key, so
 * Ferry binds the transport key by the signing key's signature only (who
 * holds the signing key claims this transport key) and refuses any
 * transport key that appears twice in a roster; actual possession is proven
 * at every connection by the CURVE handshake itself.  The exact request
 * bytes are stored in the roster, so every verifier re-checks the proof of
 * possession, not only the admin who added it.
 *
 * Ownership: a struct roster and everything it points to is owned by its
 * creator and freed by roster_free.  Pointers returned by lookups and by
 * roster_bytes borrow from the roster and stay valid until roster_free or
 * the next editing call on that roster.  A parsed roster is treated as
 * immutable; the editing functions (roster_new, roster_next, roster_*_add,
 * ..., roster_seal, roster_sign) are for ferry-keys and tests.
 *
 * Time: all times are milliseconds since the Unix epoch.
 */
#ifndef FERRY_ROSTER_H
#define FERRY_ROSTER_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.h"
#include "ident.h"

#define ROSTER_FORMAT 1			/* body field 1 */
#define ROSTER_MAX_BYTES (4u * 1024 * 1024)	/* whole roster file */
#define ROSTER_MAX_ADMINS 16
#define ROSTER_MAX_SIGS 32		/* old and new admins together */
#define ROSTER_MAX_AGENCIES 4096
#define ROSTER_MAX_RELAYS 8		/* relays listed, the first in field 7 */
#define ROSTER_ENDPOINT_MAX 255		/* relay endpoint, bytes */
#define ROSTER_REQUEST_MAX 4096		/* one key request, bytes */

#define ROSTER_TAG "ferry-roster/v1"
#define ROSTER_REQUEST_TAG "ferry-keyrequest/v1"

/* Agency status. */
enum roster_status {
	ROSTER_ACTIVE = 1,
	ROSTER_REVOKED = 2
};

/* A public encryption key as listed in the roster (no secret half). */
struct roster_enckey {
	uint32_t key_id;
	uint8_t pk[32];
	uint64_t not_before;	/* valid for sending from ... */
	uint64_t not_after;	/* ... until (exclusive) */
	uint8_t sig[64];	/* ident_enckey_sign by the agency's signing key */
};

struct roster_admin {
	char name[FERRY_ID_MAX + 1];	/* admin's id, [a-z0-9-]{1,64} */
	uint8_t sign_pk[32];
	uint8_t *request;		/* exact key request bytes (kind admin) */
	size_t request_len;
};

struct roster_relay {
	char id[FERRY_ID_MAX + 1];
	uint8_t sign_pk[32];		/* signs ACCEPTED, checkpoints */
	uint8_t curve_pk[32];		/* CURVE server key agents pin */
	char endpoint[ROSTER_ENDPOINT_MAX + 1];	/* "" when absent */
	uint8_t *request;		/* exact key request bytes (kind relay) */
	size_t request_len;
};

struct roster_agency {
	char id[FERRY_ID_MAX + 1];
	uint32_t kind;			/* IDENT_CHARITY .. IDENT_OTHER */
	char name[FERRY_NAME_MAX + 1];	/* display name, UTF-8 */
	uint32_t status;		/* enum roster_status */
	uint64_t added;			/* roster version that added it */
	uint64_t revoked;		/* roster version that revoked it, or 0 */
	uint8_t sign_pk[32];
	uint8_t curve_pk[32];
	size_t nenc;			/* 1 .. IDENT_MAX_ENC */
	struct roster_enckey enc[IDENT_MAX_ENC];	/* key_id ascending */
	uint8_t *request;		/* exact key request bytes */
	size_t request_len;
};

struct roster_sig {
	uint8_t pk[32];			/* the signing admin's key */
	uint8_t sig[64];
};

struct roster {
	uint64_t version;		/* 1, 2, 3, ... */
	uint64_t issued;		/* when the body was made */
	uint64_t expires;		/* refused at or after this time */
	uint32_t threshold;		/* 1 .. nadmins */
	size_t nadmins;
	struct roster_admin admins[ROSTER_MAX_ADMINS];
	size_t nrelays;			/* 1 .. ROSTER_MAX_RELAYS once sealed */
	struct roster_relay relays[ROSTER_MAX_RELAYS];	/* the admins' order */
	size_t nagencies;
	struct roster_agency *agencies;	/* sorted by id, strictly ascending */

	/* The exact signed body and its hash (SHA-256 of body).  NULL/0 in
	 * a roster being edited until roster_seal. */
	uint8_t *body;
	size_t body_len;
	uint8_t hash[32];
	size_t nsigs;
	struct roster_sig sigs[ROSTER_MAX_SIGS];

	/* The whole file, [body, sigs]; kept current by parse/seal/sign. */
	uint8_t *file;
	size_t file_len;
};

/* A parsed, proof-of-possession-checked key request. */
struct roster_request {
	char id[FERRY_ID_MAX + 1];
	uint32_t kind;			/* enum ident_kind, incl. ADMIN, RELAY */
	char name[FERRY_NAME_MAX + 1];
	uint64_t created;
	uint8_t sign_pk[32];
	int has_curve;			/* agencies and relay: 1; admins: 0 */
	uint8_t curve_pk[32];
	size_t nenc;			/* agencies: 1 .. IDENT_MAX_ENC; else 0 */
	struct roster_enckey enc[IDENT_MAX_ENC];
};

/* ---- Reading (untrusted bytes) ---------------------------------------- */

/**
 * roster_parse(buf, len, out): strict decode of roster file ${buf} (for
 * instance pushed by the relay) into a new roster *${out} (caller frees
 * with roster_free).  Checks everything that needs no trust anchor: the
 * canonical encoding and schema, limits, ids, ordering and uniqueness
 * (agency ids ascending; no id or public key twice anywhere in the roster:
 * FERRY_EDUPAGENCY), every stored key request's proof of possession and its
 * match with its entry (FERRY_EPOP), every encryption key's signature
 * (FERRY_EBADSIG), threshold within 1..nadmins (FERRY_EBADVALUE), and
 * that no signer appears twice (FERRY_EDUPSIG).  It does NOT check admin
 * signatures, version or expiry: use roster_verify_genesis or
 * roster_verify_next before trusting the result.  Other errors: the
 * decoding block of ferry.h (FERRY_ETRUNCATED .. FERRY_EMALFORMED),
 * FERRY_EBADID, FERRY_ETOOBIG (over ROSTER_MAX_BYTES or a limit),
 * FERRY_ENOMEM.  ${buf} is copied; it need not outlive *${out}.
 */
int roster_parse(const uint8_t *buf, size_t len, struct roster **out);

/** roster_free(r): free ${r} and everything it owns; no-op on NULL. */
void roster_free(struct roster *r);

/**
 * roster_verify_genesis(r, pin, now, why, whylen): accept ${r} as the
 * trust anchor.  ${pin} is the roster fingerprint given at install, either
 * as printed by roster_fingerprint (40 digits; spaces optional) or as the
 * 64 hex digits of roster_hash; a ${pin} of neither form:
 * FERRY_EBADVALUE; mismatch: FERRY_EPIN.  Then ${r} must be
 * signed by a threshold of its own admins (FERRY_ETHRESHOLD,
 * FERRY_ENOTADMIN for a signer that is not an admin, FERRY_EBADSIG) and
 * unexpired at ${now} (FERRY_EEXPIRED).  Any version may be the anchor.
 * When ${why} is not NULL a one-line English explanation (success or the
 * reason) is written there, NUL-terminated, truncated to ${whylen}.
 */
int roster_verify_genesis(const struct roster *r, const char *pin,
    uint64_t now, char *why, size_t whylen);

/* What a pin is, for messages: "... is not " ROSTER_PIN_FORM. */
#define ROSTER_PIN_FORM "a roster fingerprint (8 groups of 5 digits, as " \
	"ferry-keys fingerprint prints it) nor the 64 hex digits of the " \
	"roster's SHA-256"

/**
 * roster_pin_check(pin): 0 if ${pin} has the form of a roster pin (the 40
 * digits of a fingerprint, or 64 hex digits; ' ', '-' and ':' ignored),
 * else FERRY_EBADVALUE: a malformed pin is said as such, not as a roster
 * that fails to match it.
 */
int roster_pin_check(const char *pin);

/**
 * roster_verify_next(prev, next, now, why, whylen): accept ${next} given
 * the trusted ${prev}.  Errors, checked in this order:
 *   FERRY_EROLLBACK   next->version != prev->version + 1 (older, equal or
 *                     skipped);
 *   FERRY_EEXPIRED    ${now} >= next->expires (pass ${now} = 0 to skip this
 *                     check only for intermediate versions while catching
 *                     up through a chain, as TUF does; the newest one must
 *                     be checked);
 *   FERRY_EBADVALUE   continuity (below), checked before the signatures so
 *                     that a version still short of signatures is refused
 *                     for it;
 *   FERRY_EDUPSIG     one key signed twice (also caught by roster_parse);
 *   FERRY_ENOTADMIN   a signer is an admin of neither prev nor next;
 *   FERRY_EBADSIG     a signature does not verify;
 *   FERRY_ETHRESHOLD  fewer than prev->threshold of prev's admins, or fewer
 *                     than next->threshold of next's admins signed;
 *   (continuity)      an agency of prev is missing in next, was
 *                     un-revoked, or changed its kind or signing or
 *                     transport key, or an encryption key id of prev
 *                     names another public key in next, or a key id
 *                     new in next is not above prev's highest for that
 *                     agency (key ids are never reused; this rule not
 *                     at ${now} = 0: saved versions replayed, adopted
 *                     under the rules of their day).
 * ${why} as in roster_verify_genesis, e.g. "roster 3: 1 of 2 signatures
 * from the admins of roster 2: have alice; need one more of bob, carol".
 */
int roster_verify_next(const struct roster *prev, const struct roster *next,
    uint64_t now, char *why, size_t whylen);

/* ---- Lookups ---------------------------------------------------------- */

/** roster_find(r, id): the agency ${id} (any status), or NULL. O(log n). */
const struct roster_agency *roster_find(const struct roster *r,
    const char *id);

/**
 * roster_find_by_curve(r, curve_pk): the agency whose transport key is
 * ${curve_pk} (any status: the caller checks status), or NULL.  For the
 * relay's ZAP handler.  The relay's own key is not an agency.
 */
const struct roster_agency *roster_find_by_curve(const struct roster *r,
    const uint8_t curve_pk[32]);

/**
 * roster_find_relay(r, id): the relay ${id} listed in ${r}, or NULL.  A
 * roster lists 1 .. ROSTER_MAX_RELAYS interchangeable relays, each with
 * its own keys and endpoint, in the order the admins gave (agents prefer
 * the first).
 */
const struct roster_relay *roster_find_relay(const struct roster *r,
    const char *id);

/**
 * roster_sender_key(r, id, sign_pk): copy to ${sign_pk} the signing key of
 * ${id}, an active agency or one of the relays, to verify what it
 * signed.  FERRY_EUNKNOWNAGENCY if absent, FERRY_EREVOKED if revoked.
 * (An auditor checking old signatures of a revoked agency uses
 * roster_find.)
 */
int roster_sender_key(const struct roster *r, const char *id,
    uint8_t sign_pk[32]);

/**
 * roster_enc_key_for_sending(r, id, now, key_id, pk): the encryption key a
 * sender must seal to for agency ${id} at ${now}: among its keys with
 * not_before <= now < not_after, the one with the highest key id.  During a
 * rotation overlap that is the new key; the old one stays listed so the
 * recipient can still open what was sealed to it.  FERRY_EUNKNOWNAGENCY,
 * FERRY_EREVOKED, or FERRY_EKEYWINDOW when no key is valid at ${now}.
 */
int roster_enc_key_for_sending(const struct roster *r, const char *id,
    uint64_t now, uint32_t *key_id, uint8_t pk[32]);

/** roster_is_admin(r, pk): index of the admin with key ${pk}, or -1. */
int roster_is_admin(const struct roster *r, const uint8_t pk[32]);

/** roster_hash(r, out): SHA-256 of ${r}'s exact body bytes (what logs record). */
void roster_hash(const struct roster *r, uint8_t out[32]);

/**
 * roster_fingerprint(r, out): the roster's fingerprint to read aloud and
 * pin: ident_fingerprint of the exact body bytes.
 */
void roster_fingerprint(const struct roster *r, char out[IDENT_FP_LEN]);

/**
 * roster_bytes(r, buf, len): the roster file (body and signatures) for
 * writing or pushing; borrowed from ${r} (see Ownership).  FERRY_EINVAL if
 * ${r} is being edited and not sealed.
 */
int roster_bytes(const struct roster *r, const uint8_t **buf, size_t *len);

/* ---- Key requests ----------------------------------------------------- */

/**
 * roster_request_make(id, now, out, len): the key request of identity
 * ${id}: for an agency its id, kind, name, signing, transport and all held
 * encryption keys; for the relay without encryption keys; for an admin
 * only the signing key; signed by its signing key.  *${out} is malloc'd.
 */
int roster_request_make(const struct ident *id, uint64_t now, uint8_t **out,
    size_t *len);

/**
 * roster_request_parse(buf, len, req): strict decode of a key request and
 * check of its proof of possession (request signature and every
 * encryption key's signature: FERRY_EPOP), ids (FERRY_EBADID), kind
 * (FERRY_EBADVALUE) and the fields its kind requires (FERRY_EMISSING /
 * FERRY_EUNKNOWNFIELD).  Decoding errors as roster_parse.
 */
int roster_request_parse(const uint8_t *buf, size_t len,
    struct roster_request *req);

/**
 * roster_id_fingerprint(id, kind, sign_pk, out): an identity's fingerprint
 * to read aloud on the phone: ident_fingerprint of the canonical array
 * [id, kind, sign_pk].  Stable across encryption key rotation: the other
 * keys are bound to it by signatures.
 */
void roster_id_fingerprint(const char *id, uint32_t kind,
    const uint8_t sign_pk[32], char out[IDENT_FP_LEN]);

/* ---- Editing (ferry-keys, tests) -------------------------------------- *
 * Each editing call checks its own preconditions and leaves ${r} unchanged
 * on error; any successful edit unseals ${r} (drops body and signatures).
 */

/**
 * roster_new(now, expires, out): an empty, unsealed version-1 roster
 * issued at ${now}, expiring at ${expires}; threshold 0 until set.
 */
int roster_new(uint64_t now, uint64_t expires, struct roster **out);

/**
 * roster_next(prev, now, expires, out): an unsealed copy of ${prev} as
 * version prev->version + 1, issued ${now}, expiring ${expires}, without
 * signatures.
 */
int roster_next(const struct roster *prev, uint64_t now, uint64_t expires,
    struct roster **out);

/**
 * roster_admin_add(r, req, len): add the admin of key request ${req}
 * (kind IDENT_ADMIN; FERRY_EPOP, FERRY_EBADVALUE for another kind,
 * FERRY_EDUPAGENCY if its name or key is already present, FERRY_ETOOBIG
 * past ROSTER_MAX_ADMINS).
 */
int roster_admin_add(struct roster *r, const uint8_t *req, size_t len);

/** roster_admin_remove(r, name): remove admin ${name}; FERRY_ENOENT. */
int roster_admin_remove(struct roster *r, const char *name);

/** roster_set_threshold(r, t): FERRY_EINVAL unless 1 <= t <= ROSTER_MAX_ADMINS (checked against nadmins at roster_seal). */
int roster_set_threshold(struct roster *r, uint32_t t);

/**
 * roster_relay_set(r, req, len, endpoint): list the relay of key request
 * ${req} (kind IDENT_RELAY) with its endpoint (may be NULL or ""): a relay
 * whose id is already listed has its keys and endpoint replaced (a
 * rotation, or with the same keys a move to another endpoint; it keeps its
 * place), another one is added after the others.  FERRY_EEXIST if that
 * relay is listed already with these keys and this endpoint (no change);
 * FERRY_EBADVALUE (not a relay's request, or a bad endpoint),
 * FERRY_EDUPAGENCY (its id is an agency's, or a key of it is used by
 * anyone else in the roster), FERRY_ETOOBIG (ROSTER_MAX_RELAYS, or the
 * endpoint over ROSTER_ENDPOINT_MAX).
 */
int roster_relay_set(struct roster *r, const uint8_t *req, size_t len,
    const char *endpoint);

/**
 * roster_relay_remove(r, id): stop listing relay ${id}: FERRY_ENOENT if
 * it is not listed, FERRY_EBADVALUE if it is the only one (a roster needs
 * a relay).
 */
int roster_relay_remove(struct roster *r, const char *id);

/**
 * roster_agency_add(r, req, len): add an active agency from key request
 * ${req}: FERRY_EPOP (bad proof of possession, forged or altered request),
 * FERRY_EDUPAGENCY (id or any of its keys already in the roster, as an
 * agency, admin or the relay), FERRY_EBADVALUE (kind not an agency kind),
 * FERRY_ETOOBIG (ROSTER_MAX_AGENCIES).
 */
int roster_agency_add(struct roster *r, const uint8_t *req, size_t len);

/** roster_agency_revoke(r, id): mark ${id} revoked; FERRY_EUNKNOWNAGENCY, FERRY_EREVOKED if already. */
int roster_agency_revoke(struct roster *r, const char *id);

/**
 * roster_agency_set_enc(r, id, keys, n): replace agency ${id}'s encryption
 * keys by ${keys} (an ident's, after ident_rotate), each of which must
 * verify under its signing key (FERRY_EBADSIG); key ids strictly
 * ascending after sorting, no public key reused (FERRY_EDUPAGENCY).
 */
int roster_agency_set_enc(struct roster *r, const char *id,
    const struct ident_enckey *keys, size_t n);

/**
 * roster_seal(r): encode ${r}'s body canonically, check it exactly as
 * roster_parse would (so an edited roster that a verifier would refuse is
 * refused here with the same error), compute the hash, and drop all
 * signatures.  After it roster_bytes works.
 */
int roster_seal(struct roster *r);

/**
 * roster_sign(r, sign_sk): append the signature of the key ${sign_sk}
 * (64 bytes, seed || pk) over the sealed body.  FERRY_EINVAL if unsealed,
 * FERRY_EDUPSIG if that key already signed, FERRY_ETOOBIG past
 * ROSTER_MAX_SIGS.  Whether the signer counts is decided by the verifier.
 */
int roster_sign(struct roster *r, const uint8_t sign_sk[64]);

#endif
