"""An end-to-end scenario through the `registry` command line on a local log (protocol §7, §9.5).

Founders start a log; members join with a sponsor, are vouched for, and become verified; a fraud
revocation cascades; a pre-signed revocation certificate is submitted by a friend; a member rotates
their key; the council revokes and, on appeal, reinstates. Every statement is made, co-signed and
submitted as a file, exactly as members would do it, and every status is read back with
`registry status --json`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from registry.cli import cli, load_commands

ORIGIN = "registry.example/log"


class Registry:
    """Drives the command line in one temporary folder, like a group of members sharing files."""

    def __init__(self, root: Path) -> None:
        load_commands()
        self.root = root
        self.data = root / "log"
        self.ids: dict[str, str] = {}
        self._files = 0

    def run(self, *args: object) -> Result:
        env: dict[str, str | None] = {"REGISTRY_ORIGIN": ORIGIN, "REGISTRY_PASSPHRASE": None}
        return CliRunner().invoke(cli, [str(a) for a in args], env=env)

    def ok(self, *args: object) -> str:
        result = self.run(*args)
        assert result.exit_code == 0, f"registry {' '.join(map(str, args))}: {result.stderr}"
        return result.stdout

    def key(self, name: str) -> Path:
        return self.root / f"{name}.key"

    def keygen(self, name: str) -> str:
        self.ids[name] = self.ok("keygen", "--out", self.key(name)).splitlines()[-1]
        return self.ids[name]

    def file(self, label: str) -> Path:
        self._files += 1
        return self.root / f"{self._files:03d}-{label}.json"

    def submit(self, path: Path) -> int:
        return int(self.ok("submit", path, "--data", self.data).splitlines()[-1])

    def refused(self, path: Path) -> str:
        """Submit a statement that must be refused; return the error code."""
        result = self.run("submit", path, "--data", self.data)
        assert result.exit_code == 1, result.stdout
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("error: "), line
        return line.split(": ")[1]

    def status(self, name: str) -> dict[str, object]:
        document: dict[str, object] = json.loads(self.ok("status", self.ids[name], "--data", self.data, "--json"))
        return document

    def join(self, name: str, sponsor: str) -> int:
        """`name` declares with `sponsor`, who co-signs; the declaration is submitted."""
        path = self.file(f"declare-{name}")
        args = ["declare", "--key", self.key(name), "--declaration", "ru", "--sponsor", self.ids[sponsor]]
        self.ok(*args, "--out", path)
        self.ok("sponsor", path, "--key", self.key(sponsor))
        return self.submit(path)

    def vouch(self, voucher: str, subject: str, *extra: object, voucher_key: str | None = None) -> Path:
        path = self.file(f"vouch-{voucher}-{subject}")
        key = self.key(voucher_key or voucher)
        self.ok("vouch", "--key", key, "--member", self.ids[subject], "--out", path, *extra)
        return path


@pytest.mark.spec("9.5-a", "9.5-c", "9.5-j")
def test_members_join_vouch_are_revoked_rotate_and_appeal(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    for name in ("f1", "f2", "f3", "c1", "c2", "c3", "alice", "mallory", "bob", "alice2"):
        reg.keygen(name)
    reg.ids["carol"] = reg.ok("keygen", "--out", reg.key("carol"), "--origin", ORIGIN).splitlines()[-1]

    # Genesis: three founders, a council of three with threshold 2; vouchers need no waiting period.
    policy = reg.file("policy")
    args: list[object] = ["policy", "new", "--threshold", 2, "--set", "voucher_min_age_days=0", "--out", policy]
    for founder in ("f1", "f2", "f3"):
        args += ["--founder", reg.ids[founder]]
    for member in ("c1", "c2", "c3"):
        args += ["--council", reg.ids[member]]
    reg.ok(*args)
    reg.ok("policy", "sign", policy, "--key", reg.key("c1"))
    reg.ok("policy", "sign", policy, "--key", reg.key("c3"))
    vkey = reg.ok("init", reg.data, "--policy", policy, "--origin", ORIGIN).splitlines()[-1]
    assert vkey.startswith(ORIGIN + "+")
    assert reg.status("f1")["status"] == "verified"

    # A sponsored join: alice is pending with the sponsor's vouch, then verified by a second vouch.
    assert reg.join("alice", "f1") == 2  # after the genesis and its state leaf
    assert (reg.status("alice")["status"], reg.status("alice")["valid_vouches"]) == ("pending", 1)
    half = reg.vouch("f2", "alice")
    assert reg.refused(half) == "insufficient_signatures"  # the subject has not accepted it yet
    reg.ok("accept", half, "--key", reg.key("alice"))
    reg.submit(half)
    assert (reg.status("alice")["status"], reg.status("alice")["valid_vouches"]) == ("verified", 2)

    # Mallory joins and is verified; bob is verified only thanks to mallory and f3.
    reg.join("mallory", "f1")
    vouch = reg.vouch("f2", "mallory")
    reg.ok("accept", vouch, "--key", reg.key("mallory"))
    reg.submit(vouch)
    assert reg.status("mallory")["status"] == "verified"
    reg.join("bob", "mallory")
    vouch = reg.vouch("f3", "bob")
    reg.ok("accept", vouch, "--key", reg.key("bob"))
    reg.submit(vouch)
    assert reg.status("bob")["status"] == "verified"

    # The council revokes mallory for fraud: her vouches are voided and bob drops back to pending.
    evidence = tmp_path / "evidence.txt"
    evidence.write_text("two declarations with the same passport\n", encoding="utf-8")
    fraud = reg.file("council-revoke")
    args = ["council", "revoke", "--member", reg.ids["mallory"], "--reason", "fraud", "--evidence", evidence]
    reg.ok(*args, "--out", fraud)
    reg.ok("council", "sign", fraud, "--key", reg.key("c1"))
    assert reg.refused(fraud) == "insufficient_signatures"  # 1 of the 2 council signatures
    reg.ok("council", "sign", fraud, "--key", reg.key("c2"))
    reg.submit(fraud)
    mallory = reg.status("mallory")
    assert (mallory["status"], mallory["revocation_reason"]) == ("revoked", "fraud")
    assert (reg.status("bob")["status"], reg.status("bob")["valid_vouches"]) == ("pending", 1)
    assert reg.status("f1")["strikes"] == 1 and reg.status("f2")["strikes"] == 1

    # On appeal the council reinstates mallory: her vouch for bob counts again and strikes are lifted.
    appeal = reg.file("council-reinstate")
    reg.ok("council", "reinstate", "--member", reg.ids["mallory"], "--out", appeal)
    reg.ok("council", "sign", appeal, "--key", reg.key("c2"))
    reg.ok("council", "sign", appeal, "--key", reg.key("c3"))
    reg.submit(appeal)
    assert reg.status("mallory")["status"] == "verified"
    assert (reg.status("bob")["status"], reg.status("bob")["valid_vouches"]) == ("verified", 2)
    assert reg.status("f1")["strikes"] == 0

    # Carol joins; later a friend submits her pre-signed revocation certificate from their own copy.
    reg.join("carol", "f3")
    assert reg.status("carol")["status"] == "pending"
    friend = tmp_path / "friend"
    friend.mkdir()
    certificate = friend / "carol.revocation"
    shutil.copyfile(reg.key("carol").with_name("carol.key.revocation"), certificate)
    reg.submit(certificate)
    carol = reg.status("carol")
    assert (carol["status"], carol["revocation_reason"]) == ("revoked", "key_compromised")
    assert reg.refused(certificate) == "duplicate_entry"

    # Alice rotates to a new key; the old key can sign nothing afterwards.
    rotation = reg.file("rotate")
    reg.ok("rotate", "--key", reg.key("alice"), "--new-key", reg.key("alice2"), "--out", rotation)
    reg.submit(rotation)
    alice = reg.status("alice")
    assert (alice["status"], alice["key"], alice["member"]) == ("verified", reg.ids["alice2"], reg.ids["alice"])
    old_key_vouch = reg.vouch("alice", "bob")
    reg.ok("accept", old_key_vouch, "--key", reg.key("bob"))
    assert reg.refused(old_key_vouch) == "key_retired"
    # With the new key, acting as her member id, alice can still vouch.
    new_key_vouch = reg.vouch("alice", "bob", "--as", reg.ids["alice"], voucher_key="alice2")
    reg.ok("accept", new_key_vouch, "--key", reg.key("bob"))
    reg.submit(new_key_vouch)
    assert reg.status("bob")["valid_vouches"] == 3
    # Her old revocation certificate no longer works; a new one made with the new key does.
    renewed = reg.file("revocation-alice")
    reg.ok("revocation", "--key", reg.key("alice2"), "--member", reg.ids["alice"], "--out", renewed)
    reg.submit(renewed)
    assert reg.status("alice")["status"] == "revoked"

    # The council revokes bob for a declaration breach, then reinstates him.
    breach = reg.file("council-revoke-bob")
    args = ["council", "revoke", "--member", reg.ids["bob"], "--reason", "declaration_breach"]
    reg.ok(*args, "--evidence", evidence, "--out", breach)
    for member in ("c1", "c3"):
        reg.ok("council", "sign", breach, "--key", reg.key(member))
    reg.submit(breach)
    assert reg.status("bob")["status"] == "revoked"
    back = reg.file("council-reinstate-bob")
    reg.ok("council", "reinstate", "--member", reg.ids["bob"], "--evidence", evidence, "--out", back)
    for member in ("c1", "c2"):
        reg.ok("council", "sign", back, "--key", reg.key(member))
    reg.submit(back)
    assert reg.status("bob")["status"] == "verified"


def test_a_log_started_with_real_registry_processes(tmp_path: Path) -> None:
    """The same first steps through the installed console script, one process per command."""
    script = Path(sys.executable).with_name("registry")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "registry"]
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_PASSPHRASE"}
    env["REGISTRY_ORIGIN"] = ORIGIN

    def registry(*args: object) -> str:
        done = subprocess.run(
            [*command, *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, f"registry {' '.join(map(str, args))}: {done.stderr}"
        return done.stdout

    founder = registry("keygen", "--out", tmp_path / "founder.key").splitlines()[-1]
    council = registry("keygen", "--out", tmp_path / "council.key").splitlines()[-1]
    policy = tmp_path / "policy.json"
    registry("policy", "new", "--founder", founder, "--council", council, "--threshold", 1, "--out", policy)
    registry("policy", "sign", policy, "--key", tmp_path / "council.key")
    registry("init", tmp_path / "log", "--policy", policy, "--origin", ORIGIN)
    # The founder's pre-signed revocation certificate, submitted as it was written by keygen.
    index = registry("submit", tmp_path / "founder.key.revocation", "--data", tmp_path / "log").splitlines()[-1]
    assert index == "2"  # after the genesis and its state leaf
    status = json.loads(registry("status", founder, "--data", tmp_path / "log", "--json"))
    assert (status["status"], status["revocation_reason"]) == ("revoked", "key_compromised")
