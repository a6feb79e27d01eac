"""The crypto core: keys, domain-separated signatures, canonical JSON, RFC 6962 Merkle trees and
proofs, tiles, C2SP signed notes, checkpoints and cosignatures. Bytes in, bytes out; imports nothing
of the project's other packages. See docs/protocol.md §3 to §6."""

from __future__ import annotations

from .errors import BadKey, BadProof, BadSignature, CryptoError, MalformedEncoding, TooLarge

__all__ = ["BadKey", "BadProof", "BadSignature", "CryptoError", "MalformedEncoding", "TooLarge"]
