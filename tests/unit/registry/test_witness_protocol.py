"""registry/witness/protocol.py: the add-checkpoint body, the 409 size body and the 200 cosignature lines
(protocol §6.2-a, §6.2-c, §6.2-h)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from crypto.cosignature import cosign
from crypto.note import MAX_NOTE_SIZE
from registry.errors import ErrorCode
from registry.witness import protocol
from registry.witness.protocol import (
    MAX_PROOF_HASHES,
    MAX_REQUEST_SIZE,
    AddCheckpoint,
    MalformedRequest,
    format_add_checkpoint,
    format_cosignature_lines,
    format_tree_size,
    parse_add_checkpoint,
    parse_cosignature_lines,
    parse_tree_size,
)
from tests.witnessing import ToyLog, witness_key, witness_name

H = [hashlib.sha256(bytes([i])).digest() for i in range(70)]
CP = ToyLog().append(6).checkpoint()


def test_all_lists_the_public_names() -> None:
    assert sorted(protocol.__all__) == sorted(
        [
            "MAX_PROOF_HASHES", "MAX_REQUEST_SIZE", "TREE_SIZE_CONTENT_TYPE", "AddCheckpoint", "BadLogSignature",
            "InconsistentCheckpoint", "MalformedRequest", "OldSizeMismatch", "UnknownLog", "WitnessRefusal",
            "format_add_checkpoint", "format_cosignature_lines", "format_tree_size", "parse_add_checkpoint",
            "parse_cosignature_lines", "parse_tree_size",
        ]
    )


@pytest.mark.spec("6.2-a")
def test_body_is_old_line_proof_lines_empty_line_then_checkpoint() -> None:
    body = format_add_checkpoint(AddCheckpoint(4, (H[0], H[1]), CP))
    expected = b"old 4\n" + base64.b64encode(H[0]) + b"\n" + base64.b64encode(H[1]) + b"\n\n" + CP
    assert body == expected
    assert parse_add_checkpoint(body) == AddCheckpoint(4, (H[0], H[1]), CP)


@pytest.mark.spec("6.2-a")
def test_body_without_proof_has_the_empty_line_right_after_old() -> None:
    body = format_add_checkpoint(AddCheckpoint(0, (), CP))
    assert body == b"old 0\n\n" + CP
    assert parse_add_checkpoint(body).proof == ()


@pytest.mark.spec("6.2-a")
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 4",
        b"old 4\n",
        b"Old 4\n\n" + CP,
        b"old  4\n\n" + CP,
        b"old 04\n\n" + CP,
        b"old +4\n\n" + CP,
        b"old -1\n\n" + CP,
        b"old 4 \n\n" + CP,
        b"old 9223372036854775808\n\n" + CP,
        b"old 4\n\n",
        b"old 4\nnot base64!\n\n" + CP,
        b"old 4\n" + base64.b64encode(H[0])[:-1] + b"\n\n" + CP,
        b"old 4\n" + base64.b64encode(H[0][:31]) + b"\n\n" + CP,
        b"old 4\n" + base64.b64encode(H[0] + b"x") + b"\n\n" + CP,
        b"old 4\r\n\r\n" + CP,
    ],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedRequest) as info:
        parse_add_checkpoint(body)
    assert info.value.code == ErrorCode.MALFORMED_ENCODING


@pytest.mark.spec("6.2-a")
def test_noncanonical_base64_proof_line_is_refused() -> None:
    line = bytearray(base64.b64encode(H[0]))
    line[-2] = ord("B") if line[-2] != ord("B") else ord("C")  # 32 bytes: the last digit's pad bits
    with pytest.raises(MalformedRequest):
        parse_add_checkpoint(b"old 4\n" + bytes(line) + b"\n\n" + CP)


@pytest.mark.spec("6.2-a")
def test_at_most_63_proof_hashes() -> None:
    ok = format_add_checkpoint(AddCheckpoint(1, tuple(H[:MAX_PROOF_HASHES]), CP))
    assert len(parse_add_checkpoint(ok).proof) == 63
    lines = b"".join(base64.b64encode(h) + b"\n" for h in H[:64])
    with pytest.raises(MalformedRequest):
        parse_add_checkpoint(b"old 1\n" + lines + b"\n" + CP)
    with pytest.raises(MalformedRequest):
        AddCheckpoint(1, tuple(H[:64]), CP)


@pytest.mark.spec("6.2-a")
def test_a_body_over_the_limit_is_too_large_before_parsing() -> None:
    assert MAX_REQUEST_SIZE > MAX_NOTE_SIZE
    with pytest.raises(MalformedRequest) as info:
        parse_add_checkpoint(b"old 0\n\n" + b"x" * MAX_REQUEST_SIZE)
    assert info.value.code == ErrorCode.TOO_LARGE


@pytest.mark.spec("6.2-a")
def test_request_values_out_of_range_are_refused() -> None:
    for bad in (-1, 1 << 63, True):
        with pytest.raises(MalformedRequest):
            AddCheckpoint(bad, (), CP)
    with pytest.raises(MalformedRequest):
        AddCheckpoint(0, (b"short",), CP)
    with pytest.raises(MalformedRequest):
        AddCheckpoint(0, (), b"")


@pytest.mark.spec("6.2-c")
def test_tree_size_body_round_trips() -> None:
    assert format_tree_size(0) == b"0\n"
    assert format_tree_size(20852163) == b"20852163\n"
    assert parse_tree_size(b"20852163\n") == 20852163
    assert parse_tree_size(format_tree_size((1 << 63) - 1)) == (1 << 63) - 1


@pytest.mark.spec("6.2-c")
@pytest.mark.parametrize("body", [b"", b"5", b"05\n", b"5 \n", b"-5\n", b"x\n", b"5\n\n", b"9223372036854775808\n"])
def test_tree_size_body_is_strict(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_tree_size(body)


@pytest.mark.spec("6.2-h")
def test_cosignature_lines_round_trip() -> None:
    text = ToyLog().append(3).checkpoint().split(b"\n\n")[0].decode() + "\n"
    sigs = tuple(cosign(witness_key(n), witness_name(n), text, 1767225600 + n) for n in (1, 2))
    body = format_cosignature_lines(sigs)
    assert body.count("— ".encode()) == 2
    assert parse_cosignature_lines(body) == sigs


@pytest.mark.spec("6.2-h")
@pytest.mark.parametrize("body", [b"", b"\n", b"- name AAAA\n", "— name".encode(), "— name AAAA\n".encode()])
def test_cosignature_lines_must_be_signature_lines(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_cosignature_lines(body)
