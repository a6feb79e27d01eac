"""registry/witness/witness.py: a witness's checks, state and cosignatures, in process (protocol §6.2).

The same witness behind real HTTP is tested in tests/integration/test_witness_http.py."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from crypto.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from crypto.cosignature import verify_cosignatures
from crypto.keys import SigningKey
from crypto.merkle import EMPTY_ROOT
from crypto.note import format_note, parse_note
from crypto.notekey import NoteSigner, sign_note
from registry.evidence import check_evidence, parse_evidence
from registry.witness.protocol import (
    AddCheckpoint,
    BadLogSignature,
    InconsistentCheckpoint,
    MalformedRequest,
    OldSizeMismatch,
    UnknownLog,
    format_add_checkpoint,
)
from registry.witness.state import WitnessState
from registry.witness.witness import Witness
from tests.unit.crypto.test_cosignature import GOCHECK_KEY, GOCHECK_LINE, GOCHECK_NAME, GOCHECK_TIME, SOFA
from tests.witnessing import (
    LOG_SIGNER,
    ORIGIN,
    OTHER_SIGNER,
    Clock,
    ToyLog,
    make_witness,
    witness_verifier,
)


def body(old: int, proof: list[bytes] | tuple[bytes, ...], checkpoint: bytes) -> bytes:
    return format_add_checkpoint(AddCheckpoint(old, tuple(proof), checkpoint))


def grow(witness: Witness, log: ToyLog, old: int) -> int:
    """Send the log's current checkpoint from `old`; return the new size."""
    witness.add_checkpoint(body(old, log.proof(old, log.size), log.checkpoint()))
    return log.size


@pytest.mark.spec("6.2-c", "6.2-h")
def test_first_checkpoint_from_old_size_zero_is_cosigned(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    log = ToyLog().append(5)
    lines = witness.add_checkpoint(body(0, [], log.checkpoint()))
    assert len(lines) == 1
    note = parse_note(log.checkpoint())
    from crypto.note import add_signatures

    times = verify_cosignatures(add_signatures(note, lines), [witness_verifier(1)], 1)
    assert list(times) == ["witness1.registry.example"]
    head = witness.state.latest(ORIGIN)
    assert head is not None and (head.size, head.root_hash) == (5, log.root())


@pytest.mark.spec("6.2-c")
def test_a_growing_log_is_cosigned_at_every_size(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    log = ToyLog()
    old = 0
    for step in (1, 1, 2, 4, 9, 100, 1):
        log.append(step)
        old = grow(witness, log, old)
    head = witness.state.latest(ORIGIN)
    assert head is not None and head.size == 118 and head.root_hash == log.root()


@pytest.mark.spec("6.2-c", "6.2-d")
def test_the_same_checkpoint_is_cosigned_again(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    log = ToyLog().append(7)
    grow(witness, log, 0)
    again = witness.add_checkpoint(body(7, [], log.checkpoint()))
    assert again and witness.state.latest(ORIGIN).size == 7  # type: ignore[union-attr]


@pytest.mark.spec("6.2-c")
def test_an_empty_log_checkpoint_is_cosigned(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    log = ToyLog()
    assert witness.add_checkpoint(body(0, [], log.checkpoint()))
    assert witness.state.latest(ORIGIN).root_hash == EMPTY_ROOT  # type: ignore[union-attr]


@pytest.mark.spec("6.2-c")
def test_unknown_origin_is_404(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    other = ToyLog(OTHER_SIGNER).append(3)
    with pytest.raises(UnknownLog) as info:
        witness.add_checkpoint(body(0, [], other.checkpoint()))
    assert info.value.code == "not_found"


@pytest.mark.spec("6.2-c")
def test_checkpoint_signed_by_another_key_of_the_same_name_is_403(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    impostor = NoteSigner(ORIGIN, SigningKey.from_seed(hashlib.sha256(b"impostor").digest()))
    forged = ToyLog(impostor).append(3)
    with pytest.raises(BadLogSignature) as info:
        witness.add_checkpoint(body(0, [], forged.checkpoint()))
    assert info.value.code == "bad_signature"
    assert witness.state.latest(ORIGIN) is None


@pytest.mark.spec("6.2-c")
def test_checkpoint_whose_log_signature_fails_is_403(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    good = ToyLog().append(3).checkpoint()
    note = parse_note(good)
    other = ToyLog().append(4).checkpoint()
    # The log's signature line of size 4 under the text of size 3: name and key ID match, signature fails.
    tampered = format_note(type(note)(text=note.text, signatures=parse_note(other).signatures))
    with pytest.raises(BadLogSignature):
        witness.add_checkpoint(body(0, [], tampered))


@pytest.mark.spec("6.2-c")
def test_malformed_note_or_checkpoint_text_is_400(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    with pytest.raises(MalformedRequest):
        witness.add_checkpoint(b"old 0\n\nnot a note\n")
    # A text signed by the log key that is not a checkpoint (an extension line).
    text = f"{ORIGIN}\n3\n{ToyLog().append(3).checkpoint().decode().split(chr(10))[2]}\nextension\n"
    signed = format_note(sign_note(text, [LOG_SIGNER]))
    with pytest.raises(MalformedRequest) as info:
        witness.add_checkpoint(body(0, [], signed))
    assert info.value.code == "malformed_encoding"


@pytest.mark.spec("6.2-c")
def test_old_size_above_the_checkpoint_size_is_400(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    log = ToyLog().append(3)
    with pytest.raises(MalformedRequest):
        witness.add_checkpoint(body(4, [], log.checkpoint()))


@pytest.mark.spec("6.2-c")
def test_old_size_other_than_the_latest_is_409_with_the_latest_size(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    log = ToyLog().append(8)
    with pytest.raises(OldSizeMismatch) as info:
        witness.add_checkpoint(body(3, log.proof(3, 8), log.checkpoint()))
    assert info.value.latest_size == 0
    grow(witness, log, 0)
    log.append(4)
    for old in (0, 5, 11):
        with pytest.raises(OldSizeMismatch) as info:
            witness.add_checkpoint(body(old, log.proof(old, 12), log.checkpoint()))
        assert info.value.latest_size == 8
    grow(witness, log, 8)


@pytest.mark.spec("6.2-c")
def test_a_proof_that_fails_is_422(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    log = ToyLog().append(6)
    grow(witness, log, 0)
    log.append(5)
    proof = log.proof(6, 11)
    bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    for wrong in (bad, proof[:-1], [*proof, proof[0]], []):
        with pytest.raises(InconsistentCheckpoint) as info:
            witness.add_checkpoint(body(6, wrong, log.checkpoint()))
        assert info.value.code == "bad_proof"
    assert witness.state.latest(ORIGIN).size == 6  # type: ignore[union-attr]


@pytest.mark.spec("6.2-c")
def test_old_size_zero_with_a_proof_is_422(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    log = ToyLog().append(6)
    with pytest.raises(InconsistentCheckpoint):
        witness.add_checkpoint(body(0, [log.root(3)], log.checkpoint()))


@pytest.mark.spec("6.2-c")
def test_a_size_zero_checkpoint_with_another_root_is_422(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    bogus = format_note(sign_checkpoint(Checkpoint(ORIGIN, 0, b"\x01" * 32), LOG_SIGNER))
    with pytest.raises(InconsistentCheckpoint):
        witness.add_checkpoint(body(0, [], bogus))


@pytest.mark.spec("6.2-d")
def test_a_second_root_for_the_same_size_is_422_and_never_cosigned(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    honest = ToyLog().append(10)
    fork = ToyLog().append(9).append(1, tag=b"fork ")
    grow(witness, honest, 0)
    with pytest.raises(InconsistentCheckpoint):
        witness.add_checkpoint(body(10, [], fork.checkpoint()))
    head = witness.state.latest(ORIGIN)
    assert head is not None and head.root_hash == honest.root()


@pytest.mark.spec("6.2-d")
def test_a_forked_larger_checkpoint_with_its_own_valid_proof_is_refused(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    honest = ToyLog().append(10)
    grow(witness, honest, 0)
    fork = ToyLog().append(7).append(13, tag=b"fork ")
    # The fork's proof is genuine for the fork's own tree, but the fork's first 10 leaves differ.
    with pytest.raises(InconsistentCheckpoint):
        witness.add_checkpoint(body(10, fork.proof(10, 20), fork.checkpoint()))
    assert witness.state.latest(ORIGIN).root_hash == honest.root()  # type: ignore[union-attr]


@pytest.mark.spec("6.2-d")
def test_a_smaller_checkpoint_is_never_cosigned(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    log = ToyLog().append(10)
    grow(witness, log, 0)
    with pytest.raises(MalformedRequest):  # old 10 > size 6
        witness.add_checkpoint(body(10, [], log.checkpoint(6)))
    with pytest.raises(OldSizeMismatch):
        witness.add_checkpoint(body(0, [], log.checkpoint(6)))
    with pytest.raises(OldSizeMismatch):
        witness.add_checkpoint(body(6, [], log.checkpoint(6)))


@pytest.mark.spec("6.2-g", "6.4-c")
def test_a_refused_fork_is_kept_as_evidence_that_holds(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    honest = ToyLog().append(10)
    grow(witness, honest, 0)
    fork = ToyLog().append(7).append(13, tag=b"fork ")
    with pytest.raises(InconsistentCheckpoint):
        witness.add_checkpoint(body(10, fork.proof(10, 20), fork.checkpoint()))
    files = sorted((tmp_path / "evidence1").iterdir())
    assert len(files) == 1
    evidence = parse_evidence(files[0].read_bytes())
    assert check_evidence(evidence) is None
    assert parse_checkpoint(parse_note(evidence.older).text).size == 10


@pytest.mark.spec("6.2-g", "6.4-c")
def test_a_second_root_for_one_size_is_kept_as_evidence(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    grow(witness, ToyLog().append(4), 0)
    fork = ToyLog().append(3).append(1, tag=b"fork ")
    with pytest.raises(InconsistentCheckpoint):
        witness.add_checkpoint(body(4, [], fork.checkpoint()))
    (only,) = (tmp_path / "evidence1").iterdir()
    assert check_evidence(parse_evidence(only.read_bytes())) is None


@pytest.mark.spec("6.2-g")
def test_a_wrong_proof_for_an_honest_checkpoint_is_kept_but_proves_nothing(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    log = ToyLog().append(6)
    grow(witness, log, 0)
    log.append(5)
    proof = log.proof(6, 11)
    with pytest.raises(InconsistentCheckpoint):
        witness.add_checkpoint(body(6, [proof[1], proof[0], *proof[2:]], log.checkpoint()))
    (only,) = (tmp_path / "evidence1").iterdir()
    rejection = check_evidence(parse_evidence(only.read_bytes()))
    assert rejection is not None and rejection.code == "bad_proof"


@pytest.mark.spec("6.2-h", "6.1-c")
def test_the_witness_reproduces_the_published_cosignature_vector(tmp_path: Path) -> None:
    # tlog.md §1.5 / protocol §6.1: the gocheck witness cosigning the tlog-checkpoint example at 1679315147.
    sofa_log = NoteSigner("example.com/behind-the-sofa", SigningKey.from_seed(hashlib.sha256(b"sofa").digest()))
    checkpoint = format_note(sign_checkpoint(parse_checkpoint(SOFA), sofa_log))
    state = WitnessState.open(tmp_path / "state.sqlite3")
    witness = Witness(GOCHECK_NAME, GOCHECK_KEY, [sofa_log.verifier], state, lambda: GOCHECK_TIME)
    (line,) = witness.add_checkpoint(body(0, [], checkpoint))
    assert line.format_line() == GOCHECK_LINE


@pytest.mark.spec("6.2-h")
def test_cosignature_time_comes_from_the_witness_clock(tmp_path: Path) -> None:
    witness = make_witness(tmp_path, clock=Clock(1_800_000_000))
    log = ToyLog().append(2)
    (line,) = witness.add_checkpoint(body(0, [], log.checkpoint()))
    assert int.from_bytes(line.signature[:8], "big") == 1_800_000_001


@pytest.mark.spec("6.2-b")
def test_a_witness_key_must_be_given_log_keys_not_witness_keys(tmp_path: Path) -> None:
    state = WitnessState.open(tmp_path / "s.sqlite3")
    from tests.witnessing import witness_key, witness_name

    with pytest.raises(MalformedRequest) as info:
        Witness(witness_name(1), witness_key(1), [witness_verifier(2)], state, Clock())
    assert info.value.code == "bad_key"


@pytest.mark.spec("6.2-e", "6.2-d")
def test_competing_checkpoints_in_parallel_advance_the_state_once_per_size(tmp_path: Path) -> None:
    # Two Witness objects on one state file (as two processes would be), many threads, competing forks.
    first = make_witness(tmp_path, 1)
    second = Witness(first.name, SigningKey.from_seed(hashlib.sha256(b"antiwar-registry test witness 1").digest()),
                     [LOG_SIGNER.verifier], WitnessState.open(first.state.path), Clock())
    base = ToyLog().append(5)
    grow(first, base, 0)
    forks = [base.copy().append(3, tag=f"fork{i} ".encode()) for i in range(16)]
    results: list[tuple[int, bool]] = []
    barrier = threading.Barrier(len(forks))
    lock = threading.Lock()

    def send(i: int) -> None:
        witness = first if i % 2 else second
        barrier.wait()
        try:
            witness.add_checkpoint(body(5, forks[i].proof(5, 8), forks[i].checkpoint()))
            ok = True
        except OldSizeMismatch:
            ok = False
        with lock:
            results.append((i, ok))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(forks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, ok in results if ok]
    assert len(winners) == 1
    head = first.state.latest(ORIGIN)
    assert head is not None and head.size == 8 and head.root_hash == forks[winners[0]].root()
    # Every loser, resent with the right old size, is now a second root for size 8: refused.
    for i in range(len(forks)):
        if i != winners[0]:
            with pytest.raises(InconsistentCheckpoint):
                first.add_checkpoint(body(8, [], forks[i].checkpoint()))


def test_package_lists_its_public_names() -> None:
    import registry.witness

    assert sorted(registry.witness.__all__) == sorted(
        [
            "AddCheckpoint", "Collected", "QuorumUnavailable", "Witness", "WitnessConfig", "WitnessEndpoint",
            "WitnessPool", "WitnessRefusal", "WitnessState", "WitnessedHead", "collect_cosignatures",
            "format_add_checkpoint", "load_witness_config", "parse_add_checkpoint", "save_witness_config",
        ]
    )
    for name in registry.witness.__all__:
        assert hasattr(registry.witness, name)
