/*
 * config.c: ferry-relay's configuration: built-in defaults, then the INI
 * file (libinih), then command-line flags, then a consistency check.
 * docs/relay.md lists every key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "relay.h"

void
config_defaults(struct config *c)
{

	memset(c, 0, sizeof(*c));
	snprintf(c->endpoint, sizeof(c->endpoint), "tcp://127.0.0.1:7450");
	c->max_body = FERRY_BODY_MAX_DEFAULT;
	c->queue_max = 100000;
	c->queue_max_bytes = 1ULL << 30;
	c->max_connections = 1024;
	c->handshake_ms = 10000;
	c->expiry_ms = 5ULL * 24 * 3600 * 1000;
	c->log_level = RLOG_INFO;
	c->credit_max = 1024;
	c->batch_max = 512;
	c->batch_bytes = 64ULL * 1024 * 1024;
	c->map_size = 64ULL << 30;
	c->metrics_ms = 2000;
	c->sweep_ms = 60000;
	c->redeliver_ms = 60000;
	c->linger_ms = 1000;
}

static int
parse_u64(const char *s, uint64_t *out, const char **rest)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return (-1);
	*out = v;
	*rest = end;
	return (0);
}

/** config_parse_size(s, out): "123", "4K", "32M", "64G" into bytes. */
int
config_parse_size(const char *s, uint64_t *out)
{
	const char *rest;
	uint64_t v, m = 1;

	if (parse_u64(s, &v, &rest))
		return (-1);
	if (strcmp(rest, "") == 0 || strcmp(rest, "B") == 0)
		m = 1;
	else if (strcmp(rest, "K") == 0 || strcmp(rest, "KiB") == 0)
		m = 1024;
	else if (strcmp(rest, "M") == 0 || strcmp(rest, "MiB") == 0)
		m = 1024 * 1024;
	else if (strcmp(rest, "G") == 0 || strcmp(rest, "GiB") == 0)
		m = 1024 * 1024 * 1024;
	else
		return (-1);
	if (v > UINT64_MAX / m)
		return (-1);
	*out = v * m;
	return (0);
}

/** config_parse_duration(s, out): "250ms", "30s", "10m", "2h", "5d" into ms. */
int
config_parse_duration(const char *s, uint64_t *out)
{
	const char *rest;
	uint64_t v, m;

	if (parse_u64(s, &v, &rest))
		return (-1);
	if (strcmp(rest, "ms") == 0)
		m = 1;
	else if (strcmp(rest, "s") == 0 || strcmp(rest, "") == 0)
		m = 1000;
	else if (strcmp(rest, "m") == 0)
		m = 60 * 1000;
	else if (strcmp(rest, "h") == 0)
		m = 3600 * 1000;
	else if (strcmp(rest, "d") == 0)
		m = 24ULL * 3600 * 1000;
	else
		return (-1);
	if (v > UINT64_MAX / m)
		return (-1);
	*out = v * m;
	return (0);
}

static int
set_str(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= cap)
		return (-1);
	memcpy(dst, v, n + 1);
	return (0);
}

/** config_set(c, key, value): set one key; 0 or -1. */
int
config_set(struct config *c, const char *key, const char *v)
{
	int lvl;

	if (strcmp(key, "endpoint") == 0)
		return (set_str(c->endpoint, sizeof(c->endpoint), v));
	if (strcmp(key, "data") == 0)
		return (set_str(c->data, sizeof(c->data), v));
	if (strcmp(key, "key") == 0)
		return (set_str(c->key, sizeof(c->key), v));
	if (strcmp(key, "roster") == 0)
		return (set_str(c->roster, sizeof(c->roster), v));
	if (strcmp(key, "roster_pin") == 0)
		return (set_str(c->roster_pin, sizeof(c->roster_pin), v));
	if (strcmp(key, "max_body") == 0)
		return (config_parse_size(v, &c->max_body));
	if (strcmp(key, "queue_max") == 0)
		return (config_parse_size(v, &c->queue_max));
	if (strcmp(key, "queue_max_bytes") == 0)
		return (config_parse_size(v, &c->queue_max_bytes));
	if (strcmp(key, "max_connections") == 0)
		return (config_parse_size(v, &c->max_connections));
	if (strcmp(key, "handshake_timeout") == 0)
		return (config_parse_duration(v, &c->handshake_ms));
	if (strcmp(key, "expiry") == 0)
		return (config_parse_duration(v, &c->expiry_ms));
	if (strcmp(key, "log_level") == 0) {
		if ((lvl = rlog_level_parse(v)) < 0)
			return (-1);
		c->log_level = lvl;
		return (0);
	}
	if (strcmp(key, "credit_max") == 0)
		return (config_parse_size(v, &c->credit_max));
	if (strcmp(key, "batch_max") == 0)
		return (config_parse_size(v, &c->batch_max));
	if (strcmp(key, "batch_bytes") == 0)
		return (config_parse_size(v, &c->batch_bytes));
	if (strcmp(key, "map_size") == 0)
		return (config_parse_size(v, &c->map_size));
	if (strcmp(key, "metrics_interval") == 0)
		return (config_parse_duration(v, &c->metrics_ms));
	if (strcmp(key, "sweep_interval") == 0)
		return (config_parse_duration(v, &c->sweep_ms));
	if (strcmp(key, "redeliver") == 0)
		return (config_parse_duration(v, &c->redeliver_ms));
	if (strcmp(key, "linger") == 0)
		return (config_parse_duration(v, &c->linger_ms));
	return (-2);
}

struct load_ctx {
	struct config *c;
	const char *path;
	int bad;
};

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *lc = user;
	int rc;

	if (strcmp(section, "relay") != 0) {
		fprintf(stderr, "ferry-relay: %s: unknown section [%s]\n",
		    lc->path, section);
		lc->bad = 1;
		return (0);
	}
	if ((rc = config_set(lc->c, name, value)) != 0) {
		fprintf(stderr, "ferry-relay: %s: %s key \"%s\"\n", lc->path,
		    rc == -2 ? "unknown" : "bad value for", name);
		lc->bad = 1;
		return (0);
	}
	return (1);
}

/** config_load(c, path): read INI ${path} over ${c}. */
int
config_load(struct config *c, const char *path)
{
	struct load_ctx lc = { c, path, 0 };
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

/** config_check(c): 0 if ${c} is complete and consistent. */
int
config_check(const struct config *c)
{

	if (c->data[0] == '\0' || c->key[0] == '\0' || c->roster[0] == '\0') {
		fprintf(stderr, "ferry-relay: data, key and roster must be set\n");
		return (-1);
	}
	if (strncmp(c->endpoint, "tcp://", 6) != 0 &&
	    strncmp(c->endpoint, "ipc://", 6) != 0) {
		fprintf(stderr, "ferry-relay: endpoint must be tcp:// or ipc://\n");
		return (-1);
	}
	if (c->max_body == 0 || c->max_body > (1ULL << 30) ||
	    c->queue_max == 0 || c->queue_max_bytes == 0 ||
	    c->max_connections == 0 || c->max_connections > 1000000 ||
	    c->handshake_ms == 0 || c->handshake_ms > 3600000 ||
	    c->expiry_ms == 0 || c->credit_max == 0 ||
	    c->batch_max == 0 || c->batch_bytes == 0 ||
	    c->map_size < (1ULL << 20) || c->metrics_ms == 0 ||
	    c->sweep_ms == 0 || c->redeliver_ms == 0) {
		fprintf(stderr, "ferry-relay: a limit is zero or out of range\n");
		return (-1);
	}
	return (0);
}
