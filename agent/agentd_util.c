/*
 * agentd_util.c: small helpers the files of the agent's core share
 * (agentd_int.h): message ids in hex, bounded strings and error texts,
 * the crash and fault test hooks, the monotonic clock, content keys
 * sealed with the local storage key, and control frames to the relay
 * (through a->send), and the counts of stored outgoing messages by
 * state and by recipient (kept in backlog.c, a leaf as pending.c is).
 * It calls no other file of the agent's core.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "agentd_int.h"
#include "alog.h"
#include "backlog.h"
#include "envelope.h"

int
agentd_sidecar_is(const char *path, const char *hx)
{
	char idp[ACONF_PATH_MAX + 704], id[40];
	ssize_t n = -1;
	int fd;

	if ((size_t)snprintf(idp, sizeof(idp), "%s.id", path) >= sizeof(idp))
		return (-1);
	if ((fd = open(idp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		n = read(fd, id, sizeof(id) - 1);
		close(fd);
	}
	if (n < 0)
		return (-1);
	return (n >= 32 && memcmp(id, hx, 32) == 0);
}

void
agentd_id_name(char *out, size_t cap, const char *name, const char *hx)
{
	const char *dot;

	if ((dot = strrchr(name, '.')) == NULL || dot == name)
		dot = name + strlen(name);
	snprintf(out, cap, "%.*s.%s%s", (int)(dot - name), name, hx, dot);
}

void
agentd_free_plain(void *p, size_t len)
{

	if (p == NULL)
		return;
	sodium_memzero(p, len);
	free(p);
}

void
agentd_free_plain_str(char *s)
{

	if (s != NULL)
		agentd_free_plain(s, strlen(s));
}

/** agentd_idhex(out, id): message id ${id} in hex (NUL-terminated). */
void
agentd_idhex(char out[2 * FERRY_MSGID_LEN + 1],
    const uint8_t id[FERRY_MSGID_LEN])
{

	ferry_hex(out, id, FERRY_MSGID_LEN);
}

/** agentd_copy_str(dst, cap, s): ${s} into ${dst}, cut to fit ${cap}. */
void
agentd_copy_str(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/** agentd_seterr(err, errlen, fmt, ...): ${fmt} of the arguments into ${err}. */
void
agentd_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Undelivered: in the backlog of its recipient. */
static int
undelivered(uint32_t state)
{

	return (state == ASTORE_QUEUED || state == ASTORE_ACCEPTED);
}

/** agentd_count_move(a, r, from, to): ${r} went ${from} (0: new) -> ${to}: a->n_out, a->backlog (${r} may be NULL between two undelivered states). */
void
agentd_count_move(struct agentd *a, const struct astore_out *r,
    uint32_t from, uint32_t to)
{

	if (from > 0 && from < 5 && a->n_out[from] > 0)
		a->n_out[from]--;
	if (to > 0 && to < 5)
		a->n_out[to]++;
	if (a->backlog == NULL || undelivered(from) == undelivered(to))
		return;
	if (undelivered(to))
		(void)backlog_add(a->backlog, r->to, r->msg_id, r->t_queued);
	else
		backlog_done(a->backlog, r->to);
}

/** agentd_backlog_check(a, to, urgency, extra, err, errlen): 0, or FERRY_EBACKLOG with why. */
int
agentd_backlog_check(struct agentd *a, const char *to, const char *urgency,
    uint64_t extra, char *err, size_t errlen)
{
	struct backlog_row row;
	char at[32];
	uint64_t now;

	if (a->conf.max_backlog == 0 || a->backlog == NULL ||
	    (urgency != NULL && strcmp(urgency, "emergency") == 0))
		return (0);
	backlog_get(a->backlog, to, &row);
	if (row.n + extra < a->conf.max_backlog)
		return (0);
	now = ferry_now_ms();
	ferry_utc_s(at, sizeof(at), row.oldest_ms);
	agentd_seterr(err, errlen, "to: %s: %llu of our messages to it are "
	    "undelivered (max_backlog = %llu), the oldest queued %s (%llu s "
	    "ago): the %s agent is probably offline or slow, or the relay "
	    "out of reach; this message was NOT accepted: retry later, or "
	    "raise max_backlog in the agent's configuration (emergency "
	    "referrals are never refused for this)", to,
	    (unsigned long long)(row.n + extra),
	    (unsigned long long)a->conf.max_backlog,
	    row.oldest_ms != 0 ? at : "(unknown)",
	    (unsigned long long)(now > row.oldest_ms && row.oldest_ms != 0 ?
	    (now - row.oldest_ms) / 1000 : 0), to);
	return (FERRY_EBACKLOG);
}

/** agentd_crash_point(point): SIGKILL if FERRY_TEST_CRASH=${point}. */
/*
 * Test hook for the crash-recovery scenarios (tests/scenario/agent_*.sh):
 * with FERRY_TEST_CRASH=<point> in its environment the daemon kills
 * itself with SIGKILL at that point, as a power cut would.  Points:
 * send-committed (sent and stored, id not yet returned), recv-before-commit
 * (received and checked, nothing written), recv-committed (logged and
 * stored, no spool file), recv-spooled (spool files written, no RECEIPT),
 * spool-ids-written (a scan batch's NAME.id sidecars written under their
 * temporary names, not synced yet), spool-ids-synced (the sidecars in
 * sent/ and synced, no file moved yet), spool-inbox-written (a received
 * group's inbox files written under their temporary names, not synced,
 * not renamed, no RECEIPT), spool-move (an outbox file about to be
 * moved to sent/ or failed/, checked to be the file read).  A unit test
 * may set agentd_point_hook to act at a point instead (NULL in the
 * daemons).
 */
void (*agentd_point_hook)(const char *point);

void
agentd_crash_point(const char *point)
{
	const char *s = getenv("FERRY_TEST_CRASH");

	if (agentd_point_hook != NULL)
		agentd_point_hook(point);

	if (s != NULL && strcmp(s, point) == 0) {
		alog(ALOG_WARN, "test-crash", "FERRY_TEST_CRASH=%s: SIGKILL",
		    point);
		(void)raise(SIGKILL);
	}
}

/** agentd_fault_point(point): FERRY_ENOMEM if FERRY_TEST_FAULT=${point}. */
/*
 * Test hook for local failures: with FERRY_TEST_FAULT=<point> in the
 * environment, agentd_fault_point(point) returns FERRY_ENOMEM (as if
 * memory ran out there).  Points: recv-local (receiving a MSG, before its
 * commit), refuse-log (logging a refusal), defer-commit (the commit of
 * deferred custody records and spool marks of their own), compact (the
 * store's compaction after an erasure, before its copy).
 */
int
agentd_fault_point(const char *point)
{
	const char *s = getenv("FERRY_TEST_FAULT");

	return (s != NULL && strcmp(s, point) == 0 ? FERRY_ENOMEM : 0);
}

uint64_t
agentd_mono_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return (1);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 +
	    1);
}

/* ---- the local storage key ------------------------------------------- */

/** agentd_key_seal(a, key, out): seal ${key} with the storage key. */
/* Seal a content key: nonce || crypto_secretbox_easy(key). */
int
agentd_key_seal(struct agentd *a, const uint8_t key[32],
    uint8_t out[ASTORE_SEALED_LEN])
{

	/* The storage key lives as long as the agency key, so what matters
	 * is that no nonce repeats: each pooled byte is handed out once and
	 * zeroed, the pool is refilled from the system's generator, and the
	 * agent is one thread that never forks (a second thread or a fork
	 * sharing a->pubrand would repeat nonces under this key: rpool.h). */
	rpool_take(&a->pubrand, out, crypto_secretbox_NONCEBYTES);
	if (crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, key, 32,
	    out, a->storage_key) != 0)
		return (FERRY_ESODIUM);
	return (0);
}

/** agentd_key_unseal(a, in, key): open ${in} (agentd_key_seal). */
int
agentd_key_unseal(struct agentd *a, const uint8_t in[ASTORE_SEALED_LEN],
    uint8_t key[32])
{

	if (crypto_secretbox_open_easy(key, in + crypto_secretbox_NONCEBYTES,
	    ASTORE_SEALED_LEN - crypto_secretbox_NONCEBYTES, in,
	    a->storage_key) != 0)
		return (FERRY_EDECRYPT);
	return (0);
}

/* ---- sending frames ---------------------------------------------------- */

int
agentd_link_find(const struct agentd *a, const char *id)
{
	size_t i;

	for (i = 0; i < a->nlinks; i++)
		if (a->links[i].listed && strcmp(a->links[i].id, id) == 0)
			return ((int)i);
	return (-1);
}

void
agentd_link_up(struct agentd *a, int link, int up)
{
	struct agentd_link *l = &a->links[link];
	size_t i;

	if (l->connected != up || l->link_since == 0)
		l->link_since = ferry_now_ms();
	if (!up && (l->connected || l->down_since == 0))
		l->down_since = agentd_mono_ms();
	if (!up)
		l->ping = 0;
	l->connected = up;
	a->connected = 0;
	for (i = 0; i < a->nlinks; i++)
		if (a->links[i].connected)
			a->connected = 1;
}

/** agentd_reply_link(a): the link of the frames at hand, else any up. */
int
agentd_reply_link(const struct agentd *a)
{
	size_t i;

	if (a->cur_link >= 0 && (size_t)a->cur_link < a->nlinks &&
	    a->links[a->cur_link].connected)
		return (a->cur_link);
	for (i = 0; i < a->nlinks; i++)
		if (a->links[i].listed && a->links[i].connected)
			return ((int)i);
	return (-1);
}

/** agentd_send_frame(a, link, buf, len): a frame to a->send if ${link} is up. */
int
agentd_send_frame(struct agentd *a, int link, const uint8_t *buf, size_t len)
{
	int rc;

	if (a->send == NULL || link < 0 || (size_t)link >= a->nlinks ||
	    !a->links[link].connected)
		return (FERRY_ETIMEOUT);
	if (FERRY_FAULT("agent-send"))
		return (0);	/* handed over, then lost with the link */
	if ((rc = a->send(a->send_ctx, link, buf, len)) == 0)
		a->links[link].last_tx = agentd_mono_ms();
	return (rc);
}

/** agentd_send_control(a, link, e): encode, sign and send ${e} on ${link}. */
/* Encode, sign and send a control envelope of ${type} to the relay. */
int
agentd_send_control(struct agentd *a, int link, struct env *e)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if (link < 0 || (size_t)link >= a->nlinks)
		return (FERRY_ETIMEOUT);
	e->time = ferry_now_ms();
	rpool_new_id(&a->pubrand, e->id, e->time);
	e->version = ENV_VERSION;
	agentd_copy_str(e->from, sizeof(e->from), a->me->id);
	if (e->to[0] == '\0')
		agentd_copy_str(e->to, sizeof(e->to), a->links[link].id);
	if ((rc = env_encode(e, a->me->sign_sk, &buf, &len)) != 0)
		return (rc);
	rc = agentd_send_frame(a, link, buf, len);
	free(buf);
	return (rc);
}
