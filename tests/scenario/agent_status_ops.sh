#!/bin/bash
# agent_status_ops: what an operator sees (issue 11, items 4, 8, 9).
#   - a wrong relay endpoint: `ferry status` says NOT connected since when,
#     the last error (no connection to that endpoint) and what to check;
#     --json carries the same; one WARN link-error line, not one per retry;
#   - the relay refusing our key (agency revoked): the last error says so;
#   - <data>/metrics.prom: HELP/TYPE per metric, ferry_agent_ names, the
#     state counts equal to what `ferry outbox` lists;
#   - expiry: with the test clock (FERRY_TEST_CLOCK_OFFSET, test builds
#     only) 360 days ahead, the 365-day roster and key are within 7 days:
#     one WARN roster-expiring and one WARN key-expiring (not one per
#     tick), status and metrics show the seconds left; a release build
#     ignores the test clock.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
doc=$VECTORS/nrm-adult-labour.json
ft_relay_start

# ---- 1. a wrong endpoint: nothing listens on that port ----
bad=$(ft_port)
fa_conf alpha relay=tcp://127.0.0.1:$bad
fa_start alpha --no-wait
_err() { fa alpha status >"$FT/st1" 2>&1 && grep -q 'last error' "$FT/st1"; }
ft_check "status gives a last error for a wrong endpoint" ft_wait 20 _err
ft_check "... NOT connected since an ISO 8601 UTC time, with how long" \
	grep -Eq '^relay: NOT connected since 20[0-9-]{8}T[0-9:]{8}Z \([0-9]+ s\)' "$FT/st1"
ft_check "... names the endpoint that gave no connection" \
	grep -q "no connection to tcp://127.0.0.1:$bad (refused, or the address is unreachable)" "$FT/st1"
ft_check "... and what to check (relay= in the configuration, ferry-relay running)" \
	grep -q 'check relay= in the agent.s configuration .*ferry-relay is running' "$FT/st1"
fa alpha status --json >"$FT/st1.json"
ft_check "status --json: link.last_error and link.check" $PY -c '
import json, sys
l = json.load(open(sys.argv[1]))["link"]
assert l["connected"] is False and l["since_ms"] > 0
assert "no connection to tcp://127.0.0.1:" + sys.argv[2] in l["last_error"]
assert "relay=" in l["check"] and l["last_error_ms"] >= l["since_ms"] - 1000
' "$FT/st1.json" "$bad"
sleep 2   # several reconnect intervals (reconnect_max = 1s) pass
ft_check "one WARN link-error line for the same cause, not one per retry" \
	test "$(ft_count 'WARN link-error' "$FT/alpha.err")" = 1
ft_check "metrics.prom while not connected: connected 0, an error time" \
	ft_wait 10 grep -Eq '^ferry_agent_last_error_timestamp_seconds [1-9]' "$FT/alpha-data/metrics.prom"
grep -q '^ferry_agent_connected 0$' "$FT/alpha-data/metrics.prom" ||
	ft_fail "ferry_agent_connected 0 while not connected"
fa_stop alpha

# ---- 2. the right endpoint: connected; metrics agree with the store ----
fa_conf alpha
fa_start alpha || exit 1
fa_start bravo || exit 1
fa alpha status >"$FT/st2"
ft_check "connected: no 'NOT connected' line" bash -c "! grep -q 'NOT connected' '$FT/st2'"
ft_check "status shows both expiries (ISO 8601, days left)" \
	grep -Eq '^expiry: roster version 1 expires 20[0-9-]{8}T[0-9:]{8}Z \(in 36[0-9] days\), our encryption key expires 20[0-9-]{8}T[0-9:]{8}Z \(in 36[0-9] days\)' "$FT/st2"
id1=$(fa alpha send --to bravo "$doc" 2>/dev/null)
ft_check "a message delivered" fa_wait_state alpha "$id1" delivered 30
fa_stop bravo
id2=$(fa alpha send --to bravo "$doc" 2>/dev/null)
ft_check "a second one accepted (bravo away)" fa_wait_state alpha "$id2" accepted 30
M=$FT/alpha-data/metrics.prom
_m() { grep -q "^$1\$" "$M"; }
ft_check "metrics: outbox delivered 1" ft_wait 10 _m 'ferry_agent_outbox_messages{state="delivered"} 1'
ft_check "metrics: outbox accepted 1" ft_wait 10 _m 'ferry_agent_outbox_messages{state="accepted"} 1'
ft_check "metrics: connected 1" _m 'ferry_agent_connected 1'
ft_check "metrics: sent_total 2" _m 'ferry_agent_sent_total 2'
ft_check "metrics: every metric has HELP and TYPE, named ferry_agent_" $PY -c '
import re, sys
help, typ, samples = set(), set(), set()
for line in open(sys.argv[1]):
    if line.startswith("# HELP "): help.add(line.split()[2])
    elif line.startswith("# TYPE "): typ.add(line.split()[2])
    else: samples.add(re.split(r"[{ ]", line)[0])
assert samples and samples == help == typ, (samples ^ help, samples ^ typ)
assert all(s.startswith("ferry_agent_") for s in samples)
for s in samples:
    if s.endswith("_total"): assert s in typ
' "$M"
fa alpha outbox --json >"$FT/ob.json"
ft_check "metrics: state counts equal ferry outbox's" $PY -c '
import json, re, sys
want = {}
for m in json.load(open(sys.argv[1])):
    want[m["state"]] = want.get(m["state"], 0) + 1
got = {}
for line in open(sys.argv[2]):
    m = re.match(r"ferry_agent_outbox_messages\{state=\"(\w+)\"\} (\d+)", line)
    if m and int(m.group(2)): got[m.group(1)] = int(m.group(2))
assert got == want, (got, want)
' "$FT/ob.json" "$M"
fa alpha status --json >"$FT/st2.json"
ft_check "status --json: queues from the kept counts (accepted 1, delivered 1)" $PY -c '
import json, sys
q = json.load(open(sys.argv[1]))["queues"]
assert q["accepted"] == 1 and q["delivered"] == 1 and q["queued"] == 0, q
' "$FT/st2.json"
fa_stop alpha
fa_start alpha || exit 1
ft_check "after a restart the counts are the same (counted at open)" \
	ft_wait 10 _m 'ferry_agent_outbox_messages{state="accepted"} 1'
fa_stop alpha

# ---- 3. expiry warnings, test clock 360 days ahead ----
off=$((360 * 86400))
FERRY_TEST_CLOCK_OFFSET=$off fa_start alpha || exit 1
_w() { grep -q "WARN $1" "$FT/alpha.err"; }
ft_check "WARN roster-expiring at 7 days" ft_wait 10 _w 'roster-expiring.*within 7 day(s)'
ft_check "WARN key-expiring at 7 days" ft_wait 10 _w 'key-expiring.*within 7 day(s)'
ft_check "... the roster line says when (ISO 8601) and what to do" \
	grep -Eq 'roster-expiring roster version 1 expires on 20[0-9-]{8}T[0-9:]{8}Z \(in [45] days.*ask the admins' "$FT/alpha.err"
sleep 2   # many loop ticks and metrics writes
ft_check "each warned once, not every tick" \
	test "$(ft_count 'WARN roster-expiring' "$FT/alpha.err")" = 1 -a \
	"$(ft_count 'WARN key-expiring' "$FT/alpha.err")" = 1
fa alpha status >"$FT/st3"
ft_check "status: the roster EXPIRES in 4-5 days" grep -Eq 'the roster EXPIRES in [45] days' "$FT/st3"
ft_check "status: our encryption key EXPIRES, with what to do" \
	grep -q 'our encryption key EXPIRES in [45] days: make a new one (ferry-keys roster rotate)' "$FT/st3"
_secs() { # metric NAME is between 4 and 5 days (the test clock's offset)
	awk -v n="$1" '$1 == n && $2 > 4*86400 && $2 <= 5*86400 { ok = 1 } END { exit !ok }' "$M"
}
ft_check "metrics: ferry_agent_roster_expiry_seconds 4-5 days" _secs ferry_agent_roster_expiry_seconds
ft_check "metrics: ferry_agent_key_expiry_seconds 4-5 days" _secs ferry_agent_key_expiry_seconds
fa_stop alpha

# A restart warns again (a new process), and a release build ignores the
# test clock: no warning, a year left.
: >"$FT/alpha.err"
FERRY_TEST_CLOCK_OFFSET=$off "$FERRY_RELEASE_BIN/ferry-agent" -c "$FT/alpha.conf" \
	>>"$FT/alpha.out" 2>>"$FT/alpha.err" &
rel=$!; FT_PIDS+=("$rel")
ft_check "release agent connected" ft_wait 30 grep -q ' connected ' "$FT/alpha.err"
ft_check "release build: no expiry warning under the test clock" \
	bash -c "! grep -q 'expiring' '$FT/alpha.err'"
ft_check "release build: status shows a year left" \
	eval "fa alpha status | grep -Eq 'roster version 1 expires .* \(in 36[0-9] days\)'"
kill -TERM "$rel"; ft_wait_exit "$rel" 20

# ---- 4. the relay refuses our key (alpha revoked) ----
fa_start alpha || exit 1
ft_revoke alpha "$FT/roster" "$FT/roster.2"
cp "$FT/roster.2" "$FT/relay-roster"; ft_relay_hup
_ref() { fa alpha status >"$FT/st4" 2>&1; grep -q 'refused our transport key' "$FT/st4"; }
ft_check "status: last error says the relay refused our key" ft_wait 30 _ref
ft_check "... names the agency and what to check" \
	grep -q "agency alpha is not active in the relay's roster - check with the relay's admins" "$FT/st4"
fa_stop alpha
ft_done
