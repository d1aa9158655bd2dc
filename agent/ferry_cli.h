/*
 * ferry_cli.h: what the files of the `ferry` command share (ferry.c: the
 * connection to the agent, printing and options, main; ferry_inbox.c:
 * inbox, ack, outbox, thread; ferry_records.c: erase, export).  Not part
 * of the agent's library.
 */
#ifndef FERRY_CMD_CLI_H
#define FERRY_CMD_CLI_H

#include <stddef.h>

#include <jansson.h>

/**
 * call(req, doc, doclen, reply, body): send request ${req} (and document
 * ${doc}, ${doclen} bytes, if not NULL) to the agent's control socket and
 * wait for its answer *${reply} (and a second frame *${body} if not
 * NULL, NUL-terminated).  Prints its own errors; 0, 1, or 2 (no data
 * folder: a usage error).
 */
int call(json_t *req, const void *doc, size_t doclen, json_t **reply,
    char **body);

/** print_fail(r): an error answer ${r} on stderr; its exit status (1, or 3 for FERRY_EBACKLOG). */
int print_fail(json_t *r);

/** is_ok(r): is answer ${r} "ok"? */
int is_ok(json_t *r);

/** fmt_time(out, cap, v): JSON ms ${v} as ISO 8601 UTC, "-" for none. */
void fmt_time(char *out, size_t cap, json_t *v);

/** fmt_ms(out, cap, ms): ${ms} as ISO 8601 UTC, "-" for none. */
void fmt_ms(char *out, size_t cap, json_int_t ms);

/** raw(o, k): string ${k} of ${o} as sent, "-" if absent or empty. */
const char *raw(json_t *o, const char *k);

/** esc(s): ${s} with controls shown as escapes (nothing received
 * drives the terminal), in one of a few static buffers. */
const char *esc(const char *s);

/** str(o, k): string member ${k} of ${o}, escaped (esc). */
const char *str(json_t *o, const char *k);

/** print_json(r): answer ${r} as indented JSON on stdout; 0. */
int print_json(json_t *r);

/** operands(argc, argv, lo, hi, what): -1 to go on, else exit status. */
int operands(int argc, char **argv, int lo, int hi, const char *what);

/** msgid_operand(s): -1 if ${s} is 32 hex digits, else usage (exit 2). */
int msgid_operand(const char *s);

/** json_opt(argc, argv, js, lo, hi, what): [--json] then operands. */
int json_opt(int argc, char **argv, int *js, int lo, int hi,
    const char *what);

/** parse_utc_arg(s, ms): ISO 8601 UTC date or time ${s} in ms; 0 or -1. */
int parse_utc_arg(const char *s, json_int_t *ms);

/* The commands of ferry_inbox.c and ferry_records.c. */
int c_inbox(int argc, char **argv);
int c_ack(int argc, char **argv);
int c_outbox(int argc, char **argv);
int c_thread(int argc, char **argv);
int c_erase(int argc, char **argv);
int c_export(int argc, char **argv);

#endif
