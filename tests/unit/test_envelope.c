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

static void __attribute__((unused))
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

	for (t = 1; t <= 9; t++) {
		CHECK(env_type_name(t) != NULL);
		CHECK(env_tag(t) != NULL);
		CHECK(strncmp(env_tag(t), "ferry-", 6) == 0);
	}
	CHECK(env_type_name(0) == NULL && env_tag(10) == NULL);
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

	for (t = ENV_RECEIPT; t <= ENV_CHECKPOINT; t++) {
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

TEST(encode_refuses)
{
	struct env e;
	uint8_t *out, big[ENV_REASON_MAX + 1];
	size_t len;

	sample(&e, ENV_MSG, NULL, 0);
	CHECK_EQ(env_encode(&e, relay->sign_sk, &out, &len), FERRY_EINVAL);
	sample(&e, 10, NULL, 0);
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

int
main(int argc, char **argv)
{

	/* Before sodium_init (in t_init): libsodium requires it. */
	if (randombytes_set_implementation(&det_impl) != 0)
		return (1);
	regen = argc > 1 && strcmp(argv[1], "--regen") == 0;
	t_init();
	setup();
	RUN(types_and_tags);
	RUN(buckets);
	RUN(roundtrip_msg_sizes);
	RUN(roundtrip_msg_max);
	RUN(seal_refuses);
	RUN(roundtrip_control_types);
	RUN(receipt_without_note);
	RUN(encode_refuses);
	ident_free(alice);
	ident_free(bob);
	ident_free(mallory);
	ident_free(relay);
	return (t_done());
}
