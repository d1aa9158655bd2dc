#!/bin/bash
# ferry-audit on the logs of a real network (relay + two agencies): after
# referrals are delivered, every party's log verifies, envelope signatures
# check against the roster, the agencies' logs account for each other and
# for the relay's, and a proof of a sent message checks offline.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1
A=$B/ferry-audit

ids=()
for doc in "$VECTORS"/*.json; do
	id=$(fa alpha send --to bravo "$doc" 2>>"$FT/send.err") || continue
	ids+=("$id")
	[ ${#ids[@]} -ge 3 ] && break
done
ft_check "three referrals sent" [ ${#ids[@]} -eq 3 ]
for id in "${ids[@]}"; do
	ft_check "delivered $id" fa_wait_state alpha "$id" delivered 30
done
fa_stop alpha
fa_stop bravo
ft_relay_stop

for p in alpha bravo; do
	"$A" verify "$FT/$p-data/log" --roster "$FT/roster" >"$FT/v-$p" 2>&1
	rc=$?
	ft_check "verify $p's log with the roster (exit $rc)" [ $rc -eq 0 ]
	[ $rc -eq 0 ] || sed 's/^/# /' "$FT/v-$p"
	n=$(awk '/^envelopes verified/ { print $3 }' "$FT/v-$p" | tr -d ,)
	ft_check "$p: envelope signatures checked ($n)" [ "${n:-0}" -ge 3 ]
done
# The sender's log holds the three custody and three delivery receipts
# whole, each proven (ACCEPTED_P, RECEIPT_P) under its signer's key.
n=$(awk '/^envelopes verified/ { print $NF }' "$FT/v-alpha")
ft_check "alpha: custody and delivery receipts proven ($n)" [ "${n:-0}" -ge 6 ]
"$A" verify "$FT/relay-data/log" --roster "$FT/roster" >"$FT/v-relay" 2>&1
rc=$?
ft_check "verify the relay's log (exit $rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || sed 's/^/# /' "$FT/v-relay"
"$A" compare "$FT/alpha-data/log" "$FT/bravo-data/log" >"$FT/c-ab" 2>&1
rc=$?
ft_check "compare sender and recipient (exit $rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || sed 's/^/# /' "$FT/c-ab"
"$A" compare "$FT/alpha-data/log" "$FT/relay-data/log" >"$FT/c-ar" 2>&1
rc=$?
ft_check "compare sender and relay (exit $rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || sed 's/^/# /' "$FT/c-ar"
"$A" compare "$FT/bravo-data/log" "$FT/relay-data/log" >"$FT/c-br" 2>&1
rc=$?
ft_check "compare recipient and relay (exit $rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || sed 's/^/# /' "$FT/c-br"
"$A" prove "$FT/alpha-data/log" "${ids[0]}" --kind sent >"$FT/proof" 2>"$FT/proof.err"
pk=$(awk '/^key / { print $2 }' "$FT/v-alpha")
"$A" check-proof "$FT/proof" --key "$pk" >"$FT/cp" 2>&1
ft_check "proof of a sent referral checks offline" grep -q "^OK" "$FT/cp"
n=$(awk '/^envelopes verified/ { print $NF }' "$FT/v-relay")
ft_check "relay: the recipient's receipts it logged proven ($n)" \
    [ "${n:-0}" -ge 3 ]

# A receipt checks alone, offline: the delivery receipt the sender holds
# under the recipient's key, the custody receipt under the relay's.
bpk=$(awk '/^key / { print $2 }' "$FT/v-bravo")
rpk=$(awk '/^key / { print $2 }' "$FT/v-relay")
"$A" prove "$FT/alpha-data/log" "${ids[0]}" --receipt >"$FT/rcpt" \
    2>"$FT/rcpt.err"
ft_check "prove --receipt writes the delivery receipt" [ -s "$FT/rcpt" ]
"$A" check-proof "$FT/rcpt" --key "$bpk" --origin "ferry/bravo" >"$FT/cr" 2>&1
rc=$?
ft_check "the delivery receipt checks offline (exit $rc)" \
    sh -c "[ $rc -eq 0 ] && grep -q '^RECEIPT_P of message ${ids[0]} from bravo to alpha' '$FT/cr' && grep -q '^OK' '$FT/cr'"
[ $rc -eq 0 ] || sed 's/^/# /' "$FT/cr"
"$A" check-proof "$FT/rcpt" --key "$pk" >"$FT/cr2" 2>&1
rc=$?
ft_check "the delivery receipt does not check under the sender's key" \
    sh -c "[ $rc -eq 1 ] && grep -q '^FAILED' '$FT/cr2'"
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 1; open(sys.argv[2], "wb").write(b)' \
    "$FT/rcpt" "$FT/rcpt-bad"
"$A" check-proof "$FT/rcpt-bad" --key "$bpk" >"$FT/cr3" 2>&1
rc=$?
ft_check "a receipt with a tampered path fails (exit $rc)" \
    sh -c "[ $rc -eq 1 ] && grep -q '^FAILED' '$FT/cr3'"
"$A" prove "$FT/alpha-data/log" "${ids[0]}" --receipt --kind accepted \
    >"$FT/acc" 2>"$FT/acc.err"
"$A" check-proof "$FT/acc" --key "$rpk" >"$FT/ca" 2>&1
rc=$?
ft_check "the custody receipt checks offline (exit $rc)" \
    sh -c "[ $rc -eq 0 ] && grep -q '^ACCEPTED_P of message' '$FT/ca' && grep -q '^OK' '$FT/ca'"
[ $rc -eq 0 ] || sed 's/^/# /' "$FT/ca"
"$A" prove "$FT/bravo-data/log" "${ids[0]}" --receipt >/dev/null 2>"$FT/own.err"
rc=$?
ft_check "a recipient's own RECEIPT entry holds no receipt: said (exit $rc)" \
    sh -c "[ $rc -eq 1 ] && grep -q 'holds no receipt' '$FT/own.err'"
ft_done
