/*
 * agentd.h: the ferry-agent daemon's core, shared by its files.
 *
 *   agentd.c        open and close, key reload, each frame from the relay
 *                   handed to the file below that handles it, content
 *   agentd_roster.c the roster chain: loaded at start, newer versions
 *                   adopted (pushes, SIGHUP), expiry, agentd_can_send
 *   agentd_out.c    the outgoing path (send, group commit),
 *                   retransmission, HELLO, routing through the relays
 *   agentd_replies.c the relay's replies about our messages (ACCEPTED:
 *                   deferred to the next commit; RECEIPT, NACK), in one
 *                   group commit
 *   pending.c       the pending table: messages waiting for ACCEPTED or
 *                   RECEIPT, found by id and taken in order of time
 *   backlog.c       our undelivered messages per recipient and the
 *                   oldest one's age (back-pressure: max_backlog)
 *   agentd_in.c     the incoming path (MSG: RECEIPT, NACK or held), the
 *                   spool inbox marks and their recovery at start
 *   agentd_util.c   helpers these share (agentd_int.h: internal only)
 *   agentd_defer.c  writes riding on the next synced commit: custody
 *                   records (ACCEPTED) and spool inbox marks (log hook)
 *   agentd_net.c    the DEALER links, one per relay of the roster (CURVE,
 *                   monitor, HELLO, heartbeats, backoff) and the event loop
 *   agentd_ctl.c    the control socket for the `ferry` CLI (JSON)
 *   agentd_erase.c  erasure (crypto-shredding) by request and retention
 *   agentd_export.c a case's messages for a subject access request
 *   agentd_metrics.c <data>/metrics.prom (Prometheus text), for the loop
 *   agentd_spool.c  the spool folders (outbox/ in, inbox/ out); the core
 *                   reaches them through a->spool_init, a->spool_inbox
 *
 * Calls between these files go one way (none calls back a file that
 * calls it): agentd_net.c -> agentd_metrics.c -> agentd_roster.c,
 * agentd_net.c -> agentd_ctl.c -> agentd_erase.c, agentd_export.c ->
 * agentd.c -> agentd_spool.c
 * -> agentd_out.c -> agentd_roster.c -> agentd_util.c, agentd.c ->
 * agentd_replies.c -> agentd_out.c, and agentd.c ->
 * agentd_in.c -> agentd_util.c -> agentd_defer.c (which calls none of
 * these; the log calls it back through its hook, log_set_hook); a file
 * may skip steps down this order.
 * pending.c calls none of them (agentd.c, agentd_out.c and
 * agentd_replies.c call it);
 * nor does backlog.c (agentd.c, agentd_util.c, agentd_ctl.c,
 * agentd_metrics.c and agentd_spool.c call it).
 *
 * The core does no network I/O: frames to a relay leave through the
 * ${send} callback (naming the link), so tests drive it directly.  One
 * thread.  With several relays (issue 12; docs/protocol.md 6.3.1) each
 * message is routed through one link (agentd_out.c, pending.h) and fails
 * over to another.
 * docs/agent.md describes the daemon; docs/protocol.md section 6 the link.
 */
#ifndef FERRY_AGENTD_H
#define FERRY_AGENTD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "aconf.h"
#include "astore.h"
#include "envelope.h"
#include "ferry.h"
#include "ident.h"
#include "log.h"
#include "roster.h"
#include "rpool.h"

#define AGENTD_ERR_MAX 512
#define AGENTD_HELD_RETRY_MIN 10000	/* ms: first retry of a held MSG */
#define AGENTD_HELD_RETRY_MAX 600000	/* ms: longest pause between them */
#define AGENTD_HELLO_RETRY_MIN 3000	/* ms: HELLO unanswered: send again */
#define AGENTD_HELLO_RETRY_MAX 60000
#define AGENTD_LAG_GRACE 10000		/* ms: MSGs to a key above ours held
					 * while a newer roster may come */
#define AGENTD_LAG_HELD_MAX 64		/* ... at most so many at a time */

enum { AGENTD_HELLO_DONE = 0, AGENTD_HELLO_SENT, AGENTD_HELLO_UNSENT };

/* Warnings before the roster in force or our encryption key expires:
 * WARN lines when 30, 7 and 1 day(s) remain (agentd_expiry_check). */
#define AGENTD_EXPIRY_STAGES 3
extern const unsigned agentd_expiry_warn_days[AGENTD_EXPIRY_STAGES];

/*
 * The retransmission schedule of messages waiting for ACCEPTED or RECEIPT
 * (kept in a->pend, pending.h; acted on by agentd_tick and agentd_hello):
 * a QUEUED message is sent again (the whole MSG) on a timer (retry,
 * doubling to retry_max) and at every HELLO.  An ACCEPTED one is in the
 * relay's custody: the agent sends an ASK for it (msg_id and env_hash,
 * not the envelope), which the relay answers with the RECEIPT or NACK it
 * holds, or NACK FERRY_ENOTHELD if it holds no record (then the message
 * goes back to QUEUED); first reask_ms after the ACCEPTED, then doubling
 * to reask_max_ms, never giving up, and at every HELLO (the backoff
 * restarts).  Without it a RECEIPT whose one forward was lost stayed
 * unknown to the sender (issue 13, hole 1).  At most AGENTD_ASK_BURST
 * ASKs leave per tick, so a partner's return after a long outage does
 * not stall the loop.
 */
#define AGENTD_ASK_BURST 256

struct pending;
struct backlog;

/* Recipients with the largest backlogs shown by status, and in
 * metrics.prom (ferry_agent_backlog{to}). */
#define AGENTD_BACKLOG_TOP 5
#define AGENTD_BACKLOG_METRICS 64

/*
 * One relay link (agentd_net.c keeps it; status and metrics show it):
 * its relay (id, endpoint from the roster or relay= / relay_endpoints=,
 * keys pinned), its state and why, its HELLO handshake, and its last
 * round trip (a HEARTBEAT to the next frame from it).
 */
#define AGENTD_LINKS 8		/* = ROSTER_MAX_RELAYS */

enum { AGENTD_LINK_CONNECTING = 0, AGENTD_LINK_CONNECTED,
    AGENTD_LINK_REFUSED };

struct agentd_link {
	int listed;			/* in the roster in force */
	unsigned order;			/* its place there */
	char id[FERRY_ID_MAX + 1];
	char endpoint[ROSTER_ENDPOINT_MAX + 1];
	uint8_t curve_pk[32];		/* pinned as the CURVE server key */
	int reopen;			/* key or endpoint changed: reconnect */
	int connected;
	int refused;			/* the relay refused our transport key */
	uint64_t connected_since, last_rx;	/* wall clock ms (shown) */
	uint64_t last_tx;		/* agentd_mono_ms() */
	uint64_t down_since;		/* agentd_mono_ms(): not connected since */
	uint64_t reconnects;
	uint64_t last_hello;		/* agentd_mono_ms() of the last HELLO */
	int hello_state;		/* AGENTD_HELLO_*: answered yet? */
	uint64_t hello_wait;		/* ms before sending it again */
	uint64_t ping;			/* agentd_mono_ms() of a HEARTBEAT not
					 * yet answered, 0 none */
	int has_rtt;
	uint64_t rtt_ms;		/* the last round trip */
	uint64_t cp_size, cp_mono;	/* our checkpoint sent last (its tree
					 * size; agentd_mono_ms()), 0 none */
	uint64_t rcp_size;		/* the relay's largest checkpoint seen
					 * in its custody receipts, 0 none */
	uint8_t rcp_root[32];		/* its root */
	int rcp_said;			/* WARN relay-log-behind said */
	/* Why the link is in its state: when that state began (wall clock
	 * ms); the last connection error, when, and what to check ("" until
	 * one happens). */
	uint64_t link_since;
	uint64_t last_error_ms;
	char last_error[AGENTD_ERR_MAX];
	char last_check[AGENTD_ERR_MAX];
};

/*
 * The spool inbox files of one received referral (agentd_spool_inbox):
 * <msgid>.meta and <msgid>.json; ${rc} is set to 0 once both are in
 * place, durably, or to the error that kept them out.
 */
struct agentd_inbox_file {
	const uint8_t *id;		/* FERRY_MSGID_LEN bytes */
	const char *json, *meta;
	size_t len, metalen;
	int rc;
};

struct agentd {
	struct aconf conf;
	struct ident *me;
	struct roster *roster;		/* the verified roster in force */
	struct env_note_cache note_cache;	/* receipt notes verified */
	/* The relay "relay =" is for: the first of the pinned (install)
	 * roster, the anchor of the chain (agentd_roster_load); the
	 * override applies only while the roster in force lists it. */
	char relay_for[FERRY_ID_MAX + 1];
	int relay_for_said;		/* WARN relay-config said */
	struct roster *conf_next;	/* at open: the configured roster
					 * file when it is the next version */
	struct log *log;
	struct astore *store;
	uint8_t *storage_key;		/* 32 bytes, sodium_malloc'd */
	/* The content key of the message at hand (sealing, opening,
	 * rereading): one guarded buffer (sodium_malloc'd once at open, not
	 * per message: mmap and mprotect cost more than a small message's
	 * crypto), wiped (sodium_memzero) after each use. */
	uint8_t *ckey;
	/* Random bytes for public values only (envelope ids, the nonces of
	 * sealed keys, retry jitter), drawn ahead (rpool.h: measured at
	 * peak, getrandom calls per referral 6 -> 4.1 in the sender, whose
	 * env_seal draws the rest, and 2 -> 0.13 in the recipient). */
	struct rpool pubrand;
	char origin[LOG_ORIGIN_MAX];	/* "ferry/<id>" */

	/* Frames to relay link ${link}: returns 0 if handed to its socket. */
	int (*send)(void *ctx, int link, const uint8_t *buf, size_t len);
	void *send_ctx;

	/* The spool folders (agentd_spool.c), set by agentd_open: the core
	 * reaches them through these, as agentd_spool.c calls the core
	 * (agentd_submit_batch, agentd_can_send) and two files never call
	 * each other both ways.  agentd_spool_init, agentd_spool_inbox. */
	int (*spool_init)(struct agentd *a);
	int (*spool_inbox)(struct agentd *a, struct agentd_inbox_file *f,
	    size_t n);

	/* Messages waiting for ACCEPTED or RECEIPT, each with its
	 * retransmission schedule (pending.h: pending_find, pending_count). */
	struct pending *pend;
	/* During the tick that follows a submission's commit: its
	 * submissions, whose envelopes (committed) are sent from memory
	 * rather than read back from the log (agentd_out.c send_stored). */
	struct agentd_sub *const *fresh;
	size_t nfresh;

	/* Received messages whose spool file is written (and durable) but
	 * whose unspooled mark is still stored: cleared in the agent's next
	 * commit, whatever it is, or on their own AGENTD_DEFER_MS after the
	 * oldest deferred write (agentd_defer.c). */
	uint8_t (*spooled)[FERRY_MSGID_LEN];
	size_t nspooled, capspooled;

	/* Custody records (ACCEPTED) of our messages not committed yet:
	 * they ride on the next commit (agentd_defer.c, agentd_int.h).
	 * ${defer_inb}, ${spooled_inb}: how many of each the open batch
	 * carries; ${defer_since}: agentd_mono_ms() of the oldest. */
	struct agentd_defer_item *defer;
	size_t ndefer, capdefer, defer_inb, spooled_inb;
	uint64_t defer_since;

	/* The relay links (issue 12), one per relay of the roster in force,
	 * kept by agentd_net.c (agentd_links_sync from the roster), shown
	 * by status.  A slot keeps its relay while the roster lists it (the
	 * pending table names links by slot).  ${connected}: any link up. */
	struct agentd_link links[AGENTD_LINKS];
	size_t nlinks;			/* slots in use: 0 .. nlinks-1 */
	int cur_link;			/* the link of the frames at hand, -1 */
	int connected;
	uint64_t started;		/* agentd_mono_ms() at open */
	int want_hello;			/* a roster push skipped a version */
	int listed;			/* our agency is in the roster */
	int hold_logged;		/* spool held back: said once */
	int expired_logged;		/* roster in force expired: said once */

	/* Expiry warnings (agentd_expiry_check): how many of the
	 * thresholds agentd_expiry_warn_days the roster in force and our
	 * encryption key have crossed (each warned of once). */
	int roster_stage, key_stage;

	/* Messages stored, by state, kept as they change so that status and
	 * the metrics read them in O(1): n_out[ASTORE_*] (counted once at
	 * open), n_in (the inbox table's size at open, then each one). */
	uint64_t n_out[5], n_in;

	/* Our undelivered messages (QUEUED or ACCEPTED) per recipient and
	 * the oldest one's age (backlog.h), kept likewise: a send to a
	 * recipient whose backlog has reached conf.max_backlog is refused
	 * (FERRY_EBACKLOG; an emergency referral never is), and status and
	 * metrics.prom show it. */
	struct backlog *backlog;

	/* MSGs held (not acknowledged) because they are sealed to a key of
	 * ours not loaded yet, or after a local or temporary failure (out of
	 * memory, storage, a sender our roster does not list yet); cleared
	 * by HELLO.  After a local failure a HELLO is due at held_retry. */
	uint8_t (*held)[FERRY_MSGID_LEN];
	size_t nheld, capheld;
	uint64_t held_retry, held_wait;	/* agentd_mono_ms(), ms; 0 = none */
	uint64_t lag_version;		/* roster version at which a MSG to a
					 * key above ours was first held */
	uint64_t lag_since;		/* agentd_mono_ms() then */
	size_t nheld_lag;		/* held for that since the HELLO */
	uint64_t unknown_hello;		/* roster version a HELLO was sent
					 * at for an unknown sender */

	/* Relay replies read together: their group commit (agentd_out.c). */
	struct agentd_grp *grp;

	/* The next retention pass (agentd_mono_ms(); 0: at the first loop). */
	uint64_t next_retention;
	/* Erased since the store was last compacted (log/compact-due on
	 * disk too); the next try (mono ms) after a failed one; synced
	 * commits of the store's earlier handles (a compaction reopens
	 * it); set when a compaction lost the store: the loop stops. */
	int compact_due;
	int log_behind;			/* a relay holds a checkpoint of our
					 * log ahead of it (log-behind) */
	uint64_t compact_retry;
	uint64_t commits_before;
	int store_lost;
	int lockfd;			/* log/lock.mdb held since a compaction
					 * (descriptor + 1; 0: none) */

	/* Counters. */
	uint64_t n_sent, n_accepted, n_delivered, n_failed;
	uint64_t n_received, n_duplicates, n_refused, n_rosters;
	uint64_t n_asks, n_not_held;
	uint64_t n_checkpoints_sent;	/* CHECKPOINTs to relays */
	uint64_t n_relay_behind;	/* relays seen behind their own */
	uint64_t n_failovers, n_resends;	/* messages routed again */
	uint64_t n_held, n_held_local;
	uint64_t n_spool_fsyncs;	/* sync calls of the spool: one
					 * syncfs per group of files, fsyncs
					 * of its folders: status's
					 * spool_fsyncs, to see them batched */
};

/**
 * agentd_open(a, conf): load the key file, verify the roster chain (the
 * install roster pinned by conf->roster_pin, saved in <data>/roster/ at
 * first start, then every later version saved there; a configured roster
 * file holding the next version is verified and adopted), open the log with the store's tables in it
 * (<data>/log), write the spool inbox files of received messages a crash
 * cut off before their file, and load the retransmission schedule.  On failure prints nothing; ${err} (may be NULL,
 * AGENTD_ERR_MAX) says why.  0 or a negative FERRY_E* code.
 */
int agentd_open(struct agentd *a, const struct aconf *conf, char *err,
    size_t errlen);

/** agentd_close(a): close everything ${a} holds; safe on a partly opened ${a}. */
void agentd_close(struct agentd *a);

/*
 * One submission of a group commit (agentd_submit_batch).  The caller
 * fills the first five fields; the rest are the outcome and working
 * state.
 */
struct agentd_sub {
	const char *to;			/* recipient agency */
	const char *json;		/* the referral document */
	size_t len;
	const char *spool_name;		/* may be NULL */
	const uint8_t *spool_key;	/* 32 bytes: idempotency key, or NULL */
	const uint8_t *doc_key;		/* 32 bytes: spool_key bound to the
					 * document (a control request's
					 * request_id), or NULL: the same
					 * spool_key with another document
					 * is refused, not a duplicate */

	int rc;				/* 0 or the error */
	char err[AGENTD_ERR_MAX];	/* why, when rc != 0 */
	uint8_t id[FERRY_MSGID_LEN];	/* the message id, when rc == 0 */
	int dup;			/* 1: spool_key already stored (or
					 * earlier in the batch): id is that
					 * message's, nothing new sent */

	/* Working state. */
	int prepared;
	int link;			/* the relay link chosen (first choice) */
	uint8_t *env;
	size_t envlen;
	uint32_t kid;
	uint64_t idx;
	struct astore_out rec;
};

/**
 * agentd_submit_batch(a, sb, n): the outgoing path for the ${n}
 * submissions *sb[0..n-1]
 * at once (group commit): each is validated and sealed as agentd_submit
 * does; then every one that passed is stored and logged (LOG_SENT with
 * its envelope, outbox record, spool index entry) in ONE batch and one
 * synced commit, and only then are they scheduled and sent.  A
 * submission whose spool_key is already stored, or repeats an earlier
 * one in the batch, gets that message's id (dup = 1).  Per-submission
 * refusals leave the others unaffected; a failed commit fails all of
 * them (nothing stored).
 */
void agentd_submit_batch(struct agentd *a, struct agentd_sub *const *sb,
    size_t n);

/**
 * agentd_submit(a, to, json, len, spool_name, spool_key, id, err, errlen):
 * the outgoing path.  Validate referral ${json}, convert it to msgpack,
 * seal it to agency ${to}'s current encryption key, and store it (outbox
 * record, envelope, locally sealed content key, spool index entry when
 * ${spool_key} is not NULL) and log LOG_SENT, in one synced commit, before
 * this returns 0 and sets ${id}.  Then tries to send it once.  On failure
 * nothing is stored or sent and ${err} names the problem ("PATH: RULE"
 * for a document error).  Errors: FERRY_EJSON, FERRY_ESCHEMA,
 * FERRY_ECONSENT, FERRY_ERECIPIENT (unknown or revoked), FERRY_EKEYWINDOW,
 * storage errors.
 */
int agentd_submit(struct agentd *a, const char *to, const char *json,
    size_t len, const char *spool_name, const uint8_t *spool_key,
    uint8_t id[FERRY_MSGID_LEN], char *err, size_t errlen);

/**
 * agentd_receive(a, buf, len): handle one frame from the relay: MSG
 * (verify, decrypt, de-duplicate, log, inbox, RECEIPT or NACK), ACCEPTED,
 * RECEIPT, NACK, ROSTER, HEARTBEAT.  Replies leave through a->send.
 * A MSG is NACKed only for a verdict about the message (bad signature or
 * encryption, not for us, bad document, revoked sender, too big); a local
 * or temporary failure (out of memory, storage, a sender the roster held
 * does not list yet) holds it: no RECEIPT, no NACK, ERROR logged, retried
 * by a later HELLO (a->held_retry).  Returns 0 when the frame was handled
 * (including refusing or holding it), or a negative code for a local
 * failure with another frame type, in which case nothing was
 * acknowledged and the relay will redeliver.
 */
int agentd_receive(struct agentd *a, const uint8_t *buf, size_t len);

/**
 * agentd_defer_flush(a): commit now, in one synced commit, the writes
 * deferred to the agent's next commit (agentd_defer.c): the relay's
 * custody receipts (ACCEPTED) of our messages, and the "unspooled" marks
 * of received messages whose spool inbox file is written, so that after
 * a crash a file is written again only if the crash came before this
 * commit or any other that carried its mark.  agentd_close calls it; the
 * loop, through agentd_defer_due.  0 (also with nothing to commit) or a
 * storage error (they then stay for the next commit).
 */
int agentd_defer_flush(struct agentd *a);

/**
 * agentd_defer_wait(a, now, wait): ${wait} ms, or fewer: until the oldest
 * deferred write is due (AGENTD_DEFER_MS after it); the loop's poll
 * timeout.  agentd_defer_due(a, now): agentd_defer_flush if it is due,
 * else 0 and nothing.
 */
uint64_t agentd_defer_wait(const struct agentd *a, uint64_t now,
    uint64_t wait);
int agentd_defer_due(struct agentd *a, uint64_t now);

/**
 * agentd_receive_many(a, bufs, lens, n): handle ${n} frames read together,
 * in order, as agentd_receive does each, except that the RECEIPTs among
 * them are recorded in one group commit (log entries and outbox states:
 * one synced commit, which also carries the custody records waiting),
 * before any other frame is handled and at the end; their actions
 * (state, schedule, log line) follow the commit.  An ACCEPTED is acted
 * on at once and its records left for the agent's next commit
 * (agentd_defer.c).  Local failures are logged; returns the first.
 */
int agentd_receive_many(struct agentd *a, const uint8_t *const *bufs,
    const size_t *lens, size_t n);

/**
 * agentd_can_send(a, err, errlen): 0 if new messages may be sent now;
 * FERRY_EEXPIRED while the roster in force has expired (naming its
 * expiry date), FERRY_EUNKNOWNAGENCY while our agency is not in the
 * roster held (a partner added later, waiting for the relay's pushes),
 * with ${err} saying so.
 */
int agentd_can_send(struct agentd *a, char *err, size_t errlen);

/**
 * agentd_roster_expired(a, now): 1 if the roster in force has expired at
 * ${now} (logged as ERROR once per roster), else 0.  While it has, new
 * messages are refused (agentd_can_send: FERRY_EEXPIRED); receiving,
 * receipts and messages already stored go on.
 */
int agentd_roster_expired(struct agentd *a, uint64_t now);

/* Messages chosen for erasure (agentd_erase_select, retention). */
struct agentd_erase_pick {
	uint8_t id[FERRY_MSGID_LEN];
	char rule[ASTORE_RULE_MAX + 1];
};
struct agentd_erase_sel {
	struct agentd_erase_pick *p;
	size_t n, cap;
	size_t already;			/* matched, already erased */
	size_t in_flight;		/* matched, sent and still on its way */
};

/**
 * agentd_erase(a, id, reason, ref, rule, err, errlen): erase message
 * ${id} (sent or received) by crypto-shredding, in one synced commit:
 * the log's envelope deleted and a LOG_ERASURE entry (${reason}
 * LOG_ERASE_REQUEST or LOG_ERASE_RETENTION, authorised by this agency),
 * the store's sealed content key zeroed and the erasure recorded (with
 * ${ref}, a request's reference, and ${rule}, the retention rule; either
 * may be NULL); then the spool's plaintext copies are overwritten and
 * removed.  FERRY_ENOENT (no such message), FERRY_EDUPMSG (already
 * erased), FERRY_EINVAL (a sent message still on its way), storage
 * errors; ${err} says which.
 */
int agentd_erase(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN],
    int reason, const char *ref, const char *rule, char *err,
    size_t errlen);

/**
 * agentd_erase_many(a, p, n, reason, ref, done, err, errlen): agentd_erase
 * of the ${n} messages ${p} (each with its rule; "" for a request), up to
 * 128 of them in one synced commit: a message that may not be erased
 * (already erased, on its way, gone) is left out of its group; a group
 * whose commit fails is not erased at all.  ${done}[i] is set to 1 for
 * each message erased, else 0.  0, or the first error (${err} says it).
 */
int agentd_erase_many(struct agentd *a, const struct agentd_erase_pick *p,
    size_t n, int reason, const char *ref, uint8_t *done, char *err,
    size_t errlen);

/**
 * agentd_erase_select(a, case_id, before, sel): the messages, sent or
 * received, not yet erased and not on their way, whose case reference is
 * ${case_id} (NULL: any) and that were queued or received before
 * ${before} ms (0: any), into ${sel} (agentd_erase_sel_free).
 */
int agentd_erase_select(struct agentd *a, const char *case_id,
    uint64_t before, struct agentd_erase_sel *sel);
void agentd_erase_sel_free(struct agentd_erase_sel *sel);

/**
 * agentd_retention_run(a, now, nerased): erase every message whose kind
 * has a rule in the retention setting and whose age at ${now} (ms; since
 * it was queued or received) is at least the rule's (LOG_ERASE_RETENTION,
 * agentd_erase_many); first remove the spool copies of erased
 * messages a crash may have left.  0 or the first error (logged).
 */
int agentd_retention_run(struct agentd *a, uint64_t now, size_t *nerased);

/** agentd_retention_due(a, mono): run retention at the first call, then daily; 1 if it ran. */
int agentd_retention_due(struct agentd *a, uint64_t mono);

/**
 * agentd_erase_failed(a, case_id, before, ret, nret, now, unread):
 * overwrite and remove the spool's failed/ files (refused before they
 * became messages: no log entry, no record) whose document names case
 * ${case_id} (NULL: any), whose time (mtime) is before ${before} ms (0:
 * any) and, with retention rules ${ret}[0..nret-1] (NULL: none), past its
 * document kind's rule at ${now} (a kind without a rule, or unread, is
 * kept), each with its NAME.error.  Returns how many; *${unread} (may be
 * NULL) counts the files whose case id could not be read (not JSON, too
 * big): left in place.
 */
size_t agentd_erase_failed(struct agentd *a, const char *case_id,
    uint64_t before, const struct aconf_ret *ret, size_t nret, uint64_t now,
    size_t *unread);

/**
 * agentd_compact(a, err, errlen): after an erasure (a->compact_due), write
 * a compacted copy of the store's LMDB file (live pages only), sync it,
 * put it in the file's place and reopen the store: the erased messages'
 * envelopes and sealed keys left in freed pages are gone from the file.
 * The loop waits meanwhile (about a second per 100 MB).  0 done or not
 * due; a FERRY_E* code: not done, still due (tried again in 10 minutes
 * and at the next start, log/compact-due), why in ${err}; -1: the store
 * could not be reopened (a->store_lost; the daemon must stop).
 */
int agentd_compact(struct agentd *a, char *err, size_t errlen);

/** agentd_compact_at_open(a, err, errlen): compact if log/compact-due. */
int agentd_compact_at_open(struct agentd *a, char *err, size_t errlen);

/** agentd_store_close(a): close the store, the log and a held lock.mdb. */
void agentd_store_close(struct agentd *a);

/** agentd_store_open(a, err, errlen): open <data>/log (log and store). */
int agentd_store_open(struct agentd *a, char *err, size_t errlen);

/** agentd_commits(a): synced commits of the store since start. */
uint64_t agentd_commits(const struct agentd *a);

/**
 * agentd_key_expires(a): when partners can no longer seal messages to
 * us: the latest not_after of our agency's encryption keys in the roster
 * in force (the key file's when the roster does not list us yet); 0 if
 * there are none.
 */
uint64_t agentd_key_expires(const struct agentd *a);

/** agentd_secs_left(t, now): seconds from ${now} to ${t} (ms); negative once passed. */
int64_t agentd_secs_left(uint64_t t, uint64_t now);

/**
 * agentd_expiry_check(a, now): at wall clock ${now}, log one WARN line
 * (roster-expiring, key-expiring) when the roster in force or our
 * encryption key (agentd_key_expires) has come within 30, 7 or 1 day(s)
 * of its expiry: once per threshold crossed (a->roster_stage,
 * a->key_stage), not at every call; a newer roster or key that moves
 * the expiry away re-arms the warnings.  Returns how many lines it wrote.
 */
int agentd_expiry_check(struct agentd *a, uint64_t now);

/** agentd_hello(a, link): send HELLO (roster version, credit) on ${link} and schedule every pending message for retransmission now. */
int agentd_hello(struct agentd *a, int link);

/**
 * agentd_hello_due(a, link, now): 1 if a HELLO should be sent on ${link} now (${now} =
 * agentd_mono_ms()): a roster push skipped a version (at most once a
 * second), held messages are due for redelivery, or no frame came from
 * the relay since the last HELLO (lost, or not sent: the relay would
 * deliver nothing to us) for 3 s, doubling to 60 s.  Only while
 * connected.
 */
int agentd_hello_due(struct agentd *a, int link, uint64_t now);

/*
 * Our log's checkpoint goes to each relay (CHECKPOINT, docs/protocol.md
 * 6.4) once its HELLO is answered, then at most every this many ms while
 * the log grows: the relay logs it and holds it, so a log later found
 * behind it (restored from a backup, rewritten) is caught.  Above the
 * relay's default checkpoint_interval (10 s), which it would skip.
 */
#define AGENTD_CHECKPOINT_MS 30000

/**
 * agentd_checkpoint_due(a, link, now): send our latest signed checkpoint
 * on ${link} if its HELLO is answered and the log grew since the one sent
 * last (at most every AGENTD_CHECKPOINT_MS; again after each HELLO).  0,
 * or the error of reading or sending it.
 */
int agentd_checkpoint_due(struct agentd *a, int link, uint64_t now);

/**
 * agentd_log_behind(a, e): a relay's NACK FERRY_EINCONSISTENT with no
 * message id: it holds a checkpoint of our log that the log now is
 * behind or forked from (restored from a backup, replaced).  Verified,
 * said once (ERROR log-behind), shown in status (agent.log_behind).  0.
 */
int agentd_log_behind(struct agentd *a, const struct env *e);

/** agentd_heartbeat(a, link): send a HEARTBEAT envelope on ${link} (its round trip timed). */
int agentd_heartbeat(struct agentd *a, int link);

/**
 * agentd_mono_ms(): CLOCK_MONOTONIC in ms (never 0).  Every timer of the
 * agent runs on it, so a step of the wall clock (NTP, VM restore) stops
 * or hurries none of them; the wall clock (ferry_now_ms) is kept for what
 * is stored, signed or shown.
 */
uint64_t agentd_mono_ms(void);

/**
 * agentd_tick(a, now): retransmit pending messages whose time has come
 * (only while connected); ${now} is agentd_mono_ms().  Returns the ms
 * until the next one is due (at most 60000).
 */
uint64_t agentd_tick(struct agentd *a, uint64_t now);

/**
 * agentd_content(a, id, dir, json): the decrypted referral of message
 * ${id} (received, or sent by us) as JSON text in a new buffer *${json}
 * (free()); *${dir} = 'i' or 'o'.  FERRY_ENOENT if we hold no such message.
 */
int agentd_content(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN],
    char *dir, char **json);

struct json_t;

/**
 * agentd_export(a, case_id, out, err, errlen): every message, sent or
 * received, whose case reference is ${case_id}, for a subject access
 * request, as a new JSON object *${out} (json_decref): the agency, the
 * case, the time of the export and "messages" oldest first, each with
 * direction, counterpart (id, roster name), kind, referral type,
 * urgency, times (ISO 8601 UTC), state, failure, in_reply_to and
 * replies, and its decrypted "document", or "erased" (when, by what)
 * and no content.  FERRY_ENOENT (no message of that case), storage
 * errors; ${err} says which.
 */
int agentd_export(struct agentd *a, const char *case_id,
    struct json_t **out, char *err, size_t errlen);

/**
 * agentd_roster_reload(a): (SIGHUP) adopt newer roster versions found as
 * <data>/roster/v<N>.roster or at the configured roster path, each
 * verified against the one in force, logged, saved.  0 or the first error.
 */
int agentd_roster_reload(struct agentd *a);

/**
 * agentd_keys_reload(a): (SIGHUP) read the key file again.  The identity
 * (id, signing and transport keys) must not change; the encryption keys
 * become the file's, plus held keys the file dropped whose not_after has
 * not passed.  If messages were held for a key we did not hold, a HELLO
 * follows (the relay redelivers them).  On failure the keys held are kept.
 */
int agentd_keys_reload(struct agentd *a);

/**
 * agentd_relay_endpoint(a, i): the endpoint of the roster's relay ${i}:
 * relay_endpoints= for its id, else relay= for the first, else the
 * roster's.
 */
const char *agentd_relay_endpoint(const struct agentd *a, size_t i);

/**
 * agentd_links_sync(a): match a->links to the relays of the roster in
 * force: a relay kept keeps its slot (reopen set if its key or endpoint
 * changed), one added takes a free slot (reopen set), one removed is
 * unlisted.  Called at open and after each roster adopted.
 */
void agentd_links_sync(struct agentd *a);

/** agentd_link_find(a, id): the slot of listed relay ${id}, or -1. */
int agentd_link_find(const struct agentd *a, const char *id);

/**
 * agentd_link_up(a, link, up): link ${link} connected (1) or not (0)
 * from now on (link_since, down_since, a->connected follow).
 */
void agentd_link_up(struct agentd *a, int link, int up);

/* ---- agentd_spool.c ---- */

/**
 * agentd_spool_init(a): create <spool>/{outbox,sent,failed,inbox} and one
 * outbox/<agency>/ folder per active partner.  No-op without a spool.
 */
int agentd_spool_init(struct agentd *a);

/**
 * agentd_spool_restored(a): at start, each sent/<to>/NAME.id whose message
 * this agency's store does not know (neither sent nor erased: the data
 * folder was restored from a backup older than the send, or replaced):
 * NAME moved to failed/ with NAME.error saying so and what to do, the
 * sidecar removed, ERROR "restored".  The number of files so moved.
 */
int agentd_spool_restored(struct agentd *a);

/**
 * agentd_spool_scan(a): pick up complete files in <spool>/outbox/<agency>/
 * (see docs/agent.md), at most SPOOL_PER_SCAN; 1 if it took that many and
 * moved files on (more may wait: scan again at once), else 0.
 */
int agentd_spool_scan(struct agentd *a);

/**
 * agentd_spool_inbox(a, f, n): write the spool inbox files of ${n}
 * received referrals ${f}: for each, <spool>/inbox/<id>.meta then
 * <id>.json, each by a temporary file renamed into place once ONE
 * syncfs has made all of them durable; then ONE fsync of inbox/ for all
 * of them (a group's files are durable together: the caller clears their
 * "unspooled" marks only after this returns).
 * Each f[i].rc says how its pair went.  No-op without a spool.  0, or the
 * first error (FERRY_EIO, FERRY_ENOSPC).
 */
int agentd_spool_inbox(struct agentd *a, struct agentd_inbox_file *f,
    size_t n);

/* ---- agentd_ctl.c ---- */

/* One control request and its answer (agentd_ctl_handle_many). */
struct agentd_ctl_msg {
	const char *req;		/* JSON request */
	size_t reqlen;
	const uint8_t *doc;		/* optional document frame, or NULL */
	size_t doclen;
	char *reply;			/* out: JSON answer (free()) */
	size_t replylen;
	char *body;			/* out: optional second frame, or NULL */
	size_t bodylen;
};

/**
 * agentd_ctl_handle_many(a, m, n): answer the control requests ${m}[0..n-1]
 * in order, as agentd_ctl_handle does one; consecutive send and reply
 * requests are stored together in one group commit (one synced commit,
 * agentd_submit_batch) before any of them is answered.
 */
void agentd_ctl_handle_many(struct agentd *a, struct agentd_ctl_msg *m,
    size_t n);

/**
 * agentd_ctl_handle(a, req, reqlen, doc, doclen, reply, replylen, body,
 * bodylen): answer one control request (JSON ${req}, optional document
 * frame ${doc}) with a JSON reply in a new buffer *${reply} and optional
 * second frame *${body} (both free(), *${body} may be NULL).
 */
void agentd_ctl_handle(struct agentd *a, const char *req, size_t reqlen,
    const uint8_t *doc, size_t doclen, char **reply, size_t *replylen,
    char **body, size_t *bodylen);

/* ---- agentd_metrics.c ---- */

/**
 * agentd_metrics_write(a): write <data>/metrics.prom atomically in the
 * Prometheus text format (docs/agent.md, "Metrics"), each value read in
 * O(1).  0, FERRY_ENOMEM or the write's error.
 */
int agentd_metrics_write(struct agentd *a);

/* ---- agentd_net.c ---- */

/**
 * agentd_net_run(a, stop, hup): the event loop until *${stop} is set; when
 * *${hup} is set it is cleared and the roster reloaded.  0 or -1 on a
 * fatal error.
 */
int agentd_net_run(struct agentd *a, volatile sig_atomic_t *stop,
    volatile sig_atomic_t *hup);

#endif
