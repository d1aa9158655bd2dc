#!/bin/bash
# docs_check: the documentation says what the programs do (issue 11,
# item 13).  It runs a relay and two agents, then checks:
#   (a) config keys: every key ferry-agent and ferry-relay accept (their
#       K("...") tables, agent/aconf.c and relay/config.c) is in the
#       configuration table of docs/agent.md / docs/relay.md, in the
#       example configuration (set or commented out) and in the man page;
#       every key in those tables and every "key =" line of the examples
#       is accepted;
#   (b) metrics: every metric the running daemons write (# TYPE lines of
#       their metrics.prom) is in the metrics table of docs/relay.md /
#       docs/agent.md, and every ferry_relay_* / ferry_agent_* name any
#       doc mentions is written;
#   (c) log events: every event named in docs/operations.md's table of
#       levels is logged (alog/rlog call) by that program at that level;
#       every ERROR event of the code is in the table; every "LEVEL
#       `event`" in any doc is logged at that level;
#   (d) data-folder paths: every path under a data folder, spool or
#       <data> that a doc mentions is in the list below, and each entry of
#       the list exists in the running daemons' folders (find); the
#       folders a doc lists as a data folder's contents exist;
#   (e) every FERRY_E* code of proto/ferry.h is in docs/protocol.md
#       section 7 with the same number, NACK value and ferry_strerror
#       text (proto/ferry.c), and the table has no other;
# and the file modes the docs state, on the running daemons' folders.
# DOCS_ROOT (default the source tree) is where the docs are read from.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"
ft_init
ft_net relay alpha bravo
ft_relay_start || exit 1
fa_start alpha || exit 1
fa_start bravo || exit 1

# Exercise what makes files: a send, a spool file sent and received.
id=$(fa alpha send --to bravo "$VECTORS/nrm-adult-labour.json" 2>/dev/null)
cp "$VECTORS/nrm-adult-labour.json" "$FT/alpha-spool/outbox/bravo/.x.tmp" &&
	mv "$FT/alpha-spool/outbox/bravo/.x.tmp" "$FT/alpha-spool/outbox/bravo/housing-1.json"
ft_check "a message delivered" fa_wait_state alpha "$id" delivered 30
ft_check "a spool file sent (its .id written)" \
	ft_wait 20 test -s "$FT/alpha-spool/sent/bravo/housing-1.json.id"
ft_check "both agents and the relay wrote metrics.prom" ft_wait 10 test -s "$RELAY_DATA/metrics.prom" -a \
	-s "$FT/alpha-data/metrics.prom" -a -s "$FT/bravo-data/metrics.prom"
# The folders while the daemons run (the control socket goes at a stop):
# R relay data, A agent data, S spool (a sender's and a receiver's).
for spec in "R $RELAY_DATA" "A $FT/alpha-data" "S $FT/alpha-spool" "S $FT/bravo-spool"; do
	(cd "${spec#* }" && find . -mindepth 1 | sed "s|^\./|${spec%% *} |")
done | sort -u >"$FT/found"
# File modes the docs state (relay.md, agent.md, operations.md).
_mode() { [ "$(stat -c %a "$2")" = "$1" ] || { echo "# $2: mode $(stat -c %a "$2"), docs say $1"; return 1; }; }
_modes() {
	local r=0 f
	_mode 700 "$RELAY_DATA" || r=1; _mode 700 "$RELAY_DATA/log" || r=1
	_mode 644 "$RELAY_DATA/metrics.prom" || r=1
	for f in "$RELAY_DATA"/log/* "$FT"/alpha-data/log/*; do _mode 600 "$f" || r=1; done
	_mode 700 "$FT/alpha-data" || r=1; _mode 600 "$FT/alpha-data/control" || r=1
	_mode 600 "$FT/alpha-data/agent.lock" || r=1; _mode 600 "$RELAY_DATA/relay.lock" || r=1
	for f in $(find "$FT/alpha-spool" "$FT/bravo-spool" -type d); do _mode 700 "$f" || r=1; done
	return $r
}
ft_check "file modes as documented (data and log/ 0700, LMDB files, control and locks 0600, metrics.prom 0644, spool folders 0700)" _modes
cp "$RELAY_DATA/metrics.prom" "$FT/relay.prom"
cp "$FT/alpha-data/metrics.prom" "$FT/alpha.prom"
fa_stop alpha; fa_stop bravo; ft_relay_stop

# (d) The explicit list: each data-folder path the docs mention (as
# written, troff removed), then where it must exist: R:, A:, S: a glob
# under the relay's data, the agent's data, the spool; C:FILE:WORD for a
# file that exists only during a command (the code that makes it); N:WHY
# for a path that is not in a daemon's folder (WHY, one word).  Add
# a doc's new path here only after checking the daemons make it.
cat >"$FT/paths" <<'EOF'
<data>/agent.lock			A:agent.lock
<data>/cli-pending/<hash>		A:cli-pending C:agent/ferry.c:cli-pending
<data>/control				A:control
<data>/log				A:log R:log
<data>/log/data.mdb			A:log/data.mdb R:log/data.mdb
<data>/log/compact-due			C:agent/agentd_erase.c:compact-due
<data>/metrics.prom			A:metrics.prom R:metrics.prom
<data>/relay.lock			R:relay.lock
<data>/purge.lock			C:relay/ctl.c:purge.lock
<data>/roster/				A:roster
<data>/roster/v<20-digit version>.roster	A:roster/v[0-9]*.roster
<data>/roster/v<20 digits>.roster	A:roster/v[0-9]*.roster
<data>/roster/v<version>.roster		A:roster/v[0-9]*.roster
DATA/log				A:log R:log
DIR/control				A:control
DIR/metrics.prom			R:metrics.prom
DIR/relay.lock				R:relay.lock
DIR/purge.request			C:relay/ctl.c:purge.request
DIR/purge.result			C:relay/ctl.c:purge.result
DIR/purge.lock				C:relay/ctl.c:purge.lock
DIR/cli-pending/			A:cli-pending
DIR/log					R:log
DIR/outbox/<agency-id>/NAME.json	S:outbox/*
DIR/sent/<agency-id>/NAME.json		S:sent/*/*.json
DIR/sent/<agency-id>/NAME.json.id	S:sent/*/*.json.id
DIR/failed/NAME				S:failed
DIR/inbox/<msgid>.json			S:inbox/*.json
DIR/inbox/<msgid>.meta			S:inbox/*.meta
/var/lib/ferry-agent/roster/		A:roster
/var/lib/ferry-agent/roster/v00000000000000000005.roster	A:roster/v[0-9]*.roster
/var/lib/ferry-agent/spool		C:docs/examples/agent.conf:spool
/var/lib/ferry-relay/log		R:log
/var/lib/ferry-agent/log		A:log
DIR/ID.key				N:ferry-keys-out-folder
DIR/ID.request				N:ferry-keys-out-folder
DIR/NAME.key				N:ferry-keys-out-folder
DIR/ferry-export-AGENCY-CASE.json	N:ferry-export-out-folder
EOF

# Everything else reads the tree: one Python program, one line per check.
$PY - "$FERRY_ROOT" "${DOCS_ROOT:-$FERRY_ROOT}" "$FT/found" "$FT/paths" \
	"$FT/relay.prom" "$FT/alpha.prom" <<'PYEOF' || FT_FAILS=$((FT_FAILS + 1))
import fnmatch, glob, os, re, sys

root, docs, found_f, paths_f, rprom, aprom = sys.argv[1:]
fails = 0

def ok(cond, name, detail=()):
    global fails
    if cond:
        print("ok - " + name)
    else:
        fails += 1
        print("not ok - " + name)
        for d in detail:
            print("#   " + d)

def src(p):
    return open(os.path.join(root, p)).read()

def doc(p):
    return open(os.path.join(docs, p)).read()

def troff(t):
    """Man page text without font escapes; .IR/.BR arguments joined."""
    t = t.replace("\\fIdata\\fR/", "<data>/").replace("\\fIDIR\\fR/", "DIR/")
    out = []
    for line in t.split("\n"):
        m = re.match(r'\.(IR|BR|RI|RB|BI|IB)\s+(.*)', line)
        if m:
            line = "".join(a or b for a, b in
                           re.findall(r'"([^"]*)"|(\S+)', m.group(2)))
        out.append(line)
    t = "\n".join(out)
    t = re.sub(r'\\f[BIRP]', '', t).replace("\\-", "-").replace("\\e", "\\")
    return t

def section(text, head):
    """The text of a markdown section from its heading to the next of its level."""
    i = text.index(head)
    lvl = len(head) - len(head.lstrip("#"))
    rest = text[i + len(head):]
    m = re.search(r'^#{1,%d} ' % lvl, rest, re.M)
    return rest[:m.start()] if m else rest

def table_rows(text):
    return [l for l in text.split("\n") if l.startswith("| ") and not l.startswith("|---")]

def ticks(s):
    return re.findall(r'`([^`]+)`', s)

ALL_DOCS = (["README.md"] + sorted(glob.glob(os.path.join(docs, "docs/*.md"))) +
            sorted(glob.glob(os.path.join(docs, "docs/man/*"))) +
            sorted(glob.glob(os.path.join(docs, "docs/examples/*"))))
ALL_DOCS = [os.path.relpath(p, docs) for p in ALL_DOCS]
def doc_text(p):
    t = doc(p)
    return troff(t) if p.startswith("docs/man/") else t

# ---- (a) configuration keys ----
def code_keys(path):
    body = src(path)
    body = body[body.index("ferry_conf_key keys[]"):]
    body = body[:body.index("};")]
    return re.findall(r'K\("([a-z_]+)"', body)

for prog, csrc, md, example, man in (
        ("ferry-agent", "agent/aconf.c", "docs/agent.md", "docs/examples/agent.conf", "docs/man/ferry-agent.8"),
        ("ferry-relay", "relay/config.c", "docs/relay.md", "docs/examples/relay.conf", "docs/man/ferry-relay.8")):
    keys = code_keys(csrc)
    ok(len(keys) >= 15, "%s: the keys table parsed from %s (%d keys)" % (prog, csrc, len(keys)))
    conf = section(doc(md), "### Configuration" if "agent" in md else "## Configuration")
    tabled = set()
    for row in table_rows(conf)[1:]:
        cell = row.split("|")[1]
        tabled.update(k for k in ticks(cell))
    missing = [k for k in keys if k not in tabled]
    ok(not missing, "%s: every key it accepts is in %s's table" % (prog, md), missing)
    extra = sorted(k for k in tabled if k not in keys)
    ok(not extra, "%s: every key in %s's table is accepted" % (prog, md), extra)
    ex = re.findall(r'^[#;]?\s*([a-z_]+)\s*=', doc(example), re.M)
    missing = [k for k in keys if k not in ex]
    ok(not missing, "%s: every key is in %s (set or commented out)" % (prog, example), missing)
    extra = sorted(set(k for k in ex if k not in keys))
    ok(not extra, "%s: every 'key =' line of %s is a key it accepts" % (prog, example), extra)
    mt = troff(doc(man))
    missing = [k for k in keys if not re.search(r'(?<![\w-])%s(?![\w-])' % k, mt)]
    ok(not missing, "%s: every key is named in %s" % (prog, man), missing)

# ---- (b) metrics ----
def written(prom):
    return sorted(set(re.findall(r'^# TYPE (\S+) ', open(prom).read(), re.M)))

mentioned = {}
for p in ALL_DOCS:
    for n in re.findall(r'\b(ferry_(?:relay|agent)_[a-z0-9_]*[a-z0-9])\b', doc_text(p)):
        mentioned.setdefault(n, set()).add(p)
for prog, prom, md in (("relay", rprom, "docs/relay.md"), ("agent", aprom, "docs/agent.md")):
    names = written(prom)
    ok(len(names) >= 15, "%s: metrics.prom written with # TYPE lines (%d metrics)" % (prog, len(names)))
    tabled = set()
    for row in table_rows(section(doc(md), "## Metrics"))[1:]:
        for t in ticks(row.split("|")[1]):
            tabled.add(re.sub(r'\{.*', '', t))
    missing = [n for n in names if n not in tabled]
    ok(not missing, "%s: every metric it writes is in %s's metrics table" % (prog, md), missing)
    extra = sorted(n for n in tabled if n not in names)
    ok(not extra, "%s: every metric in %s's table is written" % (prog, md), extra)
    bad = sorted("%s (%s)" % (n, ", ".join(sorted(ps))) for n, ps in mentioned.items()
                 if n.startswith("ferry_%s_" % prog) and n not in names)
    ok(not bad, "%s: every ferry_%s_* name in the docs is a metric it writes" % (prog, prog), bad)

# ---- (c) log events ----
def split_args(s):
    """Top-level arguments of the call whose text starts after its '('."""
    args, depth, cur, i = [], 0, "", 0
    while i < len(s):
        c = s[i]
        if c == '"':
            j = i + 1
            while s[j] != '"':
                j += 2 if s[j] == "\\" else 1
            cur += s[i:j + 1]; i = j + 1; continue
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                args.append(cur); return args
            depth -= 1
        elif c == "," and depth == 0:
            args.append(cur); cur = ""; i += 1; continue
        cur += c; i += 1
    return args

def events(files, fn, prefix):
    ev = set()
    for f in files:
        text = open(f).read()
        for m in re.finditer(r'\b%s\(' % fn, text):
            if re.match(r'\s*(int|const)\b', text[m.end():]):
                continue	# the definition or prototype
            a = split_args(text[m.end():])
            if len(a) < 2:
                continue
            levels = re.findall(prefix + r'_([A-Z]+)', a[0])
            for name in re.findall(r'"([a-z0-9-]+)"', a[1]):
                for l in levels:
                    ev.add((name, l))
    return ev

aev = events(glob.glob(os.path.join(root, "agent/*.c")), "alog", "ALOG")
rev = events(glob.glob(os.path.join(root, "relay/*.c")), "rlog", "RLOG")
ok(len(aev) > 40 and len(rev) > 40, "log events parsed from the code (agent %d, relay %d)" % (len(aev), len(rev)))

def strip_parens(s):
    while True:
        t = re.sub(r'\([^()]*\)', '', s)
        if t == s:
            return s
        s = t

logs = section(doc("docs/operations.md"), "## 3. Logs")
table = {}
for row in table_rows(logs)[1:]:
    cells = row.split("|")
    level, ex = cells[1].strip(), strip_parens(cells[3])
    parts = re.split(r'\bagent:', ex)
    rpart = re.sub(r'.*\brelay:', '', parts[0], flags=re.S)
    apart = parts[1] if len(parts) > 1 else ""
    table[level] = ([t.split()[0] for t in ticks(rpart)], [t.split()[0] for t in ticks(apart)])
ok(set(table) == {"ERROR", "WARN", "INFO", "DEBUG"}, "operations.md section 3: one row per level", sorted(table))
bad = []
for level, (rn, an) in table.items():
    bad += ["relay %s %s" % (level, n) for n in rn if (n, level) not in rev]
    bad += ["agent %s %s" % (level, n) for n in an if (n, level) not in aev]
ok(not bad, "every event in operations.md's table is logged by that program at that level", bad)
rerr, aerr = table.get("ERROR", ([], []))
miss = sorted("relay " + n for n, l in rev if l == "ERROR" and n not in rerr)
miss += sorted("agent " + n for n, l in aev if l == "ERROR" and n not in aerr)
ok(not miss, "every ERROR event the code logs is in operations.md's ERROR row", miss)
bad = []
for p in ALL_DOCS:
    t = re.sub(r'\s+', ' ', doc_text(p))
    for level, name in (re.findall(r'\b(ERROR|WARN|INFO|DEBUG),? `([a-z0-9-]+)', t) +
                        re.findall(r'`(ERROR|WARN|INFO|DEBUG) ([a-z0-9-]+)', t)):
        if (name, level) not in aev | rev:
            bad.append("%s: %s %s" % (p, level, name))
ok(not bad, "every 'LEVEL `event`' in the docs is logged at that level", sorted(set(bad)))

# ---- (d) data-folder paths ----
found = {}
for line in open(found_f):
    k, path = line.rstrip("\n").split(" ", 1)
    found.setdefault(k, []).append(path)
listed = {}
for line in open(paths_f):
    if line.strip():
        m = re.match(r'(\S.*?)\t+(.*)$', line.rstrip("\n"))
        listed[m.group(1)] = m.group(2).split()
bad = []
for mention, specs in sorted(listed.items()):
    for s in specs:
        kind, rest = s.split(":", 1)
        if kind == "N":
            continue
        if kind == "C":
            f, word = rest.rsplit(":", 1)
            if word not in src(f):
                bad.append("%s: %s does not make %s" % (mention, f, word))
        elif not any(fnmatch.fnmatchcase(x, rest) for x in found.get(kind, [])):
            bad.append("%s: no %s in the %s folder" % (mention, rest,
                       {"R": "relay's data", "A": "agent's data", "S": "spool"}[kind]))
ok(not bad, "every path in the list exists in the running daemons' folders", bad)
PATH_RE = re.compile(r'(?<![\w<>/-])(?:<data>|DATA|DIR|/var/lib/ferry-(?:relay|agent))'
                     r'(?:/(?:<[^<>\n]{1,30}>|[A-Za-z0-9_.*-])+)+/?')
unlisted = set()
for p in ALL_DOCS:
    for m in PATH_RE.finditer(doc_text(p)):
        s = m.group(0).rstrip(".")
        if s not in listed:
            unlisted.add("%s: %s" % (p, s))
ok(not unlisted, "every data-folder path the docs mention is in the list (checked above)", sorted(unlisted))
# What a doc lists as a data folder's contents: the `data` row of the
# configuration tables, the man pages' data option, the examples' comment.
def contents(text):
    names = re.findall(r'(?<![\w/<.-])([a-z][a-z0-9_-]*/)(?![\w])', text)
    names += re.findall(r'(?<![\w/.-])([a-z-]+\.(?:lock|prom|mdb))\b', text)
    names += re.findall(r'\b(control)\b', text)
    return [n.rstrip("/") for n in names]
blocks = []
for md, k in (("docs/agent.md", "A"), ("docs/relay.md", "R")):
    for row in table_rows(doc(md)):
        if row.startswith("| `data` |"):
            blocks.append((md, k, re.sub(r'\(([^()]*)\)', '', row)))
for man, opt, k in (("docs/man/ferry-agent.8", ".B \\-d", "A"), ("docs/man/ferry-relay.8", ".B \\-\\-data", "R")):
    t = doc(man)
    i = t.index(opt)
    blocks.append((man, k, strip_parens(troff(t[i:t.index(".TP", i)]))))
for ex, k in (("docs/examples/agent.conf", "A"), ("docs/examples/relay.conf", "R")):
    t = doc(ex)
    para = t[:re.search(r'^data\s*=', t, re.M).start()].rstrip("\n").split("\n\n")[-1]
    blocks.append((ex, k, strip_parens(para)))
bad, seen = [], 0
for where, k, text in blocks:
    for n in contents(text):
        seen += 1
        if n not in found.get(k, []):
            bad.append("%s: %s" % (where, n))
ok(seen >= 15 and not bad, "every file and folder a doc lists in a data folder is there (%d)" % seen, bad)

# ---- (e) error codes ----
codes = dict((n, int(v)) for n, v in re.findall(r'\b(FERRY_E[A-Z0-9_]+|FERRY_OK)\s*=\s*(-?\d+)', src("proto/ferry.h")))
texts = dict(re.findall(r'E\((FERRY_[A-Z0-9_]+),\s*"((?:[^"\\]|\\.)*)"\)', src("proto/ferry.c")))
rows = {}
for m in re.finditer(r'^\|\s*(-?\d+)\s*\|\s*(\d+)\s*\|\s*`(FERRY_[A-Z0-9_]+)`\s*\|\s*(.*?)\s*\|\s*$',
                     section(doc("docs/protocol.md"), "## 7. Error codes"), re.M):
    rows[m.group(3)] = (int(m.group(1)), int(m.group(2)), m.group(4))
ok(len(codes) > 50, "FERRY_E* codes parsed from proto/ferry.h (%d)" % len(codes))
bad = []
for n, v in sorted(codes.items()):
    if n not in rows:
        bad.append("%s (%d) missing" % (n, v))
    elif rows[n][:2] != (v, -v):
        bad.append("%s: %d in ferry.h, %d / %d in protocol.md" % (n, v, rows[n][0], rows[n][1]))
    elif rows[n][2] != texts.get(n):
        bad.append("%s: ferry_strerror says \"%s\", protocol.md \"%s\"" % (n, texts.get(n), rows[n][2]))
bad += ["%s in protocol.md, not in ferry.h" % n for n in rows if n not in codes]
ok(not bad, "protocol.md section 7: every FERRY_E* code, its number and ferry_strerror text", bad)
sys.exit(1 if fails else 0)
PYEOF
ft_done
