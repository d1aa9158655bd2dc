/*
 * kroster.h: "ferry-keys roster ..." subcommands: new, add, revoke,
 * rotate, admins, sign, verify, show.
 */
#ifndef KROSTER_H
#define KROSTER_H

#include "cli.h"

/** kroster_main(argc, argv): dispatch on argv[1] ("new", "add", ...); returns an exit code. */
int kroster_main(int argc, char **argv);

/** kroster_prog: the roster subcommands, for ferry-keys's help. */
extern const struct cli_prog kroster_prog;

#endif
