"""The remote audit: fetch a log over HTTP (tlog-tiles), verify it, and replay it (protocol §9.6, §8.2).

`audit_server` is what `registry audit --server URL` runs. Its steps, labelled in the code:

1. Fetch the checkpoint and verify the log's signature on it ([9.6-d]).
2. Open the last checkpoint this cache accepted and refuse a smaller tree size, or another root hash
   at the same size, as a rollback or a fork ([9.6-e]).
3. Fetch the partial tiles and the higher-level tiles of the new tree size (full ones from the cache
   when present) and verify them against the checkpoint's root hash (protocol §5.3-h).
4. Compute the consistency proof from the old tree size to the new one from those tiles and verify it
   against both root hashes ([9.6-e]).
5. For every level-0 tile and entry bundle: read it from the cache or fetch it, check the tile against
   its parent tile and the bundle against the tile ([5.3-g]); store what is new and full ([9.6-g]). A
   cached file that fails is discarded and fetched again; only new tiles and bundles cost a request.
6. Replay every leaf through `registry.audit.audit` with the accepted and the new checkpoints, which
   recomputes the tree from the leaves and checks both roots ([9.6-h]).
7. Only when the report is clean, record the new checkpoint as accepted (the commit point).

Shell code: it reads through `RegistryClient` and `TileCache` only. Nothing here trusts the server or
the cache: every byte is checked against a checkpoint signed by the log's key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.cosignature import verify_cosignatures
from crypto.errors import BadProof, CryptoError
from crypto.merkle import HASH_SIZE, MerkleTree, root_from_leaf_hashes
from crypto.nodestore import NodeKey, NodeRun
from crypto.note import parse_note
from crypto.notekey import NoteVerifier, format_vkey
from crypto.proof import verify_consistency
from crypto.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    parse_entry_bundle,
    parse_hash_tile,
    tile_entries_path,
    tile_path,
    tiles_for_size,
    verify_entry_bundle,
    verify_tiles,
)

from .audit import AuditReport, audit
from .client import RegistryClient
from .errors import ErrorCode, RegistryError, Rejected, Rejection
from .evidence import build_evidence, evidence_from_tree
from .evidence_io import write_evidence_file
from .mirror import MirrorTransport
from .tilecache import TileCache
from .trust import TrustPolicy

__all__ = ["RemoteAudit", "RemoteAuditFailed", "SyncStats", "audit_server", "fetch_plan"]

_FULL_TILE: Final = TILE_WIDTH * HASH_SIZE


class RemoteAuditFailed(RegistryError):
    """The server's log does not verify before the replay: `check` names the step, and the checkpoint
    sizes involved are given (`old_size` is the cache's accepted size, None on a first run)."""

    def __init__(self, rejection: Rejection, check: str, old_size: int | None, new_size: int | None) -> None:
        super().__init__(rejection)
        self.check: Final = check
        self.old_size: Final = old_size
        self.new_size: Final = new_size
        self.evidence: Path | None = None
        """The evidence file written for a rollback, a fork or an inconsistency (protocol §6.4-a)."""


@dataclass(frozen=True, slots=True)
class SyncStats:
    """What a run fetched and what it reused from the cache (tiles count hash tiles of every level)."""

    tiles_fetched: int = 0
    bundles_fetched: int = 0
    tiles_cached: int = 0
    bundles_cached: int = 0
    refetched: int = 0


@dataclass(frozen=True, slots=True)
class RemoteAudit:
    """The result of `audit_server`: the replay's report, the new and the previously accepted
    checkpoints, and the fetch statistics. The new checkpoint was recorded iff `report.ok`."""

    report: AuditReport
    checkpoint: Checkpoint
    previous: Checkpoint | None
    stats: SyncStats


Notice = Callable[[str], None]
FetchProgress = Callable[[int, int], None]


def _noop(_: str) -> None:
    return None


def fetch_plan(old_size: int, new_size: int) -> list[str]:
    """The paths a run fetches, sorted, when its cache holds what the accepted size `old_size` covers
    (0: a first run) and the server's checkpoint has `new_size` (protocol §9.6-h).

    That is the checkpoint; every partial tile of `new_size`; every full tile and full entry bundle
    that was not yet full at `old_size`; and the partial entry bundle of `new_size`. Requires
    0 <= old_size <= new_size.
    """
    paths = {"checkpoint"}
    for level, index, width in tiles_for_size(new_size):
        if width < TILE_WIDTH or index >= old_size >> (TILE_HEIGHT * (level + 1)):
            paths.add(tile_path(level, index, width))
        if level == 0 and (width < TILE_WIDTH or index >= old_size // TILE_WIDTH):
            paths.add(tile_entries_path(index, width))
    return sorted(paths)


class _Sync:
    """Steps 3 to 5 for one run. Owner: one `audit_server` call; mutable counters and memo only."""

    def __init__(
        self, client: RegistryClient, cache: TileCache, new: Checkpoint, old: Checkpoint | None, notice: Notice
    ) -> None:
        self.client, self.cache, self.new, self.old, self.notice = client, cache, new, old, notice
        self.top: dict[tuple[int, int], bytes] = {}
        self.level0: dict[int, bytes] = {}
        self.tiles_fetched = self.bundles_fetched = self.tiles_cached = self.bundles_cached = self.refetched = 0

    def fail(self, code: ErrorCode, check: str, message: str, section: str) -> RemoteAuditFailed:
        return RemoteAuditFailed(
            Rejection(code, message, section), check, None if self.old is None else self.old.size, self.new.size
        )

    def stats(self) -> SyncStats:
        return SyncStats(self.tiles_fetched, self.bundles_fetched, self.tiles_cached, self.bundles_cached,
                         self.refetched)

    # --- fetching ---

    def _missing(self, what: str, exc: Rejected) -> RemoteAuditFailed:
        return self.fail(
            exc.code, "tiles", f"the server does not serve {what}, which its checkpoint of size "
            f"{self.new.size} implies: {exc.message}", "9.6-d",
        )

    def fetch_tile(self, level: int, index: int, width: int) -> bytes:
        """Fetch a tile; for a partial tile the server no longer serves, the full tile's prefix."""
        self.tiles_fetched += 1
        try:
            return self.client.tile(level, index, width)
        except Rejected as exc:
            if width == TILE_WIDTH or exc.code is not ErrorCode.NOT_FOUND:
                raise self._missing(f"tile {level}/{index}", exc) from exc
        # tlog-tiles lets a log delete a partial tile once the full one exists ([5.3-h]).
        self.tiles_fetched += 1
        try:
            return self.client.tile(level, index)[: width * HASH_SIZE]
        except Rejected as exc:
            raise self._missing(f"tile {level}/{index}", exc) from exc

    def fetch_bundle(self, index: int, width: int) -> list[bytes]:
        self.bundles_fetched += 1
        try:
            return self._parse_bundle(self.client.entry_bundle(index, width), width, index)
        except Rejected as exc:
            if width == TILE_WIDTH or exc.code is not ErrorCode.NOT_FOUND:
                raise self._missing(f"entry bundle {index}", exc) from exc
        self.bundles_fetched += 1
        try:
            return self._parse_bundle(self.client.entry_bundle(index), TILE_WIDTH, index)[:width]
        except Rejected as exc:
            raise self._missing(f"entry bundle {index}", exc) from exc

    def _parse_bundle(self, data: bytes, width: int, index: int) -> list[bytes]:
        try:
            return parse_entry_bundle(data, width)
        except CryptoError as exc:
            raise self.fail(ErrorCode(exc.code), "bundles", f"entry bundle {index} is malformed: {exc.message}",
                            "5.3-f") from exc

    # --- step 3: the tiles above level 0, and the level-0 partial tile ---

    def load_top(self) -> None:
        size, root = self.new.size, self.new.root_hash
        coords = [(lvl, n, w) for lvl, n, w in tiles_for_size(size) if lvl >= 1 or w < TILE_WIDTH]
        from_cache: list[tuple[int, int]] = []
        fetched: list[tuple[int, int]] = []
        for level, index, width in coords:
            data = self.cache.tile(level, index) if width == TILE_WIDTH else None
            if data is not None and len(data) == _FULL_TILE:
                from_cache.append((level, index))
                self.tiles_cached += 1
            else:
                data = self.fetch_tile(level, index, width)
                fetched.append((level, index))
            self.top[(level, index)] = data
        try:
            verify_tiles(size, root, self.top)
        except CryptoError as exc:
            if not from_cache:
                raise self.fail(ErrorCode.BAD_PROOF, "tiles", f"the server's tiles do not lead to the root hash "
                                f"of its checkpoint of size {size}: {exc.message}", "5.3-h") from exc
            # A cached tile may be torn or tampered with: drop every cached one and try once more.
            self.notice("cached tiles did not verify; fetching them again")
            for level, index in from_cache:
                self.cache.discard_tile(level, index)
                self.refetched += 1
                self.tiles_cached -= 1
                self.top[(level, index)] = self.fetch_tile(level, index, TILE_WIDTH)
                fetched.append((level, index))
            try:
                verify_tiles(size, root, self.top)
            except CryptoError as exc2:
                raise self.fail(ErrorCode.BAD_PROOF, "tiles", f"the server's tiles do not lead to the root hash "
                                f"of its checkpoint of size {size}: {exc2.message}", "5.3-h") from exc2
        for level, index in fetched:
            if len(self.top[(level, index)]) == _FULL_TILE and (level, index) not in from_cache:
                self.cache.put_tile(level, index, self.top[(level, index)])

    # --- level-0 tiles ---

    def _parent_hash(self, index: int) -> bytes:
        parent = self.top.get((1, index // TILE_WIDTH))
        position = index % TILE_WIDTH
        if parent is None or len(parent) < (position + 1) * HASH_SIZE:
            raise self.fail(ErrorCode.BAD_PROOF, "tiles", f"no level-1 tile covers level-0 tile {index}", "5.3-h")
        return parent[position * HASH_SIZE : (position + 1) * HASH_SIZE]

    def level0_tile(self, index: int) -> bytes:
        """Level-0 tile `index` of the new tree, verified: a partial one against the root (step 3), a
        full one against its entry in its level-1 parent tile."""
        width = min(TILE_WIDTH, self.new.size - index * TILE_WIDTH)
        if width < TILE_WIDTH:
            return self.top[(0, index)]
        known = self.level0.get(index)
        if known is not None:
            return known
        expected = self._parent_hash(index)
        data = self.cache.tile(0, index)
        if data is not None:
            if len(data) == _FULL_TILE and root_from_leaf_hashes(parse_hash_tile(data, TILE_WIDTH)) == expected:
                self.tiles_cached += 1
                return data
            self.notice(f"cached tile 0/{index} did not verify; fetching it again")
            self.cache.discard_tile(0, index)
            self.refetched += 1
        data = self.fetch_tile(0, index, TILE_WIDTH)
        if root_from_leaf_hashes(parse_hash_tile(data, TILE_WIDTH)) != expected:
            raise self.fail(ErrorCode.BAD_PROOF, "tiles", f"the server's tile 0/{index} does not match its "
                            f"parent tile in the checkpoint of size {self.new.size}", "5.3-h")
        self.cache.put_tile(0, index, data)
        return data

    # --- step 4 ---

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        """`NodeStore` over the tiles: node (h, i) is hash i of level h/8 when h is a multiple of 8, else
        the subtree of 2**(h mod 8) hashes of level h // 8 below it."""
        out: list[bytes] = []
        for height, index in keys:
            level, rest = divmod(height, TILE_HEIGHT)
            first, count = index << rest, 1 << rest
            tile_index, offset = divmod(first, TILE_WIDTH)
            if level == 0:
                tile = self.level0_tile(tile_index)
                self.level0.setdefault(tile_index, tile)
            else:
                found = self.top.get((level, tile_index))
                if found is None:
                    raise BadProof(f"no tile holds node ({height}, {index})")
                tile = found
            if len(tile) < (offset + count) * HASH_SIZE:
                raise BadProof(f"tile ({level}, {tile_index}) is too short for node ({height}, {index})")
            hashes = parse_hash_tile(tile[offset * HASH_SIZE : (offset + count) * HASH_SIZE], count)
            out.append(hashes[0] if count == 1 else root_from_leaf_hashes(hashes))
        return out

    def put_nodes(self, runs: Sequence[NodeRun]) -> None:
        raise BadProof("tiles are read-only")

    def check_consistency(self) -> None:
        old, new = self.old, self.new
        if old is None or old.size in (0, new.size):
            return
        try:
            proof = MerkleTree(self, new.size).consistency_proof(old.size, new.size)
            verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
        except CryptoError as exc:
            raise self.fail(
                ErrorCode.BAD_PROOF, "consistency",
                f"the server's checkpoint of size {new.size} is not consistent with the checkpoint of size "
                f"{old.size} this cache accepted: {exc.message}", "6.4-a",
            ) from exc
        self.notice(f"the checkpoint of size {new.size} is consistent with the accepted one of size {old.size}")

    # --- step 5 ---

    def _cached_bundle(self, index: int, tile: bytes) -> bool:
        data = self.cache.bundle(index)
        if data is None:
            return False
        try:
            verify_entry_bundle(parse_entry_bundle(data, TILE_WIDTH), tile)
        except CryptoError:
            self.notice(f"cached entry bundle {index} did not verify; fetching it again")
            self.cache.discard_bundle(index)
            self.refetched += 1
            return False
        self.bundles_cached += 1
        return True

    def sync_bundles(self, progress: FetchProgress | None) -> list[bytes]:
        """Check or fetch every level-0 tile and bundle; return the entries of the partial bundle."""
        full, width = divmod(self.new.size, TILE_WIDTH)
        total = full + (1 if width else 0)
        for index in range(full):
            tile = self.level0.pop(index, None) or self.level0_tile(index)
            if not self._cached_bundle(index, tile):
                entries = self.fetch_bundle(index, TILE_WIDTH)
                self._verify_bundle(entries, tile, index)
                # Each bundle is stored once verified, so an interrupted run keeps what it fetched.
                self.cache.put_bundle(index, _format_bundle(entries))
            if progress is not None:
                progress(index + 1, total)
        partial: list[bytes] = []
        if width:
            partial = self.fetch_bundle(full, width)
            self._verify_bundle(partial, self.top[(0, full)], full)
            if progress is not None:
                progress(total, total)
        return partial

    def _verify_bundle(self, entries: list[bytes], tile: bytes, index: int) -> None:
        try:
            verify_entry_bundle(entries, tile)
        except CryptoError as exc:
            raise self.fail(ErrorCode.BAD_PROOF, "bundles", f"the server's entry bundle {index} does not match "
                            f"its tile: {exc.message}", "5.3-g") from exc


def _format_bundle(entries: list[bytes]) -> bytes:
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def _cached_leaves(cache: TileCache, full: int, partial: list[bytes]) -> Iterator[bytes]:
    """Step 6's input: the leaves of the full bundles (from the cache, verified in step 5) then the
    partial bundle's."""
    for index in range(full):
        data = cache.bundle(index)
        if data is None:
            raise RegistryError(Rejection(ErrorCode.UNAVAILABLE, f"entry bundle {index} left the cache", "9.6-g"))
        try:
            yield from parse_entry_bundle(data, TILE_WIDTH)
        except CryptoError as exc:
            raise RegistryError(Rejection(ErrorCode.UNAVAILABLE, f"entry bundle {index} changed in the cache",
                                          "9.6-g")) from exc
    yield from partial


def _open(note: bytes, verifier: NoteVerifier, what: str, old: int | None, new: int | None) -> Checkpoint:
    try:
        cp, _ = open_checkpoint(note, verifier)
    except CryptoError as exc:
        try:
            code = ErrorCode(exc.code)
        except ValueError:
            code = ErrorCode.BAD_SIGNATURE
        raise RemoteAuditFailed(
            Rejection(code, f"{what} does not verify under the log key: {exc.message}", "9.6-d"),
            "checkpoint_signature", old, new,
        ) from exc
    return cp


def audit_server(
    client: RegistryClient,
    cache: TileCache,
    log_verifier: NoteVerifier,
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    fetch_progress: FetchProgress | None = None,
    notice: Notice | None = None,
    policy: TrustPolicy | None = None,
    evidence_dir: Path | None = None,
) -> RemoteAudit:
    """Fetch, verify and replay the log a server publishes, incrementally over `cache` (protocol §9.6).

    Args:
        client: the server.
        cache: the cache directory (locked); its accepted checkpoint, if any, was made with this key.
        log_verifier: the log's key.
        workers: processes that verify signatures in the replay (as `registry.audit.audit`).
        progress: called with the number of leaves replayed.
        fetch_progress: called with (bundles done, bundles in all) during step 5.
        notice: receives one-line diagnostics (cache repairs, the consistency verdict).
        policy: a trust policy (§9.7): the checkpoint must carry its witnesses' quorum (§6.1-e).
        evidence_dir: where to write the evidence file of a rollback, fork or inconsistency (§6.4-a).

    Returns:
        The replay's report (its `ok` says whether the log passed) and the fetch statistics.

    Raises:
        RemoteAuditFailed: steps 1 to 5 — `bad_signature` (a checkpoint's signature, or fewer cosignatures
            of the policy's witnesses than its quorum), `audit_mismatch`
            (a smaller tree size or another root at the same size: rollback or fork), `bad_proof`
            (inconsistent checkpoints, tiles or bundles that do not match), `not_found` (a tile or bundle
            the checkpoint implies is not served), `malformed_encoding`.
        ServerUnreachable: the server cannot be reached (the cache keeps what was verified so far).
        ServerError: the server answered with a malformed or oversized body, or a 5xx.
        RegistryError (`unavailable`): the cache cannot be read or written.
    """
    say = notice or _noop
    # Step 1 ([9.6-d]).
    new_note = client.checkpoint()
    new = _open(new_note, log_verifier, "the server's checkpoint", None, None)
    if policy is not None:
        _check_witnesses(new_note, policy, new.size)
    # Step 2 ([9.6-e], [6.4-a]): refused however old the accepted checkpoint is, with an evidence file.
    old_note = cache.checkpoint()
    old = None if old_note is None else _open(old_note, log_verifier, "the cache's checkpoint", None, new.size)
    if old is not None and old_note is not None and new.size < old.size:
        failure = RemoteAuditFailed(
            Rejection(ErrorCode.AUDIT_MISMATCH, f"the server's checkpoint has tree size {new.size}, smaller than "
                      f"the size {old.size} this cache accepted: the log was rolled back", "6.4-a"),
            "rollback", old.size, new.size,
        )
        failure.evidence = _keep_evidence(evidence_dir, log_verifier, new_note, old_note,
                                          lambda: _accepted_tree(cache, old, say))
        raise failure
    if old is not None and old_note is not None and new.size == old.size and new.root_hash != old.root_hash:
        failure = RemoteAuditFailed(
            Rejection(ErrorCode.AUDIT_MISMATCH, f"the server's checkpoint of size {new.size} names another root "
                      "hash than the one this cache accepted at that size: the log forked", "6.4-a"),
            "fork", old.size, new.size,
        )
        failure.evidence = _keep_evidence(evidence_dir, log_verifier, old_note, new_note, lambda: None)
        raise failure
    if new.size == 0:
        raise RemoteAuditFailed(
            Rejection(ErrorCode.NOT_GENESIS, "the server's log is empty: it has no genesis", "8.2-d"),
            "empty_log", None if old is None else old.size, 0,
        )
    sync = _Sync(client, cache, new, old, say)
    sync.load_top()  # Step 3.
    try:
        sync.check_consistency()  # Step 4.
    except RemoteAuditFailed as failure:
        if old_note is not None:
            failure.evidence = _keep_evidence(evidence_dir, log_verifier, old_note, new_note,
                                              lambda: MerkleTree(sync, new.size))
        raise
    partial = sync.sync_bundles(fetch_progress)  # Step 5.
    # Step 6 ([9.6-h]): the old checkpoint's root is recomputed from the leaves too.
    checkpoints = [new_note] if old_note is None or old is None or old.size == new.size else [old_note, new_note]
    leaves = _cached_leaves(cache, new.size // TILE_WIDTH, partial)
    report = audit(leaves, checkpoints, log_verifier, workers=workers, progress=progress)
    # Step 7: the commit point. If the process dies before this line, the next run starts again from
    # the old accepted checkpoint, with every tile and bundle fetched so far already in the cache.
    if report.ok:
        # The accepted tree's partial tiles first, so that a later rollback can be proven against it.
        partials = {(lv, ix, len(t) // HASH_SIZE): t for (lv, ix), t in sync.top.items() if len(t) < _FULL_TILE}
        cache.set_partial_tiles(partials)
        cache.set_checkpoint(new_note)
    return RemoteAudit(report, new, old, sync.stats())


def _check_witnesses(note: bytes, policy: TrustPolicy, size: int) -> None:
    """Step 1, with a trust policy: k valid cosignatures of distinct known witnesses (§6.1-e, §6.4-a)."""
    try:
        verify_cosignatures(parse_note(note), policy.witnesses, policy.quorum)
    except CryptoError as exc:
        raise RemoteAuditFailed(
            Rejection(ErrorCode.BAD_SIGNATURE, f"the server's checkpoint lacks its witnesses' quorum: {exc.message}",
                      "6.1-e"),
            "witnesses", None, size,
        ) from exc


def _accepted_tree(cache: TileCache, accepted: Checkpoint, notice: Notice) -> MerkleTree | None:
    """The tree of the accepted checkpoint, from the cache's full tiles and the partial tiles kept at
    acceptance, verified against its root; None when the cache no longer holds them."""
    reader = RegistryClient("http://cache.invalid", transport=MirrorTransport(cache.directory))
    sync = _Sync(reader, cache, accepted, None, notice)
    try:
        sync.load_top()
    except (RegistryError, CryptoError):
        return None
    finally:
        reader.close()
    return MerkleTree(sync, accepted.size)


def _keep_evidence(
    directory: Path | None, verifier: NoteVerifier, older: bytes, newer: bytes,
    tree: Callable[[], MerkleTree | None],
) -> Path | None:
    """Write the evidence file of a refused checkpoint (protocol §6.4-a): both checkpoints, the smaller
    first, and the consistency path computed from the larger tree's verified tiles when they are at
    hand. Best effort: failing to write it never changes the verdict."""
    if directory is None:
        return None
    try:
        larger = tree()
        if larger is None:
            evidence = build_evidence(format_vkey(verifier), older, newer, ())
        else:
            evidence = evidence_from_tree(format_vkey(verifier), older, newer, larger)
        return write_evidence_file(directory, evidence)
    except (RegistryError, CryptoError, OSError):
        return None
