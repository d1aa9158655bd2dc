/*
 * test_workers.c: the fork-and-join pool (proto/workers.c) that checks a
 * relay batch's envelopes on several threads: every index done exactly
 * once per run, calls really run at the same time on the pool's threads,
 * the caller's thread takes part, nothing is left running when a run
 * returns, signals stay with the caller, and a pool of 1 (or none) runs
 * everything on the caller's thread.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "workers.h"
#include "../lib/harness.h"

#define N 200

struct job {
	int done[N];			/* calls per index */
	pthread_t who[N];		/* thread of each call */
	int inside, most;		/* calls running now, and at most */
	int late;			/* calls still running at join */
	int sigs_open;			/* pool calls with a signal unblocked */
	pthread_t caller;
	pthread_mutex_t mu;
	int wait_ms;			/* each call waits for company this long */
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
}

static void
call(void *ctx, size_t i)
{
	struct job *j = ctx;
	sigset_t cur;
	double until = now_ms() + j->wait_ms;
	int company = 0;

	pthread_mutex_lock(&j->mu);
	j->done[i]++;
	j->who[i] = pthread_self();
	if (++j->inside > j->most)
		j->most = j->inside;
	pthread_mutex_unlock(&j->mu);
	if (!pthread_equal(pthread_self(), j->caller)) {
		(void)pthread_sigmask(SIG_SETMASK, NULL, &cur);
		if (!sigismember(&cur, SIGTERM) || !sigismember(&cur, SIGINT) ||
		    !sigismember(&cur, SIGHUP)) {
			pthread_mutex_lock(&j->mu);
			j->sigs_open++;
			pthread_mutex_unlock(&j->mu);
		}
	}
	/* Bounded: wait (up to wait_ms) until two calls have run at the same
	 * time, so a pool that never runs two at once is seen. */
	while (!company && now_ms() < until) {
		struct timespec ts = { 0, 200000 };

		pthread_mutex_lock(&j->mu);
		company = j->most > 1;
		pthread_mutex_unlock(&j->mu);
		if (!company)
			(void)nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&j->mu);
	j->inside--;
	pthread_mutex_unlock(&j->mu);
}

static void
job_init(struct job *j, int wait_ms)
{

	memset(j, 0, sizeof(*j));
	pthread_mutex_init(&j->mu, NULL);
	j->caller = pthread_self();
	j->wait_ms = wait_ms;
}

/* Every index once; nothing running after the join. */
static int
all_once(struct job *j, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (j->done[i] != 1)
			return (0);
	for (; i < N; i++)
		if (j->done[i] != 0)
			return (0);
	return (j->inside == 0);
}

TEST(each_index_once_in_parallel)
{
	struct workers *w = workers_new(2);
	struct job j;
	size_t i, mine = 0;

	CHECK(w != NULL);
	CHECK_EQ(workers_threads(w), 2);
	job_init(&j, 5000);
	workers_run(w, 8, call, &j);
	CHECK(all_once(&j, 8));
	/* Two calls ran at the same time (each waited for the other). */
	CHECK_EQ(j.most, 2);
	for (i = 0; i < 8; i++)
		if (pthread_equal(j.who[i], j.caller))
			mine++;
	CHECK(mine >= 1 && mine < 8);	/* the caller took part, not alone */
	CHECK_EQ(workers_helped(w), 8 - mine);
	CHECK_EQ(j.sigs_open, 0);
	workers_free(w);
}

TEST(many_runs_no_lost_wakeup)
{
	struct workers *w = workers_new(4);
	struct job j;
	int k, ok = 1;

	CHECK(w != NULL);
	/* Runs of every size, back to back: each returns with all its
	 * indices done (a lost wakeup or an early join shows here). */
	for (k = 0; k < 2000 && ok; k++) {
		size_t n = (size_t)(k % 37);

		job_init(&j, 0);
		workers_run(w, n, call, &j);
		ok = all_once(&j, n);
	}
	CHECK(ok);
	workers_free(w);
}

TEST(one_thread_is_the_caller)
{
	struct workers *w = workers_new(1);
	struct job j;
	size_t i, mine = 0;

	CHECK(w != NULL);
	CHECK_EQ(workers_threads(w), 1);
	job_init(&j, 0);
	workers_run(w, N, call, &j);
	CHECK(all_once(&j, N));
	for (i = 0; i < N; i++)
		if (pthread_equal(j.who[i], j.caller))
			mine++;
	CHECK_EQ(mine, N);
	CHECK_EQ(workers_helped(w), 0);
	workers_free(w);
	/* No pool at all: the same. */
	job_init(&j, 0);
	workers_run(NULL, 5, call, &j);
	CHECK(all_once(&j, 5));
	CHECK_EQ(workers_threads(NULL), 1);
	CHECK_EQ(workers_helped(NULL), 0);
	workers_free(NULL);
}

TEST(bad_sizes_refused)
{

	errno = 0;
	CHECK(workers_new(0) == NULL && errno == EINVAL);
	errno = 0;
	CHECK(workers_new(WORKERS_MAX + 1) == NULL && errno == EINVAL);
}

int
main(void)
{

	t_init();
	RUN(each_index_once_in_parallel);
	RUN(many_runs_no_lost_wakeup);
	RUN(one_thread_is_the_caller);
	RUN(bad_sizes_refused);
	return (t_done());
}
