#!/bin/bash
# relay_restore_seen: the relay restored from a backup (an mdb_copy of its
# log taken earlier) while an agency's agent keeps running.  The agent
# holds the relay's checkpoints from its custody receipts (ACCEPTED_P):
# the restored relay's next receipt carries a checkpoint behind one it
# signed before, which nothing used to notice.  The agent now says so
# (WARN relay-log-behind, once, counters.relay_log_behind) and still takes
# the receipt: the referral is delivered.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1
doc=$VECTORS/nrm-adult-labour.json

id=$(fa alpha send --to bravo "$doc")
ft_check "first referral delivered" fa_wait_state alpha "$id" delivered 30
mkdir -p "$FT/backup/log"
ft_check "hot backup of the relay's log" mdb_copy "$RELAY_DATA/log" "$FT/backup/log"
for i in 1 2 3; do
	id=$(fa alpha send --to bravo "$doc")
	ft_check "referral $i after the backup delivered" fa_wait_state alpha "$id" delivered 30
done
ft_check "no warning before the restore" bash -c "! grep -q relay-log-behind '$FT/alpha.err'"

# The relay's disk is lost; its backup restored; alpha keeps running.
ft_relay_stop
rm -rf "$RELAY_DATA/log"
mkdir -m 700 "$RELAY_DATA/log"
cp "$FT/backup/log/data.mdb" "$RELAY_DATA/log/data.mdb"
ft_relay_start || exit 1
ft_wait 20 grep -q "connected" "$FT/alpha.err"
id=$(fa alpha send --to bravo "$doc")
ft_check "a referral through the restored relay is delivered" \
	fa_wait_state alpha "$id" delivered 30
ft_check "alpha: WARN relay-log-behind naming the relay, the sizes and the next step" \
	ft_wait 10 grep -q "WARN relay-log-behind relay=relay size=[0-9]* held=[0-9]*: its custody receipt carries a checkpoint behind one it signed earlier.*Tell the relay's operator and the auditors" "$FT/alpha.err"
ft_check "said once" [ "$(grep -c 'relay-log-behind' "$FT/alpha.err")" -eq 1 ]
ft_check "status counters.relay_log_behind 1" \
	bash -c "'$B/ferry' --data '$FT/alpha-data' status --json | $PY -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"counters\"][\"relay_log_behind\"] == 1 else 1)'"
fa_stop alpha; fa_stop bravo; ft_relay_stop
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
