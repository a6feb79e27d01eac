"""Split-view and rollback detection by the remote auditor (protocol §6.4-a), and trust policies on the
checkpoint (§6.1-e): a smaller, forked or inconsistent checkpoint is refused however old the accepted
one is, and leaves an evidence file that `registry.evidence` checks; a checkpoint without the policy's
witness quorum is refused. The servers are the real app in this process."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from api.app import Settings, create_app
from crypto.cosignature import cosign
from crypto.note import add_signatures, format_note, parse_note
from crypto.notekey import parse_vkey
from registry.cli import cli, load_commands
from registry.client import RegistryClient
from registry.evidence import check_evidence, parse_evidence
from registry.remote_audit import RemoteAuditFailed, audit_server
from registry.tilecache import TileCache
from registry.trust import TrustPolicy
from tests.integration.serverlog import append, bulk_log, declarations, make_data_dir
from tests.witnessing import T0, witness_key, witness_name, witness_verifier

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

BASE = "http://testserver"
load_commands()


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)


class _Cosigning(httpx.BaseTransport):
    """Forwards to the app and adds cosignature lines of the given witnesses to GET /checkpoint."""

    def __init__(self, http: TestClient, witnesses: list[int], tamper: bool = False) -> None:
        self.http, self.witnesses, self.tamper = http, witnesses, tamper

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        real = self.http.get(request.url.path)
        body = real.content
        if request.url.path == "/checkpoint" and real.status_code == 200:
            note = parse_note(body)
            sigs = [cosign(witness_key(n), witness_name(n), note.text, T0 + n) for n in self.witnesses]
            if self.tamper:
                sigs[0] = type(sigs[0])(sigs[0].name, sigs[0].key_id, sigs[0].signature[:-1] + b"\x00")
            body = format_note(add_signatures(note, sigs))
        return httpx.Response(real.status_code, stream=httpx.ByteStream(body),
                              headers={"content-type": real.headers.get("content-type", "")})


@contextmanager
def serving(directory: Path, wrap: Callable[[TestClient], httpx.BaseTransport] | None = None
            ) -> Iterator[RegistryClient]:
    with TestClient(create_app(directory, Settings(batch_ms=0)), base_url=BASE) as http:
        if wrap is None:
            yield RegistryClient(BASE, client=http)
        else:
            yield RegistryClient(BASE, transport=wrap(http))


def audit(directory: Path, vkey: str, cache: Path, evidence: Path, **kw: object) -> int:
    with serving(directory, kw.pop("wrap", None)) as client, TileCache.open(cache) as tiles:  # type: ignore[arg-type]
        result = audit_server(client, tiles, parse_vkey(vkey), workers=1, evidence_dir=evidence, **kw)  # type: ignore[arg-type]
    assert result.report.ok
    return result.report.size


def refused(directory: Path, vkey: str, cache: Path, evidence: Path, **kw: object) -> RemoteAuditFailed:
    with pytest.raises(RemoteAuditFailed) as info:
        audit(directory, vkey, cache, evidence, **kw)
    return info.value


def new_log(path: Path, first: int, count: int) -> tuple[str, object]:
    log = bulk_log()
    vkey = make_data_dir(path, log)
    append(path, declarations(log, first, count))
    return vkey, log


@pytest.mark.spec("6.4-a", "6.4-c")
def test_an_inconsistent_larger_checkpoint_is_refused_with_evidence_that_holds(tmp_path: Path) -> None:
    vkey, _ = new_log(tmp_path / "a", 1000, 300)
    audit(tmp_path / "a", vkey, tmp_path / "cache", tmp_path / "ev")
    other, _ = new_log(tmp_path / "fork", 5000, 600)  # the same key and genesis, other entries
    assert other == vkey
    failure = refused(tmp_path / "fork", vkey, tmp_path / "cache", tmp_path / "ev")
    assert failure.check == "consistency" and failure.code == "bad_proof"
    assert failure.evidence is not None
    evidence = parse_evidence(failure.evidence.read_bytes())
    assert check_evidence(evidence) is None
    checked = CliRunner().invoke(cli, ["evidence", "check", str(failure.evidence), "--log-key", vkey])
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.splitlines()[-1] == "evidence holds: the log signed inconsistent checkpoints"


@pytest.mark.spec("6.4-a", "6.4-c")
def test_another_root_at_the_accepted_size_is_refused_with_evidence(tmp_path: Path) -> None:
    vkey, _ = new_log(tmp_path / "a", 1000, 300)
    audit(tmp_path / "a", vkey, tmp_path / "cache", tmp_path / "ev")
    new_log(tmp_path / "fork", 5000, 300)
    failure = refused(tmp_path / "fork", vkey, tmp_path / "cache", tmp_path / "ev")
    assert (failure.check, failure.code) == ("fork", "audit_mismatch")
    assert failure.evidence is not None and check_evidence(parse_evidence(failure.evidence.read_bytes())) is None


@pytest.mark.spec("6.4-a", "6.4-c")
def test_a_rollback_is_refused_and_recorded_and_proven_when_it_is_a_fork(tmp_path: Path) -> None:
    vkey, log = new_log(tmp_path / "a", 1000, 300)
    shutil.copytree(tmp_path / "a", tmp_path / "backup")  # the operator's old backup of the log
    append(tmp_path / "a", declarations(log, 2000, 500))  # type: ignore[arg-type]
    audit(tmp_path / "a", vkey, tmp_path / "cache", tmp_path / "ev")
    # A stale checkpoint: refused however old the accepted one is, recorded, but it proves no fork.
    failure = refused(tmp_path / "backup", vkey, tmp_path / "cache", tmp_path / "ev")
    assert (failure.check, failure.code) == ("rollback", "audit_mismatch")
    assert failure.evidence is not None
    stale = check_evidence(parse_evidence(failure.evidence.read_bytes()))
    assert stale is not None and stale.code == "bad_proof"  # the two checkpoints are consistent
    # The backup restored and grown with other entries, still below the accepted size: a provable fork.
    append(tmp_path / "backup", declarations(bulk_log(), 7000, 100))
    failure = refused(tmp_path / "backup", vkey, tmp_path / "cache", tmp_path / "ev")
    assert failure.check == "rollback" and failure.evidence is not None
    assert check_evidence(parse_evidence(failure.evidence.read_bytes())) is None


@pytest.mark.spec("6.1-e", "6.4-a")
def test_an_auditor_with_a_trust_policy_demands_the_witness_quorum(tmp_path: Path) -> None:
    vkey, _ = new_log(tmp_path / "a", 1000, 10)
    verifier = parse_vkey(vkey)
    policy = TrustPolicy(origin=verifier.name, log=verifier, witnesses=tuple(witness_verifier(n) for n in (1, 2, 3)),
                         quorum=2)

    def cosigned(*witnesses: int, tamper: bool = False) -> Callable[[TestClient], httpx.BaseTransport]:
        return lambda http: _Cosigning(http, list(witnesses), tamper)

    failure = refused(tmp_path / "a", vkey, tmp_path / "c0", tmp_path / "ev", policy=policy)
    assert (failure.check, failure.code) == ("witnesses", "bad_signature")
    failure = refused(tmp_path / "a", vkey, tmp_path / "c1", tmp_path / "ev", policy=policy, wrap=cosigned(1))
    assert failure.check == "witnesses"
    # An unknown witness's line is ignored and does not count.
    stranger_policy = TrustPolicy(origin=verifier.name, log=verifier, witnesses=(witness_verifier(1),), quorum=1)
    failure = refused(tmp_path / "a", vkey, tmp_path / "c2", tmp_path / "ev", policy=stranger_policy,
                      wrap=cosigned(2, 3))
    assert failure.check == "witnesses"
    # A known witness whose cosignature fails rejects the checkpoint, even beside a quorum of good ones.
    failure = refused(tmp_path / "a", vkey, tmp_path / "c3", tmp_path / "ev", policy=policy,
                      wrap=cosigned(1, 2, 3, tamper=True))
    assert failure.check == "witnesses"
    assert audit(tmp_path / "a", vkey, tmp_path / "c4", tmp_path / "ev", policy=policy, wrap=cosigned(1, 3)) > 10
