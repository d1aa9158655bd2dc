/*
 * workers.c: the fork-and-join pool of workers.h.  One lock guards the
 * run: its indices are taken one at a time under it (each item is tens of
 * microseconds of work, the lock a few tens of nanoseconds), the pool's
 * threads sleep on a condition variable between runs, and the caller
 * waits on another until no index is left and no call is running.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "workers.h"

struct workers {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	pthread_t th[WORKERS_MAX];
	size_t nth;			/* threads created (nthreads - 1) */
	/* The current run: indices [next, n) not yet taken. */
	void (*fn)(void *, size_t);
	void *ctx;
	size_t next, n, busy;
	uint64_t gen;			/* runs started */
	uint64_t helped;		/* calls made on the pool's threads */
	int stop;
};

/* Take and do indices of the current run until none is left (locked). */
static void
work(struct workers *w, int mine)
{

	while (w->next < w->n) {
		size_t i = w->next++;

		w->busy++;
		if (!mine)
			w->helped++;
		pthread_mutex_unlock(&w->mu);
		w->fn(w->ctx, i);
		pthread_mutex_lock(&w->mu);
		w->busy--;
	}
}

static void *
worker(void *arg)
{
	struct workers *w = arg;
	uint64_t seen = 0;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && w->gen == seen)
			pthread_cond_wait(&w->go, &w->mu);
		if (w->stop)
			break;
		seen = w->gen;
		work(w, 0);
		if (w->busy == 0)
			pthread_cond_signal(&w->done);
	}
	pthread_mutex_unlock(&w->mu);
	return (NULL);
}

struct workers *
workers_new(size_t nthreads)
{
	struct workers *w;
	sigset_t all, old;
	size_t i;
	int rc = 0;

	if (nthreads == 0 || nthreads > WORKERS_MAX) {
		errno = EINVAL;
		return (NULL);
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return (NULL);
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w);
		errno = ENOMEM;
		return (NULL);
	}
	if (pthread_cond_init(&w->go, NULL) != 0) {
		pthread_mutex_destroy(&w->mu);
		free(w);
		errno = ENOMEM;
		return (NULL);
	}
	if (pthread_cond_init(&w->done, NULL) != 0) {
		pthread_cond_destroy(&w->go);
		pthread_mutex_destroy(&w->mu);
		free(w);
		errno = ENOMEM;
		return (NULL);
	}
	/* Signals stay with the caller's thread (its poll is what they
	 * must interrupt): the threads start with every signal blocked. */
	sigfillset(&all);
	/* ... but for the faults a thread's own code raises: blocked, the
	 * kernel would kill the process without a handler or sanitizer
	 * report. */
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGABRT);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i + 1 < nthreads && rc == 0; i++)
		if ((rc = pthread_create(&w->th[i], NULL, worker, w)) == 0)
			w->nth++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		workers_free(w);
		errno = rc;
		return (NULL);
	}
	return (w);
}

void
workers_run(struct workers *w, size_t n, void (*fn)(void *, size_t),
    void *ctx)
{
	size_t i;

	if (w == NULL || w->nth == 0 || n < 2) {
		for (i = 0; i < n; i++)
			fn(ctx, i);
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->fn = fn;
	w->ctx = ctx;
	w->next = 0;
	w->n = n;
	w->gen++;
	/* Wake only as many as could take an index besides the caller. */
	for (i = 0; i < w->nth && i + 1 < n; i++)
		pthread_cond_signal(&w->go);
	work(w, 1);
	while (w->busy > 0)
		pthread_cond_wait(&w->done, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

size_t
workers_threads(const struct workers *w)
{

	return (w == NULL ? 1 : w->nth + 1);
}

uint64_t
workers_helped(const struct workers *w)
{
	uint64_t n;

	if (w == NULL)
		return (0);
	pthread_mutex_lock((pthread_mutex_t *)&w->mu);
	n = w->helped;
	pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
	return (n);
}

void
workers_free(struct workers *w)
{
	size_t i;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->go);
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < w->nth; i++)
		(void)pthread_join(w->th[i], NULL);
	pthread_cond_destroy(&w->done);
	pthread_cond_destroy(&w->go);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
