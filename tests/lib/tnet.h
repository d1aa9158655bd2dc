/*
 * tnet.h: the parties of the test network shared by the fixtures of
 * tagentd.c (the agent core's tests) and trelay.c (the relay's batch
 * tests): an admin, a relay and three agencies, and the temporary folder
 * their files go in.  They are defined once, in tnet.c: both fixtures are
 * in libtest.a, where a name defined twice would not link.  Each
 * fixture's setup (setup_net, setup) makes them its own way, and each
 * test file's main() frees them.
 */
#ifndef FERRY_TNET_H
#define FERRY_TNET_H

#include "ident.h"

#define DAY (24ULL * 3600 * 1000)

extern struct ident *admin, *relay, *alpha, *bravo, *charlie;
extern char dir[512];

/** tnet_free(): free the five parties (a test file's main, at its end). */
void tnet_free(void);

#endif
