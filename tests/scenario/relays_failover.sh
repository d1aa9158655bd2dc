#!/bin/bash
# relays_failover: issue 12, several relays.  Two relays (relay-a first in
# the roster, relay-b second: own keys, ports and data folders) and four
# agencies (charity, police, council, health), each sending a steady
# stream of referrals to the next.
#   1. planned restart: relay-a stopped (SIGTERM) mid-stream; the
#      referrals sent while it is down are delivered through relay-b
#      (the status and the sender's LOG_ROUTE name relay-b) without
#      waiting for relay-a; after its restart ferry-audit compare holds
#      between every agency and each relay, and the report names the
#      relay that carried each message.
#   2. relay-a killed (-9) mid-stream and its data folder deleted (lost
#      for good), holding referrals for health (away meanwhile): every
#      referral ferry send promised ends `delivered` at its sender (those
#      relay-a held resent through relay-b: LOG_ROUTE), each recipient
#      holds each exactly once, no agent logs an ERROR, every log
#      verifies, compare holds between every agency and relay-b.
#   3. a stale backup: relay-a, replaced by an empty one, holds referrals
#      for health (stopped); it is stopped cleanly and its data folder
#      copied; the referrals are delivered through relay-b; relay-a then
#      started from the old copy delivers the stale copies, which health
#      discards (its duplicates counter rises, its inbox does not change),
#      and every log still verifies.  The sender's log holds both relays'
#      custody receipts of each (one ACCEPTED per relay), the report lists
#      both custodians, and compare with relay-b holds.
# No timing thresholds: the failover delay is measured by make bench.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
A=$B/ferry-audit
AG=(charity police council health)
declare -A NEXT=([charity]=police [police]=council [council]=health [health]=charity)

RELAY_PORT=$(ft_port)
ft_net relay-a charity:charity police:police council:council health:health
ft_relay2_add relay-b
RELAY2_DATA=$FT/relay2-data
ft_relay_start || exit 1
ft_relay2_start || exit 1
for a in "${AG[@]}"; do
	# failover_after stays the default (1.5 s); resend_after shortened so
	# that a dead relay's custody is sent again within the test's waits.
	fa_conf "$a" resend_after=2s
	fa_start "$a" || exit 1
done
doc=$VECTORS/nrm-adult-labour.json

# stream TAG N [SENDER...]: every agency (or each SENDER) sends N
# referrals to the next, one every 0.1 s, in the background; "ID FROM TO"
# lines in $FT/sent-TAG-FROM.  Pids in STREAMS.
stream() {
	local tag=$1 n=$2 a
	shift 2
	STREAMS=()
	for a in "${@:-${AG[@]}}"; do
		(
			for i in $(seq 1 "$n"); do
				id=$(fa "$a" send --to "${NEXT[$a]}" "$doc" 2>>"$FT/send.err") &&
					echo "$id $a ${NEXT[$a]}" >>"$FT/sent-$tag-$a"
				sleep 0.1
			done
		) &
		STREAMS+=("$!")
		FT_PIDS+=("$!")
	done
}
# stream_wait: wait (bounded) for the stream's senders to finish.
stream_wait() {
	local p
	for p in "${STREAMS[@]}"; do ft_wait_exit "$p" 120 || return 1; done
}
# nsent TAG: referrals of the stream TAG so far (every sender).
nsent() { cat "$FT"/sent-"$1"-* 2>/dev/null | wc -l; }
# all_sent: every referral sent so far, all tags.
all_sent() { cat "$FT"/sent-* 2>/dev/null; }

# delivered_count A: the sender's count of messages in state delivered.
delivered_count() {
	fa "$1" status --json 2>/dev/null |
		$PY -c 'import json,sys; print(json.load(sys.stdin)["queues"]["delivered"])' 2>/dev/null
}
# all_delivered: every sender counts all it sent as delivered.
all_delivered() {
	local a
	for a in "${AG[@]}"; do
		[ "$(delivered_count "$a")" = "$(all_sent | awk -v a="$a" '$2 == a' | wc -l)" ] ||
			return 1
	done
}
# msg_field A ID FIELD: a field of `ferry status ID --json` at A (the
# message object's, else the top level's).
msg_field() {
	fa "$1" status --json "$2" 2>/dev/null | $PY -c '
import json, sys
d = json.load(sys.stdin)
m = d.get("message", {})
print(m.get(sys.argv[1], d.get(sys.argv[1], "")))' "$3" 2>/dev/null
}
# check_every_state NAME: every referral sent is delivered at its sender
# (its own status, not a count).
check_every_state() {
	local bad=0 a
	for a in "${AG[@]}"; do
		fa "$a" outbox --json >"$FT/outbox-$a.json" 2>>"$FT/outbox.err"
		all_sent | awk -v a="$a" '$2 == a { print $1 }' >"$FT/mine-$a"
		$PY - "$FT/outbox-$a.json" "$FT/mine-$a" <<'PYEOF' || bad=$((bad + 1))
import json, sys
st = {m["msg_id"]: m["state"] for m in json.load(open(sys.argv[1]))}
bad = [(i, st.get(i)) for i in open(sys.argv[2]).read().split() if st.get(i) != "delivered"]
for i, s in bad[:3]:
    print("# %s: %s" % (i, s))
sys.exit(1 if bad else 0)
PYEOF
	done
	ft_check "$1: each of the $(all_sent | wc -l) referrals is delivered at its sender ($bad senders not)" [ $bad -eq 0 ]
}
# check_no_error NAME: no agent logged an ERROR line.
check_no_error() {
	local a n=0
	for a in "${AG[@]}"; do
		n=$((n + $(ft_count ' ERROR ' "$FT/$a.err")))
	done
	ft_check "$1: no agent logged an ERROR ($n lines)" [ $n -eq 0 ]
	[ $n -eq 0 ] || grep -h ' ERROR ' "$FT"/{charity,police,council,health}.err | head -3 | sed 's/^/# /'
}
# routes_of A ID: the routes of A's message ID in its log ("relay:reason ...").
routes_of() {
	"$A" report --json "$FT/$1-data/log" 2>/dev/null | $PY -c '
import json, sys
for m in json.load(sys.stdin)["messages"]:
    if m["msg_id"] == sys.argv[1]:
        print(" ".join("%s:%s" % (r["relay"], r["reason"]) for r in m["routes"]))' "$2"
}
# check_exactly_once NAME: each recipient's inbox holds each referral
# sent to it exactly once, and nothing else.
check_exactly_once() {
	local a bad=0
	for a in "${AG[@]}"; do
		fa "$a" inbox --json >"$FT/inbox-$a.json" 2>>"$FT/inbox.err"
		all_sent | awk -v a="$a" '$3 == a { print $1 }' | sort >"$FT/want-$a"
		if ! $PY - "$FT/inbox-$a.json" "$FT/want-$a" <<'PYEOF'; then
import json, sys
got = [m["msg_id"] for m in json.load(open(sys.argv[1]))]
want = open(sys.argv[2]).read().split()
dups = sorted({i for i in got if got.count(i) > 1})
if dups or sorted(got) != sorted(want):
    print("# inbox %d (distinct %d), sent %d; duplicates %s; missing %s; extra %s" %
          (len(got), len(set(got)), len(want), dups[:3],
           sorted(set(want) - set(got))[:3], sorted(set(got) - set(want))[:3]))
    sys.exit(1)
PYEOF
			bad=$((bad + 1))
		fi
	done
	ft_check "$1: every recipient holds each referral sent to it exactly once ($bad inboxes wrong)" [ $bad -eq 0 ]
}
# verify_log NAME DIR: ferry-audit verify of one log with the rosters.
verify_log() {
	"$A" verify "$2" --roster "$FT/roster" >"$FT/v.out" 2>&1
	local rc=$?
	ft_check "$1: ferry-audit verify $(basename "$(dirname "$2")") (exit $rc)" [ $rc -eq 0 ]
	[ $rc -eq 0 ] || tail -5 "$FT/v.out" | sed 's/^/# /'
}
# compare_relay NAME RELAYDATA: ferry-audit compare between every agency
# and the relay.
compare_relay() {
	local a rc
	for a in "${AG[@]}"; do
		"$A" compare "$FT/$a-data/log" "$2/log" >"$FT/c.out" 2>&1
		rc=$?
		ft_check "$1: compare $a and $(basename "$2") (exit $rc)" [ $rc -eq 0 ]
		[ $rc -eq 0 ] || grep -E 'MISSING|FAILED' "$FT/c.out" | head -5 | sed 's/^/# /'
	done
}
# duplicates A: the agent's counter of messages received again.
duplicates() {
	fa "$1" status --json 2>/dev/null |
		$PY -c 'import json,sys; print(json.load(sys.stdin)["counters"]["duplicates"])' 2>/dev/null
}

# ---- 1. planned restart of relay-a (SIGTERM) during a stream ----
stream p1 10
ft_wait 60 bash -c "[ \$(cat '$FT'/sent-p1-* 2>/dev/null | wc -l) -ge 12 ]"
ft_relay_stop
ft_check "1: relay-a stops cleanly on SIGTERM mid-stream" [ "${FT_STATUS:-1}" = 0 ]
# Each sender's file is in time order: what it held when relay-a had
# exited was sent before; every later line was sent with relay-a down.
declare -A DOWN_FROM
for a in "${AG[@]}"; do DOWN_FROM[$a]=$(cat "$FT/sent-p1-$a" 2>/dev/null | wc -l); done
stream_wait || ft_fail "1: the senders finished"
ft_check "1: every referral is delivered while relay-a is down" ft_wait 90 all_delivered
bad=0 ndown=0
while read -r id from to; do
	ndown=$((ndown + 1))
	r=$(msg_field "$from" "$id" relay)
	[ "$r" = relay-b ] || { bad=$((bad + 1)); [ $bad -le 3 ] && echo "# $id: relay '$r'"; }
done < <(for a in "${AG[@]}"; do tail -n +$((DOWN_FROM[$a] + 1)) "$FT/sent-p1-$a"; done)
ft_check "1: the $ndown referrals sent with relay-a down went through relay-b ($bad not)" \
	[ $bad -eq 0 -a $ndown -gt 0 ]
ft_relay_start || exit 1
check_every_state "1"
check_exactly_once "1"
compare_relay "1" "$RELAY_DATA"
compare_relay "1" "$RELAY2_DATA"
"$A" report --json "$FT"/{charity,police,council,health}-data/log "$RELAY_DATA/log" \
	"$RELAY2_DATA/log" >"$FT/report.json" 2>"$FT/report.err"
ft_check "1: the report names the relay that carried each message" $PY - "$FT/report.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
ms = [m for m in d["messages"] if m["from"]]
bad = [m["msg_id"] for m in ms if m.get("relay") not in ("relay-a", "relay-b")]
via_b = [m for m in ms if m.get("relay") == "relay-b"]
routes = [m for m in ms if m.get("routes") and m["routes"][0]["reason"] == "first"]
if bad or not via_b or len(routes) != len(ms):
    print("# %d messages, %d without a relay, %d via relay-b, %d with a first route"
          % (len(ms), len(bad), len(via_b), len(routes)))
    sys.exit(1)
PYEOF
"$A" report "$FT"/{charity,police,council,health}-data/log "$RELAY_DATA/log" \
	"$RELAY2_DATA/log" >"$FT/report.txt" 2>&1
ft_check "1: the report's summary counts the messages each relay carried" \
	grep -Eq '^carried by: .*relay-b [0-9]+' "$FT/report.txt"
sed 's/^/# /' "$FT/report.txt" | tail -3
check_no_error "1"

# ---- 2. relay-a killed -9 mid-stream, its data folder lost ----
# health is away, so that what council sends it is still in relay-a's
# custody when relay-a dies: it must be sent again through relay-b.
fa_stop health
stream p2 15 charity police council
accepted_at() {
	fa "$1" status --json 2>/dev/null |
		$PY -c 'import json,sys; print(json.load(sys.stdin)["queues"]["accepted"])' 2>/dev/null
}
_p2_ready() {
	[ "$(nsent p2)" -ge 20 ] && [ "$(accepted_at council)" -ge 3 ] 2>/dev/null
}
ft_check "2: the stream runs, council's referrals to health held by relay-a" ft_wait 60 _p2_ready
ft_relay_kill9
rm -rf "$RELAY_DATA"
ft_check "2: relay-a killed (-9) mid-stream, its data folder deleted" [ ! -e "$RELAY_DATA" ]
stream_wait || ft_fail "2: the senders finished"
fa_start health || exit 1
ft_check "2: every sender counts every referral it sent as delivered" ft_wait 120 all_delivered
check_every_state "2"
check_exactly_once "2"
for a in "${AG[@]}"; do verify_log "2" "$FT/$a-data/log"; done
verify_log "2" "$RELAY2_DATA/log"
compare_relay "2" "$RELAY2_DATA"
routes=$(for a in "${AG[@]}"; do
	"$A" report --json "$FT/$a-data/log" 2>/dev/null
done | $PY -c '
import json, sys
n = 0
for doc in sys.stdin.read().replace("}\n{", "}\x00{").split("\x00"):
    for m in json.loads(doc)["messages"]:
        n += sum(1 for r in m.get("routes", []) if r["reason"] != "first")
print(n)')
ft_check "2: what relay-a held was resent (LOG_ROUTE entries other than first choices: $routes)" [ "${routes:-0}" -ge 3 ]
check_no_error "2"

# ---- 3. a relay restored from an old backup delivers stale copies ----
# relay-a comes back empty (the replacement of the lost one); health is
# stopped so that referrals to it stay in relay-a's custody.
ft_relay_start || exit 1
for a in "${AG[@]}"; do
	ft_wait 30 bash -c "'$B/ferry' --data '$FT/$a-data' status --json |
		$PY -c 'import json,sys; sys.exit(0 if all(r[\"state\"] == \"connected\" for r in json.load(sys.stdin)[\"relays\"]) else 1)'" ||
		ft_fail "3: $a connected to both relays"
done
fa_stop health
for i in 1 2 3 4 5; do
	id=$(fa council send --to health "$doc" 2>>"$FT/send.err") &&
		echo "$id council health" >>"$FT/sent-p3-council"
done
ft_check "3: five referrals to health sent" [ "$(nsent p3)" -eq 5 ]
_p3_in_a() {
	local id
	for id in $(awk '{print $1}' "$FT/sent-p3-council"); do
		[ "$(fa_state council "$id")" = accepted ] &&
		[ "$(msg_field council "$id" relay)" = relay-a ] || return 1
	done
}
ft_check "3: all five in relay-a's custody (accepted, relay relay-a)" ft_wait 30 _p3_in_a
ft_relay_stop
ft_check "3: relay-a stops cleanly (exit ${FT_STATUS:-?})" [ "${FT_STATUS:-1}" = 0 ]
cp -a "$RELAY_DATA" "$FT/relay-a-backup"
# relay-a stays down: after resend_after the senders send its custody
# again through relay-b; health comes back and takes them from there.
fa_start health || exit 1
ft_check "3: the five delivered through relay-b while relay-a is down" ft_wait 60 all_delivered
bad=0
for id in $(awk '{print $1}' "$FT/sent-p3-council"); do
	r=$(routes_of council "$id")
	[ "$r" = "relay-a:first relay-b:resend" ] || { bad=$((bad + 1)); echo "# $id: routes $r"; }
done
ft_check "3: council's log routes each of the five to relay-a, then relay-b (resend) ($bad not)" [ $bad -eq 0 ]
bad=0
for id in $(awk '{print $1}' "$FT/sent-p3-council"); do
	[ "$(msg_field council "$id" relay)" = relay-b ] || bad=$((bad + 1))
done
ft_check "3: status MSGID names relay-b, which took them, for each of the five ($bad not)" [ $bad -eq 0 ]
# Both relays' custody receipts are in council's log: two ACCEPTED rows
# per message (export --csv: msg_id column 4, from column 6), one signed
# by each relay; the report lists both custodians, relay-b the latest.
"$A" export "$FT/council-data/log" --csv >"$FT/council.csv" 2>"$FT/export.err"
bad=0
for id in $(awk '{print $1}' "$FT/sent-p3-council"); do
	f=$(awk -F, -v id="$id" '$2 == "ACCEPTED" && $4 == id { print $6 }' "$FT/council.csv" | sort | tr '\n' ' ')
	[ "$f" = "relay-a relay-b " ] || { bad=$((bad + 1)); echo "# $id: ACCEPTED from: $f"; }
done
ft_check "3: council's log holds both relays' custody receipts (two ACCEPTED, from relay-a and relay-b) for each of the five ($bad not)" [ $bad -eq 0 ]
"$A" report --json "$FT/council-data/log" >"$FT/report3.json" 2>"$FT/report.err"
ft_check "3: the report lists both custodians of each of the five, relay-b the latest" \
	$PY - "$FT/report3.json" "$FT/sent-p3-council" <<'PYEOF'
import json, sys
m = {x["msg_id"]: x for x in json.load(open(sys.argv[1]))["messages"]}
ids = [l.split()[0] for l in open(sys.argv[2])]
bad = [(i, m.get(i, {}).get("custody_receipts_by"), m.get(i, {}).get("custody_receipt_by"))
       for i in ids if m.get(i, {}).get("custody_receipts_by") != ["relay-a", "relay-b"] or
       m[i].get("custody_receipt_by") != "relay-b"]
for b in bad[:3]:
    print("# %s: custody receipts by %s, latest %s" % b)
sys.exit(1 if bad else 0)
PYEOF
"$A" compare "$FT/council-data/log" "$RELAY2_DATA/log" >"$FT/c.out" 2>&1
rc=$?
ft_check "3: compare council and relay-b, which signed the second custody receipts: OK (exit $rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || grep -E 'MISSING|FAILED' "$FT/c.out" | head -5 | sed 's/^/# /'
dup0=$(duplicates health)
in0=$(fa_inbox_count health)
rm -rf "$RELAY_DATA"
mv "$FT/relay-a-backup" "$RELAY_DATA"
ft_relay_start || exit 1
ft_check "3: health discards the stale copies relay-a delivers (duplicates $dup0 -> 5 more)" \
	ft_wait 60 bash -c "[ \$('$B/ferry' --data '$FT/health-data' status --json |
		$PY -c 'import json,sys; print(json.load(sys.stdin)[\"counters\"][\"duplicates\"])') -ge $((dup0 + 5)) ]"
ft_check "3: health's inbox is unchanged ($in0)" [ "$(fa_inbox_count health)" = "$in0" ]
check_exactly_once "3"
check_every_state "3"
for a in "${AG[@]}"; do verify_log "3" "$FT/$a-data/log"; done
verify_log "3" "$RELAY_DATA/log"
verify_log "3" "$RELAY2_DATA/log"
check_no_error "3"
for a in "${AG[@]}"; do fa_stop "$a"; done
ft_relay_stop
ft_relay2_stop
ft_done
