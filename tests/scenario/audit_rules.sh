#!/bin/bash
# ferry-audit verify's rules on entries: an authorised erasure keeps the
# log valid (tree, checkpoints, proofs) and its envelope is gone; an
# erasure requested by a party that is neither sender nor recipient, and
# a receipt for a message never logged, each fail verify naming the entry.
set -u
B=${FERRY_BIN:?}
T=$B/tests/test_log
A=$B/ferry-audit
dir=$(mktemp -d /tmp/ferry-audit-rules-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }
SEED=$(printf '77%.0s' $(seq 32))
PK=$("$T" pubkey "$SEED")

"$T" append "$dir/l" 10 5 "$SEED" >/dev/null || bad "append"
"$A" prove "$dir/l" 0000000000000004000000000000005a >"$dir/proof" || bad "prove"
out=$("$T" erase "$dir/l" "$SEED" 4 camden-council)
[ "$out" = "erased at 10" ] && ok "erasure requested by the recipient logged" \
    || bad "erasure logged ($out)"
"$A" verify "$dir/l" --key "$PK" >"$dir/out" 2>&1
if [ $? -eq 0 ] && grep -q "^erasures 1$" "$dir/out"; then
	ok "log with an authorised erasure verifies; envelope counted erased"
else
	bad "authorised erasure verifies"; cat "$dir/out"
fi
"$A" check-proof "$dir/proof" --key "$PK" >"$dir/out" 2>&1 &&
    ok "proof made before the erasure still checks" || bad "old proof checks"
"$A" export "$dir/l" --csv | grep -q "^10,ERASURE,.*,camden-council,,4,2," &&
    ok "erasure entry names the message's first entry and the reason" ||
    bad "erasure entry fields"
out=$("$T" erase "$dir/l" "$SEED" 4 camden-council)
[ "$out" = "error FERRY_EDUPMSG" ] && ok "second erasure refused" || bad "second erasure ($out)"

out=$("$T" erase "$dir/l" "$SEED" 6 nhs-uclh)
"$A" verify "$dir/l" --key "$PK" >"$dir/out" 2>&1
if [ $? -eq 1 ] && grep -q "first bad entry 11: erasure requested by nhs-uclh" "$dir/out"; then
	ok "erasure by a third party fails verify, naming the entry"
else
	bad "unauthorised erasure detected ($out)"; cat "$dir/out"
fi

"$T" append "$dir/m" 5 5 "$SEED" >/dev/null || bad "append m"
out=$("$T" orphan "$dir/m" "$SEED" 9)
"$A" verify "$dir/m" --key "$PK" >"$dir/out" 2>&1
if [ $? -eq 1 ] && grep -q "first bad entry 5: receipt for a message not logged" "$dir/out"; then
	ok "receipt for an unlogged message fails verify, naming the entry"
else
	bad "orphan receipt detected ($out)"; cat "$dir/out"
fi
# A message known only by a NACK has no sender or recipient to authorise
# an erasure request: whoever is named must not pass for one of them.
"$T" nack "$dir/n" "$SEED" 7 >/dev/null || bad "nack"
out=$("$T" erase "$dir/n" "$SEED" 7 nhs-uclh)
"$A" verify "$dir/n" --key "$PK" >"$dir/out" 2>&1
if [ $? -eq 1 ] && grep -q "first bad entry 1: erasure requested by nhs-uclh" "$dir/out"; then
	ok "erasure of a message with no known sender or recipient fails verify"
else
	bad "unauthorised erasure of a NACK-only message detected ($out)"; cat "$dir/out"
fi
# The oldest --roster is the chain's anchor: it must carry a threshold of
# its own admins' signatures, else any unsigned file would vouch for keys.
K=$B/ferry-keys
unset FERRY_PASSPHRASE	# no passphrase, no terminal: unsealed keys (an empty one is refused)
mkdir "$dir/k"
for a in admin-1 admin-2; do
	"$K" admin-init --name $a --out "$dir/k" >/dev/null || bad "admin-init $a"
done
"$K" relay-init --out "$dir/k" >/dev/null || bad "relay-init"
"$K" roster new --admins "$dir/k/admin-1.pub,$dir/k/admin-2.pub" --threshold 2 \
    --relay "$dir/k/relay.request" --out "$dir/unsigned" >/dev/null || bad "roster new"
"$T" nack "$dir/r" "$SEED" 8 >/dev/null || bad "nack r"
"$A" verify "$dir/r" --key "$PK" --roster "$dir/unsigned" >"$dir/out" 2>&1
if [ $? -eq 1 ] && grep -q "roster 1: 0 of 2 signatures" "$dir/out"; then
	ok "an unsigned roster given to verify is refused as the anchor"
else
	bad "unsigned roster anchor refused"; cat "$dir/out"
fi
"$K" roster sign --roster "$dir/unsigned" --key "$dir/k/admin-1.key" >/dev/null &&
"$K" roster sign --roster "$dir/unsigned" --key "$dir/k/admin-2.key" >/dev/null ||
    bad "roster sign"
"$A" verify "$dir/r" --key "$PK" --roster "$dir/unsigned" >"$dir/out" 2>&1 &&
    ok "the same roster signed by 2 of 2 admins is accepted" ||
    { bad "signed roster anchor accepted"; cat "$dir/out"; }
# --pin: the anchor must be the roster the installation was given.
pin=$("$K" fingerprint "$dir/unsigned") || bad "fingerprint"
"$A" verify "$dir/r" --key "$PK" --roster "$dir/unsigned" --pin "$pin" \
    >"$dir/out" 2>&1 && ! grep -q "no --pin" "$dir/out" &&
    ok "verify --pin accepts the pinned anchor" ||
    { bad "verify --pin accepts the pinned anchor"; cat "$dir/out"; }
"$K" roster new --admins "$dir/k/admin-1.pub,$dir/k/admin-2.pub" --threshold 1 \
    --relay "$dir/k/relay.request" --out "$dir/other" >/dev/null &&
"$K" roster sign --roster "$dir/other" --key "$dir/k/admin-1.key" >/dev/null ||
    bad "other roster"
other=$("$K" fingerprint "$dir/other") || bad "fingerprint other"
"$A" verify "$dir/r" --key "$PK" --roster "$dir/unsigned" --pin "$other" \
    >"$dir/out" 2>&1
if [ $? -eq 1 ] && grep -q "does not match the pinned fingerprint" "$dir/out"; then
	ok "verify --pin refuses a validly signed anchor that is not the pinned one"
else
	bad "verify --pin refuses another anchor"; cat "$dir/out"
fi
"$A" verify "$dir/r" --key "$PK" --pin "$pin" >"$dir/out" 2>&1
[ $? -eq 2 ] && ok "verify --pin without --roster is a usage error" ||
    bad "verify --pin without --roster"
exit $fail
