#!/bin/bash
# Group commit for spool pickups: files dropped in outbox/<agency>/
# together are sealed one by one, then stored and logged in one batch
# (one synced commit, "(group)" on their queued lines), then each moved
# to sent/bravo/ under its own name; a bad one among them goes to failed/ alone.  All delivered.
# Then files for two recipients found in one scan: ONE syncfs for all
# their sidecars (one filesystem), three folder fsyncs per recipient
# folder, none per file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo charlie
ft_relay_start || exit 1
fa_conf alpha spool_interval=2s
fa_start alpha || exit 1
fa_start bravo || exit 1
doc=$VECTORS/nrm-adult-labour.json
out=$FT/alpha-spool/outbox/bravo
for i in 1 2 3 4 5; do
	cp "$doc" "$out/.r$i.json.tmp" && mv "$out/.r$i.json.tmp" "$out/r$i.json"
done
echo '{"not": "a referral"}' >"$out/.bad.tmp" && mv "$out/.bad.tmp" "$out/bad.json"
ft_check "all five moved to sent/bravo/, each with its .id" \
	ft_wait 20 bash -c "[ \$(ls '$FT/alpha-spool/sent/bravo' | grep -c '^r[1-5]\.json\.id$') -eq 5 ]"
ft_check "the bad one in failed/ with its reason" \
	ft_wait 10 test -e "$FT/alpha-spool/failed/bad.json.error"
ft_check "outbox/bravo/ empty" \
	ft_wait 10 bash -c "[ -z \"\$(ls '$out')\" ]"
ft_check "stored in group commits" grep -q 'INFO queued .* (group)' "$FT/alpha.err"
for f in "$FT"/alpha-spool/sent/bravo/*.json.id; do
	id=$(cat "$f")
	ft_check "spool referral $id delivered" fa_wait_state alpha "$id" delivered 30
done
ft_check "bravo's inbox holds 5" [ "$(fa_inbox_count bravo)" -eq 5 ]

# Two recipient folders in one scan: alpha stopped, three files dropped
# in outbox/bravo/ and three in outbox/charlie/, alpha started: its first
# scan takes all six.  The agent's sync calls since its start: 1 syncfs
# + 3 fsyncs (sent/X/ twice, outbox/X/) per folder = 7, whatever the
# number of files (a per-file fsync would make it 13).
fa_start charlie || exit 1
fa_stop alpha
for to in bravo charlie; do
	for i in 1 2 3; do
		cp "$doc" "$FT/alpha-spool/outbox/$to/.m$i.json.tmp" &&
			mv "$FT/alpha-spool/outbox/$to/.m$i.json.tmp" "$FT/alpha-spool/outbox/$to/m$i.json"
	done
done
fa_start alpha || exit 1
ft_check "two folders, one scan: all six moved to sent/" \
	ft_wait 20 bash -c "[ \$(ls '$FT/alpha-spool/sent/bravo' '$FT/alpha-spool/sent/charlie' | grep -c '^m[1-3]\.json\.id$') -eq 6 ]"
ft_check "two folders, one scan: 7 sync calls (1 syncfs + 3 fsyncs per folder)" \
	[ "$(fa alpha status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["counters"]["spool_fsyncs"])')" -eq 7 ]
for f in "$FT"/alpha-spool/sent/charlie/m*.json.id; do
	ft_check "spool referral $(cat "$f") to charlie delivered" fa_wait_state alpha "$(cat "$f")" delivered 30
done
ft_check "charlie's inbox holds 3" [ "$(fa_inbox_count charlie)" -eq 3 ]
fa_stop alpha; fa_stop bravo; fa_stop charlie
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err' '$FT/charlie.err'"
ft_done
