#!/bin/bash
# ferry-relay expiry: a message not delivered before the expiry is
# removed, logged, and NACKed to its sender (FERRY_EEXPIREDMSG); the NACK
# is kept for a sender that is offline.  Nothing disappears silently.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start expiry=2s sweep_interval=500ms || exit 1

ft_send alpha bravo --count 2 --marker EXPIRES --timeout 10 >"$FT/s" 2>&1
ft_check "2 accepted for offline bravo" [ "$(ft_count '^accepted ' "$FT/s")" -eq 2 ]
ft_check "both expire at the relay" ft_wait 30 \
	bash -c "[ \$(grep -c ' expired msg=' '$RELAY_ERR') -eq 2 ]"
ft_check "expiry counted in metrics" ft_wait 10 \
	grep -q '^ferry_relay_expired_total 2$' "$RELAY_DATA/metrics.prom"
ft_check "queue empty after expiry" \
	grep -q 'ferry_relay_queue_depth{recipient="bravo"} 0' "$RELAY_DATA/metrics.prom"

# alpha comes back: the two NACKs kept for it are pushed after its HELLO.
ft_send alpha bravo --count 1 --marker LATER --receipts --timeout 5 \
	>"$FT/back" 2>&1
ft_check "sender gets the kept expiry NACKs when it reconnects" \
	[ "$(ft_count '^nack FERRY_EEXPIREDMSG .* -1$' "$FT/back")" -eq 2 ]
ft_recv bravo --count 1 --timeout 5 >"$FT/r" 2>&1
ft_check "bravo never gets the expired messages" \
	[ "$(ft_count 'EXPIRES' "$FT/r")" -eq 0 ]
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
