#!/bin/bash
# Issue 13, hole 2: `ferry send` run again after a timeout must never turn
# one document into two messages, however often it is rerun and whatever
# each run was told.  The history that did it: the agent stored the send
# but its answer was lost (killed right after its commit), the rerun was
# told "the agent is not running" (and the CLI then forgot the pending
# request id), and a later rerun got a new id, so the recipient held two
# referrals about one person.  Here: the agent dies right after its commit
# (FERRY_TEST_CRASH=send-committed), the same command is rerun twice while
# it is down (each told to start the agent and run it again), then once
# after it is back: exactly one message, delivered, under the first id.
# A second variant stalls the agent (SIGSTOP) past the CLI's timeout and
# kills it -9 there.  Fails on the CLI before the fix (two ids).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start bravo || exit 1
FERRY_TEST_CRASH=send-committed fa_start alpha || exit 1

npend() { ls "$FT/alpha-data/cli-pending" 2>/dev/null | wc -l; }
# count_case ID SUFFIX: messages of that case in ID's outbox or inbox
count_out() { fa alpha outbox --json | grep -c -- "$1\""; }
count_in() { fa bravo inbox --json | grep -c -- "$1\""; }
doc=$FT/doc1.json
fa_doc "$doc" case_id=case-rerun1

# 1. The agent commits the send and dies before answering.
FERRY_TIMEOUT=3s "$B/ferry" --data "$FT/alpha-data" send --to bravo "$doc" \
	>"$FT/r1.out" 2>"$FT/r1.err"
st=$?
ft_check "run 1 (agent killed after its commit): exit 1" [ "$st" -eq 1 ]
ft_check "run 1: no id printed" [ ! -s "$FT/r1.out" ]
ft_check "agent died after its commit" ft_wait_exit "${FA_PID[alpha]}" 10
ft_check "run 1: the request id kept in cli-pending/" [ "$(npend)" -eq 1 ]
rid1=$(cat "$FT/alpha-data/cli-pending/"* 2>/dev/null)

# 2. Rerun twice while the agent is down: told so, request id kept.
for n in 2 3; do
	"$B/ferry" --data "$FT/alpha-data" send --to bravo "$doc" \
		>"$FT/r$n.out" 2>"$FT/r$n.err"
	st=$?
	ft_check "run $n (agent down): exit 1" [ "$st" -eq 1 ]
	ft_check "run $n: says the agent is not running and what to do" \
		grep -q "the agent is not running.*run the same command again: if an earlier run reached the agent, it will not be sent twice" "$FT/r$n.err"
	ft_check "run $n: the same request id still kept" \
		[ "$(npend)" -eq 1 ] && [ "$(cat "$FT/alpha-data/cli-pending/"*)" = "$rid1" ]
done

# 3. The agent is back: the same command answers with the stored message.
fa_start alpha || exit 1
id=$(fa alpha send --to bravo "$doc")
ft_check "run 4 (agent back): an id" [ -n "$id" ]
ft_check "run 4: answered as a duplicate of the stored request" \
	grep -q "send-again\|duplicate" "$FT/alpha.err"
ft_check "run 4: request id forgotten once answered" [ "$(npend)" -eq 0 ]
ft_check "exactly one outbox message for the document" [ "$(count_out -rerun1)" -eq 1 ]
ft_check "delivered at the sender" fa_wait_state alpha "$id" delivered 30
ft_check "exactly one inbox message for the document at the recipient" \
	[ "$(count_in -rerun1)" -eq 1 ]

# 4. Stalled past the CLI's timeout (SIGSTOP), then kill -9 there; reruns.
doc2=$FT/doc2.json
fa_doc "$doc2" case_id=case-rerun2
kill -STOP "${FA_PID[alpha]}"
FERRY_TIMEOUT=2s "$B/ferry" --data "$FT/alpha-data" send --to bravo "$doc2" \
	>"$FT/s1.out" 2>"$FT/s1.err"
st=$?
ft_check "stalled: exit 1, may have accepted it" \
	bash -c "[ $st -eq 1 ] && grep -q 'may have accepted it' '$FT/s1.err'"
kill -KILL "${FA_PID[alpha]}"; kill -CONT "${FA_PID[alpha]}" 2>/dev/null
ft_wait_exit "${FA_PID[alpha]}" 10
"$B/ferry" --data "$FT/alpha-data" send --to bravo "$doc2" >/dev/null 2>"$FT/s2.err"
ft_check "stalled: rerun while down keeps the request id" [ "$(npend)" -eq 1 ]
fa_start alpha || exit 1
id2=$(fa alpha send --to bravo "$doc2")
ft_check "stalled: rerun after restart gives an id" [ -n "$id2" ]
ft_check "stalled: exactly one outbox message" [ "$(count_out -rerun2)" -eq 1 ]
ft_check "stalled: delivered at the sender" fa_wait_state alpha "$id2" delivered 30
ft_check "stalled: exactly one inbox message at the recipient" \
	[ "$(count_in -rerun2)" -eq 1 ]
ft_check "nothing left in cli-pending/" [ "$(npend)" -eq 0 ]

fa_stop alpha; fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
