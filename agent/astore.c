/*
 * astore.c: the agent's local store (see astore.h), as tables in the
 * agent log's LMDB environment, written through log batches.
 *
 * Records are canonical msgpack maps (proto/wire.h), so a damaged record
 * is refused rather than misread.  Tables: "a.out" and "a.in" (msg id ->
 * record), "a.outenv" and "a.inenv" (msg id -> envelope bytes), "a.spool"
 * (SHA-256 of spool name and content -> msg id), "a.unspooled" (msg id ->
 * "": received, spool inbox file not known to be written), "a.erased"
 * (msg id -> when, why and by what rule it was erased).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <sodium.h>

#include "astore.h"
#include "wire.h"

#define ASTORE_REC_MAX 65536

enum { D_OUT, D_OUTENV, D_IN, D_INENV, D_SPOOL, D_UNSPOOLED, D_ERASED,
    D_N };

/** astore_dbs: the store's table names, for log_open_ex. */
const char *const astore_dbs[ASTORE_NDBS] = { "a.out", "a.outenv", "a.in",
    "a.inenv", "a.spool", "a.unspooled", "a.erased" };

struct astore {
	struct log *l;
	MDB_dbi dbi[D_N];
};

static int
lmdb_err(int rc)
{

	switch (rc) {
	case 0:
		return (0);
	case MDB_NOTFOUND:
		return (FERRY_ENOENT);
	case MDB_KEYEXIST:
		return (FERRY_EEXIST);
	case MDB_MAP_FULL:
	case ENOSPC:
		return (FERRY_ENOSPC);
	case ENOMEM:
		return (FERRY_ENOMEM);
	case EIO:
		return (FERRY_EIO);
	default:
		return (FERRY_ELMDB);
	}
}

const char *
astore_state_name(uint32_t state)
{

	switch (state) {
	case ASTORE_QUEUED:
		return ("queued");
	case ASTORE_ACCEPTED:
		return ("accepted");
	case ASTORE_DELIVERED:
		return ("delivered");
	case ASTORE_FAILED:
		return ("failed");
	default:
		return ("?");
	}
}

int
astore_open(struct log *l, struct astore **out)
{
	struct astore *s;
	int i, rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (FERRY_ENOMEM);
	s->l = l;
	for (i = 0; i < D_N; i++)
		if ((rc = log_dbi(l, astore_dbs[i], &s->dbi[i])) != 0) {
			free(s);
			return (rc);
		}
	*out = s;
	return (0);
}

void
astore_close(struct astore *s)
{

	free(s);
}

/* A write in batch *${b}, or in one of its own when *${b} is NULL. */
static int
wbegin(struct astore *s, struct log_batch **b, int *own)
{

	*own = (*b == NULL);
	return (*own ? log_begin(s->l, b) : 0);
}

/* End a write begun by wbegin: commit or abort an own batch. */
static int
wend(struct log_batch *b, int own, int rc)
{

	if (!own)
		return (rc);
	if (rc != 0) {
		log_abort(b);
		return (rc);
	}
	return (log_commit(b));
}

/* Encoding of records: canonical maps with every field present. */
static void
put_str(struct wire_buf *w, uint64_t k, const char *s)
{

	wire_put_uint(w, k);
	wire_put_cstr(w, s);
}

static void
put_bin(struct wire_buf *w, uint64_t k, const void *b, size_t len)
{

	wire_put_uint(w, k);
	wire_put_bin(w, b, len);
}

static void
put_u(struct wire_buf *w, uint64_t k, uint64_t v)
{

	wire_put_uint(w, k);
	wire_put_uint(w, v);
}

static int
out_encode(const struct astore_out *r, uint8_t **buf, size_t *len)
{
	struct wire_buf w;

	wire_buf_init_cap(&w, 1024);	/* a record: a few hundred bytes */
	wire_put_map(&w, 20);
	put_bin(&w, 1, r->msg_id, FERRY_MSGID_LEN);
	put_str(&w, 2, r->to);
	put_bin(&w, 3, r->env_hash, FERRY_HASH_LEN);
	put_u(&w, 4, r->state);
	put_u(&w, 5, r->t_queued);
	put_u(&w, 6, r->t_accepted);
	put_u(&w, 7, r->t_delivered);
	put_u(&w, 8, r->t_failed);
	put_u(&w, 9, r->code);
	put_str(&w, 10, r->reason);
	put_u(&w, 11, r->relay_index);
	put_u(&w, 12, r->rcpt_index);
	put_u(&w, 13, r->roster_version);
	put_u(&w, 14, r->log_index);
	put_bin(&w, 15, r->sealed_key, ASTORE_SEALED_LEN);
	put_bin(&w, 16, r->reply_to, r->has_reply_to ? FERRY_MSGID_LEN : 0);
	put_str(&w, 17, r->case_id);
	put_str(&w, 18, r->kind);
	put_str(&w, 19, r->response);
	put_str(&w, 20, r->spool_name);
	return (wire_buf_take(&w, buf, len));
}

static int
out_decode(const uint8_t *buf, size_t len, struct astore_out *r)
{
	static const struct wire_field spec[] = {
		{ 1, WIRE_BIN, 1, FERRY_MSGID_LEN, FERRY_MSGID_LEN },
		{ 2, WIRE_STR, 1, 0, FERRY_ID_MAX },
		{ 3, WIRE_BIN, 1, FERRY_HASH_LEN, FERRY_HASH_LEN },
		{ 4, WIRE_UINT, 1, 1, 4 },
		{ 5, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 6, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 7, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 8, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 9, WIRE_UINT, 1, 0, UINT32_MAX },
		{ 10, WIRE_STR, 1, 0, ASTORE_REASON_MAX },
		{ 11, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 12, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 13, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 14, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 15, WIRE_BIN, 1, ASTORE_SEALED_LEN, ASTORE_SEALED_LEN },
		{ 16, WIRE_BIN, 1, 0, FERRY_MSGID_LEN },
		{ 17, WIRE_STR, 1, 0, ASTORE_NAME_MAX },
		{ 18, WIRE_STR, 1, 0, ASTORE_WORD_MAX },
		{ 19, WIRE_STR, 1, 0, ASTORE_WORD_MAX },
		{ 20, WIRE_STR, 1, 0, ASTORE_NAME_MAX },
	};
	const msgpack_object *v[20];
	struct wire_doc doc;
	size_t n;
	int rc;

	memset(r, 0, sizeof(*r));
	if (wire_parse(buf, len, 2, &doc) != 0)
		return (FERRY_ELOGCORRUPT);
	if ((rc = wire_map_read(&doc.root, spec, 20, v)) != 0)
		goto bad;
	if (wire_bin_copy(v[0], r->msg_id, FERRY_MSGID_LEN) ||
	    wire_str_copy(v[1], r->to, sizeof(r->to)) ||
	    wire_bin_copy(v[2], r->env_hash, FERRY_HASH_LEN) ||
	    wire_str_copy(v[9], r->reason, sizeof(r->reason)) ||
	    wire_bin_copy(v[14], r->sealed_key, ASTORE_SEALED_LEN) ||
	    wire_str_copy(v[16], r->case_id, sizeof(r->case_id)) ||
	    wire_str_copy(v[17], r->kind, sizeof(r->kind)) ||
	    wire_str_copy(v[18], r->response, sizeof(r->response)) ||
	    wire_str_copy(v[19], r->spool_name, sizeof(r->spool_name)))
		goto bad;
	r->state = (uint32_t)v[3]->via.u64;
	r->t_queued = v[4]->via.u64;
	r->t_accepted = v[5]->via.u64;
	r->t_delivered = v[6]->via.u64;
	r->t_failed = v[7]->via.u64;
	r->code = (uint32_t)v[8]->via.u64;
	r->relay_index = v[10]->via.u64;
	r->rcpt_index = v[11]->via.u64;
	r->roster_version = v[12]->via.u64;
	r->log_index = v[13]->via.u64;
	(void)wire_bin(v[15], &n);
	if (n == FERRY_MSGID_LEN) {
		r->has_reply_to = 1;
		memcpy(r->reply_to, wire_bin(v[15], &n), FERRY_MSGID_LEN);
	} else if (n != 0)
		goto bad;
	wire_doc_free(&doc);
	return (0);
bad:
	wire_doc_free(&doc);
	return (FERRY_ELOGCORRUPT);
}

static int
in_encode(const struct astore_in *r, uint8_t **buf, size_t *len)
{
	struct wire_buf w;

	/* A record: a few hundred bytes, and its receipt. */
	wire_buf_init_cap(&w, 1024 + (r->receipt != NULL ? r->receipt_len :
	    0));
	wire_put_map(&w, 14);
	put_bin(&w, 1, r->msg_id, FERRY_MSGID_LEN);
	put_str(&w, 2, r->from);
	put_bin(&w, 3, r->env_hash, FERRY_HASH_LEN);
	put_u(&w, 4, r->t_received);
	put_u(&w, 5, r->log_index);
	put_bin(&w, 6, r->sealed_key, ASTORE_SEALED_LEN);
	put_bin(&w, 7, r->reply_to, r->has_reply_to ? FERRY_MSGID_LEN : 0);
	put_str(&w, 8, r->case_id);
	put_str(&w, 9, r->kind);
	put_str(&w, 10, r->response);
	put_bin(&w, 11, r->receipt != NULL ? r->receipt : (const uint8_t *)"",
	    r->receipt != NULL ? r->receipt_len : 0);
	put_str(&w, 12, r->referral_type);
	put_str(&w, 13, r->urgency);
	put_u(&w, 14, r->t_acked);
	return (wire_buf_take(&w, buf, len));
}

static int
in_decode(const uint8_t *buf, size_t len, struct astore_in *r, int receipt)
{
	static const struct wire_field spec[] = {
		{ 1, WIRE_BIN, 1, FERRY_MSGID_LEN, FERRY_MSGID_LEN },
		{ 2, WIRE_STR, 1, 1, FERRY_ID_MAX },
		{ 3, WIRE_BIN, 1, FERRY_HASH_LEN, FERRY_HASH_LEN },
		{ 4, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 5, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 6, WIRE_BIN, 1, ASTORE_SEALED_LEN, ASTORE_SEALED_LEN },
		{ 7, WIRE_BIN, 1, 0, FERRY_MSGID_LEN },
		{ 8, WIRE_STR, 1, 0, ASTORE_NAME_MAX },
		{ 9, WIRE_STR, 1, 0, ASTORE_WORD_MAX },
		{ 10, WIRE_STR, 1, 0, ASTORE_WORD_MAX },
		{ 11, WIRE_BIN, 1, 0, ASTORE_REC_MAX },
		/* Optional: records stored before inbox columns and ack. */
		{ 12, WIRE_STR, 0, 0, ASTORE_WORD_MAX },
		{ 13, WIRE_STR, 0, 0, ASTORE_WORD_MAX },
		{ 14, WIRE_UINT, 0, 0, UINT64_MAX },
	};
	const msgpack_object *v[14];
	struct wire_doc doc;
	const uint8_t *p;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (wire_parse(buf, len, 2, &doc) != 0)
		return (FERRY_ELOGCORRUPT);
	if (wire_map_read(&doc.root, spec, 14, v) != 0)
		goto bad;
	if (wire_bin_copy(v[0], r->msg_id, FERRY_MSGID_LEN) ||
	    wire_str_copy(v[1], r->from, sizeof(r->from)) ||
	    wire_bin_copy(v[2], r->env_hash, FERRY_HASH_LEN) ||
	    wire_bin_copy(v[5], r->sealed_key, ASTORE_SEALED_LEN) ||
	    wire_str_copy(v[7], r->case_id, sizeof(r->case_id)) ||
	    wire_str_copy(v[8], r->kind, sizeof(r->kind)) ||
	    wire_str_copy(v[9], r->response, sizeof(r->response)) ||
	    (v[11] != NULL && wire_str_copy(v[11], r->referral_type,
	    sizeof(r->referral_type))) ||
	    (v[12] != NULL && wire_str_copy(v[12], r->urgency,
	    sizeof(r->urgency))))
		goto bad;
	r->t_acked = v[13] != NULL ? v[13]->via.u64 : 0;
	r->t_received = v[3]->via.u64;
	r->log_index = v[4]->via.u64;
	p = wire_bin(v[6], &n);
	if (n == FERRY_MSGID_LEN) {
		r->has_reply_to = 1;
		memcpy(r->reply_to, p, FERRY_MSGID_LEN);
	} else if (n != 0)
		goto bad;
	p = wire_bin(v[10], &n);
	if (receipt && n > 0) {
		if ((r->receipt = malloc(n)) == NULL) {
			wire_doc_free(&doc);
			return (FERRY_ENOMEM);
		}
		memcpy(r->receipt, p, n);
		r->receipt_len = n;
	}
	wire_doc_free(&doc);
	return (0);
bad:
	wire_doc_free(&doc);
	return (FERRY_ELOGCORRUPT);
}

void
astore_in_clear(struct astore_in *rec)
{

	if (rec == NULL)
		return;
	free(rec->receipt);
	rec->receipt = NULL;
	rec->receipt_len = 0;
}

/* Put record and envelope (and optional spool entry) in batch ${b}. */
static int
put_pair(struct astore *s, struct log_batch *b, int rdbi, int edbi,
    const uint8_t id[FERRY_MSGID_LEN], const uint8_t *rec, size_t reclen,
    const uint8_t *env, size_t envlen, const uint8_t *spool_key,
    int unspooled)
{
	int rc, own;

	if ((rc = wbegin(s, &b, &own)) != 0)
		return (rc);
	if ((rc = log_batch_put(b, s->dbi[rdbi], id, FERRY_MSGID_LEN, rec,
	    reclen, MDB_NOOVERWRITE)) == 0 && env != NULL)
		rc = log_batch_put(b, s->dbi[edbi], id, FERRY_MSGID_LEN, env,
		    envlen, 0);
	if (rc == 0 && spool_key != NULL)
		rc = log_batch_put(b, s->dbi[D_SPOOL], spool_key, 32, id,
		    FERRY_MSGID_LEN, 0);
	if (rc == 0 && unspooled)
		rc = log_batch_put(b, s->dbi[D_UNSPOOLED], id,
		    FERRY_MSGID_LEN, "", 0, 0);
	return (wend(b, own, rc));
}

int
astore_spool_put(struct astore *s, struct log_batch *b, const uint8_t key[32],
    const uint8_t id[FERRY_MSGID_LEN])
{
	int rc, own;

	if ((rc = wbegin(s, &b, &own)) != 0)
		return (rc);
	rc = log_batch_put(b, s->dbi[D_SPOOL], key, 32, id, FERRY_MSGID_LEN,
	    0);
	return (wend(b, own, rc));
}

int
astore_put_out(struct astore *s, struct log_batch *b,
    const struct astore_out *rec, const uint8_t *env, size_t envlen,
    const uint8_t *spool_key)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = out_encode(rec, &buf, &len)) != 0)
		return (rc);
	rc = put_pair(s, b, D_OUT, D_OUTENV, rec->msg_id, buf, len, env,
	    envlen, spool_key, 0);
	free(buf);
	return (rc);
}

/* Overwrite record ${id} of table ${dbi}, in batch ${b} (NULL: its own). */
static int
put_one(struct astore *s, struct log_batch *b, int dbi,
    const uint8_t id[FERRY_MSGID_LEN], const uint8_t *buf, size_t len)
{
	int rc, own;

	if ((rc = wbegin(s, &b, &own)) != 0)
		return (rc);
	return (wend(b, own, log_batch_put(b, s->dbi[dbi], id,
	    FERRY_MSGID_LEN, buf, len, 0)));
}

int
astore_update_out(struct astore *s, struct log_batch *b,
    const struct astore_out *rec)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = out_encode(rec, &buf, &len)) != 0)
		return (rc);
	rc = put_one(s, b, D_OUT, rec->msg_id, buf, len);
	free(buf);
	return (rc);
}

/* Copy the value of ${id} in ${dbi} into a new buffer. */
static int
get_copy(struct astore *s, MDB_dbi dbi, const uint8_t *key, size_t klen,
    uint8_t **buf, size_t *len)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	*buf = NULL;
	*len = 0;
	if ((rc = log_read_begin(s->l, &txn)) != 0)
		return (rc);
	k.mv_data = (void *)key;
	k.mv_size = klen;
	if ((rc = mdb_get(txn, dbi, &k, &v)) != 0) {
		log_read_end(txn);
		return (lmdb_err(rc));
	}
	if ((*buf = malloc(v.mv_size > 0 ? v.mv_size : 1)) == NULL) {
		log_read_end(txn);
		return (FERRY_ENOMEM);
	}
	memcpy(*buf, v.mv_data, v.mv_size);
	*len = v.mv_size;
	log_read_end(txn);
	return (0);
}

int
astore_get_out(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    struct astore_out *rec)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = get_copy(s, s->dbi[D_OUT], id, FERRY_MSGID_LEN, &buf, &len)) != 0)
		return (rc);
	rc = out_decode(buf, len, rec);
	free(buf);
	return (rc);
}

int
astore_get_out_b(struct astore *s, struct log_batch *b,
    const uint8_t id[FERRY_MSGID_LEN], struct astore_out *rec)
{
	MDB_val k, v;
	int rc;

	if (b == NULL)
		return (astore_get_out(s, id, rec));
	k.mv_data = (void *)id;
	k.mv_size = FERRY_MSGID_LEN;
	if ((rc = mdb_get(log_batch_txn(b), s->dbi[D_OUT], &k, &v)) != 0)
		return (lmdb_err(rc));
	return (out_decode(v.mv_data, v.mv_size, rec));
}

int
astore_get_out_env(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    uint8_t **buf, size_t *len)
{
	struct astore_out r;
	int rc;

	/* Records stored with their envelope (before it was kept in the log
	 * only), else the log's copy, found by the record's env_hash. */
	if ((rc = get_copy(s, s->dbi[D_OUTENV], id, FERRY_MSGID_LEN, buf,
	    len)) != FERRY_ENOENT)
		return (rc);
	if ((rc = astore_get_out(s, id, &r)) != 0)
		return (rc);
	return (log_get_envelope(s->l, r.env_hash, buf, len));
}

int
astore_put_in(struct astore *s, struct log_batch *b,
    const struct astore_in *rec, const uint8_t *env, size_t envlen,
    int unspooled)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = in_encode(rec, &buf, &len)) != 0)
		return (rc);
	rc = put_pair(s, b, D_IN, D_INENV, rec->msg_id, buf, len, env, envlen,
	    NULL, unspooled);
	free(buf);
	return (rc);
}

int
astore_spooled(struct astore *s, struct log_batch *b,
    const uint8_t id[FERRY_MSGID_LEN])
{
	int rc, own;

	if ((rc = wbegin(s, &b, &own)) != 0)
		return (rc);
	rc = log_batch_del(b, s->dbi[D_UNSPOOLED], id, FERRY_MSGID_LEN);
	return (wend(b, own, rc == FERRY_ENOENT ? 0 : rc));
}

int
astore_is_unspooled(struct astore *s, const uint8_t id[FERRY_MSGID_LEN])
{
	uint8_t *buf;
	size_t len;
	int rc;

	rc = get_copy(s, s->dbi[D_UNSPOOLED], id, FERRY_MSGID_LEN, &buf, &len);
	if (rc == FERRY_ENOENT)
		return (0);
	if (rc != 0)
		return (rc);
	free(buf);
	return (1);
}

int
astore_get_in(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    struct astore_in *rec)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = get_copy(s, s->dbi[D_IN], id, FERRY_MSGID_LEN, &buf, &len)) != 0)
		return (rc);
	rc = in_decode(buf, len, rec, 1);
	free(buf);
	return (rc);
}

int
astore_ack_in(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    uint64_t now)
{
	struct astore_in r;
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = astore_get_in(s, id, &r)) != 0)
		return (rc);
	if (r.t_acked != 0) {
		astore_in_clear(&r);
		return (0);
	}
	r.t_acked = now;
	rc = in_encode(&r, &buf, &len);
	astore_in_clear(&r);
	if (rc != 0)
		return (rc);
	rc = put_one(s, NULL, D_IN, id, buf, len);
	free(buf);
	return (rc);
}

int
astore_get_in_env(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    uint8_t **buf, size_t *len)
{
	struct astore_in r;
	int rc;

	if ((rc = get_copy(s, s->dbi[D_INENV], id, FERRY_MSGID_LEN, buf,
	    len)) != FERRY_ENOENT)
		return (rc);
	if ((rc = astore_get_in(s, id, &r)) != 0)
		return (rc);
	astore_in_clear(&r);
	return (log_get_envelope(s->l, r.env_hash, buf, len));
}

int
astore_spool_lookup(struct astore *s, const uint8_t key[32],
    uint8_t id[FERRY_MSGID_LEN])
{
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = get_copy(s, s->dbi[D_SPOOL], key, 32, &buf, &len)) != 0)
		return (rc);
	if (len != FERRY_MSGID_LEN)
		rc = FERRY_ELOGCORRUPT;
	else
		memcpy(id, buf, FERRY_MSGID_LEN);
	free(buf);
	return (rc);
}

/*
 * Walk a table, calling ${each} with each value (each key if ${keys}).
 * The callback may read the store: read snapshots nest in one thread
 * (the log's environment is MDB_NOTLS).
 */
static int
walk(struct astore *s, MDB_dbi dbi, int keys, int (*each)(void *,
    const uint8_t *, size_t), void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r;

	if ((rc = log_read_begin(s->l, &txn)) != 0)
		return (rc);
	if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0) {
		log_read_end(txn);
		return (lmdb_err(rc));
	}
	r = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if ((r = each(ctx, keys ? k.mv_data : v.mv_data,
		    keys ? k.mv_size : v.mv_size)) != 0)
			break;
	}
	mdb_cursor_close(c);
	log_read_end(txn);
	if (r != 0)
		return (r);
	return (rc == MDB_NOTFOUND ? 0 : lmdb_err(rc));
}

struct walk_out {
	int (*fn)(void *, const struct astore_out *);
	void *ctx;
};

static int
each_out(void *ctx, const uint8_t *buf, size_t len)
{
	struct walk_out *w = ctx;
	struct astore_out r;
	int rc;

	if ((rc = out_decode(buf, len, &r)) != 0)
		return (rc);
	return (w->fn(w->ctx, &r));
}

int
astore_foreach_out(struct astore *s,
    int (*fn)(void *, const struct astore_out *), void *ctx)
{
	struct walk_out w = { fn, ctx };

	return (walk(s, s->dbi[D_OUT], 0, each_out, &w));
}

struct walk_in {
	int (*fn)(void *, const struct astore_in *);
	void *ctx;
};

static int
each_in(void *ctx, const uint8_t *buf, size_t len)
{
	struct walk_in *w = ctx;
	struct astore_in r;
	int rc;

	if ((rc = in_decode(buf, len, &r, 0)) != 0)
		return (rc);
	return (w->fn(w->ctx, &r));
}

int
astore_foreach_in(struct astore *s,
    int (*fn)(void *, const struct astore_in *), void *ctx)
{
	struct walk_in w = { fn, ctx };

	return (walk(s, s->dbi[D_IN], 0, each_in, &w));
}

int
astore_count_in(struct astore *s, uint64_t *n)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc;

	*n = 0;
	if ((rc = log_read_begin(s->l, &txn)) != 0)
		return (rc);
	rc = mdb_stat(txn, s->dbi[D_IN], &st);
	log_read_end(txn);
	if (rc != 0)
		return (lmdb_err(rc));
	*n = st.ms_entries;
	return (0);
}

struct walk_ids {
	int (*fn)(void *, const uint8_t *);
	void *ctx;
};

static int
each_id(void *ctx, const uint8_t *key, size_t len)
{
	struct walk_ids *w = ctx;

	if (len != FERRY_MSGID_LEN)
		return (FERRY_ELOGCORRUPT);
	return (w->fn(w->ctx, key));
}

int
astore_foreach_unspooled(struct astore *s,
    int (*fn)(void *, const uint8_t *), void *ctx)
{
	struct walk_ids w = { fn, ctx };

	return (walk(s, s->dbi[D_UNSPOOLED], 1, each_id, &w));
}

/* ---- erasure ----------------------------------------------------------- */

static int
erased_encode(const struct astore_erased *er, uint8_t **buf, size_t *len)
{
	struct wire_buf w;

	wire_buf_init(&w);
	wire_put_map(&w, 4);
	put_u(&w, 1, er->t_erased);
	put_u(&w, 2, er->reason);
	put_str(&w, 3, er->ref);
	put_str(&w, 4, er->rule);
	return (wire_buf_take(&w, buf, len));
}

/* In batch ${b}: record ${er} for ${id}, drop its envelope copy in ${edbi} and its unspooled mark. */
static int
erase_common(struct astore *s, struct log_batch *b, int edbi,
    const uint8_t id[FERRY_MSGID_LEN], const struct astore_erased *er)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = log_batch_del(b, s->dbi[edbi], id, FERRY_MSGID_LEN)) != 0 &&
	    rc != FERRY_ENOENT)
		return (rc);
	if ((rc = log_batch_del(b, s->dbi[D_UNSPOOLED], id,
	    FERRY_MSGID_LEN)) != 0 && rc != FERRY_ENOENT)
		return (rc);
	if ((rc = erased_encode(er, &buf, &len)) != 0)
		return (rc);
	rc = log_batch_put(b, s->dbi[D_ERASED], id, FERRY_MSGID_LEN, buf, len,
	    MDB_NOOVERWRITE);
	free(buf);
	return (rc);
}

int
astore_erase_out(struct astore *s, struct log_batch *b,
    const struct astore_out *rec, const struct astore_erased *er)
{
	struct astore_out r = *rec;
	int rc;

	sodium_memzero(r.sealed_key, sizeof(r.sealed_key));
	if ((rc = astore_update_out(s, b, &r)) != 0)
		return (rc);
	return (erase_common(s, b, D_OUTENV, rec->msg_id, er));
}

int
astore_erase_in(struct astore *s, struct log_batch *b,
    const struct astore_in *rec, const struct astore_erased *er)
{
	struct astore_in r = *rec;
	uint8_t *buf;
	size_t len;
	int rc;

	sodium_memzero(r.sealed_key, sizeof(r.sealed_key));
	if ((rc = in_encode(&r, &buf, &len)) != 0)
		return (rc);
	rc = log_batch_put(b, s->dbi[D_IN], r.msg_id, FERRY_MSGID_LEN, buf,
	    len, 0);
	free(buf);
	if (rc != 0)
		return (rc);
	return (erase_common(s, b, D_INENV, rec->msg_id, er));
}

int
astore_get_erased(struct astore *s, const uint8_t id[FERRY_MSGID_LEN],
    struct astore_erased *er)
{
	static const struct wire_field spec[] = {
		{ 1, WIRE_UINT, 1, 0, UINT64_MAX },
		{ 2, WIRE_UINT, 1, 1, 2 },
		{ 3, WIRE_STR, 1, 0, ASTORE_REF_MAX },
		{ 4, WIRE_STR, 1, 0, ASTORE_RULE_MAX },
	};
	const msgpack_object *v[4];
	struct wire_doc doc;
	uint8_t *buf;
	size_t len;
	int rc;

	memset(er, 0, sizeof(*er));
	if ((rc = get_copy(s, s->dbi[D_ERASED], id, FERRY_MSGID_LEN, &buf,
	    &len)) != 0)
		return (rc);
	rc = FERRY_ELOGCORRUPT;
	if (wire_parse(buf, len, 2, &doc) == 0) {
		if (wire_map_read(&doc.root, spec, 4, v) == 0 &&
		    wire_str_copy(v[2], er->ref, sizeof(er->ref)) == 0 &&
		    wire_str_copy(v[3], er->rule, sizeof(er->rule)) == 0) {
			er->t_erased = v[0]->via.u64;
			er->reason = (uint32_t)v[1]->via.u64;
			rc = 0;
		}
		wire_doc_free(&doc);
	}
	free(buf);
	return (rc);
}
