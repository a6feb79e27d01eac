"""The RFC 6962 / RFC 9162 §2.1 Merkle tree: hashing, tree heads, and an append-only tree that makes proofs.

Implements protocol §5.1 (Merkle tree: leaf and node hashing, the tree head of a sequence) and the log's side
of §5.2 (inclusion and consistency proofs as RFC 6962 §2.1.1 and §2.1.2 define them, and the refusal of
proofs and roots that do not exist, [5.2-h]).

Node hashes live behind `NodeStore` (`crypto.nodestore`), keyed by *perfect* subtree: node (level l, index n)
is the MTH of the leaves [n*2^l, (n+1)*2^l). Any RFC 6962 range a proof needs decomposes into at most
O(log n) such nodes, so one proof costs one batched read of O(log n) keys whatever the tree size.

Errors: a hash that is not 32 bytes raises `MalformedEncoding` (code malformed_encoding); a request for a
proof, root or node outside the tree (index >= size, size > tree size, old size > new size, negative
numbers), or a node store that lacks a node, raises `BadProof` (code bad_proof).

Deliberately not here: verifying proofs (`crypto.proof`, which needs no tree), keeping nodes
(`crypto.nodestore`; a SQL store lives in `registry/`), I/O, tiles (`crypto.tiles`), checkpoints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Final

from crypto.errors import BadProof, MalformedEncoding
from crypto.nodestore import NodeKey, NodeRun, NodeStore

__all__ = [
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

HASH_SIZE: Final = 32
# protocol §5.1-c: the empty tree is SHA-256 of the empty string (never the all-zero hash of old x/mod).
EMPTY_ROOT: Final[bytes] = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256
# Leaves are hashed in chunks of this many by the streaming accumulator: memory stays O(chunk + log n)
# while each chunk is hashed level by level, which is several times faster than one Python step per leaf.
_CHUNK: Final = 1 << 14


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || data) (protocol §5.1-a)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash SHA-256(0x01 || left || right) (protocol §5.1-b).

    Raw hashing: the inputs are not length-checked here (the published single-hash vector hashes 4-byte
    inputs); every public function that takes hashes from outside checks them.
    """
    return _sha256(b"\x01" + left + right).digest()


def hash_leaves(entries: Iterable[bytes]) -> list[bytes]:
    """Return the leaf hash of each entry, in order (the bulk form of `leaf_hash`)."""
    return [_sha256(b"\x00" + d).digest() for d in entries]


def _check_hash(value: bytes, what: str) -> None:
    # protocol §5.1-e: every hash is exactly 32 bytes.
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, bytes | bytearray) else -1
        raise MalformedEncoding(f"{what} must be {HASH_SIZE} bytes, got {size}")


def _check_hashes(values: Sequence[bytes], what: str) -> None:
    # Two C-speed passes for the bulk path; the slow loop only runs to name the culprit.
    if values and (set(map(type, values)) != {bytes} or set(map(len, values)) != {HASH_SIZE}):
        for v in values:
            _check_hash(v, what)


def _check_count(value: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadProof(f"{what} must be a non-negative integer")


def _largest_power_below(n: int) -> int:
    """The largest power of two strictly below n (requires n >= 2): RFC 6962's k."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[NodeKey]:
    """Decompose the leaf range [start, end) into its largest aligned perfect subtrees, left to right.

    Every range an RFC 6962 proof or root names starts at a multiple of the largest power of two below its
    length; for such a range the subtrees come largest first and its MTH is `root_from_subtrees` over
    them. Requires 0 <= start <= end.
    """
    keys: list[NodeKey] = []
    while start < end:
        # The largest aligned power of two at `start` that still fits in the range.
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def root_from_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Return the MTH of a range from its perfect subtrees' hashes, as listed by `perfect_subtrees`.

    Valid for the ranges RFC 6962 names (see `perfect_subtrees`), e.g. [0, n) for any n.

    MTH(D[a:b]) = HASH(0x01 || MTH(first subtree) || MTH(rest)), so the hashes fold from the right.
    An empty list is the empty range, whose MTH is EMPTY_ROOT.
    """
    if not hashes:
        return EMPTY_ROOT
    it = reversed(hashes)
    root = next(it)
    for h in it:
        root = _sha256(b"\x01" + h + root).digest()
    return root


def _frontier_root(size: int, frontier: dict[int, bytes]) -> bytes:
    """Root of a tree of `size` leaves from its frontier (the perfect subtree at each set bit of size)."""
    if size == 0:
        return EMPTY_ROOT
    return root_from_subtrees([frontier[level] for level in sorted(frontier, reverse=True)])


def _frontier_keys(size: int) -> list[NodeKey]:
    return perfect_subtrees(0, size)


def _climb(size: int, frontier: dict[int, bytes], leaves: list[bytes]) -> list[tuple[int, int, list[bytes]]]:
    """Hash `leaves` (appended at index `size`) up the tree level by level; update `frontier` in place.

    Returns every newly completed perfect node as runs (level, first index, hashes). At level l the new
    nodes are indices [size >> l, end >> l); when the first one's left child predates this batch, it is the
    frontier node at level l - 1. Each new node is hashed exactly once.
    """
    runs: list[tuple[int, int, list[bytes]]] = []
    end = size + len(leaves)
    level, start, current = 0, size, leaves
    while current:
        runs.append((level, start, current))
        it = iter(current)
        if start & 1:
            # The left sibling of the first new node was completed by an earlier batch.
            first = [_sha256(b"\x01" + frontier[level] + next(it)).digest()]
        else:
            first = []
        upper = first + [_sha256(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=False)]
        if (end >> level) & 1:
            frontier[level] = current[-1]
        else:
            frontier.pop(level, None)
        level, start, current = level + 1, start >> 1, upper
    return runs


class RootAccumulator:
    """Streaming tree head of a sequence of leaf hashes: RFC 9162 §2.1.2's stack, O(log n) memory.

    `append` is the stack algorithm literally (push, then merge as many times as the index has trailing
    1-bits); `extend` does the same in chunks hashed level by level, for replays over millions of entries.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self) -> None:
        self._size = 0
        # The stack of RFC 9162 §2.1.2, keyed by level: the perfect subtree at each set bit of the size.
        self._frontier: dict[int, bytes] = {}

    @property
    def size(self) -> int:
        """The number of leaf hashes added so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash. Raises MalformedEncoding (malformed_encoding) if it is not 32 bytes."""
        _check_hash(leaf_hash, "leaf hash")
        carry, level, index = leaf_hash, 0, self._size
        while index & 1:  # merge_count = the number of trailing 1-bits of the index
            carry = _sha256(b"\x01" + self._frontier.pop(level) + carry).digest()
            level, index = level + 1, index >> 1
        self._frontier[level] = carry
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add leaf hashes in order. Raises MalformedEncoding if one is not 32 bytes (none is added then
        from its chunk onward)."""
        it = iter(leaf_hashes)
        while chunk := list(islice(it, _CHUNK)):
            _check_hashes(chunk, "leaf hash")
            _climb(self._size, self._frontier, chunk)
            self._size += len(chunk)

    def root(self) -> bytes:
        """The root hash of the leaves added so far (EMPTY_ROOT when none)."""
        return _frontier_root(self._size, self._frontier)


def root_from_leaf_hashes(hashes: Iterable[bytes]) -> bytes:
    """Return MTH of a sequence given as leaf hashes, in O(log n) memory (RFC 9162 §2.1.2).

    Raises:
        MalformedEncoding: a hash is not 32 bytes (malformed_encoding).
    """
    accumulator = RootAccumulator()
    accumulator.extend(hashes)
    return accumulator.root()


@dataclass(frozen=True, slots=True)
class Extension:
    """What one `MerkleTree.extend` did: leaves [first_index, tree_size) and every node they completed."""

    first_index: int
    tree_size: int
    root_hash: bytes
    runs: tuple[NodeRun, ...]


class MerkleTree:
    """An append-only RFC 6962 tree whose perfect-subtree node hashes live in a `NodeStore`.

    The tree keeps only its frontier (the O(log n) perfect subtrees of its current size) in memory. Roots of
    older sizes and proofs read O(log n) nodes from the store in one `get_nodes` call.

    Owner of the in-memory frontier: the caller that appends (the sequencer, under its write lock). If the
    transaction holding a batch's nodes rolls back, discard this object and reopen the tree at the
    committed size: its frontier is already ahead.
    """

    __slots__ = ("_frontier", "_size", "_store")

    def __init__(self, store: NodeStore, size: int = 0) -> None:
        """Open the tree of `size` leaves held by `store` (reads its frontier, at most 64 nodes).

        Raises:
            BadProof: size is negative, or the store lacks a node a tree of that size must have.
            MalformedEncoding: the store returned a hash that is not 32 bytes.
        """
        _check_count(size, "tree size")
        keys = _frontier_keys(size)
        hashes = store.get_nodes(keys) if keys else []
        if len(hashes) != len(keys):
            raise BadProof("the node store returned the wrong number of nodes")
        _check_hashes(hashes, "stored node")
        self._store = store
        self._size = size
        self._frontier = {level: h for (level, _), h in zip(keys, hashes, strict=True)}

    @property
    def size(self) -> int:
        """The number of leaves in the tree."""
        return self._size

    @property
    def store(self) -> NodeStore:
        """The node store backing this tree."""
        return self._store

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash and return its index. See `extend` for errors."""
        return self.extend([leaf_hash]).first_index

    def extend(self, leaf_hashes: Iterable[bytes]) -> Extension:
        """Append leaf hashes; write every newly completed node with one `put_nodes` call.

        The nodes are also returned, with the new size and root hash, so a caller can check or persist
        them with the entries. If the store raises, the tree is unchanged.

        Raises:
            MalformedEncoding: a leaf hash is not 32 bytes (nothing is appended).
            BadProof: the store refused the nodes (nothing is appended).
        """
        leaves = list(leaf_hashes)
        _check_hashes(leaves, "leaf hash")
        frontier = dict(self._frontier)
        raw_runs = _climb(self._size, frontier, leaves)
        runs = tuple(NodeRun(level, start, tuple(hashes)) for level, start, hashes in raw_runs)
        if runs:
            self._store.put_nodes(runs)
        first, self._size, self._frontier = self._size, self._size + len(leaves), frontier
        return Extension(first, self._size, _frontier_root(self._size, frontier), runs)

    def root(self, size: int | None = None) -> bytes:
        """Return the root hash of the first `size` leaves (default: the whole tree).

        Raises:
            BadProof: requires 0 <= size <= self.size.
        """
        if size is None or size == self._size:
            return _frontier_root(self._size, self._frontier)
        _check_count(size, "tree size")
        if size > self._size:
            raise BadProof(f"tree size {size} is beyond the tree's size {self._size}")
        if size == 0:
            return EMPTY_ROOT
        return self._range_hashes([(0, size)])[0]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Return PATH(index, D[0:size]) of RFC 6962 §2.1.1: the leaf's sibling first, the root's child last.

        Raises:
            BadProof: requires 0 <= index < size <= self.size.
        """
        _check_count(index, "leaf index")
        _check_count(size, "tree size")
        if index >= size or size > self._size:
            raise BadProof(f"no inclusion proof for index {index} in size {size} (tree size {self._size})")
        ranges: list[tuple[int, int]] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = _largest_power_below(hi - lo)
            if index < lo + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
                ranges.append((lo + k, hi))
                hi = lo + k
            else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
                ranges.append((lo, lo + k))
                lo += k
        ranges.reverse()
        return self._range_hashes(ranges)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Return PROOF(old_size, D[0:new_size]) of RFC 6962 §2.1.2; empty when old_size is 0 or equal.

        Raises:
            BadProof: requires 0 <= old_size <= new_size <= self.size.
        """
        _check_count(old_size, "old tree size")
        _check_count(new_size, "new tree size")
        if old_size > new_size or new_size > self._size:
            raise BadProof(f"no consistency proof from size {old_size} to {new_size} (tree size {self._size})")
        if old_size in (0, new_size):  # protocol §5.2-e, §5.2-f
            return []
        ranges: list[tuple[int, int]] = []
        lo, hi, m, complete = 0, new_size, old_size, True
        while m != hi - lo:
            k = _largest_power_below(hi - lo)
            if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
                ranges.append((lo + k, hi))
                hi = lo + k
            else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
                ranges.append((lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        if not complete:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
            ranges.append((lo, hi))
        ranges.reverse()
        return self._range_hashes(ranges)

    def _range_hashes(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        """MTH of each leaf range, from one batched read of its perfect subtrees."""
        keys: list[NodeKey] = []
        spans: list[int] = []
        for lo, hi in ranges:
            width = hi - lo
            if width & (width - 1) == 0:
                # Perfect already (every RFC 6962 range starts aligned to its largest power of two).
                level = width.bit_length() - 1
                keys.append((level, lo >> level))
                spans.append(1)
            else:
                subtrees = perfect_subtrees(lo, hi)
                keys.extend(subtrees)
                spans.append(len(subtrees))
        hashes = self._store.get_nodes(keys)
        if len(hashes) != len(keys):
            raise BadProof("the node store returned the wrong number of nodes")
        _check_hashes(hashes, "stored node")
        if len(keys) == len(ranges):
            return hashes
        out: list[bytes] = []
        offset = 0
        for span in spans:
            out.append(hashes[offset] if span == 1 else root_from_subtrees(hashes[offset : offset + span]))
            offset += span
        return out
