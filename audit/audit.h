/*
 * audit.h: shared pieces of ferry-audit (one file per subcommand).
 */
#ifndef FERRY_AUDIT_H
#define FERRY_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

struct roster;

#define AUDIT_ROUTES_MAX 8	/* LOG_ROUTE entries kept per message (the last overwrites) */
#define AUDIT_RELAYS_MAX 16	/* distinct relays a party's log names */

/* Per message id: which kinds were seen, and the facts compare needs. */
struct msgrec {
	uint8_t id[FERRY_MSGID_LEN];
	uint32_t kinds;			/* bit k set: kind k logged */
	uint64_t first;			/* lowest index with this id */
	uint8_t env_hash[32];		/* of the first SENT/RECEIVED/ACCEPTED */
	uint8_t has_hash;
	uint8_t used;
	uint32_t from, to;		/* interned agency ids (audit_intern) */
	uint64_t t[LOG_KIND_MAX + 1];	/* time (ms) of the first entry of each kind */
	/* A sender's routing (LOG_ROUTE, in log order): relays (interned ids) and reasons (LOG_ROUTE_*). */
	uint32_t route[AUDIT_ROUTES_MAX];
	uint8_t route_code[AUDIT_ROUTES_MAX];
	uint8_t nroutes;
	/* The relays that signed the custody receipts logged with ACCEPTED
	 * (interned), in log order: one per relay a resent message went
	 * through; the last is its current custodian. */
	uint32_t custody[AUDIT_ROUTES_MAX];
	uint8_t ncustody;
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

/** audit_party(origin): the party id of an origin "ferry/<id>" (what the
 * daemons write); "" for any other origin (then it names no party). */
const char *audit_party(const char *origin);

/**
 * audit_open(dir, out): open the log in ${dir} read-only into *${out}, or
 * say on stderr why not (a folder this user may not read: whose it is,
 * and to audit a copy) and return its FERRY_E* code.
 */
int audit_open(const char *dir, struct log **out);

/** msgrec_note(r, idx, e): record entry ${idx} ${e} of ${r}'s message: its kind, time, first index, envelope hash, sender, recipient. */
int msgrec_note(struct msgrec *r, uint64_t idx, const struct log_entry *e);

/**
 * audit_operands(argc, argv, names): after getopt, exactly the operands
 * ${names} ("LOGDIR MSGID": one word each).  -1 if so, else a usage
 * error naming the first one missing, or the first one too many (2).
 */
int audit_operands(int argc, char **argv, const char *names);

/** audit_progress(dir, done, total): on a terminal stderr, at most twice a second, how far a walk of ${dir} has come; done == total ends the line. */
void audit_progress(const char *dir, uint64_t done, uint64_t total);

/** audit_age(buf, cap, ms): a duration for people: "350 ms", "42 s", "3 min 5 s", "2 h 10 min", "4 d 3 h". */
char *audit_age(char *buf, size_t cap, uint64_t ms);

/**
 * audit_check_cp(l, note, len, pk, prev_size, prev_root, bad, why, cap):
 * one checkpoint of ${l}'s own: it parses, names ${l}'s origin, is signed
 * by ${pk}, names a size ${l} has, its root is ${l}'s at that size, and
 * (${prev_size} not NULL) it is consistent with the previous one, which it
 * then becomes.  0, or -1 with the reason in ${why} and the entry it points
 * at in *${bad} (UINT64_MAX when none).
 */
int audit_check_cp(struct log *l, const uint8_t *note, size_t len,
    const uint8_t pk[32], uint64_t *prev_size, uint8_t prev_root[32],
    uint64_t *bad, char *why, size_t cap);

/* A checkpoint of another party held in a log (CHECKPOINT entries, and the
 * notes carried in the RECEIPT and ACCEPTED envelopes logged whole). */
struct held {
	char origin[LOG_ORIGIN_MAX + 1];
	uint64_t idx, time;
	uint32_t kind;			/* the entry that carried it */
	uint8_t *note;
	size_t len;
};

/* A ROSTER or ERASURE entry, for the report. */
struct event {
	uint64_t idx, time, version;
	uint32_t kind, from;		/* from: interned authoriser */
	int32_t code;
	uint8_t msg_id[FERRY_MSGID_LEN], hash[32];
};

/* One party's log, loaded for compare and report. */
struct party {
	const char *dir;
	struct log *l;
	const char *self;		/* party id: the origin's "ferry/<id>" */
	int relay;
	uint8_t pk[32];
	uint64_t size;
	struct msgtab t;
	struct held *held;
	size_t nheld, capheld;
	struct event *ev;
	size_t nev, capev;
	uint32_t relays[AUDIT_RELAYS_MAX];	/* relays named by its LOG_ROUTE entries and custody receipts (interned) */
	size_t nrelays;
	size_t known_relays;		/* relays known to exist: the most one --roster lists, or (report) the relay logs given */
	char why[200];			/* party_open failed: why */
	int tree_done, tree_rc;		/* party_tree: checked, its result */
	uint64_t tree_bad;		/* ... and the first bad entry */
};

/**
 * party_tree(p, bad): log_check of ${p}'s log, once (cached): 0, or its
 * error with the first bad entry in *${bad}.  Its stored hashes stand
 * for its entries (log_root, checkpoints held of it) only when 0.
 */
int party_tree(struct party *p, uint64_t *bad);

/**
 * party_open(p, dir, keyarg, rosters, nrosters): open and load ${dir};
 * its key from ${keyarg} (audit_key_arg) or else the one stored in the
 * log.  -1 after saying why on stderr.
 */
int party_open(struct party *p, const char *dir, const char *keyarg,
    struct roster *const *rosters, size_t nrosters);
void party_close(struct party *p);

/* A finding of compare: missing (a discrepancy) or in flight. */
struct finding {
	int missing;
	int has_id;
	uint8_t id[FERRY_MSGID_LEN];
	uint64_t since;			/* in flight: since when (ms); else 0 */
	char what[320];
};

struct findings {
	struct finding *f;
	size_t n, cap, nmissing, ninflight;
};

/* What compare found between two parties. */
struct pairsum {
	size_t between;		/* messages concerning both */
	size_t done;		/* of those: finished (receipt / NACK / expiry) */
	size_t held_ab, good_ab;	/* checkpoints of b held by a; of them verified */
	size_t held_ba, good_ba;
};

/** audit_compare(a, b, f, s): account for ${a}'s and ${b}'s messages in each other's log; findings appended to ${f}. */
int audit_compare(struct party *a, struct party *b, struct findings *f,
    struct pairsum *s);

/** audit_custodian(r, y): 1 if relay ${y} signed a custody receipt of ${r}. */
int audit_custodian(const struct msgrec *r, const char *y);

/**
 * audit_carried(r, y): 1 if an agency's message ${r} went through relay
 * ${y} (a LOG_ROUTE to it, or a custody receipt signed by it), or if
 * its log names no relay for it (a log from before several relays);
 * else 0.
 */
int audit_carried(const struct msgrec *r, const char *y);

/** audit_route_reason(code): a LOG_ROUTE reason as a word ("first", "no-accepted", ...). */
const char *audit_route_reason(int32_t code);
void findings_free(struct findings *f);

/** audit_key_is_id(arg, rosters, n): does --key ${arg} name a party by
 * its id, looked up in the newest of ${rosters} (audit_key_arg)? */
int audit_key_is_id(const char *arg, struct roster *const *rosters,
    size_t n);

/**
 * audit_key_arg(arg, rosters, n, pk): a public signing key given as 64 hex
 * digits, a file of them (or 32 raw bytes), a key request file, or an
 * agency (or relay) id looked up in the newest of ${rosters}.  0, or -1
 * after saying on stderr why not.
 */
int audit_key_arg(const char *arg, struct roster *const *rosters, size_t n,
    uint8_t pk[32]);

/** audit_load_rosters(files, n, out): parse each roster file; -1 after saying why. */
int audit_load_rosters(const char *const *files, size_t n, struct roster **out);

/** audit_roster_cmp(a, b): qsort order of struct roster * by version. */
int audit_roster_cmp(const void *a, const void *b);

int cmd_verify(int argc, char **argv);
int cmd_prove(int argc, char **argv);
int cmd_check_proof(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_tree(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
