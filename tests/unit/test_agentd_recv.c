/*
 * test_agentd_recv.c: the agent core's incoming path (agent/agentd.c,
 * agentd_in.c) without sockets, with the fixtures of tests/lib/tagentd.c.
 * Tampered, misaddressed, oversized or unparseable messages are refused
 * with a NACK (whose reason never carries the content) and never stored;
 * bytes that are no envelope are refused without one.  A message the
 * agent cannot take yet (its sender not in its roster yet, a local
 * failure) is held, not refused, and received when it comes again;
 * messages sealed to a key no roster lists are held only for a while and
 * only so many.  Each envelope is stored once, so erasure leaves no copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../lib/harness.h"
#include "../lib/tagentd.h"
#include "agentd.h"
#include "agentd_int.h"
#include "envelope.h"
#include "referral.h"
#include "roster.h"

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

/*
 * Review (session 12): a MSG sealed and signed by a relay (its key is in
 * the roster, for its own answers) was opened, stored and receipted as a
 * referral "from relay": a compromised relay could inject referrals that
 * looked authenticated.  Now refused (NACK FERRY_ESENDER), not stored.
 */
TEST(msg_from_relay_refused)
{
	struct astore_in in;
	struct env e;
	char *json;
	size_t len, mlen;
	uint64_t before = B.n_refused;
	uint8_t id[16], *m;

	CHECK((json = doc(&len)) != NULL);
	if (json == NULL)
		return;
	CHECK_EQ(seal_to_bravo(relay, json, len, id, &m, &mlen), 0);
	free(json);
	if (t_failed_now)
		return;
	cap_clear(&capB);
	CHECK_EQ(agentd_receive(&B, m, mlen), 0);
	free(m);
	CHECK_EQ(B.n_refused, before + 1);
	CHECK_EQ(B.n_received, 0);
	CHECK_EQ(astore_get_in(B.store, id, &in), FERRY_ENOENT);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 0);
	CHECK(capB.n == 1 && cap_type(&capB, &e) == ENV_NACK &&
	    (int)e.code == -FERRY_ESENDER);
	cap_clear(&capB);
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
 * Review of session 10: a refusal our log cannot take (its write failed:
 * a full disk) is not NACKed, which would make the relay drop the
 * referral and tell its sender with no trace here: the message is held;
 * when it comes again the refusal is logged, then NACKed.
 */
TEST(refusal_unlogged_held)
{
	char *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16], *m;
	uint64_t logn = log_size(B.log), held = B.n_held_local;

	CHECK((json = doc(&len)) != NULL);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(capA.n, 1);
	m = capA.buf[0];
	len = capA.len[0];
	capA.n = 0;
	m[len / 2] ^= 0x40;	/* the signature fails */
	cap_clear(&capB);
	setenv("FERRY_TEST_FAULT", "refuse-log", 1);
	CHECK_EQ(agentd_receive(&B, m, len), 0);
	unsetenv("FERRY_TEST_FAULT");
	CHECK_EQ(cap_count(&capB, ENV_NACK), 0);
	CHECK_EQ(log_size(B.log), logn);
	CHECK_EQ(B.n_held_local, held + 1);
	/* Again, the log writable: logged and NACKed. */
	CHECK_EQ(expect_refused(m, len, id, FERRY_EBADSIG), 0);
	free(m);
}

int
main(void)
{

	t_init();
	if (sodium_init() < 0 || setup_net() != 0) {
		printf("not ok - setup\n");
		return (t_done() || 1);
	}
	RUN(refusals);
	RUN(msg_from_relay_refused);
	RUN(too_big_nacked);
	RUN(nack_reason_generic);
	RUN(envelope_stored_once);
	RUN(garbage_frame);
	RUN(local_failure_held);
	RUN(unknown_key_not_held_forever);
	RUN(refusal_unlogged_held);
	tnet_free();
	return (t_done());
}
