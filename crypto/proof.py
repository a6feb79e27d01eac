"""Verifying RFC 6962 inclusion and consistency proofs, exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 say.

Implements the verifier side of protocol §5.2: inclusion proofs ([5.2-b]), consistency proofs ([5.2-d]), and
this protocol's edge rules for old size 0 ([5.2-e]), equal sizes ([5.2-f]) and a shrinking tree ([5.2-g]),
after the 32-byte rule of [5.1-e]. A verifier needs only hashes: no tree and no node store.

Errors: a hash that is not 32 bytes raises `MalformedEncoding` (code malformed_encoding); a proof that does
not verify, a negative or non-integer index or size, or an index outside the tree raises `BadProof` (code
bad_proof).

Deliberately not here: producing proofs (`MerkleTree.inclusion_proof` and `consistency_proof` in
`crypto.merkle`); deciding which size and root hash to trust (they must come from one verified checkpoint,
never from the party that supplied the proof: see protocol §5.2 and `crypto.checkpoint`); I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from crypto.errors import BadProof

# One definition of the input rules (32-byte hashes, [5.1-e]; non-negative integer counts) for the tree and
# its verifiers, so that the two cannot drift apart.
from crypto.merkle import EMPTY_ROOT, _check_count, _check_hash, _check_hashes

__all__ = [
    "consistency_roots",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Return the root hash an inclusion proof implies, following RFC 9162 §2.1.3.2 step by step.

    Raises:
        MalformedEncoding: the leaf hash or a proof node is not 32 bytes (malformed_encoding).
        BadProof: index >= size (so every size-0 proof), or the proof has the wrong length (bad_proof).
    """
    _check_hash(leaf_hash, "leaf hash")
    _check_hashes(proof, "proof node")
    _check_count(index, "leaf index")
    _check_count(size, "tree size")
    # Step 1: an index outside the tree has no proof.
    if index >= size:
        raise BadProof(f"leaf index {index} is not below tree size {size}")
    # Steps 2-3.
    fn, sn, r = index, size - 1, leaf_hash
    # Step 4.
    for p in proof:
        # 4a: a proof longer than the path to the root.
        if sn == 0:
            raise BadProof("inclusion proof is longer than the leaf's path")
        # 4b: p is a left sibling (fn is a right child, or the last node of its level).
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            # 4b-ii: skip the levels where the last node was carried up without a sibling.
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        # 4c: p is a right sibling.
        else:
            r = _sha256(b"\x01" + r + p).digest()
        # 4d.
        fn >>= 1
        sn >>= 1
    # Step 5, first half: the proof reached the root.
    if sn != 0:
        raise BadProof("inclusion proof is shorter than the leaf's path")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Verify that `leaf_hash` is leaf `index` of the tree of `size` leaves with root hash `root`.

    RFC 9162 §2.1.3.2 (protocol §5.2-b). Returns None on success.

    Raises:
        MalformedEncoding: a hash is not 32 bytes (malformed_encoding).
        BadProof: the proof does not verify (bad_proof).
    """
    _check_hash(root, "root hash")
    # Step 5, second half: the computed root equals the expected one.
    if root_from_inclusion_proof(leaf_hash, index, size, proof) != root:
        raise BadProof("inclusion proof does not lead to the expected root hash")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Verify that the tree (new_size, new_root) extends the tree (old_size, old_root).

    0 < old_size < new_size: RFC 9162 §2.1.4.2 step by step (protocol §5.2-d). Edge cases (protocol §5.2-e,
    §5.2-f, §5.2-g): old_size 0 requires an empty proof and old_root == EMPTY_ROOT (and new_root ==
    EMPTY_ROOT when new_size is 0 too); equal sizes require an empty proof and equal roots; old_size >
    new_size is refused.

    Raises:
        MalformedEncoding: a hash is not 32 bytes (malformed_encoding).
        BadProof: the proof does not verify (bad_proof).
    """
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    _check_hashes(proof, "proof node")
    _check_count(old_size, "old tree size")
    _check_count(new_size, "new tree size")
    if old_size > new_size:  # protocol §5.2-g
        raise BadProof(f"old tree size {old_size} is larger than new tree size {new_size}")
    if old_size == 0:  # protocol §5.2-e
        if proof:
            raise BadProof("a consistency proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT or (new_size == 0 and new_root != EMPTY_ROOT):
            raise BadProof("the root hash of the empty tree must be SHA-256 of the empty string")
        return
    if old_size == new_size:  # protocol §5.2-f
        if proof:
            raise BadProof("a consistency proof between equal tree sizes must be empty")
        if old_root != new_root:
            raise BadProof("equal tree sizes with different root hashes")
        return
    # Step 1.
    if not proof:
        raise BadProof("consistency proof is empty")
    # Step 2: a power-of-two old tree is a node of the new one, so the proof omits it.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fr, sr = consistency_roots(old_size, new_size, path)  # steps 3 to 7, the length half
    # Step 7.
    if fr != old_root:
        raise BadProof("consistency proof does not lead to the old root hash")
    if sr != new_root:
        raise BadProof("consistency proof does not lead to the new root hash")


def consistency_roots(old_size: int, new_size: int, path: Sequence[bytes]) -> tuple[bytes, bytes]:
    """Fold a consistency path into (older root, newer root): RFC 9162 §2.1.4.2 steps 3 to 7, up to
    the comparison of the roots, which is the caller's (`verify_consistency`, and the fork evidence of
    `registry.evidence`). The path is the proof with step 2 applied: the old root first when
    `old_size` is a power of two.

    Requires 0 < old_size < new_size and a non-empty path of 32-byte hashes.

    Raises:
        BadProof: the path is longer or shorter than the two sizes need (bad_proof).
    """
    # Step 3.
    fn, sn = old_size - 1, new_size - 1
    # Step 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        # 6a.
        if sn == 0:
            raise BadProof("consistency proof is longer than expected")
        # 6b.
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        # 6c.
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        # 6d.
        fn >>= 1
        sn >>= 1
    # Step 7 (the length half).
    if sn != 0:
        raise BadProof("consistency proof is shorter than expected")
    return fr, sr
