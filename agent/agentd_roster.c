/*
 * agentd_roster.c: the agent's roster chain (see agentd.h): the roster in
 * force, verified at start from the pinned install roster through every
 * later version saved in <data>/roster/; newer versions adopted (pushed
 * by the relay, or found at SIGHUP); its expiry, and whether we may send.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agentd_int.h"
#include "alog.h"

/* ---- roster chain ----------------------------------------------------- */

/** agentd_roster_path(a, version, buf, cap): where ${version} is saved. */
int
agentd_roster_path(const struct agentd *a, uint64_t version, char *buf,
    size_t cap)
{

	if ((size_t)snprintf(buf, cap, "%s/roster/v%020llu.roster",
	    a->conf.data, (unsigned long long)version) >= cap)
		return (FERRY_EINVAL);
	return (0);
}

/** agentd_roster_read(path, out): roster file ${path} parsed (roster_free). */
int
agentd_roster_read(const char *path, struct roster **out)
{
	uint8_t *buf;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = ferry_read_file(path, ROSTER_MAX_BYTES, &buf, &len, 0)) != 0)
		return (rc);
	rc = roster_parse(buf, len, out);
	free(buf);
	return (rc);
}

/* The lowest version saved as <data>/roster/v<20 digits>.roster, 0 if none. */
static int
roster_lowest_saved(struct agentd *a, uint64_t *lowest)
{
	char dir[ACONF_PATH_MAX + 16];
	struct dirent *d;
	unsigned long long v;
	char *end;
	DIR *dp;

	*lowest = 0;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/roster", a->conf.data) >=
	    sizeof(dir))
		return (FERRY_EINVAL);
	if ((dp = opendir(dir)) == NULL)
		return (errno == ENOENT ? 0 : FERRY_EIO);
	while ((d = readdir(dp)) != NULL) {
		if (strlen(d->d_name) != 28 || d->d_name[0] != 'v' ||
		    strcmp(d->d_name + 21, ".roster") != 0 ||
		    d->d_name[1] < '0' || d->d_name[1] > '9')
			continue;
		errno = 0;
		v = strtoull(d->d_name + 1, &end, 10);
		if (errno != 0 || end != d->d_name + 21 || v == 0)
			continue;
		if (*lowest == 0 || v < *lowest)
			*lowest = v;
	}
	closedir(dp);
	return (0);
}

/* Save ${r} as <data>/roster/v<version>.roster (0600, atomically). */
static int
roster_save(struct agentd *a, const struct roster *r)
{
	const uint8_t *bytes;
	char path[ACONF_PATH_MAX + 64];
	size_t blen;
	int rc;

	if ((rc = roster_bytes(r, &bytes, &blen)) != 0 ||
	    (rc = agentd_roster_path(a, r->version, path, sizeof(path))) != 0)
		return (rc);
	return (ferry_write_file(path, bytes, blen, 0600));
}

/** agentd_roster_load(a, err, errlen): the roster chain at start. */
/*
 * The roster chain at start.  The pin names one roster, the anchor: the
 * configured roster file when it matches the pin (at first start, or
 * while the file is still the pinned one; it is then saved in
 * <data>/roster/ if it is not yet), else the lowest version saved in
 * <data>/roster/, which must match it.  From the anchor, every later
 * version saved in <data>/roster/ is verified against the one before.
 * A configured roster file that is not the anchor is never checked
 * against the pin: if it is the next version it is kept in
 * a->conf_next, to be verified and adopted once the log is open (as
 * SIGHUP does); an older or equal one is ignored; a later one that does
 * not chain is reported (WARN) and ignored.
 */
int
agentd_roster_load(struct agentd *a, char *err, size_t errlen)
{
	struct roster *conf = NULL, *r = NULL, *next;
	char path[ACONF_PATH_MAX + 64], why[256];
	struct stat st;
	uint64_t lowest;
	int rc;

	if ((rc = agentd_roster_read(a->conf.roster, &conf)) != 0) {
		agentd_seterr(err, errlen, "roster %s: cannot read or parse: %s",
		    a->conf.roster, ferry_strerror(rc));
		return (rc);
	}
	if (roster_verify_genesis(conf, a->conf.roster_pin, 0, why,
	    sizeof(why)) == 0) {
		r = conf;
		conf = NULL;
		if ((rc = agentd_roster_path(a, r->version, path,
		    sizeof(path))) != 0)
			goto fail;
		if (stat(path, &st) != 0 && (rc = roster_save(a, r)) != 0) {
			agentd_seterr(err, errlen, "cannot save the pinned "
			    "roster in %s: %s", path, ferry_strerror(rc));
			goto fail;
		}
	} else if (conf->version == 1) {
		agentd_seterr(err, errlen, "install roster refused: %s", why);
		rc = FERRY_EPIN;
		goto fail;
	} else {
		if ((rc = roster_lowest_saved(a, &lowest)) != 0)
			goto fail;
		if (lowest == 0) {
			agentd_seterr(err, errlen, "roster %s does not match "
			    "roster_pin and no pinned roster is saved in the "
			    "data folder: give the pinned (install) roster at "
			    "first start", a->conf.roster);
			rc = FERRY_EPIN;
			goto fail;
		}
		if ((rc = agentd_roster_path(a, lowest, path,
		    sizeof(path))) != 0 ||
		    (rc = agentd_roster_read(path, &r)) != 0) {
			agentd_seterr(err, errlen, "saved roster %s unreadable: "
			    "%s", path, ferry_strerror(rc));
			goto fail;
		}
		if ((rc = roster_verify_genesis(r, a->conf.roster_pin, 0, why,
		    sizeof(why))) != 0) {
			agentd_seterr(err, errlen, "saved roster refused: %s",
			    why);
			goto fail;
		}
	}
	/* "relay =" names the endpoint of the anchor's first relay: never
	 * of whichever relay comes first after that one is removed. */
	agentd_copy_str(a->relay_for, sizeof(a->relay_for), r->nrelays > 0 ?
	    r->relays[0].id : "");
	if ((rc = agentd_roster_path(a, r->version + 1, path,
	    sizeof(path))) != 0)
		goto fail;
	/* An expired roster in force does not stop the start: new work is
	 * refused until a newer version arrives (agentd_can_send). */
	for (;;) {
		if ((rc = agentd_roster_path(a, r->version + 1, path,
		    sizeof(path))) != 0)
			goto fail;
		if ((rc = agentd_roster_read(path, &next)) == FERRY_ENOENT)
			break;
		if (rc != 0) {
			agentd_seterr(err, errlen, "saved roster %s unreadable: "
			    "%s", path, ferry_strerror(rc));
			goto fail;
		}
		if ((rc = roster_verify_next(r, next, 0, why,
		    sizeof(why))) != 0) {
			roster_free(next);
			agentd_seterr(err, errlen, "saved roster refused: %s",
			    why);
			goto fail;
		}
		roster_free(r);
		r = next;
	}
	if (conf != NULL && conf->version == r->version + 1) {
		a->conf_next = conf;
		conf = NULL;
	} else if (conf != NULL && conf->version > r->version)
		alog(ALOG_WARN, "roster-file", "%s is version %llu but the "
		    "verified chain ends at %llu: ignored (place the versions "
		    "between in %s/roster/, or wait for the relay)",
		    a->conf.roster, (unsigned long long)conf->version,
		    (unsigned long long)r->version, a->conf.data);
	roster_free(conf);
	a->roster = r;
	(void)agentd_roster_expired(a, ferry_now_ms());
	return (0);
fail:
	roster_free(conf);
	roster_free(r);
	return (rc);
}

/** agentd_check_listed(a, err, errlen): is our agency listed? */
/*
 * Is our agency in the roster in force (a->listed)?  A partner added after
 * the roster it was installed with starts unlisted and waits for the
 * relay's pushes.  Listed with other keys than the key file's: refused.
 */
int
agentd_check_listed(struct agentd *a, char *err, size_t errlen)
{
	const struct roster_agency *ag;

	if ((ag = roster_find(a->roster, a->me->id)) == NULL) {
		a->listed = 0;
		return (0);
	}
	if (memcmp(ag->sign_pk, a->me->sign_pk, 32) != 0) {
		agentd_seterr(err, errlen, "agency %s in the roster has another "
		    "signing key than the key file", a->me->id);
		return (FERRY_EUNKNOWNAGENCY);
	}
	a->listed = 1;
	return (0);
}

int
agentd_roster_expired(struct agentd *a, uint64_t now)
{
	char when[40];

	if (now < a->roster->expires) {
		a->expired_logged = 0;
		return (0);
	}
	if (!a->expired_logged) {
		ferry_utc_s(when, sizeof(when), a->roster->expires);
		alog(ALOG_ERROR, "roster-expired", "roster version %llu expired "
		    "on %s: new referrals are refused (FERRY_EEXPIRED) until a "
		    "newer version is adopted; ask the admins for a new roster "
		    "version; messages already accepted are still delivered "
		    "and receipted", (unsigned long long)a->roster->version,
		    when);
		a->expired_logged = 1;
	}
	return (1);
}

int
agentd_can_send(struct agentd *a, char *err, size_t errlen)
{
	char when[40];

	if (agentd_roster_expired(a, ferry_now_ms())) {
		ferry_utc_s(when, sizeof(when), a->roster->expires);
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "the roster in force (version "
			    "%llu) expired on %s: ask the admins for a new "
			    "roster version (the relay pushes it, or place it in "
			    "<data>/roster/ and send SIGHUP)",
			    (unsigned long long)a->roster->version, when);
		return (FERRY_EEXPIRED);
	}
	if (!a->listed) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "this agency is not yet in the "
			    "roster this agent holds (version %llu); waiting "
			    "for the relay to push a newer one",
			    (unsigned long long)a->roster->version);
		return (FERRY_EUNKNOWNAGENCY);
	}
	return (0);
}

/** agentd_verify_from(a, e): check ${e} with its sender's roster key. */
/* Verify an envelope signed by ${e}->from (the relay or an agency). */
int
agentd_verify_from(struct agentd *a, const struct env *e)
{
	uint8_t pk[32];
	int rc;

	if ((rc = roster_sender_key(a->roster, e->from, pk)) != 0)
		return (rc);
	return (agentd_verify_with(a, e, pk));
}

/** agentd_verify_with(a, e, pk): ${e}'s signature, or its proof, under ${pk}. */
int
agentd_verify_with(struct agentd *a, const struct env *e,
    const uint8_t pk[32])
{

	if (ENV_IS_PROOF(e->type))
		return (env_verify_proof(e, pk, &a->note_cache));
	return (env_verify(e, pk));
}

/** agentd_adopt_roster(a, next, source, save): adopt ${next}. */
/*
 * Verify roster ${next} (owned; freed here unless adopted) against the one
 * in force; on success save it (unless ${save} is 0), log LOG_ROSTER and
 * adopt it.  ${source} names where it came from, for the log lines.
 */
int
agentd_adopt_roster(struct agentd *a, struct roster *next, const char *source,
    int save)
{
	struct log_entry le;
	char why[256];
	int rc, was;

	if (next->version <= a->roster->version) {
		roster_free(next);
		return (0);
	}
	if ((rc = roster_verify_next(a->roster, next, ferry_now_ms(), why,
	    sizeof(why))) != 0) {
		memset(&le, 0, sizeof(le));
		le.kind = LOG_REFUSED;
		le.code = rc;
		roster_hash(next, le.env_hash);
		le.roster_version = a->roster->version;
		(void)log_append(a->log, &le, NULL, 0, NULL);
		alog(ALOG_ERROR, "roster-refused", "version=%llu from %s: %s",
		    (unsigned long long)next->version, source, why);
		roster_free(next);
		return (rc);
	}
	if (save && (rc = roster_save(a, next)) != 0)
		goto err;
	memset(&le, 0, sizeof(le));
	le.kind = LOG_ROSTER;
	roster_hash(next, le.env_hash);
	le.roster_version = next->version;
	if ((rc = log_append(a->log, &le, NULL, 0, NULL)) != 0)
		goto err;
	roster_free(a->roster);
	a->roster = next;
	/* Only the links whose relay was added, removed or rotated. */
	agentd_links_sync(a);
	a->n_rosters++;
	alog(ALOG_INFO, "roster", "version=%llu adopted from %s: %s",
	    (unsigned long long)next->version, source, why);
	if (a->expired_logged)
		alog(ALOG_INFO, "roster-renewed", "version=%llu in force: "
		    "sending enabled again", (unsigned long long)next->version);
	(void)agentd_roster_expired(a, ferry_now_ms());
	was = a->listed;
	if (agentd_check_listed(a, why, sizeof(why)) != 0)
		alog(ALOG_ERROR, "roster", "version=%llu: %s",
		    (unsigned long long)next->version, why);
	if (!was && a->listed)
		alog(ALOG_INFO, "listed", "agency %s is in roster version %llu: "
		    "sending enabled", a->me->id,
		    (unsigned long long)next->version);
	(void)a->spool_init(a);
	return (0);
err:
	alog(ALOG_ERROR, "roster", "version=%llu from %s not adopted: %s",
	    (unsigned long long)next->version, source, ferry_strerror(rc));
	roster_free(next);
	return (rc);
}

/** agentd_handle_roster(a, e): a ROSTER push from the relay. */
int
agentd_handle_roster(struct agentd *a, const struct env *e)
{
	struct roster *next = NULL;
	int rc;

	if (roster_find_relay(a->roster, e->from) == NULL ||
	    agentd_verify_from(a, e) != 0) {
		alog(ALOG_WARN, "bad-roster", "push from=%s not signed by the "
		    "relay; ignored", e->from);
		return (0);
	}
	if ((rc = roster_parse(e->blob, e->blob_len, &next)) != 0) {
		alog(ALOG_WARN, "bad-roster", "push does not parse: %s",
		    ferry_strerror(rc));
		return (0);
	}
	if (next->version > a->roster->version + 1) {
		/* A version is missing (a push lost): ask again with HELLO,
		 * which makes the relay push every version after ours. */
		alog(ALOG_INFO, "roster-gap", "push of version %llu but we "
		    "hold %llu: asking the relay for the versions between",
		    (unsigned long long)next->version,
		    (unsigned long long)a->roster->version);
		roster_free(next);
		a->want_hello = 1;
		return (0);
	}
	rc = agentd_adopt_roster(a, next, "the relay", 1);
	return (rc == FERRY_ENOSPC || rc == FERRY_EIO || rc == FERRY_ELMDB ?
	    rc : 0);
}

int
agentd_roster_reload(struct agentd *a)
{
	struct roster *next;
	char path[ACONF_PATH_MAX + 64];
	int rc, n = 0;

	/* Versions saved in <data>/roster/ (dropped there by an operator). */
	for (;;) {
		if ((rc = agentd_roster_path(a, a->roster->version + 1, path,
		    sizeof(path))) != 0)
			return (rc);
		if ((rc = agentd_roster_read(path, &next)) == FERRY_ENOENT)
			break;
		if (rc != 0) {
			alog(ALOG_ERROR, "roster-reload", "%s: %s", path,
			    ferry_strerror(rc));
			return (rc);
		}
		if ((rc = agentd_adopt_roster(a, next, path, 0)) != 0)
			return (rc);
		n++;
	}
	/* The configured roster file, if an operator replaced it.  Every
	 * outcome is said: a SIGHUP that changes nothing must say why. */
	if ((rc = agentd_roster_read(a->conf.roster, &next)) != 0)
		alog(ALOG_ERROR, "roster-file", "%s: %s: not a roster this "
		    "agent can read; still on version %llu (check the file "
		    "is the one `ferry-keys roster sign` wrote, and readable "
		    "by this agent)", a->conf.roster, ferry_strerror(rc),
		    (unsigned long long)a->roster->version);
	else if (next->version == a->roster->version + 1) {
		if ((rc = agentd_adopt_roster(a, next, a->conf.roster,
		    1)) != 0)
			return (rc);	/* roster-refused said why */
		n++;
	} else {
		if (next->version > a->roster->version)
			alog(ALOG_WARN, "roster-file", "%s holds version %llu, "
			    "which does not follow version %llu in force: "
			    "install version %llu first (or let the relay "
			    "push it: it does at the next connection)",
			    a->conf.roster, (unsigned long long)next->version,
			    (unsigned long long)a->roster->version,
			    (unsigned long long)a->roster->version + 1);
		else if (n == 0)
			alog(ALOG_INFO, "roster-file", "%s holds version "
			    "%llu, not newer than version %llu in force: "
			    "nothing to adopt", a->conf.roster,
			    (unsigned long long)next->version,
			    (unsigned long long)a->roster->version);
		roster_free(next);
	}
	alog(ALOG_INFO, "roster-reload", "version=%llu (%d newer adopted)",
	    (unsigned long long)a->roster->version, n);
	return (0);
}

/* ---- expiry warnings -------------------------------------------------- */

const unsigned agentd_expiry_warn_days[AGENTD_EXPIRY_STAGES] = { 30, 7, 1 };

int64_t
agentd_secs_left(uint64_t t, uint64_t now)
{

	return (t >= now ? (int64_t)((t - now) / 1000) :
	    -(int64_t)((now - t) / 1000));
}

uint64_t
agentd_key_expires(const struct agentd *a)
{
	const struct roster_agency *ag;
	uint64_t t = 0;
	size_t i;

	if ((ag = roster_find(a->roster, a->me->id)) != NULL) {
		for (i = 0; i < ag->nenc; i++)
			if (ag->enc[i].not_after > t)
				t = ag->enc[i].not_after;
		return (t);
	}
	for (i = 0; i < a->me->nenc; i++)
		if (a->me->enc[i].not_after > t)
			t = a->me->enc[i].not_after;
	return (t);
}

/* How many thresholds of agentd_expiry_warn_days ${expires} has crossed at ${now}. */
static int
expiry_stage(uint64_t expires, uint64_t now)
{
	int k, stage = 0;

	for (k = 0; k < AGENTD_EXPIRY_STAGES; k++)
		if (expires <= now || expires - now <=
		    (uint64_t)agentd_expiry_warn_days[k] * 86400000)
			stage = k + 1;
	return (stage);
}

/* "in 6 days", "in 5 hours", "in 3 minutes": the time left, rounded down. */
static void
fmt_left(char *buf, size_t cap, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (s >= 2 * 86400)
		snprintf(buf, cap, "in %llu days", (unsigned long long)(s / 86400));
	else if (s >= 2 * 3600)
		snprintf(buf, cap, "in %llu hours", (unsigned long long)(s / 3600));
	else
		snprintf(buf, cap, "in %llu minutes", (unsigned long long)(s / 60));
}

int
agentd_expiry_check(struct agentd *a, uint64_t now)
{
	char when[40], left[40], days[32];
	uint64_t kexp = agentd_key_expires(a);
	int st, n = 0;

	/* Once expired, the roster's ERROR (agentd_roster_expired) says it. */
	st = expiry_stage(a->roster->expires, now);
	if (st > a->roster_stage && now < a->roster->expires) {
		ferry_utc_s(when, sizeof(when), a->roster->expires);
		fmt_left(left, sizeof(left), a->roster->expires - now);
		alog(ALOG_WARN, "roster-expiring", "roster version %llu expires "
		    "on %s (%s, within %u day(s)): ask the admins to issue and "
		    "sign a newer roster version before then; after it, new "
		    "referrals are refused (FERRY_EEXPIRED)",
		    (unsigned long long)a->roster->version, when, left,
		    agentd_expiry_warn_days[st - 1]);
		n++;
	}
	a->roster_stage = st;
	st = kexp != 0 ? expiry_stage(kexp, now) : 0;
	if (st > a->key_stage) {
		ferry_utc_s(when, sizeof(when), kexp);
		if (now < kexp) {
			fmt_left(left, sizeof(left), kexp - now);
			snprintf(days, sizeof(days), ", within %u day(s)",
			    agentd_expiry_warn_days[st - 1]);
		} else {
			snprintf(left, sizeof(left), "passed");
			days[0] = '\0';
		}
		alog(ALOG_WARN, "key-expiring", "the encryption key of agency "
		    "%s %s on %s (%s%s): make a new one (ferry-keys roster "
		    "rotate) and have the admins sign the roster version "
		    "listing it; after it, partners cannot send to this "
		    "agency (FERRY_EKEYWINDOW)", a->me->id,
		    now < kexp ? "expires" : "expired", when, left, days);
		n++;
	}
	a->key_stage = st;
	return (n);
}

/* ---- our log, as the relays hold it ------------------------------------- */

int
agentd_log_behind(struct agentd *a, const struct env *e)
{
	int rc;

	/* Only a relay's word, verified, about our own log. */
	if (roster_find_relay(a->roster, e->from) == NULL ||
	    strcmp(e->to, a->me->id) != 0 ||
	    (rc = agentd_verify_from(a, e)) != 0) {
		alog(ALOG_WARN, "bad-nack", "from=%s: a NACK about this "
		    "agency's log not from a relay, or not verified; ignored",
		    e->from);
		return (0);
	}
	if (a->log_behind)
		return (0);
	a->log_behind = 1;
	alog(ALOG_ERROR, "log-behind", "relay %s holds a checkpoint of this "
	    "agency's log larger than the log now (%llu entries), or of "
	    "another history: this data folder was restored from a backup "
	    "or replaced. Referrals received after that point are not in "
	    "this store (their senders show them delivered: ask them to send "
	    "again); messages sent after it are unknown here. What to do: "
	    "docs/operations.md section 8", e->from,
	    (unsigned long long)log_size(a->log));
	return (0);
}

/* ---- the relay links --------------------------------------------------- */

const char *
agentd_relay_endpoint(const struct agentd *a, size_t i)
{
	static char ep[ROSTER_ENDPOINT_MAX + 1];

	if (i >= a->roster->nrelays)
		return ("");
	if (aconf_relay_endpoint(a->conf.relay_endpoints,
	    a->roster->relays[i].id, ep, sizeof(ep)))
		return (ep);
	if (a->conf.relay[0] != '\0' &&
	    strcmp(a->roster->relays[i].id, a->relay_for) == 0)
		return (a->conf.relay);
	return (a->roster->relays[i].endpoint);
}

void
agentd_links_sync(struct agentd *a)
{
	const struct roster_relay *rr;
	struct agentd_link *l;
	const char *ep;
	size_t i;
	int k;

	for (k = 0; k < (int)a->nlinks; k++)
		if (a->links[k].listed &&
		    roster_find_relay(a->roster, a->links[k].id) == NULL) {
			a->links[k].listed = 0;
			a->links[k].reopen = 1;	/* closed */
			alog(ALOG_INFO, "relay-removed", "relay=%s is no "
			    "longer in roster version %llu: its link closed",
			    a->links[k].id,
			    (unsigned long long)a->roster->version);
		}
	if (a->conf.relay[0] != '\0' && !a->relay_for_said &&
	    roster_find_relay(a->roster, a->relay_for) == NULL) {
		a->relay_for_said = 1;
		alog(ALOG_WARN, "relay-config", "relay = %s is the endpoint of "
		    "relay %s (the first of the install roster), which roster "
		    "version %llu no longer lists: ignored, each relay is "
		    "reached at its roster endpoint; remove relay = from the "
		    "configuration, or name each relay's endpoint in "
		    "relay_endpoints = ID=ENDPOINT", a->conf.relay,
		    a->relay_for[0] != '\0' ? a->relay_for : "(none)",
		    (unsigned long long)a->roster->version);
	}
	for (i = 0; i < a->roster->nrelays && i < AGENTD_LINKS; i++) {
		rr = &a->roster->relays[i];
		ep = agentd_relay_endpoint(a, i);
		if ((k = agentd_link_find(a, rr->id)) < 0) {
			/* A free slot: never used, or unlisted. */
			for (k = 0; k < (int)a->nlinks; k++)
				if (!a->links[k].listed)
					break;
			if (k == AGENTD_LINKS)
				continue;
			if (k == (int)a->nlinks)
				a->nlinks++;
			l = &a->links[k];
			memset(l, 0, sizeof(*l));
			agentd_copy_str(l->id, sizeof(l->id), rr->id);
			l->listed = 1;
			l->reopen = 1;
			l->down_since = agentd_mono_ms();
			l->link_since = ferry_now_ms();
		}
		l = &a->links[k];
		l->order = (unsigned)i;
		if (memcmp(l->curve_pk, rr->curve_pk, 32) != 0 ||
		    strcmp(l->endpoint, ep) != 0) {
			if (!l->reopen)
				alog(ALOG_INFO, "relay-key", "relay=%s: the "
				    "roster changed its key or endpoint: "
				    "reconnecting", l->id);
			memcpy(l->curve_pk, rr->curve_pk, 32);
			agentd_copy_str(l->endpoint, sizeof(l->endpoint), ep);
			l->reopen = 1;
		}
	}
}
