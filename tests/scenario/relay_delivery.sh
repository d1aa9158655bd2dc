#!/bin/bash
# ferry-relay delivery: an offline recipient gets everything queued, in
# order, when it connects; a recipient that disconnects mid-delivery gets
# what it had not acknowledged; credit bounds what is in flight.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1

ft_send alpha bravo --count 20 --marker ORDER --timeout 20 >"$FT/send" 2>&1
ft_check "20 queued for offline bravo" [ "$(ft_count '^accepted ' "$FT/send")" -eq 20 ]
ft_check "queue depth 20 in metrics" ft_wait 10 \
	grep -q 'ferry_relay_queue_depth{recipient="bravo"} 20' "$RELAY_DATA/metrics.prom"

# Session 1: window 4, acknowledges 5 then vanishes holding a 6th.
ft_recv bravo --count 20 --credit 4 --stop-after 5 --timeout 20 \
	>"$FT/r1" 2>"$FT/r1.err"
ft_check "session 1 got 6 (5 acknowledged)" [ "$(ft_count '^msg ' "$FT/r1")" -eq 6 ]
ft_check "session 1 in order" \
	[ "$(awk '$1=="msg"{printf "%s,", $4}' "$FT/r1")" = "1,2,3,4,5,6," ]
ft_check "relay removed exactly the 5 acknowledged" ft_wait 10 \
	bash -c "[ \$(grep -c ' delivered ' '$RELAY_ERR') -eq 5 ]"

# Session 2: gets the rest, starting with the unacknowledged 6th.
ft_recv bravo --count 15 --credit 3 --timeout 30 >"$FT/r2" 2>"$FT/r2.err"
ft_check "session 2 got the 15 not acknowledged" \
	[ "$(ft_count '^msg ' "$FT/r2")" -eq 15 ]
ft_check "session 2 in order from 6" \
	[ "$(awk '$1=="msg"{printf "%s,", $4}' "$FT/r2")" = \
	"6,7,8,9,10,11,12,13,14,15,16,17,18,19,20," ]
ft_check "all 20 delivered once at the relay" ft_wait 10 \
	bash -c "[ \$(grep -c ' delivered ' '$RELAY_ERR') -eq 20 ]"
ft_check "message 6 was forwarded twice (duplicate harmless: one delivery)" \
	[ "$(grep -c "delivered msg=$(awk '$4==6{print substr($2,1,16)}' "$FT/r1")" "$RELAY_ERR")" -eq 1 ]
ft_check "queue empty" ft_wait 10 \
	grep -q 'ferry_relay_queue_depth{recipient="bravo"} 0' "$RELAY_DATA/metrics.prom"

# The sender, reconnecting, gets the receipts that were kept for it.
ft_send alpha bravo --count 1 --marker LATE --receipts --timeout 20 \
	>"$FT/late" 2>&1 &
lpid=$!
FT_PIDS+=("$lpid")
ft_wait 10 grep -q '^accepted ' "$FT/late"
ft_recv bravo --count 1 --timeout 20 >"$FT/r3" 2>&1
ft_wait_exit "$lpid" 20
ft_check "kept RECEIPTs pushed to the sender when it came back" \
	[ "$(ft_count '^receipt .* -1$' "$FT/late")" -eq 20 ]
ft_check "and the new message's RECEIPT forwarded live" \
	grep -q '^receipt .* 1$' "$FT/late"
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
