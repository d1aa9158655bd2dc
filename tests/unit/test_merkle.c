/*
 * test_merkle.c: RFC 6962 tree hashing, tlog storage order, proofs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ferry.h"
#include "../lib/harness.h"
#include "merkle.h"

/* The eight leaves of the certificate-transparency RFC 6962 test data. */
static const struct {
	const char *data;
	size_t len;
} leaves[8] = {
	{ "", 0 },
	{ "\x00", 1 },
	{ "\x10", 1 },
	{ "\x20\x21", 2 },
	{ "\x30\x31", 2 },
	{ "\x40\x41\x42\x43", 4 },
	{ "\x50\x51\x52\x53\x54\x55\x56\x57", 8 },
	{ "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
	    16 },
};

/* Their roots for sizes 1..8. */
static const char *roots[8] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

/* Naive recursive RFC 6962 MTH over leaf hashes, for cross-checking. */
static void
naive(uint8_t (*lh)[32], uint64_t n, uint8_t out[32])
{
	uint8_t l[32], r[32];
	uint64_t k = 1;

	if (n == 1) {
		memcpy(out, lh[0], 32);
		return;
	}
	while (k < n - k)
		k <<= 1;
	naive(lh, k, l);
	naive(lh + k, n - k, r);
	merkle_node_hash(l, r, out);
}

TEST(empty_root)
{
	uint8_t r[32];
	char hex[65];

	CHECK_EQ(merkle_root(0, merkle_mem_read, NULL, r), 0);
	ferry_hex(hex, r, 32);
	CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855") == 0);
}

TEST(rfc6962_vectors)
{
	struct merkle_mem m;
	uint8_t lh[32], r[32];
	char hex[65];
	int i;

	merkle_mem_init(&m);
	for (i = 0; i < 8; i++) {
		merkle_leaf_hash((const uint8_t *)leaves[i].data, leaves[i].len,
		    lh);
		CHECK_EQ(merkle_mem_append(&m, lh), 0);
		CHECK_EQ(merkle_root(m.size, merkle_mem_read, &m, r), 0);
		ferry_hex(hex, r, 32);
		if (strcmp(hex, roots[i]) != 0)
			printf("# size %d: %s\n", i + 1, hex);
		CHECK(strcmp(hex, roots[i]) == 0);
	}
	merkle_mem_free(&m);
}

TEST(stored_index_tlog)
{
	uint64_t n, k;

	/* Values from Go's tlog: level 0 leaves at 0,1,3,4,7,8,10,11,15. */
	CHECK_EQ(merkle_stored_index(0, 0), 0);
	CHECK_EQ(merkle_stored_index(0, 1), 1);
	CHECK_EQ(merkle_stored_index(1, 0), 2);
	CHECK_EQ(merkle_stored_index(0, 2), 3);
	CHECK_EQ(merkle_stored_index(0, 3), 4);
	CHECK_EQ(merkle_stored_index(1, 1), 5);
	CHECK_EQ(merkle_stored_index(2, 0), 6);
	CHECK_EQ(merkle_stored_index(0, 4), 7);
	CHECK_EQ(merkle_stored_count(1), 1);
	CHECK_EQ(merkle_stored_count(2), 3);
	CHECK_EQ(merkle_stored_count(3), 4);
	CHECK_EQ(merkle_stored_count(4), 7);
	/* Every stored index maps back to the leaf that wrote it. */
	for (n = 0; n < 300; n++)
		for (k = merkle_stored_count(n); k < merkle_stored_count(n + 1);
		    k++)
			CHECK_EQ(merkle_stored_leaf(k), n);
}

TEST(roots_and_proofs_small)
{
	struct merkle_mem m;
	uint8_t (*lh)[32];
	uint8_t r[32], nr[32], rm[32], p[MERKLE_PROOF_MAX][32];
	uint64_t n, i, j;
	size_t np;

	lh = malloc(130 * 32);
	CHECK(lh != NULL);
	merkle_mem_init(&m);
	for (n = 1; n <= 130; n++) {
		i = n - 1;
		merkle_leaf_hash((const uint8_t *)&i, sizeof(i), lh[i]);
		CHECK_EQ(merkle_mem_append(&m, lh[i]), 0);
		CHECK_EQ(m.count, merkle_stored_count(n));
		CHECK_EQ(merkle_root(n, merkle_mem_read, &m, r), 0);
		naive(lh, n, nr);
		CHECK(memcmp(r, nr, 32) == 0);
		for (j = 0; j < n; j++) {
			CHECK_EQ(merkle_prove_inclusion(j, n, merkle_mem_read,
			    &m, p, &np), 0);
			CHECK_EQ(merkle_verify_inclusion(lh[j], j, n, r, p, np),
			    0);
			/* wrong index, wrong leaf, flipped proof bit fail */
			if (n > 1) {
				CHECK(merkle_verify_inclusion(lh[j], (j + 1) % n,
				    n, r, p, np) != 0);
				p[np / 2][5] ^= 1;
				CHECK_EQ(merkle_verify_inclusion(lh[j], j, n, r,
				    p, np), FERRY_EBADPROOF);
			}
			CHECK(merkle_verify_inclusion(lh[(j + 1) % n], j, n,
			    r, p, np) != 0 || n == 1);
		}
		for (j = 1; j <= n; j++) {
			CHECK_EQ(merkle_root(j, merkle_mem_read, &m, rm), 0);
			CHECK_EQ(merkle_prove_consistency(j, n, merkle_mem_read,
			    &m, p, &np), 0);
			CHECK_EQ(merkle_verify_consistency(j, n, rm, r, p, np),
			    0);
			if (j < n) {
				CHECK(merkle_verify_consistency(j, n, r, r, p,
				    np) != 0);
				p[0][0] ^= 0x80;
				CHECK_EQ(merkle_verify_consistency(j, n, rm, r,
				    p, np), FERRY_EBADPROOF);
			}
		}
	}
	merkle_mem_free(&m);
	free(lh);
}

TEST(verify_rejects_nonsense)
{
	uint8_t h[32] = { 0 }, p[1][32] = { { 0 } };

	CHECK_EQ(merkle_verify_inclusion(h, 0, 0, h, p, 0), FERRY_EBADPROOF);
	CHECK_EQ(merkle_verify_inclusion(h, 5, 3, h, p, 0), FERRY_EBADPROOF);
	CHECK_EQ(merkle_verify_consistency(0, 3, h, h, p, 0), FERRY_EBADPROOF);
	CHECK_EQ(merkle_verify_consistency(4, 3, h, h, p, 0), FERRY_EBADPROOF);
	CHECK_EQ(merkle_verify_consistency(1, 3, h, h, p, 0), FERRY_EBADPROOF);
	/* a one-leaf tree: empty path, root = leaf */
	CHECK_EQ(merkle_verify_inclusion(h, 0, 1, h, p, 0), 0);
	CHECK_EQ(merkle_verify_inclusion(h, 0, 1, h, p, 1), FERRY_EBADPROOF);
	CHECK_EQ(merkle_verify_consistency(3, 3, h, h, p, 0), 0);
	CHECK_EQ(merkle_verify_consistency(3, 3, h, h, p, 1), FERRY_EBADPROOF);
}

int
main(void)
{

	t_init();
	RUN(empty_root);
	RUN(rfc6962_vectors);
	RUN(stored_index_tlog);
	RUN(roots_and_proofs_small);
	RUN(verify_rejects_nonsense);
	return (t_done());
}
