"""registry/witness/publisher.py: a checkpoint is published only with its witnesses' quorum, survives a
restart, and is retried until the witnesses come back (protocol §6.3-b to §6.3-d)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crypto.cosignature import verify_cosignatures
from crypto.note import parse_note
from registry.witness.client import QuorumUnavailable
from registry.witness.config import WitnessConfig, add_witness, set_quorum
from registry.witness.publisher import PUBLISHED_FILE, Publisher
from tests.witnessing import (
    LOG_SIGNER,
    ORIGIN,
    ToyLog,
    WitnessRouter,
    make_witness,
    witness_verifier,
    witness_vkey,
)


def config(quorum: int = 2) -> WitnessConfig:
    c = WitnessConfig(0, ())
    for n in (1, 2, 3):
        c = add_witness(c, witness_vkey(n), f"http://witness{n}.test")
    return set_quorum(c, quorum)


def router(tmp_path: Path) -> WitnessRouter:
    return WitnessRouter({f"witness{n}.test": make_witness(tmp_path, n) for n in (1, 2, 3)})


def publisher(tmp_path: Path, log: ToyLog, r: WitnessRouter, quorum: int = 2, **kw: object) -> Publisher:
    return Publisher(LOG_SIGNER.verifier, config(quorum), log.proof, directory=tmp_path, transport=r.transport,
                     **kw)  # type: ignore[arg-type]


def cosigners(note: bytes) -> int:
    return len(verify_cosignatures(parse_note(note), [witness_verifier(n) for n in (1, 2, 3)], 0))


@pytest.mark.spec("6.3-b")
def test_without_witnesses_the_log_checkpoint_is_published_as_is(tmp_path: Path) -> None:
    log = ToyLog().append(3)
    p = Publisher(LOG_SIGNER.verifier, WitnessConfig(0, ()), log.proof, directory=tmp_path)
    assert not p.witnessed
    assert p.publish(log.checkpoint()) == log.checkpoint()
    assert p.published == log.checkpoint() and p.published_size == 3
    assert not (tmp_path / PUBLISHED_FILE).exists()


@pytest.mark.spec("6.3-b")
def test_a_checkpoint_is_published_with_the_quorum_attached(tmp_path: Path) -> None:
    log = ToyLog().append(3)
    r = router(tmp_path)
    p = publisher(tmp_path, log, r)
    assert p.published_size == -1
    note = p.publish(log.checkpoint())
    assert cosigners(note) >= 2 and p.published == note
    assert (tmp_path / PUBLISHED_FILE).read_bytes() == note
    p.close()


@pytest.mark.spec("6.3-c")
def test_without_the_quorum_nothing_is_published(tmp_path: Path) -> None:
    log = ToyLog().append(3)
    r = router(tmp_path)
    p = publisher(tmp_path, log, r)
    first = p.publish(log.checkpoint())
    r.down.update({"witness1.test", "witness2.test"})
    log.append(4)
    with pytest.raises(QuorumUnavailable) as info:
        p.publish(log.checkpoint())
    assert info.value.code == "witness_quorum_unavailable"
    assert p.published == first and p.published_size == 3
    assert (tmp_path / PUBLISHED_FILE).read_bytes() == first
    p.close()


@pytest.mark.spec("6.3-c", "6.3-d")
def test_the_retry_thread_publishes_once_the_witnesses_return(tmp_path: Path) -> None:
    log = ToyLog().append(3)
    r = router(tmp_path)
    p = publisher(tmp_path, log, r, quorum=3)
    p.publish(log.checkpoint())
    r.down.add("witness3.test")
    log.append(9)
    with pytest.raises(QuorumUnavailable):
        p.publish(log.checkpoint())
    p.start_retries(log.checkpoint, interval_s=0.02)
    r.down.clear()
    deadline = time.monotonic() + 10
    while p.published_size != 12 and time.monotonic() < deadline:
        time.sleep(0.02)
    p.close()
    assert p.published_size == 12 and cosigners(p.published or b"") == 3
    head = r.witnesses["witness3.test"].state.latest(ORIGIN)
    assert head is not None and head.size == 12


@pytest.mark.spec("6.3-b")
def test_a_restarted_publisher_restores_a_checkpoint_that_still_holds(tmp_path: Path) -> None:
    log = ToyLog().append(5)
    r = router(tmp_path)
    p = publisher(tmp_path, log, r)
    note = p.publish(log.checkpoint())
    p.close()
    again = publisher(tmp_path, log, r)
    assert again.restore(lambda size: log.root(size) if size <= log.size else None)
    assert again.published == note and again.published_size == 5
    # Another tree at that size (the store was replaced), or a stricter quorum: not restored.
    other = ToyLog().append(5, tag=b"other ")
    assert not publisher(tmp_path, log, r).restore(other.root)
    assert publisher(tmp_path, log, r, quorum=3).restore(log.root) == (cosigners(note) == 3)
    (tmp_path / PUBLISHED_FILE).write_bytes(b"garbage")
    assert not publisher(tmp_path, log, r).restore(log.root)


@pytest.mark.spec("6.3-b")
def test_the_published_checkpoint_never_moves_back(tmp_path: Path) -> None:
    log = ToyLog().append(5)
    r = router(tmp_path)
    p = publisher(tmp_path, log, r)
    old = log.checkpoint()
    log.append(5)
    p.publish(log.checkpoint())
    newer = p.published
    # An older checkpoint (a slow batch behind the retry thread) is answered with the newer one, which
    # covers it; the witnesses are not asked to cosign below what they hold.
    assert p.publish(old) == newer
    assert p.published_size == 10
    p.close()
