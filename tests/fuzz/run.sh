#!/bin/bash
# Runs every built libFuzzer target in FUZZ_BUILD_DIR for SECONDS each,
# seeded from tests/fuzz/corpus/<target>/ (read only: new inputs go to a
# temporary folder).  Prints "ok - fuzz <target>" or "not ok - ..." per
# target and exits non-zero if any target found a crash, leak or timeout.
#
# usage: tests/fuzz/run.sh FUZZ_BUILD_DIR SECONDS
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 FUZZ_BUILD_DIR SECONDS" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$1 secs=$2
work=$(mktemp -d /tmp/ferry-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0 n=0
for f in "$dir"/fuzz_*; do
	[ -x "$f" ] && [ -f "$f" ] || continue
	name=$(basename "$f")
	n=$((n + 1))
	seeds="$root/tests/fuzz/corpus/$name"
	mkdir -p "$work/$name/new" "$work/$name/art"
	args=("$work/$name/new")
	[ -d "$seeds" ] && args+=("$seeds")
	log="$work/$name.log"
	start=$SECONDS
	"$f" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2560 \
	    -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix="$work/$name/art/" "${args[@]}" >"$log" 2>&1
	rc=$?
	runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
	if [ "$rc" -eq 0 ]; then
		echo "ok - fuzz $name: ${runs:-?} runs in $((SECONDS - start))s, no crash"
	else
		fail=$((fail + 1))
		echo "not ok - fuzz $name: exit $rc"
		grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/#   /'
		keep=$(mktemp -d /tmp/ferry-fuzz-crash-XXXXXX)
		cp -r "$work/$name/art" "$log" "$keep/" 2>/dev/null
		echo "#   artifacts and log kept in $keep"
	fi
done
if [ "$n" -eq 0 ]; then
	echo "not ok - fuzz: no fuzz_* binaries in $dir"
	exit 1
fi
[ "$fail" -eq 0 ]
