#!/usr/bin/env python3
"""What the background start-up snapshot write costs the reads (protocol §9.1-i): member reads against a
real `registry serve` while it writes its start-up snapshot, and after.

Usage: python scripts/bench_snapshot_reads.py [--entries N] [--seed S] [--workdir DIR] [--read-rate R]
                                              [--after-seconds S] [--snapshot-every N] [--skip K]

The data directory is the synthetic log of `scripts/bench_startup.py` (built once and cached under
--workdir). Its start-up snapshot is dropped, so `registry serve` starts by running every leaf through
the rules and, as soon as it has opened the log, starts writing a new snapshot in a background thread
of the same process (pickling the state in many small pieces, tagging, storing). From the moment
`GET /healthz` answers, this script reads at --read-rate per second (GET /v1/members/{id} for members of
the synthetic log, and GET /checkpoint, alternately, as `scripts/flood.py` does) and polls the store,
read-only, for the snapshot row. Reads are split at the moment the row appears: "during" the write and
"after" it (--after-seconds). The first --skip reads (default 5) are not counted in either: they
are a fresh server's first answers, which set it up lazily (12 to 27 ms, with or without a snapshot
being written), and are printed apart. Printed: requests, p50, p99 and the worst read of each part, and the write's
time as the server saw it. Ends with one name=value line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))

import synthlog
from bench_startup import WORKDIR, drop_snapshot, ensure_data_dir
from flood import Reads, read_members
from serverproc import Server

from registry.datadir import DB_FILE


def snapshot_size(path: Path) -> int | None:
    """The size of the stored start-up snapshot, read-only; None when there is none (yet)."""
    with closing(sqlite3.connect(f"file:{path / DB_FILE}?mode=ro", uri=True, timeout=5)) as db:
        try:
            row = db.execute("SELECT size FROM snapshots").fetchone()
        except sqlite3.OperationalError:  # the table is made by the server's first write
            return None
    return None if row is None else int(row[0])


def watch_snapshot(path: Path, stop: threading.Event, poll_s: float = 0.05) -> float | None:
    """Poll until the snapshot row appears (its perf_counter time) or `stop` is set (None)."""
    while not stop.is_set():
        if snapshot_size(path) is not None:
            return time.perf_counter()
        stop.wait(poll_s)
    return None


async def reads_around_the_write(
    base: str, path: Path, keys: list[bytes], rate: float, after_s: float, limit_s: float
) -> tuple[Reads, Reads, float, float | None]:
    """(reads during the write, reads after it, start time, the time the snapshot appeared or None)."""
    start = time.perf_counter()
    stop = threading.Event()
    watcher = asyncio.create_task(asyncio.to_thread(watch_snapshot, path, stop))
    during_stop = asyncio.Event()
    during = asyncio.create_task(read_members(base, keys, rate=rate, until=during_stop))
    try:
        appeared = await asyncio.wait_for(asyncio.shield(watcher), timeout=limit_s)
    except TimeoutError:
        appeared = None
    finally:
        stop.set()
        during_stop.set()
    await watcher  # ends within one poll once stopped, also after a timeout
    first = await during
    after = await read_members(base, keys, rate=rate, until=after_s) if appeared is not None else Reads()
    return first, after, start, appeared


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000, help="leaves in the log (default 100,000)")
    synthlog.add_log_arguments(parser, WORKDIR)  # bench_startup.py's cache
    parser.add_argument("--read-rate", type=float, default=100, help="reads per second (default 100)")
    parser.add_argument("--after-seconds", type=float, default=10, help="reads after the write (default 10)")
    parser.add_argument("--limit-seconds", type=float, default=900, help="give up waiting for the write")
    parser.add_argument("--skip", type=int, default=5, help="first reads not counted (default 5)")
    parser.add_argument(
        "--snapshot-every",
        type=int,
        default=0,
        help="passed to registry serve (default: its own, 16,384: a smaller log writes none)",
    )
    args = parser.parse_args()
    seed = args.seed.encode("utf-8")
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = ensure_data_dir(args.workdir, args.entries, seed, args.founders)
    drop_snapshot(path)
    keys = synthlog.first_member_keys(seed, args.founders + 200)

    with tempfile.TemporaryDirectory(prefix="snapshot-reads-") as tmp:
        extra = ("--snapshot-every", str(args.snapshot_every)) if args.snapshot_every else ()
        server = Server.serve(path, extra=extra, out=Path(tmp) / "server.out", err=Path(tmp) / "server.err",
                              stop_timeout_s=60)  # fmt: skip
        server.start(timeout_s=args.limit_seconds)
        try:
            during, after, start, appeared = asyncio.run(reads_around_the_write(
                server.url, path, keys, args.read_rate, args.after_seconds, args.limit_seconds))  # fmt: skip
            cpu_s = server.cpu_seconds()
        finally:
            server.stop()
    if appeared is None:
        print(f"the server stored no start-up snapshot within {args.limit_seconds:.0f} s")
        return 1
    size = snapshot_size(path)
    print(
        f"log: {args.entries:,} leaves; server ready in {server.ready_s:.1f} s (every leaf through the rules), "
        f"then the snapshot of size {size:,} was stored {appeared - start:.1f} s after the first read; "
        f"server CPU in all {cpu_s:.1f} s"
    )
    first = during.latencies_ms[: args.skip]
    during = Reads(during.latencies_ms[args.skip :], during.statuses)
    print(f"the first {len(first)} reads (not counted): " + ", ".join(f"{ms:.1f}" for ms in first) + " ms")
    figures: dict[str, float] = {"snapshot_stored_after_s": round(appeared - start, 1)}
    for label, reads in (("during the write", during), ("after the write", after)):
        worst = max(reads.latencies_ms, default=0.0)
        print(
            f"reads {label:16}: {len(reads.latencies_ms):6,} requests, p50 {reads.percentile(0.5):6.1f} ms, "
            f"p99 {reads.percentile(0.99):7.1f} ms, worst {worst:7.1f} ms, statuses {dict(reads.statuses)}"
        )
        tag = "during" if label.startswith("during") else "after"
        figures |= {f"read_p99_{tag}_ms": round(reads.percentile(0.99), 1), f"read_max_{tag}_ms": round(worst, 1)}
    for name, value in figures.items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
