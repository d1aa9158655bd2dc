#!/bin/bash
# Per-address connection limit (issue 13, item 5.3): a keyless stranger on
# 127.0.0.9 opens 100 TCP connections and holds them without a handshake.
# With max_connections = 64 and max_connections_per_address = 32 the relay
# shuts every one of its connections beyond 32 at accept (counted, logged
# at most once a second), so honest agencies connecting from 127.0.0.1
# still get in and deliver.  Once the stranger closes its sockets its
# address may connect again.  Before: the stranger took all 64 places and
# the agencies' connections were shut.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start max_connections=64 max_connections_per_address=32 \
	handshake_timeout=300s metrics_interval=200ms || exit 1

# hold.py PORT N SRC STOPFILE STATUSFILE: N connections from SRC, held
# (greeting bytes read and dropped) until STOPFILE exists or 90 s; each
# 0.2 s STATUSFILE says "open K closed C" (closed: EOF or reset seen).
cat >"$FT/hold.py" <<'PYEOF'
import os, socket, sys, time
port, n, src, stop, status = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    socks.append(s)
closed = set()
end = time.time() + 90
while time.time() < end and not os.path.exists(stop):
    for i, s in enumerate(socks):
        if i in closed:
            continue
        try:
            while True:
                if s.recv(4096) == b"":
                    closed.add(i)
                    break
        except BlockingIOError:
            pass
        except OSError:
            closed.add(i)
    with open(status + ".tmp", "w") as f:
        f.write("open %d closed %d\n" % (n - len(closed), len(closed)))
    os.replace(status + ".tmp", status)
    time.sleep(0.2)
for s in socks:
    s.close()
PYEOF
status_is() { grep -qx "open $1 closed $2" "$FT/$3" 2>/dev/null; }

ft_bg "$FT/hold1.out" "$FT/hold1.err" $PY "$FT/hold.py" "$RELAY_PORT" 100 \
	127.0.0.9 "$FT/stop1" "$FT/status1"
H1=$FT_LASTPID
ft_check "the stranger keeps 32 connections, the other 68 are shut at accept" \
	ft_wait 30 status_is 32 68 status1
echo "# stranger: $(cat "$FT/status1" 2>/dev/null)"
sleep 1
ft_check "and still 32 a second later" status_is 32 68 status1
ft_check "relay logged the per-address limit" \
	grep -q 'connection-limit-address addr=127.0.0.9 open=33 max=32' "$RELAY_ERR"
ft_check "at most one such line a second" \
	[ "$(ft_count 'connection-limit-address' "$RELAY_ERR")" -le 3 ]
ft_check "metrics count 68 refused per address" ft_wait 10 \
	grep -q '^ferry_relay_connections_refused_per_address_total 68$' "$RELAY_DATA/metrics.prom"

# Honest agencies from 127.0.0.1 get in and deliver.
ft_send alpha bravo --count 3 --marker HONEST --timeout 20 >"$FT/s1" 2>&1
ft_check "alpha's 3 accepted while the stranger holds its sockets" \
	[ "$(ft_count '^accepted ' "$FT/s1")" -eq 3 ]
ft_recv bravo --count 3 --timeout 20 >"$FT/r1" 2>&1
ft_check "bravo receives them" [ "$(ft_count '^msg .* HONEST' "$FT/r1")" -eq 3 ]
ft_check "no global refusal meanwhile" \
	grep -q '^ferry_relay_connections_refused_total 0$' "$RELAY_DATA/metrics.prom"

# The stranger lets go: its address is uncounted, and may connect again.
touch "$FT/stop1"
ft_wait_exit "$H1" 20 || kill -TERM "$H1" 2>/dev/null
ft_check "connections back to 0 once it closed them" ft_wait 10 \
	grep -q '^ferry_relay_connections 0$' "$RELAY_DATA/metrics.prom"
ft_bg "$FT/hold2.out" "$FT/hold2.err" $PY "$FT/hold.py" "$RELAY_PORT" 10 \
	127.0.0.9 "$FT/stop2" "$FT/status2"
H2=$FT_LASTPID
ft_wait 10 test -s "$FT/status2"
sleep 1
ft_check "10 new connections from 127.0.0.9 are all kept" status_is 10 0 status2
touch "$FT/stop2"
ft_wait_exit "$H2" 20 || kill -TERM "$H2" 2>/dev/null
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
