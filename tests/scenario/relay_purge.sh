#!/bin/bash
# relay_purge: `ferry-relay queue list|show|purge` (issue 11 item 10).
# alpha and bravo send to charlie, which never picks up; a purge while
# charlie is active is refused, saying why; roster 2 revokes charlie;
# `queue list` shows the three messages (ids, sizes, accepted time in ISO
# 8601 UTC, age; never content) and `queue show` one; the purge, done by
# the running relay, NACKs each sender FERRY_EPURGED with the reason, so
# each message ends `failed` with it in `ferry status`; the relay's log
# (an EXPIRED entry of code FERRY_EPURGED each) passes ferry-audit verify;
# `queue list` is empty after.  A typo'd id is refused by name; two purge
# commands at once each get their own answer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo charlie
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1
R=$B/ferry-relay

doc=$VECTORS/nrm-adult-labour.json
ids=()
for s in alpha alpha bravo; do
	id=$(fa $s send --to charlie "$doc" 2>>"$FT/send.err") &&
		ids+=("$s:$id")
done
ft_check "three referrals sent to charlie" [ "${#ids[@]}" -eq 3 ]
for si in "${ids[@]}"; do
	ft_check "${si%%:*}'s ${si#*:} accepted by the relay" \
		fa_wait_state "${si%%:*}" "${si#*:}" accepted 30
done

# queue list while the relay runs: read-only, headers only.
"$R" queue list --data "$RELAY_DATA" >"$FT/list1" 2>"$FT/list1.err"; rc=$?
sed 's/^/# /' "$FT/list1"
ft_check "queue list exits 0 while the relay runs" [ "$rc" -eq 0 ]
ft_check "queue list shows the three messages for charlie" \
	[ "$(grep -c ' charlie ' "$FT/list1")" -eq 3 ]
ok=1
for si in "${ids[@]}"; do
	grep -qE "^${si#*:} +${si%%:*} +charlie +[0-9]+ +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z +[0-9]+$" \
		"$FT/list1" || ok=0
done
ft_check "each line: id, sender, recipient, bytes, ISO 8601 UTC time, age" \
	[ "$ok" = 1 ]
ft_check "queue list prints no content (no referral text)" \
	bash -c "! grep -qiE 'labour|referral|person|name' '$FT/list1'"
"$R" queue list --data "$RELAY_DATA" --recipient bravo >"$FT/list-b" 2>&1
ft_check "queue list --recipient bravo: none" \
	[ "$(grep -vc '^msg ' "$FT/list-b")" -eq 0 ]
first=${ids[0]#*:}
"$R" queue show --data "$RELAY_DATA" "$first" >"$FT/show" 2>&1; rc=$?
ft_check "queue show MSGID: its sender, recipient, size and time" \
	eval '[ "$rc" -eq 0 ] && grep -qx "from alpha" "$FT/show" &&
	grep -qx "to charlie" "$FT/show" && grep -qE "^bytes [0-9]+$" "$FT/show" &&
	grep -qE "^accepted [0-9-]{10}T[0-9:]{8}Z$" "$FT/show"'
"$R" queue show --data "$RELAY_DATA" 00112233445566778899aabbccddeeff >/dev/null 2>"$FT/show2"; rc=$?
ft_check "queue show of an id not queued: exit 1, says so" \
	eval '[ "$rc" -eq 1 ] && grep -q "is not queued" "$FT/show2"'

# Refused while charlie is active, naming why; nothing purged.
"$R" queue purge --data "$RELAY_DATA" --recipient charlie \
	--reason "test purge" >"$FT/p0" 2>"$FT/p0.err"; rc=$?
ft_check "purge of an active agency's queue refused (exit 1)" [ "$rc" -eq 1 ]
ft_check "... saying it is active and to revoke it first" \
	grep -q "charlie is active in roster version 1: only a revoked agency's queue may be purged" "$FT/p0.err"
"$R" queue list --data "$RELAY_DATA" >"$FT/list2" 2>&1
ft_check "... and the three stay queued" [ "$(grep -c ' charlie ' "$FT/list2")" -eq 3 ]
"$R" queue purge --data "$RELAY_DATA" --recipient charlie >/dev/null 2>"$FT/p1.err"; rc=$?
ft_check "purge without --reason: usage error (exit 2)" \
	eval '[ "$rc" -eq 2 ] && grep -q -- "--reason" "$FT/p1.err"'
# A reason in Latin-1 (a terminal not in UTF-8): the NACKs carry text.
"$R" queue purge --data "$RELAY_DATA" --recipient charlie \
	--reason "$(printf 'caf\xe9 closed')" >/dev/null 2>"$FT/p1b.err"; rc=$?
ft_check "purge with a reason not in UTF-8: usage error (exit 2), says so" \
	eval '[ "$rc" -eq 2 ] && grep -q "printable UTF-8" "$FT/p1b.err"'

# Revoke charlie (roster 2), then purge.
ft_revoke charlie "$FT/roster" "$FT/roster.v2" || { ft_fail "make roster v2"; exit 1; }
cp "$FT/roster.v2" "$FT/relay-roster"
ft_relay_hup
ft_check "roster 2 (charlie revoked) adopted" ft_wait 20 \
	grep -q 'roster-adopted version=2' "$RELAY_ERR"
# An id no roster version ever listed (a typo): refused, naming it.
"$R" queue purge --data "$RELAY_DATA" --recipient charlei \
	--reason "typo" >"$FT/pt" 2>"$FT/pt.err"; rc=$?
ft_check "purge of an id in no roster version (charlei): exit 1" [ "$rc" -eq 1 ]
ft_check "... naming it and saying to check the id" \
	grep -q "charlei is in no roster version this relay holds (1 to 2): check the agency id" "$FT/pt.err"
ft_check "... nothing purged" bash -c "! grep -q '^purged' '$FT/pt'"

# Two purge commands at once, each gets its own answer: the relay held
# still (SIGSTOP) while the first (bravo, active: refused) has written
# its request and the second (charlie) starts, which must not replace
# the first's request nor take its answer.
kill -STOP "$RELAY_PID"
"$R" queue purge --data "$RELAY_DATA" --recipient bravo \
	--reason "bravo is not revoked" >"$FT/pa" 2>"$FT/pa.err" &
pa=$!
ft_wait 10 test -e "$RELAY_DATA/purge.request"
"$R" queue purge --data "$RELAY_DATA" --recipient charlie \
	--reason "charlie revoked: left the scheme" >"$FT/p2" 2>"$FT/p2.err" &
pb=$!
ft_wait 3 grep -q charlie "$RELAY_DATA/purge.request" &&
	ft_fail "the second purge command replaced the first's request"
kill -CONT "$RELAY_PID"
wait "$pa"; rca=$?
wait "$pb"; rc=$?
sed 's/^/# /' "$FT/pa" "$FT/pa.err" "$FT/p2" "$FT/p2.err"
ft_check "the first (bravo, active) is refused: exit 1, its own answer" \
	eval '[ "$rca" -eq 1 ] && grep -q "bravo is active in roster version 2" "$FT/pa.err"'
ft_check "the second said it waited for the first" \
	grep -q "waiting for another queue purge on $RELAY_DATA to end" "$FT/p2.err"
ft_check "purge of revoked charlie's queue exits 0" [ "$rc" -eq 0 ]
ft_check "... and says 3 were purged" grep -q '^purged 3 messages queued for charlie' "$FT/p2"
for si in "${ids[@]}"; do
	s=${si%%:*} id=${si#*:}
	ft_check "$s's $id ends failed" fa_wait_state "$s" "$id" failed 30
	fa "$s" status "$id" >"$FT/st" 2>&1
	ft_check "... ferry status gives FERRY_EPURGED and the reason" \
		eval 'grep -q "FERRY_EPURGED" "$FT/st" && grep -q "left the scheme" "$FT/st"'
done
sed 's/^/# /' "$FT/st"
"$R" queue list --data "$RELAY_DATA" >"$FT/list3" 2>&1
ft_check "queue list is empty after the purge" \
	[ "$(grep -vc '^msg ' "$FT/list3")" -eq 0 ]
ft_check "the relay logged each purge" \
	[ "$(grep -c ' purged msg=' "$RELAY_ERR")" -eq 3 ]
ft_check "ferry_relay_purged_total 3" ft_wait 10 \
	grep -qx 'ferry_relay_purged_total 3' "$RELAY_DATA/metrics.prom"

ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
"$B/ferry-audit" verify "$RELAY_DATA/log" --roster "$FT/roster" >"$FT/v" 2>&1; rc=$?
sed 's/^/# /' "$FT/v" | tail -5
ft_check "ferry-audit verify passes on the relay's log (exit $rc)" [ "$rc" -eq 0 ]
"$R" queue purge --data "$RELAY_DATA" --recipient charlie --reason x \
	>/dev/null 2>"$FT/p3.err"; rc=$?
ft_check "purge with no relay running: exit 1, says to start it" \
	eval '[ "$rc" -eq 1 ] && grep -q "no relay is running" "$FT/p3.err"'
fa_stop alpha
fa_stop bravo
ft_done
