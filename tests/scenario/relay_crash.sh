#!/bin/bash
# kill -9 of ferry-relay under load, then restart: every message it had
# ACCEPTED is delivered (counted), none twice; and the relay never holds a
# readable referral (its data folder and log hold no plaintext marker).
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo charlie
ft_relay_start || exit 1
MARK="PLAINTEXT-MARKER-$RANDOM$RANDOM"

# Two senders under load, 1 KiB referrals.
ft_bg "$FT/s1" "$FT/s1.err" "$RELAYC" send "$RELAY_EP" "$FT/keys/alpha.key" \
	"$FT/roster" bravo --count 3000 --size 1024 --marker "$MARK-A" --timeout 60
p1=$FT_LASTPID
ft_bg "$FT/s2" "$FT/s2.err" "$RELAYC" send "$RELAY_EP" "$FT/keys/charlie.key" \
	"$FT/roster" bravo --count 3000 --size 1024 --marker "$MARK-C" --timeout 60
p2=$FT_LASTPID
ft_wait 60 bash -c "[ \$(cat '$FT/s1' '$FT/s2' | grep -c '^accepted ') -ge 200 ]"
ft_relay_kill9
ft_check "relay killed with -9 under load" [ "$FT_STATUS" -eq 137 ]
kill -KILL "$p1" "$p2" 2>/dev/null
wait "$p1" "$p2" 2>/dev/null
sort -u -k2,2 <(grep -h '^accepted ' "$FT/s1" "$FT/s2") | awk '{print $2}' \
	>"$FT/acked"
nacked=$(wc -l <"$FT/acked")
ft_check "some messages were ACCEPTED before the kill ($nacked)" [ "$nacked" -ge 200 ]

ft_relay_start || exit 1
ft_check "restart: relay came back" kill -0 "$RELAY_PID"
queued=$(awk '/ started /{l=$0} END{print l}' "$RELAY_ERR" | sed 's/.* queued=\([0-9]*\).*/\1/')
ft_check "restart: the queue holds at least what was ACCEPTED ($queued)" \
	[ "$queued" -ge "$nacked" ]
ft_recv bravo --count "$queued" --credit 64 --timeout 120 >"$FT/recv" 2>"$FT/recv.err"
awk '$1=="msg"{print $2}' "$FT/recv" | sort -u >"$FT/got"
missing=$(comm -23 <(sort "$FT/acked") "$FT/got" | wc -l)
ft_check "every ACCEPTED message delivered after the restart (missing: $missing)" \
	[ "$missing" -eq 0 ]
ft_check "no message delivered twice to the application" \
	[ "$(ft_count '^dup ' "$FT/recv")" -eq 0 ]
ft_check "relay logged an accepted line for each ACCEPTED message" \
	[ "$(grep -c ' accepted msg=' "$RELAY_ERR")" -ge "$nacked" ]

# Confidentiality: no plaintext marker anywhere the relay writes.
ft_relay_stop
ft_check "relay exits 0 after the restart" [ "$FT_STATUS" -eq 0 ]
ft_check "marker really was in the referrals" grep -q "$MARK" "$FT/recv"
ft_check "no plaintext marker in the relay's data folder" \
	bash -c "! grep -raq '$MARK' '$RELAY_DATA'"
ft_check "no plaintext marker in the relay's log output" \
	bash -c "! grep -aq '$MARK' '$RELAY_ERR'"
ft_done
