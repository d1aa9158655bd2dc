#!/bin/bash
# Slow and hostile peers: three authenticated agencies misbehave at once
# (tests/tools/relayc):
#   stall  connects, takes messages and never acknowledges one;
#   flood  sends thousands of referrals as fast as it can (to stall, so its
#          queue hits queue_max and the relay must refuse, not grow);
#   junk   sends garbage frames, multi-frame messages, oversize frames,
#          tampered and spoofed envelopes, in a loop.
# Meanwhile two well-behaved agencies (real ferry-agent) exchange
# referrals.  The relay must keep serving them: every normal referral is
# delivered with a verified receipt (time measured and printed, no
# threshold), the relay stays up, nothing accepted for the stalled peer
# is lost (delivered once it behaves), and it stops cleanly.  And a
# malformed request on an agent's control socket is answered, not left
# hanging.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo stall flood junk
QMAX=1500
ft_relay_start queue_max=$QMAX log_level=info || exit 1
for a in alpha bravo; do
	fa_conf "$a" log_level=info
	fa_start "$a" || exit 1
done
doc=$VECTORS/safeguarding-adult.json
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# send_wait FROM TO N TAG: N referrals with ferry send, wait (bounded) for
# all delivered; elapsed ms in $ELAPSED, ids in $FT/ids-TAG.
all_delivered() {
	local a=$1 f=$2
	fa "$a" outbox --json | $PY -c 'import json,sys
ids=set(open(sys.argv[1]).read().split())
st={m["msg_id"]:m for m in json.load(sys.stdin)}
sys.exit(0 if all(i in st and st[i]["state"]=="delivered" and st[i].get("receipt_verified") for i in ids) else 1)' "$f" 2>/dev/null
}
send_wait() {
	local from=$1 to=$2 n=$3 tag=$4 i t0
	: >"$FT/ids-$tag"
	t0=$(now_ms)
	for i in $(seq 1 "$n"); do
		fa "$from" send --to "$to" "$doc" >>"$FT/ids-$tag" 2>>"$FT/send.err"
	done
	if ft_wait 180 all_delivered "$from" "$FT/ids-$tag"; then
		ELAPSED=$(($(now_ms) - t0))
		return 0
	fi
	ELAPSED=-1
	return 1
}

# Baseline, nobody misbehaving.
if send_wait alpha bravo 10 base; then
	BASE=$ELAPSED
	ft_ok "baseline: 10 referrals alpha -> bravo delivered in $BASE ms"
else
	ft_fail "baseline delivery"
fi

# The hostile peers.
ft_bg "$FT/stall.out" "$FT/stall.err" "$RELAYC" recv "$RELAY_EP" \
	"$FT/keys/stall.key" "$FT/roster" --no-receipts --credit 64 \
	--count 100000 --timeout 100
STALL=$FT_LASTPID
# flood: 3000 at once, then rounds of 1000 more (all refused: queue full)
# for as long as the normal traffic runs.
touch "$FT/flood.go" "$FT/junk.go"
flood() {
	local r=0 n=3000
	while [ -e "$FT/flood.go" ] && [ $r -lt 100 ]; do
		"$RELAYC" send "$RELAY_EP" "$FT/keys/flood.key" "$FT/roster" stall \
		    --count $n --size 1024 --marker FLOOD --timeout 150 \
		    >>"$FT/flood.out" 2>>"$FT/flood.err"
		r=$((r + 1)) n=1000
		echo "round $r" >>"$FT/flood.rounds"
	done
}
flood &
FLOOD=$!
FT_PIDS+=("$FLOOD")
junk() {
	local m r=0
	while [ -e "$FT/junk.go" ] && [ $r -lt 200 ]; do
		r=$((r + 1))
		for m in garbage frames tamper spoof:alpha empty badto; do
			"$RELAYC" send "$RELAY_EP" "$FT/keys/junk.key" "$FT/roster" \
			    bravo --mode "$m" --count 100 --timeout 20 \
			    >>"$FT/junk.out" 2>>"$FT/junk.err"
		done
		"$RELAYC" send "$RELAY_EP" "$FT/keys/junk.key" "$FT/roster" bravo \
		    --mode huge --count 1 --timeout 2 >>"$FT/junk.out" 2>>"$FT/junk.err"
		echo "round $r" >>"$FT/junk.rounds"
	done
}
junk &
JUNK=$!
FT_PIDS+=("$JUNK")
ft_wait 30 grep -q '^msg ' "$FT/stall.out"
ft_wait 30 grep -q '^nack ' "$FT/junk.out"

# Normal traffic during the attack, both ways, and a few to the stalled peer.
: >"$FT/ids-stall"
for i in 1 2 3 4 5; do
	fa alpha send --to stall "$doc" >>"$FT/ids-stall" 2>>"$FT/send.err"
done
if send_wait alpha bravo 30 ab && AB=$ELAPSED && send_wait bravo alpha 30 ba; then
	ft_ok "under attack: 30 referrals alpha -> bravo delivered with verified receipts in $AB ms (baseline 10 in $BASE ms)"
	ft_ok "under attack: 30 referrals bravo -> alpha delivered with verified receipts in $ELAPSED ms"
else
	ft_fail "under attack: normal referrals not all delivered within 180 s"
fi
ft_check "the relay is still running" kill -0 "$RELAY_PID"
ft_check "the attack was still going on meanwhile (flood, junk and stall running)" \
	bash -c "kill -0 $FLOOD && kill -0 $STALL && kill -0 $JUNK"
ft_check "bravo's inbox holds exactly the 30 + 10 referrals from alpha" \
	[ "$(fa_inbox_count bravo)" -eq 40 ]
ft_check "alpha's inbox holds exactly bravo's 30" [ "$(fa_inbox_count alpha)" -eq 30 ]

# Stop the flood and the junk (their current rounds finish, bounded).
rm -f "$FT/junk.go" "$FT/flood.go"
ft_wait_exit "$FLOOD" 150 || kill -TERM "$FLOOD" 2>/dev/null
ft_wait_exit "$JUNK" 60 || kill -TERM "$JUNK" 2>/dev/null
frounds=$(ft_count round "$FT/flood.rounds")
fsent=$((3000 + (frounds - 1) * 1000))
acc=$(ft_count '^accepted ' "$FT/flood.out")
full=$(ft_count '^nack FERRY_EQUEUEFULL ' "$FT/flood.out")
qstall=$(grep -c 'accepted .*to=stall' "$RELAY_ERR")
astall=$(grep -c 'accepted .*from=alpha to=stall' "$RELAY_ERR")
echo "# flood: $frounds rounds, $fsent sent: $acc ACCEPTED, $full NACK FERRY_EQUEUEFULL; stall received $(ft_count '^msg ' "$FT/stall.out") and acknowledged none"
echo "# alpha's 5 to stall: $astall accepted so far, the rest refused FERRY_EQUEUEFULL (transient: the agent retries)"
ft_check "flood: every one of its $fsent answered (ACCEPTED or NACK)" \
	[ $((acc + full)) -eq "$fsent" ]
ft_check "flood: the stalled recipient's queue stopped at queue_max ($QMAX): the rest refused with FERRY_EQUEUEFULL" \
	[ "$full" -gt 0 ]
ft_check "queue for the stalled recipient never above queue_max ($qstall accepted, none acknowledged, <= $QMAX)" \
	[ "$qstall" -le "$QMAX" ]
rounds=$(ft_count round "$FT/junk.rounds")
nj=$(ft_count '^nack ' "$FT/junk.out")
echo "# junk: $rounds rounds; $nj NACKs: $(awk '$1=="nack"{print $2}' "$FT/junk.out" | sort | uniq -c | tr -s ' \n' ' ')"
ft_check "junk: garbage, tampered, spoofed, empty, misaddressed envelopes refused with NACKs" \
	[ "$nj" -gt 0 ]
ft_check "junk: nothing it sent was accepted" [ "$(ft_count '^accepted ' "$FT/junk.out")" -eq 0 ]
ft_check "junk: nothing reached bravo's inbox from junk" \
	[ "$(fa bravo inbox | grep -c ' junk ')" -eq 0 ]
rss=$(awk '/VmRSS/{print $2}' "/proc/$RELAY_PID/status" 2>/dev/null)
echo "# relay resident memory after the attack: ${rss:-?} KiB (ASan build)"
ft_check "the relay survived the attack" kill -0 "$RELAY_PID"
ft_check "stall still acknowledged nothing" \
	[ "$(grep -c ' delivered .*to=stall\|delivered msg=.* to=stall' "$RELAY_ERR")" -eq 0 ]

# The stalled peer behaves again: everything queued for it arrives once.
ft_wait_exit "$STALL" 1 || { kill -TERM "$STALL"; ft_wait_exit "$STALL" 10; }
want=$((acc + 5))
ft_recv stall --count "$want" --credit 256 --timeout 180 >"$FT/stall2.out" 2>"$FT/stall2.err"
got=$(ft_count '^msg ' "$FT/stall2.out")
ft_check "stall, acknowledging again, receives all $want accepted for it (got $got, $(ft_count '^dup ' "$FT/stall2.out") dup)" \
	[ "$got" -eq "$want" ]
ft_check "alpha's 5 to stall now delivered with verified receipts" \
	ft_wait 30 all_delivered alpha "$FT/ids-stall"
# A malformed request on an agent's control socket (a local client, not
# the relay) is answered FERRY_EINVAL naming what was wrong, not left
# without a reply until the client's timeout; WARN once per cause.
ctl_bad() {
	$PY - "ipc://$FT/alpha-data/control" "$@" <<'PYEOF'
import sys, zmq
ep, frames = sys.argv[1], [f.encode() for f in sys.argv[2:]]
s = zmq.Context.instance().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(ep)
s.send_multipart(frames)
if not s.poll(10000):
    print("no reply")
    sys.exit(1)
print(" | ".join(f.decode() for f in s.recv_multipart()))
PYEOF
}
ctl_bad x '{"cmd":"status"}' >"$FT/ctl1" 2>&1
ctl_bad x '{"cmd":"status"}' >>"$FT/ctl1" 2>&1
ctl_bad '' >"$FT/ctl2" 2>&1
sed 's/^/# /' "$FT/ctl1" "$FT/ctl2"
ft_check "control: a non-empty delimiter frame is answered FERRY_EINVAL, saying so" \
	eval '[ "$(grep -c "^ | {\"ok\":false,\"code\":\"FERRY_EINVAL\",\"error\":\"malformed control request: the first frame is not empty" "$FT/ctl1")" -eq 2 ]'
ft_check "control: a request with no request frame is answered FERRY_EINVAL, saying so" \
	grep -q '"FERRY_EINVAL","error":"malformed control request: no request frame' "$FT/ctl2"
ft_check "control: WARN control-malformed once per cause" \
	eval '[ "$(grep -c "WARN control-malformed .*first frame not empty" "$FT/alpha.err")" -eq 1 ] &&
	[ "$(grep -c "WARN control-malformed .*no request frame" "$FT/alpha.err")" -eq 1 ]'
ft_check "control: a well-formed request after them is answered" \
	eval 'fa alpha status >/dev/null 2>&1'
for a in alpha bravo; do fa_stop "$a"; done
ft_relay_stop
ft_check "relay exits 0 after it all" [ "$FT_STATUS" -eq 0 ]
ft_check "no sanitizer report from the relay or agents" \
	bash -c "! grep -q 'ERROR: AddressSanitizer\|runtime error' '$RELAY_ERR' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
