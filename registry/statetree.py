"""The status tree of the membership state and the state leaf that commits it to the log (protocol §5.8).

The **status tree** is the compressed sparse Merkle tree of `crypto.smt`, holding one leaf per
member: under the key `SHA-256("antiwar-registry/v1\\nstatus-key\\n" || member id)`, the 73-byte
**status leaf** `current key || status || since || commitment`. The **state leaf** is a log leaf,
`{"index": N, "logged_ms": T, "state": {"root": HEX, "v": 1}}`, holding the root of the status
tree after the log's first N leaves; a log puts one at the end of every checkpoint it signs, so that
a credential can prove a member's status from one signed checkpoint.

The tree is derived from the state by replay: `advance_status_tree` updates the leaves of the members
an entry changed, and only those, so an entry costs O(changed members × log n) hashes. Pure: no I/O,
no clock; the tree is a persistent value, shared freely.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Final

from crypto import canonical, merkle
from crypto.errors import MalformedEncoding
from crypto.smt import SparseMerkleTree

from .errors import ErrorCode, Rejected, Rejection
from .state import Member, State, Status
from .statements import Leaf, MemberId, parse_leaf

__all__ = [
    "MAX_STATE_LEAF_SIZE",
    "STATE_VERSION",
    "STATUS_CODES",
    "STATUS_KEY_PREFIX",
    "STATUS_LEAF_SIZE",
    "StateLeaf",
    "StatusLeaf",
    "advance_status_tree",
    "apply_state_leaf",
    "build_status_tree",
    "changed_members",
    "check_state_leaf",
    "format_state_leaf",
    "format_status_leaf",
    "parse_log_leaf",
    "parse_state_leaf",
    "parse_status_leaf",
    "state_leaf_hash",
    "state_payload_hash",
    "status_key",
    "status_leaf_of",
]

STATUS_KEY_PREFIX: Final = b"antiwar-registry/v1\nstatus-key\n"
"""protocol §5.8-c: the domain separation of status tree keys."""
STATUS_LEAF_SIZE: Final = 73
STATE_VERSION: Final = 1
MAX_STATE_LEAF_SIZE: Final = 1024

STATUS_CODES: Final[Mapping[Status, int]] = {
    Status.PENDING: 0,
    Status.VERIFIED: 1,
    Status.SUSPENDED: 2,
    Status.REVOKED: 3,
}
_STATUS_OF_CODE: Final = {code: status for status, code in STATUS_CODES.items()}
_NO_COMMITMENT: Final = bytes(32)


def _malformed(message: str, section: str) -> Rejected:
    return Rejected(Rejection(ErrorCode.MALFORMED_ENCODING, message, section))


def status_key(member_id: bytes) -> bytes:
    """The status tree key of a member: SHA-256(STATUS_KEY_PREFIX || member id) (protocol §5.8-c)."""
    return hashlib.sha256(STATUS_KEY_PREFIX + member_id).digest()


@dataclass(frozen=True, slots=True)
class StatusLeaf:
    """A member's leaf value in the status tree (protocol §5.8-c).

    `key` is the member's current key (the one that signs presentations), `since` the log index of
    the entry at whose application the member's status took its current value, `commitment` the
    identity commitment the member declared (None when it declared none).
    """

    key: bytes
    status: Status
    since: int
    commitment: bytes | None


def format_status_leaf(leaf: StatusLeaf) -> bytes:
    """Encode a status leaf: key[32] || status u8 || since u64 || commitment[32] (zeros for none)."""
    commitment = _NO_COMMITMENT if leaf.commitment is None else leaf.commitment
    return leaf.key + struct.pack(">BQ", STATUS_CODES[leaf.status], leaf.since) + commitment


def parse_status_leaf(data: bytes) -> StatusLeaf:
    """Decode a status leaf strictly; `format_status_leaf` gives back `data`.

    Raises:
        Rejected: `malformed_encoding` for a wrong length, an unknown status code or a since over 2^63-1.
    """
    if len(data) != STATUS_LEAF_SIZE:
        raise _malformed(f"a status leaf is {STATUS_LEAF_SIZE} bytes, got {len(data)}", "5.8-c")
    status, since = struct.unpack(">BQ", data[32:41])
    if status not in _STATUS_OF_CODE:
        raise _malformed(f"unknown member status code {status}", "5.8-c")
    if since > 2**63 - 1:
        raise _malformed("a status leaf's since index is over 2^63-1", "5.8-c")
    commitment = data[41:73]
    return StatusLeaf(data[:32], _STATUS_OF_CODE[status], since, None if commitment == _NO_COMMITMENT else commitment)


# --- state leaves ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateLeaf:
    """The log leaf at `index` committing to the status tree root after leaves [0, index) (§5.8-h)."""

    index: int
    logged_ms: int
    root: bytes


def format_state_leaf(leaf: StateLeaf) -> bytes:
    """The canonical bytes `{"index":N,"logged_ms":T,"state":{"root":HEX,"v":1}}` (protocol §5.8-h)."""
    return canonical.encode(
        {"index": leaf.index, "logged_ms": leaf.logged_ms, "state": {"root": leaf.root.hex(), "v": STATE_VERSION}}
    )


def parse_state_leaf(data: bytes) -> StateLeaf:
    """Parse a state leaf strictly: canonical JSON with exactly the fields of §5.8-h.

    Raises:
        Rejected: `too_large` over MAX_STATE_LEAF_SIZE bytes; `malformed_encoding` for anything else.
    """
    if len(data) > MAX_STATE_LEAF_SIZE:
        raise Rejected(Rejection(ErrorCode.TOO_LARGE, "a state leaf is at most 1024 bytes", "5.8-h"))
    try:
        obj = canonical.decode_canonical(data, max_size=MAX_STATE_LEAF_SIZE)
    except MalformedEncoding as exc:
        raise _malformed(f"a state leaf is not canonical JSON: {exc.message}", "5.8-h") from None
    if not isinstance(obj, dict) or set(obj) != {"index", "logged_ms", "state"}:
        raise _malformed("a state leaf has exactly the fields index, logged_ms and state", "5.8-h")
    state = obj["state"]
    if not isinstance(state, dict) or set(state) != {"root", "v"} or state["v"] != STATE_VERSION:
        raise _malformed("a state leaf's state has exactly the fields root and v = 1", "5.8-h")
    index, logged_ms, root = obj["index"], obj["logged_ms"], state["root"]
    for value in (index, logged_ms):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _malformed("a state leaf's index and logged_ms are non-negative integers", "5.8-h")
    if not isinstance(root, str) or len(root) != 64 or any(c not in "0123456789abcdef" for c in root):
        raise _malformed("a state leaf's root is 64 lowercase hex digits", "5.8-h")
    return StateLeaf(int(index), int(logged_ms), bytes.fromhex(root))  # type: ignore[arg-type]


def state_payload_hash(data: bytes) -> bytes:
    """What a store records as the payload hash of a state leaf (its duplicate key): SHA-256 of its bytes.

    No statement's canonical bytes are a state leaf's, so it never equals an entry's payload hash."""
    return hashlib.sha256(data).digest()


def state_leaf_hash(leaf: StateLeaf) -> bytes:
    """The RFC 6962 leaf hash of a state leaf: SHA-256(0x00 || format_state_leaf(leaf))."""
    return merkle.leaf_hash(format_state_leaf(leaf))


def parse_log_leaf(data: bytes) -> Leaf | StateLeaf:
    """Parse any leaf of the log: an entry leaf (§5.6-a) or a state leaf (§5.8-h).

    The canonical forms differ in their first key (`{"entry":` and `{"index":`), so the first bytes
    choose the parser, and that parser is strict.

    Raises:
        Rejected: as `parse_leaf` or `parse_state_leaf`.
    """
    if data.startswith(b'{"index":'):
        return parse_state_leaf(data)
    return parse_leaf(data)


def check_state_leaf(state: State, leaf: StateLeaf, tree: SparseMerkleTree | None) -> Rejection | None:
    """Would the log accept `leaf` after `state`, whose status tree is `tree`? (protocol §5.8-i)

    A state leaf changes no member; the rules engine checks only its place and time, and the root
    (unless `tree` is None: a replay resumed without its tree cannot check it).
    """
    if leaf.index != state.size:  # [5.6-b]
        return Rejection(ErrorCode.MALFORMED_ENTRY, f"the leaf index must be {state.size}", "5.6-b")
    if leaf.logged_ms < state.last_logged_ms:  # [5.6-c]
        return Rejection(ErrorCode.BAD_TIME, "the log time must never decrease", "5.6-c")
    if tree is not None and leaf.root != tree.root:  # [5.8-i]
        message = "the state leaf's root is not the status tree root of the leaves before it"
        return Rejection(ErrorCode.AUDIT_MISMATCH, message, "5.8-i")
    return None


def apply_state_leaf(state: State, leaf: StateLeaf, tree: SparseMerkleTree | None) -> State:
    """The state after a state leaf: the same members, one more leaf, its log time (protocol §5.8-i).

    Raises:
        Rejected: the rejection of `check_state_leaf`.
    """
    if (rejection := check_state_leaf(state, leaf, tree)) is not None:
        raise Rejected(rejection)
    return replace(state, size=state.size + 1, last_logged_ms=leaf.logged_ms, touched=frozenset())


# --- deriving the tree from the state --------------------------------------------------------------


def status_leaf_of(state: State, member: Member, since: int) -> StatusLeaf:
    """The status leaf of `member` in `state`, with the given `since` index."""
    return StatusLeaf(member.key, state.status_of(member), since, member.commitment)


def build_status_tree(state: State, since: Mapping[MemberId, int]) -> SparseMerkleTree:
    """The status tree of every member of `state`; `since` gives each member's since index (default:
    its declaration index). Used for tests and to rebuild from a snapshot; replay uses
    `advance_status_tree`."""
    return SparseMerkleTree.from_items(
        (
            status_key(member_id),
            format_status_leaf(status_leaf_of(state, member, since.get(member_id, member.declared_index))),
        )
        for member_id, member in state.members.items()
    )


def changed_members(before: State | None, after: State) -> Iterator[MemberId]:
    """Every member whose status leaf may differ between `before` and `after` (a superset).

    A member changes only when its `Member` value is replaced, or when the strike limit changes (a
    status depends on it). This compares every member (O(n)); the sequencer and replay use the
    members recorded by the rules engine instead when they have them.
    """
    if before is None:
        yield from after.members.keys()
        return
    limit_changed = before.strike_limit != after.strike_limit
    for member_id, member in after.members.items():
        if before.members.get(member_id) is not member or (limit_changed and member.strikes):
            yield member_id


def advance_status_tree(
    tree: SparseMerkleTree, state: State, changed: Iterable[MemberId], index: int
) -> SparseMerkleTree:
    """Update the leaves of `changed` members to their value in `state`, after the entry at `index`.

    A member whose status differs from the one in its old leaf (or who has no leaf yet) gets
    `since = index`; otherwise its old `since` stays (protocol §5.8-c). Members are visited in
    ascending member-id order; the result does not depend on the order.
    """
    for member_id in sorted(set(changed)):
        member = state.members.get(member_id)
        if member is None:
            continue
        key = status_key(member_id)
        old = tree.get(key)
        status = state.status_of(member)
        since = index
        if old is not None:
            previous = parse_status_leaf(old)
            if previous.status is status:
                since = previous.since
        value = format_status_leaf(StatusLeaf(member.key, status, since, member.commitment))
        if value != old:
            tree = tree.set(key, value)
    return tree
