"""Tests of crypto/keys.py: Ed25519 keys, strict verification and fingerprints (protocol §3.1, §3.2, §3.5)."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import keys
from crypto.errors import BadKey, BadSignature, CryptoError
from crypto.keys import (
    PUBLIC_KEY_SIZE,
    SEED_SIZE,
    SIGNATURE_SIZE,
    SigningKey,
    check_public_key,
    fingerprint,
    verify_strict,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "ed25519"
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493

# RFC 8032 §7.1, TEST 1 and TEST 2.
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]

KEY = SigningKey.from_seed(bytes.fromhex(RFC8032[0][0]))
MESSAGE = b"antiwar-registry test message"


def _load_vectors() -> list[tuple[str, dict[str, Any]]]:
    return [(path.stem, json.loads(path.read_text())) for path in sorted(VECTORS.glob("*.json"))]


ALL_VECTORS = _load_vectors()


def _le(n: int) -> bytes:
    return n.to_bytes(32, "little")


def test_all_pins_public_names() -> None:
    assert keys.__all__ == [
        "PUBLIC_KEY_SIZE",
        "SEED_SIZE",
        "SIGNATURE_SIZE",
        "SigningKey",
        "check_public_key",
        "fingerprint",
        "verify_strict",
    ]
    assert (PUBLIC_KEY_SIZE, SIGNATURE_SIZE, SEED_SIZE) == (32, 64, 32)


@pytest.mark.spec("3.2-i")
@pytest.mark.parametrize(("seed", "public_key", "message", "signature"), RFC8032)
def test_rfc8032_vectors_sign_and_verify(seed: str, public_key: str, message: str, signature: str) -> None:
    key = SigningKey.from_seed(bytes.fromhex(seed))
    assert key.public_key.hex() == public_key
    assert key.seed.hex() == seed
    assert key.sign(bytes.fromhex(message)).hex() == signature
    verify_strict(bytes.fromhex(public_key), bytes.fromhex(message), bytes.fromhex(signature))


@pytest.mark.spec("3.2-i")
def test_generate_gives_distinct_working_keys() -> None:
    first, second = SigningKey.generate(), SigningKey.generate()
    assert first.seed != second.seed
    assert len(first.seed) == SEED_SIZE
    assert check_public_key(first.public_key) == first.public_key
    verify_strict(first.public_key, MESSAGE, first.sign(MESSAGE))


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_from_seed_rejects_wrong_length(size: int) -> None:
    with pytest.raises(BadKey) as caught:
        SigningKey.from_seed(bytes(size))
    assert caught.value.code == "bad_key"


def test_repr_and_str_never_show_the_seed() -> None:
    for text in (repr(KEY), str(KEY), f"{KEY}", f"{KEY!r}"):
        assert KEY.seed.hex() not in text
        assert RFC8032[0][0][:8] not in text
        assert fingerprint(KEY.public_key) in text


def test_keys_compare_by_seed_and_pickle_round_trip() -> None:
    same = SigningKey.from_seed(KEY.seed)
    assert same == KEY
    assert hash(same) == hash(KEY)
    assert SigningKey.generate() != KEY
    assert pickle.loads(pickle.dumps(KEY)) == KEY


@pytest.mark.spec("3.2-d")
@pytest.mark.parametrize("size", [0, 63, 65, 128])
def test_verify_rejects_wrong_signature_length(size: int) -> None:
    signature = (KEY.sign(MESSAGE) * 2)[:size]
    with pytest.raises(BadSignature) as caught:
        verify_strict(KEY.public_key, MESSAGE, signature)
    assert caught.value.code == "bad_signature"


@pytest.mark.spec("3.2-e")
@pytest.mark.parametrize("multiple", [1, 2, 15])
def test_verify_rejects_s_plus_multiple_of_l(multiple: int) -> None:
    signature = KEY.sign(MESSAGE)
    s = int.from_bytes(signature[32:], "little") + multiple * L
    if s >= 2**256:
        pytest.skip("S + k*L does not fit in 32 bytes")
    with pytest.raises(BadSignature):
        verify_strict(KEY.public_key, MESSAGE, signature[:32] + _le(s))


@pytest.mark.spec("3.2-h")
def test_verify_rejects_any_single_bit_flip() -> None:
    signature = KEY.sign(MESSAGE)
    verify_strict(KEY.public_key, MESSAGE, signature)
    for bit in range(0, 512, 7):
        flipped = bytearray(signature)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(BadSignature):
            verify_strict(KEY.public_key, MESSAGE, bytes(flipped))
    with pytest.raises(BadSignature):
        verify_strict(KEY.public_key, MESSAGE + b"!", signature)


@pytest.mark.spec("3.2-a")
@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_check_public_key_rejects_wrong_length(size: int) -> None:
    with pytest.raises(BadKey):
        check_public_key(bytes(size))
    with pytest.raises(BadSignature):
        verify_strict(bytes(size), MESSAGE, KEY.sign(MESSAGE))


@pytest.mark.spec("3.2-a")
def test_check_public_key_rejects_every_non_canonical_y() -> None:
    # Every y in [p, 2^255) with either sign bit: none is a canonical encoding.
    for y in range(P, 2**255):
        for sign in (0, 1):
            with pytest.raises(BadKey):
                check_public_key(_le(y | (sign << 255)))


@pytest.mark.spec("3.2-a")
def test_check_public_key_rejects_points_off_the_curve() -> None:
    # y is on the curve iff x^2 = (y^2 - 1) / (d y^2 + 1) has a root mod p (Euler's criterion).
    d = -121665 * pow(121666, -1, P) % P
    off_curve = 0
    for y in range(2, 200):
        x2 = (y * y - 1) * pow(d * y * y + 1, -1, P) % P
        if pow(x2, (P - 1) // 2, P) != 1:
            off_curve += 1
            with pytest.raises(BadKey):
                check_public_key(_le(y))
    assert off_curve > 50


def test_check_public_key_accepts_real_keys() -> None:
    for _seed, public_key, _message, _signature in RFC8032:
        assert check_public_key(bytes.fromhex(public_key)) == bytes.fromhex(public_key)


@pytest.mark.spec("3.5-a", "3.1-a")
def test_fingerprint_is_first_8_bytes_of_sha256_in_hex() -> None:
    assert fingerprint(KEY.public_key) == hashlib.sha256(KEY.public_key).hexdigest()[:16]
    assert fingerprint(bytes.fromhex(RFC8032[0][1])) == "21fe31dfa154a261"
    assert fingerprint(SigningKey.from_seed(bytes(range(100, 132))).public_key) == "5540ee3de4e09522"
    with pytest.raises(BadKey):
        fingerprint(bytes(31))


@pytest.mark.spec("3.2-g")
@given(public_key=st.binary(min_size=0, max_size=40), signature=st.binary(min_size=0, max_size=70))
def test_random_bytes_raise_only_crypto_errors(public_key: bytes, signature: bytes) -> None:
    try:
        verify_strict(public_key, MESSAGE, signature)
    except BadSignature:
        pass
    try:
        check_public_key(public_key)
    except BadKey:
        pass


@given(public_key=st.binary(min_size=32, max_size=32), signature=st.binary(min_size=64, max_size=64))
def test_random_well_sized_bytes_never_verify_or_escape(public_key: bytes, signature: bytes) -> None:
    with pytest.raises(CryptoError):
        verify_strict(public_key, MESSAGE, signature)


# --- Strict Ed25519 vectors (tests/vectors/ed25519, written by scripts/gen_vectors_ed25519.py) ---------

# Vectors whose only fault is that the equation does not hold: every other reject vector must be refused by
# the explicit checks of §3.2-a..g alone, whatever libsodium does.
EQUATION_ONLY = {"mixed-order-r"}


def test_vector_set_is_complete() -> None:
    names = {name for name, _ in ALL_VECTORS}
    assert len([n for n in names if n.startswith("speccheck-")]) == 12
    assert len([n for n in names if n.startswith("small-order-key-")]) == 14
    for required in (
        "valid-signature",
        "s-plus-l",
        "mixed-order-key",
        "mixed-order-r",
        "non-canonical-r",
        "small-order-r-identity",
        "off-curve-key",
    ):
        assert required in names
    assert any(n.startswith("non-canonical-key-") for n in names)
    for _name, case in ALL_VECTORS:
        assert set(case) == {"desc", "source", "public_key", "public_key_valid", "message", "signature", "expected"}
        assert case["expected"] in ("accept", "reject")


@pytest.mark.spec("3.2-a", "3.2-b", "3.2-c", "3.2-d", "3.2-e", "3.2-f", "3.2-g", "3.2-h")
@pytest.mark.parametrize(("name", "case"), ALL_VECTORS, ids=[name for name, _ in ALL_VECTORS])
def test_strict_ed25519_vector(name: str, case: dict[str, Any]) -> None:
    public_key = bytes.fromhex(case["public_key"])
    message = bytes.fromhex(case["message"])
    signature = bytes.fromhex(case["signature"])
    if case["expected"] == "accept":
        verify_strict(public_key, message, signature)
    else:
        with pytest.raises(BadSignature) as caught:
            verify_strict(public_key, message, signature)
        assert caught.value.code == "bad_signature"
    if case["public_key_valid"]:
        assert check_public_key(public_key) == public_key
    else:
        with pytest.raises(BadKey) as refused:
            check_public_key(public_key)
        assert refused.value.code == "bad_key"


@pytest.mark.spec("3.2-a", "3.2-b", "3.2-c", "3.2-e", "3.2-f", "3.2-g")
def test_explicit_checks_reject_vectors_even_if_libsodium_accepted_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The strict rules must not depend on how libsodium was built (e.g. ED25519_COMPAT) or on its version.
    import nacl.bindings

    keys._key_problem.cache_clear()
    monkeypatch.setattr(nacl.bindings, "crypto_sign_open", lambda signed, pk: signed[64:])
    for name, case in ALL_VECTORS:
        if case["expected"] == "accept" or name in EQUATION_ONLY:
            continue
        with pytest.raises(BadSignature):
            verify_strict(
                bytes.fromhex(case["public_key"]), bytes.fromhex(case["message"]), bytes.fromhex(case["signature"])
            )


@pytest.mark.spec("3.2-b", "3.2-f")
def test_zip215_grid_every_small_order_a_and_r_with_s_zero_is_rejected() -> None:
    # The 14 x 14 combinations of the encodings of small-order points as A and as R, S = 0 (ZIP-215).
    encodings = [bytes.fromhex(case["public_key"]) for name, case in ALL_VECTORS if name.startswith("small-order-key-")]
    assert len(set(encodings)) == 14
    for a_encoded in encodings:
        for r_encoded in encodings:
            with pytest.raises(BadSignature):
                verify_strict(a_encoded, b"Zcash", r_encoded + bytes(32))


def test_non_bytes_inputs_are_refused_with_typed_errors() -> None:
    signature = KEY.sign(MESSAGE)
    with pytest.raises(BadSignature):
        verify_strict(KEY.public_key, MESSAGE.decode(), signature)  # type: ignore[arg-type]
    with pytest.raises(BadSignature):
        verify_strict(KEY.public_key, MESSAGE, signature.hex())  # type: ignore[arg-type]
    with pytest.raises(BadKey):
        check_public_key(KEY.public_key.hex())  # type: ignore[arg-type]
