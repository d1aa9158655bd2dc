/*
 * test_ident.c: identities, key files (plain and sealed), rotation,
 * fingerprints and tagged signatures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "envelope.h"
#include "ferry.h"
#include "../lib/harness.h"
#include "ident.h"

#define NOW 1700000000000ULL
#define DAY (86400ULL * 1000)

static void
path_in_tmp(char *buf, size_t cap, const char *name)
{

	snprintf(buf, cap, "%s/%s", t_tmpdir(), name);
}

static int
same_ident(const struct ident *a, const struct ident *b)
{
	size_t i;

	if (strcmp(a->id, b->id) != 0 || a->kind != b->kind ||
	    strcmp(a->name, b->name) != 0 ||
	    memcmp(a->sign_pk, b->sign_pk, 32) != 0 ||
	    memcmp(a->sign_sk, b->sign_sk, 64) != 0 ||
	    memcmp(a->curve_pk, b->curve_pk, 32) != 0 ||
	    memcmp(a->curve_sk, b->curve_sk, 32) != 0 || a->nenc != b->nenc)
		return (0);
	for (i = 0; i < a->nenc; i++) {
		const struct ident_enckey *x = &a->enc[i], *y = &b->enc[i];

		if (x->key_id != y->key_id || memcmp(x->pk, y->pk, 32) != 0 ||
		    memcmp(x->sk, y->sk, 32) != 0 ||
		    x->not_before != y->not_before ||
		    x->not_after != y->not_after ||
		    memcmp(x->sig, y->sig, 64) != 0)
			return (0);
	}
	return (1);
}

TEST(kinds)
{
	uint32_t k;

	CHECK(strcmp(ident_kind_name(IDENT_POLICE), "police") == 0);
	CHECK(ident_kind_name(0) == NULL);
	CHECK(ident_kind_name(8) == NULL);
	CHECK_EQ(ident_kind_parse("health", &k), 0);
	CHECK_EQ(k, IDENT_HEALTH);
	CHECK_EQ(ident_kind_parse("pirate", &k), FERRY_EINVAL);
}

TEST(generate_checks_arguments)
{
	struct ident *id = NULL;

	CHECK_EQ(ident_generate("Met-Police", IDENT_POLICE, "x", NOW, DAY,
	    &id), FERRY_EBADID);
	CHECK_EQ(ident_generate("", IDENT_POLICE, "x", NOW, DAY, &id),
	    FERRY_EBADID);
	CHECK_EQ(ident_generate("met", 99, "x", NOW, DAY, &id), FERRY_EINVAL);
	CHECK_EQ(ident_generate("met", IDENT_POLICE, "\xff", NOW, DAY, &id),
	    FERRY_EINVAL);
	CHECK_EQ(ident_generate("met", IDENT_POLICE, "x", NOW, 0, &id),
	    FERRY_EINVAL);
	/* Control characters: C0 (ESC, newline), DEL, C1 (CSI). */
	CHECK_EQ(ident_generate("met", IDENT_POLICE, "Met\x1b[2K", NOW, DAY,
	    &id), FERRY_EBADVALUE);
	CHECK_EQ(ident_generate("met", IDENT_POLICE, "Met\nfingerprint: 1",
	    NOW, DAY, &id), FERRY_EBADVALUE);
	CHECK_EQ(ident_generate("met", IDENT_POLICE, "Met\x7f", NOW, DAY,
	    &id), FERRY_EBADVALUE);
	CHECK_EQ(ident_generate("met", IDENT_POLICE, "Met\xc2\x9b" "2K", NOW,
	    DAY, &id), FERRY_EBADVALUE);
	CHECK(id == NULL);
	/* Other non-ASCII text is fine. */
	CHECK_EQ(ident_generate("met", IDENT_POLICE, "Caf\xc3\xa9 \xc2\xa0",
	    NOW, DAY, &id), 0);
	ident_free(id);
	id = NULL;
	ident_free(NULL);
}

TEST(generate_keys_consistent)
{
	struct ident *id;
	uint8_t pk[32];

	CHECK_EQ(ident_generate("met-police", IDENT_POLICE, "Met Police",
	    NOW, DAY, &id), 0);
	CHECK(memcmp(id->sign_sk + 32, id->sign_pk, 32) == 0);
	CHECK_EQ(crypto_scalarmult_base(pk, id->curve_sk), 0);
	CHECK(memcmp(pk, id->curve_pk, 32) == 0);
	CHECK_EQ(id->nenc, 1);
	CHECK_EQ(id->enc[0].key_id, 1);
	CHECK_EQ(id->enc[0].not_before, NOW);
	CHECK_EQ(id->enc[0].not_after, NOW + DAY);
	CHECK_EQ(crypto_scalarmult_base(pk, id->enc[0].sk), 0);
	CHECK(memcmp(pk, id->enc[0].pk, 32) == 0);
	CHECK_EQ(ident_enckey_verify(id->sign_pk, id->id, 1, id->enc[0].pk,
	    NOW, NOW + DAY, id->enc[0].sig), 0);
	/* Any changed field breaks the enckey signature. */
	CHECK_EQ(ident_enckey_verify(id->sign_pk, id->id, 2, id->enc[0].pk,
	    NOW, NOW + DAY, id->enc[0].sig), FERRY_EBADSIG);
	CHECK_EQ(ident_enckey_verify(id->sign_pk, "other", 1, id->enc[0].pk,
	    NOW, NOW + DAY, id->enc[0].sig), FERRY_EBADSIG);
	CHECK_EQ(ident_enckey_verify(id->sign_pk, id->id, 1, id->enc[0].pk,
	    NOW, NOW + DAY + 1, id->enc[0].sig), FERRY_EBADSIG);
	/* The three key pairs are distinct. */
	CHECK(memcmp(id->curve_pk, id->enc[0].pk, 32) != 0);
	ident_free(id);
}

TEST(save_load_plain)
{
	struct ident *id, *back;
	char path[512];
	struct stat st;

	path_in_tmp(path, sizeof(path), "plain.key");
	CHECK_EQ(ident_generate("camden-council", IDENT_COUNCIL,
	    "Camden Council \xc3\xa9", NOW, DAY, &id), 0);
	CHECK_EQ(ident_save(id, path, NULL), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(ident_is_sealed(path), 0);
	/* Never overwritten by ident_save. */
	CHECK_EQ(ident_save(id, path, NULL), FERRY_EEXIST);
	CHECK_EQ(ident_load(path, NULL, &back), 0);
	CHECK(same_ident(id, back));
	ident_free(back);
	/* A passphrase given for a plain file is not needed. */
	CHECK_EQ(ident_load(path, "whatever", &back), 0);
	CHECK(same_ident(id, back));
	ident_free(back);
	ident_free(id);
}

TEST(save_load_sealed)
{
	struct ident *id, *back = NULL;
	char path[512];
	uint8_t *raw;
	size_t len;

	path_in_tmp(path, sizeof(path), "sealed.key");
	CHECK_EQ(ident_generate("eerc-charity", IDENT_CHARITY, "EERC", NOW,
	    DAY, &id), 0);
	CHECK_EQ(ident_save(id, path, "correct horse"), 0);
	CHECK_EQ(ident_is_sealed(path), 1);
	CHECK_EQ(ident_load(path, "correct horse", &back), 0);
	CHECK(same_ident(id, back));
	ident_free(back);
	back = NULL;
	CHECK_EQ(ident_load(path, "wrong horse", &back), FERRY_EPASSPHRASE);
	CHECK(back == NULL);
	CHECK_EQ(ident_load(path, NULL, &back), FERRY_ENOPASSPHRASE);
	/* The secret seed does not appear in the sealed file. */
	raw = t_read_file(path, &len);
	CHECK(raw != NULL);
	CHECK(memmem(raw, len, id->sign_sk, 32) == NULL);
	CHECK(memmem(raw, len, id->enc[0].sk, 32) == NULL);
	free(raw);
	ident_free(id);
}

TEST(sealed_header_is_authenticated)
{
	struct ident *id, *back = NULL;
	char path[512];
	uint8_t *raw;
	size_t len, i;

	path_in_tmp(path, sizeof(path), "sealed2.key");
	CHECK_EQ(ident_generate("nhs-uclh", IDENT_HEALTH, "UCLH", NOW, DAY,
	    &id), 0);
	CHECK_EQ(ident_save(id, path, "pw"), 0);
	raw = t_read_file(path, &len);
	CHECK(raw != NULL);
	/* Flip one bit of the salt (the header's 16-byte bin). */
	for (i = 0; i + 2 < len; i++)
		if (raw[i] == 6 && raw[i + 1] == 0xc4 && raw[i + 2] == 16)
			break;
	CHECK(i + 3 < len);
	raw[i + 3] ^= 1;
	CHECK_EQ(ferry_write_file(path, raw, len, 0600), 0);
	CHECK_EQ(ident_load(path, "pw", &back), FERRY_EPASSPHRASE);
	free(raw);
	ident_free(id);
}

TEST(mode_refused)
{
	struct ident *id, *back = NULL;
	char path[512];

	path_in_tmp(path, sizeof(path), "open.key");
	CHECK_EQ(ident_generate("met-police", IDENT_POLICE, "Met", NOW, DAY,
	    &id), 0);
	CHECK_EQ(ident_save(id, path, NULL), 0);
	CHECK_EQ(chmod(path, 0644), 0);
	CHECK_EQ(ident_load(path, NULL, &back), FERRY_EPERM);
	CHECK_EQ(ident_is_sealed(path), FERRY_EPERM);
	CHECK_EQ(chmod(path, 0640), 0);
	CHECK_EQ(ident_load(path, NULL, &back), FERRY_EPERM);
	CHECK_EQ(chmod(path, 0602), 0);
	CHECK_EQ(ident_load(path, NULL, &back), FERRY_EPERM);
	CHECK_EQ(chmod(path, 0400), 0);
	CHECK_EQ(ident_load(path, NULL, &back), 0);
	ident_free(back);
	path_in_tmp(path, sizeof(path), "missing.key");
	CHECK_EQ(ident_load(path, NULL, &back), FERRY_ENOENT);
	ident_free(id);
}

TEST(malformed_keyfile)
{
	struct ident *id, *back = NULL;
	char path[512];
	uint8_t *raw;
	size_t len, cut;

	path_in_tmp(path, sizeof(path), "bad.key");
	CHECK_EQ(ferry_write_file(path, "hello", 5, 0600), 0);
	CHECK_EQ(ident_load(path, NULL, &back), FERRY_EBADKEYFILE);
	CHECK_EQ(ferry_write_file(path, "", 0, 0600), 0);
	CHECK_EQ(ident_load(path, NULL, &back), FERRY_EBADKEYFILE);
	CHECK_EQ(ident_generate("met-police", IDENT_POLICE, "Met", NOW, DAY,
	    &id), 0);
	CHECK_EQ(ident_save_replace(id, path, NULL), 0);
	raw = t_read_file(path, &len);
	CHECK(raw != NULL);
	for (cut = 1; cut < len; cut += 7) {
		CHECK_EQ(ferry_write_file(path, raw, cut, 0600), 0);
		CHECK_EQ(ident_load(path, NULL, &back), FERRY_EBADKEYFILE);
		CHECK(back == NULL);
	}
	free(raw);
	ident_free(id);
}

TEST(rotation_overlap)
{
	struct ident *a, *b, *back;
	char path[512];
	uint8_t ck[32], mid[16], *out, *content;
	size_t outlen, clen;
	struct env e;
	const uint8_t msg[] = "referral before rotation";

	CHECK_EQ(ident_generate("sender", IDENT_CHARITY, "S", NOW, DAY, &a),
	    0);
	CHECK_EQ(ident_generate("rcpt", IDENT_POLICE, "R", NOW, DAY, &b), 0);
	/* Sealed to key 1, then the recipient rotates. */
	CHECK_EQ(env_seal(a, "rcpt", b->enc[0].pk, 1, msg, sizeof(msg), NULL,
	    NOW + 10, ck, mid, &out, &outlen), 0);
	CHECK_EQ(ident_rotate(b, NOW + 100, DAY, 1000), 0);
	CHECK_EQ(b->nenc, 2);
	CHECK_EQ(b->enc[0].key_id, 2);
	CHECK_EQ(b->enc[1].key_id, 1);
	CHECK_EQ(b->enc[1].not_after, NOW + 100 + 1000);
	CHECK_EQ(ident_enckey_verify(b->sign_pk, "rcpt", 1, b->enc[1].pk,
	    b->enc[1].not_before, b->enc[1].not_after, b->enc[1].sig), 0);
	CHECK_EQ(ident_enckey_verify(b->sign_pk, "rcpt", 2, b->enc[0].pk,
	    NOW + 100, NOW + 100 + DAY, b->enc[0].sig), 0);
	CHECK(ident_enc_find(b, 1) != NULL);
	CHECK(ident_enc_find(b, 3) == NULL);
	/* The old key still opens the message during the overlap, also
	 * after a save and load. */
	path_in_tmp(path, sizeof(path), "rot.key");
	CHECK_EQ(ident_save(b, path, NULL), 0);
	CHECK_EQ(ident_load(path, NULL, &back), 0);
	CHECK(same_ident(b, back));
	CHECK_EQ(env_open(out, outlen, 0, a->sign_pk, back, &e, &content,
	    &clen), 0);
	CHECK_EQ(clen, sizeof(msg));
	CHECK(memcmp(content, msg, clen) == 0);
	free(content);
	ident_free(back);
	/* After the overlap, the next rotation drops key 1. */
	CHECK_EQ(ident_rotate(b, NOW + 5000, DAY, 1000), 0);
	CHECK_EQ(b->nenc, 2);
	CHECK_EQ(b->enc[0].key_id, 3);
	CHECK_EQ(b->enc[1].key_id, 2);
	CHECK(ident_enc_find(b, 1) == NULL);
	CHECK_EQ(env_open(out, outlen, 0, a->sign_pk, b, &e, &content,
	    &clen), FERRY_EWRONGKEY);
	free(out);
	ident_free(a);
	ident_free(b);
}

TEST(rotation_limit)
{
	struct ident *b;
	int i;

	CHECK_EQ(ident_generate("rcpt", IDENT_POLICE, "R", NOW, DAY, &b), 0);
	for (i = 1; i < IDENT_MAX_ENC; i++)
		CHECK_EQ(ident_rotate(b, NOW + (uint64_t)i, DAY, DAY), 0);
	CHECK_EQ(b->nenc, IDENT_MAX_ENC);
	CHECK_EQ(ident_rotate(b, NOW + 100, DAY, DAY), FERRY_ENOSPC);
	CHECK_EQ(b->nenc, IDENT_MAX_ENC);
	CHECK_EQ(b->enc[0].key_id, IDENT_MAX_ENC);
	ident_free(b);
}

TEST(fingerprints)
{
	char fp[IDENT_FP_LEN], fp2[IDENT_FP_LEN];
	size_t i;

	ident_fingerprint((const uint8_t *)"abc", 3, fp);
	CHECK_EQ(strlen(fp), IDENT_FP_LEN - 1);
	for (i = 0; i < IDENT_FP_LEN - 1; i++)
		CHECK((i % 6 == 5) ? fp[i] == ' ' : (fp[i] >= '0' &&
		    fp[i] <= '9'));
	ident_fingerprint((const uint8_t *)"abd", 3, fp2);
	CHECK(strcmp(fp, fp2) != 0);
	/* Known answer, computed independently with Python's hashlib:
	 * SHA-256("ferry-fingerprint/v1" 0x00 "abc"), 8 x (4 bytes mod 1e5). */
	CHECK(strcmp(fp, "85246 46165 09832 15987 76709 53462 57934 69535") == 0);
}

TEST(tagged_signatures)
{
	struct ident *a, *b;
	uint8_t sig[64];
	const uint8_t m[] = "hello";

	CHECK_EQ(ident_generate("a", IDENT_ADMIN, "", NOW, DAY, &a), 0);
	CHECK_EQ(ident_generate("b", IDENT_ADMIN, "", NOW, DAY, &b), 0);
	CHECK_EQ(ident_sign(a->sign_sk, "ferry-test/v1", m, 5, sig), 0);
	CHECK_EQ(ident_verify(a->sign_pk, "ferry-test/v1", m, 5, sig), 0);
	CHECK_EQ(ident_verify(a->sign_pk, "ferry-test/v2", m, 5, sig),
	    FERRY_EBADSIG);
	CHECK_EQ(ident_verify(b->sign_pk, "ferry-test/v1", m, 5, sig),
	    FERRY_EBADSIG);
	CHECK_EQ(ident_verify(a->sign_pk, "ferry-test/v1", m, 4, sig),
	    FERRY_EBADSIG);
	/* The tag's terminating 0x00 separates tag from message. */
	CHECK_EQ(ident_verify(a->sign_pk, "ferry-test/v1\0h", m + 1, 4, sig),
	    FERRY_EBADSIG);
	/* Empty message. */
	CHECK_EQ(ident_sign(a->sign_sk, "t", NULL, 0, sig), 0);
	CHECK_EQ(ident_verify(a->sign_pk, "t", NULL, 0, sig), 0);
	ident_free(a);
	ident_free(b);
}

/*
 * ferry_write_file must not follow a link planted at its temporary name
 * (path.tmp.PID): before, O_TRUNC without O_EXCL|O_NOFOLLOW wrote the new
 * bytes through the link into its target.
 */
TEST(write_file_temp_link)
{
	char path[512], tmp[600], victim[512];
	unsigned char *b;
	size_t len;

	path_in_tmp(path, sizeof(path), "w.out");
	path_in_tmp(victim, sizeof(victim), "w.victim");
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	CHECK_EQ(ferry_write_file(victim, "victim", 6, 0644), 0);
	CHECK_EQ(symlink(victim, tmp), 0);
	CHECK_EQ(ferry_write_file(path, "new", 3, 0600), 0);
	CHECK((b = t_read_file(victim, &len)) != NULL);
	CHECK(len == 6 && memcmp(b, "victim", 6) == 0);
	free(b);
	CHECK((b = t_read_file(path, &len)) != NULL);
	CHECK(len == 3 && memcmp(b, "new", 3) == 0);
	free(b);
	CHECK(access(tmp, F_OK) != 0);
	/* A stale regular temporary file is replaced, not appended to. */
	CHECK_EQ(ferry_write_file(tmp, "stale stale stale", 17, 0600), 0);
	CHECK_EQ(ferry_write_file(path, "x", 1, 0600), 0);
	CHECK((b = t_read_file(path, &len)) != NULL);
	CHECK(len == 1 && b[0] == 'x');
	free(b);
}

/* ferry_write_file_new never replaces what is there, even a link. */
TEST(write_file_new)
{
	char path[512], link[512];
	struct stat st;
	unsigned char *b;
	size_t len;

	path_in_tmp(path, sizeof(path), "n.out");
	path_in_tmp(link, sizeof(link), "n.link");
	CHECK_EQ(ferry_write_file_new(path, "one", 3, 0600), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(st.st_nlink, 1);
	CHECK_EQ(ferry_write_file_new(path, "two", 3, 0600), FERRY_EEXIST);
	CHECK((b = t_read_file(path, &len)) != NULL);
	CHECK(len == 3 && memcmp(b, "one", 3) == 0);
	free(b);
	/* A dangling link counts as existing: nothing is written through it. */
	CHECK_EQ(symlink("n.nowhere", link), 0);
	CHECK_EQ(ferry_write_file_new(link, "two", 3, 0600), FERRY_EEXIST);
	path_in_tmp(path, sizeof(path), "n.nowhere");
	CHECK(access(path, F_OK) != 0);
}

int
main(void)
{

	t_init();
	RUN(kinds);
	RUN(generate_checks_arguments);
	RUN(generate_keys_consistent);
	RUN(save_load_plain);
	RUN(save_load_sealed);
	RUN(sealed_header_is_authenticated);
	RUN(mode_refused);
	RUN(malformed_keyfile);
	RUN(rotation_overlap);
	RUN(rotation_limit);
	RUN(fingerprints);
	RUN(tagged_signatures);
	RUN(write_file_temp_link);
	RUN(write_file_new);
	return (t_done());
}
