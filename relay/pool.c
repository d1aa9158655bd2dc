/*
 * pool.c: a small fixed pool of worker threads, created at start, for the
 * relay's pure per-envelope work (hash, decode, Ed25519 check of a batch:
 * batch_check).  pool_run(p, n, fn, ctx) calls fn(ctx, i) once for each
 * i in [0, n), spread over the workers AND the calling thread, and
 * returns when every call has returned; the caller then reads the
 * results in order.  The workers touch nothing but what fn touches: no
 * ZeroMQ socket, no LMDB transaction, no relay state (those stay on the
 * loop's thread).  Each call takes the pool's lock a bounded number of
 * times; the workers sleep on a condition variable between runs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "relay_int.h"

#define POOL_MAX 64

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	pthread_t th[POOL_MAX];
	size_t nth;
	/* The current run: indices [next, n) not yet taken. */
	void (*fn)(void *, size_t);
	void *ctx;
	size_t next, n, busy;
	uint64_t gen;
	int stop;
};

/* Take and do indices of the current run until none is left (locked). */
static void
work(struct pool *p)
{

	while (p->next < p->n) {
		size_t i = p->next++;

		p->busy++;
		pthread_mutex_unlock(&p->mu);
		p->fn(p->ctx, i);
		pthread_mutex_lock(&p->mu);
		p->busy--;
	}
}

static void *
worker(void *arg)
{
	struct pool *p = arg;
	uint64_t seen = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		work(p);
		if (p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return (NULL);
}

/**
 * pool_new(nthreads): a pool of ${nthreads} workers (at most POOL_MAX;
 * 0: none, pool_run then does everything on the calling thread).  NULL
 * if out of memory or a thread could not be created (errno set).
 */
struct pool *
pool_new(size_t nthreads)
{
	struct pool *p;
	int rc;

	if (nthreads > POOL_MAX) {
		errno = EINVAL;
		return (NULL);
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return (NULL);
	}
	if (pthread_cond_init(&p->go, NULL) != 0 ||
	    pthread_cond_init(&p->done, NULL) != 0) {
		/* Unlikely; the cond left initialised is freed by the OS. */
		pthread_mutex_destroy(&p->mu);
		free(p);
		return (NULL);
	}
	for (p->nth = 0; p->nth < nthreads; p->nth++)
		if ((rc = pthread_create(&p->th[p->nth], NULL, worker, p)) !=
		    0) {
			pool_free(p);
			errno = rc;
			return (NULL);
		}
	return (p);
}

/** pool_size(p): how many workers ${p} has (0 for NULL). */
size_t
pool_size(const struct pool *p)
{

	return (p == NULL ? 0 : p->nth);
}

/**
 * pool_run(p, n, fn, ctx): fn(ctx, i) for each i in [0, n), on the
 * workers of ${p} and the calling thread; returns when all are done.
 * ${p} NULL or without workers, or n < 2: all on the calling thread.
 */
void
pool_run(struct pool *p, size_t n, void (*fn)(void *, size_t), void *ctx)
{
	size_t i;

	if (p == NULL || p->nth == 0 || n < 2) {
		for (i = 0; i < n; i++)
			fn(ctx, i);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->next = 0;
	p->n = n;
	p->busy = 0;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	work(p);
	while (p->busy > 0)
		pthread_cond_wait(&p->done, &p->mu);
	p->fn = NULL;
	p->ctx = NULL;
	p->n = p->next = 0;
	pthread_mutex_unlock(&p->mu);
}

/** pool_free(p): stop and join the workers, free ${p}. */
void
pool_free(struct pool *p)
{
	size_t i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nth; i++)
		(void)pthread_join(p->th[i], NULL);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
