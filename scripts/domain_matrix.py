#!/usr/bin/env python3
"""Domain separation and replay (issue 7 item 8; protocol §3.3, §7.1-a, §7.1-b, §7.1-g, §6.1).

1. The matrix. A *context* is a way a key signs an object's bytes: for each of `--origins` log origins
   (default 3), each statement purpose `statement/<kind>` (7 kinds), `presentation`, a C2SP checkpoint
   note (the log's signature over a checkpoint whose root is SHA-256 of the object) and a witness
   cosignature of that checkpoint. One key signs each of 7 objects (the canonical payload of a statement
   of every kind) in every context; every signature is then verified as every (object, context) with the
   registry's verifiers (`crypto.domain.verify_in_domain`, `crypto.notekey.verify_note`,
   `crypto.cosignature.verify_cosignature`). Exactly the diagonal may verify: `cross_accepts` must be 0.

2. The entries. Each of the 7 statements is signed by the keys it names in every context and checked by
   `registry.statements.verify_entry` (what the sequencer, the auditor and the verifier call) in its log:
   only its own purpose and origin may verify, every other context is `bad_signature`.

3. Replay. A log of about `--entries` leaves (default 300; scripts/tamper.py's `build_log`, the statements
   of scripts/synthlog.py sequenced in random batches through the real sequencer on SQLite) has every
   accepted statement resubmitted: all in one batch to the sequencer (twice over), and each over HTTP
   to `registry serve` on that data directory; the same for a small log of every kind (the statements
   of part 2, with a second declaration, a council revocation and reinstatement, a policy amendment).
   Every one must be `duplicate_entry` (409 over HTTP) with nothing appended and the checkpoint unchanged.

Exit code 1 on any cross-accept, any own signature refused, or any resubmission not a duplicate or
appended. Ends with one name=value line per figure.

Usage: scripts/domain_matrix.py [--origins 3] [--objects 7] [--entries 300] [--seed 1] [--no-server]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/tamper.py, scripts/serverproc.py

import httpx
from scriptlog import DECLARATIONS
from serverproc import Server
from tamper import build_log

from crypto.checkpoint import Checkpoint, format_checkpoint
from crypto.cosignature import cosign, verify_cosignature
from crypto.domain import sign_in_domain, verify_in_domain
from crypto.errors import CryptoError
from crypto.keys import SigningKey
from crypto.note import Note, NoteSignature
from crypto.notekey import SIG_TYPE_COSIGNATURE, SIG_TYPE_ED25519, NoteVerifier, key_id, verify_note
from registry.datadir import create_data_dir, open_data_dir
from registry.errors import ErrorCode, Rejected, Rejection
from registry.presentation import PRESENTATION_PURPOSE
from registry.sequencer import Receipt, Sequencer, init_log
from registry.statements import (
    Declare,
    Entry,
    Leaf,
    MemberId,
    Params,
    PolicyStatement,
    Reason,
    Reinstate,
    Revoke,
    Rotate,
    Signature,
    Statement,
    StatementType,
    Unvouch,
    Vouch,
    declaration_hash,
    entry_from_statement,
    format_entry,
    format_statement,
    purpose,
    sign_entry,
    verify_entry,
)
from registry.statetree import parse_log_leaf
from registry.store import Store

ORIGINS = ("domain.registry.example/log", "domain.registry.example/log-2", "other.example/registry")
T0 = 1_767_225_600_000
WITNESS = "witness.example/w1"
COSIGNED_AT_S = 1_767_225_600
NOTE, COSIGNATURE = "note", "cosignature"


def key(label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"domain matrix {label}".encode()).digest())


# --- contexts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """A way to sign: a domain purpose (statement/<kind>, presentation) or a C2SP framing (note,
    cosignature), in one log origin."""

    purpose: str
    origin: str

    def __str__(self) -> str:
        return f"{self.purpose}@{self.origin}"


def contexts(origins: Sequence[str]) -> list[Context]:
    purposes = [purpose(kind) for kind in StatementType] + [PRESENTATION_PURPOSE, NOTE, COSIGNATURE]
    return [Context(p, o) for o in origins for p in purposes]


def _checkpoint_text(context: Context, payload: bytes) -> str:
    """The checkpoint a C2SP context signs for an object: its origin, size and root from the payload."""
    return format_checkpoint(Checkpoint(context.origin, len(payload), hashlib.sha256(payload).digest()))


def sign(signer: SigningKey, context: Context, payload: bytes) -> bytes:
    """The 64-byte Ed25519 signature `signer` makes over `payload` in `context`."""
    if context.purpose == NOTE:
        return signer.sign(_checkpoint_text(context, payload).encode())  # a C2SP note signs its text
    if context.purpose == COSIGNATURE:
        return cosign(signer, WITNESS, _checkpoint_text(context, payload), COSIGNED_AT_S).signature[8:]
    return sign_in_domain(signer, context.purpose, context.origin, payload)


def verifies(public_key: bytes, context: Context, payload: bytes, signature: bytes) -> bool:
    """Whether the registry's verifier for `context` accepts `signature` over `payload`."""
    try:
        if context.purpose == NOTE:
            verifier = NoteVerifier(context.origin, SIG_TYPE_ED25519, public_key)
            line = NoteSignature(context.origin, key_id(context.origin, SIG_TYPE_ED25519, public_key), signature)
            verify_note(Note(_checkpoint_text(context, payload), (line,)), [verifier])
        elif context.purpose == COSIGNATURE:
            verifier = NoteVerifier(WITNESS, SIG_TYPE_COSIGNATURE, public_key)
            stamped = COSIGNED_AT_S.to_bytes(8, "big") + signature
            line = NoteSignature(WITNESS, key_id(WITNESS, SIG_TYPE_COSIGNATURE, public_key), stamped)
            verify_cosignature(verifier, _checkpoint_text(context, payload), line)
        else:
            verify_in_domain(public_key, context.purpose, context.origin, payload, signature)
    except CryptoError:
        return False
    return True


# --- the statements ------------------------------------------------------------------------------------

Signed = tuple[Statement, tuple[SigningKey, ...]]
"""A statement and the keys that must sign it."""


def statements(origin: str) -> list[Signed]:
    """A log of every kind in `origin`, in an order its rules accept at T0, with the keys that sign each:
    the genesis policy, a declaration, a vouch and its withdrawal, a second declaration, its council
    revocation for fraud and the reinstatement, a rotation, and a policy amendment."""
    f0, f1, council = key("founder 0"), key("founder 1"), key("council")
    m1, m2, m1_new = key("member 1"), key("member 2"), key("member 1 rotated")
    evidence = hashlib.sha256(b"evidence").digest()
    founders = tuple(sorted(MemberId(k.public_key) for k in (f0, f1)))
    policy = PolicyStatement(origin, T0, 0, founders, (council.public_key,), 1, DECLARATIONS, Params())
    amendment = PolicyStatement(origin, T0, 1, (), (council.public_key,), 1, DECLARATIONS, Params())
    en = declaration_hash(DECLARATIONS["en"])

    def mid(k: SigningKey) -> MemberId:
        return MemberId(k.public_key)

    return [
        (policy, (council,)),
        (Declare(origin, T0, mid(m1), en, None, mid(f0)), (m1, f0)),
        (Vouch(origin, T0, mid(f1), mid(m1), None), (f1, m1)),
        (Unvouch(origin, T0, mid(f1), mid(m1)), (f1,)),
        (Declare(origin, T0, mid(m2), en, None, mid(f0)), (m2, f0)),
        (Revoke(origin, T0, mid(m2), Reason.FRAUD, evidence), (council,)),
        (Reinstate(origin, T0, mid(m2), evidence), (council,)),
        (Rotate(origin, T0, mid(m1), m1_new.public_key), (m1, m1_new)),
        (amendment, (council,)),
    ]


def one_per_kind(
    items: Sequence[tuple[Statement, tuple[SigningKey, ...]]],
) -> list[tuple[Statement, tuple[SigningKey, ...]]]:
    """The first statement of each kind, in StatementType order."""
    first: dict[StatementType, tuple[Statement, tuple[SigningKey, ...]]] = {}
    for statement, keys in items:
        first.setdefault(entry_from_statement(statement).type, (statement, keys))
    return [first[kind] for kind in StatementType]


def every_kind_log(folder: Path) -> Path:
    """A data directory (SQLite) whose log holds the statements of `statements(ORIGINS[0])`."""
    data = create_data_dir(folder, ORIGINS[0], None, key("log"))
    entries = []
    for statement, keys in statements(ORIGINS[0]):
        entry = entry_from_statement(statement)
        for k in keys:
            entry = sign_entry(entry, k)
        entries.append(format_entry(entry))
    with Store.open(data.database_url({}), create=True) as store:
        sequencer, _ = init_log(store, data.signer(), lambda: T0, entries[0])
        for raw in entries[1:]:
            result = sequencer.submit(raw)
            if not isinstance(result, Receipt):
                raise SystemExit(f"the every-kind log refused a statement: {result}")
    return Path(data.path)


@dataclass(frozen=True)
class MatrixReport:
    contexts: int
    objects: int
    cells: int
    own_accepts: int
    cross_accepts: int
    cross_examples: tuple[str, ...]
    statements: int
    entry_checks: int
    entry_own_accepts: int
    entry_cross_accepts: int
    entry_codes: Counter[str]


def matrix(origins: Sequence[str], objects: int = len(StatementType)) -> MatrixReport:
    """Parts 1 and 2 of the module docstring; part 1 with the first `objects` statements only."""
    ctxs = contexts(origins)
    items = one_per_kind(statements(origins[0]))
    payloads = [format_statement(s) for s, _ in items]
    signer = key("one key for every context")
    chosen = payloads[:objects]
    signed = [(o, c, sign(signer, c, p)) for o, p in enumerate(chosen) for c in ctxs]
    own = cross = 0
    examples: list[str] = []
    for o1, c1, signature in signed:
        for o2, payload in enumerate(chosen):
            for c2 in ctxs:
                if not verifies(signer.public_key, c2, payload, signature):
                    continue
                if (o1, c1) == (o2, c2):
                    own += 1
                else:
                    cross += 1
                    examples.append(f"object {o1} {c1} verified as object {o2} {c2}")
    # Part 2: each statement signed by its own keys in every context, checked as an entry of its log.
    entry_own = entry_cross = checks = 0
    codes: Counter[str] = Counter()
    for (statement, keys), payload in zip(items, payloads, strict=True):
        kind = Entry(statement, (), payload).type
        for c in ctxs:
            signatures = tuple(sorted((Signature(k.public_key, sign(k, c, payload)) for k in keys),
                                      key=lambda s: s.key))  # fmt: skip
            checks += 1
            try:
                verify_entry(Entry(statement, signatures, payload), origins[0])
            except Rejected as exc:
                codes[str(exc.code)] += 1
                continue
            codes["accepted"] += 1
            if c == Context(purpose(kind), origins[0]):
                entry_own += 1
            else:
                entry_cross += 1
                examples.append(f"the {kind} entry signed for {c} verified in {origins[0]}")
    return MatrixReport(len(ctxs), len(chosen), len(signed) * len(chosen) * len(ctxs), own, cross,
                        tuple(examples[:10]), len(items), checks, entry_own, entry_cross, codes)  # fmt: skip


# --- replay --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayReport:
    log_size: int
    statements: int
    kinds: Counter[str]
    sequencer_results: Counter[str]
    sequencer_appended: int
    sequencer_checkpoint_changed: bool
    server_results: Counter[str]
    server_appended: int
    server_checkpoint_changed: bool


def _code(result: object) -> str:
    return str(result.code) if isinstance(result, Rejection) else "accepted"


async def _post_all(base: str, bodies: Sequence[bytes], concurrency: int = 16) -> Counter[str]:
    """POST every body to /v1/entries, `concurrency` at a time; count "status code" of the answers."""
    results: Counter[str] = Counter()
    queue = list(bodies)
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                response = await client.post("/v1/entries", content=body)
                code = response.json().get("code", "") if response.status_code != 201 else ""
                results[f"{response.status_code} {code}".strip()] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def replay(data_path: Path, *, server: bool) -> ReplayReport:
    """Part 3 of the module docstring, on the log of the data directory `data_path`."""
    data = open_data_dir(data_path)
    with Store.open(data.database_url({}), writable=True) as store:
        size = store.tree_size()
        leaves = [parse_log_leaf(leaf) for leaf in store.leaves(0, size)]
        entry_leaves = [leaf for leaf in leaves if isinstance(leaf, Leaf)]  # not the state leaves
        accepted = [format_entry(leaf.entry) for leaf in entry_leaves]
        kinds = Counter(str(leaf.entry.type) for leaf in entry_leaves)
        checkpoint = store.latest_checkpoint()
        last_ms = max(leaf.logged_ms for leaf in leaves)
        sequencer = Sequencer.open(store, data.signer(), lambda: last_ms + 1000)
        results = Counter(_code(r) for r in sequencer.submit_batch(accepted * 2))
        sequencer_appended = store.tree_size() - size
        sequencer_changed = store.latest_checkpoint() != checkpoint
    server_results: Counter[str] = Counter()
    server_appended, changed = 0, False
    if server:
        out = data_path.parent / f"{data_path.name}-server"
        process = Server.serve(data_path, batch_ms=20, out=out.with_suffix(".out"), err=out.with_suffix(".err"))
        process.start()
        try:
            before = httpx.get(f"{process.url}/checkpoint", timeout=30).content
            server_results = asyncio.run(_post_all(process.url, accepted))
            after = httpx.get(f"{process.url}/checkpoint", timeout=30).content
            server_appended = int(httpx.get(f"{process.url}/healthz", timeout=30).json()["tree_size"]) - size
            changed = before != after
        finally:
            process.stop()
    return ReplayReport(size, len(accepted), kinds, results, sequencer_appended, sequencer_changed, server_results,
                        server_appended, changed)  # fmt: skip


def replay_both(folder: Path, *, entries: int, seed: int, server: bool) -> ReplayReport:
    """`replay` on the every-kind log and on a synthetic log of about `entries` leaves, added up."""
    kinds_log = every_kind_log(folder / "kinds")
    synthetic = build_log(folder / "synthetic", entries, seed)
    parts = [replay(path, server=server) for path in (kinds_log, synthetic.path)]
    return ReplayReport(
        sum(p.log_size for p in parts),
        sum(p.statements for p in parts),
        sum((p.kinds for p in parts), Counter()),
        sum((p.sequencer_results for p in parts), Counter()),
        sum(p.sequencer_appended for p in parts),
        any(p.sequencer_checkpoint_changed for p in parts),
        sum((p.server_results for p in parts), Counter()),
        sum(p.server_appended for p in parts),
        any(p.server_checkpoint_changed for p in parts),
    )


# --- main ----------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", type=int, default=3, choices=(1, 2, 3), help="log origins (default 3)")
    parser.add_argument("--objects", type=int, default=7, choices=range(1, 8), metavar="1..7",
                        help="statements (one per kind) in the matrix (default 7, every kind)")  # fmt: skip
    parser.add_argument("--entries", type=int, default=300, help="leaves of the replayed log (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the replayed log (default 1)")
    parser.add_argument("--no-server", action="store_true", help="resubmit to the sequencer only, not over HTTP")
    args = parser.parse_args()
    echo: Callable[[str], None] = print

    t0 = time.perf_counter()
    m = matrix(ORIGINS[: args.origins], args.objects)
    echo(f"matrix: {m.objects} objects x {m.contexts} contexts signed, each verified as every (object, context): "
         f"{m.cells:,} verifications in {time.perf_counter() - t0:.1f} s; {m.own_accepts} own accepted, "
         f"{m.cross_accepts} cross-accepted")  # fmt: skip
    echo(f"entries: {m.statements} statements, each signed in every context ({m.entry_checks} checks): "
         f"{m.entry_own_accepts} verified in their own purpose and origin, {m.entry_cross_accepts} in another; "
         f"{dict(m.entry_codes)}")  # fmt: skip
    for line in m.cross_examples:
        echo(f"  CROSS  {line}")
    with tempfile.TemporaryDirectory(prefix="domain-") as tmp:
        r = replay_both(Path(tmp), entries=args.entries, seed=args.seed, server=not args.no_server)
    kinds, results = dict(sorted(r.kinds.items())), dict(r.sequencer_results)
    echo(f"replay: a log of {r.log_size} leaves, {r.statements} statements ({kinds}); "
         f"sequencer, all twice in one batch: {results}, {r.sequencer_appended} appended, "
         f"checkpoint {'CHANGED' if r.sequencer_checkpoint_changed else 'unchanged'}")  # fmt: skip
    if not args.no_server:
        echo(f"replay over HTTP: {dict(r.server_results)}, {r.server_appended} appended, "
             f"checkpoint {'CHANGED' if r.server_checkpoint_changed else 'unchanged'}")  # fmt: skip
    duplicates = r.sequencer_results[ErrorCode.DUPLICATE_ENTRY]
    server_duplicates = r.server_results[f"409 {ErrorCode.DUPLICATE_ENTRY}"]
    figures = {
        "domain_contexts": m.contexts,
        "domain_objects": m.objects,
        "domain_matrix_cells": m.cells,
        "domain_own_accepts": m.own_accepts,
        "domain_cross_accepts": m.cross_accepts,
        "domain_entry_statements": m.statements,
        "domain_entry_checks": m.entry_checks,
        "domain_entry_own_accepts": m.entry_own_accepts,
        "domain_entry_cross_accepts": m.entry_cross_accepts,
        "replay_log_size": r.log_size,
        "replay_statements": r.statements,
        "replay_kinds": len(r.kinds),
        "replay_sequencer_submissions": sum(r.sequencer_results.values()),
        "replay_sequencer_duplicates": duplicates,
        "replay_sequencer_appended": r.sequencer_appended,
        "replay_server_submissions": sum(r.server_results.values()),
        "replay_server_duplicates": server_duplicates,
        "replay_server_appended": r.server_appended,
    }
    for name, value in figures.items():
        print(f"{name}={value}")
    ok = (
        m.cross_accepts == 0
        and m.own_accepts == m.objects * m.contexts
        and m.entry_cross_accepts == 0
        and m.entry_own_accepts == m.statements
        and r.statements > 0
        and duplicates == 2 * r.statements
        and r.sequencer_appended == 0
        and not r.sequencer_checkpoint_changed
        and (args.no_server or server_duplicates == r.statements)
        and r.server_appended == 0
        and not r.server_checkpoint_changed
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
