#!/bin/bash
# `ferry status MSGID` of a message reported failed (a relay's expiry, a
# NACK) whose recipient's verified receipt came later: the state is
# delivered, and the earlier failure is still said (when, code, reason,
# ISO 8601 UTC), worded so that a person sees it was reported failed and
# then delivered: people may have acted on the failure.  A failed message
# and a plainly delivered one print as before.  The agent here is a
# stand-in (as in cli_escape): a python3-zmq REP server on the control
# socket answering with the record as the agent's status --json gives it.
. "$(dirname "$0")/lib.sh"
ft_init
F=$B/ferry
D=$FT/data
mkdir -m 700 "$D"

cat >"$FT/agent.py" <<'EOF'
import json, sys, zmq
BASE = {"direction": "out", "to": "bravo", "queued_ms": 1700000000000,
        "accepted_ms": 1700000060000, "kind": "referral", "case_id": "c1",
        "response": "", "relay": "relay", "relay_log_index": 7}
MSGS = {
    # Delivered after it was reported failed: failed_ms, code and reason
    # stay on the record (agentd_replies.c receipt_done).
    "01" * 16: dict(BASE, msg_id="01" * 16, state="delivered",
                    delivered_ms=1700000300000, failed_ms=1700000200000,
                    code="FERRY_EEXPIREDMSG",
                    reason="message not delivered before expiry",
                    recipient_log_index=3, receipt_verified=True),
    "02" * 16: dict(BASE, msg_id="02" * 16, state="failed",
                    failed_ms=1700000200000, code="FERRY_EEXPIREDMSG",
                    reason="message not delivered before expiry"),
    "03" * 16: dict(BASE, msg_id="03" * 16, state="delivered",
                    delivered_ms=1700000300000, failed_ms=0,
                    recipient_log_index=3, receipt_verified=True),
}
ctx = zmq.Context()
s = ctx.socket(zmq.REP)
s.setsockopt(zmq.LINGER, 0)
s.bind("ipc://" + sys.argv[1] + "/control")
print("ready", flush=True)
for _ in range(20):
    if not s.poll(30000):
        break
    req = json.loads(s.recv_multipart()[0])
    m = MSGS.get(req.get("msg_id", ""))
    if req.get("cmd") == "status" and m is not None:
        s.send(json.dumps({"ok": True, "message": m}).encode())
    else:
        s.send(json.dumps({"ok": False, "code": "FERRY_ENOENT",
                           "error": "no such message"}).encode())
EOF
ft_bg "$FT/agent.out" "$FT/agent.err" $PY "$FT/agent.py" "$D"
ft_wait 10 grep -q ready "$FT/agent.out" ||
	{ ft_fail "stand-in agent started"; cat "$FT/agent.err"; ft_done; }

late=$(printf '01%.0s' $(seq 16))
failed=$(printf '02%.0s' $(seq 16))
plain=$(printf '03%.0s' $(seq 16))

"$F" --data "$D" status "$late" >"$FT/out" 2>&1
sed 's/^/# /' "$FT/out"
ft_check "delivered after failed: the state line says both" \
	grep -q "^message $late to bravo: delivered (receipt verified), after it was reported failed$" "$FT/out"
ft_check "delivered after failed: the failure's time (ISO 8601 UTC), code and reason" \
	grep -q "^  failed     2023-11-14T22:16:40Z  FERRY_EEXPIREDMSG: message not delivered before expiry (reported failed then, delivered since: the recipient.s receipt is verified)$" "$FT/out"
ft_check "delivered after failed: the delivery's time too" \
	grep -q "^  delivered  2023-11-14T22:18:20Z" "$FT/out"

"$F" --data "$D" status "$failed" >"$FT/out" 2>&1
ft_check "failed: as before" \
	bash -c "grep -q '^message $failed to bravo: failed: FERRY_EEXPIREDMSG: message not delivered before expiry$' '$FT/out' &&
		grep -q '^  failed     2023-11-14T22:16:40Z$' '$FT/out'"

"$F" --data "$D" status "$plain" >"$FT/out" 2>&1
ft_check "delivered: no failure line" \
	bash -c "grep -q '^message $plain to bravo: delivered (receipt verified)$' '$FT/out' &&
		! grep -q 'failed' '$FT/out'"
ft_done
