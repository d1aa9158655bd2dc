#!/bin/bash
# ferry-audit report and compare on the logs of a live network (relay +
# four agencies): every pair of parties compares clean with messages and
# checkpoints (from receipts) counted; the HTML report names every agency
# and message, has no script or remote asset, escapes what it prints, and
# renders in headless Chromium to a non-blank picture; a copy of a log
# taken before its later entries (truncated, as the relay's held
# checkpoints prove) and a byte-tampered copy show as red findings with
# exit 1; a receipt the relay holds and an old copy of its sender lacks is
# "in flight" with its age, not "missing".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo charlie delta
ft_relay_start || exit 1
A=$B/ferry-audit
fa_start alpha || exit 1
fa_start bravo || exit 1
fa_start delta || exit 1

send() {	# send FROM TO: the message id into $ID
	ID=$(fa "$1" send --to "$2" "$VECTORS/nrm-adult-labour.json" \
	    2>>"$FT/send.err") || { ft_fail "send $1 -> $2"; exit 1; }
}
send alpha bravo; M1=$ID
ft_check "alpha -> bravo delivered" fa_wait_state alpha "$M1" delivered 30
fa_stop alpha
cp -a "$FT/alpha-data/log" "$FT/alpha-old"	# before it receives anything
fa_start alpha || exit 1
# delta -> charlie while charlie is down: custody only, then a copy of
# delta's log from then (its sender never receives, so no checkpoint of
# delta is held anywhere to make the copy look truncated).
send delta charlie; M2=$ID
ft_check "delta -> charlie in the relay's custody" \
    fa_wait_state delta "$M2" accepted 30
fa_stop delta
cp -a "$FT/delta-data/log" "$FT/delta-old"
fa_start charlie || exit 1
fa_start delta || exit 1
ft_check "delta -> charlie delivered" fa_wait_state delta "$M2" delivered 30
send bravo alpha; M3=$ID
send charlie alpha; M4=$ID
ft_check "bravo -> alpha delivered" fa_wait_state bravo "$M3" delivered 30
ft_check "charlie -> alpha delivered" fa_wait_state charlie "$M4" delivered 30
for p in alpha bravo charlie delta; do fa_stop "$p"; done
ft_relay_stop
MSGS=("$M1" "$M2" "$M3" "$M4")
PARTIES=(relay alpha bravo charlie delta)
dir() { echo "$FT/$1-data/log"; }

# 1. compare, every pair
for ((i = 0; i < 5; i++)); do
	for ((j = i + 1; j < 5; j++)); do
		x=${PARTIES[$i]} y=${PARTIES[$j]}
		"$A" compare "$(dir "$x")" "$(dir "$y")" --roster "$FT/roster" \
		    --key-a "$x" --key-b "$y" --json >"$FT/c.json" 2>"$FT/c.err"
		rc=$?
		n=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1]))
print(d["messages_between"], d["missing"], d["in_flight"],
      d["a_holds_checkpoints_of_b"]["verified"] + d["b_holds_checkpoints_of_a"]["verified"])' \
		    "$FT/c.json" 2>/dev/null)
		set -- $n
		case "$x $y" in
		"alpha charlie" | "bravo charlie" | "alpha delta" | "bravo delta")
			want=0 ;;	# these never exchanged a message
		*) want=1 ;;
		esac
		ft_check "compare $x $y: every message accounted for, ${1:-?} between, ${4:-?} checkpoints verified (exit $rc)" \
		    [ $rc -eq 0 ] && [ "${2:-1}" -eq 0 ] && [ "${3:-1}" -eq 0 ] &&
		    { [ $want -eq 0 ] || { [ "${1:-0}" -gt 0 ] && [ "${4:-0}" -gt 0 ]; }; }
		[ $rc -eq 0 ] || sed 's/^/# /' "$FT/c.json" "$FT/c.err" | head -20
	done
done
"$A" compare "$(dir alpha)" "$(dir relay)" >"$FT/c.txt" 2>&1
ft_check "compare names agencies, not folders" \
    grep -q "^A alpha: .*^B relay:" <(tr '\n' '^' <"$FT/c.txt"; echo)

# keys by agency id (with --roster) or key request file; verify --json
"$A" verify "$(dir alpha)" --key "$FT/keys/alpha.request" >"$FT/v.out" 2>&1
ft_check "verify --key KEY.request (exit $?)" grep -q "^OK$" "$FT/v.out"
"$A" verify "$(dir alpha)" --key bravo --roster "$FT/roster" >"$FT/v.out" 2>&1
rc=$?
ft_check "verify --key another agency's id: not the pinned key (exit $rc)" \
    [ $rc -eq 1 ] && grep -q "not the pinned key" "$FT/v.out"
"$A" verify "$(dir alpha)" --key alpha >"$FT/v.out" 2>&1
rc=$?
ft_check "verify --key ID without --roster says to give one (exit $rc)" \
    [ $rc -eq 1 ] && grep -q "give --roster FILE" "$FT/v.out"
"$A" verify "$(dir relay)" --key relay --roster "$FT/roster" --json \
    >"$FT/v.json" 2>&1
ft_check "verify --json: the relay's log holds, as JSON" $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["ok"] and d["agency"] == "relay" and d["entries"] > 0 and
         d["problems"] == [] else 1)' "$FT/v.json"

# 2. the HTML report of the whole network
"$A" report --roster "$FT/roster" --html "$FT/report.html" \
    "$(dir relay)" "$(dir alpha)" "$(dir bravo)" "$(dir charlie)" \
    "$(dir delta)" >"$FT/r.out" 2>&1
rc=$?
ft_check "report of a healthy network: exit 0 ($rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || sed 's/^/# /' "$FT/r.out"
for p in "${PARTIES[@]}"; do
	ft_check "report names $p" grep -q ">$p<" "$FT/report.html"
done
for m in "${MSGS[@]}"; do
	ft_check "report names message $m" grep -q "$m" "$FT/report.html"
done
ft_check "report: no script, no remote asset" \
    bash -c '! grep -Eiq "<script|src=|href=|url\(|@import" "$1"' _ "$FT/report.html"
ft_check "report: times in ISO 8601 UTC" \
    grep -Eq '>20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z<' "$FT/report.html"
ft_check "report: inline SVG charts" [ "$(grep -c '<svg' "$FT/report.html")" -ge 2 ]
"$A" report --json "$(dir relay)" "$(dir alpha)" "$(dir bravo)" \
    "$(dir charlie)" "$(dir delta)" >"$FT/r.json" 2>&1
ft_check "report --json: 4 messages, each received, no finding" $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
ms = d["messages"]
sys.exit(0 if d["ok"] and not d["findings"] and len(ms) == 4 and
         all(m["received"] and m["receipt_at_sender"] for m in ms) else 1)' "$FT/r.json"

# 3. escaping: a log folder whose name is markup
E="$FT/x<i>&amp\"y"
mkdir -p "$E" && cp -a "$(dir bravo)" "$E/log"
"$A" report --html "$FT/esc.html" "$E/log" >/dev/null 2>&1
ft_check "report escapes what it prints (a folder named with markup)" \
    bash -c 'grep -qF "x&lt;i&gt;&amp;amp&quot;y" "$1" && ! grep -qF "x<i>" "$1"' _ "$FT/esc.html"

# 4. red findings: a truncated copy and a tampered copy
"$A" report --html "$FT/trunc.html" "$(dir relay)" "$FT/alpha-old" \
    "$(dir bravo)" >"$FT/t.out" 2>&1
rc=$?
ft_check "report with alpha's log truncated: exit 1 ($rc)" [ $rc -eq 1 ]
ft_check "truncation shown as a red finding" \
    grep -q 'class="red".*truncated' "$FT/trunc.html"
cp -a "$(dir relay)" "$FT/relay-tampered"
n=$($PY - "$FT/relay-tampered/data.mdb" "03c410$M1" <<'EOF'
import sys
path, pat = sys.argv[1], bytes.fromhex(sys.argv[2])
data = bytearray(open(path, 'rb').read())
n, i = 0, data.find(pat)
while i >= 0:
    data[i + 18] ^= 1
    n += 1
    i = data.find(pat, i + 1)
open(path, 'r+b').write(data)
print(n)
EOF
)
"$A" report --html "$FT/tamper.html" "$FT/relay-tampered" "$(dir alpha)" \
    >"$FT/tm.out" 2>&1
rc=$?
ft_check "report with a tampered relay log (patched $n): exit 1 ($rc)" \
    [ "$n" -ge 1 ] && [ $rc -eq 1 ]
ft_check "tampering shown as a red finding" \
    grep -q 'class="red".*altered or corrupt' "$FT/tamper.html"

# 5. in flight, not missing: the relay holds delta's receipt, old delta not
"$A" compare "$FT/delta-old" "$(dir relay)" >"$FT/d.out" 2>&1
rc=$?
ft_check "old sender vs relay: receipt not yet at sender is in flight, with its age (exit $rc)" \
    [ $rc -eq 0 ] && grep -q "^IN FLIGHT msg $M2: .*not yet at sender delta (since 20.*Z, .* ago)" "$FT/d.out"
[ $rc -eq 0 ] || sed 's/^/# /' "$FT/d.out"

# 6. the pictures: headless Chromium, non-blank, red where red
shot() {	# shot HTML PNG
	timeout 60 chromium --headless --no-sandbox --disable-gpu \
	    --user-data-dir="$FT/chromium" --screenshot="$2" \
	    --window-size=1200,1600 "file://$1" >"$FT/chromium.log" 2>&1
	[ -s "$2" ]
}
# pixels PNG R G B: "non-white matching" pixel counts (8-bit RGB/RGBA PNG)
pixels() {
	$PY - "$@" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
want = tuple(int(x) for x in sys.argv[2:5])
pos, idat, w = 8, b'', 0
while pos < len(data):
    n, t = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if t == b'IHDR':
        w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
    elif t == b'IDAT':
        idat += body
    pos += 12 + n
bpp = {2: 3, 6: 4}[ctype]
raw, stride = zlib.decompress(idat), w * bpp
prev, out, i = bytearray(stride), [], 0
for y in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    out.append(line); prev = line
nw = match = 0
for line in out:
    for x in range(0, stride, bpp):
        px = tuple(line[x:x + 3])
        nw += px != (255, 255, 255)
        match += px == want
print(nw, match)
EOF
}
if ! command -v chromium >/dev/null; then
	ft_ok "report renders in Chromium # SKIP chromium is not installed (scripts/deps.sh installs it)"
elif ! shot "$FT/report.html" "$FT/report.png"; then
	ft_ok "report renders in Chromium # SKIP chromium could not start: $(tail -1 "$FT/chromium.log")"
else
	set -- $(pixels "$FT/report.png" 248 208 208)
	ft_check "report renders in Chromium, not blank (${1:-?} non-white pixels of 1920000)" \
	    [ "${1:-0}" -gt 20000 ]
	ft_check "healthy report shows no red (${2:-?} red pixels)" [ "${2:-1}" -eq 0 ]
	if shot "$FT/tamper.html" "$FT/tamper.png"; then
		set -- $(pixels "$FT/tamper.png" 248 208 208)
		ft_check "tampered report shows red in the picture (${2:-?} red pixels)" \
		    [ "${2:-0}" -gt 1000 ]
	else
		ft_fail "chromium rendered one report but not the tampered one"
	fi
fi
ft_done
