"""`registry init`, `submit`, `status` and `export` on a local data directory (protocol §5.6, §5.7, §9).

One test runs the installed `registry` command as a subprocess; the others use click's CliRunner for
speed. Statements are made with the library (fixed keys), exactly as `registry policy`/`declare` write them.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crypto.notekey import parse_vkey
from registry.cli import cli
from registry.cli import cmd_log as _cmd_log  # noqa: F401 - registers the commands on `cli`
from registry.datadir import CONFIG_FILE, DB_FILE, LOG_KEY_FILE
from registry.export import read_export
from registry.replay import replay
from tests.integration.logdata import (
    ORIGIN,
    Community,
    declare_entry,
    genesis_entry,
    store_url_fixture,  # noqa: F401 - fixture
    vouch_entry,
)

Env = Mapping[str, str | None]
NO_DB_ENV: Env = {"DATABASE_URL": None}


def run(*args: object, env: Env = NO_DB_ENV) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=dict(env))


def ok(*args: object, env: Env = NO_DB_ENV) -> list[str]:
    result = run(*args, env=env)
    assert result.exit_code == 0, f"registry {' '.join(map(str, args))}: {result.stderr}"
    return result.stdout.splitlines()


def failed(*args: object, env: Env = NO_DB_ENV, code: int = 1) -> str:
    """Run a command that must fail with exit `code`; return the error code it printed."""
    result = run(*args, env=env)
    assert result.exit_code == code, result.stdout + result.stderr
    line = result.stderr.strip().splitlines()[-1]
    if code == 1:
        assert line.startswith("error: "), line
        return line.split(": ")[1]
    return line


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def community() -> Community:
    return Community.make()


@pytest.fixture
def policy(tmp_path: Path, community: Community) -> Path:
    return write(tmp_path / "policy.json", community.genesis())


def init(tmp_path: Path, policy: Path, *extra: object, env: Env = NO_DB_ENV) -> tuple[Path, str]:
    data = tmp_path / "log"
    lines = ok("init", data, "--policy", policy, "--origin", ORIGIN, *extra, env=env)
    return data, lines[-1]


def tree_size(data: Path, member: bytes, env: Env = NO_DB_ENV) -> int:
    document = json.loads(ok("status", member.hex(), "--data", data, "--json", env=env)[-1])
    return int(document["tree_size"])


# --- a real process ------------------------------------------------------------------------------------


@pytest.mark.spec("5.6-i", "5.7-d")
def test_init_submit_status_export_as_a_subprocess(tmp_path: Path, community: Community) -> None:
    exe = shutil.which("registry", path=str(Path(sys.executable).parent)) or "registry"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}

    def registry(*args: object) -> list[str]:
        done = subprocess.run([exe, *map(str, args)], check=False, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    policy = write(tmp_path / "policy.json", community.genesis())
    data = tmp_path / "log"
    vkey = registry("init", data, "--policy", policy, "--origin", ORIGIN)[-1]
    verifier = parse_vkey(vkey)
    assert verifier.name == ORIGIN
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / LOG_KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((data / CONFIG_FILE).stat().st_mode) == 0o600
    assert (data / DB_FILE).exists()

    member = Community.member(0)
    declared = write(tmp_path / "declare.json", declare_entry(member, community.founders[0]))
    assert registry("submit", declared, "--data", data)[-1] == "2"  # after the genesis and its state leaf
    status = json.loads(registry("status", member.public_key.hex(), "--data", data, "--json")[-1])
    assert status["member"] == member.public_key.hex()
    assert (status["status"], status["valid_vouches"], status["history"], status["tree_size"]) == ("pending", 1, [2], 4)

    out = tmp_path / "log.export"
    registry("export", "--data", data, "--out", out)
    export = read_export(out)
    assert (export.header.origin, export.header.log_vkey, export.header.tree_size) == (ORIGIN, vkey, 4)
    assert replay(export.leaves()).size == 4
    assert [size for size, _ in export.checkpoints()] == [2, 4]


# --- init -------------------------------------------------------------------------------------------------


def test_init_prints_the_log_vkey_last_and_keeps_the_key_in_the_directory(tmp_path: Path, policy: Path) -> None:
    data, vkey = init(tmp_path, policy)
    config = json.loads((data / CONFIG_FILE).read_text())
    assert config == {"database_url": None, "format": "antiwar-registry-data/v1", "log_vkey": vkey, "origin": ORIGIN}
    assert sorted(p.name for p in data.iterdir() if not p.name.startswith(f"{DB_FILE}-")) == sorted(
        [CONFIG_FILE, LOG_KEY_FILE, DB_FILE]
    )


@pytest.mark.spec("5.6-i")
def test_init_refuses_a_non_empty_directory(tmp_path: Path, policy: Path) -> None:
    data, _ = init(tmp_path, policy)
    before = sorted(p.name for p in data.iterdir())
    assert failed("init", data, "--policy", policy, "--origin", ORIGIN) == "unavailable"
    assert sorted(p.name for p in data.iterdir()) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    assert failed("init", other, "--policy", policy, "--origin", ORIGIN) == "unavailable"


@pytest.mark.spec("5.6-i")
def test_init_refuses_a_database_that_already_holds_a_log(tmp_path: Path, policy: Path) -> None:
    data, _ = init(tmp_path, policy)
    url = f"sqlite:///{data / DB_FILE}"
    second = tmp_path / "second"
    assert failed("init", second, "--policy", policy, "--origin", ORIGIN, "--database", url) == "unavailable"
    assert not second.exists()


def test_init_refuses_a_bad_policy_and_creates_nothing(tmp_path: Path, community: Community) -> None:
    data = tmp_path / "log"
    other = write(tmp_path / "other.json", community.genesis(origin="other.example/log"))
    assert failed("init", data, "--policy", other, "--origin", ORIGIN) == "wrong_origin"
    unsigned = genesis_entry(list(community.founders), list(community.council), threshold=1)[:-5]
    assert failed("init", data, "--policy", write(tmp_path / "cut.json", unsigned), "--origin", ORIGIN) in (
        "malformed_encoding",
        "malformed_entry",
    )
    assert failed("init", data, "--policy", tmp_path / "absent.json", "--origin", ORIGIN) == "not_found"
    assert not data.exists()
    assert run("init", data, "--policy", other).exit_code == 2  # no --origin: a usage error
    assert not data.exists()


# --- submit and status --------------------------------------------------------------------------------------


@pytest.mark.spec("5.6-d")
def test_submit_prints_the_index_or_the_rejection_with_nothing_appended(
    tmp_path: Path, policy: Path, community: Community
) -> None:
    data, _ = init(tmp_path, policy)
    member = Community.member(0)
    declared = write(tmp_path / "declare.json", declare_entry(member, community.founders[0]))
    assert ok("submit", declared, "--data", data)[-1] == "2"
    assert failed("submit", declared, "--data", data) == "duplicate_entry"
    assert failed("submit", write(tmp_path / "junk.json", b"{}"), "--data", data) == "malformed_entry"
    assert failed("submit", write(tmp_path / "junk2.json", b"not json"), "--data", data) == "malformed_encoding"
    self_vouch = write(tmp_path / "self.json", vouch_entry(member, member))
    assert failed("submit", self_vouch, "--data", data) == "self_vouch"
    assert tree_size(data, member.public_key) == 4
    vouched = write(tmp_path / "vouch.json", vouch_entry(community.founders[1], member))
    assert ok("submit", vouched, "--data", data)[-1] == "4"
    status = json.loads(ok("status", member.public_key.hex(), "--data", data, "--json")[-1])
    assert (status["status"], status["valid_vouches"], status["history"]) == ("verified", 2, [2, 4])


def test_status_text_and_errors(tmp_path: Path, policy: Path, community: Community) -> None:
    data, _ = init(tmp_path, policy)
    founder = community.founders[0].public_key.hex()
    text = "\n".join(ok("status", founder, "--data", data))
    assert "status:          verified" in text and "founder:         yes" in text
    assert failed("status", "ab" * 32, "--data", data) == "unknown_member"
    assert "64 lowercase hex" in failed("status", "xyz", "--data", data, code=2)
    assert "64 lowercase hex" in failed("status", founder.upper(), "--data", data, code=2)
    assert failed("status", founder, "--data", tmp_path / "nowhere") == "not_found"
    assert failed("submit", policy, "--data", tmp_path / "nowhere") == "not_found"


# --- which database ------------------------------------------------------------------------------------------


def test_database_url_from_the_environment_is_used_and_not_recorded(tmp_path: Path, policy: Path) -> None:
    elsewhere = tmp_path / "elsewhere.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{elsewhere}"}
    data, _ = init(tmp_path, policy, env=env)
    assert elsewhere.exists() and not (data / DB_FILE).exists()
    assert json.loads((data / CONFIG_FILE).read_text())["database_url"] is None
    founder = Community.make().founders[0].public_key
    assert tree_size(data, founder, env=env) == 2
    # Without the variable the default file is used; it does not exist, and it is not created.
    assert failed("status", founder.hex(), "--data", data) == "not_found"
    assert not (data / DB_FILE).exists()


def test_a_recorded_database_url_wins_over_the_environment(tmp_path: Path, policy: Path) -> None:
    recorded = tmp_path / "recorded.sqlite3"
    data, _ = init(tmp_path, policy, "--database", f"sqlite:///{recorded}")
    assert json.loads((data / CONFIG_FILE).read_text())["database_url"] == f"sqlite:///{recorded}"
    founder = Community.make().founders[0].public_key
    assert tree_size(data, founder, env={"DATABASE_URL": f"sqlite:///{tmp_path / 'ignored.sqlite3'}"}) == 2
    assert not (tmp_path / "ignored.sqlite3").exists()


@pytest.mark.spec("5.6-i")
def test_cli_log_on_each_database(tmp_path: Path, store_url: str, community: Community) -> None:
    policy = write(tmp_path / "policy.json", community.genesis())
    data, _ = init(tmp_path, policy, "--database", store_url)
    member = Community.member(3)
    declared = write(tmp_path / "declare.json", declare_entry(member, community.founders[2]))
    assert ok("submit", declared, "--data", data)[-1] == "2"
    assert tree_size(data, member.public_key) == 4
    out = tmp_path / "log.export"
    ok("export", "--data", data, "--out", out)
    assert read_export(out).header.tree_size == 4


# --- export -----------------------------------------------------------------------------------------------------


@pytest.mark.spec("5.7-d")
def test_export_is_deterministic_refuses_to_overwrite_and_shows_no_progress_off_a_terminal(
    tmp_path: Path, policy: Path, community: Community
) -> None:
    data, _ = init(tmp_path, policy)
    write(tmp_path / "d.json", declare_entry(Community.member(0), community.founders[0]))
    ok("submit", tmp_path / "d.json", "--data", data)
    out = tmp_path / "log.export"
    result = run("export", "--data", data, "--out", out)
    assert result.exit_code == 0 and result.stderr == ""
    first = out.read_bytes()
    assert "refusing to overwrite" in failed("export", "--data", data, "--out", out, code=2)
    assert out.read_bytes() == first
    ok("export", "--data", data, "--out", out, "--force")
    assert out.read_bytes() == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".log.export")] == []

