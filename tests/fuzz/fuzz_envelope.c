/*
 * fuzz_envelope.c: libFuzzer target for everything that reads untrusted
 * envelope bytes: wire_scan and wire_parse (the canonical subset),
 * env_decode (at the default and at a small max_body), env_verify, the
 * proof check of env_verify_proof (note, entry, path) on whatever decodes
 * as a RECEIPT_P or ACCEPTED_P, and the decrypt path of env_open_with_key
 * on whatever decodes as a MSG.
 * Seed corpus: tests/fuzz/corpus/fuzz_envelope/ (the golden envelopes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"
#include "ferry.h"
#include "wire.h"

/* The golden vectors' sender key, so seeds reach a real verify. */
static const uint8_t gold_pk[32] = {
	0xc9, 0x72, 0xe9, 0x2e, 0xeb, 0xcf, 0x9f, 0xbf, 0xa0, 0x9b, 0x09,
	0x10, 0xd9, 0x13, 0xcf, 0xa4, 0x0f, 0x0c, 0x2b, 0x32, 0x36, 0xea,
	0xd5, 0xa0, 0xad, 0xe6, 0x95, 0x02, 0x25, 0x25, 0xb6, 0x1e
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct wire_doc doc;
	struct env e;
	uint8_t key[32], *content;
	size_t clen;
	int rc;

	if (!init) {
		if (sodium_init() < 0)
			abort();
		init = 1;
	}
	(void)wire_scan(data, size, WIRE_MAX_DEPTH);
	if (wire_parse(data, size, WIRE_MAX_DEPTH, &doc) == 0)
		wire_doc_free(&doc);
	(void)env_decode(data, size, 4096, &e);
	rc = env_decode(data, size, 0, &e);
	if (rc != 0)
		return (0);
	/* A decoded envelope is well-formed: check its invariants. */
	if (e.version != ENV_VERSION || env_tag(e.type) == NULL ||
	    !ferry_id_valid(e.from, strlen(e.from)) ||
	    !ferry_id_valid(e.to, strlen(e.to)) ||
	    e.inner < data || e.inner + e.inner_len > data + size)
		abort();
	(void)env_verify(&e, gold_pk);
	if (ENV_IS_PROOF(e.type)) {
		static struct env_note_cache cache;

		if (e.blob == NULL || e.entry == NULL ||
		    e.path_len % 32 != 0 || e.path_len > ENV_PATH_MAX * 32 ||
		    e.entry < e.inner ||
		    e.entry + e.entry_len > e.inner + e.inner_len)
			abort();
		(void)env_verify_proof(&e, gold_pk, &cache);
	}
	if (e.type == ENV_MSG) {
		if (e.ct == NULL || e.ct_len < 1040 || e.ct < e.inner ||
		    e.ct + e.ct_len > e.inner + e.inner_len)
			abort();
		memset(key, 0x42, sizeof(key));
		if (env_open_with_key(&e, key, &content, &clen) == 0)
			free(content);
	}
	if (e.type == ENV_NACK && e.reason_len > ENV_REASON_MAX)
		abort();
	return (0);
}
