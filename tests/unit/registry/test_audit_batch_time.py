"""A state leaf's log time is its batch's (protocol §8.2-f): the replay and the audit name the first state
leaf whose `logged_ms` is raised or lowered, at the leaf itself, even when the log re-signed its
checkpoints over the changed leaves."""

from __future__ import annotations

from dataclasses import replace

import pytest

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.merkle import leaf_hash, root_from_leaf_hashes
from crypto.note import format_note
from crypto.notekey import NoteSigner
from registry.audit import AuditCheck, audit
from registry.errors import ErrorCode, Rejected
from registry.replay import replay, replay_leaves
from registry.statetree import StateLeaf, format_state_leaf, parse_log_leaf, parse_state_leaf
from tests.factory import ORIGIN, T0, Log, key

LOG_KEY = key(900)
BATCH_MS = T0 + 3_600_000


def _signer() -> NoteSigner:
    return NoteSigner(ORIGIN, LOG_KEY)


def _checkpoints(leaves: list[bytes]) -> list[bytes]:
    """A checkpoint signed by the log's key at every state leaf, over `leaves` as they are (an operator
    that rewrites its log re-signs them)."""
    notes = []
    for size in range(1, len(leaves) + 1):
        if leaves[size - 1].startswith(b'{"index":'):
            root = root_from_leaf_hashes(leaf_hash(x) for x in leaves[:size])
            notes.append(format_note(sign_checkpoint(Checkpoint(ORIGIN, size, root), _signer())))
    return notes


def _batched_log() -> Log:
    """The genesis and its state leaf, then a batch of two declarations and a vouch sharing one log time,
    closed by its state leaf, then a batch of one an hour later."""
    log = Log.standard()
    log.seal()
    for entry in (log.declare(key(11), key(1)), log.vouch(key(2), key(11)), log.declare(key(12), key(1))):
        log.now_ms = BATCH_MS  # `submit` moves the clock on; a sequencer's batch has one log time
        log.submit(entry)
    log.now_ms = BATCH_MS
    log.seal()
    log.now_ms = BATCH_MS + 3_600_000
    log.submit(log.declare(key(13), key(2)))
    log.now_ms = BATCH_MS + 3_600_000
    log.seal()
    return log


@pytest.fixture(name="log", scope="module")
def log_fixture() -> Log:
    return _batched_log()


def _state_indexes(leaves: list[bytes]) -> list[int]:
    return [i for i, leaf in enumerate(leaves) if isinstance(parse_log_leaf(leaf), StateLeaf)]


def _with_time(leaves: list[bytes], index: int, logged_ms: int) -> list[bytes]:
    changed = list(leaves)
    changed[index] = format_state_leaf(replace(parse_state_leaf(leaves[index]), logged_ms=logged_ms))
    return changed


@pytest.mark.spec("8.2-f", "5.6-j")
def test_a_log_whose_state_leaves_carry_their_batch_time_audits_clean(log: Log) -> None:
    states = _state_indexes(log.leaves)
    assert len(states) == 3
    batch = [parse_log_leaf(x).logged_ms for x in log.leaves[states[0] + 1 : states[1] + 1]]
    assert len(batch) >= 3 and set(batch) == {BATCH_MS}  # the batch's entries and its state leaf
    report = audit(log.leaves, _checkpoints(log.leaves), _signer().verifier)
    assert report.ok, report.message


@pytest.mark.spec("8.2-f")
@pytest.mark.parametrize("delta_ms", [1, 86_400_000, -1])
def test_a_state_leaf_time_other_than_its_batch_is_named_at_the_leaf(log: Log, delta_ms: int) -> None:
    """Raised (which the non-decreasing rule of §5.6-c alone allows) or lowered; the checkpoints are
    re-signed over the changed leaves, so no checkpoint root gives it away."""
    index = _state_indexes(log.leaves)[1]
    leaves = _with_time(log.leaves, index, BATCH_MS + delta_ms)
    report = audit(leaves, _checkpoints(leaves), _signer().verifier)
    assert not report.ok
    assert (report.check, report.code, report.first_bad_index) == (AuditCheck.STATE_LEAF, "bad_time", index)
    assert report.bad_checkpoint_size is None
    assert str(BATCH_MS + delta_ms) in (report.message or "") and str(BATCH_MS) in (report.message or "")


@pytest.mark.spec("8.2-f")
def test_the_first_state_leaf_with_a_wrong_time_is_named(log: Log) -> None:
    first, second, third = _state_indexes(log.leaves)
    leaves = _with_time(_with_time(log.leaves, third, BATCH_MS + 3_600_001), second, BATCH_MS + 5)
    report = audit(leaves, _checkpoints(leaves), _signer().verifier)
    assert (report.check, report.first_bad_index) == (AuditCheck.STATE_LEAF, second)
    assert first < second


@pytest.mark.spec("8.2-f", "5.8-i")
def test_the_time_is_checked_before_the_root(log: Log) -> None:
    index = _state_indexes(log.leaves)[1]
    leaves = list(log.leaves)
    leaves[index] = format_state_leaf(
        replace(parse_state_leaf(log.leaves[index]), logged_ms=BATCH_MS + 1, root=bytes(32))
    )
    report = audit(leaves, _checkpoints(leaves), _signer().verifier)
    assert (report.check, report.code, report.first_bad_index) == (AuditCheck.STATE_LEAF, "bad_time", index)


@pytest.mark.spec("8.2-f")
def test_replay_refuses_the_state_leaf_from_genesis_and_when_resumed(log: Log) -> None:
    index = _state_indexes(log.leaves)[1]
    leaves = _with_time(log.leaves, index, BATCH_MS + 1)
    with pytest.raises(Rejected) as from_genesis:
        replay_leaves(parse_log_leaf(x) for x in leaves)
    assert from_genesis.value.code is ErrorCode.BAD_TIME
    assert from_genesis.value.rejection.section == "8.2-f"
    resumed_from = replay(leaves[:2])  # the genesis and its state leaf
    with pytest.raises(Rejected) as resumed:
        replay(leaves[2:], resumed_from)
    assert resumed.value.code is ErrorCode.BAD_TIME
    assert replay(log.leaves[2:], resumed_from) == replay(log.leaves)
