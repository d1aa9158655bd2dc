#!/bin/bash
# Encryption key rotation with ferry-agent: a referral sealed to bravo's
# old key (queued at the relay while bravo is offline) and one sealed to
# its new key after the rotated roster was pushed both open at bravo, which
# holds both keys during the overlap.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
doc=$VECTORS/health-charity-to-nhs.json

m1=$(fa alpha send --to bravo "$doc")
ft_check "m1 (old key) accepted while bravo is offline" fa_wait_state alpha "$m1" accepted 30

K=$B/ferry-keys
"$K" roster rotate --roster "$FT/roster" --key "$FT/keys/bravo.key" \
	--overlap 1 --out "$FT/roster.2" >"$FT/rot.out" 2>&1
ft_check "ferry-keys rotated bravo's encryption key" [ $? -eq 0 ]
for i in 1 2; do
	"$K" roster sign --roster "$FT/roster.2" --key "$FT/keys/admin-$i.key" \
		--previous "$FT/roster" >>"$FT/rot.out" 2>&1
done
ft_check "roster 2 verifies" "$K" roster verify "$FT/roster.2" --previous "$FT/roster"
cp "$FT/roster.2" "$FT/relay-roster"
ft_relay_hup
_v() { fa "$1" status | grep -q "roster version $2"; }
ft_check "alpha adopted the rotated roster" ft_wait 20 _v alpha 2
m2=$(fa alpha send --to bravo "$doc")
ft_check "m2 (new key) accepted" fa_wait_state alpha "$m2" accepted 30
ft_check "m1 was sealed to key 1" grep -q "queued msg=$m1 to=bravo key=1 " "$FT/alpha.err"
ft_check "m2 was sealed to key 2" grep -q "queued msg=$m2 to=bravo key=2 " "$FT/alpha.err"

fa_start bravo || exit 1
ft_check "m1 sealed to the old key delivered" fa_wait_state alpha "$m1" delivered 30
ft_check "m2 sealed to the new key delivered" fa_wait_state alpha "$m2" delivered 30
ft_check "bravo adopted roster 2 from the relay" ft_wait 20 _v bravo 2
ft_check "bravo refused nothing" [ "$(ft_count 'refused msg=' "$FT/bravo.err")" -eq 0 ]
fa_stop alpha; fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
