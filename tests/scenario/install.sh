#!/bin/bash
# install: make install (issue 11 item 12) puts the programs, man pages,
# example configurations and systemd units in place; the configurations
# go to /etc/ferry only where none is there, so a second install leaves an
# edited one alone; and both daemon units rate at most 2.0 by
# `systemd-analyze security --offline=true` (skipped, with a note, where
# systemd-analyze is absent).
. "$(dirname "$0")/lib.sh"
ft_init
ROOT=$FT/root

# The release build the runner gives ($FERRY_RELEASE_BIN), else build/release.
rel=${FERRY_RELEASE_BIN:-$FERRY_ROOT/build/release}
inst() {
	make -s -C "$FERRY_ROOT" install SAN=0 BUILD="$rel" DESTDIR="$ROOT" \
		PREFIX=/usr >"$FT/install.out" 2>&1
}
ft_check "make install DESTDIR=... PREFIX=/usr succeeds" inst ||
	sed 's/^/# /' "$FT/install.out"

want="usr/bin/ferry usr/bin/ferry-agent usr/bin/ferry-relay usr/bin/ferry-keys
usr/bin/ferry-audit usr/share/man/man1/ferry.1 usr/share/man/man8/ferry-relay.8
usr/share/doc/ferry/examples/agent.conf usr/share/doc/ferry/examples/relay.conf
usr/share/doc/ferry/examples/referral.json
usr/lib/systemd/system/ferry-agent.service
usr/lib/systemd/system/ferry-relay.service
usr/lib/systemd/system/ferry-relay-metrics.service
usr/lib/systemd/system/ferry-relay-metrics.timer
etc/ferry/agent.conf etc/ferry/relay.conf"
missing=
for f in $want; do [ -f "$ROOT/$f" ] || missing="$missing $f"; done
ft_check "installed: programs, man pages, examples, units, /etc/ferry configs${missing:+ (missing:$missing)}" \
	[ -z "$missing" ]
ft_check "the installed units start \$PREFIX/bin's programs" \
	grep -qx 'ExecStart=/usr/bin/ferry-relay -c /etc/ferry/relay.conf' \
	"$ROOT/usr/lib/systemd/system/ferry-relay.service"
ft_check "installed units are not executable, mode 0644" \
	[ "$(stat -c %a "$ROOT/usr/lib/systemd/system/ferry-agent.service")" = 644 ]

# An operator edits the installed configuration; a second install (an
# upgrade) must not replace it, and says so.
echo "# edited by the operator" >>"$ROOT/etc/ferry/relay.conf"
cp "$ROOT/etc/ferry/relay.conf" "$FT/edited"
ft_check "a second make install succeeds" inst
ft_check "a second make install leaves an edited /etc/ferry/relay.conf as it was" \
	cmp -s "$ROOT/etc/ferry/relay.conf" "$FT/edited"
ft_check "and says it left it" grep -q '/etc/ferry/relay.conf exists, left as it is' \
	"$FT/install.out"
ft_check "the pristine example is still installed beside it" \
	cmp -s "$ROOT/usr/share/doc/ferry/examples/relay.conf" \
	"$FERRY_ROOT/docs/examples/relay.conf"

# Hardening: systemd-analyze's exposure score of each daemon unit.
if ! command -v systemd-analyze >/dev/null; then
	echo "# systemd-analyze absent: unit hardening not checked (apt-get install systemd)"
else
	for u in ferry-agent ferry-relay; do
		f=$ROOT/usr/lib/systemd/system/$u.service
		score=$(systemd-analyze security --offline=true "$f" 2>"$FT/sa.err" |
			sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
		echo "# $u.service: exposure $score"
		ft_check "systemd-analyze security rates $u.service at most 2.0 (got ${score:-none})" \
			awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 2.0) }'
	done
fi
ft_done
