#!/bin/bash
# Delivered messages are never reported as failed (review H3):
# (a) a message in flight to a connected recipient when its expiry comes
#     is not expired: the recipient's late RECEIPT is forwarded, the
#     sender never gets NACK FERRY_EEXPIREDMSG;
# (b) a retransmitted MSG in the same batch as its RECEIPT is answered as
#     a duplicate of a delivered message (ACCEPTED + RECEIPT), never NACK
#     FERRY_EDUPMSG.  FERRY_RELAY_TEST_TURN_DELAY_MS makes the relay wait
#     before draining its socket, so both land in one batch.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
FERRY_RELAY_TEST_TURN_DELAY_MS=300 ft_relay_start expiry=2s \
	sweep_interval=200ms || exit 1

# (b)
"$RELAYC" race "$RELAY_EP" "$FT/keys/alpha.key" "$FT/keys/bravo.key" \
	"$FT/roster" --timeout 20 >"$FT/race" 2>"$FT/race.err"
sed 's/^/# /' "$FT/race"
ft_check "race: the sender gets the RECEIPT" grep -q '^receipt$' "$FT/race"
ft_check "race: no NACK for a delivered message" \
	[ "$(ft_count '^nack' "$FT/race")" -eq 0 ]
ft_check "race: the retransmission answered as a duplicate" \
	grep -q 'duplicate msg=.* from=alpha done=1' "$RELAY_ERR"

# (a) bravo receives at once but answers 4 s later (expiry is 2 s).
ft_bg "$FT/slow" "$FT/slow.err" "$RELAYC" recv "$RELAY_EP" \
	"$FT/keys/bravo.key" "$FT/roster" --count 1 --receipt-delay 4 \
	--timeout 30
ft_wait 20 grep -q 'hello agency=bravo' "$RELAY_ERR"
ft_send alpha bravo --count 1 --marker SLOW --receipts --timeout 20 \
	>"$FT/s" 2>&1
sed 's/^/# /' "$FT/s"
ft_check "slow recipient: the sender gets the RECEIPT" grep -q '^receipt ' "$FT/s"
ft_check "slow recipient: no expiry NACK for the delivered message" \
	[ "$(ft_count '^nack' "$FT/s")" -eq 0 ]
ft_check "slow recipient: logged delivered, not expired" \
	[ "$(ft_count ' expired msg=' "$RELAY_ERR")" -eq 0 ]
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
