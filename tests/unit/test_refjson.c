/*
 * test_refjson.c: the fast JSON reader of referral documents
 * (agent/refjson.c), differentially against jansson: whatever refjson
 * reads, json_loadb(JSON_REJECT_DUPLICATES) must read too, as the same
 * tree (types, member names in order, string bytes, integers); what it
 * does not read goes to jansson in referral.c, so refusing is safe and
 * accepting wrongly is the one failure.  Inputs: every file of
 * tests/vectors/referrals (valid and invalid), the fuzz seeds and
 * regressions of fuzz_referral, deterministic mutations of each, and
 * hand-made edge cases (escapes, surrogates, numbers, duplicates, UTF-8).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../lib/harness.h"
#include "refjson.h"

static int
same_tree(const struct refjson_node *n, const json_t *j)
{
	const struct refjson_node *k;
	void *it;
	size_t i;

	switch (n->type) {
	case REFJSON_OBJECT:
		if (!json_is_object(j) || json_object_size(j) != n->n)
			return (0);
		/* jansson iterates in insertion (document) order. */
		it = json_object_iter((json_t *)j);
		for (k = n->kid; k != NULL; k = k->next) {
			if (it == NULL ||
			    strlen(json_object_iter_key(it)) != k->keylen ||
			    memcmp(json_object_iter_key(it), k->key,
			    k->keylen) != 0 ||
			    !same_tree(k, json_object_iter_value(it)))
				return (0);
			it = json_object_iter_next((json_t *)j, it);
		}
		return (it == NULL);
	case REFJSON_ARRAY:
		if (!json_is_array(j) || json_array_size(j) != n->n)
			return (0);
		for (i = 0, k = n->kid; k != NULL; k = k->next, i++)
			if (!same_tree(k, json_array_get(j, i)))
				return (0);
		return (i == n->n);
	case REFJSON_STRING:
		return (json_is_string(j) && json_string_length(j) == n->len &&
		    memcmp(json_string_value(j), n->s, n->len) == 0 &&
		    n->s[n->len] == '\0');
	case REFJSON_INTEGER:
		return (json_is_integer(j) &&
		    (uint64_t)json_integer_value(j) == n->u);
	case REFJSON_TRUE:
		return (json_is_true(j));
	case REFJSON_FALSE:
		return (json_is_false(j));
	case REFJSON_NULL:
		return (json_is_null(j));
	}
	return (0);
}

/* 1 if refjson read ${s}, 0 if it left it to jansson; -1 if it read it
 * and jansson does not agree. */
static int
compare(const char *s, size_t len)
{
	struct refjson_doc d;
	json_t *j;
	int ok;

	if (refjson_parse(s, len, &d) != 0)
		return (0);
	j = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
	ok = j != NULL && same_tree(&d.nodes[1], j);
	if (!ok)
		fprintf(stderr, "# refjson read, jansson differs: %.*s\n",
		    (int)(len < 200 ? len : 200), s);
	json_decref(j);
	refjson_free(&d);
	return (ok ? 1 : -1);
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t
next_rand(void)
{

	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (rng);
}

/* Snippets a mutation may write into a document. */
static const char *const snippets[] = { "\\u00e9", "\\ud83d\\ude00",
    "\\ud83d", "\\udc00", "\\u0000", "\\uZZZZ", "\\/", "\\x", "\"",
    "\\", "\xc3\xa9", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80",
    "\xc0\xaf", "\x01", "\x7f", "-0", "1.5", "1e3", "01",
    "123456789012345678", "1234567890123456789", "true", "tru", "null",
    "nullx", ",", "}", "]", "{", "[", ":", " ", "\t", "\r\n", "\"a\":1,",
    "\"\\u0061\":", NULL };

static size_t nsnippets;

/* ${n} mutations of ${s}: byte flips, cuts, snippets written or
 * inserted. */
static int
mutations(const char *s, size_t len, int n, int *fast)
{
	char *b = malloc(len + 64);
	size_t p, bl, k;
	int i, rc, bad = 0;

	if (b == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		memcpy(b, s, len);
		bl = len;
		p = len ? next_rand() % len : 0;
		switch (next_rand() % 4) {
		case 0:
			if (len)
				b[p] ^= (char)(1u << (next_rand() % 8));
			break;
		case 1:
			bl = p;
			break;
		case 2:	/* insert */
			k = strlen(snippets[next_rand() % nsnippets]);
			memcpy(b, s, p);
			memcpy(b + p, snippets[rng % nsnippets], k);
			memcpy(b + p + k, s + p, len - p);
			bl = len + k;
			break;
		default: /* overwrite */
			k = strlen(snippets[next_rand() % nsnippets]);
			if (p + k <= len)
				memcpy(b + p, snippets[rng % nsnippets], k);
			break;
		}
		if ((rc = compare(b, bl)) < 0)
			bad++;
		else
			*fast += rc;
	}
	free(b);
	return (bad);
}

static const char *const dirs[] = { "tests/vectors/referrals",
    "tests/vectors/referrals/invalid", "tests/fuzz/corpus/fuzz_referral",
    "tests/fuzz/regress/fuzz_referral", NULL };

TEST(same_as_jansson_on_vectors_seeds_and_mutations)
{
	char path[1024];
	struct dirent *de;
	struct stat st;
	unsigned char *s;
	size_t len;
	int i, files = 0, fast = 0, mfast = 0, rc;
	DIR *dir;

	for (nsnippets = 0; snippets[nsnippets] != NULL; nsnippets++)
		;
	for (i = 0; dirs[i] != NULL; i++) {
		if ((dir = opendir(dirs[i])) == NULL) {
			CHECK(i == 3);	/* regressions: may be none yet */
			continue;
		}
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dirs[i],
			    de->d_name);
			if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
				continue;	/* a folder */
			CHECK((s = t_read_file(path, &len)) != NULL);
			files++;
			rc = compare((const char *)s, len);
			if (rc < 0)
				fprintf(stderr, "# %s\n", path);
			CHECK(rc >= 0);
			fast += rc;
			rc = mutations((const char *)s, len, 300, &mfast);
			free(s);
			CHECK_EQ(rc, 0);
		}
		closedir(dir);
	}
	/* The test has teeth only if refjson read most documents: every
	 * valid vector (12) and its fuzz seed, and mutations of them. */
	CHECK(files >= 40);
	CHECK(fast >= 24);
	CHECK(mfast >= 1000);
}

TEST(edge_cases)
{
	static const struct {
		const char *s;
		int fast;	/* 1: refjson reads it */
	} cases[] = {
		{ "{\"a\":\"\\u00e9\"}", 1 },
		{ "{\"a\":\"\\ud83d\\ude00 \\u20AC\"}", 1 },
		{ "{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}", 1 },
		{ "{\"\\u0061\":1,\"b\":[true,false,null,{}, []]}", 1 },
		{ " \t\r\n{ \"a\" : [ 0 , 123456789012345678 ] } \n", 1 },
		{ "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{}}}}}}}}",
		    1 },
		{ "{\"a\":\"\xc3\xa9\xf0\x9f\x98\x80\x7f\"}", 1 },
		{ "{}", 1 },
		{ "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":"
		    "{}}}}}}}}}", 0 },
		{ "{\"a\":\"\\ud83d\"}", 0 },
		{ "{\"a\":\"\\ud83d\\u0041\"}", 0 },
		{ "{\"a\":\"\\udc00\"}", 0 },
		{ "{\"a\":\"\\u0000\"}", 0 },
		{ "{\"a\":\"\\u12\"}", 0 },
		{ "{\"a\":\"\\x\"}", 0 },
		{ "{\"a\":1,\"a\":2}", 0 },
		{ "{\"a\":1,\"\\u0061\":2}", 0 },
		{ "{\"a\":-0}", 0 },
		{ "{\"a\":-1}", 0 },
		{ "{\"a\":1.0}", 0 },
		{ "{\"a\":1e2}", 0 },
		{ "{\"a\":01}", 0 },
		{ "{\"a\":1234567890123456789}", 0 },
		{ "{\"a\":tru}", 0 },
		{ "{\"a\":truex}", 0 },
		{ "{\"a\":[1,]}", 0 },
		{ "{\"a\":1,}", 0 },
		{ "{\"a\" 1}", 0 },
		{ "{a:1}", 0 },
		{ "[]", 0 },
		{ "\"a\"", 0 },
		{ "{} x", 0 },
		{ "{}{}", 0 },
		{ "", 0 },
		{ "{\"a\":\"\x01\"}", 0 },
		{ "{\"a\":\"\xc3\x28\"}", 0 },
		{ "{\"a\":\"\xed\xa0\x80\"}", 0 },
		{ "{\"a\":\"\xc0\xaf\"}", 0 },
		{ "{\"a\":\"\xf4\x90\x80\x80\"}", 0 },
		{ "{\"a\":\"abc", 0 },
		{ "\xef\xbb\xbf{}", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = compare(cases[i].s, strlen(cases[i].s));

		if (rc != cases[i].fast)
			fprintf(stderr, "# case %zu: %s\n", i, cases[i].s);
		CHECK_EQ(rc, cases[i].fast);
	}
	/* A NUL byte inside the text (outside a string, and inside one). */
	CHECK_EQ(compare("{\"a\":1}\0", 8), 0);
	CHECK_EQ(compare("{\"a\":\"x\0y\"}", 11), 0);
}

int
main(void)
{

	t_init();
	RUN(same_as_jansson_on_vectors_seeds_and_mutations);
	RUN(edge_cases);
	return (t_done());
}
