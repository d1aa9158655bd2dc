#!/bin/bash
# Issue 13, hole 3: one insider must not stall all delivery to a partner.
# Charlie (an admitted agency) sends 1,100 MSGs to bravo sealed to
# encryption key 999, which bravo never had; before the fix the relay
# took them all and bravo held each as "key not loaded yet", so they
# filled bravo's delivery window and alpha's referrals waited behind them
# until expiry.  Now the relay refuses them at custody (FERRY_EWRONGKEY,
# logged at most once a second per agency) and bravo would refuse any
# that reached it (unit test unknown_key_not_held_forever); alpha's
# referrals, sent during the flood, reach `delivered` at alpha; bravo
# holds exactly those; nothing of the flood is queued for bravo.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo charlie
ft_relay_start metrics_interval=1s || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1

ft_bg "$FT/flood" "$FT/flood.err" "$RELAYC" send "$RELAY_EP" \
	"$FT/keys/charlie.key" "$FT/roster" bravo --mode badkey --count 1100 \
	--timeout 120
flood=$FT_LASTPID
ids=()
for k in 1 2 3 4 5; do
	id=$(fa alpha send --to bravo "$VECTORS/nrm-adult-labour.json") && ids+=("$id")
done
ft_check "alpha: 5 referrals sent during the flood" [ "${#ids[@]}" -eq 5 ]
for id in "${ids[@]}"; do
	ft_check "alpha's $id delivered at alpha" fa_wait_state alpha "$id" delivered 60
done
ft_wait_exit "$flood" 120
ft_check "the flood: every one of 1,100 answered" \
	[ "$(grep -c '^nack \|^accepted ' "$FT/flood")" -eq 1100 ]
ft_check "the flood: refused by the relay, FERRY_EWRONGKEY" \
	[ "$(grep -c '^nack FERRY_EWRONGKEY ' "$FT/flood")" -eq 1100 ]
ft_check "bravo's inbox: exactly alpha's 5" [ "$(fa_inbox_count bravo)" -eq 5 ]
ft_check "bravo held nothing for an unknown key" \
	bash -c "! grep -q 'key-not-loaded' '$FT/bravo.err'"
ft_check "relay log: the refusals rate-limited (under 200 REFUSED entries)" \
	[ "$(ft_metric ferry_relay_log_size)" -lt 200 ]
fa_stop alpha; fa_stop bravo; ft_relay_stop
ft_check "the relay's log verifies" \
	"$B/ferry-audit" verify "$RELAY_DATA/log" --roster "$FT/roster"
ft_done
