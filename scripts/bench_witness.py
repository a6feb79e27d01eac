#!/usr/bin/env python3
"""Benchmark witnesses (protocol §6.2, §6.3).

Part 1, cosignatures per second of one witness:
  - in process: `Witness.add_checkpoint` on a growing log, one entry per checkpoint (parse, verify the
    log signature and the consistency proof, compare-and-swap with fsync, cosign);
  - over HTTP, one real `registry witness serve` process on loopback: one client advancing one log, and
    8 clients each advancing its own log (keep-alive connections).

Part 2, the cost of witnessing to submitters: the real server (`registry serve --batch-ms B`, as
./scripts/run starts it) on two data directories holding the same pre-signed statements, one with no
witnesses and one with three local witness processes and quorum two (witnesses.json); rounds alternate
between them. Each round sends N statements from C concurrent keep-alive connections (the raw client
of scripts/bench_append.py) and measures accepted statements per second and p50/p99 latency (a 201
means committed under a checkpoint that, with witnesses, two of them cosigned). Targets (issue 6): p99
at most 100 ms more, throughput at least 0.8 of the witness-less figure.

Prints figures, then one `name=value` line per headline figure.

Usage: scripts/bench_witness.py [--seconds S] [--part 1|2|all] [--entries N] [--rounds R] [--concurrency C]
                               [--batch-ms B]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/serverproc.py

from serverproc import Server

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.keys import SigningKey
from crypto.merkle import MerkleTree, leaf_hash
from crypto.nodestore import MemoryNodeStore
from crypto.note import format_note
from crypto.notekey import NoteSigner
from registry.datadir import open_data_dir
from registry.witness.config import WitnessConfig, add_witness, save_witness_config, set_quorum
from registry.witness.directory import create_witness_dir, open_witness_dir
from registry.witness.protocol import AddCheckpoint, format_add_checkpoint
from registry.witness.state import WitnessState
from registry.witness.witness import Witness

ROOT = Path(__file__).resolve().parent.parent


class _Log:
    def __init__(self, name: str) -> None:
        self.signer = NoteSigner(name, SigningKey.from_seed(hashlib.sha256(name.encode()).digest()))
        self.tree = MerkleTree(MemoryNodeStore())

    def grow(self) -> tuple[int, bytes]:
        """Append one entry; return (old size, the add-checkpoint body from it)."""
        old = self.tree.size
        self.tree.append(leaf_hash(b"entry %d" % old))
        cp = Checkpoint(self.signer.name, self.tree.size, self.tree.root())
        note = format_note(sign_checkpoint(cp, self.signer))
        proof = tuple(self.tree.consistency_proof(old, self.tree.size))
        return old, format_add_checkpoint(AddCheckpoint(old, proof, note))


def _prepare(log: _Log, count: int) -> list[bytes]:
    return [log.grow()[1] for _ in range(count)]


def bench_in_process(seconds: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        log = _Log("bench.example/log")
        key = SigningKey.from_seed(hashlib.sha256(b"bench witness").digest())
        state = WitnessState.open(Path(tmp) / "state.sqlite3")
        witness = Witness("bench-witness.example", key, [log.signer.verifier], state, lambda: int(time.time()))
        bodies = _prepare(log, 200)
        for body in bodies[:20]:  # warm-up
            witness.add_checkpoint(body)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            if done + 20 >= len(bodies):
                bodies += _prepare(log, 200)
            witness.add_checkpoint(bodies[20 + done])
            done += 1
        elapsed = time.perf_counter() - start
        state.close()
    return done / elapsed


def _serve_witness(directory: Path, vkeys: list[str]) -> Server:
    """`registry witness serve DIR --log VKEY...` on a free loopback port, ready (its output discarded)."""
    return Server.witness(directory, vkeys).start(timeout_s=30, poll_s=0.05)


def bench_http(seconds: float, clients: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "w"
        create_witness_dir(directory, "bench-witness.example", SigningKey.from_seed(b"\x09" * 32))
        logs = [_Log(f"bench{i}.example/log") for i in range(clients)]
        bodies = [_prepare(log, 50) for log in logs]
        witness = _serve_witness(directory, [log.signer.vkey for log in logs])
        url = witness.url
        counts = [0] * clients
        stop = time.perf_counter() + seconds
        errors: list[str] = []

        def client(i: int) -> None:
            with httpx.Client(timeout=10) as http:
                n = 0
                while time.perf_counter() < stop:
                    if n >= len(bodies[i]):
                        bodies[i] += _prepare(logs[i], 50)
                    response = http.post(f"{url}/add-checkpoint", content=bodies[i][n])
                    if response.status_code != 200:
                        errors.append(f"{response.status_code}")
                        return
                    n += 1
                counts[i] = n

        try:
            start = time.perf_counter()
            threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
        finally:
            witness.stop()
        if errors:
            raise SystemExit(f"witness refused a request: {errors[0]}")
    return sum(counts) / elapsed


def part1(seconds: float) -> dict[str, float]:
    in_process = bench_in_process(seconds)
    print(f"one witness, in process, growing log:       {in_process:8.0f} cosignatures/s")
    http1 = bench_http(seconds, 1)
    print(f"one witness, HTTP, 1 client / 1 log:        {http1:8.0f} cosignatures/s")
    http8 = bench_http(seconds, 8)
    print(f"one witness, HTTP, 8 clients / 8 logs:      {http8:8.0f} cosignatures/s")
    return {
        "witness_cosign_per_s_inprocess": in_process,
        "witness_cosign_per_s_http_1": http1,
        "witness_cosign_per_s_http_8": http8,
    }


def _bench_append() -> Any:
    """scripts/bench_append.py, for its pre-signed log and its raw HTTP client (same load, same server)."""
    spec = importlib.util.spec_from_file_location("bench_append", ROOT / "scripts" / "bench_append.py")
    if spec is None or spec.loader is None:
        raise SystemExit("scripts/bench_append.py is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def part2(args: argparse.Namespace) -> dict[str, float]:
    ba = _bench_append()
    warm = 256
    count = warm + args.rounds * args.entries
    now = time.time_ns() // 1_000_000
    with tempfile.TemporaryDirectory(prefix="bench_witness-") as tmp:
        folder = Path(tmp)
        plain, entries, _ = ba.make_log(folder / "plain", count, now)
        witnessed, _, _ = ba.make_log(folder / "witnessed", count, now)
        vkey = open_data_dir(witnessed).config.log_vkey
        processes: list[Server] = []
        try:
            config = WitnessConfig(0, ())
            for n in (1, 2, 3):
                directory = folder / f"w{n}"
                create_witness_dir(directory, f"witness{n}.bench.example", SigningKey.generate())
                witness = _serve_witness(directory, [vkey])
                processes.append(witness)
                config = add_witness(config, open_witness_dir(directory).vkey, witness.url)
            save_witness_config(witnessed, set_quorum(config, 2))
            servers = {}
            for name, data in (("none", plain), ("witnessed", witnessed)):
                server = ba.start_server(data, args.batch_ms, folder / f"{name}.log")
                servers[name] = server.url
                processes.append(server)
            for base in servers.values():
                asyncio.run(ba.drive_raw(base, [("POST", "/v1/entries", e) for e in entries[:warm]], 64))
            runs: dict[str, list[Any]] = {"none": [], "witnessed": []}
            for r in range(args.rounds):
                chunk = entries[warm + r * args.entries : warm + (r + 1) * args.entries]
                for name in ("none", "witnessed") if r % 2 == 0 else ("witnessed", "none"):
                    calls = [("POST", "/v1/entries", e) for e in chunk]
                    runs[name].append(asyncio.run(ba.drive_raw(servers[name], calls, args.concurrency)))
        finally:
            for process in processes:
                process.stop()
    for name, done in runs.items():
        statuses = {s for run in done for s in run.statuses}
        if statuses != {201}:
            raise SystemExit(f"unexpected statuses with {name} witnesses: {sorted(statuses)}")

    def best(name: str) -> float:
        return float(max(run.rate for run in runs[name]))

    def latency(name: str, p: float) -> float:
        return float(statistics.median(run.percentile(p) for run in runs[name]))

    print(f"[{args.rounds} rounds of {args.entries} statements, concurrency {args.concurrency}, batch_ms "
          f"{args.batch_ms}; rates: best round, latencies: median round]")
    for name, label in (("none", "no witnesses"), ("witnessed", "3 witnesses, quorum 2")):
        print(f"  {label:24} {best(name):7.0f} accepted/s  p50 {latency(name, 0.5):7.1f} ms  "
              f"p99 {latency(name, 0.99):7.1f} ms")
    figures = {
        "append_per_s_no_witnesses": best("none"),
        "append_per_s_witnessed": best("witnessed"),
        "append_p50_ms_no_witnesses": latency("none", 0.5),
        "append_p50_ms_witnessed": latency("witnessed", 0.5),
        "append_p99_ms_no_witnesses": latency("none", 0.99),
        "append_p99_ms_witnessed": latency("witnessed", 0.99),
    }
    figures["witnessed_vs_none_throughput"] = figures["append_per_s_witnessed"] / figures["append_per_s_no_witnesses"]
    figures["witnessed_p99_extra_ms"] = figures["append_p99_ms_witnessed"] - figures["append_p99_ms_no_witnesses"]
    print(f"  throughput witnessed / none = {figures['witnessed_vs_none_throughput']:.2f} (target >= 0.8); p99 "
          f"{figures['witnessed_p99_extra_ms']:+.0f} ms (target <= +100 ms)")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="part 1: duration of each measurement")
    parser.add_argument("--part", choices=["1", "2", "all"], default="all")
    parser.add_argument("--entries", type=int, default=1500, help="part 2: statements per round")
    parser.add_argument("--rounds", type=int, default=4, help="part 2: rounds per server (alternating)")
    parser.add_argument("--concurrency", type=int, default=256, help="part 2: concurrent submissions")
    parser.add_argument("--batch-ms", type=int, default=250, help="part 2: the batch window (scripts/run: 250)")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    if args.part in ("1", "all"):
        figures.update(part1(args.seconds))
    if args.part in ("2", "all"):
        figures.update(part2(args))
    for name, value in figures.items():
        print(f"{name}={value:.2f}" if "vs" in name else f"{name}={value:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
