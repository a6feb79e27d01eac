"""The wire format of C2SP tlog-witness `add-checkpoint`, and the refusals a witness answers with
(protocol §6.2).

A request body is `old <size>\\n`, up to 63 base64 consistency-proof hashes one per line, an empty
line, then the checkpoint note. A witness answers with its cosignature lines (200), with its latest
size as a `text/x.tlog.size` body (409), or refuses (400, 403, 404, 422). This module parses and
formats those bodies byte for byte and defines one exception per refusal; which status each refusal
gets is fixed by tlog-witness and applied by the HTTP layer (`api/witness.py`).

Pure functions over bytes: no I/O, no clock. It does not verify signatures or proofs (see
`registry.witness.witness`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from crypto.checkpoint import MAX_TREE_SIZE
from crypto.errors import CryptoError
from crypto.note import MAX_NOTE_SIZE, NoteSignature, decode_base64, parse_note

from ..errors import ErrorCode, RegistryError, Rejection

__all__ = [
    "MAX_PROOF_HASHES",
    "MAX_REQUEST_SIZE",
    "TREE_SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "BadLogSignature",
    "InconsistentCheckpoint",
    "MalformedRequest",
    "OldSizeMismatch",
    "UnknownLog",
    "WitnessRefusal",
    "format_add_checkpoint",
    "format_cosignature_lines",
    "format_tree_size",
    "parse_add_checkpoint",
    "parse_cosignature_lines",
    "parse_tree_size",
]

MAX_PROOF_HASHES: Final = 63
"""protocol §6.2-a: a consistency proof between 64-bit tree sizes has at most 63 hashes."""
MAX_REQUEST_SIZE: Final = MAX_NOTE_SIZE + 64 * (MAX_PROOF_HASHES + 1)
"""protocol §6.2-a: the largest add-checkpoint body; a larger one is refused before it is parsed."""
TREE_SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"
"""protocol §6.2-c: the media type of a 409 body, `<size>\\n`."""

_SIZE: Final = re.compile(rb"0|[1-9][0-9]{0,18}")
_HASH_SIZE: Final = 32
_MAX_SIZE_BODY: Final = 64


class WitnessRefusal(RegistryError):
    """Root of the refusals of `add-checkpoint` (protocol §6.2-c). Nothing was persisted or cosigned."""


class MalformedRequest(WitnessRefusal):
    """The body is not a well-formed add-checkpoint request, or old size > checkpoint size (400)."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.MALFORMED_ENCODING) -> None:
        super().__init__(Rejection(code, message, "6.2-a"))


class UnknownLog(WitnessRefusal):
    """The checkpoint's origin is not a log this witness is configured for (404)."""

    def __init__(self, message: str) -> None:
        super().__init__(Rejection(ErrorCode.NOT_FOUND, message, "6.2-c"))


class BadLogSignature(WitnessRefusal):
    """No trusted log signature verifies, or a known log key's signature fails (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(Rejection(ErrorCode.BAD_SIGNATURE, message, "6.2-c"))


class OldSizeMismatch(WitnessRefusal):
    """The request's old size is not the size of the latest checkpoint the witness cosigned for the
    origin (409); `latest_size` is that size, which the client resends from."""

    def __init__(self, latest_size: int, old_size: int) -> None:
        message = f"the witness's latest tree size is {latest_size}, the request's old size is {old_size}"
        super().__init__(Rejection(ErrorCode.BAD_PROOF, message, "6.2-c"))
        self.latest_size: Final = latest_size


class InconsistentCheckpoint(WitnessRefusal):
    """The consistency proof fails, or the checkpoint has the witness's latest size and another root
    hash (422). A log-signed checkpoint refused this way may be evidence of a fork (protocol §6.4)."""

    def __init__(self, message: str) -> None:
        super().__init__(Rejection(ErrorCode.BAD_PROOF, message, "6.2-d"))


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An add-checkpoint request: the size the client believes the witness holds, the consistency
    proof from that size to the checkpoint's, and the encoded checkpoint note (not yet verified).

    Raises (on construction):
        MalformedRequest (`malformed_encoding`): a size out of [0, 2^63-1], a proof of more than 63
            hashes or a hash that is not 32 bytes, or an empty checkpoint.
    """

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes

    def __post_init__(self) -> None:
        if isinstance(self.old_size, bool) or not 0 <= self.old_size <= MAX_TREE_SIZE:
            raise MalformedRequest(f"old size must be in [0, 2^63-1], got {self.old_size}")
        if len(self.proof) > MAX_PROOF_HASHES:
            raise MalformedRequest(f"a consistency proof has at most {MAX_PROOF_HASHES} hashes")
        if any(len(h) != _HASH_SIZE for h in self.proof):
            raise MalformedRequest("every consistency proof hash must be 32 bytes")
        if not self.checkpoint:
            raise MalformedRequest("the request carries no checkpoint")


def format_add_checkpoint(request: AddCheckpoint) -> bytes:
    """Encode an add-checkpoint body (protocol §6.2-a); `parse_add_checkpoint` gives it back."""
    lines = b"".join(base64.b64encode(h) + b"\n" for h in request.proof)
    return b"old %d\n%s\n%s" % (request.old_size, lines, request.checkpoint)


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint body strictly (protocol §6.2-a). Verifies nothing.

    Returns:
        The request; `format_add_checkpoint` of it returns `body` byte for byte.

    Raises:
        MalformedRequest (`too_large`): over `MAX_REQUEST_SIZE` bytes, refused before parsing.
        MalformedRequest (`malformed_encoding`): no `old` line, a size with a sign or leading zero or
            over 2^63-1, a proof line that is not the canonical base64 of 32 bytes, more than 63 proof
            lines, no empty line before the checkpoint, or no checkpoint.
    """
    if len(body) > MAX_REQUEST_SIZE:
        raise MalformedRequest(f"an add-checkpoint body is at most {MAX_REQUEST_SIZE} bytes", ErrorCode.TOO_LARGE)
    first, sep, rest = body.partition(b"\n")
    if not sep or not first.startswith(b"old "):
        raise MalformedRequest("an add-checkpoint body starts with the line 'old <size>'")
    old_size = _parse_size(first[4:], "old size")
    proof: list[bytes] = []
    while True:
        line, sep, after = rest.partition(b"\n")
        if not sep:
            raise MalformedRequest("an add-checkpoint body needs an empty line before the checkpoint")
        rest = after
        if not line:
            break
        if len(proof) == MAX_PROOF_HASHES:
            raise MalformedRequest(f"a consistency proof has at most {MAX_PROOF_HASHES} hashes")
        try:
            proof.append(decode_base64(line.decode("ascii"), what="consistency proof hash"))
        except (UnicodeDecodeError, CryptoError):
            raise MalformedRequest("a consistency proof line is not canonical base64") from None
    return AddCheckpoint(old_size=old_size, proof=tuple(proof), checkpoint=rest)


def format_tree_size(size: int) -> bytes:
    """The body of a 409 answer: the witness's latest size, `<size>\\n` (protocol §6.2-c)."""
    if isinstance(size, bool) or not 0 <= size <= MAX_TREE_SIZE:
        raise MalformedRequest(f"tree size must be in [0, 2^63-1], got {size}")
    return b"%d\n" % size


def parse_tree_size(body: bytes) -> int:
    """Parse a `text/x.tlog.size` body (protocol §6.2-c).

    Raises:
        MalformedRequest (`malformed_encoding`): not a decimal size without leading zeros and a newline.
    """
    if len(body) > _MAX_SIZE_BODY or not body.endswith(b"\n"):
        raise MalformedRequest("a tree size body is a decimal followed by a newline")
    return _parse_size(body[:-1], "tree size")


def format_cosignature_lines(signatures: Sequence[NoteSignature]) -> bytes:
    """The body of a 200 answer: one `— <name> <base64>` line per cosignature (protocol §6.2-e)."""
    return "".join(s.format_line() for s in signatures).encode("utf-8")


def parse_cosignature_lines(body: bytes) -> tuple[NoteSignature, ...]:
    """Parse the signature lines of a 200 answer (protocol §6.2-e). Verifies nothing.

    Raises:
        MalformedRequest (`malformed_encoding` or `too_large`): not one or more well-formed signature
            lines of protocol §5.4-c.
    """
    if len(body) > MAX_NOTE_SIZE // 2:
        raise MalformedRequest("a cosignature answer is too long", ErrorCode.TOO_LARGE)
    try:
        # The lines are parsed as the signature block of a note, by the one note parser.
        signatures = parse_note(b"x\n\n" + body).signatures
    except CryptoError as exc:
        raise MalformedRequest(f"the cosignature answer is not signature lines: {exc.message}") from None
    # The note parser splits at the last empty line, so text and an empty line before the lines would
    # be dropped silently: the answer must be the lines and nothing else (protocol §6.2-h).
    if format_cosignature_lines(signatures) != body:
        raise MalformedRequest("the cosignature answer holds something other than signature lines")
    return signatures


def _parse_size(raw: bytes, what: str) -> int:
    # Same rule as a checkpoint's tree size (protocol §5.5-c): ASCII digits, no sign, no leading zero.
    if _SIZE.fullmatch(raw) is None:
        raise MalformedRequest(f"{what} is not a decimal without leading zeros")
    size = int(raw)
    if size > MAX_TREE_SIZE:
        raise MalformedRequest(f"{what} is over 2^63-1")
    return size
