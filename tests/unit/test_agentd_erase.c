/*
 * test_agentd_erase.c: the compaction of the agent's store after an
 * erasure (agent/agentd_erase.c, agentd_compact) when it must not, or
 * cannot, finish: another process has the store's folder open (the copy
 * must not take the file's place: the lock file's state would not be
 * reset for it and the store reopened could read as empty), and the
 * store cannot be reopened (the agent stops; no request uses the store
 * meanwhile).  test_agentd.c's erase_compacts is the case that works.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "../lib/harness.h"
#include "../lib/tagentd.h"
#include "agentd.h"
#include "agentd_int.h"
#include "envelope.h"

/*
 * Alpha sends the test referral to bravo, bravo receives it: its id in
 * ${id}.  0 or -1.
 */
static int
bravo_receives(uint8_t id[16])
{
	uint8_t ids[1][16], *m[1];
	size_t ml[1];

	if (alpha_sends(1, ids, m, ml) != 0)
		return (-1);
	if (agentd_receive(&B, m[0], ml[0]) != 0 ||
	    cap_count(&capB, ENV_RECEIPT_P) != 1) {
		free(m[0]);
		return (-1);
	}
	free(m[0]);
	memcpy(id, ids[0], 16);
	cap_clear(&capA);
	cap_clear(&capB);
	return (0);
}

/*
 * Alpha sends the test referral to bravo, which stores it: its id in
 * ${id}.  0 or -1.  Unlike bravo_receives, other frames either agent
 * hands its "socket" meanwhile (a deferred record's, on a slow machine)
 * do not count: only that bravo holds the message.
 */
static int
bravo_stores(uint8_t id[16])
{
	struct astore_in in;
	struct env e;
	char *json, err[AGENTD_ERR_MAX];
	size_t len, i;
	int rc = -1;

	if ((json = doc(&len)) == NULL)
		return (-1);
	cap_clear(&capA);
	if (agentd_submit(&A, "bravo", json, len, NULL, NULL, id, err,
	    sizeof(err)) != 0)
		goto out;
	for (i = 0; i < capA.n; i++)
		if (env_decode(capA.buf[i], capA.len[i], 0, &e) == 0 &&
		    e.type == ENV_MSG && memcmp(e.id, id, 16) == 0)
			break;
	if (i == capA.n || agentd_receive(&B, capA.buf[i], capA.len[i]) != 0)
		goto out;
	if (astore_get_in(B.store, id, &in) == 0) {
		astore_in_clear(&in);
		rc = 0;
	}
out:
	free(json);
	cap_clear(&capA);
	cap_clear(&capB);
	return (rc);
}

/*
 * A child process that opens ${ldir} read-only with LMDB, as ferry-audit
 * or mdb_copy would, and keeps it open until *${wfd} is closed: its pid,
 * or -1.  Returns once the child has it open.
 */
static pid_t
hold_env(const char *ldir, int *wfd)
{
	int up[2], down[2];
	char c;
	pid_t pid;

	if (pipe(up) != 0 || pipe(down) != 0)
		return (-1);
	if ((pid = fork()) < 0)
		return (-1);
	if (pid == 0) {
		MDB_env *env;
		MDB_txn *txn;

		close(up[0]);
		close(down[1]);
		if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 32) !=
		    0 || mdb_env_open(env, ldir, MDB_RDONLY, 0600) != 0 ||
		    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
			_exit(1);
		mdb_txn_reset(txn);
		(void)write(up[1], "r", 1);
		(void)read(down[0], &c, 1);	/* until the parent closes */
		mdb_txn_abort(txn);
		mdb_env_close(env);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	if (read(up[0], &c, 1) != 1) {
		close(up[0]);
		close(down[1]);
		(void)waitpid(pid, NULL, 0);
		return (-1);
	}
	close(up[0]);
	*wfd = down[1];
	return (pid);
}

/*
 * Review of session 11: with another process holding the store's folder
 * open, the compacted copy took the file's place anyway and the store
 * reopened read as empty (every record and the log gone; the next commit
 * restarted the log).  Now the compaction waits: not done, said, still
 * due; the store keeps every record; once the other process is gone the
 * compaction is done.
 */
TEST(compact_waits_for_other_process)
{
	char ldir[1200], err[AGENTD_ERR_MAX];
	struct astore_in in;
	uint8_t id[16], id2[16];
	uint64_t size;
	pid_t pid;
	int wfd = -1, st;

	CHECK_EQ(bravo_receives(id), 0);
	CHECK_EQ(bravo_receives(id2), 0);
	if (t_failed_now)
		return;
	snprintf(ldir, sizeof(ldir), "%s/log", B.conf.data);
	CHECK((pid = hold_env(ldir, &wfd)) > 0);
	if (pid <= 0)
		return;
	size = log_size(B.log);
	err[0] = '\0';
	CHECK_EQ(agentd_erase(&B, id, LOG_ERASE_REQUEST, NULL, NULL, err,
	    sizeof(err)), 0);
	CHECK(agentd_compact(&B, err, sizeof(err)) != 0);
	CHECK(strstr(err, "another process has its folder open") != NULL);
	CHECK_EQ(B.compact_due, 1);
	CHECK_EQ(B.store_lost, 0);
	/* Every record and the log as they were: nothing lost. */
	CHECK_EQ(log_size(B.log), size + 1);
	CHECK_EQ(astore_get_in(B.store, id2, &in), 0);
	astore_in_clear(&in);
	close(wfd);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(agentd_compact(&B, err, sizeof(err)), 0);
	CHECK_EQ(B.compact_due, 0);
	CHECK_EQ(log_size(B.log), size + 1);
	CHECK_EQ(astore_get_in(B.store, id2, &in), 0);
	astore_in_clear(&in);
}

/*
 * The store cannot be reopened after the swap (here a fault point): the
 * agent is to stop (store_lost), and a control request after it gets an
 * error instead of reaching the closed store.
 */
TEST(compact_reopen_fails)
{
	static const char *status = "{\"cmd\":\"status\"}";
	char err[AGENTD_ERR_MAX], *reply = NULL, *body = NULL;
	uint8_t id[16];
	size_t rl, bl;

	CHECK_EQ(bravo_receives(id), 0);
	if (t_failed_now)
		return;
	err[0] = '\0';
	CHECK_EQ(agentd_erase(&B, id, LOG_ERASE_REQUEST, NULL, NULL, err,
	    sizeof(err)), 0);
	setenv("FERRY_TEST_FAULT", "compact-reopen", 1);
	CHECK_EQ(agentd_compact(&B, err, sizeof(err)), -1);
	unsetenv("FERRY_TEST_FAULT");
	CHECK_EQ(B.store_lost, 1);
	CHECK(B.store == NULL && B.log == NULL);
	CHECK(strstr(err, "could not be reopened after compaction") != NULL);
	agentd_ctl_handle(&B, status, strlen(status), NULL, 0, &reply, &rl,
	    &body, &bl);
	CHECK(reply != NULL && memmem(reply, rl, "could not be reopened",
	    21) != NULL);
	free(reply);
	free(body);
}

/*
 * Erasing many messages (erase --case / --before, retention) takes one
 * synced commit per group of up to 128, not one per message (counted
 * commits, not log entries): 130 messages are two commits; a message
 * that may not be erased (already erased, unknown) is left out of its
 * group, named by the first error, and the rest are erased.
 */
TEST(erase_many_groups)
{
	struct agentd_erase_pick *p;
	struct astore_erased er;
	char err[AGENTD_ERR_MAX];
	uint8_t done[132];
	uint64_t size, commits;
	size_t i, n = 130;

	CHECK((p = calloc(n + 2, sizeof(*p))) != NULL);
	if (p == NULL)
		return;
	for (i = 0; i < n && !t_failed_now; i++)
		if (bravo_stores(p[i].id) != 0) {
			fprintf(stderr, "# message %zu of %zu not stored\n",
			    i, n);
			CHECK(0);
		}
	if (t_failed_now) {
		free(p);
		return;
	}
	/* p[0] erased alone first and given again as p[n]; p[n + 1] is no
	 * message of bravo's. */
	err[0] = '\0';
	CHECK_EQ(agentd_erase(&B, p[0].id, LOG_ERASE_REQUEST, NULL, NULL, err,
	    sizeof(err)), 0);
	memcpy(&p[n], &p[0], sizeof(p[0]));
	memcpy(p[n + 1].id, p[1].id, 16);
	p[n + 1].id[15] ^= 0xff;
	size = log_size(B.log);
	commits = agentd_commits(&B);
	err[0] = '\0';
	CHECK_EQ(agentd_erase_many(&B, p, n + 2, LOG_ERASE_RETENTION, NULL,
	    done, err, sizeof(err)), FERRY_EDUPMSG);
	CHECK(strstr(err, "is already erased") != NULL);
	CHECK_EQ(agentd_commits(&B) - commits, 2);
	CHECK_EQ(log_size(B.log), size + n - 1);
	CHECK_EQ(done[0], 0);
	CHECK_EQ(done[n], 0);
	CHECK_EQ(done[n + 1], 0);
	for (i = 1; i < n; i++) {
		CHECK_EQ(done[i], 1);
		CHECK_EQ(astore_get_erased(B.store, p[i].id, &er), 0);
		CHECK_EQ(er.reason, LOG_ERASE_RETENTION);
	}
	free(p);
}

int
main(void)
{

	t_init();
	if (sodium_init() < 0 || setup_net() != 0) {
		printf("not ok - setup\n");
		return (t_done() || 1);
	}
	RUN(compact_waits_for_other_process);
	RUN(compact_reopen_fails);
	RUN(erase_many_groups);
	tnet_free();
	return (t_done());
}
