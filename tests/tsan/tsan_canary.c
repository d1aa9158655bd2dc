/*
 * tsan_canary.c: a planted data race (two threads increment one plain
 * counter with no lock), built only with ThreadSanitizer (make tsan).
 * tests/run.sh runs it and counts it as passed only when TSan reports
 * the race: a ThreadSanitizer that cannot see races here (an
 * uninstrumented build, a runtime that did not start) must not let the
 * threaded units pass unseen.
 */
#include <pthread.h>
#include <stdio.h>

static long counter;

static void *
bump(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		counter++;	/* the race */
	return (NULL);
}

int
main(void)
{
	pthread_t a, b;

	if (pthread_create(&a, NULL, bump, NULL) != 0 ||
	    pthread_create(&b, NULL, bump, NULL) != 0) {
		fprintf(stderr, "tsan_canary: pthread_create failed\n");
		return (2);
	}
	(void)pthread_join(a, NULL);
	(void)pthread_join(b, NULL);
	printf("tsan_canary: counter %ld\n", counter);
	return (0);
}
