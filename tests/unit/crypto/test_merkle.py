"""Unit tests for crypto.merkle, crypto.proof and crypto.nodestore: the published RFC 6962 vectors, the edge-case
rules, the node store.

The reference values are typed in from the transparency-dev/merkle test vectors (protocol §11.1). Where
the source abbreviates a hash, the test checks the prefix of the value computed from the tree.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from crypto import merkle, nodestore, proof
from crypto.errors import BadProof, CryptoError, MalformedEncoding
from crypto.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    RootAccumulator,
    hash_leaves,
    leaf_hash,
    node_hash,
    perfect_subtrees,
    root_from_leaf_hashes,
    root_from_subtrees,
)
from crypto.nodestore import MemoryNodeStore, NodeKey, NodeRun
from crypto.proof import root_from_inclusion_proof, verify_consistency, verify_inclusion

LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
# Leaf hashes by index, as the source gives them (full or an 8-hex-digit prefix).
LEAF_HASH_REFS = [
    ROOTS[1].hex(),
    "96a296d2",
    "0298d122",
    "07506a85",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26b",
    "b08693ec",
    "46f6ffad",
]
# (level, index) -> hash, full or prefix.
NODE_REFS: dict[NodeKey, str] = {
    (1, 0): "fac54203",
    (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    (2, 0): "d37ee418",
    (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
}
INCLUSION_REFS = [
    (0, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (5, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
    (2, 3, ["fac54203"]),
    (1, 5, ["6e340b9c", "5f083f0a", "bc1a0643"]),
]
CONSISTENCY_REFS = [
    (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
    (2, 5, ["5f083f0a", "bc1a0643"]),
    (6, 7, ["0ebc5d34", "b08693ec", "d37ee418"]),
]
VECTOR_DIR = Path(__file__).resolve().parents[2] / "vectors" / "merkle"


def _tree(count: int = 8) -> MerkleTree:
    tree = MerkleTree(MemoryNodeStore())
    tree.extend(hash_leaves(LEAVES[:count]))
    return tree


def _matches(value: bytes, ref: str) -> bool:
    return value.hex().startswith(ref) and len(ref) in (8, 64)


def _big_tree(count: int) -> tuple[MerkleTree, list[bytes]]:
    hashes = hash_leaves(i.to_bytes(4, "big") for i in range(count))
    tree = MerkleTree(MemoryNodeStore())
    tree.extend(hashes)
    return tree, hashes


class CountingStore(MemoryNodeStore):
    """A MemoryNodeStore that records each call, to check batching and read counts."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []
        self.writes: list[int] = []

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        self.reads.append(len(keys))
        return super().get_nodes(keys)

    def put_nodes(self, runs: Sequence[NodeRun]) -> None:
        self.writes.append(len(runs))
        super().put_nodes(runs)


def test_all_names_are_pinned() -> None:
    assert sorted(merkle.__all__) == sorted(
        [
            "EMPTY_ROOT",
            "HASH_SIZE",
            "Extension",
            "MerkleTree",
            "RootAccumulator",
            "hash_leaves",
            "leaf_hash",
            "node_hash",
            "perfect_subtrees",
            "root_from_leaf_hashes",
            "root_from_subtrees",
        ]
    )
    assert sorted(nodestore.__all__) == ["MemoryNodeStore", "NodeKey", "NodeRun", "NodeStore"]
    assert sorted(proof.__all__) == [
        "consistency_roots", "root_from_inclusion_proof", "verify_consistency", "verify_inclusion"
    ]


# --- §5.1 hashing and roots -------------------------------------------------------------------------


@pytest.mark.spec("5.1-a", "11.1-a")
def test_leaf_hash_matches_single_hash_vector() -> None:
    expected = "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert leaf_hash(b"L123456").hex() == expected
    assert leaf_hash(b"L123456") == hashlib.sha256(b"\x00L123456").digest()


@pytest.mark.spec("5.1-b", "11.1-a")
def test_node_hash_matches_single_hash_vector() -> None:
    expected = "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    assert node_hash(b"N123", b"N456").hex() == expected


@pytest.mark.spec("5.1-c")
def test_empty_tree_root_is_sha256_of_empty_string_not_zero() -> None:
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == ROOTS[0]
    assert EMPTY_ROOT != bytes(32)
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert MerkleTree(MemoryNodeStore()).root() == EMPTY_ROOT
    assert RootAccumulator().root() == EMPTY_ROOT


@pytest.mark.spec("5.1-d", "11.1-a")
@pytest.mark.parametrize("size", range(9))
def test_reference_roots_for_sizes_0_to_8(size: int) -> None:
    hashes = hash_leaves(LEAVES[:size])
    assert root_from_leaf_hashes(hashes) == ROOTS[size]
    assert _tree(size).root() == ROOTS[size]
    assert _tree(8).root(size) == ROOTS[size]
    accumulator = RootAccumulator()
    for h in hashes:
        accumulator.append(h)
    assert accumulator.size == size
    assert accumulator.root() == ROOTS[size]


@pytest.mark.spec("5.1-a", "11.1-a")
def test_reference_leaf_hashes_by_index() -> None:
    hashes = hash_leaves(LEAVES)
    assert all(_matches(h, ref) for h, ref in zip(hashes, LEAF_HASH_REFS, strict=True))
    assert hashes == [leaf_hash(d) for d in LEAVES]


@pytest.mark.spec("5.1-d", "11.1-a")
def test_reference_interior_nodes_in_store() -> None:
    tree = _tree()
    keys = sorted(NODE_REFS)
    for key, value in zip(keys, tree.store.get_nodes(keys), strict=True):
        assert _matches(value, NODE_REFS[key]), key
    assert tree.store.get_nodes([(3, 0)]) == [ROOTS[8]]


@pytest.mark.spec("5.1-d")
def test_last_node_is_never_duplicated() -> None:
    # Size 3 is H(H(l0, l1), l2), not H(H(l0, l1), H(l2, l2)).
    l0, l1, l2 = hash_leaves(LEAVES[:3])
    assert root_from_leaf_hashes([l0, l1, l2]) == node_hash(node_hash(l0, l1), l2)
    assert root_from_leaf_hashes([l0, l1, l2]) != node_hash(node_hash(l0, l1), node_hash(l2, l2))


def test_root_accumulator_extend_matches_append_across_chunks() -> None:
    hashes = hash_leaves(i.to_bytes(3, "big") for i in range(40_000))
    one_by_one, chunked = RootAccumulator(), RootAccumulator()
    for h in hashes[:1000]:
        one_by_one.append(h)
    chunked.extend(hashes[:1000])
    assert one_by_one.root() == chunked.root()
    one_by_one.extend(hashes[1000:])
    chunked.extend(iter(hashes[1000:]))
    assert one_by_one.root() == chunked.root() == MerkleTree(MemoryNodeStore()).extend(hashes).root_hash


def test_perfect_subtrees_decomposes_ranges() -> None:
    assert perfect_subtrees(0, 0) == []
    assert perfect_subtrees(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert perfect_subtrees(4, 8) == [(2, 1)]
    assert perfect_subtrees(6, 13) == [(1, 3), (2, 2), (0, 12)]
    assert root_from_subtrees([]) == EMPTY_ROOT


# --- §5.1-e hash lengths ----------------------------------------------------------------------------


@pytest.mark.spec("5.1-e")
@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33)])
def test_every_entry_point_refuses_hashes_that_are_not_32_bytes(bad: bytes) -> None:
    good = ROOTS[1]
    calls: list[Callable[[], object]] = [
        lambda: verify_inclusion(bad, 0, 1, [], good),
        lambda: verify_inclusion(good, 0, 1, [], bad),
        lambda: verify_inclusion(good, 0, 2, [bad], good),
        lambda: root_from_inclusion_proof(bad, 0, 1, []),
        lambda: verify_consistency(1, 2, bad, good, [good]),
        lambda: verify_consistency(1, 2, good, bad, [good]),
        lambda: verify_consistency(1, 2, good, good, [bad]),
        lambda: verify_consistency(1, 1, bad, bad, []),
        lambda: root_from_leaf_hashes([good, bad]),
        lambda: RootAccumulator().append(bad),
        lambda: MerkleTree(MemoryNodeStore()).append(bad),
    ]
    for call in calls:
        with pytest.raises(MalformedEncoding) as info:
            call()
        assert info.value.code == "malformed_encoding"


@pytest.mark.spec("5.1-e")
def test_failed_extend_leaves_tree_unchanged() -> None:
    tree = _tree(5)
    with pytest.raises(MalformedEncoding):
        tree.extend([ROOTS[1], b"short"])
    assert tree.size == 5
    assert tree.root() == ROOTS[5]
    tree.extend(hash_leaves(LEAVES[5:]))
    assert tree.root() == ROOTS[8]


# --- §5.2 inclusion proofs --------------------------------------------------------------------------


@pytest.mark.spec("5.2-a", "5.2-b", "11.1-a")
@pytest.mark.parametrize(("index", "size", "refs"), INCLUSION_REFS)
def test_reference_inclusion_proofs(index: int, size: int, refs: list[str]) -> None:
    tree = _tree()
    proof = tree.inclusion_proof(index, size)
    assert len(proof) == len(refs)
    assert all(_matches(p, ref) for p, ref in zip(proof, refs, strict=True))
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, ROOTS[size])
    assert root_from_inclusion_proof(leaf_hash(LEAVES[index]), index, size, proof) == ROOTS[size]


@pytest.mark.spec("5.2-b")
def test_inclusion_verifies_last_leaf_of_five_leaf_tree() -> None:
    # The case a published snippet that omits step 4b-ii gets wrong (tlog.md §1.1).
    tree = _tree()
    proof = tree.inclusion_proof(4, 5)
    verify_inclusion(leaf_hash(LEAVES[4]), 4, 5, proof, ROOTS[5])


@pytest.mark.spec("5.2-b")
def test_inclusion_rejects_broken_proofs() -> None:
    tree = _tree()
    leaf = leaf_hash(LEAVES[5])
    proof = tree.inclusion_proof(5, 8)
    broken: list[tuple[bytes, int, int, list[bytes], bytes]] = [
        (leaf, 5, 8, proof, ROOTS[7]),  # wrong root
        (leaf, 4, 8, proof, ROOTS[8]),  # wrong index
        (leaf, 5, 6, proof, ROOTS[8]),  # wrong size (size 7 has the same path shape)
        (leaf, 5, 8, proof[:-1], ROOTS[8]),  # truncated
        (leaf, 5, 8, [*proof, ROOTS[1]], ROOTS[8]),  # extended
        (leaf, 5, 8, [ROOTS[1], *proof], ROOTS[8]),  # preceding garbage
        (leaf_hash(LEAVES[4]), 5, 8, proof, ROOTS[8]),  # wrong leaf
        (leaf, 8, 8, proof, ROOTS[8]),  # index == size
        (leaf, 0, 0, [], EMPTY_ROOT),  # nothing is in the empty tree
        (leaf, -1, 8, proof, ROOTS[8]),  # negative index
    ]
    for args in broken:
        with pytest.raises(BadProof) as info:
            verify_inclusion(*args)
        assert info.value.code == "bad_proof"


@pytest.mark.spec("5.2-h")
def test_inclusion_proof_generation_refuses_out_of_range() -> None:
    tree = _tree(5)
    for index, size in [(5, 5), (0, 0), (0, 6), (-1, 3), (2, -1)]:
        with pytest.raises(BadProof):
            tree.inclusion_proof(index, size)


# --- §5.2 consistency proofs ------------------------------------------------------------------------


@pytest.mark.spec("5.2-c", "5.2-d", "11.1-a")
@pytest.mark.parametrize(("old", "new", "refs"), CONSISTENCY_REFS)
def test_reference_consistency_proofs(old: int, new: int, refs: list[str]) -> None:
    tree = _tree()
    proof = tree.consistency_proof(old, new)
    assert len(proof) == len(refs)
    assert all(_matches(p, ref) for p, ref in zip(proof, refs, strict=True))
    verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.spec("5.2-d")
def test_consistency_rejects_broken_proofs() -> None:
    tree = _tree()
    proof = tree.consistency_proof(6, 8)
    broken: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (6, 8, ROOTS[5], ROOTS[8], proof),  # wrong old root
        (6, 8, ROOTS[6], ROOTS[7], proof),  # wrong new root
        (6, 8, ROOTS[8], ROOTS[6], proof),  # swapped roots
        (5, 8, ROOTS[6], ROOTS[8], proof),  # wrong old size
        (6, 9, ROOTS[6], ROOTS[8], proof),  # wrong new size (7 has the same path shape)
        (6, 8, ROOTS[6], ROOTS[8], proof[:-1]),  # truncated
        (6, 8, ROOTS[6], ROOTS[8], [*proof, ROOTS[1]]),  # extended
        (6, 8, ROOTS[6], ROOTS[8], []),  # empty
        (6, 8, ROOTS[6], ROOTS[8], [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]),  # flipped bit
    ]
    for args in broken:
        with pytest.raises(BadProof) as info:
            verify_consistency(*args)
        assert info.value.code == "bad_proof"


@pytest.mark.spec("5.2-e")
def test_consistency_from_empty_tree_needs_empty_proof_and_empty_root() -> None:
    verify_consistency(0, 8, EMPTY_ROOT, ROOTS[8], [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert _tree().consistency_proof(0, 8) == []
    with pytest.raises(BadProof):
        verify_consistency(0, 8, EMPTY_ROOT, ROOTS[8], [ROOTS[1]])
    with pytest.raises(BadProof):
        verify_consistency(0, 8, bytes(32), ROOTS[8], [])  # x/mod v0.7.0's all-zero empty root
    with pytest.raises(BadProof):
        verify_consistency(0, 0, EMPTY_ROOT, ROOTS[1], [])
    with pytest.raises(BadProof):
        verify_consistency(0, 0, ROOTS[1], ROOTS[1], [])


@pytest.mark.spec("5.2-f")
def test_consistency_between_equal_sizes_needs_empty_proof_and_equal_roots() -> None:
    verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    assert _tree().consistency_proof(5, 5) == []
    with pytest.raises(BadProof):
        verify_consistency(5, 5, ROOTS[5], ROOTS[6], [])
    with pytest.raises(BadProof):
        verify_consistency(5, 5, ROOTS[5], ROOTS[5], [ROOTS[5]])


@pytest.mark.spec("5.2-g")
def test_consistency_refuses_shrinking_tree() -> None:
    with pytest.raises(BadProof):
        verify_consistency(8, 6, ROOTS[8], ROOTS[6], _tree().consistency_proof(6, 8))
    with pytest.raises(BadProof):
        verify_consistency(1, 0, ROOTS[1], EMPTY_ROOT, [])


@pytest.mark.spec("5.2-h")
def test_consistency_proof_generation_refuses_out_of_range() -> None:
    tree = _tree(5)
    for old, new in [(3, 2), (2, 6), (-1, 3), (0, -1)]:
        with pytest.raises(BadProof):
            tree.consistency_proof(old, new)
    for size in (6, -1):
        with pytest.raises(BadProof):
            tree.root(size)


# --- the tree over its node store -------------------------------------------------------------------


def test_extend_writes_every_new_node_once_in_one_call() -> None:
    store = CountingStore()
    tree = MerkleTree(store)
    first = tree.extend(hash_leaves(LEAVES[:3]))
    second = tree.extend(hash_leaves(LEAVES[3:]))
    assert store.writes == [len(first.runs), len(second.runs)]
    assert (first.first_index, first.tree_size, first.root_hash) == (0, 3, ROOTS[3])
    assert (second.first_index, second.tree_size, second.root_hash) == (3, 8, ROOTS[8])
    written = [key for ext in (first, second) for run in ext.runs for key, _ in run.items()]
    # 8 leaves + 4 + 2 + 1 perfect nodes, each exactly once.
    assert sorted(written) == sorted({*written}) and len(written) == 15
    assert store.reads == []  # appending reads nothing: the frontier is in memory


def test_extend_matches_append_and_reopened_tree() -> None:
    hashes = hash_leaves(i.to_bytes(2, "big") for i in range(1000))
    batched, single = MerkleTree(MemoryNodeStore()), MerkleTree(MemoryNodeStore())
    for start in range(0, 1000, 77):
        batched.extend(hashes[start : start + 77])
    for index, h in enumerate(hashes):
        assert single.append(h) == index
    for size in (1, 2, 77, 255, 256, 257, 999, 1000):
        assert batched.root(size) == single.root(size) == root_from_leaf_hashes(hashes[:size])
        reopened = MerkleTree(batched.store, size)
        assert reopened.root() == batched.root(size)
        reopened.extend(hashes[size:])  # rewriting identical nodes is allowed
        assert reopened.root() == batched.root()
    assert batched.inclusion_proof(500, 1000) == single.inclusion_proof(500, 1000)


def test_proof_reads_are_one_batch_of_logarithmic_size() -> None:
    count = 100_003
    hashes = hash_leaves(i.to_bytes(4, "big") for i in range(count))
    store = CountingStore()
    tree = MerkleTree(store)
    tree.extend(hashes)
    bound = 2 * count.bit_length() + 2
    for index in (0, 1, 65_535, 65_536, 99_999, count - 1):
        store.reads.clear()
        proof = tree.inclusion_proof(index, count)
        assert len(store.reads) == 1 and store.reads[0] <= bound
        verify_inclusion(hashes[index], index, count, proof, tree.root())
    for old in (1, 3, 65_536, 70_001, count - 1):
        store.reads.clear()
        proof = tree.consistency_proof(old, count)
        assert len(store.reads) == 1 and store.reads[0] <= bound
        verify_consistency(old, count, tree.root(old), tree.root(), proof)


def test_memory_store_refuses_gaps_conflicts_and_missing_nodes() -> None:
    store = MemoryNodeStore()
    a, b = ROOTS[1], ROOTS[2]
    store.put_nodes([NodeRun(0, 0, (a, b))])
    store.put_nodes([NodeRun(0, 1, (b, a))])  # overlap agrees, then appends
    assert store.get_nodes([(0, 0), (0, 1), (0, 2)]) == [a, b, a]
    with pytest.raises(BadProof):
        store.put_nodes([NodeRun(0, 5, (a,))])
    with pytest.raises(BadProof):
        store.put_nodes([NodeRun(0, 0, (b,))])
    with pytest.raises(BadProof):
        store.put_nodes([NodeRun(-1, 0, (b,))])
    for key in [(0, 3), (0, -1), (-1, 0), (7, 0)]:
        with pytest.raises(BadProof):
            store.get_nodes([key])


def test_opening_tree_larger_than_store_is_refused() -> None:
    with pytest.raises(BadProof):
        MerkleTree(_tree(5).store, 6)
    with pytest.raises(BadProof):
        MerkleTree(MemoryNodeStore(), -1)


def test_errors_are_crypto_errors_never_builtin() -> None:
    tree = _tree(3)
    calls: list[Callable[[], object]] = [
        lambda: tree.inclusion_proof(10**30, 3),
        lambda: tree.root(10**30),
        lambda: verify_inclusion(ROOTS[1], 10**30, 10**31, [ROOTS[1]] * 3, ROOTS[1]),
        lambda: verify_consistency(10**30, 10**31, ROOTS[1], ROOTS[2], [ROOTS[1]] * 3),
    ]
    for call in calls:
        with pytest.raises(CryptoError):
            call()


# --- committed vectors (tests/vectors/merkle) -------------------------------------------------------


def _vector_files() -> list[Path]:
    return sorted(VECTOR_DIR.glob("*.json"))


@pytest.mark.spec("5.2-b", "5.2-d", "5.2-e", "5.2-f", "5.2-g", "11.1-a")
@pytest.mark.parametrize("path", _vector_files(), ids=lambda p: p.stem)
def test_committed_vector(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    inputs = case["inputs"]
    proof = [bytes.fromhex(p) for p in inputs["proof"]]
    def check() -> None:
        if case["kind"] == "inclusion":
            verify_inclusion(
                bytes.fromhex(inputs["leaf_hash"]),
                inputs["index"],
                inputs["size"],
                proof,
                bytes.fromhex(inputs["root"]),
            )
        else:
            verify_consistency(
                inputs["old_size"],
                inputs["new_size"],
                bytes.fromhex(inputs["old_root"]),
                bytes.fromhex(inputs["new_root"]),
                proof,
            )

    if case["expected"] == "ok":
        check()
    else:
        with pytest.raises(CryptoError) as info:
            check()
        assert info.value.code == case["expected"]


def test_committed_vectors_match_their_generator() -> None:
    script = Path(__file__).resolve().parents[3] / "scripts" / "gen_vectors_merkle.py"
    spec = importlib.util.spec_from_file_location("gen_vectors_merkle", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = {name: module.render(case) for name, case in module.generate().items()}
    committed = {p.stem: p.read_text(encoding="utf-8") for p in _vector_files()}
    assert committed == expected
    assert {json.loads(text)["expected"] for text in committed.values()} == {
        "ok",
        "bad_proof",
        "malformed_encoding",
    }


class FaultyStore(MemoryNodeStore):
    """A store that drops or corrupts what it returns, as a broken SQL backend might."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.armed = False

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        nodes = super().get_nodes(keys)
        if not self.armed:
            return nodes
        return nodes[:-1] if self.mode == "short" else [n[:31] for n in nodes]


@pytest.mark.parametrize(("mode", "error"), [("short", BadProof), ("truncated", MalformedEncoding)])
def test_broken_store_answers_raise_typed_errors(mode: str, error: type[CryptoError]) -> None:
    store = FaultyStore(mode)
    tree = MerkleTree(store)
    tree.extend(hash_leaves(LEAVES))
    store.armed = True
    calls: list[Callable[[], object]] = [
        lambda: MerkleTree(store, 7),
        lambda: tree.inclusion_proof(5, 8),
        lambda: tree.consistency_proof(3, 8),
        lambda: tree.root(5),
    ]
    for call in calls:
        with pytest.raises(error):
            call()
