#!/bin/bash
# Per-recipient byte quota (review H1): with queue_max_bytes = 40K, MSGs
# for an offline recipient are ACCEPTED until its queued envelope bytes
# would pass the quota, then NACKed FERRY_EQUEUEFULL (transient); once the
# recipient has taken its messages, new ones are accepted again.  (The
# sender's own share, queue_max_bytes_per_sender, is set to the whole
# quota here: relay_sender_quota.sh tests that one.)
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start queue_max_bytes=40K queue_max_bytes_per_sender=40K || exit 1

ft_send alpha bravo --count 30 --size 3000 --marker Q1 --timeout 20 \
	>"$FT/s1" 2>"$FT/s1.err"
acc=$(ft_count '^accepted ' "$FT/s1")
full=$(ft_count '^nack FERRY_EQUEUEFULL ' "$FT/s1")
echo "# $acc accepted, $full NACK FERRY_EQUEUEFULL"
ft_check "some accepted below the quota" [ "$acc" -gt 0 ]
ft_check "the rest NACKed FERRY_EQUEUEFULL" [ "$full" -gt 0 ]
ft_check "every message answered" [ $((acc + full)) -eq 30 ]
ft_recv bravo --count "$acc" --credit 64 --timeout 20 >"$FT/r1" 2>&1
ft_check "bravo receives the $acc accepted" \
	[ "$(ft_count '^msg ' "$FT/r1")" -eq "$acc" ]
ft_check "queue drained (depth 0)" ft_wait 10 \
	grep -q 'ferry_relay_queue_depth{recipient="bravo"} 0' "$RELAY_DATA/metrics.prom"
ft_send alpha bravo --count 3 --size 3000 --marker Q2 --timeout 20 >"$FT/s2" 2>&1
ft_check "after draining: accepted again" \
	[ "$(ft_count '^accepted ' "$FT/s2")" -eq 3 ]
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
