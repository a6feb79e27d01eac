"""End to end: a member is verified, fetches a credential from a real server, presents it, and a
verifier with no network accepts it; the member is revoked, the next credential says so and is
refused, and the old one expires by age (protocol §5.8, §8.1, §9.7).

The server is `registry serve` as a subprocess; the verifier is `registry verify` as a subprocess
whose `socket` module refuses every connection (a `sitecustomize` on its PYTHONPATH), so a verifier
that touched the network would fail instead of passing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from crypto.keyfile import write_key_file
from crypto.notekey import NoteSigner
from registry.credential import parse_credential, parse_credential_text
from registry.statements import Reason, format_entry
from registry.trust import parse_trust_policy
from tests.e2e.test_cli_server import ENV, ROOT, registry, serve
from tests.factory import ORIGIN, Log, key, mid
from tests.integration.serverlog import make_data_dir

HOUR_MS = 3_600_000
OFFLINE = '''
import socket

class _NoNetwork(socket.socket):
    def __init__(self, *args, **kwargs):
        raise OSError("this process may not open network connections")

def _refuse(*args, **kwargs):
    raise OSError("this process may not open network connections")

socket.socket = _NoNetwork
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
'''


def offline_registry(sitedir: Path, *args: object) -> subprocess.CompletedProcess[str]:
    """`registry ARGS` in a process that cannot open a network connection."""
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(sitedir), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "registry", *map(str, args)], check=False, capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)  # fmt: skip


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.mark.spec("8.1-j", "8.1-k", "9.7-i", "9.7-j", "9.7-k", "5.8-i")
def test_a_member_is_verified_presents_a_credential_offline_and_loses_it_when_revoked(tmp_path: Path) -> None:
    sitedir = tmp_path / "site"
    sitedir.mkdir()
    (sitedir / "sitecustomize.py").write_text(OFFLINE, encoding="utf-8")
    probe = offline_registry(sitedir, "challenge")
    assert probe.returncode == 0, probe.stderr  # the guard lets an offline command run ...
    guard = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9))"],
                           check=False, capture_output=True, text=True,
                           env={**ENV, "PYTHONPATH": str(sitedir)})  # fmt: skip
    assert guard.returncode != 0 and "may not open network" in guard.stderr  # ... and refuses a connection

    # The member commits to its identity, declares with a sponsor and is vouched for: verified.
    log = Log.standard()
    vkey = make_data_dir(tmp_path / "log", log)
    member_key = tmp_path / "alice.key"
    write_key_file(member_key, key(11))
    identity = tmp_path / "alice.identity"
    committed = registry("identity", "commit", "--out", identity, "--family-name", "Смирнова", "--given-names",
                         "Анна", "--birth-date", "1991-03-05", "--document-number", "76 5432101",
                         "--issuing-state", "RUS", check=0)  # fmt: skip
    commitment = bytes.fromhex(committed.stdout.strip().splitlines()[-1])
    declare = tmp_path / "declare.json"
    declare.write_bytes(format_entry(log.declare(key(11), key(1), commitment=commitment)))
    log.submit(log.declare(key(11), key(1), commitment=commitment))
    vouch = tmp_path / "vouch.json"
    vouch.write_bytes(format_entry(log.vouch(key(2), key(11))))
    server = serve(tmp_path / "log", tmp_path / "server.log")
    try:
        url = server.url
        registry("submit", declare, "--server", url, "--log-key", vkey, check=0)
        registry("submit", vouch, "--server", url, "--log-key", vkey, check=0)

        # The verifier takes the policy the registry publishes (and would compare its key out of band).
        policy = tmp_path / "policy"
        registry("trust", "--server", url, "--out", policy, check=0)
        published = parse_trust_policy(policy.read_bytes())
        assert published.log.vkey == vkey and published.origin == ORIGIN
        assert httpx.get(f"{url}/v1/trust").json()["policy"] == policy.read_text()

        # The member fetches a credential (checked against the policy) and its QR code.
        credential = tmp_path / "alice.credential"
        qr = ["--qr", tmp_path / "alice.png"] if importlib.util.find_spec("segno") else []
        fetched = registry("credential", "--key", member_key, "--server", url, "--out", credential, *qr,
                           "--trust", policy, check=0)  # fmt: skip
        assert "status verified" in fetched.stderr
        cred = parse_credential_text(credential.read_bytes())
        assert cred.member_id == mid(key(11)) and cred.leaf.commitment == commitment
        assert not qr or (tmp_path / "alice.png").stat().st_size > 0
        binary = tmp_path / "alice.bin"
        registry("credential", "--key", member_key, "--server", url, "--out", binary, "--binary", check=0)
        assert parse_credential(binary.read_bytes()).member_id == cred.member_id
        unknown = httpx.get(f"{url}/v1/credential/{key(77).public_key.hex()}")
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_member"
        assert httpx.get(f"{url}/v1/credential/xyz").json()["code"] == "malformed_encoding"
        # Checked against a policy naming another log key: refused, nothing written.
        other = tmp_path / "other.policy"
        registry("trust", "--origin", ORIGIN, "--log-key", NoteSigner(ORIGIN, key(999)).vkey, "--out", other, check=0)
        refused_fetch = registry("credential", "--key", member_key, "--server", url, "--out", tmp_path / "x",
                                 "--trust", other, check=1)  # fmt: skip
        assert "step 1 (log signature)" in refused_fetch.stderr and not (tmp_path / "x").exists()

        # The verifier shows a challenge; the member presents the credential with its family name.
        nonce = offline_registry(sitedir, "challenge").stdout.strip()
        shown = tmp_path / "shown.json"
        registry("identity", "show", identity, "--attributes", "family_name", "--out", shown, check=0)
        presentation = tmp_path / "alice.presentation"
        registry("present", credential, "--key", member_key, "--challenge", nonce, "--disclose", shown,
                 "--out", presentation, check=0)  # fmt: skip
        verdict = offline_registry(sitedir, "verify", presentation, "--trust", policy, "--challenge", nonce,
                                   "--require", "family_name", "--json")  # fmt: skip
        assert verdict.returncode == 0, verdict.stdout + verdict.stderr
        body = json.loads(verdict.stdout)
        assert body["valid"] is True and body["status"] == "verified"
        assert body["attributes"] == {"family_name": "SMIRNOVA"} and body["freshness_from"] == "state_leaf"
        assert body["member"] == mid(key(11)).hex()

        # The member revokes itself; the next credential says so and is refused at step 6.
        revoke = tmp_path / "revoke.json"
        revoke.write_bytes(format_entry(log.revoke_self(key(11), Reason.WITHDRAWN)))
        registry("submit", revoke, "--server", url, check=0)
        later = tmp_path / "alice.credential.2"
        again = registry("credential", "--key", member_key, "--server", url, "--out", later, check=0)
        assert "status revoked" in again.stderr and "verifiers will refuse it" in again.stderr
        presented = tmp_path / "alice.presentation.2"
        registry("present", later, "--key", member_key, "--challenge", nonce, "--out", presented, check=0)
        refused = offline_registry(sitedir, "verify", presented, "--trust", policy, "--challenge", nonce)
        assert refused.returncode == 1
        assert "step 6 (status)" in refused.stderr and "not_verified" in refused.stderr
    finally:
        server.stop()

    # The old presentation still verifies within the maximum age, and fails once it has passed.
    aged = offline_registry(sitedir, "verify", presentation, "--trust", policy, "--challenge", nonce,
                            "--at", now_ms() + 73 * HOUR_MS)  # fmt: skip
    assert aged.returncode == 1 and "step 4 (freshness)" in aged.stderr and "stale_credential" in aged.stderr
    short = offline_registry(sitedir, "verify", presentation, "--trust", policy, "--challenge", nonce,
                             "--max-age", "1ms", "--at", now_ms() + 1000)  # fmt: skip
    assert short.returncode == 1 and "stale_credential" in short.stderr
