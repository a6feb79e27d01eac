#!/usr/bin/env python3
"""Start-up benchmark: how long a sequencer and `registry serve` take to open a stored log (protocol §5.6-h).

Usage: python scripts/bench_startup.py [--entries 10000,100000] [--seed S] [--workdir DIR] [--repeat N]
                                       [--profile SIZE] [--no-serve]

For each size, in ascending order:
  1. build a data directory (SQLite) holding a realistic synthetic log of that many leaves: the leaves of
     `scripts/synthlog.py` (founders, sponsored joins, vouches, revocations, rotations; a state leaf under
     every checkpoint), committed through the public `Store.append` in batches of 256 leaves that share
     one log time, with the tree nodes they complete and one checkpoint signed by the log's key per
     batch, as the sequencer writes them. Cached under --workdir by size, seed and generator version, so
     reruns are quick;
  2. with no start-up snapshot in the store: time `Store.open` + `Sequencer.open(full_check=True)` in this
     process (`open_full_s`: every leaf through the rules, as before snapshots existed; `open_full_cpu_s`:
     its CPU time, less disturbed by other work on the machine), and `registry serve --data DIR` in a
     fresh subprocess from its start until `GET /healthz` answers 200 (`serve_full_s`: interpreter,
     imports, the same start-up and uvicorn; the snapshot it starts writing is dropped before each run);
  3. write the start-up snapshot (protocol §9.1-i; `snapshot_mb`, `snapshot_write_s`), then time the same
     two starts from it (`open_s`, `open_cpu_s`, `serve_s`): every row, leaf hash, node and the latest
     checkpoint are still checked, the rules run on no leaf. Before each server start the snapshot is
     written again by a fresh process, so that it is of the source files as they are then.
  Each figure is the best of --repeat runs. A log of two leaves gives the fixed cost of a server start
  (`serve_s_base`).

--profile SIZE runs both opens once under cProfile on that size and prints the top functions by
cumulative and by own time (to stderr).

The headline figures end the output, one `name=value` line each.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import http.client
import json
import os
import pstats
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import synthlog

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.merkle import MerkleTree, hash_leaves
from crypto.nodestore import NodeKey, NodeRun
from crypto.note import format_note
from registry.datadir import DB_FILE, create_data_dir, open_data_dir
from registry.sequencer import Sequencer
from registry.statetree import StateLeaf, parse_log_leaf, state_payload_hash
from registry.store import Append, Store, StoredEntry

_BATCH = synthlog.CHECKPOINT_EVERY
_SERVE_TIMEOUT_S = 1800.0


# --- the data directory ----------------------------------------------------------------------------


def _rows(leaves: list[bytes]) -> tuple[StoredEntry, ...]:
    """The store rows of parsed leaves, with the columns the sequencer derives from them."""
    rows = []
    for leaf in leaves:
        parsed = parse_log_leaf(leaf)
        if isinstance(parsed, StateLeaf):
            rows.append(StoredEntry(parsed.index, leaf, state_payload_hash(leaf), parsed.logged_ms))
        else:
            rows.append(StoredEntry(parsed.index, leaf, parsed.entry.payload_hash, parsed.logged_ms))
    return tuple(rows)


class _BatchedLog(synthlog.SyntheticLog):
    """The synthetic log with one log time per batch of `_BATCH` leaves, as a sequencer gives every leaf
    of a batch, its state leaf included (protocol §5.6-j)."""

    def _logged_ms(self, index: int) -> int:
        return self.start_ms + (index - index % _BATCH) * self.step_ms


class _Frontier:
    """A `NodeStore` that reads the store's nodes and keeps the nodes of the batch being built in memory
    (they are written by `Store.append`, with their leaves)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.known: dict[NodeKey, bytes] = {}

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        missing = [k for k in keys if k not in self.known]
        fetched = dict(zip(missing, self._store.nodes.get_nodes(missing), strict=True)) if missing else {}
        return [self.known[k] if k in self.known else fetched[k] for k in keys]

    def put_nodes(self, runs: Sequence[NodeRun]) -> None:
        for run in runs:
            self.known.update(run.items())


def build_data_dir(folder: Path, entries: int, seed: bytes, founders: int) -> None:
    """A data directory at `folder` holding the synthetic log of `entries` leaves (see the docstring)."""
    generator = _BatchedLog(seed, founders=founders)
    signer = generator.signer
    data = create_data_dir(folder, generator.origin, None, synthlog.seed_key(seed, 0))
    if data.signer().vkey != signer.vkey:
        raise SystemExit("the data directory's key is not the synthetic log's key")
    started = time.perf_counter()
    with Store.open(data.database_url({}), writable=True, create=True) as store:
        store.initialize(signer.name, signer.vkey)
        size = 0
        pending: list[bytes] = []
        for index, _, leaf in generator.leaves(entries, seal_every=_BATCH):
            pending.append(leaf)
            if len(pending) == _BATCH or index == entries - 1:
                rows = _rows(pending)
                extension = MerkleTree(_Frontier(store), size).extend(hash_leaves(r.leaf for r in rows))
                note = format_note(
                    sign_checkpoint(Checkpoint(signer.name, extension.tree_size, extension.root_hash), signer)
                )
                store.append(Append(size, rows, extension.runs, note))
                size = extension.tree_size
                pending = []
                if sys.stderr.isatty() and size % 10_240 == 0:
                    rate = size / (time.perf_counter() - started)
                    print(f"\rbuilt {size:,}/{entries:,} leaves ({rate:,.0f}/s)", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)


WORKDIR: Final = "registry-bench-startup"
"""The cache of built data directories under the temporary directory (bench_snapshot_reads.py shares it)."""


def ensure_data_dir(workdir: Path, entries: int, seed: bytes, founders: int) -> Path:
    """The cached data directory of `entries` leaves; built unless present and complete."""
    tag = hashlib.sha256(seed).hexdigest()[:12]
    path = workdir / f"data-{entries}-{tag}-f{founders}-g{synthlog.GENERATOR_VERSION}-b{_BATCH}"
    done = path / ".complete"
    if done.exists():
        print(f"data: {path} (cached)")
        return path
    if path.exists():
        shutil.rmtree(path)
    print(f"data: building {entries:,} leaves into {path} ...", flush=True)
    started = time.perf_counter()
    build_data_dir(path, entries, seed, founders)
    seconds = time.perf_counter() - started
    done.write_text(f"{seconds:.1f}\n", encoding="utf-8")  # written last: marks the cache good
    print(f"data: built in {seconds:.1f} s ({entries / seconds:,.0f} leaves/s)")
    return path


# --- the timings -----------------------------------------------------------------------------------


def drop_snapshot(path: Path) -> None:
    """Remove the data directory's start-up snapshot (a cache), so that the next start replays every leaf."""
    with contextlib.closing(sqlite3.connect(path / DB_FILE)) as db, db:
        db.execute("DROP TABLE IF EXISTS snapshots")


def write_snapshot(path: Path) -> tuple[float, int]:
    """Open the log and write its start-up snapshot; (seconds the write took, snapshot bytes)."""
    data = open_data_dir(path)
    with Store.open(data.database_url({}), writable=True) as store:
        sequencer = Sequencer.open(store, data.signer(), lambda: 0)
        started = time.perf_counter()
        if sequencer.write_snapshot() != sequencer.size:
            raise SystemExit("the start-up snapshot was not written")
        seconds = time.perf_counter() - started
        stored = store.snapshot()
    if stored is None:
        raise SystemExit("the start-up snapshot is not in the store")
    return seconds, len(stored[1])


def time_open(path: Path, *, full_check: bool) -> tuple[float, float, int, int]:
    """Wall and CPU seconds to open the store and the sequencer of the data directory at `path`; its
    tree size, and the size of the snapshot it started from (0: every leaf replayed)."""
    data = open_data_dir(path)
    signer = data.signer()
    started, started_cpu = time.perf_counter(), time.process_time()
    with Store.open(data.database_url({}), writable=False) as store:
        sequencer = Sequencer.open(store, signer, lambda: 0, full_check=full_check)
        seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
        return seconds, cpu, sequencer.size, sequencer.replayed_from


def profile_open(path: Path, *, full_check: bool, top: int = 30) -> None:
    data = open_data_dir(path)
    signer = data.signer()
    profiler = cProfile.Profile()
    with Store.open(data.database_url({}), writable=False) as store:
        profiler.enable()
        Sequencer.open(store, signer, lambda: 0, full_check=full_check)
        profiler.disable()
    print(f"--- profile of Sequencer.open, full_check={full_check} ---", file=sys.stderr)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthz(port: int) -> int | None:
    """The tree size /healthz reports once it answers 200, else None."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            return None
        return int(json.loads(body)["tree_size"])
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return None
    finally:
        connection.close()


def time_serve(path: Path, expected_size: int) -> float:
    """Seconds from starting `registry serve --data path` until /healthz answers 200 with the tree size."""
    port = _free_port()
    command = [sys.executable, "-m", "registry", "serve", "--data", str(path), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        try:
            while True:
                size = _healthz(port)
                if size is not None:
                    seconds = time.perf_counter() - started
                    break
                if process.poll() is not None or time.perf_counter() - started > _SERVE_TIMEOUT_S:
                    log.seek(0)
                    sys.stderr.write(log.read().decode("utf-8", "replace"))
                    raise SystemExit(f"`registry serve` on {path} did not answer /healthz")
                time.sleep(0.02)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    if size != expected_size:
        raise SystemExit(f"/healthz reported tree size {size}, the log has {expected_size}")
    return seconds


# --- main ------------------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("--entries takes a comma-separated list of sizes") from None
    if not sizes or sizes[0] < 2:
        raise argparse.ArgumentTypeError("sizes must be at least 2 (a genesis and a state leaf)")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--entries",
        type=_sizes,
        default=_sizes("10000,100000"),
        help="comma-separated log sizes in leaves (default 10000,100000)",
    )
    synthlog.add_log_arguments(parser, WORKDIR)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept (default 3)")
    parser.add_argument("--profile", type=int, default=0, help="profile Sequencer.open on this size (one of --entries)")
    parser.add_argument("--no-serve", action="store_true", help="time Sequencer.open only")
    parser.add_argument("--write-snapshot", type=Path, help=argparse.SUPPRESS)  # used by this script itself
    args = parser.parse_args(argv)
    if args.write_snapshot is not None:
        write_snapshot(args.write_snapshot)
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    seed = args.seed.encode("utf-8")
    repeat = max(1, args.repeat)
    print(f"seed: {args.seed!r}; founders: {args.founders}; sizes: {args.entries}; repeat: {repeat}")

    figures: list[tuple[str, str]] = []
    if not args.no_serve:
        base = ensure_data_dir(args.workdir, 2, seed, args.founders)
        serve_base = min(time_serve(base, 2) for _ in range(repeat))
        print(f"serve, a log of 2 leaves (interpreter, imports, uvicorn): {serve_base:.2f} s")
        figures.append(("serve_s_base", f"{serve_base:.2f}"))
    for entries in args.entries:
        print(f"\n== {entries:,} leaves ==")
        path = ensure_data_dir(args.workdir, entries, seed, args.founders)
        drop_snapshot(path)
        for full_check, tag in ((True, "_full"), (False, "")):
            if not full_check:
                write_s, snapshot_bytes = write_snapshot(path)
                print(f"  start-up snapshot: {snapshot_bytes / 1e6:.1f} MB, written in {write_s:.2f} s")
                figures.append((f"snapshot_mb_{entries}", f"{snapshot_bytes / 1e6:.1f}"))
                figures.append((f"snapshot_write_s_{entries}", f"{write_s:.2f}"))
            what = "every leaf replayed (full_check)" if full_check else "from the start-up snapshot"
            opens, cpus = [], []
            for _ in range(repeat):
                seconds, cpu, size, start = time_open(path, full_check=full_check)
                if size != entries or start != (0 if full_check else entries):
                    raise SystemExit(f"the sequencer opened a log of {size} leaves from {start}, expected {entries}")
                opens.append(seconds)
                cpus.append(cpu)
            open_s, open_cpu_s = min(opens), min(cpus)
            runs = ", ".join(f"{s:.2f}" for s in opens)
            print(f"  Sequencer.open, {what}: {open_s:.2f} s, {open_cpu_s:.2f} s CPU (runs: {runs})")
            figures.append((f"open{tag}_s_{entries}", f"{open_s:.2f}"))
            figures.append((f"open{tag}_cpu_s_{entries}", f"{open_cpu_s:.2f}"))
            figures.append((f"open{tag}_us_per_leaf_{entries}", f"{1e6 * open_s / entries:.1f}"))
            if args.profile == entries:
                profile_open(path, full_check=full_check)
            if not args.no_serve:
                serves = []
                for _ in range(repeat):
                    if full_check:
                        drop_snapshot(path)  # a server that replayed everything writes one in the background
                    else:
                        # Written by a fresh process from the source as it is now: a snapshot is used only
                        # by the replay code that made it (§9.1-i), and these files may change meanwhile.
                        subprocess.run([sys.executable, __file__, "--write-snapshot", str(path)], check=True)
                    serves.append(time_serve(path, entries))
                serve_s = min(serves)
                runs = ", ".join(f"{s:.2f}" for s in serves)
                print(f"  registry serve until /healthz, {what}: {serve_s:.2f} s (runs: {runs})")
                figures.append((f"serve{tag}_s_{entries}", f"{serve_s:.2f}"))
    print()
    for name, value in figures:
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
