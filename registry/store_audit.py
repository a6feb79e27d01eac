"""The audit of an operator's own store (`registry audit --data DIR`; protocol §8.2, §5.6-h).

The full replay of `registry.audit` sees only what every auditor sees: the leaves and the signed
checkpoints. An operator's store holds more, and a server answers from it: the columns derived from
each leaf, the meta row, the tree nodes that its proofs and tiles are made of, and one checkpoint row
per tree size. `audit_store` checks those too, in this order, and stops at the first discrepancy:

1. every stored checkpoint row: its note verifies under the log's key and states the tree size of its
   row; a damaged note is reported with the size of its row (`checkpoint_signature`,
   `checkpoint_size`), which a replay over bare notes cannot name ([8.2-b]);
2. the replay of `registry.audit.audit` over the stored leaves and notes, which also compares each
   entry row's derived columns (index, payload_hash, logged_ms) with its leaf as the replay accepts
   it (`entry_row`, with the index and column, [8.2-g]): a bad column and a bad leaf are ordered by
   index, and the first is named. The comparison is `registry.store_rows.entry_row_mismatch`, the
   one the sequencer makes when it opens a store ([5.6-h]);
3. the meta row: its origin and log key are the log key's the audit runs with (the data directory's
   configuration, not the database), and its tree size is the number of leaves replayed
   (`meta_row`, with the column, [8.2-g]);
4. every stored tree node of the replayed tree equals the node recomputed from the leaves: node (0, i)
   is the leaf hash of leaf i, node (l, n) the hash of nodes (l - 1, 2n) and (l - 1, 2n + 1), level by
   level from the leaves up, so that a single damaged node is the one named (`tree_node`, with the
   first leaf it covers, n * 2**l). This is the comparison the sequencer makes when it opens a store
   ([5.6-h]); a node that differs would make the server serve proofs and tiles that do not verify.

Shell code: reads a store, writes nothing. Memory stays constant in the tree size (levels are read
in chunks, side by side).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterator

from crypto.checkpoint import open_checkpoint
from crypto.errors import BadProof, CryptoError
from crypto.merkle import RootAccumulator, leaf_hash, node_hash
from crypto.notekey import NoteVerifier

from .audit import AuditCheck, AuditReport, RowMismatch, audit
from .errors import ErrorCode
from .statements import Leaf
from .statetree import StateLeaf
from .store import Store, StoredEntry
from .store_rows import entry_row_mismatch, meta_row_mismatch

__all__ = ["audit_store"]


class _BadNode(Exception):
    def __init__(self, level: int, index: int, message: str) -> None:
        super().__init__(message)
        self.level, self.index, self.message = level, index, message


def audit_store(
    store: Store,
    verifier: NoteVerifier,
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Audit the log held in `store`: its checkpoint rows, the full replay with its entry rows, its meta
    row, then its tree nodes.

    Args:
        store: the operator's store (opened read-only is enough).
        verifier: the log's key, from the data directory's configuration.
        workers, progress: as `registry.audit.audit`.

    Returns:
        The report; on failure it names the first bad index (for a tree node: the first leaf the node
        covers) or checkpoint size, and the check (`checkpoint_signature`, `checkpoint_size`, those of
        the replay, `entry_row` with the index and column, `meta_row` with the column, or `tree_node`),
        all with the code `audit_mismatch` but the replay's own.

    Raises:
        StoreUnavailable (`unavailable`), NoLog (`not_found`): the store could not be read.
    """
    # Step 1: the checkpoint rows, each at its own size.
    notes: list[bytes] = []
    for size, note in store.iter_checkpoints():
        try:
            cp, _ = open_checkpoint(note, verifier)
        except CryptoError as exc:
            return _row_failure(
                AuditCheck.CHECKPOINT_SIGNATURE,
                exc.code,
                size,
                f"the stored checkpoint of size {size} does not verify: {exc.message}",
            )
        if cp.size != size:
            return _row_failure(
                AuditCheck.CHECKPOINT_SIZE,
                str(ErrorCode.AUDIT_MISMATCH),
                size,
                f"the stored checkpoint row of size {size} holds a checkpoint of size {cp.size}",
            )
        notes.append(note)
    # Step 2: the replay, and each entry row against its leaf.
    rows = _RowsInFlight(store.iter_entries())
    report = audit(rows.leaves(), notes, verifier, workers=workers, progress=progress, row_check=rows.check)
    if not report.ok:
        return report
    # Step 3: the meta row.
    if (mismatch := meta_row_mismatch(store.meta(), verifier, report.size)) is not None:
        return dataclasses.replace(
            report,
            ok=False,
            check=AuditCheck.META_ROW,
            code=str(ErrorCode.AUDIT_MISMATCH),
            message=mismatch.message,
            column=mismatch.column,
        )
    # Step 4: the stored nodes of the replayed tree.
    try:
        _check_nodes(store, report.size)
    except _BadNode as bad:
        return dataclasses.replace(
            report,
            ok=False,
            first_bad_index=bad.index << bad.level,
            check=AuditCheck.TREE_NODE,
            code=str(ErrorCode.AUDIT_MISMATCH),
            message=bad.message,
        )
    return report


class _RowsInFlight:
    """The stored rows, as leaf bytes for the replay and as rows for its `row_check`.

    The replay reads leaves a few chunks ahead of the leaf it checks (signature workers), so the rows
    read but not yet checked wait here, in order; at most the replay's window of them. Owner: one
    `audit_store` call; `leaves` appends (as the replay reads), `check` pops (as it checks).
    """

    def __init__(self, rows: Iterator[StoredEntry]) -> None:
        self._rows = rows
        self._waiting: collections.deque[StoredEntry] = collections.deque()

    def leaves(self) -> Iterator[bytes]:
        for row in self._rows:
            self._waiting.append(row)
            yield row.leaf

    def check(self, index: int, leaf: Leaf | StateLeaf) -> RowMismatch | None:
        """Compare the row of the leaf at `index` with it. The replay checks leaves once each, in order
        from 0, so that row is the oldest waiting one (the `index`-th read, whatever its index column
        says: `entry_row_mismatch` compares that column with the leaf)."""
        return entry_row_mismatch(self._waiting.popleft(), leaf)


def _row_failure(check: AuditCheck, code: str, size: int, message: str) -> AuditReport:
    return AuditReport(
        False, 0, RootAccumulator().root(), bad_checkpoint_size=size, check=check, code=code, message=message
    )


def _level(store: Store, level: int, count: int) -> Iterator[tuple[int, bytes]]:
    """(index, hash) of stored nodes (level, 0) to (level, count - 1); an absent node is a `_BadNode`."""
    index = 0
    try:
        for value in store.nodes.iter_level(level, 0, count):
            yield index, value
            index += 1
    except BadProof:
        raise _BadNode(level, index, f"the stored tree node ({level}, {index}) is missing") from None


def _check_nodes(store: Store, size: int) -> None:
    """Raise `_BadNode` for the first stored node of the tree of `size` leaves that differs from the
    node recomputed from the leaves, lowest level first."""
    leaves = store.iter_entries(0, size)
    for (index, value), row in zip(_level(store, 0, size), leaves, strict=False):
        if value != leaf_hash(row.leaf):
            raise _BadNode(0, index, f"the stored tree node (0, {index}) is not the leaf hash of leaf {index}")
    for level in range(1, size.bit_length()):
        count = size >> level
        lower = (value for _, value in _level(store, level - 1, 2 * count))
        for (index, value), left, right in zip(_level(store, level, count), lower, lower, strict=False):
            if value != node_hash(left, right):
                raise _BadNode(
                    level, index, f"the stored tree node ({level}, {index}) is not the hash of its two children"
                )
