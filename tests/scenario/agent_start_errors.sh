#!/bin/bash
# agent_start_errors: what ferry-agent says when it cannot start because of
# its data folder, its lock file or its passphrase file (found by a
# walk-through of the install docs: "cannot create ...: Permission
# denied" named no owner and no next step; a missing passphrase_file said
# "no such file, entry or agency").  Each message names the cause and the
# next step; the agent exits non-zero and leaves nothing running.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha
ft_relay_start || exit 1

# run_agent CONF: ferry-agent -c CONF, bounded; stderr in $FT/x.err.
run_agent() {
	timeout 20 "$@" >"$FT/x.out" 2>"$FT/x.err" </dev/null
	echo $? >"$FT/x.rc"
}

# The data folder's parent does not exist.
fa_conf alpha "data=$FT/no-such-parent/alpha-data"
run_agent "$B/ferry-agent" -c "$FT/alpha.conf"
ft_check "missing parent folder: exit 1" [ "$(cat "$FT/x.rc")" = 1 ]
ft_check "missing parent folder: says the folder above does not exist and what to do" \
	grep -q "cannot create $FT/no-such-parent/alpha-data: the folder above it does not exist: create it" "$FT/x.err"

# A passphrase_file that is not there.
fa_conf alpha "passphrase_file=$FT/no-such-passphrase"
run_agent "$B/ferry-agent" -c "$FT/alpha.conf"
ft_check "missing passphrase_file: exit 1" [ "$(cat "$FT/x.rc")" = 1 ]
ft_check "missing passphrase_file: says so and what to write, or to remove the key" \
	grep -q "passphrase_file $FT/no-such-passphrase does not exist: write the key file's passphrase on its first line.*or remove passphrase_file" "$FT/x.err"

# A data folder another user owns (the agent started once as root, then
# as its own user): the lock file cannot be opened.
fa_conf alpha
mkdir -m 0700 -p "$FT/alpha-data"
chmod 0755 "$FT"
if id nobody >/dev/null 2>&1 && [ "$(id -u)" = 0 ] &&
    command -v runuser >/dev/null &&
    runuser -u nobody -- test -x "$B/ferry-agent" -a -r "$FT/alpha.conf"; then
	run_agent runuser -u nobody -- "$B/ferry-agent" -c "$FT/alpha.conf"
	ft_check "data folder of another user: exit 1" [ "$(cat "$FT/x.rc")" = 1 ]
	ft_check "data folder of another user: names its owner and gives it to this user (never: run as root)" \
		grep -q "cannot open $FT/alpha-data/agent.lock: Permission denied: the data folder $FT/alpha-data is root's and this program runs as nobody: give it to this user (chown -R nobody: $FT/alpha-data)$" "$FT/x.err"
	# A data folder this user may not create (its parent is root's).
	fa_conf alpha "data=$FT/alpha-new"
	run_agent runuser -u nobody -- "$B/ferry-agent" -c "$FT/alpha.conf"
	ft_check "data folder this user may not create: says whose parent and how to make it" \
		grep -q "cannot create $FT/alpha-new: Permission denied: this program runs as nobody, which may not create it in $FT (root's): make it for this user first (install -d -o nobody -m 0700 $FT/alpha-new" "$FT/x.err"
else
	ft_ok "data folder of another user: skipped (needs root, runuser, user nobody, and the build readable by nobody)"
	ft_ok "data folder of another user: skipped"
	ft_ok "data folder of another user: skipped"
	ft_ok "data folder this user may not create: skipped"
fi
ft_check "no agent left running" bash -c "! pgrep -f '[f]erry-agent -c $FT/alpha.conf' >/dev/null"
ft_done
