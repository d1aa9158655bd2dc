/*
 * trelay.h: the fixtures of the relay's batch tests
 * (tests/unit/test_relay_batch*.c): a relay state with its log and queue
 * in a temporary folder and no sockets, envelopes handed to batch_add as
 * if drained from the socket, what the relay sends captured through
 * r->send (sent, nsent).  The agencies alpha and bravo are routed;
 * senders take recipients' keys from the shared signed test roster.
 */
#ifndef FERRY_TRELAY_H
#define FERRY_TRELAY_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "ident.h"
#include "relay_int.h"
#include "roster.h"
#include "tnet.h"

extern struct roster *ro;		/* for the senders' key lookups */
/* The configuration of the relay under test (relay_new resets it). */
extern struct config conf;

/* What the relay sent, in order: to whom (the route id) and the bytes. */
#define SENT_MAX 64
struct trelay_sent {
	char to[FERRY_ID_MAX + 1];
	uint8_t *b;
	size_t n;
};
extern struct trelay_sent sent[SENT_MAX];
extern size_t nsent;

/** sent_clear(): free what the relay sent; nothing left in sent. */
void sent_clear(void);

/** sent_type(i, e): sent envelope ${i} decoded into ${e}: its type, or 0. */
uint32_t sent_type(size_t i, struct env *e);

/**
 * setup(): the test network in t_tmpdir() (dir): the identities of
 * tnet.h (charlie an agency like alpha) and the shared signed test roster
 * (tests/lib/troster.c) listing the three agencies, read back as ro and
 * as every relay's roster in force; 0 or -1.
 */
int setup(void);

/**
 * route(r, id): agency ${id} has a live route in relay ${r} (its id is
 * its routing id here): its peer, made if need be; NULL if it cannot be
 * made.
 */
struct peer *route(struct relay *r, const char *id);

/**
 * relay_new(): a fresh relay with a log and queue of its own (under dir,
 * apart by pid and by call), conf reset to the defaults, alpha and bravo
 * routed, sent cleared; NULL on failure.  Freed by relay_done.
 */
struct relay *relay_new(void);

/** relay_done(r): free relay ${r} (NULL: nothing) and what it sent. */
void relay_done(struct relay *r);

/**
 * turn(r): the end of a turn of the loop: commit (a full disk handled as
 * the loop does), then answer; undone on failure.  0 or the error.
 */
int turn(struct relay *r);

/**
 * arrive(r, from, b, n): ${from}'s envelope ${b} arrives, as batch_add
 * from the socket.
 */
void arrive(struct relay *r, const char *from, const uint8_t *b, size_t n);

/**
 * make_msg_from(from, to, id, hash, out, len): a MSG sealed by ${from}
 * to ${to}: its id, envelope hash, bytes (malloc'd) and length.  0 or
 * the first error.
 */
int make_msg_from(struct ident *from, const char *to,
    uint8_t id[FERRY_MSGID_LEN], uint8_t hash[32], uint8_t **out,
    size_t *len);

/** make_msg(id, hash, out, len): make_msg_from alpha to bravo. */
int make_msg(uint8_t id[FERRY_MSGID_LEN], uint8_t hash[32], uint8_t **out,
    size_t *len);

/**
 * make_env(from, to, type, id, hash, blob, blen, out, len): an envelope of
 * ${type} signed by ${from} to ${to} about (${id}, ${hash}) (either may
 * be NULL), carrying ${blob}; encoded into *${out} (malloc'd), *${len}.
 */
int make_env(struct ident *from, const char *to, uint32_t type,
    const uint8_t id[FERRY_MSGID_LEN], const uint8_t hash[32],
    const uint8_t *blob, size_t blen, uint8_t **out, size_t *len);

/**
 * lookup(r, id, fin, flen): the queue state of ${id} (QUEUE_*) in relay
 * ${r}; its final into *${fin} (malloc'd, or NULL) and *${flen} if ${fin}
 * is not NULL.
 */
int lookup(struct relay *r, const uint8_t id[FERRY_MSGID_LEN], uint8_t **fin,
    size_t *flen);

/**
 * committed(r, from, b, n, id, st): ${from}'s envelope ${b} arrives and
 * one turn commits and answers it (the answers dropped): 0 if message
 * ${id} is then in state ${st}, else the turn's error or -1.
 */
int committed(struct relay *r, const char *from, const uint8_t *b, size_t n,
    const uint8_t id[FERRY_MSGID_LEN], int st);

/**
 * ask(r, from, id, hash): ${from} ASKs about (${id}, ${hash}); answered
 * at once.  0 or the error of make_env.
 */
int ask(struct relay *r, struct ident *from,
    const uint8_t id[FERRY_MSGID_LEN], const uint8_t hash[32]);

/**
 * queued_msg(r, id, hash): a message of alpha's to bravo, committed and
 * answered (one turn): its id and envelope hash.  0 or the first error.
 */
int queued_msg(struct relay *r, uint8_t id[FERRY_MSGID_LEN],
    uint8_t hash[32]);

/**
 * make_note(signer, origin, size, ext, out, len): a checkpoint note of
 * ${signer}'s key under ${origin} at tree size ${size}, with an
 * extension line of ${ext} bytes if ${ext} > 0 (signed as
 * note_sign_checkpoint does); *${out} malloc'd.  0 or the first error.
 */
int make_note(const struct ident *signer, const char *origin, uint64_t size,
    size_t ext, uint8_t **out, size_t *len);

/**
 * receipted(r, id, hash, rc, n): bravo's RECEIPT for (${id}, ${hash})
 * committed (one turn); its bytes in *${rc} (malloc'd), *${n}.  0 if the
 * message is then done.
 */
int receipted(struct relay *r, const uint8_t id[FERRY_MSGID_LEN],
    const uint8_t hash[32], uint8_t **rc, size_t *n);

/**
 * accepted_of(i, id, idx): 0 if sent envelope ${i} is the ACCEPTED_P of
 * ${id}, its log index in *${idx}; else -1.
 */
int accepted_of(size_t i, const uint8_t id[FERRY_MSGID_LEN], uint64_t *idx);

#endif
