"""A log served with three witnesses and quorum two, all real processes on loopback (protocol §6.3).

`registry serve` sends each new checkpoint to the witnesses configured with `registry log add-witness`
and answers the submissions only once two have cosigned it. With one witness down it still answers;
with two down the submissions get 503 `witness_quorum_unavailable`, nothing acknowledged is lost, and
when the witnesses return they catch up and the checkpoint covering those entries is published.
Auditors with the trust policy `registry log witnesses --policy` prints accept the log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from crypto.cosignature import verify_cosignatures
from crypto.note import parse_note
from crypto.notekey import parse_vkey
from registry.client import RegistryClient, ServerUnreachable
from registry.errors import Rejected
from registry.statements import format_entry
from registry.witness.state import WitnessState
from tests.e2e.test_cli_server import Server, registry, serve
from tests.factory import key
from tests.integration.serverlog import append, bulk_log, declarations, make_data_dir
from tests.witnessing import WitnessProcess, race, start_witnesses, witness_verifier, witness_vkey

VERIFIERS = [witness_verifier(n) for n in (1, 2, 3)]


@dataclass
class Witnessed:
    data: Path
    vkey: str
    witnesses: list[WitnessProcess]
    server: Server
    tmp: Path

    def client(self) -> RegistryClient:
        return RegistryClient(self.server.url, timeout_s=30)


@pytest.fixture(scope="module")
def witnessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witnessed]:
    tmp_path = tmp_path_factory.mktemp("witnessed")
    log = bulk_log()
    vkey = make_data_dir(tmp_path / "log", log)
    append(tmp_path / "log", declarations(log, 1000, 20))
    witnesses = start_witnesses(tmp_path, [vkey])
    server: Server | None = None
    try:
        for w in witnesses:
            registry("log", "add-witness", "--data", tmp_path / "log", "--vkey", witness_vkey(w.n), "--url", w.url,
                     check=0)
        registry("log", "set-quorum", "--data", tmp_path / "log", "2", check=0)
        server = serve(tmp_path / "log", tmp_path / "server.log")
        yield Witnessed(tmp_path / "log", vkey, witnesses, server, tmp_path)
    finally:
        if server is not None:
            server.stop()
        for w in witnesses:
            w.stop()


def declaration(n: int) -> bytes:
    return format_entry(bulk_log().declare(key(n), None))


def cosigners(note: bytes) -> int:
    return len(verify_cosignatures(parse_note(note), VERIFIERS, 0))


def size_of(note: bytes) -> int:
    return int(parse_note(note).text.split("\n")[1])


def published_size(w: Witnessed) -> int:
    return size_of(httpx.get(f"{w.server.url}/checkpoint", timeout=10).content)


@pytest.mark.spec("6.3-b")
def test_receipts_and_the_published_checkpoint_carry_the_quorum(witnessed: Witnessed) -> None:
    with witnessed.client() as client:
        receipt = client.submit(declaration(3000))
    assert cosigners(receipt.checkpoint) >= 2
    note = httpx.get(f"{witnessed.server.url}/checkpoint", timeout=10).content
    assert cosigners(note) >= 2 and published_size(witnessed) >= size_of(receipt.checkpoint) > receipt.index


@pytest.mark.spec("6.3-b")
def test_concurrent_submissions_all_get_verified_receipts_with_the_quorum(witnessed: Witnessed) -> None:
    # Batches committed while an earlier checkpoint is being witnessed are answered with the newest
    # cosigned checkpoint and an inclusion proof for its size; the client verifies every receipt.
    def submit(i: int) -> tuple[int, bytes]:
        with RegistryClient(witnessed.server.url, timeout_s=60,
                            log_verifier=parse_vkey(witnessed.vkey)) as client:
            receipt = client.submit(declaration(4000 + i))
        return receipt.index, receipt.checkpoint

    receipts = race(48, submit)
    assert len({index for index, _ in receipts}) == 48
    for index, note in receipts:
        assert cosigners(note) >= 2 and size_of(note) > index


@pytest.mark.spec("6.3-b", "6.3-c", "6.3-d")
def test_one_witness_down_works_two_down_is_503_and_nothing_is_lost(witnessed: Witnessed) -> None:
    _, w2, w3 = witnessed.witnesses
    w3.stop()
    try:
        _down_and_back(witnessed, w2, w3)
    finally:
        for w in (w2, w3):
            if w.process is None:
                w.start().wait_ready()


def _down_and_back(witnessed: Witnessed, w2: WitnessProcess, w3: WitnessProcess) -> None:
    with witnessed.client() as client:
        receipt = client.submit(declaration(3001))
        assert cosigners(receipt.checkpoint) == 2
        w2.stop()
        before = published_size(witnessed)
        with pytest.raises(ServerUnreachable) as info:
            client.submit(declaration(3002))
        assert info.value.code == "witness_quorum_unavailable"
        assert published_size(witnessed) == before  # not published without its quorum
        w2.start().wait_ready()
        w3.start().wait_ready()
        deadline = time.monotonic() + 30
        while published_size(witnessed) == before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert published_size(witnessed) > before  # the unanswered statement is in, and published
        with pytest.raises(Rejected) as dup:
            client.submit(declaration(3002))
        assert dup.value.code == "duplicate_entry"
        receipt = client.submit(declaration(3003))
        assert cosigners(receipt.checkpoint) >= 2
    origin = parse_note(receipt.checkpoint).text.split("\n")[0]
    # Catch-up runs in the publisher's background retries: give witness 3 time to receive the newest head.
    deadline = time.monotonic() + 30
    while True:
        with WitnessState.open(w3.directory / "state.sqlite3") as state:
            head = state.latest(origin)
        if (head is not None and head.size > before) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert head is not None and head.size > before  # witness 3 caught up


@pytest.mark.spec("6.3-e", "6.4-a")
def test_an_auditor_with_the_logs_trust_policy_accepts_it(witnessed: Witnessed) -> None:
    policy = witnessed.tmp / "policy"
    policy.write_text(registry("log", "witnesses", "--data", witnessed.data, "--policy", check=0).stdout)
    with witnessed.client() as client:
        client.submit(declaration(3004))
    result = registry("audit", "--server", witnessed.server.url, "--trust", policy, "--json", check=0)
    assert json.loads(result.stdout)["ok"] is True


@pytest.mark.spec("6.5-a", "6.5-b", "6.5-c")
def test_a_mirror_of_the_witnessed_log_is_audited_offline(witnessed: Witnessed) -> None:
    policy = witnessed.tmp / "policy-mirror"
    policy.write_text(registry("log", "witnesses", "--data", witnessed.data, "--policy", check=0).stdout)
    mirror = witnessed.tmp / "mirror"
    registry("mirror", "--server", witnessed.server.url, mirror, "--trust", policy, check=0)
    with witnessed.client() as client:
        client.submit(declaration(3005))
    result = registry("mirror", "--server", witnessed.server.url, mirror, check=0)  # key kept from the first run
    assert "previously" in result.stdout
    audited = registry("audit", "--mirror", mirror, "--trust", policy, "--json", check=0)
    report = json.loads(audited.stdout)
    assert report["ok"] is True and report["tree_size"] == published_size(witnessed)
