#!/bin/bash
# ferry-relay crash between its two commits (queue, then log): the relay
# dies after the queue commit (fault injection FERRY_RELAY_FAULT=
# after-queue-commit), before logging and before any ACCEPTED.  On restart
# the journal is replayed into the log, and the message is delivered.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
FERRY_RELAY_FAULT=after-queue-commit ft_relay_start || exit 1
ft_send alpha bravo --count 1 --marker JOURNAL --timeout 5 >"$FT/s" 2>&1
ft_check "relay died between the commits" ft_wait_exit "$RELAY_PID" 20
ft_check "no ACCEPTED was sent" [ "$(ft_count '^accepted ' "$FT/s")" -eq 0 ]
ft_relay_start || exit 1
ft_check "restart: the journal entry was replayed into the log" \
	grep -q 'journal-replay entries=1' "$RELAY_ERR"
ft_check "restart: the message is in the queue" \
	grep -q 'started .* queued=1 log=2' "$RELAY_ERR"
ft_recv bravo --count 1 --timeout 20 >"$FT/r" 2>&1
ft_check "the message is delivered" grep -q '^msg .* JOURNAL 1$' "$FT/r"
ft_relay_stop
ft_relay_start || exit 1
ft_check "second restart: nothing to replay, log complete (4 entries)" \
	[ "$(ft_count 'journal-replay' "$RELAY_ERR")" -eq 1 ]
ft_check "log holds ROSTER, ACCEPTED, RECEIPT, DELIVERED" \
	grep -q 'started .* queued=0 log=4' "$RELAY_ERR"
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_done
