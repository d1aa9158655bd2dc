/*
 * ferry.h: what every part of libferry shares: error codes, limits, and
 * small helpers.  proto/ never prints and never exits: every function
 * returns 0 (or a length/count >= 0) on success and a negative FERRY_E*
 * code on failure; ferry_strerror() names it.
 */
#ifndef FERRY_H
#define FERRY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Error codes.  Numbers are part of the wire protocol (NACK carries them),
 * so they never change meaning; new codes are appended in their block.
 * docs/protocol.md lists them all.
 */
enum ferry_err {
	FERRY_OK = 0,
	/* 1..19: general */
	FERRY_ENOMEM = -1,	/* out of memory */
	FERRY_EINVAL = -2,	/* invalid argument */
	FERRY_EIO = -3,		/* I/O error (errno has details) */
	FERRY_ENOENT = -4,	/* no such file, entry or agency */
	FERRY_EEXIST = -5,	/* already exists */
	FERRY_EPERM = -6,	/* key file readable by group or others */
	FERRY_ESODIUM = -7,	/* libsodium primitive failed */
	FERRY_ENOSPC = -8,	/* disk or map full; nothing was written */
	FERRY_EINTERNAL = -9,	/* internal invariant broken */
	FERRY_EPASSPHRASE = -10,	/* wrong passphrase for a sealed key */
	FERRY_EBADID = -11,	/* agency id not [a-z0-9-]{1,64} */
	FERRY_EBADKEYFILE = -12,	/* key file malformed */
	FERRY_EACCES = -13,	/* permission denied (file or folder) */
	FERRY_ENOPASSPHRASE = -14,	/* sealed key file, no passphrase given */
	FERRY_ENOUNIT = -15,	/* a configured duration without its unit */
	/* 20..39: decoding untrusted bytes */
	FERRY_ETRUNCATED = -20,	/* input ends inside a value */
	FERRY_ETRAILING = -21,	/* bytes after the value */
	FERRY_EDUPKEY = -22,	/* map key repeated */
	FERRY_EUNKNOWNFIELD = -23,	/* map key not in the schema */
	FERRY_EMISSING = -24,	/* required field absent */
	FERRY_ETYPE = -25,	/* value of the wrong msgpack type */
	FERRY_ETOOBIG = -26,	/* value, body or frame over its limit */
	FERRY_ENESTING = -27,	/* containers nested too deep */
	FERRY_ENONCANON = -28,	/* not the one canonical encoding */
	FERRY_EVERSION = -29,	/* unknown protocol version */
	FERRY_EMSGTYPE = -30,	/* unknown message type */
	FERRY_EBADVALUE = -31,	/* field out of range (length, id, enum) */
	FERRY_EMALFORMED = -32,	/* not msgpack at all / reserved byte */
	/* 40..59: cryptography */
	FERRY_EBADSIG = -40,	/* signature does not verify */
	FERRY_EDECRYPT = -41,	/* content key unwrap or AEAD open failed */
	FERRY_EWRONGKEY = -42,	/* sealed to a key id we do not hold */
	FERRY_ECOMMIT = -43,	/* plaintext commitment mismatch */
	FERRY_EPADDING = -44,	/* padding invalid after decryption */
	FERRY_ENOTFORUS = -45,	/* recipient is not this agency */
	/* 60..79: roster */
	FERRY_ETHRESHOLD = -60,	/* too few distinct admin signatures */
	FERRY_EROLLBACK = -61,	/* version not exactly previous + 1 */
	FERRY_EEXPIRED = -62,	/* roster or key past its expiry */
	FERRY_EREVOKED = -63,	/* agency is revoked */
	FERRY_EUNKNOWNAGENCY = -64,	/* agency not in the roster */
	FERRY_EPOP = -65,	/* key request's proof of possession fails */
	FERRY_EDUPAGENCY = -66,	/* agency id or key already in the roster */
	FERRY_EPIN = -67,	/* genesis roster does not match the pinned fingerprint */
	FERRY_ENOTADMIN = -68,	/* signature by a key that is not an admin */
	FERRY_EDUPSIG = -69,	/* the same admin signed twice */
	FERRY_EKEYWINDOW = -70,	/* encryption key outside its validity window */
	/* 80..99: log */
	FERRY_ELOGCORRUPT = -80,	/* stored entry or hash does not match */
	FERRY_EINCONSISTENT = -81,	/* checkpoints not consistent (fork/rewrite) */
	FERRY_EBADPROOF = -82,	/* inclusion or consistency proof fails */
	FERRY_ELMDB = -83,	/* LMDB error other than map full */
	FERRY_EDUPMSG = -84,	/* message id already logged */
	/* 100..119: relay and delivery (NACK reasons) */
	FERRY_ESENDER = -100,	/* envelope sender is not the authenticated agency */
	FERRY_ERECIPIENT = -101,	/* recipient unknown or not active */
	FERRY_EQUEUEFULL = -102,	/* recipient's queue is over its limit */
	FERRY_EEXPIREDMSG = -103,	/* message not delivered before expiry */
	FERRY_EFRAMES = -104,	/* wrong number of frames */
	FERRY_ENOCREDIT = -105,	/* peer has no credit */
	FERRY_EUNAUTH = -106,	/* no authenticated User-Id */
	FERRY_EREFUSED = -107,	/* transport key refused at the handshake */
	FERRY_ETIMEOUT = -108,	/* no answer in time */
	FERRY_ENOTHELD = -109,	/* the relay holds no record of the message */
	FERRY_EPURGED = -110,	/* purged by the relay's operator: recipient revoked */
	FERRY_EBACKLOG = -111,	/* our undelivered messages to the recipient over max_backlog */
	/* 120..139: referral documents (agent) */
	FERRY_EJSON = -120,	/* not valid JSON */
	FERRY_ESCHEMA = -121,	/* JSON does not satisfy the referral schema */
	FERRY_ECONSENT = -122,	/* required consent missing */
};

/** ferry_strerror(code): a fixed English sentence naming ${code}. */
const char *ferry_strerror(int code);

/** ferry_errname(code): the symbolic name of ${code}, e.g. "FERRY_EBADSIG". */
const char *ferry_errname(int code);

/* The release, as every program's --version prints it. */
#define FERRY_VERSION "0.2.0"

/* Limits. */
#define FERRY_ID_MAX 64			/* agency id, bytes */
#define FERRY_NAME_MAX 128		/* display name, bytes */
#define FERRY_BODY_MAX_DEFAULT (32u * 1024 * 1024)	/* plaintext referral */
#define FERRY_MSGID_LEN 16
#define FERRY_HASH_LEN 32

/** ferry_id_valid(id, len): 1 if ${id} is [a-z0-9-]{1,64}, else 0. */
int ferry_id_valid(const char *id, size_t len);

/**
 * ferry_now_ms(): wall-clock time, milliseconds since the Unix epoch.
 * Test clock: in builds with -DFERRY_FAULTS only (the test builds, never
 * a release build), $FERRY_TEST_CLOCK_OFFSET seconds (signed, read once)
 * are added, so that a test can run one process days ahead, e.g. an
 * agent near its roster's expiry or past a retention period.
 */
uint64_t ferry_now_ms(void);
/** ferry_wall_ms(): the wall clock, never moved. */
uint64_t ferry_wall_ms(void);

/**
 * ferry_utc(buf, cap, ms): ${ms} (since the epoch) as ISO 8601 UTC with
 * milliseconds, "2026-01-31T09:05:07.123Z", into ${buf} (24 bytes are
 * enough); "-" for 0.  Returns ${buf}.
 */
char *ferry_utc(char *buf, size_t cap, uint64_t ms);

/**
 * ferry_utc_s(buf, cap, ms): ${ms} as ISO 8601 UTC to the second,
 * "2026-01-31T09:05:07Z" (21 bytes are enough); "-" for 0.  Returns ${buf}.
 */
char *ferry_utc_s(char *buf, size_t cap, uint64_t ms);

/**
 * ferry_parse_utc(s, ms): an ISO 8601 UTC time "YYYY-MM-DD", or with
 * "THH:MM[:SS[.mmm]]" and an optional "Z" (a space may stand for the T),
 * or a bare number of milliseconds since the epoch, into *${ms}.
 * FERRY_EINVAL for anything else (no other zone, no out-of-range field).
 */
int ferry_parse_utc(const char *s, uint64_t *ms);

/**
 * ferry_no_core_dumps(): for a daemon holding keys: RLIMIT_CORE 0 (soft and
 * hard) and prctl(PR_SET_DUMPABLE, 0), so no core file, ptrace by other
 * users or /proc/PID/mem read can take key material.  Prints nothing.
 * 0 or FERRY_EIO (one of the two calls failed; the other was still made).
 */
int ferry_no_core_dumps(void);

/**
 * ferry_write_file(path, buf, len, mode): write ${buf} to ${path} atomically
 * (temporary file in the same folder, fsync, rename, fsync of the folder),
 * created with ${mode}.  The temporary file (${path}.tmp.PID) is created
 * anew, O_EXCL|O_NOFOLLOW, after removing any stale one.  Returns 0 or
 * FERRY_EIO, FERRY_ENOSPC.
 */
int ferry_write_file(const char *path, const void *buf, size_t len, int mode);

/**
 * ferry_write_file_owned(path, buf, len, mode): as ferry_write_file, but
 * a file replaced keeps its owner and group (the temporary file is
 * fchown'ed before the rename), so that root rewriting an agency's key
 * file does not hand it to root.  FERRY_EACCES, and nothing changed, if
 * the owner cannot be kept (not root, the file another user's).
 */
int ferry_write_file_owned(const char *path, const void *buf, size_t len,
    int mode);

/**
 * ferry_write_file_unsynced(path, buf, len, mode): as ferry_write_file
 * (a reader sees the old file or the new one whole, never a part), but
 * with no fsync of the file or its folder: for a file rewritten every few
 * seconds whose loss in a power cut is harmless (metrics.prom), so that
 * writing it costs the daemon's loop no sync.  After a power cut it may
 * be the previous version, or empty, until the next write.
 */
int ferry_write_file_unsynced(const char *path, const void *buf, size_t len,
    int mode);

/**
 * ferry_write_file_new(path, buf, len, mode): as ferry_write_file, but
 * never replaces: the synced temporary file is hard-linked to ${path},
 * which fails atomically if anything (a file, a dangling link) is there:
 * FERRY_EEXIST, and nothing is changed.
 */
int ferry_write_file_new(const char *path, const void *buf, size_t len,
    int mode);

/**
 * ferry_write_tmp(path, buf, len, mode, tmp, cap): the first half of
 * ferry_write_file, for writers that make several files durable together:
 * ${buf} written to the new temporary file ${path}.tmp.PID (its name put
 * in ${tmp}, of ${cap} bytes), NOT synced, nothing renamed.  The caller
 * makes the whole group durable at once (one syncfs(2) of the folder's
 * filesystem, agentd_spool.c) before it renames any ${tmp} to its
 * ${path} (or removes it), then syncs the folder once for all its files
 * (ferry_fsync_dir).  Errors as ferry_write_file; on error no temporary
 * file is left.
 */
int ferry_write_tmp(const char *path, const void *buf, size_t len, int mode,
    char *tmp, size_t cap);

/** ferry_fsync_dir(dir): fsync the folder ${dir} (its entries durable); 0 or FERRY_EIO. */
int ferry_fsync_dir(const char *dir);

/**
 * ferry_read_file(path, max, buf, len, flags): read a whole regular file
 * of at most ${max} bytes into a new buffer (*${buf}, free with free(), or
 * with sodium_free() when FERRY_READ_SECRET).  ${flags}: FERRY_READ_SECRET
 * (1): the file must not be readable or writable by group or others
 * (FERRY_EPERM) and the buffer is sodium_malloc'd; FERRY_READ_NOFOLLOW
 * (2): a symbolic link is not followed (FERRY_EIO), for files others may
 * place (the spool's outbox/).  A FIFO or device never blocks the open:
 * it is no regular file (FERRY_EIO).  FERRY_ENOENT: no such file;
 * FERRY_EACCES: the file, or a folder on its path, may not be read by this
 * user; FERRY_ETOOBIG: larger than ${max}; FERRY_EIO otherwise.
 */
#define FERRY_READ_SECRET 1
#define FERRY_READ_NOFOLLOW 2
int ferry_read_file(const char *path, size_t max, uint8_t **buf, size_t *len,
    int flags);
/** ferry_read_file_id(...,fid): likewise, and the file read's device and
 * inode in ${fid} (NULL: not wanted): which file a name held when read. */
int ferry_read_file_id(const char *path, size_t max, uint8_t **buf,
    size_t *len, int flags, uint64_t fid[2]);

/**
 * ferry_owner(path, out, cap): the name of the user owning ${path} (or
 * "uid N" when it has none) into ${out}, for messages that say whom to
 * run as; when a folder on the way may not be searched, the owner of the
 * nearest folder above that can be looked at (the one keeping this user
 * out).  0, FERRY_ENOENT, FERRY_EACCES (nothing on the path could be
 * looked at), FERRY_EINVAL (path too long), FERRY_EIO.
 */
int ferry_owner(const char *path, char *out, size_t cap);

/**
 * ferry_data_why(folder, path, what, e, out, cap): why ${path} (the data
 * folder ${folder} itself, or a file in it) could not be made or opened
 * (${what}: "cannot create", "cannot open"; errno ${e}) and what to do,
 * as one line for a person: the folder above missing; another user's
 * folder (whose, and chown -R to this user; never "run as root"); a
 * folder this user may not create (whose parent, and install -d -o).
 */
void ferry_data_why(const char *folder, const char *path, const char *what,
    int e, char *out, size_t cap);

/**
 * ferry_parse_dec(s, n, v): the ${n} bytes of ${s} as a canonical decimal
 * uint64 (digits only, no sign, no leading zero except "0" itself, at
 * most UINT64_MAX) into *${v}.  0 or FERRY_EBADVALUE.
 */
int ferry_parse_dec(const char *s, size_t n, uint64_t *v);

/**
 * ferry_sha256(out, in, len): SHA-256 of ${in} (proto/sha256.c): with the
 * CPU's SHA extensions when it has them, else libsodium's; the same
 * digest.  ferry_sha256_impl() names the one in use ("sha-ni" or
 * "libsodium"); ferry_sha256_portable() is always libsodium's.
 */
void ferry_sha256(uint8_t out[32], const uint8_t *in, size_t len);
const char *ferry_sha256_impl(void);
void ferry_sha256_portable(uint8_t out[32], const uint8_t *in, size_t len);

/** ferry_hex(out, in, len): lowercase hex of ${in} into ${out} (2*len+1). */
void ferry_hex(char *out, const uint8_t *in, size_t len);

/** ferry_unhex(out, outlen, hex): parse exactly 2*outlen hex digits; 0 or FERRY_EINVAL. */
int ferry_unhex(uint8_t *out, size_t outlen, const char *hex);

/**
 * ferry_unbase64(out, cap, s, len, outlen): decode the ${len} characters
 * of ${s} as standard base64 (RFC 4648 section 4: '+' '/', '=' padding to
 * a multiple of 4, no whitespace) into ${out} (at most ${cap} bytes),
 * the decoded length to *${outlen}.  Only the one canonical text of a
 * value is accepted: missing or extra padding, padding bits that are not
 * zero, other characters (NUL included) or trailing bytes are
 * FERRY_EBADVALUE; output over ${cap}: FERRY_ETOOBIG.  Empty input
 * decodes to 0 bytes.
 */
int ferry_unbase64(uint8_t *out, size_t cap, const char *s, size_t len,
    size_t *outlen);

/**
 * ferry_parse_u64(s, out): ${s}, decimal digits and nothing after (leading
 * zeros allowed, at most UINT64_MAX), into *${out}.  0 or FERRY_EBADVALUE.
 */
int ferry_parse_u64(const char *s, uint64_t *out);

/**
 * ferry_parse_size(s, out): a byte count "123", "123B", "4K" or "4KiB",
 * "32M" or "32MiB", "64G" or "64GiB" (powers of 1024) into *${out}.
 * 0, or FERRY_EBADVALUE for another suffix or a product over UINT64_MAX.
 */
int ferry_parse_size(const char *s, uint64_t *out);

/**
 * ferry_parse_duration(s, out): a duration "250ms", "30s", "10m", "2h" or
 * "5d" into *${out} milliseconds; the one rule of every program's
 * configuration and flags.  0; FERRY_ENOUNIT for a bare number (the unit
 * is required: it once meant milliseconds to the agent and seconds to the
 * relay); FERRY_EBADVALUE for another suffix or a product over UINT64_MAX.
 */
int ferry_parse_duration(const char *s, uint64_t *out);

/** ferry_parse_log_level(s): "error" 0, "warn" 1, "info" 2, "debug" 3, else FERRY_EBADVALUE. */
int ferry_parse_log_level(const char *s);

/* Value types of a configuration key (struct ferry_conf_key). */
enum {
	FERRY_CONF_STR,		/* char[cap], may be empty */
	FERRY_CONF_STR1,	/* char[cap], not empty */
	FERRY_CONF_U64,		/* uint64_t, ferry_parse_u64 */
	FERRY_CONF_SIZE,	/* uint64_t, ferry_parse_size */
	FERRY_CONF_DURATION,	/* uint64_t ms, ferry_parse_duration */
	FERRY_CONF_LEVEL	/* int, ferry_parse_log_level */
};

/* One configuration key: its name, type and place in the struct. */
struct ferry_conf_key {
	const char *name;
	int type;		/* FERRY_CONF_* */
	size_t off;		/* offsetof the field */
	size_t cap;		/* FERRY_CONF_STR*: sizeof the field */
};

/*
 * Fault injection for tests (issue 13): compiled in only with
 * -DFERRY_FAULTS (the sanitizer builds of `make test`), so release builds
 * have none.  FERRY_FAULT="POINT=ACTION@N[,POINT=ACTION@N...]" in the
 * environment: at the Nth time a process passes POINT (N = 0 or absent:
 * every time), ACTION happens: "kill" raises SIGKILL there (a crash
 * losing all that was not committed), "stall" sleeps FERRY_FAULT_STALL_S
 * seconds there (a commit slower than the CLI's timeout), "fail" makes FERRY_FAULT(POINT)
 * return 1, which the caller treats as the failure it documents (a send
 * that found the pipe full, a lost route).  FERRY_FAULT(POINT) is 0
 * otherwise, and always 0 without FERRY_FAULTS.  Each hit prints one line
 * "ferry-fault: POINT=ACTION hit=N" to stderr (test builds only: the one
 * place proto/ prints).  The points are listed in docs/protocol.md 6.5.
 */
#define FERRY_FAULT_STALL_S 8
#ifdef FERRY_FAULTS
/** ferry_fault(point): 1 to fail at ${point}; may not return (kill). */
int ferry_fault(const char *point);
#define FERRY_FAULT(point) ferry_fault(point)
#else
#define FERRY_FAULT(point) 0
#endif

/**
 * ferry_conf_set(keys, base, key, value): set the field of the struct at
 * ${base} that ${key} names in the table ${keys} (ended by a NULL name)
 * from the text ${value}.  0; FERRY_ENOENT if no entry is named ${key};
 * FERRY_EBADVALUE if ${value} does not parse or a string does not fit
 * (the field is then unchanged).
 */
int ferry_conf_set(const struct ferry_conf_key *keys, void *base,
    const char *key, const char *value);

/**
 * ferry_conf_load_set(keys, base, seen, key, value): ferry_conf_set for a
 * line of a configuration file; FERRY_EDUPKEY if ${key} was set already
 * through the same ${seen} (one bit per entry of ${keys}, zeroed by the
 * caller before the file; a table has at most 64 entries).  A key given
 * twice is refused rather than the last one winning unseen: with inih, a
 * line that starts with a space or tab also sets its key again (it
 * continues the value above it).
 */
int ferry_conf_load_set(const struct ferry_conf_key *keys, void *base,
    uint64_t *seen, const char *key, const char *value);

/**
 * ferry_conf_why(out, n, key, value, rc): what is wrong with "${key} =
 * ${value}", which ferry_conf_set or ferry_conf_load_set refused with
 * ${rc}, as one line for a person: 'unknown key "K"', 'bad value for key
 * "K"', 'K = 30: a duration needs a unit (ms, s, m, h or d), e.g. 30s',
 * or 'key "K" is set more than once ...'.
 */
void ferry_conf_why(char *out, size_t n, const char *key, const char *value,
    int rc);

#endif
