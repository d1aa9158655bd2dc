#!/bin/bash
# cli_conventions: every program and every subcommand keeps STYLE.md's
# command-line conventions (issue 11 item 2):
#   PROG --help, PROG help CMD, PROG CMD --help: usage on stdout, nothing
#     on stderr, exit 0 (help CMD and CMD --help print the same);
#   PROG --version and PROG CMD --version: "PROG VERSION", exit 0;
#   a bad option, a missing argument: exit 2, one line on stderr, nothing
#     on stdout;
#   the usage lines are the man page's SYNOPSIS: the lines of PROG --help's
#     usage block and of the SYNOPSIS are the same set, and each CMD
#     --help's usage line is one of them.  Formatting is ignored (troff
#     fonts, brackets, parentheses, '|', line breaks): the command words,
#     options and operands must be the same, in the same order.
# The commands are taken from each PROG --help; their number is checked,
# so that none drops out unnoticed.
. "$(dirname "$0")/lib.sh"
ft_init
MAN=$FERRY_ROOT/docs/man
VERSION=$(sed -n 's/^#define FERRY_VERSION "\(.*\)"$/\1/p' "$FERRY_ROOT/proto/ferry.h")
[ -n "$VERSION" ] || ft_fail "FERRY_VERSION found in proto/ferry.h"
unset FERRY_DATA FERRY_PASSPHRASE

# norm: stdin lines to token lines (formatting dropped, see above).
norm() { sed 's/[][()|]/ /g; s/  */ /g; s/^ //; s/ $//'; }

# man_synopsis PAGE: the SYNOPSIS lines of a man page, troff removed,
# continuation lines (indented) joined to the line before, normalised.
man_synopsis() {
	$PY - "$1" <<'EOF' | norm
import re, sys
text = open(sys.argv[1]).read()
syn = text.split(".SH SYNOPSIS", 1)[1].split("\n.SH", 1)[0]
lines = []
for l in syn.split("\n"):
    if not l.strip() or l.startswith("."):
        continue
    l = re.sub(r"\\f[BIRP]", "", l).replace("\\-", "-").replace("\\e", "\\")
    if l[0] in " \t" and lines:
        lines[-1] += " " + l.strip()
    else:
        lines.append(l.strip())
print("\n".join(lines))
EOF
}

# run NAME CMD...: run CMD; $rc, $FT/out, $FT/err.
run() { "$@" >"$FT/out" 2>"$FT/err" </dev/null; rc=$?; }

# expect_help NAME CMD...: exit 0, usage on stdout, stderr empty.
expect_help() {
	local name=$1; shift
	run "$@"
	if [ $rc -eq 0 ] && head -1 "$FT/out" | grep -q '^usage: ' &&
	    [ ! -s "$FT/err" ]; then
		ft_ok "$name: usage on stdout, exit 0"
	else
		ft_fail "$name: exit $rc, stdout '$(head -1 "$FT/out")', stderr '$(cat "$FT/err")'"
	fi
}

# expect_usage NAME PATTERN CMD...: exit 2, one line on stderr matching
# PATTERN (grep -E), nothing on stdout.
expect_usage() {
	local name=$1 pat=$2; shift 2
	run timeout 20 "$@"
	if [ $rc -eq 2 ] && [ ! -s "$FT/out" ] &&
	    [ "$(wc -l <"$FT/err")" -eq 1 ] && grep -qE -- "$pat" "$FT/err"; then
		ft_ok "$name: exit 2, one line: $(cut -c1-90 "$FT/err")"
	else
		ft_fail "$name: exit $rc, stdout '$(head -3 "$FT/out")', stderr '$(cat "$FT/err")'"
	fi
}

# The command's usage error on a missing argument, by "PROG CMD" (words
# after PROG; the first is the command, run without what it needs).
declare -A MISSING=(
	["ferry send"]="send" ["ferry reply"]="reply 0123"
	["ferry show"]="show" ["ferry thread"]="thread --json"
	["ferry inbox"]="inbox extra" ["ferry outbox"]="outbox extra"
	["ferry status"]="status a b" ["ferry partners"]="partners extra"
	["ferry erase"]="erase"
	["ferry ack"]="ack"
	["ferry export"]="export --out /tmp"
	["ferry-keys init"]="init --id x --kind police --name X"
	["ferry-keys admin-init"]="admin-init --out /tmp"
	["ferry-keys relay-init"]="relay-init --id r"
	["ferry-keys fingerprint"]="fingerprint"
	["ferry-keys roster new"]="roster new --threshold 2"
	["ferry-keys roster add"]="roster add --roster R --out N"
	["ferry-keys roster revoke"]="roster revoke --roster R --out N"
	["ferry-keys roster rotate"]="roster rotate --roster R --key K --out N"
	["ferry-keys roster admins"]="roster admins --roster R --out N"
	["ferry-keys roster add-relay"]="roster add-relay --roster R --out N"
	["ferry-keys roster remove-relay"]="roster remove-relay --roster R --out N"
	["ferry-keys roster sign"]="roster sign --roster R"
	["ferry-keys roster verify"]="roster verify R"
	["ferry-keys roster show"]="roster show --json"
	["ferry-audit verify"]="verify" ["ferry-audit prove"]="prove L"
	["ferry-audit check-proof"]="check-proof F"
	["ferry-audit compare"]="compare A" ["ferry-audit export"]="export L"
	["ferry-audit report"]="report --json"
	["ferry-relay run"]="run" ["ferry-relay check-config"]="check-config"
	["ferry-relay stats"]="stats"
	["ferry-relay queue list"]="queue list"
	["ferry-relay queue show"]="queue show --data D"
	["ferry-relay queue purge"]="queue purge --data D --reason R"
)
# The daemons' settings are checked after the command line: their own words.
declare -A MISSING_SAYS=(
	["ferry-relay run"]='missing keys "data" \(--data\), "key"'
	["ferry-relay check-config"]='missing keys "data" \(--data\), "key"'
)
declare -A NCMDS=([ferry]=11 [ferry-keys]=14 [ferry-audit]=6 [ferry-relay]=6 [ferry-agent]=0)

for prog in ferry ferry-keys ferry-audit ferry-relay ferry-agent; do
	P=$B/$prog
	page=$(ls "$MAN/$prog".[18])
	man_synopsis "$page" | sort >"$FT/man.txt"

	expect_help "$prog --help" "$P" --help
	cp "$FT/out" "$FT/help.txt"
	# The usage block: the lines up to the first empty one.
	sed '/^$/,$d; s/^usage: //; s/^ *//' "$FT/help.txt" | norm | sort >"$FT/usage.txt"
	if cmp -s "$FT/usage.txt" "$FT/man.txt"; then
		ft_ok "$prog --help: the usage lines are the SYNOPSIS of $(basename "$page")"
	else
		ft_fail "$prog --help and $(basename "$page") SYNOPSIS differ"
		diff "$FT/usage.txt" "$FT/man.txt" | sed 's/^/# /'
	fi
	expect_help "$prog -h" "$P" -h
	cmp -s "$FT/out" "$FT/help.txt" || ft_fail "$prog -h prints what --help prints"

	run "$P" --version
	if [ $rc -eq 0 ] && [ "$(cat "$FT/out")" = "$prog $VERSION" ] && [ ! -s "$FT/err" ]; then
		ft_ok "$prog --version: '$prog $VERSION', exit 0"
	else
		ft_fail "$prog --version: exit $rc, '$(cat "$FT/out" "$FT/err")'"
	fi
	expect_usage "$prog --no-such-option" "no-such-option" "$P" --no-such-option

	# The commands, from the help's "commands:" section.
	sed -n '/^commands:$/,/^$/{/^  /p}' "$FT/help.txt" |
		sed 's/^  //; s/  .*//' >"$FT/cmds.txt"
	n=$(wc -l <"$FT/cmds.txt")
	[ "$n" -eq "${NCMDS[$prog]}" ] && ft_ok "$prog: $n commands" ||
		ft_fail "$prog: $n commands listed, want ${NCMDS[$prog]}"
	while read -r cmd; do
		# shellcheck disable=SC2086
		set -- $cmd
		expect_help "$prog $cmd --help" "$P" "$@" --help
		cp "$FT/out" "$FT/sub.txt"
		line=$(head -1 "$FT/sub.txt" | sed 's/^usage: //' | norm)
		if grep -qxF -- "$line" "$FT/man.txt"; then
			ft_ok "$prog $cmd: its usage line is in the SYNOPSIS"
		else
			ft_fail "$prog $cmd: usage '$line' not in the SYNOPSIS"
		fi
		run "$P" help "$@"
		[ $rc -eq 0 ] && cmp -s "$FT/out" "$FT/sub.txt" && [ ! -s "$FT/err" ] &&
			ft_ok "$prog help $cmd: the same as $cmd --help" ||
			ft_fail "$prog help $cmd: exit $rc, differs from $cmd --help"
		run "$P" "$@" --version
		[ $rc -eq 0 ] && [ "$(cat "$FT/out")" = "$prog $VERSION" ] &&
			ft_ok "$prog $cmd --version" ||
			ft_fail "$prog $cmd --version: exit $rc"
		expect_usage "$prog $cmd --no-such-option" \
			"^$prog $cmd: unknown option '--no-such-option'; usage: " \
			"$P" "$@" --no-such-option
		m=${MISSING["$prog $cmd"]:-}
		if [ -z "$m" ]; then
			ft_fail "$prog $cmd: no missing-argument case in this test"
			continue
		fi
		# shellcheck disable=SC2086
		expect_usage "$prog $m (argument missing)" \
			"${MISSING_SAYS["$prog $cmd"]:-^$prog $cmd: .*; usage: }" "$P" $m
	done <"$FT/cmds.txt"
done

# A command that is not there, and no command at all.
for prog in ferry ferry-keys ferry-audit; do
	expect_usage "$prog no-such-command" "unknown command 'no-such-command'" \
		"$B/$prog" no-such-command
	expect_usage "$prog (no command)" "a command is needed" "$B/$prog"
	expect_usage "$prog help no-such-command" "no such command" \
		"$B/$prog" help no-such-command
done
expect_usage "ferry-keys roster (no command)" "^ferry-keys roster: a command is needed" \
	"$B/ferry-keys" roster
expect_help "ferry-keys help roster" "$B/ferry-keys" help roster
expect_help "ferry-keys roster --help" "$B/ferry-keys" roster --help

# Option values: a missing one, a bad one; the daemons with no settings.
expect_usage "ferry --data (no value)" "option '--data' needs a value" "$B/ferry" --data
expect_usage "ferry send --to (no value)" "option '--to' needs a value" "$B/ferry" send --to
expect_usage "ferry-agent -c (no value)" "option '-c' needs a value" "$B/ferry-agent" -c
expect_usage "ferry-agent -l loud" "bad value for -l \(log_level\): 'loud'" \
	"$B/ferry-agent" -d "$FT/d" -l loud
expect_usage "ferry-relay --log-level loud" "bad value for --log-level: 'loud'" \
	"$B/ferry-relay" --log-level loud
expect_usage "ferry-agent (nothing set)" 'missing settings "data", "key", "roster", "roster_pin"' \
	"$B/ferry-agent"
expect_usage "ferry-agent extra operand" "unexpected argument 'extra'" "$B/ferry-agent" extra
expect_usage "ferry-audit prove --kind bogus: the kinds listed" \
	"--kind must be one of SENT, ACCEPTED, RECEIVED, RECEIPT, .*EXPIRED, ROUTE \(not 'bogus'\)" \
	"$B/ferry-audit" prove L 00000000000000000000000000000000 --kind bogus
expect_usage "ferry-audit prove: MSGID not hex" "MSGID must be 32 hex digits" \
	"$B/ferry-audit" prove L xyz
expect_usage "ferry-keys init --kind bogus" "kind must be charity, police, council, health or other" \
	"$B/ferry-keys" init --id x --kind bogus --name X --out "$FT"

# ferry: --help and usage errors need no data folder; a command that
# talks to the agent without one is a usage error naming the fix.
expect_help "ferry send --help (no FERRY_DATA)" "$B/ferry" send --help
expect_usage "ferry status without a data folder" \
	"^ferry status: no data folder: give --data DIR or set FERRY_DATA" "$B/ferry" status
ft_done
