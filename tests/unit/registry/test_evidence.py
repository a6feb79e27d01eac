"""registry/evidence.py: evidence files that a log signed inconsistent checkpoints (protocol §6.4-b,
§6.4-c), and their vectors (tests/vectors/evidence)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.keys import SigningKey
from crypto.merkle import EMPTY_ROOT
from crypto.note import format_note
from crypto.notekey import NoteSigner
from registry import evidence as evidence_module
from registry.errors import RegistryError
from registry.evidence import (
    EVIDENCE_FORMAT,
    MAX_EVIDENCE_SIZE,
    Evidence,
    build_evidence,
    check_evidence,
    consistency_path,
    evidence_from_tree,
    format_evidence,
    parse_evidence,
    roots_from_consistency_path,
    verify_evidence,
)
from tests.witnessing import LOG_SIGNER, LOG_VKEY, ORIGIN, ToyLog, witness_vkey

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "evidence"


def fork_pair(common: int, old: int, new: int) -> tuple[ToyLog, ToyLog]:
    honest = ToyLog().append(old)
    fork = ToyLog().append(common).append(new - common, tag=b"fork ")
    return honest, fork


def fork_evidence(common: int, old: int, new: int) -> Evidence:
    honest, fork = fork_pair(common, old, new)
    path = consistency_path(old, fork.proof(old, new), fork.root(old))
    return build_evidence(LOG_VKEY, fork.checkpoint(), honest.checkpoint(), path)


def test_all_lists_the_public_names() -> None:
    assert sorted(evidence_module.__all__) == sorted(
        [
            "EVIDENCE_FORMAT", "MAX_EVIDENCE_SIZE", "MAX_PATH_HASHES", "Evidence", "build_evidence", "check_evidence",
            "consistency_path", "evidence_from_tree", "format_evidence", "parse_evidence",
            "roots_from_consistency_path", "verify_evidence",
        ]
    )


@pytest.mark.spec("6.4-c")
@pytest.mark.parametrize(("common", "old", "new"), [(7, 10, 20), (0, 3, 5), (5, 6, 7), (3, 8, 13), (15, 16, 40)])
def test_a_fork_with_the_newer_trees_path_holds(common: int, old: int, new: int) -> None:
    evidence = fork_evidence(common, old, new)
    assert check_evidence(evidence) is None
    verify_evidence(evidence)


@pytest.mark.spec("6.4-c")
def test_same_size_different_roots_holds() -> None:
    honest, fork = fork_pair(3, 6, 6)
    evidence = build_evidence(LOG_VKEY, honest.checkpoint(), fork.checkpoint(), ())
    assert check_evidence(evidence) is None


@pytest.mark.spec("6.4-c")
def test_an_empty_tree_checkpoint_with_another_root_holds() -> None:
    bogus = format_note(sign_checkpoint(Checkpoint(ORIGIN, 0, b"\x07" * 32), LOG_SIGNER))
    assert check_evidence(build_evidence(LOG_VKEY, bogus, ToyLog().append(3).checkpoint(), ())) is None
    honest_empty = ToyLog().checkpoint()
    rejection = check_evidence(build_evidence(LOG_VKEY, honest_empty, ToyLog().append(3).checkpoint(), ()))
    assert rejection is not None and rejection.code == "bad_proof"


@pytest.mark.spec("6.4-c")
def test_consistent_checkpoints_are_not_evidence() -> None:
    log = ToyLog().append(20)
    path = consistency_path(10, log.proof(10, 20), log.root(10))
    rejection = check_evidence(build_evidence(LOG_VKEY, log.checkpoint(10), log.checkpoint(20), path))
    assert rejection is not None and rejection.code == "bad_proof" and rejection.section == "6.4-c"


@pytest.mark.spec("6.4-c")
def test_the_same_tree_twice_is_not_evidence() -> None:
    log = ToyLog().append(5)
    rejection = check_evidence(build_evidence(LOG_VKEY, log.checkpoint(), log.checkpoint(), ()))
    assert rejection is not None and rejection.code == "bad_proof"


@pytest.mark.spec("6.4-c")
def test_a_failing_proof_alone_is_not_evidence() -> None:
    log = ToyLog().append(20)
    honest_proof = log.proof(10, 20)
    wrong = [honest_proof[0][:-1] + b"\x00", *honest_proof[1:]]
    rejection = check_evidence(build_evidence(LOG_VKEY, log.checkpoint(10), log.checkpoint(20), wrong))
    assert rejection is not None and rejection.code == "bad_proof"
    short = check_evidence(build_evidence(LOG_VKEY, log.checkpoint(10), log.checkpoint(20), honest_proof[:-1]))
    assert short is not None and short.code == "bad_proof"


@pytest.mark.spec("6.4-c")
def test_a_power_of_two_size_needs_the_newer_trees_subtree_hash() -> None:
    honest, fork = fork_pair(5, 8, 13)
    with_subtree = consistency_path(8, fork.proof(8, 13), fork.root(8))
    assert check_evidence(build_evidence(LOG_VKEY, honest.checkpoint(), fork.checkpoint(), with_subtree)) is None
    # With the older root prepended instead (all a witness has), the path proves nothing.
    with_old_root = consistency_path(8, fork.proof(8, 13), honest.root(8))
    rejection = check_evidence(build_evidence(LOG_VKEY, honest.checkpoint(), fork.checkpoint(), with_old_root))
    assert rejection is not None and rejection.code == "bad_proof"


@pytest.mark.spec("6.4-c")
def test_checkpoints_must_verify_under_the_log_key() -> None:
    evidence = fork_evidence(7, 10, 20)
    other = NoteSigner(ORIGIN, SigningKey.from_seed(hashlib.sha256(b"someone else").digest()))
    rejection = check_evidence(Evidence(other.vkey, evidence.older, evidence.newer, evidence.path))
    assert rejection is not None and rejection.code == "bad_signature"
    rejection = check_evidence(Evidence(witness_vkey(1), evidence.older, evidence.newer, evidence.path))
    assert rejection is not None and rejection.code == "bad_key"


@pytest.mark.spec("6.4-b")
def test_checkpoints_come_in_size_order() -> None:
    evidence = fork_evidence(7, 10, 20)
    assert evidence.older != evidence.newer
    swapped = Evidence(evidence.log_vkey, evidence.newer, evidence.older, evidence.path)
    rejection = check_evidence(swapped)
    assert rejection is not None and rejection.code == "malformed_encoding"


@pytest.mark.spec("6.4-b")
def test_evidence_file_round_trips_as_canonical_json() -> None:
    evidence = fork_evidence(7, 10, 20)
    data = format_evidence(evidence)
    document = json.loads(data)
    assert sorted(document) == ["checkpoints", "format", "log_vkey", "path"]
    assert document["format"] == EVIDENCE_FORMAT
    assert parse_evidence(data) == evidence
    assert format_evidence(parse_evidence(data)) == data


@pytest.mark.spec("6.4-b")
@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: {**d, "extra": 1},
        lambda d: {k: v for k, v in d.items() if k != "path"},
        lambda d: {**d, "format": "antiwar-registry/evidence/v2"},
        lambda d: {**d, "checkpoints": d["checkpoints"][:1]},
        lambda d: {**d, "checkpoints": [1, 2]},
        lambda d: {**d, "log_vkey": 5},
        lambda d: {**d, "path": ["AB" * 32]},
        lambda d: {**d, "path": ["ab" * 31]},
        lambda d: {**d, "path": ["zz" * 32]},
        lambda d: {**d, "path": ["ab" * 32] * 65},
    ],
)
def test_malformed_evidence_files_are_refused(mutate: Any) -> None:
    document = json.loads(format_evidence(fork_evidence(7, 10, 20)))
    data = json.dumps(mutate(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    with pytest.raises(RegistryError) as info:
        parse_evidence(data)
    assert info.value.code == "malformed_encoding"


@pytest.mark.spec("6.4-b")
def test_non_canonical_or_oversized_files_are_refused() -> None:
    data = format_evidence(fork_evidence(7, 10, 20))
    with pytest.raises(RegistryError) as info:
        parse_evidence(data + b"\n")
    assert info.value.code == "malformed_encoding"
    with pytest.raises(RegistryError) as info:
        parse_evidence(b" " * (MAX_EVIDENCE_SIZE + 1))
    assert info.value.code == "too_large"


@pytest.mark.spec("6.4-c")
def test_fold_refuses_impossible_sizes_and_wrong_lengths() -> None:
    log = ToyLog().append(9)
    assert roots_from_consistency_path(0, 9, [EMPTY_ROOT]) is None
    assert roots_from_consistency_path(9, 9, [EMPTY_ROOT]) is None
    assert roots_from_consistency_path(3, 9, []) is None
    path = consistency_path(3, log.proof(3, 9), log.root(3))
    assert roots_from_consistency_path(3, 9, path) == (log.root(3), log.root(9))
    assert roots_from_consistency_path(3, 9, [*path, path[0]]) is None
    assert roots_from_consistency_path(3, 9, path[:-1]) is None


def _vectors() -> list[Any]:
    return [json.loads(p.read_text(encoding="utf-8")) | {"name": p.stem} for p in sorted(VECTORS.glob("*.json"))]


@pytest.mark.spec("6.4-b", "6.4-c")
@pytest.mark.parametrize("case", _vectors(), ids=lambda c: c["name"])
def test_evidence_vector(case: dict[str, Any]) -> None:
    data = case["inputs"]["file"].encode("utf-8")
    try:
        evidence = parse_evidence(data)
        rejection = check_evidence(evidence)
    except RegistryError as exc:
        rejection = exc.rejection
    if "expected_error" in case:
        assert rejection is not None and rejection.code == case["expected_error"], case["desc"]
    else:
        assert rejection is None, case["desc"]
        assert case["expected"] == "holds"


@pytest.mark.spec("6.4-a", "6.4-c")
@pytest.mark.parametrize(("common", "old", "new"), [(7, 10, 20), (5, 8, 13), (0, 1, 2), (3, 4, 4)])
def test_evidence_from_the_newer_trees_nodes_holds_for_a_fork(common: int, old: int, new: int) -> None:
    honest, fork = fork_pair(common, old, new)
    evidence = evidence_from_tree(LOG_VKEY, honest.checkpoint(), fork.checkpoint(), fork.tree)
    assert check_evidence(evidence) is None
    consistent = ToyLog().append(new)
    evidence = evidence_from_tree(LOG_VKEY, consistent.checkpoint(old), consistent.checkpoint(), consistent.tree)
    rejection = check_evidence(evidence)
    assert rejection is not None and rejection.code == "bad_proof"
    if old < new:
        with pytest.raises(RegistryError):  # the larger one first
            evidence_from_tree(LOG_VKEY, consistent.checkpoint(), consistent.checkpoint(old), consistent.tree)
