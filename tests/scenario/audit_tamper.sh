#!/bin/bash
# A second process changes one byte of a stored entry, or of a stored
# hash, directly in the LMDB file: ferry-audit verify must fail and name
# the entry.  Every copy of the bytes in the file is patched, so stale
# copy-on-write pages cannot hide the live one.
set -u
B=${FERRY_BIN:?}
T=$B/tests/test_log
A=$B/ferry-audit
PY=/usr/bin/python3
dir=$(mktemp -d /tmp/ferry-audit-tamper-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }
SEED=$(printf '11%.0s' $(seq 32))
PK=$("$T" pubkey "$SEED")

mklog() {
	rm -rf "$1"
	"$T" append "$1" 40 6 "$SEED" >/dev/null || { bad "append"; exit 1; }
}

# patch FILE HEXPATTERN OFFSET: flip the low bit of byte OFFSET of every
# occurrence of the pattern; prints the number patched
patch() {
	"$PY" - "$1" "$2" "$3" <<'PYEOF'
import sys
path, pat, off = sys.argv[1], bytes.fromhex(sys.argv[2]), int(sys.argv[3])
data = bytearray(open(path, 'rb').read())
n, i = 0, data.find(pat)
while i >= 0:
    data[i + off] ^= 1
    n += 1
    i = data.find(pat, i + 1)
with open(path, 'r+b') as f:
    f.write(data)
print(n)
PYEOF
}

mklog "$dir/l"
if "$A" verify "$dir/l" --key "$PK" >"$dir/out" 2>&1; then
	ok "untouched log verifies"
else
	bad "untouched log verifies"; cat "$dir/out"
fi

# 1. one byte of entry 17: its msg id, inside the entry's encoding
#    (key 3, bin8 of 16 bytes), so the index key cannot match
id17=0000000000000011000000000000005a
n=$(patch "$dir/l/data.mdb" "03c410$id17" 18)
"$A" verify "$dir/l" --key "$PK" >"$dir/out" 2>&1
rc=$?
if [ "$n" -ge 1 ] && [ $rc -eq 1 ] && grep -q "first bad entry 17:" "$dir/out"; then
	ok "changed entry byte detected and named (entry 17)"
else
	bad "changed entry byte detected (patched $n, rc $rc)"; cat "$dir/out"
fi

# 2. one byte of a stored hash: the leaf hash of entry 23
mklog "$dir/l"
leaf=$("$A" export "$dir/l" --csv | awk -F, '$1 == 23 { print $12 }')
n=$(patch "$dir/l/data.mdb" "$leaf" 31)
"$A" verify "$dir/l" --key "$PK" >"$dir/out" 2>&1
rc=$?
if [ "$n" -ge 1 ] && [ $rc -eq 1 ] && grep -q "first bad entry 23:" "$dir/out"; then
	ok "changed stored hash detected and named (entry 23)"
else
	bad "changed stored hash detected (patched $n, rc $rc)"; cat "$dir/out"
fi

# 3. a byte of the stored checkpoint signature
mklog "$dir/l"
# (the signature line is base64 text: flip a bit of one of its letters)
sig=$("$T" checkpoint "$dir/l" | tail -1 | awk '{print $3}' | head -c 24 | od -An -tx1 | tr -d ' \n')
n=$(patch "$dir/l/data.mdb" "$sig" 12)
"$A" verify "$dir/l" --key "$PK" >"$dir/out" 2>&1
rc=$?
if [ "$n" -ge 1 ] && [ $rc -eq 1 ] && grep -q "^FAIL: .*checkpoint" "$dir/out"; then
	ok "changed checkpoint signature detected"
else
	bad "changed checkpoint signature detected (patched $n, rc $rc)"; cat "$dir/out"
fi

# 4. a different pinned key: the stored key cannot be trusted alone
mklog "$dir/l"
other=$("$T" pubkey "$(printf '22%.0s' $(seq 32))")
"$A" verify "$dir/l" --key "$other" >"$dir/out" 2>&1
if [ $? -eq 1 ] && grep -q "not the pinned key" "$dir/out"; then
	ok "wrong pinned key refused"
else
	bad "wrong pinned key refused"; cat "$dir/out"
fi

# 5. entries appended past the latest signed checkpoint (by someone who
#    can write the file but has not the key: hashes right, no signature):
#    the checkpoint of 3 entries put back over that of 5
rm -rf "$dir/c3" "$dir/c5"
"$T" append "$dir/c5" 3 1 "$SEED" >/dev/null && cp -a "$dir/c5" "$dir/c3" &&
    "$T" append "$dir/c5" 5 1 "$SEED" >/dev/null &&
    mdb_dump -s meta "$dir/c3" | mdb_load -s meta "$dir/c5" 2>/dev/null ||
    bad "make a log with entries past its checkpoint"
"$A" verify "$dir/c5" --key "$PK" >"$dir/out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "first bad entry 3:.*carry no signature" "$dir/out"; then
	ok "entries past the latest signed checkpoint refused, named (entry 3)"
else
	bad "entries past the latest signed checkpoint refused (rc $rc)"
	cat "$dir/out"
fi

# 6. a data file cut short: a clear error and exit 1 from every command,
#    not a crash (SIGBUS reading a missing page through the map; ASan's
#    own SIGBUS handler left aside, as in the release build)
mklog "$dir/l"
mkdir -p "$dir/cut"
size=$(stat -c %s "$dir/l/data.mdb")
head -c $((size / 2)) "$dir/l/data.mdb" >"$dir/cut/data.mdb"
for cmd in verify "export --json"; do
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:handle_sigbus=0" \
	    "$A" $cmd "$dir/cut" >"$dir/out" 2>&1
	rc=$?
	if [ $rc -eq 1 ] && grep -q "cut short\|corrupted or altered" "$dir/out"; then
		ok "$cmd of a data file cut short: exit 1, says why"
	else
		bad "$cmd of a data file cut short (rc $rc)"; cat "$dir/out"
	fi
done

# 7. a log whose origin is not ferry/<id> names no party: a log rebuilt
#    under "met-police" or "x/ferry/met-police" must not pass for
#    met-police's while every checkpoint others hold of it (origin
#    ferry/met-police) is left aside
for origin in met-police x/ferry/met-police; do
	rm -rf "$dir/o"
	"$T" append "$dir/o" 5 1 "$SEED" "$origin" >/dev/null ||
	    bad "make a log of origin $origin"
	"$A" verify "$dir/o" --key "$PK" >"$dir/out" 2>&1
	rc=$?
	if [ $rc -eq 1 ] && grep -q "is not ferry/<agency or relay id>" "$dir/out"; then
		ok "verify: origin $origin names no party, refused"
	else
		bad "verify: origin $origin refused (rc $rc)"; cat "$dir/out"
	fi
	"$A" compare "$dir/l" "$dir/o" >"$dir/out" 2>&1
	rc=$?
	if [ $rc -eq 1 ] && grep -q "is not ferry/<agency or relay id>" "$dir/out"; then
		ok "compare: origin $origin names no party, refused"
	else
		bad "compare: origin $origin refused (rc $rc)"; cat "$dir/out"
	fi
done

# 8. a receipt by proof that proves something, but not what its entry
#    says: another agency's "delivery receipt" in a RECEIPT entry of the
#    recipient's, or of its own; an agency's "custody receipt" (only a
#    relay takes custody)
for c in "receipt met-police|is nhs-uclh's" \
    "receipt nhs-uclh|a delivery receipt is the recipient's" \
    "accepted nhs-uclh|no relay of roster 1"; do
	args=${c%%|*} want=${c#*|}
	rm -rf "$dir/fp" && mkdir "$dir/fp"
	# shellcheck disable=SC2086
	set -- $("$T" foreign-proof "$dir/fp" $args)
	"$A" verify "$dir/fp/charity" --key "$1" --roster "$dir/fp/roster.1" \
	    --pin "$2" >"$dir/out" 2>&1
	rc=$?
	if [ $rc -eq 1 ] && grep -q "first bad entry 1: .*$want" "$dir/out"; then
		ok "receipt by proof of the wrong party refused ($args)"
	else
		bad "receipt by proof of the wrong party refused ($args, rc $rc)"
		cat "$dir/out"
	fi
done

# 9. usage errors exit 2
"$A" verify >/dev/null 2>&1
[ $? -eq 2 ] && ok "usage exits 2" || bad "usage exits 2"
exit $fail
