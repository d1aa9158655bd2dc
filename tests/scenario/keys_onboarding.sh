#!/bin/bash
# keys_onboarding.sh: the whole onboarding run with the real ferry-keys
# binary: three admins, a 2-of-3 genesis roster pinned by fingerprint, a
# new agency's key request added and signed by two of three admins, and a
# party holding only the previous roster verifying the new one; then
# revocation, rotation, an admin change, and the refusals a person would
# meet (one signature short, a non-admin, a forged request, rollback,
# expiry, usage errors).
set -u
K=${FERRY_BIN:-build/asan}/ferry-keys
[ -x "$K" ] || { echo "not ok - ferry-keys not built at $K"; exit 1; }
K=$(cd "$(dirname "$K")" && pwd)/ferry-keys
dir=$(mktemp -d /tmp/ferry-keys-XXXXXX)
cleanup() { rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir" || exit 1
# Never prompt: no terminal, no passphrase unless a test asks for one.
exec </dev/null
unset FERRY_PASSPHRASE

fails=0
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; fails=$((fails + 1)); }
# check NAME EXPECTED_RC CMD...: run CMD, compare its exit status.
check() {
	local name=$1 want=$2; shift 2
	"$@" >out.txt 2>err.txt
	local rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$name"; else
		notok "$name (exit $rc, wanted $want)"
		sed 's/^/# /' out.txt err.txt | head -20
	fi
}
# has NAME PATTERN FILE: the file contains the fixed string.
has() {
	if grep -qF -- "$2" "$3"; then ok "$1"; else
		notok "$1: no '$2' in $3"; sed 's/^/# /' "$3" | head -10
	fi
}

# 1. Admin keys and the relay.
mkdir admins relay agencies central
for a in alice bob carol; do
	check "admin-init $a" 0 "$K" admin-init --name "$a" --out admins
done
check "relay-init" 0 "$K" relay-init --id relay --out relay
mode=$(stat -c %a admins/alice.key)
[ "$mode" = 600 ] && ok "admin key file is 0600" || notok "admin key mode $mode"
check "admin-init refuses to overwrite" 1 "$K" admin-init --name alice --out admins

# 2. Founding agencies, one with a passphrase-sealed key.
printf 'correct horse battery staple\n' >pass.txt
chmod 600 pass.txt
check "init charity (sealed)" 0 "$K" init --id charity --kind charity \
	--name "Helping Hands" --out agencies --passphrase-file pass.txt
has "init prints a fingerprint" "fingerprint: " out.txt
check "init police" 0 "$K" init --id police --kind police \
	--name "Metropolitan Police" --out agencies
check "sealed key needs its passphrase" 1 "$K" fingerprint agencies/charity.key
check "sealed key opens with it" 0 "$K" fingerprint \
	--passphrase-file pass.txt agencies/charity.key
FERRY_PASSPHRASE='correct horse battery staple' check \
	"sealed key opens with FERRY_PASSPHRASE" 0 "$K" fingerprint agencies/charity.key
chmod 644 agencies/police.key
check "group-readable key file refused" 1 "$K" fingerprint agencies/police.key
chmod 600 agencies/police.key

# 3. Genesis roster, 2 of 3, signed by alice and bob; pinned.
check "roster new" 0 "$K" roster new \
	--admins admins/alice.pub,admins/bob.pub,admins/carol.pub --threshold 2 \
	--relay relay/relay.request --endpoint tcp://127.0.0.1:7700 \
	--request agencies/charity.request --request agencies/police.request \
	--expires 30 --out central/roster.1
pin=$("$K" fingerprint central/roster.1)
check "unsigned genesis refused" 1 "$K" roster verify central/roster.1 --pin "$pin"
has "says who must sign" "need 2 more of alice, bob, carol" out.txt
check "alice signs genesis" 0 "$K" roster sign --roster central/roster.1 --key admins/alice.key
has "signing the genesis says how many must still sign" "roster 1 signed by alice (1 signatures; 1 more of its admins must sign)" out.txt
check "bob signs genesis" 0 "$K" roster sign --roster central/roster.1 --key admins/bob.key
check "genesis verifies against its pin" 0 "$K" roster verify central/roster.1 --pin "$pin"
check "genesis refused with another pin" 1 "$K" roster verify central/roster.1 \
	--pin "00000 00000 00000 00000 00000 00000 00000 00000"
has "wrong pin named" "FERRY_EPIN" out.txt
pin2=$("$K" fingerprint central/roster.1)
[ "$pin" = "$pin2" ] && ok "signatures do not change the roster fingerprint" ||
	notok "fingerprint changed after signing"

# An agency installs with only the pinned genesis.
mkdir council-site
cp central/roster.1 council-site/roster.1

# 4. A new partner: the council makes its keys and sends its request.
mkdir newcomer
check "council init" 0 "$K" init --id council --kind council \
	--name "Camden Council" --out newcomer
told=$(sed -n 's/^fingerprint: //p' out.txt)
cp newcomer/council.request central/
# The admin reads the fingerprint back on the phone.
heard=$("$K" fingerprint central/council.request)
[ -n "$told" ] && [ "$told" = "$heard" ] && ok "out-of-band fingerprint matches" ||
	notok "fingerprint mismatch: told '$told' heard '$heard'"

check "roster add" 0 "$K" roster add --roster central/roster.1 \
	--request central/council.request --expires 30 --out central/roster.2
has "a later version's fingerprint is not taken for the pin" "(of this version; roster_pin stays the install roster's)" out.txt
has "add shows the fingerprint to check" "$told" out.txt
check "carol signs roster 2" 0 "$K" roster sign --roster central/roster.2 \
	--key admins/carol.key --previous central/roster.1
has "sign reports what is missing" "have carol; need one more of alice, bob" out.txt
cp central/roster.2 council-site/roster.2.one-sig
check "one admin short refused" 1 "$K" roster verify council-site/roster.2.one-sig \
	--previous council-site/roster.1
has "one short: FERRY_ETHRESHOLD" "FERRY_ETHRESHOLD" out.txt
check "carol cannot sign twice" 1 "$K" roster sign --roster central/roster.2 \
	--key admins/carol.key
check "alice signs roster 2" 0 "$K" roster sign --roster central/roster.2 \
	--key admins/alice.key --previous central/roster.1
# The relay pushes roster 2; the council-site holds only roster 1.
cp central/roster.2 council-site/roster.2
check "party with only roster 1 accepts roster 2" 0 "$K" roster verify \
	council-site/roster.2 --previous council-site/roster.1
has "verify names the signers" "signed by carol, alice" out.txt
check "roster show" 0 "$K" roster show council-site/roster.2
has "show lists the council" "Camden Council" out.txt
check "roster show --json" 0 "$K" roster show --json council-site/roster.2
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); \
assert d["version"]==2 and [a["id"] for a in d["agencies"]]==["charity","council","police"] \
and d["threshold"]==2 and len(d["signatures"])==2' out.txt; then
	ok "json is parseable and complete"; else notok "json content"; fi

# 5. Refusals a person meets.
# A non-admin (the police agency's key) signs.
cp central/roster.2 nonadmin.roster
check "agency key cannot sign as admin" 1 "$K" roster sign --roster nonadmin.roster \
	--key agencies/police.key
# A forged request: one byte of the council's request changed.
/usr/bin/python3 - newcomer/council.request forged.request <<'EOF'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
i = b.find(b'Camden')
b[i] = ord('K')
open(sys.argv[2], 'wb').write(bytes(b))
EOF
check "forged request refused" 1 "$K" roster add --roster central/roster.2 \
	--request forged.request --out forged.roster
has "forged: proof of possession" "proof of possession" err.txt
check "duplicate agency refused" 1 "$K" roster add --roster central/roster.2 \
	--request central/council.request --out dup.roster
# Rollback: roster 1 offered to someone holding roster 2; skip 2 -> 4.
check "older roster refused" 1 "$K" roster verify council-site/roster.1 \
	--previous council-site/roster.2
has "rollback named" "FERRY_EROLLBACK" out.txt
check "equal roster refused" 1 "$K" roster verify council-site/roster.2 \
	--previous council-site/roster.2

# 6. Revocation: police is revoked in roster 3.
check "roster revoke" 0 "$K" roster revoke --roster central/roster.2 --id police \
	--expires 30 --out central/roster.3
check "bob signs roster 3" 0 "$K" roster sign --roster central/roster.3 --key admins/bob.key
check "carol signs roster 3" 0 "$K" roster sign --roster central/roster.3 --key admins/carol.key
check "roster 3 verifies" 0 "$K" roster verify central/roster.3 --previous central/roster.2
check "skipped version refused" 1 "$K" roster verify central/roster.3 \
	--previous central/roster.1
"$K" roster show --json central/roster.3 >r3.json
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); \
p=[a for a in d["agencies"] if a["id"]=="police"][0]; \
assert p["status"]=="revoked" and p["revoked"]==3' r3.json; then
	ok "police revoked in roster 3"; else notok "police not revoked"; fi
check "revoking twice refused" 1 "$K" roster revoke --roster central/roster.3 \
	--id police --out again.roster

# 7. Rotation of the charity's encryption key with a 7-day overlap.
cp agencies/charity.key before-rotation.key
check "roster rotate" 0 "$K" roster rotate --roster central/roster.3 \
	--key agencies/charity.key --passphrase-file pass.txt --overlap 7 \
	--expires 30 --out central/roster.4
has "rotate names the overlap" "still opens messages until" out.txt
cmp -s agencies/charity.key before-rotation.key && notok "key file not rotated" ||
	ok "key file rotated"
check "rotated key file still sealed" 1 "$K" fingerprint agencies/charity.key
check "alice signs roster 4" 0 "$K" roster sign --roster central/roster.4 --key admins/alice.key
check "carol signs roster 4" 0 "$K" roster sign --roster central/roster.4 --key admins/carol.key
check "roster 4 verifies" 0 "$K" roster verify central/roster.4 --previous central/roster.3
"$K" roster show --json central/roster.4 >r4.json
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); \
c=[a for a in d["agencies"] if a["id"]=="charity"][0]; \
ids=[k["key_id"] for k in c["enc"]]; assert ids==[1,2], ids; \
assert c["enc"][0]["not_after"] - c["enc"][1]["not_before"] == 7*86400000' r4.json; then
	ok "roster 4 lists old and new keys with a 7-day overlap"; else
	notok "rotation keys in roster 4"; fi

# 8. Admin change: dave replaces alice.  Only the new admins: refused.
check "admin-init dave" 0 "$K" admin-init --name dave --out admins
check "roster admins" 0 "$K" roster admins --roster central/roster.4 \
	--remove alice --add admins/dave.pub --out central/roster.5
check "dave signs roster 5" 0 "$K" roster sign --roster central/roster.5 \
	--key admins/dave.key
check "bob signs roster 5" 0 "$K" roster sign --roster central/roster.5 \
	--key admins/bob.key
check "alice (retiring) needs --previous" 1 "$K" roster sign \
	--roster central/roster.5 --key admins/alice.key
cp central/roster.5 only-new.roster
check "retiring admin signs" 0 "$K" roster sign --roster central/roster.5 \
	--key admins/alice.key --previous central/roster.4
check "roster 5 verifies (old and new thresholds)" 0 "$K" roster verify \
	central/roster.5 --previous central/roster.4
"$K" admin-init --name erin --out admins >/dev/null
"$K" admin-init --name frank --out admins >/dev/null
check "roster admins (replace all)" 0 "$K" roster admins --roster central/roster.5 \
	--remove bob --remove carol --remove dave --add admins/erin.pub \
	--add admins/frank.pub --threshold 2 --out new-admins.roster
"$K" roster sign --roster new-admins.roster --key admins/erin.key >/dev/null
"$K" roster sign --roster new-admins.roster --key admins/frank.key >/dev/null
check "admin change signed only by new admins refused" 1 "$K" roster verify \
	new-admins.roster --previous central/roster.5
has "names the old set" "from the admins of roster 5: have none" out.txt

# 9. Expiry: roster 5 expires in 365 days; an agent checking later refuses.
late=$(( $(date +%s) * 1000 + 400 * 86400000 ))
check "expired roster refused" 1 "$K" roster verify central/roster.5 \
	--previous central/roster.4 --at "$late"
has "expiry named" "FERRY_EEXPIRED" out.txt
check "expired roster refused at a UTC date (--at YYYY-MM-DD)" 1 "$K" roster \
	verify central/roster.5 --previous central/roster.4 \
	--at "$(date -u -d @$((late / 1000)) +%Y-%m-%d)"
has "expiry named (date)" "FERRY_EEXPIRED" out.txt
check "roster verify --at a date that does not exist: usage" 2 "$K" roster \
	verify central/roster.5 --previous central/roster.4 --at 2026-02-30

# 10. Usage errors exit 2, on stderr.
check "no command" 2 "$K"
check "unknown command" 2 "$K" frobnicate
check "roster new without admins" 2 "$K" roster new --threshold 2 --out x
check "verify needs --previous or --pin" 2 "$K" roster verify central/roster.2
check "bad kind" 2 "$K" init --id x --kind spy --name X --out .
has "usage on stderr" "kind must be" err.txt
check "bad id" 2 "$K" init --id BAD_ID --kind other --name X --out .
check "name with a control character" 2 "$K" init --id x --kind other \
	--name "$(printf 'X\033[2K')" --out .
has "control characters named" "control characters" err.txt
[ ! -e x.key ] && ok "no key written for a bad name" || notok "x.key written"

[ "$fails" -eq 0 ]
