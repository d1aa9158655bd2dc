#!/bin/bash
# ferry-audit with two relays (issue 12), on logs written by test_log
# relays: met-police's message 0 routed to relay-a, then to relay-b (link
# lost), carried by relay-b; message 1 carried by relay-a; message 2 from
# camden-council through relay-a.  compare holds between each agency and
# each relay (a relay is not expected to hold what went through the
# other); a relay that logged accepting a message never routed to it is
# MISSING; verify accepts ROUTE entries and one ACCEPTED per relay (and
# fails one from a relay never routed to); report names the relay that
# carried each message and every route with its reason.
set -u
B=${FERRY_BIN:?}
T=$B/tests/test_log
A=$B/ferry-audit
dir=$(mktemp -d /tmp/ferry-audit-relays-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }
SEED=$(printf '55%.0s' $(seq 32))
PK=$("$T" pubkey "$SEED")
M0=0000000000000000000000000000005a
M1=0000000000000001000000000000005a

"$T" relays "$dir/police" "$dir/council" "$dir/relay-a" "$dir/relay-b" \
	"$dir/stray" "$SEED" || bad "test_log relays"
for p in police council relay-a relay-b; do
	"$A" verify "$dir/$p" --key "$PK" >"$dir/out" 2>&1 &&
		ok "verify $p (ROUTE entries accepted)" ||
		{ bad "verify $p"; sed 's/^/# /' "$dir/out"; }
done
# A roster listing both relays (for compare of an agency whose own log
# names only one of them).
K=$B/ferry-keys
k() { "$K" "$@" >>"$dir/keys.log" 2>&1 </dev/null || bad "ferry-keys $1 $2"; }
k admin-init --name admin-1 --out "$dir"
k relay-init --id relay-a --out "$dir"
k relay-init --id relay-b --out "$dir"
k init --id met-police --kind police --name "Met Police" --out "$dir"
k init --id camden-council --kind council --name "Camden" --out "$dir"
k roster new --admins "$dir/admin-1.pub" --threshold 1 --relay "$dir/relay-a.request" \
	--endpoint tcp://127.0.0.1:1 --request "$dir/met-police.request" \
	--request "$dir/camden-council.request" --expires 365 --out "$dir/roster.1"
k roster sign --roster "$dir/roster.1" --key "$dir/admin-1.key"
k roster add-relay --roster "$dir/roster.1" --relay "$dir/relay-b.request" \
	--endpoint tcp://127.0.0.1:2 --out "$dir/roster.2"
k roster sign --roster "$dir/roster.2" --key "$dir/admin-1.key" --previous "$dir/roster.1"

for p in police council; do
	for r in relay-a relay-b; do
		"$A" compare "$dir/$p" "$dir/$r" --key-a "$PK" --key-b "$PK" \
			--roster "$dir/roster.2" >"$dir/out" 2>&1
		rc=$?
		[ $rc = 0 ] && ! grep -q MISSING "$dir/out" &&
			ok "compare $p and $r: exit 0, nothing missing" ||
			{ bad "compare $p and $r: exit $rc"; sed 's/^/# /' "$dir/out"; }
	done
done
# Without the roster, camden-council's log names relay-a only (its one
# message went through it): what it received is expected at relay-a.
"$A" compare "$dir/council" "$dir/relay-a" >"$dir/out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "MISSING msg $M0: received by camden-council, never carried by relay-a" "$dir/out" &&
	ok "compare without a roster, a log naming one relay: what it received must be at that relay" ||
	{ bad "compare council relay-a without roster: exit $rc"; sed 's/^/# /' "$dir/out"; }
# met-police's log names both relays: no roster needed.
"$A" compare "$dir/police" "$dir/relay-a" >"$dir/out" 2>&1 &&
	ok "compare police and relay-a without a roster (its log names both relays)" ||
	{ bad "compare police relay-a without roster"; sed 's/^/# /' "$dir/out"; }
"$A" compare --json "$dir/police" "$dir/relay-b" >"$dir/out" 2>&1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["messages_between"] == 1 and d["finished"] == 1 else 1)' "$dir/out" &&
	ok "compare police and relay-b: only the message routed through relay-b counts" ||
	{ bad "compare police relay-b between"; sed 's/^/# /' "$dir/out"; }
"$A" compare "$dir/police" "$dir/stray" >"$dir/out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "MISSING msg $M1: relay-b accepted a message from met-police that met-police never routed to it" "$dir/out" &&
	ok "a relay that accepted a message never routed to it: MISSING, exit 1" ||
	{ bad "stray acceptance: exit $rc"; sed 's/^/# /' "$dir/out"; }

"$A" report --json "$dir/police" "$dir/council" "$dir/relay-a" "$dir/relay-b" >"$dir/rep" 2>"$dir/err"
rc=$?
[ $rc = 0 ] && ok "report over the four logs: exit 0" || { bad "report exit $rc"; cat "$dir/err"; }
python3 - "$dir/rep" "$M0" "$M1" <<'PYEOF' && ok "report: the carrying relay and the routes with their reasons" || bad "report relays"
import json, sys
d = json.load(open(sys.argv[1]))
m = {x["msg_id"]: x for x in d["messages"]}
m0, m1 = m[sys.argv[2]], m[sys.argv[3]]
want0 = [{"relay": "relay-a", "reason": "first"}, {"relay": "relay-b", "reason": "link-lost"}]
ok = (m0["relay"] == "relay-b" and m0["routes"] == want0 and
      m1["relay"] == "relay-a" and m1["routes"] == [{"relay": "relay-a", "reason": "first"}])
if not ok:
    print("# m0", m0, "\n# m1", m1)
sys.exit(0 if ok else 1)
PYEOF
"$A" report "$dir/police" "$dir/council" "$dir/relay-a" "$dir/relay-b" >"$dir/rep" 2>&1
grep -q '^carried by: relay-b 1, relay-a 2$\|^carried by: relay-a 2, relay-b 1$' "$dir/rep" &&
	ok "report summary: messages carried per relay" ||
	{ bad "report summary"; sed 's/^/# /' "$dir/rep"; }
"$A" report --html "$dir/r.html" "$dir/police" "$dir/council" "$dir/relay-a" "$dir/relay-b" >/dev/null 2>&1
grep -q '<td>relay-b (routes: relay-a (first) → relay-b (link-lost))</td>' "$dir/r.html" &&
	ok "report HTML: relay column with the routes" || bad "report HTML relay column"

# A sender's log holding two custody receipts of one message (resent
# through relay-b after relay-a): verify accepts it.  Tampered so that the
# ROUTE to relay-b names relay-c (to: "relay-b" patched in the LMDB file),
# relay-b's ACCEPTED follows no ROUTE to it: verify names that entry.
"$T" custody "$dir/custody" "$SEED" || bad "test_log custody"
"$A" verify "$dir/custody" --key "$PK" >"$dir/out" 2>&1 &&
	ok "verify a sender log with two relays' custody receipts (ACCEPTED per relay)" ||
	{ bad "verify custody log"; sed 's/^/# /' "$dir/out"; }
[ "$("$A" export "$dir/custody" --csv | awk -F, '$2 == "ACCEPTED"' | wc -l)" = 2 ] &&
	ok "export: two ACCEPTED rows for the resent message" ||
	bad "export two ACCEPTED rows"
cp -r "$dir/custody" "$dir/custody-t"
n=$(python3 - "$dir/custody-t/data.mdb" <<'PYEOF'
import sys
path = sys.argv[1]
pat = bytes([6, 0xa7]) + b"relay-b"	# field 6 (to), a 7-byte string
data = bytearray(open(path, 'rb').read())
n, i = 0, data.find(pat)
while i >= 0:
    data[i + len(pat) - 1] = ord("c")
    n += 1
    i = data.find(pat, i + 1)
open(path, 'r+b').write(data)
print(n)
PYEOF
)
"$A" verify "$dir/custody-t" --key "$PK" >"$dir/out" 2>&1
rc=$?
[ "$n" -ge 1 ] && [ $rc = 1 ] && grep -q "FAIL: entry 4: second ACCEPTED of the message, from relay-b, which it was never routed to (no LOG_ROUTE to relay-b before it)" "$dir/out" &&
	ok "tampered: an ACCEPTED from a relay with no ROUTE to it fails verify, naming the entry" ||
	{ bad "tampered custody log (patched $n, exit $rc)"; sed 's/^/# /' "$dir/out"; }
exit $fail
