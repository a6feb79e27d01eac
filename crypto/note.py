"""Signed notes: the C2SP signed-note v1.0.0 format (protocol §5.4).

A note is a UTF-8 text ending in a newline, an empty line, and one or more signature lines
`— <key name> base64(key ID || signature)`. This module parses and formats notes byte for byte under this
protocol's rules for the text, the signature lines, key names, duplicates and size ([5.4-a] to [5.4-d],
[5.4-g], [5.4-h]), decodes strict base64, and adds signature lines to a note.

Deliberately not here: keys, key IDs, signing and verification (`crypto.notekey`, [5.4-e], [5.4-f] and
[5.4-i] to [5.4-k]). Nothing in this module checks a signature, so the text of a note it parses is not yet
to be trusted. Cosignatures are `crypto.cosignature` (protocol §6.1). Pure functions over bytes and text:
no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from crypto.errors import MalformedEncoding, TooLarge

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Note",
    "NoteSignature",
    "add_signatures",
    "check_key_name",
    "decode_base64",
    "format_note",
    "parse_note",
]

MAX_NOTE_SIZE: Final = 1 << 20
"""protocol §5.4-h: the largest encoded note, signature lines included, in bytes."""
MAX_SIGNATURES: Final = 100
"""protocol §5.4-h: the most signature lines a note may carry (the spec requires accepting 16)."""

_DASH: Final = "\u2014 "  # em dash and space open every signature line

# Every ASCII control character except the newline (signed-note §Format).
_CONTROL: Final = re.compile("[\x00-\x09\x0b-\x1f]")
# The Unicode White_Space property, listed explicitly so that the name rule does not drift with the
# Python version's Unicode tables (str.isspace also differs from it on U+001C..U+001F).
_WHITE_SPACE: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def check_key_name(name: str) -> bool:
    """Return whether `name` is a valid key name (protocol §5.4-d).

    A key name is non-empty and has no Unicode space, no `+` and no control character.
    """
    return (
        name != ""
        and "+" not in name
        and not any(c in _WHITE_SPACE for c in name)
        and _CONTROL.search(name) is None
        and _is_utf8(name)
    )


def decode_base64(text: str, *, what: str) -> bytes:
    """Decode standard base64 (RFC 4648 §4) strictly: padding required, canonical form only.

    Args:
        text: the base64 text.
        what: what the text encodes, for the error message.

    Raises:
        MalformedEncoding (`malformed_encoding`): characters outside the alphabet, missing padding, or
            non-zero pad bits (an encoding that does not re-encode to the same text).
    """
    if not text.isascii():
        raise MalformedEncoding(f"{what} is not ASCII base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEncoding(f"{what} is not valid padded base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedEncoding(f"{what} is not canonical base64")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _is_utf8(text: str) -> bool:
    """Whether `text` encodes to UTF-8, that is, holds no lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(text: str) -> None:
    # protocol §5.4-a, §5.4-b: valid UTF-8, no control character but newline, ends in a newline.
    if not _is_utf8(text):
        raise MalformedEncoding("note text is not valid UTF-8")
    if _CONTROL.search(text) is not None:
        raise MalformedEncoding("note text contains a control character other than newline")
    if not text.endswith("\n"):
        raise MalformedEncoding("note text does not end in a newline")


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: the key name, the 4-byte key ID, and the signature bytes after the ID."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        if not check_key_name(self.name):
            raise MalformedEncoding("signature key name is empty or contains a space, '+' or control")
        if len(self.key_id) != 4:
            raise MalformedEncoding(f"key ID must be 4 bytes, got {len(self.key_id)}")
        if len(self.signature) == 0:
            raise MalformedEncoding("signature is empty")

    def format_line(self) -> str:
        """The signature line, newline included."""
        return f"{_DASH}{self.name} {_b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A note text (final newline included) and its signatures, in order.

    Construction enforces protocol §5.4-a to §5.4-h, so every `Note` formats to bytes that
    `parse_note` accepts and maps back to an equal `Note`.
    """

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text)
        if not self.signatures:
            raise MalformedEncoding("a note needs at least one signature")
        if len(self.signatures) > MAX_SIGNATURES:
            raise TooLarge(f"a note carries at most {MAX_SIGNATURES} signatures, got {len(self.signatures)}")
        # protocol §5.4-g: one line per (name, key ID); a second line is refused, not silently dropped.
        seen = {(s.name, s.key_id) for s in self.signatures}
        if len(seen) != len(self.signatures):
            raise MalformedEncoding("a note carries two signatures with the same key name and key ID")
        size = len(format_note(self))
        if size > MAX_NOTE_SIZE:
            raise TooLarge(f"a note is at most {MAX_NOTE_SIZE} bytes, got {size}")


def format_note(note: Note) -> bytes:
    """Encode a note: text, an empty line, then one line per signature (protocol §5.4-a)."""
    return (note.text + "\n" + "".join(s.format_line() for s in note.signatures)).encode("utf-8")


def parse_note(data: bytes | str) -> Note:
    """Parse a signed note strictly (protocol §5.4-a to §5.4-h). Verifies nothing.

    Args:
        data: the encoded note.

    Returns:
        The note; `format_note` of it returns `data` byte for byte.

    Raises:
        TooLarge (`too_large`): over `MAX_NOTE_SIZE` bytes or `MAX_SIGNATURES` signature lines.
        MalformedEncoding (`malformed_encoding`): any other departure from the format.
    """
    if len(data) > MAX_NOTE_SIZE:
        raise TooLarge(f"a note is at most {MAX_NOTE_SIZE} bytes")
    if isinstance(data, str):
        if not _is_utf8(data):
            raise MalformedEncoding("note is not valid UTF-8")
        raw = data.encode("utf-8")
        if len(raw) > MAX_NOTE_SIZE:
            raise TooLarge(f"a note is at most {MAX_NOTE_SIZE} bytes")
        text = data
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedEncoding("note is not valid UTF-8") from None
    if _CONTROL.search(text) is not None:
        raise MalformedEncoding("note contains a control character other than newline")
    # protocol §5.4-a: the text ends at the last empty line; signature lines never contain one.
    split = text.rfind("\n\n")
    if split < 0:
        raise MalformedEncoding("note has no empty line before its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedEncoding("note does not end with a newline-terminated signature line")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise TooLarge(f"a note carries at most {MAX_SIGNATURES} signatures, got {len(lines)}")
    return Note(text=body, signatures=tuple(_parse_signature_line(line) for line in lines))


def _parse_signature_line(line: str) -> NoteSignature:
    # protocol §5.4-c: "— " name " " base64(key ID || signature), the ID 4 bytes, the signature not empty.
    if not line.startswith(_DASH):
        raise MalformedEncoding("signature line does not start with an em dash and a space")
    name, sep, b64 = line[len(_DASH) :].partition(" ")
    if not sep:
        raise MalformedEncoding("signature line has no space between key name and signature")
    if not check_key_name(name):
        raise MalformedEncoding("signature key name is empty or contains a space, '+' or control")
    raw = decode_base64(b64, what="signature")
    if len(raw) < 5:
        raise MalformedEncoding(f"signature must hold a 4-byte key ID and a signature, got {len(raw)} bytes")
    return NoteSignature(name=name, key_id=raw[:4], signature=raw[4:])


def add_signatures(note: Note, sigs: Sequence[NoteSignature]) -> Note:
    """Append signatures to a note; a new one replaces an existing one with the same name and key ID.

    Existing signatures keep their order and come first. Nothing is verified.

    Raises:
        MalformedEncoding (`malformed_encoding`): two of `sigs` share a key name and key ID.
        TooLarge (`too_large`): the result is over the note limits.
    """
    new = {(s.name, s.key_id) for s in sigs}
    kept = tuple(s for s in note.signatures if (s.name, s.key_id) not in new)
    return Note(text=note.text, signatures=kept + tuple(sigs))

