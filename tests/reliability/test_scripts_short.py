"""Short runs of the reliability scripts of issue 7 items 3, 4, 6 and 8, each as a subprocess, asserting
its exit code and the figures it prints (its `name=value` lines):

  scripts/race_sequencers.py   two sequencers racing on one database never fork the log (§5.6-g);
  scripts/durability_check.py  unsafe SQLite and PostgreSQL settings are refused, safe ones accepted,
                               and the server refuses to start on an unsafe one (§5.6-e);
  scripts/ed25519_edges.py     every strict-Ed25519 edge case is rejected, refused keys are `bad_key`
                               at registration (§3.2, §4.2-d);
  scripts/domain_matrix.py     no signature verifies in another purpose, origin or statement, and every
                               accepted statement resubmitted is `duplicate_entry` (§3.3, §7.1-g).

The full runs (their default sizes) are the scripts themselves; docs/threat-model.md cites both.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.merkle import leaf_hash
from registry.store import Store
from tests.conftest import POSTGRES_URL_VAR
from tests.reliability import ROOT, load_script

_FIGURE = re.compile(r"^([a-z0-9_]+)=(-?\d+(?:\.\d+)?)$", re.MULTILINE)


def run_script(name: str, *args: str) -> tuple[int, dict[str, float], str]:
    """Run scripts/<name>.py (it reads REGISTRY_TEST_POSTGRES_URL as the tests do); returns (exit code,
    its name=value figures, its output)."""
    command = [sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args]
    done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    figures = {m.group(1): float(m.group(2)) for m in _FIGURE.finditer(done.stdout)}
    return done.returncode, figures, output


# --- item 3: two sequencers on one database ------------------------------------------------------------

ROUNDS = 20


def _assert_race(figures: dict[str, float], database: str) -> None:
    f = {k.removeprefix(f"race_{database}_"): v for k, v in figures.items() if k.startswith(f"race_{database}_")}
    assert f["rounds"] == ROUNDS and f["sequencers"] == 2
    assert f["forks"] == 0
    assert f["commits_won"] == ROUNDS and f["commits_lost"] == ROUNDS  # exactly one winner per round
    assert f["rounds_without_winner"] == 0 and f["other_failures"] == 0
    assert f["receipts"] == 3 * ROUNDS
    assert f["tree_size"] == 2 + 4 * ROUNDS  # genesis and its state leaf, then 3 declarations and a state leaf a round
    assert f["checkpoints"] == 1 + ROUNDS


@pytest.mark.spec("5.6-g", "5.6-f")
def test_race_sequencers_never_fork_the_log() -> None:
    """On SQLite, and on PostgreSQL too when its URL is set (the script reads the same variable)."""
    code, figures, output = run_script("race_sequencers", "--rounds", str(ROUNDS))
    assert code == 0, output
    _assert_race(figures, "sqlite")
    if os.environ.get(POSTGRES_URL_VAR):
        _assert_race(figures, "postgresql")
    else:
        assert "postgresql: skipped" in output


def test_the_race_check_finds_a_forked_log(tmp_path: Path) -> None:
    """The script's fork check is not vacuous: a leaf replaced under a receipt (what a second writer
    without the compare-and-swap would leave) is reported."""
    race = load_script("race_sequencers")
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    report = race.race(url, "sqlite", rounds=3, sequencers=2, batch=2)
    assert report.forks == []
    victim = report.receipts[-1]
    other = race.declarations(99, 0, 1)[0]
    with sqlite3.connect(tmp_path / "log.sqlite3") as conn:
        leaf = bytes(conn.execute('SELECT leaf FROM entries WHERE "index" = ?', (victim.index,)).fetchone()[0])
        forged = b'{"entry":' + other + leaf[leaf.index(b',"index":') :]  # another entry at the same index
        conn.execute('UPDATE entries SET leaf = ? WHERE "index" = ?', (forged, victim.index))
    conn.close()
    assert leaf_hash(forged) != victim.leaf_hash
    report.forks.clear()
    with Store.open(url, writable=False) as store:
        race.check_log(report, store)
    assert any(f"receipt for index {victim.index} is not the stored leaf" in line for line in report.forks)
    assert any("fails its own check" in line for line in report.forks)


# --- item 4: the durability guard ------------------------------------------------------------------------


@pytest.mark.spec("5.6-e")
def test_durability_check_refuses_every_unsafe_configuration() -> None:
    """The store refuses every unsafe setting and accepts the safe ones; `registry serve` refuses to start
    on an unsafe database (the safe starts are left to the full run). PostgreSQL when its URL is set."""
    code, figures, output = run_script("durability_check", "--servers", "refusals")
    assert code == 0, output
    postgres = bool(os.environ.get(POSTGRES_URL_VAR))
    # SQLite: 7 settings through the store, 1 through `registry serve`; PostgreSQL: 2 through the store,
    # 1 judged (fsync), 1 through `registry serve`.
    unsafe, safe = (12, 5) if postgres else (8, 2)
    assert figures["durability_postgresql_configurations"] == (7 if postgres else 0)
    assert figures["durability_unsafe"] == unsafe and figures["durability_safe"] == safe
    assert figures["durability_unsafe_refused"] == unsafe and figures["durability_unsafe_accepted"] == 0
    assert figures["durability_safe_accepted"] == safe and figures["durability_safe_refused"] == 0
    assert figures["durability_server_starts"] == (2 if postgres else 1) and figures["durability_errors"] == 0
    assert "exit 3: SQLite journal_mode is memory, expected wal" in output  # the server refused to start
    if postgres:
        assert "exit 3: PostgreSQL synchronous_commit is off" in output


# --- item 6: strict Ed25519 --------------------------------------------------------------------------------


@pytest.mark.spec("3.2-a", "3.2-b", "3.2-c", "3.2-e", "3.2-f", "3.2-g", "4.2-d")
def test_ed25519_edges_are_all_rejected_and_refused_keys_never_register() -> None:
    code, figures, output = run_script("ed25519_edges")
    assert code == 0, output
    assert figures["ed25519_vectors"] == len(list((ROOT / "tests" / "vectors" / "ed25519").glob("*.json")))
    assert figures["ed25519_zip215_grid_cases"] == 14 * 14
    assert figures["ed25519_edge_rejected"] == figures["ed25519_edge_cases"] > 250
    assert figures["ed25519_edge_accepted"] == 0 and figures["ed25519_wrong"] == 0
    assert figures["ed25519_valid_accepted"] == 2
    keys = figures["ed25519_registration_keys"]
    assert keys > 30
    assert figures["ed25519_registration_declare_bad_key"] == figures["ed25519_registration_rotate_bad_key"] == keys
    assert figures["ed25519_registration_appended"] == 0
    assert figures["ed25519_registration_control_accepted"] == 1
    assert "ed25519_edge_libsodium_accepts" in figures  # printed whatever this libsodium build accepts


# --- item 8: domain separation and replay --------------------------------------------------------------------


@pytest.mark.spec("3.3-e", "7.1-b", "7.1-g")
def test_domain_matrix_has_no_cross_accept_and_every_resubmission_is_a_duplicate() -> None:
    args = ("--origins", "2", "--objects", "3", "--entries", "40", "--no-server")
    code, figures, output = run_script("domain_matrix", *args)
    assert code == 0, output
    contexts = 2 * (7 + 3)  # per origin: 7 statement purposes, presentation, checkpoint note, cosignature
    assert figures["domain_contexts"] == contexts and figures["domain_objects"] == 3
    assert figures["domain_matrix_cells"] == (3 * contexts) ** 2
    assert figures["domain_own_accepts"] == 3 * contexts and figures["domain_cross_accepts"] == 0
    assert figures["domain_entry_statements"] == 7 and figures["domain_entry_checks"] == 7 * contexts
    assert figures["domain_entry_own_accepts"] == 7 and figures["domain_entry_cross_accepts"] == 0
    statements = figures["replay_statements"]
    assert statements >= 30 and figures["replay_kinds"] == 7  # a synthetic log and a log of every kind
    assert figures["replay_sequencer_duplicates"] == figures["replay_sequencer_submissions"] == 2 * statements
    assert figures["replay_sequencer_appended"] == 0
