"""Test helpers for witnesses: fixed keys, a small in-memory log that signs checkpoints (and can fork),
and a witness in a temporary directory. Keys come from fixed seeds; time is an explicit clock."""

from __future__ import annotations

import hashlib
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.cosignature import cosigner_vkey
from crypto.keys import SigningKey
from crypto.merkle import MerkleTree, leaf_hash
from crypto.nodestore import MemoryNodeStore
from crypto.note import format_note
from crypto.notekey import NoteSigner, NoteVerifier, parse_vkey
from registry.witness.client import WitnessEndpoint
from registry.witness.state import WitnessState
from registry.witness.witness import Witness
from tests.servers import Server
from tests.servers import free_port as free_port  # noqa: PLC0414 (re-exported: tests import it from here)

ORIGIN = "registry.example/log"
LOG_KEY = SigningKey.from_seed(hashlib.sha256(b"antiwar-registry test log seed").digest())
LOG_SIGNER = NoteSigner(ORIGIN, LOG_KEY)
LOG_VKEY = LOG_SIGNER.vkey
OTHER_SIGNER = NoteSigner("other.example/log", SigningKey.from_seed(hashlib.sha256(b"another log").digest()))
T0 = 1_767_225_600
T = TypeVar("T")


def witness_key(n: int) -> SigningKey:
    """Witness n (1..3) of the project's note vectors: seed SHA-256("antiwar-registry test witness n")."""
    return SigningKey.from_seed(hashlib.sha256(f"antiwar-registry test witness {n}".encode()).digest())


def witness_name(n: int) -> str:
    return f"witness{n}.registry.example"


def witness_vkey(n: int) -> str:
    return cosigner_vkey(witness_name(n), witness_key(n).public_key)


def witness_verifier(n: int) -> NoteVerifier:
    return parse_vkey(witness_vkey(n))


class Clock:
    """A clock in seconds that advances by one on every reading."""

    def __init__(self, start: int = T0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._now += 1
            return self._now


class ToyLog:
    """An in-memory RFC 6962 log of entries `<tag><i>` that signs checkpoints with `signer`.

    Two ToyLogs with the same signer and different tags past some size are a forking log.
    """

    def __init__(self, signer: NoteSigner = LOG_SIGNER) -> None:
        self.signer = signer
        self.tree = MerkleTree(MemoryNodeStore())
        self.entries: list[bytes] = []
        self._lock = threading.Lock()

    def append(self, count: int, tag: bytes = b"entry ") -> ToyLog:
        with self._lock:
            for _ in range(count):
                entry = tag + str(len(self.entries)).encode()
                self.entries.append(entry)
                self.tree.append(leaf_hash(entry))
        return self

    def copy(self) -> ToyLog:
        other = ToyLog(self.signer)
        for entry in self.entries:
            other.entries.append(entry)
            other.tree.append(leaf_hash(entry))
        return other

    @property
    def size(self) -> int:
        return self.tree.size

    def checkpoint(self, size: int | None = None) -> bytes:
        size = self.tree.size if size is None else size
        with self._lock:
            cp = Checkpoint(self.signer.name, size, self.tree.root(size))
        return format_note(sign_checkpoint(cp, self.signer))

    def proof(self, old: int, new: int) -> list[bytes]:
        with self._lock:
            return self.tree.consistency_proof(old, new)

    def root(self, size: int | None = None) -> bytes:
        with self._lock:
            return self.tree.root(self.tree.size if size is None else size)


def make_witness(tmp: Path, n: int = 1, logs: tuple[NoteSigner, ...] = (LOG_SIGNER,), clock: Clock | None = None,
                 evidence: bool = True) -> Witness:
    state = WitnessState.open(tmp / f"witness{n}.sqlite3")
    return Witness(witness_name(n), witness_key(n), [s.verifier for s in logs], state, clock or Clock(),
                   evidence_dir=(tmp / f"evidence{n}") if evidence else None)


class WitnessRouter:
    """An httpx transport that hands each add-checkpoint request to a real in-process `Witness` chosen by
    host, with the statuses of api/witness.py (the HTTP server itself is tested over real sockets
    elsewhere). Hosts in `down` refuse connections; `requests` counts requests per host."""

    def __init__(self, witnesses: dict[str, Witness]) -> None:
        self.witnesses = witnesses
        self.down: set[str] = set()
        self.requests: dict[str, int] = {}
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        from api.witness import status_for_refusal
        from registry.errors import RegistryError
        from registry.witness.protocol import OldSizeMismatch, format_cosignature_lines, format_tree_size

        host = request.url.host
        self.requests[host] = self.requests.get(host, 0) + 1
        if host in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        witness = self.witnesses[host]
        try:
            lines = witness.add_checkpoint(request.content)
        except OldSizeMismatch as exc:
            return httpx.Response(409, content=format_tree_size(exc.latest_size),
                                  headers={"content-type": "text/x.tlog.size"})
        except RegistryError as exc:
            return httpx.Response(status_for_refusal(exc), json={"code": exc.code, "message": exc.message})
        return httpx.Response(200, content=format_cosignature_lines(lines))


def endpoint(n: int, url: str | None = None) -> WitnessEndpoint:
    """Witness n's endpoint; by default at host `witness<n>.test`, as `WitnessRouter` routes it."""
    return WitnessEndpoint(witness_verifier(n), url or f"http://witness{n}.test")


def race(count: int, attempt: Callable[[int], T]) -> list[T]:
    """Run `attempt(0..count-1)` in `count` threads released together; return the results in order."""
    barrier = threading.Barrier(count)
    results: list[T | None] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = attempt(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]


class WitnessProcess:
    """`registry witness serve DIR --log VKEY... --port P` as a real subprocess on loopback (a `Server` of
    scripts/serverproc.py), its output in DIR.log beside DIR.

    `stop()` ends it (SIGTERM, SIGKILL after 10 s) and `start()` starts it again on the same port, with the
    same directory and therefore the same state. `process` is None until started and after `stop()`."""

    def __init__(self, n: int, directory: Path, log_vkeys: list[str], port: int | None = None) -> None:
        self.n = n
        self.directory = directory
        self.log_vkeys = log_vkeys
        self.server = Server.witness(directory, log_vkeys, port=port, out=directory.with_name(f"{directory.name}.log"))
        self.port = self.server.port
        self.url = self.server.url
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> WitnessEndpoint:
        return WitnessEndpoint(witness_verifier(self.n), self.url)

    def start(self) -> WitnessProcess:
        """Start the process and return at once (see `wait_ready`)."""
        self.process = self.server.launch().process
        return self

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Wait until GET /healthz answers 200.

        Raises:
            RuntimeError: the witness exited or did not answer in time (the message holds its output).
        """
        self.server.wait_ready(timeout_s, poll_s=0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.server.stop()
            self.process = None


def start_witnesses(base: Path, log_vkeys: list[str], count: int = 3) -> list[WitnessProcess]:
    """Witnesses 1..count (the fixed keys of `witness_key`) in base/w<n>, started and ready."""
    from registry.witness.directory import create_witness_dir

    started: list[WitnessProcess] = []
    try:
        for n in range(1, count + 1):
            directory = base / f"w{n}"
            create_witness_dir(directory, witness_name(n), witness_key(n))
            started.append(WitnessProcess(n, directory, log_vkeys).start())
        for w in started:
            w.wait_ready()
    except BaseException:
        for w in started:
            w.stop()
        raise
    return started
