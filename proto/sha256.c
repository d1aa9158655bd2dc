/*
 * sha256.c: SHA-256 (FIPS 180-4) of a buffer, with the x86 SHA extensions
 * when the CPU has them, else libsodium's crypto_hash_sha256.
 *
 * libsodium's SHA-256 is portable C (about 4 ns a byte here); every
 * envelope is hashed on each hop (its id in the log, the inbox, the
 * relay's queue), so the SHA instructions (SHA-NI, about 1 ns a byte)
 * are used where present.  Same digest either way: test_sha256 checks
 * it against libsodium for every length across the block boundaries.
 */
#include "ferry.h"

#include <string.h>

#include <sodium.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FERRY_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b,
	0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
	0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7,
	0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152,
	0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
	0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
	0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
	0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

/* ${n} 64-byte blocks of ${p} into ${st} (a..h). */
__attribute__((target("sha,ssse3,sse4.1")))
static void
blocks_ni(uint32_t st[8], const uint8_t *p, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL,
	    0x0405060700010203ULL);
	__m128i s0, s1, t, m, w[4], abef, cdgh;
	int g;

	t = _mm_loadu_si128((const __m128i *)(const void *)&st[0]);
	s1 = _mm_loadu_si128((const __m128i *)(const void *)&st[4]);
	t = _mm_shuffle_epi32(t, 0xB1);			/* CDAB */
	s1 = _mm_shuffle_epi32(s1, 0x1B);		/* EFGH */
	s0 = _mm_alignr_epi8(t, s1, 8);			/* ABEF */
	s1 = _mm_blend_epi16(s1, t, 0xF0);		/* CDGH */
	for (; n > 0; n--, p += 64) {
		abef = s0;
		cdgh = s1;
		for (g = 0; g < 16; g++) {
			if (g < 4)
				w[g] = _mm_shuffle_epi8(_mm_loadu_si128(
				    (const __m128i *)(const void *)(p + 16 * g)),
				    bswap);
			else {
				/* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15])
				 * + W[t-16], four at a time. */
				t = _mm_add_epi32(_mm_sha256msg1_epu32(
				    w[g & 3], w[(g + 1) & 3]), _mm_alignr_epi8(
				    w[(g + 3) & 3], w[(g + 2) & 3], 4));
				w[g & 3] = _mm_sha256msg2_epu32(t,
				    w[(g + 3) & 3]);
			}
			m = _mm_add_epi32(w[g & 3], _mm_loadu_si128(
			    (const __m128i *)(const void *)&K256[4 * g]));
			s1 = _mm_sha256rnds2_epu32(s1, s0, m);
			s0 = _mm_sha256rnds2_epu32(s0, s1,
			    _mm_shuffle_epi32(m, 0x0E));
		}
		s0 = _mm_add_epi32(s0, abef);
		s1 = _mm_add_epi32(s1, cdgh);
	}
	t = _mm_shuffle_epi32(s0, 0x1B);		/* FEBA */
	s1 = _mm_shuffle_epi32(s1, 0xB1);		/* DCHG */
	s0 = _mm_blend_epi16(t, s1, 0xF0);		/* DCBA */
	s1 = _mm_alignr_epi8(s1, t, 8);			/* HGFE */
	_mm_storeu_si128((__m128i *)(void *)&st[0], s0);
	_mm_storeu_si128((__m128i *)(void *)&st[4], s1);
}

static void
sha256_ni(uint8_t out[32], const uint8_t *in, size_t len)
{
	uint32_t st[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
	};
	uint8_t tail[128];
	uint64_t bits = (uint64_t)len * 8;
	size_t full = len / 64, rest = len % 64, tn, i;

	if (full > 0)
		blocks_ni(st, in, full);
	/* The last bytes, 0x80, zeros, the length in bits (big-endian):
	 * one block, or two if the length does not fit after them. */
	tn = rest + 9 <= 64 ? 64 : 128;
	memset(tail, 0, tn);
	if (rest > 0)
		memcpy(tail, in + 64 * full, rest);
	tail[rest] = 0x80;
	for (i = 0; i < 8; i++)
		tail[tn - 1 - i] = (uint8_t)(bits >> (8 * i));
	blocks_ni(st, tail, tn / 64);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(st[i] >> 24);
		out[4 * i + 1] = (uint8_t)(st[i] >> 16);
		out[4 * i + 2] = (uint8_t)(st[i] >> 8);
		out[4 * i + 3] = (uint8_t)st[i];
	}
}

/* 1 when the CPU has the SHA extensions, SSSE3 and SSE4.1; else 0. */
static int
cpu_has_sha(void)
{
	unsigned int a, b, c, d;

	if (__get_cpuid_max(0, NULL) < 7 || !__get_cpuid(1, &a, &b, &c, &d) ||
	    !(c & bit_SSSE3) || !(c & bit_SSE4_1))
		return (0);
	__cpuid_count(7, 0, a, b, c, d);
	return ((b & bit_SHA) != 0);
}
#endif

/* -1 not yet asked, 0 libsodium, 1 SHA-NI; settled on first use (any
 * thread: the same answer, stored atomically). */
static int sha_impl = -1;

/** ferry_sha256_impl(): "sha-ni" or "libsodium", what ferry_sha256 uses. */
const char *
ferry_sha256_impl(void)
{

	int v = __atomic_load_n(&sha_impl, __ATOMIC_RELAXED);

	if (v < 0) {
#ifdef FERRY_SHA_NI
		v = cpu_has_sha();
#else
		v = 0;
#endif
		__atomic_store_n(&sha_impl, v, __ATOMIC_RELAXED);
	}
	return (v == 1 ? "sha-ni" : "libsodium");
}

/** ferry_sha256(out, in, len): SHA-256 of ${in}, SHA-NI when present. */
void
ferry_sha256(uint8_t out[32], const uint8_t *in, size_t len)
{

	if (__atomic_load_n(&sha_impl, __ATOMIC_RELAXED) < 0)
		(void)ferry_sha256_impl();
#ifdef FERRY_SHA_NI
	if (__atomic_load_n(&sha_impl, __ATOMIC_RELAXED) == 1) {
		sha256_ni(out, in, len);
		return;
	}
#endif
	crypto_hash_sha256(out, in, len);
}

/** ferry_sha256_portable(out, in, len): libsodium's SHA-256 (tests). */
void
ferry_sha256_portable(uint8_t out[32], const uint8_t *in, size_t len)
{

	crypto_hash_sha256(out, in, len);
}
