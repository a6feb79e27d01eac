"""The export file: a whole log as one portable file (protocol §5.7).

JSON lines, each line one canonical JSON object (protocol §4.1) followed by U+000A:

    {"format":"antiwar-registry-export/v1","log_vkey":VKEY,"origin":ORIGIN,"tree_size":N}
    {"index":0,"leaf":B64}
    {"checkpoint":B64,"size":1}
    {"index":1,"leaf":B64}
    ...

The header comes first. Then the leaves in index order, 0 to N-1, and each stored checkpoint right after
the leaf that completes its tree size, so that a reader can check every checkpoint as it streams. The
last line is the checkpoint of size N (an empty log has the header only). The same log always exports to
the same bytes.

`read_export` checks the structure only (shape, order, canonical encodings, counts); it verifies no
signature and no rule: that is the audit's job. `write_export` reads a `Store` and writes atomically.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final

from crypto import canonical
from crypto.errors import MalformedEncoding

from .atomic import open_atomic
from .errors import ErrorCode, RegistryError, Rejection
from .statements import MAX_LEAF_SIZE

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "EXPORT_FORMAT",
    "MAX_LINE_SIZE",
    "ExportCheckpoint",
    "ExportFile",
    "ExportHeader",
    "ExportLeaf",
    "format_checkpoint_line",
    "format_header",
    "format_leaf_line",
    "parse_header",
    "read_export",
    "write_export",
]

EXPORT_FORMAT: Final = "antiwar-registry-export/v1"
# protocol §5.7-c: the longest line a reader accepts. A leaf is at most 65,535 bytes (87,380 in base64);
# a checkpoint note of this log is a few hundred bytes, but cosigned notes may carry up to 100 lines.
MAX_LINE_SIZE: Final = 200_000
_MAX_NOTE_SIZE: Final = 65_536

ProgressFn = Callable[[int, int], None]
"""Called as progress(leaves_done, tree_size) while an export is written."""


@dataclass(frozen=True, slots=True)
class ExportHeader:
    origin: str
    log_vkey: str
    tree_size: int


@dataclass(frozen=True, slots=True)
class ExportLeaf:
    index: int
    leaf: bytes


@dataclass(frozen=True, slots=True)
class ExportCheckpoint:
    size: int
    note: bytes


def _malformed(line_number: int, message: str) -> RegistryError:
    return RegistryError(Rejection(ErrorCode.MALFORMED_ENCODING, f"export line {line_number}: {message}", "5.7-b"))


def _line(value: Mapping[str, object]) -> bytes:
    return canonical.encode(value) + b"\n"


def format_header(header: ExportHeader) -> bytes:
    return _line(
        {"format": EXPORT_FORMAT, "log_vkey": header.log_vkey, "origin": header.origin, "tree_size": header.tree_size}
    )


def format_leaf_line(index: int, leaf: bytes) -> bytes:
    return _line({"index": index, "leaf": base64.b64encode(leaf).decode("ascii")})


def format_checkpoint_line(size: int, note: bytes) -> bytes:
    return _line({"checkpoint": base64.b64encode(note).decode("ascii"), "size": size})


def _object(line: bytes, number: int) -> Mapping[str, object]:
    if not line.endswith(b"\n"):
        raise _malformed(number, "the line does not end in a newline")
    try:
        value = canonical.decode_canonical(line[:-1], max_size=MAX_LINE_SIZE)
    except MalformedEncoding as exc:
        raise _malformed(number, f"not canonical JSON ({exc.message})") from exc
    if not isinstance(value, dict):
        raise _malformed(number, "not a JSON object")
    return value


def _size_field(obj: Mapping[str, object], name: str, number: int) -> int:
    value = obj[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _malformed(number, f"field {name} must be a non-negative integer")
    return value


def _b64_field(obj: Mapping[str, object], name: str, number: int, limit: int) -> bytes:
    value = obj[name]
    if not isinstance(value, str):
        raise _malformed(number, f"field {name} must be base64")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed(number, f"field {name} is not base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise _malformed(number, f"field {name} is not canonical base64")
    if not 1 <= len(raw) <= limit:
        raise _malformed(number, f"field {name} must hold 1 to {limit} bytes")
    return raw


def parse_header(line: bytes) -> ExportHeader:
    """Parse the first line of an export ([5.7-a]).

    Raises:
        RegistryError (`malformed_encoding`): not a header of this format.
    """
    obj = _object(line, 1)
    if set(obj) != {"format", "log_vkey", "origin", "tree_size"} or obj["format"] != EXPORT_FORMAT:
        raise _malformed(1, f"not a {EXPORT_FORMAT} header")
    origin, vkey = obj["origin"], obj["log_vkey"]
    if not isinstance(origin, str) or not isinstance(vkey, str) or not origin or not vkey:
        raise _malformed(1, "origin and log_vkey must be non-empty strings")
    return ExportHeader(origin, vkey, _size_field(obj, "tree_size", 1))


class ExportFile:
    """An export file whose header was read and checked; its records are read lazily, each time anew.

    Every iterator checks the structure as it goes ([5.7-b]) and raises `RegistryError`
    (`malformed_encoding`) naming the line at the first problem, after yielding the good records before it.
    """

    def __init__(self, path: Path, header: ExportHeader) -> None:
        self.path: Final = Path(path)
        self.header: Final = header

    def records(self) -> Iterator[ExportLeaf | ExportCheckpoint]:
        """Every leaf and checkpoint, in file order."""
        header = self.header
        leaves = 0
        last_checkpoint = 0
        with _open(self.path) as file:
            file.readline(MAX_LINE_SIZE + 1)  # the header, checked by read_export
            number = 1
            while True:
                line = file.readline(MAX_LINE_SIZE + 1)
                number += 1
                if not line:
                    break
                if len(line) > MAX_LINE_SIZE:
                    raise _malformed(number, f"the line is longer than {MAX_LINE_SIZE} bytes")
                obj = _object(line, number)
                if set(obj) == {"index", "leaf"}:
                    index = _size_field(obj, "index", number)
                    if index != leaves:
                        raise _malformed(number, f"expected the leaf at index {leaves}, found index {index}")
                    if index >= header.tree_size:
                        raise _malformed(number, f"a leaf beyond the header's tree size {header.tree_size}")
                    leaves += 1
                    yield ExportLeaf(index, _b64_field(obj, "leaf", number, MAX_LEAF_SIZE))
                elif set(obj) == {"checkpoint", "size"}:
                    size = _size_field(obj, "size", number)
                    if size != leaves or size <= last_checkpoint:
                        raise _malformed(number, f"a checkpoint of size {size} after {leaves} leaves")
                    last_checkpoint = size
                    yield ExportCheckpoint(size, _b64_field(obj, "checkpoint", number, _MAX_NOTE_SIZE))
                else:
                    raise _malformed(number, "neither a leaf nor a checkpoint line")
        if leaves != header.tree_size:
            raise _malformed(number, f"the file ends after {leaves} leaves, the header says {header.tree_size}")
        if last_checkpoint != header.tree_size:
            raise _malformed(number, f"the file does not end with the checkpoint of size {header.tree_size}")

    def leaves(self) -> Iterator[bytes]:
        """The leaf bytes, index 0 first."""
        for record in self.records():
            if isinstance(record, ExportLeaf):
                yield record.leaf

    def checkpoints(self) -> Iterator[tuple[int, bytes]]:
        """(tree size, signed checkpoint note), smallest size first."""
        for record in self.records():
            if isinstance(record, ExportCheckpoint):
                yield record.size, record.note


@contextlib.contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    try:
        file = open(path, "rb")
    except OSError as exc:
        raise RegistryError(Rejection(ErrorCode.NOT_FOUND, f"cannot read {path}: {exc.strerror}", "")) from None
    with file:
        yield file


def read_export(path: Path) -> ExportFile:
    """Open an export file and check its header ([5.7-a]); read the records through the result.

    Raises:
        RegistryError (`not_found`): the file cannot be read; (`malformed_encoding`): a bad header.
    """
    with _open(Path(path)) as file:
        line = file.readline(MAX_LINE_SIZE + 1)
    if not line:
        raise _malformed(1, "the file is empty")
    return ExportFile(Path(path), parse_header(line))


def write_export(store: Store, path: Path, *, force: bool = False, progress: ProgressFn | None = None) -> ExportHeader:
    """Export the log in `store` to `path`, atomically: a temporary file in the same directory, synced,
    then moved into place ([5.7-d]). The export covers the tree size read first, even while a
    sequencer keeps appending.

    Raises:
        FileExistsError: `path` exists and `force` is false.
        OSError: the file cannot be written; nothing is left behind.
        RegistryError (`audit_mismatch`): the store lacks a leaf below its tree size.
        NoLog, StoreUnavailable: as the store's reads.
    """
    path = Path(path)
    if not force and path.exists():
        raise FileExistsError(f"refusing to overwrite {path} (use --force)")
    meta = store.meta()
    header = ExportHeader(meta.origin, meta.log_vkey, meta.tree_size)
    size = header.tree_size
    # Replaced, not linked, into place: `force` was checked above, as before the atomic write.
    with open_atomic(path, mode=0o644, buffering=1 << 20) as file:
        file.write(format_header(header))
        checkpoints = store.iter_checkpoints(1, size + 1)
        next_checkpoint = next(checkpoints, None)
        done = 0
        for row in store.iter_entries(0, size):
            file.write(format_leaf_line(row.index, row.leaf))
            done = row.index + 1
            while next_checkpoint is not None and next_checkpoint[0] <= done:
                if next_checkpoint[0] == done:
                    file.write(format_checkpoint_line(*next_checkpoint))
                next_checkpoint = next(checkpoints, None)
            if progress is not None and (done % 4096 == 0 or done == size):
                progress(done, size)
        if done != size:
            # Raised inside the block: the temporary file is removed and nothing is moved into place.
            message = f"the store returned {done} of its {size} leaves"
            raise RegistryError(Rejection(ErrorCode.AUDIT_MISMATCH, message, "5.7-a"))
    # If the process dies here the export is complete; only its directory entry may not be durable yet.
    return header

