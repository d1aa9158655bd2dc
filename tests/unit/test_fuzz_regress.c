/*
 * test_fuzz_regress.c: inputs that crashed a fuzz target (tests/fuzz/),
 * kept in tests/fuzz/regress/<target>/ and replayed here with the same
 * invariants the target checks, so a fixed bug stays fixed.
 *
 *   fuzz_referral/crash-c565ea5e...: a referral whose attachment's
 *   data_base64 held a non-ASCII character (U+0422); libsodium 1.0.18
 *   decoded its bytes as '/' digits, so the document was accepted and its
 *   JSON -> wire -> JSON round trip changed the string.  ferry_unbase64
 *   now refuses any byte outside the base64 alphabet.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "ferry.h"
#include "../lib/harness.h"
#include "referral.h"

#define NOW 1795867200000ULL	/* the fuzz target's fixed clock */

/* The fuzz_referral invariants on one input; 0 if they hold. */
static int
referral_invariants(const uint8_t *data, size_t size)
{
	char err[REFERRAL_ERR_MAX], *back = NULL;
	uint8_t *w = NULL, *w2 = NULL;
	size_t wl, wl2;
	json_t *a, *b;
	int rc, ok;

	rc = referral_json_to_wire_at((const char *)data, size, NOW, &w, &wl,
	    err, sizeof(err), NULL);
	if (rc != 0)
		return (w == NULL && err[0] != '\0' ? 0 : -1);
	if (referral_wire_to_json_at(w, wl, NOW, &back, err, sizeof(err),
	    NULL) != 0) {
		free(w);
		return (-1);
	}
	a = json_loadb((const char *)data, size, 0, NULL);
	b = json_loads(back, 0, NULL);
	ok = a != NULL && b != NULL && json_equal(a, b);
	json_decref(a);
	json_decref(b);
	if (ok && (referral_json_to_wire_at(back, strlen(back), NOW, &w2, &wl2,
	    err, sizeof(err), NULL) != 0 || wl2 != wl ||
	    memcmp(w, w2, wl) != 0))
		ok = 0;
	free(back);
	free(w);
	free(w2);
	return (ok ? 0 : -1);
}

static const char *
root(void)
{
	const char *r = getenv("FERRY_ROOT");

	return (r != NULL ? r : ".");
}

TEST(referral_crashes_replayed)
{
	char dir[4096], path[8192];
	struct dirent *de;
	uint8_t *buf;
	size_t len;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/regress/fuzz_referral",
	    root());
	CHECK((d = opendir(dir)) != NULL);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		CHECK_EQ(ferry_read_file(path, 1 << 20, &buf, &len, 0), 0);
		CHECK_EQ(referral_invariants(buf, len), 0);
		free(buf);
		n++;
	}
	closedir(d);
	CHECK(n >= 1);
}

TEST(unbase64_refuses_bytes_outside_the_alphabet)
{
	uint8_t out[64];
	size_t ol;
	char s[9];
	int c;

	CHECK_EQ(ferry_unbase64(out, sizeof(out), "QUJD", 4, &ol), 0);
	CHECK_EQ(ol, 3);
	for (c = 1; c < 256; c++) {
		int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/';

		memcpy(s, "QUJDQUJD", 9);
		s[5] = (char)c;
		if (alpha)
			continue;
		CHECK_EQ(ferry_unbase64(out, sizeof(out), s, 8, &ol),
		    FERRY_EBADVALUE);
	}
	/* The two bytes of U+0422 where "//" would be. */
	CHECK_EQ(ferry_unbase64(out, sizeof(out), "QU\xd0\xa2", 4, &ol),
	    FERRY_EBADVALUE);
}

int
main(void)
{

	if (sodium_init() < 0)
		return (1);
	t_init();
	RUN(referral_crashes_replayed);
	RUN(unbase64_refuses_bytes_outside_the_alphabet);
	return (t_done());
}
