/*
 * tnet.c: the parties of the test network and their folder (tnet.h).
 */
#include "tnet.h"

struct ident *admin, *relay, *alpha, *bravo, *charlie;
char dir[512];
