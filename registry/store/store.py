"""The store of one log: leaves, tree nodes, checkpoints and the meta row, in SQL (protocol §5.6).

`Store.append` is the only write after `initialize`: one transaction that compare-and-swaps the stored
tree size (old -> new), then inserts the batch's leaves, the tree nodes they complete and the one
checkpoint signed for the new size ([5.6-d], [5.6-f], [5.6-g]). If the tree size moved (another
sequencer wrote), nothing is written and `WriteConflict` is raised.

Failure injection (STYLE §8): a `Faults` object passed to `Store.open` is called inside each write
transaction before every statement and just before COMMIT (`before_commit(step)`), and right after
COMMIT (`after_commit(step)`). Anything it raises propagates: before the commit the transaction is
rolled back, after it the data is committed but the caller sees the error, as in a crash.

The one other write is `put_snapshot`, the start-up snapshot cache (protocol §9.1-i): it is not part of
the log, never written in an append's transaction, and `registry.snapshot` decides what it holds.

Deliberately not here: deciding what to append (the sequencer) or reading the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from sqlalchemy import Engine, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from crypto.nodestore import NodeRun

from .db import WRITE_OPTION, ConnectHook, create_engine, display_url, parse_url, ping
from .errors import LogExists, NoLog, StoreMismatch, StoreUnavailable, WriteConflict
from .models import CHECKPOINTS, ENTRIES, META, META_ID, NODES, SCHEMA_VERSION, SNAPSHOTS, TABLES
from .nodes import SqlNodeStore, db_errors

__all__ = [
    "STEPS",
    "Append",
    "Faults",
    "LogMeta",
    "NoFaults",
    "Store",
    "StoredEntry",
]

STEPS: Final = ("tree_size", "entries", "nodes", "checkpoint", "commit")
"""The points of an append transaction at which `Faults.before_commit` is called, in order."""

_CHUNK: Final = 2048
# The two bulk inserts of an append, per DB-API parameter style (SQLite: qmark; psycopg: format).
# "index" is quoted: it is a keyword in both dialects.
_INSERT_ENTRIES_QMARK: Final = 'INSERT INTO entries ("index", leaf, payload_hash, logged_ms) VALUES (?, ?, ?, ?)'
_INSERT_ENTRIES_FORMAT: Final = 'INSERT INTO entries ("index", leaf, payload_hash, logged_ms) VALUES (%s, %s, %s, %s)'
_INSERT_NODES_QMARK: Final = 'INSERT INTO tree_nodes (level, "index", hash) VALUES (?, ?, ?)'
_INSERT_NODES_FORMAT: Final = 'INSERT INTO tree_nodes (level, "index", hash) VALUES (%s, %s, %s)'


class Faults(Protocol):
    """Hooks around each write transaction, for failure injection in tests (issue 7 item 2)."""

    def before_commit(self, step: str) -> None:
        """Called inside the transaction, before writing `step` (see `STEPS`; "init" for `initialize`)."""
        ...

    def after_commit(self, step: str) -> None:
        """Called right after the transaction of `step` ("append" or "init") committed."""
        ...


class NoFaults:
    """The production `Faults`: does nothing."""

    def before_commit(self, step: str) -> None:
        return None

    def after_commit(self, step: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class LogMeta:
    """The meta row: which log this is, and its committed tree size."""

    origin: str
    log_vkey: str
    schema_version: int
    tree_size: int


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One row of `entries`: the leaf bytes exactly as hashed, and columns derived from them."""

    index: int
    leaf: bytes
    payload_hash: bytes
    logged_ms: int


@dataclass(frozen=True, slots=True)
class Append:
    """One batch to commit: leaves [old_size, old_size + len(entries)), the nodes they complete, and the
    checkpoint note signed for the new size. Requires entries[i].index == old_size + i."""

    old_size: int
    entries: tuple[StoredEntry, ...]
    runs: tuple[NodeRun, ...]
    checkpoint: bytes

    @property
    def new_size(self) -> int:
        return self.old_size + len(self.entries)


class Store:
    """One log's tables in one database. Thread-safe: every method uses its own connection.

    Owner of the rows: `initialize` writes the meta row once; after that only `append` writes, and its
    compare-and-swap of `meta.tree_size` makes it safe against a second writer ([5.6-g]).
    """

    def __init__(self, engine: Engine, *, url: str, writable: bool, faults: Faults | None = None) -> None:
        """Wrap an engine from `db.create_engine`; use `Store.open`."""
        self._engine = engine
        self._url = url
        self._writable = writable
        self._faults: Faults = faults if faults is not None else NoFaults()
        self.nodes: Final = SqlNodeStore(engine)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        writable: bool = True,
        create: bool = False,
        faults: Faults | None = None,
        connect_hook: ConnectHook | None = None,
    ) -> Store:
        """Open the store at `url`; with `create`, make the tables that do not exist yet.

        A writable store runs the durability guard on its first connection now, and on every later one.

        Raises:
            NotDurable (`unavailable`): writable, and commits would not be durable ([5.6-e]).
            NoLog (`not_found`): without `create`, an SQLite file that does not exist (it is not
                created empty).
            StoreUnavailable (`unavailable`): malformed URL, unreachable database.
        """
        if not create:
            _require_sqlite_file(url)
        engine = create_engine(url, writable=writable, connect_hook=connect_hook)
        store = cls(engine, url=url, writable=writable, faults=faults)
        try:
            with db_errors(f"open {display_url(url)}"):
                ping(engine)
                if create:
                    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
                        for table in TABLES:
                            table.create(conn, checkfirst=True)
        except BaseException:
            engine.dispose()
            raise
        return store

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return display_url(self._url)

    @property
    def writable(self) -> bool:
        """Whether this store was opened for writing."""
        return self._writable

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection. The store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- meta ------------------------------------------------------------------------------------

    def initialize(self, origin: str, log_vkey: str) -> None:
        """Write the meta row of a new, empty log (tree size 0).

        An existing meta row of an empty log (an earlier `init` that stopped before its genesis) is
        replaced; a non-empty log is never touched.

        Raises:
            LogExists (`unavailable`): the database already holds a non-empty log.
            StoreUnavailable (`unavailable`): read-only store, or the database failed.
        """
        self._require_writable()
        with db_errors("initialize the log"), self._write() as conn:
            with conn.begin():
                row = conn.execute(select(META.c.tree_size).where(META.c.id == META_ID)).first()
                leaves = conn.execute(select(func.count()).select_from(ENTRIES)).scalar_one()
                if (row is not None and int(row[0]) > 0) or leaves:
                    raise LogExists("the database already holds a log; refusing to initialize it again")
                self._faults.before_commit("init")
                conn.execute(CHECKPOINTS.delete())
                conn.execute(NODES.delete())
                conn.execute(META.delete())
                if self._engine.dialect.has_table(conn, SNAPSHOTS.name):
                    conn.execute(SNAPSHOTS.delete())
                conn.execute(
                    META.insert(),
                    {
                        "id": META_ID,
                        "schema_version": SCHEMA_VERSION,
                        "origin": origin,
                        "log_vkey": log_vkey,
                        "tree_size": 0,
                    },
                )
            self._faults.after_commit("init")

    def meta(self) -> LogMeta:
        """The meta row.

        Raises:
            NoLog (`not_found`): no log in this database, or one of another schema version.
            StoreUnavailable (`unavailable`): the database failed.
        """
        with db_errors("read the log's meta row"), self._engine.connect() as conn:
            if not self._engine.dialect.has_table(conn, META.name):
                raise NoLog("the database holds no log (run `registry init` first)")
            row = conn.execute(
                select(META.c.origin, META.c.log_vkey, META.c.schema_version, META.c.tree_size).where(
                    META.c.id == META_ID
                )
            ).first()
        if row is None:
            raise NoLog("the database holds no log (run `registry init` first)")
        meta = LogMeta(str(row[0]), str(row[1]), int(row[2]), int(row[3]))
        if meta.schema_version != SCHEMA_VERSION:
            raise NoLog(f"the database schema is version {meta.schema_version}, this program reads {SCHEMA_VERSION}")
        return meta

    def tree_size(self) -> int:
        """The committed tree size (raises as `meta`)."""
        return self.meta().tree_size

    # --- leaves ----------------------------------------------------------------------------------

    def leaf(self, index: int) -> bytes | None:
        """The leaf at `index`, or None when the log is not that long."""
        with db_errors("read a leaf"), self._engine.connect() as conn:
            value = conn.execute(select(ENTRIES.c.leaf).where(ENTRIES.c.index == index)).scalar()
        return None if value is None else bytes(value)

    def leaves(self, start: int, end: int) -> list[bytes]:
        """The leaves of the half-open range [start, end) that are stored, in index order."""
        return [e.leaf for e in self.iter_entries(start, end)]

    def iter_entries(self, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]:
        """Stored rows with start <= index < end (end None: to the last), in index order, read in chunks.

        Each chunk is its own query; rows are immutable once committed, so callers that want a fixed
        view pass an `end` read before (e.g. the tree size).
        """
        position = start
        while end is None or position < end:
            stop = position + _CHUNK if end is None else min(end, position + _CHUNK)
            with db_errors("read leaves"), self._engine.connect() as conn:
                rows = conn.execute(
                    select(ENTRIES.c.index, ENTRIES.c.leaf, ENTRIES.c.payload_hash, ENTRIES.c.logged_ms)
                    .where(ENTRIES.c.index >= position, ENTRIES.c.index < stop)
                    .order_by(ENTRIES.c.index)
                ).all()
            for row in rows:
                yield StoredEntry(int(row[0]), bytes(row[1]), bytes(row[2]), int(row[3]))
            if end is None and not rows:
                return
            position = stop

    def find_payload(self, payload_hash: bytes) -> int | None:
        """The index of the leaf whose entry has this payload hash, if any."""
        with db_errors("look up an entry"), self._engine.connect() as conn:
            value = conn.execute(select(ENTRIES.c.index).where(ENTRIES.c.payload_hash == payload_hash)).scalar()
        return None if value is None else int(value)

    # --- checkpoints -----------------------------------------------------------------------------

    def checkpoint(self, size: int) -> bytes | None:
        """The signed checkpoint note of tree size `size`, if one was stored."""
        with db_errors("read a checkpoint"), self._engine.connect() as conn:
            value = conn.execute(select(CHECKPOINTS.c.note).where(CHECKPOINTS.c.size == size)).scalar()
        return None if value is None else bytes(value)

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """(size, note) of the largest stored checkpoint, or None before genesis."""
        with db_errors("read a checkpoint"), self._engine.connect() as conn:
            row = conn.execute(
                select(CHECKPOINTS.c.size, CHECKPOINTS.c.note).order_by(CHECKPOINTS.c.size.desc()).limit(1)
            ).first()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def iter_checkpoints(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(size, note) of stored checkpoints with start <= size < end, in size order, read in chunks."""
        position = start
        while True:
            with db_errors("read checkpoints"), self._engine.connect() as conn:
                query = select(CHECKPOINTS.c.size, CHECKPOINTS.c.note).where(CHECKPOINTS.c.size >= position)
                if end is not None:
                    query = query.where(CHECKPOINTS.c.size < end)
                rows = conn.execute(query.order_by(CHECKPOINTS.c.size).limit(_CHUNK)).all()
            for size, note in rows:
                yield int(size), bytes(note)
            if len(rows) < _CHUNK:
                return
            position = int(rows[-1][0]) + 1

    # --- the start-up snapshot (a cache, protocol §9.1-i) -----------------------------------------

    def snapshot(self) -> tuple[int, bytes] | None:
        """(size, data) of the stored start-up snapshot, or None when there is none."""
        with db_errors("read the start-up snapshot"), self._engine.connect() as conn:
            if not self._engine.dialect.has_table(conn, SNAPSHOTS.name):
                return None
            row = conn.execute(select(SNAPSHOTS.c.size, SNAPSHOTS.c.data).where(SNAPSHOTS.c.id == META_ID)).first()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def put_snapshot(self, size: int, data: bytes) -> bool:
        """Replace the start-up snapshot by `data`, taken at tree size `size`, unless the stored one is of
        a larger size (creating the table on first use). One transaction of its own, never an append's.

        Returns:
            Whether it was written.

        Raises:
            StoreMismatch (`audit_mismatch`): `size` is above the stored tree size; nothing written.
            StoreUnavailable (`unavailable`): read-only store, or the database failed.
        """
        self._require_writable()
        with db_errors("write the start-up snapshot"), self._write() as conn:
            with conn.begin():
                SNAPSHOTS.create(conn, checkfirst=True)
            with conn.begin():
                tree_size = conn.execute(select(META.c.tree_size).where(META.c.id == META_ID)).scalar()
                if tree_size is None or size > int(tree_size):
                    raise StoreMismatch(f"a start-up snapshot of size {size} is above the stored tree size")
                stored = conn.execute(select(SNAPSHOTS.c.size).where(SNAPSHOTS.c.id == META_ID)).scalar()
                if stored is not None and int(stored) > size:
                    return False
                conn.execute(SNAPSHOTS.delete())
                if conn.dialect.name == "sqlite":
                    _insert_in_pieces(conn, size, data)
                else:
                    conn.execute(SNAPSHOTS.insert(), {"id": META_ID, "size": size, "data": data})
        return True

    # --- the write ---------------------------------------------------------------------------------

    def append(self, batch: Append) -> None:
        """Commit one batch in one transaction, or nothing ([5.6-d], [5.6-f], [5.6-g]).

        Order inside the transaction: compare-and-swap `meta.tree_size` from `batch.old_size` to
        `batch.new_size` (on SQLite the write lock is already held from `BEGIN IMMEDIATE`; on
        PostgreSQL the UPDATE waits for a concurrent writer's row lock and then sees its new size), then
        the leaves, the nodes and the checkpoint.

        Raises:
            WriteConflict (`unavailable`): the stored tree size is not `batch.old_size`; nothing written.
            StoreMismatch (`audit_mismatch`): a row of the batch already exists; nothing written.
            StoreUnavailable (`unavailable`): the database failed. If it failed during COMMIT the
                outcome is unknown: read `tree_size()` to find out.
            Whatever `Faults` raises.
        """
        self._require_writable()
        for offset, entry in enumerate(batch.entries):
            if entry.index != batch.old_size + offset:
                raise StoreMismatch(
                    f"entry {offset} of the batch has index {entry.index}, expected {batch.old_size + offset}"
                )
        faults = self._faults
        new_size = batch.new_size
        with db_errors("append to the log"), self._write() as conn:
            try:
                with conn.begin():
                    faults.before_commit("tree_size")
                    moved = conn.execute(
                        update(META)
                        .where(META.c.id == META_ID, META.c.tree_size == batch.old_size)
                        .values(tree_size=new_size)
                    )
                    if moved.rowcount != 1:
                        raise WriteConflict(
                            f"the stored tree size is no longer {batch.old_size}: another sequencer wrote to this log"
                        )
                    # Raw executemany with tuples: the bulk of an append, several times faster than
                    # SQLAlchemy's per-row parameter processing.
                    qmark = conn.dialect.paramstyle == "qmark"
                    faults.before_commit("entries")
                    if batch.entries:
                        conn.exec_driver_sql(
                            _INSERT_ENTRIES_QMARK if qmark else _INSERT_ENTRIES_FORMAT,
                            [(e.index, e.leaf, e.payload_hash, e.logged_ms) for e in batch.entries],
                        )
                    faults.before_commit("nodes")
                    nodes = [(level, index, value) for run in batch.runs for (level, index), value in run.items()]
                    if nodes:
                        conn.exec_driver_sql(_INSERT_NODES_QMARK if qmark else _INSERT_NODES_FORMAT, nodes)
                    faults.before_commit("checkpoint")
                    conn.execute(CHECKPOINTS.insert(), {"size": new_size, "note": batch.checkpoint})
                    faults.before_commit("commit")
                # Committed: the leaves, nodes, checkpoint and tree size are durable together.
            except IntegrityError as exc:
                raise StoreMismatch(
                    f"the store already holds a row of the batch [{batch.old_size}, {new_size}) past its tree size"
                ) from exc
        faults.after_commit("append")

    # --- helpers -----------------------------------------------------------------------------------

    def _write(self) -> Connection:
        return self._engine.connect().execution_options(**{WRITE_OPTION: True})

    def _require_writable(self) -> None:
        if not self._writable:
            raise StoreUnavailable("this store was opened read-only")


_BLOB_PIECE: Final = 4 << 20


def _insert_in_pieces(conn: Connection, size: int, data: bytes) -> None:
    """SQLite: insert the snapshot row with a zero-filled value of the right length, then write the value
    into it 4 MiB at a time through SQLite's incremental blob I/O, in the same transaction.

    Bound as one parameter, a value of hundreds of MB keeps the interpreter lock while the driver copies
    it, and every request of a serving process waits: 740 ms for the 236 MB snapshot of a 1,000,000-leaf
    log (scripts/bench_snapshot_reads.py; none over 15 ms in pieces)."""
    conn.execute(SNAPSHOTS.insert().values(id=META_ID, size=size, data=func.zeroblob(len(data))))
    driver = conn.connection.driver_connection  # the sqlite3.Connection of this transaction
    if driver is None:  # pragma: no cover - a connection inside a transaction always has one
        raise StoreUnavailable("the database connection was closed while writing the start-up snapshot")
    view = memoryview(data)
    with driver.blobopen(SNAPSHOTS.name, "data", META_ID) as blob:  # id is the table's rowid
        for at in range(0, len(data), _BLOB_PIECE):
            blob.write(view[at : at + _BLOB_PIECE])


def _require_sqlite_file(url: str) -> None:
    """Opening an SQLite URL creates its file; without `create`, refuse a file that does not exist."""
    parsed = parse_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return
    if not Path(database).exists():
        raise NoLog(f"no database at {database} (run `registry init` first)")
