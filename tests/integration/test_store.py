"""The store on SQLite and PostgreSQL: tables, the append transaction, the node store, fault hooks and
the durability guard (protocol §5.6). Every test runs on both databases (PostgreSQL is skipped with a
message when REGISTRY_TEST_POSTGRES_URL is unset)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.errors import BadProof
from crypto.merkle import MerkleTree, leaf_hash
from crypto.nodestore import MemoryNodeStore
from crypto.note import format_note
from crypto.notekey import NoteSigner
from registry.errors import ErrorCode
from registry.sequencer import init_log
from registry.store import (
    STEPS,
    Append,
    LogExists,
    NoLog,
    NotDurable,
    Store,
    StoredEntry,
    StoreMismatch,
    StoreUnavailable,
    WriteConflict,
    display_url,
    durability_problem,
)
from registry.store.models import TABLES
from tests.integration.logdata import (  # noqa: F401 - fixtures
    ORIGIN,
    T0,
    Community,
    ManualClock,
    key,
    log_signer,
    open_store_fixture,
    store_url_fixture,
)


def log_signer_seed() -> bytes:
    """The private seed of `log_signer()` (the fixed test key "log")."""
    return key("log").seed


OpenStore = Callable[..., Store]


class InjectedFault(Exception):
    """Raised by `FailOnce` at the step it is armed for."""


class FailOnce:
    """A `Faults` that raises once, before the commit at `before` or after the commit of `after`."""

    def __init__(self, *, before: str | None = None, after: str | None = None) -> None:
        self.before = before
        self.after = after
        self.seen: list[str] = []

    def before_commit(self, step: str) -> None:
        self.seen.append(step)
        if step == self.before:
            self.before = None
            raise InjectedFault(step)

    def after_commit(self, step: str) -> None:
        if step == self.after:
            self.after = None
            raise InjectedFault(step)


class Mirror:
    """Builds batches of synthetic leaves for the store, keeping an in-memory tree alongside."""

    def __init__(self, signer: NoteSigner) -> None:
        self.signer = signer
        self.tree = MerkleTree(MemoryNodeStore(), 0)
        self.leaves: list[bytes] = []

    def batch(self, count: int, *, commit: bool = True) -> Append:
        old = self.tree.size
        rows = tuple(
            StoredEntry(old + i, b"leaf %d" % (old + i), hashlib.sha256(b"payload %d" % (old + i)).digest(), T0 + old)
            for i in range(count)
        )
        tree = MerkleTree(MemoryNodeStore(), 0) if not commit else self.tree
        if not commit:
            tree.extend(leaf_hash(leaf) for leaf in self.leaves)
        ext = tree.extend(leaf_hash(r.leaf) for r in rows)
        note = format_note(sign_checkpoint(Checkpoint(ORIGIN, ext.tree_size, ext.root_hash), self.signer))
        if commit:
            self.leaves.extend(r.leaf for r in rows)
        return Append(old, rows, ext.runs, note)


def _fresh(open_store: OpenStore, **kwargs: object) -> Store:
    store = open_store(**kwargs)
    store.initialize(ORIGIN, log_signer().vkey)
    return store


def _counts(store: Store) -> tuple[int, int, int, int]:
    """(tree size, entries, nodes, checkpoints) as stored."""
    entries = len(list(store.iter_entries()))
    nodes = _count_rows(store, "tree_nodes")
    checkpoints = len(list(store.iter_checkpoints()))
    return store.tree_size(), entries, nodes, checkpoints


def _count_rows(store: Store, table: str) -> int:
    engine = store.nodes._engine
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


# --- meta and initialization ----------------------------------------------------------------------


@pytest.mark.spec("5.6-i")
def test_initialize_writes_meta_of_empty_log(open_store: OpenStore) -> None:
    store = _fresh(open_store)
    meta = store.meta()
    assert (meta.origin, meta.log_vkey, meta.tree_size, meta.schema_version) == (ORIGIN, log_signer().vkey, 0, 1)
    assert store.latest_checkpoint() is None


def test_meta_of_uninitialized_database_is_no_log(open_store: OpenStore) -> None:
    store = open_store()
    with pytest.raises(NoLog) as info:
        store.meta()
    assert info.value.code is ErrorCode.NOT_FOUND


def test_a_database_without_tables_is_no_log_and_is_not_created(open_store: OpenStore, store_url: str) -> None:
    with pytest.raises(NoLog):  # SQLite: at open, without creating the file; PostgreSQL: at the first read
        open_store(create=False).tree_size()
    if store_url.startswith("sqlite"):
        assert not Path(make_url(store_url).database or "").exists()


@pytest.mark.spec("5.6-i")
def test_initialize_refuses_a_non_empty_log(open_store: OpenStore) -> None:
    store = _fresh(open_store)
    store.append(Mirror(log_signer()).batch(1))
    with pytest.raises(LogExists) as info:
        store.initialize(ORIGIN, log_signer(label="other").vkey)
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert store.meta().log_vkey == log_signer().vkey
    assert store.tree_size() == 1


def test_initialize_replaces_the_meta_of_an_empty_log(open_store: OpenStore) -> None:
    store = _fresh(open_store)
    other = log_signer(label="other").vkey
    store.initialize(ORIGIN, other)
    assert store.meta().log_vkey == other


def test_read_only_store_refuses_writes(open_store: OpenStore) -> None:
    _fresh(open_store)
    reader = open_store(writable=False, create=False)
    with pytest.raises(StoreUnavailable):
        reader.append(Mirror(log_signer()).batch(1))
    assert reader.tree_size() == 0


# --- the append transaction ---------------------------------------------------------------------------


@pytest.mark.spec("5.6-d")
def test_append_commits_leaves_nodes_checkpoint_and_tree_size_together(open_store: OpenStore) -> None:
    store = _fresh(open_store)
    mirror = Mirror(log_signer())
    for count in (1, 2, 5, 64):
        batch = mirror.batch(count)
        store.append(batch)
        assert store.tree_size() == mirror.tree.size
        assert store.checkpoint(mirror.tree.size) == batch.checkpoint
    assert store.leaves(0, mirror.tree.size) == mirror.leaves
    assert store.leaf(3) == mirror.leaves[3]
    assert store.leaf(mirror.tree.size) is None
    assert [size for size, _ in store.iter_checkpoints()] == [1, 3, 8, 72]
    assert store.latest_checkpoint() == (72, store.checkpoint(72))
    assert store.find_payload(hashlib.sha256(b"payload 5").digest()) == 5
    assert store.find_payload(b"\x00" * 32) is None
    tree = MerkleTree(store.nodes, 72)
    assert tree.root() == mirror.tree.root()


@pytest.mark.spec("5.6-g")
def test_append_with_a_stale_tree_size_writes_nothing(open_store: OpenStore) -> None:
    store = _fresh(open_store)
    mirror = Mirror(log_signer())
    store.append(mirror.batch(3))
    rows = tuple(StoredEntry(i, b"late %d" % i, hashlib.sha256(b"late %d" % i).digest(), T0) for i in (1, 2))
    stale = Append(1, rows, (), b"note")  # a writer that still believes the log is at size 1
    before = _counts(store)
    with pytest.raises(WriteConflict) as info:
        store.append(stale)
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert _counts(store) == before


@pytest.mark.spec("5.6-f")
def test_a_second_checkpoint_for_a_stored_size_is_refused(open_store: OpenStore) -> None:
    store = _fresh(open_store)
    mirror = Mirror(log_signer())
    store.append(mirror.batch(2))
    original = store.checkpoint(2)
    other = format_note(sign_checkpoint(Checkpoint(ORIGIN, 2, b"\x07" * 32), log_signer()))
    before = _counts(store)
    with pytest.raises(StoreMismatch) as info:
        store.append(Append(2, (), (), other))  # an empty batch: the CAS 2 -> 2 passes, the checkpoint row cannot
    assert info.value.code is ErrorCode.AUDIT_MISMATCH
    assert _counts(store) == before
    assert store.checkpoint(2) == original


def test_append_refuses_misnumbered_entries(open_store: OpenStore) -> None:
    store = _fresh(open_store)
    batch = Mirror(log_signer()).batch(2)
    shuffled = Append(0, (batch.entries[1], batch.entries[0]), batch.runs, batch.checkpoint)
    with pytest.raises(StoreMismatch):
        store.append(shuffled)
    assert _counts(store) == (0, 0, 0, 0)


def test_duplicate_payload_hash_is_refused_by_the_table(open_store: OpenStore) -> None:
    store = _fresh(open_store)
    mirror = Mirror(log_signer())
    store.append(mirror.batch(1))
    batch = mirror.batch(1, commit=False)
    dup = StoredEntry(1, b"other leaf", store_payload(store, 0), T0)
    with pytest.raises(StoreMismatch):
        store.append(Append(1, (dup,), batch.runs, batch.checkpoint))
    assert _counts(store)[0:2] == (1, 1)


def store_payload(store: Store, index: int) -> bytes:
    return next(iter(store.iter_entries(index, index + 1))).payload_hash


def test_iter_entries_reads_ranges_in_chunks(open_store: OpenStore) -> None:
    store = _fresh(open_store)
    mirror = Mirror(log_signer())
    store.append(mirror.batch(2500))  # more than one read chunk
    rows = list(store.iter_entries())
    assert [r.index for r in rows] == list(range(2500))
    assert store.leaves(2040, 2060) == mirror.leaves[2040:2060]
    assert store.leaves(2499, 4000) == mirror.leaves[2499:]
    assert store.leaves(10, 10) == []


# --- fault hooks ---------------------------------------------------------------------------------------


@pytest.mark.spec("5.6-d")
@pytest.mark.parametrize("step", STEPS)
def test_failure_before_commit_leaves_nothing_written(open_store: OpenStore, step: str) -> None:
    faults = FailOnce()
    store = _fresh(open_store, faults=faults)
    mirror = Mirror(log_signer())
    store.append(mirror.batch(1))
    faults.before = step
    batch = mirror.batch(3, commit=False)
    before = _counts(store)
    with pytest.raises(InjectedFault):
        store.append(batch)
    assert _counts(store) == before
    store.append(batch)  # the fault fired once; the same batch now commits
    assert store.tree_size() == 4
    assert faults.seen[-len(STEPS) :] == list(STEPS)


@pytest.mark.spec("5.6-d")
def test_failure_after_commit_leaves_the_batch_committed(open_store: OpenStore) -> None:
    store = _fresh(open_store, faults=FailOnce(after="append"))
    batch = Mirror(log_signer()).batch(2)
    with pytest.raises(InjectedFault):
        store.append(batch)
    assert _counts(store)[0:2] == (2, 2)
    assert store.checkpoint(2) == batch.checkpoint


def test_failure_before_commit_of_initialize_writes_no_meta(open_store: OpenStore) -> None:
    store = open_store(faults=FailOnce(before="init"))
    with pytest.raises(InjectedFault):
        store.initialize(ORIGIN, log_signer().vkey)
    with pytest.raises(NoLog):
        store.meta()


# --- the SQL node store -----------------------------------------------------------------------------


def test_sql_node_store_gives_the_same_roots_and_proofs_as_memory(open_store: OpenStore) -> None:
    store = open_store()
    sql = MerkleTree(store.nodes, 0)
    memory = MerkleTree(MemoryNodeStore(), 0)
    for size in (1, 2, 3, 7, 8, 13, 31, 64, 100):
        add = [leaf_hash(b"%d" % i) for i in range(sql.size, size)]
        sql.extend(add)
        memory.extend(add)
        assert sql.root() == memory.root()
    for size in (1, 5, 64, 100):
        assert sql.root(size) == memory.root(size)
        assert sql.inclusion_proof(size - 1, size) == memory.inclusion_proof(size - 1, size)
        assert sql.consistency_proof(size // 2, 100) == memory.consistency_proof(size // 2, 100)
    reopened = MerkleTree(store.nodes, 100)
    assert reopened.root() == memory.root()


def test_sql_node_store_refuses_missing_conflicting_and_gapped_nodes(open_store: OpenStore) -> None:
    store = open_store()
    tree = MerkleTree(store.nodes, 0)
    ext = tree.extend([leaf_hash(b"%d" % i) for i in range(4)])
    with pytest.raises(BadProof):
        store.nodes.get_nodes([(0, 4)])
    with pytest.raises(BadProof):
        MerkleTree(store.nodes, 5)
    store.nodes.put_nodes(ext.runs)  # rewriting the same hashes is allowed
    run = ext.runs[0]
    with pytest.raises(BadProof):
        store.nodes.put_nodes([type(run)(0, 0, (b"\x01" * 32,))])
    with pytest.raises(BadProof):
        store.nodes.put_nodes([type(run)(0, 6, (b"\x01" * 32,))])
    assert store.nodes.get_nodes([(0, 0)]) == [run.hashes[0]]
    assert store.nodes.get_nodes([]) == []


# --- durability guard ----------------------------------------------------------------------------------


def _set(sql: str) -> Callable[[object], None]:
    def hook(dbapi_connection: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute(sql)
        cursor.close()

    return hook


@pytest.mark.spec("5.6-e")
def test_store_connections_are_durable(open_store: OpenStore) -> None:
    store = _fresh(open_store)
    with store.nodes._engine.connect() as conn:
        if store.dialect == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        else:
            assert conn.exec_driver_sql("SHOW fsync").scalar() == "on"
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() != "off"


@pytest.mark.spec("5.6-e")
def test_guard_refuses_a_connection_whose_commits_would_not_be_durable(open_store: OpenStore, store_url: str) -> None:
    open_store()  # creates the database
    if store_url.startswith("sqlite"):
        hooks = [_set("PRAGMA synchronous = NORMAL"), _set("PRAGMA synchronous = OFF")]
    else:
        hooks = [_set("SET synchronous_commit = off")]
    for hook in hooks:
        with pytest.raises(NotDurable) as info:
            Store.open(store_url, connect_hook=hook)
        assert info.value.code is ErrorCode.UNAVAILABLE
        assert info.value.rejection.section == "5.6-e"
    reader = Store.open(store_url, writable=False, connect_hook=hooks[0])  # reading needs no durability
    reader.close()


@pytest.mark.spec("5.6-e")
def test_guard_refuses_sqlite_without_wal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nowal.sqlite3"
    with pytest.raises(NotDurable):
        Store.open(url, create=True, connect_hook=_set("PRAGMA journal_mode = DELETE"))
    with pytest.raises(NotDurable):
        Store.open("sqlite://", create=True)  # an in-memory database cannot use WAL


@pytest.mark.spec("5.6-e")
@pytest.mark.parametrize(
    ("dialect", "settings", "durable"),
    [
        ("sqlite", {"journal_mode": "wal", "synchronous": "2"}, True),
        ("sqlite", {"journal_mode": "wal", "synchronous": "3"}, True),
        ("sqlite", {"journal_mode": "wal", "synchronous": "1"}, False),
        ("sqlite", {"journal_mode": "delete", "synchronous": "2"}, False),
        ("sqlite", {"journal_mode": "memory", "synchronous": "2"}, False),
        ("postgresql", {"fsync": "on", "synchronous_commit": "on"}, True),
        ("postgresql", {"fsync": "on", "synchronous_commit": "local"}, True),
        ("postgresql", {"fsync": "on", "synchronous_commit": "remote_apply"}, True),
        ("postgresql", {"fsync": "off", "synchronous_commit": "on"}, False),
        ("postgresql", {"fsync": "on", "synchronous_commit": "off"}, False),
        ("postgresql", {}, False),
        ("mysql", {}, False),
    ],
)
def test_durability_verdict(dialect: str, settings: dict[str, str], durable: bool) -> None:
    assert (durability_problem(dialect, settings) is None) is durable


def test_urls_of_other_databases_are_refused_and_passwords_hidden() -> None:
    with pytest.raises(StoreUnavailable):
        Store.open("mysql://user@localhost/db")
    with pytest.raises(StoreUnavailable):
        Store.open("not a url")
    assert "secret" not in display_url("postgresql+psycopg://user:secret@db.example/log")


# --- what the database holds ---------------------------------------------------------------------------


_LOG_TABLES: dict[str, list[str]] = {
    "checkpoints": ["note", "size"],
    "entries": ["index", "leaf", "logged_ms", "payload_hash"],
    "meta": ["id", "log_vkey", "origin", "schema_version", "tree_size"],
    "tree_nodes": ["hash", "index", "level"],
}
"""Every table a log's database has, with its columns, sorted."""


def _tables(store: Store) -> dict[str, list[str]]:
    inspector = sa.inspect(store.nodes._engine)
    return {name: sorted(c["name"] for c in inspector.get_columns(name)) for name in inspector.get_table_names()}


@pytest.mark.spec("5.6-k")
def test_tables_hold_only_the_log_and_its_bookkeeping(open_store: OpenStore) -> None:
    found = _tables(_fresh(open_store))
    assert found == _LOG_TABLES
    assert {t.name for t in TABLES} == set(found)


@pytest.mark.spec("5.6-k", "9.1-i")
def test_a_start_up_snapshot_adds_one_table_of_bytes_derived_from_the_log(open_store: OpenStore) -> None:
    store = open_store()
    signer = log_signer()
    sequencer, _ = init_log(store, signer, ManualClock(T0), Community.make().genesis())
    assert sequencer.write_snapshot() == sequencer.size
    assert _tables(store) == {**_LOG_TABLES, "snapshots": ["data", "id", "size"]}
    stored = store.snapshot()
    assert stored is not None and stored[0] == sequencer.size
    assert log_signer_seed() not in stored[1]  # the tag is keyed by a secret derived from it, never the seed


def test_store_package_public_names() -> None:
    import registry.store

    assert registry.store.__all__ == [
        "STEPS",
        "Append",
        "Faults",
        "LogExists",
        "LogMeta",
        "NoFaults",
        "NoLog",
        "NotDurable",
        "SqlNodeStore",
        "Store",
        "StoreError",
        "StoreMismatch",
        "StoreUnavailable",
        "StoredEntry",
        "WriteConflict",
        "create_engine",
        "display_url",
        "durability_problem",
        "read_durability_settings",
    ]
