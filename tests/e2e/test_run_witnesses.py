"""`scripts/run-witnesses`: local witnesses for the registry ./scripts/run serves, configured with a quorum
(protocol §6.3), then the server answering with cosigned checkpoints. Real processes on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from crypto.cosignature import verify_cosignatures
from crypto.note import parse_note
from crypto.notekey import parse_vkey
from registry.client import RegistryClient
from registry.statements import format_entry
from registry.witness.config import load_witness_config
from tests.e2e.test_cli_server import serve
from tests.factory import key
from tests.integration.serverlog import append, bulk_log, declarations, make_data_dir
from tests.servers import free_ports

ROOT = Path(__file__).resolve().parents[2]


def run_witnesses(data: Path, base: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REGISTRY_DATA": str(data), "REGISTRY_WITNESS_PORT": str(base)}
    env.pop("DATABASE_URL", None)
    return subprocess.Popen([str(ROOT / "scripts" / "run-witnesses")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_up(urls: list[str], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"scripts/run-witnesses exited:\n{out}")
        try:
            if httpx.get(f"{pending[0]}/healthz", timeout=1).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    assert not pending, f"witnesses not up: {pending}"


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)  # our own process group: the script and its witnesses
    process.wait(timeout=20)
    if process.stdout is not None:
        process.stdout.close()


@pytest.mark.spec("6.3-a", "6.3-b")
def test_run_witnesses_configures_the_log_and_the_server_publishes_cosigned_checkpoints(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "registry").exists():
        pytest.skip("scripts/run-witnesses needs the checkout's .venv")
    log = bulk_log()
    vkey = make_data_dir(tmp_path / "log", log)
    append(tmp_path / "log", declarations(log, 1000, 5))
    base = free_ports(3)
    urls = [f"http://127.0.0.1:{base + i}" for i in range(3)]
    process = run_witnesses(tmp_path / "log", base)
    try:
        wait_up(urls, process)
        config = load_witness_config(tmp_path / "log")
        assert config.quorum == 2 and [w.url for w in config.witnesses] == urls
        server = serve(tmp_path / "log", tmp_path / "server.log")
        try:
            with RegistryClient(server.url, timeout_s=30, log_verifier=parse_vkey(vkey)) as client:
                receipt = client.submit(format_entry(bulk_log().declare(key(5000), None)))
        finally:
            server.stop()
        cosigned = verify_cosignatures(parse_note(receipt.checkpoint), [w.verifier for w in config.witnesses], 2)
        assert len(cosigned) >= 2
    finally:
        stop(process)
    listed = json.loads((tmp_path / "log" / "witnesses.json").read_text())
    assert len(listed["witnesses"]) == 3
