/*
 * cli.c: subcommand tables, --help, --version and usage errors for the
 * five programs (see cli.h).
 */
#include "cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ferry.h"

/* The program as first called (for --version) and the running command. */
static const struct cli_prog *top, *cur_prog;
static const struct cli_cmd *cur_cmd;
static char cur_name[256];

/* "PROG [GLOBAL] NAME ARGS" of ${c} in ${p} into ${out}. */
static void
usage_line(const struct cli_prog *p, const struct cli_cmd *c, char *out,
    size_t cap)
{
	int dflt = c == p->dflt && p->ncmds > 0;

	snprintf(out, cap, "%s%s%s%s%s%s%s%s", p->name,
	    p->global[0] != '\0' ? " " : "", p->global,
	    c->name[0] != '\0' ? " " : "", dflt ? "[" : "", c->name,
	    dflt ? "]" : "", c->args[0] != '\0' ? " " : "");
	if (strlen(out) + strlen(c->args) < cap)
		memcpy(out + strlen(out), c->args, strlen(c->args) + 1);
}

/* Every usage line of ${p} (and of its commands' subcommands). */
static void
usage_lines(FILE *f, const struct cli_prog *p, const char **lead)
{
	char line[1024];
	size_t i;

	if (p->dflt != NULL && p->ncmds == 0) {
		usage_line(p, p->dflt, line, sizeof(line));
		fprintf(f, "%s%s\n", *lead, line);
		*lead = "       ";
	}
	for (i = 0; i < p->ncmds; i++) {
		if (p->cmds[i].sub != NULL) {
			usage_lines(f, p->cmds[i].sub, lead);
			continue;
		}
		usage_line(p, &p->cmds[i], line, sizeof(line));
		fprintf(f, "%s%s\n", *lead, line);
		*lead = "       ";
	}
}

/* The command list of ${p}: name and what it does. */
static void
command_list(FILE *f, const struct cli_prog *p, const char *prefix)
{
	char name[128];
	size_t i;

	for (i = 0; i < p->ncmds; i++) {
		snprintf(name, sizeof(name), "%s%s", prefix, p->cmds[i].name);
		if (p->cmds[i].sub != NULL) {
			snprintf(name, sizeof(name), "%s%s ", prefix,
			    p->cmds[i].name);
			command_list(f, p->cmds[i].sub, name);
			continue;
		}
		fprintf(f, "  %-20s %s\n", name, p->cmds[i].what);
	}
}

/* PROG --help: the whole synopsis, the commands, the notes. */
static int
help_all(const struct cli_prog *p)
{
	const char *lead = "usage: ";

	usage_lines(stdout, p, &lead);
	if (p->ncmds > 0) {
		printf("\ncommands:\n");
		command_list(stdout, p, "");
	} else if (p->dflt != NULL)
		printf("\n%s\n", p->dflt->what);
	if (p->notes != NULL)
		printf("\n%s\n", p->notes);
	printf("\n%s --help: this text; ", p->name);
	if (p->ncmds > 0)
		printf("%s help COMMAND or %s COMMAND --help: one command's "
		    "usage; ", p->name, p->name);
	printf("%s --version: the version\n", top->name);
	return (fflush(stdout) == 0 ? CLI_OK : CLI_FAIL);
}

static const struct cli_cmd *
find(const struct cli_prog *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->ncmds; i++)
		if (strcmp(p->cmds[i].name, name) == 0)
			return (&p->cmds[i]);
	return (NULL);
}

/* Make ${c} of ${p} the running command. */
static void
enter(const struct cli_prog *p, const struct cli_cmd *c)
{

	cur_prog = p;
	cur_cmd = c;
	snprintf(cur_name, sizeof(cur_name), "%s%s%s", p->name,
	    c != NULL && c->name[0] != '\0' ? " " : "",
	    c != NULL ? c->name : "");
}

/* A usage error of the program itself (no command running). */
static int
prog_error(const struct cli_prog *p, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s (%s --help lists %s)\n", p->name, why,
	    p->name, p->ncmds > 0 ? "the commands" : "the options");
	return (CLI_USAGE);
}

/* help [CMD [SUBCMD]]: ${argv} are the words after "help". */
static int
help_for(const struct cli_prog *p, int argc, char **argv)
{
	const struct cli_cmd *c;

	if (argc == 0)
		return (help_all(p));
	if ((c = find(p, argv[0])) == NULL)
		return (prog_error(p, "no such command '%s'", argv[0]));
	if (c->sub != NULL)
		return (help_for(c->sub, argc - 1, argv + 1));
	if (argc > 1)
		return (prog_error(p, "no such command '%s %s'", argv[0],
		    argv[1]));
	enter(p, c);
	return (cli_help());
}

void
cli_start(const struct cli_prog *p)
{

	opterr = 0;
	if (top == NULL)
		top = p;
	if (cur_prog == NULL)
		cur_prog = p;
}

int
cli_main(const struct cli_prog *p, int argc, char **argv)
{
	const struct cli_cmd *c;
	const char *w = argc > 1 ? argv[1] : NULL;

	cli_start(p);
	cur_prog = p;
	if (w != NULL && (strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0))
		return (help_for(p, argc - 2, argv + 2));
	if (w != NULL && strcmp(w, "--version") == 0)
		return (cli_version());
	if (w != NULL && p->ncmds > 0 && strcmp(w, "help") == 0)
		return (help_for(p, argc - 2, argv + 2));
	if (p->dflt != NULL && (w == NULL || w[0] == '-' || p->ncmds == 0)) {
		enter(p, p->dflt);
		/* Not named: errors name the program alone. */
		snprintf(cur_name, sizeof(cur_name), "%s", p->name);
		optind = 0;	/* GNU getopt starts afresh */
		return (p->dflt->fn(argc, argv));
	}
	if (w == NULL)
		return (prog_error(p, "a command is needed"));
	if ((c = find(p, w)) == NULL)
		return (prog_error(p, "unknown command '%s'", w));
	enter(p, c);
	optind = 0;
	return (c->fn(argc - 1, argv + 1));
}

int
cli_opt_error(int ch, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	char opt[3] = { '-', (char)optopt, '\0' };

	if (ch == CLI_OPT_HELP)
		return (cli_help());
	if (ch == CLI_OPT_VERSION)
		return (cli_version());
	/* A long option is named by its word; a short one by optopt. */
	if (strncmp(arg, "--", 2) != 0 && optopt > ' ' && optopt < 0x7f)
		arg = opt;
	if (ch == ':')
		return (cli_usage("option '%s' needs a value", arg));
	return (cli_usage("unknown option '%s'", arg));
}

int
cli_usage(const char *fmt, ...)
{
	char line[1024], why[512];
	va_list ap;

	why[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	if (cur_cmd == NULL)
		return (prog_error(cur_prog, "%s", why[0] != '\0' ? why :
		    "usage error"));
	usage_line(cur_prog, cur_cmd, line, sizeof(line));
	if (why[0] == '\0')
		fprintf(stderr, "usage: %s\n", line);
	else
		fprintf(stderr, "%s: %s; usage: %s\n", cur_name, why, line);
	return (CLI_USAGE);
}

int
cli_help(void)
{
	char line[1024];

	if (cur_cmd == NULL)
		return (help_all(cur_prog));
	usage_line(cur_prog, cur_cmd, line, sizeof(line));
	printf("usage: %s\n\n%s\n", line, cur_cmd->what);
	if (cur_prog->dflt == cur_cmd && cur_prog->notes != NULL)
		printf("\n%s\n", cur_prog->notes);
	return (fflush(stdout) == 0 ? CLI_OK : CLI_FAIL);
}

int
cli_version(void)
{

	printf("%s %s\n", top->name, FERRY_VERSION);
	return (fflush(stdout) == 0 ? CLI_OK : CLI_FAIL);
}

const char *
cli_longopt_name(const struct option *opts, int val)
{
	size_t i;

	for (i = 0; opts[i].name != NULL; i++)
		if (opts[i].val == val)
			return (opts[i].name);
	return ("?");
}

const char *
cli_name(void)
{

	return (cur_name[0] != '\0' ? cur_name : top != NULL ? top->name :
	    "ferry");
}
