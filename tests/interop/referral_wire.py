#!/usr/bin/python3
"""The referral document's wire form (docs/referral-schema.md section 6),
read independently with Debian's python3-msgpack: for every valid example
in tests/vectors/referrals/, the Python encoder written from the document
(gen_wire.py) gives exactly the committed golden bytes (which
test_referral checks the C encoder against), and those bytes are in the
canonical subset: only int keys, strictly ascending, shortest forms (the
packer's output equals the input), decoding back to the same JSON.
Prints ok/not ok lines; exits non-zero on failure.  Run with
/usr/bin/python3."""

import base64
import glob
import json
import os
import sys

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
VEC = os.path.join(HERE, "..", "vectors", "referrals")
sys.dont_write_bytecode = True
sys.path.insert(0, VEC)
import gen_wire  # noqa: E402

NAMES = {path: {v: k for k, v in table.items()}
         for path, table in gen_wire.OBJECTS.items()}

fails = 0


def report(ok, name, why=""):
    global fails
    if ok:
        print("ok - " + name)
    else:
        fails += 1
        print("not ok - %s: %s" % (name, why))


def keys_ok(v):
    if isinstance(v, dict):
        ks = list(v.keys())
        if not all(isinstance(k, int) and k > 0 for k in ks):
            return False
        if ks != sorted(ks) or len(set(ks)) != len(ks):
            return False
        return all(keys_ok(x) for x in v.values())
    if isinstance(v, list):
        return all(keys_ok(x) for x in v)
    return isinstance(v, (int, bool, str, bytes)) and v is not None


def back(v, path):
    """Wire value to JSON value, by the field-number tables."""
    if isinstance(v, dict):
        names = NAMES[path]
        out = {}
        for k, x in v.items():
            name = names[k]
            sub = name if path == "" else path + "." + name
            out[name] = back(x, sub)
        return out
    if isinstance(v, list):
        return [back(x, path + "[]") for x in v]
    if isinstance(v, bytes):
        if path == "in_reply_to":
            return v.hex()
        return base64.b64encode(v).decode()
    return v


def main():
    files = sorted(glob.glob(os.path.join(VEC, "*.json")))
    report(len(files) >= 12, "referral examples present", str(len(files)))
    for f in files:
        name = os.path.basename(f)[:-5]
        with open(f, encoding="utf-8") as fh:
            doc = json.load(fh)
        gold_path = os.path.join(VEC, "wire", name + ".msgpack")
        try:
            with open(gold_path, "rb") as fh:
                gold = fh.read()
        except OSError as e:
            report(False, name, str(e))
            continue
        report(gen_wire.encode(doc) == gold, "python encoding = golden: "
               + name, "bytes differ")
        v = msgpack.unpackb(gold, raw=False, strict_map_key=False,
                            use_list=True)
        report(keys_ok(v), "canonical keys: " + name, "keys")
        report(msgpack.packb(v, use_bin_type=True) == gold,
               "shortest forms: " + name, "re-pack differs")
        report(back(v, "") == doc, "decodes to the JSON: " + name,
               "JSON differs")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
