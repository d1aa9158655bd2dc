/*
 * fuzz_referral.c: libFuzzer target for the referral document decoders,
 * both of which see untrusted bytes: referral_validate_json /
 * referral_json_to_wire (a document from a case-management system or a
 * spool folder) and referral_wire_to_json (a document decrypted from
 * another agency).  Every input is tried both ways.
 *
 * Besides "no crash, no leak, no UB" it checks the round trip:
 *   - JSON accepted => its wire form decodes to an equal JSON document,
 *     and that document encodes to the same bytes again;
 *   - wire accepted => its JSON form encodes back to exactly those bytes;
 *   - on failure an error line is written and no output is returned;
 *   - what the sender's fast reader (agent/refjson.c) reads, jansson
 *     reads too.
 * Seed corpus: tests/fuzz/corpus/fuzz_referral/ (the example documents in
 * both forms).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ferry.h"
#include "referral.h"
#include "refjson.h"

/* A fixed clock keeps runs reproducible: 2026-11-28T12:00:00Z. */
#define NOW 1795867200000ULL

static void
json_side(const uint8_t *data, size_t size)
{
	char err[REFERRAL_ERR_MAX], *back = NULL;
	struct referral_info info;
	uint8_t *w = NULL, *w2 = NULL;
	size_t wl, wl2;
	json_t *a, *b;
	int rc, rc2;

	rc = referral_validate_json_at((const char *)data, size, NOW, err,
	    sizeof(err), &info);
	rc2 = referral_json_to_wire_at((const char *)data, size, NOW, &w, &wl,
	    err, sizeof(err), NULL);
	if (rc != rc2)
		abort();
	if (rc != 0) {
		if (w != NULL || err[0] == '\0')
			abort();
		return;
	}
	if (info.message_kind == NULL || info.case_id[0] == '\0')
		abort();
	if (referral_wire_to_json_at(w, wl, NOW, &back, err, sizeof(err),
	    NULL) != 0)
		abort();
	a = json_loadb((const char *)data, size, 0, NULL);
	b = json_loads(back, 0, NULL);
	if (a == NULL || b == NULL || !json_equal(a, b))
		abort();
	json_decref(a);
	json_decref(b);
	if (referral_json_to_wire_at(back, strlen(back), NOW, &w2, &wl2, err,
	    sizeof(err), NULL) != 0 || wl2 != wl || memcmp(w, w2, wl) != 0)
		abort();
	free(back);
	free(w);
	free(w2);
}

static void
wire_side(const uint8_t *data, size_t size)
{
	char err[REFERRAL_ERR_MAX], *j = NULL;
	uint8_t *w = NULL;
	size_t wl;
	int rc;

	rc = referral_wire_to_json_at(data, size, NOW, &j, err, sizeof(err),
	    NULL);
	if (rc != 0) {
		if (j != NULL || err[0] == '\0')
			abort();
		return;
	}
	if (referral_json_to_wire_at(j, strlen(j), NOW, &w, &wl, err,
	    sizeof(err), NULL) != 0 || wl != size || memcmp(w, data, size) != 0)
		abort();
	free(j);
	free(w);
}

/* The sender's fast reader reads nothing jansson refuses (refjson.h); the
 * values it reads are held to jansson's by json_side's round trip. */
static void
reader_side(const uint8_t *data, size_t size)
{
	struct refjson_doc d;
	json_t *j;

	if (refjson_parse((const char *)data, size, &d) != 0)
		return;
	if ((j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL)
		abort();
	json_decref(j);
	refjson_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{

	reader_side(data, size);
	json_side(data, size);
	wire_side(data, size);
	return (0);
}
