/*
 * test_wire.c: the canonical msgpack subset (proto/wire.c): the encoder's
 * exact bytes at every form boundary, the scanner's refusals (each with its
 * code), map reading, and agreement between encoder and scanner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/harness.h"
#include "ferry.h"
#include "wire.h"

static int
enc_eq(struct wire_buf *w, const char *hex)
{
	uint8_t *out, want[64];
	size_t len, wl = strlen(hex) / 2;
	int ok;

	if (ferry_unhex(want, wl, hex) != 0)
		return (0);
	if (wire_buf_take(w, &out, &len) != 0)
		return (0);
	ok = len == wl && memcmp(out, want, len) == 0;
	if (!ok)
		printf("#   want %s, got %zu bytes\n", hex, len);
	free(out);
	return (ok);
}

static int
scan_hex(const char *hex, int depth)
{
	uint8_t b[128];
	size_t n = strlen(hex) / 2;

	if (ferry_unhex(b, n, hex) != 0)
		return (999);
	return (wire_scan(b, n, depth));
}

TEST(encode_uint_boundaries)
{
	static const struct {
		uint64_t v;
		const char *hex;
	} c[] = {
		{ 0, "00" }, { 127, "7f" }, { 128, "cc80" }, { 255, "ccff" },
		{ 256, "cd0100" }, { 65535, "cdffff" },
		{ 65536, "ce00010000" }, { 4294967295ULL, "ceffffffff" },
		{ 4294967296ULL, "cf0000000100000000" },
		{ UINT64_MAX, "cfffffffffffffffff" },
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct wire_buf w;

		wire_buf_init(&w);
		wire_put_uint(&w, c[i].v);
		CHECK(enc_eq(&w, c[i].hex));
		CHECK_EQ(scan_hex(c[i].hex, 1), 0);
	}
}

TEST(encode_lengths)
{
	static const size_t lens[] = { 0, 31, 32, 255, 256, 65535, 65536 };
	uint8_t *body, *out;
	size_t i, len;

	CHECK((body = malloc(65536)) != NULL);
	memset(body, 'a', 65536);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct wire_buf w;
		size_t n = lens[i];
		uint8_t s0 = n < 32 ? (uint8_t)(0xa0 | n) : n < 256 ? 0xd9 :
		    n < 65536 ? 0xda : 0xdb;
		uint8_t b0 = n < 256 ? 0xc4 : n < 65536 ? 0xc5 : 0xc6;
		uint8_t a0 = n < 16 ? (uint8_t)(0x90 | n) : n < 65536 ? 0xdc :
		    0xdd;
		uint8_t m0 = n < 16 ? (uint8_t)(0x80 | n) : n < 65536 ? 0xde :
		    0xdf;

		wire_buf_init(&w);
		wire_put_str(&w, (const char *)body, n);
		CHECK_EQ(wire_buf_take(&w, &out, &len), 0);
		CHECK_EQ(out[0], s0);
		CHECK_EQ(wire_scan(out, len, 1), 0);
		free(out);
		wire_buf_init(&w);
		wire_put_bin(&w, body, n);
		CHECK_EQ(wire_buf_take(&w, &out, &len), 0);
		CHECK_EQ(out[0], b0);
		CHECK_EQ(wire_scan(out, len, 1), 0);
		free(out);
		wire_buf_init(&w);
		wire_put_array(&w, n);
		CHECK_EQ(wire_buf_take(&w, &out, &len), 0);
		CHECK_EQ(out[0], a0);
		free(out);
		wire_buf_init(&w);
		wire_put_map(&w, n);
		CHECK_EQ(wire_buf_take(&w, &out, &len), 0);
		CHECK_EQ(out[0], m0);
		free(out);
	}
	free(body);
}

TEST(encode_bool_and_raw)
{
	struct wire_buf w;

	wire_buf_init(&w);
	wire_put_array(&w, 3);
	wire_put_bool(&w, 1);
	wire_put_bool(&w, 0);
	wire_put_raw(&w, "\x01", 1);
	CHECK(enc_eq(&w, "93c3c201"));
}

TEST(encode_refuses_bad_utf8)
{
	struct wire_buf w;
	uint8_t *out;
	size_t len;

	wire_buf_init(&w);
	wire_put_cstr(&w, "ok");
	wire_put_str(&w, "\xff", 1);
	wire_put_uint(&w, 1);
	CHECK_EQ(wire_buf_take(&w, &out, &len), FERRY_EBADVALUE);
	CHECK(out == NULL);
	/* An empty buffer hands back a valid allocation. */
	wire_buf_init(&w);
	CHECK_EQ(wire_buf_take(&w, &out, &len), 0);
	CHECK(out != NULL);
	CHECK_EQ(len, 0);
	free(out);
	wire_buf_free(NULL);
}

TEST(scan_noncanonical_forms)
{
	static const char *bad[] = {
		"cc00", "cc7f", "cd0000", "cd00ff", "ce00000000", "ce0000ffff",
		"cf0000000000000000", "cf00000000ffffffff",
		"d000", "d07f", "d10001", "d200000001", "d30000000000000001",
		"d900", "d91f" "00000000000000000000000000000000000000000000000000000000000000",
		"da0000", "da00ff", "db00000000", "db0000ffff",
		"c50000", "c500ff", "c600000000", "c60000ffff",
		"dc0000", "dc000f", "dd00000000", "dd0000ffff",
		"de0000", "de000f", "df00000000", "df0000ffff",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = scan_hex(bad[i], 4);

		if (rc != FERRY_ENONCANON && rc != FERRY_ETRUNCATED)
			printf("#   %s: %s\n", bad[i], ferry_errname(rc));
		/* Long forms with a short count are non-canonical whether
		 * or not the elements follow. */
		CHECK(rc == FERRY_ENONCANON);
	}
}

TEST(scan_types)
{

	CHECK_EQ(scan_hex("c0", 1), FERRY_ETYPE);		/* nil */
	CHECK_EQ(scan_hex("c1", 1), FERRY_EMALFORMED);
	CHECK_EQ(scan_hex("c2", 1), 0);
	CHECK_EQ(scan_hex("c3", 1), 0);
	CHECK_EQ(scan_hex("e0", 1), FERRY_ETYPE);		/* -32 */
	CHECK_EQ(scan_hex("ff", 1), FERRY_ETYPE);		/* -1 */
	CHECK_EQ(scan_hex("d0ff", 1), FERRY_ETYPE);
	CHECK_EQ(scan_hex("d3ffffffffffffffff", 1), FERRY_ETYPE);
	CHECK_EQ(scan_hex("ca00000000", 1), FERRY_ETYPE);	/* float */
	CHECK_EQ(scan_hex("cb0000000000000000", 1), FERRY_ETYPE);
	CHECK_EQ(scan_hex("c70100", 1), FERRY_ETYPE);		/* ext8 */
	CHECK_EQ(scan_hex("c8000100", 1), FERRY_ETYPE);
	CHECK_EQ(scan_hex("c9000000010000", 1), FERRY_ETYPE);
	CHECK_EQ(scan_hex("d40100", 1), FERRY_ETYPE);		/* fixext */
	CHECK_EQ(scan_hex("d8010000000000000000000000000000000000", 1),
	    FERRY_ETYPE);
	/* Inside containers too. */
	CHECK_EQ(scan_hex("9201c0", 1), FERRY_ETYPE);
	CHECK_EQ(scan_hex("8101c0", 1), FERRY_ETYPE);
}

TEST(scan_truncated_and_trailing)
{

	CHECK_EQ(wire_scan((const uint8_t *)"", 0, 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("cc", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("cd01", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("cf0000000100", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("d0", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("a3616263", 1), 0);
	CHECK_EQ(scan_hex("a36162", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("d9", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("c403aabb", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("920101", 1), 0);
	CHECK_EQ(scan_hex("9201", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("820101", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("8101", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("81", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("8101cc", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("81cd", 1), FERRY_ETRUNCATED);
	/* Counts that could never fit: refused at the header. */
	CHECK_EQ(scan_hex("ddffffffff", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("dfffffffff", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("dbffffffff", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("c6ffffffff", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("dcffff01", 1), FERRY_ETRUNCATED);
	CHECK_EQ(scan_hex("0101", 1), FERRY_ETRAILING);
	CHECK_EQ(scan_hex("9101ff", 1), FERRY_ETRAILING);
	CHECK_EQ(scan_hex("90", 1), 0);
	CHECK_EQ(scan_hex("80", 1), 0);
}

TEST(scan_nesting)
{
	uint8_t b[64];
	int d;

	CHECK_EQ(scan_hex("01", 0), 0);
	CHECK_EQ(scan_hex("90", 0), FERRY_ENESTING);
	CHECK_EQ(scan_hex("90", 1), 0);
	CHECK_EQ(scan_hex("9190", 1), FERRY_ENESTING);
	CHECK_EQ(scan_hex("9190", 2), 0);
	CHECK_EQ(scan_hex("810190", 1), FERRY_ENESTING);
	CHECK_EQ(scan_hex("810180", 2), 0);
	/* Depth d: d-1 one-element arrays around an empty one. */
	for (d = 1; d <= 40; d++) {
		memset(b, 0x91, (size_t)d - 1);
		b[d - 1] = 0x90;
		CHECK_EQ(wire_scan(b, (size_t)d, d),
		    d <= 31 ? 0 : FERRY_ENESTING);
		CHECK_EQ(wire_scan(b, (size_t)d, d - 1), FERRY_ENESTING);
	}
}

TEST(scan_map_keys)
{

	CHECK_EQ(scan_hex("8201010201", 1), 0);
	CHECK_EQ(scan_hex("8202010101", 1), FERRY_ENONCANON);
	CHECK_EQ(scan_hex("8201010101", 1), FERRY_EDUPKEY);
	CHECK_EQ(scan_hex("83010102010101", 1), FERRY_ENONCANON);
	CHECK_EQ(scan_hex("81a10101", 1), FERRY_ETYPE);	/* str key */
	CHECK_EQ(scan_hex("81c40101", 1), FERRY_ETYPE);	/* bin key */
	CHECK_EQ(scan_hex("81ff01", 1), FERRY_ETYPE);	/* negative key */
	CHECK_EQ(scan_hex("81c301", 1), FERRY_ETYPE);	/* bool key */
	CHECK_EQ(scan_hex("819001", 2), FERRY_ETYPE);	/* array key */
	CHECK_EQ(scan_hex("81c101", 1), FERRY_EMALFORMED);
	CHECK_EQ(scan_hex("81cc0501", 1), FERRY_ENONCANON);
	CHECK_EQ(scan_hex("82ccff01cd010001", 1), 0);
	CHECK_EQ(scan_hex("82cd010001ccff01", 1), FERRY_ENONCANON);
	/* Each nested map has its own order. */
	CHECK_EQ(scan_hex("8105810101", 2), 0);
	CHECK_EQ(scan_hex("82058101010601", 2), 0);
	CHECK_EQ(scan_hex("8205810901" "0601", 2), 0);
	CHECK_EQ(scan_hex("8205810901" "06810101", 2), 0);
	CHECK_EQ(scan_hex("8205810901" "0401", 2), FERRY_ENONCANON);
	CHECK_EQ(scan_hex("8205820901" "0901", 2), FERRY_EDUPKEY);
	CHECK_EQ(scan_hex("92810201810102", 2), 0);
}

TEST(scan_utf8)
{

	CHECK_EQ(scan_hex("a2c3a9", 1), 0);		/* e-acute */
	CHECK_EQ(scan_hex("a3e282ac", 1), 0);		/* euro */
	CHECK_EQ(scan_hex("a4f09f9880", 1), 0);		/* emoji */
	CHECK_EQ(scan_hex("a4f48fbfbf", 1), 0);		/* U+10FFFF */
	CHECK_EQ(scan_hex("a2c0af", 1), FERRY_EBADVALUE);	/* overlong */
	CHECK_EQ(scan_hex("a3e080af", 1), FERRY_EBADVALUE);
	CHECK_EQ(scan_hex("a4f08080af", 1), FERRY_EBADVALUE);
	CHECK_EQ(scan_hex("a3eda080", 1), FERRY_EBADVALUE);	/* surrogate */
	CHECK_EQ(scan_hex("a4f4908080", 1), FERRY_EBADVALUE);	/* > 10FFFF */
	CHECK_EQ(scan_hex("a180", 1), FERRY_EBADVALUE);
	CHECK_EQ(scan_hex("a1c3", 1), FERRY_EBADVALUE);
	CHECK_EQ(scan_hex("a2e282", 1), FERRY_EBADVALUE);
	CHECK_EQ(scan_hex("a1ff", 1), FERRY_EBADVALUE);
	CHECK_EQ(scan_hex("a2c328", 1), FERRY_EBADVALUE);
	CHECK_EQ(scan_hex("a100", 1), 0);	/* NUL is valid UTF-8 */
	CHECK_EQ(scan_hex("c402ff80", 1), 0);	/* bin is not UTF-8 */
}

TEST(parse_and_map_read)
{
	static const struct wire_field spec[] = {
		{ 1, WIRE_UINT, 1, 1, 10 },
		{ 2, WIRE_STR, 0, 1, 3 },
		{ 3, WIRE_BIN, 1, 2, 2 },
		{ 4, WIRE_BOOL, 0, 0, 0 },
		{ 5, WIRE_ARRAY, 0, 0, 2 },
		{ 6, WIRE_MAP, 0, 1, 1 },
	};
	const msgpack_object *out[6];
	struct wire_doc doc;
	uint8_t b[64];
	size_t n;

#define READ(hex, want) do { n = strlen(hex) / 2; \
	CHECK_EQ(ferry_unhex(b, n, hex), 0); \
	CHECK_EQ(wire_parse(b, n, 2, &doc), 0); \
	CHECK_EQ(wire_map_read(&doc.root, spec, 6, out), want); \
	wire_doc_free(&doc); } while (0)

	READ("820105" "03c4020102", 0);
	READ("86" "0105" "02a3616263" "03c4020102" "04c3" "059101" "06810101",
	    0);
	READ("820100" "03c4020102", FERRY_EBADVALUE);	/* below min */
	READ("82010b" "03c4020102", FERRY_EBADVALUE);	/* above max */
	READ("820105" "03c403010203", FERRY_ETOOBIG);
	READ("820105" "03c40101", FERRY_EBADVALUE);
	READ("8301050201" "03c4020102", FERRY_ETYPE);
	READ("830105" "02a4616263" "64" "03c4020102", FERRY_ETOOBIG);
	READ("830105" "03c4020102" "0401", FERRY_ETYPE);
	READ("830105" "03c4020102" "05" "93010101", FERRY_ETOOBIG);
	READ("830105" "03c4020102" "06" "80", FERRY_EBADVALUE);
	READ("810105", FERRY_EMISSING);
	READ("8103c4020102", FERRY_EMISSING);
	READ("830105" "03c4020102" "0701", FERRY_EUNKNOWNFIELD);
	READ("83" "0001" "0105" "03c4020102", FERRY_EUNKNOWNFIELD);
#undef READ
}

TEST(parse_details)
{
	struct wire_doc doc;
	const msgpack_object *out[1];
	static const struct wire_field spec[] = {
		{ 1, WIRE_STR, 1, 0, 10 },
	};
	char s[4];
	uint8_t bb[2];

	CHECK_EQ(wire_parse((const uint8_t *)"\x81\x01\xa3" "abc", 6, 1,
	    &doc), 0);
	CHECK_EQ(wire_map_read(&doc.root, spec, 1, out), 0);
	CHECK_EQ(wire_str_copy(out[0], s, sizeof(s)), 0);
	CHECK(strcmp(s, "abc") == 0);
	CHECK_EQ(wire_str_copy(out[0], s, 3), FERRY_ETOOBIG);
	CHECK_EQ(wire_bin_copy(out[0], bb, 2), FERRY_EBADVALUE);
	/* Not a map. */
	wire_doc_free(&doc);
	wire_doc_free(&doc);	/* twice: no-op */
	wire_doc_free(NULL);
	CHECK_EQ(wire_parse((const uint8_t *)"\x91\x01", 2, 1, &doc), 0);
	CHECK_EQ(wire_map_read(&doc.root, spec, 1, out), FERRY_ETYPE);
	CHECK(out[0] == NULL);
	wire_doc_free(&doc);
	CHECK_EQ(wire_parse((const uint8_t *)"\x91", 1, 1, &doc),
	    FERRY_ETRUNCATED);
	CHECK_EQ(doc.live, 0);
	wire_doc_free(&doc);
}

TEST(parse_deepest_allowed)
{
	struct wire_doc doc;
	uint8_t b[40];
	int d;

	/* msgpack-c's own stack limit must not refuse what the scanner
	 * accepts. */
	for (d = 1; d <= 31; d++) {
		memset(b, 0x91, (size_t)d - 1);
		b[d - 1] = 0x90;
		CHECK_EQ(wire_parse(b, (size_t)d, 32, &doc), 0);
		wire_doc_free(&doc);
	}
}

TEST(roundtrip_random_documents)
{
	/* Encoder output always scans clean; the scanner's verdict is
	 * stable under re-encoding of parsed documents. */
	struct wire_buf w;
	uint8_t *out;
	size_t len, i;
	uint64_t x = 88172645463325252ULL;

	for (i = 0; i < 2000; i++) {
		size_t k, n;

		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		n = (size_t)(x % 12);
		wire_buf_init(&w);
		wire_put_map(&w, n);
		for (k = 0; k < n; k++) {
			uint64_t v = x >> (k * 5);

			wire_put_uint(&w, k * 3 + 1 + (x % 3));
			switch (k % 4) {
			case 0:
				wire_put_uint(&w, v);
				break;
			case 1:
				wire_put_bin(&w, &x, (size_t)(v % 8));
				break;
			case 2:
				wire_put_str(&w, "hello world", (size_t)
				    (v % 11));
				break;
			default:
				wire_put_array(&w, 2);
				wire_put_bool(&w, (int)(v & 1));
				wire_put_uint(&w, v >> 40);
			}
		}
		CHECK_EQ(wire_buf_take(&w, &out, &len), 0);
		CHECK_EQ(wire_scan(out, len, 2), 0);
		free(out);
	}
}

/* wire_scan_limit: arrays by elements, maps by entries, at any depth. */
TEST(scan_limit)
{
	static const uint8_t arr3[] = { 0x93, 1, 2, 3 };
	static const uint8_t map3[] = { 0x83, 1, 1, 2, 2, 3, 3 };
	static const uint8_t deep[] = { 0x91, 0x92, 0x93, 1, 2, 3, 0x90 };
	static const uint8_t big16[] = { 0xdc, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0 };

	CHECK_EQ(wire_scan_limit(arr3, sizeof(arr3), 4, 3), 0);
	CHECK_EQ(wire_scan_limit(arr3, sizeof(arr3), 4, 2), FERRY_ETOOBIG);
	CHECK_EQ(wire_scan_limit(map3, sizeof(map3), 4, 3), 0);
	CHECK_EQ(wire_scan_limit(map3, sizeof(map3), 4, 2), FERRY_ETOOBIG);
	CHECK_EQ(wire_scan_limit(deep, sizeof(deep), 4, 3), 0);
	CHECK_EQ(wire_scan_limit(deep, sizeof(deep), 4, 2), FERRY_ETOOBIG);
	CHECK_EQ(wire_scan_limit(big16, sizeof(big16), 4, 16), 0);
	CHECK_EQ(wire_scan_limit(big16, sizeof(big16), 4, 15), FERRY_ETOOBIG);
	/* A count larger than the bytes left stays a truncation. */
	CHECK_EQ(wire_scan_limit(big16, sizeof(big16) - 1, 4, 1),
	    FERRY_ETRUNCATED);
	/* wire_scan has no limit. */
	CHECK_EQ(wire_scan(big16, sizeof(big16), 4), 0);
}

TEST(text_ok)
{
	static const char *bad[] = { "\x00", "a\nb", "\r", "\t", "\x1b[2K",
	    "\x7f", "x\xc2\x80", "\xc2\x9b" "2K", "\xc2\x9f" };
	static const char *good[] = { "", "Met Police", "caf\xc3\xa9",
	    "\xc2\xa0", "\xc3\x80",
	    "\xe2\x80\x8b", "~" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(wire_text_ok((const uint8_t *)bad[i], i == 0 ? 1 :
		    strlen(bad[i])), 0);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_EQ(wire_text_ok((const uint8_t *)good[i],
		    strlen(good[i])), 1);
}

int
main(void)
{

	t_init();
	RUN(encode_uint_boundaries);
	RUN(encode_lengths);
	RUN(encode_bool_and_raw);
	RUN(encode_refuses_bad_utf8);
	RUN(scan_noncanonical_forms);
	RUN(scan_types);
	RUN(scan_truncated_and_trailing);
	RUN(scan_nesting);
	RUN(scan_map_keys);
	RUN(scan_utf8);
	RUN(scan_limit);
	RUN(text_ok);
	RUN(parse_and_map_read);
	RUN(parse_details);
	RUN(parse_deepest_allowed);
	RUN(roundtrip_random_documents);
	return (t_done());
}
