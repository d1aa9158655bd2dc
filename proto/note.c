/*
 * note.c: C2SP signed notes, checkpoints and cosignature/v1.
 */
#include "note.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ferry.h"

#define EMDASH "\xe2\x80\x94 "
#define EMDASH_LEN 4
#define SIG_MAX 4096		/* decoded bytes of one signature line */

/* One parsed signature line. */
struct sigline {
	const uint8_t *name;
	size_t namelen;
	uint8_t sig[SIG_MAX];
	size_t siglen;
};

/** note_keyid(name, type, pk, id): SHA-256(name || "\n" || type || pk)[:4]. */
void
note_keyid(const char *name, uint8_t type, const uint8_t pk[32],
    uint8_t id[4])
{
	crypto_hash_sha256_state st;
	uint8_t h[32];
	uint8_t sep[2] = { '\n', type };

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
	crypto_hash_sha256_update(&st, sep, 2);
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, h);
	memcpy(id, h, 4);
}

/* Strict canonical base64 (ferry_unbase64), not empty; 0 or -1. */
static int
b64dec(const uint8_t *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen)
{

	if (slen == 0 || ferry_unbase64(out, cap, (const char *)s, slen,
	    outlen) != 0)
		return (-1);
	return (0);
}

/* Is ${c} allowed in a key name (no whitespace, '+', or controls)? */
static int
namechar(uint8_t c)
{

	return (c > 0x20 && c != 0x7f && c != '+');
}

/* Is the key name ${s} acceptable? */
static int
name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > NOTE_NAME_MAX)
		return (0);
	for (i = 0; i < n; i++)
		if (!namechar((uint8_t)s[i]))
			return (0);
	return (1);
}

/*
 * Split ${note} into text [0, *textlen) and signature block; check the
 * text's characters and the block's syntax.  Returns the number of
 * signature lines, or a negative error.
 */
static int
split_note(const uint8_t *note, size_t len, size_t *textlen)
{
	size_t i, split, nl, nsig = 0, namelen, b64len;
	const uint8_t *p, *sp;
	uint8_t tmp[SIG_MAX];
	size_t tmplen;

	if (len == 0)
		return (FERRY_EMALFORMED);
	if (len > NOTE_MAX)
		return (FERRY_ETOOBIG);
	/* The signatures follow the last blank line. */
	for (split = len - 1; split > 0; split--)
		if (note[split - 1] == '\n' && note[split] == '\n')
			break;
	if (split == 0)
		return (FERRY_EMALFORMED);
	*textlen = split;	/* text ends with note[split - 1] == '\n' */
	for (i = 0; i < split; i++)
		if ((note[i] < 0x20 && note[i] != '\n') || note[i] == 0x7f)
			return (FERRY_EMALFORMED);
	/* Signature lines. */
	p = note + split + 1;
	len -= split + 1;
	if (len == 0 || p[len - 1] != '\n')
		return (FERRY_EMALFORMED);
	while (len > 0) {
		if (++nsig > NOTE_SIGS_MAX)
			return (FERRY_ETOOBIG);
		if (len < EMDASH_LEN || memcmp(p, EMDASH, EMDASH_LEN) != 0)
			return (FERRY_EMALFORMED);
		for (nl = 0; p[nl] != '\n'; nl++)
			continue;
		sp = p + EMDASH_LEN;
		for (namelen = 0; EMDASH_LEN + namelen < nl &&
		    sp[namelen] != ' '; namelen++)
			if (!namechar(sp[namelen]))
				return (FERRY_EMALFORMED);
		if (namelen == 0 || namelen > NOTE_NAME_MAX ||
		    EMDASH_LEN + namelen >= nl)
			return (FERRY_EMALFORMED);
		b64len = nl - EMDASH_LEN - namelen - 1;
		if (b64dec(sp + namelen + 1, b64len, tmp, sizeof(tmp),
		    &tmplen) != 0 || tmplen < 5)
			return (FERRY_EMALFORMED);
		p += nl + 1;
		len -= nl + 1;
	}
	return ((int)nsig);
}

/* Iterate: parse the signature line at *${off} of ${note}; 1, 0 at end. */
static int
next_sig(const uint8_t *note, size_t len, size_t *off, struct sigline *s)
{
	const uint8_t *p = note + *off, *sp;
	size_t nl;

	if (*off >= len)
		return (0);
	/* split_note has checked the syntax already. */
	for (nl = 0; p[nl] != '\n'; nl++)
		continue;
	sp = p + EMDASH_LEN;
	s->name = sp;
	for (s->namelen = 0; sp[s->namelen] != ' '; s->namelen++)
		continue;
	if (b64dec(sp + s->namelen + 1, nl - EMDASH_LEN - s->namelen - 1,
	    s->sig, sizeof(s->sig), &s->siglen) != 0)
		return (0);
	*off += nl + 1;
	return (1);
}

/** note_parse_checkpoint(note, len, cp): strict syntax check; fills ${cp}. */
int
note_parse_checkpoint(const uint8_t *note, size_t len,
    struct note_checkpoint *cp)
{
	const uint8_t *line[3];
	size_t linelen[3], textlen, i, k, start;
	uint8_t root[SIG_MAX];
	size_t rootlen;
	int n;

	memset(cp, 0, sizeof(*cp));
	if ((n = split_note(note, len, &textlen)) < 0)
		return (n);
	/* Lines of the text: origin, size, root, then extensions. */
	for (i = 0, k = 0, start = 0; i < textlen; i++) {
		if (note[i] != '\n')
			continue;
		if (i == start)
			return (FERRY_EMALFORMED);	/* empty line */
		if (k < 3) {
			line[k] = note + start;
			linelen[k] = i - start;
		}
		k++;
		start = i + 1;
	}
	if (k < 3)
		return (FERRY_EMALFORMED);
	if (linelen[0] > NOTE_NAME_MAX)
		return (FERRY_ETOOBIG);
	memcpy(cp->origin, line[0], linelen[0]);
	cp->origin[linelen[0]] = '\0';
	if (ferry_parse_dec((const char *)line[1], linelen[1],
	    &cp->size) != 0)
		return (FERRY_EBADVALUE);
	if (b64dec(line[2], linelen[2], root, sizeof(root), &rootlen) != 0 ||
	    rootlen != 32)
		return (FERRY_EBADVALUE);
	memcpy(cp->root, root, 32);
	cp->text_len = textlen;
	cp->ext_lines = k - 3;
	cp->nsigs = (size_t)n;
	return (0);
}

/* Append ${n} bytes to a growing buffer; -1 if out of room. */
static int
put(uint8_t *buf, size_t cap, size_t *off, const void *p, size_t n)
{

	if (n > cap - *off)
		return (-1);
	memcpy(buf + *off, p, n);
	*off += n;
	return (0);
}

/* Append a signature line "— name base64(bytes)\n". */
static int
put_sigline(uint8_t *buf, size_t cap, size_t *off, const char *name,
    const uint8_t *sig, size_t siglen)
{
	char b64[sodium_base64_ENCODED_LEN(SIG_MAX,
	    sodium_base64_VARIANT_ORIGINAL)];

	sodium_bin2base64(b64, sizeof(b64), sig, siglen,
	    sodium_base64_VARIANT_ORIGINAL);
	if (put(buf, cap, off, EMDASH, EMDASH_LEN) || put(buf, cap, off,
	    name, strlen(name)) || put(buf, cap, off, " ", 1) ||
	    put(buf, cap, off, b64, strlen(b64)) ||
	    put(buf, cap, off, "\n", 1))
		return (-1);
	return (0);
}

/* Signatures made and checked by this process (note_counts). */
static uint64_t n_signs, n_verifies;

/** note_counts(signs, verifies): checkpoint signatures made and note signatures checked. */
void
note_counts(uint64_t *signs, uint64_t *verifies)
{

	if (signs != NULL)
		*signs = __atomic_load_n(&n_signs, __ATOMIC_RELAXED);
	if (verifies != NULL)
		*verifies = __atomic_load_n(&n_verifies, __ATOMIC_RELAXED);
}

/** note_sign_checkpoint(origin, size, root, sk, out, len): a signed checkpoint. */
int
note_sign_checkpoint(const char *origin, uint64_t size,
    const uint8_t root[32], const uint8_t *sk, uint8_t **out, size_t *len)
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	uint8_t sig[4 + crypto_sign_BYTES];
	uint8_t *buf;
	size_t cap = NOTE_MAX, off;
	int n;

	if (!name_valid(origin))
		return (FERRY_EINVAL);
	if ((buf = malloc(cap)) == NULL)
		return (FERRY_ENOMEM);
	sodium_bin2base64(b64, sizeof(b64), root, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	n = snprintf((char *)buf, cap, "%s\n%llu\n%s\n", origin,
	    (unsigned long long)size, b64);
	if (n < 0 || (size_t)n >= cap)
		goto einval;
	off = (size_t)n;
	/* key id from the public half stored in the secret key */
	note_keyid(origin, NOTE_TYPE_ED25519, sk + 32, sig);
	(void)__atomic_fetch_add(&n_signs, 1, __ATOMIC_RELAXED);
	if (crypto_sign_detached(sig + 4, NULL, buf, off, sk) != 0) {
		free(buf);
		return (FERRY_ESODIUM);
	}
	if (put(buf, cap, &off, "\n", 1) ||
	    put_sigline(buf, cap, &off, origin, sig, sizeof(sig)))
		goto einval;
	*out = buf;
	*len = off;
	return (0);

einval:
	free(buf);
	return (FERRY_EINVAL);
}

/* Find the lines of key (name, type, pk) and verify them all. */
static int
verify_lines(const uint8_t *note, size_t len, const char *name,
    uint8_t type, const uint8_t pk[32], uint64_t *time_s)
{
	struct sigline *s;
	uint8_t *m;
	char hdr[64];
	uint8_t id[4];
	size_t textlen, off;
	uint64_t t;
	int n, found = 0, good = 0, bad = 0, i, hl;

	if ((n = split_note(note, len, &textlen)) < 0)
		return (n);
	if ((s = malloc(sizeof(*s))) == NULL)
		return (FERRY_ENOMEM);
	note_keyid(name, type, pk, id);
	off = textlen + 1;
	while (next_sig(note, len, &off, s)) {
		if (s->namelen != strlen(name) ||
		    memcmp(s->name, name, s->namelen) != 0 ||
		    memcmp(s->sig, id, 4) != 0)
			continue;	/* unknown key: ignored */
		found = 1;
		(void)__atomic_fetch_add(&n_verifies, 1, __ATOMIC_RELAXED);
		if (type == NOTE_TYPE_ED25519) {
			if (s->siglen == 4 + crypto_sign_BYTES &&
			    crypto_sign_verify_detached(s->sig + 4, note,
			    textlen, pk) == 0)
				good = 1;
			else {
				bad = 1;
				break;
			}
		} else {
			bad = 1;
			if (s->siglen != 4 + 8 + crypto_sign_BYTES)
				break;
			for (t = 0, i = 0; i < 8; i++)
				t = (t << 8) | s->sig[4 + i];
			if (t > INT64_MAX)
				break;
			hl = snprintf(hdr, sizeof(hdr),
			    "cosignature/v1\ntime %llu\n",
			    (unsigned long long)t);
			if (hl < 0 || (size_t)hl >= sizeof(hdr))
				break;
			if ((m = malloc((size_t)hl + textlen)) == NULL) {
				free(s);
				return (FERRY_ENOMEM);
			}
			memcpy(m, hdr, (size_t)hl);
			memcpy(m + hl, note, textlen);
			if (crypto_sign_verify_detached(s->sig + 12, m,
			    (size_t)hl + textlen, pk) == 0) {
				good = 1;
				if (time_s != NULL)
					*time_s = t;
			} else
				good = 0;
			free(m);
			if (!good)
				break;
			bad = 0;
		}
	}
	free(s);
	if (!found)
		return (FERRY_ENOENT);
	if (bad || !good)
		return (FERRY_EBADSIG);
	return (0);
}

/** note_verify(note, len, name, pk): check an Ed25519 note signature. */
int
note_verify(const uint8_t *note, size_t len, const char *name,
    const uint8_t pk[32])
{

	return (verify_lines(note, len, name, NOTE_TYPE_ED25519, pk, NULL));
}

/** note_verify_cosig(note, len, name, pk, time_s): check a cosignature/v1. */
int
note_verify_cosig(const uint8_t *note, size_t len, const char *name,
    const uint8_t pk[32], uint64_t *time_s)
{

	return (verify_lines(note, len, name, NOTE_TYPE_COSIG_V1, pk,
	    time_s));
}

/** note_cosign(note, len, name, sk, time_s, out, outlen): add a cosignature. */
int
note_cosign(const uint8_t *note, size_t len, const char *name,
    const uint8_t *sk, uint64_t time_s, uint8_t **out, size_t *outlen)
{
	struct note_checkpoint cp;
	uint8_t sig[4 + 8 + crypto_sign_BYTES];
	uint8_t *m, *buf;
	size_t off;
	int hl, rc, i;

	if (!name_valid(name) || time_s > INT64_MAX)
		return (FERRY_EINVAL);
	if ((rc = note_parse_checkpoint(note, len, &cp)) != 0)
		return (rc);
	if ((m = malloc(64 + cp.text_len)) == NULL)
		return (FERRY_ENOMEM);
	hl = snprintf((char *)m, 64, "cosignature/v1\ntime %llu\n",
	    (unsigned long long)time_s);
	if (hl < 0 || hl >= 64) {
		free(m);
		return (FERRY_EINTERNAL);
	}
	memcpy(m + hl, note, cp.text_len);
	note_keyid(name, NOTE_TYPE_COSIG_V1, sk + 32, sig);
	for (i = 0; i < 8; i++)
		sig[4 + i] = (uint8_t)(time_s >> (56 - 8 * i));
	rc = crypto_sign_detached(sig + 12, NULL, m, (size_t)hl + cp.text_len,
	    sk);
	free(m);
	if (rc != 0)
		return (FERRY_ESODIUM);
	if ((buf = malloc(NOTE_MAX)) == NULL)
		return (FERRY_ENOMEM);
	off = 0;
	if (put(buf, NOTE_MAX, &off, note, len) ||
	    put_sigline(buf, NOTE_MAX, &off, name, sig, sizeof(sig))) {
		free(buf);
		return (FERRY_ETOOBIG);
	}
	*out = buf;
	*outlen = off;
	return (0);
}
