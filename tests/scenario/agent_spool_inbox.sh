#!/bin/bash
# agent_spool_inbox: a spool file keeps the name the case system gave it
# (sent/<agency>/NAME, its message id in NAME.id beside it, its state by
# `ferry status $(cat NAME.id)`); the same name reused later does not
# overwrite the earlier one (NAME.<msgid>.json); a refusal's .error is
# one line with no line feed at its end; a referral to one's own agency
# is refused, by the spool and by `ferry send`, saying so.  Then bravo's
# `ferry inbox`: a header row, urgency and referral type columns, an
# emergency marked "!!" and EMERGENCY, filters combined with AND, and
# `ferry ack` marking a message read, kept across a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo charlie
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1
fa_start charlie || exit 1
sp=$FT/alpha-spool
drop() {	# drop FILE as outbox/TO/NAME, by rename
	cp "$1" "$sp/outbox/$2/.$3.tmp" && mv "$sp/outbox/$2/.$3.tmp" "$sp/outbox/$2/$3"
}

drop "$VECTORS/housing-police-to-council.json" bravo housing-1.json
ft_check "housing-1.json moved to sent/bravo/ under its name, id beside it" \
	ft_wait 20 test -f "$sp/sent/bravo/housing-1.json.id" -a -f "$sp/sent/bravo/housing-1.json"
id1=$(cat "$sp/sent/bravo/housing-1.json.id")
ft_check "housing-1.json.id is one message id and a line feed" \
	[ "$(printf '%s' "$id1" | grep -c '^[0-9a-f]\{32\}$')" = 1 -a "$(wc -c <"$sp/sent/bravo/housing-1.json.id")" = 33 ]
ft_check "housing-1.json in sent/ is the file dropped" \
	cmp -s "$VECTORS/housing-police-to-council.json" "$sp/sent/bravo/housing-1.json"
ft_check "its final state by its id: delivered" fa_wait_state alpha "$id1" delivered 30
ft_check "ferry outbox names the spool file of that id" \
	bash -c "'$B/ferry' --data '$FT/alpha-data' outbox --json | $PY -c '
import json, sys
m = [x for x in json.load(sys.stdin) if x[\"msg_id\"] == \"$id1\"]
sys.exit(0 if m and m[0][\"spool_file\"] == \"bravo/housing-1.json\" else 1)'"

# The same name again, another referral: the first stays as it was.
drop "$VECTORS/crime-report.json" bravo housing-1.json
ft_check "a reused name goes to sent/bravo/housing-1.<msgid>.json" \
	ft_wait 20 bash -c "ls '$sp/sent/bravo' | grep -q '^housing-1\.[0-9a-f]\{32\}\.json\.id$'"
f2=$(ls "$sp/sent/bravo" | grep '^housing-1\.[0-9a-f]\{32\}\.json$')
id2=$(cat "$sp/sent/bravo/$f2.id")
ft_check "its name carries its own id" [ "$f2" = "housing-1.$id2.json" ]
ft_check "the earlier housing-1.json not overwritten" \
	cmp -s "$VECTORS/housing-police-to-council.json" "$sp/sent/bravo/housing-1.json"
ft_check "the earlier id kept" [ "$(cat "$sp/sent/bravo/housing-1.json.id")" = "$id1" ]
ft_check "the second delivered too" fa_wait_state alpha "$id2" delivered 30

# A refusal: NAME.error is one line, no line feed at the end; the log
# line carries no escaped line feed either.
drop "$VECTORS/invalid/date-of-birth-not-a-date.json" bravo bad-dob.json
ft_check "invalid file in failed/ with its .error" ft_wait 20 test -f "$sp/failed/bad-dob.json.error"
ft_check ".error names the field and rule" \
	grep -q '^FERRY_ESCHEMA: subject.date_of_birth: not a date$' "$sp/failed/bad-dob.json.error"
ft_check ".error does not end with a line feed" \
	[ "$(tail -c 1 "$sp/failed/bad-dob.json.error" | od -An -tx1 | tr -d ' ')" != 0a ]
ft_check "spool-failed log line has no escaped line feed" \
	bash -c "grep 'spool-failed' '$FT/alpha.err' | grep -q 'bad-dob.json' && ! grep 'spool-failed' '$FT/alpha.err' | grep -q 'x0a'"

# To one's own agency: refused, saying it is this agency.
mkdir -p "$sp/outbox/alpha"
drop "$VECTORS/nrm-adult-labour.json" alpha self.json
ft_check "spool to own agency: failed/ says it is this agency" \
	ft_wait 20 grep -q '^FERRY_ERECIPIENT: to: alpha is this agency itself' "$sp/failed/self.json.error"
fa alpha send --to alpha "$VECTORS/nrm-adult-labour.json" >"$FT/o" 2>"$FT/e"; rc=$?
ft_check "ferry send to own agency: exit 1" [ $rc = 1 ]
ft_check "ferry send to own agency: says it is this agency" grep -q 'alpha is this agency itself' "$FT/e"
ft_check "ferry send to own agency: no message id printed" [ ! -s "$FT/o" ]


# bravo's inbox: id1 (housing, emergency, from alpha), id2 (crime-report,
# routine, from alpha), id3 (nrm, urgent, from charlie).
id3=$(fa charlie send --to bravo "$VECTORS/nrm-adult-labour.json")
ft_check "charlie's referral delivered" fa_wait_state charlie "$id3" delivered 30
fa bravo inbox >"$FT/in" 2>&1
ft_check "inbox: a header row first" \
	bash -c "head -1 '$FT/in' | grep -q '^ *RECEIVED  *FROM  *KIND  *URGENCY  *CASE  *MSGID  *STATUS\$'"
ft_check "inbox: three rows" [ "$(wc -l <"$FT/in")" = 4 ]
ft_check "inbox: the emergency row starts with !! and says EMERGENCY" \
	grep -q "^!! [0-9T:-]*Z  *alpha  *housing  *EMERGENCY  *MET-2026-88213  *$id1  unread\$" "$FT/in"
ft_check "inbox: only the emergency row is marked" [ "$(grep -c '^!!' "$FT/in")" = 1 ]
ft_check "inbox: routine and urgent rows with their type" bash -c "
	grep -q '^   .* alpha  *crime-report  *routine  *EERC-2026-0420  *$id2  unread\$' '$FT/in' &&
	grep -q '^   .* charlie  *nrm  *urgent  *EERC-2026-0412  *$id3  unread\$' '$FT/in'"
ft_check "inbox: received time in ISO 8601 UTC" grep -q '^!! [0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}T[0-9:]\{8\}Z ' "$FT/in"
ft_check "inbox: no terminal escapes when not a terminal" bash -c "! grep -q \$'\\x1b' '$FT/in'"
# rows FILTERS...: the message ids listed by `ferry inbox FILTERS`, sorted.
rows() { fa bravo inbox "$@" | tail -n +2 | awk '{print $(NF-1)}' | sort | tr '\n' ' '; }
srt() { printf '%s\n' "$@" | sort | tr '\n' ' '; }
ft_check "--urgency emergency: the emergency only" [ "$(rows --urgency emergency)" = "$(srt "$id1")" ]
ft_check "--from charlie" [ "$(rows --from charlie)" = "$(srt "$id3")" ]
ft_check "--from alpha" [ "$(rows --from alpha)" = "$(srt "$id1" "$id2")" ]
ft_check "--kind nrm" [ "$(rows --kind nrm)" = "$(srt "$id3")" ]
ft_check "--kind referral: all three" [ "$(rows --kind referral)" = "$(srt "$id1" "$id2" "$id3")" ]
ft_check "--case MET-2026-88213" [ "$(rows --case MET-2026-88213)" = "$(srt "$id1")" ]
ft_check "--from alpha --urgency routine (AND)" [ "$(rows --from alpha --urgency routine)" = "$(srt "$id2")" ]
ft_check "--from charlie --urgency routine (AND): none" [ -z "$(rows --from charlie --urgency routine)" ]
ft_check "--since 2000-01-01: all" [ "$(rows --since 2000-01-01)" = "$(srt "$id1" "$id2" "$id3")" ]
ft_check "--since a later time: none" [ -z "$(rows --since "$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)")" ]
ft_check "--json takes the filters too" \
	[ "$(fa bravo inbox --json --urgency emergency | grep -c '"msg_id"')" = 1 ]
ft_check "--unread before any ack: all" [ "$(rows --unread)" = "$(srt "$id1" "$id2" "$id3")" ]
fa bravo ack "$id1" >"$FT/o" 2>"$FT/e"; rc=$?
ft_check "ack: exit 0, says read" bash -c "[ $rc = 0 ] && grep -q '^$id1 read\$' '$FT/o'"
ft_check "--unread after ack: the other two" [ "$(rows --unread)" = "$(srt "$id2" "$id3")" ]
ft_check "inbox: the acked row says read" bash -c "fa() { '$B/ferry' --data '$FT/bravo-data' \"\$@\"; }; fa inbox | grep -q '$id1  read\$'"
fa_stop bravo
fa_start bravo || exit 1
ft_check "ack kept across a restart" [ "$(rows --unread)" = "$(srt "$id2" "$id3")" ]

# Errors name the cause.
fa bravo inbox --urgency high >"$FT/o" 2>"$FT/e"; rc=$?
ft_check "--urgency high: exit 2, names the values" \
	bash -c "[ $rc = 2 ] && grep -q \"urgency 'high': give routine, urgent or emergency\" '$FT/e'"
fa bravo inbox --since yesterday >"$FT/o" 2>"$FT/e"; rc=$?
ft_check "--since yesterday: exit 2, asks for ISO 8601" \
	bash -c "[ $rc = 2 ] && grep -q \"since 'yesterday': give an ISO 8601 UTC date or time\" '$FT/e'"
fa bravo ack 0123456789abcdef0123456789abcdef >"$FT/o" 2>"$FT/e"; rc=$?
ft_check "ack of an unknown id: exit 1, 'no such message in the inbox'" \
	bash -c "[ $rc = 1 ] && grep -q 'no such message in the inbox' '$FT/e'"
# A MSGID that is not 32 hex digits is a usage error (exit 2) in every
# command that takes one, refused before the agent is asked.
for cmd in "ack nonsense" "show 0123" "status 0123456789abcdef0123456789abcdeg" \
    "erase 0123456789abcdef0123456789abcdef0" "reply nonsense --accept"; do
	set -- $cmd
	fa bravo "$@" >"$FT/o" 2>"$FT/e"; rc=$?
	ft_check "$1 of a non-id: exit 2, 'is not a message id', nothing on stdout" \
		bash -c "[ $rc = 2 ] && [ ! -s '$FT/o' ] && grep -q \"'$2' is not a message id: give the 32 hex digits\" '$FT/e'"
done
# Temporary files a crash left (NAME.tmp.PID) go at the next start, in
# inbox/ and sent/AGENCY/, never in outbox/ (the case system's).
fa_stop bravo
bsp=$FT/bravo-spool
echo partial >"$bsp/inbox/0123456789abcdef0123456789abcdef.json.tmp.99999"
mkdir -p "$sp/sent/bravo"
fa_stop alpha
echo partial >"$sp/sent/bravo/case-9.json.id.tmp.99998"
echo mine >"$sp/outbox/bravo/draft.json.tmp.99997"
echo keep >"$bsp/inbox/notes.tmp"
fa_start alpha || exit 1
fa_start bravo || exit 1
ft_check "a crash's temporary file in inbox/ removed at start" \
	[ ! -e "$bsp/inbox/0123456789abcdef0123456789abcdef.json.tmp.99999" ]
ft_check "a crash's temporary file in sent/bravo/ removed at start" \
	[ ! -e "$sp/sent/bravo/case-9.json.id.tmp.99998" ]
ft_check "a temporary file in outbox/ (the case system's) kept" \
	[ -f "$sp/outbox/bravo/draft.json.tmp.99997" ]
ft_check "a name without .tmp.PID kept" [ -f "$bsp/inbox/notes.tmp" ]
ft_check "the removal said (WARN spool-tmp)" grep -q 'spool-tmp.*inbox/0123456789abcdef0123456789abcdef.json.tmp.99999' "$FT/bravo.err"
rm -f "$sp/outbox/bravo/draft.json.tmp.99997" "$bsp/inbox/notes.tmp"
fa_stop alpha; fa_stop bravo; fa_stop charlie
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err' '$FT/charlie.err'"
ft_done
