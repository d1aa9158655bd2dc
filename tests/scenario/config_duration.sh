#!/bin/bash
# config_duration: one rule for durations in both programs' files (issue
# 11 item 11): a duration needs its unit (ms, s, m, h or d); a
# bare number, which once meant milliseconds to the agent and seconds to
# the relay, is refused (exit 2) with one line naming the file, the key,
# the value and an example with a unit.  Every duration key of each
# program is tried, and the same keys with a unit are accepted.
. "$(dirname "$0")/lib.sh"
ft_init

AGENT_KEYS="heartbeat reconnect reconnect_max refused_backoff retry retry_max
reask reask_max spool_interval metrics_interval linger"
RELAY_KEYS="handshake_timeout expiry metrics_interval sweep_interval redeliver
linger checkpoint_interval retention"

# refused PROG SECTION KEY CMD...: CMD on a file with "KEY = 30" exits 2
# and says "FILE: KEY = 30: a duration needs a unit (ms, s, m, h or d),
# e.g. 30s".
refused() {
	local prog=$1 sec=$2 key=$3 rc; shift 3
	printf '[%s]\n%s = 30\n' "$sec" "$key" >"$FT/$prog.conf"
	timeout 30 "$@" -c "$FT/$prog.conf" >/dev/null 2>"$FT/err" </dev/null
	rc=$?
	[ "$rc" = 2 ] && grep -qF "$prog: $FT/$prog.conf: $key = 30: a duration needs a unit (ms, s, m, h or d), e.g. 30s" "$FT/err"
}

# accepted PROG SECTION KEY CMD...: with "KEY = 30s" no complaint about
# KEY (the run then stops for the settings the file lacks).
accepted() {
	local prog=$1 sec=$2 key=$3; shift 3
	printf '[%s]\n%s = 30s\n' "$sec" "$key" >"$FT/$prog.conf"
	timeout 30 "$@" -c "$FT/$prog.conf" >/dev/null 2>"$FT/err" </dev/null
	grep -q 'missing key' "$FT/err" && ! grep -q "$key" "$FT/err"
}

for k in $AGENT_KEYS; do
	ft_check "agent.conf: a bare $k = 30 is refused naming the key" \
		refused ferry-agent agent "$k" "$B/ferry-agent"
	ft_check "agent.conf: $k = 30s is accepted" \
		accepted ferry-agent agent "$k" "$B/ferry-agent"
done
for k in $RELAY_KEYS; do
	ft_check "relay.conf: a bare $k = 30 is refused naming the key" \
		refused ferry-relay relay "$k" "$B/ferry-relay" check-config
	ft_check "relay.conf: $k = 30s is accepted" \
		accepted ferry-relay relay "$k" "$B/ferry-relay" check-config
done

# The relay's flag --expiry follows the same rule.
timeout 30 "$B/ferry-relay" check-config --expiry 5 >/dev/null 2>"$FT/err"
rc=$?
ft_check "ferry-relay --expiry 5 is refused (exit 2) naming the flag" \
	eval '[ "$rc" = 2 ] && grep -qF -- "--expiry 5: a duration needs a unit (ms, s, m, h or d), e.g. 5s" "$FT/err"'

# The shipped example files use units throughout: the relay's passes
# check-config; the agent's duration keys (the agent has no check-config,
# and starting it would create the file's data folder) each carry a unit.
timeout 30 "$B/ferry-relay" check-config \
	-c "$FERRY_ROOT/docs/examples/relay.conf" >"$FT/out" 2>"$FT/err"
ft_check "docs/examples/relay.conf passes check-config" grep -qx ok "$FT/out"
bare=0
for k in $AGENT_KEYS; do
	grep -qE "^$k = [0-9]+(ms|s|m|h|d)$" "$FERRY_ROOT/docs/examples/agent.conf" ||
		bare=1
done
ft_check "docs/examples/agent.conf gives every duration with a unit" \
	[ "$bare" = 0 ]
ft_done
