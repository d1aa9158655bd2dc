#!/bin/bash
# Issue 13: `ferry show` of a received referral names the authenticated
# sender (the agency whose roster key signed it), and flags a document
# whose referrer.organisation names someone else: that field is whatever
# the sender typed, and a referral claiming to come from another agency
# must not be taken at its word.  The document itself (stdout) is
# unchanged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1
fa_doc "$FT/own.json" referrer.organisation=ALPHA
fa_doc "$FT/other.json" referrer.organisation=camden-council
id1=$(fa alpha send --to bravo "$FT/own.json")
id2=$(fa alpha send --to bravo "$FT/other.json")
ft_check "referral 1 delivered" fa_wait_state alpha "$id1" delivered 30
ft_check "referral 2 delivered" fa_wait_state alpha "$id2" delivered 30

fa bravo show "$id1" >"$FT/s1.json" 2>"$FT/s1.err"
ft_check "show: exit 0" [ $? -eq 0 ]
ft_check "show names the authenticated sender" \
	grep -q "^ferry: from agency alpha (.*), authenticated by its signature" "$FT/s1.err"
ft_check "organisation = the sender's id (any case): no warning" \
	bash -c "! grep -q WARNING '$FT/s1.err'"
ft_check "the document on stdout is unchanged" fa_same_json "$FT/own.json" "$FT/s1.json"

fa bravo show "$id2" >"$FT/s2.json" 2>"$FT/s2.err"
ft_check "another organisation: show still exits 0" [ $? -eq 0 ]
ft_check "another organisation: flagged, naming both" \
	grep -q 'WARNING: the document names organisation "camden-council", but agency alpha sent and signed it' "$FT/s2.err"
ft_check "another organisation: the document is unchanged" fa_same_json "$FT/other.json" "$FT/s2.json"

fa alpha show "$id2" >/dev/null 2>"$FT/s3.err"
ft_check "the sender's own copy: no sender line, no warning" \
	bash -c "! grep -q 'from agency\|WARNING' '$FT/s3.err'"
fa_stop alpha; fa_stop bravo
ft_done
