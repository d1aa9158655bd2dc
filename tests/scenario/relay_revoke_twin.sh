#!/bin/bash
# Revocation with several connections (review C1): agency charlie holds
# two CURVE connections with the same key; a message is queued for it;
# roster 2 revokes it (SIGHUP).  Neither connection may receive the
# queued message, even when both ask for it (HELLO with credit) after
# the revocation; both are closed and their reconnects refused; the
# message stays queued.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha charlie
ft_relay_start || exit 1

ft_send alpha charlie --count 1 --marker FOR-CHARLIE --timeout 10 >"$FT/q" 2>&1
ft_check "a message queued for charlie" grep -q '^accepted ' "$FT/q"

# charlie: two connections; the message is delivered (never
# acknowledged, so it stays queued and in flight).
ft_bg "$FT/twin" "$FT/twin.err" "$RELAYC" twin "$RELAY_EP" \
	"$FT/keys/charlie.key" "$FT/roster" "$FT/go" --credit 16 --timeout 40
ft_check "charlie: connection A up" ft_wait 20 grep -q '^up A$' "$FT/twin"
ft_check "charlie: connection B up" ft_wait 20 grep -q '^up B$' "$FT/twin"
ft_check "charlie got it before revocation (no receipt)" ft_wait 20 \
	grep -q '^msg ' "$FT/twin"

ft_revoke charlie "$FT/roster" "$FT/roster.v2" ||
	{ ft_fail "make roster v2"; exit 1; }
cp "$FT/roster.v2" "$FT/relay-roster"
ft_relay_hup
ft_check "roster 2 (charlie revoked) adopted" ft_wait 20 \
	grep -q 'roster-adopted version=2' "$RELAY_ERR"
touch "$FT/go"	# both connections now say HELLO, repeatedly
ft_check "connection A closed and its reconnect refused" ft_wait 20 \
	grep -q '^refused A$' "$FT/twin"
ft_check "connection B closed and its reconnect refused" ft_wait 20 \
	grep -q '^refused B$' "$FT/twin"
ft_check "nothing queued for charlie delivered again on either connection" \
	[ "$(sed -n '/^go$/,$p' "$FT/twin" | grep -c '^msg ')" -eq 0 ]
ft_check "charlie's message stays queued" ft_wait 10 \
	grep -q 'ferry_relay_queue_depth{recipient="charlie"} 1' "$RELAY_DATA/metrics.prom"
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
