/*
 * merkle.h: RFC 6962 / RFC 9162 Merkle trees over SHA-256 (docs/protocol.md
 * "The log").  leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left ||
 * right), empty tree = SHA-256("").
 *
 * Hashes are stored densely in append order, numbered as Go's
 * golang.org/x/mod/sumdb/tlog StoredHashIndex: the hash at level L covering
 * leaves [n*2^L, (n+1)*2^L) has one fixed index, and appending leaf n adds
 * exactly the hashes numbered from merkle_stored_count(n) on.  So a store
 * only ever appends, and any root or proof needs O(log n) hash reads.
 *
 * Storage is abstracted by a read callback: read(ctx, index, out) puts the
 * stored hash numbered ${index} in ${out} and returns 0 or a negative
 * FERRY_E* code, which is passed back unchanged.
 */
#ifndef FERRY_MERKLE_H
#define FERRY_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32
#define MERKLE_PROOF_MAX 64
#define MERKLE_APPEND_MAX 65	/* hashes stored per leaf, at most */

typedef int merkle_read_fn(void *ctx, uint64_t index, uint8_t out[32]);

/** merkle_leaf_hash(data, len, out): SHA-256(0x00 || ${data}). */
void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[32]);

/** merkle_node_hash(l, r, out): SHA-256(0x01 || ${l} || ${r}); ${out} may alias. */
void merkle_node_hash(const uint8_t l[32], const uint8_t r[32],
    uint8_t out[32]);

/** merkle_empty_root(out): SHA-256 of nothing, the root of the empty tree. */
void merkle_empty_root(uint8_t out[32]);

/** merkle_stored_index(level, n): storage number of hash ${n} at ${level}. */
uint64_t merkle_stored_index(unsigned level, uint64_t n);

/** merkle_stored_count(n): number of hashes stored for a tree of ${n} leaves. */
uint64_t merkle_stored_count(uint64_t n);

/**
 * merkle_stored_leaf(k): the leaf whose append stored hash number ${k}
 * (the n with merkle_stored_count(n) <= k < merkle_stored_count(n + 1)).
 */
uint64_t merkle_stored_leaf(uint64_t k);

/**
 * merkle_append(n, leaf, read, ctx, out, count): the hashes to store when
 * appending leaf number ${n} (whose leaf hash is ${leaf}) to a tree of ${n}
 * leaves, in storage order from merkle_stored_count(n): *${count} hashes
 * (at most MERKLE_APPEND_MAX) into ${out}.
 */
int merkle_append(uint64_t n, const uint8_t leaf[32], merkle_read_fn *read,
    void *ctx, uint8_t out[][32], size_t *count);

/** merkle_root(size, read, ctx, out): root of the tree of the first ${size} leaves. */
int merkle_root(uint64_t size, merkle_read_fn *read, void *ctx,
    uint8_t out[32]);

/**
 * merkle_prove_inclusion(index, size, read, ctx, proof, n): the RFC 6962
 * audit path of leaf ${index} in the tree of ${size} leaves, *${n} hashes
 * (room for MERKLE_PROOF_MAX).  FERRY_EINVAL unless index < size.
 */
int merkle_prove_inclusion(uint64_t index, uint64_t size,
    merkle_read_fn *read, void *ctx, uint8_t proof[][32], size_t *n);

/**
 * merkle_prove_consistency(m, size, read, ctx, proof, n): the RFC 6962
 * consistency proof from the tree of ${m} leaves to that of ${size}.
 * FERRY_EINVAL unless 0 < m <= size.  m == size gives an empty proof.
 */
int merkle_prove_consistency(uint64_t m, uint64_t size, merkle_read_fn *read,
    void *ctx, uint8_t proof[][32], size_t *n);

/**
 * merkle_verify_inclusion(leaf, index, size, root, proof, n): RFC 9162
 * 2.1.3.2.  0 if ${proof} shows leaf hash ${leaf} at ${index} in the tree
 * of ${size} leaves with ${root}; FERRY_EBADPROOF otherwise.
 */
int merkle_verify_inclusion(const uint8_t leaf[32], uint64_t index,
    uint64_t size, const uint8_t root[32], const uint8_t proof[][32],
    size_t n);

/**
 * merkle_verify_consistency(m, size, root_m, root, proof, n): RFC 9162
 * 2.1.4.2.  0 if ${proof} shows the tree of ${m} leaves with ${root_m} is a
 * prefix of the tree of ${size} leaves with ${root}; FERRY_EBADPROOF
 * otherwise (FERRY_EBADPROOF also for m == 0 or m > size).
 */
int merkle_verify_consistency(uint64_t m, uint64_t size,
    const uint8_t root_m[32], const uint8_t root[32],
    const uint8_t proof[][32], size_t n);

/*
 * An in-memory store (tests, interop, fuzzing, auditors' recomputation).
 */
struct merkle_mem {
	uint8_t (*h)[32];
	uint64_t count;		/* stored hashes */
	uint64_t cap;
	uint64_t size;		/* leaves */
};

/** merkle_mem_init(m): an empty in-memory tree. */
void merkle_mem_init(struct merkle_mem *m);
/** merkle_mem_free(m): release ${m}'s memory. */
void merkle_mem_free(struct merkle_mem *m);
/** merkle_mem_append(m, leaf): append the leaf hash ${leaf} to ${m}. */
int merkle_mem_append(struct merkle_mem *m, const uint8_t leaf[32]);
/** merkle_mem_read: merkle_read_fn for a struct merkle_mem * context. */
int merkle_mem_read(void *ctx, uint64_t index, uint8_t out[32]);

#endif
