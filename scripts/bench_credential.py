#!/usr/bin/env python3
"""Benchmark the status tree and credentials (protocol §5.8, §8.1, §9.7), in one run.

Measures:
  - the status tree of N members (default 1,000,000; keys as in §5.8-c, 73-byte status leaves): the
    one-pass build time, the memory the tree holds (RSS before and after), and the cost of updating
    one member's leaf (`set` on an existing key, as a status change does), median of R runs;
  - credentials for S sampled members of that tree, from a log of 5 leaves per member (a state leaf
    last): size in bytes, mean and maximum, in the text (tlog-proof) and binary forms, with 3 witness
    cosignatures. The checkpoint's root is computed from a random inclusion path of the right length
    for that log size, so every credential verifies for real;
  - the median time of `verify_presentation` in process, against the bare cost, in the same run, of
    the 5 strict Ed25519 verifications a presentation contains (the log's signature, 3
    cosignatures, the holder's signature);
  - the binary size at 10,000,000 members with 3 cosignatures, estimated from the measured proofs:
    the mean number of non-empty status tree siblings is measured at N/10 and N members and
    extrapolated linearly in log2(members) to 10M; the inclusion path of the last leaf is computed
    exactly for log sizes around 5 x 10M leaves; the rest of the credential has a fixed size.
Timings take the fastest of R runs (the least disturbed on a shared machine); medians are printed beside.
Tree updates are timed in process CPU time, the rest in wall time.
Ends with one name=value line per headline figure.

Usage: bench_credential.py [--members N] [--samples S] [--repeat R]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto import smt
from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.cosignature import cosign, cosignature_message
from crypto.domain import signing_message
from crypto.keys import SigningKey, verify_strict
from crypto.note import add_signatures
from crypto.notekey import SIG_TYPE_COSIGNATURE, NoteSigner, NoteVerifier
from crypto.proof import root_from_inclusion_proof
from registry.credential import Credential, format_credential_binary, format_credential_text
from registry.presentation import PRESENTATION_PURPOSE, Presentation, make_presentation, presentation_payload
from registry.state import Status
from registry.statements import MemberId
from registry.statetree import (
    StateLeaf,
    StatusLeaf,
    format_status_leaf,
    parse_status_leaf,
    state_leaf_hash,
    status_key,
)
from registry.trust import TrustPolicy
from registry.verify import verify_presentation

ORIGIN = "registry.example/log"
T0 = 1_767_225_600_000
SEED = 9901
ENTRIES_PER_MEMBER = 5
CHALLENGE = bytes(range(16))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def member_seed(i: int) -> bytes:
    return hashlib.sha256(b"bench member %d" % i).digest()


def path_length(index: int, size: int) -> int:
    """The length of the RFC 6962 inclusion path of `index` in a tree of `size` (§5.2-a)."""
    length = 0
    while size > 1:
        k = 1 << ((size - 1).bit_length() - 1)
        if index < k:
            size = k
        else:
            index, size = index - k, size - k
        length += 1
    return length


def build_items(n: int, sampled: dict[int, SigningKey]) -> list[tuple[bytes, bytes]]:
    items = []
    for i in range(n):
        key = sampled[i].public_key if i in sampled else hashlib.sha256(b"id %d" % i).digest()
        leaf = StatusLeaf(key, Status.VERIFIED, 5 * i, hashlib.sha256(key).digest())
        items.append((status_key(key), format_status_leaf(leaf)))
    return items


def mean_siblings(tree: smt.SparseMerkleTree, keys: list[bytes]) -> float:
    return statistics.fmean(sum(1 for s in tree.prove(k).siblings if s != smt.EMPTY_HASH) for k in keys)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)
    n = args.members
    rng = random.Random(SEED)
    sample_ids = sorted(rng.sample(range(n), min(args.samples, n)))
    sampled = {i: SigningKey.from_seed(member_seed(i)) for i in sample_ids}

    # --- status tree: build, memory, updates ----------------------------------------------------
    items = build_items(n, sampled)
    gc.collect()
    before = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    tree = smt.SparseMerkleTree.from_items(items)
    build_s, build_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    gc.collect()
    tree_mb = rss_mb() - before
    print(f"status tree of {n:,} members: built in {build_s:.2f} s ({build_cpu_s:.2f} s CPU), "
          f"{tree_mb:.0f} MiB resident for the tree")  # fmt: skip

    updates = 2000
    per_update: list[float] = []
    for r in range(args.repeat):
        picks = [items[j] for j in rng.sample(range(n), updates)]
        changed = [(k, v[:32] + b"\x03" + v[33:]) for k, v in picks]  # the member is now revoked
        # CPU time: on a shared machine, wall time mostly measures the neighbours.
        c0 = time.process_time()
        t = tree
        for k, v in changed:
            t = t.set(k, v)
        per_update.append((time.process_time() - c0) / updates * 1e6)
        if r == 0:
            # correctness of the measured operation: the new tree proves the new value
            k, v = changed[0]
            smt.verify_membership(t.root, k, v, t.prove(k))
    update_us, update_median = min(per_update), statistics.median(per_update)
    print(f"  update of one member's leaf: {update_us:.1f} us CPU (fastest of {args.repeat}), "
          f"median {update_median:.1f} us")  # fmt: skip

    # --- credentials ------------------------------------------------------------------------------
    log_key = SigningKey.from_seed(hashlib.sha256(b"antiwar-registry test log seed").digest())
    signer = NoteSigner(ORIGIN, log_key)
    witnesses = [SigningKey.from_seed(hashlib.sha256(b"antiwar-registry test witness %d" % w).digest())
                 for w in (1, 2, 3)]  # fmt: skip
    names = [f"witness{w}.registry.example" for w in (1, 2, 3)]
    verifiers = tuple(
        NoteVerifier(nm, SIG_TYPE_COSIGNATURE, k.public_key) for nm, k in zip(names, witnesses, strict=True)
    )
    policy = TrustPolicy(ORIGIN, signer.verifier, verifiers, 2)
    log_size = ENTRIES_PER_MEMBER * n + 1
    state = StateLeaf(log_size - 1, T0, tree.root)
    incl_len = path_length(log_size - 1, log_size)
    text_sizes: list[int] = []
    binary_sizes: list[int] = []
    smt_sizes: list[int] = []
    presentations: list[Presentation] = []
    for i in sample_ids:
        member = MemberId(sampled[i].public_key)
        k = status_key(member)
        value = tree.get(k)
        assert value is not None
        proof = tree.prove(k)
        inclusion = tuple(rng.randbytes(32) for _ in range(incl_len))
        cp = Checkpoint(ORIGIN, log_size, root_from_inclusion_proof(state_leaf_hash(state), log_size - 1, log_size,
                                                                     inclusion))  # fmt: skip
        note = sign_checkpoint(cp, signer)
        note = add_signatures(note, [cosign(w, nm, note.text, T0 // 1000 + 10 + j)
                                     for j, (w, nm) in enumerate(zip(witnesses, names, strict=True))])  # fmt: skip
        cred = Credential(note, cp, inclusion, state, member, parse_status_leaf(value), proof)
        text_sizes.append(len(format_credential_text(cred)))
        binary_sizes.append(len(format_credential_binary(cred)))
        smt_sizes.append(len(smt.format_proof(proof)))
        if len(presentations) < 200:
            presentations.append(make_presentation(cred, sampled[i], CHALLENGE))
    print(f"credentials of {len(sample_ids)} sampled members, log of {log_size:,} leaves "
          f"(inclusion path {incl_len} hashes), 3 cosignatures:")  # fmt: skip
    print(f"  text form   mean {statistics.fmean(text_sizes):.0f} B, max {max(text_sizes)} B")
    print(f"  binary form mean {statistics.fmean(binary_sizes):.0f} B, max {max(binary_sizes)} B")
    print(f"  status tree proof mean {statistics.fmean(smt_sizes):.0f} B, max {max(smt_sizes)} B")

    # --- verification time against the bare signature checks -------------------------------------
    now = T0 + 60_000
    for p in presentations:  # every sampled presentation verifies
        verify_presentation(p, policy, now_ms=now, challenge=CHALLENGE)
    p0 = presentations[0]
    cred0 = p0.credential
    log_sig = cred0.note.signatures[0]
    cosigs = cred0.note.signatures[1:]
    text = cred0.note.text
    holder_msg_payload = presentation_payload(cred0, CHALLENGE, None)
    holder_msg = signing_message(PRESENTATION_PURPOSE, ORIGIN, holder_msg_payload)
    cos_msgs = [(k.public_key, cosignature_message(text, int.from_bytes(s.signature[:8], "big")), s.signature[8:])
                for k, s in zip(witnesses, cosigs, strict=True)]  # fmt: skip

    def bare() -> None:
        verify_strict(log_key.public_key, text.encode(), log_sig.signature)
        for pk, msg, sig in cos_msgs:
            verify_strict(pk, msg, sig)
        verify_strict(cred0.leaf.key, holder_msg, p0.signature)

    def full() -> None:
        verify_presentation(p0, policy, now_ms=now, challenge=CHALLENGE)

    runs = 300
    verify_times: list[float] = []
    bare_times: list[float] = []
    for _ in range(args.repeat):
        for fn, out in ((full, verify_times), (bare, bare_times)):
            samples = []
            for _ in range(runs):
                t0 = time.perf_counter_ns()
                fn()
                samples.append(time.perf_counter_ns() - t0)
            out.append(statistics.median(samples) / 1000)
    verify_us, bare_us = min(verify_times), min(bare_times)
    print(f"verify_presentation median {verify_us:.0f} us; its 5 strict Ed25519 verifications alone {bare_us:.0f} us"
          f" (ratio {verify_us / bare_us:.2f}; medians of runs {statistics.median(verify_times):.0f} / "
          f"{statistics.median(bare_times):.0f} us)")  # fmt: skip

    # --- estimate at 10M members ---------------------------------------------------------------------
    small = smt.SparseMerkleTree.from_items(items[: n // 10])
    probe = [items[j][0] for j in rng.sample(range(n // 10), min(2000, n // 10))]
    sib_small = mean_siblings(small, probe)
    sib_big = mean_siblings(tree, [status_key(sampled[i].public_key) for i in sample_ids])
    per_decade = sib_big - sib_small  # measured growth per factor 10 of members
    sib_10m = sib_big + per_decade * math.log10(10_000_000 / n)
    sample_keys = [status_key(sampled[i].public_key) for i in sample_ids]
    empty_levels = statistics.fmean(tree.prove(k).depth for k in sample_keys) - sib_big  # measured at N
    depth_10m = sib_10m + empty_levels
    smt_10m = 1 + 1 + math.ceil(depth_10m / 8) + 32 * sib_10m
    big_log = ENTRIES_PER_MEMBER * 10_000_000
    sizes = range(big_log - 2**20, big_log + 2**20, 997)
    incl_mean = statistics.fmean(path_length(s - 1, s) for s in sizes)
    incl_max = math.ceil(math.log2(big_log + 2**20))
    fixed = statistics.fmean(binary_sizes) - statistics.fmean(smt_sizes) - 32 * incl_len
    est_mean = fixed + smt_10m + 32 * incl_mean
    sib_max_10m = max(smt_sizes) / 32 + per_decade * math.log10(10_000_000 / n)
    est_max = fixed + 32 * sib_max_10m + 32 * incl_max
    print(f"10M members, 3 cosignatures (estimate): status tree siblings {sib_small:.2f} at {n // 10:,}, "
          f"{sib_big:.2f} at {n:,} -> {sib_10m:.2f} at 10M (proof ~{smt_10m:.0f} B); inclusion path of the last "
          f"leaf of a ~{big_log:,}-leaf log: mean {incl_mean:.1f}, worst {incl_max} hashes; fixed part "
          f"{fixed:.0f} B")  # fmt: skip
    print(f"  binary form at 10M: mean ~{est_mean:.0f} B, worst ~{est_max:.0f} B")

    print(f"members={n}")
    print(f"tree_build_seconds={build_s:.2f}")
    print(f"tree_build_cpu_seconds={build_cpu_s:.2f}")
    print(f"tree_memory_mb={tree_mb:.0f}")
    print(f"update_us={update_us:.1f}")
    print(f"update_median_us={update_median:.1f}")
    print(f"credential_text_mean_bytes={statistics.fmean(text_sizes):.0f}")
    print(f"credential_text_max_bytes={max(text_sizes)}")
    print(f"credential_binary_mean_bytes={statistics.fmean(binary_sizes):.0f}")
    print(f"credential_binary_max_bytes={max(binary_sizes)}")
    print(f"verify_median_us={verify_us:.0f}")
    print(f"bare_signatures_us={bare_us:.0f}")
    print(f"verify_ratio={verify_us / bare_us:.2f}")
    print(f"binary_10m_mean_bytes_estimate={est_mean:.0f}")
    print(f"binary_10m_worst_bytes_estimate={est_max:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
