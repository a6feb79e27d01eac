"""Identity commitments, disclosures and their files (protocol §4.3)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from registry.errors import ErrorCode, Rejected
from registry.identity import (
    ATTRIBUTES,
    Disclosure,
    IdentityDisclosure,
    check_identity_disclosure,
    commitment_of,
    disclose,
    disclosure_digest,
    format_disclosure,
    format_identity,
    format_identity_disclosure,
    make_identity,
    normalize_attribute,
    parse_disclosure,
    parse_identity,
    parse_identity_disclosure,
    verify_identity_disclosure,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "credential"
PERSON = {
    "family_name": "Иванова",
    "given_names": "Анна-Мария",
    "birth_date": "01.02.1990",
    "document_number": "75 1234567",
    "issuing_state": "rus",
}
SALTS = [bytes([i]) * 16 for i in range(5)]
DECOYS = [bytes([10 + i]) * 16 for i in range(3)]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.spec("4.3-a")
@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("family_name", "Щербаков", "SHCHERBAKOV"),
        ("family_name", "Хрущёв", "KHRUSHCHEV"),
        ("family_name", "Подъячев", "PODIEIACHEV"),
        ("family_name", "Гоголь", "GOGOL"),
        ("family_name", "Цой", "TSOI"),
        ("family_name", "Жуков-Юрьев", "ZHUKOV IUREV"),
        ("family_name", "Müller", "MULLER"),
        ("family_name", "O'Brien", "OBRIEN"),
        ("family_name", "  de  la   Cruz ", "DE LA CRUZ"),
        ("family_name", "STRAUß", "STRAUSS"),
        ("family_name", "IVANOV<<PETR", "IVANOV PETR"),
        ("given_names", "", ""),
        ("birth_date", "1990-02-01", "1990-02-01"),
        ("birth_date", "1.2.1990", "1990-02-01"),
        ("document_number", "75 1234567", "751234567"),
        ("document_number", "ab-12<34", "AB1234"),
        ("issuing_state", "d<<", "D"),
        ("issuing_state", "Rus", "RUS"),
    ],
)
def test_values_are_normalised_as_in_the_mrz(name: str, value: str, expected: str) -> None:
    assert normalize_attribute(name, value) == expected
    assert normalize_attribute(name, expected) == expected  # idempotent


@pytest.mark.spec("4.3-a")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("family_name", ""),
        ("family_name", "李"),
        ("family_name", "Smith2"),
        ("family_name", "A" * 65),
        ("birth_date", "1990-02-30"),
        ("birth_date", "02/01/1990"),
        ("birth_date", "1850-01-01"),
        ("document_number", ""),
        ("document_number", "№123"),
        ("document_number", "1" * 21),
        ("issuing_state", "RUSS"),
        ("issuing_state", "R1"),
        ("nationality", "RUS"),
    ],
)
def test_values_that_cannot_be_normalised_are_refused(name: str, value: str) -> None:
    with pytest.raises(Rejected) as info:
        normalize_attribute(name, value)
    assert info.value.code is ErrorCode.MALFORMED_ENCODING


@pytest.mark.spec("4.3-b")
def test_a_disclosure_is_base64url_of_canonical_json_and_its_digest_hashes_the_text() -> None:
    d = Disclosure(bytes(range(16)), "family_name", "IVANOVA")
    text = format_disclosure(d)
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    assert raw == b'["AAECAwQFBgcICQoLDA0ODw","family_name","IVANOVA"]'
    assert "=" not in text
    assert parse_disclosure(text) == d
    assert disclosure_digest(text) == hashlib.sha256(text.encode("ascii")).digest()


@pytest.mark.spec("4.3-b")
@pytest.mark.parametrize(
    "raw",
    [
        b'["AAECAwQFBgcICQoLDA0ODw", "family_name", "IVANOVA"]',  # not canonical
        b'["AAECAwQFBgcICQoLDA0O","family_name","IVANOVA"]',  # 15-byte salt
        b'["AAECAwQFBgcICQoLDA0ODw","nationality","RUS"]',
        b'["AAECAwQFBgcICQoLDA0ODw","family_name","Ivanova"]',  # not normalised
        b'["AAECAwQFBgcICQoLDA0ODw","family_name"]',
        b'{"salt":"AAECAwQFBgcICQoLDA0ODw"}',
    ],
)
def test_malformed_disclosures_are_refused(raw: bytes) -> None:
    with pytest.raises(Rejected) as info:
        parse_disclosure(_b64url(raw))
    assert info.value.code is ErrorCode.MALFORMED_ENCODING


@pytest.mark.spec("4.3-b")
def test_padded_or_non_canonical_base64url_is_refused() -> None:
    text = format_disclosure(Disclosure(bytes(16), "issuing_state", "RUS"))
    for bad in (text + "=", text[:-1] + chr(ord(text[-1]) + 1), "+" + text[1:], text[:-1]):
        with pytest.raises(Rejected):
            parse_disclosure(bad)


@pytest.mark.spec("4.3-c")
def test_the_commitment_hashes_the_eight_sorted_digests_with_its_prefix() -> None:
    made = make_identity(PERSON, SALTS, DECOYS)
    digests = [disclosure_digest(format_disclosure(d)) for d in made.disclosures]
    decoys = [hashlib.sha256(s).digest() for s in DECOYS]
    assert list(made.decoys) == decoys
    expected = hashlib.sha256(b"antiwar-registry/v1\nidentity-commitment\n" + b"".join(sorted(digests + decoys)))
    assert made.commitment == expected.digest() == commitment_of(list(reversed(digests + decoys)))
    with pytest.raises(Rejected):
        commitment_of(digests)
    with pytest.raises(Rejected):
        commitment_of([*digests, *decoys[:2], decoys[0]])  # a repeated digest


@pytest.mark.spec("4.3-c")
def test_fresh_salts_give_unlinkable_commitments() -> None:
    a = make_identity(PERSON, SALTS, DECOYS)
    b = make_identity(PERSON, [bytes([99]) * 16, *SALTS[1:]], DECOYS)
    assert a.commitment != b.commitment


@pytest.mark.spec("4.3-d")
def test_identity_file_round_trips_and_is_checked_against_its_commitment() -> None:
    made = make_identity(PERSON, SALTS, DECOYS)
    data = format_identity(made)
    assert parse_identity(data) == made
    forged = data.replace(made.commitment.hex().encode(), hashlib.sha256(b"x").hexdigest().encode())
    with pytest.raises(Rejected) as info:
        parse_identity(forged)
    assert info.value.code is ErrorCode.ATTRIBUTE_MISMATCH
    for bad in (data + b"\n", data.replace(b'"format":"antiwar-registry-identity/v1"', b'"format":"x"'), b"{}"):
        with pytest.raises(Rejected) as info:
            parse_identity(bad)
        assert info.value.code is ErrorCode.MALFORMED_ENCODING


@pytest.mark.spec("4.3-e", "4.3-f")
def test_a_disclosure_shows_the_chosen_attributes_and_opens_the_commitment() -> None:
    made = make_identity(PERSON, SALTS, DECOYS)
    for names in ([], ["birth_date"], ["family_name", "birth_date"], list(ATTRIBUTES)):
        shown = disclose(made, names)
        data = format_identity_disclosure(shown)
        parsed = parse_identity_disclosure(data)
        assert parsed == shown
        assert set(verify_identity_disclosure(parsed, made.commitment)) == set(names)
        assert len(shown.undisclosed) == 8 - len(names)
        for name in ATTRIBUTES:
            if name not in names:
                assert made.value(name).encode() not in data


@pytest.mark.spec("4.3-f")
def test_an_altered_value_salt_or_digest_fails_with_attribute_mismatch() -> None:
    made = make_identity(PERSON, SALTS, DECOYS)
    shown = disclose(made, ["family_name", "birth_date"])
    altered_value = replace(shown, disclosures=(replace(shown.disclosures[0], value="PETROVA"), shown.disclosures[1]))
    new_salt = replace(shown.disclosures[0], salt=bytes([77]) * 16)
    altered_salt = replace(shown, disclosures=(new_salt, shown.disclosures[1]))
    altered_digest = replace(shown, undisclosed=(bytes(32), *shown.undisclosed[1:]))
    missing_digest = replace(shown, undisclosed=shown.undisclosed[1:])
    other_commitment = replace(shown, commitment=bytes(32))
    for bad in (altered_value, altered_salt, altered_digest, missing_digest, other_commitment):
        rejection = check_identity_disclosure(bad, made.commitment)
        assert rejection is not None and rejection.code is ErrorCode.ATTRIBUTE_MISMATCH
    assert check_identity_disclosure(shown, bytes(32)) is not None


@pytest.mark.spec("4.3-e")
def test_disclosure_files_parse_strictly() -> None:
    made = make_identity(PERSON, SALTS, DECOYS)
    shown = disclose(made, ["family_name", "birth_date"])
    reordered = IdentityDisclosure(shown.commitment, tuple(reversed(shown.disclosures)), shown.undisclosed)
    unsorted = IdentityDisclosure(shown.commitment, shown.disclosures, tuple(reversed(shown.undisclosed)))
    for bad in (format_identity_disclosure(reordered), format_identity_disclosure(unsorted)):
        with pytest.raises(Rejected) as info:
            parse_identity_disclosure(bad)
        assert info.value.code is ErrorCode.MALFORMED_ENCODING
    with pytest.raises(Rejected) as info:
        parse_identity_disclosure(b" " * 9000)
    assert info.value.code is ErrorCode.TOO_LARGE
    with pytest.raises(Rejected):
        disclose(made, ["family_name", "family_name"])


def _vector(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    return case


@pytest.mark.spec("11.3-a", "4.3-a", "4.3-b", "4.3-c", "4.3-d", "4.3-e")
def test_identity_vector() -> None:
    case = _vector("identity")
    i, e = case["inputs"], case["expected"]
    made = make_identity(i["attributes"], [bytes.fromhex(s) for s in i["salts"]],
                         [bytes.fromhex(s) for s in i["decoy_salts"]])  # fmt: skip
    assert [format_disclosure(d) for d in made.disclosures] == e["disclosures"]
    assert [d.hex() for d in made.decoys] == e["decoys"]
    assert made.commitment.hex() == e["commitment"]
    assert format_identity(made).decode() == e["identity_file"]
    assert format_identity_disclosure(disclose(made, i["show"])).decode() == e["disclosure_file"]


@pytest.mark.spec("11.3-a", "4.3-f")
@pytest.mark.parametrize("name", ["disclosure-valid", "disclosure-altered-attribute", "disclosure-wrong-commitment"])
def test_disclosure_vectors(name: str) -> None:
    case = _vector(name)
    shown = parse_identity_disclosure(case["inputs"]["disclosure_file"].encode())
    rejection = check_identity_disclosure(shown, bytes.fromhex(case["inputs"]["commitment"]))
    if "expected_error" in case:
        assert rejection is not None and rejection.code == case["expected_error"]
    else:
        assert rejection is None
        assert dict(shown.attributes) == case["expected"]["attributes"]
