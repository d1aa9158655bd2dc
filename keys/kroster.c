/*
 * kroster.c: the roster subcommands of ferry-keys.  Every editing command
 * reads the current roster, writes the next version (unsigned) to a new
 * file, and prints what changed; admins then run "roster sign" on it
 * until "roster verify --previous" says the threshold is met.
 */
#include "kroster.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "ferry.h"
#include "ident.h"
#include "kutil.h"
#include "roster.h"

#define MAXLIST 64

/* Options shared by every roster subcommand; each uses a subset. */
struct ropts {
	const char *roster, *out, *relay, *endpoint, *key, *previous;
	const char *pin, *id, *passfile;
	const char *requests[MAXLIST];
	size_t nrequests;
	const char *adds[MAXLIST];
	size_t nadds;
	const char *removes[MAXLIST];
	size_t nremoves;
	char *admins;
	uint64_t expires, overlap, validity, at;
	int have_expires, have_overlap, have_at, json;
	uint32_t threshold;
	const char *file;	/* the one positional argument */
};

enum {
	O_ROSTER = 256, O_OUT, O_RELAY, O_ENDPOINT, O_KEY, O_PREVIOUS, O_PIN,
	O_ID, O_PASSFILE, O_REQUEST, O_ADD, O_REMOVE, O_ADMINS, O_EXPIRES,
	O_OVERLAP, O_VALIDITY, O_AT, O_JSON, O_THRESHOLD
};

static const struct option all_opts[] = {
	{ "roster", required_argument, NULL, O_ROSTER },
	{ "out", required_argument, NULL, O_OUT },
	{ "relay", required_argument, NULL, O_RELAY },
	{ "endpoint", required_argument, NULL, O_ENDPOINT },
	{ "key", required_argument, NULL, O_KEY },
	{ "previous", required_argument, NULL, O_PREVIOUS },
	{ "pin", required_argument, NULL, O_PIN },
	{ "id", required_argument, NULL, O_ID },
	{ "passphrase-file", required_argument, NULL, O_PASSFILE },
	{ "request", required_argument, NULL, O_REQUEST },
	{ "add", required_argument, NULL, O_ADD },
	{ "remove", required_argument, NULL, O_REMOVE },
	{ "admins", required_argument, NULL, O_ADMINS },
	{ "expires", required_argument, NULL, O_EXPIRES },
	{ "overlap", required_argument, NULL, O_OVERLAP },
	{ "validity", required_argument, NULL, O_VALIDITY },
	{ "at", required_argument, NULL, O_AT },
	{ "json", no_argument, NULL, O_JSON },
	{ "threshold", required_argument, NULL, O_THRESHOLD },
	CLI_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

/* A bad value of option ${code}: ${what} says what it must be. */
static int
bad_value(int code, const char *what)
{

	return (cli_usage("--%s must be %s", cli_longopt_name(all_opts,
	    code), what));
}

/*
 * Parse ${argv} into ${o}, accepting only the options named in ${allowed}
 * (O_* codes, 0-terminated) and at most ${npos} operands.  -1 to go on,
 * else the exit status (--help, --version, a usage error said).
 */
static int
parse_opts(int argc, char **argv, const int *allowed, int npos,
    struct ropts *o)
{
	static const char days[] = "a whole number of days (at most 36600)";
	uint64_t v;
	int c, i, ok;

	memset(o, 0, sizeof(*o));
	o->validity = 365 * KUTIL_DAY_MS;
	while ((c = getopt_long(argc, argv, ":", all_opts, NULL)) != -1) {
		if (c < O_ROSTER || c > O_THRESHOLD)
			return (cli_opt_error(c, argv));
		for (ok = 0, i = 0; allowed[i] != 0; i++)
			if (allowed[i] == c)
				ok = 1;
		if (!ok)
			return (cli_usage("--%s does not apply here",
			    cli_longopt_name(all_opts, c)));
		switch (c) {
		case O_ROSTER: o->roster = optarg; break;
		case O_OUT: o->out = optarg; break;
		case O_RELAY: o->relay = optarg; break;
		case O_ENDPOINT: o->endpoint = optarg; break;
		case O_KEY: o->key = optarg; break;
		case O_PREVIOUS: o->previous = optarg; break;
		case O_PIN: o->pin = optarg; break;
		case O_ID: o->id = optarg; break;
		case O_PASSFILE: o->passfile = optarg; break;
		case O_ADMINS: o->admins = optarg; break;
		case O_JSON: o->json = 1; break;
		case O_REQUEST:
			if (o->nrequests >= MAXLIST)
				return (cli_usage("more than %d --request",
				    MAXLIST));
			o->requests[o->nrequests++] = optarg;
			break;
		case O_ADD:
			if (o->nadds >= MAXLIST)
				return (cli_usage("more than %d --add",
				    MAXLIST));
			o->adds[o->nadds++] = optarg;
			break;
		case O_REMOVE:
			if (o->nremoves >= MAXLIST)
				return (cli_usage("more than %d --remove",
				    MAXLIST));
			o->removes[o->nremoves++] = optarg;
			break;
		case O_EXPIRES:
			/* A version that expires as it is made could never
			 * be adopted. */
			if (kutil_days(optarg, &o->expires) != 0 ||
			    o->expires == 0)
				return (bad_value(c, "a whole number of days "
				    "from 1 to 36600"));
			o->have_expires = 1;
			break;
		case O_OVERLAP:
			if (kutil_days(optarg, &o->overlap) != 0)
				return (bad_value(c, days));
			o->have_overlap = 1;
			break;
		case O_VALIDITY:
			if (kutil_days(optarg, &o->validity) != 0 ||
			    o->validity == 0)
				return (bad_value(c, days));
			break;
		case O_AT:
			if (ferry_parse_utc(optarg, &o->at) != 0)
				return (bad_value(c, "a UTC date or time "
				    "(2026-01-31, 2026-01-31T09:30:00Z) or "
				    "milliseconds since 1970"));
			o->have_at = 1;
			break;
		case O_THRESHOLD:
			if (kutil_u64(optarg, &v) != 0 || v < 1 ||
			    v > ROSTER_MAX_ADMINS)
				return (cli_usage("--threshold must be a "
				    "number from 1 to %d", ROSTER_MAX_ADMINS));
			o->threshold = (uint32_t)v;
			break;
		}
	}
	if (argc - optind > npos)
		return (cli_usage("unexpected argument '%s'", argv[optind +
		    npos]));
	if (optind < argc)
		o->file = argv[optind];
	return (-1);
}

/* Whether ${o} has option ${code} (one that may be required). */
static int
given(const struct ropts *o, int code)
{

	switch (code) {
	case O_ROSTER: return (o->roster != NULL);
	case O_OUT: return (o->out != NULL);
	case O_RELAY: return (o->relay != NULL);
	case O_KEY: return (o->key != NULL);
	case O_ID: return (o->id != NULL);
	case O_ADMINS: return (o->admins != NULL);
	case O_THRESHOLD: return (o->threshold != 0);
	case O_REQUEST: return (o->nrequests > 0);
	case O_OVERLAP: return (o->have_overlap);
	}
	return (1);
}

/*
 * The options of a command, then the ones it requires (${need}, O_*
 * codes, 0-terminated) and its operand FILE when ${npos} is 1.  -1 to
 * go on, else the exit status.
 */
static int
command_opts(int argc, char **argv, const int *allowed, const int *need,
    int npos, struct ropts *o)
{
	int rc, i;

	if ((rc = parse_opts(argc, argv, allowed, npos, o)) >= 0)
		return (rc);
	for (i = 0; need[i] != 0; i++)
		if (!given(o, need[i]))
			return (cli_usage("missing --%s",
			    cli_longopt_name(all_opts, need[i])));
	if (npos > 0 && o->file == NULL)
		return (cli_usage("missing FILE"));
	return (-1);
}

static void
fmt_time(uint64_t ms, char *buf, size_t cap)
{

	ferry_utc_s(buf, cap, ms);
}

/*
 * ${path} (${buf}) is not a key request (roster_request_parse said
 * ${rc}): say what it is when it is something else ferry-keys reads, and
 * which command takes it, rather than a decoding error.
 */
static void
what_err(const char *path, const uint8_t *buf, size_t len, int rc)
{
	struct roster *r = NULL;

	if (roster_parse(buf, len, &r) == 0) {
		fprintf(stderr, "ferry-keys: %s is a roster (version %llu), "
		    "not a key request: give it as --roster; --request, "
		    "--relay and --add take the .request or .pub file made by "
		    "init, relay-init or admin-init\n", path,
		    (unsigned long long)r->version);
		roster_free(r);
		return;
	}
	if (ident_is_keyfile(buf, len)) {
		fprintf(stderr, "ferry-keys: %s is a secret key file, not a "
		    "key request: give the .request (or .pub) file beside "
		    "it, and never pass the key file around\n", path);
		return;
	}
	kutil_err(path, rc);
}

/* Read and check one key request file, printing its fingerprint. */
static int
read_request(const char *path, uint8_t **buf, size_t *len,
    struct roster_request *q)
{
	int rc;

	if ((rc = kutil_read(path, ROSTER_REQUEST_MAX, buf, len)) != 0) {
		kutil_err(path, rc);
		return (rc);
	}
	if ((rc = roster_request_parse(*buf, *len, q)) != 0) {
		what_err(path, *buf, *len, rc);
		free(*buf);
		*buf = NULL;
		return (rc);
	}
	return (0);
}

static void
print_request(const char *what, const struct roster_request *q)
{
	char fp[IDENT_FP_LEN];

	roster_id_fingerprint(q->id, q->kind, q->sign_pk, fp);
	printf("%s%s (%s, %s)\n  fingerprint: %s\n", what, q->id,
	    ident_kind_name(q->kind), q->name, fp);
}

/*
 * Read key request ${path} and add it to ${r} with ${add}, printing it
 * with prefix ${before} before adding or ${after} once added (either may
 * be NULL).  0, or -1 after saying why.
 */
static int
add_request(struct roster *r, const char *path,
    int (*add)(struct roster *, const uint8_t *, size_t),
    const char *before, const char *after)
{
	struct roster_request q;
	uint8_t *buf;
	size_t len;
	int rc;

	if (read_request(path, &buf, &len, &q) != 0)
		return (-1);
	if (add == roster_agency_add && (q.kind == IDENT_ADMIN ||
	    q.kind == IDENT_RELAY)) {
		fprintf(stderr, "ferry-keys: %s is %s key request (%s, kind "
		    "%s), not an agency's: %s\n", path, q.kind == IDENT_ADMIN ?
		    "an admin's" : "a relay's", q.id, ident_kind_name(q.kind),
		    q.kind == IDENT_ADMIN ? "add admins with roster admins "
		    "--add (or roster new --admins)" : "add relays with roster "
		    "add-relay --relay (or roster new --relay)");
		free(buf);
		return (-1);
	}
	if (before != NULL)
		print_request(before, &q);
	rc = add(r, buf, len);
	free(buf);
	if (rc != 0) {
		kutil_err(path, rc);
		return (-1);
	}
	if (after != NULL)
		print_request(after, &q);
	return (0);
}

/* Seal ${r}, write it to ${o->out}, and say what to do next. */
static int
finish(struct roster *r, const struct ropts *o)
{
	char fp[IDENT_FP_LEN], t[64];
	int rc;

	if ((rc = roster_seal(r)) != 0) {
		kutil_err("the new roster would be refused", rc);
		return (KUTIL_FAIL);
	}
	if ((rc = kutil_save_roster(r, o->out, 0)) != 0) {
		kutil_err(o->out, rc);
		return (KUTIL_FAIL);
	}
	roster_fingerprint(r, fp);
	fmt_time(r->expires, t, sizeof(t));
	printf("roster %llu written to %s (unsigned; %u of %zu admins must "
	    "sign; expires %s)\n", (unsigned long long)r->version, o->out,
	    (unsigned)r->threshold, r->nadmins, t);
	printf("roster fingerprint: %s%s\n", fp, r->version > 1 ?
	    " (of this version; roster_pin stays the install roster's)" :
	    "");
	return (KUTIL_OK);
}

static uint64_t
expiry(const struct ropts *o, uint64_t now)
{

	return (now + (o->have_expires ? o->expires : 365 * KUTIL_DAY_MS));
}

static int
cmd_new(int argc, char **argv)
{
	static const int allowed[] = { O_ADMINS, O_THRESHOLD, O_RELAY,
	    O_ENDPOINT, O_REQUEST, O_EXPIRES, O_OUT, 0 };
	static const int need[] = { O_ADMINS, O_THRESHOLD, O_RELAY, O_OUT, 0 };
	struct ropts o;
	struct roster_request q;
	struct roster *r = NULL;
	char *save = NULL, *tok;
	uint8_t *buf;
	size_t len, i;
	uint64_t now = kutil_now();
	int u, rc, ret = KUTIL_FAIL;

	if ((u = command_opts(argc, argv, allowed, need, 0, &o)) >= 0)
		return (u);
	if ((rc = roster_new(now, expiry(&o, now), &r)) != 0) {
		kutil_err("roster", rc);
		return (KUTIL_FAIL);
	}
	for (tok = o.admins; tok != NULL; tok = save) {
		/* Split the comma-separated list in place. */
		if ((save = strchr(tok, ',')) != NULL)
			*save++ = '\0';
		if (*tok == '\0')
			continue;
		if (add_request(r, tok, roster_admin_add, "", NULL) != 0)
			goto done;
	}
	if (o.threshold > r->nadmins) {
		fprintf(stderr, "ferry-keys: threshold %u is more than the %zu "
		    "admins\n", (unsigned)o.threshold, r->nadmins);
		goto done;
	}
	if (o.threshold < 2)
		fprintf(stderr, "ferry-keys: warning: with threshold 1 a single "
		    "admin can change the network\n");
	if ((rc = roster_set_threshold(r, o.threshold)) != 0)
		goto done;
	if (read_request(o.relay, &buf, &len, &q) != 0)
		goto done;
	print_request("", &q);
	rc = roster_relay_set(r, buf, len, o.endpoint);
	free(buf);
	if (rc != 0) {
		kutil_err(o.relay, rc);
		goto done;
	}
	for (i = 0; i < o.nrequests; i++)
		if (add_request(r, o.requests[i], roster_agency_add, "",
		    NULL) != 0)
			goto done;
	ret = finish(r, &o);
done:
	roster_free(r);
	return (ret);
}

/* Load --roster and start its next version. */
static int
start_next(const struct ropts *o, struct roster **cur, struct roster **next)
{
	uint64_t now = kutil_now();
	int rc;

	*cur = *next = NULL;
	if ((rc = kutil_load_roster(o->roster, cur)) != 0) {
		kutil_err(o->roster, rc);
		return (rc);
	}
	if ((rc = roster_next(*cur, now, expiry(o, now), next)) != 0) {
		kutil_err("roster", rc);
		roster_free(*cur);
		*cur = NULL;
		return (rc);
	}
	return (0);
}

static int
cmd_add(int argc, char **argv)
{
	static const int allowed[] = { O_ROSTER, O_REQUEST, O_EXPIRES, O_OUT,
	    0 };
	static const int need[] = { O_ROSTER, O_REQUEST, O_OUT, 0 };
	struct ropts o;
	struct roster *cur, *r;
	size_t i;
	int u, ret = KUTIL_FAIL;

	if ((u = command_opts(argc, argv, allowed, need, 0, &o)) >= 0)
		return (u);
	if (start_next(&o, &cur, &r) != 0)
		return (KUTIL_FAIL);
	for (i = 0; i < o.nrequests; i++)
		if (add_request(r, o.requests[i], roster_agency_add, NULL,
		    "adding ") != 0)
			goto done;
	printf("check each fingerprint with the agency by telephone before "
	    "signing\n");
	ret = finish(r, &o);
done:
	roster_free(r);
	roster_free(cur);
	return (ret);
}

/*
 * The next version of --roster with ${edit} applied to --id: the
 * commands revoke and remove-relay.  ${fail} says why an edit failed;
 * ${doing}, the id and ${after} say what the new version does.
 */
static int
edit_by_id(int argc, char **argv, int (*edit)(struct roster *, const char *),
    void (*fail)(const struct roster *, const char *, int), const char *doing,
    const char *after)
{
	static const int allowed[] = { O_ROSTER, O_ID, O_EXPIRES, O_OUT, 0 };
	static const int need[] = { O_ROSTER, O_ID, O_OUT, 0 };
	struct ropts o;
	struct roster *cur, *r;
	int u, rc, ret = KUTIL_FAIL;

	if ((u = command_opts(argc, argv, allowed, need, 0, &o)) >= 0)
		return (u);
	if (start_next(&o, &cur, &r) != 0)
		return (KUTIL_FAIL);
	if ((rc = edit(r, o.id)) != 0) {
		fail(cur, o.id, rc);
		goto done;
	}
	printf("%s%s%s\n", doing, o.id, after);
	ret = finish(r, &o);
done:
	roster_free(r);
	roster_free(cur);
	return (ret);
}

static void
revoke_err(const struct roster *cur, const char *id, int rc)
{

	(void)cur;
	kutil_err(id, rc);
}

static int
cmd_revoke(int argc, char **argv)
{

	return (edit_by_id(argc, argv, roster_agency_revoke, revoke_err,
	    "revoking ", ""));
}

/*
 * Does key file ${path} (${id}) hold every encryption key roster
 * ${version} lists for agency ${a}, the same public keys?  0, or -1 after
 * saying which it lacks.
 */
static int
held_all(const char *path, const struct ident *id,
    const struct roster_agency *a, uint64_t version)
{
	const struct ident_enckey *k;
	char lacks[160], has[160];
	size_t i, ol = 0, oh = 0;

	lacks[0] = has[0] = '\0';
	for (i = 0; i < a->nenc; i++) {
		k = ident_enc_find(id, a->enc[i].key_id);
		if (k != NULL && sodium_memcmp(k->pk, a->enc[i].pk, 32) == 0)
			continue;
		if (ol < sizeof(lacks))
			ol += (size_t)snprintf(lacks + ol, sizeof(lacks) - ol,
			    "%s%u%s", ol ? ", " : "",
			    (unsigned)a->enc[i].key_id, k != NULL ?
			    " (another key under that id)" : "");
	}
	if (lacks[0] == '\0')
		return (0);
	for (i = 0; i < id->nenc && oh < sizeof(has); i++)
		oh += (size_t)snprintf(has + oh, sizeof(has) - oh, "%s%u",
		    oh ? ", " : "", (unsigned)id->enc[i].key_id);
	fprintf(stderr, "ferry-keys: %s does not hold encryption key %s of "
	    "agency %s that roster %llu lists (it holds %s): an old copy of "
	    "the key file? Rotate with the key file the last rotation "
	    "rewrote; nothing was changed\n", path, lacks, a->id,
	    (unsigned long long)version, has[0] ? has : "none");
	return (-1);
}

static int
cmd_rotate(int argc, char **argv)
{
	static const int allowed[] = { O_ROSTER, O_KEY, O_OVERLAP, O_VALIDITY,
	    O_PASSFILE, O_EXPIRES, O_OUT, 0 };
	static const int need[] = { O_ROSTER, O_KEY, O_OVERLAP, O_OUT, 0 };
	struct ropts o;
	struct roster *cur = NULL, *r = NULL;
	const struct roster_agency *a;
	struct ident *id = NULL;
	char *pass = NULL, t[64];
	int u, rc, sealed, ret = KUTIL_FAIL;
	uint64_t now = kutil_now();

	if ((u = command_opts(argc, argv, allowed, need, 0, &o)) >= 0)
		return (u);
	if (access(o.out, F_OK) == 0) {
		kutil_err(o.out, FERRY_EEXIST);
		return (KUTIL_FAIL);
	}
	if (start_next(&o, &cur, &r) != 0)
		return (KUTIL_FAIL);
	if ((sealed = ident_is_sealed(o.key)) < 0) {
		kutil_err(o.key, sealed);
		goto done;
	}
	if (sealed && (rc = kutil_passphrase(o.passfile, 1, 0, &pass)) != 0) {
		kutil_pass_err(o.passfile, rc);
		goto done;
	}
	if ((rc = ident_load(o.key, pass, &id)) != 0) {
		kutil_err(o.key, rc);
		goto done;
	}
	if ((a = roster_find(cur, id->id)) == NULL ||
	    memcmp(a->sign_pk, id->sign_pk, 32) != 0) {
		fprintf(stderr, "ferry-keys: %s is not agency %s of roster "
		    "%llu\n", o.key, id->id, (unsigned long long)cur->version);
		goto done;
	}
	/* A stale copy of the key file would make a new key under an id
	 * the roster already gives another key (roster_verify_next refuses
	 * that roster; better not to write it). */
	if (held_all(o.key, id, a, cur->version) != 0)
		goto done;
	if ((rc = ident_rotate(id, now, o.validity, o.overlap)) != 0) {
		kutil_err("rotating", rc);
		goto done;
	}
	if ((rc = roster_agency_set_enc(r, id->id, id->enc, id->nenc)) != 0) {
		kutil_err("new keys", rc);
		goto done;
	}
	/* The new secret key first: a roster listing a key nobody holds
	 * would be worse than a key no roster lists yet. */
	if ((rc = ident_save_replace(id, o.key, pass)) != 0) {
		if (rc == FERRY_EACCES)
			kutil_owner_err(o.key);
		else
			kutil_err(o.key, rc);
		goto done;
	}
	fmt_time(now + o.overlap, t, sizeof(t));
	printf("%s: new encryption key %u; key %u still opens messages "
	    "until %s\n", id->id, (unsigned)id->enc[0].key_id,
	    (unsigned)id->enc[1].key_id, t);
	ret = finish(r, &o);
done:
	kutil_passphrase_free(pass);
	ident_free(id);
	roster_free(r);
	roster_free(cur);
	return (ret);
}

static int
cmd_add_relay(int argc, char **argv)
{
	static const int allowed[] = { O_ROSTER, O_RELAY, O_ENDPOINT,
	    O_EXPIRES, O_OUT, 0 };
	static const int need[] = { O_ROSTER, O_RELAY, O_OUT, 0 };
	struct ropts o;
	struct roster_request q;
	struct roster *cur, *r;
	const struct roster_relay *rl;
	uint8_t *buf;
	size_t len;
	int u, rc, ret = KUTIL_FAIL, same;

	if ((u = command_opts(argc, argv, allowed, need, 0, &o)) >= 0)
		return (u);
	if (start_next(&o, &cur, &r) != 0)
		return (KUTIL_FAIL);
	if (read_request(o.relay, &buf, &len, &q) != 0)
		goto done;
	rl = roster_find_relay(cur, q.id);
	same = rl != NULL && memcmp(rl->sign_pk, q.sign_pk, 32) == 0;
	rc = roster_relay_set(r, buf, len, o.endpoint);
	free(buf);
	if (rc != 0) {
		if (rc == FERRY_EEXIST)
			fprintf(stderr, "ferry-keys: relay %s is already listed "
			    "in roster %llu with these keys and this endpoint: "
			    "nothing to change\n", q.id,
			    (unsigned long long)cur->version);
		else if (rc == FERRY_ETOOBIG)
			fprintf(stderr, "ferry-keys: %s: a roster lists at most "
			    "%d relays and an endpoint has at most %d bytes "
			    "(%s)\n", o.relay, ROSTER_MAX_RELAYS,
			    ROSTER_ENDPOINT_MAX, ferry_errname(rc));
		else
			kutil_err(o.relay, rc);
		goto done;
	}
	print_request(rl == NULL ? "adding relay " : same ?
	    "new endpoint for relay " : "replacing the keys of relay ", &q);
	printf("check the fingerprint with the relay's operator before "
	    "signing\n");
	ret = finish(r, &o);
done:
	roster_free(r);
	roster_free(cur);
	return (ret);
}

static void
remove_relay_err(const struct roster *cur, const char *id, int rc)
{

	if (rc == FERRY_ENOENT)
		fprintf(stderr, "ferry-keys: roster %llu lists no relay %s "
		    "(ferry-keys roster show lists them)\n",
		    (unsigned long long)cur->version, id);
	else if (rc == FERRY_EBADVALUE)
		fprintf(stderr, "ferry-keys: %s is the only relay of roster "
		    "%llu: add another with add-relay first\n", id,
		    (unsigned long long)cur->version);
	else
		kutil_err(id, rc);
}

static int
cmd_remove_relay(int argc, char **argv)
{

	return (edit_by_id(argc, argv, roster_relay_remove, remove_relay_err,
	    "removing relay ", ": agents stop using it once they hold this "
	    "version"));
}

static int
cmd_admins(int argc, char **argv)
{
	static const int allowed[] = { O_ROSTER, O_ADD, O_REMOVE, O_THRESHOLD,
	    O_EXPIRES, O_OUT, 0 };
	static const int need[] = { O_ROSTER, O_OUT, 0 };
	struct ropts o;
	struct roster *cur, *r;
	size_t i;
	int u, rc, ret = KUTIL_FAIL;

	if ((u = command_opts(argc, argv, allowed, need, 0, &o)) >= 0)
		return (u);
	if (o.nadds == 0 && o.nremoves == 0 && o.threshold == 0)
		return (cli_usage("nothing to change: give --add, --remove "
		    "or --threshold"));
	if (start_next(&o, &cur, &r) != 0)
		return (KUTIL_FAIL);
	for (i = 0; i < o.nremoves; i++) {
		if ((rc = roster_admin_remove(r, o.removes[i])) != 0) {
			kutil_err(o.removes[i], rc);
			goto done;
		}
		printf("removing admin %s\n", o.removes[i]);
	}
	for (i = 0; i < o.nadds; i++)
		if (add_request(r, o.adds[i], roster_admin_add, NULL,
		    "adding ") != 0)
			goto done;
	if (o.threshold != 0 &&
	    (rc = roster_set_threshold(r, o.threshold)) != 0)
		goto done;
	if (r->threshold > r->nadmins) {
		fprintf(stderr, "ferry-keys: threshold %u is more than the %zu "
		    "admins\n", (unsigned)r->threshold, r->nadmins);
		goto done;
	}
	printf("both %u of roster %llu's admins and %u of the new admins "
	    "must sign\n", (unsigned)cur->threshold,
	    (unsigned long long)cur->version, (unsigned)r->threshold);
	ret = finish(r, &o);
done:
	roster_free(r);
	roster_free(cur);
	return (ret);
}

static int
cmd_sign(int argc, char **argv)
{
	static const int allowed[] = { O_ROSTER, O_KEY, O_PREVIOUS,
	    O_PASSFILE, 0 };
	static const int need[] = { O_ROSTER, O_KEY, 0 };
	struct ropts o;
	struct roster *r = NULL, *prev = NULL;
	struct ident *id = NULL;
	char why[512];
	int u, rc, k, ret = KUTIL_FAIL;

	if ((u = command_opts(argc, argv, allowed, need, 0, &o)) >= 0)
		return (u);
	if ((rc = kutil_load_roster(o.roster, &r)) != 0) {
		kutil_err(o.roster, rc);
		goto done;
	}
	if (o.previous != NULL && (rc = kutil_load_roster(o.previous,
	    &prev)) != 0) {
		kutil_err(o.previous, rc);
		goto done;
	}
	if (prev != NULL && (prev->version == UINT64_MAX ||
	    r->version != prev->version + 1)) {
		fprintf(stderr, "ferry-keys: roster %llu cannot follow roster "
		    "%llu (--previous must be version %llu); not signed (%s)\n",
		    (unsigned long long)r->version,
		    (unsigned long long)prev->version,
		    (unsigned long long)(r->version - 1),
		    ferry_errname(FERRY_EROLLBACK));
		goto done;
	}
	if (kutil_load_ident(o.key, o.passfile, &id) != 0)
		goto done;
	k = roster_is_admin(r, id->sign_pk);
	if (k < 0 && (prev == NULL || roster_is_admin(prev, id->sign_pk) < 0)) {
		fprintf(stderr, "ferry-keys: %s is not an admin of roster "
		    "%llu%s\n", id->id, (unsigned long long)r->version,
		    prev != NULL ? " nor of the previous one" :
		    " (a retiring admin: pass --previous)");
		goto done;
	}
	if ((rc = roster_sign(r, id->sign_sk)) != 0) {
		kutil_err("signing", rc);
		goto done;
	}
	/* With --previous, the signed version is checked before it is
	 * written: signatures still missing is the normal case; anything
	 * else (expired, an agency removed, a key id reused, ...) no
	 * signature fixes, so nothing is written. */
	if (prev != NULL) {
		rc = roster_verify_next(prev, r, kutil_now(), why,
		    sizeof(why));
		if (rc != 0 && rc != FERRY_ETHRESHOLD) {
			fprintf(stderr, "ferry-keys: roster %llu will not follow "
			    "roster %llu: %s (%s); not signed, %s unchanged\n",
			    (unsigned long long)r->version,
			    (unsigned long long)prev->version, why,
			    ferry_errname(rc), o.roster);
			goto done;
		}
	}
	if ((rc = kutil_save_roster(r, o.roster, 1)) != 0) {
		kutil_err(o.roster, rc);
		goto done;
	}
	printf("roster %llu signed by %s (%zu signatures", (unsigned long long)
	    r->version, id->id, r->nsigs);
	/* Version 1 has no previous one to say what is missing. */
	if (r->version == 1 && r->nsigs < r->threshold)
		printf("; %zu more of its admins must sign",
		    (size_t)r->threshold - r->nsigs);
	printf(")\n");
	if (prev != NULL)
		printf("%s\n", why);
	ret = KUTIL_OK;
done:
	ident_free(id);
	roster_free(prev);
	roster_free(r);
	return (ret);
}

static int
cmd_verify(int argc, char **argv)
{
	static const int allowed[] = { O_PREVIOUS, O_PIN, O_AT, 0 };
	static const int need[] = { 0 };
	struct ropts o;
	struct roster *r = NULL, *prev = NULL;
	char why[512];
	uint64_t now;
	int u, rc, ret = KUTIL_FAIL;

	if ((u = command_opts(argc, argv, allowed, need, 1, &o)) >= 0)
		return (u);
	if ((o.previous == NULL) == (o.pin == NULL))
		return (cli_usage("give one of --previous PREV and --pin "
		    "FINGERPRINT"));
	if (o.pin != NULL && roster_pin_check(o.pin) != 0)
		return (cli_usage("--pin \"%s\" is not " ROSTER_PIN_FORM,
		    o.pin));
	now = o.have_at ? o.at : kutil_now();
	if ((rc = kutil_load_roster(o.file, &r)) != 0) {
		/* Refused while read (a signer twice, a forged request, a
		 * bad key signature): said with its code, as any refusal. */
		if (rc <= FERRY_EBADSIG)
			printf("REFUSED (%s): %s: %s\n", ferry_errname(rc),
			    o.file, ferry_strerror(rc));
		else
			kutil_err(o.file, rc);
		goto done;
	}
	if (o.previous != NULL) {
		if ((rc = kutil_load_roster(o.previous, &prev)) != 0) {
			kutil_err(o.previous, rc);
			goto done;
		}
		rc = roster_verify_next(prev, r, now, why, sizeof(why));
	} else
		rc = roster_verify_genesis(r, o.pin, now, why, sizeof(why));
	if (rc != 0) {
		printf("REFUSED (%s): %s\n", ferry_errname(rc), why);
		goto done;
	}
	printf("OK: %s\n", why);
	ret = KUTIL_OK;
done:
	roster_free(prev);
	roster_free(r);
	return (ret);
}

static const char *
signer_name(const struct roster *r, const uint8_t pk[32])
{
	int k;

	if ((k = roster_is_admin(r, pk)) >= 0)
		return (r->admins[k].name);
	return (NULL);
}

static json_t *
jhex(const uint8_t *b, size_t n)
{
	char hex[2 * 64 + 1];

	ferry_hex(hex, b, n);
	return (json_string(hex));
}

static int
show_json(const struct roster *r)
{
	json_t *root, *arr, *o, *enc, *e;
	char fp[IDENT_FP_LEN];
	const char *name;
	size_t i, j;
	int rc = 0;

	roster_fingerprint(r, fp);
	root = json_object();
	rc |= json_object_set_new(root, "version", json_integer(
	    (json_int_t)r->version));
	rc |= json_object_set_new(root, "issued", json_integer(
	    (json_int_t)r->issued));
	rc |= json_object_set_new(root, "expires", json_integer(
	    (json_int_t)r->expires));
	rc |= json_object_set_new(root, "threshold", json_integer(
	    r->threshold));
	rc |= json_object_set_new(root, "hash", jhex(r->hash, 32));
	rc |= json_object_set_new(root, "fingerprint", json_string(fp));
	arr = json_array();
	for (i = 0; i < r->nadmins; i++) {
		o = json_object();
		rc |= json_object_set_new(o, "name",
		    json_string(r->admins[i].name));
		rc |= json_object_set_new(o, "sign_pk",
		    jhex(r->admins[i].sign_pk, 32));
		rc |= json_array_append_new(arr, o);
	}
	rc |= json_object_set_new(root, "admins", arr);
	/* "relay" is the first (preferred) relay, as before several; the
	 * "relays" array lists them all in the roster's order. */
	arr = json_array();
	for (i = 0; i < r->nrelays; i++) {
		const struct roster_relay *rl = &r->relays[i];

		o = json_object();
		rc |= json_object_set_new(o, "id", json_string(rl->id));
		rc |= json_object_set_new(o, "sign_pk", jhex(rl->sign_pk, 32));
		rc |= json_object_set_new(o, "curve_pk",
		    jhex(rl->curve_pk, 32));
		rc |= json_object_set_new(o, "endpoint",
		    json_string(rl->endpoint));
		if (i == 0)
			rc |= json_object_set(root, "relay", o);
		rc |= json_array_append_new(arr, o);
	}
	rc |= json_object_set_new(root, "relays", arr);
	arr = json_array();
	for (i = 0; i < r->nagencies; i++) {
		const struct roster_agency *a = &r->agencies[i];

		o = json_object();
		roster_id_fingerprint(a->id, a->kind, a->sign_pk, fp);
		rc |= json_object_set_new(o, "id", json_string(a->id));
		rc |= json_object_set_new(o, "kind",
		    json_string(ident_kind_name(a->kind)));
		rc |= json_object_set_new(o, "name", json_string(a->name));
		rc |= json_object_set_new(o, "status", json_string(
		    a->status == ROSTER_ACTIVE ? "active" : "revoked"));
		rc |= json_object_set_new(o, "added",
		    json_integer((json_int_t)a->added));
		if (a->status == ROSTER_REVOKED)
			rc |= json_object_set_new(o, "revoked",
			    json_integer((json_int_t)a->revoked));
		rc |= json_object_set_new(o, "fingerprint", json_string(fp));
		rc |= json_object_set_new(o, "sign_pk", jhex(a->sign_pk, 32));
		rc |= json_object_set_new(o, "curve_pk",
		    jhex(a->curve_pk, 32));
		enc = json_array();
		for (j = 0; j < a->nenc; j++) {
			e = json_object();
			rc |= json_object_set_new(e, "key_id",
			    json_integer(a->enc[j].key_id));
			rc |= json_object_set_new(e, "pk",
			    jhex(a->enc[j].pk, 32));
			rc |= json_object_set_new(e, "not_before", json_integer(
			    (json_int_t)a->enc[j].not_before));
			rc |= json_object_set_new(e, "not_after", json_integer(
			    (json_int_t)a->enc[j].not_after));
			rc |= json_array_append_new(enc, e);
		}
		rc |= json_object_set_new(o, "enc", enc);
		rc |= json_array_append_new(arr, o);
	}
	rc |= json_object_set_new(root, "agencies", arr);
	arr = json_array();
	for (i = 0; i < r->nsigs; i++) {
		o = json_object();
		name = signer_name(r, r->sigs[i].pk);
		rc |= json_object_set_new(o, "signer", name != NULL ?
		    json_string(name) : json_null());
		rc |= json_object_set_new(o, "pk", jhex(r->sigs[i].pk, 32));
		rc |= json_array_append_new(arr, o);
	}
	rc |= json_object_set_new(root, "signatures", arr);
	if (rc != 0 || json_dumpf(root, stdout, JSON_INDENT(2) |
	    JSON_PRESERVE_ORDER) != 0) {
		json_decref(root);
		return (-1);
	}
	printf("\n");
	json_decref(root);
	return (0);
}

static void
show_text(const struct roster *r)
{
	char fp[IDENT_FP_LEN], t1[64], t2[64], hex[65];
	const char *name;
	size_t i, j;

	roster_fingerprint(r, fp);
	fmt_time(r->issued, t1, sizeof(t1));
	fmt_time(r->expires, t2, sizeof(t2));
	ferry_hex(hex, r->hash, 32);
	printf("roster %llu, issued %s, expires %s\n",
	    (unsigned long long)r->version, t1, t2);
	printf("fingerprint %s\nsha256 %s\n", fp, hex);
	printf("admins (%u must sign):", (unsigned)r->threshold);
	for (i = 0; i < r->nadmins; i++)
		printf(" %s", r->admins[i].name);
	printf("\n");
	for (i = 0; i < r->nrelays; i++)
		printf("relay %s %s\n", r->relays[i].id,
		    r->relays[i].endpoint[0] != '\0' ? r->relays[i].endpoint :
		    "(no endpoint)");
	printf("agencies:\n");
	for (i = 0; i < r->nagencies; i++) {
		const struct roster_agency *a = &r->agencies[i];

		roster_id_fingerprint(a->id, a->kind, a->sign_pk, fp);
		printf("  %-24s %-8s %-8s %s\n", a->id,
		    ident_kind_name(a->kind), a->status == ROSTER_ACTIVE ?
		    "active" : "REVOKED", a->name);
		printf("    fingerprint %s\n", fp);
		for (j = 0; j < a->nenc; j++) {
			fmt_time(a->enc[j].not_before, t1, sizeof(t1));
			fmt_time(a->enc[j].not_after, t2, sizeof(t2));
			printf("    encryption key %u: %s to %s\n",
			    (unsigned)a->enc[j].key_id, t1, t2);
		}
	}
	printf("signatures:");
	for (i = 0; i < r->nsigs; i++) {
		name = signer_name(r, r->sigs[i].pk);
		printf(" %s", name != NULL ? name : "(not an admin of this "
		    "version)");
	}
	printf("%s\n", r->nsigs == 0 ? " none" : "");
}

static int
cmd_show(int argc, char **argv)
{
	static const int allowed[] = { O_JSON, 0 };
	static const int need[] = { 0 };
	struct ropts o;
	struct roster *r;
	int u, rc;

	if ((u = command_opts(argc, argv, allowed, need, 1, &o)) >= 0)
		return (u);
	if ((rc = kutil_load_roster(o.file, &r)) != 0) {
		kutil_err(o.file, rc);
		return (KUTIL_FAIL);
	}
	if (o.json)
		rc = show_json(r);
	else
		show_text(r);
	roster_free(r);
	return (rc == 0 ? KUTIL_OK : KUTIL_FAIL);
}

static const struct cli_cmd cmds[] = {
	{ "new", cmd_new, "--admins A.pub,B.pub,... --threshold N "
	    "--relay RELAY.request [--endpoint URL] [--request REQ]... "
	    "[--expires DAYS] --out FILE", "write roster version 1, unsigned",
	    NULL },
	{ "add", cmd_add, "--roster CUR --request REQ [--request REQ]... "
	    "[--expires DAYS] --out NEXT", "the next version, with agencies "
	    "added from their key requests", NULL },
	{ "revoke", cmd_revoke, "--roster CUR --id ID [--expires DAYS] "
	    "--out NEXT", "the next version, with an agency revoked", NULL },
	{ "rotate", cmd_rotate, "--roster CUR --key ID.key --overlap DAYS "
	    "[--validity DAYS] [--passphrase-file F] [--expires DAYS] "
	    "--out NEXT", "a new encryption key for an agency, and the next "
	    "version listing it", NULL },
	{ "add-relay", cmd_add_relay, "--roster CUR --relay RELAY.request "
	    "[--endpoint URL] [--expires DAYS] --out NEXT", "the next "
	    "version, with a relay added (or, same id, its keys replaced)",
	    NULL },
	{ "remove-relay", cmd_remove_relay, "--roster CUR --id ID "
	    "[--expires DAYS] --out NEXT", "the next version, without relay "
	    "ID", NULL },
	{ "admins", cmd_admins, "--roster CUR [--add A.pub]... "
	    "[--remove NAME]... [--threshold N] [--expires DAYS] --out NEXT",
	    "the next version, with admins or threshold changed", NULL },
	{ "sign", cmd_sign, "--roster FILE --key ADMIN.key [--previous PREV] "
	    "[--passphrase-file F]", "add an admin's signature", NULL },
	{ "verify", cmd_verify, "FILE (--previous PREV | --pin FINGERPRINT) "
	    "[--at TIME]", "check a version against its pin or the version "
	    "before", NULL },
	{ "show", cmd_show, "FILE [--json]", "print a roster", NULL },
};

const struct cli_prog kroster_prog = {
	"ferry-keys roster", "", cmds, sizeof(cmds) / sizeof(cmds[0]), NULL,
	NULL
};

int
kroster_main(int argc, char **argv)
{

	return (cli_main(&kroster_prog, argc, argv));
}
