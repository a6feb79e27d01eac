#!/usr/bin/env python3
"""The kill -9 loop (issue 7 item 1): nothing acknowledged is lost, the tree never shrinks or forks
(protocol §5.6-d, §5.6-f, §5.6-h, §9.2-a, §9.2-c, §8.2).

Starts the real server (`python -m registry serve --data DIR --port P`, one uvicorn process, as
./scripts/run does) on a temporary data directory: SQLite by default, or a fresh PostgreSQL schema
with `--postgres URL` (recorded in DIR/config.json as `registry init --database URL` does). Concurrent
client threads submit pre-signed valid statements: sponsored declarations of new members, each
co-signed by one of 64 founders, under relaxed rule parameters, so that every statement is valid in any
order. The main thread kills the server with SIGKILL at random moments (when a seeded random number of
statements have their answer, plus a random delay of tens of milliseconds, so that kills fall anywhere
in a batch's cycle), restarts it on the same port, and repeats until the kill count is reached; the
remaining statements are then submitted without kills.

What is checked, black-box, over HTTP and the CLI:
  - every 201 receipt verifies (checkpoint signature, leaf hash recomputed from the statement, index
    and log time, inclusion proof) and no two receipts name the same index;
  - every checkpoint seen (in receipts, and by a thread polling GET /checkpoint) verifies, and no two
    checkpoints of one tree size differ ([5.6-f], [8.2-c]);
  - after each restart: the served tree is at least as large as the largest checkpoint seen before the
    kill, consistent with it (a consistency proof from GET /v1/proof/consistency), and every statement
    whose 201 was received is served at its index with identical leaf bytes (GET /tile/entries);
  - a statement whose answer was lost in a kill is answered 409 `duplicate_entry` on resubmission
    ([9.2-c]), and at the end every statement is in the log exactly once;
  - at the end `registry audit --server URL` and then `registry audit --data DIR` pass.

Usage: scripts/crash_loop.py [--kills 200] [--statements 10000] [--clients 8] [--postgres URL]
       [--seed S] [--batch-ms MS]
Prints its figures and ends with one name=value line per headline figure.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/serverproc.py, also when loaded by a test

import httpx
import sqlalchemy as sa
from scriptlog import DECLARATIONS, RELAXED
from scriptlog import signed as _signed
from serverproc import Server, ServerStartError, child_env, free_port
from sqlalchemy.engine import make_url

from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.errors import CryptoError
from crypto.keys import SigningKey
from crypto.merkle import leaf_hash
from crypto.notekey import NoteVerifier, parse_vkey
from crypto.proof import verify_consistency, verify_inclusion
from crypto.tiles import TILE_WIDTH, parse_entry_bundle, tile_entries_path
from registry.datadir import create_data_dir
from registry.errors import Rejected
from registry.sequencer import init_log
from registry.statements import (
    Declare,
    MemberId,
    PolicyStatement,
    declaration_hash,
    format_entry,
    format_leaf,
    parse_entry,
)
from registry.statetree import parse_log_leaf
from registry.store import Store

__all__ = ["CrashReport", "Plan", "make_plan", "run_crash_loop"]

ROOT = Path(__file__).resolve().parent.parent

ORIGIN = "crash.registry.example/log"
FOUNDERS = 64
_JSON = {"content-type": "application/json"}
_RETRY_S = 0.02
_POLL_S = 0.025


# --- the plan: a genesis and pre-signed statements valid in any order ------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    genesis: bytes
    statements: tuple[bytes, ...]


def _key(seed: str, label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"crash_loop {seed} {label}".encode()).digest())



def make_plan(count: int, created_ms: int, seed: str) -> Plan:
    """The genesis (64 founders, a council of one, relaxed parameters) and `count` sponsored
    declarations by new members, each co-signed by a founder: valid in any order."""
    founders = [_key(seed, f"founder {i}") for i in range(FOUNDERS)]
    council = _key(seed, "council")
    policy = PolicyStatement(
        origin=ORIGIN,
        created_ms=created_ms,
        version=0,
        founders=tuple(sorted(MemberId(f.public_key) for f in founders)),
        council=(council.public_key,),
        threshold=1,
        declarations=DECLARATIONS,
        params=RELAXED,
    )
    en = declaration_hash(DECLARATIONS["en"])
    statements = []
    for i in range(count):
        member, sponsor = _key(seed, f"member {i}"), founders[i % FOUNDERS]
        stmt = Declare(ORIGIN, created_ms, MemberId(member.public_key), en, None, MemberId(sponsor.public_key))
        statements.append(_signed(stmt, member, sponsor))
    return Plan(_signed(policy, council), tuple(statements))


# --- the data directory and its database ---------------------------------------------------------------


def create_log(folder: Path, genesis: bytes, database_url: str | None, created_ms: int) -> tuple[Path, str]:
    """A data directory (SQLite default, or `database_url` recorded in config.json) holding the genesis;
    returns its path and the log's vkey."""
    data = create_data_dir(folder / "log", ORIGIN, database_url, SigningKey.generate())
    with Store.open(data.database_url({}), writable=True, create=True) as store:
        init_log(store, data.signer(), lambda: created_ms, genesis)
    return data.path, data.config.log_vkey


@contextlib.contextmanager
def postgres_schema(base_url: str, prefix: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server of `base_url`, dropped afterwards; yields a URL whose
    connections use it."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = sa.create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


# --- the server process ----------------------------------------------------------------------------------

_RULES_FROM = re.compile(r"the rules were run from leaf (\d+) at start")
"""The server's start line (api.app): the leaf the rules were run from; above 0, a start-up snapshot."""


def crash_server(data: Path, port: int, batch_ms: int, log_path: Path, snapshot_every: int) -> Server:
    """`registry serve` as ./scripts/run starts it, on a fixed port (a restart after a kill reuses it), its
    output appended to `log_path`, writing a start-up snapshot every `snapshot_every` leaves (so that kills
    also land while one is written, and restarts start from one); `stop()` is a clean SIGTERM (SIGKILL
    after 20 s), `kill()` a SIGKILL. Not started."""
    return Server.serve(data, port=port, host="127.0.0.1", batch_ms=batch_ms, out=log_path,
                        extra=("--snapshot-every", str(snapshot_every)), stop_signal=signal.SIGTERM)  # fmt: skip


def start(server: Server) -> float:
    """Start the server and wait (up to 120 s) until /healthz answers 200; returns the seconds it took.

    Raises:
        ServerStartError (a RuntimeError): the server exited or did not become ready; the message holds
            the end of its log.
    """
    return server.start(timeout_s=120, poll_s=0.02).ready_s


# --- what the clients saw --------------------------------------------------------------------------------


@dataclass
class Observer:
    """Everything the clients and the checkpoint poller saw. Owner: shared by every thread, under `lock`."""

    verifier: NoteVerifier
    statements: Sequence[bytes]
    lock: threading.Lock = field(default_factory=threading.Lock)
    texts: dict[int, str] = field(default_factory=dict)  # tree size -> checkpoint text (signatures stripped)
    roots: dict[int, bytes] = field(default_factory=dict)
    max_size: int = 0
    acked: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # index -> (leaf bytes, statement)
    duplicates: set[int] = field(default_factory=set)  # statements answered duplicate_entry
    done: set[int] = field(default_factory=set)  # statements with a final answer
    violations: list[str] = field(default_factory=list)
    transport_errors: int = 0
    unavailable: int = 0

    def violation(self, message: str) -> None:
        with self.lock:
            self.violations.append(message)

    def see_checkpoint(self, note: bytes, where: str) -> Checkpoint | None:
        """Verify a checkpoint note and record it; a second text for one size is a violation."""
        try:
            cp, parsed = open_checkpoint(note, self.verifier, origin=ORIGIN)
        except CryptoError as exc:
            self.violation(f"{where}: a checkpoint does not verify: {exc.code}")
            return None
        with self.lock:
            seen = self.texts.setdefault(cp.size, parsed.text)
            if seen != parsed.text:
                self.violations.append(f"{where}: two different checkpoints of tree size {cp.size}")
            self.roots.setdefault(cp.size, cp.root_hash)
            self.max_size = max(self.max_size, cp.size)
        return cp

    def acknowledge(self, number: int, entry: bytes, body: dict[str, object]) -> None:
        """Check a 201 receipt as a client must ([9.2-a], [9.2-b]) and record it."""
        try:
            index, size, logged_ms = int(str(body["index"])), int(str(body["tree_size"])), int(str(body["logged_ms"]))
            note = str(body["checkpoint"]).encode("utf-8")
            proof = [bytes.fromhex(str(h)) for h in body["inclusion_proof"]]  # type: ignore[attr-defined]
            leaf = format_leaf(index, logged_ms, parse_entry(entry))
        except (KeyError, ValueError, TypeError, Rejected) as exc:
            self.violation(f"statement {number}: a malformed receipt ({type(exc).__name__})")
            return
        cp = self.see_checkpoint(note, f"receipt of statement {number}")
        if cp is None:
            return
        try:
            if body["leaf_hash"] != leaf_hash(leaf).hex() or cp.size != size:
                raise CryptoError("the receipt's leaf hash or tree size is wrong")
            verify_inclusion(leaf_hash(leaf), index, size, proof, cp.root_hash)
        except CryptoError as exc:
            self.violation(f"statement {number}: the receipt does not verify: {exc.message}")
            return
        with self.lock:
            other = self.acked.setdefault(index, (leaf, number))
            if other != (leaf, number):
                self.violations.append(f"statements {other[1]} and {number} were both acknowledged at index {index}")
            self.done.add(number)

    def duplicate(self, number: int) -> None:
        with self.lock:
            self.duplicates.add(number)
            self.done.add(number)


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("code", ""))
    except (ValueError, AttributeError):
        return ""


def client_worker(
    base: str, numbers: Sequence[int], obs: Observer, stop: threading.Event, go: threading.Event
) -> None:
    """Submit statements in order, each until it gets a final answer (201, or 409 duplicate_entry);
    wait while `go` is clear."""
    with httpx.Client(base_url=base, timeout=60) as client:
        for number in numbers:
            entry = obs.statements[number]
            while not stop.is_set():
                go.wait()
                try:
                    response = client.post("/v1/entries", content=entry, headers=_JSON)
                except httpx.TransportError:
                    with obs.lock:
                        obs.transport_errors += 1
                    time.sleep(_RETRY_S)
                    continue
                status, code = response.status_code, _code(response)
                if status == 201:
                    obs.acknowledge(number, entry, response.json())
                    break
                if status == 409 and code == "duplicate_entry":  # [9.2-c]: logged, its answer was lost
                    obs.duplicate(number)
                    break
                if status == 503 and code == "unavailable":  # starting, stopping, or outcome unknown
                    with obs.lock:
                        obs.unavailable += 1
                    time.sleep(_RETRY_S)
                    continue
                obs.violation(f"statement {number}: unexpected answer {status} {code}")
                if status >= 500:
                    time.sleep(_RETRY_S)
                    continue
                break


def checkpoint_poller(base: str, obs: Observer, stop: threading.Event) -> None:
    """Record every checkpoint GET /checkpoint serves, while the load runs."""
    with httpx.Client(base_url=base, timeout=10) as client:
        while not stop.is_set():
            try:
                response = client.get("/checkpoint")
            except httpx.TransportError:
                time.sleep(_POLL_S)
                continue
            if response.status_code == 200:
                obs.see_checkpoint(response.content, "GET /checkpoint")
            time.sleep(_POLL_S)


# --- checks ----------------------------------------------------------------------------------------------


def fetch_leaves(client: httpx.Client, size: int) -> list[bytes]:
    """The leaves [0, size) from the entry bundles (tlog-tiles)."""
    leaves: list[bytes] = []
    for start in range(0, size, TILE_WIDTH):
        width = min(TILE_WIDTH, size - start)
        response = client.get("/" + tile_entries_path(start // TILE_WIDTH, width))
        response.raise_for_status()
        leaves.extend(parse_entry_bundle(response.content, width))
    return leaves


def check_served_log(base: str, obs: Observer, where: str) -> int:
    """After a restart: the served tree is at least as large as every checkpoint seen so far (before
    the kill, and since the restart) and consistent with the largest, and every statement acknowledged
    so far is served at its index with identical bytes. Returns the served tree size.

    What was seen is read first, then the server: everything seen was served before the server is
    asked, so a smaller or different answer is the server's fault, never a race of this check."""
    try:
        return _check_served_log(base, obs, where)
    except (httpx.HTTPError, CryptoError) as exc:
        obs.violation(f"{where}: the server's log could not be read: {type(exc).__name__}: {exc}")
        return 0


def _check_served_log(base: str, obs: Observer, where: str) -> int:
    with obs.lock:
        before = obs.max_size
        acked = dict(obs.acked)
    with httpx.Client(base_url=base, timeout=60) as client:
        response = client.get("/checkpoint")
        if response.status_code != 200:
            obs.violation(f"{where}: GET /checkpoint answered {response.status_code}")
            return 0
        cp = obs.see_checkpoint(response.content, where)
        if cp is None:
            return 0
        if cp.size < before:
            obs.violation(f"{where}: the tree shrank from {before} to {cp.size}")
            return cp.size
        if before:
            proof = client.get("/v1/proof/consistency", params={"old": before, "new": cp.size})
            try:
                proof.raise_for_status()
                hashes = [bytes.fromhex(h) for h in proof.json()["consistency_proof"]]
                verify_consistency(before, cp.size, obs.roots[before], cp.root_hash, hashes)
            except (httpx.HTTPError, CryptoError, ValueError, KeyError) as exc:
                obs.violation(f"{where}: size {cp.size} is not consistent with size {before}: {exc}")
        leaves = fetch_leaves(client, cp.size)
    for index, (leaf, number) in sorted(acked.items()):
        if index >= len(leaves):
            obs.violation(f"{where}: acknowledged statement {number} at index {index} is beyond the tree")
        elif leaves[index] != leaf:
            obs.violation(f"{where}: the leaf at index {index} differs from statement {number}'s receipt")
    return cp.size


def check_final_content(base: str, obs: Observer, size: int) -> None:
    """Every statement with a final answer is in the log exactly once; nothing else but the genesis (and
    state leaves, which are not statements) is."""
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            leaves = fetch_leaves(client, size)
    except (httpx.HTTPError, CryptoError) as exc:
        obs.violation(f"at the end: the server's log could not be read: {type(exc).__name__}: {exc}")
        return
    by_entry = {entry: number for number, entry in enumerate(obs.statements)}
    found: dict[int, int] = {}
    for index, data in enumerate(leaves[1:], start=1):
        try:
            leaf = parse_log_leaf(data)
        except Rejected as exc:
            obs.violation(f"the leaf at index {index} does not parse: {exc.code}")
            continue
        entry = getattr(leaf, "entry", None)
        if entry is None:
            continue  # a state leaf
        number = by_entry.get(format_entry(entry))
        if number is None:
            obs.violation(f"the leaf at index {index} is no statement of the plan")
        elif found.setdefault(number, index) != index:
            obs.violation(f"statement {number} is in the log twice")
    missing = sorted(obs.done - set(found))
    if missing:
        obs.violation(f"{len(missing)} statements answered 201 or 409 are not in the log (first: {missing[0]})")


def run_cli(*args: str) -> tuple[int, str]:
    """`python -m registry ARGS`; returns the exit code and stdout plus stderr."""
    done = subprocess.run([sys.executable, "-m", "registry", *args], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=600, check=False)
    return done.returncode, done.stdout + done.stderr


# --- the loop --------------------------------------------------------------------------------------------


@dataclass
class CrashReport:
    database: str
    kills: int
    statements: int
    acknowledged: int
    duplicates: int
    seconds: float
    down_s: float  # from each kill until the restarted server was checked (the clients waited)
    tree_size: int
    checkpoints_seen: int
    startup_s: list[float]
    transport_errors: int
    unavailable: int
    audit_data_ok: bool
    audit_server_ok: bool
    violations: list[str]
    snapshot_starts: int = 0
    """Starts whose rules ran from a start-up snapshot, not from genesis (protocol §9.1-i)."""

    @property
    def statements_per_s(self) -> float:
        return (self.acknowledged + self.duplicates) / self.seconds if self.seconds else 0.0

    @property
    def statements_per_up_s(self) -> float:
        up = self.seconds - self.down_s
        return (self.acknowledged + self.duplicates) / up if up > 0 else 0.0

    def lines(self) -> list[str]:
        mean_startup = sum(self.startup_s) / len(self.startup_s) if self.startup_s else 0.0
        out = [
            f"database: {self.database}",
            f"kills survived: {self.kills} (mean restart to ready {mean_startup:.2f} s; "
            f"{self.snapshot_starts} starts from a start-up snapshot)",
            f"statements: {self.statements}; acknowledged (201) {self.acknowledged}; logged but answer lost "
            f"(409 duplicate_entry on resubmission) {self.duplicates}",
            f"{self.statements_per_s:.1f} statements/s over {self.seconds:.1f} s, kills and restarts included; "
            f"{self.statements_per_up_s:.1f} statements/s while the server was up ({self.seconds - self.down_s:.1f} s)",
            f"client retries: {self.transport_errors} transport errors, {self.unavailable} 503 unavailable",
            f"tree size {self.tree_size}; distinct checkpoints seen {self.checkpoints_seen}",
            f"registry audit --server: {'ok' if self.audit_server_ok else 'FAILED'}; "
            f"registry audit --data: {'ok' if self.audit_data_ok else 'FAILED'}",
            f"violations: {len(self.violations)}",
        ]
        out += [f"  VIOLATION: {v}" for v in self.violations[:50]]
        return out


def run_crash_loop(
    folder: Path,
    *,
    kills: int,
    statements: int,
    clients: int = 8,
    database_url: str | None = None,
    seed: int = 1,
    batch_ms: int = 25,
    snapshot_every: int = 500,
    say: Callable[[str], None] = print,
) -> CrashReport:
    """Run the loop in `folder` (a data directory and the server's log are made there). See the module
    docstring. `database_url`: a fresh PostgreSQL database or schema; None for SQLite."""
    rng = random.Random(seed)
    created_ms = time.time_ns() // 1_000_000 - 1000
    t0 = time.perf_counter()
    plan = make_plan(statements, created_ms, str(seed))
    data, vkey = create_log(folder, plan.genesis, database_url, created_ms)
    database = "PostgreSQL" if database_url else "SQLite"
    say(f"pre-signed {statements} statements and created the log ({database}) in {time.perf_counter() - t0:.1f} s; "
        f"seed {seed}, {clients} clients, batch_ms {batch_ms}")
    obs = Observer(parse_vkey(vkey), plan.statements)
    server = crash_server(data, free_port(), batch_ms, folder / "server.log", snapshot_every)
    startups = [start(server)]
    check_served_log(server.url, obs, "first start")
    stop, go = threading.Event(), threading.Event()
    go.set()
    workers = [
        threading.Thread(target=client_worker, args=(server.url, range(c, statements, clients), obs, stop, go),
                         name=f"client-{c}", daemon=True)
        for c in range(clients)
    ]
    poller = threading.Thread(target=checkpoint_poller, args=(server.url, obs, stop), daemon=True)
    started = time.perf_counter()
    for thread in [*workers, poller]:
        thread.start()
    # The kill moments: before each kill, a random number of further statements must get their answer
    # (uniform in [0, 2 x the statements left below 90% of the load / the kills left], so that the kills
    # spread over the load and statements are in flight at every one of them), then a random delay of
    # tens of milliseconds, so that the kill falls anywhere in a batch's cycle: queued, being committed,
    # committed but not yet answered. The clients pause from the kill until the restarted server has
    # been checked, so that the count of kills does not depend on how long a restart takes.
    span = statements * 90 // 100
    killed, down_s = 0, 0.0
    try:
        for k in range(kills):
            budget = max(0, span - len(obs.done))
            target = len(obs.done) + rng.randint(0, 2 * budget // (kills - k))
            while len(obs.done) < target and any(w.is_alive() for w in workers) and not obs.violations:
                time.sleep(0.002)
            if not any(w.is_alive() for w in workers) or obs.violations:
                break
            time.sleep(rng.uniform(0.0, 0.1))
            down = time.perf_counter()
            server.kill()
            go.clear()
            killed += 1
            try:
                startups.append(start(server))
            except ServerStartError as exc:
                obs.violation(f"after kill {killed}: {exc}")
                break
            check_served_log(server.url, obs, f"after kill {killed}")
            go.set()
            down_s += time.perf_counter() - down
            if killed % 10 == 0 or killed == kills:
                say(f"  kill {killed}/{kills}: {len(obs.done)}/{statements} statements in, tree size {obs.max_size}")
        go.set()
        while any(w.is_alive() for w in workers) and not obs.violations:
            time.sleep(0.01)
        stop.set()
        for thread in [*workers, poller]:
            thread.join(timeout=120)
        seconds = time.perf_counter() - started
        size, audit_server_ok = 0, False
        if server.running:
            size = check_served_log(server.url, obs, "at the end")
            if not obs.violations:
                check_final_content(server.url, obs, size)
            code, output = run_cli("audit", "--server", server.url, "--log-key", vkey, "--workers", "1", "--json")
            audit_server_ok = code == 0
            if not audit_server_ok:
                obs.violation(f"registry audit --server failed (exit {code}): {output.strip()[-500:]}")
    finally:
        stop.set()
        server.stop()
    code, output = run_cli("audit", "--data", str(data), "--workers", "1", "--json")
    audit_data_ok = code == 0
    if audit_data_ok:
        audited = json.loads(output[: output.rindex("}") + 1])
        if size and audited["tree_size"] != size:
            obs.violation(f"registry audit --data saw {audited['tree_size']} leaves, the server served {size}")
    else:
        obs.violation(f"registry audit --data failed (exit {code}): {output.strip()[-500:]}")
    return CrashReport(
        database=database,
        kills=killed,
        statements=statements,
        acknowledged=len(obs.acked),
        duplicates=len(obs.duplicates),
        seconds=seconds,
        down_s=down_s,
        tree_size=size,
        checkpoints_seen=len(obs.texts),
        startup_s=startups[1:],
        transport_errors=obs.transport_errors,
        unavailable=obs.unavailable,
        audit_data_ok=audit_data_ok,
        audit_server_ok=audit_server_ok,
        violations=list(obs.violations),
        snapshot_starts=sum(1 for line in (folder / "server.log").read_text("utf-8", "replace").splitlines()
                            if (found := _RULES_FROM.search(line)) and int(found.group(1)) > 0),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs of the server")
    parser.add_argument("--statements", type=int, default=10_000, help="pre-signed statements to submit")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server (postgresql+psycopg://...): the "
                        "log goes in a fresh schema there, dropped afterwards; default SQLite")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill delays and of the statement keys")
    parser.add_argument("--batch-ms", type=int, default=25, help="the server's batch window")
    parser.add_argument("--snapshot-every", type=int, default=500,
                        help="the server's start-up snapshot interval in leaves (default 500: small, so that "
                             "kills land while snapshots are written)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crash_loop-") as tmp, contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_schema(args.postgres, "crash")) if args.postgres else None
        report = run_crash_loop(Path(tmp), kills=args.kills, statements=args.statements, clients=args.clients,
                                database_url=url, seed=args.seed, batch_ms=args.batch_ms,
                                snapshot_every=args.snapshot_every)
    for line in report.lines():
        print(line)
    print(f"kills={report.kills}")
    print(f"statements_acknowledged={report.acknowledged}")
    print(f"statements_duplicate={report.duplicates}")
    print(f"statements_per_s={report.statements_per_s:.1f}")
    print(f"statements_per_up_s={report.statements_per_up_s:.1f}")
    print(f"restart_s={sum(report.startup_s) / max(1, len(report.startup_s)):.2f}")
    print(f"tree_size={report.tree_size}")
    print(f"snapshot_starts={report.snapshot_starts}")
    print(f"checkpoints_seen={report.checkpoints_seen}")
    print(f"audit_ok={int(report.audit_data_ok and report.audit_server_ok)}")
    print(f"violations={len(report.violations)}")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
