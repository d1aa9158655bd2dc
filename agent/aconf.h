/*
 * aconf.h: ferry-agent's configuration: built-in defaults, then the INI
 * file (libinih, section [agent]), then command-line flags, then a
 * consistency check.  docs/agent.md lists every key.
 */
#ifndef FERRY_ACONF_H
#define FERRY_ACONF_H

#include <stdint.h>

#define ACONF_PATH_MAX 1024

struct aconf {
	char data[ACONF_PATH_MAX];	/* data folder (log/, store/, roster/, ...) */
	char key[ACONF_PATH_MAX];	/* the agency's secret key file (ident) */
	char passphrase_file[ACONF_PATH_MAX];	/* file holding the key passphrase, or "" */
	char roster[ACONF_PATH_MAX];	/* the install roster file (trust anchor) */
	char roster_pin[160];		/* its fingerprint (digits or 64 hex) */
	char relay[256];		/* first relay's endpoint; "" = the roster's */
	char relay_endpoints[2400];	/* "ID=ENDPOINT, ..." per relay id */
	char relay_choice[16];		/* "order" or "fastest" */
	uint64_t failover_ms;		/* no ACCEPTED so long: next relay */
	uint64_t resend_ms;		/* custody relay down so long: resend */
	uint64_t no_receipt_ms;		/* custody relay up, no RECEIPT so
					 * long: a copy through another */
	char spool[ACONF_PATH_MAX];	/* spool folder, or "" for none */
	int log_level;			/* ALOG_* */
	uint64_t credit;		/* delivery window W sent in HELLO */
	uint64_t heartbeat_ms;		/* application heartbeat when idle */
	uint64_t reconnect_ms;		/* ZMQ_RECONNECT_IVL */
	uint64_t reconnect_max_ms;	/* ZMQ_RECONNECT_IVL_MAX */
	uint64_t refused_backoff_ms;	/* first wait after the relay refused our key */
	uint64_t retry_ms;		/* first MSG retransmission delay */
	uint64_t retry_max_ms;		/* cap on the retransmission delay */
	uint64_t reask_ms;		/* first ASK after ACCEPTED */
	uint64_t reask_max_ms;		/* cap on the ASK delay */
	uint64_t spool_ms;		/* spool outbox scan interval */
	uint64_t metrics_ms;		/* metrics.prom rewrite interval */
	uint64_t linger_ms;		/* ZMQ_LINGER at shutdown */
	uint64_t max_body;		/* plaintext bytes accepted from a peer */
	uint64_t max_backlog;		/* undelivered per recipient; 0: no bound */
	char retention[256];		/* "referral:6y, response:6y", or "" */
};

/* Bounds of the durations handed to libzmq as an int of ms. */
#define ACONF_LINGER_MAX_MS 60000ULL		/* linger: 60s */
#define ACONF_RECONNECT_MAX_MS 3600000ULL	/* reconnect, reconnect_max: 1h */

#define ACONF_RET_MAX 4
#define ACONF_YEAR_MS 31557600000ULL	/* "y": 365.25 days */

/* One retention rule: messages of ${kind} are erased ${ms} after they
 * were sent or received; ${text} is the rule as written ("6y"). */
struct aconf_ret {
	char kind[16];
	uint64_t ms;
	char text[24];
};

/**
 * aconf_retention(s, r, n, err, errlen): parse the retention setting ${s}
 * ("KIND:DURATION, ..."; KIND referral or response, each at most once;
 * DURATION a number with a unit: d, h, or y = 365.25 days) into
 * ${r}[0..*${n}-1] (room for ACONF_RET_MAX).  0, or -1 with the reason.
 */
int aconf_retention(const char *s, struct aconf_ret *r, size_t *n,
    char *err, size_t errlen);

/**
 * aconf_relay_endpoint(s, id, out, cap): in relay_endpoints ${s}
 * ("ID=ENDPOINT, ..."), the endpoint given for relay ${id} into ${out}:
 * 1 if given, 0 if not.  aconf_relay_endpoints_next walks them all.
 */
int aconf_relay_endpoint(const char *s, const char *id, char *out,
    size_t cap);

/**
 * aconf_relay_endpoints_next(s, id, idcap, ep, epcap): the next
 * "ID=ENDPOINT" of ${s} into ${id} and ${ep}; returns the rest of ${s}
 * after it, NULL at the end, or "" with ${id} = "" for a malformed item
 * (ep holds it).
 */
const char *aconf_relay_endpoints_next(const char *s, char *id, size_t idcap,
    char *ep, size_t epcap);

/** aconf_defaults(c): fill ${c} with the built-in defaults. */
void aconf_defaults(struct aconf *c);

/**
 * aconf_load(c, path): read INI file ${path} (section [agent]) over ${c}.
 * Unknown sections or keys and bad values are errors: 0, or -1 after
 * printing one line naming the file and key to stderr.
 */
int aconf_load(struct aconf *c, const char *path);

/** aconf_set(c, key, value): set one key as in the file; 0 or ferry_conf_set's error (ferry_conf_why says it). */
int aconf_set(struct aconf *c, const char *key, const char *value);

/**
 * aconf_check(c, path): 0 if ${c} is complete and consistent, else -1
 * after printing one line naming what is missing or wrong (in ${path},
 * the configuration file, when not NULL) and how to set it.
 */
int aconf_check(const struct aconf *c, const char *path);

#endif
