#!/bin/bash
# ferry-relay roster reload (SIGHUP): the next version is verified,
# logged, pushed to every connected agent; a revoked agency's live
# connection is dropped and its key refused from then on; a version that
# skips ahead is refused; the adopted version survives a restart.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo charlie
ft_relay_start || exit 1

ft_send alpha charlie --count 1 --marker FOR-CHARLIE --timeout 10 >"$FT/q" 2>&1
ft_check "a message queued for charlie" grep -q '^accepted ' "$FT/q"

# bravo and charlie connected (charlie with credit 0: nothing delivered).
ft_bg "$FT/bravo" "$FT/bravo.err" "$RELAYC" recv "$RELAY_EP" \
	"$FT/keys/bravo.key" "$FT/roster" --count 1 --timeout 60
bpid=$FT_LASTPID
ft_bg "$FT/charlie" "$FT/charlie.err" "$RELAYC" recv "$RELAY_EP" \
	"$FT/keys/charlie.key" "$FT/roster" --count 5 --credit 0 --timeout 60
cpid=$FT_LASTPID
ft_wait 20 grep -q 'hello agency=charlie' "$RELAY_ERR"
ft_wait 20 grep -q 'hello agency=bravo' "$RELAY_ERR"

# Version 2 revokes charlie.
ft_revoke charlie "$FT/roster" "$FT/roster.v2" ||
	{ ft_fail "make roster v2"; exit 1; }
cp "$FT/roster.v2" "$FT/relay-roster"
ft_relay_hup
ft_check "SIGHUP: roster 2 verified and adopted" ft_wait 20 \
	grep -q 'roster-adopted version=2' "$RELAY_ERR"
ft_check "roster 2 pushed to connected bravo" ft_wait 20 \
	grep -q '^roster 2$' "$FT/bravo"
ft_check "revoked charlie's connection dropped" ft_wait 20 \
	grep -q 'agent-revoked agency=charlie' "$RELAY_ERR"
ft_check "charlie's reconnect refused by ZAP" ft_wait_exit "$cpid" 30
ft_check "charlie's client saw its key refused" [ "$FT_STATUS" -eq 3 ]
out=$(ft_send charlie alpha --count 1 --timeout 5 2>/dev/null)
ft_check "revoked sender refused at the handshake" [ "$out" = handshake-refused ]
ft_send alpha charlie --count 1 --timeout 10 >"$FT/rv" 2>&1
ft_check "sending to a revoked agency: NACK FERRY_ERECIPIENT" \
	grep -q '^nack FERRY_ERECIPIENT ' "$FT/rv"
ft_check "its queued message stays queued" ft_wait 10 \
	grep -q 'ferry_relay_queue_depth{recipient="charlie"} 1' "$RELAY_DATA/metrics.prom"
ft_check "metrics show roster version 2" ft_wait 10 \
	grep -q '^ferry_relay_roster_version 2$' "$RELAY_DATA/metrics.prom"

# A version that skips one is refused; version 2 stays.
ft_revoke bravo "$FT/roster.v2" "$FT/roster.v3"
ft_revoke alpha "$FT/roster.v3" "$FT/roster.v4"
cp "$FT/roster.v4" "$FT/relay-roster"
ft_relay_hup
ft_check "roster 4 after 2 refused (rollback/skip)" ft_wait 20 \
	grep -q 'roster-refused version=4 err=FERRY_EROLLBACK' "$RELAY_ERR"
ft_send alpha bravo --count 1 --timeout 10 >"$FT/still" 2>&1
ft_check "alpha (active in 2, revoked only in the refused 4) still served" \
	grep -q '^accepted ' "$FT/still"

# Restart: version 2 is kept (from the relay's store), charlie still refused.
cp "$FT/roster.v2" "$FT/relay-roster"
ft_relay_stop
ft_relay_start || exit 1
ft_check "restart: roster 2 loaded from the store" \
	grep -q 'roster-loaded version=2' "$RELAY_ERR"
out=$(ft_send charlie alpha --count 1 --timeout 5 2>/dev/null)
ft_check "restart: charlie still refused" [ "$out" = handshake-refused ]

# An agent holding version 1 gets version 2 pushed after its HELLO.
ft_recv bravo --count 1 --timeout 5 >"$FT/bravo2" 2>&1
ft_check "HELLO with roster 1: roster 2 pushed" grep -q '^roster 2$' "$FT/bravo2"
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]

# A rebuilt relay (a fresh data folder) given the current version 2: the
# pin names version 1; the refusal says so and what to do.
mv "$RELAY_DATA" "$RELAY_DATA.old"
timeout 20 "$B/ferry-relay" -c "$FT/relay.conf" >/dev/null 2>"$FT/rebuilt.err" </dev/null
ft_check "fresh data folder, roster version 2: the relay does not start" [ $? -eq 1 ]
ft_check "the refusal says version 1 is needed first, then each version in turn" \
	grep -q 'ERROR roster-genesis .*is roster version 2, but this data folder holds no roster yet.*set roster to that file for the first start, then install each later version in turn' "$FT/rebuilt.err"
ft_done
