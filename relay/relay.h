/*
 * relay.h: the parts of ferry-relay shared between its files.
 *
 *   main.c     flags, subcommands (run, stats), signals, start/stop
 *   config.c   config file (INI, libinih) + flag overrides, validation
 *   rlog.c     one log line per event to stderr, with a level
 *   zap.c      the ZAP handler thread (RFC 27) admitting roster agencies
 *   queue.c    the store-and-forward queue (tables in the log's LMDB env)
 *   addrs.c    open connections counted per peer IP address
 *   loop.c     the ROUTER socket, its connection events, the event loop,
 *              forwarding queued messages, setup and shutdown
 *   batch.c    one turn's batch: one group commit, then the answers;
 *              expiry and retention sweep; a full disk (H1)
 *   batch_check.c  each envelope of a turn taken into the batch and
 *              checked (the pure part on the verify threads, the rest in
 *              order); HELLO, CREDIT, HEARTBEAT and ASK answered
 *   retain.c   answers about a message whose record was pruned, from the
 *              relay's log
 *   rroster.c  the roster in force: start, SIGHUP reload, expiry
 *   peer.c     the peer table, messages in flight, what is queued (per
 *              recipient, per sender's share, in all), sends to a route
 *   rutil.c    helpers the files above share (clock, log entries)
 *   metrics.c  counters, written as Prometheus text to <data>/metrics.prom
 *
 * loop.c, batch.c, batch_check.c, retain.c, rroster.c, peer.c and rutil.c
 * share relay_int.h (the relay's state: peers, batch items, struct
 * relay).  Calls between them go one way: loop.c -> batch.c ->
 * batch_check.c -> retain.c ->
 * rroster.c -> peer.c -> rutil.c (a file may skip steps down this order); sends leave through r->send, set by
 * loop.c, so unit tests (tests/lib/trelay.c) capture them.
 * Everything but main.c is also built as librelay.a for the unit tests.
 *
 * docs/relay.md documents the configuration keys and the metrics;
 * docs/protocol.md section 6 the link protocol.
 */
#ifndef FERRY_RELAY_H
#define FERRY_RELAY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry.h"

/* ---- config.c ---- */

#define CONFIG_PATH_MAX 1024

/* max_connections when not set: lowered at start to what the open-file
 * limit allows (loop.c fd_limit); a value set is refused if it does not
 * fit. */
#define CONFIG_MAX_CONNECTIONS_DEFAULT 1024

struct config {
	char endpoint[256];		/* tcp://127.0.0.1:7450 */
	char data[CONFIG_PATH_MAX];	/* data folder (log with queue, metrics) */
	char key[CONFIG_PATH_MAX];	/* relay identity key file (ident) */
	char roster[CONFIG_PATH_MAX];	/* roster file (re-read on SIGHUP) */
	char roster_pin[128];		/* genesis roster fingerprint */
	uint64_t max_body;		/* plaintext bytes of one referral */
	uint64_t queue_max;		/* messages queued per recipient */
	uint64_t queue_max_bytes;	/* envelope bytes queued per recipient */
	uint64_t queue_max_per_sender;	/* ... by one sender (0: 1/4) */
	uint64_t queue_max_bytes_per_sender; /* (0: queue_max_bytes/4) */
	uint64_t queue_max_total_bytes;	/* envelope bytes, all queues */
	uint64_t max_connections;	/* open connections (pre-auth too) */
	uint64_t max_connections_per_address; /* ... from one IP address */
	uint64_t handshake_ms;		/* ZMQ_HANDSHAKE_IVL */
	uint64_t expiry_ms;		/* undelivered message lifetime */
	int log_level;			/* RLOG_* */
	uint64_t credit_max;		/* cap on an agent's delivery window */
	uint64_t batch_max;		/* messages drained per group commit */
	uint64_t batch_bytes;		/* bytes drained per group commit */
	uint64_t verify_threads;	/* threads checking a batch (1: loop) */
	uint64_t map_size;		/* LMDB map size (sparse file) */
	uint64_t metrics_ms;		/* metrics.prom rewrite interval */
	uint64_t sweep_ms;		/* expiry sweep interval */
	uint64_t redeliver_ms;		/* resend unacknowledged after this */
	uint64_t linger_ms;		/* ZMQ_LINGER at shutdown */
	uint64_t checkpoint_ms;		/* CHECKPOINT entries: 1 per agency
					 * per this */
	uint64_t retention_ms;		/* finished records kept so long */
};

/** config_defaults(c): fill ${c} with the built-in defaults. */
void config_defaults(struct config *c);

/**
 * config_load(c, path): read the INI file ${path} (section [relay]) over
 * ${c}.  Unknown keys and bad values are errors: 0, or -1 after printing
 * one line naming the file, line and key.
 */
int config_load(struct config *c, const char *path);

/** config_set(c, key, value): set one key (as in the file); 0 or ferry_conf_set's error (ferry_conf_why says it). */
int config_set(struct config *c, const char *key, const char *value);

/**
 * config_check(c, path): 0 if ${c} is complete and consistent, else -1
 * after printing one line naming what is missing or wrong (in ${path},
 * the configuration file, when not NULL).
 */
int config_check(const struct config *c, const char *path);

/**
 * config_check_flag(c, key, flag): 0 if ${key}'s value in ${c}, set by
 * command-line flag ${flag}, is in its range, else -1 after one line
 * naming the flag, the value and the range.
 */
int config_check_flag(const struct config *c, const char *key,
    const char *flag);

/**
 * config_sender_limits(c, msgs, bytes): what one sender may have queued
 * for one recipient: queue_max_per_sender and queue_max_bytes_per_sender,
 * or when 0 (unset) a quarter of queue_max / queue_max_bytes, at least 1.
 */
void config_sender_limits(const struct config *c, uint64_t *msgs,
    uint64_t *bytes);

/* ---- rlog.c ---- */

enum { RLOG_ERROR = 0, RLOG_WARN = 1, RLOG_INFO = 2, RLOG_DEBUG = 3 };

/** rlog_set_level(level): lines above ${level} are not printed. */
void rlog_set_level(int level);

/** rlog_enabled(level): 1 if lines at ${level} are printed. */
int rlog_enabled(int level);

/**
 * rlog(level, event, fmt, ...): print one line "TIME LEVEL EVENT k=v ..."
 * to stderr.  Never pass secrets or message content.
 */
void rlog(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- zap.c ---- */

/* An immutable admission table: transport public key -> agency id. */
struct zap_table;

/**
 * zap_table_new(n): an empty table with room for ${n} entries; NULL on
 * allocation failure.
 */
struct zap_table *zap_table_new(size_t n);

/** zap_table_add(t, curve_pk, id): admit ${curve_pk} as agency ${id}. */
int zap_table_add(struct zap_table *t, const uint8_t curve_pk[32],
    const char *id);

/** zap_table_free(t): free ${t}; NULL ok. */
void zap_table_free(struct zap_table *t);

struct zap;

/**
 * zap_start(zctx, table, out): bind inproc://zeromq.zap.01 in ${zctx} and
 * start the handler thread, which owns ${table} from then on.  Must run
 * before any CURVE server socket binds.  0 or -1 (logged).
 */
int zap_start(void *zctx, struct zap_table *table, struct zap **out);

/**
 * zap_swap(z, table): atomically replace the admission table with
 * ${table} (owned by the handler from then on, or freed on failure); the
 * old one is freed.  0, or -1 if the lock failed (the old table stays).
 */
int zap_swap(struct zap *z, struct zap_table *table);

/** zap_alive(z): 1 while the handler thread runs, 0 if it died on an error. */
int zap_alive(struct zap *z);

/** zap_counts(z, allowed, denied): handshakes admitted and refused so far. */
void zap_counts(struct zap *z, uint64_t *allowed, uint64_t *denied);

/** zap_stop(z): stop and join the thread, close its socket; NULL ok. */
void zap_stop(struct zap *z);

/* ---- queue.c ---- */

#define QUEUE_REC_HDR (8 + 8 + FERRY_MSGID_LEN + FERRY_HASH_LEN + 2 * (FERRY_ID_MAX + 1))

/* A queued message, as queue_get returns it. */
struct queue_msg {
	uint64_t seq;			/* queue sequence number */
	uint64_t accepted_ms;		/* when the relay took custody */
	uint64_t log_index;		/* the relay log's ACCEPTED entry */
	uint8_t msg_id[FERRY_MSGID_LEN];
	uint8_t env_hash[FERRY_HASH_LEN];
	char from[FERRY_ID_MAX + 1];
	char to[FERRY_ID_MAX + 1];
	uint8_t *env;			/* envelope bytes, malloc'd */
	size_t env_len;
};

/* What the queue knows about a message id. */
enum queue_state {
	QUEUE_NONE = 0,		/* never seen */
	QUEUE_QUEUED = 1,	/* held, not yet acknowledged by the recipient */
	QUEUE_DONE = 2		/* finished: RECEIPT, recipient NACK, or expiry */
};

struct queue;
struct queue_txn;
struct log;
struct log_batch;

/* The queue's table names in the relay log's environment (log_open_ex). */
#define QUEUE_NDBS 7
extern const char *const queue_dbs[QUEUE_NDBS];

/**
 * queue_open(l, out): the queue kept in the tables queue_dbs of log ${l}
 * (opened with log_open_ex; ${l} must outlive the queue).  The first
 * open of a queue made before q.done existed gives each finished record
 * an entry there, finished now (one commit).
 */
int queue_open(struct log *l, struct queue **out);

/** queue_close(q): free ${q} (the log stays open); NULL ok. */
void queue_close(struct queue *q);

/**
 * queue_begin(q, b, out): queue writes within log batch ${b}, so that they
 * commit with its log entries (queue_commit) or not at all.  ${b} belongs
 * to the queue_txn from then on.  A full map is handled by the log.
 */
int queue_begin(struct queue *q, struct log_batch *b, struct queue_txn **out);

/**
 * queue_cp_put(t, id, size, root): hold agency ${id}'s checkpoint (tree
 * size, root) as the latest logged of it, in the q.meta row "cp/<id>",
 * within ${t}.  0 or an error.
 */
int queue_cp_put(struct queue_txn *t, const char *id, uint64_t size,
    const uint8_t root[FERRY_HASH_LEN]);

/**
 * queue_cp_get(q, id, size, root): agency ${id}'s checkpoint held
 * (queue_cp_put), kept across restarts: 0, FERRY_ENOENT if none yet.
 */
int queue_cp_get(struct queue *q, const char *id, uint64_t *size,
    uint8_t root[FERRY_HASH_LEN]);

/**
 * queue_put(t, m): append message ${m} (env, ids, times; seq is assigned
 * and written back into ${m}).
 */
int queue_put(struct queue_txn *t, struct queue_msg *m);

/**
 * queue_finish(t, msg_id, final, len, notify, done_ms): remove the queued
 * message ${msg_id} and remember it as done with the final envelope
 * ${final} (the recipient's RECEIPT or a NACK) that answers a duplicate
 * MSG, finished at wall clock ${done_ms} (q.done, for queue_prune); if
 * ${notify} the final envelope is also kept for the sender until
 * queue_notified.  FERRY_ENOENT if not queued.
 */
int queue_finish(struct queue_txn *t, const uint8_t msg_id[FERRY_MSGID_LEN],
    const uint8_t *final, size_t len, int notify, uint64_t done_ms);

/**
 * queue_prune(t, done_ms, msg_id): forget the message ${msg_id} finished
 * at ${done_ms} (as queue_finished reports it): its record and final
 * envelope, its q.done entry, and its final if still kept for its sender.
 * FERRY_ENOENT (nothing written) if there is no such q.done entry.
 */
int queue_prune(struct queue_txn *t, uint64_t done_ms,
    const uint8_t msg_id[FERRY_MSGID_LEN]);

/** queue_notified(t, sender, nseq): drop pending notice ${nseq} of ${sender}. */
int queue_notified(struct queue_txn *t, const char *sender, uint64_t nseq);

/**
 * queue_roster_put(t, version, bytes, len): store roster ${version}.
 */
int queue_roster_put(struct queue_txn *t, uint64_t version,
    const uint8_t *bytes, size_t len);

/**
 * queue_commit(t): log_commit of the batch (its log entries and queue
 * writes: one synced commit); frees ${t} and the batch in every case.
 */
int queue_commit(struct queue_txn *t);

/** queue_abort(t): log_abort of the batch; nothing of it is kept; NULL ok. */
void queue_abort(struct queue_txn *t);

/**
 * queue_lookup(q, msg_id, env_hash, seq, final, flen): state of ${msg_id}:
 * its env_hash and queue seq if held, and a copy of its final envelope
 * (*${final}, malloc'd, may be set to NULL) if done.
 */
int queue_lookup(struct queue *q, const uint8_t msg_id[FERRY_MSGID_LEN],
    uint8_t env_hash[FERRY_HASH_LEN], uint64_t *seq, uint8_t **final,
    size_t *flen);

/**
 * queue_get(q, seq, m): read queued message ${seq} into ${m}
 * (m->env malloc'd; free with queue_msg_clear).  FERRY_ENOENT if gone.
 */
int queue_get(struct queue *q, uint64_t seq, struct queue_msg *m);

/** queue_msg_clear(m): free m->env and zero ${m}. */
void queue_msg_clear(struct queue_msg *m);

/**
 * queue_next_for(q, to, after, seq): the lowest queued seq > ${after} for
 * recipient ${to}, in *${seq}; FERRY_ENOENT if none.
 */
int queue_next_for(struct queue *q, const char *to, uint64_t after,
    uint64_t *seq);

/**
 * queue_foreach(q, fn, ctx): call ${fn}(ctx, m) for every queued message
 * in seq order (m->env is NULL: headers only).  A non-zero return stops.
 */
int queue_foreach(struct queue *q,
    int (*fn)(void *, const struct queue_msg *), void *ctx);

/**
 * queue_finished(q, fn, ctx): call ${fn}(ctx, done_ms, msg_id) for every
 * finished record, in the order they finished (${msg_id} is valid during
 * the call only).  A non-zero return stops.
 */
int queue_finished(struct queue *q,
    int (*fn)(void *, uint64_t, const uint8_t *), void *ctx);

/**
 * queue_notices(q, sender, fn, ctx): call ${fn}(ctx, nseq, env, len) for
 * each final envelope kept for ${sender}, oldest first.
 */
int queue_notices(struct queue *q, const char *sender,
    int (*fn)(void *, uint64_t, const uint8_t *, size_t), void *ctx);

/**
 * queue_rosters(q, after, fn, ctx): call ${fn}(ctx, version, bytes, len)
 * for every stored roster version > ${after}, ascending.
 */
int queue_rosters(struct queue *q, uint64_t after,
    int (*fn)(void *, uint64_t, const uint8_t *, size_t), void *ctx);

/** queue_roster_latest(q, version, bytes, len): newest stored roster (malloc'd). */
int queue_roster_latest(struct queue *q, uint64_t *version, uint8_t **bytes,
    size_t *len);

/* ---- addrs.c ---- */

/* Open connections per peer IP address, by file descriptor. */
struct addrs;

/**
 * addrs_new(nfd): an empty table for connections on file descriptors
 * below ${nfd}; NULL if out of memory.  Free with addrs_free.
 */
struct addrs *addrs_new(size_t nfd);

/**
 * addrs_accepted(a, fd, text, n): connection ${fd} was accepted: its
 * peer's IP address (getpeername; IPv4, IPv6, an IPv4-mapped IPv6 one as
 * IPv4) is counted and written as text to ${text} (${n} bytes, at least
 * INET6_ADDRSTRLEN).  Returns the connections now open from that
 * address, or 0 (nothing counted) if it has none (ipc://, or the fd is
 * closed already), ${fd} is out of range, or memory is short.
 */
size_t addrs_accepted(struct addrs *a, int fd, char *text, size_t n);

/** addrs_closed(a, fd): connection ${fd} is gone: uncounted (if it was). */
void addrs_closed(struct addrs *a, int fd);

/** addrs_free(a): free ${a}; NULL ok. */
void addrs_free(struct addrs *a);

/* ---- metrics.c ---- */

#define METRICS_REFUSE_MAX 160	/* -code indexes refused[] */

/* The queue limits a new MSG may hit, each refused FERRY_EQUEUEFULL. */
enum {
	QUOTA_SENDER_MSGS,	/* queue_max_per_sender */
	QUOTA_SENDER_BYTES,	/* queue_max_bytes_per_sender */
	QUOTA_MSGS,		/* queue_max */
	QUOTA_BYTES,		/* queue_max_bytes */
	QUOTA_TOTAL_BYTES,	/* queue_max_total_bytes */
	QUOTA_N
};

/* Their configuration keys (metric label values, NACK reasons). */
extern const char *const metrics_quota_keys[QUOTA_N];

struct metrics {
	uint64_t connected;		/* agencies with a live route */
	uint64_t accepted;		/* MSGs taken into custody */
	uint64_t delivered;		/* RECEIPTs processed */
	uint64_t forwarded;		/* MSG sends to recipients */
	uint64_t expired;
	uint64_t purged;		/* removed by `ferry-relay queue purge` */
	uint64_t duplicates;		/* duplicate MSGs answered again */
	uint64_t asks;			/* ASKs from senders */
	uint64_t asks_answered;		/* ... answered with a stored final */
	uint64_t asks_unknown;		/* ... answered FERRY_ENOTHELD */
	uint64_t checkpoints_skipped;	/* CHECKPOINTs within the interval */
	uint64_t checkpoints_behind;	/* behind / forked from the one held */
	uint64_t verify_threads;	/* threads batch_settle uses */
	uint64_t checked_helped;	/* envelopes checked off the loop's thread */
	uint64_t pruned;		/* finished records past retention */
	uint64_t pruned_answered;	/* asked about those: from the log */
	uint64_t bytes_in, bytes_out;
	uint64_t refused[METRICS_REFUSE_MAX];
	uint64_t queue_full[QUOTA_N];	/* EQUEUEFULL by the limit hit */
	uint64_t queued_bytes;		/* envelope bytes in all queues */
	uint64_t dropped_nouser;	/* messages without User-Id */
	uint64_t zap_allowed, zap_denied;
	uint64_t roster_version;
	uint64_t roster_expired;	/* 1 while the roster in force is expired */
	uint64_t commits;		/* synced group commits */
	uint64_t commit_failures;	/* group commits that failed (disk full) */
	uint64_t disk_full;		/* 1 while new MSGs get FERRY_ENOSPC */
	uint64_t connections;		/* open TCP/IPC connections */
	uint64_t conn_refused;		/* closed at once: max_connections */
	uint64_t conn_refused_addr;	/* ... max_connections_per_address */
	uint64_t log_size;
};

/* Queue depth per recipient, for metrics_write. */
struct metrics_depth {
	const char *id;
	uint64_t depth;
	int connected;
};

/**
 * metrics_write(dir, m, d, nd): write ${dir}/metrics.prom atomically in
 * the Prometheus text format.  0 or FERRY_EIO.
 */
int metrics_write(const char *dir, const struct metrics *m,
    const struct metrics_depth *d, size_t nd);

/* ---- ctl.c: `ferry-relay queue` ---- */

/** ctl_queue_list(data, to): print the queue (only for ${to} if not NULL), read-only; exit status. */
int ctl_queue_list(const char *data, const char *to);

/** ctl_queue_show(data, hex): print one queued message's headers, read-only; exit status. */
int ctl_queue_show(const char *data, const char *hex);

/**
 * ctl_queue_purge(data, to, reason): have the relay running on ${data}
 * purge revoked agency ${to}'s queue, each sender NACKed FERRY_EPURGED
 * with ${reason}; prints its answer; exit status.
 */
int ctl_queue_purge(const char *data, const char *to, const char *reason);

/* ---- loop.c ---- */

/**
 * loop_run(c, stop, hup, ctl): run the relay until *${stop}; *${hup}
 * (SIGHUP) reloads the roster, *${ctl} (SIGUSR1) takes up a purge
 * request (ctl.c).  0, 1 (failure) or 2 (the data folder is locked by
 * another relay).
 */
int loop_run(const struct config *c, volatile sig_atomic_t *stop,
    volatile sig_atomic_t *hup, volatile sig_atomic_t *ctl);

#endif
