/*
 * compare.c: ferry-audit compare A B — any two parties' logs side by side
 * (two agencies, or an agency and the relay).  Every message one party
 * logged as sent to, received from, or carried for the other is looked up
 * in the other's log; envelope hashes must agree.  What the other party
 * has not logged yet, and may still log (a message or a receipt on its
 * way), is "in flight", shown with its age; what it should have logged by
 * now, because this party holds its signed word for it, is "missing".
 *
 * Checkpoints: every checkpoint of the other party this log holds — in
 * the receipts (RECEIPT: the recipient's; ACCEPTED: the relay's) logged
 * whole, and in CHECKPOINT entries — must be signed by the other and match
 * the other's tree (a truncated or forked log is caught here).
 * Exit 1 if anything is missing or any checkpoint fails.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "ferry.h"
#include "log.h"
#include "note.h"
#include "roster.h"

#define BIT(k) (1u << (k))
#define PRINT_MAX 50

static void
found(struct findings *f, int missing, const struct msgrec *r,
    uint64_t since, const char *fmt, ...)
{
	struct finding *n;
	va_list ap;
	size_t ncap;

	if (f->n == f->cap) {
		ncap = f->cap ? f->cap * 2 : 32;
		if ((n = realloc(f->f, ncap * sizeof(*n))) == NULL) {
			f->nmissing++;	/* still counted, not listed */
			return;
		}
		f->f = n;
		f->cap = ncap;
	}
	n = &f->f[f->n++];
	memset(n, 0, sizeof(*n));
	n->missing = missing;
	if (r != NULL) {
		n->has_id = 1;
		memcpy(n->id, r->id, 16);
	}
	n->since = since;
	va_start(ap, fmt);
	vsnprintf(n->what, sizeof(n->what), fmt, ap);
	va_end(ap);
	if (missing)
		f->nmissing++;
	else
		f->ninflight++;
}

void
findings_free(struct findings *f)
{

	free(f->f);
	memset(f, 0, sizeof(*f));
}

/* Checkpoints of ${y} held by ${x}: signed by y, consistent with y's tree. */
static void
check_held(struct party *x, struct party *y, struct findings *f,
    size_t *held, size_t *good)
{
	struct note_checkpoint cp;
	struct held *h;
	uint8_t root[32];
	const char *yo = log_origin(y->l);
	uint64_t bad;
	size_t i;

	*held = *good = 0;
	/* Checked against y's stored hashes: only if they are its entries'. */
	if (x->nheld > 0 && party_tree(y, &bad) != 0) {
		found(f, 1, NULL, 0, "%s's log does not match its own entries "
		    "from entry %llu on (altered or corrupt): the checkpoints "
		    "%s holds of it cannot be checked; ferry-audit verify "
		    "names what is wrong", y->self, (unsigned long long)bad,
		    x->self);
		return;
	}
	for (i = 0; i < x->nheld; i++) {
		h = &x->held[i];
		if (strcmp(h->origin, yo) != 0 ||
		    note_parse_checkpoint(h->note, h->len, &cp) != 0)
			continue;
		(*held)++;
		if (note_verify(h->note, h->len, cp.origin, y->pk) != 0)
			found(f, 1, NULL, 0, "%s entry %llu (%s) holds a "
			    "checkpoint of %s not signed by %s's key", x->self,
			    (unsigned long long)h->idx, log_kind_name(h->kind),
			    y->self, y->self);
		else if (cp.size > y->size)
			found(f, 1, NULL, 0, "%s entry %llu (%s) holds %s's "
			    "signed checkpoint of size %llu, beyond the end of "
			    "%s's log (%llu entries): that log was truncated",
			    x->self, (unsigned long long)h->idx,
			    log_kind_name(h->kind), y->self,
			    (unsigned long long)cp.size, y->self,
			    (unsigned long long)y->size);
		else if (log_root(y->l, cp.size, root) != 0 ||
		    sodium_memcmp(root, cp.root, 32) != 0)
			found(f, 1, NULL, 0, "%s entry %llu (%s) holds %s's "
			    "signed checkpoint of size %llu that %s's log no "
			    "longer matches: rewritten or forked", x->self,
			    (unsigned long long)h->idx, log_kind_name(h->kind),
			    y->self, (unsigned long long)cp.size, y->self);
		else
			(*good)++;
	}
}

/* ${r} ended without delivery at its sender: NACK or expiry. */
static int
ended(const struct msgrec *r)
{

	return ((r->kinds & (BIT(LOG_NACK) | BIT(LOG_EXPIRED))) != 0);
}

static uint64_t
has(const struct msgrec *o, uint32_t kind)
{

	return (o != NULL && (o->kinds & BIT(kind)));
}

/* Agency ${x} and agency ${y}: ${r} is x's record, ${o} y's or NULL. */
static void
agents(struct party *x, struct party *y, struct msgrec *r,
    struct msgrec *o, struct findings *f, struct pairsum *s)
{

	if (has(r, LOG_SENT) && strcmp(audit_name(r->to), y->self) == 0) {
		s->between++;
		if (has(r, LOG_RECEIPT) || ended(r))
			s->done++;
		if (!has(o, LOG_RECEIVED)) {
			if (has(r, LOG_RECEIPT))
				found(f, 1, r, 0, "%s holds %s's delivery "
				    "receipt but %s logged no RECEIVED",
				    x->self, y->self, y->self);
			else if (!ended(r))
				found(f, 0, r, r->t[LOG_SENT], "sent by %s, "
				    "not yet received by %s", x->self, y->self);
		} else if (!has(r, LOG_RECEIPT))
			found(f, 0, r, o->t[LOG_RECEIVED], "received by %s; "
			    "receipt not yet at sender %s", y->self, x->self);
	}
	if (has(r, LOG_RECEIVED) && strcmp(audit_name(r->from), y->self) ==
	    0 && !has(o, LOG_SENT))
		found(f, 1, r, 0, "received by %s from %s, which never logged "
		    "sending it", x->self, y->self);
}

/*
 * ${x}'s log names another relay than ${y} (its routes and custody
 * receipts), or a --roster lists several (report: several relay logs are
 * given): a message ${x} received may have come through another relay
 * than ${y}.
 */
static int
several_relays(const struct party *x, const struct party *y)
{
	size_t i;

	if (x->known_relays > 1 || y->known_relays > 1)
		return (1);
	for (i = 0; i < x->nrelays; i++)
		if (strcmp(audit_name(x->relays[i]), y->self) != 0)
			return (1);
	return (0);
}

/*
 * Agency ${x} and the relay ${y}.  With several relays only the messages
 * ${x} routed through ${y} (LOG_ROUTE, or its custody receipt signed by
 * ${y}) concern it; a receipt or a custody receipt is owed by ${y} only
 * for the relay that had it last or signed it.
 */
static void
agent_relay(struct party *x, struct party *y, struct msgrec *r,
    struct msgrec *o, struct findings *f, struct pairsum *s)
{
	size_t i;
	int mine, last, only;

	if (has(r, LOG_SENT) && audit_carried(r, y->self)) {
		/* a custody receipt signed by y (or a log naming no relay):
		 * each relay that signed one must hold the message */
		mine = r->ncustody > 0 ? audit_custodian(r, y->self) :
		    r->nroutes == 0;
		last = r->nroutes == 0 || strcmp(audit_name(r->route[
		    r->nroutes - 1]), y->self) == 0;
		/* y is the only relay it went through */
		only = r->ncustody == 0 || (r->ncustody == 1 && mine);
		for (i = 0; i < r->nroutes; i++)
			only &= strcmp(audit_name(r->route[i]), y->self) == 0;
		s->between++;
		if (has(r, LOG_RECEIPT) || ended(r))
			s->done++;
		if (has(r, LOG_ACCEPTED) && mine && !has(o, LOG_ACCEPTED))
			found(f, 1, r, 0, "%s holds the relay's custody "
			    "receipt (ACCEPTED) that %s never logged",
			    x->self, y->self);
		else if (last && !has(o, LOG_ACCEPTED) && !has(r,
		    LOG_RECEIPT) && !ended(r))
			found(f, 0, r, r->t[LOG_SENT], "sent by %s, not yet "
			    "in the custody of %s", x->self, y->self);
		else if (has(o, LOG_ACCEPTED) && !has(r, LOG_ACCEPTED) &&
		    !has(r, LOG_RECEIPT) && !ended(r))
			found(f, 0, r, o->t[LOG_ACCEPTED], "in the custody of "
			    "%s; custody receipt not yet at sender %s",
			    y->self, x->self);
		if (has(r, LOG_RECEIPT) && only && !has(o, LOG_DELIVERED))
			found(f, 1, r, 0, "%s holds a delivery receipt, %s "
			    "logged no DELIVERED", x->self, y->self);
		else if (has(o, LOG_RECEIPT) && !has(r, LOG_RECEIPT))
			found(f, 0, r, o->t[LOG_RECEIPT], "delivered; %s holds "
			    "the recipient's receipt, not yet at sender %s",
			    y->self, x->self);
	} else if (has(r, LOG_SENT) && has(o, LOG_ACCEPTED) &&
	    strcmp(audit_name(o->from), x->self) == 0)
		found(f, 1, r, 0, "%s accepted a message from %s that %s never "
		    "routed to it (no LOG_ROUTE to %s)", y->self, x->self,
		    x->self, y->self);
	if (has(r, LOG_RECEIVED) && (has(o, LOG_ACCEPTED) ||
	    !several_relays(x, y))) {
		s->between++;
		s->done++;
		if (!has(o, LOG_ACCEPTED))
			found(f, 1, r, 0, "received by %s, never carried by "
			    "%s", x->self, y->self);
	}
}

/* The relay ${x} and agency ${y}: what the relay holds that y lacks. */
static void
relay_agent(struct party *x, struct party *y, struct msgrec *r,
    struct msgrec *o, struct findings *f)
{

	if (!has(r, LOG_ACCEPTED))
		return;
	if (strcmp(audit_name(r->from), y->self) == 0 && !has(o, LOG_SENT))
		found(f, 1, r, 0, "%s accepted a message from %s that %s "
		    "never logged sending", x->self, y->self, y->self);
	if (strcmp(audit_name(r->to), y->self) == 0 && !has(o, LOG_RECEIVED)) {
		if (has(r, LOG_DELIVERED))
			found(f, 1, r, 0, "%s logged delivery to %s, which "
			    "logged no RECEIVED", x->self, y->self);
		else if (!has(r, LOG_EXPIRED) && !has(r, LOG_NACK))
			found(f, 0, r, r->t[LOG_ACCEPTED], "queued at %s for "
			    "%s, not yet received", x->self, y->self);
	}
}

/* Messages logged by ${x} that concern ${y}. */
static void
account(struct party *x, struct party *y, struct findings *f,
    struct pairsum *s, int hashes)
{
	struct msgrec *r, *o;
	size_t i;

	for (i = 0; i < x->t.cap; i++) {
		r = &x->t.r[i];
		if (!r->used)
			continue;
		o = msgtab_get(&y->t, r->id, 0);
		if (!x->relay && !y->relay)
			agents(x, y, r, o, f, s);
		else if (!x->relay && y->relay)
			agent_relay(x, y, r, o, f, s);
		else if (x->relay && !y->relay)
			relay_agent(x, y, r, o, f);
		/* The same message must be the same envelope on both sides. */
		if (o != NULL && r->has_hash && o->has_hash &&
		    memcmp(r->env_hash, o->env_hash, 32) != 0 && hashes)
			found(f, 1, r, 0, "envelope hash differs between %s "
			    "and %s", x->self, y->self);
	}
}

int
audit_compare(struct party *a, struct party *b, struct findings *f,
    struct pairsum *s)
{

	memset(s, 0, sizeof(*s));
	check_held(a, b, f, &s->held_ab, &s->good_ab);
	check_held(b, a, f, &s->held_ba, &s->good_ba);
	account(a, b, f, s, 1);
	account(b, a, f, s, 0);
	return (f->nmissing > 0);
}

static json_t *
json_finding(const struct finding *n, uint64_t now)
{
	char id[33], t[32];
	json_t *o;

	o = json_pack("{s:s,s:s}", "status", n->missing ? "missing" :
	    "in flight", "what", n->what);
	if (o == NULL)
		return (NULL);
	if (n->has_id) {
		ferry_hex(id, n->id, 16);
		json_object_set_new(o, "msg_id", json_string(id));
	}
	if (!n->missing && n->since > 0) {
		json_object_set_new(o, "since", json_string(ferry_utc(t,
		    sizeof(t), n->since)));
		json_object_set_new(o, "age_ms", json_integer((json_int_t)(now >
		    n->since ? now - n->since : 0)));
	}
	return (o);
}

static json_t *
json_side(const struct party *p)
{

	return (json_pack("{s:s,s:s,s:s,s:I,s:I,s:b}", "dir", p->dir, "origin",
	    log_origin(p->l), "agency", p->self, "entries",
	    (json_int_t)p->size, "messages", (json_int_t)p->t.n, "relay",
	    p->relay));
}

static void
print_finding(const struct finding *n, uint64_t now)
{
	char id[33], t[32], age[32];

	if (n->has_id) {
		ferry_hex(id, n->id, 16);
		printf("%s msg %s: %s", n->missing ? "MISSING" : "IN FLIGHT",
		    id, n->what);
	} else
		printf("%s: %s", n->missing ? "MISSING" : "IN FLIGHT",
		    n->what);
	if (!n->missing && n->since > 0)
		printf(" (since %s, %s ago)", ferry_utc(t, sizeof(t), n->since),
		    audit_age(age, sizeof(age), now > n->since ? now - n->since :
		    0));
	putchar('\n');
}

int
cmd_compare(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key-a", required_argument, NULL, 'a' },
		{ "key-b", required_argument, NULL, 'b' },
		{ "roster", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct party a, b;
	struct findings f;
	struct pairsum s;
	struct roster *ro[64];
	const char *ka = NULL, *kb = NULL, *rfiles[64];
	uint64_t now = ferry_now_ms();
	size_t nr = 0, i;
	json_t *out, *list;
	int ch, json = 0, ret;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&f, 0, sizeof(f));
	while ((ch = getopt_long(argc, argv, ":a:b:r:j", opts, NULL)) != -1) {
		if (ch == 'a')
			ka = optarg;
		else if (ch == 'b')
			kb = optarg;
		else if (ch == 'j')
			json = 1;
		else if (ch == 'r' && nr < 64)
			rfiles[nr++] = optarg;
		else if (ch == 'r')
			return (cli_usage("more than 64 --roster"));
		else
			return (cli_opt_error(ch, argv));
	}
	if ((ret = audit_operands(argc, argv, "LOGDIR_A LOGDIR_B")) >= 0)
		return (ret);
	ret = 1;
	if (audit_load_rosters(rfiles, nr, ro) != 0 ||
	    party_open(&a, argv[optind], ka, ro, nr) != 0 ||
	    party_open(&b, argv[optind + 1], kb, ro, nr) != 0)
		goto out;
	audit_compare(&a, &b, &f, &s);
	ret = f.nmissing > 0;
	if (json) {
		if ((list = json_array()) == NULL)
			goto out;
		for (i = 0; i < f.n; i++)
			json_array_append_new(list, json_finding(&f.f[i], now));
		out = json_pack("{s:o,s:o,s:I,s:I,s:I,s:I,s:{s:I,s:I},"
		    "s:{s:I,s:I},s:o,s:b}", "a", json_side(&a), "b",
		    json_side(&b), "messages_between", (json_int_t)s.between,
		    "finished", (json_int_t)s.done, "in_flight",
		    (json_int_t)f.ninflight, "missing", (json_int_t)f.nmissing,
		    "a_holds_checkpoints_of_b", "held", (json_int_t)s.held_ab,
		    "verified", (json_int_t)s.good_ab,
		    "b_holds_checkpoints_of_a", "held", (json_int_t)s.held_ba,
		    "verified", (json_int_t)s.good_ba, "findings", list,
		    "ok", ret == 0);
		if (out == NULL || json_dumpf(out, stdout, JSON_INDENT(2)) != 0)
			ret = 1;
		putchar('\n');
		json_decref(out);
		goto out;
	}
	printf("A %s: %s, %llu entries, %zu messages%s\n", a.self, a.dir,
	    (unsigned long long)a.size, a.t.n, a.relay ? " (relay)" : "");
	printf("B %s: %s, %llu entries, %zu messages%s\n", b.self, b.dir,
	    (unsigned long long)b.size, b.t.n, b.relay ? " (relay)" : "");
	printf("checkpoints held (from receipts and CHECKPOINT entries): "
	    "%s holds %zu of %s's (%zu verified), %s holds %zu of %s's (%zu "
	    "verified)\n", a.self, s.held_ab, b.self, s.good_ab, b.self,
	    s.held_ba, a.self, s.good_ba);
	for (i = 0; i < f.n && i < PRINT_MAX; i++)
		print_finding(&f.f[i], now);
	if (f.n > PRINT_MAX)
		printf("(%zu more findings not shown; --json lists all)\n",
		    f.n - PRINT_MAX);
	if (f.nmissing == 0 && s.between == 0)
		printf("OK: no message between %s and %s\n", a.self, b.self);
	else if (f.nmissing == 0)
		printf("OK: every message accounted for (%zu between %s and "
		    "%s: %zu finished, %zu in flight)\n", s.between, a.self,
		    b.self, s.done, f.ninflight);
	else
		printf("FAILED: %zu missing, %zu in flight, of %zu messages "
		    "between %s and %s\n", f.nmissing, f.ninflight, s.between,
		    a.self, b.self);
out:
	party_close(&a);
	party_close(&b);
	for (i = 0; i < nr; i++)
		roster_free(ro[i]);
	findings_free(&f);
	return (ret);
}
