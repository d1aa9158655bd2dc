#!/bin/bash
# Issue 14: the retention setting of agent.conf (per message kind) is
# applied by the agent at start (then daily): with the clock moved
# forward (FERRY_TEST_CLOCK_OFFSET, test builds only) exactly the
# messages past their kind's period are erased, each by its own
# LOG_ERASURE entry, and the log still verifies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_conf bravo "retention=referral:60d, response:30d"
fa_start alpha || exit 1
fa_start bravo || exit 1
fa_doc "$FT/r1.json" case_id=CASE-RET-1
ref=$(fa alpha send --to bravo "$FT/r1.json")
ft_check "referral delivered" fa_wait_state alpha "$ref" delivered 30
ft_check "bravo received it" ft_wait 10 test -e "$FT/bravo-spool/inbox/$ref.json"
resp=$(fa bravo reply "$ref" --accept)
ft_check "response delivered" fa_wait_state bravo "$resp" delivered 30
erased() { fa bravo status --json "$1" | grep -q '"erased"'; }
ft_check "at today's clock nothing is erased" \
	bash -c "! '$B/ferry' --data '$FT/bravo-data' status --json '$ref' | grep -q '\"erased\"' && ! '$B/ferry' --data '$FT/bravo-data' status --json '$resp' | grep -q '\"erased\"'"

# Spool files refused before they became messages (in failed/, no record,
# the same data): removed once older than their document kind's rule; a
# file whose kind cannot be read is kept (a person looks at failed/).
mkdir -p "$FT/bravo-spool/failed"
echo '{"message_kind": "referral", "case_id": "CASE-RET-F"}' >"$FT/bravo-spool/failed/refused.json"
printf 'FERRY_ESCHEMA: document: test' >"$FT/bravo-spool/failed/refused.json.error"
echo '{"message_kind": "response", "case_id": "CASE-RET-F"}' >"$FT/bravo-spool/failed/refused-resp.json"
echo 'not json' >"$FT/bravo-spool/failed/junk.json"

# 45 days on: the response (30d) is past retention, the referral (60d) not.
fa_stop bravo
n0=$(ft_count 'retention' "$FT/bravo.err")
FERRY_TEST_CLOCK_OFFSET=$((45 * 86400)) fa_start bravo --no-wait
_ran() { [ "$(ft_count 'erased 1 of 1' "$FT/bravo.err")" -ge 1 ]; }
ft_check "45 days on: the retention pass at start ran" ft_wait 20 _ran
ft_check "45 days on: the response is erased" erased "$resp"
ft_check "45 days on: the referral is kept" bash -c "! '$B/ferry' --data '$FT/bravo-data' status --json '$ref' | grep -q '\"erased\"'"
ft_check "status says by retention, with the rule" \
	bash -c "'$B/ferry' --data '$FT/bravo-data' status '$resp' | grep -q '^  erased .*Z by retention (kind response, 30d)$'"
ft_check "alpha's copies are alpha's: untouched" bash -c "'$B/ferry' --data '$FT/alpha-data' show '$resp' >/dev/null 2>&1"
ft_check "45 days on: the refused referral file (younger than 60d) is kept" \
	test -e "$FT/bravo-spool/failed/refused.json" -a -e "$FT/bravo-spool/failed/refused.json.error"
ft_check "45 days on: the refused response file (older than 30d) is gone" \
	test ! -e "$FT/bravo-spool/failed/refused-resp.json"

# 61 days on: the referral too.
fa_stop bravo
FERRY_TEST_CLOCK_OFFSET=$((61 * 86400)) fa_start bravo --no-wait
_ran2() { [ "$(ft_count 'erased 1 of 1' "$FT/bravo.err")" -ge 2 ]; }
ft_check "61 days on: the retention pass ran" ft_wait 20 _ran2
ft_check "61 days on: the referral is erased" erased "$ref"
ft_check "its spool inbox copy is gone" bash -c "! test -e '$FT/bravo-spool/inbox/$ref.json'"
ft_check "61 days on: the refused referral file and its .error are gone" \
	bash -c "! test -e '$FT/bravo-spool/failed/refused.json' && ! test -e '$FT/bravo-spool/failed/refused.json.error'"
ft_check "61 days on: the file that is not JSON is kept" test -e "$FT/bravo-spool/failed/junk.json"
fa_stop bravo
"$B/ferry-audit" verify "$FT/bravo-data/log" >"$FT/v.out" 2>&1
ft_check "bravo: verify passes, two erasures" [ $? -eq 0 ] && grep -q "^erasures 2$" "$FT/v.out"

fa_conf bravo "retention=referral:6"
"$B/ferry-agent" -c "$FT/bravo.conf" >/dev/null 2>"$FT/bad.err"
ft_check "a duration without a unit: refused at start, saying why" \
	grep -q "retention: referral: \"6\" is not a duration with a unit" "$FT/bad.err"
# "6m" meant as six months must not erase after six minutes: only d, h
# and y, at least a day; the messages are still there after each refusal.
for bad in '6m|m would be minutes; retention takes d, h or y (for six months write 183d)' \
    '90s|retention takes d, h or y' '12h|is under a day'; do
	fa_conf bravo "retention=referral:${bad%%|*}"
	"$B/ferry-agent" -c "$FT/bravo.conf" >/dev/null 2>"$FT/bad.err"; rc=$?
	ft_check "retention=referral:${bad%%|*}: refused at start (exit $rc), saying why" \
		bash -c "[ $rc -ne 0 ] && grep -qF 'retention: referral: \"${bad%%|*}\"' '$FT/bad.err' && grep -qF '${bad#*|}' '$FT/bad.err'"
done
fa_conf bravo "retention=referral:24h"
ft_check "retention=referral:24h: taken, the agent starts" fa_start bravo
fa_stop bravo
fa_stop alpha
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
