/*
 * ferry_inbox.c: the `ferry` commands that read the agency's messages:
 * inbox (with its filters), ack, outbox and thread.  Each is one request
 * to the agent's control socket (call), printed for people or as JSON.
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

/* A listed message whose content was erased: said at the end of its row. */
#define ERASED(m) (json_object_get((m), "erased") != NULL ? "  (erased)" : "")

static int
list(int argc, char **argv, const char *cmd)
{
	char t[32];
	json_t *req, *r, *m;
	size_t i;
	int js, rc, in = strcmp(cmd, "inbox") == 0;

	if ((rc = json_opt(argc, argv, &js, 0, 0, "")) >= 0)
		return (rc);
	req = json_pack("{s:s}", "cmd", cmd);
	rc = call(req, NULL, 0, &r, NULL);
	json_decref(req);
	if (rc != 0)
		return (rc);
	if (!is_ok(r)) {
		rc = print_fail(r);
	} else if (js) {
		rc = print_json(json_object_get(r, "messages"));
	} else {
		json_array_foreach(json_object_get(r, "messages"), i, m) {
			fmt_time(t, sizeof(t), json_object_get(m, in ?
			    "received_ms" : "queued_ms"));
			printf("%s  %-20s  %s  %-9s  %-8s  %s%s%s%s\n",
			    str(m, "msg_id"), str(m, in ? "from" : "to"), t,
			    str(m, "state"), str(m, "kind"), str(m, "case_id"),
			    json_object_get(m, "response") &&
			    str(m, "response")[0] != '-' ? " " : "",
			    json_object_get(m, "response") &&
			    str(m, "response")[0] != '-' ?
			    str(m, "response") : "", ERASED(m));
		}
	}
	json_decref(r);
	return (rc);
}

/* The inbox filters of ferry inbox, combined with AND. */
struct inbox_filter {
	const char *from, *kind, *urgency, *case_id;
	json_int_t since_ms;	/* 0: none */
	int unread;
};


/* Message ${m} passes every filter of ${f}. */
static int
inbox_match(json_t *m, const struct inbox_filter *f)
{

	if (f->from != NULL && strcmp(raw(m, "from"), f->from) != 0)
		return (0);
	if (f->kind != NULL && strcmp(raw(m, "referral_type"), f->kind) != 0 &&
	    strcmp(raw(m, "kind"), f->kind) != 0)
		return (0);
	if (f->urgency != NULL && strcmp(raw(m, "urgency"), f->urgency) != 0)
		return (0);
	if (f->case_id != NULL && strcmp(raw(m, "case_id"), f->case_id) != 0)
		return (0);
	if (f->since_ms != 0 && json_integer_value(json_object_get(m,
	    "received_ms")) < f->since_ms)
		return (0);
	if (f->unread && json_integer_value(json_object_get(m,
	    "acked_ms")) != 0)
		return (0);
	return (1);
}

/*
 * One inbox row: an emergency starts with "!!" and says EMERGENCY (no
 * colour: the marks survive a pipe, a log and a screen reader).
 */
static void
inbox_row(json_t *m)
{
	char t[32], kind[80];
	const char *u = raw(m, "urgency");
	int em = strcmp(u, "emergency") == 0;

	fmt_time(t, sizeof(t), json_object_get(m, "received_ms"));
	if (strcmp(raw(m, "kind"), "response") == 0)
		snprintf(kind, sizeof(kind), "response:%s", raw(m, "response"));
	else
		snprintf(kind, sizeof(kind), "%s", strcmp(raw(m,
		    "referral_type"), "-") != 0 ? raw(m, "referral_type") :
		    raw(m, "kind"));
	printf("%s %-20s  %-20s  %-18s  %-9s  %-20s  %s  %s\n",
	    em ? "!!" : "  ", t, str(m, "from"), esc(kind),
	    em ? "EMERGENCY" : esc(u), str(m, "case_id"), str(m, "msg_id"),
	    json_object_get(m, "erased") != NULL ? "erased" :
	    json_integer_value(json_object_get(m, "acked_ms")) != 0 ? "read" :
	    "unread");
}

int
c_inbox(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "from", required_argument, NULL, 'f' },
		{ "kind", required_argument, NULL, 'k' },
		{ "urgency", required_argument, NULL, 'u' },
		{ "since", required_argument, NULL, 's' },
		{ "case", required_argument, NULL, 'c' },
		{ "unread", no_argument, NULL, 'n' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct inbox_filter f;
	json_t *req, *r, *m, *sel;
	size_t i;
	int ch, js = 0, rc;

	memset(&f, 0, sizeof(f));
	while ((ch = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		switch (ch) {
		case 'j': js = 1; break;
		case 'f': f.from = optarg; break;
		case 'k': f.kind = optarg; break;
		case 'c': f.case_id = optarg; break;
		case 'n': f.unread = 1; break;
		case 'u':
			if (strcmp(optarg, "routine") != 0 &&
			    strcmp(optarg, "urgent") != 0 &&
			    strcmp(optarg, "emergency") != 0)
				return (cli_usage("--urgency '%s': give "
				    "routine, urgent or emergency", optarg));
			f.urgency = optarg;
			break;
		case 's':
			if (parse_utc_arg(optarg, &f.since_ms) != 0)
				return (cli_usage("--since '%s': give an ISO "
				    "8601 UTC date or time, e.g. 2026-03-01 or "
				    "2026-03-01T09:30:00Z", optarg));
			break;
		default:
			return (cli_opt_error(ch, argv));
		}
	}
	if ((rc = operands(argc, argv, 0, 0, "")) >= 0)
		return (rc);
	req = json_pack("{s:s}", "cmd", "inbox");
	rc = call(req, NULL, 0, &r, NULL);
	json_decref(req);
	if (rc != 0)
		return (rc);
	if (!is_ok(r)) {
		rc = print_fail(r);
		json_decref(r);
		return (rc);
	}
	sel = json_array();
	json_array_foreach(json_object_get(r, "messages"), i, m)
		if (inbox_match(m, &f))
			json_array_append(sel, m);
	if (js)
		rc = print_json(sel);
	else {
		printf("   %-20s  %-20s  %-18s  %-9s  %-20s  %-32s  %s\n",
		    "RECEIVED", "FROM", "KIND", "URGENCY", "CASE", "MSGID",
		    "STATUS");
		json_array_foreach(sel, i, m)
			inbox_row(m);
	}
	json_decref(sel);
	json_decref(r);
	return (rc);
}

/* ack MSGID: mark a received message read (ferry inbox --unread). */
int
c_ack(int argc, char **argv)
{
	json_t *req, *r;
	int rc;

	if ((rc = json_opt(argc, argv, NULL, 1, 1, "MSGID")) >= 0 ||
	    (rc = msgid_operand(argv[optind])) >= 0)
		return (rc);
	req = json_pack("{s:s, s:s}", "cmd", "ack", "msg_id", argv[optind]);
	rc = call(req, NULL, 0, &r, NULL);
	json_decref(req);
	if (rc != 0)
		return (rc);
	if (!is_ok(r))
		rc = print_fail(r);
	else
		printf("%s read\n", esc(argv[optind]));
	json_decref(r);
	return (rc);
}

int
c_outbox(int argc, char **argv)
{

	return (list(argc, argv, "outbox"));
}

static json_int_t
msg_time(json_t *m)
{
	json_t *t;

	if ((t = json_object_get(m, "queued_ms")) == NULL)
		t = json_object_get(m, "received_ms");
	return (json_integer_value(t));
}

static int
cmp_msg(const void *x, const void *y)
{
	json_int_t a = msg_time(*(json_t *const *)x);
	json_int_t b = msg_time(*(json_t *const *)y);

	return (a < b ? -1 : a > b);
}

/* thread CASE: every message in or out naming case CASE, oldest first. */
int
c_thread(int argc, char **argv)
{
	static const char *boxes[] = { "outbox", "inbox" };
	json_t *req, *r, *m, *all, **v;
	size_t i, k, n;
	char t[32];
	int js, rc;

	if ((rc = json_opt(argc, argv, &js, 1, 1, "CASE")) >= 0)
		return (rc);
	all = json_array();
	for (k = 0; k < 2; k++) {
		req = json_pack("{s:s}", "cmd", boxes[k]);
		rc = call(req, NULL, 0, &r, NULL);
		json_decref(req);
		if (rc != 0) {
			json_decref(all);
			return (rc);
		}
		if (!is_ok(r)) {
			rc = print_fail(r);
			json_decref(r);
			json_decref(all);
			return (rc);
		}
		json_array_foreach(json_object_get(r, "messages"), i, m)
			if (strcmp(raw(m, "case_id"), argv[optind]) == 0)
				json_array_append(all, m);
		json_decref(r);
	}
	n = json_array_size(all);
	if ((v = calloc(n + 1, sizeof(*v))) == NULL) {
		json_decref(all);
		return (1);
	}
	for (i = 0; i < n; i++)
		v[i] = json_array_get(all, i);
	qsort(v, n, sizeof(*v), cmp_msg);
	if (js) {
		json_t *out = json_array();

		for (i = 0; i < n; i++)
			json_array_append(out, v[i]);
		rc = print_json(out);
		json_decref(out);
	} else {
		for (i = 0; i < n; i++) {
			int in = strcmp(raw(v[i], "direction"), "in") == 0;

			fmt_ms(t, sizeof(t), msg_time(v[i]));
			printf("%s  %s %-20s  %s  %-9s  %s%s%s%s\n", t,
			    in ? "from" : "to  ", str(v[i], in ? "from" : "to"),
			    str(v[i], "msg_id"), str(v[i], "state"),
			    str(v[i], "kind"),
			    str(v[i], "response")[0] != '-' ? " " : "",
			    str(v[i], "response")[0] != '-' ?
			    str(v[i], "response") : "", ERASED(v[i]));
		}
		if (n == 0) {
			fprintf(stderr, "ferry: no message names case %s\n",
			    argv[optind]);
			rc = 1;
		}
	}
	free(v);
	json_decref(all);
	return (rc);
}
