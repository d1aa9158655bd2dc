/*
 * cli.h: what the five programs' command lines share (STYLE.md, "CLIs"):
 * a table of subcommands, --help (and `PROG help CMD`, `PROG CMD --help`)
 * printing usage on stdout with exit 0, --version with exit 0, and a
 * usage error printed as one line on stderr with exit 2.  The usage
 * lines are the SYNOPSIS lines of the program's man page
 * (tests/scenario/cli_conventions.sh holds them together).
 *
 * Not in proto/: this module prints.  Only the programs link it.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <getopt.h>
#include <stddef.h>

/* Exit status of every program (STYLE.md). */
#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* getopt_long values of the options every command takes. */
#define CLI_OPT_HELP 0x1001
#define CLI_OPT_VERSION 0x1002

/* For every command's getopt_long table: --help and --version. */
#define CLI_LONGOPTS \
	{ "help", no_argument, NULL, CLI_OPT_HELP }, \
	{ "version", no_argument, NULL, CLI_OPT_VERSION }

struct cli_prog;

/*
 * One command: `PROG [GLOBAL] NAME ARGS`.  ${fn} gets the arguments from
 * the command's name on (argv[0] is the name; getopt starts afresh) and
 * returns an exit status.  ${sub}, when not NULL, is the table of the
 * command's own subcommands (ferry-keys roster), for help.
 */
struct cli_cmd {
	const char *name;
	int (*fn)(int, char **);
	const char *args;		/* the synopsis after the name */
	const char *what;		/* one line: what it does */
	const struct cli_prog *sub;
};

/*
 * A program (or a command with subcommands): its name as typed
 * ("ferry-keys", "ferry-keys roster"), the options that come before the
 * command ("[--data DIR]", or ""), its commands, the command run when
 * none is named (ferry-relay's run, ferry-agent's only one; NULL: a
 * command is required) and lines printed after the table by --help.
 */
struct cli_prog {
	const char *name;
	const char *global;
	const struct cli_cmd *cmds;
	size_t ncmds;
	const struct cli_cmd *dflt;
	const char *notes;
};

/**
 * cli_start(p): make ${p} the program (for --version and errors) before
 * it parses options of its own that come before the command (ferry
 * --data); cli_main does it too.  Sets getopt's opterr to 0: commands
 * report option errors with cli_opt_error.
 */
void cli_start(const struct cli_prog *p);

/**
 * cli_main(p, argc, argv): run the command named by argv[1] (argv[0] is
 * the word before it: the program, or the parent command): `help [CMD
 * [SUBCMD]]`, `--help` / `-h` and `--version` are answered here; with no
 * command, or one starting with '-', ${p}->dflt runs with all of argv.
 * An unknown or missing command is a usage error.  Returns the exit
 * status.
 */
int cli_main(const struct cli_prog *p, int argc, char **argv);

/**
 * cli_opt_error(ch, argv): the end of a command for a getopt_long value
 * it does not handle itself: CLI_OPT_HELP prints the command's usage on
 * stdout (0), CLI_OPT_VERSION the version (0); '?' (an unknown option)
 * and ':' (an option without its value: the optstring must start with
 * ':') are usage errors naming the option (2).
 */
int cli_opt_error(int ch, char **argv);

/**
 * cli_usage(fmt, ...): a usage error of the running command: one line
 * "PROG CMD: WHY; usage: PROG [GLOBAL] CMD ARGS" on stderr (just the
 * usage when ${fmt} is NULL; before any command runs, "PROG: WHY (PROG
 * --help lists the commands)").  Returns CLI_USAGE (2).
 */
int cli_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/** cli_help(): the running command's usage and what it does, on stdout; returns 0. */
int cli_help(void);

/** cli_version(): "PROG VERSION" on stdout (FERRY_VERSION); returns 0. */
int cli_version(void);

/** cli_longopt_name(opts, val): the name of the option of ${opts} whose getopt value is ${val} ("log-level"), or "?". */
const char *cli_longopt_name(const struct option *opts, int val);

/** cli_name(): the running command as typed, "ferry-keys init" (for error lines). */
const char *cli_name(void);

#endif
