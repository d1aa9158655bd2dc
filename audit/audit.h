/*
 * audit.h: shared pieces of ferry-audit (one file per subcommand).
 */
#ifndef FERRY_AUDIT_H
#define FERRY_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

/* Per message id: which kinds were seen, and the facts compare needs. */
struct msgrec {
	uint8_t id[FERRY_MSGID_LEN];
	uint32_t kinds;			/* bit k set: kind k logged */
	uint64_t first;			/* lowest index with this id */
	uint8_t env_hash[32];		/* of the first SENT/RECEIVED/ACCEPTED */
	uint8_t has_hash;
	uint8_t used;
	uint32_t from, to;		/* interned agency ids (audit_intern) */
};

struct msgtab {
	struct msgrec *r;
	size_t cap, n;
};

int msgtab_init(struct msgtab *t);
void msgtab_free(struct msgtab *t);
/** msgtab_get(t, id, create): the record of ${id}, or NULL (absent / no memory). */
struct msgrec *msgtab_get(struct msgtab *t, const uint8_t id[16], int create);

/** audit_intern(s): a small number for the agency id ${s} (same id, same number); UINT32_MAX if out of memory. */
uint32_t audit_intern(const char *s);

/** audit_name(n): the agency id interned as ${n}. */
const char *audit_name(uint32_t n);

/** audit_read_key(arg, pk): ${arg} is 64 hex digits or a file holding them (or 32 raw bytes). */
int audit_read_key(const char *arg, uint8_t pk[32]);

/** audit_party(origin): the party id of an origin "ferry/<id>" (the last component). */
const char *audit_party(const char *origin);

/**
 * audit_open(dir, out): open the log in ${dir} read-only into *${out}, or
 * say on stderr why not (a folder this user may not read: whose it is,
 * and to audit a copy) and return its FERRY_E* code.
 */
int audit_open(const char *dir, struct log **out);

/** audit_load_tab(l, t): index every entry of ${l} by message id. */
int audit_load_tab(struct log *l, struct msgtab *t);

/**
 * audit_operands(argc, argv, names): after getopt, exactly the operands
 * ${names} ("LOGDIR MSGID": one word each).  -1 if so, else a usage
 * error naming the first one missing, or the first one too many (2).
 */
int audit_operands(int argc, char **argv, const char *names);

int cmd_verify(int argc, char **argv);
int cmd_prove(int argc, char **argv);
int cmd_check_proof(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_tree(int argc, char **argv);

#endif
