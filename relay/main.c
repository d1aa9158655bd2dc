/*
 * main.c: ferry-relay's command line.
 *
 *   ferry-relay [run] [-c FILE] [--endpoint E] [--data DIR] [--key FILE]
 *               [--roster FILE] [--roster-pin FP] [--max-body N]
 *               [--queue-max N] [--expiry D] [--log-level L]
 *   ferry-relay stats --data DIR     print <DIR>/metrics.prom
 *   ferry-relay check-config [-c FILE] [flags]
 *
 * Foreground; logs to stderr; SIGTERM/SIGINT stop cleanly, SIGHUP reloads
 * the roster file.  Exit 0 on a clean stop, 1 on a run-time failure, 2 on
 * a usage or configuration error (flag, file, key or value).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "relay.h"

static volatile sig_atomic_t stop_flag, hup_flag;

static void
on_term(int sig)
{

	(void)sig;
	stop_flag = 1;
}

static void
on_hup(int sig)
{

	(void)sig;
	hup_flag = 1;
}

static void
usage(void)
{

	fprintf(stderr,
	    "usage: ferry-relay [run] [-c config] [--endpoint E] [--data DIR]\n"
	    "                   [--key FILE] [--roster FILE] [--roster-pin FP]\n"
	    "                   [--max-body SIZE] [--queue-max N]"
	    " [--expiry DURATION]\n"
	    "                   [--log-level error|warn|info|debug]\n"
	    "       ferry-relay check-config [same options]\n"
	    "       ferry-relay stats --data DIR\n");
	exit(2);
}

static const struct option longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "endpoint", required_argument, NULL, 'e' },
	{ "data", required_argument, NULL, 'd' },
	{ "key", required_argument, NULL, 'k' },
	{ "roster", required_argument, NULL, 'r' },
	{ "roster-pin", required_argument, NULL, 'p' },
	{ "max-body", required_argument, NULL, 'b' },
	{ "queue-max", required_argument, NULL, 'q' },
	{ "expiry", required_argument, NULL, 'x' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

static const char *
optkey(int ch)
{

	switch (ch) {
	case 'e': return ("endpoint");
	case 'd': return ("data");
	case 'k': return ("key");
	case 'r': return ("roster");
	case 'p': return ("roster_pin");
	case 'b': return ("max_body");
	case 'q': return ("queue_max");
	case 'x': return ("expiry");
	case 'l': return ("log_level");
	}
	return (NULL);
}

/* Flags override the file: read -c first, then apply the others. */
static int
parse_args(struct config *c, int argc, char **argv)
{
	const char *cfg = NULL;
	int ch;

	opterr = 1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:e:d:k:r:p:b:q:x:l:h", longopts,
	    NULL)) != -1) {
		if (ch == 'c')
			cfg = optarg;
		else if (ch == 'h' || ch == '?' || optkey(ch) == NULL)
			usage();
	}
	if (optind != argc)
		usage();
	if (cfg != NULL && config_load(c, cfg) != 0)
		return (-1);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:e:d:k:r:p:b:q:x:l:h", longopts,
	    NULL)) != -1) {
		if (ch == 'c')
			continue;
		if (config_set(c, optkey(ch), optarg) != 0) {
			fprintf(stderr, "ferry-relay: bad value for --%s\n",
			    optkey(ch));
			return (-1);
		}
	}
	return (config_check(c));
}

static int
cmd_stats(int argc, char **argv)
{
	struct config c;
	char path[CONFIG_PATH_MAX + 32];
	uint8_t *buf;
	size_t len;

	config_defaults(&c);
	c.data[0] = '\0';
	optind = 1;
	for (;;) {
		int ch = getopt_long(argc, argv, "d:c:", longopts, NULL);

		if (ch == -1)
			break;
		if (ch == 'd') {
			if (config_set(&c, "data", optarg) != 0)
				usage();
		} else if (ch == 'c') {
			if (config_load(&c, optarg) != 0)
				return (2);
		} else
			usage();
	}
	if (optind != argc || c.data[0] == '\0')
		usage();
	snprintf(path, sizeof(path), "%s/metrics.prom", c.data);
	if (ferry_read_file(path, 16u << 20, &buf, &len, 0) != 0) {
		fprintf(stderr, "ferry-relay: cannot read %s\n", path);
		return (1);
	}
	if (fwrite(buf, 1, len, stdout) != len) {
		free(buf);
		return (1);
	}
	free(buf);
	return (0);
}

int
main(int argc, char **argv)
{
	struct config c;
	struct sigaction sa;
	int check = 0;

	if (argc > 1 && strcmp(argv[1], "stats") == 0)
		return (cmd_stats(argc - 1, argv + 1));
	if (argc > 1 && strcmp(argv[1], "check-config") == 0) {
		check = 1;
		argc--;
		argv++;
	} else if (argc > 1 && strcmp(argv[1], "run") == 0) {
		argc--;
		argv++;
	}
	config_defaults(&c);
	if (parse_args(&c, argc, argv) != 0)
		return (2);
	if (check) {
		printf("ok\n");
		return (0);
	}
	rlog_set_level(c.log_level);
	/* No core dumps, no ptrace by others: they would get the keys. */
	if (ferry_no_core_dumps() != 0)
		rlog(RLOG_WARN, "core-dumps", "cannot disable core dumps");
	if (sodium_init() < 0) {
		rlog(RLOG_ERROR, "sodium-init", "failed=1");
		return (1);
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL))
		return (1);
	sa.sa_handler = on_hup;
	if (sigaction(SIGHUP, &sa, NULL))
		return (1);
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL))
		return (1);
	return (loop_run(&c, &stop_flag, &hup_flag));
}
