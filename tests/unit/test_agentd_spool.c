/*
 * test_agentd_spool.c: the agent core's files (agent/agentd_spool.c,
 * agentd_in.c, agentd_metrics.c) without sockets, with the fixtures of
 * tests/lib/tagentd.c and agents reopened with spool folders.  The
 * spool's fsyncs are per group, not per file, as the sync calls of this
 * process (counted below) agree; an outbox holding more than one scan's
 * worth is scanned again at once; the unspooled marks of a group
 * received are cleared by the next commit; metrics.prom is rewritten
 * with no sync at all.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "../lib/harness.h"
#include "../lib/tagentd.h"
#include "agentd.h"
#include "agentd_int.h"
#include "envelope.h"

/* Does ${dir}/${name} (printf-style, one %s) exist for ${arg}? */
static int
spool_has(const char *sdir, const char *fmt, const char *arg)
{
	char name[256], path[1400 + 256];
	struct stat st;

	snprintf(name, sizeof(name), fmt, arg);
	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	return (stat(path, &st) == 0);
}

/*
 * The spool's fsyncs are per group, not per file, counted by the agent
 * (counters.spool_fsyncs in status): an outbox scan of four files costs
 * one fsync per .id sidecar and one per folder and step (sent/bravo/
 * after the sidecars, sent/bravo/ and outbox/bravo/ after the moves): 4
 * + 3, where one directory fsync per file would be 4 + 4 * 3; the four
 * MSGs received together cost one fsync per file written (.meta, .json)
 * and ONE of inbox/: 8 + 1, where one per file would be 8 + 8.  Every
 * file is in place and the unspooled marks clear.
 */
/*
 * The sync calls of this process (fsync, fdatasync, syncfs: these
 * definitions take the place of libc's for the agent code linked in
 * here) on a file or folder under ${sync_watch}, counted in ${n_syncs}:
 * what spool_fsyncs_grouped checks, whatever the agent's own counter
 * says (a per-file fsync put back anywhere is seen here).
 */
static char sync_watch[PATH_MAX];
static uint64_t n_syncs;

static void
count_sync(int fd)
{
	char l[64], t[PATH_MAX];
	ssize_t k;

	if (sync_watch[0] == '\0')
		return;
	snprintf(l, sizeof(l), "/proc/self/fd/%d", fd);
	if ((k = readlink(l, t, sizeof(t) - 1)) <= 0)
		return;
	t[k] = '\0';
	if (strncmp(t, sync_watch, strlen(sync_watch)) == 0)
		n_syncs++;
}

int
fsync(int fd)
{

	count_sync(fd);
	return ((int)syscall(SYS_fsync, fd));
}

int
fdatasync(int fd)
{

	count_sync(fd);
	return ((int)syscall(SYS_fdatasync, fd));
}

int
syncfs(int fd)
{

	count_sync(fd);
	return ((int)syscall(SYS_syncfs, fd));
}

/*
 * reopen_spool(a, id, cap): close agent ${a} and open it again as ${id}
 * with spool folders (made); 0 or -1.
 */
static int
reopen_spool(struct agentd *a, const char *id, struct cap *cap)
{
	int rc;

	agentd_close(a);
	cap_clear(cap);
	with_spool = 1;
	rc = open_agent(a, id, cap);
	with_spool = 0;
	if (rc != 0 || agentd_spool_init(a) != 0)
		return (-1);
	return (0);
}

/* ${n} copies of the test referral in ${a}'s outbox/bravo/STEM-I.json. */
static void
spool_drop(struct agentd *a, const char *stem, size_t n)
{
	char path[1200];
	char *json;
	FILE *fp;
	size_t len, i;

	CHECK((json = doc(&len)) != NULL);
	for (i = 0; i < n && json != NULL; i++) {
		snprintf(path, sizeof(path), "%s/outbox/bravo/%s-%zu.json",
		    a->conf.spool, stem, i);
		CHECK((fp = fopen(path, "w")) != NULL);
		if (fp != NULL) {
			CHECK_EQ(fwrite(json, 1, len, fp), len);
			fclose(fp);
		}
	}
	free(json);
}

/*
 * metrics.prom is rewritten every metrics_interval: atomically (a reader
 * sees a whole file) but with no sync of the file or its folder, so the
 * loop never waits on the disk for it.  Counted by the sync calls made on
 * the data folder, not by the agent's own counters.
 */
TEST(metrics_written_unsynced)
{
	char path[1200];
	uint8_t *b;
	size_t len;

	CHECK(realpath(A.conf.data, sync_watch) != NULL);
	n_syncs = 0;
	CHECK_EQ(agentd_metrics_write(&A), 0);
	CHECK_EQ(agentd_metrics_write(&A), 0);
	sync_watch[0] = '\0';
	CHECK_EQ(n_syncs, 0);
	snprintf(path, sizeof(path), "%s/metrics.prom", A.conf.data);
	CHECK((b = t_read_file(path, &len)) != NULL);
	CHECK(b != NULL && len > 100 && memmem(b, len, "\n# TYPE ferry_agent_",
	    20) != NULL && b[len - 1] == '\n');
	free(b);
}

TEST(spool_fsyncs_grouped)
{
	static const char *status = "{\"cmd\":\"status\"}";
	char sd[1100], path[1300], name[64], hx[4][33], *reply, *body;
	const uint8_t *bufs[4];
	json_error_t jerr;
	json_t *r;
	size_t len, lens[4], rl, bl, i;
	uint64_t f0, c0;
	uint8_t *idf;
	int ok;

	/* Reopened with spool folders. */
	ok = reopen_spool(&A, "alpha", &capA) == 0 &&
	    reopen_spool(&B, "bravo", &capB) == 0;
	CHECK(ok);
	if (!ok)
		return;
	spool_drop(&A, "case", 4);
	f0 = A.n_spool_fsyncs;
	c0 = log_commits(A.log);
	CHECK(realpath(A.conf.spool, sync_watch) != NULL);
	n_syncs = 0;
	agentd_spool_scan(&A);
	sync_watch[0] = '\0';
	CHECK_EQ(log_commits(A.log), c0 + 1);
	CHECK_EQ(cap_count(&capA, ENV_MSG), 4);
	snprintf(sd, sizeof(sd), "%s/sent/bravo", A.conf.spool);
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/case-%zu.json.id", sd, i);
		CHECK((idf = t_read_file(path, &len)) != NULL && len == 33);
		if (idf != NULL)
			snprintf(hx[i], sizeof(hx[i]), "%.32s", idf);
		else
			hx[i][0] = '\0';
		free(idf);
		snprintf(name, sizeof(name), "case-%zu.json", i);
		CHECK(spool_has(sd, "%s", name));
		snprintf(path, sizeof(path), "%s/outbox/bravo", A.conf.spool);
		CHECK(!spool_has(path, "%s", name));
	}
	/* Four files, and no fsync of any: one syncfs for the four
	 * sidecars' data, then sent/bravo/ (sidecars), sent/bravo/ and
	 * outbox/bravo/ (the moves); the system calls agree. */
	CHECK_EQ(A.n_spool_fsyncs, f0 + 1 + 3);
	CHECK_EQ(n_syncs, 1 + 3);

	/* The four MSGs read together by bravo. */
	for (i = 0; i < 4 && i < capA.n; i++) {
		bufs[i] = capA.buf[i];
		lens[i] = capA.len[i];
	}
	CHECK_EQ(capA.n, 4);
	cap_clear(&capB);
	f0 = B.n_spool_fsyncs;
	c0 = log_commits(B.log);
	CHECK(realpath(B.conf.spool, sync_watch) != NULL);
	n_syncs = 0;
	CHECK_EQ(agentd_receive_many(&B, bufs, lens, capA.n < 4 ? capA.n : 4),
	    0);
	sync_watch[0] = '\0';
	CHECK_EQ(B.n_received, 4);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 4);
	CHECK_EQ(log_commits(B.log), c0 + 1);
	/* Eight files, no fsync of any: one syncfs, one fsync of inbox/
	 * (was 2 x 4 + 1); the system calls agree. */
	CHECK_EQ(B.n_spool_fsyncs, f0 + 2);
	CHECK_EQ(n_syncs, 2);
	snprintf(sd, sizeof(sd), "%s/inbox", B.conf.spool);
	for (i = 0; i < 4; i++) {
		CHECK(spool_has(sd, "%s.json", hx[i]));
		CHECK(spool_has(sd, "%s.meta", hx[i]));
	}
	/* Complete: each .json a whole JSON document. */
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s.json", sd, hx[i]);
		idf = t_read_file(path, &len);
		CHECK(idf != NULL && (r = json_loadb((const char *)idf, len,
		    0, &jerr)) != NULL);
		if (idf != NULL && r != NULL)
			json_decref(r);
		free(idf);
	}
	/* Their marks go in one commit; nothing left to rewrite. */
	CHECK_EQ(B.nspooled, 4);
	CHECK_EQ(agentd_defer_flush(&B), 0);
	CHECK_EQ(B.nspooled, 0);
	/* Shown by status. */
	agentd_ctl_handle(&B, status, strlen(status), NULL, 0, &reply, &rl,
	    &body, &bl);
	CHECK((r = json_loadb(reply, rl, 0, &jerr)) != NULL);
	CHECK_EQ((uint64_t)json_integer_value(json_object_get(
	    json_object_get(r, "counters"), "spool_fsyncs")), B.n_spool_fsyncs);
	json_decref(r);
	free(reply);
	free(body);
	cap_clear(&capA);
	cap_clear(&capB);
}

/*
 * A spool outbox holding more than one scan's worth (64 files): the scan
 * says so (1) and the daemon's loop scans again at once instead of
 * waiting spool_interval per 64 files; the last, partial scan says 0.
 */
TEST(spool_scan_again)
{
	size_t n0;
	int ok;

	ok = reopen_spool(&A, "alpha", &capA) == 0;
	CHECK(ok);
	if (!ok)
		return;
	spool_drop(&A, "again", 70);
	/* Counted as stored and logged (n_sent), not as frames: the
	 * window to the relay lets only some leave at once. */
	n0 = A.n_sent;
	CHECK_EQ(agentd_spool_scan(&A), 1);
	CHECK_EQ(A.n_sent - n0, 64);
	CHECK_EQ(agentd_spool_scan(&A), 0);
	CHECK_EQ(A.n_sent - n0, 70);
	CHECK_EQ(agentd_spool_scan(&A), 0);
	CHECK_EQ(A.n_sent - n0, 70);
	cap_clear(&capA);
}

/*
 * Issue 10 (from branch `commits`): with a spool folder, N groups
 * received cost N synced commits, not 2N: the unspooled marks of one
 * group's files (durable) are cleared by the next group's commit, the
 * last ones by their own commit once due (AGENTD_DEFER_MS); a group's
 * marks are still stored right after its own commit (a crash then
 * writes its files again).
 */
TEST(spool_marks_folded)
{
	const uint8_t *bufs[2];
	uint8_t *m[6], id[6][16];
	size_t ml[6], i, k;
	uint64_t c0;
	int ok;

	ok = reopen_spool(&B, "bravo", &capB) == 0;
	CHECK(ok);
	if (!ok)
		return;
	CHECK_EQ(alpha_sends(6, id, m, ml), 0);
	c0 = log_commits(B.log);
	for (k = 0; k < 3; k++) {
		bufs[0] = m[2 * k];
		bufs[1] = m[2 * k + 1];
		CHECK_EQ(agentd_receive_many(&B, bufs, &ml[2 * k], 2), 0);
		/* Not due yet: no commit of the marks' own. */
		CHECK_EQ(agentd_defer_due(&B, B.defer_since +
		    AGENTD_DEFER_MS - 1), 0);
		CHECK_EQ(log_commits(B.log), c0 + k + 1);
		CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 2 * (k + 1));
		/* This group's marks stay until a later commit; the group
		 * before's went with this one. */
		CHECK_EQ(astore_is_unspooled(B.store, id[2 * k]), 1);
		CHECK_EQ(astore_is_unspooled(B.store, id[2 * k + 1]), 1);
		if (k > 0) {
			CHECK_EQ(astore_is_unspooled(B.store, id[2 * k - 2]),
			    0);
			CHECK_EQ(astore_is_unspooled(B.store, id[2 * k - 1]),
			    0);
		}
	}
	CHECK_EQ(B.nspooled, 2);
	/* Due: the last group's marks, one commit. */
	CHECK_EQ(agentd_defer_due(&B, B.defer_since + AGENTD_DEFER_MS), 0);
	CHECK_EQ(log_commits(B.log), c0 + 3 + 1);
	for (i = 0; i < 6; i++)
		CHECK_EQ(astore_is_unspooled(B.store, id[i]), 0);
	CHECK_EQ(agentd_defer_due(&B, agentd_mono_ms() + AGENTD_DEFER_MS), 0);
	CHECK_EQ(log_commits(B.log), c0 + 4);	/* nothing left: none */
	for (i = 0; i < 6; i++)
		free(m[i]);
	cap_clear(&capB);
}

/*
 * Review of session 10: an agent restarted after a crash left spool marks
 * writes their files again, then clears the marks in one commit; when
 * that commit fails (a full disk) the agent still starts, the marks kept
 * for its next commit (the start stopped there, for a write that can
 * wait).
 */
TEST(start_with_marks_disk_full)
{
	const uint8_t *bufs[2];
	uint8_t *m[2], id[2][16];
	size_t ml[2], i;
	int ok;

	ok = reopen_spool(&B, "bravo", &capB) == 0;
	CHECK(ok);
	if (!ok)
		return;
	CHECK_EQ(alpha_sends(2, id, m, ml), 0);
	for (i = 0; i < 2; i++)
		bufs[i] = m[i];
	CHECK_EQ(agentd_receive_many(&B, bufs, ml, 2), 0);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 2);
	CHECK_EQ(astore_is_unspooled(B.store, id[0]), 1);
	/* A crash now: the marks stored, nothing in memory to flush. */
	B.nspooled = 0;
	setenv("FERRY_TEST_FAULT", "defer-commit", 1);
	ok = reopen_spool(&B, "bravo", &capB) == 0;
	unsetenv("FERRY_TEST_FAULT");
	CHECK(ok);
	if (!ok)
		goto out;
	for (i = 0; i < 2; i++)
		CHECK_EQ(astore_is_unspooled(B.store, id[i]), 1);
	CHECK_EQ(B.nspooled, 2);
	/* The next commit takes them. */
	CHECK_EQ(agentd_defer_flush(&B), 0);
	for (i = 0; i < 2; i++)
		CHECK_EQ(astore_is_unspooled(B.store, id[i]), 0);
out:
	for (i = 0; i < 2; i++)
		free(m[i]);
	cap_clear(&capB);
}

/* Entries in folder ${d} (0 if it cannot be read). */
static int
entries_in(const char *d)
{
	struct dirent *e;
	DIR *od;
	int n = 0;

	if ((od = opendir(d)) == NULL)
		return (0);
	while ((e = readdir(od)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
			n++;
	closedir(od);
	return (n);
}

/* ${a}'s spool folder ${sub} swapped for a link to a new folder, whose
 * path goes into ${to}; 0 or -1. */
static int
swap_for_link(struct agentd *a, const char *sub, char *to, size_t tolen)
{
	char p[1200], q[1200];

	snprintf(to, tolen, "%s/elsewhere-%s-XXXXXX", dir, sub);
	snprintf(p, sizeof(p), "%s/%s", a->conf.spool, sub);
	snprintf(q, sizeof(q), "%s/%s.real", a->conf.spool, sub);
	if (mkdtemp(to) == NULL || rename(p, q) != 0 || symlink(to, p) != 0)
		return (-1);
	return (0);
}

/*
 * Review of session 10: a spool writer that swaps failed/ or inbox/ for a
 * link cannot make the agent write elsewhere: a file refused stays in
 * outbox/ (it was moved through the link, e.g. into the data folder: a
 * roster file there stopped every start), a referral received is not
 * written (nor receipted: the relay redelivers it).
 */
TEST(spool_links_not_followed)
{
	char t1[600], t2[600], path[1200], *json, err[AGENTD_ERR_MAX];
	size_t len;
	uint8_t id[16];
	FILE *fp;
	int ok;

	ok = reopen_spool(&A, "alpha", &capA) == 0 &&
	    reopen_spool(&B, "bravo", &capB) == 0;
	CHECK(ok);
	if (!ok)
		return;
	CHECK_EQ(swap_for_link(&A, "failed", t1, sizeof(t1)), 0);
	snprintf(path, sizeof(path), "%s/outbox/bravo/bad.json", A.conf.spool);
	CHECK((fp = fopen(path, "w")) != NULL);
	if (fp != NULL) {
		fputs("not json", fp);
		fclose(fp);
	}
	(void)agentd_spool_scan(&A);
	CHECK_EQ(entries_in(t1), 0);
	CHECK_EQ(access(path, F_OK), 0);	/* left in outbox/ */
	CHECK_EQ(swap_for_link(&B, "inbox", t2, sizeof(t2)), 0);
	CHECK((json = doc(&len)) != NULL);
	cap_clear(&capA);
	CHECK_EQ(agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)), 0);
	free(json);
	CHECK_EQ(capA.n, 1);
	cap_clear(&capB);
	if (capA.n == 1)
		CHECK_EQ(agentd_receive(&B, capA.buf[0], capA.len[0]), 0);
	CHECK_EQ(entries_in(t2), 0);
	CHECK_EQ(cap_count(&capB, ENV_RECEIPT_P), 0);
	cap_clear(&capA);
	cap_clear(&capB);
}

/*
 * Review of session 10: an outbox file whose name is too long for its
 * sidecar's temporary name was sent, then stuck in outbox/ (two log
 * lines at every scan); it now goes to failed/ with why, unsent.
 */
TEST(spool_long_name_failed)
{
	char name[250], path[1400], *json;
	uint64_t n0;
	size_t len;
	FILE *fp;
	int ok;

	ok = reopen_spool(&A, "alpha", &capA) == 0;
	CHECK(ok);
	if (!ok)
		return;
	/* 240 bytes: its NAME.error (246) would fit, NAME.MS.error or the
	 * temporary names would not: kept under its first 200. */
	memset(name, 'n', 235);
	memcpy(name + 235, ".json", 6);
	snprintf(path, sizeof(path), "%s/outbox/bravo/%s", A.conf.spool, name);
	CHECK((json = doc(&len)) != NULL);
	CHECK((fp = fopen(path, "w")) != NULL);
	if (fp != NULL && json != NULL) {
		CHECK_EQ(fwrite(json, 1, len, fp), len);
		fclose(fp);
	}
	free(json);
	n0 = A.n_sent;
	(void)agentd_spool_scan(&A);
	CHECK_EQ(A.n_sent, n0);
	CHECK(access(path, F_OK) != 0);
	snprintf(path, sizeof(path), "%s/failed/%.200s.error", A.conf.spool,
	    name);
	CHECK_EQ(access(path, F_OK), 0);
	cap_clear(&capA);
}

/*
 * A case system may drop a new file under a name the agent has just read
 * (writers rename into place: a new inode).  The file moved to sent/ or
 * failed/ must be the file read; the new one stays in outbox/ and is sent
 * at the next scan.  replace_at names the crash point (agentd_point_hook)
 * where replace_file is renamed over replace_name: "spool-ids-synced"
 * (before the moves: the check before the rename) or "spool-move" (between
 * that check and the rename: the check after it puts the file back).
 */
static const char *replace_at;
static char replace_name[1300], replace_file[1300];
static int replaced;

static void
replace_hook(const char *point)
{

	if (replace_at != NULL && !replaced && strcmp(point, replace_at) == 0)
		replaced = rename(replace_file, replace_name) == 0 ? 1 : -1;
}

/* Write ${len} bytes of ${b} to ${path}; 0 or -1. */
static int
put_file(const char *path, const void *b, size_t len)
{
	FILE *fp;
	int ok;

	if ((fp = fopen(path, "w")) == NULL)
		return (-1);
	ok = fwrite(b, 1, len, fp) == len;
	return (fclose(fp) == 0 && ok ? 0 : -1);
}

TEST(spool_replaced_not_moved)
{
	/* Where the new file comes, and is the file read a referral (to
	 * sent/) or no JSON (to failed/): failed/ comes first in a scan,
	 * before spool-ids-synced, so only spool-move there. */
	static const struct {
		const char *point;
		int ok;
	} cases[] = { { "spool-ids-synced", 1 }, { "spool-move", 1 },
	    { "spool-move", 0 } };
	char sent[1300], failed[1300], *json, *json2;
	uint8_t *b;
	size_t len, len2, k, blen;
	uint64_t n0;
	int ok, sent_ok;

	ok = reopen_spool(&A, "alpha", &capA) == 0;
	CHECK(ok);
	CHECK((json = doc(&len)) != NULL);
	if (!ok || json == NULL)
		return;
	/* The new file: the same referral, other bytes (a new spool key). */
	CHECK((json2 = malloc(len + 2)) != NULL);
	if (json2 == NULL) {
		free(json);
		return;
	}
	memcpy(json2, json, len);
	memcpy(json2 + len, " \n", 2);
	len2 = len + 2;
	agentd_point_hook = replace_hook;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		sent_ok = cases[k].ok;
		replace_at = cases[k].point;
		replaced = 0;
		snprintf(replace_name, sizeof(replace_name),
		    "%s/outbox/bravo/swap-%zu.json", A.conf.spool, k);
		snprintf(replace_file, sizeof(replace_file),
		    "%s/outbox/bravo/swap-%zu.json.tmp", A.conf.spool, k);
		CHECK_EQ(sent_ok ? put_file(replace_name, json, len) :
		    put_file(replace_name, "{", 1), 0);
		CHECK_EQ(put_file(replace_file, json2, len2), 0);
		n0 = A.n_sent;
		(void)agentd_spool_scan(&A);
		CHECK_EQ(replaced, 1);
		replace_at = NULL;
		CHECK_EQ(A.n_sent, n0 + sent_ok);
		/* Not moved: the name holds the new file, unsent. */
		snprintf(sent, sizeof(sent), "%s/sent/bravo/swap-%zu.json",
		    A.conf.spool, k);
		snprintf(failed, sizeof(failed), "%s/failed/swap-%zu.json",
		    A.conf.spool, k);
		CHECK(access(sent, F_OK) != 0);
		CHECK(access(failed, F_OK) != 0);
		snprintf(failed, sizeof(failed), "%s/failed/swap-%zu.json.error",
		    A.conf.spool, k);
		CHECK(access(failed, F_OK) != 0);
		CHECK((b = t_read_file(replace_name, &blen)) != NULL &&
		    blen == len2 && memcmp(b, json2, len2) == 0);
		free(b);
		/* The next scan sends it. */
		(void)agentd_spool_scan(&A);
		CHECK_EQ(A.n_sent, n0 + 1 + sent_ok);
		CHECK(access(replace_name, F_OK) != 0);
		CHECK_EQ(cap_count(&capA, ENV_MSG), sent_ok ? 2 : 1);
		cap_clear(&capA);
	}
	agentd_point_hook = NULL;
	free(json);
	free(json2);
}

int
main(void)
{

	t_init();
	if (sodium_init() < 0 || setup_net() != 0) {
		printf("not ok - setup\n");
		return (t_done() || 1);
	}
	RUN(spool_fsyncs_grouped);
	RUN(metrics_written_unsynced);
	RUN(spool_scan_again);
	RUN(spool_marks_folded);
	RUN(start_with_marks_disk_full);
	RUN(spool_links_not_followed);
	RUN(spool_long_name_failed);
	RUN(spool_replaced_not_moved);
	tnet_free();
	return (t_done());
}
