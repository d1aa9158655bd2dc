/*
 * alog.h: ferry-agent's log lines: one line per event on stderr,
 *     2026-05-01T12:00:00.123Z INFO sent msg=... to=b
 * Identifiers, hashes, codes and counts only: never key material and never
 * referral content.
 */
#ifndef FERRY_ALOG_H
#define FERRY_ALOG_H

enum { ALOG_ERROR = 0, ALOG_WARN = 1, ALOG_INFO = 2, ALOG_DEBUG = 3 };

/** alog_set_level(level): lines above ${level} are not printed. */
void alog_set_level(int level);

/** alog_level_parse(s): "error", "warn", "info", "debug" to ALOG_*, or -1. */
int alog_level_parse(const char *s);

/** alog(level, event, fmt, ...): print one line "TIME LEVEL EVENT text" to stderr. */
void alog(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
