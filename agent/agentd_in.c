/*
 * agentd_in.c: the agent's incoming side (see agentd.h, and agentd.c for
 * the durability order): a MSG from the relay is checked, opened, logged
 * and stored with its RECEIPT in one commit, written to the spool inbox,
 * then receipted; refused (NACK) for a verdict about the message, held
 * for a local or temporary failure.  The spool inbox marks are cleared
 * after each batch of frames, and at start the files a crash cut off are
 * written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agentd_int.h"
#include "alog.h"
#include "envelope.h"
#include "referral.h"

/* ---- spool inbox files ------------------------------------------------- */

/*
 * ${f}: the spool inbox files of message ${id} from ${from}, received at
 * ${t} (ms) as log entry ${idx}: the document ${json} and its .meta line,
 * made in ${meta} (${cap} bytes).
 */
static void
inbox_file(struct agentd_inbox_file *f, const uint8_t id[FERRY_MSGID_LEN],
    const char *from, uint64_t t, uint64_t idx, const char *json, char *meta,
    size_t cap)
{
	char hx[33];

	agentd_idhex(hx, id);
	snprintf(meta, cap, "{\"msg_id\": \"%s\", \"from\": \"%s\", "
	    "\"received_ms\": %llu, \"log_index\": %llu}\n", hx, from,
	    (unsigned long long)t, (unsigned long long)idx);
	f->id = id;
	f->json = json;
	f->len = json != NULL ? strlen(json) : 0;
	f->meta = meta;
	f->metalen = strlen(meta);
	f->rc = 0;
}

/*
 * The spool inbox files (.meta, .json) of received message ${id}, made
 * again from the store: the envelope opened with the stored content key.
 * The same bytes as at receipt (docs/agent.md, "Spool folders").
 */
static int
spool_from_store(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN])
{
	struct agentd_inbox_file f;
	struct astore_in in;
	struct env e;
	uint8_t *env = NULL, *content = NULL;
	char *json = NULL, why[REFERRAL_ERR_MAX], meta[512];
	size_t envlen, clen = 0;
	int rc;

	if ((rc = astore_get_in(a->store, id, &in)) != 0)
		return (rc);
	astore_in_clear(&in);
	if ((rc = astore_get_in_env(a->store, id, &env, &envlen)) != 0)
		return (rc);
	if ((rc = agentd_key_unseal(a, in.sealed_key, a->ckey)) != 0 ||
	    (rc = env_decode(env, envlen, a->conf.max_body, &e)) != 0 ||
	    (rc = env_open_with_key(&e, a->ckey, &content, &clen)) != 0 ||
	    (rc = referral_wire_to_json_at(content, clen, in.t_received,
	    &json, why, sizeof(why), NULL)) != 0)
		goto done;
	inbox_file(&f, id, in.from, in.t_received, in.log_index, json, meta,
	    sizeof(meta));
	rc = a->spool_inbox(a, &f, 1);
done:
	sodium_memzero(a->ckey, 32);
	agentd_free_plain(content, clen);
	agentd_free_plain_str(json);
	free(env);
	return (rc);
}

/* Remember that ${id}'s spool file is written (mark cleared later). */
static void
spooled_add(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN])
{
	void *p;

	agentd_defer_spooled(a);
	if (a->nspooled == a->capspooled) {
		size_t cap = a->capspooled ? a->capspooled * 2 : 16;

		if ((p = realloc(a->spooled, cap * FERRY_MSGID_LEN)) == NULL)
			return;	/* the mark stays: rewritten at next start */
		a->spooled = p;
		a->capspooled = cap;
	}
	memcpy(a->spooled[a->nspooled++], id, FERRY_MSGID_LEN);
}

/* Is ${id} among the spool files written since the last commit? */
static int
spooled_has(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN])
{
	size_t i;

	for (i = 0; i < a->nspooled; i++)
		if (memcmp(a->spooled[i], id, FERRY_MSGID_LEN) == 0)
			return (1);
	return (0);
}

static int
collect_unspooled(void *ctx, const uint8_t *id)
{
	struct agentd *a = ctx;
	size_t n = a->nspooled;

	spooled_add(a, id);
	return (a->nspooled == n ? FERRY_ENOMEM : 0);
}

/** agentd_spool_recover(a): at start, the spool files a crash cut off. */
/*
 * At start: write the spool files of received messages a crash cut off
 * between their commit and their file, then clear every mark (one commit).
 */
int
agentd_spool_recover(struct agentd *a)
{
	char h[33];
	size_t i;
	int rc;

	if ((rc = astore_foreach_unspooled(a->store, collect_unspooled,
	    a)) != 0)
		return (rc);
	if (a->nspooled == 0)
		return (0);
	(void)a->spool_init(a);
	for (i = 0; i < a->nspooled;) {
		agentd_idhex(h, a->spooled[i]);
		if ((rc = spool_from_store(a, a->spooled[i])) != 0) {
			/* Keep the mark: retried on redelivery or next start. */
			alog(ALOG_ERROR, "spool-failed", "msg=%s: spool inbox "
			    "file not written: %s", h, ferry_strerror(rc));
			memmove(a->spooled[i], a->spooled[--a->nspooled],
			    FERRY_MSGID_LEN);
			continue;
		}
		if (a->conf.spool[0] != '\0')
			alog(ALOG_WARN, "recovered", "msg=%s: spool inbox file "
			    "written after a crash", h);
		i++;
	}
	/* Their marks, in one commit (the log's hook: agentd_defer.c).  The
	 * files are written: a commit that fails here (a full disk) only
	 * leaves the marks for the next one (agentd_defer_flush says so),
	 * and must not stop the start. */
	(void)agentd_defer_flush(a);
	return (0);
}

/* ---- incoming ---------------------------------------------------------- */

static int hold_local(struct agentd *, const struct env *, int,
    const char *);

/** agentd_refuse(a, buf, len, e, code, why): log LOG_REFUSED, then NACK
 * (a refusal the log cannot take is held instead, not NACKed). */
/*
 * Refuse an incoming frame: log LOG_REFUSED with its reason and answer the
 * relay with NACK.  ${e} may be NULL when the frame did not decode.
 */
int
agentd_refuse(struct agentd *a, const uint8_t *buf, size_t len,
    const struct env *e, int code, const char *why)
{
	struct log_entry le;
	struct env n;
	char h[33] = "-", qwhy[4 * REFERRAL_ERR_MAX + 16];
	int rc;

	memset(&le, 0, sizeof(le));
	le.kind = LOG_REFUSED;
	le.code = code;
	env_hash(buf, len, le.env_hash);
	le.roster_version = a->roster->version;
	agentd_copy_str(le.to, sizeof(le.to), a->me->id);
	if (e != NULL) {
		memcpy(le.msg_id, e->id, FERRY_MSGID_LEN);
		if (ferry_id_valid(e->from, strlen(e->from)))
			agentd_copy_str(le.from, sizeof(le.from), e->from);
		agentd_idhex(h, e->id);
	}
	a->n_refused++;
	alog(ALOG_WARN, "refused", "msg=%s from=%s code=%s reason=\"%s\"", h,
	    le.from[0] ? le.from : "-", ferry_errname(code),
	    alog_esc(qwhy, sizeof(qwhy), why, 1));
	if ((rc = agentd_fault_point("refuse-log")) == 0)
		rc = log_append(a->log, &le, NULL, 0, NULL);
	/* The relay matches a NACK to the queued message by id, hash and
	 * sender (NACK's "to"); a frame that did not decode names none. */
	if (e == NULL || !ferry_id_valid(e->from, strlen(e->from))) {
		if (rc != 0)
			alog(ALOG_ERROR, "log", "cannot log a refusal: %s",
			    ferry_strerror(rc));
		return (0);
	}
	/* A NACK only for a refusal our log holds: else the relay would
	 * drop the referral and tell its sender, with no trace here.  Held
	 * instead: refused again, and logged, when it comes back. */
	if (rc != 0)
		return (hold_local(a, e, rc, "logging its refusal"));
	memset(&n, 0, sizeof(n));
	n.type = ENV_NACK;
	memcpy(n.msg_id, e->id, FERRY_MSGID_LEN);
	agentd_copy_str(n.to, sizeof(n.to), e->from);
	memcpy(n.env_hash, le.env_hash, FERRY_HASH_LEN);
	n.code = (uint32_t)-code;
	/* The reason travels in clear through the relay: the code's fixed
	 * text only, never ${why}, which may name members of the decrypted
	 * content (the detail is in our log line above). */
	n.reason = ferry_strerror(code);
	n.reason_len = strlen(n.reason);
	(void)agentd_send_control(a, agentd_reply_link(a), &n);
	return (0);
}

/*
 * A MSG sealed to encryption key ${kid}, which we do not hold: is the
 * failure ours and temporary (hold it: 1) or the message's (refuse it,
 * FERRY_EWRONGKEY, permanent: 0)?  Held: a key the roster in force lists
 * for us (a rotation whose key file this process has not reloaded yet:
 * SIGHUP); and a key newer than every one we hold while our roster may
 * lag the relay's (the sender sealed to a key of a roster version we have
 * not received): a HELLO asks the relay for newer versions, and such
 * messages are held for AGENTD_LAG_GRACE after it, at most
 * AGENTD_LAG_HELD_MAX at a time.  Anything else is refused: an older key
 * not listed was destroyed, and an id no roster of ours ever listed is
 * not a key of ours.  Before issue 13 (hole 3) every id above our highest
 * was held, so an insider sealing MSGs to key 999 filled our whole
 * delivery window with messages never acknowledged nor refused, and
 * every other agency's referrals waited behind them until expiry.
 */
static int
key_not_loaded(struct agentd *a, uint32_t kid)
{
	const struct roster_agency *ag;
	uint32_t top = 0;
	uint64_t now = agentd_mono_ms();
	size_t i;

	if ((ag = roster_find(a->roster, a->me->id)) != NULL)
		for (i = 0; i < ag->nenc; i++)
			if (ag->enc[i].key_id == kid)
				return (1);
	for (i = 0; i < a->me->nenc; i++)
		if (a->me->enc[i].key_id > top)
			top = a->me->enc[i].key_id;
	if (kid <= top)
		return (0);
	if (a->lag_version != a->roster->version) {
		/* First at this version: ask for newer ones, once. */
		a->lag_version = a->roster->version;
		a->lag_since = now;
		a->want_hello = 1;
		/* And a HELLO again soon, for the relay to redeliver them
		 * once the newer roster is in force. */
		if (a->held_retry == 0)
			a->held_retry = now + AGENTD_LAG_GRACE;
	}
	if (now - a->lag_since >= AGENTD_LAG_GRACE ||
	    a->nheld_lag >= AGENTD_LAG_HELD_MAX)
		return (0);
	a->nheld_lag++;
	return (1);
}

/*
 * Add MSG ${e} to the held list: no RECEIPT, no NACK, nothing stored, so
 * the relay keeps it queued and redelivers it.  So that held messages do
 * not use up the delivery window, the window is widened by one CREDIT per
 * held message until the next HELLO resets the relay's count of messages
 * in flight.  Returns 1 if newly held, 0 if already held, or FERRY_ENOMEM.
 */
static int
held_add(struct agentd *a, const struct env *e)
{
	struct env c;
	size_t i;
	void *p;

	for (i = 0; i < a->nheld; i++)
		if (memcmp(a->held[i], e->id, FERRY_MSGID_LEN) == 0)
			return (0);
	if (a->nheld == a->capheld) {
		size_t cap = a->capheld ? a->capheld * 2 : 16;

		if ((p = realloc(a->held, cap * FERRY_MSGID_LEN)) == NULL)
			return (FERRY_ENOMEM);
		a->held = p;
		a->capheld = cap;
	}
	memcpy(a->held[a->nheld++], e->id, FERRY_MSGID_LEN);
	memset(&c, 0, sizeof(c));
	c.type = ENV_CREDIT;
	c.credit = a->conf.credit + a->nheld;
	(void)agentd_send_control(a, agentd_reply_link(a), &c);
	return (1);
}

/*
 * Hold MSG ${e} (signed by its sender, key ${spk}) sealed to a key of ours
 * we have not loaded (held_add); after a reload, our HELLO asks the relay
 * to redeliver it at once.
 */
static int
hold_msg(struct agentd *a, const uint8_t *buf, size_t len,
    const struct env *e, const uint8_t spk[32])
{
	char hx[33];
	int rc;

	if (env_verify(e, spk) != 0)
		return (agentd_refuse(a, buf, len, e, FERRY_EBADSIG,
		    ferry_strerror(FERRY_EBADSIG)));
	agentd_idhex(hx, e->id);
	if ((rc = held_add(a, e)) <= 0)
		return (rc);
	a->n_held++;
	alog(ALOG_ERROR, "key-not-loaded", "msg=%s from=%s is sealed to our "
	    "encryption key %u, which this agent has not loaded: not "
	    "acknowledged, the relay will redeliver it; reload keys: SIGHUP "
	    "(after ferry-keys roster rotate rewrote %s)", hx, e->from,
	    (unsigned)e->key_id, a->conf.key);
	return (0);
}

/*
 * Hold MSG ${e} after a local or temporary failure ${rc} (out of memory,
 * storage, a sender our roster does not list yet): a NACK would make the
 * relay delete a referral that may well be delivered later.  Held like a
 * message for a key not loaded (held_add), logged as ERROR, and retried:
 * a HELLO (which makes the relay redeliver every unacknowledged message)
 * is scheduled after a growing pause, 10 s doubling to 10 min.
 */
static int
hold_local(struct agentd *a, const struct env *e, int rc, const char *what)
{
	char hx[33];
	uint64_t now = agentd_mono_ms();

	agentd_idhex(hx, e->id);
	(void)held_add(a, e);
	a->n_held_local++;
	if (a->held_wait == 0)
		a->held_wait = AGENTD_HELD_RETRY_MIN;
	else if (a->held_wait < AGENTD_HELD_RETRY_MAX / 2)
		a->held_wait *= 2;
	else
		a->held_wait = AGENTD_HELD_RETRY_MAX;
	if (a->held_retry == 0 || a->held_retry > now + a->held_wait)
		a->held_retry = now + a->held_wait;
	alog(ALOG_ERROR, "held", "msg=%s from=%s: %s: %s; not acknowledged "
	    "(no RECEIPT, no NACK): the relay keeps it; retried in %llus",
	    hx, ferry_id_valid(e->from, strlen(e->from)) ? e->from : "-", what,
	    ferry_strerror(rc), (unsigned long long)(a->held_wait / 1000));
	return (0);
}

/*
 * Is ${rc}, from checking, opening or parsing an incoming MSG, a verdict
 * about the message itself, which can never succeed (answered with a
 * permanent NACK)?  Decoding and cryptographic failures, bad referral
 * documents, a revoked sender.  Anything else (out of memory, libsodium,
 * storage, I/O) is local and temporary: the message is held.
 */
static int
verdict_permanent(int rc)
{

	return ((rc <= -20 && rc >= -59) || (rc <= -120 && rc >= -139) ||
	    rc == FERRY_EINVAL || rc == FERRY_EREVOKED);
}

/*
 * Prepare MSG ${e0} for the group commit of ${rg}: checked, opened, its
 * referral read and its content key sealed for our copy, into a new item
 * of ${rg}.  1 when prepared; 0 when it was answered (duplicate receipt,
 * NACK) or held; a negative code for a local failure before it was
 * acknowledged (the caller holds it).  ${what} says at which step.
 */
/*
 * Does our log hold message id ${id} for another message than one in our
 * inbox: one we sent (LOG_SENT), or one received before whose inbox record
 * is gone (LOG_RECEIVED, erased)?  1, 0, or an error.  Ids are random, so
 * only a dishonest sender reuses one (through a relay that never saw it:
 * relays refuse ids they hold).  Taken, its entries would collide with
 * those: every message of its receive group held, again at each
 * redelivery; or stand in for them: our LOG_RECEIPT of its id in the place
 * of the partner's receipt for our own message of that id.
 */
static int
id_in_log(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN])
{
	static const uint32_t kinds[] = { LOG_SENT, LOG_RECEIVED };
	uint64_t idx;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if ((rc = log_find_msg(a->log, id, kinds[i], &idx)) !=
		    FERRY_ENOENT)
			return (rc == 0 ? 1 : rc);
	return (0);
}

/*
 * A response ${e} (document ${info}) to a message we sent its sender
 * must carry that message's case id.  0, FERRY_ESCHEMA (why in ${why}) or
 * a store error.  One answering no message of ours to it is not checked
 * here (nothing to compare with).
 */
static int
case_check(struct agentd *a, const struct env *e,
    const struct referral_info *info, char *why, size_t whylen)
{
	struct astore_out o;
	struct astore_in in;
	const char *cs;
	char hx[33];
	int rc;

	if (!info->has_in_reply_to)
		return (0);
	/* One of ours to its sender, or one of its own to us (closed). */
	memset(&in, 0, sizeof(in));
	if ((rc = astore_get_out(a->store, info->in_reply_to, &o)) == 0) {
		if (strcmp(o.to, e->from) != 0)
			return (0);
		cs = o.case_id;
	} else if (rc != FERRY_ENOENT)
		return (rc);
	else if ((rc = astore_get_in(a->store, info->in_reply_to,
	    &in)) == 0) {
		astore_in_clear(&in);
		if (strcmp(in.from, e->from) != 0)
			return (0);
		cs = in.case_id;
	} else
		return (rc == FERRY_ENOENT ? 0 : rc);
	if (strcmp(cs, info->case_id) == 0)
		return (0);
	agentd_idhex(hx, info->in_reply_to);
	agentd_seterr(why, whylen, "case_id: \"%s\" is not the case of the "
	    "message it answers (%s is in case \"%s\"): a response carries "
	    "its thread's case id", info->case_id, hx, cs);
	return (FERRY_ESCHEMA);
}

static int
rx_prepare(struct agentd *a, struct agentd_rx *rg, const uint8_t *buf,
    size_t len, const struct env *e0, const char **what)
{
	struct referral_info info;
	struct agentd_rx_item *it = &rg->it[rg->n];
	struct astore_in in;
	uint8_t h[32], spk[32], *content = NULL;
	char why[REFERRAL_ERR_MAX], hx[33];
	size_t clen = 0;
	uint64_t now = ferry_now_ms();
	int rc;

	env_hash(buf, len, h);
	agentd_idhex(hx, e0->id);
	if (strcmp(e0->to, a->me->id) != 0)
		return (agentd_refuse(a, buf, len, e0, FERRY_ENOTFORUS,
		    "not addressed to this agency"));

	/* De-duplicate by message id: same bytes get the same receipt. */
	rc = astore_get_in(a->store, e0->id, &in);
	if (rc == 0) {
		if (memcmp(in.env_hash, h, 32) == 0) {
			/* Stored, but its spool file may not be written yet
			 * (it failed, e.g. disk full): retry it first. */
			if ((rc = astore_is_unspooled(a->store, e0->id)) > 0 &&
			    !spooled_has(a, e0->id)) {
				if ((rc = spool_from_store(a, e0->id)) != 0) {
					astore_in_clear(&in);
					*what = "writing the spool inbox file";
					return (rc);
				}
				spooled_add(a, e0->id);
			} else if (rc < 0) {
				astore_in_clear(&in);
				return (rc);
			}
			a->n_duplicates++;
			alog(ALOG_INFO, "duplicate", "msg=%s from=%s: receipt "
			    "sent again", hx, in.from);
			if (in.receipt != NULL)
				(void)agentd_send_frame(a,
				    agentd_reply_link(a), in.receipt,
				    in.receipt_len);
			astore_in_clear(&in);
			return (0);
		}
		astore_in_clear(&in);
		return (agentd_refuse(a, buf, len, e0, FERRY_EDUPMSG,
		    "message id already received with other content"));
	}
	if (rc != FERRY_ENOENT) {
		*what = "reading the inbox";
		return (rc);
	}

	/* A referral comes from an agency: a relay's key verifies the
	 * relay's own answers, never a MSG (a relay that sealed and signed
	 * one would otherwise pass for an authenticated sender). */
	if (roster_find_relay(a->roster, e0->from) != NULL)
		return (agentd_refuse(a, buf, len, e0, FERRY_ESENDER,
		    "sender is a relay: only an agency may send a message"));
	if ((rc = roster_sender_key(a->roster, e0->from, spk)) ==
	    FERRY_EUNKNOWNAGENCY) {
		/* Our roster may lag the relay's (a push lost or refused):
		 * hold it, and ask for newer versions (once per version). */
		if (a->unknown_hello != a->roster->version) {
			a->unknown_hello = a->roster->version;
			a->want_hello = 1;
		}
		*what = "sender not in the roster this agent holds (version "
		    "behind the relay's?)";
		return (rc);
	}
	if (rc != 0)
		return (agentd_refuse(a, buf, len, e0, rc, rc == FERRY_EREVOKED ?
		    "sender is revoked" : "sender not in the roster"));
	if (ident_enc_find(a->me, e0->key_id) == NULL &&
	    key_not_loaded(a, e0->key_id))
		return (hold_msg(a, buf, len, e0, spk));
	/* Opened from the decoding the caller made (once per frame); the
	 * content key unwrapped once, into our guarded buffer, for our
	 * locally sealed copy (ferry show), wiped below. */
	memset(it, 0, sizeof(*it));
	it->e = *e0;
	if ((rc = env_open_decoded(&it->e, spk, a->me, a->ckey, &content,
	    &clen)) != 0) {
		if (!verdict_permanent(rc)) {
			*what = "opening";
			return (rc);
		}
		return (agentd_refuse(a, buf, len, e0, rc, ferry_strerror(rc)));
	}
	/* Authentic, and new to our inbox: is its id new to our log too? */
	if ((rc = id_in_log(a, e0->id)) != 0) {
		if (rc > 0)
			rc = agentd_refuse(a, buf, len, e0, FERRY_EDUPMSG,
			    "message id already in this agency's log (a "
			    "message it sent, or received and since erased)");
		else
			*what = "reading the log";
		goto fail;
	}
	/* Validated always; its JSON text made only for a spool inbox file
	 * (without a spool folder nothing reads it). */
	if ((rc = referral_wire_to_json_at(content, clen, now,
	    a->conf.spool[0] != '\0' ? &it->json : NULL, why, sizeof(why),
	    &info)) != 0) {
		if (!verdict_permanent(rc))
			*what = "reading the referral";
		else
			rc = agentd_refuse(a, buf, len, e0, rc, why);
		goto fail;
	}
	/* A response to one of ours carries that message's case id: one
	 * filed under another would escape the case's export and erasure
	 * here (the sender's agent refuses it too: agentd_out.c). */
	if ((rc = case_check(a, &it->e, &info, why, sizeof(why))) != 0) {
		if (!verdict_permanent(rc))
			*what = "reading the store";
		else
			rc = agentd_refuse(a, buf, len, e0, rc, why);
		goto fail;
	}
	*what = "storing";
	if ((rc = agentd_fault_point("recv-local")) != 0 ||
	    (rc = agentd_key_seal(a, a->ckey, it->in.sealed_key)) != 0)
		goto fail;
	sodium_memzero(a->ckey, 32);
	it->buf = buf;
	it->len = len;
	memcpy(it->h, h, 32);
	memcpy(it->in.msg_id, it->e.id, FERRY_MSGID_LEN);
	agentd_copy_str(it->in.from, sizeof(it->in.from), it->e.from);
	memcpy(it->in.env_hash, h, 32);
	it->in.t_received = now;
	it->in.has_reply_to = it->e.has_reply_to;
	memcpy(it->in.reply_to, it->e.reply_to, FERRY_MSGID_LEN);
	agentd_copy_str(it->in.case_id, sizeof(it->in.case_id), info.case_id);
	agentd_copy_str(it->in.kind, sizeof(it->in.kind), info.message_kind ?
	    info.message_kind : "");
	agentd_copy_str(it->in.response, sizeof(it->in.response),
	    info.response ? info.response : "");
	agentd_copy_str(it->in.referral_type, sizeof(it->in.referral_type),
	    info.referral_type ? info.referral_type : "");
	agentd_copy_str(it->in.urgency, sizeof(it->in.urgency), info.urgency ?
	    info.urgency : "");
	agentd_free_plain(content, clen);
	rg->n++;
	return (1);
fail:
	sodium_memzero(a->ckey, 32);
	agentd_free_plain(content, clen);
	agentd_free_plain_str(it->json);
	it->json = NULL;
	return (rc);
}

/*
 * The RECEIPT_P of item ${it} into it->in.receipt: its LOG_RECEIVED entry
 * (exact bytes) and audit path in the tree of sealed batch ${b}, whose
 * checkpoint is ${note}.  No signature (docs/protocol.md 3.3).
 */
static int
receipt_proof(struct agentd *a, struct log_batch *b,
    struct agentd_rx_item *it, const uint8_t *note, size_t nlen,
    uint64_t now)
{
	uint8_t path[LOG_PROOF_MAX][FERRY_HASH_LEN], *raw = NULL;
	size_t rawlen, np;
	struct env r;
	int rc;

	if ((rc = log_batch_prove(b, it->in.log_index, &raw, &rawlen, path,
	    &np)) != 0)
		return (rc);
	memset(&r, 0, sizeof(r));
	r.type = ENV_RECEIPT_P;
	r.version = ENV_VERSION;
	rpool_new_id(&a->pubrand, r.id, now);
	agentd_copy_str(r.from, sizeof(r.from), a->me->id);
	agentd_copy_str(r.to, sizeof(r.to), it->e.from);
	r.time = now;
	memcpy(r.msg_id, it->e.id, FERRY_MSGID_LEN);
	memcpy(r.env_hash, it->h, 32);
	r.log_index = it->in.log_index;
	r.roster_version = a->roster->version;
	r.blob = note;
	r.blob_len = nlen;
	r.entry = raw;
	r.entry_len = rawlen;
	r.path = &path[0][0];
	r.path_len = np * FERRY_HASH_LEN;
	rc = env_encode(&r, NULL, &it->in.receipt, &it->in.receipt_len);
	free(raw);
	return (rc);
}

/*
 * The group commit of the MSGs prepared in ${rg}, in one batch, one
 * synced commit: per message LOG_RECEIVED with its envelope, then per
 * message LOG_RECEIPT; the commit's one checkpoint, signed then
 * (log_batch_seal); per message its RECEIPT_P (its LOG_RECEIVED entry
 * and audit path under that checkpoint) in the inbox record with the
 * "unspooled" mark; the marks of earlier spool files written.  Then the spool inbox files, and only then the RECEIPTs.  A
 * local failure before the commit holds every message of the group (no
 * RECEIPT, no NACK: the relay redelivers them).
 */
static void
rx_flush(struct agentd *a, struct agentd_rx *rg)
{
	struct agentd_rx_item *it;
	struct log_batch *b = NULL;
	struct log_entry le;
	uint8_t *note = NULL;
	char hx[33];
	const char *what = "storing";
	size_t nlen = 0, i;
	uint64_t now = ferry_now_ms();
	int rc;

	if (rg->n == 0)
		return;
	agentd_crash_point("recv-before-commit");
	if ((rc = log_begin(a->log, &b)) != 0)
		goto fail;
	for (i = 0; i < rg->n; i++) {
		it = &rg->it[i];
		/* One time for the log entry, the inbox record and the
		 * .meta file (rewritten from the record after a crash). */
		it->in.t_received = now;
		memset(&le, 0, sizeof(le));
		le.kind = LOG_RECEIVED;
		le.time_ms = now;
		memcpy(le.msg_id, it->e.id, FERRY_MSGID_LEN);
		memcpy(le.env_hash, it->h, 32);
		agentd_copy_str(le.from, sizeof(le.from), it->e.from);
		agentd_copy_str(le.to, sizeof(le.to), a->me->id);
		le.roster_version = a->roster->version;
		if ((rc = log_add_hashed(b, &le, it->buf, it->len,
		    &it->in.log_index)) != 0)
			goto abort;
	}
	/* Then each message's LOG_RECEIPT (the receipt itself is not in it:
	 * the tree it proves itself by must hold the entry), then the
	 * commit's one checkpoint, signed now: every receipt is proven
	 * under it, and nothing else of the group is signed. */
	for (i = 0; i < rg->n; i++) {
		it = &rg->it[i];
		memset(&le, 0, sizeof(le));
		le.kind = LOG_RECEIPT;
		le.time_ms = now;
		memcpy(le.msg_id, it->e.id, FERRY_MSGID_LEN);
		memcpy(le.env_hash, it->h, 32);
		agentd_copy_str(le.from, sizeof(le.from), a->me->id);
		agentd_copy_str(le.to, sizeof(le.to), it->e.from);
		le.ref_index = it->in.log_index;
		le.roster_version = a->roster->version;
		if ((rc = log_add(b, &le, NULL, 0, NULL)) != 0)
			goto abort;
	}
	if ((rc = log_batch_seal(b, &note, &nlen)) != 0)
		goto abort;
	for (i = 0; i < rg->n; i++) {
		it = &rg->it[i];
		if ((rc = receipt_proof(a, b, it, note, nlen, now)) != 0 ||
		    (rc = astore_put_in(a->store, b, &it->in, NULL, 0,
		    a->conf.spool[0] != '\0')) != 0)
			goto abort;
	}
	/* (The marks of earlier spool files written, and custody records
	 * waiting, came first in the batch: agentd_defer.c.) */
	rc = log_commit(b);
	b = NULL;
	if (rc != 0)
		goto fail;
	a->n_in += rg->n;
	agentd_crash_point("recv-committed");
	(void)FERRY_FAULT("agent-commit-recv");

	/* The spool inbox files of the group, atomically, durable together
	 * (one syncfs, one fsync of inbox/); then the marks can go (with
	 * the agent's next commit, or their own when it does not come:
	 * agentd_defer.c). */
	for (i = 0; i < rg->n; i++)
		inbox_file(&rg->f[i], rg->it[i].e.id, rg->it[i].e.from, now,
		    rg->it[i].in.log_index, rg->it[i].json, rg->meta[i],
		    sizeof(rg->meta[i]));
	(void)a->spool_inbox(a, rg->f, rg->n);
	agentd_crash_point("recv-spooled");
	for (i = 0; i < rg->n; i++) {
		it = &rg->it[i];
		agentd_idhex(hx, it->e.id);
		if ((rc = rg->f[i].rc) != 0) {
			/* No RECEIPT: the redelivery retries the file. */
			alog(ALOG_ERROR, "held", "msg=%s from=%s: writing the "
			    "spool inbox file: %s; stored, not receipted: the "
			    "relay's redelivery retries the file", hx,
			    it->e.from, ferry_strerror(rc));
			continue;
		}
		if (a->conf.spool[0] != '\0')
			spooled_add(a, it->e.id);

		/* Only now the receipt leaves. */
		a->n_received++;
		a->held_wait = 0;
		alog(ALOG_INFO, "received", "msg=%s from=%s log=%llu kind=%s",
		    hx, it->e.from, (unsigned long long)it->in.log_index,
		    it->in.kind);
		(void)agentd_send_frame(a, agentd_reply_link(a),
		    it->in.receipt,
		    it->in.receipt_len);
	}
	goto done;
abort:
	log_abort(b);
fail:
	for (i = 0; i < rg->n; i++)
		(void)hold_local(a, &rg->it[i].e, rc, what);
done:
	for (i = 0; i < rg->n; i++) {
		it = &rg->it[i];
		agentd_free_plain_str(it->json);
		free(it->in.receipt);
		sodium_memzero(&it->in, sizeof(it->in));
	}
	free(note);
	rg->n = 0;
}

/** agentd_rx_flush(a, rg): the group commit of the MSGs of ${rg}. */
void
agentd_rx_flush(struct agentd *a, struct agentd_rx *rg)
{

	rx_flush(a, rg);
}

/** agentd_rx_has(rg, id): is a MSG ${id} prepared in ${rg}? */
int
agentd_rx_has(const struct agentd_rx *rg, const uint8_t id[FERRY_MSGID_LEN])
{
	size_t i;

	for (i = 0; i < rg->n; i++)
		if (memcmp(rg->it[i].e.id, id, FERRY_MSGID_LEN) == 0)
			return (1);
	return (0);
}

/** agentd_rx_add(a, rg, buf, len, e0): a MSG into the group ${rg}. */
/*
 * MSG ${e0} into the receive group ${rg} (flushed first when full, or
 * when it already holds the same id: the second copy then meets the
 * first in the store).  A local or temporary failure is held, never
 * NACKed (docs/agent.md, "Refused messages").  ${buf} must stay valid
 * until ${rg} is flushed.
 */
int
agentd_rx_add(struct agentd *a, struct agentd_rx *rg, const uint8_t *buf,
    size_t len, const struct env *e0)
{
	const char *what = "receiving";
	int rc;

	if (rg->n == AGENTD_RX_MAX || agentd_rx_has(rg, e0->id))
		rx_flush(a, rg);
	if ((rc = rx_prepare(a, rg, buf, len, e0, &what)) < 0)
		return (hold_local(a, e0, rc, what));
	return (0);
}

/** agentd_handle_msg(a, buf, len, e0): a MSG from the relay. */
/*
 * MSG ${e0} alone: a group of one (agentd_rx_add, then its commit).
 */
int
agentd_handle_msg(struct agentd *a, const uint8_t *buf, size_t len,
    const struct env *e0)
{
	struct agentd_rx *rg;
	int rc;

	if ((rg = malloc(sizeof(*rg))) == NULL)
		return (hold_local(a, e0, FERRY_ENOMEM, "allocating"));
	rg->n = 0;
	rc = agentd_rx_add(a, rg, buf, len, e0);
	rx_flush(a, rg);
	free(rg);
	return (rc);
}

/** agentd_refuse_toobig(a, buf, len, e): NACK a MSG over max_body. */
/*
 * A MSG ${e} (decoded without our max_body) over our max_body: it can
 * never be received here, so it is refused with a permanent NACK
 * FERRY_ETOOBIG by id (the relay removes it and tells the sender) instead
 * of being redelivered until it expires.  Checked like any MSG first:
 * for us, from an agency we know, signed by it.
 */
int
agentd_refuse_toobig(struct agentd *a, const uint8_t *buf, size_t len,
    const struct env *e)
{
	uint8_t spk[32];
	char why[128];
	int rc;

	if (strcmp(e->to, a->me->id) != 0)
		return (agentd_refuse(a, buf, len, e, FERRY_ENOTFORUS,
		    "not addressed to this agency"));
	if ((rc = roster_sender_key(a->roster, e->from, spk)) ==
	    FERRY_EUNKNOWNAGENCY)
		return (hold_local(a, e, rc, "sender not in the roster this "
		    "agent holds"));
	if (rc != 0)
		return (agentd_refuse(a, buf, len, e, rc, ferry_strerror(rc)));
	if (env_verify(e, spk) != 0)
		return (agentd_refuse(a, buf, len, e, FERRY_EBADSIG,
		    ferry_strerror(FERRY_EBADSIG)));
	snprintf(why, sizeof(why), "larger than this agency's max_body "
	    "(%zu bytes)", (size_t)a->conf.max_body);
	return (agentd_refuse(a, buf, len, e, FERRY_ETOOBIG, why));
}
