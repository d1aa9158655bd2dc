#!/bin/bash
# Runs every benchmark binary in BUILD_DIR/bench/ in turn (bench_*),
# printing each one's output under a header.  Exits non-zero if any fails.
#
# usage: tests/bench/run.sh BUILD_DIR
set -u -o pipefail
if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
dir=$1/bench
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp /tmp/ferry-bench-out-XXXXXX)
trap 'rm -f "$out"' EXIT
fail=0 n=0
for b in "$dir"/bench_*; do
	[ -x "$b" ] && [ -f "$b" ] || continue
	n=$((n + 1))
	echo "=== $(basename "$b")"
	if ! timeout 900 "$b" | tee -a "$out"; then
		echo "FAILED: $(basename "$b")"
		fail=$((fail + 1))
	fi
	echo
done
# End to end through the daemons, then the summary of every figure beside
# its bound (reads the output above); writes bench/results.json.
if ! timeout 900 /usr/bin/python3 "$root/tests/bench/e2e.py" "$1" "$out" \
    "$root/bench/results.json"; then
	echo "FAILED: e2e.py"
	fail=$((fail + 1))
fi
if [ "$n" -eq 0 ]; then
	echo "no benchmarks in $dir" >&2
	exit 1
fi
[ "$fail" -eq 0 ]
