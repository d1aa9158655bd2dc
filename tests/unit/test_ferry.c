/*
 * test_ferry.c: the configuration value parsers and the table-driven key
 * setter that ferry-agent and ferry-relay share (proto/ferry.c); reading
 * a whole file (ferry_read_file) where others may put things in its place.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/harness.h"
#include "ferry.h"

TEST(parse_u64)
{
	uint64_t v = 7;

	CHECK_EQ(ferry_parse_u64("0", &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(ferry_parse_u64("0042", &v), 0);
	CHECK_EQ(v, 42);
	CHECK_EQ(ferry_parse_u64("18446744073709551615", &v), 0);
	CHECK(v == UINT64_MAX);
	v = 7;
	CHECK_EQ(ferry_parse_u64("18446744073709551616", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_u64("", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_u64("-1", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_u64("+1", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_u64(" 1", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_u64("1 ", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_u64("32M", &v), FERRY_EBADVALUE);
	CHECK_EQ(v, 7);
}

TEST(parse_size)
{
	uint64_t v = 7;

	CHECK_EQ(ferry_parse_size("123", &v), 0);
	CHECK_EQ(v, 123);
	CHECK_EQ(ferry_parse_size("123B", &v), 0);
	CHECK_EQ(v, 123);
	CHECK_EQ(ferry_parse_size("4K", &v), 0);
	CHECK_EQ(v, 4096);
	CHECK_EQ(ferry_parse_size("4KiB", &v), 0);
	CHECK_EQ(v, 4096);
	CHECK_EQ(ferry_parse_size("32M", &v), 0);
	CHECK_EQ(v, 32LL << 20);
	CHECK_EQ(ferry_parse_size("32MiB", &v), 0);
	CHECK_EQ(v, 32LL << 20);
	CHECK_EQ(ferry_parse_size("64G", &v), 0);
	CHECK_EQ(v, 64LL << 30);
	CHECK_EQ(ferry_parse_size("64GiB", &v), 0);
	CHECK_EQ(v, 64LL << 30);
	CHECK_EQ(ferry_parse_size("17179869183G", &v), 0);
	CHECK(v == 17179869183ULL << 30);
	v = 7;
	CHECK_EQ(ferry_parse_size("17179869184G", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_size("4k", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_size("4KB", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_size("4T", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_size("K", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_size("", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_size("-4K", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_size("4 K", &v), FERRY_EBADVALUE);
	CHECK_EQ(v, 7);
}

TEST(parse_duration)
{
	uint64_t v = 7;

	CHECK_EQ(ferry_parse_duration("250ms", &v), 0);
	CHECK_EQ(v, 250);
	CHECK_EQ(ferry_parse_duration("30s", &v), 0);
	CHECK_EQ(v, 30000);
	CHECK_EQ(ferry_parse_duration("10m", &v), 0);
	CHECK_EQ(v, 600000);
	CHECK_EQ(ferry_parse_duration("2h", &v), 0);
	CHECK_EQ(v, 7200000);
	CHECK_EQ(ferry_parse_duration("5d", &v), 0);
	CHECK_EQ(v, 432000000);
	CHECK_EQ(ferry_parse_duration("18446744073709551615ms", &v), 0);
	CHECK(v == UINT64_MAX);
	v = 7;
	/* A bare number is refused: one rule for agent and relay alike. */
	CHECK_EQ(ferry_parse_duration("5", &v), FERRY_ENOUNIT);
	CHECK_EQ(ferry_parse_duration("0", &v), FERRY_ENOUNIT);
	CHECK_EQ(ferry_parse_duration("18446744073709551615s", &v),
	    FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_duration("213503982335d", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_duration("", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_duration("s", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_duration("5S", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_duration("5sec", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_duration("5w", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_duration("-5s", &v), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_duration("1.5s", &v), FERRY_EBADVALUE);
	CHECK_EQ(v, 7);
}

TEST(parse_log_level)
{

	CHECK_EQ(ferry_parse_log_level("error"), 0);
	CHECK_EQ(ferry_parse_log_level("warn"), 1);
	CHECK_EQ(ferry_parse_log_level("info"), 2);
	CHECK_EQ(ferry_parse_log_level("debug"), 3);
	CHECK_EQ(ferry_parse_log_level("INFO"), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_log_level("warning"), FERRY_EBADVALUE);
	CHECK_EQ(ferry_parse_log_level(""), FERRY_EBADVALUE);
}

struct tconf {
	char s[8];
	char s1[8];
	uint64_t u;
	uint64_t size;
	uint64_t ms;
	int level;
};

#define K(name, type, field) \
	{ name, type, offsetof(struct tconf, field), \
	    sizeof(((struct tconf *)0)->field) }

static const struct ferry_conf_key tkeys[] = {
	K("s", FERRY_CONF_STR, s),
	K("s1", FERRY_CONF_STR1, s1),
	K("u", FERRY_CONF_U64, u),
	K("size", FERRY_CONF_SIZE, size),
	K("ms", FERRY_CONF_DURATION, ms),
	K("level", FERRY_CONF_LEVEL, level),
	{ NULL, 0, 0, 0 }
};

TEST(conf_set)
{
	struct tconf c;
	char why[128];

	memset(&c, 0, sizeof(c));
	CHECK_EQ(ferry_conf_set(tkeys, &c, "s", "abcdefg"), 0);
	CHECK(strcmp(c.s, "abcdefg") == 0);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "s", "abcdefgh"), FERRY_EBADVALUE);
	CHECK(strcmp(c.s, "abcdefg") == 0);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "s", ""), 0);
	CHECK_EQ(c.s[0], '\0');
	CHECK_EQ(ferry_conf_set(tkeys, &c, "s1", "x"), 0);
	CHECK(strcmp(c.s1, "x") == 0);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "s1", ""), FERRY_EBADVALUE);
	CHECK(strcmp(c.s1, "x") == 0);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "u", "12"), 0);
	CHECK_EQ(c.u, 12);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "u", "12K"), FERRY_EBADVALUE);
	CHECK_EQ(c.u, 12);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "size", "12K"), 0);
	CHECK_EQ(c.size, 12288);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "ms", "3s"), 0);
	CHECK_EQ(c.ms, 3000);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "ms", "3"), FERRY_ENOUNIT);
	CHECK_EQ(c.ms, 3000);
	ferry_conf_why(why, sizeof(why), "reask", "30", FERRY_ENOUNIT);
	CHECK(strcmp(why, "reask = 30: a duration needs a unit (ms, s, m, h "
	    "or d), e.g. 30s") == 0);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "level", "debug"), 0);
	CHECK_EQ(c.level, 3);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "level", "loud"), FERRY_EBADVALUE);
	CHECK_EQ(c.level, 3);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "bogus", "1"), FERRY_ENOENT);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "", "1"), FERRY_ENOENT);
	CHECK_EQ(ferry_conf_set(tkeys, &c, "S", "1"), FERRY_ENOENT);
}

/* A key set twice in one file is refused, not the last one winning. */
TEST(conf_load_set_once)
{
	struct tconf c;
	uint64_t seen = 0;
	char why[256];

	memset(&c, 0, sizeof(c));
	CHECK_EQ(ferry_conf_load_set(tkeys, &c, &seen, "u", "12"), 0);
	CHECK_EQ(ferry_conf_load_set(tkeys, &c, &seen, "s", "ab"), 0);
	CHECK_EQ(ferry_conf_load_set(tkeys, &c, &seen, "u", "13"),
	    FERRY_EDUPKEY);
	CHECK_EQ(c.u, 12);
	CHECK_EQ(ferry_conf_load_set(tkeys, &c, &seen, "bogus", "1"),
	    FERRY_ENOENT);
	/* A value refused the first time does not count as set. */
	CHECK_EQ(ferry_conf_load_set(tkeys, &c, &seen, "size", "x"),
	    FERRY_EBADVALUE);
	CHECK_EQ(ferry_conf_load_set(tkeys, &c, &seen, "size", "1K"), 0);
	CHECK_EQ(c.size, 1024);
	/* Another file (another seen) starts again. */
	seen = 0;
	CHECK_EQ(ferry_conf_load_set(tkeys, &c, &seen, "u", "14"), 0);
	CHECK_EQ(c.u, 14);
	ferry_conf_why(why, sizeof(why), "relay", "tcp://b:7700",
	    FERRY_EDUPKEY);
	CHECK(strncmp(why, "key \"relay\" is set more than once (the second "
	    "time to \"tcp://b:7700\"): keep one line", 70) == 0);
}

TEST(utc)
{
	char b[32];
	uint64_t v = 7;

	CHECK(strcmp(ferry_utc(b, sizeof(b), 1769850307123ULL),
	    "2026-01-31T09:05:07.123Z") == 0);
	CHECK(strcmp(ferry_utc(b, sizeof(b), 0), "-") == 0);
	CHECK(strcmp(ferry_utc_s(b, sizeof(b), 1769850307123ULL),
	    "2026-01-31T09:05:07Z") == 0);
	CHECK(strcmp(ferry_utc_s(b, sizeof(b), 0), "-") == 0);
	CHECK_EQ(ferry_parse_utc("2026-01-31T09:05:07.123Z", &v), 0);
	CHECK(v == 1769850307123ULL);
	CHECK_EQ(ferry_parse_utc("2026-01-31 09:05:07", &v), 0);
	CHECK(v == 1769850307000ULL);
	CHECK_EQ(ferry_parse_utc("2026-01-31T09:05", &v), 0);
	CHECK(v == 1769850300000ULL);
	CHECK_EQ(ferry_parse_utc("2026-01-31", &v), 0);
	CHECK(v == 1769817600000ULL);
	CHECK_EQ(ferry_parse_utc("2024-02-29", &v), 0);
	CHECK_EQ(ferry_parse_utc("1769850307123", &v), 0);
	CHECK(v == 1769850307123ULL);
	v = 7;
	CHECK_EQ(ferry_parse_utc("2026-02-29", &v), FERRY_EINVAL);
	CHECK_EQ(ferry_parse_utc("2026-13-01", &v), FERRY_EINVAL);
	CHECK_EQ(ferry_parse_utc("2026-01-31T24:00", &v), FERRY_EINVAL);
	CHECK_EQ(ferry_parse_utc("2026-01-31T09:05+01:00", &v), FERRY_EINVAL);
	CHECK_EQ(ferry_parse_utc("2026-1-31", &v), FERRY_EINVAL);
	CHECK_EQ(ferry_parse_utc("", &v), FERRY_EINVAL);
	CHECK_EQ(ferry_parse_utc("yesterday", &v), FERRY_EINVAL);
	CHECK_EQ(v, 7);
}

/*
 * Review of session 10: a FIFO in a file's place never blocks the read
 * (the agent hung in open(2) on one swapped into its outbox/, every
 * socket dead); with FERRY_READ_NOFOLLOW a link is not followed (the
 * agent read a 0600 file a link in outbox/ pointed at).  A forked child
 * reads, so that a hang fails the test instead of stopping it.
 */
TEST(read_file_fifo_link)
{
	char d[] = "/tmp/ferry-test-read-XXXXXX", fifo[64], file[64], link[64];
	uint8_t *buf;
	size_t len;
	pid_t pid;
	int st = -1, i;
	FILE *f;

	CHECK(mkdtemp(d) != NULL);
	snprintf(fifo, sizeof(fifo), "%s/fifo", d);
	snprintf(file, sizeof(file), "%s/secret", d);
	snprintf(link, sizeof(link), "%s/link.json", d);
	CHECK_EQ(mkfifo(fifo, 0600), 0);
	CHECK((f = fopen(file, "w")) != NULL);
	if (f != NULL) {
		fputs("swordfish", f);
		fclose(f);
	}
	CHECK_EQ(symlink(file, link), 0);
	if ((pid = fork()) == 0)
		_exit(ferry_read_file(fifo, 100, &buf, &len, 0) == FERRY_EIO ?
		    0 : 1);
	for (i = 0; i < 50 && waitpid(pid, &st, WNOHANG) == 0; i++)
		usleep(100000);
	if (i == 50) {
		kill(pid, SIGKILL);
		(void)waitpid(pid, &st, 0);
	}
	CHECK(i < 50);			/* returned, did not block */
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(ferry_read_file(link, 100, &buf, &len, FERRY_READ_NOFOLLOW),
	    FERRY_EIO);
	CHECK_EQ(ferry_read_file(link, 100, &buf, &len, 0), 0);
	CHECK_EQ(len, 9);
	free(buf);
	(void)unlink(link);
	(void)unlink(file);
	(void)unlink(fifo);
	(void)rmdir(d);
}

int
main(void)
{

	t_init();
	RUN(parse_u64);
	RUN(parse_size);
	RUN(parse_duration);
	RUN(parse_log_level);
	RUN(conf_set);
	RUN(conf_load_set_once);
	RUN(utc);
	RUN(read_file_fifo_link);
	return (t_done());
}
