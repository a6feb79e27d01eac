"""Where a Merkle tree keeps its node hashes: the `NodeStore` interface, node keys and runs, a store in memory.

A tree keeps the hashes of *perfect* subtrees (protocol §5.1): node (level l, index n), its `NodeKey`, is the
MTH of the leaves [n*2^l, (n+1)*2^l), and leaves are nodes (0, i). A tree writes each node once, in runs of
consecutive nodes per level (`NodeRun`) in index order, and reads only nodes that it, or a tree of at least
its size, wrote. `NodeStore` is that contract; `MemoryNodeStore` keeps the nodes in lists, and
`registry/store/` keeps them in SQL.

Errors: an absent node, a run that would leave a gap, or a rewrite with a different hash raises `BadProof`
(code bad_proof), before anything is written.

Deliberately not here: hashing and the tree itself (`crypto.merkle`; a store never computes a hash, and
does not check the length of the hashes it is given), I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from crypto.errors import BadProof

__all__ = [
    "MemoryNodeStore",
    "NodeKey",
    "NodeRun",
    "NodeStore",
]

NodeKey = tuple[int, int]
"""(level, index): the perfect subtree covering leaves [index * 2**level, (index + 1) * 2**level)."""


@dataclass(frozen=True, slots=True)
class NodeRun:
    """Consecutive perfect-subtree nodes at one level: `hashes[i]` is node (level, start + i)."""

    level: int
    start: int
    hashes: tuple[bytes, ...]

    def items(self) -> Iterator[tuple[NodeKey, bytes]]:
        """Yield ((level, index), hash) for each node of the run."""
        for offset, h in enumerate(self.hashes):
            yield (self.level, self.start + offset), h


class NodeStore(Protocol):
    """Where a `MerkleTree` keeps its perfect-subtree node hashes; `registry/` backs it with SQL.

    A tree only ever reads nodes it wrote (or that a tree of at least that size wrote), and writes each node
    once, in runs, in index order per level.
    """

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        """Return the hash of each (level, index) node, in the order asked.

        Raises:
            BadProof: a node is absent (the store does not hold a tree that large).
        """
        ...

    def put_nodes(self, runs: Sequence[NodeRun]) -> None:
        """Store runs of new nodes, all at once (one transaction for a SQL store).

        Rewriting a node with the same hash is allowed; with a different hash, or leaving a gap, it is not.
        """
        ...


class MemoryNodeStore:
    """A `NodeStore` in memory: one list per level, so that a node is found by two list indexings."""

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        # Owner: the MerkleTree that writes it; not safe to share between threads without a lock.
        self._levels: list[list[bytes]] = []

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        """See `NodeStore.get_nodes`. Raises BadProof for an absent node."""
        levels = self._levels
        try:
            # Negative numbers are filtered out (Python would index from the end), then counted below.
            out = [levels[level][index] for level, index in keys if level >= 0 and index >= 0]
        except IndexError:
            out = []
        if len(out) != len(keys):
            missing = next(
                ((lv, ix) for lv, ix in keys if not (0 <= lv < len(levels) and 0 <= ix < len(levels[lv]))),
                None,
            )
            raise BadProof(f"node {missing} is not in the store")
        return out

    def put_nodes(self, runs: Sequence[NodeRun]) -> None:
        """See `NodeStore.put_nodes`. Raises BadProof for a gap or a conflicting rewrite, before any write."""
        held = {level: len(nodes) for level, nodes in enumerate(self._levels)}
        for run in runs:
            count = held.get(run.level, 0)
            if run.level < 0 or run.start < 0 or run.start > count:
                raise BadProof(f"node run at ({run.level}, {run.start}) would leave a gap")
            stored = self._levels[run.level] if run.level < len(self._levels) else []
            overlap = max(0, min(len(stored) - run.start, len(run.hashes)))
            if overlap and stored[run.start : run.start + overlap] != list(run.hashes[:overlap]):
                raise BadProof(f"node run at ({run.level}, {run.start}) conflicts with stored nodes")
            held[run.level] = max(count, run.start + len(run.hashes))
        for run in runs:
            while len(self._levels) <= run.level:
                self._levels.append([])
            nodes = self._levels[run.level]
            skip = len(nodes) - run.start
            nodes.extend(run.hashes[skip:] if skip > 0 else run.hashes)
