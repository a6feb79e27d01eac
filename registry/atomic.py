"""Atomic file writes for the shell: a file is either absent, its old content, or complete.

Used by the data directory (protocol §5.6), exports (§5.7-d), evidence files (§6.4), the witness
configuration (§6.3), mirrors (§6.5), the auditor's tile cache (§9.6-g) and the CLI's output files
(§9.5). The content goes to a new temporary file (created with O_EXCL, so never through a link someone
planted), is written in full and fsynced, then moved into place: replaced, or linked when an existing
file must not be overwritten (link() fails where rename() would silently replace). On any failure the
temporary file is removed.

Shell code, standard library only. `crypto/keyfile.py` keeps its own copy of this pattern on purpose:
`crypto` imports nothing of ours (STYLE §1).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["fsync_directory", "open_atomic", "write_atomic"]


def fsync_directory(directory: Path) -> None:
    """Make the entries of `directory` durable (after a rename or link into it).

    Raises:
        OSError: the directory cannot be opened or synced.
    """
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_atomic(
    path: Path,
    *,
    mode: int = 0o644,
    exact_mode: bool = False,
    overwrite: bool = True,
    fsync: bool = True,
    fsync_dir: bool = False,
    temp_dir: Path | None = None,
    buffering: int = -1,
) -> Iterator[BinaryIO]:
    """Open a temporary file to be moved to `path` when the block ends without an exception.

    Args:
        path: the final path.
        mode: permission bits of the new file.
        exact_mode: set `mode` exactly; otherwise the umask applies.
        overwrite: replace an existing `path`; otherwise link the file into place, so that a `path`
            that exists (or appears meanwhile) is never touched. On a filesystem without hard links
            the file is renamed after checking that `path` is absent (racy, but still refusing).
        fsync: fsync the file before it is moved into place.
        fsync_dir: fsync the directory of `path` after the move.
        temp_dir: where the temporary file is created (on the same filesystem as `path`); by
            default beside `path`, as a hidden file.
        buffering: as for `open`.

    Raises:
        FileExistsError: `path` exists and `overwrite` is false.
        OSError: the file cannot be written; no temporary file is left behind.
        Any exception raised in the block: nothing is moved into place.
    """
    path = Path(path)
    if temp_dir is None:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    else:
        temporary = Path(temp_dir) / f"{secrets.token_hex(8)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        try:
            if exact_mode:
                os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "wb", buffering=buffering) as file:
            yield file
            file.flush()
            if fsync:
                os.fsync(file.fileno())
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise
            except OSError:
                if path.exists():  # a filesystem without hard links: racy, but still refusing
                    raise FileExistsError(f"{path} exists") from None
                os.replace(temporary, path)
        if fsync_dir:
            fsync_directory(path.parent)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    # If the process dies before the move, only a temporary file is left; after it, the file is complete.


def write_atomic(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o644,
    exact_mode: bool = False,
    overwrite: bool = True,
    fsync: bool = True,
    fsync_dir: bool = False,
    temp_dir: Path | None = None,
) -> None:
    """Write `data` to `path` atomically; the arguments are those of `open_atomic`.

    Raises:
        FileExistsError: `path` exists and `overwrite` is false.
        OSError: the file cannot be written; no temporary file is left behind.
    """
    with open_atomic(
        path,
        mode=mode,
        exact_mode=exact_mode,
        overwrite=overwrite,
        fsync=fsync,
        fsync_dir=fsync_dir,
        temp_dir=temp_dir,
    ) as file:
        file.write(data)
