#!/bin/bash
# ferry (the CLI) prints text that other agencies or the relay chose (a
# NACK reason, a referral's kind, case id and response, an error text, a
# partner's name) with control characters escaped, so that nothing
# received can clear the screen, move the cursor or forge a line; --json
# output stays the agent's JSON.  The agent here is a stand-in: a small
# python3-zmq REP server on the control socket with canned answers.
. "$(dirname "$0")/lib.sh"
ft_init
F=$B/ferry
D=$FT/data
mkdir -m 700 "$D"

# ESC [2J (clear screen), CR LF with a forged line, BEL, DEL, and the C1
# CSI (U+009B) as UTF-8.
cat >"$FT/agent.py" <<'EOF'
import json, sys, zmq
EVIL = "x\u001b[2J\r\nok - forged\u0007\u007f\u009b31m"
MSG = {"direction": "out", "msg_id": "01" * 16, "to": "bravo",
       "state": "failed", "code": "FERRY_ERECIPIENT", "reason": EVIL,
       "queued_ms": 1700000000000, "kind": "referral" + EVIL,
       "case_id": "case" + EVIL, "response": "accepted" + EVIL}
IN = dict(MSG, direction="in", state="received", **{"from": "bravo" + EVIL},
          received_ms=1700000000000)
BODY = json.dumps({"notes": EVIL}, ensure_ascii=False, indent=2)
ctx = zmq.Context()
s = ctx.socket(zmq.REP)
s.setsockopt(zmq.LINGER, 0)
s.bind("ipc://" + sys.argv[1] + "/control")
print("ready", flush=True)
for _ in range(100):
    if not s.poll(30000):
        break
    req = json.loads(s.recv_multipart()[0])
    cmd = req.get("cmd")
    if cmd == "status":
        s.send(json.dumps({"ok": True, "message": MSG}).encode())
    elif cmd == "outbox":
        s.send(json.dumps({"ok": True, "messages": [MSG]}).encode())
    elif cmd == "inbox":
        s.send(json.dumps({"ok": True, "messages": [IN]}).encode())
    elif cmd == "partners":
        s.send(json.dumps({"ok": True, "roster_version": 1, "partners": [
            {"id": "bravo", "kind": "police", "status": "active",
             "fingerprint": "1", "name": "Bravo" + EVIL}]}).encode())
    elif cmd == "show":
        s.send_multipart([json.dumps({"ok": True,
                                      "direction": "in"}).encode(),
                          BODY.encode()])
    else:
        s.send(json.dumps({"ok": False, "code": "FERRY_EINVAL",
                           "error": "refused" + EVIL}).encode())
EOF
ft_bg "$FT/agent.out" "$FT/agent.err" $PY "$FT/agent.py" "$D"
ft_wait 10 grep -q ready "$FT/agent.out" ||
	{ ft_fail "stand-in agent started"; cat "$FT/agent.err"; ft_done; }

# clean FILE: no C0 control but newline, no DEL, no C1 control.
clean() {
	$PY - "$1" <<'EOF'
import re, sys
b = open(sys.argv[1], "rb").read()
bad = re.search(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", b)
sys.exit(1 if bad or not b else 0)
EOF
}
id=$(printf '01%.0s' $(seq 16))
for c in "status $id" "outbox" "inbox" "thread case" "partners" "reply $id --close"; do
	# shellcheck disable=SC2086
	"$F" --data "$D" $c >"$FT/out" 2>&1
	if clean "$FT/out"; then
		ft_ok "ferry $c: no control characters printed"
	else
		ft_fail "ferry $c: control characters printed"
		od -c "$FT/out" | head -10 | sed 's/^/# /'
	fi
done
"$F" --data "$D" thread "$(printf 'casex\033[2J\r\nok - forged\a\177\302\23331m')" \
    >"$FT/out" 2>&1
if clean "$FT/out" && [ "$(grep -c 'case' "$FT/out")" -eq 0 ] &&
    [ "$(grep -c 'referralx' "$FT/out")" -eq 2 ]; then
	ft_ok "ferry thread: found the case's messages, no control characters"
else
	ft_fail "ferry thread"; od -c "$FT/out" | head -10 | sed 's/^/# /'
fi
"$F" --data "$D" status "$id" >"$FT/out" 2>&1
ft_check "the escaped reason is still shown" grep -qF 'x\x1b[2J\x0d\x0aok - forged' "$FT/out"
ft_check "no forged line" sh -c "! grep -q '^ok - forged' '$FT/out'"
"$F" --data "$D" show "$id" >"$FT/out" 2>&1
if clean "$FT/out" && $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["notes"] == "x\u001b[2J\r\nok - forged\u0007\u007f\u009b31m"
' "$FT/out"; then
	ft_ok "ferry show: escaped, and still the same JSON"
else
	ft_fail "ferry show"; od -c "$FT/out" | head -10 | sed 's/^/# /'
fi
"$F" --data "$D" status --json "$id" >"$FT/out" 2>&1
ft_check "--json: the agent's JSON, C1 left as it is" grep -q "$(printf '\302\233')31m" "$FT/out"
ft_done
