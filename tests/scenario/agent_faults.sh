#!/bin/bash
# ferry-agent's delivery guarantee under faults, with the real relay:
# recipient offline, relay offline, sender restarted in between, kill -9 of
# the sender right after `ferry send` returned, kill -9 of the recipient at
# each step of receiving (FERRY_TEST_CRASH: before the one commit of log
# and inbox, after it, with the spool files written but not synced, after
# the spool files), and of the sender after its commit, before the spool
# file's move (spool pickup), with the sidecars written but not synced,
# and synced, and of the sender with a relay's ACCEPTED acted on but not
# yet committed.  Every referral must arrive exactly once in
# the recipient's inbox and end "delivered" with a verified receipt.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
doc=$VECTORS/safeguarding-adult.json
ids=()

# 1. Recipient offline: accepted by the relay, delivered once it connects.
for i in 1 2 3; do ids+=("$(fa alpha send --to bravo "$doc")"); done
ft_check "recipient offline: 3 sends returned ids" [ "${#ids[@]}" -eq 3 ] 
ft_check "recipient offline: accepted by relay" fa_wait_state alpha "${ids[2]}" accepted 30
ft_check "recipient offline: not delivered yet" [ "$(fa_state alpha "${ids[0]}")" = accepted ]
fa_start bravo || exit 1
for id in "${ids[@]}"; do
	ft_check "recipient offline: $id delivered" fa_wait_state alpha "$id" delivered 30
done

# 2. Relay offline: queued, then accepted and delivered after it returns.
ft_relay_stop
id=$(fa alpha send --to bravo "$doc"); ids+=("$id")
ft_check "relay offline: send still returns an id" [ -n "$id" ]
sleep 1
ft_check "relay offline: state queued" [ "$(fa_state alpha "$id")" = queued ]
ft_relay_start || exit 1
ft_check "relay back: delivered" fa_wait_state alpha "$id" delivered 40

# 3. Sender restarted in between (relay down while it restarts).
ft_relay_stop
id=$(fa alpha send --to bravo "$doc"); ids+=("$id")
fa_stop alpha
ft_check "sender stopped cleanly" [ "$FT_STATUS" -eq 0 ]
ft_relay_start || exit 1
fa_start alpha || exit 1
ft_check "sender restarted: delivered" fa_wait_state alpha "$id" delivered 40

# 4. kill -9 of the sender right after ferry send returned (relay down, so
#    nothing could have left before the kill).
ft_relay_stop
id=$(fa alpha send --to bravo "$doc"); ids+=("$id")
fa_kill9 alpha
ft_relay_start || exit 1
fa_start alpha || exit 1
ft_check "sender kill -9 after send: delivered after restart" \
	fa_wait_state alpha "$id" delivered 40

# 5. kill -9 of the recipient at each step of receiving (spool-inbox-
#    written: the group's inbox files written under temporary names,
#    before the one syncfs that makes them durable and their renames).
for point in recv-before-commit recv-committed spool-inbox-written \
    recv-spooled; do
	fa_stop bravo
	id=$(fa alpha send --to bravo "$doc"); ids+=("$id")
	ft_wait 20 _fa_is_state alpha "$id" accepted
	FERRY_TEST_CRASH=$point fa_start bravo --no-wait
	if ft_wait_exit "${FA_PID[bravo]}" 30; then
		ft_ok "recipient killed at $point"
	else
		ft_fail "recipient killed at $point"
	fi
	fa_start bravo || exit 1
	if [ "$point" = recv-committed ] || [ "$point" = spool-inbox-written ]; then
		ft_check "$point: restart wrote the spool inbox file the crash cut off" \
			grep -q "recovered msg=$id: spool inbox file" "$FT/bravo.err"
	fi
	if [ "$point" = spool-inbox-written ]; then
		ft_check "$point: restart removed the unsynced temporary files" \
			grep -q "spool-tmp .*inbox/$id\.\(json\|meta\)\.tmp\." "$FT/bravo.err"
		ft_check "$point: $id.json and $id.meta in inbox/ after restart" \
			test -s "$FT/bravo-spool/inbox/$id.json" -a -s "$FT/bravo-spool/inbox/$id.meta"
	fi
	ft_check "recipient kill -9 at $point: delivered after restart" \
		fa_wait_state alpha "$id" delivered 40
done

# 6. kill -9 of the sender after its commit (logged and stored), before
#    the spool file moved to sent/: the spool index stops a second send.
fa_stop alpha
FERRY_TEST_CRASH=send-committed fa_start alpha || exit 1
cp "$doc" "$FT/alpha-spool/outbox/bravo/.drop.json"
mv "$FT/alpha-spool/outbox/bravo/.drop.json" "$FT/alpha-spool/outbox/bravo/drop.json"
if ft_wait_exit "${FA_PID[alpha]}" 30; then ft_ok "sender killed after its commit, before the move"
else ft_fail "sender killed after its commit, before the move"; fi
fa_start alpha || exit 1
ft_check "restart found the spool file already sent" \
	ft_wait 10 grep -q 'recovered msg=.*spool file .* was sent before a crash' "$FT/alpha.err"
ft_check "spool file moved to sent/" ft_wait 10 bash -c "! test -e '$FT/alpha-spool/outbox/bravo/drop.json'"
ft_check "spool file in sent/bravo/ under its name, id beside it" \
	test -f "$FT/alpha-spool/sent/bravo/drop.json" -a -f "$FT/alpha-spool/sent/bravo/drop.json.id"
sid=$(cat "$FT/alpha-spool/sent/bravo/drop.json.id")
ids+=("$sid")
ft_check "spool referral delivered" fa_wait_state alpha "$sid" delivered 40
ft_check "spool: exactly one outbox record for it" \
	[ "$(fa alpha outbox --json | grep -c '"spool_file"')" -eq 1 ]

# 7. kill -9 of the sender in a scan batch's move to sent/: after every
#    sidecar (NAME.id) is written under its temporary name, before the
#    one syncfs (spool-ids-written), and after the sidecars are in place
#    and synced, before any file is moved (spool-ids-synced): the restart
#    finds the files sent (spool key) and moves them under their own
#    names, beside their sidecars; none is sent twice.
for point in spool-ids-written spool-ids-synced; do
	b=batch-$point
	fa_stop alpha
	FERRY_TEST_CRASH=$point fa_start alpha || exit 1
	for f in $b-1 $b-2; do
		cp "$doc" "$FT/alpha-spool/outbox/bravo/.$f.json"
	done
	for f in $b-1 $b-2; do
		mv "$FT/alpha-spool/outbox/bravo/.$f.json" "$FT/alpha-spool/outbox/bravo/$f.json"
	done
	if ft_wait_exit "${FA_PID[alpha]}" 30; then ft_ok "sender killed at $point"
	else ft_fail "sender killed at $point"; fi
	fa_start alpha || exit 1
	ft_check "$point: restart moved both files to sent/bravo/ under their names" \
		ft_wait 10 test -f "$FT/alpha-spool/sent/bravo/$b-1.json" -a -f "$FT/alpha-spool/sent/bravo/$b-2.json"
	ft_check "$point: no batch file left in outbox/" \
		bash -c "! ls '$FT/alpha-spool/outbox/bravo/' | grep -q $b"
	for f in $b-1 $b-2; do
		sid=$(cat "$FT/alpha-spool/sent/bravo/$f.json.id" 2>/dev/null)
		ft_check "$f.json.id holds its message id" [ "${#sid}" -eq 32 ]
		ids+=("$sid")
		ft_check "$f delivered" fa_wait_state alpha "$sid" delivered 40
	done
	ft_check "$point: no second name in sent/bravo/ (nothing sent twice)" \
		[ "$(ls "$FT/alpha-spool/sent/bravo/" | grep -c "^$b-.*\.json$")" -eq 2 ]
done
ft_check "no temp files left in sent/bravo/" \
	[ "$(ls -a "$FT/alpha-spool/sent/bravo/" | grep -c 'tmp')" -eq 0 ]

# 8. kill -9 of the sender with a relay's ACCEPTED acted on in memory but
#    not committed yet (FERRY_FAULT agent-accepted-buffered: custody
#    records ride on the agent's next commit, issue 10), recipient
#    offline: the restart finds the message queued (that ACCEPTED was
#    lost), sends it again, and the relay answers the duplicate with a
#    fresh ACCEPTED (a second "accepted" line; had the first been
#    committed, the restart would only ASK); then delivered, once.
fa_stop bravo
fa_stop alpha
FERRY_FAULT=agent-accepted-buffered=kill@1 fa_start alpha || exit 1
id=$(fa alpha send --to bravo "$doc"); ids+=("$id")
if ft_wait_exit "${FA_PID[alpha]}" 30; then ft_ok "sender killed with an ACCEPTED buffered, not committed"
else ft_fail "sender killed with an ACCEPTED buffered, not committed"; fi
ft_check "accepted-buffered: the kill came after the custody was acted on" \
	grep -q "INFO accepted msg=$id" "$FT/alpha.err"
fa_start alpha || exit 1
ft_check "accepted-buffered: the restart sent it again and the relay took custody again" \
	ft_wait 30 bash -c "[ \$(grep -c 'INFO accepted msg=$id' '$FT/alpha.err') -ge 2 ]"
fa_start bravo || exit 1
ft_check "accepted-buffered: delivered after restart" fa_wait_state alpha "$id" delivered 40

# Exactly once, everywhere.
n=${#ids[@]}
ft_check "all $n sent messages delivered" bash -c "
	for i in ${ids[*]}; do
		s=\$('$B/ferry' --data '$FT/alpha-data' status --json \$i | grep -c '\"state\": \"delivered\"')
		[ \"\$s\" -eq 1 ] || exit 1
	done"
ft_check "bravo inbox holds exactly $n messages" [ "$(fa_inbox_count bravo)" -eq "$n" ]
ft_check "bravo inbox ids are exactly the sent ids" bash -c "
	diff <(printf '%s\n' ${ids[*]} | sort) \
	<('$B/ferry' --data '$FT/bravo-data' inbox --json | $PY -c 'import json,sys; [print(m[\"msg_id\"]) for m in json.load(sys.stdin)]' | sort)"
ft_check "spool inbox holds exactly $n referrals" \
	[ "$(ls "$FT/bravo-spool/inbox/" | grep -c '\.json$')" -eq "$n" ]
ft_check "every inbox .json whole, beside its .meta naming it" $PY -c '
import json, os, sys
d = sys.argv[1]
for n in os.listdir(d):
    if n.endswith(".json"):
        json.load(open(os.path.join(d, n)))
        m = json.load(open(os.path.join(d, n[:-5] + ".meta")))
        assert m["msg_id"] == n[:-5], n
' "$FT/bravo-spool/inbox"
ft_check "no temp files left in the spool inbox" \
	[ "$(ls -a "$FT/bravo-spool/inbox/" | grep -c 'tmp')" -eq 0 ]
ft_check "duplicates were answered with the stored receipt" \
	grep -q 'duplicate msg=' "$FT/bravo.err"
fa_stop alpha; fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
