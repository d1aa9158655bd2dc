#!/bin/bash
# Issue 14: `ferry erase` on a delivered referral, run by each agency on
# its own side, leaves its plaintext nowhere in either agency's data and
# spool folders (raw bytes of every file scanned; the marker is found
# there first, so the scan can fail), both logs still verify, the
# message's inclusion proof still verifies, and `show` / `status` say
# it was erased, when and by what.  --case erases a case's messages;
# a second erase of the same message is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1
M1=Qzmarkerone$RANDOM$RANDOM
M2=Qzmarkertwo$RANDOM$RANDOM
fa_doc "$FT/r1.json" subject.family_name=$M1 case_id=CASE-ERASE-1
fa_doc "$FT/r2.json" subject.family_name=$M2 case_id=CASE-KEEP-2

# r1 through the sender's spool (so its plaintext copy is in sent/), r2 by the CLI.
cp "$FT/r1.json" "$FT/alpha-spool/outbox/bravo/.r1.tmp"
mv "$FT/alpha-spool/outbox/bravo/.r1.tmp" "$FT/alpha-spool/outbox/bravo/r1.json"
# Sent, it is moved to sent/bravo/r1.json with its id in r1.json.id.
ft_check "r1 picked up from the spool" ft_wait 30 test -s "$FT/alpha-spool/sent/bravo/r1.json.id"
id1=$(head -c 32 "$FT/alpha-spool/sent/bravo/r1.json.id")
id2=$(fa alpha send --to bravo "$FT/r2.json")
ft_check "r1 delivered" fa_wait_state alpha "$id1" delivered 30
ft_check "r2 delivered" fa_wait_state alpha "$id2" delivered 30
ft_check "r1 in bravo's spool inbox" ft_wait 10 test -e "$FT/bravo-spool/inbox/$id1.json"
sleep 1		# the wakeup that wrote the inbox file finishes

DIRS=("$FT/alpha-data" "$FT/alpha-spool" "$FT/bravo-data" "$FT/bravo-spool")
# found MARKER: the files (raw bytes) under both agencies' folders holding it.
found() { grep -r -a -l -F "$1" "${DIRS[@]}" 2>/dev/null; }
ft_check "before: r1's marker is in alpha's sent/ copy" \
	bash -c "grep -q -a -F '$M1' '$FT/alpha-spool/sent/bravo/r1.json'"
ft_check "before: r1's marker is in bravo's inbox copy" \
	bash -c "grep -q -a -F '$M1' '$FT/bravo-spool/inbox/$id1.json'"

out=$(fa alpha erase "$id1" --ref DSAR-2026-17 2>&1)
ft_check "alpha: erase exits 0 and names the message" [ "$out" = "erased $id1" ]
out=$(fa bravo erase "$id1" 2>&1)
ft_check "bravo: erase exits 0 and names the message" [ "$out" = "erased $id1" ]
# The freed LMDB pages that still held the envelope and the sealed key
# are compacted out of the store's file (unit test erase_compacts checks
# the bytes); the marker file that makes it survive a crash is gone.
for p in alpha bravo; do
	ft_check "$p: the store compacted after the erasure (INFO compacted)" \
		grep -q "INFO compacted $FT/$p-data/log/data.mdb: [0-9]* -> [0-9]* bytes" "$FT/$p.err"
	ft_check "$p: no compaction left due" test ! -e "$FT/$p-data/log/compact-due"
done
left=$(found "$M1")
ft_check "after: r1's marker is nowhere in either agency's folders" [ -z "$left" ]
[ -n "$left" ] && echo "$left" | sed 's/^/# still in: /'
ft_check "r2 (not erased) is still there" bash -c "[ -n \"\$(grep -r -a -l -F '$M2' '$FT/bravo-spool')\" ]"
ft_check "r2 still shows" bash -c "'$B/ferry' --data '$FT/bravo-data' show '$id2' 2>/dev/null | grep -q -F '$M2'"

fa alpha show "$id1" >"$FT/show.out" 2>"$FT/show.err"
st=$?
ft_check "show of an erased message: exit 1, no document" [ $st -eq 1 ] && [ ! -s "$FT/show.out" ]
ft_check "show says erased, when (ISO 8601) and by request with the reference" \
	grep -q "^ferry: message $id1: erased 20[0-9-]*T[0-9:]*Z by request (ref DSAR-2026-17)" "$FT/show.err"
ft_check "status of the erased message says so" \
	bash -c "'$B/ferry' --data '$FT/bravo-data' status '$id1' | grep -q '^  erased .*Z by request$'"
ft_check "inbox (text) shows it erased, not unread" \
	bash -c "'$B/ferry' --data '$FT/bravo-data' inbox | grep -q ' $id1  erased\$'"
ft_check "outbox and thread (text) mark it (erased)" \
	bash -c "'$B/ferry' --data '$FT/alpha-data' outbox | grep -q '^$id1 .*  (erased)\$' && '$B/ferry' --data '$FT/alpha-data' thread CASE-ERASE-1 | grep -q ' $id1 .*  (erased)\$'"
ft_check "outbox --json marks it erased" \
	bash -c "'$B/ferry' --data '$FT/alpha-data' outbox --json | grep -q '\"by\": \"request\"'"
fa bravo erase "$id1" >/dev/null 2>"$FT/again.err"
st=$?
ft_check "erasing again: exit 1, already erased" [ $st -eq 1 ] && grep -q "already erased" "$FT/again.err"
fa alpha erase "$id2" --ref 'Jane Smith' >/dev/null 2>"$FT/ref.err"
st=$?
ft_check "a reference with a space (a name?) is refused" [ $st -eq 1 ] && grep -q "ref: a reference number" "$FT/ref.err"
fa alpha erase --case CASE-ERASE-1 --before 2026-01-01 >/dev/null 2>&1
ft_check "two selectors: usage error (exit 2)" [ $? -eq 2 ]
fa alpha erase --before 2026-13-45 >/dev/null 2>&1
ft_check "a bad date: usage error (exit 2)" [ $? -eq 2 ]

for p in alpha bravo; do
	"$B/ferry-audit" verify "$FT/$p-data/log" >"$FT/v-$p.out" 2>&1
	ft_check "$p: ferry-audit verify passes after the erasure" [ $? -eq 0 ]
	ft_check "$p: verify counted the erasure" grep -q "^erasures 1$" "$FT/v-$p.out"
	"$B/ferry-audit" prove "$FT/$p-data/log" "$id1" >"$FT/proof-$p" 2>"$FT/proof-$p.err"
	ft_check "$p: prove for the erased message still works" [ $? -eq 0 ]
	# The log's signing key as verify read it (the agency's own key).
	pk=$(awk '/^key /{print $2}' "$FT/v-$p.out")
	"$B/ferry-audit" check-proof "$FT/proof-$p" --key "$pk" --origin "ferry/$p" >"$FT/cp-$p.out" 2>&1
	ft_check "$p: its proof verifies" [ $? -eq 0 ]
done

# --case: every message of the case on this side; the other case untouched.
out=$(fa bravo erase --case CASE-KEEP-2 --ref REQ-9 2>&1)
ft_check "bravo: erase --case erased r2" [ "$out" = "erased $id2" ]
ft_check "r2's marker is gone from bravo's folders" \
	bash -c "[ -z \"\$(grep -r -a -l -F '$M2' '$FT/bravo-data' '$FT/bravo-spool')\" ]"
fa alpha erase --case NO-SUCH-CASE >/dev/null 2>"$FT/none.err"; st=$?
ft_check "erase --case of an unknown case: exit 1, says nothing matched" \
	bash -c "[ $st -eq 1 ] && grep -q 'no message to erase matched: check the case reference' '$FT/none.err'"
fa alpha erase --before 1970-01-01 >/dev/null 2>"$FT/epoch.err"; st=$?
ft_check "erase --before 1970-01-01: usage error (exit 2), says why" \
	bash -c "[ $st -eq 2 ] && grep -q 'give a date after 1970-01-01T00:00:00Z' '$FT/epoch.err'"
"$B/ferry-audit" verify "$FT/bravo-data/log" >"$FT/v2.out" 2>&1
ft_check "bravo: verify passes with two erasures" [ $? -eq 0 ] && grep -q "^erasures 2$" "$FT/v2.out"

# Another spool file named r1.json while sent/bravo/r1.json is taken (by
# a file of the operator's): kept in sent/ as r1.<msgid>.json; erasing it
# removes that copy and its .id, and not the file that had the name.
M3=Qzmarkerthree$RANDOM$RANDOM
echo "the operator's own file" >"$FT/alpha-spool/sent/bravo/r1.json"
fa_doc "$FT/alpha-spool/outbox/bravo/.r3.tmp" subject.family_name=$M3 case_id=CASE-ERASE-3
mv "$FT/alpha-spool/outbox/bravo/.r3.tmp" "$FT/alpha-spool/outbox/bravo/r1.json"
_renamed() { ls "$FT/alpha-spool/sent/bravo/" | grep -Eq '^r1\.[0-9a-f]{32}\.json\.id$'; }
ft_check "r3 sent from the spool as sent/bravo/r1.MSGID.json" ft_wait 30 _renamed
id3=$(ls "$FT/alpha-spool/sent/bravo/" | sed -En 's/^r1\.([0-9a-f]{32})\.json\.id$/\1/p')
ft_check "r3 delivered" fa_wait_state alpha "$id3" delivered 30
out=$(fa alpha erase "$id3" 2>&1)
ft_check "alpha: erase r3 exits 0" [ "$out" = "erased $id3" ]
ft_check "r3's marker is gone from alpha's spool, its copy and .id removed" \
	bash -c "[ -z \"\$(grep -r -a -l -F '$M3' '$FT/alpha-spool')\" ] && [ ! -e '$FT/alpha-spool/sent/bravo/r1.$id3.json.id' ]"
ft_check "the file that had the name r1.json is kept" \
	grep -q "the operator's own file" "$FT/alpha-spool/sent/bravo/r1.json"

# A spool file refused before it became a message (failed/: no record,
# no log entry, the same personal data) goes with `erase --case` of its
# case; a file there the agent cannot read as JSON is left, and said.
MF=Qzmarkerfailed$RANDOM$RANDOM
fa_doc "$FT/f.json" subject.family_name=$MF case_id=CASE-ERASE-F subject.date_of_birth=not-a-date
cp "$FT/f.json" "$FT/alpha-spool/outbox/bravo/.f.tmp"
mv "$FT/alpha-spool/outbox/bravo/.f.tmp" "$FT/alpha-spool/outbox/bravo/f.json"
echo 'not json' >"$FT/alpha-spool/outbox/bravo/.j.tmp"
mv "$FT/alpha-spool/outbox/bravo/.j.tmp" "$FT/alpha-spool/outbox/bravo/junk.json"
ft_check "the invalid referral goes to failed/" ft_wait 30 test -e "$FT/alpha-spool/failed/f.json.error"
ft_check "the file that is no JSON goes to failed/" ft_wait 30 test -e "$FT/alpha-spool/failed/junk.json.error"
out=$(fa alpha erase --case CASE-ERASE-F 2>"$FT/ef.err"); st=$?
want="erased 1 refused file(s) in the spool's failed/ (never sent)"
ft_check "erase --case: exit 0, the refused file erased and said" \
	[ "$st.$out" = "0.$want" ]
ft_check "its marker is gone from alpha's spool, its .error too" \
	bash -c "[ -z \"\$(grep -r -a -l -F '$MF' '$FT/alpha-spool')\" ] && [ ! -e '$FT/alpha-spool/failed/f.json.error' ]"
ft_check "the file that is no JSON is left, and said" \
	bash -c "[ -e '$FT/alpha-spool/failed/junk.json' ] && grep -q '1 file(s) in the spool.s failed/ are not JSON' '$FT/ef.err'"

# kill -9 of the recipient in the middle of the compaction (the copy
# synced, not in place; in place, the store not reopened): the erasure
# was committed, log/compact-due says the compaction is owed, the restart
# does it before anything else, and the log still verifies.
n=4
for point in compact-copied compact-renamed; do
	fa_doc "$FT/r$n.json" case_id=CASE-ERASE-$n
	idn=$(fa alpha send --to bravo "$FT/r$n.json")
	ft_check "r$n delivered" fa_wait_state alpha "$idn" delivered 30
	fa_stop bravo
	FERRY_TEST_CRASH=$point fa_start bravo --no-wait
	FERRY_TIMEOUT=10s "$B/ferry" --data "$FT/bravo-data" erase "$idn" >/dev/null 2>&1
	ft_check "bravo killed at $point" ft_wait_exit "${FA_PID[bravo]}" 20
	ft_check "$point: log/compact-due left for the restart" test -e "$FT/bravo-data/log/compact-due"
	before=$(ft_count "INFO compacted" "$FT/bravo.err")
	fa_start bravo || exit 1
	ft_check "$point: the restart compacted the store" \
		[ "$(ft_count "INFO compacted" "$FT/bravo.err")" -gt "$before" ]
	ft_check "$point: nothing left due" test ! -e "$FT/bravo-data/log/compact-due"
	ft_check "$point: r$n is erased" \
		bash -c "'$B/ferry' --data '$FT/bravo-data' status '$idn' | grep -q '^  erased .*Z by request$'"
	n=$((n + 1))
done
fa_stop bravo
"$B/ferry-audit" verify "$FT/bravo-data/log" >"$FT/v3.out" 2>&1
ft_check "bravo: verify passes after both crashes, four erasures" \
	bash -c "[ $? -eq 0 ] && grep -q '^erasures 4$' '$FT/v3.out'"

fa_stop alpha; fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
