"""Tests of crypto/cosignature.py: C2SP tlog-cosignature `cosignature/v1` (protocol §6.1, §11.2)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from crypto import cosignature as cosignature_module
from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.cosignature import (
    COSIGNATURE_HEADER,
    MAX_TIMESTAMP,
    cosign,
    cosignature_message,
    cosigner_vkey,
    verify_cosignature,
    verify_cosignatures,
)
from crypto.errors import BadKey, BadSignature, CryptoError, MalformedEncoding, TooLarge
from crypto.keys import SigningKey, verify_strict
from crypto.note import (
    Note,
    NoteSignature,
    add_signatures,
    format_note,
    parse_note,
)
from crypto.notekey import SIG_TYPE_COSIGNATURE, NoteSigner, NoteVerifier, key_id, parse_vkey, verify_note

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "note"
ERRORS: dict[str, type[CryptoError]] = {
    "malformed_encoding": MalformedEncoding,
    "too_large": TooLarge,
    "bad_signature": BadSignature,
    "bad_key": BadKey,
}

SOFA = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
GOCHECK_KEY = SigningKey.from_seed(hashlib.sha256(b"gocheck witness seed").digest())
GOCHECK_NAME = "gocheck.example/witness"
GOCHECK_TIME = 1679315147
GOCHECK_VKEY = "gocheck.example/witness+73f3faf3+BKPdc4FaSsQMJgsg3Z/KAJCl7Isbx4Mt1bSrpRbteX8M"
GOCHECK_LINE = (
    "— gocheck.example/witness c/P68wAAAABkGFDLlMNff0s5xuZLt6mcTQUDY16XPkThcALpi45QGBGElf4ARIUXTt4dKfJrzSkqkN"
    "UVzFiLkQgkWVko9BMtn6JFCQ==\n"
)

LOG = NoteSigner(name="registry.example/log", key=SigningKey.from_seed(hashlib.sha256(b"cosig test log").digest()))
CHECKPOINT = sign_checkpoint(Checkpoint("registry.example/log", 8, hashlib.sha256(b"root").digest()), LOG)
WITNESS_KEYS = [SigningKey.from_seed(hashlib.sha256(f"cosig test witness {i}".encode()).digest()) for i in range(4)]
WITNESS_NAMES = [f"w{i}.example" for i in range(4)]
WITNESSES = [
    NoteVerifier(name=n, sig_type=SIG_TYPE_COSIGNATURE, public_key=k.public_key)
    for n, k in zip(WITNESS_NAMES, WITNESS_KEYS, strict=True)
]
T0 = 1767225600


def _vectors(*kinds: str) -> list[Any]:
    cases = [(p.stem, json.loads(p.read_text(encoding="utf-8"))) for p in sorted(VECTORS.glob("*.json"))]
    return [pytest.param(case, id=name) for name, case in cases if case["kind"] in kinds]


def _cosigned(indexes: list[int], note: Note = CHECKPOINT) -> Note:
    sigs = [cosign(WITNESS_KEYS[i], WITNESS_NAMES[i], note.text, T0 + i) for i in indexes]
    return add_signatures(note, sigs)


def test_all_lists_the_public_names() -> None:
    assert sorted(cosignature_module.__all__) == sorted(
        ["COSIGNATURE_HEADER", "MAX_TIMESTAMP", "cosign", "cosignature_message", "cosigner_vkey",
         "verify_cosignature", "verify_cosignatures"]
    )  # fmt: skip


@pytest.mark.spec("6.1-a", "6.1-b", "6.1-c")
def test_gocheck_vector_reproduces_the_vkey_and_the_signature_line() -> None:
    assert cosigner_vkey(GOCHECK_NAME, GOCHECK_KEY.public_key) == GOCHECK_VKEY
    sig = cosign(GOCHECK_KEY, GOCHECK_NAME, SOFA, GOCHECK_TIME)
    assert sig.format_line() == GOCHECK_LINE
    assert sig.key_id.hex() == "73f3faf3"
    assert sig.signature[:8] == bytes.fromhex("00000000641850cb")
    assert verify_cosignature(parse_vkey(GOCHECK_VKEY), SOFA, sig) == GOCHECK_TIME


@pytest.mark.spec("6.1-c")
def test_cosignature_message_matches_the_spec_example() -> None:
    expected = (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert cosignature_message(SOFA, GOCHECK_TIME) == expected
    assert COSIGNATURE_HEADER == "cosignature/v1"
    assert cosignature_message(SOFA, 0).startswith(b"cosignature/v1\ntime 0\n")
    sig = cosign(GOCHECK_KEY, GOCHECK_NAME, SOFA, GOCHECK_TIME)
    verify_strict(GOCHECK_KEY.public_key, expected, sig.signature[8:])


@pytest.mark.spec("6.1-b", "6.1-c")
@pytest.mark.parametrize("timestamp", [-1, MAX_TIMESTAMP + 1, True])
def test_cosignature_message_refuses_an_out_of_range_timestamp(timestamp: int) -> None:
    with pytest.raises(MalformedEncoding):
        cosignature_message(SOFA, timestamp)
    with pytest.raises(MalformedEncoding):
        cosign(GOCHECK_KEY, GOCHECK_NAME, SOFA, timestamp)


@pytest.mark.spec("6.1-c")
def test_cosignature_message_refuses_a_body_without_final_newline() -> None:
    with pytest.raises(MalformedEncoding):
        cosignature_message(SOFA[:-1], 1)
    with pytest.raises(MalformedEncoding):
        cosignature_message("bad \ud800\n", 1)


@pytest.mark.spec("6.1-b")
def test_the_largest_timestamp_round_trips() -> None:
    sig = cosign(GOCHECK_KEY, GOCHECK_NAME, SOFA, MAX_TIMESTAMP)
    assert verify_cosignature(parse_vkey(GOCHECK_VKEY), SOFA, sig) == MAX_TIMESTAMP


@pytest.mark.spec("6.1-b")
def test_verify_cosignature_rejects_a_timestamp_over_the_limit() -> None:
    # Sign the message a careless witness would build for 2^63 and check it is still refused.
    message = b"cosignature/v1\ntime %d\n%s" % (2**63, SOFA.encode())
    forged = NoteSignature(
        GOCHECK_NAME, bytes.fromhex("73f3faf3"), (2**63).to_bytes(8, "big") + GOCHECK_KEY.sign(message)
    )
    with pytest.raises(BadSignature):
        verify_cosignature(parse_vkey(GOCHECK_VKEY), SOFA, forged)


@pytest.mark.spec("6.1-b")
@pytest.mark.parametrize("length", [64, 71, 73, 8])
def test_verify_cosignature_rejects_a_signature_that_is_not_72_bytes(length: int) -> None:
    sig = cosign(GOCHECK_KEY, GOCHECK_NAME, SOFA, GOCHECK_TIME)
    raw = (sig.signature + b"\x00")[:length] if length <= 73 else sig.signature
    if length == 64:
        raw = sig.signature[8:]
    with pytest.raises(BadSignature):
        verify_cosignature(parse_vkey(GOCHECK_VKEY), SOFA, NoteSignature(sig.name, sig.key_id, raw))


@pytest.mark.spec("6.1-c")
def test_verify_cosignature_rejects_another_time_or_another_checkpoint() -> None:
    sig = cosign(GOCHECK_KEY, GOCHECK_NAME, SOFA, GOCHECK_TIME)
    moved = NoteSignature(sig.name, sig.key_id, (GOCHECK_TIME + 1).to_bytes(8, "big") + sig.signature[8:])
    with pytest.raises(BadSignature):
        verify_cosignature(parse_vkey(GOCHECK_VKEY), SOFA, moved)
    with pytest.raises(BadSignature):
        verify_cosignature(parse_vkey(GOCHECK_VKEY), SOFA.replace("20852163", "20852164"), sig)


@pytest.mark.spec("6.1-c")
def test_a_cosignature_is_not_a_note_signature_and_vice_versa() -> None:
    # Domain separation: the same key's cosignature does not verify as a 0x01 note signature over the text.
    cosig = cosign(LOG.key, LOG.name, CHECKPOINT.text, T0)
    with pytest.raises(BadSignature):
        verify_strict(LOG.key.public_key, CHECKPOINT.text.encode(), cosig.signature[8:])
    note_sig = CHECKPOINT.signatures[0]
    as_cosig = NoteSignature(note_sig.name, cosig.key_id, T0.to_bytes(8, "big") + note_sig.signature)
    witness = NoteVerifier(name=LOG.name, sig_type=SIG_TYPE_COSIGNATURE, public_key=LOG.key.public_key)
    with pytest.raises(BadSignature):
        verify_cosignature(witness, CHECKPOINT.text, as_cosig)


@pytest.mark.spec("6.1-a")
def test_cosigner_key_id_uses_type_0x04() -> None:
    sig = cosign(GOCHECK_KEY, GOCHECK_NAME, SOFA, GOCHECK_TIME)
    expected = hashlib.sha256(GOCHECK_NAME.encode() + b"\n\x04" + GOCHECK_KEY.public_key).digest()[:4]
    assert sig.key_id == expected == key_id(GOCHECK_NAME, 4, GOCHECK_KEY.public_key)
    assert parse_vkey(GOCHECK_VKEY).sig_type == SIG_TYPE_COSIGNATURE


@pytest.mark.spec("6.1-a")
def test_cosigner_vkey_refuses_a_bad_name_or_key() -> None:
    with pytest.raises(BadKey):
        cosigner_vkey("a b", GOCHECK_KEY.public_key)
    with pytest.raises(BadKey):
        cosigner_vkey(GOCHECK_NAME, b"\x01" + b"\x00" * 31)
    with pytest.raises(MalformedEncoding):
        cosign(GOCHECK_KEY, "a+b", SOFA, 1)


@pytest.mark.spec("6.1-a")
def test_verify_cosignature_rejects_a_line_for_another_key() -> None:
    sig = cosign(GOCHECK_KEY, GOCHECK_NAME, SOFA, GOCHECK_TIME)
    with pytest.raises(BadSignature):
        verify_cosignature(WITNESSES[0], SOFA, sig)


@pytest.mark.spec("5.4-j")
def test_a_log_key_cannot_verify_a_cosignature() -> None:
    sig = cosign(LOG.key, LOG.name, CHECKPOINT.text, T0)
    with pytest.raises(BadKey):
        verify_cosignature(LOG.verifier, CHECKPOINT.text, sig)
    with pytest.raises(BadKey):
        verify_cosignatures(_cosigned([0]), [WITNESSES[0], LOG.verifier], 1)


@pytest.mark.spec("5.4-j")
def test_a_cosigned_checkpoint_still_verifies_as_a_note_and_cosigner_keys_are_refused_there() -> None:
    note = _cosigned([0, 1])
    assert verify_note(note, [LOG.verifier]) == (LOG.verifier,)
    with pytest.raises(BadKey):
        verify_note(note, [WITNESSES[0]])


@pytest.mark.spec("6.1-d")
def test_a_cosignature_does_not_commit_to_the_witness_name() -> None:
    # Why one key must serve one name: relabelled under another name with the same key, it still verifies.
    sig = cosign(GOCHECK_KEY, GOCHECK_NAME, SOFA, GOCHECK_TIME)
    alias = NoteVerifier(name="alias.example/witness", sig_type=SIG_TYPE_COSIGNATURE, public_key=GOCHECK_KEY.public_key)
    relabelled = NoteSignature(alias.name, alias.key_id, sig.signature)
    assert verify_cosignature(alias, SOFA, relabelled) == GOCHECK_TIME


@pytest.mark.spec("6.1-e")
def test_verify_cosignatures_counts_a_quorum_and_ignores_unknown_lines() -> None:
    note = _cosigned([0, 1, 3])
    times = verify_cosignatures(note, WITNESSES[:3], 2)
    assert dict(times) == {"w0.example": T0, "w1.example": T0 + 1}
    with pytest.raises(TypeError):
        times["w9.example"] = 1  # type: ignore[index]
    everyone = {"w0.example": T0, "w1.example": T0 + 1, "w3.example": T0 + 3}
    assert dict(verify_cosignatures(note, WITNESSES, 3)) == everyone
    assert dict(verify_cosignatures(CHECKPOINT, WITNESSES, 0)) == {}


@pytest.mark.spec("6.1-e")
def test_verify_cosignatures_rejects_fewer_than_quorum() -> None:
    note = _cosigned([0, 3])
    with pytest.raises(BadSignature):
        verify_cosignatures(note, WITNESSES[:3], 2)
    with pytest.raises(BadSignature):
        verify_cosignatures(CHECKPOINT, WITNESSES, 1)


@pytest.mark.spec("6.1-e")
def test_verify_cosignatures_rejects_the_whole_note_when_a_known_cosignature_fails() -> None:
    note = _cosigned([0, 1, 2])
    good = note.signatures[3]
    bad = NoteSignature(good.name, good.key_id, good.signature[:8] + bytes(64))
    broken = add_signatures(note, [bad])
    with pytest.raises(BadSignature):
        verify_cosignatures(broken, WITNESSES[:3], 1)
    # A witness outside the trusted set is ignored, however broken its line.
    assert len(verify_cosignatures(broken, WITNESSES[:2], 2)) == 2


@pytest.mark.spec("6.1-e")
def test_verify_cosignatures_counts_a_witness_with_two_keys_once() -> None:
    rotated_key = SigningKey.from_seed(b"\x09" * 32)
    rotated = NoteVerifier(name=WITNESS_NAMES[0], sig_type=SIG_TYPE_COSIGNATURE, public_key=rotated_key.public_key)
    note = add_signatures(_cosigned([0]), [cosign(rotated_key, WITNESS_NAMES[0], CHECKPOINT.text, T0 + 100)])
    times = verify_cosignatures(note, [WITNESSES[0], rotated, WITNESSES[1]], 1)
    assert dict(times) == {"w0.example": T0 + 100}
    with pytest.raises(BadSignature):
        verify_cosignatures(note, [WITNESSES[0], rotated, WITNESSES[1]], 2)


@pytest.mark.spec("6.1-e")
@pytest.mark.parametrize("quorum", [-1, 5, True])
def test_verify_cosignatures_refuses_an_impossible_quorum(quorum: int) -> None:
    with pytest.raises(BadKey):
        verify_cosignatures(_cosigned([0, 1]), WITNESSES, quorum)


@pytest.mark.spec("6.1-e")
def test_verify_cosignatures_refuses_two_witness_keys_with_the_same_name_and_id() -> None:
    clash = object.__new__(NoteVerifier)
    for attr, value in [
        ("name", WITNESSES[0].name),
        ("sig_type", SIG_TYPE_COSIGNATURE),
        ("public_key", WITNESS_KEYS[1].public_key),
        ("key_id", WITNESSES[0].key_id),
    ]:
        object.__setattr__(clash, attr, value)
    with pytest.raises(BadKey):
        verify_cosignatures(_cosigned([0]), [WITNESSES[0], clash], 1)


@pytest.mark.parametrize("case", _vectors("cosign"))
def test_cosign_vector(case: dict[str, Any]) -> None:
    inputs, expected = case["inputs"], case["expected"]
    key = SigningKey.from_seed(bytes.fromhex(inputs["witness_seed_hex"]))
    assert cosigner_vkey(inputs["name"], key.public_key) == expected["vkey"]
    assert cosignature_message(inputs["checkpoint_text"], inputs["timestamp"]).decode() == expected["message"]
    sig = cosign(key, inputs["name"], inputs["checkpoint_text"], inputs["timestamp"])
    assert sig.format_line() == expected["signature_line"]


@pytest.mark.parametrize("case", _vectors("cosignatures"))
def test_cosignatures_vector(case: dict[str, Any]) -> None:
    inputs = case["inputs"]
    witnesses = [parse_vkey(v) for v in inputs["witness_vkeys"]]
    note = parse_note(str(inputs["note"]).encode("utf-8"))
    if "expected_error" in case:
        with pytest.raises(ERRORS[case["expected_error"]]) as info:
            verify_cosignatures(note, witnesses, inputs["quorum"])
        assert info.value.code == case["expected_error"]
        return
    assert dict(verify_cosignatures(note, witnesses, inputs["quorum"])) == case["expected"]["timestamps"]
    assert format_note(note).decode() == inputs["note"]
