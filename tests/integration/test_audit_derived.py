"""The audit of an operator's store checks the columns derived from the log (protocol §8.2-g): each entry
row's index, payload_hash and logged_ms against its leaf, and the meta row's origin, log key and tree
size against the log key and the leaves. A changed column is named by its row's index (or the meta
row) and its column, with the expected and found values and nothing personal; the sequencer refuses to
start on the same entry rows through the same check (`registry.store_rows`, [5.6-h]); a clean log
raises no alarm. Every test runs on SQLite and on PostgreSQL (skipped with a message when
REGISTRY_TEST_POSTGRES_URL is unset); the command-line test runs on a data directory (SQLite).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from registry.audit import AuditCheck, AuditReport
from registry.cli import cli, load_commands
from registry.datadir import DB_FILE
from registry.errors import ErrorCode
from registry.sequencer import init_log, load_log
from registry.statements import Params
from registry.statetree import StateLeaf, parse_log_leaf
from registry.store import NoLog, Store, StoreMismatch
from registry.store_audit import audit_store
from tests.integration.logdata import (  # noqa: F401 - fixtures
    ORIGIN,
    T0,
    Community,
    ManualClock,
    declare_entry,
    genesis_entry,
    key,
    log_signer,
    open_store_fixture,
    store_url_fixture,
)
from tests.reliability import load_script

OpenStore = Callable[..., Store]
BUSY = Params(vouch_threshold=1, vouch_quota=10_000, rate_limit_per_day=100_000, max_pending_vouchees=1000)
BATCHES = (3, 2, 4)
"""Declarations per batch after the genesis: leaves 0-1 (genesis, state leaf), 2-5, 6-8, 9-13."""
SIZE = 2 + sum(n + 1 for n in BATCHES)
STATE_LEAVES = (1, 5, 8, 13)


@pytest.fixture(name="store_url_with_log")
def store_url_with_log_fixture(open_store: OpenStore, store_url: str) -> str:
    """A database holding a log of four batches, written by the sequencer and closed again."""
    community = Community.make()
    clock = ManualClock()
    store = open_store()
    genesis = genesis_entry(list(community.founders), list(community.council), params=BUSY)
    sequencer, _ = init_log(store, log_signer(), clock, genesis)
    member = 0
    for count in BATCHES:
        clock.now += 60_000
        entries = [
            declare_entry(Community.member(i), community.founders[i % 3], created_ms=clock.now)
            for i in range(member, member + count)
        ]
        member += count
        sequencer.submit_batch(entries)
    assert sequencer.size == SIZE
    store.close()
    return store_url


def _sql(url: str, statement: str, **params: object) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _audit(url: str) -> AuditReport:
    with Store.open(url, writable=False) as store:
        return audit_store(store, log_signer().verifier)


def _flip(value: bytes) -> bytes:
    data = bytearray(value)
    data[7] ^= 0x10
    return bytes(data)


def _no_personal_data(message: str) -> None:
    """Indexes, times and hashes only: no leaf bytes, no member's or founder's key."""
    assert "{" not in message and "signature" not in message
    community = Community.make()
    keys = [k.public_key.hex() for k in (*community.founders, *community.council)]
    keys += [Community.member(i).public_key.hex() for i in range(sum(BATCHES))]
    assert not any(k in message for k in keys)


# --- a clean log ----------------------------------------------------------------------------------------


@pytest.mark.spec("8.2-g")
def test_a_clean_store_raises_no_alarm(store_url_with_log: str) -> None:
    report = _audit(store_url_with_log)
    assert report.ok, report.message
    assert report.size == SIZE and report.checkpoints == len(STATE_LEAVES)
    with Store.open(store_url_with_log, writable=False) as store:
        assert load_log(store).size == SIZE
    kinds = {i for i, (leaf,) in enumerate(_sql(store_url_with_log, 'SELECT leaf FROM entries ORDER BY "index"'))
             if isinstance(parse_log_leaf(bytes(leaf)), StateLeaf)}  # fmt: skip
    assert kinds == set(STATE_LEAVES)


# --- entry rows -----------------------------------------------------------------------------------------

CHANGES = {
    "payload_hash of an entry": ("payload_hash", 3),
    "payload_hash of a state leaf": ("payload_hash", 5),
    "logged_ms of an entry raised": ("logged_ms", 7),
    "logged_ms of a state leaf lowered": ("logged_ms", 8),
    "logged_ms of the last entry": ("logged_ms", 12),
    "logged_ms of the genesis": ("logged_ms", 0),
}


def _change(url: str, column: str, index: int) -> tuple[str, str]:
    """Change one derived column of row `index`; returns the (expected, found) values as printed."""
    ((value,),) = _sql(url, f'SELECT {column} FROM entries WHERE "index" = :i', i=index)
    if column == "payload_hash":
        changed: object = _flip(bytes(value))
        expected, found = bytes(value).hex(), _flip(bytes(value)).hex()
    else:
        changed = int(value) + (1 if index % 2 else -86_400_000)
        expected, found = str(value), str(changed)
    _sql(url, f'UPDATE entries SET {column} = :v WHERE "index" = :i', v=changed, i=index)
    return expected, found


@pytest.mark.spec("8.2-g", "5.6-h")
@pytest.mark.parametrize(("column", "index"), list(CHANGES.values()), ids=list(CHANGES))
def test_a_changed_derived_column_is_named_by_row_and_column(store_url_with_log: str, column: str, index: int) -> None:
    expected, found = _change(store_url_with_log, column, index)
    report = _audit(store_url_with_log)
    assert not report.ok
    assert (report.check, report.code, report.first_bad_index) == (AuditCheck.ENTRY_ROW, "audit_mismatch", index)
    assert report.column == column
    message = report.message or ""
    assert expected in message and found in message and column in message
    _no_personal_data(message)
    failure = report.to_json()["failure"]
    assert isinstance(failure, dict) and failure["column"] == column and failure["check"] == "entry_row"
    # The sequencer's start-up makes the same comparison, and refuses the store with the same message.
    with Store.open(store_url_with_log, writable=False) as store, pytest.raises(StoreMismatch) as refused:
        load_log(store)
    assert refused.value.code is ErrorCode.AUDIT_MISMATCH
    assert refused.value.message == message


@pytest.mark.spec("8.2-g")
def test_the_first_of_two_changed_rows_is_named(store_url_with_log: str) -> None:
    _change(store_url_with_log, "logged_ms", 12)
    _change(store_url_with_log, "payload_hash", 4)
    report = _audit(store_url_with_log)
    assert (report.check, report.first_bad_index, report.column) == (AuditCheck.ENTRY_ROW, 4, "payload_hash")


@pytest.mark.spec("8.2-g", "8.2-a")
def test_a_changed_row_and_a_changed_leaf_are_ordered_by_index(store_url_with_log: str) -> None:
    """A row checked with the replay: of a bad column and a bad leaf, the smaller index is named."""
    ((leaf,),) = _sql(store_url_with_log, 'SELECT leaf FROM entries WHERE "index" = 9')
    bad = bytes(leaf).replace(b'"sig":"', b'"sig":"A', 1)  # no longer verifies
    _sql(store_url_with_log, 'UPDATE entries SET leaf = :v WHERE "index" = 9', v=bad)
    _change(store_url_with_log, "logged_ms", 11)
    later = _audit(store_url_with_log)
    assert later.first_bad_index == 9 and later.check is not AuditCheck.ENTRY_ROW
    _change(store_url_with_log, "payload_hash", 6)
    earlier = _audit(store_url_with_log)
    assert (earlier.check, earlier.first_bad_index, earlier.column) == (AuditCheck.ENTRY_ROW, 6, "payload_hash")


# --- the meta row ---------------------------------------------------------------------------------------


@pytest.mark.spec("8.2-g")
@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("origin", "registry.example/other", ORIGIN),
        ("log_vkey", log_signer(label="another log").vkey, log_signer().vkey),
        ("tree_size", SIZE - 1, str(SIZE)),
        ("tree_size", SIZE + 1, str(SIZE)),
    ],
)
def test_a_changed_meta_row_is_named_by_column(
    store_url_with_log: str, column: str, value: object, expected: str
) -> None:
    _sql(store_url_with_log, f"UPDATE meta SET {column} = :v", v=value)
    report = _audit(store_url_with_log)
    assert not report.ok
    assert (report.check, report.code, report.column) == (AuditCheck.META_ROW, "audit_mismatch", column)
    assert report.first_bad_index is None and report.bad_checkpoint_size is None
    message = report.message or ""
    assert str(value) in message and expected in message
    _no_personal_data(message)


def test_a_changed_schema_version_is_refused_by_the_store(store_url_with_log: str) -> None:
    """Not silent either: the store refuses to read a meta row of another schema version."""
    _sql(store_url_with_log, "UPDATE meta SET schema_version = 7")
    with pytest.raises(NoLog) as refused:
        _audit(store_url_with_log)
    assert refused.value.code is ErrorCode.NOT_FOUND


# --- the command line -----------------------------------------------------------------------------------

tamper = load_script("tamper")


@pytest.fixture(name="data_dir", scope="module")
def data_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tamper.build_log(tmp_path_factory.mktemp("derived") / "data", 40, 5).path)


def _cli_audit(path: Path) -> tuple[int, str, str]:
    load_commands()
    result = CliRunner().invoke(cli, ["audit", "--data", str(path), "--workers", "1"])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.spec("8.2-g")
def test_the_cli_names_the_row_the_column_and_the_meta_row(data_dir: Path, tmp_path: Path) -> None:
    assert _cli_audit(data_dir)[0] == 0
    rows = tmp_path / "rows"
    shutil.copytree(data_dir, rows)
    with sqlite3.connect(rows / DB_FILE) as conn:
        conn.execute('UPDATE entries SET logged_ms = logged_ms + 1 WHERE "index" = 17')
    conn.close()
    code, _, err = _cli_audit(rows)
    assert code == 1
    assert "error: audit_mismatch: audit failed at entry 17 (entry_row): " in err and "logged_ms" in err
    meta = tmp_path / "meta"
    shutil.copytree(data_dir, meta)
    with sqlite3.connect(meta / DB_FILE) as conn:
        conn.execute("UPDATE meta SET tree_size = tree_size + 5")
    conn.close()
    code, _, err = _cli_audit(meta)
    assert code == 1
    assert "error: audit_mismatch: audit failed at the meta row (meta_row): " in err and "tree_size" in err
