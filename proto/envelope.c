/*
 * envelope.c: encode, strictly decode, sign, verify, seal and open
 * envelopes (envelope.h; docs/protocol.md section 3).
 *
 * Large bodies are handled without needless copies: the output buffer is
 * allocated once, the padded plaintext written where the ciphertext goes
 * and encrypted in place, the domain tag placed just before the inner map
 * so one Ed25519 call signs tag || 0x00 || inner, and the outer array
 * header then written over the tag's tail and moved to the front.
 */
#include "envelope.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <sodium.h>

#include "bytes.h"
#include "note.h"
#include "wire.h"

#define AD_TAG "ferry-msg-ad/v1"
#define ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define ENV_MAX_FIELDS 32	/* map entries allowed before unpacking */
#define ENV_HDR_SLACK 1024	/* envelope bytes besides its ct or blob */
/* Encoded fixed fields of an envelope or an AD (two ids at most
 * FERRY_ID_MAX bytes, ids, hashes, wrapped key, nonce, numbers): the
 * first allocation of their buffer, instead of msgpack-c's 8 KiB. */
#define ENV_FIELDS_CAP (384 + 2 * FERRY_ID_MAX)
#define ENV_BODY_ABS_MAX (1024u * 1024 * 1024)	/* largest max_body */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *name;
	const char *tag;
} types[] = {
	{ NULL, NULL },
	{ "MSG", "ferry-envelope/v1" },
	{ "RECEIPT", "ferry-receipt/v1" },
	{ "ACCEPTED", "ferry-accepted/v1" },
	{ "NACK", "ferry-nack/v1" },
	{ "HELLO", "ferry-hello/v1" },
	{ "CREDIT", "ferry-credit/v1" },
	{ "HEARTBEAT", "ferry-heartbeat/v1" },
	{ "ROSTER", "ferry-roster-push/v1" },
	{ "CHECKPOINT", "ferry-checkpoint/v1" },
	{ "ASK", "ferry-ask/v1" },
	/* Never signed: the tags of the proof types only name them. */
	{ "RECEIPT_P", "ferry-receipt-proof/v1" },
	{ "ACCEPTED_P", "ferry-accepted-proof/v1" },
};

static uint64_t n_signs, n_verifies;

/** env_counts(signs, verifies): envelope signatures made and checked. */
void
env_counts(uint64_t *signs, uint64_t *verifies)
{

	if (signs != NULL)
		*signs = __atomic_load_n(&n_signs, __ATOMIC_RELAXED);
	if (verifies != NULL)
		*verifies = __atomic_load_n(&n_verifies, __ATOMIC_RELAXED);
}

const char *
env_type_name(uint32_t type)
{

	if (type < 1 || type >= NELEM(types))
		return (NULL);
	return (types[type].name);
}

const char *
env_tag(uint32_t type)
{

	if (type < 1 || type >= NELEM(types))
		return (NULL);
	return (types[type].tag);
}

/* The canonical msgpack bin header for ${n} bytes; returns its length. */
static size_t
binhdr(uint8_t out[5], size_t n)
{

	if (n < 0x100) {
		out[0] = 0xc4;
		out[1] = (uint8_t)n;
		return (2);
	} else if (n < 0x10000) {
		out[0] = 0xc5;
		out[1] = (uint8_t)(n >> 8);
		out[2] = (uint8_t)n;
		return (3);
	}
	out[0] = 0xc6;
	out[1] = (uint8_t)(n >> 24);
	out[2] = (uint8_t)(n >> 16);
	out[3] = (uint8_t)(n >> 8);
	out[4] = (uint8_t)n;
	return (5);
}

/* Encoded plaintext [C (bin 32), content (bin n)] length. */
static size_t
plain_len(size_t n)
{
	uint8_t h[5];

	return (1 + 2 + 32 + binhdr(h, n) + n);
}

size_t
env_bucket(size_t len)
{
	size_t b = 1024;

	if (len >= SIZE_MAX / 2)
		return (0);
	while (b < len + 1)
		b <<= 1;
	return (b);
}

/*
 * ISO/IEC 7816-4 padding of a whole bucket, the bytes sodium_pad and
 * sodium_unpad (block size = bucket) make and accept, without their
 * byte-at-a-time loops (~20 us per 8 KiB bucket each, 1.35 % of the CPU
 * of a busy network).  The sender knows its own length: a plain memset.
 */
void
env_pad(uint8_t *buf, size_t len, size_t bucket)
{

	buf[len] = 0x80;
	memset(buf + len + 1, 0, bucket - len - 1);
}

/*
 * Unpadding stays constant-time, a word at a time (~1 us per 8 KiB): one
 * pass over every word of the bucket keeps, by masks and without a
 * branch on the data, the last nonzero word and its index; that word,
 * in a register, gives the last nonzero byte, which must be 0x80.  A
 * bucket that is not a multiple of 8 bytes (only a crafted ciphertext
 * has one) goes to sodium_unpad.
 */
int
env_unpad(const uint8_t *buf, size_t bucket, size_t *ul)
{
	const uint64_t lo7 = 0x7f7f7f7f7f7f7f7fULL;
	const uint64_t hi = 0x8080808080808080ULL;
	const uint64_t ones = 0x0101010101010101ULL;
	uint64_t w, m, t, s, idx, b, last = 0, lw = 0, any = 0;
	size_t j;

	if (bucket == 0 || bucket % 8 != 0)
		return (sodium_unpad(ul, buf, bucket, bucket) != 0 ?
		    FERRY_EPADDING : 0);
	for (j = 0; j < bucket / 8; j++) {
		memcpy(&w, buf + 8 * j, 8);
		m = (w | (0 - w)) >> 63;	/* 1: a nonzero word */
		any |= m;
		m = 0 - m;
		last = (last & ~m) | ((uint64_t)j & m);
		lw = (lw & ~m) | (w & m);
	}
	w = le64toh(lw);		/* byte k is buf[8 * last + k] */
	t = (((w & lo7) + lo7) | w) & hi;	/* 0x80 in each nonzero byte */
	s = t | (t >> 8);
	s |= s >> 16;
	s |= s >> 32;			/* ... and in every byte below them */
	idx = ((((s & hi) >> 7) * ones) >> 56) - any;	/* last nonzero */
	b = (w >> (8 * idx)) & 0xff;
	if (((((b ^ 0x80) - 1) >> 63) & any) != 1)
		return (FERRY_EPADDING);
	*ul = 8 * last + idx;
	return (0);
}

/* Largest ciphertext a body of ${max_body} bytes can produce. */
static size_t
ct_max(size_t max_body)
{

	return (env_bucket(plain_len(max_body)) + ABYTES);
}

/* Largest envelope accepted for ${max_body}: the larger of a MSG at
 * max_body and a blob-carrying type at ENV_BLOB_MAX, plus the fields. */
static size_t
frame_max(size_t max_body)
{
	size_t m = ct_max(max_body);

	if (m < ENV_BLOB_MAX)
		m = ENV_BLOB_MAX;
	return (m + ENV_HDR_SLACK);
}

/* Read the bin at buf[*pos] (already checked canonical by wire_scan). */
static int
bin_at(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **p,
    size_t *n)
{
	size_t h;
	uint64_t v;

	if (*pos >= len)
		return (FERRY_ETRUNCATED);
	switch (buf[*pos]) {
	case 0xc4:
		h = 1;
		break;
	case 0xc5:
		h = 2;
		break;
	case 0xc6:
		h = 4;
		break;
	default:
		return (FERRY_ETYPE);
	}
	if (len - *pos - 1 < h)
		return (FERRY_ETRUNCATED);
	v = bytes_be_get(buf + *pos + 1, h);
	if (v > len - *pos - 1 - h)
		return (FERRY_ETRUNCATED);
	*p = buf + *pos + 1 + h;
	*n = (size_t)v;
	*pos += 1 + h + (size_t)v;
	return (0);
}

/* Count of the array (${map} = 0) or map at buf[0]; FERRY_ETYPE if the
 * value there is something else.  The bytes passed wire_scan. */
static int
count_at(const uint8_t *buf, size_t len, int map, uint64_t *n)
{
	uint8_t c = buf[0];
	uint8_t fix = map ? 0x80 : 0x90, c16 = map ? 0xde : 0xdc;

	if (c >= fix && c <= fix + 0x0f) {
		*n = c & 0x0f;
		return (0);
	}
	if (c == c16 && len >= 3) {
		*n = bytes_be_get(buf + 1, 2);
		return (0);
	}
	if (c == c16 + 1 && len >= 5) {
		*n = bytes_be_get(buf + 1, 4);
		return (0);
	}
	return (FERRY_ETYPE);
}

/*
 * Schemas.  Every type starts with the six common fields; the type's own
 * fields use keys from 16.  Lengths that depend on max_body are checked
 * after wire_map_read.
 */
#define COMMON \
	{ 1, WIRE_UINT, 1, 1, 1 }, \
	{ 2, WIRE_UINT, 1, 1, ENV_ACCEPTED_P }, \
	{ 3, WIRE_BIN, 1, FERRY_MSGID_LEN, FERRY_MSGID_LEN }, \
	{ 4, WIRE_STR, 1, 0, FERRY_ID_MAX }, \
	{ 5, WIRE_STR, 1, 0, FERRY_ID_MAX }, \
	{ 6, WIRE_UINT, 1, 0, UINT64_MAX }
#define NCOMMON 6

static const struct wire_field spec_msg[] = {
	COMMON,
	{ 16, WIRE_UINT, 1, 1, UINT32_MAX },
	{ 17, WIRE_BIN, 1, ENV_WRAPPED_LEN, ENV_WRAPPED_LEN },
	{ 18, WIRE_BIN, 1, ENV_NONCE_LEN, ENV_NONCE_LEN },
	{ 19, WIRE_BIN, 1, 1024 + ABYTES, UINT64_MAX },
	{ 20, WIRE_BIN, 1, 32, 32 },
	{ 21, WIRE_BIN, 0, FERRY_MSGID_LEN, FERRY_MSGID_LEN },
};
static const struct wire_field spec_receipt[] = {
	COMMON,
	{ 16, WIRE_BIN, 1, FERRY_MSGID_LEN, FERRY_MSGID_LEN },
	{ 17, WIRE_BIN, 1, FERRY_HASH_LEN, FERRY_HASH_LEN },
	{ 18, WIRE_UINT, 1, 0, UINT64_MAX },
	{ 19, WIRE_UINT, 1, 0, UINT64_MAX },
	{ 20, WIRE_BIN, 0, 1, ENV_BLOB_MAX },
};
static const struct wire_field spec_proof[] = {
	COMMON,
	{ 16, WIRE_BIN, 1, FERRY_MSGID_LEN, FERRY_MSGID_LEN },
	{ 17, WIRE_BIN, 1, FERRY_HASH_LEN, FERRY_HASH_LEN },
	{ 18, WIRE_UINT, 1, 0, UINT64_MAX },
	{ 19, WIRE_UINT, 1, 0, UINT64_MAX },
	{ 20, WIRE_BIN, 1, 1, NOTE_MAX },
	{ 21, WIRE_BIN, 1, 1, ENV_ENTRY_MAX },
	{ 22, WIRE_BIN, 1, 0, ENV_PATH_MAX * 32 },
};
static const struct wire_field spec_nack[] = {
	COMMON,
	{ 16, WIRE_BIN, 1, FERRY_MSGID_LEN, FERRY_MSGID_LEN },
	{ 17, WIRE_BIN, 1, FERRY_HASH_LEN, FERRY_HASH_LEN },
	{ 18, WIRE_UINT, 1, 1, INT32_MAX },
	{ 19, WIRE_STR, 1, 0, ENV_REASON_MAX },
};
static const struct wire_field spec_ask[] = {
	COMMON,
	{ 16, WIRE_BIN, 1, FERRY_MSGID_LEN, FERRY_MSGID_LEN },
	{ 17, WIRE_BIN, 1, FERRY_HASH_LEN, FERRY_HASH_LEN },
};
static const struct wire_field spec_hello[] = {
	COMMON,
	{ 16, WIRE_UINT, 1, 0, UINT64_MAX },
	{ 17, WIRE_UINT, 1, 0, UINT64_MAX },
};
static const struct wire_field spec_credit[] = {
	COMMON,
	{ 16, WIRE_UINT, 1, 0, UINT64_MAX },
};
static const struct wire_field spec_heartbeat[] = {
	COMMON,
};
static const struct wire_field spec_blob[] = {
	COMMON,
	{ 16, WIRE_BIN, 1, 1, ENV_BLOB_MAX },
};

static const struct {
	const struct wire_field *spec;
	size_t n;
} specs[] = {
	{ NULL, 0 },
	{ spec_msg, NELEM(spec_msg) },
	{ spec_receipt, NELEM(spec_receipt) },
	{ spec_receipt, NELEM(spec_receipt) },
	{ spec_nack, NELEM(spec_nack) },
	{ spec_hello, NELEM(spec_hello) },
	{ spec_credit, NELEM(spec_credit) },
	{ spec_heartbeat, NELEM(spec_heartbeat) },
	{ spec_blob, NELEM(spec_blob) },
	{ spec_blob, NELEM(spec_blob) },
	{ spec_ask, NELEM(spec_ask) },
	{ spec_proof, NELEM(spec_proof) },
	{ spec_proof, NELEM(spec_proof) },
};

#define MAXSPEC 13

/* Version first, then type: so a future version with new fields is
 * named as such rather than as an unknown field. */
static int
version_type(const msgpack_object *root, uint32_t *type)
{
	const msgpack_object *ver = NULL, *typ = NULL;
	size_t i;

	for (i = 0; i < root->via.map.size; i++) {
		const msgpack_object_kv *kv = &root->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return (FERRY_ETYPE);
		if (kv->key.via.u64 == 1)
			ver = &kv->val;
		else if (kv->key.via.u64 == 2)
			typ = &kv->val;
	}
	if (ver == NULL)
		return (FERRY_EMISSING);
	if (ver->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (FERRY_ETYPE);
	if (ver->via.u64 != ENV_VERSION)
		return (FERRY_EVERSION);
	if (typ == NULL)
		return (FERRY_EMISSING);
	if (typ->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (FERRY_ETYPE);
	if (typ->via.u64 < 1 || typ->via.u64 >= NELEM(specs))
		return (FERRY_EMSGTYPE);
	*type = (uint32_t)typ->via.u64;
	return (0);
}

static int
id_copy(const msgpack_object *o, char *dst)
{
	int rc;

	if ((rc = wire_str_copy(o, dst, FERRY_ID_MAX + 1)) != 0)
		return (rc);
	if (!ferry_id_valid(dst, o->via.str.size) ||
	    strlen(dst) != o->via.str.size)
		return (FERRY_EBADID);
	return (0);
}

int
env_decode(const uint8_t *buf, size_t len, size_t max_body,
    struct env *e)
{
	struct wire_doc doc;
	const msgpack_object *f[MAXSPEC];
	const uint8_t *sig;
	size_t pos, siglen;
	uint64_t n, outer;
	uint32_t type;
	int rc;

	memset(e, 0, sizeof(*e));
	if (buf == NULL)
		return (FERRY_EINVAL);
	if (max_body == 0)
		max_body = FERRY_BODY_MAX_DEFAULT;
	else if (max_body > ENV_BODY_ABS_MAX)
		return (FERRY_EINVAL);
	/* The frame limit comes before anything reads the bytes. */
	if (len > frame_max(max_body))
		return (FERRY_ETOOBIG);

	/* Outer: [inner (bin), signature (bin 64)], or [inner] alone for
	 * the proof types (checked once the type is known), on the bytes. */
	if ((rc = wire_scan(buf, len, 1)) != 0)
		return (rc);
	if ((rc = count_at(buf, len, 0, &n)) != 0)
		return (rc);
	if (n < 1)
		return (FERRY_EMISSING);
	if (n > 2)
		return (FERRY_EUNKNOWNFIELD);
	outer = n;
	pos = 1;
	if ((rc = bin_at(buf, len, &pos, &e->inner, &e->inner_len)) != 0)
		return (rc);
	if (outer == 2) {
		if ((rc = bin_at(buf, len, &pos, &sig, &siglen)) != 0)
			return (rc);
		if (siglen != ENV_SIG_LEN)
			return (siglen > ENV_SIG_LEN ? FERRY_ETOOBIG :
			    FERRY_EBADVALUE);
		memcpy(e->sig, sig, ENV_SIG_LEN);
	}

	/* Inner: a flat map.  Its entry count is bounded before msgpack-c
	 * allocates one object per entry. */
	if ((rc = wire_scan(e->inner, e->inner_len, 1)) != 0)
		return (rc);
	if ((rc = count_at(e->inner, e->inner_len, 1, &n)) != 0)
		return (rc);
	if (n > ENV_MAX_FIELDS)
		return (FERRY_ETOOBIG);
	if ((rc = wire_parse(e->inner, e->inner_len, 1, &doc)) != 0)
		return (rc);
	if ((rc = version_type(&doc.root, &type)) != 0)
		goto done;
	/* One frame per type: a signature exactly when the type has one. */
	if (ENV_IS_PROOF(type) != (outer == 1)) {
		rc = outer == 1 ? FERRY_EMISSING : FERRY_EUNKNOWNFIELD;
		goto done;
	}
	if ((rc = wire_map_read(&doc.root, specs[type].spec, specs[type].n,
	    f)) != 0)
		goto done;
	e->version = ENV_VERSION;
	e->type = type;
	if ((rc = wire_bin_copy(f[2], e->id, FERRY_MSGID_LEN)) != 0 ||
	    (rc = id_copy(f[3], e->from)) != 0 ||
	    (rc = id_copy(f[4], e->to)) != 0)
		goto done;
	e->time = f[5]->via.u64;
	switch (type) {
	case ENV_MSG:
		e->key_id = (uint32_t)f[6]->via.u64;
		if ((rc = wire_bin_copy(f[7], e->wrapped,
		    ENV_WRAPPED_LEN)) != 0 ||
		    (rc = wire_bin_copy(f[8], e->nonce, ENV_NONCE_LEN)) != 0 ||
		    (rc = wire_bin_copy(f[10], e->commitment, 32)) != 0)
			goto done;
		e->ct = wire_bin(f[9], &e->ct_len);
		if (e->ct_len > ct_max(max_body)) {
			rc = FERRY_ETOOBIG;
			goto done;
		}
		/* The plaintext is padded to a power of two >= 1024. */
		n = e->ct_len - ABYTES;
		if ((n & (n - 1)) != 0) {
			rc = FERRY_EBADVALUE;
			goto done;
		}
		if (f[11] != NULL) {
			e->has_reply_to = 1;
			if ((rc = wire_bin_copy(f[11], e->reply_to,
			    FERRY_MSGID_LEN)) != 0)
				goto done;
		}
		break;
	case ENV_RECEIPT:
	case ENV_ACCEPTED:
	case ENV_RECEIPT_P:
	case ENV_ACCEPTED_P:
		if ((rc = wire_bin_copy(f[6], e->msg_id,
		    FERRY_MSGID_LEN)) != 0 ||
		    (rc = wire_bin_copy(f[7], e->env_hash, 32)) != 0)
			goto done;
		e->log_index = f[8]->via.u64;
		e->roster_version = f[9]->via.u64;
		if (f[10] != NULL)
			e->blob = wire_bin(f[10], &e->blob_len);
		if (!ENV_IS_PROOF(type))
			break;
		e->entry = wire_bin(f[11], &e->entry_len);
		e->path = wire_bin(f[12], &e->path_len);
		if (e->path_len % 32 != 0) {
			rc = FERRY_EBADVALUE;
			goto done;
		}
		break;
	case ENV_NACK:
	case ENV_ASK:
		if ((rc = wire_bin_copy(f[6], e->msg_id,
		    FERRY_MSGID_LEN)) != 0 ||
		    (rc = wire_bin_copy(f[7], e->env_hash, 32)) != 0)
			goto done;
		if (type == ENV_ASK)
			break;
		e->code = (uint32_t)f[8]->via.u64;
		e->reason = f[9]->via.str.ptr;
		e->reason_len = f[9]->via.str.size;
		break;
	case ENV_HELLO:
		e->roster_version = f[6]->via.u64;
		e->credit = f[7]->via.u64;
		break;
	case ENV_CREDIT:
		e->credit = f[6]->via.u64;
		break;
	case ENV_HEARTBEAT:
		break;
	case ENV_ROSTER:
	case ENV_CHECKPOINT:
		e->blob = wire_bin(f[6], &e->blob_len);
		break;
	}
	rc = 0;
done:
	wire_doc_free(&doc);
	if (rc != 0) {
		memset(e, 0, sizeof(*e));
	}
	return (rc);
}

int
env_verify(const struct env *e, const uint8_t sign_pk[32])
{
	const char *tag;

	if (e == NULL || sign_pk == NULL || e->inner == NULL)
		return (FERRY_EINVAL);
	if ((tag = env_tag(e->type)) == NULL || ENV_IS_PROOF(e->type))
		return (FERRY_EMSGTYPE);
	(void)__atomic_fetch_add(&n_verifies, 1, __ATOMIC_RELAXED);
	return (ident_verify(sign_pk, tag, e->inner, e->inner_len, e->sig));
}

/*
 * One buffer for the whole envelope: tag || 0x00 || inner is signed in
 * place, then the outer header [0x92, bin header] is written just before
 * inner, moved to the front, and the signature appended.
 */
struct asmb {
	uint8_t *buf;
	size_t t;		/* strlen(tag) + 1 */
	size_t inner_len;
};

static int
asm_begin(struct asmb *a, uint32_t type, size_t inner_len)
{
	const char *tag = env_tag(type);

	a->buf = NULL;
	a->t = strlen(tag) + 1;
	a->inner_len = inner_len;
	if (inner_len > SIZE_MAX - a->t - 2 - ENV_SIG_LEN)
		return (FERRY_ENOMEM);
	if ((a->buf = malloc(a->t + inner_len + 2 + ENV_SIG_LEN)) == NULL)
		return (FERRY_ENOMEM);
	memcpy(a->buf, tag, a->t);
	return (0);
}

static uint8_t *
asm_inner(struct asmb *a)
{

	return (a->buf + a->t);
}

static int
asm_finish(struct asmb *a, const uint8_t *sign_sk, uint8_t **out,
    size_t *outlen)
{
	uint8_t sig[ENV_SIG_LEN], h[5];
	size_t hl, start, p;

	if (sign_sk == NULL) {
		/* A proof type: [inner] alone, no signature. */
		hl = binhdr(h, a->inner_len);
		start = a->t - hl;
		a->buf[start - 1] = 0x91;
		memcpy(a->buf + start, h, hl);
		memmove(a->buf, a->buf + start - 1, 1 + hl + a->inner_len);
		*out = a->buf;
		*outlen = 1 + hl + a->inner_len;
		a->buf = NULL;
		return (0);
	}
	(void)__atomic_fetch_add(&n_signs, 1, __ATOMIC_RELAXED);
	if (crypto_sign_detached(sig, NULL, a->buf, a->t + a->inner_len,
	    sign_sk) != 0) {
		free(a->buf);
		a->buf = NULL;
		return (FERRY_ESODIUM);
	}
	hl = binhdr(h, a->inner_len);
	/* Every tag is longer than the 6-byte outer header. */
	start = a->t - 1 - hl;
	a->buf[start] = 0x92;
	memcpy(a->buf + start + 1, h, hl);
	memmove(a->buf, a->buf + start, 1 + hl + a->inner_len);
	p = 1 + hl + a->inner_len;
	a->buf[p] = 0xc4;
	a->buf[p + 1] = ENV_SIG_LEN;
	memcpy(a->buf + p + 2, sig, ENV_SIG_LEN);
	*out = a->buf;
	*outlen = p + 2 + ENV_SIG_LEN;
	a->buf = NULL;
	return (0);
}

static void
put_common(struct wire_buf *w, const struct env *e, size_t nfields)
{

	wire_put_map(w, nfields);
	wire_put_uint(w, 1);
	wire_put_uint(w, ENV_VERSION);
	wire_put_uint(w, 2);
	wire_put_uint(w, e->type);
	wire_put_uint(w, 3);
	wire_put_bin(w, e->id, FERRY_MSGID_LEN);
	wire_put_uint(w, 4);
	wire_put_cstr(w, e->from);
	wire_put_uint(w, 5);
	wire_put_cstr(w, e->to);
	wire_put_uint(w, 6);
	wire_put_uint(w, e->time);
}

/* Fields 16 msg_id and 17 env_hash of what ${e} refers to; with
 * ${receipt}, 18 log_index and 19 roster_version too. */
static void
put_ref(struct wire_buf *w, const struct env *e, int receipt)
{

	wire_put_uint(w, 16);
	wire_put_bin(w, e->msg_id, FERRY_MSGID_LEN);
	wire_put_uint(w, 17);
	wire_put_bin(w, e->env_hash, FERRY_HASH_LEN);
	if (!receipt)
		return;
	wire_put_uint(w, 18);
	wire_put_uint(w, e->log_index);
	wire_put_uint(w, 19);
	wire_put_uint(w, e->roster_version);
}

/* Key ${key} and the header of a bin of ${n} bytes whose body follows. */
static void
put_bin_head(struct wire_buf *w, uint64_t key, size_t n)
{
	uint8_t h[5];
	size_t hl = binhdr(h, n);

	wire_put_uint(w, key);
	wire_put_raw(w, h, hl);
}

static int
ids_ok(const struct env *e)
{

	if (memchr(e->from, '\0', sizeof(e->from)) == NULL ||
	    memchr(e->to, '\0', sizeof(e->to)) == NULL ||
	    !ferry_id_valid(e->from, strlen(e->from)) ||
	    !ferry_id_valid(e->to, strlen(e->to)))
		return (0);
	return (1);
}

int
env_encode(const struct env *e, const uint8_t sign_sk[64], uint8_t **out,
    size_t *len)
{
	struct wire_buf w;
	struct asmb a;
	const uint8_t *body = NULL;
	uint8_t *pre = NULL;
	size_t prelen, blen = 0;
	int rc;

	*out = NULL;
	*len = 0;
	if (e == NULL || (sign_sk == NULL && !ENV_IS_PROOF(e->type)))
		return (FERRY_EINVAL);
	if (env_tag(e->type) == NULL)
		return (FERRY_EMSGTYPE);
	if (e->type == ENV_MSG)
		return (FERRY_EINVAL);	/* env_seal makes those */
	if (!ids_ok(e))
		return (FERRY_EBADID);
	/* Room for the fields (a proof's blob, entry and path inline),
	 * not msgpack-c's 8 KiB; a larger one grows as usual. */
	wire_buf_init_cap(&w, ENV_FIELDS_CAP + (ENV_IS_PROOF(e->type) ?
	    e->blob_len + e->entry_len + e->path_len : 0) +
	    (e->type == ENV_NACK ? e->reason_len : 0));
	switch (e->type) {
	case ENV_RECEIPT:
	case ENV_ACCEPTED:
		if (e->blob_len > ENV_BLOB_MAX) {
			wire_buf_free(&w);
			return (FERRY_ETOOBIG);
		}
		if (e->blob_len > 0 && e->blob == NULL) {
			wire_buf_free(&w);
			return (FERRY_EINVAL);
		}
		put_common(&w, e, NCOMMON + 4 + (e->blob_len > 0));
		put_ref(&w, e, 1);
		if (e->blob_len > 0) {
			put_bin_head(&w, 20, e->blob_len);
			body = e->blob;
			blen = e->blob_len;
		}
		break;
	case ENV_RECEIPT_P:
	case ENV_ACCEPTED_P:
		if (e->blob == NULL || e->blob_len == 0 ||
		    e->entry == NULL || e->entry_len == 0 ||
		    (e->path == NULL && e->path_len > 0) ||
		    e->path_len % 32 != 0) {
			wire_buf_free(&w);
			return (FERRY_EINVAL);
		}
		if (e->blob_len > NOTE_MAX || e->entry_len > ENV_ENTRY_MAX ||
		    e->path_len > ENV_PATH_MAX * 32) {
			wire_buf_free(&w);
			return (FERRY_ETOOBIG);
		}
		put_common(&w, e, NCOMMON + 7);
		put_ref(&w, e, 1);
		wire_put_uint(&w, 20);
		wire_put_bin(&w, e->blob, e->blob_len);
		wire_put_uint(&w, 21);
		wire_put_bin(&w, e->entry, e->entry_len);
		wire_put_uint(&w, 22);
		wire_put_bin(&w, e->path != NULL ? e->path : (const uint8_t *)"",
		    e->path_len);
		break;
	case ENV_NACK:
		if (e->code < 1 || e->code > INT32_MAX ||
		    (e->reason == NULL && e->reason_len > 0)) {
			wire_buf_free(&w);
			return (FERRY_EINVAL);
		}
		if (e->reason_len > ENV_REASON_MAX) {
			wire_buf_free(&w);
			return (FERRY_ETOOBIG);
		}
		put_common(&w, e, NCOMMON + 4);
		put_ref(&w, e, 0);
		wire_put_uint(&w, 18);
		wire_put_uint(&w, e->code);
		wire_put_uint(&w, 19);
		wire_put_str(&w, e->reason != NULL ? e->reason : "",
		    e->reason_len);
		break;
	case ENV_ASK:
		put_common(&w, e, NCOMMON + 2);
		put_ref(&w, e, 0);
		break;
	case ENV_HELLO:
		put_common(&w, e, NCOMMON + 2);
		wire_put_uint(&w, 16);
		wire_put_uint(&w, e->roster_version);
		wire_put_uint(&w, 17);
		wire_put_uint(&w, e->credit);
		break;
	case ENV_CREDIT:
		put_common(&w, e, NCOMMON + 1);
		wire_put_uint(&w, 16);
		wire_put_uint(&w, e->credit);
		break;
	case ENV_HEARTBEAT:
		put_common(&w, e, NCOMMON);
		break;
	case ENV_ROSTER:
	case ENV_CHECKPOINT:
		if (e->blob_len > ENV_BLOB_MAX) {
			wire_buf_free(&w);
			return (FERRY_ETOOBIG);
		}
		if (e->blob_len == 0 || e->blob == NULL) {
			wire_buf_free(&w);
			return (FERRY_EINVAL);
		}
		put_common(&w, e, NCOMMON + 1);
		put_bin_head(&w, 16, e->blob_len);
		body = e->blob;
		blen = e->blob_len;
		break;
	}
	if ((rc = wire_buf_take(&w, &pre, &prelen)) != 0)
		return (rc);
	if ((rc = asm_begin(&a, e->type, prelen + blen)) != 0)
		goto done;
	memcpy(asm_inner(&a), pre, prelen);
	if (blen > 0)
		memcpy(asm_inner(&a) + prelen, body, blen);
	rc = asm_finish(&a, ENV_IS_PROOF(e->type) ? NULL : sign_sk, out,
	    len);
done:
	free(pre);
	return (rc);
}

void
env_new_id(uint8_t id[FERRY_MSGID_LEN])
{

	env_new_id_at(id, ferry_now_ms());
}

/*
 * Time first, like UUIDv7: ids made close in time sort close together,
 * so the log's message-id index (an LMDB B-tree) takes each new id near
 * the last instead of dirtying a random page (at 1M entries appends ran
 * at 11k/s with random ids against 40k/s in order).  The time is the
 * envelope's own time field, so the order shows nothing more; 80 random
 * bits keep ids unique within a millisecond.
 */
void
env_new_id_at(uint8_t id[FERRY_MSGID_LEN], uint64_t now_ms)
{
	uint8_t rnd[FERRY_MSGID_LEN - ENV_ID_TIME_LEN];

	randombytes_buf(rnd, sizeof(rnd));
	env_id_make(id, now_ms, rnd);
}

void
env_id_make(uint8_t id[FERRY_MSGID_LEN], uint64_t now_ms,
    const uint8_t rnd[FERRY_MSGID_LEN - ENV_ID_TIME_LEN])
{
	int i;

	for (i = 0; i < ENV_ID_TIME_LEN; i++)
		id[i] = (uint8_t)(now_ms >> (8 * (ENV_ID_TIME_LEN - 1 - i)));
	memcpy(id + ENV_ID_TIME_LEN, rnd, FERRY_MSGID_LEN - ENV_ID_TIME_LEN);
}

void
env_hash(const uint8_t *buf, size_t len, uint8_t out[32])
{

	ferry_sha256(out, buf, len);
}

/* "ferry-msg-ad/v1" 0x00 || [version, type, id, from, to, time, key_id,
 * wrapped, reply_to (bin 16, or bin 0 when absent), commitment]. */
static int
make_ad(const uint8_t id[FERRY_MSGID_LEN], const char *from,
    const char *to, uint64_t time, uint32_t key_id,
    const uint8_t wrapped[ENV_WRAPPED_LEN], const uint8_t *reply_to,
    const uint8_t commitment[32], uint8_t **ad, size_t *adlen)
{
	struct wire_buf w;

	wire_buf_init_cap(&w, ENV_FIELDS_CAP);
	wire_put_raw(&w, AD_TAG, strlen(AD_TAG) + 1);
	wire_put_array(&w, 10);
	wire_put_uint(&w, ENV_VERSION);
	wire_put_uint(&w, ENV_MSG);
	wire_put_bin(&w, id, FERRY_MSGID_LEN);
	wire_put_cstr(&w, from);
	wire_put_cstr(&w, to);
	wire_put_uint(&w, time);
	wire_put_uint(&w, key_id);
	wire_put_bin(&w, wrapped, ENV_WRAPPED_LEN);
	if (reply_to != NULL)
		wire_put_bin(&w, reply_to, FERRY_MSGID_LEN);
	else
		wire_put_raw(&w, "\xc4\x00", 2);	/* bin 0: no reply_to */
	wire_put_bin(&w, commitment, 32);
	return (wire_buf_take(&w, ad, adlen));
}

int
env_seal(const struct ident *sender, const char *to,
    const uint8_t rcpt_pk[32], uint32_t key_id, const uint8_t *content,
    size_t len, const uint8_t *reply_to, uint64_t now,
    uint8_t content_key[32], uint8_t id[FERRY_MSGID_LEN], uint8_t **out,
    size_t *outlen)
{
	struct wire_buf w;
	struct asmb a = { NULL, 0, 0 };
	struct env e;
	uint8_t keys[64], *ad = NULL, *pre = NULL, *ct;
	uint8_t wrapped[ENV_WRAPPED_LEN], nonce[ENV_NONCE_LEN], commit[32];
	uint8_t post[3 + 32 + 3 + FERRY_MSGID_LEN], h[5];
	size_t plen, bucket, ctlen, adlen, prelen, postlen, hl, p;
	unsigned long long clen;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (sender == NULL || sender->sign_sk == NULL || rcpt_pk == NULL ||
	    content_key == NULL || id == NULL || (content == NULL && len > 0))
		return (FERRY_EINVAL);
	if (to == NULL || !ferry_id_valid(to, strlen(to)) ||
	    memchr(sender->id, '\0', sizeof(sender->id)) == NULL ||
	    !ferry_id_valid(sender->id, strlen(sender->id)))
		return (FERRY_EBADID);
	if (key_id == 0)
		return (FERRY_EINVAL);
	if (len > FERRY_BODY_MAX_DEFAULT)
		return (FERRY_ETOOBIG);
	plen = plain_len(len);
	bucket = env_bucket(plen);
	ctlen = bucket + ABYTES;

	/* Randomness, always drawn in this order (golden vectors rely on
	 * it): id, content key K, commitment key C, nonce, then the
	 * ephemeral key inside crypto_box_seal. */
	/* K and C live on the stack, wiped on return: a sodium_malloc and
	 * sodium_free pair (mmap, mprotect, mlock) costs ~150 us of CPU on
	 * these machines, more than the rest of a small seal. */
	env_new_id_at(id, now);
	randombytes_buf(keys, 64);
	randombytes_buf(nonce, sizeof(nonce));
	rc = FERRY_ESODIUM;
	if (crypto_generichash(commit, 32, content, len, keys + 32, 32) != 0)
		goto done;
	if (crypto_box_seal(wrapped, keys, 32, rcpt_pk) != 0)
		goto done;
	if ((rc = make_ad(id, sender->id, to, now, key_id, wrapped, reply_to,
	    commit, &ad, &adlen)) != 0)
		goto done;

	/* Inner map: common fields, 16-18, then 19's header; the ciphertext
	 * goes straight into the output buffer; then 20 and 21. */
	memset(&e, 0, sizeof(e));
	e.type = ENV_MSG;
	memcpy(e.id, id, FERRY_MSGID_LEN);
	memcpy(e.from, sender->id, strlen(sender->id) + 1);
	memcpy(e.to, to, strlen(to) + 1);
	e.time = now;
	wire_buf_init_cap(&w, ENV_FIELDS_CAP);
	put_common(&w, &e, NCOMMON + 5 + (reply_to != NULL));
	wire_put_uint(&w, 16);
	wire_put_uint(&w, key_id);
	wire_put_uint(&w, 17);
	wire_put_bin(&w, wrapped, ENV_WRAPPED_LEN);
	wire_put_uint(&w, 18);
	wire_put_bin(&w, nonce, ENV_NONCE_LEN);
	put_bin_head(&w, 19, ctlen);
	if ((rc = wire_buf_take(&w, &pre, &prelen)) != 0)
		goto done;
	postlen = 0;
	post[postlen++] = 20;
	post[postlen++] = 0xc4;
	post[postlen++] = 32;
	memcpy(post + postlen, commit, 32);
	postlen += 32;
	if (reply_to != NULL) {
		post[postlen++] = 21;
		post[postlen++] = 0xc4;
		post[postlen++] = FERRY_MSGID_LEN;
		memcpy(post + postlen, reply_to, FERRY_MSGID_LEN);
		postlen += FERRY_MSGID_LEN;
	}
	if ((rc = asm_begin(&a, ENV_MSG, prelen + ctlen + postlen)) != 0)
		goto done;
	memcpy(asm_inner(&a), pre, prelen);
	ct = asm_inner(&a) + prelen;

	/* Plaintext [C, content], padded to the bucket, encrypted in place. */
	p = 0;
	ct[p++] = 0x92;
	ct[p++] = 0xc4;
	ct[p++] = 32;
	memcpy(ct + p, keys + 32, 32);
	p += 32;
	hl = binhdr(h, len);
	memcpy(ct + p, h, hl);
	p += hl;
	if (len > 0)
		memcpy(ct + p, content, len);
	env_pad(ct, plen, bucket);
	rc = FERRY_ESODIUM;
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, ct, bucket,
	    ad, adlen, NULL, nonce, keys) != 0 || clen != ctlen)
		goto done;
	memcpy(ct + ctlen, post, postlen);
	if ((rc = asm_finish(&a, sender->sign_sk, out, outlen)) != 0)
		goto done;
	memcpy(content_key, keys, 32);
done:
	if (rc != 0) {
		if (a.buf != NULL) {
			/* It may hold plaintext. */
			sodium_memzero(a.buf, a.t + a.inner_len);
			free(a.buf);
		}
	}
	sodium_memzero(keys, sizeof(keys));
	free(ad);
	free(pre);
	return (rc);
}

int
env_open_with_key(const struct env *e, const uint8_t content_key[32],
    uint8_t **content, size_t *clen)
{
	uint8_t *ad = NULL, *pt = NULL, *np;
	uint8_t commit[32];
	const uint8_t *body;
	size_t adlen, bucket, ul, pos, n;
	unsigned long long ptlen;
	int rc;

	*content = NULL;
	*clen = 0;
	if (e == NULL || content_key == NULL)
		return (FERRY_EINVAL);
	if (e->type != ENV_MSG || e->ct == NULL || e->ct_len < 1024 + ABYTES)
		return (FERRY_EINVAL);
	if ((rc = make_ad(e->id, e->from, e->to, e->time, e->key_id,
	    e->wrapped, e->has_reply_to ? e->reply_to : NULL, e->commitment,
	    &ad, &adlen)) != 0)
		return (rc);
	bucket = e->ct_len - ABYTES;
	rc = FERRY_ENOMEM;
	if ((pt = malloc(bucket)) == NULL)
		goto done;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptlen, NULL,
	    e->ct, e->ct_len, ad, adlen, e->nonce, content_key) != 0) {
		rc = FERRY_EDECRYPT;
		goto done;
	}
	if ((rc = env_unpad(pt, bucket, &ul)) != 0)
		goto done;
	/* [C (bin 32), content (bin)] in canonical form. */
	if ((rc = wire_scan(pt, ul, 1)) != 0)
		goto done;
	rc = FERRY_EMALFORMED;
	if (ul < 35 || pt[0] != 0x92 || pt[1] != 0xc4 || pt[2] != 32)
		goto done;
	pos = 35;
	if (bin_at(pt, ul, &pos, &body, &n) != 0 || pos != ul)
		goto done;
	crypto_generichash(commit, 32, body, n, pt + 3, 32);
	if (sodium_memcmp(commit, e->commitment, 32) != 0) {
		rc = FERRY_ECOMMIT;
		goto done;
	}
	memmove(pt, body, n);
	sodium_memzero(pt + n, bucket - n);
	if ((np = realloc(pt, n > 0 ? n : 1)) != NULL)
		pt = np;
	*content = pt;
	*clen = n;
	pt = NULL;
	rc = 0;
done:
	if (pt != NULL) {
		sodium_memzero(pt, bucket);
		free(pt);
	}
	free(ad);
	return (rc);
}

int
env_open_decoded(const struct env *e, const uint8_t sender_pk[32],
    const struct ident *rcpt, uint8_t content_key[32], uint8_t **content,
    size_t *clen)
{
	const struct ident_enckey *k;
	uint8_t key[32];
	int rc;

	*content = NULL;
	*clen = 0;
	if (e == NULL || sender_pk == NULL || rcpt == NULL)
		return (FERRY_EINVAL);
	if (e->type != ENV_MSG)
		return (FERRY_EMSGTYPE);
	/* Nothing is decrypted before the signature verifies. */
	if ((rc = env_verify(e, sender_pk)) != 0)
		return (rc);
	if (strcmp(e->to, rcpt->id) != 0)
		return (FERRY_ENOTFORUS);
	if ((k = ident_enc_find(rcpt, e->key_id)) == NULL)
		return (FERRY_EWRONGKEY);
	/* On the stack and wiped, not sodium_malloc'd: see env_seal. */
	if (crypto_box_seal_open(key, e->wrapped, ENV_WRAPPED_LEN, k->pk,
	    k->sk) != 0)
		rc = FERRY_EDECRYPT;
	else if ((rc = env_open_with_key(e, key, content, clen)) == 0 &&
	    content_key != NULL)
		memcpy(content_key, key, 32);
	sodium_memzero(key, sizeof(key));
	return (rc);
}

int
env_open(const uint8_t *buf, size_t len, size_t max_body,
    const uint8_t sender_pk[32], const struct ident *rcpt, struct env *e,
    uint8_t **content, size_t *clen)
{
	int rc;

	*content = NULL;
	*clen = 0;
	if (sender_pk == NULL || rcpt == NULL)
		return (FERRY_EINVAL);
	if ((rc = env_decode(buf, len, max_body, e)) != 0)
		return (rc);
	return (env_open_decoded(e, sender_pk, rcpt, NULL, content, clen));
}
