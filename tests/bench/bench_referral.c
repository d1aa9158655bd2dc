/*
 * bench_referral.c: CPU time per call of the referral conversions an agent
 * makes for every referral (issue 10): referral_json_to_wire_at (the
 * sender: JSON text -> validated canonical msgpack) and
 * referral_wire_to_json_at (the recipient: msgpack -> validated, with its
 * JSON text as a spool inbox file needs, or only checked as the receive
 * path without a spool folder does).
 *
 * Documents: tests/vectors/referrals/nrm-adult-labour.json (the document
 * of the end-to-end bench), health-charity-to-nhs.json (one small
 * attachment), and nrm-adult-labour.json with a 64 KiB attachment added.
 * The vectors are found from the program's own path
 * (BUILD/bench/bench_referral -> the tree three levels up) or the current
 * directory.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ferry.h"
#include "referral.h"

/* Inside the vectors' window (their dates are not in the future). */
#define NOW 1795867200000ULL
#define MIN_SECONDS 0.4		/* per measurement */
#define MAX_ITERS 200000
#define BIG_ATTACH (64 * 1024)

static double
now_s(void)
{
	struct timespec ts;

	/* CPU time of this (single-threaded) process: other work on the
	 * machine then hardly moves the figures. */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

struct doc {
	const char *label;
	char *json;
	size_t len;
	uint8_t *wire;
	size_t wlen;
};

/* Run ${fn} until MIN_SECONDS pass (or MAX_ITERS); microseconds per op. */
static double
measure(int (*fn)(const struct doc *), const struct doc *d)
{
	double t0, t;
	long n = 0;

	if (fn(d) != 0)	/* warm up, and a failure is reported */
		return (-1);
	t0 = now_s();
	do {
		if (fn(d) != 0)
			return (-1);
		n++;
		t = now_s();
	} while (t - t0 < MIN_SECONDS && n < MAX_ITERS);
	return ((t - t0) / (double)n * 1e6);
}

static int
to_wire(const struct doc *d)
{
	uint8_t *w;
	size_t wl;
	int rc;

	rc = referral_json_to_wire_at(d->json, d->len, NOW, &w, &wl, NULL, 0,
	    NULL);
	free(w);
	return (rc);
}

static int
to_json(const struct doc *d)
{
	char *j = NULL;
	int rc;

	rc = referral_wire_to_json_at(d->wire, d->wlen, NOW, &j, NULL, 0,
	    NULL);
	free(j);
	return (rc);
}

static int
check_wire(const struct doc *d)
{
	struct referral_info info;

	return (referral_wire_to_json_at(d->wire, d->wlen, NOW, NULL, NULL, 0,
	    &info));
}

static char *
slurp(const char *dir, const char *name, size_t *len)
{
	char path[PATH_MAX];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/tests/vectors/referrals/%s", dir,
	    name);
	if ((f = fopen(path, "rb")) == NULL)
		return (NULL);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) ==
	    NULL) {
		fclose(f);
		return (NULL);
	}
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return (buf);
}

/* ${src} with an "attachments" member of ${n} bytes of data added. */
static char *
with_attachment(const char *src, size_t n, size_t *outlen)
{
	static const char head[] = ",\n  \"attachments\": [{\"name\": "
	    "\"scan.pdf\", \"media_type\": \"application/pdf\", "
	    "\"data_base64\": \"";
	static const char tail[] = "\"}]\n}\n";
	size_t b64 = sodium_base64_ENCODED_LEN(n,
	    sodium_base64_VARIANT_ORIGINAL);
	const char *end = strrchr(src, '}');
	uint8_t *data;
	char *out, *p;
	size_t i;

	if (end == NULL || (data = malloc(n)) == NULL)
		return (NULL);
	for (i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 131u + 7u);
	/* The member goes after the last value, before the closing brace. */
	while (end > src && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	if ((out = malloc((size_t)(end - src) + sizeof(head) + b64 +
	    sizeof(tail))) == NULL) {
		free(data);
		return (NULL);
	}
	p = out;
	memcpy(p, src, (size_t)(end - src));
	p += end - src;
	memcpy(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	sodium_bin2base64(p, b64, data, n, sodium_base64_VARIANT_ORIGINAL);
	p += b64 - 1;
	memcpy(p, tail, sizeof(tail));
	*outlen = (size_t)(p - out) + sizeof(tail) - 1;
	free(data);
	return (out);
}

/* The tree's root: the directory three levels above the program's
 * (BUILD/bench/), else ".". */
static void
find_root(const char *argv0, char *root, size_t cap)
{
	char real[PATH_MAX], *s;
	int i;

	snprintf(root, cap, ".");
	if (realpath(argv0, real) == NULL)
		return;
	for (i = 0; i < 4; i++) {
		if ((s = strrchr(real, '/')) == NULL)
			return;
		*s = '\0';
	}
	snprintf(root, cap, "%s", real);
}

int
main(int argc, char **argv)
{
	static const char *const names[] = { "nrm-adult-labour.json",
	    "health-charity-to-nhs.json" };
	struct doc docs[3];
	char root[PATH_MAX], err[REFERRAL_ERR_MAX];
	double a, b, c;
	size_t i;
	int rc;

	if (sodium_init() < 0)
		return (1);
	find_root(argc > 0 ? argv[0] : ".", root, sizeof(root));
	memset(docs, 0, sizeof(docs));
	for (i = 0; i < 2; i++) {
		docs[i].label = names[i];
		if ((docs[i].json = slurp(root, names[i], &docs[i].len)) ==
		    NULL && (docs[i].json = slurp(".", names[i],
		    &docs[i].len)) == NULL) {
			fprintf(stderr, "bench_referral: cannot read "
			    "tests/vectors/referrals/%s under %s or the "
			    "current directory: run it from the source tree "
			    "(make bench)\n", names[i], root);
			return (1);
		}
	}
	docs[2].label = "nrm-adult-labour.json + 64 KiB attachment";
	if ((docs[2].json = with_attachment(docs[0].json, BIG_ATTACH,
	    &docs[2].len)) == NULL) {
		fprintf(stderr, "bench_referral: out of memory\n");
		return (1);
	}
	printf("referral conversions, CPU us per call (NOW fixed, "
	    "single thread)\n");
	printf("  %-44s %8s %8s %12s %12s %12s\n", "document", "json B",
	    "wire B", "json_to_wire", "wire_to_json", "wire check");
	for (i = 0; i < 3; i++) {
		if ((rc = referral_json_to_wire_at(docs[i].json, docs[i].len,
		    NOW, &docs[i].wire, &docs[i].wlen, err, sizeof(err),
		    NULL)) != 0) {
			fprintf(stderr, "bench_referral: %s: %s\n",
			    docs[i].label, err);
			return (1);
		}
		a = measure(to_wire, &docs[i]);
		b = measure(to_json, &docs[i]);
		c = measure(check_wire, &docs[i]);
		if (a < 0 || b < 0 || c < 0) {
			fprintf(stderr, "bench_referral: %s: a conversion "
			    "failed while measured\n", docs[i].label);
			return (1);
		}
		printf("  %-44s %8zu %8zu %12.2f %12.2f %12.2f\n",
		    docs[i].label, docs[i].len, docs[i].wlen, a, b, c);
	}
	printf("  (wire_to_json: with the JSON text, as for a spool inbox "
	    "file; wire check: json_out NULL, as the receive path without a "
	    "spool folder)\n");
	for (i = 0; i < 3; i++) {
		free(docs[i].json);
		free(docs[i].wire);
	}
	return (0);
}
