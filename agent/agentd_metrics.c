/*
 * agentd_metrics.c: the agent's metrics in the Prometheus text format
 * (proto/prom.h, as the relay's), written atomically to
 * <data>/metrics.prom every metrics_interval by the event loop
 * (agentd_net.c) and at exit.  Every value is read from memory (counters
 * and state counts kept as they change, log_size), never by a walk of
 * the store.  docs/agent.md lists the metrics and suggested alerts.
 */
#include <stdio.h>

#include "agentd.h"
#include "backlog.h"
#include "note.h"
#include "pending.h"
#include "prom.h"

int
agentd_metrics_write(struct agentd *a)
{
	static const uint32_t states[] = { ASTORE_QUEUED, ASTORE_ACCEPTED,
	    ASTORE_DELIVERED, ASTORE_FAILED };
	char path[ACONF_PATH_MAX + 32];
	uint64_t now = ferry_now_ms(), kexp = agentd_key_expires(a);
	struct backlog_row rows[AGENTD_BACKLOG_METRICS];
	const struct agentd_link *l;
	struct prom *p;
	uint64_t since = 0, last_err = 0, conns = 0, ns, nv, es, ev;
	size_t i, n;
	int rc, refused = 0;

	if ((p = prom_new()) == NULL)
		return (FERRY_ENOMEM);
	/* The links summed up (several relays: connected if any is). */
	for (i = 0; i < a->nlinks; i++) {
		l = &a->links[i];
		if (!l->listed)
			continue;
		refused |= l->refused;
		conns += l->reconnects;
		if (l->last_error_ms > last_err)
			last_err = l->last_error_ms;
		if ((a->connected && l->connected && (since == 0 ||
		    l->link_since < since)) || (!a->connected &&
		    l->link_since > since))
			since = l->link_since;
	}
	prom_u64(p, "ferry_agent_connected", "1 while a CURVE link to a "
	    "relay is up.", "gauge", (uint64_t)(a->connected != 0));
	prom_u64(p, "ferry_agent_link_state_since_timestamp_seconds",
	    "When the link entered its current state (connected or not), "
	    "Unix time.", "gauge", since / 1000);
	prom_u64(p, "ferry_agent_last_error_timestamp_seconds", "When the "
	    "last connection error happened, Unix time (0: none since "
	    "start; `ferry status` says which).", "gauge", last_err / 1000);
	prom_u64(p, "ferry_agent_relay_refused", "1 while a relay refuses "
	    "our transport key or the handshake fails.", "gauge",
	    (uint64_t)(refused != 0));
	prom_u64(p, "ferry_agent_connections_total", "CURVE handshakes with "
	    "the relays completed.", "counter", conns);
	note_counts(&ns, &nv);
	env_counts(&es, &ev);
	prom_u64(p, "ferry_agent_signatures_total", "Ed25519 signatures "
	    "made: MSGs, NACKs, control envelopes and one checkpoint per "
	    "commit; delivery receipts are proven, not signed.", "counter",
	    ns + es);
	prom_u64(p, "ferry_agent_signature_checks_total", "Ed25519 "
	    "signatures checked: envelopes, and receipts' checkpoint notes "
	    "once per note.", "counter", nv + ev);
	prom_head(p, "ferry_agent_relay_up", "1 while the link to this relay "
	    "is up.", "gauge");
	for (i = 0; i < a->nlinks; i++)
		if (a->links[i].listed)
			prom_sample(p, "ferry_agent_relay_up", "relay",
			    a->links[i].id, a->links[i].connected != 0);
	prom_head(p, "ferry_agent_relay_rtt_seconds", "The last round trip "
	    "to this relay (a HEARTBEAT to its next frame).", "gauge");
	for (i = 0; i < a->nlinks; i++)
		if (a->links[i].listed && a->links[i].has_rtt)
			prom_sample_ms(p, "ferry_agent_relay_rtt_seconds",
			    "relay", a->links[i].id, a->links[i].rtt_ms);
	prom_head(p, "ferry_agent_outbox_messages", "Messages sent by this "
	    "agency, by state.", "gauge");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		prom_sample(p, "ferry_agent_outbox_messages", "state",
		    astore_state_name(states[i]),
		    (int64_t)a->n_out[states[i]]);
	prom_u64(p, "ferry_agent_inbox_messages", "Messages received and "
	    "stored.", "gauge", a->n_in);
	prom_u64(p, "ferry_agent_pending_messages", "Messages waiting for "
	    "the relay's ACCEPTED or the recipient's RECEIPT.", "gauge",
	    (uint64_t)pending_count(a->pend));
	prom_head(p, "ferry_agent_backlog", "Our undelivered messages "
	    "(queued or accepted) per recipient, the largest backlogs; a "
	    "new one is refused at max_backlog (emergencies never are).",
	    "gauge");
	n = backlog_top(a->backlog, rows, AGENTD_BACKLOG_METRICS);
	for (i = 0; i < n; i++)
		prom_sample(p, "ferry_agent_backlog", "to", rows[i].to,
		    (int64_t)rows[i].n);
	prom_head(p, "ferry_agent_backlog_oldest_seconds", "Age of the "
	    "oldest of those messages, per recipient.", "gauge");
	for (i = 0; i < n; i++)
		prom_sample(p, "ferry_agent_backlog_oldest_seconds", "to",
		    rows[i].to, (int64_t)(rows[i].oldest_ms != 0 &&
		    now > rows[i].oldest_ms ? (now - rows[i].oldest_ms) / 1000 :
		    0));
	prom_u64(p, "ferry_agent_max_backlog", "The bound on each "
	    "recipient's backlog (0: none).", "gauge", a->conf.max_backlog);
	prom_u64(p, "ferry_agent_held_messages", "Incoming messages held "
	    "unacknowledged (key not loaded yet, or a local failure).",
	    "gauge", (uint64_t)a->nheld);
	prom_u64(p, "ferry_agent_sent_total", "Messages stored and queued "
	    "for sending.", "counter", a->n_sent);
	prom_u64(p, "ferry_agent_accepted_total", "ACCEPTEDs from the relay "
	    "recorded.", "counter", a->n_accepted);
	prom_u64(p, "ferry_agent_delivered_total", "RECEIPTs from "
	    "recipients verified and recorded.", "counter", a->n_delivered);
	prom_u64(p, "ferry_agent_failed_total", "Messages of ours NACKed "
	    "for good.", "counter", a->n_failed);
	prom_u64(p, "ferry_agent_received_total", "Messages received, "
	    "stored and receipted.", "counter", a->n_received);
	prom_u64(p, "ferry_agent_duplicates_total", "Redelivered messages "
	    "answered with their stored receipt.", "counter",
	    a->n_duplicates);
	prom_u64(p, "ferry_agent_refused_total", "Incoming messages refused "
	    "(NACKed).", "counter", a->n_refused);
	prom_u64(p, "ferry_agent_held_total", "Incoming messages held "
	    "(key not loaded yet, or a local failure).", "counter",
	    a->n_held + a->n_held_local);
	prom_u64(p, "ferry_agent_asks_total", "ASKs sent about accepted "
	    "messages.", "counter", a->n_asks);
	prom_u64(p, "ferry_agent_log_behind", "1 if a relay holds a "
	    "checkpoint of this agency's log ahead of (or forked from) the "
	    "log now: restored from a backup or replaced (ERROR log-behind).",
	    "gauge", (uint64_t)a->log_behind);
	prom_u64(p, "ferry_agent_checkpoints_sent_total", "Checkpoints of "
	    "this agency's log sent to relays (held there).", "counter",
	    a->n_checkpoints_sent);
	prom_u64(p, "ferry_agent_not_held_total", "Accepted messages the "
	    "relay no longer held (sent again).", "counter", a->n_not_held);
	prom_u64(p, "ferry_agent_roster_version", "Version of the roster in "
	    "force.", "gauge", a->roster->version);
	prom_i64(p, "ferry_agent_roster_expiry_seconds", "Seconds until "
	    "the roster in force expires (negative: expired; new referrals "
	    "refused).", "gauge", agentd_secs_left(a->roster->expires, now));
	prom_i64(p, "ferry_agent_key_expiry_seconds", "Seconds until our "
	    "agency's last encryption key expires (negative: expired; "
	    "partners cannot send to us).", "gauge", kexp == 0 ? 0 :
	    agentd_secs_left(kexp, now));
	prom_u64(p, "ferry_agent_listed", "1 while our agency is in the "
	    "roster held.", "gauge", (uint64_t)(a->listed != 0));
	prom_u64(p, "ferry_agent_log_size", "Entries in the agent's log.",
	    "gauge", log_size(a->log));
	snprintf(path, sizeof(path), "%s/metrics.prom", a->conf.data);
	rc = prom_write(p, path);
	prom_free(p);
	return (rc);
}
