#!/usr/bin/env python3
"""Benchmark witnesses (protocol §6.2, §6.3).

Part 1, cosignatures per second of one witness:
  - in process: `Witness.add_checkpoint` on a growing log, one entry per checkpoint (parse, verify the
    log signature and the consistency proof, compare-and-swap with fsync, cosign);
  - over HTTP, one real `registry witness serve` process on loopback: one client advancing one log, and
    8 clients each advancing its own log (keep-alive connections).

Part 2 (--part 2 or all): submission latency and throughput of the log server with three local witnesses
and quorum two, against no witnesses, in the same run (added with the sequencer integration).

Prints figures, then one `name=value` line per headline figure.

Usage: scripts/bench_witness.py [--seconds S] [--part 1|2|all]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.keys import SigningKey
from crypto.merkle import MemoryNodeStore, MerkleTree, leaf_hash
from crypto.note import NoteSigner, format_note
from registry.witness.directory import create_witness_dir
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_witness(directory: Path, logs: list[_Log]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    args = [sys.executable, "-m", "registry", "witness", "serve", str(directory), "--port", str(port)]
    for log in logs:
        args += ["--log", log.signer.vkey]
    process = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.terminate()
    raise SystemExit("the witness server did not start")


def bench_http(seconds: float, clients: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "w"
        create_witness_dir(directory, "bench-witness.example", SigningKey.from_seed(b"\x09" * 32))
        logs = [_Log(f"bench{i}.example/log") for i in range(clients)]
        bodies = [_prepare(log, 50) for log in logs]
        process, url = _serve_witness(directory, logs)
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
            process.terminate()
            process.wait(timeout=10)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--part", choices=["1", "2", "all"], default="all")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    if args.part in ("1", "all"):
        figures.update(part1(args.seconds))
    for name, value in figures.items():
        print(f"{name}={value:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
