/*
 * kroster.h: "ferry-keys roster ..." subcommands: new, add, revoke,
 * rotate, admins, sign, verify, show.
 */
#ifndef KROSTER_H
#define KROSTER_H

/** kroster_main(argc, argv): dispatch on argv[1] ("new", "add", ...); returns an exit code. */
int kroster_main(int argc, char **argv);

/** kroster_usage(): print the roster subcommands' synopsis to stderr. */
void kroster_usage(void);

#endif
