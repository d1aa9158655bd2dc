/*
 * pending.h: the agent's pending table: the messages waiting for ACCEPTED
 * or RECEIPT, each with its retransmission schedule (agentd.h says when a
 * message is due; agentd_out.c acts on it).  No I/O, no policy.
 *
 * Nothing here walks the table (issue 13 item 5: a partner back after an
 * outage with n messages made every reply and every tick cost n):
 *   - by message id, a hash table (open addressing, keyed SipHash of the
 *     id): find, add and delete in O(1) expected, for the relay's replies;
 *   - by next try, a binary min-heap per kind, QUEUED (sent again whole)
 *     and ACCEPTED (asked about): pending_first is O(1), a reschedule
 *     O(log n), so a tick costs the messages it takes, not all of them.
 *     Two heaps, because only ASKs are capped per tick: QUEUED messages
 *     due behind a capped run of ACCEPTED ones must still go.
 * pending_all_due (every HELLO) is O(n): once per reconnection, and a
 * HELLO retransmits the n messages anyway.
 */
#ifndef FERRY_PENDING_H
#define FERRY_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.h"
#include "log.h"

/* One pending message.  Read it; change it only through pending_*. */
struct pending_msg {
	uint8_t msg_id[FERRY_MSGID_LEN];
	uint32_t state;		/* ASTORE_QUEUED or ASTORE_ACCEPTED */
	uint32_t attempts;	/* sends (QUEUED) or ASKs (ACCEPTED) so far */
	uint64_t next_try;	/* agentd_mono_ms() when it is due */
	size_t pos;		/* its place in its kind's heap */
	/* Its relay (issue 12): QUEUED, the link it is routed through
	 * (sent_at: agentd_mono_ms() of its first send there, 0 not yet);
	 * ACCEPTED, the link of the relay holding it.  -1: none chosen
	 * (new, or after a restart until the link is known). */
	int link;
	uint64_t sent_at;
};

#define PENDING_LINKS 8		/* = ROSTER_MAX_RELAYS */

/*
 * What the routing rules (pending_choose, pending_reroute) know of one
 * relay link: up (connected), its last round trip (has_rtt), and since
 * when it has been down (agentd_mono_ms(); meaningful while !up).
 * ${order} is the relay's place in the roster (links with !listed are
 * never chosen).
 */
struct pending_link {
	int listed, up, has_rtt;
	unsigned order;
	uint64_t rtt_ms, down_since;
};

enum { PENDING_CHOOSE_ORDER = 0, PENDING_CHOOSE_FASTEST = 1 };

struct pending;

/**
 * pending_new(): an empty table, or NULL when out of memory.  sodium_init
 * must have succeeded (the hash key is random).
 */
struct pending *pending_new(void);

/** pending_free(p): free table ${p}; NULL is a no-op. */
void pending_free(struct pending *p);

/** pending_count(p): how many messages ${p} holds. */
size_t pending_count(const struct pending *p);

/**
 * pending_find(p, id): message ${id} in ${p}, or NULL.  The pointer (as
 * those of pending_first) stays valid until the next pending_set that
 * adds a message or the next pending_del.
 */
const struct pending_msg *pending_find(const struct pending *p,
    const uint8_t id[FERRY_MSGID_LEN]);

/**
 * pending_set(p, id, state, next_try): schedule message ${id} in ${state}
 * (ASTORE_QUEUED or ASTORE_ACCEPTED) at ${next_try}: added with 0
 * attempts if ${p} lacks it, else its state and time changed and its
 * attempts kept.  0, or FERRY_ENOMEM (nothing changed).
 */
int pending_set(struct pending *p, const uint8_t id[FERRY_MSGID_LEN],
    uint32_t state, uint64_t next_try);

/**
 * pending_retime(p, m, next_try, attempts): reschedule message ${m} (from
 * pending_find or pending_first on ${p}) at ${next_try} with ${attempts}.
 */
void pending_retime(struct pending *p, const struct pending_msg *m,
    uint64_t next_try, uint32_t attempts);

/** pending_del(p, id): remove message ${id} from ${p} (no-op if absent). */
void pending_del(struct pending *p, const uint8_t id[FERRY_MSGID_LEN]);

/**
 * pending_first(p, state): the message in ${state} due first (smallest
 * next_try; ties in no set order), or NULL if none is in that state.
 */
const struct pending_msg *pending_first(const struct pending *p,
    uint32_t state);

/**
 * pending_all_due(p, now): every message due at ${now} with 0 attempts
 * (a HELLO: each backoff starts again).  O(n).
 */
void pending_all_due(struct pending *p, uint64_t now);

/**
 * pending_route(p, m, link, sent_at): message ${m} is now routed through
 * (QUEUED) or held by (ACCEPTED) ${link} (-1: none), first sent there at
 * ${sent_at}.  pending_custody follows.
 */
void pending_route(struct pending *p, const struct pending_msg *m, int link,
    uint64_t sent_at);

/** pending_custody(p, link): ACCEPTED messages held by ${link}. O(1). */
size_t pending_custody(const struct pending *p, int link);

/**
 * pending_choose(l, n, how, exclude): the link to send a message through,
 * among ${l}[0..n-1] listed and up, other than ${exclude} (-1: none):
 * PENDING_CHOOSE_ORDER, the first in roster order; _FASTEST, the lowest
 * round trip (a link without one after every link with one), roster
 * order on ties.  -1 if no link qualifies.  Pure.
 */
int pending_choose(const struct pending_link *l, size_t n, int how,
    int exclude);

/**
 * pending_reroute(m, l, n, now, failover_ms, resend_ms): why message ${m}
 * must leave its link now, or 0 to stay: for a QUEUED one routed to a
 * link that is not up (or no longer listed), LOG_ROUTE_LINK_LOST (2); sent there
 * ${failover_ms} or more ago with no ACCEPTED, LOG_ROUTE_NO_ACCEPT (1);
 * for an ACCEPTED one whose custody link has been down (or unknown, or
 * unlisted: gone, down since ${unknown_since}) for ${resend_ms} or more,
 * LOG_ROUTE_RESEND (3).  A QUEUED one with no link (-1) stays: the
 * caller makes its first choice.  The
 * caller moves it only if another link is up (pending_choose).  Pure.
 */
int pending_reroute(const struct pending_msg *m, const struct pending_link *l,
    size_t n, uint64_t now, uint64_t failover_ms, uint64_t resend_ms,
    uint64_t unknown_since);

#endif
