/*
 * roster_int.h: what the files of the partner roster share, not for other
 * files (roster.h is their interface).
 *
 *   roster.c         key requests and roster files parsed and checked,
 *                    lookups on a parsed roster
 *   roster_verify.c  a parsed roster verified: the genesis roster against
 *                    its pin, roster N+1 against roster N
 *   roster_edit.c    key requests made; rosters made, edited, encoded,
 *                    sealed and signed
 *
 * Calls go one way: roster_edit.c and roster_verify.c call roster.c, which
 * calls neither; roster_edit.c and roster_verify.c never call each other.
 * The functions below are defined in roster.c; rosterx_ is the prefix of
 * these internal names.
 */
#ifndef FERRY_ROSTER_INT_H
#define FERRY_ROSTER_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "roster.h"
#include "wire.h"

/* A malloc'd copy of ${n} bytes at ${p} (n may be 0), or NULL. */
static inline uint8_t *
dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *q;

	if ((q = malloc(n > 0 ? n : 1)) == NULL)
		return (NULL);
	if (n > 0)
		memcpy(q, p, n);
	return (q);
}

/* Is the str object ${o} printable text (wire_text_ok)? */
static inline int
text_ok(const msgpack_object *o)
{

	return (wire_text_ok((const uint8_t *)o->via.str.ptr,
	    o->via.str.size));
}

/**
 * rosterx_parse_body(b, n, r): decode and check roster body ${b} into
 * ${r} (whose entries must be empty): the one parser roster_parse and
 * roster_seal share.
 */
int rosterx_parse_body(const uint8_t *b, size_t n, struct roster *r);

/**
 * rosterx_free_entries(r): free what the admins, relay and agencies of
 * ${r} own, leaving counts at 0.
 */
void rosterx_free_entries(struct roster *r);

#endif
