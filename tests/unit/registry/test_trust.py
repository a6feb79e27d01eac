"""Trust policies: the TrustPolicy rules and the tlog-policy file format (protocol §9.7-a, §9.7-b)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from crypto.notekey import format_vkey
from registry.errors import ErrorCode, Rejected
from registry.trust import (
    DEFAULT_MAX_AGE_MS,
    TrustPolicy,
    format_duration,
    format_trust_policy,
    parse_duration,
    parse_trust_policy,
)
from tests.credfactory import log_signer, policy, witness_verifier
from tests.factory import ORIGIN


@pytest.mark.spec("9.7-b")
@pytest.mark.parametrize(("text", "ms"), [("72h", 259_200_000), ("3d", 259_200_000), ("90m", 5_400_000),
                                          ("1500ms", 1500), ("45s", 45_000)])  # fmt: skip
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms
    assert parse_duration(format_duration(ms)) == ms


@pytest.mark.spec("9.7-a", "9.7-b")
@pytest.mark.parametrize("text", ["72", "h", "-1h", "1.5h", "0h", "367d", "072h", "1w"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(Rejected) as info:
        parse_duration(text)
    assert info.value.code is ErrorCode.MALFORMED_ENCODING


@pytest.mark.spec("9.7-b")
@pytest.mark.parametrize(("witnesses", "quorum"), [(0, 0), (1, 1), (3, 2), (3, 0), (3, 3)])
def test_policy_files_round_trip_byte_for_byte(witnesses: int, quorum: int) -> None:
    p = policy(witnesses, quorum, max_age_ms=24 * 3_600_000)
    text = format_trust_policy(p)
    assert parse_trust_policy(text) == p
    assert format_trust_policy(parse_trust_policy(text.encode())) == text


@pytest.mark.spec("9.7-b")
def test_a_policy_file_in_the_tlog_policy_form() -> None:
    text = format_trust_policy(policy(3, 2))
    lines = text.splitlines()
    assert lines[0] == f"log {log_signer().vkey}"
    assert lines[1] == f"witness witness1.registry.example {format_vkey(witness_verifier(1))}"
    assert lines[4].startswith("group witnesses 2 witness1.registry.example ")
    assert lines[5:] == ["quorum witnesses", "max-age 3d"]


@pytest.mark.spec("9.7-b")
def test_comments_any_all_and_defaults_are_read() -> None:
    w1, w2 = (format_vkey(witness_verifier(n)) for n in (1, 2))
    n1, n2 = witness_verifier(1).name, witness_verifier(2).name
    base = f"# my policy\nlog {log_signer().vkey}\n\nwitness {n1} {w1}\nwitness {n2} {w2}\n"
    assert parse_trust_policy(base + f"group g any {n1} {n2}\nquorum g\n").quorum == 1
    parsed = parse_trust_policy(base + f"group g all {n2} {n1}\nquorum g\n")
    assert parsed.quorum == 2 and parsed.max_age_ms == DEFAULT_MAX_AGE_MS
    assert parse_trust_policy(base + "quorum none\n").quorum == 0


@pytest.mark.spec("9.7-b")
@pytest.mark.parametrize(
    "mutation",
    [
        lambda t: t.replace("quorum witnesses\n", ""),
        lambda t: t.replace("log ", "log2 "),
        lambda t: t + "max-age 1d\n",
        lambda t: t + "url https://example\n",
        lambda t: t.replace("quorum witnesses", "quorum others"),
        lambda t: t.replace(" witness3.registry.example\n", "\n", 1),  # group leaves out a witness
        lambda t: t.replace("group witnesses 2", "group witnesses 4"),
        lambda t: t.replace("group witnesses 2", "group witnesses 0"),
        lambda t: t.split("\n", 1)[1],  # no log line
        lambda t: t.replace("witness witness1.registry.example witness1", "witness w1 witness1"),
    ],
)
def test_malformed_policy_files_are_refused(mutation: Callable[[str], str]) -> None:
    text = mutation(format_trust_policy(policy(3, 2)))
    with pytest.raises(Rejected) as info:
        parse_trust_policy(text)
    assert info.value.code is ErrorCode.MALFORMED_ENCODING


@pytest.mark.spec("9.7-a")
def test_policy_rules_refuse_wrong_key_types_names_and_quorums() -> None:
    good = policy(2, 1)
    cases = [
        lambda: replace(good, log=witness_verifier(1)),
        lambda: replace(good, origin="other.example/log"),
        lambda: replace(good, witnesses=(log_signer().verifier,)),
        lambda: replace(good, witnesses=(witness_verifier(1), witness_verifier(1))),
        lambda: replace(good, quorum=3),
        lambda: replace(good, quorum=-1),
    ]
    make: Callable[[], TrustPolicy]
    for make in cases:
        with pytest.raises(Rejected) as info:
            make()
        assert info.value.code is ErrorCode.BAD_KEY
    with pytest.raises(Rejected):
        TrustPolicy(ORIGIN, log_signer().verifier, max_age_ms=0)
    text = format_trust_policy(good).replace(log_signer().vkey, format_vkey(witness_verifier(3)))
    with pytest.raises(Rejected) as info:
        parse_trust_policy(text)
    assert info.value.code is ErrorCode.BAD_KEY
    with pytest.raises(Rejected) as info:
        parse_trust_policy(b"#" * 70_000)
    assert info.value.code is ErrorCode.TOO_LARGE
