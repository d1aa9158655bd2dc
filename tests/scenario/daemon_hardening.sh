#!/bin/bash
# daemon_hardening: the running relay and agent have a core size limit of
# 0 (soft and hard): a core file would hold their keys.  Checked on the
# release programs (ASan lowers the soft limit by itself).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha
B=$FERRY_RELEASE_BIN
# Start both with a generous inherited limit, as a shell might give them.
ulimit -S -c unlimited 2>/dev/null || ulimit -S -c "$(ulimit -H -c)"
ft_relay_start
fa_start alpha

core_zero() {
	awk '/^Max core file size/ { print $5, $6 }' "/proc/$1/limits"
}
got=$(core_zero "$RELAY_PID")
[ "$got" = "0 0" ] && ft_ok "relay: core limit 0 0" ||
	ft_fail "relay: core limit is '$got', want '0 0'"
got=$(core_zero "${FA_PID[alpha]}")
[ "$got" = "0 0" ] && ft_ok "agent: core limit 0 0" ||
	ft_fail "agent: core limit is '$got', want '0 0'"
ft_done
