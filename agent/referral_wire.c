/*
 * referral_wire.c: the ferry-referral/1 document as a recipient takes it
 * in: the untrusted msgpack decoded with limits, its shape checked against
 * the schema's table, then the rules (referral_check.c), whose encoding of
 * it must be the bytes received; and its JSON text written straight from
 * the msgpack objects, with no JSON tree built.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ferry.h"
#include "referral_int.h"
#include "wire.h"

/*
 * Decoding: untrusted msgpack, its shape checked against the specs (types,
 * field numbers, sizes) before the rules are (check_doc).
 */
static int
shape_value(struct ctx *c, const msgpack_object *o, const struct vspec *vs,
    const char *path)
{
	char sub[PATH_MAX_];
	const msgpack_object_kv *kv;
	size_t i, k;
	uint64_t prev = 0;
	int rc;

	switch (vs->type) {
	case V_STR:
	case V_ENUM:
		/* wire_scan_limit refused malformed UTF-8 before. */
		if (o->type != MSGPACK_OBJECT_STR)
			return (ref_fail(c, FERRY_ETYPE, path,
			    "must be a str"));
		return (0);
	case V_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return (ref_fail(c, FERRY_ETYPE, path,
			    "must be a boolean"));
		return (0);
	case V_UINT:
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return (ref_fail(c, FERRY_ETYPE, path,
			    "must be an unsigned integer"));
		if (o->via.u64 > vs->max)
			return (ref_fail(c, FERRY_EBADVALUE, path,
			    "must be an integer from %llu to %llu",
			    (unsigned long long)vs->min,
			    (unsigned long long)vs->max));
		return (0);
	case V_HEX16:
		if (o->type != MSGPACK_OBJECT_BIN)
			return (ref_fail(c, FERRY_ETYPE, path,
			    "must be a bin"));
		if (o->via.bin.size != FERRY_MSGID_LEN)
			return (ref_fail(c, FERRY_EBADVALUE, path,
			    "must be %d bytes", FERRY_MSGID_LEN));
		return (0);
	case V_B64:
		if (o->type != MSGPACK_OBJECT_BIN)
			return (ref_fail(c, FERRY_ETYPE, path,
			    "must be a bin"));
		if (o->via.bin.size > vs->max)
			return (ref_fail(c, FERRY_ETOOBIG, path,
			    "attachment larger than %llu bytes",
			    (unsigned long long)vs->max));
		return (0);
	case V_OBJ:
		if (o->type != MSGPACK_OBJECT_MAP)
			return (ref_fail(c, FERRY_ETYPE, path,
			    "must be a map"));
		kv = o->via.map.ptr;
		for (i = k = 0; i < o->via.map.size; i++) {
			uint64_t key;

			if (kv[i].key.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				return (ref_fail(c, FERRY_ETYPE, path,
				    "map key must be a field number"));
			key = kv[i].key.via.u64;
			if (i > 0 && key <= prev)
				return (ref_fail(c, key == prev ?
				    FERRY_EDUPKEY : FERRY_ENONCANON, path,
				    "field numbers not strictly ascending"));
			prev = key;
			while (k < vs->obj->n && vs->obj->f[k].num < key)
				k++;
			if (k == vs->obj->n || vs->obj->f[k].num != key)
				return (ref_fail(c, FERRY_EUNKNOWNFIELD, path,
				    "unknown field number %llu",
				    (unsigned long long)key));
			ref_path_field(sub, path, vs->obj->f[k].name);
			if ((rc = shape_value(c, &kv[i].val,
			    &vs->obj->f[k].v, sub)) != 0)
				return (rc);
		}
		return (0);
	case V_ARR:
		if (o->type != MSGPACK_OBJECT_ARRAY)
			return (ref_fail(c, FERRY_ETYPE, path,
			    "must be an array"));
		if (o->via.array.size > vs->max)
			return (ref_fail(c, FERRY_ETOOBIG, path,
			    "more than %llu items",
			    (unsigned long long)vs->max));
		for (i = 0; i < o->via.array.size; i++) {
			ref_path_index(sub, path, i);
			if ((rc = shape_value(c, &o->via.array.ptr[i],
			    vs->elem, sub)) != 0)
				return (rc);
		}
		return (0);
	}
	return (ref_fail(c, FERRY_EINTERNAL, path, "internal error"));
}

/*
 * The JSON text of a checked wire document, written straight from the
 * msgpack objects: the very text json_dumps(JSON_INDENT(2) |
 * JSON_PRESERVE_ORDER) gives for the same document as a jansson tree
 * (members in field-number order, two spaces per level, ": " and ",",
 * escapes as jansson writes them), then a newline; test_referral
 * (wire_json_text_as_jansson) holds it to that.
 */
struct jtext {
	char *p;
	size_t n, cap;
	int err;
};

/* Room for ${k} more bytes: a pointer to them, or NULL (j->err set). */
static char *
jt_room(struct jtext *j, size_t k)
{
	size_t cap;
	char *p;

	if (j->err)
		return (NULL);
	if (k > j->cap - j->n) {
		cap = j->cap ? j->cap : 256;
		while (cap - j->n < k) {
			if (cap > SIZE_MAX / 2) {
				j->err = FERRY_ENOMEM;
				return (NULL);
			}
			cap *= 2;
		}
		if ((p = realloc(j->p, cap)) == NULL) {
			j->err = FERRY_ENOMEM;
			return (NULL);
		}
		j->p = p;
		j->cap = cap;
	}
	return (j->p + j->n);
}

static void
jt_put(struct jtext *j, const char *s, size_t k)
{
	char *p;

	if ((p = jt_room(j, k)) == NULL)
		return;
	memcpy(p, s, k);
	j->n += k;
}

/* A newline and two spaces per level. */
static void
jt_indent(struct jtext *j, int depth)
{
	size_t k = 1 + 2 * (size_t)depth;
	char *p;

	if ((p = jt_room(j, k)) == NULL)
		return;
	p[0] = '\n';
	memset(p + 1, ' ', k - 1);
	j->n += k;
}

/* A JSON string, escaped as jansson does without flags. */
static void
jt_str(struct jtext *j, const char *s, size_t len)
{
	static const char hexd[] = "0123456789ABCDEF";
	char *p, *o;
	size_t i;

	/* Six bytes at most per byte (\u00XX), and the quotes. */
	if (len > (SIZE_MAX - 2) / 6 || (p = jt_room(j, 6 * len + 2)) ==
	    NULL) {
		j->err = FERRY_ENOMEM;
		return;
	}
	o = p;
	*o++ = '"';
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch != '"' && ch != '\\') {
			*o++ = (char)ch;
			continue;
		}
		*o++ = '\\';
		switch (ch) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hexd[ch >> 4];
			*o++ = hexd[ch & 15];
		}
	}
	*o++ = '"';
	j->n += (size_t)(o - p);
}

/* A container of ${n} entries opens, "{" or "[" (empty: "{}" or "[]"). */
static void
jt_open(struct jtext *j, size_t n, const char *pair)
{

	jt_put(j, pair, n == 0 ? 2 : 1);
}

/* Before entry ${i}: a comma after the one before, a new line. */
static void
jt_entry(struct jtext *j, size_t i, int depth)
{

	if (i > 0)
		jt_put(j, ",", 1);
	jt_indent(j, depth);
}

/* ... and closes on a line of its own (nothing more when empty). */
static void
jt_close(struct jtext *j, size_t n, int depth, const char *pair)
{

	if (n == 0)
		return;
	jt_indent(j, depth);
	jt_put(j, pair + 1, 1);
}

static void
jt_value(struct jtext *j, const msgpack_object *o, const struct vspec *vs,
    int depth)
{
	const msgpack_object_kv *kv;
	char num[24], *p;
	size_t i, k, len;
	uint64_t u;

	switch (vs->type) {
	case V_STR:
	case V_ENUM:
		jt_str(j, o->via.str.ptr, o->via.str.size);
		return;
	case V_BOOL:
		if (o->via.boolean)
			jt_put(j, "true", 4);
		else
			jt_put(j, "false", 5);
		return;
	case V_UINT:
		k = sizeof(num);
		u = o->via.u64;
		do
			num[--k] = (char)('0' + u % 10);
		while ((u /= 10) != 0);
		jt_put(j, num + k, sizeof(num) - k);
		return;
	case V_HEX16:
		if ((p = jt_room(j, 2 * FERRY_MSGID_LEN + 3)) == NULL)
			return;
		p[0] = '"';
		ferry_hex(p + 1, (const uint8_t *)o->via.bin.ptr,
		    FERRY_MSGID_LEN);
		p[2 * FERRY_MSGID_LEN + 1] = '"';
		j->n += 2 * FERRY_MSGID_LEN + 2;
		return;
	case V_B64:
		len = sodium_base64_ENCODED_LEN(o->via.bin.size,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((p = jt_room(j, len + 2)) == NULL)
			return;
		p[0] = '"';
		sodium_bin2base64(p + 1, len, (const unsigned char *)
		    o->via.bin.ptr, o->via.bin.size,
		    sodium_base64_VARIANT_ORIGINAL);
		p[len] = '"';	/* over the NUL */
		j->n += len + 1;
		return;
	case V_OBJ:
		kv = o->via.map.ptr;
		jt_open(j, o->via.map.size, "{}");
		for (i = k = 0; i < o->via.map.size; i++) {
			/* shape_value checked: known, ascending. */
			while (vs->obj->f[k].num != kv[i].key.via.u64)
				k++;
			jt_entry(j, i, depth + 1);
			jt_str(j, vs->obj->f[k].name,
			    strlen(vs->obj->f[k].name));
			jt_put(j, ": ", 2);
			jt_value(j, &kv[i].val, &vs->obj->f[k].v, depth + 1);
		}
		jt_close(j, o->via.map.size, depth, "{}");
		return;
	case V_ARR:
		jt_open(j, o->via.array.size, "[]");
		for (i = 0; i < o->via.array.size; i++) {
			jt_entry(j, i, depth + 1);
			jt_value(j, &o->via.array.ptr[i], vs->elem, depth + 1);
		}
		jt_close(j, o->via.array.size, depth, "[]");
		return;
	}
}

/* The pretty JSON text of the checked wire document ${root}, malloc'd. */
static int
wire_json_text(const msgpack_object *root, char **json_out)
{
	struct jtext j = { NULL, 0, 0, 0 };

	*json_out = NULL;
	jt_value(&j, root, &ref_top_v, 0);
	jt_put(&j, "\n", 2);	/* and the NUL */
	if (j.err != 0) {
		free(j.p);
		return (j.err);
	}
	*json_out = j.p;
	return (0);
}

int
referral_wire_to_json_at(const uint8_t *wire, size_t len, uint64_t now_ms,
    char **json_out, char *err, size_t errlen, struct referral_info *info)
{
	struct ctx c = { err, errlen, ref_today_of(now_ms), 0, 0, NULL };
	struct wire_doc doc;
	struct wire_buf w;
	int rc;

	if (json_out != NULL)
		*json_out = NULL;
	ref_clear_err(err, errlen);
	if (len > REFERRAL_WIRE_MAX)
		return (ref_fail(&c, FERRY_ETOOBIG, "", "larger than %u bytes",
		    REFERRAL_WIRE_MAX));
	/* No array or map in the schema has more than REFERRAL_WIRE_ITEMS
	 * entries: refuse more before msgpack-c allocates for them. */
	if ((rc = wire_scan_limit(wire, len, REFERRAL_WIRE_DEPTH,
	    REFERRAL_WIRE_ITEMS)) != 0 ||
	    (rc = wire_parse(wire, len, REFERRAL_WIRE_DEPTH, &doc)) != 0)
		return (ref_fail(&c, rc, "", "%s", ferry_strerror(rc)));
	/* The shape first, then the rules, on the msgpack objects: no JSON
	 * tree; the JSON text, when wanted, is written from them. */
	if ((rc = shape_value(&c, &doc.root, &ref_top_v, "")) != 0) {
		wire_doc_free(&doc);
		return (rc);
	}
	/*
	 * Accept only the one encoding: the decoder is lenient about
	 * nothing by construction, but comparing with the encoder's output
	 * (written by the validation pass) makes that a checked fact rather
	 * than an argument.
	 */
	wire_buf_init_cap(&w, len);
	c.w = &w;
	rc = ref_check_doc(&c, (struct dv){ NULL, NULL, &doc.root }, info);
	c.w = NULL;
	if (rc != 0)
		goto done;
	if (w.err != 0) {
		rc = ref_fail(&c, w.err, "", "%s", ferry_strerror(w.err));
		goto done;
	}
	if (w.sb.size != len || memcmp(w.sb.data, wire, len) != 0) {
		rc = ref_fail(&c, FERRY_ENONCANON, "", "%s",
		    ferry_strerror(FERRY_ENONCANON));
		goto done;
	}
	if (json_out == NULL)
		goto done;
	if ((rc = wire_json_text(&doc.root, json_out)) != 0)
		ref_fail(&c, rc, "", "%s", ferry_strerror(rc));
done:
	wire_buf_free(&w);
	wire_doc_free(&doc);
	return (rc);
}

/** referral_wire_to_json(wire, len, json_out): strict decode and validation of ${wire}. */
int
referral_wire_to_json(const uint8_t *wire, size_t len, char **json_out)
{

	return (referral_wire_to_json_at(wire, len, ferry_now_ms(), json_out,
	    NULL, 0, NULL));
}
