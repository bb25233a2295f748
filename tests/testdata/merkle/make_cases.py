#!/usr/bin/env python3
"""Writes the Merkle tamper cases of this folder, which merkle_test walks.

An independent implementation (hashlib only) of RFC 6962 section 2.1, so the
C++ code is checked against it and not against itself. The tree is the
8-leaf reference tree of the RFC 6962 test suites (google/certificate-
transparency and transparency-dev/merkle proof/verify_test.go); the script
asserts that it reproduces their published roots and proofs first.

Each case is "key: value" lines: kind (inclusion | consistency); index,
size, leaf, root (inclusion) or size1, size2, root1, root2 (consistency);
zero or more proof lines in proof order; expect-code (an absl code name or
OK) and expect-message (the exact message, empty for OK). Hashes are hex.
Run from anywhere: python3 make_cases.py
"""
import hashlib
import os

LEAVES = [bytes.fromhex(h) for h in [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f"]]

# transparency-dev/merkle proof/verify_test.go, "roots" (sizes 1..8).
REF_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def sha(b):
    return hashlib.sha256(b).digest()


def leaf_hash(d):
    return sha(b"\x00" + d)


def node(l, r):
    return sha(b"\x01" + l + r)


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(ds):
    if not ds:
        return sha(b"")
    if len(ds) == 1:
        return leaf_hash(ds[0])
    k = split(len(ds))
    return node(mth(ds[:k]), mth(ds[k:]))


def path(m, ds):
    if len(ds) <= 1:
        return []
    k = split(len(ds))
    if m < k:
        return path(m, ds[:k]) + [mth(ds[k:])]
    return path(m - k, ds[k:]) + [mth(ds[:k])]


def subproof(m, ds, b):
    n = len(ds)
    if m == n:
        return [] if b else [mth(ds)]
    k = split(n)
    if m <= k:
        return subproof(m, ds[:k], b) + [mth(ds[k:])]
    return subproof(m - k, ds[k:], False) + [mth(ds[:k])]


def consistency(m, ds):
    return [] if m in (0, len(ds)) else subproof(m, ds, True)


assert [mth(LEAVES[:n]).hex() for n in range(1, 9)] == REF_ROOTS
# verify_test.go inclusionProofs {leaf 6 (index 5), size 8} and
# consistencyProofs {6, 8}.
assert [h.hex() for h in path(5, LEAVES)] == [
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]
assert [h.hex() for h in consistency(6, LEAVES)] == [
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]

HERE = os.path.dirname(os.path.abspath(__file__))


def flip(h, byte, bit):
    b = bytearray(h)
    b[byte] ^= 1 << bit
    return bytes(b)


def write(name, comment, fields, proof, code, message=""):
    lines = ["# " + c for c in comment.split("\n")]
    lines += ["%s: %s" % (k, v) for k, v in fields]
    lines += ["proof: " + p.hex() for p in proof]
    lines += ["expect-code: " + code, "expect-message: " + message]
    with open(os.path.join(HERE, name + ".txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def inclusion(name, comment, index, size, leaf, proof, root, code, msg=""):
    write(name, comment, [("kind", "inclusion"), ("index", index),
                          ("size", size), ("leaf", leaf.hex()),
                          ("root", root.hex())], proof, code, msg)


def consist(name, comment, s1, s2, r1, r2, proof, code, msg=""):
    write(name, comment, [("kind", "consistency"), ("size1", s1),
                          ("size2", s2), ("root1", r1.hex()),
                          ("root2", r2.hex())], proof, code, msg)


L = [leaf_hash(d) for d in LEAVES]
R = [sha(b"")] + [mth(LEAVES[:n]) for n in range(1, 9)]  # R[n] = root of n
NO_MATCH = "inclusion proof does not match root"

# Inclusion: leaf 2 of the tree of size 5 (proof: 3 hashes).
P = path(2, LEAVES[:5])
inclusion("inclusion-happy-path", "Leaf 2 of the reference tree of size 5.",
          2, 5, L[2], P, R[5], "OK")
inclusion("truncated-proof", "The last proof hash is missing.",
          2, 5, L[2], P[:-1], R[5], "INVALID_ARGUMENT",
          "inclusion proof has 2 hashes, want 3 for leaf 2 in a tree of size 5")
inclusion("extended-proof", "The root appended to the proof.",
          2, 5, L[2], P + [R[5]], R[5], "INVALID_ARGUMENT",
          "inclusion proof has 4 hashes, want 3 for leaf 2 in a tree of size 5")
inclusion("wrong-leaf", "The proof of leaf 2, presented for leaf 3's hash.",
          2, 5, L[3], P, R[5], "DATA_LOSS", NO_MATCH)
inclusion("wrong-index", "Leaf 2 and its proof, claimed at index 3.",
          3, 5, L[2], P, R[5], "DATA_LOSS", NO_MATCH)
inclusion("proof-for-different-size",
          "The proof of leaf 2 in the tree of size 5, presented with the size\n"
          "and root of the tree of size 8 (same proof length, 3 hashes).",
          2, 8, L[2], P, R[8], "DATA_LOSS", NO_MATCH)
for i in range(len(P)):
    Q = list(P)
    Q[i] = flip(Q[i], 0, 3)
    inclusion("modified-proof-%d-bit-3" % i,
              "Bit 3 of byte 0 of proof hash %d flipped." % i,
              2, 5, L[2], Q, R[5], "DATA_LOSS", NO_MATCH)
inclusion("wrong-root", "The root of the tree of size 4 instead of 5.",
          2, 5, L[2], P, R[4], "DATA_LOSS", NO_MATCH)
inclusion("swapped-proof-hashes", "Proof hashes 0 and 1 swapped.",
          2, 5, L[2], [P[1], P[0], P[2]], R[5], "DATA_LOSS", NO_MATCH)
inclusion("index-equals-size", "Index 5 in a tree of size 5.",
          5, 5, L[2], P, R[5], "INVALID_ARGUMENT",
          "leaf index 5 is not below tree size 5")
inclusion("short-leaf-hash", "A 31-byte leaf hash.",
          2, 5, L[2][:31], P, R[5], "INVALID_ARGUMENT",
          "leaf hash is 31 bytes, want 32")
inclusion("short-proof-hash", "Proof hash 1 cut to 31 bytes.",
          2, 5, L[2], [P[0], P[1][:31], P[2]], R[5], "INVALID_ARGUMENT",
          "proof hash 1 is 31 bytes, want 32")
inclusion("single-leaf-tree", "A tree of one leaf: empty proof, root = leaf.",
          0, 1, L[0], [], R[1], "OK")

# Consistency: 6 -> 8 (3 hashes) and 4 -> 7 (power-of-two size1).
C = consistency(6, LEAVES)
consist("consistency-happy-path", "From size 6 to size 8.",
        6, 8, R[6], R[8], C, "OK")
consist("consistency-power-of-two", "From size 4 to size 7.",
        4, 7, R[4], R[7], consistency(4, LEAVES[:7]), "OK")
consist("consistency-truncated-proof", "The last proof hash is missing.",
        6, 8, R[6], R[8], C[:-1], "INVALID_ARGUMENT",
        "consistency proof has 2 hashes, want 3 from tree size 6 to 8")
consist("consistency-empty-proof", "No proof at all for 6 -> 8.",
        6, 8, R[6], R[8], [], "INVALID_ARGUMENT",
        "consistency proof has 0 hashes, want 3 from tree size 6 to 8")
consist("consistency-modified-proof-0-bit-4", "Bit 4 of proof hash 0.",
        6, 8, R[6], R[8], [flip(C[0], 0, 4)] + C[1:], "DATA_LOSS",
        "consistency proof does not match root1")
consist("consistency-modified-proof-2-bit-4", "Bit 4 of proof hash 2.",
        6, 8, R[6], R[8], C[:2] + [flip(C[2], 0, 4)], "DATA_LOSS",
        "consistency proof does not match root1")
consist("consistency-wrong-root1", "root1 is the root of size 5.",
        6, 8, R[5], R[8], C, "DATA_LOSS",
        "consistency proof does not match root1")
consist("consistency-wrong-root2", "root2 is the root of size 7.",
        6, 8, R[6], R[7], C, "DATA_LOSS",
        "consistency proof does not match root2")
consist("consistency-swapped-roots", "root1 and root2 swapped.",
        6, 8, R[8], R[6], C, "DATA_LOSS",
        "consistency proof does not match root1")
consist("consistency-proof-for-different-size",
        "The 6 -> 8 proof presented as 6 -> 7 (also 3 hashes).",
        6, 7, R[6], R[7], C, "DATA_LOSS",
        "consistency proof does not match root2")
consist("consistency-split-view",
        "Two roots for the same size: the root of size 8 of the reference\n"
        "tree and that of a tree whose leaf 7 differs.",
        8, 8, R[8], mth(LEAVES[:7] + [b"forked"]), [], "DATA_LOSS",
        "different roots for the same tree size 8")
consist("consistency-shrinking-tree", "From size 8 back to size 6.",
        8, 6, R[8], R[6], [], "INVALID_ARGUMENT",
        "tree size 8 is larger than tree size 6")
consist("consistency-from-empty", "Size 0 is consistent with any tree.",
        0, 8, R[0], R[8], [], "OK")
consist("consistency-from-empty-wrong-root",
        "Size 0 with a root that is not SHA-256 of the empty string.",
        0, 8, R[1], R[8], [], "DATA_LOSS",
        "root1 is not the empty tree root for tree size 0")
