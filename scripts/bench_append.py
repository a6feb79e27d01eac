#!/usr/bin/env python3
"""Benchmark the REST API's durable appends and member reads against bare FastAPI endpoints (protocol §9).

Starts the real server exactly as ./scripts/run does (`registry serve --data DIR --host 127.0.0.1
--port P --batch-ms 250`: one uvicorn process, no access log, SQLite with WAL and synchronous=FULL in
a temporary data directory, or PostgreSQL when DATABASE_URL is set), and, with the same uvicorn
settings (`registry.cli.cmd_serve.uvicorn_options`), a bare FastAPI app whose POST only parses a JSON
body and whose GET only returns a small JSON object.

The log's genesis names 64 founders and relaxes the flood limits, so that every pre-signed statement
is valid in any order: N declarations, each co-signed by a founder as sponsor (two Ed25519 signatures
each), made deterministically from fixed seeds before the clock starts.

Figures, all from concurrent httpx clients (asyncio, one connection per concurrent request) on this
machine, so client and server share its cores:
  - accepted statements per second through POST /v1/entries, and p50/p99 latency (a 201 means the
    statement is committed under a signed checkpoint);
  - requests per second of the bare POST with the same bodies at the same concurrency;
  - GET /v1/members/{id} (random known members) against a bare GET, at the same concurrency.
Targets (issue 4): append throughput >= 0.5 x bare POST; append p99 <= batch_ms + 250 ms; member GET
>= 0.7 x bare GET.

Usage: scripts/bench_append.py [--entries N] [--concurrency C] [--get-concurrency C] [--gets N] [--batch-ms MS]
Ends with one name=value line per headline figure.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/serverproc.py, also when loaded by a script

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from scriptlog import DECLARATIONS, RELAXED, signed
from serverproc import Server, free_port

from crypto.keys import SigningKey
from registry.datadir import create_data_dir
from registry.sequencer import init_log
from registry.statements import (
    Declare,
    MemberId,
    PolicyStatement,
    declaration_hash,
)
from registry.store import Store

ORIGIN = "bench.registry.example/log"
FOUNDERS = 64


def key(label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"bench_append {label}".encode()).digest())



def make_log(folder: Path, count: int, created_ms: int) -> tuple[Path, list[bytes], list[bytes]]:
    """A data directory holding the genesis, `count` pre-signed declarations, and the members' ids."""
    founders = [key(f"founder {i}") for i in range(FOUNDERS)]
    council = key("council")
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
    data = create_data_dir(folder / "log", ORIGIN, None, SigningKey.generate())
    with Store.open(data.database_url(os.environ), writable=True, create=True) as store:
        init_log(store, data.signer(), lambda: created_ms, signed(policy, council))
    en = declaration_hash(DECLARATIONS["en"])
    entries, members = [], []
    for i in range(count):
        member, sponsor = key(f"member {i}"), founders[i % FOUNDERS]
        stmt = Declare(ORIGIN, created_ms, MemberId(member.public_key), en, None, MemberId(sponsor.public_key))
        entries.append(signed(stmt, member, sponsor))
        members.append(member.public_key)
    return folder / "log", entries, [f.public_key for f in founders] + members


# --- the bare app (started in a child process by `--serve-bare PORT`) -----------------------------------


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/bare")
    async def bare_post(request: Request) -> Response:
        json.loads(await request.body())  # only parse the body
        return Response(b'{"ok":true}', status_code=201, media_type="application/json")

    @app.get("/bare/{ident}")
    async def bare_get(ident: str) -> Response:
        return Response(json.dumps({"ident": ident, "ok": True}), media_type="application/json")

    return app


def serve_bare(port: int) -> None:
    import uvicorn

    from registry.cli.cmd_serve import uvicorn_options

    uvicorn.run(bare_app, **uvicorn_options("127.0.0.1", port))  # type: ignore[arg-type]


# --- processes -------------------------------------------------------------------------------------------


def start_server(data: Path, batch_ms: int, log: Path) -> Server:
    """`registry serve` exactly as ./scripts/run starts it, ready; its output in `log`. It inherits this
    process's environment, DATABASE_URL included (the database `make_log` wrote to). `stop()`: SIGTERM."""
    server = Server.serve(data, host="127.0.0.1", batch_ms=batch_ms, out=log, env=dict(os.environ),
                          stop_signal=signal.SIGTERM)  # fmt: skip
    return server.start()


def start_bare(log: Path) -> Server:
    """The bare app (this script with `--serve-bare PORT`) with the same uvicorn settings, ready."""
    port = free_port()
    command = (sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port))
    server = Server(command, port, out=log, env=dict(os.environ), ready_path="/bare/x", stop_signal=signal.SIGTERM)
    return server.start()


# --- load ------------------------------------------------------------------------------------------------


Call = tuple[str, str, bytes | None]
JSON = {"content-type": "application/json"}


class Run:
    def __init__(self, elapsed: float, latencies: list[float], statuses: list[int]) -> None:
        self.elapsed, self.latencies, self.statuses = elapsed, latencies, statuses

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def drive_httpx(base: str, requests: Sequence[Call], concurrency: int) -> Run:
    """Send `requests` from `concurrency` workers, each with its own httpx.AsyncClient (one keep-alive
    connection each: a shared pool of hundreds of connections costs httpx far more per request)."""
    latencies: list[float] = []
    statuses: list[int] = []
    position = 0
    clients = [httpx.AsyncClient(base_url=base, timeout=300) for _ in range(concurrency)]

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal position
        while position < len(requests):
            method, path, body = requests[position]
            position += 1
            t0 = time.perf_counter()
            response = await client.request(method, path, content=body, headers=JSON if body else None)
            latencies.append(time.perf_counter() - t0)
            statuses.append(response.status_code)

    try:
        # Open the connections first, so that the measured window holds requests only.
        await asyncio.gather(*(client.get("/healthz") for client in clients))
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for client in clients))
        elapsed = time.perf_counter() - t0
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    return Run(elapsed, latencies, statuses)


async def drive_raw(base: str, requests: Sequence[Call], concurrency: int) -> Run:
    """The same load from a minimal HTTP/1.1 keep-alive client on asyncio streams (a few microseconds of
    client work per request, so that the figures are the server's, not the client library's)."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    statuses: list[int] = []
    position = 0

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Call) -> int:
        method, path, body = request
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + (body or b""))
        await writer.drain()
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        length = next(int(x.split(b":")[1]) for x in lines if x.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        return int(lines[0].split()[1])

    async def worker(connected: asyncio.Event, ready: list[int]) -> None:
        nonlocal position
        reader, writer = await asyncio.open_connection(host, int(port))
        ready.append(1)
        await connected.wait()
        while position < len(requests):
            request = requests[position]
            position += 1
            t0 = time.perf_counter()
            statuses.append(await exchange(reader, writer, request))
            latencies.append(time.perf_counter() - t0)
        writer.close()

    connected, ready = asyncio.Event(), list[int]()
    tasks = [asyncio.create_task(worker(connected, ready)) for _ in range(concurrency)]
    while len(ready) < concurrency:
        await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    connected.set()
    await asyncio.gather(*tasks)
    return Run(time.perf_counter() - t0, latencies, statuses)


Driver = Callable[[str, Sequence[Call], int], Coroutine[Any, Any, Run]]


def measure(name: str, driver: Driver, base: str, bare: str, chunks: list[list[bytes]], picks: list[list[str]],
            args: argparse.Namespace) -> dict[str, float]:
    """Interleaved rounds (ours, then bare, for each kind); rates are the best round's (interference on
    a shared machine only slows a round down), latencies the median round's."""
    runs: dict[str, list[Run]] = {"append": [], "bare_post": [], "member_get": [], "bare_get": []}
    for chunk, pick in zip(chunks, picks, strict=True):
        runs["append"].append(asyncio.run(driver(base, [("POST", "/v1/entries", e) for e in chunk], args.concurrency)))
        runs["bare_post"].append(asyncio.run(driver(bare, [("POST", "/bare", e) for e in chunk], args.concurrency)))
        gets = [("GET", f"/v1/members/{p}", None) for p in pick]
        runs["member_get"].append(asyncio.run(driver(base, gets, args.get_concurrency)))
        bare_gets = [("GET", f"/bare/{p}", None) for p in pick]
        runs["bare_get"].append(asyncio.run(driver(bare, bare_gets, args.get_concurrency)))
    for kind, expected in (("append", 201), ("bare_post", 201), ("member_get", 200), ("bare_get", 200)):
        statuses = {s for run in runs[kind] for s in run.statuses}
        if statuses != {expected}:
            raise SystemExit(f"unexpected statuses for {kind}: {sorted(statuses)}")

    def best(kind: str) -> float:
        return max(run.rate for run in runs[kind])

    def latency(kind: str, p: float) -> float:
        return float(statistics.median(run.percentile(p) for run in runs[kind]))

    print(f"[{name} client: {len(chunks)} round(s); rates: best round, latencies: median round]")
    for kind, unit in (("append", "accepted/s"), ("bare_post", "req/s"), ("member_get", "req/s"),
                       ("bare_get", "req/s")):
        rates = " ".join(f"{run.rate:.0f}" for run in runs[kind])
        print(f"  {kind:10} {best(kind):7.0f} {unit:11} p50 {latency(kind, 0.5):7.1f} ms  "
              f"p99 {latency(kind, 0.99):7.1f} ms  (rounds: {rates})")
    figures = {
        "append_per_s": best("append"),
        "append_p50_ms": latency("append", 0.5),
        "append_p99_ms": latency("append", 0.99),
        "bare_post_per_s": best("bare_post"),
        "append_vs_bare": best("append") / best("bare_post"),
        "member_get_per_s": best("member_get"),
        "bare_get_per_s": best("bare_get"),
        "member_get_vs_bare": best("member_get") / best("bare_get"),
    }
    print(f"  append / bare POST = {figures['append_vs_bare']:.2f} (target >= 0.5); append p99 "
          f"{figures['append_p99_ms']:.0f} ms (target <= {args.batch_ms + 250}); member GET / bare GET = "
          f"{figures['member_get_vs_bare']:.2f} (target >= 0.7)")
    return figures


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-bare":
        serve_bare(int(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1500, help="statements appended per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds with the raw client (httpx: one)")
    parser.add_argument("--concurrency", type=int, default=256, help="concurrent appends")
    parser.add_argument("--get-concurrency", type=int, default=32, help="concurrent GETs")
    parser.add_argument("--gets", type=int, default=3000, help="GET requests per endpoint and round")
    parser.add_argument("--batch-ms", type=int, default=250, help="the server's batch window (scripts/run: 250)")
    args = parser.parse_args()
    warm = 512
    now = time.time_ns() // 1_000_000

    with tempfile.TemporaryDirectory(prefix="bench_append-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        data, entries, ids = make_log(folder, warm + (1 + args.rounds) * args.entries, now)
        database = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "SQLite"
        print(f"pre-signed {len(entries)} declarations ({len(entries[0])} bytes each) in "
              f"{time.perf_counter() - t0:.1f} s; database: {database}; batch_ms {args.batch_ms}; "
              f"{os.cpu_count()} cores shared by clients and servers")
        server = start_server(data, args.batch_ms, folder / "server.log")
        bare_server = start_bare(folder / "bare.log")
        base, bare = server.url, bare_server.url
        rng = random.Random(4)
        try:
            asyncio.run(drive_raw(base, [("POST", "/v1/entries", e) for e in entries[:warm]], 64))
            asyncio.run(drive_raw(bare, [("POST", "/bare", e) for e in entries[:warm]], 64))
            results = {}
            position = warm
            for name, driver, rounds in (("httpx", drive_httpx, 1), ("raw", drive_raw, args.rounds)):
                chunks, picks = [], []
                for _ in range(rounds):
                    chunks.append(entries[position : position + args.entries])
                    known = ids[: FOUNDERS + position]  # members already in the log
                    picks.append([known[rng.randrange(len(known))].hex() for _ in range(args.gets)])
                    position += args.entries
                results[name] = measure(name, driver, base, bare, chunks, picks, args)
        finally:
            server.stop()
            bare_server.stop()
    for name, figures in results.items():
        for figure, value in figures.items():
            print(f"{figure}_{name}={value:.2f}" if "vs" in figure else f"{figure}_{name}={value:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
