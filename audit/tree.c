/*
 * tree.c: hidden "ferry-audit _tree" for the RFC 6962 interop test
 * (tests/interop/rfc6962_check.py).  Leaf i's data is i as 8 bytes
 * big-endian; the tree lives in memory.
 *
 *   _tree all N      for every size s in 1..N: "root s HEX", and for every
 *                    i < s "incl s i H,H,..." and for every m <= s
 *                    "cons m s H,H,..."
 *   _tree big N I... root of size N, inclusion proofs of leaves I and
 *                    consistency proofs from sizes I to N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "ferry.h"
#include "merkle.h"

static int
build(struct merkle_mem *m, uint64_t n)
{
	uint8_t d[8], leaf[32];
	uint64_t i;
	int k;

	merkle_mem_init(m);
	for (i = 0; i < n; i++) {
		for (k = 0; k < 8; k++)
			d[k] = (uint8_t)(i >> (56 - 8 * k));
		merkle_leaf_hash(d, 8, leaf);
		if (merkle_mem_append(m, leaf) != 0)
			return (-1);
	}
	return (0);
}

static void
pr(const char *what, uint64_t a, uint64_t b, uint8_t p[][32], size_t n)
{
	char hex[65];
	size_t i;

	printf("%s %llu %llu ", what, (unsigned long long)a,
	    (unsigned long long)b);
	for (i = 0; i < n; i++) {
		ferry_hex(hex, p[i], 32);
		printf("%s%s", i ? "," : "", hex);
	}
	putchar('\n');
}

static int
num(const char *s, uint64_t *v)
{

	return (ferry_parse_dec(s, strlen(s), v) == 0 ? 0 : -1);
}

int
cmd_tree(int argc, char **argv)
{
	struct merkle_mem m;
	uint8_t r[32], p[MERKLE_PROOF_MAX][32];
	char hex[65];
	uint64_t n, s, i, x;
	size_t np;
	int a;

	if (argc < 3 || num(argv[2], &n) != 0 || n == 0 || n > 10000000)
		return (2);
	if (build(&m, n) != 0)
		return (1);
	if (strcmp(argv[1], "all") == 0) {
		for (s = 1; s <= n; s++) {
			if (merkle_root(s, merkle_mem_read, &m, r) != 0)
				return (1);
			ferry_hex(hex, r, 32);
			printf("root %llu %s\n", (unsigned long long)s, hex);
			for (i = 0; i < s; i++) {
				if (merkle_prove_inclusion(i, s,
				    merkle_mem_read, &m, p, &np) != 0)
					return (1);
				pr("incl", s, i, p, np);
			}
			for (i = 1; i <= s; i++) {
				if (merkle_prove_consistency(i, s,
				    merkle_mem_read, &m, p, &np) != 0)
					return (1);
				pr("cons", i, s, p, np);
			}
		}
	} else if (strcmp(argv[1], "big") == 0) {
		if (merkle_root(n, merkle_mem_read, &m, r) != 0)
			return (1);
		ferry_hex(hex, r, 32);
		printf("root %llu %s\n", (unsigned long long)n, hex);
		for (a = 3; a < argc; a++) {
			if (num(argv[a], &x) != 0 || x >= n)
				return (2);
			if (merkle_prove_inclusion(x, n, merkle_mem_read, &m,
			    p, &np) != 0)
				return (1);
			pr("incl", n, x, p, np);
			if (x > 0) {
				if (merkle_prove_consistency(x, n,
				    merkle_mem_read, &m, p, &np) != 0)
					return (1);
				pr("cons", x, n, p, np);
			}
		}
	} else
		return (2);
	merkle_mem_free(&m);
	return (fflush(stdout) == 0 ? 0 : 1);
}
