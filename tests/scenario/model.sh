#!/bin/bash
# The spin model of the delivery protocol (tests/model/run.sh,
# docs/model.md): the fixed protocol passes every property, today's code
# (FIX=0) still shows hole 1, the saved trails still replay.  About 35 s
# of CPU (40-70 s wall on the shared 2-core test machine).
exec "$(dirname "$0")/../model/run.sh"
