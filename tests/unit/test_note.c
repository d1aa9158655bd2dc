/*
 * test_note.c: C2SP signed-note checkpoints and cosignature/v1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../lib/harness.h"
#include "ferry.h"
#include "note.h"

static uint8_t pk[32], sk[64], wpk[32], wsk[64], opk[32], osk[64];
static uint8_t root[32];

TEST(sign_parse_verify)
{
	struct note_checkpoint cp;
	uint8_t *n;
	size_t len;
	char want[256];
	char b64[64];
	int wl;

	CHECK_EQ(note_sign_checkpoint("ferry/met-police", 12345, root, sk, &n,
	    &len), 0);
	sodium_bin2base64(b64, sizeof(b64), root, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	wl = snprintf(want, sizeof(want), "ferry/met-police\n12345\n%s\n\n"
	    "\xe2\x80\x94 ferry/met-police ", b64);
	CHECK(len > (size_t)wl && memcmp(n, want, (size_t)wl) == 0);
	CHECK(n[len - 1] == '\n');
	CHECK_EQ(note_parse_checkpoint(n, len, &cp), 0);
	CHECK(strcmp(cp.origin, "ferry/met-police") == 0);
	CHECK_EQ(cp.size, 12345);
	CHECK(memcmp(cp.root, root, 32) == 0);
	CHECK_EQ(cp.nsigs, 1);
	CHECK_EQ(cp.ext_lines, 0);
	CHECK_EQ(note_verify(n, len, "ferry/met-police", pk), 0);
	/* another key, or another name: not found */
	CHECK_EQ(note_verify(n, len, "ferry/met-police", opk), FERRY_ENOENT);
	CHECK_EQ(note_verify(n, len, "ferry/other", pk), FERRY_ENOENT);
	free(n);
}

TEST(keyid_matches_spec)
{
	crypto_hash_sha256_state st;
	uint8_t h[32], id[4];

	/* SHA-256(name || "\n" || 0x01 || pk)[:4] */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)"x/y\n\x01", 5);
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, h);
	note_keyid("x/y", NOTE_TYPE_ED25519, pk, id);
	CHECK(memcmp(h, id, 4) == 0);
}

TEST(tampered_refused)
{
	uint8_t *n;
	size_t len, i;
	int rc;

	CHECK_EQ(note_sign_checkpoint("ferry/relay", 7, root, sk, &n, &len),
	    0);
	/* change the size digit: signature fails */
	n[strlen("ferry/relay\n")] = '8';
	CHECK_EQ(note_verify(n, len, "ferry/relay", pk), FERRY_EBADSIG);
	n[strlen("ferry/relay\n")] = '7';
	CHECK_EQ(note_verify(n, len, "ferry/relay", pk), 0);
	/* every single-byte change is refused one way or another */
	for (i = 0; i < len; i++) {
		n[i] ^= 0x01;
		rc = note_verify(n, len, "ferry/relay", pk);
		CHECK(rc != 0);
		n[i] ^= 0x01;
	}
	/* truncations too */
	for (i = 0; i < len; i++)
		CHECK(note_verify(n, i, "ferry/relay", pk) != 0);
	free(n);
}

TEST(unknown_key_ignored)
{
	uint8_t *n, *n2;
	size_t len, len2;
	const char *extra = "\xe2\x80\x94 someone.example/else "
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";

	CHECK_EQ(note_sign_checkpoint("ferry/relay", 7, root, sk, &n, &len),
	    0);
	n2 = malloc(len + strlen(extra));
	CHECK(n2 != NULL);
	/* unknown line before and after ours */
	memcpy(n2, n, len);
	memcpy(n2 + len, extra, strlen(extra));
	len2 = len + strlen(extra);
	CHECK_EQ(note_verify(n2, len2, "ferry/relay", pk), 0);
	free(n2);
	/* a line with our name and key id but a bad signature fails */
	n[len - 3] = n[len - 3] == 'A' ? 'B' : 'A';
	CHECK(note_verify(n, len, "ferry/relay", pk) != 0);
	free(n);
}

TEST(cosign)
{
	uint8_t *n, *c;
	size_t len, clen;
	uint64_t t = 0;

	CHECK_EQ(note_sign_checkpoint("ferry/relay", 99, root, sk, &n, &len),
	    0);
	CHECK_EQ(note_cosign(n, len, "ferry/camden-council", wsk, 1700000000,
	    &c, &clen), 0);
	CHECK_EQ(note_verify(c, clen, "ferry/relay", pk), 0);
	CHECK_EQ(note_verify_cosig(c, clen, "ferry/camden-council", wpk, &t),
	    0);
	CHECK_EQ(t, 1700000000);
	/* a cosignature is not a note signature (type byte differs) */
	CHECK_EQ(note_verify(c, clen, "ferry/camden-council", wpk),
	    FERRY_ENOENT);
	CHECK_EQ(note_verify_cosig(c, clen, "ferry/camden-council", opk, NULL),
	    FERRY_ENOENT);
	/* change the body: both fail */
	c[strlen("ferry/relay\n")] = '8';
	CHECK(note_verify_cosig(c, clen, "ferry/camden-council", wpk, NULL)
	    == FERRY_EBADSIG);
	free(c);
	free(n);
}

TEST(syntax_refused)
{
	struct note_checkpoint cp;
	static const char *bad[] = {
		"",
		"a\n1\nAAAA\n",
		"a\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 a AAAAAAAA\n",
		"a\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n\n\xe2\x80\x94 a AAAAAAAA\n",
		"a\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 a AAAAAAAA",
		"a\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n- a AAAAAAAA\n",
		"a\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 a AAA\n",
		"a\n1\n\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 a AAAAAAAA\n",
		"a\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 a AAAAAAAA\n",
		"a\t\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 a AAAAAAAA\n",
	};
	const char *good = "a\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	    "\n\xe2\x80\x94 a AAAAAAAA\n";
	const char *ext = "a\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	    "x 1\ny\n\n\xe2\x80\x94 a AAAAAAAA\n\xe2\x80\x94 b AAAAAAAA\n";
	size_t i;

	CHECK_EQ(note_parse_checkpoint((const uint8_t *)good, strlen(good),
	    &cp), 0);
	CHECK_EQ(cp.size, 1);
	CHECK_EQ(cp.ext_lines, 0);
	CHECK_EQ(cp.nsigs, 1);
	/* extension lines and more signature lines parse, and are counted */
	CHECK_EQ(note_parse_checkpoint((const uint8_t *)ext, strlen(ext),
	    &cp), 0);
	CHECK_EQ(cp.ext_lines, 2);
	CHECK_EQ(cp.nsigs, 2);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (note_parse_checkpoint((const uint8_t *)bad[i],
		    strlen(bad[i]), &cp) == 0)
			printf("# accepted bad note %zu\n", i);
		CHECK(note_parse_checkpoint((const uint8_t *)bad[i],
		    strlen(bad[i]), &cp) != 0);
	}
	/* bad origins are refused at signing */
	{
		uint8_t *n;
		size_t len;

		CHECK_EQ(note_sign_checkpoint("a b", 1, root, sk, &n, &len),
		    FERRY_EINVAL);
		CHECK_EQ(note_sign_checkpoint("a+b", 1, root, sk, &n, &len),
		    FERRY_EINVAL);
		CHECK_EQ(note_sign_checkpoint("", 1, root, sk, &n, &len),
		    FERRY_EINVAL);
	}
}

/*
 * ferry_unbase64, the one base64 decoder (notes, proof files, referral
 * attachments): only the canonical padded text of a value.
 */
TEST(base64_canonical)
{
	static const struct {
		const char *s;
		size_t len;	/* 0: strlen */
		int rc;
		const char *want;
	} v[] = {
		{ "", 0, 0, "" },
		{ "QQ==", 0, 0, "A" },
		{ "QUE=", 0, 0, "AA" },
		{ "QUFB", 0, 0, "AAA" },
		{ "+/+/", 0, 0, "\xfb\xff\xbf" },
		{ "QR==", 0, FERRY_EBADVALUE, NULL },	/* padding bits set */
		{ "QUF=", 0, FERRY_EBADVALUE, NULL },	/* padding bits set */
		{ "QQ", 0, FERRY_EBADVALUE, NULL },	/* padding missing */
		{ "QQ=", 0, FERRY_EBADVALUE, NULL },
		{ "QQ===", 0, FERRY_EBADVALUE, NULL },	/* extra padding */
		{ "Q===", 0, FERRY_EBADVALUE, NULL },
		{ "QQ==QQ==", 0, FERRY_EBADVALUE, NULL },	/* trailing */
		{ "QUFB\n", 0, FERRY_EBADVALUE, NULL },	/* whitespace */
		{ "QU FB", 0, FERRY_EBADVALUE, NULL },
		{ "-_-_", 0, FERRY_EBADVALUE, NULL },	/* URL alphabet */
		{ "QUFB\0\0\0\0", 8, FERRY_EBADVALUE, NULL },	/* NUL */
		{ "QUFBQUFB", 0, FERRY_ETOOBIG, NULL },	/* 6 bytes > cap */
	};
	uint8_t out[4];
	size_t i, n, len;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		len = v[i].len ? v[i].len : strlen(v[i].s);
		n = 99;
		CHECK_EQ(ferry_unbase64(out, sizeof(out), v[i].s, len, &n),
		    v[i].rc);
		if (v[i].rc != 0) {
			CHECK_EQ(n, 0);
			continue;
		}
		CHECK_EQ(n, strlen(v[i].want));
		CHECK(memcmp(out, v[i].want, n) == 0);
	}
	/* Output that just fits, and one byte over. */
	CHECK_EQ(ferry_unbase64(out, 3, "QUFB", 4, &n), 0);
	CHECK_EQ(ferry_unbase64(out, 2, "QUFB", 4, &n), FERRY_ETOOBIG);
}

/* ferry_parse_dec: checkpoint sizes and proof-file indexes. */
TEST(decimal_canonical)
{
	static const char *bad[] = { "", "00", "01", "+1", "-1", " 1", "1 ",
	    "0x1", "18446744073709551616", "99999999999999999999",
	    "100000000000000000000" };
	uint64_t v;
	size_t i;

	CHECK_EQ(ferry_parse_dec("0", 1, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(ferry_parse_dec("42", 2, &v), 0);
	CHECK_EQ(v, 42);
	CHECK_EQ(ferry_parse_dec("18446744073709551615", 20, &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_EQ(ferry_parse_dec("123", 2, &v), 0);	/* only ${n} bytes */
	CHECK_EQ(v, 12);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(ferry_parse_dec(bad[i], strlen(bad[i]), &v),
		    FERRY_EBADVALUE);
}

int
main(void)
{

	t_init();
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(wpk, wsk);
	crypto_sign_keypair(opk, osk);
	randombytes_buf(root, sizeof(root));
	RUN(sign_parse_verify);
	RUN(keyid_matches_spec);
	RUN(tampered_refused);
	RUN(unknown_key_ignored);
	RUN(cosign);
	RUN(syntax_refused);
	RUN(base64_canonical);
	RUN(decimal_canonical);
	return (t_done());
}
