/*
 * agentd_erase.c: erasure by crypto-shredding, for an operator's request
 * (`ferry erase`) and for the retention setting (docs/agent.md,
 * "Erasure and retention"; docs/operations.md says what it reaches).
 *
 * One message's erasure is one synced commit: the log's stored envelope
 * deleted and a LOG_ERASURE entry appended (log_erase_batch), the store's
 * sealed content key zeroed, its envelope copy and unspooled mark deleted
 * and the erasure recorded (astore_erase_out / _in).  Then the agency's
 * own plaintext copies in the spool are overwritten and removed:
 * sent/<to>/<name> (a sent spool file: shred_sent) and inbox/<msgid>.json
 * and .meta (a received message not yet taken by the case system).  A
 * crash between the commit and the removal is mended by the sweep that
 * runs with every retention pass (at start, then daily).
 *
 * Calls: agentd_net.c and agentd_ctl.c call this file; it calls
 * agentd_util.c only (and the store, the log).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "agentd.h"
#include "agentd_int.h"
#include "alog.h"
#include "referral.h"

#define RETENTION_EVERY_MS (24ULL * 3600 * 1000)
#define SHRED_MAX (64u * 1024 * 1024)

/* Overwrite the regular file ${path} with zeros, sync it, remove it. */
static void
shred_file(const char *path)
{
	static const uint8_t zero[4096];
	struct stat st;
	off_t done = 0;
	size_t n;
	int fd;

	if ((fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			alog(ALOG_ERROR, "erase", "cannot open %s to erase "
			    "it: %s: remove it by hand", path,
			    strerror(errno));
		return;
	}
	/* Zeros only into a file that is this copy alone (not a hard
	 * link to something else); any other file is just unlinked. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
	    st.st_size <= (off_t)SHRED_MAX) {
		while (done < st.st_size) {
			n = (size_t)(st.st_size - done) < sizeof(zero) ?
			    (size_t)(st.st_size - done) : sizeof(zero);
			if (write(fd, zero, n) != (ssize_t)n)
				break;
			done += (off_t)n;
		}
		(void)fsync(fd);
	}
	close(fd);
	if (unlink(path) != 0 && errno != ENOENT)
		alog(ALOG_ERROR, "erase", "cannot remove %s: %s: remove it "
		    "by hand", path, strerror(errno));
}

/*
 * A sent spool file of message ${hx} in sent/: sent/<to>/<name> as the
 * spool named it (${spool_name}, "<to>/<name>"), if its ".id" sidecar
 * holds ${hx} (the name may since be another message's), and
 * sent/<to>/<stem>.<hx><ext> (the name it gets when that one is taken),
 * each with its sidecar; also sent/<hx>.json, where older versions put
 * it.
 */
static void
shred_sent(struct agentd *a, const char *hx, const char *spool_name)
{
	char path[ACONF_PATH_MAX + 700], idp[ACONF_PATH_MAX + 704];
	char alt[400];
	const char *slash;

	if ((size_t)snprintf(path, sizeof(path), "%s/sent/%s.json",
	    a->conf.spool, hx) < sizeof(path))
		shred_file(path);
	if (spool_name == NULL || (slash = strchr(spool_name, '/')) == NULL ||
	    strstr(spool_name, "..") != NULL || spool_name[0] == '/')
		return;
	/* As named, if it is this message's. */
	if ((size_t)snprintf(path, sizeof(path), "%s/sent/%s", a->conf.spool,
	    spool_name) < sizeof(path) && (size_t)snprintf(idp, sizeof(idp),
	    "%s.id", path) < sizeof(idp) && agentd_sidecar_is(path, hx) == 1) {
		shred_file(path);
		shred_file(idp);
	}
	/* Renamed with its id: "<stem>.<hx><ext>". */
	agentd_id_name(alt, sizeof(alt), slash + 1, hx);
	if ((size_t)snprintf(path, sizeof(path), "%s/sent/%.*s/%s",
	    a->conf.spool, (int)(slash - spool_name), spool_name, alt) <
	    sizeof(path) && (size_t)snprintf(idp, sizeof(idp), "%s.id",
	    path) < sizeof(idp)) {
		shred_file(path);
		shred_file(idp);
	}
}

/*
 * The agency's plaintext spool copies of ${id}: 'o' sent (${spool_name}:
 * the spool file it came from, "<to>/<name>", or "" / NULL), 'i'
 * received (inbox/<msgid>.json and .meta).
 */
static void
shred_spool(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN], char dir,
    const char *spool_name)
{
	static const char *const in[] = { "inbox/%s.json", "inbox/%s.meta" };
	char path[ACONF_PATH_MAX + 64], name[64], hx[33];
	size_t i;

	if (a->conf.spool[0] == '\0')
		return;
	agentd_idhex(hx, id);
	if (dir == 'o') {
		shred_sent(a, hx, spool_name);
		return;
	}
	for (i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), in[i], hx);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s",
		    a->conf.spool, name) < sizeof(path))
			shred_file(path);
	}
}

/* ---- refused spool files ----------------------------------------------- */

/*
 * Does the referral file ${path} have string member ${key} equal to
 * ${want}?  1, 0, -1 unread (not JSON, too big).  ${want} NULL: the
 * member's value into ${out} (cap ${cap}, "" if none); 1 read.
 */
static int
failed_member(const char *path, const char *key, const char *want,
    char *out, size_t cap)
{
	json_error_t jerr;
	const char *v;
	json_t *d;
	uint8_t *buf;
	size_t len;
	int r = 1;

	if (ferry_read_file(path, REFERRAL_JSON_MAX, &buf, &len,
	    FERRY_READ_NOFOLLOW) != 0)
		return (-1);
	d = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	agentd_free_plain(buf, len);
	if (d == NULL)
		return (-1);
	v = json_string_value(json_object_get(d, key));
	if (want != NULL)
		r = v != NULL && strcmp(v, want) == 0;
	else
		snprintf(out, cap, "%s", v != NULL ? v : "");
	json_decref(d);
	return (r);
}

/*
 * Is the refused file ${path} of time ${mtime_ms} past retention at
 * ${now} under rules ${ret}[0..n-1]?  By its document's message_kind: a
 * kind with no rule is kept, as its messages are; a file whose kind
 * cannot be read is kept (a person looks at failed/).
 */
static int
failed_past(const char *path, uint64_t mtime_ms, const struct aconf_ret *ret,
    size_t n, uint64_t now)
{
	char kind[32];
	size_t i;

	if (failed_member(path, "message_kind", NULL, kind,
	    sizeof(kind)) != 1)
		return (0);
	for (i = 0; i < n; i++)
		if (strcmp(ret[i].kind, kind) == 0)
			return (now >= ret[i].ms && mtime_ms <= now - ret[i].ms);
	return (0);
}

size_t
agentd_erase_failed(struct agentd *a, const char *case_id, uint64_t before,
    const struct aconf_ret *ret, size_t nret, uint64_t now, size_t *unread)
{
	char dir[ACONF_PATH_MAX + 16], path[ACONF_PATH_MAX + 300];
	char epath[ACONF_PATH_MAX + 310];
	struct dirent *d;
	struct stat st;
	size_t n = 0, len;
	DIR *dp;
	int r;

	if (unread != NULL)
		*unread = 0;
	if (a->conf.spool[0] == '\0' || (size_t)snprintf(dir, sizeof(dir),
	    "%s/failed", a->conf.spool) >= sizeof(dir) ||
	    (dp = opendir(dir)) == NULL)
		return (0);
	while ((d = readdir(dp)) != NULL) {
		len = strlen(d->d_name);
		if (d->d_name[0] == '.' || (len > 6 &&
		    strcmp(d->d_name + len - 6, ".error") == 0))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    d->d_name) >= sizeof(path) || lstat(path, &st) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (before != 0 && (uint64_t)st.st_mtime * 1000 >= before)
			continue;
		if (ret != NULL && !failed_past(path, (uint64_t)st.st_mtime *
		    1000, ret, nret, now))
			continue;
		if (case_id != NULL && (r = failed_member(path, "case_id",
		    case_id, NULL, 0)) != 1) {
			if (r < 0 && unread != NULL)
				(*unread)++;
			continue;
		}
		shred_file(path);
		if ((size_t)snprintf(epath, sizeof(epath), "%s.error", path) <
		    sizeof(epath))
			shred_file(epath);
		alog(ALOG_INFO, "erased-failed", "failed/%s (a refused spool "
		    "file, never sent)", d->d_name);
		n++;
	}
	closedir(dp);
	return (n);
}

/* ---- compaction -------------------------------------------------------- */

#define COMPACT_RETRY_MS (10ULL * 60 * 1000)

/* ${a}'s <data>/log/${name} into ${out}; 0 or -1 (too long). */
static int
log_path(struct agentd *a, const char *name, char *out, size_t cap)
{

	return ((size_t)snprintf(out, cap, "%s/log%s%s", a->conf.data,
	    name[0] ? "/" : "", name) >= cap ? -1 : 0);
}

/*
 * The store is to be compacted: log/compact-due made durable before the
 * erasure's commit, so a crash after that commit still compacts at the
 * next start.  0 or FERRY_EIO.
 */
static int
compact_mark(struct agentd *a)
{
	char path[ACONF_PATH_MAX + 64], dir[ACONF_PATH_MAX + 64];
	int fd;

	if (a->compact_due)
		return (0);
	if (log_path(a, "compact-due", path, sizeof(path)) != 0 ||
	    log_path(a, "", dir, sizeof(dir)) != 0)
		return (FERRY_EINVAL);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) < 0)
		return (FERRY_EIO);
	if (fsync(fd) != 0) {
		close(fd);
		return (FERRY_EIO);
	}
	close(fd);
	if (ferry_fsync_dir(dir) != 0)
		return (FERRY_EIO);
	a->compact_due = 1;
	return (0);
}

uint64_t
agentd_commits(const struct agentd *a)
{

	return (a->commits_before + (a->log != NULL ? log_commits(a->log) :
	    0));
}

/* The size of ${path} in bytes, 0 if unknown. */
static uint64_t
file_size(const char *path)
{
	struct stat st;

	return (stat(path, &st) == 0 ? (uint64_t)st.st_size : 0);
}

/*
 * LMDB's lock file ${path}, held the way LMDB tests that a process opens
 * an environment alone (a write lock on its first byte): 0 held, with the
 * descriptor in *${fd}; 1 another process has the environment open (it
 * holds a read lock there: ferry-audit, mdb_copy); -1 an error.  While
 * held, another process's open waits.
 */
static int
excl_lock(const char *path, int *fd)
{
	struct flock fl;
	int f, rc;

	if ((f = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return (-1);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	while ((rc = fcntl(f, F_SETLK, &fl)) != 0 && errno == EINTR)
		;
	if (rc != 0) {
		rc = errno == EAGAIN || errno == EACCES ? 1 : -1;
		close(f);
		return (rc);
	}
	*fd = f;
	return (0);
}

int
agentd_compact(struct agentd *a, char *err, size_t errlen)
{
	char file[ACONF_PATH_MAX + 64], tmp[ACONF_PATH_MAX + 64];
	char dir[ACONF_PATH_MAX + 64], due[ACONF_PATH_MAX + 64];
	char oerr[AGENTD_ERR_MAX], lock[ACONF_PATH_MAX + 64];
	uint64_t t0, before, after;
	int rc, moved, lk = 0, lfd = -1;

	if (!a->compact_due)
		return (0);
	a->compact_retry = agentd_mono_ms() + COMPACT_RETRY_MS;
	if (log_path(a, "data.mdb", file, sizeof(file)) != 0 ||
	    log_path(a, "data.mdb.compact", tmp, sizeof(tmp)) != 0 ||
	    log_path(a, "compact-due", due, sizeof(due)) != 0 ||
	    log_path(a, "lock.mdb", lock, sizeof(lock)) != 0 ||
	    log_path(a, "", dir, sizeof(dir)) != 0)
		return (FERRY_EINVAL);
	/* Deferred records (custody, spool marks) committed first: they
	 * would survive in memory anyway; committed, they are in the copy. */
	(void)agentd_defer_flush(a);
	t0 = agentd_mono_ms();
	before = file_size(file);
	(void)unlink(tmp);		/* a crash's half copy */
	if ((rc = agentd_fault_point("compact")) != 0 ||
	    (rc = log_compact(a->log, tmp)) != 0) {
		agentd_seterr(err, errlen, "the store was not compacted: "
		    "%s%s; the erased messages' sealed copies stay in freed "
		    "pages of %s until it is (tried again in 10 minutes and "
		    "at the next start)", ferry_strerror(rc), rc ==
		    FERRY_ENOSPC ? " (the copy needs free space about the "
		    "size of the live data)" : "", file);
		alog(ALOG_ERROR, "compact", "%s", err);
		return (rc);
	}
	agentd_crash_point("compact-copied");
	a->commits_before += log_commits(a->log);
	agentd_store_close(a);
	/*
	 * The copy takes the file's place only if no other process has the
	 * environment open: its lock file's state (the last transaction's
	 * number) would not be reset for the copy, which LMDB numbers from
	 * 1, and the store reopened could read an empty meta page.  The
	 * lock, taken here, stays held (a->lockfd) while the store is open:
	 * closing it would drop LMDB's own locks of this process too.
	 */
	if ((lk = excl_lock(lock, &lfd)) != 0) {
		agentd_seterr(err, errlen, "the store was not compacted: %s; "
		    "tried again in 10 minutes and at the next start", lk > 0 ?
		    "another process has its folder open (ferry-audit on the "
		    "live folder, a backup's mdb_copy?): let it finish" :
		    "its lock file cannot be opened");
		moved = 0;
		(void)unlink(tmp);
	} else if (!(moved = rename(tmp, file) == 0)) {
		agentd_seterr(err, errlen, "the store was not compacted: "
		    "cannot put the copy in place: %s; tried again in 10 "
		    "minutes and at the next start", strerror(errno));
		(void)unlink(tmp);
	} else
		(void)ferry_fsync_dir(dir);
	agentd_crash_point("compact-renamed");
	oerr[0] = '\0';
	if (agentd_fault_point("compact-reopen") != 0 ||
	    agentd_store_open(a, oerr, sizeof(oerr)) != 0) {
		agentd_seterr(err, errlen, "the store could not be reopened "
		    "after compaction: %s: the agent stops; start it again "
		    "(the store is whole: the copy was synced before it took "
		    "the file's place)", oerr[0] ? oerr : "injected fault");
		alog(ALOG_ERROR, "compact", "%s", err);
		a->store_lost = 1;
		if (lfd >= 0)
			close(lfd);
		return (-1);
	}
	if (lfd >= 0)
		a->lockfd = lfd + 1;
	if (!moved) {
		alog(ALOG_ERROR, "compact", "%s", err);
		return (FERRY_EIO);
	}
	after = file_size(file);
	if (unlink(due) != 0 && errno != ENOENT) {
		/* Compacted again at the next start: harmless. */
		alog(ALOG_WARN, "compact", "cannot remove %s: %s", due,
		    strerror(errno));
	}
	a->compact_due = 0;
	alog(ALOG_INFO, "compacted", "%s: %llu -> %llu bytes in %llu ms: "
	    "the freed pages of erased messages are gone from the file",
	    file, (unsigned long long)before, (unsigned long long)after,
	    (unsigned long long)(agentd_mono_ms() - t0));
	return (0);
}

int
agentd_compact_at_open(struct agentd *a, char *err, size_t errlen)
{
	char due[ACONF_PATH_MAX + 64], cerr[AGENTD_ERR_MAX];
	struct stat st;
	int rc;

	if (log_path(a, "compact-due", due, sizeof(due)) != 0 ||
	    lstat(due, &st) != 0)
		return (0);
	a->compact_due = 1;
	cerr[0] = '\0';
	if ((rc = agentd_compact(a, cerr, sizeof(cerr))) < 0) {
		agentd_seterr(err, errlen, "%s", cerr);
		return (FERRY_EIO);
	}
	/* Not compacted (e.g. the disk is full): the agent runs; the loop
	 * tries again (said by agentd_compact). */
	return (0);
}

/*
 * At most this many messages are erased in one synced commit (erase by
 * case or date, retention): years of messages are a few commits, not one
 * per message each waiting the agent's loop, and one commit's records
 * stay small.
 */
#define ERASE_GROUP 128

/* One message to erase, looked up (erase_look) before its commit. */
struct erase_item {
	const uint8_t *id;
	const char *rule;		/* retention rule, or NULL / "" */
	char dir;			/* 'o' sent, 'i' received */
	struct astore_out o;
	struct astore_in in;
};

/* Find ${it}'s record and check it may be erased: 0, else the error (${err} says it). */
static int
erase_look(struct agentd *a, struct erase_item *it, char *err, size_t errlen)
{
	struct astore_erased er;
	char hx[33];
	int rc;

	agentd_idhex(hx, it->id);
	memset(&it->in, 0, sizeof(it->in));
	if ((rc = astore_get_erased(a->store, it->id, &er)) == 0) {
		agentd_seterr(err, errlen, "message %s is already erased", hx);
		return (FERRY_EDUPMSG);
	}
	if (rc != FERRY_ENOENT)
		goto fail;
	if ((rc = astore_get_out(a->store, it->id, &it->o)) == 0) {
		it->dir = 'o';
		if (it->o.state == ASTORE_QUEUED ||
		    it->o.state == ASTORE_ACCEPTED) {
			agentd_seterr(err, errlen, "message %s is still on its "
			    "way (%s): erase it once it is delivered or "
			    "failed", hx, astore_state_name(it->o.state));
			return (FERRY_EINVAL);
		}
		return (0);
	}
	if (rc == FERRY_ENOENT &&
	    (rc = astore_get_in(a->store, it->id, &it->in)) == 0) {
		it->dir = 'i';
		return (0);
	}
	if (rc == FERRY_ENOENT)
		agentd_seterr(err, errlen, "no message %s in this agency's "
		    "store", hx);
fail:
	if (err != NULL && err[0] == '\0')
		agentd_seterr(err, errlen, "erasing message %s: %s", hx,
		    ferry_strerror(rc));
	return (rc);
}

/*
 * Erase the ${n} looked-up items ${it} in one synced commit (each its
 * LOG_ERASURE entry, its envelope deleted, its sealed content key zeroed
 * and its erasure recorded), then overwrite and remove their spool
 * copies.  0, or the error (${err} says it): then none is erased.
 */
static int
erase_commit(struct agentd *a, struct erase_item *it, size_t n, int reason,
    const char *ref, char *err, size_t errlen)
{
	struct astore_erased er;
	struct log_batch *b;
	char hx[33];
	size_t i;
	int rc;

	agentd_idhex(hx, it[0].id);
	/* Durable before the commit: its freed pages are compacted away
	 * even if a crash comes right after it. */
	if ((rc = compact_mark(a)) != 0) {
		agentd_seterr(err, errlen, "erasing message %s%s: cannot "
		    "write %s/log/compact-due: %s (nothing erased)", hx,
		    n > 1 ? " and others" : "", a->conf.data,
		    ferry_strerror(rc));
		return (rc);
	}
	if ((rc = log_begin(a->log, &b)) != 0)
		goto fail;
	memset(&er, 0, sizeof(er));
	er.t_erased = ferry_now_ms();
	er.reason = (uint32_t)reason;
	agentd_copy_str(er.ref, sizeof(er.ref), ref != NULL ? ref : "");
	for (i = 0; i < n; i++) {
		agentd_copy_str(er.rule, sizeof(er.rule), it[i].rule != NULL ?
		    it[i].rule : "");
		if ((rc = log_erase_batch(b, it[i].id, reason, a->me->id,
		    a->roster->version, NULL)) != 0 ||
		    (rc = it[i].dir == 'o' ? astore_erase_out(a->store, b,
		    &it[i].o, &er) : astore_erase_in(a->store, b, &it[i].in,
		    &er)) != 0) {
			agentd_idhex(hx, it[i].id);
			log_abort(b);
			goto fail;
		}
	}
	if ((rc = log_commit(b)) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		shred_spool(a, it[i].id, it[i].dir, it[i].dir == 'o' ?
		    it[i].o.spool_name : NULL);
		agentd_idhex(hx, it[i].id);
		alog(ALOG_INFO, "erased", "msg=%s reason=%s%s%s", hx,
		    reason == LOG_ERASE_RETENTION ? "retention" : "request",
		    it[i].rule != NULL && it[i].rule[0] != '\0' ? " rule=" :
		    "", it[i].rule != NULL ? it[i].rule : "");
	}
	return (0);
fail:
	agentd_seterr(err, errlen, "erasing message %s%s: %s (nothing of "
	    "this group erased)", hx, n > 1 ? " and the others of its group" :
	    "", ferry_strerror(rc));
	return (rc);
}

int
agentd_erase(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN],
    int reason, const char *ref, const char *rule, char *err, size_t errlen)
{
	struct erase_item it;
	int rc;

	memset(&it, 0, sizeof(it));
	it.id = id;
	it.rule = rule;
	if ((rc = erase_look(a, &it, err, errlen)) == 0)
		rc = erase_commit(a, &it, 1, reason, ref, err, errlen);
	astore_in_clear(&it.in);
	return (rc);
}

int
agentd_erase_many(struct agentd *a, const struct agentd_erase_pick *p,
    size_t n, int reason, const char *ref, uint8_t *done, char *err,
    size_t errlen)
{
	struct erase_item *it;
	char e[AGENTD_ERR_MAX];
	size_t i, k, m, ok, where[ERASE_GROUP];
	int rc, first = 0;

	if (n == 0)
		return (0);
	memset(done, 0, n);
	if ((it = calloc(n < ERASE_GROUP ? n : ERASE_GROUP,
	    sizeof(*it))) == NULL)
		return (FERRY_ENOMEM);
	for (i = 0; i < n; i += m) {
		m = n - i < ERASE_GROUP ? n - i : ERASE_GROUP;
		/* Look up the group's messages, those that may be erased
		 * packed to the front (their places in ${where}); the others
		 * left out, the first error kept. */
		for (ok = 0, k = 0; k < m; k++) {
			memset(&it[ok], 0, sizeof(it[ok]));
			it[ok].id = p[i + k].id;
			it[ok].rule = p[i + k].rule;
			e[0] = '\0';
			if ((rc = erase_look(a, &it[ok], e, sizeof(e))) == 0) {
				where[ok++] = i + k;
				continue;
			}
			astore_in_clear(&it[ok].in);
			if (first == 0) {
				first = rc;
				agentd_copy_str(err, errlen, e);
			}
		}
		e[0] = '\0';
		if (ok > 0 && (rc = erase_commit(a, it, ok, reason, ref, e,
		    sizeof(e))) != 0) {
			if (first == 0) {
				first = rc;
				agentd_copy_str(err, errlen, e);
			}
		} else
			for (k = 0; k < ok; k++)
				done[where[k]] = 1;
		for (k = 0; k < ok; k++)
			astore_in_clear(&it[k].in);
	}
	free(it);
	return (first);
}

/* ---- selection --------------------------------------------------------- */

struct pick {
	struct agentd *a;
	const char *case_id;		/* NULL: any */
	uint64_t before;		/* 0: any */
	const struct aconf_ret *ret;	/* retention: rules, else NULL */
	size_t nret;
	uint64_t now;
	struct agentd_erase_sel *sel;
};

/* Add ${id} (its time ${t}, kind ${kind}) to the selection if it matches. */
static int
consider(struct pick *p, const uint8_t id[FERRY_MSGID_LEN], uint64_t t,
    const char *case_id, const char *kind, int in_flight)
{
	struct agentd_erase_sel *s = p->sel;
	struct astore_erased er;
	const struct aconf_ret *rule = NULL;
	struct agentd_erase_pick *np;
	size_t i;

	if (p->case_id != NULL && strcmp(case_id, p->case_id) != 0)
		return (0);
	if (p->before != 0 && t >= p->before)
		return (0);
	if (p->ret != NULL) {
		for (i = 0; i < p->nret; i++)
			if (strcmp(p->ret[i].kind, kind) == 0)
				rule = &p->ret[i];
		if (rule == NULL || p->now < t || p->now - t < rule->ms)
			return (0);
	}
	if (astore_get_erased(p->a->store, id, &er) == 0) {
		s->already++;
		return (0);
	}
	if (in_flight) {
		s->in_flight++;
		return (0);
	}
	if (s->n == s->cap) {
		if ((np = realloc(s->p, (s->cap * 2 + 16) * sizeof(*np))) ==
		    NULL)
			return (FERRY_ENOMEM);
		s->p = np;
		s->cap = s->cap * 2 + 16;
	}
	memcpy(s->p[s->n].id, id, FERRY_MSGID_LEN);
	s->p[s->n].rule[0] = '\0';
	if (rule != NULL)
		snprintf(s->p[s->n].rule, sizeof(s->p[s->n].rule),
		    "kind %s, %s", rule->kind, rule->text);
	s->n++;
	return (0);
}

static int
pick_out(void *ctx, const struct astore_out *r)
{

	return (consider(ctx, r->msg_id, r->t_queued, r->case_id, r->kind,
	    r->state == ASTORE_QUEUED || r->state == ASTORE_ACCEPTED));
}

static int
pick_in(void *ctx, const struct astore_in *r)
{

	return (consider(ctx, r->msg_id, r->t_received, r->case_id, r->kind,
	    0));
}

static int
select_msgs(struct pick *p)
{
	int rc;

	memset(p->sel, 0, sizeof(*p->sel));
	if ((rc = astore_foreach_out(p->a->store, pick_out, p)) != 0 ||
	    (rc = astore_foreach_in(p->a->store, pick_in, p)) != 0) {
		agentd_erase_sel_free(p->sel);
		return (rc);
	}
	return (0);
}

int
agentd_erase_select(struct agentd *a, const char *case_id, uint64_t before,
    struct agentd_erase_sel *sel)
{
	struct pick p;

	memset(&p, 0, sizeof(p));
	p.a = a;
	p.case_id = case_id;
	p.before = before;
	p.sel = sel;
	return (select_msgs(&p));
}

void
agentd_erase_sel_free(struct agentd_erase_sel *sel)
{

	free(sel->p);
	memset(sel, 0, sizeof(*sel));
}

/* ---- retention --------------------------------------------------------- */

/* Sweep: spool copies of erased messages left by a crash after the commit. */
static int
sweep_one(void *ctx, const uint8_t *id, char dir, const char *spool_name)
{
	struct agentd *a = ctx;
	struct astore_erased er;

	if (astore_get_erased(a->store, id, &er) == 0)
		shred_spool(a, id, dir, spool_name);
	return (0);
}

static int
sweep_out(void *ctx, const struct astore_out *r)
{

	return (sweep_one(ctx, r->msg_id, 'o', r->spool_name));
}

static int
sweep_in(void *ctx, const struct astore_in *r)
{

	return (sweep_one(ctx, r->msg_id, 'i', NULL));
}

int
agentd_retention_run(struct agentd *a, uint64_t now, size_t *nerased)
{
	struct aconf_ret ret[ACONF_RET_MAX];
	struct agentd_erase_sel sel;
	struct pick p;
	char err[AGENTD_ERR_MAX];
	size_t i, nret, done = 0;
	uint8_t *ok;
	int rc, first = 0;

	*nerased = 0;
	(void)astore_foreach_out(a->store, sweep_out, a);
	(void)astore_foreach_in(a->store, sweep_in, a);
	if (aconf_retention(a->conf.retention, ret, &nret, err,
	    sizeof(err)) != 0 || nret == 0)
		return (0);
	memset(&p, 0, sizeof(p));
	p.a = a;
	p.ret = ret;
	p.nret = nret;
	p.now = now;
	p.sel = &sel;
	if ((rc = select_msgs(&p)) != 0) {
		alog(ALOG_ERROR, "retention", "listing the store: %s: "
		    "retention not applied; it is tried again in a day or at "
		    "the next start", ferry_strerror(rc));
		return (rc);
	}
	if (sel.n > 0 && (ok = malloc(sel.n)) == NULL)
		first = FERRY_ENOMEM;
	else if (sel.n > 0) {
		err[0] = '\0';
		first = agentd_erase_many(a, sel.p, sel.n, LOG_ERASE_RETENTION,
		    NULL, ok, err, sizeof(err));
		for (i = 0; i < sel.n; i++)
			done += ok[i];
		free(ok);
	}
	if (first != 0)
		alog(ALOG_ERROR, "retention", "%s: tried again in a day or at "
		    "the next start", err[0] != '\0' ? err :
		    ferry_strerror(first));
	/* Spool files refused before they became messages hold the same
	 * data: removed once older (by their time) than their kind's rule. */
	(void)agentd_erase_failed(a, NULL, 0, ret, nret, now, NULL);
	if (sel.in_flight > 0)
		alog(ALOG_WARN, "retention", "%zu message(s) past retention "
		    "are still on their way: erased once delivered or failed",
		    sel.in_flight);
	if (done > 0 || sel.n > 0)
		alog(ALOG_INFO, "retention", "erased %zu of %zu message(s) "
		    "past retention (%s)", done, sel.n, a->conf.retention);
	agentd_erase_sel_free(&sel);
	*nerased = done;
	return (first);
}

int
agentd_retention_due(struct agentd *a, uint64_t mono)
{
	size_t n;

	if (a->next_retention != 0 && mono < a->next_retention)
		return (0);
	a->next_retention = mono + RETENTION_EVERY_MS;
	(void)agentd_retention_run(a, ferry_now_ms(), &n);
	return (1);
}
