/*
 * aconf.c: ferry-agent's configuration (see aconf.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <ini.h>

#include "aconf.h"
#include "alog.h"
#include "ferry.h"
#include "roster.h"

void
aconf_defaults(struct aconf *c)
{

	memset(c, 0, sizeof(*c));
	c->log_level = ALOG_INFO;
	/* The delivery window, sized to the receive batch: two groups of
	 * AGENTD_RX_MAX (64, agentd_int.h) MSGs, so that while one group is
	 * committed (one synced commit, one checkpoint) the relay already
	 * has the next one on its way; 32 (before issue #10) cut every
	 * group commit to half a group and left the link idle during each
	 * commit.  The relay caps it at its credit_max (1024), and its
	 * bytes at 64 MiB in flight, whatever the count. */
	c->credit = 128;
	c->heartbeat_ms = 5000;
	c->reconnect_ms = 200;
	c->reconnect_max_ms = 30000;
	c->refused_backoff_ms = 5000;
	c->retry_ms = 2000;
	c->retry_max_ms = 300000;
	c->reask_ms = 30000;
	c->reask_max_ms = 3600000;
	c->spool_ms = 1000;
	c->metrics_ms = 2000;
	c->linger_ms = 1000;
	c->max_body = 32u * 1024 * 1024;
	/* Back-pressure: at most so many of our messages to one recipient
	 * undelivered before new ones to it are refused (FERRY_EBACKLOG;
	 * emergency referrals never are).  A burst beyond it would only
	 * wait in the relay's queue, its latency growing without bound
	 * (issue #10: 9,000 per sender took 30-36 s to drain). */
	c->max_backlog = 1000;
	snprintf(c->relay_choice, sizeof(c->relay_choice), "order");
	/* 1.5 s: a relay frozen with its link up (no reset) is left, and
	 * the referral delivered through the next, within 2 s (issue 12);
	 * an ACCEPTED normally takes milliseconds, and a needless copy
	 * through a second relay is de-duplicated by the recipient. */
	c->failover_ms = 1500;
	c->resend_ms = 30000;
	c->no_receipt_ms = 3600000;
}

/* ALOG_* are the levels ferry_parse_log_level returns. */
_Static_assert(ALOG_ERROR == 0 && ALOG_WARN == 1 && ALOG_INFO == 2 &&
    ALOG_DEBUG == 3, "ALOG_* differ from ferry_parse_log_level");

#define K(name, type, field) \
	{ name, type, offsetof(struct aconf, field), \
	    sizeof(((struct aconf *)0)->field) }

/* The keys of [agent]; a duration needs its unit (ferry_parse_duration). */
static const struct ferry_conf_key keys[] = {
	K("data", FERRY_CONF_STR, data),
	K("key", FERRY_CONF_STR, key),
	K("passphrase_file", FERRY_CONF_STR, passphrase_file),
	K("roster", FERRY_CONF_STR, roster),
	K("roster_pin", FERRY_CONF_STR, roster_pin),
	K("relay", FERRY_CONF_STR, relay),
	K("relay_endpoints", FERRY_CONF_STR, relay_endpoints),
	K("relay_choice", FERRY_CONF_STR, relay_choice),
	K("failover_after", FERRY_CONF_DURATION, failover_ms),
	K("resend_after", FERRY_CONF_DURATION, resend_ms),
	K("resend_no_receipt_after", FERRY_CONF_DURATION, no_receipt_ms),
	K("spool", FERRY_CONF_STR, spool),
	K("log_level", FERRY_CONF_LEVEL, log_level),
	K("credit", FERRY_CONF_U64, credit),
	K("max_body", FERRY_CONF_U64, max_body),
	K("max_backlog", FERRY_CONF_U64, max_backlog),
	K("heartbeat", FERRY_CONF_DURATION, heartbeat_ms),
	K("reconnect", FERRY_CONF_DURATION, reconnect_ms),
	K("reconnect_max", FERRY_CONF_DURATION, reconnect_max_ms),
	K("refused_backoff", FERRY_CONF_DURATION, refused_backoff_ms),
	K("retry", FERRY_CONF_DURATION, retry_ms),
	K("retry_max", FERRY_CONF_DURATION, retry_max_ms),
	K("reask", FERRY_CONF_DURATION, reask_ms),
	K("reask_max", FERRY_CONF_DURATION, reask_max_ms),
	K("spool_interval", FERRY_CONF_DURATION, spool_ms),
	K("metrics_interval", FERRY_CONF_DURATION, metrics_ms),
	K("linger", FERRY_CONF_DURATION, linger_ms),
	K("retention", FERRY_CONF_STR, retention),
	{ NULL, 0, 0, 0 }
};

int
aconf_set(struct aconf *c, const char *key, const char *v)
{

	return (ferry_conf_set(keys, c, key, v));
}

struct load_ctx {
	struct aconf *c;
	const char *path;
	uint64_t seen;		/* the keys set so far, one bit per entry */
	int bad;
};

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *lc = user;
	char why[256];
	int rc;

	if (strcmp(section, "agent") != 0) {
		fprintf(stderr, "ferry-agent: %s: unknown section [%s]\n",
		    lc->path, section);
		lc->bad = 1;
		return (1);
	}
	if ((rc = ferry_conf_load_set(keys, lc->c, &lc->seen, name,
	    value)) != 0) {
		ferry_conf_why(why, sizeof(why), name, value, rc);
		fprintf(stderr, "ferry-agent: %s: %s\n", lc->path, why);
		lc->bad = 1;
	}
	return (1);
}

int
aconf_load(struct aconf *c, const char *path)
{
	struct load_ctx lc = { c, path, 0, 0 };
	int rc;

	rc = ini_parse(path, handler, &lc);
	if (rc < 0) {
		fprintf(stderr, "ferry-agent: cannot read config %s\n", path);
		return (-1);
	}
	if (rc > 0) {
		fprintf(stderr, "ferry-agent: %s: syntax error at line %d\n",
		    path, rc);
		return (-1);
	}
	return (lc.bad ? -1 : 0);
}

/* ${ms} as the largest whole unit of a duration ("60s", "90m"). */
static void
fmt_ms(char *out, size_t n, uint64_t ms)
{
	static const struct { uint64_t ms; const char *unit; } u[] = {
		{ 86400000, "d" }, { 3600000, "h" }, { 60000, "m" },
		{ 1000, "s" }, { 1, "ms" } };
	size_t i;

	for (i = 0; ms != 0 && ms % u[i].ms != 0; i++)
		;
	snprintf(out, n, "%llu%s", (unsigned long long)(ms / u[i].ms),
	    u[i].unit);
}

int
aconf_check(const struct aconf *c, const char *path)
{
	static const struct {
		const char *key;
		size_t off;
		const char *min;
		uint64_t max;
	} zbound[] = {
		{ "linger", offsetof(struct aconf, linger_ms), "0s",
		    ACONF_LINGER_MAX_MS },
		{ "reconnect", offsetof(struct aconf, reconnect_ms), "1ms",
		    ACONF_RECONNECT_MAX_MS },
		{ "reconnect_max", offsetof(struct aconf, reconnect_max_ms),
		    "reconnect", ACONF_RECONNECT_MAX_MS },
	};
	static const struct {
		const char *key;
		const char *flag;
		size_t off;
	} need[] = {
		{ "data", "-d", offsetof(struct aconf, data) },
		{ "key", "-k", offsetof(struct aconf, key) },
		{ "roster", "-R", offsetof(struct aconf, roster) },
		{ "roster_pin", "-P", offsetof(struct aconf, roster_pin) },
	};
	struct aconf_ret ret[ACONF_RET_MAX];
	char names[128], flags[64], err[160];
	char rid[FERRY_ID_MAX + 2], rep[300];
	const char *rest, *bad;
	size_t i, kn = 0, fn = 0, n = 0, nret;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (((const char *)c + need[i].off)[0] != '\0')
			continue;
		kn += (size_t)snprintf(names + kn, sizeof(names) - kn,
		    "%s\"%s\"", n > 0 ? ", " : "", need[i].key);
		fn += (size_t)snprintf(flags + fn, sizeof(flags) - fn,
		    "%s%s", n > 0 ? ", " : "", need[i].flag);
		n++;
	}
	/* Say which: the file's key, or the flag that sets it. */
	if (n > 0 && path != NULL) {
		fprintf(stderr, "ferry-agent: %s: missing key%s %s in [agent] "
		    "(or give %s)\n", path, n > 1 ? "s" : "", names, flags);
		return (-1);
	}
	if (n > 0) {
		fprintf(stderr, "ferry-agent: missing setting%s %s: give -c "
		    "CONFIG with %s in [agent], or %s\n", n > 1 ? "s" : "",
		    names, n > 1 ? "them" : "it", flags);
		return (-1);
	}
	if (roster_pin_check(c->roster_pin) != 0) {
		fprintf(stderr, "ferry-agent: %s%sroster_pin \"%s\" is not "
		    ROSTER_PIN_FORM ": give the install roster's\n",
		    path != NULL ? path : "", path != NULL ? ": " : "",
		    c->roster_pin);
		return (-1);
	}
	if (c->relay[0] != '\0' && strncmp(c->relay, "tcp://", 6) != 0 &&
	    strncmp(c->relay, "ipc://", 6) != 0) {
		fprintf(stderr, "ferry-agent: %s%srelay \"%s\" is not a "
		    "tcp:// or ipc:// endpoint (e.g. tcp://relay.example:7700)"
		    "\n", path != NULL ? path : "", path != NULL ? ": " : "",
		    c->relay);
		return (-1);
	}
	if (strcmp(c->relay_choice, "order") != 0 &&
	    strcmp(c->relay_choice, "fastest") != 0) {
		fprintf(stderr, "ferry-agent: %s%srelay_choice \"%s\" is "
		    "neither \"order\" (the first connected relay in roster "
		    "order) nor \"fastest\" (the lowest round trip)\n",
		    path != NULL ? path : "", path != NULL ? ": " : "",
		    c->relay_choice);
		return (-1);
	}
	for (rest = c->relay_endpoints; rest != NULL && *rest != '\0';) {
		rest = aconf_relay_endpoints_next(rest, rid, sizeof(rid), rep,
		    sizeof(rep));
		if (rest == NULL)
			break;
		if (rid[0] == '\0' || (strncmp(rep, "tcp://", 6) != 0 &&
		    strncmp(rep, "ipc://", 6) != 0)) {
			fprintf(stderr, "ferry-agent: %s%srelay_endpoints: "
			    "\"%s\" is not RELAYID=ENDPOINT with a tcp:// or "
			    "ipc:// endpoint\n", path != NULL ? path : "",
			    path != NULL ? ": " : "", rid[0] ? rid : rep);
			return (-1);
		}
	}
	if (c->failover_ms == 0 || c->resend_ms == 0 ||
	    c->no_receipt_ms == 0) {
		fprintf(stderr, "ferry-agent: %s%s%s is zero: give a duration "
		    "with a unit, e.g. %s\n", path != NULL ? path : "",
		    path != NULL ? ": " : "", c->failover_ms == 0 ?
		    "failover_after" : c->resend_ms == 0 ? "resend_after" :
		    "resend_no_receipt_after", c->failover_ms == 0 ? "1500ms" :
		    c->resend_ms == 0 ? "30s" : "1h");
		return (-1);
	}
	/*
	 * linger, reconnect and reconnect_max go to libzmq as an int of ms
	 * (ZMQ_LINGER, ZMQ_RECONNECT_IVL, _MAX): beyond it the socket cannot
	 * be made and the agent would stop at every start.  A linger also
	 * bounds how long a stop may wait; a reconnection an hour apart is
	 * already an agent cut off for an hour.
	 */
	for (i = 0; i < sizeof(zbound) / sizeof(zbound[0]); i++) {
		uint64_t v;
		char vs[32], hs[32];

		memcpy(&v, (const char *)c + zbound[i].off, sizeof(v));
		if (v <= zbound[i].max)
			continue;
		fmt_ms(vs, sizeof(vs), v);
		fmt_ms(hs, sizeof(hs), zbound[i].max);
		fprintf(stderr, "ferry-agent: %s%s%s = %s: must be %s to %s\n",
		    path != NULL ? path : "", path != NULL ? ": " : "",
		    zbound[i].key, vs, zbound[i].min, hs);
		return (-1);
	}
	/* The first limit out of range, named with what it may be. */
	bad = c->credit == 0 || c->credit > 100000 ?
	    "credit must be 1 to 100000" :
	    c->heartbeat_ms == 0 ? "heartbeat must be above zero" :
	    c->reconnect_ms == 0 ? "reconnect must be above zero" :
	    c->reconnect_max_ms < c->reconnect_ms ?
	    "reconnect_max must not be below reconnect" :
	    c->retry_ms == 0 ? "retry must be above zero" :
	    c->retry_max_ms < c->retry_ms ?
	    "retry_max must not be below retry" :
	    c->reask_ms == 0 ? "reask must be above zero" :
	    c->reask_max_ms < c->reask_ms ?
	    "reask_max must not be below reask" :
	    c->spool_ms == 0 ? "spool_interval must be above zero" :
	    c->metrics_ms == 0 ? "metrics_interval must be above zero" :
	    c->refused_backoff_ms == 0 ?
	    "refused_backoff must be above zero" :
	    c->max_body == 0 || c->max_body > (1ULL << 30) ?
	    "max_body must be 1 to 1073741824 (bytes)" : NULL;
	if (bad != NULL) {
		fprintf(stderr, "ferry-agent: %s%s%s (durations with a unit, "
		    "e.g. 5s)\n", path != NULL ? path : "",
		    path != NULL ? ": " : "", bad);
		return (-1);
	}
	if (aconf_retention(c->retention, ret, &nret, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "ferry-agent: %s%sretention: %s\n",
		    path != NULL ? path : "", path != NULL ? ": " : "", err);
		return (-1);
	}
	return (0);
}

/* ${s}, a whole number of years (digits only), in ms into *${ms}. */
static int
year_ms(const char *s, uint64_t *ms)
{
	uint64_t v = 0;

	if (*s == '\0')
		return (-1);
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > UINT64_MAX / ACONF_YEAR_MS)
			return (-1);
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > UINT64_MAX / ACONF_YEAR_MS)
		return (-1);
	*ms = v * ACONF_YEAR_MS;
	return (0);
}

int
aconf_retention(const char *s, struct aconf_ret *r, size_t *n, char *err,
    size_t errlen)
{
	char buf[sizeof(((struct aconf *)0)->retention)], *tok, *save, *colon;
	char *v;
	size_t i, len;
	int rc;

	*n = 0;
	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf)) {
		snprintf(err, errlen, "too long");
		return (-1);
	}
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		len = strlen(tok);
		while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
			tok[--len] = '\0';
		if ((colon = strchr(tok, ':')) == NULL) {
			snprintf(err, errlen, "\"%s\" is not KIND:DURATION "
			    "(e.g. referral:6y)", tok);
			return (-1);
		}
		*colon = '\0';
		v = colon + 1;
		if (strcmp(tok, "referral") != 0 &&
		    strcmp(tok, "response") != 0) {
			snprintf(err, errlen, "unknown message kind \"%s\" "
			    "(referral or response)", tok);
			return (-1);
		}
		for (i = 0; i < *n; i++)
			if (strcmp(r[i].kind, tok) == 0) {
				snprintf(err, errlen, "kind %s given twice",
				    tok);
				return (-1);
			}
		if (*n == ACONF_RET_MAX || strlen(v) >= sizeof(r[*n].text)) {
			snprintf(err, errlen, "too many rules or too long");
			return (-1);
		}
		snprintf(r[*n].kind, sizeof(r[*n].kind), "%s", tok);
		snprintf(r[*n].text, sizeof(r[*n].text), "%s", v);
		len = strlen(v);
		/* Days, hours or years only: "6m" read as 6 minutes (the
		 * duration rule's m) would erase a person's referral the
		 * same hour its sender meant to keep it six months. */
		if (len > 1 && v[len - 1] == 'm' && v[len - 2] >= '0' &&
		    v[len - 2] <= '9') {
			snprintf(err, errlen, "%s: \"%s\": m would be minutes; "
			    "retention takes d, h or y (for six months write "
			    "183d)", r[*n].kind, r[*n].text);
			return (-1);
		}
		if (len > 1 && v[len - 1] != 'y' && v[len - 1] != 'd' &&
		    v[len - 1] != 'h' && v[len - 1] >= 'a' &&
		    v[len - 1] <= 'z') {
			snprintf(err, errlen, "%s: \"%s\": retention takes d, "
			    "h or y (e.g. 6y, 2190d)", r[*n].kind, r[*n].text);
			return (-1);
		}
		/* Years: "6y" (365.25 days each); d and h are the one
		 * duration rule of every configuration. */
		if (len > 1 && v[len - 1] == 'y') {
			v[len - 1] = '\0';
			rc = year_ms(v, &r[*n].ms);
		} else
			rc = ferry_parse_duration(v, &r[*n].ms);
		if (rc != 0 || r[*n].ms == 0) {
			snprintf(err, errlen, "%s: \"%s\" is not a duration "
			    "with a unit (e.g. 6y, 2190d)", r[*n].kind,
			    r[*n].text);
			return (-1);
		}
		if (r[*n].ms < 86400000ULL) {
			snprintf(err, errlen, "%s: \"%s\" is under a day: "
			    "messages would be erased before anyone could act "
			    "on them (at least 1d)", r[*n].kind, r[*n].text);
			return (-1);
		}
		(*n)++;
	}
	return (0);
}

const char *
aconf_relay_endpoints_next(const char *s, char *id, size_t idcap, char *ep,
    size_t epcap)
{
	const char *e, *eq;
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == ',')
		s++;
	if (*s == '\0')
		return (NULL);
	for (e = s; *e != '\0' && *e != ','; e++)
		;
	n = (size_t)(e - s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	id[0] = '\0';
	snprintf(ep, epcap, "%.*s", (int)n, s);
	eq = memchr(s, '=', n);
	if (eq != NULL && eq > s && (size_t)(eq - s) < idcap &&
	    ferry_id_valid(s, (size_t)(eq - s)) &&
	    n - (size_t)(eq - s) - 1 < epcap) {
		snprintf(id, idcap, "%.*s", (int)(eq - s), s);
		snprintf(ep, epcap, "%.*s", (int)(n - (size_t)(eq - s) - 1),
		    eq + 1);
	}
	return (e);
}

int
aconf_relay_endpoint(const char *s, const char *id, char *out, size_t cap)
{
	char rid[FERRY_ID_MAX + 2], ep[300];

	while (s != NULL && *s != '\0') {
		if ((s = aconf_relay_endpoints_next(s, rid, sizeof(rid), ep,
		    sizeof(ep))) == NULL)
			break;
		if (rid[0] != '\0' && strcmp(rid, id) == 0) {
			snprintf(out, cap, "%s", ep);
			return (1);
		}
	}
	return (0);
}
