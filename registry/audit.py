"""The auditor's full replay (protocol §8.2): every leaf, signature, rule, tree hash, state leaf and
checkpoint.

Given the leaves in order and the checkpoints the log signed, `audit` recomputes the Merkle tree with
the RFC 9162 §2.1.2 stack (O(log n) memory), replays every statement through the same rules engine the
operator runs, recomputes the status tree and every state leaf's root (§5.8-j), and checks every
checkpoint's signature and root at its size, and that its last leaf is a state leaf (§5.8-i) whose log
time is its batch's (§8.2-f), as is every entry leaf's (§8.2-h). It stops at the first discrepancy and
names it: the index (or checkpoint size) and the failing check. A caller that holds more than the
leaves (an operator's store) may pass a check of its row, run on every parsed leaf in order
(`RowCheck`), so that its failures are ordered with the replay's by index.

Signature verification is the expensive, stateless part; `audit` can run it on all cores (a process
pool, `workers`), a few chunks ahead of the replay (a bounded window, so that memory does not grow with
the log). Everything else is in order, in this process. No I/O of its own: the caller passes iterables
(from a store, an export file or tiles fetched over HTTP) and an optional progress callback.
"""

from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.pool
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice
from typing import Final

from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.errors import CryptoError
from crypto.merkle import RootAccumulator, leaf_hash
from crypto.notekey import NoteVerifier

from .errors import ErrorCode, Rejected
from .replay import Replayed, replay_log_leaf
from .state import State
from .statements import Leaf, VerifiedEntry, verify_entry
from .statetree import StateLeaf, parse_log_leaf

__all__ = ["AuditCheck", "AuditReport", "RowCheck", "RowMismatch", "audit"]

_CHUNK: Final = 512
_WINDOW_PER_WORKER: Final = 4  # chunks in flight per worker process: enough to keep every worker busy


class AuditCheck(StrEnum):
    """The check that failed; part of the audit report's machine form (protocol §8.2)."""

    LEAF_ENCODING = "leaf_encoding"
    LEAF_INDEX = "leaf_index"
    LEAF_SIGNATURE = "leaf_signature"
    RULES = "rules"
    LEAF_TIME = "leaf_time"  # an entry leaf's log time differs from its batch's ([8.2-h])
    CHECKPOINT_SIGNATURE = "checkpoint_signature"
    CHECKPOINT_ROOT = "checkpoint_root"
    CHECKPOINT_SIZE = "checkpoint_size"
    CHECKPOINT_MISSING = "checkpoint_missing"
    EMPTY_LOG = "empty_log"
    STATE_LEAF = "state_leaf"
    TREE_NODE = "tree_node"  # a stored tree node differs from the leaves (`registry.store_audit`, --data only)
    ENTRY_ROW = "entry_row"  # a stored row's derived column differs from its leaf (--data only, [8.2-g])
    META_ROW = "meta_row"  # the store's meta row differs from the log (--data only, [8.2-g])


@dataclass(frozen=True, slots=True)
class RowMismatch:
    """A stored row that differs from the log (`registry.store_rows`): the column that differs, and a
    message naming the expected and the found value (public values only: indexes, times, hashes, the
    origin and the log's public key)."""

    column: str
    message: str


RowCheck = Callable[[int, Leaf | StateLeaf], RowMismatch | None]
"""A caller's check of the row holding the leaf at an index, after the replay accepted the leaf; None
when the row agrees."""

_STATE_LEAF_SECTIONS: Final = frozenset({"5.8-i", "8.2-f"})
"""Rejections of a state leaf reported as the check `state_leaf`: its root, and its log time."""

_LEAF_TIME_SECTION: Final = "8.2-h"
"""The rejection of an entry leaf reported as the check `leaf_time`: a log time other than its batch's."""


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What an audit found. `ok` is True only when every check passed."""

    ok: bool
    size: int
    root_hash: bytes
    counts: Mapping[str, int] = field(default_factory=dict)
    checkpoints: int = 0
    first_bad_index: int | None = None
    bad_checkpoint_size: int | None = None
    check: AuditCheck | None = None
    code: str | None = None
    message: str | None = None
    state: State | None = None
    column: str | None = None
    """For the store's own checks (`entry_row`, `meta_row`): the column that differs."""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "ok": self.ok,
            "tree_size": self.size,
            "root_hash": self.root_hash.hex(),
            "members": dict(self.counts),
            "checkpoints_checked": self.checkpoints,
        }
        if not self.ok:
            failure: dict[str, object] = {
                "index": self.first_bad_index,
                "checkpoint_size": self.bad_checkpoint_size,
                "check": str(self.check),
                "code": self.code,
                "message": self.message,
            }
            if self.column is not None:  # the store's own checks ([8.2-g])
                failure["column"] = self.column
            out["failure"] = failure
        return out


_NOT_CHECKED: Final = "-"
"""The verdict of a leaf whose signatures no worker checked: the replay verifies them itself."""


def _verify_chunk(args: tuple[str, list[bytes]]) -> list[str | None]:
    """Worker: parse each leaf and verify its signatures for `origin`: None (verified) or an error code.

    A leaf that does not parse gets `_NOT_CHECKED`: the replay reports it with the right check.
    """
    origin, leaves = args
    out: list[str | None] = []
    for data in leaves:
        try:
            leaf = parse_log_leaf(data)
        except Rejected:
            out.append(_NOT_CHECKED)
            continue
        if isinstance(leaf, StateLeaf):  # no signature to verify
            out.append(None)
            continue
        try:
            verify_entry(leaf.entry, origin)
            out.append(None)
        except Rejected as exc:
            out.append(str(exc.code))
    return out


def _chunks(leaves: Iterable[bytes]) -> Iterator[list[bytes]]:
    it = iter(leaves)
    while chunk := list(islice(it, _CHUNK)):
        yield chunk


class _Fail(Exception):
    def __init__(
        self,
        check: AuditCheck,
        code: str,
        message: str,
        index: int | None = None,
        checkpoint_size: int | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message)
        self.check, self.code, self.msg = check, code, message
        self.index, self.checkpoint_size, self.column = index, checkpoint_size, column


def _open_checkpoints(notes: Iterable[bytes], verifier: NoteVerifier) -> dict[int, Checkpoint]:
    by_size: dict[int, Checkpoint] = {}
    for note in notes:
        try:
            cp, _ = open_checkpoint(note, verifier)
        except CryptoError as exc:
            raise _Fail(
                AuditCheck.CHECKPOINT_SIGNATURE, exc.code, f"a checkpoint does not verify: {exc.message}"
            ) from exc
        other = by_size.get(cp.size)
        if other is not None and other.root_hash != cp.root_hash:  # [8.2-c] one root per size
            raise _Fail(
                AuditCheck.CHECKPOINT_ROOT,
                str(ErrorCode.AUDIT_MISMATCH),
                "the log signed two different roots for one tree size",
                checkpoint_size=cp.size,
            )
        by_size[cp.size] = cp
    return by_size


def audit(
    leaves: Iterable[bytes],
    checkpoints: Sequence[bytes],
    log_verifier: NoteVerifier,
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    row_check: RowCheck | None = None,
) -> AuditReport:
    """Replay a whole log from genesis and check everything (protocol §8.2).

    Args:
        leaves: the leaf bytes in index order, from index 0.
        checkpoints: signed checkpoint notes (any order); one MUST cover the whole log.
        log_verifier: the log's key (from its published vkey); its name is the log's origin.
        workers: processes for signature verification (1: in this process; 0: all cores).
        progress: called with the number of leaves done, about every 512 leaves.
        row_check: called with each index and parsed leaf once the replay accepted it, in order; a
            mismatch it returns fails the audit at that index with the check `entry_row` and the code
            `audit_mismatch` (an operator's store: `registry.store_audit`).

    Returns:
        The report; `ok` is False at the first discrepancy, which it names.
    """
    acc = RootAccumulator()
    current = Replayed.empty()
    last_is_state = False
    index = 0
    n_checkpoints = 0
    origin = log_verifier.name
    try:
        by_size = _open_checkpoints(checkpoints, log_verifier)
        n_checkpoints = len(by_size)
        pool = None
        processes = 1
        if workers != 1:
            processes = workers or os.cpu_count() or 1
            ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
            pool = ctx.Pool(processes)
        try:
            for chunk, verdicts in _verified_chunks(leaves, origin, pool, _WINDOW_PER_WORKER * processes):
                for offset, data in enumerate(chunk):
                    verdict = _NOT_CHECKED if verdicts is None else verdicts[offset]
                    current, last_is_state = _replay_one(current, index, data, acc, verdict, row_check)
                    state = current.state
                    if index == 0 and state is not None and state.origin != origin:  # [8.2-a]
                        raise _Fail(
                            AuditCheck.RULES,
                            str(ErrorCode.WRONG_ORIGIN),
                            "the genesis names another origin than the log key",
                            index=0,
                        )
                    index += 1
                    checkpoint = by_size.get(index)
                    if checkpoint is not None and not last_is_state:  # [5.8-i]
                        raise _Fail(
                            AuditCheck.STATE_LEAF,
                            str(ErrorCode.AUDIT_MISMATCH),
                            f"the last leaf of the checkpoint for size {index} is not a state leaf",
                            index=index - 1,
                            checkpoint_size=index,
                        )
                    if checkpoint is not None and checkpoint.root_hash != acc.root():  # [8.2-b]
                        raise _Fail(
                            AuditCheck.CHECKPOINT_ROOT,
                            str(ErrorCode.AUDIT_MISMATCH),
                            f"the checkpoint for size {index} names another root than the leaves give",
                            index=index - 1,
                            checkpoint_size=index,
                        )
                if progress is not None:
                    progress(index)
        finally:
            if pool is not None:
                pool.terminate()
        state = current.state
        if state is None:
            raise _Fail(AuditCheck.EMPTY_LOG, str(ErrorCode.NOT_GENESIS), "the log is empty: it has no genesis")
        beyond = [s for s in by_size if s > index]
        if beyond:  # [8.2-d]
            raise _Fail(
                AuditCheck.CHECKPOINT_SIZE,
                str(ErrorCode.AUDIT_MISMATCH),
                f"a checkpoint names size {min(beyond)} but the log has {index} leaves",
                checkpoint_size=min(beyond),
            )
        if index not in by_size:  # [8.2-d]
            raise _Fail(
                AuditCheck.CHECKPOINT_MISSING,
                str(ErrorCode.AUDIT_MISMATCH),
                f"no signed checkpoint covers the whole log of {index} leaves",
                index=index - 1,
            )
    except _Fail as fail:
        state = current.state
        return AuditReport(
            ok=False,
            size=index,
            root_hash=acc.root(),
            counts={} if state is None else state.counts(),
            checkpoints=n_checkpoints,
            first_bad_index=fail.index,
            bad_checkpoint_size=fail.checkpoint_size,
            check=fail.check,
            code=fail.code,
            message=fail.msg,
            state=state,
            column=fail.column,
        )
    return AuditReport(True, index, acc.root(), state.counts(), n_checkpoints, state=state)


def _verified_chunks(
    leaves: Iterable[bytes], origin: str, pool: multiprocessing.pool.Pool | None, window: int
) -> Iterator[tuple[list[bytes], list[str | None] | None]]:
    """Chunks of leaves with the workers' signature verdicts (None: no pool, the replay verifies).

    At most `window` chunks are in flight. (`Pool.imap` would read the whole input ahead of a slower
    replay and hold it in memory: at a million entries, most of the log.)
    """
    if pool is None:
        for chunk in _chunks(leaves):
            yield chunk, None
        return
    in_flight: collections.deque[tuple[list[bytes], multiprocessing.pool.AsyncResult[list[str | None]]]]
    in_flight = collections.deque()
    for chunk in _chunks(leaves):
        in_flight.append((chunk, pool.apply_async(_verify_chunk, ((origin, chunk),))))
        if len(in_flight) >= window:
            done, result = in_flight.popleft()
            yield done, result.get()
    while in_flight:
        done, result = in_flight.popleft()
        yield done, result.get()


def _replay_one(
    current: Replayed,
    index: int,
    data: bytes,
    acc: RootAccumulator,
    verdict: str | None,
    row_check: RowCheck | None = None,
) -> tuple[Replayed, bool]:
    """Hash, parse, check the index and apply one leaf, then run `row_check`; raise `_Fail` naming the
    first broken check.

    Returns the state and status tree after the leaf, and whether it was a state leaf.
    """
    leaf, after, is_state = _replay_parsed(current, index, data, acc, verdict)
    if row_check is not None and (mismatch := row_check(index, leaf)) is not None:  # [8.2-g]
        raise _Fail(
            AuditCheck.ENTRY_ROW, str(ErrorCode.AUDIT_MISMATCH), mismatch.message, index=index, column=mismatch.column
        )
    return after, is_state


def _replay_parsed(
    current: Replayed, index: int, data: bytes, acc: RootAccumulator, verdict: str | None
) -> tuple[Leaf | StateLeaf, Replayed, bool]:
    """The body of `_replay_one`: also returns the parsed leaf."""
    acc.append(leaf_hash(data))
    try:
        leaf = parse_log_leaf(data)
    except Rejected as exc:  # [8.2-a]
        raise _Fail(AuditCheck.LEAF_ENCODING, str(exc.code), exc.message, index=index) from exc
    if leaf.index != index:  # [8.2-a]
        raise _Fail(
            AuditCheck.LEAF_INDEX, str(ErrorCode.AUDIT_MISMATCH), f"leaf {index} says index {leaf.index}", index=index
        )
    if isinstance(leaf, StateLeaf):
        try:
            return leaf, replay_log_leaf(current, leaf), True
        except Rejected as exc:  # [5.8-j], [8.2-f] the first state leaf whose root or time differs
            check = AuditCheck.STATE_LEAF if exc.rejection.section in _STATE_LEAF_SECTIONS else AuditCheck.RULES
            raise _Fail(check, str(exc.code), exc.message, index=index) from exc
    if verdict is not None and verdict != _NOT_CHECKED:
        raise _Fail(AuditCheck.LEAF_SIGNATURE, verdict, f"a signature of entry {index} does not verify", index=index)
    # None: a worker verified every signature of this very leaf for the log's origin (`_verify_chunk`).
    verified = VerifiedEntry(leaf.entry) if verdict is None and current.state is not None else None
    try:
        return leaf, replay_log_leaf(current, leaf, verified), False
    except Rejected as exc:  # [8.2-a], [8.2-h]
        raise _Fail(_entry_check(exc), str(exc.code), exc.message, index=index) from exc


def _entry_check(exc: Rejected) -> AuditCheck:
    """The check an entry leaf's rejection fails: its signatures, its batch's log time, or the rules."""
    if exc.code is ErrorCode.BAD_SIGNATURE:
        return AuditCheck.LEAF_SIGNATURE
    if exc.rejection.section == _LEAF_TIME_SECTION:
        return AuditCheck.LEAF_TIME
    return AuditCheck.RULES
