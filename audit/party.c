/*
 * party.c: one party's log loaded for compare and report (its messages by
 * id with the time of each kind, the checkpoints of others it holds, its
 * roster adoptions and erasures); the checks of a log's own checkpoints
 * verify shares; keys given as hex, files, key requests or agency ids;
 * progress and durations for people.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "envelope.h"
#include "ferry.h"
#include "log.h"
#include "merkle.h"
#include "note.h"
#include "roster.h"

void
audit_progress(const char *dir, uint64_t done, uint64_t total)
{
	static uint64_t last;
	static int shown, tty = -1;
	uint64_t now;

	if (tty < 0)
		tty = isatty(STDERR_FILENO);
	if (!tty || total < 100000)
		return;
	if (done >= total) {
		if (shown)
			fprintf(stderr, "\r%s: %llu entries read%20s\n", dir,
			    (unsigned long long)total, "");
		shown = 0;
		return;
	}
	if ((done & 4095) != 0 || (now = ferry_now_ms()) < last + 500)
		return;
	last = now;
	shown = 1;
	fprintf(stderr, "\r%s: %llu of %llu entries (%llu%%)", dir,
	    (unsigned long long)done, (unsigned long long)total,
	    (unsigned long long)(done * 100 / total));
}

char *
audit_age(char *buf, size_t cap, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, cap, "%llu ms", (unsigned long long)ms);
	else if (s < 60)
		snprintf(buf, cap, "%llu s", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, cap, "%llu min %llu s", (unsigned long long)(s /
		    60), (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, cap, "%llu h %llu min", (unsigned long long)(s /
		    3600), (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, cap, "%llu d %llu h", (unsigned long long)(s /
		    86400), (unsigned long long)(s % 86400 / 3600));
	return (buf);
}

int
audit_check_cp(struct log *l, const uint8_t *note, size_t len,
    const uint8_t pk[32], uint64_t *prev_size, uint8_t prev_root[32],
    uint64_t *bad, char *why, size_t cap)
{
	struct note_checkpoint cp;
	uint8_t root[32], proof[LOG_PROOF_MAX][32];
	size_t np;
	uint64_t n = log_size(l);
	int rc;

	*bad = UINT64_MAX;
	if (note_parse_checkpoint(note, len, &cp) != 0) {
		snprintf(why, cap, "does not parse");
		return (-1);
	}
	if (strcmp(cp.origin, log_origin(l)) != 0) {
		snprintf(why, cap, "origin %s is not this log's", cp.origin);
		return (-1);
	}
	if ((rc = note_verify(note, len, cp.origin, pk)) != 0) {
		snprintf(why, cap, "(size %llu): %s", (unsigned long long)
		    cp.size, rc == FERRY_ENOENT ? "not signed by the log's key" :
		    "bad signature");
		return (-1);
	}
	if (cp.size > n) {
		*bad = n;
		snprintf(why, cap, "names size %llu but the log has %llu "
		    "entries: log truncated", (unsigned long long)cp.size,
		    (unsigned long long)n);
		return (-1);
	}
	if (log_root(l, cp.size, root) != 0 ||
	    sodium_memcmp(root, cp.root, 32) != 0) {
		*bad = cp.size ? cp.size - 1 : 0;
		snprintf(why, cap, "(size %llu): root differs from the log's: "
		    "history rewritten or forked before entry %llu",
		    (unsigned long long)cp.size, (unsigned long long)cp.size);
		return (-1);
	}
	if (prev_size != NULL && *prev_size > 0 && *prev_size <= cp.size &&
	    (log_prove_consistency(l, *prev_size, cp.size, proof, &np) != 0 ||
	    merkle_verify_consistency(*prev_size, cp.size, prev_root, cp.root,
	    proof, np) != 0)) {
		snprintf(why, cap, "(size %llu) not consistent with checkpoint "
		    "of size %llu", (unsigned long long)cp.size,
		    (unsigned long long)*prev_size);
		return (-1);
	}
	if (prev_size != NULL) {
		*prev_size = cp.size;
		memcpy(prev_root, cp.root, 32);
	}
	return (0);
}

static int relay_seen(struct party *p, uint32_t n);

static int
held_add(struct party *p, uint64_t idx, const struct log_entry *e,
    const uint8_t *note, size_t len)
{
	struct note_checkpoint cp;
	struct held *h;
	size_t ncap;

	if (note_parse_checkpoint(note, len, &cp) != 0 ||
	    strcmp(cp.origin, log_origin(p->l)) == 0)
		return (0);
	if (p->nheld == p->capheld) {
		ncap = p->capheld ? p->capheld * 2 : 64;
		if ((h = realloc(p->held, ncap * sizeof(*h))) == NULL)
			return (FERRY_ENOMEM);
		p->held = h;
		p->capheld = ncap;
	}
	h = &p->held[p->nheld];
	if ((h->note = malloc(len)) == NULL)
		return (FERRY_ENOMEM);
	memcpy(h->note, note, len);
	h->len = len;
	snprintf(h->origin, sizeof(h->origin), "%s", cp.origin);
	h->idx = idx;
	h->time = e->time_ms;
	h->kind = e->kind;
	p->nheld++;
	return (0);
}

static int
event_add(struct party *p, uint64_t idx, const struct log_entry *e)
{
	struct event *v;
	size_t ncap;

	if (p->nev == p->capev) {
		ncap = p->capev ? p->capev * 2 : 16;
		if ((v = realloc(p->ev, ncap * sizeof(*v))) == NULL)
			return (FERRY_ENOMEM);
		p->ev = v;
		p->capev = ncap;
	}
	v = &p->ev[p->nev++];
	v->idx = idx;
	v->time = e->time_ms;
	v->version = e->roster_version;
	v->kind = e->kind;
	v->code = e->code;
	memcpy(v->msg_id, e->msg_id, 16);
	memcpy(v->hash, e->env_hash, 32);
	if ((v->from = audit_intern(e->from)) == UINT32_MAX)
		return (FERRY_ENOMEM);
	return (0);
}

static int
load_cb(void *ctx, uint64_t idx, const struct log_entry *e,
    const uint8_t *raw, size_t rawlen)
{
	struct party *p = ctx;
	struct msgrec *r;
	struct env env;
	static const uint8_t zero[16];
	uint32_t n;
	size_t k;
	int rc, signed_reply;

	audit_progress(p->dir, idx, p->size);
	if (e->kind == LOG_CHECKPOINT && e->aux_len > 0 &&
	    (rc = held_add(p, idx, e, e->aux, e->aux_len)) != 0)
		return (rc);
	signed_reply = (e->kind == LOG_RECEIPT || e->kind == LOG_ACCEPTED) &&
	    e->aux_len > 0 && env_decode(e->aux, e->aux_len, 0, &env) == 0;
	if (signed_reply && env.blob_len > 0 &&
	    (rc = held_add(p, idx, e, env.blob, env.blob_len)) != 0)
		return (rc);
	if ((e->kind == LOG_ROSTER || e->kind == LOG_ERASURE) &&
	    (rc = event_add(p, idx, e)) != 0)
		return (rc);
	if (memcmp(e->msg_id, zero, 16) == 0)
		return (0);
	if ((r = msgtab_get(&p->t, e->msg_id, 1)) == NULL)
		return (FERRY_ENOMEM);
	if ((rc = msgrec_note(r, idx, e)) != 0)
		return (rc);
	/* The relay a sender routed it to, and the one whose signed custody
	 * receipt it holds (an agency's ACCEPTED; a relay's own logs none). */
	if (e->kind == LOG_ROUTE)
		return (relay_seen(p, r->route[r->nroutes - 1]));
	if (e->kind == LOG_ACCEPTED && signed_reply &&
	    (env.type == ENV_ACCEPTED || env.type == ENV_ACCEPTED_P) &&
	    strcmp(env.from, audit_party(log_origin(p->l))) != 0) {
		if ((n = audit_intern(env.from)) == UINT32_MAX)
			return (FERRY_ENOMEM);
		k = r->ncustody < AUDIT_ROUTES_MAX ? r->ncustody++ :
		    AUDIT_ROUTES_MAX - 1;
		r->custody[k] = n;
		return (relay_seen(p, n));
	}
	return (0);
}

/* Remember relay ${n} (interned) among those ${p}'s log names. */
static int
relay_seen(struct party *p, uint32_t n)
{
	size_t i;

	for (i = 0; i < p->nrelays; i++)
		if (p->relays[i] == n)
			return (0);
	if (p->nrelays < AUDIT_RELAYS_MAX)
		p->relays[p->nrelays++] = n;
	return (0);
}

int
audit_custodian(const struct msgrec *r, const char *y)
{
	size_t i;

	for (i = 0; i < r->ncustody; i++)
		if (strcmp(audit_name(r->custody[i]), y) == 0)
			return (1);
	return (0);
}

int
audit_carried(const struct msgrec *r, const char *y)
{
	size_t i;

	if (r->nroutes == 0 && r->ncustody == 0)
		return (1);
	if (audit_custodian(r, y))
		return (1);
	for (i = 0; i < r->nroutes; i++)
		if (strcmp(audit_name(r->route[i]), y) == 0)
			return (1);
	return (0);
}

const char *
audit_route_reason(int32_t code)
{
	static const char *const w[] = { "first", "no-accepted",
	    "link-lost", "resend", "not-held", "no-receipt" };

	return (code >= 0 && code <= LOG_ROUTE_NO_RECEIPT ? w[code] :
	    "unknown");
}

int
audit_roster_cmp(const void *a, const void *b)
{
	const struct roster *x = *(struct roster *const *)a;
	const struct roster *y = *(struct roster *const *)b;

	return (x->version < y->version ? -1 : x->version > y->version);
}

int
audit_load_rosters(const char *const *files, size_t n, struct roster **out)
{
	uint8_t *buf;
	size_t len, i;
	int rc;

	for (i = 0; i < n; i++)
		out[i] = NULL;
	for (i = 0; i < n; i++) {
		if (ferry_read_file(files[i], ROSTER_MAX_BYTES, &buf, &len,
		    0) != 0) {
			fprintf(stderr, "ferry-audit: cannot read roster %s\n",
			    files[i]);
			return (-1);
		}
		rc = roster_parse(buf, len, &out[i]);
		free(buf);
		if (rc != 0) {
			fprintf(stderr, "ferry-audit: roster %s: %s\n",
			    files[i], ferry_strerror(rc));
			return (-1);
		}
	}
	return (0);
}

/* The key of ${id} (an agency or a relay) in the newest of ${ro}. */
static int
roster_key(struct roster *const *ro, size_t n, const char *id,
    uint8_t pk[32])
{
	const struct roster *r = NULL;
	const struct roster_agency *a;
	const struct roster_relay *rl;
	size_t i;

	for (i = 0; i < n; i++)
		if (r == NULL || ro[i]->version > r->version)
			r = ro[i];
	if (r == NULL)
		return (-1);
	if ((rl = roster_find_relay(r, id)) != NULL) {
		memcpy(pk, rl->sign_pk, 32);
		return (0);
	}
	if ((a = roster_find(r, id)) == NULL)
		return (-1);
	memcpy(pk, a->sign_pk, 32);
	return (0);
}

int
audit_key_is_id(const char *arg, struct roster *const *rosters, size_t n)
{
	uint8_t pk[32];

	return (!(strlen(arg) == 64 && ferry_unhex(pk, 32, arg) == 0) &&
	    ferry_id_valid(arg, strlen(arg)) &&
	    roster_key(rosters, n, arg, pk) == 0);
}

int
audit_key_arg(const char *arg, struct roster *const *rosters, size_t n,
    uint8_t pk[32])
{
	struct roster_request q;
	uint8_t *buf;
	size_t len;
	int isid = ferry_id_valid(arg, strlen(arg)), ok;

	if ((strlen(arg) == 64 && ferry_unhex(pk, 32, arg) == 0) ||
	    (isid && roster_key(rosters, n, arg, pk) == 0))
		return (0);
	if (ferry_read_file(arg, ROSTER_REQUEST_MAX, &buf, &len, 0) == 0) {
		ok = roster_request_parse(buf, len, &q) == 0;
		if (ok)
			memcpy(pk, q.sign_pk, 32);
		free(buf);
		if (ok || audit_read_key(arg, pk) == 0)
			return (0);
		fprintf(stderr, "ferry-audit: --key %s: the file holds neither "
		    "64 hex digits, 32 raw bytes, nor a key request\n", arg);
	} else if (isid && n == 0)
		fprintf(stderr, "ferry-audit: --key %s: not a file it can read; to name "
		    "an agency by its id, give --roster FILE to look its key "
		    "up in\n", arg);
	else if (isid)
		fprintf(stderr, "ferry-audit: --key %s: not a file it can read, nor an "
		    "agency or relay of the newest --roster\n", arg);
	else
		fprintf(stderr, "ferry-audit: --key %s: not 64 hex digits, nor a "
		    "file it can read\n", arg);
	return (-1);
}

int
party_tree(struct party *p, uint64_t *bad)
{

	if (!p->tree_done) {
		p->tree_rc = log_check(p->l, &p->tree_bad);
		p->tree_done = 1;
	}
	*bad = p->tree_bad;
	return (p->tree_rc);
}

int
party_open(struct party *p, const char *dir, const char *keyarg,
    struct roster *const *rosters, size_t nrosters)
{
	struct msgrec *r;
	uint64_t bad = 0;
	size_t i;
	int rc;

	memset(p, 0, sizeof(*p));
	p->dir = dir;
	if ((rc = audit_open(dir, &p->l)) != 0) {
		snprintf(p->why, sizeof(p->why), "cannot be opened: %s",
		    ferry_strerror(rc));
		return (-1);
	}
	p->self = audit_party(log_origin(p->l));
	p->size = log_size(p->l);
	if (p->self[0] == '\0') {
		snprintf(p->why, sizeof(p->why), "its origin \"%s\" is not "
		    "ferry/<agency or relay id>, as ferry-agent and ferry-relay "
		    "write it: not a Ferry party's log, or altered",
		    log_origin(p->l));
		fprintf(stderr, "ferry-audit: %s: %s\n", dir, p->why);
		return (-1);
	}
	if (keyarg != NULL) {
		if (audit_key_arg(keyarg, rosters, nrosters, p->pk) != 0)
			return (-1);
	} else if (roster_key(rosters, nrosters, p->self, p->pk) != 0)
		log_pubkey(p->l, p->pk);
	if ((rc = msgtab_init(&p->t)) != 0 ||
	    (rc = log_foreach(p->l, 0, load_cb, p, &bad)) != 0) {
		audit_progress(dir, p->size, p->size);
		if (rc == FERRY_ELOGCORRUPT)
			snprintf(p->why, sizeof(p->why), "entry %llu does not "
			    "decode (altered or corrupt): %s",
			    (unsigned long long)bad, ferry_strerror(rc));
		else
			snprintf(p->why, sizeof(p->why), "%s",
			    ferry_strerror(rc));
		fprintf(stderr, "ferry-audit: %s: %s\n", dir, p->why);
		return (-1);
	}
	audit_progress(dir, p->size, p->size);
	/* A log is the relay's if it carries messages neither from nor to it. */
	for (i = 0; i < p->t.cap; i++) {
		r = &p->t.r[i];
		if (r->used && r->has_hash &&
		    strcmp(audit_name(r->from), p->self) != 0 &&
		    strcmp(audit_name(r->to), p->self) != 0)
			p->relay = 1;
	}
	for (i = 0; !p->relay && i < nrosters; i++)
		p->relay = roster_find_relay(rosters[i], p->self) != NULL;
	for (i = 0; i < nrosters; i++)
		if (rosters[i]->nrelays > p->known_relays)
			p->known_relays = rosters[i]->nrelays;
	return (0);
}

void
party_close(struct party *p)
{
	size_t i;

	for (i = 0; i < p->nheld; i++)
		free(p->held[i].note);
	free(p->held);
	free(p->ev);
	msgtab_free(&p->t);
	log_close(p->l);
	memset(p, 0, sizeof(*p));
}
