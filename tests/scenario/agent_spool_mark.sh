#!/bin/bash
# Review M6: the "unspooled" mark of a received message is cleared soon
# after its spool inbox file is written (by the agent's next commit, or
# its own small one once the mark waited 100 ms), not at the next message
# received.  So a recipient killed (-9) some time
# later does not write again, at its next start, an inbox file the case
# system has already imported and removed: a second delivery.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1
doc=$VECTORS/safeguarding-adult.json

id=$(fa alpha send --to bravo "$doc")
ft_check "send returned an id" [ -n "$id" ]
ft_check "delivered" fa_wait_state alpha "$id" delivered 30
ft_check "spool inbox file written" \
	ft_wait 10 test -e "$FT/bravo-spool/inbox/$id.json"
# Give the event loop a moment to finish the wakeup that wrote the file.
sleep 1
# The case system imports and removes the files; later the agent is killed.
rm -f "$FT/bravo-spool/inbox/$id.json" "$FT/bravo-spool/inbox/$id.meta"
fa_kill9 bravo
fa_start bravo || exit 1
sleep 1
ft_check "restart did not write the imported file again" \
	bash -c "! test -e '$FT/bravo-spool/inbox/$id.json'"
ft_check "no spool recovery at restart" \
	bash -c "! grep -q 'recovered msg=$id' '$FT/bravo.err'"
ft_check "inbox still holds the message once" [ "$(fa_inbox_count bravo)" -eq 1 ]
fa_stop alpha; fa_stop bravo
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
