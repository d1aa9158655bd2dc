#!/bin/bash
# tests/demo.sh BUILD_DIR: the four-agency demo that `make demo` runs.
#
# In a temporary folder: three admins sign a 2-of-3 partner roster with a
# charity, a police force, a council and an NHS service and the relay;
# the relay and four agents start on 127.0.0.1; a realistic case plays
# (tests/vectors/referrals/): the charity refers a potential victim of
# labour exploitation to the police (NRM, with consent) and to the NHS
# (health needs); the police refer to the council (safe housing); the
# council accepts; the NHS asks for more information and the charity
# provides it.  Prints a timeline, stops the network, then audits every
# log (ferry-audit verify) and every pair of parties (ferry-audit
# compare), the relay included, and ends by writing the auditor's HTML
# report of the whole network (ferry-audit report) to
# build/demo-report.html ($FERRY_REPORT), saying where it is.
#
# Exits 0 only if every step held.  Every process it starts is stopped
# (trap).  FERRY_KEEP=1 keeps the temporary folder.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$ROOT" && cd "${1:-build/release}" && pwd) || exit 2
VEC=$ROOT/tests/vectors/referrals
PY=/usr/bin/python3
T0=$(date +%s%N)

for p in ferry-relay ferry-agent ferry ferry-keys ferry-audit; do
	[ -x "$BIN/$p" ] || { echo "demo: $BIN/$p is not built" >&2; exit 2; }
done

if [ -t 1 ]; then
	BOLD=$'\e[1m' DIM=$'\e[2m' RED=$'\e[31m' GRN=$'\e[32m' CYN=$'\e[36m'
	OFF=$'\e[0m'
else
	BOLD='' DIM='' RED='' GRN='' CYN='' OFF=''
fi

D=$(mktemp -d /tmp/ferry-demo-XXXXXX)
chmod 700 "$D"
PIDS=()
FAILS=0

cleanup() {
	local p i alive
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for i in $(seq 1 50); do
		alive=0
		for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive -eq 0 ] && break
		sleep 0.1
	done
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${FERRY_KEEP:-0}" = 1 ]; then
		echo "(kept $D)"
	else
		rm -rf "$D"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say() { printf '%s\n' "$*"; }
title() { printf '\n%s== %s ==%s\n' "$BOLD" "$*" "$OFF"; }
good() { printf '  %s[ok]%s   %s\n' "$GRN" "$OFF" "$*"; }
bad() { printf '  %s[FAIL]%s %s\n' "$RED" "$OFF" "$*"; FAILS=$((FAILS + 1)); }
die() {
	bad "$*"
	printf '\n%sDEMO FAILED%s (%d problem(s)); logs in %s\n' "$RED" "$OFF" \
	    "$FAILS" "$D"
	FERRY_KEEP=1
	exit 1
}
# run CMD...: run quietly, output in $D/last.out; 1 on failure.
run() { "$@" >"$D/last.out" 2>&1; }
# wait_for SECONDS CMD...: every 0.1 s until CMD succeeds.
wait_for() {
	local secs=$1 i; shift
	for i in $(seq 1 $((secs * 10))); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	"$@" 2>/dev/null
}
count() { grep -c -- "$1" "$2" 2>/dev/null || true; }

K=$BIN/ferry-keys
AGENCIES=(eerc-charity met-police camden-council nhs-uclh)
declare -A KIND=([eerc-charity]=charity [met-police]=police
	[camden-council]=council [nhs-uclh]=health)
declare -A NAME=([eerc-charity]="East End Rescue Charity"
	[met-police]="Metropolitan Police Service"
	[camden-council]="Camden Council Adult Social Care"
	[nhs-uclh]="University College London Hospitals NHS")

printf '%sFerry demo%s: four agencies, one relay, one case.  Work folder %s\n' \
    "$BOLD" "$OFF" "$D"

# ---- 1. identities and the roster --------------------------------------
title "1. Keys and the partner roster (ferry-keys)"
cd "$D" || exit 1
mkdir -p admins relay agencies
exec </dev/null
unset FERRY_PASSPHRASE
for a in alice bob carol; do
	run "$K" admin-init --name "$a" --out admins || die "admin-init $a"
done
good "three admins (alice, bob, carol) made their signing keys"
run "$K" relay-init --id relay --out relay || die "relay-init"
for id in "${AGENCIES[@]}"; do
	run "$K" init --id "$id" --kind "${KIND[$id]}" --name "${NAME[$id]}" \
	    --out agencies || die "init $id"
	fp=$(sed -n 's/^fingerprint: //p' "$D/last.out")
	good "$(printf '%-15s (%-7s) made its keys; fingerprint %s' "$id" \
	    "${KIND[$id]}" "$fp")"
done
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()') ||
	die "no free port"
EP=tcp://127.0.0.1:$PORT
reqs=()
for id in "${AGENCIES[@]}"; do reqs+=(--request "agencies/$id.request"); done
run "$K" roster new --admins admins/alice.pub,admins/bob.pub,admins/carol.pub \
    --threshold 2 --relay relay/relay.request --endpoint "$EP" "${reqs[@]}" \
    --expires 30 --out roster.1 || die "roster new"
good "roster version 1 drafted: 4 agencies + relay at $EP, 2 of 3 admins must sign"
PIN=$("$K" fingerprint roster.1) || die "roster fingerprint"
run "$K" roster verify roster.1 --pin "$PIN" &&
	die "an unsigned roster was accepted"
good "unsigned roster refused: $(grep -m1 -o 'need [^;]*' "$D/last.out" || echo refused)"
run "$K" roster sign --roster roster.1 --key admins/alice.key || die "alice signs"
run "$K" roster verify roster.1 --pin "$PIN" &&
	die "a roster with one signature was accepted"
good "one signature (alice) is not enough: refused"
run "$K" roster sign --roster roster.1 --key admins/bob.key || die "bob signs"
run "$K" roster verify roster.1 --pin "$PIN" || die "roster verify"
good "signed by alice and bob: verifies against its pinned fingerprint $PIN"

# ---- 2. start the network -----------------------------------------------
title "2. Starting the relay and four agents on 127.0.0.1"
cat >relay.conf <<EOF
[relay]
endpoint = $EP
data = $D/relay-data
key = $D/relay/relay.key
roster = $D/roster.1
roster_pin = $PIN
log_level = info
EOF
"$BIN/ferry-relay" -c relay.conf >relay.out 2>relay.err &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
relay_up() { kill -0 "$RELAY_PID" && grep -q ' started ' relay.err; }
wait_for 20 relay_up || { tail -5 relay.err; die "relay did not start"; }
good "ferry-relay listening on $EP (pid $RELAY_PID)"
declare -A APID
for id in "${AGENCIES[@]}"; do
	cat >"$id.conf" <<EOF
[agent]
data = $D/$id-data
key = $D/agencies/$id.key
roster = $D/roster.1
roster_pin = $PIN
relay = $EP
spool = $D/$id-spool
log_level = info
retry = 300ms
retry_max = 2s
reconnect = 100ms
reconnect_max = 1s
EOF
	"$BIN/ferry-agent" -c "$id.conf" >"$id.out" 2>"$id.err" &
	APID[$id]=$!
	PIDS+=("$!")
done
agent_up() { kill -0 "${APID[$1]}" && grep -q ' connected ' "$1.err"; }
for id in "${AGENCIES[@]}"; do
	wait_for 20 agent_up "$id" || { tail -5 "$id.err"; die "agent $id did not connect"; }
	"$BIN/ferry" --data "$D/$id-data" status >"$id.status" 2>&1 ||
		die "ferry status $id"
	good "$(head -1 "$id.status" | sed 's/ since .*,/,/')"
done

# ---- 3. the case ----------------------------------------------------------
title "3. The case: a potential victim of labour exploitation"
say "  ${DIM}Documents from tests/vectors/referrals/; each agency's operator runs"
say "  'ferry send --to AGENCY FILE.json' and gets a message id back.${OFF}"
# sendmsg LABEL FROM TO FILE: send, remember the message; prints the id.
MSGS=()
declare -A M_FROM M_TO M_LABEL M_CASE
sendmsg() {
	local label=$1 from=$2 to=$3 file=$4 id
	id=$("$BIN/ferry" --data "$D/$from-data" send --to "$to" "$file" \
	    2>"$D/send.err") || { cat "$D/send.err"; die "ferry send $from -> $to"; }
	MSGS+=("$id")
	M_FROM[$id]=$from M_TO[$id]=$to M_LABEL[$id]=$label
	M_CASE[$id]=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["case_id"])' "$file")
	good "$(printf '%-14s -> %-14s %s  (case %s)' "$from" "$to" "$label" "${M_CASE[$id]}")"
	say "         message id $id"
	LAST=$id
}
# reply_doc FILE MSGID: the response document answering MSGID.
reply_doc() {
	local out=$D/$(basename "$1")
	sed "s/\"in_reply_to\": \"[0-9a-f]*\"/\"in_reply_to\": \"$2\"/" "$1" >"$out"
	echo "$out"
}
state() {
	"$BIN/ferry" --data "$D/$1-data" status --json "$2" 2>/dev/null |
	    $PY -c 'import json,sys; print(json.load(sys.stdin)["message"]["state"])'
}
delivered() { [ "$(state "$1" "$2")" = delivered ]; }
wait_delivered() {
	wait_for 30 delivered "${M_FROM[$1]}" "$1" ||
		die "message $1 (${M_LABEL[$1]}) not delivered: state $(state "${M_FROM[$1]}" "$1")"
}

sendmsg "NRM referral: adult, labour exploitation, consent given" \
    eerc-charity met-police "$VEC/nrm-adult-labour.json"
NRM=$LAST
sendmsg "health referral: health needs (with attachment)" \
    eerc-charity nhs-uclh "$VEC/health-charity-to-nhs.json"
HEALTH=$LAST
wait_delivered "$NRM"
sendmsg "housing referral: emergency safe housing" \
    met-police camden-council "$VEC/housing-police-to-council.json"
HOUSING=$LAST
wait_delivered "$HOUSING"
sendmsg "response: ACCEPTED (safe housing offered)" \
    camden-council met-police "$(reply_doc "$VEC/response-council-accepted.json" "$HOUSING")"
wait_delivered "$HEALTH"
sendmsg "response: MORE INFORMATION NEEDED" \
    nhs-uclh eerc-charity "$(reply_doc "$VEC/response-nhs-more-info.json" "$HEALTH")"
ASK=$LAST
wait_delivered "$ASK"
sendmsg "response: INFORMATION PROVIDED" \
    eerc-charity nhs-uclh "$(reply_doc "$VEC/response-charity-info-provided.json" "$ASK")"
# as_from FILE ORG NAME EMAIL CASE: FILE's referral as sent by ORG (its
# referrer NAME at EMAIL, its own case reference CASE); prints the file.
as_from() {
	local out=$D/$2-$(basename "$1")
	$PY - "$1" "$out" "$2" "$3" "$4" "$5" <<'PYEOF' || die "adapting $1"
import json, sys
src, out, org, name, email, case = sys.argv[1:7]
d = json.load(open(src))
d["referrer"] = {"name": name, "organisation": org, "email": email}
d["consent"]["obtained_by"] = name
d["case_id"] = case
json.dump(d, open(out, "w"), indent=2)
PYEOF
	echo "$out"
}
say "  ${DIM}The same week: the hospital raises a safeguarding concern with the"
say "  council, the charity asks the council for support for its own client,"
say "  and the police ask the hospital for a health assessment.${OFF}"
sendmsg "safeguarding referral: adult, urgent" \
    nhs-uclh camden-council "$VEC/safeguarding-adult.json"
sendmsg "housing referral: support for the charity's client" \
    eerc-charity camden-council "$(as_from "$VEC/housing-police-to-council.json" \
    eerc-charity "Amara Okafor" a.okafor@eerc.example.org EERC-2026-0415)"
sendmsg "health referral: assessment requested by the police" \
    met-police nhs-uclh "$(as_from "$VEC/health-charity-to-nhs.json" \
    met-police "DC Sam Hughes" sam.hughes@met.example.police.uk MET-2026-88213)"
for id in "${MSGS[@]}"; do wait_delivered "$id"; done
good "all ${#MSGS[@]} messages delivered, every delivery receipt verified by its sender"

# ---- 4. timeline ----------------------------------------------------------
title "4. Timeline"
say "  ${DIM}From each sender's 'ferry status --json ID', each recipient's"
say "  'ferry inbox --json' and the relay's log ('ferry-audit export').${OFF}"
: >timeline.in
for id in "${MSGS[@]}"; do
	f=${M_FROM[$id]} t=${M_TO[$id]}
	"$BIN/ferry" --data "$D/$f-data" status --json "$id" >"st-$id.json" ||
		die "status $id"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$f" "$t" "${M_LABEL[$id]}" \
	    "${M_CASE[$id]}" "$D/st-$id.json" >>timeline.in
done
for id in "${AGENCIES[@]}"; do
	"$BIN/ferry" --data "$D/$id-data" inbox --json >"inbox-$id.json" ||
		die "inbox $id"
done
"$BIN/ferry-audit" export "$D/relay-data/log" --json >relay-export.json ||
	die "ferry-audit export of the relay's log"
$PY - "$D" "$BOLD" "$DIM" "$CYN" "$OFF" >timeline.txt <<'EOF' || die "timeline"
import json, sys, time
d, BOLD, DIM, CYN, OFF = sys.argv[1:6]
rows = [l.rstrip("\n").split("\t") for l in open(d + "/timeline.in")]
inbox = {}
for a in ("eerc-charity", "met-police", "camden-council", "nhs-uclh"):
    for m in json.load(open(f"{d}/inbox-{a}.json")):
        inbox[m["msg_id"]] = m
relay = {}
for e in json.load(open(d + "/relay-export.json"))["entries"]:
    if e["kind"] == "ACCEPTED":
        relay[e["msg_id"]] = e
ev = []
for mid, frm, to, label, case, st in rows:
    m = json.load(open(st))["message"]
    r = inbox.get(mid)
    if r is None:
        print(f"message {mid} missing from {to}'s inbox"); sys.exit(1)
    short = mid[-8:]  # ids start with their time: the tail tells them apart
    ev.append((m["queued_ms"], 0, f"{BOLD}{frm}{OFF} sends {label}",
               f"to {to}; case {case}; msg {short}; written to its log and outbox first"))
    a = relay.get(mid)
    if a is None or a["index"] != m.get("relay_log_index"):
        print(f"message {mid}: the relay's log has no matching ACCEPTED"); sys.exit(1)
    ev.append((a["time_ms"], 1, f"relay takes custody of {short}: custody receipt back to {frm}",
               f"sender and signature checked, stored durably; relay log #{a['index']}, proven under its signed checkpoint"))
    ev.append((r["received_ms"], 2, f"{BOLD}{to}{OFF} receives {short} into its inbox",
               f"decrypted, verified; {to} log #{r.get('log_index', '?')}"))
    ev.append((m["delivered_ms"], 3, f"{frm} holds {to}'s delivery receipt for {short}",
               f"receipt proven: {to} log #{m.get('recipient_log_index')} is in {to}'s signed checkpoint"))
ev.sort(key=lambda e: (e[0], e[1]))
t0 = ev[0][0]
for ms, k, what, detail in ev:
    clock = time.strftime("%H:%M:%S", time.gmtime(ms / 1000)) + ".%03d" % (ms % 1000)
    mark = ["SEND ", "RELAY", "RECV ", "RCPT "][k]
    print(f"  {clock}  +{ms - t0:5d} ms  {CYN}{mark}{OFF}  {what}")
    print(f"  {'':12}  {'':9}         {DIM}{detail}{OFF}")
EOF
cat timeline.txt
say ""
say "  ${DIM}SEND  'ferry send' returned a message id (the referral is encrypted"
say "        end to end: the relay never sees its content)"
say "  RELAY the relay logged the envelope and sent a custody receipt (ACCEPTED_P):"
say "        its log entry, proven by inclusion in its signed checkpoint"
say "  RECV  the recipient verified, decrypted and stored it (exactly once)"
say "  RCPT  the sender verified the recipient's delivery receipt (RECEIPT_P): the"
say "        recipient's log entry, proven by inclusion in its signed checkpoint${OFF}"

title "What each agency's operator sees ('ferry inbox')"
for id in "${AGENCIES[@]}"; do
	say "  ${BOLD}$id${OFF}:"
	"$BIN/ferry" --data "$D/$id-data" inbox | sed 's/^/    /'
done
say ""
say "  ${BOLD}eerc-charity${OFF} asks: ferry status ${NRM}"
"$BIN/ferry" --data "$D/eerc-charity-data" status "$NRM" | sed 's/^/    /'

# ---- 5. stop and audit ------------------------------------------------------
title "5. Stopping the network (SIGTERM)"
stop_one() {
	local name=$1 pid=$2 i rc
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then bad "$name did not stop"; return; fi
	wait "$pid"; rc=$?
	if [ "$rc" -eq 0 ]; then good "$name stopped cleanly"; else bad "$name exited $rc"; fi
}
for id in "${AGENCIES[@]}"; do stop_one "ferry-agent $id" "${APID[$id]}"; done
stop_one ferry-relay "$RELAY_PID"

title "6. Audit (ferry-audit)"
declare -A LOGDIR=([relay]=$D/relay-data/log)
for id in "${AGENCIES[@]}"; do LOGDIR[$id]=$D/$id-data/log; done
for p in relay "${AGENCIES[@]}"; do
	if "$BIN/ferry-audit" verify "${LOGDIR[$p]}" --key "$p" \
	    --roster roster.1 >"verify-$p.txt" 2>&1; then
		good "$(printf 'verify %-15s %s' "$p" "$(grep -v '^warning' "verify-$p.txt" | tail -1)")"
	else
		bad "verify $p:"; sed 's/^/         /' "verify-$p.txt" | head -10
	fi
done
# Every pair of parties, the relay included: --key names the party; its
# key is looked up in the roster.
PARTIES=(relay "${AGENCIES[@]}")
PAIRS=()
for ((i = 0; i < ${#PARTIES[@]}; i++)); do
	for ((j = i + 1; j < ${#PARTIES[@]}; j++)); do
		PAIRS+=("${PARTIES[$i]} ${PARTIES[$j]}")
	done
done
for pr in "${PAIRS[@]}"; do
	set -- $pr
	if "$BIN/ferry-audit" compare "${LOGDIR[$1]}" "${LOGDIR[$2]}" \
	    --roster roster.1 --key-a "$1" --key-b "$2" \
	    >"compare-$1-$2.txt" 2>&1; then
		good "$(printf 'compare %-14s <-> %-14s %s' "$1" "$2" "$(tail -1 "compare-$1-$2.txt" | sed 's/ between [a-z-]* and [a-z-]*:/:/')")"
	else
		bad "compare $1 <-> $2:"; sed 's/^/         /' "compare-$1-$2.txt" | head -10
	fi
done
title "7. The auditor's report (ferry-audit report)"
REPORT=${FERRY_REPORT:-$ROOT/build/demo-report.html}
mkdir -p "$(dirname "$REPORT")"
if "$BIN/ferry-audit" report --roster roster.1 --html "$REPORT" \
    "${LOGDIR[relay]}" $(for id in "${AGENCIES[@]}"; do echo "${LOGDIR[$id]}"; done) \
    >report.txt 2>&1; then
	good "every log holds together; $(grep 'messages;' report.txt)"
	say "  ${BOLD}Open $REPORT in a browser${OFF}: one self-contained file to read or print"
	say "  (the same as JSON: 'ferry-audit report --json LOGDIR...')."
	say "  A person's subject access request: ${BOLD}ferry export --case CASE${OFF} at each agency"
	say "  writes that case's messages and documents as JSON and a printable page."
else
	bad "ferry-audit report:"; sed 's/^/         /' report.txt | head -10
fi
if grep -q 'ERROR: AddressSanitizer\|runtime error' ./*.err 2>/dev/null; then
	bad "sanitizer report in a daemon's stderr"
fi

el=$((($(date +%s%N) - T0) / 1000000))
if [ "$FAILS" -eq 0 ]; then
	printf '\n%sDEMO PASSED%s: %d messages, every one delivered once with a verified receipt; %d logs verified, %d pairs agree; report %s (%d.%03d s)\n' \
	    "$GRN$BOLD" "$OFF" "${#MSGS[@]}" $((${#AGENCIES[@]} + 1)) "${#PAIRS[@]}" "$REPORT" \
	    $((el / 1000)) $((el % 1000))
	exit 0
fi
printf '\n%sDEMO FAILED%s: %d problem(s); logs in %s\n' "$RED" "$OFF" "$FAILS" "$D"
FERRY_KEEP=1
exit 1
