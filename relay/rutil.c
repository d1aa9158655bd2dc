/*
 * rutil.c: small helpers the files of the relay's core share: the
 * monotonic clock, short hex for log lines, refusal counts, the roster in
 * force, log entries and the log's latest checkpoint.  Calls nothing of
 * the other core files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "note.h"
#include "roster.h"
#include "relay_int.h"

/** rutil_mono_ms(): monotonic clock in milliseconds. */
uint64_t
rutil_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/** rutil_hex8(out, b): the first 8 bytes of ${b} in hex, for log lines. */
void
rutil_hex8(char out[17], const uint8_t *b)
{

	ferry_hex(out, b, 8);
}

/** rutil_count_refused(r, code): count a refusal with FERRY_E* ${code}. */
void
rutil_count_refused(struct relay *r, int code)
{
	int i = -code;

	if (i > 0 && i < METRICS_REFUSE_MAX)
		r->m.refused[i]++;
}

/** rutil_active(r, id): 1 if agency ${id} is active in the roster in force. */
int
rutil_active(const struct relay *r, const char *id)
{
	const struct roster_agency *a;

	if (r->roster == NULL)
		return (0);
	a = roster_find(r->roster, id);
	return (a != NULL && a->status == ROSTER_ACTIVE);
}

/* ---- log helpers ---- */

/**
 * rutil_le_set(le, kind, msg_id, hash, from, to, roster_version): fill log
 * entry ${le} (time now; NULL fields left empty).
 */
void
rutil_le_set(struct log_entry *le, uint32_t kind, const uint8_t *msg_id,
    const uint8_t *hash, const char *from, const char *to,
    uint64_t roster_version)
{

	memset(le, 0, sizeof(*le));
	le->kind = kind;
	le->time_ms = ferry_now_ms();
	if (msg_id != NULL)
		memcpy(le->msg_id, msg_id, FERRY_MSGID_LEN);
	if (hash != NULL)
		memcpy(le->env_hash, hash, 32);
	if (from != NULL)
		snprintf(le->from, sizeof(le->from), "%s", from);
	if (to != NULL)
		snprintf(le->to, sizeof(le->to), "%s", to);
	le->roster_version = roster_version;
}

/**
 * rutil_refresh_checkpoint(r): keep the log's latest signed checkpoint
 * note in r->checkpoint (sent with each ACCEPTED).  0 or a FERRY_E* code.
 */
int
rutil_refresh_checkpoint(struct relay *r)
{
	struct note_checkpoint cp;
	uint8_t *note;
	size_t n;
	int rc;

	if ((rc = log_checkpoint(r->log, &note, &n)) != 0)
		return (rc == FERRY_ENOENT ? 0 : rc);
	if ((rc = note_parse_checkpoint(note, n, &cp)) != 0) {
		free(note);
		return (rc);
	}
	free(r->checkpoint);
	r->checkpoint = note;
	r->checkpoint_len = n;
	r->checkpoint_size = cp.size;
	return (0);
}
