#!/bin/bash
# The spin model of delivery through two relays (tests/model/relays.sh,
# docs/model.md "Several relays"): the agreed failover and resend rules
# keep every property, each rule taken away breaks one, the saved trails
# still replay.  About 25 s of CPU.
exec "$(dirname "$0")/../model/relays.sh"
