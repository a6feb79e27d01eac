"""No personal data (issue 7, item 11; protocol §9.1-g, §12-a): the short version of
scripts/privacy_scan.py, which sends canary strings (an e-mail address, a phone number, an IP address and
a name in Cyrillic) to a real log server, witness and mirror in every header and in every field a client
controls (and, for the mirror, in everything a hostile upstream answers), then checks that no file they
wrote (SQLite databases with their -wal and -shm, state and evidence files, working, temporary and home
directories) and nothing they printed holds any canary, in UTF-8, percent-encoded or JSON-escaped, and
that no answer echoes one. The servers bind to 127.0.0.2, so that their clients reach them from
127.0.0.1: that address must appear nowhere either.

The in-process tests below pin the two leaks the scan found: a witness stored the signature lines of
other keys that arrived on a checkpoint (their key names are free text), and a mirror repeated the
upstream's error messages.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from crypto.note import add_signatures, format_note, parse_note
from registry.client import RegistryClient, ServerUnreachable
from registry.errors import ErrorCode, Rejected
from registry.mirror import MirrorFailed, mirror_log
from registry.statements import parse_entry
from registry.witness.protocol import InconsistentCheckpoint
from tests.witnessing import LOG_SIGNER, ToyLog, make_witness

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(f"{name}_script", module)
    spec.loader.exec_module(module)
    return module


scan = _load("privacy_scan")
flood = _load("flood")
CANARIES: dict[str, str] = scan.CANARIES


def test_the_scan_finds_every_canary_in_every_spelling_and_the_client_address(tmp_path: Path) -> None:
    control = " ".join(CANARIES.values()).encode() + b" 127.0.0.1"
    assert scan.find_canaries(control) == {*CANARIES, "client address 127.0.0.1"}
    for n, (name, value) in enumerate(CANARIES.items()):
        for m, spelling in enumerate(sorted(scan.spellings(value))):
            (tmp_path / f"file{n}-{m}").write_bytes(b"x" + spelling + b"y")
        assert scan.find_canaries(json.dumps(value).encode()) == {name}
    found = scan.scan(tmp_path)
    assert found.files == len(found.hits) == sum(len(scan.spellings(v)) for v in CANARIES.values())
    assert set().union(*found.hits.values()) == set(CANARIES)


@pytest.mark.spec("9.1-g", "12-a", "9.1-a", "6.2-c", "6.5-c")
def test_no_canary_and_no_client_address_reaches_any_file_or_output(tmp_path: Path) -> None:
    report = scan.run_scan(tmp_path, rounds=1)
    # Everything was exercised: statements accepted and every refusal; the witness cosigned the log and
    # kept evidence of forks; the mirror copied the log and refused every hostile upstream.
    assert report.log_growth > 0
    assert set(report.statuses["log"]) >= {200, 201, 400, 404, 405, 413}
    assert set(report.statuses["witness"]) >= {200, 400, 403, 404, 405, 413, 422}
    assert set(report.statuses["mirror"]) >= {200, 404, 405}
    assert not any(s >= 500 for counts in report.statuses.values() for s in counts), report.statuses
    assert list((tmp_path / "witness" / "dir" / "evidence").iterdir())
    assert report.mirror_runs == {"log": 0, "headers": 0, "tiles": 1, "tile_errors": 1, "checkpoint": 1,
                                  "refused": 1, "unavailable": 3, "failing": 1}  # fmt: skip
    assert (tmp_path / "mirror" / "dir" / "checkpoint").is_file()
    assert report.requests["upstream"] > 0
    assert "Application startup complete" in report.outputs["log"]  # the servers' output was captured
    assert set(report.outputs) == {"log", "witness", "mirror"}
    # Nothing anywhere.
    assert report.running.files > 0 and report.running.bytes > 0
    assert report.running.hits == {}, report.running.hits
    assert report.stopped.hits == {}, report.stopped.hits
    assert report.output_hits == {}, report.outputs
    assert report.echoes == [], report.echoes
    assert report.hits == 0


@pytest.mark.spec("12-a", "6.2-g")
def test_a_witness_keeps_only_the_logs_signature_lines_in_its_state_and_evidence(tmp_path: Path) -> None:
    """Found by the scan: the stored checkpoint (and the evidence files) kept every signature line that
    arrived on it, so a client could store text of its choosing (a key name) at the witness."""
    witness = make_witness(tmp_path)
    log = ToyLog().append(4)
    extra = [scan.canary_signature(value) for value in CANARIES.values() if " " not in value]
    marked = format_note(add_signatures(parse_note(log.checkpoint()), extra))
    witness.add_checkpoint(b"old 0\n\n" + marked)
    head = witness.state.latest(LOG_SIGNER.name)
    assert head is not None and head.checkpoint == log.checkpoint()  # the log's own line only
    fork = ToyLog().append(3).append(1, tag=b"fork ")
    with pytest.raises(InconsistentCheckpoint):
        witness.add_checkpoint(b"old 4\n\n" + format_note(add_signatures(parse_note(fork.checkpoint()), extra)))
    witness.state.close()
    assert list((tmp_path / "evidence1").iterdir())
    found = scan.scan(tmp_path)
    assert found.files >= 2 and found.hits == {}, found.hits


@pytest.mark.spec("12-a", "6.5-b")
@pytest.mark.parametrize(("where", "status", "code"), [
    ("/checkpoint", 400, ErrorCode.MALFORMED_ENCODING), ("/checkpoint", 404, ErrorCode.NOT_FOUND),
    ("/checkpoint", 500, ErrorCode.INTERNAL), ("/checkpoint", 503, ErrorCode.UNAVAILABLE),
    ("/tile/", 404, ErrorCode.NOT_FOUND), ("/tile/", 500, ErrorCode.INTERNAL),
])  # fmt: skip
def test_a_mirror_never_repeats_the_upstreams_error_text(tmp_path: Path, where: str, status: int,
                                                          code: ErrorCode) -> None:  # fmt: skip
    """Found by the scan: `registry mirror` printed the message of the upstream's error body."""
    log = ToyLog().append(5)
    text = " ".join(CANARIES.values())

    def answer(request: httpx.Request) -> httpx.Response:
        body = log.checkpoint()  # the client reads answers as streams
        if request.url.path.startswith(where):
            known = {"code": str(code), "message": text, "section": text}
            body = json.dumps(known if status != 500 else {**known, "code": text}, ensure_ascii=False).encode()
            return httpx.Response(status, stream=httpx.ByteStream(body), headers={"content-type": "application/json"})
        return httpx.Response(200, stream=httpx.ByteStream(body))

    client = RegistryClient("http://upstream.invalid", transport=httpx.MockTransport(answer))
    with pytest.raises((MirrorFailed, ServerUnreachable)) as caught:
        mirror_log(client, tmp_path / "mirror", LOG_SIGNER.verifier)
    assert caught.value.code is code
    assert isinstance(caught.value, ServerUnreachable) == (status == 503)
    assert not scan.find_canaries(f"{caught.value.message} {caught.value.rejection}".encode())
    assert scan.scan(tmp_path).hits == {}


@pytest.mark.spec("12-a", "4.2-b")
def test_a_refused_entry_never_echoes_the_names_of_its_unknown_fields(tmp_path: Path) -> None:
    """Found by the scan: the message of a statement with an unknown field named the field, so a
    client's text (here an e-mail address) came back in the error body and could reach any log."""
    log = flood.make_log(tmp_path, 1_767_225_600_000)
    valid = json.loads(flood.make_payloads(log, 1)["unsponsored"][0])
    for value in CANARIES.values():
        for where in (("statement",), ()):
            changed = scan.with_value(valid, (*where, value), 1) if where else {**valid, value: 1}
            data = json.dumps(changed, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
            with pytest.raises(Rejected) as caught:
                parse_entry(data)
            assert caught.value.code is ErrorCode.MALFORMED_ENTRY
            assert "1 unknown field" in caught.value.message
            assert not scan.find_canaries(caught.value.message.encode("utf-8"))
