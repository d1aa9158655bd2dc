/*
 * merkle.c: RFC 6962 / 9162 Merkle trees with tlog-style dense storage.
 */
#include "merkle.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ferry.h"

/* Leaves up to this many bytes are hashed from a copy on the stack. */
#define MERKLE_LEAF_COPY 2048

/** merkle_leaf_hash(data, len, out): SHA-256(0x00 || ${data}). */
void
merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[32])
{
	crypto_hash_sha256_state st;
	static const uint8_t zero = 0x00;
	uint8_t buf[1 + MERKLE_LEAF_COPY];

	/* A log entry (a few hundred bytes) in one call, SHA-NI where
	 * present (ferry_sha256); a longer leaf streamed. */
	if (len <= MERKLE_LEAF_COPY) {
		buf[0] = 0x00;
		if (len > 0)
			memcpy(buf + 1, data, len);
		ferry_sha256(out, buf, 1 + len);
		return;
	}
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &zero, 1);
	if (len > 0)
		crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, out);
}

/** merkle_node_hash(l, r, out): SHA-256(0x01 || ${l} || ${r}). */
void
merkle_node_hash(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
	uint8_t buf[65];

	buf[0] = 0x01;
	memcpy(buf + 1, l, 32);
	memcpy(buf + 33, r, 32);
	ferry_sha256(out, buf, sizeof(buf));
}

/** merkle_empty_root(out): SHA-256 of nothing. */
void
merkle_empty_root(uint8_t out[32])
{

	crypto_hash_sha256(out, (const uint8_t *)"", 0);
}

/** merkle_stored_index(level, n): storage number of hash ${n} at ${level}. */
uint64_t
merkle_stored_index(unsigned level, uint64_t n)
{
	uint64_t i = 0;
	unsigned l;

	/* Level L's n'th hash is written right after level L+1's 2n+1'th. */
	for (l = level; l > 0; l--)
		n = 2 * n + 1;
	/* Level 0's n'th hash is written at n + n/2 + n/4 + ... */
	for (; n > 0; n >>= 1)
		i += n;
	return (i + level);
}

/** merkle_stored_count(n): hashes stored for a tree of ${n} leaves. */
uint64_t
merkle_stored_count(uint64_t n)
{
	uint64_t c, i;

	if (n == 0)
		return (0);
	c = merkle_stored_index(0, n - 1) + 1;
	for (i = n - 1; (i & 1) != 0; i >>= 1)
		c++;
	return (c);
}

/** merkle_stored_leaf(k): the leaf whose append stored hash ${k}. */
uint64_t
merkle_stored_leaf(uint64_t k)
{
	uint64_t lo = 0, hi = k + 1, mid;

	/* Largest n with merkle_stored_count(n) <= k; count(n) >= n. */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (merkle_stored_count(mid) <= k)
			lo = mid;
		else
			hi = mid;
	}
	return (lo);
}

/** merkle_append(n, leaf, read, ctx, out, count): hashes stored for leaf ${n}. */
int
merkle_append(uint64_t n, const uint8_t leaf[32], merkle_read_fn *read,
    void *ctx, uint8_t out[][32], size_t *count)
{
	uint8_t left[32];
	size_t c = 0;
	unsigned level;
	uint64_t m;
	int rc;

	memcpy(out[c++], leaf, 32);
	/* Each trailing 1 bit of n completes a subtree with its left sibling. */
	for (level = 0, m = n; (m & 1) != 0; level++, m >>= 1) {
		if ((rc = read(ctx, merkle_stored_index(level, m - 1), left)) != 0)
			return (rc);
		merkle_node_hash(left, out[c - 1], out[c]);
		c++;
	}
	*count = c;
	return (0);
}

/* Is x a power of two (x > 0)? */
static int
ispow2(uint64_t x)
{

	return (x != 0 && (x & (x - 1)) == 0);
}

/* Largest power of two strictly less than x (x >= 2). */
static uint64_t
split(uint64_t x)
{
	uint64_t k = 1;

	while (k < x - k)
		k <<= 1;
	return (k);
}

/* RFC 6962 MTH of leaves [lo, hi), hi > lo, using stored complete subtrees. */
static int
mth(uint64_t lo, uint64_t hi, merkle_read_fn *read, void *ctx,
    uint8_t out[32])
{
	uint8_t l[32], r[32];
	uint64_t w = hi - lo, k;
	unsigned level;
	int rc;

	if (ispow2(w) && lo % w == 0) {
		for (level = 0; ((uint64_t)1 << level) < w; level++)
			continue;
		return (read(ctx, merkle_stored_index(level, lo >> level), out));
	}
	k = split(w);
	if ((rc = mth(lo, lo + k, read, ctx, l)) != 0)
		return (rc);
	if ((rc = mth(lo + k, hi, read, ctx, r)) != 0)
		return (rc);
	merkle_node_hash(l, r, out);
	return (0);
}

/** merkle_root(size, read, ctx, out): root of the first ${size} leaves. */
int
merkle_root(uint64_t size, merkle_read_fn *read, void *ctx, uint8_t out[32])
{

	if (size == 0) {
		merkle_empty_root(out);
		return (0);
	}
	return (mth(0, size, read, ctx, out));
}

/* Reverse proof[0..n) in place (proofs are built root-first). */
static void
reverse(uint8_t proof[][32], size_t n)
{
	uint8_t t[32];
	size_t i;

	for (i = 0; i < n / 2; i++) {
		memcpy(t, proof[i], 32);
		memcpy(proof[i], proof[n - 1 - i], 32);
		memcpy(proof[n - 1 - i], t, 32);
	}
}

/** merkle_prove_inclusion(index, size, read, ctx, proof, n): RFC 6962 PATH. */
int
merkle_prove_inclusion(uint64_t index, uint64_t size, merkle_read_fn *read,
    void *ctx, uint8_t proof[][32], size_t *n)
{
	uint64_t lo = 0, hi = size, k, m = index;
	size_t c = 0;
	int rc;

	if (index >= size)
		return (FERRY_EINVAL);
	/* Walk down from the root; siblings come out root-first. */
	while (hi - lo > 1) {
		if (c >= MERKLE_PROOF_MAX)
			return (FERRY_EINTERNAL);
		k = split(hi - lo);
		if (m < k) {
			if ((rc = mth(lo + k, hi, read, ctx, proof[c])) != 0)
				return (rc);
			hi = lo + k;
		} else {
			if ((rc = mth(lo, lo + k, read, ctx, proof[c])) != 0)
				return (rc);
			m -= k;
			lo += k;
		}
		c++;
	}
	reverse(proof, c);
	*n = c;
	return (0);
}

/** merkle_prove_consistency(m, size, read, ctx, proof, n): RFC 6962 PROOF. */
int
merkle_prove_consistency(uint64_t m, uint64_t size, merkle_read_fn *read,
    void *ctx, uint8_t proof[][32], size_t *n)
{
	uint64_t lo = 0, hi = size, k;
	size_t c = 0;
	int b = 1, rc;

	if (m == 0 || m > size)
		return (FERRY_EINVAL);
	/* SUBPROOF(m, D[lo:hi], b), iteratively; output root-first. */
	for (;;) {
		if (c >= MERKLE_PROOF_MAX)
			return (FERRY_EINTERNAL);
		if (m == hi - lo) {
			if (!b) {
				if ((rc = mth(lo, hi, read, ctx, proof[c])) != 0)
					return (rc);
				c++;
			}
			break;
		}
		k = split(hi - lo);
		if (m <= k) {
			if ((rc = mth(lo + k, hi, read, ctx, proof[c])) != 0)
				return (rc);
			hi = lo + k;
		} else {
			if ((rc = mth(lo, lo + k, read, ctx, proof[c])) != 0)
				return (rc);
			m -= k;
			lo += k;
			b = 0;
		}
		c++;
	}
	reverse(proof, c);
	*n = c;
	return (0);
}

/** merkle_verify_inclusion(leaf, index, size, root, proof, n): RFC 9162 2.1.3.2. */
int
merkle_verify_inclusion(const uint8_t leaf[32], uint64_t index,
    uint64_t size, const uint8_t root[32], const uint8_t proof[][32],
    size_t n)
{
	uint8_t r[32];
	uint64_t fn, sn;
	size_t i;

	if (index >= size || n > MERKLE_PROOF_MAX)
		return (FERRY_EBADPROOF);
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, 32);
	for (i = 0; i < n; i++) {
		if (sn == 0)
			return (FERRY_EBADPROOF);
		if ((fn & 1) != 0 || fn == sn) {
			merkle_node_hash(proof[i], r, r);
			if ((fn & 1) == 0) {
				while ((fn & 1) == 0 && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else
			merkle_node_hash(r, proof[i], r);
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || sodium_memcmp(r, root, 32) != 0)
		return (FERRY_EBADPROOF);
	return (0);
}

/** merkle_verify_consistency(m, size, root_m, root, proof, n): RFC 9162 2.1.4.2. */
int
merkle_verify_consistency(uint64_t m, uint64_t size,
    const uint8_t root_m[32], const uint8_t root[32],
    const uint8_t proof[][32], size_t n)
{
	uint8_t fr[32], sr[32];
	uint64_t fn, sn;
	size_t i, start;

	if (m == 0 || m > size || n > MERKLE_PROOF_MAX)
		return (FERRY_EBADPROOF);
	if (m == size) {
		if (n != 0 || sodium_memcmp(root_m, root, 32) != 0)
			return (FERRY_EBADPROOF);
		return (0);
	}
	if (n == 0)
		return (FERRY_EBADPROOF);
	/* If m is a power of two, the path implicitly starts with root_m. */
	if (ispow2(m)) {
		memcpy(fr, root_m, 32);
		start = 0;
	} else {
		memcpy(fr, proof[0], 32);
		start = 1;
	}
	memcpy(sr, fr, 32);
	fn = m - 1;
	sn = size - 1;
	while ((fn & 1) != 0) {
		fn >>= 1;
		sn >>= 1;
	}
	for (i = start; i < n; i++) {
		if (sn == 0)
			return (FERRY_EBADPROOF);
		if ((fn & 1) != 0 || fn == sn) {
			merkle_node_hash(proof[i], fr, fr);
			merkle_node_hash(proof[i], sr, sr);
			if ((fn & 1) == 0) {
				while ((fn & 1) == 0 && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else
			merkle_node_hash(sr, proof[i], sr);
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || sodium_memcmp(fr, root_m, 32) != 0 ||
	    sodium_memcmp(sr, root, 32) != 0)
		return (FERRY_EBADPROOF);
	return (0);
}

/** merkle_mem_init(m): an empty in-memory tree. */
void
merkle_mem_init(struct merkle_mem *m)
{

	memset(m, 0, sizeof(*m));
}

/** merkle_mem_free(m): release ${m}'s memory. */
void
merkle_mem_free(struct merkle_mem *m)
{

	if (m == NULL)
		return;
	free(m->h);
	memset(m, 0, sizeof(*m));
}

/** merkle_mem_read: merkle_read_fn over a struct merkle_mem. */
int
merkle_mem_read(void *ctx, uint64_t index, uint8_t out[32])
{
	struct merkle_mem *m = ctx;

	if (index >= m->count)
		return (FERRY_ENOENT);
	memcpy(out, m->h[index], 32);
	return (0);
}

/** merkle_mem_append(m, leaf): append leaf hash ${leaf} to ${m}. */
int
merkle_mem_append(struct merkle_mem *m, const uint8_t leaf[32])
{
	uint8_t add[MERKLE_APPEND_MAX][32];
	uint8_t (*nh)[32];
	uint64_t ncap;
	size_t c, i;
	int rc;

	if ((rc = merkle_append(m->size, leaf, merkle_mem_read, m, add,
	    &c)) != 0)
		return (rc);
	if (m->count + c > m->cap) {
		ncap = m->cap ? m->cap * 2 : 1024;
		while (ncap < m->count + c)
			ncap *= 2;
		if (ncap > SIZE_MAX / 32)
			return (FERRY_ENOMEM);
		if ((nh = realloc(m->h, (size_t)ncap * 32)) == NULL)
			return (FERRY_ENOMEM);
		m->h = nh;
		m->cap = ncap;
	}
	for (i = 0; i < c; i++)
		memcpy(m->h[m->count + i], add[i], 32);
	m->count += c;
	m->size++;
	return (0);
}
