#!/bin/bash
# keys_relays: a roster listing several relays (docs/protocol.md 4.2):
# ferry-keys roster add-relay / remove-relay write the next version,
# which verifies against the one before; show lists every relay in order;
# the only relay cannot be removed, an unknown one is named; a relay that
# is the second entry finds itself by its id and keys and starts, one the
# roster does not list refuses to start, saying so.
. "$(dirname "$0")/lib.sh"
ft_init
K=$B/ferry-keys

ft_net relay alpha bravo
EP2=tcp://127.0.0.1:$(ft_port)
$K relay-init --id relay-b --out "$FT/keys" >>"$FT/keys.log" 2>&1 </dev/null
$K roster add-relay --roster "$FT/roster" --relay "$FT/keys/relay-b.request" \
	--endpoint "$EP2" --out "$FT/roster.2" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
if [ $rc = 0 ] && grep -q '^adding relay relay-b (relay' "$FT/o" &&
    grep -q 'fingerprint: ' "$FT/o" && grep -q '^roster 2 written' "$FT/o"; then
	ft_ok "add-relay: roster 2 written, the relay and its fingerprint shown"
else
	ft_fail "add-relay: exit $rc: $(cat "$FT/o" "$FT/e")"
fi
for a in admin-1 admin-2; do
	$K roster sign --roster "$FT/roster.2" --key "$FT/keys/$a.key" \
		--previous "$FT/roster" >>"$FT/keys.log" 2>&1 </dev/null
done
$K roster verify "$FT/roster.2" --previous "$FT/roster" >"$FT/o" 2>&1 &&
	ft_ok "roster 2 with two relays verifies against roster 1" ||
	ft_fail "verify roster 2: $(cat "$FT/o")"
$K roster show "$FT/roster.2" >"$FT/o" 2>&1
if [ "$(grep '^relay ' "$FT/o" | awk '{print $2}' | tr '\n' ' ')" = \
    "relay relay-b " ] && grep -q "^relay relay-b $EP2\$" "$FT/o"; then
	ft_ok "show: both relays, in order, with endpoints"
else
	ft_fail "show: $(grep '^relay' "$FT/o")"
fi
$K roster show --json "$FT/roster.2" >"$FT/o" 2>&1
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
assert [r["id"] for r in d["relays"]] == ["relay", "relay-b"]
assert d["relay"]["id"] == "relay"' "$FT/o" 2>"$FT/e"; then
	ft_ok "show --json: relays array in order, relay = the first"
else
	ft_fail "show --json: $(cat "$FT/e")"
fi

# The same relay again (same keys, same endpoint) is no change: refused.
$K roster add-relay --roster "$FT/roster.2" --relay "$FT/keys/relay-b.request" \
	--endpoint "$EP2" --out "$FT/roster.x" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
[ $rc = 1 ] && [ ! -e "$FT/roster.x" ] &&
	grep -q 'relay relay-b is already listed in roster 2 with these keys and this endpoint' "$FT/e" &&
	ft_ok "add-relay of the same entry again: nothing to change, exit 1" ||
	ft_fail "add-relay twice: exit $rc: $(cat "$FT/o" "$FT/e")"
# Same keys, another endpoint: a move.
$K roster add-relay --roster "$FT/roster.2" --relay "$FT/keys/relay-b.request" \
	--endpoint tcp://127.0.0.1:1 --out "$FT/roster.x" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
[ $rc = 0 ] && grep -q '^new endpoint for relay relay-b' "$FT/o" &&
	$K roster show "$FT/roster.x" | grep -q '^relay relay-b tcp://127.0.0.1:1$' &&
	ft_ok "add-relay with the same keys, another endpoint: the endpoint changes" ||
	ft_fail "add-relay move: exit $rc: $(cat "$FT/o" "$FT/e")"
rm -f "$FT/roster.x"

# remove-relay: unknown id, then the first relay, then not the last one.
$K roster remove-relay --roster "$FT/roster.2" --id nobody \
	--out "$FT/roster.x" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
[ $rc = 1 ] && grep -q 'roster 2 lists no relay nobody' "$FT/e" &&
	[ ! -e "$FT/roster.x" ] &&
	ft_ok "remove-relay unknown: names it, exit 1" ||
	ft_fail "remove-relay unknown: exit $rc: $(cat "$FT/e")"
$K roster remove-relay --roster "$FT/roster.2" --id relay \
	--out "$FT/roster.3" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
for a in admin-1 admin-2; do
	$K roster sign --roster "$FT/roster.3" --key "$FT/keys/$a.key" \
		--previous "$FT/roster.2" >>"$FT/keys.log" 2>&1 </dev/null
done
if [ $rc = 0 ] && grep -q 'removing relay relay' "$FT/o" &&
    $K roster verify "$FT/roster.3" --previous "$FT/roster.2" >/dev/null 2>&1 &&
    [ "$($K roster show "$FT/roster.3" | grep -c '^relay ')" = 1 ] &&
    $K roster show "$FT/roster.3" | grep -q '^relay relay-b '; then
	ft_ok "remove-relay: roster 3 lists relay-b only and verifies"
else
	ft_fail "remove-relay: exit $rc: $(cat "$FT/o" "$FT/e")"
fi
$K roster remove-relay --roster "$FT/roster.3" --id relay-b \
	--out "$FT/roster.x" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
[ $rc = 1 ] && grep -q 'only relay of roster 3: add another' "$FT/e" &&
	[ ! -e "$FT/roster.x" ] &&
	ft_ok "remove-relay of the only relay: refused, says add another first" ||
	ft_fail "remove-relay last: exit $rc: $(cat "$FT/e")"

# The second relay of roster 2 starts on it (finds its own entry).
RELAY_ID=relay-b
RELAY_PORT=${EP2##*:}
cp "$FT/roster.2" "$FT/relay-roster"
$K fingerprint "$FT/roster.2" >"$FT/roster.pin"
if ft_relay_start; then
	ft_ok "relay-b (second entry of the roster) starts"
	# A verified next version listing relay-b with other keys: refused
	# on SIGHUP with a real code and a why naming the relay and keys.
	mkdir -m 700 "$FT/keys-b2"
	$K relay-init --id relay-b --out "$FT/keys-b2" >>"$FT/keys.log" 2>&1 </dev/null
	$K roster add-relay --roster "$FT/roster.2" --relay "$FT/keys-b2/relay-b.request" \
		--endpoint "$EP2" --out "$FT/roster.2b" >>"$FT/keys.log" 2>&1 </dev/null
	for a in admin-1 admin-2; do
		$K roster sign --roster "$FT/roster.2b" --key "$FT/keys/$a.key" \
			--previous "$FT/roster.2" >>"$FT/keys.log" 2>&1 </dev/null
	done
	cp "$FT/roster.2b" "$FT/relay-roster"
	ft_relay_hup
	if ft_wait 20 grep -q 'roster-refused version=3' "$RELAY_ERR" &&
	    grep 'roster-refused version=3' "$RELAY_ERR" | grep -q 'err=FERRY_EBADVALUE why="roster 3 lists relay relay-b with other signing keys than this relay.s key file' &&
	    ! grep 'roster-refused version=3' "$RELAY_ERR" | grep -q 'FERRY_ENOMEM'; then
		ft_ok "a verified roster with relay-b's keys changed: refused, code and why name it"
	else
		ft_fail "relay keys changed: $(grep 'roster-' "$RELAY_ERR" | tail -3)"
	fi
	ft_relay_stop
	[ "$FT_STATUS" = 0 ] || ft_fail "relay-b exit status $FT_STATUS"
fi
# A relay the roster does not list refuses to start, naming the cause.
$K relay-init --id relay-c --out "$FT/keys" >>"$FT/keys.log" 2>&1 </dev/null
RELAY_ID=relay-c
rm -rf "$FT/relay-data"
cp "$FT/roster.2" "$FT/relay-roster"
ft_relay_conf
timeout 20 "$B/ferry-relay" -c "$FT/relay.conf" >"$FT/o" 2>"$FT/e"; rc=$?
if [ $rc != 0 ] && [ $rc != 124 ] &&
    grep -q 'roster-relay-mismatch.*does not list relay relay-c' "$FT/e"; then
	ft_ok "relay not listed: refuses to start, says the roster does not list it"
else
	ft_fail "relay not listed: exit $rc: $(tail -3 "$FT/e")"
fi
ft_done
