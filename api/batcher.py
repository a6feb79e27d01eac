"""The batching task: the one caller of the sequencer's writes (protocol §9.2-d, §9.1-d, §5.6).

Statements submitted over HTTP wait in a bounded queue. A batch starts when a statement arrives while
none is waiting; it is handed to `Sequencer.submit_batch` when it holds `max_batch` statements or
`batch_ms` after it started, whichever comes first. The sequencer commits the whole batch in one
transaction under one checkpoint signature; for a log with witnesses the publisher then collects their
quorum of cosignatures on that checkpoint (protocol §6.3-b), and only then are the waiting requests
answered (with 503 `witness_quorum_unavailable` when the quorum is not reached, §6.3-c).

Ownership (STYLE §2): the event loop owns `_pending`, `_wake` and `_closing` (written only from
coroutines on that loop, so no lock). The sequencer's writes belong to this task alone: it calls
`submit_batch` on its own one-thread executor (awaited before the next batch), so the event loop
stays free for reads while a batch commits, and the writer never waits behind reads queued on a
shared thread pool. Request handlers only read the sequencer's published snapshot.

Deliberately not here: HTTP, status codes, the rules (the sequencer runs them).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Final

from registry.errors import ErrorCode, RegistryError, Rejection
from registry.sequencer import Receipt, Sequencer
from registry.witness.client import QuorumUnavailable
from registry.witness.publisher import Publisher

__all__ = ["DEFAULT_BATCH_MS", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_PENDING", "Batcher", "Sequenced"]

DEFAULT_BATCH_MS: Final = 250
DEFAULT_MAX_BATCH: Final = 256
DEFAULT_MAX_PENDING: Final = 1024

_log = logging.getLogger("api.batcher")

_QUEUE_FULL: Final = Rejection(
    ErrorCode.UNAVAILABLE, "too many statements are waiting to be sequenced; retry shortly", "9.1-d"
)
_CLOSED: Final = Rejection(ErrorCode.UNAVAILABLE, "the server is not sequencing statements now", "9.1-d")
_COMMIT_FAILED: Final = Rejection(
    ErrorCode.UNAVAILABLE,
    "the log could not commit this batch; resubmit (duplicate_entry means it was logged)",
    "9.2-c",
)


@dataclass(frozen=True, slots=True)
class Sequenced:
    """An accepted statement: the sequencer's receipt, its log time and the size of its checkpoint."""

    receipt: Receipt
    logged_ms: int
    tree_size: int


@dataclass(slots=True)
class _Pending:
    entry: bytes
    future: asyncio.Future[Sequenced | Rejection]
    arrived: float


class Batcher:
    """Collects submitted statements into batches and sequences them. See the module docstring."""

    def __init__(
        self,
        sequencer: Sequencer,
        *,
        batch_ms: int = DEFAULT_BATCH_MS,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_pending: int = DEFAULT_MAX_PENDING,
        publisher: Publisher | None = None,
    ) -> None:
        """Requires batch_ms >= 0 and 1 <= max_batch <= max_pending. With a `publisher` that has
        witnesses, a batch is answered only once its checkpoint reached their quorum (protocol §6.3-b)."""
        if batch_ms < 0 or not 1 <= max_batch <= max_pending:
            message = "batcher settings require batch_ms >= 0 and 1 <= max_batch <= max_pending"
            raise RegistryError(Rejection(ErrorCode.INTERNAL, message, ""))
        self._sequencer: Final = sequencer
        self._publisher: Final = publisher if publisher is not None and publisher.witnessed else None
        self._batch_s: Final = batch_ms / 1000
        self._max_batch: Final = max_batch
        self._max_pending: Final = max_pending
        self._pending: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    @property
    def waiting(self) -> int:
        """Statements queued and not yet handed to the sequencer."""
        return len(self._pending)

    def start(self) -> None:
        """Start the batching task on the running loop."""
        if self._task is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-sequencer")
            self._task = asyncio.get_running_loop().create_task(self._run(), name="registry-batcher")

    async def close(self) -> None:
        """Stop taking statements, sequence those already queued, and end the task."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, entry: bytes) -> Sequenced | Rejection:
        """Queue `entry` and wait until its batch is committed.

        Returns:
            `Sequenced` once the entry is durable under a signed checkpoint, or the `Rejection` of the
            rules engine (nothing written for it).

        Raises:
            RegistryError (`unavailable`): the queue is full ([9.1-d]), the batcher is not running, or
                the batch's commit failed (its outcome may be unknown: resubmit).
            RegistryError (`audit_mismatch`): the store disagrees with the sequencer.
        """
        if not self.running:
            raise RegistryError(_CLOSED)
        if len(self._pending) >= self._max_pending:  # protocol §9.1-d: bounded, never queue without limit
            raise RegistryError(_QUEUE_FULL)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Sequenced | Rejection] = loop.create_future()
        self._pending.append(_Pending(entry, future, loop.time()))
        # Wake the task only when it has something new to decide: a batch starts, or one is full.
        if len(self._pending) == 1 or len(self._pending) >= self._max_batch:
            self._wake.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            # protocol §9.2-d: the batch started when its first statement arrived; it is committed when
            # full or batch_ms after that, whichever is first (a batch that waited during the previous
            # commit may already be due).
            deadline = self._pending[0].arrived + self._batch_s
            while len(self._pending) < self._max_batch and not self._closing:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wake.clear()
                try:
                    async with asyncio.timeout(remaining):
                        await self._wake.wait()
                except TimeoutError:
                    break
            count = min(self._max_batch, len(self._pending))
            batch = [self._pending.popleft() for _ in range(count)]
            await self._commit(batch)

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            loop = asyncio.get_running_loop()
            entries = [p.entry for p in batch]
            results, logged_ms, tree_size, unpublished = await loop.run_in_executor(
                self._executor, self._sequence, entries
            )
        except RegistryError as exc:
            if exc.code is ErrorCode.UNAVAILABLE:
                _log.warning("a batch of %d statements was not committed: %s", len(batch), exc.code)
                error: RegistryError = RegistryError(_COMMIT_FAILED)
            else:
                _log.error("a batch of %d statements failed: %s", len(batch), exc.code)
                error = exc
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(error)
            return
        except Exception as exc:  # the task must survive to answer the next batch
            _log.error("a batch of %d statements failed", len(batch), exc_info=exc)
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(RegistryError(Rejection(ErrorCode.INTERNAL, "internal error", "")))
            return
        for p, result in zip(batch, results, strict=True):
            if p.future.done():  # the client went away; its statement was sequenced all the same
                continue
            if isinstance(result, Receipt):
                if unpublished is not None:
                    # protocol §6.3-c: logged, but its checkpoint lacks the witnesses' quorum: 503.
                    p.future.set_exception(unpublished)
                else:
                    p.future.set_result(Sequenced(result, logged_ms, tree_size))
            else:
                p.future.set_result(result)

    def _sequence(
        self, entries: list[bytes]
    ) -> tuple[list[Receipt | Rejection], int, int, RegistryError | None]:
        """In the worker thread: one `submit_batch`, then the log time and size it committed, and, with
        witnesses, the publication of its checkpoint (protocol §6.3-b).

        Only this task writes through the sequencer, so the snapshot read right after the call is the
        one the call published: every entry of a batch shares the batch's log time ([5.6-c]).

        Returns:
            The results (receipts carrying the cosigned checkpoint when the log has witnesses), the log
            time, the tree size, and the error to answer the batch's receipts with when the quorum was
            not reached (None otherwise).
        """
        results = self._sequencer.submit_batch(entries)
        state = self._sequencer.state
        logged_ms, size = (0 if state is None else state.last_logged_ms), self._sequencer.size
        note = self._sequencer.latest_checkpoint
        if self._publisher is None or note is None or not any(isinstance(r, Receipt) for r in results):
            return results, logged_ms, size, None
        # The entries are committed: if the process dies here they are in the log, unanswered, and the
        # publisher offers the checkpoint again after a restart. Nobody has been told they are logged.
        try:
            cosigned = self._publisher.publish(note)
        except QuorumUnavailable as exc:
            _log.warning("a batch of %d statements is logged but its checkpoint lacks the witness quorum",
                         len(entries))
            return results, logged_ms, size, RegistryError(exc.rejection)
        witnessed = [replace(r, checkpoint=cosigned) if isinstance(r, Receipt) else r for r in results]
        return witnessed, logged_ms, size, None
