/*
 * kinit.h: ferry-keys subcommands that make identities (init, admin-init,
 * relay-init) and print fingerprints.  Each takes the argument vector
 * after the subcommand name's position (argv[0] is the subcommand) and
 * returns an exit code (kutil.h).
 */
#ifndef KINIT_H
#define KINIT_H

/** kinit_agency(argc, argv): ferry-keys init. */
int kinit_agency(int argc, char **argv);
/** kinit_admin(argc, argv): ferry-keys admin-init. */
int kinit_admin(int argc, char **argv);
/** kinit_relay(argc, argv): ferry-keys relay-init. */
int kinit_relay(int argc, char **argv);
/** kinit_fingerprint(argc, argv): ferry-keys fingerprint FILE. */
int kinit_fingerprint(int argc, char **argv);

#endif
