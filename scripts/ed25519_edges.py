#!/usr/bin/env python3
"""Strict Ed25519 against the published edge cases (issue 7 item 6; protocol §3.2, §4.2-d, §11).

Every vector of tests/vectors/ed25519 (written by scripts/gen_vectors_ed25519.py: the 12 vectors of
"Taming the many EdDSAs" (ed25519-speccheck), the 14 encodings of the small-order points as keys,
non-canonical and off-curve keys, mixed-order keys, small-order, non-canonical and mixed-order R, and S
not reduced), plus the ZIP-215 grid (each of the 14 small-order encodings as A against each as R, S = 0),
is run through:

  strict      `crypto.keys.verify_strict` (the registry's only verifier) and `check_public_key`; each
              verdict must be the vector's `expected` and `public_key_valid`;
  libsodium   pynacl's `VerifyKey(A).verify(M, sig)` alone, as a bare implementation would call it:
              the count of edge cases it accepts is what the explicit checks of §3.2 add;
  register    every distinct refused key as the member of a sponsored declaration and as the new key of a
              founder's rotation, submitted to a real sequencer on a temporary SQLite log: each must be
              `bad_key` with nothing appended; a fresh key's declaration is the positive control.

Exit code 1 on any verdict other than the expected one. Prints a table by category, then one name=value
line per figure.

Usage: scripts/ed25519_edges.py [--vectors DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/scriptlog.py, also when loaded by a test

import nacl.exceptions
import nacl.signing
from scriptlog import DECLARATIONS
from scriptlog import signed as _signed

from crypto.errors import BadKey, BadSignature
from crypto.keys import SigningKey, check_public_key, verify_strict
from crypto.notekey import NoteSigner
from registry.errors import ErrorCode
from registry.sequencer import Receipt, Sequencer, init_log
from registry.statements import (
    Declare,
    Entry,
    MemberId,
    Params,
    PolicyStatement,
    Rotate,
    Signature,
    Statement,
    declaration_hash,
    entry_from_statement,
    format_entry,
    format_statement,
    sign_entry,
)
from registry.store import Store

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors" / "ed25519"
ORIGIN = "ed25519.registry.example/log"
T0 = 1_767_225_600_000

# Vector name prefix -> category, first match wins.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("speccheck-", "speccheck"),
    ("small-order-key-", "small_order_key"),
    ("non-canonical-key-", "non_canonical_key"),
    ("off-curve-key", "off_curve_key"),
    ("mixed-order-key", "mixed_order_key"),
    ("small-order-r-", "small_order_r"),
    ("non-canonical-r", "non_canonical_r"),
    ("mixed-order-r", "mixed_order_r"),
    ("s-", "s_not_reduced"),
    ("valid-", "valid"),
)
GRID = "zip215_grid"


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    public_key: bytes
    message: bytes
    signature: bytes
    accept: bool
    key_valid: bool


@dataclass(frozen=True)
class Verdict:
    case: Case
    strict_accepts: bool
    key_accepted: bool
    libsodium_accepts: bool

    @property
    def ok(self) -> bool:
        return self.strict_accepts == self.case.accept and self.key_accepted == self.case.key_valid


def category(name: str) -> str:
    for prefix, label in CATEGORIES:
        if name.startswith(prefix):
            return label
    return "other"


def load_cases(directory: Path) -> list[Case]:
    """The vectors of `directory` and the ZIP-215 grid built from its small-order keys."""
    cases = []
    for path in sorted(directory.glob("*.json")):
        v = json.loads(path.read_text("utf-8"))
        key, message, signature = (bytes.fromhex(v[k]) for k in ("public_key", "message", "signature"))
        cases.append(Case(path.stem, category(path.stem), key, message, signature, v["expected"] == "accept",
                          bool(v["public_key_valid"])))  # fmt: skip
    small = [c.public_key for c in cases if c.category == "small_order_key"]
    for i, a in enumerate(small):
        for j, r in enumerate(small):
            cases.append(Case(f"zip215-a{i:02}-r{j:02}", GRID, a, b"Zcash", r + bytes(32), False, False))
    return cases


def _strict(case: Case) -> bool:
    try:
        verify_strict(case.public_key, case.message, case.signature)
    except BadSignature:
        return False
    return True


def _key(case: Case) -> bool:
    try:
        check_public_key(case.public_key)
    except BadKey:
        return False
    return True


def _libsodium(case: Case) -> bool:
    """What pynacl alone says (any refusal, a raised ValueError included, counts as a rejection)."""
    try:
        nacl.signing.VerifyKey(case.public_key).verify(case.message, case.signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
        return False
    return True


def judge(cases: Iterable[Case]) -> list[Verdict]:
    return [Verdict(c, _strict(c), _key(c), _libsodium(c)) for c in cases]


# --- registration --------------------------------------------------------------------------------------


def _seed_key(label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"ed25519 edges {label}".encode()).digest())



def _with_foreign_signer(statement: Statement, foreign: bytes, signature: bytes, *keys: SigningKey) -> bytes:
    """The statement signed by `keys`, plus a signature "by" the foreign key (its vector's signature):
    what a client would send to register a key it cannot sign with honestly."""
    entry = entry_from_statement(statement)
    for k in keys:
        entry = sign_entry(entry, k)
    signatures = tuple(sorted((*entry.signatures, Signature(foreign, signature)), key=lambda s: s.key))
    return format_entry(Entry(entry.statement, signatures, format_statement(statement)))


@dataclass(frozen=True)
class Registration:
    keys: int
    declare_codes: Counter[str]
    rotate_codes: Counter[str]
    appended: int
    control_accepted: bool


def register(keys: list[tuple[bytes, bytes]], folder: Path) -> Registration:
    """Submit a declaration and a rotation for each (key, signature) to a fresh log; count the codes."""
    founder, council = _seed_key("founder"), _seed_key("council")
    policy = PolicyStatement(ORIGIN, T0, 0, (MemberId(founder.public_key),), (council.public_key,), 1, DECLARATIONS,
                             Params(rate_limit_per_day=100_000, max_pending_vouchees=1000))  # fmt: skip
    en = declaration_hash(DECLARATIONS["en"])
    declare_codes: Counter[str] = Counter()
    rotate_codes: Counter[str] = Counter()

    def outcome(result: Receipt | object) -> str:
        return "accepted" if isinstance(result, Receipt) else str(getattr(result, "code", result))

    with Store.open(f"sqlite:///{folder / 'log.sqlite3'}", create=True) as store:
        sequencer: Sequencer
        sequencer, _ = init_log(store, NoteSigner(ORIGIN, _seed_key("log")), lambda: T0, _signed(policy, council))
        size = sequencer.size
        for public_key, signature in keys:
            declare = Declare(ORIGIN, T0, MemberId(public_key), en, None, MemberId(founder.public_key))
            declare_codes[outcome(sequencer.submit(_with_foreign_signer(declare, public_key, signature, founder)))] += 1
            rotate = Rotate(ORIGIN, T0, MemberId(founder.public_key), public_key)
            rotate_codes[outcome(sequencer.submit(_with_foreign_signer(rotate, public_key, signature, founder)))] += 1
        appended = sequencer.size - size
        fresh = _seed_key("fresh member")
        control = sequencer.submit(_signed(Declare(ORIGIN, T0, MemberId(fresh.public_key), en, None,
                                                   MemberId(founder.public_key)), fresh, founder))  # fmt: skip
    return Registration(len(keys), declare_codes, rotate_codes, appended, isinstance(control, Receipt))


# --- main ----------------------------------------------------------------------------------------------


def summarize(
    verdicts: list[Verdict], registration: Registration, echo: Callable[[str], None] = print
) -> dict[str, int]:
    """Print the table by category and return the figures."""
    order = [label for _, label in CATEGORIES] + [GRID]
    echo(f"{'category':18} {'cases':>5} {'expected':>9} {'strict':>14} {'keys refused':>12} {'libsodium':>14}")
    figures: dict[str, int] = {}
    for label in order:
        group = [v for v in verdicts if v.case.category == label]
        if not group:
            continue
        rejected = sum(not v.strict_accepts for v in group)
        expected_reject = sum(not v.case.accept for v in group)
        libsodium = sum(v.libsodium_accepts for v in group)
        keys_refused = sum(not v.key_accepted for v in group)
        wrong = sum(not v.ok for v in group)
        echo(f"{label:18} {len(group):5} {'accept' if expected_reject == 0 else 'reject':>9} "
             f"{rejected:>5} rejected {keys_refused:>12} {libsodium:>5} accepted"
             + (f"   <-- {wrong} WRONG" if wrong else ""))  # fmt: skip
        figures[f"ed25519_{label}_cases"] = len(group)
        figures[f"ed25519_{label}_rejected"] = rejected
        figures[f"ed25519_{label}_libsodium_accepts"] = libsodium
    edges = [v for v in verdicts if not v.case.accept]
    controls = [v for v in verdicts if v.case.accept]
    figures |= {
        "ed25519_cases": len(verdicts),
        "ed25519_vectors": sum(v.case.category != GRID for v in verdicts),
        "ed25519_edge_cases": len(edges),
        "ed25519_edge_rejected": sum(not v.strict_accepts for v in edges),
        "ed25519_edge_accepted": sum(v.strict_accepts for v in edges),
        "ed25519_edge_libsodium_accepts": sum(v.libsodium_accepts for v in edges),
        "ed25519_valid_accepted": sum(v.strict_accepts for v in controls),
        "ed25519_valid_rejected": sum(not v.strict_accepts for v in controls),
        "ed25519_key_verdicts_wrong": sum(v.key_accepted != v.case.key_valid for v in verdicts),
        "ed25519_wrong": sum(not v.ok for v in verdicts),
        "ed25519_registration_keys": registration.keys,
        "ed25519_registration_declare_bad_key": registration.declare_codes[ErrorCode.BAD_KEY],
        "ed25519_registration_rotate_bad_key": registration.rotate_codes[ErrorCode.BAD_KEY],
        "ed25519_registration_appended": registration.appended,
        "ed25519_registration_control_accepted": int(registration.control_accepted),
    }
    echo(f"registration: {registration.keys} refused keys, declare {dict(registration.declare_codes)}, "
         f"rotate {dict(registration.rotate_codes)}, {registration.appended} appended; "
         f"control {'accepted' if registration.control_accepted else 'REFUSED'}")  # fmt: skip
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, default=VECTORS, help="the vector directory (tests/vectors/ed25519)")
    args = parser.parse_args()

    cases = load_cases(args.vectors)
    verdicts = judge(cases)
    # Every distinct key the strict rules refuse, with a signature from one of its cases.
    refused: dict[bytes, bytes] = {}
    for v in verdicts:
        if not v.key_accepted:
            refused.setdefault(v.case.public_key, v.case.signature)
    with tempfile.TemporaryDirectory(prefix="ed25519-") as tmp:
        registration = register(list(refused.items()), Path(tmp))
    figures = summarize(verdicts, registration)
    for name, value in figures.items():
        print(f"{name}={value}")
    ok = (
        figures["ed25519_wrong"] == 0
        and registration.declare_codes[ErrorCode.BAD_KEY] == registration.keys
        and registration.rotate_codes[ErrorCode.BAD_KEY] == registration.keys
        and registration.appended == 0
        and registration.control_accepted
        and figures["ed25519_edge_cases"] > 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
