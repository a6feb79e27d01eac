"""Ed25519 yardstick: strict verifications and signatures per second, on one core and on all cores.

Usage: python scripts/bench_sign.py [--count N] [--message-size BYTES] [--processes P]

Figures:
  - verify_strict on one core, every signature under a different key (so the cached public-key check of
    protocol §3.2 is paid each time: the worst case, as in a replay where each member signs once);
  - the same with keys already checked (the cache warm: a log or witness key, or a member seen before);
  - bare PyNaCl verification (libsodium alone, no extra checks) on one core, for comparison;
  - verify_strict on all cores: a process pool started and loaded with the data before the clock starts,
    then timed over the whole set, so that pool start-up and data transfer are excluded but the split,
    the dispatch and the collection of results are included;
  - signatures per second on one core.

The headline figures end the output, one `name=value` line each. Later benchmarks are measured against them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import nacl.signing

from crypto import keys
from crypto.domain import signing_message
from crypto.keys import SigningKey, verify_strict

Item = tuple[bytes, bytes, bytes]  # public key, message, signature

_WORKER_ITEMS: list[Item] = []


def _make_items(count: int, message_size: int) -> tuple[list[SigningKey], list[Item]]:
    signers = [SigningKey.from_seed(i.to_bytes(32, "little")) for i in range(count)]
    items = []
    for i, key in enumerate(signers):
        payload = (b"%08d" % i) * (message_size // 8 + 1)
        message = signing_message("statement/vouch", "registry.example/log", payload[:message_size])
        items.append((key.public_key, message, key.sign(message)))
    return signers, items


def _load(items: list[Item]) -> None:
    global _WORKER_ITEMS  # noqa: PLW0603 - the worker's read-only copy of the data, set once at start-up
    _WORKER_ITEMS = items
    keys._key_problem.cache_clear()  # a forked worker inherits the parent's warm cache: start cold


def _ready(_: int) -> int:
    time.sleep(0.05)  # long enough that every worker takes some of these tasks
    return os.getpid()


def _verify_range(bounds: tuple[int, int]) -> int:
    """Verify items [start, end) of the worker's copy; return how many verified."""
    start, end = bounds
    for public_key, message, signature in _WORKER_ITEMS[start:end]:
        verify_strict(public_key, message, signature)
    return end - start


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="signatures per run (default 20,000)")
    parser.add_argument("--message-size", type=int, default=256, help="payload bytes (default 256)")
    parser.add_argument("--processes", type=int, default=0, help="pool size (default: the usable cores)")
    args = parser.parse_args(argv)
    count = args.count
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    processes = args.processes or cores

    print(f"preparing {count:,} signatures over {args.message_size}-byte payloads, one key each ...")
    signers, items = _make_items(count, args.message_size)

    # Signing, one core.
    started = time.perf_counter()
    for key, (_, message, _) in zip(signers, items, strict=True):
        key.sign(message)
    sign_rate = _rate(count, time.perf_counter() - started)
    print(f"sign (one core):                           {sign_rate:12,.0f} /s")

    # verify_strict, one core, every key checked for the first time.
    keys._key_problem.cache_clear()
    started = time.perf_counter()
    for public_key, message, signature in items:
        verify_strict(public_key, message, signature)
    verify_cold = _rate(count, time.perf_counter() - started)
    print(f"verify_strict, new key each (one core):    {verify_cold:12,.0f} /s")

    # verify_strict, one core, keys already checked (cache warm from the run above).
    started = time.perf_counter()
    for public_key, message, signature in items:
        verify_strict(public_key, message, signature)
    verify_warm = _rate(count, time.perf_counter() - started)
    print(f"verify_strict, keys seen before (one core): {verify_warm:11,.0f} /s")

    # Bare libsodium through PyNaCl, one core.
    verify_keys = [nacl.signing.VerifyKey(public_key) for public_key, _, _ in items]
    started = time.perf_counter()
    for verify_key, (_, message, signature) in zip(verify_keys, items, strict=True):
        verify_key.verify(message, signature)
    bare = _rate(count, time.perf_counter() - started)
    print(f"bare nacl verify (one core):               {bare:12,.0f} /s")

    # verify_strict on all cores. Workers get the data at start-up (not timed); fork keeps this cheap.
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    chunks = processes * 8
    bounds = [(count * i // chunks, count * (i + 1) // chunks) for i in range(chunks)]
    keys._key_problem.cache_clear()
    with context.Pool(processes, initializer=_load, initargs=(items,)) as pool:
        pids = set(pool.map(_ready, range(processes * 4), chunksize=1))  # all workers up and loaded
        started = time.perf_counter()
        verified = sum(pool.map(_verify_range, bounds, chunksize=1))
        parallel_seconds = time.perf_counter() - started
    assert verified == count
    verify_all = _rate(count, parallel_seconds)
    print(
        f"verify_strict, new key each ({processes} processes, {len(pids)} seen ready): {verify_all:,.0f} /s "
        f"({verify_all / verify_cold:.2f}x one core)"
    )

    print(f"verify_per_s_1core={verify_cold:.0f}")
    print(f"verify_per_s_all_cores={verify_all:.0f}")
    print(f"cores={cores}")
    print(f"sign_per_s={sign_rate:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
