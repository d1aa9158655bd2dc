/*
 * agentd.c: the ferry-agent core (see agentd.h): open and close, the key
 * file reloaded, each frame from the relay handed to the incoming side
 * (agentd_in.c), the outgoing side (agentd_out.c: the relay's replies) or
 * the roster chain (agentd_roster.c), and the content of a message.  The
 * helpers these files share are in agentd_util.c (agentd_int.h).
 *
 * Durability order (docs/agent.md, "Crash safety").  The store's tables
 * live in the log's LMDB environment, so log entries and store records
 * commit together in one synced commit:
 *   send:    LOG_SENT + outbox record, envelope, sealed content key, spool
 *            index (one commit) -> message id returned.
 *   receive: LOG_RECEIVED + LOG_RECEIPT (the receipt names the first
 *            entry and a checkpoint covering it) + inbox record with the
 *            receipt + "unspooled" mark (one commit) -> spool inbox file
 *            (temp + fsync + rename) -> RECEIPT sent -> the mark cleared
 *            (by the agent's next commit, or its own within
 *            AGENTD_DEFER_MS: agentd_defer.c).  A crash before the
 *            commit leaves nothing (the relay redelivers); after it, the
 *            next start writes the spool files still marked unspooled and
 *            the relay's redelivery is answered with the stored receipt.
 *   replies: log entry (RECEIPT / NACK) + state update (one commit; the
 *            RECEIPTs read together in one).
 *   custody: ACCEPTED acted on in memory at once (pending table,
 *            counters); its log entry + outbox record first in the
 *            agent's next commit, whatever it is, or their own within
 *            AGENTD_DEFER_MS, or at close (agentd_defer.c).  It answers
 *            nothing: a crash before that commit leaves the message
 *            QUEUED, sent again at the next start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agentd_int.h"
#include "alog.h"
#include "backlog.h"
#include "envelope.h"
#include "pending.h"
#include "referral.h"

#define BODY_ABS_MAX (1024u * 1024 * 1024)	/* env_decode's largest max_body */

/* ---- open / close ------------------------------------------------------ */

static int
mkdir_p700(const char *base, const char *sub)
{
	char path[ACONF_PATH_MAX + 64];

	if ((size_t)snprintf(path, sizeof(path), "%s%s%s", base,
	    sub[0] ? "/" : "", sub) >= sizeof(path))
		return (FERRY_EINVAL);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return (FERRY_EIO);
	return (0);
}

/* The passphrase file's passphrase by ident.h's rule, the one ferry-keys
 * seals with (its first line; empty is an error); NULL when none is set. */
static int
read_passphrase(const char *path, char **out)
{

	*out = NULL;
	if (path[0] == '\0')
		return (0);
	return (ident_passphrase_read(path, out));
}

/* backlog.h's question: is message ${id} still waiting (pending)? */
static int
pend_live(void *ctx, const uint8_t id[FERRY_MSGID_LEN])
{

	return (pending_find(ctx, id) != NULL);
}

struct collect {
	struct agentd *a;
	uint8_t (*ids)[FERRY_MSGID_LEN];
	uint32_t *states;
	size_t n, cap;
	int err;
};

static int
collect_out(void *ctx, const struct astore_out *r)
{
	struct collect *c = ctx;
	void *p;

	agentd_count_move(c->a, r, 0, r->state);
	if (r->state != ASTORE_QUEUED && r->state != ASTORE_ACCEPTED)
		return (0);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		if ((p = realloc(c->ids, c->cap * FERRY_MSGID_LEN)) == NULL)
			return (FERRY_ENOMEM);
		c->ids = p;
		if ((p = realloc(c->states, c->cap * sizeof(uint32_t))) ==
		    NULL)
			return (FERRY_ENOMEM);
		c->states = p;
	}
	memcpy(c->ids[c->n], r->msg_id, FERRY_MSGID_LEN);
	c->states[c->n++] = r->state;
	return (0);
}

/* Message ${id}, ACCEPTED before a restart: its link, from the latest
 * ACCEPTED logged (the relay that signed it: a resent message has one per
 * relay that took it); left -1 (resent after resend_after) if that relay
 * is not listed any more. */
static void
custody_at_open(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN])
{
	const struct pending_msg *m;
	struct log_entry le;
	uint64_t idx;

	if ((m = pending_find(a->pend, id)) == NULL ||
	    log_find_msg_last(a->log, id, LOG_ACCEPTED, &idx) != 0 ||
	    log_get(a->log, idx, &le) != 0)
		return;
	pending_route(a->pend, m, agentd_link_find(a, le.from),
	    agentd_mono_ms());
	log_entry_clear(&le);
}

/* relay_endpoints= names only relays of the roster: else a config error. */
static int
check_relay_endpoints(struct agentd *a, char *err, size_t errlen)
{
	char id[FERRY_ID_MAX + 2], ep[300];
	const char *s = a->conf.relay_endpoints;

	while (s != NULL && *s != '\0') {
		if ((s = aconf_relay_endpoints_next(s, id, sizeof(id), ep,
		    sizeof(ep))) == NULL)
			break;
		if (id[0] != '\0' && roster_find_relay(a->roster, id) ==
		    NULL) {
			agentd_seterr(err, errlen, "relay_endpoints: relay "
			    "\"%s\" is not in roster version %llu (its relays: "
			    "ferry-keys roster show)", id,
			    (unsigned long long)a->roster->version);
			return (FERRY_EINVAL);
		}
	}
	return (0);
}

int
agentd_store_open(struct agentd *a, char *err, size_t errlen)
{
	struct log_opts lo = { astore_dbs, ASTORE_NDBS, 0 };
	char path[ACONF_PATH_MAX + 64];
	int rc;

	/* One LMDB environment: the log, and the store's tables in it. */
	if ((size_t)snprintf(path, sizeof(path), "%s/log", a->conf.data) >=
	    sizeof(path))
		return (FERRY_EINVAL);
	if ((rc = log_open_ex(path, a->origin, a->me->sign_sk, &lo,
	    &a->log)) != 0) {
		agentd_seterr(err, errlen, "log %s: %s", path,
		    ferry_strerror(rc));
		return (rc);
	}
	if ((rc = astore_open(a->log, &a->store)) != 0) {
		agentd_seterr(err, errlen, "store in %s: %s", path,
		    ferry_strerror(rc));
		log_close(a->log);
		a->log = NULL;
		return (rc);
	}
	/* Custody records and spool marks ride on the next commit (the
	 * log's hook; set again on every handle: agentd_compact). */
	agentd_defer_init(a);
	return (0);
}

void
agentd_store_close(struct agentd *a)
{

	astore_close(a->store);
	a->store = NULL;
	log_close(a->log);
	a->log = NULL;
	/* Closed after LMDB's own descriptor: closing it drops every lock
	 * this process holds on lock.mdb (agentd_compact). */
	if (a->lockfd > 0) {
		close(a->lockfd - 1);
		a->lockfd = 0;
	}
}

int
agentd_open(struct agentd *a, const struct aconf *conf, char *err,
    size_t errlen)
{
	struct collect c;
	struct roster *next;
	char *pass = NULL;
	uint64_t now;
	size_t i;
	int rc;

	memset(a, 0, sizeof(*a));
	a->conf = *conf;
	a->spool_init = agentd_spool_init;
	a->spool_inbox = agentd_spool_inbox;
	if ((a->pend = pending_new()) == NULL ||
	    (a->backlog = backlog_new(pend_live, a->pend)) == NULL)
		return (FERRY_ENOMEM);
	if ((rc = mkdir_p700(a->conf.data, "")) != 0 ||
	    (rc = mkdir_p700(a->conf.data, "roster")) != 0) {
		agentd_seterr(err, errlen, "cannot create data folder %s: %s",
		    a->conf.data, strerror(errno));
		return (rc);
	}
	if (chmod(a->conf.data, 0700) != 0) {
		agentd_seterr(err, errlen, "cannot chmod data folder %s: %s",
		    a->conf.data, strerror(errno));
		return (FERRY_EIO);
	}
	if ((rc = read_passphrase(a->conf.passphrase_file, &pass)) != 0) {
		if (rc == FERRY_EPERM)
			agentd_seterr(err, errlen, "passphrase_file %s is "
			    "readable by group or others: chmod 600 %s",
			    a->conf.passphrase_file, a->conf.passphrase_file);
		else if (rc == FERRY_EINVAL)
			agentd_seterr(err, errlen, "passphrase_file %s is "
			    "empty, or its first line is (the passphrase is "
			    "the first line, as ferry-keys reads it): write "
			    "the key file's passphrase on its first line, or "
			    "remove passphrase_file for an unsealed key file",
			    a->conf.passphrase_file);
		else if (rc == FERRY_ENOENT)
			agentd_seterr(err, errlen, "passphrase_file %s does not "
			    "exist: write the key file's passphrase on its "
			    "first line (mode 0600, owned by the agent's user), "
			    "or remove passphrase_file from the configuration "
			    "if the key file is not sealed",
			    a->conf.passphrase_file);
		else
			agentd_seterr(err, errlen, "passphrase_file %s: %s%s",
			    a->conf.passphrase_file, ferry_strerror(rc),
			    rc == FERRY_EACCES ? ": run as the user that owns "
			    "it" : "");
		return (rc);
	}
	rc = ident_load(a->conf.key, pass, &a->me);
	ident_passphrase_free(pass);
	if (rc != 0) {
		ident_load_why(rc, a->conf.key, err, errlen);
		if (rc == FERRY_ENOPASSPHRASE || rc == FERRY_EPASSPHRASE)
			agentd_seterr(err + strlen(err), errlen - strlen(err),
			    ": set passphrase_file in the configuration to a "
			    "file (mode 0600) holding %s passphrase",
			    rc == FERRY_EPASSPHRASE ? "the right" : "its");
		return (rc);
	}
	/* An admin's or a relay's key file is no agency's identity: it
	 * would start unlisted (WARN not-listed) and wait for a roster
	 * that can never list it. */
	if (a->me->kind == IDENT_ADMIN || a->me->kind == IDENT_RELAY) {
		agentd_seterr(err, errlen, "key file %s is %s key (kind %s), "
		    "not an agency's: set key in the configuration to the "
		    "key file ferry-keys init wrote for this agency",
		    a->conf.key, a->me->kind == IDENT_ADMIN ? "an admin" :
		    "a relay's", ident_kind_name(a->me->kind));
		return (FERRY_EBADKEYFILE);
	}
	if ((rc = agentd_roster_load(a, err, errlen)) != 0)
		return (rc);
	if ((rc = agentd_check_listed(a, err, errlen)) != 0)
		return (rc);
	if ((rc = check_relay_endpoints(a, err, errlen)) != 0)
		return (rc);
	a->cur_link = -1;
	a->started = agentd_mono_ms();
	agentd_links_sync(a);
	if (!a->listed)
		alog(ALOG_WARN, "not-listed", "agency %s is not in roster "
		    "version %llu: connecting to the relay for newer versions; "
		    "sending is refused until one lists it", a->me->id,
		    (unsigned long long)a->roster->version);
	if ((a->storage_key = sodium_malloc(32)) == NULL ||
	    (a->ckey = sodium_malloc(32)) == NULL)
		return (FERRY_ENOMEM);
	sodium_memzero(a->ckey, 32);
	if (crypto_kdf_derive_from_key(a->storage_key, 32, 1, "ferrystk",
	    a->me->sign_sk) != 0)
		return (FERRY_ESODIUM);
	snprintf(a->origin, sizeof(a->origin), "ferry/%s", a->me->id);
	if ((rc = agentd_store_open(a, err, errlen)) != 0)
		return (rc);
	/* An erasure whose freed pages a crash or a full disk left in the
	 * file: compacted now, before anything else reads the store. */
	if ((rc = agentd_compact_at_open(a, err, errlen)) != 0)
		return (rc);
	if ((rc = agentd_spool_recover(a)) != 0) {
		agentd_seterr(err, errlen, "recovering the spool inbox: %s",
		    ferry_strerror(rc));
		return (rc);
	}
	/* The configured roster file, when it is the next version. */
	if (a->conf_next != NULL) {
		next = a->conf_next;
		a->conf_next = NULL;
		rc = agentd_adopt_roster(a, next, a->conf.roster, 1);
		if (rc == FERRY_ENOSPC || rc == FERRY_EIO ||
		    rc == FERRY_ELMDB) {
			agentd_seterr(err, errlen, "adopting roster %s: %s",
			    a->conf.roster, ferry_strerror(rc));
			return (rc);
		}
	}

	/* Schedule every pending message (each is logged with its record),
	 * and count the messages by state (then kept as they change). */
	memset(&c, 0, sizeof(c));
	c.a = a;
	if ((rc = astore_count_in(a->store, &a->n_in)) != 0 ||
	    (rc = astore_foreach_out(a->store, collect_out, &c)) != 0)
		goto out;
	now = agentd_mono_ms();
	for (i = 0; i < c.n; i++) {
		if ((rc = pending_set(a->pend, c.ids[i], c.states[i],
		    now)) != 0)
			goto out;
		/* In a relay's custody: which one (its ACCEPTED logged). */
		if (c.states[i] == ASTORE_ACCEPTED)
			custody_at_open(a, c.ids[i]);
	}
	backlog_loaded(a->backlog);
	(void)agentd_expiry_check(a, ferry_now_ms());
out:
	free(c.ids);
	free(c.states);
	if (rc != 0)
		agentd_seterr(err, errlen, "recovering the outbox: %s",
		    ferry_strerror(rc));
	return (rc);
}

void
agentd_close(struct agentd *a)
{

	/* Custody records and spool marks not committed yet: now. */
	(void)agentd_defer_flush(a);
	agentd_defer_free(a);
	free(a->held);
	a->held = NULL;
	a->nheld = a->capheld = 0;
	free(a->spooled);
	a->spooled = NULL;
	a->nspooled = a->capspooled = 0;
	agentd_store_close(a);
	roster_free(a->roster);
	a->roster = NULL;
	roster_free(a->conf_next);
	a->conf_next = NULL;
	ident_free(a->me);
	a->me = NULL;
	if (a->storage_key != NULL)
		sodium_free(a->storage_key);
	a->storage_key = NULL;
	if (a->ckey != NULL)
		sodium_free(a->ckey);
	a->ckey = NULL;
	pending_free(a->pend);
	a->pend = NULL;
	backlog_free(a->backlog);
	a->backlog = NULL;
}

int
agentd_keys_reload(struct agentd *a)
{
	struct ident *n = NULL;
	char *pass = NULL, ids[128];
	uint64_t now = ferry_now_ms();
	size_t i, added = 0, off = 0;
	int rc;

	if ((rc = read_passphrase(a->conf.passphrase_file, &pass)) != 0) {
		alog(ALOG_ERROR, "keys-reload", "passphrase_file %s: %s; "
		    "keeping the keys held", a->conf.passphrase_file,
		    rc == FERRY_EINVAL ? "empty, or its first line is (the "
		    "passphrase is the first line)" : ferry_strerror(rc));
		return (rc);
	}
	rc = ident_load(a->conf.key, pass, &n);
	ident_passphrase_free(pass);
	if (rc != 0) {
		alog(ALOG_ERROR, "keys-reload", "key file %s: %s; keeping the "
		    "keys held", a->conf.key, ferry_strerror(rc));
		return (rc);
	}
	if (strcmp(n->id, a->me->id) != 0 ||
	    memcmp(n->sign_pk, a->me->sign_pk, 32) != 0 ||
	    memcmp(n->curve_pk, a->me->curve_pk, 32) != 0) {
		alog(ALOG_ERROR, "keys-reload", "key file %s holds another "
		    "identity (or other signing or transport keys): not "
		    "reloaded; restart to change identity", a->conf.key);
		ident_free(n);
		return (FERRY_EBADKEYFILE);
	}
	for (i = 0; i < n->nenc; i++)
		if (ident_enc_find(a->me, n->enc[i].key_id) == NULL)
			added++;
	/* Keep held keys the file no longer has, until their not_after. */
	for (i = 0; i < a->me->nenc; i++) {
		if (ident_enc_find(n, a->me->enc[i].key_id) != NULL ||
		    a->me->enc[i].not_after <= now || n->nenc >= IDENT_MAX_ENC)
			continue;
		n->enc[n->nenc++] = a->me->enc[i];
		a->me->enc[i].sk = NULL;	/* moved */
	}
	ident_free(a->me);
	a->me = n;
	ids[0] = '\0';
	for (i = 0; i < n->nenc && off < sizeof(ids) - 12; i++)
		off += (size_t)snprintf(ids + off, sizeof(ids) - off, "%s%u",
		    i ? "," : "", (unsigned)n->enc[i].key_id);
	alog(ALOG_INFO, "keys-reload", "key file %s: encryption keys %s "
	    "(%zu new)", a->conf.key, ids, added);
	/* Held messages sealed to a key we now hold: ask for them now. */
	if (a->nheld > 0)
		a->want_hello = 1;
	return (0);
}

/* ---- frames from the relay --------------------------------------------- */

/* A frame came from the relay of link a->cur_link. */
static void
note_rx(struct agentd *a)
{
	struct agentd_link *l;
	uint64_t now;

	if (a->cur_link < 0 || (size_t)a->cur_link >= a->nlinks)
		return;
	l = &a->links[a->cur_link];
	l->last_rx = ferry_now_ms();
	/* The first frame after our HEARTBEAT: the round trip. */
	if (l->ping != 0) {
		now = agentd_mono_ms();
		l->rtt_ms = now >= l->ping ? now - l->ping : 0;
		l->has_rtt = 1;
		l->ping = 0;
	}
	/* Any frame from the relay after our HELLO: it has the HELLO. */
	if (l->hello_state == AGENTD_HELLO_SENT) {
		l->hello_state = AGENTD_HELLO_DONE;
		l->hello_wait = AGENTD_HELLO_RETRY_MIN;
	}
}

/*
 * Frame ${buf} from the relay, decoded into ${e} with result ${drc}
 * (env_decode with our max_body): to its handler.  A frame that did not
 * decode is refused; one over our max_body only, a MSG, is decoded again
 * without that bound to be NACKed by id (agentd_refuse_toobig).
 */
static int
dispatch(struct agentd *a, const uint8_t *buf, size_t len, int drc,
    struct env *e)
{

	if (drc != 0) {
		if (drc == FERRY_ETOOBIG && a->conf.max_body < BODY_ABS_MAX &&
		    env_decode(buf, len, BODY_ABS_MAX, e) == 0 &&
		    e->type == ENV_MSG)
			return (agentd_refuse_toobig(a, buf, len, e));
		return (agentd_refuse(a, buf, len, NULL, drc,
		    ferry_strerror(drc)));
	}
	switch (e->type) {
	case ENV_MSG:
		return (agentd_handle_msg(a, buf, len, e));
	case ENV_ACCEPTED:
	case ENV_ACCEPTED_P:
		return (agentd_handle_accepted(a, buf, len, e));
	case ENV_RECEIPT:
	case ENV_RECEIPT_P:
		return (agentd_handle_receipt(a, buf, len, e));
	case ENV_NACK:
		if (sodium_is_zero(e->msg_id, FERRY_MSGID_LEN) &&
		    e->code == (uint32_t)-FERRY_EINCONSISTENT)
			return (agentd_log_behind(a, e));
		return (agentd_handle_nack(a, e));
	case ENV_ROSTER:
		return (agentd_handle_roster(a, e));
	case ENV_HEARTBEAT:
	case ENV_CREDIT:
	case ENV_CHECKPOINT:
		return (0);
	default:
		alog(ALOG_WARN, "unexpected", "type=%s from=%s; ignored",
		    env_type_name(e->type) ? env_type_name(e->type) : "?",
		    e->from);
		return (0);
	}
}

int
agentd_receive_many(struct agentd *a, const uint8_t *const *bufs,
    const size_t *lens, size_t n)
{
	struct agentd_grp *g;
	struct agentd_rx *rg;
	struct env e;
	size_t i;
	int rc, first = 0, dec, drc;

	if ((g = malloc(sizeof(*g))) != NULL)
		g->n = 0;
	if ((rg = malloc(sizeof(*rg))) != NULL)
		rg->n = 0;
	for (i = 0; i < n; i++) {
		/* Each frame decoded once, here: the handlers below and the
		 * MSG's opening (env_open_decoded) take this decoding. */
		drc = env_decode(bufs[i], lens[i], a->conf.max_body, &e);
		dec = drc == 0;
		/* A relay speaks for itself only: a frame signed as another
		 * relay than the one whose link it came by is dropped (each
		 * relay's frames are verified with its own key). */
		if (dec && a->cur_link >= 0 &&
		    (size_t)a->cur_link < a->nlinks &&
		    roster_find_relay(a->roster, e.from) != NULL &&
		    strcmp(e.from, a->links[a->cur_link].id) != 0) {
			alog(ALOG_WARN, "wrong-relay", "type=%s from=%s came by "
			    "the link to relay %s; ignored",
			    env_type_name(e.type) ? env_type_name(e.type) :
			    "?", e.from, a->links[a->cur_link].id);
			continue;
		}
		/* ACCEPTED and RECEIPT into the reply group, MSGs into the
		 * receive group (independent: other messages); anything
		 * else after committing both, in order. */
		if (g != NULL && dec &&
		    (e.type == ENV_ACCEPTED || e.type == ENV_RECEIPT ||
		    e.type == ENV_ACCEPTED_P || e.type == ENV_RECEIPT_P)) {
			if (g->n == AGENTD_GRP_MAX)
				agentd_grp_flush(a, g);
			note_rx(a);
			a->grp = g;
			rc = e.type == ENV_ACCEPTED || e.type == ENV_ACCEPTED_P ?
			    agentd_handle_accepted(a, bufs[i], lens[i], &e) :
			    agentd_handle_receipt(a, bufs[i], lens[i], &e);
			a->grp = NULL;
		} else if (rg != NULL && dec && e.type == ENV_MSG) {
			note_rx(a);
			rc = agentd_rx_add(a, rg, bufs[i], lens[i], &e);
		} else {
			if (g != NULL)
				agentd_grp_flush(a, g);
			if (rg != NULL)
				agentd_rx_flush(a, rg);
			note_rx(a);
			rc = dispatch(a, bufs[i], lens[i], drc, &e);
		}
		if (rc != 0) {
			alog(ALOG_ERROR, "receive", "local failure handling a "
			    "frame: %s (not acknowledged; the relay will "
			    "redeliver)", ferry_strerror(rc));
			if (first == 0)
				first = rc;
		}
	}
	if (rg != NULL)
		agentd_rx_flush(a, rg);
	if (g != NULL)
		agentd_grp_flush(a, g);
	free(rg);
	free(g);
	return (first);
}

int
agentd_receive(struct agentd *a, const uint8_t *buf, size_t len)
{
	struct env e;

	note_rx(a);
	return (dispatch(a, buf, len, env_decode(buf, len, a->conf.max_body,
	    &e), &e));
}

/* ---- content ----------------------------------------------------------- */

int
agentd_content(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN],
    char *dir, char **json)
{
	struct astore_out o;
	struct astore_in in;
	struct env e;
	uint8_t *env = NULL, *content = NULL;
	const uint8_t *sealed;
	size_t envlen, clen = 0;
	int rc;

	*json = NULL;
	if ((rc = astore_get_out(a->store, id, &o)) == 0) {
		*dir = 'o';
		sealed = o.sealed_key;
		rc = astore_get_out_env(a->store, id, &env, &envlen);
	} else if (rc == FERRY_ENOENT &&
	    (rc = astore_get_in(a->store, id, &in)) == 0) {
		*dir = 'i';
		astore_in_clear(&in);
		sealed = in.sealed_key;
		rc = astore_get_in_env(a->store, id, &env, &envlen);
	} else
		sealed = NULL;
	if (rc != 0)
		return (rc);
	if ((rc = agentd_key_unseal(a, sealed, a->ckey)) != 0 ||
	    (rc = env_decode(env, envlen, a->conf.max_body, &e)) != 0 ||
	    (rc = env_open_with_key(&e, a->ckey, &content, &clen)) != 0)
		goto done;
	rc = referral_wire_to_json(content, clen, json);
done:
	sodium_memzero(a->ckey, 32);
	agentd_free_plain(content, clen);
	free(env);
	return (rc);
}
