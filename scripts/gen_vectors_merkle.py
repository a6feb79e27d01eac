#!/usr/bin/env python3
"""Write the Merkle proof vectors of protocol §11.1 to tests/vectors/merkle/<case>.json, deterministically.

Every case is built from the 8-leaf RFC 6962 reference tree (no randomness). Valid cases are named
`*-happy-path-*`; a broken case is named for how a valid one was broken. Each file holds `desc`, `kind`
(inclusion or consistency), `inputs` (hashes in hex) and `expected` ("ok" or the error code).

Usage: gen_vectors_merkle.py [--check]   (--check exits 1 if the committed files differ)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # scripts/vectorio.py, also when loaded by a test

import vectorio

from crypto.merkle import EMPTY_ROOT, MerkleTree, hash_leaves
from crypto.nodestore import MemoryNodeStore

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "merkle"
LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 0x01]) + h[1:]


def _inclusion(desc: str, leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes, expected: str
) -> dict[str, object]:
    inputs = {"leaf_hash": leaf.hex(), "index": index, "size": size, "proof": [p.hex() for p in proof],
              "root": root.hex()}
    return {"desc": desc, "kind": "inclusion", "inputs": inputs, "expected": expected}


def _consistency(desc: str, old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes],
                 expected: str) -> dict[str, object]:
    inputs = {"old_size": old, "new_size": new, "old_root": old_root.hex(), "new_root": new_root.hex(),
              "proof": [p.hex() for p in proof]}
    return {"desc": desc, "kind": "consistency", "inputs": inputs, "expected": expected}


def generate() -> dict[str, dict[str, object]]:
    """Return every case by name."""
    hashes = hash_leaves(LEAVES)
    tree = MerkleTree(MemoryNodeStore())
    tree.extend(hashes)
    root = [tree.root(n) for n in range(9)]
    cases: dict[str, dict[str, object]] = {}
    for index, size in [(0, 8), (5, 8), (2, 3), (1, 5), (4, 5), (0, 1), (6, 7)]:
        cases[f"inclusion-happy-path-{index}-in-{size}"] = _inclusion(
            f"valid inclusion proof of leaf {index} in the size-{size} reference tree",
            hashes[index], index, size, tree.inclusion_proof(index, size), root[size], "ok")
    p = tree.inclusion_proof(5, 8)
    h5 = hashes[5]
    broken_inclusion = {
        "wrong-root": ("root of size 7 instead of 8", h5, 5, 8, p, root[7], "bad_proof"),
        "wrong-leaf": ("leaf hash of leaf 4 with the proof of leaf 5", hashes[4], 5, 8, p, root[8], "bad_proof"),
        "wrong-index": ("index 4 with the proof of index 5", h5, 4, 8, p, root[8], "bad_proof"),
        "wrong-size": ("size 6 with the proof for size 8", h5, 5, 6, p, root[8], "bad_proof"),
        "truncated-proof": ("last proof node removed", h5, 5, 8, p[:-1], root[8], "bad_proof"),
        "extended-proof": ("a node appended to the proof", h5, 5, 8, [*p, root[1]], root[8], "bad_proof"),
        "preceding-garbage": ("a node prepended to the proof", h5, 5, 8, [root[1], *p], root[8], "bad_proof"),
        "flipped-bit": ("one bit of the first proof node flipped", h5, 5, 8, [_flip(p[0]), *p[1:]], root[8],
                        "bad_proof"),
        "index-equals-size": ("leaf index equal to the tree size", h5, 8, 8, p, root[8], "bad_proof"),
        "empty-tree": ("inclusion in the empty tree", h5, 0, 0, [], EMPTY_ROOT, "bad_proof"),
        "short-leaf-hash": ("leaf hash of 31 bytes", h5[:31], 5, 8, p, root[8], "malformed_encoding"),
        "short-proof-node": ("a proof node of 31 bytes", h5, 5, 8, [p[0][:31], *p[1:]], root[8],
                             "malformed_encoding"),
    }
    for name, (desc, *args) in broken_inclusion.items():
        cases[f"inclusion-{name}"] = _inclusion(desc, *args)  # type: ignore[arg-type]
    for old, new in [(1, 8), (6, 8), (2, 5), (6, 7), (4, 8), (3, 7)]:
        cases[f"consistency-happy-path-{old}-to-{new}"] = _consistency(
            f"valid consistency proof from size {old} to size {new} of the reference tree",
            old, new, root[old], root[new], tree.consistency_proof(old, new), "ok")
    c = tree.consistency_proof(6, 8)
    broken_consistency = {
        "wrong-old-root": ("old root of size 5", 6, 8, root[5], root[8], c, "bad_proof"),
        "wrong-new-root": ("new root of size 7", 6, 8, root[6], root[7], c, "bad_proof"),
        "swapped-roots": ("old and new roots swapped", 6, 8, root[8], root[6], c, "bad_proof"),
        "truncated-proof": ("last proof node removed", 6, 8, root[6], root[8], c[:-1], "bad_proof"),
        "extended-proof": ("a node appended", 6, 8, root[6], root[8], [*c, root[1]], "bad_proof"),
        "empty-proof": ("empty proof between different sizes", 6, 8, root[6], root[8], [], "bad_proof"),
        "flipped-bit": ("one bit of the first proof node flipped", 6, 8, root[6], root[8],
                        [_flip(c[0]), *c[1:]], "bad_proof"),
        "old-larger-than-new": ("old size above new size", 8, 6, root[8], root[6], c, "bad_proof"),
        "short-root": ("old root of 31 bytes", 6, 8, root[6][:31], root[8], c, "malformed_encoding"),
    }
    for name, (desc, *args) in broken_consistency.items():
        cases[f"consistency-{name}"] = _consistency(desc, *args)  # type: ignore[arg-type]
    edge = {
        "old-size-zero-happy-path": ("from the empty tree: empty proof, empty-tree root", 0, 8, EMPTY_ROOT,
                                     root[8], [], "ok"),
        "old-size-zero-nonempty-proof": ("from the empty tree with a non-empty proof", 0, 8, EMPTY_ROOT,
                                         root[8], [root[1]], "bad_proof"),
        "old-size-zero-zero-root": ("from the empty tree with the all-zero root", 0, 8, bytes(32), root[8], [],
                                    "bad_proof"),
        "sizes-zero-happy-path": ("both trees empty with the empty-tree root", 0, 0, EMPTY_ROOT, EMPTY_ROOT, [],
                                  "ok"),
        "sizes-zero-wrong-root": ("both trees empty but a root is not the empty-tree root", 0, 0, root[1],
                                  root[1], [], "bad_proof"),
        "equal-sizes-happy-path": ("equal sizes, equal roots, empty proof", 5, 5, root[5], root[5], [], "ok"),
        "equal-sizes-different-roots": ("equal sizes with different roots", 5, 5, root[5], root[6], [],
                                        "bad_proof"),
        "equal-sizes-nonempty-proof": ("equal sizes with a non-empty proof", 5, 5, root[5], root[5], [root[5]],
                                       "bad_proof"),
    }
    for name, (desc, *args) in edge.items():
        cases[f"consistency-{name}"] = _consistency(desc, *args)  # type: ignore[arg-type]
    return cases


def render(case: dict[str, object]) -> str:
    """The exact file text of a case."""
    return vectorio.render(case, ensure_ascii=True)


def main(argv: list[str]) -> int:
    return vectorio.main(argv, lambda: {OUT: {n: render(c) for n, c in generate().items()}}, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
