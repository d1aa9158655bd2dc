/*
 * relay_int.h: what the files of the relay's core (loop.c, batch.c,
 * batch_check.c, retain.c, rroster.c, peer.c, rutil.c) share, not for its other files (relay.h is
 * their interface).  Each part names the file that defines it; relay.h
 * says which way calls go between these files.
 */
#ifndef FERRY_RELAY_INT_H
#define FERRY_RELAY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "log.h"
#include "relay.h"
#include "rpool.h"
#include "workers.h"

#define RID_MAX 256
#define NBUCKETS 4096
#define FD_MAX 65536		/* connection generations tracked per fd */

/* A message in flight to a peer (M2): credit comes back only for these. */
struct flight {
	uint64_t seq;			/* queue seq */
	uint64_t sent_ms;		/* mono ms of its latest send */
	uint64_t bytes;			/* envelope bytes */
};

/* A message in flight when its recipient's route reset is kept from
 * expiry this long after, for the redelivery that makes the recipient
 * send again a RECEIPT the link lost, and at most this long past its
 * expiry (batch.c, sweep_one). */
#define RESET_GRACE_MS (15 * 60 * 1000ULL)

struct peer {
	struct peer *next;		/* hash chain */
	struct flight *fl;		/* in flight on this route, send order */
	size_t nfl, capfl;
	char id[FERRY_ID_MAX + 1];
	int routed;			/* has a live route */
	uint8_t rid[RID_MAX];
	size_t rid_len;
	int fd;				/* ZMQ_SRCFD of its latest message */
	uint32_t fd_gen;		/* accept generation of that fd */
	uint64_t window;		/* credit W */
	uint64_t inflight;		/* sent, not yet acknowledged (= nfl) */
	uint64_t cursor;		/* highest seq sent on this route */
	uint64_t inflight_bytes;	/* envelope bytes of those in flight */
	/* In flight when the route last reset (peer_fl_clear): seqs up to
	 * this one, sent then, kept from expiry until reset_ms (mono) +
	 * RESET_GRACE_MS: their RECEIPTs may have been lost with the link. */
	uint64_t reset_cursor, reset_ms;
	uint64_t hello_ms;		/* last HELLO that pushed (rate) */
	uint64_t pump_after;		/* mono ms: send again (after EAGAIN) */
	uint64_t progress_ms;		/* last delivery progress */
	uint64_t depth;			/* messages queued for it */
	uint64_t bytes;			/* envelope bytes queued for it */
	int notices;			/* has kept notices to push */
	int revoked;			/* not active in the roster in force */
	uint64_t refused_log_ms;	/* last refused-revoked line (rate) */
	uint64_t refused_entry_ms;	/* last REFUSED log entry (rate) */
	uint64_t refused_quiet;		/* refusals since, not logged */
	uint64_t cp_size;		/* tree size of its last checkpoint */
	uint64_t cp_ms;			/* mono ms its last one was logged */
	int cp_behind_said;		/* ERROR checkpoint-behind said */
};

/* One sender's share of one recipient's queue (issue 13, item 5.2). */
struct share {
	struct share *next;		/* hash chain */
	char from[FERRY_ID_MAX + 1];
	char to[FERRY_ID_MAX + 1];
	uint64_t depth;			/* messages queued */
	uint64_t bytes;			/* envelope bytes queued */
};

enum item_kind {
	IT_SKIP = 0,	/* handled without a commit (HELLO, HEARTBEAT...) */
	IT_ACCEPT,	/* new MSG: store, log, ACCEPTED */
	IT_DUP,		/* duplicate MSG: answer again */
	IT_REFUSE,	/* NACK + LOG_REFUSED */
	IT_RECEIPT,	/* recipient's RECEIPT: finish, log, forward */
	IT_RNACK,	/* recipient's NACK: finish, log, forward */
	IT_EXPIRE,	/* expiry: finish, log, NACK the sender */
	IT_CHECKPOINT,	/* an agent's checkpoint: log it */
	IT_NOTIFIED,	/* a kept notice was pushed: drop it */
	IT_PRUNE	/* a finished record past retention: forget it */
};

struct item {
	int kind;
	struct peer *p;			/* connection it came from */
	uint8_t *buf;			/* envelope bytes (owned) */
	size_t len;
	struct env e;			/* decoded; borrows buf */
	uint8_t hash[32];		/* SHA-256 of buf */
	int code;			/* IT_REFUSE: FERRY_E* */
	const char *why;		/* ... the limit hit, or NULL */
	struct queue_msg qm;		/* ACCEPT: new record; RECEIPT etc.: target */
	uint8_t *final;			/* answer kept (RECEIPT/NACK) */
	size_t flen;
	int notify;			/* keep final for an offline sender */
	uint64_t nseq;			/* IT_NOTIFIED */
	uint64_t done_ms;		/* IT_PRUNE: when it finished */
	uint64_t cp_size0, cp_ms0;	/* IT_CHECKPOINT: the peer's before */
	uint8_t cp_root[32];		/* IT_CHECKPOINT: its root, held */
	char nsender[FERRY_ID_MAX + 1];
	int dup_same;			/* IT_DUP of an item in this batch */
	size_t dup_ref;			/* ... its index */
	int quiet;			/* IT_REFUSE: no log entry, no line */
	int nack;			/* IT_REFUSE: NACKed though no MSG */
	uint64_t quiet_n;		/* ... refusals not logged before it */
	int dup_final;			/* IT_DUP answered with a final of
					 * this batch (uncommitted) */
	struct log_entry le[2];
	int nle;
	uint64_t log_index;		/* index of le[0] */
	/* Between batch_add and batch_settle: the envelope is taken, not
	 * yet checked.  batch_settle's first phase (any thread) sets hash,
	 * e, pre, spk and sig; its second (the loop's thread, in order)
	 * acts on them. */
	int pend;
	int nframes;
	int pre;			/* 0, or the FERRY_E* it is refused with */
	int sig;			/* env_verify's verdict (0: good) */
	uint8_t spk[32];		/* the sender's signing key */
};

struct relay {
	const struct config *c;
	/* verify_threads - 1 threads for batch_settle's first phase
	 * (NULL: the loop's thread alone). */
	struct workers *workers;
	size_t npend, pend_first;	/* items taken, not yet settled */
	/*
	 * Sends one envelope ${b} on the route ${rid}: 0, or -1 with errno
	 * set (EAGAIN: the pipe is full; EHOSTUNREACH: the route is gone).
	 * loop.c sends on the ROUTER socket; unit tests capture.
	 */
	int (*send)(struct relay *r, const uint8_t *rid, size_t rid_len,
	    const uint8_t *b, size_t n);
	struct ident *me;
	/* Random bytes for the ids of the relay's own envelopes (relay_env),
	 * drawn ahead (rpool.h): one getrandom call per ~100 answers, not
	 * one each. */
	struct rpool rnd;
	struct roster *roster;
	uint64_t expired_said;		/* roster version whose expiry was logged */
	struct queue *q;
	struct log *log;
	void *zctx, *sock, *mon;
	struct zap *zap;
	struct peer *tab[NBUCKETS];
	struct share *shares[NBUCKETS];	/* per (sender, recipient) */
	struct metrics m;
	struct item *items;
	size_t nitems, capitems;
	uint64_t t_metrics, t_sweep;
	int sweep_more;			/* the last sweep hit a bound */
	int expire_due;			/* pump met a message due to expire */
	uint32_t *fd_gen;		/* per fd: connections accepted on it */
	struct peer **fd_peer;		/* per fd: agency authenticated on it */
	uint32_t *fd_peer_gen;		/* ... for this generation of the fd */
	uint8_t *fd_counted;		/* per fd: counted as open */
	struct addrs *addrs;		/* open connections per address */
	uint64_t conn_log_ms;		/* last connection-limit line */
	uint64_t addr_log_ms;		/* ... per-address one */
	int fault;			/* test hook, see batch_commit */
	uint64_t fail_commits;		/* test hook, see batch_commit */
	long turn_delay_ms;		/* test hook: pause before draining */
	int fatal;			/* stop the loop (exit 1) */
	int lock_fd;			/* <data>/relay.lock, flock'ed */
	uint64_t full_until;		/* mono ms: new MSGs NACKed ENOSPC */
	uint64_t full_free0;		/* bytes free when the commit failed */
	uint64_t hs_refused, hs_log_ms;	/* refused handshakes (log rate) */
	uint8_t *checkpoint;		/* latest signed note */
	uint64_t checkpoint_size;	/* its tree size */
	struct env_note_cache note_cache;	/* RECEIPT_P notes verified */
	size_t checkpoint_len;
	int purge_active;		/* a purge is under way (ctl.c) */
	int purge_more;			/* ... messages may be left */
	char purge_to[FERRY_ID_MAX + 1];	/* ... of this queue */
	char purge_why[256];		/* ... the operator's reason */
	uint64_t purge_n;		/* ... purged so far */
	uint64_t purge_turn_n;		/* ... of them in this turn's batch */
	int purge_lost;			/* ... this turn's part not committed */
	char purge_nonce[40];		/* ... its request's nonce, answered with */
};

/* ---- ctl.c ---- */

/**
 * ctl_turn(r, sig): before a turn's commit: if *${sig} (SIGUSR1), take up
 * <data>/purge.request (refused, answered, unless the roster in force
 * revokes its agency); then add a purge under way's next part to the
 * batch (batch_purge).
 */
void ctl_turn(struct relay *r, volatile sig_atomic_t *sig);

/** ctl_done(r): after the turn's commit: a purge that ended is answered. */
void ctl_done(struct relay *r);

/** ctl_purge_lost(r): this turn's part of a purge was not committed (the
 * disk full twice): ctl_done ends the purge with the count committed. */
void ctl_purge_lost(struct relay *r);

/* ---- rutil.c ---- */

/** rutil_mono_ms(): monotonic clock in milliseconds. */
uint64_t rutil_mono_ms(void);

/** rutil_hex8(out, b): the first 8 bytes of ${b} in hex, for log lines. */
void rutil_hex8(char out[17], const uint8_t *b);

/** rutil_count_refused(r, code): count a refusal with FERRY_E* ${code}. */
void rutil_count_refused(struct relay *r, int code);

/** rutil_active(r, id): 1 if agency ${id} is active in the roster in force. */
int rutil_active(const struct relay *r, const char *id);

/**
 * rutil_le_set(le, kind, msg_id, hash, from, to, roster_version): fill log
 * entry ${le} (time now; NULL fields left empty).
 */
void rutil_le_set(struct log_entry *le, uint32_t kind, const uint8_t *msg_id,
    const uint8_t *hash, const char *from, const char *to,
    uint64_t roster_version);

/**
 * rutil_refresh_checkpoint(r): keep the log's latest signed checkpoint
 * note in r->checkpoint (sent with each ACCEPTED).  0 or a FERRY_E* code.
 */
int rutil_refresh_checkpoint(struct relay *r);

/* ---- peer.c ---- */

/**
 * peer_get(r, id, create): the peer of agency ${id}, created (not routed,
 * revoked unless active) if ${create}; NULL if unknown or out of memory.
 * Peers live until the relay stops.
 */
struct peer *peer_get(struct relay *r, const char *id, int create);

/** peer_free_all(r): free every peer and share; the relay is stopping. */
void peer_free_all(struct relay *r);

/**
 * peer_share(r, from, to, create): sender ${from}'s share of recipient
 * ${to}'s queue, created (empty) if ${create}; NULL if none or out of
 * memory.  Shares live until the relay stops.
 */
struct share *peer_share(struct relay *r, const char *from, const char *to,
    int create);

/**
 * peer_queued(r, from, to, bytes, add): a message of ${bytes} envelope
 * bytes from ${from} to ${to} enters the queue (${add}) or leaves it:
 * counted for the recipient (depth, bytes), the sender's share and all
 * queues (r->m.queued_bytes).  0, or -1 if out of memory (not counted).
 */
int peer_queued(struct relay *r, const char *from, const char *to,
    uint64_t bytes, int add);

/**
 * peer_quota_hit(r, from, to, len): the QUOTA_* limit a new MSG of ${len}
 * envelope bytes from ${from} to ${to} would pass, or -1 if none: the
 * sender's share of the recipient's queue first (messages, bytes), then
 * the recipient's queue, then all queues together.
 */
int peer_quota_hit(struct relay *r, const char *from, const char *to,
    size_t len);

/** peer_fl_clear(p): forget what is in flight to ${p}. */
void peer_fl_clear(struct peer *p);

/** peer_fl_add(p, seq, now, bytes): ${seq} was sent to ${p}; 0 or -1. */
int peer_fl_add(struct peer *p, uint64_t seq, uint64_t now, uint64_t bytes);

/** peer_fl_drop(p, i): drop entry ${i} of ${p}'s in-flight set. */
void peer_fl_drop(struct peer *p, size_t i);

/** peer_fl_done(p, seq): ${seq} answered: 1 if it was in flight to ${p}. */
int peer_fl_done(struct peer *p, uint64_t seq);

/** peer_offline(r, p, why): ${p} lost its route (logged with ${why}). */
void peer_offline(struct relay *r, struct peer *p, const char *why);

/**
 * peer_send(r, p, b, n): send envelope ${b} to ${p}'s route; 0, or -1
 * (route gone or full; errno says which).
 */
int peer_send(struct relay *r, struct peer *p, const uint8_t *b, size_t n);

/**
 * peer_make_nack(r, to, msg_id, hash, code, why, out, len): a relay-signed
 * NACK of ${code} to ${to}, its reason ferry_strerror(code) followed by
 * ${why} if not NULL (*${out} malloc'd, the caller's).
 */
int peer_make_nack(struct relay *r, const char *to, const uint8_t *msg_id,
    const uint8_t *hash, int code, const char *why, uint8_t **out,
    size_t *len);

/**
 * peer_send_nack(r, p, msg_id, hash, code, why): send ${p} a NACK of
 * ${code} (reason as peer_make_nack).
 */
void peer_send_nack(struct relay *r, struct peer *p, const uint8_t *msg_id,
    const uint8_t *hash, int code, const char *why);

/**
 * peer_send_accepted(r, p, msg_id, hash, log_index): send ${p} an
 * ACCEPTED with the relay's latest checkpoint.
 */
void peer_send_accepted(struct relay *r, struct peer *p,
    const uint8_t *msg_id, const uint8_t *hash, uint64_t log_index);

/** peer_send_simple(r, p, type): send ${p} an envelope of ${type} alone. */
void peer_send_simple(struct relay *r, struct peer *p, uint32_t type);

/** peer_push_roster(r, p, version, bytes, len): send ${p} a ROSTER. */
void peer_push_roster(struct relay *r, struct peer *p, uint64_t version,
    const uint8_t *bytes, size_t len);

/* ---- retain.c ---- */

/**
 * retain_final(r, id, hash, sender, index, final, flen): message ${id} has
 * no record in the queue: did the relay's log accept it from ${sender},
 * its record having been pruned after it finished (retention; a queued
 * record never is)?  0 if the log never accepted it; 1 if it did, with
 * envelope hash ${hash}: its ACCEPTED entry's index in *${index} and, in
 * *${final} (malloc'd, the caller's; NULL if the log cannot rebuild it),
 * the final for the sender: the recipient's RECEIPT (logged whole), else
 * a NACK signed by the relay with the code of the message's EXPIRED
 * entry or of the recipient's NACK entry.  FERRY_EDUPMSG if the log
 * accepted another envelope, or another sender's, under that id;
 * another negative code if the log cannot be read.
 */
int retain_final(struct relay *r, const uint8_t *id, const uint8_t *hash,
    const char *sender, uint64_t *index, uint8_t **final, size_t *flen);

/* ---- rroster.c ---- */

/** rroster_zap_table(ro): the admission table of roster ${ro}, or NULL. */
struct zap_table *rroster_zap_table(const struct roster *ro);

/**
 * rroster_expired(r): 1 if the roster in force is past its expiry (said
 * once per version at ERROR).
 */
int rroster_expired(struct relay *r);

/**
 * rroster_start(r): at start, the stored roster or the pinned genesis
 * file, then a newer file; sets r->roster.  0 or -1 (logged).
 */
int rroster_start(struct relay *r);

/** rroster_reload(r): SIGHUP: adopt and push the roster file's next version. */
void rroster_reload(struct relay *r);

/* ---- batch_check.c (taking and checking; batch.c commits) ---- */

struct item *batch_item_new(struct relay *r);
void batch_items_clear(struct relay *r);
struct item *batch_has(struct relay *r, struct item *self,
    const uint8_t *id);
void batch_refuse_nolog(struct relay *r, struct item *it, int code);

/**
 * batch_add(r, p, b, len, nframes): take the message of ${nframes} frames
 * whose first frame ${b} came from agency ${p} into the batch (the bytes
 * are copied); batch_settle checks it.
 */
void batch_add(struct relay *r, struct peer *p, const uint8_t *b,
    size_t len, int nframes);

/**
 * batch_settle(r): check the envelopes taken since the last call: first
 * each one's hash, decoding, sender and Ed25519 signature, pure work
 * spread over the relay's verify_threads (r->workers) when there are
 * WORKERS_MIN_BATCH or more; then, on this thread and in the order they
 * were read, each one against the queue, the log and the other items,
 * its answer and log entries kept for batch_commit and batch_answer.
 * HELLO, CREDIT, HEARTBEAT and ASK are handled here, from what is
 * committed.  batch_drain ends with it; batch_commit calls it too.
 */
void batch_settle(struct relay *r);

/* Below this many envelopes a batch's first phase runs on the loop's
 * thread alone: waking a thread costs more than it saves. */
#define WORKERS_MIN_BATCH 4

/**
 * batch_drain(r, take, ctx): the group commit's policy: call
 * ${take}(r, ctx, &bytes) while it returns 1 (one message taken), up to
 * batch_max messages and batch_bytes bytes, never waiting: it returns 0
 * when nothing more is waiting.  So a message alone is committed in the
 * turn it arrives, and under load a batch is whatever arrived during the
 * previous commit.  ${take} hands each message to batch_add.  How many
 * were taken.  It turns the log's hold on (log_hold): the turn's reads
 * share a snapshot per phase; the loop turns it off at the turn's end.
 */
size_t batch_drain(struct relay *r, int (*take)(struct relay *, void *,
    size_t *), void *ctx);

/* ---- batch.c ---- */

/* FERRY_RELAY_FAULT test hooks (tests/scenario/relay_fault.sh). */
enum { BATCH_FAULT_NONE, BATCH_FAULT_BEFORE_COMMIT, BATCH_FAULT_AFTER_COMMIT };

/**
 * batch_sweep(r, now): add to the batch an expiry for each queued message
 * past its lifetime at wall clock ${now} (at most SWEEP_MAX), and the
 * removal of each finished record past the retention period (at most
 * PRUNE_MAX).  1 if a bound was reached (more may be due), else 0.
 */
int batch_sweep(struct relay *r, uint64_t now);

/**
 * batch_expired(r, qm, now): 1 if queued message ${qm} is past its
 * lifetime at wall clock ${now} and not kept from expiry (in flight to its
 * connected recipient, or when its recipient's route reset, within
 * RESET_GRACE_MS): what batch_sweep expires, and what is never forwarded.
 */
int batch_expired(struct relay *r, const struct queue_msg *qm, uint64_t now);

/**
 * batch_commit(r): write the batch (log entries and queue changes) in one
 * synced commit.  0, or a FERRY_E* code (nothing of it written).
 */
int batch_commit(struct relay *r);

/**
 * batch_disk_full(r, rc): batch_commit failed with FERRY_ENOSPC (${rc}):
 * refuse the batch's new MSGs and commit what frees space; 0 or the code
 * of a failure that is not a lack of space.
 */
int batch_disk_full(struct relay *r, int rc);

/** batch_disk_tick(r, now): while the disk is full, see if space returned. */
void batch_disk_tick(struct relay *r, uint64_t now);

/**
 * batch_purge(r, to, why, n): add the purge of each message queued for
 * ${to} (revoked; at most SWEEP_MAX a turn) to the batch: an EXPIRED
 * entry of code FERRY_EPURGED, and a NACK of that code with ${why} to its
 * sender.  *${n} how many; 1 if more may be queued, 0 if not, -1 if out
 * of memory.
 */
int batch_purge(struct relay *r, const char *to, const char *why, size_t *n);

/** batch_accepts(r): 1 if the batch stores a new message. */
int batch_accepts(const struct relay *r);

/** batch_answer(r): after the commit: answer, forward, count; empties it. */
void batch_answer(struct relay *r);

/** batch_undo(r): a commit failed: undo the batch's counts, empty it. */
void batch_undo(struct relay *r);

/** batch_free(r): free the batch's items; the relay is stopping. */
void batch_free(struct relay *r);

#endif
