#!/bin/bash
# Issue #10 step 8, back-pressure: with its recipient stopped, a sender
# whose max_backlog is 3 accepts 3 sends to it; the 4th is refused (exit
# 3, FERRY_EBACKLOG) with a message naming the recipient, the backlog and
# the bound, and nothing is stored; status, status --json and metrics.prom
# show the backlog; a spool file past the bound stays in outbox/ (not
# failed/), said once in the log; an emergency referral is accepted even
# above the bound.  Once the recipient is back and the backlog drains,
# the spool file goes out and is delivered, and a send is accepted again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_conf alpha max_backlog=3 metrics_interval=200ms
fa_start alpha || exit 1
fa_start bravo || exit 1
fa_stop bravo
ft_check "bravo stopped" [ "$FT_STATUS" -eq 0 ]

doc=$VECTORS/nrm-adult-labour.json
nout() { fa alpha outbox --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
ids=()
for i in 1 2 3; do
	ids+=("$(fa alpha send --to bravo "$doc")")
done
ft_check "3 sends up to the bound: 3 ids" \
	[ -n "${ids[0]}" ] && [ -n "${ids[1]}" ] && [ -n "${ids[2]}" ]

fa alpha send --to bravo "$doc" >"$FT/over.out" 2>"$FT/over.err"
st=$?
ft_check "the 4th send: refused with exit 3" [ "$st" -eq 3 ]
ft_check "the 4th send: no message id printed" [ ! -s "$FT/over.out" ]
ft_check "the refusal names the recipient and the backlog" \
	grep -q "to: bravo: 3 of our messages to it are undelivered (max_backlog = 3)" "$FT/over.err"
ft_check "the refusal says it was not accepted and what to do" \
	grep -q "NOT accepted: retry later, or raise max_backlog" "$FT/over.err"
ft_check "the refusal gives its code" grep -q "FERRY_EBACKLOG" "$FT/over.err"
ft_check "nothing stored for the refused send: 3 in the outbox" [ "$(nout)" -eq 3 ]

# What status, status --json and metrics.prom say of it.
fa alpha status --json >"$FT/st.json"
ft_check "status --json: backlog of bravo 3, bound 3, oldest time" \
	$PY -c 'import json,sys
b = json.load(open(sys.argv[1]))["backlog"]
t = b["top"][0]
sys.exit(0 if b["max_backlog"] == 3 and t["to"] == "bravo" and t["messages"] == 3 and t["oldest_ms"] > 0 else 1)' "$FT/st.json"
ft_check "status: the backlog line says it is at max_backlog" \
	bash -c "'$B/ferry' --data '$FT/alpha-data' status | grep -q 'backlog to bravo: 3 undelivered, oldest queued 20.*Z (.* ago); AT max_backlog'"
_metric3() { grep -q '^ferry_agent_backlog{to="bravo"} 3$' "$FT/alpha-data/metrics.prom" 2>/dev/null; }
ft_check "metrics.prom: ferry_agent_backlog{to=\"bravo\"} 3" ft_wait 10 _metric3

# A spool file past the bound stays in outbox/, said once.
cp "$doc" "$FT/alpha-spool/outbox/bravo/.held.json.tmp"
mv "$FT/alpha-spool/outbox/bravo/.held.json.tmp" "$FT/alpha-spool/outbox/bravo/held.json"
_said() { [ "$(ft_count 'spool-backlog' "$FT/alpha.err")" -ge 1 ]; }
ft_check "spool: the held folder is said in the log" ft_wait 10 _said
ft_check "spool: the log line names the recipient and the backlog" \
	grep -q "spool-backlog outbox/bravo/: files left in place, picked up again once the backlog drains: to: bravo: 3 of our messages" "$FT/alpha.err"

# An emergency referral is never refused by back-pressure.
fa_doc "$FT/em.json" urgency=emergency case_id=case-emergency
em=$(fa alpha send --to bravo "$FT/em.json" 2>"$FT/em.err")
ft_check "an emergency referral above the bound: accepted" [ -n "$em" ]
ft_check "the backlog counts it: 4 in the outbox" [ "$(nout)" -eq 4 ]
ft_check "spool: the file is still in outbox/ (not failed/)" \
	[ -f "$FT/alpha-spool/outbox/bravo/held.json" ] && [ ! -e "$FT/alpha-spool/failed/held.json.error" ]

# The recipient returns; the backlog drains; the file goes out.
fa_start bravo || exit 1
for id in "${ids[@]}" "$em"; do
	ft_check "delivered after bravo returned: $id" fa_wait_state alpha "$id" delivered 60
done
_sent() { [ -f "$FT/alpha-spool/sent/bravo/held.json.id" ]; }
ft_check "spool: the held file went out once the backlog drained" ft_wait 60 _sent
hid=$(head -1 "$FT/alpha-spool/sent/bravo/held.json.id" 2>/dev/null)
ft_check "spool: the held file's message is delivered" fa_wait_state alpha "$hid" delivered 60
ft_check "spool: the hold was said once" [ "$(ft_count 'spool-backlog' "$FT/alpha.err")" -eq 1 ]
ft_check "spool: nothing went to failed/" [ ! -e "$FT/alpha-spool/failed/held.json.error" ]
again=$(fa alpha send --to bravo "$doc")
ft_check "a send after the drain: accepted" [ -n "$again" ]
ft_check "delivered" fa_wait_state alpha "$again" delivered 60
_empty() {
	fa alpha status --json | $PY -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["backlog"]["top"] == [] else 1)'
}
ft_check "status --json: no backlog once all are delivered" ft_wait 10 _empty
fa_stop alpha; fa_stop bravo
ft_done
