#!/bin/bash
# The relay's data folder (review L2, L7) and its passphrase (L1):
# a second relay on the same data folder exits 2 with a clear message and
# the first keeps running; an existing data folder is tightened to 0700;
# metrics.prom holds no key material; FERRY_RELAY_PASSPHRASE is gone
# from the running relay's environment.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
mkdir -p "$FT/relay-data" && chmod 755 "$FT/relay-data"
ft_relay_start || exit 1

# L7
ft_check "data folder tightened to 0700" \
	[ "$(stat -c %a "$FT/relay-data")" = 700 ]
ft_wait 10 test -f "$FT/relay-data/metrics.prom"
ft_check "metrics.prom holds no key material (no key-file bytes, no base64/hex key)" \
	bash -c "! grep -Eq '[A-Za-z0-9+/]{40,}|[0-9a-f]{64}' '$FT/relay-data/metrics.prom'"

# L2
p2=$(ft_port)
sed "s|^endpoint = .*|endpoint = tcp://127.0.0.1:$p2|" "$FT/relay.conf" >"$FT/relay2.conf"
timeout 30 "$B/ferry-relay" -c "$FT/relay2.conf" >"$FT/r2.out" 2>"$FT/r2.err"
st=$?
ft_check "second relay on the same data folder exits 2 (got $st)" [ "$st" -eq 2 ]
ft_check "... saying the data folder is in use" \
	grep -q 'data folder .* is in use by another ferry-relay' "$FT/r2.err"
ft_check "the first relay keeps running" kill -0 "$RELAY_PID"
out=$(ft_send alpha bravo --count 1 --timeout 10 2>/dev/null)
ft_check "the first relay still serves" grep -q '^accepted ' <<<"$out"
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]

# L1: a passphrase-sealed relay key.
printf 'relay pass phrase 42\n' >"$FT/pass" && chmod 600 "$FT/pass"
mkdir -p "$FT/k2" && chmod 700 "$FT/k2"
if "$B/ferry-keys" relay-init --out "$FT/k2" --passphrase-file "$FT/pass" \
	>"$FT/k2.log" 2>&1 </dev/null; then
	# The relay's identity must be the roster's: a new roster for it.
	K=$B/ferry-keys; d=$FT/keys
	"$K" roster new --admins "$d/admin-1.pub,$d/admin-2.pub,$d/admin-3.pub" \
		--threshold 2 --relay "$FT/k2/relay.request" --endpoint "$RELAY_EP" \
		--request "$d/alpha.request" --expires 365 --out "$FT/roster-s" \
		>>"$FT/k2.log" 2>&1 </dev/null &&
	"$K" roster sign --roster "$FT/roster-s" --key "$d/admin-1.key" >>"$FT/k2.log" 2>&1 &&
	"$K" roster sign --roster "$FT/roster-s" --key "$d/admin-2.key" >>"$FT/k2.log" 2>&1 ||
		ft_fail "make a roster for the sealed relay key"
	cat >"$FT/relay3.conf" <<EOC
[relay]
endpoint = tcp://127.0.0.1:$(ft_port)
data = $FT/relay3-data
key = $FT/k2/relay.key
roster = $FT/roster-s
roster_pin = $("$K" fingerprint "$FT/roster-s")
EOC
	FERRY_RELAY_PASSPHRASE='relay pass phrase 42' \
		ft_bg "$FT/r3.out" "$FT/r3.err" "$B/ferry-relay" -c "$FT/relay3.conf"
	r3=$FT_LASTPID
	ft_check "relay with a sealed key starts" ft_wait 20 grep -q ' started ' "$FT/r3.err"
	# (/proc/PID/environ shows the start-up block: the name stays there,
	# its value bytes are wiped; unsetenv keeps it from any child.)
	ft_check "the passphrase bytes not in /proc/PID/environ" \
		bash -c "! grep -aq 'relay pass phrase 42' /proc/$r3/environ"
	kill -TERM "$r3"; ft_wait_exit "$r3" 20
else
	ft_fail "ferry-keys relay-init --passphrase-file"; sed 's/^/# /' "$FT/k2.log"
fi
# A data folder whose parent is missing: said, with the next step.
timeout 20 "$B/ferry-relay" -c "$FT/relay.conf" --data "$FT/no-such-parent/data" \
	>/dev/null 2>"$FT/np.err" </dev/null
ft_check "data folder's parent missing: the relay does not start" [ $? -eq 1 ]
ft_check "data folder's parent missing: says so and what to do" \
	grep -q "ERROR data path=$FT/no-such-parent/data .*hint=\"cannot create $FT/no-such-parent/data: the folder above it does not exist: create it" "$FT/np.err"
ft_done
