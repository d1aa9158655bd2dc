/*
 * ferry: the operator's command line for a running ferry-agent
 * (docs/agent.md, "The ferry command").  It talks to the agent over the
 * owner-only control socket ipc://<data>/control; it never reads keys.
 *
 *   ferry [--data DIR] send --to AGENCY FILE.json
 *   ferry [--data DIR] reply MSGID --accept | --decline REASON |
 *         --need-info TEXT | --provide-info TEXT | --close
 *         [--narrative TEXT] [--name NAME] [--organisation ORG]
 *         (each TEXT, REASON, NAME, ORG may be - for stdin or @FILE)
 *   ferry [--data DIR] inbox [--json] [--from AGENCY] [--kind KIND]
 *         [--urgency U] [--since TIME] [--case CASE] [--unread]
 *   ferry [--data DIR] ack MSGID
 *   ferry [--data DIR] outbox [--json]
 *   ferry [--data DIR] show MSGID
 *   ferry [--data DIR] thread [--json] CASE
 *   ferry [--data DIR] status [--json] [MSGID]
 *   ferry [--data DIR] partners [--json]
 *   ferry [--data DIR] erase MSGID | --case CASE | --before DATE [--ref REF]
 *   ferry [--data DIR] export --case CASE [--out DIR] [--force]
 *
 * The data folder defaults to $FERRY_DATA; $FERRY_TIMEOUT (a duration
 * with its unit, e.g. 30s; default 60s) bounds the wait for the agent's
 * answer.  Exit status: 0 success, 1 failure (refused document, agent
 * not running, message failed...), 2 usage, 3 send or reply refused by back-pressure (FERRY_EBACKLOG).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <zmq.h>

#include "alog.h"
#include "cli.h"
#include "export_html.h"
#include "ferry.h"
#include "ferry_cli.h"
#include "referral.h"

#define CLI_TIMEOUT_MS 60000

static const char *data_dir;

/* The request being sent stores a message (send, reply): see call(). */
static int call_stores;
/* <data>/cli-pending/<hash>: the request id of that request (set_request_id). */
static char pending_path[4200];

/*
 * The control socket ${path} is there, but this user may not use it (the
 * data folder is the agent's alone, mode 0700): say so and whom to run
 * as, rather than "not running".  Returns 1.
 */
static int
no_access(const char *path)
{
	char who[64];

	if (ferry_owner(data_dir, who, sizeof(who)) == 0)
		fprintf(stderr, "ferry: permission denied on %s: run as the "
		    "agent's user (%s): e.g. runuser -u %s -- ferry ...\n",
		    path, who, who);
	else
		fprintf(stderr, "ferry: permission denied on %s: run as the "
		    "agent's user (the owner of %s)\n", path, data_dir);
	return (1);
}

/*
 * A stale socket file refuses connections: tell "not running" at once
 * (-1); a socket this user may not connect to: -2.
 */
static int
probe(const char *path)
{
	struct sockaddr_un sun;
	int fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return (0);	/* let libzmq report it */
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return (0);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc != 0 && (errno == EACCES || errno == EPERM))
		return (-2);
	return (rc != 0 && (errno == ECONNREFUSED || errno == ENOENT) ? -1 :
	    0);
}

/*
 * Send one request (and optional document) to the agent; on success
 * *${reply} is the parsed JSON answer and *${body} (may be NULL) the
 * second frame, NUL-terminated.  Prints its own errors; returns 0, 1, or
 * 2 (no data folder given: a usage error).
 */
int
call(json_t *req, const void *doc, size_t doclen, json_t **reply,
    char **body)
{
	char path[4096], ep[4200], *rs = NULL;
	struct stat st;
	void *ctx = NULL, *s = NULL;
	zmq_msg_t m;
	json_error_t jerr;
	int t = CLI_TIMEOUT_MS, zero = 0, rc = 1, more, pr;
	const char *again = ": start ferry-agent, then run the same command "
	    "again: if an earlier run reached the agent, it will not be sent "
	    "twice";
	const char *ts;
	uint64_t ms;

	*reply = NULL;
	if (body != NULL)
		*body = NULL;
	if ((ts = getenv("FERRY_TIMEOUT")) != NULL) {
		/* The one duration rule: a unit is required. */
		if ((pr = ferry_parse_duration(ts, &ms)) != 0 || ms == 0 ||
		    ms > 86400000)
			return (cli_usage("FERRY_TIMEOUT=%s: %s; give a "
			    "duration from 1ms to 24h with its unit, e.g. "
			    "FERRY_TIMEOUT=30s", ts, pr == FERRY_ENOUNIT ?
			    "a unit is required (ms, s, m, h)" : pr != 0 ?
			    "not a duration" : "out of range"));
		t = (int)ms;
	}
	if (data_dir == NULL || data_dir[0] == '\0')
		return (cli_usage("no data folder: give --data DIR or set "
		    "FERRY_DATA to the agent's data folder"));
	if ((size_t)snprintf(path, sizeof(path), "%s/control", data_dir) >=
	    sizeof(path)) {
		fprintf(stderr, "ferry: %s/control: path too long\n",
		    data_dir);
		return (1);
	}
	if (stat(path, &st) != 0 && (errno == EACCES || errno == EPERM))
		return (no_access(path));
	if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "ferry: the agent is not running (no control "
		    "socket at %s)%s\n", path, call_stores ? again : "");
		return (1);
	}
	if ((pr = probe(path)) == -2)
		return (no_access(path));
	if (pr != 0) {
		fprintf(stderr, "ferry: the agent is not running (nothing "
		    "listens on %s)%s\n", path, call_stores ? again : "");
		return (1);
	}
	snprintf(ep, sizeof(ep), "ipc://%s", path);
	if ((rs = json_dumps(req, JSON_COMPACT)) == NULL)
		return (1);
	if ((ctx = zmq_ctx_new()) == NULL ||
	    (s = zmq_socket(ctx, ZMQ_REQ)) == NULL ||
	    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(s, ZMQ_RCVTIMEO, &t, sizeof(t)) != 0 ||
	    zmq_setsockopt(s, ZMQ_SNDTIMEO, &t, sizeof(t)) != 0 ||
	    zmq_connect(s, ep) != 0) {
		fprintf(stderr, "ferry: %s: %s\n", ep,
		    zmq_strerror(zmq_errno()));
		goto done;
	}
	if (zmq_send(s, rs, strlen(rs), doc != NULL ? ZMQ_SNDMORE : 0) < 0 ||
	    (doc != NULL && zmq_send(s, doc, doclen, 0) < 0)) {
		fprintf(stderr, "ferry: cannot reach the agent at %s: %s\n",
		    ep, zmq_strerror(zmq_errno()));
		goto done;
	}
	zmq_msg_init(&m);
	while (zmq_msg_recv(&m, s, 0) < 0) {
		if (zmq_errno() == EINTR)
			continue;
		if (call_stores)
			/* The agent has the request: it may have stored it. */
			fprintf(stderr, "ferry: no answer from the agent at %s "
			    "(%s after %ds): the agent may have accepted it; "
			    "run the same command again: it will not be sent "
			    "twice (it prints the message id if it was "
			    "stored)\n", ep, zmq_errno() == EAGAIN ?
			    "timed out" : zmq_strerror(zmq_errno()), t / 1000);
		else
			fprintf(stderr, "ferry: no answer from the agent at %s "
			    "(%s): is ferry-agent running?\n", ep,
			    zmq_errno() == EAGAIN ? "timed out" :
			    zmq_strerror(zmq_errno()));
		zmq_msg_close(&m);
		goto done;
	}
	*reply = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &jerr);
	more = zmq_msg_more(&m);
	zmq_msg_close(&m);
	if (*reply == NULL) {
		fprintf(stderr, "ferry: the agent's answer is not JSON\n");
		goto done;
	}
	if (more) {
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, 0) >= 0 && body != NULL &&
		    (*body = malloc(zmq_msg_size(&m) + 1)) != NULL) {
			memcpy(*body, zmq_msg_data(&m), zmq_msg_size(&m));
			(*body)[zmq_msg_size(&m)] = '\0';
		}
		zmq_msg_close(&m);
	}
	rc = 0;
done:
	free(rs);
	if (s != NULL)
		zmq_close(s);
	if (ctx != NULL)
		zmq_ctx_term(ctx);
	return (rc);
}


/*
 * Give ${req} (a send or reply) a "request_id" the agent stores with the
 * message, answering a request id it already holds with that message's
 * id instead of sending the referral twice.  A fresh random one, unless
 * an earlier run of the very same command (same request, same document:
 * SHA-256 of a domain tag, both) got no answer: its id is kept in
 * <data>/cli-pending/<that hash> until an answer comes (request_done), so
 * running the same command again after a timeout carries the same id
 * and is not sent twice, while sending the same document again after a
 * definite answer is a new message.  0 or 1 (out of memory).
 */
static int
set_request_id(json_t *req, const void *doc, size_t doclen)
{
	static const char tag[] = "ferry-cli-request/v1";
	crypto_hash_sha256_state st;
	uint8_t h[32], rid[32], *buf = NULL;
	char hx[65], ridx[65], dir[4150], *rs;
	size_t len;

	if ((rs = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return (1);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)tag, sizeof(tag));
	crypto_hash_sha256_update(&st, (const uint8_t *)rs, strlen(rs) + 1);
	if (doc != NULL)
		crypto_hash_sha256_update(&st, doc, doclen);
	crypto_hash_sha256_final(&st, h);
	free(rs);
	ferry_hex(hx, h, 32);
	pending_path[0] = '\0';
	if (data_dir != NULL && data_dir[0] != '\0' &&
	    (size_t)snprintf(dir, sizeof(dir), "%s/cli-pending", data_dir) <
	    sizeof(dir) && (mkdir(dir, 0700) == 0 || errno == EEXIST) &&
	    (size_t)snprintf(pending_path, sizeof(pending_path), "%s/%s", dir,
	    hx) >= sizeof(pending_path))
		pending_path[0] = '\0';
	/* A request of ours whose outcome is unknown: the same id again. */
	if (pending_path[0] != '\0' &&
	    ferry_read_file(pending_path, 64, &buf, &len, 0) == 0 &&
	    len == 64) {
		memcpy(ridx, buf, 64);
		ridx[64] = '\0';
		if (ferry_unhex(rid, 32, ridx) != 0)
			buf[0] = '\0';
	}
	if (buf == NULL || buf[0] == '\0' || len != 64) {
		randombytes_buf(rid, sizeof(rid));
		ferry_hex(ridx, rid, 32);
		if (pending_path[0] != '\0' &&
		    ferry_write_file(pending_path, ridx, 64, 0600) != 0)
			pending_path[0] = '\0';
	}
	free(buf);
	if (json_object_set_new(req, "request_id", json_string(ridx)) != 0)
		return (1);
	call_stores = 1;
	return (0);
}

/*
 * After call(): only an answer from the agent (${answered}: call()
 * returned 0) settles the request, so only then is its id forgotten.
 * A call that failed before the agent answered, even one that never
 * left ("the agent is not running"), keeps it: an earlier run of the
 * same command may have been stored by the agent before a kill -9, and
 * the next run must carry the same id to be answered with that message
 * rather than send the document a second time (issue 13, hole 2).
 */
static void
request_done(int answered)
{

	if (pending_path[0] != '\0' && answered)
		(void)unlink(pending_path);
}

/*
 * Print the agent's error reply; returns the exit status: 3 for a send
 * or reply refused by back-pressure (FERRY_EBACKLOG: nothing stored, to
 * be retried later), else 1.
 */
int
print_fail(json_t *r)
{
	const char *code = json_string_value(json_object_get(r, "code"));
	const char *err = json_string_value(json_object_get(r, "error"));

	fprintf(stderr, "ferry: %s%s%s\n", err ? esc(err) : "failed",
	    code ? " " : "", code ? esc(code) : "");
	return (code != NULL && strcmp(code, "FERRY_EBACKLOG") == 0 ? 3 : 1);
}

int
is_ok(json_t *r)
{

	return (json_is_true(json_object_get(r, "ok")));
}


void
fmt_time(char *out, size_t cap, json_t *v)
{

	fmt_ms(out, cap, json_integer_value(v));
}

void
fmt_ms(char *out, size_t cap, json_int_t ms)
{

	ferry_utc_s(out, cap, ms <= 0 ? 0 : (uint64_t)ms);
}

/* ${s} seconds for people: "12 s", "4 min", "3 h", "5 days" (rounded down). */
static void
fmt_dur(char *out, size_t cap, json_int_t s)
{

	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, cap, "%lld s", (long long)s);
	else if (s < 2 * 3600)
		snprintf(out, cap, "%lld min", (long long)(s / 60));
	else if (s < 2 * 86400)
		snprintf(out, cap, "%lld h", (long long)(s / 3600));
	else
		snprintf(out, cap, "%lld days", (long long)(s / 86400));
}

/* The integer ${k} of ${o}, 0 if absent. */
static json_int_t
num(json_t *o, const char *k)
{

	return (json_integer_value(json_object_get(o, k)));
}

/* The string ${k} of ${o} as sent, for decisions: "-" if absent or empty. */
const char *
raw(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return (s != NULL && s[0] != '\0' ? s : "-");
}

#define ESC_SLOTS 16
#define ESC_MAX 4200	/* a NACK reason (1024 bytes) escaped entirely */

/*
 * ${s} made safe to print for a person: much of what is printed was
 * chosen by another agency or the relay (a NACK reason, a referral's
 * kind, case id and response, a partner's name), so C0 controls, DEL and
 * C1 controls (U+0080..U+009F, whose CSI drives a terminal) are shown as
 * \xNN and \u00NN: nothing received can clear the screen, move the cursor
 * or forge a line.  Longer results are cut with "...".  The result lives
 * in one of ESC_SLOTS static buffers: valid until ESC_SLOTS more calls.
 * Not for --json, which prints the agent's JSON as it is.
 */
const char *
esc(const char *s)
{
	static char slot[ESC_SLOTS][ESC_MAX];
	static unsigned int next;

	return (alog_esc(slot[next++ % ESC_SLOTS], ESC_MAX, s, 0));
}

/* The string ${k} of ${o} to print (esc): "-" if absent or empty. */
const char *
str(json_t *o, const char *k)
{

	return (esc(raw(o, k)));
}

int
print_json(json_t *r)
{
	char *s;

	if ((s = json_dumps(r, JSON_INDENT(2))) == NULL)
		return (1);
	printf("%s\n", s);
	free(s);
	return (0);
}

/* A document over the schema's limit, said as the agent would say it. */
static int
too_big(const char *what)
{

	fprintf(stderr, "ferry: %s: json: larger than %u bytes %s (the "
	    "limit of a referral document: referral-schema.md section 1)\n",
	    what, REFERRAL_JSON_MAX, ferry_errname(FERRY_EJSON));
	return (1);
}

static int
read_doc(const char *path, uint8_t **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	uint8_t *b, *nb;
	size_t r;
	int rc;

	if (strcmp(path, "-") != 0) {
		if ((rc = ferry_read_file(path, REFERRAL_JSON_MAX, buf, len,
		    0)) != 0) {
			if (rc == FERRY_ETOOBIG)
				return (too_big(path));
			if (rc == FERRY_EACCES)
				fprintf(stderr, "ferry: %s: this user may not "
				    "read it (ferry runs as the agent's user): "
				    "give the document on standard input "
				    "instead, read by your shell: ferry ... - < "
				    "%s\n", path, path);
			else
				fprintf(stderr, "ferry: %s: %s\n", path,
				    rc == FERRY_ENOENT ? "no such file" :
				    ferry_strerror(rc));
			return (1);
		}
		return (0);
	}
	if ((b = malloc(cap)) == NULL)
		return (1);
	while ((r = fread(b + n, 1, cap - n, stdin)) > 0) {
		n += r;
		if (n > REFERRAL_JSON_MAX) {
			free(b);
			return (too_big("stdin"));
		}
		if (n == cap) {
			cap *= 2;
			if ((nb = realloc(b, cap)) == NULL) {
				free(b);
				return (1);
			}
			b = nb;
		}
	}
	if (ferror(stdin)) {
		/* A short read is not the whole document. */
		fprintf(stderr, "ferry: stdin: cannot read: %s\n",
		    strerror(errno));
		free(b);
		return (1);
	}
	*buf = b;
	*len = n;
	return (0);
}

int
parse_utc_arg(const char *s, json_int_t *ms)
{
	uint64_t v;

	if (ferry_parse_utc(s, &v) != 0 || v > (uint64_t)INT64_MAX)
		return (-1);
	*ms = (json_int_t)v;
	return (0);
}

/* ---- subcommands ------------------------------------------------------- */

/*
 * The operands after the options: ${lo} to ${hi} of them, the first
 * named ${what} in the error.  -1 to go on, else the exit status.
 */
int
operands(int argc, char **argv, int lo, int hi, const char *what)
{

	if (argc - optind < lo)
		return (cli_usage("missing %s", what));
	if (argc - optind > hi)
		return (cli_usage("unexpected argument '%s'", argv[optind +
		    hi]));
	return (-1);
}

/*
 * msgid_operand(s): -1 when ${s} is a message id (32 hex digits, as send,
 * reply and inbox print), else the usage error's exit status.
 */
int
msgid_operand(const char *s)
{
	size_t n = strspn(s, "0123456789abcdefABCDEF");

	if (n == 2 * FERRY_MSGID_LEN && s[n] == '\0')
		return (-1);
	return (cli_usage("'%s' is not a message id: give the 32 hex digits "
	    "that send, reply and inbox print", esc(s)));
}

/*
 * The options of a command that takes only [--json] (*${js}; NULL: not
 * even that), then operands (see operands()).  -1 to go on, else the
 * exit status (help, version, a usage error).
 */
int
json_opt(int argc, char **argv, int *js, int lo, int hi, const char *what)
{
	static const struct option opts[] = {
		CLI_LONGOPTS,
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const struct option none[] = {
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	if (js != NULL)
		*js = 0;
	while ((ch = getopt_long(argc, argv, ":", js != NULL ? opts : none,
	    NULL)) != -1) {
		if (ch != 'j')
			return (cli_opt_error(ch, argv));
		*js = 1;
	}
	return (operands(argc, argv, lo, hi, what));
}

static int
c_send(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "to", required_argument, NULL, 't' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *to = NULL;
	uint8_t *doc;
	size_t len;
	json_t *req, *r;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, ":t:", lo, NULL)) != -1) {
		if (ch == 't')
			to = optarg;
		else
			return (cli_opt_error(ch, argv));
	}
	if (to == NULL)
		return (cli_usage("missing --to AGENCY"));
	if ((rc = operands(argc, argv, 1, 1, "FILE.json")) >= 0)
		return (rc);
	if (read_doc(argv[optind], &doc, &len) != 0)
		return (1);
	req = json_pack("{s:s, s:s}", "cmd", "send", "to", to);
	if (req == NULL || set_request_id(req, doc, len) != 0) {
		json_decref(req);
		free(doc);
		return (1);
	}
	rc = call(req, doc, len, &r, NULL);
	request_done(rc == 0);
	json_decref(req);
	free(doc);
	if (rc != 0)
		return (rc);
	if (!is_ok(r))
		rc = print_fail(r);
	else
		printf("%s\n", str(r, "msg_id"));
	json_decref(r);
	return (rc);
}

/*
 * text_arg(opt, arg, stdin_used, out): the TEXT of reply's option --${opt}
 * as a JSON string in *${out}: "-" reads it from stdin (once per command),
 * "@FILE" from FILE, anything else is the text itself.  One final line
 * break of a file or stdin is not part of the text.  Text about a person
 * belongs in a file or stdin: argv is readable by every local user (ps).
 * -1 to go on, else the exit status.
 */
static int
text_arg(const char *opt, const char *arg, int *stdin_used, json_t **out)
{
	uint8_t *b = NULL;
	size_t n;

	*out = NULL;
	if (strcmp(arg, "-") == 0 || arg[0] == '@') {
		if (arg[0] == '-' && (*stdin_used)++ > 0)
			return (cli_usage("--%s -: stdin is already read for "
			    "another option; give one of them as @FILE", opt));
		if (arg[0] == '@' && arg[1] == '\0')
			return (cli_usage("--%s @: a file name must follow "
			    "the @", opt));
		if (read_doc(arg[0] == '@' ? arg + 1 : arg, &b, &n) != 0)
			return (1);
		if (n > 0 && b[n - 1] == '\n')
			n--;
		if (n > 0 && b[n - 1] == '\r')
			n--;
		/* jansson keeps a NUL; the agent refuses the request. */
		*out = memchr(b, 0, n) != NULL ? NULL :
		    json_stringn((const char *)b, n);
		free(b);
	} else
		*out = json_string(arg);
	if (*out == NULL) {
		fprintf(stderr, "ferry: --%s: the text is not UTF-8 (or holds "
		    "a NUL byte): save it as UTF-8 and give it again "
		    "FERRY_EINVAL\n", opt);
		return (1);
	}
	return (-1);
}

/*
 * reply_texts(req, opt, val): the reply's reason, narrative, name and
 * organisation (${val}, NULL when not given; given as --${opt}) into
 * ${req}, each read by text_arg().  -1 to go on, else the exit status.
 */
static int
reply_texts(json_t *req, const char *opt[4], const char *val[4])
{
	static const char *const key[] = { "reason", "narrative", "name",
	    "organisation" };
	json_t *t;
	int used = 0, rc;
	size_t k;

	for (k = 0; k < 4; k++) {
		if (val[k] == NULL)
			continue;
		if ((rc = text_arg(opt[k], val[k], &used, &t)) >= 0)
			return (rc);
		if (json_object_set_new(req, key[k], t) != 0)
			return (1);
	}
	return (-1);
}

static int
c_reply(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "accept", no_argument, NULL, 'a' },
		{ "decline", required_argument, NULL, 'd' },
		{ "need-info", required_argument, NULL, 'i' },
		{ "provide-info", required_argument, NULL, 'p' },
		{ "close", no_argument, NULL, 'c' },
		{ "narrative", required_argument, NULL, 'n' },
		{ "name", required_argument, NULL, 'N' },
		{ "organisation", required_argument, NULL, 'O' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *resp = NULL, *reason = NULL, *narr = NULL, *name = NULL;
	const char *org = NULL, *info = NULL, *reason_opt = "decline";
	const char *opt[4], *val[4];
	json_t *req, *r;
	int ch, rc, nresp = 0;

	while ((ch = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		switch (ch) {
		case 'a': resp = "accepted"; nresp++; break;
		case 'd': resp = "declined"; reason = optarg; nresp++; break;
		case 'i': resp = "more-information-needed"; reason = optarg;
			reason_opt = "need-info"; nresp++; break;
		case 'p': resp = "information-provided"; info = optarg;
			nresp++; break;
		case 'c': resp = "closed"; nresp++; break;
		case 'n': narr = optarg; break;
		case 'N': name = optarg; break;
		case 'O': org = optarg; break;
		default: return (cli_opt_error(ch, argv));
		}
	}
	if (nresp != 1)
		return (cli_usage("give one of --accept, --decline, "
		    "--need-info, --provide-info, --close"));
	/* The information provided is the response's narrative. */
	if (info != NULL && narr != NULL)
		return (cli_usage("--provide-info TEXT is the response's "
		    "narrative: leave out --narrative"));
	if ((rc = operands(argc, argv, 1, 1, "MSGID")) >= 0 ||
	    (rc = msgid_operand(argv[optind])) >= 0)
		return (rc);
	if (info != NULL)
		narr = info;
	req = json_pack("{s:s, s:s, s:s}", "cmd", "reply", "msg_id",
	    argv[optind], "response", resp);
	if (req == NULL)
		return (1);
	opt[0] = reason_opt;
	opt[1] = info != NULL ? "provide-info" : "narrative";
	opt[2] = "name";
	opt[3] = "organisation";
	val[0] = reason;
	val[1] = narr;
	val[2] = name;
	val[3] = org;
	if ((rc = reply_texts(req, opt, val)) >= 0) {
		json_decref(req);
		return (rc);
	}
	if (set_request_id(req, NULL, 0) != 0) {
		json_decref(req);
		return (1);
	}
	rc = call(req, NULL, 0, &r, NULL);
	request_done(rc == 0);
	json_decref(req);
	if (rc != 0)
		return (rc);
	if (!is_ok(r))
		rc = print_fail(r);
	else
		printf("%s\n", str(r, "msg_id"));
	json_decref(r);
	return (rc);
}

/*
 * Print the JSON text ${s} with DEL, C1 and C0 controls other than tab and
 * newline as \u00NN escapes.  In valid JSON these appear raw only inside
 * strings (DEL, C1) or not at all (C0), and the escape stands for the
 * same character there: the document printed is the same JSON value, and
 * a referral's text cannot drive the terminal it is shown on.
 */
static void
put_json_text(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	for (; *p != '\0'; p++) {
		if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
			printf("\\u%04x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			printf("\\u%04x", p[1]);
			p++;
		} else
			putchar(*p);
	}
}

/* "erased 2026-12-04T10:11:12Z by request (ref X)" for erasure ${e}, on ${f}. */
static void
print_erased(FILE *f, json_t *e)
{
	char t[32];

	fmt_time(t, sizeof(t), json_object_get(e, "erased_ms"));
	fprintf(f, "erased %s by %s", t, str(e, "by"));
	if (strcmp(raw(e, "by"), "request") == 0 &&
	    strcmp(raw(e, "ref"), "-") != 0)
		fprintf(f, " (ref %s)", str(e, "ref"));
	if (strcmp(raw(e, "by"), "retention") == 0)
		fprintf(f, " (%s)", str(e, "rule"));
	fprintf(f, "\n");
}

static int
c_show(int argc, char **argv)
{
	json_t *req, *r;
	char *body;
	int rc;

	if ((rc = json_opt(argc, argv, NULL, 1, 1, "MSGID")) >= 0 ||
	    (rc = msgid_operand(argv[optind])) >= 0)
		return (rc);
	req = json_pack("{s:s, s:s}", "cmd", "show", "msg_id", argv[optind]);
	rc = call(req, NULL, 0, &r, &body);
	json_decref(req);
	if (rc != 0)
		return (rc);
	if (is_ok(r) && json_object_get(r, "erased") != NULL) {
		/* Its content is gone; what is left is its record. */
		fprintf(stderr, "ferry: message %s: ", esc(argv[optind]));
		print_erased(stderr, json_object_get(r, "erased"));
		fprintf(stderr, "ferry: its content was destroyed; `ferry "
		    "status %s` shows its record\n", esc(argv[optind]));
		rc = 1;
	} else if (!is_ok(r) || body == NULL)
		rc = print_fail(r);
	else {
		/* Who sent it is what the signature proves; the document's
		 * own organisation is only what the sender typed. */
		if (json_object_get(r, "from") != NULL)
			fprintf(stderr, "ferry: from agency %s (%s), "
			    "authenticated by its signature\n",
			    str(r, "from"), str(r, "from_name"));
		if (json_is_false(json_object_get(r, "organisation_matches")))
			fprintf(stderr, "ferry: WARNING: the document names "
			    "organisation \"%s\", but agency %s sent and "
			    "signed it: trust the agency, and check with it "
			    "before acting on the organisation named\n",
			    str(r, "organisation"), str(r, "from"));
		put_json_text(body);
	}
	free(body);
	json_decref(r);
	return (rc);
}

static void
print_message(json_t *m)
{
	char t[32];
	const char *state = raw(m, "state");
	int late;

	if (strcmp(raw(m, "direction"), "in") == 0) {
		fmt_time(t, sizeof(t), json_object_get(m, "received_ms"));
		printf("message %s: received from %s at %s (our log index "
		    "%lld)\n", str(m, "msg_id"), str(m, "from"), t,
		    (long long)json_integer_value(json_object_get(m,
		    "log_index")));
		if (json_object_get(m, "erased") != NULL) {
			printf("  ");
			print_erased(stdout, json_object_get(m, "erased"));
		}
		return;
	}
	/* Delivered after it was reported failed (a verified receipt came
	 * after a NACK or expiry): the failure is still said, as people
	 * may have acted on it. */
	late = strcmp(state, "delivered") == 0 && num(m, "failed_ms") > 0;
	printf("message %s to %s: %s", str(m, "msg_id"), str(m, "to"),
	    esc(state));
	if (strcmp(state, "delivered") == 0)
		printf(" (receipt verified)");
	if (late)
		printf(", after it was reported failed");
	if (strcmp(state, "failed") == 0)
		printf(": %s: %s", str(m, "code"), str(m, "reason"));
	printf("\n");
	fmt_time(t, sizeof(t), json_object_get(m, "queued_ms"));
	printf("  queued     %s\n", t);
	fmt_time(t, sizeof(t), json_object_get(m, "accepted_ms"));
	printf("  accepted   %s", t);
	if (json_object_get(m, "relay") != NULL)
		printf("  relay: %s", str(m, "relay"));
	if (json_object_get(m, "relay_log_index") != NULL)
		printf("  (relay log index %lld)", (long long)
		    json_integer_value(json_object_get(m, "relay_log_index")));
	printf("\n");
	if (late) {
		fmt_time(t, sizeof(t), json_object_get(m, "failed_ms"));
		printf("  failed     %s  %s: %s (reported failed then, "
		    "delivered since: the recipient's receipt is verified)\n",
		    t, str(m, "code"), str(m, "reason"));
	}
	fmt_time(t, sizeof(t), json_object_get(m, "delivered_ms"));
	printf("  delivered  %s", t);
	if (json_object_get(m, "recipient_log_index") != NULL)
		printf("  (recipient log index %lld)", (long long)
		    json_integer_value(json_object_get(m,
		    "recipient_log_index")));
	printf("\n");
	if (strcmp(state, "failed") == 0) {
		fmt_time(t, sizeof(t), json_object_get(m, "failed_ms"));
		printf("  failed     %s\n", t);
	}
	if (json_object_get(m, "erased") != NULL) {
		printf("  ");
		print_erased(stdout, json_object_get(m, "erased"));
	}
}

/*
 * Why the agent is not connected: since when, the last connection error
 * the agent saw and what to check (status "link").
 */
static void
print_link(json_t *l, const char *relay)
{
	char t[32], d[32], e[32];

	if (l == NULL || json_is_true(json_object_get(l, "connected")))
		return;
	fmt_time(t, sizeof(t), json_object_get(l, "since_ms"));
	fmt_dur(d, sizeof(d), num(l, "for_s"));
	printf("relay: NOT connected since %s (%s); ", t, d);
	if (raw(l, "last_error")[0] == '-') {
		printf("no error reported yet: still trying %s; if this "
		    "lasts, check relay= in the agent's configuration and "
		    "that ferry-relay is running there\n", relay);
		return;
	}
	fmt_time(e, sizeof(e), json_object_get(l, "last_error_ms"));
	printf("last error (%s): %s - check %s\n", e, str(l, "last_error"),
	    str(l, "check"));
}

/*
 * One line per relay of the roster (status "relays"): its state and
 * since when, last round trip, messages in its custody, and its last
 * error with what to check.  Shown only when the roster lists several.
 */
static void
print_relays(json_t *rs)
{
	json_t *o;
	char rtt[32];
	size_t i;

	if (!json_is_array(rs) || json_array_size(rs) < 2)
		return;
	json_array_foreach(rs, i, o) {
		if (json_is_integer(json_object_get(o, "rtt_ms")))
			snprintf(rtt, sizeof(rtt), "%lld ms", (long long)
			    json_integer_value(json_object_get(o, "rtt_ms")));
		else
			snprintf(rtt, sizeof(rtt), "not measured yet");
		printf("  relay %s (%s): %s since %s, last round trip %s, "
		    "%lld in its custody", str(o, "id"), str(o, "endpoint"),
		    str(o, "state"), str(o, "since"), rtt, (long long)
		    json_integer_value(json_object_get(o, "custody")));
		if (raw(o, "last_error")[0] != '-' &&
		    strcmp(str(o, "state"), "connected") != 0)
			printf("; last error: %s - check %s",
			    str(o, "last_error"), str(o, "check"));
		printf("\n");
	}
}

/* When the roster and our encryption key expire; a warning within 30 days. */
static void
print_expiry(json_t *g)
{
	char rt[32], kt[32], rd[32], kd[32];
	json_int_t rs = num(g, "roster_expires_in_s");
	json_int_t ks = num(g, "key_expires_in_s");

	fmt_time(rt, sizeof(rt), json_object_get(g, "roster_expires_ms"));
	fmt_time(kt, sizeof(kt), json_object_get(g, "key_expires_ms"));
	fmt_dur(rd, sizeof(rd), rs);
	fmt_dur(kd, sizeof(kd), ks);
	printf("expiry: roster version %lld %s %s (%s%s), our encryption key "
	    "%s %s (%s%s)\n", (long long)num(g, "roster_version"),
	    rs > 0 ? "expires" : "expired", rt, rs > 0 ? "in " : "", rs > 0 ?
	    rd : "passed", ks > 0 ? "expires" : "expired", kt, ks > 0 ?
	    "in " : "", ks > 0 ? kd : "passed");
	if (rs > 0 && rs <= 30 * 86400)
		printf("  the roster EXPIRES in %s: ask the admins to issue "
		    "and sign a newer roster version before %s\n", rd, rt);
	if (ks > 0 && ks <= 30 * 86400)
		printf("  our encryption key EXPIRES in %s: make a new one "
		    "(ferry-keys roster rotate) and have the admins sign the "
		    "roster version listing it before %s\n", kd, kt);
	if (ks <= 0 && num(g, "key_expires_ms") > 0)
		printf("  our encryption key EXPIRED: partners cannot send to "
		    "this agency until a new one (ferry-keys roster rotate) "
		    "is in a signed roster version\n");
}

/* The recipients with the largest backlogs of our undelivered messages. */
static void
print_backlog(json_t *b)
{
	json_t *m;
	char t[32], d[32];
	size_t i;
	json_int_t max = num(b, "max_backlog");

	json_array_foreach(json_object_get(b, "top"), i, m) {
		fmt_time(t, sizeof(t), json_object_get(m, "oldest_ms"));
		fmt_dur(d, sizeof(d), num(m, "oldest_age_s"));
		printf("backlog to %s: %lld undelivered, oldest queued %s (%s "
		    "ago)%s\n", str(m, "to"), (long long)num(m, "messages"), t,
		    d, max > 0 && num(m, "messages") >= max ? "; AT "
		    "max_backlog: new messages to it are refused (not "
		    "emergencies) until it drains" : "");
	}
}

static int
c_status(int argc, char **argv)
{
	json_t *req, *r, *g, *q;
	char t[32];
	int js, rc;

	if ((rc = json_opt(argc, argv, &js, 0, 1, "")) >= 0 ||
	    (optind < argc && (rc = msgid_operand(argv[optind])) >= 0))
		return (rc);
	req = json_pack("{s:s}", "cmd", "status");
	if (optind == argc - 1)
		json_object_set_new(req, "msg_id", json_string(argv[optind]));
	rc = call(req, NULL, 0, &r, NULL);
	json_decref(req);
	if (rc != 0)
		return (rc);
	if (!is_ok(r)) {
		rc = print_fail(r);
	} else if (js) {
		rc = print_json(r);
	} else if ((g = json_object_get(r, "message")) != NULL) {
		print_message(g);
	} else {
		g = json_object_get(r, "agent");
		q = json_object_get(r, "queues");
		fmt_time(t, sizeof(t), json_object_get(g,
		    "connected_since_ms"));
		printf("agent %s: %s relay %s%s%s, roster version %lld\n",
		    str(g, "id"), json_is_true(json_object_get(g,
		    "connected")) ? "connected to" : "NOT connected to",
		    str(g, "relay"), json_is_true(json_object_get(g,
		    "connected")) ? " since " : "",
		    json_is_true(json_object_get(g, "connected")) ? t : "",
		    (long long)json_integer_value(json_object_get(g,
		    "roster_version")));
		if (json_is_true(json_object_get(g, "roster_expired")))
			printf("  the roster in force EXPIRED: new referrals "
			    "are refused; ask the admins for a new roster "
			    "version\n");
		if (json_is_false(json_object_get(g, "listed")))
			printf("  this agency is NOT yet in the roster this "
			    "agent holds: sending is refused until the relay "
			    "pushes a newer one\n");
		if (json_is_true(json_object_get(g, "compact_due")))
			printf("  erased messages' sealed copies are still in "
			    "freed pages of the store: its compaction failed "
			    "(see ERROR compact in the agent's log: usually "
			    "free space); retried every 10 minutes and at "
			    "start\n");
		if (json_is_true(json_object_get(g, "log_behind")))
			printf("  a relay holds a checkpoint of this agency's "
			    "log AHEAD of the log now: this data folder was "
			    "restored from a backup or replaced, and referrals "
			    "received after that point are not in it (see "
			    "ERROR log-behind in the agent's log, and "
			    "docs/operations.md section 8)\n");
		if (json_integer_value(json_object_get(q, "held")) > 0)
			printf("  %lld incoming message(s) HELD, not "
			    "acknowledged: sealed to an encryption key of ours "
			    "the agent has not loaded (reload it: systemctl "
			    "reload ferry-agent, or SIGHUP) or after a local "
			    "failure (retried); the relay keeps them (see ERROR "
			    "key-not-loaded or held in the agent's log)\n",
			    (long long)json_integer_value(json_object_get(q,
			    "held")));
		if (json_is_true(json_object_get(g, "relay_refused_key")))
			printf("  the relay REFUSED our transport key "
			    "(see the agent's log)\n");
		print_link(json_object_get(r, "link"), str(g, "relay"));
		print_relays(json_object_get(r, "relays"));
		print_expiry(g);
		printf("outbox: %lld queued, %lld accepted by relay, %lld "
		    "delivered, %lld failed; inbox: %lld received\n",
		    (long long)json_integer_value(json_object_get(q,
		    "queued")),
		    (long long)json_integer_value(json_object_get(q,
		    "accepted")),
		    (long long)json_integer_value(json_object_get(q,
		    "delivered")),
		    (long long)json_integer_value(json_object_get(q,
		    "failed")),
		    (long long)json_integer_value(json_object_get(q,
		    "received")));
		print_backlog(json_object_get(r, "backlog"));
	}
	json_decref(r);
	return (rc);
}

static int
c_partners(int argc, char **argv)
{
	json_t *req, *r, *p;
	size_t i;
	int js, rc;

	if ((rc = json_opt(argc, argv, &js, 0, 0, "")) >= 0)
		return (rc);
	req = json_pack("{s:s}", "cmd", "partners");
	rc = call(req, NULL, 0, &r, NULL);
	json_decref(req);
	if (rc != 0)
		return (rc);
	if (!is_ok(r))
		rc = print_fail(r);
	else if (js)
		rc = print_json(r);
	else {
		printf("roster version %lld\n", (long long)json_integer_value(
		    json_object_get(r, "roster_version")));
		json_array_foreach(json_object_get(r, "partners"), i, p)
			printf("%-24s %-8s %-7s %s  (%s)\n", str(p, "id"),
			    str(p, "kind"), str(p, "status"),
			    str(p, "fingerprint"), str(p, "name"));
	}
	json_decref(r);
	return (rc);
}

static const struct cli_cmd cmds[] = {
	{ "send", c_send, "--to AGENCY FILE.json",
	    "send a referral (FILE - reads stdin); prints its message id",
	    NULL },
	{ "reply", c_reply, "MSGID --accept | --decline REASON | "
	    "--need-info TEXT | --provide-info TEXT | --close "
	    "[--narrative TEXT] [--name NAME] [--organisation ORG]",
	    "answer a received message, in the case's thread (each TEXT "
	    "may be - for stdin or @FILE: put text about a person there, "
	    "not on the command line, which every local user can read)",
	    NULL },
	{ "inbox", c_inbox, "[--json] [--from AGENCY] [--kind KIND] "
	    "[--urgency routine|urgent|emergency] [--since TIME] [--case CASE] "
	    "[--unread]", "received messages (filters combine with AND; "
	    "an emergency is marked !!)", NULL },
	{ "ack", c_ack, "MSGID", "mark a received message read", NULL },
	{ "outbox", c_outbox, "[--json]", "sent messages and their states",
	    NULL },
	{ "show", c_show, "MSGID", "the decrypted document (JSON)", NULL },
	{ "thread", c_thread, "[--json] CASE", "every message of a case, "
	    "oldest first", NULL },
	{ "status", c_status, "[--json] [MSGID]", "the agent's health, or "
	    "one message's state", NULL },
	{ "partners", c_partners, "[--json]", "the agencies in the roster",
	    NULL },
	{ "erase", c_erase, "MSGID | --case CASE | --before DATE "
	    "[--ref REF]", "destroy messages' content on this agency's side "
	    "(crypto-shredding; logged)", NULL },
	{ "export", c_export, "--case CASE [--out DIR] [--force]",
	    "every message of a case with its document, as JSON and HTML "
	    "files (a subject access request)", NULL },
};

static const struct cli_prog prog = {
	"ferry", "[--data DIR]", cmds, sizeof(cmds) / sizeof(cmds[0]), NULL,
	"DIR defaults to $FERRY_DATA: the agent's data folder.  Exit status: "
	"0 success, 1 failure, 2 usage, 3 send or reply refused by "
	"back-pressure (too many of our messages to that recipient "
	"undelivered: nothing stored, run it again later)."
};

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "data", required_argument, NULL, 'd' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	if (sodium_init() < 0) {
		fprintf(stderr, "ferry: libsodium failed to initialise\n");
		return (1);
	}
	cli_start(&prog);
	data_dir = getenv("FERRY_DATA");
	/* '+': stop at the command; its options are parsed by it. */
	while ((ch = getopt_long(argc, argv, "+:d:h", lo, NULL)) != -1) {
		if (ch == 'd')
			data_dir = optarg;
		else
			return (cli_opt_error(ch == 'h' ? CLI_OPT_HELP : ch,
			    argv));
	}
	/* The command's name is argv[1] for cli_main. */
	return (cli_main(&prog, argc - optind + 1, argv + optind - 1));
}
