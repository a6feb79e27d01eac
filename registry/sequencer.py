"""The sequencer: the one writer of a log (protocol §5.6).

It admits entries through the rules engine, assigns each its index (the tree position) and log time,
extends the Merkle tree, signs one checkpoint for the new tree size, and commits leaves, tree nodes and
checkpoint in one transaction that compare-and-swaps the stored tree size ([5.6-d] to [5.6-g], [5.6-j]).
Only then does it return receipts.

At open it replays every stored leaf through the same `apply` the auditor runs, rebuilds the tree's
frontier from the stored nodes, and refuses to start unless the leaves, the nodes and the latest
checkpoint agree ([5.6-h]). With a start-up snapshot in the store (protocol §9.1-i, `registry.snapshot`:
the state at an earlier tree size, tagged with a key only the log's private key gives), it runs only
the leaves after the snapshot through the rules, and still checks every row, leaf hash, node and the
latest checkpoint. It writes such a snapshot itself, in the background, every so many leaves.

Every batch ends with a state leaf (protocol §5.8-i): the root of the status tree after the batch's
entries, so that the last leaf of every checkpoint the log signs commits to the members' status. The
sequencer keeps the status tree (a persistent value) beside the state, and the trees of the last few
checkpoints, from which credentials are built.

Shell code: it holds the only clock of the write path (an injected `Clock`), and in-memory state
guarded by one lock. It does not batch requests (the API does) and does not talk to witnesses.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final

from crypto.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from crypto.errors import BadProof, CryptoError
from crypto.merkle import (
    MerkleTree,
    hash_leaves,
    node_hash,
    perfect_subtrees,
)
from crypto.nodestore import NodeKey, NodeRun, NodeStore
from crypto.note import format_note, parse_note
from crypto.notekey import NoteSigner, NoteVerifier, parse_vkey
from crypto.smt import SparseMerkleTree

from .credential import Credential
from .errors import ErrorCode, RegistryError, Rejected, Rejection
from .replay import Replayed, replay_log_leaf
from .rules import Context, apply, check, genesis
from .snapshot import Snapshot, check_snapshot_state, format_snapshot, open_snapshot
from .snapshot import snapshot_key as startup_key
from .state import State
from .statements import Entry, VerifiedEntry, format_leaf, parse_entry, verify_entry
from .statetree import (
    StateLeaf,
    advance_status_tree,
    format_state_leaf,
    parse_state_leaf,
    parse_status_leaf,
    state_payload_hash,
    status_key,
)
from .store import Append, Store, StoredEntry, StoreError, StoreMismatch, WriteConflict
from .store_rows import check_rows, checked_leaves

__all__ = ["Clock", "LoadedLog", "Receipt", "Sequencer", "init_log", "load_log"]

Clock = Callable[[], int]
"""Returns the current time in integer milliseconds since the Unix epoch. Injected: the sequencer reads
time nowhere else."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the log returns for an accepted entry, once it is durable and covered by a checkpoint.

    `checkpoint` is the signed note of the batch's tree size; `inclusion_proof` proves the leaf hash at
    `index` in that tree (RFC 6962 PATH, leaf's sibling first).
    """

    index: int
    leaf_hash: bytes
    checkpoint: bytes
    inclusion_proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class LoadedLog:
    """A stored log replayed and checked: its state (None while empty), size, root hash, frontier and
    latest checkpoint note (None while empty)."""

    origin: str
    verifier: NoteVerifier
    state: State | None
    size: int
    root_hash: bytes
    frontier: Mapping[NodeKey, bytes]
    checkpoint: bytes | None
    tree: SparseMerkleTree = field(default_factory=SparseMerkleTree)
    """The status tree after the `size` leaves (protocol §5.8)."""
    replayed_from: int = 0
    """The size of the start-up snapshot the rules were run from (0: from genesis, every leaf)."""


class _Overlay:
    """A `NodeStore` over the store's nodes plus nodes known in memory (the frontier, and the runs of a
    batch not yet committed). Owner: one sequencer call; `put_nodes` writes only to this object."""

    __slots__ = ("_base", "known")

    def __init__(self, base: NodeStore, known: Mapping[NodeKey, bytes]) -> None:
        self._base = base
        self.known: dict[NodeKey, bytes] = dict(known)

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        missing = [k for k in keys if k not in self.known]
        if missing:
            fetched = dict(zip(missing, self._base.get_nodes(missing), strict=True))
            return [self.known[k] if k in self.known else fetched[k] for k in keys]
        return [self.known[k] for k in keys]

    def put_nodes(self, runs: Sequence[NodeRun]) -> None:
        for run in runs:
            self.known.update(run.items())


def _not_found(message: str) -> RegistryError:
    return RegistryError(Rejection(ErrorCode.NOT_FOUND, message, ""))


def _frontier(tree_nodes: NodeStore, size: int) -> dict[NodeKey, bytes]:
    keys = perfect_subtrees(0, size)
    return dict(zip(keys, tree_nodes.get_nodes(keys), strict=True))


def _replay_rows(store: Store, current: Replayed, start: int, end: int) -> Replayed:
    """Replay stored leaves [start, end) onto `current`, checking each row, its stored leaf hash and
    every state leaf's root ([5.8-j])."""
    level0 = _nodes_or_mismatch(store.nodes.iter_level(0, start, end))
    count = 0
    for leaf in checked_leaves(store.iter_entries(start, end), start, level0):
        try:
            current = replay_log_leaf(current, leaf)
        except Rejected as exc:
            raise StoreMismatch(f"the stored leaf at index {leaf.index} breaks a rule: {exc.code}") from exc
        count += 1
    if count != end - start:
        raise StoreMismatch(f"the stored log has no leaf at index {start + count}")
    return current


def _check_rows(store: Store, start: int, end: int) -> None:
    """Check stored rows [start, end) against their leaves and stored leaf hashes without replaying them
    (`registry.store_rows.check_rows`): the rows a start-up snapshot covers (protocol §9.1-i)."""
    check_rows(store.iter_entries(start, end), start, end, _nodes_or_mismatch(store.nodes.iter_level(0, start, end)))


def _read_snapshot(store: Store, key: bytes, origin: str, size: int) -> Snapshot | None:
    """The stored start-up snapshot when there is one this code can use, checked against the stored
    tree and its state leaf (protocol §9.1-i); None when there is none or other replay code made it.

    Requires the rows [0, snapshot size) to be checked (`_check_rows`) before it is trusted; the stored
    interior nodes and the latest checkpoint are checked by `load_log` after it.

    Raises:
        StoreMismatch (`audit_mismatch`): the snapshot is not this log's, or disagrees with it.
    """
    stored = store.snapshot()
    if stored is None:
        return None
    snapshot = open_snapshot(key, origin, stored[1])
    if snapshot is None:
        return None
    if snapshot.size > size:
        raise StoreMismatch(
            f"the stored log has {size} leaves, fewer than its start-up snapshot of size {snapshot.size}"
        )
    _check_rows(store, 0, snapshot.size)
    try:
        root = MerkleTree(_Overlay(store.nodes, _frontier(store.nodes, snapshot.size)), snapshot.size).root()
        last = parse_state_leaf(store.leaf(snapshot.size - 1) or b"")
    except (CryptoError, Rejected) as exc:
        raise StoreMismatch(f"the stored log has no state leaf or tree of size {snapshot.size}: {exc.code}") from exc
    if root != snapshot.root_hash:
        raise StoreMismatch(f"the start-up snapshot of size {snapshot.size} is not of the stored tree of that size")
    check_snapshot_state(snapshot, last.root)
    return snapshot


def _nodes_or_mismatch(nodes: Iterator[bytes]) -> Iterator[bytes]:
    """`nodes`, with an absent node reported as a `StoreMismatch`."""
    try:
        yield from nodes
    except BadProof as exc:
        raise StoreMismatch(f"the stored tree is incomplete: {exc.message}") from exc


def _check_upper_levels(store: Store, size: int) -> None:
    """Every stored interior node of the tree of `size` leaves is the hash of its two children.

    Level 0 (the leaf hashes) is checked against the leaves during replay; each level above is read
    once, alongside the level below it, so memory stays constant.
    """
    for level in range(1, size.bit_length()):
        count = size >> level
        lower = _nodes_or_mismatch(store.nodes.iter_level(level - 1, 0, 2 * count))
        upper = _nodes_or_mismatch(store.nodes.iter_level(level, 0, count))
        for index, (value, left, right) in enumerate(zip(upper, lower, lower, strict=False)):
            if node_hash(left, right) != value:
                raise StoreMismatch(f"the stored tree node ({level}, {index}) is not the hash of its children")


def _check_head(store: Store, verifier: NoteVerifier, origin: str, size: int, root: bytes) -> bytes | None:
    """The latest checkpoint note, after checking it is signed by the log and states (size, root)."""
    latest = store.latest_checkpoint()
    if latest is None:
        if size:
            raise StoreMismatch(f"the stored log has {size} leaves but no checkpoint")
        return None
    cp_size, note = latest
    if cp_size != size:
        raise StoreMismatch(f"the latest checkpoint is for size {cp_size}, the stored tree size is {size}")
    try:
        cp, _ = open_checkpoint(note, verifier, origin=origin)
    except CryptoError as exc:
        raise StoreMismatch(f"the latest stored checkpoint does not verify: {exc.code}") from exc
    if cp.size != size or cp.root_hash != root:
        raise StoreMismatch(f"the checkpoint of size {size} does not match the stored tree's root hash")
    return note


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (reference counting goes on), then resume it if it ran.

    Loading a log builds millions of long-lived objects (the state is frozen values, without cycles);
    the collector would traverse the growing heap again and again, which took more than half the time
    of a start from a snapshot of 100,000 leaves.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_log(store: Store, *, snapshot_key: bytes | None = None) -> LoadedLog:
    """Replay and check a stored log ([5.6-h]); needs no private key.

    Steps: read the meta row; replay every leaf [0, tree size) through the rules engine, checking each
    row against its leaf and its stored leaf hash; check every stored interior node is the hash of its
    children; compute the root hash from the stored frontier; check the latest checkpoint is the log's
    signature over that size and root.

    With `snapshot_key` (`registry.snapshot.snapshot_key` of the log's signer) and a usable start-up
    snapshot of size s in the store (protocol §9.1-i): check the rows [0, s) against their leaves and
    leaf hashes without replaying them, check the snapshot (its tag, its root against the stored tree of
    size s, its status tree against the state leaf at s - 1), and replay only [s, tree size) from its
    state; every other step is the same.

    Raises:
        NoLog (`not_found`): no log in the database.
        StoreMismatch (`audit_mismatch`): any check fails.
        StoreUnavailable (`unavailable`): the database failed.
    """
    with _collector_paused():
        return _load_log(store, snapshot_key)


def _load_log(store: Store, snapshot_key: bytes | None) -> LoadedLog:
    meta = store.meta()
    try:
        verifier = parse_vkey(meta.log_vkey)
    except CryptoError as exc:
        raise StoreMismatch(f"the stored log key is not a valid verifier key: {exc.code}") from exc
    size = meta.tree_size
    snapshot = None if snapshot_key is None else _read_snapshot(store, snapshot_key, meta.origin, size)
    if snapshot is None:
        replayed = _replay_rows(store, Replayed.empty(), 0, size)
    else:
        replayed = _replay_rows(store, Replayed(snapshot.state, snapshot.tree), snapshot.size, size)
    _check_upper_levels(store, size)
    try:
        frontier = _frontier(store.nodes, size)
        root = MerkleTree(_Overlay(store.nodes, frontier), size).root()
    except CryptoError as exc:
        raise StoreMismatch(f"the stored tree nodes of size {size} are incomplete: {exc.code}") from exc
    note = _check_head(store, verifier, meta.origin, size, root)
    if size and not _ends_with_state_leaf(store, size):
        raise StoreMismatch(f"the last leaf of the checkpoint of size {size} is not a state leaf")
    start = 0 if snapshot is None else snapshot.size
    return LoadedLog(
        meta.origin, verifier, replayed.state, size, root, MappingProxyType(frontier), note, replayed.tree, start
    )


def _ends_with_state_leaf(store: Store, size: int) -> bool:
    last = store.leaf(size - 1)
    return last is not None and last.startswith(b'{"index":')


class Sequencer:
    """The one writer of a log. See the module docstring.

    Shared state: `_log` (a frozen `LoadedLog` snapshot) is replaced, never mutated, by `submit_batch`
    after a commit, under `_lock`; readers take the reference once and need no lock. `_trees` (the
    status trees of the last `TREES_KEPT` checkpoints, by size) is replaced the same way. `_stale`,
    `_fenced`, `_snapshot_size` and `_snapshotting` are written under `_lock` only; the thread that
    writes a start-up snapshot reads only the frozen `LoadedLog` it was given.
    """

    TREES_KEPT: Final = 16
    SNAPSHOT_EVERY = 16_384
    """A start-up snapshot is written (in the background) once the log has grown by this many leaves, or
    by a sixteenth of the last snapshot's size if more, since the last one (protocol §9.1-i)."""

    def __init__(
        self, store: Store, signer: NoteSigner, clock: Clock, log: LoadedLog, *, snapshot_every: int | None = None
    ) -> None:
        """Use `Sequencer.open`."""
        self._snapshot_every: Final = self.SNAPSHOT_EVERY if snapshot_every is None else max(1, snapshot_every)
        self._store: Final = store
        self._signer: Final = signer
        self._clock: Final = clock
        self._lock: Final = threading.Lock()
        self._log = log
        self._trees: Mapping[int, SparseMerkleTree] = MappingProxyType({log.size: log.tree})
        self._stale = False
        self._fenced: str | None = None
        self._snapshot_key: Final = startup_key(signer)
        self._snapshot_size = log.replayed_from
        self._snapshotting = False

    @classmethod
    def open(
        cls,
        store: Store,
        signer: NoteSigner,
        clock: Clock,
        *,
        full_check: bool = False,
        snapshot_every: int | None = None,
    ) -> Sequencer:
        """Load, replay and check the stored log (`load_log`), then take its writer role.

        Starts from the store's start-up snapshot when it has a usable one (protocol §9.1-i), unless
        `full_check`: then every leaf goes through the rules from genesis, as `registry audit` does. When
        the log has grown enough since its last snapshot (`snapshot_every` leaves, default
        `SNAPSHOT_EVERY`, or a sixteenth of the last snapshot's size if more), a new one is written in the
        background.

        Raises:
            NoLog (`not_found`): the database holds no log.
            StoreMismatch (`audit_mismatch`): the stored log fails a check of `load_log`, its snapshot is
                not this log's or disagrees with it, or `signer` is not the log's key.
            StoreUnavailable (`unavailable`): the database failed.
        """
        meta = store.meta()  # checked first: the snapshot's key is derived from the signer's
        if signer.name != meta.origin or signer.vkey != meta.log_vkey:
            raise StoreMismatch("the signing key is not this log's key")
        log = load_log(store, snapshot_key=None if full_check else startup_key(signer))
        sequencer = cls(store, signer, clock, log, snapshot_every=snapshot_every)
        with sequencer._lock:
            sequencer._maybe_snapshot()
        return sequencer

    # --- reads (no lock) --------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return self._log.origin

    @property
    def verifier(self) -> NoteVerifier:
        """The log's public key; its `vkey` is what verifiers configure."""
        return self._log.verifier

    @property
    def state(self) -> State | None:
        """The membership state after every committed leaf (None before genesis)."""
        return self._log.state

    @property
    def size(self) -> int:
        """The committed tree size."""
        return self._log.size

    @property
    def root_hash(self) -> bytes:
        return self._log.root_hash

    @property
    def replayed_from(self) -> int:
        """The size of the start-up snapshot this sequencer opened from (0: every leaf went through the
        rules at open; protocol §9.1-i)."""
        return self._log.replayed_from

    @property
    def status_tree(self) -> SparseMerkleTree:
        """The status tree after every committed leaf (protocol §5.8)."""
        return self._log.tree

    def status_tree_at(self, size: int) -> SparseMerkleTree | None:
        """The status tree of the checkpoint of `size` when it is one of the last few, else None. Its
        root is the root of that checkpoint's last leaf, a state leaf."""
        return self._trees.get(size)

    @property
    def latest_checkpoint(self) -> bytes | None:
        """The signed checkpoint note of the committed tree size (None before genesis)."""
        return self._log.checkpoint

    def checkpoint(self, size: int) -> bytes | None:
        """The signed checkpoint note stored for tree size `size`, if the log signed one."""
        if size > self._log.size:
            return None
        return self._store.checkpoint(size)

    def leaf(self, index: int) -> bytes:
        """The leaf bytes at `index`. Requires 0 <= index < size.

        Raises:
            RegistryError (`not_found`): index out of range.
        """
        if not 0 <= index < self._log.size:
            raise _not_found(f"leaf index {index} is not below the tree size {self._log.size}")
        leaf = self._store.leaf(index)
        if leaf is None:
            raise StoreMismatch(f"the stored log has no leaf at index {index}")
        return leaf

    def leaves(self, start: int, end: int) -> list[bytes]:
        """The leaves of [start, end). Requires 0 <= start <= end <= size.

        Raises:
            RegistryError (`not_found`): range out of bounds.
        """
        if not 0 <= start <= end <= self._log.size:
            raise _not_found(f"leaf range [{start}, {end}) is not within the tree size {self._log.size}")
        leaves = self._store.leaves(start, end)
        if len(leaves) != end - start:
            raise StoreMismatch(f"the stored log is missing leaves in [{start}, {end})")
        return leaves

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size]). Requires 0 <= index < size <= the tree size.

        Raises:
            RegistryError (`not_found`): out of range.
        """
        log = self._log
        if not 0 <= index < size <= log.size:
            raise _not_found(f"no inclusion proof for index {index} in size {size} (tree size {log.size})")
        return self._proof(log, lambda tree: tree.inclusion_proof(index, size))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 6962 PROOF(old_size, D[0:new_size]). Requires 0 <= old_size <= new_size <= the tree size.

        Raises:
            RegistryError (`not_found`): out of range.
        """
        log = self._log
        if not 0 <= old_size <= new_size <= log.size:
            raise _not_found(f"no consistency proof from size {old_size} to {new_size} (tree size {log.size})")
        return self._proof(log, lambda tree: tree.consistency_proof(old_size, new_size))

    def _proof(self, log: LoadedLog, make: Callable[[MerkleTree], list[bytes]]) -> list[bytes]:
        try:
            return make(MerkleTree(_Overlay(self._store.nodes, log.frontier), log.size))
        except BadProof as exc:
            raise StoreMismatch(f"the stored tree nodes are incomplete: {exc.message}") from exc

    def credential(self, ident: bytes, note: bytes | None = None) -> Credential:
        """A credential for the member named by `ident` (member id, current or retired key) (§9.7-c).

        Built from one snapshot: the latest checkpoint, or `note` (a checkpoint of this log, e.g. the
        cosigned one the server publishes) when its tree is one of the last few kept. Nothing is
        verified here; the member and any verifier check it (§8.1).

        Raises:
            RegistryError (`not_found`): the log is empty, or `note`'s tree is no longer kept.
            RegistryError (`unknown_member`): no member has this id or key.
        """
        log = self._log
        if log.state is None or log.checkpoint is None:
            raise _not_found("the log has no checkpoint yet")
        member = log.state.resolve(ident)
        if member is None:
            raise RegistryError(Rejection(ErrorCode.UNKNOWN_MEMBER, "no member has this id or key in the log", "7.3-e"))
        try:
            parsed = parse_note(note or log.checkpoint)
            cp = open_checkpoint(format_note(parsed), log.verifier, origin=log.origin)[0]
        except CryptoError as exc:
            message = f"not a checkpoint of this log: {exc.message}"
            raise RegistryError(Rejection(ErrorCode.BAD_SIGNATURE, message, "")) from None
        tree = log.tree if cp.size == log.size else self._trees.get(cp.size)
        if tree is None or cp.size > log.size:
            raise _not_found(f"the status tree of size {cp.size} is no longer kept")
        key = status_key(member.member_id)
        value = tree.get(key)
        if value is None:  # every member has a leaf ([5.8-c]); only a checkpoint before it joined lacks one
            raise RegistryError(Rejection(ErrorCode.UNKNOWN_MEMBER, "the member joined after this checkpoint", "5.8-c"))
        state_leaf = parse_state_leaf(self.leaf(cp.size - 1))
        proof = tuple(self._proof(log, lambda t: t.inclusion_proof(cp.size - 1, cp.size)))
        return Credential(parsed, cp, proof, state_leaf, member.member_id, parse_status_leaf(value), tree.prove(key))

    def validate(self, entry_bytes: bytes) -> Rejection | None:
        """Would this entry be accepted now? The dry run of `submit`, at the clock's now; writes nothing."""
        log = self._log
        state = log.state
        now = self._now(state)
        try:
            entry = parse_entry(entry_bytes)
            if state is None:
                genesis(verify_entry(entry, log.origin), Context(0, now))
                return None
            return check(state, verify_entry(entry, state.origin), Context(state.size, now))
        except Rejected as exc:
            return exc.rejection

    # --- the write ----------------------------------------------------------------------------------

    def submit(self, entry_bytes: bytes) -> Receipt | Rejection:
        """Submit one entry; see `submit_batch`."""
        return self.submit_batch([entry_bytes])[0]

    def submit_batch(self, entries: Sequence[bytes | VerifiedEntry]) -> list[Receipt | Rejection]:
        """Admit, sequence and commit a batch; one result per entry, in order.

        An entry is its canonical bytes, or the `VerifiedEntry` that `verify_entry(parse_entry(bytes),
        origin)` made of them for this log's origin ([9.2-f]: the server's admission already ran those
        stateless checks, and they are not run twice); a `VerifiedEntry` for another origin is refused
        `wrong_origin` exactly as its bytes would be.

        Steps ([5.6-j]): 1. take one log time, max(clock, last log time); 2. for each entry in order:
        parse, verify its signatures, `apply` it to a working copy of the state at the next index (a
        rejected entry leaves the working state as it was, so a duplicate of an earlier entry of the
        same batch is `duplicate_entry`); 3. build the leaves, extend a working copy of the tree and
        sign one checkpoint for the new size ([5.6-f]); 4. commit everything in one transaction that
        compare-and-swaps the stored tree size ([5.6-g]); 5. only then publish the new state and return
        receipts ([5.6-d]). With no entry accepted nothing is written and no checkpoint is signed.

        Raises:
            WriteConflict (`unavailable`): another sequencer wrote to the log; nothing was written, and
                this sequencer refuses every later write (reopen it to take over).
            StoreUnavailable (`unavailable`), or what a `Faults` hook raised: the commit failed or its
                outcome is unknown; the in-memory state is unchanged and the next call first reloads
                whatever the store committed.
            StoreMismatch (`audit_mismatch`): the store disagrees with this sequencer.
        """
        with self._lock:
            if self._fenced is not None:
                raise WriteConflict(self._fenced)
            if self._stale:
                self._catch_up()
            log = self._log
            state = log.state
            status = log.tree
            now = self._now(state)  # step 1
            results: list[Receipt | Rejection | None] = [None] * len(entries)
            accepted: list[tuple[int, Entry]] = []
            for position, raw in enumerate(entries):  # step 2
                index = log.size + len(accepted)
                try:
                    verified = _verified(raw, log.origin)
                    state = self._advance(state, verified, Context(index, now))
                except Rejected as exc:
                    results[position] = exc.rejection
                    continue
                status = advance_status_tree(status, state, state.touched, index)
                accepted.append((position, verified.entry))
            if not accepted or state is None:
                return [r for r in results if r is not None]
            # Step 3: the leaves, then the state leaf ([5.8-i]), a working tree (the shared frontier is
            # copied, not touched), one checkpoint.
            rows = tuple(
                StoredEntry(log.size + i, format_leaf(log.size + i, now, entry), entry.payload_hash, now)
                for i, (_, entry) in enumerate(accepted)
            )
            state_leaf = StateLeaf(log.size + len(accepted), now, status.root)
            state_bytes = format_state_leaf(state_leaf)
            rows += (StoredEntry(state_leaf.index, state_bytes, state_payload_hash(state_bytes), now),)
            state = replace(state, size=state.size + 1, last_logged_ms=now, touched=frozenset())
            leaf_hashes = hash_leaves(r.leaf for r in rows)
            work = _Overlay(self._store.nodes, log.frontier)
            tree = MerkleTree(work, log.size)
            extension = tree.extend(leaf_hashes)
            new_size = extension.tree_size
            note = format_note(sign_checkpoint(Checkpoint(log.origin, new_size, extension.root_hash), self._signer))
            for i, (position, _) in enumerate(accepted):
                proof = tuple(tree.inclusion_proof(log.size + i, new_size))
                results[position] = Receipt(log.size + i, leaf_hashes[i], note, proof)
            frontier = MappingProxyType({k: work.known[k] for k in perfect_subtrees(0, new_size)})
            new_log = LoadedLog(log.origin, log.verifier, state, new_size, extension.root_hash, frontier, note, status)
            # Step 4.
            try:
                self._store.append(Append(log.size, rows, extension.runs, note))
            except WriteConflict as exc:
                self._fenced = exc.message
                raise
            except BaseException:
                # Nothing or everything was committed; which one is read from the store next time.
                self._stale = True
                raise
            # Committed. If the process dies on the next line, the batch's leaves, nodes and checkpoint
            # are durable together and a restarted sequencer serves them, but no receipt was returned:
            # a client that resubmits gets `duplicate_entry` and finds its entry by payload hash.
            self._log = new_log  # step 5
            self._keep_tree(new_size, status)
            self._maybe_snapshot()
            return [r for r in results if r is not None]

    # --- start-up snapshots (protocol §9.1-i) -------------------------------------------------------

    def write_snapshot(self) -> int:
        """Write a start-up snapshot of the committed log now, in this thread; return its size (0 when
        nothing was written: an empty log, or a larger snapshot already stored).

        Raises:
            StoreUnavailable (`unavailable`): read-only store, or the database failed.
        """
        written = self._write_snapshot(self._log)
        with self._lock:
            self._snapshot_size = max(self._snapshot_size, written)
        return written

    def _write_snapshot(self, log: LoadedLog, pause: Callable[[], None] | None = None) -> int:
        if log.state is None or log.size == 0:
            return 0
        snapshot = Snapshot(log.size, log.root_hash, log.state, log.tree)
        data = format_snapshot(self._snapshot_key, log.origin, snapshot, pause=pause)
        return log.size if self._store.put_snapshot(log.size, data) else 0

    def _maybe_snapshot(self) -> None:
        """Start writing a snapshot in the background when one is due and none is being written. Under
        `_lock`."""
        log = self._log
        due = max(self._snapshot_every, self._snapshot_size // 16)
        if self._snapshotting or not self._store.writable or log.size - self._snapshot_size < due:
            return
        self._snapshotting = True
        thread = threading.Thread(target=self._snapshot_in_background, args=(log,), name="snapshot", daemon=True)
        thread.start()

    def _snapshot_in_background(self, log: LoadedLog) -> None:
        written = 0
        try:
            written = self._write_snapshot(log, _paced())
        except StoreError:
            pass  # a snapshot is a cache: the next one is due again at the next commit
        finally:
            with self._lock:
                self._snapshotting = False
                self._snapshot_size = max(self._snapshot_size, written)

    def _keep_tree(self, size: int, tree: SparseMerkleTree) -> None:
        """Remember the status tree of a new checkpoint; keep the last TREES_KEPT. Under `_lock`."""
        trees = dict(self._trees)
        trees[size] = tree
        for old in sorted(trees)[: -self.TREES_KEPT]:
            del trees[old]
        self._trees = MappingProxyType(trees)

    def _now(self, state: State | None) -> int:
        # protocol §5.6-c: the log time never decreases, whatever the clock says.
        return max(int(self._clock()), 0 if state is None else state.last_logged_ms)

    @staticmethod
    def _advance(state: State | None, verified: VerifiedEntry, ctx: Context) -> State:
        if state is None:
            return genesis(verified, ctx)
        return apply(state, verified, ctx)

    def _catch_up(self) -> None:
        """After a failed append: adopt whatever the store committed since our snapshot. Under `_lock`."""
        log = self._log
        stored = self._store.tree_size()
        if stored < log.size:
            raise StoreMismatch(f"the stored tree size {stored} is below the sequencer's {log.size}")
        if stored > log.size:
            replayed = _replay_rows(self._store, Replayed(log.state, log.tree), log.size, stored)
            try:
                frontier = _frontier(self._store.nodes, stored)
                root = MerkleTree(_Overlay(self._store.nodes, frontier), stored).root()
            except CryptoError as exc:
                raise StoreMismatch(f"the stored tree nodes of size {stored} are incomplete: {exc.code}") from exc
            note = _check_head(self._store, log.verifier, log.origin, stored, root)
            self._log = LoadedLog(
                log.origin, log.verifier, replayed.state, stored, root, MappingProxyType(frontier), note, replayed.tree
            )
            self._keep_tree(stored, replayed.tree)
        self._stale = False


def _paced(
    work_s: float = 0.002,
    rest_s: float = 0.001,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> Callable[[], None]:
    """A `pause` for a snapshot written in a background thread: after each `work_s` of work, sleep
    `rest_s`. Without it the thread holds the interpreter lock until the interpreter takes it away
    (every 5 ms), and each step of a request waits that long: reads during the write of a 100,000-leaf
    snapshot had a p50 of 7 ms and a worst of 32 ms against 1.6 and 4.3 ms after it
    (scripts/bench_snapshot_reads.py). The write takes up to half as long again."""
    last = clock()

    def pause() -> None:
        nonlocal last
        if clock() - last >= work_s:
            sleep(rest_s)
            last = clock()

    return pause


def _verified(entry: bytes | VerifiedEntry, origin: str) -> VerifiedEntry:
    """The entry parsed and verified for `origin`, or as it came if it already was (protocol §9.2-f).

    Raises:
        Rejected: as `parse_entry` and `verify_entry`.
    """
    if isinstance(entry, VerifiedEntry):
        return entry if entry.statement.origin == origin else verify_entry(entry.entry, origin)
    return verify_entry(parse_entry(entry), origin)


def init_log(store: Store, signer: NoteSigner, clock: Clock, genesis_entry: bytes) -> tuple[Sequencer, Receipt]:
    """Create a log in an empty store: the meta row, then the genesis policy at index 0 with the first
    checkpoint ([5.6-i]).

    Raises:
        LogExists (`unavailable`): the store already holds a non-empty log.
        Rejected: the genesis entry is refused (`not_genesis`, `bad_policy`, `wrong_origin`, ...); the
            store then holds an empty log that a later `init_log` replaces.
        Errors of `Store.append`.
    """
    store.initialize(signer.name, signer.vkey)
    sequencer = Sequencer.open(store, signer, clock)
    result = sequencer.submit(genesis_entry)
    if isinstance(result, Rejection):
        raise Rejected(result)
    return sequencer, result
