#!/bin/bash
# A peer cannot make the relay pile up sends (review H2): HELLOs repeated
# on the same connection neither resend the messages already in flight
# nor push the stored rosters again each time (at most once a second).
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
ft_send alpha bravo --count 3 --timeout 10 >"$FT/s" 2>&1
ft_check "3 messages queued for bravo" [ "$(ft_count '^accepted ' "$FT/s")" -eq 3 ]
# bravo: never acknowledges; after its first message, 50 HELLOs naming
# roster version 0.
ft_recv bravo --no-receipts --hello-flood 50 --count 100 --timeout 4 \
	>"$FT/r" 2>"$FT/r.err"
echo "# bravo got: $(ft_count '^msg ' "$FT/r") msg, $(ft_count '^dup ' "$FT/r") dup, $(ft_count '^roster ' "$FT/r") roster"
ft_check "each in-flight message sent once (no resend per HELLO)" \
	[ "$(ft_count '^dup ' "$FT/r")" -eq 0 ]
ft_check "all 3 delivered" [ "$(ft_count '^msg ' "$FT/r")" -eq 3 ]
ft_check "rosters pushed at most once for the HELLO flood" \
	[ "$(ft_count '^roster ' "$FT/r")" -le 1 ]
ft_check "relay still serves" ft_wait 1 kill -0 "$RELAY_PID"
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
