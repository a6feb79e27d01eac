"""Hypothesis: the status tree against the literal definition, through any sequence of updates; proofs
round-trip and verify (protocol §5.8)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import smt
from tests.unit.crypto.test_smt import oracle_root

# Keys drawn from a small pool with shared prefixes, so that deep splits and collapses happen often. The
# last bit is always 0: two keys that differ only there share 255 bits, which the tree refuses (protocol
# [5.8-d], tests/unit/crypto/test_smt.py), and these tests are about trees that exist.
_prefixes = st.sampled_from([bytes(30), b"\xff" * 30, bytes(29) + b"\x80"])
_keys = st.builds(lambda p, tail: p + bytes([tail[0], tail[1] & 0xFE]), _prefixes, st.binary(min_size=2, max_size=2))
_ops = st.lists(st.tuples(st.booleans(), _keys, st.binary(max_size=8)), max_size=40)


@pytest.mark.spec("5.8-a", "5.8-b", "5.8-g")
@settings(max_examples=150)
@given(_ops)
def test_any_update_sequence_matches_the_definition_and_proves_every_key(ops: list[tuple[bool, bytes, bytes]]) -> None:
    tree = smt.SparseMerkleTree()
    model: dict[bytes, bytes] = {}
    for insert, k, v in ops:
        if insert:
            model[k] = v
            tree = tree.set(k, v)
        else:
            model.pop(k, None)
            tree = tree.delete(k)
    assert tree.root == oracle_root(sorted(model.items()))
    assert tree.root == smt.SparseMerkleTree.from_items(model.items()).root
    for k, v in model.items():
        proof = smt.parse_proof(smt.format_proof(tree.prove(k)))
        smt.verify_membership(tree.root, k, v, proof)


@pytest.mark.spec("5.8-f", "5.8-g")
@settings(max_examples=100)
@given(st.dictionaries(_keys, st.binary(max_size=4), max_size=30), _keys)
def test_absent_keys_have_verifying_non_membership_proofs(items: dict[bytes, bytes], probe: bytes) -> None:
    tree = smt.SparseMerkleTree.from_items(items.items())
    proof = tree.prove(probe)
    encoded = smt.format_proof(proof)
    assert smt.format_proof(smt.parse_proof(encoded)) == encoded
    if probe in items:
        smt.verify_membership(tree.root, probe, items[probe], proof)
    else:
        smt.verify_non_membership(tree.root, probe, proof)
