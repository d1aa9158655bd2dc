/*
 * test_roster.c: the partner roster (proto/roster.c, roster_verify.c,
 * roster_edit.c): key requests and their proof of possession, genesis
 * pinning, the TUF rule for version N+1, each refusal with its own error,
 * lookups, revocation and key rotation.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"
#include "ferry.h"
#include "../lib/harness.h"
#include "ident.h"
#include "roster.h"
#include "wire.h"

#define DAY (24ULL * 3600 * 1000)
#define YEAR (365 * DAY)

static uint64_t now;
static struct ident *alice, *bob, *carol, *dave, *erin, *relay;
static struct ident *charity, *police, *council;

static struct ident *
mk(const char *id, uint32_t kind)
{
	struct ident *i = NULL;

	if (ident_generate(id, kind, id, now, YEAR, &i) != 0) {
		printf("# ident_generate %s failed\n", id);
		exit(1);
	}
	return (i);
}

/* The key request of ${i} (malloc'd). */
static uint8_t *
req(const struct ident *i, size_t *len)
{
	uint8_t *b = NULL;

	if (roster_request_make(i, now, &b, len) != 0) {
		printf("# roster_request_make %s failed\n", i->id);
		exit(1);
	}
	return (b);
}

static int
add_admin(struct roster *r, const struct ident *i)
{
	uint8_t *b;
	size_t n;
	int rc;

	b = req(i, &n);
	rc = roster_admin_add(r, b, n);
	free(b);
	return (rc);
}

static int
add_agency(struct roster *r, const struct ident *i)
{
	uint8_t *b;
	size_t n;
	int rc;

	b = req(i, &n);
	rc = roster_agency_add(r, b, n);
	free(b);
	return (rc);
}

/* Round-trip through bytes, as a verifier would receive it. */
static struct roster *
reparse(const struct roster *r)
{
	const uint8_t *b;
	size_t n;
	struct roster *out = NULL;

	if (roster_bytes(r, &b, &n) != 0 || roster_parse(b, n, &out) != 0)
		return (NULL);
	return (out);
}

/* Genesis: alice, bob, carol (2 of 3), the relay, charity and police;
 * signed by ${s1} and ${s2} (either may be NULL). */
static struct roster *
genesis(const struct ident *s1, const struct ident *s2)
{
	struct roster *r = NULL, *p;
	uint8_t *b;
	size_t n;

	if (roster_new(now, now + 30 * DAY, &r) != 0)
		return (NULL);
	b = req(relay, &n);
	if (add_admin(r, alice) || add_admin(r, bob) || add_admin(r, carol) ||
	    roster_set_threshold(r, 2) ||
	    roster_relay_set(r, b, n, "tcp://127.0.0.1:7700") ||
	    add_agency(r, charity) || add_agency(r, police) ||
	    roster_seal(r) ||
	    (s1 != NULL && roster_sign(r, s1->sign_sk)) ||
	    (s2 != NULL && roster_sign(r, s2->sign_sk))) {
		free(b);
		roster_free(r);
		return (NULL);
	}
	free(b);
	p = reparse(r);
	roster_free(r);
	return (p);
}

/* Version prev+1 adding council, sealed, unsigned. */
static struct roster *
next_with_council(const struct roster *prev)
{
	struct roster *r = NULL;

	if (roster_next(prev, now, now + 30 * DAY, &r) != 0)
		return (NULL);
	if (add_agency(r, council) != 0 || roster_seal(r) != 0) {
		roster_free(r);
		return (NULL);
	}
	return (r);
}

static int
sign_all(struct roster *r, const struct ident *a, const struct ident *b)
{

	if (a != NULL && roster_sign(r, a->sign_sk) != 0)
		return (-1);
	if (b != NULL && roster_sign(r, b->sign_sk) != 0)
		return (-1);
	return (0);
}

TEST(request_roundtrip)
{
	struct roster_request q;
	char fp1[IDENT_FP_LEN], fp2[IDENT_FP_LEN];
	uint8_t *b;
	size_t n;

	b = req(charity, &n);
	CHECK_EQ(roster_request_parse(b, n, &q), 0);
	CHECK(strcmp(q.id, "charity") == 0);
	CHECK_EQ(q.kind, IDENT_CHARITY);
	CHECK(q.has_curve);
	CHECK_EQ(q.nenc, 1);
	CHECK(memcmp(q.sign_pk, charity->sign_pk, 32) == 0);
	CHECK(memcmp(q.enc[0].pk, charity->enc[0].pk, 32) == 0);
	roster_id_fingerprint(q.id, q.kind, q.sign_pk, fp1);
	roster_id_fingerprint(charity->id, charity->kind, charity->sign_pk,
	    fp2);
	CHECK(strcmp(fp1, fp2) == 0);
	CHECK_EQ(strlen(fp1), IDENT_FP_LEN - 1);
	/* Trailing byte and truncation. */
	b = realloc(b, n + 1);
	CHECK(b != NULL);
	b[n] = 0;
	CHECK_EQ(roster_request_parse(b, n + 1, &q), FERRY_ETRAILING);
	CHECK_EQ(roster_request_parse(b, n - 1, &q), FERRY_ETRUNCATED);
	free(b);
	/* An admin request carries the signing key only. */
	b = req(alice, &n);
	CHECK_EQ(roster_request_parse(b, n, &q), 0);
	CHECK_EQ(q.kind, IDENT_ADMIN);
	CHECK_EQ(q.has_curve, 0);
	CHECK_EQ(q.nenc, 0);
	free(b);
}

TEST(genesis_pinned)
{
	struct roster *g;
	char fp[IDENT_FP_LEN], hex[65], why[256];
	uint8_t h[32];

	g = genesis(alice, bob);
	CHECK(g != NULL);
	CHECK_EQ(g->version, 1);
	CHECK_EQ(g->nadmins, 3);
	CHECK_EQ(g->threshold, 2);
	CHECK_EQ(g->nagencies, 2);
	CHECK(strcmp(g->relays[0].endpoint, "tcp://127.0.0.1:7700") == 0);
	roster_fingerprint(g, fp);
	CHECK_EQ(roster_verify_genesis(g, fp, now, why, sizeof(why)), 0);
	CHECK(strstr(why, "alice") != NULL);
	roster_hash(g, h);
	ferry_hex(hex, h, 32);
	CHECK_EQ(roster_verify_genesis(g, hex, now, NULL, 0), 0);
	/* A different pin. */
	fp[0] = fp[0] == '1' ? '2' : '1';
	CHECK_EQ(roster_verify_genesis(g, fp, now, why, sizeof(why)),
	    FERRY_EPIN);
	/* A malformed pin is said to be one, not a mismatch. */
	CHECK_EQ(roster_verify_genesis(g, "12345 6789", now, why, sizeof(why)),
	    FERRY_EBADVALUE);
	CHECK(strstr(why, "not a roster fingerprint") != NULL);
	CHECK_EQ(roster_verify_genesis(g, NULL, now, why, sizeof(why)),
	    FERRY_EBADVALUE);
	CHECK_EQ(roster_pin_check(fp), 0);
	CHECK_EQ(roster_pin_check(hex), 0);
	CHECK_EQ(roster_pin_check("00000-00000:00000 00000 00000 00000 00000 "
	    "00000"), 0);
	CHECK_EQ(roster_pin_check(""), FERRY_EBADVALUE);
	CHECK_EQ(roster_pin_check("0000a 00000 00000 00000 00000 00000 00000 "
	    "00000"), FERRY_EBADVALUE);
	CHECK_EQ(roster_pin_check("00000 00000 00000 00000 00000 00000 00000 "
	    "0000"), FERRY_EBADVALUE);
	hex[5] = 'x';
	CHECK_EQ(roster_pin_check(hex), FERRY_EBADVALUE);
	roster_fingerprint(g, fp);
	CHECK_EQ(roster_verify_genesis(g, fp, g->expires, why, sizeof(why)),
	    FERRY_EEXPIRED);
	roster_free(g);
	/* Genesis signed by one admin only. */
	g = genesis(carol, NULL);
	CHECK(g != NULL);
	roster_fingerprint(g, fp);
	CHECK_EQ(roster_verify_genesis(g, fp, now, why, sizeof(why)),
	    FERRY_ETHRESHOLD);
	CHECK(strstr(why, "have carol; need one more of alice, bob") != NULL);
	roster_free(g);
}

TEST(bytes_roundtrip)
{
	struct roster *g, *g2;
	const uint8_t *b1, *b2;
	size_t n1, n2;
	uint8_t *cp;

	g = genesis(alice, bob);
	CHECK(g != NULL);
	CHECK_EQ(roster_bytes(g, &b1, &n1), 0);
	CHECK_EQ(roster_parse(b1, n1, &g2), 0);
	CHECK_EQ(roster_bytes(g2, &b2, &n2), 0);
	CHECK_EQ(n1, n2);
	CHECK(memcmp(b1, b2, n1) == 0);
	CHECK(memcmp(g->hash, g2->hash, 32) == 0);
	roster_free(g2);
	CHECK((cp = malloc(n1 + 1)) != NULL);
	memcpy(cp, b1, n1);
	cp[n1] = 0xc0;
	CHECK_EQ(roster_parse(cp, n1 + 1, &g2), FERRY_ETRAILING);
	CHECK_EQ(roster_parse(cp, n1 - 1, &g2), FERRY_ETRUNCATED);
	CHECK(g2 == NULL);
	free(cp);
	roster_free(g);
}

/* The onboarding run, in-process. */
TEST(onboarding_two_of_three)
{
	struct roster *g, *n, *n2;
	char why[256];

	g = genesis(alice, bob);
	CHECK(g != NULL);
	n = next_with_council(g);
	CHECK(n != NULL);
	CHECK_EQ(n->version, 2);
	CHECK_EQ(sign_all(n, alice, carol), 0);
	n2 = reparse(n);
	CHECK(n2 != NULL);
	CHECK_EQ(roster_verify_next(g, n2, now, why, sizeof(why)), 0);
	CHECK(strstr(why, "alice, carol") != NULL);
	CHECK(roster_find(n2, "council") != NULL);
	CHECK_EQ(roster_find(n2, "council")->added, 2);
	CHECK_EQ(roster_find(n2, "charity")->added, 1);
	CHECK(roster_find(g, "council") == NULL);
	roster_free(n2);
	roster_free(n);
	roster_free(g);
}

TEST(refuse_one_short)
{
	struct roster *g, *n;
	char why[256];

	g = genesis(alice, bob);
	n = next_with_council(g);
	CHECK(g != NULL && n != NULL);
	CHECK_EQ(sign_all(n, bob, NULL), 0);
	CHECK_EQ(roster_verify_next(g, n, now, why, sizeof(why)),
	    FERRY_ETHRESHOLD);
	CHECK(strstr(why, "1 of 2 signatures from the admins of roster 1: "
	    "have bob; need one more of alice, carol") != NULL);
	/* No signature at all. */
	roster_free(n);
	n = next_with_council(g);
	CHECK_EQ(roster_verify_next(g, n, now, why, sizeof(why)),
	    FERRY_ETHRESHOLD);
	CHECK(strstr(why, "have none; need 2 more of alice, bob, carol") !=
	    NULL);
	roster_free(n);
	roster_free(g);
}

TEST(refuse_same_admin_twice)
{
	struct roster *g, *n, *p;
	struct wire_buf w;
	uint8_t *b;
	size_t len;
	char why[256];

	g = genesis(alice, bob);
	n = next_with_council(g);
	CHECK(g != NULL && n != NULL);
	CHECK_EQ(roster_sign(n, alice->sign_sk), 0);
	CHECK_EQ(roster_sign(n, alice->sign_sk), FERRY_EDUPSIG);
	/* A file carrying alice's signature twice. */
	wire_buf_init(&w);
	wire_put_array(&w, 2);
	wire_put_bin(&w, n->body, n->body_len);
	wire_put_array(&w, 2);
	wire_put_array(&w, 2);
	wire_put_bin(&w, n->sigs[0].pk, 32);
	wire_put_bin(&w, n->sigs[0].sig, 64);
	wire_put_array(&w, 2);
	wire_put_bin(&w, n->sigs[0].pk, 32);
	wire_put_bin(&w, n->sigs[0].sig, 64);
	CHECK_EQ(wire_buf_take(&w, &b, &len), 0);
	CHECK_EQ(roster_parse(b, len, &p), FERRY_EDUPSIG);
	free(b);
	/* And a verifier handed such a roster in memory. */
	n->sigs[1] = n->sigs[0];
	n->nsigs = 2;
	CHECK_EQ(roster_verify_next(g, n, now, why, sizeof(why)),
	    FERRY_EDUPSIG);
	CHECK(strstr(why, "alice signed twice") != NULL);
	roster_free(n);
	roster_free(g);
}

TEST(refuse_non_admin)
{
	struct roster *g, *n;
	char why[256];

	g = genesis(alice, bob);
	n = next_with_council(g);
	CHECK(g != NULL && n != NULL);
	/* Two real admins and one stranger: the stranger is refused even
	 * though the threshold is met. */
	CHECK_EQ(sign_all(n, alice, bob), 0);
	CHECK_EQ(roster_sign(n, dave->sign_sk), 0);
	CHECK_EQ(roster_verify_next(g, n, now, why, sizeof(why)),
	    FERRY_ENOTADMIN);
	roster_free(n);
	/* An agency's key is not an admin's either. */
	n = next_with_council(g);
	CHECK_EQ(sign_all(n, alice, police), 0);
	CHECK_EQ(roster_verify_next(g, n, now, why, sizeof(why)),
	    FERRY_ENOTADMIN);
	roster_free(n);
	roster_free(g);
}

TEST(refuse_bad_signature)
{
	struct roster *g, *n;

	g = genesis(alice, bob);
	n = next_with_council(g);
	CHECK(g != NULL && n != NULL);
	CHECK_EQ(sign_all(n, alice, bob), 0);
	n->sigs[1].sig[5] ^= 1;
	CHECK_EQ(roster_verify_next(g, n, now, NULL, 0), FERRY_EBADSIG);
	roster_free(n);
	roster_free(g);
}

/* Change one byte inside a request's body and re-wrap it. */
static uint8_t *
alter_request(const uint8_t *b, size_t n, size_t *outlen, const char *from,
    const char *to)
{
	uint8_t *c;
	size_t i, fl = strlen(from);

	if ((c = malloc(n)) == NULL)
		return (NULL);
	memcpy(c, b, n);
	for (i = 0; i + fl <= n; i++)
		if (memcmp(c + i, from, fl) == 0) {
			memcpy(c + i, to, fl);
			*outlen = n;
			return (c);
		}
	free(c);
	return (NULL);
}

TEST(refuse_forged_request)
{
	struct roster *g, *n;
	struct ident *mallory;
	struct wire_buf w;
	uint8_t *b, *c, *body;
	size_t len, clen, blen;
	uint8_t sig[64];

	g = genesis(alice, bob);
	CHECK(g != NULL);
	CHECK_EQ(roster_next(g, now, now + DAY, &n), 0);
	/* Altered after signing: kind "council" name changed. */
	b = req(council, &len);
	c = alter_request(b, len, &clen, "council", "councix");
	CHECK(c != NULL);
	CHECK_EQ(roster_agency_add(n, c, clen), FERRY_EPOP);
	free(c);
	/* Any flipped byte in the signature. */
	b[len - 3] ^= 0x40;
	CHECK_EQ(roster_agency_add(n, b, len), FERRY_EPOP);
	free(b);
	/* Hand-built: police2's body with police's key, mallory-signed. */
	mallory = mk("police2", IDENT_POLICE);
	wire_buf_init(&w);
	wire_put_map(&w, 8);
	wire_put_uint(&w, 1); wire_put_uint(&w, 1);
	wire_put_uint(&w, 2); wire_put_cstr(&w, "police2");
	wire_put_uint(&w, 3); wire_put_uint(&w, IDENT_POLICE);
	wire_put_uint(&w, 4); wire_put_cstr(&w, "Police 2");
	wire_put_uint(&w, 5); wire_put_uint(&w, now);
	wire_put_uint(&w, 6); wire_put_bin(&w, police->sign_pk, 32);
	wire_put_uint(&w, 7); wire_put_bin(&w, mallory->curve_pk, 32);
	wire_put_uint(&w, 8); wire_put_array(&w, 1);
	wire_put_map(&w, 5);
	wire_put_uint(&w, 1); wire_put_uint(&w, mallory->enc[0].key_id);
	wire_put_uint(&w, 2); wire_put_bin(&w, mallory->enc[0].pk, 32);
	wire_put_uint(&w, 3); wire_put_uint(&w, mallory->enc[0].not_before);
	wire_put_uint(&w, 4); wire_put_uint(&w, mallory->enc[0].not_after);
	wire_put_uint(&w, 5); wire_put_bin(&w, mallory->enc[0].sig, 64);
	CHECK_EQ(wire_buf_take(&w, &body, &blen), 0);
	CHECK_EQ(ident_sign(mallory->sign_sk, ROSTER_REQUEST_TAG, body, blen,
	    sig), 0);
	wire_buf_init(&w);
	wire_put_array(&w, 2);
	wire_put_bin(&w, body, blen);
	wire_put_bin(&w, sig, 64);
	CHECK_EQ(wire_buf_take(&w, &b, &len), 0);
	CHECK_EQ(roster_agency_add(n, b, len), FERRY_EPOP);
	free(b);
	free(body);
	ident_free(mallory);
	/* An entry whose stored request no longer matches it is refused by
	 * every verifier (roster_parse, via roster_seal here). */
	CHECK_EQ(add_agency(n, council), 0);
	memcpy(((struct roster_agency *)roster_find(n, "council"))->name,
	    "Evil", 5);
	CHECK_EQ(roster_seal(n), FERRY_EPOP);
	roster_free(n);
	roster_free(g);
}

/* A self-signed key request of ${i} under display name ${name} (${nl} bytes). */
static uint8_t *
request_named(const struct ident *i, const char *name, size_t nl,
    size_t *len)
{
	struct wire_buf w;
	uint8_t *body, *b = NULL;
	size_t blen;
	uint8_t sig[64];

	wire_buf_init(&w);
	wire_put_map(&w, 8);
	wire_put_uint(&w, 1); wire_put_uint(&w, 1);
	wire_put_uint(&w, 2); wire_put_cstr(&w, i->id);
	wire_put_uint(&w, 3); wire_put_uint(&w, i->kind);
	wire_put_uint(&w, 4); wire_put_str(&w, name, nl);
	wire_put_uint(&w, 5); wire_put_uint(&w, now);
	wire_put_uint(&w, 6); wire_put_bin(&w, i->sign_pk, 32);
	wire_put_uint(&w, 7); wire_put_bin(&w, i->curve_pk, 32);
	wire_put_uint(&w, 8); wire_put_array(&w, 1);
	wire_put_map(&w, 5);
	wire_put_uint(&w, 1); wire_put_uint(&w, i->enc[0].key_id);
	wire_put_uint(&w, 2); wire_put_bin(&w, i->enc[0].pk, 32);
	wire_put_uint(&w, 3); wire_put_uint(&w, i->enc[0].not_before);
	wire_put_uint(&w, 4); wire_put_uint(&w, i->enc[0].not_after);
	wire_put_uint(&w, 5); wire_put_bin(&w, i->enc[0].sig, 64);
	if (wire_buf_take(&w, &body, &blen) != 0)
		return (NULL);
	if (ident_sign(i->sign_sk, ROSTER_REQUEST_TAG, body, blen, sig) == 0) {
		wire_buf_init(&w);
		wire_put_array(&w, 2);
		wire_put_bin(&w, body, blen);
		wire_put_bin(&w, sig, 64);
		if (wire_buf_take(&w, &b, len) != 0)
			b = NULL;
	}
	free(body);
	return (b);
}

/*
 * Names are printed for the admin who checks fingerprints by phone: a
 * control character (newline, ESC, NUL, C1 CSI) could forge or hide the
 * fingerprint line, so a request carrying one is refused.
 */
TEST(refuse_control_chars_in_name)
{
#define S(x) { x, sizeof(x) - 1 }
	static const struct { const char *s; size_t n; } bad[] = {
		S("Evil\n  fingerprint: 0000"),
		S("Evil\x1b[2K"),
		S("Evil\0Police"),
		S("Evil\xc2\x9b" "2K"),
		S("Evil\x7f"),
	};
#undef S
	struct roster_request q;
	uint8_t *b;
	size_t len, k;

	CHECK((b = request_named(charity, "Caf\xc3\xa9 Charity", 13,
	    &len)) != NULL);
	CHECK_EQ(roster_request_parse(b, len, &q), 0);
	free(b);
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		CHECK((b = request_named(charity, bad[k].s, bad[k].n,
		    &len)) != NULL);
		CHECK_EQ(roster_request_parse(b, len, &q), FERRY_EBADVALUE);
		free(b);
	}
}

TEST(refuse_duplicate_agency)
{
	struct roster *g, *n;
	struct ident *twin, *thief;
	uint8_t *b;
	size_t len;

	g = genesis(alice, bob);
	CHECK(g != NULL);
	CHECK_EQ(roster_next(g, now, now + DAY, &n), 0);
	/* Same request again. */
	CHECK_EQ(add_agency(n, charity), FERRY_EDUPAGENCY);
	/* Same id, new keys. */
	twin = mk("police", IDENT_POLICE);
	CHECK_EQ(add_agency(n, twin), FERRY_EDUPAGENCY);
	ident_free(twin);
	/* New id, someone else's transport key (validly self-signed). */
	thief = mk("thief", IDENT_OTHER);
	memcpy(thief->curve_pk, police->curve_pk, 32);
	CHECK_EQ(add_agency(n, thief), FERRY_EDUPAGENCY);
	ident_free(thief);
	/* New id, an admin's signing key is not an agency key. */
	thief = mk("thief", IDENT_OTHER);
	b = req(thief, &len);
	CHECK_EQ(roster_agency_add(n, b, len), 0);
	free(b);
	/* The relay's id is taken too. */
	twin = mk("relay", IDENT_OTHER);
	CHECK_EQ(add_agency(n, twin), FERRY_EDUPAGENCY);
	ident_free(twin);
	ident_free(thief);
	/* An admin added twice. */
	CHECK_EQ(add_admin(n, alice), FERRY_EDUPAGENCY);
	roster_free(n);
	roster_free(g);
}

TEST(refuse_rollback)
{
	struct roster *g, *n2, *n3;
	char why[256];

	g = genesis(alice, bob);
	n2 = next_with_council(g);
	CHECK(g != NULL && n2 != NULL);
	CHECK_EQ(sign_all(n2, alice, bob), 0);
	CHECK_EQ(roster_verify_next(g, n2, now, NULL, 0), 0);
	CHECK_EQ(roster_next(n2, now, now + DAY, &n3), 0);
	CHECK_EQ(roster_agency_revoke(n3, "police"), 0);
	CHECK_EQ(roster_seal(n3), 0);
	CHECK_EQ(sign_all(n3, alice, bob), 0);
	CHECK_EQ(roster_verify_next(n2, n3, now, NULL, 0), 0);
	/* Older. */
	CHECK_EQ(roster_verify_next(n2, g, now, why, sizeof(why)),
	    FERRY_EROLLBACK);
	CHECK(strstr(why, "must be version 3") != NULL);
	/* Equal. */
	CHECK_EQ(roster_verify_next(n2, n2, now, NULL, 0), FERRY_EROLLBACK);
	/* Skipped: the versions between are named as the way out. */
	CHECK_EQ(roster_verify_next(g, n3, now, why, sizeof(why)),
	    FERRY_EROLLBACK);
	CHECK(strstr(why, "must be version 2): install each version between "
	    "in turn, the next one first") != NULL);
	roster_free(n3);
	roster_free(n2);
	roster_free(g);
}

TEST(refuse_expired)
{
	struct roster *g, *n;
	char why[256];

	g = genesis(alice, bob);
	CHECK(g != NULL);
	CHECK_EQ(roster_next(g, now - 2 * DAY, now - DAY, &n), 0);
	CHECK_EQ(roster_seal(n), 0);
	CHECK_EQ(sign_all(n, alice, bob), 0);
	CHECK_EQ(roster_verify_next(g, n, now, why, sizeof(why)),
	    FERRY_EEXPIRED);
	CHECK(strstr(why, "expired") != NULL);
	/* Exactly at expiry is expired; while catching up (now = 0) the
	 * intermediate version's expiry is not checked. */
	CHECK_EQ(roster_verify_next(g, n, n->expires, NULL, 0),
	    FERRY_EEXPIRED);
	CHECK_EQ(roster_verify_next(g, n, n->expires - 1, NULL, 0), 0);
	CHECK_EQ(roster_verify_next(g, n, 0, NULL, 0), 0);
	roster_free(n);
	roster_free(g);
}

TEST(admin_rotation)
{
	struct roster *g, *n;
	char why[256];

	g = genesis(alice, bob);
	CHECK(g != NULL);
	/* v2: admins become dave and erin, 2 of 2. */
	CHECK_EQ(roster_next(g, now, now + DAY, &n), 0);
	CHECK_EQ(roster_admin_remove(n, "alice"), 0);
	CHECK_EQ(roster_admin_remove(n, "bob"), 0);
	CHECK_EQ(roster_admin_remove(n, "carol"), 0);
	CHECK_EQ(roster_admin_remove(n, "carol"), FERRY_ENOENT);
	CHECK_EQ(add_admin(n, dave), 0);
	CHECK_EQ(add_admin(n, erin), 0);
	CHECK_EQ(roster_seal(n), 0);
	/* Signed only by the new admins: refused. */
	CHECK_EQ(sign_all(n, dave, erin), 0);
	CHECK_EQ(roster_verify_next(g, n, now, why, sizeof(why)),
	    FERRY_ETHRESHOLD);
	CHECK(strstr(why, "admins of roster 1: have none") != NULL);
	/* Old admins too: accepted. */
	CHECK_EQ(sign_all(n, alice, carol), 0);
	CHECK_EQ(roster_verify_next(g, n, now, why, sizeof(why)), 0);
	roster_free(n);
	/* Signed only by the old admins: the new set has not agreed. */
	CHECK_EQ(roster_next(g, now, now + DAY, &n), 0);
	CHECK_EQ(add_admin(n, dave), 0);
	CHECK_EQ(roster_set_threshold(n, 3), 0);
	CHECK_EQ(roster_seal(n), 0);
	CHECK_EQ(sign_all(n, alice, bob), 0);
	CHECK_EQ(roster_verify_next(g, n, now, why, sizeof(why)),
	    FERRY_ETHRESHOLD);
	CHECK(strstr(why, "2 of 3 signatures from the admins of roster 2") !=
	    NULL);
	CHECK_EQ(roster_sign(n, dave->sign_sk), 0);
	CHECK_EQ(roster_verify_next(g, n, now, NULL, 0), 0);
	/* A threshold above the admin count cannot be sealed. */
	CHECK_EQ(roster_set_threshold(n, 5), 0);
	CHECK_EQ(roster_seal(n), FERRY_EBADVALUE);
	roster_free(n);
	roster_free(g);
}

TEST(revoked_lookups)
{
	struct roster *g, *n;
	uint8_t pk[32];
	uint32_t kid;

	g = genesis(alice, bob);
	CHECK(g != NULL);
	CHECK_EQ(roster_sender_key(g, "police", pk), 0);
	CHECK(memcmp(pk, police->sign_pk, 32) == 0);
	CHECK_EQ(roster_sender_key(g, "relay", pk), 0);
	CHECK(memcmp(pk, relay->sign_pk, 32) == 0);
	CHECK_EQ(roster_enc_key_for_sending(g, "police", now, &kid, pk), 0);
	CHECK_EQ(kid, 1);
	CHECK(memcmp(pk, police->enc[0].pk, 32) == 0);
	CHECK(roster_find_by_curve(g, police->curve_pk) ==
	    roster_find(g, "police"));
	CHECK(roster_find_by_curve(g, relay->curve_pk) == NULL);
	CHECK_EQ(roster_sender_key(g, "nobody", pk), FERRY_EUNKNOWNAGENCY);
	CHECK_EQ(roster_enc_key_for_sending(g, "nobody", now, &kid, pk),
	    FERRY_EUNKNOWNAGENCY);
	/* Outside every key's window. */
	CHECK_EQ(roster_enc_key_for_sending(g, "police", now + 2 * YEAR, &kid,
	    pk), FERRY_EKEYWINDOW);
	CHECK_EQ(roster_enc_key_for_sending(g, "police", 0, &kid, pk),
	    FERRY_EKEYWINDOW);
	CHECK_EQ(roster_next(g, now, now + DAY, &n), 0);
	CHECK_EQ(roster_agency_revoke(n, "police"), 0);
	CHECK_EQ(roster_agency_revoke(n, "police"), FERRY_EREVOKED);
	CHECK_EQ(roster_seal(n), 0);
	CHECK_EQ(sign_all(n, bob, carol), 0);
	CHECK_EQ(roster_verify_next(g, n, now, NULL, 0), 0);
	CHECK_EQ(roster_sender_key(n, "police", pk), FERRY_EREVOKED);
	CHECK_EQ(roster_enc_key_for_sending(n, "police", now, &kid, pk),
	    FERRY_EREVOKED);
	CHECK_EQ(roster_find(n, "police")->status, ROSTER_REVOKED);
	CHECK_EQ(roster_find(n, "police")->revoked, 2);
	CHECK_EQ(roster_sender_key(n, "charity", pk), 0);
	roster_free(n);
	roster_free(g);
}

TEST(no_unrevoke_no_delete)
{
	struct roster *g, *n2, *n3;
	struct roster_agency *a;

	g = genesis(alice, bob);
	CHECK(g != NULL);
	CHECK_EQ(roster_next(g, now, now + DAY, &n2), 0);
	CHECK_EQ(roster_agency_revoke(n2, "police"), 0);
	CHECK_EQ(roster_seal(n2), 0);
	CHECK_EQ(sign_all(n2, alice, bob), 0);
	CHECK_EQ(roster_verify_next(g, n2, now, NULL, 0), 0);
	/* v3 quietly makes police active again. */
	CHECK_EQ(roster_next(n2, now, now + DAY, &n3), 0);
	a = (struct roster_agency *)roster_find(n3, "police");
	a->status = ROSTER_ACTIVE;
	a->revoked = 0;
	CHECK_EQ(roster_seal(n3), 0);
	CHECK_EQ(sign_all(n3, alice, bob), 0);
	CHECK_EQ(roster_verify_next(n2, n3, now, NULL, 0), FERRY_EBADVALUE);
	roster_free(n3);
	/* v3 drops charity. */
	CHECK_EQ(roster_next(n2, now, now + DAY, &n3), 0);
	free(n3->agencies[0].request);
	memmove(&n3->agencies[0], &n3->agencies[1],
	    sizeof(n3->agencies[0]) * (n3->nagencies - 1));
	n3->nagencies--;
	CHECK_EQ(roster_seal(n3), 0);
	CHECK_EQ(sign_all(n3, alice, bob), 0);
	CHECK_EQ(roster_verify_next(n2, n3, now, NULL, 0), FERRY_EBADVALUE);
	roster_free(n3);
	roster_free(n2);
	roster_free(g);
}

TEST(key_rotation_overlap)
{
	struct roster *g, *n;
	struct ident *sender;
	uint8_t pk[32], old_pk[32], ck[32], id[FERRY_MSGID_LEN];
	uint8_t *env = NULL, *content = NULL;
	size_t envlen, clen;
	uint32_t kid;
	struct env e;
	const char msg[] = "referral sealed to the old key";

	g = genesis(alice, bob);
	CHECK(g != NULL);
	sender = police;
	/* A sender seals to charity's current key (1) under roster 1. */
	CHECK_EQ(roster_enc_key_for_sending(g, "charity", now, &kid, pk), 0);
	CHECK_EQ(kid, 1);
	memcpy(old_pk, pk, 32);
	CHECK_EQ(env_seal(sender, "charity", pk, kid, (const uint8_t *)msg,
	    sizeof(msg), NULL, now, ck, id, &env, &envlen), 0);
	/* Charity rotates with a 7-day overlap; roster 2 lists both. */
	CHECK_EQ(ident_rotate(charity, now, YEAR, 7 * DAY), 0);
	CHECK_EQ(roster_next(g, now, now + 30 * DAY, &n), 0);
	CHECK_EQ(roster_agency_set_enc(n, "charity", charity->enc,
	    charity->nenc), 0);
	CHECK_EQ(roster_seal(n), 0);
	CHECK_EQ(sign_all(n, alice, carol), 0);
	CHECK_EQ(roster_verify_next(g, n, now, NULL, 0), 0);
	CHECK_EQ(roster_find(n, "charity")->nenc, 2);
	/* Senders now use the new key ... */
	CHECK_EQ(roster_enc_key_for_sending(n, "charity", now + 1, &kid, pk),
	    0);
	CHECK_EQ(kid, 2);
	CHECK(memcmp(pk, charity->enc[0].pk, 32) == 0);
	CHECK(memcmp(pk, old_pk, 32) != 0);
	/* ... and after the overlap too. */
	CHECK_EQ(roster_enc_key_for_sending(n, "charity", now + 8 * DAY,
	    &kid, pk), 0);
	CHECK_EQ(kid, 2);
	/* During the overlap the message sealed to key 1 still opens. */
	CHECK_EQ(env_open(env, envlen, 0, sender->sign_pk, charity, &e,
	    &content, &clen), 0);
	CHECK_EQ(clen, sizeof(msg));
	CHECK(memcmp(content, msg, clen) == 0);
	free(content);
	content = NULL;
	/* After the overlap a second rotation drops key 1: it no longer
	 * opens, and the roster stops listing it. */
	CHECK_EQ(ident_rotate(charity, now + 8 * DAY, YEAR, 7 * DAY), 0);
	CHECK(ident_enc_find(charity, 1) == NULL);
	CHECK(env_open(env, envlen, 0, sender->sign_pk, charity, &e,
	    &content, &clen) == FERRY_EWRONGKEY);
	free(content);
	free(env);
	/* The roster refuses a key not signed by the agency. */
	{
		struct ident_enckey bad = charity->enc[0];

		bad.not_after++;
		CHECK_EQ(roster_agency_set_enc(n, "charity", &bad, 1),
		    FERRY_EBADSIG);
	}
	roster_free(n);
	roster_free(g);
}

TEST(unsealed_and_sign_errors)
{
	struct roster *r;
	const uint8_t *b;
	size_t n;

	CHECK_EQ(roster_new(now, now + DAY, &r), 0);
	CHECK_EQ(roster_bytes(r, &b, &n), FERRY_EINVAL);
	CHECK_EQ(roster_sign(r, alice->sign_sk), FERRY_EINVAL);
	/* No relay yet. */
	CHECK_EQ(add_admin(r, alice), 0);
	CHECK_EQ(roster_set_threshold(r, 1), 0);
	CHECK_EQ(roster_seal(r), FERRY_EMISSING);
	CHECK_EQ(roster_set_threshold(r, 0), FERRY_EINVAL);
	roster_free(r);
	roster_free(NULL);
}

/* Re-wrap ${body} (patched) as an unsigned roster file and parse it. */
static int
parse_body_bytes(const uint8_t *body, size_t len)
{
	struct wire_buf w;
	struct roster *r = NULL;
	uint8_t *b;
	size_t n;
	int rc;

	wire_buf_init(&w);
	wire_put_array(&w, 2);
	wire_put_bin(&w, body, len);
	wire_put_array(&w, 0);
	if (wire_buf_take(&w, &b, &n) != 0)
		return (FERRY_ENOMEM);
	rc = roster_parse(b, n, &r);
	free(b);
	roster_free(r);
	return (rc);
}

TEST(parse_strict)
{
	struct roster *g, *n;
	struct roster_agency tmp;
	uint8_t *b;

	g = genesis(alice, bob);
	CHECK(g != NULL);
	CHECK_EQ(parse_body_bytes(g->body, g->body_len), 0);
	CHECK((b = malloc(g->body_len + 2)) != NULL);
	memcpy(b, g->body, g->body_len);
	/* fixmap of 8, key 1 (format) = 1: format 2 is unknown. */
	CHECK_EQ(b[0], 0x88);
	CHECK_EQ(b[1], 0x01);
	CHECK_EQ(b[2], 0x01);
	b[2] = 0x02;
	CHECK_EQ(parse_body_bytes(b, g->body_len), FERRY_EVERSION);
	b[2] = 0x01;
	/* A tenth field (9 is the list of further relays). */
	b[0] = 0x89;
	b[g->body_len] = 0x0a;
	b[g->body_len + 1] = 0x00;
	CHECK_EQ(parse_body_bytes(b, g->body_len + 2), FERRY_EUNKNOWNFIELD);
	/* Truncated body. */
	b[0] = 0x88;
	CHECK_EQ(parse_body_bytes(b, g->body_len - 1), FERRY_ETRUNCATED);
	free(b);
	/* Two agencies with one id, and agencies out of order. */
	CHECK_EQ(roster_next(g, now, now + DAY, &n), 0);
	memcpy(n->agencies[1].id, n->agencies[0].id, sizeof(n->agencies[0].id));
	CHECK_EQ(roster_seal(n), FERRY_EDUPAGENCY);
	roster_free(n);
	CHECK_EQ(roster_next(g, now, now + DAY, &n), 0);
	tmp = n->agencies[0];
	n->agencies[0] = n->agencies[1];
	n->agencies[1] = tmp;
	CHECK_EQ(roster_seal(n), FERRY_ENONCANON);
	roster_free(n);
	/* An entry claiming another agency's transport key. */
	CHECK_EQ(roster_next(g, now, now + DAY, &n), 0);
	memcpy(n->agencies[0].curve_pk, n->agencies[1].curve_pk, 32);
	CHECK_EQ(roster_seal(n), FERRY_EPOP);
	roster_free(n);
	roster_free(g);
}

/* Relay ${id} with fresh keys, added to ${r} at ${endpoint}. */
static int
add_relay(struct roster *r, const char *id, const char *endpoint)
{
	struct ident *i = mk(id, IDENT_RELAY);
	uint8_t *b;
	size_t n;
	int rc;

	b = req(i, &n);
	rc = roster_relay_set(r, b, n, endpoint);
	free(b);
	ident_free(i);
	return (rc);
}

/*
 * Several relays: listed in order, found by id, each a sender key, kept
 * across versions; a roster with one relay encodes as before (8 fields),
 * one with two in 9; the same id replaces (rotation); removing works but
 * never the last one; a relay id twice or an agency's id is refused.
 */
TEST(several_relays)
{
	struct roster *g, *n, *p, *q;
	uint8_t pk[32], old_pk[32];
	char id[16];
	char why[256];
	size_t k;

	g = genesis(alice, bob);
	CHECK(g != NULL);
	CHECK_EQ(g->nrelays, 1);
	CHECK_EQ(g->body[0], 0x88);
	CHECK_EQ(roster_next(g, now, now + DAY, &n), 0);
	CHECK_EQ(add_relay(n, "relay-b", "tcp://127.0.0.1:7701"), 0);
	CHECK_EQ(roster_seal(n), 0);
	CHECK_EQ(n->body[0], 0x89);
	CHECK_EQ(sign_all(n, alice, bob), 0);
	CHECK((p = reparse(n)) != NULL);
	CHECK_EQ(p->nrelays, 2);
	CHECK(strcmp(p->relays[0].id, "relay") == 0);
	CHECK(strcmp(p->relays[1].id, "relay-b") == 0);
	CHECK(strcmp(p->relays[1].endpoint, "tcp://127.0.0.1:7701") == 0);
	CHECK(roster_find_relay(p, "relay-b") == &p->relays[1]);
	CHECK(roster_find_relay(p, "charity") == NULL);
	CHECK_EQ(roster_sender_key(p, "relay-b", pk), 0);
	CHECK(memcmp(pk, p->relays[1].sign_pk, 32) == 0);
	CHECK_EQ(roster_verify_next(g, p, now, why, sizeof(why)), 0);
	roster_free(n);

	/* Kept by roster_next; the same id replaces its keys in place. */
	CHECK_EQ(roster_next(p, now, now + DAY, &n), 0);
	CHECK_EQ(n->nrelays, 2);
	memcpy(old_pk, n->relays[0].sign_pk, 32);
	CHECK_EQ(add_relay(n, "relay", "tcp://127.0.0.1:7702"), 0);
	CHECK_EQ(n->nrelays, 2);
	CHECK(strcmp(n->relays[0].id, "relay") == 0);
	CHECK(memcmp(n->relays[0].sign_pk, old_pk, 32) != 0);
	CHECK_EQ(roster_seal(n), 0);
	/* An agency's id is not a relay's. */
	CHECK_EQ(add_relay(n, "police", NULL), FERRY_EDUPAGENCY);
	/* Removing: unknown, then the first (the second takes field 7),
	 * then not the last one. */
	CHECK_EQ(roster_relay_remove(n, "nobody"), FERRY_ENOENT);
	CHECK_EQ(roster_relay_remove(n, "relay"), 0);
	CHECK_EQ(n->nrelays, 1);
	CHECK(strcmp(n->relays[0].id, "relay-b") == 0);
	CHECK_EQ(roster_relay_remove(n, "relay-b"), FERRY_EBADVALUE);
	CHECK_EQ(roster_seal(n), 0);
	CHECK_EQ(n->body[0], 0x88);
	CHECK((q = reparse(n)) != NULL);
	CHECK_EQ(q->nrelays, 1);
	CHECK(strcmp(q->relays[0].id, "relay-b") == 0);
	CHECK_EQ(roster_sender_key(q, "relay", pk), FERRY_EUNKNOWNAGENCY);
	roster_free(q);
	roster_free(n);

	/* At most ROSTER_MAX_RELAYS. */
	CHECK_EQ(roster_next(p, now, now + DAY, &n), 0);
	for (k = 2; k < ROSTER_MAX_RELAYS; k++) {
		snprintf(id, sizeof(id), "relay-%zu", k);
		CHECK_EQ(add_relay(n, id, NULL), 0);
	}
	CHECK_EQ(add_relay(n, "relay-x", NULL), FERRY_ETOOBIG);
	CHECK_EQ(roster_seal(n), 0);
	CHECK((q = reparse(n)) != NULL);
	CHECK_EQ(q->nrelays, ROSTER_MAX_RELAYS);
	roster_free(q);
	/* One relay id twice is refused by the parser. */
	memcpy(n->relays[2].id, n->relays[1].id, sizeof(n->relays[1].id));
	CHECK_EQ(roster_seal(n), FERRY_EDUPAGENCY);
	roster_free(n);
	roster_free(p);
	roster_free(g);
}

/* Golden roster ${name} (tests/vectors, hex) parsed, or NULL. */
static struct roster *
golden(const char *name)
{
	char path[256];
	unsigned char *hex;
	uint8_t *bin;
	size_t hlen, blen;
	struct roster *r = NULL;

	snprintf(path, sizeof(path), "tests/vectors/%s", name);
	if ((hex = t_read_file(path, &hlen)) == NULL)
		return (NULL);
	while (hlen > 0 && (hex[hlen - 1] == '\n' || hex[hlen - 1] == '\r'))
		hlen--;
	if ((bin = malloc(hlen / 2 + 1)) != NULL &&
	    sodium_hex2bin(bin, hlen / 2 + 1, (const char *)hex, hlen, NULL,
	    &blen, NULL) == 0 && roster_parse(bin, blen, &r) != 0)
		r = NULL;
	/* The file is canonical: it is exactly what roster_bytes gives. */
	if (r != NULL && (r->file_len != blen ||
	    memcmp(r->file, bin, blen) != 0)) {
		roster_free(r);
		r = NULL;
	}
	free(bin);
	free(hex);
	return (r);
}

/*
 * The golden rosters (also read by tests/interop/roster_interop.py):
 * version 1 with one relay, version 2 adding relay-b with ferry-keys
 * roster add-relay; 2 follows 1 under the TUF rule.
 */
TEST(golden_rosters)
{
	struct roster *r1, *r2;
	char hex[65], why[256];

	r1 = golden("roster_one_relay.hex");
	r2 = golden("roster_two_relays.hex");
	CHECK(r1 != NULL && r2 != NULL);
	if (r1 == NULL || r2 == NULL) {
		roster_free(r1);
		roster_free(r2);
		return;
	}
	CHECK_EQ(r1->nrelays, 1);
	CHECK(strcmp(r1->relays[0].id, "relay") == 0);
	CHECK_EQ(r2->nrelays, 2);
	CHECK(strcmp(r2->relays[1].id, "relay-b") == 0);
	CHECK(strcmp(r2->relays[1].endpoint,
	    "tcp://relay-b.example.net:7700") == 0);
	ferry_hex(hex, r1->hash, 32);
	CHECK_EQ(roster_verify_genesis(r1, hex, r1->issued, why,
	    sizeof(why)), 0);
	CHECK_EQ(roster_verify_next(r1, r2, r2->issued, why, sizeof(why)), 0);
	roster_free(r1);
	roster_free(r2);
}

/* The next version of ${prev} listing ${keys} as charity's encryption
 * keys, sealed and signed by alice and bob; NULL on failure. */
static struct roster *
next_charity_keys(const struct roster *prev, const struct ident_enckey *keys,
    size_t n)
{
	struct roster *r = NULL;

	if (roster_next(prev, now, now + 30 * DAY, &r) != 0)
		return (NULL);
	if (roster_agency_set_enc(r, "charity", keys, n) != 0 ||
	    roster_seal(r) != 0 || sign_all(r, alice, bob) != 0) {
		roster_free(r);
		return (NULL);
	}
	return (r);
}

/* A fresh encryption key ${id} of charity, signed by it (no secret). */
static void
charity_key(uint32_t id, struct ident_enckey *k)
{
	uint8_t sk[32];

	memset(k, 0, sizeof(*k));
	k->key_id = id;
	crypto_box_keypair(k->pk, sk);
	sodium_memzero(sk, sizeof(sk));
	k->not_before = now;
	k->not_after = now + YEAR;
	(void)ident_enckey_sign(charity->sign_sk, "charity", k);
}

/*
 * An encryption key id names one key for ever (review: a rotation from a
 * stale copy of the key file listed key 2 with another public key, and
 * verify --previous said OK; agents would have dropped the old key 2).
 */
TEST(refuse_enc_key_id_reuse)
{
	struct roster *g, *n2, *n3, *n3b, *n4;
	struct ident_enckey k[IDENT_MAX_ENC];
	const struct roster_agency *a;
	uint32_t top = 0;
	size_t i, nk;
	char why[512];

	g = genesis(alice, bob);
	CHECK(g != NULL);
	a = roster_find(g, "charity");
	nk = a->nenc;
	for (i = 0; i < nk; i++) {
		if (a->enc[i].key_id > top)
			top = a->enc[i].key_id;
		k[i + 1].key_id = a->enc[i].key_id;
		memcpy(k[i + 1].pk, a->enc[i].pk, 32);
		k[i + 1].not_before = a->enc[i].not_before;
		k[i + 1].not_after = a->enc[i].not_after;
		memcpy(k[i + 1].sig, a->enc[i].sig, 64);
		k[i + 1].sk = NULL;
	}
	/* Roster 2: charity's real rotation, new key top+1. */
	charity_key(top + 1, &k[0]);
	n2 = next_charity_keys(g, k, nk + 1);
	CHECK(n2 != NULL);
	CHECK_EQ(roster_verify_next(g, n2, now, NULL, 0), 0);
	/* Roster 3 from a stale key file: key top+1 again, another key. */
	charity_key(top + 1, &k[0]);
	n3 = next_charity_keys(n2, k, nk + 1);
	CHECK(n3 != NULL);
	CHECK_EQ(roster_verify_next(n2, n3, now, why, sizeof(why)),
	    FERRY_EBADVALUE);
	CHECK(strstr(why, "encryption key id") != NULL &&
	    strstr(why, "charity") != NULL &&
	    strstr(why, "another public key") != NULL);
	/* A saved version replayed at start (time 0) was adopted under the
	 * rules of its day: an agent holding one still starts. */
	CHECK_EQ(roster_verify_next(n2, n3, 0, NULL, 0), 0);
	/* Keys may be dropped; an id dropped is never given again. */
	a = roster_find(n2, "charity");
	for (i = 0; i < a->nenc; i++)
		if (a->enc[i].key_id == top + 1)
			break;
	CHECK(i < a->nenc);
	k[0].key_id = a->enc[i].key_id;
	memcpy(k[0].pk, a->enc[i].pk, 32);
	k[0].not_before = a->enc[i].not_before;
	k[0].not_after = a->enc[i].not_after;
	memcpy(k[0].sig, a->enc[i].sig, 64);
	n3b = next_charity_keys(n2, k, 1);
	CHECK(n3b != NULL);
	CHECK_EQ(roster_verify_next(n2, n3b, now, NULL, 0), 0);
	charity_key(top, &k[1]);
	n4 = next_charity_keys(n3b, k, 2);
	CHECK(n4 != NULL);
	CHECK_EQ(roster_verify_next(n3b, n4, now, why, sizeof(why)),
	    FERRY_EBADVALUE);
	CHECK(strstr(why, "is not above") != NULL);
	roster_free(n4);
	roster_free(n3b);
	roster_free(n3);
	roster_free(n2);
	roster_free(g);
}

int
main(void)
{

	t_init();
	now = ferry_now_ms();
	alice = mk("alice", IDENT_ADMIN);
	bob = mk("bob", IDENT_ADMIN);
	carol = mk("carol", IDENT_ADMIN);
	dave = mk("dave", IDENT_ADMIN);
	erin = mk("erin", IDENT_ADMIN);
	relay = mk("relay", IDENT_RELAY);
	charity = mk("charity", IDENT_CHARITY);
	police = mk("police", IDENT_POLICE);
	council = mk("council", IDENT_COUNCIL);
	RUN(request_roundtrip);
	RUN(genesis_pinned);
	RUN(bytes_roundtrip);
	RUN(onboarding_two_of_three);
	RUN(refuse_one_short);
	RUN(refuse_same_admin_twice);
	RUN(refuse_non_admin);
	RUN(refuse_bad_signature);
	RUN(refuse_forged_request);
	RUN(refuse_control_chars_in_name);
	RUN(refuse_duplicate_agency);
	RUN(refuse_rollback);
	RUN(refuse_expired);
	RUN(admin_rotation);
	RUN(revoked_lookups);
	RUN(no_unrevoke_no_delete);
	RUN(unsealed_and_sign_errors);
	RUN(parse_strict);
	RUN(key_rotation_overlap);
	RUN(several_relays);
	RUN(golden_rosters);
	RUN(refuse_enc_key_id_reuse);
	ident_free(alice);
	ident_free(bob);
	ident_free(carol);
	ident_free(dave);
	ident_free(erin);
	ident_free(relay);
	ident_free(charity);
	ident_free(police);
	ident_free(council);
	return (t_done());
}
