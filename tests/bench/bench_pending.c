/*
 * bench_pending: the agent's drain when a partner returns after an outage
 * (issue 13 item 5).  A real agent core (agentd_open in a temp folder,
 * frames to the relay captured by the send callback, no network) holds N
 * messages in the relay's custody (sent, then ACCEPTED by a relay-signed
 * answer); then, timed, the partner's return: HELLO, ticks until every
 * message was asked about (one ASK each, at most AGENTD_ASK_BURST a
 * tick), and a RECEIPT for each (signed by the recipient, read in groups
 * by agentd_receive_many as the event loop reads them) until all are
 * delivered.
 *
 * Printed: wall and CPU time per message for N = 100 and N = 100,000,
 * and the ratio time(100,000) / (1,000 x time(100)): about 1 when the
 * drain is linear in N, above 1 when each reply or tick walks every
 * pending message.  Beside it, the bound: the crypto the drain needs per
 * message, measured in the same run (one Ed25519 signature for the ASK,
 * two verifications for the RECEIPT and the checkpoint it carries).  At
 * these N the signatures (and the synced commits, in wall time) outweigh
 * the table, so the pending table alone is timed too, in the same
 * pattern.  Log lines are off (ERROR only): their cost is linear and not
 * the question.
 *
 *   bench_pending            (FERRY_BENCH_PENDING_N overrides 100000)
 * The referral sent is tests/vectors/referrals/nrm-adult-labour.json
 * under $FERRY_ROOT (default: the current folder).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "agentd.h"
#include "alog.h"
#include "envelope.h"
#include "ferry.h"
#include "ident.h"
#include "note.h"
#include "pending.h"
#include "../lib/troster.h"

#define DAY (24ULL * 3600 * 1000)
#define SMALL 100
#define GROUP SMALL		/* frames per agentd_receive_many (the loop
				 * reads up to 256): the same at every N, so
				 * each message bears the same share of a
				 * synced commit */
#define SMALL_RUNS 11		/* the small run is short: median of 11 */

static struct ident *admin, *relay, *alpha, *bravo;
static char tmp[] = "/tmp/ferry-bench-pending-XXXXXX", pin[65];
static char *doc;
static size_t doclen;

/* The ASKs the agent handed to its "socket". */
struct cap {
	size_t asks;
};

/* The times of one drain, in seconds: wall clock and this process's CPU. */
struct drain {
	double ask, rcpt;		/* wall: HELLO to the last ASK, then
					 * to the last RECEIPT */
	double ask_cpu, rcpt_cpu;	/* CPU, the same */
};

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static double
now(void)
{

	return (clock_s(CLOCK_MONOTONIC));
}

static double
cpu(void)
{

	return (clock_s(CLOCK_PROCESS_CPUTIME_ID));
}

static void
die(const char *what)
{

	fprintf(stderr, "bench_pending: %s\n", what);
	exit(1);
}

static int
capture(void *ctx, int link, const uint8_t *buf, size_t len)
{
	struct cap *c = ctx;
	struct env e;

	(void)link;
	if (env_decode(buf, len, 0, &e) == 0 && e.type == ENV_ASK)
		c->asks++;
	return (0);
}

/* Identities, the roster (alpha and bravo), alpha's key file, in tmp. */
static void
setup(void)
{
	const struct ident *ag[2];
	uint8_t *raw;
	char path[600];
	const char *root = getenv("FERRY_ROOT");
	uint64_t t = ferry_now_ms();

	if (mkdtemp(tmp) == NULL)
		die("mkdtemp");
	if (ident_generate("admin-1", IDENT_ADMIN, "admin", t, 365 * DAY,
	    &admin) || ident_generate("relay", IDENT_RELAY, "relay", t,
	    365 * DAY, &relay) || ident_generate("alpha", IDENT_CHARITY,
	    "Alpha", t, 365 * DAY, &alpha) || ident_generate("bravo",
	    IDENT_POLICE, "Bravo", t, 365 * DAY, &bravo))
		die("ident_generate");
	ag[0] = alpha;
	ag[1] = bravo;
	snprintf(path, sizeof(path), "%s/roster", tmp);
	if (troster_write(path, admin, relay, ag, 2, pin) != 0)
		die("writing the roster");
	snprintf(path, sizeof(path), "%s/alpha.key", tmp);
	if (ident_save(alpha, path, NULL) != 0)
		die("writing alpha's key");
	snprintf(path, sizeof(path), "%s/tests/vectors/referrals/"
	    "nrm-adult-labour.json", root ? root : ".");
	if (ferry_read_file(path, 1 << 20, &raw, &doclen, 0) != 0)
		die("reading the referral (set FERRY_ROOT)");
	doc = (char *)raw;
}

/* A relay-signed ACCEPTED, or a bravo-signed RECEIPT with ${note}. */
static void
answer(uint32_t type, const uint8_t id[16], const uint8_t hash[32],
    uint64_t idx, const uint8_t *note, size_t nlen, uint8_t **out,
    size_t *len)
{
	struct ident *signer = type == ENV_ACCEPTED ? relay : bravo;
	struct env e;

	memset(&e, 0, sizeof(e));
	e.version = ENV_VERSION;
	e.type = type;
	env_new_id(e.id);
	snprintf(e.from, sizeof(e.from), "%s", signer->id);
	snprintf(e.to, sizeof(e.to), "alpha");
	e.time = ferry_now_ms();
	memcpy(e.msg_id, id, 16);
	memcpy(e.env_hash, hash, 32);
	e.log_index = idx;
	e.roster_version = 1;
	e.blob = note;
	e.blob_len = nlen;
	if (env_encode(&e, signer->sign_sk, out, len) != 0)
		die("env_encode");
}

/* Hand frames ${f}[0..n-1] to the agent in groups, as the loop does. */
static void
feed(struct agentd *a, uint8_t **f, const size_t *len, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += GROUP)
		if (agentd_receive_many(a, (const uint8_t *const *)f + i,
		    len + i, n - i < GROUP ? n - i : GROUP) != 0)
			die("agentd_receive_many");
}

/* One run with ${n} messages (data folder ${tag}): its drain ${d}. */
static void
run(size_t n, const char *tag, struct drain *d)
{
	struct agentd a;
	struct aconf conf;
	struct agentd_sub *sub, *sp[GROUP];
	struct astore_out o;
	struct cap cap;
	uint8_t (*ids)[16], (*hashes)[32], **f, *note, root[32];
	size_t *len, i, j, k, nlen, ticks = 0;
	char err[AGENTD_ERR_MAX];
	double t0, c0;

	aconf_defaults(&conf);
	snprintf(conf.data, sizeof(conf.data), "%s/%s", tmp, tag);
	snprintf(conf.key, sizeof(conf.key), "%s/alpha.key", tmp);
	snprintf(conf.roster, sizeof(conf.roster), "%s/roster", tmp);
	snprintf(conf.roster_pin, sizeof(conf.roster_pin), "%s", pin);
	/* No MSG retransmission while the setup runs: it is not measured. */
	conf.retry_ms = conf.retry_max_ms = 3600000;
	/* Its N messages all wait for RECEIPTs: no back-pressure bound. */
	conf.max_backlog = 0;
	memset(&a, 0, sizeof(a));
	if (agentd_open(&a, &conf, err, sizeof(err)) != 0)
		die(err);
	memset(&cap, 0, sizeof(cap));
	a.send = capture;
	a.send_ctx = &cap;
	agentd_link_up(&a, 0, 1);
	if ((ids = calloc(n, sizeof(*ids))) == NULL ||
	    (hashes = calloc(n, sizeof(*hashes))) == NULL ||
	    (f = calloc(n, sizeof(*f))) == NULL ||
	    (len = calloc(n, sizeof(*len))) == NULL ||
	    (sub = calloc(GROUP, sizeof(*sub))) == NULL)
		die("out of memory");

	/* N messages sent (group commits), then ACCEPTED by the relay. */
	for (i = 0; i < n; i += k) {
		k = n - i < GROUP ? n - i : GROUP;
		for (j = 0; j < k; j++) {
			memset(&sub[j], 0, sizeof(sub[j]));
			sub[j].to = "bravo";
			sub[j].json = doc;
			sub[j].len = doclen;
			sp[j] = &sub[j];
		}
		agentd_submit_batch(&a, sp, k);
		for (j = 0; j < k; j++) {
			if (sub[j].rc != 0)
				die(sub[j].err);
			memcpy(ids[i + j], sub[j].id, 16);
			if (astore_get_out(a.store, sub[j].id, &o) != 0)
				die("astore_get_out");
			memcpy(hashes[i + j], o.env_hash, 32);
		}
	}
	for (i = 0; i < n; i++)
		answer(ENV_ACCEPTED, ids[i], hashes[i], i, NULL, 0, &f[i],
		    &len[i]);
	feed(&a, f, len, n);
	for (i = 0; i < n; i++)
		free(f[i]);
	if (a.n_accepted != n)
		die("not every message was accepted");

	/* The recipient's RECEIPTs, signed beforehand: one checkpoint of
	 * its log covering every index they name. */
	randombytes_buf(root, sizeof(root));
	if (note_sign_checkpoint("ferry/bravo", n + 1, root, bravo->sign_sk,
	    &note, &nlen) != 0)
		die("note_sign_checkpoint");
	for (i = 0; i < n; i++)
		answer(ENV_RECEIPT, ids[i], hashes[i], i, note, nlen, &f[i],
		    &len[i]);

	/* The partner returns: HELLO, every message asked about, then
	 * every RECEIPT read. */
	memset(&cap, 0, sizeof(cap));
	t0 = now();
	c0 = cpu();
	if (agentd_hello(&a, 0) != 0)
		die("agentd_hello");
	while (cap.asks < n) {
		(void)agentd_tick(&a, agentd_mono_ms());
		if (++ticks > n + 16)
			die("ASKs stopped");
	}
	d->ask = now() - t0;
	d->ask_cpu = cpu() - c0;
	t0 = now();
	c0 = cpu();
	feed(&a, f, len, n);
	d->rcpt = now() - t0;
	d->rcpt_cpu = cpu() - c0;
	if (a.n_delivered != n)
		die("not every message was delivered");

	for (i = 0; i < n; i++)
		free(f[i]);
	free(note);
	free(sub);
	free(len);
	free(f);
	free(hashes);
	free(ids);
	agentd_close(&a);
}

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a < b ? -1 : a > b);
}

/* The median of ${v}[0..n-1] (sorted in place). */
static double
median(double *v, size_t n)
{

	qsort(v, n, sizeof(v[0]), cmp_double);
	return (v[n / 2]);
}

/* CPU microseconds per Ed25519 signature and verification of ${len} bytes. */
static void
ed25519_us(size_t len, double *sign, double *verify)
{
	uint8_t m[512], sig[64];
	const int reps = 2000;
	double t0;
	int i;

	memset(m, 7, sizeof(m));
	t0 = cpu();
	for (i = 0; i < reps; i++) {
		m[0] = (uint8_t)i;
		crypto_sign_detached(sig, NULL, m, len, bravo->sign_sk);
	}
	*sign = (cpu() - t0) * 1e6 / reps;
	t0 = cpu();
	for (i = 0; i < reps; i++)
		if (crypto_sign_verify_detached(sig, m, len,
		    bravo->sign_pk) != 0)
			die("Ed25519 verify");
	*verify = (cpu() - t0) * 1e6 / reps;
}

/*
 * The pending table alone (pending.c), in the drain's pattern, in CPU ns
 * per message: ${n} messages added as ACCEPTED, all made due (HELLO),
 * each taken first and rescheduled (its ASK), each found and deleted
 * (its RECEIPT); ${reps} times.  Linear in n if each step is O(log n) or
 * better; the drain above hides it behind the signatures.
 */
static double
table_ns(size_t n, int reps)
{
	const struct pending_msg *m;
	struct pending *p;
	uint8_t (*ids)[FERRY_MSGID_LEN];
	double c0, t = 0;
	size_t i;
	int r;

	if ((ids = calloc(n, sizeof(*ids))) == NULL)
		die("out of memory");
	for (i = 0; i < n; i++)
		env_new_id(ids[i]);
	for (r = 0; r < reps; r++) {
		if ((p = pending_new()) == NULL)
			die("out of memory");
		c0 = cpu();
		for (i = 0; i < n; i++)
			if (pending_set(p, ids[i], ASTORE_ACCEPTED, 1000) != 0)
				die("out of memory");
		pending_all_due(p, 2000);
		for (i = 0; i < n; i++) {
			m = pending_first(p, ASTORE_ACCEPTED);
			pending_retime(p, m, 3000 + i, m->attempts + 1);
		}
		for (i = 0; i < n; i++) {
			if (pending_find(p, ids[i]) == NULL)
				die("pending_find");
			pending_del(p, ids[i]);
		}
		t += cpu() - c0;
		pending_free(p);
	}
	free(ids);
	return (t * 1e9 / (double)n / reps);
}

int
main(void)
{
	struct drain d[SMALL_RUNS], big;
	double v[4][SMALL_RUNS], sm[4], bg[4], sign, verify, bound, tsm, tbg;
	const char *env = getenv("FERRY_BENCH_PENDING_N");
	uint64_t nv = 100000;
	size_t n;
	char tag[32], cmd[600];
	int i;

	if (sodium_init() < 0)
		die("sodium_init");
	if (env != NULL && ferry_parse_u64(env, &nv) != 0)
		die("FERRY_BENCH_PENDING_N: not a number");
	if (nv < SMALL || nv > 10000000)
		die("FERRY_BENCH_PENDING_N: from 100 to 10,000,000");
	n = (size_t)nv;
	alog_set_level(ALOG_ERROR);
	setup();
	for (i = 0; i < SMALL_RUNS; i++) {
		snprintf(tag, sizeof(tag), "small-%d", i);
		run(SMALL, tag, &d[i]);
		v[0][i] = d[i].ask + d[i].rcpt;
		v[1][i] = d[i].ask_cpu + d[i].rcpt_cpu;
		v[2][i] = d[i].ask_cpu;
		v[3][i] = d[i].rcpt_cpu;
	}
	for (i = 0; i < 4; i++)
		sm[i] = median(v[i], SMALL_RUNS) * 1e6 / SMALL;
	run(n, "big", &big);
	bg[0] = (big.ask + big.rcpt) * 1e6 / (double)n;
	bg[1] = (big.ask_cpu + big.rcpt_cpu) * 1e6 / (double)n;
	bg[2] = big.ask_cpu * 1e6 / (double)n;
	bg[3] = big.rcpt_cpu * 1e6 / (double)n;
	ed25519_us(200, &sign, &verify);
	bound = sign + 2 * verify;
	tsm = table_ns(SMALL, 1000);
	tbg = table_ns(n, 1);

	printf("  drain after a partner's return (HELLO, an ASK each, a "
	    "RECEIPT each), per message:\n");
	printf("    N = %-7d  wall %7.1f us, CPU %7.1f us (ASKs %.1f + "
	    "RECEIPTs %.1f; medians of %d runs)\n", SMALL, sm[0], sm[1],
	    sm[2], sm[3], SMALL_RUNS);
	printf("    N = %-7zu  wall %7.1f us, CPU %7.1f us (ASKs %.1f + "
	    "RECEIPTs %.1f; %.1f s in all)\n", n, bg[0], bg[1], bg[2], bg[3],
	    big.ask + big.rcpt);
	printf("    ratio time(%zu) / (%zu x time(%d)): wall %.2f, CPU %.2f  "
	    "(1 = linear in N; CPU is the steadier on a busy machine)\n", n,
	    n / SMALL, SMALL, bg[0] / sm[0], bg[1] / sm[1]);
	printf("    bound: 1 Ed25519 sign (ASK) + 2 verify (RECEIPT, its "
	    "checkpoint) = %.1f + 2 x %.1f = %.1f us;  ratio CPU N=%d %.2f, "
	    "N=%zu %.2f\n", sign, verify, bound, SMALL, sm[1] / bound, n,
	    bg[1] / bound);
	printf("    the pending table alone (add, HELLO, take and reschedule, "
	    "find and delete), CPU per message: N = %d %.0f ns, N = %zu "
	    "%.0f ns;  ratio %.2f\n", SMALL, tsm, n, tbg, tbg / tsm);

	ident_free(admin);
	ident_free(relay);
	ident_free(alpha);
	ident_free(bravo);
	free(doc);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return (system(cmd) != 0);
}
