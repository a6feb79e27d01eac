"""What the scripts' logs are made of: the shipped declaration texts, a relaxed policy and signed entries.

Public project APIs only (STYLE §1). Import it as `scriptlog` with scripts/ on sys.path, as
scripts/serverproc.py is imported.
"""

from __future__ import annotations

from typing import Final

from crypto.keys import SigningKey
from registry.cli.options import shipped_declarations
from registry.statements import Params, Statement, entry_from_statement, format_entry, sign_entry

__all__ = ["DECLARATIONS", "RELAXED", "signed"]

DECLARATIONS: Final = shipped_declarations()
"""The declaration texts shipped with the package, by language (registry/declarations/<lang>.txt)."""

RELAXED: Final = Params(
    vouch_threshold=1,
    voucher_min_age_days=0,
    vouch_quota=10_000,
    max_pending_vouchees=1000,
    rate_limit_per_day=100_000,
    max_pending_members=10_000_000,
)
"""A policy under which any interleaving of many sponsored declarations is accepted: for scripts whose
subject is not the rules (crashes, faults, throughput)."""


def signed(statement: Statement, *keys: SigningKey) -> bytes:
    """The canonical entry bytes of `statement` signed by each of `keys` (as each member's device would)."""
    entry = entry_from_statement(statement)
    for k in keys:
        entry = sign_entry(entry, k)
    return format_entry(entry)
