/*
 * roster.c: the partner roster read (see roster.h and docs/protocol.md
 * section 4): key requests and roster files parsed and checked, and the
 * lookups on a parsed roster.  roster_verify.c verifies a parsed roster
 * against its trust anchor; roster_edit.c makes key requests and builds,
 * edits, seals and signs rosters (roster_int.h says what they share).
 *
 * One parser (rosterx_parse_body) checks every rule a roster body must
 * satisfy; roster_seal runs it on what the editor encoded, so an admin's
 * tool can never write a roster that verifiers would refuse.
 */
#include "roster.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ferry.h"
#include "ident.h"
#include "roster_int.h"
#include "wire.h"

#define BODY_DEPTH 5	/* map > agencies > agency > enc keys > enc key */
#define FILE_DEPTH 3	/* [body, [[pk, sig], ...]] */
#define REQ_DEPTH 3	/* map > enc keys > enc key */

/* ---- Small helpers ---------------------------------------------------- */

/* Copy a str object that must be a valid id. */
static int
get_id(const msgpack_object *o, char out[FERRY_ID_MAX + 1])
{

	if (o->via.str.size == 0 || o->via.str.size > FERRY_ID_MAX ||
	    !ferry_id_valid(o->via.str.ptr, o->via.str.size))
		return (FERRY_EBADID);
	return (wire_str_copy(o, out, FERRY_ID_MAX + 1));
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
void
rosterx_free_entries(struct roster *r)
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
 * rosterx_parse_body(b, n, r): decode and check roster body ${b} into
 * ${r} (whose entries must be empty).  The body bytes themselves are not
 * kept here.
 */
int
rosterx_parse_body(const uint8_t *b, size_t n, struct roster *r)
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
	rosterx_free_entries(r);
	return (rc);
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
	if ((rc = rosterx_parse_body(r->body, r->body_len, r)) != 0)
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
	rosterx_free_entries(r);
	free(r->body);
	free(r->file);
	free(r);
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
