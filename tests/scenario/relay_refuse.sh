#!/bin/bash
# ferry-relay refuses hostile or broken input, each with its own reason
# (a signed NACK naming the FERRY_E* code), and keeps serving others.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo charlie
ft_relay_start max_body=64K || exit 1

# expect NAME MODE CODE [relayc options]: one message in MODE gets a NACK
# with CODE, and then a normal message from charlie still gets through.
n_ok=0
expect() {
	local name=$1 mode=$2 code=$3; shift 3
	ft_send alpha bravo --mode "$mode" --timeout 10 "$@" \
		>"$FT/$name.out" 2>"$FT/$name.err"
	if grep -q "^nack $code " "$FT/$name.out"; then
		ft_ok "$name: NACK $code"
	else
		ft_fail "$name: NACK $code (got: $(tr '\n' ' ' <"$FT/$name.out"))"
	fi
	ft_check "$name: nothing accepted" \
		[ "$(ft_count '^accepted ' "$FT/$name.out")" -eq 0 ]
	ft_send charlie bravo --marker "AFTER-$name" --timeout 10 \
		>"$FT/$name.after" 2>&1
	ft_check "$name: relay still serves others" \
		grep -q '^accepted ' "$FT/$name.after"
	n_ok=$((n_ok + 1))
}

expect spoofed-sender spoof:charlie FERRY_ESENDER
expect tampered-signature tamper FERRY_EBADSIG
expect unknown-recipient badto FERRY_ERECIPIENT
expect oversize-body normal FERRY_ETOOBIG --size 200000
expect malformed-msgpack garbage FERRY_EMALFORMED
expect empty-message empty FERRY_EFRAMES
expect many-frames frames FERRY_EFRAMES

# A frame over ZMQ_MAXMSGSIZE: the connection is dropped, nothing else.
ft_send alpha bravo --mode huge --timeout 5 >"$FT/huge.out" 2>&1
ft_check "over-size frame: no answer, nothing accepted" \
	[ "$(ft_count '^accepted ' "$FT/huge.out")" -eq 0 ]
ft_send charlie bravo --marker AFTER-huge --timeout 10 >"$FT/huge.after" 2>&1
ft_check "over-size frame: relay still serves others" \
	grep -q '^accepted ' "$FT/huge.after"

# The refusals are logged with their reasons and counted in the metrics.
for code in ESENDER EBADSIG ERECIPIENT ETOOBIG EMALFORMED EFRAMES; do
	ft_check "refusal FERRY_$code logged" \
		grep -q "refused from=alpha code=FERRY_$code" "$RELAY_ERR"
done
ft_check "metrics count refusals by reason" ft_wait 10 bash -c \
	"'$B/ferry-relay' stats --data '$RELAY_DATA' | grep -q 'ferry_relay_refused_total{reason=\"FERRY_EFRAMES\"} 2'"

# A retransmitted MSG is answered again (same ACCEPTED), stored once.
ft_send alpha bravo --mode dup --marker DUP --timeout 10 >"$FT/dup.out" 2>&1
ft_check "duplicate MSG answered with ACCEPTED twice" \
	[ "$(ft_count '^accepted .* 1$' "$FT/dup.out")" -eq 2 ]
ft_check "duplicate logged as such" grep -q ' duplicate msg=' "$RELAY_ERR"

# bravo gets exactly the 8 good messages from charlie and the 1 DUP, once each.
ft_recv bravo --count 9 --timeout 20 >"$FT/recv" 2>"$FT/recv.err"
ft_check "recipient got only the accepted messages" \
	[ "$(ft_count '^msg ' "$FT/recv")" -eq 9 ]
ft_check "no refused message reached the recipient" \
	[ "$(grep -c '^msg .* FERRY-TEST' "$FT/recv")" -eq 0 ]
ft_check "the duplicate was stored once" \
	[ "$(ft_count '^msg .* DUP 1$' "$FT/recv")" -eq 1 ]
ft_relay_stop
ft_check "relay exits 0 on SIGTERM" [ "$FT_STATUS" -eq 0 ]
ft_done
