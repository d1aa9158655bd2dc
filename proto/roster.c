/*
 * roster.c: the partner roster and key requests (see roster.h and
 * docs/protocol.md section 4).
 *
 * One parser (parse_body) checks every rule a roster body must satisfy;
 * roster_seal runs it on what the editor encoded, so an admin's tool can
 * never write a roster that verifiers would refuse.
 */
#include "roster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ferry.h"
#include "ident.h"
#include "wire.h"

#define BODY_DEPTH 5	/* map > agencies > agency > enc keys > enc key */
#define FILE_DEPTH 3	/* [body, [[pk, sig], ...]] */
#define REQ_DEPTH 3	/* map > enc keys > enc key */

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

static uint8_t *
dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *q;

	if ((q = malloc(n > 0 ? n : 1)) == NULL)
		return (NULL);
	if (n > 0)
		memcpy(q, p, n);
	return (q);
}

static int
is_agency_kind(uint64_t k)
{

	return (k >= IDENT_CHARITY && k <= IDENT_OTHER);
}

/* Copy a str object that must be a valid id. */
static int
get_id(const msgpack_object *o, char out[FERRY_ID_MAX + 1])
{

	if (o->via.str.size == 0 || o->via.str.size > FERRY_ID_MAX ||
	    !ferry_id_valid(o->via.str.ptr, o->via.str.size))
		return (FERRY_EBADID);
	return (wire_str_copy(o, out, FERRY_ID_MAX + 1));
}

/* Is the str object ${o} printable text (wire_text_ok)? */
static int
text_ok(const msgpack_object *o)
{

	return (wire_text_ok((const uint8_t *)o->via.str.ptr,
	    o->via.str.size));
}

/* ---- Encryption keys (shared by requests and rosters) ------------------ */

static const struct wire_field enc_spec[] = {
	{ 1, WIRE_UINT, 1, 1, UINT32_MAX },	/* key_id */
	{ 2, WIRE_BIN, 1, 32, 32 },		/* pk */
	{ 3, WIRE_UINT, 1, 0, UINT64_MAX },	/* not_before */
	{ 4, WIRE_UINT, 1, 0, UINT64_MAX },	/* not_after */
	{ 5, WIRE_BIN, 1, 64, 64 },		/* sig */
};
#define NENC_SPEC (sizeof(enc_spec) / sizeof(enc_spec[0]))

/*
 * Parse an array of encryption keys of agency ${id} with signing key
 * ${sign_pk} into ${enc}; key ids strictly ascending; every signature
 * checked (FERRY_EBADSIG).
 */
static int
parse_enc(const msgpack_object *arr, const char *id,
    const uint8_t sign_pk[32], struct roster_enckey *enc, size_t *nenc)
{
	const msgpack_object *f[NENC_SPEC];
	size_t i;
	int rc;

	*nenc = 0;
	if (arr->via.array.size < 1 || arr->via.array.size > IDENT_MAX_ENC)
		return (arr->via.array.size < 1 ? FERRY_EBADVALUE :
		    FERRY_ETOOBIG);
	for (i = 0; i < arr->via.array.size; i++) {
		struct roster_enckey *k = &enc[i];

		if ((rc = wire_map_read(&arr->via.array.ptr[i], enc_spec,
		    NENC_SPEC, f)) != 0)
			return (rc);
		k->key_id = (uint32_t)f[0]->via.u64;
		if ((rc = wire_bin_copy(f[1], k->pk, 32)) != 0)
			return (rc);
		k->not_before = f[2]->via.u64;
		k->not_after = f[3]->via.u64;
		if ((rc = wire_bin_copy(f[4], k->sig, 64)) != 0)
			return (rc);
		if (k->not_before >= k->not_after)
			return (FERRY_EBADVALUE);
		if (i > 0 && k->key_id <= enc[i - 1].key_id)
			return (k->key_id == enc[i - 1].key_id ?
			    FERRY_EDUPAGENCY : FERRY_ENONCANON);
		if (sodium_is_zero(k->pk, 32))
			return (FERRY_EBADVALUE);
		if (ident_enckey_verify(sign_pk, id, k->key_id, k->pk,
		    k->not_before, k->not_after, k->sig) != 0)
			return (FERRY_EBADSIG);
	}
	*nenc = arr->via.array.size;
	return (0);
}

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

static const struct wire_field req_spec[] = {
	{ 1, WIRE_UINT, 1, 1, 1 },		/* format */
	{ 2, WIRE_STR, 1, 1, FERRY_ID_MAX },	/* id */
	{ 3, WIRE_UINT, 1, IDENT_CHARITY, IDENT_RELAY },	/* kind */
	{ 4, WIRE_STR, 1, 1, FERRY_NAME_MAX },	/* name */
	{ 5, WIRE_UINT, 1, 0, UINT64_MAX },	/* created */
	{ 6, WIRE_BIN, 1, 32, 32 },		/* sign_pk */
	{ 7, WIRE_BIN, 0, 32, 32 },		/* curve_pk */
	{ 8, WIRE_ARRAY, 0, 1, IDENT_MAX_ENC },	/* enc keys */
};
#define NREQ_SPEC (sizeof(req_spec) / sizeof(req_spec[0]))

int
roster_request_parse(const uint8_t *buf, size_t len,
    struct roster_request *req)
{
	struct wire_doc doc, bdoc;
	const msgpack_object *f[NREQ_SPEC];
	const msgpack_object *root;
	const uint8_t *body, *sig;
	size_t blen, slen;
	int rc;

	memset(req, 0, sizeof(*req));
	bdoc.live = 0;
	if (len > ROSTER_REQUEST_MAX)
		return (FERRY_ETOOBIG);
	if ((rc = wire_parse(buf, len, 1, &doc)) != 0)
		return (rc);
	root = &doc.root;
	if (root->type != MSGPACK_OBJECT_ARRAY) {
		rc = FERRY_ETYPE;
		goto done;
	}
	if (root->via.array.size != 2) {
		rc = FERRY_EBADVALUE;
		goto done;
	}
	if (root->via.array.ptr[0].type != MSGPACK_OBJECT_BIN ||
	    root->via.array.ptr[1].type != MSGPACK_OBJECT_BIN) {
		rc = FERRY_ETYPE;
		goto done;
	}
	body = wire_bin(&root->via.array.ptr[0], &blen);
	sig = wire_bin(&root->via.array.ptr[1], &slen);
	if (slen != 64) {
		rc = FERRY_EBADVALUE;
		goto done;
	}
	if ((rc = wire_parse(body, blen, REQ_DEPTH, &bdoc)) != 0)
		goto done;
	if ((rc = wire_map_read(&bdoc.root, req_spec, NREQ_SPEC, f)) != 0)
		goto done;
	if ((rc = get_id(f[1], req->id)) != 0)
		goto done;
	req->kind = (uint32_t)f[2]->via.u64;
	if (!text_ok(f[3])) {
		rc = FERRY_EBADVALUE;
		goto done;
	}
	if ((rc = wire_str_copy(f[3], req->name, sizeof(req->name))) != 0)
		goto done;
	req->created = f[4]->via.u64;
	if ((rc = wire_bin_copy(f[5], req->sign_pk, 32)) != 0)
		goto done;
	/* What each kind must and must not carry. */
	if (req->kind == IDENT_ADMIN) {
		if (f[6] != NULL || f[7] != NULL) {
			rc = FERRY_EUNKNOWNFIELD;
			goto done;
		}
	} else {
		if (f[6] == NULL) {
			rc = FERRY_EMISSING;
			goto done;
		}
		if ((rc = wire_bin_copy(f[6], req->curve_pk, 32)) != 0)
			goto done;
		req->has_curve = 1;
		if (sodium_is_zero(req->curve_pk, 32)) {
			rc = FERRY_EBADVALUE;
			goto done;
		}
		if (req->kind == IDENT_RELAY && f[7] != NULL) {
			rc = FERRY_EUNKNOWNFIELD;
			goto done;
		}
		if (req->kind != IDENT_RELAY && f[7] == NULL) {
			rc = FERRY_EMISSING;
			goto done;
		}
	}
	/* Proof of possession: the request is signed by its own key ... */
	if (ident_verify(req->sign_pk, ROSTER_REQUEST_TAG, body, blen,
	    sig) != 0) {
		rc = FERRY_EPOP;
		goto done;
	}
	/* ... and so is each encryption key it offers. */
	if (f[7] != NULL) {
		rc = parse_enc(f[7], req->id, req->sign_pk, req->enc,
		    &req->nenc);
		if (rc == FERRY_EBADSIG)
			rc = FERRY_EPOP;
		if (rc != 0)
			goto done;
	}
	rc = 0;
done:
	wire_doc_free(&bdoc);
	wire_doc_free(&doc);
	if (rc != 0)
		memset(req, 0, sizeof(*req));
	return (rc);
}

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

void
roster_id_fingerprint(const char *id, uint32_t kind,
    const uint8_t sign_pk[32], char out[IDENT_FP_LEN])
{
	struct wire_buf w;
	uint8_t *b;
	size_t n;

	wire_buf_init(&w);
	wire_put_array(&w, 3);
	wire_put_cstr(&w, id);
	wire_put_uint(&w, kind);
	wire_put_bin(&w, sign_pk, 32);
	if (wire_buf_take(&w, &b, &n) != 0) {
		/* Out of memory: a fingerprint nobody can match. */
		memset(out, '?', IDENT_FP_LEN - 1);
		out[IDENT_FP_LEN - 1] = '\0';
		return;
	}
	ident_fingerprint(b, n, out);
	free(b);
}

/* ---- Roster body ------------------------------------------------------ */

static const struct wire_field body_spec[] = {
	{ 1, WIRE_UINT, 1, 0, UINT64_MAX },	/* format (checked below) */
	{ 2, WIRE_UINT, 1, 1, UINT64_MAX },	/* version */
	{ 3, WIRE_UINT, 1, 0, UINT64_MAX },	/* issued */
	{ 4, WIRE_UINT, 1, 0, UINT64_MAX },	/* expires */
	{ 5, WIRE_UINT, 1, 1, ROSTER_MAX_ADMINS },	/* threshold */
	{ 6, WIRE_ARRAY, 1, 1, ROSTER_MAX_ADMINS },	/* admins */
	{ 7, WIRE_MAP, 1, 4, 5 },		/* relay */
	{ 8, WIRE_ARRAY, 1, 0, ROSTER_MAX_AGENCIES },	/* agencies */
	{ 9, WIRE_ARRAY, 0, 1, ROSTER_MAX_RELAYS - 1 },	/* more relays */
};
#define NBODY_SPEC (sizeof(body_spec) / sizeof(body_spec[0]))

static const struct wire_field admin_spec[] = {
	{ 1, WIRE_STR, 1, 1, FERRY_ID_MAX },	/* name */
	{ 2, WIRE_BIN, 1, 32, 32 },		/* sign_pk */
	{ 3, WIRE_BIN, 1, 1, ROSTER_REQUEST_MAX },	/* request */
};
#define NADMIN_SPEC (sizeof(admin_spec) / sizeof(admin_spec[0]))

static const struct wire_field relay_spec[] = {
	{ 1, WIRE_STR, 1, 1, FERRY_ID_MAX },	/* id */
	{ 2, WIRE_BIN, 1, 32, 32 },		/* sign_pk */
	{ 3, WIRE_BIN, 1, 32, 32 },		/* curve_pk */
	{ 4, WIRE_STR, 0, 1, ROSTER_ENDPOINT_MAX },	/* endpoint */
	{ 5, WIRE_BIN, 1, 1, ROSTER_REQUEST_MAX },	/* request */
};
#define NRELAY_SPEC (sizeof(relay_spec) / sizeof(relay_spec[0]))

static const struct wire_field agency_spec[] = {
	{ 1, WIRE_STR, 1, 1, FERRY_ID_MAX },	/* id */
	{ 2, WIRE_UINT, 1, IDENT_CHARITY, IDENT_OTHER },	/* kind */
	{ 3, WIRE_STR, 1, 1, FERRY_NAME_MAX },	/* name */
	{ 4, WIRE_UINT, 1, ROSTER_ACTIVE, ROSTER_REVOKED },	/* status */
	{ 5, WIRE_UINT, 1, 1, UINT64_MAX },	/* added (version) */
	{ 6, WIRE_UINT, 0, 1, UINT64_MAX },	/* revoked (version) */
	{ 7, WIRE_BIN, 1, 32, 32 },		/* sign_pk */
	{ 8, WIRE_BIN, 1, 32, 32 },		/* curve_pk */
	{ 9, WIRE_ARRAY, 1, 1, IDENT_MAX_ENC },	/* enc keys */
	{ 10, WIRE_BIN, 1, 1, ROSTER_REQUEST_MAX },	/* request */
};
#define NAGENCY_SPEC (sizeof(agency_spec) / sizeof(agency_spec[0]))

/* Free what the admins, relay and agencies own, leaving counts at 0. */
static void
free_entries(struct roster *r)
{
	size_t i;

	for (i = 0; i < r->nadmins; i++)
		free(r->admins[i].request);
	r->nadmins = 0;
	for (i = 0; i < r->nrelays; i++)
		free(r->relays[i].request);
	memset(r->relays, 0, sizeof(r->relays));
	r->nrelays = 0;
	for (i = 0; i < r->nagencies; i++)
		free(r->agencies[i].request);
	free(r->agencies);
	r->agencies = NULL;
	r->nagencies = 0;
}

static int
cmp_key(const void *a, const void *b)
{

	return (memcmp(a, b, 32));
}

/*
 * No public key may appear twice anywhere in the roster: a key reused
 * between two agencies, or between an agency and an admin or the relay,
 * would make lookups by key ambiguous and roles mixed.
 */
static int
check_unique_keys(const struct roster *r)
{
	uint8_t (*keys)[32];
	size_t n = 0, i, j, cap;
	int rc = 0;

	cap = r->nadmins + 2 * r->nrelays + r->nagencies * (2 + IDENT_MAX_ENC);
	if ((keys = malloc(cap * 32)) == NULL)
		return (FERRY_ENOMEM);
	for (i = 0; i < r->nadmins; i++)
		memcpy(keys[n++], r->admins[i].sign_pk, 32);
	for (i = 0; i < r->nrelays; i++) {
		memcpy(keys[n++], r->relays[i].sign_pk, 32);
		memcpy(keys[n++], r->relays[i].curve_pk, 32);
	}
	for (i = 0; i < r->nagencies; i++) {
		const struct roster_agency *a = &r->agencies[i];

		memcpy(keys[n++], a->sign_pk, 32);
		memcpy(keys[n++], a->curve_pk, 32);
		for (j = 0; j < a->nenc; j++)
			memcpy(keys[n++], a->enc[j].pk, 32);
	}
	qsort(keys, n, 32, cmp_key);
	for (i = 1; i < n; i++)
		if (memcmp(keys[i - 1], keys[i], 32) == 0) {
			rc = FERRY_EDUPAGENCY;
			break;
		}
	free(keys);
	return (rc);
}

/*
 * A stored key request must verify (proof of possession) and name the
 * entry it came with: same id, kind and keys.  Any difference is an
 * altered entry: FERRY_EPOP.
 */
static int
check_request(const uint8_t *req, size_t len, const char *id, uint32_t kind,
    const uint8_t sign_pk[32], const uint8_t *curve_pk,
    struct roster_request *out)
{

	/* Whatever is wrong with a stored request, the entry is unproven. */
	if (roster_request_parse(req, len, out) != 0)
		return (FERRY_EPOP);
	if (strcmp(out->id, id) != 0 || out->kind != kind ||
	    memcmp(out->sign_pk, sign_pk, 32) != 0)
		return (FERRY_EPOP);
	if (curve_pk != NULL && (!out->has_curve ||
	    memcmp(out->curve_pk, curve_pk, 32) != 0))
		return (FERRY_EPOP);
	return (0);
}

/*
 * parse_relay(o, r): decode relay map ${o} into the next free entry of
 * ${r}: its id unique among the relays (FERRY_EDUPAGENCY), its stored
 * request proving it.
 */
static int
parse_relay(const msgpack_object *o, struct roster *r)
{
	struct roster_relay *rl = &r->relays[r->nrelays];
	struct roster_request req;
	const msgpack_object *h[NRELAY_SPEC];
	const uint8_t *rq;
	size_t len, i;
	int rc;

	memset(rl, 0, sizeof(*rl));
	if ((rc = wire_map_read(o, relay_spec, NRELAY_SPEC, h)) != 0)
		return (rc);
	if ((rc = get_id(h[0], rl->id)) != 0)
		return (rc);
	for (i = 0; i < r->nrelays; i++)
		if (strcmp(r->relays[i].id, rl->id) == 0)
			return (FERRY_EDUPAGENCY);
	if ((rc = wire_bin_copy(h[1], rl->sign_pk, 32)) != 0 ||
	    (rc = wire_bin_copy(h[2], rl->curve_pk, 32)) != 0)
		return (rc);
	if (h[3] != NULL && !text_ok(h[3]))
		return (FERRY_EBADVALUE);
	if (h[3] != NULL && (rc = wire_str_copy(h[3], rl->endpoint,
	    sizeof(rl->endpoint))) != 0)
		return (rc);
	rq = wire_bin(h[4], &len);
	if ((rc = check_request(rq, len, rl->id, IDENT_RELAY, rl->sign_pk,
	    rl->curve_pk, &req)) != 0)
		return (rc);
	if ((rl->request = dup_bytes(rq, len)) == NULL)
		return (FERRY_ENOMEM);
	rl->request_len = len;
	r->nrelays++;
	return (0);
}

/*
 * parse_body(b, n, r): decode and check roster body ${b} into ${r} (whose
 * entries must be empty).  The body bytes themselves are not kept here.
 */
static int
parse_body(const uint8_t *b, size_t n, struct roster *r)
{
	struct wire_doc doc;
	struct roster_request req;
	const msgpack_object *f[NBODY_SPEC], *g[NAGENCY_SPEC];
	const msgpack_object *arr;
	size_t i, j;
	int rc;

	if ((rc = wire_parse(b, n, BODY_DEPTH, &doc)) != 0)
		return (rc);
	if ((rc = wire_map_read(&doc.root, body_spec, NBODY_SPEC, f)) != 0)
		goto err;
	if (f[0]->via.u64 != ROSTER_FORMAT) {
		rc = FERRY_EVERSION;
		goto err;
	}
	r->version = f[1]->via.u64;
	r->issued = f[2]->via.u64;
	r->expires = f[3]->via.u64;
	r->threshold = (uint32_t)f[4]->via.u64;

	/* Admins. */
	arr = f[5];
	for (i = 0; i < arr->via.array.size; i++) {
		struct roster_admin *a = &r->admins[i];
		const msgpack_object *h[NADMIN_SPEC];
		const uint8_t *rq;
		size_t rl;

		if ((rc = wire_map_read(&arr->via.array.ptr[i], admin_spec,
		    NADMIN_SPEC, h)) != 0)
			goto err;
		if ((rc = get_id(h[0], a->name)) != 0)
			goto err;
		if ((rc = wire_bin_copy(h[1], a->sign_pk, 32)) != 0)
			goto err;
		for (j = 0; j < i; j++)
			if (strcmp(r->admins[j].name, a->name) == 0) {
				rc = FERRY_EDUPAGENCY;
				goto err;
			}
		rq = wire_bin(h[2], &rl);
		if ((rc = check_request(rq, rl, a->name, IDENT_ADMIN,
		    a->sign_pk, NULL, &req)) != 0)
			goto err;
		if ((a->request = dup_bytes(rq, rl)) == NULL) {
			rc = FERRY_ENOMEM;
			goto err;
		}
		a->request_len = rl;
		r->nadmins++;
	}
	if (r->threshold > r->nadmins) {
		rc = FERRY_EBADVALUE;
		goto err;
	}

	/* The relays: the first in field 7, any others in field 9 (absent
	 * with one relay, so such a roster reads as before). */
	if ((rc = parse_relay(f[6], r)) != 0)
		goto err;
	for (i = 0; f[8] != NULL && i < f[8]->via.array.size; i++)
		if ((rc = parse_relay(&f[8]->via.array.ptr[i], r)) != 0)
			goto err;

	/* Agencies, strictly ascending by id. */
	arr = f[7];
	if (arr->via.array.size > 0 && (r->agencies = calloc(
	    arr->via.array.size, sizeof(r->agencies[0]))) == NULL) {
		rc = FERRY_ENOMEM;
		goto err;
	}
	for (i = 0; i < arr->via.array.size; i++) {
		struct roster_agency *a = &r->agencies[i];
		const uint8_t *rq;
		size_t rl;
		int c;

		if ((rc = wire_map_read(&arr->via.array.ptr[i], agency_spec,
		    NAGENCY_SPEC, g)) != 0)
			goto err;
		if ((rc = get_id(g[0], a->id)) != 0)
			goto err;
		if (i > 0 && (c = strcmp(a->id, r->agencies[i - 1].id)) <= 0) {
			rc = c == 0 ? FERRY_EDUPAGENCY : FERRY_ENONCANON;
			goto err;
		}
		if (roster_find_relay(r, a->id) != NULL) {
			rc = FERRY_EDUPAGENCY;
			goto err;
		}
		a->kind = (uint32_t)g[1]->via.u64;
		if (!text_ok(g[2])) {
			rc = FERRY_EBADVALUE;
			goto err;
		}
		if ((rc = wire_str_copy(g[2], a->name, sizeof(a->name))) != 0)
			goto err;
		a->status = (uint32_t)g[3]->via.u64;
		a->added = g[4]->via.u64;
		a->revoked = g[5] != NULL ? g[5]->via.u64 : 0;
		if (a->added > r->version) {
			rc = FERRY_EBADVALUE;
			goto err;
		}
		if (a->status == ROSTER_REVOKED && g[5] == NULL) {
			rc = FERRY_EMISSING;
			goto err;
		}
		if (a->status == ROSTER_ACTIVE && g[5] != NULL) {
			rc = FERRY_EUNKNOWNFIELD;
			goto err;
		}
		if (a->status == ROSTER_REVOKED && (a->revoked < a->added ||
		    a->revoked > r->version)) {
			rc = FERRY_EBADVALUE;
			goto err;
		}
		if ((rc = wire_bin_copy(g[6], a->sign_pk, 32)) != 0 ||
		    (rc = wire_bin_copy(g[7], a->curve_pk, 32)) != 0)
			goto err;
		rq = wire_bin(g[9], &rl);
		if ((rc = check_request(rq, rl, a->id, a->kind, a->sign_pk,
		    a->curve_pk, &req)) != 0)
			goto err;
		if (strcmp(req.name, a->name) != 0) {
			rc = FERRY_EPOP;
			goto err;
		}
		if ((rc = parse_enc(g[8], a->id, a->sign_pk, a->enc,
		    &a->nenc)) != 0)
			goto err;
		if ((a->request = dup_bytes(rq, rl)) == NULL) {
			rc = FERRY_ENOMEM;
			goto err;
		}
		a->request_len = rl;
		r->nagencies++;
	}
	if ((rc = check_unique_keys(r)) != 0)
		goto err;
	wire_doc_free(&doc);
	return (0);
err:
	wire_doc_free(&doc);
	free_entries(r);
	return (rc);
}

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

/* ---- Parsing and freeing ---------------------------------------------- */

int
roster_parse(const uint8_t *buf, size_t len, struct roster **out)
{
	struct wire_doc doc;
	struct roster *r;
	const msgpack_object *root, *sigs;
	const uint8_t *body;
	size_t blen, i, j;
	int rc;

	*out = NULL;
	if (len > ROSTER_MAX_BYTES)
		return (FERRY_ETOOBIG);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (FERRY_ENOMEM);
	if ((r->file = dup_bytes(buf, len)) == NULL) {
		free(r);
		return (FERRY_ENOMEM);
	}
	r->file_len = len;
	if ((rc = wire_parse(r->file, len, FILE_DEPTH, &doc)) != 0)
		goto err0;
	root = &doc.root;
	if (root->type != MSGPACK_OBJECT_ARRAY) {
		rc = FERRY_ETYPE;
		goto err1;
	}
	if (root->via.array.size != 2) {
		rc = FERRY_EBADVALUE;
		goto err1;
	}
	if (root->via.array.ptr[0].type != MSGPACK_OBJECT_BIN ||
	    root->via.array.ptr[1].type != MSGPACK_OBJECT_ARRAY) {
		rc = FERRY_ETYPE;
		goto err1;
	}
	sigs = &root->via.array.ptr[1];
	if (sigs->via.array.size > ROSTER_MAX_SIGS) {
		rc = FERRY_ETOOBIG;
		goto err1;
	}
	for (i = 0; i < sigs->via.array.size; i++) {
		const msgpack_object *s = &sigs->via.array.ptr[i];

		if (s->type != MSGPACK_OBJECT_ARRAY) {
			rc = FERRY_ETYPE;
			goto err1;
		}
		if (s->via.array.size != 2) {
			rc = FERRY_EBADVALUE;
			goto err1;
		}
		if (s->via.array.ptr[0].type != MSGPACK_OBJECT_BIN ||
		    s->via.array.ptr[1].type != MSGPACK_OBJECT_BIN) {
			rc = FERRY_ETYPE;
			goto err1;
		}
		if ((rc = wire_bin_copy(&s->via.array.ptr[0], r->sigs[i].pk,
		    32)) != 0 || (rc = wire_bin_copy(&s->via.array.ptr[1],
		    r->sigs[i].sig, 64)) != 0)
			goto err1;
		for (j = 0; j < i; j++)
			if (memcmp(r->sigs[j].pk, r->sigs[i].pk, 32) == 0) {
				rc = FERRY_EDUPSIG;
				goto err1;
			}
		r->nsigs++;
	}
	body = wire_bin(&root->via.array.ptr[0], &blen);
	if ((r->body = dup_bytes(body, blen)) == NULL) {
		rc = FERRY_ENOMEM;
		goto err1;
	}
	r->body_len = blen;
	wire_doc_free(&doc);
	if ((rc = parse_body(r->body, r->body_len, r)) != 0)
		goto err0;
	crypto_hash_sha256(r->hash, r->body, r->body_len);
	*out = r;
	return (0);
err1:
	wire_doc_free(&doc);
err0:
	roster_free(r);
	return (rc);
}

void
roster_free(struct roster *r)
{

	if (r == NULL)
		return;
	free_entries(r);
	free(r->body);
	free(r->file);
	free(r);
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

/* Agencies are never deleted or un-revoked; identities never change. */
static int
check_continuity(const struct roster *prev, const struct roster *next,
    char *why, size_t whylen)
{
	const struct roster_agency *a, *b;
	size_t i;

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
		    "(must be version %llu)", (unsigned long long)
		    next->version, (unsigned long long)prev->version,
		    (unsigned long long)prev->version + 1);
		return (FERRY_EROLLBACK);
	}
	if (now != 0 && now >= next->expires) {
		say(why, whylen, "roster %llu expired", (unsigned long long)
		    next->version);
		return (FERRY_EEXPIRED);
	}
	if ((rc = check_sigs(next, prev, next, why, whylen)) != 0)
		return (rc);
	if ((rc = check_continuity(prev, next, why, whylen)) != 0)
		return (rc);
	say(why, whylen, "roster %llu follows roster %llu: signed by ",
	    (unsigned long long)next->version,
	    (unsigned long long)prev->version);
	say_signers(next, prev, next, why, whylen);
	return (0);
}

/* ---- Lookups ---------------------------------------------------------- */

const struct roster_agency *
roster_find(const struct roster *r, const char *id)
{
	size_t lo = 0, hi = r->nagencies, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(id, r->agencies[mid].id);
		if (c == 0)
			return (&r->agencies[mid]);
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (NULL);
}

const struct roster_agency *
roster_find_by_curve(const struct roster *r, const uint8_t curve_pk[32])
{
	size_t i;

	for (i = 0; i < r->nagencies; i++)
		if (memcmp(r->agencies[i].curve_pk, curve_pk, 32) == 0)
			return (&r->agencies[i]);
	return (NULL);
}

const struct roster_relay *
roster_find_relay(const struct roster *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->nrelays; i++)
		if (strcmp(r->relays[i].id, id) == 0)
			return (&r->relays[i]);
	return (NULL);
}

int
roster_sender_key(const struct roster *r, const char *id,
    uint8_t sign_pk[32])
{
	const struct roster_agency *a;

	const struct roster_relay *rl;

	if ((rl = roster_find_relay(r, id)) != NULL) {
		memcpy(sign_pk, rl->sign_pk, 32);
		return (0);
	}
	if ((a = roster_find(r, id)) == NULL)
		return (FERRY_EUNKNOWNAGENCY);
	if (a->status != ROSTER_ACTIVE)
		return (FERRY_EREVOKED);
	memcpy(sign_pk, a->sign_pk, 32);
	return (0);
}

int
roster_enc_key_for_sending(const struct roster *r, const char *id,
    uint64_t now, uint32_t *key_id, uint8_t pk[32])
{
	const struct roster_agency *a;
	const struct roster_enckey *best = NULL;
	size_t i;

	if ((a = roster_find(r, id)) == NULL)
		return (FERRY_EUNKNOWNAGENCY);
	if (a->status != ROSTER_ACTIVE)
		return (FERRY_EREVOKED);
	for (i = 0; i < a->nenc; i++) {
		const struct roster_enckey *k = &a->enc[i];

		if (k->not_before <= now && now < k->not_after &&
		    (best == NULL || k->key_id > best->key_id))
			best = k;
	}
	if (best == NULL)
		return (FERRY_EKEYWINDOW);
	*key_id = best->key_id;
	memcpy(pk, best->pk, 32);
	return (0);
}

int
roster_is_admin(const struct roster *r, const uint8_t pk[32])
{
	size_t i;

	for (i = 0; i < r->nadmins; i++)
		if (memcmp(r->admins[i].sign_pk, pk, 32) == 0)
			return ((int)i);
	return (-1);
}

void
roster_hash(const struct roster *r, uint8_t out[32])
{

	memcpy(out, r->hash, 32);
}

void
roster_fingerprint(const struct roster *r, char out[IDENT_FP_LEN])
{

	ident_fingerprint(r->body, r->body_len, out);
}

int
roster_bytes(const struct roster *r, const uint8_t **buf, size_t *len)
{

	if (r->body == NULL || r->file == NULL)
		return (FERRY_EINVAL);
	*buf = r->file;
	*len = r->file_len;
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
	if ((rc = parse_body(body, blen, &chk)) != 0) {
		free(body);
		return (rc);
	}
	free_entries(&chk);
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
