/*
 * loop.c: the relay proper: the CURVE ROUTER socket and one event loop
 * (docs/protocol.md section 6).
 *
 * Each turn: wait for input (zmq_poll, EINTR retried); drain everything
 * readable, bounded by count and bytes; check each envelope; write the
 * whole batch, queue changes and log entries together, in ONE log batch
 * (the queue's tables live in the log's LMDB environment), committed with
 * ONE synced commit; only then send the ACCEPTEDs, NACKs and forwarded
 * receipts; then forward queued messages to connected
 * recipients while they have credit.  Timers: metrics, expiry sweep,
 * redelivery.  Signals only set flags (main.c) that this loop reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "envelope.h"
#include "ident.h"
#include "log.h"
#include "note.h"
#include "roster.h"
#include "relay.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93	/* DRAFT in Debian's zmq.h */
#endif

#define ZAP_DOMAIN "ferry"
#define RID_MAX 256
#define NBUCKETS 4096
#define SWEEP_MAX 1000		/* expired messages handled per sweep */
#define FD_MAX 65536		/* connection generations tracked per fd */
#define FULL_RETRY_MS 60000	/* disk full: try new MSGs again after this */
#define PEER_BYTES_MAX (64u << 20) /* MSG bytes in flight per peer (H2) */
#define HELLO_PUSH_MS 1000	/* HELLO pushes per route: at most 1/s */
#define PUMP_BACKOFF_MS 100	/* after a full pipe (EAGAIN) */
#define REFUSED_LOG_MS 1000	/* REFUSED log entries: 1/s per peer (M3) */

/* A message in flight to a peer (M2): credit comes back only for these. */
struct flight {
	uint64_t seq;			/* queue seq */
	uint64_t sent_ms;		/* mono ms of its latest send */
	uint64_t bytes;			/* envelope bytes */
};

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
	IT_NOTIFIED	/* a kept notice was pushed: drop it */
};

struct item {
	int kind;
	struct peer *p;			/* connection it came from */
	uint8_t *buf;			/* envelope bytes (owned) */
	size_t len;
	struct env e;			/* decoded; borrows buf */
	uint8_t hash[32];		/* SHA-256 of buf */
	int code;			/* IT_REFUSE: FERRY_E* */
	struct queue_msg qm;		/* ACCEPT: new record; RECEIPT etc.: target */
	uint8_t *final;			/* answer kept (RECEIPT/NACK) */
	size_t flen;
	int notify;			/* keep final for an offline sender */
	uint64_t nseq;			/* IT_NOTIFIED */
	char nsender[FERRY_ID_MAX + 1];
	int dup_same;			/* IT_DUP of an item in this batch */
	size_t dup_ref;			/* ... its index */
	int quiet;			/* IT_REFUSE: no log entry, no line */
	uint64_t quiet_n;		/* ... refusals not logged before it */
	int dup_final;			/* IT_DUP answered with a final of
					 * this batch (uncommitted) */
	struct log_entry le[2];
	int nle;
	uint64_t log_index;		/* index of le[0] */
};

struct relay {
	const struct config *c;
	struct ident *me;
	struct roster *roster;
	uint64_t expired_said;		/* roster version whose expiry was logged */
	struct queue *q;
	struct log *log;
	void *zctx, *sock, *mon;
	struct zap *zap;
	struct peer *tab[NBUCKETS];
	struct metrics m;
	struct item *items;
	size_t nitems, capitems;
	uint64_t t_metrics, t_sweep;
	uint32_t *fd_gen;		/* per fd: connections accepted on it */
	struct peer **fd_peer;		/* per fd: agency authenticated on it */
	uint32_t *fd_peer_gen;		/* ... for this generation of the fd */
	int fault;			/* test hook, see commit_batch */
	long turn_delay_ms;		/* test hook: pause before draining */
	int fatal;			/* stop the loop (exit 1) */
	int lock_fd;			/* <data>/relay.lock, flock'ed */
	uint64_t full_until;		/* mono ms: new MSGs NACKed ENOSPC */
	uint64_t full_free0;		/* bytes free when the commit failed */
	uint64_t hs_refused, hs_log_ms;	/* refused handshakes (log rate) */
	uint8_t *checkpoint;		/* latest signed note */
	size_t checkpoint_len;
};

static void monitor_read(struct relay *);
static int active(const struct relay *, const char *);

/* ---- small helpers ---- */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

static void
hex8(char out[17], const uint8_t *b)
{

	ferry_hex(out, b, 8);
}

static unsigned
hash_id(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return (h % NBUCKETS);
}

static struct peer *
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
	p->revoked = !active(r, id);
	p->next = r->tab[b];
	r->tab[b] = p;
	return (p);
}

/* Forget what is in flight to ${p} (its route changed or reset). */
static void
fl_clear(struct peer *p)
{

	p->nfl = 0;
	p->inflight = 0;
	p->inflight_bytes = 0;
	p->cursor = 0;
}

/* ${seq} was sent to ${p} at ${now}; 0 or -1 (no memory). */
static int
fl_add(struct peer *p, uint64_t seq, uint64_t now, uint64_t bytes)
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

/* Entry ${i} of ${p}'s in-flight set is answered or gone: drop it. */
static void
fl_drop(struct peer *p, size_t i)
{

	p->inflight_bytes -= p->inflight_bytes >= p->fl[i].bytes ?
	    p->fl[i].bytes : p->inflight_bytes;
	memmove(&p->fl[i], &p->fl[i + 1], (p->nfl - i - 1) * sizeof(*p->fl));
	p->nfl--;
	p->inflight = p->nfl;
}

/* ${seq} answered: give its credit back if it is in flight; 1 if it was. */
static int
fl_done(struct peer *p, uint64_t seq)
{
	size_t i;

	for (i = 0; i < p->nfl; i++)
		if (p->fl[i].seq == seq) {
			fl_drop(p, i);
			return (1);
		}
	return (0);
}

static void
peer_offline(struct relay *r, struct peer *p, const char *why)
{

	if (!p->routed)
		return;
	p->routed = 0;
	fl_clear(p);
	p->fd = -1;
	if (r->m.connected > 0)
		r->m.connected--;
	rlog(RLOG_INFO, "agent-offline", "agency=%s reason=%s", p->id, why);
}

static void
count_refused(struct relay *r, int code)
{
	int i = -code;

	if (i > 0 && i < METRICS_REFUSE_MAX)
		r->m.refused[i]++;
}

/* Send one envelope to ${p}'s route; 0, or -1 (route gone or full). */
static int
send_to(struct relay *r, struct peer *p, const uint8_t *b, size_t n)
{

	if (!p->routed || p->revoked)
		return (-1);
	if (FERRY_FAULT("relay-send"))
		return (-1);	/* as if the pipe were full (EAGAIN) */
	if (zmq_send(r->sock, p->rid, p->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT)
	    < 0) {
		if (errno == EHOSTUNREACH)
			peer_offline(r, p, "unreachable");
		return (-1);
	}
	if (zmq_send(r->sock, b, n, ZMQ_DONTWAIT) < 0)
		return (-1);
	r->m.bytes_out += n;
	return (0);
}

/* Encode and sign a relay envelope of ${e}'s type to ${to}. */
static int
relay_env(struct relay *r, struct env *e, const char *to, uint8_t **out,
    size_t *len)
{

	e->version = ENV_VERSION;
	env_new_id(e->id);
	snprintf(e->from, sizeof(e->from), "%s", r->me->id);
	snprintf(e->to, sizeof(e->to), "%s", to);
	e->time = ferry_now_ms();
	return (env_encode(e, r->me->sign_sk, out, len));
}

static int
make_nack(struct relay *r, const char *to, const uint8_t *msg_id,
    const uint8_t *hash, int code, uint8_t **out, size_t *len)
{
	struct env e;
	const char *why = ferry_strerror(code);

	memset(&e, 0, sizeof(e));
	e.type = ENV_NACK;
	if (msg_id != NULL)
		memcpy(e.msg_id, msg_id, FERRY_MSGID_LEN);
	if (hash != NULL)
		memcpy(e.env_hash, hash, 32);
	e.code = (uint32_t)-code;
	e.reason = why;
	e.reason_len = strlen(why);
	return (relay_env(r, &e, to, out, len));
}

static void
send_nack(struct relay *r, struct peer *p, const uint8_t *msg_id,
    const uint8_t *hash, int code)
{
	uint8_t *b;
	size_t n;

	if (make_nack(r, p->id, msg_id, hash, code, &b, &n) != 0)
		return;
	(void)send_to(r, p, b, n);
	free(b);
}

static void
send_accepted(struct relay *r, struct peer *p, const uint8_t *msg_id,
    const uint8_t *hash, uint64_t log_index)
{
	struct env e;
	uint8_t *b;
	size_t n;

	memset(&e, 0, sizeof(e));
	e.type = ENV_ACCEPTED;
	memcpy(e.msg_id, msg_id, FERRY_MSGID_LEN);
	memcpy(e.env_hash, hash, 32);
	e.log_index = log_index;
	e.roster_version = r->roster->version;
	e.blob = r->checkpoint;
	e.blob_len = r->checkpoint_len;
	if (relay_env(r, &e, p->id, &b, &n) != 0)
		return;
	(void)send_to(r, p, b, n);
	free(b);
}

static void
send_simple(struct relay *r, struct peer *p, uint32_t type)
{
	struct env e;
	uint8_t *b;
	size_t n;

	memset(&e, 0, sizeof(e));
	e.type = type;
	if (relay_env(r, &e, p->id, &b, &n) != 0)
		return;
	(void)send_to(r, p, b, n);
	free(b);
}

/* ---- roster ---- */

static struct zap_table *
zap_table_of(const struct roster *ro)
{
	struct zap_table *t;
	size_t i;

	if ((t = zap_table_new(ro->nagencies)) == NULL)
		return (NULL);
	for (i = 0; i < ro->nagencies; i++)
		if (ro->agencies[i].status == ROSTER_ACTIVE &&
		    zap_table_add(t, ro->agencies[i].curve_pk,
		    ro->agencies[i].id) != 0) {
			zap_table_free(t);
			return (NULL);
		}
	return (t);
}

static int
active(const struct relay *r, const char *id)
{
	const struct roster_agency *a;

	if (r->roster == NULL)
		return (0);
	a = roster_find(r->roster, id);
	return (a != NULL && a->status == ROSTER_ACTIVE);
}

/*
 * Close every connection agency ${p} was seen on (review C1): each fd
 * whose current generation carried a message authenticated as ${p}.
 * libzmq's I/O thread then sees the socket fail and drops the pipe.
 */
static void
close_conns(struct relay *r, struct peer *p)
{
	int fd, n = 0;

	for (fd = 0; fd < FD_MAX; fd++)
		if (r->fd_peer[fd] == p &&
		    r->fd_peer_gen[fd] == r->fd_gen[fd]) {
			(void)shutdown(fd, SHUT_RDWR);
			r->fd_peer[fd] = NULL;
			n++;
		}
	rlog(RLOG_WARN, "agent-revoked", "agency=%s connections=%d", p->id,
	    n);
}

/* Push roster ${ro} to ${p}. */
static void
push_roster_bytes(struct relay *r, struct peer *p, uint64_t version,
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
	(void)send_to(r, p, b, n);
	free(b);
}

struct push_ctx {
	struct relay *r;
	struct peer *p;
};

static int
push_one(void *ctx, uint64_t v, const uint8_t *b, size_t n)
{
	struct push_ctx *pc = ctx;

	push_roster_bytes(pc->r, pc->p, v, b, n);
	return (0);
}

/* ---- log helpers ---- */

static void
le_set(struct log_entry *le, uint32_t kind, const uint8_t *msg_id,
    const uint8_t *hash, const char *from, const char *to,
    uint64_t roster_version)
{

	memset(le, 0, sizeof(*le));
	le->kind = kind;
	le->time_ms = ferry_now_ms();
	if (msg_id != NULL)
		memcpy(le->msg_id, msg_id, FERRY_MSGID_LEN);
	if (hash != NULL)
		memcpy(le->env_hash, hash, 32);
	if (from != NULL)
		snprintf(le->from, sizeof(le->from), "%s", from);
	if (to != NULL)
		snprintf(le->to, sizeof(le->to), "%s", to);
	le->roster_version = roster_version;
}

static int
refresh_checkpoint(struct relay *r)
{
	uint8_t *note;
	size_t n;
	int rc;

	if ((rc = log_checkpoint(r->log, &note, &n)) != 0)
		return (rc == FERRY_ENOENT ? 0 : rc);
	free(r->checkpoint);
	r->checkpoint = note;
	r->checkpoint_len = n;
	return (0);
}

/* ---- the batch ---- */

static struct item *
item_new(struct relay *r)
{
	struct item *it;

	if (r->nitems == r->capitems) {
		size_t nc = r->capitems ? r->capitems * 2 : 64;

		if ((it = realloc(r->items, nc * sizeof(*it))) == NULL)
			return (NULL);
		r->items = it;
		r->capitems = nc;
	}
	it = &r->items[r->nitems++];
	memset(it, 0, sizeof(*it));
	return (it);
}

static void
items_clear(struct relay *r)
{
	size_t i;

	for (i = 0; i < r->nitems; i++) {
		free(r->items[i].buf);
		free(r->items[i].final);
		queue_msg_clear(&r->items[i].qm);
	}
	r->nitems = 0;
}

/*
 * roster_expired(r): 1 if the roster in force is past its expiry.  Says so
 * once per roster version at ERROR, naming what the operator must do.
 */
static int
roster_expired(struct relay *r)
{
	uint64_t now = ferry_now_ms();

	if (r->roster->expires == 0 || now < r->roster->expires)
		return (0);
	if (r->expired_said != r->roster->version) {
		r->expired_said = r->roster->version;
		rlog(RLOG_ERROR, "roster-expired", "version=%llu "
		    "expired_ms=%llu: new messages are refused "
		    "(FERRY_EEXPIRED) until the admins sign a newer roster "
		    "version (install it and send SIGHUP); accepted messages "
		    "are still delivered",
		    (unsigned long long)r->roster->version,
		    (unsigned long long)r->roster->expires);
	}
	return (1);
}

static void
refuse(struct relay *r, struct item *it, int code)
{

	uint64_t now = mono_ms();

	it->kind = IT_REFUSE;
	it->code = code;
	count_refused(r, code);
	/*
	 * One REFUSED log entry (and WARN line) per peer per second; the
	 * others are only counted (metrics) and summed up in the next line,
	 * so a peer sending garbage cannot grow the append-only log (M3).
	 * A refused MSG is NACKed all the same.
	 */
	if (it->p->refused_entry_ms != 0 &&
	    now - it->p->refused_entry_ms < REFUSED_LOG_MS) {
		it->quiet = 1;
		it->p->refused_quiet++;
		it->nle = 0;
		return;
	}
	it->p->refused_entry_ms = now;
	it->quiet_n = it->p->refused_quiet;
	it->p->refused_quiet = 0;
	le_set(&it->le[0], LOG_REFUSED, it->e.type == ENV_MSG ? it->e.id :
	    NULL, it->hash, it->p->id, NULL, r->roster->version);
	it->le[0].code = code;
	it->nle = 1;
}

/* Refuse without a log entry (nothing may be written: disk full). */
static void
refuse_nolog(struct relay *r, struct item *it, int code)
{

	refuse(r, it, code);
	it->nle = 0;
}

/* Is ${id} already accepted earlier in this batch? */
static struct item *
batch_has(struct relay *r, struct item *self, const uint8_t *id)
{
	size_t i;

	for (i = 0; i < r->nitems; i++) {
		struct item *o = &r->items[i];

		if (o == self)
			break;
		if ((o->kind == IT_ACCEPT || o->kind == IT_RECEIPT ||
		    o->kind == IT_RNACK || o->kind == IT_EXPIRE) &&
		    memcmp(o->qm.msg_id, id, FERRY_MSGID_LEN) == 0)
			return (o);
	}
	return (NULL);
}

static void
check_msg(struct relay *r, struct item *it, const uint8_t *spk)
{
	struct env *e = &it->e;
	struct peer *rp;
	struct item *o;
	uint8_t h[32];
	uint64_t seq;
	int st;

	/* Duplicates first: a message already held is answered as such
	 * even if its recipient was revoked since (review H4). */
	if ((o = batch_has(r, it, e->id)) != NULL) {
		if (o->kind == IT_ACCEPT &&
		    memcmp(o->hash, it->hash, 32) == 0) {
			it->kind = IT_DUP;
			memcpy(it->qm.msg_id, e->id, FERRY_MSGID_LEN);
			it->dup_same = 1;	/* index known after commit */
			it->dup_ref = (size_t)(o - r->items);
		} else if (o->kind != IT_ACCEPT &&
		    memcmp(o->qm.env_hash, it->hash, 32) == 0) {
			/*
			 * Finished in this very batch (RECEIPT, recipient
			 * NACK or expiry): a duplicate of a finished message,
			 * answered with that final envelope (review H3b).
			 */
			const uint8_t *fb = o->kind == IT_EXPIRE ? o->final :
			    o->buf;
			size_t fl = o->kind == IT_EXPIRE ? o->flen : o->len;

			if ((it->final = malloc(fl ? fl : 1)) == NULL) {
				refuse(r, it, FERRY_ENOMEM);
				return;
			}
			memcpy(it->final, fb, fl);
			it->flen = fl;
			it->kind = IT_DUP;
			it->dup_final = 1;
			memcpy(it->qm.msg_id, e->id, FERRY_MSGID_LEN);
			it->qm.log_index = o->qm.log_index;
		} else
			refuse(r, it, FERRY_EDUPMSG);
		return;
	}
	st = queue_lookup(r->q, e->id, h, &seq, &it->final, &it->flen);
	if (st < 0) {
		refuse(r, it, FERRY_EINTERNAL);
		return;
	}
	if (st != QUEUE_NONE) {
		if (memcmp(h, it->hash, 32) != 0) {
			refuse(r, it, FERRY_EDUPMSG);
			return;
		}
		/* Same bytes as an envelope already verified and held. */
		it->kind = IT_DUP;
		memcpy(it->qm.msg_id, e->id, FERRY_MSGID_LEN);
		if (st == QUEUE_QUEUED) {
			struct queue_msg qm;

			if (queue_get(r->q, seq, &qm) == 0) {
				it->qm.log_index = qm.log_index;
				queue_msg_clear(&qm);
			}
		} else if (log_find_msg(r->log, e->id, LOG_ACCEPTED,
		    &it->qm.log_index) != 0)
			it->qm.log_index = 0;
		return;
	}
	if (!active(r, e->to)) {
		refuse(r, it, FERRY_ERECIPIENT);
		return;
	}
	if (env_verify(e, spk) != 0) {
		refuse(r, it, FERRY_EBADSIG);
		return;
	}
	if (roster_expired(r)) {
		/*
		 * DESIGN: a roster past its expiry is not trusted for new
		 * work.  Messages already accepted are still delivered and
		 * receipted; the sender retries once a newer version is in
		 * force (agents treat FERRY_EEXPIRED from the relay as
		 * transient).
		 */
		refuse(r, it, FERRY_EEXPIRED);
		return;
	}
	if (r->full_until > mono_ms()) {
		/* H1: out of space; transient for the sender, which retries. */
		refuse_nolog(r, it, FERRY_ENOSPC);
		return;
	}
	rp = peer_get(r, e->to, 1);
	if (rp == NULL) {
		refuse(r, it, FERRY_ENOMEM);
		return;
	}
	if (rp->depth >= r->c->queue_max ||
	    rp->bytes + it->len > r->c->queue_max_bytes) {
		refuse(r, it, FERRY_EQUEUEFULL);
		return;
	}
	it->kind = IT_ACCEPT;
	rp->depth++;		/* undone if the batch fails */
	rp->bytes += it->len;
	it->qm.accepted_ms = ferry_now_ms();
	memcpy(it->qm.msg_id, e->id, FERRY_MSGID_LEN);
	memcpy(it->qm.env_hash, it->hash, 32);
	snprintf(it->qm.from, sizeof(it->qm.from), "%s", e->from);
	snprintf(it->qm.to, sizeof(it->qm.to), "%s", e->to);
	it->qm.env = NULL;	/* points at it->buf when stored */
	it->qm.env_len = it->len;
	le_set(&it->le[0], LOG_ACCEPTED, e->id, it->hash, e->from, e->to,
	    r->roster->version);
	it->nle = 1;
}

/* RECEIPT or NACK from a message's recipient. */
static void
check_answer(struct relay *r, struct item *it, const uint8_t *spk)
{
	struct env *e = &it->e;
	uint8_t h[32];
	uint64_t seq;
	uint8_t *fin = NULL;
	size_t flen = 0;
	struct queue_msg qm;
	struct peer *sp;
	int st;

	if (env_verify(e, spk) != 0) {
		refuse(r, it, FERRY_EBADSIG);
		return;
	}
	if (batch_has(r, it, e->msg_id) != NULL) {
		it->kind = IT_SKIP;	/* duplicate answer in one batch */
		return;
	}
	st = queue_lookup(r->q, e->msg_id, h, &seq, &fin, &flen);
	free(fin);
	if (st == QUEUE_DONE) {
		it->kind = IT_SKIP;	/* already finished: harmless */
		return;
	}
	if (st != QUEUE_QUEUED || memcmp(h, e->env_hash, 32) != 0 ||
	    queue_get(r->q, seq, &qm) != 0) {
		refuse(r, it, FERRY_ENOENT);
		return;
	}
	if (strcmp(qm.to, e->from) != 0 || strcmp(qm.from, e->to) != 0) {
		queue_msg_clear(&qm);
		refuse(r, it, FERRY_ESENDER);
		return;
	}
	free(qm.env);
	qm.env = NULL;
	it->qm = qm;
	it->kind = e->type == ENV_RECEIPT ? IT_RECEIPT : IT_RNACK;
	sp = peer_get(r, qm.from, 0);
	it->notify = !(sp != NULL && sp->routed);
	if (e->type == ENV_RECEIPT) {
		le_set(&it->le[0], LOG_RECEIPT, qm.msg_id, qm.env_hash,
		    qm.to, qm.from, e->roster_version);
		it->le[0].ref_index = e->log_index;
		if (it->len <= LOG_AUX_MAX) {
			it->le[0].aux = it->buf;
			it->le[0].aux_len = it->len;
		}
		le_set(&it->le[1], LOG_DELIVERED, qm.msg_id, qm.env_hash,
		    qm.to, qm.from, r->roster->version);
		it->nle = 2;
	} else {
		le_set(&it->le[0], LOG_NACK, qm.msg_id, qm.env_hash, qm.to,
		    qm.from, r->roster->version);
		it->le[0].code = -(int32_t)e->code;
		it->nle = 1;
	}
}

/*
 * An agent's CHECKPOINT (M3): logged only if its note parses, names the
 * sender's own log (origin "ferry/<id>"), is signed by the sender's key,
 * fits a log entry, and grows the tree past the last one logged for this
 * peer (since start); an unchanged one is skipped, anything else refused.
 */
static void
check_checkpoint(struct relay *r, struct item *it, struct peer *p,
    const uint8_t *spk)
{
	struct note_checkpoint cp;
	char origin[FERRY_ID_MAX + 8];
	int rc;

	if (it->e.blob_len == 0 || it->e.blob_len > LOG_AUX_MAX) {
		refuse(r, it, FERRY_ETOOBIG);
		return;
	}
	if ((rc = note_parse_checkpoint(it->e.blob, it->e.blob_len, &cp)) !=
	    0) {
		refuse(r, it, rc);
		return;
	}
	snprintf(origin, sizeof(origin), "ferry/%s", p->id);
	if (strcmp(cp.origin, origin) != 0) {
		refuse(r, it, FERRY_ESENDER);
		return;
	}
	if (note_verify(it->e.blob, it->e.blob_len, cp.origin, spk) != 0) {
		refuse(r, it, FERRY_EBADSIG);
		return;
	}
	if (cp.size <= p->cp_size) {
		it->kind = IT_SKIP;	/* nothing new */
		return;
	}
	p->cp_size = cp.size;
	it->kind = IT_CHECKPOINT;
	le_set(&it->le[0], LOG_CHECKPOINT, NULL, it->hash, p->id, NULL,
	    r->roster->version);
	it->le[0].aux = it->e.blob;
	it->le[0].aux_len = it->e.blob_len;
	it->nle = 1;
}

/* Push kept notices (receipts/NACKs) to ${p}; queue their removal. */
static int
notice_one(void *ctx, uint64_t nseq, const uint8_t *b, size_t n)
{
	struct push_ctx *pc = ctx;
	struct item *it;

	if (send_to(pc->r, pc->p, b, n) != 0)
		return (1);
	if ((it = item_new(pc->r)) == NULL)
		return (1);
	it->kind = IT_NOTIFIED;
	it->p = pc->p;
	it->nseq = nseq;
	snprintf(it->nsender, sizeof(it->nsender), "%s", pc->p->id);
	return (0);
}

/*
 * A HELLO's values are passed, not the envelope: pushing kept notices adds
 * items (notice_one -> item_new), which may move the item array that the
 * HELLO's own envelope lives in.
 */
static void
on_hello(struct relay *r, struct peer *p, uint64_t credit,
    uint64_t roster_version)
{
	struct push_ctx pc = { r, p };

	p->window = credit < r->c->credit_max ? credit : r->c->credit_max;
	/*
	 * A HELLO resends what is in flight (an agent asks so after it
	 * reloads its keys) and pushes rosters and kept notices, but at most
	 * once a second per route: a HELLO loop cannot pile sends up in the
	 * peer's pipe (H2); later ones within the second only set W.
	 */
	if (p->hello_ms != 0 && mono_ms() - p->hello_ms < HELLO_PUSH_MS) {
		rlog(RLOG_DEBUG, "hello", "agency=%s credit=%llu repeated=1",
		    p->id, (unsigned long long)p->window);
		return;
	}
	p->hello_ms = mono_ms();
	fl_clear(p);
	p->progress_ms = mono_ms();
	rlog(RLOG_INFO, "hello", "agency=%s roster=%llu credit=%llu depth=%llu",
	    p->id, (unsigned long long)roster_version,
	    (unsigned long long)p->window, (unsigned long long)p->depth);
	if (roster_version < r->roster->version)
		(void)queue_rosters(r->q, roster_version, push_one, &pc);
	(void)queue_notices(r->q, p->id, notice_one, &pc);
}

/*
 * An ASK from sender ${p}: what became of its message e->msg_id (issue 13,
 * hole 1)?  Answered from what is committed, never from this batch (an
 * answer in this batch is sent after its commit anyway): finished -> the
 * final kept in q.ids (the recipient's RECEIPT, or a NACK), sent again;
 * still queued -> nothing (it is in custody, the sender asks again
 * later); unknown here (this relay lost its data or was restored from an
 * old backup), or known under another envelope hash -> NACK
 * FERRY_ENOTHELD, on which the sender uploads the whole MSG again.  Only
 * the message's own sender is told anything.  Nothing is logged.
 */
static void
on_ask(struct relay *r, struct item *it, struct peer *p)
{
	const struct env *e = &it->e;
	struct queue_msg qm;
	struct env fe;
	uint8_t h[32], *fin = NULL;
	size_t flen = 0;
	uint64_t seq;
	int st, mine = 0;

	it->kind = IT_SKIP;
	r->m.asks++;
	if (batch_has(r, it, e->msg_id) != NULL)
		return;
	st = queue_lookup(r->q, e->msg_id, h, &seq, &fin, &flen);
	if (st < 0) {
		rlog(RLOG_WARN, "ask", "agency=%s: %s", p->id,
		    ferry_strerror(st));
		return;
	}
	if (st == QUEUE_NONE || memcmp(h, e->env_hash, 32) != 0) {
		free(fin);
		r->m.asks_unknown++;
		send_nack(r, p, e->msg_id, e->env_hash, FERRY_ENOTHELD);
		return;
	}
	if (st == QUEUE_QUEUED) {
		if (queue_get(r->q, seq, &qm) == 0) {
			mine = strcmp(qm.from, p->id) == 0;
			queue_msg_clear(&qm);
		}
		if (!mine)	/* someone else's: as if unknown */
			send_nack(r, p, e->msg_id, e->env_hash,
			    FERRY_ENOTHELD);
		return;
	}
	/* Finished: the final is addressed to the message's sender. */
	if (fin != NULL && env_decode(fin, flen, r->c->max_body, &fe) == 0 &&
	    strcmp(fe.to, p->id) == 0) {
		r->m.asks_answered++;
		(void)send_to(r, p, fin, flen);
	} else
		send_nack(r, p, e->msg_id, e->env_hash, FERRY_ENOTHELD);
	free(fin);
}

/* Take one inbound message [rid, envelope, ...] off the socket. */
static int
recv_one(struct relay *r, size_t *bytes)
{
	zmq_msg_t rid, f;
	const char *uid;
	struct peer *p;
	struct item *it;
	const uint8_t *spk;
	uint8_t pk[32];
	int more, nframes = 1, fd, rc, got = 0;
	size_t len;

	zmq_msg_init(&rid);
	if (zmq_msg_recv(&rid, r->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&rid);
		return (errno == EAGAIN ? 0 : -1);
	}
	if (!zmq_msg_more(&rid)) {
		zmq_msg_close(&rid);
		return (1);
	}
	zmq_msg_init(&f);
	if (zmq_msg_recv(&f, r->sock, 0) < 0) {
		zmq_msg_close(&f);
		zmq_msg_close(&rid);
		return (-1);
	}
	got = 1;
	more = zmq_msg_more(&f);
	len = zmq_msg_size(&f);
	*bytes += len;
	r->m.bytes_in += len;
	/* PITFALLS 6: drain the rest of an over-long message. */
	while (more) {
		zmq_msg_t x;

		zmq_msg_init(&x);
		if (zmq_msg_recv(&x, r->sock, 0) < 0) {
			zmq_msg_close(&x);
			break;
		}
		nframes++;
		more = zmq_msg_more(&x);
		zmq_msg_close(&x);
	}
	uid = zmq_msg_gets(&f, "User-Id");
	if (uid == NULL || uid[0] == '\0' || zmq_msg_size(&rid) > RID_MAX) {
		r->m.dropped_nouser++;
		rlog(RLOG_WARN, "drop-unauthenticated", "bytes=%zu", len);
		goto out;
	}
	if ((p = peer_get(r, uid, 1)) == NULL)
		goto out;
	fd = zmq_msg_get(&f, ZMQ_SRCFD);
	monitor_read(r);	/* see the monitor comment */
	if (p->revoked) {
		/*
		 * Admitted before its revocation: nothing it sends is taken,
		 * it gets no route, and its connection is closed (review C1).
		 * No log entry: a revoked peer must not grow the log.
		 */
		count_refused(r, FERRY_EREVOKED);
		if (fd >= 0)
			(void)shutdown(fd, SHUT_RDWR);
		peer_offline(r, p, "revoked");
		if (mono_ms() - p->refused_log_ms >= 1000) {
			p->refused_log_ms = mono_ms();
			rlog(RLOG_WARN, "refused-revoked", "agency=%s "
			    "bytes=%zu closed=1", p->id, len);
		}
		goto out;
	}
	if (fd >= 0 && fd < FD_MAX) {
		r->fd_peer[fd] = p;
		r->fd_peer_gen[fd] = r->fd_gen[fd];
	}
	/* Route by User-Id: the latest routing id wins. */
	if (!p->routed || p->rid_len != zmq_msg_size(&rid) ||
	    memcmp(p->rid, zmq_msg_data(&rid), p->rid_len) != 0) {
		if (!p->routed)
			r->m.connected++;
		p->routed = 1;
		p->rid_len = zmq_msg_size(&rid);
		memcpy(p->rid, zmq_msg_data(&rid), p->rid_len);
		fl_clear(p);
		p->hello_ms = 0;
		p->pump_after = 0;
		rlog(RLOG_INFO, "agent-route", "agency=%s", p->id);
	}
	p->fd = fd;
	p->fd_gen = (fd >= 0 && fd < FD_MAX) ? r->fd_gen[fd] : 0;
	if ((it = item_new(r)) == NULL)
		goto out;
	it->p = p;
	it->len = len;
	if ((it->buf = malloc(len ? len : 1)) == NULL) {
		r->nitems--;
		goto out;
	}
	memcpy(it->buf, zmq_msg_data(&f), len);
	env_hash(it->buf, len, it->hash);
	if (nframes != 1 || len == 0) {
		refuse(r, it, FERRY_EFRAMES);
		goto out;
	}
	if ((rc = env_decode(it->buf, len, r->c->max_body, &it->e)) != 0) {
		memset(&it->e, 0, sizeof(it->e));
		refuse(r, it, rc);
		goto out;
	}
	if (strcmp(it->e.from, p->id) != 0) {
		refuse(r, it, FERRY_ESENDER);
		goto out;
	}
	if ((rc = roster_sender_key(r->roster, p->id, pk)) != 0) {
		refuse(r, it, rc == FERRY_EUNKNOWNAGENCY ? FERRY_EREVOKED : rc);
		goto out;
	}
	spk = pk;
	switch (it->e.type) {
	case ENV_MSG:
		check_msg(r, it, spk);
		break;
	case ENV_RECEIPT:
	case ENV_NACK:
		check_answer(r, it, spk);
		break;
	case ENV_HELLO:
	case ENV_CREDIT:
	case ENV_HEARTBEAT:
	case ENV_CHECKPOINT:
	case ENV_ASK:
		if (env_verify(&it->e, spk) != 0) {
			refuse(r, it, FERRY_EBADSIG);
			break;
		}
		if (it->e.type == ENV_HELLO) {
			it->kind = IT_SKIP;
			on_hello(r, p, it->e.credit, it->e.roster_version);
		} else if (it->e.type == ENV_ASK) {
			on_ask(r, it, p);
		} else if (it->e.type == ENV_CREDIT) {
			it->kind = IT_SKIP;
			p->window = it->e.credit < r->c->credit_max ?
			    it->e.credit : r->c->credit_max;
		} else if (it->e.type == ENV_HEARTBEAT) {
			it->kind = IT_SKIP;
			send_simple(r, p, ENV_HEARTBEAT);
		} else
			check_checkpoint(r, it, p, spk);
		break;
	default:
		refuse(r, it, FERRY_EMSGTYPE);
		break;
	}
out:
	zmq_msg_close(&f);
	zmq_msg_close(&rid);
	return (got);
}

/* The NACK envelope that finishes an expired message. */
static int
expire_item(struct relay *r, const struct queue_msg *qm)
{
	struct item *it;
	struct peer *sp;

	if ((it = item_new(r)) == NULL)
		return (-1);
	it->kind = IT_EXPIRE;
	it->qm = *qm;
	it->qm.env = NULL;
	if (make_nack(r, qm->from, qm->msg_id, qm->env_hash, FERRY_EEXPIREDMSG,
	    &it->final, &it->flen) != 0) {
		r->nitems--;
		return (-1);
	}
	sp = peer_get(r, qm->from, 0);
	it->notify = !(sp != NULL && sp->routed);
	le_set(&it->le[0], LOG_EXPIRED, qm->msg_id, qm->env_hash, qm->from,
	    qm->to, r->roster->version);
	it->le[0].code = FERRY_EEXPIREDMSG;
	it->nle = 1;
	return (0);
}

struct sweep_ctx {
	struct relay *r;
	uint64_t now;
	size_t n;
};

static int
sweep_one(void *ctx, const struct queue_msg *qm)
{
	struct sweep_ctx *sc = ctx;

	struct peer *rp;

	if (qm->accepted_ms + sc->r->c->expiry_ms > sc->now)
		return (1);	/* seq order is accept order: done */
	/*
	 * In flight to a connected recipient: it may be in its inbox
	 * already, so its RECEIPT must still be taken (review H3a).  It
	 * expires once the recipient is gone (disconnect, heartbeat
	 * timeout) or a send to it failed; a connected recipient that
	 * never answers keeps it (redelivered every `redeliver`).
	 */
	rp = peer_get(sc->r, qm->to, 0);
	if (rp != NULL && rp->routed && rp->inflight > 0 &&
	    qm->seq <= rp->cursor)
		return (0);
	if (batch_has(sc->r, NULL, qm->msg_id) != NULL)
		return (0);	/* answered in this very batch */
	if (expire_item(sc->r, qm) != 0)
		return (1);
	return (++sc->n >= SWEEP_MAX);
}

/* FERRY_RELAY_FAULT test hooks (tests/scenario/relay_fault.sh). */
enum { FAULT_NONE, FAULT_BEFORE_COMMIT, FAULT_AFTER_COMMIT };

/*
 * Commit the batch: every log entry and every queue change in one log
 * batch, one synced commit (a full map is grown and the batch redone by
 * the log).  Returns 0, or a negative code after which the relay stops;
 * nothing of a failed batch was written.
 */
static int
commit_batch(struct relay *r)
{
	struct log_batch *lb;
	struct queue_txn *t;
	uint64_t got, grows;
	size_t i;
	int j, rc = 0, need = 0;

	for (i = 0; i < r->nitems; i++)
		if (r->items[i].nle > 0 || r->items[i].kind == IT_NOTIFIED)
			need = 1;
	if (!need)
		return (0);
	grows = log_map_grows(r->log);
	if ((rc = log_begin(r->log, &lb)) != 0)
		return (rc);
	if ((rc = queue_begin(r->q, lb, &t)) != 0) {
		log_abort(lb);
		return (rc);
	}
	for (i = 0; i < r->nitems && rc == 0; i++) {
		struct item *it = &r->items[i];

		for (j = 0; j < it->nle; j++) {
			if ((rc = log_add(lb, &it->le[j], NULL, 0, &got)) != 0)
				break;
			if (j == 0)
				it->log_index = got;
		}
		if (rc != 0)
			break;
		switch (it->kind) {
		case IT_ACCEPT:
			it->qm.log_index = it->log_index;
			it->qm.env = it->buf;
			rc = queue_put(t, &it->qm);
			it->qm.env = NULL;
			break;
		case IT_RECEIPT:
		case IT_RNACK:
			rc = queue_finish(t, it->qm.msg_id, it->buf, it->len,
			    it->notify);
			break;
		case IT_EXPIRE:
			rc = queue_finish(t, it->qm.msg_id, it->final,
			    it->flen, it->notify);
			break;
		case IT_NOTIFIED:
			rc = queue_notified(t, it->nsender, it->nseq);
			break;
		default:
			break;
		}
	}
	if (rc != 0) {
		queue_abort(t);
		return (rc);
	}
	/* Test hook: die with the batch received and checked, unwritten. */
	if (r->fault == FAULT_BEFORE_COMMIT)
		_exit(137);
	rc = queue_commit(t);
	if (log_map_grows(r->log) != grows)
		rlog(RLOG_WARN, "queue-map-grow", "grows=%llu",
		    (unsigned long long)(log_map_grows(r->log) - grows));
	if (rc != 0)
		return (rc);
	r->m.commits++;
	/* Test hook: die with the batch committed, nothing answered. */
	if (r->fault == FAULT_AFTER_COMMIT)
		_exit(137);
	(void)FERRY_FAULT("relay-commit");
	for (i = 0; i < r->nitems; i++)
		if (r->items[i].kind == IT_RECEIPT ||
		    r->items[i].kind == IT_RNACK ||
		    r->items[i].kind == IT_EXPIRE) {
			(void)FERRY_FAULT("relay-commit-final");
			break;
		}
	r->m.log_size = log_size(r->log);
	return (refresh_checkpoint(r));
}

/* After the commit: answer, forward, account. */
static void
answer_batch(struct relay *r)
{
	struct peer *p;
	size_t i;
	char h[17];

	for (i = 0; i < r->nitems; i++) {
		struct item *it = &r->items[i];

		switch (it->kind) {
		case IT_ACCEPT:
			r->m.accepted++;
			hex8(h, it->qm.msg_id);
			rlog(RLOG_INFO, "accepted",
			    "msg=%s from=%s to=%s bytes=%zu log=%llu", h,
			    it->qm.from, it->qm.to, it->len,
			    (unsigned long long)it->log_index);
			send_accepted(r, it->p, it->qm.msg_id, it->hash,
			    it->log_index);
			break;
		case IT_DUP:
			r->m.duplicates++;
			if (it->dup_same)
				it->qm.log_index =
				    r->items[it->dup_ref].log_index;
			hex8(h, it->qm.msg_id);
			rlog(RLOG_INFO, "duplicate", "msg=%s from=%s%s", h,
			    it->p->id, it->final ? " done=1" : "");
			send_accepted(r, it->p, it->qm.msg_id, it->hash,
			    it->qm.log_index);
			if (it->final != NULL)
				(void)send_to(r, it->p, it->final, it->flen);
			break;
		case IT_REFUSE:
			/* Rate-limited refusals: DEBUG lines only. */
			rlog(it->quiet ? RLOG_DEBUG : RLOG_WARN, "refused",
			    "from=%s code=%s bytes=%zu not_logged_before=%llu",
			    it->p->id, ferry_errname(it->code), it->len,
			    (unsigned long long)it->quiet_n);
			/* NACK refused MSGs and undecodable input; a refused
			 * RECEIPT, NACK or control envelope is only logged,
			 * so no NACK can be mistaken for one about a MSG. */
			if (it->e.type == ENV_MSG || it->e.type == 0)
				send_nack(r, it->p, it->e.type == ENV_MSG ?
				    it->e.id : NULL, it->hash, it->code);
			break;
		case IT_RECEIPT:
		case IT_RNACK:
		case IT_EXPIRE:
			hex8(h, it->qm.msg_id);
			if (it->kind == IT_RECEIPT)
				r->m.delivered++;
			if (it->kind == IT_EXPIRE)
				r->m.expired++;
			rlog(it->kind == IT_RECEIPT ? RLOG_INFO : RLOG_WARN,
			    it->kind == IT_RECEIPT ? "delivered" :
			    it->kind == IT_RNACK ? "recipient-nack" : "expired",
			    "msg=%s from=%s to=%s", h, it->qm.from, it->qm.to);
			if ((p = peer_get(r, it->qm.to, 0)) != NULL) {
				if (p->depth > 0)
					p->depth--;
				p->bytes -= p->bytes >= it->qm.env_len ?
				    it->qm.env_len : p->bytes;
				/* Credit back only for a message in flight
				 * on this route (M2). */
				if (fl_done(p, it->qm.seq))
					p->progress_ms = mono_ms();
			}
			/* Sent to the sender if it is connected now, even
			 * when it was not at the check (a HELLO later in
			 * this batch pushed the notices committed before
			 * this one): the kept copy goes at its next HELLO,
			 * and an ASK gets it from q.ids in any case. */
			if ((p = peer_get(r, it->qm.from, 0)) != NULL &&
			    FERRY_FAULT("relay-route-lost"))
				peer_offline(r, p, "test-fault");
			if (p != NULL && FERRY_FAULT("relay-forward-final"))
				continue;	/* as if the send failed */
			if (p != NULL && p->routed) {
				if (it->kind == IT_EXPIRE)
					(void)send_to(r, p, it->final,
					    it->flen);
				else
					(void)send_to(r, p, it->buf, it->len);
			}
			break;
		default:
			break;
		}
	}
	items_clear(r);
}

/* Bytes free for us on the data folder's filesystem (0 if unknown). */
static uint64_t
disk_free(const struct relay *r)
{
	struct statvfs sv;

	if (statvfs(r->c->data, &sv) != 0)
		return (0);
	return ((uint64_t)sv.f_bavail * sv.f_frsize);
}

/*
 * While the disk is full (looked at every turn of the loop, a statvfs
 * call): new MSGs are tried again once 1 MiB more than
 * at the failure is free on the filesystem (space returned), or after
 * FULL_RETRY_MS anyway (LMDB may have reusable pages by then).
 */
static void
disk_full_tick(struct relay *r, uint64_t now)
{

	if (!r->m.disk_full || r->full_until <= now)
		return;
	if (disk_free(r) >= r->full_free0 + (1u << 20)) {
		r->full_until = 0;
		rlog(RLOG_INFO, "disk-retry", "free_kib=%llu",
		    (unsigned long long)(disk_free(r) >> 10));
	}
}

/* Does the batch store a new message? */
static int
batch_accepts(const struct relay *r)
{
	size_t i;

	for (i = 0; i < r->nitems; i++)
		if (r->items[i].kind == IT_ACCEPT)
			return (1);
	return (0);
}

/* Undo the in-memory counts of an IT_ACCEPT item that was not stored. */
static void
undo_accept(struct relay *r, struct item *it)
{
	struct peer *p;

	if ((p = peer_get(r, it->qm.to, 0)) == NULL)
		return;
	if (p->depth > 0)
		p->depth--;
	p->bytes -= p->bytes >= it->len ? it->len : p->bytes;
}

/* Undo in-memory counts of a batch that failed to commit. */
static void
undo_batch(struct relay *r)
{
	size_t i;

	for (i = 0; i < r->nitems; i++)
		if (r->items[i].kind == IT_ACCEPT)
			undo_accept(r, &r->items[i]);
	items_clear(r);
}

/*
 * A commit failed for lack of space (H1).  Nothing of the batch was
 * written and nothing answered.  Refuse its new MSGs with a transient
 * FERRY_ENOSPC NACK (no log entry) and drop its log-only entries, then
 * try once more with what frees space (RECEIPTs, NACKs, expiries) and
 * what answers from the store (duplicates); if that fails too, drop those
 * as well (their senders and recipients retry: nothing was acknowledged).
 * New MSGs are refused without trying until space returns (see
 * disk_full_tick).  0, or the
 * error of a second failure that is not a lack of space.
 */
static int
disk_full(struct relay *r, int rc)
{
	size_t i;

	r->m.commit_failures++;
	if (r->m.disk_full == 0)
		rlog(RLOG_ERROR, "disk-full", "err=%s: no space left for the "
		    "queue/log; new messages get NACK FERRY_ENOSPC, receipts "
		    "still processed; free space in the data folder",
		    ferry_errname(rc));
	r->m.disk_full = 1;
	r->full_until = mono_ms() + FULL_RETRY_MS;
	r->full_free0 = disk_free(r);
	for (i = 0; i < r->nitems; i++) {
		struct item *it = &r->items[i];

		if (it->kind == IT_ACCEPT) {
			undo_accept(r, it);
			refuse_nolog(r, it, FERRY_ENOSPC);
		} else if (it->kind == IT_REFUSE)
			it->nle = 0;
		else if (it->kind == IT_CHECKPOINT) {
			it->kind = IT_SKIP;
			it->nle = 0;
		} else if (it->kind == IT_DUP && it->dup_same &&
		    r->items[it->dup_ref].kind != IT_ACCEPT)
			refuse_nolog(r, it, FERRY_ENOSPC);
	}
	if ((rc = commit_batch(r)) == 0)
		return (0);
	if (rc != FERRY_ENOSPC)
		return (rc);
	r->m.commit_failures++;
	rlog(RLOG_WARN, "disk-full", "err=%s: receipts of this batch not "
	    "recorded; they are asked again", ferry_errname(rc));
	for (i = 0; i < r->nitems; i++) {
		struct item *it = &r->items[i];

		if (it->nle > 0 || it->kind == IT_NOTIFIED ||
		    it->dup_final) {
			it->kind = IT_SKIP;
			it->nle = 0;
		}
	}
	return (0);
}

/* Forward queued messages to ${p} while it has credit. */
static void
pump(struct relay *r, struct peer *p, uint64_t now)
{
	struct queue_msg qm;
	uint64_t seq;
	size_t i;
	int rc;

	/*
	 * Each message in flight longer than `redeliver` without an answer
	 * is sent again on its own (M2); one that left the queue meanwhile
	 * gives its credit back.
	 */
	for (i = 0; i < p->nfl && p->routed && now >= p->pump_after; i++) {
		if (now - p->fl[i].sent_ms < r->c->redeliver_ms)
			continue;
		if ((rc = queue_get(r->q, p->fl[i].seq, &qm)) != 0) {
			if (rc == FERRY_ENOENT)
				fl_drop(p, i--);
			continue;
		}
		if (send_to(r, p, qm.env, qm.env_len) != 0) {
			if (errno == EAGAIN)
				p->pump_after = now + PUMP_BACKOFF_MS;
			queue_msg_clear(&qm);
			break;
		}
		rlog(RLOG_INFO, "redeliver", "agency=%s seq=%llu", p->id,
		    (unsigned long long)p->fl[i].seq);
		p->fl[i].sent_ms = now;
		r->m.forwarded++;
		queue_msg_clear(&qm);
	}
	/* Credit bounds the count, PEER_BYTES_MAX the bytes (H2). */
	while (p->routed && p->inflight < p->window && now >= p->pump_after &&
	    (p->inflight == 0 || p->inflight_bytes < PEER_BYTES_MAX)) {
		if (queue_next_for(r->q, p->id, p->cursor, &seq) != 0)
			break;
		if (queue_get(r->q, seq, &qm) != 0)
			break;
		if (send_to(r, p, qm.env, qm.env_len) != 0) {
			/* Pipe full: leave it be for a while (M2). */
			if (errno == EAGAIN)
				p->pump_after = now + PUMP_BACKOFF_MS;
			queue_msg_clear(&qm);
			break;
		}
		if (p->inflight == 0)
			p->progress_ms = now;
		p->cursor = seq;
		r->m.forwarded++;
		if (fl_add(p, seq, now, qm.env_len) != 0) {
			/* Untracked: resent after the next route reset. */
			queue_msg_clear(&qm);
			break;
		}
		queue_msg_clear(&qm);
	}
}

static void
pump_all(struct relay *r)
{
	uint64_t now = mono_ms();
	struct peer *p;
	size_t b;

	for (b = 0; b < NBUCKETS; b++)
		for (p = r->tab[b]; p != NULL; p = p->next)
			if (p->revoked)
				continue;
			else if (p->routed && p->depth > 0 &&
			    p->inflight < p->window)
				pump(r, p, now);
			else if (p->routed && p->inflight > 0)
				pump(r, p, now);
}

static void
write_metrics(struct relay *r)
{
	struct metrics_depth *d;
	struct peer *p;
	size_t b, n = 0, cap = 64;

	zap_counts(r->zap, &r->m.zap_allowed, &r->m.zap_denied);
	r->m.roster_version = r->roster->version;
	r->m.roster_expired = roster_expired(r);
	r->m.log_size = log_size(r->log);
	if ((d = calloc(cap, sizeof(*d))) == NULL)
		return;
	for (b = 0; b < NBUCKETS; b++)
		for (p = r->tab[b]; p != NULL; p = p->next) {
			if (n == cap) {
				struct metrics_depth *nd;

				if ((nd = realloc(d, 2 * cap * sizeof(*d))) ==
				    NULL)
					goto out;
				d = nd;
				cap *= 2;
			}
			d[n].id = p->id;
			d[n].depth = p->depth;
			d[n].connected = p->routed;
			n++;
		}
	if (metrics_write(r->c->data, &r->m, d, n) != 0)
		rlog(RLOG_WARN, "metrics-write", "failed=1");
out:
	free(d);
}

/* ---- monitor ---- */

/* The connection on ${fd} is gone: forget its owner, take its route down. */
static void
fd_closed(struct relay *r, int fd)
{
	struct peer *p;
	size_t bk;

	if (r->fd_peer_gen[fd] == r->fd_gen[fd])
		r->fd_peer[fd] = NULL;
	for (bk = 0; bk < NBUCKETS; bk++)
		for (p = r->tab[bk]; p; p = p->next)
			if (p->routed && p->fd == fd &&
			    p->fd_gen == r->fd_gen[fd])
				peer_offline(r, p, "disconnected");
}

/*
 * A connection was accepted on ${fd}: beyond max_connections it is shut
 * at once, before its CURVE handshake costs anything more (review M4).
 */
static void
conn_accepted(struct relay *r, int fd)
{
	static uint64_t last_ms;

	r->m.connections++;
	if (r->m.connections <= r->c->max_connections)
		return;
	(void)shutdown(fd, SHUT_RDWR);
	r->m.conn_refused++;
	if (mono_ms() - last_ms >= 1000) {
		last_ms = mono_ms();
		rlog(RLOG_WARN, "connection-limit", "open=%llu max=%llu "
		    "refused_total=%llu", (unsigned long long)r->m.connections,
		    (unsigned long long)r->c->max_connections,
		    (unsigned long long)r->m.conn_refused);
	}
}

/*
 * Connection events, read in order.  An fd number is reused after a
 * close, so each accept on an fd bumps its generation; a peer remembers
 * the generation of the connection its latest message came from, and a
 * DISCONNECTED event only takes down a peer on the same fd AND
 * generation.  recv_one drains these events before recording a
 * message's fd, so the accept of its connection has been counted.
 */
static void
monitor_read(struct relay *r)
{
	zmq_msg_t a, b;
	uint16_t ev;
	uint32_t val;

	for (;;) {
		zmq_msg_init(&a);
		if (zmq_msg_recv(&a, r->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&a);
			return;
		}
		zmq_msg_init(&b);
		if (zmq_msg_more(&a))
			(void)zmq_msg_recv(&b, r->mon, 0);
		if (zmq_msg_size(&a) >= 6) {
			memcpy(&ev, zmq_msg_data(&a), 2);
			memcpy(&val, (uint8_t *)zmq_msg_data(&a) + 2, 4);
			if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
				/* One line a second at most: unauthenticated
				 * peers must not flood the log (M3/M4). */
				r->hs_refused++;
				if (mono_ms() - r->hs_log_ms >= 1000) {
					r->hs_log_ms = mono_ms();
					rlog(RLOG_WARN, "handshake-refused",
					    "status=%u count=%llu", (unsigned)val,
					    (unsigned long long)r->hs_refused);
					r->hs_refused = 0;
				}
			} else if (ev == ZMQ_EVENT_ACCEPTED) {
				if (val < FD_MAX)
					r->fd_gen[val]++;
				conn_accepted(r, (int)val);
			} else if (ev == ZMQ_EVENT_DISCONNECTED) {
				if (r->m.connections > 0)
					r->m.connections--;
				if (val < FD_MAX)
					fd_closed(r, (int)val);
			}
		}
		zmq_msg_close(&b);
		zmq_msg_close(&a);
	}
}

/* ---- roster loading ---- */

static int
roster_read_file(const char *path, struct roster **out)
{
	uint8_t *b;
	size_t n;
	int rc;

	if ((rc = ferry_read_file(path, ROSTER_MAX_BYTES, &b, &n, 0)) != 0)
		return (rc);
	rc = roster_parse(b, n, out);
	free(b);
	return (rc);
}

/* Store and log an adopted roster (one synced commit). */
static int
roster_adopt(struct relay *r, struct roster *ro)
{
	struct log_batch *lb;
	struct queue_txn *t;
	struct log_entry le;
	const uint8_t *bytes;
	uint8_t h[32];
	size_t n;
	int rc;

	if ((rc = roster_bytes(ro, &bytes, &n)) != 0)
		return (rc);
	roster_hash(ro, h);
	le_set(&le, LOG_ROSTER, NULL, h, NULL, NULL, ro->version);
	if ((rc = log_begin(r->log, &lb)) != 0)
		return (rc);
	if ((rc = queue_begin(r->q, lb, &t)) != 0) {
		log_abort(lb);
		return (rc);
	}
	if ((rc = queue_roster_put(t, ro->version, bytes, n)) != 0 ||
	    (rc = log_add(lb, &le, NULL, 0, NULL)) != 0) {
		queue_abort(t);
		return (rc);
	}
	return (queue_commit(t));
}

/* The relay's own identity must be the roster's relay. */
static int
check_me(const struct relay *r, const struct roster *ro)
{

	if (strcmp(ro->relay.id, r->me->id) != 0 ||
	    sodium_memcmp(ro->relay.sign_pk, r->me->sign_pk, 32) != 0 ||
	    sodium_memcmp(ro->relay.curve_pk, r->me->curve_pk, 32) != 0) {
		rlog(RLOG_ERROR, "roster-relay-mismatch",
		    "roster_relay=%s me=%s", ro->relay.id, r->me->id);
		return (-1);
	}
	return (0);
}

/* At start: the stored roster, or the file as pinned genesis, then a newer file. */
static int
roster_start(struct relay *r)
{
	struct roster *file = NULL, *cur = NULL;
	uint8_t *b;
	size_t n;
	uint64_t v;
	char why[256];
	int rc;

	rc = queue_roster_latest(r->q, &v, &b, &n);
	if (rc == 0) {
		rc = roster_parse(b, n, &cur);
		free(b);
		if (rc != 0) {
			rlog(RLOG_ERROR, "roster-stored", "err=%s",
			    ferry_errname(rc));
			return (-1);
		}
	} else if (rc != FERRY_ENOENT)
		return (-1);
	if ((rc = roster_read_file(r->c->roster, &file)) != 0) {
		rlog(RLOG_ERROR, "roster-file", "path=%s err=%s",
		    r->c->roster, ferry_errname(rc));
		if (cur == NULL)
			return (-1);
	}
	if (cur == NULL) {
		if (r->c->roster_pin[0] == '\0') {
			rlog(RLOG_ERROR, "roster-pin", "missing=1 hint=\"set "
			    "roster_pin to the roster fingerprint\"");
			roster_free(file);
			return (-1);
		}
		rc = roster_verify_genesis(file, r->c->roster_pin,
		    ferry_now_ms(), why, sizeof(why));
		if (rc != 0) {
			rlog(RLOG_ERROR, "roster-genesis", "err=%s why=\"%s\"",
			    ferry_errname(rc), why);
			roster_free(file);
			return (-1);
		}
		if (check_me(r, file) || roster_adopt(r, file)) {
			roster_free(file);
			return (-1);
		}
		rlog(RLOG_INFO, "roster-adopted", "version=%llu genesis=1",
		    (unsigned long long)file->version);
		r->roster = file;
		return (0);
	}
	r->roster = cur;
	if (file != NULL && file->version == cur->version + 1) {
		rc = roster_verify_next(cur, file, ferry_now_ms(), why,
		    sizeof(why));
		if (rc == 0 && check_me(r, file) == 0 &&
		    roster_adopt(r, file) == 0) {
			rlog(RLOG_INFO, "roster-adopted", "version=%llu",
			    (unsigned long long)file->version);
			r->roster = file;
			roster_free(cur);
			return (0);
		}
		rlog(RLOG_ERROR, "roster-refused", "version=%llu err=%s "
		    "why=\"%s\"", (unsigned long long)file->version,
		    ferry_errname(rc), why);
	} else if (file != NULL && file->version > cur->version + 1)
		rlog(RLOG_ERROR, "roster-refused", "version=%llu err=%s",
		    (unsigned long long)file->version,
		    ferry_errname(FERRY_EROLLBACK));
	roster_free(file);
	rlog(RLOG_INFO, "roster-loaded", "version=%llu",
	    (unsigned long long)cur->version);
	return (check_me(r, cur));
}

/* SIGHUP: the roster file's next version, verified, adopted, pushed. */
static void
roster_reload(struct relay *r)
{
	struct roster *ro;
	struct zap_table *zt;
	struct peer *p;
	const uint8_t *bytes;
	size_t n, b;
	char why[256] = "";
	int rc;

	if ((rc = roster_read_file(r->c->roster, &ro)) != 0) {
		rlog(RLOG_ERROR, "roster-reload", "path=%s err=%s",
		    r->c->roster, ferry_errname(rc));
		return;
	}
	if (ro->version == r->roster->version) {
		rlog(RLOG_INFO, "roster-reload", "version=%llu unchanged=1",
		    (unsigned long long)ro->version);
		roster_free(ro);
		return;
	}
	if ((rc = roster_verify_next(r->roster, ro, ferry_now_ms(), why,
	    sizeof(why))) != 0 || (rc = check_me(r, ro)) != 0) {
		rlog(RLOG_ERROR, "roster-refused", "version=%llu err=%s "
		    "why=\"%s\"", (unsigned long long)ro->version,
		    ferry_errname(rc), why);
		roster_free(ro);
		return;
	}
	if ((zt = zap_table_of(ro)) == NULL ||
	    (rc = roster_adopt(r, ro)) != 0) {
		zap_table_free(zt);
		rlog(RLOG_ERROR, "roster-store", "err=%s", ferry_errname(rc));
		roster_free(ro);
		return;
	}
	if (zap_swap(r->zap, zt) != 0) {
		/* Adopted and stored, but ZAP still admits by the old
		 * roster (a revoked key too): stop; a restart uses the
		 * stored version (review L6). */
		rlog(RLOG_ERROR, "zap-swap", "version=%llu failed=1; "
		    "stopping", (unsigned long long)ro->version);
		roster_free(ro);
		r->fatal = 1;
		return;
	}
	roster_free(r->roster);
	r->roster = ro;
	r->m.log_size = log_size(r->log);
	(void)refresh_checkpoint(r);
	rlog(RLOG_INFO, "roster-adopted", "version=%llu agencies=%zu",
	    (unsigned long long)ro->version, ro->nagencies);
	if (roster_bytes(ro, &bytes, &n) != 0)
		return;
	for (b = 0; b < NBUCKETS; b++)
		for (p = r->tab[b]; p != NULL; p = p->next) {
			if (active(r, p->id)) {
				p->revoked = 0;
				if (p->routed)
					push_roster_bytes(r, p, ro->version,
					    bytes, n);
				continue;
			}
			if (p->revoked)
				continue;
			/*
			 * Newly revoked: no route, no credit, no delivery from
			 * now on; every connection it was seen on closed (ZAP
			 * refuses its key now).  Its queued messages stay.
			 */
			p->revoked = 1;
			close_conns(r, p);
			peer_offline(r, p, "revoked");
		}
}

/* ---- setup and the loop ---- */

/* Make ${path} a folder of mode 0700, tightening an existing one (L7). */
static int
mkdir_0700(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return (-1);
	if (stat(path, &st) != 0)
		return (-1);
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return (-1);
	}
	if ((st.st_mode & 077) != 0) {
		if (chmod(path, 0700) != 0)
			return (-1);
		rlog(RLOG_WARN, "data", "path=%s mode=%03o tightened=0700",
		    path, (unsigned)(st.st_mode & 0777));
	}
	return (0);
}

struct depth_ctx {
	struct relay *r;
	uint64_t total;
};

static int
depth_one(void *ctx, const struct queue_msg *qm)
{
	struct depth_ctx *dc = ctx;
	struct peer *p;

	if ((p = peer_get(dc->r, qm->to, 1)) == NULL)
		return (FERRY_ENOMEM);
	p->depth++;
	p->bytes += qm->env_len;
	dc->total++;
	return (0);
}

static size_t
frame_limit(uint64_t max_body)
{
	size_t m = env_bucket(max_body + 64) + 16;

	if (m < ENV_BLOB_MAX)
		m = ENV_BLOB_MAX;
	return (m + 1024 + 64 * 1024);
}

static int
socket_setup(struct relay *r)
{
	int one = 1, rcvhwm = 1000, ivl = 5000, tmo = 15000, ttl = 15000;
	int hs = (int)r->c->handshake_ms, zero = 0;
	/* Room for a full window plus rosters and notices, no more (H2). */
	int sndhwm = r->c->credit_max + 64 <= 1000 ? 1000 :
	    r->c->credit_max < 100000 ? (int)r->c->credit_max + 64 : 100064;
	int linger = (int)r->c->linger_ms;
	int64_t maxmsg = (int64_t)frame_limit(r->c->max_body);

	if ((r->sock = zmq_socket(r->zctx, ZMQ_ROUTER)) == NULL)
		return (-1);
	/* Every option before bind (PITFALLS 10). */
	if (zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_setsockopt(r->sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN,
	    strlen(ZAP_DOMAIN)) ||
	    zmq_setsockopt(r->sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one,
	    sizeof(one)) ||
	    zmq_setsockopt(r->sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) ||
	    zmq_setsockopt(r->sock, ZMQ_CURVE_SECRETKEY, r->me->curve_sk, 32) ||
	    zmq_setsockopt(r->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) ||
	    zmq_setsockopt(r->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) ||
	    zmq_setsockopt(r->sock, ZMQ_SNDHWM, &sndhwm, sizeof(sndhwm)) ||
	    zmq_setsockopt(r->sock, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm)) ||
	    zmq_setsockopt(r->sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl)) ||
	    zmq_setsockopt(r->sock, ZMQ_HEARTBEAT_TIMEOUT, &tmo, sizeof(tmo)) ||
	    zmq_setsockopt(r->sock, ZMQ_HEARTBEAT_TTL, &ttl, sizeof(ttl)) ||
	    zmq_setsockopt(r->sock, ZMQ_HANDSHAKE_IVL, &hs, sizeof(hs))) {
		rlog(RLOG_ERROR, "socket-option", "err=\"%s\"",
		    zmq_strerror(errno));
		return (-1);
	}
	if (zmq_socket_monitor(r->sock, "inproc://ferry-relay-monitor",
	    ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_ACCEPTED |
	    ZMQ_EVENT_DISCONNECTED) != 0 ||
	    (r->mon = zmq_socket(r->zctx, ZMQ_PAIR)) == NULL ||
	    zmq_setsockopt(r->mon, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    /* No HWM on the event pipe: no ACCEPTED/DISCONNECTED is
	     * dropped in a connection storm (review L9). */
	    zmq_setsockopt(r->mon, ZMQ_RCVHWM, &zero, sizeof(zero)) ||
	    zmq_connect(r->mon, "inproc://ferry-relay-monitor") != 0) {
		rlog(RLOG_ERROR, "monitor", "err=\"%s\"", zmq_strerror(errno));
		return (-1);
	}
	if (zmq_bind(r->sock, r->c->endpoint) != 0) {
		rlog(RLOG_ERROR, "bind", "endpoint=%s err=\"%s\"",
		    r->c->endpoint, zmq_strerror(errno));
		return (-1);
	}
	return (0);
}

static void
relay_free(struct relay *r)
{
	struct peer *p, *np;
	size_t b;

	items_clear(r);
	free(r->items);
	if (r->sock != NULL)
		zmq_close(r->sock);
	if (r->mon != NULL)
		zmq_close(r->mon);
	zap_stop(r->zap);
	if (r->zctx != NULL)
		zmq_ctx_term(r->zctx);
	for (b = 0; b < NBUCKETS; b++)
		for (p = r->tab[b]; p != NULL; p = np) {
			np = p->next;
			free(p->fl);
			free(p);
		}
	if (r->lock_fd >= 0)
		(void)close(r->lock_fd);
	free(r->checkpoint);
	free(r->fd_gen);
	free(r->fd_peer);
	free(r->fd_peer_gen);
	roster_free(r->roster);
	queue_close(r->q);
	log_close(r->log);
	ident_free(r->me);
}

/** loop_run(c, stop, hup): run the relay until *${stop}. */
int
loop_run(const struct config *c, volatile sig_atomic_t *stop,
    volatile sig_atomic_t *hup)
{
	struct relay r;
	struct log_opts lo = { queue_dbs, QUEUE_NDBS, 0 };
	struct zap_table *zt;
	struct depth_ctx dc;
	const char *fault = getenv("FERRY_RELAY_FAULT");
	char path[CONFIG_PATH_MAX + 16], origin[FERRY_ID_MAX + 8];
	char *penv = getenv("FERRY_RELAY_PASSPHRASE"), *pass = NULL;
	size_t plen;
	zmq_pollitem_t pi[2];
	uint64_t now;
	size_t bytes, n;
	int rc, ret = 1;

	memset(&r, 0, sizeof(r));
	r.c = c;
	r.lock_fd = -1;
	if (fault != NULL && strcmp(fault, "before-commit") == 0)
		r.fault = FAULT_BEFORE_COMMIT;
	else if (fault != NULL && strcmp(fault, "after-commit") == 0)
		r.fault = FAULT_AFTER_COMMIT;
	/* Test hook: gather more per batch (tests/scenario/relay_race.sh). */
	if ((fault = getenv("FERRY_RELAY_TEST_TURN_DELAY_MS")) != NULL)
		r.turn_delay_ms = strtol(fault, NULL, 10);
	/*
	 * The passphrase leaves the environment before anything else runs
	 * (review L1): copied into locked memory, its bytes in the
	 * environment block (what /proc/PID/environ shows) wiped, the
	 * variable removed so no child inherits it; the copy wiped after use.
	 */
	if (penv != NULL) {
		plen = strlen(penv);
		if ((pass = sodium_malloc(plen + 1)) == NULL) {
			rlog(RLOG_ERROR, "key", "err=FERRY_ENOMEM");
			return (1);
		}
		memcpy(pass, penv, plen + 1);
		sodium_memzero(penv, plen);
		(void)unsetenv("FERRY_RELAY_PASSPHRASE");
	}
	rc = ident_load(c->key, pass, &r.me);
	sodium_free(pass);	/* zeroes it */
	if (rc != 0) {
		rlog(RLOG_ERROR, "key", "path=%s err=%s", c->key,
		    ferry_errname(rc));
		return (1);
	}
	if (r.me->kind != IDENT_RELAY)
		rlog(RLOG_WARN, "key", "kind=%u expected=relay", r.me->kind);
	if (mkdir_0700(c->data) != 0) {
		rlog(RLOG_ERROR, "data", "path=%s err=\"%s\"", c->data,
		    strerror(errno));
		goto out;
	}
	/*
	 * One relay per data folder (review L2): a second one would share
	 * LMDB with stale in-memory sequence numbers.  The lock goes with
	 * the process (flock), so a crash leaves no stale lock.
	 */
	snprintf(path, sizeof(path), "%s/relay.lock", c->data);
	if ((r.lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		rlog(RLOG_ERROR, "data-lock", "path=%s err=\"%s\"", path,
		    strerror(errno));
		goto out;
	}
	if (flock(r.lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			rlog(RLOG_ERROR, "data-lock", "path=%s in_use=1: the "
			    "data folder %s is in use by another ferry-relay; "
			    "one relay per data folder", path, c->data);
			ret = 2;
		} else
			rlog(RLOG_ERROR, "data-lock", "path=%s err=\"%s\"",
			    path, strerror(errno));
		goto out;
	}
	/* One LMDB environment: the log, and the queue's tables in it. */
	snprintf(path, sizeof(path), "%s/log", c->data);
	if (mkdir_0700(path) != 0 && errno != ENOENT)
		rlog(RLOG_WARN, "data", "path=%s err=\"%s\"", path,
		    strerror(errno));
	snprintf(origin, sizeof(origin), "ferry/%s", r.me->id);
	lo.map_size = (size_t)c->map_size;
	if ((rc = log_open_ex(path, origin, r.me->sign_sk, &lo,
	    &r.log)) != 0) {
		rlog(RLOG_ERROR, "log-open", "path=%s err=%s", path,
		    ferry_errname(rc));
		goto out;
	}
	if ((rc = queue_open(r.log, &r.q)) != 0) {
		rlog(RLOG_ERROR, "queue-open", "path=%s err=%s", path,
		    ferry_errname(rc));
		goto out;
	}
	if (roster_start(&r) != 0)
		goto out;
	(void)refresh_checkpoint(&r);
	dc.r = &r;
	dc.total = 0;
	if ((rc = queue_foreach(r.q, depth_one, &dc)) != 0) {
		rlog(RLOG_ERROR, "queue-scan", "err=%s", ferry_errname(rc));
		goto out;
	}
	if ((r.fd_gen = calloc(FD_MAX, sizeof(r.fd_gen[0]))) == NULL ||
	    (r.fd_peer = calloc(FD_MAX, sizeof(r.fd_peer[0]))) == NULL ||
	    (r.fd_peer_gen = calloc(FD_MAX, sizeof(r.fd_peer_gen[0]))) ==
	    NULL ||
	    (r.zctx = zmq_ctx_new()) == NULL)
		goto out;
	/* PITFALLS 1: the ZAP handler is bound before the ROUTER binds. */
	if ((zt = zap_table_of(r.roster)) == NULL ||
	    zap_start(r.zctx, zt, &r.zap) != 0) {
		zap_table_free(zt);
		goto out;
	}
	if (socket_setup(&r) != 0)
		goto out;
	rlog(RLOG_INFO, "started", "endpoint=%s relay=%s roster=%llu "
	    "queued=%llu log=%llu", c->endpoint, r.me->id,
	    (unsigned long long)r.roster->version,
	    (unsigned long long)dc.total, (unsigned long long)log_size(r.log));
	r.m.log_size = log_size(r.log);
	r.t_metrics = 0;
	r.t_sweep = mono_ms();
	while (!*stop) {
		pi[0].socket = r.sock;
		pi[0].events = ZMQ_POLLIN;
		pi[0].revents = 0;
		pi[1].socket = r.mon;
		pi[1].events = ZMQ_POLLIN;
		pi[1].revents = 0;
		rc = zmq_poll(pi, 2, 100);
		if (rc < 0) {
			if (errno == EINTR)
				continue;	/* signal: flags checked above */
			rlog(RLOG_ERROR, "poll", "err=\"%s\"",
			    zmq_strerror(errno));
			break;
		}
		if (pi[1].revents & ZMQ_POLLIN)
			monitor_read(&r);
		if (r.turn_delay_ms > 0 && r.turn_delay_ms < 10000 &&
		    (pi[0].revents & ZMQ_POLLIN)) {
			struct timespec ts = { 0, r.turn_delay_ms * 1000000L };

			ts.tv_sec = ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			(void)nanosleep(&ts, NULL);
		}
		if (*hup) {
			*hup = 0;
			roster_reload(&r);
		}
		if (r.fatal || !zap_alive(r.zap)) {
			rlog(RLOG_ERROR, "stopping", "zap=%s",
			    r.fatal ? "swap-failed" : "thread-died");
			goto out;
		}
		now = mono_ms();
		disk_full_tick(&r, now);
		/* Drain what is readable, bounded; then one commit. */
		bytes = 0;
		for (n = 0; n < c->batch_max && bytes < c->batch_bytes; n++)
			if ((rc = recv_one(&r, &bytes)) <= 0)
				break;
		if (now - r.t_sweep >= c->sweep_ms) {
			struct sweep_ctx sc = { &r, ferry_now_ms(), 0 };

			r.t_sweep = now;
			(void)queue_foreach(r.q, sweep_one, &sc);
		}
		if ((rc = commit_batch(&r)) == FERRY_ENOSPC)
			rc = disk_full(&r, rc);
		else if (rc == 0 && r.m.disk_full && batch_accepts(&r)) {
			r.m.disk_full = 0;
			rlog(RLOG_INFO, "disk-ok", "accepting=1");
		}
		if (rc != 0) {
			rlog(RLOG_ERROR, "commit", "err=%s; stopping",
			    ferry_errname(rc));
			undo_batch(&r);
			goto out;
		}
		answer_batch(&r);
		pump_all(&r);
		if (now - r.t_metrics >= c->metrics_ms) {
			r.t_metrics = now;
			write_metrics(&r);
		}
	}
	rlog(RLOG_INFO, "stopping", "signal=TERM");
	write_metrics(&r);
	ret = 0;
out:
	relay_free(&r);
	if (ret == 0)
		rlog(RLOG_INFO, "stopped", "clean=1");
	return (ret);
}
