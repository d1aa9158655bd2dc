/*
 * bytes.h: the one big-endian byte-order helper of Ferry (wire integers,
 * LMDB keys that must sort in numeric order).  Header-only: each is a few
 * instructions on the hot path.
 */
#ifndef FERRY_BYTES_H
#define FERRY_BYTES_H

#include <stddef.h>
#include <stdint.h>

/** bytes_be_get(p, n): the big-endian unsigned integer in the ${n} <= 8
 * bytes at ${p}. */
static inline uint64_t
bytes_be_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return (v);
}

/** bytes_be64_put(p, v): write ${v} as 8 big-endian bytes at ${p}. */
static inline void
bytes_be64_put(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

#endif
