/*
 * rlog.c: ferry-relay's log lines: one line per event on stderr,
 *     2024-05-01T12:00:00.123Z INFO accepted msg=... from=a to=b
 * Identifiers, hashes, codes and counts only: never key material and
 * never message content.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "relay.h"

static int level = RLOG_INFO;
static const char *names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

/** rlog_set_level(level): print lines up to ${level}. */
void
rlog_set_level(int l)
{

	level = l;
}

/** rlog_enabled(l): 1 if ${l} is printed. */
int
rlog_enabled(int l)
{

	return (l <= level);
}

/** rlog(level, event, fmt, ...): one line to stderr. */
void
rlog(int l, const char *event, const char *fmt, ...)
{
	char line[2048], ts[32];
	struct timespec tv;
	struct tm tm;
	va_list ap;
	int n;

	if (l > level)
		return;
	if (clock_gettime(CLOCK_REALTIME, &tv) != 0 ||
	    gmtime_r(&tv.tv_sec, &tm) == NULL ||
	    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		ts[0] = '\0';
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s ", ts,
	    (long)(tv.tv_nsec / 1000000), names[l < 0 ? 0 : l > 3 ? 3 : l],
	    event);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line, so lines never interleave. */
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
}
