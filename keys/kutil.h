/*
 * kutil.h: what every ferry-keys subcommand shares: reading files and
 * passphrases, loading identities and rosters, and printing errors.
 * Secrets never come from argv: a passphrase is read from a file
 * (--passphrase-file), the FERRY_PASSPHRASE environment variable, or the
 * controlling terminal, in that order.
 */
#ifndef KUTIL_H
#define KUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ident.h"
#include "roster.h"

#define KUTIL_DAY_MS (24ULL * 3600 * 1000)

/* Exit codes (STYLE.md): 0 ok, 1 failed check or error, 2 usage. */
#define KUTIL_OK 0
#define KUTIL_FAIL 1
#define KUTIL_USAGE 2

/**
 * kutil_err(what, rc): print "ferry-keys: ${what}: <strerror(rc)>" to
 * stderr; when ${what} is a file and ${rc} a permission or key-file error
 * (FERRY_EACCES, FERRY_EPERM, FERRY_EPASSPHRASE, FERRY_ENOPASSPHRASE), a
 * line naming the cause and what to do instead.
 */
void kutil_err(const char *what, int rc);

/**
 * kutil_owner_err(path): say why ${path} could not be rewritten
 * (FERRY_EACCES from ferry_write_file_owned): its folder is not writable
 * by this user (the atomic replace writes a new file there), or it could
 * not keep its owner and group: who owns it, and to run as that user or
 * as root.
 */
void kutil_owner_err(const char *path);

/**
 * kutil_passphrase(file, prompt, confirm, out): a passphrase for a key
 * file: from ${file} if not NULL, else from $FERRY_PASSPHRASE if set
 * (either by ident.h's rule: its first line, never empty), else (when
 * ${prompt} and a terminal is available) typed at the terminal without
 * echo, twice when ${confirm}, the terminal restored should a signal end
 * or stop the process meanwhile.  *${out} is sodium_malloc'd (free with
 * kutil_passphrase_free) or NULL when none was given (no prompt
 * possible, or an empty answer at the terminal).  An empty file, first
 * line or variable: FERRY_EINVAL (kutil_pass_err names the source).
 * With ${confirm} (a new key) and no terminal, prints a one-line warning
 * that the key is written unsealed.  Returns 0 or an error.
 */
int kutil_passphrase(const char *file, int prompt, int confirm, char **out);

/**
 * kutil_pass_err(file, rc): say why kutil_passphrase(${file}, ...)
 * failed with ${rc} (typed twice differently, a passphrase file group or
 * others may read, ...) on stderr.
 */
void kutil_pass_err(const char *file, int rc);

/** kutil_passphrase_free(p): wipe and free; no-op on NULL. */
void kutil_passphrase_free(char *p);

/**
 * kutil_load_ident(path, passfile, out): load a secret key file, asking
 * for its passphrase only if it is sealed.  On failure says why on
 * stderr (the key file's problem, or the passphrase's).
 */
int kutil_load_ident(const char *path, const char *passfile,
    struct ident **out);

/** kutil_read(path, max, buf, len): whole public file (free with free()). */
int kutil_read(const char *path, size_t max, uint8_t **buf, size_t *len);

/** kutil_load_roster(path, out): read and parse (not verify) a roster file. */
int kutil_load_roster(const char *path, struct roster **out);

/**
 * kutil_write_new(path, buf, len, mode): write ${path}, refusing to
 * replace an existing file (FERRY_EEXIST).
 */
int kutil_write_new(const char *path, const uint8_t *buf, size_t len,
    int mode);

/** kutil_save_roster(r, path, replace): roster_bytes of ${r} to ${path}. */
int kutil_save_roster(const struct roster *r, const char *path, int replace);

/** kutil_days(s, ms): parse a whole number of days into milliseconds; 0 or -1. */
int kutil_days(const char *s, uint64_t *ms);

/** kutil_u64(s, v): parse a decimal uint64; 0 or -1. */
int kutil_u64(const char *s, uint64_t *v);

/**
 * kutil_now(): ferry_now_ms(); in test builds only (-DFERRY_FAULTS, as the
 * daemons' test clock) $FERRY_KEYS_NOW_MS when set.
 */
uint64_t kutil_now(void);

/** kutil_path(buf, cap, dir, name, ext): "${dir}/${name}${ext}"; 0 or -1 if too long. */
int kutil_path(char *buf, size_t cap, const char *dir, const char *name,
    const char *ext);

#endif
