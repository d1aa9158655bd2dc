#!/bin/bash
# One insider cannot grow the relay's append-only log with CHECKPOINTs
# (issue 13, hole 4): alpha sends 2,000 validly signed CHECKPOINTs of its
# own log with growing tree sizes, every other one with a 3.5 KiB
# extension line.  The relay logs at most one checkpoint per agency per
# checkpoint_interval (10 s by default; the rest are skipped and counted)
# and refuses notes over 1 KiB or with extension lines (refusals are
# rate-limited as usual), so its log grows by a handful of entries.
# Meanwhile charlie's message to delta is delivered, and bravo's honest
# checkpoints (sizes 1, 2, 3, 6 s apart) are still logged, at most one
# per interval (the 1st and the 3rd).  The relay's log verifies.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo charlie delta
ft_relay_start metrics_interval=200ms || exit 1
ft_wait 10 test -f "$RELAY_DATA/metrics.prom"
before=$(ft_metric ferry_relay_log_size)

ft_send bravo relay --mode checkpoint --count 3 --every 6 --timeout 30 \
	>"$FT/honest" 2>&1 &
honest=$!
ft_recv delta --count 1 --timeout 60 >"$FT/recv" 2>&1 &
recv=$!
t0=$SECONDS
ft_send alpha relay --mode checkpoint-flood --count 2000 --timeout 60 \
	>"$FT/flood" 2>&1 &
flood=$!
ft_send charlie delta --count 1 --receipts --timeout 30 >"$FT/send" 2>&1
ft_check "charlie's message accepted and receipted during the flood" \
	bash -c "grep -q '^accepted ' '$FT/send' && grep -q '^receipt ' '$FT/send'"
wait "$flood"
ft_check "alpha's 2000 CHECKPOINTs all read by the relay" \
	grep -q '^sent 2000$' "$FT/flood"
flood_s=$((SECONDS - t0))
wait "$recv"
ft_check "delta received charlie's message" grep -q '^msg ' "$FT/recv"
wait "$honest"
ft_check "bravo's 3 checkpoints read by the relay" \
	grep -q '^sent 3$' "$FT/honest"
sleep 0.5
after=$(ft_metric ferry_relay_log_size)
skipped=$(ft_metric ferry_relay_checkpoints_skipped_total)
echo "# relay log: $before -> $after entries; flood took ${flood_s}s;" \
	"checkpoints skipped: ${skipped:-none}"
ft_check "the log grows by a handful of entries ($before -> $after)" \
	[ $((after - before)) -le 20 ]
ft_check "checkpoints over the rate are counted as skipped (${skipped:-none})" \
	[ "${skipped:-0}" -ge 900 ]
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_check "the relay's log verifies" \
	"$B/ferry-audit" verify "$RELAY_DATA/log" --roster "$FT/roster"
"$B/ferry-audit" export "$RELAY_DATA/log" --csv >"$FT/csv"
a_cp=$(awk -F, '$2 == "CHECKPOINT" && $6 == "alpha"' "$FT/csv" | wc -l)
a_all=$(awk -F, '$6 == "alpha"' "$FT/csv" | wc -l)
echo "# alpha: $a_cp CHECKPOINT entries, $a_all entries in all"
ft_check "alpha: at most one CHECKPOINT entry per 10 s ($a_cp in ${flood_s}s)" \
	[ "$a_cp" -le $((1 + flood_s / 10)) ]
ft_check "alpha: a handful of entries in all ($a_all in ${flood_s}s)" \
	[ "$a_all" -le $((4 + flood_s)) ]
ft_check "no checkpoint with an extension line was logged" \
	bash -c "! awk -F, '\$2 == \"CHECKPOINT\" && \$11 > 1024' '$FT/csv' | grep -q ."
awk -F, '$2 == "CHECKPOINT" && $6 == "bravo" { print $3 }' "$FT/csv" \
	>"$FT/bravo-times"
echo "# bravo's logged checkpoints at (ms): $(tr '\n' ' ' <"$FT/bravo-times")"
ft_check "bravo's checkpoints logged: the 1st and 3rd, 10 s or more apart" \
	$PY -c 'import sys
t = [int(x) for x in open(sys.argv[1]).read().split()]
sys.exit(0 if len(t) == 2 and t[1] - t[0] >= 10000 else 1)' "$FT/bravo-times"
ft_done
