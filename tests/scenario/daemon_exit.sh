#!/bin/bash
# daemon_exit: both daemons exit 2 for every configuration or usage error
# (bad flag, configuration file unreadable, unknown key, bad value, unknown
# section, a key given twice, a relay retention shorter than expiry + 1d, each limit out of
# its range, a sweep_interval longer than expiry) and 1 for a failure at run time (here: a roster pin that does
# not match), so systemd's RestartPreventExitStatus=2 stops a restart loop
# on a configuration mistake.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha
ft_relay_conf
fa_conf alpha

# exit_is WANT NAME CMD...: run CMD (bounded), check its exit status.
exit_is() {
	local want=$1 name=$2 rc; shift 2
	timeout 20 "$@" >"$FT/x.out" 2>"$FT/x.err" </dev/null; rc=$?
	if [ "$rc" = "$want" ]; then ft_ok "$name: exit $want"
	else ft_fail "$name: exit $rc, want $want"; sed 's/^/# /' "$FT/x.err"; fi
}

printf '[agent]\nno_such_key = 1\n' >"$FT/a-unknown.conf"
sed 's/^credit = .*//; $a credit = many' "$FT/alpha.conf" >"$FT/a-badval.conf"
printf '[relay]\nno_such_key = 1\n' >"$FT/r-unknown.conf"
sed '$a queue_max = lots' "$FT/relay.conf" >"$FT/r-badval.conf"
printf '[nope]\nx = 1\n' >"$FT/section.conf"
printf '[agent\n' >"$FT/syntax.conf"

exit_is 2 "agent: bad flag" "$B/ferry-agent" -Z
exit_is 2 "agent: bad flag value" "$B/ferry-agent" -c "$FT/alpha.conf" -l loud
exit_is 2 "agent: config unreadable" "$B/ferry-agent" -c "$FT/missing.conf"
exit_is 2 "agent: config unknown key" "$B/ferry-agent" -c "$FT/a-unknown.conf"
exit_is 2 "agent: config bad value" "$B/ferry-agent" -c "$FT/a-badval.conf"
exit_is 2 "agent: config unknown section" "$B/ferry-agent" -c "$FT/section.conf"
exit_is 2 "agent: config syntax error" "$B/ferry-agent" -c "$FT/syntax.conf"
sed 's/^credit = .*//; $a credit = 0' "$FT/alpha.conf" >"$FT/a-credit.conf"
exit_is 2 "agent: credit out of range" "$B/ferry-agent" -c "$FT/a-credit.conf"
ft_check "agent: the refusal names credit and its range" grep -q 'a-credit.conf: credit must be 1 to 100000' "$FT/x.err"
sed 's/^relay = .*//; $a relay = http://relay:7700' "$FT/alpha.conf" >"$FT/a-relay.conf"
exit_is 2 "agent: relay not tcp:// or ipc://" "$B/ferry-agent" -c "$FT/a-relay.conf"
ft_check "agent: the refusal names relay and its value" grep -q 'a-relay.conf: relay "http://relay:7700" is not a tcp:// or ipc:// endpoint' "$FT/x.err"

# A key given twice is refused by name, not the last one winning unseen
# (an operator's appended override, or an indented line, which inih reads
# as the key's value continued: the key set again).
sed '$a log_level = warn' "$FT/alpha.conf" >"$FT/a-dup.conf"
exit_is 2 "agent: config key given twice" "$B/ferry-agent" -c "$FT/a-dup.conf"
ft_check "agent: the refusal names the key set twice" grep -q 'a-dup.conf: key "log_level" is set more than once (the second time to "warn")' "$FT/x.err"
sed 's/^relay = .*/&\n    tcp:\/\/127.0.0.1:1/' "$FT/alpha.conf" >"$FT/a-cont.conf"
exit_is 2 "agent: config value continued on an indented line" "$B/ferry-agent" -c "$FT/a-cont.conf"
ft_check "agent: the refusal names the continued key" grep -q 'a-cont.conf: key "relay" is set more than once (the second time to "tcp://127.0.0.1:1")' "$FT/x.err"
sed '$a endpoint = tcp://127.0.0.1:1' "$FT/relay.conf" >"$FT/r-dup.conf"
exit_is 2 "relay: config key given twice" "$B/ferry-relay" check-config -c "$FT/r-dup.conf"
ft_check "relay: the refusal names the key set twice" grep -q 'r-dup.conf: key "endpoint" is set more than once' "$FT/x.err"

exit_is 2 "relay: bad flag" "$B/ferry-relay" --no-such-flag
exit_is 2 "relay: bad flag value" "$B/ferry-relay" -c "$FT/relay.conf" --log-level loud
exit_is 2 "relay: config unreadable" "$B/ferry-relay" -c "$FT/missing.conf"
exit_is 2 "relay: config unknown key" "$B/ferry-relay" -c "$FT/r-unknown.conf"
exit_is 2 "relay: config bad value" "$B/ferry-relay" -c "$FT/r-badval.conf"
exit_is 2 "relay: config unknown section" "$B/ferry-relay" -c "$FT/section.conf"
exit_is 2 "relay: check-config unknown key" "$B/ferry-relay" check-config -c "$FT/r-unknown.conf"
exit_is 2 "relay stats: config unreadable" "$B/ferry-relay" stats -c "$FT/missing.conf"
sed '$a retention = 5d' "$FT/relay.conf" >"$FT/r-retention.conf"
exit_is 2 "relay: retention shorter than expiry + 1d" "$B/ferry-relay" check-config -c "$FT/r-retention.conf"
ft_check "relay: the refusal names retention" grep -q 'retention = 5d is shorter than expiry + 1d (expiry = 5d)' "$FT/x.err"
sed '$a verify_threads = 65' "$FT/relay.conf" >"$FT/r-threads.conf"
exit_is 2 "relay: verify_threads out of range" "$B/ferry-relay" check-config -c "$FT/r-threads.conf"
ft_check "relay: the refusal names verify_threads and its range" grep -q 'verify_threads = 65 is out of range: 1 .* to 64' "$FT/x.err"
sed '$a verify_threads = 1' "$FT/relay.conf" >"$FT/r-threads1.conf"
exit_is 0 "relay: verify_threads = 1 accepted" "$B/ferry-relay" check-config -c "$FT/r-threads1.conf"
sed '$a retention = 6d' "$FT/relay.conf" >"$FT/r-retention6.conf"
exit_is 0 "relay: retention = expiry + 1d accepted" "$B/ferry-relay" check-config -c "$FT/r-retention6.conf"

# Each limit out of range alone, named with its value and range (it once
# said "a limit is zero or out of range", naming neither); durations that
# go to libzmq as an int of ms bounded, so that check-config does not say
# ok to a value the daemon then cannot set (exit 1, restarted in a loop).
# rlimit KEY VALUE TEXT: the relay's check-config refuses KEY = VALUE (exit
# 2) with "FILE: KEY = TEXT: must be ...".
rlimit() {
	sed "\$a $1 = $2" "$FT/relay.conf" >"$FT/r-lim.conf"
	exit_is 2 "relay: $1 = $2 refused" "$B/ferry-relay" check-config -c "$FT/r-lim.conf"
	ft_check "... naming the file, the key, the value and the range" \
		grep -qF "r-lim.conf: $1 = $3: must be $4" "$FT/x.err"
}
rlimit queue_max 0 0 "at least 1"
rlimit max_connections 2000000 2000000 "1 to 1000000"
rlimit max_body 2G 2G "1 to 1G"
rlimit map_size 100 100 "at least 1M"
rlimit metrics_interval 0ms 0s "at least 1ms"
rlimit handshake_timeout 0ms 0s "1ms to 1h"
rlimit linger 24d 24d "0s to 1m"
rlimit linger 61s 61s "0s to 1m"
exit_is 2 "relay: --queue-max 0 refused" "$B/ferry-relay" check-config -c "$FT/relay.conf" --queue-max 0
ft_check "... naming the flag and the range" grep -qF -- "--queue-max 0: must be at least 1" "$FT/x.err"
sed '$a linger = 60s' "$FT/relay.conf" >"$FT/r-linger60.conf"
exit_is 0 "relay: linger = 60s accepted" "$B/ferry-relay" check-config -c "$FT/r-linger60.conf"
# Expiry is done by the sweep: a sweep_interval past expiry keeps expired
# messages queued until it comes round.
sed '$a sweep_interval = 6d' "$FT/relay.conf" >"$FT/r-sweep.conf"
exit_is 2 "relay: sweep_interval longer than expiry" "$B/ferry-relay" check-config -c "$FT/r-sweep.conf"
ft_check "... naming both keys" grep -qF "r-sweep.conf: sweep_interval = 6d is longer than expiry = 5d" "$FT/x.err"
exit_is 2 "relay: --expiry 30s under the default sweep_interval" "$B/ferry-relay" check-config -c "$FT/relay.conf" --expiry 30s
ft_check "... naming both keys" grep -qF "sweep_interval = 1m is longer than expiry = 30s" "$FT/x.err"
# The same for the agent, at start: linger, reconnect, reconnect_max.
alimit() {
	sed "s/^$1 = .*//; \$a $1 = $2" "$FT/alpha.conf" >"$FT/a-lim.conf"
	exit_is 2 "agent: $1 = $2 refused" "$B/ferry-agent" -c "$FT/a-lim.conf"
	ft_check "... naming the file, the key, the value and the range" \
		grep -qF "a-lim.conf: $1 = $2: must be $3" "$FT/x.err"
}
alimit linger 24d "0s to 1m"
alimit reconnect 30d "1ms to 1h"
alimit reconnect_max 25d "reconnect to 1h"

# Run-time failures: 1.
wrongpin=00000000000000000000000000000000000000000000000000000000000000ff
exit_is 1 "agent: roster pin mismatch" "$B/ferry-agent" -c "$FT/alpha.conf" -P "$wrongpin"
exit_is 1 "relay: roster pin mismatch" "$B/ferry-relay" -c "$FT/relay.conf" --roster-pin "$wrongpin"
ft_done
