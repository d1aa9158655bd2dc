#!/bin/bash
# Issue 14, subject access: `ferry export --case CASE` on both agencies
# of a case (a referral, a more-information-needed response, the
# information provided, an acceptance; plus a message of another case)
# writes one JSON and one HTML file, mode 0600, listing exactly the
# case's messages, both directions, with counterpart, outcome, thread and
# decrypted document; the HTML names the agencies and message ids and
# escapes markup planted in the referral; an existing file is kept unless
# --force.  After `ferry erase` of the referral the export lists it as
# erased (when, by request, the reference) with no content; the
# auditor's report (HTML and JSON) lists that erasure, authorised by the
# agency, with its time, and `ferry-audit verify` passes.  An unknown
# case is exit 1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1

CASE=CASE-SAR-$RANDOM
MARK=Qzsar$RANDOM$RANDOM
PLANT="<script>alert(1)</script> & \"$MARK\""
fa_doc "$FT/r1.json" case_id=$CASE "narrative=$PLANT"
fa_doc "$FT/r2.json" case_id=CASE-OTHER-2

# step NAME WHO ARGS...: `ferry ARGS` as WHO; the new id in $last, delivered.
step() {
	local name=$1 who=$2 rc; shift 2
	last=$(fa "$who" "$@" 2>"$FT/step.err"); rc=$?
	if [ $rc -eq 0 ] && [[ $last =~ ^[0-9a-f]{32}$ ]] &&
	    fa_wait_state "$who" "$last" delivered 30; then
		ft_ok "$name: sent and delivered"
	else
		ft_fail "$name: exit $rc, id '$last', state $(fa_state "$who" "$last")"
		sed 's/^/# /' "$FT/step.err"
		ft_done
	fi
}
step "alpha refers the case to bravo" alpha send --to bravo "$FT/r1.json"; REF=$last
step "bravo asks for more information" bravo reply "$REF" --need-info "Date of first contact?"; NEED=$last
step "alpha provides it" alpha reply "$NEED" --provide-info "First contact 2026-03-02."; INFO=$last
step "bravo accepts" bravo reply "$INFO" --accept; ACC=$last
step "alpha: a referral of another case" alpha send --to bravo "$FT/r2.json"; OTHER=$last

# check_export WHO JSON: the export lists exactly the case's four
# messages, oldest first, in WHO's directions, each delivered/received
# with its counterpart (id and roster name), answer, thread links, ISO
# times and document.
check_export() {
	$PY - "$1" "$2" "$CASE" "$REF" "$NEED" "$INFO" "$ACC" "$OTHER" "$PLANT" <<'EOF'
import json, re, sys
who, path, case, ref, need, info, acc, other, plant = sys.argv[1:]
d = json.load(open(path))
other_side = "bravo" if who == "alpha" else "alpha"
iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ms = d["messages"]
ids = [m["msg_id"] for m in ms]
def fail(why):
    print("# " + why); sys.exit(1)
if d["agency"] != {"id": who, "name": "Test " + who} or d["case_id"] != case:
    fail("agency/case: %r %r" % (d["agency"], d["case_id"]))
if not iso.match(d["exported_at"]): fail("exported_at")
if ids != [ref, need, info, acc]: fail("ids %r" % ids)
sent_by_alpha = {ref, info}
want = {ref: ("referral", None, None), need: ("response", "more-information-needed", ref),
        info: ("response", "information-provided", need), acc: ("response", "accepted", info)}
for m in ms:
    mine = (m["msg_id"] in sent_by_alpha) == (who == "alpha")
    kind, resp, irt = want[m["msg_id"]]
    if m["direction"] != ("sent" if mine else "received"): fail("direction " + m["msg_id"])
    if m["counterpart"] != {"id": other_side, "name": "Test " + other_side}: fail("counterpart")
    if m["kind"] != kind or m.get("response") != resp or m.get("in_reply_to") != irt:
        fail("kind/response/in_reply_to of " + m["msg_id"])
    if m["case_id"] != case or "erased" in m: fail("case or erased")
    t = m["times"]
    if mine:
        if m["state"] != "delivered" or not all(iso.match(t[k]) for k in ("queued", "accepted", "delivered")):
            fail("sent outcome %r %r" % (m["state"], t))
    elif not m["state"].startswith("received") or not iso.match(t["received"]):
        fail("received %r %r" % (m["state"], t))
    doc = m["document"]
    if doc["message_kind"] != kind or doc["case_id"] != case: fail("document")
replies = {m["msg_id"]: m["replies"] for m in ms}
if replies != {ref: [need], need: [info], info: [acc], acc: []}: fail("replies %r" % replies)
if ms[0]["document"]["narrative"] != plant or ms[0]["referral_type"] != "nrm" or ms[0]["urgency"] != "urgent":
    fail("the referral's document, type, urgency")
if ms[1]["document"]["reason"] != "Date of first contact?": fail("the question")
if other in open(path).read(): fail("the other case's message is in it")
EOF
}

for who in alpha bravo; do
	mkdir -p "$FT/exp-$who"
	fa "$who" export --case "$CASE" --out "$FT/exp-$who" >"$FT/exp.out" 2>"$FT/exp.err"
	rc=$?
	J=$FT/exp-$who/ferry-export-$who-$CASE.json
	H=$FT/exp-$who/ferry-export-$who-$CASE.html
	ft_check "$who: export exits 0 and prints the two files ($rc)" \
	    [ $rc -eq 0 ] && [ "$(cat "$FT/exp.out")" = "$J"$'\n'"$H" ]
	[ $rc -eq 0 ] || sed 's/^/# /' "$FT/exp.err"
	ft_check "$who: both files mode 0600" \
	    [ "$(stat -c %a "$J")" = 600 ] && [ "$(stat -c %a "$H")" = 600 ]
	ft_check "$who: the JSON lists exactly the case's 4 messages, both directions, outcomes, thread, documents" \
	    check_export "$who" "$J"
	ft_check "$who: the HTML names both agencies" \
	    grep -q "alpha (Test alpha)" "$H" && grep -q "bravo (Test bravo)" "$H"
	for m in "$REF" "$NEED" "$INFO" "$ACC"; do
		ft_check "$who: the HTML names message $m" grep -q "$m" "$H"
	done
	ft_check "$who: the HTML leaves out the other case" bash -c "! grep -q '$OTHER' '$H'"
	ft_check "$who: the planted markup is escaped in the HTML" \
	    grep -qF "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;$MARK&quot;" "$H"
	ft_check "$who: no script, no remote asset in the HTML" \
	    bash -c '! grep -Eiq "<script|src=|<link|url\(|@import|https?:" "$1"' _ "$H"
	ft_check "$who: times in the HTML are ISO 8601 UTC" \
	    grep -Eq '<td>20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z</td>' "$H"
done

# An existing export is kept unless --force.
J=$FT/exp-alpha/ferry-export-alpha-$CASE.json
H=$FT/exp-alpha/ferry-export-alpha-$CASE.html
sum=$(md5sum "$J" "$H")
fa alpha export --case "$CASE" --out "$FT/exp-alpha" >"$FT/o" 2>"$FT/e"
rc=$?
ft_check "export again without --force: exit 1, says the file exists, nothing changed" \
    [ $rc -eq 1 ] && grep -q "already exists: give --force" "$FT/e" &&
    [ "$(md5sum "$J" "$H")" = "$sum" ] && [ ! -s "$FT/o" ]
ft_check "no temporary file left behind" \
    [ "$(ls -A "$FT/exp-alpha" | wc -l)" -eq 2 ]

# Erase the referral on alpha: listed as erased, its content gone.
fa alpha erase "$REF" --ref SAR-2026-9 >/dev/null 2>"$FT/e"
ft_check "alpha erases the referral" [ $? -eq 0 ]
fa alpha export --case "$CASE" --out "$FT/exp-alpha" --force >/dev/null 2>"$FT/e"
rc=$?
ft_check "export --force after the erasure: exit 0 ($rc), still 0600" \
    [ $rc -eq 0 ] && [ "$(stat -c %a "$J")" = 600 ] && [ "$(stat -c %a "$H")" = 600 ]
ft_check "the erased referral: listed as erased (when, by request, ref), no document" \
    $PY - "$J" "$REF" <<'EOF'
import json, re, sys
d = json.load(open(sys.argv[1]))
m = [x for x in d["messages"] if x["msg_id"] == sys.argv[2]]
ok = (len(d["messages"]) == 4 and len(m) == 1 and "document" not in m[0] and
      m[0]["erased"]["by"] == "request" and m[0]["erased"]["ref"] == "SAR-2026-9" and
      re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", m[0]["erased"]["at"]) and
      m[0]["direction"] == "sent" and m[0]["state"] == "delivered" and
      all("document" in x for x in d["messages"] if x is not m[0]))
sys.exit(0 if ok else 1)
EOF
ft_check "the referral's narrative is in neither export file now" \
    bash -c "! grep -q '$MARK' '$J' '$H'"
ft_check "the HTML says it was erased, by request, with the reference" \
    grep -q "Erased 20[0-9-]*T[0-9:]*Z by request (reference SAR-2026-9)" "$H"

# Unknown case, bad folder.
fa alpha export --case NO-SUCH-CASE --out "$FT/exp-alpha" >"$FT/o" 2>"$FT/e"
rc=$?
ft_check "an unknown case: exit 1, says no message of that case ($rc)" \
    [ $rc -eq 1 ] && grep -q "no message of case NO-SUCH-CASE" "$FT/e" && [ ! -s "$FT/o" ]
fa alpha export --case "$CASE" --out "$FT/nowhere" >/dev/null 2>"$FT/e"
rc=$?
ft_check "--out a folder that is not there: exit 1 ($rc), named" \
    [ $rc -eq 1 ] && grep -q "nowhere" "$FT/e"

fa_stop alpha
fa_stop bravo
ft_relay_stop

# The auditor's view of the erasure: the report lists it, authorised by
# alpha, with its time; verify passes.
A=$B/ferry-audit
"$A" verify "$FT/alpha-data/log" --key alpha --roster "$FT/roster" >"$FT/v.out" 2>&1
ft_check "ferry-audit verify of alpha's log passes after the erasure ($?)" \
    grep -q "^OK$" "$FT/v.out"
"$A" report --roster "$FT/roster" --html "$FT/report.html" \
    "$FT/relay-data/log" "$FT/alpha-data/log" "$FT/bravo-data/log" >"$FT/r.out" 2>&1
rc=$?
ft_check "report after the erasure: exit 0 ($rc)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || sed 's/^/# /' "$FT/r.out" | head -20
ft_check "the HTML report lists the erasure: alpha, when, the message, by request, authorised by alpha" \
    grep -Eq "<tr><td>alpha</td><td>20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]*Z</td><td class=\"id\">$REF</td><td>data-protection request</td><td>alpha</td></tr>" "$FT/report.html"
"$A" report --roster "$FT/roster" --json \
    "$FT/relay-data/log" "$FT/alpha-data/log" "$FT/bravo-data/log" >"$FT/r.json" 2>"$FT/r.err"
ft_check "the JSON report lists the erasure, authorised by alpha, with its time" \
    $PY - "$FT/r.json" "$REF" <<'EOF'
import json, re, sys
d = json.load(open(sys.argv[1]))
e = [x for x in d["events"] if x["kind"] == "erasure"]
ok = (len(e) == 1 and e[0]["msg_id"] == sys.argv[2] and e[0]["party"] == "alpha" and
      e[0]["authorised_by"] == "alpha" and e[0]["reason"] == "request" and
      re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", e[0]["at"] or ""))
if not ok:
    print("# %r" % e)
sys.exit(0 if ok else 1)
EOF
ft_check "no ASan report" bash -c "! grep -q 'ERROR: [A-Za-z]*Sanitizer\|runtime error' '$FT/alpha.err' '$FT/bravo.err'"
ft_done
