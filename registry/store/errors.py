"""Typed errors of the storage layer and the sequencer (protocol §5.6).

Each is a `RegistryError` with a stable code, so the CLI prints `error: <code>: <message>` and the API
maps it through its one table. Messages name sizes and settings, never URLs with passwords, keys or
personal data.

The codes are chosen among the existing `ErrorCode` values: `unavailable` for a store that must not
be written (not durable, or another sequencer won the write), `audit_mismatch` for a stored log that
does not match its own checkpoint. Each error is its own class so that callers and tests can tell
them apart without reading messages.
"""

from __future__ import annotations

from ..errors import ErrorCode, RegistryError, Rejection

__all__ = ["LogExists", "NoLog", "NotDurable", "StoreError", "StoreMismatch", "StoreUnavailable", "WriteConflict"]


class StoreError(RegistryError):
    """Root of the storage layer's errors."""


class NotDurable(StoreError):
    """The database would not make a commit durable: refused before anything is written ([5.6-e])."""

    def __init__(self, message: str) -> None:
        super().__init__(Rejection(ErrorCode.UNAVAILABLE, message, "5.6-e"))


class WriteConflict(StoreError):
    """Another sequencer appended first (the stored tree size moved): nothing was written ([5.6-g])."""

    def __init__(self, message: str) -> None:
        super().__init__(Rejection(ErrorCode.UNAVAILABLE, message, "5.6-g"))


class StoreMismatch(StoreError):
    """The stored log disagrees with itself or with its latest checkpoint: the sequencer refuses to start."""

    def __init__(self, message: str) -> None:
        super().__init__(Rejection(ErrorCode.AUDIT_MISMATCH, message, "5.6-h"))


class NoLog(StoreError):
    """The database holds no log (never initialized), or one of an unsupported schema version."""

    def __init__(self, message: str) -> None:
        super().__init__(Rejection(ErrorCode.NOT_FOUND, message, "5.6-i"))


class LogExists(StoreError):
    """`initialize` on a database that already holds a non-empty log ([5.6-i])."""

    def __init__(self, message: str) -> None:
        super().__init__(Rejection(ErrorCode.UNAVAILABLE, message, "5.6-i"))


class StoreUnavailable(StoreError):
    """The database could not be reached or refused an operation (a lock timeout, a lost connection, a
    malformed URL). Whether a write that failed this way was committed is unknown to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(Rejection(ErrorCode.UNAVAILABLE, message, ""))
