"""registry/witness/client.py: the log's side of tlog-witness, against real in-process witnesses
(protocol §6.2-f, §6.3-c, §6.3-d). httpx's MockTransport hands each request to a `Witness`; the same
client against witness servers on real sockets is tests/integration/test_witness_http.py."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from crypto.cosignature import cosign, verify_cosignatures
from crypto.note import parse_note
from registry.errors import RegistryError
from registry.witness import client as client_module
from registry.witness.client import (
    BadWitnessResponse,
    QuorumUnavailable,
    WitnessAhead,
    WitnessEndpoint,
    WitnessPool,
    WitnessRefused,
    WitnessUnreachable,
    add_checkpoint,
    collect_cosignatures,
)
from registry.witness.protocol import format_cosignature_lines
from tests.witnessing import (
    ORIGIN,
    OTHER_SIGNER,
    ToyLog,
    WitnessRouter,
    endpoint,
    make_witness,
    witness_key,
    witness_name,
    witness_verifier,
)


def routers(tmp_path: Path, count: int = 3) -> WitnessRouter:
    return WitnessRouter({f"witness{n}.test": make_witness(tmp_path, n) for n in range(1, count + 1)})


def test_all_lists_the_public_names() -> None:
    assert "collect_cosignatures" in client_module.__all__
    assert "WitnessPool" in client_module.__all__
    assert len(client_module.__all__) == len(set(client_module.__all__))


@pytest.mark.spec("6.2-f")
def test_a_first_checkpoint_is_cosigned_and_verified(tmp_path: Path) -> None:
    router = routers(tmp_path, 1)
    log = ToyLog().append(5)
    with httpx.Client(transport=router.transport) as http:
        got = add_checkpoint(http, endpoint(1), log.checkpoint(), log.proof)
    assert got.size == 5 and got.signature.name == witness_name(1)
    assert router.requests == {"witness1.test": 1}


@pytest.mark.spec("6.2-f")
@pytest.mark.parametrize("guess", [0, 3, 9, 12])
def test_a_stale_old_size_is_corrected_from_the_409_body(tmp_path: Path, guess: int) -> None:
    router = routers(tmp_path, 1)
    log = ToyLog().append(7)
    with httpx.Client(transport=router.transport) as http:
        add_checkpoint(http, endpoint(1), log.checkpoint(), log.proof)
        log.append(6)
        got = add_checkpoint(http, endpoint(1), log.checkpoint(), log.proof, old_size=guess)
    assert got.size == 13
    assert router.requests["witness1.test"] == 1 + (1 if guess == 7 else 2)
    head = router.witnesses["witness1.test"].state.latest(ORIGIN)
    assert head is not None and head.size == 13


@pytest.mark.spec("6.2-f")
def test_a_witness_ahead_of_the_checkpoint_is_reported_not_retried(tmp_path: Path) -> None:
    router = routers(tmp_path, 1)
    log = ToyLog().append(20)
    with httpx.Client(transport=router.transport) as http:
        add_checkpoint(http, endpoint(1), log.checkpoint(), log.proof)
        with pytest.raises(WitnessAhead) as info:
            add_checkpoint(http, endpoint(1), log.checkpoint(13), log.proof, old_size=13)
    assert info.value.witness_size == 20 and info.value.code == "bad_proof"
    assert router.requests["witness1.test"] == 2


@pytest.mark.spec("6.2-f", "6.2-d")
def test_refusals_are_typed(tmp_path: Path) -> None:
    router = routers(tmp_path, 1)
    honest = ToyLog().append(10)
    fork = ToyLog().append(7).append(5, tag=b"fork ")
    with httpx.Client(transport=router.transport) as http:
        add_checkpoint(http, endpoint(1), honest.checkpoint(), honest.proof)
        with pytest.raises(WitnessRefused) as info:
            add_checkpoint(http, endpoint(1), fork.checkpoint(), fork.proof, old_size=10)
        assert (info.value.status, info.value.code) == (422, "bad_proof")
        other = ToyLog(OTHER_SIGNER).append(2)
        with pytest.raises(WitnessRefused) as info:
            add_checkpoint(http, endpoint(1), other.checkpoint(), other.proof)
        assert (info.value.status, info.value.code) == (404, "not_found")


@pytest.mark.spec("6.2-f")
def test_an_unreachable_witness_is_typed(tmp_path: Path) -> None:
    router = routers(tmp_path, 1)
    router.down.add("witness1.test")
    log = ToyLog().append(2)
    with httpx.Client(transport=router.transport) as http, pytest.raises(WitnessUnreachable) as info:
        add_checkpoint(http, endpoint(1), log.checkpoint(), log.proof)
    assert info.value.code == "unavailable" and info.value.witness == witness_name(1)


def _answering(body: bytes, status: int = 200, content_type: str = "text/plain") -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=body,
                                                              headers={"content-type": content_type}))


@pytest.mark.spec("6.2-f")
def test_cosignature_lines_are_verified_and_unknown_ones_ignored() -> None:
    log = ToyLog().append(3)
    text = parse_note(log.checkpoint()).text
    good = cosign(witness_key(1), witness_name(1), text, 1_800_000_000)
    stranger = cosign(witness_key(2), witness_name(2), text, 1_800_000_000)
    forged = cosign(witness_key(2), witness_name(1), text, 1_800_000_000)  # name of 1, key of 2
    wrong_text = cosign(witness_key(1), witness_name(1), parse_note(ToyLog().append(4).checkpoint()).text, 1)
    with httpx.Client(transport=_answering(format_cosignature_lines([stranger, good]))) as http:
        assert add_checkpoint(http, endpoint(1), log.checkpoint(), log.proof).signature == good
    for lines in ([stranger], [forged], [wrong_text]):
        with httpx.Client(transport=_answering(format_cosignature_lines(lines))) as http, \
                pytest.raises(BadWitnessResponse) as info:
            add_checkpoint(http, endpoint(1), log.checkpoint(), log.proof)
        assert info.value.code == "bad_signature"
    for transport in (_answering(b"garbage\n"), _answering(b"5\n", 409, "text/plain"), _answering(b"x\n", 409,
                                                                                                   "text/x.tlog.size")):
        with httpx.Client(transport=transport) as http, pytest.raises(BadWitnessResponse) as info:
            add_checkpoint(http, endpoint(1), log.checkpoint(), log.proof)
        assert info.value.code == "malformed_encoding"


@pytest.mark.spec("6.3-a")
def test_endpoints_need_cosigner_keys_and_http_urls() -> None:
    from tests.witnessing import LOG_SIGNER

    with pytest.raises(RegistryError) as info:
        WitnessEndpoint(LOG_SIGNER.verifier, "http://x")
    assert info.value.code == "bad_key"
    with pytest.raises(RegistryError):
        WitnessEndpoint(witness_verifier(1), "ftp://x")
    with pytest.raises(RegistryError):
        WitnessPool([endpoint(1), endpoint(1)], 1, ToyLog().proof)
    with pytest.raises(RegistryError):
        WitnessPool([endpoint(1)], 2, ToyLog().proof)


@pytest.mark.spec("6.3-b")
def test_pool_collects_a_quorum_and_the_note_verifies(tmp_path: Path) -> None:
    router = routers(tmp_path)
    log = ToyLog()
    with WitnessPool([endpoint(n) for n in (1, 2, 3)], 2, log.proof, transport=router.transport, grace=5.0) as pool:
        for step in (1, 4, 30):
            log.append(step)
            collected = pool.collect(log.checkpoint())
            note = parse_note(collected.note)
            assert len(verify_cosignatures(note, [witness_verifier(n) for n in (1, 2, 3)], 3)) == 3
            assert collected.failures == {}
        assert dict(pool.sizes) == {witness_name(n): 35 for n in (1, 2, 3)}


@pytest.mark.spec("6.3-b", "6.3-c")
def test_one_witness_down_still_reaches_quorum_two_down_does_not(tmp_path: Path) -> None:
    router = routers(tmp_path)
    log = ToyLog().append(3)
    with WitnessPool([endpoint(n) for n in (1, 2, 3)], 2, log.proof, transport=router.transport) as pool:
        router.down.add("witness3.test")
        collected = pool.collect(log.checkpoint())
        assert len(collected.cosignatures) >= 2
        assert isinstance(collected.failures.get(witness_name(3)), WitnessUnreachable)
        router.down.add("witness2.test")
        log.append(2)
        with pytest.raises(QuorumUnavailable) as info:
            pool.collect(log.checkpoint())
        assert info.value.code == "witness_quorum_unavailable"
        assert list(info.value.collected.cosignatures) == [witness_name(1)]


@pytest.mark.spec("6.3-d")
def test_a_witness_that_comes_back_catches_up_from_its_last_size(tmp_path: Path) -> None:
    router = routers(tmp_path)
    log = ToyLog().append(4)
    with WitnessPool([endpoint(n) for n in (1, 2, 3)], 2, log.proof, transport=router.transport, grace=5.0) as pool:
        pool.collect(log.checkpoint())
        router.down.add("witness3.test")
        for _ in range(3):
            log.append(5)
            pool.collect(log.checkpoint())
        assert router.witnesses["witness3.test"].state.latest(ORIGIN).size == 4  # type: ignore[union-attr]
        router.down.clear()
        log.append(1)
        collected = pool.collect(log.checkpoint())
        assert len(collected.cosignatures) == 3
    assert router.witnesses["witness3.test"].state.latest(ORIGIN).size == 20  # type: ignore[union-attr]


@pytest.mark.spec("6.3-c")
def test_a_slow_witness_does_not_hold_the_quorum_back_but_cannot_replace_it(tmp_path: Path) -> None:
    router = routers(tmp_path)
    release = threading.Event()
    inner = router.transport

    def slow(request: httpx.Request) -> httpx.Response:
        if request.url.host == "witness3.test":
            release.wait(5)
        return inner.handle_request(request)

    log = ToyLog().append(3)
    transport = httpx.MockTransport(slow)
    with WitnessPool([endpoint(n) for n in (1, 2, 3)], 2, log.proof, transport=transport, timeout=0.3) as pool:
        collected = pool.collect(log.checkpoint())
        release.set()  # let the straggler finish, so that closing the pool does not wait for it
        assert sorted(collected.cosignatures) == [witness_name(1), witness_name(2)]
    release.clear()
    with WitnessPool([endpoint(n) for n in (1, 2, 3)], 3, log.proof, transport=transport, timeout=0.3) as pool:
        with pytest.raises(QuorumUnavailable) as info:
            pool.collect(log.checkpoint())
        release.set()
    assert isinstance(info.value.collected.failures[witness_name(3)], WitnessUnreachable)


@pytest.mark.spec("6.3-b")
def test_collect_cosignatures_one_shot(tmp_path: Path) -> None:
    router = routers(tmp_path)
    log = ToyLog().append(9)
    collected = collect_cosignatures(log.checkpoint(), [endpoint(n) for n in (1, 2, 3)], 2, log.proof, 5.0,
                                     transport=router.transport)
    assert len(verify_cosignatures(parse_note(collected.note), [witness_verifier(n) for n in (1, 2, 3)], 2)) >= 2
    with pytest.raises(RegistryError) as info:
        collect_cosignatures(b"not a note", [endpoint(1)], 1, log.proof, 1.0, transport=router.transport)
    assert info.value.code == "malformed_encoding"
    empty = collect_cosignatures(log.checkpoint(), [], 0, log.proof)
    assert empty.note == log.checkpoint()
