/*
 * log_entry.c: a log entry's canonical msgpack form (docs/protocol.md,
 * "The log"): encoding, strict decoding, and the rules of its kinds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <sodium.h>

#include "log.h"
#include "log_int.h"
#include "merkle.h"
#include "note.h"
#include "wire.h"

/* Kinds whose (msg_id, kind) must be unique in a log. */
int
logx_kind_unique(uint32_t kind)
{

	switch (kind) {
	case LOG_SENT: case LOG_ACCEPTED: case LOG_RECEIVED: case LOG_RECEIPT:
	case LOG_DELIVERED: case LOG_ERASURE: case LOG_EXPIRED:
		return (1);
	default:
		return (0);
	}
}

/** log_kind_name(kind): "SENT", "ACCEPTED", ... */
const char *
log_kind_name(uint32_t kind)
{
	static const char *names[] = { "?", "SENT", "ACCEPTED", "RECEIVED",
	    "RECEIPT", "DELIVERED", "NACK", "REFUSED", "ROSTER", "ERASURE",
	    "CHECKPOINT", "EXPIRED", "ROUTE" };

	if (kind > LOG_KIND_MAX)
		return ("?");
	return (names[kind]);
}

/* The bytes of an entry besides its names and aux, at most (119): the
 * map and its keys, kind, time, msg_id, env_hash, ref_index, code,
 * roster_version and the string and bin headers. */
#define LOG_ENTRY_FIXED 160

/** log_entry_encode(e, out, len): canonical msgpack bytes of ${e}. */
int
log_entry_encode(const struct log_entry *e, uint8_t **out, size_t *len)
{
	struct wire_buf w;
	uint64_t code;
	size_t n = 2;
	size_t fl = strlen(e->from), tl = strlen(e->to);

	if (e->kind == 0 || e->kind > LOG_KIND_MAX)
		return (FERRY_EINVAL);
	if (e->kind == LOG_ERASURE) {
		if (e->code != LOG_ERASE_RETENTION &&
		    e->code != LOG_ERASE_REQUEST)
			return (FERRY_EINVAL);
		code = (uint64_t)e->code;
	} else if (e->kind == LOG_ROUTE) {
		if (e->code < LOG_ROUTE_FIRST || e->code > LOG_ROUTE_MAX)
			return (FERRY_EINVAL);
		code = (uint64_t)e->code;
	} else {
		/* log_entry_decode bounds the stored magnitude by INT32_MAX. */
		if (e->code > 0 || e->code == INT32_MIN)
			return (FERRY_EINVAL);
		code = (uint64_t)(-(int64_t)e->code);
	}
	if ((fl != 0 && !ferry_id_valid(e->from, fl)) ||
	    (tl != 0 && !ferry_id_valid(e->to, tl)))
		return (FERRY_EBADID);
	if (e->aux_len > LOG_AUX_MAX || (e->aux_len > 0 && e->aux == NULL))
		return (FERRY_EINVAL);
	n += !allzero(e->msg_id, sizeof(e->msg_id));
	n += !allzero(e->env_hash, sizeof(e->env_hash));
	n += fl != 0;
	n += tl != 0;
	n += e->ref_index != 0;
	n += code != 0;
	n += e->roster_version != 0;
	n += e->aux_len != 0;
	/* Room for the largest entry of this aux and these names: no
	 * regrowth, and not the 8 KiB msgpack-c starts with. */
	wire_buf_init_cap(&w, LOG_ENTRY_FIXED + fl + tl + e->aux_len);
	wire_put_map(&w, n);
	wire_put_uint(&w, 1);
	wire_put_uint(&w, e->kind);
	wire_put_uint(&w, 2);
	wire_put_uint(&w, e->time_ms);
	if (!allzero(e->msg_id, sizeof(e->msg_id))) {
		wire_put_uint(&w, 3);
		wire_put_bin(&w, e->msg_id, sizeof(e->msg_id));
	}
	if (!allzero(e->env_hash, sizeof(e->env_hash))) {
		wire_put_uint(&w, 4);
		wire_put_bin(&w, e->env_hash, sizeof(e->env_hash));
	}
	if (fl != 0) {
		wire_put_uint(&w, 5);
		wire_put_str(&w, e->from, fl);
	}
	if (tl != 0) {
		wire_put_uint(&w, 6);
		wire_put_str(&w, e->to, tl);
	}
	if (e->ref_index != 0) {
		wire_put_uint(&w, 7);
		wire_put_uint(&w, e->ref_index);
	}
	if (code != 0) {
		wire_put_uint(&w, 8);
		wire_put_uint(&w, code);
	}
	if (e->roster_version != 0) {
		wire_put_uint(&w, 9);
		wire_put_uint(&w, e->roster_version);
	}
	if (e->aux_len != 0) {
		wire_put_uint(&w, 10);
		wire_put_bin(&w, e->aux, e->aux_len);
	}
	return (wire_buf_take(&w, out, len));
}

/** log_entry_decode(buf, len, e): strict decode; aux points into ${buf}. */
int
log_entry_decode(const uint8_t *buf, size_t len, struct log_entry *e)
{
	static const struct wire_field spec[] = {
		{ 1, WIRE_UINT, 1, 1, LOG_KIND_MAX },
		{ 2, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 3, WIRE_BIN, 0, FERRY_MSGID_LEN, FERRY_MSGID_LEN },
		{ 4, WIRE_BIN, 0, FERRY_HASH_LEN, FERRY_HASH_LEN },
		{ 5, WIRE_STR, 0, 1, FERRY_ID_MAX },
		{ 6, WIRE_STR, 0, 1, FERRY_ID_MAX },
		{ 7, WIRE_UINT, 0, 1, UINT64_MAX },
		{ 8, WIRE_UINT, 0, 1, INT32_MAX },
		{ 9, WIRE_UINT, 0, 1, UINT64_MAX },
		{ 10, WIRE_BIN, 0, 1, LOG_AUX_MAX },
	};
	const msgpack_object *f[10];
	struct wire_doc doc;
	size_t n;
	int rc;

	memset(e, 0, sizeof(*e));
	if ((rc = wire_parse(buf, len, 2, &doc)) != 0)
		return (rc);
	if ((rc = wire_map_read(&doc.root, spec, 10, f)) != 0)
		goto out;
	e->kind = (uint32_t)f[0]->via.u64;
	e->time_ms = f[1]->via.u64;
	rc = FERRY_ENONCANON;	/* a present field must not be zero */
	if (f[2] != NULL) {
		if ((rc = wire_bin_copy(f[2], e->msg_id, FERRY_MSGID_LEN)) != 0)
			goto out;
		rc = FERRY_ENONCANON;
		if (allzero(e->msg_id, FERRY_MSGID_LEN))
			goto out;
	}
	if (f[3] != NULL) {
		if ((rc = wire_bin_copy(f[3], e->env_hash, FERRY_HASH_LEN)) != 0)
			goto out;
		rc = FERRY_ENONCANON;
		if (allzero(e->env_hash, FERRY_HASH_LEN))
			goto out;
	}
	if (f[4] != NULL) {
		if ((rc = wire_str_copy(f[4], e->from, sizeof(e->from))) != 0)
			goto out;
		rc = FERRY_EBADID;
		if (!ferry_id_valid(e->from, strlen(e->from)) ||
		    strlen(e->from) != f[4]->via.str.size)
			goto out;
	}
	if (f[5] != NULL) {
		if ((rc = wire_str_copy(f[5], e->to, sizeof(e->to))) != 0)
			goto out;
		rc = FERRY_EBADID;
		if (!ferry_id_valid(e->to, strlen(e->to)) ||
		    strlen(e->to) != f[5]->via.str.size)
			goto out;
	}
	if (f[6] != NULL)
		e->ref_index = f[6]->via.u64;
	if (f[7] != NULL) {
		if (e->kind == LOG_ERASURE || e->kind == LOG_ROUTE)
			e->code = (int32_t)f[7]->via.u64;
		else
			e->code = -(int32_t)f[7]->via.u64;
	}
	rc = FERRY_EBADVALUE;
	if (e->kind == LOG_ERASURE && e->code != LOG_ERASE_RETENTION &&
	    e->code != LOG_ERASE_REQUEST)
		goto out;
	if (e->kind == LOG_ROUTE && (e->code < LOG_ROUTE_FIRST ||
	    e->code > LOG_ROUTE_MAX))
		goto out;
	if (f[8] != NULL)
		e->roster_version = f[8]->via.u64;
	if (f[9] != NULL) {
		e->aux = wire_bin(f[9], &n);
		e->aux_len = n;
	}
	rc = 0;
out:
	wire_doc_free(&doc);
	if (rc != 0)
		memset(e, 0, sizeof(*e));
	return (rc);
}

/** log_entry_clear(e): free memory log_get attached to ${e}. */
void
log_entry_clear(struct log_entry *e)
{

	if (e == NULL)
		return;
	free((void *)(uintptr_t)e->aux);
	memset(e, 0, sizeof(*e));
}

/** log_kind_unique(kind): is (msg_id, ${kind}) unique in a log? */
int
log_kind_unique(uint32_t kind)
{

	return (logx_kind_unique(kind));
}
