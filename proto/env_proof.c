/*
 * env_proof.c: the receipts proven by inclusion instead of signed
 * (RECEIPT_P, ACCEPTED_P; envelope.h, docs/protocol.md 3.3.1): the
 * signer's checkpoint note, its log entry about the message and the
 * entry's audit path, and the cache that checks each note's signature
 * once.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"
#include "log.h"
#include "merkle.h"
#include "note.h"

/* The slot of ${c} that checked note ${h} (SHA-256 of pk || note) for
 * signer ${from}, or -1. */
static int
cache_find(const struct env_note_cache *c, const uint8_t h[32],
    const char *from)
{
	unsigned i;

	for (i = 0; i < ENV_NOTE_CACHE; i++)
		if (c->used[i] && memcmp(c->h[i], h, 32) == 0 &&
		    strcmp(c->from[i], from) == 0)
			return ((int)i);
	return (-1);
}

/* Notes up to this many bytes are hashed from a copy on the stack, with
 * SHA-NI where present (ferry_sha256); a longer one streamed. */
#define NOTE_HASH_COPY 1024

/* SHA-256(pk || note): the cache's key. */
static void
note_key(const uint8_t pk[32], const uint8_t *note, size_t len,
    uint8_t h[32])
{
	crypto_hash_sha256_state st;
	uint8_t buf[32 + NOTE_HASH_COPY];

	if (len <= NOTE_HASH_COPY) {
		memcpy(buf, pk, 32);
		memcpy(buf + 32, note, len);
		ferry_sha256(h, buf, 32 + len);
		return;
	}
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_update(&st, note, len);
	crypto_hash_sha256_final(&st, h);
}

/** env_verify_proof(e, sign_pk, cache): a RECEIPT_P / ACCEPTED_P by its proof. */
int
env_verify_proof(const struct env *e, const uint8_t sign_pk[32],
    struct env_note_cache *cache)
{
	struct note_checkpoint cp;
	struct log_entry le;
	char origin[NOTE_NAME_MAX + 1];
	uint8_t leaf[32], h[32];
	uint32_t kind;
	unsigned slot;
	int rc, n, hit = -1;

	if (e == NULL || sign_pk == NULL)
		return (FERRY_EINVAL);
	if (!ENV_IS_PROOF(e->type))
		return (FERRY_EMSGTYPE);
	if (e->blob == NULL || e->entry == NULL ||
	    (e->path == NULL && e->path_len > 0) || e->path_len % 32 != 0 ||
	    e->path_len / 32 > ENV_PATH_MAX)
		return (FERRY_EBADVALUE);
	n = snprintf(origin, sizeof(origin), "ferry/%s", e->from);
	if (n < 0 || (size_t)n >= sizeof(origin))
		return (FERRY_EBADVALUE);
	/* A note this cache checked for this signer: its size and root as
	 * parsed then (same bytes: same hash); else parse it now. */
	if (cache != NULL) {
		note_key(sign_pk, e->blob, e->blob_len, h);
		hit = cache_find(cache, h, e->from);
	}
	if (hit >= 0) {
		memset(&cp, 0, sizeof(cp));
		cp.size = cache->size[hit];
		memcpy(cp.root, cache->root[hit], 32);
	} else if (note_parse_checkpoint(e->blob, e->blob_len, &cp) != 0 ||
	    strcmp(cp.origin, origin) != 0)
		return (FERRY_EBADVALUE);
	if (cp.size <= e->log_index)
		return (FERRY_EBADVALUE);
	kind = e->type == ENV_RECEIPT_P ? LOG_RECEIVED : LOG_ACCEPTED;
	if (log_entry_decode(e->entry, e->entry_len, &le) != 0 ||
	    le.kind != kind ||
	    memcmp(le.msg_id, e->msg_id, FERRY_MSGID_LEN) != 0 ||
	    memcmp(le.env_hash, e->env_hash, FERRY_HASH_LEN) != 0 ||
	    strcmp(le.from, e->to) != 0 ||
	    (kind == LOG_RECEIVED && strcmp(le.to, e->from) != 0))
		return (FERRY_EBADVALUE);
	merkle_leaf_hash(e->entry, e->entry_len, leaf);
	if ((rc = merkle_verify_inclusion(leaf, e->log_index, cp.size,
	    cp.root, (const uint8_t (*)[32])e->path, e->path_len / 32)) != 0)
		return (rc);
	if (hit >= 0)
		return (0);
	if ((rc = note_verify(e->blob, e->blob_len, origin, sign_pk)) != 0)
		return (rc);
	if (cache != NULL) {
		slot = cache->next % ENV_NOTE_CACHE;
		memcpy(cache->h[slot], h, 32);
		cache->used[slot] = 1;
		cache->size[slot] = cp.size;
		memcpy(cache->root[slot], cp.root, 32);
		snprintf(cache->from[slot], sizeof(cache->from[slot]), "%s",
		    e->from);
		cache->next = (slot + 1) % ENV_NOTE_CACHE;
	}
	return (0);
}
