"""Storage of a log (protocol §5.6): SQL tables, engines with the durability guard, and the `Store`.

Part of the registry's shell: it imports the core, never the other way round. SQLModel types stay
inside this package.
"""

from __future__ import annotations

from .db import create_engine, display_url, durability_problem, read_durability_settings
from .errors import LogExists, NoLog, NotDurable, StoreError, StoreMismatch, StoreUnavailable, WriteConflict
from .nodes import SqlNodeStore
from .store import STEPS, Append, Faults, LogMeta, NoFaults, Store, StoredEntry

__all__ = [
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
