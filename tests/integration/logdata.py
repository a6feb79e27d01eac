"""Deterministic entries for storage, sequencer and CLI tests: keys from fixed seeds, a genesis policy,
sponsored declarations and countersigned vouches. Test helper, not a test module."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from crypto.keys import SigningKey
from crypto.notekey import NoteSigner
from registry.cli.options import shipped_declarations
from registry.statements import (
    Declare,
    Entry,
    MemberId,
    Params,
    PolicyStatement,
    Reason,
    Revoke,
    Statement,
    Vouch,
    declaration_hash,
    entry_from_statement,
    format_entry,
    sign_entry,
)
from registry.store import Store
from tests.conftest import postgres_url

ORIGIN = "registry.example/log"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DECLARATIONS = shipped_declarations()


def key(label: str) -> SigningKey:
    """A signing key from a fixed seed."""
    return SigningKey.from_seed(hashlib.sha256(f"registry test key {label}".encode()).digest())


def log_signer(origin: str = ORIGIN, label: str = "log") -> NoteSigner:
    return NoteSigner(origin, key(label))


def _signed(statement: Statement, *keys: SigningKey) -> bytes:
    entry: Entry = entry_from_statement(statement)
    for k in keys:
        entry = sign_entry(entry, k)
    return format_entry(entry)


def genesis_entry(
    founders: list[SigningKey],
    council: list[SigningKey],
    *,
    threshold: int = 1,
    origin: str = ORIGIN,
    created_ms: int = T0,
    params: Params | None = None,
) -> bytes:
    stmt = PolicyStatement(
        origin=origin,
        created_ms=created_ms,
        version=0,
        founders=tuple(sorted(MemberId(k.public_key) for k in founders)),
        council=tuple(sorted(k.public_key for k in council)),
        threshold=threshold,
        declarations=dict(DECLARATIONS),
        params=params or Params(),
    )
    return _signed(stmt, *council[:threshold])


def declare_entry(member: SigningKey, sponsor: SigningKey, *, created_ms: int = T0, origin: str = ORIGIN) -> bytes:
    stmt = Declare(
        origin=origin,
        created_ms=created_ms,
        member=MemberId(member.public_key),
        declaration=declaration_hash(DECLARATIONS["en"]),
        commitment=None,
        sponsor=MemberId(sponsor.public_key),
    )
    return _signed(stmt, member, sponsor)


def vouch_entry(voucher: SigningKey, subject: SigningKey, *, created_ms: int = T0, origin: str = ORIGIN) -> bytes:
    stmt = Vouch(origin, created_ms, MemberId(voucher.public_key), MemberId(subject.public_key), None)
    return _signed(stmt, voucher, subject)


def revoke_entry(member: SigningKey, *, created_ms: int = T0, origin: str = ORIGIN) -> bytes:
    stmt = Revoke(origin, created_ms, MemberId(member.public_key), Reason.WITHDRAWN, None)
    return _signed(stmt, member)


@dataclass
class ManualClock:
    """An injected clock: returns `now`, which a test moves by hand."""

    now: int = T0

    def __call__(self) -> int:
        return self.now


@dataclass(frozen=True)
class Community:
    """Founders, a council, and a stream of new members' keys, all from fixed seeds."""

    founders: tuple[SigningKey, ...]
    council: tuple[SigningKey, ...]

    @classmethod
    def make(cls, founders: int = 3, council: int = 1) -> Community:
        return cls(
            tuple(key(f"founder {i}") for i in range(founders)),
            tuple(key(f"council {i}") for i in range(council)),
        )

    def genesis(self, origin: str = ORIGIN) -> bytes:
        return genesis_entry(list(self.founders), list(self.council), origin=origin)

    @staticmethod
    def member(i: int) -> SigningKey:
        return key(f"member {i}")


# --- database fixtures ------------------------------------------------------------------------------
# A test module imports `store_url_fixture` and `open_store_fixture`; pytest registers them under the
# names `store_url` and `open_store`.


def _postgres_schema_url(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(name="store_url", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a fresh, empty database: an SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.sqlite3'}"
        return
    base = postgres_url()
    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield _postgres_schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(name="open_store")
def open_store_fixture(store_url: str) -> Iterator[Callable[..., Store]]:
    """Open stores on the test's database (created on first use); all are closed at teardown."""
    opened: list[Store] = []

    def _open(**kwargs: Any) -> Store:
        kwargs.setdefault("create", True)
        store = Store.open(store_url, **kwargs)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()
