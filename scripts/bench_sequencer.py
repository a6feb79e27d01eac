#!/usr/bin/env python3
"""Benchmark durable appends through the sequencer (protocol §5.6), against bare Ed25519 verification.

Builds a realistic log deterministically (keys from fixed seeds): founders named in the genesis policy,
then members who join by a declaration co-signed by a verified sponsor and are vouched for (each vouch
countersigned by its subject) by other verified members, who then vouch in turn. Every statement carries
two signatures. The log's default rule parameters apply, except that a new member may vouch at once
(voucher_min_age_days = 0) so that the whole log can be sequenced at one log time.

For each database (SQLite in a temporary directory, with WAL and synchronous=FULL; PostgreSQL when
--postgres URL or REGISTRY_TEST_POSTGRES_URL is given) and each batch size, it sequences every entry into
a fresh log, one transaction and one signed checkpoint per batch, and reports durable appends per second.
The baseline is bare libsodium Ed25519 verification of the same signatures on one core (no strict
checks, no parsing), measured right before each run so that load from other processes weighs on both
sides of the ratio; the target ratio is at least 0.5. It also times admission alone (parse, verify and
apply in memory, no storage) to show where the time goes.

Usage: scripts/bench_sequencer.py [--entries N] [--batches 1,64,256] [--single N] [--repeat N] [--postgres URL]
Ends with one name=value line per headline figure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/scriptlog.py, also when loaded by a test

import nacl.bindings
import sqlalchemy as sa
from scriptlog import DECLARATIONS
from scriptlog import signed as _signed
from sqlalchemy.engine import make_url

from crypto.keys import SigningKey
from crypto.notekey import NoteSigner
from registry.rules import Context, apply, genesis
from registry.sequencer import Receipt, init_log
from registry.state import State, Status
from registry.statements import (
    Declare,
    MemberId,
    Params,
    PolicyStatement,
    Vouch,
    declaration_hash,
    parse_entry,
    signatures_message,
    verify_entry,
)
from registry.store import Store

ORIGIN = "bench.registry.example/log"
T0 = 1_767_225_600_000
PARAMS = Params(voucher_min_age_days=0)
VOUCHES_PER_MEMBER = 8  # below the default quota of 12 a year


def _key(label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"bench key {label}".encode()).digest())



def build_log(entries: int, founders: int = 16) -> tuple[bytes, list[bytes]]:
    """The genesis entry and `entries` further entries, each checked by the rules engine as it is made."""
    council = [_key(f"council {i}") for i in range(3)]
    founder_keys = [_key(f"founder {i}") for i in range(founders)]
    policy = PolicyStatement(
        ORIGIN,
        T0,
        0,
        tuple(sorted(MemberId(k.public_key) for k in founder_keys)),
        tuple(sorted(k.public_key for k in council)),
        2,
        DECLARATIONS,
        PARAMS,
    )
    genesis_bytes = _signed(policy, *council[:2])
    state: State = genesis(verify_entry(parse_entry(genesis_bytes), ORIGIN), Context(0, T0))
    keys = {k.public_key: k for k in founder_keys}
    vouchers = [k.public_key for k in founder_keys]  # verified members with vouches left, oldest first
    given = dict.fromkeys(vouchers, 0)
    out: list[bytes] = []
    decl = declaration_hash(DECLARATIONS["en"])
    cursor = 0
    member_number = 0

    def pick(exclude: set[bytes]) -> bytes:
        nonlocal cursor
        for _ in range(len(vouchers)):
            candidate = vouchers[cursor % len(vouchers)]
            cursor += 1
            if candidate not in exclude and given[candidate] < VOUCHES_PER_MEMBER:
                return candidate
        raise RuntimeError("no voucher left")

    def add(raw: bytes) -> None:
        nonlocal state
        state = apply(state, verify_entry(parse_entry(raw), ORIGIN), Context(state.size, T0))
        out.append(raw)

    while len(out) < entries:
        member = _key(f"member {member_number}")
        member_number += 1
        keys[member.public_key] = member
        sponsor = pick(set())
        declare = Declare(ORIGIN, T0, MemberId(member.public_key), decl, None, MemberId(sponsor))
        add(_signed(declare, member, keys[sponsor]))
        given[sponsor] += 1
        extra = 1 if member_number % 2 else 2  # a second vouch for every other member: ~2.5 entries each
        chosen = {sponsor}
        for _ in range(extra):
            if len(out) >= entries:
                break
            voucher = pick(chosen)
            chosen.add(voucher)
            vouch = Vouch(ORIGIN, T0, MemberId(voucher), MemberId(member.public_key), None)
            add(_signed(vouch, keys[voucher], member))
            given[voucher] += 1
        view = state.member(member.public_key)
        if view is not None and state.status_of(view) is Status.VERIFIED:
            vouchers.append(member.public_key)
            given[member.public_key] = 0
    return genesis_bytes, out


def verify_jobs(entries: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
    """(signature || message, public key) for every signature of `entries`, as libsodium takes them."""
    jobs: list[tuple[bytes, bytes]] = []
    for raw in entries:
        entry = parse_entry(raw)
        message = signatures_message(entry)
        jobs.extend((s.signature + message, s.key) for s in entry.signatures)
    return jobs


def bare_verify_rate(jobs: Sequence[tuple[bytes, bytes]], entries: int) -> float:
    """Entries per second when only their Ed25519 signatures are verified, with bare libsodium, one core."""
    start = time.perf_counter()
    for signed, key in jobs:
        nacl.bindings.crypto_sign_open(signed, key)
    return entries / (time.perf_counter() - start)


def admission_rate(genesis_bytes: bytes, entries: Sequence[bytes]) -> float:
    """Entries per second through parse, verify_entry and apply, in memory (no tree, no storage)."""
    state = genesis(verify_entry(parse_entry(genesis_bytes), ORIGIN), Context(0, T0))
    start = time.perf_counter()
    for raw in entries:
        state = apply(state, verify_entry(parse_entry(raw), ORIGIN), Context(state.size, T0))
    return len(entries) / (time.perf_counter() - start)


def sequence_rate(url: str, genesis_bytes: bytes, entries: Sequence[bytes], batch: int) -> float:
    """Durable appends per second into a fresh log at `url`, `batch` entries per transaction."""
    store = Store.open(url, create=True)
    try:
        signer = NoteSigner(ORIGIN, _key("log"))
        sequencer, _ = init_log(store, signer, lambda: T0, genesis_bytes)
        start = time.perf_counter()
        for i in range(0, len(entries), batch):
            results = sequencer.submit_batch(entries[i : i + batch])
            for result in results:
                if not isinstance(result, Receipt):
                    raise RuntimeError(f"entry refused: {result}")
        elapsed = time.perf_counter() - start
        if sequencer.size != len(entries) + 1:
            raise RuntimeError("not every entry was sequenced")
    finally:
        store.close()
    return len(entries) / elapsed


class _PostgresSchema:
    """A fresh schema per run, dropped afterwards."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.schema = f"bench_{secrets.token_hex(6)}"
        self.engine = sa.create_engine(base)

    def __enter__(self) -> str:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{self.schema}"')
        url = make_url(self.base).update_query_dict({"options": f"-csearch_path={self.schema}"})
        return url.render_as_string(hide_password=False)

    def __exit__(self, *exc: object) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        self.engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=4096, help="entries after genesis (default 4096)")
    parser.add_argument("--batches", default="1,64,256", help="batch sizes, comma-separated (default 1,64,256)")
    parser.add_argument("--single", type=int, default=512, help="entries for batch size 1 (default 512)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure, the best is kept (default 1)")
    parser.add_argument("--postgres", default=os.environ.get("REGISTRY_TEST_POSTGRES_URL"), help="PostgreSQL URL")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    started = time.perf_counter()
    genesis_bytes, entries = build_log(args.entries)
    jobs = verify_jobs(entries)
    print(f"built {len(entries)} entries ({len(jobs)} signatures) in {time.perf_counter() - started:.1f} s")
    # Each figure is paired with a bare-verification run made just before it, so that load from other
    # processes weighs on both sides of the ratio; of `--repeat` pairs the best ratio is kept.
    bare = max(bare_verify_rate(jobs, len(entries)) for _ in range(max(3, args.repeat)))
    print(f"bare Ed25519 verification, one core: {bare:,.0f} entries/s")
    figures: dict[str, float] = {"bare_verify_entries_per_s": bare}
    best_admission = (0.0, 0.0)
    for _ in range(args.repeat):
        base = bare_verify_rate(jobs, len(entries))
        rate = admission_rate(genesis_bytes, entries)
        best_admission = max(best_admission, (rate / base, rate))
    print(f"admission only (parse + strict verify + apply, in memory): {best_admission[1]:,.0f} entries/s "
          f"(ratio {best_admission[0]:.2f})")
    figures["admission_entries_per_s"] = best_admission[1]
    figures["admission_ratio"] = best_admission[0]

    databases: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.postgres:
        databases.append(("postgres", args.postgres))
    else:
        print("PostgreSQL skipped: pass --postgres URL or set REGISTRY_TEST_POSTGRES_URL")
    for name, url_base in databases:
        best = 0.0
        for batch in batches:
            count = min(len(entries), args.single) if batch == 1 else len(entries)
            subset = entries[:count]
            subset_jobs = verify_jobs(subset)
            pairs = []
            for _ in range(args.repeat):
                base = bare_verify_rate(subset_jobs, count)
                if url_base is None:
                    with tempfile.TemporaryDirectory() as tmp:
                        rate = sequence_rate(f"sqlite:///{tmp}/log.sqlite3", genesis_bytes, subset, batch)
                else:
                    with _PostgresSchema(url_base) as url:
                        rate = sequence_rate(url, genesis_bytes, subset, batch)
                pairs.append((rate / base, rate))
            ratio, rate = max(pairs)
            best = max(best, ratio)
            print(f"{name:9} batch {batch:4}: {rate:9,.0f} durable appends/s over {count} entries, ratio {ratio:.2f}")
            figures[f"{name}_batch{batch}_appends_per_s"] = rate
            figures[f"{name}_batch{batch}_ratio"] = ratio
        figures[f"{name}_best_ratio"] = best
    for key, value in figures.items():
        print(f"{key}={value:.2f}" if key.endswith("ratio") else f"{key}={value:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
