/*
 * relayc.c: a test-only client of ferry-relay (and a small test-network
 * maker), for the scenario tests in tests/scenario/relay_*.sh.  Not
 * installed; never used in production.
 *
 *   relayc mknet DIR RELAY-ID AGENCY... [--outsider ID]
 *       3 admins (admin-1..3), threshold 2; relay and agency keys in
 *       DIR/keys/<id>.key; roster version 1 in DIR/roster; its
 *       fingerprint in DIR/roster.pin.  --outsider makes a key that is
 *       not in the roster.
 *   relayc revoke DIR ROSTER-IN AGENCY ROSTER-OUT
 *       the next roster version with AGENCY revoked, signed by admin-1
 *       and admin-2.
 *   relayc send EP KEY ROSTER TO [options]
 *       seal --count messages "MARKER i" (padded to --size bytes) to TO,
 *       print "accepted <id> <i>" or "nack <CODE> <id> <i>" per message,
 *       and with --receipts also "receipt <id>" (exit 0 when all
 *       answered).  --mode tamper|spoof:ID|badto|garbage|empty|frames|
 *       dup|huge|badkey sends malformed or hostile variants instead
 *       (badkey: sealed to encryption key id 999);
 *       --mode checkpoint-garbage sends --count CHECKPOINT envelopes
 *       whose note does not parse, and exits without waiting.
 *       --mode checkpoint-flood sends --count validly signed CHECKPOINT
 *       envelopes for its own log (origin ferry/<id>), tree sizes 1, 2,
 *       ..., every other one with a 3.5 KiB extension line (a hostile
 *       insider growing the relay's log); --mode checkpoint sends --count
 *       plain ones (sizes 1, 2, ...) --every S seconds apart (an honest
 *       agency).  Both then send a HEARTBEAT and print "sent N" once the
 *       relay answers it (so it has read them all).
 *   relayc recv EP KEY ROSTER [options]
 *       HELLO with --credit W; print "msg <id> <content>" per new
 *       message (or "dup <id>"), send a RECEIPT for each unless
 *       --stop-after K (receipts stop after K messages, then exit);
 *       exits 0 after --count new messages.  --no-receipts: never
 *       acknowledge (a stalled peer); stays connected until --timeout,
 *       then exits 0.  --receipt-delay S: wait S seconds before each
 *       RECEIPT (a slow recipient).  --hello-flood N: after the first
 *       MSG, send N HELLOs (naming roster version 0) back to back on the
 *       same connection.  --drop-first: ignore the first MSG delivered
 *       (no line, no RECEIPT: as if lost), take the rest as usual.
 *   relayc race EP SENDER-KEY RECIPIENT-KEY ROSTER
 *       the sender sends one MSG to the recipient and waits for ACCEPTED;
 *       the recipient (HELLO) receives it; then, back to back, the
 *       recipient sends its RECEIPT and (50 ms later, so that it arrives
 *       second) the sender retransmits the MSG.
 *       The sender prints "accepted", "nack CODE" or "receipt" per
 *       answer until it has a RECEIPT (exit 0) or --timeout (exit 1).
 *   relayc twin EP KEY ROSTER GOFILE [options]
 *       two connections with the same key (two contexts), each saying
 *       HELLO with --credit and printing "up A"/"up B" once the relay
 *       answers a HEARTBEAT; never acknowledges anything.  Once GOFILE
 *       exists it prints "go" and sends HELLO every 0.2 s on both;
 *       prints "msg A|B <id>" for every MSG delivered, "down A|B" on a
 *       disconnection and "refused A|B" when a reconnect is refused;
 *       exits 0 at --timeout.
 * Output lines are for the scripts; everything else goes to stderr.
 * Exit: 0 done, 1 error or timeout, 3 handshake refused, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "envelope.h"
#include "ferry.h"
#include "ident.h"
#include "note.h"
#include "roster.h"

#define DAY (24ULL * 3600 * 1000)

static int count = 1, credit = 16, stop_after = -1, want_receipts = 0;
static int no_receipts = 0;
static double receipt_delay = 0;
static double every_s = 0;
static int hello_flood = 0;
static int drop_first = 0;
static size_t size = 64;
static double timeout_s = 30;
static const char *marker = "FERRY-TEST";
static const char *mode = "normal";
static const char *outsider = NULL;

static void
die(const char *what, int rc)
{

	fprintf(stderr, "relayc: %s: %s\n", what, rc ? ferry_strerror(rc) :
	    strerror(errno));
	exit(1);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static void
hex16(char out[33], const uint8_t id[16])
{

	ferry_hex(out, id, 16);
}

/* ---- mknet / revoke ---- */

static struct ident *
mkid(const char *dir, const char *id, uint32_t kind)
{
	struct ident *i;
	char path[1024];
	int rc;

	if ((rc = ident_generate(id, kind, id, ferry_now_ms(), 365 * DAY,
	    &i)) != 0)
		die("ident_generate", rc);
	snprintf(path, sizeof(path), "%s/keys/%s.key", dir, id);
	if ((rc = ident_save(i, path, NULL)) != 0)
		die(path, rc);
	return (i);
}

static void
add_req(struct roster *r, struct ident *i, int which)
{
	uint8_t *req;
	size_t len;
	int rc;

	if ((rc = roster_request_make(i, ferry_now_ms(), &req, &len)) != 0)
		die("request", rc);
	if (which == 0)
		rc = roster_admin_add(r, req, len);
	else if (which == 1)
		rc = roster_relay_set(r, req, len, NULL);
	else
		rc = roster_agency_add(r, req, len);
	free(req);
	if (rc != 0)
		die("roster add", rc);
}

static void
write_roster(struct roster *r, const char *path)
{
	const uint8_t *b;
	size_t n;
	int rc;

	if ((rc = roster_bytes(r, &b, &n)) != 0 ||
	    (rc = ferry_write_file(path, b, n, 0644)) != 0)
		die(path, rc);
}

static int
cmd_mknet(int argc, char **argv)
{
	struct roster *r;
	struct ident *adm[3], *x;
	char path[1024], fp[IDENT_FP_LEN], name[32];
	const char *dir = argv[0];
	int i, rc;
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys", dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		die(dir, 0);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		die(path, 0);
	if ((rc = roster_new(ferry_now_ms(), ferry_now_ms() + 365 * DAY,
	    &r)) != 0)
		die("roster_new", rc);
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "admin-%d", i + 1);
		adm[i] = mkid(dir, name, IDENT_ADMIN);
		add_req(r, adm[i], 0);
	}
	if ((rc = roster_set_threshold(r, 2)) != 0)
		die("threshold", rc);
	x = mkid(dir, argv[1], IDENT_RELAY);
	add_req(r, x, 1);
	ident_free(x);
	for (i = 2; i < argc; i++) {
		x = mkid(dir, argv[i], IDENT_POLICE);
		add_req(r, x, 2);
		ident_free(x);
	}
	if (outsider != NULL)
		ident_free(mkid(dir, outsider, IDENT_CHARITY));
	if ((rc = roster_seal(r)) != 0 ||
	    (rc = roster_sign(r, adm[0]->sign_sk)) != 0 ||
	    (rc = roster_sign(r, adm[1]->sign_sk)) != 0)
		die("sign", rc);
	snprintf(path, sizeof(path), "%s/roster", dir);
	write_roster(r, path);
	roster_fingerprint(r, fp);
	snprintf(path, sizeof(path), "%s/roster.pin", dir);
	if ((f = fopen(path, "w")) == NULL || fprintf(f, "%s\n", fp) < 0 ||
	    fclose(f) != 0)
		die(path, 0);
	for (i = 0; i < 3; i++)
		ident_free(adm[i]);
	roster_free(r);
	return (0);
}

static struct roster *
load_roster(const char *path)
{
	struct roster *r;
	uint8_t *b;
	size_t n;
	int rc;

	if ((rc = ferry_read_file(path, ROSTER_MAX_BYTES, &b, &n, 0)) != 0)
		die(path, rc);
	if ((rc = roster_parse(b, n, &r)) != 0)
		die(path, rc);
	free(b);
	return (r);
}

static int
cmd_revoke(int argc, char **argv)
{
	struct roster *r, *nx;
	struct ident *a;
	char path[1024];
	int i, rc;

	(void)argc;
	r = load_roster(argv[1]);
	if ((rc = roster_next(r, ferry_now_ms(), ferry_now_ms() + 365 * DAY,
	    &nx)) != 0 || (rc = roster_agency_revoke(nx, argv[2])) != 0 ||
	    (rc = roster_seal(nx)) != 0)
		die("revoke", rc);
	for (i = 1; i <= 2; i++) {
		snprintf(path, sizeof(path), "%s/keys/admin-%d.key", argv[0], i);
		if ((rc = ident_load(path, NULL, &a)) != 0)
			die(path, rc);
		if ((rc = roster_sign(nx, a->sign_sk)) != 0)
			die("sign", rc);
		ident_free(a);
	}
	write_roster(nx, argv[3]);
	roster_free(r);
	roster_free(nx);
	return (0);
}

/* ---- the client ---- */

struct cli {
	void *ctx, *sock, *mon;
	struct ident *me;
	struct roster *ro;
	uint64_t fake_log;
};

static void
cli_open(struct cli *c, const char *ep, const char *key, const char *ros)
{
	int rc, linger = 3000, ivl = 100;

	memset(c, 0, sizeof(*c));
	if ((rc = ident_load(key, NULL, &c->me)) != 0)
		die(key, rc);
	c->ro = load_roster(ros);
	if ((c->ctx = zmq_ctx_new()) == NULL ||
	    (c->sock = zmq_socket(c->ctx, ZMQ_DEALER)) == NULL)
		die("zmq", 0);
	if (zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)) ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->ro->relays[0].curve_pk,
	    32) ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->me->curve_pk, 32) ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->me->curve_sk, 32))
		die("setsockopt", 0);
	if (zmq_socket_monitor(c->sock, "inproc://relayc-mon",
	    ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
	    (c->mon = zmq_socket(c->ctx, ZMQ_PAIR)) == NULL ||
	    zmq_connect(c->mon, "inproc://relayc-mon") != 0)
		die("monitor", 0);
	if (zmq_connect(c->sock, ep) != 0)
		die(ep, 0);
}

static void
cli_close(struct cli *c)
{

	zmq_close(c->mon);
	zmq_close(c->sock);
	zmq_ctx_term(c->ctx);
	ident_free(c->me);
	roster_free(c->ro);
}

static void
cli_send_env(struct cli *c, struct env *e)
{
	uint8_t *b;
	size_t n;
	int rc;

	e->version = ENV_VERSION;
	env_new_id(e->id);
	snprintf(e->from, sizeof(e->from), "%s", c->me->id);
	snprintf(e->to, sizeof(e->to), "%s", c->ro->relays[0].id);
	e->time = ferry_now_ms();
	if ((rc = env_encode(e, c->me->sign_sk, &b, &n)) != 0)
		die("env_encode", rc);
	if (zmq_send(c->sock, b, n, 0) < 0)
		die("send", 0);
	free(b);
}

static void
cli_hello(struct cli *c)
{
	struct env e;

	memset(&e, 0, sizeof(e));
	e.type = ENV_HELLO;
	e.roster_version = c->ro->version;
	e.credit = (uint64_t)credit;
	cli_send_env(c, &e);
}

/*
 * Wait for one message up to the deadline; *buf malloc'd.  Returns 1 got,
 * 0 timeout; exits 3 if the handshake was refused.
 */
static int
cli_recv(struct cli *c, double deadline, uint8_t **buf, size_t *len)
{
	zmq_pollitem_t pi[2];
	zmq_msg_t m;
	double left;
	int rc;

	for (;;) {
		left = deadline - now_s();
		if (left <= 0)
			return (0);
		pi[0].socket = c->sock;
		pi[0].events = ZMQ_POLLIN;
		pi[1].socket = c->mon;
		pi[1].events = ZMQ_POLLIN;
		rc = zmq_poll(pi, 2, (long)(left * 1000) + 1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			die("poll", 0);
		if (pi[1].revents & ZMQ_POLLIN) {
			printf("handshake-refused\n");
			fflush(stdout);
			exit(3);
		}
		if (pi[0].revents & ZMQ_POLLIN)
			break;
	}
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, c->sock, 0) < 0)
		die("recv", 0);
	*len = zmq_msg_size(&m);
	if ((*buf = malloc(*len + 1)) == NULL)
		die("malloc", FERRY_ENOMEM);
	memcpy(*buf, zmq_msg_data(&m), *len);
	zmq_msg_close(&m);
	return (1);
}

/*
 * A checkpoint note of ${me}'s log (origin ferry/<id>) at tree size
 * ${tsize} with a random root and, if ${ext} > 0, an extension line of
 * ${ext} bytes; signed as note_sign_checkpoint does.  *${out} malloc'd.
 */
static void
make_note(const struct ident *me, uint64_t tsize, size_t ext, uint8_t **out,
    size_t *len)
{
	char origin[FERRY_ID_MAX + 8];
	char b64r[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	char b64s[sodium_base64_ENCODED_LEN(68, sodium_base64_VARIANT_ORIGINAL)];
	uint8_t root[32], sig[4 + crypto_sign_BYTES], *b;
	size_t cap = ext + 1024, n;

	if ((b = malloc(cap)) == NULL)
		die("malloc", FERRY_ENOMEM);
	snprintf(origin, sizeof(origin), "ferry/%s", me->id);
	randombytes_buf(root, sizeof(root));
	sodium_bin2base64(b64r, sizeof(b64r), root, sizeof(root),
	    sodium_base64_VARIANT_ORIGINAL);
	n = (size_t)snprintf((char *)b, cap, "%s\n%llu\n%s\n", origin,
	    (unsigned long long)tsize, b64r);
	if (ext > 0) {
		memset(b + n, 'x', ext);
		n += ext;
		b[n++] = '\n';
	}
	note_keyid(origin, NOTE_TYPE_ED25519, me->sign_pk, sig);
	if (crypto_sign_detached(sig + 4, NULL, b, n, me->sign_sk) != 0)
		die("sign", FERRY_ESODIUM);
	sodium_bin2base64(b64s, sizeof(b64s), sig, sizeof(sig),
	    sodium_base64_VARIANT_ORIGINAL);
	n += (size_t)snprintf((char *)b + n, cap - n, "\n\xe2\x80\x94 %s %s\n",
	    origin, b64s);
	*out = b;
	*len = n;
}

/*
 * --mode checkpoint-flood / checkpoint: --count CHECKPOINTs of our own
 * log, then a HEARTBEAT; returns once the relay answered it (the relay
 * reads one connection in order, so it has read every CHECKPOINT).
 */
static int
send_checkpoints(struct cli *c, int flood)
{
	struct env e;
	uint8_t *note, *b;
	size_t n, blen;
	double deadline;
	int i, up = 0;

	for (i = 0; i < count; i++) {
		if (i > 0 && every_s > 0) {
			struct timespec ts;

			ts.tv_sec = (time_t)every_s;
			ts.tv_nsec = (long)((every_s - (double)ts.tv_sec) * 1e9);
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
		}
		make_note(c->me, (uint64_t)i + 1, flood && i % 2 == 1 ?
		    3584 : 0, &note, &n);
		memset(&e, 0, sizeof(e));
		e.type = ENV_CHECKPOINT;
		e.blob = note;
		e.blob_len = n;
		cli_send_env(c, &e);
		free(note);
	}
	memset(&e, 0, sizeof(e));
	e.type = ENV_HEARTBEAT;
	cli_send_env(c, &e);
	deadline = now_s() + timeout_s;
	while (!up && cli_recv(c, deadline, &b, &blen) == 1) {
		up = env_decode(b, blen, 0, &e) == 0 &&
		    e.type == ENV_HEARTBEAT;
		free(b);
	}
	if (!up) {
		fprintf(stderr, "relayc: no HEARTBEAT answer\n");
		return (1);
	}
	printf("sent %d\n", count);
	return (0);
}

struct sent {
	uint8_t id[16];
	int i, answered, receipted;
};

static int
find_sent(struct sent *s, int n, const uint8_t id[16])
{
	int i;

	for (i = 0; i < n; i++)
		if (memcmp(s[i].id, id, 16) == 0)
			return (i);
	return (-1);
}

static int
cmd_send(int argc, char **argv)
{
	struct cli c;
	struct sent *s;
	const char *to = argv[3];
	uint8_t *content, *b, *env, key[32], rpk[32];
	size_t n, elen;
	uint32_t kid;
	double deadline;
	char idh[33];
	int i, k, rc, answered = 0, receipts = 0, nsent = 0, expect;
	struct env e;

	(void)argc;
	cli_open(&c, argv[0], argv[1], argv[2]);
	cli_hello(&c);
	if (strcmp(mode, "checkpoint-garbage") == 0) {
		/* --count CHECKPOINTs whose note is not a note; no answer. */
		for (i = 0; i < count; i++) {
			memset(&e, 0, sizeof(e));
			e.type = ENV_CHECKPOINT;
			e.blob = (const uint8_t *)"not a checkpoint note\n";
			e.blob_len = 22;
			cli_send_env(&c, &e);
		}
		printf("sent %d\n", count);
		cli_close(&c);
		return (0);
	}
	if (strcmp(mode, "checkpoint-flood") == 0 ||
	    strcmp(mode, "checkpoint") == 0) {
		rc = send_checkpoints(&c, strcmp(mode, "checkpoint") != 0);
		cli_close(&c);
		return (rc);
	}
	if ((s = calloc((size_t)count, sizeof(*s))) == NULL ||
	    (content = calloc(1, size + 64)) == NULL)
		die("calloc", FERRY_ENOMEM);
	if (strcmp(mode, "badto") == 0)
		to = "nobody-here";
	if (roster_enc_key_for_sending(c.ro, strcmp(mode, "badto") == 0 ?
	    c.me->id : to, ferry_now_ms(), &kid, rpk) != 0) {
		/* Unknown/revoked recipient: seal to ourselves instead. */
		memcpy(rpk, c.me->enc[0].pk, 32);
		kid = c.me->enc[0].key_id;
	}
	/* An insider sealing to a key id the recipient never had. */
	if (strcmp(mode, "badkey") == 0)
		kid = 999;
	for (i = 0; i < count; i++) {
		struct ident *signer = c.me;
		char saved[FERRY_ID_MAX + 1];

		memset(content, ' ', size);
		n = (size_t)snprintf((char *)content, size + 64, "%s %d", marker,
		    i + 1);
		if (n < size)
			content[n] = ' ';
		n = n > size ? n : size;
		if (strncmp(mode, "spoof:", 6) == 0) {
			memcpy(saved, signer->id, sizeof(saved));
			snprintf(signer->id, sizeof(signer->id), "%s", mode + 6);
		}
		rc = env_seal(signer, to, rpk, kid, content, n, NULL,
		    ferry_now_ms(), key, s[i].id, &env, &elen);
		if (strncmp(mode, "spoof:", 6) == 0)
			memcpy(signer->id, saved, sizeof(saved));
		if (rc != 0)
			die("env_seal", rc);
		s[i].i = i + 1;
		if (strcmp(mode, "tamper") == 0)
			env[elen - 1] ^= 1;
		if (strcmp(mode, "garbage") == 0) {
			memset(env, 0xc1, elen > 64 ? 64 : elen);
			elen = elen > 64 ? 64 : elen;
		}
		if (strcmp(mode, "empty") == 0)
			elen = 0;
		if (strcmp(mode, "huge") == 0) {
			/* One frame over the relay's ZMQ_MAXMSGSIZE. */
			free(env);
			elen = 12u << 20;
			if ((env = calloc(1, elen)) == NULL)
				die("calloc", FERRY_ENOMEM);
		}
		if (strcmp(mode, "frames") == 0) {
			for (k = 0; k < 3; k++)
				if (zmq_send(c.sock, env, elen, ZMQ_SNDMORE) < 0)
					die("send", 0);
		}
		if (zmq_send(c.sock, env, elen, 0) < 0)
			die("send", 0);
		if (strcmp(mode, "dup") == 0 && zmq_send(c.sock, env, elen, 0) < 0)
			die("send", 0);
		free(env);
		nsent++;
	}
	expect = strcmp(mode, "dup") == 0 ? 2 * nsent : nsent;
	deadline = now_s() + timeout_s;
	while (answered < expect || (want_receipts && receipts < nsent)) {
		if (!cli_recv(&c, deadline, &b, &n)) {
			printf("timeout answered=%d receipts=%d\n", answered,
			    receipts);
			fflush(stdout);
			exit(1);
		}
		if ((rc = env_decode(b, n, 0, &e)) != 0) {
			fprintf(stderr, "relayc: bad envelope from relay: %s\n",
			    ferry_strerror(rc));
			free(b);
			continue;
		}
		k = find_sent(s, nsent, e.msg_id);
		hex16(idh, e.msg_id);
		if (e.type == ENV_ACCEPTED || e.type == ENV_NACK ||
		    e.type == ENV_ACCEPTED_P) {
			uint8_t rpk2[32];

			if (roster_sender_key(c.ro, e.from, rpk2) != 0 ||
			    (e.type == ENV_ACCEPTED_P ?
			    env_verify_proof(&e, rpk2, NULL) :
			    env_verify(&e, rpk2)) != 0)
				die("relay signature", FERRY_EBADSIG);
		}
		if (e.type == ENV_ACCEPTED || e.type == ENV_ACCEPTED_P) {
			printf("accepted %s %d\n", idh, k >= 0 ? s[k].i : -1);
			if (k >= 0)
				answered++;
		} else if (e.type == ENV_NACK) {
			printf("nack %s %s %d\n", ferry_errname(-(int)e.code),
			    idh, k >= 0 ? s[k].i : -1);
			answered++;	/* k < 0: undecodable bytes */
		} else if (e.type == ENV_RECEIPT || e.type == ENV_RECEIPT_P) {
			printf("receipt %s %d\n", idh, k >= 0 ? s[k].i : -1);
			if (k >= 0 && !s[k].receipted) {
				s[k].receipted = 1;
				receipts++;
			}
		} else
			printf("got %s\n", env_type_name(e.type));
		fflush(stdout);
		free(b);
	}
	free(s);
	free(content);
	cli_close(&c);
	return (0);
}

static int
cmd_recv(int argc, char **argv)
{
	struct cli c;
	uint8_t *b, *content, spk[32], (*seen)[16];
	size_t n, clen;
	double deadline;
	char idh[33];
	int got = 0, nseen = 0, i, dup, rc;
	struct env e;

	(void)argc;
	cli_open(&c, argv[0], argv[1], argv[2]);
	cli_hello(&c);
	if ((seen = calloc((size_t)count + 1, 16)) == NULL)
		die("calloc", FERRY_ENOMEM);
	deadline = now_s() + timeout_s;
	while (got < count) {
		if (!cli_recv(&c, deadline, &b, &n)) {
			printf("timeout got=%d\n", got);
			fflush(stdout);
			exit(no_receipts ? 0 : 1);
		}
		if ((rc = env_decode(b, n, 0, &e)) != 0) {
			fprintf(stderr, "relayc: bad envelope: %s\n",
			    ferry_strerror(rc));
			free(b);
			continue;
		}
		if (e.type == ENV_ROSTER) {
			struct roster *pr;

			if ((rc = roster_parse(e.blob, e.blob_len, &pr)) != 0)
				die("pushed roster", rc);
			printf("roster %llu\n", (unsigned long long)pr->version);
			roster_free(pr);
		} else if (e.type == ENV_MSG && drop_first == 1) {
			drop_first = 2;		/* lost, silently */
		} else if (e.type == ENV_MSG) {
			if ((rc = roster_sender_key(c.ro, e.from, spk)) != 0 ||
			    (rc = env_open(b, n, 0, spk, c.me, &e, &content,
			    &clen)) != 0)
				die("env_open", rc);
			hex16(idh, e.id);
			for (dup = 0, i = 0; i < nseen; i++)
				if (memcmp(seen[i], e.id, 16) == 0)
					dup = 1;
			if (dup) {
				printf("dup %s\n", idh);
			} else {
				char *sp;

				content[clen > 200 ? 200 : clen - 1] = '\0';
				/* "MARKER i" then padding spaces. */
				if ((sp = strchr((char *)content, ' ')) != NULL &&
				    (sp = strchr(sp + 1, ' ')) != NULL)
					*sp = '\0';
				printf("msg %s %s\n", idh, content);
				memcpy(seen[nseen++], e.id, 16);
				got++;
			}
			free(content);
			if (hello_flood > 0 && got == 1 && !dup) {
				struct env h;
				int k;

				for (k = 0; k < hello_flood; k++) {
					memset(&h, 0, sizeof(h));
					h.type = ENV_HELLO;
					h.roster_version = 0;
					h.credit = (uint64_t)credit;
					cli_send_env(&c, &h);
				}
			}
			if (stop_after >= 0 && got > stop_after) {
				fflush(stdout);
				free(b);
				break;
			}
			if (!no_receipts && receipt_delay > 0) {
				struct timespec ts;

				ts.tv_sec = (time_t)receipt_delay;
				ts.tv_nsec = (long)((receipt_delay -
				    (double)ts.tv_sec) * 1e9);
				while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
					;
			}
			if (!no_receipts) {
				struct env r;
				uint8_t *rb;
				size_t rn;

				memset(&r, 0, sizeof(r));
				r.version = ENV_VERSION;
				r.type = ENV_RECEIPT;
				env_new_id(r.id);
				snprintf(r.from, sizeof(r.from), "%s", c.me->id);
				snprintf(r.to, sizeof(r.to), "%s", e.from);
				r.time = ferry_now_ms();
				memcpy(r.msg_id, e.id, 16);
				env_hash(b, n, r.env_hash);
				r.log_index = c.fake_log++;
				r.roster_version = c.ro->version;
				r.blob = (const uint8_t *)"relayc\n";
				r.blob_len = 7;
				if ((rc = env_encode(&r, c.me->sign_sk, &rb,
				    &rn)) != 0)
					die("receipt", rc);
				if (zmq_send(c.sock, rb, rn, 0) < 0)
					die("send", 0);
				free(rb);
			}
		} else {
			printf("got %s\n", env_type_name(e.type));
		}
		fflush(stdout);
		free(b);
	}
	free(seen);
	cli_close(&c);
	return (0);
}

/* ---- race: a retransmission in the batch of its RECEIPT (H3b) ---- */

static int
race_wait(struct cli *c, uint32_t type, double deadline, uint8_t **buf,
    size_t *len, struct env *e)
{

	while (cli_recv(c, deadline, buf, len)) {
		if (env_decode(*buf, *len, 0, e) == 0 && e->type == type)
			return (1);
		free(*buf);
	}
	return (0);
}

static int
cmd_race(int argc, char **argv)
{
	struct cli s, r;
	struct env e;
	uint8_t *env, *b, key[32], rpk[32], id[16], *rb;
	size_t elen, n, rn;
	uint32_t kid;
	double deadline;
	int rc, done = 0;
	const char *content = "RACE 1";

	(void)argc;
	cli_open(&s, argv[0], argv[1], argv[3]);
	cli_hello(&s);
	r.ctx = NULL;
	{
		/* The recipient: its own context (cli_open's monitor name). */
		struct ident *ri;

		if ((rc = ident_load(argv[2], NULL, &ri)) != 0)
			die(argv[2], rc);
		if ((rc = roster_enc_key_for_sending(s.ro, ri->id,
		    ferry_now_ms(), &kid, rpk)) != 0)
			die("recipient key", rc);
		if ((rc = env_seal(s.me, ri->id, rpk, kid,
		    (const uint8_t *)content, strlen(content), NULL,
		    ferry_now_ms(), key, id, &env, &elen)) != 0)
			die("env_seal", rc);
		ident_free(ri);
	}
	deadline = now_s() + timeout_s;
	if (zmq_send(s.sock, env, elen, 0) < 0)
		die("send", 0);
	if (!race_wait(&s, ENV_ACCEPTED_P, deadline, &b, &n, &e))
		die("no ACCEPTED", FERRY_ETIMEOUT);
	printf("accepted\n");
	free(b);
	cli_open(&r, argv[0], argv[2], argv[3]);
	cli_hello(&r);
	if (!race_wait(&r, ENV_MSG, deadline, &b, &n, &e))
		die("no MSG", FERRY_ETIMEOUT);
	{
		struct env re;

		memset(&re, 0, sizeof(re));
		re.version = ENV_VERSION;
		re.type = ENV_RECEIPT;
		env_new_id(re.id);
		snprintf(re.from, sizeof(re.from), "%s", r.me->id);
		snprintf(re.to, sizeof(re.to), "%s", s.me->id);
		re.time = ferry_now_ms();
		memcpy(re.msg_id, id, 16);
		env_hash(b, n, re.env_hash);
		re.log_index = 1;
		re.roster_version = r.ro->version;
		re.blob = (const uint8_t *)"relayc\n";
		re.blob_len = 7;
		if ((rc = env_encode(&re, r.me->sign_sk, &rb, &rn)) != 0)
			die("receipt", rc);
	}
	free(b);
	/* Back to back: the RECEIPT, then the retransmission. */
	if (zmq_send(r.sock, rb, rn, 0) < 0)
		die("send", 0);
	{
		struct timespec ts = { 0, 50 * 1000000L };	/* in order */

		(void)nanosleep(&ts, NULL);
	}
	if (zmq_send(s.sock, env, elen, 0) < 0)
		die("send", 0);
	free(rb);
	free(env);
	while (!done && cli_recv(&s, deadline, &b, &n)) {
		if (env_decode(b, n, 0, &e) == 0) {
			if (e.type == ENV_ACCEPTED || e.type == ENV_ACCEPTED_P)
				printf("accepted\n");
			else if (e.type == ENV_NACK)
				printf("nack %s\n",
				    ferry_errname(-(int)e.code));
			else if (e.type == ENV_RECEIPT ||
			    e.type == ENV_RECEIPT_P) {
				printf("receipt\n");
				done = 1;
			}
		}
		free(b);
	}
	/* Collect what else comes for a moment (both answers). */
	deadline = now_s() + 1;
	while (done && cli_recv(&s, deadline, &b, &n)) {
		if (env_decode(b, n, 0, &e) == 0)
			printf("%s%s\n", e.type == ENV_NACK ? "nack " :
			    env_type_name(e.type), e.type == ENV_NACK ?
			    ferry_errname(-(int)e.code) : "");
		free(b);
	}
	fflush(stdout);
	cli_close(&r);
	cli_close(&s);
	return (done ? 0 : 1);
}

/* ---- twin: two connections with one key (C1) ---- */

static void
twin_open(struct cli *c, const char *ep, const char *key, const char *ros,
    const char *mon)
{
	int rc, linger = 0, ivl = 100;

	memset(c, 0, sizeof(*c));
	if ((rc = ident_load(key, NULL, &c->me)) != 0)
		die(key, rc);
	c->ro = load_roster(ros);
	if ((c->ctx = zmq_ctx_new()) == NULL ||
	    (c->sock = zmq_socket(c->ctx, ZMQ_DEALER)) == NULL)
		die("zmq", 0);
	if (zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)) ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->ro->relays[0].curve_pk,
	    32) ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->me->curve_pk, 32) ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->me->curve_sk, 32))
		die("setsockopt", 0);
	if (zmq_socket_monitor(c->sock, mon, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
	    ZMQ_EVENT_DISCONNECTED) != 0 ||
	    (c->mon = zmq_socket(c->ctx, ZMQ_PAIR)) == NULL ||
	    zmq_setsockopt(c->mon, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_connect(c->mon, mon) != 0)
		die("monitor", 0);
	if (zmq_connect(c->sock, ep) != 0)
		die(ep, 0);
}

static void
twin_send(struct cli *c, uint32_t type, uint64_t cr)
{
	struct env e;
	uint8_t *b;
	size_t n;
	int rc;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.roster_version = c->ro->version;
	e.credit = cr;
	e.version = ENV_VERSION;
	env_new_id(e.id);
	snprintf(e.from, sizeof(e.from), "%s", c->me->id);
	snprintf(e.to, sizeof(e.to), "%s", c->ro->relays[0].id);
	e.time = ferry_now_ms();
	if ((rc = env_encode(&e, c->me->sign_sk, &b, &n)) != 0)
		die("env_encode", rc);
	(void)zmq_send(c->sock, b, n, ZMQ_DONTWAIT);
	free(b);
}

static int
cmd_twin(int argc, char **argv)
{
	struct cli c[2];
	const char *name = "AB";
	zmq_pollitem_t pi[4];
	double deadline, next = 0;
	int i, up[2] = { 0, 0 }, go = 0, rc;
	struct env e;

	(void)argc;
	twin_open(&c[0], argv[0], argv[1], argv[2], "inproc://twin-a");
	twin_open(&c[1], argv[0], argv[1], argv[2], "inproc://twin-b");
	deadline = now_s() + timeout_s;
	while (now_s() < deadline) {
		if (!go && access(argv[3], F_OK) == 0) {
			go = 1;
			printf("go\n");
		}
		if (now_s() >= next) {
			next = now_s() + 0.2;
			for (i = 0; i < 2; i++) {
				if (go)
					twin_send(&c[i], ENV_HELLO,
					    (uint64_t)credit);
				else if (!up[i]) {
					twin_send(&c[i], ENV_HELLO,
					    (uint64_t)credit);
					twin_send(&c[i], ENV_HEARTBEAT, 0);
				}
			}
		}
		for (i = 0; i < 2; i++) {
			pi[2 * i].socket = c[i].sock;
			pi[2 * i].events = ZMQ_POLLIN;
			pi[2 * i + 1].socket = c[i].mon;
			pi[2 * i + 1].events = ZMQ_POLLIN;
		}
		rc = zmq_poll(pi, 4, 50);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			die("poll", 0);
		for (i = 0; i < 2; i++) {
			zmq_msg_t m;

			if (pi[2 * i + 1].revents & ZMQ_POLLIN) {
				uint16_t ev = 0;

				zmq_msg_init(&m);
				if (zmq_msg_recv(&m, c[i].mon, 0) >= 0 &&
				    zmq_msg_size(&m) >= 2)
					memcpy(&ev, zmq_msg_data(&m), 2);
				if (zmq_msg_more(&m)) {
					zmq_msg_close(&m);
					zmq_msg_init(&m);
					(void)zmq_msg_recv(&m, c[i].mon, 0);
				}
				zmq_msg_close(&m);
				printf("%s %c\n", ev == ZMQ_EVENT_DISCONNECTED ?
				    "down" : "refused", name[i]);
			}
			if (pi[2 * i].revents & ZMQ_POLLIN) {
				zmq_msg_init(&m);
				if (zmq_msg_recv(&m, c[i].sock, 0) < 0)
					die("recv", 0);
				if (env_decode(zmq_msg_data(&m),
				    zmq_msg_size(&m), 0, &e) == 0) {
					char idh[33];

					if (e.type == ENV_HEARTBEAT && !up[i]) {
						up[i] = 1;
						printf("up %c\n", name[i]);
					} else if (e.type == ENV_MSG) {
						hex16(idh, e.id);
						printf("msg %c %s\n", name[i],
						    idh);
					}
				}
				zmq_msg_close(&m);
			}
		}
		fflush(stdout);
	}
	for (i = 0; i < 2; i++)
		cli_close(&c[i]);
	return (0);
}

static const struct option opts[] = {
	{ "count", required_argument, NULL, 'n' },
	{ "size", required_argument, NULL, 's' },
	{ "marker", required_argument, NULL, 'm' },
	{ "mode", required_argument, NULL, 'M' },
	{ "timeout", required_argument, NULL, 't' },
	{ "credit", required_argument, NULL, 'c' },
	{ "stop-after", required_argument, NULL, 'S' },
	{ "receipts", no_argument, NULL, 'R' },
	{ "no-receipts", no_argument, NULL, 'N' },
	{ "outsider", required_argument, NULL, 'o' },
	{ "receipt-delay", required_argument, NULL, 'D' },
	{ "hello-flood", required_argument, NULL, 'H' },
	{ "drop-first", no_argument, NULL, 'F' },
	{ "every", required_argument, NULL, 'E' },
	{ NULL, 0, NULL, 0 }
};

static void
usage(void)
{

	fprintf(stderr, "usage: relayc mknet DIR RELAY AGENCY... | revoke DIR "
	    "IN AGENCY OUT | send EP KEY ROSTER TO [opts] | recv EP KEY "
	    "ROSTER [opts]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *cmd;
	int ch;

	if (argc < 2)
		usage();
	cmd = argv[1];
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': count = (int)strtol(optarg, NULL, 10); break;
		case 's': size = (size_t)strtoul(optarg, NULL, 10); break;
		case 'm': marker = optarg; break;
		case 'M': mode = optarg; break;
		case 't': timeout_s = strtod(optarg, NULL); break;
		case 'c': credit = (int)strtol(optarg, NULL, 10); break;
		case 'S': stop_after = (int)strtol(optarg, NULL, 10); break;
		case 'R': want_receipts = 1; break;
		case 'N': no_receipts = 1; break;
		case 'o': outsider = optarg; break;
		case 'D': receipt_delay = strtod(optarg, NULL); break;
		case 'H': hello_flood = (int)strtol(optarg, NULL, 10); break;
		case 'F': drop_first = 1; break;
		case 'E': every_s = strtod(optarg, NULL); break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (count < 1 || size < 1 || credit < 0)
		usage();
	if (sodium_init() < 0)
		return (1);
	if (strcmp(cmd, "mknet") == 0 && argc >= 2)
		return (cmd_mknet(argc, argv));
	if (strcmp(cmd, "revoke") == 0 && argc == 4)
		return (cmd_revoke(argc, argv));
	if (strcmp(cmd, "send") == 0 && argc == 4)
		return (cmd_send(argc, argv));
	if (strcmp(cmd, "recv") == 0 && argc == 3)
		return (cmd_recv(argc, argv));
	if (strcmp(cmd, "race") == 0 && argc == 4)
		return (cmd_race(argc, argv));
	if (strcmp(cmd, "twin") == 0 && argc == 4)
		return (cmd_twin(argc, argv));
	usage();
	return (2);
}
