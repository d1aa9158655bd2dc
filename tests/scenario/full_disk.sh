#!/bin/bash
# Full disk: the relay's, a sender's and a recipient's data folders each on
# its own small tmpfs (8 MiB), filled up with a filler file in turn.  Each
# daemon must refuse new work with a clear error (and keep running), lose
# nothing it had already accepted, and recover when space returns (the
# filler removed), with every message delivered exactly once.
# Needs root (mount -t tmpfs); skipped otherwise.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "ok - # SKIP not root (full_disk needs mount -t tmpfs)"
	exit 0
fi
ft_init
MNTS=()
fd_cleanup() {
	local keep=${FERRY_KEEP:-0} m
	FERRY_KEEP=1 ft_cleanup >/dev/null
	for m in "${MNTS[@]}"; do umount "$m" 2>/dev/null; done
	if [ "$keep" = 1 ]; then echo "# kept $FT (mounts removed)"; else rm -rf "$FT"; fi
}
trap fd_cleanup EXIT
small() {
	mkdir -p "$1" && mount -t tmpfs -o size=8m,mode=0700 tmpfs "$1" ||
		{ ft_fail "mount tmpfs on $1"; exit 1; }
	MNTS+=("$1")
}
small "$FT/relay-data"
small "$FT/alpha-data"
small "$FT/bravo-data"
ft_ok "three 8 MiB tmpfs data folders (relay, alpha, bravo)"

ft_net relay alpha bravo charlie delta
ft_relay_start redeliver=2s || exit 1
fa_conf alpha log_level=info
fa_conf bravo log_level=info
fa_start alpha || exit 1
fa_start bravo || exit 1
doc=$VECTORS/nrm-adult-labour.json
id=$(fa alpha send --to bravo "$doc")
ft_check "sanity: a referral is delivered" fa_wait_state alpha "$id" delivered 30

# fill DIR LEAVE_KIB: a filler file taking all the space of DIR's
# filesystem but about LEAVE_KIB KiB.
fill() {
	local dir=$1 leave=$2 avail
	avail=$(df -k --output=avail "$dir" | tail -1 | tr -d ' ')
	if [ "$avail" -gt "$leave" ]; then
		dd if=/dev/zero of="$dir/filler" bs=1K count=$((avail - leave)) \
		    status=none 2>/dev/null
	fi
	sync
}
free_kib() { df -k --output=avail "$1" | tail -1 | tr -d ' '; }
all_delivered() {
	fa alpha outbox --json 2>/dev/null | $PY -c 'import json,sys
ids=set(open(sys.argv[1]).read().split())
st={m["msg_id"]:m for m in json.load(sys.stdin)}
sys.exit(0 if all(i in st and st[i]["state"]=="delivered" and st[i].get("receipt_verified") for i in ids) else 1)' "$1" 2>/dev/null
}
inbox_ok() {	# inbox_ok IDFILE...: each id once in bravo's inbox, no id twice
	fa bravo inbox --json 2>/dev/null | $PY -c 'import json,sys
m=json.load(sys.stdin); ids=[x["msg_id"] for x in m]
want=set(open(sys.argv[1]).read().split()) if len(sys.argv) < 3 else set()
for f in sys.argv[1:]: want |= set(open(f).read().split())
sys.exit(0 if want <= set(ids) and len(set(ids))==len(ids) else 1)' "$@" 2>/dev/null
}

# ---- 1. The relay's disk fills up -------------------------------------------
# charlie -> delta by the test client; delta offline: the relay keeps all.
fill "$FT/relay-data" 1024
echo "# [${SECONDS}s] relay disk: $(free_kib "$FT/relay-data") KiB free"
ft_send charlie delta --count 400 --size 3000 --marker FULLR --timeout 10 \
	>"$FT/r1" 2>"$FT/r1.err"
acc1=$(ft_count '^accepted ' "$FT/r1")
nospc=$(ft_count '^nack FERRY_ENOSPC ' "$FT/r1")
echo "# relay full: $acc1 ACCEPTED, $nospc NACK FERRY_ENOSPC; other answers: $(grep -v '^accepted \|^nack FERRY_ENOSPC ' "$FT/r1" | awk '{print $1, $2}' | sort | uniq -c | tr -s ' \n' ' ')"
RELAY_STOPPED=0
if kill -0 "$RELAY_PID" 2>/dev/null; then
	ft_check "relay full: new messages refused with FERRY_ENOSPC ($nospc of 400)" [ "$nospc" -gt 0 ]
	ft_check "relay full: every message answered (ACCEPTED or NACK)" \
		[ $((acc1 + $(ft_count '^nack ' "$FT/r1"))) -eq 400 ]
	ft_check "relay full: a clear error in the relay's log" \
		grep -qi 'no space\|ENOSPC' "$RELAY_ERR"
	ft_ok "relay full: the relay keeps running"
else
	# What ferry-relay does today: any failed commit stops it (and
	# LMDB reports a short write on a full disk as EIO, not ENOSPC).
	RELAY_STOPPED=1
	ft_wait_exit "$RELAY_PID" 5
	echo "# NOTE: the relay STOPPED on the full disk (exit $FT_STATUS) instead of"
	echo "#   refusing with FERRY_ENOSPC and carrying on; it is restarted below,"
	echo "#   as a supervisor would, once space returns.  Its last words:"
	grep 'ERROR' "$RELAY_ERR" | tail -2 | sed 's/^/#   /'
	ft_check "relay full: it stopped with a clear error naming the failed commit" \
		grep -q 'ERROR commit err=FERRY_E[A-Z]*; stopping' "$RELAY_ERR"
	ft_check "relay full: it answered nothing it had not committed (no NACK, no ACCEPTED after the failure)" \
		[ $((acc1 + $(ft_count '^nack ' "$FT/r1"))) -lt 400 ]
fi
: >"$FT/ids-r"
id=$(fa alpha send --to bravo "$doc") && echo "$id" >>"$FT/ids-r"
ft_check "relay full: ferry send at a healthy agent still returns an id" [ -n "$id" ]
sleep 1
st=$(fa_state alpha "$id")
ft_check "relay full: that message waits (state '$st', not failed)" \
	[ "$st" = queued ]
rm -f "$FT/relay-data/filler"
echo "# [${SECONDS}s] relay disk: filler removed, $(free_kib "$FT/relay-data") KiB free"
if [ "$RELAY_STOPPED" = 1 ]; then
	ft_relay_start redeliver=2s || exit 1
	ft_ok "relay restarted after space returned"
fi
ft_send charlie delta --count 20 --size 3000 --marker AFTER --timeout 60 \
	>"$FT/r2" 2>"$FT/r2.err"
ft_check "relay recovered: 20 new messages ACCEPTED" [ "$(ft_count '^accepted ' "$FT/r2")" -eq 20 ]
acc_or_deliv() { local s; s=$(fa_state alpha "$1"); [ "$s" = accepted ] || [ "$s" = delivered ]; }
ft_check "relay recovered: alpha's waiting message accepted" \
	ft_wait 30 acc_or_deliv "$id"
ft_check "relay recovered: alpha's message delivered" ft_wait 60 all_delivered "$FT/ids-r"
want=$((acc1 + 20))
ft_recv delta --count "$want" --credit 64 --timeout 60 >"$FT/d1" 2>"$FT/d1.err"
ft_check "relay lost nothing: delta receives all $want ACCEPTED before and after the full disk ($(ft_count '^msg ' "$FT/d1"))" \
	[ "$(ft_count '^msg ' "$FT/d1")" -eq "$want" ]
ft_check "relay: none twice" [ "$(ft_count '^dup ' "$FT/d1")" -eq 0 ]
ft_check "relay: the ones delivered are the ACCEPTED ones" \
	[ "$(comm -3 <(awk '$1=="accepted"{print $2}' "$FT/r1" "$FT/r2" | sort) <(awk '$1=="msg"{print $2}' "$FT/d1" | sort) | wc -l)" -eq 0 ]

# ---- 2. A sender's disk fills up ---------------------------------------------
fill "$FT/alpha-data" 128
echo "# [${SECONDS}s] alpha disk: $(free_kib "$FT/alpha-data") KiB free"
: >"$FT/ids-a"
refused=0
for i in $(seq 1 200); do
	if id=$(fa alpha send --to bravo "$doc" 2>"$FT/sa.err"); then
		echo "$id" >>"$FT/ids-a"
	else
		refused=1
		break
	fi
done
na=$(wc -l <"$FT/ids-a")
echo "# alpha full: $na sends returned an id before the refusal:"
sed 's/^/#   /' "$FT/sa.err"
ft_check "sender full: ferry send refused (exit 1, no id)" [ "$refused" -eq 1 ]
ft_check "sender full: the error says there is no space" \
	grep -qi 'no space\|ENOSPC' "$FT/sa.err"
ft_check "sender full: the agent keeps running" kill -0 "${FA_PID[alpha]}"
fa alpha status >"$FT/alpha-status" 2>&1
ft_check "sender full: ferry status still answers" grep -q 'agent alpha' "$FT/alpha-status"
rm -f "$FT/alpha-data/filler"
echo "# [${SECONDS}s] alpha disk: filler removed, $(free_kib "$FT/alpha-data") KiB free"
id=$(fa alpha send --to bravo "$doc") && echo "$id" >>"$FT/ids-a"
ft_check "sender recovered: ferry send works again" [ -n "$id" ]
ft_check "sender recovered: all $((na + 1)) accepted sends delivered with verified receipts" \
	ft_wait 60 all_delivered "$FT/ids-a"
ft_check "bravo's inbox: every id alpha got, once; no id twice" \
	ft_wait 30 inbox_ok "$FT/ids-r" "$FT/ids-a"

# ---- 3. A recipient's disk fills up ---------------------------------------
fill "$FT/bravo-data" 64
echo "# [${SECONDS}s] bravo disk: $(free_kib "$FT/bravo-data") KiB free"
: >"$FT/ids-b"
for i in $(seq 1 30); do
	fa alpha send --to bravo "$doc" >>"$FT/ids-b" 2>>"$FT/sb.err"
done
ft_check "recipient full: 30 sends returned ids" [ "$(wc -l <"$FT/ids-b")" -eq 30 ]
ft_wait 20 bash -c "grep -qi 'no space\|ENOSPC' '$FT/bravo.err'"
ft_check "recipient full: a clear error in bravo's log" \
	grep -qi 'no space\|ENOSPC' "$FT/bravo.err"
ft_check "recipient full: bravo keeps running" kill -0 "${FA_PID[bravo]}"
ndel=$(fa alpha outbox --json | $PY -c 'import json,sys
ids=set(open(sys.argv[1]).read().split())
print(sum(1 for m in json.load(sys.stdin) if m["msg_id"] in ids and m["state"]=="delivered"))' "$FT/ids-b")
ft_check "recipient full: not all delivered while full ($ndel of 30 delivered)" [ "$ndel" -lt 30 ]
rm -f "$FT/bravo-data/filler"
echo "# [${SECONDS}s] bravo disk: filler removed, $(free_kib "$FT/bravo-data") KiB free"
ft_check "recipient recovered: all 30 delivered with verified receipts" \
	ft_wait 90 all_delivered "$FT/ids-b"
ft_check "bravo's inbox: every id alpha got, once; no id twice" \
	ft_wait 30 inbox_ok "$FT/ids-r" "$FT/ids-a" "$FT/ids-b"

# ---- audit, stop -------------------------------------------------------------
fa_stop alpha
fa_stop bravo
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
quiet() { "$@" >"$FT/audit.out" 2>&1 || { sed 's/^/# /' "$FT/audit.out" | head -10; return 1; }; }
for p in relay alpha bravo; do
	if [ "$p" = relay ]; then d=$RELAY_DATA/log; else d=$FT/$p-data/log; fi
	ft_check "ferry-audit verify $p after the full disks" \
		quiet "$B/ferry-audit" verify "$d" --roster "$FT/roster"
done
ft_check "ferry-audit compare alpha bravo" \
	quiet "$B/ferry-audit" compare "$FT/alpha-data/log" "$FT/bravo-data/log"
ft_check "ferry-audit compare alpha relay" \
	quiet "$B/ferry-audit" compare "$FT/alpha-data/log" "$RELAY_DATA/log"
ft_check "ferry-audit compare bravo relay" \
	quiet "$B/ferry-audit" compare "$FT/bravo-data/log" "$RELAY_DATA/log"
ft_check "no sanitizer report" \
	bash -c "! grep -q 'ERROR: AddressSanitizer\|runtime error' '$RELAY_ERR' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
