/*
 * roster_verify.c: a parsed roster verified (see roster.h and
 * docs/protocol.md section 4): the genesis roster against its pin, and
 * roster N+1 against the trusted roster N (signatures, thresholds,
 * continuity), each refusal explained in one line.  It calls only
 * roster.c's public lookups.
 */
#include "roster.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "ferry.h"
#include "ident.h"

/* ---- Small helpers ---------------------------------------------------- */

/* Append printf-style text to why[whylen]; silently truncates. */
static void
say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	if (why == NULL || whylen == 0)
		return;
	used = strnlen(why, whylen);
	if (used >= whylen - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(why + used, whylen - used, fmt, ap);
	va_end(ap);
}

static void
why_reset(char *why, size_t whylen)
{

	if (why != NULL && whylen > 0)
		why[0] = '\0';
}

/* ---- Verification ----------------------------------------------------- */

/*
 * Count the signers of ${r} among the admins of ${set} and explain a
 * shortfall in ${why}.  Returns 0 or FERRY_ETHRESHOLD.
 */
static int
count_set(const struct roster *r, const struct roster *set, char *why,
    size_t whylen)
{
	int signed_by[ROSTER_MAX_ADMINS];
	size_t i, have = 0, need, shown;
	int k;

	memset(signed_by, 0, sizeof(signed_by));
	for (i = 0; i < r->nsigs; i++)
		if ((k = roster_is_admin(set, r->sigs[i].pk)) >= 0)
			signed_by[k] = 1;
	for (i = 0; i < set->nadmins; i++)
		have += (size_t)signed_by[i];
	if (have >= set->threshold)
		return (0);
	need = set->threshold - have;
	why_reset(why, whylen);
	say(why, whylen, "roster %llu: %zu of %u signatures from the admins "
	    "of roster %llu: have ", (unsigned long long)r->version, have,
	    (unsigned)set->threshold, (unsigned long long)set->version);
	shown = 0;
	for (i = 0; i < set->nadmins; i++)
		if (signed_by[i])
			say(why, whylen, "%s%s", shown++ ? ", " : "",
			    set->admins[i].name);
	if (shown == 0)
		say(why, whylen, "none");
	if (need == 1)
		say(why, whylen, "; need one more of ");
	else
		say(why, whylen, "; need %zu more of ", need);
	shown = 0;
	for (i = 0; i < set->nadmins; i++)
		if (!signed_by[i])
			say(why, whylen, "%s%s", shown++ ? ", " : "",
			    set->admins[i].name);
	return (FERRY_ETHRESHOLD);
}

/* The name of the admin with key ${pk} in ${a} or ${b}, or NULL. */
static const char *
admin_name(const struct roster *a, const struct roster *b,
    const uint8_t pk[32])
{
	int k;

	if ((k = roster_is_admin(a, pk)) >= 0)
		return (a->admins[k].name);
	if (b != NULL && (k = roster_is_admin(b, pk)) >= 0)
		return (b->admins[k].name);
	return (NULL);
}

/*
 * Check every signature on ${r}: each key once (FERRY_EDUPSIG), each an
 * admin of ${a} or ${b} (FERRY_ENOTADMIN), each valid (FERRY_EBADSIG);
 * then a threshold of ${a}'s admins and, if ${b}, of ${b}'s.
 */
static int
check_sigs(const struct roster *r, const struct roster *a,
    const struct roster *b, char *why, size_t whylen)
{
	char hex[17];
	const char *name;
	size_t i, j;
	int rc;

	if (r->body == NULL) {
		say(why, whylen, "roster is not sealed");
		return (FERRY_EINVAL);
	}
	for (i = 0; i < r->nsigs; i++) {
		for (j = 0; j < i; j++)
			if (memcmp(r->sigs[j].pk, r->sigs[i].pk, 32) == 0) {
				name = admin_name(a, b, r->sigs[i].pk);
				say(why, whylen, "roster %llu: %s signed twice",
				    (unsigned long long)r->version,
				    name != NULL ? name : "a key");
				return (FERRY_EDUPSIG);
			}
		if ((name = admin_name(a, b, r->sigs[i].pk)) == NULL) {
			ferry_hex(hex, r->sigs[i].pk, 8);
			say(why, whylen, "roster %llu: signature by key %s..., "
			    "which is not an admin", (unsigned long long)
			    r->version, hex);
			return (FERRY_ENOTADMIN);
		}
		if (ident_verify(r->sigs[i].pk, ROSTER_TAG, r->body,
		    r->body_len, r->sigs[i].sig) != 0) {
			say(why, whylen, "roster %llu: %s's signature does not "
			    "verify", (unsigned long long)r->version, name);
			return (FERRY_EBADSIG);
		}
	}
	if ((rc = count_set(r, a, why, whylen)) != 0)
		return (rc);
	if (b != NULL && (rc = count_set(r, b, why, whylen)) != 0)
		return (rc);
	return (0);
}

/* The names of ${r}'s signers, for a success message. */
static void
say_signers(const struct roster *r, const struct roster *a,
    const struct roster *b, char *why, size_t whylen)
{
	const char *name;
	size_t i;

	for (i = 0; i < r->nsigs; i++) {
		name = admin_name(a, b, r->sigs[i].pk);
		say(why, whylen, "%s%s", i > 0 ? ", " : "",
		    name != NULL ? name : "?");
	}
}

/*
 * ${pin} without its separators (' ', '-', ':') into ${b} (${cap} bytes):
 * its length, or 0 when it is longer than a pin can be.
 */
static size_t
pin_compact(const char *pin, char *b, size_t cap)
{
	size_t i, nb = 0;

	for (i = 0; pin[i] != '\0'; i++) {
		if (pin[i] == ' ' || pin[i] == '-' || pin[i] == ':')
			continue;
		if (nb + 1 >= cap)
			return (0);
		b[nb++] = pin[i];
	}
	b[nb] = '\0';
	return (nb);
}

int
roster_pin_check(const char *pin)
{
	char b[80];
	uint8_t h[32];
	size_t nb, i;

	if (pin == NULL)
		return (FERRY_EBADVALUE);
	nb = pin_compact(pin, b, sizeof(b));
	if (nb == 64)
		return (ferry_unhex(h, 32, b) == 0 ? 0 : FERRY_EBADVALUE);
	if (nb != IDENT_FP_DIGITS)
		return (FERRY_EBADVALUE);
	for (i = 0; i < nb; i++)
		if (b[i] < '0' || b[i] > '9')
			return (FERRY_EBADVALUE);
	return (0);
}

static int
pin_matches(const struct roster *r, const char *pin)
{
	char fp[IDENT_FP_LEN], a[IDENT_FP_LEN], b[80];
	uint8_t h[32];
	size_t i, na = 0, nb;

	nb = pin_compact(pin, b, sizeof(b));
	if (nb == 64) {
		if (ferry_unhex(h, 32, b) != 0)
			return (0);
		return (sodium_memcmp(h, r->hash, 32) == 0);
	}
	roster_fingerprint(r, fp);
	for (i = 0; fp[i] != '\0'; i++)
		if (fp[i] != ' ')
			a[na++] = fp[i];
	a[na] = '\0';
	return (na == nb && memcmp(a, b, na) == 0);
}

int
roster_verify_genesis(const struct roster *r, const char *pin,
    uint64_t now, char *why, size_t whylen)
{
	int rc;

	why_reset(why, whylen);
	/* A pin mistyped is not a roster that fails to match it. */
	if (roster_pin_check(pin) != 0) {
		say(why, whylen, "the pin is not " ROSTER_PIN_FORM);
		return (FERRY_EBADVALUE);
	}
	if (!pin_matches(r, pin)) {
		say(why, whylen, "roster %llu does not match the pinned "
		    "fingerprint", (unsigned long long)r->version);
		return (FERRY_EPIN);
	}
	if (now >= r->expires) {
		say(why, whylen, "roster %llu expired", (unsigned long long)
		    r->version);
		return (FERRY_EEXPIRED);
	}
	if ((rc = check_sigs(r, r, NULL, why, whylen)) != 0)
		return (rc);
	say(why, whylen, "roster %llu: pinned, signed by ",
	    (unsigned long long)r->version);
	say_signers(r, r, NULL, why, whylen);
	say(why, whylen, " (threshold %u of %zu)", (unsigned)r->threshold,
	    r->nadmins);
	return (0);
}

/*
 * An encryption key id names one key for ever: a key id of ${a} (prev)
 * still listed in ${b} (next) has the same public key, and a key id new
 * in ${b} is above every id ${a} ever listed (its highest), so a stale
 * copy of a key file cannot list a new key under an old id, which agents
 * would take for the key they hold and drop the old one.
 */
static int
check_enc_ids(const struct roster_agency *a, const struct roster_agency *b,
    uint64_t version, char *why, size_t whylen)
{
	uint32_t max = 0;
	size_t i, j;

	for (i = 0; i < a->nenc; i++)
		if (a->enc[i].key_id > max)
			max = a->enc[i].key_id;
	for (j = 0; j < b->nenc; j++) {
		for (i = 0; i < a->nenc; i++)
			if (a->enc[i].key_id == b->enc[j].key_id)
				break;
		if (i < a->nenc) {
			if (sodium_memcmp(a->enc[i].pk, b->enc[j].pk, 32) ==
			    0)
				continue;
			say(why, whylen, "roster %llu: encryption key id %u of "
			    "agency %s names another public key than in roster "
			    "%llu (a key id is never reused: a stale copy of "
			    "its key file?)", (unsigned long long)version,
			    (unsigned)b->enc[j].key_id, a->id,
			    (unsigned long long)version - 1);
			return (FERRY_EBADVALUE);
		}
		if (b->enc[j].key_id <= max) {
			say(why, whylen, "roster %llu: new encryption key id %u "
			    "of agency %s is not above %u, its highest in "
			    "roster %llu (key ids only grow)",
			    (unsigned long long)version,
			    (unsigned)b->enc[j].key_id, a->id, (unsigned)max,
			    (unsigned long long)version - 1);
			return (FERRY_EBADVALUE);
		}
	}
	return (0);
}

/* Agencies are never deleted or un-revoked; identities never change;
 * encryption key ids are never reused (check_enc_ids), when ${ids}: not
 * for saved versions replayed (time 0), adopted under the rules of their
 * day (an agent holding one must still start). */
static int
check_continuity(const struct roster *prev, const struct roster *next,
    int ids, char *why, size_t whylen)
{
	const struct roster_agency *a, *b;
	size_t i;
	int rc;

	for (i = 0; i < prev->nagencies; i++) {
		a = &prev->agencies[i];
		if ((b = roster_find(next, a->id)) == NULL) {
			say(why, whylen, "roster %llu drops agency %s",
			    (unsigned long long)next->version, a->id);
			return (FERRY_EBADVALUE);
		}
		if (a->kind != b->kind || a->added != b->added ||
		    memcmp(a->sign_pk, b->sign_pk, 32) != 0 ||
		    memcmp(a->curve_pk, b->curve_pk, 32) != 0) {
			say(why, whylen, "roster %llu changes the identity of "
			    "agency %s", (unsigned long long)next->version,
			    a->id);
			return (FERRY_EBADVALUE);
		}
		if (ids && (rc = check_enc_ids(a, b, next->version, why,
		    whylen)) != 0)
			return (rc);
		if (a->status == ROSTER_REVOKED && (b->status !=
		    ROSTER_REVOKED || b->revoked != a->revoked)) {
			say(why, whylen, "roster %llu un-revokes agency %s",
			    (unsigned long long)next->version, a->id);
			return (FERRY_EBADVALUE);
		}
		if (a->status == ROSTER_ACTIVE &&
		    b->status == ROSTER_REVOKED &&
		    b->revoked != next->version) {
			say(why, whylen, "roster %llu: agency %s has a wrong "
			    "revocation version", (unsigned long long)
			    next->version, a->id);
			return (FERRY_EBADVALUE);
		}
	}
	for (i = 0; i < next->nagencies; i++) {
		b = &next->agencies[i];
		if (roster_find(prev, b->id) == NULL &&
		    b->added != next->version) {
			say(why, whylen, "roster %llu: new agency %s has a "
			    "wrong version added", (unsigned long long)
			    next->version, b->id);
			return (FERRY_EBADVALUE);
		}
	}
	return (0);
}

int
roster_verify_next(const struct roster *prev, const struct roster *next,
    uint64_t now, char *why, size_t whylen)
{
	int rc;

	why_reset(why, whylen);
	if (prev->version == UINT64_MAX ||
	    next->version != prev->version + 1) {
		say(why, whylen, "roster %llu cannot follow roster %llu "
		    "(must be version %llu)%s", (unsigned long long)
		    next->version, (unsigned long long)prev->version,
		    (unsigned long long)prev->version + 1,
		    next->version > prev->version + 1 ? ": install each "
		    "version between in turn, the next one first" : "");
		return (FERRY_EROLLBACK);
	}
	if (now != 0 && now >= next->expires) {
		say(why, whylen, "roster %llu expired", (unsigned long long)
		    next->version);
		return (FERRY_EEXPIRED);
	}
	/* Continuity first: a version that breaks it is refused for that,
	 * not for the signatures it may still be waiting for (roster sign
	 * --previous writes nothing only then). */
	if ((rc = check_continuity(prev, next, now != 0, why, whylen)) != 0)
		return (rc);
	if ((rc = check_sigs(next, prev, next, why, whylen)) != 0)
		return (rc);
	say(why, whylen, "roster %llu follows roster %llu: signed by ",
	    (unsigned long long)next->version,
	    (unsigned long long)prev->version);
	say_signers(next, prev, next, why, whylen);
	return (0);
}
