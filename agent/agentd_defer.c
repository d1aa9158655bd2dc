/*
 * agentd_defer.c: writes that ride on the agent's next synced commit
 * (issue 10: fewer synced commits per referral).  Two kinds, neither on
 * the path of any acknowledgement:
 *   - the relay's custody receipts of our messages (ACCEPTED,
 *     ACCEPTED_P): their LOG_ACCEPTED entry and the outbox record in
 *     state ACCEPTED.  The custody itself is acted on at once, in memory
 *     (pending table, counters, failover: agentd_replies.c); the record
 *     is read back through agentd_out_get until it is committed.
 *   - the "unspooled" marks of received messages whose spool inbox file
 *     is written and durable (a->spooled, agentd_in.c).
 * The log's hook (log_set_hook) puts them first into every batch the
 * agent begins (a RECEIPT group, a received group, submissions, a NACK,
 * an erasure...), so an ACCEPTED entry precedes the RECEIPT of the same
 * message; the loop commits them on their own once the oldest has waited
 * AGENTD_DEFER_MS with no commit (agentd_defer_due), and agentd_close
 * commits what is left.  A crash loses only what is not committed: an
 * ACCEPTED (the message is QUEUED again at the next start and sent again;
 * the relay answers the duplicate with a fresh ACCEPTED, or with its
 * final) or a mark (the spool file is written again at the next start).
 */
#include <stdlib.h>
#include <string.h>

#include "agentd_int.h"
#include "alog.h"

/* The first deferred write since the buffers were empty: its time. */
static void
defer_touch(struct agentd *a)
{

	if (a->ndefer == 0 && a->nspooled == 0)
		a->defer_since = agentd_mono_ms();
}

/** agentd_defer_accepted(a, le, r): keep ACCEPTED ${le}, record ${r}. */
int
agentd_defer_accepted(struct agentd *a, const struct log_entry *le,
    const struct astore_out *r)
{
	struct agentd_defer_item *it;
	uint8_t *enc;
	size_t enclen;
	void *p;
	int rc;

	/* An entry the log would refuse is not kept: refused in the hook,
	 * it would fail every batch the agent begins (the caller commits
	 * it at once instead, and that reports the cause). */
	if ((rc = log_entry_encode(le, &enc, &enclen)) != 0)
		return (rc);
	free(enc);
	if (a->ndefer == AGENTD_DEFER_MAX &&
	    (rc = agentd_defer_flush(a)) != 0)
		return (rc);
	if (a->ndefer == a->capdefer) {
		size_t cap = a->capdefer ? a->capdefer * 2 : 64;

		if ((p = realloc(a->defer, cap * sizeof(*a->defer))) == NULL)
			return (FERRY_ENOMEM);
		a->defer = p;
		a->capdefer = cap;
	}
	it = &a->defer[a->ndefer];
	it->aux = NULL;
	if (le->aux_len > 0) {
		/* The frame it came in is closed after the read. */
		if ((it->aux = malloc(le->aux_len)) == NULL)
			return (FERRY_ENOMEM);
		memcpy(it->aux, le->aux, le->aux_len);
	}
	defer_touch(a);
	it->le = *le;
	it->le.aux = it->aux;
	it->r = *r;
	a->ndefer++;
	return (0);
}

/** agentd_defer_spooled(a): a spool mark is about to be added. */
void
agentd_defer_spooled(struct agentd *a)
{

	defer_touch(a);
}

/** agentd_defer_find(a, id): the custody record of ${id} waiting, or NULL. */
const struct astore_out *
agentd_defer_find(const struct agentd *a, const uint8_t id[FERRY_MSGID_LEN])
{
	size_t i;

	for (i = a->ndefer; i > 0; i--)
		if (memcmp(a->defer[i - 1].r.msg_id, id, FERRY_MSGID_LEN) == 0)
			return (&a->defer[i - 1].r);
	return (NULL);
}

/** agentd_out_get(a, id, r): outgoing record ${id}, deferred writes first. */
int
agentd_out_get(struct agentd *a, const uint8_t id[FERRY_MSGID_LEN],
    struct astore_out *r)
{
	const struct astore_out *d;

	if ((d = agentd_defer_find(a, id)) != NULL) {
		*r = *d;
		return (0);
	}
	return (astore_get_out(a->store, id, r));
}

/* log_begin's hook: every deferred write into new batch ${b}, first. */
static int
defer_begin(void *ctx, struct log_batch *b)
{
	struct agentd *a = ctx;
	size_t i;
	int rc;

	a->defer_inb = a->spooled_inb = 0;
	for (i = 0; i < a->ndefer; i++) {
		rc = log_add(b, &a->defer[i].le, NULL, 0, NULL);
		/* Logged already (a redelivered reply): the state only. */
		if (rc == FERRY_EDUPMSG)
			rc = 0;
		if (rc == 0)
			rc = astore_update_out(a->store, b, &a->defer[i].r);
		if (rc != 0)
			return (rc);
	}
	for (i = 0; i < a->nspooled; i++)
		if ((rc = astore_spooled(a->store, b, a->spooled[i])) != 0)
			return (rc);
	a->defer_inb = a->ndefer;
	a->spooled_inb = a->nspooled;
	return (0);
}

/* log_commit's hook: what the batch carried is durable; forget it. */
static void
defer_committed(void *ctx)
{
	struct agentd *a = ctx;
	size_t i;

	for (i = 0; i < a->defer_inb; i++)
		free(a->defer[i].aux);
	if (a->defer_inb > 0) {
		memmove(a->defer, a->defer + a->defer_inb,
		    (a->ndefer - a->defer_inb) * sizeof(*a->defer));
		a->ndefer -= a->defer_inb;
	}
	if (a->spooled_inb > 0) {
		memmove(a->spooled, a->spooled + a->spooled_inb,
		    (a->nspooled - a->spooled_inb) * FERRY_MSGID_LEN);
		a->nspooled -= a->spooled_inb;
	}
	a->defer_inb = a->spooled_inb = 0;
	if (a->ndefer > 0 || a->nspooled > 0)
		a->defer_since = agentd_mono_ms();
}

/** agentd_defer_init(a): ride on every batch of a->log from now on. */
void
agentd_defer_init(struct agentd *a)
{

	log_set_hook(a->log, defer_begin, defer_committed, a);
}

/** agentd_defer_flush(a): commit the deferred writes now. */
int
agentd_defer_flush(struct agentd *a)
{
	struct log_batch *b;
	size_t nd = a->ndefer, ns = a->nspooled;
	int rc;

	if ((nd == 0 && ns == 0) || a->log == NULL || a->store == NULL)
		return (0);
	if ((rc = agentd_fault_point("defer-commit")) == 0 &&
	    (rc = log_begin(a->log, &b)) == 0)
		rc = log_commit(b);
	if (rc == 0)
		return (0);
	/* They stay: the next commit carries them (this one tried again
	 * AGENTD_DEFER_MS from now); until then a crash loses only what
	 * the top of agentd_defer.c says. */
	a->defer_since = agentd_mono_ms();
	alog(ALOG_WARN, "deferred", "%zu custody record(s) and %zu spool "
	    "inbox mark(s) not committed: %s (retried)", nd, ns,
	    ferry_strerror(rc));
	return (rc);
}

/** agentd_defer_wait(a, now, wait): ${wait}, or less: ms until due. */
uint64_t
agentd_defer_wait(const struct agentd *a, uint64_t now, uint64_t wait)
{
	uint64_t due = a->defer_since + AGENTD_DEFER_MS;

	if (a->ndefer == 0 && a->nspooled == 0)
		return (wait);
	if (now >= due)
		return (0);
	return (due - now < wait ? due - now : wait);
}

/** agentd_defer_due(a, now): commit them if the oldest waited long enough. */
int
agentd_defer_due(struct agentd *a, uint64_t now)
{

	if ((a->ndefer == 0 && a->nspooled == 0) ||
	    now < a->defer_since + AGENTD_DEFER_MS)
		return (0);
	return (agentd_defer_flush(a));
}

/** agentd_defer_free(a): forget what is left (agentd_close, after a flush). */
void
agentd_defer_free(struct agentd *a)
{
	size_t i;

	if (a->log != NULL)
		log_set_hook(a->log, NULL, NULL, NULL);
	for (i = 0; i < a->ndefer; i++)
		free(a->defer[i].aux);
	free(a->defer);
	a->defer = NULL;
	a->ndefer = a->capdefer = 0;
}
