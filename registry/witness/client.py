"""The log's side of C2SP tlog-witness: send a checkpoint to witnesses and collect a quorum of
cosignatures (protocol §6.2-f, §6.3).

`add_checkpoint` sends one checkpoint to one witness with the old size it believes the witness holds
and the consistency proof from there. On 409 it reads the witness's size from the `text/x.tlog.size`
body, asks the log for the proof from that size, and resends (at most twice); a witness whose size is
above the checkpoint's is *ahead* of the log, which an honest log never causes, and is reported, not
retried. Every cosignature line returned is verified against the witness's configured key before it
is used; lines for other keys are ignored.

`WitnessPool.collect` (and the one-shot `collect_cosignatures`) sends a checkpoint to every configured
witness in parallel, one thread per witness, and returns as soon as `quorum` cosignatures are in (or
waits up to `grace` seconds longer for the rest). Requests still running then complete in the
background; their cosignatures are dropped, but the witnesses' states advance, which later requests
learn from a 409. The pool remembers the size each witness last acknowledged, so that the next
checkpoint is normally sent with the right old size at the first attempt; a witness that was down
catches up through the same 409 path when it returns.

Shell code: httpx, threads, a monotonic clock for deadlines. No storage: the proofs come from the
`proof_fn` callback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import httpx

from crypto.checkpoint import Checkpoint, parse_checkpoint
from crypto.cosignature import verify_cosignature
from crypto.errors import CryptoError
from crypto.note import Note, NoteSignature, add_signatures, format_note, parse_note
from crypto.notekey import SIG_TYPE_COSIGNATURE, NoteVerifier

from ..errors import ErrorCode, RegistryError, Rejection
from .protocol import (
    TREE_SIZE_CONTENT_TYPE,
    AddCheckpoint,
    format_add_checkpoint,
    parse_cosignature_lines,
    parse_tree_size,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "BadWitnessResponse",
    "Collected",
    "Cosigned",
    "ProofFn",
    "QuorumUnavailable",
    "WitnessAhead",
    "WitnessClientError",
    "WitnessEndpoint",
    "WitnessPool",
    "WitnessRefused",
    "WitnessUnreachable",
    "add_checkpoint",
    "collect_cosignatures",
]

ProofFn = Callable[[int, int], Sequence[bytes]]
"""`proof_fn(old_size, new_size)`: the log's consistency proof PROOF(old_size, D[0:new_size]) (protocol
§5.2-c; empty when old_size is 0 or equal to new_size). Called from the pool's threads."""

DEFAULT_TIMEOUT_S: Final = 5.0
"""How long a collection waits for the quorum, and a single request for its answer, by default."""

_MAX_RESENDS: Final = 2
_MAX_RESPONSE: Final = 64 * 1024


class WitnessClientError(RegistryError):
    """A witness did not cosign. `witness` names it (its key name)."""

    def __init__(self, witness: str, rejection: Rejection) -> None:
        super().__init__(rejection)
        self.witness: Final = witness


class WitnessUnreachable(WitnessClientError):
    """No answer: connection refused, reset, or the timeout passed."""

    def __init__(self, witness: str, message: str) -> None:
        super().__init__(witness, Rejection(ErrorCode.UNAVAILABLE, message, "6.3-c"))


class WitnessRefused(WitnessClientError):
    """The witness answered with an error status (400, 403, 404, 422, or 409 after the resends)."""

    def __init__(self, witness: str, status: int, message: str) -> None:
        code = {403: ErrorCode.BAD_SIGNATURE, 404: ErrorCode.NOT_FOUND, 422: ErrorCode.BAD_PROOF}.get(
            status, ErrorCode.UNAVAILABLE if status >= 500 else ErrorCode.MALFORMED_ENCODING
        )
        super().__init__(witness, Rejection(code, f"witness {witness} answered {status}: {message}", "6.2-c"))
        self.status: Final = status


class WitnessAhead(WitnessClientError):
    """The witness holds a larger tree size for this origin than the checkpoint sent: it cosigned a
    checkpoint this log never showed (a fork, or a log rolled back), or a later one of this log."""

    def __init__(self, witness: str, witness_size: int, size: int) -> None:
        message = f"witness {witness} holds tree size {witness_size}, above the checkpoint's {size}"
        super().__init__(witness, Rejection(ErrorCode.BAD_PROOF, message, "6.2-f"))
        self.witness_size: Final = witness_size


class BadWitnessResponse(WitnessClientError):
    """A 200 or 409 whose body is malformed, or a cosignature that does not verify (protocol §6.2-f)."""

    def __init__(self, witness: str, code: ErrorCode, message: str) -> None:
        super().__init__(witness, Rejection(code, f"witness {witness}: {message}", "6.2-f"))


class QuorumUnavailable(RegistryError):
    """Fewer than `quorum` witnesses cosigned before the deadline (protocol §6.3-c). `collected` holds
    what did arrive and why each other witness failed."""

    def __init__(self, collected: Collected, quorum: int) -> None:
        got = len(collected.cosignatures)
        message = f"{got} of the {quorum} witness cosignatures required arrived; the entries are logged, retry later"
        super().__init__(Rejection(ErrorCode.WITNESS_QUORUM_UNAVAILABLE, message, "6.3-c"))
        self.collected: Final = collected
        self.quorum: Final = quorum


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """A witness the log sends checkpoints to: its type 0x04 key and its submission prefix URL
    (`POST <url>/add-checkpoint`)."""

    verifier: NoteVerifier
    url: str

    def __post_init__(self) -> None:
        if self.verifier.sig_type != SIG_TYPE_COSIGNATURE:
            raise RegistryError(Rejection(ErrorCode.BAD_KEY, "a witness key is a type 0x04 cosigner key", "6.3-a"))
        if not self.url.startswith(("http://", "https://")):
            message = "a witness URL starts with http:// or https://"
            raise RegistryError(Rejection(ErrorCode.MALFORMED_ENCODING, message, "6.3-a"))

    @property
    def name(self) -> str:
        return self.verifier.name


@dataclass(frozen=True, slots=True)
class Cosigned:
    """One verified cosignature: the line, its time (POSIX seconds), and the size the witness now holds."""

    signature: NoteSignature
    timestamp_s: int
    size: int


@dataclass(frozen=True, slots=True)
class Collected:
    """The result of a collection: the checkpoint note with the verified cosignature lines appended
    (in the configured witness order), each witness's cosignature, and each failure."""

    note: bytes
    cosignatures: Mapping[str, Cosigned]
    failures: Mapping[str, WitnessClientError]


@dataclass(frozen=True, slots=True)
class _Target:
    note: Note
    checkpoint: Checkpoint
    encoded: bytes


def _target(checkpoint_note: bytes) -> _Target:
    try:
        note = parse_note(checkpoint_note)
        return _Target(note, parse_checkpoint(note.text), checkpoint_note)
    except CryptoError as exc:
        message = f"not a checkpoint note: {exc.message}"
        raise RegistryError(Rejection(ErrorCode.MALFORMED_ENCODING, message, "6.2-a")) from None


def _error_message(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content[:_MAX_RESPONSE])
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            return f"{body['code']}: {body.get('message', '')}"
    except ValueError:
        pass
    return "no error code"


def _send(http: httpx.Client, witness: WitnessEndpoint, target: _Target, old_size: int, proof_fn: ProofFn,
          timeout: float) -> httpx.Response:
    size = target.checkpoint.size
    try:
        proof = tuple(proof_fn(old_size, size))
    except (RegistryError, CryptoError) as exc:
        raise WitnessRefused(witness.name, 0, f"the log cannot prove consistency from size {old_size}: {exc}") from None
    body = format_add_checkpoint(AddCheckpoint(old_size=old_size, proof=proof, checkpoint=target.encoded))
    try:
        return http.post(f"{witness.url.rstrip('/')}/add-checkpoint", content=body, timeout=timeout,
                         headers={"Content-Type": "text/plain; charset=utf-8"})
    except httpx.HTTPError as exc:
        raise WitnessUnreachable(witness.name, f"witness {witness.name} is unreachable: {type(exc).__name__}") from None


def _cosignature(witness: WitnessEndpoint, target: _Target, response: httpx.Response) -> Cosigned:
    try:
        lines = parse_cosignature_lines(response.content[:_MAX_RESPONSE])
    except RegistryError as exc:
        raise BadWitnessResponse(witness.name, ErrorCode.MALFORMED_ENCODING, exc.message) from None
    # protocol §6.2-f: lines for other keys are ignored; the line for the configured key must verify.
    for line in lines:
        if witness.verifier.matches(line):
            try:
                t = verify_cosignature(witness.verifier, target.note.text, line)
            except CryptoError as exc:
                raise BadWitnessResponse(witness.name, ErrorCode.BAD_SIGNATURE, exc.message) from None
            return Cosigned(line, t, target.checkpoint.size)
    raise BadWitnessResponse(witness.name, ErrorCode.BAD_SIGNATURE, "no cosignature line for its configured key")


def add_checkpoint(
    http: httpx.Client,
    witness: WitnessEndpoint,
    checkpoint_note: bytes,
    proof_fn: ProofFn,
    *,
    old_size: int = 0,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Cosigned:
    """Send a checkpoint to one witness and return its verified cosignature (protocol §6.2-f).

    Args:
        http: the client to send with (connection reuse; its own timeout is overridden).
        witness: the witness.
        checkpoint_note: the log-signed checkpoint note, encoded.
        proof_fn: gives the consistency proof from any old size to the checkpoint's size.
        old_size: the size the witness is believed to hold (0 when unknown: a 409 tells the real one).
        timeout: seconds per HTTP request.

    Raises:
        WitnessUnreachable (`unavailable`), WitnessRefused, WitnessAhead (`bad_proof`),
        BadWitnessResponse (`malformed_encoding`, `bad_signature`); RegistryError
        (`malformed_encoding`) when `checkpoint_note` is not a checkpoint note.
    """
    return _add(http, witness, _target(checkpoint_note), proof_fn, old_size, timeout)


def _add(http: httpx.Client, witness: WitnessEndpoint, target: _Target, proof_fn: ProofFn, old_size: int,
         timeout: float) -> Cosigned:
    size = target.checkpoint.size
    old = min(old_size, size)
    for _ in range(_MAX_RESENDS + 1):
        response = _send(http, witness, target, old, proof_fn, timeout)
        if response.status_code == 200:
            return _cosignature(witness, target, response)
        if response.status_code != 409:
            raise WitnessRefused(witness.name, response.status_code, _error_message(response))
        # protocol §6.2-f: a 409 carries the witness's size; resend from there.
        if response.headers.get("content-type", "").split(";")[0].strip() != TREE_SIZE_CONTENT_TYPE:
            raise BadWitnessResponse(witness.name, ErrorCode.MALFORMED_ENCODING, f"a 409 is {TREE_SIZE_CONTENT_TYPE}")
        try:
            latest = parse_tree_size(response.content[:_MAX_RESPONSE])
        except RegistryError as exc:
            raise BadWitnessResponse(witness.name, ErrorCode.MALFORMED_ENCODING, exc.message) from None
        if latest > size:
            raise WitnessAhead(witness.name, latest, size)
        old = latest
    raise WitnessRefused(witness.name, 409, f"the witness's size kept changing over {_MAX_RESENDS + 1} attempts")


class WitnessPool:
    """Sends checkpoints to a fixed set of witnesses in parallel and collects a quorum.

    Owner of `_sizes`: this pool; each witness's thread writes its own entry under `_lock`. The httpx
    client and the thread pool live until `close`.
    """

    def __init__(
        self,
        witnesses: Sequence[WitnessEndpoint],
        quorum: int,
        proof_fn: ProofFn,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        grace: float = 0.0,
        transport: httpx.BaseTransport | None = None,
        old_sizes: Mapping[str, int] | None = None,
    ) -> None:
        """Raises RegistryError (`bad_key`): two witnesses share a name, or quorum is not in [0, n]."""
        names = [w.name for w in witnesses]
        if len(set(names)) != len(names):
            raise RegistryError(Rejection(ErrorCode.BAD_KEY, "two configured witnesses share a name", "6.3-a"))
        if isinstance(quorum, bool) or not 0 <= quorum <= len(witnesses):
            raise RegistryError(Rejection(ErrorCode.BAD_KEY, f"quorum must be in [0, {len(witnesses)}]", "6.3-a"))
        self.witnesses: Final = tuple(witnesses)
        self.quorum: Final = quorum
        self._proof_fn: Final = proof_fn
        self._timeout: Final = timeout
        self._grace: Final = grace
        self._lock: Final = threading.Lock()
        self._sizes: dict[str, int] = dict(old_sizes or {})
        self._http: Final = httpx.Client(transport=transport, timeout=timeout)
        self._executor: Final = ThreadPoolExecutor(max_workers=max(1, len(witnesses)), thread_name_prefix="witness")
        self._closed = False

    @property
    def sizes(self) -> Mapping[str, int]:
        """The size each witness last acknowledged (a copy)."""
        with self._lock:
            return MappingProxyType(dict(self._sizes))

    def close(self) -> None:
        """Stop: wait for requests still running, then close the connections."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def __enter__(self) -> WitnessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _one(self, witness: WitnessEndpoint, target: _Target) -> Cosigned:
        with self._lock:
            old = self._sizes.get(witness.name, 0)
        try:
            result = _add(self._http, witness, target, self._proof_fn, old, self._timeout)
        except WitnessAhead as exc:
            with self._lock:
                self._sizes[witness.name] = exc.witness_size
            raise
        with self._lock:
            # Never move a remembered size back: a slow request for an older checkpoint may finish last.
            self._sizes[witness.name] = max(result.size, self._sizes.get(witness.name, 0))
        return result

    def collect(self, checkpoint_note: bytes) -> Collected:
        """Send the checkpoint to every witness; return once `quorum` have cosigned (protocol §6.3).

        Returns:
            The checkpoint with the cosignatures that arrived in time, each verified.

        Raises:
            QuorumUnavailable (`witness_quorum_unavailable`): fewer than `quorum` cosignatures before the
                timeout.
            RegistryError (`malformed_encoding`): `checkpoint_note` is not a checkpoint note.
        """
        target = _target(checkpoint_note)
        if not self.witnesses:
            return Collected(checkpoint_note, MappingProxyType({}), MappingProxyType({}))
        futures: dict[Future[Cosigned], WitnessEndpoint] = {
            self._executor.submit(self._one, w, target): w for w in self.witnesses
        }
        got: dict[str, Cosigned] = {}
        failed: dict[str, WitnessClientError] = {}
        deadline = time.monotonic() + self._timeout
        quorum_at: float | None = None
        pending = set(futures)
        while pending:
            now = time.monotonic()
            until = deadline if quorum_at is None else min(deadline, quorum_at + self._grace)
            if now >= until:
                break
            done, pending = wait(pending, timeout=max(0.0, until - now), return_when=FIRST_COMPLETED)
            for future in done:
                witness = futures[future]
                try:
                    got[witness.name] = future.result()
                except WitnessClientError as exc:
                    failed[witness.name] = exc
                except (RegistryError, CryptoError) as exc:
                    failed[witness.name] = WitnessRefused(witness.name, 0, str(exc))
            if quorum_at is None and len(got) >= self.quorum:
                quorum_at = time.monotonic()
                if self._grace <= 0:
                    break
        for future in pending:
            witness = futures[future]
            late = WitnessUnreachable(witness.name, f"witness {witness.name} did not answer in time")
            failed.setdefault(witness.name, late)
        order = [w.name for w in self.witnesses if w.name in got]
        note = add_signatures(target.note, [got[n].signature for n in order]) if order else target.note
        collected = Collected(format_note(note), MappingProxyType({n: got[n] for n in order}), MappingProxyType(failed))
        if len(got) < self.quorum:
            raise QuorumUnavailable(collected, self.quorum)
        return collected


def collect_cosignatures(
    checkpoint_note: bytes,
    witnesses: Sequence[WitnessEndpoint],
    quorum: int,
    proof_fn: ProofFn,
    timeout: float = DEFAULT_TIMEOUT_S,
    *,
    old_sizes: Mapping[str, int] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Collected:
    """Send one checkpoint to `witnesses` in parallel and return once `quorum` have cosigned.

    A one-shot `WitnessPool`; requests still running when the quorum is in finish in the background.

    Raises:
        QuorumUnavailable (`witness_quorum_unavailable`), RegistryError (`bad_key`, `malformed_encoding`).
    """
    pool = WitnessPool(witnesses, quorum, proof_fn, timeout=timeout, transport=transport, old_sizes=old_sizes)
    try:
        return pool.collect(checkpoint_note)
    finally:
        # Do not wait for the stragglers: close once they are done.
        threading.Thread(target=pool.close, name="witness-pool-close", daemon=True).start()
