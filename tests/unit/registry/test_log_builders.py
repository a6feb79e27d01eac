"""The logs the tests, the vectors and the benchmarks build follow the sequencer's batches (protocol §5.6-j):
every leaf of a batch, its state leaf included, carries the batch's one log time, so the replay's batch
time check (§8.2-h) and state leaf time check (§8.2-f) accept them."""

from __future__ import annotations

import pytest

from registry.errors import ErrorCode
from registry.replay import replay
from registry.statetree import StateLeaf, parse_log_leaf
from tests.credfactory import issue
from tests.factory import T0, Log, key, mid
from tests.reliability import load_script


def _batches(leaves: list[bytes]) -> list[list[int]]:
    """The log times of each batch: the leaves up to and including each state leaf, then an open tail."""
    batches: list[list[int]] = [[]]
    for data in leaves:
        leaf = parse_log_leaf(data)
        batches[-1].append(leaf.logged_ms)
        if isinstance(leaf, StateLeaf):
            batches.append([])
    return [b for b in batches if b]


def _one_time_per_batch(leaves: list[bytes]) -> list[int]:
    """The batches' times, after checking that each batch has one."""
    batches = _batches(leaves)
    assert all(len(set(times)) == 1 for times in batches), batches
    return [times[0] for times in batches]


@pytest.mark.spec("5.6-j", "8.2-h")
def test_the_factory_closes_a_batch_when_its_clock_moves() -> None:
    log = Log.standard()
    log.submit(log.declare(key(11), key(1)))  # at the genesis's time: the genesis batch
    log.tick(days=1)
    log.submit(log.vouch(key(2), key(11)))  # a new time: a state leaf closes the genesis batch first
    log.submit(log.declare(key(12), key(2)))  # `submit` moved the clock on by 1 ms: another batch
    assert [parse_log_leaf(x).index for x in log.leaves] == list(range(6))
    assert [isinstance(parse_log_leaf(x), StateLeaf) for x in log.leaves] == [False, False, True, False, True, False]
    times = _one_time_per_batch(log.leaves)
    assert times[0] == T0 and times[1] < times[2]
    assert log.batch_open
    assert replay(log.leaves) == log.state


@pytest.mark.spec("5.6-j", "8.2-f")
def test_the_factory_seals_at_the_batch_time_whatever_its_clock() -> None:
    log = Log.standard()
    log.submit(log.declare(key(11), key(1)))
    log.tick(days=2)
    sealed = log.seal()
    assert sealed.logged_ms == T0
    assert not log.batch_open
    assert replay(log.leaves) == log.state


@pytest.mark.spec("5.6-j")
def test_a_refused_entry_at_a_new_time_leaves_no_state_leaf() -> None:
    log = Log.standard()
    log.tick(days=1)
    leaves = list(log.leaves)
    refused = log.try_submit(log.declare(key(11), key(50)))  # the sponsor is no member
    assert refused is not None and refused.code is ErrorCode.UNKNOWN_MEMBER
    assert log.leaves == leaves and log.batch_open


@pytest.mark.spec("5.6-j", "8.2-h")
def test_a_sealed_factory_log_is_batches_of_one() -> None:
    log = Log.standard(sealed=True)
    log.submit(log.declare(key(11), key(1)))
    log.submit(log.vouch(key(2), key(11)))
    assert [len(b) for b in _batches(log.leaves)] == [2, 2, 2]
    _one_time_per_batch(log.leaves)
    assert replay(log.leaves) == log.state


@pytest.mark.spec("5.6-j", "8.2-f")
def test_an_issued_credential_closes_the_batch_at_its_time() -> None:
    log = Log.standard()
    log.submit(log.declare(key(11), key(1)))
    log.tick(days=1)
    log.submit(log.vouch(key(2), key(11)))
    issued = issue(log, mid(key(11)))
    assert issued.credential.state.logged_ms == parse_log_leaf(log.leaves[-1]).logged_ms
    _one_time_per_batch(issued.leaves)
    replayed = replay(issued.leaves)  # the state leaf's time and root are checked
    assert (replayed.size, replayed.members) == (len(issued.leaves), issued.state.members)


@pytest.mark.spec("5.6-j", "8.2-h")
def test_the_synthetic_log_has_one_time_per_batch_of_a_checkpoint() -> None:
    synthlog = load_script("synthlog")
    generator = synthlog.SyntheticLog(b"test builders", founders=5)
    leaves = [leaf for _, _, leaf in generator.leaves(200, seal_every=64)]
    times = _one_time_per_batch(leaves)
    assert [len(b) for b in _batches(leaves)] == [64, 64, 64, 8]
    step = synthlog.STEP_MS
    start = synthlog.START_MS
    assert times == [start + 63 * step, start + 127 * step, start + 191 * step, start + 199 * step]
    assert replay(leaves) == generator.state
    planned = [parse_log_leaf(leaf).logged_ms for _, _, leaf in synthlog.SyntheticLog(b"x", founders=5).leaves(5)]
    assert planned == [start + i * step for i in range(5)]  # unsealed: a plan, one time per entry


@pytest.mark.spec("5.6-j", "11.3-a")
def test_the_credential_vectors_log_has_one_time_per_batch() -> None:
    generator = load_script("gen_vectors_credential")
    log = generator._scenario()[0]
    times = _one_time_per_batch(log.leaves)
    assert [len(b) for b in _batches(log.leaves)] == [2, 4, 2]
    assert times == [generator.T0, generator.T0 + 1000, generator.T0 + 2000]
    assert replay(log.leaves) == log.state
