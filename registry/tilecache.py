"""The remote auditor's local cache: the log key, the last accepted checkpoint, full tiles and bundles.

Implements the storage side of protocol §9.6. Layout of a cache directory (mode 0700):

    log.vkey                 the log's verifier key, written on first use ([9.6-f])
    checkpoint               the last checkpoint the auditor accepted (after a passing audit)
    tile/<L>/<N>             full hash tiles, at their tlog-tiles paths
    tile/<L>/<N>.p/<W>       the partial hash tiles of the accepted checkpoint (for rollback evidence)
    tile/entries/<N>         full entry bundles
    tmp/                     temporary files, renamed into place
    lock                     held (flock) by the one audit using the cache

Only full tiles and full bundles are kept, and the few partial tiles of the accepted checkpoint:
full ones never change ([5.3-c]), while partial ones are replaced as the log grows. Every write is a
temporary file renamed into place ([9.6-g]), so that an interrupted run leaves each file either
absent or complete. Tiles and bundles are not fsynced (a run writes thousands): the auditor verifies
every cached file on every run and refetches one that does not verify, so a file torn by a power
loss costs a download, not a wrong verdict. The checkpoint, the commit point of a run, is fsynced
with its directory.

Deliberately not here: HTTP and verification (`registry.remote_audit`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

from crypto.errors import CryptoError
from crypto.tiles import tile_entries_path, tile_path

from .atomic import write_atomic
from .errors import ErrorCode, RegistryError, Rejection

__all__ = ["CacheBusy", "TileCache"]

_DIR_MODE: Final = 0o700
_FILE_MODE: Final = 0o600
_MAX_SMALL_FILE: Final = 1 << 20


class CacheBusy(RegistryError):
    """Another process holds the cache's lock (code `unavailable`)."""


def _cache_error(message: str) -> RegistryError:
    return RegistryError(Rejection(ErrorCode.UNAVAILABLE, message, "9.6-g"))


class TileCache:
    """A cache directory; `open` creates it if needed and takes its lock.

    Owner: one process at a time, enforced by an exclusive `flock` on DIR/lock that `close` releases.
    """

    __slots__ = ("_lock_fd", "directory")

    def __init__(self, directory: Path, lock_fd: int) -> None:
        self.directory: Final = directory
        self._lock_fd: int | None = lock_fd

    @classmethod
    def open(cls, directory: Path) -> TileCache:
        """Open (or create, mode 0700) a cache directory and lock it; remove stale temporary files.

        Raises:
            CacheBusy: another process holds the lock.
            RegistryError (`unavailable`): the directory cannot be created or locked.
        """
        directory = Path(directory)
        try:
            directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            (directory / "tmp").mkdir(mode=_DIR_MODE, exist_ok=True)
            fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), _FILE_MODE)
        except OSError as exc:
            raise _cache_error(f"cannot open the cache directory: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise CacheBusy(
                Rejection(ErrorCode.UNAVAILABLE, "another audit is using this cache directory", "9.6-g")
            ) from None
        # Left by an interrupted run: never renamed into place, so never read.
        for stale in (directory / "tmp").iterdir():
            with contextlib.suppress(OSError):
                stale.unlink()
        return cls(directory, fd)

    def close(self) -> None:
        """Release the lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> TileCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- files ---

    def _read(self, relative: str, limit: int) -> bytes | None:
        try:
            with open(self.directory / relative, "rb") as file:
                data = file.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _cache_error(f"cannot read {relative} from the cache: {exc.strerror}") from exc
        return None if len(data) > limit else data

    def _write(self, relative: str, data: bytes, *, durable: bool = False) -> None:
        """Write `relative` atomically: a temporary file in DIR/tmp, then a rename ([9.6-g])."""
        path = self.directory / relative
        try:
            path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            write_atomic(
                path, data, mode=_FILE_MODE, fsync=durable, fsync_dir=durable, temp_dir=self.directory / "tmp"
            )
        except OSError as exc:
            raise _cache_error(f"cannot write {relative} to the cache: {exc.strerror}") from exc
        # If the process dies before the rename, the temporary file is removed by the next `open`.

    def _discard(self, relative: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / relative).unlink()

    # --- the log key and the accepted checkpoint ---

    def log_key(self) -> str | None:
        """The log's verifier key stored at first use, or None."""
        data = self._read("log.vkey", 4096)
        if data is None:
            return None
        try:
            return data.decode("ascii").strip() or None
        except UnicodeDecodeError:
            return None

    def set_log_key(self, vkey: str) -> None:
        self._write("log.vkey", vkey.encode("ascii") + b"\n", durable=True)

    def checkpoint(self) -> bytes | None:
        """The last accepted checkpoint note (unverified: the caller opens it with the log key), or None."""
        return self._read("checkpoint", _MAX_SMALL_FILE)

    def set_checkpoint(self, note: bytes) -> None:
        """Record `note` as accepted: the commit point of a run, fsynced with its directory."""
        self._write("checkpoint", note, durable=True)

    # --- full tiles and bundles (unverified: the caller verifies every one it reads) ---

    @staticmethod
    def _tile_name(level: int, index: int) -> str:
        try:
            return tile_path(level, index)
        except CryptoError as exc:
            raise _cache_error(f"no cache path for a tile: {exc.message}") from exc

    @staticmethod
    def _bundle_name(index: int) -> str:
        try:
            return tile_entries_path(index)
        except CryptoError as exc:
            raise _cache_error(f"no cache path for a bundle: {exc.message}") from exc

    def tile(self, level: int, index: int) -> bytes | None:
        """A cached full tile, or None."""
        return self._read(self._tile_name(level, index), 8192)

    def put_tile(self, level: int, index: int, data: bytes) -> None:
        self._write(self._tile_name(level, index), data)

    def discard_tile(self, level: int, index: int) -> None:
        self._discard(self._tile_name(level, index))

    def set_partial_tiles(self, tiles: Mapping[tuple[int, int, int], bytes]) -> None:
        """Keep the partial hash tiles of the accepted checkpoint, by (level, index, width), at their
        tlog-tiles paths, and drop those kept for an earlier one. With the full tiles they are the whole
        accepted tree, against which a later rollback is proven (protocol §6.4-a)."""
        keep = set()
        for (level, index, width), data in tiles.items():
            try:
                name = tile_path(level, index, width)
            except CryptoError as exc:
                raise _cache_error(f"no cache path for a tile: {exc.message}") from exc
            self._write(name, data)
            keep.add(self.directory / name)
        tile_dir = self.directory / "tile"
        if tile_dir.is_dir():
            for level_dir in tile_dir.iterdir():
                if level_dir.name == "entries" or not level_dir.is_dir():
                    continue
                for stale in level_dir.rglob("*.p/*"):
                    if stale not in keep:
                        with contextlib.suppress(OSError):
                            stale.unlink()

    def bundle(self, index: int) -> bytes | None:
        """A cached full entry bundle, or None."""
        return self._read(self._bundle_name(index), 256 * 65_537)

    def put_bundle(self, index: int, data: bytes) -> None:
        self._write(self._bundle_name(index), data)

    def discard_bundle(self, index: int) -> None:
        self._discard(self._bundle_name(index))

    def files(self) -> Iterator[Path]:
        """Every cached tile and bundle file (for tests and statistics)."""
        root = self.directory / "tile"
        if root.exists():
            yield from (p for p in root.rglob("*") if p.is_file())
