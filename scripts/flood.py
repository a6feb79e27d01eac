#!/usr/bin/env python3
"""Flood the real server with submissions that must all be refused (issue 7, item 10; protocol §7.8,
§9.1-c, §9.1-d, §9.1-e), while real members read, and report what it cost.

The server is `registry serve` exactly as scripts/run starts it (one uvicorn process on 127.0.0.1, a
free port, no access log, SQLite with WAL and synchronous=FULL in a temporary data directory, batch
window 250 ms). Its log holds a genesis with 32 founders and a policy that requires a sponsor and lets
a member make one statement a day (`rate_limit_per_day` 1); founders 0 to 15 each sponsored one member
at setup, so they have used their day.

The flood: `--total` submissions (default 100,000) within `--seconds` (default 60), from `--workers`
processes of concurrent httpx clients on loopback, each kind with the answer it must get:

    unsponsored      a declaration without sponsor, signed by its fresh key    422 sponsor_required
    rate_limited     a declaration sponsored by a founder who used its day    429 rate_limited
    alias            the same, the sponsor's key in upper-case hex            400 malformed_entry
    bad_signature    a sponsored declaration with one signature bit flipped   403 bad_signature
    wrong_origin     a declaration for another log                             422 wrong_origin
    unknown_sponsor  sponsored by a key that is no member                      404 unknown_member
    malformed        bytes that are not canonical JSON                         400 malformed_encoding
    oversized        a body of 70,000 bytes with Content-Length                413 too_large
    oversized_chunk  a body of 70,000 bytes sent chunked (no Content-Length)   413 too_large

Meanwhile GET /v1/members/{id} (the founders and the sponsored members) and GET /checkpoint are
measured at a steady rate, first on the idle server, then under the flood.

The control: the clients and the flooded server share the machine with the reads, so part of what the
reads lose under the flood is the machine's, not the server's (on the project's 2-core machine, two
processes that only burn CPU, sending nothing, raise an idle server's read p99 two- to threefold). A
second `registry serve` on the same data directory, which no flood submission reaches, is read at the
same rate and at the same moments as the flooded one: its p99 under the flood is the unloaded figure
taken while the machine carries the flood, and its rise is the machine's share (`--no-control` leaves
it out).

Pass criteria (printed, and the exit code): nothing appended (the checkpoint's tree size unchanged),
every answer the expected status and code, the server's RSS (VmRSS of /proc/PID/status) grew less than
100 MB, every read answered 200, and the flooded server's read p99 below twice the unloaded figure:
the control's p99 during the flood when there is a control, else its own p99 before the flood. Both
ratios are printed whichever is checked. Loopback only; all loops are bounded. Ends with one name=value
line per figure.

Usage: scripts/flood.py [--total N] [--seconds S] [--workers W] [--concurrency C] [--batch-ms MS]
                        [--no-control]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/serverproc.py, also when loaded by a test

import httpx
from scriptlog import DECLARATIONS, signed
from serverproc import Server, child_env

from crypto.checkpoint import parse_checkpoint
from crypto.keys import SigningKey
from crypto.note import parse_note
from registry.datadir import create_data_dir
from registry.sequencer import Receipt, init_log
from registry.statements import (
    Declare,
    MemberId,
    Params,
    PolicyStatement,
    declaration_hash,
)
from registry.store import Store

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "flood.registry.example/log"
OTHER_ORIGIN = "other.registry.example/log"
FOUNDERS = 32
SPONSORED = 16
MAX_BODY = 65_536
PARAMS = Params(
    vouch_threshold=2,
    voucher_min_age_days=0,
    max_pending_vouchees=1000,
    vouch_quota=10_000,
    sponsor_required=True,
    rate_limit_per_day=1,
)

EXPECTED: dict[str, tuple[int, str]] = {
    "unsponsored": (422, "sponsor_required"),
    "rate_limited": (429, "rate_limited"),
    "alias": (400, "malformed_entry"),
    "bad_signature": (403, "bad_signature"),
    "wrong_origin": (422, "wrong_origin"),
    "unknown_sponsor": (404, "unknown_member"),
    "malformed": (400, "malformed_encoding"),
    "oversized": (413, "too_large"),
    "oversized_chunk": (413, "too_large"),
}
"""Each kind of flood submission and the (status, code) it must get."""


def key(label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"flood {label}".encode()).digest())



# --- the log -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FloodLog:
    """A data directory whose log holds the genesis and the setup declarations."""

    data: Path
    founders: tuple[SigningKey, ...]
    members: tuple[bytes, ...]
    """Public keys of every member (founders and sponsored), for the reads."""

    @property
    def rate_limited(self) -> tuple[SigningKey, ...]:
        return self.founders[:SPONSORED]


def make_log(folder: Path, now_ms: int) -> FloodLog:
    """Create the data directory, the genesis at `now_ms` and one sponsored declaration per founder 0..15.

    `now_ms` must be the server's clock within a day, so that those founders are still rate-limited."""
    founders = tuple(key(f"founder {i}") for i in range(FOUNDERS))
    council = key("council")
    policy = PolicyStatement(ORIGIN, now_ms, 0, tuple(sorted(MemberId(f.public_key) for f in founders)),
                             (council.public_key,), 1, DECLARATIONS, PARAMS)  # fmt: skip
    data = create_data_dir(folder / "log", ORIGIN, None, SigningKey.generate())
    en = declaration_hash(DECLARATIONS["en"])
    sponsored = [key(f"member {i}") for i in range(SPONSORED)]
    with Store.open(data.database_url({}), writable=True, create=True) as store:
        sequencer, _ = init_log(store, data.signer(), lambda: now_ms, signed(policy, council))
        setup = [signed(Declare(ORIGIN, now_ms, MemberId(m.public_key), en, None, MemberId(f.public_key)), m, f)
                 for m, f in zip(sponsored, founders, strict=False)]  # fmt: skip
        results = sequencer.submit_batch(setup)
        if not all(isinstance(r, Receipt) for r in results):
            raise SystemExit(f"the setup declarations were refused: {results}")
    return FloodLog(folder / "log", founders, tuple(k.public_key for k in (*founders, *sponsored)))


# --- the server --------------------------------------------------------------------------------------


def start_server(data: Path, folder: Path, *, batch_ms: int = 250, host: str = "127.0.0.1",
                 extra_env: dict[str, str] | None = None, cwd: Path = ROOT) -> Server:
    """`registry serve` as scripts/run starts it, in a child process (no DATABASE_URL, plus `extra_env`), its
    output in folder/server.out and folder/server.err; `stop()` is Ctrl-C's SIGINT (SIGKILL after 30 s) and
    returns that output."""
    return Server.serve(data, host=host, batch_ms=batch_ms, out=folder / "server.out", err=folder / "server.err",
                        env=child_env(extra=extra_env), cwd=cwd, stop_timeout_s=30).start()  # fmt: skip


def tree_size(base: str) -> int:
    """The size of the server's latest checkpoint."""
    note = parse_note(httpx.get(f"{base}/checkpoint", timeout=30).content)
    return parse_checkpoint(note.text).size


# --- the flood ---------------------------------------------------------------------------------------


def make_payloads(log: FloodLog, per_kind: int) -> dict[str, list[bytes]]:
    """`per_kind` distinct submissions of every kind of EXPECTED (made once, cycled by the clients)."""
    en = declaration_hash(DECLARATIONS["en"])
    now = time.time_ns() // 1_000_000
    stranger = key("not a member")
    kinds: dict[str, list[bytes]] = {k: [] for k in EXPECTED}
    for i in range(per_kind):
        fresh = key(f"flood {i}")
        member = MemberId(fresh.public_key)
        founder = log.rate_limited[i % len(log.rate_limited)]
        sponsor = MemberId(founder.public_key)
        kinds["unsponsored"].append(signed(Declare(ORIGIN, now, member, en, None, None), fresh))
        rate_limited = signed(Declare(ORIGIN, now, member, en, None, sponsor), fresh, founder)
        kinds["rate_limited"].append(rate_limited)
        kinds["alias"].append(rate_limited.replace(sponsor.hex().encode(), sponsor.hex().upper().encode()))
        flipped = bytearray(rate_limited)
        at = rate_limited.index(b'"sig":"') + 12
        flipped[at] = ord("A") if flipped[at] != ord("A") else ord("B")
        kinds["bad_signature"].append(bytes(flipped))
        kinds["wrong_origin"].append(signed(Declare(OTHER_ORIGIN, now, member, en, None, sponsor), fresh, founder))
        kinds["unknown_sponsor"].append(
            signed(Declare(ORIGIN, now, member, en, None, MemberId(stranger.public_key)), fresh, stranger))
        kinds["malformed"].append(json.dumps({"statement": {"n": i}, "signatures": []}, indent=1).encode())
        kinds["oversized"].append(b"[" + b" " * (MAX_BODY + 4_000) + b"%d]" % i)
        kinds["oversized_chunk"].append(b"[" + b" " * (MAX_BODY + 4_000) + b"%d]" % i)
    return kinds


def schedule(kinds: dict[str, list[bytes]], total: int) -> Iterator[tuple[str, bytes]]:
    """`total` submissions, the kinds interleaved round-robin; the oversized kinds once every 20 turns
    (they cost the client 70 kB each to send, the server nothing)."""
    order = [k for k in EXPECTED if not k.startswith("oversized")] * 10 + ["oversized", "oversized_chunk"]
    position = dict.fromkeys(EXPECTED, 0)
    for _, kind in zip(range(total), itertools.cycle(order), strict=False):
        pool = kinds[kind]
        yield kind, pool[position[kind] % len(pool)]
        position[kind] += 1


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client over one asyncio stream: a few microseconds of client work
    per request. httpx's pool costs milliseconds per request once hundreds are in flight (measured here:
    ~50 requests/s at 256 concurrent against ~1,500/s for this client), which would measure the client,
    not the server. The reads, which are few, use httpx as a member's SDK does."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, *, chunked: bool = False) -> tuple[int, bytes]:
        """Send one POST and read its answer: (status, body). Raises OSError or IncompleteReadError
        when the connection fails (it is then closed, and the next request opens a new one)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
        if chunked:
            chunks = [body[i : i + 8192] for i in range(0, len(body), 8192)]
            pieces = [b"%x\r\n%b\r\n" % (len(chunk), chunk) for chunk in chunks]
            payload = (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + b"".join(pieces) + b"0\r\n\r\n"
        else:
            payload = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        try:
            self.writer.write(payload)
            await self.writer.drain()
            lines = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
            headers = dict(line.lower().split(b": ", 1) for line in lines[1:] if b": " in line)
            answer = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            raise
        status = int(lines[0].split()[1])
        # The server answers 413 without reading the body, and then cannot reuse the connection.
        if status == 413 or headers.get(b"connection") == b"close":
            self.close()
        return status, answer


@dataclass
class FloodResult:
    sent: int = 0
    seconds: float = 0.0
    answers: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    """(kind, status, code) -> count; status 0 and the exception name when the connection failed."""

    @property
    def wrong(self) -> Counter[tuple[str, int, str]]:
        return Counter({k: n for k, n in self.answers.items() if EXPECTED[k[0]] != k[1:]})

    def merge(self, other: FloodResult) -> None:
        self.sent += other.sent
        self.seconds = max(self.seconds, other.seconds)
        self.answers.update(other.answers)


def _code(body: bytes) -> str:
    try:
        return str(json.loads(body).get("code", ""))
    except (ValueError, AttributeError):
        return ""


async def flood(base: str, work: Sequence[tuple[str, bytes]], concurrency: int, seconds: float) -> FloodResult:
    """Send `work` over `concurrency` connections (one request in flight on each), paced to take about
    `seconds` (0: as fast as the server answers)."""
    result = FloodResult()
    host, port = base.removeprefix("http://").rsplit(":", 1)
    interval = seconds / max(1, len(work))
    items = iter(work)  # one iterator shared by the workers of this event loop
    start = time.perf_counter()

    async def worker() -> None:
        connection = RawConnection(host, int(port))
        try:
            for kind, body in items:
                delay = start + result.sent * interval - time.perf_counter()
                result.sent += 1
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    status, answer = await connection.post("/v1/entries", body, chunked=kind == "oversized_chunk")
                    result.answers[(kind, status, _code(answer))] += 1
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                    result.answers[(kind, 0, type(exc).__name__)] += 1
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    return result


def _flood_process(base: str, work: list[tuple[str, bytes]], concurrency: int, seconds: float) -> FloodResult:
    return asyncio.run(flood(base, work, concurrency, seconds))


def run_flood(base: str, work: list[tuple[str, bytes]], *, workers: int, concurrency: int,
              seconds: float) -> FloodResult:
    """The flood from `workers` processes (in this process when 1), `concurrency` requests in all."""
    if workers <= 1:
        return _flood_process(base, work, concurrency, seconds)
    result = FloodResult()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        parts = [pool.submit(_flood_process, base, work[i::workers], max(1, concurrency // workers), seconds)
                 for i in range(workers)]  # fmt: skip
        for part in parts:
            result.merge(part.result())
    return result


# --- the reads ---------------------------------------------------------------------------------------


@dataclass
class Reads:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


async def read_members(base: str, members: Sequence[bytes], *, rate: float, until: asyncio.Event | float,
                       concurrency: int = 4) -> Reads:
    """GET /v1/members/{id} and GET /checkpoint (alternately) at `rate` per second, each waiting for
    its answer, until the event is set or for `until` seconds."""
    reads = Reads()
    paths = [p for m in members for p in (f"/v1/members/{m.hex()}", "/checkpoint")]
    stop_at = None if isinstance(until, asyncio.Event) else time.perf_counter() + until
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        start = time.perf_counter()
        counter = itertools.count()

        def done() -> bool:
            return until.is_set() if isinstance(until, asyncio.Event) else time.perf_counter() >= (stop_at or 0)

        async def worker() -> None:
            while not done():
                n = next(counter)
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                t0 = time.perf_counter()
                response = await client.get(paths[n % len(paths)])
                reads.latencies_ms.append((time.perf_counter() - t0) * 1000)
                reads.statuses[response.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return reads


async def read_servers(bases: Sequence[str], members: Sequence[bytes], *, rate: float,
                       until: asyncio.Event | float) -> list[Reads]:
    """`read_members` on every server of `bases` at once, each at `rate`: one Reads per server."""
    return list(await asyncio.gather(*(read_members(b, members, rate=rate, until=until) for b in bases)))


async def flood_while_reading(
    base: str, members: Sequence[bytes], work: list[tuple[str, bytes]], *,
    workers: int, concurrency: int, seconds: float, read_rate: float, control: str | None = None,
) -> tuple[FloodResult, Reads, Reads | None]:
    """The flood at `base` (in a thread, or in worker processes) while this loop measures member reads
    at `base` and, at the same moments, at the `control` server that the flood does not reach."""
    stop = asyncio.Event()
    bases = [base] if control is None else [base, control]
    readers = asyncio.create_task(read_servers(bases, members, rate=read_rate, until=stop))
    try:
        result = await asyncio.to_thread(run_flood, base, work, workers=workers, concurrency=concurrency,
                                         seconds=seconds)  # fmt: skip
    finally:
        stop.set()
    reads = await readers
    return result, reads[0], reads[1] if control is not None else None


# --- main --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=100_000, help="flood submissions (default 100,000)")
    parser.add_argument("--seconds", type=float, default=60, help="pace the flood over this time (default 60)")
    parser.add_argument("--workers", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=512, help="concurrent requests in all (default 512)")
    parser.add_argument("--read-rate", type=float, default=100, help="member reads per second (default 100)")
    parser.add_argument("--baseline-seconds", type=float, default=15, help="unloaded read time (default 15)")
    parser.add_argument("--per-kind", type=int, default=1000, help="distinct submissions per kind (default 1000)")
    parser.add_argument("--batch-ms", type=int, default=250, help="the server's batch window (scripts/run: 250)")
    parser.add_argument("--no-control", action="store_true",
                        help="no control server: compare the reads with their own figure before the flood")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flood-") as tmp, ExitStack() as servers:
        folder = Path(tmp)
        log = make_log(folder, time.time_ns() // 1_000_000)
        kinds = make_payloads(log, args.per_kind)
        work = list(schedule(kinds, args.total))
        server = start_server(log.data, folder, batch_ms=args.batch_ms)
        servers.callback(server.stop)
        control_url = None
        if not args.no_control:
            (folder / "control").mkdir()
            control = start_server(log.data, folder / "control", batch_ms=args.batch_ms)
            servers.callback(control.stop)
            control_url = control.url
        bases = [server.url] if control_url is None else [server.url, control_url]
        size_before = tree_size(server.url)
        asyncio.run(read_servers(bases, log.members, rate=args.read_rate, until=2.0))  # warm up
        baseline, *control_before = asyncio.run(read_servers(bases, log.members, rate=args.read_rate,
                                                             until=args.baseline_seconds))  # fmt: skip
        rss_before = server.rss_kb()
        cpu_before = server.cpu_seconds()
        result, loaded, control_during = asyncio.run(flood_while_reading(
            server.url, log.members, work, workers=args.workers, concurrency=args.concurrency,
            seconds=args.seconds, read_rate=args.read_rate, control=control_url))  # fmt: skip
        cpu_used = server.cpu_seconds() - cpu_before
        rss_after = server.rss_kb()
        size_after = tree_size(server.url)

    print(f"flood: {result.sent:,} submissions in {result.seconds:.1f} s ({result.sent / result.seconds:,.0f}/s) "
          f"from {args.workers} processes, {args.concurrency} concurrent; server batch window {args.batch_ms} ms; "
          f"{os.cpu_count()} cores shared by clients and server")
    print("answers (kind, status, code: count):")
    for (kind, status, code), n in sorted(result.answers.items()):
        mark = "" if EXPECTED[kind] == (status, code) else "   <-- expected " + " ".join(map(str, EXPECTED[kind]))
        print(f"  {kind:16} {status:3} {code:20} {n:>8,}{mark}")
    by_status = Counter[int]()
    for (_, status, _), n in result.answers.items():
        by_status[status] += n
    print("by status: " + ", ".join(f"{s}: {n:,}" for s, n in sorted(by_status.items())))
    print(f"tree size before {size_before}, after {size_after}")
    grown_mb = (rss_after["VmRSS"] - rss_before["VmRSS"]) / 1024
    peak_mb = (rss_after["VmHWM"] - rss_before["VmRSS"]) / 1024
    print(f"server RSS: {rss_before['VmRSS'] / 1024:.1f} MB before, {rss_after['VmRSS'] / 1024:.1f} MB after "
          f"(+{grown_mb:.1f} MB), peak {rss_after['VmHWM'] / 1024:.1f} MB (+{peak_mb:.1f} MB)")
    cpu_us = cpu_used / max(1, result.sent) * 1e6
    print(f"server CPU during the flood: {cpu_used:.1f} s, {cpu_used / result.seconds:.0%} of one core, "
          f"{cpu_us:.0f} us per submission (the reads included)")
    measured = [("unloaded", baseline), ("flooded", loaded)]
    if control_during is not None:
        measured += [("control unloaded", control_before[0]), ("control flooded", control_during)]
    for label, reads in measured:
        print(f"reads {label:16}: {len(reads.latencies_ms):6,} requests, p50 {reads.percentile(0.5):6.1f} ms, "
              f"p99 {reads.percentile(0.99):7.1f} ms, statuses {dict(reads.statuses)}")
    p99 = loaded.percentile(0.99)
    ratio = p99 / max(0.001, baseline.percentile(0.99))
    print(f"flooded server: read p99 {ratio:.2f}x its own before the flood")
    if control_during is not None:
        machine = control_during.percentile(0.99) / max(0.001, control_before[0].percentile(0.99))
        against_control = p99 / max(0.001, control_during.percentile(0.99))
        print(f"control server (no flood reached it): read p99 {machine:.2f}x its own before the flood "
              f"(the machine's share); flooded server's p99 {against_control:.2f}x the control's during the flood "
              f"(the server's share)")
    reference = "the control's during the flood" if control_during is not None else "unloaded"
    checked = against_control if control_during is not None else ratio
    every_read = [baseline, loaded, *control_before, *([control_during] if control_during else [])]
    checks = {
        "nothing appended": size_after == size_before,
        "every answer as expected": not result.wrong and result.sent == args.total,
        "RSS growth < 100 MB": grown_mb < 100,
        "reads all 200": all(set(r.statuses) == {200} for r in every_read),
        f"read p99 < 2x {reference}": checked < 2,
    }
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    figures = {
        "flood_submissions": result.sent,
        "flood_per_s": round(result.sent / result.seconds),
        "flood_wrong_answers": sum(result.wrong.values()),
        "flood_appended": size_after - size_before,
        **{f"flood_status_{s}": n for s, n in sorted(by_status.items())},
        "server_cpu_s": round(cpu_used, 1),
        "server_cpu_us_per_submission": round(cpu_us),
        "rss_growth_mb": round(grown_mb, 1),
        "rss_peak_growth_mb": round(peak_mb, 1),
        "read_p99_unloaded_ms": round(baseline.percentile(0.99), 1),
        "read_p99_flooded_ms": round(loaded.percentile(0.99), 1),
        "read_p99_ratio": round(ratio, 2),
    }
    if control_during is not None:
        figures |= {
            "control_p99_unloaded_ms": round(control_before[0].percentile(0.99), 1),
            "control_p99_flooded_ms": round(control_during.percentile(0.99), 1),
            "control_p99_ratio": round(machine, 2),
            "read_p99_vs_control": round(against_control, 2),
        }
    for name, value in figures.items():
        print(f"{name}={value}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
