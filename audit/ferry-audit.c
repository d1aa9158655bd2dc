/*
 * ferry-audit: the auditor's tool.  Verifies a party's log, produces and
 * checks inclusion proofs, compares two parties' logs, exports entries.
 * Exit status: 0 all holds, 1 a verification failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "ferry.h"
#include "log.h"

static const struct cli_cmd cmds[] = {
	{ "verify", cmd_verify, "LOGDIR [--key KEY] [--roster FILE]... "
	    "[--pin FINGERPRINT] [--checkpoint FILE]... [--json]", "recompute "
	    "the tree, check checkpoints, entries, envelopes (--pin: the "
	    "fingerprint of the oldest --roster)", NULL },
	{ "prove", cmd_prove, "LOGDIR MSGID [--kind KIND] [--receipt]",
	    "write an inclusion proof of a message's entry under the latest "
	    "checkpoint to stdout (--receipt: the receipt the entry holds)",
	    NULL },
	{ "check-proof", cmd_check_proof, "FILE --key KEY [--roster FILE] "
	    "[--origin ORIGIN]", "verify a proof file or a receipt offline",
	    NULL },
	{ "compare", cmd_compare, "LOGDIR_A LOGDIR_B [--key-a KEY] "
	    "[--key-b KEY] [--roster FILE]... [--json]", "account for each "
	    "party's messages in the other's log: missing or in flight", NULL },
	{ "report", cmd_report, "LOGDIR... [--html FILE] [--json] "
	    "[--roster FILE]...", "one report over several parties' logs: "
	    "checkpoints, every message's timeline, findings, roster history, "
	    "erasures (HTML to print, or JSON)", NULL },
	{ "export", cmd_export, "LOGDIR --json | --csv", "every entry, for "
	    "other tools", NULL },
};

static const struct cli_prog prog = {
	"ferry-audit", "", cmds, sizeof(cmds) / sizeof(cmds[0]), NULL,
	"KEY is a public signing key: 64 hex digits, a file holding them "
	"(or the 32 raw\nbytes), a key request file (ferry-keys init), or an "
	"agency or relay id looked\nup in the newest --roster.\nTimes are "
	"ISO 8601 UTC.  Checkpoints: every commit of a log signs one; a\n"
	"party holds the others' in the receipts it logs (docs/audit.md).\nExit status: 0 all holds, 1 a verification failed (or an "
	"error), 2 usage."
};

int
audit_operands(int argc, char **argv, const char *names)
{
	const char *w = names;
	int i;

	for (i = optind; i < argc; i++) {
		if (w == NULL)
			return (cli_usage("unexpected argument '%s'",
			    argv[i]));
		if ((w = strchr(w, ' ')) != NULL)
			w++;
	}
	if (w != NULL)
		return (cli_usage("missing %.*s", (int)strcspn(w, " "), w));
	return (-1);
}

int
msgtab_init(struct msgtab *t)
{

	t->cap = 1024;
	t->n = 0;
	if ((t->r = calloc(t->cap, sizeof(*t->r))) == NULL)
		return (FERRY_ENOMEM);
	return (0);
}

void
msgtab_free(struct msgtab *t)
{

	free(t->r);
	t->r = NULL;
}

static size_t
slot(const struct msgtab *t, const uint8_t id[16])
{
	uint64_t h;

	memcpy(&h, id, 8);	/* ids are random: any 8 bytes hash well */
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= id[8] | ((uint64_t)id[15] << 8);
	h ^= h >> 32;
	return ((size_t)h & (t->cap - 1));
}

struct msgrec *
msgtab_get(struct msgtab *t, const uint8_t id[16], int create)
{
	struct msgrec *old, *r;
	size_t i, oldcap;

	if (create && (t->n + 1) * 2 > t->cap) {
		old = t->r;
		oldcap = t->cap;
		if ((t->r = calloc(oldcap * 2, sizeof(*t->r))) == NULL) {
			t->r = old;
			return (NULL);
		}
		t->cap = oldcap * 2;
		for (i = 0; i < oldcap; i++) {
			if (!old[i].used)
				continue;
			r = &t->r[slot(t, old[i].id)];
			while (r->used)
				r = (r == &t->r[t->cap - 1]) ? t->r : r + 1;
			*r = old[i];
		}
		free(old);
	}
	r = &t->r[slot(t, id)];
	while (r->used) {
		if (memcmp(r->id, id, 16) == 0)
			return (r);
		r = (r == &t->r[t->cap - 1]) ? t->r : r + 1;
	}
	if (!create)
		return (NULL);
	memset(r, 0, sizeof(*r));
	r->used = 1;
	memcpy(r->id, id, 16);
	r->first = UINT64_MAX;
	t->n++;
	return (r);
}

int
msgrec_note(struct msgrec *r, uint64_t idx, const struct log_entry *e)
{
	uint32_t n;
	size_t k;

	if (!(r->kinds & (1u << e->kind)) && e->kind <= LOG_KIND_MAX)
		r->t[e->kind] = e->time_ms;
	r->kinds |= 1u << e->kind;
	if (idx < r->first)
		r->first = idx;
	if (!r->has_hash && (e->kind == LOG_SENT || e->kind == LOG_RECEIVED ||
	    e->kind == LOG_ACCEPTED)) {
		memcpy(r->env_hash, e->env_hash, 32);
		r->has_hash = 1;
		if ((r->from = audit_intern(e->from)) == UINT32_MAX ||
		    (r->to = audit_intern(e->to)) == UINT32_MAX)
			return (FERRY_ENOMEM);
	}
	if (e->kind == LOG_ROUTE) {
		if ((n = audit_intern(e->to)) == UINT32_MAX)
			return (FERRY_ENOMEM);
		k = r->nroutes < AUDIT_ROUTES_MAX ? r->nroutes++ :
		    AUDIT_ROUTES_MAX - 1;
		r->route[k] = n;
		r->route_code[k] = (uint8_t)e->code;
	}
	return (0);
}

int
audit_open(const char *dir, struct log **out)
{
	char who[64];
	int rc;

	if ((rc = log_open(dir, NULL, NULL, out)) == 0)
		return (0);
	if (rc == FERRY_EACCES && ferry_owner(dir, who, sizeof(who)) == 0)
		fprintf(stderr, "ferry-audit: %s: permission denied (the log, "
		    "or its folder, belongs to %s): run as that user, or audit "
		    "a copy you may read (mdb_copy %s COPY)\n", dir, who, dir);
	else if (rc == FERRY_EACCES)
		fprintf(stderr, "ferry-audit: %s: permission denied on it or "
		    "its folder: run as the log's owner, or audit a copy you "
		    "may read\n", dir);
	else
		fprintf(stderr, "ferry-audit: %s: %s\n", dir,
		    ferry_strerror(rc));
	return (rc);
}

/* Agency ids are few: keep each once, look them up by hash. */
static char **names;
static size_t nnames, capnames;
static uint32_t *nslots;
static size_t capslots;

static size_t
strhash(const char *s)
{
	size_t h = 5381;

	while (*s != '\0')
		h = h * 33 + (unsigned char)*s++;
	return (h);
}

uint32_t
audit_intern(const char *s)
{
	uint32_t *ns;
	char **nn;
	size_t i, j, ncap;

	if (capslots == 0 || (nnames + 1) * 2 > capslots) {
		ncap = capslots ? capslots * 2 : 64;
		if ((ns = malloc(ncap * sizeof(*ns))) == NULL)
			return (UINT32_MAX);
		for (i = 0; i < ncap; i++)
			ns[i] = UINT32_MAX;
		for (i = 0; i < nnames; i++) {
			for (j = strhash(names[i]) & (ncap - 1);
			    ns[j] != UINT32_MAX; j = (j + 1) & (ncap - 1))
				continue;
			ns[j] = (uint32_t)i;
		}
		free(nslots);
		nslots = ns;
		capslots = ncap;
	}
	for (j = strhash(s) & (capslots - 1); nslots[j] != UINT32_MAX;
	    j = (j + 1) & (capslots - 1))
		if (strcmp(names[nslots[j]], s) == 0)
			return (nslots[j]);
	if (nnames == capnames) {
		ncap = capnames ? capnames * 2 : 64;
		if ((nn = realloc(names, ncap * sizeof(*nn))) == NULL)
			return (UINT32_MAX);
		names = nn;
		capnames = ncap;
	}
	if (nnames >= UINT32_MAX - 1 || (names[nnames] = strdup(s)) == NULL)
		return (UINT32_MAX);
	nslots[j] = (uint32_t)nnames;
	return ((uint32_t)nnames++);
}

const char *
audit_name(uint32_t n)
{

	return (n < nnames ? names[n] : "");
}

int
audit_read_key(const char *arg, uint8_t pk[32])
{
	uint8_t *buf;
	char hex[65];
	size_t len, i, j;

	if (strlen(arg) == 64 && ferry_unhex(pk, 32, arg) == 0)
		return (0);
	if (ferry_read_file(arg, 4096, &buf, &len, 0) != 0)
		return (FERRY_ENOENT);
	if (len == 32) {
		memcpy(pk, buf, 32);
		free(buf);
		return (0);
	}
	/* the first 64 hex digits of the file, ignoring whitespace */
	for (i = 0, j = 0; i < len && j < 64; i++) {
		if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' ||
		    buf[i] == '\r')
			continue;
		hex[j++] = (char)buf[i];
	}
	hex[j] = '\0';
	free(buf);
	if (j != 64 || ferry_unhex(pk, 32, hex) != 0)
		return (FERRY_EBADKEYFILE);
	return (0);
}

const char *
audit_party(const char *origin)
{
	const char *id = origin + 6;

	/* Exactly what the daemons write: any other origin names no party,
	 * so that a log rebuilt under "relay" or "x/ferry/relay" cannot pass
	 * for the relay's while every checkpoint others hold of it (origin
	 * "ferry/relay") is left aside. */
	if (strncmp(origin, "ferry/", 6) != 0 ||
	    !ferry_id_valid(id, strlen(id)))
		return ("");
	return (id);
}

/*
 * A log's data file cut short (truncated, copied in part) faults with
 * SIGBUS where a page it counts is read through the map.  Said as such,
 * exit 1 (a failed check), instead of the shell's "Bus error".  The size
 * cannot be checked before: LMDB counts pages it never writes (freed in
 * the transaction that dirtied them), so a sound file may be shorter
 * than its page count.
 */
static void
on_sigbus(int sig)
{
	static const char msg[] = "ferry-audit: FAILED: the log's data file "
	    "ends before a page it holds (cut short: truncated, or copied in "
	    "part); copy the log again (mdb_copy) and check the copy\n";
	ssize_t n;

	(void)sig;
	n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)n;
	_exit(1);
}

int
main(int argc, char **argv)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	(void)sigaction(SIGBUS, &sa, NULL);
	if (sodium_init() < 0) {
		fprintf(stderr, "ferry-audit: sodium_init failed\n");
		return (1);
	}
	if (argc > 1 && strcmp(argv[1], "_tree") == 0)	/* hidden: interop */
		return (cmd_tree(argc - 1, argv + 1));
	return (cli_main(&prog, argc, argv));
}
