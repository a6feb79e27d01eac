"""Replay: the membership state and its status tree as a fold over the log's leaves (protocol §8.2, §5.8).

Pure. The sequencer (to rebuild its state at start), the auditor and the tests all derive state
through `replay`, so a log gives the same state however it is split or resumed. An entry leaf goes
through the rules engine (`apply`) and then updates the status tree leaves of the members it touched;
a state leaf is checked against the status tree so far (§5.8-i), and its log time against the batch
it closes (§8.2-f), and changes no member.
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
    if state is None:
        entry = verified or verify_entry(leaf.entry, leaf.entry.statement.origin)
        return genesis(entry, ctx)
    if verified is None or verified.entry is not leaf.entry:
        verified = verify_entry(leaf.entry, state.origin)
    return apply(state, verified, ctx)


@dataclass(frozen=True, slots=True)
class Replayed:
    """The state after some leaves (None before genesis) and its status tree (protocol §5.8)."""

    state: State | None
    tree: SparseMerkleTree

    @classmethod
    def empty(cls) -> Replayed:
        return cls(None, SparseMerkleTree())


def replay_log_leaf(current: Replayed, leaf: Leaf | StateLeaf, verified: VerifiedEntry | None = None) -> Replayed:
    """Advance the state and its status tree by one leaf of either kind.

    Raises:
        Rejected: as `apply_leaf`; for a state leaf, `not_genesis` before the genesis, `bad_time` for a
            log time other than its batch's (section 8.2-f), and the codes of `apply_state_leaf` (a
            wrong index, or `audit_mismatch` for a wrong root).
    """
    if isinstance(leaf, StateLeaf):
        if current.state is None:
            raise Rejected(Rejection(ErrorCode.NOT_GENESIS, "a log begins with its genesis, not a state leaf", "7.2-a"))
        return Replayed(_apply_state_leaf(current.state, leaf, current.tree), current.tree)
    state = apply_leaf(current.state, leaf, verified)
    return Replayed(state, advance_status_tree(current.tree, state, state.touched, leaf.index))


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
    resumed replay has no tree; use `replay_leaves` with a `Replayed` to keep one)."""
    if state is None:
        result = replay_leaves(parse_log_leaf(b) for b in leaves).state
        if result is None:  # unreachable: replay_leaves raises on an empty log
            raise Rejected(Rejection(ErrorCode.NOT_GENESIS, "the log is empty: it has no genesis", "7.2-a"))
        return result
    for raw in leaves:
        leaf = parse_log_leaf(raw)
        if isinstance(leaf, StateLeaf):
            state = _apply_state_leaf(state, leaf, None)
        else:
            state = apply_leaf(state, leaf)
    return state
