/*
 * relays.pml: a Promela model of delivery through several relays (issue
 * 12): one sender agent, two relays each with its own queue (custody),
 * one recipient agent, and the routing rules agreed for the agent on
 * issue 12 (relay_choice, failover_after, resend_after): relay choice,
 * failover when there is no ACCEPTED or the link is lost, the resend of
 * a message in the custody of a relay that stays unreachable,
 * FERRY_ENOTHELD, and the recipient's de-duplication across relays.
 * Faults: loss of any envelope, link drops, a relay killed and restarted
 * with its data, a relay restored from a backup (empty, or an old one
 * that still holds messages since finished: it redelivers old copies),
 * and one relay lost for good.  Checked with spin by tests/model/relays.sh;
 * docs/model.md ("Several relays") says what is modelled, what is left
 * out, the bounds and the results.
 *
 * It sits on top of delivery.pml: the one-relay protocol with the fix of
 * issue 13 (ASK, FERRY_ENOTHELD) is taken as given, and a relay's batch,
 * its notices and expiry are left out (see docs/model.md).
 *
 * Compile-time switches (spin -DNAME=VALUE ...):
 *
 *   NM        messages sent (1 or 2; default 1).
 *   FAULTS    shared budget of envelope losses, link drops (either agent,
 *             either relay) and relay kills with restart (default 2).
 *   RESTORES  times a relay may be restored from its backup (default 1);
 *             a relay with no backup taken is restored empty.
 *   BACKUPS   backups taken (default 1): a copy of one relay's queue at
 *             any moment, restored later by a RESTORE (a stale relay).
 *   PERM      permanent failures (0 or 1; default 1): one relay lost for
 *             good (its queue gone, never reachable again); with
 *             PARTITION 1 instead (or also) the recipient's link to one
 *             relay cut for good while that relay stays up for the sender.
 *             At most one relay is ever affected, so the other one
 *             eventually stays up and connected (the liveness assumption).
 *   PARTITION 0 (default): a relay that is up is eventually connected to
 *             both agents.  1: the permanent failure may be the
 *             recipient's link to a relay that stays connected to the
 *             sender (a link refused for good: wrong endpoint or key at
 *             the recipient, a firewall).
 *   RESEND    1 (default): the agreed rule: a message ACCEPTED by R with
 *             no RECEIPT is sent again through another connected relay
 *             when R has been unreachable for resend_after.
 *             0: no resend rule (a hole: must fail).
 *             2: a proposed extension: also when R stays connected (no
 *             RECEIPT within resend_after, whatever R's link state).
 *             3: another reading, shown to fail: the copy is sent once
 *             through the other relay and the message stays in R's
 *             custody (ASKs still to R).
 *   FAILOVER  1 (default): a QUEUED message goes to the next relay when
 *             its relay gives no ACCEPTED within failover_after, or its
 *             link is lost before the ACCEPTED.  0: never (a hole).
 *   DEDUP     1 (default): the recipient de-duplicates by message id.
 *             0: it does not (a hole: must fail).
 *   PROP      1: the liveness property `live`; 9: reachability claims
 *             (each must be violated); none: assertions only (compile
 *             pan with -DSAFETY).
 *
 * Style as in delivery.pml: every process is one `do` loop of atomic
 * steps starting with their guard, so the state is the data alone.
 */

#ifndef NM
#define NM 1
#endif
#ifndef FAULTS
#define FAULTS 2
#endif
#ifndef RESTORES
#define RESTORES 1
#endif
#ifndef BACKUPS
#define BACKUPS 1
#endif
#ifndef PERM
#define PERM 1
#endif
#ifndef PARTITION
#define PARTITION 0
#endif
#ifndef RESEND
#define RESEND 1
#endif
#ifndef FAILOVER
#define FAILOVER 1
#endif
#ifndef DEDUP
#define DEDUP 1
#endif

#define NR		2	/* relays */
#define VIA_NONE	2	/* no relay chosen */
#define IX(i, m)	((i) * NM + (m))

/* Sender agent: outbox state (no FAILED: expiry and permanent NACKs are
 * not modelled here). */
#define S_NONE		0
#define S_QUEUED	1	/* promised, not in any relay's custody */
#define S_ACCEPTED	2	/* ACCEPTED by relay s_via[m] */
#define S_DELIVERED	3	/* the recipient's RECEIPT */

/* Relay: q.ids state. */
#define R_NONE		0
#define R_QUEUED	1
#define R_DONE		2	/* finished with the recipient's RECEIPT */

/* ---- state --------------------------------------------------------------
 * Durable: s_st, s_via (LOG_ROUTE), r_st, r_bak, c_has, c_app.
 */

/* Sender agent. */
byte s_st[NM];
byte s_via[NM];		/* QUEUED: the relay it was routed to (VIA_NONE:
			 * none yet, or its link was lost); ACCEPTED: the
			 * relay that has it in custody */
bit s_conn[NR];		/* link sender <-> relay i up (and the relay's
			 * route for the sender) */
#if RESEND == 3
bit s_resent[NM];	/* RESEND 3: the one resend was made */
#endif

/* Recipient agent. */
bit c_conn[NR];		/* link recipient <-> relay i up */
bit c_has[NM];		/* the inbox record */
byte c_app[NM];		/* times stored / given to the application */

/* Links, one bit per (relay, message) and kind of envelope in flight: a
 * receive takes any set bit (any order), a loss clears one, a link drop
 * clears every bit of that link. */
bit sr_msg[NR * NM];	/* sender -> relay i: MSG */
bit sr_ask[NR * NM];	/* sender -> relay i: ASK */
bit rs_acc[NR * NM];	/* relay i -> sender: ACCEPTED */
bit rs_rcpt[NR * NM];	/* relay i -> sender: the recipient's RECEIPT */
bit rs_noth[NR * NM];	/* relay i -> sender: NACK FERRY_ENOTHELD */
bit rc_msg[NR * NM];	/* relay i -> recipient: MSG */
bit cr_rcpt[NR * NM];	/* recipient -> relay i: RECEIPT */

/* Relays. */
byte r_st[NR * NM];	/* durable: q.ids */
byte r_bak[NR * NM];	/* the backup of relay i's queue (R_NONE: none) */
bit r_gone[NR];		/* lost for good: never reachable again */
bit c_cut[NR];		/* PARTITION: the recipient's link to relay i is
			 * refused for good */

/* Fault budgets. */
byte faults = FAULTS;
byte restores = RESTORES;
byte backups = BACKUPS;
byte perm = PERM;

/* Ghosts for the reachability claims (never reset). */
#if PROP == 9
bit g_noth;		/* an ACCEPTED sender got FERRY_ENOTHELD */
bit g_resent;		/* the resend rule fired */
bit g_rest[NR];		/* relay i was restored from a non-empty backup */
bit g_stale;		/* a relay restored from a non-empty backup
			 * redelivered a message the recipient had */
#define GHOST(x)	x
#else
#define GHOST(x)	skip
#endif

hidden byte k;

/* ---- the sender's routing (agentd, relay_choice / failover) ----------- */

/* Send message ${m} through relay ${i} (the link is up). */
#define SEND_MSG(i, m)	sr_msg[IX(i, m)] = 1

/* Choose a relay for message ${m} and send it: relay_choice `order` (the
 * first connected relay) or `fastest` (any connected one, by round trip):
 * any connected relay; none connected: wait (VIA_NONE) until one is. */
inline pick(m) {
	if
	:: s_conn[0] -> s_via[m] = 0; SEND_MSG(0, m)
	:: s_conn[1] -> s_via[m] = 1; SEND_MSG(1, m)
	:: else -> s_via[m] = VIA_NONE
	fi
}

/* The sender's link to relay ${i} goes down: everything in flight on it
 * is lost; a QUEUED message routed to ${i} (no ACCEPTED yet) is routed
 * again (LOG_ROUTE reason 2) as soon as a relay is connected. */
inline drop_s(i) {
	s_conn[i] = 0;
	for (k : 0 .. NM - 1) {
		sr_msg[IX(i, k)] = 0; sr_ask[IX(i, k)] = 0;
		rs_acc[IX(i, k)] = 0; rs_rcpt[IX(i, k)] = 0;
		rs_noth[IX(i, k)] = 0;
#if FAILOVER
		if
		:: s_st[k] == S_QUEUED && s_via[k] == i -> s_via[k] = VIA_NONE
		:: else -> skip
		fi
#endif
	}
}

/* The recipient's link to relay ${i} goes down. */
inline drop_c(i) {
	c_conn[i] = 0;
	for (k : 0 .. NM - 1) { rc_msg[IX(i, k)] = 0; cr_rcpt[IX(i, k)] = 0 }
}

/* ======================================================================
 * Sender agent
 * ====================================================================== */

/* agentd_submit_batch: QUEUED (committed, with the first LOG_ROUTE), then
 * sent through the chosen relay. */
inline submit(m) {
	atomic { s_st[m] == S_NONE ->
		s_st[m] = S_QUEUED;
		pick(m)
	}
}

/* A QUEUED message with no relay (none was connected, or its link was
 * lost) is routed when a relay is connected. */
inline route(m) {
	atomic { s_st[m] == S_QUEUED && s_via[m] == VIA_NONE &&
	    (s_conn[0] || s_conn[1]) ->
		pick(m)
	}
}

/* The retransmission timer of a QUEUED message, to its relay. */
inline retransmit(m) {
	atomic { s_st[m] == S_QUEUED && s_via[m] != VIA_NONE &&
	    s_conn[s_via[m]] && !sr_msg[IX(s_via[m], m)] ->
		SEND_MSG(s_via[m], m)
	}
}

#if FAILOVER
/* failover_after: no ACCEPTED from the relay in time: the next relay
 * (the other one, if connected; LOG_ROUTE reason 1). */
inline failover(m) {
	atomic { s_st[m] == S_QUEUED && s_via[m] != VIA_NONE &&
	    s_conn[1 - s_via[m]] ->
		s_via[m] = 1 - s_via[m];
		SEND_MSG(s_via[m], m)
	}
}
#endif

/* The ASK timer of an ACCEPTED message, to the relay that has it. */
inline ask(m) {
	atomic { s_st[m] == S_ACCEPTED && s_conn[s_via[m]] &&
	    !sr_ask[IX(s_via[m], m)] ->
		sr_ask[IX(s_via[m], m)] = 1
	}
}

#if RESEND
/* resend_after: ACCEPTED by R, no RECEIPT, R not connected for
 * resend_after (RESEND 2: whatever R's link state): the same envelope
 * through another connected relay (LOG_ROUTE reason 3); it is QUEUED
 * there until that relay's ACCEPTED. */
#if RESEND == 3
/* RESEND 3 (another reading of the rule, to show why it needs the
 * custody to move): the copy is sent once through the other relay, and
 * the message stays ACCEPTED in the lost relay's custody (so the other
 * relay's ACCEPTED changes nothing and the ASKs still go to the lost
 * relay). */
inline resend(m) {
	atomic { s_st[m] == S_ACCEPTED && !s_resent[m] &&
	    !s_conn[s_via[m]] && s_conn[1 - s_via[m]] ->
		s_resent[m] = 1;
		SEND_MSG(1 - s_via[m], m);
		printf("MODEL sender: m%d resent once through relay %d\n", m,
		    1 - s_via[m])
	}
}
#else
inline resend(m) {
	atomic { s_st[m] == S_ACCEPTED &&
	    (RESEND == 2 || !s_conn[s_via[m]]) && s_conn[1 - s_via[m]] ->
		s_st[m] = S_QUEUED;
		s_via[m] = 1 - s_via[m];
		SEND_MSG(s_via[m], m);
		GHOST(g_resent = 1);
		printf("MODEL sender: m%d resent through relay %d\n", m, s_via[m])
	}
}
#endif
#endif

active proctype Sender()
{
end:	do
	:: submit(0)
	:: route(0)
	:: retransmit(0)
	:: ask(0)
#if NM > 1
	:: submit(1)
	:: route(1)
	:: retransmit(1)
	:: ask(1)
#endif
	od
}

#if FAILOVER || RESEND
/* The routing timers, a process of their own: under weak fairness (per
 * process) a timer that stays due then does fire, instead of being
 * passed over for ever by the ASK timer. */
active proctype SenderTimers()
{
end:	do
#if FAILOVER
	:: failover(0)
#if NM > 1
	:: failover(1)
#endif
#endif
#if RESEND
	:: resend(0)
#if NM > 1
	:: resend(1)
#endif
#endif
	od
}
#endif

/* ACCEPTED from relay ${i} (verified with ${i}'s key): QUEUED -> ACCEPTED,
 * in ${i}'s custody, whichever relay it was last routed to; ignored once
 * ACCEPTED or DELIVERED.  A RECEIPT of the same message waiting on any
 * link is read first: it makes the message DELIVERED, after which the
 * ACCEPTED changes nothing; without this priority weak fairness (which is
 * per process, not per step) would let a stream of ACCEPTEDs overtake a
 * RECEIPT forever. */
inline recv_acc(i, m) {
	atomic { rs_acc[IX(i, m)] && !rs_rcpt[IX(0, m)] && !rs_rcpt[IX(1, m)] ->
		rs_acc[IX(i, m)] = 0;
		if
		:: s_st[m] == S_QUEUED -> s_st[m] = S_ACCEPTED; s_via[m] = i
		:: else -> skip
		fi
	}
}

/* The recipient's RECEIPT, through relay ${i}: DELIVERED.  Safety: only
 * for a message the recipient has stored. */
inline recv_rcpt(i, m) {
	atomic { rs_rcpt[IX(i, m)] ->
		rs_rcpt[IX(i, m)] = 0;
		assert(c_has[m]);
		if
		:: s_st[m] == S_QUEUED || s_st[m] == S_ACCEPTED ->
			s_st[m] = S_DELIVERED;
			printf("MODEL sender: m%d DELIVERED (receipt via relay %d)\n", m, i)
		:: else -> skip
		fi
	}
}

/* NACK FERRY_ENOTHELD from relay ${i}, the relay that has the message in
 * custody: back to QUEUED and routed again at once (LOG_ROUTE reason 4);
 * from another relay, or in another state: ignored. */
inline recv_noth(i, m) {
	atomic { rs_noth[IX(i, m)] ->
		rs_noth[IX(i, m)] = 0;
		if
		:: s_st[m] == S_ACCEPTED && s_via[m] == i ->
			GHOST(g_noth = 1);
			s_st[m] = S_QUEUED;
			pick(m)
		:: else -> skip
		fi
	}
}

active proctype SenderRecv()
{
end:	do
	:: recv_acc(0, 0)
	:: recv_acc(1, 0)
	:: recv_rcpt(0, 0)
	:: recv_rcpt(1, 0)
	:: recv_noth(0, 0)
	:: recv_noth(1, 0)
#if NM > 1
	:: recv_acc(0, 1)
	:: recv_acc(1, 1)
	:: recv_rcpt(0, 1)
	:: recv_rcpt(1, 1)
	:: recv_noth(0, 1)
	:: recv_noth(1, 1)
#endif
	od
}

/* ======================================================================
 * Relays: each one the one-relay protocol (delivery.pml, FIX 1) with its
 * batch folded into each receive (check, commit and answer in one step).
 * ====================================================================== */

/* check_msg: new -> QUEUED, ACCEPTED; held -> ACCEPTED again; finished ->
 * ACCEPTED and the stored RECEIPT. */
inline relay_msg(i, m) {
	atomic { sr_msg[IX(i, m)] ->
		sr_msg[IX(i, m)] = 0;
		if
		:: r_st[IX(i, m)] == R_NONE -> r_st[IX(i, m)] = R_QUEUED
		:: else -> skip
		fi;
		rs_acc[IX(i, m)] = 1;
		if
		:: r_st[IX(i, m)] == R_DONE -> rs_rcpt[IX(i, m)] = 1
		:: else -> skip
		fi
	}
}

/* on_ask: finished -> the stored RECEIPT; queued -> nothing; unknown ->
 * NACK FERRY_ENOTHELD. */
inline relay_ask(i, m) {
	atomic { sr_ask[IX(i, m)] ->
		sr_ask[IX(i, m)] = 0;
		if
		:: r_st[IX(i, m)] == R_DONE -> rs_rcpt[IX(i, m)] = 1
		:: r_st[IX(i, m)] == R_NONE -> rs_noth[IX(i, m)] = 1
		:: r_st[IX(i, m)] == R_QUEUED -> skip
		fi
	}
}

/* check_answer: a RECEIPT for a queued message finishes it and is
 * forwarded to the sender if routed (else the sender's ASK or
 * retransmission fetches it); for an unknown or finished one: nothing. */
inline relay_rcpt(i, m) {
	atomic { cr_rcpt[IX(i, m)] ->
		cr_rcpt[IX(i, m)] = 0;
		if
		:: r_st[IX(i, m)] == R_QUEUED ->
			assert(c_has[m]);
			r_st[IX(i, m)] = R_DONE;
			if
			:: s_conn[i] -> rs_rcpt[IX(i, m)] = 1
			:: else -> skip
			fi
		:: else -> skip
		fi
	}
}

/* pump / redeliver: a queued message goes (again) to the connected
 * recipient, unless a RECEIPT from it is waiting to be read (the relay
 * reads before its timers run). */
inline relay_deliver(i, m) {
	atomic { c_conn[i] && r_st[IX(i, m)] == R_QUEUED && !rc_msg[IX(i, m)] &&
	    !cr_rcpt[IX(i, m)] ->
		rc_msg[IX(i, m)] = 1
	}
}

/* The sender's side of relay i: MSG and ASK; the recipient's side:
 * RECEIPT, delivery.  (Two processes per relay, so that under weak
 * fairness a stream of ASKs cannot starve the reading of a RECEIPT.) */
#if NM > 1
#define RELAY_S(i)	do :: relay_msg(i, 0) :: relay_ask(i, 0) \
			   :: relay_msg(i, 1) :: relay_ask(i, 1) od
#define RELAY_C(i)	do :: relay_rcpt(i, 0) :: relay_deliver(i, 0) \
			   :: relay_rcpt(i, 1) :: relay_deliver(i, 1) od
#else
#define RELAY_S(i)	do :: relay_msg(i, 0) :: relay_ask(i, 0) od
#define RELAY_C(i)	do :: relay_rcpt(i, 0) :: relay_deliver(i, 0) od
#endif

active proctype RelayS0() { end: RELAY_S(0) }
active proctype RelayS1() { end: RELAY_S(1) }
active proctype RelayC0() { end: RELAY_C(0) }
active proctype RelayC1() { end: RELAY_C(1) }

/* ======================================================================
 * Recipient agent
 * ====================================================================== */

/* receive_msg, from relay ${i}: a message id not seen through any relay
 * is stored (committed) and then receipted; a duplicate is not stored
 * again and is re-receipted through the relay it came by (n_duplicates).
 * Safety: each message stored at most once. */
inline recv_c(i, m) {
	atomic { rc_msg[IX(i, m)] ->
		rc_msg[IX(i, m)] = 0;
		if
#if DEDUP
		:: !c_has[m] ->
#else
		:: true ->
#endif
			c_has[m] = 1;
			c_app[m]++;
			assert(c_app[m] == 1);
			printf("MODEL recipient: m%d stored (via relay %d)\n", m, i)
		:: else ->
#if PROP == 9
			if
			:: g_rest[i] -> g_stale = 1
			:: else -> skip
			fi
#else
			skip
#endif
		fi;
		cr_rcpt[IX(i, m)] = 1
	}
}

active proctype Recipient()
{
end:	do
	:: recv_c(0, 0)
	:: recv_c(1, 0)
#if NM > 1
	:: recv_c(0, 1)
	:: recv_c(1, 1)
#endif
	od
}

/* ======================================================================
 * The environment: links coming up, and the faults.  Once every budget is
 * spent (or the run stops spending it) only the connections are left, so
 * under weak fairness every link of a relay that is not lost for good
 * (and not cut, with PARTITION) comes up and stays up.
 * ====================================================================== */

/* The sender (re)connects to relay ${i}: HELLO; every QUEUED message
 * routed there is sent, every one in its custody asked about. */
inline connect_s(i) {
	atomic { !s_conn[i] && !r_gone[i] ->
		s_conn[i] = 1;
		for (k : 0 .. NM - 1) {
			if
			:: s_st[k] == S_QUEUED && s_via[k] == i -> SEND_MSG(i, k)
			:: s_st[k] == S_ACCEPTED && s_via[k] == i ->
				sr_ask[IX(i, k)] = 1
			:: else -> skip
			fi
		}
	}
}

/* The recipient (re)connects to relay ${i}: HELLO (the relay then
 * redelivers everything queued for it: relay_deliver). */
inline connect_c(i) {
	atomic { !c_conn[i] && !r_gone[i] && !c_cut[i] -> c_conn[i] = 1 }
}

/* kill -9 of relay ${i}, restarted with its data: both links drop. */
inline crash_r(i) { drop_s(i); drop_c(i) }

/* Relay ${i} restored from its backup (empty if none was taken). */
inline restore_r(i) {
	crash_r(i);
	for (k : 0 .. NM - 1) {
		r_st[IX(i, k)] = r_bak[IX(i, k)];
#if PROP == 9
		if
		:: r_bak[IX(i, k)] != R_NONE -> g_rest[i] = 1
		:: else -> skip
		fi
#endif
	}
	printf("MODEL fault: relay %d restored from a backup\n", i)
}

/* Relay ${i} lost for good: never reachable again, its data gone. */
inline lose_r(i) {
	crash_r(i);
	r_gone[i] = 1;
	for (k : 0 .. NM - 1) { r_st[IX(i, k)] = R_NONE; r_bak[IX(i, k)] = R_NONE }
	printf("MODEL fault: relay %d lost for good\n", i)
}

#define LOSE(v)	:: atomic { faults > 0 && v -> faults--; v = 0; \
		    printf("MODEL fault: lost "); printf(#v); printf("\n") }
#define LOSE_ALL(x) LOSE(x[0]) LOSE(x[1])

inline env_relay(i) {
	if
	:: connect_s(i)
	:: connect_c(i)
	:: atomic { faults > 0 && s_conn[i] -> faults--; drop_s(i);
		printf("MODEL fault: sender's link to relay %d dropped\n", i) }
	:: atomic { faults > 0 && c_conn[i] -> faults--; drop_c(i);
		printf("MODEL fault: recipient's link to relay %d dropped\n", i) }
	:: atomic { faults > 0 && !r_gone[i] -> faults--; crash_r(i);
		printf("MODEL fault: relay %d killed and restarted\n", i) }
	:: atomic { backups > 0 && restores > 0 && !r_gone[i] -> backups--;
		for (k : 0 .. NM - 1) { r_bak[IX(i, k)] = r_st[IX(i, k)] } }
	:: atomic { restores > 0 && !r_gone[i] -> restores--; restore_r(i) }
	:: atomic { perm > 0 -> perm--; lose_r(i) }
#if PARTITION
	:: atomic { perm > 0 -> perm--; c_cut[i] = 1; drop_c(i);
		printf("MODEL fault: recipient's link to relay %d cut for good\n", i) }
#endif
	fi
}

active proctype Env()
{
end:	do
	:: env_relay(0)
	:: env_relay(1)
	LOSE_ALL(sr_msg)
	LOSE_ALL(sr_ask)
	LOSE_ALL(rs_acc)
	LOSE_ALL(rs_rcpt)
	LOSE_ALL(rs_noth)
	LOSE_ALL(rc_msg)
	LOSE_ALL(cr_rcpt)
#if NM > 1
	LOSE(sr_msg[2]) LOSE(sr_msg[3]) LOSE(sr_ask[2]) LOSE(sr_ask[3])
	LOSE(rs_acc[2]) LOSE(rs_acc[3]) LOSE(rs_rcpt[2]) LOSE(rs_rcpt[3])
	LOSE(rs_noth[2]) LOSE(rs_noth[3]) LOSE(rc_msg[2]) LOSE(rc_msg[3])
	LOSE(cr_rcpt[2]) LOSE(cr_rcpt[3])
#endif
	/* No more faults (a run may stop spending its budget at any point). */
	:: atomic { faults > 0 || restores > 0 || backups > 0 || perm > 0 ->
		faults = 0; restores = 0; backups = 0; perm = 0 }
	od
}

/* ======================================================================
 * Properties.  Safety (assertions): the recipient stores each message at
 * most once (recv_c); the sender records DELIVERED, and a relay finishes
 * a message, only once the recipient has stored it (recv_rcpt,
 * relay_rcpt).
 * ====================================================================== */

#if PROP == 1
/* Every message sent is eventually DELIVERED at the sender (weak
 * fairness; at most one relay is lost for good, so the other eventually
 * stays up and connected). */
#if NM == 1
ltl live { [] ((s_st[0] != S_NONE) -> <> (s_st[0] == S_DELIVERED)) }
#else
ltl live { [] ((s_st[0] != S_NONE) -> <> (s_st[0] == S_DELIVERED)) &&
	   [] ((s_st[1] != S_NONE) -> <> (s_st[1] == S_DELIVERED)) }
#endif
#endif

#if PROP == 9
/* Reachability: each of these must be violated. */
ltl never_delivered { [] (s_st[0] != S_DELIVERED) }
ltl never_resent_delivered { [] !(g_resent && s_st[0] == S_DELIVERED &&
				  (r_gone[0] || r_gone[1])) }
ltl never_notheld { [] !g_noth }
ltl never_stale { [] !g_stale }
ltl never_both { [] !(r_st[0] != R_NONE && r_st[NM] != R_NONE) }
#endif
