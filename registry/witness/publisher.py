"""The published checkpoint of a log served with witnesses (protocol §6.3-b to §6.3-d).

The sequencer commits entries under a checkpoint signed by the log alone. With witnesses configured,
that checkpoint is not yet public: `Publisher.publish` sends it to the witnesses in parallel
(`WitnessPool`), and once `quorum` verified cosignatures are attached it becomes the published
checkpoint, the one `GET /checkpoint` serves and the receipts of its batch carry. When the quorum is
not reached, `publish` raises `QuorumUnavailable`; the entries stay committed, and a retry thread keeps
offering the newest checkpoint to the witnesses until one reaches the quorum, so that witnesses that
come back catch up from the size they hold (through their 409, §6.2-f).

The published checkpoint is also written to DIR/checkpoint.cosigned (atomically, fsynced), so that a
restarted server serves it at once; at startup the file is used only if it verifies under the log key
and the configured witnesses, and names a tree the store holds.

Without witnesses the log's own checkpoint is published as it is.

Shell code: threads, one file, the witness client. Owner of `_published`: this object, under `_lock`;
one collection at a time under `_collect_lock`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

import httpx

from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.cosignature import verify_cosignatures
from crypto.errors import CryptoError
from crypto.note import parse_note
from crypto.notekey import NoteVerifier

from ..atomic import write_atomic
from ..errors import ErrorCode, RegistryError, Rejection
from .client import DEFAULT_TIMEOUT_S, Collected, ProofFn, QuorumUnavailable, WitnessPool
from .config import WitnessConfig

__all__ = ["PUBLISHED_FILE", "RETRY_INTERVAL_S", "Publisher"]

PUBLISHED_FILE: Final = "checkpoint.cosigned"
"""The published (cosigned) checkpoint, in the log's data directory."""
RETRY_INTERVAL_S: Final = 1.0
"""How often an unpublished checkpoint is offered to the witnesses again."""

_MAX_FILE: Final = 1 << 20


class Publisher:
    """Publishes a log's checkpoints once its witnesses' quorum has cosigned them. See the module
    docstring for the ownership of the published checkpoint."""

    def __init__(
        self,
        log_verifier: NoteVerifier,
        config: WitnessConfig,
        proof_fn: ProofFn,
        *,
        directory: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        grace: float = 0.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._verifier: Final = log_verifier
        self.config: Final = config
        self._path: Final = None if directory is None else Path(directory) / PUBLISHED_FILE
        self._pool: Final = (
            WitnessPool(config.endpoints, config.quorum, proof_fn, timeout=timeout, grace=grace, transport=transport)
            if config.witnesses
            else None
        )
        self._lock: Final = threading.Lock()
        self._collect_lock: Final = threading.Lock()
        self._published: bytes | None = None
        self._published_size = -1
        self._stop: Final = threading.Event()
        self._retry: threading.Thread | None = None

    @property
    def witnessed(self) -> bool:
        """Whether checkpoints go through witnesses before they are published."""
        return self._pool is not None

    @property
    def published(self) -> bytes | None:
        """The latest published checkpoint note, or None while there is none."""
        return self._published

    @property
    def published_size(self) -> int:
        """The tree size of the published checkpoint; -1 while there is none."""
        return self._published_size

    @property
    def witness_sizes(self) -> dict[str, int]:
        """The size each witness last acknowledged (empty without witnesses)."""
        return {} if self._pool is None else dict(self._pool.sizes)

    def _open(self, note: bytes) -> Checkpoint:
        try:
            cp, _ = open_checkpoint(note, self._verifier)
        except CryptoError as exc:
            raise RegistryError(Rejection(ErrorCode.BAD_SIGNATURE, f"not a checkpoint of this log: {exc.message}",
                                          "6.3-b")) from None
        return cp

    def restore(self, root_at: Callable[[int], bytes | None]) -> bool:
        """At startup: take the persisted published checkpoint if it still holds (protocol §6.3-b).

        It must verify under the log key, carry the quorum of the configured witnesses, and name a tree
        size the store holds with the same root hash (`root_at(size)`, None beyond the tree).

        Returns:
            Whether a checkpoint was restored.
        """
        if self._path is None or self._pool is None:
            return False
        try:
            with open(self._path, "rb") as file:
                note = file.read(_MAX_FILE + 1)
        except OSError:
            return False
        try:
            cp = self._open(note)
            verify_cosignatures(parse_note(note), [w.verifier for w in self.config.witnesses], self.config.quorum)
        except (RegistryError, CryptoError):
            return False
        if root_at(cp.size) != cp.root_hash:
            return False
        with self._lock:
            if cp.size > self._published_size:
                self._published, self._published_size = note, cp.size
        return True

    def publish(self, note: bytes) -> bytes:
        """Publish a log-signed checkpoint once `quorum` witnesses have cosigned it (protocol §6.3-b).

        One collection runs at a time (`_collect_lock`): the batcher's and the retry thread's never
        race each other to the witnesses. A checkpoint at or below the published size is answered with
        the published note, which covers it.

        Returns:
            The published note: `note` itself without witnesses; else `note` with the cosignatures, or
            the published checkpoint when it is at least as large.

        Raises:
            QuorumUnavailable (`witness_quorum_unavailable`): fewer than `quorum` witnesses cosigned in
                time; nothing was published (protocol §6.3-c).
            RegistryError (`bad_signature`): `note` is not a checkpoint of this log.
        """
        cp = self._open(note)
        if self._pool is None:
            self._set(note, cp.size)
            return note
        with self._collect_lock:
            published = self._published
            if published is not None and cp.size <= self._published_size:
                # Already published at this size, or a later checkpoint is (the retry thread's): that
                # one covers every entry of `note`, and witnesses never cosign below what they hold.
                return published
            collected: Collected = self._pool.collect(note)
            self._persist(collected.note, cp.size)
            self._set(collected.note, cp.size)
        return collected.note

    def _set(self, note: bytes, size: int) -> None:
        with self._lock:
            # Never move the published checkpoint back: a retry of an older one may finish last.
            if size >= self._published_size:
                self._published, self._published_size = note, size

    def _persist(self, note: bytes, size: int) -> None:
        """Write the cosigned note to DIR/checkpoint.cosigned (atomic, fsynced). Best effort: a failure
        only means a restarted server re-collects cosignatures."""
        if self._path is None:
            return
        with self._lock:
            if size < self._published_size:
                return
            with contextlib.suppress(OSError):
                write_atomic(self._path, note, mode=0o644)

    def start_retries(self, latest: Callable[[], bytes | None], interval_s: float = RETRY_INTERVAL_S) -> None:
        """Start the thread that offers the newest checkpoint again while it is not published
        (protocol §6.3-c, §6.3-d). `latest()` gives the log's newest signed checkpoint."""
        if self._pool is None or self._retry is not None:
            return

        def run() -> None:
            while True:
                note = latest()
                if note is not None:
                    with contextlib.suppress(QuorumUnavailable, RegistryError):
                        if self._open(note).size > self._published_size:
                            self.publish(note)
                if self._stop.wait(interval_s):
                    return

        self._retry = threading.Thread(target=run, name="witness-retry", daemon=True)
        self._retry.start()

    def close(self) -> None:
        """Stop the retry thread and the witness pool."""
        self._stop.set()
        if self._retry is not None:
            self._retry.join()
        if self._pool is not None:
            self._pool.close()
