#!/bin/bash
# keys_cli: ferry-keys's operator-facing messages and exit codes:
# --out naming a missing folder, sign --previous with the wrong version,
# the top-level usage, keys written unsealed without a terminal, a folder
# given where a file is read, and roster rotate keeping the key file's
# owner (or refusing, nothing changed, when it cannot).
. "$(dirname "$0")/lib.sh"
ft_init
K=$B/ferry-keys

# --out naming a folder that does not exist: said plainly, exit 1.
for c in "init --id x-agency --kind police --name X" "admin-init --name al" \
    "relay-init --id relay"; do
	# shellcheck disable=SC2086
	$K $c --out "$FT/nope" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
	if [ $rc = 1 ] && grep -q "folder $FT/nope does not exist" "$FT/e" &&
	    ! grep -qi 'input/output' "$FT/e" && [ ! -e "$FT/nope" ]; then
		ft_ok "${c%% *} --out missing folder: 'does not exist', exit 1"
	else
		ft_fail "${c%% *} --out missing folder: exit $rc: $(cat "$FT/e")"
	fi
done
# No terminal (setsid: no controlling tty), no passphrase: a one-line
# warning that the key is written unsealed; none with a passphrase.
mkdir -m 700 "$FT/k"
env -u FERRY_PASSPHRASE setsid $K admin-init --name a1 --out "$FT/k" \
	</dev/null >"$FT/o" 2>"$FT/e"; rc=$?
if [ $rc = 0 ] && [ "$(grep -c 'warning: .*unsealed' "$FT/e")" = 1 ]; then
	ft_ok "no terminal, no passphrase: warning on stderr"
else
	ft_fail "no terminal, no passphrase: exit $rc, stderr: $(cat "$FT/e")"
fi
FERRY_PASSPHRASE=secret-words setsid $K admin-init --name a2 --out "$FT/k" \
	</dev/null >"$FT/o" 2>"$FT/e"; rc=$?
[ $rc = 0 ] && ! grep -q warning "$FT/e" && grep -q sealed "$FT/o" &&
	ft_ok "passphrase from FERRY_PASSPHRASE: no warning" ||
	ft_fail "passphrase given: exit $rc, stderr: $(cat "$FT/e")"

# Top-level usage (on stdout) names every option of fingerprint and
# relay-init.
$K --help >"$FT/u"
grep -q 'fingerprint \[--passphrase-file F\] FILE' "$FT/u" &&
	ft_ok "usage: fingerprint --passphrase-file" ||
	ft_fail "usage lacks fingerprint --passphrase-file"
grep -q 'relay-init .*--name NAME' "$FT/u" &&
	ft_ok "usage: relay-init --name" || ft_fail "usage lacks relay-init --name"

# roster sign --previous with a version that does not precede: exit 1,
# nothing signed.  With the right one and signatures missing: exit 0.
ft_net relay alpha bravo
ft_revoke bravo "$FT/roster" "$FT/roster.2" ||
	ft_fail "make roster 2"
$K roster revoke --roster "$FT/roster.2" --id alpha --expires 365 \
	--out "$FT/roster.3" >/dev/null 2>&1 </dev/null
cp "$FT/roster.3" "$FT/roster.3.before"
$K roster sign --roster "$FT/roster.3" --key "$FT/keys/admin-1.key" \
	--previous "$FT/roster" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
if [ $rc = 1 ] && grep -q 'cannot follow' "$FT/e" &&
    cmp -s "$FT/roster.3" "$FT/roster.3.before"; then
	ft_ok "sign --previous wrong version: 'cannot follow', exit 1, unsigned"
else
	ft_fail "sign --previous wrong version: exit $rc: $(cat "$FT/o" "$FT/e")"
fi
$K roster sign --roster "$FT/roster.3" --key "$FT/keys/admin-1.key" \
	--previous "$FT/roster.2" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
[ $rc = 0 ] && grep -q 'need one more' "$FT/o" &&
	ft_ok "sign --previous right version, one signature missing: exit 0" ||
	ft_fail "sign --previous right version: exit $rc: $(cat "$FT/o" "$FT/e")"

# A folder where a file is read: said to be a folder, naming the files in
# it to give, not "input/output error".
$K fingerprint "$FT/keys" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
if [ $rc = 1 ] && grep -q "$FT/keys is a folder, not a file" "$FT/e" &&
    grep -q "e.g. $FT/keys/[a-z0-9-]*\.key" "$FT/e" &&
    ! grep -qi 'input/output' "$FT/e"; then
	ft_ok "fingerprint DIR: 'is a folder', names a key file in it, exit 1"
else
	ft_fail "fingerprint DIR: exit $rc: $(cat "$FT/e")"
fi

# sign --previous of a version no signature can make follow (expired):
# refused before anything is written.  --expires 0: a usage error.
FERRY_KEYS_NOW_MS=$(( $(date +%s) * 1000 - 3 * 86400000 )) \
	$K roster revoke --roster "$FT/roster.2" --id alpha --expires 1 \
	--out "$FT/roster.3x" >/dev/null 2>&1 </dev/null
cp "$FT/roster.3x" "$FT/roster.3x.before"
$K roster sign --roster "$FT/roster.3x" --key "$FT/keys/admin-1.key" \
	--previous "$FT/roster.2" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
if [ $rc = 1 ] && grep -q 'roster 3 will not follow roster 2: roster 3 expired (FERRY_EEXPIRED); not signed' "$FT/e" &&
    cmp -s "$FT/roster.3x" "$FT/roster.3x.before" && ! grep -q 'signed by' "$FT/o"; then
	ft_ok "sign --previous of an expired version: refused, nothing written"
else
	ft_fail "sign --previous expired: exit $rc: $(cat "$FT/o" "$FT/e")"
fi
$K roster revoke --roster "$FT/roster.2" --id alpha --expires 0 \
	--out "$FT/roster.e0" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
[ $rc = 2 ] && grep -q -- '--expires must be a whole number of days from 1' "$FT/e" &&
	[ ! -e "$FT/roster.e0" ] && ft_ok "--expires 0: usage error, exit 2" ||
	ft_fail "--expires 0: exit $rc: $(cat "$FT/e")"
# A release build takes no roster time from FERRY_KEYS_NOW_MS.
FERRY_KEYS_NOW_MS=1000 "$FERRY_RELEASE_BIN/ferry-keys" roster revoke \
	--roster "$FT/roster.2" --id alpha --out "$FT/roster.rel" \
	</dev/null >"$FT/o" 2>&1
if grep -q "expires $(date -u +%Y -d '+365 days')-" "$FT/o" && ! grep -q 'expires 1971' "$FT/o"; then
	ft_ok "release build: FERRY_KEYS_NOW_MS ignored"
else
	ft_fail "release build FERRY_KEYS_NOW_MS: $(cat "$FT/o")"
fi
# fingerprint of a key file group or others may read: the mode, the fix.
cp -p "$FT/keys/bravo.key" "$FT/open.key"; chmod 644 "$FT/open.key"
$K fingerprint "$FT/open.key" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
[ $rc = 1 ] && grep -q "key file $FT/open.key is readable by group or others (mode 0644): chmod 600 $FT/open.key" "$FT/e" &&
	ft_ok "fingerprint of a key file of mode 0644: says the mode and chmod 600" ||
	ft_fail "fingerprint 0644: exit $rc: $(cat "$FT/e")"
# roster add --request given an admin's request or a roster: said what it is.
$K roster add --roster "$FT/roster.2" --request "$FT/keys/admin-1.pub" \
	--out "$FT/roster.ad" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
[ $rc = 1 ] && grep -q "admin-1.pub is an admin's key request (admin-1, kind admin), not an agency's: add admins with roster admins --add" "$FT/e" &&
	ft_ok "add --request ADMIN.pub: says it is an admin's, names roster admins" ||
	ft_fail "add --request admin: exit $rc: $(cat "$FT/e")"
$K roster add --roster "$FT/roster.2" --request "$FT/roster" \
	--out "$FT/roster.ad" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
[ $rc = 1 ] && grep -q "$FT/roster is a roster (version 1), not a key request: give it as --roster" "$FT/e" &&
	ft_ok "add --request ROSTER: says it is a roster" ||
	ft_fail "add --request roster: exit $rc: $(cat "$FT/e")"
# verify of a roster one admin signed twice: REFUSED (FERRY_EDUPSIG), as
# docs/onboarding.md says.
$PY - "$FT/roster" "$FT/roster.dup" <<'EOF2'
import sys
b = open(sys.argv[1], "rb").read()
assert b[0] == 0x92
i = 1
t = b[i]
n = {0xc4: 1, 0xc5: 2, 0xc6: 4}[t]
ln = int.from_bytes(b[i + 1:i + 1 + n], "big")
i += 1 + n + ln
assert 0x91 <= b[i] <= 0x9e
cnt = b[i] - 0x90
first = b[i + 1:i + 1 + 101]
open(sys.argv[2], "wb").write(b[:i] + bytes([0x90 + cnt + 1]) + b[i + 1:] + first)
EOF2
$K roster verify "$FT/roster.dup" --pin "$(cat "$FT/roster.pin")" >"$FT/o" 2>&1; rc=$?
[ $rc = 1 ] && grep -q '^REFUSED (FERRY_EDUPSIG): ' "$FT/o" &&
	ft_ok "verify of a roster signed twice by one admin: REFUSED (FERRY_EDUPSIG)" ||
	ft_fail "verify dupsig: exit $rc: $(cat "$FT/o")"

# roster rotate with a stale copy of the key file (from before the last
# rotation): refused, naming the key it lacks; nothing written.
cp -p "$FT/keys/alpha.key" "$FT/alpha.stale.key"
$K roster rotate --roster "$FT/roster" --key "$FT/keys/alpha.key" \
	--overlap 7 --out "$FT/roster.r1" </dev/null >"$FT/o" 2>"$FT/e" ||
	ft_fail "rotate alpha: $(cat "$FT/e")"
cp "$FT/alpha.stale.key" "$FT/alpha.stale.before"
$K roster rotate --roster "$FT/roster.r1" --key "$FT/alpha.stale.key" \
	--overlap 7 --out "$FT/roster.r2" </dev/null >"$FT/o" 2>"$FT/e"; rc=$?
if [ $rc = 1 ] && [ ! -e "$FT/roster.r2" ] &&
    grep -q "$FT/alpha.stale.key does not hold encryption key 2 of agency alpha that roster 2 lists (it holds 1)" "$FT/e" &&
    cmp -s "$FT/alpha.stale.key" "$FT/alpha.stale.before"; then
	ft_ok "rotate with a stale key file: refused, names the key it lacks, nothing written"
else
	ft_fail "rotate stale key file: exit $rc: $(cat "$FT/o" "$FT/e")"
fi

# roster rotate run as root on a key file of the agency's own user (the
# agent runs as it): the rewritten file keeps that owner, group, 0600.
if [ "$(id -u)" = 0 ]; then
	chown nobody:nogroup "$FT/keys/bravo.key"
	$K roster rotate --roster "$FT/roster" --key "$FT/keys/bravo.key" \
		--overlap 1 --out "$FT/roster.rot" </dev/null >"$FT/o" 2>"$FT/e"
	rc=$?
	st=$(stat -c '%U:%G %a' "$FT/keys/bravo.key")
	[ $rc = 0 ] && [ "$st" = "nobody:nogroup 600" ] &&
		ft_ok "rotate as root: key file keeps owner nobody:nogroup, 0600" ||
		ft_fail "rotate as root: exit $rc, key file $st: $(cat "$FT/e")"
	# Not root, and the file's group one this user is not in: the owner
	# cannot be kept, so it refuses, naming the file, owner and the fix.
	chmod 711 "$FT"
	mkdir -m 755 "$FT/rot"
	cp "$FT/keys/bravo.key" "$FT/roster" "$FT/rot/"
	chown nobody:root "$FT/rot/bravo.key"
	chown nobody "$FT/rot"
	cp "$FT/rot/bravo.key" "$FT/rot.before"
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		$K roster rotate --roster "$FT/rot/roster" --key "$FT/rot/bravo.key" \
		--overlap 1 --out "$FT/rot/roster.2" </dev/null >"$FT/o" 2>"$FT/e"
	rc=$?
	chmod 700 "$FT"
	if [ $rc = 1 ] && grep -q "$FT/rot/bravo.key belongs to group root, which this user (nobody) is not in" "$FT/e" &&
	    grep -q 'nothing was changed: run this as root' "$FT/e" &&
	    ! grep -q 'run this as nobody' "$FT/e" &&
	    cmp -s "$FT/rot/bravo.key" "$FT/rot.before" &&
	    [ "$(stat -c %U:%G "$FT/rot/bravo.key")" = nobody:root ] &&
	    [ ! -e "$FT/rot/roster.2" ]; then
		ft_ok "rotate unable to keep the owner: refused, names owner and fix, unchanged"
	else
		ft_fail "rotate unable to keep the owner: exit $rc: $(cat "$FT/e")"
	fi
	# The key file nobody's own, its folder root's: the folder is what
	# is not writable (the atomic replace writes beside the file).
	chmod 711 "$FT"
	chown root:root "$FT/rot"
	chmod 755 "$FT/rot"
	chown nobody:nogroup "$FT/rot/bravo.key"
	mkdir -m 777 "$FT/rot-out"
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		$K roster rotate --roster "$FT/rot/roster" --key "$FT/rot/bravo.key" \
		--overlap 1 --out "$FT/rot-out/roster.2" </dev/null >"$FT/o" 2>"$FT/e"
	rc=$?
	chmod 700 "$FT"
	if [ $rc = 1 ] && grep -q "the folder $FT/rot is not writable by this user (nobody)" "$FT/e" &&
	    grep -q 'replaced atomically' "$FT/e" && ! grep -q 'run this as nobody' "$FT/e" &&
	    cmp -s "$FT/rot/bravo.key" "$FT/rot.before" && [ ! -e "$FT/rot-out/roster.2" ]; then
		ft_ok "rotate with the key's folder not writable: says the folder and why, unchanged"
	else
		ft_fail "rotate, folder not writable: exit $rc: $(cat "$FT/e")"
	fi
else
	ft_ok "rotate keeping the owner: skipped (not root)"
fi
ft_done
