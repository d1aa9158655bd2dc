#!/bin/bash
# Review M5: a `ferry send` that times out after the agent took the
# request (the agent stopped with SIGSTOP here) says the agent may have
# accepted it and that running the same command again will not send it
# twice; doing so after the agent resumes leaves exactly one message.
# The CLI gives each request a request id, kept in <data>/cli-pending/
# while its outcome is unknown, and the agent stores it with the
# message.  The same document sent again after a definite answer is a new
# message, as before.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1
doc=$VECTORS/nrm-adult-labour.json
doc2=$VECTORS/safeguarding-adult.json
nout() { fa alpha outbox --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(len(d))'; }

id1=$(fa alpha send --to bravo "$doc")
id2=$(fa alpha send --to bravo "$doc")
ft_check "send: an id" [ -n "$id1" ]
ft_check "the same document again after an answer: a new message" \
	[ -n "$id2" ] && [ "$id1" != "$id2" ]
ft_check "nothing left pending in cli-pending/" \
	[ "$(ls "$FT/alpha-data/cli-pending" | wc -l)" -eq 0 ]
ft_check "outbox holds 2 messages" [ "$(nout)" -eq 2 ]
ft_check "delivered" fa_wait_state alpha "$id1" delivered 30

# A timeout: the agent stopped after taking the request.
kill -STOP "${FA_PID[alpha]}"
doc3=$FT/doc3.json
$PY - "$doc" "$doc3" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["case_id"] = d.get("case_id", "case") + "-timeout"
json.dump(d, open(sys.argv[2], "w"))
PYEOF
FERRY_TIMEOUT=2s "$B/ferry" --data "$FT/alpha-data" send --to bravo "$doc3" \
	>"$FT/to.out" 2>"$FT/to.err"
st=$?
kill -CONT "${FA_PID[alpha]}"
ft_check "timeout: exit 1" [ "$st" -eq 1 ]
ft_check "timeout: says the agent may have accepted it" \
	grep -q "may have accepted it; run the same command again: it will not be sent twice" "$FT/to.err"
ft_check "timeout: does not say the agent is not running" \
	bash -c "! grep -q 'is ferry-agent running' '$FT/to.err'"
ft_check "timeout: its request id kept in cli-pending/" \
	[ "$(ls "$FT/alpha-data/cli-pending" | wc -l)" -eq 1 ]
sleep 1
id4=$(fa alpha send --to bravo "$doc3")
ft_check "the same command after the timeout: an id" [ -n "$id4" ]
ft_check "exactly one message for it in the outbox" \
	[ "$(fa alpha outbox --json | grep -c -- '-timeout')" -eq 1 ]
ft_check "its request id forgotten once answered" \
	[ "$(ls "$FT/alpha-data/cli-pending" | wc -l)" -eq 0 ]
ft_check "outbox holds 3 messages" [ "$(nout)" -eq 3 ]
ft_check "delivered" fa_wait_state alpha "$id4" delivered 30
fa_stop alpha; fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
