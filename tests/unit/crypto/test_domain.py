"""Tests of crypto/domain.py: domain-separated signatures (protocol §3.3)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import domain
from crypto.domain import (
    PROTOCOL_TAG,
    check_origin,
    check_purpose,
    sign_in_domain,
    signing_message,
    verify_in_domain,
)
from crypto.errors import BadSignature, MalformedEncoding
from crypto.keys import SigningKey

KEY = SigningKey.from_seed(bytes(range(32)))
OTHER_KEY = SigningKey.from_seed(bytes(range(1, 33)))
ORIGIN = "registry.example/log"
PURPOSES = (
    "statement/declare",
    "statement/vouch",
    "statement/revoke",
    "presentation",
    "revocation-certificate",
)
ORIGINS = (ORIGIN, "registry.example/log2", "registry.example/Log", "other.example/log")
PAYLOAD = b'{"kind":"vouch","subject":"AAAA"}'


def test_all_pins_public_names() -> None:
    assert domain.__all__ == [
        "MAX_ORIGIN_SIZE",
        "PROTOCOL_TAG",
        "check_origin",
        "check_purpose",
        "sign_in_domain",
        "signing_message",
        "verify_in_domain",
    ]


@pytest.mark.spec("3.3-b")
def test_signing_message_literal_example() -> None:
    # The literal example of protocol §3.3, byte for byte.
    message = signing_message("statement/vouch", "registry.example/log", b'{"a":1}')
    assert message == b'antiwar-registry/v1\nstatement/vouch\nregistry.example/log\n{"a":1}'
    assert message.hex() == (
        "616e74697761722d72656769737472792f76310a"
        "73746174656d656e742f766f7563680a"
        "72656769737472792e6578616d706c652f6c6f670a"
        "7b2261223a317d"
    )
    assert PROTOCOL_TAG == "antiwar-registry/v1"


@pytest.mark.spec("3.3-a")
def test_sign_in_domain_is_raw_signature_over_signing_message() -> None:
    signature = sign_in_domain(KEY, "statement/vouch", ORIGIN, PAYLOAD)
    assert signature == KEY.sign(signing_message("statement/vouch", ORIGIN, PAYLOAD))
    verify_in_domain(KEY.public_key, "statement/vouch", ORIGIN, PAYLOAD, signature)


@pytest.mark.spec("3.3-a")
def test_raw_signature_over_payload_is_invalid_in_domain() -> None:
    with pytest.raises(BadSignature):
        verify_in_domain(KEY.public_key, "statement/vouch", ORIGIN, PAYLOAD, KEY.sign(PAYLOAD))


@pytest.mark.spec("3.3-e")
@pytest.mark.parametrize(("signed_for", "checked_for"), list(itertools.permutations(PURPOSES, 2)))
def test_signature_for_one_purpose_is_invalid_for_every_other(signed_for: str, checked_for: str) -> None:
    signature = sign_in_domain(KEY, signed_for, ORIGIN, PAYLOAD)
    with pytest.raises(BadSignature) as caught:
        verify_in_domain(KEY.public_key, checked_for, ORIGIN, PAYLOAD, signature)
    assert caught.value.code == "bad_signature"


@pytest.mark.spec("3.3-e")
@pytest.mark.parametrize(("signed_for", "checked_for"), list(itertools.permutations(ORIGINS, 2)))
def test_signature_for_one_origin_is_invalid_for_every_other(signed_for: str, checked_for: str) -> None:
    signature = sign_in_domain(KEY, "statement/vouch", signed_for, PAYLOAD)
    with pytest.raises(BadSignature):
        verify_in_domain(KEY.public_key, "statement/vouch", checked_for, PAYLOAD, signature)


@pytest.mark.spec("3.3-e")
def test_signature_is_invalid_under_another_key_or_payload() -> None:
    signature = sign_in_domain(KEY, "statement/vouch", ORIGIN, PAYLOAD)
    with pytest.raises(BadSignature):
        verify_in_domain(OTHER_KEY.public_key, "statement/vouch", ORIGIN, PAYLOAD, signature)
    with pytest.raises(BadSignature):
        verify_in_domain(KEY.public_key, "statement/vouch", ORIGIN, PAYLOAD + b" ", signature)


@pytest.mark.spec("3.3-b")
def test_newline_smuggled_into_payload_does_not_collide() -> None:
    # An attacker who controls a payload tries to make it look like another purpose or origin: the
    # messages differ, because purpose and origin cannot contain a newline and are fixed by the verifier.
    honest = signing_message("statement/vouch", ORIGIN, b"x")
    assert signing_message("statement", "vouch", ORIGIN.encode() + b"\nx") != honest
    assert signing_message("statement/vouch", "registry.example", b"log\nx") != honest
    signature = sign_in_domain(KEY, "statement/vouch", "registry.example", b"log\nx")
    with pytest.raises(BadSignature):
        verify_in_domain(KEY.public_key, "statement/vouch", ORIGIN, b"x", signature)


_purposes = st.from_regex(r"\A[a-z][a-z0-9_./-]{0,10}\Z")
_origins = st.from_regex(r"\A[\x21-\x2a\x2c-\x7e]{1,12}\Z")


_messages = st.tuples(_purposes, _origins, st.binary(max_size=20))


@pytest.mark.spec("3.3-b")
@given(parts=_messages)
def test_signing_message_is_injective(parts: tuple[str, str, bytes]) -> None:
    # The inputs can be read back from the message alone, so no two inputs share a message.
    purpose, origin, payload = parts
    tag, got_purpose, got_origin, got_payload = signing_message(purpose, origin, payload).split(b"\n", 3)
    assert (tag, got_purpose, got_origin, got_payload) == (
        PROTOCOL_TAG.encode(),
        purpose.encode(),
        origin.encode(),
        payload,
    )


@pytest.mark.spec("3.3-c")
@pytest.mark.parametrize(
    "purpose",
    [
        "",
        "Statement/vouch",
        "1statement",
        "/vouch",
        "statement vouch",
        "statement\nvouch",
        "statement+vouch",
        "é",
        "statement/vouch\n",
        "a" * 65,
        "vouch:x",
    ],
)
def test_malformed_purpose_is_rejected(purpose: str) -> None:
    assert check_purpose(purpose) is not None
    with pytest.raises(MalformedEncoding) as caught:
        signing_message(purpose, ORIGIN, PAYLOAD)
    assert caught.value.code == "malformed_encoding"
    with pytest.raises(MalformedEncoding):
        sign_in_domain(KEY, purpose, ORIGIN, PAYLOAD)


@pytest.mark.spec("3.3-c")
@pytest.mark.parametrize("purpose", ["a", "statement/vouch", "revocation-certificate", "x.y_z-1/2", "a" * 64])
def test_wellformed_purpose_is_accepted(purpose: str) -> None:
    assert check_purpose(purpose) is None
    assert signing_message(purpose, ORIGIN, b"").split(b"\n")[1] == purpose.encode()


@pytest.mark.spec("3.3-d")
@pytest.mark.parametrize(
    "origin",
    [
        "",
        "registry.example/log ",
        " registry.example",
        "registry.example\nlog",
        "registry+log",
        "реестр.example",
        "registry\texample",
        "a" * 256,
        "a\x7f",
    ],
)
def test_malformed_origin_is_rejected(origin: str) -> None:
    assert check_origin(origin) is not None
    with pytest.raises(MalformedEncoding):
        signing_message("statement/vouch", origin, PAYLOAD)
    with pytest.raises(MalformedEncoding):
        verify_in_domain(KEY.public_key, "statement/vouch", origin, PAYLOAD, bytes(64))


@pytest.mark.spec("3.3-d")
@pytest.mark.parametrize("origin", ["a", "registry.example/log", "example.com:8443/x?y=z~!", "a" * 255])
def test_wellformed_origin_is_accepted(origin: str) -> None:
    assert check_origin(origin) is None
    assert signing_message("statement/vouch", origin, b"").split(b"\n")[2] == origin.encode()


def test_non_string_purpose_or_origin_and_non_bytes_payload_are_malformed() -> None:
    with pytest.raises(MalformedEncoding):
        signing_message(b"statement/vouch", ORIGIN, PAYLOAD)  # type: ignore[arg-type]
    with pytest.raises(MalformedEncoding):
        signing_message("statement/vouch", None, PAYLOAD)  # type: ignore[arg-type]
    with pytest.raises(MalformedEncoding):
        signing_message("statement/vouch", ORIGIN, "text")  # type: ignore[arg-type]


@pytest.mark.spec("3.3-a", "3.3-b")
def test_spec_example_signature_under_rfc8032_test1_key() -> None:
    key = SigningKey.from_seed(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    signature = bytes.fromhex(
        "1e4a3454df2992bf09febf04cf9d6d0ee989f0a1a34b18e4895806c865cf4410"
        "b5e904d2976c02a64a41041f20d6bc313b1e0bad27a2bbfb923a242ef42db008"
    )
    assert sign_in_domain(key, "statement/vouch", "registry.example/log", b'{"a":1}') == signature
    verify_in_domain(key.public_key, "statement/vouch", "registry.example/log", b'{"a":1}', signature)
