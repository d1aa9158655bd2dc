#!/bin/bash
# An agency cannot grow the relay's append-only log at will (review M3):
# 50 undecodable frames are all NACKed but give at most a few REFUSED
# entries (one per peer per second; the rest counted in metrics), and
# CHECKPOINTs whose note does not parse are refused, not logged, so the
# relay's log still verifies.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start metrics_interval=200ms || exit 1
ft_wait 10 test -f "$RELAY_DATA/metrics.prom"
before=$(ft_metric ferry_relay_log_size)
ft_send alpha bravo --mode garbage --count 50 --timeout 20 >"$FT/g" 2>&1
ft_check "50 garbage frames: 50 NACKs" [ "$(ft_count '^nack ' "$FT/g")" -eq 50 ]
ft_send alpha bravo --mode checkpoint-garbage --count 5 >"$FT/c" 2>&1
ft_wait 10 grep -q 'refused from=alpha code=FERRY_E' "$RELAY_ERR"
ft_send alpha bravo --count 1 --timeout 10 >"$FT/ok" 2>&1
ft_check "alpha still served" grep -q '^accepted ' "$FT/ok"
sleep 0.5
after=$(ft_metric ferry_relay_log_size)
echo "# relay log: $before -> $after entries"
ft_check "at most a few log entries for 55 refusals and 1 message ($before -> $after)" \
	[ $((after - before)) -le 8 ]
ft_check "every refusal counted in metrics" \
	bash -c "awk '/^ferry_relay_refused_total/ {n += \$2} END {exit !(n >= 50)}' '$RELAY_DATA/metrics.prom'"
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_check "the relay's log verifies (no unparsable held checkpoint)" \
	"$B/ferry-audit" verify "$RELAY_DATA/log" --roster "$FT/roster"
ft_done
