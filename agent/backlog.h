/*
 * backlog.h: the agent's backlog per recipient: how many of our messages
 * to each agency are not delivered yet (QUEUED or ACCEPTED: stored here,
 * not receipted by the recipient nor failed), and when the oldest of them
 * was queued.  Kept as the messages change state (agentd_count_move), so
 * that the refusal of a send over max_backlog, `ferry status` and
 * metrics.prom read it at a cost that does not grow with the history
 * (docs/agent.md, "Back-pressure").  No I/O, no policy.
 *
 * Costs: a recipient is found by a walk of the recipients with a backlog
 * (a few partners, never the messages).  The oldest message is the head
 * of a queue of (id, time) in order of queuing; delivered ones are
 * dropped from its head when it is read (each entry dropped once:
 * amortised O(1)), and the queue is compacted when mostly delivered
 * entries sit behind an old undelivered head.  Whether a message is
 * still undelivered is asked of the caller (${live}: the agent's
 * pending table), so this file calls no other.
 */
#ifndef FERRY_BACKLOG_H
#define FERRY_BACKLOG_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.h"

struct backlog;

/* Is message ${id} still undelivered?  1 or 0 (the caller's answer). */
typedef int backlog_live_fn(void *ctx, const uint8_t id[FERRY_MSGID_LEN]);

/* One recipient's backlog, as backlog_top and backlog_get report it. */
struct backlog_row {
	char to[FERRY_ID_MAX + 1];
	uint64_t n;			/* undelivered messages */
	uint64_t oldest_ms;		/* wall clock ms it was queued; 0: none */
};

/** backlog_new(live, ctx): an empty table asking ${live}(${ctx}, id), or NULL (out of memory). */
struct backlog *backlog_new(backlog_live_fn *live, void *ctx);

/** backlog_free(b): free ${b}; NULL is a no-op. */
void backlog_free(struct backlog *b);

/**
 * backlog_add(b, to, id, t): message ${id} to ${to}, queued at ${t} (wall
 * clock ms), is undelivered.  0, or FERRY_ENOMEM (then the count still
 * follows, and only its age may be shown younger than it is).
 */
int backlog_add(struct backlog *b, const char *to,
    const uint8_t id[FERRY_MSGID_LEN], uint64_t t);

/** backlog_done(b, to): one message to ${to} was delivered or failed. */
void backlog_done(struct backlog *b, const char *to);

/**
 * backlog_loaded(b): the backlog_adds of a start (in any order) are done:
 * sort each queue by time.  Until then no queue is trimmed, as ${live}
 * may not know the messages yet.
 */
void backlog_loaded(struct backlog *b);

/** backlog_get(b, to, row): ${to}'s backlog into *${row} (n = 0 if none). */
void backlog_get(struct backlog *b, const char *to, struct backlog_row *row);

/**
 * backlog_top(b, rows, max): the recipients with the largest backlogs,
 * largest first, at most ${max} of them, into ${rows}; returns how many.
 * O(recipients x max).
 */
size_t backlog_top(struct backlog *b, struct backlog_row *rows, size_t max);

/**
 * backlog_said(b, to, over): 1 if ${to}'s backlog has just crossed its
 * bound (${over} 1) and this was not said since it was last under it
 * (${over} 0 re-arms it): a log line said once per crossing.
 */
int backlog_said(struct backlog *b, const char *to, int over);

#endif
