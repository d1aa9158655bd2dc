/*
 * ferry-keys: identities and the partner roster (DESIGN.md, "Identities
 * and keys", "The partner roster"; docs/onboarding.md is the admin's
 * guide).  Exit status: 0 success, 1 failure (including a roster that does
 * not verify), 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "kinit.h"
#include "kroster.h"
#include "kutil.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *synopsis;
	const char *what;
} cmds[] = {
	{ "init", kinit_agency, "init --id ID --kind KIND --name NAME --out DIR "
	    "[--passphrase-file F] [--validity DAYS]",
	    "make an agency's keys and key request" },
	{ "admin-init", kinit_admin, "admin-init --name NAME --out DIR "
	    "[--passphrase-file F]", "make an admin's signing key" },
	{ "relay-init", kinit_relay, "relay-init [--id ID] [--name NAME] "
	    "--out DIR [--passphrase-file F]", "make the relay's keys" },
	{ "roster", kroster_main, "roster new|add|revoke|rotate|admins|sign|"
	    "verify|show ...", "make, sign, check and show roster versions" },
	{ "fingerprint", kinit_fingerprint, "fingerprint [--passphrase-file F] "
	    "FILE",
	    "fingerprint of a key file, key request or roster" },
};

static void
usage(void)
{
	size_t i;

	fprintf(stderr, "usage: ferry-keys COMMAND ...\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(stderr, "  %-12s %s\n       ferry-keys %s\n",
		    cmds[i].name, cmds[i].what, cmds[i].synopsis);
	fprintf(stderr, "roster commands:\n");
	kroster_usage();
	fprintf(stderr, "Passphrases are read from --passphrase-file, "
	    "$FERRY_PASSPHRASE, or the terminal; never from arguments.\n");
}

int
main(int argc, char **argv)
{
	size_t i;

	if (sodium_init() < 0) {
		fprintf(stderr, "ferry-keys: sodium_init failed\n");
		return (KUTIL_FAIL);
	}
	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		usage();
		return (KUTIL_USAGE);
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return (cmds[i].fn(argc - 1, argv + 1));
	fprintf(stderr, "ferry-keys: unknown command: %s\n", argv[1]);
	usage();
	return (KUTIL_USAGE);
}
