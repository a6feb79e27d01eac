"""Presentations: a credential, the holder's signature over a verifier's challenge, and optionally some
identity attributes (protocol §8.1, §9.7-e).

The holder signs, with the member's current key and the domain separation of §3.3 (purpose
`presentation`, the log's origin), the canonical JSON

    {"challenge": HEX, "disclosure": HEX | null, "member": HEX, "state_root": HEX, "tree_size": N}

where `disclosure` is the SHA-256 of the disclosure file shown with it. The signature binds the
verifier's fresh challenge to this credential's state and member, so a presentation cannot be
replayed to another verifier or moved to another credential or disclosure.

Text form:

    antiwar-registry/presentation/v1
    challenge <hex>
    signature <base64>
    disclosure <base64 of the disclosure file>        (optional)
                                                      (empty line)
    <the credential's text form>

Pure: no I/O, no clock, no randomness (the verifier draws the challenge).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from crypto import canonical
from crypto.domain import sign_in_domain
from crypto.errors import CryptoError
from crypto.keys import SigningKey
from crypto.note import decode_base64

from .credential import MAX_CREDENTIAL_SIZE, Credential, format_credential_text, parse_credential_text
from .errors import ErrorCode, Rejected, Rejection
from .identity import IdentityDisclosure, format_identity_disclosure, parse_identity_disclosure

__all__ = [
    "MAX_CHALLENGE_SIZE",
    "MIN_CHALLENGE_SIZE",
    "PRESENTATION_HEADER",
    "PRESENTATION_PURPOSE",
    "Presentation",
    "format_presentation",
    "make_presentation",
    "parse_challenge",
    "parse_presentation",
    "presentation_payload",
]

PRESENTATION_HEADER: Final = "antiwar-registry/presentation/v1"
PRESENTATION_PURPOSE: Final = "presentation"
MIN_CHALLENGE_SIZE: Final = 16
MAX_CHALLENGE_SIZE: Final = 64
_HEX_RE: Final = re.compile(r"(?:[0-9a-f]{2})+")


def _malformed(message: str) -> Rejected:
    return Rejected(Rejection(ErrorCode.MALFORMED_ENCODING, message, "9.7-e"))


def parse_challenge(text: str) -> bytes:
    """A challenge written as lowercase hex: 16 to 64 bytes (protocol §9.7-e).

    Raises:
        Rejected: `malformed_encoding` otherwise.
    """
    text = text.strip()
    if not MIN_CHALLENGE_SIZE * 2 <= len(text) <= MAX_CHALLENGE_SIZE * 2 or _HEX_RE.fullmatch(text) is None:
        raise _malformed(f"a challenge is {MIN_CHALLENGE_SIZE} to {MAX_CHALLENGE_SIZE} bytes in lowercase hex")
    return bytes.fromhex(text)


@dataclass(frozen=True, slots=True)
class Presentation:
    """A credential presented to a verifier (nothing in it is trusted until `registry.verify`)."""

    credential: Credential
    challenge: bytes
    signature: bytes
    disclosure: IdentityDisclosure | None = None


def presentation_payload(credential: Credential, challenge: bytes, disclosure: IdentityDisclosure | None) -> bytes:
    """The canonical JSON the holder signs (protocol §9.7-e)."""
    digest = None if disclosure is None else hashlib.sha256(format_identity_disclosure(disclosure)).hexdigest()
    return canonical.encode(
        {
            "challenge": challenge.hex(),
            "disclosure": digest,
            "member": credential.member_id.hex(),
            "state_root": credential.state.root.hex(),
            "tree_size": credential.checkpoint.size,
        }
    )


def make_presentation(
    credential: Credential, key: SigningKey, challenge: bytes, disclosure: IdentityDisclosure | None = None
) -> Presentation:
    """Sign the verifier's challenge for `credential` with the member's current key (protocol §9.7-e).

    Raises:
        Rejected: `malformed_encoding` for a challenge of the wrong size; `bad_key` when `key` is not
            the current key the credential's status leaf names (the verifier would refuse it).
    """
    if not MIN_CHALLENGE_SIZE <= len(challenge) <= MAX_CHALLENGE_SIZE:
        raise _malformed(f"a challenge is {MIN_CHALLENGE_SIZE} to {MAX_CHALLENGE_SIZE} bytes")
    if key.public_key != credential.leaf.key:
        raise Rejected(
            Rejection(ErrorCode.BAD_KEY, "the key is not the member's current key named by the credential", "8.1-g")
        )
    payload = presentation_payload(credential, challenge, disclosure)
    signature = sign_in_domain(key, PRESENTATION_PURPOSE, credential.origin, payload)
    return Presentation(credential, challenge, signature, disclosure)


def format_presentation(presentation: Presentation) -> bytes:
    """The text form of protocol §9.7-e."""
    lines = [
        PRESENTATION_HEADER,
        f"challenge {presentation.challenge.hex()}",
        f"signature {base64.b64encode(presentation.signature).decode('ascii')}",
    ]
    if presentation.disclosure is not None:
        file = format_identity_disclosure(presentation.disclosure)
        lines.append(f"disclosure {base64.b64encode(file).decode('ascii')}")
    return ("\n".join(lines) + "\n\n").encode("ascii") + format_credential_text(presentation.credential)


def parse_presentation(data: bytes) -> Presentation:
    """Parse the text form strictly; `format_presentation` gives back `data` (protocol §9.7-e).

    Raises:
        Rejected: `too_large`, `malformed_encoding`, and the errors of the credential and disclosure parsers.
    """
    if len(data) > MAX_CREDENTIAL_SIZE + 16_384:
        raise Rejected(Rejection(ErrorCode.TOO_LARGE, "a presentation is at most 81920 bytes", "9.7-e"))
    head, sep, rest = data.partition(b"\n\n")
    if not sep:
        raise _malformed("a presentation has a header, an empty line and a credential")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise _malformed("a presentation's header is ASCII") from None
    if lines[0] != PRESENTATION_HEADER or len(lines) not in (3, 4):
        raise _malformed(f"a presentation starts with {PRESENTATION_HEADER}, a challenge and a signature line")
    if not lines[1].startswith("challenge ") or not lines[2].startswith("signature "):
        raise _malformed("a presentation's second line is 'challenge <hex>' and its third 'signature <base64>'")
    challenge = parse_challenge(lines[1][len("challenge ") :])
    try:
        signature = decode_base64(lines[2][len("signature ") :], what="presentation signature")
        disclosure = None
        if len(lines) == 4:
            if not lines[3].startswith("disclosure "):
                raise _malformed("a presentation's fourth line is 'disclosure <base64>'")
            disclosure = parse_identity_disclosure(decode_base64(lines[3][len("disclosure ") :], what="disclosure"))
    except CryptoError as exc:
        raise _malformed(exc.message) from None
    if len(signature) != 64:
        raise _malformed("a presentation signature is 64 bytes")
    presentation = Presentation(parse_credential_text(rest), challenge, signature, disclosure)
    if format_presentation(presentation) != data:
        raise _malformed("the presentation is not in canonical form")
    return presentation
