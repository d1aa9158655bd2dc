/*
 * bench_envelope.c: envelope seal and open rates for 4 KiB and 1 MiB
 * bodies, beside the raw libsodium primitives they are built from,
 * measured in the same run on the same sizes, with the ratio and its
 * arithmetic printed.
 *
 * A seal is: BLAKE2b-256 over the content (commitment), crypto_box_seal of
 * the 32-byte content key, XChaCha20-Poly1305 over the padded plaintext
 * (the bucket), and Ed25519 over tag || inner (about bucket + 300 bytes),
 * plus encoding and one copy of the content.  An open is: decode,
 * Ed25519 verify (with a copy of inner to prefix the tag),
 * crypto_box_seal_open, XChaCha20-Poly1305 decrypt, unpad, BLAKE2b.
 * The ratio envelope / sum of primitives shows the overhead of Ferry's
 * own code (ideal: close to 1.0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "envelope.h"
#include "ferry.h"
#include "ident.h"

#define NOW 1700000000000ULL
#define MIN_SECONDS 0.4		/* per measurement */
#define MAX_ITERS 200000

static double
now_s(void)
{
	struct timespec ts;

	/* CPU time of this (single-threaded) process: other work on the
	 * machine then hardly moves the figures. */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Run ${fn} until MIN_SECONDS pass (or MAX_ITERS); microseconds per op. */
static double
measure(void (*fn)(void *), void *arg)
{
	double t0 = now_s(), t;
	long n = 0;

	fn(arg);	/* warm up */
	t0 = now_s();
	do {
		fn(arg);
		n++;
		t = now_s();
	} while (t - t0 < MIN_SECONDS && n < MAX_ITERS);
	return ((t - t0) / (double)n * 1e6);
}

struct ctx {
	struct ident *s, *r;
	size_t body_len, bucket, inner_len;
	uint8_t *body, *buf, *buf2, *env;
	size_t env_len;
	uint8_t key[32], ckey[32], nonce[24], sig[64], wrapped[80];
	uint8_t pk[32], sk[64], bpk[32], bsk[32];
};

static void
do_seal(void *p)
{
	struct ctx *c = p;
	uint8_t ck[32], id[16], *out;
	size_t len;

	if (env_seal(c->s, "bob-police", c->r->enc[0].pk, 1, c->body,
	    c->body_len, NULL, NOW, ck, id, &out, &len) != 0)
		abort();
	free(out);
}

static void
do_open(void *p)
{
	struct ctx *c = p;
	struct env e;
	uint8_t *content;
	size_t clen;

	if (env_open(c->env, c->env_len, 0, c->s->sign_pk, c->r, &e, &content,
	    &clen) != 0)
		abort();
	free(content);
}

static void
do_sign(void *p)
{
	struct ctx *c = p;

	crypto_sign_detached(c->sig, NULL, c->buf, c->inner_len, c->sk);
}

static void
do_verify(void *p)
{
	struct ctx *c = p;

	if (crypto_sign_verify_detached(c->sig, c->buf, c->inner_len,
	    c->pk) != 0)
		abort();
}

static void
do_box_seal(void *p)
{
	struct ctx *c = p;

	crypto_box_seal(c->wrapped, c->key, 32, c->bpk);
}

static void
do_box_open(void *p)
{
	struct ctx *c = p;
	uint8_t k[32];

	if (crypto_box_seal_open(k, c->wrapped, 80, c->bpk, c->bsk) != 0)
		abort();
}

static void
do_aead_enc(void *p)
{
	struct ctx *c = p;
	unsigned long long l;

	crypto_aead_xchacha20poly1305_ietf_encrypt(c->buf2, &l, c->buf,
	    c->bucket, (const uint8_t *)"ad", 2, NULL, c->nonce, c->key);
}

static void
do_aead_dec(void *p)
{
	struct ctx *c = p;
	unsigned long long l;

	if (crypto_aead_xchacha20poly1305_ietf_decrypt(c->buf, &l, NULL,
	    c->buf2, c->bucket + 16, (const uint8_t *)"ad", 2, c->nonce,
	    c->key) != 0)
		abort();
}

static void
do_blake(void *p)
{
	struct ctx *c = p;
	uint8_t h[32];

	crypto_generichash(h, 32, c->body, c->body_len, c->ckey, 32);
}

static void
bench_size(struct ident *s, struct ident *r, size_t n, const char *label)
{
	struct ctx c;
	struct env e;
	uint8_t ck[32], id[16];
	double seal, open, sign, verify, bseal, bopen, enc, dec, blake;
	double psum_seal, psum_open;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.r = r;
	c.body_len = n;
	if ((c.body = malloc(n)) == NULL)
		abort();
	randombytes_buf(c.body, n);
	if (env_seal(s, "bob-police", r->enc[0].pk, 1, c.body, n, NULL, NOW,
	    ck, id, &c.env, &c.env_len) != 0 ||
	    env_decode(c.env, c.env_len, 0, &e) != 0)
		abort();
	c.bucket = e.ct_len - 16;
	/* The signed bytes: tag || 0x00 || inner. */
	c.inner_len = strlen(env_tag(ENV_MSG)) + 1 + e.inner_len;
	if ((c.buf = malloc(c.inner_len + c.bucket)) == NULL ||
	    (c.buf2 = malloc(c.bucket + 16)) == NULL)
		abort();
	randombytes_buf(c.buf, c.inner_len);
	randombytes_buf(c.key, 32);
	randombytes_buf(c.ckey, 32);
	randombytes_buf(c.nonce, 24);
	crypto_sign_keypair(c.pk, c.sk);
	crypto_box_keypair(c.bpk, c.bsk);
	crypto_box_seal(c.wrapped, c.key, 32, c.bpk);
	do_sign(&c);
	do_aead_enc(&c);

	seal = measure(do_seal, &c);
	open = measure(do_open, &c);
	sign = measure(do_sign, &c);
	verify = measure(do_verify, &c);
	bseal = measure(do_box_seal, &c);
	bopen = measure(do_box_open, &c);
	enc = measure(do_aead_enc, &c);
	dec = measure(do_aead_dec, &c);
	blake = measure(do_blake, &c);
	psum_seal = blake + bseal + enc + sign;
	psum_open = verify + bopen + dec + blake;

	printf("\n== %s body (%zu bytes; padded bucket %zu; envelope %zu "
	    "bytes; signed %zu bytes)\n", label, n, c.bucket, c.env_len,
	    c.inner_len);
	printf("  primitives (same sizes, same run), us/op:\n");
	printf("    BLAKE2b-256 keyed, %zu B      %10.1f\n", n, blake);
	printf("    crypto_box_seal, 32 B          %10.1f\n", bseal);
	printf("    crypto_box_seal_open, 80 B     %10.1f\n", bopen);
	printf("    XChaCha20-Poly1305 enc, %zu B %10.1f\n", c.bucket, enc);
	printf("    XChaCha20-Poly1305 dec, %zu B %10.1f\n", c.bucket, dec);
	printf("    Ed25519 sign, %zu B           %10.1f\n", c.inner_len,
	    sign);
	printf("    Ed25519 verify, %zu B         %10.1f\n", c.inner_len,
	    verify);
	printf("  env_seal %s: %.1f us/op = %.0f/s\n", label, seal, 1e6 / seal);
	printf("    primitives: %.1f + %.1f + %.1f + %.1f = %.1f us "
	    "(blake2b + box_seal + aead_enc + sign)\n", blake, bseal, enc,
	    sign, psum_seal);
	printf("    ratio: %.1f / %.1f = %.2f\n", seal, psum_seal,
	    seal / psum_seal);
	printf("  env_open %s: %.1f us/op = %.0f/s\n", label, open, 1e6 / open);
	printf("    primitives: %.1f + %.1f + %.1f + %.1f = %.1f us "
	    "(verify + box_seal_open + aead_dec + blake2b)\n", verify, bopen,
	    dec, blake, psum_open);
	printf("    ratio: %.1f / %.1f = %.2f\n", open, psum_open,
	    open / psum_open);
	free(c.body);
	free(c.buf);
	free(c.buf2);
	free(c.env);
}

int
main(void)
{
	struct ident *s, *r;

	if (sodium_init() < 0)
		return (1);
	if (ident_generate("alice-charity", IDENT_CHARITY, "A", NOW, 86400000,
	    &s) != 0 ||
	    ident_generate("bob-police", IDENT_POLICE, "B", NOW, 86400000,
	    &r) != 0)
		return (1);
	printf("bench_envelope: envelope seal/open vs raw libsodium "
	    "(each figure: >= %.1f s CPU of repetitions; CPU time)\n", MIN_SECONDS);
	bench_size(s, r, 4096, "4 KiB");
	bench_size(s, r, 1024 * 1024, "1 MiB");
	printf("\nnote: a body of exactly 4 KiB pads to the 8 KiB bucket "
	    "(plaintext = body + 40 bytes of framing), so its primitives are "
	    "measured at 8 KiB; likewise 1 MiB pads to 2 MiB.\n");
	ident_free(s);
	ident_free(r);
	return (0);
}
