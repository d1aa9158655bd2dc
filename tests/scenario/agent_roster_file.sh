#!/bin/bash
# agent_roster_file: the configured `roster` file may be replaced by a
# later version and reloaded with SIGHUP; the next start still works.
# The pin applies to the pinned (install) roster only, which the agent
# saves in <data>/roster/ at first start; a later version in the
# configured file is verified against the saved chain, never the pin.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
K=$B/ferry-keys
ft_relay_start
cp "$FT/roster" "$FT/bravo-roster"
fa_conf bravo "roster=$FT/bravo-roster"
fa_start bravo || ft_done
v1=$FT/bravo-data/roster/v00000000000000000001.roster
ft_check "first start saved the pinned roster as v1 in <data>/roster/" \
	cmp -s "$v1" "$FT/roster"

# Version 2 (a new admin threshold, same value), into the configured file.
"$K" roster admins --roster "$FT/roster" --threshold 2 --expires 365 \
	--out "$FT/roster.2" >/dev/null 2>&1 </dev/null
for i in 1 2; do
	"$K" roster sign --roster "$FT/roster.2" --key "$FT/keys/admin-$i.key" \
		--previous "$FT/roster" >/dev/null 2>&1 </dev/null
done
cp "$FT/roster.2" "$FT/bravo-roster"
kill -HUP "${FA_PID[bravo]}"
_v() { fa "$1" status 2>/dev/null | grep -q "roster version $2"; }
ft_check "SIGHUP adopted version 2 from the configured roster file" \
	ft_wait 20 _v bravo 2

# The next start, with version 2 still in the configured file.
fa_stop bravo
fa_start bravo
if _v bravo 2 && ! grep -q 'does not match the pinned' "$FT/bravo.err"; then
	ft_ok "restart with version 2 in the roster file: runs, version 2"
else
	ft_fail "restart with version 2 in the roster file"
	tail -5 "$FT/bravo.err" | sed 's/^/# /'
fi

# Version 3 in the file while stopped: verified against the saved chain
# (v1, v2) at start and adopted, not checked against the pin.
"$K" roster admins --roster "$FT/roster.2" --threshold 2 --expires 365 \
	--out "$FT/roster.3" >/dev/null 2>&1 </dev/null
for i in 1 2; do
	"$K" roster sign --roster "$FT/roster.3" --key "$FT/keys/admin-$i.key" \
		--previous "$FT/roster.2" >/dev/null 2>&1 </dev/null
done
fa_stop bravo
cp "$FT/roster.3" "$FT/bravo-roster"
fa_start bravo
ft_check "start with version 3 in the roster file: adopted (chains from v2)" \
	_v bravo 3
ft_check "version 3 saved in <data>/roster/" \
	test -f "$FT/bravo-data/roster/v00000000000000000003.roster"

# A next version that does not verify (unsigned) in the file: refused
# and logged as on SIGHUP; the agent runs on the chain it holds.
fa_stop bravo
"$K" roster admins --roster "$FT/roster.3" --threshold 3 --expires 365 \
	--out "$FT/roster.4u" >/dev/null 2>&1 </dev/null   # unsigned: refused
cp "$FT/roster.4u" "$FT/bravo-roster"
fa_start bravo
ft_check "an unsigned version 4 in the file: refused and logged, v3 kept" \
	grep -q 'roster-refused version=4' "$FT/bravo.err"
ft_check "still running on version 3" _v bravo 3

# Issue 13: a SIGHUP that adopts nothing says why, each case its own
# line: a refused version (the reason), a file that is not a roster, a
# version that skips one, an old version.
hup_says() {	# hup_says PATTERN: SIGHUP, then PATTERN appears in the log
	local before
	before=$(grep -c -- "$1" "$FT/bravo.err")
	kill -HUP "${FA_PID[bravo]}"
	ft_wait 10 bash -c "[ \$(grep -c -- '$1' '$FT/bravo.err') -gt $before ]"
}
ft_check "SIGHUP, unsigned version 4: refused with the reason" 	hup_says 'roster-refused version=4 from .*: .*[a-z]'
echo "not a roster" >"$FT/bravo-roster"
ft_check "SIGHUP, a file that is not a roster: says so and the version kept" 	hup_says 'roster-file .*bravo-roster: .*: not a roster this agent can read; still on version 3'
"$K" roster admins --roster "$FT/roster.4u" --threshold 2 --expires 365 \
	--out "$FT/roster.5u" >/dev/null 2>&1 </dev/null
cp "$FT/roster.5u" "$FT/bravo-roster"
ft_check "SIGHUP, version 5 while 3 is in force: says it does not follow" \
	hup_says 'roster-file .* holds version 5, which does not follow version 3 in force: install version 4 first'
cp "$FT/roster" "$FT/bravo-roster"
ft_check "SIGHUP, version 1: says there is nothing newer" \
	hup_says 'roster-file .* holds version 1, not newer than version 3 in force'
ft_check "still running on version 3" _v bravo 3
fa_stop bravo
ft_done
