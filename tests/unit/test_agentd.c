/*
 * test_agentd.c: the agent core (agent/agentd.c) without sockets: two
 * agents and a fake relay in one process, frames handed over by hand.
 * Outgoing path, ACCEPTED / RECEIPT / NACK handling (forged ones ignored),
 * incoming path: verify, decrypt, de-duplicate (same receipt again),
 * refuse tampered, misaddressed or unparseable messages with a NACK and
 * never store them; the sender rereads its own message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "../lib/harness.h"
#include "../lib/tproof.h"
#include "../lib/troster.h"
#include "agentd.h"
#include "agentd_int.h"
#include "envelope.h"
#include "note.h"
#include "pending.h"
#include "referral.h"
#include "roster.h"

#define DAY (24ULL * 3600 * 1000)

static struct ident *admin, *relay, *alpha, *bravo, *charlie;
static char dir[512], pin[65];
static struct agentd A, B;

/* Frames each agent handed to its "socket". */
struct cap {
	uint8_t *buf[16];
	size_t len[16];
	int link[16];		/* the relay link each went to */
	size_t n;
};
static struct cap capA, capB;

static int
capture(void *ctx, int link, const uint8_t *buf, size_t len)
{
	struct cap *c = ctx;

	if (c->n == 16)
		return (-1);
	if ((c->buf[c->n] = malloc(len)) == NULL)
		return (-1);
	memcpy(c->buf[c->n], buf, len);
	c->link[c->n] = link;
	c->len[c->n++] = len;
	return (0);
}

static void
cap_clear(struct cap *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->buf[i]);
	c->n = 0;
}

/* The last captured frame's type, or 0. */
static uint32_t
cap_type(struct cap *c, struct env *e)
{

	if (c->n == 0 || env_decode(c->buf[c->n - 1], c->len[c->n - 1], 0,
	    e) != 0)
		return (0);
	return (e->type);
}

static int
setup_net(void)
{
	const struct ident *ag[2];
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
	snprintf(path, sizeof(path), "%s/roster", dir);
	if (troster_write(path, admin, relay, ag, 2, pin) != 0)
		return (-1);
	snprintf(path, sizeof(path), "%s/alpha.key", dir);
	if (ident_save(alpha, path, NULL) != 0)
		return (-1);
	snprintf(path, sizeof(path), "%s/bravo.key", dir);
	if (ident_save(bravo, path, NULL) != 0)
		return (-1);
	return (0);
}

static int with_spool;	/* open_agent: with spool folders */

static int
open_agent(struct agentd *a, const char *id, struct cap *c)
{
	struct aconf conf;
	char err[AGENTD_ERR_MAX];
	int rc;

	aconf_defaults(&conf);
	/* Each test has agents of its own (with_agents): by pid. */
	snprintf(conf.data, sizeof(conf.data), "%s/%s-data-%ld", dir, id,
	    (long)getpid());
	if (with_spool)
		snprintf(conf.spool, sizeof(conf.spool), "%s/%s-spool-%ld",
		    dir, id, (long)getpid());
	snprintf(conf.key, sizeof(conf.key), "%s/%s.key", dir, id);
	snprintf(conf.roster, sizeof(conf.roster), "%s/roster", dir);
	snprintf(conf.roster_pin, sizeof(conf.roster_pin), "%s", pin);
	if ((rc = agentd_open(a, &conf, err, sizeof(err))) != 0) {
		fprintf(stderr, "# agentd_open %s: %s: %s\n", id, err,
		    ferry_strerror(rc));
		return (rc);
	}
	a->send = capture;
	a->send_ctx = c;
	agentd_link_up(a, 0, 1);
	a->cur_link = 0;
	return (0);
}

static char *
doc(size_t *len)
{
	char path[1024];
	const char *root = getenv("FERRY_ROOT");

	snprintf(path, sizeof(path), "%s/tests/vectors/referrals/"
	    "nrm-adult-labour.json", root ? root : ".");
	return ((char *)t_read_file(path, len));
}

/* A relay-signed answer (ACCEPTED or NACK) about message ${id}. */
static int
relay_answer(struct ident *signer, uint32_t type, const uint8_t id[16],
    const uint8_t hash[32], uint32_t code, uint8_t **out, size_t *len)
{
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
	e.log_index = 7;
	e.roster_version = 1;
	e.code = code;
	e.reason = "recipient unknown";
	e.reason_len = strlen(e.reason);
	return (env_encode(&e, signer->sign_sk, out, len));
}

static uint8_t sent_id[16], sent_hash[32], *sent_msg;
static size_t sent_len;

TEST(send_path)
{
	struct astore_out o;
	struct env e;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16];

	CHECK((json = doc(&len)) != NULL);
	/* Refusals store nothing. */
	CHECK_EQ(agentd_submit(&A, "bravo", "{", 1, NULL, NULL, id, err,
	    sizeof(err)), FERRY_EJSON);
	CHECK_EQ(agentd_submit(&A, "nobody", json, len, NULL, NULL, id, err,
	    sizeof(err)), FERRY_ERECIPIENT);
	CHECK(strstr(err, "to: nobody") != NULL);
	CHECK_EQ(capA.n, 0);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, sent_id,
	    err, sizeof(err)), 0);
	free(json);
	CHECK_EQ(capA.n, 1);
	CHECK_EQ(cap_type(&capA, &e), ENV_MSG);
	CHECK(memcmp(e.id, sent_id, 16) == 0);
	sent_msg = capA.buf[0];
	sent_len = capA.len[0];
	capA.n = 0;
	env_hash(sent_msg, sent_len, sent_hash);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK(memcmp(o.env_hash, sent_hash, 32) == 0);
	CHECK_EQ(log_size(A.log), 1);
}

TEST(accepted)
{
	send_path();	/* the story so far, in this test's own agents */
	if (t_failed_now)
		return;
	struct astore_out o;
	uint8_t *b, badhash[32];
	size_t n;

	/* Signed by an agency, not the relay: ignored. */
	CHECK_EQ(relay_answer(bravo, ENV_ACCEPTED, sent_id, sent_hash, 0, &b,
	    &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	/* The relay's, but naming other bytes: ignored. */
	memcpy(badhash, sent_hash, 32);
	badhash[0] ^= 1;
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, sent_id, badhash, 0, &b,
	    &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	/* The real one. */
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, sent_id, sent_hash, 0, &b,
	    &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);	/* idempotent */
	free(b);
	CHECK_EQ(agentd_defer_flush(&A), 0);	/* custody committed */
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	CHECK_EQ(o.relay_index, 7);
	CHECK_EQ(log_size(A.log), 2);
}

/*
 * ${signer}'s ACCEPTED_P of (${id}, ${hash}), sent by alpha to bravo, as
 * the relay makes it (entry 1 of a batch of two, the first an unrelated
 * message); ${tamper}: its last path byte flipped.
 */
static int
accepted_p(struct ident *signer, const uint8_t id[16],
    const uint8_t hash[32], int tamper, uint8_t **out, size_t *len)
{
	uint8_t ids[2][16], hashes[2][32], *b[2] = { NULL, NULL };
	size_t l[2];
	int rc;

	memset(ids[0], 0x5a, 16);
	memset(hashes[0], 0x5b, 32);
	memcpy(ids[1], id, 16);
	memcpy(hashes[1], hash, 32);
	rc = tproof_receipts(signer, ENV_ACCEPTED_P, 2,
	    (const uint8_t (*)[16])ids, (const uint8_t (*)[32])hashes, "alpha",
	    "bravo", dir, b, l);
	free(b[0]);
	if (rc != 0) {
		free(b[1]);
		return (rc);
	}
	if (tamper)
		b[1][l[1] - 1] ^= 1;
	*out = b[1];
	*len = l[1];
	return (0);
}

/*
 * The relay's custody receipt by proof (ACCEPTED_P): one by an agency,
 * or with a tampered path, is ignored; the relay's own is taken (the
 * message ACCEPTED, its relay index kept) and logged whole as the
 * LOG_ACCEPTED entry's aux.
 */
TEST(accepted_by_proof)
{
	struct astore_out o;
	struct log_entry le;
	struct env e;
	uint64_t idx;
	uint8_t *b;
	size_t n;

	send_path();
	if (t_failed_now)
		return;
	CHECK_EQ(accepted_p(bravo, sent_id, sent_hash, 0, &b, &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK_EQ(accepted_p(relay, sent_id, sent_hash, 1, &b, &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK_EQ(accepted_p(relay, sent_id, sent_hash, 0, &b, &n), 0);
	CHECK_EQ(agentd_receive(&A, b, n), 0);
	CHECK_EQ(agentd_defer_flush(&A), 0);	/* custody committed */
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	CHECK_EQ(o.relay_index, 1);
	CHECK_EQ(log_find_msg(A.log, sent_id, LOG_ACCEPTED, &idx), 0);
	CHECK_EQ(log_get(A.log, idx, &le), 0);
	CHECK(le.aux_len == n && memcmp(le.aux, b, n) == 0);
	CHECK_EQ(env_decode(le.aux, le.aux_len, 0, &e), 0);
	CHECK_EQ(e.type, ENV_ACCEPTED_P);
	log_entry_clear(&le);
	free(b);
}

static uint8_t *receipt;
static size_t receipt_len;

TEST(receive_and_duplicate)
{
	struct astore_in in;
	struct env e;
	char dirc, *json;

	accepted();
	if (t_failed_now)
		return;
	CHECK_EQ(agentd_receive(&B, sent_msg, sent_len), 0);
	CHECK_EQ(capB.n, 1);
	CHECK_EQ(cap_type(&capB, &e), ENV_RECEIPT_P);
	CHECK(memcmp(e.msg_id, sent_id, 16) == 0);
	CHECK(memcmp(e.env_hash, sent_hash, 32) == 0);
	CHECK_EQ(env_verify_proof(&e, bravo->sign_pk, NULL), 0);
	CHECK(e.blob_len > 0);
	receipt = capB.buf[0];
	receipt_len = capB.len[0];
	capB.n = 0;
	CHECK_EQ(astore_get_in(B.store, sent_id, &in), 0);
	CHECK(strcmp(in.from, "alpha") == 0);
	astore_in_clear(&in);
	/* The same bytes again: the very same receipt, nothing new stored. */
	CHECK_EQ(agentd_receive(&B, sent_msg, sent_len), 0);
	CHECK_EQ(capB.n, 1);
	CHECK_EQ(capB.len[0], receipt_len);
	CHECK(memcmp(capB.buf[0], receipt, receipt_len) == 0);
	cap_clear(&capB);
	CHECK_EQ(B.n_received, 1);
	CHECK_EQ(B.n_duplicates, 1);
	/* The recipient reads it; so does the sender, from its own copy. */
	CHECK_EQ(agentd_content(&B, sent_id, &dirc, &json), 0);
	CHECK_EQ(dirc, 'i');
	CHECK(strstr(json, "ferry-referral/1") != NULL);
	free(json);
	CHECK_EQ(agentd_content(&A, sent_id, &dirc, &json), 0);
	CHECK_EQ(dirc, 'o');
	CHECK(strstr(json, "ferry-referral/1") != NULL);
	free(json);
}

TEST(receipt_delivers)
{
	struct astore_out o;
	uint8_t *forged;

	receive_and_duplicate();
	if (t_failed_now)
		return;
	/* A receipt whose bytes were altered does not verify: ignored. */
	CHECK((forged = malloc(receipt_len)) != NULL);
	memcpy(forged, receipt, receipt_len);
	forged[receipt_len - 1] ^= 1;
	CHECK_EQ(agentd_receive(&A, forged, receipt_len), 0);
	free(forged);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	/* The real one: delivered. */
	CHECK_EQ(agentd_receive(&A, receipt, receipt_len), 0);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	CHECK(o.t_delivered > 0);
	CHECK_EQ(A.n_delivered, 1);
	CHECK_EQ(pending_count(A.pend), 0);
	CHECK(pending_find(A.pend, sent_id) == NULL);
}

/* Feed ${msg} to B and expect a refusal with ${code}: NACK, nothing stored. */
static int
expect_refused(const uint8_t *msg, size_t len, const uint8_t id[16], int code)
{
	struct astore_in in;
	struct env e;
	uint64_t before = B.n_refused, logn = log_size(B.log);

	cap_clear(&capB);
	if (agentd_receive(&B, msg, len) != 0)
		return (-1);
	if (B.n_refused != before + 1 || log_size(B.log) != logn + 1)
		return (-2);
	if (astore_get_in(B.store, id, &in) != FERRY_ENOENT)
		return (-3);
	if (capB.n != 1 || cap_type(&capB, &e) != ENV_NACK ||
	    (int)e.code != -code || strcmp(e.to, "alpha") != 0 ||
	    memcmp(e.msg_id, id, 16) != 0)
		return (-4);
	cap_clear(&capB);
	return (0);
}

TEST(refusals)
{
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16], *m;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(capA.n, 1);
	m = capA.buf[0];
	/* A flipped ciphertext byte: the signature fails. */
	m[capA.len[0] / 2] ^= 0x40;
	CHECK_EQ(expect_refused(m, capA.len[0], id, FERRY_EBADSIG), 0);
	m[capA.len[0] / 2] ^= 0x40;
	/* Sent to bravo, fed to alpha: not for us. */
	len = capA.len[0];
	capA.n = 0;
	CHECK_EQ(agentd_receive(&A, m, len), 0);
	free(m);
	CHECK_EQ(A.n_refused, 1);
	cap_clear(&capA);
	CHECK_EQ(B.n_received, 0);	/* nothing refused was received */
}

/* The kept state counts (a->n_out, a->n_in) equal a walk of the store. */
struct walk_counts {
	uint64_t out[5], in;
};

static int
wc_out(void *ctx, const struct astore_out *r)
{

	if (r->state < 5)
		((struct walk_counts *)ctx)->out[r->state]++;
	return (0);
}

static int
wc_in(void *ctx, const struct astore_in *r)
{

	(void)r;
	((struct walk_counts *)ctx)->in++;
	return (0);
}

static int
counts_match(struct agentd *a)
{
	struct walk_counts w;
	int k;

	memset(&w, 0, sizeof(w));
	if (astore_foreach_out(a->store, wc_out, &w) != 0 ||
	    astore_foreach_in(a->store, wc_in, &w) != 0)
		return (0);
	for (k = 1; k < 5; k++)
		if (w.out[k] != a->n_out[k])
			return (0);
	return (w.in == a->n_in);
}

TEST(nack_fails_message)
{
	struct astore_out o;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16], *b;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	cap_clear(&capA);
	/* Transient (queue full): stays queued. */
	CHECK_EQ(relay_answer(relay, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_EQUEUEFULL, &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	/* Permanent: failed with code and reason. */
	CHECK_EQ(relay_answer(relay, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_ERECIPIENT, &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_FAILED);
	CHECK_EQ(o.code, (uint32_t)-FERRY_ERECIPIENT);
	CHECK(strcmp(o.reason, "recipient unknown") == 0);
	/* Counted as it changed: queued -> failed, none left queued. */
	CHECK_EQ(A.n_out[ASTORE_FAILED], 1);
	CHECK_EQ(A.n_out[ASTORE_QUEUED], 0);
	CHECK(counts_match(&A));
}

/* A MSG from ${from} (any identity) to bravo holding referral ${json}. */
static int
seal_to_bravo(struct ident *from, const char *json, size_t jlen,
    uint8_t id[16], uint8_t **out, size_t *outlen)
{
	uint8_t *wire, key[32], pk[32];
	size_t wlen;
	uint32_t kid;
	uint64_t now = ferry_now_ms();
	int rc;

	if ((rc = referral_json_to_wire_at(json, jlen, now, &wire, &wlen,
	    NULL, 0, NULL)) != 0)
		return (rc);
	if ((rc = roster_enc_key_for_sending(A.roster, "bravo", now, &kid,
	    pk)) == 0)
		rc = env_seal(from, "bravo", pk, kid, wire, wlen, NULL, now, key,
		    id, out, outlen);
	free(wire);
	return (rc);
}

/* Count captured frames of ${type}. */
static size_t
cap_count(struct cap *c, uint32_t type)
{
	struct env e;
	size_t i, n = 0;

	for (i = 0; i < c->n; i++)
		if (env_decode(c->buf[i], c->len[i], 0, &e) == 0 &&
		    e.type == type)
			n++;
	return (n);
}

/*
 * Review H4: a sender the recipient's roster does not list yet (its
 * roster lags the relay's) and a local failure (out of memory) are held:
 * no NACK (which would make the relay delete the referral), no RECEIPT,
 * a CREDIT so the window does not shrink, a HELLO asked for; after the
 * HELLO the redelivery is received normally.
 */
TEST(local_failure_held)
{
	struct astore_in in;
	char *json;
	size_t len, mlen;
	uint8_t id[16], *m;
	uint64_t refused = B.n_refused, received = B.n_received;

	CHECK((json = doc(&len)) != NULL);
	/* Charlie is not in bravo's roster (version 1). */
	CHECK_EQ(seal_to_bravo(charlie, json, len, id, &m, &mlen), 0);
	cap_clear(&capB);
	B.want_hello = 0;
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	free(m);
	CHECK_EQ(cap_count(&capB, ENV_NACK), 0);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 0);
	CHECK_EQ(cap_count(&capB, ENV_CREDIT), 1);
	CHECK_EQ(B.n_refused, refused);
	CHECK_EQ(B.nheld, 1);
	CHECK_EQ(B.want_hello, 1);	/* asks for newer roster versions */
	CHECK(B.held_retry != 0);
	CHECK_EQ(astore_get_in(B.store, id, &in), FERRY_ENOENT);
	/* Out of memory while receiving alpha's message: held too. */
	CHECK_EQ(seal_to_bravo(alpha, json, len, id, &m, &mlen), 0);
	free(json);
	cap_clear(&capB);
	setenv("FERRY_TEST_FAULT", "recv-local", 1);
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	unsetenv("FERRY_TEST_FAULT");
	CHECK_EQ(cap_count(&capB, ENV_NACK), 0);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 0);
	CHECK_EQ(cap_count(&capB, ENV_CREDIT), 1);
	CHECK_EQ(B.nheld, 2);
	CHECK_EQ(B.n_refused, refused);
	CHECK_EQ(astore_get_in(B.store, id, &in), FERRY_ENOENT);
	/* The HELLO; the relay redelivers: received and receipted. */
	cap_clear(&capB);
	CHECK_EQ(agentd_hello(&B, 0), 0);
	CHECK_EQ(B.nheld, 0);
	CHECK_EQ(B.held_retry, 0);
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	free(m);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 1);
	CHECK_EQ(B.n_received, received + 1);
	CHECK_EQ(astore_get_in(B.store, id, &in), 0);
	astore_in_clear(&in);
	cap_clear(&capB);
}

/*
 * Issue 13, hole 3: MSGs sealed to an encryption key id no roster of
 * bravo's lists and above its highest (key 999) are no longer held
 * without limit (an insider filled the whole delivery window with them):
 * held only while bravo's roster may lag (a HELLO asks for newer
 * versions), for AGENTD_LAG_GRACE and at most AGENTD_LAG_HELD_MAX at a
 * time; the rest are refused, FERRY_EWRONGKEY.  Genuine mail still flows.
 */
TEST(unknown_key_not_held_forever)
{
	struct env e;
	char *json;
	size_t len, mlen, i, nacks = 0, held0;
	uint8_t id[16], *m, *wire, key[32], pk[32];
	size_t wlen;
	uint32_t kid;
	uint64_t now = ferry_now_ms();

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(referral_json_to_wire_at(json, len, now, &wire, &wlen, NULL,
	    0, NULL), 0);
	CHECK_EQ(roster_enc_key_for_sending(A.roster, "bravo", now, &kid, pk),
	    0);
	CHECK_EQ(agentd_hello(&B, 0), 0);
	B.lag_version = 0;
	held0 = B.nheld;
	for (i = 0; i < AGENTD_LAG_HELD_MAX + 8; i++) {
		CHECK_EQ(env_seal(alpha, "bravo", pk, 999, wire, wlen, NULL, now,
		    key, id, &m, &mlen), 0);
		cap_clear(&capB);
		CHECK_EQ(agentd_receive(&B, m, mlen), 0);
		free(m);
		nacks += cap_count(&capB, ENV_NACK);
		CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 0);
	}
	/* The first AGENTD_LAG_HELD_MAX held (roster lag), the rest refused. */
	CHECK_EQ(B.nheld - held0, AGENTD_LAG_HELD_MAX);
	CHECK_EQ(nacks, 8);
	CHECK_EQ(B.want_hello, 1);
	if (capB.n > 0 && env_decode(capB.buf[capB.n - 1], capB.len[capB.n - 1],
	    0, &e) == 0)
		CHECK_EQ(-(int)e.code, FERRY_EWRONGKEY);
	/* After the grace (no newer roster came): every one refused. */
	CHECK_EQ(agentd_hello(&B, 0), 0);
	B.lag_since -= AGENTD_LAG_GRACE;
	CHECK_EQ(env_seal(alpha, "bravo", pk, 999, wire, wlen, NULL, now, key,
	    id, &m, &mlen), 0);
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	free(m);
	CHECK_EQ(cap_count(&capB, ENV_NACK), 1);
	CHECK_EQ(B.nheld, 0);
	/* Genuine mail is received and receipted. */
	CHECK_EQ(seal_to_bravo(alpha, json, len, id, &m, &mlen), 0);
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	free(m);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 1);
	free(wire);
	free(json);
	cap_clear(&capB);
	B.want_hello = 0;
}

/* A NACK about ${id} signed by ${signer}, addressed to ${to}. */
static int
nack_from(struct ident *signer, const char *to, const uint8_t id[16],
    const uint8_t hash[32], int code, uint8_t **out, size_t *len)
{
	struct env e;

	memset(&e, 0, sizeof(e));
	e.version = ENV_VERSION;
	e.type = ENV_NACK;
	env_new_id(e.id);
	snprintf(e.from, sizeof(e.from), "%s", signer->id);
	snprintf(e.to, sizeof(e.to), "%s", to);
	e.time = ferry_now_ms();
	memcpy(e.msg_id, id, 16);
	memcpy(e.env_hash, hash, 32);
	e.code = (uint32_t)-code;
	e.reason = "x";
	e.reason_len = 1;
	return (env_encode(&e, signer->sign_sk, out, len));
}

/*
 * Review H4, sender side: the relay's out-of-memory and internal-error
 * NACKs are transient (the message stays queued); a recipient's NACK is
 * final whatever its code (the relay removed the message).
 */
TEST(nack_transient_codes)
{
	struct astore_out o;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16], *b;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	cap_clear(&capA);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(nack_from(relay, "alpha", id, o.env_hash, FERRY_EINTERNAL,
	    &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(nack_from(relay, "alpha", id, o.env_hash, FERRY_ENOMEM, &b,
	    &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	/* Review L3: signed by an agency that is neither the relay nor the
	 * recipient, or addressed to someone else: ignored. */
	CHECK_EQ(nack_from(alpha, "alpha", id, o.env_hash, FERRY_ERECIPIENT,
	    &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(nack_from(relay, "bravo", id, o.env_hash, FERRY_ERECIPIENT,
	    &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK_EQ(nack_from(bravo, "alpha", id, o.env_hash, FERRY_EQUEUEFULL,
	    &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_FAILED);
}

/*
 * Review M1: a MSG over the recipient's own max_body (set lower than the
 * relay's) is refused by id with a permanent NACK FERRY_ETOOBIG, not left
 * to be redelivered until it expires.
 */
TEST(too_big_nacked)
{
	char *json;
	size_t len, mlen, saved = B.conf.max_body;
	uint8_t id[16], *m;
	int rc;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(seal_to_bravo(alpha, json, len, id, &m, &mlen), 0);
	free(json);
	B.conf.max_body = 1;
	rc = expect_refused(m, mlen, id, FERRY_ETOOBIG);
	B.conf.max_body = saved;
	free(m);
	CHECK_EQ(rc, 0);
}

/*
 * Review M11: a NACK reason is chosen by the relay or the recipient; a
 * newline or quote in it must not forge a line or a field in our log.
 */
TEST(nack_reason_escaped)
{
	struct astore_out o;
	struct env e;
	char *json, err[AGENTD_ERR_MAX], path[600];
	const char *evil = "x\"\n2026-01-01T00:00:00.000Z INFO delivered "
	    "msg=forged\xc2\x9b" "2J";
	size_t len;
	uint8_t id[16], *b, *logtxt;
	int saved, fd;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	cap_clear(&capA);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	memset(&e, 0, sizeof(e));
	e.version = ENV_VERSION;
	e.type = ENV_NACK;
	env_new_id(e.id);
	snprintf(e.from, sizeof(e.from), "relay");
	snprintf(e.to, sizeof(e.to), "alpha");
	e.time = ferry_now_ms();
	memcpy(e.msg_id, id, 16);
	memcpy(e.env_hash, o.env_hash, 32);
	e.code = (uint32_t)-FERRY_ERECIPIENT;
	e.reason = evil;
	e.reason_len = strlen(evil);
	CHECK_EQ(env_encode(&e, relay->sign_sk, &b, &len), 0);
	snprintf(path, sizeof(path), "%s/stderr.txt", dir);
	fflush(stderr);
	saved = dup(2);
	CHECK((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	dup2(fd, 2);
	close(fd);
	(void)agentd_receive(&A, b, len);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	free(b);
	CHECK((logtxt = t_read_file(path, &len)) != NULL);
	CHECK(strstr((char *)logtxt, "\n2026-01-01") == NULL);
	CHECK(strstr((char *)logtxt, "\\x0a2026-01-01") != NULL);
	CHECK(strstr((char *)logtxt, "x\\x22") != NULL);
	CHECK(strstr((char *)logtxt, "\xc2\x9b") == NULL);
	free(logtxt);
}

/*
 * Review L8: a NACK about content that is not a valid referral carries
 * the code and its fixed text only, not the detailed reason (which may
 * name members of the decrypted content), since it travels in clear.
 */
TEST(nack_reason_generic)
{
	/* {"Jane Doe": 1}: not a referral, and a name a NACK must not carry. */
	static const uint8_t bad[] = { 0x81, 0xa8, 'J', 'a', 'n', 'e', ' ',
	    'D', 'o', 'e', 0x01 };
	struct env e;
	uint8_t key[32], pk[32], id[16], *m;
	size_t mlen;
	uint32_t kid;
	uint64_t now = ferry_now_ms(), refused = B.n_refused;

	CHECK_EQ(roster_enc_key_for_sending(A.roster, "bravo", now, &kid, pk),
	    0);
	CHECK_EQ(env_seal(alpha, "bravo", pk, kid, bad, sizeof(bad), NULL, now,
	    key, id, &m, &mlen), 0);
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	free(m);
	CHECK_EQ(B.n_refused, refused + 1);
	CHECK_EQ(capB.n, 1);
	CHECK_EQ(cap_type(&capB, &e), ENV_NACK);
	CHECK(e.reason_len == strlen(ferry_strerror(-(int)e.code)));
	CHECK(memcmp(e.reason, ferry_strerror(-(int)e.code), e.reason_len) ==
	    0);
	cap_clear(&capB);
}

/*
 * Review M10: retransmission and link timers run on CLOCK_MONOTONIC, so a
 * step of the wall clock neither stops nor hurries them: the schedule of
 * a new message, the last transmission and the last HELLO are on the
 * monotonic clock, far from wall-clock milliseconds.
 */
TEST(timers_monotonic)
{
	const struct pending_msg *p;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16];
	uint64_t mono, wall = ferry_now_ms();

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	cap_clear(&capA);
	CHECK_EQ(agentd_hello(&A, 0), 0);
	cap_clear(&capA);
	mono = agentd_mono_ms();
	CHECK((p = pending_find(A.pend, id)) != NULL);
	CHECK(p->next_try <= mono);
	CHECK(A.links[0].last_tx <= mono && A.links[0].last_tx + 60000 > mono);
	CHECK(A.links[0].last_hello <= mono && A.links[0].last_hello + 60000 > mono);
	CHECK(mono < wall / 2);
	/* Due now on the monotonic clock: sent, and rescheduled on it. */
	CHECK(agentd_tick(&A, mono) > 0);
	CHECK(capA.n >= 1);
	CHECK((p = pending_find(A.pend, id)) != NULL);
	CHECK(p->next_try > mono && p->next_try < mono + 3600000);
	cap_clear(&capA);
}

static int
failing_send(void *ctx, int link, const uint8_t *buf, size_t len)
{

	(void)ctx;
	(void)link;
	(void)buf;
	(void)len;
	return (FERRY_ETIMEOUT);
}

/*
 * Review M12: a HELLO that was lost (or could not be sent) is sent again
 * until a frame from the relay shows it arrived; a HEARTBEAT follows each
 * HELLO so that the relay answers even with nothing to push or deliver.
 */
TEST(hello_resent_until_answered)
{
	struct env e;
	uint8_t *b;
	size_t len;
	uint64_t now;

	cap_clear(&capA);
	A.want_hello = 0;
	A.held_retry = 0;
	CHECK_EQ(agentd_hello(&A, 0), 0);
	CHECK_EQ(cap_count(&capA, ENV_HELLO), 1);
	CHECK_EQ(cap_count(&capA, ENV_HEARTBEAT), 1);
	cap_clear(&capA);
	now = A.links[0].last_hello;
	CHECK_EQ(agentd_hello_due(&A, 0, now + 100), 0);
	CHECK_EQ(agentd_hello_due(&A, 0, now + AGENTD_HELLO_RETRY_MIN), 1);
	CHECK_EQ(agentd_hello(&A, 0), 0);
	cap_clear(&capA);
	/* The relay answers (its HEARTBEAT): no more HELLOs. */
	memset(&e, 0, sizeof(e));
	e.version = ENV_VERSION;
	e.type = ENV_HEARTBEAT;
	env_new_id(e.id);
	snprintf(e.from, sizeof(e.from), "relay");
	snprintf(e.to, sizeof(e.to), "alpha");
	e.time = ferry_now_ms();
	CHECK_EQ(env_encode(&e, relay->sign_sk, &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	CHECK_EQ(A.links[0].hello_state, AGENTD_HELLO_DONE);
	CHECK_EQ(agentd_hello_due(&A, 0, A.links[0].last_hello + 3600000), 0);
	/* A HELLO that could not be sent: a reply to something else does
	 * not count, it is sent again. */
	A.send = failing_send;
	CHECK(agentd_hello(&A, 0) != 0);
	A.send = capture;
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(A.links[0].hello_state, AGENTD_HELLO_UNSENT);
	CHECK_EQ(agentd_hello_due(&A, 0, A.links[0].last_hello + AGENTD_HELLO_RETRY_MIN),
	    1);
	CHECK_EQ(agentd_hello(&A, 0), 0);
	CHECK_EQ(cap_count(&capA, ENV_HELLO), 1);
	cap_clear(&capA);
	/* Not connected: nothing due. */
	agentd_link_up(&A, 0, 0);
	CHECK_EQ(agentd_hello_due(&A, 0, A.links[0].last_hello + 3600000), 0);
	agentd_link_up(&A, 0, 1);
}

/* Count captured MSG frames of message ${id}. */
static size_t
cap_msgs(struct cap *c, const uint8_t id[16])
{
	struct env e;
	size_t i, n = 0;

	for (i = 0; i < c->n; i++)
		if (env_decode(c->buf[i], c->len[i], 0, &e) == 0 &&
		    e.type == ENV_MSG && memcmp(e.id, id, 16) == 0)
			n++;
	return (n);
}

/* ASKs about message ${id} among the frames captured. */
static size_t
cap_asks(const struct cap *c, const uint8_t id[16])
{
	struct env e;
	size_t i, n = 0;

	for (i = 0; i < c->n; i++)
		if (env_decode(c->buf[i], c->len[i], 0, &e) == 0 &&
		    e.type == ENV_ASK && memcmp(e.msg_id, id, 16) == 0)
			n++;
	return (n);
}

/*
 * Issue 13, hole 1 (and review M7): once ACCEPTED, the envelope is never
 * re-uploaded on a timer; the agent ASKs about it instead (msg_id and
 * env_hash, not the envelope): first reask_ms after the ACCEPTED, then
 * with a doubling backoff, never giving up (a lost RECEIPT forward must
 * come again however long the link stays up), and at once after a HELLO.
 * A NACK FERRY_ENOTHELD from the relay (it lost its data) moves the
 * message back to QUEUED and the whole MSG is sent again.
 */
TEST(accepted_asked_until_answered)
{
	struct astore_out o;
	const struct pending_msg *p;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16], *b;
	uint64_t mono, t;
	uint64_t first = A.conf.reask_ms;
	size_t n, m;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	cap_clear(&capA);
	/* No message is added to or removed from A's pending table below,
	 * so ${p} stays valid (pending_find). */
	CHECK((p = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &b,
	    &len), 0);
	mono = agentd_mono_ms();
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(p->state, ASTORE_ACCEPTED);
	/* Before reask_ms: nothing about it. */
	cap_clear(&capA);
	(void)agentd_tick(&A, mono + first / 2);
	CHECK_EQ(cap_msgs(&capA, id) + cap_asks(&capA, id), 0);
	/* At reask_ms: one ASK, not the envelope. */
	(void)agentd_tick(&A, mono + first + 1000);
	CHECK_EQ(cap_asks(&capA, id), 1);
	CHECK_EQ(cap_msgs(&capA, id), 0);
	CHECK(p->next_try >= mono + first + 1000 + 2 * first);
	/* Hours on a live link: asked again and again (backoff capped at
	 * reask_max_ms), never uploaded. */
	for (t = mono + first, n = 0, m = 0; t < mono + 6 * 3600000ULL;
	    t += 600000) {
		cap_clear(&capA);
		(void)agentd_tick(&A, t);
		n += cap_asks(&capA, id);
		m += cap_msgs(&capA, id);
	}
	CHECK(n >= 5);
	CHECK_EQ(m, 0);
	CHECK(p->next_try <= t + A.conf.reask_max_ms +
	    A.conf.reask_max_ms / 4);
	/* A HELLO: asked at once. */
	CHECK_EQ(agentd_hello(&A, 0), 0);
	cap_clear(&capA);
	(void)agentd_tick(&A, agentd_mono_ms());
	CHECK_EQ(cap_asks(&capA, id), 1);
	CHECK_EQ(cap_msgs(&capA, id), 0);
	/* The relay holds no record of it: back to QUEUED, uploaded. */
	CHECK_EQ(relay_answer(relay, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_ENOTHELD, &b, &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK_EQ(p->state, ASTORE_QUEUED);
	cap_clear(&capA);
	(void)agentd_tick(&A, agentd_mono_ms());
	CHECK_EQ(cap_msgs(&capA, id), 1);
	/* Accepted again: asked about again, later. */
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &b,
	    &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	CHECK_EQ(p->state, ASTORE_ACCEPTED);
}

/*
 * Review L4: each envelope is stored once, in the log, so erasure
 * (log_erase) leaves no copy: the store answers from the log's, and after
 * erasure neither the sender nor the recipient can read it back.
 */
TEST(envelope_stored_once)
{
	char *json, err[AGENTD_ERR_MAX], dirc;
	size_t len, mlen, elen;
	uint8_t id[16], *m, *env;
	uint64_t idx;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK(capA.n >= 1);
	mlen = capA.len[capA.n - 1];
	CHECK((m = malloc(mlen)) != NULL);
	memcpy(m, capA.buf[capA.n - 1], mlen);
	cap_clear(&capA);
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 1);
	cap_clear(&capB);
	CHECK_EQ(astore_get_out_env(A.store, id, &env, &elen), 0);
	CHECK(elen == mlen && memcmp(env, m, mlen) == 0);
	free(env);
	CHECK_EQ(astore_get_in_env(B.store, id, &env, &elen), 0);
	CHECK(elen == mlen && memcmp(env, m, mlen) == 0);
	free(env);
	free(m);
	CHECK_EQ(log_erase(A.log, id, 1, "alpha", 1, &idx), 0);
	CHECK_EQ(log_erase(B.log, id, 1, "bravo", 1, &idx), 0);
	CHECK_EQ(astore_get_out_env(A.store, id, &env, &elen), FERRY_ENOENT);
	CHECK_EQ(astore_get_in_env(B.store, id, &env, &elen), FERRY_ENOENT);
	CHECK(agentd_content(&A, id, &dirc, &json) != 0);
	CHECK(agentd_content(&B, id, &dirc, &json) != 0);
}

/*
 * Group commit: several control requests read together are answered in
 * order; consecutive sends are stored together (one batch), a refused
 * one does not affect the others, the same request id twice in one batch
 * is one message, and a request between sends keeps its place.
 */
TEST(ctl_group_commit)
{
	struct agentd_ctl_msg m[6];
	const char *rq[6] = {
		"{\"cmd\":\"send\",\"to\":\"bravo\",\"request_id\":"
		    "\"1111111111111111111111111111111111111111111111111111111111111111\"}",
		"{\"cmd\":\"send\",\"to\":\"nobody\"}",
		"{\"cmd\":\"send\",\"to\":\"bravo\",\"request_id\":"
		    "\"1111111111111111111111111111111111111111111111111111111111111111\"}",
		"{\"cmd\":\"partners\"}",
		"{\"cmd\":\"send\",\"to\":\"bravo\"}",
		"{\"cmd\":\"send\",\"to\":\"bravo\"}",
	};
	json_t *r[6];
	json_error_t jerr;
	char *json;
	size_t len, i;
	uint64_t sent = A.n_sent, logn = log_size(A.log);
	uint64_t c0 = log_commits(A.log);

	CHECK((json = doc(&len)) != NULL);
	memset(m, 0, sizeof(m));
	for (i = 0; i < 6; i++) {
		m[i].req = rq[i];
		m[i].reqlen = strlen(rq[i]);
		m[i].doc = (const uint8_t *)json;
		m[i].doclen = len;
	}
	cap_clear(&capA);
	agentd_ctl_handle_many(&A, m, 6);
	free(json);
	for (i = 0; i < 6; i++) {
		CHECK(m[i].reply != NULL);
		r[i] = json_loadb(m[i].reply, m[i].replylen, 0, &jerr);
		free(m[i].reply);
		free(m[i].body);
		CHECK(r[i] != NULL);
	}
	CHECK(json_is_true(json_object_get(r[0], "ok")));
	CHECK(json_is_false(json_object_get(r[1], "ok")));
	CHECK(json_is_true(json_object_get(r[2], "ok")));
	CHECK(json_is_true(json_object_get(r[2], "duplicate")));
	CHECK(strcmp(json_string_value(json_object_get(r[0], "msg_id")),
	    json_string_value(json_object_get(r[2], "msg_id"))) == 0);
	CHECK(json_object_get(r[3], "partners") != NULL);
	CHECK(json_is_true(json_object_get(r[4], "ok")));
	CHECK(json_is_true(json_object_get(r[5], "ok")));
	CHECK(strcmp(json_string_value(json_object_get(r[4], "msg_id")),
	    json_string_value(json_object_get(r[5], "msg_id"))) != 0);
	/* Three messages stored, logged and sent. */
	CHECK_EQ(A.n_sent, sent + 3);
	CHECK_EQ(log_size(A.log), logn + 3);
	/* In two synced commits: sends 0-2 together, then 4-5 after the
	 * partners request (one commit per message would be three). */
	CHECK_EQ(log_commits(A.log), c0 + 2);
	CHECK_EQ(cap_count(&capA, ENV_MSG), 3);
	cap_clear(&capA);
	for (i = 0; i < 6; i++)
		json_decref(r[i]);
}

/*
 * Group commit of relay replies: frames read together (ACCEPTED and the
 * RECEIPT of one message, a duplicate ACCEPTED, a frame of another kind
 * between) are handled in order, the replies recorded in group commits:
 * the message ends delivered, logged once per kind.
 */
TEST(replies_group_commit)
{
	struct astore_out o;
	char *json, err[AGENTD_ERR_MAX];
	const uint8_t *bufs[5];
	size_t len, mlen, lens[5], rlen, alen, hlen;
	uint8_t id[16], *m, *rcpt, *acc, *hb;
	uint64_t logn, c0, delivered = A.n_delivered, accepted = A.n_accepted;
	struct env e;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	mlen = capA.len[capA.n - 1];
	CHECK((m = malloc(mlen)) != NULL);
	memcpy(m, capA.buf[capA.n - 1], mlen);
	cap_clear(&capA);
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	free(m);
	rlen = capB.len[capB.n - 1];
	CHECK((rcpt = malloc(rlen)) != NULL);
	memcpy(rcpt, capB.buf[capB.n - 1], rlen);
	cap_clear(&capB);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &acc,
	    &alen), 0);
	memset(&e, 0, sizeof(e));
	e.version = ENV_VERSION;
	e.type = ENV_HEARTBEAT;
	env_new_id(e.id);
	snprintf(e.from, sizeof(e.from), "relay");
	snprintf(e.to, sizeof(e.to), "alpha");
	e.time = ferry_now_ms();
	CHECK_EQ(env_encode(&e, relay->sign_sk, &hb, &hlen), 0);
	/* ACCEPTED and RECEIPT in one group (the RECEIPT sees the state
	 * the ACCEPTED left), duplicates, another kind between. */
	bufs[0] = acc; lens[0] = alen;
	bufs[1] = rcpt; lens[1] = rlen;
	bufs[2] = acc; lens[2] = alen;
	bufs[3] = hb; lens[3] = hlen;
	bufs[4] = rcpt; lens[4] = rlen;
	logn = log_size(A.log);
	c0 = log_commits(A.log);
	CHECK_EQ(agentd_receive_many(&A, bufs, lens, 5), 0);
	free(acc);
	free(rcpt);
	free(hb);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	CHECK_EQ(o.relay_index, 7);
	CHECK(o.t_accepted > 0);
	CHECK_EQ(log_size(A.log), logn + 2);	/* ACCEPTED, RECEIPT */
	/* One synced commit for the ACCEPTED and the RECEIPT read together
	 * (the duplicates after the heartbeat commit nothing). */
	CHECK_EQ(log_commits(A.log), c0 + 1);
	CHECK_EQ(A.n_accepted, accepted + 1);
	CHECK_EQ(A.n_delivered, delivered + 1);
	CHECK(A.grp == NULL);
}

/*
 * Group commit on receive: MSGs read together are received in ONE synced
 * commit (counted by log_commits, not by log entries), every one gets its
 * own RECEIPT naming its own entry, all carrying one checkpoint that
 * covers every entry; a receipt leaves only after the commit; the same
 * frames again commit nothing and get the very same receipts; the same
 * id twice in one read is one message; a bad MSG among them is refused
 * without holding back the others.
 */
TEST(recv_group_commit)
{
	struct note_checkpoint cp;
	struct astore_in in;
	struct env e, e0;
	char *json, err[AGENTD_ERR_MAX];
	const uint8_t *bufs[6];
	uint8_t *m[4], id[4][16], *rc0[3], *bad;
	size_t len, lens[6], ml[4], rl0[3], i, j;
	uint64_t c0, logn;

	memset(&e0, 0, sizeof(e0));
	CHECK((json = doc(&len)) != NULL);
	cap_clear(&capA);
	for (i = 0; i < 4; i++) {
		CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL,
		    id[i], err, sizeof(err)), 0);
		CHECK(capA.n == 1);
		m[i] = capA.buf[0];
		ml[i] = capA.len[0];
		capA.n = 0;
	}
	free(json);
	/* A forged copy of a fifth: m[0] with a byte of its signature
	 * flipped, under another id would not decode; flip its last byte. */
	CHECK((bad = malloc(ml[3])) != NULL);
	memcpy(bad, m[3], ml[3]);
	bad[ml[3] - 1] ^= 1;
	cap_clear(&capB);
	c0 = log_commits(B.log);
	logn = log_size(B.log);
	for (i = 0; i < 3; i++) {
		bufs[i] = m[i];
		lens[i] = ml[i];
	}
	bufs[3] = bad;
	lens[3] = ml[3];
	CHECK_EQ(agentd_receive_many(&B, bufs, lens, 4), 0);
	/* One commit for the three (RECEIVED + RECEIPT each); the forged
	 * one refused (NACK) with its LOG_REFUSED entry, its own commit. */
	CHECK_EQ(log_commits(B.log), c0 + 2);
	CHECK_EQ(log_size(B.log), logn + 7);
	CHECK_EQ(B.n_received, 3);
	CHECK_EQ(capB.n, 4);
	for (i = 0, j = 0; i < capB.n; i++) {
		CHECK_EQ(env_decode(capB.buf[i], capB.len[i], 0, &e), 0);
		if (e.type == ENV_NACK)
			continue;
		CHECK_EQ(e.type, ENV_RECEIPT_P);
		CHECK_EQ(env_verify_proof(&e, bravo->sign_pk, NULL), 0);
		CHECK(j < 3 && memcmp(e.msg_id, id[j], 16) == 0);
		CHECK_EQ(astore_get_in(B.store, id[j], &in), 0);
		CHECK_EQ(e.log_index, in.log_index);
		astore_in_clear(&in);
		/* One checkpoint for all, covering every entry. */
		CHECK(e.blob_len > 0);
		CHECK_EQ(note_parse_checkpoint(e.blob, e.blob_len, &cp), 0);
		CHECK(cp.size > e.log_index);
		if (j == 0)
			e0 = e;
		else
			CHECK(e.blob_len == e0.blob_len &&
			    memcmp(e.blob, e0.blob, e.blob_len) == 0);
		CHECK(cp.size >= logn + 3);
		rc0[j] = capB.buf[i];
		rl0[j] = capB.len[i];
		capB.buf[i] = NULL;
		j++;
	}
	CHECK_EQ(j, 3);
	cap_clear(&capB);
	/* The same three again: nothing committed, the same receipts. */
	CHECK_EQ(agentd_receive_many(&B, bufs, lens, 3), 0);
	CHECK_EQ(log_commits(B.log), c0 + 2);
	CHECK_EQ(capB.n, 3);
	for (i = 0; i < 3 && i < capB.n; i++)
		CHECK(capB.len[i] == rl0[i] &&
		    memcmp(capB.buf[i], rc0[i], rl0[i]) == 0);
	CHECK_EQ(B.n_duplicates, 3);
	cap_clear(&capB);
	/* The same new id twice in one read: received once, the second
	 * copy answered with the first one's receipt. */
	bufs[0] = m[3];
	lens[0] = ml[3];
	bufs[1] = m[3];
	lens[1] = ml[3];
	CHECK_EQ(agentd_receive_many(&B, bufs, lens, 2), 0);
	CHECK_EQ(log_commits(B.log), c0 + 3);
	CHECK_EQ(B.n_received, 4);
	CHECK_EQ(capB.n, 2);
	if (capB.n == 2)
		CHECK(capB.len[0] == capB.len[1] &&
		    memcmp(capB.buf[0], capB.buf[1], capB.len[0]) == 0);
	cap_clear(&capB);
	for (i = 0; i < 3; i++)
		free(rc0[i]);
	for (i = 0; i < 4; i++)
		free(m[i]);
	free(bad);
}

/*
 * Issue 10 step 3: a group of N MSGs received together costs the
 * recipient ONE signature (its commit's checkpoint) and no per-message
 * one: its receipts are RECEIPT_P, proven under that checkpoint; the
 * sender checks the N receipts with ONE note signature check (the note
 * cache) and no envelope signature check.
 */
TEST(receipt_signature_counts)
{
	const uint8_t *bufs[6];
	uint8_t *m[6], *rc[6], id[6][16];
	char *json, err[AGENTD_ERR_MAX];
	size_t len, ml[6], rl[6], i, n = 0;
	uint64_t s0, s1, v0, v1, es0, es1, ev0, ev1, c0, delivered;
	struct env e;

	CHECK((json = doc(&len)) != NULL);
	cap_clear(&capA);
	for (i = 0; i < 6; i++) {
		CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL,
		    id[i], err, sizeof(err)), 0);
		CHECK(capA.n == 1);
		m[i] = capA.buf[0];
		ml[i] = capA.len[0];
		bufs[i] = m[i];
		capA.n = 0;
	}
	free(json);
	cap_clear(&capB);
	c0 = log_commits(B.log);
	note_counts(&s0, NULL);
	env_counts(&es0, NULL);
	CHECK_EQ(agentd_receive_many(&B, bufs, ml, 6), 0);
	note_counts(&s1, NULL);
	env_counts(&es1, NULL);
	CHECK_EQ(log_commits(B.log), c0 + 1);
	CHECK_EQ(s1 - s0, 1);		/* the commit's checkpoint */
	CHECK_EQ(es1 - es0, 0);		/* no receipt signed */
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 6);
	for (i = 0; i < capB.n && n < 6; i++) {
		rc[n] = capB.buf[i];
		rl[n] = capB.len[i];
		capB.buf[i] = NULL;
		CHECK_EQ(env_decode(rc[n], rl[n], 0, &e), 0);
		bufs[n] = rc[n];
		n++;
	}
	cap_clear(&capB);
	CHECK_EQ(n, 6);
	delivered = A.n_delivered;
	note_counts(NULL, &v0);
	env_counts(NULL, &ev0);
	CHECK_EQ(agentd_receive_many(&A, bufs, rl, n), 0);
	note_counts(NULL, &v1);
	env_counts(NULL, &ev1);
	CHECK_EQ(A.n_delivered, delivered + 6);
	CHECK_EQ(v1 - v0, 1);		/* one note for the six */
	CHECK_EQ(ev1 - ev0, 0);		/* no receipt signature */
	for (i = 0; i < n; i++)
		free(rc[i]);
	for (i = 0; i < 6; i++)
		free(m[i]);
}

/* Does ${dir}/${name} (printf-style, one %s) exist for ${arg}? */
static int
spool_has(const char *sdir, const char *fmt, const char *arg)
{
	char name[256], path[1400];
	struct stat st;

	snprintf(name, sizeof(name), fmt, arg);
	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	return (stat(path, &st) == 0);
}

/*
 * The spool's fsyncs are per group, not per file, counted by the agent
 * (counters.spool_fsyncs in status): an outbox scan of four files costs
 * one fsync per .id sidecar and one per folder and step (sent/bravo/
 * after the sidecars, sent/bravo/ and outbox/bravo/ after the moves): 4
 * + 3, where one directory fsync per file would be 4 + 4 * 3; the four
 * MSGs received together cost one fsync per file written (.meta, .json)
 * and ONE of inbox/: 8 + 1, where one per file would be 8 + 8.  Every
 * file is in place and the unspooled marks clear.
 */
/*
 * The sync calls of this process (fsync, fdatasync, syncfs: these
 * definitions take the place of libc's for the agent code linked in
 * here) on a file or folder under ${sync_watch}, counted in ${n_syncs}:
 * what spool_fsyncs_grouped checks, whatever the agent's own counter
 * says (a per-file fsync put back anywhere is seen here).
 */
static char sync_watch[PATH_MAX];
static uint64_t n_syncs;

static void
count_sync(int fd)
{
	char l[64], t[PATH_MAX];
	ssize_t k;

	if (sync_watch[0] == '\0')
		return;
	snprintf(l, sizeof(l), "/proc/self/fd/%d", fd);
	if ((k = readlink(l, t, sizeof(t) - 1)) <= 0)
		return;
	t[k] = '\0';
	if (strncmp(t, sync_watch, strlen(sync_watch)) == 0)
		n_syncs++;
}

int
fsync(int fd)
{

	count_sync(fd);
	return ((int)syscall(SYS_fsync, fd));
}

int
fdatasync(int fd)
{

	count_sync(fd);
	return ((int)syscall(SYS_fdatasync, fd));
}

int
syncfs(int fd)
{

	count_sync(fd);
	return ((int)syscall(SYS_syncfs, fd));
}

/*
 * reopen_spool(a, id, cap): close agent ${a} and open it again as ${id}
 * with spool folders (made); 0 or -1.
 */
static int
reopen_spool(struct agentd *a, const char *id, struct cap *cap)
{
	int rc;

	agentd_close(a);
	cap_clear(cap);
	with_spool = 1;
	rc = open_agent(a, id, cap);
	with_spool = 0;
	if (rc != 0 || agentd_spool_init(a) != 0)
		return (-1);
	return (0);
}

/* ${n} copies of the test referral in ${a}'s outbox/bravo/STEM-I.json. */
static void
spool_drop(struct agentd *a, const char *stem, size_t n)
{
	char path[1200];
	char *json;
	FILE *fp;
	size_t len, i;

	CHECK((json = doc(&len)) != NULL);
	for (i = 0; i < n && json != NULL; i++) {
		snprintf(path, sizeof(path), "%s/outbox/bravo/%s-%zu.json",
		    a->conf.spool, stem, i);
		CHECK((fp = fopen(path, "w")) != NULL);
		if (fp != NULL) {
			CHECK_EQ(fwrite(json, 1, len, fp), len);
			fclose(fp);
		}
	}
	free(json);
}

/*
 * metrics.prom is rewritten every metrics_interval: atomically (a reader
 * sees a whole file) but with no sync of the file or its folder, so the
 * loop never waits on the disk for it.  Counted by the sync calls made on
 * the data folder, not by the agent's own counters.
 */
TEST(metrics_written_unsynced)
{
	char path[1200];
	uint8_t *b;
	size_t len;

	CHECK(realpath(A.conf.data, sync_watch) != NULL);
	n_syncs = 0;
	CHECK_EQ(agentd_metrics_write(&A), 0);
	CHECK_EQ(agentd_metrics_write(&A), 0);
	sync_watch[0] = '\0';
	CHECK_EQ(n_syncs, 0);
	snprintf(path, sizeof(path), "%s/metrics.prom", A.conf.data);
	CHECK((b = t_read_file(path, &len)) != NULL);
	CHECK(b != NULL && len > 100 && memmem(b, len, "\n# TYPE ferry_agent_",
	    20) != NULL && b[len - 1] == '\n');
	free(b);
}

TEST(spool_fsyncs_grouped)
{
	static const char *status = "{\"cmd\":\"status\"}";
	char sd[1100], path[1300], name[64], hx[4][33], *reply, *body;
	const uint8_t *bufs[4];
	json_error_t jerr;
	json_t *r;
	size_t len, lens[4], rl, bl, i;
	uint64_t f0, c0;
	uint8_t *idf;
	int ok;

	/* Reopened with spool folders. */
	ok = reopen_spool(&A, "alpha", &capA) == 0 &&
	    reopen_spool(&B, "bravo", &capB) == 0;
	CHECK(ok);
	if (!ok)
		return;
	spool_drop(&A, "case", 4);
	f0 = A.n_spool_fsyncs;
	c0 = log_commits(A.log);
	CHECK(realpath(A.conf.spool, sync_watch) != NULL);
	n_syncs = 0;
	agentd_spool_scan(&A);
	sync_watch[0] = '\0';
	CHECK_EQ(log_commits(A.log), c0 + 1);
	CHECK_EQ(cap_count(&capA, ENV_MSG), 4);
	snprintf(sd, sizeof(sd), "%s/sent/bravo", A.conf.spool);
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/case-%zu.json.id", sd, i);
		CHECK((idf = t_read_file(path, &len)) != NULL && len == 33);
		if (idf != NULL)
			snprintf(hx[i], sizeof(hx[i]), "%.32s", idf);
		else
			hx[i][0] = '\0';
		free(idf);
		snprintf(name, sizeof(name), "case-%zu.json", i);
		CHECK(spool_has(sd, "%s", name));
		snprintf(path, sizeof(path), "%s/outbox/bravo", A.conf.spool);
		CHECK(!spool_has(path, "%s", name));
	}
	/* Four files, and no fsync of any: one syncfs for the four
	 * sidecars' data, then sent/bravo/ (sidecars), sent/bravo/ and
	 * outbox/bravo/ (the moves); the system calls agree. */
	CHECK_EQ(A.n_spool_fsyncs, f0 + 1 + 3);
	CHECK_EQ(n_syncs, 1 + 3);

	/* The four MSGs read together by bravo. */
	for (i = 0; i < 4 && i < capA.n; i++) {
		bufs[i] = capA.buf[i];
		lens[i] = capA.len[i];
	}
	CHECK_EQ(capA.n, 4);
	cap_clear(&capB);
	f0 = B.n_spool_fsyncs;
	c0 = log_commits(B.log);
	CHECK(realpath(B.conf.spool, sync_watch) != NULL);
	n_syncs = 0;
	CHECK_EQ(agentd_receive_many(&B, bufs, lens, capA.n < 4 ? capA.n : 4),
	    0);
	sync_watch[0] = '\0';
	CHECK_EQ(B.n_received, 4);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 4);
	CHECK_EQ(log_commits(B.log), c0 + 1);
	/* Eight files, no fsync of any: one syncfs, one fsync of inbox/
	 * (was 2 x 4 + 1); the system calls agree. */
	CHECK_EQ(B.n_spool_fsyncs, f0 + 2);
	CHECK_EQ(n_syncs, 2);
	snprintf(sd, sizeof(sd), "%s/inbox", B.conf.spool);
	for (i = 0; i < 4; i++) {
		CHECK(spool_has(sd, "%s.json", hx[i]));
		CHECK(spool_has(sd, "%s.meta", hx[i]));
	}
	/* Complete: each .json a whole JSON document. */
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s.json", sd, hx[i]);
		idf = t_read_file(path, &len);
		CHECK(idf != NULL && (r = json_loadb((const char *)idf, len,
		    0, &jerr)) != NULL);
		if (idf != NULL && r != NULL)
			json_decref(r);
		free(idf);
	}
	/* Their marks go in one commit; nothing left to rewrite. */
	CHECK_EQ(B.nspooled, 4);
	CHECK_EQ(agentd_defer_flush(&B), 0);
	CHECK_EQ(B.nspooled, 0);
	/* Shown by status. */
	agentd_ctl_handle(&B, status, strlen(status), NULL, 0, &reply, &rl,
	    &body, &bl);
	CHECK((r = json_loadb(reply, rl, 0, &jerr)) != NULL);
	CHECK_EQ((uint64_t)json_integer_value(json_object_get(
	    json_object_get(r, "counters"), "spool_fsyncs")), B.n_spool_fsyncs);
	json_decref(r);
	free(reply);
	free(body);
	cap_clear(&capA);
	cap_clear(&capB);
}

/*
 * A spool outbox holding more than one scan's worth (64 files): the scan
 * says so (1) and the daemon's loop scans again at once instead of
 * waiting spool_interval per 64 files; the last, partial scan says 0.
 */
TEST(spool_scan_again)
{
	size_t n0;
	int ok;

	ok = reopen_spool(&A, "alpha", &capA) == 0;
	CHECK(ok);
	if (!ok)
		return;
	spool_drop(&A, "again", 70);
	/* Counted as stored and logged (n_sent), not as frames: the
	 * window to the relay lets only some leave at once. */
	n0 = A.n_sent;
	CHECK_EQ(agentd_spool_scan(&A), 1);
	CHECK_EQ(A.n_sent - n0, 64);
	CHECK_EQ(agentd_spool_scan(&A), 0);
	CHECK_EQ(A.n_sent - n0, 70);
	CHECK_EQ(agentd_spool_scan(&A), 0);
	CHECK_EQ(A.n_sent - n0, 70);
	cap_clear(&capA);
}

TEST(garbage_frame)
{
	uint8_t junk[40];
	uint64_t r = B.n_refused;

	memset(junk, 0x93, sizeof(junk));
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, junk, sizeof(junk)), 0);
	CHECK_EQ(B.n_refused, r + 1);
	CHECK_EQ(capB.n, 0);	/* nothing to NACK: names no message */
}

/*
 * Review M8: a receipt from a recipient revoked after the message was
 * sent is verified with the roster version in force when it was sent
 * (kept in <data>/roster/) and accepted: delivered, not ignored forever.
 */
TEST(receipt_after_revocation)
{
	struct astore_out o;
	struct roster *v1 = NULL, *v2 = NULL;
	const uint8_t *rb;
	char *json, err[AGENTD_ERR_MAX], path[1200];
	size_t len, mlen, rlen;
	uint8_t id[16], *m, *rcpt;
	uint64_t now = ferry_now_ms();

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK(capA.n >= 1);
	mlen = capA.len[capA.n - 1];
	CHECK((m = malloc(mlen)) != NULL);
	memcpy(m, capA.buf[capA.n - 1], mlen);
	cap_clear(&capA);
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	free(m);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 1);
	rlen = capB.len[capB.n - 1];
	CHECK((rcpt = malloc(rlen)) != NULL);
	memcpy(rcpt, capB.buf[capB.n - 1], rlen);
	cap_clear(&capB);
	/* Roster version 2 revokes bravo; alpha adopts it (SIGHUP path). */
	snprintf(path, sizeof(path), "%s/roster", dir);
	CHECK((rb = t_read_file(path, &len)) != NULL);
	CHECK_EQ(roster_parse(rb, len, &v1), 0);
	free((void *)rb);
	CHECK_EQ(roster_next(v1, now, now + 365 * DAY, &v2), 0);
	roster_free(v1);
	CHECK_EQ(roster_agency_revoke(v2, "bravo"), 0);
	CHECK_EQ(roster_seal(v2), 0);
	CHECK_EQ(roster_sign(v2, admin->sign_sk), 0);
	CHECK_EQ(roster_bytes(v2, &rb, &len), 0);
	snprintf(path, sizeof(path), "%s/roster/v%020d.roster", A.conf.data,
	    2);
	CHECK_EQ(ferry_write_file(path, rb, len, 0600), 0);
	roster_free(v2);
	CHECK_EQ(agentd_roster_reload(&A), 0);
	CHECK_EQ(A.roster->version, 2);
	/* The receipt arrives now: verified with version 1, delivered. */
	CHECK_EQ(agentd_receive(&A, rcpt, rlen), 0);
	free(rcpt);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	/* Likewise a NACK from bravo about a message sent under version 1:
	 * verified with version 1's key and acted on. */
	{
		struct astore_out q;

		memset(&q, 0, sizeof(q));
		memcpy(q.msg_id, id, 16);
		q.msg_id[15] ^= 0x5a;
		snprintf(q.to, sizeof(q.to), "bravo");
		memcpy(q.env_hash, o.env_hash, 32);
		q.state = ASTORE_ACCEPTED;
		q.t_queued = now;
		q.roster_version = 1;
		CHECK_EQ(astore_put_out(A.store, NULL, &q, NULL, 0, NULL), 0);
		CHECK_EQ(nack_from(bravo, "alpha", q.msg_id, q.env_hash,
		    FERRY_ESCHEMA, &m, &mlen), 0);
		CHECK_EQ(agentd_receive(&A, m, mlen), 0);
		free(m);
		CHECK_EQ(astore_get_out(A.store, q.msg_id, &q), 0);
		CHECK_EQ(q.state, ASTORE_FAILED);
	}
}

/*
 * The next roster version after ${a}'s, with relay ${rb} listed at ${ep}
 * (ep != NULL) or relay "relay" removed (ep == NULL), placed where
 * agentd_roster_reload finds it, and adopted.
 */
static int
adopt_relay_change(struct agentd *a, const struct ident *rb, const char *ep)
{
	struct roster *n = NULL;
	const uint8_t *b;
	uint8_t *req = NULL;
	char path[1200];
	size_t len, rlen;
	uint64_t now = ferry_now_ms();
	int rc;

	if ((rc = roster_next(a->roster, now, now + 365 * DAY, &n)) != 0)
		return (rc);
	if (ep != NULL) {
		if ((rc = roster_request_make(rb, now, &req, &rlen)) == 0)
			rc = roster_relay_set(n, req, rlen, ep);
		free(req);
	} else
		rc = roster_relay_remove(n, "relay");
	if (rc == 0 && (rc = roster_seal(n)) == 0 &&
	    (rc = roster_sign(n, admin->sign_sk)) == 0 &&
	    (rc = roster_bytes(n, &b, &len)) == 0) {
		snprintf(path, sizeof(path), "%s/roster/v%020llu.roster",
		    a->conf.data, (unsigned long long)n->version);
		rc = ferry_write_file(path, b, len, 0600);
	}
	roster_free(n);
	return (rc != 0 ? rc : agentd_roster_reload(a));
}

TEST(links_follow_roster)
{
	struct ident *rb = NULL;
	uint64_t now = ferry_now_ms();

	/* One link per relay of the roster, at the roster's endpoint. */
	CHECK_EQ(A.nlinks, 1);
	CHECK(strcmp(A.links[0].id, "relay") == 0);
	CHECK(strcmp(A.links[0].endpoint, "tcp://127.0.0.1:1") == 0);
	CHECK_EQ(A.links[0].listed, 1);
	CHECK_EQ(agentd_link_find(&A, "relay"), 0);
	A.links[0].reopen = 0;	/* as the event loop leaves it */
	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	/* A relay added: a new link to it; the first is left alone. */
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	CHECK_EQ(A.nlinks, 2);
	CHECK(strcmp(A.links[1].id, "relay-b") == 0);
	CHECK(strcmp(A.links[1].endpoint, "tcp://127.0.0.1:2") == 0);
	CHECK_EQ(A.links[1].reopen, 1);
	CHECK_EQ(A.links[1].order, 1);
	CHECK_EQ(A.links[0].reopen, 0);
	A.links[1].reopen = 0;
	/* Its endpoint moved: that link alone reconnects. */
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:3"), 0);
	CHECK_EQ(A.links[1].reopen, 1);
	CHECK(strcmp(A.links[1].endpoint, "tcp://127.0.0.1:3") == 0);
	CHECK_EQ(A.links[0].reopen, 0);
	A.links[1].reopen = 0;
	/* The first relay removed: its link closed (unlisted), relay-b
	 * keeps its slot and comes first in roster order. */
	CHECK_EQ(adopt_relay_change(&A, NULL, NULL), 0);
	CHECK_EQ(A.links[0].listed, 0);
	CHECK_EQ(A.links[0].reopen, 1);
	CHECK_EQ(A.links[1].listed, 1);
	CHECK_EQ(A.links[1].reopen, 0);
	CHECK_EQ(A.links[1].order, 0);
	CHECK_EQ(agentd_link_find(&A, "relay"), -1);
	CHECK_EQ(agentd_link_find(&A, "relay-b"), 1);
	ident_free(rb);
}

/* A frame signed as another relay than the one whose link it came by is
 * dropped; the same frame by the right link is handled. */
TEST(frame_from_wrong_relay_link)
{
	struct ident *rb = NULL;
	struct astore_out o;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16], *acc;
	uint64_t now = ferry_now_ms();

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	CHECK_EQ(A.nlinks, 2);
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	/* "relay" signs an ACCEPTED; it arrives by relay-b's link. */
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &acc,
	    &len), 0);
	A.cur_link = 1;
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&acc, &len,
	    1), 0);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	/* By its own link: taken. */
	A.cur_link = 0;
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&acc, &len,
	    1), 0);
	CHECK_EQ(agentd_defer_flush(&A), 0);	/* custody committed */
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	free(acc);
	ident_free(rb);
}

/* The link the last frame of ${type} in ${c} went to, or -1. */
static int
cap_link_of(struct cap *c, uint32_t type)
{
	struct env e;
	size_t i;

	for (i = c->n; i > 0; i--)
		if (env_decode(c->buf[i - 1], c->len[i - 1], 0, &e) == 0 &&
		    e.type == type)
			return (c->link[i - 1]);
	return (-1);
}

/* The reason (code) of ${id}'s latest LOG_ROUTE and its relay, or -1. */
static int
last_route(struct agentd *a, const uint8_t id[16], char *relay_id)
{
	struct log_entry le;
	uint64_t idx;
	int code;

	if (log_find_msg_last(a->log, id, LOG_ROUTE, &idx) != 0 ||
	    log_get(a->log, idx, &le) != 0)
		return (-1);
	code = le.code;
	snprintf(relay_id, FERRY_ID_MAX + 1, "%s", le.to);
	log_entry_clear(&le);
	return (code);
}

/*
 * Two relays: a new message goes through the first (LOG_ROUTE 0); with no
 * ACCEPTED within failover_after it goes through the second (1); the
 * second's link lost before its ACCEPTED: back to the first (2); a
 * RECEIPT comes back by the link the MSG came by.
 */
TEST(failover_between_relays)
{
	struct ident *rb = NULL;
	const struct pending_msg *m;
	char *json, err[AGENTD_ERR_MAX], rid[FERRY_ID_MAX + 1];
	size_t len;
	uint8_t id[16], *msg;
	uint64_t now = ferry_now_ms(), t;

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&A, 1, 1);
	cap_clear(&capA);
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(cap_link_of(&capA, ENV_MSG), 0);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_FIRST);
	CHECK(strcmp(rid, "relay") == 0);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(m->link, 0);
	CHECK(m->sent_at != 0);
	/* failover_after (1.5 s by default) later, no ACCEPTED: the second relay. */
	t = m->sent_at + A.conf.failover_ms;
	cap_clear(&capA);
	(void)agentd_tick(&A, t);
	CHECK_EQ(cap_link_of(&capA, ENV_MSG), 1);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_NO_ACCEPT);
	CHECK(strcmp(rid, "relay-b") == 0);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(m->link, 1);
	CHECK_EQ(A.n_failovers, 1);
	/* Its link lost before the ACCEPTED: back to the first. */
	agentd_link_up(&A, 1, 0);
	cap_clear(&capA);
	(void)agentd_tick(&A, m->next_try);
	CHECK_EQ(cap_link_of(&capA, ENV_MSG), 0);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_LINK_LOST);
	CHECK(strcmp(rid, "relay") == 0);
	/* The recipient answers through the link the MSG came by. */
	msg = malloc(capA.len[capA.n - 1]);
	CHECK(msg != NULL);
	memcpy(msg, capA.buf[capA.n - 1], capA.len[capA.n - 1]);
	len = capA.len[capA.n - 1];
	CHECK_EQ(adopt_relay_change(&B, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&B, 1, 1);
	cap_clear(&capB);
	B.cur_link = 1;
	CHECK_EQ(agentd_receive_many(&B, (const uint8_t *const *)&msg, &len,
	    1), 0);
	CHECK_EQ(cap_link_of(&capB, ENV_RECEIPT_P), 1);
	/* Again through the other relay: a duplicate, receipted by it. */
	B.cur_link = 0;
	cap_clear(&capB);
	CHECK_EQ(agentd_receive_many(&B, (const uint8_t *const *)&msg, &len,
	    1), 0);
	CHECK_EQ(B.n_duplicates, 1);
	CHECK_EQ(cap_link_of(&capB, ENV_RECEIPT_P), 0);
	/* That link down: by any link up. */
	agentd_link_up(&B, 0, 0);
	cap_clear(&capB);
	CHECK_EQ(agentd_receive_many(&B, (const uint8_t *const *)&msg, &len,
	    1), 0);
	CHECK_EQ(cap_link_of(&capB, ENV_RECEIPT_P), 1);
	free(msg);
	ident_free(rb);
}

/*
 * relay_choice = fastest: the relay with the lower round trip takes a new
 * message; it ACCEPTs it, then answers an ASK with NACK FERRY_ENOTHELD:
 * routed again at once through the other relay (LOG_ROUTE 4).
 */
TEST(fastest_then_not_held)
{
	struct ident *rb = NULL;
	struct astore_out o;
	const struct pending_msg *m;
	char *json, err[AGENTD_ERR_MAX], rid[FERRY_ID_MAX + 1];
	size_t len;
	uint8_t id[16], *b;
	uint64_t now = ferry_now_ms();

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&A, 1, 1);
	snprintf(A.conf.relay_choice, sizeof(A.conf.relay_choice), "fastest");
	A.links[0].has_rtt = A.links[1].has_rtt = 1;
	A.links[0].rtt_ms = 40;
	A.links[1].rtt_ms = 3;
	cap_clear(&capA);
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(cap_link_of(&capA, ENV_MSG), 1);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_FIRST);
	CHECK(strcmp(rid, "relay-b") == 0);
	/* relay-b takes custody (its ACCEPTED, by its link). */
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(relay_answer(rb, ENV_ACCEPTED, id, o.env_hash, 0, &b, &len),
	    0);
	A.cur_link = 1;
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(m->state, ASTORE_ACCEPTED);
	CHECK_EQ(m->link, 1);
	CHECK_EQ(pending_custody(A.pend, 1), 1);
	/* It lost its data: routed again at once, through the other. */
	CHECK_EQ(relay_answer(rb, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_ENOTHELD, &b, &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_NOT_HELD);
	CHECK(strcmp(rid, "relay") == 0);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(m->state, ASTORE_QUEUED);
	CHECK_EQ(m->link, 0);
	CHECK_EQ(pending_custody(A.pend, 1), 0);
	cap_clear(&capA);
	(void)agentd_tick(&A, agentd_mono_ms());
	CHECK_EQ(cap_link_of(&capA, ENV_MSG), 0);
	/* The first relay takes custody; then relay-b, which still had a
	 * copy, expires it there: about relay-b's copy, not the message
	 * (with the first relay): ignored.  The first relay's expiry
	 * fails it. */
	A.cur_link = 0;
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &b,
	    &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK((m = pending_find(A.pend, id)) != NULL && m->link == 0 &&
	    m->state == ASTORE_ACCEPTED);
	A.cur_link = 1;
	CHECK_EQ(relay_answer(rb, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_EEXPIREDMSG, &b, &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(agentd_defer_flush(&A), 0);	/* custody committed */
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	A.cur_link = 0;
	CHECK_EQ(relay_answer(relay, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_EEXPIREDMSG, &b, &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_FAILED);
	ident_free(rb);
}

/* The relay that signed ${id}'s first (${last} 0) or latest ACCEPTED logged. */
static int
accepted_by(struct agentd *a, const uint8_t id[16], int last, char *relay_id)
{
	struct log_entry le;
	uint64_t idx;

	if ((last ? log_find_msg_last(a->log, id, LOG_ACCEPTED, &idx) :
	    log_find_msg(a->log, id, LOG_ACCEPTED, &idx)) != 0 ||
	    log_get(a->log, idx, &le) != 0)
		return (-1);
	snprintf(relay_id, FERRY_ID_MAX + 1, "%s", le.from);
	log_entry_clear(&le);
	return (0);
}

/* status MSGID's "relay" for ${id}, into ${relay_id} ("" if none). */
static void
status_relay(struct agentd *a, const uint8_t id[16], char *relay_id)
{
	char req[128], hx[33], *reply = NULL, *body = NULL;
	size_t rl = 0, bl = 0;
	json_t *r, *v;
	json_error_t jerr;

	ferry_hex(hx, id, 16);
	snprintf(req, sizeof(req), "{\"cmd\":\"status\",\"msg_id\":\"%s\"}",
	    hx);
	relay_id[0] = '\0';
	agentd_ctl_handle(a, req, strlen(req), NULL, 0, &reply, &rl, &body,
	    &bl);
	if ((r = json_loadb(reply, rl, 0, &jerr)) != NULL) {
		v = json_object_get(json_object_get(r, "message"), "relay");
		if (json_is_string(v))
			snprintf(relay_id, FERRY_ID_MAX + 1, "%s",
			    json_string_value(v));
		json_decref(r);
	}
	free(reply);
	free(body);
}

/*
 * Issue 12: a message in one relay's custody, resent through a second
 * (the first answered not-held): the second relay's custody receipt is
 * logged too (one ACCEPTED per relay, with its signed receipt), status
 * names the second as its relay, and after a reopen its custody link is
 * the second's (the latest ACCEPTED), not the first's.
 */
TEST(second_custody_logged)
{
	struct ident *rb = NULL;
	struct astore_out o;
	const struct pending_msg *m;
	struct log_entry le;
	char *json, err[AGENTD_ERR_MAX], rid[FERRY_ID_MAX + 1];
	size_t len;
	uint8_t id[16], *b;
	uint64_t idx, now = ferry_now_ms();
	struct env e;

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&A, 1, 1);
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_FIRST);
	CHECK(strcmp(rid, "relay") == 0);
	/* The first relay takes custody, then no longer holds it. */
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	A.cur_link = 0;
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id, o.env_hash, 0, &b,
	    &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(relay_answer(relay, ENV_NACK, id, o.env_hash,
	    (uint32_t)-FERRY_ENOTHELD, &b, &len), 0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(last_route(&A, id, rid), LOG_ROUTE_NOT_HELD);
	CHECK(strcmp(rid, "relay-b") == 0);
	/* relay-b takes custody: its receipt logged, the first kept. */
	A.cur_link = 1;
	CHECK_EQ(relay_answer(rb, ENV_ACCEPTED, id, o.env_hash, 0, &b, &len),
	    0);
	CHECK_EQ(agentd_receive_many(&A, (const uint8_t *const *)&b, &len,
	    1), 0);
	free(b);
	CHECK_EQ(agentd_defer_flush(&A), 0);	/* custody committed */
	CHECK_EQ(astore_get_out(A.store, id, &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	CHECK_EQ(accepted_by(&A, id, 0, rid), 0);
	CHECK(strcmp(rid, "relay") == 0);
	CHECK_EQ(accepted_by(&A, id, 1, rid), 0);
	CHECK(strcmp(rid, "relay-b") == 0);
	CHECK_EQ(log_find_msg_last(A.log, id, LOG_ACCEPTED, &idx), 0);
	CHECK_EQ(log_get(A.log, idx, &le), 0);
	CHECK(le.aux_len > 0 && env_decode(le.aux, le.aux_len, 0, &e) == 0 &&
	    e.type == ENV_ACCEPTED && strcmp(e.from, "relay-b") == 0 &&
	    env_verify(&e, rb->sign_pk) == 0);
	log_entry_clear(&le);
	status_relay(&A, id, rid);
	CHECK(strcmp(rid, "relay-b") == 0);
	/* Reopened: in relay-b's custody, from its (latest) ACCEPTED. */
	agentd_close(&A);
	CHECK_EQ(open_agent(&A, "alpha", &capA), 0);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK_EQ(m->state, ASTORE_ACCEPTED);
	CHECK(m->link >= 0 && m->link == agentd_link_find(&A, "relay-b"));
	status_relay(&A, id, rid);
	CHECK(strcmp(rid, "relay-b") == 0);
	ident_free(rb);
}

/*
 * A relay that stays silent (link up, no ACCEPTED): the message goes to
 * the other relay when failover_after has passed since its first send,
 * even with retry shorter than failover_after (its retries there must
 * not put the check off to a later retry).
 */
TEST(failover_not_put_off_by_retries)
{
	struct ident *rb = NULL;
	const struct pending_msg *m;
	char *json, err[AGENTD_ERR_MAX];
	size_t len, i;
	uint8_t id[16];
	uint64_t now = ferry_now_ms(), retry = A.conf.retry_ms, first;
	int link;

	CHECK_EQ(ident_generate("relay-b", IDENT_RELAY, "relay-b", now,
	    365 * DAY, &rb), 0);
	CHECK_EQ(adopt_relay_change(&A, rb, "tcp://127.0.0.1:2"), 0);
	agentd_link_up(&A, 0, 1);
	agentd_link_up(&A, 1, 1);
	A.conf.retry_ms = A.conf.failover_ms / 4;
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK((m = pending_find(A.pend, id)) != NULL);
	link = m->link;
	first = m->sent_at;
	CHECK(link >= 0 && first != 0);
	/* Retries through the silent relay, each due no later than the
	 * failover; the tick at the failover moves it. */
	for (i = 0; i < 16 && (m = pending_find(A.pend, id)) != NULL &&
	    m->link == link; i++) {
		CHECK(m->next_try <= first + A.conf.failover_ms);
		(void)agentd_tick(&A, m->next_try);
	}
	CHECK((m = pending_find(A.pend, id)) != NULL);
	CHECK(m->link >= 0 && m->link != link);
	A.conf.retry_ms = retry;
	ident_free(rb);
}

TEST(reopen_keeps_state)
{
	struct astore_out o;
	const struct pending_msg *pm;
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t q[16], acc[16], *b;

	receipt_delivers();	/* one delivered */
	if (t_failed_now)
		return;
	/* One waiting for ACCEPTED, one for its RECEIPT. */
	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, q, err,
	    sizeof(err)), 0);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, acc, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(astore_get_out(A.store, acc, &o), 0);
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, acc, o.env_hash, 0, &b,
	    &len), 0);
	CHECK_EQ(agentd_receive(&A, b, len), 0);
	free(b);
	agentd_close(&A);
	CHECK_EQ(open_agent(&A, "alpha", &capA), 0);
	CHECK_EQ(astore_get_out(A.store, sent_id, &o), 0);
	CHECK_EQ(o.state, ASTORE_DELIVERED);
	/* The schedule is rebuilt from the store: both pending, each in
	 * its state; the delivered one not. */
	CHECK_EQ(pending_count(A.pend), 2);
	CHECK((pm = pending_find(A.pend, q)) != NULL);
	CHECK_EQ(pm->state, ASTORE_QUEUED);
	CHECK((pm = pending_find(A.pend, acc)) != NULL);
	CHECK_EQ(pm->state, ASTORE_ACCEPTED);
	CHECK(pending_find(A.pend, sent_id) == NULL);
	/* The state counts, counted again at open, agree with the store. */
	CHECK_EQ(A.n_out[ASTORE_QUEUED], 1);
	CHECK_EQ(A.n_out[ASTORE_ACCEPTED], 1);
	CHECK_EQ(A.n_out[ASTORE_DELIVERED], 1);
	CHECK(counts_match(&A));
	CHECK(counts_match(&B));
	CHECK_EQ(B.n_in, 1);
}

/*
 * Issue 10: a relay's ACCEPTED costs the sender no synced commit of its
 * own.  N referrals sent, their N ACCEPTEDs read one by one (as they
 * come, pipelined): no commit at all (one each before), yet custody is
 * acted on at once (pending state, counters, `status MSGID`); the first
 * RECEIPT's commit carries every custody record, each LOG_ACCEPTED before
 * the RECEIPT of its message.  So the sender's synced commits per
 * referral fall from 3 (send, ACCEPTED, RECEIPT) to at most 2.
 */
#define DEFER_N 8
TEST(accepted_deferred)
{
	static const char st[] = "{\"cmd\":\"status\",\"msg_id\":\"%s\"}";
	struct astore_out o;
	const struct pending_msg *pm;
	char *json, err[AGENTD_ERR_MAX], rq[128], hx[33], *reply, *body;
	uint8_t id[DEFER_N][16], *m[DEFER_N], *acc, *rcpt;
	size_t len, ml[DEFER_N], alen, rlen, rl, bl, i;
	uint64_t c0, c1, accepted = A.n_accepted, ia, ir;
	const uint8_t *bufs[1];
	json_error_t jerr;
	json_t *r;

	CHECK((json = doc(&len)) != NULL);
	c0 = log_commits(A.log);
	for (i = 0; i < DEFER_N; i++) {
		CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL,
		    id[i], err, sizeof(err)), 0);
		CHECK(capA.n == 1);
		m[i] = capA.buf[0];
		ml[i] = capA.len[0];
		capA.n = 0;
	}
	free(json);
	CHECK_EQ(log_commits(A.log), c0 + DEFER_N);	/* one per send */
	c1 = log_commits(A.log);
	for (i = 0; i < DEFER_N; i++) {
		CHECK_EQ(astore_get_out(A.store, id[i], &o), 0);
		CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id[i], o.env_hash,
		    0, &acc, &alen), 0);
		/* Each in a wakeup of its own; the frame closed after. */
		bufs[0] = acc;
		CHECK_EQ(agentd_receive_many(&A, bufs, &alen, 1), 0);
		free(acc);
	}
	/* No synced commit for the ACCEPTEDs (before: one each). */
	CHECK_EQ(log_commits(A.log), c1);
	CHECK_EQ(A.ndefer, DEFER_N);
	/* Custody known at once: counters, schedule, the agent's view. */
	CHECK_EQ(A.n_accepted, accepted + DEFER_N);
	CHECK((pm = pending_find(A.pend, id[0])) != NULL &&
	    pm->state == ASTORE_ACCEPTED && pm->link == 0);
	CHECK_EQ(agentd_out_get(&A, id[0], &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
	CHECK_EQ(o.relay_index, 7);
	/* ... and shown: `ferry status MSGID` says accepted. */
	for (i = 0; i < 16; i++)
		snprintf(hx + 2 * i, 3, "%02x", id[1][i]);
	snprintf(rq, sizeof(rq), st, hx);
	agentd_ctl_handle(&A, rq, strlen(rq), NULL, 0, &reply, &rl, &body,
	    &bl);
	CHECK((r = json_loadb(reply, rl, 0, &jerr)) != NULL);
	CHECK(r != NULL && strcmp(json_string_value(json_object_get(
	    json_object_get(r, "message"), "state")), "accepted") == 0);
	json_decref(r);
	free(reply);
	free(body);
	/* Not durable yet: the store still says queued. */
	CHECK_EQ(astore_get_out(A.store, id[0], &o), 0);
	CHECK_EQ(o.state, ASTORE_QUEUED);
	CHECK_EQ(log_find_msg(A.log, id[0], LOG_ACCEPTED, &ia), FERRY_ENOENT);
	/* A duplicate ACCEPTED (the relay answering a retransmission):
	 * nothing more kept. */
	CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id[0], o.env_hash, 0,
	    &acc, &alen), 0);
	bufs[0] = acc;
	CHECK_EQ(agentd_receive_many(&A, bufs, &alen, 1), 0);
	free(acc);
	CHECK_EQ(A.ndefer, DEFER_N);
	/* The first RECEIPT: one commit for it and every custody record. */
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, m[0], ml[0]), 0);
	CHECK(capB.n >= 1);
	rlen = capB.len[capB.n - 1];
	CHECK((rcpt = malloc(rlen)) != NULL);
	memcpy(rcpt, capB.buf[capB.n - 1], rlen);
	cap_clear(&capB);
	bufs[0] = rcpt;
	CHECK_EQ(agentd_receive_many(&A, bufs, &rlen, 1), 0);
	free(rcpt);
	CHECK_EQ(log_commits(A.log), c1 + 1);
	CHECK_EQ(A.ndefer, 0);
	for (i = 0; i < DEFER_N; i++) {
		CHECK_EQ(astore_get_out(A.store, id[i], &o), 0);
		CHECK_EQ(o.state, i == 0 ? ASTORE_DELIVERED : ASTORE_ACCEPTED);
		CHECK_EQ(log_find_msg(A.log, id[i], LOG_ACCEPTED, &ia), 0);
	}
	/* In the log, the ACCEPTED before the RECEIPT of its message. */
	CHECK_EQ(log_find_msg(A.log, id[0], LOG_ACCEPTED, &ia), 0);
	CHECK_EQ(log_find_msg(A.log, id[0], LOG_RECEIPT, &ir), 0);
	CHECK(ia < ir);
	/* Synced commits per referral so far: N sends + 1, not 2N + 1. */
	CHECK(log_commits(A.log) - c0 <= DEFER_N + 1);
	for (i = 0; i < DEFER_N; i++)
		free(m[i]);
}

/*
 * Issue 10: a custody record waits for a commit at most AGENTD_DEFER_MS:
 * the loop's poll timeout is cut to it (agentd_defer_wait) and, once
 * due, agentd_defer_due commits it alone; before that, nothing.  A
 * submission's commit carries one waiting (no commit of its own); and
 * agentd_close commits what is left (the reopened store has it).
 */
TEST(accepted_deferred_due)
{
	struct astore_out o;
	char *json, err[AGENTD_ERR_MAX];
	uint8_t id[3][16], *acc;
	size_t len, alen, i;
	uint64_t c0, t;
	const uint8_t *bufs[1];

	CHECK((json = doc(&len)) != NULL);
	for (i = 0; i < 3; i++)
		CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL,
		    id[i], err, sizeof(err)), 0);
	cap_clear(&capA);
	CHECK_EQ(agentd_defer_wait(&A, agentd_mono_ms(), 1000), 1000);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(astore_get_out(A.store, id[i], &o), 0);
		CHECK_EQ(relay_answer(relay, ENV_ACCEPTED, id[i], o.env_hash,
		    0, &acc, &alen), 0);
		bufs[0] = acc;
		CHECK_EQ(agentd_receive_many(&A, bufs, &alen, 1), 0);
		free(acc);
		if (i == 0) {
			/* Due at once: a poll of no more than the delay. */
			t = A.defer_since;
			CHECK_EQ(agentd_defer_wait(&A, t, 1000),
			    AGENTD_DEFER_MS);
			CHECK_EQ(agentd_defer_wait(&A, t + 40, 1000),
			    AGENTD_DEFER_MS - 40);
			CHECK_EQ(agentd_defer_wait(&A, t + AGENTD_DEFER_MS,
			    1000), 0);
			c0 = log_commits(A.log);
			CHECK_EQ(agentd_defer_due(&A, t + AGENTD_DEFER_MS - 1),
			    0);
			CHECK_EQ(log_commits(A.log), c0);
			CHECK_EQ(agentd_defer_due(&A, t + AGENTD_DEFER_MS), 0);
			CHECK_EQ(log_commits(A.log), c0 + 1);
			CHECK_EQ(astore_get_out(A.store, id[0], &o), 0);
			CHECK_EQ(o.state, ASTORE_ACCEPTED);
			CHECK_EQ(A.ndefer, 0);
			CHECK_EQ(agentd_defer_wait(&A, t, 1000), 1000);
		}
		if (i == 1) {
			/* A send's commit carries it: one commit for both. */
			c0 = log_commits(A.log);
			CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL,
			    NULL, id[0], err, sizeof(err)), 0);
			cap_clear(&capA);
			CHECK_EQ(log_commits(A.log), c0 + 1);
			CHECK_EQ(A.ndefer, 0);
			CHECK_EQ(astore_get_out(A.store, id[1], &o), 0);
			CHECK_EQ(o.state, ASTORE_ACCEPTED);
		}
	}
	free(json);
	/* The third waits; a stop commits it. */
	CHECK_EQ(A.ndefer, 1);
	agentd_close(&A);
	CHECK_EQ(open_agent(&A, "alpha", &capA), 0);
	CHECK_EQ(astore_get_out(A.store, id[2], &o), 0);
	CHECK_EQ(o.state, ASTORE_ACCEPTED);
}

/*
 * Issue 10 (from branch `commits`): with a spool folder, N groups
 * received cost N synced commits, not 2N: the unspooled marks of one
 * group's files (durable) are cleared by the next group's commit, the
 * last ones by their own commit once due (AGENTD_DEFER_MS); a group's
 * marks are still stored right after its own commit (a crash then
 * writes its files again).
 */
TEST(spool_marks_folded)
{
	char *json, err[AGENTD_ERR_MAX];
	const uint8_t *bufs[2];
	uint8_t *m[6], id[6][16];
	size_t len, ml[6], i, k;
	uint64_t c0;
	int ok;

	ok = reopen_spool(&B, "bravo", &capB) == 0;
	CHECK(ok);
	if (!ok)
		return;
	CHECK((json = doc(&len)) != NULL);
	cap_clear(&capA);
	for (i = 0; i < 6; i++) {
		CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL,
		    id[i], err, sizeof(err)), 0);
		CHECK(capA.n == 1);
		m[i] = capA.buf[0];
		ml[i] = capA.len[0];
		capA.n = 0;
	}
	free(json);
	c0 = log_commits(B.log);
	for (k = 0; k < 3; k++) {
		bufs[0] = m[2 * k];
		bufs[1] = m[2 * k + 1];
		CHECK_EQ(agentd_receive_many(&B, bufs, &ml[2 * k], 2), 0);
		/* Not due yet: no commit of the marks' own. */
		CHECK_EQ(agentd_defer_due(&B, B.defer_since +
		    AGENTD_DEFER_MS - 1), 0);
		CHECK_EQ(log_commits(B.log), c0 + k + 1);
		CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 2 * (k + 1));
		/* This group's marks stay until a later commit; the group
		 * before's went with this one. */
		CHECK_EQ(astore_is_unspooled(B.store, id[2 * k]), 1);
		CHECK_EQ(astore_is_unspooled(B.store, id[2 * k + 1]), 1);
		if (k > 0) {
			CHECK_EQ(astore_is_unspooled(B.store, id[2 * k - 2]),
			    0);
			CHECK_EQ(astore_is_unspooled(B.store, id[2 * k - 1]),
			    0);
		}
	}
	CHECK_EQ(B.nspooled, 2);
	/* Due: the last group's marks, one commit. */
	CHECK_EQ(agentd_defer_due(&B, B.defer_since + AGENTD_DEFER_MS), 0);
	CHECK_EQ(log_commits(B.log), c0 + 3 + 1);
	for (i = 0; i < 6; i++)
		CHECK_EQ(astore_is_unspooled(B.store, id[i]), 0);
	CHECK_EQ(agentd_defer_due(&B, agentd_mono_ms() + AGENTD_DEFER_MS), 0);
	CHECK_EQ(log_commits(B.log), c0 + 4);	/* nothing left: none */
	for (i = 0; i < 6; i++)
		free(m[i]);
	cap_clear(&capB);
}

/*
 * Issue 11 item 8: a WARN when the roster in force or our encryption key
 * comes within 30, 7, 1 day(s) of its expiry, once per threshold crossed
 * however often the check runs; a newer roster that moves the expiry
 * away re-arms the warnings.  Driven by explicit times (no clock).
 */
TEST(expiry_warnings)
{
	const uint64_t D = 86400000;
	uint64_t t, k;

	/* The roster: the key's expiry kept far away meanwhile. */
	k = agentd_key_expires(&A);
	CHECK(k > 0);
	t = k - 300 * D;
	A.roster->expires = t;
	A.roster_stage = A.key_stage = 0;
	CHECK_EQ(agentd_expiry_check(&A, t - 31 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, t - 30 * D), 1);	/* 30 days */
	CHECK_EQ(agentd_expiry_check(&A, t - 30 * D + 1000), 0);
	CHECK_EQ(agentd_expiry_check(&A, t - 8 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, t - 7 * D + 1), 1);	/* 7 days */
	CHECK_EQ(agentd_expiry_check(&A, t - 6 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, t - 2 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, t - D + 5000), 1);	/* 1 day */
	CHECK_EQ(agentd_expiry_check(&A, t - 1000), 0);
	CHECK_EQ(A.roster_stage, 3);
	/* Expired: the ERROR line of agentd_roster_expired says it. */
	CHECK_EQ(agentd_expiry_check(&A, t + 1000), 0);
	/* A newer roster 60 days away: re-armed, silent until 30 days. */
	A.roster->expires = t + 60 * D;
	CHECK_EQ(agentd_expiry_check(&A, t + 1000), 0);
	CHECK_EQ(A.roster_stage, 0);
	CHECK_EQ(agentd_expiry_check(&A, t + 31 * D), 1);
	/* Starting within 7 days warns once, for 7 days, not for 30 too. */
	A.roster_stage = 0;
	CHECK_EQ(agentd_expiry_check(&A, t + 55 * D), 1);
	CHECK_EQ(A.roster_stage, 2);

	/* Our encryption key (the roster's listing of alpha). */
	A.roster->expires = k + 1000 * D;
	A.roster_stage = A.key_stage = 0;
	CHECK_EQ(agentd_expiry_check(&A, k - 40 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, k - 29 * D), 1);
	CHECK_EQ(agentd_expiry_check(&A, k - 29 * D), 0);
	CHECK_EQ(agentd_expiry_check(&A, k - 12 * 3600000ULL), 1);
	CHECK_EQ(A.key_stage, 3);
	CHECK_EQ(agentd_secs_left(k, k - 12 * 3600000ULL), 12 * 3600);
	CHECK_EQ(agentd_secs_left(k, k + 5000), -5);
}

/*
 * Each test runs in a process of its own (the harness forks) with agents
 * of its own, opened here in the child: LMDB environments must not cross
 * a fork, and a failed test must leave nothing behind for the next.
 * Tests that continue a story (accepted, receive_and_duplicate,
 * receipt_delivers, reopen_keeps_state) replay the steps before them.
 */
static void (*cur_test)(void);

static void
with_agents(void)
{

	if (open_agent(&A, "alpha", &capA) != 0 ||
	    open_agent(&B, "bravo", &capB) != 0) {
		t_fail(__FILE__, __LINE__, "open_agent", 0, 0);
		return;
	}
	cur_test();
	agentd_close(&A);
	agentd_close(&B);
	cap_clear(&capA);
	cap_clear(&capB);
	free(sent_msg);
	free(receipt);
}

#undef RUN
#define RUN(name) do { cur_test = name; t_run(#name, with_agents); } while (0)

int
main(void)
{

	t_init();
	if (sodium_init() < 0 || setup_net() != 0) {
		printf("not ok - setup\n");
		return (t_done() || 1);
	}
	RUN(send_path);
	RUN(accepted);
	RUN(receive_and_duplicate);
	RUN(receipt_delivers);
	RUN(refusals);
	RUN(nack_fails_message);
	RUN(too_big_nacked);
	RUN(nack_reason_escaped);
	RUN(nack_reason_generic);
	RUN(timers_monotonic);
	RUN(hello_resent_until_answered);
	RUN(accepted_asked_until_answered);
	RUN(envelope_stored_once);
	RUN(ctl_group_commit);
	RUN(replies_group_commit);
	RUN(recv_group_commit);
	RUN(receipt_signature_counts);
	RUN(accepted_by_proof);
	RUN(spool_fsyncs_grouped);
	RUN(metrics_written_unsynced);
	RUN(spool_scan_again);
	RUN(garbage_frame);
	RUN(local_failure_held);
	RUN(unknown_key_not_held_forever);
	RUN(nack_transient_codes);
	RUN(receipt_after_revocation);
	RUN(links_follow_roster);
	RUN(frame_from_wrong_relay_link);
	RUN(failover_between_relays);
	RUN(second_custody_logged);
	RUN(fastest_then_not_held);
	RUN(failover_not_put_off_by_retries);
	RUN(reopen_keeps_state);
	RUN(accepted_deferred);
	RUN(accepted_deferred_due);
	RUN(spool_marks_folded);
	RUN(expiry_warnings);
	ident_free(admin);
	ident_free(relay);
	ident_free(alpha);
	ident_free(bravo);
	ident_free(charlie);
	return (t_done());
}
