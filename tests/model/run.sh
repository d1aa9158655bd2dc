#!/bin/sh
# Checks the Promela model of the delivery protocol (tests/model/delivery.pml,
# docs/model.md) with spin.  Prints TAP-style "ok - ..." / "not ok - ..."
# lines (tests/run.sh counts them); exits non-zero if any check fails.
#
# usage: tests/model/run.sh [--deep] [--regen]
#   --deep   also the larger fault budget (FAULTS=3)
#   --regen  write the hole-1 trails (hole1.trail, hole1b.trail) again
#            from fresh searches, then check as usual
#
# Needs spin and cc on PATH (Debian: apt-get install spin).  Works in a
# temporary folder; nothing is written to the tree except by --regen.
set -u
here=$(cd "$(dirname "$0")" && pwd)
deep=0 regen=0
for a in "$@"; do
	case "$a" in
	--deep) deep=1 ;;
	--regen) regen=1 ;;
	*) echo "usage: $0 [--deep] [--regen]" >&2; exit 2 ;;
	esac
done
model=delivery.pml
. "$here/lib.sh"
model_setup

# The bounds of the main checks (docs/model.md, "Bounds").
BOUNDS="-DNM=1 -DFAULTS=2 -DRESTORES=1 -DEXPIRY=1"
# The configurations the saved trails were found with (one fault, no
# expiry, no restore; hole1: only losses; hole1b: only link drops).
HOLE1="-DFIX=0 -DPROP=4 -DFAULTS=1 -DRESTORES=0 -DEXPIRY=0 -DDUPS=0 -DCRASHES=0 -DDROPS=0"
HOLE1B="-DFIX=0 -DPROP=4 -DFAULTS=1 -DRESTORES=0 -DEXPIRY=0 -DDUPS=0 -DCRASHES=0 -DLOSSES=0"

if [ "$regen" = 1 ]; then
	# hole1: the first cycle of a plain search; hole1b: with -i (a
	# shorter search depth finds the same-batch HELLO variant).
	build "$HOLE1" "" && { ./pan -a -f -m200000 >pan.out 2>&1; true; } &&
	    cp delivery.pml.trail "$here/hole1.trail" &&
	    echo "# wrote $here/hole1.trail"
	build "$HOLE1B" "" && { ./pan -a -f -i -m200000 >pan.out 2>&1; true; } &&
	    cp delivery.pml.trail "$here/hole1b.trail" &&
	    echo "# wrote $here/hole1b.trail"
fi

echo "# spin model of the delivery protocol: $(spin -V)"
echo "# bounds: $BOUNDS"
SAFE="-DSAFETY"
LIVE="-a -f -m400000 -w20"
P1="a promised message ends DELIVERED or FAILED"
P4="a receipted message reaches DELIVERED at its sender"
T0=$(now)

# The fix: every property holds.
build "-DFIX=1 $BOUNDS" "-O1 $SAFE"
check "FIX=1: assertions hold (2: the application gets a message once; 3: no DELIVERED before the recipient's commit)" \
    hold "-m400000 -w20"
build "-DFIX=1 -DPROP=14 $BOUNDS" "-O1"
check "FIX=1: property 1 holds ($P1)" hold "$LIVE -N p1"
check "FIX=1: property 4 holds ($P4)" hold "$LIVE -N p4"

# Today's code: the safety properties hold, the liveness ones do not.
build "-DFIX=0 $BOUNDS" "$SAFE"
check "FIX=0: assertions hold" hold "-m400000 -w20"
build "-DFIX=0 -DPROP=14 $BOUNDS" ""
check "FIX=0: property 1 is violated (hole 1)" violate "$LIVE -N p1"
check "FIX=0: property 4 is violated (hole 1)" violate "$LIVE -N p4"
build "$HOLE1" ""
check "FIX=0, a single loss: property 4 is violated" violate "$LIVE"
build "$HOLE1B" ""
check "FIX=0, a single link drop: property 4 is violated" violate "$LIVE"
# hole 1: the sender keeps the message ACCEPTED while connected, the
# recipient has it, the relay has finished it with the recipient's RECEIPT.
HOLE1_END="sender connected and ACCEPTED, recipient has it, relay DONE"
HOLE1_VARS="s_st\[0\]=2 c_has\[0\]=1 r_st\[0\]=2 r_fin\[0\]=1 s_conn=1 routed_s=1"
replay "FIX=0: hole1.trail (the forwarded RECEIPT is lost)" \
    "$here/hole1.trail" "$HOLE1" "$HOLE1_END" $HOLE1_VARS
replay "FIX=0: hole1b.trail (HELLO in the same relay batch as the RECEIPT)" \
    "$here/hole1b.trail" "$HOLE1B" "$HOLE1_END" $HOLE1_VARS

# The model is not vacuous: these states are reachable with the fix ...
build "-DFIX=1 -DPROP=9 $BOUNDS" ""
check "FIX=1: DELIVERED is reachable" violate "-a -w20 -N never_delivered"
check "FIX=1: FAILED by expiry is reachable" violate "-a -w20 -N never_expired"
check "FIX=1: FERRY_ENOTHELD reaches an ACCEPTED sender" violate "-a -w20 -N never_notheld"
# By design (protocol.md 6.3.8) a message the recipient committed can
# still expire at the relay if its RECEIPT never got there while the
# recipient was connected: property 4 allows FAILED by expiry for that.
build "-DFIX=1 -DPROP=4 -DSTRICT_P4=1 $BOUNDS" ""
check "FIX=1: without that exception property 4 is violated (expiry after the recipient's commit)" \
    violate "$LIVE"
# ... and broken variants of the fix are caught.
build "-DFIX=1 -DMUTANT=1 -DPROP=4 $BOUNDS" ""
check "mutant 1 (no answer to an ASK for a finished message) breaks property 4" \
    violate "$LIVE"
build "-DFIX=1 -DMUTANT=2 -DPROP=1 $BOUNDS" ""
check "mutant 2 (no FERRY_ENOTHELD) breaks property 1" violate "$LIVE"
build "-DFIX=1 -DMUTANT=6 -DPROP=4 $BOUNDS" ""
check "mutant 6 (ASK only at HELLO, no ASK timer) breaks property 4" \
    violate "$LIVE"
build "-DFIX=1 -DMUTANT=3 $BOUNDS" "$SAFE"
check "mutant 3 (no de-duplication at the recipient) breaks assertion 2" \
    violate "-m400000 -w20"
build "-DFIX=1 -DMUTANT=4 $BOUNDS" "$SAFE"
check "mutant 4 (RECEIPT before the recipient's commit) breaks assertion 3" \
    violate "-m400000 -w20"

if [ "$deep" = 1 ]; then
	D3="-DNM=1 -DFAULTS=3 -DRESTORES=1 -DEXPIRY=1"
	build "-DFIX=1 $D3" "-O1 $SAFE"
	check "deep, FAULTS=3: FIX=1 assertions hold" hold "-m400000"
	build "-DFIX=1 -DPROP=14 $D3" "-O1"
	check "deep, FAULTS=3: FIX=1 property 1 holds" hold "$LIVE -N p1"
	check "deep, FAULTS=3: FIX=1 property 4 holds" hold "$LIVE -N p4"
	build "-DFIX=1 -DMUTANT=5 -DPROP=4 $BOUNDS" "-O1"
	check "deep: FIX=1 without the answer-time send (mutant 5): property 4 still holds" \
	    hold "$LIVE"
	build "-DFIX=1 -DPROP=4 -DSTRICT_P4=1 -DEXPIRY=0 -DNM=1 -DFAULTS=2 -DRESTORES=1" "-O1"
	check "deep: FIX=1 without expiry: a receipted message always ends DELIVERED" \
	    hold "$LIVE"
fi
echo "# total $(secs "$T0" "$(now)")s"

[ "$nfail" -eq 0 ]
