/*
 * fuzz_note: C2SP signed-note / checkpoint parsing and signature
 * verification on untrusted bytes (checkpoints arrive from other parties
 * in receipts and CHECKPOINT envelopes).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pk[32], sk[64];
	static int init;
	struct note_checkpoint cp;
	uint8_t seed[32];
	uint8_t *out;
	size_t outlen;
	uint64_t t;

	if (!init) {
		if (sodium_init() < 0)
			return (0);
		memset(seed, 0x42, sizeof(seed));
		crypto_sign_seed_keypair(pk, sk, seed);
		init = 1;
	}
	if (note_parse_checkpoint(data, size, &cp) == 0) {
		/* a parsed note must survive every other entry point */
		(void)note_verify(data, size, cp.origin, pk);
		(void)note_verify_cosig(data, size, "ferry/w", pk, &t);
		if (note_cosign(data, size, "ferry/w", sk, 1, &out,
		    &outlen) == 0) {
			if (note_verify_cosig(out, outlen, "ferry/w", pk,
			    &t) != 0 || t != 1)
				__builtin_trap();
			free(out);
		}
	} else {
		(void)note_verify(data, size, "ferry/relay", pk);
	}
	return (0);
}
