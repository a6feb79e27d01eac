"""How `registry serve` opens its log: on a log it must not serve it exits 3 and says why in one line
(`error: CODE: MESSAGE`), without a traceback and without the database's address (protocol §5.6-e; the
exit codes in `registry serve --help`); it starts from the start-up snapshot, or with `--full-check`
runs every leaf through the rules (§9.1-i)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry.cli import cli, load_commands
from registry.datadir import open_data_dir
from registry.sequencer import Sequencer
from registry.store import Store
from tests.integration.logdata import ORIGIN, T0, Community
from tests.servers import ROOT, Server, free_port


def _init(tmp_path: Path) -> Path:
    load_commands()
    policy = tmp_path / "policy.json"
    policy.write_bytes(Community.make().genesis())
    data = tmp_path / "log"
    result = CliRunner().invoke(cli, ["init", str(data), "--policy", str(policy), "--origin", ORIGIN],
                                env={"DATABASE_URL": None})  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return data


def _serve(data: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"DATABASE_URL": database_url}
    args = [sys.executable, "-m", "registry", "serve", "--data", str(data), "--port", str(free_port())]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.spec("5.6-e")
def test_a_database_that_is_not_durable_is_refused_in_one_line(tmp_path: Path) -> None:
    data = _init(tmp_path)
    done = _serve(data, "sqlite://")  # in memory: no write-ahead log, nothing survives a crash
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert "error: unavailable: " in output
    assert "Traceback" not in output


@pytest.mark.spec("5.6-e")
def test_a_postgresql_session_without_synchronous_commit_is_refused_in_one_line(tmp_path: Path) -> None:
    base = os.environ.get("REGISTRY_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("REGISTRY_TEST_POSTGRES_URL is not set: no PostgreSQL to refuse")
    data = _init(tmp_path)
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csynchronous_commit%3Doff"
    done = _serve(data, url)
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert "error: unavailable: " in output
    assert "Traceback" not in output
    assert "127.0.0.1:5432" not in output and "postgres@" not in output  # the address stays private


@pytest.mark.spec("9.1-i")
def test_serve_starts_from_the_snapshot_and_full_check_runs_every_leaf_through_the_rules(tmp_path: Path) -> None:
    data = _init(tmp_path)
    opened = open_data_dir(data)
    with Store.open(opened.database_url({}), writable=True) as store:
        sequencer = Sequencer.open(store, opened.signer(), lambda: T0)
        snapshot_size = sequencer.write_snapshot()
    assert snapshot_size >= 1
    lines = {}
    for name, extra in (("snapshot", ()), ("full", ("--full-check",))):
        folder = tmp_path / name
        folder.mkdir()
        server = Server.serve(data, extra=extra, out=folder / "out", err=folder / "err").start()
        lines[name] = [line for line in server.stop().splitlines() if "serving the log" in line]
    assert len(lines["snapshot"]) == 1 and f"run from leaf {snapshot_size} at start" in lines["snapshot"][0]
    assert len(lines["full"]) == 1 and "run from leaf 0 at start" in lines["full"][0]
