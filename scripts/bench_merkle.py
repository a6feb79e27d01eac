#!/usr/bin/env python3
"""Benchmark the Merkle tree (protocol §5.1, §5.2) against a bare hashlib RFC 6962 loop, in one run.

Measures, over N leaves of 128 bytes from a fixed seed:
  - the root with the project's tree: `MerkleTree(MemoryNodeStore()).extend(hash_leaves(...))` (which also
    keeps every node for proofs) and with the streaming `root_from_leaf_hashes(hash_leaves(...))`;
  - the root with a bare hashlib loop (all levels in lists, the odd last node carried up), and the ratio;
  - P inclusion proofs at random indices, generated from the in-memory tree and verified (RFC 9162
    §2.1.3.2), median microseconds each;
  - peak resident memory of the process.
Root timings are interleaved, --repeat runs each; the headline figures use the fastest run of each (the
one least disturbed by other processes on a shared machine), and the medians are printed beside them.
Ends with one name=value line per figure.

Usage: bench_merkle.py [--leaves N] [--proofs P] [--repeat R]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable

from crypto.merkle import MerkleTree, hash_leaves, root_from_leaf_hashes
from crypto.nodestore import MemoryNodeStore
from crypto.proof import verify_inclusion

SEED = 6962
LEAF_SIZE = 128


def bare_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH with nothing but hashlib: hash the leaves, then pair up level by level."""
    sha256 = hashlib.sha256
    level = [sha256(b"\x00" + d).digest() for d in leaves]
    if not level:
        return sha256(b"").digest()
    while len(level) > 1:
        it = iter(level)
        upper = [sha256(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=False)]
        if len(level) & 1:
            upper.append(level[-1])  # the last node is carried up, never duplicated
        level = upper
    return level[0]


def tree_root(leaves: list[bytes]) -> bytes:
    tree = MerkleTree(MemoryNodeStore())
    return tree.extend(hash_leaves(leaves)).root_hash


def streaming_root(leaves: list[bytes]) -> bytes:
    return root_from_leaf_hashes(hash_leaves(leaves))


def timed(fn: Callable[[list[bytes]], bytes], leaves: list[bytes]) -> tuple[float, bytes]:
    gc.collect()
    start = time.perf_counter()
    root = fn(leaves)
    return time.perf_counter() - start, root


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leaves", type=int, default=1_000_000, help="number of 128-byte leaves")
    parser.add_argument("--proofs", type=int, default=10_000, help="number of inclusion proofs")
    parser.add_argument("--repeat", type=int, default=5, help="runs per root timing (fastest is reported)")
    args = parser.parse_args(argv)
    if args.leaves < 1 or args.proofs < 0 or args.repeat < 1:
        parser.error("--leaves and --repeat must be positive, --proofs non-negative")

    rng = random.Random(SEED)
    leaves = [rng.randbytes(LEAF_SIZE) for _ in range(args.leaves)]
    print(f"leaves: {args.leaves} x {LEAF_SIZE} bytes (seed {SEED}); python {sys.version.split()[0]}")

    times: dict[str, list[float]] = {"bare": [], "tree": [], "stream": []}
    roots: set[bytes] = set()
    for _ in range(args.repeat):
        for name, fn in (("bare", bare_root), ("tree", tree_root), ("stream", streaming_root)):
            seconds, root = timed(fn, leaves)
            times[name].append(seconds)
            roots.add(root)
    if len(roots) != 1:
        print("ROOT MISMATCH between the project's tree and the bare loop")
        return 1
    median = {name: statistics.median(values) for name, values in times.items()}
    best = {name: min(values) for name, values in times.items()}
    labels = {"bare": "bare hashlib loop", "tree": "MerkleTree.extend", "stream": "root_from_leaf_hashes"}
    for name, label in labels.items():
        runs = ", ".join(f"{t:.3f}" for t in times[name])
        print(f"{label:24s} best {best[name]:.3f} s, median {median[name]:.3f} s  (runs: {runs})")
    print(f"root {roots.pop().hex()}")

    # Proofs from the in-memory tree (built once more, outside the timings above).
    hashes = hash_leaves(leaves)
    tree = MerkleTree(MemoryNodeStore())
    tree.extend(hashes)
    root = tree.root()
    size = tree.size
    indexes = [rng.randrange(size) for _ in range(args.proofs)]
    prove_ns: list[int] = []
    verify_ns: list[int] = []
    clock = time.perf_counter_ns
    for index in indexes:
        t0 = clock()
        proof = tree.inclusion_proof(index, size)
        t1 = clock()
        verify_inclusion(hashes[index], index, size, proof, root)
        t2 = clock()
        prove_ns.append(t1 - t0)
        verify_ns.append(t2 - t1)
    prove_us = statistics.median(prove_ns) / 1000 if prove_ns else 0.0
    verify_us = statistics.median(verify_ns) / 1000 if verify_ns else 0.0
    print(f"inclusion proofs: {args.proofs} at random indexes, {len(tree.inclusion_proof(0, size))} hashes each")
    print(f"  generate median {prove_us:.1f} us, total {sum(prove_ns) / 1e9:.3f} s")
    print(f"  verify   median {verify_us:.1f} us, total {sum(verify_ns) / 1e9:.3f} s")

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"peak RSS {peak_mb:.0f} MiB (includes the {args.leaves * LEAF_SIZE / 2**20:.0f} MiB of leaf data)")

    print(f"root_seconds={best['tree']:.3f}")
    print(f"stream_root_seconds={best['stream']:.3f}")
    print(f"bare_seconds={best['bare']:.3f}")
    print(f"ratio={best['tree'] / best['bare']:.2f}")
    print(f"stream_ratio={best['stream'] / best['bare']:.2f}")
    print(f"ratio_of_medians={median['tree'] / median['bare']:.2f}")
    print(f"prove_median_us={prove_us:.1f}")
    print(f"verify_median_us={verify_us:.1f}")
    print(f"peak_rss_mb={peak_mb:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
