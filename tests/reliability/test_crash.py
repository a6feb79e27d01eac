"""The kill -9 loop, short version (issue 7 item 1; scripts/crash_loop.py --kills 5 --statements 300).

The real server runs as a child process on SQLite and on PostgreSQL (a fresh schema), 8 client threads
submit pre-signed statements, and the server is killed with SIGKILL 5 times at random moments and
restarted. Every 201 must stay at its index with identical bytes, the tree never shrinks, no two
checkpoints of one size differ, a lost answer is `duplicate_entry` on resubmission, and both audits
(`--server` and `--data`) pass at the end.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.datadir import open_data_dir
from registry.sequencer import Receipt, Sequencer
from registry.store import Store
from tests.conftest import postgres_url
from tests.reliability import load_script

crash_loop = load_script("crash_loop")

KILLS = 5
STATEMENTS = 300


@pytest.fixture(name="database_url", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url_fixture(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite (the data directory's default file), or the URL of a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    with crash_loop.postgres_schema(postgres_url(), "crash_test") as url:
        yield url


@pytest.mark.spec("5.6-d", "5.6-f", "5.6-h", "9.2-a", "9.2-c", "8.2-c", "9.1-i")
def test_kill_9_loses_nothing_acknowledged_and_never_forks(tmp_path: Path, database_url: str | None) -> None:
    report = crash_loop.run_crash_loop(
        tmp_path, kills=KILLS, statements=STATEMENTS, clients=8, database_url=database_url, seed=7,
        snapshot_every=40, say=lambda _: None,
    )
    assert report.violations == [], "\n".join(report.lines())
    assert report.kills == KILLS
    # Every statement got its final answer: a verified receipt, or duplicate_entry for one whose
    # answer was lost in a kill (it is then found in the log, checked by the loop).
    assert report.acknowledged + report.duplicates == STATEMENTS
    assert report.tree_size >= 1 + STATEMENTS
    assert report.audit_server_ok and report.audit_data_ok
    # Start-up snapshots were written while the clients submitted and the kills fell, and restarts
    # started from them: a snapshot half-written by a kill, or wrong, would have refused a start.
    assert report.snapshot_starts >= 1


def test_the_plan_is_valid_in_any_order(tmp_path: Path) -> None:
    """The loop's premise: its statements are independent, so that any interleaving is accepted."""
    created_ms = 1_767_225_600_000
    plan = crash_loop.make_plan(40, created_ms, "order")
    data, _ = crash_loop.create_log(tmp_path, plan.genesis, None, created_ms)
    with Store.open(open_data_dir(data).database_url({}), writable=True) as store:
        sequencer = Sequencer.open(store, open_data_dir(data).signer(), lambda: created_ms)
        shuffled = list(plan.statements)
        random.Random(5).shuffle(shuffled)
        results = sequencer.submit_batch(shuffled[:20]) + sequencer.submit_batch(shuffled[20:])
    assert all(isinstance(r, Receipt) for r in results), [r for r in results if not isinstance(r, Receipt)]


def test_a_restart_that_fails_is_a_violation(tmp_path: Path) -> None:
    """The loop's own check: a server that does not come back is reported, not waited for forever."""
    server = crash_loop.crash_server(tmp_path / "no-such-dir", crash_loop.free_port(), 25, tmp_path / "server.log", 500)
    with pytest.raises(RuntimeError):
        server.start(timeout_s=60)
    assert not server.running
