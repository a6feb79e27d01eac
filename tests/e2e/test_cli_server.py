"""The `registry` command line with `--server URL` against a real uvicorn server (protocol §9.6).

`registry serve` runs as a subprocess on a free loopback port; the CLI runs in this process (CliRunner)
and, for the exit codes of a real process, as a subprocess too. A
member submits, reads a status and validates over HTTP with the same output and exit codes as the
`--data` forms; an auditor audits over HTTP with a cache, then again after more entries (fetching only
what is new, and trusting the key it stored on first use), and is refused when a second server serves
a rolled-back copy of the log. An unreachable server exits 3.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry.cli import cli, load_commands
from registry.statements import format_entry
from tests.factory import key
from tests.integration.serverlog import append, bulk_log, declarations, make_data_dir
from tests.servers import Server as Server  # noqa: PLC0414 (an explicit re-export: other tests import it from here)
from tests.servers import free_port

load_commands()

ROOT = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REGISTRY_PASSPHRASE")}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def registry(*args: object, check: int | None = None, subprocess_: bool = False) -> Run:
    """Run the CLI in this process (CliRunner), or as a real subprocess; the server is always real."""
    if subprocess_:
        done = subprocess.run([sys.executable, "-m", "registry", *map(str, args)], check=False, capture_output=True,
                              text=True, cwd=ROOT, env=ENV, timeout=300)
        result = Run(done.returncode, done.stdout, done.stderr)
    else:
        invoked = CliRunner().invoke(cli, [str(a) for a in args], env={"DATABASE_URL": None})
        result = Run(invoked.exit_code, invoked.stdout, invoked.stderr)
    if check is not None:
        assert result.returncode == check, f"registry {args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def serve(data: Path, log_path: Path) -> Server:
    """`registry serve --data DATA --port P --batch-ms 0` on a free port, ready; its stdout and stderr in
    `log_path`; `stop()` as Ctrl-C does."""
    return Server.serve(data, batch_ms=0, out=log_path, env=ENV).start()


@dataclass
class Setup:
    data: Path
    prefix: Path
    vkey: str
    server: Server
    tmp: Path


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    """A log of 301 leaves (a full bundle and a partial one), a copy of it, and a server on the log."""
    log = bulk_log()
    vkey = make_data_dir(tmp_path / "log", log)
    append(tmp_path / "log", declarations(log, 1000, 298))  # genesis, state leaf, 298 entries, state leaf
    shutil.copytree(tmp_path / "log", tmp_path / "prefix")
    server = serve(tmp_path / "log", tmp_path / "server.log")
    try:
        yield Setup(tmp_path / "log", tmp_path / "prefix", vkey, server, tmp_path)
    finally:
        server.stop()


def _statement(tmp: Path, n: int) -> Path:
    path = tmp / f"declare-{n}.json"
    path.write_bytes(format_entry(bulk_log().declare(key(n), None)))
    return path


def _error_code(result: Run) -> str:
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")][-1]
    return line.split(": ")[1]


@pytest.mark.spec("9.6-i", "9.6-f")
def test_submit_status_validate_over_http_match_the_local_forms(setup: Setup) -> None:
    url, data = setup.server.url, setup.data
    first = _statement(setup.tmp, 5000)
    # validate: would be accepted, then (once logged) refused as a duplicate, by both forms.
    assert "would be accepted" in registry("validate", first, "--server", url, check=0).stdout
    assert registry("validate", first, "--data", data, "--json", check=0).stdout.strip() == '{"ok": true}'
    result = registry("submit", first, "--server", url, "--log-key", setup.vkey, check=0)
    assert result.stdout.strip().splitlines()[-1] == "301"
    assert "checkpoint signature verified" in result.stderr
    for source in (["--server", url], ["--data", data]):
        refused = registry("validate", first, *source, check=1)
        assert _error_code(refused) == "duplicate_entry"
        assert registry("submit", first, *source, check=1).stderr == refused.stderr.replace("validate", "submit")
    # status: the same JSON object and the same text from the server and from the local replay.
    member = key(5000).public_key.hex()
    remote = registry("status", member, "--server", url, "--json", check=0).stdout
    local = registry("status", member, "--data", data, "--json", check=0).stdout
    assert remote == local
    assert json.loads(remote)["status"] == "pending" and json.loads(remote)["history"] == [301]
    assert registry("status", member, "--server", url, check=0).stdout == registry(
        "status", member, "--data", data, check=0).stdout
    unknown = key(9999).public_key.hex()
    assert _error_code(registry("status", unknown, "--server", url, check=1)) == "unknown_member"
    assert _error_code(registry("status", unknown, "--data", data, check=1)) == "unknown_member"
    # Exactly one of --data and --server.
    registry("status", member, check=2)
    registry("status", member, "--data", data, "--server", url, check=2)
    registry("submit", first, "--server", "ftp://example.org", check=2)
    # An audit without --cache needs the key and keeps nothing; one source only.
    registry("audit", "--server", url, check=2)
    result = registry("audit", "--server", url, "--log-key", setup.vkey, "--workers", "1", check=0,
                      subprocess_=True)
    assert "nothing is kept" in result.stderr and "audit: ok" in result.stdout
    registry("audit", "--data", data, "--server", url, check=2)
    registry("audit", "--data", data, "--cache", setup.tmp / "c", check=2)


@pytest.mark.spec("9.6-i")
def test_unreachable_server_exits_3(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    statement = _statement(tmp_path, 5100)
    member = key(5100).public_key.hex()
    for args in (["submit", statement], ["validate", statement], ["status", member]):
        result = registry(*args, "--server", url, check=3)
        assert _error_code(result) == "unavailable"
    vkey = make_data_dir(tmp_path / "log", bulk_log())
    registry("audit", "--server", url, "--log-key", vkey, check=3)
    # The same exit code from a real process.
    assert _error_code(registry("status", member, "--server", url, check=3, subprocess_=True)) == "unavailable"


def _audit(setup: Setup, url: str, *extra: object, check: int) -> Run:
    return registry("audit", "--server", url, "--cache", setup.tmp / "cache", "--workers", "1", *extra, check=check)


@pytest.mark.spec("9.6-f", "9.6-h", "9.6-e")
def test_audit_over_http_incremental_then_refuses_a_rollback(setup: Setup) -> None:
    url = setup.server.url
    # Without a key: refused (usage), nothing fetched.
    assert "--log-key" in _audit(setup, url, check=2).stderr
    # First run: the key is given and stored; the whole log is fetched.
    first = _audit(setup, url, "--log-key", setup.vkey, "--json", check=0)
    report = json.loads(first.stdout)
    assert report["ok"] is True and report["tree_size"] == 301
    assert "fetched 3 tiles and 2 entry bundles; reused 0 tiles and 0 entry bundles" in first.stderr
    assert "stored the log key" in first.stderr
    # The same report as the offline audit of the data directory (which also checks every older checkpoint).
    offline = json.loads(registry("audit", "--data", setup.data, "--json", "--workers", "1", check=0).stdout)
    assert {**report, "checkpoints_checked": 0} == {**offline, "checkpoints_checked": 0}
    # More entries, then a second run with the key from the cache (trust on first use).
    for n in range(5200, 5203):
        registry("submit", _statement(setup.tmp, n), "--server", url, check=0)
    second = _audit(setup, url, check=0)
    assert "trust on first use" in second.stderr
    assert "reused 1 tiles and 1 entry bundles from the cache" in second.stderr
    assert "fetched 2 tiles and 1 entry bundles" in second.stderr
    assert "consistent with the accepted one of size 301" in second.stderr
    assert "tree size: 307" in second.stdout and "audit: ok" in second.stdout  # 3 batches of entry + state leaf
    # Another key for this cache: refused.
    other = make_data_dir(setup.tmp / "other", bulk_log(), label="other")
    assert _error_code(_audit(setup, url, "--log-key", other, check=1)) == "bad_key"
    # A second server with the same key serving the log as it was at 301 leaves: a rollback.
    setup.server.stop()
    rolled_back = serve(setup.prefix, setup.tmp / "prefix.log")
    try:
        refused = _audit(setup, rolled_back.url, "--json", check=1)
    finally:
        rolled_back.stop()
    assert _error_code(refused) == "audit_mismatch"
    assert "301" in refused.stderr and "307" in refused.stderr
    failure = json.loads(refused.stdout)["failure"]
    assert (failure["check"], failure["accepted_size"], failure["checkpoint_size"]) == ("rollback", 307, 301)
