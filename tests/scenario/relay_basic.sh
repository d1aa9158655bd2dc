#!/bin/bash
# ferry-relay basics: admission by roster only, custody (ACCEPTED after
# store+log), forwarding to a connected recipient, RECEIPT removes the
# message and reaches the sender, metrics, clean SIGTERM.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1

# A key that is not in the roster is refused at the handshake.
out=$(ft_send outsider bravo --count 1 --timeout 5 2>/dev/null); rc=$?
ft_check "outsider key refused at handshake (client sees auth failure)" \
	[ "$rc:$out" = "3:handshake-refused" ]
ft_check "relay logged the ZAP refusal" grep -q 'zap-refuse' "$RELAY_ERR"

# alpha -> bravo while bravo is offline: 3 ACCEPTED.
ft_send alpha bravo --count 3 --marker BASIC >"$FT/send1" 2>"$FT/send1.err"
ft_check "3 messages ACCEPTED" [ "$(ft_count '^accepted ' "$FT/send1")" -eq 3 ]
ft_check "nothing NACKed" [ "$(ft_count '^nack ' "$FT/send1")" -eq 0 ]
ft_check "no message from the outsider was accepted" \
	[ "$(ft_count 'accepted.*from=outsider' "$RELAY_ERR")" -eq 0 ]

# The sender waits for receipts while bravo connects and acknowledges.
ft_bg "$FT/send2" "$FT/send2.err" "$RELAYC" send "$RELAY_EP" \
	"$FT/keys/alpha.key" "$FT/roster" bravo --count 2 --marker LIVE \
	--receipts --timeout 30
spid=$FT_LASTPID
ft_wait 20 grep -q '^accepted .* 2$' "$FT/send2"
ft_recv bravo --count 5 --timeout 20 >"$FT/recv" 2>"$FT/recv.err"
ft_check "bravo received 5 messages" [ "$(ft_count '^msg ' "$FT/recv")" -eq 5 ]
ft_check "in order: BASIC 1..3 then LIVE 1..2" \
	[ "$(awk '$1=="msg"{print $3 $4}' "$FT/recv" | tr '\n' ' ')" = \
	"BASIC1 BASIC2 BASIC3 LIVE1 LIVE2 " ]
ft_wait_exit "$spid" 30
ft_check "sender got the RECEIPTs of both its messages" \
	[ "$(ft_count '^receipt .* [12]$' "$FT/send2")" -eq 2 ]
ft_check "sender online: RECEIPTs of earlier messages forwarded too" \
	[ "$(ft_count '^receipt .* -1$' "$FT/send2")" -eq 3 ]
ft_check "relay logged 5 deliveries" ft_wait 10 \
	bash -c "[ \$(grep -c ' delivered ' '$RELAY_ERR') -eq 5 ]"

# Metrics file and stats command.
ft_check "metrics: accepted 5" ft_wait 10 bash -c \
	"[ \"\$('$B/ferry-relay' stats --data '$RELAY_DATA' | awk '\$1==\"ferry_relay_accepted_total\"{print \$2}')\" = 5 ]"
ft_check "metrics: delivered 5" [ "$(ft_metric ferry_relay_delivered_total)" = 5 ]
ft_check "metrics: queue depth of bravo 0" \
	grep -q 'ferry_relay_queue_depth{recipient="bravo"} 0' "$RELAY_DATA/metrics.prom"
ft_check "metrics: a refused handshake counted" \
	[ "$(ft_metric ferry_relay_handshakes_refused_total)" -ge 1 ]
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
[ "$cores" -gt 16 ] && cores=16
ft_check "metrics: verify threads one per core by default ($cores)" \
	[ "$(ft_metric ferry_relay_verify_threads)" = "$cores" ]
ft_check "log: the started line names the verify threads" \
	grep -q "started .*verify_threads=$cores" "$RELAY_ERR"

# Data files are private.
ft_check "queue and log files are mode 0600" \
	bash -c "! find '$RELAY_DATA' -name '*.mdb' ! -perm 600 | grep -q ."

# Configuration: unknown keys and bad values are refused (exit 2).
printf '[relay]\nendpoint = tcp://127.0.0.1:1\nbogus = 1\n' >"$FT/bad.conf"
"$B/ferry-relay" check-config -c "$FT/bad.conf" >/dev/null 2>"$FT/bad.err"
ft_check "config: unknown key refused with exit 2" \
	[ "$?:$(grep -c 'unknown key "bogus"' "$FT/bad.err")" = "2:1" ]
"$B/ferry-relay" check-config -c "$FT/relay.conf" --expiry 5x >/dev/null 2>&1
ft_check "config: bad duration refused with exit 2" [ "$?" -eq 2 ]
ft_check "config: the test config checks ok" \
	"$B/ferry-relay" check-config -c "$FT/relay.conf" --queue-max 10 --expiry 5d

# SIGTERM: clean exit.
ft_relay_stop
ft_check "SIGTERM: relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_check "SIGTERM: logged a clean stop" grep -q 'stopped clean=1' "$RELAY_ERR"
ft_done
