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
ft_done
