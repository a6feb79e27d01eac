"""The keys of signed notes: key IDs, verifier and signer keys, and signing and verifying notes with them.

Implements the key half of protocol §5.4 (C2SP signed-note v1.0.0): key IDs and the two signature types
([5.4-e]), verifying a note against trusted keys ([5.4-f]), verifier keys
`name+hex8+base64(type || public key)` ([5.4-i]), type separation ([5.4-j]) and signer keys
`PRIVATE+KEY+name+hex8+base64(type || seed)` ([5.4-k]). A note signature is Ed25519 (type 0x01) over the
note text, verified strictly (protocol §3.2).

Timestamped Ed25519 cosignatures (type 0x04) share the key ID and verifier key formats defined here, but
sign a different message; they are verified by `crypto.cosignature` (protocol §6.1), never here.

Deliberately not here: the note format itself (`crypto.note`, which this module builds on and which knows
nothing of keys), key files (`crypto.keyfile`). Pure functions over bytes and text: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from crypto.errors import BadKey, BadSignature, MalformedEncoding
from crypto.keys import SigningKey, check_public_key, verify_strict

# The note-text rule ([5.4-a], [5.4-b]) and the base64 encoder are the note format's: signing checks the
# text with the same function that parsing does, before anything is signed.
from crypto.note import Note, NoteSignature, _b64, _check_text, check_key_name, decode_base64

__all__ = [
    "SIG_TYPE_COSIGNATURE",
    "SIG_TYPE_ED25519",
    "NoteSigner",
    "NoteVerifier",
    "format_signer_key",
    "format_vkey",
    "index_verifiers",
    "key_id",
    "parse_signer_key",
    "parse_vkey",
    "sign_note",
    "verify_note",
]

SIG_TYPE_ED25519: Final = 0x01
"""Signature type of an Ed25519 note signature over the note text (signed-note §Ed25519 signatures)."""
SIG_TYPE_COSIGNATURE: Final = 0x04
"""Signature type of a timestamped Ed25519 cosignature (tlog-cosignature, protocol §6.1)."""

_MAX_KEY_STRING: Final = 1024  # longer vkeys and skeys are refused before they are split
_KEY_TYPES: Final = frozenset({SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE})
_ED25519_KEY_SIZE: Final = 32
_ED25519_SIG_SIZE: Final = 64
_HEX8: Final = re.compile(r"[0-9a-f]{8}")


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """Derive a 4-byte key ID: SHA-256(name || 0x0A || sig_type || public_key)[:4] (protocol §5.4-e).

    Requires 0 <= sig_type <= 255. The name is hashed as UTF-8.
    """
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


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


def index_verifiers(
    verifiers: Iterable[NoteVerifier], sig_type: int, *, wrong_type: str, kind: str
) -> dict[tuple[str, bytes], NoteVerifier]:
    """The verifiers by (name, key ID), the lookup of a signature line, for `verify_note` and
    `crypto.cosignature`.

    Raises:
        BadKey (`bad_key`): a verifier is not of `sig_type` (the message `wrong_type`), or two
            different keys share a name and key ID (named as two `kind`).
    """
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        if v.sig_type != sig_type:
            raise BadKey(wrong_type)
        other = known.setdefault((v.name, v.key_id), v)
        if other != v:
            raise BadKey(f"two {kind} share the name and key ID {v.key_id.hex()}")
    return known


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
    known = index_verifiers(  # step 1
        verifiers,
        SIG_TYPE_ED25519,
        wrong_type="a cosigner key (type 0x04) cannot verify a note signature; verify a cosignature",
        kind="trusted keys",
    )
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
