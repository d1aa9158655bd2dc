/*
 * tproof.h: receipts by inclusion proof for tests (test_agentd,
 * test_relay_batch_answers), made as the agent and the relay make them.
 */
#ifndef FERRY_TPROOF_H
#define FERRY_TPROOF_H

#include <stddef.h>
#include <stdint.h>

#include "ident.h"

/**
 * tproof_receipts(signer, type, n, ids, hashes, sender, rcpt, dir, bufs,
 * lens): a new log of ${signer}'s (origin "ferry/<id>", in a new folder
 * under ${dir}) whose entries 0..n-1 are one batch of LOG_RECEIVED
 * (${type} ENV_RECEIPT_P) or LOG_ACCEPTED (ENV_ACCEPTED_P) entries about
 * (${ids}[i], ${hashes}[i]) from ${sender} to ${rcpt}, sealed and
 * committed; each entry's receipt, addressed to ${sender}, into
 * ${bufs}[i] (malloc'd), ${lens}[i].  0 or the first error.
 */
int tproof_receipts(const struct ident *signer, uint32_t type, size_t n,
    const uint8_t (*ids)[16], const uint8_t (*hashes)[32],
    const char *sender, const char *rcpt, const char *dir, uint8_t **bufs,
    size_t *lens);

#endif
