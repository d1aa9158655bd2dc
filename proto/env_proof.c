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

/* Has ${c} checked note ${h} (SHA-256 of pk || note)? */
static int
cache_has(const struct env_note_cache *c, const uint8_t h[32])
{
	unsigned i;

	for (i = 0; i < ENV_NOTE_CACHE; i++)
		if (c->used[i] && memcmp(c->h[i], h, 32) == 0)
			return (1);
	return (0);
}

/** env_verify_proof(e, sign_pk, cache): a RECEIPT_P / ACCEPTED_P by its proof. */
int
env_verify_proof(const struct env *e, const uint8_t sign_pk[32],
    struct env_note_cache *cache)
{
	crypto_hash_sha256_state st;
	struct note_checkpoint cp;
	struct log_entry le;
	char origin[NOTE_NAME_MAX + 1];
	uint8_t leaf[32], h[32];
	uint32_t kind;
	int rc, n;

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
	if (note_parse_checkpoint(e->blob, e->blob_len, &cp) != 0 ||
	    strcmp(cp.origin, origin) != 0 || cp.size <= e->log_index)
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
	if (crypto_hash_sha256_init(&st) != 0 ||
	    crypto_hash_sha256_update(&st, sign_pk, 32) != 0 ||
	    crypto_hash_sha256_update(&st, e->blob, e->blob_len) != 0 ||
	    crypto_hash_sha256_final(&st, h) != 0)
		return (FERRY_ESODIUM);
	if (cache != NULL && cache_has(cache, h))
		return (0);
	if ((rc = note_verify(e->blob, e->blob_len, origin, sign_pk)) != 0)
		return (rc);
	if (cache != NULL) {
		memcpy(cache->h[cache->next % ENV_NOTE_CACHE], h, 32);
		cache->used[cache->next % ENV_NOTE_CACHE] = 1;
		cache->next = (cache->next + 1) % ENV_NOTE_CACHE;
	}
	return (0);
}
