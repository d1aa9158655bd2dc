#!/bin/bash
# agent_roster_expiry: the roster in force expires while agents run.  The
# agent then refuses new referrals (ferry send and spool pickups) with
# FERRY_EEXPIRED and a message naming the expiry date, logs ERROR
# roster-expired once and shows it in `ferry status`; what was already
# accepted is still delivered and receipted; a restart with the expired
# roster works; a newer version pushed by the relay lifts the refusal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
K=$B/ferry-keys
doc=$VECTORS/nrm-adult-labour.json
ft_relay_start
fa_start alpha
fa_start bravo

# Version 2 expires 15 s from now (1 day, made "1 day minus 15 s ago").
now=$(($(date +%s%N) / 1000000))
FERRY_KEYS_NOW_MS=$((now - 86400000 + 15000)) "$K" roster admins \
	--roster "$FT/roster" --threshold 2 --expires 1 --out "$FT/roster.2" \
	>>"$FT/keys.log" 2>&1 </dev/null
for i in 1 2; do
	"$K" roster sign --roster "$FT/roster.2" --key "$FT/keys/admin-$i.key" \
		--previous "$FT/roster" >>"$FT/keys.log" 2>&1 </dev/null
done
cp "$FT/roster.2" "$FT/relay-roster"; ft_relay_hup
_v() { fa "$1" status 2>/dev/null | grep -q "roster version $2"; }
ft_check "alpha holds version 2" ft_wait 10 _v alpha 2
ft_check "bravo holds version 2" ft_wait 10 _v bravo 2

# Accepted before the expiry, delivered after it (bravo is away).
fa_stop bravo
id1=$(fa alpha send --to bravo "$doc" 2>/dev/null)
ft_check "sent before expiry" fa_wait_state alpha "$id1" accepted 10

_expired() { grep -q 'ERROR roster-expired' "$FT/alpha.err"; }
ft_check "alpha logs ERROR roster-expired" ft_wait 40 _expired
ft_check "... once" test "$(ft_count 'ERROR roster-expired' "$FT/alpha.err")" = 1
fa alpha send --to bravo "$doc" >"$FT/s.out" 2>"$FT/s.err"; rc=$?
if [ $rc = 1 ] && grep -q FERRY_EEXPIRED "$FT/s.err" &&
    grep -q 'expired on 20[0-9-]*T' "$FT/s.err" &&
    grep -q 'ask the admins for a new roster version' "$FT/s.err"; then
	ft_ok "send refused: FERRY_EEXPIRED, expiry date, what to do"
else
	ft_fail "send after expiry: exit $rc: $(cat "$FT/s.out" "$FT/s.err")"
fi
ft_check "status shows the roster expired" eval "fa alpha status | grep -q EXPIRED"
cp "$doc" "$FT/alpha-spool/outbox/bravo/held.json"
sleep 1   # > spool_interval: a scan ran
ft_check "spool file not picked up (held in outbox/)" \
	test -f "$FT/alpha-spool/outbox/bravo/held.json"

# The accepted message still arrives, and is receipted, with bravo
# restarted on its expired roster.
fa_start bravo
ft_check "bravo starts on an expired roster" _v bravo 2
ft_check "accepted message delivered after expiry" \
	fa_wait_state alpha "$id1" delivered 30

# A newer version lifts the refusal.
"$K" roster admins --roster "$FT/roster.2" --threshold 2 --expires 365 \
	--out "$FT/roster.3" >>"$FT/keys.log" 2>&1 </dev/null
for i in 1 2; do
	"$K" roster sign --roster "$FT/roster.3" --key "$FT/keys/admin-$i.key" \
		--previous "$FT/roster.2" >>"$FT/keys.log" 2>&1 </dev/null
done
cp "$FT/roster.3" "$FT/relay-roster"; ft_relay_hup
if ! ft_wait 20 _v alpha 3; then
	# The relay does not take a version after an expired one by itself:
	# give it to alpha directly (SIGHUP).
	cp "$FT/roster.3" "$FT/alpha-data/roster/v00000000000000000003.roster"
	kill -HUP "${FA_PID[alpha]}"
fi
ft_check "alpha adopted version 3" ft_wait 20 _v alpha 3
id2=$(fa alpha send --to bravo "$doc" 2>/dev/null)
ft_check "send works again" test -n "$id2"
_gone() { [ ! -f "$FT/alpha-spool/outbox/bravo/held.json" ]; }
ft_check "held spool file picked up" ft_wait 20 _gone
ft_done
