#!/bin/bash
# agent_reply_thread: the thread of a case, from the CLI, end to end
# (referral-schema.md section 4): alpha refers to bravo; bravo asks for
# more information (--need-info: the response's reason); alpha provides
# it (--provide-info: its narrative); bravo accepts; alpha closes.  Each
# message is delivered, carries the case id and the message it answers,
# and `ferry thread CASE` shows the whole thread in order on both sides.
# Replies outside the thread are refused with the rule, nothing sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1

doc=$VECTORS/nrm-adult-labour.json
case=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["case_id"])' "$doc")

# step NAME WHO ARGS...: run `ferry reply` (or send) as WHO; the new
# message id in $last; checks exit 0, an id printed, delivered.
step() {
	local name=$1 who=$2 rc; shift 2
	last=$(fa "$who" "$@" 2>"$FT/step.err"); rc=$?
	if [ $rc -eq 0 ] && [[ $last =~ ^[0-9a-f]{32}$ ]] &&
	    fa_wait_state "$who" "$last" delivered 30; then
		ft_ok "$name: sent and delivered"
	else
		ft_fail "$name: exit $rc, id '$last', state $(fa_state "$who" "$last")"
		sed 's/^/# /' "$FT/step.err"
		ft_done
	fi
}

# answers WHO MSGID RESPONSE IN_REPLY_TO FIELD TEXT: WHO's inbox holds
# MSGID, a response RESPONSE to IN_REPLY_TO of $case, and `ferry show`
# has FIELD (reason, narrative; - for none) equal to TEXT.
answers() {
	fa "$1" inbox --json >"$FT/inbox.json" &&
	fa "$1" show "$2" >"$FT/show.json" 2>/dev/null &&
	$PY - "$FT/inbox.json" "$FT/show.json" "$2" "$3" "$4" "$5" "$6" "$case" <<'EOF'
import json, sys
inbox, show, mid, resp, irt, field, text, case = sys.argv[1:]
m = [x for x in json.load(open(inbox)) if x["msg_id"] == mid]
d = json.load(open(show))
ok = (m and m[0]["kind"] == "response" and m[0]["response"] == resp and
      m[0]["in_reply_to"] == irt and m[0]["case_id"] == case and
      d["response"] == resp and d["in_reply_to"] == irt and
      (field == "-" or d.get(field) == text))
sys.exit(0 if ok else 1)
EOF
}

# refused NAME RULE WHO ARGS...: `ferry ARGS` as WHO exits 1, prints
# nothing on stdout, and names RULE and FERRY_ESCHEMA on stderr.
refused() {
	local name=$1 rule=$2 who=$3 rc; shift 3
	fa "$who" "$@" >"$FT/o" 2>"$FT/e"; rc=$?
	if [ $rc -eq 1 ] && [ ! -s "$FT/o" ] && grep -qF "$rule" "$FT/e" &&
	    grep -q FERRY_ESCHEMA "$FT/e"; then
		ft_ok "$name refused, the rule named"
	else
		ft_fail "$name: exit $rc: $(cat "$FT/o" "$FT/e")"
	fi
}

step "alpha sends the referral" alpha send --to bravo "$doc"; ref=$last
# Text about a person is read from stdin (-) or a file (@FILE), not
# argv; one final line break is not part of it.
step "bravo: --need-info - (stdin)" bravo reply "$ref" --need-info - \
	<<<"Date of first contact?"
need=$last
ft_check "alpha got more-information-needed, the text as its reason" \
	answers alpha "$need" more-information-needed "$ref" reason "Date of first contact?"

# Outside the thread: alpha may not accept a question; bravo may not
# "provide information" nobody asked for.
refused "accepting a more-information-needed" \
	"response: accepted cannot answer a response more-information-needed: it is answered with information-provided, closed" \
	alpha reply "$need" --accept
refused "information-provided to a referral" \
	"response: information-provided cannot answer a referral: it is answered with accepted, declined, more-information-needed, closed" \
	bravo reply "$ref" --provide-info "unasked"
fa alpha reply "$need" --provide-info x --narrative y >/dev/null 2>"$FT/e"; rc=$?
ft_check "--provide-info with --narrative: usage error, exit 2" \
	bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$FT/e') -eq 1 ]"

# Refused before anything reaches the agent: stdin for two options
# (usage, exit 2), a missing file, text that is not UTF-8 (exit 1).
fa alpha reply "$need" --provide-info - --name - </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
ft_check "two options reading stdin: usage error, exit 2, --name named" \
	bash -c "[ $rc -eq 2 ] && [ ! -s '$FT/o' ] && grep -q -- '--name -: stdin is already read' '$FT/e'"
fa alpha reply "$need" --provide-info "@$FT/absent.txt" >"$FT/o" 2>"$FT/e"; rc=$?
ft_check "@FILE that does not exist: exit 1, the file named" \
	bash -c "[ $rc -eq 1 ] && [ ! -s '$FT/o' ] && grep -q '$FT/absent.txt: no such file' '$FT/e'"
printf 'First contact \xff\n' >"$FT/latin1.txt"
fa alpha reply "$need" --provide-info "@$FT/latin1.txt" >"$FT/o" 2>"$FT/e"; rc=$?
ft_check "@FILE not UTF-8: exit 1, named, FERRY_EINVAL" \
	bash -c "[ $rc -eq 1 ] && [ ! -s '$FT/o' ] && grep -q -- '--provide-info: the text is not UTF-8.*FERRY_EINVAL' '$FT/e'"
printf 'First\0contact\n' >"$FT/nul.txt"
fa alpha reply "$need" --provide-info "@$FT/nul.txt" >"$FT/o" 2>"$FT/e"; rc=$?
ft_check "@FILE holding a NUL byte: exit 1, named, FERRY_EINVAL" \
	bash -c "[ $rc -eq 1 ] && [ ! -s '$FT/o' ] && grep -q -- '--provide-info: the text is not UTF-8 (or holds a NUL byte)' '$FT/e'"
printf 'First contact 2026-03-02 at the car wash.\n' >"$FT/info.txt"
step "alpha: --provide-info @FILE" alpha reply "$need" --provide-info "@$FT/info.txt"
info=$last
ft_check "bravo got information-provided, the text as its narrative" \
	answers bravo "$info" information-provided "$need" narrative "First contact 2026-03-02 at the car wash."
step "bravo: --accept" bravo reply "$info" --accept --name "DS Smith"
acc=$last
ft_check "alpha got accepted, answering the information" \
	answers alpha "$acc" accepted "$info" - -
refused "accepting an accepted" \
	"response: accepted cannot answer a response accepted: it is answered with closed" \
	alpha reply "$acc" --accept
step "alpha: --close" alpha reply "$acc" --close
cls=$last
ft_check "bravo got closed, answering the acceptance" \
	answers bravo "$cls" closed "$acc" - -
refused "answering a closed" \
	"response: the case is closed: a closed response takes no answer" \
	bravo reply "$cls" --close

# The whole thread, in order, on both sides; nothing refused was sent.
want_a="to bravo $ref referral
from bravo $need response more-information-needed
to bravo $info response information-provided
from bravo $acc response accepted
to bravo $cls response closed"
want_b="from alpha $ref referral
to alpha $need response more-information-needed
from alpha $info response information-provided
to alpha $acc response accepted
from alpha $cls response closed"
for who in alpha bravo; do
	fa "$who" thread "$case" >"$FT/thread-$who.txt" 2>"$FT/e"
	got=$(awk '{ print $2, $3, $4, $6, $7 }' "$FT/thread-$who.txt" | sed 's/ *$//')
	want=want_$( [ $who = alpha ] && echo a || echo b)
	if [ "$got" = "${!want}" ]; then
		ft_ok "ferry thread on $who: the five messages in order"
	else
		ft_fail "ferry thread on $who"
		sed 's/^/# /' "$FT/thread-$who.txt" "$FT/e"
	fi
done
outbox_count() { fa "$1" outbox --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
ft_check "alpha's outbox: 3 messages (nothing refused was stored)" \
	[ "$(outbox_count alpha)" = 3 ]
ft_check "bravo's outbox: 2 messages" [ "$(outbox_count bravo)" = 2 ]
fa_stop alpha
fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
