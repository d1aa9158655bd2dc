/*
 * wire.c: the canonical msgpack subset (see wire.h and docs/protocol.md).
 *
 * Untrusted bytes are first walked by wire_scan, which allocates nothing
 * and checks every rule that can be checked on the bytes; only then does
 * msgpack-c unpack them, so its up-front allocation for a container (count
 * times sizeof(msgpack_object)) is bounded by the input length.
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "ferry.h"

#define WIRE_STACK 32

int
wire_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t n, k;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else
			return (0);
		if (len - i <= n)
			return (0);
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return (0);
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return (0);
		i += n + 1;
	}
	return (1);
}

int
wire_text_ok(const uint8_t *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return (0);
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 &&
		    s[i + 1] <= 0x9f)
			return (0);
	}
	return (1);
}

int
wire_scan(const uint8_t *buf, size_t len, int maxdepth)
{

	return (wire_scan_limit(buf, len, maxdepth, UINT64_MAX));
}

int
wire_scan_limit(const uint8_t *buf, size_t len, int maxdepth,
    uint64_t max_items)
{
	uint64_t left[WIRE_STACK];	/* values still expected per level */
	uint64_t prevkey[WIRE_STACK];	/* last map key seen per level */
	uint8_t ismap[WIRE_STACK], havekey[WIRE_STACK];
	int depth = 0;			/* open containers */
	size_t pos = 0;

	if (maxdepth > WIRE_STACK)
		maxdepth = WIRE_STACK;
	if (len == 0)
		return (FERRY_ETRUNCATED);
	/* A virtual level holding the single top-level value. */
	left[0] = 1;
	ismap[0] = 0;
	for (;;) {
		uint8_t c;
		uint64_t n = 0, minv = 0;
		int hdr = 0, kind = 0;	/* kind: 1 scalar, 2 str, 3 bin, 4 array, 5 map */
		int iskey;

		while (depth >= 0 && left[depth] == 0)
			depth--;
		if (depth < 0)
			break;
		if (pos >= len)
			return (FERRY_ETRUNCATED);
		/* In a map, an even count left means a key comes next. */
		iskey = ismap[depth] && (left[depth] % 2) == 0;
		left[depth]--;
		c = buf[pos];
		if (iskey) {
			/* Map keys: unsigned integers, strictly ascending. */
			uint64_t k;
			int kh = 0;

			if (c <= 0x7f)
				k = c;
			else if (c >= 0xcc && c <= 0xcf) {
				kh = 1 << (c - 0xcc);
				if (len - pos - 1 < (size_t)kh)
					return (FERRY_ETRUNCATED);
				k = bytes_be_get(buf + pos + 1, kh);
			} else if (c == 0xc1)
				return (FERRY_EMALFORMED);
			else
				return (FERRY_ETYPE);
			if (havekey[depth] && k == prevkey[depth])
				return (FERRY_EDUPKEY);
			if (havekey[depth] && k < prevkey[depth])
				return (FERRY_ENONCANON);
			havekey[depth] = 1;
			prevkey[depth] = k;
		}
		if (c <= 0x7f) {
			pos++;
			continue;
		} else if (c >= 0xe0)
			return (FERRY_ETYPE);
		else if (c <= 0x8f) {
			kind = 5; n = c & 0x0f;
		} else if (c <= 0x9f) {
			kind = 4; n = c & 0x0f;
		} else if (c <= 0xbf) {
			kind = 2; n = c & 0x1f;
		} else {
			switch (c) {
			case 0xc0:
				return (FERRY_ETYPE);
			case 0xc1:
				return (FERRY_EMALFORMED);
			case 0xc2: case 0xc3:
				pos++;
				continue;
			case 0xc4: kind = 3; hdr = 1; minv = 0; break;
			case 0xc5: kind = 3; hdr = 2; minv = 0x100; break;
			case 0xc6: kind = 3; hdr = 4; minv = 0x10000; break;
			case 0xcc: kind = 1; hdr = 1; minv = 0x80; break;
			case 0xcd: kind = 1; hdr = 2; minv = 0x100; break;
			case 0xce: kind = 1; hdr = 4; minv = 0x10000; break;
			case 0xcf: kind = 1; hdr = 8; minv = 0x100000000ULL; break;
			case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
				int sz = 1 << (c - 0xd0);
				if (len - pos - 1 < (size_t)sz)
					return (FERRY_ETRUNCATED);
				/* Signed forms: negative is not in the subset;
				 * non-negative must use the unsigned forms. */
				if (buf[pos + 1] & 0x80)
					return (FERRY_ETYPE);
				return (FERRY_ENONCANON);
			}
			case 0xd9: kind = 2; hdr = 1; minv = 0x20; break;
			case 0xda: kind = 2; hdr = 2; minv = 0x100; break;
			case 0xdb: kind = 2; hdr = 4; minv = 0x10000; break;
			case 0xdc: kind = 4; hdr = 2; minv = 0x10; break;
			case 0xdd: kind = 4; hdr = 4; minv = 0x10000; break;
			case 0xde: kind = 5; hdr = 2; minv = 0x10; break;
			case 0xdf: kind = 5; hdr = 4; minv = 0x10000; break;
			default:	/* ext, fixext, float */
				return (FERRY_ETYPE);
			}
			if (len - pos - 1 < (size_t)hdr)
				return (FERRY_ETRUNCATED);
			n = bytes_be_get(buf + pos + 1, hdr);
			if (n < minv)
				return (FERRY_ENONCANON);
		}
		pos += 1 + (size_t)hdr;
		if (kind == 1)
			continue;
		if (kind == 2 || kind == 3) {
			if (n > len - pos)
				return (FERRY_ETRUNCATED);
			if (kind == 2 && !wire_utf8_valid(buf + pos, (size_t)n))
				return (FERRY_EBADVALUE);
			pos += (size_t)n;
			continue;
		}
		/* Containers: every element takes at least one byte, so a
		 * count larger than what is left is a lie; refuse it now. */
		if (kind == 5) {
			if (n > (len - pos) / 2)
				return (FERRY_ETRUNCATED);
			n *= 2;
		} else if (n > len - pos)
			return (FERRY_ETRUNCATED);
		if ((kind == 5 ? n / 2 : n) > max_items)
			return (FERRY_ETOOBIG);
		if (depth + 1 > maxdepth || depth + 1 >= WIRE_STACK)
			return (FERRY_ENESTING);
		left[++depth] = n;
		ismap[depth] = (kind == 5);
		havekey[depth] = 0;
	}
	if (pos != len)
		return (FERRY_ETRAILING);
	return (0);
}

int
wire_parse(const uint8_t *buf, size_t len, int maxdepth,
    struct wire_doc *doc)
{
	size_t off = 0;
	int rc;

	doc->live = 0;
	if ((rc = wire_scan(buf, len, maxdepth)) != 0)
		return (rc);
	if (!msgpack_zone_init(&doc->zone, 1024))
		return (FERRY_ENOMEM);
	switch (msgpack_unpack((const char *)buf, len, &off, &doc->zone,
	    &doc->root)) {
	case MSGPACK_UNPACK_SUCCESS:
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		msgpack_zone_destroy(&doc->zone);
		return (FERRY_ENOMEM);
	default:
		/* wire_scan accepted it; msgpack-c must agree. */
		msgpack_zone_destroy(&doc->zone);
		return (FERRY_EMALFORMED);
	}
	if (off != len) {
		msgpack_zone_destroy(&doc->zone);
		return (FERRY_ETRAILING);
	}
	doc->live = 1;
	return (0);
}

void
wire_doc_free(struct wire_doc *doc)
{

	if (doc == NULL || !doc->live)
		return;
	msgpack_zone_destroy(&doc->zone);
	doc->live = 0;
}

static int
type_ok(const msgpack_object *o, enum wire_type t)
{

	switch (t) {
	case WIRE_UINT:
		return (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER);
	case WIRE_BOOL:
		return (o->type == MSGPACK_OBJECT_BOOLEAN);
	case WIRE_STR:
		return (o->type == MSGPACK_OBJECT_STR);
	case WIRE_BIN:
		return (o->type == MSGPACK_OBJECT_BIN);
	case WIRE_ARRAY:
		return (o->type == MSGPACK_OBJECT_ARRAY);
	case WIRE_MAP:
		return (o->type == MSGPACK_OBJECT_MAP);
	}
	return (0);
}

static uint64_t
measure(const msgpack_object *o)
{

	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (o->via.u64);
	case MSGPACK_OBJECT_STR:
		return (o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return (o->via.bin.size);
	case MSGPACK_OBJECT_ARRAY:
		return (o->via.array.size);
	case MSGPACK_OBJECT_MAP:
		return (o->via.map.size);
	default:
		return (0);
	}
}

int
wire_map_read(const msgpack_object *obj, const struct wire_field *spec,
    size_t n, const msgpack_object **out)
{
	const msgpack_object_kv *kv;
	uint64_t prev = 0;
	size_t i, j = 0, have;

	for (i = 0; i < n; i++)
		out[i] = NULL;
	if (obj->type != MSGPACK_OBJECT_MAP)
		return (FERRY_ETYPE);
	have = obj->via.map.size;
	kv = obj->via.map.ptr;
	for (i = 0; i < have; i++) {
		uint64_t k;

		if (kv[i].key.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return (FERRY_ETYPE);
		k = kv[i].key.via.u64;
		if (i > 0 && k == prev)
			return (FERRY_EDUPKEY);
		if (i > 0 && k < prev) {
			/* A key seen before, out of order, is a duplicate;
			 * otherwise the order alone is wrong. */
			size_t m;
			for (m = 0; m < i; m++)
				if (kv[m].key.via.u64 == k)
					return (FERRY_EDUPKEY);
			return (FERRY_ENONCANON);
		}
		prev = k;
		while (j < n && spec[j].key < k)
			j++;
		if (j == n || spec[j].key != k)
			return (FERRY_EUNKNOWNFIELD);
		out[j] = &kv[i].val;
	}
	/* Types and bounds, then presence, in spec order. */
	for (i = 0; i < n; i++) {
		uint64_t m;

		if (out[i] == NULL) {
			if (spec[i].required)
				return (FERRY_EMISSING);
			continue;
		}
		if (!type_ok(out[i], spec[i].type))
			return (FERRY_ETYPE);
		if (spec[i].type == WIRE_BOOL)
			continue;
		m = measure(out[i]);
		if (m > spec[i].max)
			return (spec[i].type == WIRE_UINT ? FERRY_EBADVALUE :
			    FERRY_ETOOBIG);
		if (m < spec[i].min)
			return (FERRY_EBADVALUE);
	}
	return (0);
}

const uint8_t *
wire_bin(const msgpack_object *o, size_t *len)
{

	*len = o->via.bin.size;
	return ((const uint8_t *)o->via.bin.ptr);
}

int
wire_bin_copy(const msgpack_object *o, uint8_t *dst, size_t len)
{

	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != len)
		return (FERRY_EBADVALUE);
	if (len > 0)
		memcpy(dst, o->via.bin.ptr, len);
	return (0);
}

int
wire_str_copy(const msgpack_object *o, char *dst, size_t cap)
{

	if (o->type != MSGPACK_OBJECT_STR)
		return (FERRY_ETYPE);
	if (o->via.str.size >= cap)
		return (FERRY_ETOOBIG);
	if (o->via.str.size > 0)
		memcpy(dst, o->via.str.ptr, o->via.str.size);
	dst[o->via.str.size] = '\0';
	return (0);
}

void
wire_buf_init(struct wire_buf *w)
{

	msgpack_sbuffer_init(&w->sb);
	msgpack_packer_init(&w->pk, &w->sb, msgpack_sbuffer_write);
	w->err = 0;
}

void
wire_buf_init_cap(struct wire_buf *w, size_t cap)
{

	wire_buf_init(w);
	/* No room yet (out of memory): the first write asks again. */
	if (cap > 0 && (w->sb.data = malloc(cap)) != NULL)
		w->sb.alloc = cap;
}

void
wire_buf_free(struct wire_buf *w)
{

	if (w == NULL)
		return;
	msgpack_sbuffer_destroy(&w->sb);
	w->sb.data = NULL;
	w->sb.size = w->sb.alloc = 0;
}

int
wire_buf_take(struct wire_buf *w, uint8_t **out, size_t *len)
{

	*out = NULL;
	*len = 0;
	if (w->err) {
		wire_buf_free(w);
		return (w->err);
	}
	*len = w->sb.size;
	*out = (uint8_t *)msgpack_sbuffer_release(&w->sb);
	if (*out == NULL) {
		/* An empty buffer: hand back a valid allocation. */
		if ((*out = malloc(1)) == NULL)
			return (FERRY_ENOMEM);
	}
	return (0);
}

#define PUT(w, call) do { if ((w)->err == 0 && (call) != 0) \
	(w)->err = FERRY_ENOMEM; } while (0)

void
wire_put_map(struct wire_buf *w, size_t n)
{

	PUT(w, msgpack_pack_map(&w->pk, n));
}

void
wire_put_array(struct wire_buf *w, size_t n)
{

	PUT(w, msgpack_pack_array(&w->pk, n));
}

void
wire_put_uint(struct wire_buf *w, uint64_t v)
{

	PUT(w, msgpack_pack_uint64(&w->pk, v));
}

void
wire_put_bool(struct wire_buf *w, int v)
{

	PUT(w, v ? msgpack_pack_true(&w->pk) : msgpack_pack_false(&w->pk));
}

void
wire_put_str(struct wire_buf *w, const char *s, size_t len)
{

	/* The decoder refuses malformed UTF-8, so the encoder must too. */
	if (w->err == 0 && !wire_utf8_valid((const uint8_t *)s, len)) {
		w->err = FERRY_EBADVALUE;
		return;
	}
	PUT(w, msgpack_pack_str_with_body(&w->pk, s, len));
}

void
wire_put_cstr(struct wire_buf *w, const char *s)
{

	wire_put_str(w, s, strlen(s));
}

void
wire_put_bin(struct wire_buf *w, const void *b, size_t len)
{

	PUT(w, msgpack_pack_bin_with_body(&w->pk, b, len));
}

void
wire_put_raw(struct wire_buf *w, const void *b, size_t len)
{

	PUT(w, msgpack_sbuffer_write(&w->sb, b, len));
}
