/*
 * loop.c: the relay proper: the CURVE ROUTER socket and one event loop
 * (docs/protocol.md section 6).
 *
 * Each turn: wait for input (zmq_poll, EINTR retried); drain everything
 * readable, bounded by count and bytes; check each envelope; write the
 * whole batch, queue changes and log entries together, in ONE log batch
 * (the queue's tables live in the log's LMDB environment), committed with
 * ONE synced commit; only then send the ACCEPTEDs, NACKs and forwarded
 * receipts (batch.c); then forward queued messages to connected
 * recipients while they have credit.  Timers: metrics, expiry sweep,
 * redelivery.  Signals only set flags (main.c) that this loop reads.
 * Connection events (the socket monitor), setup and shutdown are here
 * too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "envelope.h"
#include "ident.h"
#include "log.h"
#include "roster.h"
#include "relay_int.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93	/* DRAFT in Debian's zmq.h */
#endif

#define ZAP_DOMAIN "ferry"
#define PEER_BYTES_MAX (64u << 20) /* MSG bytes in flight per peer (H2) */
#define PUMP_BACKOFF_MS 100	/* after a full pipe (EAGAIN) */
/* Descriptors the relay needs besides its connections: stdio, the lock,
 * LMDB's two files, libzmq's context, mailboxes, epoll and ZAP sockets,
 * the verify threads', metrics.prom being rewritten; with room to spare. */
#define FD_RESERVE 64

static void monitor_read(struct relay *);

/* Take one inbound message [rid, envelope, ...] off the socket. */
static int
recv_one(struct relay *r, size_t *bytes)
{
	zmq_msg_t rid, f;
	const char *uid;
	struct peer *p;
	int more, nframes = 1, fd, got = 0;
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
		rutil_count_refused(r, FERRY_EREVOKED);
		if (fd >= 0)
			(void)shutdown(fd, SHUT_RDWR);
		peer_offline(r, p, "revoked");
		if (rutil_mono_ms() - p->refused_log_ms >= 1000) {
			p->refused_log_ms = rutil_mono_ms();
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
		peer_fl_clear(p);
		p->hello_ms = 0;
		p->pump_after = 0;
		rlog(RLOG_INFO, "agent-route", "agency=%s", p->id);
	}
	p->fd = fd;
	p->fd_gen = (fd >= 0 && fd < FD_MAX) ? r->fd_gen[fd] : 0;
	batch_add(r, p, zmq_msg_data(&f), len, nframes);
out:
	zmq_msg_close(&f);
	zmq_msg_close(&rid);
	return (got);
}

/* batch_drain's source: one message off the socket. */
static int
take_one(struct relay *r, void *ctx, size_t *bytes)
{

	return (recv_one(r, bytes));
}

/*
 * Forward queued messages to ${p} while it has credit (${now}: monotonic
 * ms; ${wall}: wall clock ms, for expiry).
 */
static void
pump(struct relay *r, struct peer *p, uint64_t now, uint64_t wall)
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
				peer_fl_drop(p, i--);
			continue;
		}
		if (peer_send(r, p, qm.env, qm.env_len) != 0) {
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
		/*
		 * Past its expiry (the sweep has not come yet: the relay
		 * just started, e.g. restored from a backup that still
		 * holds it, or it expired since the last sweep): never
		 * forwarded, its sender may have been told it failed.  The
		 * next turn's sweep expires it as any (NACK to the sender);
		 * what is queued behind it waits that one turn.
		 */
		if (batch_expired(r, &qm, wall)) {
			r->expire_due = 1;
			queue_msg_clear(&qm);
			break;
		}
		if (peer_send(r, p, qm.env, qm.env_len) != 0) {
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
		if (peer_fl_add(p, seq, now, qm.env_len) != 0) {
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
	uint64_t now = rutil_mono_ms(), wall = ferry_now_ms();
	struct peer *p;
	size_t b;

	for (b = 0; b < NBUCKETS; b++)
		for (p = r->tab[b]; p != NULL; p = p->next)
			if (p->revoked)
				continue;
			else if (p->routed && p->depth > 0 &&
			    p->inflight < p->window)
				pump(r, p, now, wall);
			else if (p->routed && p->inflight > 0)
				pump(r, p, now, wall);
}

static void
write_metrics(struct relay *r)
{
	struct metrics_depth *d;
	struct peer *p;
	size_t b, n = 0, cap = 64;

	zap_counts(r->zap, &r->m.zap_allowed, &r->m.zap_denied);
	r->m.roster_version = r->roster->version;
	r->m.roster_expired = rroster_expired(r);
	r->m.log_size = log_size(r->log);
	r->m.verify_threads = workers_threads(r->workers);
	r->m.checked_helped = workers_helped(r->workers);
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
 * Connection ${fd} counts among the open ones (ACCEPTED).  Each fd below
 * FD_MAX is counted once however many ACCEPTED events name it: a later
 * one means the earlier connection on that fd is gone.
 */
static void
conn_count(struct relay *r, int fd)
{

	if (fd >= 0 && fd < FD_MAX) {
		if (r->fd_counted[fd])
			return;
		r->fd_counted[fd] = 1;
	}
	r->m.connections++;
}

/* Connection ${fd} no longer counts (shut at accept, or DISCONNECTED). */
static void
conn_uncount(struct relay *r, int fd)
{

	if (fd >= 0 && fd < FD_MAX) {
		if (!r->fd_counted[fd])
			return;
		r->fd_counted[fd] = 0;
	}
	if (r->m.connections > 0)
		r->m.connections--;
	addrs_closed(r->addrs, fd);
}

/*
 * Shut connection ${fd} at accept.  It stops counting at once, so that a
 * flood of refused connections waiting for their DISCONNECTED events
 * takes no place from anyone (an fd beyond FD_MAX, not tracked, counts
 * until its event).
 */
static void
conn_shut(struct relay *r, int fd)
{

	(void)shutdown(fd, SHUT_RDWR);
	if (fd >= 0 && fd < FD_MAX)
		conn_uncount(r, fd);
}

/*
 * A connection was accepted on ${fd}: beyond max_connections, or beyond
 * max_connections_per_address from its peer's IP address, it is shut at
 * once, before its CURVE handshake costs anything more (review M4; issue
 * 13: one keyless address holding many sockets locked agencies out).
 * One line a second at most for each limit; "open" counts this one.
 */
static void
conn_accepted(struct relay *r, int fd)
{
	char ip[64];
	size_t n;

	conn_count(r, fd);
	if (r->m.connections > r->c->max_connections) {
		r->m.conn_refused++;
		if (rutil_mono_ms() - r->conn_log_ms >= 1000) {
			r->conn_log_ms = rutil_mono_ms();
			rlog(RLOG_WARN, "connection-limit", "open=%llu "
			    "max=%llu refused_total=%llu",
			    (unsigned long long)r->m.connections,
			    (unsigned long long)r->c->max_connections,
			    (unsigned long long)r->m.conn_refused);
		}
		conn_shut(r, fd);
		return;
	}
	n = addrs_accepted(r->addrs, fd, ip, sizeof(ip));
	if (n <= r->c->max_connections_per_address)
		return;
	r->m.conn_refused_addr++;
	if (rutil_mono_ms() - r->addr_log_ms >= 1000) {
		r->addr_log_ms = rutil_mono_ms();
		rlog(RLOG_WARN, "connection-limit-address", "addr=%s open=%zu "
		    "max=%llu refused_total=%llu", ip, n,
		    (unsigned long long)r->c->max_connections_per_address,
		    (unsigned long long)r->m.conn_refused_addr);
	}
	conn_shut(r, fd);
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
				if (rutil_mono_ms() - r->hs_log_ms >= 1000) {
					r->hs_log_ms = rutil_mono_ms();
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
				conn_uncount(r, (int)val);
				if (val < FD_MAX)
					fd_closed(r, (int)val);
			}
		}
		zmq_msg_close(&b);
		zmq_msg_close(&a);
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

	if (peer_queued(dc->r, qm->from, qm->to, qm->env_len, 1) != 0)
		return (FERRY_ENOMEM);
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

/*
 * r->send: envelope ${b} to route ${rid}, two frames on the ROUTER
 * socket, never blocking (ROUTER_MANDATORY: EHOSTUNREACH if the route is
 * gone, EAGAIN if its pipe is full).
 */
static int
route_send(struct relay *r, const uint8_t *rid, size_t rid_len,
    const uint8_t *b, size_t n)
{

	if (zmq_send(r->sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return (-1);
	if (zmq_send(r->sock, b, n, ZMQ_DONTWAIT) < 0)
		return (-1);
	return (0);
}

static void
relay_free(struct relay *r)
{

	batch_free(r);
	workers_free(r->workers);
	r->workers = NULL;
	if (r->sock != NULL)
		zmq_close(r->sock);
	if (r->mon != NULL)
		zmq_close(r->mon);
	zap_stop(r->zap);
	if (r->zctx != NULL)
		zmq_ctx_term(r->zctx);
	peer_free_all(r);
	if (r->lock_fd >= 0)
		(void)close(r->lock_fd);
	free(r->checkpoint);
	free(r->fd_gen);
	free(r->fd_peer);
	free(r->fd_peer_gen);
	free(r->fd_counted);
	addrs_free(r->addrs);
	roster_free(r->roster);
	queue_close(r->q);
	log_close(r->log);
	ident_free(r->me);
}

/*
 * Room for max_connections: the soft RLIMIT_NOFILE raised to the hard
 * limit, then refused if max_connections plus FD_RESERVE does not fit.
 * Under a soft limit of 1024 (a shell's, a unit without LimitNOFILE) the
 * default max_connections was never reached: accept failed with EMFILE
 * first, and libzmq's listener retried it in a busy loop while every
 * file the relay opened failed.  0, or -1 (said).
 */
static int
fd_limit(struct config *c)
{
	struct rlimit rl;
	uint64_t need = c->max_connections + FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		rlog(RLOG_ERROR, "fd-limit", "err=\"%s\"", strerror(errno));
		return (-1);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 ||
		    getrlimit(RLIMIT_NOFILE, &rl) != 0) {
			rlog(RLOG_ERROR, "fd-limit", "raise=1 err=\"%s\"",
			    strerror(errno));
			return (-1);
		}
	}
	/* The default, not asked for: as many as the limit allows. */
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need &&
	    c->max_connections == CONFIG_MAX_CONNECTIONS_DEFAULT &&
	    rl.rlim_cur >= 2 * FD_RESERVE) {
		c->max_connections = rl.rlim_cur - FD_RESERVE;
		rlog(RLOG_WARN, "fd-limit", "limit=%llu max_connections=%llu: "
		    "the open-file limit (RLIMIT_NOFILE) leaves no room for "
		    "the default max_connections (%d) plus %d of the relay's "
		    "own: serving at most %llu connections; raise the limit "
		    "(systemd: LimitNOFILE=) or set max_connections",
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)c->max_connections,
		    CONFIG_MAX_CONNECTIONS_DEFAULT, FD_RESERVE,
		    (unsigned long long)c->max_connections);
		return (0);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rlog(RLOG_ERROR, "fd-limit", "limit=%llu max_connections=%llu "
		    "need=%llu: the open-file limit (RLIMIT_NOFILE, hard "
		    "limit %llu) leaves no room for max_connections plus %d "
		    "of the relay's own: raise it (systemd: LimitNOFILE=%llu "
		    "in the unit; a shell: ulimit -n) or lower "
		    "max_connections to %llu",
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)c->max_connections,
		    (unsigned long long)need, (unsigned long long)rl.rlim_max,
		    FD_RESERVE, (unsigned long long)need,
		    rl.rlim_cur > FD_RESERVE ?
		    (unsigned long long)(rl.rlim_cur - FD_RESERVE) : 0ULL);
		return (-1);
	}
	return (0);
}

/** loop_run(c, stop, hup, ctl): run the relay until *${stop}. */
int
loop_run(const struct config *c, volatile sig_atomic_t *stop,
    volatile sig_atomic_t *hup, volatile sig_atomic_t *ctl)
{
	struct relay r;
	struct config cc;
	struct log_opts lo = { queue_dbs, QUEUE_NDBS, 0 };
	struct zap_table *zt;
	struct depth_ctx dc;
	const char *fault = getenv("FERRY_RELAY_FAULT");
	char path[CONFIG_PATH_MAX + 16], origin[FERRY_ID_MAX + 8], why[512];
	char *penv = getenv("FERRY_RELAY_PASSPHRASE"), *pass = NULL;
	size_t plen;
	zmq_pollitem_t pi[2];
	uint64_t now;
	int rc, ret = 1;

	memset(&r, 0, sizeof(r));
	/* Our copy, the relay's from here: fd_limit may lower the default
	 * max_connections (r->c->max_connections is what accept checks). */
	cc = *c;
	r.c = &cc;
	r.send = route_send;
	r.lock_fd = -1;
	if (fault != NULL && strcmp(fault, "before-commit") == 0)
		r.fault = BATCH_FAULT_BEFORE_COMMIT;
	else if (fault != NULL && strcmp(fault, "after-commit") == 0)
		r.fault = BATCH_FAULT_AFTER_COMMIT;
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
		/* ident.h's rule, as ferry-keys seals with and ferry-agent
		 * reads: the first line, never empty. */
		plen = strlen(penv);
		rc = ident_passphrase_parse(penv, plen, &pass);
		sodium_memzero(penv, plen);
		(void)unsetenv("FERRY_RELAY_PASSPHRASE");
		if (rc == FERRY_EINVAL) {
			rlog(RLOG_ERROR, "key", "err=FERRY_EINVAL why=\"FERRY_"
			    "RELAY_PASSPHRASE is set but empty, or its first "
			    "line is (the passphrase is the first line): set it "
			    "to the key file's passphrase, or remove it for an "
			    "unsealed key file\"");
			return (2);	/* a configuration error */
		}
		if (rc != 0) {
			rlog(RLOG_ERROR, "key", "err=%s", ferry_errname(rc));
			return (1);
		}
	}
	/* After the passphrase left the environment (its exit 2 too). */
	if (fd_limit(&cc) != 0) {
		if (pass != NULL)
			sodium_free(pass);
		return (2);	/* a configuration error: no restart loop */
	}
	rc = ident_load(c->key, pass, &r.me);
	sodium_free(pass);	/* zeroes it */
	if (rc != 0) {
		ident_load_why(rc, c->key, why, sizeof(why));
		rlog(RLOG_ERROR, "key", "path=%s err=%s why=\"%s%s\"", c->key,
		    ferry_errname(rc), why, rc == FERRY_ENOPASSPHRASE ?
		    ": set FERRY_RELAY_PASSPHRASE in the relay's environment" :
		    rc == FERRY_EPASSPHRASE ? ": check FERRY_RELAY_PASSPHRASE" :
		    "");
		return (1);
	}
	if (r.me->kind != IDENT_RELAY)
		rlog(RLOG_WARN, "key", "kind=%u expected=relay", r.me->kind);
	if (mkdir_0700(c->data) != 0) {
		char dwhy[8192];
		int e = errno;

		ferry_data_why(c->data, c->data, "cannot create", e, dwhy,
		    sizeof(dwhy));
		rlog(RLOG_ERROR, "data", "path=%s err=\"%s\" hint=\"%s\"",
		    c->data, strerror(e), dwhy);
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
	/* Our pid in the lock file: `ferry-relay queue purge` signals it. */
	if (ftruncate(r.lock_fd, 0) != 0 ||
	    dprintf(r.lock_fd, "%ld\n", (long)getpid()) < 0)
		rlog(RLOG_WARN, "data-lock", "path=%s pid-not-written=1 "
		    "err=\"%s\"", path, strerror(errno));
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
	if (rroster_start(&r) != 0)
		goto out;
	(void)rutil_refresh_checkpoint(&r);
	dc.r = &r;
	dc.total = 0;
	if ((rc = queue_foreach(r.q, depth_one, &dc)) != 0) {
		rlog(RLOG_ERROR, "queue-scan", "err=%s", ferry_errname(rc));
		goto out;
	}
	if ((r.fd_gen = calloc(FD_MAX, sizeof(r.fd_gen[0]))) == NULL ||
	    (r.fd_peer = calloc(FD_MAX, sizeof(r.fd_peer[0]))) == NULL ||
	    (r.fd_peer_gen = calloc(FD_MAX, sizeof(r.fd_peer_gen[0]))) ==
	    NULL || (r.fd_counted = calloc(FD_MAX, 1)) == NULL ||
	    (r.addrs = addrs_new(FD_MAX)) == NULL ||
	    (r.zctx = zmq_ctx_new()) == NULL)
		goto out;
	/* PITFALLS 1: the ZAP handler is bound before the ROUTER binds. */
	if ((zt = rroster_zap_table(r.roster)) == NULL ||
	    zap_start(r.zctx, zt, &r.zap) != 0) {
		zap_table_free(zt);
		goto out;
	}
	if (socket_setup(&r) != 0)
		goto out;
	if (c->verify_threads > 1) {
		if (FERRY_FAULT("relay-threads"))
			errno = EAGAIN;
		else
			r.workers = workers_new(c->verify_threads);
	}
	if (c->verify_threads > 1 && r.workers == NULL)
		/* Not fatal: the loop's thread checks everything itself, as
		 * with verify_threads = 1 (the metric says how many run). */
		rlog(RLOG_WARN, "threads", "verify_threads=%llu err=\"%s\" "
		    "running=1 next=\"raise the service's task limit "
		    "(TasksMax, ulimit -u) or lower verify_threads\"",
		    (unsigned long long)c->verify_threads, strerror(errno));
	rlog(RLOG_INFO, "started", "endpoint=%s relay=%s roster=%llu "
	    "verify_threads=%zu queued=%llu log=%llu", c->endpoint, r.me->id,
	    (unsigned long long)r.roster->version, workers_threads(r.workers),
	    (unsigned long long)dc.total, (unsigned long long)log_size(r.log));
	r.m.log_size = log_size(r.log);
	r.t_metrics = 0;
	r.t_sweep = rutil_mono_ms();
	/*
	 * The first turn sweeps, before anything is forwarded: a queue
	 * restored from a backup (or left by a relay stopped for longer
	 * than the expiry) may hold messages past their expiry, whose
	 * senders must be told now (NACK FERRY_EEXPIREDMSG), not
	 * sweep_interval later, and which pump never forwards.
	 */
	r.sweep_more = 1;
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
			rroster_reload(&r);
		}
		if (r.fatal || !zap_alive(r.zap)) {
			rlog(RLOG_ERROR, "stopping", "zap=%s",
			    r.fatal ? "swap-failed" : "thread-died");
			goto out;
		}
		now = rutil_mono_ms();
		batch_disk_tick(&r, now);
		/* Drain what is readable, bounded, never waiting for more
		 * (batch_drain); then one commit. */
		(void)batch_drain(&r, take_one, NULL);
		/* A sweep that hit its bound, or a message pump found past
		 * its expiry, goes on next turn, unless the disk is full
		 * (each try would fail again). */
		if (now - r.t_sweep >= c->sweep_ms ||
		    ((r.sweep_more || r.expire_due) && !r.m.disk_full)) {
			r.t_sweep = now;
			r.expire_due = 0;
			r.sweep_more = batch_sweep(&r, ferry_now_ms());
		}
		ctl_turn(&r, ctl);
		if ((rc = batch_commit(&r)) == FERRY_ENOSPC)
			rc = batch_disk_full(&r, rc);
		else if (rc == 0 && r.m.disk_full && batch_accepts(&r)) {
			r.m.disk_full = 0;
			rlog(RLOG_INFO, "disk-ok", "accepting=1");
		}
		if (rc != 0) {
			rlog(RLOG_ERROR, "commit", "err=%s; stopping",
			    ferry_errname(rc));
			batch_undo(&r);
			goto out;
		}
		batch_answer(&r);
		ctl_done(&r);
		pump_all(&r);
		log_hold(r.log, 0);	/* the turn's snapshot (batch_drain) */
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

