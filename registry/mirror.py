"""Mirrors: a verified copy of a log's checkpoint, hash tiles and entry bundles in the C2SP tlog-tiles
layout, made and updated incrementally, and read back without a network (protocol §6.5).

Layout of a mirror directory (mode 0700), the paths a tlog-tiles server serves:

    checkpoint                      the latest checkpoint copied (as served: cosignatures included)
    tile/<L>/<N>[.p/<W>]            hash tiles, full and partial
    tile/entries/<N>[.p/<W>]        entry bundles, full and partial
    log.vkey                        the log's verifier key, fixed by the first run
    lock, tmp/                      the lock of the one run writing it; temporary files

`mirror_log` runs one update, in this order:

1. fetch the checkpoint; verify the log's signature and, when a trust policy is given, its witnesses'
   quorum (protocol §6.1-e);
2. refuse a checkpoint smaller than the one copied last, or of the same size with another root;
3. take the hash tiles of every level above 0 and the level-0 partial tile (full tiles already copied
   from the disk, the others fetched) and verify them against the checkpoint's root (§5.3-h); every
   tile of the previous copy must be a prefix of the new tile at its place, so the copied tree is a
   prefix of the new one (consistency, §6.5-b);
4. fetch each new level-0 tile and check it against its parent, and each new entry bundle against
   its level-0 tile (§5.3-g);
5. write every new file atomically (full ones are never rewritten), and the checkpoint last: the
   commit point. A reader of the directory never sees a checkpoint whose tiles are not all there.

`MirrorTransport` is an httpx transport that answers `GET /checkpoint` and `GET /tile/...` from a
mirror directory, so that the client and the remote audit read a mirror exactly as they read a
server, without a network (`registry audit --mirror DIR`); `read_mirror_file` is the same lookup for
`registry serve-mirror`.

Shell code: files and the client. Nothing read from the server or the directory is trusted unverified.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.cosignature import verify_cosignatures
from crypto.errors import CryptoError
from crypto.merkle import HASH_SIZE, root_from_leaf_hashes
from crypto.note import parse_note
from crypto.notekey import NoteVerifier, format_vkey
from crypto.tiles import (
    TILE_WIDTH,
    parse_entry_bundle,
    parse_hash_tile,
    parse_tile_path,
    tile_entries_path,
    tile_path,
    tiles_for_size,
    verify_entry_bundle,
    verify_tiles,
)

from .atomic import write_atomic
from .client import RegistryClient, ServerError, ServerUnreachable
from .errors import ErrorCode, RegistryError, Rejected, Rejection
from .trust import TrustPolicy

__all__ = [
    "MirrorFailed",
    "MirrorResult",
    "MirrorTransport",
    "is_full_path",
    "mirror_log",
    "mirror_log_key",
    "read_mirror_file",
]

_DIR_MODE: Final = 0o700
_FILE_MODE: Final = 0o644
_FULL_TILE: Final = TILE_WIDTH * HASH_SIZE
_MAX_FILE: Final = TILE_WIDTH * (2 + 65_535)
_KEY_FILE: Final = "log.vkey"


class MirrorFailed(RegistryError):
    """The server's log does not verify, or is not an extension of the copy; `check` names the step.
    Nothing of this run's checkpoint was committed."""

    def __init__(self, code: ErrorCode, message: str, section: str, check: str) -> None:
        super().__init__(Rejection(code, message, section))
        self.check: Final = check


@dataclass(frozen=True, slots=True)
class MirrorResult:
    """One update: the checkpoint copied, the one copied before (None on a first run), and how many
    tiles and bundles were fetched and reused."""

    checkpoint: Checkpoint
    previous: Checkpoint | None
    tiles_fetched: int
    bundles_fetched: int
    reused: int


def _unavailable(message: str) -> RegistryError:
    return RegistryError(Rejection(ErrorCode.UNAVAILABLE, message, "6.5-a"))


def _from_upstream(exc: Rejected | ServerError | ServerUnreachable) -> MirrorFailed | ServerUnreachable:
    """An error the client raised while reading the upstream, said in the mirror's own words.

    protocol §12-a: the message of an upstream's error answer is text of the upstream's choosing, and a
    mirror's output may be kept in a log, so the mirror names the code and never repeats that text.
    """
    message = f"the server's answer to a read failed ({exc.code})"
    if isinstance(exc, ServerUnreachable):
        return ServerUnreachable(Rejection(exc.code, message, "6.5-a"), exc.retry_after_s)
    return MirrorFailed(exc.code, message, "6.5-b", "server")


def is_full_path(relative: str) -> bool:
    """Whether a tlog-tiles path names a full tile or bundle (immutable) rather than a partial one."""
    return ".p/" not in relative


def read_mirror_file(directory: Path, relative: str) -> bytes | None:
    """The bytes a mirror serves at `relative` (`checkpoint` or a canonical `tile/...` path), or None.

    Only the checkpoint and canonical tile paths are answered (parsed and formatted again, protocol
    §5.3-b), so no other file of the directory, and nothing outside it, can be read.
    """
    if relative != "checkpoint":
        try:
            level, index, width, is_entries = parse_tile_path(relative)
            canonical = tile_entries_path(index, width) if is_entries else tile_path(level, index, width)
        except CryptoError:
            return None
        if canonical != relative:
            return None
    try:
        with open(Path(directory) / relative, "rb") as file:
            data = file.read(_MAX_FILE + 1)
    except OSError:
        return None
    return None if len(data) > _MAX_FILE else data


def mirror_log_key(directory: Path) -> str | None:
    """The log key a mirror directory was made for, or None."""
    data = read_file(Path(directory) / _KEY_FILE)
    if data is None:
        return None
    try:
        return data.decode("ascii").strip() or None
    except UnicodeDecodeError:
        return None


def read_file(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read(_MAX_FILE + 1)
    except OSError:
        return None


class MirrorTransport(httpx.BaseTransport):
    """Answers GET requests for a tlog-tiles prefix from a mirror directory (404 for anything else)."""

    def __init__(self, directory: Path) -> None:
        self.directory: Final = Path(directory)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        relative = request.url.path.lstrip("/")
        data = read_mirror_file(self.directory, relative) if request.method == "GET" else None
        if data is None:
            body = {"code": "not_found", "message": "the mirror has no such file", "section": "6.5-c"}
            return httpx.Response(404, stream=httpx.ByteStream(json.dumps(body).encode()),
                                  headers={"content-type": "application/json"}, request=request)
        media = "text/plain; charset=utf-8" if relative == "checkpoint" else "application/octet-stream"
        return httpx.Response(200, stream=httpx.ByteStream(data), headers={"content-type": media}, request=request)


class _Directory:
    """The mirror directory during one run. Owner: that run, holding DIR/lock (flock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            (path / "tmp").mkdir(mode=_DIR_MODE, exist_ok=True)
            self._lock = os.open(path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise _unavailable(f"cannot open the mirror directory {path}: {exc.strerror}") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock)
            raise _unavailable("another run is updating this mirror directory") from None
        for stale in (path / "tmp").iterdir():
            with contextlib.suppress(OSError):
                stale.unlink()

    def close(self) -> None:
        os.close(self._lock)

    def read(self, relative: str) -> bytes | None:
        return read_file(self.path / relative)

    def write(self, relative: str, data: bytes, *, durable: bool = False) -> None:
        """Write atomically (temporary file, rename); fsync the checkpoint, the commit point."""
        target = self.path / relative
        try:
            target.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            write_atomic(
                target,
                data,
                mode=_FILE_MODE,
                exact_mode=True,
                fsync=durable,
                fsync_dir=durable,
                temp_dir=self.path / "tmp",
            )
        except OSError as exc:
            raise _unavailable(f"cannot write {relative} to the mirror: {exc.strerror}") from None


def _open_checkpoint(note: bytes, verifier: NoteVerifier, what: str) -> Checkpoint:
    try:
        cp, _ = open_checkpoint(note, verifier)
    except CryptoError as exc:
        raise MirrorFailed(ErrorCode.BAD_SIGNATURE, f"{what} does not verify under the log key: {exc.message}",
                           "6.5-b", "checkpoint_signature") from None
    return cp


class _Run:
    """Steps 3 to 5 of one update. Owner: one `mirror_log` call."""

    def __init__(self, client: RegistryClient, directory: _Directory, new: Checkpoint, old: Checkpoint | None) -> None:
        self.client, self.dir, self.new, self.old = client, directory, new, old
        self.top: dict[tuple[int, int], bytes] = {}
        self.pending: dict[str, bytes] = {}  # verified files to write, by path
        self.tiles_fetched = self.bundles_fetched = self.reused = 0

    def fail(self, message: str, section: str, check: str, code: ErrorCode = ErrorCode.BAD_PROOF) -> MirrorFailed:
        return MirrorFailed(code, message, section, check)

    def _fetch_tile(self, level: int, index: int, width: int) -> bytes:
        self.tiles_fetched += 1
        try:
            return self.client.tile(level, index, width)
        except Rejected as exc:
            if width == TILE_WIDTH or exc.code is not ErrorCode.NOT_FOUND:
                raise self.fail(
                    f"the server does not serve tile {level}/{index} ({exc.code})", "5.3-h", "tiles", exc.code
                ) from None
        self.tiles_fetched += 1
        try:  # a log may delete a partial tile once the full one exists (tlog-tiles)
            return self.client.tile(level, index)[: width * HASH_SIZE]
        except Rejected as exc:
            raise self.fail(
                f"the server does not serve tile {level}/{index} ({exc.code})", "5.3-h", "tiles", exc.code
            ) from None

    def tile(self, level: int, index: int, width: int) -> bytes:
        """A tile: a full one from the mirror when copied before, else fetched (and queued for writing)."""
        path = tile_path(level, index, width)
        if width == TILE_WIDTH:
            data = self.dir.read(path)
            if data is not None and len(data) == _FULL_TILE:
                self.reused += 1
                return data
        data = self._fetch_tile(level, index, width)
        self.pending[path] = data
        return data

    def load_top(self) -> None:
        """Step 3: every tile above level 0 and the level-0 partial tile, verified against the root."""
        size = self.new.size
        for level, index, width in tiles_for_size(size):
            if level >= 1 or width < TILE_WIDTH:
                self.top[(level, index)] = self.tile(level, index, width)
        try:
            verify_tiles(size, self.new.root_hash, self.top)
        except CryptoError as exc:
            raise self.fail(f"the tiles do not lead to the root hash of the checkpoint of size {size}: "
                            f"{exc.message}", "5.3-h", "tiles") from None

    def check_extends_copy(self) -> None:
        """Step 3, second half: each tile of the copied checkpoint is a prefix of the new tile there."""
        old = self.old
        if old is None:
            return
        for level, index, width in tiles_for_size(old.size):
            if width == TILE_WIDTH and level == 0:
                continue  # full level-0 tiles are reused as they are, and checked against their parents
            previous = self.dir.read(tile_path(level, index, width))
            if previous is None:
                raise self.fail(f"the copy lacks its tile {level}/{index} of width {width}", "6.5-b", "copy",
                                ErrorCode.UNAVAILABLE)
            current = self.top.get((level, index)) if (level >= 1 or index == self.new.size // TILE_WIDTH) else None
            if current is None:
                current = self.level0(index)
            if current[: len(previous)] != previous:
                raise self.fail(f"the checkpoint of size {self.new.size} is not an extension of the copied "
                                f"checkpoint of size {old.size} (tile {level}/{index} differs)", "6.5-b",
                                "consistency")

    def level0(self, index: int) -> bytes:
        """A level-0 tile of the new tree, checked against its parent (step 4)."""
        width = min(TILE_WIDTH, self.new.size - index * TILE_WIDTH)
        if width < TILE_WIDTH:
            return self.top[(0, index)]
        data = self.tile(0, index, TILE_WIDTH)
        parent = self.top.get((1, index // TILE_WIDTH))
        position = (index % TILE_WIDTH) * HASH_SIZE
        if parent is None or root_from_leaf_hashes(parse_hash_tile(data, TILE_WIDTH)) != parent[
                position : position + HASH_SIZE]:
            raise self.fail(f"tile 0/{index} does not match its parent tile", "5.3-h", "tiles")
        return data

    def bundles(self, progress: Callable[[int, int], None] | None) -> None:
        """Step 4: every entry bundle that is new since the copy, checked against its level-0 tile."""
        full, width = divmod(self.new.size, TILE_WIDTH)
        copied_full = 0 if self.old is None else self.old.size // TILE_WIDTH
        total = full + (1 if width else 0)
        for index in range(total):
            w = TILE_WIDTH if index < full else width
            path = tile_entries_path(index, w)
            tile = self.level0(index) if w == TILE_WIDTH else self.top[(0, index)]
            if index < copied_full and self.dir.read(path) is not None:
                self.reused += 1  # copied and verified before; full bundles never change
            else:
                self.bundles_fetched += 1
                try:
                    data = self.client.entry_bundle(index, w)
                    verify_entry_bundle(parse_entry_bundle(data, w), tile)
                except Rejected as exc:
                    raise self.fail(
                        f"the server does not serve entry bundle {index} ({exc.code})", "5.3-g", "bundles", exc.code
                    ) from None
                except CryptoError as exc:
                    raise self.fail(f"entry bundle {index} does not match its tile: {exc.message}", "5.3-g",
                                    "bundles") from None
                self.pending[path] = data
            if progress is not None:
                progress(index + 1, total)

    def commit(self, note: bytes) -> None:
        """Step 5: the files, then the checkpoint (the commit point)."""
        for path in sorted(self.pending):
            self.dir.write(path, self.pending[path])
        # If the process dies here, the old checkpoint is still the one served, and every file it needs
        # is unchanged (full files are never rewritten; partial ones have new names).
        self.dir.write("checkpoint", note, durable=True)


def mirror_log(
    client: RegistryClient,
    directory: Path,
    log_verifier: NoteVerifier,
    *,
    policy: TrustPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MirrorResult:
    """Copy what is new of a server's log into a mirror directory, verifying everything (protocol §6.5).

    Raises:
        MirrorFailed: the code of an error answer or a malformed answer of the server (check `server`;
            its message is not repeated, protocol §12-a), `bad_signature` (the checkpoint's signature or
            the witnesses' quorum),
            `audit_mismatch` (a smaller checkpoint, or another root at the copied size), `bad_proof` (tiles
            or bundles that do not verify, or a checkpoint that does not extend the copy), `bad_key`
            (the directory was made for another log key).
        ServerUnreachable: the server cannot be reached, or answered 503.
        RegistryError (`unavailable`): the directory cannot be locked, read or written.
    """
    directory = Path(directory)
    opened = _Directory(directory)
    try:
        vkey = format_vkey(log_verifier)
        stored = mirror_log_key(directory)
        if stored is not None and stored != vkey:
            raise MirrorFailed(ErrorCode.BAD_KEY, "this mirror directory holds another log", "6.5-a", "log_key")
        # Step 1.
        note = client.checkpoint()
        new = _open_checkpoint(note, log_verifier, "the server's checkpoint")
        if policy is not None:
            try:
                verify_cosignatures(parse_note(note), policy.witnesses, policy.quorum)
            except CryptoError as exc:
                raise MirrorFailed(ErrorCode.BAD_SIGNATURE, f"the checkpoint lacks its witnesses' quorum: "
                                   f"{exc.message}", "6.1-e", "witnesses") from None
        # Step 2.
        old_note = opened.read("checkpoint")
        old = None if old_note is None else _open_checkpoint(old_note, log_verifier, "the copied checkpoint")
        if old is not None and (new.size < old.size or (new.size == old.size and new.root_hash != old.root_hash)):
            what = "smaller than" if new.size < old.size else "another tree than"
            raise MirrorFailed(ErrorCode.AUDIT_MISMATCH, f"the server's checkpoint of size {new.size} is {what} the "
                               f"copied one of size {old.size}", "6.5-b", "rollback")
        if stored is None:
            opened.write(_KEY_FILE, vkey.encode("ascii") + b"\n", durable=True)
        run = _Run(client, opened, new, old)
        if new.size > 0:
            run.load_top()  # Step 3.
            run.check_extends_copy()
            run.bundles(progress)  # Step 4.
        run.commit(note)  # Step 5.
        return MirrorResult(new, old, run.tiles_fetched, run.bundles_fetched, run.reused)
    except (Rejected, ServerError, ServerUnreachable) as exc:
        raise _from_upstream(exc) from None
    finally:
        opened.close()

