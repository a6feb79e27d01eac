#!/usr/bin/env python3
"""Tamper any byte (issue 7 item 5): the auditor detects every single-byte change to a stored log and
names the first bad index or checkpoint; no false alarm on the clean log (protocol §8.2, §5.6-h).

Builds a data directory (SQLite) holding a realistic log of a few hundred entries through the real
sequencer: the statements of `scripts/synthlog.py` (sponsored joins, vouches, unvouches, revocations,
reinstatements, rotations), sequenced in batches of random sizes, so that there is one checkpoint per
batch (and a state leaf per batch, once the sequencer writes them). Then, each time on a fresh copy of
the clean data directory, it changes one byte of one stored value, runs `registry audit --data DIR`
(the CLI's own code, in this process) and checks the verdict:

  - an entry or state leaf at index i (entries.leaf): the audit fails naming index i; or, when the
    changed leaf is valid on its own, a later index of the same batch (whose leaf breaks a rule against
    it) or the checkpoint covering i (the smallest checkpoint size above i, whose root no longer
    matches) -- never anything before i;
  - a tree node (level, n) (tree_nodes.hash): the audit fails naming the first leaf the node covers,
    n * 2**level (the replay never reads stored nodes, so this is the data-directory audit's comparison
    of every stored node with the node recomputed from the leaves);
  - a checkpoint of size s (checkpoints.note): the audit fails naming the checkpoint of size s;
  - a column derived from leaf i (entries.payload_hash, entries.logged_ms, the latter as its 8-byte
    big-endian two's complement): the audit fails naming index i, the check `entry_row` and the column
    (protocol §8.2-g);
  - the meta row (meta.origin, meta.log_vkey, meta.tree_size; text changed to another printable ASCII
    character, the size as the log time): the audit fails naming the check `meta_row` and the column.

Half the changes write a random other byte; the other half a plausible one (a digit for a digit, a hex
or base64 character for one of its kind, a letter for a letter), which keeps most encodings valid and so
exercises the signature, rule and root checks rather than the parser.

Usage: scripts/tamper.py [--tampers 1000] [--entries 300] [--seed S]
Prints its figures and ends with one name=value line per headline figure.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import random
import shutil
import sqlite3
import string
import sys
import tempfile
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from click.testing import CliRunner

from registry.cli import cli, load_commands
from registry.datadir import DATABASE_URL_ENV, DB_FILE, create_data_dir
from registry.errors import Rejected
from registry.sequencer import Receipt, init_log
from registry.statements import format_entry, parse_leaf
from registry.statetree import parse_log_leaf
from registry.store import Store

__all__ = ["CATEGORIES", "Tamper", "TamperReport", "Verdict", "build_log", "run_tampers"]

ROOT = Path(__file__).resolve().parent.parent

CATEGORIES = ("entry_leaf", "state_leaf", "tree_node", "checkpoint", "payload_hash", "logged_ms", "meta_row")
_INT_COLUMNS = frozenset({"logged_ms", "tree_size"})  # tampered as 8 bytes, big-endian, two's complement
_TEXT_COLUMNS = frozenset({"origin", "log_vkey"})  # tampered as ASCII, to another printable character
_PRINTABLE = set(range(0x21, 0x7F))
_HEX = set(b"0123456789abcdef")
_B64 = set((string.ascii_letters + string.digits + "+/").encode())
_DIGITS = set(string.digits.encode())
_LETTERS = set(string.ascii_letters.encode())


def _load_synthlog() -> ModuleType:
    spec = importlib.util.spec_from_file_location("synthlog", ROOT / "scripts" / "synthlog.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("scripts/synthlog.py is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("synthlog", module)
    spec.loader.exec_module(module)
    return module


# --- the clean log ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanLog:
    path: Path
    size: int
    checkpoint_sizes: tuple[int, ...]
    refused: int  # synthetic statements the sequencer refused (their batch ran later than planned)


def build_log(folder: Path, entries: int, seed: int) -> CleanLog:
    """A data directory holding a synthetic log of about `entries` leaves, sequenced in batches of 1 to
    12 statements. Each batch runs at the planned log time of its last statement."""
    synthlog = _load_synthlog()
    rng = random.Random(seed)
    generator = synthlog.SyntheticLog(f"tamper {seed}".encode(), founders=12, step_ms=30 * 60_000)
    leaves = [parse_leaf(data) for _, _, data in generator.leaves(entries)]
    data = create_data_dir(folder, generator.origin, None, synthlog.seed_key(f"tamper {seed}".encode(), 0))
    refused = 0
    clock = [leaves[0].logged_ms]  # the sequencer's injected clock, moved by this loop only
    with Store.open(data.database_url({}), writable=True, create=True) as store:
        sequencer, _ = init_log(store, data.signer(), lambda: clock[0], format_entry(leaves[0].entry))
        position = 1
        while position < len(leaves):
            batch = leaves[position : position + rng.randint(1, 12)]
            position += len(batch)
            clock[0] = batch[-1].logged_ms
            results = sequencer.submit_batch([format_entry(leaf.entry) for leaf in batch])
            refused += sum(not isinstance(r, Receipt) for r in results)
        size = sequencer.size
        sizes = tuple(s for s, _ in store.iter_checkpoints())
    return CleanLog(data.path, size, sizes, refused)


# --- one tamper ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tamper:
    """One single-byte change: which stored value, at which byte, from what to what."""

    category: str
    table: str
    column: str
    key: tuple[int, ...]  # (index,) of a leaf or its row, (level, index) of a node, (size,) of a checkpoint, ()
    offset: int
    old: int
    new: int

    @property
    def expected_index(self) -> int | None:
        """The leaf index the audit must name (None for a checkpoint)."""
        if self.category == "tree_node":
            return self.key[1] << self.key[0]
        if self.category in ("entry_leaf", "state_leaf", "payload_hash", "logged_ms"):
            return self.key[0]
        return None

    def __str__(self) -> str:
        return f"{self.category} {self.column} {self.key} byte {self.offset}: {self.old:#04x} -> {self.new:#04x}"


@dataclass
class Verdict:
    tamper: Tamper
    detected: bool
    named: bool
    check: str
    index: int | None
    checkpoint_size: int | None
    message: str
    where: str = ""  # how it was named: "exact", "later", "checkpoint" (see `judge`), or "" (not named)
    column: str = ""  # the column the audit named (the store's own checks, §8.2-g)


Row = tuple[tuple[int, ...], str, bytes]
"""A stored value: its key, its column, and its bytes (an integer as 8 bytes, text as ASCII)."""


def _as_bytes(column: str, value: int | str | bytes) -> bytes:
    if column in _INT_COLUMNS and isinstance(value, int):
        return value.to_bytes(8, "big", signed=True)
    if column in _TEXT_COLUMNS and isinstance(value, str):
        return value.encode("ascii")
    if isinstance(value, bytes):
        return value
    raise TypeError(f"column {column} holds a {type(value).__name__}")


def _from_bytes(column: str, data: bytes) -> object:
    if column in _INT_COLUMNS:
        return int.from_bytes(data, "big", signed=True)
    if column in _TEXT_COLUMNS:
        return data.decode("ascii")
    return data


def _rows(db: Path) -> dict[str, list[Row]]:
    """Every stored value that can be tampered with, by category."""
    with sqlite3.connect(db) as conn:
        entries = conn.execute('SELECT "index", leaf, payload_hash, logged_ms FROM entries ORDER BY "index"').fetchall()
        nodes = conn.execute('SELECT level, "index", hash FROM tree_nodes ORDER BY level, "index"').fetchall()
        notes = conn.execute("SELECT size, note FROM checkpoints ORDER BY size").fetchall()
        meta = conn.execute("SELECT origin, log_vkey, tree_size FROM meta").fetchone()
    conn.close()
    out: dict[str, list[Row]] = {c: [] for c in CATEGORIES}
    for index, leaf, payload_hash, logged_ms in entries:
        kind = "entry_leaf"
        try:
            kind = "entry_leaf" if hasattr(parse_log_leaf(bytes(leaf)), "entry") else "state_leaf"
        except Rejected:
            pass
        out[kind].append(((int(index),), "leaf", bytes(leaf)))
        out["payload_hash"].append(((int(index),), "payload_hash", bytes(payload_hash)))
        out["logged_ms"].append(((int(index),), "logged_ms", _as_bytes("logged_ms", logged_ms)))
    out["tree_node"] = [((int(level), int(index)), "hash", bytes(h)) for level, index, h in nodes]
    out["checkpoint"] = [((int(size),), "note", bytes(note)) for size, note in notes]
    out["meta_row"] = [((), column, _as_bytes(column, value)) for column, value in zip(_META, meta, strict=True)]
    return out


_META = ("origin", "log_vkey", "tree_size")
_WHERE = {
    "entry_leaf": ("entries", '"index" = ?'),
    "state_leaf": ("entries", '"index" = ?'),
    "payload_hash": ("entries", '"index" = ?'),
    "logged_ms": ("entries", '"index" = ?'),
    "tree_node": ("tree_nodes", 'level = ? AND "index" = ?'),
    "checkpoint": ("checkpoints", "size = ?"),
    "meta_row": ("meta", "id = 1"),
}


def _new_byte(rng: random.Random, old: int, column: str = "") -> int:
    """Half the time any other byte; otherwise another byte of the same kind, to keep encodings valid.
    Text columns always get another printable ASCII character (the store reads them as text)."""
    if column in _TEXT_COLUMNS:
        return rng.choice(sorted(_PRINTABLE - {old}))
    if rng.random() < 0.5:
        for kind in (_DIGITS, _HEX, _LETTERS, _B64):
            if old in kind:
                return rng.choice(sorted(kind - {old}))
    return rng.choice([b for b in range(256) if b != old])


def plan_tamper(rng: random.Random, rows: dict[str, list[Row]]) -> Tamper:
    category = rng.choice([c for c in CATEGORIES if rows[c]])
    key, column, value = rng.choice(rows[category])
    offset = rng.randrange(len(value))
    old = value[offset]
    table, _ = _WHERE[category]
    return Tamper(category, table, column, key, offset, old, _new_byte(rng, old, column))


def apply_tamper(db: Path, tamper: Tamper) -> None:
    """Write the changed value into the SQLite file directly, as an attacker with the file would."""
    table, where = _WHERE[tamper.category]
    column = tamper.column
    with sqlite3.connect(db) as conn:
        (value,) = conn.execute(f"SELECT {column} FROM {table} WHERE {where}", tamper.key).fetchone()
        changed = bytearray(_as_bytes(column, value))
        changed[tamper.offset] = tamper.new
        new = _from_bytes(column, bytes(changed))
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (new, *tamper.key))
    conn.close()


def audit(path: Path) -> tuple[int, dict[str, object]]:
    """`registry audit --data DIR --json`, through the CLI's own code in this process."""
    import json

    load_commands()
    result = CliRunner().invoke(cli, ["audit", "--data", str(path), "--workers", "1", "--json"])
    output = result.stdout
    try:
        report = json.loads(output[output.index("{") : output.rindex("}") + 1])
    except ValueError:
        report = {"ok": False, "failure": {"check": "cli", "message": result.output.strip()[-300:]}}
    return result.exit_code, report


def judge(tamper: Tamper, code: int, report: dict[str, object], checkpoint_sizes: tuple[int, ...]) -> Verdict:
    """Detected: the audit failed (exit 1, ok false). Named: the failure names the checkpoint (a changed
    checkpoint), the first leaf the node covers (a changed node), the row's index, the check `entry_row`
    and the column (a changed derived column), the check `meta_row` and the column (a changed meta
    row), or, for a changed leaf i, the index i
    ("exact"), a later index that the same checkpoint covers ("later": the changed leaf is valid on its
    own and the next leaf of its batch breaks a rule against it, e.g. a log time raised above the
    next one's), or that covering checkpoint ("checkpoint": the leaf is valid but its hash is not the one
    the checkpoint's root commits to). An audit never names anything before the changed value, since
    everything before it replays as before."""
    failure = report.get("failure") or {}
    if not isinstance(failure, dict):
        failure = {}
    index, cp_size = failure.get("index"), failure.get("checkpoint_size")
    check, column = str(failure.get("check", "")), str(failure.get("column", ""))
    detected = code == 1 and report.get("ok") is False
    where = ""
    if tamper.category == "checkpoint":
        where = "checkpoint" if cp_size == tamper.key[0] else ""
    elif tamper.category == "tree_node":
        where = "exact" if index == tamper.expected_index else ""
    elif tamper.category in ("payload_hash", "logged_ms"):
        where = "exact" if (index, check, column) == (tamper.expected_index, "entry_row", tamper.column) else ""
    elif tamper.category == "meta_row":
        where = "exact" if (check, column) == ("meta_row", tamper.column) else ""
    else:
        i = tamper.key[0]
        covering = min((s for s in checkpoint_sizes if s > i), default=None)
        if cp_size is not None and cp_size == covering:
            where = "checkpoint"
        elif index == i:
            where = "exact"
        elif isinstance(index, int) and covering is not None and i < index < covering:
            where = "later"
    return Verdict(
        tamper,
        detected,
        detected and bool(where),
        check,
        index if isinstance(index, int) else None,
        cp_size if isinstance(cp_size, int) else None,
        str(failure.get("message", "")),
        where,
        column,
    )


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class TamperReport:
    clean: CleanLog
    rows: dict[str, int]
    clean_ok: bool
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def missed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.detected]

    @property
    def misnamed(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.detected and not v.named]

    def lines(self) -> list[str]:
        out = [
            f"clean log: {self.clean.size} leaves, {len(self.clean.checkpoint_sizes)} checkpoints "
            f"({self.clean.refused} synthetic statements refused by the sequencer and left out)",
            "stored values: " + ", ".join(f"{c} {n}" for c, n in self.rows.items()),
            f"clean log audit: {'ok (no false alarm)' if self.clean_ok else 'FAILED (false alarm)'}",
        ]
        by_category: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for v in self.verdicts:
            by_category[v.tamper.category]["made"] += 1
            by_category[v.tamper.category]["detected"] += v.detected
            by_category[v.tamper.category]["named"] += v.named
            by_category[v.tamper.category][f"check {v.check or '-'}"] += v.detected
            by_category[v.tamper.category][f"where {v.where or 'not named'}"] += 1
        for category in CATEGORIES:
            counts = by_category.get(category)
            if not counts:
                continue
            checks = ", ".join(
                f"{k.removeprefix('check ')} {n}" for k, n in sorted(counts.items()) if k.startswith("check ") and n
            )
            named = ", ".join(
                f"{k.removeprefix('where ')} {n}" for k, n in sorted(counts.items()) if k.startswith("where ") and n
            )
            out.append(
                f"  {category:12} made {counts['made']:4}  detected {counts['detected']:4}  named "
                f"{counts['named']:4} ({named})  by check: {checks}"
            )
        out.append(
            f"tampers made {len(self.verdicts)}, detected {len(self.verdicts) - len(self.missed)}, "
            f"named correctly {sum(v.named for v in self.verdicts)}, in {self.seconds:.1f} s"
        )
        for v in self.missed[:20]:
            out.append(f"  MISSED: {v.tamper}")
        for v in self.misnamed[:20]:
            out.append(
                f"  MISNAMED: {v.tamper}: report named index {v.index}, checkpoint {v.checkpoint_size} "
                f"({v.check} {v.column}: {v.message})"
            )
        return out


def _copies(clean: Path, scratch: Path) -> Generator[Path, None, None]:
    n = 0
    while True:
        target = scratch / f"copy-{n}"
        shutil.copytree(clean, target)
        yield target
        shutil.rmtree(target)
        n += 1


def run_tampers(
    folder: Path, *, tampers: int, entries: int = 300, seed: int = 1, progress: Callable[[int], None] | None = None
) -> TamperReport:
    """Build the clean log in `folder`, audit it, then make `tampers` single-byte changes, each on a
    fresh copy, and judge the audit of each."""
    os.environ.pop(DATABASE_URL_ENV, None)
    t0 = time.perf_counter()
    clean = build_log(folder / "clean", entries, seed)
    db = clean.path / DB_FILE
    rows = _rows(db)
    code, report = audit(clean.path)
    result = TamperReport(clean, {c: len(v) for c, v in rows.items()}, code == 0 and report.get("ok") is True)
    rng = random.Random(seed)
    copies = _copies(clean.path, folder)
    for n in range(tampers):
        copy = next(copies)
        tamper = plan_tamper(rng, rows)
        apply_tamper(copy / DB_FILE, tamper)
        code, report = audit(copy)
        result.verdicts.append(judge(tamper, code, report, clean.checkpoint_sizes))
        if progress is not None and (n + 1) % 100 == 0:
            progress(n + 1)
    copies.close()
    result.seconds = time.perf_counter() - t0
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tampers", type=int, default=1000, help="single-byte changes, each on a fresh copy")
    parser.add_argument("--entries", type=int, default=300, help="entries of the synthetic log")
    parser.add_argument("--seed", type=int, default=1, help="seed of the log and of the changes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tamper-") as tmp:
        report = run_tampers(
            Path(tmp),
            tampers=args.tampers,
            entries=args.entries,
            seed=args.seed,
            progress=lambda n: print(f"  {n} tampers audited", flush=True),
        )
    for line in report.lines():
        print(line)
    detected = len(report.verdicts) - len(report.missed)
    checks = collections.Counter(v.check for v in report.verdicts if v.detected)
    print(f"tampers={len(report.verdicts)}")
    print(f"detected={detected}")
    print(f"named={sum(v.named for v in report.verdicts)}")
    for check, count in sorted(checks.items()):
        print(f"detected_by_{check}={count}")
    print(f"false_alarms={0 if report.clean_ok else 1}")
    return 0 if report.clean_ok and not report.missed and not report.misnamed else 1


if __name__ == "__main__":
    sys.exit(main())
