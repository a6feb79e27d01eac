"""Helpers for the API tests: a log on SQLite served by the in-process app, and an httpx client over
ASGI with the app's lifespan running. Test helper, not a test module."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from api.app import Settings, create_app
from api.runtime import OpenedLog
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.keys import SigningKey
from crypto.merkle import leaf_hash
from crypto.notekey import NoteVerifier
from crypto.proof import verify_inclusion
from registry.sequencer import Clock, Sequencer, init_log
from registry.statements import MemberId, Params, Statement, format_leaf, parse_entry
from registry.store import Faults, Store
from tests.integration.logdata import ORIGIN, T0, Community, ManualClock, _signed, genesis_entry, log_signer

# Generous limits so that a few founders can sponsor many members (each declared member is verified at
# once, since the sponsor's signature is the one vouch needed).
BUSY = Params(
    vouch_threshold=1,
    voucher_min_age_days=0,
    vouch_quota=10_000,
    rate_limit_per_day=100_000,
    max_pending_vouchees=1000,
)

BASE_URL = "http://registry.test"


@dataclass
class ServedLog:
    """A log in an SQLite file, its sequencer, and the community that founded it."""

    store: Store
    sequencer: Sequencer
    community: Community

    def app(self, settings: Settings | None = None) -> FastAPI:
        log = OpenedLog(self.store, self.sequencer)
        return create_app(lambda: contextlib.nullcontext(log), settings or Settings(batch_ms=5))


def new_log(
    tmp_path: Path,
    *,
    params: Params | None = None,
    founders: int = 3,
    council: int = 1,
    clock: Clock | None = None,
    sequencer_class: type[Sequencer] = Sequencer,
    faults: Faults | None = None,
) -> ServedLog:
    """A new log at tmp_path/log.sqlite3 with its genesis at index 0 (sequenced at T0 by default)."""
    community = Community.make(founders=founders, council=council)
    store = Store.open(f"sqlite:///{tmp_path / 'log.sqlite3'}", writable=True, create=True, faults=faults)
    clock = clock or ManualClock(T0)
    genesis = genesis_entry(list(community.founders), list(community.council), params=params)
    init_log(store, log_signer(), clock, genesis)
    store.close()
    # Reopen through `Sequencer.open` (as a server does), with the class the test asked for.
    store = Store.open(f"sqlite:///{tmp_path / 'log.sqlite3'}", writable=True, faults=faults)
    return ServedLog(store, sequencer_class.open(store, log_signer(), clock), community)


@contextlib.asynccontextmanager
async def api_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on `app` in this process, with the app started (lifespan) and stopped around it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client


def signed(statement: Statement, *keys: SigningKey) -> bytes:
    """Canonical entry bytes of `statement` signed by `keys`."""
    return _signed(statement, *keys)


def member_id(k: SigningKey) -> MemberId:
    return MemberId(k.public_key)


def check_receipt(
    body: dict[str, Any], entry: bytes, *, origin: str = ORIGIN, verifier: NoteVerifier | None = None
) -> Checkpoint:
    """Verify a 201 body as a client must ([9.2-a], [9.2-b]); returns the checkpoint it carries.
    `verifier` is the log's key (default: the fixed test key of `log_signer`)."""
    verifier = verifier or log_signer(origin).verifier
    checkpoint, _ = open_checkpoint(str(body["checkpoint"]).encode("utf-8"), verifier, origin=origin)
    index, size, logged_ms = int(body["index"]), int(body["tree_size"]), int(body["logged_ms"])
    assert checkpoint.size == size > index
    expected = leaf_hash(format_leaf(index, logged_ms, parse_entry(entry)))
    assert body["leaf_hash"] == expected.hex()
    proof = [bytes.fromhex(h) for h in body["inclusion_proof"]]
    verify_inclusion(expected, index, size, proof, checkpoint.root_hash)
    return checkpoint

