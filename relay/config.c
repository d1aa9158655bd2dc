/*
 * config.c: ferry-relay's configuration: built-in defaults, then the INI
 * file (libinih), then command-line flags, then a consistency check.
 * docs/relay.md lists every key.
 */
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "relay.h"
#include "roster.h"
#include "workers.h"

#define DAY_MS (24ULL * 3600 * 1000)

void
config_defaults(struct config *c)
{

	memset(c, 0, sizeof(*c));
	snprintf(c->endpoint, sizeof(c->endpoint), "tcp://127.0.0.1:7450");
	c->max_body = FERRY_BODY_MAX_DEFAULT;
	c->queue_max = 100000;
	c->queue_max_bytes = 1ULL << 30;
	c->queue_max_per_sender = 0;		/* queue_max / 4 */
	c->queue_max_bytes_per_sender = 0;	/* queue_max_bytes / 4 */
	/* All queues: 8 full recipients' worth, well inside the default
	 * map, so that the log and LMDB's copy-on-write pages keep room. */
	c->queue_max_total_bytes = 8ULL << 30;
	c->max_connections = CONFIG_MAX_CONNECTIONS_DEFAULT;
	c->max_connections_per_address = 32;
	c->handshake_ms = 10000;
	c->expiry_ms = 5ULL * 24 * 3600 * 1000;
	c->log_level = RLOG_INFO;
	/* A cap on the window an agent asks for, not a default: agents ask
	 * for 128 (two of their receive groups of 64, agent/aconf.c), and
	 * what is in flight to one is bounded at 64 MiB whatever the count
	 * (PEER_BYTES_MAX, loop.c); 1024 leaves an agent room to ask for
	 * larger groups without a relay change. */
	c->credit_max = 1024;
	c->batch_max = 512;
	c->batch_bytes = 64ULL * 1024 * 1024;
	/* One per core it may run on (affinity, cpusets), the loop's
	 * thread one of them (batch_settle). */
	{
		cpu_set_t cs;
		long nc = sched_getaffinity(0, sizeof(cs), &cs) == 0 ?
		    CPU_COUNT(&cs) : sysconf(_SC_NPROCESSORS_ONLN);

		c->verify_threads = nc < 1 ? 1 : nc > 16 ? 16 : (uint64_t)nc;
	}
	c->map_size = 64ULL << 30;
	c->metrics_ms = 2000;
	c->sweep_ms = 60000;
	c->redeliver_ms = 60000;
	c->linger_ms = 1000;
	c->checkpoint_ms = 10000;
	c->retention_ms = 30 * DAY_MS;
}

/* RLOG_* are the levels ferry_parse_log_level returns. */
_Static_assert(RLOG_ERROR == 0 && RLOG_WARN == 1 && RLOG_INFO == 2 &&
    RLOG_DEBUG == 3, "RLOG_* differ from ferry_parse_log_level");

#define K(name, type, field) \
	{ name, type, offsetof(struct config, field), \
	    sizeof(((struct config *)0)->field) }

/*
 * The keys of [relay]: strings may not be empty, counts take a size
 * suffix, a duration needs its unit (ferry_parse_duration).
 */
static const struct ferry_conf_key keys[] = {
	K("endpoint", FERRY_CONF_STR1, endpoint),
	K("data", FERRY_CONF_STR1, data),
	K("key", FERRY_CONF_STR1, key),
	K("roster", FERRY_CONF_STR1, roster),
	K("roster_pin", FERRY_CONF_STR1, roster_pin),
	K("max_body", FERRY_CONF_SIZE, max_body),
	K("queue_max", FERRY_CONF_SIZE, queue_max),
	K("queue_max_bytes", FERRY_CONF_SIZE, queue_max_bytes),
	K("queue_max_per_sender", FERRY_CONF_SIZE, queue_max_per_sender),
	K("queue_max_bytes_per_sender", FERRY_CONF_SIZE,
	    queue_max_bytes_per_sender),
	K("queue_max_total_bytes", FERRY_CONF_SIZE, queue_max_total_bytes),
	K("max_connections", FERRY_CONF_SIZE, max_connections),
	K("max_connections_per_address", FERRY_CONF_SIZE,
	    max_connections_per_address),
	K("handshake_timeout", FERRY_CONF_DURATION, handshake_ms),
	K("expiry", FERRY_CONF_DURATION, expiry_ms),
	K("log_level", FERRY_CONF_LEVEL, log_level),
	K("credit_max", FERRY_CONF_SIZE, credit_max),
	K("batch_max", FERRY_CONF_SIZE, batch_max),
	K("batch_bytes", FERRY_CONF_SIZE, batch_bytes),
	K("verify_threads", FERRY_CONF_SIZE, verify_threads),
	K("map_size", FERRY_CONF_SIZE, map_size),
	K("metrics_interval", FERRY_CONF_DURATION, metrics_ms),
	K("sweep_interval", FERRY_CONF_DURATION, sweep_ms),
	K("redeliver", FERRY_CONF_DURATION, redeliver_ms),
	K("linger", FERRY_CONF_DURATION, linger_ms),
	K("checkpoint_interval", FERRY_CONF_DURATION, checkpoint_ms),
	K("retention", FERRY_CONF_DURATION, retention_ms),
	{ NULL, 0, 0, 0 }
};

/** config_set(c, key, value): set one key; 0 or ferry_conf_set's error. */
int
config_set(struct config *c, const char *key, const char *v)
{

	return (ferry_conf_set(keys, c, key, v));
}

struct load_ctx {
	struct config *c;
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

	if (strcmp(section, "relay") != 0) {
		fprintf(stderr, "ferry-relay: %s: unknown section [%s]\n",
		    lc->path, section);
		lc->bad = 1;
		return (0);
	}
	if ((rc = ferry_conf_load_set(keys, lc->c, &lc->seen, name,
	    value)) != 0) {
		ferry_conf_why(why, sizeof(why), name, value, rc);
		fprintf(stderr, "ferry-relay: %s: %s\n", lc->path, why);
		lc->bad = 1;
		return (0);
	}
	return (1);
}

/** config_load(c, path): read INI ${path} over ${c}. */
int
config_load(struct config *c, const char *path)
{
	struct load_ctx lc = { c, path, 0, 0 };
	int rc;

	rc = ini_parse(path, handler, &lc);
	if (rc < 0) {
		fprintf(stderr, "ferry-relay: cannot read config %s\n", path);
		return (-1);
	}
	if (rc > 0) {
		fprintf(stderr, "ferry-relay: %s: error at line %d\n", path, rc);
		return (-1);
	}
	return (lc.bad ? -1 : 0);
}

/* ${ms} as the largest whole unit of a config duration ("30d", "90m"). */
static void
fmt_duration(char *out, size_t n, uint64_t ms)
{
	static const struct { uint64_t ms; const char *unit; } u[] = {
		{ DAY_MS, "d" }, { 3600000, "h" }, { 60000, "m" },
		{ 1000, "s" }, { 1, "ms" } };
	size_t i;

	for (i = 0; ms % u[i].ms != 0 || (ms == 0 && i < 3); i++)
		;
	snprintf(out, n, "%llu%s", (unsigned long long)(ms / u[i].ms),
	    u[i].unit);
}

/*
 * The limits each key may take, checked one by one so that a refusal
 * names the key, its value and its range.  max 0: no upper bound.  The
 * bounds of linger (ZMQ_LINGER, an int of ms) and handshake_timeout
 * (ZMQ_HANDSHAKE_IVL) keep them within what libzmq takes; linger also
 * bounds how long a stop may wait for unsent frames.
 */
#define LINGER_MAX_MS 60000ULL
static const struct range {
	const char *key;
	const char *flag;		/* its command-line flag, or NULL */
	size_t off;
	int duration;			/* shown as 1 a duration, 2 a size */
	uint64_t min, max;
} ranges[] = {
	{ "max_body", "--max-body", offsetof(struct config, max_body), 2, 1,
	    1ULL << 30 },
	{ "queue_max", "--queue-max", offsetof(struct config, queue_max), 0,
	    1, 0 },
	{ "queue_max_bytes", NULL, offsetof(struct config, queue_max_bytes),
	    0, 1, 0 },
	{ "queue_max_total_bytes", NULL,
	    offsetof(struct config, queue_max_total_bytes), 0, 1, 0 },
	{ "max_connections", NULL, offsetof(struct config, max_connections),
	    0, 1, 1000000 },
	{ "max_connections_per_address", NULL,
	    offsetof(struct config, max_connections_per_address), 0, 1, 0 },
	{ "handshake_timeout", NULL, offsetof(struct config, handshake_ms), 1,
	    1, 3600000 },
	{ "expiry", "--expiry", offsetof(struct config, expiry_ms), 1, 1, 0 },
	{ "credit_max", NULL, offsetof(struct config, credit_max), 0, 1, 0 },
	{ "batch_max", NULL, offsetof(struct config, batch_max), 0, 1, 0 },
	{ "batch_bytes", NULL, offsetof(struct config, batch_bytes), 0, 1, 0 },
	{ "map_size", NULL, offsetof(struct config, map_size), 2, 1ULL << 20,
	    0 },
	{ "metrics_interval", NULL, offsetof(struct config, metrics_ms), 1, 1,
	    0 },
	{ "sweep_interval", NULL, offsetof(struct config, sweep_ms), 1, 1, 0 },
	{ "redeliver", NULL, offsetof(struct config, redeliver_ms), 1, 1, 0 },
	{ "linger", NULL, offsetof(struct config, linger_ms), 1, 0,
	    LINGER_MAX_MS },
	{ "checkpoint_interval", NULL, offsetof(struct config, checkpoint_ms),
	    1, 1, 0 },
	{ NULL, NULL, 0, 0, 0, 0 }
};

/* ${v} as a person reads it: a duration or a size with its unit, or a
 * count. */
static void
fmt_value(char *out, size_t n, uint64_t v, int duration)
{

	if (duration == 1)
		fmt_duration(out, n, v);
	else if (duration == 2 && v != 0 && v % (1ULL << 30) == 0)
		snprintf(out, n, "%lluG", (unsigned long long)(v >> 30));
	else if (duration == 2 && v != 0 && v % (1ULL << 20) == 0)
		snprintf(out, n, "%lluM", (unsigned long long)(v >> 20));
	else
		snprintf(out, n, "%llu", (unsigned long long)v);
}

/*
 * ${k}'s value in ${c} within its range, else -1 after one line naming
 * the key (or ${flag}, the flag that set it), the value and the range.
 */
static int
range_check(const struct config *c, const struct range *k, const char *path,
    const char *flag)
{
	uint64_t v;
	char vs[32], lo[32], hi[32];

	memcpy(&v, (const char *)c + k->off, sizeof(v));
	if (v >= k->min && (k->max == 0 || v <= k->max))
		return (0);
	fmt_value(vs, sizeof(vs), v, k->duration);
	fmt_value(lo, sizeof(lo), k->min, k->duration);
	fmt_value(hi, sizeof(hi), k->max, k->duration);
	if (flag != NULL)
		fprintf(stderr, "ferry-relay: %s %s: ", flag, vs);
	else
		fprintf(stderr, "ferry-relay: %s%s%s = %s: ",
		    path != NULL ? path : "", path != NULL ? ": " : "", k->key,
		    vs);
	if (k->max == 0)
		fprintf(stderr, "must be at least %s\n", lo);
	else
		fprintf(stderr, "must be %s to %s\n", lo, hi);
	return (-1);
}

/** config_check_flag(c, key, flag): ${key}, set by ${flag}, in its range. */
int
config_check_flag(const struct config *c, const char *key, const char *flag)
{
	size_t i;

	for (i = 0; ranges[i].key != NULL; i++)
		if (strcmp(ranges[i].key, key) == 0)
			return (range_check(c, &ranges[i], NULL, flag));
	return (0);
}

/** config_check(c, path): 0 if ${c} is complete and consistent. */
int
config_check(const struct config *c, const char *path)
{
	const char *set[] = { c->data, c->key, c->roster };
	static const char *const names[] = { "data", "key", "roster" };
	char miss[128];
	size_t i, off = 0, n = 0;

	for (i = 0; i < 3; i++) {
		if (set[i][0] != '\0')
			continue;
		off += (size_t)snprintf(miss + off, sizeof(miss) - off,
		    "%s\"%s\" (--%s)", n++ > 0 ? ", " : "", names[i],
		    names[i]);
	}
	/* Say which, and where it would go. */
	if (n > 0) {
		fprintf(stderr, "ferry-relay: %s%smissing key%s %s in [relay]"
		    "%s\n", path != NULL ? path : "", path != NULL ? ": " : "",
		    n > 1 ? "s" : "", miss, path != NULL ? "" :
		    " (no -c config given)");
		return (-1);
	}
	if (c->roster_pin[0] != '\0' && roster_pin_check(c->roster_pin) !=
	    0) {
		fprintf(stderr, "ferry-relay: %s%sroster_pin \"%s\" is not "
		    ROSTER_PIN_FORM ": give the install roster's\n",
		    path != NULL ? path : "", path != NULL ? ": " : "",
		    c->roster_pin);
		return (-1);
	}
	if (strncmp(c->endpoint, "tcp://", 6) != 0 &&
	    strncmp(c->endpoint, "ipc://", 6) != 0) {
		fprintf(stderr, "ferry-relay: endpoint must be tcp:// or ipc://\n");
		return (-1);
	}
	if (c->verify_threads == 0 || c->verify_threads > WORKERS_MAX) {
		fprintf(stderr, "ferry-relay: verify_threads = %llu is out of "
		    "range: 1 (the loop's thread alone) to %d\n",
		    (unsigned long long)c->verify_threads, WORKERS_MAX);
		return (-1);
	}
	for (i = 0; ranges[i].key != NULL; i++)
		if (range_check(c, &ranges[i], path, NULL) != 0)
			return (-1);
	/*
	 * Expiry happens in a sweep: one right at start, then every
	 * sweep_interval (and in the turn after the forwarding met a message
	 * past its expiry, never forwarded).  A sweep_interval longer than
	 * expiry keeps expired messages queued, and their senders waiting,
	 * until it comes round.
	 */
	if (c->sweep_ms > c->expiry_ms) {
		char ss[32], es[32];

		fmt_duration(ss, sizeof(ss), c->sweep_ms);
		fmt_duration(es, sizeof(es), c->expiry_ms);
		fprintf(stderr, "ferry-relay: %s%ssweep_interval = %s is longer "
		    "than expiry = %s: expired messages would stay queued until "
		    "the next sweep; set sweep_interval to at most expiry "
		    "(default 60s)\n", path != NULL ? path : "",
		    path != NULL ? ": " : "", ss, es);
		return (-1);
	}
	/*
	 * A sender may retransmit or ASK about a message until it is
	 * finished, and an offline one learns of it later still: its
	 * record must outlive the longest wait for a recipient by a margin.
	 */
	if (c->expiry_ms > UINT64_MAX - DAY_MS ||
	    c->retention_ms < c->expiry_ms + DAY_MS) {
		char rs[32], es[32];

		fmt_duration(rs, sizeof(rs), c->retention_ms);
		fmt_duration(es, sizeof(es), c->expiry_ms);
		fprintf(stderr, "ferry-relay: retention = %s is shorter than "
		    "expiry + 1d (expiry = %s): a sender may ask about a "
		    "message until it is finished\n", rs, es);
		return (-1);
	}
	return (0);
}

/** config_sender_limits(c, msgs, bytes): one sender's share of a queue. */
void
config_sender_limits(const struct config *c, uint64_t *msgs, uint64_t *bytes)
{

	*msgs = c->queue_max_per_sender != 0 ? c->queue_max_per_sender :
	    c->queue_max / 4;
	*bytes = c->queue_max_bytes_per_sender != 0 ?
	    c->queue_max_bytes_per_sender : c->queue_max_bytes / 4;
	if (*msgs == 0)
		*msgs = 1;
	if (*bytes == 0)
		*bytes = 1;
}
