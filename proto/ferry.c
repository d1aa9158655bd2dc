/*
 * ferry.c: error names and the small shared helpers of ferry.h.
 */
#include "ferry.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

static const struct {
	int code;
	const char *name;
	const char *text;
} errtab[] = {
#define E(c, t) { c, #c, t }
	E(FERRY_OK, "success"),
	E(FERRY_ENOMEM, "out of memory"),
	E(FERRY_EINVAL, "invalid argument"),
	E(FERRY_EIO, "input/output error"),
	E(FERRY_ENOENT, "no such file, entry or agency"),
	E(FERRY_EEXIST, "already exists"),
	E(FERRY_EPERM, "key file is accessible by group or others (must be 0600)"),
	E(FERRY_ESODIUM, "cryptographic primitive failed"),
	E(FERRY_ENOSPC, "no space left (disk or database map full); nothing was written"),
	E(FERRY_EINTERNAL, "internal error"),
	E(FERRY_EPASSPHRASE, "wrong passphrase for sealed key file"),
	E(FERRY_EBADID, "agency id must be 1-64 of [a-z0-9-]"),
	E(FERRY_EBADKEYFILE, "key file is malformed"),
	E(FERRY_EACCES, "permission denied"),
	E(FERRY_ENOPASSPHRASE, "key file is sealed with a passphrase, and none was given"),
	E(FERRY_ENOUNIT, "a duration needs a unit (ms, s, m, h or d)"),
	E(FERRY_ETRUNCATED, "truncated input"),
	E(FERRY_ETRAILING, "trailing bytes after the message"),
	E(FERRY_EDUPKEY, "duplicate map key"),
	E(FERRY_EUNKNOWNFIELD, "unknown field"),
	E(FERRY_EMISSING, "required field missing"),
	E(FERRY_ETYPE, "field has the wrong type"),
	E(FERRY_ETOOBIG, "value, body or frame too large"),
	E(FERRY_ENESTING, "nesting too deep"),
	E(FERRY_ENONCANON, "non-canonical encoding"),
	E(FERRY_EVERSION, "unknown protocol version"),
	E(FERRY_EMSGTYPE, "unknown message type"),
	E(FERRY_EBADVALUE, "field value out of range"),
	E(FERRY_EMALFORMED, "malformed msgpack"),
	E(FERRY_EBADSIG, "signature does not verify"),
	E(FERRY_EDECRYPT, "decryption failed (wrong key or tampered ciphertext)"),
	E(FERRY_EWRONGKEY, "sealed to an encryption key this agency does not hold"),
	E(FERRY_ECOMMIT, "plaintext commitment does not match"),
	E(FERRY_EPADDING, "invalid padding"),
	E(FERRY_ENOTFORUS, "message is addressed to another agency"),
	E(FERRY_ETHRESHOLD, "not enough admin signatures"),
	E(FERRY_EROLLBACK, "roster version is not the next one (rollback or skip)"),
	E(FERRY_EEXPIRED, "expired"),
	E(FERRY_EREVOKED, "agency is revoked"),
	E(FERRY_EUNKNOWNAGENCY, "agency is not in the roster"),
	E(FERRY_EPOP, "key request proof of possession does not verify"),
	E(FERRY_EDUPAGENCY, "agency id or key already in the roster"),
	E(FERRY_EPIN, "roster does not match the pinned fingerprint"),
	E(FERRY_ENOTADMIN, "signature by a key that is not an admin"),
	E(FERRY_EDUPSIG, "the same admin key signed more than once"),
	E(FERRY_EKEYWINDOW, "encryption key outside its validity window"),
	E(FERRY_ELOGCORRUPT, "log entry or hash does not match (log corrupted or altered)"),
	E(FERRY_EINCONSISTENT, "checkpoints are not consistent (history rewritten or forked)"),
	E(FERRY_EBADPROOF, "proof does not verify"),
	E(FERRY_ELMDB, "database error"),
	E(FERRY_EDUPMSG, "message id already logged"),
	E(FERRY_ESENDER, "envelope sender is not the authenticated agency"),
	E(FERRY_ERECIPIENT, "recipient unknown or not active"),
	E(FERRY_EQUEUEFULL, "recipient queue full"),
	E(FERRY_EEXPIREDMSG, "message expired before delivery"),
	E(FERRY_EFRAMES, "wrong number of frames"),
	E(FERRY_ENOCREDIT, "no credit"),
	E(FERRY_EUNAUTH, "connection not authenticated"),
	E(FERRY_EREFUSED, "transport key refused by the relay"),
	E(FERRY_ETIMEOUT, "timed out"),
	E(FERRY_EPURGED, "purged from the relay's queue: its recipient was revoked"),
	E(FERRY_ENOTHELD, "the relay holds no record of this message"),
	E(FERRY_EBACKLOG, "too many of our messages to this recipient are undelivered (max_backlog)"),
	E(FERRY_EJSON, "not valid JSON"),
	E(FERRY_ESCHEMA, "referral does not satisfy the schema"),
	E(FERRY_ECONSENT, "required consent missing"),
#undef E
};

const char *
ferry_strerror(int code)
{
	size_t i;

	for (i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].code == code)
			return (errtab[i].text);
	return ("unknown error");
}

const char *
ferry_errname(int code)
{
	size_t i;

	for (i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].code == code)
			return (errtab[i].name);
	return ("FERRY_E?");
}

int
ferry_id_valid(const char *id, size_t len)
{
	size_t i;

	if (id == NULL || len == 0 || len > FERRY_ID_MAX)
		return (0);
	for (i = 0; i < len; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return (0);
	}
	return (1);
}

/*
 * Test builds only (-DFERRY_FAULTS, never a release): the wall clock moved
 * by $FERRY_TEST_CLOCK_OFFSET seconds (a signed integer, read once), so a
 * scenario can run retention or expiry warnings days or years ahead.  The
 * one place it is read; 0 when unset or not a number.
 */
static int64_t
clock_offset_ms(void)
{
#ifdef FERRY_FAULTS
	static int64_t off;
	static int read;
	const char *s;
	char *end;
	long long v;

	if (read)
		return (off);
	read = 1;
	if ((s = getenv("FERRY_TEST_CLOCK_OFFSET")) == NULL || *s == '\0')
		return (0);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > 1000000000LL ||
	    v < -1000000000LL)
		return (0);
	off = (int64_t)v * 1000;
	return (off);
#else
	return (0);
#endif
}

/* The real wall clock, ms since the epoch. */
uint64_t
ferry_wall_ms(void)
{
	struct timespec ts;
	time_t t;

	/* CLOCK_REALTIME cannot fail on Linux; should it, time() is the
	 * same clock to the second, rather than garbage from ${ts}. */
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
		if ((t = time(NULL)) == (time_t)-1)
			return (0);
		return ((uint64_t)t * 1000);
	}
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

uint64_t
ferry_now_ms(void)
{
	int64_t off = clock_offset_ms();
	uint64_t t = ferry_wall_ms();

	if (off < 0 && (uint64_t)0 - (uint64_t)off > t)
		return (0);
	return (t + (uint64_t)off);
}

/* ${ms} as "YYYY-MM-DDTHH:MM:SS" into ${sec}; 0, or -1 ("-" for 0). */
static int
utc_sec(char sec[24], uint64_t ms)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	if (ms == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(sec, 24, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(sec, 24, "%s", ms == 0 ? "-" : "?");
		return (-1);
	}
	return (0);
}

char *
ferry_utc(char *buf, size_t cap, uint64_t ms)
{
	char sec[24];

	if (utc_sec(sec, ms) != 0)
		snprintf(buf, cap, "%s", sec);
	else
		snprintf(buf, cap, "%s.%03uZ", sec, (unsigned)(ms % 1000));
	return (buf);
}

char *
ferry_utc_s(char *buf, size_t cap, uint64_t ms)
{
	char sec[24];

	snprintf(buf, cap, utc_sec(sec, ms) != 0 ? "%s" : "%sZ", sec);
	return (buf);
}

/* ${n} digits of ${s} as a number in [lo, hi] into *${v}; 0 or -1. */
static int
utc_field(const char *s, int n, int lo, int hi, int *v)
{
	int i, x = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		x = x * 10 + (s[i] - '0');
	}
	if (x < lo || x > hi)
		return (-1);
	*v = x;
	return (0);
}

int
ferry_parse_utc(const char *s, uint64_t *ms)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, se = 0, frac = 0, leap;
	size_t n = strspn(s, "0123456789");
	time_t t;

	if (n > 0 && n <= 19 && s[n] == '\0' && n != 8) {
		/* plain milliseconds (8 digits would read as a date) */
		*ms = strtoull(s, NULL, 10);
		return (0);
	}
	if (utc_field(s, 4, 1970, 9999, &y) != 0 || s[4] != '-' ||
	    utc_field(s + 5, 2, 1, 12, &mo) != 0 || s[7] != '-' ||
	    utc_field(s + 8, 2, 1, 31, &d) != 0)
		return (FERRY_EINVAL);
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
		return (FERRY_EINVAL);
	s += 10;
	if (*s == 'T' || *s == ' ') {
		if (utc_field(s + 1, 2, 0, 23, &h) != 0 || s[3] != ':' ||
		    utc_field(s + 4, 2, 0, 59, &mi) != 0)
			return (FERRY_EINVAL);
		s += 6;
		if (*s == ':') {
			if (utc_field(s + 1, 2, 0, 59, &se) != 0)
				return (FERRY_EINVAL);
			s += 3;
			if (*s == '.') {
				if (utc_field(s + 1, 3, 0, 999, &frac) != 0)
					return (FERRY_EINVAL);
				s += 4;
			}
		}
		if (*s == 'Z')
			s++;
	}
	if (*s != '\0')
		return (FERRY_EINVAL);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	if ((t = timegm(&tm)) == (time_t)-1)
		return (FERRY_EINVAL);
	*ms = (uint64_t)t * 1000 + (uint64_t)frac;
	return (0);
}

int
ferry_fsync_dir(const char *dir)
{
	int fd, rc = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return (FERRY_EIO);
	if (fsync(fd) != 0)
		rc = FERRY_EIO;
	close(fd);
	return (rc);
}

static int
fsync_dir_of(const char *path)
{
	char *copy;
	int rc;

	if ((copy = strdup(path)) == NULL)
		return (FERRY_ENOMEM);
	rc = ferry_fsync_dir(dirname(copy));
	free(copy);
	return (rc);
}

/*
 * Write ${buf} to ${path} by way of a new temporary file path.tmp.PID in the
 * same folder, synced; then rename it over ${path} (${replace}), or link it
 * to ${path}, which fails with EEXIST rather than replace anything, and
 * drop the temporary name.  A stale temporary file (from a crash of an
 * earlier process with this pid) is removed first; the new one is created
 * O_EXCL|O_NOFOLLOW, so that a file or link planted at that name is never
 * written through.
 */
#define WF_REPLACE 1	/* rename over ${path}, rather than link */
#define WF_KEEP_OWNER 2	/* the replaced file's owner and group stay */
#define WF_NOSYNC 4	/* no fsync: the caller makes a group durable */
#define WF_NODIRSYNC 8	/* no fsync of the folder after the rename either */

/*
 * The first half of write_file: ${tmp} (of ${cap} bytes) written, synced
 * unless WF_NOSYNC.
 */
static int
write_tmp(const char *path, const void *buf, size_t len, int mode,
    int flags, char *tmp, size_t cap)
{
	const uint8_t *p = buf;
	struct stat old;
	int fd, saved, keep = 0;
	ssize_t w;

	if ((size_t)snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid()) >=
	    cap)
		return (FERRY_EINVAL);
	/* Run as root on a file of another user, a plain rewrite would
	 * hand that user's file to root: keep its owner and group. */
	if ((flags & WF_KEEP_OWNER) && lstat(path, &old) == 0 &&
	    S_ISREG(old.st_mode) && (old.st_uid != geteuid() ||
	    old.st_gid != getegid()))
		keep = 1;
	if (unlink(tmp) != 0 && errno != ENOENT)
		return (FERRY_EIO);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode)) < 0)
		return (errno == ENOSPC || errno == EDQUOT ? FERRY_ENOSPC :
		    errno == EACCES || errno == EPERM ? FERRY_EACCES :
		    FERRY_EIO);
	if (keep && fchown(fd, old.st_uid, old.st_gid) != 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		return (saved == EPERM ? FERRY_EACCES : FERRY_EIO);
	}
	/* open() applies the umask; make the mode exact (after fchown,
	 * which may clear set-id bits). */
	if (fchmod(fd, (mode_t)mode) != 0)
		goto err;
	while (len > 0) {
		if ((w = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			goto err;
		}
		p += w;
		len -= (size_t)w;
	}
	if (!(flags & WF_NOSYNC) && fsync(fd) != 0)
		goto err;
	if (close(fd) != 0) {
		fd = -1;
		goto err;
	}
	return (0);
err:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return (saved == ENOSPC || saved == EDQUOT ? FERRY_ENOSPC : FERRY_EIO);
}

int
ferry_write_tmp(const char *path, const void *buf, size_t len, int mode,
    char *tmp, size_t cap)
{

	return (write_tmp(path, buf, len, mode, WF_NOSYNC, tmp, cap));
}

static int
write_file(const char *path, const void *buf, size_t len, int mode,
    int flags)
{
	char tmp[4096];
	int rc, saved;

	if ((rc = write_tmp(path, buf, len, mode, flags, tmp,
	    sizeof(tmp))) != 0)
		return (rc);
	if (flags & WF_REPLACE) {
		if (rename(tmp, path) != 0)
			goto err;
	} else {
		if (link(tmp, path) != 0) {
			if (errno == EEXIST) {
				unlink(tmp);
				return (FERRY_EEXIST);
			}
			goto err;
		}
		if (unlink(tmp) != 0)
			goto err;
	}
	return ((flags & WF_NODIRSYNC) ? 0 : fsync_dir_of(path));
err:
	saved = errno;
	unlink(tmp);
	return (saved == ENOSPC || saved == EDQUOT ? FERRY_ENOSPC : FERRY_EIO);
}

int
ferry_write_file(const char *path, const void *buf, size_t len, int mode)
{

	return (write_file(path, buf, len, mode, WF_REPLACE));
}

int
ferry_write_file_owned(const char *path, const void *buf, size_t len,
    int mode)
{

	return (write_file(path, buf, len, mode, WF_REPLACE | WF_KEEP_OWNER));
}

int
ferry_write_file_unsynced(const char *path, const void *buf, size_t len,
    int mode)
{

	return (write_file(path, buf, len, mode,
	    WF_REPLACE | WF_NOSYNC | WF_NODIRSYNC));
}

int
ferry_write_file_new(const char *path, const void *buf, size_t len,
    int mode)
{

	return (write_file(path, buf, len, mode, 0));
}

int
ferry_owner(const char *path, char *out, size_t cap)
{
	struct passwd pw, *res = NULL;
	struct stat st;
	char buf[1024], up[4096], *slash;

	/*
	 * Behind a folder this user may not search, the folder is what
	 * keeps it out: its owner is whom to run as.
	 */
	if ((size_t)snprintf(up, sizeof(up), "%s", path) >= sizeof(up))
		return (FERRY_EINVAL);
	while (stat(up, &st) != 0) {
		if (errno != EACCES)
			return (errno == ENOENT ? FERRY_ENOENT : FERRY_EIO);
		if ((slash = strrchr(up, '/')) == NULL || slash == up)
			return (FERRY_EACCES);
		*slash = '\0';
	}
	if (getpwuid_r(st.st_uid, &pw, buf, sizeof(buf), &res) == 0 &&
	    res != NULL)
		snprintf(out, cap, "%s", pw.pw_name);
	else
		snprintf(out, cap, "uid %lu", (unsigned long)st.st_uid);
	return (0);
}

int
ferry_read_file(const char *path, size_t max, uint8_t **buf, size_t *len,
    int flags)
{

	return (ferry_read_file_id(path, max, buf, len, flags, NULL));
}

int
ferry_read_file_id(const char *path, size_t max, uint8_t **buf, size_t *len,
    int flags, uint64_t fid[2])
{
	int secret = (flags & FERRY_READ_SECRET) != 0;
	struct stat st;
	uint8_t *b;
	size_t off = 0;
	ssize_t r;
	int fd;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO put in a file's place must not hang the open
	 * (it is refused below: no regular file). */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	    (flags & FERRY_READ_NOFOLLOW ? O_NOFOLLOW : 0))) < 0)
		return (errno == ENOENT ? FERRY_ENOENT : errno == EACCES ||
		    errno == EPERM ? FERRY_EACCES : FERRY_EIO);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return (FERRY_EIO);
	}
	if (secret && (st.st_mode & 077) != 0) {
		close(fd);
		return (FERRY_EPERM);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return (FERRY_ETOOBIG);
	}
	b = secret ? sodium_malloc((size_t)st.st_size + 1) :
	    malloc((size_t)st.st_size + 1);
	if (b == NULL) {
		close(fd);
		return (FERRY_ENOMEM);
	}
	while (off < (size_t)st.st_size) {
		r = read(fd, b + off, (size_t)st.st_size - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	if (off != (size_t)st.st_size) {
		if (secret) {
			sodium_free(b);
		} else
			free(b);
		return (FERRY_EIO);
	}
	b[off] = 0;
	*buf = b;
	*len = off;
	if (fid != NULL) {
		fid[0] = (uint64_t)st.st_dev;
		fid[1] = (uint64_t)st.st_ino;
	}
	return (0);
}

int
ferry_parse_dec(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return (FERRY_EBADVALUE);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (FERRY_EBADVALUE);
		if (x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return (FERRY_EBADVALUE);
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return (0);
}

void
ferry_hex(char *out, const uint8_t *in, size_t len)
{

	sodium_bin2hex(out, len * 2 + 1, in, len);
}

int
ferry_unhex(uint8_t *out, size_t outlen, const char *hex)
{
	size_t got;
	const char *end;

	if (strlen(hex) != outlen * 2)
		return (FERRY_EINVAL);
	if (sodium_hex2bin(out, outlen, hex, outlen * 2, NULL, &got,
	    &end) != 0 || got != outlen || *end != '\0')
		return (FERRY_EINVAL);
	return (0);
}

int
ferry_unbase64(uint8_t *out, size_t cap, const char *s, size_t len,
    size_t *outlen)
{
	const char *end;
	size_t i;

	*outlen = 0;
	if (len % 4 != 0)
		return (FERRY_EBADVALUE);
	if (len / 4 * 3 > cap + 2)
		return (FERRY_ETOOBIG);
	/*
	 * libsodium (1.0.18, checked by test_note's base64_canonical)
	 * refuses padding bits that are not zero and, in the ORIGINAL
	 * variant, missing padding; it stops at the first byte it does not
	 * take, so "all of ${s} consumed" refuses the rest.
	 */
	/*
	 * libsodium 1.0.18 maps some bytes >= 0x80 to digit values (its
	 * constant-time range checks assume ASCII): refuse every byte that is
	 * not in the alphabet first, or two strings would decode alike.
	 */
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' &&
		    s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '+' || s[i] == '/' || s[i] == '='))
			return (FERRY_EBADVALUE);
	errno = 0;
	if (sodium_base642bin(out, cap, s, len, NULL, outlen, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0) {
		*outlen = 0;
		return (errno == ERANGE ? FERRY_ETOOBIG : FERRY_EBADVALUE);
	}
	if (end != s + len) {
		*outlen = 0;
		return (FERRY_EBADVALUE);
	}
	return (0);
}

int
ferry_no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };
	int rc = 0;

	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		rc = FERRY_EIO;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		rc = FERRY_EIO;
	return (rc);
}

/*
 * Parse the leading decimal number of ${s} (which must start with a digit)
 * into *${v}, the rest to *${rest}.
 */
static int
parse_lead(const char *s, uint64_t *v, const char **rest)
{
	char *end;
	unsigned long long x;

	if (*s < '0' || *s > '9')
		return (FERRY_EBADVALUE);
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno != 0)
		return (FERRY_EBADVALUE);
	*v = x;
	*rest = end;
	return (0);
}

/* *${out} = ${v} * ${m}, or FERRY_EBADVALUE if that is over UINT64_MAX. */
static int
mul_into(uint64_t v, uint64_t m, uint64_t *out)
{

	if (v > UINT64_MAX / m)
		return (FERRY_EBADVALUE);
	*out = v * m;
	return (0);
}

int
ferry_parse_u64(const char *s, uint64_t *out)
{
	const char *rest;
	uint64_t v;

	if (parse_lead(s, &v, &rest) != 0 || *rest != '\0')
		return (FERRY_EBADVALUE);
	*out = v;
	return (0);
}

int
ferry_parse_size(const char *s, uint64_t *out)
{
	const char *rest;
	uint64_t v, m;

	if (parse_lead(s, &v, &rest) != 0)
		return (FERRY_EBADVALUE);
	if (strcmp(rest, "") == 0 || strcmp(rest, "B") == 0)
		m = 1;
	else if (strcmp(rest, "K") == 0 || strcmp(rest, "KiB") == 0)
		m = 1024;
	else if (strcmp(rest, "M") == 0 || strcmp(rest, "MiB") == 0)
		m = 1024 * 1024;
	else if (strcmp(rest, "G") == 0 || strcmp(rest, "GiB") == 0)
		m = 1024 * 1024 * 1024;
	else
		return (FERRY_EBADVALUE);
	return (mul_into(v, m, out));
}

int
ferry_parse_duration(const char *s, uint64_t *out)
{
	const char *rest;
	uint64_t v, m;

	if (parse_lead(s, &v, &rest) != 0)
		return (FERRY_EBADVALUE);
	if (strcmp(rest, "") == 0)
		return (FERRY_ENOUNIT);
	if (strcmp(rest, "ms") == 0)
		m = 1;
	else if (strcmp(rest, "s") == 0)
		m = 1000;
	else if (strcmp(rest, "m") == 0)
		m = 60 * 1000;
	else if (strcmp(rest, "h") == 0)
		m = 3600 * 1000;
	else if (strcmp(rest, "d") == 0)
		m = 24ULL * 3600 * 1000;
	else
		return (FERRY_EBADVALUE);
	return (mul_into(v, m, out));
}

int
ferry_parse_log_level(const char *s)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return (i);
	return (FERRY_EBADVALUE);
}

int
ferry_conf_set(const struct ferry_conf_key *keys, void *base,
    const char *key, const char *value)
{
	const struct ferry_conf_key *k;
	char *field;
	uint64_t *u;
	size_t n;
	int lvl;

	for (k = keys; k->name != NULL; k++)
		if (strcmp(k->name, key) == 0)
			break;
	if (k->name == NULL)
		return (FERRY_ENOENT);
	field = (char *)base + k->off;
	if (k->type == FERRY_CONF_STR || k->type == FERRY_CONF_STR1) {
		n = strlen(value);
		if (n >= k->cap || (n == 0 && k->type == FERRY_CONF_STR1))
			return (FERRY_EBADVALUE);
		memcpy(field, value, n + 1);
		return (0);
	}
	if (k->type == FERRY_CONF_LEVEL) {
		if ((lvl = ferry_parse_log_level(value)) < 0)
			return (lvl);
		memcpy(field, &lvl, sizeof(lvl));
		return (0);
	}
	/* The other types are uint64_t fields. */
	u = (uint64_t *)(void *)field;
	switch (k->type) {
	case FERRY_CONF_U64:
		return (ferry_parse_u64(value, u));
	case FERRY_CONF_SIZE:
		return (ferry_parse_size(value, u));
	case FERRY_CONF_DURATION:
		return (ferry_parse_duration(value, u));
	}
	return (FERRY_EINVAL);
}

/* The name of user ${uid} (or "uid N") into ${out}. */
static void
user_name(uid_t uid, char *out, size_t cap)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		snprintf(out, cap, "%s", pw.pw_name);
	else
		snprintf(out, cap, "uid %lu", (unsigned long)uid);
}

void
ferry_data_why(const char *folder, const char *path, const char *what,
    int e, char *out, size_t cap)
{
	char me[64], owner[64], parent[4096], *slash;
	struct stat st;

	user_name(geteuid(), me, sizeof(me));
	if (e == ENOENT) {
		snprintf(out, cap, "%s %s: the folder above it does not exist: "
		    "create it, or set data in the configuration to a folder "
		    "whose parent exists", what, path);
		return;
	}
	if (e != EACCES && e != EPERM) {
		snprintf(out, cap, "%s %s: %s", what, path, strerror(e));
		return;
	}
	if (lstat(folder, &st) == 0) {
		user_name(st.st_uid, owner, sizeof(owner));
		snprintf(out, cap, "%s %s: %s: the data folder %s is %s's and "
		    "this program runs as %s: give it to this user (chown -R "
		    "%s: %s)%s%s", what, path, strerror(e), folder, owner, me,
		    me, folder, strcmp(owner, "root") != 0 ? ", or run as " :
		    "", strcmp(owner, "root") != 0 ? owner : "");
		return;
	}
	snprintf(parent, sizeof(parent), "%s", folder);
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), "%s", slash != NULL ? "/" :
		    ".");
	if (lstat(parent, &st) == 0)
		user_name(st.st_uid, owner, sizeof(owner));
	else
		snprintf(owner, sizeof(owner), "another user");
	snprintf(out, cap, "%s %s: %s: this program runs as %s, which may not "
	    "create it in %s (%s's): make it for this user first (install -d "
	    "-o %s -m 0700 %s; the systemd unit's StateDirectory= does it)",
	    what, path, strerror(e), me, parent, owner, me, folder);
}

int
ferry_conf_load_set(const struct ferry_conf_key *keys, void *base,
    uint64_t *seen, const char *key, const char *value)
{
	size_t i;
	int rc;

	for (i = 0; keys[i].name != NULL; i++)
		if (strcmp(keys[i].name, key) == 0)
			break;
	if (keys[i].name == NULL)
		return (FERRY_ENOENT);
	if (i >= 64)
		return (FERRY_EINTERNAL);
	if (*seen & (UINT64_C(1) << i))
		return (FERRY_EDUPKEY);
	if ((rc = ferry_conf_set(keys, base, key, value)) == 0)
		*seen |= UINT64_C(1) << i;
	return (rc);
}

void
ferry_conf_why(char *out, size_t n, const char *key, const char *value,
    int rc)
{

	if (rc == FERRY_ENOENT)
		snprintf(out, n, "unknown key \"%s\"", key);
	else if (rc == FERRY_ENOUNIT)
		snprintf(out, n, "%s = %s: %s, e.g. %ss", key, value,
		    ferry_strerror(rc), value);
	else if (rc == FERRY_EDUPKEY)
		snprintf(out, n, "key \"%s\" is set more than once (the second "
		    "time to \"%s\"): keep one line for it (a line that "
		    "starts with a space or tab continues the line above and "
		    "sets its key again)", key, value);
	else
		snprintf(out, n, "bad value for key \"%s\"", key);
}

#ifdef FERRY_FAULTS
#define FAULT_MAX 8

/* The parsed FERRY_FAULT rules and how often each point was passed. */
static struct fault_rule {
	char point[48];
	int kill, stall;
	unsigned long at, hits;
} fault_rules[FAULT_MAX];
static int fault_n = -1;

static void
fault_parse(void)
{
	const char *s = getenv("FERRY_FAULT"), *e, *eq, *atp;
	struct fault_rule *f;
	char *end;
	size_t n;

	fault_n = 0;
	while (s != NULL && *s != '\0' && fault_n < FAULT_MAX) {
		e = strchr(s, ',');
		n = e != NULL ? (size_t)(e - s) : strlen(s);
		eq = memchr(s, '=', n);
		if (eq != NULL && (size_t)(eq - s) < sizeof(f->point)) {
			f = &fault_rules[fault_n++];
			memset(f, 0, sizeof(*f));
			memcpy(f->point, s, (size_t)(eq - s));
			f->kill = strncmp(eq + 1, "kill", 4) == 0;
			f->stall = strncmp(eq + 1, "stall", 5) == 0;
			atp = memchr(eq, '@', n - (size_t)(eq - s));
			if (atp != NULL)
				f->at = strtoul(atp + 1, &end, 10);
		}
		s = e != NULL ? e + 1 : NULL;
	}
}

int
ferry_fault(const char *point)
{
	struct fault_rule *f;
	int i;

	if (fault_n < 0)
		fault_parse();
	for (i = 0; i < fault_n; i++) {
		f = &fault_rules[i];
		if (strcmp(f->point, point) != 0)
			continue;
		f->hits++;
		if (f->at != 0 && f->hits != f->at)
			continue;
		/* Test-only: the scenario needs to see the point was met. */
		fprintf(stderr, "ferry-fault: %s=%s hit=%lu\n", point,
		    f->kill ? "kill" : f->stall ? "stall" : "fail", f->hits);
		if (f->kill)
			(void)raise(SIGKILL);
		if (f->stall) {
			/* A commit that takes longer than the CLI waits. */
			struct timespec ts = { FERRY_FAULT_STALL_S, 0 };

			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
			return (0);
		}
		return (1);
	}
	return (0);
}
#endif
