/*
 * proof.c: ferry-audit prove / check-proof.  A proof file, after C2SP
 * tlog-proof (docs/protocol.md "Proof files"):
 *
 *     c2sp.org/tlog-proof@v1
 *     extra <base64 of the entry's exact bytes>
 *     index <decimal leaf index>
 *     <base64 hash>            (one line per audit-path hash, leaf upward)
 *     <empty line>
 *     <signed checkpoint note>
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "cli.h"
#include "envelope.h"
#include "ferry.h"
#include "log.h"
#include "merkle.h"
#include "note.h"
#include "roster.h"

#define PROOF_HDR "c2sp.org/tlog-proof@v1\n"
#define PROOF_MAX (NOTE_MAX + 16384)

/* Why a note did not verify under the key given, for a person: a note
 * with no signature line of that key at all (FERRY_ENOENT, whose own
 * text speaks of files) was most likely signed by another party. */
static const char *
unsigned_why(int rc)
{

	if (rc == FERRY_ENOENT)
		return ("it carries no signature by that key (another party's "
		    "key, or the wrong --key?)");
	return (ferry_strerror(rc));
}

static void
put_b64(FILE *f, const uint8_t *b, size_t n)
{
	char *s;
	size_t sl = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);

	if ((s = malloc(sl)) == NULL)
		return;
	sodium_bin2base64(s, sl, b, n, sodium_base64_VARIANT_ORIGINAL);
	fputs(s, f);
	free(s);
}

static uint32_t
kind_by_name(const char *s)
{
	uint32_t k;

	for (k = 1; k <= LOG_KIND_MAX; k++)
		if (strcasecmp(s, log_kind_name(k)) == 0)
			return (k);
	return (0);
}

/* The kind names, ", " between them, into ${out}. */
static void
kind_names(char *out, size_t cap)
{
	size_t off = 0;
	uint32_t k;
	int n;

	out[0] = '\0';
	for (k = 1; k <= LOG_KIND_MAX; k++) {
		n = snprintf(out + off, cap - off, "%s%s", k > 1 ? ", " : "",
		    log_kind_name(k));
		if (n < 0 || (size_t)n >= cap - off)
			break;
		off += (size_t)n;
	}
}

/*
 * prove --receipt: the receipt held whole in entry ${idx} (its aux: the
 * relay's custody receipt or the recipient's delivery receipt, as the
 * party received it) to stdout, for check-proof.  0 or 1.
 */
static int
put_receipt(struct log *l, uint64_t idx)
{
	struct log_entry e;
	int rc;

	if ((rc = log_get(l, idx, &e)) != 0) {
		fprintf(stderr, "ferry-audit: reading entry %llu: %s\n",
		    (unsigned long long)idx, ferry_strerror(rc));
		return (1);
	}
	if (e.aux_len == 0) {
		fprintf(stderr, "ferry-audit: entry %llu (%s) holds no receipt "
		    "(the receipts a party issued are not kept whole in its "
		    "own log: take it from the log of the party that received "
		    "it, or prove this entry without --receipt)\n",
		    (unsigned long long)idx, log_kind_name(e.kind));
		log_entry_clear(&e);
		return (1);
	}
	rc = fwrite(e.aux, 1, e.aux_len, stdout) == e.aux_len &&
	    fflush(stdout) == 0 ? 0 : 1;
	log_entry_clear(&e);
	return (rc);
}

int
cmd_prove(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "receipt", no_argument, NULL, 'r' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct log *l = NULL;
	struct note_checkpoint cp;
	uint8_t id[16], proof[LOG_PROOF_MAX][32], *note = NULL, *raw = NULL;
	size_t np, notelen, rawlen, i;
	uint64_t idx;
	uint32_t kind = 0;
	char kinds[256];
	int ch, rc, ret = 1, receipt = 0;

	while ((ch = getopt_long(argc, argv, ":k:", opts, NULL)) != -1) {
		if (ch == 'r') {
			receipt = 1;
			continue;
		}
		if (ch != 'k')
			return (cli_opt_error(ch, argv));
		if ((kind = kind_by_name(optarg)) == 0) {
			kind_names(kinds, sizeof(kinds));
			return (cli_usage("--kind must be one of %s (not '%s')",
			    kinds, optarg));
		}
	}
	if ((rc = audit_operands(argc, argv, "LOGDIR MSGID")) >= 0)
		return (rc);
	if (strlen(argv[optind + 1]) != 32 ||
	    ferry_unhex(id, 16, argv[optind + 1]) != 0)
		return (cli_usage("MSGID must be 32 hex digits, not '%s'",
		    argv[optind + 1]));
	if (receipt && kind == 0)
		kind = LOG_RECEIPT;
	if (receipt && kind != LOG_RECEIPT && kind != LOG_ACCEPTED)
		return (cli_usage("--receipt takes --kind RECEIPT or ACCEPTED"));
	if (audit_open(argv[optind], &l) != 0)
		goto out;
	if ((rc = log_find_msg(l, id, kind, &idx)) != 0) {
		fprintf(stderr, "ferry-audit: message %s: %s\n",
		    argv[optind + 1], ferry_strerror(rc));
		goto out;
	}
	if (receipt) {
		ret = put_receipt(l, idx);
		goto out;
	}
	if ((rc = log_checkpoint(l, &note, &notelen)) != 0 ||
	    (rc = note_parse_checkpoint(note, notelen, &cp)) != 0 ||
	    (rc = (idx < cp.size) ? 0 : FERRY_ENOENT) != 0 ||
	    (rc = log_prove_inclusion(l, idx, cp.size, proof, &np)) != 0 ||
	    (rc = log_get_raw(l, idx, &raw, &rawlen)) != 0) {
		fprintf(stderr, "ferry-audit: proving entry %llu: %s\n",
		    (unsigned long long)idx, ferry_strerror(rc));
		goto out;
	}
	fputs(PROOF_HDR "extra ", stdout);
	put_b64(stdout, raw, rawlen);
	printf("\nindex %llu\n", (unsigned long long)idx);
	for (i = 0; i < np; i++) {
		put_b64(stdout, proof[i], 32);
		putchar('\n');
	}
	putchar('\n');
	fwrite(note, 1, notelen, stdout);
	if (fflush(stdout) != 0)
		goto out;
	ret = 0;
out:
	free(note);
	free(raw);
	log_close(l);
	return (ret);
}

/* Next line of ${buf} from *${off}: start and length (without '\n'). */
static int
line(const uint8_t *buf, size_t len, size_t *off, const uint8_t **s,
    size_t *n)
{
	size_t i;

	for (i = *off; i < len && buf[i] != '\n'; i++)
		continue;
	if (i == len)
		return (-1);
	*s = buf + *off;
	*n = i - *off;
	*off = i + 1;
	return (0);
}

/* One line of canonical base64 (ferry_unbase64), not empty. */
static int
b64line(const uint8_t *s, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{

	if (n == 0 || ferry_unbase64(out, cap, (const char *)s, n,
	    outlen) != 0)
		return (-1);
	return (0);
}

/* What check-proof proved: the log, its size, entry ${idx} ${e}, OK. */
static void
print_proven(const struct note_checkpoint *cp, uint64_t idx,
    const struct log_entry *e)
{
	char hex[65], t[32];

	printf("log %s\nsize %llu\n", cp->origin, (unsigned long long)cp->size);
	ferry_hex(hex, e->msg_id, 16);
	printf("entry %llu %s msg %s time %s", (unsigned long long)idx,
	    log_kind_name(e->kind), hex, ferry_utc(t, sizeof(t), e->time_ms));
	if (e->from[0] != '\0')
		printf(" from %s", e->from);
	if (e->to[0] != '\0')
		printf(" to %s", e->to);
	ferry_hex(hex, e->env_hash, 32);
	printf(" env %s\nOK\n", hex);
}

/*
 * check-proof on a receipt envelope: a RECEIPT_P / ACCEPTED_P by its
 * proof, a signed RECEIPT / ACCEPTED by its signature, under ${pk}
 * (and the note's origin ${origin} if not NULL).  0 verified, 1 not
 * (said on stdout), -1 not a receipt at all.
 */
static int
check_receipt(const uint8_t *buf, size_t len, const uint8_t pk[32],
    const char *origin)
{
	struct note_checkpoint cp;
	struct log_entry le;
	struct env e;
	char hex[65];
	int rc;

	if (env_decode(buf, len, 0, &e) != 0 || (!ENV_IS_PROOF(e.type) &&
	    e.type != ENV_RECEIPT && e.type != ENV_ACCEPTED))
		return (-1);
	ferry_hex(hex, e.msg_id, 16);
	if (!ENV_IS_PROOF(e.type)) {
		if ((rc = env_verify(&e, pk)) != 0) {
			printf("FAILED: %s of message %s from %s: %s\n",
			    env_type_name(e.type), hex, e.from,
			    ferry_strerror(rc));
			return (1);
		}
		printf("%s of message %s from %s to %s log index %llu "
		    "(signed)\nOK\n", env_type_name(e.type), hex, e.from, e.to,
		    (unsigned long long)e.log_index);
		return (0);
	}
	if (note_parse_checkpoint(e.blob, e.blob_len, &cp) != 0) {
		printf("FAILED: the receipt's checkpoint does not parse\n");
		return (1);
	}
	if (origin != NULL && strcmp(origin, cp.origin) != 0) {
		printf("FAILED: checkpoint origin %s is not %s\n", cp.origin,
		    origin);
		return (1);
	}
	if ((rc = env_verify_proof(&e, pk, NULL)) != 0) {
		printf("FAILED: %s of message %s from %s does not prove its "
		    "entry %llu in the log %s of size %llu under the key: "
		    "%s\n", env_type_name(e.type), hex, e.from,
		    (unsigned long long)e.log_index, cp.origin,
		    (unsigned long long)cp.size, unsigned_why(rc));
		return (1);
	}
	(void)log_entry_decode(e.entry, e.entry_len, &le);
	printf("%s of message %s from %s to %s\n", env_type_name(e.type), hex,
	    e.from, e.to);
	print_proven(&cp, e.log_index, &le);
	return (0);
}

int
cmd_check_proof(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "origin", required_argument, NULL, 'o' },
		{ "roster", required_argument, NULL, 'r' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct note_checkpoint cp;
	struct log_entry e;
	const char *keyarg = NULL, *origin = NULL, *rfile = NULL;
	struct roster *ro = NULL;
	const uint8_t *s;
	uint8_t pk[32], *buf = NULL, *entry = NULL, leaf[32];
	uint8_t proof[LOG_PROOF_MAX][32];
	size_t len, off = 0, n, entlen, np = 0, hl;
	uint64_t idx;
	int ch, rc, ret = 1;

	while ((ch = getopt_long(argc, argv, ":k:o:r:", opts, NULL)) != -1) {
		if (ch == 'k')
			keyarg = optarg;
		else if (ch == 'o')
			origin = optarg;
		else if (ch == 'r')
			rfile = optarg;
		else
			return (cli_opt_error(ch, argv));
	}
	if (keyarg == NULL)
		return (cli_usage("missing --key KEY"));
	if ((rc = audit_operands(argc, argv, "FILE")) >= 0)
		return (rc);
	if ((rfile != NULL && audit_load_rosters(&rfile, 1, &ro) != 0) ||
	    audit_key_arg(keyarg, &ro, ro != NULL, pk) != 0)
		goto out;
	if (ferry_read_file(argv[optind], PROOF_MAX, &buf, &len, 0) != 0) {
		fprintf(stderr, "ferry-audit: cannot read %s\n", argv[optind]);
		goto out;
	}
	rc = -1;
	if (len < strlen(PROOF_HDR) || memcmp(buf, PROOF_HDR,
	    strlen(PROOF_HDR)) != 0) {
		/* Not a proof file: a receipt envelope (prove --receipt)? */
		if ((rc = check_receipt(buf, len, pk, origin)) < 0)
			goto bad;
		ret = rc;
		goto out;
	}
	off = strlen(PROOF_HDR);
	if (line(buf, len, &off, &s, &n) != 0 || n < 7 ||
	    memcmp(s, "extra ", 6) != 0 || (entry = malloc(n)) == NULL ||
	    b64line(s + 6, n - 6, entry, n, &entlen) != 0)
		goto bad;
	if (line(buf, len, &off, &s, &n) != 0 || n < 7 ||
	    memcmp(s, "index ", 6) != 0 ||
	    ferry_parse_dec((const char *)s + 6, n - 6, &idx) != 0)
		goto bad;
	for (;;) {
		if (line(buf, len, &off, &s, &n) != 0)
			goto bad;
		if (n == 0)
			break;
		if (np == LOG_PROOF_MAX || b64line(s, n, proof[np], 32,
		    &hl) != 0 || hl != 32)
			goto bad;
		np++;
	}
	if ((rc = note_parse_checkpoint(buf + off, len - off, &cp)) != 0)
		goto bad;
	if (origin != NULL && strcmp(origin, cp.origin) != 0) {
		printf("FAILED: checkpoint origin %s is not %s\n", cp.origin,
		    origin);
		goto out;
	}
	if ((rc = note_verify(buf + off, len - off, cp.origin, pk)) != 0) {
		printf("FAILED: checkpoint of %s not signed by the key: %s\n",
		    cp.origin, unsigned_why(rc));
		goto out;
	}
	merkle_leaf_hash(entry, entlen, leaf);
	if (merkle_verify_inclusion(leaf, idx, cp.size, cp.root, proof,
	    np) != 0) {
		printf("FAILED: entry %llu is not in the tree of size %llu "
		    "signed by %s\n", (unsigned long long)idx,
		    (unsigned long long)cp.size, cp.origin);
		goto out;
	}
	if (log_entry_decode(entry, entlen, &e) != 0) {
		printf("FAILED: the proven entry does not decode\n");
		goto out;
	}
	print_proven(&cp, idx, &e);
	ret = 0;
	goto out;

bad:
	printf("FAILED: %s is not a well-formed proof file\n", argv[optind]);
out:
	roster_free(ro);
	free(entry);
	free(buf);
	return (ret);
}
