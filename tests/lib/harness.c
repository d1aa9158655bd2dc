#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

int t_failed_now;
int t_passes, t_fails;
static char t_dir[256];
static int t_shared;

void
t_init(void)
{

	if (sodium_init() < 0) {
		printf("not ok - sodium_init\n");
		exit(1);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
}

void
t_fail(const char *file, int line, const char *expr, long long a,
    long long b)
{

	t_failed_now = 1;
	if (a != b)
		printf("#   %s:%d: %s (%lld vs %lld)\n", file, line, expr, a, b);
	else
		printf("#   %s:%d: %s\n", file, line, expr);
}

void
t_shared_state(void)
{

	t_shared = 1;
}

/*
 * Each test runs in a child process of its own (fork), so that what one
 * test does to memory or global state, a crash, an abort by a sanitizer
 * or a leak is its own failure and cannot cascade into the next: the
 * next test starts from the state the file's setup left, not from what
 * the failed one left.  Files whose tests build on each other's state
 * call t_shared_state() first and run in one process, as before.
 */
void
t_run(const char *name, void (*fn)(void))
{
	pid_t pid;
	int st;

	t_failed_now = 0;
	if (t_shared) {
		fn();
		goto report;
	}
	(void)t_tmpdir();	/* made once, by the parent, removed by t_done */
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		fn();
		fflush(stdout);
		exit(t_failed_now ? 1 : 0);	/* runs the leak check */
	}
	while (waitpid(pid, &st, 0) < 0)
		;
	if (WIFSIGNALED(st)) {
		printf("#   %s: killed by signal %d\n", name, WTERMSIG(st));
		t_failed_now = 1;
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (WIFEXITED(st) && WEXITSTATUS(st) != 1)
			printf("#   %s: exit status %d (a sanitizer report?)\n",
			    name, WEXITSTATUS(st));
		t_failed_now = 1;
	}
report:
	if (t_failed_now) {
		t_fails++;
		printf("not ok - %s\n", name);
	} else {
		t_passes++;
		printf("ok - %s\n", name);
	}
}

const char *
t_tmpdir(void)
{

	if (t_dir[0] == '\0') {
		snprintf(t_dir, sizeof(t_dir), "/tmp/ferry-unit-XXXXXX");
		if (mkdtemp(t_dir) == NULL) {
			perror("mkdtemp");
			exit(1);
		}
	}
	return (t_dir);
}

unsigned char *
t_read_file(const char *path, size_t *len)
{
	FILE *f;
	unsigned char *buf = NULL;
	long n;

	if ((f = fopen(path, "rb")) == NULL)
		return (NULL);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto done;
	if ((buf = malloc((size_t)n + 1)) == NULL)
		goto done;
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
		goto done;
	}
	buf[n] = 0;
	*len = (size_t)n;
done:
	fclose(f);
	return (buf);
}

int
t_done(void)
{
	char cmd[300];

	if (t_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", t_dir);
	}
	return (t_fails ? 1 : 0);
}
