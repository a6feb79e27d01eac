"""The credential commands: identity commit/show/check, trust, challenge, present, verify (protocol §9.7,
§8.1). Driven in process with click's CliRunner; credentials are built from a test log (tests/credfactory)."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crypto.keyfile import write_key_file
from crypto.notekey import format_vkey
from registry.cli import cli, load_commands
from registry.cli.cmd_credential import base45_encode, write_qr
from registry.credential import format_credential_binary, format_credential_text
from registry.identity import parse_identity
from registry.statements import Reason
from registry.trust import parse_trust_policy
from tests.credfactory import issue, log_signer, witness_verifier
from tests.factory import ORIGIN, Log, key, mid

load_commands()
HOUR = 3_600_000
ATTRS = ["--family-name", "Сидоров", "--given-names", "Иван", "--birth-date", "1979-04-30",
         "--document-number", "71 0000001", "--issuing-state", "RUS"]  # fmt: skip


def run(*args: object, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def _commit(tmp_path: Path) -> tuple[Path, bytes]:
    out = tmp_path / "me.identity"
    result = run("identity", "commit", "--out", out, *ATTRS)
    assert result.exit_code == 0, result.output
    return out, bytes.fromhex(result.stdout.strip().splitlines()[-1])


@pytest.mark.spec("9.7-f", "4.3-d")
def test_identity_commit_writes_a_private_file_and_prints_the_commitment(tmp_path: Path) -> None:
    out, commitment = _commit(tmp_path)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    made = parse_identity(out.read_bytes())
    assert made.commitment == commitment
    assert made.value("family_name") == "SIDOROV" and made.value("document_number") == "710000001"
    again = run("identity", "commit", "--out", out, *ATTRS)
    assert again.exit_code == 2  # never overwritten without --force
    assert run("identity", "commit", "--out", out, "--force", *ATTRS).exit_code == 0
    assert parse_identity(out.read_bytes()).commitment != commitment  # fresh salts


@pytest.mark.spec("9.7-f")
def test_identity_commit_does_not_prompt_without_a_terminal(tmp_path: Path) -> None:
    result = run("identity", "commit", "--out", tmp_path / "x", "--family-name", "A", input="B\n")
    assert result.exit_code == 2
    assert "--given-names" in result.output and "--birth-date" in result.output
    assert not (tmp_path / "x").exists()
    bad = run("identity", "commit", "--out", tmp_path / "y", *ATTRS[:4], "--birth-date", "1979-02-30", *ATTRS[6:])
    assert bad.exit_code == 1 and "malformed_encoding" in bad.output


@pytest.mark.spec("9.7-g", "4.3-e", "4.3-f")
def test_identity_show_and_check(tmp_path: Path) -> None:
    out, commitment = _commit(tmp_path)
    shown = tmp_path / "shown.json"
    result = run("identity", "show", out, "--attributes", "family_name,birth_date", "--out", shown)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(shown.stat().st_mode) == 0o600
    assert b"710000001" not in shown.read_bytes()
    check = run("identity", "check", shown, "--commitment", commitment.hex())
    assert check.exit_code == 0
    assert "family_name: SIDOROV" in check.stdout and "birth_date: 1979-04-30" in check.stdout
    as_json = json.loads(run("identity", "check", shown, "--commitment", commitment.hex(), "--json").stdout)
    assert as_json["match"] is True and as_json["attributes"]["family_name"] == "SIDOROV"
    wrong = run("identity", "check", shown, "--commitment", "00" * 32)
    assert wrong.exit_code == 1 and "attribute_mismatch" in wrong.output
    assert run("identity", "show", out, "--attributes", "nationality", "--out", tmp_path / "z").exit_code == 2


def _write_key(tmp_path: Path, n: int) -> Path:
    path = tmp_path / f"key{n}"
    write_key_file(path, key(n))
    return path


def _policy(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "policy"
    args = ["trust", "--origin", ORIGIN, "--log-key", log_signer().vkey, "--out", out]
    for n in (1, 2, 3):
        args += ["--witness", format_vkey(witness_verifier(n))]
    result = run(*args, "--quorum", "2", *extra)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.spec("9.7-a", "9.7-b")
def test_trust_writes_a_policy_and_refuses_bad_keys(tmp_path: Path) -> None:
    out = _policy(tmp_path, "--max-age", "24h")
    parsed = parse_trust_policy(out.read_bytes())
    assert parsed.quorum == 2 and parsed.max_age_ms == 24 * HOUR and len(parsed.witnesses) == 3
    bad = run("trust", "--origin", ORIGIN, "--log-key", format_vkey(witness_verifier(1)), "--out", tmp_path / "p2")
    assert bad.exit_code == 1 and "bad_key" in bad.output
    other = run("trust", "--origin", "x.example/log", "--log-key", log_signer().vkey, "--out", tmp_path / "p3")
    assert other.exit_code == 1


@pytest.mark.spec("9.7-e")
def test_challenge_prints_16_fresh_random_bytes() -> None:
    a, b = run("challenge").stdout.strip(), run("challenge").stdout.strip()
    assert len(a) == 32 and a != b and bytes.fromhex(a)


def _credential(tmp_path: Path, log: Log, witnesses: int = 3) -> Path:
    cred = issue(log, mid(key(11)), witnesses=witnesses).credential
    path = tmp_path / "member.credential"
    path.write_bytes(format_credential_text(cred))
    return path


def _member_log(commitment: bytes | None = None) -> Log:
    log = Log.standard()
    log.submit(log.declare(key(11), key(1), commitment=commitment))
    log.submit(log.vouch(key(2), key(11)))  # index 3: a state leaf at 2 closes the genesis batch
    return log


@pytest.mark.spec("8.1-j", "8.1-k", "9.7-h", "9.7-e")
def test_present_and_verify_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    identity, commitment = _commit(tmp_path)
    log = _member_log(commitment)
    cred = _credential(tmp_path, log)
    policy = _policy(tmp_path)
    shown = tmp_path / "shown.json"
    assert run("identity", "show", identity, "--attributes", "family_name", "--out", shown).exit_code == 0
    nonce = run("challenge").stdout.strip()
    pres = tmp_path / "presentation"
    result = run("present", cred, "--key", _write_key(tmp_path, 11), "--challenge", nonce, "--disclose", shown,
                 "--out", pres)  # fmt: skip
    assert result.exit_code == 0, result.output

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("registry verify opened a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    at = str(log.now_ms + HOUR)
    ok = run("verify", pres, "--trust", policy, "--challenge", nonce, "--at", at, "--require", "family_name")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("VALID")
    assert "family_name = SIDOROV" in ok.stdout and "status:     verified since log entry 3" in ok.stdout
    assert "cosigned by 3 witnesses, 2 required" in ok.stdout
    verdict = json.loads(run("verify", pres, "--trust", policy, "--challenge", nonce, "--at", at, "--json").stdout)
    assert verdict["valid"] is True and verdict["member"] == mid(key(11)).hex()
    assert verdict["attributes"] == {"family_name": "SIDOROV"} and verdict["challenge_checked"] is True
    unchecked = run("verify", pres, "--trust", policy, "--at", at)
    assert unchecked.exit_code == 0 and "NOT CHECKED" in unchecked.stdout
    wrong = run("verify", pres, "--trust", policy, "--challenge", "00" * 16, "--at", at)
    assert wrong.exit_code == 1
    assert "step 7 (holder signature)" in wrong.output and "wrong_challenge" in wrong.output
    stale = run("verify", pres, "--trust", policy, "--challenge", nonce, "--at", str(log.now_ms + 80 * HOUR), "--json")
    assert stale.exit_code == 1
    body = json.loads(stale.stdout)
    assert (body["valid"], body["step"], body["code"]) == (False, 4, "stale_credential")
    short = run("verify", pres, "--trust", policy, "--challenge", nonce, "--at", at, "--max-age", "30m")
    assert short.exit_code == 1 and "stale_credential" in short.output
    undisclosed = run("verify", pres, "--trust", policy, "--at", at, "--require", "birth_date")
    assert undisclosed.exit_code == 1 and "undisclosed_attribute" in undisclosed.output


@pytest.mark.spec("8.1-g", "8.1-j", "9.7-h")
def test_verify_refuses_a_revoked_member_and_a_malformed_presentation(tmp_path: Path) -> None:
    log = _member_log()
    log.submit(log.revoke_self(key(11), Reason.WITHDRAWN))
    cred = _credential(tmp_path, log, witnesses=0)
    policy = tmp_path / "policy"
    assert run("trust", "--origin", ORIGIN, "--log-key", log_signer().vkey, "--out", policy).exit_code == 0
    pres = tmp_path / "p"
    nonce = "ab" * 16
    assert run("present", cred, "--key", _write_key(tmp_path, 11), "--challenge", nonce, "--out", pres).exit_code == 0
    result = run("verify", pres, "--trust", policy, "--challenge", nonce, "--at", str(log.now_ms))
    assert result.exit_code == 1
    assert "step 6 (status)" in result.output and "not_verified" in result.output and "revoked" in result.output
    pres.write_bytes(pres.read_bytes() + b"\n")
    broken = run("verify", pres, "--trust", policy, "--json")
    assert broken.exit_code == 1 and json.loads(broken.stdout)["step"] == 0


@pytest.mark.spec("9.7-e")
def test_present_refuses_another_key_and_a_bad_challenge(tmp_path: Path) -> None:
    cred = _credential(tmp_path, _member_log())
    other = run("present", cred, "--key", _write_key(tmp_path, 12), "--challenge", "ab" * 16, "--out", tmp_path / "p")
    assert other.exit_code == 1 and "bad_key" in other.output
    short = run("present", cred, "--key", _write_key(tmp_path, 11), "--challenge", "ab", "--out", tmp_path / "p")
    assert short.exit_code == 2


@pytest.mark.spec("9.7-d")
def test_base45_and_the_qr_code_of_the_binary_form(tmp_path: Path) -> None:
    assert base45_encode(b"AB") == "BB8"  # RFC 9285 §4.1 examples
    assert base45_encode(b"Hello!!") == "%69 VD92EX0"
    assert base45_encode(b"base-45") == "UJCLQE7W581"
    cred = issue(_member_log(), mid(key(11)), witnesses=3).credential
    assert len(format_credential_binary(cred)) < 1000
    pytest.importorskip("segno")
    for name in ("qr.png", "qr.svg"):
        version = write_qr(cred, tmp_path / name)
        assert (tmp_path / name).stat().st_size > 0 and version.split("-")[1] in ("M", "L")
