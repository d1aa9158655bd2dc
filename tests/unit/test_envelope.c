/*
 * test_envelope.c: envelopes: round trip of every type, tampering, wrong
 * keys, strict decoding (each refusal with its own code), and golden
 * vectors (tests/vectors/envelope_*.hex, regenerated with --regen).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../lib/harness.h"
#include "envelope.h"
#include "ferry.h"
#include "ident.h"
#include "log.h"
#include "merkle.h"
#include "note.h"
#include "wire.h"

#define NOW 1700000000000ULL
#define DAY (86400ULL * 1000)
#define VECDIR "tests/vectors"

static struct ident *alice, *bob, *mallory, *relay;
static int regen;

/*
 * Deterministic randomness for the golden vectors: a ChaCha20 keystream
 * under a constant key, one nonce per request.  Installed before
 * sodium_init; it serves the system generator until det_reset() turns it
 * on, so the other tests still use real randomness.
 */
static int det_on;
static uint64_t det_ctr;
static const uint8_t det_key[32] = "ferry golden vector seed 000001";

static void
det_buf(void *buf, size_t n)
{
	uint8_t nonce[8];
	int i;

	if (!det_on) {
		randombytes_sysrandom_implementation.buf(buf, n);
		return;
	}
	for (i = 0; i < 8; i++)
		nonce[i] = (uint8_t)(det_ctr >> (8 * i));
	det_ctr++;
	memset(buf, 0, n);
	crypto_stream_chacha20_xor(buf, buf, n, nonce, det_key);
}

static uint32_t
det_random(void)
{
	uint32_t v;

	det_buf(&v, sizeof(v));
	return (v);
}

static const char *
det_name(void)
{

	return ("ferry-test-deterministic");
}

static void
det_stir(void)
{

	if (!det_on)
		randombytes_sysrandom_implementation.stir();
}

static struct randombytes_implementation det_impl = {
	det_name, det_random, det_stir, NULL, det_buf, NULL
};

static void
det_reset(int on)
{

	det_on = on;
	det_ctr = 0;
}

static void
setup(void)
{

	if (ident_generate("alice-charity", IDENT_CHARITY, "Alice", NOW, DAY,
	    &alice) != 0 ||
	    ident_generate("bob-police", IDENT_POLICE, "Bob", NOW, DAY,
	    &bob) != 0 ||
	    ident_generate("mallory", IDENT_OTHER, "M", NOW, DAY,
	    &mallory) != 0 ||
	    ident_generate("relay", IDENT_RELAY, "Relay", NOW, DAY,
	    &relay) != 0) {
		printf("not ok - setup\n");
		exit(1);
	}
}

static const uint8_t *
body_of(size_t n)
{
	static uint8_t *b;
	static size_t have;
	size_t i;

	if (n > have) {
		free(b);
		if ((b = malloc(n)) == NULL)
			abort();
		have = n;
	}
	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	return (b);
}

/* Seal alice -> bob. */
static int
seal(const uint8_t *m, size_t n, const uint8_t *reply_to, uint8_t **out,
    size_t *outlen, uint8_t ck[32], uint8_t id[16])
{

	return (env_seal(alice, "bob-police", bob->enc[0].pk, 1, m, n,
	    reply_to, NOW + 1, ck, id, out, outlen));
}

TEST(types_and_tags)
{
	uint32_t t;

	for (t = 1; t <= ENV_ACCEPTED_P; t++) {
		CHECK(env_type_name(t) != NULL);
		CHECK(env_tag(t) != NULL);
		CHECK(strncmp(env_tag(t), "ferry-", 6) == 0);
	}
	CHECK(env_type_name(0) == NULL && env_tag(ENV_ACCEPTED_P + 1) == NULL);
	CHECK(strcmp(env_type_name(ENV_RECEIPT_P), "RECEIPT_P") == 0);
	CHECK(strcmp(env_tag(ENV_ASK), "ferry-ask/v1") == 0);
	CHECK(strcmp(env_tag(ENV_MSG), "ferry-envelope/v1") == 0);
	CHECK(strcmp(env_tag(ENV_RECEIPT), "ferry-receipt/v1") == 0);
}

TEST(buckets)
{

	CHECK_EQ(env_bucket(0), 1024);
	CHECK_EQ(env_bucket(1023), 1024);
	CHECK_EQ(env_bucket(1024), 2048);
	CHECK_EQ(env_bucket(4096), 8192);
	CHECK_EQ(env_bucket(4095), 4096);
	CHECK_EQ(env_bucket((size_t)1 << 25), (size_t)1 << 26);
	CHECK_EQ(env_bucket(SIZE_MAX), 0);
	/* Contents of 0..985 bytes fit the first bucket (docs 3.5). */
	{
		uint8_t ck[32], id[16], *out;
		size_t outlen;
		struct env e;

		CHECK_EQ(seal(body_of(985), 985, NULL, &out, &outlen, ck, id),
		    0);
		CHECK_EQ(env_decode(out, outlen, 0, &e), 0);
		CHECK_EQ(e.ct_len, 1024 + 16);
		free(out);
		CHECK_EQ(seal(body_of(986), 986, NULL, &out, &outlen, ck, id),
		    0);
		CHECK_EQ(env_decode(out, outlen, 0, &e), 0);
		CHECK_EQ(e.ct_len, 2048 + 16);
		free(out);
	}
}

/*
 * env_pad and env_unpad make and accept exactly the bytes of sodium_pad
 * and sodium_unpad with the bucket as block size (the wire format stays
 * byte-identical): every length of a 1 KiB bucket, then random padded,
 * all-zero, wrong-marker and trailing-garbage buckets of 1 and 8 KiB, and
 * buckets that are not a multiple of 8 bytes.
 */
TEST(padding_as_sodium)
{
	static uint8_t a[8192 + 8], b[8192 + 8];
	static const size_t bk[] = { 1024, 8192, 1000, 13 };
	size_t i, k, len, ul1, ul2, pl;
	int r1, r2, bad = 0, fail = 0;

	for (len = 0; len < 1024; len++) {
		randombytes_buf(a, 1024);
		memcpy(b, a, 1024);
		CHECK_EQ(sodium_pad(&pl, a, len, 1024, 1024), 0);
		CHECK_EQ(pl, 1024);
		env_pad(b, len, 1024);
		bad += memcmp(a, b, 1024) != 0;
		ul2 = 0;
		bad += env_unpad(b, 1024, &ul2) != 0 || ul2 != len;
	}
	CHECK_EQ(bad, 0);
	for (i = 0; i < 4000; i++) {
		size_t n = bk[i % 4];

		len = randombytes_uniform((uint32_t)n);
		memset(a, 0, n);
		switch (i / 4 % 5) {
		case 0:		/* well padded */
			randombytes_buf(a, len);
			a[len] = 0x80;
			break;
		case 1:		/* a wrong last nonzero byte */
			randombytes_buf(a, len + 1);
			break;
		case 2:		/* all zero */
			break;
		case 3:		/* garbage after the marker */
			a[len] = 0x80;
			k = len + randombytes_uniform((uint32_t)(n - len));
			a[k] |= (uint8_t)(1 + randombytes_uniform(255));
			break;
		default:	/* no zero at all */
			randombytes_buf(a, n);
			break;
		}
		ul1 = ul2 = (size_t)-1;
		r1 = sodium_unpad(&ul1, a, n, n);
		r2 = env_unpad(a, n, &ul2);
		fail += r2 != 0;
		bad += (r1 == 0) != (r2 == 0) || (r2 != 0 &&
		    r2 != FERRY_EPADDING) || (r1 == 0 && ul1 != ul2);
	}
	CHECK_EQ(bad, 0);
	/* Both outcomes were seen. */
	CHECK(fail > 500 && fail < 3500);
}

static void
roundtrip_msg(size_t n, int with_reply)
{
	uint8_t ck[32], id[16], reply[16], *out, *content;
	size_t outlen, clen;
	struct env e;
	const uint8_t *m = body_of(n);

	memset(reply, 0x5a, sizeof(reply));
	CHECK_EQ(seal(m, n, with_reply ? reply : NULL, &out, &outlen, ck, id),
	    0);
	CHECK_EQ(env_decode(out, outlen, 0, &e), 0);
	CHECK_EQ(e.type, ENV_MSG);
	CHECK_EQ(e.version, 1);
	CHECK(strcmp(e.from, "alice-charity") == 0);
	CHECK(strcmp(e.to, "bob-police") == 0);
	CHECK_EQ(e.time, NOW + 1);
	CHECK_EQ(e.key_id, 1);
	CHECK(memcmp(e.id, id, 16) == 0);
	CHECK_EQ(e.has_reply_to, with_reply);
	if (with_reply)
		CHECK(memcmp(e.reply_to, reply, 16) == 0);
	CHECK_EQ(e.ct_len, env_bucket(n + 35 + (n < 256 ? 2 : n < 65536 ?
	    3 : 5)) + 16);
	CHECK_EQ(env_verify(&e, alice->sign_pk), 0);
	CHECK_EQ(env_open(out, outlen, 0, alice->sign_pk, bob, &e, &content,
	    &clen), 0);
	CHECK_EQ(clen, n);
	CHECK(n == 0 || memcmp(content, m, n) == 0);
	free(content);
	/* The sender rereads it with its copy of the content key. */
	CHECK_EQ(env_open_with_key(&e, ck, &content, &clen), 0);
	CHECK_EQ(clen, n);
	CHECK(n == 0 || memcmp(content, m, n) == 0);
	free(content);
	free(out);
}

TEST(roundtrip_msg_sizes)
{
	size_t sizes[] = { 0, 1, 255, 256, 900, 989, 990, 4096, 65535, 65536,
	    1 << 20 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		roundtrip_msg(sizes[i], (int)(i & 1));
		if (t_failed_now) {
			printf("#   size %zu\n", sizes[i]);
			return;
		}
	}
}

TEST(roundtrip_msg_max)
{

	roundtrip_msg(FERRY_BODY_MAX_DEFAULT, 1);
}

TEST(seal_refuses)
{
	uint8_t ck[32], id[16], *out;
	size_t outlen;

	CHECK_EQ(env_seal(alice, "Bob", bob->enc[0].pk, 1, (const uint8_t *)
	    "x", 1, NULL, NOW, ck, id, &out, &outlen), FERRY_EBADID);
	CHECK_EQ(env_seal(alice, "bob-police", bob->enc[0].pk, 0,
	    (const uint8_t *)"x", 1, NULL, NOW, ck, id, &out, &outlen),
	    FERRY_EINVAL);
	CHECK_EQ(env_seal(alice, "bob-police", bob->enc[0].pk, 1, body_of(1),
	    FERRY_BODY_MAX_DEFAULT + 1, NULL, NOW, ck, id, &out, &outlen),
	    FERRY_ETOOBIG);
	CHECK(out == NULL);
}

/* Fill every field a type uses with distinct values. */
static void
sample(struct env *e, uint32_t type, const uint8_t *blob, size_t blen)
{

	memset(e, 0, sizeof(*e));
	e->type = type;
	env_new_id(e->id);
	snprintf(e->from, sizeof(e->from), "relay");
	snprintf(e->to, sizeof(e->to), "alice-charity");
	e->time = NOW + type;
	memset(e->msg_id, 0x11, 16);
	memset(e->env_hash, 0x22, 32);
	e->log_index = 1234567;
	e->roster_version = 42;
	e->code = (uint32_t)-FERRY_EQUEUEFULL;
	e->reason = "queue full \xe2\x9c\x93";
	e->reason_len = strlen(e->reason);
	e->credit = 300;
	e->blob = blob;
	e->blob_len = blen;
}

static int
same_env(const struct env *a, const struct env *b)
{

	return (a->type == b->type && memcmp(a->id, b->id, 16) == 0 &&
	    strcmp(a->from, b->from) == 0 && strcmp(a->to, b->to) == 0 &&
	    a->time == b->time);
}

TEST(roundtrip_control_types)
{
	const uint8_t blob[] = "a checkpoint note\nwith lines\n";
	uint32_t t;

	for (t = ENV_RECEIPT; t <= ENV_ASK; t++) {
		struct env e, d;
		uint8_t *out;
		size_t len;

		sample(&e, t, blob, sizeof(blob));
		CHECK_EQ(env_encode(&e, relay->sign_sk, &out, &len), 0);
		CHECK_EQ(env_decode(out, len, 0, &d), 0);
		CHECK(same_env(&e, &d));
		CHECK_EQ(env_verify(&d, relay->sign_pk), 0);
		CHECK_EQ(env_verify(&d, alice->sign_pk), FERRY_EBADSIG);
		switch (t) {
		case ENV_RECEIPT:
		case ENV_ACCEPTED:
			CHECK(memcmp(d.msg_id, e.msg_id, 16) == 0);
			CHECK(memcmp(d.env_hash, e.env_hash, 32) == 0);
			CHECK_EQ(d.log_index, e.log_index);
			CHECK_EQ(d.roster_version, 42);
			CHECK_EQ(d.blob_len, sizeof(blob));
			CHECK(memcmp(d.blob, blob, sizeof(blob)) == 0);
			CHECK_EQ(d.credit, 0);
			break;
		case ENV_NACK:
			CHECK(memcmp(d.msg_id, e.msg_id, 16) == 0);
			CHECK(memcmp(d.env_hash, e.env_hash, 32) == 0);
			CHECK_EQ(d.code, 102);
			CHECK_EQ(d.reason_len, e.reason_len);
			CHECK(memcmp(d.reason, e.reason, d.reason_len) == 0);
			CHECK(d.blob == NULL);
			break;
		case ENV_HELLO:
			CHECK_EQ(d.roster_version, 42);
			CHECK_EQ(d.credit, 300);
			break;
		case ENV_CREDIT:
			CHECK_EQ(d.credit, 300);
			CHECK_EQ(d.roster_version, 0);
			break;
		case ENV_HEARTBEAT:
			CHECK_EQ(d.credit, 0);
			break;
		case ENV_ROSTER:
		case ENV_CHECKPOINT:
			CHECK_EQ(d.blob_len, sizeof(blob));
			CHECK(memcmp(d.blob, blob, sizeof(blob)) == 0);
			break;
		case ENV_ASK:
			CHECK(memcmp(d.msg_id, e.msg_id, 16) == 0);
			CHECK(memcmp(d.env_hash, e.env_hash, 32) == 0);
			CHECK_EQ(d.log_index, 0);
			CHECK(d.blob == NULL);
			break;
		}
		free(out);
		if (t_failed_now) {
			printf("#   type %s\n", env_type_name(t));
			return;
		}
	}
}

TEST(receipt_without_note)
{
	struct env e, d;
	uint8_t *out;
	size_t len;

	sample(&e, ENV_RECEIPT, NULL, 0);
	CHECK_EQ(env_encode(&e, bob->sign_sk, &out, &len), 0);
	CHECK_EQ(env_decode(out, len, 0, &d), 0);
	CHECK(d.blob == NULL && d.blob_len == 0);
	CHECK_EQ(env_verify(&d, bob->sign_pk), 0);
	free(out);
}

/*
 * Receipts by inclusion proof (RECEIPT_P, ACCEPTED_P).  A signer's log of
 * ${size} entries, in memory: entry i of kind ${kind} about message
 * 0x11..i, envelope 0x22..i, from ${sender} to ${rcpt}; its checkpoint is
 * signed by ${signer} as "ferry/<signer id>"; the audit path of entry
 * ${at} in pl->path.
 */
struct plog {
	struct merkle_mem m;
	uint8_t *entry[16];
	size_t elen[16];
	uint64_t size;
	uint8_t *note;
	size_t nlen;
	uint8_t path[MERKLE_PROOF_MAX][32];
	size_t np;
};

static void
plog_make(struct plog *pl, const struct ident *signer, uint64_t size,
    uint64_t at, uint32_t kind, const char *sender, const char *rcpt,
    uint64_t t)
{
	struct log_entry le;
	uint8_t leaf[32], root[32];
	char origin[80];
	uint64_t i;

	memset(pl, 0, sizeof(*pl));
	merkle_mem_init(&pl->m);
	pl->size = size;
	for (i = 0; i < size && i < 16; i++) {
		memset(&le, 0, sizeof(le));
		le.kind = kind;
		le.time_ms = t + i;
		le.roster_version = 3;
		memset(le.msg_id, 0x11, 16);
		le.msg_id[15] = (uint8_t)i;
		memset(le.env_hash, 0x22, 32);
		le.env_hash[31] = (uint8_t)i;
		snprintf(le.from, sizeof(le.from), "%s", sender);
		snprintf(le.to, sizeof(le.to), "%s", rcpt);
		if (log_entry_encode(&le, &pl->entry[i], &pl->elen[i]) != 0)
			return;
		merkle_leaf_hash(pl->entry[i], pl->elen[i], leaf);
		(void)merkle_mem_append(&pl->m, leaf);
	}
	snprintf(origin, sizeof(origin), "ferry/%s", signer->id);
	if (merkle_root(size, merkle_mem_read, &pl->m, root) != 0 ||
	    note_sign_checkpoint(origin, size, root, signer->sign_sk,
	    &pl->note, &pl->nlen) != 0)
		return;
	if (at < size)
		(void)merkle_prove_inclusion(at, size, merkle_mem_read, &pl->m,
		    pl->path, &pl->np);
}

static void
plog_free(struct plog *pl)
{
	size_t i;

	for (i = 0; i < 16; i++)
		free(pl->entry[i]);
	free(pl->note);
	merkle_mem_free(&pl->m);
}

/* The proof envelope of entry ${at} of ${pl}, signed by nobody. */
static void
proof_env(struct env *e, const struct plog *pl, uint32_t type,
    const struct ident *signer, const char *to, uint64_t at, uint64_t t)
{

	memset(e, 0, sizeof(*e));
	e->version = ENV_VERSION;
	e->type = type;
	env_new_id_at(e->id, t);
	snprintf(e->from, sizeof(e->from), "%s", signer->id);
	snprintf(e->to, sizeof(e->to), "%s", to);
	e->time = t;
	memset(e->msg_id, 0x11, 16);
	e->msg_id[15] = (uint8_t)at;
	memset(e->env_hash, 0x22, 32);
	e->env_hash[31] = (uint8_t)at;
	e->log_index = at;
	e->roster_version = 3;
	e->blob = pl->note;
	e->blob_len = pl->nlen;
	e->entry = pl->entry[at];
	e->entry_len = pl->elen[at];
	e->path = &pl->path[0][0];
	e->path_len = pl->np * 32;
}

/* Encode ${e} and decode it into ${d} (its bytes in *${out}). */
static int
proof_rt(const struct env *e, struct env *d, uint8_t **out, size_t *len)
{
	int rc;

	if ((rc = env_encode(e, NULL, out, len)) != 0)
		return (rc);
	return (env_decode(*out, *len, 0, d));
}

TEST(proof_roundtrip)
{
	struct plog pl;
	struct env e, d;
	uint8_t *out, *again;
	size_t len, alen;

	plog_make(&pl, bob, 7, 5, LOG_RECEIVED, "alice-charity", "bob-police",
	    NOW);
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	CHECK(pl.np > 0);
	CHECK_EQ(proof_rt(&e, &d, &out, &len), 0);
	CHECK(out[0] == 0x91);	/* [inner]: no signature element */
	CHECK(same_env(&e, &d));
	CHECK(memcmp(d.msg_id, e.msg_id, 16) == 0 &&
	    memcmp(d.env_hash, e.env_hash, 32) == 0);
	CHECK_EQ(d.log_index, 5);
	CHECK_EQ(d.roster_version, 3);
	CHECK(d.blob_len == pl.nlen && memcmp(d.blob, pl.note, pl.nlen) == 0);
	CHECK(d.entry_len == pl.elen[5] &&
	    memcmp(d.entry, pl.entry[5], pl.elen[5]) == 0);
	CHECK(d.path_len == pl.np * 32 &&
	    memcmp(d.path, pl.path, pl.np * 32) == 0);
	CHECK_EQ(env_verify_proof(&d, bob->sign_pk, NULL), 0);
	/* Not a signed type: env_verify has nothing to check. */
	CHECK_EQ(env_verify(&d, bob->sign_pk), FERRY_EMSGTYPE);
	/* One encoding: decoding and encoding again gives the same bytes. */
	CHECK_EQ(env_encode(&d, NULL, &again, &alen), 0);
	CHECK(alen == len && memcmp(again, out, len) == 0);
	free(again);
	free(out);
	/* A path of no hash (a tree of one entry) round-trips too. */
	plog_free(&pl);
	plog_make(&pl, relay, 1, 0, LOG_ACCEPTED, "alice-charity",
	    "bob-police", NOW);
	proof_env(&e, &pl, ENV_ACCEPTED_P, relay, "alice-charity", 0, NOW);
	CHECK_EQ(pl.np, 0);
	CHECK_EQ(proof_rt(&e, &d, &out, &len), 0);
	CHECK_EQ(d.path_len, 0);
	CHECK_EQ(env_verify_proof(&d, relay->sign_pk, NULL), 0);
	free(out);
	/* The encoder refuses what the decoder would. */
	e.path_len = 31;
	CHECK_EQ(env_encode(&e, NULL, &out, &len), FERRY_EINVAL);
	e.path_len = 0;
	e.blob = NULL;
	CHECK_EQ(env_encode(&e, NULL, &out, &len), FERRY_EINVAL);
	plog_free(&pl);
}

/* [inner] of a proof-type map whose field 22 has ${plen} bytes (or is
 * left out, ${plen} < 0), with an unknown field 23 when ${extra}. */
static uint8_t *
proof_frame(int plen, int extra, int sig, size_t *len)
{
	struct wire_buf w;
	uint8_t *inner, *out, hash[65 * 32];
	size_t ilen;

	memset(hash, 0x33, sizeof(hash));
	wire_buf_init(&w);
	wire_put_map(&w, 6 + 6 + (plen >= 0) + (extra != 0));
	wire_put_uint(&w, 1);
	wire_put_uint(&w, ENV_VERSION);
	wire_put_uint(&w, 2);
	wire_put_uint(&w, ENV_RECEIPT_P);
	wire_put_uint(&w, 3);
	wire_put_bin(&w, hash, 16);
	wire_put_uint(&w, 4);
	wire_put_cstr(&w, "bob-police");
	wire_put_uint(&w, 5);
	wire_put_cstr(&w, "alice-charity");
	wire_put_uint(&w, 6);
	wire_put_uint(&w, NOW);
	wire_put_uint(&w, 16);
	wire_put_bin(&w, hash, 16);
	wire_put_uint(&w, 17);
	wire_put_bin(&w, hash, 32);
	wire_put_uint(&w, 18);
	wire_put_uint(&w, 1);
	wire_put_uint(&w, 19);
	wire_put_uint(&w, 3);
	wire_put_uint(&w, 20);
	wire_put_bin(&w, "n", 1);
	wire_put_uint(&w, 21);
	wire_put_bin(&w, "e", 1);
	if (plen >= 0) {
		wire_put_uint(&w, 22);
		wire_put_bin(&w, hash, (size_t)plen);
	}
	if (extra) {
		wire_put_uint(&w, 23);
		wire_put_uint(&w, 0);
	}
	if (wire_buf_take(&w, &inner, &ilen) != 0)
		return (NULL);
	wire_buf_init(&w);
	wire_put_array(&w, sig ? 2 : 1);
	wire_put_bin(&w, inner, ilen);
	if (sig)
		wire_put_bin(&w, hash, 64);
	free(inner);
	if (wire_buf_take(&w, &out, len) != 0)
		return (NULL);
	return (out);
}

TEST(proof_frame_strict)
{
	struct env d;
	uint8_t *b;
	size_t len;

	/* The shape itself decodes (what it proves is checked later). */
	CHECK((b = proof_frame(64, 0, 0, &len)) != NULL);
	CHECK_EQ(env_decode(b, len, 0, &d), 0);
	CHECK_EQ(d.path_len, 64);
	CHECK_EQ(env_verify_proof(&d, bob->sign_pk, NULL), FERRY_EBADVALUE);
	free(b);
	/* A signature element: a proof type has none. */
	CHECK((b = proof_frame(64, 0, 1, &len)) != NULL);
	CHECK_EQ(env_decode(b, len, 0, &d), FERRY_EUNKNOWNFIELD);
	free(b);
	/* A path that is not whole hashes, or over 64 of them. */
	CHECK((b = proof_frame(33, 0, 0, &len)) != NULL);
	CHECK_EQ(env_decode(b, len, 0, &d), FERRY_EBADVALUE);
	free(b);
	CHECK((b = proof_frame(65 * 32, 0, 0, &len)) != NULL);
	CHECK_EQ(env_decode(b, len, 0, &d), FERRY_ETOOBIG);
	free(b);
	/* The path field is required (empty for a one-entry tree). */
	CHECK((b = proof_frame(-1, 0, 0, &len)) != NULL);
	CHECK_EQ(env_decode(b, len, 0, &d), FERRY_EMISSING);
	free(b);
	CHECK((b = proof_frame(32, 1, 0, &len)) != NULL);
	CHECK_EQ(env_decode(b, len, 0, &d), FERRY_EUNKNOWNFIELD);
	free(b);
	/* A signed type in a frame without its signature. */
	{
		struct env e;
		uint8_t *out;
		size_t olen;

		sample(&e, ENV_HEARTBEAT, NULL, 0);
		CHECK_EQ(env_encode(&e, relay->sign_sk, &out, &olen), 0);
		CHECK(out[0] == 0x92);
		out[0] = 0x91;	/* drop the signature: trailing bytes */
		CHECK_EQ(env_decode(out, olen, 0, &d), FERRY_ETRAILING);
		/* ... and with the signature cut off as well. */
		CHECK_EQ(env_decode(out, olen - 66, 0, &d), FERRY_EMISSING);
		free(out);
	}
}

TEST(proof_refusals)
{
	struct plog pl, other;
	struct env e, d;
	uint8_t *out, *nb, *tp;
	size_t len;
	char *sigline;

	plog_make(&pl, bob, 7, 5, LOG_RECEIVED, "alice-charity", "bob-police",
	    NOW);
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), 0);
	/* The signer's key only. */
	CHECK_EQ(env_verify_proof(&e, mallory->sign_pk, NULL), FERRY_ENOENT);
	/* Wrong entry kind: an ACCEPTED entry is no delivery. */
	plog_make(&other, bob, 7, 5, LOG_ACCEPTED, "alice-charity",
	    "bob-police", NOW);
	proof_env(&e, &other, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EBADVALUE);
	plog_free(&other);
	/* ... and an ACCEPTED_P must prove an ACCEPTED entry. */
	proof_env(&e, &pl, ENV_ACCEPTED_P, bob, "alice-charity", 5, NOW);
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EBADVALUE);
	/* The entry is about another message, envelope or sender. */
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	e.msg_id[0] ^= 1;
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EBADVALUE);
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	e.env_hash[31] ^= 1;
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EBADVALUE);
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "mallory", 5, NOW);
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EBADVALUE);
	/* A tampered path hash. */
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	CHECK((tp = malloc(e.path_len)) != NULL);
	memcpy(tp, e.path, e.path_len);
	tp[e.path_len - 1] ^= 1;
	e.path = tp;
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EBADPROOF);
	free(tp);
	/* The path of this entry, claimed at another index. */
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	e.log_index = 4;
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EBADPROOF);
	/* A path of another index for this entry. */
	plog_make(&other, bob, 7, 4, LOG_RECEIVED, "alice-charity",
	    "bob-police", NOW);
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	e.path = &other.path[0][0];
	e.path_len = other.np * 32;
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EBADPROOF);
	plog_free(&other);
	/* A note of another origin (the signer's key, another log). */
	plog_make(&other, alice, 7, 5, LOG_RECEIVED, "alice-charity",
	    "bob-police", NOW);
	proof_env(&e, &other, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EBADVALUE);
	plog_free(&other);
	/* A note whose signature does not verify (one byte of it). */
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	CHECK((nb = malloc(pl.nlen)) != NULL);
	memcpy(nb, pl.note, pl.nlen);
	/* (the last base64 characters: '=' and one with padding bits) */
	nb[pl.nlen - 6] = nb[pl.nlen - 6] == 'A' ? 'B' : 'A';
	e.blob = nb;
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EBADSIG);
	/* ... or a root changed under it. */
	memcpy(nb, pl.note, pl.nlen);
	sigline = strchr(strchr((char *)nb, '\n') + 1, '\n') + 1;
	sigline[0] = sigline[0] == 'A' ? 'B' : 'A';
	CHECK(env_verify_proof(&e, bob->sign_pk, NULL) != 0);
	free(nb);
	/* A note too small for the index: entry 5 proven in a tree of 5. */
	plog_make(&other, bob, 5, 5, LOG_RECEIVED, "alice-charity",
	    "bob-police", NOW);
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	e.blob = other.note;
	e.blob_len = other.nlen;
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EBADVALUE);
	plog_free(&other);
	/* What the wire carries is what is checked: through bytes too. */
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 5, NOW);
	e.log_index = 6;
	CHECK_EQ(proof_rt(&e, &d, &out, &len), 0);
	CHECK_EQ(env_verify_proof(&d, bob->sign_pk, NULL), FERRY_EBADPROOF);
	free(out);
	/* Not a proof type. */
	sample(&e, ENV_RECEIPT, NULL, 0);
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), FERRY_EMSGTYPE);
	plog_free(&pl);
}

TEST(proof_note_cache)
{
	struct env_note_cache cache;
	struct plog pl, pl2;
	struct env e;
	uint64_t v0, v1;
	int i;

	memset(&cache, 0, sizeof(cache));
	plog_make(&pl, bob, 9, 2, LOG_RECEIVED, "alice-charity", "bob-police",
	    NOW);
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 2, NOW);
	note_counts(NULL, &v0);
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, &cache), 0);
	note_counts(NULL, &v1);
	CHECK_EQ(v1 - v0, 1);
	/* A second receipt under the same note: no signature check. */
	plog_free(&pl);
	plog_make(&pl, bob, 9, 7, LOG_RECEIVED, "alice-charity", "bob-police",
	    NOW);
	proof_env(&e, &pl, ENV_RECEIPT_P, bob, "alice-charity", 7, NOW);
	for (i = 0; i < 3; i++)
		CHECK_EQ(env_verify_proof(&e, bob->sign_pk, &cache), 0);
	note_counts(NULL, &v0);
	CHECK_EQ(v0 - v1, 0);
	/* The proof is still checked for a cached note. */
	e.log_index = 6;
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, &cache), FERRY_EBADPROOF);
	/* And the cached note's size: an index not below it is refused. */
	e.log_index = 9;
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, &cache), FERRY_EBADVALUE);
	e.log_index = 7;
	/* The cached note found for bob is not taken for another signer
	 * (its origin names bob). */
	snprintf(e.from, sizeof(e.from), "%s", "mallory-council");
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, &cache), FERRY_EBADVALUE);
	snprintf(e.from, sizeof(e.from), "%s", "bob-police");
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, &cache), 0);
	/* Another note (a larger tree): checked once. */
	plog_make(&pl2, bob, 10, 7, LOG_RECEIVED, "alice-charity",
	    "bob-police", NOW);
	proof_env(&e, &pl2, ENV_RECEIPT_P, bob, "alice-charity", 7, NOW);
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, &cache), 0);
	note_counts(NULL, &v1);
	CHECK_EQ(v1 - v0, 1);
	/* The same note under another key is no cache hit. */
	CHECK_EQ(env_verify_proof(&e, mallory->sign_pk, &cache),
	    FERRY_ENOENT);
	/* Without a cache, every receipt checks its note. */
	note_counts(NULL, &v0);
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), 0);
	CHECK_EQ(env_verify_proof(&e, bob->sign_pk, NULL), 0);
	note_counts(NULL, &v1);
	CHECK_EQ(v1 - v0, 2);
	plog_free(&pl);
	plog_free(&pl2);
}

TEST(encode_refuses)
{
	struct env e;
	uint8_t *out, big[ENV_REASON_MAX + 1];
	size_t len;

	sample(&e, ENV_MSG, NULL, 0);
	CHECK_EQ(env_encode(&e, relay->sign_sk, &out, &len), FERRY_EINVAL);
	sample(&e, ENV_ACCEPTED_P + 1, NULL, 0);
	CHECK_EQ(env_encode(&e, relay->sign_sk, &out, &len), FERRY_EMSGTYPE);
	sample(&e, ENV_HELLO, NULL, 0);
	snprintf(e.to, sizeof(e.to), "Alice");
	CHECK_EQ(env_encode(&e, relay->sign_sk, &out, &len), FERRY_EBADID);
	sample(&e, ENV_NACK, NULL, 0);
	memset(big, 'a', sizeof(big));
	e.reason = (const char *)big;
	e.reason_len = sizeof(big);
	CHECK_EQ(env_encode(&e, relay->sign_sk, &out, &len), FERRY_ETOOBIG);
	e.reason = "\xc0\x80";
	e.reason_len = 2;
	CHECK_EQ(env_encode(&e, relay->sign_sk, &out, &len),
	    FERRY_EBADVALUE);
	sample(&e, ENV_NACK, NULL, 0);
	e.code = 0;
	CHECK_EQ(env_encode(&e, relay->sign_sk, &out, &len), FERRY_EINVAL);
	sample(&e, ENV_ROSTER, NULL, 0);
	CHECK_EQ(env_encode(&e, relay->sign_sk, &out, &len), FERRY_EINVAL);
	CHECK(out == NULL);
}


/* [inner (bin), sig (bin 64)] signed by ${sk} with ${type}'s tag. */
static uint8_t *
wrap(const uint8_t *inner, size_t ilen, const uint8_t *sk, uint32_t type,
    size_t *len)
{
	struct wire_buf w;
	uint8_t sig[64], *out;

	memset(sig, 0, sizeof(sig));
	if (sk != NULL && ident_sign(sk, env_tag(type), inner, ilen, sig) != 0)
		return (NULL);
	wire_buf_init(&w);
	wire_put_array(&w, 2);
	wire_put_bin(&w, inner, ilen);
	wire_put_bin(&w, sig, 64);
	if (wire_buf_take(&w, &out, len) != 0)
		return (NULL);
	return (out);
}

TEST(every_bit_flip_refused)
{
	uint8_t ck[32], id[16], *out, *content;
	size_t outlen, clen, i;
	struct env e;
	int bit, rc, n_decode = 0, n_sig = 0;

	CHECK_EQ(seal(body_of(100), 100, NULL, &out, &outlen, ck, id), 0);
	for (i = 0; i < outlen; i++) {
		for (bit = 0; bit < 8; bit++) {
			out[i] ^= (uint8_t)(1 << bit);
			rc = env_open(out, outlen, 0, alice->sign_pk, bob, &e,
			    &content, &clen);
			out[i] ^= (uint8_t)(1 << bit);
			if (rc == 0)
				printf("#   accepted: byte %zu bit %d\n", i, bit);
			CHECK(rc != 0);
			CHECK(content == NULL);
			/* Refused at decoding or at the signature: nothing
			 * is decrypted before the signature verifies. */
			if (rc == FERRY_EBADSIG)
				n_sig++;
			else {
				if (!((rc <= -20 && rc >= -39) ||
				    rc == FERRY_EBADID))
					printf("#   byte %zu bit %d: %s\n", i, bit,
					    ferry_errname(rc));
				CHECK((rc <= -20 && rc >= -39) ||
				    rc == FERRY_EBADID);
				n_decode++;
			}
		}
	}
	printf("# %zu bytes x 8 bits: %d refused by the decoder, %d by the "
	    "signature\n", outlen, n_decode, n_sig);
	CHECK(n_sig > 0 && n_decode > 0);
	/* Unchanged, it still opens. */
	CHECK_EQ(env_open(out, outlen, 0, alice->sign_pk, bob, &e, &content,
	    &clen), 0);
	free(content);
	free(out);
}

/*
 * env_open_decoded opens the decoding it is given (each received frame
 * decoded once) and hands back the content key it unwrapped, the very
 * key the sender sealed with; refused as env_open is (signature, type,
 * recipient), with no key given back then.
 */
TEST(open_decoded_gives_key)
{
	uint8_t ck[32], id[16], key[32], zero[32], *out, *content;
	size_t outlen, clen;
	struct env e;

	memset(zero, 0, sizeof(zero));
	CHECK_EQ(seal(body_of(300), 300, NULL, &out, &outlen, ck, id), 0);
	CHECK_EQ(env_decode(out, outlen, 0, &e), 0);
	memset(key, 0, sizeof(key));
	CHECK_EQ(env_open_decoded(&e, alice->sign_pk, bob, key, &content,
	    &clen), 0);
	CHECK(memcmp(key, ck, 32) == 0);
	CHECK(clen == 300 && content != NULL &&
	    memcmp(content, body_of(300), 300) == 0);
	free(content);
	/* Without a key buffer: opened all the same. */
	CHECK_EQ(env_open_decoded(&e, alice->sign_pk, bob, NULL, &content,
	    &clen), 0);
	free(content);
	memset(key, 0, sizeof(key));
	CHECK_EQ(env_open_decoded(&e, mallory->sign_pk, bob, key, &content,
	    &clen), FERRY_EBADSIG);
	CHECK(content == NULL && memcmp(key, zero, 32) == 0);
	CHECK_EQ(env_open_decoded(&e, alice->sign_pk, mallory, key, &content,
	    &clen), FERRY_ENOTFORUS);
	CHECK(content == NULL && memcmp(key, zero, 32) == 0);
	e.type = ENV_RECEIPT;
	CHECK_EQ(env_open_decoded(&e, alice->sign_pk, bob, key, &content,
	    &clen), FERRY_EMSGTYPE);
	free(out);
}

TEST(wrong_recipient_refused)
{
	uint8_t ck[32], id[16], *out, *content;
	size_t outlen, clen;
	struct env e;
	struct ident *bob2;

	CHECK_EQ(seal(body_of(10), 10, NULL, &out, &outlen, ck, id), 0);
	/* Another agency. */
	CHECK_EQ(env_open(out, outlen, 0, alice->sign_pk, mallory, &e,
	    &content, &clen), FERRY_ENOTFORUS);
	/* Same name, other keys: the wrapped key does not open. */
	CHECK_EQ(ident_generate("bob-police", IDENT_POLICE, "Bob", NOW, DAY,
	    &bob2), 0);
	CHECK_EQ(env_open(out, outlen, 0, alice->sign_pk, bob2, &e, &content,
	    &clen), FERRY_EDECRYPT);
	ident_free(bob2);
	free(out);
	/* A key id the recipient does not hold. */
	CHECK_EQ(env_seal(alice, "bob-police", bob->enc[0].pk, 7,
	    body_of(10), 10, NULL, NOW, ck, id, &out, &outlen), 0);
	CHECK_EQ(env_open(out, outlen, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_EWRONGKEY);
	free(out);
	/* Not a MSG. */
	{
		struct env s;

		sample(&s, ENV_HELLO, NULL, 0);
		CHECK_EQ(env_encode(&s, relay->sign_sk, &out, &outlen), 0);
		CHECK_EQ(env_open(out, outlen, 0, relay->sign_pk, bob, &e,
		    &content, &clen), FERRY_EMSGTYPE);
		free(out);
	}
	CHECK(content == NULL);
}

TEST(signature_by_other_key_refused)
{
	uint8_t ck[32], id[16], *out, *forged, *content;
	size_t outlen, flen, clen;
	struct env e;

	CHECK_EQ(seal(body_of(10), 10, NULL, &out, &outlen, ck, id), 0);
	CHECK_EQ(env_decode(out, outlen, 0, &e), 0);
	/* Mallory re-signs alice's inner map. */
	forged = wrap(e.inner, e.inner_len, mallory->sign_sk, ENV_MSG, &flen);
	CHECK(forged != NULL);
	CHECK_EQ(env_open(forged, flen, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_EBADSIG);
	free(forged);
	/* A right key with another type's domain tag. */
	CHECK_EQ(env_decode(out, outlen, 0, &e), 0);
	forged = wrap(e.inner, e.inner_len, alice->sign_sk, ENV_RECEIPT,
	    &flen);
	CHECK(forged != NULL);
	CHECK_EQ(env_open(forged, flen, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_EBADSIG);
	free(forged);
	free(out);
}

TEST(header_moved_to_other_ciphertext_refused)
{
	uint8_t ck[32], id1[16], id2[16], *m1, *m2, *inner, *forged;
	uint8_t *content, *p;
	size_t l1, l2, flen, clen;
	struct env e1, e2, e;

	CHECK_EQ(seal((const uint8_t *)"first referral", 14, NULL, &m1, &l1,
	    ck, id1), 0);
	CHECK_EQ(seal((const uint8_t *)"second referral", 15, NULL, &m2, &l2,
	    ck, id2), 0);
	CHECK_EQ(env_decode(m1, l1, 0, &e1), 0);
	CHECK_EQ(env_decode(m2, l2, 0, &e2), 0);
	CHECK_EQ(e1.ct_len, e2.ct_len);
	/* Message 1's header and wrapped key on message 2's ciphertext,
	 * validly signed by the same sender: the AD no longer matches. */
	CHECK((inner = malloc(e1.inner_len)) != NULL);
	memcpy(inner, e1.inner, e1.inner_len);
	memcpy(inner + (e1.ct - e1.inner), e2.ct, e2.ct_len);
	forged = wrap(inner, e1.inner_len, alice->sign_sk, ENV_MSG, &flen);
	CHECK(forged != NULL);
	CHECK_EQ(env_open(forged, flen, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_EDECRYPT);
	free(forged);
	/* Message 1 with its id changed (header field in the AD). */
	memcpy(inner, e1.inner, e1.inner_len);
	CHECK((p = memmem(inner, e1.inner_len, id1, 16)) != NULL);
	p[0] ^= 1;
	forged = wrap(inner, e1.inner_len, alice->sign_sk, ENV_MSG, &flen);
	CHECK_EQ(env_open(forged, flen, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_EDECRYPT);
	free(forged);
	/* Message 1 with its time changed. */
	memcpy(inner, e1.inner, e1.inner_len);
	CHECK((p = memmem(inner, e1.inner_len, "\x06\xcf", 2)) != NULL);
	p[9] ^= 1;
	forged = wrap(inner, e1.inner_len, alice->sign_sk, ENV_MSG, &flen);
	CHECK_EQ(env_open(forged, flen, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_EDECRYPT);
	free(forged);
	/* Message 2's wrapped key moved onto message 1. */
	memcpy(inner, e1.inner, e1.inner_len);
	CHECK((p = memmem(inner, e1.inner_len, e1.wrapped, 80)) != NULL);
	memcpy(p, e2.wrapped, 80);
	forged = wrap(inner, e1.inner_len, alice->sign_sk, ENV_MSG, &flen);
	CHECK_EQ(env_open(forged, flen, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_EDECRYPT);
	free(forged);
	free(inner);
	free(m1);
	free(m2);
}

/*
 * A field list, encoded into an inner map for the decoder tests.
 */
enum { F_U = 1, F_S, F_B, F_RAW };
struct fld {
	uint64_t k;
	int kind;
	uint64_t u;
	const void *p;
	size_t n;
};

static const uint8_t zid[16];

static size_t
base(struct fld *f, uint32_t type)
{
	size_t n = 0;

	f[n++] = (struct fld){ 1, F_U, 1, NULL, 0 };
	f[n++] = (struct fld){ 2, F_U, type, NULL, 0 };
	f[n++] = (struct fld){ 3, F_B, 0, zid, 16 };
	f[n++] = (struct fld){ 4, F_S, 0, "relay", 5 };
	f[n++] = (struct fld){ 5, F_S, 0, "alice-charity", 13 };
	f[n++] = (struct fld){ 6, F_U, NOW, NULL, 0 };
	switch (type) {
	case ENV_NACK:
		f[n++] = (struct fld){ 16, F_B, 0, zid, 16 };
		f[n++] = (struct fld){ 17, F_B, 0, body_of(32), 32 };
		f[n++] = (struct fld){ 18, F_U, 102, NULL, 0 };
		f[n++] = (struct fld){ 19, F_S, 0, "full", 4 };
		break;
	case ENV_CREDIT:
		f[n++] = (struct fld){ 16, F_U, 10, NULL, 0 };
		break;
	}
	return (n);
}

static uint8_t *
encode_fields(const struct fld *f, size_t n, size_t *len)
{
	struct wire_buf w;
	uint8_t *out;
	size_t i;

	wire_buf_init(&w);
	wire_put_map(&w, n);
	for (i = 0; i < n; i++) {
		wire_put_uint(&w, f[i].k);
		switch (f[i].kind) {
		case F_U:
			wire_put_uint(&w, f[i].u);
			break;
		case F_S:
			/* Raw str, so that bad UTF-8 can be tested. */
			wire_put_raw(&w, f[i].n < 32 ? (uint8_t[]){ (uint8_t)
			    (0xa0 | f[i].n) } : f[i].n < 256 ? (uint8_t[]){
			    0xd9, (uint8_t)f[i].n } : (uint8_t[]){ 0xda,
			    (uint8_t)(f[i].n >> 8), (uint8_t)f[i].n },
			    f[i].n < 32 ? 1 : f[i].n < 256 ? 2 : 3);
			wire_put_raw(&w, f[i].p, f[i].n);
			break;
		case F_B:
			wire_put_bin(&w, f[i].p, f[i].n);
			break;
		case F_RAW:
			wire_put_raw(&w, f[i].p, f[i].n);
			break;
		}
	}
	if (wire_buf_take(&w, &out, len) != 0)
		return (NULL);
	return (out);
}

/* Decode an envelope whose inner map holds ${f}. */
static int
dec_fields(const struct fld *f, size_t n)
{
	struct env e;
	uint8_t *inner, *env;
	size_t ilen, elen;
	int rc;

	if ((inner = encode_fields(f, n, &ilen)) == NULL)
		return (FERRY_ENOMEM);
	if ((env = wrap(inner, ilen, NULL, 0, &elen)) == NULL) {
		free(inner);
		return (FERRY_ENOMEM);
	}
	rc = env_decode(env, elen, 0, &e);
	free(inner);
	free(env);
	return (rc);
}

/* Decode an envelope whose inner bytes are ${raw}. */
static int
dec_inner(const void *raw, size_t n)
{
	struct env e;
	uint8_t *env;
	size_t elen;
	int rc;

	if ((env = wrap(raw, n, NULL, 0, &elen)) == NULL)
		return (FERRY_ENOMEM);
	rc = env_decode(env, elen, 0, &e);
	free(env);
	return (rc);
}

static int
dec(const void *raw, size_t n)
{
	struct env e;

	return (env_decode(raw, n, 0, &e));
}

/* Replace field index ${i} of a fresh base of ${type}; decode. */
#define MUT(type, i, ...) do { struct fld f_[16]; size_t n_ = base(f_, \
	(type)); f_[(i)] = (struct fld)__VA_ARGS__; rc = dec_fields(f_, n_); \
	} while (0)

TEST(decoder_base_ok)
{
	struct fld f[16];
	size_t n;

	n = base(f, ENV_HEARTBEAT);
	CHECK_EQ(dec_fields(f, n), 0);
	n = base(f, ENV_NACK);
	CHECK_EQ(dec_fields(f, n), 0);
	n = base(f, ENV_CREDIT);
	CHECK_EQ(dec_fields(f, n), 0);
}

TEST(decoder_truncated)
{
	uint8_t ck[32], id[16], *out;
	size_t outlen, i;

	CHECK_EQ(seal(body_of(50), 50, (const uint8_t *)"0123456789abcdef",
	    &out, &outlen, ck, id), 0);
	for (i = 0; i < outlen; i++)
		CHECK_EQ(dec(out, i), FERRY_ETRUNCATED);
	free(out);
	/* 5-byte headers claiming 2^32 - 1 elements, outer and inner. */
	CHECK_EQ(dec("\xdd\xff\xff\xff\xff", 5), FERRY_ETRUNCATED);
	CHECK_EQ(dec("\xdf\xff\xff\xff\xff", 5), FERRY_ETRUNCATED);
	CHECK_EQ(dec("\xc6\xff\xff\xff\xff", 5), FERRY_ETRUNCATED);
	CHECK_EQ(dec_inner("\xdd\xff\xff\xff\xff", 5), FERRY_ETRUNCATED);
	CHECK_EQ(dec_inner("\xdf\xff\xff\xff\xff", 5), FERRY_ETRUNCATED);
	CHECK_EQ(dec_inner("\x81\x01", 2), FERRY_ETRUNCATED);
}

TEST(decoder_trailing)
{
	uint8_t ck[32], id[16], *out, *inner;
	size_t outlen;
	struct env e;
	int rc;

	CHECK_EQ(seal(body_of(50), 50, NULL, &out, &outlen, ck, id), 0);
	CHECK((out = realloc(out, outlen + 1)) != NULL);
	out[outlen] = 0;
	CHECK_EQ(dec(out, outlen + 1), FERRY_ETRAILING);
	/* Inside the inner bin. */
	CHECK_EQ(env_decode(out, outlen, 0, &e), 0);
	CHECK((inner = malloc(e.inner_len + 1)) != NULL);
	memcpy(inner, e.inner, e.inner_len);
	inner[e.inner_len] = 0x01;
	rc = dec_inner(inner, e.inner_len + 1);
	CHECK_EQ(rc, FERRY_ETRAILING);
	free(inner);
	free(out);
}

TEST(decoder_duplicate_and_order)
{
	struct fld f[16];
	size_t n;

	n = base(f, ENV_HEARTBEAT);
	f[n++] = f[5];		/* time twice */
	CHECK_EQ(dec_fields(f, n), FERRY_EDUPKEY);
	n = base(f, ENV_HEARTBEAT);
	f[3].k = 5;		/* 5 twice, adjacent */
	CHECK_EQ(dec_fields(f, n), FERRY_EDUPKEY);
	n = base(f, ENV_HEARTBEAT);
	f[3].k = 7;		/* 1 2 3 7 5 6: out of order */
	CHECK_EQ(dec_fields(f, n), FERRY_ENONCANON);
}

TEST(decoder_unknown_and_missing)
{
	struct fld f[16];
	size_t n;
	int rc;

	n = base(f, ENV_HEARTBEAT);
	f[n++] = (struct fld){ 16, F_U, 1, NULL, 0 };
	CHECK_EQ(dec_fields(f, n), FERRY_EUNKNOWNFIELD);
	n = base(f, ENV_CREDIT);
	f[n++] = (struct fld){ 17, F_U, 1, NULL, 0 };
	CHECK_EQ(dec_fields(f, n), FERRY_EUNKNOWNFIELD);
	n = base(f, ENV_HEARTBEAT);
	f[n++] = (struct fld){ 1000000, F_U, 1, NULL, 0 };
	CHECK_EQ(dec_fields(f, n), FERRY_EUNKNOWNFIELD);
	MUT(ENV_HEARTBEAT, 3, { 4, F_U, 0, NULL, 0 });
	CHECK_EQ(rc, FERRY_ETYPE);
	/* Missing: each common field, and a type's own field. */
	{
		size_t i, j;

		for (i = 0; i < 6; i++) {
			n = base(f, ENV_HEARTBEAT);
			for (j = i; j + 1 < n; j++)
				f[j] = f[j + 1];
			CHECK_EQ(dec_fields(f, n - 1), FERRY_EMISSING);
		}
	}
	n = base(f, ENV_CREDIT);
	CHECK_EQ(dec_fields(f, n - 1), FERRY_EMISSING);
	/* Outer array of 0 or 3 (of 1: a proof type's frame, see
	 * proof_frame_strict). */
	CHECK_EQ(dec("\x90", 1), FERRY_EMISSING);
	CHECK_EQ(dec("\x93\xc4\x00\xc4\x00\xc4\x00", 7), FERRY_EUNKNOWNFIELD);
	/* Too many fields to be any type: refused before unpacking. */
	{
		struct fld g[40];
		size_t i;

		n = base(g, ENV_HEARTBEAT);
		for (i = 0; n < 40; i++)
			g[n++] = (struct fld){ 100 + i, F_U, 1, NULL, 0 };
		CHECK_EQ(dec_fields(g, n), FERRY_ETOOBIG);
	}
}

TEST(decoder_wrong_types)
{
	int rc;

	MUT(ENV_HEARTBEAT, 0, { 1, F_S, 0, "1", 1 });
	CHECK_EQ(rc, FERRY_ETYPE);
	MUT(ENV_HEARTBEAT, 1, { 2, F_RAW, 0, "\xc3", 1 });
	CHECK_EQ(rc, FERRY_ETYPE);
	MUT(ENV_HEARTBEAT, 2, { 3, F_S, 0, "0123456789abcdef", 16 });
	CHECK_EQ(rc, FERRY_ETYPE);
	MUT(ENV_HEARTBEAT, 3, { 4, F_B, 0, "relay", 5 });
	CHECK_EQ(rc, FERRY_ETYPE);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\xc2", 1 });
	CHECK_EQ(rc, FERRY_ETYPE);
	MUT(ENV_NACK, 8, { 18, F_S, 0, "x", 1 });
	CHECK_EQ(rc, FERRY_ETYPE);
	MUT(ENV_NACK, 9, { 19, F_B, 0, "x", 1 });
	CHECK_EQ(rc, FERRY_ETYPE);
	/* Types outside the subset. */
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\xc0", 1 });	/* nil */
	CHECK_EQ(rc, FERRY_ETYPE);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\xff", 1 });	/* -1 */
	CHECK_EQ(rc, FERRY_ETYPE);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\xd0\x80", 2 });	/* -128 */
	CHECK_EQ(rc, FERRY_ETYPE);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\xca\0\0\0\0", 5 });
	CHECK_EQ(rc, FERRY_ETYPE);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\xd4\x01\x00", 3 });
	CHECK_EQ(rc, FERRY_ETYPE);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\xc1", 1 });
	CHECK_EQ(rc, FERRY_EMALFORMED);
	/* Outer: not an array; inner not a bin; inner not a map. */
	CHECK_EQ(dec("\x82\x01\x02\x03\x04", 5), FERRY_ETYPE);
	CHECK_EQ(dec("\x92\xa0\xc4\x00", 4), FERRY_ETYPE);
	CHECK_EQ(dec_inner("\x90", 1), FERRY_ETYPE);
	CHECK_EQ(dec_inner("\x07", 1), FERRY_ETYPE);
	/* Map key not an integer. */
	CHECK_EQ(dec_inner("\x81\xa1x\x01", 4), FERRY_ETYPE);
	/* Signature of the wrong length. */
	{
		uint8_t b[80];

		memcpy(b, "\x92\xc4\x00\xc4\x3f", 5);
		memset(b + 5, 0, 63);
		CHECK_EQ(dec(b, 5 + 63), FERRY_EBADVALUE);
	}
}

TEST(decoder_oversize_and_values)
{
	char big[ENV_REASON_MAX + 2];
	int rc;

	memset(big, 'a', sizeof(big));
	MUT(ENV_HEARTBEAT, 3, { 4, F_S, 0, big, FERRY_ID_MAX + 1 });
	CHECK_EQ(rc, FERRY_ETOOBIG);
	MUT(ENV_HEARTBEAT, 3, { 4, F_S, 0, big, FERRY_ID_MAX });
	CHECK_EQ(rc, 0);
	MUT(ENV_NACK, 9, { 19, F_S, 0, big, ENV_REASON_MAX + 1 });
	CHECK_EQ(rc, FERRY_ETOOBIG);
	MUT(ENV_NACK, 9, { 19, F_S, 0, big, ENV_REASON_MAX });
	CHECK_EQ(rc, 0);
	MUT(ENV_HEARTBEAT, 2, { 3, F_B, 0, zid, 15 });
	CHECK_EQ(rc, FERRY_EBADVALUE);
	MUT(ENV_HEARTBEAT, 2, { 3, F_B, 0, body_of(17), 17 });
	CHECK_EQ(rc, FERRY_ETOOBIG);
	MUT(ENV_NACK, 8, { 18, F_U, 0, NULL, 0 });
	CHECK_EQ(rc, FERRY_EBADVALUE);
	MUT(ENV_NACK, 8, { 18, F_U, (uint64_t)INT32_MAX + 1, NULL, 0 });
	CHECK_EQ(rc, FERRY_EBADVALUE);
	/* Agency ids. */
	MUT(ENV_HEARTBEAT, 3, { 4, F_S, 0, "Relay", 5 });
	CHECK_EQ(rc, FERRY_EBADID);
	MUT(ENV_HEARTBEAT, 4, { 5, F_S, 0, "", 0 });
	CHECK_EQ(rc, FERRY_EBADID);
	MUT(ENV_HEARTBEAT, 4, { 5, F_S, 0, "a\0b", 3 });
	CHECK_EQ(rc, FERRY_EBADID);
	MUT(ENV_HEARTBEAT, 4, { 5, F_S, 0, "a b", 3 });
	CHECK_EQ(rc, FERRY_EBADID);
	/* Malformed UTF-8 in a str. */
	MUT(ENV_NACK, 9, { 19, F_S, 0, "\xc0\xaf", 2 });
	CHECK_EQ(rc, FERRY_EBADVALUE);
	MUT(ENV_NACK, 9, { 19, F_S, 0, "\xed\xa0\x80", 3 });
	CHECK_EQ(rc, FERRY_EBADVALUE);
}

TEST(decoder_bodies)
{
	uint8_t ck[32], id[16], *out, *inner, *env;
	size_t outlen, elen;
	struct env e;

	/* A body over the receiver's max_body. */
	CHECK_EQ(seal(body_of(4000), 4000, NULL, &out, &outlen, ck, id), 0);
	CHECK_EQ(env_decode(out, outlen, 5000, &e), 0);
	CHECK_EQ(env_decode(out, outlen, 3000, &e), 0);	/* same bucket */
	CHECK_EQ(env_decode(out, outlen, 2000, &e), FERRY_ETOOBIG);
	CHECK_EQ(env_decode(out, outlen, 100, &e), FERRY_ETOOBIG);
	/* A ciphertext that is not bucket-sized. */
	CHECK_EQ(env_decode(out, outlen, 0, &e), 0);
	{
		struct fld f[16];
		size_t n = 0;

		f[n++] = (struct fld){ 1, F_U, 1, NULL, 0 };
		f[n++] = (struct fld){ 2, F_U, 1, NULL, 0 };
		f[n++] = (struct fld){ 3, F_B, 0, e.id, 16 };
		f[n++] = (struct fld){ 4, F_S, 0, e.from, strlen(e.from) };
		f[n++] = (struct fld){ 5, F_S, 0, e.to, strlen(e.to) };
		f[n++] = (struct fld){ 6, F_U, e.time, NULL, 0 };
		f[n++] = (struct fld){ 16, F_U, e.key_id, NULL, 0 };
		f[n++] = (struct fld){ 17, F_B, 0, e.wrapped, 80 };
		f[n++] = (struct fld){ 18, F_B, 0, e.nonce, 24 };
		f[n++] = (struct fld){ 19, F_B, 0, e.ct, e.ct_len };
		f[n++] = (struct fld){ 20, F_B, 0, e.commitment, 32 };
		CHECK_EQ(dec_fields(f, n), 0);
		f[9].n = e.ct_len - 1;
		CHECK_EQ(dec_fields(f, n), FERRY_EBADVALUE);
		f[9].n = 1024 + 15;
		CHECK_EQ(dec_fields(f, n), FERRY_EBADVALUE);
		f[9].n = e.ct_len;
		f[7].n = 79;
		CHECK_EQ(dec_fields(f, n), FERRY_EBADVALUE);
		f[7].n = 80;
		f[8].n = 25;
		CHECK_EQ(dec_fields(f, n), FERRY_ETOOBIG);
		f[8].n = 24;
		f[6].u = 0;
		CHECK_EQ(dec_fields(f, n), FERRY_EBADVALUE);
		f[6].u = (uint64_t)UINT32_MAX + 1;
		CHECK_EQ(dec_fields(f, n), FERRY_EBADVALUE);
		f[6].u = 1;
		CHECK((inner = encode_fields(f, n, &elen)) != NULL);
		free(inner);
	}
	free(out);
	/* A frame over the limit is refused before it is read. */
	{
		size_t big = (size_t)FERRY_BODY_MAX_DEFAULT * 2 + 4096;

		CHECK((env = calloc(1, big)) != NULL);
		CHECK_EQ(env_decode(env, big, 0, &e), FERRY_ETOOBIG);
		/* With a small max_body, the blob types still fit. */
		CHECK_EQ(env_decode(env, ENV_BLOB_MAX + 2048, 1000, &e),
		    FERRY_ETOOBIG);
		free(env);
	}
	/* A roster blob over ENV_BLOB_MAX. */
	{
		struct fld f[16];
		size_t n = base(f, ENV_ROSTER);
		uint8_t *blob;

		CHECK((blob = calloc(1, ENV_BLOB_MAX + 1)) != NULL);
		f[n++] = (struct fld){ 16, F_B, 0, blob, ENV_BLOB_MAX + 1 };
		CHECK_EQ(dec_fields(f, n), FERRY_ETOOBIG);
		f[n - 1].n = ENV_BLOB_MAX;
		CHECK_EQ(dec_fields(f, n), 0);
		f[n - 1].n = 0;
		CHECK_EQ(dec_fields(f, n), FERRY_EBADVALUE);
		free(blob);
	}
}

TEST(decoder_nesting)
{
	int rc;

	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\x91\x01", 2 });
	CHECK_EQ(rc, FERRY_ENESTING);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\x80", 1 });
	CHECK_EQ(rc, FERRY_ENESTING);
	CHECK_EQ(dec("\x92\x91\xc4\x00\xc4\x00", 6), FERRY_ENESTING);
	CHECK_EQ(dec("\x91\x91\x91\x91\x91\x91\x91\x91\x91\x90", 10),
	    FERRY_ENESTING);
}

TEST(decoder_noncanonical)
{
	int rc;

	/* Integers in longer forms than needed. */
	MUT(ENV_HEARTBEAT, 0, { 1, F_RAW, 0, "\xcc\x01", 2 });
	CHECK_EQ(rc, FERRY_ENONCANON);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\xcd\x00\xff", 3 });
	CHECK_EQ(rc, FERRY_ENONCANON);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\xce\x00\x00\xff\xff", 5 });
	CHECK_EQ(rc, FERRY_ENONCANON);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0,
	    "\xcf\x00\x00\x00\x00\xff\xff\xff\xff", 9 });
	CHECK_EQ(rc, FERRY_ENONCANON);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\xd0\x05", 2 });
	CHECK_EQ(rc, FERRY_ENONCANON);
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\xd3\0\0\0\0\0\0\0\x05", 9 });
	CHECK_EQ(rc, FERRY_ENONCANON);
	/* Lengths in longer forms. */
	MUT(ENV_HEARTBEAT, 3, { 4, F_RAW, 0, "\xd9\x05relay", 7 });
	CHECK_EQ(rc, FERRY_ENONCANON);
	MUT(ENV_HEARTBEAT, 3, { 4, F_RAW, 0, "\xda\x00\x05relay", 8 });
	CHECK_EQ(rc, FERRY_ENONCANON);
	MUT(ENV_HEARTBEAT, 3, { 4, F_RAW, 0, "\xdb\x00\x00\x00\x05relay",
	    10 });
	CHECK_EQ(rc, FERRY_ENONCANON);
	MUT(ENV_HEARTBEAT, 2, { 3, F_RAW, 0,
	    "\xc5\x00\x10" "0123456789abcdef", 19 });
	CHECK_EQ(rc, FERRY_ENONCANON);
	MUT(ENV_HEARTBEAT, 2, { 3, F_RAW, 0,
	    "\xc6\x00\x00\x00\x10" "0123456789abcdef", 21 });
	CHECK_EQ(rc, FERRY_ENONCANON);
	/* A map key in a longer form. */
	MUT(ENV_HEARTBEAT, 5, { 6, F_RAW, 0, "\x05", 1 });
	CHECK_EQ(rc, 0);
	{
		uint8_t *inner, *p;
		struct fld f[16];
		size_t n = base(f, ENV_HEARTBEAT), ilen;

		CHECK((inner = encode_fields(f, n, &ilen)) != NULL);
		CHECK((inner = realloc(inner, ilen + 8)) != NULL);
		/* Map header 0x86 as map16 and as map32. */
		memmove(inner + 3, inner + 1, ilen - 1);
		inner[0] = 0xde;
		inner[1] = 0;
		inner[2] = 6;
		CHECK_EQ(dec_inner(inner, ilen + 2), FERRY_ENONCANON);
		memmove(inner + 5, inner + 3, ilen - 1);
		inner[0] = 0xdf;
		inner[1] = inner[2] = inner[3] = 0;
		inner[4] = 6;
		CHECK_EQ(dec_inner(inner, ilen + 4), FERRY_ENONCANON);
		/* Key 1 as uint8. */
		memmove(inner + 2, inner + 5, ilen - 1);
		inner[0] = 0x86;
		inner[1] = 0xcc;
		CHECK_EQ(dec_inner(inner, ilen + 1), FERRY_ENONCANON);
		(void)p;
		free(inner);
	}
	/* The outer array as array16 / array32; the inner bin as bin16. */
	CHECK_EQ(dec("\xdc\x00\x02\xc4\x00\xc4\x00", 7), FERRY_ENONCANON);
	CHECK_EQ(dec("\xdd\x00\x00\x00\x02\xc4\x00\xc4\x00", 9),
	    FERRY_ENONCANON);
	CHECK_EQ(dec("\x92\xc5\x00\x00\xc4\x00", 6), FERRY_ENONCANON);
}

TEST(decoder_version_and_type)
{
	int rc;

	MUT(ENV_HEARTBEAT, 0, { 1, F_U, 2, NULL, 0 });
	CHECK_EQ(rc, FERRY_EVERSION);
	MUT(ENV_HEARTBEAT, 0, { 1, F_U, 0, NULL, 0 });
	CHECK_EQ(rc, FERRY_EVERSION);
	MUT(ENV_HEARTBEAT, 1, { 2, F_U, ENV_ACCEPTED_P + 1, NULL, 0 });
	CHECK_EQ(rc, FERRY_EMSGTYPE);
	MUT(ENV_HEARTBEAT, 1, { 2, F_U, 0, NULL, 0 });
	CHECK_EQ(rc, FERRY_EMSGTYPE);
	/* Version is checked before the schema: a version 2 envelope
	 * with fields unknown to version 1 is named as such. */
	{
		struct fld f[16];
		size_t n = base(f, ENV_HEARTBEAT);

		f[0].u = 2;
		f[n++] = (struct fld){ 40, F_U, 1, NULL, 0 };
		CHECK_EQ(dec_fields(f, n), FERRY_EVERSION);
		f[0].u = 1;
		f[1].u = 77;
		CHECK_EQ(dec_fields(f, n), FERRY_EMSGTYPE);
	}
}


/*
 * Golden vectors: with deterministic randomness, fixed ids and times, the
 * bytes must never change.  --regen writes them; otherwise they are
 * compared byte for byte, and the stored ones must still open.
 */
#define GOLD_TIME 1700000000000ULL
static const char gold_text[] =
    "{\"referral\":\"golden vector\",\"person\":\"A. N. Other\","
    "\"risk\":\"high\",\"notes\":\"caf\xc3\xa9 \xe2\x9c\x93\"}";

struct vec {
	const char *name;
	uint8_t *buf;
	size_t len;
};

static int
vec_file(const char *name, char *path, size_t cap)
{

	return (snprintf(path, cap, "%s/%s", VECDIR, name) < (int)cap ? 0 :
	    -1);
}

/* Write (regen) or compare one hex file. */
static int
vec_check(const char *name, const uint8_t *b, size_t len, int as_text)
{
	char path[256], *hex = NULL;
	uint8_t *have;
	size_t hl, want;
	int ok;

	if (vec_file(name, path, sizeof(path)) != 0)
		return (0);
	if (as_text) {
		hl = len;
	} else {
		if ((hex = malloc(len * 2 + 2)) == NULL)
			return (0);
		ferry_hex(hex, b, len);
		hex[len * 2] = '\n';
		hl = len * 2 + 1;
	}
	if (regen) {
		ok = ferry_write_file(path, as_text ? (const void *)b : hex,
		    hl, 0644) == 0;
		printf("# wrote %s\n", path);
		free(hex);
		return (ok);
	}
	have = t_read_file(path, &want);
	ok = have != NULL && want == hl && memcmp(have, as_text ?
	    (const void *)b : hex, hl) == 0;
	if (!ok)
		printf("#   %s differs from what the code makes now "
		    "(run test_envelope --regen only if the format change "
		    "is intended)\n", path);
	free(have);
	free(hex);
	return (ok);
}

static uint8_t *
vec_load(const char *name, size_t *len)
{
	char path[256], *txt;
	uint8_t *b;
	size_t tl;

	if (vec_file(name, path, sizeof(path)) != 0 ||
	    (txt = (char *)t_read_file(path, &tl)) == NULL)
		return (NULL);
	while (tl > 0 && (txt[tl - 1] == '\n'))
		txt[--tl] = '\0';
	*len = tl / 2;
	if ((b = malloc(*len + 1)) == NULL || ferry_unhex(b, *len, txt) != 0) {
		free(b);
		b = NULL;
	}
	free(txt);
	return (b);
}

static void
keyline(char *buf, size_t cap, size_t *off, const char *name,
    const uint8_t *b, size_t n)
{
	char hex[2 * 256 + 1];

	if (n > 256)
		n = 256;	/* (inputs here are shorter) */
	ferry_hex(hex, b, n);
	*off += (size_t)snprintf(buf + *off, cap - *off, "%s %s\n", name, hex);
}

TEST(golden_vectors)
{
	struct ident *s = NULL, *r = NULL, *rl = NULL;
	uint8_t ck[32], id[16], reply[16], *out = NULL, *content;
	size_t outlen, clen, off = 0;
	char keys[4096];
	struct env e, d;
	uint32_t t;
	static const char *names[] = { NULL, "envelope_msg.hex",
	    "envelope_receipt.hex", "envelope_accepted.hex",
	    "envelope_nack.hex", "envelope_hello.hex", "envelope_credit.hex",
	    "envelope_heartbeat.hex", "envelope_roster.hex",
	    "envelope_checkpoint.hex", "envelope_ask.hex" };
	const uint8_t note[] = "ferry.example/relay\n42\nqKJl3kFwD3Cr2Ag8jIuO+"
	    "Q5X8vL6xgEoqQ/2M4dY9j0=\n";

	det_reset(1);
	CHECK_EQ(ident_generate("eerc-charity", IDENT_CHARITY, "EERC",
	    GOLD_TIME, DAY, &s), 0);
	CHECK_EQ(ident_generate("met-police", IDENT_POLICE, "Met Police",
	    GOLD_TIME, DAY, &r), 0);
	CHECK_EQ(ident_generate("relay", IDENT_RELAY, "Relay", GOLD_TIME, DAY,
	    &rl), 0);
	memset(reply, 0xab, sizeof(reply));
	CHECK_EQ(env_seal(s, "met-police", r->enc[0].pk, r->enc[0].key_id,
	    (const uint8_t *)gold_text, strlen(gold_text), reply, GOLD_TIME,
	    ck, id, &out, &outlen), 0);
	CHECK(vec_check(names[ENV_MSG], out, outlen, 0));
	CHECK_EQ(env_open(out, outlen, 0, s->sign_pk, r, &e, &content, &clen),
	    0);
	free(content);

	/* The keys, so that an independent implementation can check. */
	off += (size_t)snprintf(keys + off, sizeof(keys) - off,
	    "# Keys and inputs of the golden envelopes (hex unless noted).\n"
	    "sender_id %s\nrecipient_id %s\nrelay_id %s\ntime %llu\n"
	    "key_id %u\n", s->id, r->id, rl->id,
	    (unsigned long long)GOLD_TIME, (unsigned)r->enc[0].key_id);
	keyline(keys, sizeof(keys), &off, "sender_sign_seed", s->sign_sk, 32);
	keyline(keys, sizeof(keys), &off, "sender_sign_pk", s->sign_pk, 32);
	keyline(keys, sizeof(keys), &off, "recipient_sign_pk", r->sign_pk, 32);
	keyline(keys, sizeof(keys), &off, "recipient_enc_sk", r->enc[0].sk,
	    32);
	keyline(keys, sizeof(keys), &off, "recipient_enc_pk", r->enc[0].pk,
	    32);
	keyline(keys, sizeof(keys), &off, "relay_sign_pk", rl->sign_pk, 32);
	keyline(keys, sizeof(keys), &off, "msg_content_key", ck, 32);
	keyline(keys, sizeof(keys), &off, "msg_id", id, 16);
	keyline(keys, sizeof(keys), &off, "msg_reply_to", reply, 16);
	keyline(keys, sizeof(keys), &off, "msg_content",
	    (const uint8_t *)gold_text, strlen(gold_text));
	keyline(keys, sizeof(keys), &off, "checkpoint_note", note,
	    sizeof(note) - 1);
	CHECK(off < sizeof(keys));
	CHECK(vec_check("envelope_keys.txt", (const uint8_t *)keys, off, 1));
	free(out);
	out = NULL;

	/* Every other type, signed by the relay or the recipient. */
	for (t = ENV_RECEIPT; t <= ENV_ASK; t++) {
		const struct ident *signer = t == ENV_RECEIPT ? r : rl;

		memset(&e, 0, sizeof(e));
		e.type = t;
		env_new_id_at(e.id, GOLD_TIME + t);
		snprintf(e.from, sizeof(e.from), "%s", signer->id);
		snprintf(e.to, sizeof(e.to), "%s", t == ENV_RECEIPT ?
		    "eerc-charity" : "met-police");
		e.time = GOLD_TIME + t;
		memcpy(e.msg_id, id, 16);
		memset(e.env_hash, 0xee, 32);
		e.log_index = 7;
		e.roster_version = 3;
		e.code = (uint32_t)-FERRY_ERECIPIENT;
		e.reason = "recipient unknown or not active";
		e.reason_len = strlen(e.reason);
		e.credit = 64;
		e.blob = note;
		e.blob_len = sizeof(note) - 1;
		CHECK_EQ(env_encode(&e, signer->sign_sk, &out, &outlen), 0);
		CHECK(vec_check(names[t], out, outlen, 0));
		CHECK_EQ(env_decode(out, outlen, 0, &d), 0);
		CHECK_EQ(env_verify(&d, signer->sign_pk), 0);
		free(out);
		out = NULL;
	}
	/* The proof types: the recipient's RECEIPT_P and the relay's
	 * ACCEPTED_P, each proving entry 3 of a five-entry log. */
	for (t = ENV_RECEIPT_P; t <= ENV_ACCEPTED_P; t++) {
		const struct ident *signer = t == ENV_RECEIPT_P ? r : rl;
		struct plog pl;

		plog_make(&pl, signer, 5, 3, t == ENV_RECEIPT_P ? LOG_RECEIVED :
		    LOG_ACCEPTED, "eerc-charity", "met-police", GOLD_TIME);
		proof_env(&e, &pl, t, signer, "eerc-charity", 3, GOLD_TIME + t);
		CHECK_EQ(env_encode(&e, NULL, &out, &outlen), 0);
		CHECK(vec_check(t == ENV_RECEIPT_P ? "envelope_receipt_p.hex" :
		    "envelope_accepted_p.hex", out, outlen, 0));
		CHECK_EQ(env_decode(out, outlen, 0, &d), 0);
		CHECK_EQ(env_verify_proof(&d, signer->sign_pk, NULL), 0);
		free(out);
		out = NULL;
		plog_free(&pl);
	}
	det_reset(0);

	/* The stored vectors decode, verify and open as they are. */
	if (!regen) {
		uint8_t *b;
		size_t bl;

		CHECK((b = vec_load(names[ENV_MSG], &bl)) != NULL);
		CHECK_EQ(env_open(b, bl, 0, s->sign_pk, r, &e, &content, &clen),
		    0);
		CHECK_EQ(clen, strlen(gold_text));
		CHECK(memcmp(content, gold_text, clen) == 0);
		free(content);
		free(b);
		for (t = ENV_RECEIPT; t <= ENV_ASK; t++) {
			CHECK((b = vec_load(names[t], &bl)) != NULL);
			CHECK_EQ(env_decode(b, bl, 0, &d), 0);
			CHECK_EQ(d.type, t);
			CHECK_EQ(env_verify(&d, t == ENV_RECEIPT ? r->sign_pk :
			    rl->sign_pk), 0);
			free(b);
		}
		CHECK((b = vec_load("envelope_receipt_p.hex", &bl)) != NULL);
		CHECK_EQ(env_decode(b, bl, 0, &d), 0);
		CHECK_EQ(d.type, ENV_RECEIPT_P);
		CHECK_EQ(env_verify_proof(&d, r->sign_pk, NULL), 0);
		CHECK_EQ(env_verify_proof(&d, rl->sign_pk, NULL), FERRY_ENOENT);
		free(b);
		CHECK((b = vec_load("envelope_accepted_p.hex", &bl)) != NULL);
		CHECK_EQ(env_decode(b, bl, 0, &d), 0);
		CHECK_EQ(d.type, ENV_ACCEPTED_P);
		CHECK_EQ(env_verify_proof(&d, rl->sign_pk, NULL), 0);
		free(b);
	}
	ident_free(s);
	ident_free(r);
	ident_free(rl);
}


/*
 * A MSG built by hand from the construction of docs/protocol.md 3.5, with
 * a chosen plaintext layout: a malicious or buggy sender's envelope that
 * is validly signed and encrypted but whose inside is wrong.
 */
static uint8_t *
handmade(const uint8_t *plain, size_t plen, const uint8_t commit[32],
    size_t *len)
{
	uint8_t k[32], nonce[24], wrapped[80], id[16], *ad, *ct, *inner, *env;
	size_t adlen, ilen, bucket = 1024;
	unsigned long long clen;
	struct wire_buf w;
	struct fld f[16];
	size_t n = 0;

	randombytes_buf(k, 32);
	randombytes_buf(nonce, 24);
	randombytes_buf(id, 16);
	if (crypto_box_seal(wrapped, k, 32, bob->enc[0].pk) != 0)
		return (NULL);
	wire_buf_init(&w);
	wire_put_raw(&w, "ferry-msg-ad/v1", 16);
	wire_put_array(&w, 10);
	wire_put_uint(&w, 1);
	wire_put_uint(&w, 1);
	wire_put_bin(&w, id, 16);
	wire_put_cstr(&w, "alice-charity");
	wire_put_cstr(&w, "bob-police");
	wire_put_uint(&w, NOW);
	wire_put_uint(&w, 1);
	wire_put_bin(&w, wrapped, 80);
	wire_put_raw(&w, "\xc4\x00", 2);
	wire_put_bin(&w, commit, 32);
	if (wire_buf_take(&w, &ad, &adlen) != 0)
		return (NULL);
	if (plen > bucket || (ct = calloc(1, bucket + 16)) == NULL)
		return (NULL);
	memcpy(ct, plain, plen);	/* caller's padding, as given */
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, ct, bucket, ad,
	    adlen, NULL, nonce, k);
	free(ad);
	f[n++] = (struct fld){ 1, F_U, 1, NULL, 0 };
	f[n++] = (struct fld){ 2, F_U, 1, NULL, 0 };
	f[n++] = (struct fld){ 3, F_B, 0, id, 16 };
	f[n++] = (struct fld){ 4, F_S, 0, "alice-charity", 13 };
	f[n++] = (struct fld){ 5, F_S, 0, "bob-police", 10 };
	f[n++] = (struct fld){ 6, F_U, NOW, NULL, 0 };
	f[n++] = (struct fld){ 16, F_U, 1, NULL, 0 };
	f[n++] = (struct fld){ 17, F_B, 0, wrapped, 80 };
	f[n++] = (struct fld){ 18, F_B, 0, nonce, 24 };
	f[n++] = (struct fld){ 19, F_B, 0, ct, (size_t)clen };
	f[n++] = (struct fld){ 20, F_B, 0, commit, 32 };
	inner = encode_fields(f, n, &ilen);
	free(ct);
	if (inner == NULL)
		return (NULL);
	env = wrap(inner, ilen, alice->sign_sk, ENV_MSG, len);
	free(inner);
	return (env);
}

/* Ids are time-ordered like UUIDv7: 6 bytes of time, 10 random. */
TEST(ids_time_ordered)
{
	static const uint8_t want[6] = { 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
	uint8_t a[16], b[16], c[16], ck[32], *out = NULL;
	uint64_t t0, t1, got;
	size_t outlen;
	int i;

	env_new_id_at(a, 0x0102030405060708ULL);
	CHECK(memcmp(a, want, 6) == 0);	/* the low 48 bits */
	env_new_id_at(a, NOW);
	env_new_id_at(b, NOW);
	env_new_id_at(c, NOW + 1);
	CHECK(memcmp(a, b, 6) == 0);
	CHECK(memcmp(a + 6, b + 6, 10) != 0);
	CHECK(memcmp(a, c, 16) < 0 && memcmp(b, c, 16) < 0);
	for (got = 0, i = 0; i < 6; i++)
		got = (got << 8) | a[i];
	CHECK(got == NOW);
	/* env_new_id: now. */
	t0 = ferry_now_ms();
	env_new_id(a);
	t1 = ferry_now_ms();
	for (got = 0, i = 0; i < 6; i++)
		got = (got << 8) | a[i];
	CHECK(got >= t0 && got <= t1);
	/* A sealed MSG's id carries its time field. */
	CHECK_EQ(env_seal(alice, "bob-police", bob->enc[0].pk, 1,
	    (const uint8_t *)"x", 1, NULL, NOW + 5, ck, c, &out, &outlen), 0);
	for (got = 0, i = 0; i < 6; i++)
		got = (got << 8) | c[i];
	CHECK(got == NOW + 5);
	free(out);
}

TEST(handmade_msg_inside_checks)
{
	uint8_t plain[1024], c[32], commit[32], *env, *content;
	const uint8_t msg[] = "hand made";
	size_t len, clen, p;
	struct env e;

	randombytes_buf(c, 32);
	crypto_generichash(commit, 32, msg, sizeof(msg), c, 32);
	/* [C, msg] padded properly: opens (the construction matches). */
	memset(plain, 0, sizeof(plain));
	p = 0;
	plain[p++] = 0x92;
	plain[p++] = 0xc4;
	plain[p++] = 32;
	memcpy(plain + p, c, 32);
	p += 32;
	plain[p++] = 0xc4;
	plain[p++] = sizeof(msg);
	memcpy(plain + p, msg, sizeof(msg));
	p += sizeof(msg);
	plain[p] = 0x80;
	CHECK((env = handmade(plain, sizeof(plain), commit, &len)) != NULL);
	CHECK_EQ(env_open(env, len, 0, alice->sign_pk, bob, &e, &content,
	    &clen), 0);
	CHECK_EQ(clen, sizeof(msg));
	CHECK(memcmp(content, msg, clen) == 0);
	free(content);
	free(env);
	/* A commitment that does not match the content. */
	commit[0] ^= 1;
	CHECK((env = handmade(plain, sizeof(plain), commit, &len)) != NULL);
	CHECK_EQ(env_open(env, len, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_ECOMMIT);
	CHECK(content == NULL);
	free(env);
	commit[0] ^= 1;
	/* No 0x80 padding marker. */
	plain[p] = 0;
	CHECK((env = handmade(plain, sizeof(plain), commit, &len)) != NULL);
	CHECK_EQ(env_open(env, len, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_EPADDING);
	free(env);
	/* Padding marker followed by a non-zero byte. */
	plain[p] = 0x80;
	plain[p + 5] = 1;
	CHECK((env = handmade(plain, sizeof(plain), commit, &len)) != NULL);
	CHECK_EQ(env_open(env, len, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_EPADDING);
	free(env);
	plain[p + 5] = 0;
	/* The plaintext is not [bin 32, bin]. */
	plain[0] = 0x93;
	CHECK((env = handmade(plain, sizeof(plain), commit, &len)) != NULL);
	CHECK_EQ(env_open(env, len, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_ETRUNCATED);
	free(env);
	plain[0] = 0x92;
	plain[2] = 31;
	CHECK((env = handmade(plain, sizeof(plain), commit, &len)) != NULL);
	CHECK(env_open(env, len, 0, alice->sign_pk, bob, &e, &content,
	    &clen) < 0);
	free(env);
	plain[2] = 32;
	/* [bin 32, 7]: well-formed msgpack, wrong shape. */
	memset(plain + 35, 0, sizeof(plain) - 35);
	plain[35] = 7;
	plain[36] = 0x80;
	CHECK((env = handmade(plain, sizeof(plain), commit, &len)) != NULL);
	CHECK_EQ(env_open(env, len, 0, alice->sign_pk, bob, &e, &content,
	    &clen), FERRY_EMALFORMED);
	free(env);
}

int
main(int argc, char **argv)
{

	/* Before sodium_init (in t_init): libsodium requires it. */
	if (randombytes_set_implementation(&det_impl) != 0)
		return (1);
	regen = argc > 1 && strcmp(argv[1], "--regen") == 0;
	t_init();
	setup();
	RUN(golden_vectors);
	RUN(types_and_tags);
	RUN(buckets);
	RUN(padding_as_sodium);
	RUN(roundtrip_msg_sizes);
	RUN(roundtrip_msg_max);
	RUN(seal_refuses);
	RUN(roundtrip_control_types);
	RUN(receipt_without_note);
	RUN(encode_refuses);
	RUN(proof_roundtrip);
	RUN(proof_frame_strict);
	RUN(proof_refusals);
	RUN(proof_note_cache);
	RUN(every_bit_flip_refused);
	RUN(open_decoded_gives_key);
	RUN(wrong_recipient_refused);
	RUN(signature_by_other_key_refused);
	RUN(header_moved_to_other_ciphertext_refused);
	RUN(decoder_base_ok);
	RUN(decoder_truncated);
	RUN(decoder_trailing);
	RUN(decoder_duplicate_and_order);
	RUN(decoder_unknown_and_missing);
	RUN(decoder_wrong_types);
	RUN(decoder_oversize_and_values);
	RUN(decoder_bodies);
	RUN(decoder_nesting);
	RUN(decoder_noncanonical);
	RUN(decoder_version_and_type);
	RUN(handmade_msg_inside_checks);
	RUN(ids_time_ordered);
	ident_free(alice);
	ident_free(bob);
	ident_free(mallory);
	ident_free(relay);
	return (t_done());
}
