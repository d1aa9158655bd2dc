#!/bin/bash
# keys-network.sh: make every key and the signed genesis roster of a local
# demo network with ferry-keys: three admins (alice, bob, carol), a 2-of-3
# roster, the relay, and four agencies (charity, police, council, health).
#
# usage: scripts/keys-network.sh FERRY_KEYS_BINARY DIR ENDPOINT
#   e.g. scripts/keys-network.sh build/release/ferry-keys /tmp/net tcp://127.0.0.1:7700
# Writes:
#   DIR/admins/NAME.key, NAME.pub
#   DIR/relay/relay.key, relay.request
#   DIR/AGENCY/AGENCY.key, AGENCY.request   (no passphrase: a demo)
#   DIR/roster.1     genesis roster signed by alice and bob
#   DIR/roster.pin   its fingerprint (the value of roster_pin)
# Exits non-zero, naming the step, if anything fails.
set -eu
K=$1 dir=$2 endpoint=$3
[ -x "$K" ] || { echo "keys-network: no ferry-keys at $K" >&2; exit 2; }
mkdir -p "$dir/admins" "$dir/relay"
q() { "$@" >/dev/null </dev/null || { echo "keys-network: failed: $*" >&2; exit 1; }; }
for a in alice bob carol; do
	q "$K" admin-init --name "$a" --out "$dir/admins"
done
q "$K" relay-init --id relay --out "$dir/relay"
reqs=()
while read -r id kind name; do
	mkdir -p "$dir/$id"
	q "$K" init --id "$id" --kind "$kind" --name "$name" --out "$dir/$id"
	reqs+=(--request "$dir/$id/$id.request")
done <<'LIST'
charity charity Helping Hands Anti-Slavery Charity
police police Metropolitan Police Modern Slavery Unit
council council Camden Council Adult Safeguarding
health health UCLH Safeguarding Team
LIST
q "$K" roster new --admins "$dir/admins/alice.pub,$dir/admins/bob.pub,$dir/admins/carol.pub" \
	--threshold 2 --relay "$dir/relay/relay.request" --endpoint "$endpoint" \
	"${reqs[@]}" --expires 365 --out "$dir/roster.1"
q "$K" roster sign --roster "$dir/roster.1" --key "$dir/admins/alice.key"
q "$K" roster sign --roster "$dir/roster.1" --key "$dir/admins/bob.key"
"$K" fingerprint "$dir/roster.1" >"$dir/roster.pin"
q "$K" roster verify "$dir/roster.1" --pin "$(cat "$dir/roster.pin")"
echo "keys-network: $dir ready (roster 1, pin $(cat "$dir/roster.pin"))"
