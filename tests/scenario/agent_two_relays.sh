#!/bin/bash
# agent_two_relays: an agent connects to every relay of the roster (issue
# 12): two relays, two agencies.  Both links up in `ferry status --json`;
# a send goes through the first relay (status MSGID "relay", LOG_ROUTE
# first choice in the sender's log); with the first relay stopped, the
# next send is delivered through the second; a message ACCEPTED by the
# first relay before it stopped is resent through the second after
# resend_after (LOG_ROUTE reason 3), so the recipient gets it from both
# relays once the first is back: stored once, the second copy counted as
# a duplicate and receipted through the relay it came by (each relay
# logs the RECEIPT); ferry-audit verify accepts the sender's log;
# relay_endpoints naming an unknown relay, or a bad relay_choice, are
# configuration errors.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
A=$B/ferry-audit
ft_net relay alpha bravo
ft_relay2_add relay-b
ft_relay_start || exit 1
ft_relay2_start || exit 1
fa_conf alpha failover_after=1s resend_after=1s
fa_start alpha || exit 1
fa_start bravo || exit 1

# msg_relay ID MSGID: the "relay" of status MSGID --json.
msg_relay() {
	fa "$1" status --json "$2" 2>/dev/null |
		$PY -c 'import json,sys; print(json.load(sys.stdin)["message"].get("relay", "-"))'
}
# routes MSGID: "TO:CODE ..." of the LOG_ROUTE entries of MSGID in alpha's log.
routes() {
	"$A" export "$FT/alpha-data/log" --csv 2>/dev/null |
		awk -F, -v id="$1" '$2 == "ROUTE" && $4 == id { printf "%s:%s ", $7, $9 }'
}
counter() {
	fa "$1" status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["counters"]["'"$2"'"])'
}

for who in alpha bravo; do
	ft_wait 20 fa_is_relays $who "relay=connected relay-b=connected" &&
		ft_ok "$who: both relay links connected in status --json" ||
		ft_fail "$who: relays: $(fa_relays $who)"
done
fa alpha status --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
assert d["link"]["connected"] is True
for r in d["relays"]:
    assert set(r) >= {"id", "endpoint", "state", "since", "rtt_ms", "custody",
                      "reconnects", "last_error", "check"}, r
    assert r["since"].endswith("Z"), r
' 2>"$FT/e" && ft_ok "status --json relays: every field, since in ISO 8601 UTC" ||
	ft_fail "status --json relays: $(cat "$FT/e")"
_metrics_up() {
	grep -q '^ferry_agent_relay_up{relay="relay"} 1$' "$FT/alpha-data/metrics.prom" &&
		grep -q '^ferry_agent_relay_up{relay="relay-b"} 1$' "$FT/alpha-data/metrics.prom" &&
		grep -Eq '^ferry_agent_relay_rtt_seconds\{relay="relay-b"\} [0-9]+\.[0-9]{3}$' "$FT/alpha-data/metrics.prom"
}
ft_wait 20 _metrics_up &&
	ft_ok "metrics.prom: ferry_agent_relay_up and _rtt_seconds per relay" ||
	ft_fail "metrics: $(grep relay_ "$FT/alpha-data/metrics.prom" 2>&1)"
fa alpha status >"$FT/st" 2>&1
grep -q "^  relay relay-b (tcp://127.0.0.1:$RELAY2_PORT): connected since " "$FT/st" &&
	ft_ok "status: one line per relay" || ft_fail "status text: $(cat "$FT/st")"

doc=$VECTORS/nrm-adult-labour.json
id1=$(fa alpha send --to bravo "$doc" 2>"$FT/e")
fa_wait_state alpha "$id1" delivered 30 &&
	ft_ok "a send through two relays is delivered" ||
	ft_fail "message 1: $(fa_state alpha "$id1") $(cat "$FT/e")"
ft_check "it went through the first relay (status MSGID relay)" \
	[ "$(msg_relay alpha "$id1")" = relay ]
ft_check "LOG_ROUTE first choice, relay 1, in the sender's log" \
	[ "$(routes "$id1")" = "relay:0 " ]

# A message in relay 1's custody while the recipient is away.
fa_stop bravo
id2=$(fa alpha send --to bravo "$doc" 2>"$FT/e")
fa_wait_state alpha "$id2" accepted 30 &&
	[ "$(msg_relay alpha "$id2")" = relay ] &&
	ft_ok "message 2 accepted by relay 1, recipient away" ||
	ft_fail "message 2: $(fa_state alpha "$id2") via $(msg_relay alpha "$id2")"

ft_relay_stop
ft_wait 20 fa_is_relays alpha "relay=connecting relay-b=connected" &&
	ft_ok "relay 1 stopped: its link shown connecting, relay 2 still connected" ||
	ft_fail "after stopping relay 1: $(fa_relays alpha)"
_metrics_down() {
	grep -q '^ferry_agent_relay_up{relay="relay"} 0$' "$FT/alpha-data/metrics.prom" &&
		grep -q '^ferry_agent_connected 1$' "$FT/alpha-data/metrics.prom"
}
ft_wait 20 _metrics_down &&
	ft_ok "metrics.prom: relay 1 down, the agent still connected (relay 2)" ||
	ft_fail "metrics after stopping relay 1: $(grep -E 'relay_up|_connected ' "$FT/alpha-data/metrics.prom")"
id3=$(fa alpha send --to bravo "$doc" 2>"$FT/e")
fa_wait_state alpha "$id3" accepted 30 &&
	ft_ok "relay 1 down: the next send accepted by relay 2" ||
	ft_fail "message 3: $(fa_state alpha "$id3") $(cat "$FT/e")"
ft_check "status MSGID names relay 2 for it" [ "$(msg_relay alpha "$id3")" = relay-b ]
r3=$(routes "$id3")
case "$r3" in
"relay-b:0 "|"relay:0 relay-b:2 ") ft_ok "LOG_ROUTE: relay 2 (first choice or link lost)";;
*) ft_fail "routes of message 3: '$r3'";;
esac
_resent() { [ "$(routes "$id2")" = "relay:0 relay-b:3 " ]; }
ft_wait 20 _resent &&
	ft_ok "message 2 resent through relay 2 after resend_after (LOG_ROUTE reason 3)" ||
	ft_fail "routes of message 2: '$(routes "$id2")'"
grep -q "INFO route msg=$id2 relay=relay-b reason=resend" "$FT/alpha.err" &&
	ft_ok "log line: route msg relay reason" ||
	ft_fail "no route line for message 2 in alpha's log"

# Relay 1 back with message 2 still queued; the recipient back: it gets
# message 2 from both relays.
ft_relay_start || exit 1
fa_start bravo || exit 1
for id in "$id2" "$id3"; do
	fa_wait_state alpha "$id" delivered 30 ||
		ft_fail "delivered $id: $(fa_state alpha "$id")"
done
ft_ok "messages 2 and 3 delivered"
ft_check "status MSGID of the resent message names the relay of its last route" \
	[ "$(msg_relay alpha "$id2")" = relay-b ]
_dup() { [ "$(counter bravo duplicates)" -ge 1 ]; }
ft_wait 30 _dup &&
	ft_ok "the copy through the other relay counted as a duplicate" ||
	ft_fail "bravo duplicates: $(counter bravo duplicates)"
ft_check "bravo's inbox holds each message once" [ "$(fa_inbox_count bravo)" = 3 ]
# Each relay that delivered message 2 got its RECEIPT back by its own link
# (the recipient answers through the relay a MSG came from).
_rcpt_both() {
	grep -q "delivered msg=${id2:0:16}" "$RELAY_ERR" &&
		grep -q "delivered msg=${id2:0:16}" "$RELAY2_ERR"
}
ft_wait 30 _rcpt_both &&
	ft_ok "both relays holding message 2 got a RECEIPT for it" ||
	ft_fail "RECEIPT for message 2: relay 1 $(ft_count "delivered msg=${id2:0:16}" "$RELAY_ERR"), relay 2 $(ft_count "delivered msg=${id2:0:16}" "$RELAY2_ERR")"
ft_check "bravo stored message 2 once (one RECEIVED in its log)" \
	[ "$("$A" export "$FT/bravo-data/log" --csv | awk -F, -v id="$id2" '$2 == "RECEIVED" && $4 == id' | wc -l)" = 1 ]

# A partition the spin model found (docs/model.md, relays_partition):
# bravo cannot reach relay 1 (its endpoint there leads nowhere) while
# relay 1 stays up and connected to alpha, so relay 1 takes custody and
# can never deliver.  With no RECEIPT for resend_no_receipt_after, alpha
# sends a copy through relay 2 (LOG_ROUTE reason 5) and it is delivered.
fa_stop alpha
fa_stop bravo
fa_conf bravo "relay_endpoints=relay=tcp://127.0.0.1:1"
fa_start bravo || exit 1
fa_conf alpha failover_after=1s resend_after=1s resend_no_receipt_after=2s
fa_start alpha || exit 1
ft_wait 20 fa_is_relays alpha "relay=connected relay-b=connected" ||
	ft_fail "alpha: relays: $(fa_relays alpha)"
id3=$(fa alpha send --to bravo "$doc" 2>"$FT/e")
fa_wait_state alpha "$id3" delivered 40 &&
	ft_ok "a message relay 1 holds but cannot deliver is delivered through relay 2" ||
	ft_fail "message 3 not delivered: $(fa alpha status "$id3" 2>&1 | head -3)"
r3=$(routes "$id3")
case "$r3" in
*"relay:0 "*"relay-b:5 "*) ft_ok "LOG_ROUTE: first relay 1, then relay 2 for no RECEIPT (reason 5): $r3" ;;
*) ft_fail "LOG_ROUTE of message 3: '$r3'" ;;
esac
ft_check "relay 1 took custody of message 3 (ACCEPTED there)" \
	grep -q "accepted msg=${id3:0:16}" "$RELAY_ERR"

fa_stop alpha
"$A" verify "$FT/alpha-data/log" >"$FT/v" 2>&1 &&
	ft_ok "ferry-audit verify accepts the sender's log with LOG_ROUTE entries" ||
	ft_fail "verify: $(tail -5 "$FT/v")"
# Configuration (alpha stopped): an unknown relay id in relay_endpoints,
# a relay choice other than the two.
fa_conf alpha relay_endpoints=nosuch=tcp://127.0.0.1:1
timeout 20 "$B/ferry-agent" -c "$FT/alpha.conf" >"$FT/o" 2>&1 </dev/null; rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] &&
	grep -q 'relay_endpoints: relay "nosuch" is not in roster' "$FT/o" &&
	ft_ok "relay_endpoints naming a relay not in the roster: refused, naming key and id" ||
	ft_fail "relay_endpoints nosuch: exit $rc: $(cat "$FT/o")"
fa_conf alpha relay_choice=random
timeout 20 "$B/ferry-agent" -c "$FT/alpha.conf" >"$FT/o" 2>&1 </dev/null; rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] &&
	grep -q 'relay_choice "random" is neither "order"' "$FT/o" &&
	ft_ok "relay_choice other than order or fastest: refused, saying which" ||
	ft_fail "relay_choice random: exit $rc: $(cat "$FT/o")"
fa_stop bravo
ft_relay_stop
ft_relay2_stop
ft_done
