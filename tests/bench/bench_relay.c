/*
 * bench_relay.c: ferry-relay through a real relay process, beside this
 * machine's limits measured in the same run:
 *   1. raw ZeroMQ CURVE round trip (DEALER <-> ROUTER over loopback TCP,
 *      4 KiB frames, in-process): the transport floor;
 *   2. LMDB synced commits of one 4 KiB put: the durability floor;
 *   3. the relay: accepted MSGs/s (4 KiB referrals, pre-sealed, one sender
 *      pipelining) with the relay's CPU (/proc) per accepted MSG, and
 *      forwarding latency p50/p99 (sender's send to the
 *      recipient's receive, one message at a time, recipient acknowledging
 *      each);
 *   4. relay memory (VmRSS from /proc) idle and with 1,000 connected agents.
 * The relay binary is ../ferry-relay beside this program's folder.
 * Wall-clock figures: the relay is another process.
 * FERRY_BENCH_RELAY_QUICK set: only part 3's accepted/s run and its CPU
 * (for A/B runs of two relay builds); FERRY_BENCH_RELAY_THREADS=N: the
 * relay's verify_threads.  At the end, part 3's accepted/s runs 3 times
 * each with verify_threads = 1 and with the default, alternated, for
 * the ratio (medians).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>
#include <zmq.h>

#include "envelope.h"
#include "ferry.h"
#include "ident.h"
#include "roster.h"

#define DAY (24ULL * 3600 * 1000)
#define BODY 4096
#define NTHRU 5000
#define NLAT 1000
#define NAGENTS 1000

static char tmp[256];
/* verify_threads of the relay started (0: its default, one per core). */
static int threads_opt;
/* The A/B runs of the verify threads: print nothing, keep the rate. */
static int ab_quiet;
static double ab_rate;

static double
wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void
die(const char *what)
{

	fprintf(stderr, "bench_relay: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
check(int rc, const char *what)
{

	if (rc != 0) {
		fprintf(stderr, "bench_relay: %s: %s\n", what,
		    ferry_strerror(rc));
		exit(1);
	}
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

static void
pcts(double *v, size_t n, double *p50, double *p99)
{

	qsort(v, n, sizeof(v[0]), dcmp);
	*p50 = v[n / 2];
	*p99 = v[(n * 99) / 100];
}

/* ---- 1. raw CURVE round trip ---- */

static void
bench_curve(void)
{
	uint8_t spk[32], ssk[32], cpk[32], csk[32], buf[BODY];
	char ep[64];
	void *ctx, *srv, *cli;
	zmq_msg_t rid, m;
	double t0, *lat;
	size_t len = sizeof(ep);
	int i, one = 1, n = 2000;
	double p50, p99, total;

	crypto_box_keypair(spk, ssk);
	crypto_box_keypair(cpk, csk);
	randombytes_buf(buf, sizeof(buf));
	ctx = zmq_ctx_new();
	srv = zmq_socket(ctx, ZMQ_ROUTER);
	cli = zmq_socket(ctx, ZMQ_DEALER);
	if (zmq_setsockopt(srv, ZMQ_CURVE_SERVER, &one, sizeof(one)) ||
	    zmq_setsockopt(srv, ZMQ_CURVE_SECRETKEY, ssk, 32) ||
	    zmq_bind(srv, "tcp://127.0.0.1:*") ||
	    zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &len) ||
	    zmq_setsockopt(cli, ZMQ_CURVE_SERVERKEY, spk, 32) ||
	    zmq_setsockopt(cli, ZMQ_CURVE_PUBLICKEY, cpk, 32) ||
	    zmq_setsockopt(cli, ZMQ_CURVE_SECRETKEY, csk, 32) ||
	    zmq_connect(cli, ep))
		die("curve setup");
	if ((lat = calloc((size_t)n, sizeof(*lat))) == NULL)
		die("calloc");
	t0 = wall();
	for (i = -100; i < n; i++) {
		double s = wall();

		if (zmq_send(cli, buf, sizeof(buf), 0) < 0)
			die("send");
		zmq_msg_init(&rid);
		zmq_msg_init(&m);
		if (zmq_msg_recv(&rid, srv, 0) < 0 || zmq_msg_recv(&m, srv, 0) < 0)
			die("recv");
		if (zmq_msg_send(&rid, srv, ZMQ_SNDMORE) < 0 ||
		    zmq_msg_send(&m, srv, 0) < 0)
			die("echo");
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, cli, 0) < 0)
			die("recv");
		zmq_msg_close(&m);
		if (i < 0)
			t0 = wall();	/* warm-up, handshake excluded */
		else
			lat[i] = (wall() - s) * 1e6;
	}
	total = wall() - t0;
	pcts(lat, (size_t)n, &p50, &p99);
	printf("raw ZeroMQ CURVE round trip, 4 KiB, loopback: p50 %.0f us, "
	    "p99 %.0f us, %.0f round trips/s\n", p50, p99, n / total);
	free(lat);
	zmq_close(cli);
	zmq_close(srv);
	zmq_ctx_term(ctx);
}

/* ---- 2. LMDB synced commits ---- */

static void
bench_lmdb(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	char dir[300];
	uint8_t key[8], val[BODY];
	double t0, t;
	int i, n = 0;

	snprintf(dir, sizeof(dir), "%s/lmdb", tmp);
	if (mkdir(dir, 0700) != 0 || mdb_env_create(&env) ||
	    mdb_env_set_mapsize(env, 1ULL << 30) ||
	    mdb_env_open(env, dir, 0, 0600))
		die("lmdb");
	randombytes_buf(val, sizeof(val));
	t0 = wall();
	do {
		for (i = 7; i >= 0; i--)
			key[7 - i] = (uint8_t)((uint64_t)n >> (8 * i));
		k.mv_size = 8;
		k.mv_data = key;
		v.mv_size = sizeof(val);
		v.mv_data = val;
		if (mdb_txn_begin(env, NULL, 0, &txn) ||
		    mdb_dbi_open(txn, NULL, 0, &dbi) ||
		    mdb_put(txn, dbi, &k, &v, MDB_APPEND) ||
		    mdb_txn_commit(txn))
			die("lmdb commit");
		n++;
		t = wall() - t0;
	} while (t < 2.0 && n < 20000);
	printf("LMDB synced commit of one 4 KiB put: %.0f commits/s "
	    "(%.2f ms each)\n", n / t, t * 1000 / n);
	mdb_env_close(env);
}

/* ---- the network and the relay process ---- */

struct net {
	struct ident *relay, *a, *b;
	struct ident **agents;
	struct roster *ro;
	char ep[64];
	pid_t pid;
};

static void
add_req(struct roster *r, const struct ident *i, int which)
{
	uint8_t *req;
	size_t len;

	check(roster_request_make(i, ferry_now_ms(), &req, &len), "request");
	if (which == 0)
		check(roster_admin_add(r, req, len), "admin");
	else if (which == 1)
		check(roster_relay_set(r, req, len, NULL), "relay");
	else
		check(roster_agency_add(r, req, len), "agency");
	free(req);
}

static struct ident *
gen(const char *id, uint32_t kind)
{
	struct ident *i;

	check(ident_generate(id, kind, id, ferry_now_ms(), 365 * DAY, &i),
	    "ident");
	return (i);
}

static void
net_make(struct net *n)
{
	struct ident *adm[2];
	char id[32], path[400], fp[IDENT_FP_LEN];
	const uint8_t *b;
	size_t len;
	FILE *f;
	int i;

	check(roster_new(ferry_now_ms(), ferry_now_ms() + 365 * DAY, &n->ro),
	    "roster");
	for (i = 0; i < 2; i++) {
		snprintf(id, sizeof(id), "admin-%d", i + 1);
		adm[i] = gen(id, IDENT_ADMIN);
		add_req(n->ro, adm[i], 0);
	}
	check(roster_set_threshold(n->ro, 2), "threshold");
	n->relay = gen("relay", IDENT_RELAY);
	add_req(n->ro, n->relay, 1);
	n->a = gen("sender", IDENT_POLICE);
	n->b = gen("recipient", IDENT_COUNCIL);
	add_req(n->ro, n->a, 2);
	add_req(n->ro, n->b, 2);
	if ((n->agents = calloc(NAGENTS, sizeof(*n->agents))) == NULL)
		die("calloc");
	for (i = 0; i < NAGENTS; i++) {
		snprintf(id, sizeof(id), "agent-%04d", i);
		n->agents[i] = gen(id, IDENT_CHARITY);
		add_req(n->ro, n->agents[i], 2);
	}
	check(roster_seal(n->ro), "seal");
	check(roster_sign(n->ro, adm[0]->sign_sk), "sign");
	check(roster_sign(n->ro, adm[1]->sign_sk), "sign");
	check(roster_bytes(n->ro, &b, &len), "bytes");
	snprintf(path, sizeof(path), "%s/roster", tmp);
	check(ferry_write_file(path, b, len, 0644), "roster file");
	snprintf(path, sizeof(path), "%s/relay.key", tmp);
	check(ident_save(n->relay, path, NULL), "relay key");
	roster_fingerprint(n->ro, fp);
	snprintf(path, sizeof(path), "%s/relay.conf", tmp);
	if ((f = fopen(path, "w")) == NULL)
		die(path);
	fprintf(f, "[relay]\nendpoint = %s\ndata = %s/data\nkey = %s/relay.key\n"
	    "roster = %s/roster\nroster_pin = %s\nlog_level = warn\n"
	    "metrics_interval = 500ms\n"
	    /* All NAGENTS come from 127.0.0.1: without this the per-address
	     * limit (32) shuts all but a few and the memory figure waits
	     * out its 120 s for agents that never connect. */
	    "max_connections = %d\nmax_connections_per_address = %d\n",
	    n->ep, tmp, tmp, tmp, fp, NAGENTS + 64, NAGENTS + 64);
	if (threads_opt > 0)
		fprintf(f, "verify_threads = %d\n", threads_opt);
	if (fclose(f) != 0)
		die(path);
	ident_free(adm[0]);
	ident_free(adm[1]);
}

static void
relay_start(struct net *n)
{
	char self[PATH_MAX], bin[PATH_MAX + 32], conf[300], errp[300];
	ssize_t k;
	char *slash;
	int fd;

	if ((k = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0)
		die("readlink");
	self[k] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';		/* .../bench */
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';		/* the build folder */
	snprintf(bin, sizeof(bin), "%s/ferry-relay", self);
	snprintf(conf, sizeof(conf), "%s/relay.conf", tmp);
	snprintf(errp, sizeof(errp), "%s/relay.err", tmp);
	if ((n->pid = fork()) < 0)
		die("fork");
	if (n->pid == 0) {
		if ((fd = open(errp, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0 ||
		    dup2(fd, 2) < 0)
			_exit(127);
		execl(bin, bin, "-c", conf, (char *)NULL);
		_exit(127);
	}
}

static long
rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return (kb);
}

/* CPU seconds (user + system, all threads) ${pid} has used, and its minor
 * page faults in *${flt}: /proc. */
static double
cpu_s(pid_t pid, double *flt)
{
	char path[64], line[1024], *p;
	unsigned long long ut, st, mf;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	/* Fields after the command's closing parenthesis: state is 3rd,
	 * minflt the 10th, utime the 14th, stime the 15th. */
	if (!ok || (p = strrchr(line, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %llu %*u %*u %*u %llu "
	    "%llu", &mf, &ut, &st) != 3)
		return (-1);
	*flt = (double)mf;
	return ((double)(ut + st) / (double)sysconf(_SC_CLK_TCK));
}

static void *
client(void *ctx, const struct net *n, const struct ident *me)
{
	void *s;
	int linger = 0, hwm = 100000;

	if ((s = zmq_socket(ctx, ZMQ_DEALER)) == NULL ||
	    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
	    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)) ||
	    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, n->relay->curve_pk, 32) ||
	    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, me->curve_pk, 32) ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, me->curve_sk, 32) ||
	    zmq_connect(s, n->ep))
		die("client");
	return (s);
}

static void
send_env(void *s, const struct ident *me, struct env *e, const char *to)
{
	uint8_t *b;
	size_t len;

	e->version = ENV_VERSION;
	env_new_id(e->id);
	snprintf(e->from, sizeof(e->from), "%s", me->id);
	snprintf(e->to, sizeof(e->to), "%s", to);
	e->time = ferry_now_ms();
	check(env_encode(e, me->sign_sk, &b, &len), "encode");
	if (zmq_send(s, b, len, 0) < 0)
		die("send");
	free(b);
}

static void
hello(void *s, const struct ident *me, uint64_t credit)
{
	struct env e;

	memset(&e, 0, sizeof(e));
	e.type = ENV_HELLO;
	e.roster_version = 1;
	e.credit = credit;
	send_env(s, me, &e, "relay");
}

/* Receive one envelope within ${secs}; its type, or 0 on timeout. */
static uint32_t
recv_env(void *s, double secs, struct env *e, uint8_t **buf, size_t *len)
{
	zmq_pollitem_t pi = { s, 0, ZMQ_POLLIN, 0 };
	zmq_msg_t m;

	if (zmq_poll(&pi, 1, (long)(secs * 1000)) <= 0)
		return (0);
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, s, 0) < 0)
		die("recv");
	*len = zmq_msg_size(&m);
	if ((*buf = malloc(*len)) == NULL)
		die("malloc");
	memcpy(*buf, zmq_msg_data(&m), *len);
	zmq_msg_close(&m);
	check(env_decode(*buf, *len, 0, e), "decode");
	return (e->type);
}

static void
receipt(void *s, const struct ident *me, const struct env *m,
    const uint8_t *buf, size_t len)
{
	struct env r;

	memset(&r, 0, sizeof(r));
	r.type = ENV_RECEIPT;
	memcpy(r.msg_id, m->id, 16);
	env_hash(buf, len, r.env_hash);
	r.roster_version = 1;
	r.blob = (const uint8_t *)"bench\n";
	r.blob_len = 6;
	send_env(s, me, &r, m->from);
}

/* Seal ${k} 4 KiB MSGs from a to b. */
static uint8_t **
seal_many(const struct net *n, int k, size_t **lens)
{
	uint8_t **out, content[BODY], key[32], id[16];
	uint32_t kid;
	uint8_t pk[32];
	int i;

	check(roster_enc_key_for_sending(n->ro, n->b->id, ferry_now_ms(), &kid,
	    pk), "enc key");
	if ((out = calloc((size_t)k, sizeof(*out))) == NULL ||
	    (*lens = calloc((size_t)k, sizeof(**lens))) == NULL)
		die("calloc");
	randombytes_buf(content, sizeof(content));
	for (i = 0; i < k; i++)
		check(env_seal(n->a, n->b->id, pk, kid, content, sizeof(content),
		    NULL, ferry_now_ms(), key, id, &out[i], &(*lens)[i]), "seal");
	return (out);
}

static void
bench_relay(struct net *n, void *ctx, int quick)
{
	void *sa, *sb;
	uint8_t **envs, *buf;
	size_t *lens, len;
	struct env e;
	double t0, t, *lat, p50, p99, c0, f0, f1, s0, s1, sf;
	int i, acc = 0, got;

	sa = client(ctx, n, n->a);
	sb = client(ctx, n, n->b);
	hello(sa, n->a, 64);
	hello(sb, n->b, 0);	/* no delivery during the throughput run */
	/* Wait for the relay: first HEARTBEAT answer. */
	{
		struct env h;

		memset(&h, 0, sizeof(h));
		h.type = ENV_HEARTBEAT;
		send_env(sa, n->a, &h, "relay");
		for (got = 0; !got;) {
			uint32_t ty = recv_env(sa, 30, &e, &buf, &len);

			if (ty == 0) {
				fprintf(stderr, "bench_relay: relay silent\n");
				exit(1);
			}
			got = ty == ENV_HEARTBEAT;
			free(buf);
		}
	}
	envs = seal_many(n, NTHRU, &lens);
	c0 = cpu_s(n->pid, &f0);
	s0 = cpu_s(getpid(), &sf);
	t0 = wall();
	for (i = 0; i < NTHRU; i++)
		if (zmq_send(sa, envs[i], lens[i], 0) < 0)
			die("send");
	while (acc < NTHRU) {
		uint32_t ty = recv_env(sa, 60, &e, &buf, &len);

		if (ty == 0) {
			fprintf(stderr, "bench_relay: %d of %d accepted\n", acc,
			    NTHRU);
			exit(1);
		}
		if (ty == ENV_ACCEPTED || ty == ENV_ACCEPTED_P)
			acc++;
		free(buf);
	}
	t = wall() - t0;
	s1 = cpu_s(getpid(), &sf);
	ab_rate = NTHRU / t;
	if (!ab_quiet)
		printf("relay accepted 4 KiB MSGs (one sender pipelining %d, "
		    "each verified, stored, logged, synced, ACCEPTED_P proven; "
		    "verify_threads %s): %.0f msgs/s\n", NTHRU,
		    threads_opt > 0 ? "as set" : "one per core", NTHRU / t);
	/* The relay's CPU for them (all its threads, /proc): a count of
	 * work, steadier than the rate on a shared machine. */
	t = cpu_s(n->pid, &f1) - c0;
	if (!ab_quiet)
		printf("relay CPU per accepted MSG (user+system, all threads): "
		    "%.0f us, %.1f minor page faults\n", t * 1e6 / NTHRU,
		    (f1 - f0) / NTHRU);
	/* This process's own CPU in the same run (sending the pre-sealed
	 * MSGs over CURVE, reading the answers): it shares the cores. */
	if (!ab_quiet)
		printf("bench sender CPU per accepted MSG (this process, all "
		    "threads): %.0f us\n", (s1 - s0) * 1e6 / NTHRU);
	for (i = 0; i < NTHRU; i++)
		free(envs[i]);
	free(envs);
	free(lens);
	if (quick) {
		zmq_close(sa);
		zmq_close(sb);
		return;
	}
	/* Drain the backlog to the recipient first (window 256). */
	{
		struct env c;

		memset(&c, 0, sizeof(c));
		c.type = ENV_CREDIT;
		c.credit = 256;
		send_env(sb, n->b, &c, "relay");
	}
	t0 = wall();
	for (got = 0; got < NTHRU;) {
		uint32_t ty = recv_env(sb, 60, &e, &buf, &len);

		if (ty == 0) {
			fprintf(stderr, "bench_relay: drained %d\n", got);
			exit(1);
		}
		if (ty == ENV_MSG) {
			receipt(sb, n->b, &e, buf, len);
			got++;
		}
		free(buf);
	}
	t = wall() - t0;
	printf("relay forwarded queued backlog with receipts (window 256): "
	    "%.0f msgs/s\n", NTHRU / t);
	/* Latency: one at a time. */
	envs = seal_many(n, NLAT, &lens);
	if ((lat = calloc(NLAT, sizeof(*lat))) == NULL)
		die("calloc");
	while (recv_env(sa, 0.5, &e, &buf, &len) != 0)
		free(buf);	/* receipts forwarded from the backlog */
	for (i = 0; i < NLAT; i++) {
		double s = wall();

		if (zmq_send(sa, envs[i], lens[i], 0) < 0)
			die("send");
		for (;;) {
			uint32_t ty = recv_env(sb, 30, &e, &buf, &len);

			if (ty == 0) {
				fprintf(stderr, "bench_relay: lost %d\n", i);
				exit(1);
			}
			if (ty == ENV_MSG)
				break;
			free(buf);
		}
		lat[i] = (wall() - s) * 1e6;
		receipt(sb, n->b, &e, buf, len);
		free(buf);
		free(envs[i]);
		/* ACCEPTED and RECEIPT back at the sender. */
		for (got = 0; got < 2;) {
			uint32_t ty = recv_env(sa, 30, &e, &buf, &len);

			if (ty == 0)
				break;
			got += (ty == ENV_ACCEPTED || ty == ENV_RECEIPT ||
			    ty == ENV_ACCEPTED_P || ty == ENV_RECEIPT_P);
			free(buf);
		}
	}
	pcts(lat, NLAT, &p50, &p99);
	printf("relay forwarding latency, 4 KiB, sender send -> recipient "
	    "receive (store+log+sync included): p50 %.0f us, p99 %.0f us\n",
	    p50, p99);
	free(lat);
	free(envs);
	free(lens);
	zmq_close(sa);
	zmq_close(sb);
}

static long
metric(const char *name)
{
	char path[300], line[512];
	long v = -1;
	size_t nl = strlen(name);
	FILE *f;

	snprintf(path, sizeof(path), "%s/data/metrics.prom", tmp);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, nl) == 0 && line[nl] == ' ')
			v = strtol(line + nl + 1, NULL, 10);
	fclose(f);
	return (v);
}

static void
bench_memory(struct net *n, void *ctx)
{
	void **s;
	double t0;
	long before, after, c = 0;
	int i;

	before = rss_kb(n->pid);
	if ((s = calloc(NAGENTS, sizeof(*s))) == NULL)
		die("calloc");
	t0 = wall();
	for (i = 0; i < NAGENTS; i++) {
		s[i] = client(ctx, n, n->agents[i]);
		hello(s[i], n->agents[i], 16);
	}
	while (wall() - t0 < 120) {
		c = metric("ferry_relay_connected_agents");
		if (c >= NAGENTS)
			break;
		usleep(200000);
	}
	after = rss_kb(n->pid);
	printf("relay memory (VmRSS): %ld KiB idle, %ld KiB with %ld "
	    "connected agents (%.1f KiB each); all connected in %.1f s\n",
	    before, after, c, c > 0 ? (double)(after - before) / c : 0.0,
	    wall() - t0);
	for (i = 0; i < NAGENTS; i++)
		zmq_close(s[i]);
	free(s);
}

/* Free what net_make made: its keys are in locked memory (sodium_malloc),
 * which runs out after a few networks of NAGENTS if kept. */
static void
net_free(struct net *n)
{
	int i;

	ident_free(n->relay);
	ident_free(n->a);
	ident_free(n->b);
	for (i = 0; i < NAGENTS && n->agents != NULL; i++)
		ident_free(n->agents[i]);
	free(n->agents);
	roster_free(n->ro);
	memset(n, 0, sizeof(*n));
}

/* Start a relay in ${tmp}, run the benches, stop it: 0 if it exited 0. */
static int
run_relay(int quick)
{
	struct net n;
	void *ctx;
	char cmd[400];
	int st, port;

	memset(&n, 0, sizeof(n));
	randombytes_buf(&port, sizeof(port));
	port = 20000 + (int)((unsigned)port % 20000);
	snprintf(n.ep, sizeof(n.ep), "tcp://127.0.0.1:%d", port);
	net_make(&n);
	relay_start(&n);
	if ((ctx = zmq_ctx_new()) == NULL ||
	    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, NAGENTS + 64) != 0)
		die("ctx");
	bench_relay(&n, ctx, quick);
	if (!quick)
		bench_memory(&n, ctx);
	kill(n.pid, SIGTERM);
	if (waitpid(n.pid, &st, 0) < 0)
		die("waitpid");
	zmq_ctx_term(ctx);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_relay: the relay stopped with status %d; "
		    "the end of its log:\n", st);
		snprintf(cmd, sizeof(cmd), "tail -5 '%s/relay.err' >&2", tmp);
		(void)system(cmd);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_relay: could not remove %s\n", tmp);
	net_free(&n);
	return (WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1);
}

/*
 * What the verify threads bring (issue 10 step 6): the accepted/s run
 * with verify_threads = 1 and with the default, alternated AB_RUNS times
 * each (a fresh relay each time), medians printed.
 */
#define AB_RUNS 3
static int
threads_ab(void)
{
	double one[AB_RUNS], all[AB_RUNS];
	int i, k, st = 0;

	ab_quiet = 1;
	for (i = 0; i < AB_RUNS && st == 0; i++)
		for (k = 0; k < 2 && st == 0; k++) {
			threads_opt = k == 0 ? 1 : 0;
			snprintf(tmp, sizeof(tmp), "/tmp/ferry-bench-relay-XXXXXX");
			if (mkdtemp(tmp) == NULL)
				die("mkdtemp");
			st = run_relay(1);
			(k == 0 ? one : all)[i] = ab_rate;
		}
	ab_quiet = 0;
	threads_opt = 0;
	if (st != 0)
		return (st);
	qsort(one, AB_RUNS, sizeof(one[0]), dcmp);
	qsort(all, AB_RUNS, sizeof(all[0]), dcmp);
	printf("relay accepted/s, verify threads A/B (%d alternating runs "
	    "each, medians): one per core %.0f, loop's thread alone %.0f\n",
	    AB_RUNS, all[AB_RUNS / 2], one[AB_RUNS / 2]);
	return (0);
}

int
main(void)
{
	struct rlimit rl;
	const char *th = getenv("FERRY_BENCH_RELAY_THREADS");
	int st, quick;

	if (sodium_init() < 0)
		return (1);
	/* 1,000 agents need more descriptors than the default 1024. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192) {
		rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	snprintf(tmp, sizeof(tmp), "/tmp/ferry-bench-relay-XXXXXX");
	if (mkdtemp(tmp) == NULL)
		die("mkdtemp");
	/* FERRY_BENCH_RELAY_QUICK set: only the accepted/s run (and its
	 * CPU), for A/B runs of two relay builds. */
	quick = getenv("FERRY_BENCH_RELAY_QUICK") != NULL;
	/* FERRY_BENCH_RELAY_THREADS=N: the relay's verify_threads (A/B). */
	if (th != NULL)
		threads_opt = (int)strtol(th, NULL, 10);
	if (!quick) {
		bench_curve();
		bench_lmdb();
	}
	st = run_relay(quick);
	if (st == 0 && !quick)
		st = threads_ab();
	return (st);
}
