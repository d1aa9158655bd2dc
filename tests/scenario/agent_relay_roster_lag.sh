#!/bin/bash
# agent_relay_roster_lag: relays take a new roster one at a time.  Roster
# version 3 adds agency charlie; relay-a has it, relay-b is still on
# version 2.  alpha adopts version 3 (pushed by relay-a), so `ferry send
# --to charlie` is accepted.  While relay-a is down (a planned restart) the
# referral goes through relay-b, which refuses charlie (NACK
# FERRY_ERECIPIENT): a relay whose roster is behind ours, not a final
# answer.  The message stays queued (WARN relay-roster-behind naming the
# relay, the recipient and our roster version), and is delivered through
# relay-a once it is back (ROUTE relay-b first choice, then relay-a reason
# 1).  A second one, relay-a down again, is delivered through relay-b
# itself once relay-b has version 3 (sent there again with its backoff).
# Before the fix the first was recorded failed, "recipient unknown or not
# active", and never sent again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
K=$B/ferry-keys
A=$B/ferry-audit
doc=$VECTORS/nrm-adult-labour.json
ft_net relay-a alpha bravo
ft_relay2_add relay-b
# relay-b on a roster file of its own: it stays on version 2.
cp "$FT/roster" "$FT/relay2-roster"
ft_relay_start || exit 1
ft_relay2_start roster="$FT/relay2-roster" || exit 1
fa_conf alpha
fa_start alpha || exit 1

# routes MSGID: "TO:CODE ..." of the LOG_ROUTE entries of MSGID in alpha's log.
routes() {
	"$A" export "$FT/alpha-data/log" --csv 2>/dev/null |
		awk -F, -v id="$1" '$2 == "ROUTE" && $4 == id { printf "%s:%s ", $7, $9 }'
}
roster_version() {
	fa "$1" status --json 2>/dev/null |
		$PY -c 'import json,sys; print(json.load(sys.stdin)["agent"]["roster_version"])'
}
_is_version() { [ "$(roster_version "$1")" = "$2" ]; }

ft_wait 20 fa_is_relays alpha "relay-a=connected relay-b=connected" ||
	ft_fail "alpha relays: $(fa_relays alpha)"

# Version 3: charlie added; relay-a takes it (SIGHUP) and pushes it.
{ "$K" init --id charlie --kind police --name "Test charlie" --out "$FT/keys" &&
  "$K" roster add --roster "$FT/roster" --request "$FT/keys/charlie.request" \
	--expires 365 --out "$FT/roster.3" &&
  "$K" roster sign --roster "$FT/roster.3" --key "$FT/keys/admin-1.key" \
	--previous "$FT/roster" &&
  "$K" roster sign --roster "$FT/roster.3" --key "$FT/keys/admin-2.key" \
	--previous "$FT/roster"; } >>"$FT/keys.log" 2>&1 </dev/null ||
	{ ft_fail "roster version 3"; tail -3 "$FT/keys.log"; exit 1; }
cp "$FT/roster.3" "$FT/relay-roster"
ft_relay_hup
ft_wait 20 _is_version alpha 3 &&
	ft_ok "alpha holds roster 3 (pushed by relay-a), relay-b still 2" ||
	ft_fail "alpha roster: $(roster_version alpha)"
# charlie installed from version 3: relay-a takes it, relay-b refuses it.
fa_conf charlie roster="$FT/roster.3" roster_pin="$("$K" fingerprint "$FT/roster.3")"
fa_start charlie || exit 1

# relay-a stopped (a planned restart): the referral goes to relay-b.
ft_relay_stop
ft_wait 20 fa_is_relays alpha "relay-a=connecting relay-b=connected" ||
	echo "# alpha relays: $(fa_relays alpha)"
id=$(fa alpha send --to charlie "$doc" 2>"$FT/e") ||
	ft_fail "send to charlie: $(cat "$FT/e")"
_warned() { grep -q "WARN relay-roster-behind msg=$id relay=relay-b to=charlie code=FERRY_ERECIPIENT .* roster=3: " "$FT/alpha.err"; }
ft_wait 20 _warned &&
	ft_ok "relay-b's NACK FERRY_ERECIPIENT said as its roster behind (relay, recipient, our version)" ||
	ft_fail "no relay-roster-behind: $(grep "$id" "$FT/alpha.err" | grep -v DEBUG | tail -3)"
sleep 2
st=$(fa_state alpha "$id")
[ "$st" = queued ] && ft_ok "not failed: queued while relay-a is down" ||
	ft_fail "while relay-a is down: $st ($(fa alpha status "$id" 2>&1 | head -1))"
grep -q "ERROR failed msg=$id" "$FT/alpha.err" &&
	ft_fail "alpha logged it failed" || ft_ok "no ERROR failed"

ft_relay_start || exit 1
fa_wait_state alpha "$id" delivered 30 &&
	ft_ok "delivered through relay-a once it is back" ||
	ft_fail "once relay-a is back: $(fa alpha status "$id" 2>&1 | head -3 | tr '\n' ' ')"
r=$(routes "$id")
case "$r" in
"relay-b:0 "*"relay-a:1 ") ft_ok "routes: relay-b first, then relay-a (no ACCEPTED: 1)" ;;
*) ft_fail "routes: $r" ;;
esac
[ "$(fa_inbox_count charlie)" = 1 ] &&
	ft_ok "charlie holds it once" || ft_fail "charlie's inbox: $(fa charlie inbox 2>&1)"

# relay-a down again; relay-b catches up meanwhile: delivered through it.
ft_relay_stop
ft_wait 20 fa_is_relays alpha "relay-a=connecting relay-b=connected" ||
	echo "# alpha relays: $(fa_relays alpha)"
id2=$(fa alpha send --to charlie "$doc" 2>"$FT/e") ||
	ft_fail "second send: $(cat "$FT/e")"
_warned2() { grep -q "WARN relay-roster-behind msg=$id2 relay=relay-b " "$FT/alpha.err"; }
ft_wait 20 _warned2 || ft_fail "second: no relay-roster-behind"
cp "$FT/roster.3" "$FT/relay2-roster"
kill -HUP "$RELAY2_PID"
fa_wait_state alpha "$id2" delivered 40 &&
	ft_ok "relay-b with version 3: the same relay takes it on a later try" ||
	ft_fail "relay-b caught up: $(fa alpha status "$id2" 2>&1 | head -3 | tr '\n' ' ')"

fa_stop alpha; fa_stop charlie
ft_relay2_stop
ft_done
