#!/bin/bash
# Issue 13: fault injection at every synced commit and every send of the
# relay and both agents (FERRY_FAULT, compiled into the sanitizer build
# only; points in docs/protocol.md 6.5): a crash right after a commit and
# before its answer (kill), a send that finds the pipe full (EAGAIN), a
# frame handed over and lost with the link, a route lost between the
# check and the answer.  For each point the target process is restarted
# with the fault armed, three referrals are sent with `ferry send` (rerun
# as its message says when an answer is lost), a killed process is
# restarted, and then: every referral reaches `delivered` at the sender
# (waited for there, not at the recipient's inbox), the recipient holds
# each exactly once, nothing is held twice at the sender, and every log
# verifies.  Without the ASK of 6.3 step 7 the relay-forward-final,
# relay-route-lost and relay-commit-final points leave messages at
# `accepted` for good (issue 13, hole 1).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start redeliver=2s || exit 1
fa_conf alpha reask=1s reask_max=2s
fa_conf bravo reask=1s reask_max=2s
fa_start alpha || exit 1
fa_start bravo || exit 1

points=(
	"relay relay-commit=kill@2"
	"relay relay-commit-final=kill@1"
	"relay relay-forward-final=fail@1"
	"relay relay-route-lost=fail@2"
	"relay relay-send=fail@2"
	"relay relay-send=fail@5"
	"relay relay-threads=fail@1"
	"alpha agent-commit-send=kill@2"
	"alpha agent-commit-reply=kill@1"
	"alpha agent-accepted-buffered=kill@1"
	"alpha agent-send=fail@3"
	"bravo agent-commit-recv=kill@1"
	"bravo agent-send=fail@3"
	"bravo agent-spool-sync=fail@1"
)

alive() {	# alive TARGET
	if [ "$1" = relay ]; then kill -0 "$RELAY_PID" 2>/dev/null
	else kill -0 "${FA_PID[$1]}" 2>/dev/null; fi
}
restart() {	# restart TARGET [FAULT]: (re)start with FERRY_FAULT=FAULT
	local t=$1 f=${2:-}
	if [ "$t" = relay ]; then
		alive relay && ft_relay_stop
		FERRY_FAULT=$f ft_relay_start redeliver=2s >/dev/null || return 1
	else
		alive "$t" && fa_stop "$t"
		FERRY_FAULT=$f fa_start "$t" || return 1
	fi
}
errfile() { if [ "$1" = relay ]; then echo "$RELAY_ERR"; else echo "$FT/$1.err"; fi; }
all_delivered() {
	local i
	for i in "$@"; do [ "$(fa_state alpha "$i")" = delivered ] || return 1; done
}

round=0 ids_all=()
for p in "${points[@]}"; do
	round=$((round + 1))
	target=${p%% *} spec=${p#* }
	name="$spec in $target"
	err=$(errfile "$target")
	hits0=$(ft_count "ferry-fault: ${spec%%=*}" "$err")
	restart "$target" "$spec" || { ft_fail "$name: restart"; continue; }
	ids=()
	for k in 1 2 3; do
		doc=$FT/walk-$round-$k.json
		fa_doc "$doc" case_id="walk-$round-$k"
		id=
		for try in 1 2 3 4; do
			id=$(FERRY_TIMEOUT=5s "$B/ferry" --data "$FT/alpha-data" \
				send --to bravo "$doc" 2>>"$FT/walk.err") && break
			id=
			# No answer: the agent may be down; start it and rerun
			# the same command, as the message says.
			alive alpha || fa_start alpha >/dev/null
		done
		[ -n "$id" ] && ids+=("$id")
	done
	ft_check "$name: ferry send gave an id for each of 3 referrals" [ "${#ids[@]}" -eq 3 ]
	# Bounded: restart a killed process without the fault; wait for
	# `delivered` at the sender.
	for w in $(seq 1 120); do
		alive "$target" || restart "$target" >/dev/null
		alive alpha || fa_start alpha >/dev/null
		all_delivered "${ids[@]}" && break
		sleep 0.5
	done
	ft_check "$name: the fault point was met" \
		[ "$(ft_count "ferry-fault: ${spec%%=*}" "$err")" -gt "$hits0" ]
	ft_check "$name: all 3 delivered at the sender" all_delivered "${ids[@]}"
	ids_all+=("${ids[@]}")
done

n=${#ids_all[@]}
ft_check "sender's outbox: each of the $n referrals exactly once" \
	[ "$(fa alpha outbox --json | grep -c '"walk-')" -eq "$n" ]
ft_check "recipient's inbox: exactly the $n sent ids, each once" bash -c "
	diff <(printf '%s\n' ${ids_all[*]} | sort) \
	<('$B/ferry' --data '$FT/bravo-data' inbox --json | $PY -c 'import json,sys; [print(m[\"msg_id\"]) for m in json.load(sys.stdin)]' | sort)"
ft_check "no spool inbox file twice" \
	[ "$(ls "$FT/bravo-spool/inbox/" | grep -c '\.json$')" -eq "$n" ]
ft_check "no temporary file left in the spool inbox (agent-spool-sync removed its group's)" \
	[ "$(ls -a "$FT/bravo-spool/inbox/" | grep -c '\.tmp\.')" -eq 0 ]
fa_stop alpha; fa_stop bravo; ft_relay_stop
for l in "$RELAY_DATA/log" "$FT/alpha-data/log" "$FT/bravo-data/log"; do
	ft_check "log verifies: ${l#$FT/}" "$B/ferry-audit" verify "$l" --roster "$FT/roster"
done
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err' '$RELAY_ERR'"
ft_done
