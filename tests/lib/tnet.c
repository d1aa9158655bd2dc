/*
 * tnet.c: the parties of the test network and their folder (tnet.h).
 */
#include "tnet.h"

struct ident *admin, *relay, *alpha, *bravo, *charlie;
char dir[512];

void
tnet_free(void)
{

	ident_free(admin);
	ident_free(relay);
	ident_free(alpha);
	ident_free(bravo);
	ident_free(charlie);
	admin = relay = alpha = bravo = charlie = NULL;
}
