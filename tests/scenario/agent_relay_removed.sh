#!/bin/bash
# agent_relay_removed: the roster's first relay is removed (a new roster
# version) while it holds alpha's referrals for bravo, then stopped for
# good.  The agents' configurations keep "relay = <first relay's
# address>", as most single-relay installs have it.
#  - "relay =" stays with the relay it was written for (the first of the
#    install roster): it used to be handed to whichever relay came first
#    after the removal, pointing relay-b's link at relay-a's old address,
#    so alpha and bravo lost every relay (sends queued for good); now it
#    is ignored with WARN relay-config and relay-b is reached at its
#    roster endpoint, also after a restart.
#  - The referrals relay-a held are resent through relay-b and logged as
#    such (LOG_ROUTE): with one relay left, the resends used to leave no
#    ROUTE entry and relay-b's ACCEPTED was dropped, so ferry-audit
#    compare of alpha and relay-b reported honest traffic as MISSING.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
K=$B/ferry-keys
A=$B/ferry-audit
doc=$VECTORS/nrm-adult-labour.json
ft_net relay-a alpha bravo
ft_relay2_add relay-b
ft_relay_start || exit 1
ft_relay2_start || exit 1
fa_conf alpha resend_after=2s
fa_conf bravo resend_after=2s
fa_start alpha || exit 1
fa_start bravo || exit 1

ft_check "alpha reaches both relays" \
	ft_wait 20 fa_is_relays alpha "relay-a=connected relay-b=connected"
fa_stop bravo
for i in 1 2 3; do fa alpha send --to bravo "$doc" >>"$FT/ids" 2>>"$FT/send.err"; done
ft_check "three referrals accepted for bravo (offline)" \
	ft_wait 20 fa_all_state alpha accepted 3

# Roster v3 without relay-a; relay-a is decommissioned.
{ "$K" roster remove-relay --roster "$FT/roster" --id relay-a --expires 365 \
	--out "$FT/roster.3" &&
  "$K" roster sign --roster "$FT/roster.3" --key "$FT/keys/admin-1.key" \
	--previous "$FT/roster" &&
  "$K" roster sign --roster "$FT/roster.3" --key "$FT/keys/admin-2.key" \
	--previous "$FT/roster"; } >>"$FT/keys.log" 2>&1 </dev/null ||
	{ ft_fail "roster v3"; exit 1; }
cp "$FT/roster.3" "$FT/relay-roster"
ft_relay_stop
kill -HUP "$RELAY2_PID"
ft_check "alpha reaches relay-b, at its roster endpoint" \
	ft_wait 20 fa_is_relays alpha "relay-b=connected"
ft_check "WARN relay-config: relay = ignored, naming the relay it was for" \
	grep -q "WARN relay-config relay = $RELAY_EP is the endpoint of relay relay-a" "$FT/alpha.err"
fa_start bravo || exit 1
ft_check "bravo reaches relay-b" ft_wait 20 fa_is_relays bravo "relay-b=connected"
ft_check "the three referrals relay-a held are delivered through relay-b" \
	ft_wait 30 fa_all_state alpha delivered 3
ft_check "bravo's inbox holds each once" [ "$(fa_inbox_count bravo)" -eq 3 ]
fa alpha send --to bravo "$doc" >>"$FT/ids" 2>>"$FT/send.err"
ft_check "a new referral is delivered" ft_wait 20 fa_all_state alpha delivered 4

# A restart keeps relay = away from relay-b.
fa_stop alpha
fa_start alpha --no-wait
ft_check "after a restart alpha reaches relay-b" \
	ft_wait 20 fa_is_relays alpha "relay-b=connected"
fa alpha send --to bravo "$doc" >>"$FT/ids" 2>>"$FT/send.err"
ft_check "and delivers through it" ft_wait 20 fa_all_state alpha delivered 5
fa_stop alpha; fa_stop bravo; ft_relay2_stop

# The audit accounts for the resends through relay-b.
for ag in alpha bravo; do
	"$A" compare "$FT/$ag-data/log" "$FT/relay2-data/log" \
	    --roster "$FT/roster.3" >"$FT/cmp-$ag" 2>&1
	ft_check "compare $ag and relay-b passes" [ $? -eq 0 ]
	[ -s "$FT/cmp-$ag" ] && grep -i "missing\|failed" "$FT/cmp-$ag" | head -5 | sed 's/^/# /'
done
n=$("$A" export "$FT/alpha-data/log" --csv | awk -F, '$2 == "ROUTE" && $0 ~ /relay-b/' | wc -l)
ft_check "alpha logged the resends through relay-b (ROUTE entries: $n)" [ "$n" -ge 3 ]
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
