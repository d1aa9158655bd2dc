#!/bin/bash
# Group commit for spool pickups: files dropped in outbox/<agency>/
# together are sealed one by one, then stored and logged in one batch
# (one synced commit, "(group)" on their queued lines), then each moved
# to sent/bravo/ under its own name; a bad one among them goes to failed/ alone.  All delivered.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
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
fa_stop alpha; fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
