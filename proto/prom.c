/*
 * prom.c: the Prometheus text format, built in memory and written
 * atomically (prom.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "ferry.h"
#include "prom.h"

struct prom {
	char *buf;
	size_t len, cap;
	int err;
};

struct prom *
prom_new(void)
{
	struct prom *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	p->cap = 4096;
	if ((p->buf = malloc(p->cap)) == NULL) {
		free(p);
		return (NULL);
	}
	p->buf[0] = '\0';
	return (p);
}

void
prom_free(struct prom *p)
{

	if (p == NULL)
		return;
	free(p->buf);
	free(p);
}

static void
outf(struct prom *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
outf(struct prom *p, const char *fmt, ...)
{
	va_list ap;
	size_t ncap;
	char *nb;
	int n;

	if (p->err)
		return;
	/* Bounded: the second try has room for all of it. */
	for (int tries = 0; tries < 2; tries++) {
		va_start(ap, fmt);
		n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			break;
		if ((size_t)n < p->cap - p->len) {
			p->len += (size_t)n;
			return;
		}
		ncap = p->cap * 2 + (size_t)n;
		if ((nb = realloc(p->buf, ncap)) == NULL)
			break;
		p->buf = nb;
		p->cap = ncap;
	}
	p->err = 1;
}

void
prom_head(struct prom *p, const char *name, const char *help,
    const char *type)
{

	outf(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
prom_sample(struct prom *p, const char *name, const char *label,
    const char *value, int64_t v)
{

	if (label != NULL)
		outf(p, "%s{%s=\"%s\"} %lld\n", name, label, value,
		    (long long)v);
	else
		outf(p, "%s %lld\n", name, (long long)v);
}

void
prom_sample_ms(struct prom *p, const char *name, const char *label,
    const char *value, uint64_t ms)
{

	outf(p, "%s{%s=\"%s\"} %llu.%03llu\n", name, label, value,
	    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
}

void
prom_u64(struct prom *p, const char *name, const char *help,
    const char *type, uint64_t v)
{

	prom_head(p, name, help, type);
	outf(p, "%s %llu\n", name, (unsigned long long)v);
}

void
prom_i64(struct prom *p, const char *name, const char *help,
    const char *type, int64_t v)
{

	prom_head(p, name, help, type);
	prom_sample(p, name, NULL, NULL, v);
}

int
prom_write(const struct prom *p, const char *path)
{

	if (p->err)
		return (FERRY_ENOMEM);
	/* Rewritten every metrics_interval: a sync each time would stall
	 * the daemon's loop and queue behind its commits for a file whose
	 * loss in a power cut costs nothing (the next write replaces it). */
	return (ferry_write_file_unsynced(path, p->buf, p->len, 0644));
}
