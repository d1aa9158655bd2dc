/*
 * fuzz_proof: proof verification and log-entry decoding on untrusted
 * bytes (what ferry-audit check-proof reads from a proof file).
 *
 * Input: index (8) || size (8) || m (8) || root (32) || leaf/root_m (32)
 * || proof hashes (32 each); any rest is also tried as an entry.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "merkle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct log_entry e;
	uint8_t proof[MERKLE_PROOF_MAX][32], *enc;
	size_t n, enclen;

	if (log_entry_decode(data, size, &e) == 0) {
		/* what decodes must re-encode to the same bytes */
		if (log_entry_encode(&e, &enc, &enclen) != 0 ||
		    enclen != size || memcmp(enc, data, size) != 0)
			__builtin_trap();
		free(enc);
	}
	if (size < 88)
		return (0);
	n = (size - 88) / 32;
	if (n > MERKLE_PROOF_MAX)
		n = MERKLE_PROOF_MAX;
	memcpy(proof, data + 88, n * 32);
	(void)merkle_verify_inclusion(data + 56, get64(data), get64(data + 8),
	    data + 24, (const uint8_t (*)[32])proof, n);
	(void)merkle_verify_consistency(get64(data + 16), get64(data + 8),
	    data + 56, data + 24, (const uint8_t (*)[32])proof, n);
	return (0);
}
