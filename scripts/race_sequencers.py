#!/usr/bin/env python3
"""Race sequencers on one database (issue 7 item 3): however two or more sequencers interleave, the log
never forks (protocol §5.6-g compare-and-swap of the tree size, §5.6-f, §5.6-d, §5.6-h).

A log is created in one database: an SQLite file in a temporary directory, and, when a PostgreSQL URL is
given (`--postgres URL` or REGISTRY_TEST_POSTGRES_URL), a fresh schema there, dropped at the end. Then
`--sequencers` sequencers (default 2), each with its own `Store` (its own engine and connections) on that
database and the log's signing key, race for `--rounds` rounds (default 200). In each round every
sequencer is handed its own batch of `--batch` fresh sponsored declarations (default 3) and all of them
call `submit_batch` at once (threads released together). Each either commits (its receipts) or finds the
stored tree size moved and raises `WriteConflict` with nothing written; a sequencer that lost is fenced
and is reopened for the next round (it replays the log, as a restarted server would).

A fork is any of:
  - a round in which more than one sequencer committed, or two receipts for one index;
  - a receipt whose leaf is not the leaf stored at its index, or whose checkpoint is not the stored
    checkpoint of that size, or whose inclusion proof does not verify against it;
  - a stored checkpoint whose root is not the root of the stored leaves below its size;
  - an entry of a sequencer that lost its round found in the log;
  - the final log failing the sequencer's own start-up check (replay of every leaf, every node, the
    latest checkpoint).
The script counts them (it must be 0) and exits non-zero on any. It also reports how many rounds truly
overlapped (a losing sequencer started its batch before the winner's had returned), so that the figure
shows a race and not turns.

Usage: scripts/race_sequencers.py [--rounds 200] [--sequencers 2] [--batch 3] [--postgres URL]
                                  [--no-sqlite]
Ends with one name=value line per figure, prefixed `race_sqlite_` or `race_postgresql_`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/crash_loop.py

from crash_loop import postgres_schema
from scriptlog import DECLARATIONS, signed

from crypto.checkpoint import open_checkpoint
from crypto.errors import CryptoError
from crypto.keys import SigningKey
from crypto.merkle import RootAccumulator, leaf_hash
from crypto.notekey import NoteSigner
from crypto.proof import verify_inclusion
from registry.errors import RegistryError
from registry.sequencer import Receipt, Sequencer, init_log, load_log
from registry.statements import (
    Declare,
    MemberId,
    Params,
    PolicyStatement,
    declaration_hash,
    parse_entry,
)
from registry.store import Store, WriteConflict

ORIGIN = "race.registry.example/log"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the sequencers' fixed clock
FOUNDERS = 8
# Generous limits: a few founders sponsor every declaration of the race (the rules are not under test).
PARAMS = Params(vouch_threshold=1, vouch_quota=10_000, rate_limit_per_day=100_000, max_pending_vouchees=1000)
POSTGRES_URL_ENV = "REGISTRY_TEST_POSTGRES_URL"


def key(label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"race {label}".encode()).digest())



FOUNDER_KEYS = tuple(key(f"founder {i}") for i in range(FOUNDERS))
COUNCIL = key("council")
SIGNER = NoteSigner(ORIGIN, key("log"))
EN = declaration_hash(DECLARATIONS["en"])


def genesis() -> bytes:
    founders = tuple(sorted(MemberId(f.public_key) for f in FOUNDER_KEYS))
    return signed(PolicyStatement(ORIGIN, T0, 0, founders, (COUNCIL.public_key,), 1, DECLARATIONS, PARAMS), COUNCIL)


def declarations(round_: int, sequencer: int, count: int) -> list[bytes]:
    """`count` fresh sponsored declarations, distinct for every (round, sequencer)."""
    result = []
    for i in range(count):
        member = key(f"member {round_} {sequencer} {i}")
        sponsor = FOUNDER_KEYS[(round_ + sequencer + i) % FOUNDERS]
        statement = Declare(ORIGIN, T0, MemberId(member.public_key), EN, None, MemberId(sponsor.public_key))
        result.append(signed(statement, member, sponsor))
    return result


# --- databases ---------------------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="race-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'log.sqlite3'}"


# --- the race ----------------------------------------------------------------------------------------


@dataclass
class RaceReport:
    database: str
    rounds: int = 0
    sequencers: int = 0
    won: int = 0
    lost: int = 0
    other_errors: int = 0
    """Rounds in which a sequencer failed with anything but WriteConflict (a lock timeout, say)."""
    no_winner: int = 0
    overlapping: int = 0
    """Rounds in which a losing sequencer started its batch before the winner's batch had returned."""
    receipts: list[Receipt] = field(default_factory=list)
    lost_payloads: list[bytes] = field(default_factory=list)
    forks: list[str] = field(default_factory=list)
    """One line per fork found (each says what and where)."""
    tree_size: int = 0
    checkpoints: int = 0
    seconds: float = 0.0


@dataclass
class _Attempt:
    results: list[Receipt] | None = None
    error: str = ""
    started: float = 0.0
    ended: float = 0.0


def _clock() -> int:
    return T0


def race(
    url: str, database: str, *, rounds: int, sequencers: int, batch: int, progress: Callable[[int], None] | None = None
) -> RaceReport:
    """Create a log at `url`, race `sequencers` sequencers on it for `rounds` rounds, then check it."""
    report = RaceReport(database, sequencers=sequencers)
    start = time.perf_counter()
    stores = [Store.open(url, create=True) for _ in range(sequencers)]
    try:
        init_log(stores[0], SIGNER, _clock, genesis())
        running = [Sequencer.open(store, SIGNER, _clock) for store in stores]
        with ThreadPoolExecutor(sequencers) as pool:
            for round_ in range(rounds):
                _round(report, stores, running, round_, batch, pool)
                if progress is not None and (round_ + 1) % 50 == 0:
                    progress(round_ + 1)
        report.seconds = time.perf_counter() - start
        check_log(report, stores[0])
    finally:
        for store in stores:
            store.close()
    return report


def _round(
    report: RaceReport, stores: list[Store], running: list[Sequencer], round_: int, batch: int, pool: ThreadPoolExecutor
) -> None:
    count = len(running)
    batches = [declarations(round_, i, batch) for i in range(count)]
    barrier = threading.Barrier(count)
    attempts = [_Attempt() for _ in range(count)]

    def submit(i: int) -> None:
        attempt = attempts[i]
        barrier.wait()
        attempt.started = time.perf_counter()
        try:
            results = running[i].submit_batch(batches[i])
            attempt.results = [r for r in results if isinstance(r, Receipt)]
            if len(attempt.results) != len(results):
                attempt.error = "a declaration was refused"
        except WriteConflict:
            attempt.error = "write_conflict"
        except RegistryError as exc:
            attempt.error = str(exc.code)
        attempt.ended = time.perf_counter()

    for future in [pool.submit(submit, i) for i in range(count)]:
        future.result()
    report.rounds += 1
    winners = [i for i, a in enumerate(attempts) if a.results is not None]
    losers = [i for i, a in enumerate(attempts) if a.error == "write_conflict"]
    report.won += len(winners)
    report.lost += len(losers)
    report.other_errors += sum(1 for a in attempts if a.error not in ("", "write_conflict"))
    if not winners:
        report.no_winner += 1
    if len(winners) > 1:
        report.forks.append(f"round {round_}: {len(winners)} sequencers committed")
    for i in winners:
        report.receipts.extend(attempts[i].results or [])
    for i in losers:
        report.lost_payloads.extend(parse_entry(raw).payload_hash for raw in batches[i])
    if winners and any(attempts[i].started < attempts[winners[0]].ended for i in losers):
        report.overlapping += 1
    # A sequencer that did not commit is fenced (or stale): reopen it, as a restarted server would.
    for i, attempt in enumerate(attempts):
        if attempt.results is None:
            running[i] = Sequencer.open(stores[i], SIGNER, _clock)


def check_log(report: RaceReport, store: Store) -> None:
    """Find every fork the log could show (see the module docstring); append each to report.forks."""
    try:
        load_log(store)  # the start-up check of [5.6-h]: replay, nodes, latest checkpoint
    except RegistryError as exc:
        report.forks.append(f"the stored log fails its own check: {exc.code}: {exc.rejection.message}")
    size = store.tree_size()
    report.tree_size = size
    leaves = store.leaves(0, size)
    checkpoints = dict(store.iter_checkpoints())
    report.checkpoints = len(checkpoints)
    # Every stored checkpoint signs the root of the stored leaves below its size.
    accumulator = RootAccumulator()
    roots: dict[int, bytes] = {}
    for index, leaf in enumerate(leaves):
        accumulator.append(leaf_hash(leaf))
        if index + 1 in checkpoints:
            roots[index + 1] = accumulator.root()
    for cp_size, note in checkpoints.items():
        try:
            checkpoint, _ = open_checkpoint(note, SIGNER.verifier, origin=ORIGIN)
        except CryptoError as exc:
            report.forks.append(f"the checkpoint of size {cp_size} does not verify: {exc.code}")
            continue
        if checkpoint.size != cp_size or roots.get(cp_size) != checkpoint.root_hash:
            report.forks.append(f"the checkpoint of size {cp_size} is not the root of the stored leaves")
    # Every receipt is the stored leaf at its index, under the stored checkpoint of its size.
    seen: dict[int, bytes] = {}
    for receipt in report.receipts:
        if seen.setdefault(receipt.index, receipt.leaf_hash) != receipt.leaf_hash:
            report.forks.append(f"two receipts for index {receipt.index}")
        if receipt.index >= size or leaf_hash(leaves[receipt.index]) != receipt.leaf_hash:
            report.forks.append(f"the receipt for index {receipt.index} is not the stored leaf")
            continue
        try:
            checkpoint, _ = open_checkpoint(receipt.checkpoint, SIGNER.verifier, origin=ORIGIN)
            verify_inclusion(receipt.leaf_hash, receipt.index, checkpoint.size, receipt.inclusion_proof,
                             checkpoint.root_hash)  # fmt: skip
        except CryptoError as exc:
            report.forks.append(f"the receipt for index {receipt.index} does not verify: {exc.code}")
            continue
        if checkpoints.get(checkpoint.size) != receipt.checkpoint:
            report.forks.append(f"the receipt for index {receipt.index} carries another checkpoint of its size")
    # Nothing of a sequencer that lost its round was written.
    for payload_hash in report.lost_payloads:
        found = store.find_payload(payload_hash)
        if found is not None:
            report.forks.append(f"an entry of a losing sequencer is logged at index {found}")


# --- main --------------------------------------------------------------------------------------------


def print_report(report: RaceReport) -> dict[str, int]:
    """Print a summary of one database's race and return its figures."""
    print(f"{report.database}: {report.rounds} rounds of {report.sequencers} sequencers in {report.seconds:.1f} s; "
          f"{report.won} commits won, {report.lost} lost to a write conflict, {report.other_errors} other failures; "
          f"{report.overlapping} rounds overlapped; tree size {report.tree_size}, {report.checkpoints} checkpoints; "
          f"{len(report.forks)} forks")  # fmt: skip
    for line in report.forks[:20]:
        print(f"  FORK  {line}")
    return {
        "rounds": report.rounds,
        "sequencers": report.sequencers,
        "commits_won": report.won,
        "commits_lost": report.lost,
        "other_failures": report.other_errors,
        "rounds_without_winner": report.no_winner,
        "rounds_overlapping": report.overlapping,
        "receipts": len(report.receipts),
        "tree_size": report.tree_size,
        "checkpoints": report.checkpoints,
        "forks": len(report.forks),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="rounds of the race (default 200)")
    parser.add_argument("--sequencers", type=int, default=2, help="sequencers racing in each round (default 2)")
    parser.add_argument("--batch", type=int, default=3, help="declarations per sequencer and round (default 3)")
    parser.add_argument("--postgres", default=os.environ.get(POSTGRES_URL_ENV, ""),
                        help=f"a PostgreSQL URL (postgresql+psycopg://...); default ${POSTGRES_URL_ENV}")  # fmt: skip
    parser.add_argument("--no-sqlite", action="store_true", help="race on PostgreSQL only")
    args = parser.parse_args()
    if args.sequencers < 2 or args.rounds < 1 or args.batch < 1:
        parser.error("need at least 2 sequencers, 1 round and 1 declaration per batch")

    def progress(database: str) -> Callable[[int], None]:
        return lambda n: print(f"  {database}: {n} rounds", file=sys.stderr, flush=True)

    figures: dict[str, int] = {}
    databases: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = []
    if not args.no_sqlite:
        databases.append(("sqlite", sqlite_database))
    if args.postgres:
        databases.append(("postgresql", lambda: postgres_schema(args.postgres, "race")))
    else:
        print(f"postgresql: skipped (no --postgres URL and no {POSTGRES_URL_ENV})")
    for name, database in databases:
        with database() as url:
            report = race(url, name, rounds=args.rounds, sequencers=args.sequencers, batch=args.batch,
                          progress=progress(name))  # fmt: skip
        figures |= {f"race_{name}_{k}": v for k, v in print_report(report).items()}
    for name, value in figures.items():
        print(f"{name}={value}")
    forks = sum(v for k, v in figures.items() if k.endswith("_forks"))
    return 1 if forks or not databases else 0


if __name__ == "__main__":
    sys.exit(main())
