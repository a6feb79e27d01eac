"""Write the strict-Ed25519 vectors of protocol §3.2 and §11 to tests/vectors/ed25519/.

Usage: python scripts/gen_vectors_ed25519.py [--out DIR] [--check]

Deterministic: fixed seeds and fixed messages, no randomness. The curve arithmetic below is a small, slow,
literal transcription of RFC 8032 §5.1 with a lax decoder (it accepts y >= p and x = 0 with the sign bit
set), so that the generator can build the malformed points that a strict verifier must refuse. It is used
only here, never by the registry.

Cases:
  - speccheck-NN-*: the 12 published vectors of "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko,
    SSR 2020), as published in the ed25519-speccheck repository, typed in with their conditions.
  - small-order-key-*: each of the 14 encodings (8 canonical, 6 non-canonical) of the 8 points of small
    order as the public key, with S = 0 and an R of small order chosen so that the cofactorless equation
    [S]B = R + [k]A holds: a lax verifier accepts these for the message given (ZIP-215's edge cases).
  - non-canonical-key-*: public keys with y >= p that decode, lax, to a point of the curve.
  - off-curve-key: a y with no x on the curve.
  - mixed-order-key: A = [a]B + T, T of order 8, with a signature that holds in the cofactorless
    equation (k = 0 mod 8); libsodium alone accepts it, the subgroup check refuses A.
  - small-order-r-*, non-canonical-r, mixed-order-r: the point R broken in those ways.
  - s-plus-l, s-plus-2l, s-equals-l: S not reduced.
  - valid-*: positive controls.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent))  # scripts/vectorio.py, also when loaded by a test

import vectorio

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z

IDENTITY: Point = (0, 1, 1, 0)


def _add(p: Point, q: Point) -> Point:
    # RFC 8032 §5.1.4, complete addition on twisted Edwards curves with a = -1.
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _neg(p: Point) -> Point:
    return (-p[0] % P, p[1], p[2], -p[3] % P)


def _mul(n: int, p: Point) -> Point:
    result = IDENTITY
    while n > 0:
        if n & 1:
            result = _add(result, p)
        p = _add(p, p)
        n >>= 1
    return result


def _affine(p: Point) -> tuple[int, int]:
    zinv = pow(p[2], -1, P)
    return (p[0] * zinv % P, p[1] * zinv % P)


def _equal(p: Point, q: Point) -> bool:
    return _affine(p) == _affine(q)


def _recover_x(y: int, sign: int) -> int | None:
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    if x2 == 0:
        return 0  # the sign bit is ignored for x = 0, as lax decoders do
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def decode_lax(encoded: bytes) -> Point | None:
    """RFC 8032 §5.1.3 without its canonicity check: y is reduced mod p."""
    n = int.from_bytes(encoded, "little")
    y, sign = (n & ((1 << 255) - 1)) % P, n >> 255
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def encode(p: Point) -> bytes:
    x, y = _affine(p)
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _sha512_int(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


B: Point = decode_lax((4 * pow(5, -1, P) % P).to_bytes(32, "little")) or IDENTITY


def _order8_point() -> Point:
    # The points with y = 0 have order 4; a point T with 2T of order 4 has order 8.
    for y in range(2, 10**6):
        candidate = decode_lax(y.to_bytes(32, "little"))
        if candidate is None:
            continue
        torsion = _mul(L, candidate)  # kills the prime-order component
        if not _equal(_mul(4, torsion), IDENTITY):
            return torsion
    raise AssertionError("unreachable: the curve has points of order 8")


T8 = _order8_point()
SMALL_ORDER_POINTS = [_mul(i, T8) for i in range(8)]  # [i]T8, i = 0..7; [0]T8 is the identity


def small_order_encodings() -> list[tuple[str, bytes]]:
    """The 14 encodings of the 8 points of small order: 8 canonical, then 6 non-canonical."""
    result = [(f"canonical encoding of [{i}]T, order {_order(p)}", encode(p)) for i, p in enumerate(SMALL_ORDER_POINTS)]
    for y, name in ((1, "identity"), (P - 1, "the point of order 2")):
        result.append(
            (f"non-canonical encoding of {name}: x = 0 with the sign bit set", (y | 1 << 255).to_bytes(32, "little"))
        )
    for y, name in ((P, "y = p, i.e. y = 0 (order 4)"), (P + 1, "y = p + 1, i.e. y = 1 (the identity)")):
        for sign in (0, 1):
            result.append((f"non-canonical encoding {name}, sign bit {sign}", (y | sign << 255).to_bytes(32, "little")))
    return result


def _order(p: Point) -> int:
    for order in (1, 2, 4, 8):
        if _equal(_mul(order, p), IDENTITY):
            return order
    raise AssertionError("not of small order")


def _scalar(seed: bytes) -> tuple[int, bytes]:
    """The RFC 8032 secret scalar and nonce prefix of a seed (§5.1.5)."""
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, digest[32:]


def sign_with_point(a: int, prefix: bytes, a_encoded: bytes, message: bytes, torsion_r: Point = IDENTITY) -> bytes:
    """A signature with the RFC 8032 recipe, for the (possibly malformed) key encoding `a_encoded`;
    `torsion_r` is added to R (S is unchanged, so only cofactored verifiers accept when it is not zero)."""
    r = _sha512_int(prefix, message) % L
    r_point = _add(_mul(r, B), torsion_r)
    r_encoded = encode(r_point)
    k = _sha512_int(r_encoded, a_encoded, message) % L
    s = (r + k * a) % L
    return r_encoded + s.to_bytes(32, "little")


def _case(
    desc: str,
    public_key: bytes,
    message: bytes,
    signature: bytes,
    *,
    key_valid: bool,
    source: str = "constructed",
    expected: str = "reject",
) -> dict[str, Any]:
    return {
        "desc": desc,
        "source": source,
        "public_key": public_key.hex(),
        "public_key_valid": key_valid,
        "message": message.hex(),
        "signature": signature.hex(),
        "expected": expected,
    }


# ---------------------------------------------------------------------------------------------------------
# "Taming the many EdDSAs", the 12 published cases (msg, pbk, sig), with the paper's conditions.
SPECCHECK = [
    (
        "00-small-a-small-r-s-zero",
        "S = 0, A and R of small order; passes cofactored and cofactorless verifiers",
        "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "01-small-a-mixed-r",
        "0 < S < L, A of small order, R of mixed order; passes cofactored and cofactorless",
        "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
    ),
    (
        "02-mixed-a-small-r",
        "0 < S < L, A of mixed order, R of small order; passes cofactored and cofactorless",
        "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
    ),
    (
        "03-mixed-a-mixed-r",
        "0 < S < L, A and R of mixed order; passes cofactored and cofactorless (libsodium accepts "
        "it; the prime-order subgroup check on A refuses it)",
        "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
    ),
    (
        "04-mixed-a-mixed-r-cofactored-only",
        "0 < S < L, A and R of mixed order; passes cofactored verifiers only",
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
    ),
    (
        "05-mixed-a-l-times-r-nonzero",
        "0 < S < L, A of mixed order, [8]R = [8](SB - kA) but R has a torsion part "
        "the equation does not cancel; passes cofactored verifiers only",
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
    ),
    (
        "06-s-above-l",
        "S > L (not reduced), A of prime order; passes verifiers that skip the S < L check",
        "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
    ),
    (
        "07-s-far-above-l",
        "S >> L (top bits set), A of prime order; passes verifiers that only check the top bits",
        "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
    ),
    (
        "08-non-canonical-r-cofactored",
        "R is a non-canonical encoding (y = p - 1 with the sign bit set) of a point "
        "of small order, A of mixed order; passes cofactored verifiers that reduce R before hashing",
        "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
    ),
    (
        "09-non-canonical-r-hashed-as-given",
        "R is a non-canonical encoding of a point of small order, A of mixed "
        "order; passes cofactored verifiers that hash R as given",
        "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
    ),
    (
        "10-non-canonical-a-reduced",
        "A is a non-canonical encoding (y = p - 1 with the sign bit set) of the point "
        "of order 2; passes verifiers that reduce A before hashing",
        "e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
    ),
    (
        "11-non-canonical-a-hashed-as-given",
        "A is a non-canonical encoding of the point of order 2; passes verifiers that hash A as given",
        "39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
    ),
]

VALID_SEED = hashlib.sha256(b"antiwar-registry ed25519 vector seed 1").digest()
MESSAGE = b"antiwar-registry/v1 strict Ed25519 vector"


def _cofactorless_holds(a_encoded: bytes, message: bytes, signature: bytes) -> bool:
    """The bare equation [S]B = R + [k]A with lax decoding and S unreduced: what a lax verifier checks."""
    a_point, r_point = decode_lax(a_encoded), decode_lax(signature[:32])
    if a_point is None or r_point is None:
        return False
    k = _sha512_int(signature[:32], a_encoded, message) % L
    s = int.from_bytes(signature[32:], "little")
    return _equal(_mul(s, B), _add(r_point, _mul(k, a_point)))


def build() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    speccheck_source = "Chalkias, Garillot, Nikolaenko: Taming the many EdDSAs (SSR 2020), ed25519-speccheck"
    for name, desc, msg, pbk, sig in SPECCHECK:
        cases[f"speccheck-{name}"] = _case(
            f"speccheck vector {name[:2]}: {desc}",
            bytes.fromhex(pbk),
            bytes.fromhex(msg),
            bytes.fromhex(sig),
            key_valid=name.startswith(("06", "07")),
            source=speccheck_source,
        )

    a, prefix = _scalar(VALID_SEED)
    a_point = _mul(a, B)
    a_encoded = encode(a_point)
    valid = sign_with_point(a, prefix, a_encoded, MESSAGE)
    cases["valid-signature"] = _case(
        "valid: an RFC 8032 signature by a key of prime order (positive control)",
        a_encoded,
        MESSAGE,
        valid,
        key_valid=True,
        expected="accept",
    )
    cases["valid-empty-message"] = _case(
        "valid: signature over the empty message (positive control)",
        a_encoded,
        b"",
        sign_with_point(a, prefix, a_encoded, b""),
        key_valid=True,
        expected="accept",
    )

    # S not reduced: the same equation holds for S + nL, so accepting it makes signatures malleable.
    s = int.from_bytes(valid[32:], "little")
    cases["s-plus-l"] = _case(
        "S replaced by S + L: the equation still holds, S >= L must be refused",
        a_encoded,
        MESSAGE,
        valid[:32] + (s + L).to_bytes(32, "little"),
        key_valid=True,
    )
    cases["s-plus-2l"] = _case(
        "S replaced by S + 2L", a_encoded, MESSAGE, valid[:32] + (s + 2 * L).to_bytes(32, "little"), key_valid=True
    )
    cases["s-equals-l"] = _case(
        "S = L exactly (S = 0 mod L) with R = identity",
        a_encoded,
        MESSAGE,
        encode(IDENTITY) + L.to_bytes(32, "little"),
        key_valid=True,
    )
    cases["s-all-ones"] = _case("S = 2^256 - 1", a_encoded, MESSAGE, valid[:32] + b"\xff" * 32, key_valid=True)

    # R = identity made by the honest key holder: S = k * a, so [S]B = [k]A = R + [k]A. Non-unique signatures.
    r_identity = encode(IDENTITY)
    k = _sha512_int(r_identity, a_encoded, MESSAGE) % L
    cases["small-order-r-identity"] = _case(
        "R = identity, S = k*a by the key holder: holds in the cofactorless equation, R of small order must be refused",
        a_encoded,
        MESSAGE,
        r_identity + (k * a % L).to_bytes(32, "little"),
        key_valid=True,
    )
    # R of order 8 from a prime-order key: only the cofactored equation can hold.
    for i in (1, 4):
        torsion = SMALL_ORDER_POINTS[i]
        r_encoded = encode(torsion)
        k = _sha512_int(r_encoded, a_encoded, MESSAGE) % L
        cases[f"small-order-r-order-{_order(torsion)}"] = _case(
            f"R = [{i}]T of order {_order(torsion)}, S = k*a: the cofactored equation holds, R must be refused",
            a_encoded,
            MESSAGE,
            r_encoded + (k * a % L).to_bytes(32, "little"),
            key_valid=True,
        )
    cases["mixed-order-r"] = _case(
        "R = [r]B + T, T of order 8, S unchanged: passes cofactored verifiers only",
        a_encoded,
        MESSAGE,
        sign_with_point(a, prefix, a_encoded, MESSAGE, torsion_r=T8),
        key_valid=True,
    )
    # Non-canonical R: R = identity encoded as y = p + 1.
    r_nc = (P + 1).to_bytes(32, "little")
    k = _sha512_int(r_nc, a_encoded, MESSAGE) % L
    cases["non-canonical-r"] = _case(
        "R = the identity encoded as y = p + 1, S = k*a: lax verifiers that hash R as given accept it",
        a_encoded,
        MESSAGE,
        r_nc + (k * a % L).to_bytes(32, "little"),
        key_valid=True,
    )

    # Small-order public keys, S = 0, R = -[k]A: "valid" for every lax cofactorless verifier.
    for index, (desc, encoded) in enumerate(small_order_encodings()):
        a_small = decode_lax(encoded)
        assert a_small is not None
        found = None
        for counter in range(1000):
            message = MESSAGE + b" " + str(counter).encode()
            for r_candidate in SMALL_ORDER_POINTS:
                r_encoded = encode(r_candidate)
                k = _sha512_int(r_encoded, encoded, message) % L
                if _equal(r_candidate, _neg(_mul(k, a_small))):
                    found = (message, r_encoded + bytes(32))
                    break
            if found:
                break
        assert found is not None
        cases[f"small-order-key-{index:02d}"] = _case(
            f"public key = {desc}; S = 0 and R = -[k]A, so [S]B = R + [k]A holds: a small-order key must be refused",
            encoded,
            found[0],
            found[1],
            key_valid=False,
        )

    # Non-canonical keys of points that are not of small order: y + p for the y < 19 on the curve.
    for y in range(2, 19):
        for sign in (0, 1):
            encoded = ((y + P) | sign << 255).to_bytes(32, "little")
            if decode_lax(encoded) is None:
                continue
            cases[f"non-canonical-key-y{y}-sign{sign}"] = _case(
                f"public key encodes y = {y} + p (>= p), sign bit {sign}: a point of the curve, but not canonical",
                encoded,
                MESSAGE,
                valid,
                key_valid=False,
            )
    for y in range(2, 100):
        if decode_lax(y.to_bytes(32, "little")) is None:
            cases["off-curve-key"] = _case(
                f"public key y = {y}: x^2 = (y^2 - 1)/(d y^2 + 1) has no root, not a point of the curve",
                y.to_bytes(32, "little"),
                MESSAGE,
                valid,
                key_valid=False,
            )
            break

    # Mixed-order key A = [a]B + T: find a message whose k = 0 mod 8, then the cofactorless equation holds.
    mixed = _add(a_point, T8)
    mixed_encoded = encode(mixed)
    for counter in range(1000):
        message = MESSAGE + b" mixed " + str(counter).encode()
        signature = sign_with_point(a, prefix, mixed_encoded, message)
        if _cofactorless_holds(mixed_encoded, message, signature):
            cases["mixed-order-key"] = _case(
                "public key A = [a]B + T, T of order 8; k = 0 mod 8 so [S]B = R + [k]A holds: libsodium accepts, "
                "the prime-order subgroup check must refuse A",
                mixed_encoded,
                message,
                signature,
                key_valid=False,
            )
            break
    return cases


OUT = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "ed25519"


def _files() -> dict[str, str]:
    cases = build()
    # Self-check: every constructed case the lax equation should accept does.
    for name, case in cases.items():
        if name.startswith(
            ("small-order-key", "mixed-order-key", "valid", "small-order-r-identity", "s-plus", "non-canonical-r")
        ):
            assert _cofactorless_holds(
                bytes.fromhex(case["public_key"]), bytes.fromhex(case["message"]), bytes.fromhex(case["signature"])
            ), name
    return {name: vectorio.render(case, ensure_ascii=True) for name, case in sorted(cases.items())}


def main(argv: list[str] | None = None) -> int:
    return vectorio.main(argv, lambda: {OUT: _files()}, __doc__)


if __name__ == "__main__":
    sys.exit(main())
