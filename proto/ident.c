/*
 * ident.c: an agency's three key pairs, its secret key file (plain or
 * sealed with a passphrase), rotation of encryption keys, fingerprints and
 * domain-separated Ed25519 signatures.  docs/protocol.md section 2 is the
 * byte-level description of everything here.
 *
 * Secret key material only ever lives in sodium_malloc'd memory: the key
 * file is read into it (ferry_read_file with secret=1), encoded and
 * decrypted into it, and msgpack objects only point into it.
 */
#include "ident.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <msgpack.h>
#include <sodium.h>

#include "wire.h"

#define KEYFILE_FORMAT "ferry-ident/v1"
#define KEYFILE_MAX 65536
#define KEYFILE_PLAIN 0
#define KEYFILE_SEALED 1
#define ENCKEY_TAG "ferry-enckey/v1"
#define FP_TAG "ferry-fingerprint/v1"
#define SECBUF 8192

/* Bounds on the Argon2id cost read from a file, so that a crafted file
 * cannot make the loader spend gigabytes or hours. */
#define PW_OPS_MAX 16
#define PW_MEM_MAX (1024ULL * 1024 * 1024)

static const char *kind_names[] = {
	NULL, "charity", "police", "council", "health", "other", "admin",
	"relay"
};

const char *
ident_kind_name(uint32_t kind)
{

	if (kind < 1 || kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return (NULL);
	return (kind_names[kind]);
}

int
ident_kind_parse(const char *s, uint32_t *kind)
{
	uint32_t i;

	if (s == NULL)
		return (FERRY_EINVAL);
	for (i = 1; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcmp(s, kind_names[i]) == 0) {
			*kind = i;
			return (0);
		}
	}
	return (FERRY_EINVAL);
}

static struct ident *
ident_alloc(void)
{
	struct ident *id;

	if ((id = calloc(1, sizeof(*id))) == NULL)
		return (NULL);
	if ((id->sign_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL ||
	    (id->curve_sk = sodium_malloc(32)) == NULL) {
		ident_free(id);
		return (NULL);
	}
	return (id);
}

void
ident_free(struct ident *ident)
{
	size_t i;

	if (ident == NULL)
		return;
	/* sodium_free wipes before releasing. */
	if (ident->sign_sk != NULL)
		sodium_free(ident->sign_sk);
	if (ident->curve_sk != NULL)
		sodium_free(ident->curve_sk);
	for (i = 0; i < IDENT_MAX_ENC; i++)
		if (ident->enc[i].sk != NULL)
			sodium_free(ident->enc[i].sk);
	sodium_memzero(ident, sizeof(*ident));
	free(ident);
}

static int
enckey_new(struct ident_enckey *k, uint32_t key_id, uint64_t nb,
    uint64_t na)
{

	memset(k, 0, sizeof(*k));
	if ((k->sk = sodium_malloc(32)) == NULL)
		return (FERRY_ENOMEM);
	if (crypto_box_keypair(k->pk, k->sk) != 0) {
		sodium_free(k->sk);
		k->sk = NULL;
		return (FERRY_ESODIUM);
	}
	k->key_id = key_id;
	k->not_before = nb;
	k->not_after = na;
	return (0);
}

static int
meta_check(const char *id, uint32_t kind, const char *name)
{

	if (id == NULL || !ferry_id_valid(id, strlen(id)))
		return (FERRY_EBADID);
	if (ident_kind_name(kind) == NULL)
		return (FERRY_EINVAL);
	if (name != NULL && (strlen(name) > FERRY_NAME_MAX ||
	    !wire_utf8_valid((const uint8_t *)name, strlen(name))))
		return (FERRY_EINVAL);
	/* The key request (roster_request_make) would refuse it later. */
	if (name != NULL && !wire_text_ok((const uint8_t *)name, strlen(name)))
		return (FERRY_EBADVALUE);
	return (0);
}

int
ident_generate(const char *id, uint32_t kind, const char *name,
    uint64_t now, uint64_t validity_ms, struct ident **out)
{
	struct ident *ident;
	int rc;

	*out = NULL;
	if ((rc = meta_check(id, kind, name)) != 0)
		return (rc);
	if (validity_ms == 0 || now > UINT64_MAX - validity_ms)
		return (FERRY_EINVAL);
	if ((ident = ident_alloc()) == NULL)
		return (FERRY_ENOMEM);
	memcpy(ident->id, id, strlen(id) + 1);
	ident->kind = kind;
	if (name != NULL)
		memcpy(ident->name, name, strlen(name) + 1);
	rc = FERRY_ESODIUM;
	if (crypto_sign_keypair(ident->sign_pk, ident->sign_sk) != 0 ||
	    crypto_box_keypair(ident->curve_pk, ident->curve_sk) != 0)
		goto err;
	if ((rc = enckey_new(&ident->enc[0], 1, now, now + validity_ms)) != 0)
		goto err;
	ident->nenc = 1;
	if ((rc = ident_enckey_sign(ident->sign_sk, ident->id,
	    &ident->enc[0])) != 0)
		goto err;
	*out = ident;
	return (0);
err:
	ident_free(ident);
	return (rc);
}

/* A msgpack sink writing into fixed (sodium_malloc'd) memory, so that
 * secrets are never copied into a growing malloc'd buffer. */
struct sink {
	uint8_t *p;
	size_t cap, len;
};

static int
sink_write(void *data, const char *buf, size_t len)
{
	struct sink *s = data;

	if (len > s->cap - s->len)
		return (-1);
	memcpy(s->p + s->len, buf, len);
	s->len += len;
	return (0);
}

/* Encode the secret key map (docs/protocol.md 2.2) into ${s}. */
static int
pack_keys(const struct ident *ident, struct sink *s)
{
	msgpack_packer pk;
	size_t i, nl = strlen(ident->name), il = strlen(ident->id);
	int bad = 0;

	msgpack_packer_init(&pk, s, sink_write);
	bad |= msgpack_pack_map(&pk, 6);
	bad |= msgpack_pack_uint64(&pk, 1);
	bad |= msgpack_pack_str_with_body(&pk, ident->id, il);
	bad |= msgpack_pack_uint64(&pk, 2);
	bad |= msgpack_pack_uint64(&pk, ident->kind);
	bad |= msgpack_pack_uint64(&pk, 3);
	bad |= msgpack_pack_str_with_body(&pk, ident->name, nl);
	bad |= msgpack_pack_uint64(&pk, 4);
	/* The Ed25519 seed: the first half of libsodium's secret key. */
	bad |= msgpack_pack_bin_with_body(&pk, ident->sign_sk, 32);
	bad |= msgpack_pack_uint64(&pk, 5);
	bad |= msgpack_pack_bin_with_body(&pk, ident->curve_sk, 32);
	bad |= msgpack_pack_uint64(&pk, 6);
	bad |= msgpack_pack_array(&pk, ident->nenc);
	for (i = 0; i < ident->nenc; i++) {
		const struct ident_enckey *k = &ident->enc[i];

		bad |= msgpack_pack_map(&pk, 4);
		bad |= msgpack_pack_uint64(&pk, 1);
		bad |= msgpack_pack_uint64(&pk, k->key_id);
		bad |= msgpack_pack_uint64(&pk, 2);
		bad |= msgpack_pack_bin_with_body(&pk, k->sk, 32);
		bad |= msgpack_pack_uint64(&pk, 3);
		bad |= msgpack_pack_uint64(&pk, k->not_before);
		bad |= msgpack_pack_uint64(&pk, 4);
		bad |= msgpack_pack_uint64(&pk, k->not_after);
	}
	return (bad ? FERRY_EINTERNAL : 0);
}

static int
save(const struct ident *ident, const char *path, const char *passphrase,
    int replace)
{
	struct stat st;
	struct sink keys = { NULL, SECBUF, 0 }, file = { NULL, SECBUF, 0 };
	struct wire_buf hw;
	msgpack_packer pk;
	uint8_t *hdr = NULL, *ct = NULL, *dk = NULL;
	uint8_t salt[crypto_pwhash_SALTBYTES];
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	size_t hlen = 0;
	unsigned long long ctlen;
	int rc, bad = 0;

	wire_buf_init(&hw);
	if (ident == NULL || path == NULL) {
		wire_buf_free(&hw);
		return (FERRY_EINVAL);
	}
	/* An early answer that spares the key derivation; the write itself
	 * (ferry_write_file_new) is what refuses atomically. */
	if (!replace && lstat(path, &st) == 0) {
		wire_buf_free(&hw);
		return (FERRY_EEXIST);
	}
	rc = FERRY_ENOMEM;
	if ((keys.p = sodium_malloc(SECBUF)) == NULL ||
	    (file.p = sodium_malloc(SECBUF)) == NULL ||
	    (ct = sodium_malloc(SECBUF)) == NULL ||
	    (dk = sodium_malloc(32)) == NULL)
		goto done;
	if ((rc = pack_keys(ident, &keys)) != 0)
		goto done;

	/* The header: format, protection and, when sealed, the KDF. */
	if (passphrase == NULL) {
		wire_put_map(&hw, 2);
		wire_put_uint(&hw, 1);
		wire_put_cstr(&hw, KEYFILE_FORMAT);
		wire_put_uint(&hw, 2);
		wire_put_uint(&hw, KEYFILE_PLAIN);
	} else {
		randombytes_buf(salt, sizeof(salt));
		randombytes_buf(nonce, sizeof(nonce));
		wire_put_map(&hw, 7);
		wire_put_uint(&hw, 1);
		wire_put_cstr(&hw, KEYFILE_FORMAT);
		wire_put_uint(&hw, 2);
		wire_put_uint(&hw, KEYFILE_SEALED);
		wire_put_uint(&hw, 3);
		wire_put_uint(&hw, crypto_pwhash_ALG_ARGON2ID13);
		wire_put_uint(&hw, 4);
		wire_put_uint(&hw, crypto_pwhash_OPSLIMIT_INTERACTIVE);
		wire_put_uint(&hw, 5);
		wire_put_uint(&hw, crypto_pwhash_MEMLIMIT_INTERACTIVE);
		wire_put_uint(&hw, 6);
		wire_put_bin(&hw, salt, sizeof(salt));
		wire_put_uint(&hw, 7);
		wire_put_bin(&hw, nonce, sizeof(nonce));
	}
	if ((rc = wire_buf_take(&hw, &hdr, &hlen)) != 0)
		goto done;
	if (passphrase != NULL) {
		if (crypto_pwhash(dk, 32, passphrase, strlen(passphrase), salt,
		    crypto_pwhash_OPSLIMIT_INTERACTIVE,
		    crypto_pwhash_MEMLIMIT_INTERACTIVE,
		    crypto_pwhash_ALG_ARGON2ID13) != 0) {
			rc = FERRY_ENOMEM;
			goto done;
		}
		if (keys.len + crypto_aead_xchacha20poly1305_ietf_ABYTES >
		    SECBUF) {
			rc = FERRY_EINTERNAL;
			goto done;
		}
		if (crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen,
		    keys.p, keys.len, hdr, hlen, NULL, nonce, dk) != 0) {
			rc = FERRY_ESODIUM;
			goto done;
		}
	}
	msgpack_packer_init(&pk, &file, sink_write);
	bad |= msgpack_pack_map(&pk, 2);
	bad |= msgpack_pack_uint64(&pk, 1);
	bad |= msgpack_pack_bin_with_body(&pk, hdr, hlen);
	bad |= msgpack_pack_uint64(&pk, 2);
	if (passphrase != NULL)
		bad |= msgpack_pack_bin_with_body(&pk, ct, (size_t)ctlen);
	else
		bad |= msgpack_pack_bin_with_body(&pk, keys.p, keys.len);
	if (bad) {
		rc = FERRY_EINTERNAL;
		goto done;
	}
	rc = replace ? ferry_write_file_owned(path, file.p, file.len, 0600) :
	    ferry_write_file_new(path, file.p, file.len, 0600);
done:
	wire_buf_free(&hw);
	free(hdr);
	if (keys.p != NULL)
		sodium_free(keys.p);
	if (file.p != NULL)
		sodium_free(file.p);
	if (ct != NULL)
		sodium_free(ct);
	if (dk != NULL)
		sodium_free(dk);
	return (rc);
}

int
ident_save(const struct ident *ident, const char *path,
    const char *passphrase)
{

	return (save(ident, path, passphrase, 0));
}

int
ident_save_replace(const struct ident *ident, const char *path,
    const char *passphrase)
{

	return (save(ident, path, passphrase, 1));
}

static const struct wire_field file_spec[] = {
	{ 1, WIRE_BIN, 1, 1, 1024 },
	{ 2, WIRE_BIN, 1, 1, SECBUF },
};
static const struct wire_field hdr_spec[] = {
	{ 1, WIRE_STR, 1, 1, 64 },
	{ 2, WIRE_UINT, 1, KEYFILE_PLAIN, KEYFILE_SEALED },
	{ 3, WIRE_UINT, 0, 0, UINT32_MAX },
	{ 4, WIRE_UINT, 0, 0, UINT64_MAX },
	{ 5, WIRE_UINT, 0, 0, UINT64_MAX },
	{ 6, WIRE_BIN, 0, crypto_pwhash_SALTBYTES, crypto_pwhash_SALTBYTES },
	{ 7, WIRE_BIN, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES },
};
static const struct wire_field keys_spec[] = {
	{ 1, WIRE_STR, 1, 1, FERRY_ID_MAX },
	{ 2, WIRE_UINT, 1, 1, IDENT_RELAY },
	{ 3, WIRE_STR, 1, 0, FERRY_NAME_MAX },
	{ 4, WIRE_BIN, 1, 32, 32 },
	{ 5, WIRE_BIN, 1, 32, 32 },
	{ 6, WIRE_ARRAY, 1, 1, IDENT_MAX_ENC },
};
static const struct wire_field enc_spec[] = {
	{ 1, WIRE_UINT, 1, 1, UINT32_MAX },
	{ 2, WIRE_BIN, 1, 32, 32 },
	{ 3, WIRE_UINT, 1, 0, UINT64_MAX },
	{ 4, WIRE_UINT, 1, 0, UINT64_MAX },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Rebuild an identity from the plaintext key map in ${buf}. */
static int
unpack_keys(const uint8_t *buf, size_t len, struct ident **out)
{
	struct wire_doc doc;
	const msgpack_object *f[NELEM(keys_spec)], *g[NELEM(enc_spec)];
	struct ident *ident = NULL;
	uint8_t *seed = NULL;
	size_t i;
	int rc;

	*out = NULL;
	if (wire_parse(buf, len, 3, &doc) != 0)
		return (FERRY_EBADKEYFILE);
	rc = FERRY_EBADKEYFILE;
	if (wire_map_read(&doc.root, keys_spec, NELEM(keys_spec), f) != 0)
		goto done;
	rc = FERRY_ENOMEM;
	if ((ident = ident_alloc()) == NULL ||
	    (seed = sodium_malloc(32)) == NULL)
		goto done;
	rc = FERRY_EBADKEYFILE;
	if (wire_str_copy(f[0], ident->id, sizeof(ident->id)) != 0 ||
	    !ferry_id_valid(ident->id, strlen(ident->id)) ||
	    strlen(ident->id) != f[0]->via.str.size)
		goto done;
	ident->kind = (uint32_t)f[1]->via.u64;
	if (wire_str_copy(f[2], ident->name, sizeof(ident->name)) != 0 ||
	    strlen(ident->name) != f[2]->via.str.size)
		goto done;
	if (wire_bin_copy(f[3], seed, 32) != 0 ||
	    wire_bin_copy(f[4], ident->curve_sk, 32) != 0)
		goto done;
	/* Rebuild the signing pair from its seed (never trust a stored
	 * public half), and the X25519 public keys from the secrets. */
	if (crypto_sign_seed_keypair(ident->sign_pk, ident->sign_sk,
	    seed) != 0 ||
	    crypto_scalarmult_base(ident->curve_pk, ident->curve_sk) != 0) {
		rc = FERRY_ESODIUM;
		goto done;
	}
	for (i = 0; i < f[5]->via.array.size; i++) {
		struct ident_enckey *k = &ident->enc[i];
		size_t j;

		if (wire_map_read(&f[5]->via.array.ptr[i], enc_spec,
		    NELEM(enc_spec), g) != 0)
			goto done;
		if ((k->sk = sodium_malloc(32)) == NULL) {
			rc = FERRY_ENOMEM;
			goto done;
		}
		ident->nenc = i + 1;
		k->key_id = (uint32_t)g[0]->via.u64;
		k->not_before = g[2]->via.u64;
		k->not_after = g[3]->via.u64;
		if (wire_bin_copy(g[1], k->sk, 32) != 0)
			goto done;
		/* Key ids are unique and listed newest first. */
		for (j = 0; j < i; j++)
			if (ident->enc[j].key_id <= k->key_id)
				goto done;
		if (crypto_scalarmult_base(k->pk, k->sk) != 0) {
			rc = FERRY_ESODIUM;
			goto done;
		}
		/* Ed25519 is deterministic: re-signing reproduces the
		 * signature published in the roster. */
		if ((rc = ident_enckey_sign(ident->sign_sk, ident->id,
		    k)) != 0)
			goto done;
		rc = FERRY_EBADKEYFILE;
	}
	*out = ident;
	ident = NULL;
	rc = 0;
done:
	if (seed != NULL)
		sodium_free(seed);
	ident_free(ident);
	wire_doc_free(&doc);
	return (rc);
}

/* Parse the outer file map and its header; pointers borrow from ${buf}. */
static int
read_outer(const uint8_t *buf, size_t len, struct wire_doc *doc,
    struct wire_doc *hdoc, const msgpack_object **h,
    const uint8_t **hdr, size_t *hlen, const uint8_t **body, size_t *blen)
{
	const msgpack_object *f[NELEM(file_spec)];

	hdoc->live = 0;
	if (wire_parse(buf, len, 1, doc) != 0)
		return (FERRY_EBADKEYFILE);
	if (wire_map_read(&doc->root, file_spec, NELEM(file_spec), f) != 0)
		goto bad;
	*hdr = wire_bin(f[0], hlen);
	*body = wire_bin(f[1], blen);
	if (wire_parse(*hdr, *hlen, 1, hdoc) != 0)
		goto bad;
	if (wire_map_read(&hdoc->root, hdr_spec, NELEM(hdr_spec), h) != 0 ||
	    h[0]->via.str.size != strlen(KEYFILE_FORMAT) ||
	    memcmp(h[0]->via.str.ptr, KEYFILE_FORMAT,
	    strlen(KEYFILE_FORMAT)) != 0)
		goto bad;
	if (h[1]->via.u64 == KEYFILE_PLAIN) {
		if (h[2] != NULL || h[3] != NULL || h[4] != NULL ||
		    h[5] != NULL || h[6] != NULL)
			goto bad;
	} else {
		if (h[2] == NULL || h[3] == NULL || h[4] == NULL ||
		    h[5] == NULL || h[6] == NULL)
			goto bad;
		if (h[2]->via.u64 != crypto_pwhash_ALG_ARGON2ID13 ||
		    h[3]->via.u64 < crypto_pwhash_OPSLIMIT_MIN ||
		    h[3]->via.u64 > PW_OPS_MAX ||
		    h[4]->via.u64 < crypto_pwhash_MEMLIMIT_MIN ||
		    h[4]->via.u64 > PW_MEM_MAX)
			goto bad;
	}
	return (0);
bad:
	wire_doc_free(hdoc);
	wire_doc_free(doc);
	return (FERRY_EBADKEYFILE);
}

int
ident_load(const char *path, const char *passphrase, struct ident **out)
{
	struct wire_doc doc, hdoc;
	const msgpack_object *h[NELEM(hdr_spec)];
	const uint8_t *hdr, *body;
	uint8_t *buf = NULL, *pt = NULL, *dk = NULL;
	size_t len, hlen, blen, salt_len;
	unsigned long long ptlen;
	int rc;

	*out = NULL;
	if (path == NULL)
		return (FERRY_EINVAL);
	if ((rc = ferry_read_file(path, KEYFILE_MAX, &buf, &len, 1)) != 0)
		return (rc == FERRY_ETOOBIG ? FERRY_EBADKEYFILE : rc);
	if ((rc = read_outer(buf, len, &doc, &hdoc, h, &hdr, &hlen, &body,
	    &blen)) != 0)
		goto done0;
	if (h[1]->via.u64 == KEYFILE_PLAIN) {
		rc = unpack_keys(body, blen, out);
		goto done;
	}
	if (passphrase == NULL) {
		rc = FERRY_ENOPASSPHRASE;
		goto done;
	}
	rc = FERRY_ENOMEM;
	if ((pt = sodium_malloc(blen)) == NULL ||
	    (dk = sodium_malloc(32)) == NULL)
		goto done;
	if (blen < crypto_aead_xchacha20poly1305_ietf_ABYTES) {
		rc = FERRY_EBADKEYFILE;
		goto done;
	}
	if (crypto_pwhash(dk, 32, passphrase, strlen(passphrase),
	    wire_bin(h[5], &salt_len), h[3]->via.u64, (size_t)h[4]->via.u64,
	    crypto_pwhash_ALG_ARGON2ID13) != 0) {
		rc = FERRY_ENOMEM;
		goto done;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptlen, NULL,
	    body, blen, hdr, hlen, (const uint8_t *)h[6]->via.bin.ptr,
	    dk) != 0) {
		rc = FERRY_EPASSPHRASE;
		goto done;
	}
	rc = unpack_keys(pt, (size_t)ptlen, out);
done:
	wire_doc_free(&hdoc);
	wire_doc_free(&doc);
done0:
	if (pt != NULL)
		sodium_free(pt);
	if (dk != NULL)
		sodium_free(dk);
	sodium_free(buf);
	return (rc);
}

void
ident_load_why(int rc, const char *path, char *out, size_t cap)
{
	struct stat st;
	char who[64];

	switch (rc) {
	case FERRY_EPERM:
		if (stat(path, &st) == 0)
			snprintf(out, cap, "key file %s is readable by group or "
			    "others (mode %04o): chmod 600 %s", path,
			    (unsigned)(st.st_mode & 07777), path);
		else
			snprintf(out, cap, "key file %s is readable by group or "
			    "others: chmod 600 %s", path, path);
		return;
	case FERRY_EACCES:
		if (ferry_owner(path, who, sizeof(who)) == 0)
			snprintf(out, cap, "key file %s may not be read by this "
			    "user (it, or its folder, belongs to %s): run as "
			    "that user", path, who);
		else
			snprintf(out, cap, "key file %s may not be read by this "
			    "user (permission denied on it or its folder): "
			    "run as the user that owns it", path);
		return;
	case FERRY_ENOPASSPHRASE:
		snprintf(out, cap, "key file %s is sealed with a passphrase, "
		    "and none was given", path);
		return;
	case FERRY_EPASSPHRASE:
		snprintf(out, cap, "key file %s: wrong passphrase (or the file "
		    "was altered)", path);
		return;
	case FERRY_ENOENT:
		snprintf(out, cap, "key file %s does not exist", path);
		return;
	}
	snprintf(out, cap, "key file %s: %s", path, ferry_strerror(rc));
}

int
ident_is_sealed(const char *path)
{
	struct wire_doc doc, hdoc;
	const msgpack_object *h[NELEM(hdr_spec)];
	const uint8_t *hdr, *body;
	uint8_t *buf;
	size_t len, hlen, blen;
	int rc;

	if (path == NULL)
		return (FERRY_EINVAL);
	if ((rc = ferry_read_file(path, KEYFILE_MAX, &buf, &len, 1)) != 0)
		return (rc == FERRY_ETOOBIG ? FERRY_EBADKEYFILE : rc);
	if ((rc = read_outer(buf, len, &doc, &hdoc, h, &hdr, &hlen, &body,
	    &blen)) == 0) {
		rc = h[1]->via.u64 == KEYFILE_SEALED;
		wire_doc_free(&hdoc);
		wire_doc_free(&doc);
	}
	sodium_free(buf);
	return (rc);
}

int
ident_rotate(struct ident *ident, uint64_t now, uint64_t validity_ms,
    uint64_t overlap_ms)
{
	struct ident_enckey nk, keep[IDENT_MAX_ENC];
	size_t i, n = 0;
	uint64_t old_na;
	int rc;

	if (ident == NULL || ident->nenc == 0 || validity_ms == 0 ||
	    now > UINT64_MAX - validity_ms || now > UINT64_MAX - overlap_ms)
		return (FERRY_EINVAL);
	if (ident->enc[0].key_id == UINT32_MAX)
		return (FERRY_EINVAL);
	/* Count the keys that survive: the old current one (its window now
	 * ends at now + overlap) and older ones not yet past not_after. */
	for (i = 1; i < ident->nenc; i++)
		if (ident->enc[i].not_after >= now)
			n++;
	if (n + 2 > IDENT_MAX_ENC)
		return (FERRY_ENOSPC);
	if ((rc = enckey_new(&nk, ident->enc[0].key_id + 1, now,
	    now + validity_ms)) != 0)
		return (rc);
	if ((rc = ident_enckey_sign(ident->sign_sk, ident->id, &nk)) != 0)
		goto err;
	old_na = ident->enc[0].not_after;
	ident->enc[0].not_after = now + overlap_ms;
	if ((rc = ident_enckey_sign(ident->sign_sk, ident->id,
	    &ident->enc[0])) != 0) {
		ident->enc[0].not_after = old_na;
		goto err;
	}
	n = 0;
	keep[n++] = nk;
	for (i = 0; i < ident->nenc; i++) {
		if (i == 0 || ident->enc[i].not_after >= now)
			keep[n++] = ident->enc[i];
		else
			sodium_free(ident->enc[i].sk);
	}
	memset(ident->enc, 0, sizeof(ident->enc));
	memcpy(ident->enc, keep, n * sizeof(keep[0]));
	ident->nenc = n;
	sodium_memzero(keep, sizeof(keep));
	return (0);
err:
	sodium_free(nk.sk);
	return (rc);
}

const struct ident_enckey *
ident_enc_find(const struct ident *ident, uint32_t key_id)
{
	size_t i;

	if (ident == NULL)
		return (NULL);
	for (i = 0; i < ident->nenc; i++)
		if (ident->enc[i].key_id == key_id)
			return (&ident->enc[i]);
	return (NULL);
}

/* The canonical array an encryption key's signature covers. */
static int
enckey_bytes(const char *id, uint32_t key_id, const uint8_t pk[32],
    uint64_t nb, uint64_t na, uint8_t **out, size_t *len)
{
	struct wire_buf w;

	wire_buf_init(&w);
	wire_put_array(&w, 5);
	wire_put_cstr(&w, id);
	wire_put_uint(&w, key_id);
	wire_put_bin(&w, pk, 32);
	wire_put_uint(&w, nb);
	wire_put_uint(&w, na);
	return (wire_buf_take(&w, out, len));
}

int
ident_enckey_sign(const uint8_t sign_sk[64], const char *id,
    struct ident_enckey *k)
{
	uint8_t *b;
	size_t len;
	int rc;

	if (id == NULL || !ferry_id_valid(id, strlen(id)))
		return (FERRY_EBADID);
	if ((rc = enckey_bytes(id, k->key_id, k->pk, k->not_before,
	    k->not_after, &b, &len)) != 0)
		return (rc);
	rc = ident_sign(sign_sk, ENCKEY_TAG, b, len, k->sig);
	free(b);
	return (rc);
}

int
ident_enckey_verify(const uint8_t sign_pk[32], const char *id,
    uint32_t key_id, const uint8_t pk[32], uint64_t not_before,
    uint64_t not_after, const uint8_t sig[64])
{
	uint8_t *b;
	size_t len;
	int rc;

	if (id == NULL || !ferry_id_valid(id, strlen(id)))
		return (FERRY_EBADID);
	if ((rc = enckey_bytes(id, key_id, pk, not_before, not_after, &b,
	    &len)) != 0)
		return (rc);
	rc = ident_verify(sign_pk, ENCKEY_TAG, b, len, sig);
	free(b);
	return (rc);
}

void
ident_fingerprint(const uint8_t *data, size_t len, char out[IDENT_FP_LEN])
{
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];
	size_t i, o = 0;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)FP_TAG,
	    strlen(FP_TAG) + 1);
	crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, h);
	/* 8 groups of 4 hash bytes, each shown as 5 decimal digits. */
	for (i = 0; i < 8; i++) {
		uint32_t v = ((uint32_t)h[4 * i] << 24) |
		    ((uint32_t)h[4 * i + 1] << 16) |
		    ((uint32_t)h[4 * i + 2] << 8) | h[4 * i + 3];

		snprintf(out + o, IDENT_FP_LEN - o, i ? " %05u" : "%05u",
		    (unsigned)(v % 100000));
		o += i ? 6 : 5;
	}
}

/*
 * tag || 0x00 || msg, in a buffer of this thread's kept from call to call
 * when it fits in TAG_KEEP bytes (freed at the thread's exit), else in a
 * new one: a malloc and free of an envelope's size per signature check
 * cost a recipient ~1.3 % of its CPU in malloc_consolidate and friends.
 * Signed bytes are not secret: nothing is wiped.
 */
#define TAG_KEEP (256u * 1024)

struct tagbuf {
	uint8_t *b;
	size_t cap;
	int keyed;		/* registered with tag_key (freed at exit) */
};

static __thread struct tagbuf tagbuf;
static pthread_key_t tag_key;
static pthread_once_t tag_once = PTHREAD_ONCE_INIT;
static int tag_key_ok;

static void
tag_free(void *p)
{
	struct tagbuf *t = p;

	free(t->b);
	t->b = NULL;
	t->cap = 0;
}

static void
tag_key_init(void)
{

	tag_key_ok = pthread_key_create(&tag_key, tag_free) == 0;
}

/* The buffer for ${n} bytes; *${own}: the caller frees it (tag_done). */
static uint8_t *
tag_get(size_t n, int *own)
{
	struct tagbuf *t = &tagbuf;
	uint8_t *b;

	*own = 1;
	if (n > TAG_KEEP)
		return (malloc(n));
	if (!t->keyed) {
		(void)pthread_once(&tag_once, tag_key_init);
		if (!tag_key_ok || pthread_setspecific(tag_key, t) != 0)
			return (malloc(n));
		t->keyed = 1;
	}
	if (n > t->cap) {
		if ((b = realloc(t->b, n)) == NULL)
			return (NULL);
		t->b = b;
		t->cap = n;
	}
	*own = 0;
	return (t->b);
}

static uint8_t *
tagged(const char *tag, const uint8_t *msg, size_t len, size_t *tlen,
    int *own)
{
	size_t t = strlen(tag) + 1;
	uint8_t *b;

	if (len > SIZE_MAX - t || (b = tag_get(t + len, own)) == NULL)
		return (NULL);
	memcpy(b, tag, t);
	if (len > 0)
		memcpy(b + t, msg, len);
	*tlen = t + len;
	return (b);
}

static void
tag_done(uint8_t *b, int own)
{

	if (own)
		free(b);
}

int
ident_sign(const uint8_t sk[64], const char *tag, const uint8_t *msg,
    size_t len, uint8_t sig[64])
{
	uint8_t *b;
	size_t blen;
	int own, rc = 0;

	if (sk == NULL || tag == NULL || (msg == NULL && len > 0))
		return (FERRY_EINVAL);
	if ((b = tagged(tag, msg, len, &blen, &own)) == NULL)
		return (FERRY_ENOMEM);
	if (crypto_sign_detached(sig, NULL, b, blen, sk) != 0)
		rc = FERRY_ESODIUM;
	tag_done(b, own);
	return (rc);
}

int
ident_verify(const uint8_t pk[32], const char *tag, const uint8_t *msg,
    size_t len, const uint8_t sig[64])
{
	uint8_t *b;
	size_t blen;
	int own, rc = 0;

	if (pk == NULL || tag == NULL || (msg == NULL && len > 0))
		return (FERRY_EINVAL);
	if ((b = tagged(tag, msg, len, &blen, &own)) == NULL)
		return (FERRY_ENOMEM);
	if (crypto_sign_verify_detached(sig, b, blen, pk) != 0)
		rc = FERRY_EBADSIG;
	tag_done(b, own);
	return (rc);
}

int
ident_is_keyfile(const uint8_t *buf, size_t len)
{
	struct wire_doc doc, hdoc;
	const msgpack_object *h[NELEM(hdr_spec)];
	const uint8_t *hdr, *body;
	size_t hlen, blen;

	if (buf == NULL || len == 0 || len > KEYFILE_MAX)
		return (0);
	if (read_outer(buf, len, &doc, &hdoc, h, &hdr, &hlen, &body,
	    &blen) != 0)
		return (0);
	wire_doc_free(&hdoc);
	wire_doc_free(&doc);
	return (1);
}

size_t
ident_passphrase_len(const char *s, size_t n)
{
	size_t len = 0;

	while (len < n && s[len] != '\n' && s[len] != '\r' && s[len] != '\0')
		len++;
	return (len);
}

int
ident_passphrase_parse(const char *s, size_t n, char **out)
{
	size_t len;
	char *p;

	*out = NULL;
	if ((len = ident_passphrase_len(s, n)) == 0)
		return (FERRY_EINVAL);
	if (len >= IDENT_PASS_MAX)
		return (FERRY_ETOOBIG);
	if ((p = sodium_malloc(len + 1)) == NULL)
		return (FERRY_ENOMEM);
	memcpy(p, s, len);
	p[len] = '\0';
	*out = p;
	return (0);
}

int
ident_passphrase_read(const char *path, char **out)
{
	uint8_t *buf;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = ferry_read_file(path, IDENT_PASS_FILE_MAX, &buf, &len,
	    FERRY_READ_SECRET)) != 0)
		return (rc);
	rc = ident_passphrase_parse((const char *)buf, len, out);
	sodium_memzero(buf, len);
	sodium_free(buf);
	return (rc);
}

void
ident_passphrase_free(char *p)
{

	if (p == NULL)
		return;
	sodium_memzero(p, strlen(p));
	sodium_free(p);
}
