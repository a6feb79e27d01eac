"""Signed notes: C2SP signed-note v1.0.0 (protocol §5.4).

A note is a UTF-8 text ending in a newline, an empty line, and one or more signature lines
`— <key name> base64(key ID || signature)`. This module parses and formats notes byte for byte,
derives key IDs, parses and formats verifier keys (`name+hex8+base64(type || public key)`) and signer
keys (`PRIVATE+KEY+name+hex8+base64(type || seed)`), signs note texts with Ed25519 (type 0x01) and
verifies them.

Timestamped Ed25519 cosignatures (type 0x04) share the key ID and verifier key formats defined here,
but sign a different message; they are verified by `crypto.cosignature` (protocol §6.1), never here.

Pure functions over bytes and text: no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from crypto.errors import BadKey, BadSignature, MalformedEncoding, TooLarge
from crypto.keys import SigningKey, check_public_key, verify_strict

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "SIG_TYPE_COSIGNATURE",
    "SIG_TYPE_ED25519",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "add_signatures",
    "check_key_name",
    "decode_base64",
    "format_note",
    "format_signer_key",
    "format_vkey",
    "key_id",
    "parse_note",
    "parse_signer_key",
    "parse_vkey",
    "sign_note",
    "verify_note",
]

SIG_TYPE_ED25519: Final = 0x01
"""Signature type of an Ed25519 note signature over the note text (signed-note §Ed25519 signatures)."""
SIG_TYPE_COSIGNATURE: Final = 0x04
"""Signature type of a timestamped Ed25519 cosignature (tlog-cosignature, protocol §6.1)."""

MAX_NOTE_SIZE: Final = 1 << 20
"""protocol §5.4-h: the largest encoded note, signature lines included, in bytes."""
MAX_SIGNATURES: Final = 100
"""protocol §5.4-h: the most signature lines a note may carry (the spec requires accepting 16)."""

_DASH: Final = "\u2014 "  # em dash and space open every signature line
_MAX_KEY_STRING: Final = 1024  # longer vkeys and skeys are refused before they are split
_KEY_TYPES: Final = frozenset({SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE})
_ED25519_KEY_SIZE: Final = 32
_ED25519_SIG_SIZE: Final = 64

# Every ASCII control character except the newline (signed-note §Format).
_CONTROL: Final = re.compile("[\x00-\x09\x0b-\x1f]")
# The Unicode White_Space property, listed explicitly so that the name rule does not drift with the
# Python version's Unicode tables (str.isspace also differs from it on U+001C..U+001F).
_WHITE_SPACE: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_HEX8: Final = re.compile(r"[0-9a-f]{8}")


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


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """Derive a 4-byte key ID: SHA-256(name || 0x0A || sig_type || public_key)[:4] (protocol §5.4-e).

    Requires 0 <= sig_type <= 255. The name is hashed as UTF-8.
    """
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


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


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A trusted public key: its name, signature type (0x01 or 0x04) and 32-byte Ed25519 public key.

    The key ID is derived, never supplied, so a verifier cannot carry a wrong one. A type 0x01 verifier
    checks note signatures (`verify`); a type 0x04 verifier checks cosignatures through
    `crypto.cosignature.verify_cosignature` and refuses to verify a note signature.

    Raises (on construction):
        BadKey (`bad_key`): invalid name, unsupported type, or a public key `check_public_key` refuses.
    """

    name: str
    sig_type: int
    public_key: bytes
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        if not check_key_name(self.name):
            raise BadKey("key name is empty or contains a space, '+' or control character")
        if self.sig_type not in _KEY_TYPES:
            raise BadKey(f"unsupported signature type {self.sig_type:#04x}, expected 0x01 or 0x04")
        check_public_key(self.public_key)
        object.__setattr__(self, "key_id", key_id(self.name, self.sig_type, self.public_key))

    @property
    def vkey(self) -> str:
        """The verifier key string, as `format_vkey` writes it."""
        return format_vkey(self)

    def matches(self, sig: NoteSignature) -> bool:
        """Whether `sig` claims this key: same name and same key ID (protocol §5.4-f)."""
        return sig.name == self.name and sig.key_id == self.key_id

    def verify(self, text: bytes, sig: NoteSignature) -> None:
        """Verify an Ed25519 note signature over the note text (protocol §5.4-f).

        Requires `self.matches(sig)`.

        Raises:
            BadKey (`bad_key`): this is a cosigner (type 0x04) key; cosignatures sign another message.
            BadSignature (`bad_signature`): `sig` does not claim this key or does not verify.
        """
        if self.sig_type != SIG_TYPE_ED25519:
            raise BadKey("a cosigner key (type 0x04) cannot verify a note signature; verify a cosignature")
        if not self.matches(sig):
            raise BadSignature("signature key name or key ID does not match the verifier")
        if len(sig.signature) != _ED25519_SIG_SIZE:
            raise BadSignature(f"an Ed25519 signature is 64 bytes, got {len(sig.signature)}")
        verify_strict(self.public_key, text, sig.signature)


def format_vkey(verifier: NoteVerifier) -> str:
    """Encode a verifier key: `<name>+<hex8 key ID>+base64(type || public key)` (protocol §5.4-i)."""
    return f"{verifier.name}+{verifier.key_id.hex()}+{_b64(bytes([verifier.sig_type]) + verifier.public_key)}"


def parse_vkey(vkey: str) -> NoteVerifier:
    """Parse a verifier key strictly (protocol §5.4-i).

    Raises:
        BadKey (`bad_key`): not three `+`-separated fields, key ID not 8 lowercase hex digits, base64
            not canonical, type not 0x01 or 0x04, public key not 32 bytes or refused by
            `check_public_key`, or a key ID that differs from the one the name, type and key derive.
    """
    if len(vkey) > _MAX_KEY_STRING:
        raise BadKey(f"verifier key is longer than {_MAX_KEY_STRING} characters")
    # The name and the key ID hold no '+'; base64 may, so split twice only.
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise BadKey("verifier key is not <name>+<key ID>+<key>")
    name, hex8, b64 = parts
    type_, public_key, claimed = _split_key_fields(name, hex8, b64, "verifier key")
    verifier = NoteVerifier(name=name, sig_type=type_, public_key=public_key)
    if verifier.key_id != claimed:
        raise BadKey(f"verifier key ID {hex8} does not match the derived {verifier.key_id.hex()}")
    return verifier


def _split_key_fields(name: str, hex8: str, b64: str, what: str) -> tuple[int, bytes, bytes]:
    """Check the shared fields of a vkey or skey; return (type, key material, claimed key ID)."""
    if not check_key_name(name):
        raise BadKey(f"{what} name is empty or contains a space, '+' or control character")
    if _HEX8.fullmatch(hex8) is None:
        raise BadKey(f"{what} ID is not 8 lowercase hexadecimal digits")
    try:
        raw = decode_base64(b64, what=what)
    except MalformedEncoding as err:
        raise BadKey(err.message) from None
    if len(raw) != 1 + _ED25519_KEY_SIZE or raw[0] not in _KEY_TYPES:
        raise BadKey(f"{what} must be a type byte 0x01 or 0x04 and 32 key bytes")
    return raw[0], raw[1:], bytes.fromhex(hex8)


@dataclass(frozen=True, slots=True)
class NoteSigner:
    """An Ed25519 (type 0x01) note signer: a key name and its signing key."""

    name: str
    key: SigningKey = field(repr=False)

    def __post_init__(self) -> None:
        if not check_key_name(self.name):
            raise BadKey("key name is empty or contains a space, '+' or control character")

    @property
    def verifier(self) -> NoteVerifier:
        """The matching type 0x01 verifier."""
        return NoteVerifier(name=self.name, sig_type=SIG_TYPE_ED25519, public_key=self.key.public_key)

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    @property
    def vkey(self) -> str:
        return format_vkey(self.verifier)

    def sign(self, text: bytes) -> NoteSignature:
        """Sign a note text (final newline included) with Ed25519.

        Raises:
            MalformedEncoding (`malformed_encoding`): `text` is not a valid note text (protocol §5.4-b).
        """
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedEncoding("note text is not valid UTF-8") from None
        _check_text(decoded)
        return NoteSignature(name=self.name, key_id=self.key_id, signature=self.key.sign(text))


def format_signer_key(signer: NoteSigner) -> str:
    """Encode a signer key: `PRIVATE+KEY+<name>+<hex8>+base64(0x01 || seed)`. The result is a secret."""
    key = _b64(bytes([SIG_TYPE_ED25519]) + signer.key.seed)
    return f"PRIVATE+KEY+{signer.name}+{signer.key_id.hex()}+{key}"


def parse_signer_key(skey: str) -> NoteSigner:
    """Parse a type 0x01 signer key; the key ID must match the derived public key.

    Raises:
        BadKey (`bad_key`): malformed, type other than 0x01, or a key ID that does not match. The
            message never contains the key.
    """
    if len(skey) > _MAX_KEY_STRING:
        raise BadKey(f"signer key is longer than {_MAX_KEY_STRING} characters")
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise BadKey("signer key is not PRIVATE+KEY+<name>+<key ID>+<key>")
    type_, seed, claimed = _split_key_fields(parts[2], parts[3], parts[4], "signer key")
    if type_ != SIG_TYPE_ED25519:
        raise BadKey("signer key type must be 0x01 (Ed25519)")
    signer = NoteSigner(name=parts[2], key=SigningKey.from_seed(seed))
    if signer.key_id != claimed:
        raise BadKey("signer key ID does not match the derived public key")
    return signer


def sign_note(text: str, signers: Sequence[NoteSigner]) -> Note:
    """Sign a note text with each signer, in order.

    Raises:
        MalformedEncoding (`malformed_encoding`): invalid text, no signer, or two signers sharing a
            key name and key ID.
    """
    _check_text(text)
    raw = text.encode("utf-8")
    return Note(text=text, signatures=tuple(s.sign(raw) for s in signers))


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


def verify_note(note: Note, verifiers: Sequence[NoteVerifier]) -> tuple[NoteVerifier, ...]:
    """Verify a note's Ed25519 signatures against trusted keys (protocol §5.4-f).

    Steps:
    1. Refuse cosigner (type 0x04) verifiers and two different keys sharing a name and key ID.
    2. Ignore every signature whose (name, key ID) matches no verifier.
    3. Verify every signature that matches one; any failure rejects the whole note.
    4. Reject the note unless at least one signature verified.

    Returns:
        The verifiers whose signatures verified, in the order of the signature lines.

    Raises:
        BadKey (`bad_key`): step 1.
        BadSignature (`bad_signature`): steps 3 and 4.
    """
    # Step 1.
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        if v.sig_type != SIG_TYPE_ED25519:
            raise BadKey("a cosigner key (type 0x04) cannot verify a note signature; verify a cosignature")
        other = known.setdefault((v.name, v.key_id), v)
        if other != v:
            raise BadKey(f"two trusted keys share the name and key ID {v.key_id.hex()}")
    text = note.text.encode("utf-8")
    verified: list[NoteVerifier] = []
    for sig in note.signatures:
        # Step 2.
        match = known.get((sig.name, sig.key_id))
        if match is None:
            continue
        # Step 3.
        match.verify(text, sig)
        verified.append(match)
    # Step 4.
    if not verified:
        raise BadSignature("the note carries no signature from a trusted key")
    return tuple(verified)
