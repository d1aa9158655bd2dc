/*
 * test_process.c: process hardening shared by the daemons (proto/ferry.c):
 * ferry_no_core_dumps sets RLIMIT_CORE to 0 and clears the dumpable flag.
 */
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "../lib/harness.h"
#include "ferry.h"

TEST(no_core_dumps)
{
	struct rlimit rl;

	CHECK_EQ(ferry_no_core_dumps(), 0);
	CHECK_EQ(getrlimit(RLIMIT_CORE, &rl), 0);
	CHECK_EQ(rl.rlim_cur, 0);
	CHECK_EQ(rl.rlim_max, 0);
	CHECK_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	/* Twice is fine (a daemon may call it again). */
	CHECK_EQ(ferry_no_core_dumps(), 0);
}

int
main(void)
{

	t_init();
	RUN(no_core_dumps);
	return (t_done());
}
