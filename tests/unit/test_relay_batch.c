/*
 * test_relay_batch.c: the relay's batch (relay/batch.c, batch_check.c)
 * without sockets:
 * a relay state with its log and queue in a temporary folder, envelopes
 * handed to batch_add as if drained from the socket, sends captured
 * through r->send.  A new MSG is committed once and answered only after
 * the commit; a duplicate in the same batch gets the same log index; a
 * RECEIPT finishes a queued message and its final is kept; RECEIPTs for
 * unknown messages or under another hash are refused; an ASK is answered
 * from what is committed; a failed commit answers nothing.  An agency's
 * CHECKPOINTs: at most one logged per checkpoint_interval, small plain
 * notes only (issue 13, hole 4).  Refusals while the disk is full keep
 * the count of refusals not logged; an oversized RECEIPT is refused.
 * Finished records are pruned past `retention`, and what is asked about
 * them afterwards is answered from the relay's log.  A sender's share of
 * a recipient's queue, and all queues together, are bounded.  The group
 * commit's policy (batch_drain): a lone message is committed in the turn
 * it arrives, a batch grows to what is waiting (bounded by batch_max),
 * counted in synced commits (log_commits).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "../lib/harness.h"
#include "../lib/tproof.h"
#include "../lib/troster.h"
#include "envelope.h"
#include "ident.h"
#include "log.h"
#include "note.h"
#include "roster.h"
#include "relay_int.h"

#define DAY (24ULL * 3600 * 1000)

static struct ident *admin, *relay, *alpha, *bravo, *charlie;
static struct roster *ro;		/* for the senders' key lookups */
static const uint8_t *ro_bytes;
static size_t ro_len;
static char dir[512];
static struct config conf;

/* What the relay sent, in order: to whom (the route id) and the bytes. */
#define SENT_MAX 64
static struct {
	char to[FERRY_ID_MAX + 1];
	uint8_t *b;
	size_t n;
} sent[SENT_MAX];
static size_t nsent;

static int
cap_send(struct relay *r, const uint8_t *rid, size_t rid_len,
    const uint8_t *b, size_t n)
{

	if (nsent == SENT_MAX || rid_len > FERRY_ID_MAX ||
	    (sent[nsent].b = malloc(n)) == NULL)
		return (-1);
	memcpy(sent[nsent].to, rid, rid_len);
	sent[nsent].to[rid_len] = '\0';
	memcpy(sent[nsent].b, b, n);
	sent[nsent].n = n;
	nsent++;
	return (0);
}

static void
sent_clear(void)
{
	size_t i;

	for (i = 0; i < nsent; i++)
		free(sent[i].b);
	nsent = 0;
}

/* Sent envelope ${i} decoded into ${e}: its type, or 0. */
static uint32_t
sent_type(size_t i, struct env *e)
{

	if (i >= nsent || env_decode(sent[i].b, sent[i].n, 0, e) != 0)
		return (0);
	return (e->type);
}

static int
setup(void)
{
	uint64_t now = ferry_now_ms();

	snprintf(dir, sizeof(dir), "%s", t_tmpdir());
	if (ident_generate("admin-1", IDENT_ADMIN, "admin", now, 365 * DAY,
	    &admin) || ident_generate("relay", IDENT_RELAY, "relay", now,
	    365 * DAY, &relay) || ident_generate("alpha", IDENT_CHARITY,
	    "Alpha", now, 365 * DAY, &alpha) || ident_generate("bravo",
	    IDENT_POLICE, "Bravo", now, 365 * DAY, &bravo) ||
	    ident_generate("charlie", IDENT_CHARITY, "Charlie", now,
	    365 * DAY, &charlie))
		return (-1);
	{
		const struct ident *ag[] = { alpha, bravo, charlie };
		char path[600], pin[65];
		size_t n;

		/* The shared signed test roster (tests/lib/troster.c), read
		 * back as the relay's roster in force. */
		snprintf(path, sizeof(path), "%s/roster", dir);
		if (troster_write(path, admin, relay, ag, 3, pin) != 0 ||
		    (ro_bytes = t_read_file(path, &n)) == NULL ||
		    roster_parse(ro_bytes, n, &ro) != 0)
			return (-1);
		ro_len = n;
	}
	return (0);
}

/* Agency ${id} has a live route (its id is its routing id here). */
static struct peer *
route(struct relay *r, const char *id)
{
	struct peer *p;

	if ((p = peer_get(r, id, 1)) == NULL)
		return (NULL);
	p->routed = 1;
	p->rid_len = strlen(id);
	memcpy(p->rid, id, p->rid_len);
	return (p);
}

/* A fresh relay: its own log and queue, alpha and bravo routed. */
static struct relay *
relay_new(void)
{
	static int n;
	struct log_opts lo = { queue_dbs, QUEUE_NDBS, 0 };
	struct relay *r;
	char path[CONFIG_PATH_MAX + 16];

	sent_clear();
	config_defaults(&conf);
	/* Tests run in processes of their own (harness): pid apart. */
	snprintf(conf.data, sizeof(conf.data), "%s/relay-%ld-%d", dir,
	    (long)getpid(), n++);
	snprintf(path, sizeof(path), "%s/log", conf.data);
	if (mkdir(conf.data, 0700) != 0 || mkdir(path, 0700) != 0 ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->c = &conf;
	r->me = relay;
	r->send = cap_send;
	r->lock_fd = -1;
	if (roster_parse(ro_bytes, ro_len, &r->roster) != 0 ||
	    log_open_ex(path, "ferry/relay", relay->sign_sk, &lo,
	    &r->log) != 0 || queue_open(r->log, &r->q) != 0 ||
	    rutil_refresh_checkpoint(r) != 0 || route(r, "alpha") == NULL ||
	    route(r, "bravo") == NULL) {
		fprintf(stderr, "# relay_new failed\n");
		return (NULL);
	}
	return (r);
}

static void
relay_done(struct relay *r)
{

	if (r == NULL)
		return;
	batch_free(r);
	peer_free_all(r);
	free(r->checkpoint);
	roster_free(r->roster);
	queue_close(r->q);
	log_close(r->log);
	free(r);
	sent_clear();
}

/* The end of a turn of the loop: commit (full disk handled), answer. */
static int
turn(struct relay *r)
{
	int rc;

	if ((rc = batch_commit(r)) == FERRY_ENOSPC)
		rc = batch_disk_full(r, rc);
	if (rc != 0) {
		batch_undo(r);
		return (rc);
	}
	batch_answer(r);
	return (0);
}

/* ${from}'s envelope ${b} arrives, as batch_add from the socket. */
static void
arrive(struct relay *r, const char *from, const uint8_t *b, size_t n)
{

	batch_add(r, peer_get(r, from, 1), b, n, 1);
	batch_settle(r);
}

/* A sealed MSG from ${from} to ${to}: its id and envelope hash. */
static int
make_msg_from(struct ident *from, const char *to, uint8_t id[FERRY_MSGID_LEN],
    uint8_t hash[32], uint8_t **out, size_t *len)
{
	uint8_t pk[32], ck[32];
	uint32_t kid;
	int rc;

	if ((rc = roster_enc_key_for_sending(ro, to, ferry_now_ms(), &kid,
	    pk)) != 0)
		return (rc);
	if ((rc = env_seal(from, to, pk, kid, (const uint8_t *)"hi", 2, NULL,
	    ferry_now_ms(), ck, id, out, len)) != 0)
		return (rc);
	env_hash(*out, *len, hash);
	return (0);
}

/* A sealed MSG from alpha to bravo: its id and envelope hash. */
static int
make_msg(uint8_t id[FERRY_MSGID_LEN], uint8_t hash[32], uint8_t **out,
    size_t *len)
{

	return (make_msg_from(alpha, "bravo", id, hash, out, len));
}

/* A signed envelope of ${type} by ${from} to ${to} about (${id}, ${hash}). */
static int
make_env(struct ident *from, const char *to, uint32_t type,
    const uint8_t id[FERRY_MSGID_LEN], const uint8_t hash[32],
    const uint8_t *blob, size_t blen, uint8_t **out, size_t *len)
{
	struct env e;

	memset(&e, 0, sizeof(e));
	e.version = ENV_VERSION;
	e.type = type;
	env_new_id(e.id);
	snprintf(e.from, sizeof(e.from), "%s", from->id);
	snprintf(e.to, sizeof(e.to), "%s", to);
	e.time = ferry_now_ms();
	if (id != NULL)
		memcpy(e.msg_id, id, FERRY_MSGID_LEN);
	if (hash != NULL)
		memcpy(e.env_hash, hash, 32);
	e.log_index = 1;
	e.roster_version = 1;
	e.blob = blob;
	e.blob_len = blen;
	return (env_encode(&e, from->sign_sk, out, len));
}

/* Queue state of ${id} (QUEUE_*), its final (malloc'd) if done. */
static int
lookup(struct relay *r, const uint8_t id[FERRY_MSGID_LEN], uint8_t **fin,
    size_t *flen)
{
	uint8_t h[32];
	uint64_t seq;
	uint8_t *f = NULL;
	size_t fl = 0;
	int st;

	st = queue_lookup(r->q, id, h, &seq, &f, &fl);
	if (fin != NULL) {
		*fin = f;
		*flen = fl;
	} else
		free(f);
	return (st);
}

/*
 * ${from}'s envelope ${b} arrives and one turn commits and answers it
 * (the answers dropped): 0 if message ${id} is then in state ${st}.
 */
static int
committed(struct relay *r, const char *from, const uint8_t *b, size_t n,
    const uint8_t id[FERRY_MSGID_LEN], int st)
{
	int rc;

	arrive(r, from, b, n);
	if ((rc = turn(r)) != 0)
		return (rc);
	sent_clear();
	return (lookup(r, id, NULL, NULL) == st ? 0 : -1);
}

/* ${from} ASKs about (${id}, ${hash}); answered at once. */
static int
ask(struct relay *r, struct ident *from, const uint8_t id[FERRY_MSGID_LEN],
    const uint8_t hash[32])
{
	uint8_t *b;
	size_t n;
	int rc;

	if ((rc = make_env(from, "relay", ENV_ASK, id, hash, NULL, 0, &b,
	    &n)) != 0)
		return (rc);
	arrive(r, from->id, b, n);
	free(b);
	return (0);
}

/* A message of alpha's to bravo, committed and answered (one turn). */
static int
queued_msg(struct relay *r, uint8_t id[FERRY_MSGID_LEN], uint8_t hash[32])
{
	uint8_t *m;
	size_t n;
	int rc;

	if ((rc = make_msg(id, hash, &m, &n)) != 0)
		return (rc);
	rc = committed(r, "alpha", m, n, id, QUEUE_QUEUED);
	free(m);
	return (rc);
}

/*
 * A checkpoint note of ${signer}'s key under ${origin} at ${size}, with
 * an extension line of ${ext} bytes if ${ext} > 0 (signed as
 * note_sign_checkpoint does).  *${out} malloc'd.
 */
static int
make_note(const struct ident *signer, const char *origin, uint64_t size,
    size_t ext, uint8_t **out, size_t *len)
{
	char b64r[64], b64s[128];
	uint8_t root[32], sig[4 + 64], *b;
	size_t cap = ext + 1024, n;

	randombytes_buf(root, sizeof(root));
	if (ext == 0)
		return (note_sign_checkpoint(origin, size, root,
		    signer->sign_sk, out, len));
	if ((b = malloc(cap)) == NULL)
		return (FERRY_ENOMEM);
	sodium_bin2base64(b64r, sizeof(b64r), root, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	n = (size_t)snprintf((char *)b, cap, "%s\n%llu\n%s\n", origin,
	    (unsigned long long)size, b64r);
	memset(b + n, 'x', ext);
	n += ext;
	b[n++] = '\n';
	note_keyid(origin, NOTE_TYPE_ED25519, signer->sign_pk, sig);
	crypto_sign_detached(sig + 4, NULL, b, n, signer->sign_sk);
	sodium_bin2base64(b64s, sizeof(b64s), sig, sizeof(sig),
	    sodium_base64_VARIANT_ORIGINAL);
	n += (size_t)snprintf((char *)b + n, cap - n, "\n\xe2\x80\x94 %s %s\n",
	    origin, b64s);
	*out = b;
	*len = n;
	return (0);
}

/* ${from}'s CHECKPOINT envelope carrying ${note} arrives. */
static int
arrive_checkpoint(struct relay *r, struct ident *from, const uint8_t *note,
    size_t nlen)
{
	uint8_t *b;
	size_t n;
	int rc;

	if ((rc = make_env(from, "relay", ENV_CHECKPOINT, NULL, NULL, note,
	    nlen, &b, &n)) != 0)
		return (rc);
	arrive(r, from->id, b, n);
	free(b);
	return (0);
}

/* ${from} sends a plain checkpoint of its own log at ${size}. */
static int
own_checkpoint(struct relay *r, struct ident *from, uint64_t size)
{
	char origin[FERRY_ID_MAX + 8];
	uint8_t *note;
	size_t n;
	int rc;

	snprintf(origin, sizeof(origin), "ferry/%s", from->id);
	if ((rc = make_note(from, origin, size, 0, &note, &n)) != 0)
		return (rc);
	rc = arrive_checkpoint(r, from, note, n);
	free(note);
	return (rc);
}

/* A MSG of alpha's to bravo committed (one turn); its envelope in *${m}. */
static int
sent_msg(struct relay *r, uint8_t id[FERRY_MSGID_LEN], uint8_t hash[32],
    uint8_t **m, size_t *n)
{
	int rc;

	if ((rc = make_msg(id, hash, m, n)) != 0)
		return (rc);
	return (committed(r, "alpha", *m, *n, id, QUEUE_QUEUED));
}

/* bravo's RECEIPT for (${id}, ${hash}) committed; its bytes in *${rc}. */
static int
receipted(struct relay *r, const uint8_t id[FERRY_MSGID_LEN],
    const uint8_t hash[32], uint8_t **rc, size_t *n)
{
	int e;

	if ((e = make_env(bravo, "alpha", ENV_RECEIPT, id, hash, NULL, 0, rc,
	    n)) != 0)
		return (e);
	return (committed(r, "bravo", *rc, *n, id, QUEUE_DONE));
}

static int
count_one(void *ctx, uint64_t a, const uint8_t *b, size_t n)
{

	(*(size_t *)ctx)++;
	return (0);
}

static int
count_done(void *ctx, uint64_t done_ms, const uint8_t *id)
{

	(*(size_t *)ctx)++;
	return (0);
}

/* Finished records in q.done. */
static size_t
ndone(struct relay *r)
{
	size_t n = 0;

	(void)queue_finished(r->q, count_done, &n);
	return (n);
}

/* Notices kept for ${id}. */
static size_t
nnotices(struct relay *r, const char *id)
{
	size_t n = 0;

	(void)queue_notices(r->q, id, count_one, &n);
	return (n);
}

/* Let the wall clock move on by at least ${ms}. */
static void
wait_ms(uint64_t ms)
{
	uint64_t t0 = ferry_now_ms();
	struct timespec ts = { 0, 2000000 };

	while (ferry_now_ms() < t0 + ms)
		(void)nanosleep(&ts, NULL);
}

TEST(msg_committed_then_accepted)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *m = NULL;
	uint64_t size0;
	size_t n;
	struct env e;

	CHECK(r != NULL);
	CHECK_EQ(make_msg(id, h, &m, &n), 0);
	size0 = log_size(r->log);
	arrive(r, "alpha", m, n);
	free(m);
	/* Checked, held in the batch: nothing answered, nothing written. */
	CHECK_EQ(r->nitems, 1);
	CHECK_EQ(r->items[0].kind, IT_ACCEPT);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(r->m.commits, 0);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 1);
	/* Committed once (one log entry, queued), still unanswered. */
	CHECK_EQ(batch_commit(r), 0);
	CHECK_EQ(r->m.commits, 1);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(log_size(r->log), size0 + 1);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_QUEUED);
	/* Then answered: ACCEPTED with the entry's index. */
	batch_answer(r);
	CHECK_EQ(r->nitems, 0);
	CHECK_EQ(nsent, 1);
	CHECK(strcmp(sent[0].to, "alpha") == 0);
	CHECK_EQ(sent_type(0, &e), ENV_ACCEPTED_P);
	CHECK(memcmp(e.msg_id, id, FERRY_MSGID_LEN) == 0);
	CHECK(memcmp(e.env_hash, h, 32) == 0);
	CHECK_EQ(e.log_index, size0);
	/* Proven under the relay's checkpoint of that commit. */
	CHECK_EQ(env_verify_proof(&e, relay->sign_pk, NULL), 0);
	CHECK_EQ(env_verify_proof(&e, alpha->sign_pk, NULL), FERRY_ENOENT);
	CHECK_EQ(r->m.accepted, 1);
	/* A turn with nothing new commits nothing. */
	CHECK_EQ(batch_commit(r), 0);
	CHECK_EQ(r->m.commits, 1);
	relay_done(r);
}

TEST(dup_in_one_batch_same_index)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *m = NULL;
	uint64_t size0;
	size_t n;
	struct env e1, e2;

	CHECK(r != NULL);
	CHECK_EQ(make_msg(id, h, &m, &n), 0);
	size0 = log_size(r->log);
	arrive(r, "alpha", m, n);
	arrive(r, "alpha", m, n);
	free(m);
	CHECK_EQ(r->nitems, 2);
	CHECK_EQ(r->items[0].kind, IT_ACCEPT);
	CHECK_EQ(r->items[1].kind, IT_DUP);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 1);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 1);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(sent_type(0, &e1), ENV_ACCEPTED_P);
	CHECK_EQ(sent_type(1, &e2), ENV_ACCEPTED_P);
	CHECK_EQ(e1.log_index, size0);
	CHECK_EQ(e2.log_index, e1.log_index);
	CHECK_EQ(env_verify_proof(&e1, relay->sign_pk, NULL), 0);
	CHECK_EQ(env_verify_proof(&e2, relay->sign_pk, NULL), 0);
	CHECK_EQ(r->m.accepted, 1);
	CHECK_EQ(r->m.duplicates, 1);
	relay_done(r);
}

TEST(receipt_finishes_and_keeps_final)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *rc = NULL, *fin = NULL;
	size_t n, flen = 0;
	uint64_t size0;
	struct env e;

	CHECK(r != NULL);
	CHECK_EQ(queued_msg(r, id, h), 0);
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, h, NULL, 0, &rc,
	    &n), 0);
	size0 = log_size(r->log);
	arrive(r, "bravo", rc, n);
	CHECK_EQ(r->items[0].kind, IT_RECEIPT);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(turn(r), 0);
	/* RECEIPT and DELIVERED entries; the message is done, final kept. */
	CHECK_EQ(log_size(r->log), size0 + 2);
	CHECK_EQ(lookup(r, id, &fin, &flen), QUEUE_DONE);
	CHECK(fin != NULL);
	CHECK_EQ(flen, n);
	CHECK(memcmp(fin, rc, n) == 0);
	free(fin);
	CHECK_EQ(r->m.delivered, 1);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 0);
	/* Forwarded to the (connected) sender after the commit. */
	CHECK_EQ(nsent, 1);
	CHECK(strcmp(sent[0].to, "alpha") == 0);
	CHECK_EQ(sent_type(0, &e), ENV_RECEIPT);
	CHECK_EQ(sent[0].n, n);
	free(rc);
	relay_done(r);
}

/*
 * Issue 10 step 3: the RECEIPT_Ps of one recipient batch cost the relay
 * ONE note signature check (its cache) and no envelope signature check;
 * each is logged and forwarded to the sender byte for byte; a RECEIPT_P
 * whose path was tampered with is refused (FERRY_EBADSIG).
 */
TEST(receipts_by_proof_one_note)
{
	struct relay *r = relay_new();
	uint8_t ids[6][FERRY_MSGID_LEN], h[6][32], *rb[6] = { NULL };
	size_t rl[6], i;
	uint64_t v0, v1, ev0, ev1;
	struct env e;

	CHECK(r != NULL);
	for (i = 0; i < 6; i++)
		CHECK_EQ(queued_msg(r, ids[i], h[i]), 0);
	/* bravo's, as its agent makes them: one batch, one checkpoint. */
	CHECK_EQ(tproof_receipts(bravo, ENV_RECEIPT_P, 6,
	    (const uint8_t (*)[16])ids, (const uint8_t (*)[32])h, "alpha",
	    "bravo", dir, rb, rl), 0);
	rb[5][rl[5] - 1] ^= 1;	/* the last path hash */
	note_counts(NULL, &v0);
	env_counts(NULL, &ev0);
	for (i = 0; i < 6; i++)
		arrive(r, "bravo", rb[i], rl[i]);
	for (i = 0; i < 5; i++)
		CHECK_EQ(r->items[i].kind, IT_RECEIPT);
	CHECK_EQ(r->items[5].kind, IT_REFUSE);
	CHECK_EQ(r->items[5].code, FERRY_EBADSIG);
	CHECK_EQ(turn(r), 0);
	note_counts(NULL, &v1);
	env_counts(NULL, &ev1);
	CHECK_EQ(v1 - v0, 1);
	CHECK_EQ(ev1 - ev0, 0);
	CHECK_EQ(r->m.delivered, 5);
	for (i = 0; i < 5; i++)
		CHECK_EQ(lookup(r, ids[i], NULL, NULL), QUEUE_DONE);
	CHECK_EQ(lookup(r, ids[5], NULL, NULL), QUEUE_QUEUED);
	/* Forwarded as they came (a NACK goes back to bravo). */
	for (i = 0; i < nsent && i < 5; i++) {
		CHECK(strcmp(sent[i].to, "alpha") == 0);
		CHECK_EQ(sent_type(i, &e), ENV_RECEIPT_P);
		CHECK(sent[i].n == rl[i] && memcmp(sent[i].b, rb[i], rl[i]) == 0);
	}
	for (i = 0; i < 6; i++)
		free(rb[i]);
	relay_done(r);
}

TEST(receipt_unknown_or_other_hash_refused)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], other[32], unknown[16];
	uint8_t *b = NULL;
	size_t n;

	CHECK(r != NULL);
	CHECK_EQ(queued_msg(r, id, h), 0);
	/* A message the relay never held. */
	env_new_id(unknown);
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, unknown, h, NULL, 0,
	    &b, &n), 0);
	arrive(r, "bravo", b, n);
	free(b);
	CHECK_EQ(r->items[0].kind, IT_REFUSE);
	CHECK_EQ(r->items[0].code, FERRY_ENOENT);
	/* The queued message, under another envelope hash. */
	memcpy(other, h, 32);
	other[0] ^= 1;
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, other, NULL, 0,
	    &b, &n), 0);
	arrive(r, "bravo", b, n);
	free(b);
	CHECK_EQ(r->items[1].kind, IT_REFUSE);
	CHECK_EQ(r->items[1].code, FERRY_ENOENT);
	CHECK_EQ(turn(r), 0);
	/* Counted and (rate-limited) logged, never NACKed, nothing done. */
	CHECK_EQ(r->m.refused[-FERRY_ENOENT], 2);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(r->m.delivered, 0);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_QUEUED);
	CHECK_EQ(lookup(r, unknown, NULL, NULL), QUEUE_NONE);
	relay_done(r);
}

TEST(ask_answered_from_store)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], id2[FERRY_MSGID_LEN], h2[32];
	uint8_t unknown[16], *rc = NULL;
	size_t rn;
	struct env e;

	CHECK(r != NULL);
	CHECK_EQ(queued_msg(r, id, h), 0);
	CHECK_EQ(queued_msg(r, id2, h2), 0);
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, h, NULL, 0, &rc,
	    &rn), 0);
	arrive(r, "bravo", rc, rn);
	CHECK_EQ(turn(r), 0);
	sent_clear();
	/* Finished: the stored final (the RECEIPT) again. */
	CHECK_EQ(ask(r, alpha, id, h), 0);
	CHECK_EQ(nsent, 1);
	CHECK(strcmp(sent[0].to, "alpha") == 0);
	CHECK_EQ(sent[0].n, rn);
	CHECK(memcmp(sent[0].b, rc, rn) == 0);
	CHECK_EQ(r->m.asks_answered, 1);
	/* Still queued: nothing. */
	CHECK_EQ(ask(r, alpha, id2, h2), 0);
	CHECK_EQ(nsent, 1);
	/* Unknown: NACK FERRY_ENOTHELD. */
	env_new_id(unknown);
	CHECK_EQ(ask(r, alpha, unknown, h), 0);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(sent_type(1, &e), ENV_NACK);
	CHECK_EQ(-(int)e.code, FERRY_ENOTHELD);
	CHECK(memcmp(e.msg_id, unknown, 16) == 0);
	/* Someone else's queued message: as if unknown. */
	CHECK_EQ(ask(r, bravo, id2, h2), 0);
	CHECK_EQ(nsent, 3);
	CHECK(strcmp(sent[2].to, "bravo") == 0);
	CHECK_EQ(sent_type(2, &e), ENV_NACK);
	CHECK_EQ(-(int)e.code, FERRY_ENOTHELD);
	CHECK_EQ(r->m.asks, 4);
	CHECK_EQ(r->m.asks_unknown, 1);
	/* Asks are answered at once and write nothing. */
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(nsent, 3);
	free(rc);
	relay_done(r);
}

TEST(failed_commit_answers_nothing)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *m = NULL;
	uint64_t size0, commits0;
	size_t n;

	CHECK(r != NULL);
	CHECK_EQ(make_msg(id, h, &m, &n), 0);
	size0 = log_size(r->log);
	commits0 = r->m.commits;
	arrive(r, "alpha", m, n);
	free(m);
	/* The loop stops on a failure that is not a full disk: undone. */
	r->fail_commits = 1;
	CHECK_EQ(batch_commit(r), FERRY_ENOSPC);
	batch_undo(r);
	CHECK_EQ(r->nitems, 0);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(r->m.commits, commits0);
	CHECK_EQ(r->m.accepted, 0);
	CHECK_EQ(log_size(r->log), size0);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 0);
	CHECK_EQ(peer_get(r, "bravo", 0)->bytes, 0);
	relay_done(r);
}

TEST(full_disk_refuses_new_msgs)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], id2[FERRY_MSGID_LEN], h2[32];
	uint8_t *m = NULL, *rc = NULL;
	uint64_t size0;
	size_t n, rn;
	struct env e;

	CHECK(r != NULL);
	CHECK_EQ(queued_msg(r, id, h), 0);
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, h, NULL, 0, &rc,
	    &rn), 0);
	CHECK_EQ(make_msg(id2, h2, &m, &n), 0);
	size0 = log_size(r->log);
	/* Both commits fail: the MSG gets a transient NACK, the RECEIPT
	 * is dropped (the recipient sends it again); no ACCEPTED. */
	arrive(r, "alpha", m, n);
	arrive(r, "bravo", rc, rn);
	r->fail_commits = 2;
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(r->m.disk_full, 1);
	CHECK_EQ(r->m.commit_failures, 2);
	CHECK_EQ(nsent, 1);
	CHECK(strcmp(sent[0].to, "alpha") == 0);
	CHECK_EQ(sent_type(0, &e), ENV_NACK);
	CHECK_EQ(-(int)e.code, FERRY_ENOSPC);
	CHECK(memcmp(e.msg_id, id2, 16) == 0);
	CHECK_EQ(log_size(r->log), size0);
	CHECK_EQ(lookup(r, id2, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_QUEUED);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 1);
	sent_clear();
	/* Until space returns a new MSG is refused without a try, while a
	 * RECEIPT is recorded (one failure: the retry commits it). */
	arrive(r, "alpha", m, n);
	CHECK_EQ(r->items[0].kind, IT_REFUSE);
	CHECK_EQ(r->items[0].code, FERRY_ENOSPC);
	CHECK_EQ(r->items[0].nle, 0);
	arrive(r, "bravo", rc, rn);
	r->fail_commits = 1;
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_DONE);
	CHECK_EQ(log_size(r->log), size0 + 2);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(sent_type(0, &e), ENV_NACK);
	CHECK_EQ(-(int)e.code, FERRY_ENOSPC);
	CHECK_EQ(sent_type(1, &e), ENV_RECEIPT);
	free(m);
	free(rc);
	relay_done(r);
}

TEST(checkpoint_once_per_interval)
{
	struct relay *r = relay_new();
	uint64_t size0;

	CHECK(r != NULL);
	size0 = log_size(r->log);
	CHECK_EQ(own_checkpoint(r, alpha, 5), 0);
	CHECK_EQ(r->items[0].kind, IT_CHECKPOINT);
	/* A newer one within the interval: skipped, counted. */
	CHECK_EQ(own_checkpoint(r, alpha, 6), 0);
	CHECK_EQ(r->items[1].kind, IT_SKIP);
	CHECK_EQ(r->m.checkpoints_skipped, 1);
	/* Another agency's is its own matter. */
	CHECK_EQ(own_checkpoint(r, bravo, 2), 0);
	CHECK_EQ(r->items[2].kind, IT_CHECKPOINT);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 2);
	CHECK_EQ(nsent, 0);
	/* Again within the interval, in a later batch: skipped. */
	CHECK_EQ(own_checkpoint(r, alpha, 7), 0);
	CHECK_EQ(r->items[0].kind, IT_SKIP);
	CHECK_EQ(r->m.checkpoints_skipped, 2);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 2);
	/* Once the interval has passed, the next newer one is logged; an
	 * older or equal one never is (nor counted as skipped). */
	peer_get(r, "alpha", 0)->cp_ms -= conf.checkpoint_ms;
	CHECK_EQ(own_checkpoint(r, alpha, 5), 0);
	CHECK_EQ(r->items[0].kind, IT_SKIP);
	CHECK_EQ(own_checkpoint(r, alpha, 8), 0);
	CHECK_EQ(r->items[1].kind, IT_CHECKPOINT);
	CHECK_EQ(r->m.checkpoints_skipped, 2);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 3);
	relay_done(r);
}

TEST(checkpoint_small_and_plain_only)
{
	struct relay *r = relay_new();
	uint8_t *note = NULL, *cos = NULL;
	size_t n, cn;
	uint64_t size0;
	size_t i;

	CHECK(r != NULL);
	size0 = log_size(r->log);
	/* Over 1 KiB (here a 3.5 KiB extension line): FERRY_ETOOBIG. */
	CHECK_EQ(make_note(alpha, "ferry/alpha", 5, 3584, &note, &n), 0);
	CHECK(n > 1024 && n <= LOG_AUX_MAX);
	CHECK_EQ(arrive_checkpoint(r, alpha, note, n), 0);
	free(note);
	/* Small, but with an extension line: FERRY_EBADVALUE. */
	CHECK_EQ(make_note(alpha, "ferry/alpha", 6, 100, &note, &n), 0);
	CHECK(n < 1024);
	CHECK_EQ(note_verify(note, n, "ferry/alpha", alpha->sign_pk), 0);
	CHECK_EQ(arrive_checkpoint(r, alpha, note, n), 0);
	free(note);
	/* Two signature lines (cosigned): FERRY_EBADVALUE. */
	CHECK_EQ(make_note(alpha, "ferry/alpha", 7, 0, &note, &n), 0);
	CHECK_EQ(note_cosign(note, n, "ferry/bravo", bravo->sign_sk, 1, &cos,
	    &cn), 0);
	CHECK_EQ(arrive_checkpoint(r, alpha, cos, cn), 0);
	free(cos);
	free(note);
	/* Another party's log: FERRY_ESENDER. */
	CHECK_EQ(make_note(alpha, "ferry/bravo", 8, 0, &note, &n), 0);
	CHECK_EQ(arrive_checkpoint(r, alpha, note, n), 0);
	free(note);
	CHECK_EQ(r->nitems, 4);
	for (i = 0; i < 4; i++)
		CHECK_EQ(r->items[i].kind, IT_REFUSE);
	CHECK_EQ(r->items[0].code, FERRY_ETOOBIG);
	CHECK_EQ(r->items[1].code, FERRY_EBADVALUE);
	CHECK_EQ(r->items[2].code, FERRY_EBADVALUE);
	CHECK_EQ(r->items[3].code, FERRY_ESENDER);
	/* Refused, not NACKed; one REFUSED entry (rate-limited), no
	 * CHECKPOINT entry; a plain one is still logged afterwards. */
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(log_size(r->log), size0 + 1);
	CHECK_EQ(r->m.refused[-FERRY_EBADVALUE], 2);
	CHECK_EQ(own_checkpoint(r, alpha, 9), 0);
	CHECK_EQ(r->items[0].kind, IT_CHECKPOINT);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 2);
	relay_done(r);
}

/*
 * Issue 13, closing note (a): refusals of new MSGs while the disk is full
 * are not logged, and must not take the agency's REFUSED entry of the
 * second nor reset its count of refusals not logged (that count was lost
 * for the whole disk-full period); a REFUSED entry dropped with a failed
 * commit goes back to that count.  The next entry logged reports them.
 */
TEST(full_disk_keeps_unlogged_count)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *m = NULL;
	const uint8_t junk[] = "not an envelope";
	struct peer *p;
	uint64_t size0;
	size_t n, i;

	CHECK(r != NULL);
	p = peer_get(r, "alpha", 0);
	size0 = log_size(r->log);
	/* Three refusals in one second: one logged, two counted. */
	for (i = 0; i < 3; i++)
		arrive(r, "alpha", junk, sizeof(junk));
	CHECK_EQ(r->items[0].nle, 1);
	CHECK_EQ(r->items[1].nle, 0);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 1);
	CHECK_EQ(p->refused_quiet, 2);
	/* A second later: a refusal (its REFUSED entry reports the two)
	 * and a new MSG in a batch whose commit fails for lack of space:
	 * neither is written; then another MSG while the disk is full. */
	p->refused_entry_ms -= 1000;
	arrive(r, "alpha", junk, sizeof(junk));
	CHECK_EQ(r->items[0].nle, 1);
	CHECK_EQ(r->items[0].quiet_n, 2);
	CHECK_EQ(make_msg(id, h, &m, &n), 0);
	arrive(r, "alpha", m, n);
	free(m);
	r->fail_commits = 1;
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(r->m.disk_full, 1);
	CHECK_EQ(make_msg(id, h, &m, &n), 0);
	arrive(r, "alpha", m, n);
	free(m);
	CHECK_EQ(r->items[0].kind, IT_REFUSE);
	CHECK_EQ(r->items[0].code, FERRY_ENOSPC);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 1);
	CHECK_EQ(r->m.refused[-FERRY_ENOSPC], 2);
	/* The two before, and the one whose entry was dropped; the ENOSPC
	 * refusals are not logged by design (counted in metrics only). */
	CHECK_EQ(p->refused_quiet, 3);
	/* Space is back: the next REFUSED entry reports all three. */
	r->full_until = 0;
	p->refused_entry_ms -= 1000;
	arrive(r, "alpha", junk, sizeof(junk));
	CHECK_EQ(r->items[0].nle, 1);
	CHECK_EQ(r->items[0].quiet_n, 3);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0 + 2);
	CHECK_EQ(p->refused_quiet, 0);
	relay_done(r);
}

/*
 * Issue 13, closing note (b): a RECEIPT is logged whole (aux, at most
 * LOG_AUX_MAX bytes), so the relay's log holds the recipient's signed
 * copy; a bigger one is refused FERRY_ETOOBIG (logged, not NACKed) and
 * not acted on: the message stays queued until a RECEIPT that fits.
 */
TEST(oversized_receipt_refused)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *b = NULL, *blob = NULL;
	struct log_entry le;
	uint64_t size0, idx;
	size_t n;

	CHECK(r != NULL);
	CHECK_EQ(queued_msg(r, id, h), 0);
	CHECK((blob = calloc(1, LOG_AUX_MAX)) != NULL);
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, h, blob,
	    LOG_AUX_MAX, &b, &n), 0);
	CHECK(n > LOG_AUX_MAX);
	size0 = log_size(r->log);
	arrive(r, "bravo", b, n);
	free(b);
	CHECK_EQ(r->items[0].kind, IT_REFUSE);
	CHECK_EQ(r->items[0].code, FERRY_ETOOBIG);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(nsent, 0);
	CHECK_EQ(log_size(r->log), size0 + 1);	/* the REFUSED entry */
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_QUEUED);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 1);
	CHECK_EQ(r->m.delivered, 0);
	/* A RECEIPT that fits finishes it, logged whole. */
	CHECK_EQ(make_env(bravo, "alpha", ENV_RECEIPT, id, h, blob, 256, &b,
	    &n), 0);
	arrive(r, "bravo", b, n);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_DONE);
	CHECK_EQ(log_find_msg(r->log, id, LOG_RECEIPT, &idx), 0);
	CHECK_EQ(log_get(r->log, idx, &le), 0);
	CHECK_EQ(le.aux_len, n);
	CHECK(le.aux != NULL && memcmp(le.aux, b, n) == 0);
	log_entry_clear(&le);
	free(b);
	free(blob);
	relay_done(r);
}

/*
 * Issue 13, item 5.1: finished records (q.ids, with their finals and kept
 * notices) are pruned by the sweep once `retention` has passed since they
 * finished: exactly those, not queued ones nor recent ones.  A duplicate
 * of a recent one is answered from its record; a MSG or ASK about a
 * pruned one is answered from the relay's log (its ACCEPTED index, the
 * RECEIPT logged whole), never taken as new: the log holds one ACCEPTED
 * per id, so taking it again would fail the commit and stop the relay.
 */
TEST(retention_prunes_finished_records)
{
	struct relay *r = relay_new();
	uint8_t id1[FERRY_MSGID_LEN], h1[32], id2[FERRY_MSGID_LEN], h2[32];
	uint8_t id3[FERRY_MSGID_LEN], h3[32], *m1 = NULL, *m2 = NULL;
	uint8_t *m3 = NULL, *r1 = NULL, *r2 = NULL;
	size_t n1, n2, n3, rn1, rn2;
	uint64_t t0, size0, acc1;
	struct env e;

	CHECK(r != NULL);
	conf.retention_ms = 2 * DAY;
	/* id1 finished while alpha is offline (its RECEIPT kept for it). */
	CHECK_EQ(sent_msg(r, id1, h1, &m1, &n1), 0);
	peer_get(r, "alpha", 0)->routed = 0;
	CHECK_EQ(receipted(r, id1, h1, &r1, &rn1), 0);
	route(r, "alpha");
	CHECK_EQ(nnotices(r, "alpha"), 1);
	t0 = ferry_now_ms();
	wait_ms(20);
	/* id2 finished later, id3 still queued. */
	CHECK_EQ(sent_msg(r, id2, h2, &m2, &n2), 0);
	CHECK_EQ(receipted(r, id2, h2, &r2, &rn2), 0);
	CHECK_EQ(sent_msg(r, id3, h3, &m3, &n3), 0);
	CHECK_EQ(ndone(r), 2);
	CHECK_EQ(log_find_msg(r->log, id1, LOG_ACCEPTED, &acc1), 0);
	/* Before retention has passed for any: nothing. */
	CHECK_EQ(batch_sweep(r, t0 + conf.retention_ms - 1000), 0);
	CHECK_EQ(r->nitems, 0);
	/* Past it for id1 only: id1 pruned, record, entry and notice. */
	CHECK_EQ(batch_sweep(r, t0 + conf.retention_ms + 1), 0);
	CHECK_EQ(r->nitems, 1);
	CHECK_EQ(r->items[0].kind, IT_PRUNE);
	size0 = log_size(r->log);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(r->m.pruned, 1);
	CHECK_EQ(log_size(r->log), size0);
	CHECK_EQ(lookup(r, id1, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(lookup(r, id2, NULL, NULL), QUEUE_DONE);
	CHECK_EQ(lookup(r, id3, NULL, NULL), QUEUE_QUEUED);
	CHECK_EQ(ndone(r), 1);
	CHECK_EQ(nnotices(r, "alpha"), 0);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 1);
	/* A duplicate of id2, within retention: from its record. */
	arrive(r, "alpha", m2, n2);
	CHECK_EQ(r->items[0].kind, IT_DUP);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(sent_type(0, &e), ENV_ACCEPTED_P);
	CHECK_EQ(sent[1].n, rn2);
	CHECK(memcmp(sent[1].b, r2, rn2) == 0);
	CHECK_EQ(r->m.pruned_answered, 0);
	sent_clear();
	/* id1 sent again: answered from the log, not taken again. */
	arrive(r, "alpha", m1, n1);
	CHECK_EQ(r->items[0].kind, IT_DUP);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0);
	CHECK_EQ(lookup(r, id1, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 1);
	CHECK_EQ(nsent, 2);
	CHECK_EQ(sent_type(0, &e), ENV_ACCEPTED_P);
	CHECK(memcmp(e.msg_id, id1, FERRY_MSGID_LEN) == 0);
	CHECK_EQ(e.log_index, acc1);
	CHECK_EQ(sent[1].n, rn1);
	CHECK(memcmp(sent[1].b, r1, rn1) == 0);
	sent_clear();
	/* An ASK about it: the RECEIPT from the log. */
	CHECK_EQ(ask(r, alpha, id1, h1), 0);
	CHECK_EQ(nsent, 1);
	CHECK_EQ(sent[0].n, rn1);
	CHECK(memcmp(sent[0].b, r1, rn1) == 0);
	CHECK_EQ(r->m.pruned_answered, 2);
	/* A late RECEIPT for it is ignored, as for any finished message. */
	arrive(r, "bravo", r1, rn1);
	CHECK_EQ(r->items[0].kind, IT_SKIP);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_size(r->log), size0);
	/* Later, id2's turn; id3, queued, is never pruned. */
	CHECK_EQ(batch_sweep(r, ferry_now_ms() + conf.retention_ms), 0);
	CHECK_EQ(r->nitems, 1);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(lookup(r, id2, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(lookup(r, id3, NULL, NULL), QUEUE_QUEUED);
	CHECK_EQ(ndone(r), 0);
	free(m1);
	free(m2);
	free(m3);
	free(r1);
	free(r2);
	relay_done(r);
}

/* Drop every q.done entry and the q.meta "done" mark (a queue as it was
 * before q.done existed). */
static int
forget_done_index(struct relay *r)
{
	MDB_dbi dd, dm;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, d;
	struct log_batch *b;
	uint8_t keys[8][8 + FERRY_MSGID_LEN];
	size_t n = 0, i;
	int rc;

	if (log_dbi(r->log, "q.done", &dd) != 0 ||
	    log_dbi(r->log, "q.meta", &dm) != 0 ||
	    log_read_begin(r->log, &txn) != 0)
		return (-1);
	if (mdb_cursor_open(txn, dd, &c) != 0) {
		log_read_end(txn);
		return (-1);
	}
	for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0 && n < 8;
	    rc = mdb_cursor_get(c, &k, &d, MDB_NEXT))
		memcpy(keys[n++], k.mv_data, sizeof(keys[0]));
	mdb_cursor_close(c);
	log_read_end(txn);
	if (log_begin(r->log, &b) != 0)
		return (-1);
	for (i = 0; i < n; i++)
		if (log_batch_del(b, dd, keys[i], sizeof(keys[i])) != 0) {
			log_abort(b);
			return (-1);
		}
	if (log_batch_del(b, dm, "done", 4) != 0) {
		log_abort(b);
		return (-1);
	}
	return (log_commit(b));
}

/*
 * Records finished before q.done existed get an entry at the next open,
 * finished then (once: a later open changes nothing), so they are pruned
 * a retention period after it.
 */
TEST(retention_index_made_once)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *m = NULL, *rc = NULL;
	size_t n, rn;
	uint64_t t0;

	CHECK(r != NULL);
	conf.retention_ms = 2 * DAY;
	CHECK_EQ(sent_msg(r, id, h, &m, &n), 0);
	CHECK_EQ(receipted(r, id, h, &rc, &rn), 0);
	t0 = ferry_now_ms();
	CHECK_EQ(forget_done_index(r), 0);
	CHECK_EQ(ndone(r), 0);
	wait_ms(20);
	queue_close(r->q);
	r->q = NULL;
	CHECK_EQ(queue_open(r->log, &r->q), 0);
	CHECK_EQ(ndone(r), 1);
	queue_close(r->q);
	r->q = NULL;
	CHECK_EQ(queue_open(r->log, &r->q), 0);
	CHECK_EQ(ndone(r), 1);
	/* Finished "now" at the first open, not when it really did. */
	CHECK_EQ(batch_sweep(r, t0 + conf.retention_ms + 1), 0);
	CHECK_EQ(r->nitems, 0);
	CHECK_EQ(batch_sweep(r, ferry_now_ms() + conf.retention_ms), 0);
	CHECK_EQ(r->nitems, 1);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(lookup(r, id, NULL, NULL), QUEUE_NONE);
	CHECK_EQ(ndone(r), 0);
	free(m);
	free(rc);
	relay_done(r);
}

/* ${from}'s MSG to bravo arrives; the kind of its item (and the limit). */
static int
offer(struct relay *r, struct ident *from, const char **why)
{
	uint8_t id[FERRY_MSGID_LEN], h[32], *m = NULL;
	struct item *it;
	size_t n;

	if (make_msg_from(from, "bravo", id, h, &m, &n) != 0)
		return (-1);
	arrive(r, from->id, m, n);
	free(m);
	it = &r->items[r->nitems - 1];
	*why = it->why;
	return (it->kind == IT_REFUSE ? it->code : it->kind);
}

/*
 * Issue 13, item 5.2: one sender's share of a recipient's queue is
 * bounded (queue_max_per_sender, by default queue_max / 4, and
 * queue_max_bytes_per_sender), so an insider cannot fill an offline
 * partner's queue for everyone; all queues together are bounded too
 * (queue_max_total_bytes).  Each refused FERRY_EQUEUEFULL (NACKed,
 * transient) naming the limit, and counted by it.
 */
TEST(sender_quota_per_recipient)
{
	struct relay *r = relay_new();
	uint8_t id[FERRY_MSGID_LEN], h[32], *rc = NULL;
	const char *why;
	struct env e;
	size_t i, rn;

	CHECK(r != NULL);
	conf.queue_max = 8;		/* alpha's share: 2 */
	CHECK_EQ(queued_msg(r, id, h), 0);
	CHECK_EQ(offer(r, alpha, &why), IT_ACCEPT);
	CHECK_EQ(offer(r, alpha, &why), FERRY_EQUEUEFULL);
	CHECK(why != NULL && strcmp(why, "queue_max_per_sender") == 0);
	/* Another sender still queues for bravo, up to its own share. */
	CHECK_EQ(offer(r, charlie, &why), IT_ACCEPT);
	CHECK_EQ(offer(r, charlie, &why), IT_ACCEPT);
	CHECK_EQ(offer(r, charlie, &why), FERRY_EQUEUEFULL);
	route(r, "charlie");
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 4);
	CHECK_EQ(peer_share(r, "alpha", "bravo", 0)->depth, 2);
	CHECK_EQ(peer_share(r, "charlie", "bravo", 0)->depth, 2);
	CHECK_EQ(r->m.queue_full[QUOTA_SENDER_MSGS], 2);
	/* NACKed, the reason naming the limit. */
	for (i = 0; i < nsent; i++)
		if (sent_type(i, &e) == ENV_NACK)
			break;
	CHECK(i < nsent);
	CHECK(strcmp(sent[i].to, "alpha") == 0);
	CHECK_EQ(-(int)e.code, FERRY_EQUEUEFULL);
	CHECK(e.reason_len > 20 && memmem(e.reason, e.reason_len,
	    "queue_max_per_sender", 20) != NULL);
	sent_clear();
	/* Once bravo took one of alpha's, alpha may queue one more. */
	CHECK_EQ(receipted(r, id, h, &rc, &rn), 0);
	free(rc);
	CHECK_EQ(peer_share(r, "alpha", "bravo", 0)->depth, 1);
	CHECK_EQ(offer(r, alpha, &why), IT_ACCEPT);
	CHECK_EQ(offer(r, alpha, &why), FERRY_EQUEUEFULL);
	CHECK_EQ(turn(r), 0);
	/* In bytes: alpha holds two envelopes; a share of one and a half
	 * refuses a third. */
	conf.queue_max = 100;
	conf.queue_max_bytes_per_sender = r->m.queued_bytes / 4 * 3 / 2;
	CHECK_EQ(offer(r, alpha, &why), FERRY_EQUEUEFULL);
	CHECK(strcmp(why, "queue_max_bytes_per_sender") == 0);
	/* All queues together. */
	conf.queue_max_bytes_per_sender = 0;
	conf.queue_max_total_bytes = r->m.queued_bytes + 100;
	CHECK_EQ(offer(r, alpha, &why), FERRY_EQUEUEFULL);
	CHECK(strcmp(why, "queue_max_total_bytes") == 0);
	CHECK_EQ(r->m.queue_full[QUOTA_SENDER_BYTES], 1);
	CHECK_EQ(r->m.queue_full[QUOTA_TOTAL_BYTES], 1);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(peer_get(r, "bravo", 0)->depth, 4);
	relay_done(r);
}

/* A failed commit gives the shares back; the default shares. */
TEST(sender_quota_undone_and_defaults)
{
	struct relay *r = relay_new();
	uint64_t m, b;
	const char *why;

	CHECK(r != NULL);
	config_sender_limits(&conf, &m, &b);
	CHECK_EQ(m, 100000 / 4);
	CHECK_EQ(b, (1ULL << 30) / 4);
	conf.queue_max = 3;
	config_sender_limits(&conf, &m, &b);
	CHECK_EQ(m, 1);
	CHECK_EQ(offer(r, alpha, &why), IT_ACCEPT);
	CHECK_EQ(offer(r, alpha, &why), FERRY_EQUEUEFULL);
	CHECK(r->m.queued_bytes > 0);
	r->fail_commits = 1;
	CHECK_EQ(batch_commit(r), FERRY_ENOSPC);
	batch_undo(r);
	CHECK_EQ(peer_share(r, "alpha", "bravo", 0)->depth, 0);
	CHECK_EQ(peer_share(r, "alpha", "bravo", 0)->bytes, 0);
	CHECK_EQ(r->m.queued_bytes, 0);
	CHECK_EQ(offer(r, alpha, &why), IT_ACCEPT);
	CHECK_EQ(turn(r), 0);
	relay_done(r);
}


/* ---- the group commit's policy (batch_drain) ---- */

/* A socket's worth of envelopes that arrived during the last commit:
 * batch_drain's source; counts how often it was asked. */
#define SRC_MAX 64
struct src {
	const char *from[SRC_MAX];
	uint8_t *b[SRC_MAX];
	size_t n[SRC_MAX];
	size_t count, next, asked;
};

static int
src_take(struct relay *r, void *ctx, size_t *bytes)
{
	struct src *s = ctx;

	s->asked++;
	if (s->next == s->count)
		return (0);	/* nothing more waiting: EAGAIN */
	*bytes += s->n[s->next];
	batch_add(r, peer_get(r, s->from[s->next], 1), s->b[s->next],
	    s->n[s->next], 1);
	s->next++;
	return (1);
}

static void
src_free(struct src *s)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		free(s->b[i]);
	memset(s, 0, sizeof(*s));
}

/* ${k} new MSGs of alpha's to bravo waiting; their ids in ${ids}. */
static int
src_msgs(struct src *s, size_t k, uint8_t ids[][FERRY_MSGID_LEN])
{
	uint8_t h[32];
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < k && i < SRC_MAX; i++) {
		if (make_msg(ids[i], h, &s->b[i], &s->n[i]) != 0)
			return (-1);
		s->from[i] = "alpha";
		s->count++;
	}
	return (0);
}

/* 0 if the i-th sent envelope is the ACCEPTED of ${id}; its log index
 * in *${idx}. */
static int
accepted_of(size_t i, const uint8_t id[FERRY_MSGID_LEN], uint64_t *idx)
{
	struct env e;

	if (sent_type(i, &e) != ENV_ACCEPTED_P ||
	    memcmp(e.msg_id, id, FERRY_MSGID_LEN) != 0)
		return (-1);
	*idx = e.log_index;
	return (0);
}

/*
 * Issue 10 step 3: a batch of N new MSGs costs the relay ONE signature
 * (its commit's checkpoint): each ACCEPTED_P is proven under it, none
 * signed; a sender checking the N with a note cache checks ONE note
 * signature.  A duplicate later gets a fresh ACCEPTED_P (same index,
 * the latest checkpoint) that verifies too.
 */
TEST(accepted_by_proof_one_signature)
{
	struct relay *r = relay_new();
	struct env_note_cache cache;
	uint8_t ids[5][FERRY_MSGID_LEN], h[32], *m[5];
	size_t n[5], i;
	uint64_t s0, s1, es0, es1, v0, v1, idx;
	struct env e;

	CHECK(r != NULL);
	memset(&cache, 0, sizeof(cache));
	for (i = 0; i < 5; i++)
		CHECK_EQ(make_msg(ids[i], h, &m[i], &n[i]), 0);
	for (i = 0; i < 5; i++)
		arrive(r, "alpha", m[i], n[i]);
	note_counts(&s0, NULL);
	env_counts(&es0, NULL);
	CHECK_EQ(turn(r), 0);
	note_counts(&s1, NULL);
	env_counts(&es1, NULL);
	CHECK_EQ(s1 - s0, 1);
	CHECK_EQ(es1 - es0, 0);
	CHECK_EQ(nsent, 5);
	note_counts(NULL, &v0);
	for (i = 0; i < 5 && i < nsent; i++) {
		CHECK_EQ(accepted_of(i, ids[i], &idx), 0);
		CHECK_EQ(sent_type(i, &e), ENV_ACCEPTED_P);
		CHECK_EQ(env_verify_proof(&e, relay->sign_pk, &cache), 0);
	}
	note_counts(NULL, &v1);
	CHECK_EQ(v1 - v0, 1);
	/* A retransmission of the first, in a later turn. */
	CHECK_EQ(accepted_of(0, ids[0], &idx), 0);
	sent_clear();
	arrive(r, "alpha", m[0], n[0]);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(nsent, 1);
	CHECK_EQ(sent_type(0, &e), ENV_ACCEPTED_P);
	CHECK_EQ(e.log_index, idx);
	CHECK_EQ(env_verify_proof(&e, relay->sign_pk, &cache), 0);
	for (i = 0; i < 5; i++)
		free(m[i]);
	relay_done(r);
}

/*
 * Issue 10 (relay CPU): one turn of N new MSGs opens the same number of
 * log read snapshots whatever N: one to check the batch (duplicate
 * lookups), one after the commit (the checkpoint, every ACCEPTED_P's
 * entry and audit path), not several per message (it was 4 a MSG: two
 * lookups, the entry, the path).  Each ACCEPTED_P still verifies, and a
 * later turn's reads see the commit: the same MSGs again, the hold never
 * turned off, are duplicates at the same indices.
 */
static int
snapshots_of_turn(size_t k, uint64_t *used)
{
	struct relay *r = relay_new();
	uint8_t ids[24][FERRY_MSGID_LEN];
	uint64_t t0, idx[24], again;
	struct env e;
	struct src s;
	size_t i;
	int bad = 0;

	if (r == NULL || k > 24 || src_msgs(&s, k, ids) != 0)
		return (-1);
	t0 = log_read_txns(r->log);
	if (batch_drain(r, src_take, &s) != k || turn(r) != 0 || nsent != k)
		bad = 1;
	*used = log_read_txns(r->log) - t0;
	for (i = 0; i < k && !bad; i++)
		if (accepted_of(i, ids[i], &idx[i]) != 0 ||
		    sent_type(i, &e) != ENV_ACCEPTED_P ||
		    env_verify_proof(&e, relay->sign_pk, NULL) != 0)
			bad = 1;
	/* The same k again in a later turn, still held: duplicates. */
	sent_clear();
	s.next = 0;
	if (!bad && (batch_drain(r, src_take, &s) != k ||
	    r->items[0].kind != IT_DUP || turn(r) != 0 || nsent != k))
		bad = 1;
	for (i = 0; i < k && !bad; i++)
		if (accepted_of(i, ids[i], &again) != 0 || again != idx[i])
			bad = 1;
	log_hold(r->log, 0);
	src_free(&s);
	relay_done(r);
	return (bad ? -1 : 0);
}

TEST(read_snapshots_per_turn_not_per_msg)
{
	uint64_t one = 0, many = 0;

	CHECK_EQ(snapshots_of_turn(1, &one), 0);
	CHECK_EQ(snapshots_of_turn(24, &many), 0);
	CHECK_EQ(many, one);
	CHECK(one <= 2);
}

/*
 * The ids of the relay's own envelopes take their random part from a
 * pool drawn 64 at a time (one getrandom call per 64 answers): 200
 * ACCEPTED_Ps in one turn have 200 different ids, each time-ordered
 * (ids made later sort later) and with 4 draws, not 200.
 */
TEST(relay_ids_pooled_and_distinct)
{
	struct relay *r = relay_new();
	uint8_t ids[SRC_MAX][FERRY_MSGID_LEN], got[200][FERRY_MSGID_LEN];
	uint64_t d0;
	struct env e;
	struct src s;
	size_t i, j, n = 0;
	int dup = 0, order = 1;

	CHECK(r != NULL);
	d0 = r->rnd.draws;
	/* 4 turns of 50 (SRC_MAX is 64): 200 answers. */
	for (j = 0; j < 4; j++) {
		CHECK_EQ(src_msgs(&s, 50, ids), 0);
		CHECK_EQ(batch_drain(r, src_take, &s), 50);
		CHECK_EQ(turn(r), 0);
		for (i = 0; i < nsent && n < 200; i++)
			if (sent_type(i, &e) == ENV_ACCEPTED_P)
				memcpy(got[n++], e.id, FERRY_MSGID_LEN);
		sent_clear();
		src_free(&s);
	}
	log_hold(r->log, 0);
	CHECK_EQ(n, 200);
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++)
			dup |= memcmp(got[i], got[j], FERRY_MSGID_LEN) == 0;
		if (i > 0 && memcmp(got[i - 1], got[i], ENV_ID_TIME_LEN) > 0)
			order = 0;
	}
	CHECK(!dup);
	CHECK(order);
	/* 200 ids of 10 random bytes from pools of RPOOL_BYTES: 2000
	 * bytes, 2 draws (the commits' checkpoints draw none). */
	CHECK_EQ(r->rnd.draws - d0,
	    (200 * (FERRY_MSGID_LEN - ENV_ID_TIME_LEN) + RPOOL_BYTES - 1) /
	    RPOOL_BYTES);
	relay_done(r);
}

/*
 * Issue 10, step 7: a message alone is committed and answered in the
 * turn it arrives: the drain stops as soon as nothing more is waiting
 * (no timer, no batch-size threshold), one synced commit (log_commits),
 * its ACCEPTED sent.
 */
TEST(lone_msg_committed_at_once)
{
	struct relay *r = relay_new();
	uint8_t ids[1][FERRY_MSGID_LEN];
	struct src s;
	uint64_t c0;

	CHECK(r != NULL);
	CHECK_EQ(src_msgs(&s, 1, ids), 0);
	c0 = log_commits(r->log);
	CHECK_EQ(batch_drain(r, src_take, &s), 1);
	CHECK_EQ(s.asked, 2);		/* the one, then "nothing waiting" */
	CHECK_EQ(r->items[0].kind, IT_ACCEPT);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_commits(r->log), c0 + 1);
	CHECK_EQ(nsent, 1);
	CHECK_EQ(accepted_of(0, ids[0], &c0), 0);
	CHECK_EQ(lookup(r, ids[0], NULL, NULL), QUEUE_QUEUED);
	src_free(&s);
	relay_done(r);
}

/*
 * Issue 10, step 7: under load a batch is whatever arrived during the
 * previous commit: 40 waiting go in ONE synced commit, answered in the
 * order they came with increasing log indices; batch_max still bounds a
 * turn (16: three commits for 40).
 */
TEST(batch_grows_under_load)
{
	struct relay *r = relay_new();
	uint8_t ids[40][FERRY_MSGID_LEN];
	struct src s;
	uint64_t c0, idx, size0;
	size_t i, turns;

	CHECK(r != NULL);
	CHECK_EQ(src_msgs(&s, 40, ids), 0);
	c0 = log_commits(r->log);
	size0 = log_size(r->log);
	CHECK_EQ(batch_drain(r, src_take, &s), 40);
	CHECK_EQ(turn(r), 0);
	CHECK_EQ(log_commits(r->log), c0 + 1);
	CHECK_EQ(nsent, 40);
	for (i = 0; i < 40; i++) {
		CHECK_EQ(accepted_of(i, ids[i], &idx), 0);
		CHECK_EQ(idx, size0 + i);	/* in the order they came */
	}
	CHECK_EQ(r->m.accepted, 40);
	src_free(&s);
	sent_clear();
	conf.batch_max = 16;
	CHECK_EQ(src_msgs(&s, 40, ids), 0);
	c0 = log_commits(r->log);
	for (turns = 0; turns < 10 && s.next < s.count; turns++) {
		CHECK(batch_drain(r, src_take, &s) <= 16);
		CHECK_EQ(turn(r), 0);
	}
	CHECK_EQ(turns, 3);
	CHECK_EQ(log_commits(r->log), c0 + 3);
	CHECK_EQ(nsent, 40);
	src_free(&s);
	relay_done(r);
}

/*
 * Issue 10 step 6: a turn's envelopes are checked (hash, decoding,
 * sender, signature) on verify_threads threads, then acted on in order on
 * the loop's: the same batch through a relay checking on two threads and
 * through one checking alone gives the same verdict for every envelope,
 * the same answers in the same order and the same log.  The batch mixes
 * new MSGs, one with a broken signature, one sent on the wrong agency's
 * connection, a duplicate of an earlier one of the batch, bytes that are
 * no envelope, a HEARTBEAT (answered at once), a HELLO and a CREDIT (the
 * window they leave is the last one's), the recipient's RECEIPT of a
 * message queued in an earlier turn, the sender's ASK about another, the
 * recipient's NACK of a third (a referral it refused), an agency's
 * CHECKPOINT.  And the second relay really
 * shared the work: its pool checked some of the envelopes (up to 20
 * turns are tried: a pool whose thread never helps fails).
 */
#define MIX 40

/* Three MSGs of alpha's, queued in an earlier turn (the same bytes for
 * each relay of the test), that the mixed batch receipts, asks about and
 * NACKs. */
#define PRE 3
static uint8_t pre_id[PRE][FERRY_MSGID_LEN], pre_h[PRE][32], *pre_m[PRE];
static size_t pre_n[PRE];

static int
pre_queue(struct relay *r)
{
	int k;

	for (k = 0; k < PRE; k++)
		if (committed(r, "alpha", pre_m[k], pre_n[k], pre_id[k],
		    QUEUE_QUEUED) != 0)
			return (-1);
	return (0);
}

static int
mixed_batch(struct src *s)
{
	uint8_t id[FERRY_MSGID_LEN], h[32];
	size_t i;

	for (i = 0; i < PRE; i++)
		if (make_msg(pre_id[i], pre_h[i], &pre_m[i], &pre_n[i]) != 0)
			return (-1);

	memset(s, 0, sizeof(*s));
	for (i = 0; i < MIX; i++) {
		s->from[i] = "alpha";
		if (i == 3) {		/* a broken signature */
			if (make_msg(id, h, &s->b[i], &s->n[i]) != 0)
				return (-1);
			s->b[i][s->n[i] - 1] ^= 0x01;
		} else if (i == 5) {	/* alpha's MSG on bravo's connection */
			if (make_msg(id, h, &s->b[i], &s->n[i]) != 0)
				return (-1);
			s->from[i] = "bravo";
		} else if (i == 8) {	/* the first one again */
			if ((s->b[i] = malloc(s->n[0])) == NULL)
				return (-1);
			memcpy(s->b[i], s->b[0], s->n[0]);
			s->n[i] = s->n[0];
		} else if (i == 10) {	/* not an envelope */
			if ((s->b[i] = malloc(7)) == NULL)
				return (-1);
			memcpy(s->b[i], "garbage", 7);
			s->n[i] = 7;
		} else if (i == 25) {	/* bravo's RECEIPT of the first */
			if (make_env(bravo, "alpha", ENV_RECEIPT, pre_id[0],
			    pre_h[0], NULL, 0, &s->b[i], &s->n[i]) != 0)
				return (-1);
			s->from[i] = "bravo";
		} else if (i == 27) {	/* alpha ASKs about the second */
			if (make_env(alpha, "relay", ENV_ASK, pre_id[1],
			    pre_h[1], NULL, 0, &s->b[i], &s->n[i]) != 0)
				return (-1);
		} else if (i == 33) {	/* bravo NACKs the third */
			struct env e;

			memset(&e, 0, sizeof(e));
			e.version = ENV_VERSION;
			e.type = ENV_NACK;
			env_new_id(e.id);
			snprintf(e.from, sizeof(e.from), "bravo");
			snprintf(e.to, sizeof(e.to), "alpha");
			e.time = ferry_now_ms();
			memcpy(e.msg_id, pre_id[2], FERRY_MSGID_LEN);
			memcpy(e.env_hash, pre_h[2], 32);
			e.code = (uint32_t)-FERRY_ESCHEMA;
			e.reason = "referral refused";
			e.reason_len = strlen(e.reason);
			e.roster_version = 1;
			if (env_encode(&e, bravo->sign_sk, &s->b[i],
			    &s->n[i]) != 0)
				return (-1);
			s->from[i] = "bravo";
		} else if (i == 30) {	/* bravo's checkpoint of its log */
			uint8_t *note;
			size_t nn;
			int rc;

			if (make_note(bravo, "ferry/bravo", 5, 0, &note,
			    &nn) != 0)
				return (-1);
			rc = make_env(bravo, "relay", ENV_CHECKPOINT, NULL, NULL,
			    note, nn, &s->b[i], &s->n[i]);
			free(note);
			if (rc != 0)
				return (-1);
			s->from[i] = "bravo";
		} else if (i == 12 || i == 15 || i == 20) {
			struct env e;

			memset(&e, 0, sizeof(e));
			e.version = ENV_VERSION;
			e.type = i == 12 ? ENV_HEARTBEAT : i == 15 ? ENV_HELLO :
			    ENV_CREDIT;
			env_new_id(e.id);
			snprintf(e.from, sizeof(e.from), "bravo");
			snprintf(e.to, sizeof(e.to), "relay");
			e.time = ferry_now_ms();
			e.roster_version = 1;
			e.credit = i == 15 ? 7 : 5;
			if (env_encode(&e, bravo->sign_sk, &s->b[i],
			    &s->n[i]) != 0)
				return (-1);
			s->from[i] = "bravo";
		} else if (make_msg(id, h, &s->b[i], &s->n[i]) != 0)
			return (-1);
		s->count++;
	}
	return (0);
}

TEST(batch_on_threads_same_as_one)
{
	struct relay *one = relay_new(), *two;
	struct src s;
	int kinds[MIX], codes[MIX], types[64];
	uint8_t hashes[MIX][32], want[32];
	size_t n1, i, tries;
	uint64_t size1;
	struct env e;

	CHECK(one != NULL);
	CHECK_EQ(mixed_batch(&s), 0);
	CHECK(one->workers == NULL);
	CHECK_EQ(pre_queue(one), 0);
	CHECK_EQ(batch_drain(one, src_take, &s), MIX);
	for (i = 0; i < MIX; i++) {
		kinds[i] = one->items[i].kind;
		codes[i] = one->items[i].code;
		memcpy(hashes[i], one->items[i].hash, 32);
		crypto_hash_sha256(want, s.b[i], s.n[i]);
		CHECK(memcmp(hashes[i], want, 32) == 0);
	}
	CHECK_EQ(kinds[0], IT_ACCEPT);
	CHECK(kinds[3] == IT_REFUSE && codes[3] == FERRY_EBADSIG);
	CHECK(kinds[5] == IT_REFUSE && codes[5] == FERRY_ESENDER);
	CHECK_EQ(kinds[8], IT_DUP);
	CHECK(kinds[10] == IT_REFUSE && codes[10] != 0);
	CHECK_EQ(kinds[12], IT_SKIP);
	CHECK(kinds[15] == IT_SKIP && kinds[20] == IT_SKIP);
	CHECK_EQ(kinds[25], IT_RECEIPT);
	CHECK_EQ(kinds[30], IT_CHECKPOINT);
	CHECK_EQ(kinds[33], IT_RNACK);
	CHECK_EQ(peer_get(one, "bravo", 0)->window, 5);	/* the CREDIT's */
	CHECK_EQ(turn(one), 0);
	log_hold(one->log, 0);
	n1 = nsent;
	/* all but HELLO, CREDIT, the ASK and the CHECKPOINT */
	CHECK(n1 >= MIX - 4 && n1 <= 64);
	for (i = 0; i < n1 && i < 64; i++)
		types[i] = (int)sent_type(i, &e);
	size1 = log_size(one->log);
	relay_done(one);

	for (tries = 0; tries < 20; tries++) {
		uint64_t helped;

		CHECK((two = relay_new()) != NULL);
		if (two == NULL)
			break;
		CHECK((two->workers = workers_new(2)) != NULL);
		CHECK_EQ(pre_queue(two), 0);
		s.next = 0;
		CHECK_EQ(batch_drain(two, src_take, &s), MIX);
		for (i = 0; i < MIX; i++) {
			CHECK_EQ(two->items[i].kind, kinds[i]);
			CHECK_EQ(two->items[i].code, codes[i]);
			CHECK(memcmp(two->items[i].hash, hashes[i], 32) == 0);
		}
		CHECK_EQ(peer_get(two, "bravo", 0)->window, 5);
		CHECK_EQ(turn(two), 0);
		log_hold(two->log, 0);
		CHECK_EQ(nsent, n1);
		for (i = 0; i < n1 && i < nsent && i < 64; i++)
			CHECK_EQ(sent_type(i, &e), types[i]);
		CHECK_EQ(log_size(two->log), size1);
		helped = workers_helped(two->workers);
		workers_free(two->workers);
		two->workers = NULL;
		relay_done(two);
		if (helped > 0)
			break;
	}
	CHECK(tries < 20);	/* the pool's thread checked some */
	src_free(&s);
	for (i = 0; i < PRE; i++)
		free(pre_m[i]);
}

int
main(void)
{

	t_init();
	if (setup() != 0) {
		printf("not ok - setup\n");
		return (1);
	}
	RUN(msg_committed_then_accepted);
	RUN(dup_in_one_batch_same_index);
	RUN(receipt_finishes_and_keeps_final);
	RUN(receipts_by_proof_one_note);
	RUN(accepted_by_proof_one_signature);
	RUN(receipt_unknown_or_other_hash_refused);
	RUN(ask_answered_from_store);
	RUN(failed_commit_answers_nothing);
	RUN(full_disk_refuses_new_msgs);
	RUN(checkpoint_once_per_interval);
	RUN(checkpoint_small_and_plain_only);
	RUN(full_disk_keeps_unlogged_count);
	RUN(oversized_receipt_refused);
	RUN(retention_prunes_finished_records);
	RUN(retention_index_made_once);
	RUN(sender_quota_per_recipient);
	RUN(sender_quota_undone_and_defaults);
	RUN(lone_msg_committed_at_once);
	RUN(batch_grows_under_load);
	RUN(read_snapshots_per_turn_not_per_msg);
	RUN(relay_ids_pooled_and_distinct);
	RUN(batch_on_threads_same_as_one);
	roster_free(ro);
	ident_free(admin);
	ident_free(relay);
	ident_free(alpha);
	ident_free(bravo);
	ident_free(charlie);
	return (t_done());
}
