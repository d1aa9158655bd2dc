/*
 * trelay.c: the fixtures of the relay's batch tests (trelay.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>

#include "envelope.h"
#include "harness.h"
#include "ident.h"
#include "log.h"
#include "note.h"
#include "relay_int.h"
#include "roster.h"
#include "tnet.h"
#include "trelay.h"
#include "troster.h"

struct roster *ro;		/* for the senders' key lookups */
static const uint8_t *ro_bytes;
static size_t ro_len;
struct config conf;

struct trelay_sent sent[SENT_MAX];
size_t nsent;

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

void
sent_clear(void)
{
	size_t i;

	for (i = 0; i < nsent; i++)
		free(sent[i].b);
	nsent = 0;
}

/* Sent envelope ${i} decoded into ${e}: its type, or 0. */
uint32_t
sent_type(size_t i, struct env *e)
{

	if (i >= nsent || env_decode(sent[i].b, sent[i].n, 0, e) != 0)
		return (0);
	return (e->type);
}

int
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
struct peer *
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
struct relay *
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

void
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
int
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
void
arrive(struct relay *r, const char *from, const uint8_t *b, size_t n)
{

	batch_add(r, peer_get(r, from, 1), b, n, 1);
	batch_settle(r);
}

/* A sealed MSG from ${from} to ${to}: its id and envelope hash. */
int
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
int
make_msg(uint8_t id[FERRY_MSGID_LEN], uint8_t hash[32], uint8_t **out,
    size_t *len)
{

	return (make_msg_from(alpha, "bravo", id, hash, out, len));
}

/* A signed envelope of ${type} by ${from} to ${to} about (${id}, ${hash}). */
int
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
int
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
int
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
int
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
int
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
int
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

/* bravo's RECEIPT for (${id}, ${hash}) committed; its bytes in *${rc}. */
int
receipted(struct relay *r, const uint8_t id[FERRY_MSGID_LEN],
    const uint8_t hash[32], uint8_t **rc, size_t *n)
{
	int e;

	if ((e = make_env(bravo, "alpha", ENV_RECEIPT, id, hash, NULL, 0, rc,
	    n)) != 0)
		return (e);
	return (committed(r, "bravo", *rc, *n, id, QUEUE_DONE));
}

/* 0 if the i-th sent envelope is the ACCEPTED of ${id}; its log index
 * in *${idx}. */
int
accepted_of(size_t i, const uint8_t id[FERRY_MSGID_LEN], uint64_t *idx)
{
	struct env e;

	if (sent_type(i, &e) != ENV_ACCEPTED_P ||
	    memcmp(e.msg_id, id, FERRY_MSGID_LEN) != 0)
		return (-1);
	*idx = e.log_index;
	return (0);
}
