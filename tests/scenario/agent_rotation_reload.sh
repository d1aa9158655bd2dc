#!/bin/bash
# agent_rotation_reload: bravo rotates its encryption key (ferry-keys
# roster rotate rewrites its key file) but its running agent is not
# restarted.  A message sealed to the new key is not lost: bravo holds it
# (ERROR "reload keys: SIGHUP", no RECEIPT, no NACK: the relay keeps it),
# and after SIGHUP (which reloads the key file) it is delivered.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
K=$B/ferry-keys
doc=$VECTORS/health-charity-to-nhs.json
ft_relay_start
fa_start alpha
fa_start bravo

# An old-key message first: delivered.
id0=$(fa alpha send --to bravo "$doc" 2>/dev/null)
ft_check "before rotation: delivered" fa_wait_state alpha "$id0" delivered 30

"$K" roster rotate --roster "$FT/roster" --key "$FT/keys/bravo.key" \
	--overlap 1 --out "$FT/roster.2" >"$FT/rot.out" 2>&1 </dev/null
for i in 1 2; do
	"$K" roster sign --roster "$FT/roster.2" --key "$FT/keys/admin-$i.key" \
		--previous "$FT/roster" >>"$FT/rot.out" 2>&1 </dev/null
done
cp "$FT/roster.2" "$FT/relay-roster"
ft_relay_hup
_v() { fa "$1" status 2>/dev/null | grep -q "roster version $2"; }
ft_check "alpha holds roster 2 (bravo's new key)" ft_wait 20 _v alpha 2
ft_check "bravo holds roster 2" ft_wait 20 _v bravo 2

# Sealed to key 2, which bravo's running agent has not loaded.
ids=()
for n in 1 2 3; do ids+=("$(fa alpha send --to bravo "$doc" 2>/dev/null)"); done
_held() { [ "$(ft_count 'key-not-loaded' "$FT/bravo.err")" -ge 3 ]; }
ft_check "bravo logs ERROR key-not-loaded for each" ft_wait 30 _held
ft_check "the log line says what to do" \
	grep -q 'ERROR key-not-loaded .*reload keys: SIGHUP' "$FT/bravo.err"
ft_check "no NACK sent for them (nothing refused)" \
	test "$(ft_count 'WRONGKEY' "$FT/bravo.err")" = 0
st=$(fa_state alpha "${ids[0]}")
[ "$st" = accepted ] && ft_ok "alpha: still accepted, not failed" ||
	ft_fail "alpha: state $st, want accepted"
ft_check "relay: still queued for bravo" \
	ft_wait 10 grep -q 'ferry_relay_queue_depth{recipient="bravo"} 3' "$RELAY_DATA/metrics.prom"

ft_check "plain ferry status says messages are held and to reload" \
	bash -c "'$B/ferry' --data '$FT/bravo-data' status | grep -q 'incoming message(s) HELD, not acknowledged: sealed to an encryption key of ours the agent has not loaded (reload it'"
# SIGHUP: the key file is read again, the relay redelivers at once.
kill -HUP "${FA_PID[bravo]}"
ft_check "bravo reloaded its keys" ft_wait 20 grep -q 'keys-reload .*encryption keys' "$FT/bravo.err"
for id in "${ids[@]}"; do
	ft_check "delivered after SIGHUP: $id" fa_wait_state alpha "$id" delivered 30
done
ft_check "bravo's inbox has all 4" test "$(fa_inbox_count bravo)" = 4
# Old-key messages still open (the old key stays until not_after).
ft_check "bravo still holds key 1" grep -q 'encryption keys 2,1\|encryption keys 1,2' "$FT/bravo.err"
ft_done
