#!/bin/bash
# agent_restore: an agency's data folder restored from a backup (a hot
# mdb_copy of <data>/log, docs/operations.md section 5) taken before it
# sent a spool file.  The file sits in sent/<to>/ with its message id, but
# the restored store has no record of that message: it was never to be
# seen again (ferry status ID: no such message; never sent again).  At
# start the agent now moves such a file to failed/ with a .error naming
# the message, the cause and what to do, and logs ERROR "restored"; files
# whose messages the store knows stay in sent/.
# The relay holds the agency's checkpoints (sent by its agent after each
# HELLO, then every 30 s while its log grows): the restored log, behind
# the one held, is caught at once: the relay refuses its checkpoint
# (ERROR checkpoint-behind, a REFUSED entry FERRY_EINCONSISTENT) and
# tells the agent, which says so (ERROR log-behind, status
# agent.log_behind): with the relay running all along (it once compared
# with what it had logged in this run first, and skipped the smaller
# checkpoint as nothing new), and after a restart of the relay (the one
# held is on disk).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
# Each checkpoint an agent sends is logged (none skipped as too soon).
ft_relay_start checkpoint_interval=100ms || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1
doc=$VECTORS/safeguarding-adult.json
out=$FT/alpha-spool/outbox/bravo

# drop NAME: a referral file dropped as a case system should (temporary
# name, then rename).
drop() { cp "$doc" "$out/.$1.tmp" && mv "$out/.$1.tmp" "$out/$1"; }

drop before.json
ft_check "file sent before the backup moved to sent/ with its id" \
	ft_wait 20 test -e "$FT/alpha-spool/sent/bravo/before.json.id"
id1=$(head -c 32 "$FT/alpha-spool/sent/bravo/before.json.id")
ft_check "delivered" fa_wait_state alpha "$id1" delivered 30
mkdir -p "$FT/backup/log"
ft_check "hot backup with mdb_copy" mdb_copy "$FT/alpha-data/log" "$FT/backup/log"

drop after.json
ft_check "file sent after the backup moved to sent/ with its id" \
	ft_wait 20 test -e "$FT/alpha-spool/sent/bravo/after.json.id"
id2=$(head -c 32 "$FT/alpha-spool/sent/bravo/after.json.id")
ft_check "delivered" fa_wait_state alpha "$id2" delivered 30
# A restart: alpha's checkpoint of its log as it is now reaches the relay.
fa_stop alpha
fa_start alpha || exit 1
size=$("$B/ferry" --data "$FT/alpha-data" status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["counters"]["log_size"])')
held() {
	"$B/ferry-audit" export "$RELAY_DATA/log" --csv |
		awk -F, '$2 == "CHECKPOINT" && $6 == "alpha"' | wc -l
}
ft_check "the relay logged alpha's checkpoints (LOG_CHECKPOINT from alpha)" \
	ft_wait 10 test "$(held)" -ge 2
fa_stop alpha

# The disk is lost; the backup restored into an empty data folder.
rm -rf "$FT/alpha-data/log"
mkdir -m 700 "$FT/alpha-data/log"
cp "$FT/backup/log/data.mdb" "$FT/alpha-data/log/data.mdb"
chmod 600 "$FT/alpha-data/log/data.mdb"
fa_start alpha || exit 1
ft_check "the store does not know the message sent after the backup" \
	bash -c "! '$B/ferry' --data '$FT/alpha-data' status $id2 >/dev/null 2>&1"
ft_check "its file moved to failed/" test -e "$FT/alpha-spool/failed/after.json"
ft_check "its sidecar gone from sent/" bash -c "! test -e '$FT/alpha-spool/sent/bravo/after.json.id' && ! test -e '$FT/alpha-spool/sent/bravo/after.json'"
ft_check "failed/after.json.error names the message, the cause and the next step" \
	grep -q "FERRY_ENOENT: sent/bravo/after.json: sent to bravo as message $id2, which this agency's store has no record of: the data folder was restored from a backup.*move it into outbox/bravo/" "$FT/alpha-spool/failed/after.json.error"
ft_check "ERROR restored logged with the message id" \
	grep -q "ERROR restored msg=$id2 to=bravo" "$FT/alpha.err"
ft_check "the file the store knows stays in sent/" \
	test -e "$FT/alpha-spool/sent/bravo/before.json" -a -e "$FT/alpha-spool/sent/bravo/before.json.id"
ft_check "and is not named" bash -c "! grep -q 'restored msg=$id1' '$FT/alpha.err'"
ft_check "the relay refuses alpha's checkpoint behind the one it holds (ERROR checkpoint-behind)" \
	ft_wait 10 grep -q "ERROR checkpoint-behind agency=alpha size=[0-9]* held=$size: its log is behind" "$RELAY_ERR"
ft_check "alpha is told: ERROR log-behind naming the relay and the next step" \
	ft_wait 10 grep -q "ERROR log-behind relay relay holds a checkpoint of this agency's log larger than the log now.*docs/operations.md section 8" "$FT/alpha.err"
ft_check "plain ferry status says the log is behind and where to read on" \
	bash -c "'$B/ferry' --data '$FT/alpha-data' status | grep -q 'a relay holds a checkpoint of this agency.s log AHEAD of the log now.*section 8'"
ft_check "ferry status --json: agent.log_behind" \
	bash -c "'$B/ferry' --data '$FT/alpha-data' status --json | $PY -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"agent\"][\"log_behind\"] is True else 1)'"
refused() {
	"$B/ferry-audit" export "$RELAY_DATA/log" --csv |
		awk -F, '$2 == "REFUSED" && $6 == "alpha" && $9 == -81' | wc -l
}
ft_check "the relay's log records the refusal (REFUSED FERRY_EINCONSISTENT from alpha)" \
	ft_wait 10 test "$(refused)" -ge 1
# What the relay holds of alpha is on disk: after a restart of the relay
# (and of alpha, still restored) it is caught again.
fa_stop alpha
ft_relay_stop
ft_relay_start checkpoint_interval=100ms || exit 1
fa_start alpha || exit 1
ft_check "after a relay restart: ERROR checkpoint-behind again" \
	ft_wait 10 test "$(grep -c 'ERROR checkpoint-behind agency=alpha' "$RELAY_ERR")" -ge 2
ft_check "and alpha told again" \
	ft_wait 10 test "$(grep -c 'ERROR log-behind' "$FT/alpha.err")" -ge 2
# A second start finds nothing more to say.
fa_stop alpha
fa_start alpha || exit 1
ft_check "second start: said once" [ "$(grep -c 'ERROR restored' "$FT/alpha.err")" -eq 1 ]
fa_stop alpha; fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
