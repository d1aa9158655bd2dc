#!/bin/bash
# Redelivery per message (review M2): a message the recipient silently
# lost is sent again once it has been in flight `redeliver` (1 s here),
# even while receipts for other messages keep arriving; it no longer
# waits for all traffic to stop.  Traffic lasts several times
# `redeliver`, so "sent again during the traffic" is not a close call.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start redeliver=1s || exit 1
ft_bg "$FT/b" "$FT/b.err" "$RELAYC" recv "$RELAY_EP" "$FT/keys/bravo.key" \
	"$FT/roster" --count 21 --credit 4 --drop-first --timeout 90
ft_wait 20 grep -q 'hello agency=bravo' "$RELAY_ERR"
ft_send alpha bravo --count 1 --marker FIRST --timeout 10 >"$FT/s0" 2>&1
for i in $(seq 1 20); do
	ft_send alpha bravo --count 1 --marker "LATER-$i" --timeout 10 >>"$FT/s1" 2>&1
	sleep 0.3
done
ft_check "21 messages accepted" [ "$(cat "$FT/s0" "$FT/s1" | grep -c '^accepted ')" -eq 21 ]
ft_check "bravo gets all 21" ft_wait 30 bash -c "[ \$(grep -c '^msg ' '$FT/b') -eq 21 ]"
first=$(grep -n '^msg .* FIRST' "$FT/b" | cut -d: -f1)
last=$(grep -n '^msg .* LATER-20' "$FT/b" | cut -d: -f1)
echo "# FIRST at line ${first:-none}, LATER-20 at line ${last:-none}"
ft_check "the lost message came again while traffic went on (before the last)" \
	[ "${first:-99}" -lt "${last:-0}" ]
ft_check "relay logged its redelivery" grep -q 'redeliver agency=bravo seq=' "$RELAY_ERR"
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
