"""Three witness servers on loopback (real uvicorn processes started by `registry witness serve`) and
the log's client against them (protocol §6.2, §6.3).

Each test uses its own log origin, so the module's three servers are shared without interference."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crypto.cosignature import verify_cosignatures
from crypto.keys import SigningKey
from crypto.note import parse_note
from crypto.notekey import NoteSigner
from registry.evidence import check_evidence, parse_evidence
from registry.witness.client import QuorumUnavailable, WitnessEndpoint, WitnessPool, add_checkpoint
from registry.witness.protocol import AddCheckpoint, format_add_checkpoint
from registry.witness.state import WitnessState
from tests.witnessing import (
    ToyLog,
    WitnessProcess,
    free_port,
    race,
    start_witnesses,
    witness_verifier,
    witness_vkey,
)

ROOT = Path(__file__).resolve().parents[2]
LOGS = {
    name: NoteSigner(f"{name}.registry.example/log", SigningKey.from_seed(hashlib.sha256(name.encode()).digest()))
    for name in ("normal", "stale", "badproof", "fork", "race", "down", "raw", "large")
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[WitnessProcess]]:
    started = start_witnesses(tmp_path_factory.mktemp("witnesses"), [s.vkey for s in LOGS.values()])
    try:
        yield started
    finally:
        for server in started:
            server.stop()


def post(url: str, old: int, proof: list[bytes], checkpoint: bytes) -> httpx.Response:
    body = format_add_checkpoint(AddCheckpoint(old, tuple(proof), checkpoint))
    return httpx.post(f"{url}/add-checkpoint", content=body, timeout=10)


def state_of(server: WitnessProcess, origin: str) -> tuple[int, bytes] | None:
    with WitnessState.open(server.directory / "state.sqlite3") as state:
        head = state.latest(origin)
    return None if head is None else (head.size, head.root_hash)


@pytest.mark.spec("6.2-c", "6.2-h", "6.3-b")
def test_a_log_requiring_two_of_three_collects_cosignatures_at_every_size(servers: list[WitnessProcess]) -> None:
    log = ToyLog(LOGS["normal"])
    verifiers = [witness_verifier(n) for n in (1, 2, 3)]
    with WitnessPool([s.endpoint for s in servers], 2, log.proof, grace=5.0) as pool:
        for step in (1, 2, 5, 60, 200):
            log.append(step)
            collected = pool.collect(log.checkpoint())
            assert len(verify_cosignatures(parse_note(collected.note), verifiers, 3)) == 3
    for server in servers:
        assert state_of(server, log.signer.name) == (268, log.root())


@pytest.mark.spec("6.2-c", "6.2-f")
def test_stale_old_size_gets_409_and_the_client_recovers(servers: list[WitnessProcess]) -> None:
    log = ToyLog(LOGS["stale"]).append(10)
    url = servers[0].url
    assert post(url, 0, [], log.checkpoint()).status_code == 200
    log.append(7)
    response = post(url, 3, log.proof(3, 17), log.checkpoint())
    assert response.status_code == 409
    assert response.headers["content-type"] == "text/x.tlog.size"
    assert response.content == b"10\n"
    with httpx.Client() as http:
        got = add_checkpoint(http, servers[0].endpoint, log.checkpoint(), log.proof, old_size=3)
    assert got.size == 17 and state_of(servers[0], log.signer.name) == (17, log.root())


@pytest.mark.spec("6.2-c")
def test_a_bad_proof_is_422_and_changes_nothing(servers: list[WitnessProcess]) -> None:
    log = ToyLog(LOGS["badproof"]).append(6)
    url = servers[1].url
    assert post(url, 0, [], log.checkpoint()).status_code == 200
    log.append(5)
    proof = log.proof(6, 11)
    response = post(url, 6, [proof[0][:-1] + b"\x00", *proof[1:]], log.checkpoint())
    assert response.status_code == 422
    assert response.json()["code"] == "bad_proof"
    assert state_of(servers[1], log.signer.name) == (6, log.root(6))


@pytest.mark.spec("6.2-c", "6.2-a")
def test_unknown_log_bad_signature_and_malformed_requests(servers: list[WitnessProcess]) -> None:
    url = servers[2].url
    unknown = ToyLog(NoteSigner("unknown.example/log", SigningKey.from_seed(b"\x05" * 32))).append(2)
    response = post(url, 0, [], unknown.checkpoint())
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    impostor = NoteSigner(LOGS["raw"].name, SigningKey.from_seed(b"\x06" * 32))
    response = post(url, 0, [], ToyLog(impostor).append(2).checkpoint())
    assert (response.status_code, response.json()["code"]) == (403, "bad_signature")
    response = httpx.post(f"{url}/add-checkpoint", content=b"old 01\n\n", timeout=10)
    assert (response.status_code, response.json()["code"]) == (400, "malformed_encoding")
    response = post(url, 5, [], ToyLog(LOGS["raw"]).append(2).checkpoint())
    assert response.status_code == 400
    response = httpx.post(f"{url}/add-checkpoint", content=b"old 0\n\n" + b"x" * (2 << 20), timeout=10)
    assert (response.status_code, response.json()["code"]) == (413, "too_large")
    about = httpx.get(f"{url}/", timeout=10).text.splitlines()
    assert about[0] == f"witness {witness_vkey(3)}"
    assert f"log {LOGS['raw'].name}" in about


@pytest.mark.spec("6.2-d", "6.2-g", "6.4-c")
def test_a_forking_log_is_refused_by_every_witness_with_evidence(servers: list[WitnessProcess]) -> None:
    signer = LOGS["fork"]
    honest = ToyLog(signer).append(10)
    with WitnessPool([s.endpoint for s in servers], 3, honest.proof, grace=5.0) as pool:
        pool.collect(honest.checkpoint())
    fork = ToyLog(signer).append(7).append(14, tag=b"fork ")
    for server in servers:
        response = post(server.url, 10, fork.proof(10, 21), fork.checkpoint())
        assert response.status_code == 422
    with WitnessPool([s.endpoint for s in servers], 1, fork.proof, old_sizes={}) as pool, \
            pytest.raises(QuorumUnavailable) as info:
        pool.collect(fork.checkpoint())
    assert info.value.collected.cosignatures == {}
    same_size = ToyLog(signer).append(9).append(1, tag=b"fork ")
    for server in servers:
        assert post(server.url, 10, [], same_size.checkpoint()).status_code == 422
        assert state_of(server, signer.name) == (10, honest.root())
        found = [parse_evidence(f.read_bytes()) for f in sorted((server.directory / "evidence").iterdir())]
        mine = [e for e in found if e.log_vkey == signer.vkey]
        assert len(mine) == 2 and all(check_evidence(e) is None for e in mine)


@pytest.mark.spec("6.2-e", "6.2-d")
def test_parallel_competing_checkpoints_advance_a_witness_once_per_size(servers: list[WitnessProcess]) -> None:
    signer = LOGS["race"]
    base = ToyLog(signer).append(4)
    url = servers[0].url
    assert post(url, 0, [], base.checkpoint()).status_code == 200
    size = 4
    for round_ in range(3):
        forks = [base.copy().append(2, tag=f"r{round_} f{i} ".encode()) for i in range(12)]
        def send(i: int, forks: list[ToyLog] = forks, size: int = size) -> int:
            return post(url, size, forks[i].proof(size, size + 2), forks[i].checkpoint()).status_code

        statuses = dict(enumerate(race(len(forks), send)))
        winners = [i for i, status in statuses.items() if status == 200]
        assert len(winners) == 1 and sorted(set(statuses.values())) == [200, 409]
        base = forks[winners[0]]
        size += 2
        assert state_of(servers[0], signer.name) == (size, base.root())
        for i, fork in enumerate(forks):
            if i != winners[0]:
                assert post(url, size, [], fork.checkpoint()).status_code == 422


@pytest.mark.spec("6.3-b", "6.3-c", "6.3-d")
def test_one_witness_down_still_works_two_down_do_not_and_they_catch_up(servers: list[WitnessProcess]) -> None:
    log = ToyLog(LOGS["down"]).append(3)
    dead = [WitnessEndpoint(witness_verifier(n), f"http://127.0.0.1:{free_port()}") for n in (2, 3)]
    live = [s.endpoint for s in servers]
    with WitnessPool([live[0], live[1], dead[1]], 2, log.proof, timeout=3.0) as pool:
        assert len(pool.collect(log.checkpoint()).cosignatures) == 2
    log.append(4)
    with WitnessPool([live[0], dead[0], dead[1]], 2, log.proof, timeout=3.0) as pool:
        with pytest.raises(QuorumUnavailable):
            pool.collect(log.checkpoint())
    log.append(4)
    with WitnessPool(live, 3, log.proof, grace=5.0) as pool:
        assert len(pool.collect(log.checkpoint()).cosignatures) == 3
    for server in servers:
        assert state_of(server, log.signer.name) == (11, log.root())


def test_witness_server_answers_health_and_json_errors(servers: list[WitnessProcess]) -> None:
    assert httpx.get(f"{servers[0].url}/healthz", timeout=10).text == "ok\n"
    response = httpx.post(f"{servers[0].url}/add-checkpoint", content=b"", timeout=10)
    assert response.status_code == 400
    assert sorted(json.loads(response.content)) == ["code", "message", "section"]
