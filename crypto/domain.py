"""Domain-separated signatures (protocol §3.3).

Every signature over a protocol object is made over `signing_message(purpose, origin, payload)`, never
over the payload alone, so that a signature made for one purpose or one log is invalid for every other.

The signed message is, byte for byte:

    "antiwar-registry/v1" 0x0A purpose 0x0A origin 0x0A payload

Neither purpose nor origin may contain 0x0A, so the first three lines always split the same way and the
map (purpose, origin, payload) -> message is injective. Deliberately not here: what a purpose means (the
sections that define each object) and C2SP signed notes and cosignatures, which carry their own framing.
No I/O.
"""

from __future__ import annotations

import re
from typing import Final

from crypto.errors import MalformedEncoding
from crypto.keys import SigningKey, verify_strict

__all__ = [
    "MAX_ORIGIN_SIZE",
    "PROTOCOL_TAG",
    "check_origin",
    "check_purpose",
    "sign_in_domain",
    "signing_message",
    "verify_in_domain",
]

PROTOCOL_TAG: Final = "antiwar-registry/v1"
MAX_ORIGIN_SIZE: Final = 255

# protocol §3.3-c: a lowercase ASCII name, 1 to 64 characters, starting with a letter.
_PURPOSE_RE: Final = re.compile(r"[a-z][a-z0-9_./-]{0,63}")
# protocol §3.3-d: printable ASCII without space or '+' (U+0021..U+007E minus U+002B), 1 to 255 bytes.
_ORIGIN_RE: Final = re.compile(r"[\x21-\x2a\x2c-\x7e]{1,255}")

_TAG_LINE: Final = PROTOCOL_TAG.encode("ascii") + b"\n"


def check_purpose(purpose: str) -> str | None:
    """Why `purpose` is not a valid purpose string (protocol §3.3-c), or None when it is."""
    # Not a str (a caller's bug) is refused like any other bad value, not with a TypeError.
    if not isinstance(purpose, str) or _PURPOSE_RE.fullmatch(purpose) is None:
        return "purpose must match ^[a-z][a-z0-9_./-]{0,63}$"
    return None


def check_origin(origin: str) -> str | None:
    """Why `origin` is not a valid log origin (protocol §3.3-d), or None when it is."""
    if not isinstance(origin, str) or _ORIGIN_RE.fullmatch(origin) is None:
        return f"origin must be 1 to {MAX_ORIGIN_SIZE} printable ASCII characters without space or '+'"
    return None


def signing_message(purpose: str, origin: str, payload: bytes) -> bytes:
    """The exact bytes signed for `payload` (protocol §3.3-b).

    Args:
        purpose: what the signature is for, e.g. "statement/vouch" (protocol §3.3-c).
        origin: the origin of the log the signed object belongs to, e.g. "registry.example/log" (§3.3-d).
        payload: the canonical bytes of the object (any bytes; they may contain newlines).

    Returns:
        `"antiwar-registry/v1\\n" + purpose + "\\n" + origin + "\\n" + payload`, purpose and origin in ASCII.

    Raises:
        MalformedEncoding (`malformed_encoding`): purpose or origin breaks its grammar, or the payload is
            not bytes.
    """
    problem = check_purpose(purpose) or check_origin(origin)
    if problem is not None:
        raise MalformedEncoding(problem)
    if not isinstance(payload, bytes):
        raise MalformedEncoding(f"payload must be bytes, got {type(payload).__name__}")
    # The regular expressions admit only ASCII, so encode cannot fail.
    return b"".join((_TAG_LINE, purpose.encode("ascii"), b"\n", origin.encode("ascii"), b"\n", payload))


def sign_in_domain(key: SigningKey, purpose: str, origin: str, payload: bytes) -> bytes:
    """Sign `payload` for `purpose` in the log `origin` (protocol §3.3-a): 64 bytes.

    Raises:
        MalformedEncoding (`malformed_encoding`): as `signing_message`.
    """
    return key.sign(signing_message(purpose, origin, payload))


def verify_in_domain(public_key: bytes, purpose: str, origin: str, payload: bytes, signature: bytes) -> None:
    """Verify a signature made by `sign_in_domain`, strictly (protocol §3.2, §3.3-e).

    The caller passes the purpose it expects and the origin of the log it is checking; neither is ever
    taken from the signed object itself.

    Raises:
        BadSignature (`bad_signature`): the signature is not valid for exactly this purpose, origin and
            payload under `public_key`, or the key is refused (§3.2).
        MalformedEncoding (`malformed_encoding`): purpose or origin breaks its grammar (a caller's bug).
    """
    verify_strict(public_key, signing_message(purpose, origin, payload), signature)
