"""Membership credentials: the text (C2SP tlog-proof) and compact binary forms (protocol §8.1, §9.7).

A **credential** proves, from one signed checkpoint, a member's leaf in the status tree:

- the checkpoint note, with the log's signature and any witness cosignatures;
- the RFC 6962 inclusion proof of the checkpoint's last leaf, which is a state leaf (§5.8-h);
- the state leaf's time and status tree root (its index is the checkpoint's size minus one);
- the member id, its status leaf (§5.8-c) and its status tree proof (§5.8-f).

The **text form** is a C2SP tlog-proof file: the header `c2sp.org/tlog-proof@v1`, an `extra` line
with the base64 of the *payload* (everything but the checkpoint and the inclusion proof), the `index`
line, the proof hashes, an empty line and the checkpoint note verbatim. The **binary form** carries the
same content in about two thirds of the bytes and fits one QR code: the checkpoint as size and root,
each signature as its key ID and bytes. A witness's name is not in the binary form; the reader takes
it from its trust policy by key ID (and drops the lines of witnesses it does not know, which a
verifier ignores anyway).

Nothing here verifies anything (see `registry.verify`); parsing is strict and every format function
round-trips its parser byte for byte. Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from crypto import smt
from crypto.checkpoint import Checkpoint, format_checkpoint, parse_checkpoint
from crypto.errors import CryptoError
from crypto.note import (
    Note,
    NoteSignature,
    decode_base64,
    format_note,
    parse_note,
)
from crypto.notekey import SIG_TYPE_COSIGNATURE, SIG_TYPE_ED25519

from .errors import ErrorCode, Rejected, Rejection
from .statements import MemberId
from .statetree import STATUS_LEAF_SIZE, StateLeaf, StatusLeaf, format_status_leaf, parse_status_leaf

__all__ = [
    "BINARY_MAGIC",
    "CREDENTIAL_HEADER",
    "MAX_CREDENTIAL_SIZE",
    "PAYLOAD_VERSION",
    "Credential",
    "format_credential_binary",
    "format_credential_text",
    "format_payload",
    "parse_credential",
    "parse_credential_binary",
    "parse_credential_text",
]

CREDENTIAL_HEADER: Final = "c2sp.org/tlog-proof@v1"
BINARY_MAGIC: Final = b"\xa7\x01"
"""protocol §9.7-d: the first two bytes of a binary credential (0xA7, then the format version 1)."""
PAYLOAD_VERSION: Final = 1
MAX_CREDENTIAL_SIZE: Final = 65_536
_MAX_PROOF_HASHES: Final = 63
_SIG_SIZES: Final = {SIG_TYPE_ED25519: 64, SIG_TYPE_COSIGNATURE: 72}


def _malformed(message: str, section: str = "9.7-c") -> Rejected:
    return Rejected(Rejection(ErrorCode.MALFORMED_ENCODING, message, section))


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential as read; nothing in it is trusted until `registry.verify` has checked it."""

    note: Note
    checkpoint: Checkpoint
    inclusion_proof: tuple[bytes, ...]
    state: StateLeaf
    member_id: MemberId
    leaf: StatusLeaf
    status_proof: smt.Proof

    @property
    def origin(self) -> str:
        return self.checkpoint.origin


# --- the payload (the tlog-proof `extra` data) -----------------------------------------------------


def format_payload(credential: Credential) -> bytes:
    """version u8 || state logged_ms u64 || state root[32] || member id[32] || status leaf[73] || proof."""
    return (
        struct.pack(">BQ", PAYLOAD_VERSION, credential.state.logged_ms)
        + credential.state.root
        + credential.member_id
        + format_status_leaf(credential.leaf)
        + smt.format_proof(credential.status_proof)
    )


def _parse_payload(data: bytes, state_index: int) -> tuple[StateLeaf, MemberId, StatusLeaf, smt.Proof]:
    fixed = 1 + 8 + 32 + 32 + STATUS_LEAF_SIZE
    if len(data) < fixed + 2:
        raise _malformed("the credential payload is truncated")
    version, logged_ms = struct.unpack(">BQ", data[:9])
    if version != PAYLOAD_VERSION:
        raise _malformed(f"unknown credential payload version {version}")
    if logged_ms > 2**53 - 1:
        raise _malformed("the state leaf's logged_ms is over 2^53-1")
    root, member_id = data[9:41], MemberId(data[41:73])
    leaf = parse_status_leaf(data[73:fixed])
    try:
        proof = smt.parse_proof(data[fixed:])
    except CryptoError as exc:
        raise _malformed(f"the status tree proof is malformed: {exc.message}") from None
    return StateLeaf(state_index, logged_ms, root), member_id, leaf, proof


def _checkpoint_of(note: Note) -> Checkpoint:
    try:
        return parse_checkpoint(note.text)
    except CryptoError as exc:
        raise _malformed(f"the credential's checkpoint is malformed: {exc.message}") from None


def _check_state_index(checkpoint: Checkpoint, index: int) -> None:
    # The format fixes the state leaf at the checkpoint's last leaf; the verifier checks it again.
    if checkpoint.size == 0 or index != checkpoint.size - 1:
        raise _malformed("a credential proves the checkpoint's last leaf (index = size - 1)")


# --- text form (C2SP tlog-proof) -------------------------------------------------------------------


def format_credential_text(credential: Credential) -> bytes:
    """The tlog-proof text form (protocol §9.7-c)."""
    lines = [
        CREDENTIAL_HEADER,
        f"extra {base64.b64encode(format_payload(credential)).decode('ascii')}",
        f"index {credential.state.index}",
        *(base64.b64encode(h).decode("ascii") for h in credential.inclusion_proof),
        "",
    ]
    return "\n".join(lines).encode("ascii") + b"\n" + format_note(credential.note)


def parse_credential_text(data: bytes) -> Credential:
    """Parse the text form strictly; `format_credential_text` gives back `data` (protocol §9.7-c).

    Raises:
        Rejected: `too_large` over 65,536 bytes; `malformed_encoding` for anything that is not exactly
            the form of §9.7-c, including an `index` that is not the checkpoint's last leaf.
    """
    if len(data) > MAX_CREDENTIAL_SIZE:
        raise Rejected(Rejection(ErrorCode.TOO_LARGE, "a credential is at most 65536 bytes", "9.7-c"))
    head, sep, note_bytes = data.partition(b"\n\n")
    if not sep:
        raise _malformed("a credential has a header, an empty line and a checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise _malformed("a credential's header is ASCII") from None
    if len(lines) < 3 or lines[0] != CREDENTIAL_HEADER:
        raise _malformed(f"a credential starts with {CREDENTIAL_HEADER}, an extra line and an index line")
    if not lines[1].startswith("extra ") or not lines[2].startswith("index "):
        raise _malformed("a credential's second line is 'extra <base64>' and its third 'index <N>'")
    index_text = lines[2][len("index ") :]
    if not index_text.isdigit() or not index_text.isascii() or (index_text != "0" and index_text[0] == "0"):
        raise _malformed("the index is a decimal without leading zeros")
    index = int(index_text)
    if len(lines) - 3 > _MAX_PROOF_HASHES:
        raise _malformed("an inclusion proof has at most 63 hashes")
    try:
        payload = decode_base64(lines[1][len("extra ") :], what="credential extra data")
        proof = tuple(decode_base64(line, what="inclusion proof hash") for line in lines[3:])
        note = parse_note(note_bytes)
    except CryptoError as exc:
        raise _malformed(exc.message) from None
    if any(len(h) != 32 for h in proof):
        raise _malformed("an inclusion proof hash is 32 bytes")
    checkpoint = _checkpoint_of(note)
    _check_state_index(checkpoint, index)
    state, member_id, leaf, status_proof = _parse_payload(payload, index)
    credential = Credential(note, checkpoint, proof, state, member_id, leaf, status_proof)
    if format_credential_text(credential) != data:
        raise _malformed("the credential is not in canonical form")
    return credential


# --- binary form ------------------------------------------------------------------------------------


def format_credential_binary(credential: Credential) -> bytes:
    """The compact binary form (protocol §9.7-d)."""
    origin = credential.checkpoint.origin.encode("utf-8")
    out = bytearray(BINARY_MAGIC)
    out += bytes([len(origin)]) + origin
    out += struct.pack(">Q", credential.checkpoint.size) + credential.checkpoint.root_hash
    sigs = [s for s in credential.note.signatures if len(s.signature) in (64, 72)]
    out.append(len(sigs))
    for sig in sigs:
        kind = SIG_TYPE_ED25519 if len(sig.signature) == 64 else SIG_TYPE_COSIGNATURE
        out += sig.key_id + bytes([kind]) + sig.signature
    out.append(len(credential.inclusion_proof))
    out += b"".join(credential.inclusion_proof)
    out += format_payload(credential)
    return bytes(out)


def parse_credential_binary(data: bytes, witness_names: Mapping[bytes, str] | None = None) -> Credential:
    """Parse the binary form (protocol §9.7-d).

    Args:
        data: the bytes.
        witness_names: witness key ID -> witness name, from the reader's trust policy. A type 0x01
            signature is named after the origin; a cosignature whose key ID is not in the map is
            dropped (a verifier would ignore it).

    Raises:
        Rejected: `too_large`, `malformed_encoding`.
    """
    if len(data) > MAX_CREDENTIAL_SIZE:
        raise Rejected(Rejection(ErrorCode.TOO_LARGE, "a credential is at most 65536 bytes", "9.7-d"))
    reader = _Reader(data)
    if reader.take(2) != BINARY_MAGIC:
        raise _malformed("a binary credential starts with 0xA7 0x01", "9.7-d")
    try:
        origin = reader.take(reader.byte()).decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("the origin is not UTF-8", "9.7-d") from None
    (size,) = struct.unpack(">Q", reader.take(8))
    root = reader.take(32)
    try:
        checkpoint = Checkpoint(origin, size, root)
    except CryptoError as exc:
        raise _malformed(exc.message, "9.7-d") from None
    names = witness_names or {}
    sigs: list[NoteSignature] = []
    for _ in range(reader.byte()):
        kid = reader.take(4)
        kind = reader.byte()
        if kind not in _SIG_SIZES:
            raise _malformed(f"unknown signature type {kind:#04x}", "9.7-d")
        raw = reader.take(_SIG_SIZES[kind])
        name = origin if kind == SIG_TYPE_ED25519 else names.get(kid)
        if name is not None:
            sigs.append(NoteSignature(name=name, key_id=kid, signature=raw))
    count = reader.byte()
    if count > _MAX_PROOF_HASHES:
        raise _malformed("an inclusion proof has at most 63 hashes", "9.7-d")
    proof = tuple(reader.take(32) for _ in range(count))
    _check_state_index(checkpoint, size - 1)
    state, member_id, leaf, status_proof = _parse_payload(reader.rest(), size - 1)
    try:
        note = Note(text=format_checkpoint(checkpoint), signatures=tuple(sigs))
    except CryptoError as exc:
        raise _malformed(exc.message, "9.7-d") from None
    return Credential(note, checkpoint, proof, state, member_id, leaf, status_proof)


def parse_credential(data: bytes, witness_names: Mapping[bytes, str] | None = None) -> Credential:
    """Parse either form: binary when `data` starts with BINARY_MAGIC, text otherwise."""
    if data.startswith(BINARY_MAGIC):
        return parse_credential_binary(data, witness_names)
    return parse_credential_text(data)


class _Reader:
    """A cursor over bytes that raises `malformed_encoding` instead of reading past the end."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise _malformed("the binary credential is truncated", "9.7-d")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def rest(self) -> bytes:
        chunk = self._data[self._pos :]
        self._pos = len(self._data)
        return chunk

