"""Database engines for a log's store, and the durability guard (protocol §5.6-e).

SQLite by default (one file in the data directory), PostgreSQL through a `postgresql+psycopg://` URL.
Every SQLite connection is set to `journal_mode=WAL`, `synchronous=FULL` and a `busy_timeout`, and its
transactions are begun by us (`BEGIN`, or `BEGIN IMMEDIATE` for a write, so that a writer takes the
write lock before it reads the tree size it will compare and swap).

The durability guard: an engine opened for writing checks every new connection and refuses it with
`NotDurable` when a commit would not survive a power cut: on SQLite when WAL or `synchronous=FULL`
(or EXTRA) did not take; on PostgreSQL when `fsync` or `synchronous_commit` is off. The check reads
settings only; `durability_problem` is the pure verdict over what was read.

Deliberately not here: tables (`models.py`) and queries (`store.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as _sa_create_engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.expression import text

from .errors import NotDurable, StoreUnavailable

__all__ = [
    "BUSY_TIMEOUT_MS",
    "ConnectHook",
    "create_engine",
    "display_url",
    "durability_problem",
    "parse_url",
    "read_durability_settings",
]

BUSY_TIMEOUT_MS: Final = 10_000
"""How long an SQLite connection waits for another writer's lock before giving up."""

WRITE_OPTION: Final = "registry_write"
"""Execution option that makes an SQLite transaction begin with `BEGIN IMMEDIATE`."""

ConnectHook = Callable[[Any], None]
"""Called with each new DB-API connection after our settings are applied and before the durability
check. Tests use it to simulate a setting that did not take; production passes none."""


def parse_url(url: str) -> URL:
    """Parse a database URL; only SQLite and PostgreSQL (psycopg) are accepted.

    Raises:
        StoreUnavailable (`unavailable`): a malformed URL or another database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUnavailable("the database URL is malformed") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreUnavailable("the database must be SQLite or PostgreSQL")
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() not in ("psycopg", ""):
        raise StoreUnavailable("a PostgreSQL URL must use the psycopg driver (postgresql+psycopg://)")
    return parsed


def display_url(url: str) -> str:
    """The URL with any password hidden: the only form that may appear in a message or a log line."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<malformed database URL>"


def durability_problem(dialect: str, settings: Mapping[str, str]) -> str | None:
    """Why commits on this connection would not be durable, or None when they are ([5.6-e]). Pure.

    Args:
        dialect: "sqlite" or "postgresql".
        settings: as `read_durability_settings` returns them (lowercase values).
    """
    if dialect == "sqlite":
        mode = settings.get("journal_mode", "")
        if mode != "wal":
            return f"SQLite journal_mode is {mode or 'unknown'}, expected wal"
        sync = settings.get("synchronous", "")
        if sync not in ("2", "3"):  # 2 = FULL, 3 = EXTRA
            return f"SQLite synchronous is {sync or 'unknown'}, expected 2 (FULL) or 3 (EXTRA)"
        return None
    if dialect == "postgresql":
        if settings.get("fsync") != "on":
            return f"PostgreSQL fsync is {settings.get('fsync', 'unknown')}, expected on"
        if settings.get("synchronous_commit", "off") == "off":
            return "PostgreSQL synchronous_commit is off, expected on, local, remote_write or remote_apply"
        return None
    return f"no durability rule for database {dialect}"


def read_durability_settings(dialect: str, dbapi_connection: Any) -> dict[str, str]:
    """Read the settings `durability_problem` judges, from one DB-API connection."""
    names = ("journal_mode", "synchronous") if dialect == "sqlite" else ("fsync", "synchronous_commit")
    query = "PRAGMA {}" if dialect == "sqlite" else "SHOW {}"
    cursor = dbapi_connection.cursor()
    try:
        settings = {}
        for name in names:
            cursor.execute(query.format(name))
            row = cursor.fetchone()
            settings[name] = "" if row is None else str(row[0]).lower()
        return settings
    finally:
        cursor.close()


def _sqlite_connect(dbapi_connection: Any) -> None:
    # We issue BEGIN ourselves (see _sqlite_begin): the driver's implicit transactions would start a
    # write transaction lazily, after the reads it must be atomic with.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
    finally:
        cursor.close()


def create_engine(url: str, *, writable: bool, connect_hook: ConnectHook | None = None) -> Engine:
    """An engine for a store at `url`, with the settings and, when `writable`, the durability guard.

    Every new connection of a writable engine is checked; a connection whose commits would not be
    durable raises `NotDurable` and is never used.

    Raises:
        StoreUnavailable (`unavailable`): a malformed URL or an unsupported database.
    """
    parsed = parse_url(url)
    dialect = parsed.get_backend_name()
    if dialect == "sqlite":
        engine = _sa_create_engine(parsed, connect_args={"check_same_thread": False})
    else:
        engine = _sa_create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if dialect == "sqlite":
            _sqlite_connect(dbapi_connection)
        if connect_hook is not None:
            connect_hook(dbapi_connection)
        if writable:
            problem = durability_problem(dialect, read_durability_settings(dialect, dbapi_connection))
            if problem is not None:
                dbapi_connection.close()
                raise NotDurable(f"refusing to write: {problem}")
        if dialect == "postgresql":
            # Keep session settings made above; end the transaction psycopg opened for them.
            dbapi_connection.commit()

    if dialect == "sqlite":

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def ping(engine: Engine) -> None:
    """Open one connection (running the durability guard of a writable engine) and run `SELECT 1`."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
