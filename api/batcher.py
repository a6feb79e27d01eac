"""The batching task: the one caller of the sequencer's writes (protocol §9.2-d, §9.1-d, §5.6).

Statements submitted over HTTP wait in a bounded queue. A batch starts when a statement arrives while
none is waiting; it is handed to `Sequencer.submit_batch` when it holds `max_batch` statements or
`batch_ms` after it started, whichever comes first. The sequencer commits the whole batch in one
transaction under one checkpoint signature, and only then are the waiting requests answered.

For a log with witnesses (protocol §6.3-b), a committed batch's receipts wait in a second stage, the
publishing task: it takes every batch committed so far, has the publisher collect the witnesses'
quorum on the newest of their checkpoints (which covers them all), and answers each receipt with that
cosigned checkpoint and an inclusion proof for its size. Publishing runs beside the next commits, so
the witnesses' round trip overlaps the sequencer's work instead of adding to it. When the quorum is
not reached, those receipts are answered 503 `witness_quorum_unavailable` (§6.3-c): the statements
are logged, and a resubmission learns its index (`duplicate_entry`).

Ownership (STYLE §2): the event loop owns `_pending`, `_wake`, `_closing`, `_committed` and
`_published_wake` (written only from coroutines on that loop, so no lock). The sequencer's writes
belong to this task alone: it calls `submit_batch` on its own one-thread executor (awaited before
the next batch), so the event loop stays free for reads while a batch commits, and the writer never
waits behind reads queued on a shared thread pool. Request handlers only read the sequencer's
published snapshot.

Deliberately not here: HTTP, status codes, the rules (the sequencer runs them).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Final

from crypto.checkpoint import parse_checkpoint
from crypto.note import parse_note
from registry.errors import ErrorCode, RegistryError, Rejected, Rejection
from registry.sequencer import Receipt, Sequencer
from registry.statements import VerifiedEntry, parse_entry, verify_entry
from registry.witness.client import QuorumUnavailable
from registry.witness.publisher import Publisher

__all__ = ["DEFAULT_BATCH_MS", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_PENDING", "Batcher", "Sequenced"]

DEFAULT_BATCH_MS: Final = 250
DEFAULT_MAX_BATCH: Final = 256
DEFAULT_MAX_PENDING: Final = 1024
_ANSWER_CHUNK: Final = 16
"""Answers given per turn of the event loop when a batch is committed (see `_commit`)."""

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
    entry: VerifiedEntry  # admitted: the sequencer does not parse or verify it again (§9.2-f)
    future: asyncio.Future[Sequenced | Rejection]
    arrived: float


@dataclass(slots=True)
class _Committed:
    """A committed batch whose receipts wait for its checkpoint to be published (witnessed logs)."""

    waiting: list[tuple[_Pending, Receipt]]
    logged_ms: int
    tree_size: int
    checkpoint: bytes


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
        self._committed: deque[_Committed] = deque()
        self._published_wake = asyncio.Event()
        self._publishing: asyncio.Task[None] | None = None
        self._publish_executor: ThreadPoolExecutor | None = None

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
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name="registry-batcher")
            if self._publisher is not None:
                self._publish_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-publisher")
                self._publishing = loop.create_task(self._publish_loop(), name="registry-publisher")

    async def close(self) -> None:
        """Stop taking statements, sequence those already queued, and end the task."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        self._published_wake.set()
        if self._publishing is not None:
            await self._publishing  # answers every committed batch before it ends
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._publish_executor is not None:
            self._publish_executor.shutdown(wait=True)

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
        # protocol §9.2-f: the stateless half of admission (the encoding of §4.2, the origin and every
        # signature of §7.1-a/b) runs here, before the statement is queued, and exactly as the sequencer
        # runs it first: an entry it refuses can never be accepted, whatever the state, so the answer is
        # the one the sequencer would give. A flood of such entries is answered as it arrives, spread
        # over time, and never reaches the writer thread (whose work would hold the interpreter lock
        # against reads) nor waits in a batch to be answered all at once. An admitted entry is handed
        # to the sequencer verified, so the checks are not run twice.
        try:
            verified = verify_entry(parse_entry(entry), self._sequencer.origin)
        except Rejected as exc:
            return exc.rejection
        if len(self._pending) >= self._max_pending:  # protocol §9.1-d: bounded, never queue without limit
            raise RegistryError(_QUEUE_FULL)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Sequenced | Rejection] = loop.create_future()
        self._pending.append(_Pending(verified, future, loop.time()))
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
            results, logged_ms, tree_size, checkpoint = await loop.run_in_executor(
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
        waiting: list[tuple[_Pending, Receipt]] = []
        for n, (p, result) in enumerate(zip(batch, results, strict=True)):
            if n and n % _ANSWER_CHUNK == 0:
                # A batch answers up to `max_batch` requests. Each answer resumes a handler that builds
                # and sends a response; resuming them all in one turn of the loop would make every read
                # that arrives meanwhile wait for all of them. Yielding between chunks lets those reads
                # in (the statements are committed already: only the answering is spread).
                await asyncio.sleep(0)
            if isinstance(result, Receipt) and self._publisher is not None:
                waiting.append((p, result))  # protocol §6.3-b: answered once the checkpoint is published
            elif p.future.done():  # the client went away; its statement was sequenced all the same
                continue
            elif isinstance(result, Receipt):
                p.future.set_result(Sequenced(result, logged_ms, tree_size))
            else:
                p.future.set_result(result)
        if waiting and checkpoint is not None:
            self._committed.append(_Committed(waiting, logged_ms, tree_size, checkpoint))
            self._published_wake.set()

    async def _publish_loop(self) -> None:
        """The publishing stage of a witnessed log (protocol §6.3-b, §6.3-c); see the module docstring."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._committed:
                if self._closing and (self._task is None or self._task.done()):
                    return
                self._published_wake.clear()
                await self._published_wake.wait()
                continue
            batches = list(self._committed)
            self._committed.clear()
            try:
                answers = await loop.run_in_executor(self._publish_executor, self._publish, batches)
            except RegistryError as exc:
                if exc.code is not ErrorCode.WITNESS_QUORUM_UNAVAILABLE:
                    _log.error("publishing a checkpoint failed: %s", exc.code)
                answers = [(p, exc) for c in batches for p, _ in c.waiting]
            except Exception as exc:  # the task must survive to answer the next batches
                _log.error("publishing a checkpoint failed", exc_info=exc)
                error = RegistryError(Rejection(ErrorCode.INTERNAL, "internal error", ""))
                answers = [(p, error) for c in batches for p, _ in c.waiting]
            for p, answer in answers:
                if p.future.done():  # the client went away; its statement is logged all the same
                    continue
                if isinstance(answer, RegistryError):
                    p.future.set_exception(answer)
                else:
                    p.future.set_result(answer)

    def _publish(self, batches: list[_Committed]) -> list[tuple[_Pending, Sequenced | RegistryError]]:
        """In the publishing thread: publish the newest checkpoint of `batches` (or a newer one already
        published), then give every receipt that checkpoint and an inclusion proof for its size.

        If the process dies here, the statements are committed and unanswered: a client that resubmits
        learns its index (`duplicate_entry`), and the publisher offers the checkpoint again at restart.
        """
        if self._publisher is None:
            raise RegistryError(Rejection(ErrorCode.INTERNAL, "publishing without a publisher", ""))
        try:
            cosigned = self._publisher.publish(batches[-1].checkpoint)
        except QuorumUnavailable as exc:
            _log.warning(
                "%d statements are logged but their checkpoint lacks the witness quorum",
                sum(len(c.waiting) for c in batches),
            )
            error = RegistryError(exc.rejection)
            return [(p, error) for c in batches for p, _ in c.waiting]
        size = parse_checkpoint(parse_note(cosigned).text).size
        answers: list[tuple[_Pending, Sequenced | RegistryError]] = []
        for c in batches:
            for p, receipt in c.waiting:
                proof = receipt.inclusion_proof
                if size != c.tree_size:  # covered by a later checkpoint: prove the entry in that tree
                    proof = tuple(self._sequencer.inclusion_proof(receipt.index, size))
                answers.append(
                    (p, Sequenced(replace(receipt, checkpoint=cosigned, inclusion_proof=proof), c.logged_ms, size))
                )
        return answers

    def _sequence(self, entries: list[VerifiedEntry]) -> tuple[list[Receipt | Rejection], int, int, bytes | None]:
        """In the worker thread: one `submit_batch`, then the log time, size and checkpoint it committed.

        Only this task writes through the sequencer, so the snapshot read right after the call is the
        one the call published: every entry of a batch shares the batch's log time ([5.6-c]).
        """
        results = self._sequencer.submit_batch(entries)
        state = self._sequencer.state
        logged_ms = 0 if state is None else state.last_logged_ms
        return results, logged_ms, self._sequencer.size, self._sequencer.latest_checkpoint
