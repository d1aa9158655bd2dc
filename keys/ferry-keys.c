/*
 * ferry-keys: identities and the partner roster (DESIGN.md, "Identities
 * and keys", "The partner roster"; docs/onboarding.md is the admin's
 * guide).  Exit status: 0 success, 1 failure (including a roster that does
 * not verify), 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "kinit.h"
#include "kroster.h"
#include "kutil.h"

static const struct cli_cmd cmds[] = {
	{ "init", kinit_agency, "--id ID --kind KIND --name NAME --out DIR "
	    "[--passphrase-file F] [--validity DAYS]",
	    "make an agency's keys and key request (KIND: charity, police, "
	    "council, health or other)", NULL },
	{ "admin-init", kinit_admin, "--name NAME --out DIR "
	    "[--passphrase-file F]", "make an admin's signing key", NULL },
	{ "relay-init", kinit_relay, "[--id ID] [--name NAME] --out DIR "
	    "[--passphrase-file F]", "make the relay's keys", NULL },
	{ "fingerprint", kinit_fingerprint, "[--passphrase-file F] FILE",
	    "fingerprint of a key file, key request or roster", NULL },
	{ "roster", kroster_main, "COMMAND ...", "make, sign, check and show "
	    "roster versions", &kroster_prog },
};

static const struct cli_prog prog = {
	"ferry-keys", "", cmds, sizeof(cmds) / sizeof(cmds[0]), NULL,
	"Passphrases are read from --passphrase-file, $FERRY_PASSPHRASE, or "
	"the terminal; never from arguments.\nExit status: 0 success, 1 "
	"failure (including a roster that does not verify), 2 usage."
};

int
main(int argc, char **argv)
{

	if (sodium_init() < 0) {
		fprintf(stderr, "ferry-keys: sodium_init failed\n");
		return (KUTIL_FAIL);
	}
	return (cli_main(&prog, argc, argv));
}
