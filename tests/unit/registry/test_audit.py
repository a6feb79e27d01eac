"""The auditor's full replay (protocol §8.2): a clean log passes; any change is found and named."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.merkle import leaf_hash, root_from_leaf_hashes
from crypto.note import format_note
from crypto.notekey import NoteSigner
from registry.audit import AuditCheck, audit
from registry.statements import Reason
from registry.statetree import format_state_leaf, parse_state_leaf
from tests.factory import ORIGIN, Log, key

LOG_KEY = key(900)


def signer(name: str = ORIGIN) -> NoteSigner:
    return NoteSigner(name, LOG_KEY)


def checkpoint(leaves: list[bytes], size: int, name: str = ORIGIN) -> bytes:
    root = root_from_leaf_hashes(leaf_hash(x) for x in leaves[:size])
    return format_note(sign_checkpoint(Checkpoint(name, size, root), signer(name)))


def sample_log() -> Log:
    log = Log.standard(sealed=True)  # each entry followed by a state leaf: checkpoints at even sizes
    f1, f2, f3 = key(1), key(2), key(3)
    for n in range(11, 15):
        log.join(key(n), f1 if n % 2 else f2, f3)
    log.submit(log.council_revoke(key(11)))
    log.submit(log.rotate(key(12), key(300)))
    log.submit(log.revoke_self(key(13), Reason.DURESS))
    return log


@pytest.fixture(scope="module")
def log() -> Log:
    return sample_log()


def cps(log: Log, sizes: list[int]) -> list[bytes]:
    return [checkpoint(log.leaves, s) for s in sizes]


@pytest.mark.spec("8.2-a", "8.2-b", "8.2-e")
def test_clean_log_passes_and_matches_the_operator_state(log: Log) -> None:
    n = len(log.leaves)
    report = audit(log.leaves, cps(log, [2, 6, n]), signer().verifier)
    assert report.ok, report
    assert report.size == n
    assert report.root_hash == root_from_leaf_hashes(leaf_hash(x) for x in log.leaves)
    assert report.state == log.state
    assert report.counts == log.state.counts()
    assert report.counts["revoked"] == 2


@pytest.mark.spec("8.2-a")
def test_parallel_verification_gives_the_same_report(log: Log) -> None:
    n = len(log.leaves)
    one = audit(log.leaves, cps(log, [n]), signer().verifier, workers=1)
    two = audit(log.leaves, cps(log, [n]), signer().verifier, workers=2)
    assert one == two
    assert two.ok


@pytest.mark.spec("8.2-a", "8.2-b")
def test_flipped_byte_anywhere_is_found_and_named(log: Log) -> None:
    """Every leaf, random byte positions: the audit fails at that leaf, or at the first checkpoint over it."""
    n = len(log.leaves)
    notes = cps(log, list(range(2, n + 1, 2)))  # a checkpoint per entry and its state leaf
    rng = random.Random(7)
    for i, leaf in enumerate(log.leaves):
        for _ in range(12):
            pos = rng.randrange(len(leaf))
            bad = bytearray(leaf)
            bad[pos] ^= 1 << rng.randrange(8)
            leaves = [*log.leaves[:i], bytes(bad), *log.leaves[i + 1 :]]
            report = audit(leaves, notes, signer().verifier)
            assert not report.ok
            assert report.first_bad_index == i, (i, pos, report.check, report.message)


@pytest.mark.spec("8.2-b")
def test_checkpoint_with_another_root_is_named(log: Log) -> None:
    n = len(log.leaves)
    forged = format_note(sign_checkpoint(Checkpoint(ORIGIN, 4, b"\x01" * 32), signer()))
    report = audit(log.leaves, [forged, checkpoint(log.leaves, n)], signer().verifier)
    assert not report.ok
    assert report.check is AuditCheck.CHECKPOINT_ROOT
    assert report.bad_checkpoint_size == 4


@pytest.mark.spec("8.2-c")
def test_two_roots_for_one_size_are_refused(log: Log) -> None:
    n = len(log.leaves)
    forged = format_note(sign_checkpoint(Checkpoint(ORIGIN, 3, b"\x02" * 32), signer()))
    report = audit(log.leaves, [checkpoint(log.leaves, 3), forged, checkpoint(log.leaves, n)], signer().verifier)
    assert not report.ok
    assert report.bad_checkpoint_size == 3


@pytest.mark.spec("8.2-d")
def test_log_must_be_covered_by_a_checkpoint(log: Log) -> None:
    n = len(log.leaves)
    report = audit(log.leaves, cps(log, [n - 2]), signer().verifier)
    assert not report.ok
    assert report.check is AuditCheck.CHECKPOINT_MISSING
    truncated = audit(log.leaves[:-2], cps(log, [n]), signer().verifier)
    assert not truncated.ok
    assert truncated.check is AuditCheck.CHECKPOINT_SIZE


@pytest.mark.spec("8.2-a")
def test_checkpoint_by_another_key_is_refused(log: Log) -> None:
    n = len(log.leaves)
    other = NoteSigner(ORIGIN, key(901))
    root = root_from_leaf_hashes(leaf_hash(x) for x in log.leaves)
    note = format_note(sign_checkpoint(Checkpoint(ORIGIN, n, root), other))
    report = audit(log.leaves, [note], signer().verifier)
    assert not report.ok
    assert report.check is AuditCheck.CHECKPOINT_SIGNATURE
    assert report.code == "bad_signature"


@pytest.mark.spec("8.2-a")
def test_reordered_leaves_are_named(log: Log) -> None:
    n = len(log.leaves)
    leaves = list(log.leaves)
    leaves[3], leaves[4] = leaves[4], leaves[3]
    report = audit(leaves, cps(log, [n]), signer().verifier)
    assert not report.ok
    assert report.first_bad_index == 3
    assert report.check is AuditCheck.LEAF_INDEX


@pytest.mark.spec("5.8-j", "5.8-i")
def test_a_state_leaf_with_another_root_is_named() -> None:
    log = sample_log()
    n = len(log.leaves)
    index = 5  # a state leaf: genesis 0, its state leaf 1, then entry and state leaf pairs
    good = parse_state_leaf(log.leaves[index])
    leaves = list(log.leaves)
    leaves[index] = format_state_leaf(replace(good, root=bytes(32)))
    report = audit(leaves, [checkpoint(leaves, n)], signer().verifier)
    assert not report.ok
    assert (report.check, report.first_bad_index, report.code) == (AuditCheck.STATE_LEAF, index, "audit_mismatch")


@pytest.mark.spec("5.8-i")
def test_a_checkpoint_must_end_with_a_state_leaf() -> None:
    log = sample_log()
    n = len(log.leaves)
    report = audit(log.leaves, cps(log, [3, n]), signer().verifier)  # size 3 ends with an entry
    assert not report.ok
    assert (report.check, report.bad_checkpoint_size) == (AuditCheck.STATE_LEAF, 3)
    unsealed = Log.standard()
    unsealed.join(key(11), key(1), key(2))
    bare = audit(unsealed.leaves, [checkpoint(unsealed.leaves, len(unsealed.leaves))], signer().verifier)
    assert not bare.ok and bare.check is AuditCheck.STATE_LEAF
