#!/bin/bash
# Runs every test: unit binaries (built with ASan+UBSan) and scenario
# scripts, counts "ok -" / "not ok -" lines, ends with "N passed, N failed".
#
# usage: tests/run.sh ASAN_BUILD_DIR RELEASE_BUILD_DIR [PATTERN]
# The ThreadSanitizer units are looked for in $FERRY_TSAN_BUILD/tests
# (default build/tsan, where make test and make tsan build them).
# Scenario scripts get FERRY_BIN (sanitized programs), FERRY_RELEASE_BIN,
# and FERRY_ROOT in their environment.  A script that exits non-zero
# without printing "not ok" counts as one failure.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
asan=$(cd "$root" && cd "${1:-build/asan}" 2>/dev/null && pwd)
rel=$(cd "$root" && cd "${2:-build/release}" 2>/dev/null && pwd)
pat=${3:-}
# Only the ThreadSanitizer units (make tsan) run without the other builds.
if [[ "$pat" != tsan* ]] && { [ -z "$asan" ] || [ -z "$rel" ]; }; then
	echo "tests/run.sh: no build at ${1:-build/asan} or ${2:-build/release}:" \
		"make SAN=1 all units, and make all, first (make test does both)" >&2
	exit 2
fi
export FERRY_BIN="$asan" FERRY_RELEASE_BIN="$rel" FERRY_ROOT="$root"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
pass=0 fail=0
failed_names=()
logdir=$(mktemp -d /tmp/ferry-test-logs-XXXXXX)

run_one() {
	local name=$1; shift
	local log="$logdir/$(echo "$name" | tr '/ ' '__').log"
	local start=$SECONDS
	"$@" >"$log" 2>&1
	local rc=$?
	local p f
	p=$(grep -c '^ok - ' "$log")
	f=$(grep -c '^not ok - ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name: exited $rc" >>"$log"
	fi
	pass=$((pass + p)); fail=$((fail + f))
	printf '%-40s %3d passed, %d failed (%ds)\n' "$name" "$p" "$f" $((SECONDS - start))
	if [ "$f" -ne 0 ]; then
		failed_names+=("$name")
		grep -E '^(not ok|#)' "$log" | head -40 | sed 's/^/    /'
		echo "    --- last lines of $log:"
		tail -15 "$log" | sed 's/^/    /'
	fi
}

# ThreadSanitizer (make tsan): the units of threaded code, built into
# build/tsan by make test.  The runtime of GCC 12 cannot start when the
# kernel randomises mmap too widely ("unexpected memory mapping"): such a
# run is repeated with address randomisation off for that process.
tsan_opts="halt_on_error=1 second_deadlock_stack=1"
tsan_run() {
	local out rc
	out=$(TSAN_OPTIONS=$tsan_opts "$@" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q 'unexpected memory mapping' <<<"$out"; then
		local out2 rc2
		out2=$(TSAN_OPTIONS=$tsan_opts setarch "$(uname -m)" -R "$@" 2>&1)
		rc2=$?
		# setarch itself refused (personality(2) not allowed, as in
		# a container's default seccomp profile): the first run's
		# FATAL stands.
		if ! grep -q '^setarch: ' <<<"$out2"; then
			out=$out2 rc=$rc2
		fi
	fi
	printf '%s\n' "$out"
	return "$rc"
}

# The planted race of tests/tsan/tsan_canary.c must be reported: else the
# threaded units' clean runs prove nothing.  Judged from its one run
# (probe, probe_rc below).
tsan_canary() {
	local out=$probe rc=$probe_rc
	printf '%s\n' "$out" | tail -20
	if [ "$rc" -ne 0 ] && grep -q 'WARNING: ThreadSanitizer: data race' <<<"$out"; then
		echo "ok - ThreadSanitizer reports the planted race (exit $rc)"
	else
		echo "not ok - ThreadSanitizer did not report the planted race" \
			"(exit $rc): the threaded units' runs under it prove nothing;" \
			"see the output above"
	fi
	return 0
}

cd "$root"
for t in "$asan"/tests/test_*; do
	[ -x "$t" ] || continue
	n=unit/$(basename "$t")
	[ -n "$pat" ] && [[ "$n" != *$pat* ]] && continue
	run_one "$n" timeout 600 "$t"
done
tsan=$(cd "$root" && cd "${FERRY_TSAN_BUILD:-build/tsan}/tests" 2>/dev/null && pwd)
tsan_skip=
if [ -n "$tsan" ]; then
	# A runtime that cannot start here at all (even with address
	# randomisation off, e.g. where personality(2) is not allowed) is
	# this machine's limit, not a failure of Ferry's: said, not counted.
	probe=$(tsan_run "$tsan/tsan_canary")
	probe_rc=$?
	if grep -q 'FATAL: ThreadSanitizer' <<<"$probe" &&
	    ! grep -q 'WARNING: ThreadSanitizer' <<<"$probe"; then
		tsan_skip=$(grep -m1 'FATAL: ThreadSanitizer' <<<"$probe")
		printf '%-40s skipped: %s\n' tsan/ "$tsan_skip"
	fi
fi
if [ -n "$tsan" ] && [ -z "$tsan_skip" ]; then
	n=tsan/tsan_canary
	if [ -z "$pat" ] || [[ "$n" == *$pat* ]]; then
		run_one "$n" tsan_canary
	fi
	for t in "$tsan"/test_*; do
		[ -x "$t" ] || continue
		n=tsan/$(basename "$t")
		[ -n "$pat" ] && [[ "$n" != *$pat* ]] && continue
		run_one "$n" tsan_run timeout 600 "$t"
	done
fi
for s in tests/scenario/*.sh tests/interop/*.py; do
	[ -f "$s" ] || continue
	case "$s" in *lib.sh) continue ;; esac	# helpers, not tests
	n=scenario/$(basename "$s")
	[ -n "$pat" ] && [[ "$n" != *$pat* ]] && continue
	case "$s" in
	*.py) run_one "$n" timeout 600 /usr/bin/python3 "$s" ;;
	*) run_one "$n" timeout 600 bash "$s" ;;
	esac
done
echo
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
	echo "logs in $logdir"
else
	rm -rf "$logdir"
fi
if [ -n "$tsan_skip" ]; then
	echo "not run: the ThreadSanitizer units (tsan/): its runtime cannot" \
		"start on this machine: $tsan_skip"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
