/*
 * roster_edit.c: the partner roster built (see roster.h and
 * docs/protocol.md section 4): key requests made, rosters made and
 * edited, encoded, sealed and signed.  Calls go one way, into roster.c:
 * roster_seal checks what it encoded with roster.c's parser
 * (rosterx_parse_body), so an admin's tool can never write a roster that
 * verifiers would refuse.
 */
#include "roster.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ferry.h"
#include "ident.h"
#include "roster_int.h"
#include "wire.h"

/* ---- Small helpers ---------------------------------------------------- */

static int
is_agency_kind(uint64_t k)
{

	return (k >= IDENT_CHARITY && k <= IDENT_OTHER);
}

/* ---- Encryption keys (shared by requests and rosters) ------------------ */

static void
put_enc(struct wire_buf *w, const struct roster_enckey *enc, size_t n)
{
	size_t i;

	wire_put_array(w, n);
	for (i = 0; i < n; i++) {
		wire_put_map(w, 5);
		wire_put_uint(w, 1);
		wire_put_uint(w, enc[i].key_id);
		wire_put_uint(w, 2);
		wire_put_bin(w, enc[i].pk, 32);
		wire_put_uint(w, 3);
		wire_put_uint(w, enc[i].not_before);
		wire_put_uint(w, 4);
		wire_put_uint(w, enc[i].not_after);
		wire_put_uint(w, 5);
		wire_put_bin(w, enc[i].sig, 64);
	}
}

static int
cmp_enc(const void *a, const void *b)
{
	const struct roster_enckey *x = a, *y = b;

	return (x->key_id < y->key_id ? -1 : x->key_id > y->key_id);
}

/* ---- Key requests ----------------------------------------------------- */

int
roster_request_make(const struct ident *id, uint64_t now, uint8_t **out,
    size_t *len)
{
	struct roster_enckey enc[IDENT_MAX_ENC];
	struct wire_buf w;
	uint8_t *body = NULL;
	size_t blen, i, nf, nenc = 0;
	uint8_t sig[64];
	int rc;

	*out = NULL;
	*len = 0;
	if (id->kind < IDENT_CHARITY || id->kind > IDENT_RELAY)
		return (FERRY_EINVAL);
	if (is_agency_kind(id->kind)) {
		if (id->nenc < 1 || id->nenc > IDENT_MAX_ENC)
			return (FERRY_EINVAL);
		for (i = 0; i < id->nenc; i++) {
			enc[i].key_id = id->enc[i].key_id;
			memcpy(enc[i].pk, id->enc[i].pk, 32);
			enc[i].not_before = id->enc[i].not_before;
			enc[i].not_after = id->enc[i].not_after;
			memcpy(enc[i].sig, id->enc[i].sig, 64);
		}
		nenc = id->nenc;
		qsort(enc, nenc, sizeof(enc[0]), cmp_enc);
	}
	nf = id->kind == IDENT_ADMIN ? 6 : id->kind == IDENT_RELAY ? 7 : 8;
	wire_buf_init(&w);
	wire_put_map(&w, nf);
	wire_put_uint(&w, 1);
	wire_put_uint(&w, 1);
	wire_put_uint(&w, 2);
	wire_put_cstr(&w, id->id);
	wire_put_uint(&w, 3);
	wire_put_uint(&w, id->kind);
	wire_put_uint(&w, 4);
	wire_put_cstr(&w, id->name[0] != '\0' ? id->name : id->id);
	wire_put_uint(&w, 5);
	wire_put_uint(&w, now);
	wire_put_uint(&w, 6);
	wire_put_bin(&w, id->sign_pk, 32);
	if (nf >= 7) {
		wire_put_uint(&w, 7);
		wire_put_bin(&w, id->curve_pk, 32);
	}
	if (nf == 8) {
		wire_put_uint(&w, 8);
		put_enc(&w, enc, nenc);
	}
	if ((rc = wire_buf_take(&w, &body, &blen)) != 0)
		return (rc);
	if ((rc = ident_sign(id->sign_sk, ROSTER_REQUEST_TAG, body, blen,
	    sig)) != 0)
		goto done;
	wire_buf_init(&w);
	wire_put_array(&w, 2);
	wire_put_bin(&w, body, blen);
	wire_put_bin(&w, sig, 64);
	if ((rc = wire_buf_take(&w, out, len)) != 0)
		goto done;
	/* Never hand out what our own parser would refuse. */
	{
		struct roster_request chk;

		if ((rc = roster_request_parse(*out, *len, &chk)) != 0) {
			free(*out);
			*out = NULL;
			*len = 0;
		}
	}
done:
	free(body);
	return (rc);
}

/* ---- Roster body ------------------------------------------------------ */

static void
put_relay(struct wire_buf *w, const struct roster_relay *rl)
{

	wire_put_map(w, rl->endpoint[0] != '\0' ? 5 : 4);
	wire_put_uint(w, 1);
	wire_put_cstr(w, rl->id);
	wire_put_uint(w, 2);
	wire_put_bin(w, rl->sign_pk, 32);
	wire_put_uint(w, 3);
	wire_put_bin(w, rl->curve_pk, 32);
	if (rl->endpoint[0] != '\0') {
		wire_put_uint(w, 4);
		wire_put_cstr(w, rl->endpoint);
	}
	wire_put_uint(w, 5);
	wire_put_bin(w, rl->request, rl->request_len);
}

static int
encode_body(const struct roster *r, uint8_t **out, size_t *len)
{
	struct wire_buf w;
	size_t i;

	wire_buf_init(&w);
	wire_put_map(&w, r->nrelays > 1 ? 9 : 8);
	wire_put_uint(&w, 1);
	wire_put_uint(&w, ROSTER_FORMAT);
	wire_put_uint(&w, 2);
	wire_put_uint(&w, r->version);
	wire_put_uint(&w, 3);
	wire_put_uint(&w, r->issued);
	wire_put_uint(&w, 4);
	wire_put_uint(&w, r->expires);
	wire_put_uint(&w, 5);
	wire_put_uint(&w, r->threshold);
	wire_put_uint(&w, 6);
	wire_put_array(&w, r->nadmins);
	for (i = 0; i < r->nadmins; i++) {
		const struct roster_admin *a = &r->admins[i];

		wire_put_map(&w, 3);
		wire_put_uint(&w, 1);
		wire_put_cstr(&w, a->name);
		wire_put_uint(&w, 2);
		wire_put_bin(&w, a->sign_pk, 32);
		wire_put_uint(&w, 3);
		wire_put_bin(&w, a->request, a->request_len);
	}
	wire_put_uint(&w, 7);
	put_relay(&w, &r->relays[0]);
	wire_put_uint(&w, 8);
	wire_put_array(&w, r->nagencies);
	for (i = 0; i < r->nagencies; i++) {
		const struct roster_agency *a = &r->agencies[i];
		int revoked = a->status == ROSTER_REVOKED;

		wire_put_map(&w, revoked ? 10 : 9);
		wire_put_uint(&w, 1);
		wire_put_cstr(&w, a->id);
		wire_put_uint(&w, 2);
		wire_put_uint(&w, a->kind);
		wire_put_uint(&w, 3);
		wire_put_cstr(&w, a->name);
		wire_put_uint(&w, 4);
		wire_put_uint(&w, a->status);
		wire_put_uint(&w, 5);
		wire_put_uint(&w, a->added);
		if (revoked) {
			wire_put_uint(&w, 6);
			wire_put_uint(&w, a->revoked);
		}
		wire_put_uint(&w, 7);
		wire_put_bin(&w, a->sign_pk, 32);
		wire_put_uint(&w, 8);
		wire_put_bin(&w, a->curve_pk, 32);
		wire_put_uint(&w, 9);
		put_enc(&w, a->enc, a->nenc);
		wire_put_uint(&w, 10);
		wire_put_bin(&w, a->request, a->request_len);
	}
	if (r->nrelays > 1) {
		wire_put_uint(&w, 9);
		wire_put_array(&w, r->nrelays - 1);
		for (i = 1; i < r->nrelays; i++)
			put_relay(&w, &r->relays[i]);
	}
	return (wire_buf_take(&w, out, len));
}

/* Re-encode the file [body, sigs] from r->body and r->sigs. */
static int
encode_file(struct roster *r)
{
	struct wire_buf w;
	uint8_t *out;
	size_t len, i;
	int rc;

	wire_buf_init(&w);
	wire_put_array(&w, 2);
	wire_put_bin(&w, r->body, r->body_len);
	wire_put_array(&w, r->nsigs);
	for (i = 0; i < r->nsigs; i++) {
		wire_put_array(&w, 2);
		wire_put_bin(&w, r->sigs[i].pk, 32);
		wire_put_bin(&w, r->sigs[i].sig, 64);
	}
	if ((rc = wire_buf_take(&w, &out, &len)) != 0)
		return (rc);
	free(r->file);
	r->file = out;
	r->file_len = len;
	return (0);
}

/* ---- Editing ---------------------------------------------------------- */

/* Any edit invalidates the body, the file and the signatures. */
static void
unseal(struct roster *r)
{

	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	free(r->file);
	r->file = NULL;
	r->file_len = 0;
	r->nsigs = 0;
	memset(r->hash, 0, sizeof(r->hash));
}

int
roster_new(uint64_t now, uint64_t expires, struct roster **out)
{
	struct roster *r;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (FERRY_ENOMEM);
	r->version = 1;
	r->issued = now;
	r->expires = expires;
	*out = r;
	return (0);
}

int
roster_next(const struct roster *prev, uint64_t now, uint64_t expires,
    struct roster **out)
{
	struct roster *r;
	size_t i;

	*out = NULL;
	if (prev->version == UINT64_MAX)
		return (FERRY_EINVAL);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (FERRY_ENOMEM);
	r->version = prev->version + 1;
	r->issued = now;
	r->expires = expires;
	r->threshold = prev->threshold;
	for (i = 0; i < prev->nadmins; i++) {
		r->admins[i] = prev->admins[i];
		if ((r->admins[i].request = dup_bytes(prev->admins[i].request,
		    prev->admins[i].request_len)) == NULL)
			goto nomem;
		r->nadmins++;
	}
	for (i = 0; i < prev->nrelays; i++) {
		r->relays[i] = prev->relays[i];
		if ((r->relays[i].request = dup_bytes(prev->relays[i].request,
		    prev->relays[i].request_len)) == NULL)
			goto nomem;
		r->nrelays++;
	}
	if (prev->nagencies > 0 && (r->agencies = calloc(prev->nagencies,
	    sizeof(r->agencies[0]))) == NULL)
		goto nomem;
	for (i = 0; i < prev->nagencies; i++) {
		r->agencies[i] = prev->agencies[i];
		if ((r->agencies[i].request = dup_bytes(
		    prev->agencies[i].request,
		    prev->agencies[i].request_len)) == NULL)
			goto nomem;
		r->nagencies++;
	}
	*out = r;
	return (0);
nomem:
	roster_free(r);
	return (FERRY_ENOMEM);
}

/* Is ${pk} used by anyone in ${r} (admin, relay, agency, enc key)? */
static int
key_used(const struct roster *r, const uint8_t pk[32])
{
	size_t i, j;

	for (i = 0; i < r->nadmins; i++)
		if (memcmp(r->admins[i].sign_pk, pk, 32) == 0)
			return (1);
	for (i = 0; i < r->nrelays; i++)
		if (memcmp(r->relays[i].sign_pk, pk, 32) == 0 ||
		    memcmp(r->relays[i].curve_pk, pk, 32) == 0)
			return (1);
	for (i = 0; i < r->nagencies; i++) {
		const struct roster_agency *a = &r->agencies[i];

		if (memcmp(a->sign_pk, pk, 32) == 0 ||
		    memcmp(a->curve_pk, pk, 32) == 0)
			return (1);
		for (j = 0; j < a->nenc; j++)
			if (memcmp(a->enc[j].pk, pk, 32) == 0)
				return (1);
	}
	return (0);
}

int
roster_admin_add(struct roster *r, const uint8_t *req, size_t len)
{
	struct roster_request q;
	struct roster_admin *a;
	size_t i;
	int rc;

	if ((rc = roster_request_parse(req, len, &q)) != 0)
		return (rc);
	if (q.kind != IDENT_ADMIN)
		return (FERRY_EBADVALUE);
	if (r->nadmins >= ROSTER_MAX_ADMINS)
		return (FERRY_ETOOBIG);
	for (i = 0; i < r->nadmins; i++)
		if (strcmp(r->admins[i].name, q.id) == 0)
			return (FERRY_EDUPAGENCY);
	if (key_used(r, q.sign_pk))
		return (FERRY_EDUPAGENCY);
	a = &r->admins[r->nadmins];
	memset(a, 0, sizeof(*a));
	if ((a->request = dup_bytes(req, len)) == NULL)
		return (FERRY_ENOMEM);
	a->request_len = len;
	memcpy(a->name, q.id, sizeof(a->name));
	memcpy(a->sign_pk, q.sign_pk, 32);
	r->nadmins++;
	unseal(r);
	return (0);
}

int
roster_admin_remove(struct roster *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nadmins; i++)
		if (strcmp(r->admins[i].name, name) == 0)
			break;
	if (i == r->nadmins)
		return (FERRY_ENOENT);
	free(r->admins[i].request);
	memmove(&r->admins[i], &r->admins[i + 1],
	    (r->nadmins - i - 1) * sizeof(r->admins[0]));
	r->nadmins--;
	unseal(r);
	return (0);
}

int
roster_set_threshold(struct roster *r, uint32_t t)
{

	if (t < 1 || t > ROSTER_MAX_ADMINS)
		return (FERRY_EINVAL);
	r->threshold = t;
	unseal(r);
	return (0);
}

int
roster_relay_set(struct roster *r, const uint8_t *req, size_t len,
    const char *endpoint)
{
	struct roster_request q;
	struct roster_relay old, *rl;
	uint8_t *copy;
	size_t elen, k;
	int rc;

	if ((rc = roster_request_parse(req, len, &q)) != 0)
		return (rc);
	if (q.kind != IDENT_RELAY)
		return (FERRY_EBADVALUE);
	elen = endpoint != NULL ? strlen(endpoint) : 0;
	if (elen > ROSTER_ENDPOINT_MAX)
		return (FERRY_ETOOBIG);
	if (elen > 0 && !wire_utf8_valid((const uint8_t *)endpoint, elen))
		return (FERRY_EBADVALUE);
	if (elen > 0) {
		msgpack_object eo;

		eo.type = MSGPACK_OBJECT_STR;
		eo.via.str.ptr = endpoint;
		eo.via.str.size = (uint32_t)elen;
		if (!text_ok(&eo))
			return (FERRY_EBADVALUE);
	}
	if (roster_find(r, q.id) != NULL)
		return (FERRY_EDUPAGENCY);
	/* The same id replaces that relay (a rotation), else one more. */
	for (k = 0; k < r->nrelays; k++)
		if (strcmp(r->relays[k].id, q.id) == 0)
			break;
	if (k == r->nrelays && r->nrelays >= ROSTER_MAX_RELAYS)
		return (FERRY_ETOOBIG);
	if (k < r->nrelays) {
		int ss = memcmp(r->relays[k].sign_pk, q.sign_pk, 32) == 0;
		int sc = memcmp(r->relays[k].curve_pk, q.curve_pk, 32) == 0;

		/* Both keys new (a rotation) or both kept (a move to
		 * another endpoint); the very same entry again is no change. */
		if (ss != sc)
			return (FERRY_EDUPAGENCY);
		if (ss && strcmp(r->relays[k].endpoint, endpoint != NULL ?
		    endpoint : "") == 0)
			return (FERRY_EEXIST);
	}
	if ((copy = dup_bytes(req, len)) == NULL)
		return (FERRY_ENOMEM);
	/* Check clashes without the replaced relay's keys, which go away. */
	rl = &r->relays[k];
	old = *rl;
	memset(rl, 0, sizeof(*rl));
	if (key_used(r, q.sign_pk) || key_used(r, q.curve_pk) ||
	    memcmp(q.sign_pk, q.curve_pk, 32) == 0) {
		*rl = old;
		free(copy);
		return (FERRY_EDUPAGENCY);
	}
	if (k < r->nrelays)
		free(old.request);
	else
		r->nrelays++;
	rl->request = copy;
	rl->request_len = len;
	memcpy(rl->id, q.id, sizeof(rl->id));
	memcpy(rl->sign_pk, q.sign_pk, 32);
	memcpy(rl->curve_pk, q.curve_pk, 32);
	if (elen > 0)
		memcpy(rl->endpoint, endpoint, elen + 1);
	unseal(r);
	return (0);
}

int
roster_relay_remove(struct roster *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->nrelays; i++)
		if (strcmp(r->relays[i].id, id) == 0)
			break;
	if (i == r->nrelays)
		return (FERRY_ENOENT);
	if (r->nrelays == 1)
		return (FERRY_EBADVALUE);
	free(r->relays[i].request);
	memmove(&r->relays[i], &r->relays[i + 1],
	    (r->nrelays - i - 1) * sizeof(r->relays[0]));
	r->nrelays--;
	memset(&r->relays[r->nrelays], 0, sizeof(r->relays[0]));
	unseal(r);
	return (0);
}

int
roster_agency_add(struct roster *r, const uint8_t *req, size_t len)
{
	struct roster_request q;
	struct roster_agency *na, *a;
	size_t i, pos;
	int rc;

	if ((rc = roster_request_parse(req, len, &q)) != 0)
		return (rc);
	if (!is_agency_kind(q.kind))
		return (FERRY_EBADVALUE);
	if (r->nagencies >= ROSTER_MAX_AGENCIES)
		return (FERRY_ETOOBIG);
	if (roster_find(r, q.id) != NULL || roster_find_relay(r, q.id) != NULL)
		return (FERRY_EDUPAGENCY);
	if (key_used(r, q.sign_pk) || key_used(r, q.curve_pk) ||
	    memcmp(q.sign_pk, q.curve_pk, 32) == 0)
		return (FERRY_EDUPAGENCY);
	for (i = 0; i < q.nenc; i++)
		if (key_used(r, q.enc[i].pk))
			return (FERRY_EDUPAGENCY);
	if ((na = realloc(r->agencies, (r->nagencies + 1) *
	    sizeof(r->agencies[0]))) == NULL)
		return (FERRY_ENOMEM);
	r->agencies = na;
	for (pos = 0; pos < r->nagencies; pos++)
		if (strcmp(q.id, r->agencies[pos].id) < 0)
			break;
	memmove(&r->agencies[pos + 1], &r->agencies[pos],
	    (r->nagencies - pos) * sizeof(r->agencies[0]));
	a = &r->agencies[pos];
	memset(a, 0, sizeof(*a));
	if ((a->request = dup_bytes(req, len)) == NULL) {
		memmove(&r->agencies[pos], &r->agencies[pos + 1],
		    (r->nagencies - pos) * sizeof(r->agencies[0]));
		return (FERRY_ENOMEM);
	}
	a->request_len = len;
	memcpy(a->id, q.id, sizeof(a->id));
	a->kind = q.kind;
	memcpy(a->name, q.name, sizeof(a->name));
	a->status = ROSTER_ACTIVE;
	a->added = r->version;
	memcpy(a->sign_pk, q.sign_pk, 32);
	memcpy(a->curve_pk, q.curve_pk, 32);
	a->nenc = q.nenc;
	memcpy(a->enc, q.enc, sizeof(a->enc));
	r->nagencies++;
	unseal(r);
	return (0);
}

int
roster_agency_revoke(struct roster *r, const char *id)
{
	struct roster_agency *a;

	if ((a = (struct roster_agency *)roster_find(r, id)) == NULL)
		return (FERRY_EUNKNOWNAGENCY);
	if (a->status == ROSTER_REVOKED)
		return (FERRY_EREVOKED);
	a->status = ROSTER_REVOKED;
	a->revoked = r->version;
	unseal(r);
	return (0);
}

int
roster_agency_set_enc(struct roster *r, const char *id,
    const struct ident_enckey *keys, size_t n)
{
	struct roster_enckey enc[IDENT_MAX_ENC];
	struct roster_agency *a, saved;
	size_t i, j;

	if ((a = (struct roster_agency *)roster_find(r, id)) == NULL)
		return (FERRY_EUNKNOWNAGENCY);
	if (n < 1 || n > IDENT_MAX_ENC)
		return (FERRY_EINVAL);
	for (i = 0; i < n; i++) {
		enc[i].key_id = keys[i].key_id;
		memcpy(enc[i].pk, keys[i].pk, 32);
		enc[i].not_before = keys[i].not_before;
		enc[i].not_after = keys[i].not_after;
		memcpy(enc[i].sig, keys[i].sig, 64);
		if (enc[i].key_id == 0 || enc[i].not_before >=
		    enc[i].not_after)
			return (FERRY_EBADVALUE);
		if (ident_enckey_verify(a->sign_pk, a->id, enc[i].key_id,
		    enc[i].pk, enc[i].not_before, enc[i].not_after,
		    enc[i].sig) != 0)
			return (FERRY_EBADSIG);
	}
	qsort(enc, n, sizeof(enc[0]), cmp_enc);
	for (i = 1; i < n; i++)
		if (enc[i].key_id == enc[i - 1].key_id)
			return (FERRY_EDUPAGENCY);
	/* New public keys must not clash with anyone else's. */
	saved = *a;
	a->nenc = 0;
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (memcmp(enc[i].pk, enc[j].pk, 32) == 0)
				break;
		if (j < i || key_used(r, enc[i].pk)) {
			*a = saved;
			return (FERRY_EDUPAGENCY);
		}
	}
	memcpy(a->enc, enc, sizeof(enc[0]) * n);
	a->nenc = n;
	unseal(r);
	return (0);
}

int
roster_seal(struct roster *r)
{
	struct roster chk;
	uint8_t *body;
	size_t blen;
	int rc;

	if (r->nrelays == 0)
		return (FERRY_EMISSING);
	if ((rc = encode_body(r, &body, &blen)) != 0)
		return (rc);
	memset(&chk, 0, sizeof(chk));
	if ((rc = rosterx_parse_body(body, blen, &chk)) != 0) {
		free(body);
		return (rc);
	}
	rosterx_free_entries(&chk);
	unseal(r);
	r->body = body;
	r->body_len = blen;
	crypto_hash_sha256(r->hash, body, blen);
	if ((rc = encode_file(r)) != 0) {
		unseal(r);
		return (rc);
	}
	return (0);
}

int
roster_sign(struct roster *r, const uint8_t sign_sk[64])
{
	size_t i;
	int rc;

	if (r->body == NULL)
		return (FERRY_EINVAL);
	if (r->nsigs >= ROSTER_MAX_SIGS)
		return (FERRY_ETOOBIG);
	/* Ed25519 secret keys are seed || pk. */
	for (i = 0; i < r->nsigs; i++)
		if (memcmp(r->sigs[i].pk, sign_sk + 32, 32) == 0)
			return (FERRY_EDUPSIG);
	if ((rc = ident_sign(sign_sk, ROSTER_TAG, r->body, r->body_len,
	    r->sigs[r->nsigs].sig)) != 0)
		return (rc);
	memcpy(r->sigs[r->nsigs].pk, sign_sk + 32, 32);
	r->nsigs++;
	if ((rc = encode_file(r)) != 0) {
		r->nsigs--;
		return (rc);
	}
	return (0);
}
