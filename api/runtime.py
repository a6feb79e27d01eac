"""What a running server holds: the opened log (store and sequencer) and the batcher (protocol §9).

Ownership (STYLE §2): the app's lifespan is the only writer of a `Runtime`: it fills it once at
startup, before the first request is served, and empties it at shutdown. Request handlers only read
it. Before startup and after shutdown every accessor answers `unavailable` (503).

Deliberately not here: routes, and opening a data directory (`api.app`).
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.errors import ErrorCode, RegistryError, Rejection
from registry.sequencer import Sequencer
from registry.store import Store
from registry.witness.publisher import Publisher

from .batcher import Batcher

__all__ = ["OpenedLog", "Runtime"]

_NOT_SERVING = Rejection(ErrorCode.UNAVAILABLE, "the server is starting or stopping", "")


@dataclass(frozen=True, slots=True)
class OpenedLog:
    """A log opened for serving: its store (for tile reads), the sequencer that writes it, and, for a
    log with witnesses (protocol §6.3), the publisher that holds its published checkpoint."""

    store: Store
    sequencer: Sequencer
    publisher: Publisher | None = None

    @property
    def published_checkpoint(self) -> bytes | None:
        """The checkpoint `GET /checkpoint` serves: with witnesses, the latest one that reached its
        quorum (protocol §6.3-b); without, the sequencer's latest."""
        if self.publisher is not None and self.publisher.witnessed:
            return self.publisher.published
        return self.sequencer.latest_checkpoint


class Runtime:
    """The log and batcher of one app; see the module docstring for who writes it."""

    __slots__ = ("_batcher", "_log")

    def __init__(self) -> None:
        self._log: OpenedLog | None = None
        self._batcher: Batcher | None = None

    def attach(self, log: OpenedLog, batcher: Batcher) -> None:
        self._log, self._batcher = log, batcher

    def detach(self) -> None:
        self._log, self._batcher = None, None

    @property
    def log(self) -> OpenedLog:
        """Raises RegistryError (`unavailable`) when not serving."""
        if self._log is None:
            raise RegistryError(_NOT_SERVING)
        return self._log

    @property
    def sequencer(self) -> Sequencer:
        return self.log.sequencer

    @property
    def batcher(self) -> Batcher:
        """Raises RegistryError (`unavailable`) when not serving."""
        if self._batcher is None:
            raise RegistryError(_NOT_SERVING)
        return self._batcher
