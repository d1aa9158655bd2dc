/*
 * test_agent_cost.c: what `ferry status`, `status --json` and
 * metrics.prom cost does not grow with the agent's history (issue #10
 * step 8), counted as work, not time: this program is linked with
 * -Wl,--wrap=mdb_get,--wrap=mdb_cursor_get (Makefile), so every LMDB
 * read of the agent's store and log is counted here.  The same requests
 * at two history sizes must read the same number of records.  And the
 * back-pressure of the outgoing path: the backlog per recipient, its
 * bound (FERRY_EBACKLOG), emergencies let through, the backlog recovered
 * at a restart with its oldest message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>

#include "../lib/harness.h"
#include "../lib/troster.h"
#include "agentd.h"
#include "alog.h"
#include "backlog.h"

#define DAY (24ULL * 3600 * 1000)

/* ---- LMDB reads, counted ---------------------------------------------- */

static unsigned long long lmdb_reads;

int __real_mdb_get(MDB_txn *, MDB_dbi, MDB_val *, MDB_val *);
int __real_mdb_cursor_get(MDB_cursor *, MDB_val *, MDB_val *, MDB_cursor_op);
int __wrap_mdb_get(MDB_txn *, MDB_dbi, MDB_val *, MDB_val *);
int __wrap_mdb_cursor_get(MDB_cursor *, MDB_val *, MDB_val *, MDB_cursor_op);

int
__wrap_mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{

	lmdb_reads++;
	return (__real_mdb_get(txn, dbi, k, v));
}

int
__wrap_mdb_cursor_get(MDB_cursor *c, MDB_val *k, MDB_val *v,
    MDB_cursor_op op)
{

	lmdb_reads++;
	return (__real_mdb_cursor_get(c, k, v, op));
}

/* ---- SHA-256 passes, their lengths kept ------------------------------- */

#define NHASH_KEEP 4096
static size_t hash_len[NHASH_KEEP], nhash;

void __real_ferry_sha256(uint8_t out[32], const uint8_t *in, size_t len);
void __wrap_ferry_sha256(uint8_t out[32], const uint8_t *in, size_t len);

void
__wrap_ferry_sha256(uint8_t out[32], const uint8_t *in, size_t len)
{

	if (nhash < NHASH_KEEP)
		hash_len[nhash] = len;
	nhash++;
	__real_ferry_sha256(out, in, len);
}

/* The passes since nhash was ${from} over at least ${len} bytes. */
static size_t
hashes_of(size_t from, size_t len)
{
	size_t i, n = 0;

	for (i = from; i < nhash && i < NHASH_KEEP; i++)
		n += hash_len[i] >= len;
	return (n);
}

/* ---- random draws by Ferry's code, counted ----------------------------- */

static unsigned long long rand_draws;

void __real_randombytes_buf(void *buf, size_t n);
void __wrap_randombytes_buf(void *buf, size_t n);
uint32_t __real_randombytes_uniform(uint32_t n);
uint32_t __wrap_randombytes_uniform(uint32_t n);

void
__wrap_randombytes_buf(void *buf, size_t n)
{

	rand_draws++;
	__real_randombytes_buf(buf, n);
}

uint32_t
__wrap_randombytes_uniform(uint32_t n)
{

	rand_draws++;
	return (__real_randombytes_uniform(n));
}

/* ---- one agent, alpha, sending to bravo (no relay: nothing leaves) ----- */

static struct ident *admin, *relay, *alpha, *bravo, *charlie;
static char dir[512], pin[65];
static struct agentd A;

static int
setup_net(void)
{
	const struct ident *ag[3];
	char path[600];
	uint64_t now = ferry_now_ms();

	snprintf(dir, sizeof(dir), "%s", t_tmpdir());
	if (ident_generate("admin-1", IDENT_ADMIN, "admin", now, 365 * DAY,
	    &admin) || ident_generate("relay", IDENT_RELAY, "relay", now,
	    365 * DAY, &relay) || ident_generate("alpha", IDENT_CHARITY,
	    "Alpha", now, 365 * DAY, &alpha) || ident_generate("bravo",
	    IDENT_POLICE, "Bravo", now, 365 * DAY, &bravo) ||
	    ident_generate("charlie", IDENT_COUNCIL, "Charlie", now, 365 * DAY,
	    &charlie))
		return (-1);
	ag[0] = alpha;
	ag[1] = bravo;
	ag[2] = charlie;
	snprintf(path, sizeof(path), "%s/roster", dir);
	if (troster_write(path, admin, relay, ag, 3, pin) != 0)
		return (-1);
	snprintf(path, sizeof(path), "%s/alpha.key", dir);
	return (ident_save(alpha, path, NULL));
}

/* Open alpha with data folder ${tag} and bound ${max_backlog}. */
static int
open_alpha(const char *tag, uint64_t max_backlog)
{
	struct aconf conf;
	char err[AGENTD_ERR_MAX];
	int rc;

	aconf_defaults(&conf);
	snprintf(conf.data, sizeof(conf.data), "%s/alpha-%s-%ld", dir, tag,
	    (long)getpid());
	snprintf(conf.key, sizeof(conf.key), "%s/alpha.key", dir);
	snprintf(conf.roster, sizeof(conf.roster), "%s/roster", dir);
	snprintf(conf.roster_pin, sizeof(conf.roster_pin), "%s", pin);
	conf.max_backlog = max_backlog;
	if ((rc = agentd_open(&A, &conf, err, sizeof(err))) != 0)
		fprintf(stderr, "# agentd_open: %s: %s\n", err,
		    ferry_strerror(rc));
	return (rc);
}

/* The test referral, its urgency set to ${urgency}, in a new buffer. */
static char *
doc(const char *urgency, size_t *len)
{
	char path[1024];
	const char *root = getenv("FERRY_ROOT");
	json_t *d;
	char *s;

	snprintf(path, sizeof(path), "%s/tests/vectors/referrals/"
	    "nrm-adult-labour.json", root ? root : ".");
	if ((d = json_load_file(path, 0, NULL)) == NULL)
		return (NULL);
	json_object_set_new(d, "urgency", json_string(urgency));
	s = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	*len = s != NULL ? strlen(s) : 0;
	return (s);
}

/* ${n} referrals to ${to} stored, in group commits of up to 64; 0 or -1. */
static int
send_n(const char *to, size_t n)
{
	struct agentd_sub s[64], *sp[64];
	char *json;
	size_t len, i, k;
	int rc = 0;

	if ((json = doc("routine", &len)) == NULL)
		return (-1);
	while (n > 0 && rc == 0) {
		k = n < 64 ? n : 64;
		for (i = 0; i < k; i++) {
			memset(&s[i], 0, sizeof(s[i]));
			s[i].to = to;
			s[i].json = json;
			s[i].len = len;
			sp[i] = &s[i];
		}
		agentd_submit_batch(&A, sp, k);
		for (i = 0; i < k; i++)
			if (s[i].rc != 0) {
				fprintf(stderr, "# submit: %s\n", s[i].err);
				rc = -1;
			}
		n -= k;
	}
	free(json);
	return (rc);
}

/* One control request ${req}: its answer parsed, or NULL. */
static json_t *
ctl(const char *req)
{
	char *reply, *body;
	size_t rl, bl;
	json_t *r;

	agentd_ctl_handle(&A, req, strlen(req), NULL, 0, &reply, &rl, &body,
	    &bl);
	r = reply != NULL ? json_loadb(reply, rl, 0, NULL) : NULL;
	free(reply);
	free(body);
	return (r);
}

/*
 * The LMDB reads of one status request and one metrics.prom write with
 * a history of ${n} messages to bravo; ${queued} = what status counted.
 */
static unsigned long long
status_cost(const char *tag, size_t n, long long *queued, long long *blog)
{
	unsigned long long before, cost;
	json_t *r, *top;

	*queued = *blog = -1;
	if (open_alpha(tag, 0) != 0)
		return (~0ULL);
	if (send_n("bravo", n) != 0) {
		agentd_close(&A);
		return (~0ULL);
	}
	before = lmdb_reads;
	r = ctl("{\"cmd\":\"status\"}");
	if (agentd_metrics_write(&A) != 0) {
		json_decref(r);
		agentd_close(&A);
		return (~0ULL);
	}
	cost = lmdb_reads - before;
	*queued = json_integer_value(json_object_get(json_object_get(r,
	    "queues"), "queued"));
	top = json_array_get(json_object_get(json_object_get(r, "backlog"),
	    "top"), 0);
	*blog = json_integer_value(json_object_get(top, "messages"));
	json_decref(r);
	agentd_close(&A);
	return (cost);
}

TEST(reads_are_counted)
{
	unsigned long long before;
	json_t *r;

	/* The counter counts: a message looked up by id reads the store. */
	CHECK_EQ(open_alpha("count", 0), 0);
	CHECK_EQ(send_n("bravo", 1), 0);
	before = lmdb_reads;
	r = ctl("{\"cmd\":\"outbox\"}");
	CHECK(r != NULL);
	json_decref(r);
	CHECK(lmdb_reads > before);
	agentd_close(&A);
}

/* The frames alpha hands to its relay link (a->send). */
static size_t nframes;
static uint8_t frame[16384];
static size_t framelen;

static int
capture(void *ctx, int link, const uint8_t *buf, size_t len)
{

	(void)ctx;
	(void)link;
	nframes++;
	framelen = len <= sizeof(frame) ? len : 0;
	if (framelen > 0)
		memcpy(frame, buf, len);
	return (0);
}

/*
 * The LMDB reads of alpha's first submission, in a new data folder
 * ${tag}, with its relay link ${up} or down; its id in ${id}.  Agent
 * left open (the caller closes it).
 */
static unsigned long long
first_submit_reads(const char *tag, int up, uint8_t id[FERRY_MSGID_LEN])
{
	unsigned long long before;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	int rc;

	if (open_alpha(tag, 0) != 0)
		return (~0ULL);
	if ((json = doc("routine", &len)) == NULL || A.nlinks < 1) {
		free(json);
		return (~0ULL);
	}
	A.send = capture;
	A.links[0].connected = up;
	A.connected = up;
	nframes = 0;
	before = lmdb_reads;
	rc = agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err));
	free(json);
	return (rc == 0 ? lmdb_reads - before : ~0ULL);
}

/*
 * A referral submitted while the relay link is up leaves in the same
 * call (the tick after its commit), from the envelope in hand: sending it
 * reads nothing from the store (as many reads as the same submission
 * with the link down, which sends nothing), and the frame is the
 * envelope stored.
 */
TEST(submit_sends_without_reading_back)
{
	unsigned long long down, up;
	uint8_t id[FERRY_MSGID_LEN], *env = NULL;
	size_t envlen = 0;

	down = first_submit_reads("fresh-down", 0, id);
	CHECK_EQ(nframes, 0);
	A.send = NULL;
	agentd_close(&A);
	up = first_submit_reads("fresh-up", 1, id);
	printf("# LMDB reads of a first submission: %llu link down, %llu "
	    "link up (sent)\n", down, up);
	CHECK_EQ(nframes, 1);
	CHECK(down != ~0ULL);
	CHECK_EQ(up, down);
	CHECK_EQ(astore_get_out_env(A.store, id, &env, &envlen), 0);
	CHECK(env != NULL && envlen == framelen &&
	    memcmp(env, frame, envlen) == 0);
	free(env);
	A.connected = 0;
	A.links[0].connected = 0;
	A.send = NULL;
	agentd_close(&A);
}

/*
 * A submission hashes its envelope once (issue #10: one SHA-256 pass over
 * an envelope per process): the outbox record's env_hash and the log's
 * LOG_SENT entry share it.  Every other hash of the submission (log
 * entries, Merkle nodes, the checkpoint) is of fewer bytes.
 */
TEST(submit_hashes_envelope_once)
{
	uint8_t id[FERRY_MSGID_LEN];
	size_t from, total;

	nframes = 0;
	from = nhash;
	CHECK(first_submit_reads("hash-once", 1, id) != ~0ULL);
	total = nhash - from;
	CHECK_EQ(nframes, 1);
	CHECK(framelen > 1024);
	CHECK(total > 1);	/* the counter counts the small ones too */
	CHECK(nhash < NHASH_KEEP);
	printf("# SHA-256 passes of a submission: %zu, %zu over its %zu-byte "
	    "envelope\n", total, hashes_of(from, framelen), framelen);
	CHECK_EQ(hashes_of(from, framelen), 1);
	A.connected = 0;
	A.links[0].connected = 0;
	A.send = NULL;
	agentd_close(&A);
}

/*
 * The random draws of a submission: env_seal's three (id, content and
 * commitment keys, nonce: the golden vectors fix them; crypto_box_seal's
 * own ephemeral key is drawn inside libsodium, not counted here), and
 * nothing else per message: the nonce of the sealed content key and the
 * retry jitter come from the agent's public pool, one draw per
 * RPOOL_BYTES bytes (rpool.h).  (They were two draws more per message.)
 */
#define NSUB 20
TEST(submit_random_draws)
{
	uint8_t id[FERRY_MSGID_LEN];
	unsigned long long before, draws;
	uint64_t refills;
	char *json, err[AGENTD_ERR_MAX];
	size_t len, i;

	CHECK(first_submit_reads("rand-draws", 1, id) != ~0ULL);
	CHECK((json = doc("routine", &len)) != NULL);
	refills = A.pubrand.draws;
	before = rand_draws;
	for (i = 0; json != NULL && i < NSUB; i++)
		CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id,
		    err, sizeof(err)), 0);
	draws = rand_draws - before;
	refills = A.pubrand.draws - refills;
	printf("# random draws of %d submissions: %llu (%llu pool refills)\n",
	    NSUB, draws, (unsigned long long)refills);
	CHECK_EQ(nframes, 1 + NSUB);	/* each sealed and sent */
	CHECK(refills <= 1);
	CHECK_EQ(draws, 3 * NSUB + refills);
	free(json);
	A.connected = 0;
	A.links[0].connected = 0;
	A.send = NULL;
	agentd_close(&A);
}

TEST(status_cost_flat)
{
	unsigned long long c_small, c_big;
	long long q_small, q_big, b_small, b_big;

	c_small = status_cost("small", 10, &q_small, &b_small);
	c_big = status_cost("big", 400, &q_big, &b_big);
	printf("# status + metrics.prom: %llu LMDB reads at 10 messages, "
	    "%llu at 400\n", c_small, c_big);
	CHECK_EQ(q_small, 10);
	CHECK_EQ(q_big, 400);
	CHECK_EQ(b_small, 10);
	CHECK_EQ(b_big, 400);
	CHECK(c_small != ~0ULL);
	CHECK_EQ(c_small, c_big);
}

TEST(backlog_bound)
{
	struct backlog_row row;
	char *json, err[AGENTD_ERR_MAX];
	uint8_t id[FERRY_MSGID_LEN];
	size_t len;

	CHECK_EQ(open_alpha("bound", 5), 0);
	CHECK_EQ(send_n("bravo", 5), 0);
	CHECK_EQ(send_n("charlie", 2), 0);
	CHECK((json = doc("routine", &len)) != NULL);
	/* At the bound: refused, naming the recipient and its backlog. */
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), FERRY_EBACKLOG);
	CHECK(strstr(err, "to: bravo: 5 of our messages to it are "
	    "undelivered (max_backlog = 5)") != NULL);
	CHECK(strstr(err, "NOT accepted") != NULL);
	/* Another recipient's backlog is its own. */
	CHECK_EQ(agentd_submit(&A, "charlie", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	/* An emergency is never refused, and counts. */
	CHECK((json = doc("emergency", &len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	backlog_get(A.backlog, "bravo", &row);
	CHECK_EQ(row.n, 6);
	/* A group commit counts its earlier ones: charlie at 3 and the
	 * bound 5, a group of 3 to it: two pass, the third is refused. */
	CHECK(send_n("charlie", 3) != 0);
	backlog_get(A.backlog, "charlie", &row);
	CHECK_EQ(row.n, 5);
	CHECK_EQ(A.n_out[ASTORE_QUEUED], 11);
	agentd_close(&A);
}

TEST(backlog_recovered_at_start)
{
	struct backlog_row row, top[AGENTD_BACKLOG_TOP];
	uint64_t t0 = ferry_now_ms();

	CHECK_EQ(open_alpha("reopen", 0), 0);
	CHECK_EQ(send_n("charlie", 2), 0);
	CHECK_EQ(send_n("bravo", 70), 0);
	backlog_get(A.backlog, "bravo", &row);
	CHECK_EQ(row.n, 70);
	CHECK(row.oldest_ms >= t0 && row.oldest_ms <= ferry_now_ms());
	agentd_close(&A);
	CHECK_EQ(open_alpha("reopen", 0), 0);
	CHECK_EQ(backlog_top(A.backlog, top, AGENTD_BACKLOG_TOP), 2);
	CHECK(strcmp(top[0].to, "bravo") == 0);
	CHECK_EQ(top[0].n, 70);
	CHECK_EQ(top[0].oldest_ms, row.oldest_ms);
	CHECK(strcmp(top[1].to, "charlie") == 0);
	CHECK_EQ(top[1].n, 2);
	agentd_close(&A);
}

/* backlog.c alone: the oldest follows deliveries out of order. */
static uint8_t gone[8];
static int
live(void *ctx, const uint8_t id[FERRY_MSGID_LEN])
{

	(void)ctx;
	return (!gone[id[0]]);
}

TEST(backlog_oldest)
{
	struct backlog *b;
	struct backlog_row row;
	uint8_t id[FERRY_MSGID_LEN];
	int i;

	CHECK((b = backlog_new(live, NULL)) != NULL);
	memset(id, 0, sizeof(id));
	for (i = 0; i < 4; i++) {
		id[0] = (uint8_t)i;
		CHECK_EQ(backlog_add(b, "bravo", id, 1000 + (uint64_t)i), 0);
	}
	backlog_loaded(b);
	/* The second delivered first: the oldest is still the first. */
	gone[1] = 1;
	backlog_done(b, "bravo");
	backlog_get(b, "bravo", &row);
	CHECK_EQ(row.n, 3);
	CHECK_EQ(row.oldest_ms, 1000);
	/* Then the first: the oldest is the third. */
	gone[0] = 1;
	backlog_done(b, "bravo");
	backlog_get(b, "bravo", &row);
	CHECK_EQ(row.n, 2);
	CHECK_EQ(row.oldest_ms, 1002);
	gone[2] = gone[3] = 1;
	backlog_done(b, "bravo");
	backlog_done(b, "bravo");
	backlog_get(b, "bravo", &row);
	CHECK_EQ(row.n, 0);
	CHECK_EQ(row.oldest_ms, 0);
	/* Said once per crossing. */
	CHECK_EQ(backlog_said(b, "bravo", 1), 1);
	CHECK_EQ(backlog_said(b, "bravo", 1), 0);
	CHECK_EQ(backlog_said(b, "bravo", 0), 0);
	CHECK_EQ(backlog_said(b, "bravo", 1), 1);
	backlog_free(b);
}

int
main(void)
{

	t_init();
	alog_set_level(ALOG_WARN);	/* not a line per message queued */
	if (sodium_init() < 0 || setup_net() != 0) {
		printf("not ok - setup\n");
		return (t_done() || 1);
	}
	RUN(reads_are_counted);
	RUN(submit_sends_without_reading_back);
	RUN(submit_hashes_envelope_once);
	RUN(submit_random_draws);
	RUN(status_cost_flat);
	RUN(backlog_bound);
	RUN(backlog_recovered_at_start);
	RUN(backlog_oldest);
	ident_free(admin);
	ident_free(relay);
	ident_free(alpha);
	ident_free(bravo);
	ident_free(charlie);
	return (t_done());
}
