/*
 * workers.h: a small fixed pool of threads for pure per-item work of a
 * batch (the relay's hash, decode and Ed25519 check of each envelope it
 * drained in a turn).  workers_run(w, n, fn, ctx) calls fn(ctx, i) once
 * for each i in [0, n), spread over the pool's threads AND the calling
 * thread, and returns when every call has returned: a fork and a join.
 * The caller then reads the results in order, alone.  fn must touch
 * nothing but item i and what is read-only for the run.
 */
#ifndef FERRY_WORKERS_H
#define FERRY_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#define WORKERS_MAX 64

struct workers;

/*
 * workers_new(nthreads): a pool whose runs use ${nthreads} threads in all,
 * the caller's one of them (so nthreads - 1 are created, sleeping until a
 * run); 1 makes a pool that runs everything on the caller's thread.
 * NULL with errno set if a thread cannot be created.
 */
struct workers *workers_new(size_t nthreads);

/* workers_run(w, n, fn, ctx): fn(ctx, i) for each i < n; see above.
 * ${w} NULL runs them all on the caller's thread. */
void workers_run(struct workers *w, size_t n, void (*fn)(void *, size_t),
    void *ctx);

/* workers_threads(w): threads a run uses (1 for NULL). */
size_t workers_threads(const struct workers *w);

/* workers_helped(w): calls made on the pool's own threads, not the
 * caller's, since the pool was made (a counter for metrics and tests). */
uint64_t workers_helped(const struct workers *w);

/* workers_free(w): stop and join the threads; NULL is fine. */
void workers_free(struct workers *w);

#endif
