/*
 * fuzz_roster.c: libFuzzer target for the two decoders of untrusted roster
 * bytes: roster_parse (a roster pushed by the relay) and
 * roster_request_parse (a key request mailed in by a would-be partner).
 *
 * Besides "no crash, no leak, no UB" it checks:
 *   - a roster that parses re-encodes (roster_bytes) to exactly the input,
 *     since only the canonical encoding is accepted;
 *   - its lookups and both verification paths run without fault, and
 *     verifying it against itself as "previous" is always a rollback;
 *   - on failure no roster is returned.
 * Seed corpus: tests/fuzz/corpus/fuzz_roster/ (rosters and key requests
 * made by ferry-keys).  Signatures block most mutations from reaching the
 * deepest checks; the structure before them is what this explores.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ferry.h"
#include "roster.h"

/* A fixed clock keeps runs reproducible: 2026-11-28T12:00:00Z. */
#define NOW 1795867200000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct roster_request q;
	struct roster *r = NULL;
	const uint8_t *b;
	char fp[IDENT_FP_LEN], why[256];
	uint8_t pk[32];
	uint32_t kid;
	size_t n, i;

	if (sodium_init() < 0)
		abort();
	if (roster_parse(data, size, &r) == 0) {
		if (r == NULL || roster_bytes(r, &b, &n) != 0 || n != size ||
		    memcmp(b, data, size) != 0)
			abort();
		roster_fingerprint(r, fp);
		(void)roster_verify_genesis(r, fp, NOW, why, sizeof(why));
		if (roster_verify_next(r, r, NOW, why, sizeof(why)) !=
		    FERRY_EROLLBACK)
			abort();
		for (i = 0; i < r->nagencies; i++) {
			const struct roster_agency *a = &r->agencies[i];

			if (roster_find(r, a->id) != a)
				abort();
			if (roster_find_by_curve(r, a->curve_pk) != a)
				abort();
			(void)roster_sender_key(r, a->id, pk);
			(void)roster_enc_key_for_sending(r, a->id, NOW, &kid,
			    pk);
		}
		roster_free(r);
	} else if (r != NULL)
		abort();
	if (roster_request_parse(data, size, &q) == 0) {
		if (!ferry_id_valid(q.id, strlen(q.id)))
			abort();
	}
	return (0);
}
