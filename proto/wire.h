/*
 * wire.h: Ferry's one canonical msgpack encoding, shared by every signed or
 * hashed structure (envelopes, rosters, key requests, log entries, proofs).
 *
 * The canonical subset (docs/protocol.md, "Canonical msgpack"):
 *   - types allowed: positive integers, booleans, str, bin, array, map;
 *     nil, negative integers, floats and ext are refused;
 *   - every integer, length and count uses its shortest msgpack form, and
 *     non-negative integers always use the unsigned forms;
 *   - str is valid UTF-8;
 *   - maps have positive integer keys in strictly ascending order.
 * The encoder (msgpack-c's packer) emits exactly this; the decoder accepts
 * only this, and checks it on the raw bytes *before* msgpack-c allocates
 * anything, so a header claiming 2^32 elements is refused without memory.
 */
#ifndef FERRY_WIRE_H
#define FERRY_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define WIRE_MAX_DEPTH 8

/* A parsed document.  Objects point into the caller's input buffer (str
 * and bin) and into the zone: valid until wire_doc_free and while the
 * input buffer lives. */
struct wire_doc {
	msgpack_zone zone;
	msgpack_object root;
	int live;
};

/**
 * wire_scan(buf, len, maxdepth): check that ${buf} holds exactly one value
 * in the canonical subset, nested at most ${maxdepth} deep, without
 * allocating.  Returns 0 or FERRY_ETRUNCATED, FERRY_ETRAILING,
 * FERRY_ENESTING, FERRY_ENONCANON, FERRY_ETYPE (nil/float/negative/ext),
 * FERRY_EMALFORMED (reserved byte 0xc1), FERRY_EBADVALUE (bad UTF-8).
 */
int wire_scan(const uint8_t *buf, size_t len, int maxdepth);

/**
 * wire_scan_limit(buf, len, maxdepth, max_items): wire_scan, and also
 * FERRY_ETOOBIG for any array of more than ${max_items} elements or map
 * of more than ${max_items} entries, before msgpack-c would allocate an
 * object for each (24 bytes per one-byte element).
 */
int wire_scan_limit(const uint8_t *buf, size_t len, int maxdepth,
    uint64_t max_items);

/**
 * wire_parse(buf, len, maxdepth, doc): wire_scan, then unpack into ${doc}.
 * On success the caller must wire_doc_free(${doc}).  ${buf} must outlive
 * ${doc}.  Errors as wire_scan, plus FERRY_ENOMEM.
 */
int wire_parse(const uint8_t *buf, size_t len, int maxdepth,
    struct wire_doc *doc);

/** wire_doc_free(doc): release ${doc}; no-op if not live or NULL. */
void wire_doc_free(struct wire_doc *doc);

/* Field types for wire_map_read. */
enum wire_type {
	WIRE_UINT = 1,	/* min/max bound the value */
	WIRE_BOOL,
	WIRE_STR,	/* min/max bound the byte length */
	WIRE_BIN,	/* min/max bound the byte length */
	WIRE_ARRAY,	/* min/max bound the element count */
	WIRE_MAP	/* min/max bound the entry count */
};

struct wire_field {
	uint64_t key;		/* map key, > 0; specs listed in ascending order */
	enum wire_type type;
	int required;
	uint64_t min, max;
};

/**
 * wire_map_read(obj, spec, n, out): check that ${obj} is a map whose keys
 * are ascending (FERRY_ENONCANON if out of order, FERRY_EDUPKEY if
 * repeated), each key is in ${spec} (FERRY_EUNKNOWNFIELD), every required
 * field is present (FERRY_EMISSING), each value has its type (FERRY_ETYPE)
 * and is within [min, max] (FERRY_ETOOBIG above max for lengths,
 * FERRY_EBADVALUE otherwise).  out[i] is set to the value for spec[i], or
 * NULL when an optional field is absent.  ${obj} itself not a map:
 * FERRY_ETYPE.
 */
int wire_map_read(const msgpack_object *obj, const struct wire_field *spec,
    size_t n, const msgpack_object **out);

/** wire_bin(o, len): pointer to the bytes of a bin object; sets *${len}. */
const uint8_t *wire_bin(const msgpack_object *o, size_t *len);

/** wire_bin_copy(o, dst, len): copy a bin of exactly ${len} bytes; 0 or FERRY_EBADVALUE. */
int wire_bin_copy(const msgpack_object *o, uint8_t *dst, size_t len);

/** wire_str_copy(o, dst, cap): copy a str into ${dst} NUL-terminated; FERRY_ETOOBIG if it does not fit. */
int wire_str_copy(const msgpack_object *o, char *dst, size_t cap);

/* Encoding: a growable buffer with a packer.  A wire_put_* that fails
 * (FERRY_ENOMEM; FERRY_EBADVALUE for a str that is not valid UTF-8)
 * poisons the buffer and wire_buf_take returns that first error, so callers
 * may check only at the end. */
struct wire_buf {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int err;
};

/** wire_buf_init(w): start an empty buffer. */
void wire_buf_init(struct wire_buf *w);
/**
 * wire_buf_init_cap(w, cap): start an empty buffer with room for ${cap}
 * bytes (it grows past them as usual): for small encodings, which
 * msgpack-c would otherwise start with 8 KiB each.
 */
void wire_buf_init_cap(struct wire_buf *w, size_t cap);
/** wire_buf_free(w): release ${w}'s memory (no-op after wire_buf_take). */
void wire_buf_free(struct wire_buf *w);
/**
 * wire_buf_take(w, out, len): hand the encoded bytes to the caller
 * (*${out}, free with free()).  Returns 0 or the first error.
 */
int wire_buf_take(struct wire_buf *w, uint8_t **out, size_t *len);

void wire_put_map(struct wire_buf *w, size_t n);
void wire_put_array(struct wire_buf *w, size_t n);
void wire_put_uint(struct wire_buf *w, uint64_t v);
void wire_put_bool(struct wire_buf *w, int v);
void wire_put_str(struct wire_buf *w, const char *s, size_t len);
void wire_put_cstr(struct wire_buf *w, const char *s);
void wire_put_bin(struct wire_buf *w, const void *b, size_t len);
/** wire_put_raw(w, b, len): append already-encoded canonical msgpack. */
void wire_put_raw(struct wire_buf *w, const void *b, size_t len);

/** wire_utf8_valid(s, len): 1 if ${s} is well-formed UTF-8 (no overlongs, no surrogates). */
int wire_utf8_valid(const uint8_t *s, size_t len);

/**
 * wire_text_ok(s, len): 1 if ${s} holds no C0 control (NUL, newline, ESC,
 * ...), DEL or C1 control (U+0080..U+009F as UTF-8, whose CSI can drive a
 * terminal), else 0.  For names printed beside fingerprints: such a name
 * cannot forge or hide a line, and cannot hold a NUL that would make it a
 * shorter C string than its bytes.  Does not check UTF-8 itself.
 */
int wire_text_ok(const uint8_t *s, size_t len);

#endif
