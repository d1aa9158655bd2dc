/*
 * delivery.pml: a Promela model of Ferry's delivery protocol (issue 13):
 * the sender agent, the relay and the recipient agent, the four links
 * between them, and the faults (loss, duplication, reordering, crash and
 * restart of every party, link drops, expiry).  Checked with spin by
 * tests/model/run.sh (`make model`); what is modelled, what is left out,
 * the bounds and the properties are in docs/model.md, which also maps
 * every step below to the C function that implements it.
 *
 * Compile-time switches (spin -DNAME=VALUE ...):
 *
 *   FIX       0: today's code (hole 1: a final envelope is sent to the
 *                sender once and may be lost for good).
 *             1: the fix: ASK envelopes, FERRY_ENOTHELD, and the relay
 *                also sends a final when the sender is routed at answer
 *                time.
 *   NM        messages sent (1 or 2; default 1).
 *   FAULTS    shared budget of losses, duplications, crashes and link
 *             drops (default 2).
 *   RESTORES  times the relay may be restored from a backup that predates
 *             every message (default 1).
 *   LOSSES, DUPS, CRASHES, DROPS
 *             1 (default) or 0: whether the FAULTS budget may be spent on
 *             losing an envelope, duplicating one, killing a party
 *             (including the relay right after a commit), dropping the
 *             sender's link.
 *   EXPIRY    1: the relay may expire queued messages (default 1).
 *   PROP      which LTL properties to build in: 1 (no promised message
 *             lost), 4 (a receipted message reaches the sender), 14 (both;
 *             pan -N p1 / -N p4), 9 (reachability checks, each must be
 *             violated: see the end of the file); none if unset
 *             (assertions only).
 *   MUTANT    0 (default): the protocol as described.  1-4: a deliberately
 *             broken protocol that the checks must catch (run.sh runs
 *             them to show that the properties are not vacuous):
 *               1  (FIX 1) the relay ignores an ASK for a finished message
 *               2  (FIX 1) the relay ignores an ASK for an unknown message
 *                  (no FERRY_ENOTHELD)
 *               3  the recipient does not de-duplicate by message id
 *               4  the recipient sends its RECEIPT before its commit,
 *                  which may then fail
 *               5  (FIX 1) the relay sends a final after the commit only
 *                  if the sender was routed at check time (as today)
 *               6  (FIX 1) the sender asks only at HELLO (no ASK timer)
 *             (5 is not broken: property 4 still holds, the ASK timer
 *             covers it; run.sh --deep shows it.)
 *   STRICT_P4 1: property 4 without the expiry exception (a receipted
 *             message must end DELIVERED); violated when EXPIRY is 1.
 *
 * Style: every process is one `do` loop whose options are atomic steps
 * starting with their guard, so every process stays at its loop head and
 * the state is the data alone.  Each step is named after the C function
 * it models.
 */

#ifndef FIX
#define FIX 0
#endif
#ifndef NM
#define NM 1
#endif
#ifndef FAULTS
#define FAULTS 2
#endif
#ifndef RESTORES
#define RESTORES 1
#endif
#ifndef EXPIRY
#define EXPIRY 1
#endif
#ifndef MUTANT
#define MUTANT 0
#endif
#ifndef STRICT_P4
#define STRICT_P4 0
#endif
#ifndef LOSSES
#define LOSSES 1
#endif
#ifndef DUPS
#define DUPS 1
#endif
#ifndef CRASHES
#define CRASHES 1
#endif
#ifndef DROPS
#define DROPS 1
#endif

/* Sender agent: outbox record state (astore_out.state). */
#define S_NONE		0	/* not submitted yet */
#define S_QUEUED	1	/* ASTORE_QUEUED: promised, not in custody */
#define S_ACCEPTED	2	/* ASTORE_ACCEPTED: the relay's ACCEPTED */
#define S_DELIVERED	3	/* ASTORE_DELIVERED: the recipient's RECEIPT */
#define S_FAILED	4	/* ASTORE_FAILED: a permanent NACK */

/* Relay: q.ids state of a message. */
#define R_NONE		0	/* no record (never seen, or restored away) */
#define R_QUEUED	1	/* QUEUE_QUEUED */
#define R_DONE		2	/* QUEUE_DONE, final stored */

/* A final envelope: what the relay stores in q.ids and forwards. */
#define F_NONE		0
#define F_RCPT		1	/* the recipient's RECEIPT */
#define F_EXP		2	/* the relay's NACK FERRY_EEXPIREDMSG */

/* ---- durable and volatile state ---------------------------------------
 * Durable (survives a crash): s_st, r_st, r_fin, r_notice, c_has, c_app.
 * Everything else is lost when its party crashes.
 */

/* Sender agent. */
byte s_st[NM];			/* durable: outbox state */
bit s_conn;			/* volatile: connected to the relay */
bit s_backoff[NM];		/* volatile, FIX 0: re-ask not due yet
				 * (agentd_pending.next_try > now) */

/*
 * Links.  Each link direction is a set of envelopes in flight, one bit
 * per (type, message): receiving takes any set bit (so any order:
 * reordering), a loss fault clears one, a duplication fault lets a
 * receive leave its bit set (the copy arrives again later).  Sending an
 * envelope already in flight merges the copies.  A link drop or a crash
 * of either end empties both directions.
 */
bit sr_msg[NM];		/* sender -> relay: MSG */
bit sr_ask[NM];		/* sender -> relay: ASK (FIX 1) */
bit sr_hello;		/* sender -> relay: HELLO */
bit rs_acc[NM];		/* relay -> sender: ACCEPTED */
bit rs_rcpt[NM];	/* relay -> sender: the recipient's RECEIPT */
bit rs_exp[NM];		/* relay -> sender: NACK FERRY_EEXPIREDMSG */
bit rs_noth[NM];	/* relay -> sender: NACK FERRY_ENOTHELD (FIX 1) */
bit rc_msg[NM];		/* relay -> recipient: MSG */
bit cr_rcpt[NM];	/* recipient -> relay: RECEIPT */
bit cr_hello;		/* recipient -> relay: HELLO */
bit cr_hb;		/* recipient -> relay: HEARTBEAT */

/* Relay, durable (the queue tables in its LMDB environment). */
byte r_st[NM];			/* q.ids state */
byte r_fin[NM];			/* q.ids final (F_*) once R_DONE */
bit r_notice[NM];		/* q.notices: final kept for the sender */

/* Relay, volatile. */
bit routed_s;			/* peer "sender" has a live route */
bit routed_c;			/* peer "recipient" has a live route */
bit infl[NM];			/* in flight to the recipient (struct flight) */

/* Relay, the batch being collected (struct item), volatile. */
bit b_acc[NM];			/* IT_ACCEPT */
byte b_dup[NM];			/* IT_DUP: 0 none, else 1 + final to send
				 * with the ACCEPTED (F_*) */
byte b_fin[NM];			/* IT_RECEIPT / IT_EXPIRE: final (F_*) */
bit b_notify[NM];		/* item->notify: keep final in q.notices */
bit b_notified[NM];		/* IT_NOTIFIED: notice pushed, drop it */

/* Recipient agent. */
bit c_conn;			/* volatile: connected */
bit c_has[NM];			/* durable: in the inbox (a.in record) */
byte c_app[NM];			/* durable: times given to the application */

/* Faults left. */
byte faults = FAULTS;
byte restores = RESTORES;

/* Ghost: the relay finished the message by expiry (never reset). */
bit g_expired[NM];

hidden byte k;			/* loop index inside atomic steps */

#define BATCH_EMPTY(m)	(!b_acc[m] && b_dup[m] == 0 && b_fin[m] == F_NONE \
			 && !b_notified[m])
#if NM == 1
#define BATCH_NONEMPTY	(!BATCH_EMPTY(0))
#else
#define BATCH_NONEMPTY	(!BATCH_EMPTY(0) || !BATCH_EMPTY(1))
#endif

/* A receive: take the envelope, or (duplication fault) leave a copy. */
#define CONSUME(v)	if :: v = 0 :: DUPS && faults > 0 -> faults-- fi

/* send_frame (agent): only on a live connection. */
#define S_SEND(v)	if :: s_conn -> v = 1 :: else -> skip fi
/* send_to (relay): only on a live route to the sender. */
#define TO_S(v)		if :: routed_s -> v = 1 :: else -> skip fi

/* Send final ${f} (F_*) for message ${m} to the sender, if routed. */
#define SEND_FINAL(m, f) \
	if \
	:: (f) == F_RCPT -> TO_S(rs_rcpt[m]) \
	:: (f) == F_EXP -> TO_S(rs_exp[m]) \
	:: else -> skip \
	fi

#define MAXB(a, b)	((a) > (b) -> (a) : (b))

/* ---- crashes and link drops (volatile state lost) -------------------- */

/* The sender's link goes down: in-flight envelopes both ways are lost;
 * the relay's socket monitor takes the route down (peer_offline). */
inline drop_s() {
	s_conn = 0; routed_s = 0; sr_hello = 0;
	for (k : 0 .. NM - 1) {
		sr_msg[k] = 0; sr_ask[k] = 0;
		rs_acc[k] = 0; rs_rcpt[k] = 0; rs_exp[k] = 0; rs_noth[k] = 0
	}
}

/* kill -9 of ferry-agent (sender): the link, and its volatile state;
 * at restart agentd_open schedules every pending message at once
 * (pend_set(..., now)): no re-ask backoff. */
inline crash_s() {
	drop_s();
	for (k : 0 .. NM - 1) { s_backoff[k] = 0 }
}

/* The recipient's link goes down, or the recipient agent is killed (it
 * has no other volatile state that matters here). */
inline crash_c() {
	c_conn = 0; routed_c = 0; cr_hello = 0; cr_hb = 0;
	for (k : 0 .. NM - 1) { rc_msg[k] = 0; cr_rcpt[k] = 0; infl[k] = 0 }
}

/* kill -9 of ferry-relay: the batch not committed, routes, in-flight
 * sets, both links; both agents see their connection close. */
inline crash_r() {
	drop_s();
	crash_c();
	for (k : 0 .. NM - 1) {
		b_acc[k] = 0; b_dup[k] = 0; b_fin[k] = F_NONE;
		b_notify[k] = 0; b_notified[k] = 0
	}
}

/* ======================================================================
 * Sender agent: agent/agentd.c
 * ====================================================================== */

/* agentd_submit_batch: LOG_SENT + outbox record QUEUED in one synced
 * commit, then the id is returned (the message is "promised"), then
 * agentd_tick sends it. */
inline submit(m) {
	atomic { s_st[m] == S_NONE ->
		s_st[m] = S_QUEUED;
		S_SEND(sr_msg[m])
	}
}

/* agentd_tick: a QUEUED message is sent again on its backoff timer. */
inline retransmit(m) {
	atomic { s_conn && s_st[m] == S_QUEUED && !sr_msg[m] ->
		sr_msg[m] = 1
	}
}

#if FIX
/* agentd_tick (FIX 1): an ACCEPTED message is asked about on a backoff
 * timer, never giving up: ASK (msg_id, env_hash). */
inline ask_timer(m) {
	atomic { MUTANT != 6 && s_conn && s_st[m] == S_ACCEPTED && !sr_ask[m] ->
		sr_ask[m] = 1
	}
}
#else
/* Time passes (FIX 0): AGENTD_REASK_MIN (30 s, doubling) after an
 * ACCEPTED or a re-ask, agentd_hello may re-ask again. */
inline reask_due(m) {
	atomic { s_backoff[m] -> s_backoff[m] = 0 }
}
#endif

/* What agentd_hello schedules for message ${m} (the sends themselves are
 * agentd_tick's, right after). */
inline hello_one(m) {
	if
	:: s_st[m] == S_QUEUED -> sr_msg[m] = 1	/* next_try = now */
#if FIX
	:: s_st[m] == S_ACCEPTED -> sr_ask[m] = 1	/* ASK at each HELLO */
#else
	/* ACCEPTED: re-ask (the whole MSG again) only if the backoff has
	 * elapsed (p->next_try <= now); then next_try = now + backoff. */
	:: s_st[m] == S_ACCEPTED && !s_backoff[m] ->
		sr_msg[m] = 1; s_backoff[m] = 1
	:: s_st[m] == S_ACCEPTED && s_backoff[m] -> skip
#endif
	:: else -> skip
	fi
}

/* The agent (re)connects (after a start, a crash or a dropped link) and
 * says HELLO: agentd_hello. */
inline connect_s() {
	atomic { !s_conn ->
		s_conn = 1;
		sr_hello = 1;
		hello_one(0);
#if NM > 1
		hello_one(1);
#endif
	}
}

active proctype Sender()
{
end:	do
	:: submit(0)
	:: retransmit(0)
#if FIX
	:: ask_timer(0)
#else
	:: reask_due(0)
#endif
#if NM > 1
	:: submit(1)
	:: retransmit(1)
#if FIX
	:: ask_timer(1)
#else
	:: reask_due(1)
#endif
#endif
	:: connect_s()
	od
}

/* handle_accepted (+ accepted_done): QUEUED -> ACCEPTED; ignored in any
 * other state.  The agent commits it with its next commit (agentd_defer.c);
 * modelled as committed at once: a crash before that commit equals a
 * crash before the ACCEPTED arrived (docs/model.md). */
inline recv_accepted(m) {
	atomic { rs_acc[m] ->
		CONSUME(rs_acc[m]);
		if
		:: s_st[m] == S_QUEUED ->
			s_st[m] = S_ACCEPTED;
			s_backoff[m] = 1	/* next_try = now + REASK_MIN */
		:: else -> skip
		fi
	}
}

/* handle_receipt (+ receipt_done): a verified RECEIPT: -> DELIVERED,
 * committed; ignored only if DELIVERED already (the C code does not
 * check for FAILED either).  Property 3: only for a message the
 * recipient has committed. */
inline recv_receipt(m) {
	atomic { rs_rcpt[m] ->
		CONSUME(rs_rcpt[m]);
		assert(c_has[m]);
		if
		:: s_st[m] != S_DELIVERED && s_st[m] != S_NONE ->
			s_st[m] = S_DELIVERED;
			printf("MODEL sender: m%d DELIVERED\n", m)
		:: else -> skip
		fi
	}
}

/* handle_nack, permanent code (the relay's expiry NACK): -> FAILED. */
inline recv_expired(m) {
	atomic { rs_exp[m] ->
		CONSUME(rs_exp[m]);
		assert(g_expired[m]);
		if
		:: s_st[m] == S_QUEUED || s_st[m] == S_ACCEPTED ->
			s_st[m] = S_FAILED;
			printf("MODEL sender: m%d FAILED (expired)\n", m)
		:: else -> skip
		fi
	}
}

#if FIX
/* handle_nack, FERRY_ENOTHELD from the relay (FIX 1): transient; an
 * ACCEPTED message goes back to QUEUED (committed) and its whole MSG is
 * sent again; a QUEUED one stays queued. */
inline recv_notheld(m) {
	atomic { rs_noth[m] ->
		CONSUME(rs_noth[m]);
		if
		:: s_st[m] == S_ACCEPTED ->
			s_st[m] = S_QUEUED;
			S_SEND(sr_msg[m])
		:: else -> skip
		fi
	}
}
#endif

/* agentd_receive / agentd_receive_many: the sender's inbound frames. */
active proctype SenderRecv()
{
end:	do
	:: recv_accepted(0)
	:: recv_receipt(0)
	:: recv_expired(0)
#if FIX
	:: recv_notheld(0)
#endif
#if NM > 1
	:: recv_accepted(1)
	:: recv_receipt(1)
	:: recv_expired(1)
#if FIX
	:: recv_notheld(1)
#endif
#endif
	od
}

/* ======================================================================
 * Relay: relay/loop.c, relay/queue.c
 * One turn of loop_run: recv_one for each readable envelope (check_*,
 * on_hello; sweep_one adds expiries), then commit_batch, then
 * answer_batch, then pump_all.  Here the checks are steps of their own
 * (RelayRecvS, RelayRecvC, RelayTimers), commit_batch + answer_batch one
 * step (RelayCommit).
 * ====================================================================== */

/* recv_one: any envelope from a peer (re)sets its route. */
#define ROUTE_S		routed_s = 1
#define ROUTE_C \
	if \
	:: !routed_c -> routed_c = 1; \
		for (k : 0 .. NM - 1) { infl[k] = 0 }	/* fl_clear */ \
	:: else -> skip \
	fi

/* on_hello (sender): push every kept notice (notice_one: send_to, and
 * an IT_NOTIFIED item that deletes it in this batch's commit). */
inline push_notice(m) {
	if
	:: r_notice[m] ->
		SEND_FINAL(m, r_fin[m]);
		b_notified[m] = 1
	:: else -> skip
	fi
}

inline recv_hello_s() {
	atomic { sr_hello ->
		CONSUME(sr_hello);
		ROUTE_S;
		push_notice(0);
#if NM > 1
		push_notice(1);
#endif
	}
}

/* check_msg (with batch_has, queue_lookup): a new id is IT_ACCEPT; a
 * known one IT_DUP, answered with ACCEPTED and, if finished (committed
 * or in this batch), the final envelope read now. */
inline recv_msg(m) {
	atomic { sr_msg[m] ->
		CONSUME(sr_msg[m]);
		ROUTE_S;
		if
		:: b_acc[m] -> b_dup[m] = MAXB(b_dup[m], 1)
		:: !b_acc[m] && b_fin[m] != F_NONE ->
			b_dup[m] = MAXB(b_dup[m], 1 + b_fin[m])
		:: !b_acc[m] && b_fin[m] == F_NONE && r_st[m] == R_QUEUED ->
			b_dup[m] = MAXB(b_dup[m], 1)
		:: !b_acc[m] && b_fin[m] == F_NONE && r_st[m] == R_DONE ->
			b_dup[m] = MAXB(b_dup[m], 1 + r_fin[m])
		:: !b_acc[m] && b_fin[m] == F_NONE && r_st[m] == R_NONE ->
			b_acc[m] = 1
		fi
	}
}

#if FIX
/* check_ask (FIX 1): answered from the committed state only: finished ->
 * the stored final; queued -> nothing; unknown -> NACK FERRY_ENOTHELD. */
inline recv_ask(m) {
	atomic { sr_ask[m] ->
		CONSUME(sr_ask[m]);
		ROUTE_S;
		if
#if MUTANT == 1
		:: r_st[m] == R_DONE -> skip
#else
		:: r_st[m] == R_DONE -> SEND_FINAL(m, r_fin[m])
#endif
#if MUTANT == 2
		:: r_st[m] == R_NONE -> skip
#else
		:: r_st[m] == R_NONE -> TO_S(rs_noth[m])
#endif
		:: r_st[m] == R_QUEUED -> skip
		fi
	}
}
#endif

active proctype RelayRecvS()
{
end:	do
	:: recv_hello_s()
	:: recv_msg(0)
#if FIX
	:: recv_ask(0)
#endif
#if NM > 1
	:: recv_msg(1)
#if FIX
	:: recv_ask(1)
#endif
#endif
	od
}

/* on_hello (recipient): fl_clear: everything in flight is sent again. */
inline recv_hello_c() {
	atomic { cr_hello ->
		CONSUME(cr_hello);
		ROUTE_C;
		for (k : 0 .. NM - 1) { infl[k] = 0 }
	}
}

/* check_answer: a RECEIPT for a queued message becomes IT_RECEIPT, with
 * notify = the sender has no route NOW (check time); a RECEIPT for a
 * message answered in this batch, or finished, is skipped; one for an
 * unknown message is refused (FERRY_ENOENT, not answered). */
inline recv_rcpt(m) {
	atomic { cr_rcpt[m] ->
		CONSUME(cr_rcpt[m]);
		ROUTE_C;
		if
		:: b_acc[m] || b_fin[m] != F_NONE -> skip
		:: else ->
			if
			:: r_st[m] == R_QUEUED ->
				b_fin[m] = F_RCPT;
				b_notify[m] = !routed_s
			:: else -> skip
			fi
		fi
	}
}

active proctype RelayRecvC()
{
end:	do
	:: recv_hello_c()
	/* HEARTBEAT: a route (the relay's answering HEARTBEAT is not
	 * modelled) */
	:: atomic { cr_hb -> CONSUME(cr_hb); ROUTE_C }
	:: recv_rcpt(0)
#if NM > 1
	:: recv_rcpt(1)
#endif
	od
}

/* commit_batch for message ${m}: queue_put, queue_finish (final into
 * q.ids, and into q.notices if notify), queue_notified. */
inline commit_one(m) {
	if
	:: b_acc[m] -> r_st[m] = R_QUEUED
	:: else -> skip
	fi;
	if
	:: b_fin[m] != F_NONE ->
		assert(b_fin[m] != F_RCPT || c_has[m]);
		r_st[m] = R_DONE;
		r_fin[m] = b_fin[m];
		r_notice[m] = b_notify[m];
		if
		:: b_fin[m] == F_EXP -> g_expired[m] = 1
		:: else -> skip
		fi;
		printf("MODEL relay: m%d finished (final %d), sender routed at check %d\n",
		    m, b_fin[m], 1 - b_notify[m])
	:: else -> skip
	fi;
	if
	:: b_notified[m] -> r_notice[m] = 0
	:: else -> skip
	fi
}

/* answer_batch for message ${m}; the batch is then cleared. */
inline answer_one(m) {
	if
	:: b_acc[m] -> TO_S(rs_acc[m])		/* send_accepted */
	:: else -> skip
	fi;
	if
	:: b_dup[m] != 0 ->			/* IT_DUP */
		TO_S(rs_acc[m]);
		SEND_FINAL(m, b_dup[m] - 1)
	:: else -> skip
	fi;
	if
	:: b_fin[m] != F_NONE ->		/* IT_RECEIPT, IT_EXPIRE */
		infl[m] = 0;			/* fl_done */
#if FIX && MUTANT != 5
		/* FIX 1: sent whenever the sender is routed now. */
		SEND_FINAL(m, b_fin[m]);
#else
		/* Today: only if it was routed at check time. */
		if
		:: !b_notify[m] -> SEND_FINAL(m, b_fin[m])
		:: else -> skip
		fi;
#endif
		printf("MODEL relay: m%d final sent to sender now: %d\n", m,
		    rs_rcpt[m] || rs_exp[m])
	:: else -> skip
	fi;
	b_acc[m] = 0; b_dup[m] = 0; b_fin[m] = F_NONE;
	b_notify[m] = 0; b_notified[m] = 0
}

/* commit_batch (one synced commit), then answer_batch; or the relay is
 * killed right after the commit (FERRY_RELAY_FAULT=after-commit). */
active proctype RelayCommit()
{
end:	do
	:: atomic { BATCH_NONEMPTY ->
		commit_one(0);
#if NM > 1
		commit_one(1);
#endif
		if
		:: CRASHES && faults > 0 ->
			faults--;
			printf("MODEL fault: relay killed after commit\n");
			crash_r()
		:: true ->
			answer_one(0);
#if NM > 1
			answer_one(1);
#endif
			skip
		fi
	   }
	od
}

/* pump: a queued message not in flight goes to the routed recipient. */
inline pump(m) {
	atomic { routed_c && r_st[m] == R_QUEUED && !infl[m] ->
		rc_msg[m] = 1; infl[m] = 1
	}
}

/* pump: in flight for `redeliver` seconds without an answer: again. */
inline redeliver(m) {
	atomic { routed_c && r_st[m] == R_QUEUED && infl[m] && !rc_msg[m] ->
		rc_msg[m] = 1
	}
}

#if EXPIRY
/* sweep_one + expire_item: a queued message past the expiry, not in
 * flight to a connected recipient and not in this batch, is finished
 * with NACK FERRY_EEXPIREDMSG; notify = the sender has no route now. */
inline expire(m) {
	atomic { r_st[m] == R_QUEUED && !(routed_c && infl[m]) &&
	    !b_acc[m] && b_fin[m] == F_NONE ->
		b_fin[m] = F_EXP;
		b_notify[m] = !routed_s
	}
}
#endif

active proctype RelayTimers()
{
end:	do
	:: pump(0)
	:: redeliver(0)
#if EXPIRY
	:: expire(0)
#endif
#if NM > 1
	:: pump(1)
	:: redeliver(1)
#if EXPIRY
	:: expire(1)
#endif
#endif
	od
}

/* ======================================================================
 * Recipient agent: agent/agentd.c
 * ====================================================================== */

/* receive_msg: de-duplicate by message id; a new one is verified,
 * committed (inbox record, LOG_RECEIVED, the RECEIPT) and given to the
 * application, and only then the RECEIPT leaves; a duplicate is answered
 * with the stored RECEIPT again. */
inline recv_c(m) {
	atomic { rc_msg[m] ->
		CONSUME(rc_msg[m]);
#if MUTANT == 4
		cr_rcpt[m] = 1;		/* too early */
		if
		:: true -> skip		/* ... and the commit fails */
		:: true ->
#endif
		if
#if MUTANT == 3
		:: true ->		/* no de-duplication */
#else
		:: !c_has[m] ->
#endif
			c_has[m] = 1;
			c_app[m]++;
			assert(c_app[m] == 1);	/* property 2 */
			printf("MODEL recipient: m%d committed\n", m)
		:: else -> skip
		fi;
#if MUTANT == 4
		fi
#else
		cr_rcpt[m] = 1
#endif
	}
}

active proctype Recipient()
{
end:	do
	:: atomic { !c_conn -> c_conn = 1; cr_hello = 1 }	/* agentd_hello */
	/*
	 * HEARTBEAT when idle (agentd_net.c: agentd_heartbeat every
	 * `heartbeat` ms without a send): at the relay any envelope (re)sets
	 * the agency's route (recv_one).  Only the heartbeats that matter
	 * are modelled: those sent while the relay has no route for the
	 * recipient (its HELLO was lost); the others change nothing.  (The
	 * sender's are left out: its HELLO, MSGs and ASKs make its route.)
	 */
	:: atomic { c_conn && !routed_c && !cr_hb -> cr_hb = 1 }
	:: recv_c(0)
#if NM > 1
	:: recv_c(1)
#endif
	od
}

/* ======================================================================
 * Faults, from a shared budget: lose one envelope in flight, kill a
 * party, drop a link; restore the relay from an old backup.  Duplication
 * is in CONSUME.  Once the budget is spent this process is blocked, so
 * under weak fairness the faults stop and every party stays connected.
 * ====================================================================== */

#define LOSE(v)	:: atomic { LOSSES && faults > 0 && v -> faults--; v = 0; \
		    printf("MODEL fault: lost "); printf(#v); printf("\n") }

active proctype Faults()
{
end:	do
	LOSE(sr_hello)
	LOSE(sr_msg[0])
	LOSE(rs_acc[0])
	LOSE(rs_rcpt[0])
	LOSE(rs_exp[0])
	LOSE(rc_msg[0])
	LOSE(cr_rcpt[0])
	LOSE(cr_hello)
	LOSE(cr_hb)
#if FIX
	LOSE(sr_ask[0])
	LOSE(rs_noth[0])
#endif
#if NM > 1
	LOSE(sr_msg[1])
	LOSE(rs_acc[1])
	LOSE(rs_rcpt[1])
	LOSE(rs_exp[1])
	LOSE(rc_msg[1])
	LOSE(cr_rcpt[1])
#if FIX
	LOSE(sr_ask[1])
	LOSE(rs_noth[1])
#endif
#endif
	:: atomic { CRASHES && faults > 0 -> faults--; crash_s();
		printf("MODEL fault: sender killed\n") }
	:: atomic { DROPS && faults > 0 && s_conn -> faults--; drop_s();
		printf("MODEL fault: sender link dropped\n") }
	:: atomic { CRASHES && faults > 0 -> faults--; crash_r();
		printf("MODEL fault: relay killed\n") }
	:: atomic { CRASHES && faults > 0 -> faults--; crash_c();
		printf("MODEL fault: recipient killed\n") }
	/* No more faults: a run may stop injecting them at any point (else
	 * weak fairness would force every run to spend the whole budget, and
	 * a stall that a later fault happens to cure would go unseen). */
	:: atomic { faults > 0 || restores > 0 -> faults = 0; restores = 0 }
	:: atomic { restores > 0 -> restores--; crash_r();
		for (k : 0 .. NM - 1) {
			r_st[k] = R_NONE; r_fin[k] = F_NONE; r_notice[k] = 0
		}
		printf("MODEL fault: relay restored from an empty backup\n") }
	od
}

/* ======================================================================
 * Properties (2 and 3 are the assertions above).
 * ====================================================================== */

#define FINAL(m)	(s_st[m] == S_DELIVERED || s_st[m] == S_FAILED)
/* The sender's state agrees with the relay's: delivered, or failed
 * because the relay expired the message (6.3.8: a message may expire
 * after the recipient committed it, if its RECEIPT never reached the
 * relay while the recipient was connected). */
#if STRICT_P4
#define SETTLED(m)	(s_st[m] == S_DELIVERED)
#else
#define SETTLED(m)	(s_st[m] == S_DELIVERED || \
			 (s_st[m] == S_FAILED && g_expired[m]))
#endif

/* PROP 1: p1; PROP 4: p4; PROP 14: both (select with pan -N). */
#if PROP == 1 || PROP == 14
/* 1: no promised message lost: once `send` has returned its id, the
 * sender eventually records it DELIVERED or FAILED. */
#if NM == 1
ltl p1 { [] ((s_st[0] != S_NONE) -> <> FINAL(0)) }
#else
ltl p1 { [] ((s_st[0] != S_NONE) -> <> FINAL(0)) &&
	 [] ((s_st[1] != S_NONE) -> <> FINAL(1)) }
#endif
#endif

#if PROP == 4 || PROP == 14
/* 4: once the recipient has committed (and so receipted) a message, its
 * sender eventually records it DELIVERED (or FAILED by the relay's
 * expiry, see SETTLED). */
#if NM == 1
ltl p4 { [] (c_has[0] -> <> SETTLED(0)) }
#else
ltl p4 { [] (c_has[0] -> <> SETTLED(0)) && [] (c_has[1] -> <> SETTLED(1)) }
#endif
#endif

/* PROP 9: reachability, to show that the model is not vacuous: each of
 * these must be violated (run.sh expects an error for each). */
#if PROP == 9
ltl never_delivered { [] (s_st[0] != S_DELIVERED) }
ltl never_expired { [] (s_st[0] != S_FAILED) }
ltl never_notheld { [] !(rs_noth[0] && s_st[0] == S_ACCEPTED) }
#endif
