#!/bin/bash
# ferry-relay never forwards a message past its expiry (review of a
# restore drill).  A: the relay is restored from a backup that still
# holds a message it has since expired (its sender told FERRY_EEXPIREDMSG,
# final): the first turn after start sweeps, so the message is expired
# again at once (logged, NACK kept for the sender), well before
# sweep_interval, and its recipient never gets it; what was queued
# behind it is delivered.  B: a message that expires between two sweeps
# is not forwarded to a recipient that connects then: the relay expires
# it in the next turn instead.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start expiry=5s sweep_interval=5s || exit 1

# ---- A: restored from a backup holding an expired message ----
ft_send alpha bravo --count 1 --marker STALE --timeout 10 >"$FT/s" 2>&1
ft_check "A: accepted for offline bravo" [ "$(ft_count '^accepted ' "$FT/s")" -eq 1 ]
ft_relay_stop
cp -a "$RELAY_DATA" "$FT/backup" || ft_fail "A: backup copied"
ft_relay_start expiry=5s sweep_interval=5s || exit 1
ft_check "A: it expires at the relay" ft_wait 20 \
	grep -q ' expired msg=' "$RELAY_ERR"
ft_relay_stop
# The restore: the backup, which still holds it queued, back in place.
rm -rf "$RELAY_DATA"
cp -a "$FT/backup" "$RELAY_DATA" || ft_fail "A: backup restored"
mv "$RELAY_ERR" "$FT/relay-before.err"
ft_relay_start expiry=5s sweep_interval=5s || exit 1
ft_check "A: expired again at once after the restore (first turn), not a sweep_interval later" \
	ft_wait 2 grep -q ' expired msg=' "$RELAY_ERR"
ft_check "A: counted" ft_wait 3 \
	grep -q '^ferry_relay_expired_total 1$' "$RELAY_DATA/metrics.prom"
ft_bg "$FT/b" "$FT/b.err" "$RELAYC" recv "$RELAY_EP" "$FT/keys/bravo.key" \
	"$FT/roster" --count 1 --timeout 15
ft_wait 10 grep -q 'hello agency=bravo' "$RELAY_ERR"
ft_send alpha bravo --count 1 --marker FRESH --receipts --timeout 10 \
	>"$FT/back" 2>&1
ft_check "A: the sender gets the expiry NACK again (kept for it)" \
	[ "$(ft_count '^nack FERRY_EEXPIREDMSG ' "$FT/back")" -eq 1 ]
ft_check "A: bravo gets the message sent after the restore" \
	ft_wait 10 grep -q '^msg .* FRESH' "$FT/b"
ft_check "A: bravo never gets the expired one" \
	[ "$(ft_count 'STALE' "$FT/b")" -eq 0 ]
ft_check "A: no delivery of it logged" \
	[ "$(ft_count ' delivered msg=' "$RELAY_ERR")" -eq 1 ]
ft_relay_stop
ft_check "A: relay exits 0" [ "$FT_STATUS" -eq 0 ]

# ---- B: expired between two sweeps, its recipient connecting then ----
# Sweeps at start (T0), T0+10s, T0+20s; the message, sent at T0+2s,
# expires at T0+12s; bravo connects at T0+14s.
ft_relay_start expiry=10s sweep_interval=10s || exit 1
t0=$SECONDS
sleep 2
ft_send alpha bravo --count 1 --marker LATE --timeout 10 >"$FT/s2" 2>&1
ft_check "B: accepted for offline bravo" [ "$(ft_count '^accepted ' "$FT/s2")" -eq 1 ]
before=$(ft_count ' expired msg=' "$RELAY_ERR")
sleep $((14 - (SECONDS - t0)))
ft_bg "$FT/b2" "$FT/b2.err" "$RELAYC" recv "$RELAY_EP" "$FT/keys/bravo.key" \
	"$FT/roster" --count 1 --timeout 3
ft_check "B: the relay expires it when bravo connects, before the next sweep" \
	ft_wait 3 bash -c "[ \$(grep -c ' expired msg=' '$RELAY_ERR') -gt $before ]"
echo "# B: checked $((SECONDS - t0)) s after the relay started (next sweep at 20 s)"
ft_wait 5 bash -c "! kill -0 $FT_LASTPID 2>/dev/null"
ft_check "B: bravo never gets it" [ "$(ft_count 'LATE' "$FT/b2")" -eq 0 ]
ft_relay_stop
ft_check "B: relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
