"""The status tree (crypto.smt) against a literal definition, its proofs, strict parsing, and the vectors
of protocol §11.3."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from crypto import smt
from crypto.errors import BadProof, MalformedEncoding, TooLarge

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "credential"


def _bit(key: bytes, depth: int) -> int:
    return (key[depth // 8] >> (7 - depth % 8)) & 1


def oracle_root(items: list[tuple[bytes, bytes]], depth: int = 0) -> bytes:
    """The definition of §5.8-a/b, literally: empty -> zeros, one leaf -> its hash, else split by bit."""
    if not items:
        return bytes(32)
    if len(items) == 1:
        k, v = items[0]
        return hashlib.sha256(b"\x02" + k + hashlib.sha256(v).digest()).digest()
    left = [(k, v) for k, v in items if not _bit(k, depth)]
    right = [(k, v) for k, v in items if _bit(k, depth)]
    return hashlib.sha256(b"\x03" + oracle_root(left, depth + 1) + oracle_root(right, depth + 1)).digest()


def _keys(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(32) for _ in range(n)]


def _vectors(kind: str) -> list[Any]:
    return [
        pytest.param(json.loads(p.read_text(encoding="utf-8")), id=p.stem)
        for p in sorted(VECTORS.glob("*.json"))
        if json.loads(p.read_text(encoding="utf-8"))["kind"] == kind
    ]


@pytest.mark.spec("5.8-a", "5.8-b")
def test_empty_tree_root_is_zeros_and_one_leaf_root_is_its_hash() -> None:
    tree = smt.SparseMerkleTree()
    assert tree.root == smt.EMPTY_HASH == bytes(32)
    k = hashlib.sha256(b"k").digest()
    one = tree.set(k, b"v")
    assert one.root == smt.leaf_hash(k, b"v") == hashlib.sha256(b"\x02" + k + hashlib.sha256(b"v").digest()).digest()
    assert tree.root == bytes(32)  # persistent: the old tree is unchanged


@pytest.mark.spec("5.8-a", "5.8-b")
def test_roots_match_the_literal_definition_through_inserts_updates_and_deletes() -> None:
    rng = random.Random(7)
    tree = smt.SparseMerkleTree()
    model: dict[bytes, bytes] = {}
    for step in range(400):
        action = rng.random()
        if action < 0.6 or not model:
            k = rng.randbytes(32)
            model[k] = rng.randbytes(rng.randrange(0, 40))
            tree = tree.set(k, model[k])
        elif action < 0.8:
            k = rng.choice(sorted(model))
            model[k] = b"updated %d" % step
            tree = tree.set(k, model[k])
        else:
            k = rng.choice(sorted(model))
            del model[k]
            tree = tree.delete(k)
        assert tree.root == oracle_root(sorted(model.items())), step
        assert len(tree) == len(model)
    assert list(tree.items()) == sorted(model.items())
    assert smt.SparseMerkleTree.from_items(model.items()).root == tree.root


@pytest.mark.spec("5.8-b")
def test_keys_sharing_a_long_prefix_sit_where_they_part() -> None:
    a = bytes(31) + b"\x00"
    c = bytes(30) + b"\x01\x00"  # shares 247 bits with a
    tree = smt.SparseMerkleTree().set(a, b"a").set(c, b"c")
    assert tree.prove(a).depth == 248
    assert tree.root == oracle_root(sorted([(a, b"a"), (c, b"c")]))
    assert tree.delete(c).root == smt.leaf_hash(a, b"a")  # the lone leaf moves back up


@pytest.mark.spec("5.8-d")
def test_two_keys_sharing_255_bits_are_refused() -> None:
    a, b = bytes(32), bytes(31) + b"\x01"
    with pytest.raises(TooLarge):
        smt.SparseMerkleTree().set(a, b"a").set(b, b"b")
    with pytest.raises(TooLarge):
        smt.SparseMerkleTree.from_items([(a, b"a"), (b, b"b")])


def test_bad_keys_and_values_raise_typed_errors() -> None:
    tree = smt.SparseMerkleTree()
    with pytest.raises(MalformedEncoding):
        tree.set(b"short", b"v")
    with pytest.raises(TooLarge):
        tree.set(bytes(32), bytes(smt.MAX_VALUE_SIZE + 1))
    with pytest.raises(MalformedEncoding):
        tree.get(bytes(31))


@pytest.mark.spec("5.8-e", "5.8-g")
def test_membership_and_non_membership_proofs_verify_and_refuse_the_opposite_claim() -> None:
    keys = _keys(300)
    tree = smt.SparseMerkleTree.from_items((k, k[:5]) for k in keys)
    for k in keys[:50]:
        proof = tree.prove(k)
        assert proof.terminal is smt.Terminal.LEAF
        smt.verify_membership(tree.root, k, k[:5], proof)
        with pytest.raises(BadProof):
            smt.verify_membership(tree.root, k, b"other", proof)
        with pytest.raises(BadProof):
            smt.verify_non_membership(tree.root, k, proof)
    terminals = set()
    for k in _keys(200, seed=2):
        proof = tree.prove(k)
        terminals.add(proof.terminal)
        smt.verify_non_membership(tree.root, k, proof)
        with pytest.raises(BadProof):
            smt.verify_membership(tree.root, k, b"", proof)
    assert terminals == {smt.Terminal.EMPTY, smt.Terminal.OTHER_LEAF}


@pytest.mark.spec("5.8-g")
def test_a_proof_verifies_only_against_its_own_root() -> None:
    keys = _keys(100)
    tree = smt.SparseMerkleTree.from_items((k, b"v") for k in keys)
    later = tree.set(keys[0], b"w")
    proof = tree.prove(keys[1])
    smt.verify_membership(tree.root, keys[1], b"v", proof)
    with pytest.raises(BadProof):
        smt.verify_membership(later.root, keys[1], b"v", proof)


@pytest.mark.spec("5.8-g")
def test_a_deeper_proof_with_an_empty_deepest_sibling_is_refused() -> None:
    keys = _keys(20)
    tree = smt.SparseMerkleTree.from_items((k, b"v") for k in keys)
    proof = tree.prove(keys[0])
    deeper = smt.Proof(smt.Terminal.LEAF, (*proof.siblings, smt.EMPTY_HASH))
    with pytest.raises(BadProof):
        smt.verify_membership(tree.root, keys[0], b"v", deeper)


@pytest.mark.spec("5.8-g")
def test_an_other_leaf_off_the_path_or_equal_to_the_key_is_refused() -> None:
    keys = _keys(50)
    tree = smt.SparseMerkleTree.from_items((k, b"v") for k in keys)
    absent = next(k for k in _keys(100, seed=3) if tree.prove(k).terminal is smt.Terminal.OTHER_LEAF)
    proof = tree.prove(absent)
    assert proof.other_key is not None
    with pytest.raises(BadProof):  # claims the absent key's own leaf is "another" leaf
        smt.verify_non_membership(tree.root, proof.other_key, proof)
    flipped = bytes(b ^ 0xFF for b in proof.other_key)
    off_path = smt.Proof(proof.terminal, proof.siblings, flipped, proof.other_value_hash)
    with pytest.raises(BadProof):
        smt.verify_non_membership(tree.root, absent, off_path)


@pytest.mark.spec("5.8-f")
def test_proofs_round_trip_and_parse_strictly() -> None:
    keys = _keys(500)
    tree = smt.SparseMerkleTree.from_items((k, b"v") for k in keys)
    for k in keys[:30] + _keys(30, seed=5):
        encoded = smt.format_proof(tree.prove(k))
        assert smt.format_proof(smt.parse_proof(encoded)) == encoded
        for cut in (1, len(encoded) // 2, len(encoded) - 1):
            with pytest.raises(MalformedEncoding):
                smt.parse_proof(encoded[:cut])
        with pytest.raises(MalformedEncoding):
            smt.parse_proof(encoded + b"\x00")
    with pytest.raises(MalformedEncoding):
        smt.parse_proof(b"")
    with pytest.raises(MalformedEncoding):
        smt.parse_proof(b"\x07\x00")
    with pytest.raises(TooLarge):
        smt.parse_proof(bytes(smt.MAX_PROOF_SIZE + 1))
    # depth 1 with the bit past the depth set
    with pytest.raises(MalformedEncoding):
        smt.parse_proof(b"\x00\x01\x40")
    # a non-empty sibling written as zeros
    with pytest.raises(MalformedEncoding):
        smt.parse_proof(b"\x00\x01\x80" + bytes(32))


@pytest.mark.spec("5.8-f")
def test_empty_siblings_cost_one_bit() -> None:
    a = bytes(32)
    c = bytes(30) + b"\x01\x00"
    tree = smt.SparseMerkleTree().set(a, b"a").set(c, b"c")
    encoded = smt.format_proof(tree.prove(a))
    assert len(encoded) == 1 + 1 + 31 + 32  # terminal, depth 248, 31 bitmap bytes, one sibling


@pytest.mark.spec("11.3-a", "5.8-a", "5.8-b", "5.8-e", "5.8-f")
@pytest.mark.parametrize("case", _vectors("smt"))
def test_status_tree_vectors(case: dict[str, Any]) -> None:
    items = [(bytes.fromhex(k), bytes.fromhex(v)) for k, v in case["inputs"]["items"]]
    tree = smt.SparseMerkleTree.from_items(items)
    assert tree.root.hex() == case["expected"]["root"]
    incremental = smt.SparseMerkleTree()
    for k, v in items:
        incremental = incremental.set(k, v)
    assert incremental.root == tree.root
    for p in case["expected"]["proofs"]:
        k = bytes.fromhex(p["key"])
        assert smt.format_proof(tree.prove(k)).hex() == p["proof_hex"]
        proof = smt.parse_proof(bytes.fromhex(p["proof_hex"]))
        if p["value"] is None:
            smt.verify_non_membership(tree.root, k, proof)
        else:
            smt.verify_membership(tree.root, k, bytes.fromhex(p["value"]), proof)


@pytest.mark.spec("11.3-a", "5.8-f", "5.8-g")
@pytest.mark.parametrize("case", _vectors("smt-proof"))
def test_status_tree_proof_vectors(case: dict[str, Any]) -> None:
    inputs = case["inputs"]
    root, k = bytes.fromhex(inputs["root"]), bytes.fromhex(inputs["key"])
    value = None if inputs["value"] is None else bytes.fromhex(inputs["value"])

    def run() -> None:
        proof = smt.parse_proof(bytes.fromhex(inputs["proof_hex"]))
        if value is None:
            smt.verify_non_membership(root, k, proof)
        else:
            smt.verify_membership(root, k, value, proof)

    if "expected_error" in case:
        with pytest.raises((BadProof, MalformedEncoding)) as info:
            run()
        assert info.value.code == case["expected_error"]
    else:
        run()
