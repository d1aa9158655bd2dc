/*
 * main.c: ferry-relay's command line.
 *
 *   ferry-relay [run] [-c FILE] [--endpoint E] [--data DIR] [--key FILE]
 *               [--roster FILE] [--roster-pin FP] [--max-body N]
 *               [--queue-max N] [--expiry D] [--log-level L]
 *   ferry-relay check-config [same options]
 *   ferry-relay stats --data DIR | -c FILE     print <DIR>/metrics.prom
 *   ferry-relay queue list|show|purge ...      the queue (ctl.c)
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

#include "cli.h"
#include "relay.h"

static volatile sig_atomic_t stop_flag, hup_flag, ctl_flag;

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
on_usr1(int sig)
{

	(void)sig;
	ctl_flag = 1;
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
	CLI_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

#define OPTS ":c:e:d:k:r:p:b:q:x:l:h"

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

/*
 * Flags override the file: read -c first, then apply the others.  -1 to
 * go on with ${c} complete, else the exit status (--help, --version, a
 * usage or configuration error, said).
 */
static int
parse_args(struct config *c, int argc, char **argv)
{
	const char *cfg = NULL;
	char flag[40];
	int ch, rc;

	while ((ch = getopt_long(argc, argv, OPTS, longopts, NULL)) != -1) {
		if (ch == 'c')
			cfg = optarg;
		else if (ch == 'h')
			return (cli_help());
		else if (optkey(ch) == NULL)
			return (cli_opt_error(ch, argv));
	}
	if (optind != argc)
		return (cli_usage("unexpected argument '%s'", argv[optind]));
	if (cfg != NULL && config_load(c, cfg) != 0)
		return (CLI_USAGE);
	optind = 0;
	while ((ch = getopt_long(argc, argv, OPTS, longopts, NULL)) != -1) {
		if (ch == 'c')
			continue;
		if ((rc = config_set(c, optkey(ch), optarg)) == FERRY_ENOUNIT)
			return (cli_usage("--%s %s: %s, e.g. %ss",
			    cli_longopt_name(longopts, ch), optarg,
			    ferry_strerror(rc), optarg));
		if (rc != 0)
			return (cli_usage("bad value for --%s: '%s'",
			    cli_longopt_name(longopts, ch), optarg));
		snprintf(flag, sizeof(flag), "--%s",
		    cli_longopt_name(longopts, ch));
		if (config_check_flag(c, optkey(ch), flag) != 0)
			return (CLI_USAGE);
	}
	return (config_check(c, cfg) == 0 ? -1 : CLI_USAGE);
}

static int
cmd_stats(int argc, char **argv)
{
	struct config c;
	char path[CONFIG_PATH_MAX + 32];
	uint8_t *buf;
	size_t len;
	int ch;

	config_defaults(&c);
	c.data[0] = '\0';
	while ((ch = getopt_long(argc, argv, ":d:c:", longopts, NULL)) != -1) {
		if (ch == 'd') {
			if (config_set(&c, "data", optarg) != 0)
				return (cli_usage("bad value for --data: '%s'",
				    optarg));
		} else if (ch == 'c') {
			if (config_load(&c, optarg) != 0)
				return (CLI_USAGE);
		} else if (optkey(ch) != NULL)
			return (cli_usage("--%s does not apply to stats",
			    cli_longopt_name(longopts, ch)));
		else
			return (cli_opt_error(ch, argv));
	}
	if (optind != argc)
		return (cli_usage("unexpected argument '%s'", argv[optind]));
	if (c.data[0] == '\0')
		return (cli_usage("missing --data DIR (or a -c config that "
		    "sets data)"));
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

static const struct option qopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "data", required_argument, NULL, 'd' },
	{ "recipient", required_argument, NULL, 't' },
	{ "reason", required_argument, NULL, 'w' },
	CLI_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

/*
 * The options of a queue command: the data folder (--data, or -c and its
 * data key), and --recipient / --reason where ${want} has 't' / 'w'.
 * ${nargs} positional arguments are required.  -1 to go on, else the exit
 * status.
 */
static int
queue_args(int argc, char **argv, const char *want, int nargs,
    struct config *c, const char **to, const char **why)
{
	int ch;

	config_defaults(c);
	c->data[0] = '\0';
	*to = *why = NULL;
	while ((ch = getopt_long(argc, argv, ":d:c:h", qopts, NULL)) != -1) {
		if (ch == 'h')
			return (cli_help());
		if (ch == 'd' && config_set(c, "data", optarg) != 0)
			return (cli_usage("bad value for --data: '%s'", optarg));
		if (ch == 'c' && config_load(c, optarg) != 0)
			return (CLI_USAGE);
		if ((ch == 't' || ch == 'w') && strchr(want, ch) == NULL)
			return (cli_usage("--%s does not apply to this command",
			    cli_longopt_name(qopts, ch)));
		if (ch == 't')
			*to = optarg;
		else if (ch == 'w')
			*why = optarg;
		else if (ch != 'd' && ch != 'c')
			return (cli_opt_error(ch, argv));
	}
	if (argc - optind != nargs)
		return (argc - optind > nargs ? cli_usage("unexpected argument "
		    "'%s'", argv[optind + nargs]) : cli_usage("missing the "
		    "message id (32 hex digits, as queue list prints)"));
	if (c->data[0] == '\0')
		return (cli_usage("missing --data DIR (or a -c config that "
		    "sets data)"));
	return (-1);
}

static int
cmd_queue_list(int argc, char **argv)
{
	struct config c;
	const char *to, *why;
	int rc;

	if ((rc = queue_args(argc, argv, "t", 0, &c, &to, &why)) >= 0)
		return (rc);
	return (ctl_queue_list(c.data, to));
}

static int
cmd_queue_show(int argc, char **argv)
{
	struct config c;
	const char *to, *why;
	int rc;

	if ((rc = queue_args(argc, argv, "", 1, &c, &to, &why)) >= 0)
		return (rc);
	return (ctl_queue_show(c.data, argv[optind]));
}

static int
cmd_queue_purge(int argc, char **argv)
{
	struct config c;
	const char *to, *why;
	int rc;

	if ((rc = queue_args(argc, argv, "tw", 0, &c, &to, &why)) >= 0)
		return (rc);
	if (to == NULL || why == NULL)
		return (cli_usage("missing %s: a purge names the revoked agency "
		    "and says why", to == NULL ? "--recipient AGENCY" :
		    "--reason TEXT"));
	return (ctl_queue_purge(c.data, to, why));
}

static const struct cli_cmd qcmds[] = {
	{ "list", cmd_queue_list, "--data DIR | -c config [--recipient "
	    "AGENCY]", "print each queued message: id, sender, recipient, "
	    "bytes, accepted (ISO 8601 UTC), age in seconds; read-only, never "
	    "content", NULL },
	{ "show", cmd_queue_show, "--data DIR | -c config MSGID", "print one "
	    "queued message's headers", NULL },
	{ "purge", cmd_queue_purge, "--data DIR | -c config --recipient "
	    "AGENCY --reason TEXT", "have the running relay remove every "
	    "message queued for AGENCY, which the roster in force must "
	    "revoke: each logged (EXPIRED, FERRY_EPURGED) and NACKed to its "
	    "sender", NULL },
};

static const struct cli_prog qprog = {
	"ferry-relay queue", "", qcmds, sizeof(qcmds) / sizeof(qcmds[0]), NULL,
	"Run as the relay's user: the queue and the relay's lock are its."
};

static int
cmd_queue(int argc, char **argv)
{

	return (cli_main(&qprog, argc, argv));
}

static int
cmd_check(int argc, char **argv)
{
	struct config c;
	int rc;

	config_defaults(&c);
	if ((rc = parse_args(&c, argc, argv)) >= 0)
		return (rc);
	printf("ok\n");
	return (0);
}

static int
cmd_run(int argc, char **argv)
{
	struct config c;
	struct sigaction sa;
	int rc;

	config_defaults(&c);
	if ((rc = parse_args(&c, argc, argv)) >= 0)
		return (rc);
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
	sa.sa_handler = on_usr1;
	if (sigaction(SIGUSR1, &sa, NULL))
		return (1);
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL))
		return (1);
	return (loop_run(&c, &stop_flag, &hup_flag, &ctl_flag));
}

static const struct cli_cmd cmds[] = {
	{ "run", cmd_run, "[-c config] [--endpoint E] [--data DIR] "
	    "[--key FILE] [--roster FILE] [--roster-pin FP] [--max-body SIZE] "
	    "[--queue-max N] [--expiry DURATION] "
	    "[--log-level error|warn|info|debug]", "run the relay in the "
	    "foreground (the command when none is named)", NULL },
	{ "check-config", cmd_check, "[same options]", "print ok if the "
	    "configuration's keys and values are valid", NULL },
	{ "stats", cmd_stats, "--data DIR | -c config", "print DIR/"
	    "metrics.prom", NULL },
	{ "queue", cmd_queue, "list|show|purge ...", "list or show what is "
	    "queued; purge a revoked agency's queue", &qprog },
};

static const struct cli_prog prog = {
	"ferry-relay", "", cmds, sizeof(cmds) / sizeof(cmds[0]), &cmds[0],
	"Flags override the configuration file (-c, also --config).  Exit "
	"status: 0 clean stop, 1 run-time failure, 2 usage or configuration "
	"error."
};

int
main(int argc, char **argv)
{

	return (cli_main(&prog, argc, argv));
}
