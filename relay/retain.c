/*
 * retain.c: what the relay still knows of a message once its queue
 * record is gone.  A finished message's record (q.ids, with its final
 * RECEIPT or NACK) is pruned `retention` after it finished (batch.c's
 * sweep, queue.c), but the relay's append-only log keeps its ACCEPTED
 * entry, unique per message id, and its RECEIPT whole (aux).  So a
 * sender's retransmitted MSG, or its ASK, about such a message is
 * answered from the log; it can never be taken again as new (a second
 * ACCEPTED entry would fail the batch's commit).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay_int.h"

/**
 * retain_final(r, id, hash, sender, index, final, flen): message ${id} has
 * no record in the queue: did the relay's log accept it from ${sender}?
 * 0 if not; 1 if it did, with envelope hash ${hash}: its ACCEPTED entry's
 * index in *${index} and in *${final} (malloc'd, the caller's; NULL if
 * the log cannot rebuild it) the final for the sender: the RECEIPT
 * entry's aux, else a relay NACK with the code of the EXPIRED or the
 * recipient's NACK entry.  FERRY_EDUPMSG if the log accepted another
 * envelope or another sender's under ${id}; another negative code if the
 * log cannot be read.
 */
int
retain_final(struct relay *r, const uint8_t *id, const uint8_t *hash,
    const char *sender, uint64_t *index, uint8_t **final, size_t *flen)
{
	struct log_entry le;
	uint64_t idx;
	int rc, code = 0, expired;

	*final = NULL;
	*flen = 0;
	if ((rc = log_find_msg(r->log, id, LOG_ACCEPTED, index)) != 0)
		return (rc == FERRY_ENOENT ? 0 : rc);
	if ((rc = log_get(r->log, *index, &le)) != 0)
		return (rc);
	rc = memcmp(le.env_hash, hash, 32) != 0 || strcmp(le.from, sender) != 0;
	log_entry_clear(&le);
	if (rc)
		return (FERRY_EDUPMSG);
	if (log_find_msg(r->log, id, LOG_RECEIPT, &idx) == 0) {
		if (log_get(r->log, idx, &le) != 0)
			return (1);
		if (le.aux_len > 0 && (*final = malloc(le.aux_len)) != NULL) {
			memcpy(*final, le.aux, le.aux_len);
			*flen = le.aux_len;
		}
		log_entry_clear(&le);
		return (1);
	}
	/* The code of its EXPIRED entry (FERRY_EEXPIREDMSG, or FERRY_EPURGED
	 * for a purge) or of the recipient's NACK entry. */
	if ((expired = log_find_msg(r->log, id, LOG_EXPIRED, &idx) == 0) ||
	    log_find_msg(r->log, id, LOG_NACK, &idx) == 0) {
		if (log_get(r->log, idx, &le) == 0) {
			code = le.code;
			log_entry_clear(&le);
		}
		if (expired && code >= 0)
			code = FERRY_EEXPIREDMSG;
	}
	if (code < 0 && peer_make_nack(r, sender, id, hash, code, NULL,
	    final, flen) != 0) {
		*final = NULL;
		*flen = 0;
	}
	return (1);
}
