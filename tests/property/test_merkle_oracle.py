"""crypto.merkle and crypto.proof against a literal RFC 6962 §2.1 oracle: roots, inclusion and consistency proofs.

The oracle transcribes MTH, PATH, PROOF and SUBPROOF as the RFC defines them, recursing on the entry list
itself (memoized, which does not change what it computes). Beside it, two recursive reference verifiers
rebuild the root(s) a proof implies by walking the same definitions; the project's verifiers (RFC 9162
§2.1.3.2 and §2.1.4.2, iterative) must agree with them on every mutated proof, not just on valid ones.

Exhaustive: every size up to 300 (all roots, all inclusion and all consistency proofs). Hypothesis: random
larger sizes and random mutations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import cache, lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import BadProof, CryptoError
from crypto.merkle import (
    MerkleTree,
    RootAccumulator,
    hash_leaves,
    root_from_leaf_hashes,
)
from crypto.nodestore import MemoryNodeStore
from crypto.proof import verify_consistency, verify_inclusion

EXHAUSTIVE = 300
LARGE = 5000
ENTRIES: tuple[bytes, ...] = tuple(i.to_bytes(4, "big") * (i % 3) for i in range(LARGE))


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


# --- the oracle: RFC 6962 §2.1, literally ----------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def mth(d: tuple[bytes, ...]) -> bytes:
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = _k(n)
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: tuple[bytes, ...]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def proof(m: int, d: tuple[bytes, ...]) -> list[bytes]:
    return subproof(m, d, True)


def subproof(m: int, d: tuple[bytes, ...], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


# --- reference verifiers: the same recursion, run backwards ----------------------------------------


def oracle_inclusion_root(m: int, n: int, leaf: bytes, p: Sequence[bytes]) -> bytes | None:
    """The root PATH(m, D_n) = p implies for `leaf`, or None when p cannot be such a path."""
    if n == 1:
        return leaf if not p else None
    if not p:
        return None
    k = _k(n)
    if m < k:
        left = oracle_inclusion_root(m, k, leaf, p[:-1])
        return None if left is None else _h(b"\x01" + left + p[-1])
    right = oracle_inclusion_root(m - k, n - k, leaf, p[:-1])
    return None if right is None else _h(b"\x01" + p[-1] + right)


def oracle_consistency_roots(m: int, n: int, b: bool, p: Sequence[bytes], old: bytes) -> tuple[bytes, bytes] | None:
    """(old root, new root) that SUBPROOF(m, D_n, b) = p implies, or None when p cannot be one."""
    if m == n:
        if b:
            return (old, old) if not p else None
        return (p[0], p[0]) if len(p) == 1 else None
    if not p:
        return None
    k = _k(n)
    if m <= k:
        sub = oracle_consistency_roots(m, k, b, p[:-1], old)
        return None if sub is None else (sub[0], _h(b"\x01" + sub[1] + p[-1]))
    sub = oracle_consistency_roots(m - k, n - k, False, p[:-1], old)
    if sub is None:
        return None
    return _h(b"\x01" + p[-1] + sub[0]), _h(b"\x01" + p[-1] + sub[1])


def oracle_accepts_inclusion(leaf: bytes, m: int, n: int, p: Sequence[bytes], root: bytes) -> bool:
    return 0 <= m < n and oracle_inclusion_root(m, n, leaf, p) == root


def oracle_accepts_consistency(m: int, n: int, old: bytes, new: bytes, p: Sequence[bytes]) -> bool:
    if not 0 < m < n:
        return False  # the edge cases have their own unit tests
    return oracle_consistency_roots(m, n, True, p, old) == (old, new)


def _accepts_inclusion(leaf: bytes, m: int, n: int, p: Sequence[bytes], root: bytes) -> bool:
    try:
        verify_inclusion(leaf, m, n, p, root)
    except BadProof:
        return False
    return True


def _accepts_consistency(m: int, n: int, old: bytes, new: bytes, p: Sequence[bytes]) -> bool:
    try:
        verify_consistency(m, n, old, new, p)
    except BadProof:
        return False
    return True


# --- the tree under test --------------------------------------------------------------------------


@cache
def _tree() -> MerkleTree:
    tree = MerkleTree(MemoryNodeStore())
    tree.extend(hash_leaves(ENTRIES))
    return tree


@cache
def _leaf_hashes() -> tuple[bytes, ...]:
    return tuple(hash_leaves(ENTRIES))


def _flip(p: list[bytes], i: int, bit: int) -> list[bytes]:
    q = list(p)
    q[i] = q[i][: bit // 8] + bytes([q[i][bit // 8] ^ (1 << (bit % 8))]) + q[i][bit // 8 + 1 :]
    return q


def _mutations(p: list[bytes]) -> list[list[bytes]]:
    """Proofs that must never verify in place of p: flipped bits, truncated, extended, reordered."""
    out = [_flip(p, i, (7 * i + 3) % 256) for i in range(len(p))]
    if p:
        out += [p[:-1], p[1:], [*p, p[-1]], [p[0], *p]]
        if len(p) > 1 and p[0] != p[1]:
            out.append([p[1], p[0], *p[2:]])
    else:
        out.append([_h(b"extra")])
    return out


# --- exhaustive up to EXHAUSTIVE -------------------------------------------------------------------


@pytest.mark.spec("5.1-d", "5.1-c")
def test_roots_match_oracle_for_every_size_up_to_300() -> None:
    tree = _tree()
    accumulator = RootAccumulator()
    for n in range(EXHAUSTIVE + 1):
        expected = mth(ENTRIES[:n])
        assert tree.root(n) == expected
        assert accumulator.root() == expected
        assert root_from_leaf_hashes(_leaf_hashes()[:n]) == expected
        accumulator.append(_leaf_hashes()[n])
        fresh = MerkleTree(MemoryNodeStore())
        fresh.extend(_leaf_hashes()[:n])
        assert fresh.root() == expected


@pytest.mark.spec("5.2-a", "5.2-b")
def test_inclusion_proofs_match_oracle_for_every_size_up_to_300() -> None:
    tree = _tree()
    leaves = _leaf_hashes()
    for n in range(1, EXHAUSTIVE + 1):
        root = mth(ENTRIES[:n])
        for m in range(n):
            p = tree.inclusion_proof(m, n)
            assert p == path(m, ENTRIES[:n]), (m, n)
            verify_inclusion(leaves[m], m, n, p, root)


@pytest.mark.spec("5.2-c", "5.2-d")
def test_consistency_proofs_match_oracle_for_every_size_up_to_300() -> None:
    tree = _tree()
    for n in range(1, EXHAUSTIVE + 1):
        new = mth(ENTRIES[:n])
        for m in range(1, n + 1):
            p = tree.consistency_proof(m, n)
            assert p == proof(m, ENTRIES[:n]), (m, n)
            verify_consistency(m, n, mth(ENTRIES[:m]), new, p)


@pytest.mark.spec("5.2-b")
def test_mutated_inclusion_proofs_rejected_for_every_size_up_to_64() -> None:
    leaves = _leaf_hashes()
    for n in range(1, 129):
        root = mth(ENTRIES[:n])
        for m in range(n):
            p = path(m, ENTRIES[:n])
            for q in _mutations(p):
                assert not _accepts_inclusion(leaves[m], m, n, q, root), (m, n, q)
            for m2 in {m - 1, m + 1, m ^ 2, n}:
                if 0 <= m2 and m2 != m:
                    assert not _accepts_inclusion(leaves[m], m2, n, p, root), (m, m2, n)
            # A different size is refused exactly when the proof's shape differs: the size itself is
            # bound by the signed checkpoint, not by the proof (RFC 9162 §2.1.3.2 behaves the same way).
            for n2 in {n - 1, n + 1, 2 * n}:
                verdict = _accepts_inclusion(leaves[m], m, n2, p, root)
                assert verdict == oracle_accepts_inclusion(leaves[m], m, n2, p, root), (m, n, n2)


@pytest.mark.spec("5.2-d")
def test_mutated_consistency_proofs_rejected_for_every_size_up_to_64() -> None:
    for n in range(2, 129):
        new = mth(ENTRIES[:n])
        for m in range(1, n):
            old = mth(ENTRIES[:m])
            p = proof(m, ENTRIES[:n])
            for q in _mutations(p):
                assert not _accepts_consistency(m, n, old, new, q), (m, n, q)
                assert not oracle_accepts_consistency(m, n, old, new, q)
            assert not _accepts_consistency(m, n, new, old, p)
            for m2, n2 in {(m - 1, n), (m + 1, n), (m, n + 1), (m, n - 1), (m, 2 * n)}:
                if 0 < m2 < n2:
                    verdict = _accepts_consistency(m2, n2, old, new, p)
                    assert verdict == oracle_accepts_consistency(m2, n2, old, new, p), (m, n, m2, n2)


# --- Hypothesis: larger random sizes ---------------------------------------------------------------


@st.composite
def _index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(EXHAUSTIVE + 1, LARGE))
    return draw(st.integers(0, n - 1)), n


@st.composite
def _sizes(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(EXHAUSTIVE + 1, LARGE))
    return draw(st.integers(1, n)), n


@pytest.mark.spec("5.2-a", "5.2-b")
@settings(max_examples=150)
@given(_index_and_size(), st.integers(0, 1 << 20))
def test_inclusion_matches_oracle_for_random_large_sizes(case: tuple[int, int], noise: int) -> None:
    m, n = case
    leaf = _leaf_hashes()[m]
    root = mth(ENTRIES[:n])
    p = _tree().inclusion_proof(m, n)
    assert p == path(m, ENTRIES[:n])
    verify_inclusion(leaf, m, n, p, root)
    q = _flip(p, noise % len(p), noise % 256)
    assert not _accepts_inclusion(leaf, m, n, q, root)
    wrong_size = n + 1 + noise % n
    assert _accepts_inclusion(leaf, m, wrong_size, p, root) == oracle_accepts_inclusion(leaf, m, wrong_size, p, root)
    wrong_index = (m + 1 + noise) % n
    if wrong_index != m:
        assert not _accepts_inclusion(leaf, wrong_index, n, p, root)


@pytest.mark.spec("5.2-c", "5.2-d")
@settings(max_examples=150)
@given(_sizes(), st.integers(0, 1 << 20))
def test_consistency_matches_oracle_for_random_large_sizes(case: tuple[int, int], noise: int) -> None:
    m, n = case
    old, new = mth(ENTRIES[:m]), mth(ENTRIES[:n])
    p = _tree().consistency_proof(m, n)
    assert p == proof(m, ENTRIES[:n])
    verify_consistency(m, n, old, new, p)
    if p:
        for q in (_flip(p, noise % len(p), noise % 256), p[:-1], [*p, p[0]]):
            assert not _accepts_consistency(m, n, old, new, q)


@settings(max_examples=200)
@given(
    st.integers(-2, 70),
    st.integers(-2, 70),
    st.lists(st.binary(min_size=0, max_size=40), max_size=8),
    st.binary(min_size=0, max_size=40),
    st.binary(min_size=0, max_size=40),
)
def test_verifiers_raise_only_crypto_errors_on_random_input(
    a: int, b: int, p: list[bytes], x: bytes, y: bytes
) -> None:
    calls: list[Callable[[], None]] = [
        lambda: verify_inclusion(x, a, b, p, y),
        lambda: verify_consistency(a, b, x, y, p),
    ]
    for call in calls:
        try:
            call()
        except CryptoError:
            pass
