/*
 * rroster.c: the relay's roster in force: loaded at start (the stored
 * version, or the pinned genesis file, then a newer file), the file's
 * next version adopted on SIGHUP (stored and logged in one commit, the
 * ZAP table swapped, pushed to connected agencies, revoked ones cut off),
 * and its expiry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "ident.h"
#include "log.h"
#include "roster.h"
#include "relay_int.h"

/**
 * rroster_zap_table(ro): the admission table of roster ${ro}'s active
 * agencies (zap_table_free), or NULL on allocation failure.
 */
struct zap_table *
rroster_zap_table(const struct roster *ro)
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

/**
 * rroster_expired(r): 1 if the roster in force is past its expiry.  Says so
 * once per roster version at ERROR, naming what the operator must do.
 */
int
rroster_expired(struct relay *r)
{
	uint64_t now = ferry_now_ms();
	char when[40];

	if (r->roster->expires == 0 || now < r->roster->expires)
		return (0);
	if (r->expired_said != r->roster->version) {
		r->expired_said = r->roster->version;
		ferry_utc_s(when, sizeof(when), r->roster->expires);
		rlog(RLOG_ERROR, "roster-expired", "version=%llu "
		    "expired=%s: new messages are refused "
		    "(FERRY_EEXPIRED) until the admins sign a newer roster "
		    "version (install it and send SIGHUP); accepted messages "
		    "are still delivered",
		    (unsigned long long)r->roster->version, when);
	}
	return (1);
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
	rutil_le_set(&le, LOG_ROSTER, NULL, h, NULL, NULL, ro->version);
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

/*
 * The relay's own identity must be the roster's relay: 0, or (logged
 * roster-relay-mismatch, and the reason in ${why}) FERRY_EUNKNOWNAGENCY
 * when ${ro} does not list this relay's id, FERRY_EBADVALUE when it
 * lists it with other keys than the key file's.
 */
static int
check_me(const struct relay *r, const struct roster *ro, char *why,
    size_t whylen)
{

	const struct roster_relay *rl = roster_find_relay(ro, r->me->id);
	int rc;

	/* Several relays may be listed: this one is the entry of its id,
	 * with exactly its keys. */
	if (rl == NULL) {
		snprintf(why, whylen, "roster %llu does not list relay %s (it "
		    "lists %zu relays, the first %s)",
		    (unsigned long long)ro->version, r->me->id, ro->nrelays,
		    ro->relays[0].id);
		rc = FERRY_EUNKNOWNAGENCY;
	} else if (sodium_memcmp(rl->sign_pk, r->me->sign_pk, 32) != 0 ||
	    sodium_memcmp(rl->curve_pk, r->me->curve_pk, 32) != 0) {
		snprintf(why, whylen, "roster %llu lists relay %s with other "
		    "%s keys than this relay's key file (key in its "
		    "configuration)", (unsigned long long)ro->version,
		    r->me->id, sodium_memcmp(rl->sign_pk, r->me->sign_pk,
		    32) != 0 ? "signing" : "transport");
		rc = FERRY_EBADVALUE;
	} else
		return (0);
	rlog(RLOG_ERROR, "roster-relay-mismatch", "%s", why);
	return (rc);
}

/**
 * rroster_start(r): at start: the stored roster, or the file as pinned
 * genesis, then a newer file; sets r->roster.  0 or -1 (logged).
 */
int
rroster_start(struct relay *r)
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
		if (rc != 0 && file->version > 1) {
			rlog(RLOG_ERROR, "roster-genesis", "err=%s why=\"%s\" "
			    "hint=\"%s is roster version %llu, but this data "
			    "folder holds no roster yet (a new or rebuilt "
			    "relay): the pin is checked against the install "
			    "roster, version 1: set roster to that file for "
			    "the first start, then install each later version "
			    "in turn (replace the file, SIGHUP); an agency's "
			    "agent keeps every version in <data>/roster/\"",
			    ferry_errname(rc), why, r->c->roster,
			    (unsigned long long)file->version);
			roster_free(file);
			return (-1);
		}
		if (rc != 0) {
			rlog(RLOG_ERROR, "roster-genesis", "err=%s why=\"%s\"",
			    ferry_errname(rc), why);
			roster_free(file);
			return (-1);
		}
		if (check_me(r, file, why, sizeof(why)) ||
		    roster_adopt(r, file)) {
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
		if (rc == 0)
			rc = check_me(r, file, why, sizeof(why));
		if (rc == 0 && (rc = roster_adopt(r, file)) == 0) {
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
	return (check_me(r, cur, why, sizeof(why)) == 0 ? 0 : -1);
}

/**
 * rroster_reload(r): SIGHUP: the roster file's next version, verified,
 * adopted, pushed.
 */
void
rroster_reload(struct relay *r)
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
	    sizeof(why))) != 0 || (rc = check_me(r, ro, why,
	    sizeof(why))) != 0) {
		rlog(RLOG_ERROR, "roster-refused", "version=%llu err=%s "
		    "why=\"%s\"", (unsigned long long)ro->version,
		    ferry_errname(rc), why);
		roster_free(ro);
		return;
	}
	if ((zt = rroster_zap_table(ro)) == NULL ||
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
	(void)rutil_refresh_checkpoint(r);
	rlog(RLOG_INFO, "roster-adopted", "version=%llu agencies=%zu",
	    (unsigned long long)ro->version, ro->nagencies);
	if (roster_bytes(ro, &bytes, &n) != 0)
		return;
	for (b = 0; b < NBUCKETS; b++)
		for (p = r->tab[b]; p != NULL; p = p->next) {
			if (rutil_active(r, p->id)) {
				p->revoked = 0;
				if (p->routed)
					peer_push_roster(r, p, ro->version,
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

