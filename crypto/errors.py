"""The typed errors of the crypto core (protocol §3, §4, §5).

Every parser and verifier in `crypto/` raises only these. Each carries a stable machine `code` (never
changed, reused or removed) and a message of one sentence that names what was wrong without echoing
secrets or the input itself.
"""

from __future__ import annotations

from typing import ClassVar, Final

__all__ = ["BadKey", "BadProof", "BadSignature", "CryptoError", "MalformedEncoding", "TooLarge"]


class CryptoError(Exception):
    """Root of every error raised by `crypto/`."""

    code: ClassVar[str] = "crypto_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message: Final = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class MalformedEncoding(CryptoError):
    """Bytes or text that do not follow the encoding the spec fixes."""

    code: ClassVar[str] = "malformed_encoding"


class TooLarge(MalformedEncoding):
    """An input over its size limit; refused before it is parsed."""

    code: ClassVar[str] = "too_large"


class BadSignature(CryptoError):
    """A signature that does not verify under the strict Ed25519 rules, or a note without a trusted one."""

    code: ClassVar[str] = "bad_signature"


class BadKey(CryptoError):
    """A public key that is not a canonical, prime-order Ed25519 point, or a malformed key string or file."""

    code: ClassVar[str] = "bad_key"


class BadProof(CryptoError):
    """An inclusion or consistency proof that does not verify."""

    code: ClassVar[str] = "bad_proof"
