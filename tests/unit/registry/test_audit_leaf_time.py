"""Every entry leaf of a batch carries the batch's one log time (protocol §5.6-j, §8.2-h): the replay and
the audit name the first later leaf of a batch whose `logged_ms` differs from the time its batch's first
leaf set, as `leaf_time` with `bad_time`, even when the log re-signed its checkpoints over the changed
leaves; after the leaf's signatures and before the rules; in the genesis batch and in a log's open tail."""

from __future__ import annotations

import pytest

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.merkle import leaf_hash, root_from_leaf_hashes
from crypto.note import format_note
from crypto.notekey import NoteSigner
from registry.audit import AuditCheck, AuditReport, audit
from registry.errors import ErrorCode, Rejected
from registry.replay import Replayed, replay, replay_leaves
from registry.state import DAY_MS
from registry.statements import format_leaf, parse_leaf
from registry.statetree import StateLeaf, parse_log_leaf
from tests.factory import ORIGIN, T0, Log, key

LOG_KEY = key(901)
BATCH_MS = T0 + 3_600_000
LATER_MS = BATCH_MS + DAY_MS
GENESIS_BATCH = (0, 1, 2)
"""The genesis, a declaration at the genesis's time, and the state leaf that closes the genesis batch."""
BATCH = (3, 4, 5, 6)
"""Two declarations and a vouch at BATCH_MS, and their state leaf."""
LAST_BATCH = (7, 8)
"""A declaration a day later, and its state leaf."""


def _signer() -> NoteSigner:
    return NoteSigner(ORIGIN, LOG_KEY)


def _batched_log() -> Log:
    log = Log.standard()
    log.submit(log.declare(key(11), key(1)))  # the genesis's clock: in the genesis batch
    log.now_ms = BATCH_MS
    entries = (log.declare(key(12), key(1)), log.vouch(key(2), key(11)), log.declare(key(13), key(2)))
    for entry in entries:
        log.now_ms = BATCH_MS  # `submit` moves the clock on; a sequencer's batch has one log time
        log.submit(entry)
    log.seal()
    log.now_ms = LATER_MS
    log.submit(log.declare(key(14), key(3)))
    log.seal()
    return log


@pytest.fixture(name="leaves", scope="module")
def leaves_fixture() -> list[bytes]:
    return list(_batched_log().leaves)


def _checkpoints(leaves: list[bytes]) -> list[bytes]:
    """A checkpoint signed by the log's key at every state leaf, over `leaves` as they are (an operator
    that rewrites its log re-signs them)."""
    notes = []
    for size in range(1, len(leaves) + 1):
        if isinstance(parse_log_leaf(leaves[size - 1]), StateLeaf):
            root = root_from_leaf_hashes(leaf_hash(x) for x in leaves[:size])
            notes.append(format_note(sign_checkpoint(Checkpoint(ORIGIN, size, root), _signer())))
    return notes


def _with_time(leaves: list[bytes], index: int, logged_ms: int) -> list[bytes]:
    changed = list(leaves)
    leaf = parse_leaf(leaves[index])
    changed[index] = format_leaf(index, logged_ms, leaf.entry)
    return changed


def _time(leaves: list[bytes], index: int) -> int:
    return parse_log_leaf(leaves[index]).logged_ms


def _audit(leaves: list[bytes], workers: int = 1) -> AuditReport:
    return audit(leaves, _checkpoints(leaves), _signer().verifier, workers=workers)


def _named(report: AuditReport) -> tuple[AuditCheck | None, str | None, int | None]:
    return report.check, report.code, report.first_bad_index


@pytest.mark.spec("8.2-h", "5.6-j")
def test_a_log_whose_batches_each_have_one_time_audits_clean(leaves: list[bytes]) -> None:
    for batch, logged_ms in ((GENESIS_BATCH, T0), (BATCH, BATCH_MS), (LAST_BATCH, LATER_MS)):
        assert {_time(leaves, i) for i in batch} == {logged_ms}
        assert isinstance(parse_log_leaf(leaves[batch[-1]]), StateLeaf)
    assert len(leaves) == 9
    report = _audit(leaves)
    assert report.ok, report.message


@pytest.mark.spec("8.2-h")
@pytest.mark.parametrize("delta_ms", [1, DAY_MS // 2, -1])
def test_a_later_leaf_with_another_time_than_its_batch_is_named(leaves: list[bytes], delta_ms: int) -> None:
    """Raised (which the non-decreasing rule of §5.6-c alone allows: a voucher or a rate limit judged half
    a day later) or lowered (which §5.6-c also refuses, but the batch time is checked first); the
    checkpoints are re-signed over the changed leaves, so no checkpoint root gives it away."""
    changed = _with_time(leaves, 4, BATCH_MS + delta_ms)
    report = _audit(changed)
    assert not report.ok
    assert _named(report) == (AuditCheck.LEAF_TIME, "bad_time", 4)
    assert report.bad_checkpoint_size is None
    message = report.message or ""
    assert str(BATCH_MS + delta_ms) in message and str(BATCH_MS) in message
    assert report.to_json()["failure"] == {
        "index": 4,
        "checkpoint_size": None,
        "check": "leaf_time",
        "code": "bad_time",
        "message": message,
    }


@pytest.mark.spec("8.2-h")
def test_the_first_leaf_sets_the_batch_time_so_the_next_leaf_is_named(leaves: list[bytes]) -> None:
    """When the batch's first leaf is the odd one out, the leaf named is the next one: no leaf says which
    time the operator meant, and the first leaf fixes the batch's."""
    changed = _with_time(leaves, 3, BATCH_MS + 1)
    report = _audit(changed)
    assert _named(report) == (AuditCheck.LEAF_TIME, "bad_time", 4)
    assert str(BATCH_MS + 1) in (report.message or "")


@pytest.mark.spec("8.2-h")
def test_the_genesis_batch_has_the_genesis_time(leaves: list[bytes]) -> None:
    changed = _with_time(leaves, 1, T0 + 1)
    assert _named(_audit(changed)) == (AuditCheck.LEAF_TIME, "bad_time", 1)


@pytest.mark.spec("8.2-h", "8.2-f")
def test_the_last_entry_of_a_batch_is_named_before_its_state_leaf(leaves: list[bytes]) -> None:
    """The state leaf would fail §8.2-f against it too; the entry comes first."""
    changed = _with_time(leaves, 5, BATCH_MS + 1)
    assert _named(_audit(changed)) == (AuditCheck.LEAF_TIME, "bad_time", 5)


@pytest.mark.spec("8.2-h")
def test_the_first_of_two_leaves_with_another_time_is_named(leaves: list[bytes]) -> None:
    changed = _with_time(_with_time(leaves, 5, BATCH_MS + 2), 4, BATCH_MS + 1)
    assert _named(_audit(changed)) == (AuditCheck.LEAF_TIME, "bad_time", 4)


@pytest.mark.spec("8.2-h", "8.2-a")
@pytest.mark.parametrize("workers", [1, 2])
def test_a_bad_signature_is_named_before_the_time(leaves: list[bytes], workers: int) -> None:
    """The same answer whether the signatures were verified ahead on other cores or in the replay."""
    changed = _with_time(leaves, 4, BATCH_MS + 1)
    at = changed[4].index(b'"sig":"') + len(b'"sig":"') + 40  # a base64 digit inside the first signature
    swapped = b"B" if changed[4][at : at + 1] != b"B" else b"C"
    changed[4] = changed[4][:at] + swapped + changed[4][at + 1 :]
    assert _named(_audit(changed, workers)) == (AuditCheck.LEAF_SIGNATURE, "bad_signature", 4)
    assert _named(_audit(_with_time(leaves, 4, BATCH_MS + 1), workers)) == (AuditCheck.LEAF_TIME, "bad_time", 4)


@pytest.mark.spec("8.2-h")
def test_leaves_after_the_last_state_leaf_are_checked_as_an_open_batch(leaves: list[bytes]) -> None:
    """A log that ends inside a batch fails for its missing checkpoint; a wrong time in its tail is
    named first, at the leaf."""
    tail = leaves[:5]  # the genesis batch, then leaves 3 and 4 of an unclosed batch
    assert _named(_audit(tail)) == (AuditCheck.CHECKPOINT_MISSING, "audit_mismatch", 4)
    changed = _with_time(tail, 4, BATCH_MS + 1)
    assert _named(_audit(changed)) == (AuditCheck.LEAF_TIME, "bad_time", 4)
    with pytest.raises(Rejected) as refused:
        replay_leaves(parse_log_leaf(x) for x in changed)
    assert (refused.value.code, refused.value.rejection.section) == (ErrorCode.BAD_TIME, "8.2-h")


@pytest.mark.spec("8.2-h", "8.2-e")
def test_a_replay_resumed_at_a_checkpoint_begins_a_new_batch(leaves: list[bytes]) -> None:
    whole = replay_leaves(parse_log_leaf(x) for x in leaves)
    assert whole.batch_ms is None  # the last leaf is a state leaf: no batch is open
    at_checkpoint = replay_leaves(parse_log_leaf(x) for x in leaves[:3])
    assert at_checkpoint.batch_ms is None
    open_batch = replay_leaves(parse_log_leaf(x) for x in leaves[:5])
    assert open_batch.batch_ms == BATCH_MS
    resumed = replay_leaves((parse_log_leaf(x) for x in leaves[3:]), Replayed(at_checkpoint.state, at_checkpoint.tree))
    assert (resumed.state, resumed.tree.root, resumed.batch_ms) == (whole.state, whole.tree.root, None)
    assert replay(leaves[3:], replay(leaves[:3])) == replay(leaves)
    changed = _with_time(leaves, 4, BATCH_MS + 1)
    with pytest.raises(Rejected) as from_tree:
        replay_leaves((parse_log_leaf(x) for x in changed[3:]), Replayed(at_checkpoint.state, at_checkpoint.tree))
    with pytest.raises(Rejected) as from_state:
        replay(changed[3:], replay(changed[:3]))
    for refused in (from_tree, from_state):
        assert (refused.value.code, refused.value.rejection.section) == (ErrorCode.BAD_TIME, "8.2-h")
