#!/bin/bash
# Runs every benchmark binary in BUILD_DIR/bench/ in turn (bench_*),
# printing each one's output under a header.  Exits non-zero if any fails.
#
# usage: tests/bench/run.sh BUILD_DIR
set -u
if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
dir=$1/bench
fail=0 n=0
for b in "$dir"/bench_*; do
	[ -x "$b" ] && [ -f "$b" ] || continue
	n=$((n + 1))
	echo "=== $(basename "$b")"
	if ! timeout 900 "$b"; then
		echo "FAILED: $(basename "$b")"
		fail=$((fail + 1))
	fi
	echo
done
if [ "$n" -eq 0 ]; then
	echo "no benchmarks in $dir" >&2
	exit 1
fi
[ "$fail" -eq 0 ]
