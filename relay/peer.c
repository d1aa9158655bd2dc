/*
 * peer.c: the relay's peers: one entry per agency seen (hash table, kept
 * until the relay stops), each with its route and the set of messages in
 * flight to it (credit, M2); what is queued, per recipient, per (sender,
 * recipient) share and in all; and the envelopes the relay signs and
 * sends to a peer's route (through r->send).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "ident.h"
#include "roster.h"
#include "wire.h"
#include "relay_int.h"

/* FNV-1a of ${s} (and its NUL) continuing from ${h}. */
static uint32_t
fnv(uint32_t h, const char *s)
{

	do
		h = (h ^ (uint8_t)*s) * 16777619u;
	while (*s++ != '\0');
	return (h);
}

static unsigned
hash_id(const char *s)
{

	return (fnv(2166136261u, s) % NBUCKETS);
}

/**
 * peer_get(r, id, create): the peer of agency ${id}, created (not routed,
 * revoked unless active) if ${create}; NULL if unknown or out of memory.
 * Peers live until the relay stops.
 */
struct peer *
peer_get(struct relay *r, const char *id, int create)
{
	unsigned b = hash_id(id);
	struct peer *p;

	for (p = r->tab[b]; p != NULL; p = p->next)
		if (strcmp(p->id, id) == 0)
			return (p);
	if (!create || (p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->fd = -1;
	p->revoked = !rutil_active(r, id);
	p->next = r->tab[b];
	r->tab[b] = p;
	return (p);
}

/** peer_free_all(r): free every peer and share; the relay is stopping. */
void
peer_free_all(struct relay *r)
{
	struct peer *p, *np;
	struct share *s, *ns;
	size_t b;

	for (b = 0; b < NBUCKETS; b++) {
		for (p = r->tab[b]; p != NULL; p = np) {
			np = p->next;
			free(p->fl);
			free(p);
		}
		r->tab[b] = NULL;
		for (s = r->shares[b]; s != NULL; s = ns) {
			ns = s->next;
			free(s);
		}
		r->shares[b] = NULL;
	}
}

/**
 * peer_share(r, from, to, create): sender ${from}'s share of recipient
 * ${to}'s queue, created (empty) if ${create}; NULL if none or out of
 * memory.  Shares live until the relay stops (at most one per pair of
 * roster agencies that ever queued a message).
 */
struct share *
peer_share(struct relay *r, const char *from, const char *to, int create)
{
	unsigned b = fnv(fnv(2166136261u, from), to) % NBUCKETS;
	struct share *s;

	for (s = r->shares[b]; s != NULL; s = s->next)
		if (strcmp(s->from, from) == 0 && strcmp(s->to, to) == 0)
			return (s);
	if (!create || (s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	snprintf(s->from, sizeof(s->from), "%s", from);
	snprintf(s->to, sizeof(s->to), "%s", to);
	s->next = r->shares[b];
	r->shares[b] = s;
	return (s);
}

/* ${v} -= ${d}, not below 0. */
static void
sub_floor(uint64_t *v, uint64_t d)
{

	*v -= *v >= d ? d : *v;
}

/**
 * peer_queued(r, from, to, bytes, add): a message of ${bytes} from ${from}
 * to ${to} enters (${add}) or leaves the queue: the counts of the
 * recipient, of the sender's share and of all queues.  0, or -1 if out
 * of memory (nothing counted).
 */
int
peer_queued(struct relay *r, const char *from, const char *to,
    uint64_t bytes, int add)
{
	struct peer *p;
	struct share *s;

	if ((p = peer_get(r, to, add)) == NULL ||
	    (s = peer_share(r, from, to, add)) == NULL)
		return (add ? -1 : 0);
	if (add) {
		p->depth++;
		p->bytes += bytes;
		s->depth++;
		s->bytes += bytes;
		r->m.queued_bytes += bytes;
		return (0);
	}
	sub_floor(&p->depth, 1);
	sub_floor(&p->bytes, bytes);
	sub_floor(&s->depth, 1);
	sub_floor(&s->bytes, bytes);
	sub_floor(&r->m.queued_bytes, bytes);
	return (0);
}

/**
 * peer_quota_hit(r, from, to, len): would a MSG of ${len} envelope bytes
 * from ${from} pass a queue limit for ${to}?  The QUOTA_* it would pass,
 * or -1.  The sender's share of
 * the recipient's queue first (issue 13, item 5.2: one insider may not
 * fill an offline partner's queue for every other sender), then the
 * recipient's queue, then all queues together.
 */
int
peer_quota_hit(struct relay *r, const char *from, const char *to, size_t len)
{
	const struct config *c = r->c;
	const struct peer *rp = peer_get(r, to, 0);
	const struct share *sh = peer_share(r, from, to, 0);
	uint64_t smax, sbytes;

	config_sender_limits(c, &smax, &sbytes);
	if (sh != NULL && sh->depth >= smax)
		return (QUOTA_SENDER_MSGS);
	if ((sh != NULL ? sh->bytes : 0) + len > sbytes)
		return (QUOTA_SENDER_BYTES);
	if (rp != NULL && rp->depth >= c->queue_max)
		return (QUOTA_MSGS);
	if ((rp != NULL ? rp->bytes : 0) + len > c->queue_max_bytes)
		return (QUOTA_BYTES);
	if (r->m.queued_bytes + len > c->queue_max_total_bytes)
		return (QUOTA_TOTAL_BYTES);
	return (-1);
}

/**
 * peer_fl_clear(p): forget what is in flight to ${p} (its route changed or
 * reset).
 */
void
peer_fl_clear(struct peer *p)
{

	if (p->inflight > 0) {
		if (p->cursor > p->reset_cursor)
			p->reset_cursor = p->cursor;
		p->reset_ms = rutil_mono_ms();
	}
	p->nfl = 0;
	p->inflight = 0;
	p->inflight_bytes = 0;
	p->cursor = 0;
}

/**
 * peer_fl_add(p, seq, now, bytes): ${seq} (${bytes} envelope bytes) was
 * sent to ${p} at ${now}; 0 or -1 (no memory).
 */
int
peer_fl_add(struct peer *p, uint64_t seq, uint64_t now, uint64_t bytes)
{
	struct flight *n;

	if (p->nfl == p->capfl) {
		size_t nc = p->capfl ? 2 * p->capfl : 16;

		if ((n = realloc(p->fl, nc * sizeof(*n))) == NULL)
			return (-1);
		p->fl = n;
		p->capfl = nc;
	}
	p->fl[p->nfl].seq = seq;
	p->fl[p->nfl].sent_ms = now;
	p->fl[p->nfl].bytes = bytes;
	p->nfl++;
	p->inflight = p->nfl;
	p->inflight_bytes += bytes;
	return (0);
}

/**
 * peer_fl_drop(p, i): entry ${i} of ${p}'s in-flight set is answered or
 * gone: drop it.
 */
void
peer_fl_drop(struct peer *p, size_t i)
{

	sub_floor(&p->inflight_bytes, p->fl[i].bytes);
	memmove(&p->fl[i], &p->fl[i + 1], (p->nfl - i - 1) * sizeof(*p->fl));
	p->nfl--;
	p->inflight = p->nfl;
}

/**
 * peer_fl_done(p, seq): ${seq} answered: give its credit back if it is in
 * flight to ${p}; 1 if it was.
 */
int
peer_fl_done(struct peer *p, uint64_t seq)
{
	size_t i;

	for (i = 0; i < p->nfl; i++)
		if (p->fl[i].seq == seq) {
			peer_fl_drop(p, i);
			return (1);
		}
	return (0);
}

/** peer_offline(r, p, why): ${p} lost its route (logged with ${why}). */
void
peer_offline(struct relay *r, struct peer *p, const char *why)
{

	if (!p->routed)
		return;
	p->routed = 0;
	peer_fl_clear(p);
	p->fd = -1;
	if (r->m.connected > 0)
		r->m.connected--;
	rlog(RLOG_INFO, "agent-offline", "agency=%s reason=%s", p->id, why);
}

/**
 * peer_send(r, p, b, n): send one envelope to ${p}'s route; 0, or -1
 * (route gone or full; errno says which).
 */
int
peer_send(struct relay *r, struct peer *p, const uint8_t *b, size_t n)
{

	if (!p->routed || p->revoked)
		return (-1);
	if (FERRY_FAULT("relay-send"))
		return (-1);	/* as if the pipe were full (EAGAIN) */
	if (r->send(r, p->rid, p->rid_len, b, n) != 0) {
		if (errno == EHOSTUNREACH)
			peer_offline(r, p, "unreachable");
		return (-1);
	}
	r->m.bytes_out += n;
	return (0);
}

/* Encode and sign a relay envelope of ${e}'s type to ${to}. */
static int
relay_env(struct relay *r, struct env *e, const char *to, uint8_t **out,
    size_t *len)
{

	e->version = ENV_VERSION;
	/* An id as env_new_id's, its random part from the relay's pool. */
	rpool_new_id(&r->rnd, e->id, ferry_now_ms());
	snprintf(e->from, sizeof(e->from), "%s", r->me->id);
	snprintf(e->to, sizeof(e->to), "%s", to);
	e->time = ferry_now_ms();
	return (env_encode(e, r->me->sign_sk, out, len));
}

/**
 * peer_make_nack(r, to, msg_id, hash, code, why, out, len): a relay-signed
 * NACK of ${code} to ${to}, its reason ferry_strerror(code) followed by
 * ${why} if not NULL (*${out} malloc'd, the caller's).
 */
int
peer_make_nack(struct relay *r, const char *to, const uint8_t *msg_id,
    const uint8_t *hash, int code, const char *why, uint8_t **out,
    size_t *len)
{
	struct env e;
	char reason[160];
	size_t n;

	snprintf(reason, sizeof(reason), "%s%s%s", ferry_strerror(code),
	    why != NULL ? ": " : "", why != NULL ? why : "");
	/* The reason is text on the wire (the encoder refuses anything but
	 * UTF-8): cut where it stays valid, e.g. not inside a character the
	 * bound above split, so that the NACK is always made. */
	for (n = strlen(reason); n > 0 &&
	    !wire_utf8_valid((const uint8_t *)reason, n); n--)
		;
	reason[n] = '\0';
	memset(&e, 0, sizeof(e));
	e.type = ENV_NACK;
	if (msg_id != NULL)
		memcpy(e.msg_id, msg_id, FERRY_MSGID_LEN);
	if (hash != NULL)
		memcpy(e.env_hash, hash, 32);
	e.code = (uint32_t)-code;
	e.reason = reason;
	e.reason_len = strlen(reason);
	return (relay_env(r, &e, to, out, len));
}

/**
 * peer_send_nack(r, p, msg_id, hash, code, why): send ${p} a NACK of
 * ${code} (reason as peer_make_nack).
 */
void
peer_send_nack(struct relay *r, struct peer *p, const uint8_t *msg_id,
    const uint8_t *hash, int code, const char *why)
{
	uint8_t *b;
	size_t n;

	if (peer_make_nack(r, p->id, msg_id, hash, code, why, &b, &n) != 0)
		return;
	(void)peer_send(r, p, b, n);
	free(b);
}

/**
 * peer_send_accepted(r, p, msg_id, hash, log_index): send ${p} an
 * ACCEPTED_P: the relay's latest checkpoint, its ACCEPTED entry at
 * ${log_index} and the entry's audit path under that checkpoint (no
 * signature: docs/protocol.md 6.3 step 2).  Should the entry or its
 * path not be read, a signed ACCEPTED instead (WARN line).
 */
void
peer_send_accepted(struct relay *r, struct peer *p, const uint8_t *msg_id,
    const uint8_t *hash, uint64_t log_index)
{
	uint8_t path[LOG_PROOF_MAX][FERRY_HASH_LEN], *raw = NULL, *b;
	struct env e;
	size_t n, rawlen = 0, np = 0;
	int rc = FERRY_ENOENT;

	memset(&e, 0, sizeof(e));
	e.type = ENV_ACCEPTED_P;
	memcpy(e.msg_id, msg_id, FERRY_MSGID_LEN);
	memcpy(e.env_hash, hash, 32);
	e.log_index = log_index;
	e.roster_version = r->roster->version;
	e.blob = r->checkpoint;
	e.blob_len = r->checkpoint_len;
	if (r->checkpoint == NULL || log_index >= r->checkpoint_size ||
	    (rc = log_get_raw(r->log, log_index, &raw, &rawlen)) != 0 ||
	    (rc = log_prove_inclusion(r->log, log_index, r->checkpoint_size,
	    path, &np)) != 0) {
		rlog(RLOG_WARN, "accepted-signed", "log=%llu: its proof could "
		    "not be made (%s); a signed ACCEPTED sent instead",
		    (unsigned long long)log_index, ferry_strerror(rc));
		e.type = ENV_ACCEPTED;
	} else {
		e.entry = raw;
		e.entry_len = rawlen;
		e.path = &path[0][0];
		e.path_len = np * FERRY_HASH_LEN;
	}
	rc = relay_env(r, &e, p->id, &b, &n);
	free(raw);
	if (rc != 0)
		return;
	(void)peer_send(r, p, b, n);
	free(b);
}

/** peer_send_simple(r, p, type): send ${p} an envelope of ${type} alone. */
void
peer_send_simple(struct relay *r, struct peer *p, uint32_t type)
{
	struct env e;
	uint8_t *b;
	size_t n;

	memset(&e, 0, sizeof(e));
	e.type = type;
	if (relay_env(r, &e, p->id, &b, &n) != 0)
		return;
	(void)peer_send(r, p, b, n);
	free(b);
}

/**
 * peer_push_roster(r, p, version, bytes, len): push roster ${version}
 * (${bytes}) to ${p}.
 */
void
peer_push_roster(struct relay *r, struct peer *p, uint64_t version,
    const uint8_t *bytes, size_t len)
{
	struct env e;
	uint8_t *b;
	size_t n;

	memset(&e, 0, sizeof(e));
	e.type = ENV_ROSTER;
	e.roster_version = version;
	e.blob = bytes;
	e.blob_len = len;
	if (relay_env(r, &e, p->id, &b, &n) != 0)
		return;
	(void)peer_send(r, p, b, n);
	free(b);
}

