/*
 * test_sha256.c: ferry_sha256 (SHA-NI where the CPU has it) gives
 * libsodium's digest for every length, and the FIPS 180-4 vectors.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ferry.h"
#include "../lib/harness.h"

static int
digest_is(const uint8_t *in, size_t len, const char *hex)
{
	uint8_t d[32];
	char h[65];

	ferry_sha256(d, in, len);
	ferry_hex(h, d, 32);
	return (strcmp(h, hex) == 0);
}

TEST(fips_vectors)
{
	static const char two[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmn"
	    "lmnomnopnopq";
	uint8_t *m;

	CHECK(digest_is((const uint8_t *)"", 0, "e3b0c44298fc1c149afbf4c8996fb"
	    "92427ae41e4649b934ca495991b7852b855"));
	CHECK(digest_is((const uint8_t *)"abc", 3, "ba7816bf8f01cfea414140de5da"
	    "e2223b00361a396177a9cb410ff61f20015ad"));
	CHECK(digest_is((const uint8_t *)two, strlen(two), "248d6a61d20638b8e5c"
	    "026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
	/* A million 'a': 15,625 blocks through the block loop. */
	m = malloc(1000000);
	CHECK(m != NULL);
	if (m == NULL)
		return;
	memset(m, 'a', 1000000);
	CHECK(digest_is(m, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48"
	    "a497200e046d39ccc7112cd0"));
	free(m);
}

/* Every length from 0 to 600 (one, two and several blocks, each padding
 * case: the length fits in the last block or needs one more) and some
 * envelope sizes, random bytes, against libsodium. */
TEST(same_as_libsodium)
{
	static const size_t big[] = { 4096, 4159, 4160, 8438, 65536 + 55 };
	uint8_t *buf, a[32], b[32];
	size_t n, i, bad = 0;

	buf = malloc(70000);
	CHECK(buf != NULL);
	if (buf == NULL)
		return;
	randombytes_buf(buf, 70000);
	for (n = 0; n <= 600; n++) {
		ferry_sha256(a, buf + (n % 7), n);	/* unaligned too */
		ferry_sha256_portable(b, buf + (n % 7), n);
		bad += memcmp(a, b, 32) != 0;
	}
	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		ferry_sha256(a, buf, big[i]);
		crypto_hash_sha256(b, buf, big[i]);
		bad += memcmp(a, b, 32) != 0;
	}
	CHECK_EQ(bad, 0);
	free(buf);
}

/* Which one ran: the SHA extensions on a CPU that has them (this test
 * then covers them), libsodium otherwise; either is a pass. */
TEST(implementation_named)
{
	const char *impl = ferry_sha256_impl();

	printf("# ferry_sha256: %s\n", impl);
	CHECK(strcmp(impl, "sha-ni") == 0 || strcmp(impl, "libsodium") == 0);
}

int
main(void)
{

	t_init();
	if (sodium_init() < 0)
		return (1);
	RUN(fips_vectors);
	RUN(same_as_libsodium);
	RUN(implementation_named);
	return (t_done());
}
