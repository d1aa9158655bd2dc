/*
 * tagentd.h: the fixtures of the agent core's unit tests
 * (tests/unit/test_agentd*.c): two agents, alpha (A) and bravo (B), and a
 * fake relay in one process, without sockets; the frames each agent hands
 * to its "socket" are captured (capA, capB) and handed over by hand.
 * Each test runs in a process of its own with agents of its own: RUN,
 * redefined below, runs it through with_agents.
 */
#ifndef FERRY_TAGENTD_H
#define FERRY_TAGENTD_H

#include <stddef.h>
#include <stdint.h>

#include "agentd.h"
#include "agentd_int.h"
#include "envelope.h"
#include "harness.h"
#include "tnet.h"

/* The agents of the test under way (alpha, bravo), opened by with_agents. */
extern struct agentd A, B;

/* Frames each agent handed to its "socket". */
struct cap {
	uint8_t *buf[16];
	size_t len[16];
	int link[16];		/* the relay link each went to */
	size_t n;
};
extern struct cap capA, capB;

/**
 * capture(ctx, link, buf, len): an agent's send (a->send): a copy of
 * ${buf} kept in the struct cap ${ctx}, with the ${link} it went to; -1
 * once 16 are kept or out of memory.
 */
int capture(void *ctx, int link, const uint8_t *buf, size_t len);

/** cap_clear(c): free the frames captured in ${c}; none left. */
void cap_clear(struct cap *c);

/**
 * cap_type(c, e): the last frame captured in ${c} decoded into ${e}: its
 * type, or 0 (none, or not an envelope).
 */
uint32_t cap_type(struct cap *c, struct env *e);

/** cap_count(c, type): how many frames captured in ${c} are of ${type}. */
size_t cap_count(struct cap *c, uint32_t type);

/**
 * setup_net(): the test network in t_tmpdir() (dir): the identities of
 * tnet.h (charlie a council that the roster does not list), a signed
 * roster listing alpha and bravo, and their key files; 0 or -1.
 */
int setup_net(void);

/* open_agent: with spool folders (<dir>/ID-spool-PID) when set. */
extern int with_spool;

/**
 * open_agent(a, id, c): open agent ${a} as ${id} with a data folder of
 * its own (<dir>/ID-data-PID), the roster and key of setup_net, its
 * frames captured into ${c}, link 0 up and current; 0 or the error of
 * agentd_open (said on stderr).
 */
int open_agent(struct agentd *a, const char *id, struct cap *c);

/**
 * doc(len): the test referral (tests/vectors/referrals/
 * nrm-adult-labour.json under $FERRY_ROOT, or .), malloc'd, its length
 * in *${len}; NULL if it cannot be read.
 */
char *doc(size_t *len);

/**
 * alpha_sends(n, id, m, ml): agent A sends the test referral to bravo
 * ${n} times; each submission must succeed and hand its "socket" one
 * frame: the MSG, into ${m}[i] (the caller frees it) and ${ml}[i], its
 * message id into ${id}[i].  0, or -1 at the first that does not.
 */
int alpha_sends(size_t n, uint8_t (*id)[16], uint8_t **m, size_t *ml);

/**
 * relay_answer(signer, type, id, hash, code, out, len): an answer of
 * ${type} (ACCEPTED or NACK with ${code}) to alpha about message ${id}
 * with envelope hash ${hash}, signed by ${signer}, relay index 7; encoded
 * into *${out} (malloc'd), *${len}.  0 or the error of env_encode.
 */
int relay_answer(struct ident *signer, uint32_t type, const uint8_t id[16],
    const uint8_t hash[32], uint32_t code, uint8_t **out, size_t *len);

/*
 * The story that test_agentd.c's first tests continue (send_path,
 * accepted, receive_and_duplicate, receipt_delivers): the message sent,
 * its envelope and bravo's receipt of it, freed by with_agents.
 */
extern uint8_t sent_id[16], sent_hash[32], *sent_msg;
extern size_t sent_len;
extern uint8_t *receipt;
extern size_t receipt_len;

/* The test with_agents runs (set by RUN). */
extern void (*cur_test)(void);

/**
 * with_agents(): run cur_test with agents A and B of its own (opened
 * here, in the test's process), then close them and free what the test
 * captured or kept.
 */
void with_agents(void);

#undef RUN
#define RUN(name) do { cur_test = name; t_run(#name, with_agents); } while (0)

#endif
