# tests/scenario/agent_lib.sh: helpers for ferry-agent scenarios, on top of
# lib.sh (source lib.sh first, then ft_init, ft_net, ft_relay_start).
#
#   fa_conf ID [KEY=VALUE...]   write $FT/ID.conf (data $FT/ID-data, spool
#                               $FT/ID-spool, key, roster + pin, relay;
#                               KEY=VALUE replaces a default: ft_kv_lines)
#   fa_start ID                 start ferry-agent for ID (stderr appended to
#                               $FT/ID.err), wait until it is connected
#   fa_stop ID / fa_kill9 ID    SIGTERM (status in $FT_STATUS) / kill -9
#   fa ID ARGS...               run `ferry --data $FT/ID-data ARGS...`
#   fa_state ID MSGID           print the message's state (queued, ...)
#   fa_wait_state ID MSGID S N  wait up to N seconds for state S
#   fa_relays ID                "relay=STATE relay-b=STATE" (status --json)
#   fa_is_relays ID WANT        fa_relays ID is WANT
#   fa_all_state ID STATE N     N messages in ID's outbox, all in STATE
#   fa_doc OUT [PATH=VALUE...]  the test referral with members set (PATH
#                               dotted: referrer.organisation=x)

VECTORS=$FERRY_ROOT/tests/vectors/referrals
declare -A FA_PID

fa_conf() {
	local id=$1; shift
	{
		echo "[agent]"
		ft_kv_lines "data=$FT/$id-data" "key=$FT/keys/$id.key" \
		    "roster=$FT/roster" "roster_pin=$(cat "$FT/roster.pin")" \
		    "relay=$RELAY_EP" "spool=$FT/$id-spool" "log_level=debug" \
		    "retry=300ms" "retry_max=2s" "reconnect=100ms" \
		    "reconnect_max=1s" "spool_interval=200ms" "$@"
	} >"$FT/$id.conf"
}

# fa_start ID [--no-wait]: start the agent; waits for "connected" unless --no-wait.
fa_start() {
	local id=$1 before
	[ -f "$FT/$id.conf" ] || fa_conf "$id"
	before=$(ft_count ' connected ' "$FT/$id.err")
	"$B/ferry-agent" -c "$FT/$id.conf" >>"$FT/$id.out" 2>>"$FT/$id.err" &
	FA_PID[$id]=$!
	FT_PIDS+=("$!")
	[ "${2:-}" = --no-wait ] && { ft_wait 20 test -S "$FT/$id-data/control"; return; }
	if ! ft_wait 30 _fa_connected "$id" "$before"; then
		ft_fail "agent $id connected"
		tail -20 "$FT/$id.err" | sed 's/^/# /'
		return 1
	fi
}
_fa_connected() {
	kill -0 "${FA_PID[$1]}" 2>/dev/null &&
		[ "$(ft_count ' connected ' "$FT/$1.err")" -gt "$2" ]
}

fa_stop() {
	kill -TERM "${FA_PID[$1]}" 2>/dev/null
	ft_wait_exit "${FA_PID[$1]}" 20
}

fa_kill9() {
	kill -KILL "${FA_PID[$1]}" 2>/dev/null
	ft_wait_exit "${FA_PID[$1]}" 10
}

fa() {
	local id=$1; shift
	"$B/ferry" --data "$FT/$id-data" "$@"
}

fa_state() {
	fa "$1" status --json "$2" 2>/dev/null |
		$PY -c 'import json,sys; print(json.load(sys.stdin)["message"]["state"])' 2>/dev/null
}

_fa_is_state() { [ "$(fa_state "$1" "$2")" = "$3" ]; }
fa_wait_state() { ft_wait "$4" _fa_is_state "$1" "$2" "$3"; }

# fa_same_json A B: the two files hold equal JSON values.
fa_same_json() {
	$PY -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])) else 1)' "$1" "$2"
}

# fa_inbox_count ID: number of messages in ID's inbox.
fa_relays() {
	fa "$1" status --json 2>/dev/null | $PY -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join("%s=%s" % (r["id"], r["state"]) for r in d["relays"]))'
}
fa_is_relays() { [ "$(fa_relays "$1")" = "$2" ]; }
fa_all_state() {
	fa "$1" outbox --json | $PY -c '
import json, sys
l = json.load(sys.stdin)
sys.exit(0 if len(l) == int(sys.argv[2]) and
    all(m["state"] == sys.argv[1] for m in l) else 1)' "$2" "$3"
}

fa_inbox_count() {
	fa "$1" inbox --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# fa_doc OUT [PATH=VALUE...]: write the test referral (nrm-adult-labour)
# to OUT with each dotted PATH set to VALUE (a string).
fa_doc() {
	local out=$1; shift
	$PY - "$VECTORS/nrm-adult-labour.json" "$out" "$@" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
for kv in sys.argv[3:]:
    path, value = kv.split("=", 1)
    o = d
    keys = path.split(".")
    for k in keys[:-1]:
        o = o[k]
    o[keys[-1]] = value
json.dump(d, open(sys.argv[2], "w"))
PYEOF
}
