#!/bin/bash
# agent_late_join: a partner added in roster version 2 (then 3) installs
# its agent with the pinned genesis (version 1) only, as onboarding.md
# says.  The agent starts, refuses `ferry send` with a clear message while
# it holds no roster listing it, connects (the relay admits it: its
# roster lists it), receives versions 2 and 3 from the relay, verifies
# each, and then sends and receives like any other agency.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha
K=$B/ferry-keys
_k() { "$@" >>"$FT/keys.log" 2>&1 </dev/null || ft_fail "keys: $*"; }
_k "$K" init --id charlie --kind council --name "Test charlie" --out "$FT/keys"
_k "$K" roster add --roster "$FT/roster" --request "$FT/keys/charlie.request" \
	--expires 365 --out "$FT/roster.2"
_k "$K" roster admins --roster "$FT/roster.2" --threshold 2 --expires 365 \
	--out "$FT/roster.3"
for i in 1 2; do
	_k "$K" roster sign --roster "$FT/roster.2" --key "$FT/keys/admin-$i.key" --previous "$FT/roster"
	_k "$K" roster sign --roster "$FT/roster.3" --key "$FT/keys/admin-$i.key" --previous "$FT/roster.2"
done
ft_relay_start
fa_start alpha
_adopt() { cp "$1" "$FT/relay-roster"; ft_relay_hup
	ft_wait 20 grep -q "roster-adopted.*version=$2" "$RELAY_ERR"; }
ft_check "relay adopted version 2" _adopt "$FT/roster.2" 2
ft_check "relay adopted version 3" _adopt "$FT/roster.3" 3
_v() { fa "$1" status 2>/dev/null | grep -q "roster version $2"; }
ft_check "alpha got version 3 pushed" ft_wait 20 _v alpha 3

# charlie, first with no relay reachable: starts, refuses to send.
dead=tcp://127.0.0.1:$(ft_port)
fa_conf charlie "relay=$dead"
fa_start charlie --no-wait
ft_check "charlie runs with only the genesis roster (not listed)" \
	kill -0 "${FA_PID[charlie]}"
ft_check "start log says it waits for the relay" \
	grep -q 'not-listed.*not in roster version 1' "$FT/charlie.err"
fa charlie send --to alpha "$VECTORS/nrm-adult-labour.json" >"$FT/s.out" 2>"$FT/s.err"; rc=$?
if [ $rc = 1 ] && grep -q 'not yet in the roster this agent holds (version 1); waiting for the relay to push a newer one' "$FT/s.err" &&
    grep -q FERRY_EUNKNOWNAGENCY "$FT/s.err"; then
	ft_ok "send refused while not listed, with a clear message"
else
	ft_fail "send while not listed: exit $rc: $(cat "$FT/s.out" "$FT/s.err")"
fi
ft_check "status says not listed" eval "fa charlie status | grep -q 'NOT yet in the roster'"
mkdir -p "$FT/charlie-spool/outbox/alpha"
cp "$VECTORS/nrm-adult-labour.json" "$FT/charlie-spool/outbox/alpha/early.json"
fa_stop charlie
ft_check "spool file left in place while not listed" \
	test -f "$FT/charlie-spool/outbox/alpha/early.json"

# Now with the relay: versions 2 and 3 pushed, verified, adopted.
fa_conf charlie
fa_start charlie
ft_check "charlie adopted version 3 from the relay" ft_wait 20 _v charlie 3
ft_check "charlie logged 'listed'" grep -q ' listed agency charlie' "$FT/charlie.err"
ft_check "versions 2 and 3 saved" test -f "$FT/charlie-data/roster/v00000000000000000002.roster" -a \
	-f "$FT/charlie-data/roster/v00000000000000000003.roster"
id=$(fa charlie send --to alpha "$VECTORS/nrm-adult-labour.json" 2>"$FT/s2.err")
ft_check "charlie sends once listed" test -n "$id"
ft_check "delivered to alpha" fa_wait_state charlie "$id" delivered 30
_spooled() { ls "$FT/charlie-spool/sent/alpha/" 2>/dev/null | grep -q 'json\.id$'; }
ft_check "the held spool file is sent once listed" ft_wait 20 _spooled
id2=$(fa alpha send --to charlie "$VECTORS/nrm-adult-labour.json" 2>"$FT/s3.err")
ft_check "alpha sends to charlie" test -n "$id2"
ft_check "delivered to charlie" fa_wait_state alpha "$id2" delivered 30

# A later start (version 3 saved, genesis configured) needs no relay.
fa_stop charlie
fa_conf charlie "relay=$dead"
fa_start charlie --no-wait
ft_check "restart: version 3 from <data>/roster/" ft_wait 20 _v charlie 3
fa_stop charlie
ft_done
