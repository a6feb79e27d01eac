"""Start-up snapshots: the replayed state of a log at one of its tree sizes, kept in its store so that a
sequencer can start without running every leaf through the rules again (protocol §9.1-i, §5.6-h).

What a snapshot holds: the tree size `size` it was taken at (a size the log signed a checkpoint for, so
leaf `size - 1` is a state leaf, §5.8-i), the root hash of the tree of that size, and the membership
state after those leaves (`registry.state.State`, every map of it) with the status leaves of its status
tree. Its bytes are

    MAGIC || tag[32] || len(header) as u32 || header || body

where the header is canonical JSON `{"code": HEX, "origin": O, "root": HEX, "size": N, "v": 1}` (`code`
is the digest of the replay code, below), the body is a sequence of pickles (the state without its maps,
then each map and the status leaves in chunks), and the tag is HMAC-SHA256 over everything after it,
keyed by `snapshot_key(signer)`: a key derived from the log's private key.

**Why a snapshot needs a tag of its own.** The last leaf of a checkpoint commits to the root of the
status tree (§5.8), and the checkpoint is signed, so the status leaves (each member's key, status, since
and commitment) of a snapshot can be checked against the log. But the state the rules run on holds much
more than the status leaves: every vouch received and given and whether it was voided, strikes, the
times that quotas and rate limits count, retired keys, the payload hashes that refuse duplicates, the
pending count and the policy in force. None of that is committed in the log except through the leaves
themselves: a snapshot with a matching status root but a changed vouch record, a forgotten payload hash
or a rewound rate-limit window would be accepted by that check alone, and the server would then admit
what the rules refuse, or refuse what they admit. So a snapshot is believed only under a tag that only
the holder of the log's private key can make: the same party, and the same key, whose signature on the
latest checkpoint the start-up already requires. Anyone who can write the database but does not hold
the key (a stolen backup restored, a tampered table) cannot make one, and whoever holds the key can
sign any checkpoint anyway.

**What the start-up still checks with a snapshot** (`registry.sequencer.load_log`): every stored row
against its own leaf bytes, every leaf hash against the stored node (0, index), every interior node
against its children, the root of the stored tree against the latest checkpoint, whose size must be
the stored tree size and whose signature must verify under the log's key, all as without one ([5.6-h]);
the snapshot's tag, then its root hash against the root of the stored tree of its size (so it is the
state of *this* log's first `size` leaves); the root of the status tree rebuilt from its status leaves
against the state leaf at `size - 1`; each member's status leaf against the state; and the leaves from
`size` to the tree size go through the rules as in a full replay. Any failure refuses the start
(`audit_mismatch`). A snapshot made by other replay code (the digest `code` differs: another version of
the rules, the state's types or this module) is not used, and the log is replayed in full: its state
might not be the one this code derives.

**Unpickling.** The body is unpickled only after its tag verified, by an unpickler that builds only the
state's own types (`_ALLOWED`), so that even a forged body could not run code.

Shell code: reads this program's own source files once, for the digest; no clock, no database (the
sequencer reads and writes the snapshot through the store).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import importlib.metadata
import importlib.util
import io
import pickle
import struct
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from typing import Final, cast

import immutables

from crypto import canonical
from crypto.notekey import NoteSigner
from crypto.smt import SparseMerkleTree

from .errors import Rejected
from .state import GivenVouch, Member, Revocation, State, VouchRecord
from .statetree import parse_status_leaf, status_key
from .store import StoreMismatch

__all__ = [
    "SNAPSHOT_VERSION",
    "Snapshot",
    "check_snapshot_state",
    "format_snapshot",
    "open_snapshot",
    "replay_code_digest",
    "snapshot_key",
]

SNAPSHOT_VERSION: Final = 1
_MAGIC: Final = b"antiwar-registry/v1 startup snapshot\n"
_KEY_LABEL: Final = b"antiwar-registry/v1\nstartup-snapshot-key\n"
_TAG_SIZE: Final = 32
_MAX_HEADER: Final = 4096
_CHUNK: Final = 64
_MAPS: Final = ("members", "keys", "retired", "seen")

_REPLAY_MODULES: Final = (
    "crypto.canonical",
    "crypto.domain",
    "crypto.keys",
    "crypto.merkle",
    "crypto.smt",
    "registry.errors",
    "registry.replay",
    "registry.rules",
    "registry.snapshot",
    "registry.state",
    "registry.statements",
    "registry.statetree",
)
"""The modules whose code decides the replayed state and how a snapshot encodes it."""

_ALLOWED: Final = frozenset(
    {
        ("immutables._map", "Map"),
        ("registry.state", "GivenVouch"),
        ("registry.state", "Member"),
        ("registry.state", "Revocation"),
        ("registry.state", "State"),
        ("registry.state", "Status"),
        ("registry.state", "VouchRecord"),
        ("registry.statements", "Params"),
        ("registry.statements", "PolicyStatement"),
        ("registry.statements", "Reason"),
        ("registry.statements", "StatementType"),
        ("registry.snapshot", "_build"),
    }
)
"""The only classes (and the one function) a snapshot's body may build objects with."""

_SLOTS: Final[dict[type, tuple[str, ...]]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in (Member, VouchRecord, GivenVouch, Revocation)
}
"""The frozen values a state holds by the hundred thousand, pickled as (class, field values): the
dataclasses' own pickling looks their fields up again for every object, which took a third of the time
to read a snapshot."""


def _build(cls: type, values: tuple[object, ...]) -> object:
    """One frozen value of `_SLOTS` from its field values (what `_Pickler` writes)."""
    names = _SLOTS.get(cls)
    if names is None or len(values) != len(names):
        raise pickle.UnpicklingError("a snapshot may build only the state's own values")
    value: object = object.__new__(cls)
    for name, field_value in zip(names, values, strict=True):
        object.__setattr__(value, name, field_value)
    return value


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: object) -> tuple[Callable[..., object], tuple[object, ...]]:
        names = _SLOTS.get(type(obj))
        if names is None:
            return NotImplemented  # type: ignore[no-any-return]  # pickle's "reduce it as usual"
        return _build, (type(obj), tuple(getattr(obj, name) for name in names))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state after the first `size` leaves of a log whose tree of that size has root `root_hash`,
    with its status tree (protocol §5.8)."""

    size: int
    root_hash: bytes
    state: State
    tree: SparseMerkleTree


def snapshot_key(signer: NoteSigner) -> bytes:
    """The key of snapshot tags: HMAC-SHA256(the log's Ed25519 seed, label || origin). Only the holder of
    the log's private key can compute it; it is never stored or sent."""
    # The seed is read here only to derive this key (an HMAC is a PRF: the key reveals nothing of it).
    return hmac.new(signer.key.seed, _KEY_LABEL + signer.name.encode("utf-8"), hashlib.sha256).digest()


def _code_digest() -> bytes:
    digest = hashlib.sha256(f"python {sys.version_info[0]}.{sys.version_info[1]}\n".encode())
    digest.update(f"immutables {importlib.metadata.version('immutables')}\n".encode())
    for name in _REPLAY_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:  # pragma: no cover - our own modules are always found
            raise RuntimeError(f"the module {name} has no source")
        with open(spec.origin, "rb") as file:
            source = file.read()
        digest.update(b"%s %d\n" % (name.encode(), len(source)))
        digest.update(source)
    return digest.digest()


_CODE_DIGEST: Final = _code_digest()
# Read when this module is imported, next to the modules it names (the sequencer imports them all
# first), not when a snapshot is written: a server whose files are replaced while it runs must not tag
# the state its old code derived with the new code's digest.


def replay_code_digest() -> bytes:
    """SHA-256 over the source of `_REPLAY_MODULES` as this process loaded them, the Python version and
    the `immutables` version."""
    return _CODE_DIGEST


def _chunks(items: Iterable[object]) -> Iterator[list[object]]:
    it = iter(items)
    while chunk := list(islice(it, _CHUNK)):
        yield chunk


def _body(snapshot: Snapshot, pause: Callable[[], None] | None) -> bytes:
    """The state without its maps, then each map and the status leaves, in chunks ended by None.

    Many small pickles rather than one: each `dump` is short (at most 1.8 ms for 64 members of a
    100,000-leaf log; 98 ms for the 4,096 of an earlier version), and `pause` runs between them."""
    out = io.BytesIO()

    def dump(value: object) -> None:  # one pickle each, with its own memo: read back by one `load` each
        _Pickler(out, protocol=5).dump(value)
        if pause is not None:
            pause()

    state = snapshot.state
    empty: dict[str, immutables.Map[object, object]] = {name: immutables.Map() for name in _MAPS}
    dump(replace(state, touched=frozenset(), **empty))  # type: ignore[arg-type]
    for name in _MAPS:
        mapping = cast("immutables.Map[object, object]", getattr(state, name))
        for chunk in _chunks(mapping.items()):
            dump(chunk)
        dump(None)
    for chunk in _chunks(snapshot.tree.items()):
        dump(chunk)
    dump(None)
    return out.getvalue()


def format_snapshot(key: bytes, origin: str, snapshot: Snapshot, *, pause: Callable[[], None] | None = None) -> bytes:
    """The stored bytes of `snapshot` of the log `origin`, tagged with `key` (`snapshot_key`).

    `pause` is called between the body's pieces: a writer in a background thread passes one that sleeps
    now and then, so that the threads answering requests are not kept waiting for the interpreter lock."""
    header = canonical.encode(
        {
            "code": replay_code_digest().hex(),
            "origin": origin,
            "root": snapshot.root_hash.hex(),
            "size": snapshot.size,
            "v": SNAPSHOT_VERSION,
        }
    )
    pieces = (struct.pack(">I", len(header)), header, _body(snapshot, pause))
    return b"".join((_MAGIC, _tag(key, pieces), *pieces))  # the body is copied once, not thrice


def _tag(key: bytes, pieces: Iterable[bytes]) -> bytes:
    """HMAC-SHA256 under `key` of the pieces, in order: the tag of the bytes after it."""
    tag = hmac.new(key, digestmod=hashlib.sha256)
    for piece in pieces:
        tag.update(piece)  # OpenSSL's HMAC, which lets other threads run while it reads a large piece
    return tag.digest()


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"a snapshot may not hold {module}.{name}")
        return super().find_class(module, name)


def _refused(message: str) -> StoreMismatch:
    return StoreMismatch(f"the stored start-up snapshot {message}")


def open_snapshot(key: bytes, origin: str, data: bytes) -> Snapshot | None:
    """Check a stored snapshot's tag and read it; None when other replay code made it (see the module
    docstring: the caller then replays the whole log).

    The snapshot's root hash and state are not checked against the log here (`check_snapshot_state`
    and `registry.sequencer.load_log` do that).

    Raises:
        StoreMismatch (`audit_mismatch`): a bad tag (not made with this log's key), or a tagged
            snapshot that is malformed or of another origin.
    """
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + _TAG_SIZE + 4:
        raise _refused("is not a snapshot")
    tag, signed = data[len(_MAGIC) : len(_MAGIC) + _TAG_SIZE], data[len(_MAGIC) + _TAG_SIZE :]
    if not hmac.compare_digest(tag, _tag(key, (signed,))):
        raise _refused("is not tagged with this log's key")
    (length,) = struct.unpack(">I", signed[:4])
    try:
        if length > _MAX_HEADER:
            raise ValueError("header too long")
        header = canonical.decode_canonical(signed[4 : 4 + length], max_size=_MAX_HEADER)
        if not isinstance(header, dict) or set(header) != {"code", "origin", "root", "size", "v"}:
            raise ValueError("wrong header fields")
        if header["v"] != SNAPSHOT_VERSION or header["code"] != replay_code_digest().hex():
            return None  # made by other code: its state might not be the one this code derives
        size, root = header["size"], bytes.fromhex(str(header["root"]))
        if not isinstance(size, int) or isinstance(size, bool) or size < 1 or len(root) != 32:
            raise ValueError("bad size or root")
        if header["origin"] != origin:
            raise _refused(f"is of the log {header['origin']!r}, not of {origin!r}")
        state, tree = _read_body(signed[4 + length :])
    except StoreMismatch:
        raise
    except Exception as exc:
        # Unpickling bytes that carry a valid tag but are not a snapshot this code wrote (a bug, a hostile
        # key holder) raises whatever the pickle machine meets: besides ValueError, TypeError, KeyError,
        # EOFError and UnpicklingError, an OverflowError or MemoryError for a frame or string length of
        # 2^63 bytes, IndexError, AttributeError, RecursionError. Each is a refused snapshot, never a
        # crash (found by tests/property/test_snapshot_bytes.py).
        raise _refused(f"is malformed ({type(exc).__name__})") from None
    if state.size != size or state.origin != origin:
        raise _refused(f"holds the state of size {state.size} of {state.origin!r}, its header says {size}")
    return Snapshot(size, root, state, tree)


def _read_body(body: bytes) -> tuple[State, SparseMerkleTree]:
    stream = io.BytesIO(body)
    bare = _Unpickler(stream).load()
    if not isinstance(bare, State):
        raise TypeError("not a state")
    maps: dict[str, immutables.Map[object, object]] = {}
    for name in _MAPS:
        maps[name] = immutables.Map(_items(stream))
    tree = SparseMerkleTree.from_items(cast("Iterator[tuple[bytes, bytes]]", _items(stream)))
    if stream.tell() != len(body):
        raise ValueError("trailing bytes")
    return replace(bare, **maps), tree  # type: ignore[arg-type]


def _items(stream: io.BytesIO) -> Iterator[tuple[object, object]]:
    while (chunk := _Unpickler(stream).load()) is not None:
        if not isinstance(chunk, list):
            raise TypeError("not a chunk")
        for item in chunk:
            if not isinstance(item, tuple) or len(item) != 2:
                raise TypeError("not an item")
            yield item


def check_snapshot_state(snapshot: Snapshot, state_leaf_root: bytes) -> None:
    """Check a snapshot's status tree against the root in the state leaf at `size - 1` (which the
    caller read from the log and checked against the signed checkpoint), and each member's status leaf
    against the state: its current key, status and commitment (protocol §5.8-c).

    Raises:
        StoreMismatch (`audit_mismatch`): the first disagreement.
    """
    state, tree = snapshot.state, snapshot.tree
    if tree.root != state_leaf_root:
        raise _refused(f"of size {snapshot.size} has a status tree whose root is not the log's state leaf's")
    if len(tree) != len(state.members):
        raise _refused(f"of size {snapshot.size} has {len(tree)} status leaves for {len(state.members)} members")
    for member_id, member in state.members.items():
        value = tree.get(status_key(member_id))
        try:
            leaf = None if value is None else parse_status_leaf(value)
        except Rejected:
            leaf = None
        if (
            leaf is None
            or leaf.key != member.key
            or leaf.status is not state.status_of(member)
            or leaf.commitment != member.commitment
        ):
            raise _refused(f"of size {snapshot.size} has a status leaf that disagrees with its state")
