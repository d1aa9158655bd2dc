#!/bin/bash
# ferry-relay killed around its one synced commit per batch (fault
# injection FERRY_RELAY_FAULT).  The queue's tables live in the log's LMDB
# environment, so a batch's queue changes and log entries are written
# together or not at all.
#   before-commit: dies with a MSG received and checked, not committed:
#     no ACCEPTED left; after a restart neither the queue nor the log holds
#     it (nothing half-written) and a new send is accepted and delivered.
#   after-commit: dies right after the commit, before answering: no
#     ACCEPTED left, yet after a restart the message is queued and logged
#     and is delivered exactly once.
# After each crash the relay's log verifies (ferry-audit).  And a relay
# whose verify threads cannot be created runs on its loop's thread.
. "$(dirname "$0")/lib.sh"
ft_init
ft_net relay alpha bravo
verify_log() {
	"$B/ferry-audit" verify "$RELAY_DATA/log" --roster "$FT/roster" \
	    >"$FT/verify.$1" 2>&1
}

# 1. Killed between receiving and committing.
FERRY_RELAY_FAULT=before-commit ft_relay_start || exit 1
ft_bg "$FT/s1" "$FT/s1.err" "$RELAYC" send "$RELAY_EP" "$FT/keys/alpha.key" \
	"$FT/roster" bravo --count 1 --marker BEFORE --timeout 60
sp=$FT_LASTPID
ft_check "before-commit: relay died" ft_wait_exit "$RELAY_PID" 60
kill -KILL "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
ft_check "before-commit: no ACCEPTED was sent" \
	[ "$(ft_count '^accepted ' "$FT/s1")" -eq 0 ]
ft_relay_start || exit 1
ft_check "before-commit: restart: nothing queued, log holds only the ROSTER" \
	bash -c "last_started() { awk '/ started /{l=\$0} END{print l}' '$RELAY_ERR'; }; last_started | grep -q 'queued=0 log=1\$'"
ft_relay_stop
ft_check "before-commit: the relay's log verifies" verify_log 1

# 2. Killed after committing, before replying.
FERRY_RELAY_FAULT=after-commit ft_relay_start || exit 1
ft_bg "$FT/s2" "$FT/s2.err" "$RELAYC" send "$RELAY_EP" "$FT/keys/alpha.key" \
	"$FT/roster" bravo --count 1 --marker AFTER --timeout 60
sp=$FT_LASTPID
ft_check "after-commit: relay died" ft_wait_exit "$RELAY_PID" 60
kill -KILL "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
ft_check "after-commit: no ACCEPTED was sent" \
	[ "$(ft_count '^accepted ' "$FT/s2")" -eq 0 ]
ft_relay_start || exit 1
ft_check "after-commit: restart: the message is queued and logged (ROSTER, ACCEPTED)" \
	bash -c "last_started() { awk '/ started /{l=\$0} END{print l}' '$RELAY_ERR'; }; last_started | grep -q 'queued=1 log=2\$'"
ft_recv bravo --count 1 --timeout 20 >"$FT/r2" 2>&1
ft_check "after-commit: the message is delivered" grep -q '^msg .* AFTER 1$' "$FT/r2"
ft_relay_stop
ft_check "after-commit: the relay's log verifies" verify_log 2

# 3. Restarted without faults: a new message goes through; nothing twice.
ft_relay_start || exit 1
ft_check "restart: queue empty, log holds ROSTER, ACCEPTED, RECEIPT, DELIVERED" \
	bash -c "last_started() { awk '/ started /{l=\$0} END{print l}' '$RELAY_ERR'; }; last_started | grep -q 'queued=0 log=4\$'"
ft_send alpha bravo --count 1 --marker AGAIN --timeout 20 >"$FT/s3" 2>&1
ft_check "a new send is accepted" [ "$(ft_count '^accepted ' "$FT/s3")" -eq 1 ]
ft_recv bravo --count 1 --timeout 20 >"$FT/r3" 2>&1
ft_check "and delivered once; the killed-before-commit one never appears" \
	bash -c "grep -q '^msg .* AGAIN 1\$' '$FT/r3' && ! grep -q BEFORE '$FT/r2' '$FT/r3'"
ft_relay_stop
ft_check "relay exits 0" [ "$FT_STATUS" -eq 0 ]
ft_check "the relay's log verifies at the end" verify_log 3

# 4. Its verify threads cannot be created (FERRY_FAULT relay-threads: as
# pthread_create failing with EAGAIN under a task limit): it says so and
# why, and works on the loop's thread alone.
FERRY_FAULT=relay-threads=fail ft_relay_start verify_threads=2 || exit 1
ft_check "no threads: WARN threads names the cause and what to do" \
	grep -q "WARN threads verify_threads=2 err=.* running=1 next=.*verify_threads" "$RELAY_ERR"
ft_send alpha bravo --count 1 --marker ALONE --timeout 20 >"$FT/s4" 2>&1
ft_check "no threads: a send is accepted" [ "$(ft_count '^accepted ' "$FT/s4")" -eq 1 ]
ft_recv bravo --count 1 --timeout 20 >"$FT/r4" 2>&1
ft_check "no threads: and delivered" grep -q '^msg .* ALONE 1$' "$FT/r4"
ft_relay_stop
ft_check "no threads: metrics say one verify thread" \
	[ "$(ft_metric ferry_relay_verify_threads)" = 1 ]
ft_done
