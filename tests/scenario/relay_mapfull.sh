#!/bin/bash
# ferry-relay with a tiny LMDB map: MDB_MAP_FULL aborts the batch, the map
# grows and the batch is redone; every message is still ACCEPTED exactly
# once and delivered.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start map_size=1M || exit 1
ft_send alpha bravo --count 600 --size 4000 --marker MAPFULL --timeout 120 \
	>"$FT/s" 2>"$FT/s.err"
ft_check "600 accepted with a 1 MiB initial map" \
	[ "$(ft_count '^accepted ' "$FT/s")" -eq 600 ]
ft_check "the map grew (logged)" grep -q 'queue-map-grow' "$RELAY_ERR"
ft_recv bravo --count 600 --credit 64 --timeout 120 >"$FT/r" 2>"$FT/r.err"
ft_check "all 600 delivered, none twice" \
	[ "$(awk '$1=="msg"{print $2}' "$FT/r" | sort -u | wc -l)" -eq 600 ]
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
