#!/usr/bin/python3
"""An independent reading of Ferry's golden envelopes (docs/protocol.md
section 3) with Debian's python3-msgpack and python3-nacl only: decode,
check the canonical form, verify the Ed25519 signature with its domain tag,
unwrap the content key with crypto_box_seal_open, decrypt with
XChaCha20-Poly1305 over an independently rebuilt AD, unpad, check the
BLAKE2b commitment and compare the plaintext; and for the receipts by
proof (RECEIPT_P, ACCEPTED_P: no signature) parse the C2SP checkpoint
note, verify its Ed25519 signature line, decode the proven log entry and
verify the RFC 9162 inclusion proof.  Prints ok/not ok lines and exits
non-zero on any failure.  Run with /usr/bin/python3."""

import base64
import hashlib
import os
import sys

import msgpack
import nacl.bindings as nb
import nacl.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
VEC = os.path.join(HERE, "..", "vectors")
sys.path.insert(0, HERE)
# RFC 9162 inclusion check, written apart from the C code (and checked
# against RFC 6962 trees there).
from rfc6962_check import verify_inclusion  # noqa: E402

TAGS = {1: b"ferry-envelope/v1", 2: b"ferry-receipt/v1",
        3: b"ferry-accepted/v1", 4: b"ferry-nack/v1", 5: b"ferry-hello/v1",
        6: b"ferry-credit/v1", 7: b"ferry-heartbeat/v1",
        8: b"ferry-roster-push/v1", 9: b"ferry-checkpoint/v1",
        10: b"ferry-ask/v1"}
NAMES = {1: "msg", 2: "receipt", 3: "accepted", 4: "nack", 5: "hello",
         6: "credit", 7: "heartbeat", 8: "roster", 9: "checkpoint",
         10: "ask"}
# Type-specific keys (from 16) and their Python types, per docs/protocol.md.
FIELDS = {
    1: {16: int, 17: bytes, 18: bytes, 19: bytes, 20: bytes, 21: bytes},
    2: {16: bytes, 17: bytes, 18: int, 19: int, 20: bytes},
    3: {16: bytes, 17: bytes, 18: int, 19: int, 20: bytes},
    4: {16: bytes, 17: bytes, 18: int, 19: str},
    5: {16: int, 17: int},
    6: {16: int},
    7: {},
    8: {16: bytes},
    9: {16: bytes},
    10: {16: bytes, 17: bytes},
}

# The proof types (docs/protocol.md 3.3): outer [inner] alone.
PROOF_NAMES = {11: "receipt_p", 12: "accepted_p"}
PROOF_FIELDS = {16: bytes, 17: bytes, 18: int, 19: int, 20: bytes,
                21: bytes, 22: bytes}
LOG_ACCEPTED, LOG_RECEIVED = 2, 3

failures = 0


def check(name, cond):
    global failures
    if cond:
        print("ok - %s" % name)
    else:
        failures += 1
        print("not ok - %s" % name)
    return cond


def load_keys():
    keys = {}
    with open(os.path.join(VEC, "envelope_keys.txt")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            k, v = line.split(None, 1)
            keys[k] = v.strip()
    return keys


def load_hex(name):
    with open(os.path.join(VEC, name)) as f:
        return bytes.fromhex(f.read().strip())


def canon(obj):
    """Python's msgpack packer also emits shortest forms; with
    use_bin_type it distinguishes str and bin as Ferry does."""
    return msgpack.packb(obj, use_bin_type=True)


def strict_unpack(b):
    # strict_map_key=False: Ferry's map keys are integers.
    return msgpack.unpackb(b, raw=False, strict_map_key=False,
                           use_list=True)


def check_envelope(t, raw, keys):
    name = NAMES[t]
    outer = strict_unpack(raw)
    check("%s: outer is [inner bin, sig bin64]" % name,
          isinstance(outer, list) and len(outer) == 2 and
          isinstance(outer[0], bytes) and isinstance(outer[1], bytes) and
          len(outer[1]) == 64)
    check("%s: outer encoding is canonical" % name, canon(outer) == raw)
    inner_b, sig = outer
    inner = strict_unpack(inner_b)
    check("%s: inner encoding is canonical (ascending int keys)" % name,
          canon(inner) == inner_b and list(inner) == sorted(inner))
    check("%s: common fields" % name,
          inner.get(1) == 1 and inner.get(2) == t and
          isinstance(inner.get(3), bytes) and len(inner[3]) == 16 and
          isinstance(inner.get(4), str) and isinstance(inner.get(5), str) and
          isinstance(inner.get(6), int))
    # The id is time-ordered (section 3.2): the envelope's time as 6 bytes
    # big-endian, then 10 random bytes.
    check("%s: id begins with its time (48 bits big-endian)" % name,
          isinstance(inner.get(6), int) and isinstance(inner.get(3), bytes)
          and inner[3][:6] == (inner[6] & (2**48 - 1)).to_bytes(6, "big"))
    extra = set(inner) - {1, 2, 3, 4, 5, 6}
    spec = FIELDS[t]
    check("%s: only its own fields, with their types" % name,
          extra <= set(spec) and
          all(isinstance(inner[k], spec[k]) for k in extra))
    signer = {"eerc-charity": keys["sender_sign_pk"],
              "met-police": keys["recipient_sign_pk"],
              "relay": keys["relay_sign_pk"]}[inner[4]]
    ok = True
    try:
        nb.crypto_sign_open(sig + TAGS[t] + b"\x00" + inner_b,
                            bytes.fromhex(signer))
    except nacl.exceptions.BadSignatureError:
        ok = False
    check("%s: Ed25519 signature over tag || 0x00 || inner" % name, ok)
    # Another type's tag must not verify.
    other = TAGS[1 if t != 1 else 2]
    bad = False
    try:
        nb.crypto_sign_open(sig + other + b"\x00" + inner_b,
                            bytes.fromhex(signer))
        bad = True
    except nacl.exceptions.BadSignatureError:
        pass
    check("%s: signature does not verify under another tag" % name, not bad)
    return inner


def parse_note(note):
    """C2SP signed note: (origin, size, root, signed text, [(name, b64)])."""
    text, _, sigs = note.partition(b"\n\n")
    text += b"\n"
    lines = text.decode().split("\n")
    lines.pop()
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2])
    out = []
    for ln in sigs.decode().split("\n"):
        if not ln:
            continue
        assert ln.startswith("\u2014 ")
        name, b64 = ln[2:].split(" ")
        out.append((name, base64.b64decode(b64)))
    return origin, size, root, text, out


def note_signed(note, name, pk):
    _, _, _, text, sigs = parse_note(note)
    kid = hashlib.sha256(name.encode() + b"\n" + b"\x01" + pk).digest()[:4]
    for n, sig in sigs:
        if n != name or sig[:4] != kid:
            continue
        try:
            nb.crypto_sign_open(sig[4:] + text, pk)
            return True
        except nacl.exceptions.BadSignatureError:
            return False
    return False


def proof_holds(t, inner, pk):
    origin, size, root, _, _ = parse_note(inner[20])
    if origin != "ferry/" + inner[4] or size <= inner[18]:
        return False
    entry = strict_unpack(inner[21])
    want = LOG_RECEIVED if t == 11 else LOG_ACCEPTED
    if (entry.get(1) != want or entry.get(3) != inner[16] or
            entry.get(4) != inner[17] or entry.get(5) != inner[5] or
            (t == 11 and entry.get(6) != inner[4])):
        return False
    path = [inner[22][i:i + 32] for i in range(0, len(inner[22]), 32)]
    leaf = hashlib.sha256(b"\x00" + inner[21]).digest()
    return (verify_inclusion(leaf, inner[18], size, root, path) and
            note_signed(inner[20], origin, pk))


def check_proof_envelope(t, raw, keys):
    name = PROOF_NAMES[t]
    outer = strict_unpack(raw)
    check("%s: outer is [inner bin] alone (no signature)" % name,
          isinstance(outer, list) and len(outer) == 1 and
          isinstance(outer[0], bytes))
    check("%s: outer encoding is canonical" % name, canon(outer) == raw)
    inner = strict_unpack(outer[0])
    check("%s: inner encoding is canonical (ascending int keys)" % name,
          canon(inner) == outer[0] and list(inner) == sorted(inner))
    check("%s: common fields and exactly its own fields" % name,
          inner.get(1) == 1 and inner.get(2) == t and
          set(inner) == {1, 2, 3, 4, 5, 6} | set(PROOF_FIELDS) and
          all(isinstance(inner[k], v) for k, v in PROOF_FIELDS.items()) and
          len(inner[22]) % 32 == 0)
    entry = strict_unpack(inner[21])
    check("%s: the entry is canonical log-entry msgpack" % name,
          canon(entry) == inner[21] and list(entry) == sorted(entry))
    signer = bytes.fromhex({"met-police": keys["recipient_sign_pk"],
                            "relay": keys["relay_sign_pk"]}[inner[4]])
    check("%s: note signed, entry proven under its root" % name,
          proof_holds(t, inner, signer))
    other = bytes.fromhex(keys["sender_sign_pk"])
    check("%s: not under another key" % name,
          not proof_holds(t, inner, other))
    bad = dict(inner)
    if bad[22]:
        bad[22] = bytes([bad[22][0] ^ 1]) + bad[22][1:]
    else:
        bad[18] += 1
    check("%s: a tampered path does not prove it" % name,
          not proof_holds(t, bad, signer))
    bad = dict(inner)
    bad[18] = inner[18] ^ 1
    check("%s: the path does not prove it at another index" % name,
          not proof_holds(t, bad, signer))
    bad = dict(inner)
    bad[17] = bytes(32)
    check("%s: another env_hash is refused" % name,
          not proof_holds(t, bad, signer))
    return inner


def check_msg(raw, keys):
    inner = check_envelope(1, raw, keys)
    check("msg: ids, time and key id",
          inner[4] == keys["sender_id"] and inner[5] == keys["recipient_id"]
          and inner[6] == int(keys["time"]) and
          inner[16] == int(keys["key_id"]) and
          inner[3] == bytes.fromhex(keys["msg_id"]) and
          inner.get(21) == bytes.fromhex(keys["msg_reply_to"]))
    check("msg: wrapped 80, nonce 24, commitment 32 bytes",
          len(inner[17]) == 80 and len(inner[18]) == 24 and
          len(inner[20]) == 32)
    ct = inner[19]
    n = len(ct) - 16
    check("msg: ciphertext is a power-of-two bucket >= 1024 plus tag",
          n >= 1024 and (n & (n - 1)) == 0)
    rpk = bytes.fromhex(keys["recipient_enc_pk"])
    rsk = bytes.fromhex(keys["recipient_enc_sk"])
    check("msg: recipient key pair matches",
          nb.crypto_scalarmult_base(rsk) == rpk)
    k = nb.crypto_box_seal_open(inner[17], rpk, rsk)
    check("msg: crypto_box_seal_open gives the content key",
          k == bytes.fromhex(keys["msg_content_key"]))
    # The AD, rebuilt from the decoded fields.
    ad = b"ferry-msg-ad/v1\x00" + canon(
        [1, 1, inner[3], inner[4], inner[5], inner[6], inner[16],
         inner[17], inner.get(21, b""), inner[20]])
    pt = nb.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, ad, inner[18], k)
    check("msg: XChaCha20-Poly1305 opens with the rebuilt AD", pt is not None)
    # ISO/IEC 7816-4 padding: content, 0x80, zeros.
    stripped = pt.rstrip(b"\x00")
    check("msg: padding is 0x80 then zeros", stripped.endswith(b"\x80"))
    body = stripped[:-1]
    doc = strict_unpack(body)
    check("msg: plaintext is [C (bin 32), content (bin)], canonical",
          isinstance(doc, list) and len(doc) == 2 and
          isinstance(doc[0], bytes) and len(doc[0]) == 32 and
          isinstance(doc[1], bytes) and canon(doc) == body)
    c_key, content = doc
    commit = hashlib.blake2b(content, digest_size=32, key=c_key).digest()
    check("msg: BLAKE2b-256(C, content) equals the commitment",
          commit == inner[20])
    check("msg: plaintext matches", content ==
          bytes.fromhex(keys["msg_content"]))
    check("msg: bucket is the smallest fitting one",
          len(pt) == max(1024, 1 << (len(body)).bit_length()))
    # A changed AD field must not open.
    ad2 = b"ferry-msg-ad/v1\x00" + canon(
        [1, 1, inner[3], inner[4], inner[5], inner[6] + 1, inner[16],
         inner[17], inner.get(21, b""), inner[20]])
    failed = False
    try:
        nb.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, ad2, inner[18], k)
    except nacl.exceptions.CryptoError:
        failed = True
    check("msg: a different time in the AD does not open", failed)


def main():
    keys = load_keys()
    seed = bytes.fromhex(keys["sender_sign_seed"])
    pk, _ = nb.crypto_sign_seed_keypair(seed)
    check("keys: sender's public key derives from its seed",
          pk == bytes.fromhex(keys["sender_sign_pk"]))
    check_msg(load_hex("envelope_msg.hex"), keys)
    note = bytes.fromhex(keys["checkpoint_note"])
    for t in range(2, 11):
        raw = load_hex("envelope_%s.hex" % NAMES[t])
        inner = check_envelope(t, raw, keys)
        if t in (2, 3):
            check("%s: refers to the message, with its note" % NAMES[t],
                  inner[16] == bytes.fromhex(keys["msg_id"]) and
                  inner[17] == b"\xee" * 32 and inner[20] == note)
        if t == 4:
            check("nack: code 101 and its reason",
                  inner[18] == 101 and
                  inner[19] == "recipient unknown or not active")
        if t in (8, 9):
            check("%s: blob" % NAMES[t], inner[16] == note)
        if t == 10:
            check("ask: names the message and its envelope hash",
                  inner[16] == bytes.fromhex(keys["msg_id"]) and
                  inner[17] == b"\xee" * 32 and len(inner) == 8)
    for t in (11, 12):
        check_proof_envelope(t, load_hex("envelope_%s.hex" % PROOF_NAMES[t]),
                             keys)
    print("# %d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # a crash is a failure, said as such
        print("not ok - interop raised %s: %s" % (type(exc).__name__, exc))
        sys.exit(1)
