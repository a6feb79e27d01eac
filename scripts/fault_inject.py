#!/usr/bin/env python3
"""Storage fault injection (issue 7 item 2): a failure at any write step, before or after the commit,
ends with the batch acknowledged and present, or refused and absent, and a log that verifies
(protocol §5.6-d, §5.6-h, §9.2-c, §8.2).

The points are found, not listed: one batch is appended through a `Faults` hook that records every
call the store makes (`before_commit(step)` inside the transaction, `after_commit(step)` once it is
committed), so that every step of `registry.store.STEPS`, and whatever steps a later version adds (a
state leaf, a witness round), is covered. Each point is then a case, run twice on a new log: the hook
raises `StoreUnavailable` (what a failing database raises) the first time the point is reached during
a batch of statements, and then either

  - "retry": the same sequencer is given the batch again (it first reloads whatever the store
    committed), or
  - "restart": the store and the sequencer are closed and reopened, as a restarted server does (which
    replays and checks the whole stored log, [5.6-h]), and the batch is given again;

after which the log is closed, reopened once more, and `registry audit --data DIR` must pass.

Verdicts: a batch whose submission returned receipts must be present at those indexes with identical
leaves; a failure before the commit must leave every statement of the batch absent (the resubmission
gets receipts); a failure after the commit leaves every statement present (the resubmission gets
`duplicate_entry`, which is how a client learns that an answer it lost was logged, [9.2-c]); a batch
is never half present; and every statement ends in the log exactly once.

Usage: scripts/fault_inject.py [--batch N] [--postgres URL]
Prints its figures and ends with one name=value line per headline figure.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/scriptlog.py, also when loaded by a test

import sqlalchemy as sa
from click.testing import CliRunner
from scriptlog import DECLARATIONS, RELAXED
from scriptlog import signed as _signed
from sqlalchemy.engine import make_url

from crypto.keys import SigningKey
from crypto.merkle import leaf_hash
from registry.cli import cli, load_commands
from registry.datadir import create_data_dir, open_data_dir
from registry.errors import RegistryError, Rejection
from registry.sequencer import Receipt, Sequencer, init_log
from registry.statements import (
    Declare,
    MemberId,
    PolicyStatement,
    declaration_hash,
    format_entry,
    parse_entry,
)
from registry.statetree import parse_log_leaf
from registry.store import STEPS, Faults, Store, StoreUnavailable

__all__ = [
    "RESOLUTIONS",
    "CaseResult",
    "FaultAt",
    "FaultReport",
    "InjectedFault",
    "Point",
    "Recorder",
    "make_log",
    "record_points",
    "run_case",
    "run_fault_injection",
    "statements",
]


ORIGIN = "faults.registry.example/log"
FOUNDERS = 8
RESOLUTIONS = ("retry", "restart")
NOW_MS = 1_767_225_600_000  # the log's clock: fixed, the cases do not depend on time


# --- the hooks -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Point:
    """A call of a `Faults` hook during one append: the hook ("before" or "after" the commit), the step
    it names, and which call of that (hook, step) it is (0 for the first)."""

    hook: str
    step: str
    occurrence: int = 0

    def __str__(self) -> str:
        suffix = f"#{self.occurrence}" if self.occurrence else ""
        return f"{self.hook}:{self.step}{suffix}"


class Recorder:
    """A `Faults` that records every hook call, in order, while `recording` is set."""

    def __init__(self) -> None:
        self.recording = False
        self.calls: list[tuple[str, str]] = []

    def before_commit(self, step: str) -> None:
        if self.recording:
            self.calls.append(("before", step))

    def after_commit(self, step: str) -> None:
        if self.recording:
            self.calls.append(("after", step))

    def points(self) -> list[Point]:
        seen: dict[tuple[str, str], int] = {}
        out = []
        for hook, step in self.calls:
            n = seen.get((hook, step), 0)
            seen[(hook, step)] = n + 1
            out.append(Point(hook, step, n))
        return out


class InjectedFault(StoreUnavailable):
    """What `FaultAt` raises: the store's own `unavailable` error, as a database failure raises it."""


class FaultAt:
    """A `Faults` that raises `InjectedFault` once, at `point`, after `arm()`."""

    def __init__(self, point: Point) -> None:
        self.point = point
        self.armed = False
        self.fired = False
        self._seen: dict[tuple[str, str], int] = {}

    def arm(self) -> None:
        self.armed, self._seen = True, {}

    def _call(self, hook: str, step: str) -> None:
        if not self.armed or self.fired:
            return
        n = self._seen.get((hook, step), 0)
        self._seen[(hook, step)] = n + 1
        if Point(hook, step, n) == self.point:
            self.fired = True
            raise InjectedFault(f"injected fault {self.point}")

    def before_commit(self, step: str) -> None:
        self._call("before", step)

    def after_commit(self, step: str) -> None:
        self._call("after", step)


# --- the log ---------------------------------------------------------------------------------------------


def _key(label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"fault_inject {label}".encode()).digest())



def _founders() -> list[SigningKey]:
    return [_key(f"founder {i}") for i in range(FOUNDERS)]


def statements(first: int, count: int) -> list[bytes]:
    """Sponsored declarations of members first..first+count-1, valid in any order."""
    founders = _founders()
    en = declaration_hash(DECLARATIONS["en"])
    out = []
    for i in range(first, first + count):
        member, sponsor = _key(f"member {i}"), founders[i % FOUNDERS]
        stmt = Declare(ORIGIN, NOW_MS, MemberId(member.public_key), en, None, MemberId(sponsor.public_key))
        out.append(_signed(stmt, member, sponsor))
    return out


def make_log(folder: Path, database_url: str | None = None, *, warm: int = 5) -> Path:
    """A data directory holding the genesis and `warm` statements (so that the faulted batch completes
    interior tree nodes too); SQLite unless `database_url` is given (recorded in config.json)."""
    council = _key("council")
    policy = PolicyStatement(
        origin=ORIGIN,
        created_ms=NOW_MS,
        version=0,
        founders=tuple(sorted(MemberId(f.public_key) for f in _founders())),
        council=(council.public_key,),
        threshold=1,
        declarations=DECLARATIONS,
        params=RELAXED,
    )
    data = create_data_dir(folder, ORIGIN, database_url, SigningKey.generate())
    with Store.open(data.database_url({}), writable=True, create=True) as store:
        sequencer, _ = init_log(store, data.signer(), lambda: NOW_MS, _signed(policy, council))
        if warm:
            sequencer.submit_batch(statements(0, warm))
    return data.path


@contextlib.contextmanager
def open_sequencer(data_path: Path, faults: Faults | None = None) -> Iterator[Sequencer]:
    """The store (with `faults`) and the sequencer of a data directory, as a server opens them."""
    data = open_data_dir(data_path)
    with Store.open(data.database_url({}), writable=True, faults=faults) as store:
        yield Sequencer.open(store, data.signer(), lambda: NOW_MS)


def audit_data_dir(data_path: Path) -> tuple[int, str]:
    """`registry audit --data DIR` (in this process, through the CLI's own code); exit code and output."""
    load_commands()
    result = CliRunner().invoke(cli, ["audit", "--data", str(data_path), "--workers", "1"])
    return result.exit_code, result.output


def record_points(folder: Path, database_url: str | None = None, *, batch: int = 3) -> list[Point]:
    """Every hook call the store makes while one batch of `batch` statements is appended."""
    path = make_log(folder, database_url)
    recorder = Recorder()
    with open_sequencer(path, recorder) as sequencer:
        recorder.recording = True
        sequencer.submit_batch(statements(1000, batch))
        recorder.recording = False
    return recorder.points()


# --- one case --------------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    point: Point
    resolution: str
    fired: bool = False
    answer: str = ""  # what the faulted submission returned: "receipts" or "unavailable"
    present_after: str = ""  # "all", "none" or "some": the batch in the log after the fault
    resubmitted: str = ""  # what the resubmission returned: "receipts", "duplicate_entry" or a mix
    audit_ok: bool = False
    violations: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.answer == "receipts":
            return "acknowledged and present" if self.present_after == "all" else "acknowledged but ABSENT"
        if self.present_after == "none":
            return "refused and absent"
        if self.present_after == "all":
            return "refused (outcome unknown) and present: resubmission is duplicate_entry"
        return f"refused and {self.present_after} present"


def _present(sequencer: Sequencer, batch: Sequence[bytes]) -> list[int | None]:
    """For each statement of `batch`, the index of the leaf that holds it, or None (read through the
    sequencer's public reads: every leaf of the log)."""
    where: dict[bytes, int] = {}
    for index, data in enumerate(sequencer.leaves(0, sequencer.size)):
        leaf = parse_log_leaf(data)
        entry = getattr(leaf, "entry", None)
        if entry is not None:
            where[format_entry(entry)] = index
    return [where.get(format_entry(parse_entry(raw))) for raw in batch]


def _kinds(results: Sequence[Receipt | Rejection]) -> str:
    names = sorted({"receipts" if isinstance(r, Receipt) else str(r.code) for r in results})
    return "+".join(names)


def run_case(folder: Path, point: Point, resolution: str, database_url: str | None = None, *,
             batch: int = 3) -> CaseResult:
    """Inject a fault at `point` during one batch, resolve it by `resolution`, and judge the outcome."""
    result = CaseResult(point, resolution)
    path = make_log(folder, database_url)
    entries = statements(1000, batch)
    faults = FaultAt(point)
    receipts: list[Receipt] = []
    with open_sequencer(path, faults) as sequencer:
        faults.arm()
        try:
            answers = sequencer.submit_batch(entries)
        except InjectedFault:
            result.answer = "unavailable"
        else:
            result.answer = "receipts"
            receipts = [r for r in answers if isinstance(r, Receipt)]
            if len(receipts) != batch:
                result.violations.append(f"valid statements refused: {_kinds(answers)}")
        result.fired = faults.fired
        if not faults.fired:
            result.violations.append("the fault point was not reached")
        # What the store holds now, read by a second sequencer (whose opening replays and checks the
        # stored log, [5.6-h]).
        with open_sequencer(path) as observer:
            present = _present(observer, entries)
        if resolution == "retry":  # the same sequencer, which first reloads what the store committed
            again = sequencer.submit_batch(entries)
    if resolution == "restart":  # a new store and sequencer, as a restarted server opens them
        with open_sequencer(path) as sequencer:
            again = sequencer.submit_batch(entries)
    with open_sequencer(path) as sequencer:
        final = _present(sequencer, entries)
        leaves = {r.index: sequencer.leaf(r.index) for r in receipts}
    count = sum(p is not None for p in present)
    result.present_after = "all" if count == batch else "none" if count == 0 else "some"
    result.resubmitted = _kinds(again)
    # Verdicts.
    if result.present_after == "some":
        result.violations.append("the batch is half present: the commit was not atomic")
    if result.answer == "receipts":
        for receipt in receipts:
            if receipt.leaf_hash != leaf_hash(leaves[receipt.index]):
                result.violations.append(f"acknowledged index {receipt.index} holds another leaf")
        if result.present_after != "all":
            result.violations.append("acknowledged statements are absent")
    elif point.hook == "before" and result.present_after != "none":
        result.violations.append("a failure before the commit left statements written ([5.6-d])")
    elif point.hook == "after" and result.present_after != "all":
        result.violations.append("a failure after the commit lost committed statements")
    expected = "duplicate_entry" if result.present_after == "all" else "receipts"
    if result.present_after in ("all", "none") and result.resubmitted != expected:
        result.violations.append(f"the resubmission got {result.resubmitted}, expected {expected}")
    if any(index is None for index in final):
        result.violations.append("a statement is missing after the resubmission")
    code, output = audit_data_dir(path)
    result.audit_ok = code == 0
    if code != 0:
        result.violations.append(f"registry audit --data failed: {output.strip()[-300:]}")
    return result


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class FaultReport:
    points: list[Point]
    cases: list[CaseResult]
    missing_steps: list[str]
    seconds: float

    @property
    def violations(self) -> list[str]:
        out = [f"STEPS names {step!r} but the store never calls a hook for it" for step in self.missing_steps]
        out += [f"{c.point} / {c.resolution}: {v}" for c in self.cases for v in c.violations]
        return out

    def lines(self) -> list[str]:
        out = [f"hook points of one append ({len(self.points)}): {', '.join(str(p) for p in self.points)}",
               f"STEPS of the store: {', '.join(STEPS)}"]
        out.append(f"{'point':26} {'resolution':10} {'answer':12} {'present':8} {'resubmission':16} audit  outcome")
        for c in self.cases:
            out.append(f"{c.point!s:26} {c.resolution:10} {c.answer:12} {c.present_after:8} {c.resubmitted:16} "
                       f"{'ok   ' if c.audit_ok else 'FAIL '}  {c.outcome}")
        out.append(f"faults injected: {sum(c.fired for c in self.cases)} in {len(self.cases)} cases, "
                   f"{self.seconds:.1f} s")
        out.append(f"violations: {len(self.violations)}")
        out += [f"  VIOLATION: {v}" for v in self.violations]
        return out


def run_fault_injection(folder: Path, database_url: Callable[[], contextlib.AbstractContextManager[str | None]]
                        | None = None, *, batch: int = 3) -> FaultReport:
    """Every hook point x every resolution, each on a new log in a subdirectory of `folder`.

    Args:
        database_url: makes a fresh database per log (a context manager yielding its URL); None: SQLite.
    """
    fresh = database_url or (lambda: contextlib.nullcontext(None))
    t0 = time.perf_counter()
    with fresh() as url:
        points = record_points(folder / "record", url, batch=batch)
    cases = []
    for n, point in enumerate(points):
        for resolution in RESOLUTIONS:
            with fresh() as url:
                cases.append(run_case(folder / f"case-{n}-{resolution}", point, resolution, url, batch=batch))
    missing = [step for step in STEPS if Point("before", step) not in points]
    return FaultReport(points, cases, missing, time.perf_counter() - t0)


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server of `base_url`, dropped afterwards."""
    schema = f"faults_{secrets.token_hex(6)}"
    admin = sa.create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batch", type=int, default=3, help="statements in the faulted batch")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server (postgresql+psycopg://...): each "
                        "case's log goes in a fresh schema there, dropped afterwards; default SQLite")
    args = parser.parse_args()
    os.environ.pop("DATABASE_URL", None)
    base = args.postgres
    fresh = (lambda: postgres_schema(base)) if base else None
    try:
        with tempfile.TemporaryDirectory(prefix="fault_inject-") as tmp:
            report = run_fault_injection(Path(tmp), fresh, batch=args.batch)
    except RegistryError as exc:
        print(f"error: {exc.code}: {exc.message}")
        return 1
    print(f"database: {'PostgreSQL' if base else 'SQLite'}")
    for line in report.lines():
        print(line)
    outcomes: dict[str, int] = {}
    for case in report.cases:
        outcomes[case.outcome] = outcomes.get(case.outcome, 0) + 1
    for outcome, count in sorted(outcomes.items()):
        print(f"  {count:3} x {outcome}")
    print(f"faults_injected={sum(c.fired for c in report.cases)}")
    print(f"cases={len(report.cases)}")
    print(f"refused_absent={sum(c.outcome == 'refused and absent' for c in report.cases)}")
    print(f"refused_present={sum(c.outcome.startswith('refused (outcome unknown)') for c in report.cases)}")
    print(f"acknowledged_present={sum(c.outcome == 'acknowledged and present' for c in report.cases)}")
    print(f"audits_ok={sum(c.audit_ok for c in report.cases)}")
    print(f"violations={len(report.violations)}")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
