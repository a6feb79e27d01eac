"""Replay: the membership state as a fold of `apply` over the log's leaves (protocol §8.2).

Pure. The sequencer (to rebuild its state at start), the auditor and the tests all derive state
through `replay`, so a log gives the same state however it is split or resumed.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import ErrorCode, Rejected, Rejection
from .rules import Context, apply, genesis
from .state import State
from .statements import Leaf, VerifiedEntry, parse_leaf, verify_entry

__all__ = ["apply_leaf", "replay", "replay_leaves"]


def apply_leaf(state: State | None, leaf: Leaf, verified: VerifiedEntry | None = None) -> State:
    """Advance `state` (None before genesis) by one parsed leaf.

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


def replay_leaves(leaves: Iterable[Leaf], state: State | None = None) -> State:
    """Fold `apply_leaf` over parsed leaves, starting from `state` (None: from genesis)."""
    for leaf in leaves:
        state = apply_leaf(state, leaf)
    if state is None:
        raise Rejected(Rejection(ErrorCode.NOT_GENESIS, "the log is empty: it has no genesis", "7.2-a"))
    return state


def replay(leaves: Iterable[bytes], state: State | None = None) -> State:
    """Fold over raw leaf bytes (as stored, or as served in entry bundles)."""
    return replay_leaves((parse_leaf(b) for b in leaves), state)
