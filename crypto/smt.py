"""The status tree: a compressed sparse Merkle tree over 256-bit keys (protocol §5.8).

Hashing follows the IETF KEYTRANS prefix tree (draft-ietf-keytrans-protocol):

    leaf   = SHA-256(0x02 || key || SHA-256(value))
    parent = SHA-256(0x03 || left || right)
    empty  = 32 zero bytes (a missing child, and the root of the empty tree)

A subtree holding exactly one leaf *is* that leaf: a leaf sits at the depth of the shortest prefix of
its key that no other key shares, so a tree of n random keys is about log2(n) deep and an update costs
that many hashes. The prefixes 0x02 and 0x03 never collide with RFC 6962's 0x00 and 0x01.

The tree is **persistent**: nodes are immutable tuples and `set` copies only the path it changes
(path copying), returning a new tree and leaving the old one valid. This lets the pure core keep a
tree inside a frozen state value, and lets a sequencer drop a batch that failed to commit by simply
keeping the previous tree. Nodes are a `bytes` value for a leaf (leaf hash || key || value) and a
tuple `(hash, left, right)` for a branch, with None for an empty child: the smallest representation
that keeps the hash of every node.

Proofs list the siblings of the path from the root down to the leaf (or to where the key's path ends
in an empty child or in another key's leaf), and travel in a compact wire form: a terminal byte, the
depth, a bitmap of the non-empty siblings, and only those siblings.

Pure functions and immutable values: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, TypeAlias, Union

from crypto.errors import BadProof, MalformedEncoding, TooLarge

__all__ = [
    "EMPTY_HASH",
    "KEY_SIZE",
    "MAX_DEPTH",
    "MAX_PROOF_SIZE",
    "MAX_VALUE_SIZE",
    "Proof",
    "SparseMerkleTree",
    "Terminal",
    "format_proof",
    "leaf_hash",
    "node_hash",
    "parse_proof",
    "parse_proof_prefix",
    "root_from_proof",
    "value_hash",
    "verify_membership",
    "verify_non_membership",
]

KEY_SIZE: Final = 32
HASH_SIZE: Final = 32
EMPTY_HASH: Final = bytes(32)
"""protocol §5.8-b: the hash of an empty subtree, and the root of the empty tree."""
MAX_DEPTH: Final = 255
"""protocol §5.8-d: the deepest a leaf may sit. Two keys sharing their first 255 bits cannot both enter."""
MAX_VALUE_SIZE: Final = 4096
MAX_PROOF_SIZE: Final = 1 + 2 * HASH_SIZE + 1 + 32 + MAX_DEPTH * HASH_SIZE
"""The longest valid encoded proof: terminal, other leaf, depth, bitmap and 255 siblings."""

_LEAF: Final = b"\x02"
_NODE: Final = b"\x03"
_sha256 = hashlib.sha256

# A node: None (empty), bytes (a leaf: hash[32] || key[32] || value), or (hash, left, right).
_Node: TypeAlias = Union[bytes, "tuple[bytes, _Node, _Node]", None]


def value_hash(value: bytes) -> bytes:
    """SHA-256 of a leaf value."""
    return _sha256(value).digest()


def leaf_hash(key: bytes, value: bytes) -> bytes:
    """The hash of the leaf holding `value` under `key`: SHA-256(0x02 || key || SHA-256(value)) (§5.8-a).

    Raises:
        MalformedEncoding (`malformed_encoding`): the key is not 32 bytes.
    """
    _check_key(key)
    return _sha256(_LEAF + key + _sha256(value).digest()).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of a branch: SHA-256(0x03 || left || right) (§5.8-a); an empty child is 32 zero bytes."""
    return _sha256(_NODE + left + right).digest()


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise MalformedEncoding(f"a status tree key is {KEY_SIZE} bytes")


def _check_value(value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) > MAX_VALUE_SIZE:
        raise TooLarge(f"a status tree value is at most {MAX_VALUE_SIZE} bytes")


def _hash_of(node: _Node) -> bytes:
    if node is None:
        return EMPTY_HASH
    if isinstance(node, bytes):
        return node[:32]
    return node[0]


def _bit(k: int, depth: int) -> int:
    """Bit `depth` of a key read as a big-endian 256-bit integer, most significant bit first."""
    return (k >> (255 - depth)) & 1


def _make_leaf(key: bytes, value: bytes) -> bytes:
    return _sha256(_LEAF + key + _sha256(value).digest()).digest() + key + value


def _common_prefix(a: int, b: int) -> int:
    """The number of leading bits two different keys share."""
    return 256 - (a ^ b).bit_length()


class Terminal(IntEnum):
    """Where a proof's path ends (protocol §5.8-e)."""

    LEAF = 0
    """At the leaf of the proved key: a membership proof."""
    EMPTY = 1
    """At an empty child: the key is absent."""
    OTHER_LEAF = 2
    """At the leaf of another key that shares the path: the key is absent."""


@dataclass(frozen=True, slots=True)
class Proof:
    """A path from the root to depth `len(siblings)`.

    `siblings[i]` is the hash of the sibling of the path's node at depth i + 1 (EMPTY_HASH when that
    subtree is empty), root side first. For `Terminal.OTHER_LEAF`, `other_key` and `other_value_hash`
    name the leaf found at the end of the path.
    """

    terminal: Terminal
    siblings: tuple[bytes, ...]
    other_key: bytes | None = None
    other_value_hash: bytes | None = None

    @property
    def depth(self) -> int:
        return len(self.siblings)


class SparseMerkleTree:
    """A persistent compressed sparse Merkle tree (protocol §5.8). Immutable: updates return a new tree.

    Keys are 32 bytes, values at most MAX_VALUE_SIZE bytes. Owner: nobody needs one; every value may be
    shared freely between threads and states.
    """

    __slots__ = ("_root", "_size")

    def __init__(self, _root: _Node = None, _size: int = 0) -> None:
        self._root: _Node = _root
        self._size = _size

    @classmethod
    def from_items(cls, items: Iterable[tuple[bytes, bytes]]) -> SparseMerkleTree:
        """Build a tree from (key, value) pairs in one pass over the sorted keys (a later duplicate wins).

        Raises:
            MalformedEncoding (`malformed_encoding`): a key is not 32 bytes.
            TooLarge (`too_large`): a value is too long, or two keys share their first 255 bits.
        """
        merged: dict[bytes, bytes] = {}
        for key, value in items:
            _check_key(key)
            _check_value(value)
            merged[key] = value
        keys = sorted(merged)
        ints = [int.from_bytes(k, "big") for k in keys]
        leaves = [_make_leaf(k, merged[k]) for k in keys]
        root = _build(ints, leaves, 0, len(keys), 0) if keys else None
        return cls(root, len(keys))

    @property
    def root(self) -> bytes:
        """The root hash (EMPTY_HASH for the empty tree)."""
        return _hash_of(self._root)

    def __len__(self) -> int:
        return self._size

    def get(self, key: bytes) -> bytes | None:
        """The value stored under `key`, or None."""
        _check_key(key)
        k = int.from_bytes(key, "big")
        node = self._root
        depth = 0
        while node is not None:
            if isinstance(node, bytes):
                return node[64:] if node[32:64] == key else None
            node = node[2] if _bit(k, depth) else node[1]
            depth += 1
        return None

    def set(self, key: bytes, value: bytes) -> SparseMerkleTree:
        """A new tree with `value` under `key` (O(depth) hashes; this tree is unchanged).

        Raises:
            MalformedEncoding (`malformed_encoding`): the key is not 32 bytes.
            TooLarge (`too_large`): the value is too long, or the key shares its first 255 bits with another.
        """
        _check_key(key)
        _check_value(value)
        k = int.from_bytes(key, "big")
        path: list[tuple[bytes, _Node, _Node]] = []
        node = self._root
        shift = 255
        # The hot loop of every update: bits are read inline, without a call per level.
        while node is not None and not isinstance(node, bytes):
            path.append(node)
            node = node[2] if (k >> shift) & 1 else node[1]
            shift -= 1
        leaf = _make_leaf(key, value)
        new: _Node = leaf
        size = self._size + 1
        if node is not None:
            other_key = node[32:64]
            if other_key == key:
                size -= 1
            else:
                new = _split(node, leaf, int.from_bytes(other_key, "big"), k, len(path))
        return SparseMerkleTree(_rebuild(path, new, k), size)

    def delete(self, key: bytes) -> SparseMerkleTree:
        """A new tree without `key` (the same tree if it is absent); a lone remaining leaf moves up."""
        _check_key(key)
        k = int.from_bytes(key, "big")
        path: list[tuple[bytes, _Node, _Node]] = []
        node = self._root
        depth = 0
        while node is not None and not isinstance(node, bytes):
            path.append(node)
            node = node[2] if _bit(k, depth) else node[1]
            depth += 1
        if node is None or node[32:64] != key:
            return self
        new: _Node = None
        # Collapse: a branch left with at most one leaf below it is replaced by that leaf (or by
        # nothing), up to the first branch that still holds two leaves.
        while path:
            parent = path[-1]
            sibling = parent[1] if _bit(k, len(path) - 1) else parent[2]
            if new is None and (sibling is None or isinstance(sibling, bytes)):
                new = sibling
            elif sibling is None and isinstance(new, bytes):
                pass
            else:
                break
            path.pop()
        return SparseMerkleTree(_rebuild(path, new, k), self._size - 1)

    def prove(self, key: bytes) -> Proof:
        """A membership proof when `key` is present, else a non-membership proof (protocol §5.8-e)."""
        _check_key(key)
        k = int.from_bytes(key, "big")
        siblings: list[bytes] = []
        node = self._root
        depth = 0
        while node is not None and not isinstance(node, bytes):
            bit = _bit(k, depth)
            if bit:
                siblings.append(_hash_of(node[1]))
                node = node[2]
            else:
                siblings.append(_hash_of(node[2]))
                node = node[1]
            depth += 1
        if node is None:
            return Proof(Terminal.EMPTY, tuple(siblings))
        leaf: bytes = node
        if leaf[32:64] == key:
            return Proof(Terminal.LEAF, tuple(siblings))
        return Proof(Terminal.OTHER_LEAF, tuple(siblings), leaf[32:64], _sha256(leaf[64:]).digest())

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) in ascending key order."""
        stack: list[_Node] = [self._root]
        while stack:
            node = stack.pop()
            if node is None:
                continue
            if isinstance(node, bytes):
                yield node[32:64], node[64:]
            else:
                stack.append(node[2])
                stack.append(node[1])


def _build(ints: list[int], leaves: list[bytes], lo: int, hi: int, depth: int) -> _Node:
    """The subtree of the sorted keys [lo, hi) below a prefix of `depth` bits (hi - lo >= 1)."""
    if hi - lo == 1:
        return leaves[lo]
    if depth > MAX_DEPTH - 1:
        raise TooLarge("two keys share their first 255 bits")
    # Keys in [lo, hi) share their first `depth` bits and are sorted, so bit `depth` splits them in two
    # runs: the first key with that bit set is the first at or above the shared prefix followed by a 1.
    shift = 256 - depth
    split = bisect_left(ints, ((ints[lo] >> shift) << shift) | (1 << (shift - 1)), lo, hi)
    if split in (lo, hi):  # all on one side: a branch with an empty child
        child = _build(ints, leaves, lo, hi, depth + 1)
        if split == hi:
            return (_sha256(_NODE + _hash_of(child) + EMPTY_HASH).digest(), child, None)
        return (_sha256(_NODE + EMPTY_HASH + _hash_of(child)).digest(), None, child)
    left = _build(ints, leaves, lo, split, depth + 1)
    right = _build(ints, leaves, split, hi, depth + 1)
    return (_sha256(_NODE + _hash_of(left) + _hash_of(right)).digest(), left, right)


def _split(old: bytes, new: bytes, old_k: int, new_k: int, depth: int) -> _Node:
    """The subtree at `depth` holding two leaves whose keys agree on their first `depth` bits."""
    shared = _common_prefix(old_k, new_k)
    if shared >= MAX_DEPTH:
        raise TooLarge("two keys share their first 255 bits")
    # The branch where they part, then single-child branches up to `depth`.
    if _bit(new_k, shared):
        node: _Node = (_sha256(_NODE + old[:32] + new[:32]).digest(), old, new)
    else:
        node = (_sha256(_NODE + new[:32] + old[:32]).digest(), new, old)
    for d in range(shared - 1, depth - 1, -1):
        h = _hash_of(node)
        if _bit(new_k, d):
            node = (_sha256(_NODE + EMPTY_HASH + h).digest(), None, node)
        else:
            node = (_sha256(_NODE + h + EMPTY_HASH).digest(), node, None)
    return node


def _rebuild(path: Sequence[tuple[bytes, _Node, _Node]], node: _Node, k: int) -> _Node:
    """Copy the branches of `path` (root first) bottom-up with `node` in place of the path's end."""
    h = _hash_of(node)
    depth = len(path)
    sha, prefix, empty = _sha256, _NODE, EMPTY_HASH
    while depth:
        depth -= 1
        parent = path[depth]
        if (k >> (255 - depth)) & 1:
            left = parent[1]
            lh = empty if left is None else (left[:32] if isinstance(left, bytes) else left[0])
            h = sha(prefix + lh + h).digest()
            node = (h, left, node)
        else:
            right = parent[2]
            rh = empty if right is None else (right[:32] if isinstance(right, bytes) else right[0])
            h = sha(prefix + h + rh).digest()
            node = (h, node, right)
    return node


# --- proofs ----------------------------------------------------------------------------------------


def format_proof(proof: Proof) -> bytes:
    """Encode a proof (protocol §5.8-f): terminal u8, [other key, other value hash], depth u8,
    bitmap of ceil(depth/8) bytes (bit i, most significant first, set when sibling i is not empty),
    then the non-empty siblings, root side first.

    Raises:
        MalformedEncoding (`malformed_encoding`): the proof is deeper than MAX_DEPTH or a hash is not 32 bytes.
    """
    depth = len(proof.siblings)
    if depth > MAX_DEPTH:
        raise MalformedEncoding(f"a status tree proof is at most {MAX_DEPTH} deep")
    out = bytearray([int(proof.terminal)])
    if proof.terminal is Terminal.OTHER_LEAF:
        if proof.other_key is None or proof.other_value_hash is None:
            raise MalformedEncoding("a proof ending at another leaf names that leaf")
        _check_key(proof.other_key)
        if len(proof.other_value_hash) != HASH_SIZE:
            raise MalformedEncoding("a value hash is 32 bytes")
        out += proof.other_key + proof.other_value_hash
    out.append(depth)
    bitmap = bytearray((depth + 7) // 8)
    present: list[bytes] = []
    for i, sibling in enumerate(proof.siblings):
        if len(sibling) != HASH_SIZE:
            raise MalformedEncoding("a proof sibling is 32 bytes")
        if sibling != EMPTY_HASH:
            bitmap[i // 8] |= 0x80 >> (i % 8)
            present.append(sibling)
    return bytes(out) + bytes(bitmap) + b"".join(present)


def parse_proof(data: bytes) -> Proof:
    """Decode a proof strictly; `format_proof` of the result gives back `data` exactly (protocol §5.8-f).

    Raises:
        TooLarge (`too_large`): longer than MAX_PROOF_SIZE.
        MalformedEncoding (`malformed_encoding`): an unknown terminal, a truncated or overlong encoding,
            a set bit past the depth, or a sibling given explicitly as 32 zero bytes.
    """
    if len(data) > MAX_PROOF_SIZE:
        raise TooLarge(f"a status tree proof is at most {MAX_PROOF_SIZE} bytes")
    proof, used = parse_proof_prefix(data)
    if used != len(data):
        raise MalformedEncoding("trailing bytes after a status tree proof")
    return proof


def parse_proof_prefix(data: bytes) -> tuple[Proof, int]:
    """Decode a proof at the start of `data`; return it and the number of bytes it used.

    Raises:
        MalformedEncoding (`malformed_encoding`): as `parse_proof`.
    """
    if not isinstance(data, bytes | bytearray):
        raise MalformedEncoding("a status tree proof is bytes")
    data = bytes(data[:MAX_PROOF_SIZE + 1])
    if not data:
        raise MalformedEncoding("a status tree proof is empty")
    try:
        terminal = Terminal(data[0])
    except ValueError:
        raise MalformedEncoding(f"unknown status tree proof terminal {data[0]}") from None
    pos = 1
    other_key = other_hash = None
    if terminal is Terminal.OTHER_LEAF:
        if len(data) < pos + 64:
            raise MalformedEncoding("a status tree proof is truncated")
        other_key, other_hash = data[pos : pos + 32], data[pos + 32 : pos + 64]
        pos += 64
    if len(data) < pos + 1:
        raise MalformedEncoding("a status tree proof is truncated")
    depth = data[pos]
    pos += 1
    nbytes = (depth + 7) // 8
    if len(data) < pos + nbytes:
        raise MalformedEncoding("a status tree proof is truncated")
    bitmap = int.from_bytes(data[pos : pos + nbytes], "big")
    pos += nbytes
    if bitmap & ((1 << (nbytes * 8 - depth)) - 1):
        raise MalformedEncoding("a status tree proof sets a bit past its depth")
    siblings: list[bytes] = []
    for i in range(depth):
        if (bitmap >> (nbytes * 8 - 1 - i)) & 1:
            sibling = data[pos : pos + 32]
            if len(sibling) != 32:
                raise MalformedEncoding("a status tree proof is truncated")
            if sibling == EMPTY_HASH:
                raise MalformedEncoding("an empty sibling must be left out of the proof, not written as zeros")
            siblings.append(sibling)
            pos += 32
        else:
            siblings.append(EMPTY_HASH)
    return Proof(terminal, tuple(siblings), other_key, other_hash), pos


def root_from_proof(key: bytes, value: bytes | None, proof: Proof) -> bytes:
    """The root hash a proof implies for `key` (holding `value`, or absent when `value` is None).

    Checks, in order (protocol §5.8-g): the terminal matches the claim (a value needs `LEAF`; an
    absence needs `EMPTY` or `OTHER_LEAF` with another key that shares the path's prefix); the path is
    canonical (the deepest sibling of a non-empty terminal path is not empty, else the leaf would sit
    higher); then the hashes are folded from the terminal up to the root.

    Raises:
        MalformedEncoding (`malformed_encoding`): the key or a hash is not 32 bytes.
        BadProof (`bad_proof`): the proof cannot prove this claim.
    """
    _check_key(key)
    depth = len(proof.siblings)
    if depth > MAX_DEPTH:
        raise BadProof(f"a status tree proof is at most {MAX_DEPTH} deep")
    for sibling in proof.siblings:
        if len(sibling) != HASH_SIZE:
            raise MalformedEncoding("a proof sibling is 32 bytes")
    k = int.from_bytes(key, "big")
    if value is not None:
        if proof.terminal is not Terminal.LEAF:
            raise BadProof("the proof shows the key absent, not present")
        h = _sha256(_LEAF + key + _sha256(value).digest()).digest()
    elif proof.terminal is Terminal.LEAF:
        raise BadProof("the proof shows the key present, not absent")
    elif proof.terminal is Terminal.EMPTY:
        h = EMPTY_HASH
    else:
        other, other_hash = proof.other_key, proof.other_value_hash
        if other is None or other_hash is None or len(other) != KEY_SIZE or len(other_hash) != HASH_SIZE:
            raise MalformedEncoding("a proof ending at another leaf names that leaf's key and value hash")
        if other == key:
            raise BadProof("the proof's other leaf holds the proved key")
        if _common_prefix(int.from_bytes(other, "big"), k) < depth:
            raise BadProof("the proof's other leaf does not lie on the key's path")
        h = _sha256(_LEAF + other + other_hash).digest()
    # A leaf (or an empty child) below a branch: that branch holds at least two leaves, so the
    # sibling at the deepest level is not empty. Otherwise the same leaf would have a second, deeper
    # position and the proof a second encoding.
    if depth and proof.siblings[-1] == EMPTY_HASH:
        raise BadProof("the proof's deepest sibling is empty: the leaf would sit higher")
    for d in range(depth - 1, -1, -1):
        s = proof.siblings[d]
        h = _sha256(_NODE + s + h).digest() if _bit(k, d) else _sha256(_NODE + h + s).digest()
    return h


def verify_membership(root: bytes, key: bytes, value: bytes, proof: Proof) -> None:
    """Verify that the tree with root hash `root` holds `value` under `key` (protocol §5.8-g).

    Raises:
        MalformedEncoding (`malformed_encoding`): a key or hash of the wrong length.
        BadProof (`bad_proof`): the proof does not lead to `root`, or proves something else.
    """
    if len(root) != HASH_SIZE:
        raise MalformedEncoding("a status tree root is 32 bytes")
    if root_from_proof(key, value, proof) != root:
        raise BadProof("the status tree proof does not lead to the expected root")


def verify_non_membership(root: bytes, key: bytes, proof: Proof) -> None:
    """Verify that the tree with root hash `root` holds nothing under `key` (protocol §5.8-g).

    Raises:
        MalformedEncoding (`malformed_encoding`), BadProof (`bad_proof`): as `verify_membership`.
    """
    if len(root) != HASH_SIZE:
        raise MalformedEncoding("a status tree root is 32 bytes")
    if root_from_proof(key, None, proof) != root:
        raise BadProof("the status tree proof does not lead to the expected root")
