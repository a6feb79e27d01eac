"""The SQL tables of a log (protocol §5.6): entries, tree nodes, checkpoints and one meta row.

Four tables, and a fifth that is only a cache. Every column is either public (it is in the log, or
derivable from it: leaf bytes, their hashes, node hashes, signed checkpoints, the origin and the log's
public key) or bookkeeping about the log itself (schema version, tree size). There is no column for an
IP address, a request time, a user agent or anything a client sends outside its signed entry: a leaked
database says nothing the public log does not ([5.6-k]).

`snapshots` holds at most one start-up snapshot (protocol §9.1-i, `registry.snapshot`): the state the
sequencer replayed from the log at one of its tree sizes, with an authentication tag. Everything in it
is derived from the public log; the tag is keyed by a secret derived from the log's signing key and
reveals nothing about it. It is not in `TABLES`: it is created on the first write of a snapshot, and a
database without it is a database without a snapshot.

Table models never leave `registry/store/`: the API has its own response schemas.
"""

from __future__ import annotations

from typing import ClassVar, Final

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, SmallInteger, String, Table
from sqlmodel import Field, SQLModel

__all__ = ["SCHEMA_VERSION", "SNAPSHOTS", "TABLES", "CheckpointRow", "EntryRow", "MetaRow", "NodeRow", "SnapshotRow"]

SCHEMA_VERSION: Final = 1
"""The schema this code reads and writes; a store of another version is refused at open."""

META_ID: Final = 1


class EntryRow(SQLModel, table=True):
    """One leaf of the log: its index (the tree position), the leaf bytes exactly as hashed, and two
    values derived from them, kept as columns for lookups (duplicate refusal, time queries)."""

    __tablename__: ClassVar[str] = "entries"

    index: int = Field(sa_column=Column("index", BigInteger, primary_key=True, autoincrement=False))
    leaf: bytes = Field(sa_column=Column("leaf", LargeBinary, nullable=False))
    payload_hash: bytes = Field(sa_column=Column("payload_hash", LargeBinary(32), nullable=False, unique=True))
    logged_ms: int = Field(sa_column=Column("logged_ms", BigInteger, nullable=False))


class NodeRow(SQLModel, table=True):
    """The hash of the perfect subtree (level, index): leaves [index * 2**level, (index + 1) * 2**level)."""

    __tablename__: ClassVar[str] = "tree_nodes"

    level: int = Field(sa_column=Column("level", SmallInteger, primary_key=True, autoincrement=False))
    index: int = Field(sa_column=Column("index", BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column("hash", LargeBinary(32), nullable=False))


class CheckpointRow(SQLModel, table=True):
    """The signed checkpoint note of one tree size. The primary key makes a second note for the same
    size impossible to store ([5.6-f])."""

    __tablename__: ClassVar[str] = "checkpoints"

    size: int = Field(sa_column=Column("size", BigInteger, primary_key=True, autoincrement=False))
    note: bytes = Field(sa_column=Column("note", LargeBinary, nullable=False))


class MetaRow(SQLModel, table=True):
    """The single row (id 1) describing the log: origin, the log's verifier key, the schema version, and
    the tree size that every append compares and swaps ([5.6-g])."""

    __tablename__: ClassVar[str] = "meta"

    id: int = Field(sa_column=Column("id", Integer, primary_key=True, autoincrement=False))
    schema_version: int = Field(sa_column=Column("schema_version", Integer, nullable=False))
    origin: str = Field(sa_column=Column("origin", String(255), nullable=False))
    log_vkey: str = Field(sa_column=Column("log_vkey", String(512), nullable=False))
    tree_size: int = Field(sa_column=Column("tree_size", BigInteger, nullable=False))


class SnapshotRow(SQLModel, table=True):
    """The one start-up snapshot (id 1): the tree size it was taken at and its bytes (tag, header and
    the replayed state; `registry.snapshot`). A cache: deleting the row only makes the next start
    replay the whole log."""

    __tablename__: ClassVar[str] = "snapshots"

    id: int = Field(sa_column=Column("id", Integer, primary_key=True, autoincrement=False))
    size: int = Field(sa_column=Column("size", BigInteger, nullable=False))
    data: bytes = Field(sa_column=Column("data", LargeBinary, nullable=False))


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    if not isinstance(table, Table):  # pragma: no cover - SQLModel always builds a Table
        raise TypeError("not a table model")
    return table


ENTRIES: Final = _table(EntryRow)
NODES: Final = _table(NodeRow)
CHECKPOINTS: Final = _table(CheckpointRow)
META: Final = _table(MetaRow)
TABLES: Final = (ENTRIES, NODES, CHECKPOINTS, META)
"""Every table of a log, in creation order."""
SNAPSHOTS: Final = _table(SnapshotRow)
"""The start-up snapshot cache, created on first write (not one of `TABLES`)."""
