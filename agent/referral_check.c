/*
 * referral_check.c: the validator of the ferry-referral/1 document.  The
 * generic walker checks structure against the schema's table
 * (referral_schema.c); check_referral and check_response then apply the
 * rules that depend on the kind of document (required fields per referral
 * type, consent, Duty to Notify anonymity).  The walker reads the document
 * through accessors (struct dv) over any of its forms: the sender's JSON
 * as refjson or jansson read it, the recipient's msgpack objects; and it
 * writes the canonical msgpack as it goes, so the sender encodes in the
 * validation pass and the recipient compares that encoding with the bytes
 * it received.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ferry.h"
#include "referral_int.h"
#include "refjson.h"
#include "wire.h"

/* Base64 (ferry_unbase64: RFC 4648 section 4, padded, canonical) into a
 * new buffer *${out} (free()). */
static int
b64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t *buf;
	size_t cap = len / 4 * 3 + 1;
	int rc;

	*out = NULL;
	*outlen = 0;
	if ((buf = malloc(cap)) == NULL)
		return (FERRY_ENOMEM);
	if ((rc = ferry_unbase64(buf, cap, s, len, outlen)) != 0) {
		free(buf);
		return (rc);
	}
	*out = buf;
	return (0);
}

static int
is_lowhex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
	return (1);
}

/* The accessors of a value in any of its forms (struct dv: referral_int.h). */
const struct dv ref_dv_none = { NULL, NULL, NULL };

static int
dv_present(struct dv v)
{

	return (v.r != NULL || v.j != NULL || v.m != NULL);
}

/* What a value is, whatever its form (strings and integers: dv_str and
 * dv_uint). */
enum dkind {
	DK_NONE = 0,	/* absent */
	DK_OBJECT,
	DK_ARRAY,
	DK_BOOL,
	DK_OTHER
};

static enum dkind
dv_kind(struct dv v)
{

	if (v.r != NULL)
		return (v.r->type == REFJSON_OBJECT ? DK_OBJECT :
		    v.r->type == REFJSON_ARRAY ? DK_ARRAY :
		    v.r->type == REFJSON_TRUE || v.r->type == REFJSON_FALSE ?
		    DK_BOOL : DK_OTHER);
	if (v.j != NULL)
		return (json_is_object(v.j) ? DK_OBJECT :
		    json_is_array(v.j) ? DK_ARRAY :
		    json_is_boolean(v.j) ? DK_BOOL : DK_OTHER);
	if (v.m != NULL)
		return (v.m->type == MSGPACK_OBJECT_MAP ? DK_OBJECT :
		    v.m->type == MSGPACK_OBJECT_ARRAY ? DK_ARRAY :
		    v.m->type == MSGPACK_OBJECT_BOOLEAN ? DK_BOOL : DK_OTHER);
	return (DK_NONE);
}

static int
dv_is_true(struct dv v)
{

	if (v.r != NULL)
		return (v.r->type == REFJSON_TRUE);
	return (v.j != NULL ? json_is_true(v.j) :
	    v.m != NULL && v.m->type == MSGPACK_OBJECT_BOOLEAN &&
	    v.m->via.boolean);
}

/* Members of an object or items of an array; 0 for anything else. */
static size_t
dv_size(struct dv v)
{
	enum dkind k = dv_kind(v);

	if (k != DK_OBJECT && k != DK_ARRAY)
		return (0);
	if (v.r != NULL)
		return (v.r->n);
	if (v.j != NULL)
		return (k == DK_OBJECT ? json_object_size(v.j) :
		    json_array_size(v.j));
	return (k == DK_OBJECT ? v.m->via.map.size : v.m->via.array.size);
}

/* Item ${i} (< dv_size) of an array. */
static struct dv
dv_item(struct dv v, size_t i)
{
	struct dv r = ref_dv_none;

	if (v.r != NULL)
		for (r.r = v.r->kid; i > 0; i--)
			r.r = r.r->next;
	else if (v.j != NULL)
		r.j = json_array_get(v.j, i);
	else
		r.m = &v.m->via.array.ptr[i];
	return (r);
}

/* Field ${k} of ${spec} in the object ${o}, or dv_none when absent. */
static struct dv
dv_field(struct dv o, const struct ospec *spec, size_t k)
{
	struct dv r = ref_dv_none;
	const struct refjson_node *n;
	const msgpack_object_kv *kv;
	const char *name = spec->f[k].name;
	size_t i, len;

	if (o.r != NULL && o.r->type == REFJSON_OBJECT) {
		len = strlen(name);
		for (n = o.r->kid; n != NULL; n = n->next)
			if (n->keylen == len && memcmp(n->key, name, len) == 0) {
				r.r = n;
				break;
			}
	} else if (o.j != NULL)
		r.j = json_object_get(o.j, name);
	else if (o.m != NULL && o.m->type == MSGPACK_OBJECT_MAP) {
		kv = o.m->via.map.ptr;
		for (i = 0; i < o.m->via.map.size; i++)
			if (kv[i].key.type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
			    kv[i].key.via.u64 == spec->f[k].num) {
				r.m = &kv[i].val;
				break;
			}
	}
	return (r);
}

/* The member ${name} of ${o}, an object of ${spec}, or dv_none. */
static struct dv
dv_get(struct dv o, const struct ospec *spec, const char *name)
{
	size_t k;

	for (k = 0; k < spec->n; k++)
		if (strcmp(spec->f[k].name, name) == 0)
			return (dv_field(o, spec, k));
	return (ref_dv_none);
}

/* The bytes of a string (a msgpack str is not NUL-terminated), or NULL. */
static const char *
dv_str(struct dv v, size_t *len)
{

	*len = 0;
	if (v.r != NULL) {
		if (v.r->type != REFJSON_STRING)
			return (NULL);
		*len = v.r->len;
		return (v.r->s);
	}
	if (v.j != NULL) {
		if (!json_is_string(v.j))
			return (NULL);
		*len = json_string_length(v.j);
		return (json_string_value(v.j));
	}
	if (v.m == NULL || v.m->type != MSGPACK_OBJECT_STR)
		return (NULL);
	*len = v.m->via.str.size;
	return (*len > 0 ? v.m->via.str.ptr : "");
}

/* Index in ${e} (NULL-terminated) of the ${len} bytes at ${s}, or -1. */
static int
enum_find(const char *const *e, const char *s, size_t len)
{
	int i;

	for (i = 0; e[i] != NULL; i++)
		if (strlen(e[i]) == len && memcmp(e[i], s, len) == 0)
			return (i);
	return (-1);
}

/* The word of ${e} that the string ${v} is (static), or NULL. */
static const char *
dv_enum(struct dv v, const char *const *e)
{
	const char *s;
	size_t len;
	int i;

	if ((s = dv_str(v, &len)) == NULL || (i = enum_find(e, s, len)) < 0)
		return (NULL);
	return (e[i]);
}

/* Whether ${v} is exactly the string ${s}. */
static int
dv_streq(struct dv v, const char *s)
{
	const char *p;
	size_t len;

	return ((p = dv_str(v, &len)) != NULL && len == strlen(s) &&
	    memcmp(p, s, len) == 0);
}

/* A non-negative integer into *${u}: 1, or 0 if ${v} is not one. */
static int
dv_uint(struct dv v, uint64_t *u)
{
	json_int_t n;

	if (v.r != NULL) {
		if (v.r->type != REFJSON_INTEGER)
			return (0);
		*u = v.r->u;
		return (1);
	}
	if (v.j != NULL) {
		if (!json_is_integer(v.j) || (n = json_integer_value(v.j)) < 0)
			return (0);
		*u = (uint64_t)n;
		return (1);
	}
	if (v.m == NULL || v.m->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (0);
	*u = v.m->via.u64;
	return (1);
}

/* Whether two items of one array are equal (they have passed their
 * checks: the one array whose items must differ holds strings). */
static int
dv_equal(struct dv a, struct dv b)
{
	const char *s, *t;
	size_t sl, tl;

	if (a.j != NULL)
		return (b.j != NULL && json_equal(a.j, b.j));
	if (a.m != NULL)
		return (b.m != NULL && msgpack_object_equal(*a.m, *b.m));
	return ((s = dv_str(a, &sl)) != NULL && (t = dv_str(b, &tl)) != NULL &&
	    sl == tl && memcmp(s, t, sl) == 0);
}

static int check_value(struct ctx *, struct dv, const struct vspec *,
    const char *);

/* Refuse a member ${key} of an object of ${spec} that is no field of it. */
static int
known_field(struct ctx *c, const struct ospec *spec, const char *key,
    const char *path)
{
	char sub[PATH_MAX_];
	size_t i;

	for (i = 0; i < spec->n; i++)
		if (strcmp(spec->f[i].name, key) == 0)
			return (0);
	ref_path_field(sub, path, key);
	return (ref_fail(c, FERRY_ESCHEMA, sub, "unknown field"));
}

/*
 * Checks of an object, and (c->w not NULL) its canonical msgpack written
 * as it goes: the fields in field-number order, as the spec lists them.
 */
static int
check_obj(struct ctx *c, struct dv o, const struct ospec *spec,
    const char *path)
{
	char sub[PATH_MAX_];
	const struct refjson_node *n;
	const char *key;
	json_t *v;
	struct dv f;
	size_t i;
	int rc;

	if (dv_kind(o) != DK_OBJECT)
		return (ref_fail(c, FERRY_ESCHEMA, path, "must be an object"));
	/* Unknown fields, in document order (the wire form has none:
	 * shape_value refused unknown field numbers). */
	if (o.r != NULL) {
		for (n = o.r->kid; n != NULL; n = n->next)
			if ((rc = known_field(c, spec, n->key, path)) != 0)
				return (rc);
	} else if (o.j != NULL) {
		json_object_foreach((json_t *)o.j, key, v)
			if ((rc = known_field(c, spec, key, path)) != 0)
				return (rc);
	}
	/* Every member is a known field now, each once. */
	if (c->w != NULL)
		wire_put_map(c->w, dv_size(o));
	for (i = 0; i < spec->n; i++) {
		f = dv_field(o, spec, i);
		if (!dv_present(f) && !spec->f[i].required)
			continue;
		ref_path_field(sub, path, spec->f[i].name);
		if (!dv_present(f))
			return (ref_fail(c, FERRY_ESCHEMA, sub, "required"));
		if (c->w != NULL)
			wire_put_uint(c->w, spec->f[i].num);
		if ((rc = check_value(c, f, &spec->f[i].v, sub)) != 0)
			return (rc);
	}
	return (0);
}

/*
 * An attachment's data: the JSON form's base64 decoded into *${bin}
 * (*${tofree}, free()), or the wire form's bin as it is.
 */
static int
check_b64(struct ctx *c, struct dv v, const struct vspec *vs,
    const char *path, const uint8_t **bin, size_t *binlen, uint8_t **tofree)
{
	const char *s;
	size_t len;
	int rc;

	*tofree = NULL;
	if (v.m != NULL) {
		/* shape_value checked the type and the size limit. */
		*bin = (const uint8_t *)v.m->via.bin.ptr;
		*binlen = v.m->via.bin.size;
		return (0);
	}
	if ((s = dv_str(v, &len)) == NULL)
		return (ref_fail(c, FERRY_ESCHEMA, path, "must be a string"));
	/* Refuse before decoding what cannot fit. */
	if (len / 4 * 3 > vs->max + 2)
		return (ref_fail(c, FERRY_ESCHEMA, path,
		    "attachment larger than %llu bytes",
		    (unsigned long long)vs->max));
	rc = b64_decode(s, len, tofree, binlen);
	if (rc == FERRY_ENOMEM)
		return (ref_fail(c, rc, path, "out of memory"));
	if (rc != 0)
		return (ref_fail(c, FERRY_ESCHEMA, path,
		    "not base64 (RFC 4648, padded, no whitespace)"));
	*bin = *tofree;
	return (0);
}

static int
check_value(struct ctx *c, struct dv v, const struct vspec *vs,
    const char *path)
{
	char sub[PATH_MAX_];
	uint8_t id[FERRY_MSGID_LEN];
	const uint8_t *bin = NULL;
	uint8_t *tofree;
	const char *s;
	size_t len, i, j, n, binlen;
	uint64_t u;
	int rc;

	switch (vs->type) {
	case V_STR:
		if ((s = dv_str(v, &len)) == NULL)
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "must be a string"));
		if (len == 0)
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "must not be empty"));
		if (len > vs->max)
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "longer than %llu bytes",
			    (unsigned long long)vs->max));
		if (len < vs->min)
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "shorter than %llu bytes",
			    (unsigned long long)vs->min));
		if ((rc = ref_check_format(c, s, len, vs->fmt, path)) != 0)
			return (rc);
		if (c->w != NULL)
			wire_put_str(c->w, s, len);
		return (0);
	case V_ENUM:
		/* A NUL inside the string matches no word. */
		if ((s = dv_str(v, &len)) == NULL ||
		    enum_find(vs->enums, s, len) < 0)
			return (ref_fail_enum(c, path, vs->enums));
		if (c->w != NULL)
			wire_put_str(c->w, s, len);
		return (0);
	case V_BOOL:
		if (dv_kind(v) != DK_BOOL)
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "must be true or false"));
		if (c->w != NULL)
			wire_put_bool(c->w, dv_is_true(v));
		return (0);
	case V_UINT:
		if (!dv_uint(v, &u) || u < vs->min || u > vs->max)
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "must be an integer from %llu to %llu",
			    (unsigned long long)vs->min,
			    (unsigned long long)vs->max));
		if (c->w != NULL)
			wire_put_uint(c->w, u);
		return (0);
	case V_HEX16:
		if (v.m != NULL) {
			/* shape_value checked: a bin of 16 bytes. */
			if (c->w != NULL)
				wire_put_bin(c->w, v.m->via.bin.ptr,
				    v.m->via.bin.size);
			return (0);
		}
		if ((s = dv_str(v, &len)) == NULL ||
		    len != 2 * FERRY_MSGID_LEN ||
		    !is_lowhex(s, 2 * FERRY_MSGID_LEN))
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "must be a message id (32 lowercase hex digits)"));
		if (c->w != NULL) {
			if (ferry_unhex(id, sizeof(id), s) != 0)
				return (ref_fail(c, FERRY_EINTERNAL, path,
				    "internal error"));
			wire_put_bin(c->w, id, sizeof(id));
		}
		return (0);
	case V_B64:
		if ((rc = check_b64(c, v, vs, path, &bin, &binlen, &tofree)) !=
		    0)
			return (rc);
		if (binlen < vs->min)
			rc = ref_fail(c, FERRY_ESCHEMA, path,
			    "attachment is empty");
		else if (binlen > vs->max)
			rc = ref_fail(c, FERRY_ESCHEMA, path,
			    "attachment larger than %llu bytes",
			    (unsigned long long)vs->max);
		else if ((c->attach_bytes += binlen) > REFERRAL_ATTACH_MAX)
			rc = ref_fail(c, FERRY_ESCHEMA, path,
			    "attachments larger than %u bytes in total",
			    REFERRAL_ATTACH_MAX);
		else if (c->w != NULL)
			wire_put_bin(c->w, bin, binlen);
		if (binlen >= vs->min && binlen <= vs->max)
			c->attach_count++;
		free(tofree);
		return (rc);
	case V_OBJ:
		return (check_obj(c, v, vs->obj, path));
	case V_ARR:
		if (dv_kind(v) != DK_ARRAY)
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "must be an array"));
		n = dv_size(v);
		if (n > vs->max)
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "more than %llu items",
			    (unsigned long long)vs->max));
		if (n < vs->min)
			return (ref_fail(c, FERRY_ESCHEMA, path,
			    "must have at least %llu item%s",
			    (unsigned long long)vs->min,
			    vs->min == 1 ? "" : "s"));
		if (c->w != NULL)
			wire_put_array(c->w, n);
		for (i = 0; i < n; i++) {
			ref_path_index(sub, path, i);
			if ((rc = check_value(c, dv_item(v, i), vs->elem,
			    sub)) != 0)
				return (rc);
			if (!vs->unique)
				continue;
			for (j = 0; j < i; j++)
				if (dv_equal(dv_item(v, i), dv_item(v, j)))
					return (ref_fail(c, FERRY_ESCHEMA, sub,
					    "repeats an earlier item"));
		}
		return (0);
	}
	return (ref_fail(c, FERRY_EINTERNAL, path, "internal error"));
}

/*
 * Refuse a member of ${d} named in ${notallowed} ("not allowed in a
 * ${what}") and a missing member named in ${required}.
 */
static int
check_members(struct ctx *c, struct dv d, const char *const *notallowed,
    const char *const *required, const char *what)
{
	int i;

	for (i = 0; notallowed[i] != NULL; i++)
		if (dv_present(dv_get(d, &ref_top_o, notallowed[i])))
			return (ref_fail(c, FERRY_ESCHEMA, notallowed[i],
			    "not allowed in a %s", what));
	for (i = 0; required[i] != NULL; i++)
		if (!dv_present(dv_get(d, &ref_top_o, required[i])))
			return (ref_fail(c, FERRY_ESCHEMA, required[i],
			    "required"));
	return (0);
}

/* The safe contact's details, checked as the method says. */
static int
check_safe_contact(struct ctx *c, struct dv sc)
{
	static const char *const dpath = "subject.safe_contact.details";
	struct dv det = dv_get(sc, &ref_safe_o, "details");
	const char *method = dv_enum(dv_get(sc, &ref_safe_o, "method"),
	    ref_methods);
	const char *s;
	size_t len;
	int phone, email;

	phone = strcmp(method, "phone") == 0;
	email = strcmp(method, "email") == 0;
	if ((phone || email) && !dv_present(det))
		return (ref_fail(c, FERRY_ESCHEMA, dpath,
		    "required when method is %s", method));
	if (strcmp(method, "none") == 0 && dv_present(det))
		return (ref_fail(c, FERRY_ESCHEMA, dpath,
		    "not allowed when method is none"));
	if (!dv_present(det) || !(phone || email))
		return (0);
	s = dv_str(det, &len);
	if (ref_check_format(c, s, len, phone ? S_PHONE : S_EMAIL, dpath) != 0)
		return (FERRY_ESCHEMA);
	return (0);
}

static int
check_referral(struct ctx *c, struct dv d)
{
	static const char *const notallowed[] = { "in_reply_to", "response",
	    "reason", "responder", NULL };
	static const char *const required[] = { "case_id", "referral_type",
	    "urgency", "age_group", "subject", "narrative", "referrer", NULL };
	static const char *const anonymous[] = { "given_name", "family_name",
	    "aliases", "date_of_birth", NULL };
	struct dv subj, cons, sc, ref;
	const char *type;
	char sub[PATH_MAX_];
	int i, rc, nrm, dtn, adult;

	if ((rc = check_members(c, d, notallowed, required, "referral")) != 0)
		return (rc);
	type = dv_enum(dv_get(d, &ref_top_o, "referral_type"), ref_rtypes);
	nrm = strcmp(type, "nrm") == 0;
	dtn = strcmp(type, "duty-to-notify") == 0;
	adult = dv_streq(dv_get(d, &ref_top_o, "age_group"), "adult");
	subj = dv_get(d, &ref_top_o, "subject");
	cons = dv_get(d, &ref_top_o, "consent");
	ref = dv_get(d, &ref_top_o, "referrer");
	sc = dv_get(subj, &ref_subject_o, "safe_contact");

	if (dtn) {
		/* Duty to Notify: an adult who did not consent to the NRM,
		 * reported to the Home Office without identifying them. */
		if (!adult)
			return (ref_fail(c, FERRY_ESCHEMA, "age_group",
			    "duty-to-notify is for adults; refer a child "
			    "through nrm"));
		for (i = 0; anonymous[i] != NULL; i++) {
			if (!dv_present(dv_get(subj, &ref_subject_o,
			    anonymous[i])))
				continue;
			ref_path_field(sub, "subject", anonymous[i]);
			return (ref_fail(c, FERRY_ESCHEMA, sub,
			    "not allowed in duty-to-notify (anonymous)"));
		}
		if (dv_present(dv_get(sc, &ref_safe_o, "details")))
			return (ref_fail(c, FERRY_ESCHEMA,
			    "subject.safe_contact.details",
			    "not allowed in duty-to-notify (anonymous)"));
		if (dv_present(dv_get(d, &ref_top_o, "attachments")))
			return (ref_fail(c, FERRY_ESCHEMA, "attachments",
			    "not allowed in duty-to-notify (anonymous)"));
	} else if (!dv_present(dv_get(subj, &ref_subject_o, "given_name")) &&
	    !dv_present(dv_get(subj, &ref_subject_o, "family_name")))
		return (ref_fail(c, FERRY_ESCHEMA, "subject.given_name",
		    "required (or subject.family_name; \"unknown\" if not "
		    "known)"));
	if (nrm || dtn) {
		if (!dv_present(dv_get(d, &ref_top_o, "exploitation")))
			return (ref_fail(c, FERRY_ESCHEMA, "exploitation",
			    "required for %s", type));
		if (dv_size(dv_get(d, &ref_top_o, "indicators")) == 0)
			return (ref_fail(c, FERRY_ESCHEMA, "indicators",
			    "at least one required for %s", type));
	}
	if ((strcmp(type, "housing") == 0 || strcmp(type, "health") == 0) &&
	    !dv_present(dv_get(d, &ref_top_o, "needs")))
		return (ref_fail(c, FERRY_ESCHEMA, "needs", "required for %s",
		    type));
	if (dv_present(dv_get(subj, &ref_subject_o, "date_of_birth")) &&
	    dv_present(dv_get(subj, &ref_subject_o, "age_estimate")))
		return (ref_fail(c, FERRY_ESCHEMA, "subject.age_estimate",
		    "not allowed with subject.date_of_birth"));
	if (dv_present(sc) && (rc = check_safe_contact(c, sc)) != 0)
		return (rc);
	if (dv_present(cons) &&
	    (dv_is_true(dv_get(cons, &ref_consent_o, "referral")) ||
	    dv_is_true(dv_get(cons, &ref_consent_o, "support")) ||
	    dv_is_true(dv_get(cons, &ref_consent_o, "police_contact")))) {
		if (!dv_present(dv_get(cons, &ref_consent_o, "obtained_by")))
			return (ref_fail(c, FERRY_ESCHEMA,
			    "consent.obtained_by",
			    "required when consent is given"));
		if (!dv_present(dv_get(cons, &ref_consent_o, "obtained_at")))
			return (ref_fail(c, FERRY_ESCHEMA,
			    "consent.obtained_at",
			    "required when consent is given"));
	}
	if (!dv_present(dv_get(ref, &ref_party_o, "phone")) &&
	    !dv_present(dv_get(ref, &ref_party_o, "email")))
		return (ref_fail(c, FERRY_ESCHEMA, "referrer.phone",
		    "required (or referrer.email)"));
	/* Last, so that a malformed document is reported as such first. */
	if (nrm && adult) {
		if (!dv_present(cons))
			return (ref_fail(c, FERRY_ECONSENT, "consent",
			    "adult NRM referral requires consent"));
		if (!dv_is_true(dv_get(cons, &ref_consent_o, "referral")))
			return (ref_fail(c, FERRY_ECONSENT, "consent.referral",
			    "adult NRM referral requires consent"));
	}
	return (0);
}

static int
check_response(struct ctx *c, struct dv d)
{
	static const char *const notallowed[] = { "referral_type", "urgency",
	    "age_group", "consent", "subject", "exploitation", "indicators",
	    "needs", "referrer", NULL };
	static const char *const required[] = { "case_id", "in_reply_to",
	    "response", "responder", NULL };
	const char *resp;
	int rc;

	if ((rc = check_members(c, d, notallowed, required, "response")) != 0)
		return (rc);
	resp = dv_enum(dv_get(d, &ref_top_o, "response"), ref_responses);
	if ((strcmp(resp, "declined") == 0 ||
	    strcmp(resp, "more-information-needed") == 0) &&
	    !dv_present(dv_get(d, &ref_top_o, "reason")))
		return (ref_fail(c, FERRY_ESCHEMA, "reason",
		    "required when response is %s", resp));
	return (0);
}

static void
fill_info(const struct ctx *c, struct dv d, struct referral_info *info)
{
	struct dv v;
	const char *s;
	size_t len;

	memset(info, 0, sizeof(*info));
	info->message_kind = dv_enum(dv_get(d, &ref_top_o, "message_kind"),
	    ref_kinds);
	info->kind = strcmp(info->message_kind, "referral") == 0 ?
	    REFERRAL_KIND_REFERRAL : REFERRAL_KIND_RESPONSE;
	info->referral_type = dv_enum(dv_get(d, &ref_top_o, "referral_type"),
	    ref_rtypes);
	info->urgency = dv_enum(dv_get(d, &ref_top_o, "urgency"),
	    ref_urgencies);
	info->age_group = dv_enum(dv_get(d, &ref_top_o, "age_group"),
	    ref_agegroups);
	info->response = dv_enum(dv_get(d, &ref_top_o, "response"),
	    ref_responses);
	/* A valid case_id: at most REFERRAL_CASEID_MAX bytes, no NUL. */
	if ((s = dv_str(dv_get(d, &ref_top_o, "case_id"), &len)) != NULL) {
		if (len > REFERRAL_CASEID_MAX)
			len = REFERRAL_CASEID_MAX;
		memcpy(info->case_id, s, len);
		info->case_id[len] = '\0';
	}
	v = dv_get(d, &ref_top_o, "in_reply_to");
	if (v.m != NULL && v.m->type == MSGPACK_OBJECT_BIN &&
	    v.m->via.bin.size == FERRY_MSGID_LEN) {
		memcpy(info->in_reply_to, v.m->via.bin.ptr, FERRY_MSGID_LEN);
		info->has_in_reply_to = 1;
	} else if ((s = dv_str(v, &len)) != NULL &&
	    ferry_unhex(info->in_reply_to, FERRY_MSGID_LEN, s) == 0)
		info->has_in_reply_to = 1;
	info->attachments = c->attach_count;
	info->attachment_bytes = c->attach_bytes;
}

/* Validate a parsed document (and write its msgpack when c->w is set). */
int
ref_check_doc(struct ctx *c, struct dv d, struct referral_info *info)
{
	struct dv v;
	int rc;

	c->attach_bytes = 0;
	c->attach_count = 0;
	if (dv_kind(d) != DK_OBJECT)
		return (ref_fail(c, FERRY_ESCHEMA, "",
		    "must be a JSON object"));
	/* The version first: a later version's fields are not "unknown". */
	if (!dv_present(v = dv_get(d, &ref_top_o, "schema")))
		return (ref_fail(c, FERRY_ESCHEMA, "schema", "required"));
	if (!dv_streq(v, REFERRAL_SCHEMA))
		return (ref_fail(c, FERRY_ESCHEMA, "schema",
		    "must be \"" REFERRAL_SCHEMA "\""));
	if ((rc = check_value(c, d, &ref_top_v, "")) != 0)
		return (rc);
	if (dv_streq(dv_get(d, &ref_top_o, "message_kind"), "referral"))
		rc = check_referral(c, d);
	else
		rc = check_response(c, d);
	if (rc == 0 && info != NULL)
		fill_info(c, d, info);
	return (rc);
}
