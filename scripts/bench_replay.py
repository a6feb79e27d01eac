"""Replay benchmark: a full audit of a synthetic log from its export file, against bare Ed25519 (protocol §8.2).

Usage: python scripts/bench_replay.py [--entries 10000,100000] [--seed S] [--workdir DIR] [--sample N]

For each size, in ascending order:
  1. generate a realistic synthetic log (scripts/synthlog.py: founders, sponsored joins, vouches,
     unvouches, revocations that cascade, reinstatements, rotations; about five entries per member) and
     write its export file, cached under --workdir by size, seed and generator version so reruns are quick;
  2. audit it in a fresh subprocess, as an auditor would:
     `python -m registry audit --log FILE --log-key VKEY --json --workers 0`, timing the wall clock from
     start to exit (interpreter start-up included) and reading the child's peak RSS with os.wait4 (the
     largest single process among the audit and its worker processes, which it waits for);
  3. measure bare Ed25519 verification (libsodium's crypto_sign_open through PyNaCl, no strict checks)
     on all cores, over a strided sample of the log's own (key, message, signature) triples, with a
     process pool started and loaded before the clock starts (as scripts/bench_sign.py does); then
     bare_seconds = the log's signature count / that rate, and ratio = bare_seconds / audit_seconds
     (1.0 would mean that the audit costs no more than its signature checks; target >= 0.75). Beside it,
     cpu_ratio = bare CPU seconds (one core, timed in CPU time) / the audit's CPU seconds (workers
     included): less disturbed by other work on the machine, and an upper bound of the ratio.

A size counts leaves: the log's entries plus one state leaf under each checkpoint (protocol §5.8-i).

Targets (issue 3): ratio >= 0.75; peak RSS <= 1.5 GB at 1,000,000 entries; time growing linearly.
The headline figures end the output, one `name=value` line each.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nacl.bindings
import synthlog

from registry.statements import parse_leaf, signatures_message

Triple = tuple[bytes, bytes, bytes]  # public key, message, signature

_WORKER_TRIPLES: list[Triple] = []


@dataclass(frozen=True, slots=True)
class Result:
    entries: int
    signatures: int
    audit_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    bare_rate: float
    bare_rate_cpu: float  # one core, per CPU second

    @property
    def entries_per_s(self) -> float:
        return self.entries / self.audit_seconds

    @property
    def bare_seconds(self) -> float:
        return self.signatures / self.bare_rate

    @property
    def ratio(self) -> float:
        return self.bare_seconds / self.audit_seconds

    @property
    def bare_cpu_seconds(self) -> float:
        return self.signatures / self.bare_rate_cpu

    @property
    def cpu_ratio(self) -> float:
        """Bare verification CPU over the audit's CPU (its workers included): how much of the audit's
        work is the signature check itself. An upper bound of `ratio` on any number of cores."""
        return self.bare_cpu_seconds / self.cpu_seconds


# --- the log ---------------------------------------------------------------------------------------


def ensure_log(workdir: Path, entries: int, seed: bytes, founders: int) -> tuple[Path, dict[str, object]]:
    """The export file of the synthetic log and its generation facts; generated unless cached."""
    tag = hashlib.sha256(seed).hexdigest()[:12]
    stem = f"synth-{entries}-{tag}-f{founders}-g{synthlog.GENERATOR_VERSION}"
    path = workdir / f"{stem}.export"
    meta_path = workdir / f"{stem}.json"
    if path.exists() and meta_path.exists():
        meta: dict[str, object] = json.loads(meta_path.read_text(encoding="utf-8"))
        print(f"log: {path} (cached; generated in {meta['seconds']:.1f} s)")
        return path, meta
    print(f"log: generating {entries:,} entries into {path} ...", flush=True)
    vkey, stats = synthlog.write_synthetic_export(
        path, entries, seed=seed, founders=founders, progress=sys.stderr.isatty()
    )
    meta = {"vkey": vkey, "seconds": stats.seconds, "summary": stats.summary(), "signatures": stats.signatures}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")  # written last: marks the cache good
    print(f"log: generated in {stats.seconds:.1f} s ({entries / stats.seconds:,.0f} entries/s)")
    return path, meta


def read_signatures(path: Path, entries: int, sample: int) -> tuple[int, list[Triple]]:
    """Count every signature in the export file and collect a strided sample of (key, message, signature).

    The count is read from the file itself (stdlib JSON, no checks: the audit checks everything). The
    sampled leaves are parsed with `registry.statements.parse_leaf`, and each signature's message is
    `signatures_message(entry)`, exactly what the audit verifies.
    """
    stride = max(1, entries * 2 // max(1, sample))
    count = 0
    triples: list[Triple] = []
    with open(path, "rb") as file:
        file.readline()  # the header
        for line in file:
            if not line.startswith(b'{"index":'):
                continue  # a checkpoint
            record = json.loads(line)
            leaf = base64.b64decode(record["leaf"])
            if leaf.startswith(b'{"index":'):
                continue  # a state leaf (protocol §5.8-h): no signature
            if record["index"] % stride == 0 and len(triples) < sample:
                entry = parse_leaf(leaf).entry
                message = signatures_message(entry)
                triples.extend((s.key, message, s.signature) for s in entry.signatures)
                count += len(entry.signatures)
            else:
                count += len(json.loads(leaf)["entry"]["signatures"])
    return count, triples


# --- the audit -------------------------------------------------------------------------------------


def run_audit(path: Path, vkey: str, entries: int) -> tuple[float, float, float]:
    """Audit in a fresh subprocess; return (wall seconds, cpu seconds, peak RSS in MB)."""
    command = [sys.executable, "-m", "registry", "audit", "--log", str(path), "--log-key", vkey, "--json"]
    command += ["--workers", "0"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        # wait4 reaps this very child and returns its rusage, which includes the worker processes it
        # waited for: ru_maxrss is then the peak RSS of the largest single process among them.
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        sys.stderr.write(stderr.decode("utf-8", "replace"))
        raise SystemExit(f"the audit of {path} failed with exit code {process.returncode}")
    report = json.loads(stdout)
    if not report["ok"] or report["tree_size"] != entries:
        raise SystemExit(f"the audit of {path} did not pass: {report}")
    rss_mb = usage.ru_maxrss / 1024  # Linux reports KiB
    return wall, usage.ru_utime + usage.ru_stime, rss_mb


# --- bare verification -----------------------------------------------------------------------------


def _load(triples: list[Triple]) -> None:
    global _WORKER_TRIPLES  # noqa: PLW0603 - the worker's read-only copy of the sample, set once at start-up
    _WORKER_TRIPLES = triples


def _ready(_: int) -> int:
    time.sleep(0.05)  # long enough that every worker takes some of these tasks
    return os.getpid()


def _verify_range(bounds: tuple[int, int]) -> int:
    start, end = bounds
    crypto_sign_open = nacl.bindings.crypto_sign_open
    for public_key, message, signature in _WORKER_TRIPLES[start:end]:
        crypto_sign_open(signature + message, public_key)  # raises BadSignatureError
    return end - start


def bare_rate_one_core(triples: list[Triple]) -> tuple[float, float]:
    """Bare verifications per second on one core: per wall-clock second, and per CPU second of this
    process (the second is what other work on the machine disturbs least)."""
    crypto_sign_open = nacl.bindings.crypto_sign_open
    started, started_cpu = time.perf_counter(), time.process_time()
    for public_key, message, signature in triples:
        crypto_sign_open(signature + message, public_key)
    wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    return len(triples) / wall, len(triples) / cpu


def bare_rate_all_cores(triples: list[Triple], processes: int, minimum: int) -> float:
    """Bare verifications per second on `processes` cores; the sample is repeated to at least `minimum`."""
    rounds = max(1, math.ceil(minimum / len(triples)))
    n = len(triples)
    chunks = processes * 8
    bounds = [(n * i // chunks, n * (i + 1) // chunks) for i in range(chunks)] * rounds
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with context.Pool(processes, initializer=_load, initargs=(triples,)) as pool:
        pool.map(_ready, range(processes * 4), chunksize=1)  # all workers up and loaded
        started = time.perf_counter()
        verified = sum(pool.map(_verify_range, bounds, chunksize=1))
        seconds = time.perf_counter() - started
    if verified != n * rounds:
        raise SystemExit("bare verification lost work")
    return verified / seconds


# --- main ------------------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("--entries takes a comma-separated list of sizes") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be at least 1")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=_sizes, default=_sizes("10000,100000"),
                        help="comma-separated log sizes, run in ascending order (default 10000,100000)")
    synthlog.add_log_arguments(parser, "registry-bench-replay", "generated logs")
    parser.add_argument("--sample", type=int, default=60_000,
                        help="signatures of the log sampled for bare verification (default 60,000)")
    parser.add_argument("--processes", type=int, default=0, help="bare verification pool size (default: cores)")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    processes = args.processes or cores
    args.workdir.mkdir(parents=True, exist_ok=True)
    seed = args.seed.encode("utf-8")

    print(f"cores: {cores}; seed: {args.seed!r}; founders: {args.founders}; sizes: {args.entries}")
    print(f"rule parameters (relaxed for a fast-growing log): {synthlog.describe_params()}")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "registry", "--help"], check=True, capture_output=True)
    print(f"interpreter and CLI start-up (included in each audit time): {time.perf_counter() - started:.2f} s")

    results: list[Result] = []
    for entries in args.entries:
        print(f"\n== {entries:,} entries ==")
        path, meta = ensure_log(args.workdir, entries, seed, args.founders)
        for line in meta["summary"]:  # type: ignore[attr-defined]
            print(f"  {line}")
        signatures, triples = read_signatures(path, entries, args.sample)
        if signatures != meta["signatures"]:
            raise SystemExit(f"the file holds {signatures} signatures, the generator wrote {meta['signatures']}")
        print(f"audit: python -m registry audit --log {path.name} --log-key ... --json --workers 0", flush=True)
        load_before = os.getloadavg()[0]
        wall, cpu, rss = run_audit(path, str(meta["vkey"]), entries)
        print(f"  {wall:.2f} s wall, {cpu:.2f} s cpu (audit and workers), {entries / wall:,.0f} entries/s, "
              f"peak RSS {rss:,.0f} MB (1-minute load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after: other work on the machine slows both figures)")
        one, one_cpu = bare_rate_one_core(triples[: min(len(triples), 20_000)])
        rate = bare_rate_all_cores(triples, processes, args.sample)
        result = Result(entries, signatures, wall, cpu, rss, rate, one_cpu)
        print(f"bare verify (libsodium crypto_sign_open, {len(triples):,} of the log's signatures): "
              f"{one:,.0f}/s on one core ({one_cpu:,.0f} per CPU second), {rate:,.0f}/s on {processes} processes")
        print(f"  {signatures:,} signatures ({signatures / entries:.2f} per leaf) -> {result.bare_seconds:.2f} s bare "
              f"on {processes} processes, {result.bare_cpu_seconds:.2f} CPU seconds")
        print(f"  ratio bare/audit: {result.ratio:.3f} (target >= 0.75); in CPU seconds: {result.cpu_ratio:.3f}")
        results.append(result)

    print("\n    leaves  signatures   audit_s  leaves/s  us/leaf   bare_s   ratio   cpu_s  bare_cpu_s  cpu_ratio  "
          "peak_rss_mb")
    for r in results:
        print(f"{r.entries:>10,} {r.signatures:>11,} {r.audit_seconds:>9.2f} {r.entries_per_s:>9,.0f} "
              f"{1e6 / r.entries_per_s:>8.1f} {r.bare_seconds:>8.2f} {r.ratio:>7.3f} {r.cpu_seconds:>7.1f} "
              f"{r.bare_cpu_seconds:>11.1f} {r.cpu_ratio:>10.3f} {r.peak_rss_mb:>12,.0f}")
    print()
    for r in results:
        print(f"replay_entries_per_s_{r.entries}={r.entries_per_s:.0f}")
        print(f"ratio_{r.entries}={r.ratio:.3f}")
        print(f"cpu_ratio_{r.entries}={r.cpu_ratio:.3f}")
        print(f"peak_rss_mb_{r.entries}={r.peak_rss_mb:.0f}")
    last = results[-1]
    print(f"bare_verify_per_s_all_cores={last.bare_rate:.0f}")
    print(f"replay_entries_per_s={last.entries_per_s:.0f}")
    print(f"ratio={last.ratio:.3f}")
    print(f"cpu_ratio={last.cpu_ratio:.3f}")
    print(f"peak_rss_mb={last.peak_rss_mb:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
