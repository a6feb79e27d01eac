"""Credential and presentation formats: the tlog-proof text form, the binary form, presentations
(protocol §9.7-c, §9.7-d, §9.7-e)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from registry.credential import (
    BINARY_MAGIC,
    format_credential_binary,
    format_credential_text,
    format_payload,
    parse_credential,
    parse_credential_binary,
    parse_credential_text,
)
from registry.errors import ErrorCode, Rejected
from registry.identity import disclose, make_identity
from registry.presentation import (
    format_presentation,
    make_presentation,
    parse_challenge,
    parse_presentation,
    presentation_payload,
)
from tests.credfactory import Issued, issue, policy
from tests.factory import Log, key, mid

CHALLENGE = bytes(range(16))
VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "credential"


def _issued(witnesses: int = 3) -> Issued:
    log = Log.standard()
    log.join(key(11), key(1), key(2))
    return issue(log, mid(key(11)), witnesses=witnesses)


@pytest.mark.spec("9.7-c")
def test_text_form_is_a_tlog_proof_and_round_trips() -> None:
    cred = _issued().credential
    text = format_credential_text(cred)
    lines = text.decode().split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1] == "extra " + base64.b64encode(format_payload(cred)).decode()
    assert lines[2] == f"index {cred.checkpoint.size - 1}"
    assert [base64.b64decode(h) for h in lines[3 : 3 + len(cred.inclusion_proof)]] == list(cred.inclusion_proof)
    signature_lines = "".join(
        f"— {s.name} {base64.b64encode(s.key_id + s.signature).decode()}\n" for s in cred.note.signatures
    )
    assert text.endswith(f"\n\n{cred.note.text}\n{signature_lines}".encode())
    assert parse_credential_text(text) == cred
    assert parse_credential(text) == cred


@pytest.mark.spec("9.7-c")
@pytest.mark.parametrize(
    "mutation",
    [
        lambda t: t.replace(b"c2sp.org/tlog-proof@v1", b"c2sp.org/tlog-proof@v2"),
        lambda t: t.replace(b"\nindex ", b"\nindex 0"),
        lambda t: t.replace(b"\nextra ", b"\nextra  "),
        lambda t: t.replace(b"\n\n", b"\n", 1),
        lambda t: t.replace(b"\nindex ", b"\nIndex "),
        lambda t: t + b"\n",
        lambda t: t.replace(b"\n\n", b"\n\n\n", 1),
        lambda t: b"\xff" + t,
    ],
)
def test_text_form_parses_strictly(mutation: Callable[[bytes], bytes]) -> None:
    text = format_credential_text(_issued().credential)
    with pytest.raises(Rejected) as info:
        parse_credential_text(mutation(text))
    assert info.value.code is ErrorCode.MALFORMED_ENCODING


@pytest.mark.spec("9.7-c")
def test_index_must_be_the_checkpoints_last_leaf() -> None:
    cred = _issued().credential
    text = format_credential_text(cred)
    n = cred.checkpoint.size - 1
    with pytest.raises(Rejected) as info:
        parse_credential_text(text.replace(f"\nindex {n}\n".encode(), f"\nindex {n - 1}\n".encode()))
    assert info.value.code is ErrorCode.MALFORMED_ENCODING
    with pytest.raises(Rejected) as info:
        parse_credential_text(b"x" * 70_000)
    assert info.value.code is ErrorCode.TOO_LARGE


@pytest.mark.spec("9.7-d")
def test_binary_form_round_trips_with_the_policys_witness_names() -> None:
    cred = _issued().credential
    data = format_credential_binary(cred)
    assert data.startswith(BINARY_MAGIC)
    assert len(data) < len(format_credential_text(cred)) * 0.75
    names = {w.key_id: w.name for w in policy(3).witnesses}
    assert parse_credential_binary(data, names) == cred
    assert parse_credential(data, names) == cred
    assert format_credential_binary(parse_credential_binary(data, names)) == data
    # Without the names, the cosignatures are dropped; the log's signature stays.
    bare = parse_credential_binary(data)
    assert [s.name for s in bare.note.signatures] == [cred.origin]


@pytest.mark.spec("9.7-d")
def test_binary_form_parses_strictly() -> None:
    data = format_credential_binary(_issued().credential)
    for bad in (data[:1], data[:-1], b"\xa7\x02" + data[2:], data[:2] + b"\xff" + data[3:], data + b"\x00"):
        with pytest.raises(Rejected) as info:
            parse_credential_binary(bad)
        assert info.value.code is ErrorCode.MALFORMED_ENCODING


@pytest.mark.spec("9.7-e")
def test_challenges_are_16_to_64_bytes_of_lowercase_hex() -> None:
    assert parse_challenge("00" * 16) == bytes(16)
    assert parse_challenge("ab" * 64) == b"\xab" * 64
    for bad in ("00" * 15, "00" * 65, "AB" * 16, "0" * 33, "zz" * 16):
        with pytest.raises(Rejected):
            parse_challenge(bad)


@pytest.mark.spec("9.7-e")
def test_presentations_round_trip_and_sign_the_payload() -> None:
    issued = _issued()
    cred = issued.credential
    ident = make_identity(
        {"family_name": "A", "given_names": "", "birth_date": "2000-01-01", "document_number": "1",
         "issuing_state": "D"},
        [bytes([i]) * 16 for i in range(5)],
        [bytes([9 + i]) * 16 for i in range(3)],
    )
    for disclosure in (None, disclose(ident, ["family_name"])):
        p = make_presentation(cred, key(11), CHALLENGE, disclosure)
        data = format_presentation(p)
        assert parse_presentation(data) == p
        payload = json.loads(presentation_payload(cred, CHALLENGE, disclosure))
        assert payload["challenge"] == CHALLENGE.hex() and payload["tree_size"] == cred.checkpoint.size
        assert payload["member"] == cred.member_id.hex() and payload["state_root"] == cred.state.root.hex()
        assert (payload["disclosure"] is None) == (disclosure is None)
        assert data.startswith(b"antiwar-registry/presentation/v1\nchallenge 000102")
    with pytest.raises(Rejected) as info:
        make_presentation(cred, key(12), CHALLENGE)
    assert info.value.code is ErrorCode.BAD_KEY
    with pytest.raises(Rejected):
        make_presentation(cred, key(11), bytes(8))


@pytest.mark.spec("9.7-e")
def test_presentations_parse_strictly() -> None:
    data = format_presentation(make_presentation(_issued().credential, key(11), CHALLENGE))
    for bad in (
        data.replace(b"/presentation/v1", b"/presentation/v2"),
        data.replace(b"\nsignature ", b"\nsig "),
        data.replace(b"\n\n", b"\ndisclosure e30=\n\n", 1),
        data.replace(b"\n\n", b"\nextra x\n\n", 1),
        data.replace(b"challenge 00", b"challenge 0"),
    ):
        with pytest.raises(Rejected) as info:
            parse_presentation(bad)
        assert info.value.code is ErrorCode.MALFORMED_ENCODING


@pytest.mark.spec("11.3-a", "9.7-c", "9.7-d")
def test_credential_vector_forms() -> None:
    case = json.loads((VECTORS / "credential-valid.json").read_text(encoding="utf-8"))
    text = case["expected"]["credential_text"].encode()
    binary = bytes.fromhex(case["expected"]["credential_binary_hex"])
    cred = parse_credential_text(text)
    assert format_credential_binary(cred) == binary
    from registry.trust import parse_trust_policy

    p = parse_trust_policy(case["inputs"]["policy"])
    assert parse_credential_binary(binary, {w.key_id: w.name for w in p.witnesses}) == cred
    assert replace(cred, inclusion_proof=()) != cred
