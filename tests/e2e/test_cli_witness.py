"""`registry witness init|show|serve`, `registry log add-witness|set-quorum|witnesses|remove-witness` and
`registry evidence check` (protocol §6.2-b, §6.3-a, §6.3-e, §6.4-d). click's CliRunner for speed; the
witness server itself runs as a real subprocess in tests/integration/test_witness_http.py."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crypto.keys import SigningKey
from crypto.notekey import SIG_TYPE_COSIGNATURE, NoteSigner, parse_vkey
from registry.cli import cli, cmd_witness
from registry.cli import cmd_evidence as _cmd_evidence  # noqa: F401 - registers the commands on `cli`
from registry.cli import cmd_log_witnesses as _cmd_log_witnesses  # noqa: F401
from registry.datadir import create_data_dir
from registry.evidence import build_evidence, consistency_path, format_evidence
from registry.trust import parse_trust_policy
from registry.witness.config import WITNESSES_FILE
from registry.witness.directory import WITNESS_KEY_FILE
from tests.witnessing import LOG_KEY, LOG_VKEY, ORIGIN, ToyLog, witness_vkey

ROOT = Path(__file__).resolve().parents[2]


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env={"DATABASE_URL": None})


def error_code(result: Result) -> str:
    return result.stderr.strip().splitlines()[-1].split(": ")[1]


@pytest.mark.spec("6.2-b")
def test_witness_init_makes_a_private_key_and_prints_its_vkey_last(tmp_path: Path) -> None:
    directory = tmp_path / "w"
    result = run("witness", "init", directory, "--name", "witness.example.org")
    assert result.exit_code == 0, result.stderr
    verifier = parse_vkey(result.stdout.splitlines()[-1])
    assert verifier.sig_type == SIG_TYPE_COSIGNATURE and verifier.name == "witness.example.org"
    assert stat.S_IMODE((directory / WITNESS_KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    show = run("witness", "show", directory, "--json")
    assert json.loads(show.stdout) == {"logs": [], "name": "witness.example.org",
                                       "vkey": result.stdout.splitlines()[-1]}


@pytest.mark.spec("6.2-b")
def test_witness_init_refuses_a_used_directory_or_a_bad_name(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    result = run("witness", "init", tmp_path / "used", "--name", "w.example")
    assert result.exit_code == 1 and error_code(result) == "unavailable"
    result = run("witness", "init", tmp_path / "new", "--name", "bad name")
    assert result.exit_code == 1 and error_code(result) == "bad_key"
    assert not (tmp_path / "new").exists()


@pytest.mark.spec("6.2-b")
def test_witness_serve_refuses_a_witness_key_as_log_key(tmp_path: Path) -> None:
    run("witness", "init", tmp_path / "w", "--name", "w.example")
    result = run("witness", "serve", tmp_path / "w", "--log", witness_vkey(1))
    assert result.exit_code == 2
    result = run("witness", "serve", tmp_path / "elsewhere", "--log", LOG_VKEY)
    assert result.exit_code == 1 and error_code(result) == "not_found"


def test_cli_and_api_agree_on_the_environment_names() -> None:
    import api.witness

    assert cmd_witness.WITNESS_DIR_ENV == api.witness.WITNESS_DIR_ENV
    assert cmd_witness.LOGS_ENV == api.witness.LOGS_ENV
    assert cmd_witness.APP_FACTORY == "api.witness:app_from_env"


def test_witness_init_runs_as_the_installed_command(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "registry", "witness", "init", str(tmp_path / "w"), "--name",
                             "w.example"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert parse_vkey(result.stdout.splitlines()[-1]).name == "w.example"


@pytest.mark.spec("6.3-a", "6.3-e")
def test_operator_configures_witnesses_and_quorum(tmp_path: Path) -> None:
    data = tmp_path / "log"
    create_data_dir(data, ORIGIN, None, LOG_KEY)
    for n in (1, 2, 3):
        result = run("log", "add-witness", "--data", data, "--vkey", witness_vkey(n), "--url",
                     f"http://127.0.0.1:{8100 + n}")
        assert result.exit_code == 0, result.stderr
    assert run("log", "set-quorum", "--data", data, "2").exit_code == 0
    listed = json.loads(run("log", "witnesses", "--data", data, "--json").stdout)
    assert listed["quorum"] == 2 and [w["vkey"] for w in listed["witnesses"]] == [witness_vkey(n) for n in (1, 2, 3)]
    policy = parse_trust_policy(run("log", "witnesses", "--data", data, "--policy").stdout)
    assert (policy.origin, policy.quorum, len(policy.witnesses)) == (ORIGIN, 2, 3)
    result = run("log", "set-quorum", "--data", data, "4")
    assert result.exit_code == 1 and error_code(result) == "bad_key"
    result = run("log", "add-witness", "--data", data, "--vkey", LOG_VKEY, "--url", "http://x")
    assert result.exit_code == 1 and error_code(result) == "bad_key"
    result = run("log", "add-witness", "--data", data, "--vkey", witness_vkey(1), "--url", "http://y")
    assert result.exit_code == 1 and error_code(result) == "bad_key"
    assert run("log", "remove-witness", "--data", data, "--vkey", "witness2.registry.example").exit_code == 0
    result = run("log", "remove-witness", "--data", data, "--vkey", witness_vkey(3))
    assert result.exit_code == 1 and error_code(result) == "bad_key"  # quorum 2 would exceed 1 witness
    text = run("log", "witnesses", "--data", data).stdout.splitlines()
    assert text[-1] == "quorum 2 of 2" and len(text) == 3
    assert stat.S_IMODE((data / WITNESSES_FILE).stat().st_mode) == 0o600


@pytest.mark.spec("6.3-a")
def test_operator_commands_need_a_data_directory(tmp_path: Path) -> None:
    result = run("log", "witnesses", "--data", tmp_path)
    assert result.exit_code == 1 and error_code(result) == "not_found"
    result = run("log", "set-quorum", "--data", tmp_path, "-1")
    assert result.exit_code == 2


def _fork_file(tmp_path: Path, holds: bool = True) -> Path:
    honest = ToyLog().append(10)
    fork = ToyLog().append(7).append(13, tag=b"fork ")
    newer = fork if holds else honest.copy().append(10)
    path = consistency_path(10, newer.proof(10, 20), newer.root(10))
    evidence = build_evidence(LOG_VKEY, honest.checkpoint(), newer.checkpoint(), path)
    file = tmp_path / ("fork.json" if holds else "consistent.json")
    file.write_bytes(format_evidence(evidence))
    return file


@pytest.mark.spec("6.4-d")
def test_evidence_check_exits_0_when_the_evidence_holds(tmp_path: Path) -> None:
    result = run("evidence", "check", _fork_file(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "evidence holds: the log signed inconsistent checkpoints"
    assert run("evidence", "check", _fork_file(tmp_path), "--log-key", LOG_VKEY).exit_code == 0


@pytest.mark.spec("6.4-d")
def test_evidence_check_exits_1_when_it_proves_nothing(tmp_path: Path) -> None:
    result = run("evidence", "check", _fork_file(tmp_path, holds=False))
    assert result.exit_code == 1 and error_code(result) == "bad_proof"
    other = NoteSigner("x.example", SigningKey.from_seed(b"\x01" * 32)).vkey
    result = run("evidence", "check", _fork_file(tmp_path), "--log-key", other)
    assert result.exit_code == 1 and error_code(result) == "bad_key"
    (tmp_path / "junk.json").write_text("{}")
    result = run("evidence", "check", tmp_path / "junk.json")
    assert result.exit_code == 1 and error_code(result) == "malformed_encoding"
    result = run("evidence", "check", tmp_path / "missing.json")
    assert result.exit_code == 1 and error_code(result) == "not_found"


@pytest.mark.spec("6.5-a")
def test_mirror_command_needs_a_log_key_first_and_names_its_app() -> None:
    import api.mirror
    from registry.cli import cmd_mirror

    assert cmd_mirror.MIRROR_DIR_ENV == api.mirror.MIRROR_DIR_ENV
    assert cmd_mirror.APP_FACTORY == "api.mirror:app_from_env"


@pytest.mark.spec("6.5-a")
def test_mirror_command_usage_errors(tmp_path: Path) -> None:
    from registry.cli import cmd_mirror as _cmd_mirror  # noqa: F401 - registers the commands

    result = run("mirror", "--server", "http://127.0.0.1:9", tmp_path / "m")
    assert result.exit_code == 2  # the first run needs --log-key
    result = run("mirror", "--server", "http://127.0.0.1:9", tmp_path / "m", "--log-key", LOG_VKEY)
    assert result.exit_code == 3  # nothing listens there
    result = run("serve-mirror", tmp_path)
    assert result.exit_code == 2  # not a mirror directory
