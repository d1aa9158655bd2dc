/*
 * refjson.h: the fast, strict JSON reader of referral documents (the
 * sender's hot path, issue 10).  It accepts a subset of what jansson's
 * json_loadb(JSON_REJECT_DUPLICATES) accepts and, for that subset, gives
 * the same values: an object at the top; strings (escapes decoded,
 * UTF-8 checked); non-negative integers of up to 18 digits; true, false,
 * null; objects and arrays nested at most REFJSON_DEPTH deep.  Anything
 * else (a syntax error, a duplicate key, a real number, a negative number,
 * \u0000, a lone surrogate, malformed UTF-8, more nesting) is "not
 * handled": the caller then parses with jansson, which gives the document
 * its exact error message (or accepts it), so refusing here never changes
 * what is accepted or what is said.  tests/unit/test_referral.c compares
 * the two readers on every vector, the fuzz seeds and their mutations.
 *
 * No I/O, no globals.
 */
#ifndef FERRY_REFJSON_H
#define FERRY_REFJSON_H

#include <stddef.h>
#include <stdint.h>

#define REFJSON_DEPTH 8

enum refjson_type {
	REFJSON_OBJECT = 1,
	REFJSON_ARRAY,
	REFJSON_STRING,
	REFJSON_INTEGER,
	REFJSON_TRUE,
	REFJSON_FALSE,
	REFJSON_NULL
};

struct refjson_node {
	enum refjson_type type;
	const char *key;	/* member of an object: its name, else NULL */
	size_t keylen;
	const char *s;		/* string: its bytes, NUL-terminated */
	size_t len;
	uint64_t u;		/* integer */
	size_t n;		/* object: members; array: items */
	const struct refjson_node *kid;	/* first member or item */
	const struct refjson_node *next;	/* next sibling */
	size_t ikid, inext;	/* the same as indices (0: none) */
};

/* A parsed document: nodes[1] is the root (nodes[0] is unused: index 0
 * means none).  Owns its memory. */
struct refjson_doc {
	struct refjson_node *nodes;
	size_t n, cap;
	char *text;		/* decoded strings, NUL-terminated */
	size_t tlen;
};

/**
 * refjson_parse(s, len, doc): read the ${len} bytes at ${s} into *${doc}
 * (free with refjson_free; the nodes and strings live until then and do
 * not point into ${s}).  Returns 0, or -1 if the text is outside the
 * subset described above or memory ran out (then *${doc} holds nothing
 * and the caller parses with jansson).
 */
int refjson_parse(const char *s, size_t len, struct refjson_doc *doc);

/** refjson_free(doc): release ${doc}'s memory (no-op when empty). */
void refjson_free(struct refjson_doc *doc);

#endif
