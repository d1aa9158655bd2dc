#!/bin/bash
# keys_passphrase: one passphrase rule for ferry-keys, ferry-agent and
# ferry-relay (proto/ident.h): the first line of the file or variable,
# never empty.  An empty passphrase given explicitly (an empty file, an
# empty first line, FERRY_PASSPHRASE="") is an error naming its source,
# and no key is written unsealed; a key sealed by ferry-keys from a file
# of several lines opens in the agent and the relay given the same text.
# The agent refuses an admin's or a relay's key file as its identity.  At
# the terminal, Ctrl-C (or SIGTERM, SIGHUP) at the passphrase prompt
# leaves echo on.
. "$(dirname "$0")/lib.sh"
ft_init
K=$B/ferry-keys
mkdir -m 700 "$FT/k"

# An empty passphrase given explicitly: refused, nothing written.
: >"$FT/empty.pass"; printf '\nsecret\n' >"$FT/nl.pass"
chmod 600 "$FT/empty.pass" "$FT/nl.pass"
for f in empty nl; do
	env -u FERRY_PASSPHRASE setsid $K init --id e-$f --kind charity \
		--name E --out "$FT/k" --passphrase-file "$FT/$f.pass" \
		</dev/null >"$FT/o" 2>"$FT/e"; rc=$?
	if [ $rc = 1 ] && [ ! -e "$FT/k/e-$f.key" ] &&
	    grep -q "passphrase file $FT/$f.pass is empty, or its first line is" "$FT/e"; then
		ft_ok "init --passphrase-file ($f): refused naming the file, no key written"
	else
		ft_fail "init --passphrase-file ($f): exit $rc: $(cat "$FT/o" "$FT/e"); $(ls "$FT/k")"
	fi
done
FERRY_PASSPHRASE= setsid $K admin-init --name e-env --out "$FT/k" \
	</dev/null >"$FT/o" 2>"$FT/e"; rc=$?
if [ $rc = 1 ] && [ ! -e "$FT/k/e-env.key" ] &&
    grep -q 'FERRY_PASSPHRASE is set but empty' "$FT/e"; then
	ft_ok "FERRY_PASSPHRASE=\"\": refused naming the variable, no key written"
else
	ft_fail "FERRY_PASSPHRASE empty: exit $rc: $(cat "$FT/o" "$FT/e"); $(ls "$FT/k")"
fi

# A network whose every key is sealed with the first line of a
# passphrase of two lines ("rp"), as ferry-keys reads it.
export FERRY_PASSPHRASE=$'rp\nsecond line'
ft_net relay alpha
unset FERRY_PASSPHRASE
printf 'rp\nsecond line\n' >"$FT/two.pass"; chmod 600 "$FT/two.pass"
! grep -q unsealed "$FT/keys.log" ||
	ft_fail "ft_net sealed: $(tail -3 "$FT/keys.log")"
# The relay takes FERRY_RELAY_PASSPHRASE by the same rule ...
ft_relay_conf
FERRY_RELAY_PASSPHRASE=$'rp\nsecond line' ft_bg "$FT/r.out" "$FT/r.err" \
	"$B/ferry-relay" -c "$FT/relay.conf"
RELAY_PID=$FT_LASTPID
if ft_wait 20 grep -q ' started ' "$FT/r.err"; then
	ft_ok "relay: FERRY_RELAY_PASSPHRASE of two lines opens a key sealed with its first"
else
	ft_fail "relay two-line passphrase: $(tail -3 "$FT/r.err")"
fi
# ... and the agent its passphrase_file.
. "$(dirname "$0")/agent_lib.sh"
fa_conf alpha passphrase_file="$FT/two.pass"
if fa_start alpha --no-wait && ! grep -q 'wrong passphrase' "$FT/alpha.err"; then
	ft_ok "agent: a passphrase_file of two lines opens the key sealed with its first"
else
	ft_fail "agent two-line passphrase_file: $(tail -3 "$FT/alpha.err")"
fi
fa_stop alpha
fa_conf alpha passphrase_file="$FT/empty.pass"
timeout 20 "$B/ferry-agent" -c "$FT/alpha.conf" >"$FT/o" 2>"$FT/e"; rc=$?
[ $rc != 0 ] && [ $rc != 124 ] &&
	grep -q "passphrase_file $FT/empty.pass is empty, or its first line is" "$FT/e" &&
	ft_ok "agent: an empty passphrase_file is refused at start, named" ||
	ft_fail "agent empty passphrase_file: exit $rc: $(tail -3 "$FT/e")"
ft_relay_stop
FERRY_RELAY_PASSPHRASE= timeout 20 "$B/ferry-relay" -c "$FT/relay.conf" \
	>"$FT/o" 2>"$FT/e"; rc=$?
[ $rc = 2 ] && grep -q 'FERRY_RELAY_PASSPHRASE is set but empty' "$FT/e" &&
	ft_ok "relay: FERRY_RELAY_PASSPHRASE=\"\" refused, exit 2" ||
	ft_fail "relay empty FERRY_RELAY_PASSPHRASE: exit $rc: $(tail -3 "$FT/e")"

# An admin's or a relay's key file is no agency's identity.
for who in admin-1:admin relay:relay; do
	fa_conf "${who%%:*}" passphrase_file="$FT/two.pass"
	timeout 20 "$B/ferry-agent" -c "$FT/${who%%:*}.conf" >"$FT/o" 2>"$FT/e"; rc=$?
	if [ $rc != 0 ] && [ $rc != 124 ] && [ ! -S "$FT/${who%%:*}-data/control" ] &&
	    grep -q "key file $FT/keys/${who%%:*}.key is an\? .*key (kind ${who#*:}), not an agency's" "$FT/e"; then
		ft_ok "agent with the ${who#*:}'s key file: refused at start, saying so"
	else
		ft_fail "agent with ${who#*:} key: exit $rc: $(tail -3 "$FT/e")"
	fi
done

# Ctrl-C, SIGTERM or SIGHUP at the passphrase prompt: the terminal keeps
# its echo, and the signal still ends ferry-keys.
for sig in INT TERM HUP; do
	$PY - "$K" "$FT/k" "$sig" >"$FT/o" 2>&1 <<'EOF'
import os, pty, select, signal, sys, termios, time
k, out, sig = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.environ.pop("FERRY_PASSPHRASE", None)
    os.execv(k, [k, "init", "--id", "tty-" + sig.lower(), "--kind",
                 "charity", "--name", "T", "--out", out])
buf = b""
end = time.time() + 20
while b"passphrase" not in buf and time.time() < end:
    if select.select([fd], [], [], 0.5)[0]:
        buf += os.read(fd, 200)
# The prompt is written just before echo goes off: wait for that.
while termios.tcgetattr(fd)[3] & termios.ECHO and time.time() < end:
    time.sleep(0.05)
off = not (termios.tcgetattr(fd)[3] & termios.ECHO)
if sig == "INT":
    os.write(fd, b"\x03")
else:
    os.kill(pid, getattr(signal, "SIG" + sig))
_, st = os.waitpid(pid, 0)
on = bool(termios.tcgetattr(fd)[3] & termios.ECHO)
print("prompt=%d echo_off_at_prompt=%d signaled=%d echo_after=%d" % (
    b"passphrase" in buf, off, os.WIFSIGNALED(st), on))
EOF
	if grep -q 'prompt=1 echo_off_at_prompt=1 signaled=1 echo_after=1' "$FT/o"; then
		ft_ok "SIG$sig at the passphrase prompt: echo restored, the process ended by it"
	else
		ft_fail "SIG$sig at the prompt: $(cat "$FT/o")"
	fi
done
ft_done
