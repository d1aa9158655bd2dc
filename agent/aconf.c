/*
 * aconf.c: ferry-agent's configuration (see aconf.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "aconf.h"
#include "alog.h"

void
aconf_defaults(struct aconf *c)
{

	memset(c, 0, sizeof(*c));
	c->log_level = ALOG_INFO;
	c->credit = 32;
	c->heartbeat_ms = 5000;
	c->reconnect_ms = 200;
	c->reconnect_max_ms = 30000;
	c->refused_backoff_ms = 5000;
	c->retry_ms = 2000;
	c->retry_max_ms = 300000;
	c->spool_ms = 1000;
	c->linger_ms = 1000;
	c->max_body = 32u * 1024 * 1024;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return (-1);
	*out = v;
	return (0);
}

int
aconf_parse_duration(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t m;

	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return (-1);
	if (*end == '\0' || strcmp(end, "ms") == 0)
		m = 1;
	else if (strcmp(end, "s") == 0)
		m = 1000;
	else if (strcmp(end, "m") == 0)
		m = 60000;
	else if (strcmp(end, "h") == 0)
		m = 3600000;
	else if (strcmp(end, "d") == 0)
		m = 86400000;
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

	if (n >= cap)
		return (-1);
	memcpy(dst, v, n + 1);
	return (0);
}

int
aconf_set(struct aconf *c, const char *key, const char *v)
{
	int lvl;

	if (strcmp(key, "data") == 0)
		return (set_str(c->data, sizeof(c->data), v));
	if (strcmp(key, "key") == 0)
		return (set_str(c->key, sizeof(c->key), v));
	if (strcmp(key, "passphrase_file") == 0)
		return (set_str(c->passphrase_file, sizeof(c->passphrase_file),
		    v));
	if (strcmp(key, "roster") == 0)
		return (set_str(c->roster, sizeof(c->roster), v));
	if (strcmp(key, "roster_pin") == 0)
		return (set_str(c->roster_pin, sizeof(c->roster_pin), v));
	if (strcmp(key, "relay") == 0)
		return (set_str(c->relay, sizeof(c->relay), v));
	if (strcmp(key, "spool") == 0)
		return (set_str(c->spool, sizeof(c->spool), v));
	if (strcmp(key, "log_level") == 0) {
		if ((lvl = alog_level_parse(v)) < 0)
			return (-1);
		c->log_level = lvl;
		return (0);
	}
	if (strcmp(key, "credit") == 0)
		return (parse_u64(v, &c->credit));
	if (strcmp(key, "max_body") == 0)
		return (parse_u64(v, &c->max_body));
	if (strcmp(key, "heartbeat") == 0)
		return (aconf_parse_duration(v, &c->heartbeat_ms));
	if (strcmp(key, "reconnect") == 0)
		return (aconf_parse_duration(v, &c->reconnect_ms));
	if (strcmp(key, "reconnect_max") == 0)
		return (aconf_parse_duration(v, &c->reconnect_max_ms));
	if (strcmp(key, "refused_backoff") == 0)
		return (aconf_parse_duration(v, &c->refused_backoff_ms));
	if (strcmp(key, "retry") == 0)
		return (aconf_parse_duration(v, &c->retry_ms));
	if (strcmp(key, "retry_max") == 0)
		return (aconf_parse_duration(v, &c->retry_max_ms));
	if (strcmp(key, "spool_interval") == 0)
		return (aconf_parse_duration(v, &c->spool_ms));
	if (strcmp(key, "linger") == 0)
		return (aconf_parse_duration(v, &c->linger_ms));
	return (-2);
}

struct load_ctx {
	struct aconf *c;
	const char *path;
	int bad;
};

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *lc = user;
	int rc;

	if (strcmp(section, "agent") != 0) {
		fprintf(stderr, "ferry-agent: %s: unknown section [%s]\n",
		    lc->path, section);
		lc->bad = 1;
		return (1);
	}
	if ((rc = aconf_set(lc->c, name, value)) != 0) {
		fprintf(stderr, "ferry-agent: %s: %s key \"%s\"\n", lc->path,
		    rc == -2 ? "unknown" : "bad value for", name);
		lc->bad = 1;
	}
	return (1);
}

int
aconf_load(struct aconf *c, const char *path)
{
	struct load_ctx lc = { c, path, 0 };
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

int
aconf_check(const struct aconf *c)
{

	if (c->data[0] == '\0' || c->key[0] == '\0' || c->roster[0] == '\0' ||
	    c->roster_pin[0] == '\0') {
		fprintf(stderr, "ferry-agent: data, key, roster and roster_pin "
		    "must be set\n");
		return (-1);
	}
	if (c->relay[0] != '\0' && strncmp(c->relay, "tcp://", 6) != 0 &&
	    strncmp(c->relay, "ipc://", 6) != 0) {
		fprintf(stderr, "ferry-agent: relay must be tcp:// or ipc://\n");
		return (-1);
	}
	if (c->credit == 0 || c->credit > 100000 || c->heartbeat_ms == 0 ||
	    c->reconnect_ms == 0 || c->reconnect_max_ms < c->reconnect_ms ||
	    c->retry_ms == 0 || c->retry_max_ms < c->retry_ms ||
	    c->spool_ms == 0 || c->refused_backoff_ms == 0 ||
	    c->max_body == 0 || c->max_body > (1ULL << 30)) {
		fprintf(stderr, "ferry-agent: a limit is zero or out of range\n");
		return (-1);
	}
	return (0);
}
