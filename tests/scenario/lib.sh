# tests/scenario/lib.sh: shared helpers for scenario tests that build a
# whole Ferry network in a temporary folder with the real programs.
#
# Usage (in a scenario script run by tests/run.sh, which sets FERRY_BIN):
#
#     . "$(dirname "$0")/lib.sh"
#     ft_init                           # temp dir $FT, cleanup trap
#     ft_net relay alpha bravo          # keys + 2-of-3 signed roster v1
#     ft_relay_start                    # ferry-relay on a free port
#     ft_ok "something works"           # or: ft_check "name" cmd args...
#     ft_done                           # exit status from the checks
#
# Everything a test starts goes through ft_bg, so the EXIT trap kills it.
# Every wait is bounded (ft_wait).  Servers bind 127.0.0.1 only.
#
# Variables after ft_net / ft_relay_start:
#   $FT             the test's temp folder (removed at exit unless
#                   FERRY_KEEP=1)
#   $FT/keys/ID.key secret key of identity ID (admins: admin-1..3), made
#                   by ferry-keys; ID.request / ID.pub its public file
#   $FT/roster      roster version 1 (2-of-3 admins, relay, agencies)
#   $FT/roster.pin  its fingerprint (the install-time pin)
#   $RELAY_EP       tcp://127.0.0.1:PORT of the relay
#   $RELAY_DATA     the relay's data folder; $RELAY_ERR its stderr log
#   $RELAY_PID      the relay's pid
#   $B              the programs' folder ($FERRY_BIN, default build/asan)

: "${FERRY_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${FERRY_BIN:=$FERRY_ROOT/build/asan}"
B=$FERRY_BIN
RELAYC=$B/tools/relayc
PY=/usr/bin/python3
FT_FAILS=0
FT_PIDS=()
# ASan: leaks are errors, but a killed (-9) process never reports.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

# ---- results ----

# ft_ok NAME: print "ok - NAME".
ft_ok() { echo "ok - $*"; }

# ft_fail NAME: print "not ok - NAME" and remember the failure.
ft_fail() { echo "not ok - $*"; FT_FAILS=$((FT_FAILS + 1)); }

# ft_check NAME CMD...: ok if CMD succeeds, else not ok.
ft_check() {
	local name=$1; shift
	if "$@"; then ft_ok "$name"; else ft_fail "$name"; fi
}

# ft_done: exit 0 if no check failed.
ft_done() {
	[ "$FT_FAILS" -eq 0 ] && exit 0
	exit 1
}

# ---- setup and cleanup ----

# ft_init: make $FT and install the cleanup trap.
ft_init() {
	FT=$(mktemp -d /tmp/ferry-scn-XXXXXX)
	chmod 700 "$FT"
	trap ft_cleanup EXIT
	trap 'exit 1' INT TERM
}

# ft_cleanup: TERM every started process, then KILL what remains; remove $FT.
ft_cleanup() {
	local p i
	for p in "${FT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for i in $(seq 1 50); do
		local alive=0
		for p in "${FT_PIDS[@]}"; do
			kill -0 "$p" 2>/dev/null && alive=1
		done
		[ $alive -eq 0 ] && break
		sleep 0.1
	done
	for p in "${FT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${FERRY_KEEP:-0}" = 1 ]; then
		echo "# kept $FT"
	else
		rm -rf "$FT"
	fi
}

# ft_bg OUT ERR CMD...: start CMD in the background with stdout to OUT and
# stderr to ERR; its pid in $FT_LASTPID, killed at exit.
ft_bg() {
	local out=$1 err=$2; shift 2
	"$@" >"$out" 2>"$err" &
	FT_LASTPID=$!
	FT_PIDS+=("$FT_LASTPID")
}

# ft_wait SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 on timeout.
ft_wait() {
	local secs=$1 i; shift
	for i in $(seq 1 $((secs * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# ft_wait_exit PID SECONDS: wait for PID to exit; its status in $FT_STATUS.
# Returns 1 if it is still running after SECONDS.
ft_wait_exit() {
	local pid=$1 secs=$2 i
	for i in $(seq 1 $((secs * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && return 1
	wait "$pid"
	FT_STATUS=$?
	return 0
}

# ft_port: a free TCP port on 127.0.0.1.
ft_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ft_count PATTERN FILE: number of lines of FILE matching PATTERN (0 if none).
ft_count() {
	local n
	n=$(grep -c -- "$1" "$2" 2>/dev/null)
	echo "${n:-0}"
}

# ---- the network ----

# ft_net RELAY-ID AGENCY[:KIND]...: with ferry-keys, keys for 3 admins
# (admin-1..3), the relay and each agency (kind police unless given), and
# roster version 1 (threshold 2 of 3, relay endpoint $RELAY_EP) signed by
# admin-1 and admin-2, in $FT; its fingerprint in $FT/roster.pin.  Also
# $FT/keys/outsider.key: a valid agency key that is NOT in the roster.
# Every secret key is $FT/keys/ID.key, every public file $FT/keys/ID.*.
ft_net() {
	RELAY_ID=$1; shift
	: "${RELAY_PORT:=$(ft_port)}"
	RELAY_EP=tcp://127.0.0.1:$RELAY_PORT
	local K=$B/ferry-keys d=$FT/keys a id kind reqs=()
	mkdir -p "$d" && chmod 700 "$d"
	_ft_k() { "$@" >>"$FT/keys.log" 2>&1 </dev/null ||
		{ ft_fail "ft_net: $*"; tail -5 "$FT/keys.log" | sed 's/^/# /'; exit 1; }; }
	for a in admin-1 admin-2 admin-3; do
		_ft_k "$K" admin-init --name "$a" --out "$d"
	done
	_ft_k "$K" relay-init --id "$RELAY_ID" --out "$d"
	for a in "$@" outsider:charity; do
		id=${a%%:*}; kind=police
		[ "$id" != "$a" ] && kind=${a#*:}
		_ft_k "$K" init --id "$id" --kind "$kind" --name "Test $id" --out "$d"
		[ "$id" = outsider ] || reqs+=(--request "$d/$id.request")
	done
	_ft_k "$K" roster new --admins "$d/admin-1.pub,$d/admin-2.pub,$d/admin-3.pub" \
		--threshold 2 --relay "$d/$RELAY_ID.request" --endpoint "$RELAY_EP" \
		"${reqs[@]}" --expires 365 --out "$FT/roster"
	_ft_k "$K" roster sign --roster "$FT/roster" --key "$d/admin-1.key"
	_ft_k "$K" roster sign --roster "$FT/roster" --key "$d/admin-2.key"
	"$K" fingerprint "$FT/roster" >"$FT/roster.pin" ||
		{ ft_fail "ft_net: fingerprint"; exit 1; }
}

# ft_revoke AGENCY IN OUT: with ferry-keys, the next roster version after
# IN with AGENCY revoked, signed by admin-1 and admin-2, written to OUT.
ft_revoke() {
	local K=$B/ferry-keys
	"$K" roster revoke --roster "$2" --id "$1" --expires 365 --out "$3" \
		>>"$FT/keys.log" 2>&1 </dev/null &&
	"$K" roster sign --roster "$3" --key "$FT/keys/admin-1.key" \
		--previous "$2" >>"$FT/keys.log" 2>&1 </dev/null &&
	"$K" roster sign --roster "$3" --key "$FT/keys/admin-2.key" \
		--previous "$2" >>"$FT/keys.log" 2>&1 </dev/null
}

# ft_kv_lines KEY=VALUE...: "KEY = VALUE" lines for a config file, each
# key once: a later KEY=VALUE replaces an earlier one's value (the
# daemons refuse a key set twice), so callers pass defaults then overrides.
ft_kv_lines() {
	local -A val=()
	local -a order=()
	local kv k
	for kv in "$@"; do
		k=${kv%%=*}
		[ -n "${val[$k]+x}" ] || order+=("$k")
		val[$k]=${kv#*=}
	done
	for k in "${order[@]}"; do echo "$k = ${val[$k]}"; done
}

# ---- the relay ----

# ft_relay_conf [KEY=VALUE...]: write $FT/relay.conf (the keys given
# replace the defaults' values: ft_kv_lines).  The relay reads its roster from
# $FT/relay-roster (a copy of $FT/roster at first; replace it and call
# ft_relay_hup to hand it a new version).
ft_relay_conf() {
	: "${RELAY_PORT:=$(ft_port)}"
	RELAY_EP=tcp://127.0.0.1:$RELAY_PORT
	RELAY_DATA=$FT/relay-data
	RELAY_ERR=$FT/relay.err
	{
		echo "[relay]"
		ft_kv_lines "endpoint=$RELAY_EP" "data=$RELAY_DATA" \
		    "key=$FT/keys/$RELAY_ID.key" "roster=$FT/relay-roster" \
		    "roster_pin=$(cat "$FT/roster.pin")" "log_level=debug" "$@"
	} >"$FT/relay.conf"
	[ -f "$FT/relay-roster" ] || cp "$FT/roster" "$FT/relay-roster"
}

# ft_relay_start [KEY=VALUE...]: (re)write the config and start the relay
# (stderr appended to $RELAY_ERR); waits until it logs "started".
ft_relay_start() {
	ft_relay_conf "$@"
	_ft_relay_run relay "$RELAY_ERR" "relay started" || return 1
	RELAY_PID=$_FT_RELAY_PID
}
# _ft_relay_run NAME ERR WHAT: ferry-relay -c $FT/NAME.conf (stdout to
# $FT/NAME.out, stderr appended to ERR) in the background, its pid in
# $_FT_RELAY_PID; waits until it logs "started", else fails WHAT.
_ft_relay_run() {
	local before
	before=$(ft_count ' started ' "$2")
	"$B/ferry-relay" -c "$FT/$1.conf" >>"$FT/$1.out" 2>>"$2" &
	_FT_RELAY_PID=$!
	FT_PIDS+=("$_FT_RELAY_PID")
	if ! ft_wait 20 _ft_started "$_FT_RELAY_PID" "$2" "$before"; then
		ft_fail "$3"
		tail -20 "$2" | sed 's/^/# /'
		return 1
	fi
}
# _ft_started PID ERR BEFORE: PID alive and ERR has more "started" lines.
_ft_started() {
	kill -0 "$1" 2>/dev/null &&
		[ "$(ft_count ' started ' "$2")" -gt "$3" ]
}

# ft_relay_stop: SIGTERM; waits (bounded) for a clean exit; status in $FT_STATUS.
ft_relay_stop() {
	kill -TERM "$RELAY_PID" 2>/dev/null
	ft_wait_exit "$RELAY_PID" 20
}

# ft_relay_kill9: kill -9 the relay and reap it.
ft_relay_kill9() {
	kill -KILL "$RELAY_PID" 2>/dev/null
	ft_wait_exit "$RELAY_PID" 10
}

# ft_relay2_add ID: a second relay ID (keys $FT/keys/ID.*, endpoint
# $RELAY2_EP) added to $FT/roster with ferry-keys roster add-relay, and
# that version, signed by admin-1 and admin-2, made the install roster
# ($FT/roster, $FT/roster.pin) of everything started after this.  Call
# after ft_net, before starting relays or agents.
ft_relay2_add() {
	local K=$B/ferry-keys a
	RELAY2_ID=$1
	: "${RELAY2_PORT:=$(ft_port)}"
	RELAY2_EP=tcp://127.0.0.1:$RELAY2_PORT
	{ "$K" relay-init --id "$RELAY2_ID" --out "$FT/keys" &&
	  "$K" roster add-relay --roster "$FT/roster" \
		--relay "$FT/keys/$RELAY2_ID.request" --endpoint "$RELAY2_EP" \
		--out "$FT/roster.r2"; } >>"$FT/keys.log" 2>&1 </dev/null ||
		{ ft_fail "ft_relay2_add: add-relay"; exit 1; }
	for a in admin-1 admin-2; do
		"$K" roster sign --roster "$FT/roster.r2" --key "$FT/keys/$a.key" \
			--previous "$FT/roster" >>"$FT/keys.log" 2>&1 </dev/null ||
			{ ft_fail "ft_relay2_add: sign"; exit 1; }
	done
	mv "$FT/roster.r2" "$FT/roster" &&
	"$K" fingerprint "$FT/roster" >"$FT/roster.pin" ||
		{ ft_fail "ft_relay2_add: fingerprint"; exit 1; }
}

# ft_relay2_start [KEY=VALUE...]: start the second relay (ft_relay2_add)
# with its own config $FT/relay2.conf, data $FT/relay2-data, log
# $RELAY2_ERR and the roster file $FT/relay-roster; waits until it logs
# "started".  ft_relay2_stop: SIGTERM and wait (status in $FT_STATUS);
# ft_relay2_kill9: kill -9 and reap.
ft_relay2_start() {
	RELAY2_ERR=$FT/relay2.err
	{
		echo "[relay]"
		ft_kv_lines "endpoint=$RELAY2_EP" "data=$FT/relay2-data" \
		    "key=$FT/keys/$RELAY2_ID.key" "roster=$FT/relay-roster" \
		    "roster_pin=$(cat "$FT/roster.pin")" "log_level=debug" "$@"
	} >"$FT/relay2.conf"
	[ -f "$FT/relay-roster" ] || cp "$FT/roster" "$FT/relay-roster"
	_ft_relay_run relay2 "$RELAY2_ERR" "relay 2 started" || return 1
	RELAY2_PID=$_FT_RELAY_PID
}
ft_relay2_stop() {
	kill -TERM "$RELAY2_PID" 2>/dev/null
	ft_wait_exit "$RELAY2_PID" 20
}
# ft_relay2_kill9: kill -9 the second relay and reap it.
ft_relay2_kill9() {
	kill -KILL "$RELAY2_PID" 2>/dev/null
	ft_wait_exit "$RELAY2_PID" 10
}

# ft_relay_hup: SIGHUP (reload the roster file $FT/relay-roster).
ft_relay_hup() { kill -HUP "$RELAY_PID"; }

# ft_metric NAME: value of a metric line from ferry-relay stats ("" if absent).
ft_metric() {
	"$B/ferry-relay" stats --data "$RELAY_DATA" 2>/dev/null |
		awk -v n="$1" '$1 == n { print $2 }'
}

# ---- test clients (tests/tools/relayc) ----

# ft_send AGENCY TO [relayc options...]: seal and send messages as AGENCY;
# prints relayc's lines ("accepted ID I", "nack CODE ID I", ...).
ft_send() {
	local who=$1 to=$2; shift 2
	"$RELAYC" send "$RELAY_EP" "$FT/keys/$who.key" "$FT/roster" "$to" "$@"
}

# ft_recv AGENCY [relayc options...]: connect as AGENCY, receive and
# acknowledge messages; prints "msg ID CONTENT" / "dup ID" lines.
ft_recv() {
	local who=$1; shift
	"$RELAYC" recv "$RELAY_EP" "$FT/keys/$who.key" "$FT/roster" "$@"
}
