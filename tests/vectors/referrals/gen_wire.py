#!/usr/bin/python3
"""Independent encoder of ferry-referral/1 documents to their canonical
msgpack form, written from docs/referral-schema.md ("Wire encoding") and
not from agent/referral*.c.  It writes wire/NAME.msgpack for every valid
example NAME.json here; tests/unit/test_referral.c checks that the C
encoder produces exactly these bytes and decodes them back to the JSON.

usage: /usr/bin/python3 tests/vectors/referrals/gen_wire.py
"""
import base64
import glob
import json
import os

import msgpack

PARTY = {"name": 1, "role": 2, "organisation": 3, "phone": 4, "email": 5}
OBJECTS = {
    "": {"schema": 1, "message_kind": 2, "case_id": 3, "referral_type": 4,
         "urgency": 5, "age_group": 6, "consent": 7, "subject": 8,
         "exploitation": 9, "indicators": 10, "narrative": 11, "needs": 12,
         "police_reference": 13, "referrer": 14, "attachments": 15,
         "in_reply_to": 16, "response": 17, "reason": 18, "responder": 19},
    "consent": {"referral": 1, "support": 2, "police_contact": 3,
                "obtained_by": 4, "obtained_at": 5},
    "subject": {"given_name": 1, "family_name": 2, "aliases": 3,
                "date_of_birth": 4, "age_estimate": 5, "sex": 6,
                "nationality": 7, "languages": 8, "interpreter_needed": 9,
                "safe_contact": 10},
    "subject.safe_contact": {"method": 1, "details": 2},
    "exploitation": {"types": 1, "location": 2, "started": 3, "ongoing": 4},
    "needs": {"accommodation": 1, "medical": 2, "immediate_threat": 3,
              "other": 4},
    "referrer": PARTY,
    "responder": PARTY,
    "attachments[]": {"name": 1, "media_type": 2, "data_base64": 3},
}


def conv(v, path):
    if isinstance(v, dict):
        table = OBJECTS[path]
        out = {}
        for k, x in v.items():
            sub = k if path == "" else path + "." + k
            out[table[k]] = conv(x, sub)
        return dict(sorted(out.items()))
    if isinstance(v, list):
        return [conv(x, path + "[]") for x in v]
    if path == "in_reply_to":
        return bytes.fromhex(v)
    if path.endswith("data_base64"):
        return base64.b64decode(v, validate=True)
    return v


def encode(doc):
    """The canonical msgpack bytes of a (valid) JSON document."""
    return msgpack.packb(conv(doc, ""), use_bin_type=True)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for f in sorted(glob.glob(os.path.join(here, "*.json"))):
        with open(f, encoding="utf-8") as fh:
            doc = json.load(fh)
        b = encode(doc)
        name = os.path.basename(f)[:-5] + ".msgpack"
        with open(os.path.join(here, "wire", name), "wb") as fh:
            fh.write(b)
        print(name, len(b))


if __name__ == "__main__":
    main()
