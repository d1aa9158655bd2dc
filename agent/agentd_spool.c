/*
 * agentd_spool.c: the spool folders, for systems that can only drop and
 * pick up files (docs/agent.md, "Spool folders"):
 *
 *   <spool>/outbox/<agency-id>/NAME.json   referral for <agency-id>: sent,
 *                                         then moved to sent/<agency-id>/
 *   <spool>/sent/<agency-id>/NAME.json     as dropped, its name kept (or
 *                                         NAME.<msgid>.json if taken)
 *   <spool>/sent/<agency-id>/NAME.json.id  its message id, one line
 *   <spool>/failed/NAME, NAME.error       refused, with the reason
 *   <spool>/inbox/<msgid>.json            received referral (+ <msgid>.meta)
 *
 * Writers must create a file under a temporary name (starting with '.', or
 * ending in ".tmp") and rename it into place: such names are never picked
 * up, so a half-written file is never sent.  A file is matched to the
 * message it became by the SHA-256 of its name and content, recorded in
 * the same commit as the message, so a crash between that commit and the
 * move to sent/ never sends it twice.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agentd.h"
#include "agentd_int.h"
#include "alog.h"
#include "backlog.h"
#include "referral.h"

#define SPOOL_PER_SCAN 64	/* files per scan: keeps the loop responsive */
#define SPOOL_GROUP_BYTES (64u * 1024 * 1024)	/* file bytes per group commit */
/* Longest outbox file name taken: its sidecar's temporary name
 * (NAME.id.tmp.PID) and its failed/ names (NAME.MS.error) must fit the
 * file system's 255 bytes. */
#define SPOOL_NAME_MAX 200

static int
spath(const struct agentd *a, char *buf, size_t cap, const char *a1,
    const char *a2, const char *a3)
{

	if ((size_t)snprintf(buf, cap, "%s/%s%s%s%s%s", a->conf.spool, a1,
	    a2 ? "/" : "", a2 ? a2 : "", a3 ? "/" : "", a3 ? a3 : "") >= cap)
		return (FERRY_EINVAL);
	return (0);
}

/* fsync of spool folder ${path}, counted (status: spool_fsyncs). */
static int
fsync_dir(struct agentd *a, const char *path)
{

	a->n_spool_fsyncs++;
	return (ferry_fsync_dir(path));
}

/* Rename ${tmp} to ${path}; the temporary file goes on failure. */
static int
put_tmp(const char *tmp, const char *path)
{

	if (rename(tmp, path) == 0)
		return (0);
	unlink(tmp);
	return (errno == ENOSPC || errno == EDQUOT ? FERRY_ENOSPC : FERRY_EIO);
}

/* A file of a spool group (put_group). */
struct spool_put {
	const char *dir;		/* its folder */
	char path[ACONF_PATH_MAX + 704];
	const void *buf;
	size_t len;
	int with_prev;			/* placed only with the previous */
	int rc;				/* 0: renamed into place */
	char tmp[ACONF_PATH_MAX + 800];
};

#define PUT_DIRS 8	/* filesystems of one group's folders */
#define PUT_MAX (2 * AGENTD_RX_MAX)	/* files of one group */
#if SPOOL_PER_SCAN > PUT_MAX
#error "a scan's sidecars must fit one put_group"
#endif

/*
 * Put the files ${p}[0..n-1] in place as one group, with no fsync per
 * file: each written under its temporary name (NAME.tmp.PID, unsynced);
 * then ${point} (a crash point, agentd_crash_point; NULL: none); then
 * ONE syncfs(2) per filesystem of their folders (counted in
 * spool_fsyncs), which makes every file's data and inode durable (and,
 * with them, whatever else is dirty on that filesystem: docs/agent.md,
 * "Spool folders"); only then each renamed into place (a pair, ${with_prev},
 * both or neither).  A rename is durable once the caller syncs the folder
 * (once for the group).  So after a crash or power cut at any point a
 * name is absent or holds the complete file, never part of it.  The
 * folders are opened before the writes: syncfs reports every writeback
 * error of the filesystem since that open (Linux >= 5.8), so an error
 * writing any file of the group fails the group.  ${p}[i].rc: 0 once in
 * place; returns the first error.
 */
static int
put_group(struct agentd *a, struct spool_put *p, size_t n, const char *point)
{
	int fd[PUT_DIRS], bad[PUT_DIRS], di[PUT_MAX], f;
	struct stat st;
	dev_t dev[PUT_DIRS];
	size_t nd = 0, i, j;
	int first = 0;

	if (n == 0)
		return (0);
	if (n > PUT_MAX)
		return (FERRY_EINVAL);
	/* One descriptor per filesystem (not per folder), the first
	 * opened: before any file of the group is written. */
	for (i = 0; i < n; i++) {
		p[i].rc = 0;
		for (j = 0; j < i && strcmp(p[j].dir, p[i].dir) != 0; j++)
			;
		if (j < i)
			di[i] = di[j];
		else if ((f = open(p[i].dir, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) < 0 || fstat(f, &st) != 0) {
			if (f >= 0)
				close(f);
			di[i] = -1;
		} else {
			for (j = 0; j < nd && dev[j] != st.st_dev; j++)
				;
			if (j < nd || nd == PUT_DIRS) {
				close(f);	/* that filesystem's, or too many */
				di[i] = j < nd ? (int)j : -1;
			} else {
				fd[nd] = f;
				dev[nd] = st.st_dev;
				bad[nd] = 0;
				di[i] = (int)nd++;
			}
		}
		if (di[i] < 0)
			p[i].rc = FERRY_EIO;
		else
			p[i].rc = ferry_write_tmp(p[i].path, p[i].buf,
			    p[i].len, 0600, p[i].tmp, sizeof(p[i].tmp));
	}
	if (point != NULL)
		agentd_crash_point(point);
	for (j = 0; j < nd; j++) {
		a->n_spool_fsyncs++;
		if (FERRY_FAULT("agent-spool-sync"))
			bad[j] = FERRY_EIO;
		else if (syncfs(fd[j]) != 0)
			bad[j] = errno == ENOSPC || errno == EDQUOT ?
			    FERRY_ENOSPC : FERRY_EIO;
	}
	/* Not durable, or its pair's other half failed: not renamed. */
	for (i = 0; i < n; i++) {
		if (p[i].rc == 0 && bad[di[i]] != 0)
			p[i].rc = bad[di[i]];
		if (p[i].with_prev && i > 0 && (p[i].rc | p[i - 1].rc) != 0)
			p[i].rc = p[i - 1].rc = p[i].rc ? p[i].rc :
			    p[i - 1].rc;
	}
	for (i = 0; i < n; i++) {
		if (p[i].rc == 0)
			p[i].rc = put_tmp(p[i].tmp, p[i].path);
		else if (p[i].tmp[0] != '\0')
			(void)unlink(p[i].tmp);
		if (p[i].rc != 0 && first == 0)
			first = p[i].rc;
	}
	for (j = 0; j < nd; j++)
		close(fd[j]);
	return (first);
}

/*
 * One file written atomically and durably: temporary file, syncfs,
 * rename, folder synced.
 */
static int
write_one(struct agentd *a, const char *dir, const char *path,
    const void *buf, size_t len)
{
	struct spool_put *p;
	int rc;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (FERRY_ENOMEM);
	p->dir = dir;
	p->buf = buf;
	p->len = len;
	if ((size_t)snprintf(p->path, sizeof(p->path), "%s", path) >=
	    sizeof(p->path))
		rc = FERRY_EINVAL;
	else if ((rc = put_group(a, p, 1, NULL)) == 0)
		rc = fsync_dir(a, dir);
	free(p);
	return (rc);
}

static int
mkd(const char *path)
{

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return (FERRY_EIO);
	return (0);
}

/*
 * A folder inside the spool (outbox/, sent/<to>/, failed/, ...), made if
 * missing: it must be a folder itself, not a link to one (FERRY_EPERM).
 * Files are renamed into these: a spool writer able to swap failed/ for
 * a link to the agent's data folder planted files there (a roster file
 * that stopped every start).  The spool folder itself may be a link (an
 * operator's choice of disk).
 */
static int
mkd_sub(const char *path)
{
	struct stat st;
	int rc;

	if ((rc = mkd(path)) != 0)
		return (rc);
	if (lstat(path, &st) != 0)
		return (FERRY_EIO);
	if (!S_ISDIR(st.st_mode)) {
		alog(ALOG_ERROR, "spool", "%s is not a folder (a link?): the "
		    "spool's folders must be folders of their own; replace it "
		    "with one (mkdir, owner the agent's user)", path);
		return (FERRY_EPERM);
	}
	return (0);
}

/*
 * Is ${n} a temporary file of ours, "NAME.tmp.PID" (ferry_write_tmp),
 * from another process than this one: left by a crash between its write
 * and its rename?
 */
static int
stale_tmp(const char *n)
{
	const char *p = strstr(n, ".tmp."), *q;
	char self[24];

	if (p == NULL || p == n)
		return (0);
	for (q = p + 5; *q >= '0' && *q <= '9'; q++)
		;
	if (q == p + 5 || *q != '\0')
		return (0);
	snprintf(self, sizeof(self), "%ld", (long)getpid());
	return (strcmp(p + 5, self) != 0);
}

/*
 * At start, remove the temporary files a crash left in folder ${dir},
 * which only this agent writes (inbox/, sent/AGENCY/): their content is
 * written again (the spool recovery) or was never acknowledged.  Never
 * in outbox/, whose files are the case system's.
 */
static void
sweep_tmp(const char *dir)
{
	char path[ACONF_PATH_MAX + 512];
	struct dirent *d;
	struct stat st;
	DIR *od;

	if ((od = opendir(dir)) == NULL)
		return;
	while ((d = readdir(od)) != NULL) {
		if (!stale_tmp(d->d_name) || (size_t)snprintf(path,
		    sizeof(path), "%s/%s", dir, d->d_name) >= sizeof(path))
			continue;
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (unlink(path) == 0)
			alog(ALOG_WARN, "spool-tmp", "removed %s: a temporary "
			    "file a crash left behind (its content is "
			    "written again or was never acknowledged)", path);
	}
	closedir(od);
}

int
agentd_spool_init(struct agentd *a)
{
	static const char *subs[] = { "outbox", "sent", "failed", "inbox" };
	const struct roster_agency *ag;
	char path[ACONF_PATH_MAX + 256];
	size_t i;
	int rc;

	if (a->conf.spool[0] == '\0')
		return (0);
	if ((rc = mkd(a->conf.spool)) != 0)
		return (rc);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if ((rc = spath(a, path, sizeof(path), subs[i], NULL,
		    NULL)) != 0 || (rc = mkd_sub(path)) != 0)
			return (rc);
	}
	for (i = 0; i < a->roster->nagencies; i++) {
		ag = &a->roster->agencies[i];
		if (ag->status != ROSTER_ACTIVE ||
		    strcmp(ag->id, a->me->id) == 0)
			continue;
		if ((rc = spath(a, path, sizeof(path), "outbox", ag->id,
		    NULL)) != 0 || (rc = mkd_sub(path)) != 0)
			return (rc);
	}
	if (spath(a, path, sizeof(path), "inbox", NULL, NULL) == 0)
		sweep_tmp(path);
	for (i = 0; i < a->roster->nagencies; i++)
		if (spath(a, path, sizeof(path), "sent",
		    a->roster->agencies[i].id, NULL) == 0)
			sweep_tmp(path);
	return (0);
}

static int
skip_name(const char *n)
{
	size_t len = strlen(n);

	if (n[0] == '.')
		return (1);
	if (len >= 4 && strcmp(n + len - 4, ".tmp") == 0)
		return (1);
	if (strstr(n, ".tmp.") != NULL)
		return (1);
	return (0);
}

/*
 * Rename outbox file ${from} to ${to} if the name still holds the file
 * read (device and inode ${fid}; NULL: none was read).  A case system may
 * drop a new file under the same name between the read and the move
 * (writers rename into place: a new inode); moved, the new referral would
 * sit in sent/ never sent.  Checked before the rename and after it: one
 * swapped in between is renamed back to ${from} (never over a newer one).
 * 0 moved; 1 not moved, the name holds another file now (sent at the next
 * scan; said); -1 the rename failed (errno).
 */
static int
move_read(const char *from, const char *to, const uint64_t fid[2])
{
	struct stat st;

	if (fid != NULL && lstat(from, &st) != 0)
		return (-1);
	if (fid != NULL && ((uint64_t)st.st_dev != fid[0] ||
	    (uint64_t)st.st_ino != fid[1])) {
		alog(ALOG_WARN, "spool-replaced", "%s: a new file took this "
		    "name after the agent read it: not moved, sent at the "
		    "next scan (give each file a name of its own)", from);
		return (1);
	}
	agentd_crash_point("spool-move");
	if (rename(from, to) != 0)
		return (-1);
	if (fid == NULL || (lstat(to, &st) == 0 &&
	    (uint64_t)st.st_dev == fid[0] && (uint64_t)st.st_ino == fid[1]))
		return (0);
	if (renameat2(AT_FDCWD, to, AT_FDCWD, from, RENAME_NOREPLACE) != 0) {
		alog(ALOG_ERROR, "spool-replaced", "%s: a new file took this "
		    "name while the agent moved the file it read, and cannot "
		    "be put back (%s): NOT SENT; it is %s: move it into "
		    "outbox/ under a new name to send it", from,
		    strerror(errno), to);
		return (1);
	}
	alog(ALOG_WARN, "spool-replaced", "%s: a new file took this name "
	    "after the agent read it: put back, sent at the next scan (give "
	    "each file a name of its own)", from);
	return (1);
}

/*
 * Move ${from} to failed/ and write NAME.error beside it: ${reason}, one
 * line "FERRY_E...: PATH: RULE" with no newline at the end (a case system
 * storing the text gets no stray line feed).
 */
static void
to_failed(struct agentd *a, const char *from, const char *name,
    const char *reason, const uint64_t fid[2])
{
	char dst[ACONF_PATH_MAX + 512], epath[ACONF_PATH_MAX + 520];
	char fname[300], dir[ACONF_PATH_MAX + 16];
	struct stat st;
	int rc;

	/* Its name, cut to SPOOL_NAME_MAX bytes: NAME.MS.error and the
	 * temporary name of NAME.error must fit the file system's 255. */
	snprintf(fname, sizeof(fname), "%.*s", SPOOL_NAME_MAX, name);
	if (spath(a, dst, sizeof(dst), "failed", fname, NULL) != 0)
		return;
	if (lstat(dst, &st) == 0) {
		snprintf(fname, sizeof(fname), "%.*s.%llu", SPOOL_NAME_MAX,
		    name, (unsigned long long)ferry_now_ms());
		if (spath(a, dst, sizeof(dst), "failed", fname, NULL) != 0)
			return;
	}
	snprintf(epath, sizeof(epath), "%s.error", dst);
	if (spath(a, dir, sizeof(dir), "failed", NULL, NULL) != 0 ||
	    mkd_sub(dir) != 0)
		return;		/* left in outbox/ (mkd_sub said why) */
	if ((rc = write_one(a, dir, epath, reason, strlen(reason))) != 0)
		alog(ALOG_ERROR, "spool", "cannot write %s: %s", epath,
		    ferry_strerror(rc));
	if ((rc = move_read(from, dst, fid)) != 0) {
		if (rc < 0)
			alog(ALOG_ERROR, "spool", "cannot move %s to failed/: "
			    "%s", from, strerror(errno));
		/* Its reason is not the new file's. */
		(void)unlink(epath);
		return;
	}
	(void)fsync_dir(a, dir);
	alog(ALOG_WARN, "spool-failed", "%s: %s", name, reason);
}

/*
 * The sidecar ${path} (sent/<to>/NAME.id): 1 if it names a message
 * this agency's store does not know (neither sent nor erased), 0 if it
 * does or cannot be read as one (left alone); ${hx} its id.
 */
static int
sidecar_unknown(struct agentd *a, const char *path, char hx[33])
{
	struct astore_erased er;
	struct astore_out o;
	uint8_t *buf, id[FERRY_MSGID_LEN];
	size_t len;
	int ok;

	if (ferry_read_file(path, 64, &buf, &len, FERRY_READ_NOFOLLOW) != 0)
		return (0);
	ok = (len == 32 || (len == 33 && buf[32] == '\n'));
	if (ok) {
		memcpy(hx, buf, 32);
		hx[32] = '\0';
		ok = ferry_unhex(id, FERRY_MSGID_LEN, hx) == 0;
	}
	free(buf);
	if (!ok)
		return (0);
	ferry_hex(hx, id, FERRY_MSGID_LEN);
	return (astore_get_out(a->store, id, &o) == FERRY_ENOENT &&
	    astore_get_erased(a->store, id, &er) == FERRY_ENOENT);
}

int
agentd_spool_restored(struct agentd *a)
{
	char dir[ACONF_PATH_MAX + 128], side[ACONF_PATH_MAX + 512];
	char file[ACONF_PATH_MAX + 512], name[256], reason[2048], hx[33];
	struct dirent *d, *f;
	DIR *top, *sub;
	size_t n;
	int moved = 0, before;

	if (a->conf.spool[0] == '\0' || spath(a, dir, sizeof(dir), "sent",
	    NULL, NULL) != 0 || (top = opendir(dir)) == NULL)
		return (0);
	while ((d = readdir(top)) != NULL) {
		if (d->d_name[0] == '.' || !ferry_id_valid(d->d_name, strlen(d->d_name)) ||
		    spath(a, dir, sizeof(dir), "sent", d->d_name, NULL) != 0 ||
		    (sub = opendir(dir)) == NULL)
			continue;
		before = moved;
		while ((f = readdir(sub)) != NULL) {
			n = strlen(f->d_name);
			if (f->d_name[0] == '.' || n < 4 ||
			    strcmp(f->d_name + n - 3, ".id") != 0 ||
			    (size_t)snprintf(side, sizeof(side), "%s/%s", dir,
			    f->d_name) >= sizeof(side) ||
			    !sidecar_unknown(a, side, hx))
				continue;
			snprintf(file, sizeof(file), "%.*s", (int)(strlen(side) -
			    3), side);
			snprintf(name, sizeof(name), "%.*s", (int)(n - 3),
			    f->d_name);
			snprintf(reason, sizeof(reason), "FERRY_ENOENT: "
			    "sent/%s/%s: sent to %s as message %s, which this "
			    "agency's store has no record of: the data folder "
			    "was restored from a backup taken before it was "
			    "sent (or replaced). It may or may not have reached "
			    "%s: ask them about message %s; to send it again, "
			    "move it into outbox/%s/ (it gets a new id)",
			    d->d_name, name, d->d_name, hx, d->d_name, hx,
			    d->d_name);
			if (access(file, F_OK) == 0) {
				to_failed(a, file, name, reason, NULL);
				if (access(file, F_OK) == 0)
					continue;	/* not moved: said */
			}
			(void)unlink(side);
			alog(ALOG_ERROR, "restored", "msg=%s to=%s: sent/%s/"
			    "%s was sent as this message, which this "
			    "agency's store has no record of (the data folder "
			    "restored from an older backup?): it is in failed/ "
			    "with why and what to do", hx, d->d_name, d->d_name,
			    name);
			moved++;
		}
		closedir(sub);
		if (moved > before)
			(void)fsync_dir(a, dir);
	}
	closedir(top);
	return (moved);
}

/*
 * The name in sent/<to>/ for spool file ${name} sent as message ${hx}:
 * ${name} itself unless that name (or its ".id" sidecar) is taken by an
 * earlier message, then ${name} with ".<msgid>" before its extension
 * ("housing-1.json" -> "housing-1.<msgid>.json"), so nothing earlier is
 * overwritten.  A sidecar already holding ${hx} is this message's own,
 * from a move a crash cut off: the name is kept.
 */
static void
sent_name(const char *dir, const char *name, const char *hx, char *out,
    size_t cap)
{
	char p[ACONF_PATH_MAX + 700];
	struct stat st;
	int is;

	snprintf(out, cap, "%s", name);
	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p))
		return;
	if ((is = agentd_sidecar_is(p, hx)) == 1)
		return;
	if (is < 0 && lstat(p, &st) != 0 && errno == ENOENT)
		return;
	agentd_id_name(out, cap, name, hx);
}

/* A spool file picked up, on its way to a group commit and to sent/. */
struct spool_pick {
	char to[FERRY_ID_MAX + 1];
	char dirpath[ACONF_PATH_MAX + 96];	/* outbox/<to> */
	char name[300];
	char path[ACONF_PATH_MAX + 512];
	char label[600];
	uint8_t *buf;
	size_t len;
	uint8_t key[32];
	uint64_t fid[2];		/* the file read: device, inode */
	int send;			/* to be sent (in the group commit) */
	int move;			/* sent as sb.id: to move to sent/ */
	char sentdir[ACONF_PATH_MAX + 128];	/* sent/<to> */
	char dst[ACONF_PATH_MAX + 700];		/* its path in sent/<to>/ */
	struct agentd_sub sb;
};

/*
 * fsync, once each, the folders ${dir} (sentdir, or dirpath when
 * ${src}) of the picks of ${p}[0..n-1] that are moving; 0 or the first
 * error.
 */
static int
sync_dirs(struct agentd *a, const struct spool_pick *p, size_t n, int src)
{
	size_t i, j;
	int rc, first = 0;

	for (i = 0; i < n; i++) {
		if (!p[i].move)
			continue;
		for (j = 0; j < i; j++)
			if (p[j].move && strcmp(src ? p[j].dirpath :
			    p[j].sentdir, src ? p[i].dirpath :
			    p[i].sentdir) == 0)
				break;
		if (j < i)
			continue;
		if ((rc = fsync_dir(a, src ? p[i].dirpath : p[i].sentdir)) !=
		    0 && first == 0)
			first = rc;
	}
	return (first);
}

/*
 * The files of ${p}[0..n-1] marked ${move} became messages (sb.id): move
 * each to sent/<to>/ under its own name (sent_name), with "<name>.id"
 * beside it holding the message id.  For the whole batch, one sync per
 * folder and step, not per file: every sidecar written under a temporary
 * name, all made durable by one syncfs and renamed into place
 * (put_group), sent/<to>/ synced (so a file in
 * sent/ always has its id); then every file renamed, and sent/<to>/ and
 * outbox/<to>/ synced.  A crash before a move leaves the file in outbox/,
 * found sent by its spool key at the next scan (spool_read), its sidecar
 * (holding its id) kept.
 */
static void
to_sent(struct agentd *a, struct spool_pick *p, size_t n)
{
	struct spool_put *put;
	char fname[400], hx[33], line[SPOOL_PER_SCAN][34];
	size_t i, k = 0, at[SPOOL_PER_SCAN];
	int rc;

	if (n > SPOOL_PER_SCAN || (put = calloc(n ? n : 1,
	    sizeof(*put))) == NULL) {
		/* Left in outbox/: moved by the next scan. */
		for (i = 0; i < n; i++)
			p[i].move = 0;
		return;
	}
	for (i = 0; i < n; i++) {
		if (!p[i].move)
			continue;
		p[i].move = 0;
		ferry_hex(hx, p[i].sb.id, FERRY_MSGID_LEN);
		if (spath(a, p[i].sentdir, sizeof(p[i].sentdir), "sent",
		    p[i].to, NULL) != 0 || mkd_sub(p[i].sentdir) != 0) {
			alog(ALOG_ERROR, "spool", "cannot make sent/%s/: %s",
			    p[i].to, strerror(errno));
			continue;
		}
		sent_name(p[i].sentdir, p[i].name, hx, fname, sizeof(fname));
		if ((size_t)snprintf(p[i].dst, sizeof(p[i].dst), "%s/%s",
		    p[i].sentdir, fname) >= sizeof(p[i].dst) ||
		    (size_t)snprintf(put[k].path, sizeof(put[k].path), "%s.id",
		    p[i].dst) >= sizeof(put[k].path))
			continue;
		snprintf(line[k], sizeof(line[k]), "%s\n", hx);
		put[k].dir = p[i].sentdir;
		put[k].buf = line[k];
		put[k].len = strlen(line[k]);
		at[k++] = i;
	}
	/* Every sidecar written, one syncfs, renamed into place. */
	(void)put_group(a, put, k, "spool-ids-written");
	for (i = 0; i < k; i++) {
		if ((rc = put[i].rc) != 0)
			alog(ALOG_ERROR, "spool", "cannot write %s: %s (left in "
			    "outbox/, moved at the next scan)", put[i].path,
			    ferry_strerror(rc));
		else
			p[at[i]].move = 1;
	}
	free(put);
	if ((rc = sync_dirs(a, p, n, 0)) != 0) {
		alog(ALOG_ERROR, "spool", "cannot sync sent/: %s (files left "
		    "in outbox/, moved at the next scan)", ferry_strerror(rc));
		return;
	}
	agentd_crash_point("spool-ids-synced");
	for (i = 0; i < n; i++)
		if (p[i].move && (rc = move_read(p[i].path, p[i].dst,
		    p[i].fid)) != 0) {
			if (rc < 0)
				alog(ALOG_ERROR, "spool", "cannot move %s to "
				    "sent/: %s", p[i].path, strerror(errno));
			p[i].move = 0;
		}
	(void)sync_dirs(a, p, n, 0);
	(void)sync_dirs(a, p, n, 1);
	for (i = 0; i < n; i++)
		p[i].move = 0;
}

/*
 * Read file outbox/<to>/<name> into ${p}: 1 if it is to be sent (in the
 * next group commit, ${p}->send) or moved (sent before a crash:
 * ${p}->move), 0 if it was handled here (too big: failed/) or left for a
 * later scan.
 */
static int
spool_read(struct agentd *a, const char *to, const char *dirpath,
    const char *name, struct spool_pick *p)
{
	crypto_hash_sha256_state st;
	char reason[AGENTD_ERR_MAX + 128];
	int rc;

	memset(p, 0, sizeof(*p));
	if ((size_t)snprintf(p->path, sizeof(p->path), "%s/%s", dirpath,
	    name) >= sizeof(p->path) ||
	    (size_t)snprintf(p->dirpath, sizeof(p->dirpath), "%s", dirpath) >=
	    sizeof(p->dirpath) ||
	    (size_t)snprintf(p->name, sizeof(p->name), "%s", name) >=
	    sizeof(p->name))
		return (0);
	if (strlen(to) >= sizeof(p->to))
		return (0);
	memcpy(p->to, to, strlen(to) + 1);
	snprintf(p->label, sizeof(p->label), "%s/%s", to, name);
	/* Not through a link, nor blocked by a FIFO, swapped in since the
	 * scan saw a regular file under this name. */
	if ((rc = ferry_read_file_id(p->path, REFERRAL_JSON_MAX, &p->buf,
	    &p->len, FERRY_READ_NOFOLLOW, p->fid)) != 0) {
		if (rc == FERRY_ETOOBIG) {
			snprintf(reason, sizeof(reason), "%s: json: larger "
			    "than %u bytes", ferry_errname(FERRY_EJSON),
			    REFERRAL_JSON_MAX);
			to_failed(a, p->path, name, reason, NULL);
		} else if (rc == FERRY_EACCES) {
			/* Else skipped at every scan, unseen, taking a
			 * place in each scan's 64. */
			snprintf(reason, sizeof(reason), "%s: the agent's "
			    "user may not read the file: make it readable "
			    "by that user (e.g. its group), then drop it "
			    "again", ferry_errname(FERRY_EACCES));
			to_failed(a, p->path, name, reason, NULL);
		}
		p->buf = NULL;
		return (0);
	}
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)"ferry-spool/v1", 15);
	crypto_hash_sha256_update(&st, (const uint8_t *)p->label,
	    strlen(p->label) + 1);
	crypto_hash_sha256_update(&st, p->buf, p->len);
	crypto_hash_sha256_final(&st, p->key);
	if ((rc = astore_spool_lookup(a->store, p->key, p->sb.id)) == 0) {
		/* Already sent: the crash came before the move. */
		char hx[33];

		ferry_hex(hx, p->sb.id, FERRY_MSGID_LEN);
		alog(ALOG_WARN, "recovered", "msg=%s: spool file %s was sent "
		    "before a crash; moved to sent/", hx, p->label);
		p->move = 1;
	} else if (rc != FERRY_ENOENT)
		alog(ALOG_ERROR, "spool", "%s: store: %s", p->label,
		    ferry_strerror(rc));
	else {
		p->send = 1;
		p->sb.to = p->to;
		p->sb.json = (const char *)p->buf;
		p->sb.len = p->len;
		p->sb.spool_name = p->label;
		p->sb.spool_key = p->key;
		return (1);
	}
	free(p->buf);
	p->buf = NULL;
	return (p->move);
}

/*
 * The files of outbox/${to}/ wait: our undelivered messages to ${to}
 * reached max_backlog (${why}, agentd_backlog_check).  Said once (WARN)
 * until the backlog drains below the bound.
 */
static void
backlog_held(struct agentd *a, const char *to, const char *why)
{

	if (backlog_said(a->backlog, to, 1))
		alog(ALOG_WARN, "spool-backlog", "outbox/%s/: files left in "
		    "place, picked up again once the backlog drains: %s", to,
		    why);
}

/*
 * Send the files picked up to be sent, among ${p}[0..n-1], in one group
 * commit (agentd_submit_batch: one synced commit for all), then move
 * them, with those found sent before a crash, to sent/ (to_sent: one
 * fsync per folder for the batch), or to failed/ with the reason; a
 * local failure leaves a file in place.  A crash between the commit and
 * the moves is found by the spool key at the next scan (spool_read:
 * "sent before a crash").
 */
static size_t
spool_flush(struct agentd *a, struct spool_pick *p, size_t n)
{
	struct agentd_sub *sb[SPOOL_PER_SCAN] = { NULL };
	char reason[AGENTD_ERR_MAX + 128];
	size_t i, nsb = 0, done = 0;
	int rc;

	if (n == 0 || n > SPOOL_PER_SCAN)
		return (0);
	for (i = 0; i < n; i++)
		if (p[i].send)
			sb[nsb++] = &p[i].sb;
	if (nsb > 0)
		agentd_submit_batch(a, sb, nsb);
	for (i = 0; i < n; i++) {
		if (!p[i].send)
			continue;
		rc = p[i].sb.rc;
		if (rc == 0) {
			p[i].move = 1;
			done++;
		} else if (rc == FERRY_EJSON || rc == FERRY_ESCHEMA ||
		    rc == FERRY_ECONSENT || rc == FERRY_ERECIPIENT ||
		    rc == FERRY_EKEYWINDOW || rc == FERRY_EUNKNOWNAGENCY ||
		    rc == FERRY_EREVOKED || rc == FERRY_ETOOBIG) {
			snprintf(reason, sizeof(reason), "%s: %s",
			    ferry_errname(rc), p[i].sb.err[0] ? p[i].sb.err :
			    ferry_strerror(rc));
			to_failed(a, p[i].path, p[i].name, reason,
			    p[i].fid);
			done++;
		} else if (rc == FERRY_EBACKLOG)
			backlog_held(a, p[i].to, p[i].sb.err);
		else
			alog(ALOG_ERROR, "spool", "%s: %s (left in place, will "
			    "retry)", p[i].label, p[i].sb.err[0] ?
			    p[i].sb.err : ferry_strerror(rc));
		free(p[i].buf);
		p[i].buf = NULL;
	}
	to_sent(a, p, n);
	return (done);
}

int
agentd_spool_scan(struct agentd *a)
{
	char outbox[ACONF_PATH_MAX + 16], sub[ACONF_PATH_MAX + 96];
	char fpath[ACONF_PATH_MAX + 400], reason[512];
	struct dirent *d, *f;
	struct stat st;
	struct spool_pick *picks;
	size_t npick = 0, bytes = 0;
	DIR *od, *sd;
	int handled = 0;
	size_t done = 0;

	if (a->conf.spool[0] == '\0')
		return (0);
	/* Not allowed to send now: files stay for a later scan. */
	if (agentd_can_send(a, reason, sizeof(reason)) != 0) {
		if (!a->hold_logged)
			alog(ALOG_WARN, "spool-held", "outbox/ not picked up: "
			    "%s", reason);
		a->hold_logged = 1;
		return (0);
	}
	a->hold_logged = 0;
	if (spath(a, outbox, sizeof(outbox), "outbox", NULL, NULL) != 0 ||
	    (od = opendir(outbox)) == NULL)
		return (0);
	/* The picks (~1.3 MB with their paths) are allocated once a file
	 * is found: a scan of an empty outbox/, every spool_interval,
	 * allocates and clears nothing. */
	picks = NULL;
	while (handled < SPOOL_PER_SCAN && (d = readdir(od)) != NULL) {
		if (skip_name(d->d_name))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", outbox,
		    d->d_name) >= sizeof(sub) || lstat(sub, &st) != 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			snprintf(reason, sizeof(reason), "%s: to: no "
			    "recipient: put the file in outbox/<agency-id>/",
			    ferry_errname(FERRY_ERECIPIENT));
			to_failed(a, sub, d->d_name, reason, NULL);
			handled++;
			done++;
			continue;
		}
		if (!S_ISDIR(st.st_mode) ||
		    !ferry_id_valid(d->d_name, strlen(d->d_name)))
			continue;
		/* A recipient at max_backlog: its folder waits (not read,
		 * so that its files do not take every scan's turns). */
		if (agentd_backlog_check(a, d->d_name, NULL, 0, reason,
		    sizeof(reason)) != 0) {
			backlog_held(a, d->d_name, reason);
			continue;
		}
		(void)backlog_said(a->backlog, d->d_name, 0);
		if ((sd = opendir(sub)) == NULL)
			continue;
		while (handled < SPOOL_PER_SCAN && (f = readdir(sd)) != NULL) {
			if (skip_name(f->d_name))
				continue;
			if ((size_t)snprintf(fpath, sizeof(fpath), "%s/%s",
			    sub, f->d_name) >= sizeof(fpath) ||
			    lstat(fpath, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			if (strlen(f->d_name) > SPOOL_NAME_MAX) {
				/* Sent, it could never be moved to sent/
				 * (its sidecar's name too long): stuck in
				 * outbox/, two lines logged every scan. */
				snprintf(reason, sizeof(reason), "%s: the file "
				    "name is longer than %d bytes: drop it "
				    "again under a shorter name",
				    ferry_errname(FERRY_EINVAL),
				    SPOOL_NAME_MAX);
				to_failed(a, fpath, f->d_name, reason,
				    NULL);
				handled++;
				done++;
				continue;
			}
			if (picks == NULL && (picks = calloc(SPOOL_PER_SCAN,
			    sizeof(*picks))) == NULL) {
				/* Left in place for a later scan. */
				closedir(sd);
				closedir(od);
				return (0);
			}
			if (spool_read(a, d->d_name, sub, f->d_name,
			    &picks[npick]) == 1) {
				bytes += picks[npick].len;
				npick++;
			}
			handled++;
			/* Bound the memory a group holds. */
			if (bytes >= SPOOL_GROUP_BYTES) {
				done += spool_flush(a, picks, npick);
				npick = 0;
				bytes = 0;
			}
		}
		closedir(sd);
	}
	closedir(od);
	done += spool_flush(a, picks, npick);
	free(picks);
	/* A full scan that moved files on: more may wait, scan again at
	 * once (after the sockets' turn); else wait for spool_interval
	 * (files a local failure keeps in place are not busy-looped). */
	return (handled >= SPOOL_PER_SCAN && done > 0);
}

int
agentd_spool_inbox(struct agentd *a, struct agentd_inbox_file *f, size_t n)
{
	static const char *ext[2] = { "meta", "json" };
	struct spool_put *p;
	char dir[ACONF_PATH_MAX + 16], name[48], hx[33];
	size_t i, k, placed = 0;
	int rc = 0, first = 0;

	for (i = 0; i < n; i++)
		f[i].rc = 0;
	if (a->conf.spool[0] == '\0' || n == 0)
		return (0);
	if (n > AGENTD_RX_MAX)
		rc = FERRY_EINVAL;
	else if ((rc = spath(a, dir, sizeof(dir), "inbox", NULL, NULL)) == 0 &&
	    (rc = mkd_sub(dir)) == 0 &&	/* referrals go nowhere else */
	    (p = calloc(2 * n, sizeof(*p))) == NULL)
		rc = FERRY_ENOMEM;
	if (rc != 0) {
		for (i = 0; i < n; i++)
			f[i].rc = rc;
		return (rc);
	}
	/* Per referral <id>.meta, then <id>.json (renamed in that order,
	 * both or neither); the group made durable by one syncfs. */
	for (i = 0; i < n; i++) {
		ferry_hex(hx, f[i].id, FERRY_MSGID_LEN);
		for (k = 0; k < 2; k++) {
			/* Fits: ${dir} did, in less room. */
			snprintf(name, sizeof(name), "%s.%s", hx, ext[k]);
			(void)spath(a, p[2 * i + k].path,
			    sizeof(p[2 * i + k].path), "inbox", name, NULL);
			p[2 * i + k].dir = dir;
		}
		p[2 * i].buf = f[i].meta;
		p[2 * i].len = f[i].metalen;
		p[2 * i + 1].buf = f[i].json;
		p[2 * i + 1].len = f[i].len;
		p[2 * i + 1].with_prev = 1;
	}
	(void)put_group(a, p, 2 * n, "spool-inbox-written");
	for (i = 0; i < n; i++) {
		if ((f[i].rc = p[2 * i].rc ? p[2 * i].rc : p[2 * i + 1].rc) !=
		    0) {
			if (first == 0)
				first = f[i].rc;
		} else
			placed++;
	}
	free(p);
	/* One fsync of inbox/ for the group: until it returns no file of
	 * the group counts as written (their marks stay). */
	if (placed > 0 && (rc = fsync_dir(a, dir)) != 0) {
		for (i = 0; i < n; i++)
			if (f[i].rc == 0)
				f[i].rc = rc;
		if (first == 0)
			first = rc;
	}
	return (first);
}
