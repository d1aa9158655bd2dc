#!/bin/bash
# ferry-agent end to end with the real relay: two agencies, a referral sent
# with `ferry send`, ACCEPTED by the relay, stored in the recipient's inbox
# (CLI and spool), RECEIPT verified by the sender; `ferry show` on both
# sides; refusal of invalid documents before anything is sent; clean stop.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1

doc=$VECTORS/nrm-adult-labour.json
id=$(fa alpha send --to bravo "$doc" 2>"$FT/send.err"); rc=$?
ft_check "ferry send exits 0" [ "$rc" -eq 0 ]
ft_check "ferry send prints a 32-hex message id" \
	bash -c "[[ '$id' =~ ^[0-9a-f]{32}$ ]]"
ft_check "sender logged queued" grep -q "queued msg=$id to=bravo" "$FT/alpha.err"
ft_check "status reaches delivered" fa_wait_state alpha "$id" delivered 30
fa alpha status "$id" >"$FT/st.txt"
ft_check "status says receipt verified" grep -q "delivered (receipt verified)" "$FT/st.txt"
ft_check "status: accepted, its relay and the relay's log index on one line" \
	grep -qE '^  accepted   [0-9T:.Z-]+  relay: [a-z0-9-]+  \(relay log index [0-9]+\)$' "$FT/st.txt"
ft_check "status: delivered on the next line, no empty line" \
	bash -c "[ \$(grep -c '^\$' '$FT/st.txt') = 0 ] && grep -A1 '^  accepted' '$FT/st.txt' | grep -q '^  delivered  '"
ft_check "receipt's checkpoint verified (no warning)" bash -c "! grep -q receipt-checkpoint '$FT/alpha.err'"
ft_check "bravo inbox lists it" bash -c "'$B/ferry' --data '$FT/bravo-data' inbox | grep -q ' alpha .* $id  unread$'"
ft_check "spool inbox file written" test -f "$FT/bravo-spool/inbox/$id.json"
ft_check "spool inbox meta names the sender" grep -q '"from": "alpha"' "$FT/bravo-spool/inbox/$id.meta"
ft_check "spool inbox file equals the sent document (as JSON)" \
	fa_same_json "$doc" "$FT/bravo-spool/inbox/$id.json"
fa bravo show "$id" >"$FT/show-b.json"
ft_check "recipient's ferry show equals the document" fa_same_json "$doc" "$FT/show-b.json"
fa alpha show "$id" >"$FT/show-a.json"
ft_check "sender rereads what it sent (locally sealed content key)" \
	fa_same_json "$doc" "$FT/show-a.json"
ft_check "recipient logged received" grep -q "received msg=$id from=alpha" "$FT/bravo.err"

# A response: bravo accepts; it travels back as a message naming the case
# and the message it answers.
rid=$(fa bravo reply "$id" --accept --name "DS Smith" --organisation "Bravo Police" 2>"$FT/r.err"); rc=$?
ft_check "ferry reply prints a message id" bash -c "[ $rc -eq 0 ] && [[ '$rid' =~ ^[0-9a-f]{32}$ ]]"
[ $rc -eq 0 ] || sed 's/^/# /' "$FT/r.err"
ft_check "reply delivered to alpha" fa_wait_state bravo "$rid" delivered 30
ft_check "alpha's inbox shows an accepted response to $id" bash -c "
	'$B/ferry' --data '$FT/alpha-data' inbox --json | $PY -c '
import json,sys
m=[x for x in json.load(sys.stdin) if x[\"msg_id\"]==\"$rid\"]
sys.exit(0 if m and m[0][\"in_reply_to\"]==\"$id\" and m[0][\"response\"]==\"accepted\" and m[0][\"kind\"]==\"response\" else 1)'"

case=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["case_id"])' "$doc")
fa alpha thread "$case" >"$FT/thread.txt"
ft_check "ferry thread shows the referral then the response" bash -c "
	[ \$(wc -l <'$FT/thread.txt') -eq 2 ] &&
	head -1 '$FT/thread.txt' | grep -q 'to   bravo .*$id' &&
	tail -1 '$FT/thread.txt' | grep -q 'from bravo .*$rid.*response accepted'"
[ -s "$FT/thread.txt" ] && sed 's/^/# /' "$FT/thread.txt"

# Invalid documents: refused with field-level errors, exit 1, nothing sent.
before=$(fa alpha outbox --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
printf '{"schema": "ferry-referral/1", ' >"$FT/bad.json"
fa alpha send --to bravo "$FT/bad.json" >"$FT/o1" 2>"$FT/e1"; rc=$?
ft_check "invalid JSON: exit 1" [ "$rc" -eq 1 ]
ft_check "invalid JSON: FERRY_EJSON named" grep -q FERRY_EJSON "$FT/e1"
ft_check "invalid JSON: nothing printed on stdout" [ ! -s "$FT/o1" ]
for f in "$VECTORS"/invalid/*.json; do
	want=$(head -c 0 "$f")
	fa alpha send --to bravo "$f" >"$FT/o2" 2>"$FT/e2"; rc=$?
	if [ "$rc" -eq 1 ] && [ ! -s "$FT/o2" ] && grep -q ': ' "$FT/e2"; then
		ft_ok "schema violation refused: $(basename "$f"): $(head -1 "$FT/e2" | cut -c1-100)"
	else
		ft_fail "schema violation refused: $(basename "$f") (rc $rc)"
		sed 's/^/# /' "$FT/o2" "$FT/e2"
	fi
done
fa alpha send --to nobody-here "$doc" >"$FT/o3" 2>"$FT/e3"; rc=$?
ft_check "unknown recipient refused (exit 1, FERRY_ERECIPIENT)" \
	bash -c "[ $rc -eq 1 ] && grep -q FERRY_ERECIPIENT '$FT/e3'"
after=$(fa alpha outbox --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
ft_check "nothing stored or sent for refused documents" [ "$before" = "$after" ]
fa alpha send >/dev/null 2>&1; rc=$?
ft_check "usage error exits 2" [ "$rc" -eq 2 ]

# Spool folders: complete files only; refusals go to failed/ with .error.
sp=$FT/alpha-spool
ft_check "spool: outbox/<partner>/ folders made" test -d "$sp/outbox/bravo"
cp "$doc" "$sp/outbox/bravo/.partial.json"
cp "$doc" "$sp/outbox/bravo/writing.json.tmp"
cp "$VECTORS/invalid/date-of-birth-not-a-date.json" "$sp/outbox/bravo/.x"
mv "$sp/outbox/bravo/.x" "$sp/outbox/bravo/bad-dob.json"
cp "$doc" "$sp/outbox/no-recipient.json"
cp "$doc" "$sp/outbox/bravo/.y"
mv "$sp/outbox/bravo/.y" "$sp/outbox/bravo/good.json"
ft_check "spool: good file moved to sent/bravo/good.json, its id beside it" \
	ft_wait 20 bash -c "! test -e '$sp/outbox/bravo/good.json' && test -f '$sp/sent/bravo/good.json.id'"
ft_check "spool: sent file is the file dropped" cmp -s "$doc" "$sp/sent/bravo/good.json"
sid=$(cat "$sp/sent/bravo/good.json.id")
ft_check "spool: good.json.id holds one message id" \
	bash -c "[ \"\$(cat '$sp/sent/bravo/good.json.id' | grep -c '^[0-9a-f]\{32\}$')\" = 1 ]"
ft_check "spool: sent file delivered" fa_wait_state alpha "$sid" delivered 30
ft_check "spool: invalid file moved to failed/ with a .error" \
	ft_wait 20 test -f "$sp/failed/bad-dob.json.error"
ft_check "spool: .error names the field and rule" \
	grep -q 'subject.date_of_birth: not a date' "$sp/failed/bad-dob.json.error"
ft_check "spool: file without a recipient folder refused" \
	ft_wait 20 grep -q 'no recipient' "$sp/failed/no-recipient.json.error"
ft_check "spool: temp names ignored" bash -c "test -e '$sp/outbox/bravo/.partial.json' && test -e '$sp/outbox/bravo/writing.json.tmp'"

# The example README and docs point a newcomer to is a referral that is
# accepted and delivered.
ex=$(fa alpha send --to bravo "$FERRY_ROOT/docs/examples/referral.json" 2>"$FT/ex.err")
ft_check "docs/examples/referral.json is sent and delivered" \
	fa_wait_state alpha "$ex" delivered 30

# Health and stop.
fa alpha status >"$FT/health.txt"
ft_check "status: connected, roster version 1" grep -q "connected to.*roster version 1" "$FT/health.txt"
ft_check "control socket is owner-only" [ "$(stat -c %a "$FT/alpha-data/control")" = 600 ]
ft_check "data folder is owner-only" [ "$(stat -c %a "$FT/alpha-data")" = 700 ]
fa_stop alpha
ft_check "SIGTERM: agent exits 0" [ "$FT_STATUS" -eq 0 ]
fa alpha status >/dev/null 2>"$FT/e4"; rc=$?
ft_check "CLI says clearly when the agent is not running" \
	bash -c "[ $rc -eq 1 ] && grep -q 'not running' '$FT/e4'"
fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
