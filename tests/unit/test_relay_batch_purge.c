/*
 * test_relay_batch_purge.c: an operator's purge of a revoked agency's
 * queue (relay/ctl.c, batch.c) without sockets, with the fixtures of
 * tests/lib/trelay.c.  A purge whose part could not be committed (the
 * disk full twice in one turn) ends saying so, with the count of what was
 * purged, never "ok" for messages still queued; a reason the NACKs cannot
 * carry whole is cut where it stays text, so the purge always ends.  Each
 * answer begins with its request's nonce.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/harness.h"
#include "../lib/trelay.h"
#include "envelope.h"
#include "log.h"
#include "relay_int.h"

#define NONCE "00112233445566778899aabbccddeeff"

/* <data>/purge.result into ${buf} ("" if none), after the request's nonce
 * it must begin with ("" if it does not). */
static void
purge_result(char *buf, size_t n)
{
	char path[CONFIG_PATH_MAX + 32];
	FILE *f;
	size_t k = 0;

	snprintf(path, sizeof(path), "%s/purge.result", conf.data);
	buf[0] = '\0';
	if ((f = fopen(path, "r")) != NULL) {
		k = fread(buf, 1, n - 1, f);
		fclose(f);
	}
	buf[k] = '\0';
	if (strncmp(buf, NONCE " ", strlen(NONCE) + 1) != 0)
		buf[0] = '\0';
	else
		memmove(buf, buf + strlen(NONCE) + 1, k - strlen(NONCE));
}

/* A purge of bravo's queue under way in ${r}, for ${why}. */
static void
purge_start(struct relay *r, const char *why)
{

	r->purge_active = 1;
	r->purge_more = 0;
	r->purge_n = 0;
	snprintf(r->purge_to, sizeof(r->purge_to), "bravo");
	snprintf(r->purge_why, sizeof(r->purge_why), "%s", why);
	snprintf(r->purge_nonce, sizeof(r->purge_nonce), NONCE);
}

/*
 * Review of session 10: the disk full at the purge's commit and again at
 * its retry: nothing purged, no sender told; the purge used to answer
 * "ok 1" all the same.
 */
TEST(purge_not_committed_not_ok)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32];
	char res[512];

	CHECK(r != NULL);
	if (r == NULL)
		return;
	CHECK_EQ(queued_msg(r, id, h), 0);
	sent_clear();
	purge_start(r, "closed");
	ctl_turn(r, NULL);
	CHECK_EQ(r->nitems, 1);
	r->fail_commits = 2;
	CHECK_EQ(turn(r), 0);
	ctl_done(r);
	purge_result(res, sizeof(res));
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_QUEUED);
	CHECK_EQ(nsent, 0);
	CHECK(strncmp(res, "refused the disk is full: 0 message(s) purged",
	    strlen("refused the disk is full: 0 message(s) purged")) == 0);
	CHECK_EQ(r->purge_active, 0);
	relay_done(r);
}

/*
 * Review of session 10: a reason of 200 bytes of two-byte characters,
 * cut by the NACK's bound inside a character: the NACK could not be
 * made, the purge was tried again every turn, never answered, and every
 * later purge refused until a restart.  Now cut where it stays UTF-8.
 */
TEST(purge_long_reason_ends)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32];
	char res[512], why[201];
	struct env e;
	size_t i, nacks = 0;

	CHECK(r != NULL);
	if (r == NULL)
		return;
	CHECK_EQ(queued_msg(r, id, h), 0);
	sent_clear();
	for (i = 0; i < 100; i++)
		memcpy(why + 2 * i, "\xc3\xa9", 2);
	why[200] = '\0';
	purge_start(r, why);
	for (i = 0; i < 3 && r->purge_active; i++) {
		ctl_turn(r, NULL);
		CHECK_EQ(turn(r), 0);
		ctl_done(r);
	}
	CHECK_EQ(r->purge_active, 0);
	purge_result(res, sizeof(res));
	CHECK(strncmp(res, "ok 1", 4) == 0);
	CHECK(lookup(r, id, NULL, NULL) != QUEUE_QUEUED);
	for (i = 0; i < nsent; i++)
		if (sent_type(i, &e) == ENV_NACK &&
		    -(int)e.code == FERRY_EPURGED) {
			nacks++;
			CHECK(e.reason_len > 0 && e.reason_len < 160);
		}
	CHECK_EQ(nacks, 1);
	relay_done(r);
}

int
main(void)
{

	t_init();
	if (setup() != 0) {
		printf("not ok - setup\n");
		return (1);
	}
	RUN(purge_not_committed_not_ok);
	RUN(purge_long_reason_ends);
	roster_free(ro);
	tnet_free();
	return (t_done());
}
