/*
 * test_agent_store.c: the agent's local store (agent/astore.c): records
 * round-trip, duplicates refused, updates persist across reopen, spool
 * index, walks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "astore.h"
#include "log.h"
#include "../lib/harness.h"

static uint8_t pk[32], sk[64];

/* The store lives in a log's environment: open both. */
static int
sopen(const char *path, struct log **l, struct astore **s)
{
	struct log_opts o = { astore_dbs, ASTORE_NDBS, 0 };
	int rc;

	if ((rc = log_open_ex(path, "ferry/test", sk, &o, l)) != 0)
		return (rc);
	if ((rc = astore_open(*l, s)) != 0)
		log_close(*l);
	return (rc);
}

static void
sclose(struct log *l, struct astore *s)
{

	astore_close(s);
	log_close(l);
}

static void
mkout(struct astore_out *r, int n)
{

	memset(r, 0, sizeof(*r));
	memset(r->msg_id, n, sizeof(r->msg_id));
	snprintf(r->to, sizeof(r->to), "agency-%d", n);
	memset(r->env_hash, 0x40 + n, sizeof(r->env_hash));
	r->state = ASTORE_QUEUED;
	r->t_queued = 1000 + (uint64_t)n;
	memset(r->sealed_key, 0x5a, sizeof(r->sealed_key));
	snprintf(r->case_id, sizeof(r->case_id), "case-%d", n);
	snprintf(r->kind, sizeof(r->kind), "referral");
}

TEST(out_roundtrip)
{
	const char *dir = t_tmpdir();
	char path[512];
	struct log *l;
	struct astore *s;
	struct astore_out r, g;
	uint8_t env[100], *eb, id[16], key[32];
	size_t el;

	snprintf(path, sizeof(path), "%s/store", dir);
	CHECK_EQ(sopen(path, &l, &s), 0);
	mkout(&r, 1);
	memset(env, 7, sizeof(env));
	memset(key, 9, sizeof(key));
	r.has_reply_to = 1;
	memset(r.reply_to, 3, 16);
	CHECK_EQ(astore_put_out(s, NULL, &r, env, sizeof(env), key), 0);
	CHECK_EQ(astore_put_out(s, NULL, &r, env, sizeof(env), NULL), FERRY_EEXIST);
	CHECK_EQ(astore_get_out(s, r.msg_id, &g), 0);
	CHECK(memcmp(&r, &g, sizeof(r)) == 0);
	CHECK_EQ(astore_get_out_env(s, r.msg_id, &eb, &el), 0);
	CHECK_EQ(el, sizeof(env));
	CHECK(memcmp(eb, env, el) == 0);
	free(eb);
	CHECK_EQ(astore_spool_lookup(s, key, id), 0);
	CHECK(memcmp(id, r.msg_id, 16) == 0);
	key[0] ^= 1;
	CHECK_EQ(astore_spool_lookup(s, key, id), FERRY_ENOENT);

	/* Update survives a reopen. */
	r.state = ASTORE_FAILED;
	r.code = 101;
	snprintf(r.reason, sizeof(r.reason), "recipient unknown");
	CHECK_EQ(astore_update_out(s, NULL, &r), 0);
	sclose(l, s);
	CHECK_EQ(sopen(path, &l, &s), 0);
	CHECK_EQ(astore_get_out(s, r.msg_id, &g), 0);
	CHECK_EQ(g.state, ASTORE_FAILED);
	CHECK_EQ(g.code, 101);
	CHECK(strcmp(g.reason, "recipient unknown") == 0);
	memset(id, 0xee, 16);
	CHECK_EQ(astore_get_out(s, id, &g), FERRY_ENOENT);
	sclose(l, s);
}

static int
count_out(void *ctx, const struct astore_out *r)
{

	(void)r;
	(*(int *)ctx)++;
	return (0);
}

static int
count_in(void *ctx, const struct astore_in *r)
{

	if (r->receipt != NULL)
		return (-1);
	(*(int *)ctx)++;
	return (0);
}

TEST(in_roundtrip_and_walk)
{
	const char *dir = t_tmpdir();
	char path[512];
	struct log *l;
	struct astore *s;
	struct astore_in r, g;
	struct astore_out o;
	uint8_t env[10] = { 1, 2, 3 }, rc[50], *eb;
	size_t el;
	int i, n;

	snprintf(path, sizeof(path), "%s/store2", dir);
	CHECK_EQ(sopen(path, &l, &s), 0);
	for (i = 1; i <= 5; i++) {
		memset(&r, 0, sizeof(r));
		memset(r.msg_id, i, 16);
		snprintf(r.from, sizeof(r.from), "met-police");
		r.log_index = (uint64_t)i;
		memset(rc, i, sizeof(rc));
		r.receipt = rc;
		r.receipt_len = sizeof(rc);
		CHECK_EQ(astore_put_in(s, NULL, &r, env, sizeof(env), 0), 0);
		CHECK_EQ(astore_put_in(s, NULL, &r, env, sizeof(env), 0), FERRY_EEXIST);
		mkout(&o, i);
		CHECK_EQ(astore_put_out(s, NULL, &o, env, sizeof(env), NULL), 0);
	}
	memset(r.msg_id, 3, 16);
	CHECK_EQ(astore_get_in(s, r.msg_id, &g), 0);
	CHECK_EQ(g.log_index, 3);
	CHECK(strcmp(g.from, "met-police") == 0);
	CHECK_EQ(g.receipt_len, sizeof(rc));
	CHECK(g.receipt[0] == 3 && g.receipt[49] == 3);
	CHECK_EQ(g.t_acked, 0);
	astore_in_clear(&g);
	/* ack: marked read, first time kept, receipt kept; unknown: ENOENT. */
	CHECK_EQ(astore_ack_in(s, r.msg_id, 1000), 0);
	CHECK_EQ(astore_ack_in(s, r.msg_id, 2000), 0);
	CHECK_EQ(astore_get_in(s, r.msg_id, &g), 0);
	CHECK_EQ(g.t_acked, 1000);
	CHECK_EQ(g.receipt_len, sizeof(rc));
	CHECK(g.receipt[0] == 3 && g.log_index == 3);
	astore_in_clear(&g);
	memset(r.msg_id, 9, 16);
	CHECK_EQ(astore_ack_in(s, r.msg_id, 1000), FERRY_ENOENT);
	memset(r.msg_id, 3, 16);
	CHECK_EQ(astore_get_in_env(s, r.msg_id, &eb, &el), 0);
	CHECK_EQ(el, sizeof(env));
	free(eb);
	n = 0;
	CHECK_EQ(astore_foreach_in(s, count_in, &n), 0);
	CHECK_EQ(n, 5);
	n = 0;
	CHECK_EQ(astore_foreach_out(s, count_out, &n), 0);
	CHECK_EQ(n, 5);
	sclose(l, s);
	astore_close(NULL);
}

static int
count_ids(void *ctx, const uint8_t *id)
{

	(void)id;
	(*(int *)ctx)++;
	return (0);
}

TEST(batch_with_log_and_unspooled)
{
	const char *dir = t_tmpdir();
	char path[512];
	struct log *l;
	struct astore *s;
	struct log_batch *b;
	struct log_entry e;
	struct astore_in r, g;
	uint8_t env[10] = { 4, 5, 6 };
	int n;

	snprintf(path, sizeof(path), "%s/store3", dir);
	CHECK_EQ(sopen(path, &l, &s), 0);
	memset(&r, 0, sizeof(r));
	memset(r.msg_id, 0x31, 16);
	snprintf(r.from, sizeof(r.from), "met-police");
	memset(&e, 0, sizeof(e));
	e.kind = LOG_RECEIVED;
	memcpy(e.msg_id, r.msg_id, 16);
	/* Aborted: neither the entry nor the record nor the mark. */
	CHECK_EQ(log_begin(l, &b), 0);
	CHECK_EQ(log_add(b, &e, env, sizeof(env), &r.log_index), 0);
	CHECK_EQ(astore_put_in(s, b, &r, env, sizeof(env), 1), 0);
	log_abort(b);
	CHECK_EQ(log_size(l), 0);
	CHECK_EQ(astore_get_in(s, r.msg_id, &g), FERRY_ENOENT);
	CHECK_EQ(astore_is_unspooled(s, r.msg_id), 0);
	/* Committed: all three, in one commit. */
	CHECK_EQ(log_begin(l, &b), 0);
	CHECK_EQ(log_add(b, &e, env, sizeof(env), &r.log_index), 0);
	CHECK_EQ(astore_put_in(s, b, &r, env, sizeof(env), 1), 0);
	CHECK_EQ(log_commit(b), 0);
	CHECK_EQ(log_size(l), 1);
	CHECK_EQ(astore_get_in(s, r.msg_id, &g), 0);
	astore_in_clear(&g);
	CHECK_EQ(astore_is_unspooled(s, r.msg_id), 1);
	n = 0;
	CHECK_EQ(astore_foreach_unspooled(s, count_ids, &n), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(astore_spooled(s, NULL, r.msg_id), 0);
	CHECK_EQ(astore_spooled(s, NULL, r.msg_id), 0);	/* none: fine */
	CHECK_EQ(astore_is_unspooled(s, r.msg_id), 0);
	sclose(l, s);
}

int
main(void)
{

	t_init();
	if (sodium_init() < 0)
		return (1);
	crypto_sign_keypair(pk, sk);
	RUN(out_roundtrip);
	RUN(in_roundtrip_and_walk);
	RUN(batch_with_log_and_unspooled);
	return (t_done());
}
