/*
 * bench_limits.c: this machine's raw limits, the floors every Ferry figure
 * is compared with (tests/bench/e2e.py prints the comparison):
 *   Ed25519 sign and verify of 4 KiB, X25519 scalar multiplication,
 *   XChaCha20-Poly1305 on 4 KiB, SHA-256 of a Merkle node (65 bytes),
 *   LMDB synced commits of 1 and of 100 4 KiB puts per transaction,
 *   ZeroMQ CURVE throughput (one way, pipelined) and round trip, 4 KiB,
 *   over loopback TCP.
 * Each figure is printed for people and as "RESULT name value unit" for
 * the summary.  CPU figures run >= 0.3 s each; wall figures are stated.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>
#include <zmq.h>

#define KIB4 4096

static double
cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static double
wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static void
die(const char *what)
{

	fprintf(stderr, "bench_limits: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
result(const char *name, const char *label, double per_s)
{

	printf("  %-44s %12.0f /s  (%8.2f us each)\n", label, per_s,
	    1e6 / per_s);
	printf("RESULT %s %.1f /s\n", name, per_s);
}

static uint8_t msg[KIB4], sig[64], pk[32], sk[64], out[KIB4 + 64];

static void
crypto(void)
{
	uint8_t a[32], b[32], q[32], key[32], nonce[24], h[32], node[65];
	unsigned long long ol;
	double t0;
	long n;

	randombytes_buf(msg, sizeof(msg));
	crypto_sign_keypair(pk, sk);
	for (n = 0, t0 = cpu(); cpu() - t0 < 0.3; n++)
		crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
	result("ed25519_sign_4k", "Ed25519 sign, 4 KiB", n / (cpu() - t0));
	for (n = 0, t0 = cpu(); cpu() - t0 < 0.3; n++)
		if (crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) != 0)
			die("verify");
	result("ed25519_verify_4k", "Ed25519 verify, 4 KiB", n / (cpu() - t0));
	randombytes_buf(a, sizeof(a));
	crypto_scalarmult_base(b, a);
	for (n = 0, t0 = cpu(); cpu() - t0 < 0.3; n++)
		if (crypto_scalarmult(q, a, b) != 0)
			die("x25519");
	result("x25519", "X25519 scalar multiplication", n / (cpu() - t0));
	randombytes_buf(key, sizeof(key));
	randombytes_buf(nonce, sizeof(nonce));
	for (n = 0, t0 = cpu(); cpu() - t0 < 0.3; n++)
		crypto_aead_xchacha20poly1305_ietf_encrypt(out, &ol, msg,
		    sizeof(msg), NULL, 0, NULL, nonce, key);
	result("aead_4k", "XChaCha20-Poly1305 encrypt, 4 KiB",
	    n / (cpu() - t0));
	randombytes_buf(node, sizeof(node));
	node[0] = 1;
	for (n = 0, t0 = cpu(); cpu() - t0 < 0.3; n++) {
		crypto_hash_sha256(h, node, sizeof(node));
		node[1] = h[0];
	}
	result("sha256_node", "SHA-256 Merkle node (65 bytes)",
	    n / (cpu() - t0));
}

static void
lmdb(void)
{
	char dir[] = "/tmp/ferry-bench-lmdb-XXXXXX", cmd[128];
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	MDB_val k, v;
	uint64_t seq = 0;
	uint8_t kb[8];
	double t0, el;
	int i, j, b, n, per[2] = { 1, 100 }, rounds[2] = { 300, 40 };

	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 1UL << 30) ||
	    mdb_env_open(env, dir, 0, 0600))
		die("lmdb open");
	if (mdb_txn_begin(env, NULL, 0, &t) || mdb_dbi_open(t, NULL, 0, &dbi) ||
	    mdb_txn_commit(t))
		die("lmdb dbi");
	for (b = 0; b < 2; b++) {
		n = rounds[b];
		t0 = wall();
		for (i = 0; i < n; i++) {
			if (mdb_txn_begin(env, NULL, 0, &t))
				die("txn");
			for (j = 0; j < per[b]; j++) {
				seq++;
				for (int x = 0; x < 8; x++)
					kb[x] = (uint8_t)(seq >> (56 - 8 * x));
				k.mv_data = kb;
				k.mv_size = 8;
				v.mv_data = msg;
				v.mv_size = KIB4;
				if (mdb_put(t, dbi, &k, &v, MDB_APPEND))
					die("put");
			}
			if (mdb_txn_commit(t))
				die("commit");
		}
		el = wall() - t0;
		if (b == 0) {
			printf("  %-44s %12.0f /s  (%8.2f ms each, wall)\n",
			    "LMDB synced commit, 1 put of 4 KiB", n / el,
			    el * 1e3 / n);
			printf("RESULT lmdb_commit_1 %.1f /s\n", n / el);
		} else {
			printf("  %-44s %12.0f /s  (%8.2f ms each = %.0f puts/s, "
			    "wall)\n", "LMDB synced commit, 100 puts of 4 KiB",
			    n / el, el * 1e3 / n, n * 100 / el);
			printf("RESULT lmdb_commit_100 %.1f /s\n", n / el);
			printf("RESULT lmdb_puts_batched %.1f /s\n", n * 100 / el);
		}
	}
	mdb_env_close(env);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_limits: could not remove %s\n", dir);
}

static void
curve(void)
{
	uint8_t spk[32], ssk[32], cpk[32], csk[32];
	char ep[64];
	void *ctx, *srv, *cli;
	zmq_msg_t rid, m;
	size_t len = sizeof(ep);
	int i, one = 1, hwm = 0, n = 20000, nrt = 2000;
	double t0, el, *lat, tmp;

	crypto_box_keypair(spk, ssk);
	crypto_box_keypair(cpk, csk);
	ctx = zmq_ctx_new();
	srv = zmq_socket(ctx, ZMQ_ROUTER);
	cli = zmq_socket(ctx, ZMQ_DEALER);
	if (zmq_setsockopt(srv, ZMQ_CURVE_SERVER, &one, sizeof(one)) ||
	    zmq_setsockopt(srv, ZMQ_CURVE_SECRETKEY, ssk, 32) ||
	    zmq_setsockopt(srv, ZMQ_RCVHWM, &hwm, sizeof(hwm)) ||
	    zmq_bind(srv, "tcp://127.0.0.1:*") ||
	    zmq_getsockopt(srv, ZMQ_LAST_ENDPOINT, ep, &len) ||
	    zmq_setsockopt(cli, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
	    zmq_setsockopt(cli, ZMQ_CURVE_SERVERKEY, spk, 32) ||
	    zmq_setsockopt(cli, ZMQ_CURVE_PUBLICKEY, cpk, 32) ||
	    zmq_setsockopt(cli, ZMQ_CURVE_SECRETKEY, csk, 32) ||
	    zmq_connect(cli, ep))
		die("curve setup");
	/* Warm up: the handshake. */
	for (i = 0; i < 10; i++) {
		if (zmq_send(cli, msg, KIB4, 0) < 0)
			die("send");
		zmq_msg_init(&rid);
		zmq_msg_init(&m);
		if (zmq_msg_recv(&rid, srv, 0) < 0 || zmq_msg_recv(&m, srv, 0) < 0)
			die("recv");
		zmq_msg_close(&m);
		if (zmq_msg_send(&rid, srv, ZMQ_SNDMORE) < 0 ||
		    zmq_send(srv, msg, KIB4, 0) < 0)
			die("echo");
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, cli, 0) < 0)
			die("recv");
		zmq_msg_close(&m);
	}
	t0 = wall();
	for (i = 0; i < n; i++)
		if (zmq_send(cli, msg, KIB4, 0) < 0)
			die("send");
	for (i = 0; i < n; i++) {
		zmq_msg_init(&rid);
		zmq_msg_init(&m);
		if (zmq_msg_recv(&rid, srv, 0) < 0 || zmq_msg_recv(&m, srv, 0) < 0)
			die("recv");
		zmq_msg_close(&rid);
		zmq_msg_close(&m);
	}
	el = wall() - t0;
	printf("  %-44s %12.0f /s  (%.0f MB/s, wall, sender and receiver "
	    "in one process)\n", "ZeroMQ CURVE one-way 4 KiB, pipelined", n / el,
	    n * (double)KIB4 / el / 1e6);
	printf("RESULT curve_throughput_4k %.1f /s\n", n / el);
	if ((lat = calloc((size_t)nrt, sizeof(*lat))) == NULL)
		die("calloc");
	for (i = 0; i < nrt; i++) {
		double s = wall();

		if (zmq_send(cli, msg, KIB4, 0) < 0)
			die("send");
		zmq_msg_init(&rid);
		zmq_msg_init(&m);
		if (zmq_msg_recv(&rid, srv, 0) < 0 || zmq_msg_recv(&m, srv, 0) < 0)
			die("recv");
		zmq_msg_close(&m);
		if (zmq_msg_send(&rid, srv, ZMQ_SNDMORE) < 0 ||
		    zmq_send(srv, msg, KIB4, 0) < 0)
			die("echo");
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, cli, 0) < 0)
			die("recv");
		zmq_msg_close(&m);
		lat[i] = (wall() - s) * 1e6;
	}
	for (i = 1; i < nrt; i++)	/* insertion sort: small n */
		for (int j = i; j > 0 && lat[j - 1] > lat[j]; j--) {
			tmp = lat[j];
			lat[j] = lat[j - 1];
			lat[j - 1] = tmp;
		}
	printf("  %-44s p50 %.0f us, p99 %.0f us (wall)\n",
	    "ZeroMQ CURVE round trip 4 KiB", lat[nrt / 2], lat[nrt * 99 / 100]);
	printf("RESULT curve_rtt_p50_4k %.1f us\n", lat[nrt / 2]);
	printf("RESULT curve_rtt_p99_4k %.1f us\n", lat[nrt * 99 / 100]);
	free(lat);
	zmq_close(cli);
	zmq_close(srv);
	zmq_ctx_term(ctx);
}

int
main(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (sodium_init() < 0)
		return (1);
	printf("bench_limits: raw limits of this machine (%ld cores)\n", cores);
	printf("RESULT cores %ld n\n", cores);
	crypto();
	lmdb();
	curve();
	return (0);
}
