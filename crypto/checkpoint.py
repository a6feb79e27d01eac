"""Checkpoints: C2SP tlog-checkpoint v1.0.0, as profiled by this log (protocol §5.5).

A checkpoint is a signed note whose text is exactly three lines: the origin, the tree size in decimal,
and the base64 root hash. This log forbids extension lines, signs with one Ed25519 (type 0x01) key
whose name is the origin, and parses strictly: one encoding per checkpoint.

This module does not check that two checkpoints are consistent (see the Merkle proofs) and does not
verify witness cosignatures (see `crypto.cosignature`). Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Final

from crypto.errors import BadKey, BadSignature, MalformedEncoding
from crypto.note import (
    Note,
    check_key_name,
    decode_base64,
    parse_note,
)
from crypto.notekey import NoteSigner, NoteVerifier, sign_note, verify_note

__all__ = [
    "MAX_ORIGIN_SIZE",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "format_checkpoint",
    "open_checkpoint",
    "parse_checkpoint",
    "sign_checkpoint",
]

MAX_TREE_SIZE: Final = (1 << 63) - 1
"""protocol §5.5-c: the largest tree size a checkpoint may state."""
MAX_ORIGIN_SIZE: Final = 255
"""protocol §5.5-b: the longest origin, in UTF-8 bytes (as in tlog-cosignature's `log_origin<1..255>`)."""

_HASH_SIZE: Final = 32
_SIZE: Final = re.compile(r"0|[1-9][0-9]{0,18}")  # ASCII digits only: int() alone accepts "٣" and "1_0"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed tree head: the log's origin, its tree size, and the RFC 6962 root hash at that size.

    Raises (on construction):
        MalformedEncoding (`malformed_encoding`): an origin, size or root hash protocol §5.5 refuses.
    """

    origin: str
    size: int
    root_hash: bytes

    def __post_init__(self) -> None:
        # protocol §5.5-b: the origin is a valid key name (it names the log's key) of at most 255 bytes.
        if not check_key_name(self.origin):
            raise MalformedEncoding("checkpoint origin is empty or contains a space, '+' or control")
        if len(self.origin.encode("utf-8")) > MAX_ORIGIN_SIZE:
            raise MalformedEncoding(f"checkpoint origin is longer than {MAX_ORIGIN_SIZE} bytes")
        # protocol §5.5-c.
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedEncoding(f"checkpoint tree size must be in [0, 2^63-1], got {self.size}")
        # protocol §5.5-d.
        if len(self.root_hash) != _HASH_SIZE:
            raise MalformedEncoding(f"checkpoint root hash must be 32 bytes, got {len(self.root_hash)}")


def format_checkpoint(cp: Checkpoint) -> str:
    """Encode a checkpoint's note text: origin, size and root hash, each ending in a newline."""
    return f"{cp.origin}\n{cp.size}\n{base64.b64encode(cp.root_hash).decode('ascii')}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note text strictly (protocol §5.5-a to §5.5-d).

    Args:
        text: the note text, final newline included, signature lines excluded.

    Returns:
        The checkpoint; `format_checkpoint` of it returns `text` exactly.

    Raises:
        MalformedEncoding (`malformed_encoding`): not exactly three newline-terminated lines, an
            extension line, an invalid origin, a size with a sign, leading zero or over 2^63-1, or a
            root hash that is not the canonical base64 of 32 bytes.
    """
    # protocol §5.5-a: exactly three lines, each ending in a newline; no extension lines.
    if not text.endswith("\n"):
        raise MalformedEncoding("checkpoint text does not end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) != 3:
        raise MalformedEncoding(f"checkpoint text must be exactly 3 lines, got {len(lines)}")
    origin, size_line, root_line = lines
    # protocol §5.5-c: ASCII decimal, no sign, no leading zero, at most 2^63-1.
    if _SIZE.fullmatch(size_line) is None:
        raise MalformedEncoding("checkpoint tree size is not a decimal without leading zeros")
    size = int(size_line)
    if size > MAX_TREE_SIZE:
        raise MalformedEncoding("checkpoint tree size is over 2^63-1")
    # protocol §5.5-d: canonical base64 of exactly 32 bytes.
    root_hash = decode_base64(root_line, what="checkpoint root hash")
    return Checkpoint(origin=origin, size=size, root_hash=root_hash)


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> Note:
    """Sign a checkpoint with the log's key, whose name must be the origin (protocol §5.5-e).

    Raises:
        BadKey (`bad_key`): the signer's key name differs from the origin.
    """
    if signer.name != cp.origin:
        raise BadKey("the log key name must equal the checkpoint origin")
    return sign_note(format_checkpoint(cp), [signer])


def open_checkpoint(
    note_bytes: bytes, log_verifier: NoteVerifier, *, origin: str | None = None
) -> tuple[Checkpoint, Note]:
    """Verify a signed checkpoint from a log and parse it (protocol §5.5-f).

    Steps:
    1. Parse the signed note (protocol §5.4).
    2. Verify the log's signature; other signatures (witness cosignatures) are ignored here.
    3. Parse the note text as a checkpoint; only now is the text trusted enough to read.
    4. Check that the origin equals the log key's name and, when given, the expected `origin`.

    Args:
        note_bytes: the encoded checkpoint note.
        log_verifier: the log's type 0x01 key.
        origin: the origin the caller expects, if it knows one.

    Returns:
        The checkpoint and the parsed note (with every signature line, for cosignature checks).

    Raises:
        MalformedEncoding (`malformed_encoding`), TooLarge (`too_large`): steps 1 and 3.
        BadKey (`bad_key`): `log_verifier` is a cosigner (type 0x04) key.
        BadSignature (`bad_signature`): steps 2 and 4.
    """
    note = parse_note(note_bytes)  # Step 1.
    verify_note(note, [log_verifier])  # Step 2.
    cp = parse_checkpoint(note.text)  # Step 3.
    # Step 4.
    if cp.origin != log_verifier.name:
        raise BadSignature("the checkpoint origin differs from the log key name")
    if origin is not None and cp.origin != origin:
        raise BadSignature("the checkpoint origin differs from the expected origin")
    return cp, note
