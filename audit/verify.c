/*
 * verify.c: ferry-audit verify LOGDIR — does this log hold together?
 *
 *  1. every entry decodes and every stored hash equals the one recomputed
 *     from the entries (log_check), naming the first bad entry;
 *  2. every stored checkpoint (and every one given with --checkpoint, as
 *     held by another party) is signed by the log's key, names a size the
 *     log has, and its root equals the recomputed root at that size; each
 *     is consistent with the one before it (RFC 6962 consistency proof);
 *  3. message ids unique per kind where required (ACCEPTED: per relay, a
 *     further one only from a relay the message was routed to before it,
 *     LOG_ROUTE); every route follows a SENT; every receipt, delivery
 *     and expiry refers to a message logged before it; every erasure
 *     refers to the message's first entry, is authorised, and its
 *     envelope is gone;
 *  4. with --roster: every stored envelope verifies under the signing key
 *     its sender had in the roster version the entry names; every roster
 *     entry names the hash of that roster version; checkpoints of other
 *     parties held in the log verify under their keys.
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
#include "envelope.h"
#include "ferry.h"
#include "log.h"
#include "merkle.h"
#include "note.h"
#include "roster.h"

#define MAX_ROSTERS 256
#define MAX_HELD 64
#define PRINT_MAX 20

struct pending {
	uint64_t idx;
	uint32_t kind;
	uint8_t msg_id[16];
	uint8_t env_hash[32];
	uint64_t ref;
	uint64_t roster_version;
	int32_t code;
	uint32_t from;		/* interned */
};

struct plist {
	struct pending *p;
	size_t n, cap;
};

struct vstate {
	struct log *l;
	struct msgtab tab;
	struct plist envs, erasures;
	struct roster *rosters[MAX_ROSTERS];
	size_t nrosters;
	int fails;
	uint64_t first_bad;
	char first_why[512];
	uint64_t nentries, nchecked_env, nerased, nnotstored, nforeign;
	uint64_t nproven;	/* receipts by proof held as aux, verified */
	struct env_note_cache cache;
	const char *dir;
	uint64_t nsize;		/* log size when the walk began */
	json_t *problems;	/* --json: every problem; else NULL (printed) */
};

static void
vfail(struct vstate *v, uint64_t idx, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (v->problems != NULL)
		json_array_append_new(v->problems, json_pack("{s:o,s:s}",
		    "entry", idx == UINT64_MAX ? json_null() :
		    json_integer((json_int_t)idx), "what", buf));
	else if (v->fails < PRINT_MAX) {
		if (idx == UINT64_MAX)
			printf("FAIL: %s\n", buf);
		else
			printf("FAIL: entry %llu: %s\n", (unsigned long long)idx,
			    buf);
	}
	if (v->fails == 0 || idx < v->first_bad) {
		v->first_bad = idx;
		snprintf(v->first_why, sizeof(v->first_why), "%s", buf);
	}
	v->fails++;
}

static int
plist_add(struct plist *pl, const struct log_entry *e, uint64_t idx)
{
	struct pending *np;
	size_t ncap;

	if (pl->n == pl->cap) {
		ncap = pl->cap ? pl->cap * 2 : 256;
		if ((np = realloc(pl->p, ncap * sizeof(*np))) == NULL)
			return (FERRY_ENOMEM);
		pl->p = np;
		pl->cap = ncap;
	}
	np = &pl->p[pl->n++];
	np->idx = idx;
	np->kind = e->kind;
	memcpy(np->msg_id, e->msg_id, 16);
	memcpy(np->env_hash, e->env_hash, 32);
	np->ref = e->ref_index;
	np->roster_version = e->roster_version;
	np->code = e->code;
	if ((np->from = audit_intern(e->from)) == UINT32_MAX)
		return (FERRY_ENOMEM);
	return (0);
}

/* The roster in force for ${version}: that version, else the newest. */
static const struct roster *
roster_for(struct vstate *v, uint64_t version)
{
	size_t i;

	for (i = 0; i < v->nrosters; i++)
		if (v->rosters[i]->version == version)
			return (v->rosters[i]);
	return (v->nrosters ? v->rosters[v->nrosters - 1] : NULL);
}

/* Signing key of ${id} in ${r}: a relay or an agency (even revoked). */
static int
key_of(const struct roster *r, const char *id, uint8_t pk[32], int *revoked)
{
	const struct roster_agency *a;
	const struct roster_relay *rl;

	*revoked = 0;
	if ((rl = roster_find_relay(r, id)) != NULL) {
		memcpy(pk, rl->sign_pk, 32);
		return (0);
	}
	if ((a = roster_find(r, id)) == NULL)
		return (FERRY_EUNKNOWNAGENCY);
	memcpy(pk, a->sign_pk, 32);
	*revoked = (a->revoked != 0 && a->revoked <= r->version);
	return (0);
}

/*
 * ACCEPTED ${e} (entry ${idx}) of message ${r}: one per relay (its from);
 * a further one only from a relay the sender routed the message to (a
 * LOG_ROUTE before it).  Remembers the relay in r->custody.
 */
static int
accepted_again(struct vstate *v, uint64_t idx, const struct log_entry *e,
    struct msgrec *r)
{
	uint32_t n;
	size_t i;
	int routed = 0;

	if ((n = audit_intern(e->from)) == UINT32_MAX)
		return (FERRY_ENOMEM);
	if (r->kinds & (1u << LOG_ACCEPTED)) {
		for (i = 0; i < r->ncustody; i++)
			if (r->custody[i] == n) {
				vfail(v, idx, "second ACCEPTED entry from %s "
				    "for the same message id", e->from[0] ?
				    e->from : "(no relay named)");
				return (0);
			}
		for (i = 0; i < r->nroutes; i++)
			routed |= r->route[i] == n;
		/* More routes than kept: an early one may be forgotten. */
		if (!routed && r->nroutes < AUDIT_ROUTES_MAX)
			vfail(v, idx, "second ACCEPTED of the message, from "
			    "%s, which it was never routed to (no LOG_ROUTE "
			    "to %s before it)", e->from[0] ? e->from :
			    "(no relay named)", e->from[0] ? e->from : "it");
	}
	if (r->ncustody < AUDIT_ROUTES_MAX)
		r->custody[r->ncustody++] = n;
	return (0);
}

/*
 * A receipt by proof (RECEIPT_P, ACCEPTED_P) held as the aux of
 * ACCEPTED / RECEIPT entry ${e} (entry ${idx}): it concerns the entry's
 * message and envelope and its proof holds under its signer's key in the
 * roster version the entry names (docs/protocol.md 5.7), signed by the
 * party the entry names (its from): for a RECEIPT_P the recipient of
 * message ${r} (may be NULL), for an ACCEPTED_P a relay.  Signed receipts
 * (types 2 and 3, older logs) are left as they were.
 */
static void
check_aux_receipt(struct vstate *v, uint64_t idx, const struct log_entry *e,
    const struct msgrec *r)
{
	const struct roster *ro;
	struct env env;
	uint8_t pk[32];
	int rc, revoked;

	if (e->aux_len == 0)
		return;
	if (env_decode(e->aux, e->aux_len, 0, &env) != 0) {
		vfail(v, idx, "the receipt held in this %s entry does not "
		    "decode", log_kind_name(e->kind));
		return;
	}
	if (!ENV_IS_PROOF(env.type))
		return;
	if (strcmp(env.from, e->from) != 0) {
		vfail(v, idx, "%s held in a %s entry of %s is %s's",
		    env_type_name(env.type), log_kind_name(e->kind), e->from,
		    env.from);
		return;
	}
	if (env.type == ENV_RECEIPT_P && r != NULL && r->has_hash &&
	    strcmp(env.from, audit_name(r->to)) != 0) {
		vfail(v, idx, "RECEIPT_P of %s for a message to %s: a "
		    "delivery receipt is the recipient's", env.from,
		    audit_name(r->to));
		return;
	}
	if ((env.type == ENV_RECEIPT_P) != (e->kind == LOG_RECEIPT) ||
	    memcmp(env.msg_id, e->msg_id, 16) != 0 ||
	    memcmp(env.env_hash, e->env_hash, 32) != 0) {
		vfail(v, idx, "%s held in a %s entry names another message or "
		    "envelope", env_type_name(env.type), log_kind_name(e->kind));
		return;
	}
	if ((ro = roster_for(v, e->roster_version)) == NULL)
		return;
	if (key_of(ro, env.from, pk, &revoked) != 0) {
		vfail(v, idx, "%s signer %s not in roster %llu",
		    env_type_name(env.type), env.from,
		    (unsigned long long)ro->version);
		return;
	}
	if (env.type == ENV_ACCEPTED_P &&
	    roster_find_relay(ro, env.from) == NULL) {
		vfail(v, idx, "ACCEPTED_P of %s, which is no relay of roster "
		    "%llu: custody is a relay's", env.from,
		    (unsigned long long)ro->version);
		return;
	}
	if ((rc = env_verify_proof(&env, pk, &v->cache)) != 0) {
		vfail(v, idx, "%s of %s does not prove its entry: %s",
		    env_type_name(env.type), env.from, ferry_strerror(rc));
		return;
	}
	v->nproven++;
}

static int
entry_cb(void *ctx, uint64_t idx, const struct log_entry *e,
    const uint8_t *raw, size_t rawlen)
{
	struct vstate *v = ctx;
	struct msgrec *r = NULL;
	struct note_checkpoint cp;
	static const uint8_t zero[32];
	const struct roster *ro;
	uint8_t pk[32];
	int has_id = memcmp(e->msg_id, zero, 16) != 0, revoked;

	v->nentries++;
	audit_progress(v->dir, idx, v->nsize);
	if (has_id) {
		if ((r = msgtab_get(&v->tab, e->msg_id, 1)) == NULL)
			return (FERRY_ENOMEM);
		if (e->kind == LOG_ACCEPTED) {
			if (accepted_again(v, idx, e, r) != 0)
				return (FERRY_ENOMEM);
		} else if (log_kind_unique(e->kind) &&
		    (r->kinds & (1u << e->kind)))
			vfail(v, idx, "second %s entry for the same message id",
			    log_kind_name(e->kind));
	} else if (e->kind != LOG_ROSTER && e->kind != LOG_CHECKPOINT &&
	    e->kind != LOG_REFUSED && e->kind != LOG_NACK)
		vfail(v, idx, "%s entry without a message id",
		    log_kind_name(e->kind));
	if (e->kind == LOG_RECEIPT || e->kind == LOG_ACCEPTED)
		check_aux_receipt(v, idx, e, r);
	switch (e->kind) {
	case LOG_RECEIPT:
		if (r != NULL && !(r->kinds & ((1u << LOG_SENT) |
		    (1u << LOG_RECEIVED) | (1u << LOG_ACCEPTED))))
			vfail(v, idx, "receipt for a message not logged before");
		break;
	case LOG_DELIVERED:
		if (r != NULL && !(r->kinds & (1u << LOG_ACCEPTED)))
			vfail(v, idx, "delivered without custody (ACCEPTED) "
			    "logged before");
		break;
	case LOG_EXPIRED:
		if (r != NULL && !(r->kinds & ((1u << LOG_SENT) |
		    (1u << LOG_ACCEPTED))))
			vfail(v, idx, "expiry of a message not logged before");
		break;
	case LOG_ROUTE:
		if (r != NULL && !(r->kinds & (1u << LOG_SENT)))
			vfail(v, idx, "route of a message not sent (no SENT "
			    "logged before)");
		if (e->code < LOG_ROUTE_FIRST || e->code > LOG_ROUTE_MAX)
			vfail(v, idx, "route with unknown reason %d",
			    (int)e->code);
		break;
	case LOG_ERASURE:
		if (plist_add(&v->erasures, e, idx) != 0)
			return (FERRY_ENOMEM);
		break;
	case LOG_CHECKPOINT:
		if (e->aux_len == 0 ||
		    note_parse_checkpoint(e->aux, e->aux_len, &cp) != 0) {
			vfail(v, idx, "held checkpoint does not parse");
			break;
		}
		v->nforeign++;
		if ((ro = roster_for(v, e->roster_version)) == NULL)
			break;
		if (key_of(ro, audit_party(cp.origin), pk, &revoked) != 0) {
			vfail(v, idx, "held checkpoint of %s: not in roster %llu",
			    cp.origin, (unsigned long long)ro->version);
			break;
		}
		if (note_verify(e->aux, e->aux_len, cp.origin, pk) != 0)
			vfail(v, idx, "held checkpoint of %s: bad signature",
			    cp.origin);
		break;
	default:
		break;
	}
	if (r != NULL && msgrec_note(r, idx, e) != 0)
		return (FERRY_ENOMEM);
	if (memcmp(e->env_hash, zero, 32) != 0 &&
	    plist_add(&v->envs, e, idx) != 0)
		return (FERRY_ENOMEM);
	return (0);
}

/* A checkpoint: signature, size, root; consistency with the previous. */
struct cps {
	uint8_t **note;
	size_t *len;
	size_t n, cap;
};

static int
cp_collect(void *ctx, uint64_t size, const uint8_t *note, size_t len)
{
	struct cps *c = ctx;

	uint8_t **nn;
	size_t *nl, ncap;

	if (c->n == c->cap) {
		ncap = c->cap ? c->cap * 2 : 64;
		if ((nn = realloc(c->note, ncap * sizeof(*nn))) == NULL)
			return (FERRY_ENOMEM);
		c->note = nn;
		if ((nl = realloc(c->len, ncap * sizeof(*nl))) == NULL)
			return (FERRY_ENOMEM);
		c->len = nl;
		c->cap = ncap;
	}
	if ((c->note[c->n] = malloc(len)) == NULL)
		return (FERRY_ENOMEM);
	memcpy(c->note[c->n], note, len);
	c->len[c->n++] = len;
	return (0);
}

static void
check_cp(struct vstate *v, const uint8_t *note, size_t len,
    const uint8_t pk[32], const char *what, uint64_t *prev_size,
    uint8_t prev_root[32])
{
	uint64_t bad;
	char why[256];

	if (audit_check_cp(v->l, note, len, pk, prev_size, prev_root, &bad,
	    why, sizeof(why)) != 0)
		vfail(v, bad, "%s %s", what, why);
}

static void
check_envelopes(struct vstate *v)
{
	struct pending *p;
	const struct roster *ro;
	struct msgrec *r;
	struct env env;
	uint8_t *buf, pk[32];
	size_t len, i;
	int rc, revoked;
	char why[256];

	for (i = 0; i < v->envs.n; i++) {
		p = &v->envs.p[i];
		if (v->nrosters == 0)
			break;	/* nothing to check envelopes against */
		if (p->kind == LOG_ROSTER) {
			size_t j;

			for (j = 0; j < v->nrosters; j++)
				if (v->rosters[j]->version == p->roster_version &&
				    memcmp(v->rosters[j]->hash, p->env_hash,
				    32) != 0)
					vfail(v, p->idx, "roster %llu entry names "
					    "a different roster hash",
					    (unsigned long long)p->roster_version);
			continue;
		}
		rc = log_get_envelope(v->l, p->env_hash, &buf, &len);
		if (rc == FERRY_ENOENT) {
			r = msgtab_get(&v->tab, p->msg_id, 0);
			if (r == NULL || !(r->kinds & (1u << LOG_ERASURE)))
				v->nnotstored++;
			continue;
		}
		if (rc != 0) {
			vfail(v, p->idx, "reading envelope: %s",
			    ferry_strerror(rc));
			continue;
		}
		if (v->nrosters == 0) {
			free(buf);
			continue;
		}
		if ((rc = env_decode(buf, len, 0, &env)) != 0) {
			vfail(v, p->idx, "stored envelope does not decode: %s",
			    ferry_strerror(rc));
			goto next;
		}
		if (env.type == ENV_MSG ? memcmp(env.id, p->msg_id, 16) != 0 :
		    (env.type == ENV_RECEIPT || env.type == ENV_ACCEPTED ||
		    ENV_IS_PROOF(env.type)) &&
		    memcmp(env.msg_id, p->msg_id, 16) != 0) {
			vfail(v, p->idx, "stored envelope is for another "
			    "message id");
			goto next;
		}
		ro = roster_for(v, p->roster_version);
		if (key_of(ro, env.from, pk, &revoked) != 0) {
			vfail(v, p->idx, "envelope signer %s not in roster %llu",
			    env.from, (unsigned long long)ro->version);
			goto next;
		}
		if (revoked)
			vfail(v, p->idx, "envelope signer %s is revoked in "
			    "roster %llu", env.from,
			    (unsigned long long)ro->version);
		if (env_verify(&env, pk) != 0) {
			snprintf(why, sizeof(why), "envelope signature by %s "
			    "does not verify (roster %llu)", env.from,
			    (unsigned long long)ro->version);
			vfail(v, p->idx, "%s", why);
			goto next;
		}
		v->nchecked_env++;
next:
		free(buf);
	}
}

static void
check_erasures(struct vstate *v)
{
	struct pending *p;
	struct msgrec *r;
	uint8_t *buf;
	size_t len, i;
	const char *self = audit_party(log_origin(v->l));

	for (i = 0; i < v->erasures.n; i++) {
		p = &v->erasures.p[i];
		v->nerased++;
		r = msgtab_get(&v->tab, p->msg_id, 0);
		if (r == NULL || p->ref >= p->idx || r->first != p->ref) {
			vfail(v, p->idx, "erasure does not name the message's "
			    "first entry");
			continue;
		}
		if (p->code == LOG_ERASE_RETENTION) {
			if (strcmp(audit_name(p->from), self) != 0)
				vfail(v, p->idx, "retention erasure authorised "
				    "by %s, not by this party (%s)",
				    audit_name(p->from), self);
		} else if (!r->has_hash) {
			/* No SENT/RECEIVED/ACCEPTED: r->from and r->to were
			 * never set, and interned id 0 is whoever came first. */
			vfail(v, p->idx, "erasure requested by %s, but the log "
			    "names no sender or recipient of the message",
			    audit_name(p->from));
		} else if (p->from != r->from && p->from != r->to) {
			vfail(v, p->idx, "erasure requested by %s, who is "
			    "neither sender nor recipient",
			    audit_name(p->from));
		}
		if (r->has_hash && log_get_envelope(v->l, r->env_hash, &buf,
		    &len) == 0) {
			free(buf);
			vfail(v, p->idx, "erased message's envelope is still "
			    "stored");
		}
	}
}

/* A line for people, or nothing with --json. */
static void
say(const struct vstate *v, const char *fmt, ...)
{
	va_list ap;

	if (v->problems != NULL)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

int
cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "roster", required_argument, NULL, 'r' },
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "pin", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct vstate v;
	struct cps *cps = NULL;
	const char *keyarg = NULL, *pin = NULL, *held[MAX_HELD];
	const char *rfiles[MAX_ROSTERS];
	uint8_t pk[32], stored[32], prev_root[32], root[32], *buf;
	uint64_t bad = 0, prev_size = 0;
	size_t nheld = 0, nrfiles = 0, len, i;
	char hex[65], rhex[65] = "", what[64], why[256];
	json_t *warnings = NULL, *out;
	int ch, rc, treerc, json = 0, ret = 1;

	memset(&v, 0, sizeof(v));
	while ((ch = getopt_long(argc, argv, ":k:r:c:p:", opts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'k':
			keyarg = optarg;
			break;
		case 'r':
			if (nrfiles == MAX_ROSTERS)
				return (cli_usage("more than %d --roster",
				    MAX_ROSTERS));
			rfiles[nrfiles++] = optarg;
			break;
		case 'c':
			if (nheld == MAX_HELD)
				return (cli_usage("more than %d --checkpoint",
				    MAX_HELD));
			held[nheld++] = optarg;
			break;
		case 'p':
			pin = optarg;
			break;
		case 'j':
			json = 1;
			break;
		default:
			return (cli_opt_error(ch, argv));
		}
	}
	if (pin != NULL && nrfiles == 0)
		return (cli_usage("--pin is the fingerprint of the oldest "
		    "--roster: give the rosters too"));
	if (pin != NULL && roster_pin_check(pin) != 0)
		return (cli_usage("--pin \"%s\" is not " ROSTER_PIN_FORM,
		    pin));
	if ((rc = audit_operands(argc, argv, "LOGDIR")) >= 0)
		return (rc);
	v.dir = argv[optind];
	if (json && ((v.problems = json_array()) == NULL ||
	    (warnings = json_array()) == NULL))
		goto out;
	/* Read only once the command line is known good. */
	if (audit_load_rosters(rfiles, nrfiles, v.rosters) != 0) {
		v.nrosters = nrfiles;	/* freed below, NULL ones too */
		goto out;
	}
	v.nrosters = nrfiles;
	if (audit_open(argv[optind], &v.l) != 0)
		goto out;
	if (msgtab_init(&v.tab) != 0)
		goto out;
	log_pubkey(v.l, stored);
	if (keyarg != NULL) {
		if (audit_key_arg(keyarg, v.rosters, v.nrosters, pk) != 0)
			goto out;
		if (sodium_memcmp(pk, stored, 32) != 0)
			vfail(&v, UINT64_MAX, "the log's stored public key is "
			    "not the pinned key");
	} else {
		memcpy(pk, stored, 32);
		if (json)
			json_array_append_new(warnings, json_string("no --key "
			    "given: trusting the key stored in the log"));
		say(&v, "warning: no --key given: trusting the key stored in "
		    "the log\n");
	}
	if (audit_party(log_origin(v.l))[0] == '\0')
		vfail(&v, UINT64_MAX, "the log's origin \"%s\" is not "
		    "ferry/<agency or relay id>, as ferry-agent and ferry-relay "
		    "write it: not a Ferry party's log, or altered",
		    log_origin(v.l));
	else if (keyarg != NULL &&
	    audit_key_is_id(keyarg, v.rosters, v.nrosters) &&
	    strcmp(audit_party(log_origin(v.l)), keyarg) != 0)
		vfail(&v, UINT64_MAX, "the log's origin \"%s\" is not "
		    "ferry/%s, the party --key names", log_origin(v.l), keyarg);
	ferry_hex(hex, pk, 32);
	say(&v, "log %s (%s)\n", log_origin(v.l), argv[optind]);
	say(&v, "key %s\n", hex);
	/* Rosters: in version order, each following from the one before. */
	qsort(v.rosters, v.nrosters, sizeof(v.rosters[0]), audit_roster_cmp);
	/*
	 * The oldest roster anchors the chain: pinned with --pin (the
	 * fingerprint every installation was given), and in any case signed
	 * by a threshold of its own admins (without --pin its own hash
	 * stands in for the pin, with a warning); time 0 so that an old
	 * roster may be audited.
	 */
	if (v.nrosters > 0) {
		if (pin == NULL) {
			ferry_hex(rhex, v.rosters[0]->hash, 32);
			snprintf(why, sizeof(why), "no --pin given: roster "
			    "%llu, the oldest, is trusted as the anchor "
			    "unpinned", (unsigned long long)v.rosters[0]->version);
			if (json)
				json_array_append_new(warnings,
				    json_string(why));
			say(&v, "warning: %s\n", why);
		}
		if (roster_verify_genesis(v.rosters[0], pin != NULL ? pin :
		    rhex, 0, why, sizeof(why)) != 0)
			vfail(&v, UINT64_MAX, "roster anchor: %s", why);
	}
	for (i = 1; i < v.nrosters; i++)
		if (roster_verify_next(v.rosters[i - 1], v.rosters[i], 0, why,
		    sizeof(why)) != 0)
			vfail(&v, UINT64_MAX, "roster chain: %s", why);
	/* 1. The tree. */
	treerc = log_check(v.l, &bad);
	if (treerc == FERRY_ELOGCORRUPT)
		vfail(&v, bad, "stored entry or hash does not match the "
		    "recomputed tree (altered or corrupt)");
	else if (treerc == FERRY_EINCONSISTENT)
		vfail(&v, bad, "latest checkpoint does not match the tree, or "
		    "covers only the entries before this one (those from it on "
		    "carry no signature: written without the log's key)");
	else if (treerc != 0)
		vfail(&v, UINT64_MAX, "checking tree: %s",
		    ferry_strerror(treerc));
	v.nsize = log_size(v.l);
	say(&v, "entries %llu\n", (unsigned long long)v.nsize);
	rhex[0] = '\0';
	if (log_root(v.l, v.nsize, root) == 0) {
		ferry_hex(rhex, root, 32);
		say(&v, "root %s\n", rhex);
	}
	/* 2. Checkpoints, stored then held by others. */
	if ((cps = calloc(1, sizeof(*cps))) == NULL)
		goto out;
	if ((rc = log_checkpoint_foreach(v.l, cp_collect, cps)) != 0)
		vfail(&v, UINT64_MAX, "reading checkpoints: %s",
		    ferry_strerror(rc));
	for (i = 0; i < cps->n; i++) {
		snprintf(what, sizeof(what), "stored checkpoint %zu", i);
		check_cp(&v, cps->note[i], cps->len[i], pk, what, &prev_size,
		    prev_root);
	}
	say(&v, "checkpoints %zu\n", cps->n);
	for (i = 0; i < nheld; i++) {
		if (ferry_read_file(held[i], NOTE_MAX, &buf, &len, 0) != 0) {
			fprintf(stderr, "ferry-audit: cannot read %s\n",
			    held[i]);
			goto out;
		}
		snprintf(what, sizeof(what), "held checkpoint %s", held[i]);
		check_cp(&v, buf, len, pk, what, NULL, NULL);
		free(buf);
	}
	/*
	 * 3 and 4. Entries, envelopes, erasures: walked whenever log_check
	 * could read the log, even when what it read was wrong (the walk
	 * names more of what is wrong); not after a read error, which the
	 * walk would only repeat.
	 */
	if (treerc == 0 || treerc == FERRY_ELOGCORRUPT ||
	    treerc == FERRY_EINCONSISTENT) {
		rc = log_foreach(v.l, 0, entry_cb, &v, &bad);
		audit_progress(v.dir, v.nsize, v.nsize);
		if (rc == FERRY_ELOGCORRUPT)
			vfail(&v, bad, "entry does not decode");
		else if (rc != 0)
			vfail(&v, UINT64_MAX, "reading entries: %s",
			    ferry_strerror(rc));
	}
	check_envelopes(&v);
	check_erasures(&v);
	say(&v, "messages %zu\n", v.tab.n);
	if (v.nrosters > 0)
		say(&v, "envelopes verified %llu, not stored %llu; receipts "
		    "proven %llu\n", (unsigned long long)v.nchecked_env,
		    (unsigned long long)v.nnotstored,
		    (unsigned long long)v.nproven);
	else
		say(&v, "envelopes not checked (no --roster given)\n");
	say(&v, "erasures %llu\n", (unsigned long long)v.nerased);
	ret = v.fails == 0 ? 0 : 1;
	if (json) {
		out = json_pack("{s:s,s:s,s:s,s:s,s:b,s:I,s:s,s:I,s:I,s:o,"
		    "s:o,s:I,s:I,s:b,s:o,s:o}", "dir", v.dir, "origin",
		    log_origin(v.l), "agency", audit_party(log_origin(v.l)),
		    "key", hex, "key_given", keyarg != NULL, "entries",
		    (json_int_t)v.nsize, "root", rhex, "checkpoints",
		    (json_int_t)cps->n, "messages", (json_int_t)v.tab.n,
		    "envelopes_verified", v.nrosters > 0 ?
		    json_integer((json_int_t)v.nchecked_env) : json_null(),
		    "receipts_proven", v.nrosters > 0 ?
		    json_integer((json_int_t)v.nproven) : json_null(),
		    "envelopes_not_stored", (json_int_t)v.nnotstored,
		    "erasures", (json_int_t)v.nerased, "ok", ret == 0,
		    "problems", json_incref(v.problems), "warnings",
		    json_incref(warnings));
		if (out == NULL || json_dumpf(out, stdout, JSON_INDENT(2)) != 0)
			ret = 1;
		putchar('\n');
		json_decref(out);
	} else if (v.fails == 0)
		printf("OK\n");
	else if (v.first_bad != UINT64_MAX)
		printf("FAILED: %d problem(s); first bad entry %llu: %s\n",
		    v.fails, (unsigned long long)v.first_bad, v.first_why);
	else
		printf("FAILED: %d problem(s): %s\n", v.fails, v.first_why);
out:
	if (cps != NULL) {
		for (i = 0; i < cps->n; i++)
			free(cps->note[i]);
		free(cps->note);
		free(cps->len);
		free(cps);
	}
	for (i = 0; i < v.nrosters; i++)
		roster_free(v.rosters[i]);
	free(v.envs.p);
	free(v.erasures.p);
	msgtab_free(&v.tab);
	log_close(v.l);
	json_decref(v.problems);
	json_decref(warnings);
	return (ret);
}
