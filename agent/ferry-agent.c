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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "aconf.h"
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

static void
usage(void)
{

	fprintf(stderr,
	    "usage: ferry-agent [-c config] [-d data-dir] [-k key-file] "
	    "[-R roster-file]\n"
	    "                   [-P roster-pin] [-r relay-endpoint] "
	    "[-s spool-dir] [-l level]\n");
	exit(2);
}

static int
flag(struct aconf *c, const char *key, const char *v)
{

	if (aconf_set(c, key, v) != 0) {
		fprintf(stderr, "ferry-agent: bad value for -%s\n", key);
		return (-1);
	}
	return (0);
}

int
main(int argc, char **argv)
{
	struct aconf conf;
	struct agentd a;
	struct sigaction sa;
	char err[AGENTD_ERR_MAX], lock[ACONF_PATH_MAX + 16];
	const char *cfg = NULL;
	const char *o_data = NULL, *o_key = NULL, *o_roster = NULL;
	const char *o_pin = NULL, *o_relay = NULL, *o_spool = NULL;
	const char *o_level = NULL;
	int ch, rc, lockfd;

	while ((ch = getopt(argc, argv, "c:d:k:R:P:r:s:l:h")) != -1) {
		switch (ch) {
		case 'c': cfg = optarg; break;
		case 'd': o_data = optarg; break;
		case 'k': o_key = optarg; break;
		case 'R': o_roster = optarg; break;
		case 'P': o_pin = optarg; break;
		case 'r': o_relay = optarg; break;
		case 's': o_spool = optarg; break;
		case 'l': o_level = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	aconf_defaults(&conf);
	/* Every configuration or usage mistake exits 2, run-time failures 1
	 * (systemd: RestartPreventExitStatus=2). */
	if (cfg != NULL && aconf_load(&conf, cfg) != 0)
		return (2);
	if ((o_data && flag(&conf, "data", o_data)) ||
	    (o_key && flag(&conf, "key", o_key)) ||
	    (o_roster && flag(&conf, "roster", o_roster)) ||
	    (o_pin && flag(&conf, "roster_pin", o_pin)) ||
	    (o_relay && flag(&conf, "relay", o_relay)) ||
	    (o_spool && flag(&conf, "spool", o_spool)) ||
	    (o_level && flag(&conf, "log_level", o_level)))
		return (2);
	if (aconf_check(&conf) != 0)
		return (2);
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
		fprintf(stderr, "ferry-agent: cannot create %s: %s\n",
		    conf.data, strerror(errno));
		return (1);
	}
	snprintf(lock, sizeof(lock), "%s/agent.lock", conf.data);
	if ((lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
	    flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "ferry-agent: %s: another ferry-agent uses "
		    "this data folder\n", conf.data);
		return (1);
	}

	if ((rc = agentd_open(&a, &conf, err, sizeof(err))) != 0) {
		alog(ALOG_ERROR, "start", "%s: %s", err, ferry_strerror(rc));
		agentd_close(&a);
		return (1);
	}
	if ((rc = agentd_spool_init(&a)) != 0) {
		alog(ALOG_ERROR, "start", "spool %s: %s", conf.spool,
		    ferry_strerror(rc));
		agentd_close(&a);
		return (1);
	}
	rc = agentd_net_run(&a, &stop_flag, &hup_flag);
	agentd_close(&a);
	close(lockfd);
	return (rc == 0 ? 0 : 1);
}
