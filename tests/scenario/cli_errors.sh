#!/bin/bash
# cli_errors: errors name their real cause and the next step (issue 11
# item 3), one check each:
#   1. ferry as another user: permission denied on the control socket,
#      run as the agent's user (was: "the agent is not running");
#   2. ferry-audit verify on a log this user may not read: permission
#      denied, whose it is, audit a copy (was: "key file is accessible by
#      group or others");
#   3. ferry-keys fingerprint of a file this user may not read: permission
#      denied (was: "input/output error");
#   4. a sealed key and no passphrase: "sealed with a passphrase, and none
#      was given" and where to give it (was: "wrong passphrase"), for
#      ferry-keys, ferry-agent and ferry-relay;
#   5. a required setting missing: which one, and where (was: "data, key,
#      roster and roster_pin must be set"), agent and relay;
#   6. a key file of mode 0644: the file, its mode and chmod 600 (the relay
#      said only err=FERRY_EPERM), relay and agent;
#   7. a malformed pin: not a fingerprint, exit 2 (was: a mismatch), and a
#      well-formed wrong pin still a mismatch;
#   8. a 50 MB document: "json: larger than 25165824 bytes FERRY_EJSON", as
#      referral-schema.md says (was: "too big").
# "Another user" is nobody, by runuser (the tests run as root).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
K=$B/ferry-keys

# expect NAME WANT-EXIT PATTERN... -- CMD...: CMD exits WANT-EXIT and its
# stderr matches every PATTERN (grep -E) and none of the old words.
expect() {
	local name=$1 want=$2 pats=() p rc ok=1; shift 2
	while [ "$1" != -- ]; do pats+=("$1"); shift; done
	shift
	timeout 30 "$@" >"$FT/out" 2>"$FT/err" </dev/null; rc=$?
	[ "$rc" = "$want" ] || ok=0
	for p in "${pats[@]}"; do grep -qE -- "$p" "$FT/err" || ok=0; done
	grep -qiE 'not running|input/output|accessible by group|wrong passphrase|too big$|must be set|does not match the pinned' "$FT/err" &&
		[ "$name" = "${name#keep:}" ] && ok=0
	if [ $ok = 1 ]; then
		ft_ok "${name#keep:}: $(head -1 "$FT/err" | cut -c1-150)"
	else
		ft_fail "${name#keep:}: exit $rc (want $want): $(cat "$FT/err")"
	fi
}

if ! runuser -u nobody -- true 2>/dev/null; then
	echo "# runuser -u nobody is not possible here: checks 1-3 skipped"
	NOBODY=0
else
	NOBODY=1
	# nobody may pass through the test's folders, not read them.
	chmod 711 "$FT" "$FT/keys"
fi

# 1. ferry as another user.  The agent runs (as root); its data folder is
# 0700 and its control socket 0600.
fa_conf alpha
fa_start alpha --no-wait || exit 1
if [ $NOBODY = 1 ]; then
	expect "ferry status as another user: permission denied, run as the agent's user" 1 \
		"permission denied on $FT/alpha-data/control" \
		"run as the agent's user \(root\)" -- \
		runuser -u nobody -- "$B/ferry" --data "$FT/alpha-data" status
	# The folder searchable, the socket not: the same answer.
	chmod 711 "$FT/alpha-data"
	expect "ferry status, socket mode 0600: permission denied" 1 \
		"permission denied on $FT/alpha-data/control" "runuser -u root" -- \
		runuser -u nobody -- "$B/ferry" --data "$FT/alpha-data" status
	chmod 700 "$FT/alpha-data"
fi
fa alpha status >/dev/null 2>&1 &&
	ft_ok "the agent's own user still gets its status" ||
	ft_fail "ferry status as the agent's user"

# 2. ferry-audit verify on a log nobody may read.
if [ $NOBODY = 1 ]; then
	expect "ferry-audit verify, log not readable: permission denied, whose, a copy" 1 \
		"permission denied \(the log, or its folder, belongs to root\)" "mdb_copy" -- \
		runuser -u nobody -- "$B/ferry-audit" verify "$FT/alpha-data/log"
fi

# 3. ferry-keys fingerprint of files nobody may read.
if [ $NOBODY = 1 ]; then
	expect "fingerprint of a key file not readable: permission denied" 1 \
		"$FT/keys/alpha.key: permission denied \(it, or its folder, belongs to root\): run as that user" -- \
		runuser -u nobody -- "$K" fingerprint "$FT/keys/alpha.key"
	chmod 600 "$FT/keys/alpha.request"
	expect "fingerprint of a public file not readable: permission denied" 1 \
		"alpha.request: permission denied" -- \
		runuser -u nobody -- "$K" fingerprint "$FT/keys/alpha.request"
	chmod 644 "$FT/keys/alpha.request"
fi

# 4. Sealed keys without a passphrase.
mkdir -m 700 "$FT/sealed"
FERRY_PASSPHRASE=secret-words $K relay-init --id relay-s --out "$FT/sealed" \
	>/dev/null 2>&1 </dev/null
FERRY_PASSPHRASE=secret-words $K init --id alpha --kind police --name A \
	--out "$FT/sealed" >/dev/null 2>&1 </dev/null
expect "ferry-keys, sealed key, no passphrase" 1 \
	"key file $FT/sealed/alpha.key is sealed with a passphrase, and none was given" \
	"--passphrase-file F or set FERRY_PASSPHRASE" -- \
	env -u FERRY_PASSPHRASE setsid "$K" fingerprint "$FT/sealed/alpha.key"
expect "keep:ferry-keys, sealed key, wrong passphrase: still 'wrong passphrase'" 1 \
	"wrong passphrase" -- \
	env FERRY_PASSPHRASE=other setsid "$K" fingerprint "$FT/sealed/alpha.key"
fa_conf alpha-sealed "key=$FT/sealed/alpha.key" "data=$FT/as-data"
expect "ferry-agent, sealed key, no passphrase_file" 1 \
	"key file $FT/sealed/alpha.key is sealed with a passphrase, and none was given: set passphrase_file" -- \
	"$B/ferry-agent" -c "$FT/alpha-sealed.conf"
expect "ferry-relay, sealed key, no FERRY_RELAY_PASSPHRASE" 1 \
	"key file $FT/sealed/relay-s.key is sealed with a passphrase, and none was given: set FERRY_RELAY_PASSPHRASE" -- \
	env -u FERRY_RELAY_PASSPHRASE "$B/ferry-relay" --data "$FT/rs-data" \
	--key "$FT/sealed/relay-s.key" --roster "$FT/roster" \
	--roster-pin "$(cat "$FT/roster.pin")" --endpoint "tcp://127.0.0.1:$(ft_port)"

# 5. A required setting missing: which one, and where.
grep -v '^roster_pin' "$FT/alpha.conf" >"$FT/nopin.conf"
expect "ferry-agent, no roster_pin: names the key and the file" 2 \
	"$FT/nopin.conf: missing key \"roster_pin\" in \[agent\] \(or give -P\)" -- \
	"$B/ferry-agent" -c "$FT/nopin.conf"
expect "ferry-agent, nothing set: names each setting and its flag" 2 \
	'missing settings "data", "key", "roster", "roster_pin": give -c CONFIG' -- \
	"$B/ferry-agent"
ft_relay_conf
grep -v '^key' "$FT/relay.conf" >"$FT/nokey.conf"
expect "ferry-relay, no key: names the key and the file" 2 \
	"$FT/nokey.conf: missing key \"key\" \(--key\) in \[relay\]" -- \
	"$B/ferry-relay" -c "$FT/nokey.conf"

# 6. Key files of mode 0644.
cp "$FT/keys/relay.key" "$FT/relay-0644.key"; chmod 644 "$FT/relay-0644.key"
expect "ferry-relay, key file 0644: the file, its mode, chmod 600" 1 \
	"key file $FT/relay-0644.key is readable by group or others \(mode 0644\): chmod 600 $FT/relay-0644.key" -- \
	"$B/ferry-relay" -c "$FT/relay.conf" --key "$FT/relay-0644.key"
cp "$FT/keys/alpha.key" "$FT/alpha-0644.key"; chmod 644 "$FT/alpha-0644.key"
fa_conf alpha-0644 "key=$FT/alpha-0644.key" "data=$FT/a6-data"
expect "ferry-agent, key file 0644: the file, its mode, chmod 600" 1 \
	"key file $FT/alpha-0644.key is readable by group or others \(mode 0644\): chmod 600" -- \
	"$B/ferry-agent" -c "$FT/alpha-0644.conf"

# 7. Pins: malformed is a configuration error; well-formed and wrong is
# still a mismatch.
expect "ferry-agent, malformed roster_pin: not a fingerprint, exit 2" 2 \
	'roster_pin "12345 678" is not a roster fingerprint' -- \
	"$B/ferry-agent" -c "$FT/alpha.conf" -P "12345 678"
expect "ferry-relay, malformed roster_pin: not a fingerprint, exit 2" 2 \
	'roster_pin "fingerprint" is not a roster fingerprint' -- \
	"$B/ferry-relay" -c "$FT/relay.conf" --roster-pin fingerprint
expect "ferry-keys roster verify, malformed --pin: usage error" 2 \
	'--pin "0000" is not a roster fingerprint' -- \
	"$K" roster verify "$FT/roster" --pin 0000
expect "ferry-audit verify, malformed --pin: usage error" 2 \
	'--pin "x" is not a roster fingerprint' -- \
	"$B/ferry-audit" verify "$FT/alpha-data/log" --roster "$FT/roster" --pin x
expect "keep:ferry-keys roster verify, a wrong pin: still a mismatch" 1 -- \
	"$K" roster verify "$FT/roster" --pin "00000 00000 00000 00000 00000 00000 00000 00000"
grep -q "does not match the pinned fingerprint" "$FT/out" &&
	ft_ok "a wrong pin is said to be a mismatch" ||
	ft_fail "a wrong pin: $(cat "$FT/out")"

# 8. A 50 MB document, from a file and from stdin.
head -c $((50 * 1024 * 1024)) /dev/zero >"$FT/big.json"
expect "ferry send, 50 MB file: json: larger than 25165824 bytes FERRY_EJSON" 1 \
	"big.json: json: larger than 25165824 bytes FERRY_EJSON" -- \
	"$B/ferry" --data "$FT/alpha-data" send --to bravo "$FT/big.json"
expect "ferry send, 50 MB on stdin: json: larger than 25165824 bytes FERRY_EJSON" 1 \
	"stdin: json: larger than 25165824 bytes FERRY_EJSON" -- \
	bash -c "'$B/ferry' --data '$FT/alpha-data' send --to bravo - <'$FT/big.json'"
rm -f "$FT/big.json"
if [ $NOBODY = 1 ]; then
	# A document the agent's user may not read: say to pass it on stdin.
	cp "$VECTORS/nrm-adult-labour.json" "$FT/root-only.json"
	chmod 600 "$FT/root-only.json"
	expect "ferry send, a file this user may not read: give it on stdin" 1 \
		"root-only.json: this user may not read it .*: ferry \\.\\.\\. - < " -- \
		runuser -u nobody -- "$B/ferry" --data "$FT/alpha-data" send --to bravo "$FT/root-only.json"
fi
expect "ferry send, stdin unreadable (a folder): cannot read, nothing sent" 1 \
	"stdin: cannot read: Is a directory" -- \
	bash -c "'$B/ferry' --data '$FT/alpha-data' send --to bravo - <'$FT'"

# 9. FERRY_TIMEOUT follows the one duration rule: a unit is required.
expect "ferry status, FERRY_TIMEOUT=5 (no unit): names the variable, exit 2" 2 \
	"FERRY_TIMEOUT=5: a unit is required" "e\.g\. FERRY_TIMEOUT=30s" -- \
	env FERRY_TIMEOUT=5 "$B/ferry" --data "$FT/alpha-data" status
expect "ferry status, FERRY_TIMEOUT=soon: not a duration, exit 2" 2 \
	"FERRY_TIMEOUT=soon: not a duration" -- \
	env FERRY_TIMEOUT=soon "$B/ferry" --data "$FT/alpha-data" status
expect "ferry status, FERRY_TIMEOUT=2d: out of range, exit 2" 2 \
	"FERRY_TIMEOUT=2d: out of range" -- \
	env FERRY_TIMEOUT=2d "$B/ferry" --data "$FT/alpha-data" status
FERRY_TIMEOUT=5s "$B/ferry" --data "$FT/alpha-data" status >"$FT/out" 2>&1 &&
	ft_ok "FERRY_TIMEOUT=5s is taken" ||
	ft_fail "FERRY_TIMEOUT=5s: $(cat "$FT/out")"
fa_stop alpha
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err'"
ft_done
