"""`SqlNodeStore`: the `crypto.nodestore.NodeStore` of a log, over the `tree_nodes` table (protocol §5.1, §5.6).

Node (level, index) is the hash of the perfect subtree over leaves [index * 2**level, (index + 1) * 2**level).
Reads batch every key of one proof into one query. The sequencer writes nodes with their leaves in
`Store.append`; `put_nodes` is the stand-alone form the `NodeStore` protocol asks for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from sqlalchemy import Engine, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from crypto.errors import BadProof
from crypto.nodestore import NodeKey, NodeRun

from .db import WRITE_OPTION
from .errors import StoreError, StoreUnavailable
from .models import NODES

__all__ = ["SqlNodeStore", "db_errors"]

_NODE_CHUNK: Final = 400  # (level, index) pairs per query: far below every bound-parameter limit
_LEVEL_CHUNK: Final = 8192


@contextmanager
def db_errors(what: str) -> Iterator[None]:
    """Turn driver and SQLAlchemy errors into `StoreUnavailable`; let our typed errors through."""
    try:
        yield
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        # The message names the operation and the error class, never the statement or its parameters.
        raise StoreUnavailable(f"the database failed to {what} ({type(exc).__name__})") from exc


class SqlNodeStore:
    """A `crypto.nodestore.NodeStore` over the `tree_nodes` table. Reads need no lock; see `put_nodes`."""

    __slots__ = ("_engine",)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        """See `NodeStore.get_nodes`: one query per 400 keys.

        Raises:
            BadProof (`bad_proof`): a node is absent.
            StoreUnavailable (`unavailable`): the database failed.
        """
        if not keys:
            return []
        found: dict[NodeKey, bytes] = {}
        with db_errors("read tree nodes"), self._engine.connect() as conn:
            wanted = sorted(set(keys))
            for start in range(0, len(wanted), _NODE_CHUNK):
                found.update(_fetch_nodes(conn, wanted[start : start + _NODE_CHUNK]))
        missing = [k for k in keys if k not in found]
        if missing:
            level, index = missing[0]
            raise BadProof(f"node ({level}, {index}) is not in the store")
        return [found[k] for k in keys]

    def put_nodes(self, runs: Sequence[NodeRun]) -> None:
        """See `NodeStore.put_nodes`: one transaction; a gap or a conflicting rewrite writes nothing.

        The sequencer does not call this: it writes nodes inside `Store.append`, with their leaves.

        Raises:
            BadProof (`bad_proof`): a gap, or a node already stored with another hash.
            StoreUnavailable (`unavailable`): the database failed.
        """
        items = dict(item for run in runs for item in run.items())
        if not items:
            return
        with db_errors("write tree nodes"), self._engine.connect().execution_options(**{WRITE_OPTION: True}) as conn:
            with conn.begin():
                wanted = sorted(set(items) | {(r.level, r.start - 1) for r in runs if r.start > 0})
                stored: dict[NodeKey, bytes] = {}
                for start in range(0, len(wanted), _NODE_CHUNK):
                    stored.update(_fetch_nodes(conn, wanted[start : start + _NODE_CHUNK]))
                for run in runs:
                    left = (run.level, run.start - 1)
                    if run.start > 0 and left not in stored and left not in items:
                        raise BadProof(f"node run at ({run.level}, {run.start}) would leave a gap")
                for key, value in items.items():
                    if key in stored and stored[key] != value:
                        raise BadProof(f"node ({key[0]}, {key[1]}) conflicts with the stored node")
                new = [{"level": k[0], "index": k[1], "hash": v} for k, v in sorted(items.items()) if k not in stored]
                if new:
                    conn.execute(NODES.insert(), new)

    def iter_level(self, level: int, start: int, end: int) -> Iterator[bytes]:
        """The stored nodes (level, start) to (level, end - 1), in index order, read in chunks.

        Raises:
            BadProof (`bad_proof`): a node in the range is absent.
            StoreUnavailable (`unavailable`): the database failed.
        """
        position = start
        while position < end:
            stop = min(end, position + _LEVEL_CHUNK)
            with db_errors("read tree nodes"), self._engine.connect() as conn:
                rows = conn.execute(
                    select(NODES.c.index, NODES.c.hash)
                    .where(NODES.c.level == level, NODES.c.index >= position, NODES.c.index < stop)
                    .order_by(NODES.c.index)
                ).all()
            for index, value in rows:
                if int(index) != position:
                    raise BadProof(f"node ({level}, {position}) is not in the store")
                position += 1
                yield bytes(value)
            if position < stop:
                raise BadProof(f"node ({level}, {position}) is not in the store")


def _fetch_nodes(conn: Connection, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
    rows = conn.execute(
        select(NODES.c.level, NODES.c.index, NODES.c.hash).where(tuple_(NODES.c.level, NODES.c.index).in_(keys))
    )
    return {(int(level), int(index)): bytes(h) for level, index, h in rows}
