"""Tests of crypto/checkpoint.py: strict C2SP tlog-checkpoint profile (protocol §5.5, §11.2)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from crypto import checkpoint as checkpoint_module
from crypto.checkpoint import (
    MAX_ORIGIN_SIZE,
    MAX_TREE_SIZE,
    Checkpoint,
    format_checkpoint,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from crypto.cosignature import cosign
from crypto.errors import BadKey, BadSignature, CryptoError, MalformedEncoding, TooLarge
from crypto.keys import SigningKey
from crypto.note import (
    add_signatures,
    format_note,
    parse_note,
)
from crypto.notekey import SIG_TYPE_COSIGNATURE, NoteSigner, NoteVerifier, parse_vkey, sign_note

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "note"
ERRORS: dict[str, type[CryptoError]] = {
    "malformed_encoding": MalformedEncoding,
    "too_large": TooLarge,
    "bad_signature": BadSignature,
    "bad_key": BadKey,
}

ORIGIN = "registry.example/log"
LOG = NoteSigner(name=ORIGIN, key=SigningKey.from_seed(hashlib.sha256(b"checkpoint test log").digest()))
ROOT = hashlib.sha256(b"some root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()
CP = Checkpoint(origin=ORIGIN, size=20852163, root_hash=ROOT)
TEXT = f"{ORIGIN}\n20852163\n{ROOT_B64}\n"
SOFA = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def _vectors(*kinds: str) -> list[Any]:
    cases = [(p.stem, json.loads(p.read_text(encoding="utf-8"))) for p in sorted(VECTORS.glob("*.json"))]
    return [pytest.param(case, id=name) for name, case in cases if case["kind"] in kinds]


def _signed(text: str, signer: NoteSigner = LOG) -> bytes:
    return format_note(sign_note(text, [signer]))


def test_all_lists_the_public_names() -> None:
    assert sorted(checkpoint_module.__all__) == sorted(
        ["MAX_ORIGIN_SIZE", "MAX_TREE_SIZE", "Checkpoint", "format_checkpoint", "open_checkpoint",
         "parse_checkpoint", "sign_checkpoint"]
    )  # fmt: skip


@pytest.mark.spec("5.5-a", "5.5-c", "5.5-d")
def test_format_and_parse_the_tlog_checkpoint_example() -> None:
    cp = parse_checkpoint(SOFA)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    assert cp.root_hash.hex() == "0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62"
    assert format_checkpoint(cp) == SOFA


@pytest.mark.spec("5.5-a")
@pytest.mark.parametrize(
    "text",
    [
        TEXT + "extension\n",  # an extension line
        TEXT + "\n",  # an empty fourth line
        TEXT[:-1],  # no final newline
        f"{ORIGIN}\n20852163\n",  # two lines
        f"{ORIGIN}\n\n20852163\n{ROOT_B64}\n",  # an empty line inside
        "",
        "\n",
        TEXT.replace("\n", "\r\n"),
    ],
    ids=["extension", "empty-fourth", "no-newline", "two-lines", "inner-empty", "empty", "newline", "crlf"],
)
def test_parse_checkpoint_rejects_anything_but_three_lines(text: str) -> None:
    with pytest.raises(MalformedEncoding):
        parse_checkpoint(text)


@pytest.mark.spec("5.5-b")
@pytest.mark.parametrize(
    "origin",
    ["", "registry.example/ log", "registry.example/+log", "registry\u00a0example", "a\x01b", "a" * 256],
    ids=["empty", "space", "plus", "nbsp", "control", "too-long"],
)
def test_parse_checkpoint_rejects_a_bad_origin(origin: str) -> None:
    with pytest.raises(MalformedEncoding):
        parse_checkpoint(f"{origin}\n1\n{ROOT_B64}\n")
    with pytest.raises(MalformedEncoding):
        Checkpoint(origin=origin, size=1, root_hash=ROOT)


@pytest.mark.spec("5.5-b")
def test_an_origin_of_255_bytes_is_accepted() -> None:
    origin = "я" * 127 + "a"  # 255 bytes of UTF-8
    assert len(origin.encode()) == MAX_ORIGIN_SIZE
    cp = Checkpoint(origin=origin, size=1, root_hash=ROOT)
    assert parse_checkpoint(format_checkpoint(cp)) == cp
    with pytest.raises(MalformedEncoding):
        Checkpoint(origin=origin + "a", size=1, root_hash=ROOT)


@pytest.mark.spec("5.5-c")
@pytest.mark.parametrize(
    "size",
    ["08", "00", "-1", "+8", " 8", "8 ", "1_000", "٣", "0x10", "", "1e3", str(2**63), "9" * 30],
    ids=["leading-zero", "double-zero", "negative", "plus", "lead-space", "trail-space", "underscore",
         "arabic-digit", "hex", "empty", "exponent", "2^63", "huge"],
)  # fmt: skip
def test_parse_checkpoint_rejects_a_malformed_tree_size(size: str) -> None:
    with pytest.raises(MalformedEncoding):
        parse_checkpoint(f"{ORIGIN}\n{size}\n{ROOT_B64}\n")


@pytest.mark.spec("5.5-c")
def test_tree_size_bounds() -> None:
    assert parse_checkpoint(f"{ORIGIN}\n0\n{ROOT_B64}\n").size == 0
    assert parse_checkpoint(f"{ORIGIN}\n{MAX_TREE_SIZE}\n{ROOT_B64}\n").size == 2**63 - 1
    for bad in (-1, 2**63, True):
        with pytest.raises(MalformedEncoding):
            Checkpoint(origin=ORIGIN, size=bad, root_hash=ROOT)


@pytest.mark.spec("5.5-d")
@pytest.mark.parametrize(
    "root",
    [
        base64.b64encode(ROOT[:31]).decode(),
        base64.b64encode(ROOT + b"\x00").decode(),
        base64.b64encode(b"").decode(),
        ROOT_B64.rstrip("="),
        ROOT_B64[:-2] + chr(ord(ROOT_B64[-2]) + 1) + "=",  # non-zero pad bits
        base64.urlsafe_b64encode(b"\xff" * 32).decode(),
        ROOT.hex(),
    ],
    ids=["31-bytes", "33-bytes", "empty", "unpadded", "pad-bits", "urlsafe", "hex"],
)
def test_parse_checkpoint_rejects_a_bad_root_hash(root: str) -> None:
    with pytest.raises(MalformedEncoding):
        parse_checkpoint(f"{ORIGIN}\n1\n{root}\n")


@pytest.mark.spec("5.5-d")
def test_checkpoint_refuses_a_root_hash_that_is_not_32_bytes() -> None:
    for size in (0, 31, 33):
        with pytest.raises(MalformedEncoding):
            Checkpoint(origin=ORIGIN, size=1, root_hash=b"\x00" * size)


@pytest.mark.spec("5.5-e", "5.5-f")
def test_sign_then_open_a_checkpoint() -> None:
    note = sign_checkpoint(CP, LOG)
    assert note.text == TEXT
    assert note.signatures[0].name == ORIGIN
    cp, opened = open_checkpoint(format_note(note), LOG.verifier, origin=ORIGIN)
    assert cp == CP
    assert opened == note


@pytest.mark.spec("5.5-e")
def test_sign_checkpoint_refuses_a_key_named_other_than_the_origin() -> None:
    other = NoteSigner(name="registry.example/other", key=LOG.key)
    with pytest.raises(BadKey):
        sign_checkpoint(CP, other)


@pytest.mark.spec("5.5-f")
def test_open_checkpoint_ignores_witness_cosignatures_and_unknown_lines() -> None:
    note = sign_checkpoint(CP, LOG)
    witness = SigningKey.from_seed(b"\x05" * 32)
    cosigned = add_signatures(note, [cosign(witness, "w.example", note.text, 1700000000)])
    cp, opened = open_checkpoint(format_note(cosigned), LOG.verifier)
    assert cp == CP
    assert len(opened.signatures) == 2


@pytest.mark.spec("5.5-f")
def test_open_checkpoint_rejects_a_checkpoint_without_the_log_signature() -> None:
    stranger = NoteSigner(name=ORIGIN, key=SigningKey.from_seed(b"\x06" * 32))
    with pytest.raises(BadSignature):
        open_checkpoint(_signed(TEXT, stranger), LOG.verifier)


@pytest.mark.spec("5.5-f")
def test_open_checkpoint_rejects_a_changed_checkpoint() -> None:
    data = _signed(TEXT).replace(b"20852163", b"20852164")
    with pytest.raises(BadSignature):
        open_checkpoint(data, LOG.verifier)


@pytest.mark.spec("5.5-f")
def test_open_checkpoint_verifies_before_it_parses_the_text() -> None:
    # An extension line signed by an unknown key fails on the signature, not on the text.
    stranger = NoteSigner(name=ORIGIN, key=SigningKey.from_seed(b"\x06" * 32))
    with pytest.raises(BadSignature):
        open_checkpoint(_signed(TEXT + "extension\n", stranger), LOG.verifier)
    with pytest.raises(MalformedEncoding):
        open_checkpoint(_signed(TEXT + "extension\n"), LOG.verifier)


@pytest.mark.spec("5.5-f")
def test_open_checkpoint_rejects_an_origin_other_than_the_key_name_or_the_expected_one() -> None:
    other = NoteSigner(name="registry.example/other", key=LOG.key)
    with pytest.raises(BadSignature):
        open_checkpoint(_signed(TEXT, other), other.verifier)
    with pytest.raises(BadSignature):
        open_checkpoint(_signed(TEXT), LOG.verifier, origin="registry.example/elsewhere")


@pytest.mark.spec("5.4-j", "5.5-f")
def test_open_checkpoint_refuses_a_cosigner_key_as_the_log_key() -> None:
    cosigner = NoteVerifier(name=ORIGIN, sig_type=SIG_TYPE_COSIGNATURE, public_key=LOG.key.public_key)
    with pytest.raises(BadKey):
        open_checkpoint(_signed(TEXT), cosigner)


@pytest.mark.spec("5.5-f")
def test_open_checkpoint_rejects_malformed_notes() -> None:
    with pytest.raises(MalformedEncoding):
        open_checkpoint(TEXT.encode(), LOG.verifier)
    with pytest.raises(MalformedEncoding):
        open_checkpoint(b"\xff" + _signed(TEXT), LOG.verifier)


@pytest.mark.parametrize("case", _vectors("checkpoint"))
def test_checkpoint_vector(case: dict[str, Any]) -> None:
    inputs = case["inputs"]
    data = str(inputs["note"]).encode("utf-8")
    if "expected_error" in case:
        with pytest.raises(ERRORS[case["expected_error"]]) as info:
            open_checkpoint(data, parse_vkey(inputs["log_vkey"]), origin=inputs["origin"])
        assert info.value.code == case["expected_error"]
        return
    cp, note = open_checkpoint(data, parse_vkey(inputs["log_vkey"]), origin=inputs["origin"])
    expected = case["expected"]
    assert (cp.origin, cp.size, cp.root_hash.hex()) == (expected["origin"], expected["size"], expected["root_hash_hex"])
    assert format_checkpoint(cp) == note.text
    assert format_note(parse_note(data)) == data
