#!/bin/bash
# A full disk during group-committed appends: the commit fails with
# FERRY_ENOSPC, nothing half-written is reported, and the log still
# verifies and holds every entry reported logged.  Needs root (a 2 MiB
# tmpfs); otherwise the check is skipped (reported as ok with a note).
set -u
B=${FERRY_BIN:?}
T=$B/tests/test_log
A=$B/ferry-audit
dir=$(mktemp -d /tmp/ferry-audit-full-XXXXXX)
mounted=
cleanup() { [ -n "$mounted" ] && umount "$dir/fs"; rm -rf "$dir"; }
trap cleanup EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fail=1; }
SEED=$(printf '66%.0s' $(seq 32))
PK=$("$T" pubkey "$SEED")
mkdir "$dir/fs"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=2m tmpfs "$dir/fs" 2>/dev/null; then
	ok "disk-full check skipped (needs root to mount a small tmpfs)"
	exit 0
fi
mounted=1
"$T" append "$dir/fs/l" 100000000 50 "$SEED" >"$dir/printed"
rc=$?
if [ $rc -eq 3 ] && grep -q "^error FERRY_ENOSPC" "$dir/printed"; then
	ok "full disk: commit fails with FERRY_ENOSPC"
else
	bad "full disk: FERRY_ENOSPC (rc $rc: $(tail -1 "$dir/printed"))"
fi
if "$A" verify "$dir/fs/l" --key "$PK" >"$dir/out" 2>&1; then
	ok "log on the full disk verifies"
else
	bad "log on the full disk verifies"; cat "$dir/out"
fi
size=$(awk '/^entries / { print $2 }' "$dir/out")
last=$(awk '/^logged / { n = $2 } END { print n + 0 }' "$dir/printed")
if grep -q '^logged ' "$dir/printed" && [ "$last" -lt "${size:-0}" ]; then
	ok "every entry reported logged is present (last $last, size $size)"
else
	bad "reported entries present (last $last, size $size)"
fi
exit $fail
