/*
 * alog.h: ferry-agent's log lines: one line per event on stderr,
 *     2026-05-01T12:00:00.123Z INFO sent msg=... to=b
 * Identifiers, hashes, codes and counts only: never key material and never
 * referral content.
 */
#ifndef FERRY_ALOG_H
#define FERRY_ALOG_H

#include <stddef.h>

enum { ALOG_ERROR = 0, ALOG_WARN = 1, ALOG_INFO = 2, ALOG_DEBUG = 3 };

/** alog_set_level(level): lines above ${level} are not printed. */
void alog_set_level(int level);

/**
 * alog_esc(out, cap, s, quote): ${s} made safe to print on one line for a
 * person, into ${out} (${cap} >= 16 bytes): C0 controls and DEL as \xNN,
 * C1 controls (U+0080..U+009F, UTF-8 c2 80..c2 9f) as \u00NN, with
 * ${quote} also '"' and '\' as \xNN (for a value printed inside "...");
 * cut with "..." when it does not fit.  Text chosen by another agency or
 * the relay then cannot forge a line, a field, or drive a terminal.
 * Shared by the agent's log lines and the ferry CLI.  Returns ${out}.
 */
const char *alog_esc(char *out, size_t cap, const char *s, int quote);

/**
 * alog(level, event, fmt, ...): print one line "TIME LEVEL EVENT text" to
 * stderr; control characters in the text are escaped (alog_esc), so no
 * value can break the line.  Values printed as key="..." that come from
 * elsewhere must also be escaped with ${quote} set by the caller.
 */
void alog(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
