"""Data directories for the client and remote-audit tests: a log key from a fixed seed, a genesis policy
from `tests.factory`, and entries appended in bulk through the real sequencer. Test helper, not a test
module."""

from __future__ import annotations

import hashlib
from pathlib import Path

from crypto.keys import SigningKey
from crypto.notekey import NoteSigner
from registry.datadir import create_data_dir, open_data_dir
from registry.sequencer import Receipt, Sequencer, init_log
from registry.statements import Params, format_entry, parse_leaf
from registry.store import Store
from tests.factory import ORIGIN, T0, Log, key

__all__ = ["BULK_PARAMS", "append", "bulk_log", "declarations", "log_key", "make_data_dir"]

BULK_PARAMS = Params(voucher_min_age_days=0, sponsor_required=False, rate_limit_per_day=100_000,
                     max_pending_members=1_000_000)
"""Parameters under which anyone may declare alone: many valid entries, cheaply."""

_BULK_NOW = T0 + 86_400_000


def log_key(label: str = "log") -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"registry client test log key {label}".encode()).digest())


def _store(directory: Path, *, create: bool = False) -> Store:
    return Store.open(open_data_dir(directory).database_url({}), writable=True, create=create)


def make_data_dir(directory: Path, log: Log, *, label: str = "log") -> str:
    """Create a data directory holding `log`'s genesis; return the log's vkey. Uses the SQLite default,
    whatever DATABASE_URL says."""
    data = create_data_dir(directory, ORIGIN, None, log_key(label))
    genesis = format_entry(parse_leaf(log.leaves[0]).entry)
    with _store(directory, create=True) as store:
        init_log(store, data.signer(), lambda: _BULK_NOW, genesis)
    return NoteSigner(ORIGIN, log_key(label)).vkey


def append(directory: Path, entries: list[bytes], now_ms: int = _BULK_NOW) -> list[Receipt]:
    """Append entries in one batch through the sequencer; every one must be accepted."""
    data = open_data_dir(directory)
    with _store(directory) as store:
        sequencer = Sequencer.open(store, data.signer(), lambda: now_ms)
        results = sequencer.submit_batch(entries)
    receipts = [r for r in results if isinstance(r, Receipt)]
    if len(receipts) != len(entries):
        raise RuntimeError(f"entries refused: {[r for r in results if not isinstance(r, Receipt)]}")
    return receipts


def bulk_log() -> Log:
    """The standard test community with BULK_PARAMS."""
    return Log.standard(params=BULK_PARAMS)


def declarations(log: Log, first: int, count: int) -> list[bytes]:
    """`count` lone declarations by new keys key(first), key(first + 1), ..., applied to `log` too."""
    out = []
    for n in range(first, first + count):
        entry = log.declare(key(n), None)
        log.submit(entry)
        out.append(format_entry(entry))
    return out
