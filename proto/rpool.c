/*
 * rpool.c: random bytes drawn ahead for public values (rpool.h).
 */
#include "rpool.h"

#include <string.h>

#include <sodium.h>

#include "envelope.h"

void
rpool_take(struct rpool *p, void *out, size_t n)
{
	uint8_t *o = out;
	size_t k;

	while (n > 0) {
		if (p->left == 0) {
			randombytes_buf(p->b, sizeof(p->b));
			p->left = sizeof(p->b);
			p->draws++;
		}
		k = n < p->left ? n : p->left;
		memcpy(o, p->b + p->left - k, k);
		memset(p->b + p->left - k, 0, k);
		p->left -= k;
		o += k;
		n -= k;
	}
}

uint32_t
rpool_uniform(struct rpool *p, uint32_t n)
{
	uint32_t r;

	rpool_take(p, &r, sizeof(r));
	return ((uint32_t)(((uint64_t)r * n) >> 32));
}

void
rpool_new_id(struct rpool *p, uint8_t id[FERRY_MSGID_LEN], uint64_t now_ms)
{
	uint8_t rnd[FERRY_MSGID_LEN - ENV_ID_TIME_LEN];

	rpool_take(p, rnd, sizeof(rnd));
	env_id_make(id, now_ms, rnd);
}
