/*
 * tagentd.c: the fixtures of the agent core's unit tests (tagentd.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd.h"
#include "agentd_int.h"
#include "envelope.h"
#include "harness.h"
#include "tagentd.h"
#include "tnet.h"
#include "troster.h"

static char pin[65];
struct agentd A, B;
struct cap capA, capB;

int
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

void
cap_clear(struct cap *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->buf[i]);
	c->n = 0;
}

/* The last captured frame's type, or 0. */
uint32_t
cap_type(struct cap *c, struct env *e)
{

	if (c->n == 0 || env_decode(c->buf[c->n - 1], c->len[c->n - 1], 0,
	    e) != 0)
		return (0);
	return (e->type);
}

int
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

int with_spool;	/* open_agent: with spool folders */

int
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

char *
doc(size_t *len)
{
	char path[1024];
	const char *root = getenv("FERRY_ROOT");

	snprintf(path, sizeof(path), "%s/tests/vectors/referrals/"
	    "nrm-adult-labour.json", root ? root : ".");
	return ((char *)t_read_file(path, len));
}

/* A relay-signed answer (ACCEPTED or NACK) about message ${id}. */
int
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

uint8_t sent_id[16], sent_hash[32], *sent_msg;
size_t sent_len;
uint8_t *receipt;
size_t receipt_len;

/* Count captured frames of ${type}. */
size_t
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
 * Each test runs in a process of its own (the harness forks) with agents
 * of its own, opened here in the child: LMDB environments must not cross
 * a fork, and a failed test must leave nothing behind for the next.
 * Tests that continue a story (accepted, receive_and_duplicate,
 * receipt_delivers, reopen_keeps_state) replay the steps before them.
 */
void (*cur_test)(void);

void
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

int
alpha_sends(size_t n, uint8_t (*id)[16], uint8_t **m, size_t *ml)
{
	char *json, err[AGENTD_ERR_MAX];
	size_t len, i;
	int rc = 0;

	if ((json = doc(&len)) == NULL)
		return (-1);
	cap_clear(&capA);
	for (i = 0; i < n && rc == 0; i++) {
		if (agentd_submit(&A, "bravo", json, len, NULL, NULL, id[i],
		    err, sizeof(err)) != 0 || capA.n != 1) {
			rc = -1;
			break;
		}
		m[i] = capA.buf[0];
		ml[i] = capA.len[0];
		capA.n = 0;
	}
	free(json);
	return (rc);
}
