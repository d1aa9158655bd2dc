# Helpers shared by the spin model runners (run.sh: delivery.pml;
# relays.sh: relays.pml).  Source after setting `model` (the .pml file's
# name) and `here` (this folder); model_setup then copies the model into a
# temporary folder and works there.  Each check prints one TAP line
# ("ok - ..." / "not ok - ..."); nfail counts the failures.
#
#   build DEFS CCFLAGS          spin -a, then cc; built=1 on success
#   check NAME EXPECT PANFLAGS  run the last build; EXPECT: hold
#                               (complete search, no error) or violate
#   replay NAME TRAIL DEFS DESC VAR=VALUE...
#                               the saved trail still replays on today's
#                               model to an acceptance cycle whose final
#                               state has every VAR=VALUE

nfail=0
built=0 bdefs=

model_setup() {
	for t in spin cc; do
		if ! command -v "$t" >/dev/null 2>&1; then
			echo "not ok - model: $t not found (apt-get install spin gcc)"
			exit 1
		fi
	done
	work=$(mktemp -d /tmp/ferry-model-XXXXXX)
	trap 'rm -rf "$work"' EXIT INT TERM
	cp "$here/$model" "$work/"
	cd "$work" || exit 1
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# build DEFS CCFLAGS: spin -a, then cc, in $work; remembers DEFS for
# printing trails.  -O0 compiles fastest, which is what counts for the
# small searches; the large ones pass -O1.
build() {
	built=0 bdefs=$1
	rm -f pan pan.? pan.?? "$model.trail"
	if ! spin $1 -a "$model" >spin.out 2>&1; then
		sed 's/^/# /' spin.out
		return 1
	fi
	if ! cc -w -O0 -DNFAIR=3 -DMEMLIM=3072 $2 -o pan pan.c >cc.out 2>&1
	then
		sed 's/^/# /' cc.out | head -20
		return 1
	fi
	built=1
}

check() {
	name=$1 expect=$2 panf=$3
	if [ "$built" != 1 ]; then
		echo "not ok - $name: spin/cc failed"
		nfail=$((nfail + 1))
		return
	fi
	rm -f "$model.trail"
	t0=$(now)
	./pan $panf >pan.out 2>&1
	t=$(secs "$t0" "$(now)")
	errs=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out | tail -1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.out |
	    tail -1)
	incomplete=
	if grep -qE 'max search depth too small|reached -DMEMLIM|out of memory|search not completed' pan.out
	then
		incomplete=" (search incomplete)"
	fi
	what="$states states, ${t}s"
	case "$expect" in
	hold)
		if [ "$errs" = 0 ] && [ -z "$incomplete" ]; then
			echo "ok - $name ($what)"
		else
			echo "not ok - $name: errors=${errs:-?}$incomplete ($what)"
			grep -E 'pan:|error' pan.out | head -5 | sed 's/^/# /'
			if [ -f "$model.trail" ]; then
				spin $bdefs -t -k "$model.trail" \
				    "$model" 2>&1 | grep -E 'MODEL|CYCLE|assert' |
				    head -30 | sed 's/^/#   /'
			fi
			nfail=$((nfail + 1))
		fi
		;;
	violate)
		if [ -n "$errs" ] && [ "$errs" -gt 0 ]; then
			echo "ok - $name ($what)"
		else
			echo "not ok - $name: no violation found$incomplete ($what)"
			nfail=$((nfail + 1))
		fi
		;;
	esac
}

replay() {
	name=$1 trail=$2 defs=$3 desc=$4
	shift 4
	if [ ! -f "$trail" ]; then
		echo "not ok - $name: $trail missing"
		nfail=$((nfail + 1))
		return
	fi
	spin $defs -t -k "$trail" "$model" >replay.out 2>&1
	# The final state: the globals printed after "trail ends".
	sed -n '/trail ends after/,$p' replay.out >final.out
	good=1
	grep -q 'START OF CYCLE' replay.out || good=0
	grep -q 'trail ends after' replay.out || good=0
	grep -qE 'Error|not executable|bad trail|trail file|wrong' replay.out &&
	    good=0
	for kv in "$@"; do
		var=${kv%%=*} want=${kv#*=}
		got=$(sed -n "s/^[[:space:]]*$var = \([0-9]*\)\$/\1/p" final.out)
		[ "$got" = "$want" ] || good=0
	done
	if [ "$good" = 1 ]; then
		steps=$(sed -n 's/.*trail ends after \([0-9]*\) steps.*/\1/p' \
		    replay.out)
		echo "ok - $name (replays in $steps steps to the cycle: $desc)"
	else
		echo "not ok - $name: the trail no longer shows it" \
		    "(model changed? run $(basename "$0") --regen)"
		grep -E 'MODEL|CYCLE|spin:' replay.out | head -20 | sed 's/^/# /'
		sed 's/^/# /' final.out | head -40
		nfail=$((nfail + 1))
	fi
}
