/*
 * metrics.c: the relay's counters in the Prometheus text exposition
 * format, written atomically to <data>/metrics.prom (a node exporter's
 * textfile collector can pick it up; `ferry-relay stats` prints it).
 * docs/relay.md lists every metric.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

struct out {
	char *buf;
	size_t len, cap;
	int err;
};

static void
outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *nb;

	if (o->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->err = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		if ((nb = realloc(o->buf, o->cap * 2 + (size_t)n)) == NULL) {
			o->err = 1;
			return;
		}
		o->buf = nb;
		o->cap = o->cap * 2 + (size_t)n;
	}
}

static void
counter(struct out *o, const char *name, const char *help, const char *type,
    uint64_t v)
{

	outf(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
	    type, name, (unsigned long long)v);
}

/** metrics_quota_keys: the queue limits' configuration keys. */
const char *const metrics_quota_keys[QUOTA_N] = { "queue_max_per_sender",
    "queue_max_bytes_per_sender", "queue_max", "queue_max_bytes",
    "queue_max_total_bytes" };

/** metrics_write(dir, m, d, nd): write ${dir}/metrics.prom atomically. */
int
metrics_write(const char *dir, const struct metrics *m,
    const struct metrics_depth *d, size_t nd)
{
	struct out o = { NULL, 0, 4096, 0 };
	char path[CONFIG_PATH_MAX + 32];
	size_t i;
	int rc;

	if ((o.buf = malloc(o.cap)) == NULL)
		return (FERRY_ENOMEM);
	o.buf[0] = '\0';
	counter(&o, "ferry_relay_connected_agents",
	    "Agencies with a live route to the relay.", "gauge", m->connected);
	counter(&o, "ferry_relay_accepted_total",
	    "Messages taken into custody (ACCEPTED sent).", "counter",
	    m->accepted);
	counter(&o, "ferry_relay_delivered_total",
	    "Messages removed from the queue on a verified RECEIPT.",
	    "counter", m->delivered);
	counter(&o, "ferry_relay_forwarded_total",
	    "MSG envelopes sent to recipients (including redeliveries).",
	    "counter", m->forwarded);
	counter(&o, "ferry_relay_expired_total",
	    "Messages expired undelivered and NACKed to their sender.",
	    "counter", m->expired);
	counter(&o, "ferry_relay_purged_total",
	    "Messages purged by `ferry-relay queue purge` (recipient "
	    "revoked) and NACKed FERRY_EPURGED to their sender.",
	    "counter", m->purged);
	counter(&o, "ferry_relay_duplicates_total",
	    "Duplicate MSGs answered again from the store.", "counter",
	    m->duplicates);
	counter(&o, "ferry_relay_asks_total",
	    "ASKs from senders about their messages.", "counter", m->asks);
	counter(&o, "ferry_relay_asks_answered_total",
	    "ASKs answered with the message's stored RECEIPT or NACK.",
	    "counter", m->asks_answered);
	counter(&o, "ferry_relay_asks_unknown_total",
	    "ASKs about a message this relay holds no record of "
	    "(answered FERRY_ENOTHELD; the sender uploads it again).",
	    "counter", m->asks_unknown);
	counter(&o, "ferry_relay_checkpoints_skipped_total",
	    "Agents' CHECKPOINTs not logged: another one of the agency's "
	    "was logged less than checkpoint_interval before.", "counter",
	    m->checkpoints_skipped);
	counter(&o, "ferry_relay_pruned_total",
	    "Finished messages' records removed past the retention period.",
	    "counter", m->pruned);
	counter(&o, "ferry_relay_pruned_answered_total",
	    "MSGs and ASKs about a pruned message, answered from the relay's "
	    "log.", "counter", m->pruned_answered);
	counter(&o, "ferry_relay_received_bytes_total",
	    "Bytes of envelopes received.", "counter", m->bytes_in);
	counter(&o, "ferry_relay_sent_bytes_total",
	    "Bytes of envelopes sent.", "counter", m->bytes_out);
	counter(&o, "ferry_relay_dropped_no_user_total",
	    "Messages dropped for lacking an authenticated User-Id.",
	    "counter", m->dropped_nouser);
	counter(&o, "ferry_relay_handshakes_allowed_total",
	    "CURVE handshakes admitted by ZAP.", "counter", m->zap_allowed);
	counter(&o, "ferry_relay_handshakes_refused_total",
	    "CURVE handshakes refused by ZAP (key not an active agency).",
	    "counter", m->zap_denied);
	counter(&o, "ferry_relay_roster_version",
	    "Version of the roster in force.", "gauge", m->roster_version);
	counter(&o, "ferry_relay_roster_expired",
	    "1 while the roster in force is past its expiry (new messages "
	    "refused with FERRY_EEXPIRED).", "gauge", m->roster_expired);
	counter(&o, "ferry_relay_commits_total",
	    "Synced group commits of the queue.", "counter", m->commits);
	counter(&o, "ferry_relay_commit_failures_total",
	    "Group commits that failed for lack of space (nothing of them "
	    "was answered).", "counter", m->commit_failures);
	counter(&o, "ferry_relay_disk_full",
	    "1 while new messages are refused with FERRY_ENOSPC.", "gauge",
	    m->disk_full);
	counter(&o, "ferry_relay_connections",
	    "Open connections (authenticated or not).", "gauge",
	    m->connections);
	counter(&o, "ferry_relay_connections_refused_total",
	    "Connections closed at once: max_connections reached.",
	    "counter", m->conn_refused);
	counter(&o, "ferry_relay_connections_refused_per_address_total",
	    "Connections closed at once: max_connections_per_address "
	    "reached for their IP address.", "counter", m->conn_refused_addr);
	counter(&o, "ferry_relay_log_size",
	    "Entries in the relay's own log.", "gauge", m->log_size);
	outf(&o, "# HELP ferry_relay_refused_total Envelopes refused, by "
	    "reason.\n# TYPE ferry_relay_refused_total counter\n");
	for (i = 1; i < METRICS_REFUSE_MAX; i++)
		if (m->refused[i] != 0)
			outf(&o, "ferry_relay_refused_total{reason=\"%s\"} %llu\n",
			    ferry_errname(-(int)i),
			    (unsigned long long)m->refused[i]);
	counter(&o, "ferry_relay_queued_bytes",
	    "Envelope bytes queued, all recipients together.", "gauge",
	    m->queued_bytes);
	outf(&o, "# HELP ferry_relay_queue_full_total MSGs refused "
	    "FERRY_EQUEUEFULL, by the limit they hit.\n"
	    "# TYPE ferry_relay_queue_full_total counter\n");
	for (i = 0; i < QUOTA_N; i++)
		outf(&o, "ferry_relay_queue_full_total{limit=\"%s\"} %llu\n",
		    metrics_quota_keys[i],
		    (unsigned long long)m->queue_full[i]);
	outf(&o, "# HELP ferry_relay_queue_depth Messages queued per "
	    "recipient.\n# TYPE ferry_relay_queue_depth gauge\n");
	for (i = 0; i < nd; i++)
		outf(&o, "ferry_relay_queue_depth{recipient=\"%s\"} %llu\n",
		    d[i].id, (unsigned long long)d[i].depth);
	if (o.err) {
		free(o.buf);
		return (FERRY_ENOMEM);
	}
	snprintf(path, sizeof(path), "%s/metrics.prom", dir);
	rc = ferry_write_file(path, o.buf, o.len, 0644);
	free(o.buf);
	return (rc);
}
