/*
 * metrics.c: the relay's counters in the Prometheus text exposition
 * format (proto/prom.h, as the agent's), written atomically to
 * <data>/metrics.prom (a node exporter's textfile collector can pick it
 * up; `ferry-relay stats` prints it).
 * docs/relay.md lists every metric.
 */
#include <stdio.h>

#include "envelope.h"
#include "note.h"
#include "prom.h"
#include "relay.h"

/** metrics_quota_keys: the queue limits' configuration keys. */
const char *const metrics_quota_keys[QUOTA_N] = { "queue_max_per_sender",
    "queue_max_bytes_per_sender", "queue_max", "queue_max_bytes",
    "queue_max_total_bytes" };

/** metrics_write(dir, m, d, nd): write ${dir}/metrics.prom atomically. */
int
metrics_write(const char *dir, const struct metrics *m,
    const struct metrics_depth *d, size_t nd)
{
	struct prom *o;
	char path[CONFIG_PATH_MAX + 32];
	uint64_t ns, nv, es, ev;
	size_t i;
	int rc;

	if ((o = prom_new()) == NULL)
		return (FERRY_ENOMEM);
	prom_u64(o, "ferry_relay_connected_agents",
	    "Agencies with a live route to the relay.", "gauge", m->connected);
	prom_u64(o, "ferry_relay_accepted_total",
	    "Messages taken into custody (ACCEPTED sent).", "counter",
	    m->accepted);
	prom_u64(o, "ferry_relay_delivered_total",
	    "Messages removed from the queue on a verified RECEIPT.",
	    "counter", m->delivered);
	prom_u64(o, "ferry_relay_forwarded_total",
	    "MSG envelopes sent to recipients (including redeliveries).",
	    "counter", m->forwarded);
	prom_u64(o, "ferry_relay_expired_total",
	    "Messages expired undelivered and NACKed to their sender.",
	    "counter", m->expired);
	prom_u64(o, "ferry_relay_purged_total",
	    "Messages purged by `ferry-relay queue purge` (recipient "
	    "revoked) and NACKed FERRY_EPURGED to their sender.",
	    "counter", m->purged);
	prom_u64(o, "ferry_relay_duplicates_total",
	    "Duplicate MSGs answered again from the store.", "counter",
	    m->duplicates);
	prom_u64(o, "ferry_relay_asks_total",
	    "ASKs from senders about their messages.", "counter", m->asks);
	prom_u64(o, "ferry_relay_asks_answered_total",
	    "ASKs answered with the message's stored RECEIPT or NACK.",
	    "counter", m->asks_answered);
	prom_u64(o, "ferry_relay_asks_unknown_total",
	    "ASKs about a message this relay holds no record of "
	    "(answered FERRY_ENOTHELD; the sender uploads it again).",
	    "counter", m->asks_unknown);
	prom_u64(o, "ferry_relay_checkpoints_behind_total", "Agencies' "
	    "checkpoints refused as behind, or forked from, the one held of "
	    "them (a data folder restored from a backup, or rewritten).",
	    "counter", m->checkpoints_behind);
	prom_u64(o, "ferry_relay_checkpoints_skipped_total",
	    "Agents' CHECKPOINTs not logged: another one of the agency's "
	    "was logged less than checkpoint_interval before.", "counter",
	    m->checkpoints_skipped);
	prom_u64(o, "ferry_relay_verify_threads",
	    "Threads checking a batch's envelopes (hash, decoding, "
	    "signature), the loop's own one of them (verify_threads).",
	    "gauge", m->verify_threads);
	prom_u64(o, "ferry_relay_envelopes_checked_by_helpers_total",
	    "Envelopes whose hash, decoding and signature were checked on "
	    "a verify thread other than the loop's (batches of 4 or more).",
	    "counter", m->checked_helped);
	prom_u64(o, "ferry_relay_pruned_total",
	    "Finished messages' records removed past the retention period.",
	    "counter", m->pruned);
	prom_u64(o, "ferry_relay_pruned_answered_total",
	    "MSGs and ASKs about a pruned message, answered from the relay's "
	    "log.", "counter", m->pruned_answered);
	prom_u64(o, "ferry_relay_received_bytes_total",
	    "Bytes of envelopes received.", "counter", m->bytes_in);
	prom_u64(o, "ferry_relay_sent_bytes_total",
	    "Bytes of envelopes sent.", "counter", m->bytes_out);
	prom_u64(o, "ferry_relay_dropped_no_user_total",
	    "Messages dropped for lacking an authenticated User-Id.",
	    "counter", m->dropped_nouser);
	prom_u64(o, "ferry_relay_handshakes_allowed_total",
	    "CURVE handshakes admitted by ZAP.", "counter", m->zap_allowed);
	prom_u64(o, "ferry_relay_handshakes_refused_total",
	    "CURVE handshakes refused by ZAP (key not an active agency).",
	    "counter", m->zap_denied);
	prom_u64(o, "ferry_relay_roster_version",
	    "Version of the roster in force.", "gauge", m->roster_version);
	prom_u64(o, "ferry_relay_roster_expired",
	    "1 while the roster in force is past its expiry (new messages "
	    "refused with FERRY_EEXPIRED).", "gauge", m->roster_expired);
	prom_u64(o, "ferry_relay_commits_total",
	    "Synced group commits of the queue.", "counter", m->commits);
	note_counts(&ns, &nv);
	env_counts(&es, &ev);
	prom_u64(o, "ferry_relay_signatures_total",
	    "Ed25519 signatures made: envelopes (NACKs, control) and one "
	    "checkpoint per commit; custody receipts are proven, not signed.",
	    "counter", ns + es);
	prom_u64(o, "ferry_relay_signature_checks_total",
	    "Ed25519 signatures checked: envelopes, and receipts' checkpoint "
	    "notes once per note.", "counter", nv + ev);
	prom_u64(o, "ferry_relay_commit_failures_total",
	    "Group commits that failed for lack of space (nothing of them "
	    "was answered).", "counter", m->commit_failures);
	prom_u64(o, "ferry_relay_disk_full",
	    "1 while new messages are refused with FERRY_ENOSPC.", "gauge",
	    m->disk_full);
	prom_u64(o, "ferry_relay_connections",
	    "Open connections (authenticated or not).", "gauge",
	    m->connections);
	prom_u64(o, "ferry_relay_connections_refused_total",
	    "Connections closed at once: max_connections reached.",
	    "counter", m->conn_refused);
	prom_u64(o, "ferry_relay_connections_refused_per_address_total",
	    "Connections closed at once: max_connections_per_address "
	    "reached for their IP address.", "counter", m->conn_refused_addr);
	prom_u64(o, "ferry_relay_log_size",
	    "Entries in the relay's own log.", "gauge", m->log_size);
	prom_head(o, "ferry_relay_refused_total", "Envelopes refused, by "
	    "reason.", "counter");
	for (i = 1; i < METRICS_REFUSE_MAX; i++)
		if (m->refused[i] != 0)
			prom_sample(o, "ferry_relay_refused_total", "reason",
			    ferry_errname(-(int)i), (int64_t)m->refused[i]);
	prom_u64(o, "ferry_relay_queued_bytes",
	    "Envelope bytes queued, all recipients together.", "gauge",
	    m->queued_bytes);
	prom_head(o, "ferry_relay_queue_full_total", "MSGs refused "
	    "FERRY_EQUEUEFULL, by the limit they hit.", "counter");
	for (i = 0; i < QUOTA_N; i++)
		prom_sample(o, "ferry_relay_queue_full_total", "limit",
		    metrics_quota_keys[i], (int64_t)m->queue_full[i]);
	prom_head(o, "ferry_relay_queue_depth", "Messages queued per "
	    "recipient.", "gauge");
	for (i = 0; i < nd; i++)
		prom_sample(o, "ferry_relay_queue_depth", "recipient",
		    d[i].id, (int64_t)d[i].depth);
	snprintf(path, sizeof(path), "%s/metrics.prom", dir);
	rc = prom_write(o, path);
	prom_free(o);
	return (rc);
}
