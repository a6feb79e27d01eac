"""The membership registry: statements, the rules engine, state and replay (the pure core), and the
shell around it (storage, sequencer, client, CLI). See docs/protocol.md."""

from __future__ import annotations

from typing import Final

from .errors import ErrorCode, RegistryError, Rejected, Rejection

__all__ = ["PROTOCOL_VERSION", "ErrorCode", "RegistryError", "Rejected", "Rejection"]

PROTOCOL_VERSION: Final = "1.0-draft"
"""Equals the version in docs/protocol.md §0 (a test compares them)."""
