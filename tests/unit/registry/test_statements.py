"""Statement, entry and leaf encodings (protocol §4.2, §5.6), and what they refuse (§12-a)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from crypto import canonical
from registry.errors import ErrorCode, Rejected
from registry.statements import (
    MAX_ENTRY_SIZE,
    Declare,
    Reason,
    Revoke,
    Rotate,
    Unvouch,
    Vouch,
    declaration_hash,
    format_entry,
    format_leaf,
    format_statement,
    parse_entry,
    parse_leaf,
)
from tests.factory import EN, ORIGIN, Log, key, mid, policy_statement, signed

SPEC_STATEMENT = (
    '{"commitment":"b13a389dcb5abf1de1d86087b669bcef6b12f3116b97b28f98df7a64dd755fcc","created_ms":1700000000000,'
    '"declaration":"f58024adbe376d7da97d99c3fb5e09c72d94020ec27f8fdc824c3bcd81b6ccc7",'
    '"member":"c98b56b5bf16e87c0050793fbfa4a66242e3330a7636aec74e87ba0dc4ad3796","origin":"registry.example/test",'
    '"sponsor":"0766b36e452ac3fb8acefe50eee9aa6fa19cc8dba1d84bb67e314e4431647920","type":"declare","v":1}'
)
SPEC_SIGS = (
    '{"signatures":[{"key":"0766b36e452ac3fb8acefe50eee9aa6fa19cc8dba1d84bb67e314e4431647920",'
    '"sig":"tqgN4IRuCOvjCHBTe4bqlvErpLVLHihf74q+cSAzVmMAHWalNgmugFhb5SqNqxGGU77igSGUQhJYiO7Ir5ncDg=="},'
    '{"key":"c98b56b5bf16e87c0050793fbfa4a66242e3330a7636aec74e87ba0dc4ad3796",'
    '"sig":"zFjooVXnN0a02+gG3RL2RA6NnTmx/v6gaREwjn55gsAgKO4DYUtxRny2g0tlIqzns0Bv2iLIk59AIvuTnxjgAA=="}],'
)


def example() -> Declare:
    return Declare(
        ORIGIN, 1_700_000_000_000, mid(key(11)), declaration_hash(EN),
        hashlib.sha256(b"example commitment").digest(), mid(key(1)),
    )


def all_kinds() -> list[object]:
    log = Log.standard()
    return [
        signed(policy_statement([key(1)], [key(101)], 1), key(101)),
        signed(example(), key(11), key(1)),
        signed(Vouch(ORIGIN, 1, mid(key(2)), mid(key(11)), None), key(2), key(11)),
        signed(Unvouch(ORIGIN, 1, mid(key(2)), mid(key(11))), key(2)),
        signed(Revoke(ORIGIN, 1, mid(key(11)), Reason.FRAUD, hashlib.sha256(b"e").digest()), key(101)),
        log.reinstate(key(11)),
        signed(Rotate(ORIGIN, 1, mid(key(11)), key(12).public_key), key(11), key(12)),
    ]


@pytest.mark.spec("4.2-b", "4.2-c", "5.6-a")
def test_spec_example_is_reproduced_byte_for_byte() -> None:
    entry = signed(example(), key(11), key(1))
    assert format_statement(example()).decode() == SPEC_STATEMENT
    assert format_entry(entry).decode() == SPEC_SIGS + '"statement":' + SPEC_STATEMENT + "}"
    leaf = format_leaf(7, 1_700_000_000_123, entry)
    assert leaf.decode().endswith(',"index":7,"logged_ms":1700000000123}')
    parsed = parse_leaf(leaf)
    assert (parsed.index, parsed.logged_ms, parsed.entry) == (7, 1_700_000_000_123, entry)


@pytest.mark.spec("4.2-b")
@pytest.mark.parametrize("index", range(7))
def test_every_kind_round_trips(index: int) -> None:
    entry = all_kinds()[index]
    data = format_entry(entry)  # type: ignore[arg-type]
    assert parse_entry(data) == entry
    assert format_entry(parse_entry(data)) == data


def _mutate(entry_bytes: bytes, path: list[str | int], value: object) -> bytes:
    obj = json.loads(entry_bytes)
    target = obj
    for p in path[:-1]:
        target = target[p]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return canonical.encode(obj)


_DELETE = object()


@pytest.mark.spec("4.2-b")
@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["statement", "extra"], 1),
        (["statement", "sponsor"], _DELETE),
        (["statement", "v"], 2),
        (["statement", "type"], "vote"),
        (["statement", "created_ms"], -1),
        (["statement", "created_ms"], True),
        (["statement", "member"], "C98B" + "0" * 60),
        (["signatures"], []),
        (["signatures", 0, "sig"], "AAAA"),
        (["unsigned"], 1),
    ],
)
def test_wrong_shapes_are_malformed_entry(path: list[str | int], value: object) -> None:
    data = _mutate(format_entry(signed(example(), key(11), key(1))), path, value)
    with pytest.raises(Rejected) as exc:
        parse_entry(data)
    assert exc.value.code is ErrorCode.MALFORMED_ENTRY


@pytest.mark.spec("4.2-c")
def test_unsorted_signatures_are_refused() -> None:
    entry = signed(example(), key(11), key(1))
    swapped = dataclasses.replace(entry, signatures=entry.signatures[::-1])
    with pytest.raises(Rejected) as exc:
        parse_entry(format_entry(swapped))
    assert exc.value.code is ErrorCode.MALFORMED_ENTRY


@pytest.mark.spec("4.2-c")
def test_unsorted_council_is_refused() -> None:
    stmt = policy_statement([key(1)], [key(101), key(102)], 1)
    stmt = dataclasses.replace(stmt, council=stmt.council[::-1])
    with pytest.raises(Rejected) as exc:
        parse_entry(format_entry(signed(stmt, key(101))))
    assert exc.value.code is ErrorCode.MALFORMED_ENTRY


@pytest.mark.spec("4.2-d")
def test_small_order_key_is_bad_key() -> None:
    data = _mutate(format_entry(signed(example(), key(11), key(1))), ["statement", "member"], "01" + "00" * 31)
    with pytest.raises(Rejected) as exc:
        parse_entry(data)
    assert exc.value.code is ErrorCode.BAD_KEY


@pytest.mark.spec("4.2-a")
def test_oversized_entry_is_too_large() -> None:
    data = b'{"pad":"' + b"a" * MAX_ENTRY_SIZE + b'"}'
    with pytest.raises(Rejected) as exc:
        parse_entry(data)
    assert exc.value.code is ErrorCode.TOO_LARGE


@pytest.mark.spec("4.2-e")
def test_non_canonical_entry_is_refused() -> None:
    data = format_entry(signed(example(), key(11), key(1)))
    with pytest.raises(Rejected) as exc:
        parse_entry(b" " + data)
    assert exc.value.code is ErrorCode.MALFORMED_ENCODING
    pretty = json.dumps(json.loads(data), indent=1).encode()
    with pytest.raises(Rejected) as exc:
        parse_entry(pretty)
    assert exc.value.code is ErrorCode.MALFORMED_ENCODING


CANARIES = ["ivan.petrov@example.org", "+7 916 123-45-67", "203.0.113.77", "Иван Петрович Сидоров"]


def _string_paths(obj: object, prefix: list[str | int]) -> list[list[str | int]]:
    paths: list[list[str | int]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            paths += _string_paths(v, [*prefix, k])
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            paths += _string_paths(v, [*prefix, i])
    elif isinstance(obj, str) or obj is None:
        paths.append(prefix)
    return paths


@pytest.mark.spec("12-a")
def test_personal_data_in_any_member_field_is_refused_and_not_echoed() -> None:
    """Canaries in every string field a member controls: refused, and the error never repeats them."""
    planted = 0
    for entry in all_kinds()[1:]:  # the policy's texts are the council's, not a member's
        data = format_entry(entry)  # type: ignore[arg-type]
        for path in _string_paths(json.loads(data), []):
            if path[-1] in ("origin",):
                continue  # must equal the log's origin (§7.1-a): checked by the rules, see below
            for canary in CANARIES:
                planted += 1
                with pytest.raises(Rejected) as exc:
                    parse_entry(_mutate(data, path, canary))
                assert canary not in exc.value.message
                assert canary not in str(exc.value)
    assert planted > 100
    data = format_entry(signed(example(), key(11), key(1)))
    for canary in CANARIES:
        mutated = _mutate(data, ["statement", "origin"], canary)
        try:
            entry = parse_entry(mutated)
        except Rejected as exc:  # not a valid origin at all
            assert exc.code is ErrorCode.MALFORMED_ENTRY
            assert canary not in str(exc)
            continue
        log = Log.standard()
        rejection = log.try_submit(entry)  # a well-formed origin of another log
        assert rejection is not None
        assert rejection.code is ErrorCode.WRONG_ORIGIN
        assert canary not in rejection.message


@pytest.mark.spec("5.6-a")
@pytest.mark.parametrize("index", range(7))
def test_composed_leaf_equals_the_canonical_encoder(index: int) -> None:
    entry = all_kinds()[index]
    for parsed in (entry, parse_entry(format_entry(entry))):  # type: ignore[arg-type]
        leaf = format_leaf(12345, 1_700_000_000_999, parsed)  # type: ignore[arg-type]
        expected = canonical.encode(
            {"entry": json.loads(format_entry(parsed)), "index": 12345, "logged_ms": 1_700_000_000_999}  # type: ignore[arg-type]
        )
        assert leaf == expected
