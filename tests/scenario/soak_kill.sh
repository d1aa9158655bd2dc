#!/bin/bash
# Soak under kill -9: at least 2,000 referrals among four agencies, sent
# both with `ferry send` (one process per referral) and through the spool
# folders, while a driver kill -9s and restarts the relay and each agent at
# random moments, several times each.  Afterwards:
#   - every referral whose `ferry send` returned an id, and every spooled
#     file, is in its recipient's inbox exactly once (by message id and by
#     its unique case id);
#   - every sender shows every one of its messages delivered with a
#     verified receipt;
#   - every log passes `ferry-audit verify` (with the roster) and every
#     pair of parties (agents pairwise, and each agent with the relay)
#     passes `ferry-audit compare`.
# Prints the counts: sent, delivered, duplicates, lost (the last two 0).
#
# The daemons run from the release build ($FERRY_RELEASE_BIN): 2,000
# referrals with ASan binaries on this machine take too long for make test.
# FERRY_SOAK_N (default 2000), FERRY_SOAK_SEED (default random),
# FERRY_SOAK_BIN (default $FERRY_RELEASE_BIN) change that.
#
# `make soak` (issue 13, outside make test) runs it with FERRY_SOAK_N=10000
# and three more knobs, on a build with fault points (build/soak):
#   FERRY_SOAK_DISK=1    data on the real disk, not a tmpfs (real fsyncs);
#   FERRY_SOAK_RERUN=1   a `ferry send` that gets no id is rerun as the
#                        same command (as its message says), never replaced
#                        by a new referral: a document under two ids, or
#                        two referrals of one case id, is a duplicate;
#   FERRY_SOAK_FAULTS=1  each restart arms a fault point at a random hit
#                        (FERRY_FAULT, proto/ferry.h): the relay killed
#                        right after committing a RECEIPT, an agent killed
#                        after its reply or receive commit or with a
#                        relay's ACCEPTED not yet committed, or an agent
#                        whose send commit stalls past the CLI's timeout;
#                        processes that die by a fault are restarted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
N=${FERRY_SOAK_N:-2000}
SEED=${FERRY_SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
B=${FERRY_SOAK_BIN:-${FERRY_RELEASE_BIN:-$FERRY_ROOT/build/release}}
for p in ferry-relay ferry-agent ferry ferry-audit; do
	[ -x "$B/$p" ] || { echo "not ok - soak: $B/$p not built"; exit 1; }
done
echo "# soak: $N referrals, daemons and CLI from $B (release build:"
echo "#   ASan binaries are too slow for 2,000 referrals here), seed $SEED"
START=$SECONDS
DISK=${FERRY_SOAK_DISK:-0} RERUN=${FERRY_SOAK_RERUN:-0} FAULTS=${FERRY_SOAK_FAULTS:-0}
# Time bounds grow with N (about 25 referrals a second get through here).
TKILL=$((N / 15 > 150 ? N / 15 : 150))
TDRAIN=$((N / 15 > 150 ? N / 15 : 150))
ft_init
# As root, the soak's data lives on a tmpfs mounted on $FT: fsync is then
# free, which keeps the run short.  kill -9 loses no page cache, so the
# crash-consistency being tested is the same; power loss is not tested.
SOAK_MNT=
if [ "$DISK" != 1 ] && [ "$(id -u)" -eq 0 ] &&
    mount -t tmpfs -o size=2g,mode=0700 tmpfs "$FT" 2>/dev/null; then
	SOAK_MNT=$FT
	echo "# data folders on a tmpfs at $FT (fsync is free; kill -9 consistency is unchanged)"
	trap 'soak_cleanup' EXIT
fi
soak_cleanup() {
	local keep=${FERRY_KEEP:-0}
	FERRY_KEEP=1 ft_cleanup >/dev/null
	if [ "$keep" = 1 ]; then
		echo "# kept $FT (a tmpfs: umount it when done)"
	else
		umount "$SOAK_MNT" && rmdir "$SOAK_MNT"
	fi
}
[ -n "$SOAK_MNT" ] || echo "# data folders on the real disk at $FT ($(df -P "$FT" | awk 'NR==2 {print $1}')): every fsync is real"
[ "$RERUN" = 1 ] && echo "# a ferry send without an id is rerun as the same command"
[ "$FAULTS" = 1 ] && echo "# restarts arm fault points (relay killed after a RECEIPT commit, agents killed after commits or with an ACCEPTED not yet committed, or stalled past the CLI timeout)"
AG=(eerc-charity met-police camden-council nhs-uclh)
ft_net relay "${AG[@]}"
ft_relay_start || exit 1
for a in "${AG[@]}"; do
	# No back-pressure bound: the soak counts every send's outcome, and
	# a larger FERRY_SOAK_N would reach it while agents are down.
	fa_conf "$a" log_level=info max_backlog=0
	fa_start "$a" || exit 1
done

# The plan: N referrals, each with a unique case id, a quarter by `ferry
# send` (one process each: ~0.1 s here) and the rest by spool file,
# round-robin over senders and recipients.
mkdir -p "$FT/docs"
$PY - "$VECTORS/nrm-adult-labour.json" "$FT" "$N" "${AG[@]}" <<'EOF' || { ft_fail "soak: plan"; exit 1; }
import json, sys
tpl, ft, n, ag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
doc = json.load(open(tpl))
plans = {a: open(f"{ft}/plan-{a}", "w") for a in ag}
for i in range(n):
    frm = ag[i % 4]
    to = ag[(i % 4 + 1 + (i // 4) % 3) % 4]
    how = "cli" if (i // 4) % 4 == 0 else "spool"
    case = "SOAK-%05d" % i
    doc["case_id"] = case
    p = f"{ft}/docs/{case}.json"
    json.dump(doc, open(p, "w"))
    plans[frm].write(f"{how} {to} {case} {p}\n")
EOF
ft_ok "plan: $N referrals (a quarter by ferry send, the rest by spool file) among ${#AG[@]} agencies"

# Loaders, two per agency: `ferry send` one referral at a time (an id
# printed = the guarantee starts; a failed call, agent killed, is recorded
# unacked and replaced by a new referral with a new case id, never retried
# with the same one, so that a duplicate would be Ferry's), and a spool
# writer dropping files (temporary name, then rename) in small batches.
cli_loader() {
	local a=$1 how to case p id c k
	while read -r how to case p; do
		[ "$how" = cli ] || continue
		c=$case
		for k in $(seq 1 60); do
			if id=$(FERRY_TIMEOUT=5s "$B/ferry" --data "$FT/$a-data" send \
			    --to "$to" "$p" 2>>"$FT/load-$a.err") && [ -n "$id" ]; then
				echo "$id $to $c" >>"$FT/acked-$a"
				break
			fi
			if [ "$RERUN" = 1 ]; then
				# The same command again, as ferry says: it must
				# not send the document twice.
				[ "$k" -lt 60 ] || echo "$to $c" >>"$FT/unacked-$a"
				sleep 0.5
				continue
			fi
			[ "$k" -le 20 ] || break
			# a new referral (new case id) in place of the unacked one
			echo "$to $c" >>"$FT/unacked-$a"
			c=$case-r$k
			sed "s/\"$case\"/\"$c\"/" "$FT/docs/$case.json" >"$FT/docs/$c.json"
			p=$FT/docs/$c.json
			sleep 0.2
		done
	done <"$FT/plan-$a"
}
spool_loader() {
	$PY - "$FT" "$1" <<'PYEOF'
import os, shutil, sys, time
ft, a = sys.argv[1], sys.argv[2]
log = open(f"{ft}/spooled-{a}", "a")
n = 0
for line in open(f"{ft}/plan-{a}"):
    how, to, case, p = line.split()
    if how != "spool":
        continue
    d = f"{ft}/{a}-spool/outbox/{to}"
    shutil.copyfile(p, f"{d}/.{case}.tmp")
    os.rename(f"{d}/.{case}.tmp", f"{d}/{case}.json")
    log.write(f"{to} {case}\n"); log.flush()
    n += 1
    if n % 10 == 0:
        time.sleep(0.15)
PYEOF
}
LOADERS=()
for a in "${AG[@]}"; do
	: >"$FT/acked-$a"; : >"$FT/unacked-$a"; : >"$FT/spooled-$a"
	cli_loader "$a" &
	LOADERS+=("$!")
	FT_PIDS+=("$!")
	spool_loader "$a" &
	LOADERS+=("$!")
	FT_PIDS+=("$!")
done
loaders_alive() {
	local p
	for p in "${LOADERS[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}
loaders_done() { ! loaders_alive; }

# The killer: every process twice (relay three times), in random order,
# at random moments; it keeps going (bounded) while the load runs.
victims=(relay relay relay "${AG[@]}" "${AG[@]}")
for i in "${!victims[@]}"; do
	j=$((RANDOM % ${#victims[@]}))
	t=${victims[$i]}; victims[$i]=${victims[$j]}; victims[$j]=$t
done
kills=0
declare -A KILLED
# With FAULTS, a restart arms one fault point at a random hit.
fault_for() {
	[ "$FAULTS" = 1 ] || return 0
	if [ "$1" = relay ]; then
		echo "relay-commit-final=kill@$((RANDOM % 15 + 1))"
	else
		case $((RANDOM % 4)) in
		0) echo "agent-commit-send=stall@$((RANDOM % 15 + 1))" ;;
		1) echo "agent-commit-reply=kill@$((RANDOM % 15 + 1))" ;;
		2) echo "agent-commit-recv=kill@$((RANDOM % 15 + 1))" ;;
		3) echo "agent-accepted-buffered=kill@$((RANDOM % 15 + 1))" ;;
		esac
	fi
}
start_one() {
	# A process armed with a fault may die by it before its start is
	# seen (a backlog of RECEIPTs commits at once): then start it once
	# more, unarmed.
	local fails=$FT_FAILS
	if [ "$1" = relay ]; then
		FERRY_FAULT=$(fault_for relay) ft_relay_start >/dev/null && return
	else
		FERRY_FAULT=$(fault_for "$1") fa_start "$1" --no-wait >/dev/null &&
			return
	fi
	[ "$FAULTS" = 1 ] || return 1
	FT_FAILS=$fails	# the armed start's failure is not the test's
	if [ "$1" = relay ]; then
		FERRY_FAULT= ft_relay_start >/dev/null
	else
		FERRY_FAULT= fa_start "$1" --no-wait >/dev/null
	fi
}
# Restart whatever a fault point killed.
revive() {
	local a
	kill -0 "$RELAY_PID" 2>/dev/null || start_one relay || return 1
	for a in "${AG[@]}"; do
		kill -0 "${FA_PID[$a]}" 2>/dev/null || start_one "$a" || return 1
	done
}
killone() {
	local v=$1
	revive || return 1
	if [ "$v" = relay ]; then
		ft_relay_kill9
	else
		fa_kill9 "$v"
	fi
	sleep "0.$((RANDOM % 8 + 1))"
	start_one "$v" || return 1
	kills=$((kills + 1))
	KILLED[$v]=$((${KILLED[$v]:-0} + 1))
}
for v in "${victims[@]}"; do
	sleep "$((RANDOM % 2)).$((RANDOM % 10))"
	killone "$v" || { ft_fail "soak: restart of $v"; exit 1; }
done
extra=0
XMAX=$((N / 150 > 20 ? N / 150 : 20))
while loaders_alive && [ $extra -lt $XMAX ] && [ $((SECONDS - START)) -lt $TKILL ]; do
	sleep "$((RANDOM % 2 + 1)).$((RANDOM % 10))"
	v=${AG[$((RANDOM % 4))]}
	[ $((RANDOM % 3)) -eq 0 ] && v=relay
	killone "$v" || { ft_fail "soak: restart of $v"; exit 1; }
	extra=$((extra + 1))
done
summary=""
for v in relay "${AG[@]}"; do summary="$summary $v=${KILLED[$v]:-0}"; done
ft_ok "killer: $kills kill -9 and restarts ($summary) in $((SECONDS - START)) s"
while loaders_alive && [ $((SECONDS - START)) -lt $((TKILL + 300)) ]; do
	revive || break
	sleep 1
done
ft_wait 120 loaders_done
ft_check "load finished ($((SECONDS - START)) s)" loaders_done

# Recovery: everything restarted without fault points; then wait
# (bounded) for every outbox to drain.
if [ "$FAULTS" = 1 ]; then
	nf=$(cat "$RELAY_ERR" "$FT"/*.err 2>/dev/null | grep -c '^ferry-fault: ')
	ft_check "fault points were met ($nf: $(cat "$RELAY_ERR" "$FT"/*.err 2>/dev/null | sed -n 's/^ferry-fault: \([a-z-]*=[a-z]*\).*/\1/p' | sort | uniq -c | tr -s ' \n' ' '))" [ "$nf" -gt 0 ]
	FAULTS=0
	for a in "${AG[@]}"; do fa_stop "$a"; done
	ft_relay_stop
fi
for a in "${AG[@]}"; do
	kill -0 "${FA_PID[$a]}" 2>/dev/null || fa_start "$a" --no-wait
done
kill -0 "$RELAY_PID" 2>/dev/null || ft_relay_start
pending() {
	local a n tot=0
	for a in "${AG[@]}"; do
		n=$(ls "$FT/$a-spool/outbox/"*/ 2>/dev/null | grep -c '\.json$')
		tot=$((tot + n))
		n=$(FERRY_TIMEOUT=10s "$B/ferry" --data "$FT/$a-data" outbox --json |
		    $PY -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin) if m["state"] != "delivered"))') ||
		    n=1
		tot=$((tot + n))
	done
	echo "$tot"
}
drained() { [ "$(pending)" -eq 0 ]; }
t0=$SECONDS
if ft_wait "$TDRAIN" drained; then
	ft_ok "every outbox drained, every message delivered ($((SECONDS - t0)) s after the load)"
else
	ft_fail "outboxes not drained after $TDRAIN s: $(pending) pending"
fi

# Collect and check.
for a in "${AG[@]}"; do
	"$B/ferry" --data "$FT/$a-data" outbox --json >"$FT/outbox-$a.json"
	"$B/ferry" --data "$FT/$a-data" inbox --json >"$FT/inbox-$a.json"
	ls "$FT/$a-spool/failed" >"$FT/spoolfailed-$a" 2>/dev/null
done
$PY - "$FT" "${AG[@]}" >"$FT/check.txt" <<'EOF'
import json, sys, collections
ft, ag = sys.argv[1], sys.argv[2:]
inbox = {a: json.load(open(f"{ft}/inbox-{a}.json")) for a in ag}
outbox = {a: json.load(open(f"{ft}/outbox-{a}.json")) for a in ag}
acked, unacked, spooled = [], [], []
for a in ag:
    acked += [(a,) + tuple(l.split()) for l in open(f"{ft}/acked-{a}") if l.strip()]
    unacked += [(a,) + tuple(l.split()) for l in open(f"{ft}/unacked-{a}") if l.strip()]
    spooled += [(a,) + tuple(l.split()) for l in open(f"{ft}/spooled-{a}") if l.strip()]
by_id = collections.Counter()
by_case = collections.Counter()
where = {}
for a in ag:
    for m in inbox[a]:
        by_id[(a, m["msg_id"])] += 1
        by_case[m["case_id"]] += 1
        where[m["case_id"]] = (a, m["msg_id"], m["from"])
dups = sum(c - 1 for c in by_id.values() if c > 1) + \
       sum(c - 1 for c in by_case.values() if c > 1)
lost = []
bad_to = []
for frm, mid, to, case in acked:
    if by_id[(to, mid)] != 1:
        lost.append(f"ferry send id {mid} ({frm} -> {to}, {case})")
    elif where[case] != (to, mid, frm):
        bad_to.append(case)
for frm, to, case in spooled:
    w = where.get(case)
    if w is None:
        lost.append(f"spooled {case} ({frm} -> {to})")
    elif w[0] != to or w[2] != frm:
        bad_to.append(case)
arrived_unacked = sum(1 for _, _, case in unacked if case in where)
notdeliv = [(a, m["msg_id"], m["state"]) for a in ag for m in outbox[a]
            if m["state"] != "delivered" or not m.get("receipt_verified")]
out_ids = {(a, m["msg_id"]) for a in ag for m in outbox[a]}
missing_out = [mid for frm, mid, _, _ in acked if (frm, mid) not in out_ids]
sent = len(acked) + len(spooled)
delivered = sum(1 for frm, mid, to, case in acked if by_id[(to, mid)] == 1) + \
            sum(1 for frm, to, case in spooled if case in where)
total_out = sum(len(outbox[a]) for a in ag)
total_in = sum(len(inbox[a]) for a in ag)
print(f"COUNTS sent={sent} (ferry send ids {len(acked)}, spooled {len(spooled)}) "
      f"delivered={delivered} duplicates={dups} lost={len(lost)}")
print(f"UNACKED {len(unacked)} ferry send calls failed (agent killed); "
      f"{arrived_unacked} of them arrived anyway (committed before the kill), once each")
print(f"TOTALS outbox entries={total_out} inbox entries={total_in}")
print(f"NOTDELIVERED {len(notdeliv)} {notdeliv[:5]}")
print(f"MISSINGOUT {len(missing_out)} {missing_out[:5]}")
print(f"MISROUTED {len(bad_to)} {bad_to[:5]}")
for l in lost[:10]:
    print(f"LOST {l}")
EOF
sed 's/^/# /' "$FT/check.txt"
counts=$(grep '^COUNTS' "$FT/check.txt")
sent=$(sed -n 's/.* sent=\([0-9]*\).*/\1/p' <<<"$counts")
dups=$(sed -n 's/.*duplicates=\([0-9]*\).*/\1/p' <<<"$counts")
lost=$(sed -n 's/.*lost=\([0-9]*\).*/\1/p' <<<"$counts")
deliv=$(sed -n 's/.*delivered=\([0-9]*\).*/\1/p' <<<"$counts")
echo "# sent $sent, delivered $deliv, duplicates $dups, lost $lost"
ft_check "referrals with an id from ferry send or spooled: $sent (planned $N)" \
	[ "${sent:-0}" -ge "$N" ]
[ "$N" -ge 2000 ] || echo "# (FERRY_SOAK_N=$N is below the 2,000 of the issue)"
ft_check "every acknowledged or spooled referral is in its recipient's inbox (lost $lost)" \
	[ "${lost:-1}" = 0 ]
ft_check "no duplicates in any inbox, by message id and by case id (duplicates $dups)" \
	[ "${dups:-1}" = 0 ]
ft_check "delivered = sent ($deliv = $sent)" [ "${deliv:-x}" = "${sent:-y}" ]
ft_check "every sender shows every message delivered with a verified receipt" \
	grep -q '^NOTDELIVERED 0 ' "$FT/check.txt"
ft_check "every id ferry send printed is in its sender's outbox" \
	grep -q '^MISSINGOUT 0 ' "$FT/check.txt"
ft_check "every referral reached the recipient it was addressed to, from its sender" \
	grep -q '^MISROUTED 0 ' "$FT/check.txt"
ft_check "no spool file refused (spool failed/ folders empty)" \
	bash -c "! cat $FT/spoolfailed-* | grep -q ."

# Stop everything, then audit every log and every pair.
for a in "${AG[@]}"; do fa_stop "$a"; done
ft_relay_stop
"$FERRY_BIN/ferry-keys" roster show "$FT/roster" --json >"$FT/roster.json" 2>/dev/null ||
	"$B/ferry-keys" roster show "$FT/roster" --json >"$FT/roster.json"
spk() {
	$PY -c 'import json,sys; r=json.load(open(sys.argv[1])); w=sys.argv[2]
print(r["relay"]["sign_pk"] if w == "relay" else [a["sign_pk"] for a in r["agencies"] if a["id"] == w][0])' "$FT/roster.json" "$1"
}
declare -A LOGD=([relay]=$RELAY_DATA/log)
for a in "${AG[@]}"; do LOGD[$a]=$FT/$a-data/log; done
for p in relay "${AG[@]}"; do
	if "$B/ferry-audit" verify "${LOGD[$p]}" --key "$(spk "$p")" \
	    --roster "$FT/roster" >"$FT/verify-$p" 2>&1; then
		ft_ok "ferry-audit verify $p: $(tail -1 "$FT/verify-$p")"
	else
		ft_fail "ferry-audit verify $p"
		head -10 "$FT/verify-$p" | sed 's/^/# /'
	fi
done
pairs=()
for i in 0 1 2 3; do
	for j in $(seq $((i + 1)) 3); do pairs+=("${AG[$i]} ${AG[$j]}"); done
	pairs+=("${AG[$i]} relay")
done
for pr in "${pairs[@]}"; do
	set -- $pr
	if "$B/ferry-audit" compare "${LOGD[$1]}" "${LOGD[$2]}" --key-a "$(spk "$1")" \
	    --key-b "$(spk "$2")" >"$FT/cmp-$1-$2" 2>&1; then
		ft_ok "ferry-audit compare $1 <-> $2: $(tail -1 "$FT/cmp-$1-$2")"
	else
		ft_fail "ferry-audit compare $1 <-> $2"
		head -10 "$FT/cmp-$1-$2" | sed 's/^/# /'
	fi
done
echo "# soak took $((SECONDS - START)) s"
ft_done
