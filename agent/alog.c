/*
 * alog.c: ferry-agent's log lines (see alog.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alog.h"

static int level = ALOG_INFO;
static const char *names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void
alog_set_level(int l)
{

	level = l;
}

const char *
alog_esc(char *out, size_t cap, const char *s, int quote)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	if (cap < 16) {
		if (cap > 0)
			out[0] = '\0';
		return (out);
	}
	for (; *p != '\0' && n + 10 < cap; p++) {
		if (*p < 0x20 || *p == 0x7f ||
		    (quote && (*p == '"' || *p == '\\')))
			n += (size_t)snprintf(out + n, cap - n, "\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x",
			    p[1]);
			p++;
		} else
			out[n++] = (char)*p;
	}
	if (*p != '\0') {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return (out);
}

void
alog(int l, const char *event, const char *fmt, ...)
{
	char line[2048], safe[8192], ts[32];
	struct timespec tv;
	struct tm tm;
	va_list ap;
	int n;

	if (l > level || l < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &tv);
	gmtime_r(&tv.tv_sec, &tm);
	if (strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		ts[0] = '\0';
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		line[0] = '\0';
	fprintf(stderr, "%s.%03ldZ %s %s %s\n", ts, tv.tv_nsec / 1000000,
	    names[l], event, alog_esc(safe, sizeof(safe), line, 0));
	fflush(stderr);
}
