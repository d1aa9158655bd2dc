/*
 * bench_log: the log's append rate (group commit, synced) and verify rate
 * for a 1,000,000-entry log, printed beside this machine's raw SHA-256 and
 * LMDB synced-commit rates measured in the same run.
 *
 *   bench_log [FERRY_AUDIT_PATH]      (FERRY_BENCH_N overrides 1000000)
 * Without an argument, ferry-audit is looked for beside the bench folder
 * (BUILD/bench/bench_log -> BUILD/ferry-audit).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "ferry.h"
#include "log.h"
#include "merkle.h"

#define BATCH 1000

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static void
mk(struct log_entry *e, uint64_t i)
{

	memset(e, 0, sizeof(*e));
	e->kind = LOG_RECEIVED;
	e->time_ms = 1700000000000ULL + i;
	memcpy(e->msg_id, &i, sizeof(i));
	e->msg_id[15] = 1;
	memset(e->env_hash, (int)(i | 1), 32);
	memcpy(e->from, "met-police", 11);
	memcpy(e->to, "camden-council", 15);
	e->roster_version = 7;
}

/* Raw SHA-256 of entry-sized inputs, per second. */
static double
sha_rate(size_t len)
{
	uint8_t buf[256], h[32];
	double t0 = now(), t;
	uint64_t n = 0;

	memset(buf, 7, sizeof(buf));
	do {
		for (int i = 0; i < 10000; i++) {
			buf[0] = (uint8_t)n;
			crypto_hash_sha256(h, buf, len);
			n++;
		}
		t = now() - t0;
	} while (t < 1.0);
	return (n / t);
}

/* Raw LMDB: synced commits of ${per} 100-byte MDB_APPEND puts, per second. */
static double
lmdb_rate(const char *dir, int per, double secs, double *puts)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	uint8_t kb[8], val[100];
	uint64_t key = 0, commits = 0;
	double t0, t;

	memset(val, 1, sizeof(val));
	if (mkdir(dir, 0700) != 0 || mdb_env_create(&env) != 0 ||
	    mdb_env_set_mapsize(env, (size_t)4 << 30) != 0 ||
	    mdb_env_open(env, dir, 0, 0600) != 0)
		return (-1);
	t0 = now();
	do {
		if (mdb_txn_begin(env, NULL, 0, &txn) != 0 ||
		    mdb_dbi_open(txn, NULL, 0, &dbi) != 0)
			return (-1);
		for (int i = 0; i < per; i++, key++) {
			for (int j = 0; j < 8; j++)
				kb[j] = (uint8_t)(key >> (56 - 8 * j));
			k.mv_data = kb;
			k.mv_size = 8;
			v.mv_data = val;
			v.mv_size = sizeof(val);
			if (mdb_put(txn, dbi, &k, &v, MDB_APPEND) != 0)
				return (-1);
		}
		if (mdb_txn_commit(txn) != 0)
			return (-1);
		commits++;
		t = now() - t0;
	} while (t < secs);
	mdb_env_close(env);
	*puts = key / t;
	return (commits / t);
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/ferry-bench-log-XXXXXX", path[512], cmd[1024];
	uint8_t pk[32], sk[64];
	struct log *l;
	struct log_batch *b;
	struct log_entry e;
	uint8_t *raw;
	size_t entlen;
	uint64_t n = 1000000, i, bad, single = 0;
	double t0, t, sha_e, sha_n, lc, lc_puts, lb, lb_puts, app, app1, chk,
	    aud = 0, app_noid;
	const char *envn = getenv("FERRY_BENCH_N");
	char audit[600];
	const char *slash;

	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		return (1);
	if (envn != NULL)
		n = strtoull(envn, NULL, 10);
	crypto_sign_keypair(pk, sk);
	if (argc > 1)
		snprintf(audit, sizeof(audit), "%s", argv[1]);
	else if ((slash = strrchr(argv[0], '/')) != NULL)
		snprintf(audit, sizeof(audit), "%.*s/../ferry-audit",
		    (int)(slash - argv[0]), argv[0]);
	else
		snprintf(audit, sizeof(audit), "../ferry-audit");
	if (access(audit, X_OK) != 0)
		audit[0] = '\0';
	mk(&e, 0);
	if (log_entry_encode(&e, &raw, &entlen) != 0)
		return (1);
	free(raw);

	printf("bench_log: %llu entries of %zu bytes, batches of %d\n",
	    (unsigned long long)n, entlen, BATCH);
	sha_e = sha_rate(entlen + 1);
	sha_n = sha_rate(65);
	printf("  raw SHA-256 (%zu B, a leaf)      %12.0f /s\n", entlen + 1,
	    sha_e);
	printf("  raw SHA-256 (65 B, a node)       %12.0f /s\n", sha_n);
	snprintf(path, sizeof(path), "%s/raw1", dir);
	lc = lmdb_rate(path, 1, 1.0, &lc_puts);
	snprintf(path, sizeof(path), "%s/rawb", dir);
	lb = lmdb_rate(path, BATCH, 2.0, &lb_puts);
	printf("  raw LMDB synced commits (1 put)  %12.0f commits/s\n", lc);
	printf("  raw LMDB synced, %d puts/commit %12.0f puts/s "
	    "(%.0f commits/s)\n", BATCH, lb_puts, lb);

	/* One entry per commit, for a second: the latency-bound case. */
	snprintf(path, sizeof(path), "%s/single", dir);
	if (log_open(path, "ferry/bench", sk, &l) != 0)
		return (1);
	t0 = now();
	do {
		mk(&e, single++);
		if (log_append(l, &e, NULL, 0, NULL) != 0)
			return (1);
		t = now() - t0;
	} while (t < 1.0);
	app1 = single / t;
	log_close(l);

	snprintf(path, sizeof(path), "%s/log", dir);
	if (log_open(path, "ferry/bench", sk, &l) != 0)
		return (1);
	t0 = now();
	for (i = 0; i < n; i += BATCH) {
		if (log_begin(l, &b) != 0)
			return (1);
		for (uint64_t j = i; j < i + BATCH && j < n; j++) {
			mk(&e, j);
			if (log_add(b, &e, NULL, 0, NULL) != 0)
				return (1);
		}
		if (log_commit(b) != 0)
			return (1);
	}
	app = n / (now() - t0);
	log_close(l);

	/*
	 * The same without message ids (so without the msg-id index, whose
	 * random keys dirty one B-tree page per entry per commit): shows what
	 * that index costs.  A fifth of the entries, to bound the run time.
	 */
	snprintf(path, sizeof(path), "%s/noid", dir);
	if (log_open(path, "ferry/bench", sk, &l) != 0)
		return (1);
	t0 = now();
	for (i = 0; i < n / 5; i += BATCH) {
		if (log_begin(l, &b) != 0)
			return (1);
		for (uint64_t j = i; j < i + BATCH && j < n / 5; j++) {
			mk(&e, j);
			memset(e.msg_id, 0, sizeof(e.msg_id));
			e.kind = LOG_REFUSED;
			if (log_add(b, &e, NULL, 0, NULL) != 0)
				return (1);
		}
		if (log_commit(b) != 0)
			return (1);
	}
	app_noid = (n / 5) / (now() - t0);
	log_close(l);
	snprintf(path, sizeof(path), "%s/log", dir);
	if (log_open(path, "ferry/bench", sk, &l) != 0)
		return (1);
	t0 = now();
	if (log_check(l, &bad) != 0) {
		fprintf(stderr, "bench_log: log_check failed at %llu\n",
		    (unsigned long long)bad);
		return (1);
	}
	chk = n / (now() - t0);
	log_close(l);
	if (audit[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "%s verify %s >/dev/null", audit,
		    path);
		t0 = now();
		if (system(cmd) != 0)
			return (1);
		aud = n / (now() - t0);
	}
	printf("  log_append, 1 entry per commit   %12.0f entries/s  "
	    "(%.2f x raw LMDB commits)\n", app1, app1 / lc);
	printf("  log append, group commit         %12.0f entries/s  "
	    "(%.2f x raw LMDB batched puts, %.3f x raw SHA-256 leaves)\n",
	    app, app / lb_puts, app / sha_e);
	printf("  log append, group commit, no msg-id index %8.0f entries/s  "
	    "(%.2f x raw LMDB batched puts)\n", app_noid, app_noid / lb_puts);
	printf("  log_check (recompute tree)       %12.0f entries/s  "
	    "(%.3f x raw SHA-256 leaves; ~2 hashes per entry)\n", chk,
	    chk / sha_e);
	if (audit[0] != '\0')
		printf("  ferry-audit verify (whole)       %12.0f entries/s  "
		    "(%.3f x raw SHA-256 leaves)\n", aud, aud / sha_e);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return (1);
	return (0);
}
