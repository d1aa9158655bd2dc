/*
 * ferry_records.c: the `ferry` commands of records management: erase (a
 * message, a case, or everything before a date, with the reference of
 * the request) and export (a subject access export of a case: JSON and
 * printable HTML, written 0600, never over a file without --force).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "export_html.h"
#include "ferry.h"
#include "ferry_cli.h"
#include "referral.h"


/* erase MSGID | --case CASE | --before DATE [--ref REF] */
int
c_erase(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "case", required_argument, NULL, 'c' },
		{ "before", required_argument, NULL, 'b' },
		{ "ref", required_argument, NULL, 'r' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *cs = NULL, *before = NULL, *ref = NULL;
	json_t *req, *r, *v;
	json_int_t ms = 0;
	size_t i;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (ch == 'c')
			cs = optarg;
		else if (ch == 'b')
			before = optarg;
		else if (ch == 'r')
			ref = optarg;
		else
			return (cli_opt_error(ch, argv));
	}
	if ((rc = operands(argc, argv, 0, 1, "MSGID")) >= 0)
		return (rc);
	if ((optind < argc) + (cs != NULL) + (before != NULL) != 1)
		return (cli_usage("give exactly one of MSGID, --case CASE, "
		    "--before DATE"));
	if (optind < argc && (rc = msgid_operand(argv[optind])) >= 0)
		return (rc);
	if (before != NULL && parse_utc_arg(before, &ms) != 0)
		return (cli_usage("--before %s: not an ISO 8601 UTC date "
		    "(2026-01-31 or 2026-01-31T10:00:00Z)", before));
	if (before != NULL && ms <= 0)
		return (cli_usage("--before %s: give a date after "
		    "1970-01-01T00:00:00Z (nothing was queued before it)",
		    before));
	req = json_pack("{s:s}", "cmd", "erase");
	if (optind < argc)
		json_object_set_new(req, "msg_id", json_string(argv[optind]));
	if (cs != NULL)
		json_object_set_new(req, "case", json_string(cs));
	if (before != NULL)
		json_object_set_new(req, "before_ms", json_integer(ms));
	if (ref != NULL)
		json_object_set_new(req, "ref", json_string(ref));
	rc = call(req, NULL, 0, &r, NULL);
	json_decref(req);
	if (rc != 0)
		return (rc);
	json_array_foreach(json_object_get(r, "erased"), i, v)
		printf("erased %s\n", esc(json_string_value(v)));
	if (json_integer_value(json_object_get(r, "already_erased")) > 0)
		fprintf(stderr, "ferry: %lld matching message(s) were already "
		    "erased\n", (long long)json_integer_value(
		    json_object_get(r, "already_erased")));
	if (json_integer_value(json_object_get(r, "in_flight")) > 0)
		fprintf(stderr, "ferry: %lld matching sent message(s) are "
		    "still on their way and were not erased: run this again "
		    "once they are delivered or failed\n", (long long)
		    json_integer_value(json_object_get(r, "in_flight")));
	if (json_integer_value(json_object_get(r, "failed_files_erased")) > 0)
		printf("erased %lld refused file(s) in the spool's failed/ "
		    "(never sent)\n", (long long)json_integer_value(
		    json_object_get(r, "failed_files_erased")));
	if (json_integer_value(json_object_get(r, "failed_files_unread")) > 0)
		fprintf(stderr, "ferry: %lld file(s) in the spool's failed/ "
		    "are not JSON the agent could read for a case id: look "
		    "at them and remove any of this case by hand\n",
		    (long long)json_integer_value(json_object_get(r,
		    "failed_files_unread")));
	if (!is_ok(r))
		rc = print_fail(r);
	else if (optind == argc && json_array_size(json_object_get(r,
	    "erased")) == 0 && json_integer_value(json_object_get(r,
	    "already_erased")) == 0 && json_integer_value(json_object_get(r,
	    "failed_files_erased")) == 0) {
		/* A script must not take a mistyped case for an erasure. */
		fprintf(stderr, "ferry: no message to erase matched%s\n",
		    cs != NULL ? ": check the case reference (ferry thread "
		    "CASE lists a case's messages)" : "");
		rc = 1;
	}
	if (json_is_false(json_object_get(r, "compacted"))) {
		fprintf(stderr, "ferry: the erasure is committed, but %s\n",
		    str(r, "compact_error"));
		rc = 1;
	}
	json_decref(r);
	return (rc);
}

/* ${s} as a file name part: letters, digits, '.', '_', '-' kept, others '_'. */
static void
name_part(char *out, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < cap; i++)
		out[i] = (strchr("._-", s[i]) != NULL || (s[i] >= 'a' &&
		    s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9')) ? s[i] : '_';
	out[i] = '\0';
	if (out[0] == '.')
		out[0] = '_';
}

/*
 * Write ${len} bytes of ${buf} to ${path}, mode 0600, whole or not at
 * all: into a new temporary file beside it, synced, then linked to
 * ${path} (an existing file is an error) or, with ${force}, renamed over
 * it.  0, or 1 with the reason printed.
 */
static int
write_new(const char *dir, const char *path, const char *buf, size_t len,
    int force)
{
	char tmp[4200];
	size_t done = 0;
	ssize_t w;
	int fd, rc = 1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.ferry-export-XXXXXX",
	    dir) >= sizeof(tmp)) {
		fprintf(stderr, "ferry: %s: path too long\n", esc(dir));
		return (1);
	}
	if ((fd = mkstemp(tmp)) < 0) {
		fprintf(stderr, "ferry: cannot create a file in %s: %s\n",
		    esc(dir), strerror(errno));
		return (1);
	}
	while (done < len) {
		if ((w = write(fd, buf + done, len - done)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		done += (size_t)w;
	}
	if (done != len || fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
		fprintf(stderr, "ferry: writing %s: %s\n", esc(tmp),
		    strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);
	if (force ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
		if (errno == EEXIST)
			fprintf(stderr, "ferry: %s already exists: give --force "
			    "to overwrite it, or another --out folder\n",
			    esc(path));
		else
			fprintf(stderr, "ferry: cannot create %s: %s\n",
			    esc(path), strerror(errno));
		goto out;
	}
	rc = 0;
out:
	(void)unlink(tmp);
	return (rc);
}

/*
 * export --case CASE [--out DIR] [--force]: every message of a case, both
 * directions, with outcomes and documents, from the agent, as
 * DIR/ferry-export-AGENCY-CASE.json and .html (a subject access request).
 */
int
c_export(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "case", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *cs = NULL, *dir = ".";
	char base[4096], path[2][4200], ag[128], cn[128], *text[2] = { 0 };
	size_t tlen[2] = { 0 }, i, n = 0, nerased = 0;
	struct stat st;
	json_t *req, *r, *x, *m;
	FILE *f;
	int ch, rc, force = 0;

	while ((ch = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (ch == 'c')
			cs = optarg;
		else if (ch == 'o')
			dir = optarg;
		else if (ch == 'f')
			force = 1;
		else
			return (cli_opt_error(ch, argv));
	}
	if ((rc = operands(argc, argv, 0, 0, "")) >= 0)
		return (rc);
	if (cs == NULL || cs[0] == '\0')
		return (cli_usage("missing --case CASE"));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ferry: --out %s: %s: give an existing folder "
		    "(only the requester's case officer should read it)\n",
		    esc(dir), stat(dir, &st) != 0 ? strerror(errno) :
		    "not a folder");
		return (1);
	}
	req = json_pack("{s:s, s:s}", "cmd", "export", "case", cs);
	rc = call(req, NULL, 0, &r, NULL);
	json_decref(req);
	if (rc != 0)
		return (rc);
	if (!is_ok(r) || (x = json_object_get(r, "export")) == NULL) {
		rc = print_fail(r);
		json_decref(r);
		return (rc);
	}
	name_part(ag, sizeof(ag), raw(json_object_get(x, "agency"), "id"));
	name_part(cn, sizeof(cn), cs);
	snprintf(base, sizeof(base), "%s/ferry-export-%s-%s", dir, ag, cn);
	snprintf(path[0], sizeof(path[0]), "%s.json", base);
	snprintf(path[1], sizeof(path[1]), "%s.html", base);
	/* Neither written if either is there: no half an export. */
	for (i = 0; i < 2 && !force; i++)
		if (lstat(path[i], &st) == 0) {
			fprintf(stderr, "ferry: %s already exists: give --force "
			    "to overwrite it, or another --out folder\n",
			    esc(path[i]));
			json_decref(r);
			return (1);
		}
	rc = 1;
	if ((text[0] = json_dumps(x, JSON_INDENT(2))) != NULL &&
	    (tlen[0] = strlen(text[0])) > 0 &&
	    (f = open_memstream(&text[1], &tlen[1])) != NULL) {
		rc = export_html(f, x) != 0;
		rc |= fclose(f) != 0;
	}
	if (rc != 0)
		fprintf(stderr, "ferry: out of memory building the export\n");
	for (i = 0; i < 2 && rc == 0; i++)
		rc = write_new(dir, path[i], text[i], tlen[i], force);
	if (rc == 0) {
		json_array_foreach(json_object_get(x, "messages"), i, m) {
			n++;
			nerased += json_object_get(m, "erased") != NULL;
		}
		printf("%s\n%s\n", esc(path[0]), esc(path[1]));
		fprintf(stderr, "ferry: case %s: %zu message(s) exported, %zu "
		    "of them erased (record only); files readable by this "
		    "user only (0600)\n", esc(cs), n, nerased);
	}
	free(text[0]);
	free(text[1]);
	json_decref(r);
	return (rc);
}
