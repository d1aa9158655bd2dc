/*
 * rpool.h: random bytes drawn ahead, for values that are made public or
 * need only be unique (envelope ids, the nonces of sealed keys, retry
 * jitter): one randombytes_buf (one getrandom system call) per
 * RPOOL_BYTES instead of one per value.  Never for a key: keys are drawn
 * fresh.  Each byte is handed out once and then cleared from the pool.
 * A pool belongs to one thread: a second thread or a forked child
 * sharing it would hand out the same bytes twice.
 */
#ifndef FERRY_RPOOL_H
#define FERRY_RPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.h"

#define RPOOL_BYTES 1024

/* Zeroed (calloc, memset): empty, drawn at the first use. */
struct rpool {
	uint8_t b[RPOOL_BYTES];
	size_t left;		/* bytes not handed out yet, at the front */
	uint64_t draws;		/* refills (randombytes_buf calls), for tests */
};

/** rpool_take(p, out, n): ${n} random bytes from ${p}. */
void rpool_take(struct rpool *p, void *out, size_t n);

/**
 * rpool_uniform(p, n): a number in [0, n) (n > 0), for jitter (a bias
 * below 2^-32 / n: not for secrets).
 */
uint32_t rpool_uniform(struct rpool *p, uint32_t n);

/** rpool_new_id(p, id, now_ms): env_new_id_at's id, its random part
 * from ${p}. */
void rpool_new_id(struct rpool *p, uint8_t id[FERRY_MSGID_LEN],
    uint64_t now_ms);

#endif
