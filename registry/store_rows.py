"""The derived columns of a stored log (protocol §5.6-h, §5.6-k, §8.2-g): one check of each row, shared
by the sequencer's start-up (`registry.sequencer.load_log`) and the audit of a data directory
(`registry.store_audit`), so that the two cannot disagree on what a consistent store is.

An entry row holds the leaf bytes exactly as hashed and three values derived from them: its index (the
primary key), its payload hash (the entry's, or SHA-256 of a state leaf's bytes: the duplicate key,
§5.8) and its log time. The meta row names the log (origin, the log's verifier key) and its tree size.
A column that differs from the leaves would make the server answer from it wrongly (a duplicate that
is not one, a time query that misses an entry, a key or size that is not the log's), while every
leaf, node and checkpoint still verifies.

Shell code: pure comparisons over rows the caller read; no I/O, no clock. Messages name indexes,
times, hashes, the origin and public keys, all of them public in the log; never personal data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Final

from crypto.merkle import leaf_hash
from crypto.notekey import NoteVerifier

from .audit import RowMismatch
from .errors import Rejected
from .statements import Leaf
from .statetree import StateLeaf, parse_log_leaf, state_payload_hash
from .store import LogMeta, StoredEntry, StoreMismatch

__all__ = ["check_rows", "checked_leaves", "entry_row_mismatch", "leaf_columns", "meta_row_mismatch"]


def entry_row_mismatch(row: StoredEntry, leaf: Leaf | StateLeaf) -> RowMismatch | None:
    """The first column of `row` that its own parsed `leaf` does not give, in the order index,
    payload_hash, logged_ms; None when every derived column agrees.

    Requires `leaf` to be `parse_log_leaf(row.leaf)`.
    """
    payload_hash = state_payload_hash(row.leaf) if isinstance(leaf, StateLeaf) else leaf.entry.payload_hash
    return _columns_mismatch(row, (leaf.index, leaf.logged_ms, payload_hash))


def _columns_mismatch(row: StoredEntry, columns: tuple[int, int, bytes]) -> RowMismatch | None:
    """`entry_row_mismatch`, given the (index, logged_ms, payload hash) that the row's leaf gives."""
    index, logged_ms, payload_hash = columns
    if index != row.index:
        return RowMismatch("index", f"the stored row of index {row.index} holds the leaf of index {index}")
    if payload_hash != row.payload_hash:
        message = (
            f"the stored row of leaf {row.index} has payload_hash {row.payload_hash.hex()}, "
            f"its leaf gives {payload_hash.hex()}"
        )
        return RowMismatch("payload_hash", message)
    if logged_ms != row.logged_ms:
        message = f"the stored row of leaf {row.index} has logged_ms {row.logged_ms}, its leaf says {logged_ms}"
        return RowMismatch("logged_ms", message)
    return None


def meta_row_mismatch(meta: LogMeta, verifier: NoteVerifier, size: int) -> RowMismatch | None:
    """The first column of the meta row that is not the log's, in the order origin, log_vkey, tree_size;
    None when all agree.

    Args:
        meta: the stored meta row.
        verifier: the log's key, from outside the database (the data directory's configuration).
        size: the number of leaves the store holds, replayed.
    """
    if meta.origin != verifier.name:
        return RowMismatch("origin", f"the meta row names origin {meta.origin!r}, the log key names {verifier.name!r}")
    if meta.log_vkey != verifier.vkey:
        return RowMismatch(
            "log_vkey", f"the meta row's log_vkey is {meta.log_vkey!r}, the log key is {verifier.vkey!r}"
        )
    if meta.tree_size != size:
        return RowMismatch("tree_size", f"the meta row's tree_size is {meta.tree_size}, the store holds {size} leaves")
    return None


def checked_leaves(rows: Iterable[StoredEntry], start: int, level0: Iterator[bytes]) -> Iterator[Leaf | StateLeaf]:
    """Parse stored rows in order from index `start`, checking each against its own leaf bytes
    (`entry_row_mismatch`) and its stored leaf hash (tree node (0, index), read from `level0`).

    Raises:
        StoreMismatch (`audit_mismatch`): the first row that is missing, malformed, disagrees with its
            leaf, or whose stored leaf hash is not its leaf's; the message names the index and column.
    """
    expected = start
    for row in rows:
        if row.index != expected:
            raise StoreMismatch(f"the stored log has no leaf at index {expected}")
        try:
            leaf = parse_log_leaf(row.leaf)
        except Rejected as exc:
            raise StoreMismatch(f"the stored leaf at index {row.index} is malformed: {exc.code}") from exc
        if (mismatch := entry_row_mismatch(row, leaf)) is not None:
            raise StoreMismatch(mismatch.message)
        if next(level0, None) != leaf_hash(row.leaf):
            raise StoreMismatch(f"the stored leaf hash of index {row.index} does not match the leaf")
        expected += 1
        yield leaf


_ENTRY_LEAF: Final = b'{"entry":{"signatures":['
_STATE_LEAF: Final = b'{"index":'
_STATEMENT: Final = b'],"statement":'
_INDEX: Final = b'},"index":'
_LOGGED: Final = b',"logged_ms":'
_STATE: Final = b',"state":'


def leaf_columns(leaf: bytes) -> tuple[int, int, bytes] | None:
    """(index, logged_ms, payload hash) of a leaf written by a sequencer, read by slicing its canonical
    bytes instead of parsing them; None for any other shape (the caller then parses it).

    An entry leaf is `{"entry":{"signatures":[...],"statement":S},"index":N,"logged_ms":T}` (§5.6-a):
    the signatures hold only hex and base64, so the first `],"statement":` starts S, and the last
    `},"index":` ends it; its payload hash is SHA-256(S), S being the canonical statement bytes. A
    state leaf is `{"index":N,"logged_ms":T,"state":...}` (§5.8-h), its payload hash SHA-256 of it all.
    """
    if leaf.startswith(_STATE_LEAF):
        head, found, _ = leaf[len(_STATE_LEAF) :].partition(_STATE)
        index, found_time, logged_ms = head.partition(_LOGGED)
        if found and found_time and index.isdigit() and logged_ms.isdigit():
            return int(index), int(logged_ms), state_payload_hash(leaf)
        return None
    if not leaf.startswith(_ENTRY_LEAF):
        return None
    start, end = leaf.find(_STATEMENT), leaf.rfind(_INDEX)
    if start < 0 or end <= start or not leaf.endswith(b"}"):
        return None
    index, found, logged_ms = leaf[end + len(_INDEX) : -1].partition(_LOGGED)
    if not (found and index.isdigit() and logged_ms.isdigit()):
        return None
    return int(index), int(logged_ms), hashlib.sha256(leaf[start + len(_STATEMENT) : end]).digest()


def check_rows(rows: Iterable[StoredEntry], start: int, end: int, level0: Iterator[bytes]) -> None:
    """Check the stored rows [start, end) as `checked_leaves` does, with the same answers, but read each
    leaf's columns by `leaf_columns` instead of parsing it (a leaf of another shape is parsed): the rows
    a start-up snapshot covers, which are not replayed (protocol §9.1-i).

    Raises:
        StoreMismatch (`audit_mismatch`): as `checked_leaves`, or a row of [start, end) is missing.
    """
    expected = start
    for row in rows:
        if row.index != expected:
            raise StoreMismatch(f"the stored log has no leaf at index {expected}")
        columns = leaf_columns(row.leaf)
        if columns is None:  # not a shape the sequencer writes: parse it
            next(checked_leaves((row,), row.index, level0))
        else:
            if (mismatch := _columns_mismatch(row, columns)) is not None:
                raise StoreMismatch(mismatch.message)
            if next(level0, None) != leaf_hash(row.leaf):
                raise StoreMismatch(f"the stored leaf hash of index {row.index} does not match the leaf")
        expected += 1
    if expected != end:
        raise StoreMismatch(f"the stored log has no leaf at index {expected}")
