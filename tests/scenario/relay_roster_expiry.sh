#!/bin/bash
# relay_roster_expiry: once the roster in force is past its expiry the
# relay refuses new messages with FERRY_EEXPIRED (ERROR roster-expired once,
# metric ferry_relay_roster_expired 1), still delivers what it had
# accepted, and takes new messages again as soon as a newer version is
# adopted (SIGHUP).
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
K=$B/ferry-keys
ft_relay_start || exit 1

# Version 2 expires 8 s from now (1 day, made "1 day minus 8 s ago").
now=$(($(date +%s%N) / 1000000))
FERRY_KEYS_NOW_MS=$((now - 86400000 + 8000)) "$K" roster admins \
	--roster "$FT/roster" --threshold 2 --expires 1 --out "$FT/roster.2" \
	>>"$FT/keys.log" 2>&1 </dev/null
for i in 1 2; do
	"$K" roster sign --roster "$FT/roster.2" --key "$FT/keys/admin-$i.key" \
		--previous "$FT/roster" >>"$FT/keys.log" 2>&1 </dev/null
done
cp "$FT/roster.2" "$FT/relay-roster"; ft_relay_hup
_v() { [ "$(ft_metric ferry_relay_roster_version)" = "$1" ]; }
ft_check "relay adopted version 2" ft_wait 10 _v 2

ft_send alpha bravo --count 1 --marker BEFORE >"$FT/s1" 2>>"$FT/s.err"
ft_check "accepted before the expiry" grep -q '^accepted ' "$FT/s1"

_expired() { [ "$(ft_metric ferry_relay_roster_expired)" = 1 ]; }
ft_check "metric ferry_relay_roster_expired becomes 1" ft_wait 20 _expired
ft_send alpha bravo --count 2 --marker AFTER >"$FT/s2" 2>>"$FT/s.err"
ft_check "new messages refused: FERRY_EEXPIRED" \
	[ "$(ft_count '^nack FERRY_EEXPIRED ' "$FT/s2")" -eq 2 ]
ft_check "ERROR roster-expired logged once, saying what to do" \
	[ "$(grep -c 'ERROR roster-expired .*admins sign a newer roster' "$RELAY_ERR")" -eq 1 ]

ft_recv bravo --count 1 --timeout 20 >"$FT/r1" 2>>"$FT/s.err"
ft_check "the message accepted before the expiry is still delivered" \
	grep -q '^msg .* BEFORE' "$FT/r1"

# A newer version lifts the refusal.
"$K" roster admins --roster "$FT/roster.2" --threshold 2 --expires 365 \
	--out "$FT/roster.3" >>"$FT/keys.log" 2>&1 </dev/null
for i in 1 2; do
	"$K" roster sign --roster "$FT/roster.3" --key "$FT/keys/admin-$i.key" \
		--previous "$FT/roster.2" >>"$FT/keys.log" 2>&1 </dev/null
done
cp "$FT/roster.3" "$FT/relay-roster"; ft_relay_hup
ft_check "relay adopted version 3 after an expired version 2" ft_wait 10 _v 3
_fresh() { [ "$(ft_metric ferry_relay_roster_expired)" = 0 ]; }
ft_check "metric back to 0" ft_wait 10 _fresh
ft_send alpha bravo --count 1 --marker AGAIN >"$FT/s3" 2>>"$FT/s.err"
ft_check "accepted again" grep -q '^accepted ' "$FT/s3"
ft_done
