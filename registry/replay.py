"""Replay: the membership state and its status tree as a fold over the log's leaves (protocol §8.2, §5.8).

Pure. The sequencer (to rebuild its state at start), the auditor and the tests all derive state
through `replay`, so a log gives the same state however it is split or resumed. An entry leaf goes
through the rules engine (`apply`) and then updates the status tree leaves of the members it touched;
a state leaf is checked against the status tree so far (§5.8-i), and its log time against the batch
it closes (§8.2-f), and changes no member. Every entry leaf of a batch carries the log time of the
batch's first leaf (§5.6-j, checked as §8.2-h).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crypto.smt import SparseMerkleTree

from .errors import ErrorCode, Rejected, Rejection
from .rules import Context, apply, genesis
from .state import State
from .statements import Leaf, VerifiedEntry, verify_entry
from .statetree import StateLeaf, advance_status_tree, apply_state_leaf, parse_log_leaf

__all__ = ["Replayed", "apply_leaf", "replay", "replay_leaves", "replay_log_leaf"]


def apply_leaf(state: State | None, leaf: Leaf, verified: VerifiedEntry | None = None) -> State:
    """Advance `state` (None before genesis) by one parsed entry leaf.

    `verified` may carry the result of `verify_entry` computed elsewhere (e.g. on another core); it
    must be for `leaf.entry`.

    Raises:
        Rejected: the first rule the leaf breaks, or `wrong_origin`/`bad_signature`.
    """
    ctx = Context(leaf.index, leaf.logged_ms)
    verified = _verified(state, leaf, verified)
    if state is None:
        return genesis(verified, ctx)
    return apply(state, verified, ctx)


def _verified(state: State | None, leaf: Leaf, verified: VerifiedEntry | None) -> VerifiedEntry:
    """`verified` when it is for `leaf.entry`, else the entry verified for the log's origin (the genesis:
    its own origin).

    Raises:
        Rejected: `wrong_origin` or `bad_signature`.
    """
    if state is None:
        return verified or verify_entry(leaf.entry, leaf.entry.statement.origin)
    if verified is None or verified.entry is not leaf.entry:
        return verify_entry(leaf.entry, state.origin)
    return verified


@dataclass(frozen=True, slots=True)
class Replayed:
    """The state after some leaves (None before genesis) and its status tree (protocol §5.8)."""

    state: State | None
    tree: SparseMerkleTree
    batch_ms: int | None = None
    """The log time of the open batch: the `logged_ms` of its first leaf, an entry leaf after a state
    leaf (or the genesis), which every later entry leaf of the batch repeats (protocol §8.2-h). None
    before the genesis and right after a state leaf (a batch is closed; a replay resumed at a checkpoint
    starts there)."""

    @classmethod
    def empty(cls) -> Replayed:
        return cls(None, SparseMerkleTree())


def replay_log_leaf(current: Replayed, leaf: Leaf | StateLeaf, verified: VerifiedEntry | None = None) -> Replayed:
    """Advance the state and its status tree by one leaf of either kind.

    Raises:
        Rejected: as `apply_leaf`, but `bad_time` (section 8.2-h) before the rules for an entry leaf
            whose log time differs from its batch's, after its signatures; for a state leaf,
            `not_genesis` before the genesis, `bad_time` for a log time other than its batch's (section
            8.2-f), and the codes of `apply_state_leaf` (a wrong index, or `audit_mismatch` for a wrong
            root).
    """
    if isinstance(leaf, StateLeaf):
        if current.state is None:
            raise Rejected(Rejection(ErrorCode.NOT_GENESIS, "a log begins with its genesis, not a state leaf", "7.2-a"))
        return Replayed(_apply_state_leaf(current.state, leaf, current.tree), current.tree)
    # Signatures first, so that a leaf with a bad signature is named for it whether or not the auditor
    # verified the signatures ahead on other cores (registry.audit); then its time; then the rules.
    verified = _verified(current.state, leaf, verified)
    _check_batch_time(current.batch_ms, leaf)
    state = apply_leaf(current.state, leaf, verified)
    return Replayed(state, advance_status_tree(current.tree, state, state.touched, leaf.index), leaf.logged_ms)


def _check_batch_time(batch_ms: int | None, leaf: Leaf) -> None:
    """Refuse an entry leaf whose log time differs from the open batch's (protocol §8.2-h).

    A batch's first leaf sets its time: with no batch open (`batch_ms` None: after a state leaf, or at
    the genesis), any time passes here (§5.6-c still bounds it). A later entry leaf of the same batch
    with another time, raised or lowered, is the one refused; the state leaf that closes the batch is
    checked by §8.2-f. Checked before the rules, whose time limits (per day, age, expiry) would
    otherwise judge the entry at a time its batch never had.

    Raises:
        Rejected: `bad_time` (section 8.2-h).
    """
    if batch_ms is not None and leaf.logged_ms != batch_ms:  # [8.2-h]
        message = (
            f"the leaf's log time is {leaf.logged_ms}, the log time of its batch (set by the batch's first "
            f"leaf) is {batch_ms}"
        )
        raise Rejected(Rejection(ErrorCode.BAD_TIME, message, "8.2-h"))


def _apply_state_leaf(state: State, leaf: StateLeaf, tree: SparseMerkleTree | None) -> State:
    """`apply_state_leaf`, after checking that the leaf's log time is its batch's (protocol §8.2-f).

    Every leaf of a batch carries the batch's one log time (§5.6-j), and the state leaf is the batch's
    last leaf, so its time is the time of the leaf before it, `state.last_logged_ms`. Checked after its
    place (a misplaced leaf keeps its `malformed_entry`, §5.6-b) and before its root, so that a raised
    time, which §5.6-c alone allows, is named at the state leaf instead of only through the checkpoint
    root its bytes change.

    Raises:
        Rejected: `bad_time` (section 8.2-f), or as `apply_state_leaf`.
    """
    if leaf.index == state.size and leaf.logged_ms != state.last_logged_ms:  # [8.2-f]
        message = (
            f"the state leaf's log time is {leaf.logged_ms}, the log time of the batch it closes is "
            f"{state.last_logged_ms}"
        )
        raise Rejected(Rejection(ErrorCode.BAD_TIME, message, "8.2-f"))
    return apply_state_leaf(state, leaf, tree)


def replay_leaves(leaves: Iterable[Leaf | StateLeaf], start: Replayed | None = None) -> Replayed:
    """Fold `replay_log_leaf` over parsed leaves, from `start` (default: before genesis).

    Raises:
        Rejected: the first leaf that breaks a rule; `not_genesis` for an empty log.
    """
    current = start or Replayed.empty()
    for leaf in leaves:
        current = replay_log_leaf(current, leaf)
    if current.state is None:
        raise Rejected(Rejection(ErrorCode.NOT_GENESIS, "the log is empty: it has no genesis", "7.2-a"))
    return current


def replay(leaves: Iterable[bytes], state: State | None = None) -> State:
    """The state after raw leaf bytes (as stored, or as served in entry bundles), from genesis or from
    `state`. State leaves are checked against the status tree only when replaying from genesis (a
    resumed replay has no tree; use `replay_leaves` with a `Replayed` to keep one). A resumed replay
    takes its first leaf as the first of a batch (a `State` does not say whether a batch was open), so
    it checks the batch times of §8.2-h from there on."""
    if state is None:
        result = replay_leaves(parse_log_leaf(b) for b in leaves).state
        if result is None:  # unreachable: replay_leaves raises on an empty log
            raise Rejected(Rejection(ErrorCode.NOT_GENESIS, "the log is empty: it has no genesis", "7.2-a"))
        return result
    batch_ms: int | None = None
    for raw in leaves:
        leaf = parse_log_leaf(raw)
        if isinstance(leaf, StateLeaf):
            state = _apply_state_leaf(state, leaf, None)
            batch_ms = None
        else:
            verified = _verified(state, leaf, None)
            _check_batch_time(batch_ms, leaf)
            state = apply_leaf(state, leaf, verified)
            batch_ms = leaf.logged_ms
    return state
