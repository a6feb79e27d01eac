"""The witness's own state: per log origin, the latest tree size and root hash it cosigned
(protocol §6.2-c, §6.2-d).

One small SQLite file in the witness directory, opened with `journal_mode=WAL` and `synchronous=FULL`
so that a cosignature is never returned for a state that a power cut could undo. The only write is a
compare-and-swap: `advance(origin, expected, new)` replaces the stored head only if it still equals
`expected`, inside one `BEGIN IMMEDIATE` transaction, so that two concurrent requests (threads of one
process, or two processes on one file) can never both advance it from the same head. That is what
keeps a witness from cosigning two different roots for one size.

Shell code (sqlite3, files). No clock, no network, no cryptography: the caller verifies before it
advances.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..errors import ErrorCode, RegistryError, Rejection

__all__ = ["BUSY_TIMEOUT_MS", "STATE_FILE", "WitnessState", "WitnessedHead"]

STATE_FILE: Final = "state.sqlite3"
"""The state database's name inside the witness directory."""
BUSY_TIMEOUT_MS: Final = 10_000
"""How long a connection waits for another writer's lock before giving up."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS witnessed (
    origin TEXT PRIMARY KEY NOT NULL,
    tree_size INTEGER NOT NULL CHECK (tree_size >= 0),
    root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
    checkpoint BLOB NOT NULL
) STRICT
"""


@dataclass(frozen=True, slots=True)
class WitnessedHead:
    """The latest checkpoint a witness cosigned for one origin: its size, root hash, and the log-signed
    note with the log's own verified signature lines only (kept as evidence should the log later sign an
    inconsistent one, §6.4; other signature lines carry key names a client chose, so they are dropped)."""

    origin: str
    size: int
    root_hash: bytes
    checkpoint: bytes


def _unavailable(message: str) -> RegistryError:
    return RegistryError(Rejection(ErrorCode.UNAVAILABLE, message, "6.2-c"))


class WitnessState:
    """The state file of one witness.

    Owner of the connection: this object; `_lock` serializes its use by the server's threads. The
    compare-and-swap itself is done by SQLite (`BEGIN IMMEDIATE`), so it also holds between two
    `WitnessState` objects, or two processes, on the same file.
    """

    __slots__ = ("_conn", "_lock", "path")

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn: Final = conn
        self._lock: Final = threading.Lock()
        self.path: Final = path

    @classmethod
    def open(cls, path: Path) -> WitnessState:
        """Open (creating when missing) the state file at `path`, durable settings checked.

        Raises:
            RegistryError (`unavailable`): the file cannot be opened, or WAL or synchronous=FULL did
                not take (a filesystem that cannot honour them).
        """
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous = FULL")
            synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
            conn.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise _unavailable(f"cannot open the witness state {path}: {exc}") from None
        # protocol §6.2-c: persist before cosigning, durably; refuse a file that would not be durable.
        if str(mode).lower() != "wal" or int(synchronous) < 2:
            conn.close()
            raise _unavailable(f"the witness state {path} cannot be opened with WAL and synchronous=FULL")
        return cls(conn, Path(path))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> WitnessState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def latest(self, origin: str) -> WitnessedHead | None:
        """The latest head cosigned for `origin`, or None if the witness never cosigned for it.

        Raises:
            RegistryError (`unavailable`): the database cannot be read.
        """
        with self._lock:
            try:
                return self._read(origin)
            except sqlite3.Error as exc:
                raise _unavailable(f"cannot read the witness state: {exc}") from None

    def origins(self) -> tuple[WitnessedHead, ...]:
        """Every stored head, ordered by origin."""
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT origin, tree_size, root_hash, checkpoint FROM witnessed ORDER BY origin"
                ).fetchall()
            except sqlite3.Error as exc:
                raise _unavailable(f"cannot read the witness state: {exc}") from None
        return tuple(WitnessedHead(str(o), int(s), bytes(r), bytes(c)) for o, s, r, c in rows)

    def advance(self, expected: WitnessedHead | None, new: WitnessedHead) -> bool:
        """Replace the head of `new.origin` with `new` if it still equals `expected` (None: no head yet).

        Compare and persist are one transaction (protocol §6.2-c). The caller has checked that `new`
        is consistent with `expected`. When `new` equals the stored head nothing is written and the
        answer is True.

        Returns:
            True when the stored head is now `new`; False when another request changed it first (the
            caller re-reads and answers 409).

        Raises:
            RegistryError (`unavailable`): the database cannot be written.
        """
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    current = self._read(new.origin)
                    if _same_tree(current, new):
                        self._conn.execute("ROLLBACK")
                        return True
                    if not _same_tree(current, expected):
                        self._conn.execute("ROLLBACK")
                        return False
                    self._conn.execute(
                        "INSERT INTO witnessed (origin, tree_size, root_hash, checkpoint) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (origin) DO UPDATE SET tree_size = excluded.tree_size, "
                        "root_hash = excluded.root_hash, checkpoint = excluded.checkpoint",
                        (new.origin, new.size, new.root_hash, new.checkpoint),
                    )
                    # If the process dies before COMMIT returns, the old head survives and no
                    # cosignature was sent; once it returns, the new head survives a power cut (FULL).
                    self._conn.execute("COMMIT")
                    return True
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _unavailable(f"cannot write the witness state: {exc}") from None

    def _read(self, origin: str) -> WitnessedHead | None:
        row = self._conn.execute(
            "SELECT tree_size, root_hash, checkpoint FROM witnessed WHERE origin = ?", (origin,)
        ).fetchone()
        if row is None:
            return None
        return WitnessedHead(origin, int(row[0]), bytes(row[1]), bytes(row[2]))


def _same_tree(a: WitnessedHead | None, b: WitnessedHead | None) -> bool:
    """Whether two heads name the same tree (size and root hash); the stored note may differ (other
    cosignature lines) without changing what was witnessed."""
    if a is None or b is None:
        return a is b
    return a.size == b.size and a.root_hash == b.root_hash
