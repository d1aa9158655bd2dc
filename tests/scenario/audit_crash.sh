#!/bin/bash
# kill -9 of a process in the middle of appending leaves a log that
# verifies and holds every entry reported logged.  The appender prints
# "logged I" only after the commit holding I returned; it is killed at
# an arbitrary moment, restarted (it resumes at the log's size), killed
# again, three rounds.
set -u
B=${FERRY_BIN:?}
T=$B/tests/test_log
A=$B/ferry-audit
dir=$(mktemp -d /tmp/ferry-audit-crash-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }
SEED=$(printf '55%.0s' $(seq 32))
PK=$("$T" pubkey "$SEED")

for round in 1 2 3; do
	"$T" append "$dir/l" 10000000 25 "$SEED" >>"$dir/printed" &
	pid=$!
	# wait (bounded) until this round has reported something new
	before=$(wc -l <"$dir/printed")
	for i in $(seq 200); do
		[ "$(wc -l <"$dir/printed")" -gt $((before + 50)) ] && break
		sleep 0.05
	done
	sleep 0.$((RANDOM % 5))
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	pid=
	if "$A" verify "$dir/l" --key "$PK" >"$dir/out" 2>&1; then
		ok "round $round: log verifies after kill -9"
	else
		bad "round $round: log verifies after kill -9"; cat "$dir/out"
	fi
	size=$(awk '/^entries / { print $2 }' "$dir/out")
	last=$(awk '/^logged / { n = $2 } END { print n + 0 }' "$dir/printed")
	nprinted=$(grep -c '^logged ' "$dir/printed")
	if [ "$nprinted" -gt 0 ] && [ "$last" -lt "$size" ]; then
		ok "round $round: all $nprinted reported entries present (last $last < size $size)"
	else
		bad "round $round: reported entries present (last $last, size $size)"
	fi
done
# every printed index holds the entry the appender wrote there
"$A" export "$dir/l" --csv >"$dir/csv"
/usr/bin/python3 - "$dir/printed" "$dir/csv" <<'PYEOF' && ok "every reported entry holds its own message id" || bad "reported entries intact"
import sys
printed = [int(l.split()[1]) for l in open(sys.argv[1]) if l.startswith("logged ")]
rows = {}
for l in open(sys.argv[2]).read().splitlines()[1:]:
    f = l.split(",")
    rows[int(f[0])] = f[3]
bad = [i for i in printed if rows.get(i) != "%016x000000000000005a" % i]
if bad:
    print("# missing or wrong:", bad[:10])
    sys.exit(1)
PYEOF
exit $fail
