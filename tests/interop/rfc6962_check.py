#!/usr/bin/python3
"""Check Ferry's Merkle roots and proofs against an independent RFC 6962
implementation written here from the RFC's definitions with hashlib.

Leaf i's data is i as 8 bytes big-endian (as in ferry-audit _tree).  Every
tree size up to 300: roots, every inclusion proof, every consistency proof.
Then a few random sizes up to 10^6: roots and a few proofs each.
Prints ok/not ok lines; exits non-zero on any failure.
"""
import hashlib
import os
import random
import subprocess
import sys

BIN = os.environ.get("FERRY_BIN", "build/asan")
AUDIT = os.path.join(BIN, "ferry-audit")
fails = 0


def report(ok, name):
    global fails
    print(("ok - " if ok else "not ok - ") + name)
    if not ok:
        fails += 1


def leaf(i):
    return hashlib.sha256(b"\x00" + i.to_bytes(8, "big")).digest()


def node(a, b):
    return hashlib.sha256(b"\x01" + a + b).digest()


class Tree:
    """RFC 6962 section 2.1, with complete power-of-two subtrees cached."""

    def __init__(self, n):
        self.levels = [[leaf(i) for i in range(n)]]
        while len(self.levels[-1]) > 1:
            prev = self.levels[-1]
            self.levels.append([node(prev[2 * j], prev[2 * j + 1])
                                for j in range(len(prev) // 2)])

    def mth(self, lo, hi):
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n & (n - 1) == 0 and lo % n == 0:
            return self.levels[n.bit_length() - 1][lo // n]
        k = 1
        while k * 2 < n:
            k *= 2
        return node(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def path(self, m, lo, hi):
        """PATH(m, D[lo:hi]) from RFC 6962 2.1.1."""
        n = hi - lo
        if n <= 1:
            return []
        k = 1
        while k * 2 < n:
            k *= 2
        if m < k:
            return self.path(m, lo, lo + k) + [self.mth(lo + k, hi)]
        return self.path(m - k, lo + k, hi) + [self.mth(lo, lo + k)]

    def subproof(self, m, lo, hi, b):
        """SUBPROOF(m, D[lo:hi], b) from RFC 6962 2.1.2."""
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = 1
        while k * 2 < n:
            k *= 2
        if m <= k:
            return self.subproof(m, lo, lo + k, b) + [self.mth(lo + k, hi)]
        return (self.subproof(m - k, lo + k, hi, False) +
                [self.mth(lo, lo + k)])


def verify_inclusion(lh, index, size, root, proof):
    """RFC 9162 2.1.3.2, written independently of the C code."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, lh
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def run(args):
    out = subprocess.run([AUDIT, "_tree"] + [str(a) for a in args],
                         check=True, stdout=subprocess.PIPE).stdout
    return out.decode().splitlines()


def parse(lines):
    roots, incl, cons = {}, {}, {}
    for ln in lines:
        f = ln.split(" ")
        if f[0] == "root":
            roots[int(f[1])] = bytes.fromhex(f[2])
        else:
            hs = [bytes.fromhex(h) for h in f[3].split(",")] if len(f) > 3 \
                and f[3] else []
            (incl if f[0] == "incl" else cons)[(int(f[1]), int(f[2]))] = hs
    return roots, incl, cons


def main():
    N = 300
    t = Tree(N)
    roots, incl, cons = parse(run(["all", N]))
    report(len(roots) == N and all(roots[s] == t.mth(0, s)
                                   for s in range(1, N + 1)),
           "roots of every size 1..%d match RFC 6962" % N)
    bad = [(s, i) for s in range(1, N + 1) for i in range(s)
           if incl.get((s, i)) != t.path(i, 0, s)]
    report(not bad, "inclusion proofs for every (index, size) up to %d "
           "match RFC 6962 PATH %s" % (N, bad[:3]))
    bad = [(s, i) for s in range(1, N + 1) for i in range(s)
           if not verify_inclusion(leaf(i), i, s, roots[s], incl[(s, i)])]
    report(not bad, "every inclusion proof verifies by RFC 9162")
    bad = [(m, s) for s in range(1, N + 1) for m in range(1, s + 1)
           if cons.get((m, s)) != t.subproof(m, 0, s, True)]
    report(not bad, "consistency proofs for every (m, size) up to %d "
           "match RFC 6962 PROOF %s" % (N, bad[:3]))

    rnd = random.Random(6962)
    sizes = [10 ** 6, rnd.randrange(300, 10 ** 6),
             rnd.randrange(300, 10 ** 5), 65537]
    for n in sizes:
        t = Tree(n)
        idx = sorted({0, n - 1, n // 2, rnd.randrange(n), rnd.randrange(n)})
        roots, incl, cons = parse(run(["big", n] + idx))
        okr = roots.get(n) == t.mth(0, n)
        oki = all(incl.get((n, i)) == t.path(i, 0, n) and
                  verify_inclusion(leaf(i), i, n, roots[n], incl[(n, i)])
                  for i in idx)
        okc = all(cons.get((m, n)) == t.subproof(m, 0, n, True)
                  for m in idx if m > 0)
        report(okr and oki and okc, "size %d: root, inclusion and "
               "consistency proofs match RFC 6962" % n)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
