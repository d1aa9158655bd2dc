/*
 * tproof.c: receipts by inclusion proof for tests (tproof.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "envelope.h"
#include "ferry.h"
#include "log.h"
#include "tproof.h"

/** tproof_receipts(signer, type, n, ...): ${n} proof receipts of ${signer}'s. */
int
tproof_receipts(const struct ident *signer, uint32_t type, size_t n,
    const uint8_t (*ids)[16], const uint8_t (*hashes)[32],
    const char *sender, const char *rcpt, const char *dir, uint8_t **bufs,
    size_t *lens)
{
	static int k;
	uint8_t path[LOG_PROOF_MAX][32], *note = NULL, *raw;
	char lpath[1024], origin[80];
	struct log_batch *b;
	struct log_entry le;
	struct log *l;
	struct env e;
	size_t nlen, rawlen, np, i;
	int rc;

	snprintf(lpath, sizeof(lpath), "%s/tproof-%ld-%d", dir, (long)getpid(),
	    k++);
	snprintf(origin, sizeof(origin), "ferry/%s", signer->id);
	if (mkdir(lpath, 0700) != 0 ||
	    log_open(lpath, origin, signer->sign_sk, &l) != 0)
		return (FERRY_EIO);
	if ((rc = log_begin(l, &b)) != 0)
		goto out;
	for (i = 0; i < n && rc == 0; i++) {
		memset(&le, 0, sizeof(le));
		le.kind = type == ENV_RECEIPT_P ? LOG_RECEIVED : LOG_ACCEPTED;
		memcpy(le.msg_id, ids[i], 16);
		memcpy(le.env_hash, hashes[i], 32);
		snprintf(le.from, sizeof(le.from), "%s", sender);
		snprintf(le.to, sizeof(le.to), "%s", rcpt);
		le.roster_version = 1;
		rc = log_add(b, &le, NULL, 0, NULL);
	}
	if (rc == 0)
		rc = log_batch_seal(b, &note, &nlen);
	for (i = 0; i < n && rc == 0; i++) {
		if ((rc = log_batch_prove(b, i, &raw, &rawlen, path,
		    &np)) != 0)
			break;
		memset(&e, 0, sizeof(e));
		e.version = ENV_VERSION;
		e.type = type;
		env_new_id(e.id);
		snprintf(e.from, sizeof(e.from), "%s", signer->id);
		snprintf(e.to, sizeof(e.to), "%s", sender);
		e.time = ferry_now_ms();
		memcpy(e.msg_id, ids[i], 16);
		memcpy(e.env_hash, hashes[i], 32);
		e.log_index = i;
		e.roster_version = 1;
		e.blob = note;
		e.blob_len = nlen;
		e.entry = raw;
		e.entry_len = rawlen;
		e.path = &path[0][0];
		e.path_len = np * 32;
		rc = env_encode(&e, NULL, &bufs[i], &lens[i]);
		free(raw);
	}
	if (rc == 0)
		rc = log_commit(b);
	else
		log_abort(b);
out:
	free(note);
	log_close(l);
	return (rc);
}
