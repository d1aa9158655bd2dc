/*
 * ferry-agent: an agency's Ferry daemon (docs/agent.md).
 *
 *   ferry-agent [-c CONFIG] [-d DATA] [-k KEYFILE] [-R ROSTER] [-P PIN]
 *       [-r RELAY] [-s SPOOL] [-l LEVEL]
 *
 * Foreground; one log line per event on stderr; SIGTERM/SIGINT stop
 * cleanly (LMDB closed, sockets lingered for a bounded time); SIGHUP
 * re-reads the roster (newer versions only, each verified).  Exit 0 on a
 * clean stop, 1 on a run-time failure, 2 on a usage or configuration error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "aconf.h"
#include "cli.h"
#include "agentd.h"
#include "alog.h"

static volatile sig_atomic_t stop_flag, hup_flag;

static void
on_signal(int sig)
{

	if (sig == SIGHUP)
		hup_flag = 1;
	else
		stop_flag = 1;
}

/* Each flag and the configuration key it sets. */
static const struct {
	int ch;
	const char *key;
} flags[] = {
	{ 'd', "data" }, { 'k', "key" }, { 'R', "roster" },
	{ 'P', "roster_pin" }, { 'r', "relay" }, { 's', "spool" },
	{ 'l', "log_level" },
};

static int agent_run(int, char **);

static const struct cli_cmd run_cmd = {
	"", agent_run, "[-c config] [-d data-dir] [-k key-file] "
	"[-R roster-file] [-P roster-pin] [-r relay-endpoint] [-s spool-dir] "
	"[-l level]", "an agency's Ferry daemon, in the foreground: outbox, "
	"inbox, receipts and log", NULL
};

static const struct cli_prog prog = {
	"ferry-agent", "", NULL, 0, &run_cmd,
	"Each flag sets the configuration key of its name (-P: roster_pin, "
	"-l: log_level) and wins over the file.  Exit status: 0 clean stop, "
	"1 run-time failure, 2 usage or configuration error."
};

/* Why the data folder ${folder} (or ${path} in it) cannot be had. */
static void
data_why(const char *folder, const char *path, const char *what, int e)
{
	char why[8192];

	ferry_data_why(folder, path, what, e, why, sizeof(why));
	fprintf(stderr, "ferry-agent: %s\n", why);
}

int
main(int argc, char **argv)
{

	return (cli_main(&prog, argc, argv));
}

static int
agent_run(int argc, char **argv)
{
	static const struct option lo[] = {
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *vals[sizeof(flags) / sizeof(flags[0])];
	struct aconf conf;
	struct agentd a;
	struct sigaction sa;
	char err[AGENTD_ERR_MAX], lock[ACONF_PATH_MAX + 16];
	const char *cfg = NULL;
	size_t i;
	int ch, rc, lockfd;

	memset(vals, 0, sizeof(vals));
	while ((ch = getopt_long(argc, argv, ":c:d:k:R:P:r:s:l:h", lo,
	    NULL)) != -1) {
		if (ch == 'c') {
			cfg = optarg;
			continue;
		}
		if (ch == 'h')
			return (cli_help());
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
			if (flags[i].ch == ch)
				break;
		if (i == sizeof(flags) / sizeof(flags[0]))
			return (cli_opt_error(ch, argv));
		vals[i] = optarg;
	}
	if (optind != argc)
		return (cli_usage("unexpected argument '%s'", argv[optind]));
	aconf_defaults(&conf);
	/* Every configuration or usage mistake exits 2, run-time failures 1
	 * (systemd: RestartPreventExitStatus=2). */
	if (cfg != NULL && aconf_load(&conf, cfg) != 0)
		return (CLI_USAGE);
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (vals[i] != NULL && aconf_set(&conf, flags[i].key,
		    vals[i]) != 0)
			return (cli_usage("bad value for -%c (%s): '%s'",
			    flags[i].ch, flags[i].key, vals[i]));
	if (aconf_check(&conf, cfg) != 0)
		return (CLI_USAGE);
	alog_set_level(conf.log_level);

	/* No core dumps, no ptrace by others: they would get key material. */
	if (ferry_no_core_dumps() != 0)
		fprintf(stderr, "ferry-agent: cannot disable core dumps\n");
	umask(077);
	if (sodium_init() < 0) {
		fprintf(stderr, "ferry-agent: libsodium failed to start\n");
		return (1);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0)
		return (1);
	if (sigaction(SIGHUP, &sa, NULL) != 0)
		return (1);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);

	/* One agent per data folder. */
	if (mkdir(conf.data, 0700) != 0 && errno != EEXIST) {
		data_why(conf.data, conf.data, "cannot create", errno);
		return (1);
	}
	snprintf(lock, sizeof(lock), "%s/agent.lock", conf.data);
	if ((lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		data_why(conf.data, lock, "cannot open", errno);
		return (1);
	}
	if (flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "ferry-agent: %s: another ferry-agent uses "
		    "this data folder\n", conf.data);
		return (1);
	}

	if ((rc = agentd_open(&a, &conf, err, sizeof(err))) != 0) {
		/* ${err} names the cause; the code is for searching. */
		alog(ALOG_ERROR, "start", "%s (%s)", err, ferry_errname(rc));
		agentd_close(&a);
		return (1);
	}
	if ((rc = agentd_spool_init(&a)) != 0) {
		alog(ALOG_ERROR, "start", "spool %s: %s", conf.spool,
		    ferry_strerror(rc));
		agentd_close(&a);
		return (1);
	}
	/* Files sent before a restore from a backup: said, to failed/. */
	(void)agentd_spool_restored(&a);
	rc = agentd_net_run(&a, &stop_flag, &hup_flag);
	agentd_close(&a);
	close(lockfd);
	return (rc == 0 ? 0 : 1);
}
