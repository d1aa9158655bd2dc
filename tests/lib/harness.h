/*
 * Tiny unit-test harness.  Each test prints one line, "ok - NAME" or
 * "not ok - NAME: file:line: expression", which tests/run.sh counts.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ(rc, 0); }
 *   int main(void) { t_init(); RUN(name); return t_done(); }
 */
#ifndef FERRY_HARNESS_H
#define FERRY_HARNESS_H

#include <stdio.h>
#include <string.h>

extern int t_failed_now;
extern int t_passes, t_fails;

void t_init(void);
void t_fail(const char *file, int line, const char *expr, long long a,
    long long b);
/** t_run(name, fn): run test ${fn} in a child process of its own. */
void t_run(const char *name, void (*fn)(void));
/** t_shared_state(): run this file's tests in one process (they build on
 * each other's state); call before the first RUN. */
void t_shared_state(void);
int t_done(void);
/** t_tmpdir(): a fresh temporary folder, removed by t_done(). */
const char *t_tmpdir(void);
/** t_read_file(path, len): whole file into malloc'd memory, or NULL. */
unsigned char *t_read_file(const char *path, size_t *len);

#define TEST(name) static void name(void)
#define RUN(name) t_run(#name, name)
#define CHECK(c) do { if (!(c)) { \
	t_fail(__FILE__, __LINE__, #c, 0, 0); return; } } while (0)
#define CHECK_EQ(a, b) do { long long t_a_ = (long long)(a), \
	t_b_ = (long long)(b); if (t_a_ != t_b_) { \
	t_fail(__FILE__, __LINE__, #a " == " #b, t_a_, t_b_); return; } \
	} while (0)

#endif
