#!/bin/bash
# ferry-agent against hostile or changing peers, with the real relay:
#   - a roster-authenticated rogue agency (tests/tools/relayc) sends
#     envelopes whose signed content is not a valid referral: the
#     recipient logs them refused, NACKs them (the rogue sees the NACK) and
#     nothing reaches its inbox or spool; a tampered envelope is stopped by
#     the relay and never reaches the agent;
#   - roster pushes are verified and adopted (and survive a restart), and a
#     revoked recipient is refused at `ferry send`;
#   - a revoked agent's key is refused at the handshake: it logs a clear
#     error and `ferry status` says so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo mallory charlie
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1

# Rogue content from an authenticated agency.
ft_send mallory bravo --count 2 --marker ROGUE --receipts --timeout 10 \
	>"$FT/rogue.out" 2>"$FT/rogue.err"
ft_check "rogue: relay accepted custody (signature valid)" \
	[ "$(ft_count '^accepted ' "$FT/rogue.out")" -eq 2 ]
ft_check "rogue: bravo NACKed both back to the sender" \
	[ "$(ft_count '^nack ' "$FT/rogue.out")" -eq 2 ]
ft_check "rogue: no receipt was issued" [ "$(ft_count '^receipt ' "$FT/rogue.out")" -eq 0 ]
ft_check "rogue: bravo logged both refused with a reason" \
	[ "$(ft_count 'refused msg=.* from=mallory code=' "$FT/bravo.err")" -eq 2 ]
ft_check "rogue: bravo's inbox is empty" [ "$(fa_inbox_count bravo)" -eq 0 ]
ft_check "rogue: nothing in bravo's spool inbox" \
	[ -z "$(ls -A "$FT/bravo-spool/inbox/")" ]
ft_send mallory bravo --count 1 --mode tamper --timeout 10 >"$FT/tamper.out" 2>&1
ft_check "tampered envelope NACKed by the relay (FERRY_EBADSIG)" \
	grep -q '^nack FERRY_EBADSIG' "$FT/tamper.out"
ft_check "tampered envelope never reached bravo" \
	[ "$(ft_count 'refused msg=' "$FT/bravo.err")" -eq 2 ]
ft_check "bravo still delivers real referrals" bash -c "
	id=\$('$B/ferry' --data '$FT/alpha-data' send --to bravo '$VECTORS/crime-report.json') &&
	for i in \$(seq 1 300); do
		'$B/ferry' --data '$FT/alpha-data' status \$id | grep -q 'delivered (receipt' && exit 0
		sleep 0.1
	done; exit 1"
ft_check "inbox has exactly the one real referral" [ "$(fa_inbox_count bravo)" -eq 1 ]

# Roster push: version 2 revokes charlie.
ft_revoke charlie "$FT/roster" "$FT/roster.2"
cp "$FT/roster.2" "$FT/relay-roster"
ft_relay_hup
_v2() { fa "$1" status | grep -q "roster version $2"; }
ft_check "alpha adopted pushed roster 2" ft_wait 20 _v2 alpha 2
ft_check "bravo adopted pushed roster 2" ft_wait 20 _v2 bravo 2
ft_check "alpha logged the adoption" grep -q 'roster version=2 adopted' "$FT/alpha.err"
fa alpha send --to charlie "$VECTORS/crime-report.json" >/dev/null 2>"$FT/e1"; rc=$?
ft_check "send to a revoked agency refused before sending" \
	bash -c "[ $rc -eq 1 ] && grep -q 'charlie is revoked' '$FT/e1'"
fa alpha partners >"$FT/partners"
ft_check "ferry partners shows charlie revoked" grep -q '^charlie .*revoked' "$FT/partners"

# Version 3 revokes alpha: the relay drops it and refuses its key.
ft_revoke alpha "$FT/roster.2" "$FT/roster.3"
cp "$FT/roster.3" "$FT/relay-roster"
ft_relay_hup
ft_check "bravo adopted roster 3" ft_wait 20 _v2 bravo 3
ft_check "revoked alpha logs that the relay refused its transport key" \
	ft_wait 30 grep -q 'refused our transport key' "$FT/alpha.err"
_refused() { fa alpha status | grep -q 'REFUSED our transport key'; }
ft_check "ferry status shows the refusal" ft_wait 10 _refused
ft_check "alpha backs off instead of retrying in silence" \
	grep -q 'retrying in [0-9]*s' "$FT/alpha.err"

# The chain survives a restart.
fa_stop bravo
fa_start bravo || exit 1
ft_check "bravo restarts holding roster 3 (chain re-verified)" _v2 bravo 3

# SIGHUP: a newer version dropped into the data folder is verified and
# adopted; a forged one (not signed by the admins) is refused.
ft_revoke mallory "$FT/roster.3" "$FT/roster.4"
cp "$FT/roster.4" "$FT/bravo-data/roster/v00000000000000000004.roster"
kill -HUP "${FA_PID[bravo]}"
ft_check "SIGHUP: bravo adopted roster 4 from its data folder" ft_wait 20 _v2 bravo 4
ft_check "SIGHUP: adoption logged" grep -q 'roster version=4 adopted from' "$FT/bravo.err"
ft_revoke bravo "$FT/roster.4" "$FT/roster.5"
$PY - "$FT/roster.5" <<'PYEOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-10] ^= 1    # inside the last admin signature
open(p, "wb").write(bytes(b))
PYEOF
cp "$FT/roster.5" "$FT/bravo-data/roster/v00000000000000000005.roster"
kill -HUP "${FA_PID[bravo]}"
ft_check "SIGHUP: a forged roster 5 is refused" \
	ft_wait 20 grep -q 'roster-refused version=5' "$FT/bravo.err"
ft_check "SIGHUP: bravo stays at roster 4" _v2 bravo 4
rm -f "$FT/bravo-data/roster/v00000000000000000005.roster"
fa_stop alpha; fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
