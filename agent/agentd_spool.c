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
#include "alog.h"
#include "referral.h"

#define SPOOL_PER_SCAN 64	/* files per scan: keeps the loop responsive */
#define SPOOL_GROUP_BYTES (64u * 1024 * 1024)	/* file bytes per group commit */

static int
spath(const struct agentd *a, char *buf, size_t cap, const char *a1,
    const char *a2, const char *a3)
{

	if ((size_t)snprintf(buf, cap, "%s/%s%s%s%s%s", a->conf.spool, a1,
	    a2 ? "/" : "", a2 ? a2 : "", a3 ? "/" : "", a3 ? a3 : "") >= cap)
		return (FERRY_EINVAL);
	return (0);
}

static int
fsync_dir(const char *path)
{
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return (FERRY_EIO);
	if (fsync(fd) != 0)
		rc = FERRY_EIO;
	close(fd);
	return (rc);
}

static int
mkd(const char *path)
{

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return (FERRY_EIO);
	return (0);
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
		    NULL)) != 0 || (rc = mkd(path)) != 0)
			return (rc);
	}
	for (i = 0; i < a->roster->nagencies; i++) {
		ag = &a->roster->agencies[i];
		if (ag->status != ROSTER_ACTIVE ||
		    strcmp(ag->id, a->me->id) == 0)
			continue;
		if ((rc = spath(a, path, sizeof(path), "outbox", ag->id,
		    NULL)) != 0 || (rc = mkd(path)) != 0)
			return (rc);
	}
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
 * Move ${from} to failed/ and write NAME.error beside it: ${reason}, one
 * line "FERRY_E...: PATH: RULE" with no newline at the end (a case system
 * storing the text gets no stray line feed).
 */
static void
to_failed(struct agentd *a, const char *from, const char *name,
    const char *reason)
{
	char dst[ACONF_PATH_MAX + 512], epath[ACONF_PATH_MAX + 520];
	char fname[300], dir[ACONF_PATH_MAX + 16];
	struct stat st;
	int rc;

	snprintf(fname, sizeof(fname), "%s", name);
	if (spath(a, dst, sizeof(dst), "failed", fname, NULL) != 0)
		return;
	if (lstat(dst, &st) == 0) {
		snprintf(fname, sizeof(fname), "%s.%llu", name,
		    (unsigned long long)ferry_now_ms());
		if (spath(a, dst, sizeof(dst), "failed", fname, NULL) != 0)
			return;
	}
	snprintf(epath, sizeof(epath), "%s.error", dst);
	if ((rc = ferry_write_file(epath, reason, strlen(reason), 0600)) != 0)
		alog(ALOG_ERROR, "spool", "cannot write %s: %s", epath,
		    ferry_strerror(rc));
	if (rename(from, dst) != 0) {
		alog(ALOG_ERROR, "spool", "cannot move %s to failed/: %s",
		    from, strerror(errno));
		return;
	}
	if (spath(a, dir, sizeof(dir), "failed", NULL, NULL) == 0)
		(void)fsync_dir(dir);
	alog(ALOG_WARN, "spool-failed", "%s: %s", name, reason);
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
	char p[ACONF_PATH_MAX + 700], idp[ACONF_PATH_MAX + 704], old[40];
	const char *dot;
	struct stat st;
	ssize_t n = -1;
	int fd;

	snprintf(out, cap, "%s", name);
	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p) ||
	    (size_t)snprintf(idp, sizeof(idp), "%s.id", p) >= sizeof(idp))
		return;
	if ((fd = open(idp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		n = read(fd, old, sizeof(old) - 1);
		close(fd);
	}
	if (n >= 32 && memcmp(old, hx, 32) == 0)
		return;
	if (n < 0 && lstat(p, &st) != 0 && errno == ENOENT)
		return;
	if ((dot = strrchr(name, '.')) == NULL || dot == name)
		dot = name + strlen(name);
	snprintf(out, cap, "%.*s.%s%s", (int)(dot - name), name, hx, dot);
}

/*
 * Spool file ${from} (outbox/<to>/<name>) became message ${id}: move it
 * to sent/<to>/ under its own name (sent_name), with "<name>.id" beside
 * it holding the message id; the sidecar is written first, so a file in
 * sent/ always has its id.  A crash before the move leaves the file in
 * outbox/, found sent by its spool key at the next scan.
 */
static void
to_sent(struct agentd *a, const char *from, const char *srcdir,
    const char *to, const char *name, const uint8_t id[FERRY_MSGID_LEN])
{
	char dir[ACONF_PATH_MAX + 128], dst[ACONF_PATH_MAX + 700];
	char idp[ACONF_PATH_MAX + 704], fname[400], hx[33], line[34];
	int rc;

	ferry_hex(hx, id, FERRY_MSGID_LEN);
	if (spath(a, dir, sizeof(dir), "sent", to, NULL) != 0 ||
	    mkd(dir) != 0) {
		alog(ALOG_ERROR, "spool", "cannot make sent/%s/: %s", to,
		    strerror(errno));
		return;
	}
	sent_name(dir, name, hx, fname, sizeof(fname));
	if ((size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, fname) >=
	    sizeof(dst) || (size_t)snprintf(idp, sizeof(idp), "%s.id", dst) >=
	    sizeof(idp))
		return;
	snprintf(line, sizeof(line), "%s\n", hx);
	if ((rc = ferry_write_file(idp, line, strlen(line), 0600)) != 0) {
		alog(ALOG_ERROR, "spool", "cannot write %s: %s (left in "
		    "outbox/, moved at the next scan)", idp,
		    ferry_strerror(rc));
		return;
	}
	if (rename(from, dst) != 0) {
		alog(ALOG_ERROR, "spool", "cannot move %s to sent/: %s", from,
		    strerror(errno));
		return;
	}
	(void)fsync_dir(dir);
	(void)fsync_dir(srcdir);
}

/* A spool file picked up, on its way to a group commit. */
struct spool_pick {
	char to[FERRY_ID_MAX + 1];
	char dirpath[ACONF_PATH_MAX + 96];
	char name[300];
	char path[ACONF_PATH_MAX + 512];
	char label[600];
	uint8_t *buf;
	size_t len;
	uint8_t key[32];
	struct agentd_sub sb;
};

/*
 * Read file outbox/<to>/<name> into ${p}: 1 if it is to be sent (in the
 * next group commit), 0 if it was handled here (too big: failed/; sent
 * before a crash: moved to sent/) or left for a later scan.
 */
static int
spool_read(struct agentd *a, const char *to, const char *dirpath,
    const char *name, struct spool_pick *p)
{
	crypto_hash_sha256_state st;
	char reason[AGENTD_ERR_MAX + 128];
	uint8_t id[FERRY_MSGID_LEN];
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
	if ((rc = ferry_read_file(p->path, REFERRAL_JSON_MAX, &p->buf, &p->len,
	    0)) != 0) {
		if (rc == FERRY_ETOOBIG) {
			snprintf(reason, sizeof(reason), "%s: json: larger "
			    "than %u bytes", ferry_errname(FERRY_EJSON),
			    REFERRAL_JSON_MAX);
			to_failed(a, p->path, name, reason);
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
	if ((rc = astore_spool_lookup(a->store, p->key, id)) == 0) {
		/* Already sent: the crash came before the move. */
		char hx[33];

		ferry_hex(hx, id, FERRY_MSGID_LEN);
		alog(ALOG_WARN, "recovered", "msg=%s: spool file %s was sent "
		    "before a crash; moved to sent/", hx, p->label);
		to_sent(a, p->path, dirpath, to, name, id);
	} else if (rc != FERRY_ENOENT)
		alog(ALOG_ERROR, "spool", "%s: store: %s", p->label,
		    ferry_strerror(rc));
	else {
		p->sb.to = p->to;
		p->sb.json = (const char *)p->buf;
		p->sb.len = p->len;
		p->sb.spool_name = p->label;
		p->sb.spool_key = p->key;
		return (1);
	}
	free(p->buf);
	p->buf = NULL;
	return (0);
}

/*
 * Send the files picked up, ${p}[0..n-1], in one group commit
 * (agentd_submit_batch: one synced commit for all), then move each to
 * sent/ (or failed/ with its reason; a local failure leaves it in place).
 * A crash between the commit and the moves is found by the spool key at
 * the next scan (spool_read: "sent before a crash").
 */
static void
spool_flush(struct agentd *a, struct spool_pick *p, size_t n)
{
	struct agentd_sub *sb[SPOOL_PER_SCAN] = { NULL };
	char reason[AGENTD_ERR_MAX + 128];
	size_t i;
	int rc;

	if (n == 0 || n > SPOOL_PER_SCAN)
		return;
	for (i = 0; i < n; i++)
		sb[i] = &p[i].sb;
	agentd_submit_batch(a, sb, n);
	for (i = 0; i < n; i++) {
		rc = p[i].sb.rc;
		if (rc == 0)
			to_sent(a, p[i].path, p[i].dirpath, p[i].to,
			    p[i].name, p[i].sb.id);
		else if (rc == FERRY_EJSON || rc == FERRY_ESCHEMA ||
		    rc == FERRY_ECONSENT || rc == FERRY_ERECIPIENT ||
		    rc == FERRY_EKEYWINDOW || rc == FERRY_EUNKNOWNAGENCY ||
		    rc == FERRY_EREVOKED || rc == FERRY_ETOOBIG) {
			snprintf(reason, sizeof(reason), "%s: %s",
			    ferry_errname(rc), p[i].sb.err[0] ? p[i].sb.err :
			    ferry_strerror(rc));
			to_failed(a, p[i].path, p[i].name, reason);
		} else
			alog(ALOG_ERROR, "spool", "%s: %s (left in place, will "
			    "retry)", p[i].label, p[i].sb.err[0] ?
			    p[i].sb.err : ferry_strerror(rc));
		free(p[i].buf);
		p[i].buf = NULL;
	}
}

void
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

	if (a->conf.spool[0] == '\0')
		return;
	/* Not allowed to send now: files stay for a later scan. */
	if (agentd_can_send(a, reason, sizeof(reason)) != 0) {
		if (!a->hold_logged)
			alog(ALOG_WARN, "spool-held", "outbox/ not picked up: "
			    "%s", reason);
		a->hold_logged = 1;
		return;
	}
	a->hold_logged = 0;
	if ((picks = calloc(SPOOL_PER_SCAN, sizeof(*picks))) == NULL)
		return;
	if (spath(a, outbox, sizeof(outbox), "outbox", NULL, NULL) != 0 ||
	    (od = opendir(outbox)) == NULL) {
		free(picks);
		return;
	}
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
			to_failed(a, sub, d->d_name, reason);
			handled++;
			continue;
		}
		if (!S_ISDIR(st.st_mode) ||
		    !ferry_id_valid(d->d_name, strlen(d->d_name)))
			continue;
		if ((sd = opendir(sub)) == NULL)
			continue;
		while (handled < SPOOL_PER_SCAN && (f = readdir(sd)) != NULL) {
			if (skip_name(f->d_name))
				continue;
			if ((size_t)snprintf(fpath, sizeof(fpath), "%s/%s",
			    sub, f->d_name) >= sizeof(fpath) ||
			    lstat(fpath, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			if (spool_read(a, d->d_name, sub, f->d_name,
			    &picks[npick]) == 1) {
				bytes += picks[npick].len;
				npick++;
			}
			handled++;
			/* Bound the memory a group holds. */
			if (bytes >= SPOOL_GROUP_BYTES) {
				spool_flush(a, picks, npick);
				npick = 0;
				bytes = 0;
			}
		}
		closedir(sd);
	}
	closedir(od);
	spool_flush(a, picks, npick);
	free(picks);
}

int
agentd_spool_inbox(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN],
    const char *json, size_t len, const char *meta, size_t metalen)
{
	char path[ACONF_PATH_MAX + 64], name[48], hx[33];
	int rc;

	if (a->conf.spool[0] == '\0')
		return (0);
	ferry_hex(hx, id, FERRY_MSGID_LEN);
	snprintf(name, sizeof(name), "%s.meta", hx);
	if ((rc = spath(a, path, sizeof(path), "inbox", name, NULL)) != 0 ||
	    (rc = ferry_write_file(path, meta, metalen, 0600)) != 0)
		return (rc);
	snprintf(name, sizeof(name), "%s.json", hx);
	if ((rc = spath(a, path, sizeof(path), "inbox", name, NULL)) != 0 ||
	    (rc = ferry_write_file(path, json, len, 0600)) != 0)
		return (rc);
	return (0);
}
