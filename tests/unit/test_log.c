/*
 * test_log.c: the LMDB log: append, batches, reopen, lookups, proofs,
 * checkpoints, erasure and map growth.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>

#include "../lib/harness.h"
#include "../lib/tproof.h"
#include "../lib/troster.h"
#include "envelope.h"
#include "ident.h"
#include "ferry.h"
#include "log.h"
#include "merkle.h"
#include "note.h"

static uint8_t pk[32], sk[64], pk2[32], sk2[64];
static int dirn;

static const char *
newdir(void)
{
	static char path[512];

	/* Each test runs in a process of its own (harness): the pid keeps
	 * their folders apart. */
	snprintf(path, sizeof(path), "%s/log%ld-%d", t_tmpdir(),
	    (long)getpid(), dirn++);
	return (path);
}

static void
mkentry(struct log_entry *e, uint32_t kind, uint64_t i)
{

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->time_ms = 1700000000000ULL + i;
	memcpy(e->msg_id, &i, sizeof(i));
	e->msg_id[15] = 0xab;
	memcpy(e->from, "met-police", 11);
	memcpy(e->to, "camden-council", 15);
	e->roster_version = 3;
}

TEST(encode_roundtrip)
{
	struct log_entry e, d;
	uint8_t *b, *b2;
	size_t len, len2;

	mkentry(&e, LOG_NACK, 5);
	e.code = FERRY_EQUEUEFULL;
	e.aux = (const uint8_t *)"abc";
	e.aux_len = 3;
	e.ref_index = 42;
	CHECK_EQ(log_entry_encode(&e, &b, &len), 0);
	CHECK_EQ(log_entry_decode(b, len, &d), 0);
	CHECK_EQ(d.kind, LOG_NACK);
	CHECK_EQ(d.code, FERRY_EQUEUEFULL);
	CHECK_EQ(d.ref_index, 42);
	CHECK_EQ(d.aux_len, 3);
	CHECK(memcmp(d.aux, "abc", 3) == 0);
	CHECK(strcmp(d.to, "camden-council") == 0);
	CHECK(memcmp(d.msg_id, e.msg_id, 16) == 0);
	/* re-encoding the decoded entry gives the same bytes */
	CHECK_EQ(log_entry_encode(&d, &b2, &len2), 0);
	CHECK(len == len2 && memcmp(b, b2, len) == 0);
	free(b2);
	/* every truncation is refused */
	for (len2 = 0; len2 < len; len2++)
		CHECK(log_entry_decode(b, len2, &d) != 0);
	free(b);
	/* a minimal entry: two fields only */
	memset(&e, 0, sizeof(e));
	e.kind = LOG_ROSTER;
	e.time_ms = 1;
	CHECK_EQ(log_entry_encode(&e, &b, &len), 0);
	CHECK_EQ(len, 5);	/* 0x82 0x01 0x08 0x02 0x01 */
	CHECK(memcmp(b, "\x82\x01\x08\x02\x01", 5) == 0);
	free(b);
	/* a present zero field is not canonical */
	CHECK(log_entry_decode((const uint8_t *)"\x83\x01\x08\x02\x01\x07\x00",
	    7, &d) != 0);
	/* bad inputs */
	e.kind = 99;
	CHECK_EQ(log_entry_encode(&e, &b, &len), FERRY_EINVAL);
	e.kind = LOG_NACK;
	e.code = 5;
	CHECK_EQ(log_entry_encode(&e, &b, &len), FERRY_EINVAL);
	/* INT32_MIN has no positive twin within the decoder's bound: an
	 * entry the log would write and then refuse to read back. */
	e.code = INT32_MIN;
	CHECK_EQ(log_entry_encode(&e, &b, &len), FERRY_EINVAL);
	e.code = 0;
	memcpy(e.from, "Bad Id", 7);
	CHECK_EQ(log_entry_encode(&e, &b, &len), FERRY_EBADID);
}

TEST(append_reopen_find)
{
	const char *dir = newdir();
	struct log *l;
	struct log_entry e, g;
	struct stat st;
	uint64_t idx, i;
	uint8_t r1[32], r2[32];
	char path[600];

	CHECK_EQ(log_open(dir, "ferry/met-police", sk, &l), 0);
	CHECK_EQ(log_size(l), 0);
	CHECK_EQ(log_root(l, 0, r1), 0);
	for (i = 0; i < 10; i++) {
		mkentry(&e, LOG_SENT, i);
		CHECK_EQ(log_append(l, &e, NULL, 0, &idx), 0);
		CHECK_EQ(idx, i);
	}
	CHECK_EQ(log_size(l), 10);
	/* duplicate (msg_id, SENT) refused; another kind is fine */
	mkentry(&e, LOG_SENT, 3);
	CHECK_EQ(log_append(l, &e, NULL, 0, &idx), FERRY_EDUPMSG);
	CHECK_EQ(log_size(l), 10);
	mkentry(&e, LOG_ACCEPTED, 3);
	CHECK_EQ(log_append(l, &e, NULL, 0, &idx), 0);
	CHECK_EQ(idx, 10);
	CHECK_EQ(log_find_msg(l, e.msg_id, LOG_ACCEPTED, &idx), 0);
	CHECK_EQ(idx, 10);
	CHECK_EQ(log_find_msg(l, e.msg_id, LOG_SENT, &idx), 0);
	CHECK_EQ(idx, 3);
	CHECK_EQ(log_find_msg(l, e.msg_id, 0, &idx), 0);
	CHECK_EQ(idx, 3);
	CHECK_EQ(log_find_msg(l, e.msg_id, LOG_RECEIVED, &idx), FERRY_ENOENT);
	CHECK_EQ(log_get(l, 3, &g), 0);
	CHECK_EQ(g.kind, LOG_SENT);
	CHECK_EQ(g.time_ms, 1700000000003ULL);
	CHECK(strcmp(g.from, "met-police") == 0);
	log_entry_clear(&g);
	CHECK_EQ(log_get(l, 11, &g), FERRY_ENOENT);
	CHECK_EQ(log_root(l, 11, r1), 0);
	log_close(l);
	/* files are 0600 */
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 077, 0);
	/* wrong origin or wrong key refused */
	CHECK_EQ(log_open(dir, "ferry/other", sk, &l), FERRY_EINVAL);
	CHECK_EQ(log_open(dir, "ferry/met-police", sk2, &l), FERRY_EINVAL);
	/* read-only reopen sees the same tree */
	CHECK_EQ(log_open(dir, NULL, NULL, &l), 0);
	CHECK(strcmp(log_origin(l), "ferry/met-police") == 0);
	CHECK_EQ(log_size(l), 11);
	CHECK_EQ(log_root(l, 11, r2), 0);
	CHECK(memcmp(r1, r2, 32) == 0);
	CHECK_EQ(log_append(l, &e, NULL, 0, &idx), FERRY_EINVAL);
	CHECK_EQ(log_check(l, &idx), 0);
	log_close(l);
	/* writable reopen continues numbering */
	CHECK_EQ(log_open(dir, "ferry/met-police", sk, &l), 0);
	mkentry(&e, LOG_SENT, 100);
	CHECK_EQ(log_append(l, &e, NULL, 0, &idx), 0);
	CHECK_EQ(idx, 11);
	/* LOG_ROUTE (issue 12): one per relay chosen, so not unique; its
	 * reason (code) is positive and read back as written. */
	CHECK_EQ(log_kind_unique(LOG_ROUTE), 0);
	CHECK(strcmp(log_kind_name(LOG_ROUTE), "ROUTE") == 0);
	mkentry(&e, LOG_ROUTE, 100);
	e.code = LOG_ROUTE_FIRST;
	CHECK_EQ(log_append(l, &e, NULL, 0, &idx), 0);
	e.code = LOG_ROUTE_LINK_LOST;
	CHECK_EQ(log_append(l, &e, NULL, 0, &idx), 0);
	CHECK_EQ(idx, 13);
	CHECK_EQ(log_get(l, 13, &g), 0);
	CHECK_EQ(g.kind, LOG_ROUTE);
	CHECK_EQ(g.code, LOG_ROUTE_LINK_LOST);
	log_entry_clear(&g);
	/* The latest ROUTE of a message; the first; none of another kind
	 * or message. */
	CHECK_EQ(log_find_msg_last(l, e.msg_id, LOG_ROUTE, &idx), 0);
	CHECK_EQ(idx, 13);
	CHECK_EQ(log_find_msg(l, e.msg_id, LOG_ROUTE, &idx), 0);
	CHECK_EQ(idx, 12);
	CHECK_EQ(log_find_msg_last(l, e.msg_id, LOG_SENT, &idx), 0);
	CHECK_EQ(idx, 11);
	CHECK_EQ(log_find_msg_last(l, e.msg_id, LOG_ACCEPTED, &idx),
	    FERRY_ENOENT);
	mkentry(&e, LOG_ROUTE, 3);
	CHECK_EQ(log_find_msg_last(l, e.msg_id, LOG_ROUTE, &idx),
	    FERRY_ENOENT);
	log_close(l);
}

TEST(batch_and_checkpoint)
{
	const char *dir = newdir();
	struct log *l;
	struct log_batch *b;
	struct log_entry e;
	struct note_checkpoint cp;
	uint8_t *note, root[32], p[LOG_PROOF_MAX][32], leaf[32], rm[32];
	size_t len, np;
	uint64_t idx, i, m;

	CHECK_EQ(log_open(dir, "ferry/relay", sk, &l), 0);
	CHECK_EQ(log_checkpoint(l, &note, &len), FERRY_ENOENT);
	CHECK_EQ(log_begin(l, &b), 0);
	CHECK_EQ(log_begin(l, &b), FERRY_EINVAL);	/* one at a time */
	for (i = 0; i < 100; i++) {
		mkentry(&e, LOG_ACCEPTED, i);
		CHECK_EQ(log_add(b, &e, NULL, 0, &idx), 0);
		CHECK_EQ(idx, i);
	}
	/* duplicate inside the same batch refused, batch lives on */
	mkentry(&e, LOG_ACCEPTED, 7);
	CHECK_EQ(log_add(b, &e, NULL, 0, &idx), FERRY_EDUPMSG);
	CHECK_EQ(log_size(l), 0);	/* nothing visible before commit */
	CHECK_EQ(log_commit(b), 0);
	CHECK_EQ(log_size(l), 100);
	/* an aborted batch leaves nothing */
	CHECK_EQ(log_begin(l, &b), 0);
	mkentry(&e, LOG_ACCEPTED, 500);
	CHECK_EQ(log_add(b, &e, NULL, 0, &idx), 0);
	log_abort(b);
	CHECK_EQ(log_size(l), 100);
	CHECK_EQ(log_find_msg(l, e.msg_id, 0, &idx), FERRY_ENOENT);
	/* checkpoint names size 100 and the root, signed by our key */
	CHECK_EQ(log_checkpoint(l, &note, &len), 0);
	CHECK_EQ(note_parse_checkpoint(note, len, &cp), 0);
	CHECK_EQ(cp.size, 100);
	CHECK(strcmp(cp.origin, "ferry/relay") == 0);
	CHECK_EQ(log_root(l, 100, root), 0);
	CHECK(memcmp(root, cp.root, 32) == 0);
	CHECK_EQ(note_verify(note, len, "ferry/relay", pk), 0);
	free(note);
	/* proofs against the checkpoint */
	for (i = 0; i < 100; i += 7) {
		CHECK_EQ(log_prove_inclusion(l, i, 100, p, &np), 0);
		CHECK_EQ(log_leaf_hash(l, i, leaf), 0);
		CHECK_EQ(merkle_verify_inclusion(leaf, i, 100, root, p, np), 0);
	}
	for (m = 1; m <= 100; m += 9) {
		CHECK_EQ(log_root(l, m, rm), 0);
		CHECK_EQ(log_prove_consistency(l, m, 100, p, &np), 0);
		CHECK_EQ(merkle_verify_consistency(m, 100, rm, root, p, np), 0);
	}
	CHECK_EQ(log_prove_inclusion(l, 100, 100, p, &np), FERRY_EINVAL);
	CHECK_EQ(log_root(l, 101, root), FERRY_EINVAL);
	CHECK_EQ(log_check(l, &idx), 0);
	log_close(l);
}

struct cpcount {
	int n;
	uint64_t last;
	int ok;
};

static int
count_cp(void *ctx, uint64_t size, const uint8_t *note, size_t len)
{
	struct cpcount *c = ctx;
	struct note_checkpoint cp;

	c->n++;
	if (note_parse_checkpoint(note, len, &cp) != 0 || cp.size != size ||
	    note_verify(note, len, "ferry/a", pk) != 0)
		c->ok = 0;
	c->last = size;
	return (0);
}

TEST(checkpoint_archive)
{
	const char *dir = newdir();
	struct log *l;
	struct log_entry e;
	struct cpcount c = { 0, 0, 1 };
	uint64_t i;

	CHECK_EQ(log_open(dir, "ferry/a", sk, &l), 0);
	for (i = 0; i < 5; i++) {
		mkentry(&e, LOG_REFUSED, i);
		e.code = FERRY_EBADSIG;
		CHECK_EQ(log_append(l, &e, NULL, 0, NULL), 0);
	}
	CHECK_EQ(log_checkpoint_foreach(l, count_cp, &c), 0);
	/* the first archived, then the latest: at least 2, sizes right */
	CHECK(c.n >= 2);
	CHECK(c.ok);
	CHECK_EQ(c.last, 5);
	log_close(l);
}

TEST(envelopes_and_erasure)
{
	const char *dir = newdir();
	struct log *l;
	struct log_entry e, g;
	uint8_t env[3000], h[32], *got, root[32], leaf[32];
	uint8_t p[LOG_PROOF_MAX][32];
	size_t len, np;
	uint64_t idx, eidx;

	randombytes_buf(env, sizeof(env));
	crypto_hash_sha256(h, env, sizeof(env));
	CHECK_EQ(log_open(dir, "ferry/camden-council", sk, &l), 0);
	mkentry(&e, LOG_RECEIVED, 1);
	CHECK_EQ(log_append(l, &e, env, sizeof(env), &idx), 0);
	CHECK_EQ(log_get(l, idx, &g), 0);
	CHECK(memcmp(g.env_hash, h, 32) == 0);	/* filled in */
	log_entry_clear(&g);
	/* wrong env_hash refused */
	mkentry(&e, LOG_RECEIVED, 2);
	e.env_hash[0] = 1;
	CHECK_EQ(log_append(l, &e, env, sizeof(env), NULL), FERRY_EINVAL);
	mkentry(&e, LOG_RECEIPT, 1);
	memcpy(e.env_hash, h, 32);
	e.ref_index = idx;
	CHECK_EQ(log_append(l, &e, NULL, 0, NULL), 0);
	CHECK_EQ(log_get_envelope(l, h, &got, &len), 0);
	CHECK(len == sizeof(env) && memcmp(got, env, len) == 0);
	free(got);
	CHECK_EQ(log_prove_inclusion(l, idx, 2, p, &np), 0);
	/* erase: envelope gone, erasure logged, old proof still valid */
	CHECK_EQ(log_erase(l, e.msg_id, LOG_ERASE_REQUEST, "met-police", 3,
	    &eidx), 0);
	CHECK_EQ(eidx, 2);
	CHECK_EQ(log_get_envelope(l, h, &got, &len), FERRY_ENOENT);
	CHECK_EQ(log_get(l, eidx, &g), 0);
	CHECK_EQ(g.kind, LOG_ERASURE);
	CHECK_EQ(g.code, LOG_ERASE_REQUEST);
	CHECK_EQ(g.ref_index, 0);
	CHECK(strcmp(g.from, "met-police") == 0);
	log_entry_clear(&g);
	CHECK_EQ(log_root(l, 2, root), 0);
	CHECK_EQ(log_leaf_hash(l, idx, leaf), 0);
	CHECK_EQ(merkle_verify_inclusion(leaf, idx, 2, root, p, np), 0);
	CHECK_EQ(log_erase(l, e.msg_id, LOG_ERASE_REQUEST, "met-police", 3,
	    &eidx), FERRY_EDUPMSG);
	mkentry(&e, LOG_RECEIVED, 77);
	CHECK_EQ(log_erase(l, e.msg_id, LOG_ERASE_RETENTION, "camden-council",
	    3, &eidx), FERRY_ENOENT);
	CHECK_EQ(log_check(l, &idx), 0);
	{
		char path[600];

		snprintf(path, sizeof(path), "%s/compact.mdb", dir);
		CHECK_EQ(log_compact(l, path), 0);
		CHECK_EQ(log_compact(l, path), FERRY_EEXIST);
	}
	log_close(l);
}

/*
 * log_add_hashed takes the caller's hash of the envelope: the envelope is
 * stored and found under it, the entry carries it; an all-zero hash is
 * refused and leaves the batch usable.
 */
TEST(add_hashed_takes_the_hash)
{
	const char *dir = newdir();
	struct log *l;
	struct log_batch *b;
	struct log_entry e, g;
	uint8_t env[5000], h[32], *got;
	size_t len;
	uint64_t idx;

	randombytes_buf(env, sizeof(env));
	crypto_hash_sha256(h, env, sizeof(env));
	CHECK_EQ(log_open(dir, "ferry/camden-council", sk, &l), 0);
	CHECK_EQ(log_begin(l, &b), 0);
	mkentry(&e, LOG_RECEIVED, 1);
	CHECK_EQ(log_add_hashed(b, &e, env, sizeof(env), NULL), FERRY_EINVAL);
	memcpy(e.env_hash, h, 32);
	CHECK_EQ(log_add_hashed(b, &e, env, sizeof(env), &idx), 0);
	CHECK_EQ(log_commit(b), 0);
	CHECK_EQ(log_get(l, idx, &g), 0);
	CHECK(memcmp(g.env_hash, h, 32) == 0);
	log_entry_clear(&g);
	CHECK_EQ(log_get_envelope(l, h, &got, &len), 0);
	CHECK(len == sizeof(env) && memcmp(got, env, len) == 0);
	free(got);
	log_close(l);
}

TEST(map_full_grows)
{
	const char *dir = newdir();
	struct log *l;
	struct log_batch *b;
	struct log_entry e;
	uint8_t *env, root[32];
	uint64_t i, idx;
	size_t envlen = 200000;

	env = malloc(envlen);
	CHECK(env != NULL);
	log_set_initial_mapsize(256 * 1024);
	CHECK_EQ(log_open(dir, "ferry/small", sk, &l), 0);
	log_set_initial_mapsize((size_t)1 << 30);
	/* 40 x 200 kB envelopes in one batch: far past 256 kB */
	CHECK_EQ(log_begin(l, &b), 0);
	for (i = 0; i < 40; i++) {
		memset(env, (int)i, envlen);
		mkentry(&e, LOG_SENT, i);
		CHECK_EQ(log_add(b, &e, env, envlen, &idx), 0);
		CHECK_EQ(idx, i);
	}
	CHECK_EQ(log_commit(b), 0);
	CHECK_EQ(log_size(l), 40);
	for (i = 40; i < 60; i++) {
		memset(env, (int)i, envlen);
		mkentry(&e, LOG_SENT, i);
		CHECK_EQ(log_append(l, &e, env, envlen, &idx), 0);
	}
	CHECK_EQ(log_check(l, &idx), 0);
	CHECK_EQ(log_root(l, 60, root), 0);
	log_close(l);
	free(env);
	CHECK_EQ(log_open(dir, "ferry/small", sk, &l), 0);
	CHECK_EQ(log_size(l), 60);
	log_close(l);
}

TEST(check_finds_nothing_wrong_large)
{
	const char *dir = newdir();
	struct log *l;
	struct log_batch *b;
	struct log_entry e;
	struct merkle_mem m;
	uint8_t *raw, leaf[32], r1[32], r2[32];
	size_t len;
	uint64_t i, bad;

	merkle_mem_init(&m);
	CHECK_EQ(log_open(dir, "ferry/big", sk, &l), 0);
	CHECK_EQ(log_begin(l, &b), 0);
	for (i = 0; i < 3000; i++) {
		mkentry(&e, LOG_RECEIVED, i);
		CHECK_EQ(log_add(b, &e, NULL, 0, NULL), 0);
		if (i % 500 == 499) {
			CHECK_EQ(log_commit(b), 0);
			CHECK_EQ(log_begin(l, &b), 0);
		}
	}
	CHECK_EQ(log_commit(b), 0);
	/* the stored tree equals a tree recomputed in memory */
	for (i = 0; i < 3000; i++) {
		CHECK_EQ(log_get_raw(l, i, &raw, &len), 0);
		merkle_leaf_hash(raw, len, leaf);
		free(raw);
		CHECK_EQ(merkle_mem_append(&m, leaf), 0);
	}
	CHECK_EQ(log_root(l, 3000, r1), 0);
	CHECK_EQ(merkle_root(3000, merkle_mem_read, &m, r2), 0);
	CHECK(memcmp(r1, r2, 32) == 0);
	CHECK_EQ(log_check(l, &bad), 0);
	merkle_mem_free(&m);
	log_close(l);
}

/*
 * Helper modes for tests/scenario/audit_*.sh (not unit tests):
 *   test_log pubkey SEED                 print the public key (hex)
 *   test_log append DIR N BATCH SEED [ORIGIN [FORKAT]]
 *       append N deterministic entries (SENT, msg id = index) in batches
 *       of BATCH, printing "logged I" only after each commit returns;
 *       FORKAT: entry FORKAT differs (a forked history)
 *   test_log checkpoint DIR              print the latest checkpoint note
 *   test_log pair DIRA DIRB N SEEDA SEEDB
 *       agent a sends N messages to agent b, b receives them and returns
 *       receipts; each log holds the other's checkpoint; envelopes stored
 * SEED is 64 hex digits (Ed25519 seed).
 */
static int
seedkey(const char *hex, uint8_t hpk[32], uint8_t hsk[64])
{
	uint8_t seed[32];

	if (strlen(hex) != 64 || ferry_unhex(seed, 32, hex) != 0)
		return (-1);
	return (crypto_sign_seed_keypair(hpk, hsk, seed));
}

static void
detentry(struct log_entry *e, uint32_t kind, uint64_t i, const char *from,
    const char *to)
{
	int k;

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->time_ms = 1700000000000ULL + i;
	for (k = 0; k < 8; k++)
		e->msg_id[k] = (uint8_t)(i >> (56 - 8 * k));
	e->msg_id[15] = 0x5a;
	snprintf(e->from, sizeof(e->from), "%s", from);
	snprintf(e->to, sizeof(e->to), "%s", to);
	e->roster_version = 1;
}

/*
 * A sender's log of message 0 resent through a second relay (issue 12):
 * SENT; ROUTE to relay-a; ACCEPTED signed by relay-a; ROUTE to relay-b
 * (relay-a unreachable: resend); ACCEPTED signed by relay-b; RECEIPT.
 * ${rc} (if not NULL) gets each log_append's result in turn.  0 if every
 * one was added.
 */
static int
custody_log(struct log *l, int rc[6])
{
	static const struct {
		uint32_t kind;
		const char *from, *to;
		int32_t code;
	} t[] = {
		{ LOG_SENT, "met-police", "camden-council", 0 },
		{ LOG_ROUTE, "met-police", "relay-a", LOG_ROUTE_FIRST },
		{ LOG_ACCEPTED, "relay-a", "camden-council", 0 },
		{ LOG_ROUTE, "met-police", "relay-b", LOG_ROUTE_RESEND },
		{ LOG_ACCEPTED, "relay-b", "camden-council", 0 },
		{ LOG_RECEIPT, "camden-council", "met-police", 0 },
	};
	struct log_entry e;
	uint8_t env[64];
	size_t k;
	int bad = 0, r;

	memset(env, 0, sizeof(env));
	for (k = 0; k < 6; k++) {
		detentry(&e, t[k].kind, 0, t[k].from, t[k].to);
		e.code = t[k].code;
		r = log_append(l, &e, t[k].kind == LOG_SENT ? env : NULL,
		    t[k].kind == LOG_SENT ? sizeof(env) : 0, NULL);
		if (rc != NULL)
			rc[k] = r;
		bad |= r != 0;
	}
	return (bad);
}

/*
 * ACCEPTED is unique per (message, relay): a second relay's custody
 * receipt is logged after a ROUTE to it; the same relay's twice, or one
 * from a relay the message was never routed to, is refused.
 */
TEST(accepted_per_relay)
{
	const char *dir = newdir();
	struct log *l;
	struct log_batch *b;
	struct log_entry e, g;
	uint64_t idx;
	int rc[6], k;

	CHECK_EQ(log_open(dir, "ferry/met-police", sk, &l), 0);
	CHECK_EQ(custody_log(l, rc), 0);
	for (k = 0; k < 6; k++)
		CHECK_EQ(rc[k], 0);
	/* the latest ACCEPTED is relay-b's, the first relay-a's */
	detentry(&e, LOG_ACCEPTED, 0, "relay-a", "camden-council");
	CHECK_EQ(log_find_msg(l, e.msg_id, LOG_ACCEPTED, &idx), 0);
	CHECK_EQ(idx, 2);
	CHECK_EQ(log_find_msg_last(l, e.msg_id, LOG_ACCEPTED, &idx), 0);
	CHECK_EQ(idx, 4);
	CHECK_EQ(log_get(l, idx, &g), 0);
	CHECK(strcmp(g.from, "relay-b") == 0);
	log_entry_clear(&g);
	/* the same relay twice: refused, whichever */
	CHECK_EQ(log_append(l, &e, NULL, 0, &idx), FERRY_EDUPMSG);
	detentry(&e, LOG_ACCEPTED, 0, "relay-b", "camden-council");
	CHECK_EQ(log_append(l, &e, NULL, 0, &idx), FERRY_EDUPMSG);
	/* a relay never routed to: refused (in a batch, which lives on) */
	detentry(&e, LOG_ACCEPTED, 0, "relay-c", "camden-council");
	CHECK_EQ(log_begin(l, &b), 0);
	CHECK_EQ(log_add(b, &e, NULL, 0, &idx), FERRY_EDUPMSG);
	/* ... and added once routed to it, earlier in the same batch */
	detentry(&g, LOG_ROUTE, 0, "met-police", "relay-c");
	g.code = LOG_ROUTE_NOT_HELD;
	CHECK_EQ(log_add(b, &g, NULL, 0, &idx), 0);
	CHECK_EQ(log_add(b, &e, NULL, 0, &idx), 0);
	CHECK_EQ(idx, 7);
	CHECK_EQ(log_add(b, &e, NULL, 0, &idx), FERRY_EDUPMSG);
	CHECK_EQ(log_commit(b), 0);
	/* an ACCEPTED naming no relay, once one is logged: refused */
	detentry(&e, LOG_ACCEPTED, 0, "", "camden-council");
	CHECK_EQ(log_append(l, &e, NULL, 0, &idx), FERRY_EDUPMSG);
	/* other unique kinds keep their rule, even after a ROUTE */
	detentry(&e, LOG_RECEIPT, 0, "relay-c", "met-police");
	CHECK_EQ(log_append(l, &e, NULL, 0, &idx), FERRY_EDUPMSG);
	CHECK_EQ(log_size(l), 8);
	CHECK_EQ(log_check(l, &idx), 0);
	log_close(l);
}

/* Read caller table ${dbi} key ${k} in a snapshot: its value's first byte, or -1. */
static int
xget(struct log *l, MDB_dbi dbi, const char *k)
{
	MDB_txn *txn;
	MDB_val kv = { strlen(k), (void *)(uintptr_t)k }, v;
	int r = -1;

	if (log_read_begin(l, &txn) != 0)
		return (-2);
	if (mdb_get(txn, dbi, &kv, &v) == 0 && v.mv_size > 0)
		r = ((const uint8_t *)v.mv_data)[0];
	log_read_end(txn);
	return (r);
}

/*
 * A sealed batch: one checkpoint signed before the commit (log_batch_seal)
 * is the commit's own (log_commit signs no other), every entry of the
 * batch is proven under it (log_batch_prove), no entry is added after
 * it, caller writes still are, and a map grown during the commit keeps
 * the note true.
 */
/* LMDB point reads (mdb_get), counted: the Makefile links this program
 * with -Wl,--wrap=mdb_get. */
static unsigned long long mdb_gets;

int __real_mdb_get(MDB_txn *, MDB_dbi, MDB_val *, MDB_val *);
int __wrap_mdb_get(MDB_txn *, MDB_dbi, MDB_val *, MDB_val *);

int
__wrap_mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{

	mdb_gets++;
	return (__real_mdb_get(txn, dbi, k, v));
}

TEST(sealed_batch_one_signature)
{
	const char *dir = newdir();
	static const char *const dbs[] = { "t.state" };
	struct log_opts o = { dbs, 1, 0 };
	struct log *l;
	struct log_batch *b;
	struct log_entry e;
	struct note_checkpoint cp;
	MDB_dbi d1;
	uint8_t *note, *n2, *raw, *raw2, leaf[32], big[3000];
	uint8_t proof[LOG_PROOF_MAX][32];
	size_t len, len2, rawlen, rawlen2, np, i, hashes = 0;
	uint64_t idx[40], s0, s1;
	unsigned long long gets0;

	log_set_initial_mapsize(64 * 1024);
	CHECK_EQ(log_open_ex(dir, "ferry/met-police", sk, &o, &l), 0);
	log_set_initial_mapsize((size_t)1 << 30);
	CHECK_EQ(log_dbi(l, "t.state", &d1), 0);
	mkentry(&e, LOG_SENT, 1);
	CHECK_EQ(log_append(l, &e, NULL, 0, NULL), 0);
	CHECK_EQ(log_begin(l, &b), 0);
	for (i = 0; i < 40; i++) {
		mkentry(&e, LOG_RECEIVED, 100 + i);
		CHECK_EQ(log_add(b, &e, NULL, 0, &idx[i]), 0);
	}
	note_counts(&s0, NULL);
	CHECK_EQ(log_batch_seal(b, &note, &len), 0);
	CHECK_EQ(log_batch_seal(b, &n2, &len2), FERRY_EINVAL);	/* once */
	mkentry(&e, LOG_SENT, 2);
	CHECK_EQ(log_add(b, &e, NULL, 0, NULL), FERRY_EINVAL);
	CHECK_EQ(note_parse_checkpoint(note, len, &cp), 0);
	CHECK_EQ(cp.size, 41);
	gets0 = mdb_gets;
	for (i = 0; i < 40; i++) {
		CHECK_EQ(log_batch_prove(b, idx[i], &raw, &rawlen, proof, &np),
		    0);
		merkle_leaf_hash(raw, rawlen, leaf);
		CHECK_EQ(merkle_verify_inclusion(leaf, idx[i], cp.size, cp.root,
		    (const uint8_t (*)[32])proof, np), 0);
		hashes += np;
		free(raw);
	}
	/* The 40 audit paths share their hashes: each stored hash is read
	 * once (at most the 40 entries and the tree's 2 x 41 stored
	 * hashes), not once per path that holds it. */
	printf("# 40 batch proofs (%zu path hashes): %llu LMDB reads\n",
	    hashes, mdb_gets - gets0);
	CHECK(mdb_gets - gets0 <= 40 + 2 * 41);
	CHECK(hashes > 40 + 2 * 41);	/* what one read each would cost */
	CHECK_EQ(log_batch_prove(b, 41, &raw, &rawlen, proof, &np),
	    FERRY_EINVAL);
	/* Caller writes after the seal, big enough to grow the map: the
	 * redo rebuilds the same tree, the note stays the commit's. */
	memset(big, 0x5a, sizeof(big));
	for (i = 0; i < 40; i++) {
		uint8_t k[2] = { 'k', (uint8_t)i };

		CHECK_EQ(log_batch_put(b, d1, k, 2, big, sizeof(big), 0), 0);
	}
	CHECK_EQ(log_commit(b), 0);
	note_counts(&s1, NULL);
	CHECK_EQ(s1 - s0, 1);	/* the seal's signature, no other */
	CHECK(log_map_grows(l) > 0);
	CHECK_EQ(log_checkpoint(l, &n2, &len2), 0);
	CHECK(len2 == len && memcmp(n2, note, len) == 0);
	free(n2);
	/* The proven bytes are the stored entry. */
	CHECK_EQ(log_get_raw(l, idx[7], &raw2, &rawlen2), 0);
	mkentry(&e, LOG_RECEIVED, 107);
	CHECK_EQ(log_entry_encode(&e, &raw, &rawlen), 0);
	CHECK(rawlen == rawlen2 && memcmp(raw, raw2, rawlen) == 0);
	free(raw);
	free(raw2);
	free(note);
	log_close(l);
}

TEST(caller_tables_commit_with_entries)
{
	const char *dir = newdir();
	static const char *const dbs[] = { "t.state", "t.more" };
	static const char *const bad1[] = { "msgs" };
	static const char *const bad2[] = { "t.a", "t.a" };
	struct log_opts o = { dbs, 2, 0 }, ob;
	struct log *l;
	struct log_batch *b;
	struct log_entry e;
	struct note_checkpoint cp;
	MDB_dbi d1, d2;
	MDB_txn *txn;
	MDB_val kv, v;
	uint8_t *note, *n2, root[32];
	size_t len, len2;
	uint64_t idx;

	ob = o;
	ob.dbs = bad1;
	ob.ndbs = 1;
	CHECK_EQ(log_open_ex(dir, "ferry/met-police", sk, &ob, &l),
	    FERRY_EINVAL);	/* the log's own name */
	ob.dbs = bad2;
	ob.ndbs = 2;
	CHECK_EQ(log_open_ex(dir, "ferry/met-police", sk, &ob, &l),
	    FERRY_EINVAL);	/* twice */
	CHECK_EQ(log_open_ex(dir, "ferry/met-police", sk, &o, &l), 0);
	CHECK_EQ(log_dbi(l, "t.state", &d1), 0);
	CHECK_EQ(log_dbi(l, "t.more", &d2), 0);
	CHECK_EQ(log_dbi(l, "t.none", &d2), FERRY_ENOENT);
	CHECK_EQ(log_dbi(l, "t.more", &d2), 0);

	/* Entries and caller writes: one commit, both durable. */
	CHECK_EQ(log_begin(l, &b), 0);
	CHECK_EQ(log_read_begin(l, &txn), FERRY_EINVAL);	/* batch open */
	mkentry(&e, LOG_SENT, 1);
	CHECK_EQ(log_add(b, &e, NULL, 0, &idx), 0);
	CHECK_EQ(log_batch_put(b, d1, "k1", 2, "\x01", 1, MDB_NOOVERWRITE), 0);
	CHECK_EQ(log_batch_put(b, d1, "k1", 2, "\x02", 1, MDB_NOOVERWRITE),
	    FERRY_EEXIST);	/* refused; the batch lives on */
	CHECK_EQ(log_batch_put(b, d2, "k2", 2, "\x03", 1, 0), 0);
	CHECK_EQ(log_batch_del(b, d2, "zz", 2), FERRY_ENOENT);
	CHECK_EQ(log_batch_put(b, 9999, "k", 1, "v", 1, 0), FERRY_EINVAL);
	/* The batch's own writes are visible through its transaction. */
	kv.mv_data = "k1";
	kv.mv_size = 2;
	CHECK_EQ(mdb_get(log_batch_txn(b), d1, &kv, &v), 0);
	CHECK_EQ(((uint8_t *)v.mv_data)[0], 1);
	/* A checkpoint of the batch so far, named before the commit. */
	CHECK_EQ(log_batch_checkpoint(b, &note, &len), 0);
	CHECK_EQ(log_commit(b), 0);
	CHECK_EQ(note_parse_checkpoint(note, len, &cp), 0);
	CHECK_EQ(cp.size, 1);
	CHECK_EQ(note_verify(note, len, "ferry/met-police", pk), 0);
	CHECK_EQ(log_root(l, 1, root), 0);
	CHECK(memcmp(root, cp.root, 32) == 0);
	free(note);
	CHECK_EQ(xget(l, d1, "k1"), 1);
	CHECK_EQ(xget(l, d2, "k2"), 3);

	/* An aborted batch leaves nothing, entries or state. */
	CHECK_EQ(log_begin(l, &b), 0);
	mkentry(&e, LOG_SENT, 2);
	CHECK_EQ(log_add(b, &e, NULL, 0, NULL), 0);
	CHECK_EQ(log_batch_put(b, d1, "k3", 2, "\x04", 1, 0), 0);
	CHECK_EQ(log_batch_del(b, d1, "k1", 2), 0);
	log_abort(b);
	CHECK_EQ(log_size(l), 1);
	CHECK_EQ(xget(l, d1, "k3"), -1);
	CHECK_EQ(xget(l, d1, "k1"), 1);

	/* Only caller writes: committed, no new checkpoint signed. */
	CHECK_EQ(log_checkpoint(l, &note, &len), 0);
	CHECK_EQ(log_begin(l, &b), 0);
	CHECK_EQ(log_batch_del(b, d1, "k1", 2), 0);
	CHECK_EQ(log_commit(b), 0);
	CHECK_EQ(log_checkpoint(l, &n2, &len2), 0);
	CHECK(len == len2 && memcmp(note, n2, len) == 0);
	free(note);
	free(n2);
	CHECK_EQ(xget(l, d1, "k1"), -1);
	CHECK_EQ(log_check(l, &idx), 0);
	log_close(l);

	/* Durable across a reopen; a read-only open sees the tables too. */
	CHECK_EQ(log_open_ex(dir, NULL, NULL, &o, &l), 0);
	CHECK_EQ(log_dbi(l, "t.more", &d2), 0);
	CHECK_EQ(xget(l, d2, "k2"), 3);
	CHECK_EQ(log_size(l), 1);
	log_close(l);
	ob.dbs = bad2;
	ob.ndbs = 1;	/* "t.a": never created */
	CHECK_EQ(log_open_ex(dir, NULL, NULL, &ob, &l), FERRY_ENOENT);
	CHECK_EQ(log_open(dir, NULL, NULL, &l), 0);	/* the auditor's view */
	CHECK_EQ(log_size(l), 1);
	log_close(l);
}

TEST(caller_tables_map_full_redo)
{
	const char *dir = newdir();
	static const char *const dbs[] = { "t.big" };
	struct log_opts o = { dbs, 1, 256 * 1024 };
	struct log *l;
	struct log_batch *b;
	struct log_entry e;
	MDB_dbi d;
	MDB_txn *txn;
	MDB_val kv, v;
	uint8_t *val, key[8];
	size_t vlen = 100000;
	uint64_t i, idx, n;
	int ok;

	val = malloc(vlen);
	CHECK(val != NULL);
	CHECK_EQ(log_open_ex(dir, "ferry/small", sk, &o, &l), 0);
	CHECK_EQ(log_dbi(l, "t.big", &d), 0);
	CHECK_EQ(log_map_grows(l), 0);
	/* 30 x 100 kB caller values among entries: the map grows (several
	 * times) mid-batch and the log redoes the caller's writes too,
	 * copied (log_batch_put) or kept (log_batch_put_own). */
	CHECK_EQ(log_begin(l, &b), 0);
	for (i = 0; i < 30; i++) {
		mkentry(&e, LOG_SENT, i);
		CHECK_EQ(log_add(b, &e, NULL, 0, &idx), 0);
		CHECK_EQ(idx, i);
		memset(val, (int)i, vlen);
		memcpy(key, &i, 8);
		if (i % 2 == 0)
			CHECK_EQ(log_batch_put(b, d, key, 8, val, vlen, 0), 0);
		else {
			/* Kept by the batch, not copied: redone all the
			 * same (and freed by it). */
			uint8_t *own = malloc(vlen);

			CHECK(own != NULL);
			memcpy(own, val, vlen);
			CHECK_EQ(log_batch_put_own(b, d, key, 8, own, vlen, 0),
			    0);
		}
		if (i % 3 == 2)
			CHECK_EQ(log_batch_del(b, d, key, 8), 0);
	}
	CHECK_EQ(log_commit(b), 0);
	CHECK(log_map_grows(l) > 0);
	CHECK_EQ(log_size(l), 30);
	CHECK_EQ(log_read_begin(l, &txn), 0);
	ok = 1;
	for (i = 0, n = 0; i < 30; i++) {
		memcpy(key, &i, 8);
		kv.mv_data = key;
		kv.mv_size = 8;
		if (i % 3 == 2) {
			ok &= mdb_get(txn, d, &kv, &v) == MDB_NOTFOUND;
			continue;
		}
		ok &= mdb_get(txn, d, &kv, &v) == 0 && v.mv_size == vlen &&
		    ((uint8_t *)v.mv_data)[vlen - 1] == (uint8_t)i;
		n++;
	}
	log_read_end(txn);
	CHECK(ok);
	CHECK_EQ(n, 20);
	CHECK_EQ(log_check(l, &idx), 0);
	log_close(l);
	free(val);
}

/*
 * relays SENDER RECIPIENT RELAY_A RELAY_B STRAY SEED: the logs of
 * met-police, camden-council and two relays, as after a failover:
 * message 0 routed to relay-a (first), then relay-b (link lost), carried
 * and delivered by relay-b; message 1 routed to relay-a and delivered by
 * it; message 2 sent by camden-council to met-police through relay-a
 * (so its log names relay-a too).  STRAY: a relay-b log that also
 * logged accepting message 1, which met-police never routed to it.
 */
static int
helper_relays(char **argv)
{
	/* Log (0 met-police, 1 camden-council, 2 relay-a, 3 relay-b, 4 the
	 * stray relay-b), kind, message, with its envelope bytes, from, to
	 * (a ROUTE: the relay), code (a ROUTE: the reason). */
	static const struct {
		int log;
		uint32_t kind;
		uint64_t i;
		int env;
		const char *from, *to;
		int32_t code;
	} t[] = {
#define P "met-police"
#define C "camden-council"
		{ 0, LOG_SENT, 0, 1, P, C, 0 },
		{ 0, LOG_ROUTE, 0, 0, P, "relay-a", LOG_ROUTE_FIRST },
		{ 0, LOG_ROUTE, 0, 0, P, "relay-b", LOG_ROUTE_LINK_LOST },
		{ 3, LOG_ACCEPTED, 0, 1, P, C, 0 },
		{ 4, LOG_ACCEPTED, 0, 1, P, C, 0 },
		{ 1, LOG_RECEIVED, 0, 1, P, C, 0 },
		{ 1, LOG_RECEIPT, 0, 0, P, C, 0 },
		{ 3, LOG_DELIVERED, 0, 0, P, C, 0 },
		{ 4, LOG_DELIVERED, 0, 0, P, C, 0 },
		{ 0, LOG_RECEIPT, 0, 0, P, C, 0 },
		{ 0, LOG_SENT, 1, 1, P, C, 0 },
		{ 0, LOG_ROUTE, 1, 0, P, "relay-a", LOG_ROUTE_FIRST },
		{ 2, LOG_ACCEPTED, 1, 1, P, C, 0 },
		{ 4, LOG_ACCEPTED, 1, 1, P, C, 0 },
		{ 1, LOG_RECEIVED, 1, 1, P, C, 0 },
		{ 1, LOG_RECEIPT, 1, 0, P, C, 0 },
		{ 2, LOG_DELIVERED, 1, 0, P, C, 0 },
		{ 0, LOG_RECEIPT, 1, 0, P, C, 0 },
		{ 1, LOG_SENT, 2, 1, C, P, 0 },
		{ 1, LOG_ROUTE, 2, 0, C, "relay-a", LOG_ROUTE_FIRST },
		{ 2, LOG_ACCEPTED, 2, 1, C, P, 0 },
		{ 0, LOG_RECEIVED, 2, 1, C, P, 0 },
		{ 0, LOG_RECEIPT, 2, 0, C, P, 0 },
		{ 2, LOG_RECEIPT, 2, 0, C, P, 0 },
		{ 2, LOG_DELIVERED, 2, 0, C, P, 0 },
#undef P
#undef C
	};
	static const char *const origin[] = { "ferry/met-police",
	    "ferry/camden-council", "ferry/relay-a", "ferry/relay-b",
	    "ferry/relay-b" };
	struct log *l[5] = { NULL };
	struct log_entry e;
	uint8_t hpk[32], hsk[64], b[64];
	size_t k;
	int bad = 0;

	if (seedkey(argv[7], hpk, hsk) != 0)
		return (2);
	for (k = 0; k < 5; k++)
		bad |= log_open(argv[2 + k], origin[k], hsk, &l[k]) != 0;
	for (k = 0; !bad && k < sizeof(t) / sizeof(t[0]); k++) {
		memset(b, (int)t[k].i, sizeof(b));
		detentry(&e, t[k].kind, t[k].i, t[k].from, t[k].to);
		e.code = t[k].code;
		bad |= log_append(l[t[k].log], &e, t[k].env ? b : NULL,
		    t[k].env ? sizeof(b) : 0, NULL) != 0;
	}
	for (k = 0; k < 5; k++)
		if (l[k] != NULL)
			log_close(l[k]);
	return (bad);
}

/* A new identity ${id} of ${kind} (ident_kind_parse), valid a year. */
static struct ident *
fp_ident(const char *id, const char *kind)
{
	struct ident *i;
	uint32_t k;

	if (ident_kind_parse(kind, &k) != 0 ||
	    ident_generate(id, k, id, ferry_now_ms(), 365 * 86400000ULL,
	    &i) != 0)
		return (NULL);
	return (i);
}

/*
 * foreign-proof DIR KIND FROM: a roster (DIR/roster.1) and eerc-charity's
 * log (DIR/charity) holding a message SENT to met-police, then a RECEIPT
 * (KIND "receipt") or ACCEPTED ("accepted") entry from ${from} whose
 * receipt by proof is nhs-uclh's, a third agency's.  Prints the log's
 * public key and the roster's pin.  For ferry-audit verify --roster.
 */
static int
foreign_proof(const char *dir, const char *kind, const char *from)
{
	struct ident *admin, *rl, *ch, *po, *nhs;
	const struct ident *ag[3];
	char path[600], pin[65], hex[65];
	uint8_t id[1][16], h[1][32], *buf = NULL;
	size_t len;
	struct log *l;
	struct log_batch *b;
	struct log_entry e;
	int acc = strcmp(kind, "accepted") == 0;

	admin = fp_ident("admin-1", "admin");
	rl = fp_ident("relay", "relay");
	ch = fp_ident("eerc-charity", "charity");
	po = fp_ident("met-police", "police");
	nhs = fp_ident("nhs-uclh", "health");
	if (admin == NULL || rl == NULL || ch == NULL || po == NULL ||
	    nhs == NULL)
		return (3);
	ag[0] = ch;
	ag[1] = po;
	ag[2] = nhs;
	snprintf(path, sizeof(path), "%s/roster.1", dir);
	if (troster_write(path, admin, rl, ag, 3, pin) != 0)
		return (3);
	memset(id[0], 0x77, 16);
	memset(h[0], 0x88, 32);
	if (tproof_receipts(nhs, acc ? ENV_ACCEPTED_P : ENV_RECEIPT_P, 1,
	    (const uint8_t (*)[16])id, (const uint8_t (*)[32])h,
	    "eerc-charity", "nhs-uclh", dir, &buf, &len) != 0)
		return (3);
	snprintf(path, sizeof(path), "%s/charity", dir);
	if (log_open(path, "ferry/eerc-charity", ch->sign_sk, &l) != 0 ||
	    log_begin(l, &b) != 0)
		return (3);
	memset(&e, 0, sizeof(e));
	e.kind = LOG_SENT;
	memcpy(e.msg_id, id[0], 16);
	memcpy(e.env_hash, h[0], 32);
	snprintf(e.from, sizeof(e.from), "eerc-charity");
	snprintf(e.to, sizeof(e.to), "met-police");
	e.roster_version = 1;
	if (log_add(b, &e, NULL, 0, NULL) != 0)
		return (3);
	e.kind = acc ? LOG_ACCEPTED : LOG_RECEIPT;
	snprintf(e.from, sizeof(e.from), "%s", from);
	snprintf(e.to, sizeof(e.to), "eerc-charity");
	e.aux = buf;
	e.aux_len = len;
	if (log_add(b, &e, NULL, 0, NULL) != 0 || log_commit(b) != 0)
		return (3);
	log_close(l);
	ferry_hex(hex, ch->sign_pk, 32);
	printf("%s %s\n", hex, pin);
	free(buf);
	ident_free(admin);
	ident_free(rl);
	ident_free(ch);
	ident_free(po);
	ident_free(nhs);
	return (0);
}

static int
helper(int argc, char **argv)
{
	struct log *l, *l2;
	struct log_batch *b;
	struct log_entry e;
	uint8_t hpk[32], hsk[64], hpk2[32], hsk2[64], *note, env[64];
	char hex[65];
	size_t len;
	unsigned long n, batch, i, j, forkat = (unsigned long)-1;
	uint64_t idx, ridx;
	int rc;

	if (strcmp(argv[1], "pubkey") == 0 && argc == 3) {
		if (seedkey(argv[2], hpk, hsk) != 0)
			return (2);
		ferry_hex(hex, hpk, 32);
		printf("%s\n", hex);
		return (0);
	}
	if (strcmp(argv[1], "foreign-proof") == 0 && argc == 5)
		return (foreign_proof(argv[2], argv[3], argv[4]));
	if (strcmp(argv[1], "checkpoint") == 0 && argc == 3) {
		if (log_open(argv[2], NULL, NULL, &l) != 0 ||
		    log_checkpoint(l, &note, &len) != 0)
			return (1);
		fwrite(note, 1, len, stdout);
		free(note);
		log_close(l);
		return (0);
	}
	if (strcmp(argv[1], "append") == 0 && argc >= 6) {
		n = strtoul(argv[3], NULL, 10);
		batch = strtoul(argv[4], NULL, 10);
		if (batch == 0 || seedkey(argv[5], hpk, hsk) != 0)
			return (2);
		if (argc >= 8)
			forkat = strtoul(argv[7], NULL, 10);
		if (log_open(argv[2], argc >= 7 ? argv[6] : "ferry/met-police",
		    hsk, &l) != 0)
			return (1);
		for (i = log_size(l); i < n; i += batch) {
			if (log_begin(l, &b) != 0)
				return (1);
			for (j = i; j < n && j < i + batch; j++) {
				detentry(&e, LOG_SENT, j, "met-police",
				    j == forkat ? "nhs-uclh" : "camden-council");
				memset(env, (int)j, sizeof(env));
				if (log_add(b, &e, env, sizeof(env), NULL) != 0)
					return (1);
			}
			if ((rc = log_commit(b)) != 0) {
				printf("error %s\n", ferry_errname(rc));
				log_close(l);
				return (3);
			}
			for (j = i; j < n && j < i + batch; j++)
				printf("logged %lu\n", j);
			fflush(stdout);
		}
		log_close(l);
		return (0);
	}
	if (strcmp(argv[1], "erase") == 0 && argc == 6) {
		/* erase DIR SEED I AUTHORISER: request erasure of message I */
		if (seedkey(argv[3], hpk, hsk) != 0)
			return (2);
		detentry(&e, LOG_SENT, strtoul(argv[4], NULL, 10), "", "");
		if (log_open(argv[2], "ferry/met-police", hsk, &l) != 0)
			return (1);
		rc = log_erase(l, e.msg_id, strcmp(argv[5], "met-police") == 0 ?
		    LOG_ERASE_RETENTION : LOG_ERASE_REQUEST, argv[5], 1, &idx);
		log_close(l);
		if (rc != 0) {
			printf("error %s\n", ferry_errname(rc));
			return (3);
		}
		printf("erased at %llu\n", (unsigned long long)idx);
		return (0);
	}
	if (strcmp(argv[1], "custody") == 0 && argc == 4) {
		/* custody DIR SEED: custody_log's sender log */
		if (seedkey(argv[3], hpk, hsk) != 0)
			return (2);
		if (log_open(argv[2], "ferry/met-police", hsk, &l) != 0)
			return (1);
		rc = custody_log(l, NULL);
		log_close(l);
		return (rc != 0 ? 3 : 0);
	}
	if (strcmp(argv[1], "orphan") == 0 && argc == 5) {
		/* orphan DIR SEED I: a RECEIPT for message I, never sent */
		if (seedkey(argv[3], hpk, hsk) != 0)
			return (2);
		detentry(&e, LOG_RECEIPT, strtoul(argv[4], NULL, 10),
		    "met-police", "camden-council");
		if (log_open(argv[2], "ferry/met-police", hsk, &l) != 0)
			return (1);
		rc = log_append(l, &e, NULL, 0, &idx);
		log_close(l);
		if (rc != 0)
			return (3);
		printf("orphan at %llu\n", (unsigned long long)idx);
		return (0);
	}
	if (strcmp(argv[1], "nack") == 0 && argc == 5) {
		/* nack DIR SEED I: a NACK for message I, no sender known */
		if (seedkey(argv[3], hpk, hsk) != 0)
			return (2);
		detentry(&e, LOG_NACK, strtoul(argv[4], NULL, 10), "", "");
		e.code = FERRY_EBADSIG;
		if (log_open(argv[2], "ferry/met-police", hsk, &l) != 0)
			return (1);
		rc = log_append(l, &e, NULL, 0, &idx);
		log_close(l);
		if (rc != 0)
			return (3);
		printf("nack at %llu\n", (unsigned long long)idx);
		return (0);
	}
	if (strcmp(argv[1], "pair") == 0 && argc == 7) {
		n = strtoul(argv[4], NULL, 10);
		if (seedkey(argv[5], hpk, hsk) != 0 ||
		    seedkey(argv[6], hpk2, hsk2) != 0)
			return (2);
		if (log_open(argv[2], "ferry/met-police", hsk, &l) != 0 ||
		    log_open(argv[3], "ferry/camden-council", hsk2, &l2) != 0)
			return (1);
		for (i = 0; i < n; i++) {
			memset(env, (int)i, sizeof(env));
			detentry(&e, LOG_SENT, i, "met-police",
			    "camden-council");
			if (log_append(l, &e, env, sizeof(env), NULL) != 0)
				return (1);
			detentry(&e, LOG_RECEIVED, i, "met-police",
			    "camden-council");
			if (log_append(l2, &e, env, sizeof(env), &ridx) != 0)
				return (1);
			detentry(&e, LOG_RECEIPT, i, "met-police",
			    "camden-council");
			e.ref_index = ridx;
			if (log_append(l2, &e, NULL, 0, NULL) != 0 ||
			    log_append(l, &e, NULL, 0, NULL) != 0)
				return (1);
		}
		/* each holds the other's latest checkpoint */
		if (log_checkpoint(l, &note, &len) != 0)
			return (1);
		memset(&e, 0, sizeof(e));
		e.kind = LOG_CHECKPOINT;
		e.aux = note;
		e.aux_len = len;
		memcpy(e.from, "met-police", 11);
		if (log_append(l2, &e, NULL, 0, &idx) != 0)
			return (1);
		free(note);
		if (log_checkpoint(l2, &note, &len) != 0)
			return (1);
		e.aux = note;
		e.aux_len = len;
		memcpy(e.from, "camden-council", 15);
		if (log_append(l, &e, NULL, 0, &idx) != 0)
			return (1);
		free(note);
		log_close(l);
		log_close(l2);
		return (0);
	}
	if (strcmp(argv[1], "relays") == 0 && argc == 8)
		return (helper_relays(argv));
	return (2);
}

int
main(int argc, char **argv)
{

	if (argc > 1) {
		if (sodium_init() < 0)
			return (1);
		return (helper(argc, argv));
	}
	t_init();
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	RUN(encode_roundtrip);
	RUN(append_reopen_find);
	RUN(batch_and_checkpoint);
	RUN(checkpoint_archive);
	RUN(envelopes_and_erasure);
	RUN(add_hashed_takes_the_hash);
	RUN(map_full_grows);
	RUN(check_finds_nothing_wrong_large);
	RUN(caller_tables_commit_with_entries);
	RUN(caller_tables_map_full_redo);
	RUN(accepted_per_relay);
	RUN(sealed_batch_one_signature);
	return (t_done());
}
