#!/bin/bash
# Connection cap (review M4): with max_connections = 1, a second
# connection is closed as soon as it is accepted (counted, logged at most
# once a second) while the first keeps working; once the first is gone,
# a new one is served.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start max_connections=1 handshake_timeout=5s || exit 1
ft_bg "$FT/b" "$FT/b.err" "$RELAYC" recv "$RELAY_EP" "$FT/keys/bravo.key" \
	"$FT/roster" --count 1 --timeout 60
bpid=$FT_LASTPID
ft_check "first connection served" ft_wait 20 grep -q 'hello agency=bravo' "$RELAY_ERR"
ft_send alpha bravo --count 1 --timeout 3 >"$FT/s1" 2>&1
ft_check "second connection: no answer (closed at accept)" \
	grep -q '^timeout' "$FT/s1"
ft_check "relay logged the limit" grep -q 'connection-limit open=2 max=1' "$RELAY_ERR"
ft_check "metrics count refused connections" ft_wait 10 \
	bash -c "grep -q '^ferry_relay_connections_refused_total [1-9]' '$RELAY_DATA/metrics.prom'"
kill "$bpid"
ft_wait_exit "$bpid" 10
ft_send alpha bravo --count 1 --timeout 20 >"$FT/s2" 2>&1
ft_check "after the first left: served again" grep -q '^accepted ' "$FT/s2"
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
