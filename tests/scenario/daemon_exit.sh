#!/bin/bash
# daemon_exit: both daemons exit 2 for every configuration or usage error
# (bad flag, configuration file unreadable, unknown key, bad value, unknown
# section, a relay retention shorter than expiry + 1d) and 1 for a failure at run time (here: a roster pin that does
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

# Run-time failures: 1.
wrongpin=00000000000000000000000000000000000000000000000000000000000000ff
exit_is 1 "agent: roster pin mismatch" "$B/ferry-agent" -c "$FT/alpha.conf" -P "$wrongpin"
exit_is 1 "relay: roster pin mismatch" "$B/ferry-relay" -c "$FT/relay.conf" --roster-pin "$wrongpin"
ft_done
