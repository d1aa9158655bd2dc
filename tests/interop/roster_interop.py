#!/usr/bin/python3
"""An independent reading of Ferry's golden rosters (docs/protocol.md
section 4.2) with Debian's python3-msgpack and python3-nacl only: decode
the file [body, sigs], check the canonical form, collect the relays (the
first in body field 7, any others in field 9, absent with one relay),
check each relay's stored key request (its own Ed25519 signature under
"ferry-keyrequest/v1", and that it names the entry's id, kind 7 and
keys), and verify the admins' signatures under "ferry-roster/v1" against
the threshold: roster 1 (one relay) as genesis, roster 2 (two relays,
made with ferry-keys roster add-relay) against roster 1's and its own
admins.  Prints ok/not ok lines; exits non-zero on any failure.  Run
with /usr/bin/python3."""

import os
import sys

import msgpack
import nacl.exceptions
import nacl.signing

HERE = os.path.dirname(os.path.abspath(__file__))
VEC = os.path.join(HERE, "..", "vectors")

failures = 0


def check(name, cond):
    global failures
    if cond:
        print("ok - %s" % name)
    else:
        failures += 1
        print("not ok - %s" % name)
    return cond


def unpack(b):
    return msgpack.unpackb(b, raw=False, strict_map_key=False,
                           use_list=True)


def canon(obj):
    return msgpack.packb(obj, use_bin_type=True)


def verify(pk, tag, msg, sig):
    try:
        nacl.signing.VerifyKey(pk).verify(tag + b"\x00" + msg, sig)
        return True
    except nacl.exceptions.BadSignatureError:
        return False


def load(name):
    with open(os.path.join(VEC, name)) as f:
        raw = bytes.fromhex(f.read().strip())
    top = unpack(raw)
    body_b, sigs = top
    body = unpack(body_b)
    return raw, top, body_b, body, sigs


def relays_of(body):
    return [body[7]] + list(body.get(9, []))


def relay_ok(rl):
    """The relay map's stored request proves it (4.1, 4.4)."""
    req = unpack(rl[5])
    rbody_b, rsig = req
    rbody = unpack(rbody_b)
    return (verify(rbody[6], b"ferry-keyrequest/v1", rbody_b, rsig) and
            rbody[2] == rl[1] and rbody[3] == 7 and
            rbody[6] == rl[2] and rbody[7] == rl[3] and
            sorted(rl.keys()) in ([1, 2, 3, 4, 5], [1, 2, 3, 5]))


def admins_signed(admins, body_b, sigs):
    keys = {a[2] for a in admins}
    return {pk for pk, sig in sigs
            if pk in keys and verify(pk, b"ferry-roster/v1", body_b, sig)}


def main():
    raw1, top1, b1, r1, s1 = load("roster_one_relay.hex")
    raw2, top2, b2, r2, s2 = load("roster_two_relays.hex")
    for n, raw, top, b in (("1", raw1, top1, b1), ("2", raw2, top2, b2)):
        check("roster %s: file and body are canonical msgpack" % n,
              canon(top) == raw and canon(unpack(b)) == b)
    check("roster 1: format 1, version 1, fields 1-8, no field 9",
          r1[1] == 1 and r1[2] == 1 and sorted(r1.keys()) ==
          list(range(1, 9)))
    check("roster 2: version 2, fields 1-9",
          r2[2] == 2 and sorted(r2.keys()) == list(range(1, 10)))
    rl1, rl2 = relays_of(r1), relays_of(r2)
    check("roster 1 lists one relay, 'relay'",
          [x[1] for x in rl1] == ["relay"])
    check("roster 2 lists 'relay' then 'relay-b', with endpoints",
          [x[1] for x in rl2] == ["relay", "relay-b"] and
          rl2[1][4] == "tcp://relay-b.example.net:7700")
    check("roster 2 keeps roster 1's relay entry byte for byte",
          canon(rl2[0]) == canon(rl1[0]))
    check("every relay's key request verifies and names its entry",
          all(relay_ok(x) for x in rl1 + rl2))
    keys = [x[2] for x in rl2] + [x[3] for x in rl2] + \
        [a[2] for a in r2[6]] + [a[7] for a in r2[8]] + \
        [a[8] for a in r2[8]]
    check("no key twice in roster 2 (relays, admins, agencies)",
          len(keys) == len(set(keys)))
    check("no relay id is an agency id",
          not {x[1] for x in rl2} & {a[1] for a in r2[8]})
    g = admins_signed(r1[6], b1, s1)
    check("roster 1: %d of its admins signed, threshold %d" %
          (len(g), r1[5]), len(g) >= r1[5] and len(g) == len(s1))
    old = admins_signed(r1[6], b2, s2)
    new = admins_signed(r2[6], b2, s2)
    check("roster 2: threshold of roster 1's and of its own admins",
          len(old) >= r1[5] and len(new) >= r2[5])
    bad = bytearray(b2)
    i = bad.find(b"relay-b.example.net")
    bad[i] ^= 0x20
    check("a changed endpoint breaks every admin signature",
          not admins_signed(r2[6], bytes(bad), s2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
