"""`registry audit` on a data directory and on an export file (protocol §8.2), through the CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry.cli import cli, load_commands
from registry.statements import format_entry
from tests.factory import ORIGIN, Log, key, signed

load_commands()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def data_dir(tmp_path: Path) -> tuple[Path, str, Log]:
    """A log made with `registry init` and a few `registry submit`s, mirrored by an in-memory Log."""
    log = Log.standard()
    genesis = log.leaves[0]
    from registry.statements import parse_leaf

    policy = tmp_path / "policy.json"
    policy.write_bytes(format_entry(parse_leaf(genesis).entry))
    directory = tmp_path / "log"
    code, out, err = run("init", str(directory), "--policy", str(policy), "--origin", ORIGIN)
    assert code == 0, err
    vkey = out.strip().splitlines()[-1]
    entries = [log.declare(key(11), key(1))]
    log.submit(entries[0])
    entries.append(log.vouch(key(2), key(11)))
    log.submit(entries[-1])
    for i, entry in enumerate(entries):
        path = tmp_path / f"e{i}.json"
        path.write_bytes(format_entry(entry))
        code, out, err = run("submit", str(path), "--data", str(directory))
        assert code == 0, err
        assert out.strip().splitlines()[-1] == str(2 * i + 2)  # every batch ends with a state leaf
    return directory, vkey, log


@pytest.mark.spec("8.2-a")
def test_audit_data_dir_passes_and_reports_statuses(data_dir: tuple[Path, str, Log]) -> None:
    directory, _, log = data_dir
    code, out, err = run("audit", "--data", str(directory), "--json", "--workers", "1")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True
    assert report["tree_size"] == 6  # genesis, 2 entries, and the state leaf after each
    assert report["members"] == dict(log.state.counts())
    assert report["members"]["verified"] == 4


@pytest.mark.spec("8.2-a", "5.7-a")
def test_audit_export_file_with_log_key(data_dir: tuple[Path, str, Log], tmp_path: Path) -> None:
    directory, vkey, _ = data_dir
    out_file = tmp_path / "log.export"
    code, _, err = run("export", "--data", str(directory), "--out", str(out_file))
    assert code == 0, err
    code, out, err = run("audit", "--log", str(out_file), "--log-key", vkey)
    assert code == 0, err
    assert "tree size: 6" in out
    assert "audit: ok" in out


@pytest.mark.spec("8.2-a")
def test_audit_with_another_log_key_fails(data_dir: tuple[Path, str, Log], tmp_path: Path) -> None:
    directory, _, _ = data_dir
    out_file = tmp_path / "log.export"
    assert run("export", "--data", str(directory), "--out", str(out_file))[0] == 0
    from crypto.notekey import NoteSigner

    other = NoteSigner(ORIGIN, key(999)).vkey
    code, _, err = run("audit", "--log", str(out_file), "--log-key", other)
    assert code == 1
    assert "bad_signature" in err


@pytest.mark.spec("8.2-a")
def test_audit_names_a_flipped_byte_in_the_database(data_dir: tuple[Path, str, Log]) -> None:
    directory, _, _ = data_dir
    db = directory / "log.sqlite3"
    with sqlite3.connect(db) as conn:
        (table,) = [r[0] for r in conn.execute("select name from sqlite_master where type='table'") if "entr" in r[0]]
        cols = [r[1] for r in conn.execute(f"pragma table_info({table})")]
        leaf_col = next(c for c in cols if "leaf" in c)
        idx_col = next(c for c in cols if c in ("idx", "index", "leaf_index", "position"))
        (leaf,) = conn.execute(f'select {leaf_col} from {table} where "{idx_col}" = 2').fetchone()
        bad = bytearray(leaf)
        bad[len(bad) // 2] ^= 0x04
        conn.execute(f'update {table} set {leaf_col} = ? where "{idx_col}" = 2', (bytes(bad),))
    code, _, err = run("audit", "--data", str(directory), "--workers", "1")
    assert code == 1
    assert "entry 2" in err


def test_audit_usage_errors() -> None:
    assert run("audit")[0] == 2
    assert run("audit", "--log", "x.export")[0] == 2


def test_audit_of_signed_but_unsequenced_file_is_not_possible(tmp_path: Path) -> None:
    """An export file that is not an export is a typed error, exit 1 (not a traceback)."""
    bogus = tmp_path / "bogus.export"
    bogus.write_bytes(format_entry(signed(Log.standard().declare(key(11), key(1)).statement, key(11))))
    code, _, err = run("audit", "--log", str(bogus), "--log-key", "x+00000000+AA==")
    assert code == 1
    assert err.startswith("error: ")
