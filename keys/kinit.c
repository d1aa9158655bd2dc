/*
 * kinit.c: making identities and key requests, and fingerprints.
 *
 *   init --id ID --kind KIND --name NAME --out DIR [--passphrase-file F]
 *        [--validity DAYS]
 *   admin-init --name NAME --out DIR [--passphrase-file F]
 *   relay-init --id ID --out DIR [--name NAME] [--passphrase-file F]
 *   fingerprint FILE
 *
 * Each writes DIR/ID.key (mode 0600, refused if it exists) and the public
 * key request DIR/ID.request (DIR/NAME.pub for an admin), and prints the
 * identity's fingerprint for the out-of-band check.
 */
#include "kinit.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ferry.h"
#include "ident.h"
#include "kutil.h"
#include "roster.h"
#include "wire.h"

static int
make_identity(const char *prog, const char *id, uint32_t kind,
    const char *name, const char *dir, const char *ext,
    const char *passfile, uint64_t validity)
{
	char keypath[4096], reqpath[4096], fp[IDENT_FP_LEN];
	struct ident *ident = NULL;
	char *pass = NULL;
	uint8_t *req = NULL;
	size_t reqlen;
	uint64_t now = kutil_now();
	struct stat st;
	int rc, ret = KUTIL_FAIL;

	if (!ferry_id_valid(id, strlen(id))) {
		fprintf(stderr, "%s: id must be 1-64 of a-z, 0-9 and -: %s\n",
		    prog, id);
		return (KUTIL_USAGE);
	}
	/* Said here, before any key is made: the key request would refuse
	 * the name later, with a less helpful message. */
	if (name != NULL && !wire_text_ok((const uint8_t *)name,
	    strlen(name))) {
		fprintf(stderr, "%s: name must not contain control characters "
		    "(newline, tab, escape, ...) (%s)\n", prog,
		    ferry_errname(FERRY_EBADVALUE));
		return (KUTIL_USAGE);
	}
	if (kutil_path(keypath, sizeof(keypath), dir, id, ".key") != 0 ||
	    kutil_path(reqpath, sizeof(reqpath), dir, id, ext) != 0) {
		fprintf(stderr, "%s: path too long\n", prog);
		return (KUTIL_USAGE);
	}
	/* Not created here: where keys live is the operator's choice. */
	if (stat(dir, &st) != 0) {
		if (errno == ENOENT)
			fprintf(stderr, "%s: folder %s does not exist (create "
			    "it first: mkdir -m 0700 %s)\n", prog, dir, dir);
		else
			fprintf(stderr, "%s: folder %s: %s\n", prog, dir,
			    strerror(errno));
		return (KUTIL_FAIL);
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: %s is not a folder\n", prog, dir);
		return (KUTIL_FAIL);
	}
	if (access(keypath, F_OK) == 0 || access(reqpath, F_OK) == 0) {
		fprintf(stderr, "%s: %s or %s already exists; not replacing "
		    "keys\n", prog, keypath, reqpath);
		return (KUTIL_FAIL);
	}
	if ((rc = kutil_passphrase(passfile, 1, 1, &pass)) != 0) {
		kutil_pass_err(passfile, rc);
		return (KUTIL_FAIL);
	}
	if ((rc = ident_generate(id, kind, name, now, validity,
	    &ident)) != 0) {
		kutil_err("generating keys", rc);
		goto done;
	}
	if ((rc = roster_request_make(ident, now, &req, &reqlen)) != 0) {
		kutil_err("making the key request", rc);
		goto done;
	}
	if ((rc = ident_save(ident, keypath, pass)) != 0) {
		kutil_err(keypath, rc);
		goto done;
	}
	if ((rc = kutil_write_new(reqpath, req, reqlen, 0644)) != 0) {
		kutil_err(reqpath, rc);
		goto done;
	}
	roster_id_fingerprint(ident->id, ident->kind, ident->sign_pk, fp);
	printf("%s %s (%s)\n", ident_kind_name(ident->kind), ident->id,
	    ident->name);
	printf("secret key:  %s%s\n", keypath, pass != NULL ?
	    " (passphrase-sealed)" : "");
	printf("public file: %s\n", reqpath);
	printf("fingerprint: %s\n", fp);
	ret = KUTIL_OK;
done:
	free(req);
	ident_free(ident);
	kutil_passphrase_free(pass);
	return (ret);
}

static const struct option init_opts[] = {
	{ "id", required_argument, NULL, 'i' },
	{ "kind", required_argument, NULL, 'k' },
	{ "name", required_argument, NULL, 'n' },
	{ "out", required_argument, NULL, 'o' },
	{ "passphrase-file", required_argument, NULL, 'p' },
	{ "validity", required_argument, NULL, 'v' },
	CLI_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

static int
init_common(int argc, char **argv, uint32_t fixed_kind, const char *ext)
{
	const char *id = NULL, *kind = NULL, *name = NULL, *out = NULL;
	const char *passfile = NULL;
	uint64_t validity = 365 * KUTIL_DAY_MS;
	uint32_t k = fixed_kind;
	int c;

	while ((c = getopt_long(argc, argv, ":", init_opts, NULL)) != -1) {
		switch (c) {
		case 'i': id = optarg; break;
		case 'k': kind = optarg; break;
		case 'n': name = optarg; break;
		case 'o': out = optarg; break;
		case 'p': passfile = optarg; break;
		case 'v':
			if (kutil_days(optarg, &validity) != 0 ||
			    validity == 0)
				return (cli_usage("--validity must be a whole "
				    "number of days from 1 to 36600"));
			break;
		default:
			return (cli_opt_error(c, argv));
		}
	}
	if (optind != argc)
		return (cli_usage("unexpected argument '%s'", argv[optind]));
	if (fixed_kind == IDENT_ADMIN) {
		/* An admin is named by its id. */
		if (id != NULL || kind != NULL)
			return (cli_usage("an admin has no --id or --kind: "
			    "--name is its id"));
		id = name;
	} else if (fixed_kind == IDENT_RELAY) {
		if (kind != NULL)
			return (cli_usage("the relay has no --kind"));
		if (id == NULL)
			id = "relay";
		if (name == NULL)
			name = "Ferry relay";
	} else {
		if (id == NULL || kind == NULL)
			return (cli_usage("missing %s", id == NULL ? "--id ID" :
			    "--kind KIND"));
		if (ident_kind_parse(kind, &k) != 0 || k < IDENT_CHARITY ||
		    k > IDENT_OTHER)
			return (cli_usage("kind must be charity, police, "
			    "council, health or other"));
	}
	if (name == NULL || out == NULL)
		return (cli_usage("missing %s", name == NULL ? "--name NAME" :
		    "--out DIR"));
	return (make_identity("ferry-keys", id, k, name, out, ext, passfile,
	    validity));
}

int
kinit_agency(int argc, char **argv)
{

	return (init_common(argc, argv, 0, ".request"));
}

int
kinit_admin(int argc, char **argv)
{

	return (init_common(argc, argv, IDENT_ADMIN, ".pub"));
}

int
kinit_relay(int argc, char **argv)
{

	return (init_common(argc, argv, IDENT_RELAY, ".request"));
}

int
kinit_fingerprint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "passphrase-file", required_argument, NULL, 'p' },
		CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct roster_request q;
	struct roster *r = NULL;
	struct ident *ident = NULL;
	const char *passfile = NULL;
	char fp[IDENT_FP_LEN];
	uint8_t *buf = NULL;
	size_t len;
	int c, rc, sealed;

	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c != 'p')
			return (cli_opt_error(c, argv));
		passfile = optarg;
	}
	if (optind >= argc)
		return (cli_usage("missing FILE"));
	if (optind + 1 != argc)
		return (cli_usage("unexpected argument '%s'", argv[optind + 1]));
	/* A secret key file (only ever read into locked memory) ... */
	if ((sealed = ident_is_sealed(argv[optind])) >= 0) {
		if (kutil_load_ident(argv[optind], passfile, &ident) != 0)
			return (KUTIL_FAIL);
		roster_id_fingerprint(ident->id, ident->kind, ident->sign_pk,
		    fp);
		printf("%s\n", fp);
		ident_free(ident);
		return (KUTIL_OK);
	}
	/* ... or a public file: a roster or a key request. */
	if ((rc = kutil_read(argv[optind], ROSTER_MAX_BYTES, &buf,
	    &len)) != 0) {
		kutil_err(argv[optind], rc);
		return (KUTIL_FAIL);
	}
	if (roster_parse(buf, len, &r) == 0) {
		roster_fingerprint(r, fp);
		roster_free(r);
	} else if ((rc = roster_request_parse(buf, len, &q)) == 0) {
		roster_id_fingerprint(q.id, q.kind, q.sign_pk, fp);
	} else if (sealed == FERRY_EPERM && ident_is_keyfile(buf, len)) {
		/* A key file group or others may read: its mode is the
		 * problem, as ferry-keys says everywhere else. */
		kutil_err(argv[optind], FERRY_EPERM);
		free(buf);
		return (KUTIL_FAIL);
	} else {
		fprintf(stderr, "ferry-keys: %s: not a roster, key request or "
		    "key file (%s)\n", argv[optind], ferry_strerror(rc));
		free(buf);
		return (KUTIL_FAIL);
	}
	free(buf);
	printf("%s\n", fp);
	return (KUTIL_OK);
}
