"""Ed25519 keys and strict signature verification (protocol §3.1, §3.2, §3.5).

Signing is plain RFC 8032 Ed25519 (no prehash, no context) through libsodium. Verification is strict: on
top of libsodium's own checks it re-checks, explicitly and independently of how libsodium was built, every
rule of §3.2, so that every conforming implementation reaches the same verdict on every input and no
signature is malleable.

Deliberately not here: domain separation (crypto/domain.py; protocol objects are never signed raw), key
files (crypto/keyfile.py), signed notes. No I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import Final

import nacl.bindings
import nacl.exceptions
import nacl.signing

from crypto.errors import BadKey, BadSignature

__all__ = [
    "PUBLIC_KEY_SIZE",
    "SEED_SIZE",
    "SIGNATURE_SIZE",
    "SigningKey",
    "check_public_key",
    "fingerprint",
    "verify_strict",
]

PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
SEED_SIZE: Final = 32

# The field prime p = 2^255 - 19 and the prime order L of the base point B (RFC 8032 §5.1).
_P: Final = 2**255 - 19
_L: Final = 2**252 + 27742317777372353535851937790883648493
_Y_MASK: Final = (1 << 255) - 1

# protocol §3.2-b: the y coordinates of the 8 points of small order (order 1, 2, 4 and 8). A point of small
# order has y in this set whatever its sign bit, and an encoding whose y is >= p but congruent to one of
# these (p, p + 1) denotes the same point; both are caught by comparing y mod p.
_Y8: Final = 2707385501144840649318225287225658788936804267575313519463743609750303402022
_SMALL_ORDER_Y: Final = frozenset({0, 1, _P - 1, _Y8, _P - _Y8})

_FINGERPRINT_SIZE: Final = 8


def _is_small_order_encoding(encoded: bytes) -> bool:
    """Whether a 32-byte point encoding denotes (canonically or not) a point of order 1, 2, 4 or 8."""
    return (int.from_bytes(encoded, "little") & _Y_MASK) % _P in _SMALL_ORDER_Y


def _is_canonical_encoding(encoded: bytes) -> bool:
    """Whether the y coordinate of a 32-byte point encoding is reduced (y < p), RFC 8032 §5.1.3 step 1."""
    return (int.from_bytes(encoded, "little") & _Y_MASK) < _P


@lru_cache(maxsize=1 << 20)
def _key_problem(public_key: bytes) -> str | None:
    """The reason a 32-byte public key is refused, or None. Cached: keys recur (members, logs, witnesses)
    and the subgroup check costs about as much as a verification. The cache holds about a million keys
    (~150 MB at most): at 65,536 a replay of a 1M-entry log missed 0.76 times per leaf and grew
    non-linearly (scripts/bench_replay.py); bounded, so no input can make it grow without limit."""
    # protocol §3.2-a: canonical y.
    if not _is_canonical_encoding(public_key):
        return "public key is not a canonical encoding (y >= p)"
    # protocol §3.2-b: not of small order (this also covers x = 0 with the sign bit set).
    if _is_small_order_encoding(public_key):
        return "public key is a point of small order"
    # protocol §3.2-a and §3.2-c: on the curve and in the prime-order subgroup ([L]A = identity).
    # libsodium's crypto_core_ed25519_is_valid_point checks canonical encoding, the small-order
    # blocklist, decoding (on the curve) and [L]A = identity; the two checks above restate the first two.
    if not nacl.bindings.crypto_core_ed25519_is_valid_point(public_key):
        return "public key is not a point of the prime-order subgroup"
    return None


def check_public_key(public_key: bytes) -> bytes:
    """Refuse any public key that protocol §3.2 does not accept; call wherever a key enters the system.

    Args:
        public_key: the 32-byte RFC 8032 encoding of the point A.

    Returns:
        `public_key`, unchanged.

    Raises:
        BadKey (`bad_key`): not 32 bytes, a non-canonical encoding (y >= p), not a point of the curve, a
            point of small order, or a point with a torsion component (not in the prime-order subgroup).
    """
    if not isinstance(public_key, bytes):
        raise BadKey(f"public key must be bytes, got {type(public_key).__name__}")
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise BadKey(f"public key is {len(public_key)} bytes, expected {PUBLIC_KEY_SIZE}")
    problem = _key_problem(public_key)
    if problem is not None:
        raise BadKey(problem)
    return public_key


def verify_strict(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Verify an Ed25519 signature under the strict rules of protocol §3.2.

    Steps, in the order of §3.2:
      1. the signature is 64 bytes, R || S;                                  [3.2-d]
      2. S < L;                                                              [3.2-e]
      3. R is a canonical encoding and not a point of small order;           [3.2-f]
      4. A passes `check_public_key`;                                        [3.2-g]
      5. the encoding of [S]B - [k]A equals R, k = SHA-512(R || A || M) mod L (libsodium).  [3.2-h]

    Args:
        public_key: the signer's 32-byte public key A.
        message: the signed bytes M (for protocol objects, the output of `crypto.domain.signing_message`).
        signature: the 64-byte signature.

    Raises:
        BadSignature (`bad_signature`): any step fails, including a bad public key.
    """
    if not isinstance(signature, bytes) or not isinstance(message, bytes):
        raise BadSignature("signature and message must be bytes")
    # Step 1.
    if len(signature) != SIGNATURE_SIZE:
        raise BadSignature(f"signature is {len(signature)} bytes, expected {SIGNATURE_SIZE}")
    r_encoded, s_encoded = signature[:32], signature[32:]
    # Step 2. protocol §3.2-e: S >= L would make S and S + L two signatures for one message.
    if int.from_bytes(s_encoded, "little") >= _L:
        raise BadSignature("signature scalar S is not reduced (S >= L)")
    # Step 3. protocol §3.2-f.
    if not _is_canonical_encoding(r_encoded):
        raise BadSignature("signature point R is not a canonical encoding (y >= p)")
    if _is_small_order_encoding(r_encoded):
        raise BadSignature("signature point R is a point of small order")
    # Step 4. protocol §3.2-g.
    try:
        check_public_key(public_key)
    except BadKey as exc:
        raise BadSignature(f"signature made under a refused key: {exc.message}") from None
    # Step 5. libsodium's verification is cofactorless and compares encodings byte for byte.
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except nacl.exceptions.BadSignatureError:
        raise BadSignature("signature does not verify") from None


class SigningKey:
    """An Ed25519 private key, kept as its 32-byte RFC 8032 seed.

    The seed is never shown by `repr` or `str`; read it from `.seed` only to store it (crypto/keyfile.py).
    """

    __slots__ = ("_nacl_key", "_public_key")

    def __init__(self, nacl_key: nacl.signing.SigningKey) -> None:
        """Wrap a PyNaCl key; use `generate` or `from_seed` instead."""
        self._nacl_key: Final = nacl_key
        self._public_key: Final = bytes(nacl_key.verify_key)

    @classmethod
    def generate(cls) -> SigningKey:
        """A new key from the operating system's CSPRNG (protocol §3.2-i)."""
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """The key whose RFC 8032 seed is `seed`.

        Raises:
            BadKey (`bad_key`): the seed is not 32 bytes.
        """
        if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
            size = len(seed) if isinstance(seed, bytes | bytearray) else type(seed).__name__
            raise BadKey(f"seed must be {SEED_SIZE} bytes, got {size}")
        return cls(nacl.signing.SigningKey(seed))

    @property
    def public_key(self) -> bytes:
        """The 32-byte public key A."""
        return self._public_key

    @property
    def seed(self) -> bytes:
        """The 32-byte secret seed. Never log or display it."""
        return bytes(self._nacl_key)

    def sign(self, message: bytes) -> bytes:
        """Raw Ed25519 signature (64 bytes) over `message`, deterministic (RFC 8032 §5.1.6).

        Protocol objects are signed through `crypto.domain.sign_in_domain`; this raw form is for the C2SP
        signed-note and cosignature formats, which carry their own framing.
        """
        signature: bytes = self._nacl_key.sign(message).signature
        return signature

    def __repr__(self) -> str:
        return f"SigningKey(fingerprint={fingerprint(self._public_key)})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SigningKey):
            return NotImplemented
        return hmac.compare_digest(self.seed, other.seed)

    def __hash__(self) -> int:
        return hash(self._public_key)

    def __reduce__(self) -> tuple[object, ...]:
        # Keys cross process boundaries only on purpose (benchmarks, worker pools): pickle by seed.
        return (SigningKey.from_seed, (self.seed,))


def fingerprint(public_key: bytes) -> str:
    """The short identifier of a public key shown to people (protocol §3.5-a).

    Lowercase hex of the first 8 bytes of SHA-256(public key): 16 characters. It names a key in messages
    and logs; it is never used to look a key up or to decide anything (§3.5).

    Args:
        public_key: 32 bytes; not checked to be a valid point, so that a refused key can still be named.

    Raises:
        BadKey (`bad_key`): not 32 bytes.
    """
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise BadKey(f"a fingerprint is taken of a {PUBLIC_KEY_SIZE}-byte public key")
    return hashlib.sha256(public_key).digest()[:_FINGERPRINT_SIZE].hex()
