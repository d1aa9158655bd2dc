#!/bin/bash
# A log truncated or forked behind a checkpoint someone else holds is
# detected, by verify --checkpoint and by compare.  Also: prove and
# check-proof round trip, and a tampered proof is refused.
set -u
B=${FERRY_BIN:?}
T=$B/tests/test_log
A=$B/ferry-audit
dir=$(mktemp -d /tmp/ferry-audit-fork-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }
SEED=$(printf '33%.0s' $(seq 32))
SEED2=$(printf '44%.0s' $(seq 32))
PK=$("$T" pubkey "$SEED")
PK2=$("$T" pubkey "$SEED2")

"$T" append "$dir/a" 20 4 "$SEED" >/dev/null || bad "append a"
"$T" checkpoint "$dir/a" >"$dir/held" || bad "checkpoint"
if "$A" verify "$dir/a" --key "$PK" --checkpoint "$dir/held" >"$dir/out"; then
	ok "log verifies against the checkpoint held of it"
else
	bad "log verifies against held checkpoint"; cat "$dir/out"
fi

# the same party later presents only 12 entries (same key, same content)
"$T" append "$dir/t" 12 4 "$SEED" >/dev/null || bad "append t"
"$A" verify "$dir/t" --key "$PK" >"$dir/out" && ok "truncated log verifies alone" \
    || bad "truncated log verifies alone"
"$A" verify "$dir/t" --key "$PK" --checkpoint "$dir/held" >"$dir/out"
if [ $? -eq 1 ] && grep -q "log truncated" "$dir/out"; then
	ok "truncation behind a held checkpoint detected"
else
	bad "truncation detected"; cat "$dir/out"
fi

# a forked history: entry 7 differs, same length, re-signed by the party
"$T" append "$dir/f" 20 4 "$SEED" ferry/met-police 7 >/dev/null || bad "append f"
"$A" verify "$dir/f" --key "$PK" >"$dir/out" && ok "forked log verifies alone" \
    || bad "forked log verifies alone"
"$A" verify "$dir/f" --key "$PK" --checkpoint "$dir/held" >"$dir/out"
if [ $? -eq 1 ] && grep -q "rewritten or forked" "$dir/out"; then
	ok "fork behind a held checkpoint detected"
else
	bad "fork detected"; cat "$dir/out"
fi

# compare: two agents' logs that agree, then one that lost a message
"$T" pair "$dir/pa" "$dir/pb" 6 "$SEED" "$SEED2" || bad "pair p"
"$T" pair "$dir/qa" "$dir/qb" 5 "$SEED" "$SEED2" || bad "pair q"
if "$A" compare "$dir/pa" "$dir/pb" --key-a "$PK" --key-b "$PK2" >"$dir/out"; then
	ok "compare: sender and recipient agree"
else
	bad "compare agree"; cat "$dir/out"
fi
"$A" compare "$dir/pa" "$dir/qb" >"$dir/out"
if [ $? -eq 1 ] && grep -q "msg 0000000000000005000000000000005a: .*no RECEIVED" "$dir/out"; then
	ok "compare: message missing at the recipient listed"
else
	bad "compare missing message"; cat "$dir/out"
fi
# the recipient holds a checkpoint of the sender; a forked sender is caught
"$T" pair "$dir/ra" "$dir/rb" 6 "$SEED" "$SEED2" || bad "pair r"
rm -rf "$dir/ra"
"$T" append "$dir/ra" 3 1 "$SEED" >/dev/null
"$A" compare "$dir/ra" "$dir/rb" >"$dir/out"
if [ $? -eq 1 ] && grep -q "truncated\|rewritten or forked" "$dir/out"; then
	ok "compare: rewritten sender log caught by the checkpoint its peer holds"
else
	bad "compare catches rewritten log"; cat "$dir/out"
fi

# an entry replaced in place, its stored hashes left as they were: the
# checkpoint the peer holds matches those hashes, not the entries; compare
# must not count it as verified
"$T" pair "$dir/sa" "$dir/sb" 6 "$SEED" "$SEED2" || bad "pair s"
"$T" append "$dir/sx" 6 1 "$SEED" >/dev/null || bad "append sx"
mdb_dump -s entries "$dir/sx" | awk '
	/^HEADER=END$/ { print; body = 1; next }
	!body { print; next }
	/^DATA=END$/ { print; next }
	pair == 1 { if (keep) print; pair = 0; next }
	{ keep = ($1 == "0000000000000002"); if (keep) print; pair = 1 }' |
    mdb_load -s entries "$dir/sa" 2>/dev/null || bad "replace entry 2 of sa"
"$A" compare "$dir/sa" "$dir/sb" >"$dir/out"
if [ $? -eq 1 ] && grep -q "does not match its own entries from entry 2" "$dir/out"; then
	ok "compare: an entry replaced under its stored hashes is caught"
else
	bad "compare catches an entry replaced under its hashes"; cat "$dir/out"
fi

# prove / check-proof
"$A" prove "$dir/a" 0000000000000009000000000000005a >"$dir/proof" || bad "prove"
if "$A" check-proof "$dir/proof" --key "$PK" >"$dir/out" &&
    grep -q "^entry 9 SENT" "$dir/out"; then
	ok "proof checks offline with the public key"
else
	bad "proof checks"; cat "$dir/out"
fi
"$A" check-proof "$dir/proof" --key "$PK2" >"$dir/out"
if [ $? -eq 1 ] && grep -q "no signature by that key" "$dir/out"; then
	ok "proof refused with another key, saying so"
else
	bad "proof other key"; cat "$dir/out"
fi
# change one proof hash line (line 4)
awk 'NR == 4 { $0 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" } { print }' \
    "$dir/proof" >"$dir/proof2"
"$A" check-proof "$dir/proof2" --key "$PK" >"$dir/out"
if [ $? -eq 1 ] && grep -q "not in the tree" "$dir/out"; then
	ok "tampered proof refused"
else
	bad "tampered proof refused"; cat "$dir/out"
fi
# change the proven entry (the extra line): index 9 claimed for entry 9'
sed '3s/^index 9$/index 8/' "$dir/proof" >"$dir/proof3"
"$A" check-proof "$dir/proof3" --key "$PK" >"$dir/out"
[ $? -eq 1 ] && ok "proof with a wrong index refused" || bad "wrong index refused"
# the index is canonical decimal: no leading zero, no overflow (2^64 + 9)
for idx in 09 18446744073709551625 ""; do
	sed "3s/^index 9\$/index $idx/" "$dir/proof" >"$dir/proof4"
	"$A" check-proof "$dir/proof4" --key "$PK" >"$dir/out"
	if [ $? -eq 1 ] && grep -q "not a well-formed proof file" "$dir/out"; then
		ok "proof index '$idx' refused as malformed"
	else
		bad "proof index '$idx' refused"; cat "$dir/out"
	fi
done
"$A" prove "$dir/a" 00000000000000ff000000000000005a >/dev/null 2>&1
[ $? -eq 1 ] && ok "prove of an unknown message fails" || bad "prove unknown"
"$A" export "$dir/a" --json | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["origin"] == "ferry/met-police" and len(d["entries"]) == 20
assert d["entries"][9]["msg_id"] == "0000000000000009000000000000005a"
' && ok "export --json is valid JSON with every entry" || bad "export json"
exit $fail
