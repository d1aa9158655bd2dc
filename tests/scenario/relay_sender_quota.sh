#!/bin/bash
# Per-sender share of a recipient's queue (issue 13, item 5.2): with
# queue_max = 20 (so queue_max_per_sender is 5 by default), an insider
# (alpha) filling offline bravo's queue gets FERRY_EQUEUEFULL after 5,
# naming the limit, while another agency (charlie) still queues its 5
# for bravo.  A restart rebuilds the shares from the queue.  Once bravo
# connects it receives all 10.  Before: alpha filled all 20 places and
# charlie's 5 were refused.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo charlie
ft_relay_start queue_max=20 metrics_interval=200ms || exit 1

ft_send alpha bravo --count 30 --marker INSIDER --timeout 20 >"$FT/s1" 2>"$FT/s1.err"
acc=$(ft_count '^accepted ' "$FT/s1")
full=$(ft_count '^nack FERRY_EQUEUEFULL ' "$FT/s1")
echo "# insider: $acc accepted, $full NACK FERRY_EQUEUEFULL"
ft_check "insider: 5 accepted (its share of bravo's queue)" [ "$acc" -eq 5 ]
ft_check "insider: the other 25 NACKed FERRY_EQUEUEFULL" [ "$full" -eq 25 ]
ft_check "the relay names the limit" \
	grep -q 'refused from=alpha code=FERRY_EQUEUEFULL limit=queue_max_per_sender' "$RELAY_ERR"
ft_send charlie bravo --count 5 --marker HONEST --timeout 20 >"$FT/s2" 2>"$FT/s2.err"
ft_check "another agency still queues its 5 for bravo" \
	[ "$(ft_count '^accepted ' "$FT/s2")" -eq 5 ]
ft_check "metrics: 25 refused by queue_max_per_sender" ft_wait 10 \
	grep -q '^ferry_relay_queue_full_total{limit="queue_max_per_sender"} 25$' "$RELAY_DATA/metrics.prom"
ft_check "metrics: 10 queued for bravo" ft_wait 10 \
	grep -q '^ferry_relay_queue_depth{recipient="bravo"} 10$' "$RELAY_DATA/metrics.prom"

# A restart rebuilds the shares from the queue.
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_relay_start queue_max=20 metrics_interval=200ms || exit 1
ft_send alpha bravo --count 1 --marker LATE --timeout 20 >"$FT/s3" 2>&1
ft_check "after a restart the insider's share is still full" \
	grep -q '^nack FERRY_EQUEUEFULL ' "$FT/s3"

ft_recv bravo --count 10 --credit 64 --timeout 30 >"$FT/r1" 2>&1
ft_check "bravo receives all 10" [ "$(ft_count '^msg ' "$FT/r1")" -eq 10 ]
ft_check "5 of them the insider's" [ "$(ft_count '^msg .* INSIDER' "$FT/r1")" -eq 5 ]
ft_check "5 of them charlie's" [ "$(ft_count '^msg .* HONEST' "$FT/r1")" -eq 5 ]
ft_check "queue drained (depth 0)" ft_wait 10 \
	grep -q 'ferry_relay_queue_depth{recipient="bravo"} 0' "$RELAY_DATA/metrics.prom"
ft_send alpha bravo --count 1 --marker AGAIN --timeout 20 >"$FT/s4" 2>&1
ft_check "after delivery the insider may queue again" grep -q '^accepted ' "$FT/s4"
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
