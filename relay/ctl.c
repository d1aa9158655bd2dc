/*
 * ctl.c: `ferry-relay queue` (issue 11 item 10): list and show what is
 * queued, read-only, from the relay's LMDB while it may run; and purge a
 * revoked agency's queue, which the running relay itself carries out.
 *
 * A purge: the command holds an exclusive flock on <data>/purge.lock for
 * its whole run, so that two purge commands never share the request and
 * result files; it writes <data>/purge.request ("RECIPIENT\nREASON\n
 * NONCE\n", mode 0600, by rename; NONCE 32 random hex digits) and sends
 * SIGUSR1 to the relay whose pid is in <data>/relay.lock (held with
 * flock while it runs).  At its next turn the relay reads and removes the
 * request, refuses it if RECIPIENT is in no roster version it holds (a
 * typo) or is active in the roster in force, and otherwise adds the purge
 * of each message queued for it to its batches (batch_purge: an EXPIRED
 * log entry of code FERRY_EPURGED and a NACK of it to the sender, each
 * committed with its batch like an expiry); when none is left it writes
 * <data>/purge.result, "NONCE ok N" or "NONCE refused WHY", which the
 * command prints.  The command takes only the answer that carries its own
 * NONCE: one left for an earlier command that gave up waiting is
 * removed, never taken for its own.  Call order: loop.c -> ctl.c ->
 * batch.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "roster.h"
#include "wire.h"
#include "relay_int.h"

#define CTL_WAIT_MS 30000	/* the command waits so long for the relay */
#define CTL_REASON_MAX 200
#define CTL_NONCE_LEN 32	/* hex digits of a request's nonce */
_Static_assert(CTL_REASON_MAX < sizeof(((struct relay *)0)->purge_why),
    "purge_why holds a reason");

/* <data>/NAME into ${out}; 0, or -1 if it does not fit. */
static int
data_path(char *out, size_t n, const char *data, const char *name)
{

	return ((size_t)snprintf(out, n, "%s/%s", data, name) < n ? 0 : -1);
}

/* Write ${text} to <data>/NAME atomically (a temporary name, then rename). */
static int
write_atomic(const char *data, const char *name, const char *text)
{
	char path[CONFIG_PATH_MAX + 32], tmp[CONFIG_PATH_MAX + 40];
	size_t len = strlen(text);
	int fd, ok;

	if (data_path(path, sizeof(path), data, name) != 0 ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return (-1);
	(void)unlink(tmp);	/* created anew, never through a planted link */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0)
		return (-1);
	ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		(void)unlink(tmp);
		return (-1);
	}
	return (0);
}

/* A reason an operator gave: one printable line of UTF-8 (the NACKs it
 * goes into are text on the wire), not empty. */
static int
reason_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > CTL_REASON_MAX ||
	    !wire_utf8_valid((const uint8_t *)s, n))
		return (0);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return (0);
	return (1);
}

/* ---- the relay's side ---- */

/* The request is answered: <data>/purge.result says ${fmt}. */
static void
ctl_answer(struct relay *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
ctl_answer(struct relay *r, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	/* The request's nonce first: its command knows its answer by it. */
	(void)snprintf(text, sizeof(text), "%s ", r->purge_nonce);
	va_start(ap, fmt);
	(void)vsnprintf(text + strlen(text), sizeof(text) - strlen(text), fmt,
	    ap);
	va_end(ap);
	if (write_atomic(r->c->data, "purge.result", text) != 0)
		rlog(RLOG_ERROR, "purge", "result-not-written=1 err=\"%s\"",
		    strerror(errno));
}

struct listed_ctx {
	const char *id;
	int found;
};

static int
listed_one(void *ctx, uint64_t version, const uint8_t *b, size_t len)
{
	struct listed_ctx *lc = ctx;
	struct roster *ro;

	(void)version;
	if (roster_parse(b, len, &ro) != 0)
		return (0);
	lc->found = roster_find(ro, lc->id) != NULL;
	roster_free(ro);
	return (lc->found);	/* found: stop */
}

/*
 * 1 if agency ${id} is in the roster in force or in a stored version
 * (an id no version ever listed is a typo: nothing can be queued for it).
 */
static int
ctl_ever_listed(struct relay *r, const char *id)
{
	struct listed_ctx lc = { id, 0 };

	if (r->roster != NULL && roster_find(r->roster, id) != NULL)
		return (1);
	(void)queue_rosters(r->q, 0, listed_one, &lc);
	return (lc.found);
}

/* SIGUSR1: read and remove <data>/purge.request, and take it up. */
static void
ctl_request(struct relay *r)
{
	char path[CONFIG_PATH_MAX + 32];
	char buf[FERRY_ID_MAX + CTL_REASON_MAX + CTL_NONCE_LEN + 8];
	char *nl, *nn, *why = NULL, *nonce;
	struct stat st;
	FILE *f;
	size_t n;
	int fd;

	if (data_path(path, sizeof(path), r->c->data, "purge.request") != 0 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) < 0)
		return;		/* a stray signal: nothing asked */
	/* Only a regular file of the relay's own user is a request. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (f = fdopen(fd, "r")) == NULL) {
		(void)close(fd);
		(void)unlink(path);
		rlog(RLOG_WARN, "purge", "%s is not a regular file of the "
		    "relay's user: ignored (run ferry-relay queue purge as "
		    "the relay's user)", path);
		return;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	(void)fclose(f);
	(void)unlink(path);
	buf[n] = '\0';
	/* RECIPIENT\nREASON\nNONCE\n: the nonce first, to answer by it. */
	nonce = "-";
	if ((nl = strchr(buf, '\n')) != NULL &&
	    (nn = strchr(nl + 1, '\n')) != NULL) {
		*nl = '\0';
		*nn = '\0';
		why = nl + 1;
		nonce = nn + 1;
		nonce[strcspn(nonce, "\n")] = '\0';
		if (strlen(nonce) != CTL_NONCE_LEN ||
		    strspn(nonce, "0123456789abcdef") != CTL_NONCE_LEN)
			nonce = "-";
	}
	if (r->purge_active) {
		/* The purge under way keeps its own nonce for its answer. */
		char keep[sizeof(r->purge_nonce)];

		memcpy(keep, r->purge_nonce, sizeof(keep));
		snprintf(r->purge_nonce, sizeof(r->purge_nonce), "%s", nonce);
		ctl_answer(r, "refused a purge of %s's queue is under way: "
		    "run this again when it has ended\n", r->purge_to);
		memcpy(r->purge_nonce, keep, sizeof(keep));
		return;
	}
	snprintf(r->purge_nonce, sizeof(r->purge_nonce), "%s", nonce);
	if (strcmp(nonce, "-") == 0 || !ferry_id_valid(buf, strlen(buf)) ||
	    !reason_ok(why)) {
		ctl_answer(r, "refused the request is malformed\n");
		return;
	}
	if (!ctl_ever_listed(r, buf)) {
		rlog(RLOG_WARN, "purge", "to=%s refused=unknown roster=%llu",
		    buf, (unsigned long long)r->roster->version);
		ctl_answer(r, "refused %s is in no roster version this relay "
		    "holds (1 to %llu): check the agency id (ferry-relay queue "
		    "list shows each queued message's recipient)\n", buf,
		    (unsigned long long)r->roster->version);
		return;
	}
	if (rutil_active(r, buf)) {
		rlog(RLOG_WARN, "purge", "to=%s refused=active roster=%llu",
		    buf, (unsigned long long)r->roster->version);
		ctl_answer(r, "refused %s is active in roster version %llu: "
		    "only a revoked agency's queue may be purged (revoke it "
		    "in a roster update and reload the relay first)\n", buf,
		    (unsigned long long)r->roster->version);
		return;
	}
	memcpy(r->purge_to, buf, strlen(buf) + 1);	/* id: <= 64 */
	memcpy(r->purge_why, why, strlen(why) + 1);	/* <= CTL_REASON_MAX */
	r->purge_active = 1;
	r->purge_n = 0;
	rlog(RLOG_WARN, "purge", "to=%s roster=%llu reason=\"%s\" started=1",
	    r->purge_to, (unsigned long long)r->roster->version, r->purge_why);
}

/** ctl_turn(r, sig): before the turn's commit: a request, a purge's next part. */
void
ctl_turn(struct relay *r, volatile sig_atomic_t *sig)
{
	size_t n;
	int rc;

	r->purge_turn_n = 0;
	if (sig != NULL && *sig) {
		*sig = 0;
		ctl_request(r);
	}
	if (!r->purge_active || r->m.disk_full)
		return;
	rc = batch_purge(r, r->purge_to, r->purge_why, &n);
	r->purge_n += n;	/* those taken before a failure count too */
	r->purge_turn_n = n;
	r->purge_more = rc < 0 ? 1 : rc;	/* memory short: next turn */
}

/** ctl_purge_lost(r): this turn's part of a purge was not committed. */
void
ctl_purge_lost(struct relay *r)
{

	if (!r->purge_active || r->purge_turn_n == 0)
		return;
	r->purge_n -= r->purge_turn_n;
	r->purge_turn_n = 0;
	r->purge_lost = 1;
}

/** ctl_done(r): after the turn's commit: a purge that ended is answered. */
void
ctl_done(struct relay *r)
{

	if (r->purge_active && r->purge_lost) {
		/* Its messages are still queued, their senders not told:
		 * the purge ends here, said as it is. */
		rlog(RLOG_ERROR, "purge", "to=%s purged=%llu done=0 "
		    "err=FERRY_ENOSPC", r->purge_to,
		    (unsigned long long)r->purge_n);
		ctl_answer(r, "refused the disk is full: %llu message(s) "
		    "purged before it filled (their senders NACKed), the rest "
		    "still queued; free space in the data folder, then run "
		    "the purge again\n", (unsigned long long)r->purge_n);
		r->purge_active = 0;
		r->purge_lost = 0;
		return;
	}
	if (!r->purge_active || r->purge_more)
		return;
	rlog(RLOG_WARN, "purge", "to=%s purged=%llu done=1", r->purge_to,
	    (unsigned long long)r->purge_n);
	ctl_answer(r, "ok %llu\n", (unsigned long long)r->purge_n);
	r->purge_active = 0;
}

/* ---- the command's side ---- */

/* ${ms} since the epoch as ISO 8601 UTC. */
static void
iso_utc(char *out, size_t n, uint64_t ms)
{

	ferry_utc_s(out, n, ms);
}

/* Open the relay's log and queue read-only; 0, or 1 (said). */
static int
open_ro(const char *data, struct log **l, struct queue **q)
{
	struct log_opts lo = { queue_dbs, QUEUE_NDBS, 0 };
	char path[CONFIG_PATH_MAX + 16];
	int rc;

	*l = NULL;
	*q = NULL;
	if (data_path(path, sizeof(path), data, "log") != 0)
		return (1);
	if ((rc = log_open_ex(path, NULL, NULL, &lo, l)) != 0) {
		fprintf(stderr, "ferry-relay: cannot open the queue in %s: %s%s"
		    "\n", path, ferry_strerror(rc), rc == FERRY_EACCES ||
		    rc == FERRY_EIO ? " (run as the relay's user)" : "");
		return (1);
	}
	if ((rc = queue_open(*l, q)) != 0) {
		fprintf(stderr, "ferry-relay: cannot read the queue in %s: %s\n",
		    path, ferry_strerror(rc));
		log_close(*l);
		*l = NULL;
		return (1);
	}
	return (0);
}

struct list_ctx {
	const char *to;			/* only these, or NULL */
	const uint8_t *id;		/* only this one, or NULL */
	uint64_t now;
	size_t n;
};

static int
list_one(void *ctx, const struct queue_msg *m)
{
	struct list_ctx *lc = ctx;
	char hex[2 * FERRY_MSGID_LEN + 1], at[32];
	uint64_t age;

	if (lc->to != NULL && strcmp(m->to, lc->to) != 0)
		return (0);
	if (lc->id != NULL && memcmp(m->msg_id, lc->id, FERRY_MSGID_LEN) != 0)
		return (0);
	sodium_bin2hex(hex, sizeof(hex), m->msg_id, FERRY_MSGID_LEN);
	iso_utc(at, sizeof(at), m->accepted_ms);
	age = lc->now > m->accepted_ms ? (lc->now - m->accepted_ms) / 1000 : 0;
	if (lc->id != NULL)
		printf("msg %s\nfrom %s\nto %s\nbytes %zu\naccepted %s\n"
		    "age_s %llu\nlog_index %llu\n", hex, m->from, m->to,
		    m->env_len, at, (unsigned long long)age,
		    (unsigned long long)m->log_index);
	else
		printf("%s  %-20s %-20s %10zu  %s  %llu\n", hex, m->from,
		    m->to, m->env_len, at, (unsigned long long)age);
	lc->n++;
	return (0);
}

/** ctl_queue_list(data, to): print what is queued (for ${to}); exit status. */
int
ctl_queue_list(const char *data, const char *to)
{
	struct list_ctx lc = { to, NULL, ferry_now_ms(), 0 };
	struct log *l;
	struct queue *q;
	int rc;

	if (open_ro(data, &l, &q) != 0)
		return (1);
	printf("%-32s  %-20s %-20s %10s  %-20s  %s\n", "msg", "from", "to",
	    "bytes", "accepted", "age_s");
	rc = queue_foreach(q, list_one, &lc);
	queue_close(q);
	log_close(l);
	if (rc < 0) {
		fprintf(stderr, "ferry-relay: reading the queue: %s\n",
		    ferry_strerror(rc));
		return (1);
	}
	return (0);
}

/** ctl_queue_show(data, hex): one queued message's headers; exit status. */
int
ctl_queue_show(const char *data, const char *hex)
{
	uint8_t id[FERRY_MSGID_LEN], h[FERRY_HASH_LEN], *final = NULL;
	struct list_ctx lc = { NULL, id, ferry_now_ms(), 0 };
	struct log *l;
	struct queue *q;
	uint64_t seq;
	size_t bl, flen;
	int rc, st;

	if (strlen(hex) != 2 * FERRY_MSGID_LEN ||
	    sodium_hex2bin(id, sizeof(id), hex, strlen(hex), NULL, &bl,
	    NULL) != 0 || bl != sizeof(id)) {
		fprintf(stderr, "ferry-relay: '%s' is not a message id (32 hex "
		    "digits, as queue list prints)\n", hex);
		return (2);
	}
	if (open_ro(data, &l, &q) != 0)
		return (1);
	rc = queue_foreach(q, list_one, &lc);
	st = lc.n == 0 && rc == 0 ? queue_lookup(q, id, h, &seq, &final,
	    &flen) : -1;
	free(final);
	queue_close(q);
	log_close(l);
	if (rc < 0) {
		fprintf(stderr, "ferry-relay: reading the queue: %s\n",
		    ferry_strerror(rc));
		return (1);
	}
	if (lc.n == 0) {
		fprintf(stderr, "ferry-relay: message %s is not queued%s\n", hex,
		    st == QUEUE_DONE ? " (it is finished: delivered, refused, "
		    "expired or purged)" : "");
		return (1);
	}
	return (0);
}

/* The pid in <data>/relay.lock if a relay holds it, else 0 (said). */
static pid_t
running_pid(const char *data)
{
	char path[CONFIG_PATH_MAX + 16], buf[32];
	ssize_t n;
	long pid;
	int fd;

	if (data_path(path, sizeof(path), data, "relay.lock") != 0)
		return (0);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    flock(fd, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK) {
		if (fd >= 0)
			(void)close(fd);
		fprintf(stderr, "ferry-relay: no relay is running on %s: the "
		    "running relay carries out a purge; start it, then run "
		    "this again\n", data);
		return (0);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if ((pid = strtol(buf, NULL, 10)) <= 1) {
		fprintf(stderr, "ferry-relay: %s names no process: the relay "
		    "is of an older release; restart it, then run this "
		    "again\n", path);
		return (0);
	}
	return ((pid_t)pid);
}

/**
 * ctl_queue_purge(data, to, reason): ask the running relay to purge the
 * queue of revoked agency ${to}; wait for its answer; exit status.
 */
int
ctl_queue_purge(const char *data, const char *to, const char *reason)
{
	char path[CONFIG_PATH_MAX + 32], lpath[CONFIG_PATH_MAX + 32];
	char text[FERRY_ID_MAX + CTL_REASON_MAX + CTL_NONCE_LEN + 8];
	char res[600], nonce[CTL_NONCE_LEN + 1];
	uint8_t nb[CTL_NONCE_LEN / 2];
	struct timespec ts = { 0, 100 * 1000000L };
	FILE *f = NULL;
	pid_t pid;
	size_t n;
	int i, lfd, ret = 1;

	if (!ferry_id_valid(to, strlen(to))) {
		fprintf(stderr, "ferry-relay: '%s' is not an agency id "
		    "([a-z0-9-], 1 to 64)\n", to);
		return (2);
	}
	if (!reason_ok(reason)) {
		fprintf(stderr, "ferry-relay: --reason must be one line of 1 to "
		    "%d bytes of printable UTF-8 text (check the terminal's "
		    "encoding)\n", CTL_REASON_MAX);
		return (2);
	}
	if ((pid = running_pid(data)) == 0)
		return (1);
	if (data_path(path, sizeof(path), data, "purge.result") != 0 ||
	    data_path(lpath, sizeof(lpath), data, "purge.lock") != 0)
		return (1);
	/*
	 * One purge command at a time on this data folder: they share the
	 * request and result files.  Another one waits for the one before,
	 * at most CTL_WAIT_MS (one stopped with Ctrl-Z, or hung, must not
	 * block every later purge unseen); the lock goes with the process.
	 */
	if ((lfd = open(lpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) < 0) {
		fprintf(stderr, "ferry-relay: cannot open %s: %s (run as the "
		    "relay's user)\n", lpath, strerror(errno));
		return (1);
	}
	for (i = 0; flock(lfd, LOCK_EX | LOCK_NB) != 0; i++) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			fprintf(stderr, "ferry-relay: cannot lock %s: %s (run "
			    "as the relay's user)\n", lpath, strerror(errno));
			(void)close(lfd);
			return (1);
		}
		if (i == 0)
			fprintf(stderr, "ferry-relay: waiting for another queue "
			    "purge on %s to end (it holds %s)\n", data, lpath);
		if (i >= CTL_WAIT_MS / 100) {
			fprintf(stderr, "ferry-relay: another queue purge still "
			    "holds %s after %d s (stopped or hung?): let it "
			    "finish or stop it, then run this again\n", lpath,
			    CTL_WAIT_MS / 1000);
			(void)close(lfd);
			return (1);
		}
		(void)usleep(100 * 1000);
	}
	randombytes_buf(nb, sizeof(nb));
	sodium_bin2hex(nonce, sizeof(nonce), nb, sizeof(nb));
	(void)unlink(path);
	snprintf(text, sizeof(text), "%s\n%s\n%s\n", to, reason, nonce);
	if (write_atomic(data, "purge.request", text) != 0) {
		fprintf(stderr, "ferry-relay: cannot write %s/purge.request: %s "
		    "(run as the relay's user)\n", data, strerror(errno));
		goto out;
	}
	if (kill(pid, SIGUSR1) != 0) {
		fprintf(stderr, "ferry-relay: cannot signal the relay (pid %ld):"
		    " %s (run as the relay's user)\n", (long)pid,
		    strerror(errno));
		goto out;
	}
	/* Only the answer with our nonce is ours: one left for an earlier
	 * command that gave up waiting is removed and waited past. */
	res[0] = '\0';
	for (i = 0; i < CTL_WAIT_MS / 100; i++) {
		if ((f = fopen(path, "re")) != NULL) {
			n = fread(res, 1, sizeof(res) - 1, f);
			(void)fclose(f);
			res[n] = '\0';
			res[strcspn(res, "\n")] = '\0';
			(void)unlink(path);
			if (strncmp(res, nonce, CTL_NONCE_LEN) == 0 &&
			    res[CTL_NONCE_LEN] == ' ')
				break;
			res[0] = '\0';
		}
		(void)nanosleep(&ts, NULL);
	}
	if (res[0] == '\0') {
		fprintf(stderr, "ferry-relay: the relay (pid %ld) did not answer "
		    "in %d s: see its log (event purge), then run ferry-relay "
		    "queue list --recipient %s to see what is still queued\n",
		    (long)pid, CTL_WAIT_MS / 1000, to);
		goto out;
	}
	memmove(res, res + CTL_NONCE_LEN + 1, strlen(res + CTL_NONCE_LEN + 1) +
	    1);
	if (strncmp(res, "ok ", 3) == 0) {
		printf("purged %s messages queued for %s; each sender was NACKed "
		    "FERRY_EPURGED\n", res + 3, to);
		ret = 0;
		goto out;
	}
	fprintf(stderr, "ferry-relay: purge %s\n", strncmp(res, "refused ",
	    8) == 0 ? res : "failed: the relay's answer is malformed");
out:
	(void)close(lfd);	/* the lock with it */
	return (ret);
}
