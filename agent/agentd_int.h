/*
 * agentd_int.h: what the files of the agent's core (agentd.c,
 * agentd_roster.c, agentd_out.c, agentd_replies.c, agentd_in.c,
 * agentd_util.c, agentd_defer.c) share, not
 * for the daemon's other files (agentd.h is their interface).  Each part
 * names the file that defines it; agentd.h says which way calls go.
 */
#ifndef FERRY_AGENTD_INT_H
#define FERRY_AGENTD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "agentd.h"
#include "envelope.h"

/* ---- agentd_util.c ---- */

/** agentd_idhex(out, id): message id ${id} in hex (NUL-terminated). */
void agentd_idhex(char out[2 * FERRY_MSGID_LEN + 1],
    const uint8_t id[FERRY_MSGID_LEN]);

/** agentd_copy_str(dst, cap, s): ${s} into ${dst}, cut to fit ${cap}. */
void agentd_copy_str(char *dst, size_t cap, const char *s);

/** agentd_seterr(err, errlen, fmt, ...): ${fmt} of the arguments into ${err}. */
void agentd_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * agentd_free_plain(p, len): wipe and free ${p}, ${len} bytes of a
 * referral's plaintext (NULL: nothing), so that freed heap holds none.
 */
void agentd_free_plain(void *p, size_t len);

/** agentd_free_plain_str(s): agentd_free_plain of string ${s}. */
void agentd_free_plain_str(char *s);

/**
 * agentd_sidecar_is(path, hx): does ${path}.id, the sidecar of a sent
 * spool file, hold message id ${hx} (32 hex digits)?  1 yes, 0 it holds
 * something else, -1 there is none (or it cannot be read).
 */
int agentd_sidecar_is(const char *path, const char *hx);

/**
 * agentd_id_name(out, cap, name, hx): the name a sent spool file ${name}
 * gets when ${name} is taken: "<stem>.<hx><ext>" ("case-1.json" ->
 * "case-1.<hx>.json"; no extension: "<name>.<hx>").
 */
void agentd_id_name(char *out, size_t cap, const char *name, const char *hx);

/** agentd_crash_point(point): SIGKILL if FERRY_TEST_CRASH=${point}. */
void agentd_crash_point(const char *point);
/** agentd_point_hook: called at each crash point when set (unit tests). */
extern void (*agentd_point_hook)(const char *point);

/** agentd_fault_point(point): FERRY_ENOMEM if FERRY_TEST_FAULT=${point}. */
int agentd_fault_point(const char *point);


/** agentd_key_seal(a, key, out): seal ${key} with the storage key. */
int agentd_key_seal(struct agentd *a, const uint8_t key[32],
    uint8_t out[ASTORE_SEALED_LEN]);

/** agentd_key_unseal(a, in, key): open ${in} (agentd_key_seal). */
int agentd_key_unseal(struct agentd *a, const uint8_t in[ASTORE_SEALED_LEN],
    uint8_t key[32]);

/**
 * agentd_count_move(a, r, from, to): stored outgoing message ${r} went
 * from state ${from} (0: new) to ${to} (ASTORE_*): a->n_out follows, and
 * a->backlog (its recipient's undelivered messages: one more when it is
 * new, one fewer when it is delivered or failed).
 */
void agentd_count_move(struct agentd *a, const struct astore_out *r,
    uint32_t from, uint32_t to);

/**
 * agentd_backlog_check(a, to, urgency, extra, err, errlen): 0 if a new
 * message to ${to} may be stored now, or FERRY_EBACKLOG when our
 * undelivered messages to ${to} (plus ${extra} more of this group)
 * have reached conf.max_backlog (0: no bound), ${err} naming the
 * recipient, the backlog, its oldest age and what to do.  A referral of
 * ${urgency} "emergency" is never refused.
 */
int agentd_backlog_check(struct agentd *a, const char *to,
    const char *urgency, uint64_t extra, char *err, size_t errlen);

/** agentd_send_frame(a, link, buf, len): a frame to a->send if ${link} is up. */
int agentd_send_frame(struct agentd *a, int link, const uint8_t *buf,
    size_t len);

/** agentd_send_control(a, link, e): encode, sign and send ${e} on ${link} (to: its relay unless set). */
int agentd_send_control(struct agentd *a, int link, struct env *e);

/**
 * agentd_reply_link(a): where a RECEIPT, NACK or CREDIT goes: the link
 * the frames at hand came by (a->cur_link) if up, else the first link
 * up; -1 if none is.
 */
int agentd_reply_link(const struct agentd *a);

/* ---- agentd_defer.c: writes riding on the next commit ---- */

/*
 * The relay's custody receipts of our messages (ACCEPTED, ACCEPTED_P) and
 * the spool inbox marks are not committed on their own: the log's hook
 * puts them first into the agent's next batch, whatever it is
 * (agentd_defer_init); the loop commits them alone once the oldest has
 * waited AGENTD_DEFER_MS (agentd_defer_wait, agentd_defer_due); at most
 * AGENTD_DEFER_MAX custody records wait (then the next commits them).
 */
#define AGENTD_DEFER_MS 100
#define AGENTD_DEFER_MAX 4096

struct agentd_defer_item {
	struct log_entry le;		/* LOG_ACCEPTED; le.aux: ${aux} */
	struct astore_out r;		/* the record in state ACCEPTED */
	uint8_t *aux;			/* the reply's bytes, owned */
};

/** agentd_defer_init(a): a->log's hook (at open, once the store is). */
void agentd_defer_init(struct agentd *a);

/**
 * agentd_defer_accepted(a, le, r): keep ACCEPTED entry ${le} and outbox
 * record ${r} for the next commit (a copy of le->aux is kept).  0, or
 * an error (nothing kept: the caller commits them at once).
 */
int agentd_defer_accepted(struct agentd *a, const struct log_entry *le,
    const struct astore_out *r);

/** agentd_defer_spooled(a): a spool inbox mark is about to join a->spooled. */
void agentd_defer_spooled(struct agentd *a);

/** agentd_defer_find(a, id): the custody record of ${id} waiting, or NULL. */
const struct astore_out *agentd_defer_find(const struct agentd *a,
    const uint8_t id[FERRY_MSGID_LEN]);

/**
 * agentd_out_get(a, id, r): outgoing record ${id} as the agent knows it:
 * a deferred custody record if there is one, else the store's.
 */
int agentd_out_get(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN],
    struct astore_out *r);

/** agentd_defer_free(a): drop the hook and the buffer (agentd_close). */
void agentd_defer_free(struct agentd *a);

/* ---- agentd_roster.c ---- */

/** agentd_roster_path(a, version, buf, cap): where ${version} is saved. */
int agentd_roster_path(const struct agentd *a, uint64_t version, char *buf,
    size_t cap);

/** agentd_roster_read(path, out): roster file ${path} parsed (roster_free). */
int agentd_roster_read(const char *path, struct roster **out);

/** agentd_roster_load(a, err, errlen): the roster chain at start. */
int agentd_roster_load(struct agentd *a, char *err, size_t errlen);

/** agentd_check_listed(a, err, errlen): is our agency listed? */
int agentd_check_listed(struct agentd *a, char *err, size_t errlen);

/** agentd_verify_from(a, e): check ${e} with its sender's roster key. */
int agentd_verify_from(struct agentd *a, const struct env *e);
/**
 * agentd_verify_with(a, e, pk): ${e}'s signature under ${pk}, or for a
 * RECEIPT_P / ACCEPTED_P its proof (env_verify_proof, with the agent's
 * cache of verified notes).  0 or a FERRY_E* code.
 */
int agentd_verify_with(struct agentd *a, const struct env *e,
    const uint8_t pk[32]);

/** agentd_adopt_roster(a, next, source, save): adopt ${next}. */
int agentd_adopt_roster(struct agentd *a, struct roster *next,
    const char *source, int save);

/** agentd_handle_roster(a, e): a ROSTER push from the relay. */
int agentd_handle_roster(struct agentd *a, const struct env *e);

/* ---- agentd_in.c ---- */

/** agentd_spool_recover(a): at start, the spool files a crash cut off. */
int agentd_spool_recover(struct agentd *a);

/** agentd_refuse(a, buf, len, e, code, why): log LOG_REFUSED, then NACK
 * (a refusal the log cannot take is held instead, not NACKed). */
int agentd_refuse(struct agentd *a, const uint8_t *buf, size_t len,
    const struct env *e, int code, const char *why);

/** agentd_handle_msg(a, buf, len, e0): a MSG from the relay. */
int agentd_handle_msg(struct agentd *a, const uint8_t *buf, size_t len,
    const struct env *e0);

/** agentd_refuse_toobig(a, buf, len, e): NACK a MSG over max_body. */
int agentd_refuse_toobig(struct agentd *a, const uint8_t *buf, size_t len,
    const struct env *e);

/* ---- agentd_out.c: routing, for agentd_replies.c ---- */

/** agentd_route_reason(reason): LOG_ROUTE_* ${reason} as a log word. */
const char *agentd_route_reason(int reason);

/**
 * agentd_backoff(a, base, max, attempts): ${base} doubled ${attempts}
 * times, capped at ${max}, plus up to a quarter of jitter; at least 1 ms.
 */
uint64_t agentd_backoff(struct agentd *a, uint64_t base, uint64_t max,
    uint32_t attempts);

/** agentd_route_logged(a, reason): is a choice of relay for ${reason} (LOG_ROUTE_*) logged? */
int agentd_route_logged(const struct agentd *a, int reason);

/** agentd_route_entry(a, le, id, h, link, reason): LOG_ROUTE entry. */
void agentd_route_entry(const struct agentd *a, struct log_entry *le,
    const uint8_t id[FERRY_MSGID_LEN], const uint8_t h[32], int link,
    int reason);

/**
 * agentd_choose_link(a, exclude, any): a relay link for a message, other
 * than ${exclude}, by relay_choice among those up; with ${any}, when
 * none is up, the first listed; else -1.
 */
int agentd_choose_link(const struct agentd *a, int exclude, int any);

/* ---- agentd_replies.c ---- */

/*
 * Relay RECEIPTs read together are recorded in one group commit
 * (agentd_receive_many; an ACCEPTED is deferred instead: agentd_defer.c):
 * each is checked and its new record
 * and log entry kept here; then one batch, one synced commit; then the
 * actions that follow a recorded reply (counters, schedule, log line).
 */
#define AGENTD_GRP_MAX 256

struct agentd_grp_item {
	struct log_entry le;
	struct astore_out r;
	uint32_t was;			/* r's state before the reply */
};

struct agentd_grp {
	struct agentd_grp_item it[AGENTD_GRP_MAX];
	size_t n;
};

/** agentd_grp_flush(a, g): record the relay replies of group ${g}. */
void agentd_grp_flush(struct agentd *a, struct agentd_grp *g);

/* ---- agentd_in.c ---- */

/*
 * MSGs read together are received in one group commit (agentd_receive_many):
 * each is checked, opened and its referral read into an item here; then
 * one batch, one synced commit, one signed checkpoint for all; then the
 * spool files, then the RECEIPTs (agentd_in.c, rx_flush).
 */
#define AGENTD_RX_MAX 64

struct agentd_rx_item {
	const uint8_t *buf;		/* the MSG envelope (the caller's) */
	size_t len;
	struct env e;			/* opened */
	uint8_t h[32];			/* its envelope hash */
	char *json;			/* the referral document (malloc'd); NULL
					 * without a spool folder (unused) */
	struct astore_in in;		/* its inbox record, filled in */
};

struct agentd_rx {
	struct agentd_rx_item it[AGENTD_RX_MAX];
	size_t n;
	/* Their spool inbox files, written together (rx_flush). */
	struct agentd_inbox_file f[AGENTD_RX_MAX];
	char meta[AGENTD_RX_MAX][512];
};

/** agentd_rx_add(a, rg, buf, len, e0): MSG ${e0} into group ${rg}. */
int agentd_rx_add(struct agentd *a, struct agentd_rx *rg, const uint8_t *buf,
    size_t len, const struct env *e0);

/** agentd_rx_flush(a, rg): the group commit of the MSGs of ${rg}. */
void agentd_rx_flush(struct agentd *a, struct agentd_rx *rg);

/** agentd_handle_accepted(a, buf, len, e): an ACCEPTED. */
int agentd_handle_accepted(struct agentd *a, const uint8_t *buf, size_t len,
    const struct env *e);

/** agentd_handle_receipt(a, buf, len, e): a RECEIPT. */
int agentd_handle_receipt(struct agentd *a, const uint8_t *buf, size_t len,
    const struct env *e);

/** agentd_handle_nack(a, e): a NACK of a message of ours. */
int agentd_handle_nack(struct agentd *a, const struct env *e);

#endif
