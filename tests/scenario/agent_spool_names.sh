#!/bin/bash
# agent_spool_names: a spool file keeps the name the case system gave it
# (sent/<agency>/NAME, its message id in NAME.id beside it, its state by
# `ferry status $(cat NAME.id)`); the same name reused later does not
# overwrite the earlier one (NAME.<msgid>.json); a refusal's .error is
# one line with no line feed at its end; a referral to one's own agency
# is refused, by the spool and by `ferry send`, saying so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1
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

fa_stop alpha; fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
