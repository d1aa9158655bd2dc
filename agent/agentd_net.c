/*
 * agentd_net.c: ferry-agent's sockets and event loop (docs/protocol.md
 * section 6.1-6.2, docs/agent.md):
 *   - one DEALER per relay of the roster over CURVE, each relay's server
 *     key pinned from the verified roster (a->links, agentd_links_sync:
 *     a roster change reopens only the links it changed); ZMQ_IMMEDIATE
 *     so nothing is queued to a link that is not up; ZMTP heartbeats;
 *     bounded linger; the frames of each read with a->cur_link set, so
 *     that replies go back by the link they came by;
 *   - zmq_socket_monitor: HANDSHAKE_SUCCEEDED -> HELLO and retransmission;
 *     HANDSHAKE_FAILED_AUTH / _PROTOCOL / _NO_DETAIL -> one clear error
 *     line and a growing pause with the endpoint disconnected (libzmq
 *     would otherwise retry in silence); CONNECT_RETRIED with no TCP
 *     connection made (CONNECTED) since the last try -> the endpoint
 *     refused or is unreachable; each cause kept as the last error, with
 *     what to check, for `ferry status` and metrics.prom;
 *   - a REP socket on ipc://<data>/control (owner-only) for the CLI;
 *   - timers: retransmission, application heartbeat, spool scan.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "agentd.h"
#include "alog.h"
#include "envelope.h"
#include "pending.h"
#include "referral.h"

#define NET_BATCH 256		/* frames read per wakeup before polling again */
#define NET_HB_TIMEOUT 15000	/* ZMQ_HEARTBEAT_TIMEOUT / TTL, ms */
#define NET_HB_IVL 5000		/* ZMQ_HEARTBEAT_IVL, ms */
#define NET_REFUSED_MAX 600000	/* longest pause after a refused handshake */

/* The sockets of one relay link (the state shown is a->links[k]). */
struct nlink {
	void *dealer, *mon;
	char endpoint[ROSTER_ENDPOINT_MAX + 1];
	int attached;			/* zmq_connect done, not disconnected */
	int tcp_up;			/* CONNECTED since the last retry */
	uint64_t refused_until, refused_wait;
};

struct net {
	struct agentd *a;
	void *zctx, *ctl;
	struct nlink l[AGENTD_LINKS];
	char ctl_path[ACONF_PATH_MAX + 16];
	unsigned mon_gen;
	unsigned ctl_bad_said;		/* malformed-request causes logged */
};

static int
dealer_send(void *ctx, int link, const uint8_t *buf, size_t len)
{
	struct net *n = ctx;

	if (link < 0 || link >= AGENTD_LINKS || n->l[link].dealer == NULL)
		return (FERRY_ETIMEOUT);
	if (zmq_send(n->l[link].dealer, buf, len, ZMQ_DONTWAIT) != (int)len)
		return (FERRY_ETIMEOUT);
	return (0);
}

static int
setopt_int(void *s, int opt, int v)
{

	return (zmq_setsockopt(s, opt, &v, sizeof(v)));
}

/*
 * The last connection error is ${what}; ${check} says what to look at.
 * With ${say}, logged as WARN when it differs from the one before
 * (libzmq retries every reconnect interval: the same cause is said once,
 * not each time).
 */
static void
link_error(struct agentd_link *a, const char *what, const char *check,
    int say)
{

	if (say && strcmp(a->last_error, what) != 0)
		alog(ALOG_WARN, "link-error", "relay=%s: %s: check %s", a->id,
		    what, check);
	a->last_error_ms = ferry_now_ms();
	snprintf(a->last_error, sizeof(a->last_error), "%s", what);
	snprintf(a->last_check, sizeof(a->last_check), "%s", check);
}

static void
close_dealer(struct net *nn, int k)
{
	struct nlink *n = &nn->l[k];
	int was = nn->a->links[k].connected;

	if (n->mon != NULL) {
		zmq_close(n->mon);
		n->mon = NULL;
	}
	if (n->dealer != NULL) {
		(void)zmq_socket_monitor(n->dealer, NULL, 0);
		zmq_close(n->dealer);
		n->dealer = NULL;
	}
	n->attached = 0;
	n->tcp_up = 0;
	agentd_link_up(nn->a, k, 0);
	/* Messages routed through it or in its custody: looked at now
	 * (failover, resend), not at their next backoff time. */
	if (was && nn->a->pend != NULL)
		pending_all_due(nn->a->pend, agentd_mono_ms());
}

static int
open_dealer(struct net *nn, int k)
{
	struct agentd *a = nn->a;
	struct nlink *n = &nn->l[k];
	char mon[64];
	int64_t maxmsg;

	snprintf(n->endpoint, sizeof(n->endpoint), "%s",
	    a->links[k].endpoint);
	if (n->endpoint[0] == '\0') {
		alog(ALOG_ERROR, "config", "relay=%s: no endpoint: set "
		    "relay_endpoints= (or relay= for the first relay) in the "
		    "config (the roster names none)", a->links[k].id);
		return (-1);
	}
	if ((n->dealer = zmq_socket(nn->zctx, ZMQ_DEALER)) == NULL)
		goto err;
	/* Frames up to the relay's default limit get through even with a
	 * smaller max_body, so that they can be refused by id (NACK
	 * FERRY_ETOOBIG) instead of the link being cut and the message
	 * redelivered until it expires. */
	maxmsg = (int64_t)env_bucket((a->conf.max_body >
	    FERRY_BODY_MAX_DEFAULT ? a->conf.max_body :
	    FERRY_BODY_MAX_DEFAULT) + 1024) + ENV_BLOB_MAX + 65536;
	if (zmq_setsockopt(n->dealer, ZMQ_CURVE_SERVERKEY,
	    a->links[k].curve_pk, 32) != 0 ||
	    zmq_setsockopt(n->dealer, ZMQ_CURVE_PUBLICKEY, a->me->curve_pk,
	    32) != 0 ||
	    zmq_setsockopt(n->dealer, ZMQ_CURVE_SECRETKEY, a->me->curve_sk,
	    32) != 0 ||
	    setopt_int(n->dealer, ZMQ_LINGER, (int)a->conf.linger_ms) != 0 ||
	    setopt_int(n->dealer, ZMQ_IMMEDIATE, 1) != 0 ||
	    setopt_int(n->dealer, ZMQ_RECONNECT_IVL,
	    (int)a->conf.reconnect_ms) != 0 ||
	    setopt_int(n->dealer, ZMQ_RECONNECT_IVL_MAX,
	    (int)a->conf.reconnect_max_ms) != 0 ||
	    setopt_int(n->dealer, ZMQ_HEARTBEAT_IVL, NET_HB_IVL) != 0 ||
	    setopt_int(n->dealer, ZMQ_HEARTBEAT_TIMEOUT, NET_HB_TIMEOUT) != 0 ||
	    setopt_int(n->dealer, ZMQ_HEARTBEAT_TTL, NET_HB_TIMEOUT) != 0 ||
	    zmq_setsockopt(n->dealer, ZMQ_MAXMSGSIZE, &maxmsg,
	    sizeof(maxmsg)) != 0)
		goto err;
	snprintf(mon, sizeof(mon), "inproc://ferry-agent-monitor-%u",
	    nn->mon_gen++);
	if (zmq_socket_monitor(n->dealer, mon, ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
	    ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED |
	    ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
	    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
	    ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_DISCONNECTED) !=
	    0)
		goto err;
	if ((n->mon = zmq_socket(nn->zctx, ZMQ_PAIR)) == NULL ||
	    setopt_int(n->mon, ZMQ_LINGER, 0) != 0 ||
	    zmq_connect(n->mon, mon) != 0)
		goto err;
	if (zmq_connect(n->dealer, n->endpoint) != 0)
		goto err;
	n->attached = 1;
	alog(ALOG_INFO, "connecting", "relay=%s endpoint=%s roster=%llu",
	    a->links[k].id, n->endpoint,
	    (unsigned long long)a->roster->version);
	return (0);
err:
	alog(ALOG_ERROR, "zmq", "relay=%s socket: %s", a->links[k].id,
	    zmq_strerror(zmq_errno()));
	close_dealer(nn, k);
	return (-1);
}

static int
open_ctl(struct net *n)
{
	char ep[ACONF_PATH_MAX + 32];
	int64_t maxmsg = (int64_t)REFERRAL_JSON_MAX + 65536;
	mode_t old;
	int rc;

	if ((size_t)snprintf(n->ctl_path, sizeof(n->ctl_path), "%s/control",
	    n->a->conf.data) >= sizeof(n->ctl_path) ||
	    (size_t)snprintf(ep, sizeof(ep), "ipc://%s", n->ctl_path) >=
	    sizeof(ep))
		return (-1);
	/* ROUTER, not REP: every request waiting is read at once, so that
	 * sends are stored in one group commit (on_ctl). */
	if ((n->ctl = zmq_socket(n->zctx, ZMQ_ROUTER)) == NULL ||
	    setopt_int(n->ctl, ZMQ_LINGER, 100) != 0 ||
	    zmq_setsockopt(n->ctl, ZMQ_MAXMSGSIZE, &maxmsg,
	    sizeof(maxmsg)) != 0)
		goto err;
	/* Owner-only: the folder is 0700 and the socket file 0600. */
	old = umask(077);
	rc = zmq_bind(n->ctl, ep);
	umask(old);
	if (rc != 0)
		goto err;
	if (chmod(n->ctl_path, 0600) != 0) {
		alog(ALOG_ERROR, "control", "chmod %s: %s", n->ctl_path,
		    strerror(errno));
		return (-1);
	}
	return (0);
err:
	alog(ALOG_ERROR, "control", "%s: %s", ep, zmq_strerror(zmq_errno()));
	return (-1);
}

/* Read one monitor event (two frames). */
static void
on_monitor(struct net *nn, int k)
{
	struct agentd *ad = nn->a;
	struct agentd_link *a = &ad->links[k];
	struct nlink *n = &nn->l[k];
	zmq_msg_t m;
	uint8_t ev[6];
	uint16_t event;
	uint32_t value;
	int more, got = 0;
	size_t sz = sizeof(more);
	uint64_t now = agentd_mono_ms();
	char what[AGENTD_ERR_MAX], check[AGENTD_ERR_MAX];

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, n->mon, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&m);
		return;
	}
	if (zmq_msg_size(&m) == 6) {
		memcpy(ev, zmq_msg_data(&m), 6);
		got = 1;
	}
	more = zmq_msg_more(&m);
	zmq_msg_close(&m);
	while (more) {
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, n->mon, 0) < 0) {
			zmq_msg_close(&m);
			break;
		}
		more = zmq_msg_more(&m);
		zmq_msg_close(&m);
	}
	(void)sz;
	if (!got)
		return;
	memcpy(&event, ev, 2);
	memcpy(&value, ev + 2, 4);
	switch (event) {
	case ZMQ_EVENT_CONNECTED:
		n->tcp_up = 1;
		break;
	case ZMQ_EVENT_CONNECT_RETRIED:
		/* No TCP (or ipc) connection since the last try: nothing
		 * accepted it there. */
		if (!n->tcp_up) {
			snprintf(what, sizeof(what), "no connection to %s "
			    "(refused, or the address is unreachable)",
			    n->endpoint);
			snprintf(check, sizeof(check), "relay= in the agent's "
			    "configuration (or the roster's relay endpoint) "
			    "and that ferry-relay is running and listening "
			    "there");
			link_error(a, what, check, 1);
		}
		n->tcp_up = 0;
		break;
	case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
		agentd_link_up(ad, k, 1);
		a->refused = 0;
		a->connected_since = ferry_now_ms();
		a->reconnects++;
		n->refused_wait = 0;
		alog(ALOG_INFO, "connected", "relay=%s endpoint=%s: CURVE "
		    "handshake done, sending HELLO", a->id, n->endpoint);
		a->hello_wait = AGENTD_HELLO_RETRY_MIN;
		if (agentd_hello(ad, k) != 0)
			alog(ALOG_WARN, "hello", "HELLO not sent; retrying in "
			    "%llus", (unsigned long long)(a->hello_wait /
			    1000));
		break;
	case ZMQ_EVENT_DISCONNECTED:
		if (a->connected) {
			alog(ALOG_WARN, "disconnected", "relay=%s endpoint=%s: "
			    "link lost, reconnecting", a->id, n->endpoint);
			snprintf(what, sizeof(what), "link to %s lost (the "
			    "relay stopped or restarted, the network dropped, "
			    "or no heartbeat came for %d s)", n->endpoint,
			    NET_HB_TIMEOUT / 1000);
			snprintf(check, sizeof(check), "that ferry-relay is "
			    "running and reachable; the agent reconnects by "
			    "itself");
			link_error(a, what, check, 1);
		}
		/* tcp_up stays: the CONNECT_RETRIED that follows schedules
		 * the reconnection, it reports no failed attempt.  Its
		 * messages looked at now (failover, resend). */
		if (a->connected)
			pending_all_due(ad->pend, now);
		agentd_link_up(ad, k, 0);
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
	case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
	case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
		agentd_link_up(ad, k, 0);
		a->refused = 1;
		if (n->refused_wait == 0)
			n->refused_wait = ad->conf.refused_backoff_ms;
		else if (n->refused_wait < NET_REFUSED_MAX / 2)
			n->refused_wait *= 2;
		else
			n->refused_wait = NET_REFUSED_MAX;
		n->refused_until = now + n->refused_wait;
		if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
			snprintf(what, sizeof(what), "%s refused our "
			    "transport key (ZAP status %u): agency %s is not "
			    "active in the relay's roster", n->endpoint, value,
			    ad->me->id);
			snprintf(check, sizeof(check), "with the relay's "
			    "admins that agency %s is active in the roster "
			    "version the relay runs (this agent holds %llu)",
			    ad->me->id,
			    (unsigned long long)ad->roster->version);
		} else {
			snprintf(what, sizeof(what), "CURVE handshake with %s "
			    "failed (%s%s%s): the relay's key differs from "
			    "the roster's, our key was refused, or this is "
			    "not a ferry relay", n->endpoint,
			    event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ?
			    "protocol error" : "connection closed",
			    event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL &&
			    value != 0 ? ": " : "",
			    event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL &&
			    value != 0 ? strerror((int)value) : "");
			snprintf(check, sizeof(check), "that relay= in the "
			    "agent's configuration names the relay of roster "
			    "version %llu (its key is pinned from the roster), "
			    "and the relay's log for this agency",
			    (unsigned long long)ad->roster->version);
		}
		/* Said by the ERROR line below, with the pause. */
		link_error(a, what, check, 0);
		if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
			alog(ALOG_ERROR, "refused", "relay=%s refused our "
			    "transport key (ZAP status %u): is agency %s "
			    "active in the relay's roster? retrying in %llus",
			    n->endpoint, value, ad->me->id,
			    (unsigned long long)(n->refused_wait / 1000));
		else
			alog(ALOG_ERROR, "refused", "relay=%s: CURVE handshake "
			    "failed (%s, code 0x%x): the relay refused our "
			    "transport key or its key differs from the "
			    "roster's; retrying in %llus", n->endpoint,
			    event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ?
			    "protocol error" : "no detail", value,
			    (unsigned long long)(n->refused_wait / 1000));
		/* Stop libzmq's silent reconnects until the pause ends. */
		if (n->attached && zmq_disconnect(n->dealer, n->endpoint) == 0)
			n->attached = 0;
		break;
	default:
		break;
	}
}

static void
on_dealer(struct net *nn, int kl)
{
	struct nlink *n = &nn->l[kl];
	zmq_msg_t m[NET_BATCH], x;
	const uint8_t *bufs[NET_BATCH];
	size_t lens[NET_BATCH], k = 0, i;
	int more;

	while (k < NET_BATCH) {
		zmq_msg_init(&m[k]);
		if (zmq_msg_recv(&m[k], n->dealer, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m[k]);
			break;
		}
		more = zmq_msg_more(&m[k]);
		if (more) {
			/* One envelope per message: drain and drop the rest. */
			alog(ALOG_WARN, "frames", "multi-frame message from "
			    "relay %s dropped", nn->a->links[kl].id);
			zmq_msg_close(&m[k]);
			while (more) {
				zmq_msg_init(&x);
				if (zmq_msg_recv(&x, n->dealer, 0) < 0) {
					zmq_msg_close(&x);
					break;
				}
				more = zmq_msg_more(&x);
				zmq_msg_close(&x);
			}
			continue;
		}
		bufs[k] = zmq_msg_data(&m[k]);
		lens[k] = zmq_msg_size(&m[k]);
		k++;
	}
	/* In order; the relay's replies among them in one group commit. */
	/* Replies (RECEIPT, NACK, CREDIT) go back by this link. */
	nn->a->cur_link = kl;
	if (k > 0)
		(void)agentd_receive_many(nn->a, bufs, lens, k);
	nn->a->cur_link = -1;
	for (i = 0; i < k; i++)
		zmq_msg_close(&m[i]);
	/* The marks of spool files written, and custody records, go with
	 * the agent's next commit, or on their own AGENTD_DEFER_MS later
	 * (agentd_net_run): no commit of their own per wakeup. */
}

#define CTL_BATCH 64	/* control requests read per wakeup (group commit) */

/* One control request off the ROUTER: [peer id, "", request, document?]. */
struct ctl_in {
	zmq_msg_t peer, req, doc;
	int have_doc;
	int bad;			/* CTL_BAD_*: malformed, peer kept */
};

/* What was wrong with a malformed control request: its answer, its log
 * line (once per cause, struct net's ctl_bad_said). */
#define CTL_BAD_DELIM 1		/* the first frame is not empty */
#define CTL_BAD_SHORT 2		/* no request frame after the delimiter */
static const char *const ctl_bad_why[] = {
	"",
	"the first frame is not empty: send an empty delimiter frame, then "
	    "the request JSON (and a document frame for send), as a REQ "
	    "socket does",
	"no request frame: send an empty delimiter frame, then the request "
	    "JSON (and a document frame for send), as a REQ socket does",
};

/*
 * Read one request: 1 if one was read; 0 if none is waiting; -1 if it
 * was malformed: c->bad says why, with c->peer kept for the answer
 * (ctl_refuse), or 0 if it was cut short (all closed).
 */
static int
ctl_read(struct net *n, struct ctl_in *c)
{
	zmq_msg_t x;
	int more, nf = 0, ok = 1;

	zmq_msg_init(&c->peer);
	zmq_msg_init(&c->req);
	zmq_msg_init(&c->doc);
	c->have_doc = 0;
	c->bad = 0;
	if (zmq_msg_recv(&c->peer, n->ctl, ZMQ_DONTWAIT) < 0)
		goto fail;
	nf = 1;
	more = zmq_msg_more(&c->peer);
	/* The empty delimiter a REQ client puts before its request. */
	if (more) {
		zmq_msg_init(&x);
		if (zmq_msg_recv(&x, n->ctl, 0) < 0) {
			zmq_msg_close(&x);
			goto fail;
		}
		more = zmq_msg_more(&x);
		if (zmq_msg_size(&x) != 0)
			ok = 0;
		zmq_msg_close(&x);
		nf++;
	}
	if (more) {
		if (zmq_msg_recv(&c->req, n->ctl, 0) < 0)
			goto fail;
		more = zmq_msg_more(&c->req);
		nf++;
	}
	if (more) {
		if (zmq_msg_recv(&c->doc, n->ctl, 0) < 0)
			goto fail;
		c->have_doc = 1;
		more = zmq_msg_more(&c->doc);
	}
	while (more) {
		zmq_msg_init(&x);
		if (zmq_msg_recv(&x, n->ctl, 0) < 0) {
			zmq_msg_close(&x);
			break;
		}
		more = zmq_msg_more(&x);
		zmq_msg_close(&x);
	}
	if (ok && nf == 3)
		return (1);
	/* A peer identity was read: it is answered, saying what was wrong. */
	c->bad = !ok ? CTL_BAD_DELIM : CTL_BAD_SHORT;
	zmq_msg_close(&c->req);
	zmq_msg_close(&c->doc);
	return (-1);
fail:
	zmq_msg_close(&c->peer);
	zmq_msg_close(&c->req);
	zmq_msg_close(&c->doc);
	return (nf > 0 ? -1 : 0);
}

/* Answer malformed request ${c} FERRY_EINVAL, naming what was wrong (a
 * client would otherwise wait for its timeout); WARN once per cause. */
static void
ctl_refuse(struct net *n, struct ctl_in *c)
{
	char reply[512];
	int len;

	if (!(n->ctl_bad_said & (1u << c->bad))) {
		n->ctl_bad_said |= 1u << c->bad;
		alog(ALOG_WARN, "control-malformed", "a control client's "
		    "request is malformed (%s): answered FERRY_EINVAL; said "
		    "once per cause", c->bad == CTL_BAD_DELIM ?
		    "first frame not empty" : "no request frame");
	}
	len = snprintf(reply, sizeof(reply), "{\"ok\":false,\"code\":"
	    "\"FERRY_EINVAL\",\"error\":\"malformed control request: %s\"}",
	    ctl_bad_why[c->bad]);
	if (len < 0 || (size_t)len >= sizeof(reply) ||
	    zmq_send(n->ctl, zmq_msg_data(&c->peer), zmq_msg_size(&c->peer),
	    ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(n->ctl, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(n->ctl, reply, (size_t)len, ZMQ_DONTWAIT) < 0)
		alog(ALOG_WARN, "control", "reply not sent: %s",
		    zmq_strerror(zmq_errno()));
	zmq_msg_close(&c->peer);
}

/*
 * Control requests: read every one waiting (up to CTL_BATCH), answer
 * them together so that sends are stored in one group commit
 * (agentd_ctl_handle_many), then reply to each peer in order.
 */
static void
on_ctl(struct net *n)
{
	struct ctl_in c[CTL_BATCH];
	struct agentd_ctl_msg m[CTL_BATCH];
	size_t k = 0, i;
	int r;

	while (k < CTL_BATCH) {
		if ((r = ctl_read(n, &c[k])) == 0)
			break;
		if (r < 0) {
			if (c[k].bad != 0)
				ctl_refuse(n, &c[k]);
			continue;
		}
		k++;
	}
	if (k == 0)
		return;
	memset(m, 0, sizeof(m));
	for (i = 0; i < k; i++) {
		m[i].req = zmq_msg_data(&c[i].req);
		m[i].reqlen = zmq_msg_size(&c[i].req);
		m[i].doc = c[i].have_doc ? zmq_msg_data(&c[i].doc) : NULL;
		m[i].doclen = c[i].have_doc ? zmq_msg_size(&c[i].doc) : 0;
	}
	agentd_ctl_handle_many(n->a, m, k);
	for (i = 0; i < k; i++) {
		if (m[i].reply == NULL)
			alog(ALOG_WARN, "control", "no reply built");
		else if (zmq_send(n->ctl, zmq_msg_data(&c[i].peer),
		    zmq_msg_size(&c[i].peer), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
		    zmq_send(n->ctl, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
		    zmq_send(n->ctl, m[i].reply, m[i].replylen,
		    (m[i].body != NULL ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0 ||
		    (m[i].body != NULL && zmq_send(n->ctl, m[i].body,
		    m[i].bodylen, ZMQ_DONTWAIT) < 0))
			alog(ALOG_WARN, "control", "reply not sent: %s",
			    zmq_strerror(zmq_errno()));
		free(m[i].reply);
		free(m[i].body);
		zmq_msg_close(&c[i].peer);
		zmq_msg_close(&c[i].req);
		zmq_msg_close(&c[i].doc);
	}
}

/*
 * The sockets follow a->links (agentd_links_sync): a link whose relay was
 * added, rotated or moved is (re)opened, one removed from the roster is
 * closed; the others are left alone.  -1 on a fatal error.
 */
static int
links_apply(struct net *n)
{
	struct agentd *a = n->a;
	size_t k;

	for (k = 0; k < a->nlinks; k++) {
		if (!a->links[k].reopen)
			continue;
		a->links[k].reopen = 0;
		if (n->l[k].dealer != NULL)
			close_dealer(n, (int)k);
		if (a->links[k].listed && open_dealer(n, (int)k) != 0)
			return (-1);
	}
	return (0);
}

int
agentd_net_run(struct agentd *a, volatile sig_atomic_t *stop,
    volatile sig_atomic_t *hup)
{
	struct net n;
	zmq_pollitem_t items[2 * AGENTD_LINKS + 1];
	int who[2 * AGENTD_LINKS + 1];
	int due[AGENTD_LINKS];
	uint64_t now, next_spool = 0, next_metrics = 0, wait, t;
	int rc = -1, mrc, np, ni, i, more;
	size_t k;

	memset(&n, 0, sizeof(n));
	n.a = a;
	if ((n.zctx = zmq_ctx_new()) == NULL) {
		alog(ALOG_ERROR, "zmq", "context: %s",
		    zmq_strerror(zmq_errno()));
		return (-1);
	}
	a->send = dealer_send;
	a->send_ctx = &n;
	if (open_ctl(&n) != 0 || links_apply(&n) != 0)
		goto done;
	alog(ALOG_INFO, "started", "agency=%s control=ipc://%s spool=%s "
	    "relays=%zu", a->me->id, n.ctl_path,
	    a->conf.spool[0] ? a->conf.spool : "-", a->roster->nrelays);
	while (!*stop) {
		if (*hup) {
			*hup = 0;
			(void)agentd_keys_reload(a);
			(void)agentd_roster_reload(a);
		}
		now = agentd_mono_ms();	/* timers: never the wall clock */
		/* A roster adopted may have added, removed or rotated a
		 * relay: just those links. */
		if (links_apply(&n) != 0)
			goto done;
		for (k = 0; k < a->nlinks; k++) {
			struct nlink *l = &n.l[k];

			if (!l->attached && l->dealer != NULL &&
			    now >= l->refused_until &&
			    zmq_connect(l->dealer, l->endpoint) == 0) {
				l->attached = 1;
				l->tcp_up = 0;
				alog(ALOG_INFO, "connecting", "relay=%s "
				    "endpoint=%s (after a refused handshake)",
				    a->links[k].id, l->endpoint);
			}
		}
		/* HELLO again: a roster gap, held messages due, or our
		 * last HELLO unanswered (docs/agent.md, "Link behaviour");
		 * each link's asked first, as a HELLO clears the first two. */
		for (k = 0; k < a->nlinks; k++)
			due[k] = agentd_hello_due(a, (int)k, now);
		for (k = 0; k < a->nlinks; k++) {
			if (!due[k])
				continue;
			if (a->links[k].hello_state != AGENTD_HELLO_DONE)
				alog(ALOG_WARN, "hello", "relay=%s: no answer "
				    "to HELLO: sending it again",
				    a->links[k].id);
			else if (a->nheld > 0)
				alog(ALOG_INFO, "held-retry", "asking relay %s "
				    "to redeliver %zu held message(s)",
				    a->links[k].id, a->nheld);
			(void)agentd_hello(a, (int)k);
		}
		for (k = 0; k < a->nlinks; k++)
			if (a->links[k].connected &&
			    now - a->links[k].last_tx >= a->conf.heartbeat_ms)
				(void)agentd_heartbeat(a, (int)k);
		/* Our checkpoint to each relay (held there: a log later
		 * found behind it is caught). */
		for (k = 0; k < a->nlinks; k++)
			(void)agentd_checkpoint_due(a, (int)k, now);
		if (now >= next_spool) {
			more = agentd_spool_scan(a);
			now = agentd_mono_ms();
			next_spool = more ? now : now + a->conf.spool_ms;
		}
		if (agentd_retention_due(a, now))
			now = agentd_mono_ms();
		/* Erased by retention or a request (or a try that failed,
		 * 10 minutes on): freed pages out of the store's file. */
		if (a->compact_due && now >= a->compact_retry) {
			char cerr[AGENTD_ERR_MAX];

			if (agentd_compact(a, cerr, sizeof(cerr)) < 0)
				goto done;
			now = agentd_mono_ms();
		}
		/* Expiry warnings: a few comparisons, each line said once. */
		(void)agentd_expiry_check(a, ferry_now_ms());
		if (now >= next_metrics) {
			if ((mrc = agentd_metrics_write(a)) != 0)
				alog(ALOG_WARN, "metrics-write", "%s/metrics.prom "
				    "not written: %s", a->conf.data,
				    ferry_strerror(mrc));
			next_metrics = now + a->conf.metrics_ms;
		}
		wait = agentd_tick(a, now);
		for (k = 0; k < a->nlinks; k++) {
			if (a->links[k].connected) {
				t = a->links[k].last_tx + a->conf.heartbeat_ms;
				if (t > now && t - now < wait)
					wait = t - now;
			}
			if (!n.l[k].attached && n.l[k].dealer != NULL &&
			    n.l[k].refused_until > now &&
			    n.l[k].refused_until - now < wait)
				wait = n.l[k].refused_until - now;
		}
		if (next_spool <= now)
			wait = 0;	/* a full spool scan: the next at once */
		else if (next_spool - now < wait)
			wait = next_spool - now;
		if (next_metrics > now && next_metrics - now < wait)
			wait = next_metrics - now;
		/* Deferred writes (custody records, spool marks): woken
		 * when the oldest is due, not before (no busy loop). */
		wait = agentd_defer_wait(a, now, wait);
		if (wait > 1000)
			wait = 1000;
		ni = 0;
		for (k = 0; k < a->nlinks; k++) {
			if (n.l[k].dealer == NULL)
				continue;
			items[ni].socket = n.l[k].dealer;
			items[ni].events = ZMQ_POLLIN;
			items[ni].revents = 0;
			who[ni++] = (int)k;
			items[ni].socket = n.l[k].mon;
			items[ni].events = ZMQ_POLLIN;
			items[ni].revents = 0;
			who[ni++] = -1 - (int)k;
		}
		items[ni].socket = n.ctl;
		items[ni].events = ZMQ_POLLIN;
		items[ni].revents = 0;
		who[ni++] = AGENTD_LINKS;
		np = zmq_poll(items, ni, (long)wait);
		if (np < 0) {
			if (zmq_errno() == EINTR)
				continue;
			alog(ALOG_ERROR, "zmq", "poll: %s",
			    zmq_strerror(zmq_errno()));
			goto done;
		}
		/* Monitors first (a link's state before its frames). */
		for (i = 0; i < ni; i++)
			if (who[i] < 0 && (items[i].revents & ZMQ_POLLIN))
				on_monitor(&n, -1 - who[i]);
		for (i = 0; i < ni; i++)
			if (who[i] >= 0 && who[i] < AGENTD_LINKS &&
			    (items[i].revents & ZMQ_POLLIN))
				on_dealer(&n, who[i]);
		if (items[ni - 1].revents & ZMQ_POLLIN)
			on_ctl(&n);
		if (a->store_lost)
			goto done;	/* said by agentd_compact */
		/* No commit carried them for AGENTD_DEFER_MS: their own. */
		(void)agentd_defer_due(a, agentd_mono_ms());
	}
	rc = 0;
	alog(ALOG_INFO, "stopping", "agency=%s", a->me->id);
done:
	a->send = NULL;
	for (k = 0; k < AGENTD_LINKS; k++)
		if (n.l[k].dealer != NULL)
			close_dealer(&n, (int)k);
	/* The last state (not connected) for whoever reads the file next. */
	if (a->log != NULL)	/* NULL: a compaction lost the store */
		(void)agentd_metrics_write(a);
	if (n.ctl != NULL) {
		zmq_close(n.ctl);
		(void)unlink(n.ctl_path);
	}
	zmq_ctx_term(n.zctx);
	return (rc);
}
