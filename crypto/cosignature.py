"""Witness cosignatures: C2SP tlog-cosignature `cosignature/v1`, Ed25519, type 0x04 (protocol §6.1).

A cosignature is a note signature line on a checkpoint. Its key ID uses signature type 0x04, and its
signature is a 72-byte `timestamped_signature`: an 8-byte big-endian POSIX time in seconds followed by
an Ed25519 signature over

    cosignature/v1\\n
    time <timestamp>\\n
    <the whole checkpoint note text>

This module builds and checks that format and counts a quorum of trusted witnesses. It does not decide
which witnesses to trust, does not read the clock (callers that refuse future timestamps compare the
returned times with their own `now`), and does not check the log's own signature (see
`crypto.checkpoint.open_checkpoint`). Pure functions: no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from crypto.errors import BadKey, BadSignature, MalformedEncoding
from crypto.keys import SigningKey, verify_strict
from crypto.note import Note, NoteSignature
from crypto.notekey import SIG_TYPE_COSIGNATURE, NoteVerifier, format_vkey, index_verifiers, key_id

__all__ = [
    "COSIGNATURE_HEADER",
    "MAX_TIMESTAMP",
    "cosign",
    "cosignature_message",
    "cosigner_vkey",
    "verify_cosignature",
    "verify_cosignatures",
]

COSIGNATURE_HEADER: Final = "cosignature/v1"
"""protocol §6.1-c: the first line of every signed message, its domain separation."""
MAX_TIMESTAMP: Final = (1 << 63) - 1
"""protocol §6.1-b: the largest cosignature timestamp, in POSIX seconds."""

_TIMESTAMPED_SIZE: Final = 8 + 64


def cosignature_message(checkpoint_body: str, timestamp_s: int) -> bytes:
    """Build the message a cosigner signs (protocol §6.1-c).

    Requires 0 <= timestamp_s <= MAX_TIMESTAMP and `checkpoint_body` the whole note text of the
    checkpoint, final newline included, signature lines excluded.

    Raises:
        MalformedEncoding (`malformed_encoding`): the timestamp is out of range or the body does not
            end in a newline.
    """
    if isinstance(timestamp_s, bool) or not 0 <= timestamp_s <= MAX_TIMESTAMP:
        raise MalformedEncoding(f"cosignature timestamp must be in [0, 2^63-1], got {timestamp_s}")
    if not checkpoint_body.endswith("\n"):
        raise MalformedEncoding("checkpoint text does not end in a newline")
    try:
        body = checkpoint_body.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedEncoding("checkpoint text is not valid UTF-8") from None
    # %d writes the decimal without leading zeros, as the spec requires.
    return b"%s\ntime %d\n%s" % (COSIGNATURE_HEADER.encode("ascii"), timestamp_s, body)


def cosigner_vkey(name: str, public_key: bytes) -> str:
    """Encode a witness's type 0x04 verifier key `<name>+<hex8>+base64(0x04 || key)` (protocol §6.1-a).

    Raises:
        BadKey (`bad_key`): invalid name or public key.
    """
    return format_vkey(NoteVerifier(name=name, sig_type=SIG_TYPE_COSIGNATURE, public_key=public_key))


def cosign(witness: SigningKey, name: str, checkpoint_body: str, timestamp_s: int) -> NoteSignature:
    """Cosign a checkpoint as witness `name` at `timestamp_s` (protocol §6.1-a to §6.1-c).

    The caller supplies the time; the core never reads the clock. Each cosigner name needs its own key
    (protocol §6.1-d), which this function cannot check.

    Returns:
        The signature line's value: type 0x04 key ID and the 72-byte timestamped signature.

    Raises:
        MalformedEncoding (`malformed_encoding`): invalid timestamp, body or name.
    """
    message = cosignature_message(checkpoint_body, timestamp_s)
    kid = key_id(name, SIG_TYPE_COSIGNATURE, witness.public_key)
    signature = struct.pack(">Q", timestamp_s) + witness.sign(message)
    return NoteSignature(name=name, key_id=kid, signature=signature)


def verify_cosignature(verifier: NoteVerifier, checkpoint_body: str, sig: NoteSignature) -> int:
    """Verify one cosignature on a checkpoint text and return its timestamp (protocol §6.1-b, §6.1-c).

    Raises:
        BadKey (`bad_key`): `verifier` is not a cosigner (type 0x04) key.
        BadSignature (`bad_signature`): the line does not claim this key, is not 72 bytes, carries a
            timestamp over 2^63-1, or does not verify.
    """
    if verifier.sig_type != SIG_TYPE_COSIGNATURE:
        raise BadKey("a log key (type 0x01) cannot verify a cosignature; use a type 0x04 witness key")
    if not verifier.matches(sig):
        raise BadSignature("cosignature key name or key ID does not match the witness key")
    if len(sig.signature) != _TIMESTAMPED_SIZE:
        raise BadSignature(f"a cosignature is {_TIMESTAMPED_SIZE} bytes, got {len(sig.signature)}")
    (timestamp_s,) = struct.unpack(">Q", sig.signature[:8])
    if timestamp_s > MAX_TIMESTAMP:
        raise BadSignature("cosignature timestamp is over 2^63-1")
    try:
        message = cosignature_message(checkpoint_body, timestamp_s)
    except MalformedEncoding as err:
        raise BadSignature(err.message) from None
    verify_strict(verifier.public_key, message, sig.signature[8:])
    return int(timestamp_s)


def verify_cosignatures(note: Note, witnesses: Sequence[NoteVerifier], quorum: int) -> Mapping[str, int]:
    """Verify the cosignatures of trusted witnesses on a checkpoint note and require a quorum (§6.1-e).

    Steps:
    1. Refuse non-cosigner keys, two different keys sharing a name and key ID, and a quorum outside
       [0, number of distinct witness names].
    2. Ignore every signature line that matches no witness key (the log's own signature among them).
    3. Verify every line that matches one; any failure rejects the whole note.
    4. Count each witness name once (a name listed with several keys, as in a key rotation, still
       counts once, with its latest timestamp), and require at least `quorum` names.

    Returns:
        A read-only map from witness name to cosignature timestamp (POSIX seconds).

    Raises:
        BadKey (`bad_key`): step 1.
        BadSignature (`bad_signature`): steps 3 and 4.
    """
    known = index_verifiers(  # step 1
        witnesses,
        SIG_TYPE_COSIGNATURE,
        wrong_type="a log key (type 0x01) cannot verify a cosignature; use a type 0x04 witness key",
        kind="witness keys",
    )
    names = {w.name for w in witnesses}
    if isinstance(quorum, bool) or not 0 <= quorum <= len(names):
        raise BadKey(f"quorum must be in [0, {len(names)}] for {len(names)} witnesses, got {quorum}")
    times: dict[str, int] = {}
    for sig in note.signatures:
        # Step 2.
        match = known.get((sig.name, sig.key_id))
        if match is None:
            continue
        # Step 3.
        t = verify_cosignature(match, note.text, sig)
        # Step 4.
        times[match.name] = max(t, times.get(match.name, t))
    if len(times) < quorum:
        raise BadSignature(f"{len(times)} trusted witnesses cosigned the checkpoint, {quorum} required")
    return MappingProxyType(times)
