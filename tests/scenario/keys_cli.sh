#!/bin/bash
# keys_cli: ferry-keys's operator-facing messages and exit codes:
# --out naming a missing folder, sign --previous with the wrong version,
# the top-level usage, keys written unsealed without a terminal.
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
ft_done
