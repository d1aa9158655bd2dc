/*
 * compare.c: ferry-audit compare A B — two parties' logs side by side
 * (sender and recipient, or an agent and the relay).  Every message one
 * party logged as sent to, received from, or carried for the other is
 * looked up in the other's log; envelope hashes must agree; checkpoints
 * each holds of the other must be signed by the other and match the
 * other's tree (a truncated or forked log is caught here).  Every
 * discrepancy is listed; exit 1 if there is any.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "ferry.h"
#include "log.h"
#include "note.h"

#define BIT(k) (1u << (k))
#define PRINT_MAX 50

struct side {
	const char *dir;
	struct log *l;
	struct msgtab t;
	const char *self;
	int relay;
	uint8_t pk[32];
	/* checkpoints of the other party held in this log */
	uint8_t **notes;
	size_t *lens;
	uint64_t *at;
	size_t n, cap;
};

static int ndisc;

static void
disc(const struct msgrec *r, const char *fmt, const char *a, const char *b)
{
	char id[33];

	ndisc++;
	if (ndisc > PRINT_MAX)
		return;
	if (r != NULL) {
		ferry_hex(id, r->id, 16);
		printf("DISCREPANCY msg %s: ", id);
	} else
		printf("DISCREPANCY: ");
	printf(fmt, a, b);
	putchar('\n');
}

struct cpctx {
	struct side *s;
	const char *other_origin;
};

static int
cp_cb(void *ctx, uint64_t idx, const struct log_entry *e, const uint8_t *raw,
    size_t rawlen)
{
	struct cpctx *c = ctx;
	struct side *s = c->s;
	struct note_checkpoint cp;
	void *p;
	size_t ncap;

	if (e->kind != LOG_CHECKPOINT || note_parse_checkpoint(e->aux,
	    e->aux_len, &cp) != 0 || strcmp(cp.origin, c->other_origin) != 0)
		return (0);
	if (s->n == s->cap) {
		ncap = s->cap ? s->cap * 2 : 32;
		if ((p = realloc(s->notes, ncap * sizeof(*s->notes))) == NULL)
			return (FERRY_ENOMEM);
		s->notes = p;
		if ((p = realloc(s->lens, ncap * sizeof(*s->lens))) == NULL)
			return (FERRY_ENOMEM);
		s->lens = p;
		if ((p = realloc(s->at, ncap * sizeof(*s->at))) == NULL)
			return (FERRY_ENOMEM);
		s->at = p;
		s->cap = ncap;
	}
	if ((s->notes[s->n] = malloc(e->aux_len)) == NULL)
		return (FERRY_ENOMEM);
	memcpy(s->notes[s->n], e->aux, e->aux_len);
	s->lens[s->n] = e->aux_len;
	s->at[s->n++] = idx;
	return (0);
}

/* Checkpoints of ${y} held by ${x}: signed by y, consistent with y's tree. */
static void
check_held(struct side *x, struct side *y)
{
	struct note_checkpoint cp;
	uint8_t root[32];
	char where[64];
	size_t i;

	for (i = 0; i < x->n; i++) {
		snprintf(where, sizeof(where), "%llu",
		    (unsigned long long)x->at[i]);
		if (note_parse_checkpoint(x->notes[i], x->lens[i], &cp) != 0)
			continue;
		if (note_verify(x->notes[i], x->lens[i], cp.origin, y->pk) != 0) {
			disc(NULL, "%s entry %s holds a checkpoint of the other "
			    "log not signed by its key", x->dir, where);
			continue;
		}
		if (cp.size > log_size(y->l)) {
			disc(NULL, "%s holds a signed checkpoint (entry %s) "
			    "beyond the other log's end: that log was "
			    "truncated", x->dir, where);
			continue;
		}
		if (log_root(y->l, cp.size, root) != 0 ||
		    sodium_memcmp(root, cp.root, 32) != 0)
			disc(NULL, "%s holds a signed checkpoint (entry %s) "
			    "that the other log's history no longer matches: "
			    "rewritten or forked", x->dir, where);
	}
}

/* Messages logged by ${x} that concern ${y}. */
static void
account(struct side *x, struct side *y)
{
	struct msgrec *r, *o;
	size_t i;

	for (i = 0; i < x->t.cap; i++) {
		r = &x->t.r[i];
		if (!r->used)
			continue;
		o = msgtab_get(&y->t, r->id, 0);
		if (!x->relay && !y->relay) {
			/* agent to agent */
			if ((r->kinds & BIT(LOG_SENT)) &&
			    strcmp(audit_name(r->to), y->self) == 0) {
				if (o == NULL || !(o->kinds & BIT(LOG_RECEIVED))) {
					if (r->kinds & BIT(LOG_RECEIPT))
						disc(r, "%s holds a receipt but "
						    "%s logged no RECEIVED",
						    x->dir, y->dir);
					else if (!(r->kinds & (BIT(LOG_EXPIRED) |
					    BIT(LOG_NACK))))
						disc(r, "sent by %s, not received "
						    "by %s (in flight or lost)",
						    x->dir, y->dir);
				} else if (!(r->kinds & BIT(LOG_RECEIPT)))
					disc(r, "received by %s but %s logged "
					    "no receipt", y->dir, x->dir);
			}
			if ((r->kinds & BIT(LOG_RECEIVED)) &&
			    strcmp(audit_name(r->from), y->self) == 0 &&
			    (o == NULL || !(o->kinds & BIT(LOG_SENT))))
				disc(r, "received by %s from %s, which never "
				    "logged sending it", x->dir, y->dir);
		} else if (!x->relay && y->relay) {
			/* agent x and the relay y */
			if ((r->kinds & BIT(LOG_SENT)) &&
			    (o == NULL || !(o->kinds & BIT(LOG_ACCEPTED))) &&
			    !(r->kinds & (BIT(LOG_NACK) | BIT(LOG_EXPIRED))))
				disc(r, "sent by %s, no custody (ACCEPTED) "
				    "logged by %s", x->dir, y->dir);
			if ((r->kinds & BIT(LOG_ACCEPTED)) &&
			    (o == NULL || !(o->kinds & BIT(LOG_ACCEPTED))))
				disc(r, "%s holds a custody receipt that %s "
				    "never logged", x->dir, y->dir);
			if ((r->kinds & BIT(LOG_SENT)) &&
			    (r->kinds & BIT(LOG_RECEIPT)) &&
			    (o == NULL || !(o->kinds & BIT(LOG_DELIVERED))))
				disc(r, "%s holds a delivery receipt, %s logged "
				    "no DELIVERED", x->dir, y->dir);
			if ((r->kinds & BIT(LOG_RECEIVED)) &&
			    (o == NULL || !(o->kinds & BIT(LOG_ACCEPTED))))
				disc(r, "received by %s, never carried by %s",
				    x->dir, y->dir);
		} else if (x->relay && !y->relay) {
			/* the relay x and agent y */
			if (strcmp(audit_name(r->from), y->self) == 0 &&
			    (r->kinds & BIT(LOG_ACCEPTED)) &&
			    (o == NULL || !(o->kinds & BIT(LOG_SENT))))
				disc(r, "%s accepted a message from %s that it "
				    "never logged sending", x->dir, y->dir);
			if (strcmp(audit_name(r->to), y->self) == 0 &&
			    (r->kinds & BIT(LOG_DELIVERED)) &&
			    (o == NULL || !(o->kinds & BIT(LOG_RECEIVED))))
				disc(r, "%s logged delivery to %s, which logged "
				    "no RECEIVED", x->dir, y->dir);
		}
		/* The same message must be the same envelope on both sides. */
		if (o != NULL && r->has_hash && o->has_hash &&
		    memcmp(r->env_hash, o->env_hash, 32) != 0)
			disc(r, "envelope hash differs between %s and %s",
			    x->dir, y->dir);
	}
}

static int
open_side(struct side *s, const char *dir, const char *keyarg)
{
	struct msgrec *r;
	size_t i;
	int rc;

	s->dir = dir;
	if (audit_open(dir, &s->l) != 0)
		return (-1);
	s->self = audit_party(log_origin(s->l));
	if (keyarg != NULL) {
		if (audit_read_key(keyarg, s->pk) != 0) {
			fprintf(stderr, "ferry-audit: cannot read key %s\n",
			    keyarg);
			return (-1);
		}
	} else
		log_pubkey(s->l, s->pk);
	if ((rc = msgtab_init(&s->t)) != 0 ||
	    (rc = audit_load_tab(s->l, &s->t)) != 0) {
		fprintf(stderr, "ferry-audit: %s: %s\n", dir,
		    ferry_strerror(rc));
		return (-1);
	}
	/* A log is the relay's if it carries messages neither from nor to it. */
	for (i = 0; i < s->t.cap; i++) {
		r = &s->t.r[i];
		if (r->used && r->has_hash &&
		    strcmp(audit_name(r->from), s->self) != 0 &&
		    strcmp(audit_name(r->to), s->self) != 0)
			s->relay = 1;
	}
	return (0);
}

static void
close_side(struct side *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->notes[i]);
	free(s->notes);
	free(s->lens);
	free(s->at);
	msgtab_free(&s->t);
	log_close(s->l);
}

int
cmd_compare(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key-a", required_argument, NULL, 'a' },
		{ "key-b", required_argument, NULL, 'b' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct side a, b;
	struct cpctx c;
	const char *ka = NULL, *kb = NULL;
	int ch, ret = 1;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	while ((ch = getopt_long(argc, argv, ":a:b:", opts, NULL)) != -1) {
		if (ch == 'a')
			ka = optarg;
		else if (ch == 'b')
			kb = optarg;
		else
			return (cli_opt_error(ch, argv));
	}
	if ((ret = audit_operands(argc, argv, "LOGDIR_A LOGDIR_B")) >= 0)
		return (ret);
	ret = 1;
	if (open_side(&a, argv[optind], ka) != 0 ||
	    open_side(&b, argv[optind + 1], kb) != 0)
		goto out;
	printf("A %s: %s, %llu entries, %zu messages%s\n", a.dir,
	    log_origin(a.l), (unsigned long long)log_size(a.l), a.t.n,
	    a.relay ? " (relay)" : "");
	printf("B %s: %s, %llu entries, %zu messages%s\n", b.dir,
	    log_origin(b.l), (unsigned long long)log_size(b.l), b.t.n,
	    b.relay ? " (relay)" : "");
	ndisc = 0;
	c.s = &a;
	c.other_origin = log_origin(b.l);
	if (log_foreach(a.l, 0, cp_cb, &c, NULL) != 0)
		disc(NULL, "%s: cannot read entries%s", a.dir, "");
	c.s = &b;
	c.other_origin = log_origin(a.l);
	if (log_foreach(b.l, 0, cp_cb, &c, NULL) != 0)
		disc(NULL, "%s: cannot read entries%s", b.dir, "");
	check_held(&a, &b);
	check_held(&b, &a);
	printf("checkpoints held: A holds %zu of B, B holds %zu of A\n", a.n,
	    b.n);
	account(&a, &b);
	account(&b, &a);
	if (ndisc == 0) {
		printf("OK: every message accounted for\n");
		ret = 0;
	} else
		printf("FAILED: %d discrepancies\n", ndisc);
out:
	close_side(&a);
	close_side(&b);
	return (ret);
}
