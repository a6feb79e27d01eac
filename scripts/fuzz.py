#!/usr/bin/env python3
"""Coverage-guided fuzzing of every parser of the wire formats, with atheris (issue 7, item 7).

Formats: canonical JSON (protocol §4.1), entries of every statement kind (§4.2), identity files (§4.3),
tiles and entry bundles (§5.3), signed notes (§5.4), checkpoints (§5.5), leaves (§5.6, §5.8-h), export
files (§5.7), status tree proofs and leaves (§5.8), the witness protocol (§6.2), trust policies,
credentials and presentations (§9.7).

A *target* is one function of bytes. It either accepts the input, and then formatting what was parsed
gives back the input byte for byte (or, for the two formats that accept several spellings, a value that
parses back to itself: `canonical-decode` and `trust-policy`), or it refuses the input with a typed error
(`crypto.errors.CryptoError` or `registry.errors.RegistryError`). Any other exception, and any round
trip that does not hold, is a bug: atheris stops and writes the input to the artifacts directory.

The targets and their seeds (valid inputs: built here from fixed seeds, and every string of
tests/vectors that a target accepts) are shared with the Hypothesis version in the test suite
(tests/property/test_fuzz_targets.py), which loads this file.

Usage:
  scripts/fuzz.py --list
  scripts/fuzz.py TARGET --seconds N          one target for N seconds (libFuzzer in a child process)
  scripts/fuzz.py --all --seconds N           every target in turn
  scripts/fuzz.py TARGET --input FILE         run one input and print what happens
Needs atheris (`pip install atheris`; the `fuzz` extra). Ends with one name=value line per target and
the totals. Exit 1 when a target failed.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import functools
import gc
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto import canonical
from crypto.checkpoint import Checkpoint, format_checkpoint, parse_checkpoint, sign_checkpoint
from crypto.cosignature import cosign
from crypto.errors import CryptoError
from crypto.keys import SigningKey
from crypto.merkle import MerkleTree, leaf_hash
from crypto.nodestore import MemoryNodeStore
from crypto.note import (
    add_signatures,
    format_note,
    parse_note,
)
from crypto.notekey import SIG_TYPE_COSIGNATURE, NoteSigner, NoteVerifier, format_vkey, parse_vkey
from crypto.smt import SparseMerkleTree, format_proof, parse_proof
from crypto.tiles import (
    TILE_WIDTH,
    format_entry_bundle,
    format_hash_tile,
    parse_entry_bundle,
    parse_hash_tile,
    parse_tile_path,
    tile_entries_path,
    tile_path,
)
from registry.credential import (
    format_credential_binary,
    format_credential_text,
    parse_credential_binary,
    parse_credential_text,
)
from registry.errors import RegistryError
from registry.export import (
    ExportHeader,
    ExportLeaf,
    format_checkpoint_line,
    format_header,
    format_leaf_line,
    read_export,
)
from registry.identity import (
    format_identity,
    format_identity_disclosure,
    parse_identity,
    parse_identity_disclosure,
)
from registry.presentation import format_presentation, parse_presentation
from registry.state import Status
from registry.statements import (
    Declare,
    Entry,
    MemberId,
    Params,
    PolicyStatement,
    Reason,
    Reinstate,
    Revoke,
    Rotate,
    StatementType,
    Unvouch,
    Vouch,
    declaration_hash,
    entry_from_statement,
    format_entry,
    format_leaf,
    format_statement,
    parse_entry,
    parse_leaf,
    parse_statement,
    sign_entry,
)
from registry.statetree import (
    StateLeaf,
    StatusLeaf,
    format_state_leaf,
    format_status_leaf,
    parse_log_leaf,
    parse_status_leaf,
)
from registry.trust import TrustPolicy, format_trust_policy, parse_trust_policy
from registry.witness.protocol import (
    AddCheckpoint,
    format_add_checkpoint,
    format_cosignature_lines,
    format_tree_size,
    parse_add_checkpoint,
    parse_cosignature_lines,
    parse_tree_size,
)

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
TYPED: tuple[type[Exception], ...] = (CryptoError, RegistryError)
"""The only exceptions a parser may raise."""


class RoundTripFailure(AssertionError):
    """A parser accepted an input whose formatted value is not that input (or not a fixed point)."""


def _same(actual: object, expected: object, what: str) -> None:
    if actual != expected:
        raise RoundTripFailure(f"{what}: {actual!r:.200} != {expected!r:.200}")


@dataclass(frozen=True)
class Target:
    """A parser under test: `parse` may refuse with a typed error; `check` may not raise anything."""

    name: str
    section: str
    parse: Callable[[bytes], Any]
    check: Callable[[bytes, Any], None]
    wanted: Callable[[Any], bool] = lambda value: True
    """Which accepted inputs are seeds of this target (the entry targets keep their own kind)."""

    def __call__(self, data: bytes) -> bool:
        """Run the target on `data`: True when accepted (and round-tripped), False when refused."""
        try:
            value = self.parse(data)
        except TYPED:
            return False
        self.check(data, value)  # not guarded: a typed error here is a bug too
        return True


def _text(data: bytes) -> str:
    """The bytes as a str for the text parsers; invalid UTF-8 becomes lone surrogates, which the
    parsers must refuse themselves (they are public functions taking any str)."""
    return data.decode("utf-8", "surrogateescape")


# --- checks ------------------------------------------------------------------------------------------


def _check_canonical(data: bytes, value: Any) -> None:
    _same(canonical.encode(value), data, "encode(decode_canonical(x))")


def _check_decode(data: bytes, value: Any) -> None:
    encoded = canonical.encode(value)
    _same(canonical.encode(canonical.decode_canonical(encoded)), encoded, "encode(decode(encode(decode(x))))")


def _check_entry(data: bytes, entry: Entry) -> None:
    fresh = Entry(entry.statement, entry.signatures, entry.payload)  # no cached bytes: re-encoded
    _same(format_entry(fresh), data, "format_entry(parse_entry(x))")
    _same(format_statement(entry.statement), entry.payload, "format_statement(statement)")
    _same(parse_statement(canonical.decode(entry.payload)), entry.statement, "parse_statement(payload)")


def _check_leaf(data: bytes, leaf: Any) -> None:
    if isinstance(leaf, StateLeaf):
        _same(format_state_leaf(leaf), data, "format_state_leaf(parse_log_leaf(x))")
        return
    fresh = Entry(leaf.entry.statement, leaf.entry.signatures, leaf.entry.payload)
    _same(format_leaf(leaf.index, leaf.logged_ms, fresh), data, "format_leaf(parse_leaf(x))")


def _check_signed_checkpoint(data: bytes, note: Any) -> None:
    _same(format_note(note), data, "format_note(parse_note(x))")
    _same(format_checkpoint(parse_checkpoint(note.text)), note.text, "format_checkpoint(parse_checkpoint(text))")


def _parse_signed_checkpoint(data: bytes) -> Any:
    note = parse_note(data)
    parse_checkpoint(note.text)
    return note


def _check_tile_path(data: bytes, parsed: Any) -> None:
    level, index, width, is_entries = parsed
    path = tile_entries_path(index, width) if is_entries else tile_path(level, index, width)
    _same(path, _text(data), "tile_path(parse_tile_path(x))")


def _parse_hash_tile(data: bytes) -> Any:
    # The first byte chooses the width (1 to 256), the rest is the tile.
    return parse_hash_tile(data[1:], data[0] + 1 if data else 0)


def _check_hash_tile(data: bytes, hashes: Any) -> None:
    _same(bytes([len(hashes) - 1]) + format_hash_tile(hashes), data, "format_hash_tile(parse_hash_tile(x))")


def _check_trust_policy(data: bytes, policy: TrustPolicy) -> None:
    # Comments, blank lines, spacing and a missing max-age are accepted, so the text is normalised:
    # format(parse(x)) must parse back to the same policy and format to itself.
    text = format_trust_policy(policy)
    again = parse_trust_policy(text)
    _same(again, policy, "parse_trust_policy(format_trust_policy(p))")
    _same(format_trust_policy(again), text, "format_trust_policy is a fixed point")


_WITNESSES = tuple(
    NoteVerifier(
        f"witness{n}.registry.example",
        SIG_TYPE_COSIGNATURE,
        SigningKey.from_seed(hashlib.sha256(f"antiwar-registry test witness {n}".encode()).digest()).public_key,
    )
    for n in (1, 2, 3)
)
_WITNESS_NAMES = {w.key_id: w.name for w in _WITNESSES}
"""The test witnesses of protocol §11.2 by key ID: the binary form names a cosignature from its reader's
trust policy, and drops those it cannot name."""


def _parse_binary(data: bytes) -> Any:
    return parse_credential_binary(data, _WITNESS_NAMES)


def _check_binary(data: bytes, credential: Any) -> None:
    out = format_credential_binary(credential)
    _same(format_credential_binary(parse_credential_binary(out, _WITNESS_NAMES)), out, "binary fixed point")
    origin_end = 3 + data[2]
    signatures_in_input = data[origin_end + 40]  # after the size (8 bytes) and the root (32 bytes)
    if signatures_in_input == len(credential.note.signatures):  # nothing dropped: byte for byte
        _same(out, data, "format_credential_binary(parse_credential_binary(x))")


class _ExportFile:
    """One scratch file per process for the export target (the reader takes a path)."""

    path: Path | None = None

    @classmethod
    def write(cls, data: bytes) -> Path:
        if cls.path is None:
            scratch = os.environ.get("FUZZ_SCRATCH")  # the child's work directory, removed by its parent
            if scratch:
                cls.path = Path(scratch) / "log.export"
            else:
                shm = "/dev/shm" if os.path.isdir("/dev/shm") else None  # a memory file system if there is one
                folder = Path(tempfile.mkdtemp(prefix="fuzz-export-", dir=shm))
                atexit.register(shutil.rmtree, folder, True)
                cls.path = folder / "log.export"
        cls.path.write_bytes(data)
        return cls.path


def _parse_export(data: bytes) -> Any:
    export = read_export(_ExportFile.write(data))
    return export.header, list(export.records())


def _check_export(data: bytes, parsed: Any) -> None:
    header, records = parsed
    lines = [format_header(header)]
    for record in records:
        if isinstance(record, ExportLeaf):
            lines.append(format_leaf_line(record.index, record.leaf))
        else:
            lines.append(format_checkpoint_line(record.size, record.note))
    _same(b"".join(lines), data, "the export file rebuilt from its records")


def _pair(name: str, section: str, parse: Callable[[Any], Any], fmt: Callable[[Any], Any], *,
          text: bool = False, wanted: Callable[[Any], bool] | None = None) -> Target:
    def parse_bytes(data: bytes) -> Any:
        return parse(_text(data) if text else data)

    def check(data: bytes, value: Any) -> None:
        out = fmt(value)
        _same(out, _text(data) if text else data, f"format(parse(x)) for {name}")

    return Target(name, section, parse_bytes, check, wanted or (lambda value: True))


# Values that stress the field checks of statements: wrong types, bounds, case, lengths, weak keys.
_TRICKY: tuple[object, ...] = (
    None, True, False, 0, -1, 1, 2**31, 2**53 - 1, -(2**53 - 1), "", "x", "0" * 64, "f" * 64, "F" * 64, "0" * 63,
    "0" * 65, "01" + "00" * 31, "ec" + "ff" * 30 + "7f",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    [], {}, [1], {"a": 1}, "registry.example/log", "registry.example/other", "statement/vouch", "withdrawn",
    "fraud", "en", "ru",
    "A" * 88, "=" * 88, base64.b64encode(bytes(64)).decode(), "declare", "policy", "vouch", "\u0000", "é",
)
"""Field values for the `entry-fields` target (the hex strings: zero, a low-order point, a
non-canonical encoding and a small-order key of protocol §3.2)."""


@functools.cache
def _entry_templates() -> tuple[Any, ...]:
    return tuple(canonical.decode(e) for e in _built() if e.startswith(b'{"signatures":'))


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in sorted(value.items()) for p in [(*prefix, k), *_leaf_paths(v, (*prefix, k))]]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in [(*prefix, i), *_leaf_paths(v, (*prefix, i))]]
    return []


def _parse_entry_fields(data: bytes) -> Any:
    """Structure-aware: byte 0 picks a valid entry, each following pair of bytes a field and a new value
    (or the field's removal); the result is canonical JSON, so only the field checks can refuse it."""
    templates = _entry_templates()
    value = json.loads(json.dumps(templates[data[0] % len(templates)] if data else templates[0]))
    for i in range(1, len(data) - 1, 2):
        paths = _leaf_paths(value)
        if not paths:
            break
        *parents, last = paths[data[i] % len(paths)]
        target = value
        for step in parents:
            target = target[step]
        choice = data[i + 1] % (len(_TRICKY) + 1)
        if choice == len(_TRICKY):
            del target[last]
        else:
            target[last] = _TRICKY[choice]
    encoded = canonical.encode(value)
    return encoded, parse_entry(encoded)


def _check_entry_fields(data: bytes, parsed: Any) -> None:
    encoded, entry = parsed
    _check_entry(encoded, entry)


def _kind(kind: StatementType) -> Callable[[Any], bool]:
    return lambda entry: entry.type is kind


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("canonical", "4.1-l", canonical.decode_canonical, _check_canonical),
        Target("canonical-decode", "4.1-h", canonical.decode, _check_decode),
        *(Target(f"entry-{k}", "4.2-a", parse_entry, _check_entry, _kind(k)) for k in StatementType),
        Target("entry-fields", "4.2-b", _parse_entry_fields, _check_entry_fields, lambda parsed: True),
        Target("leaf", "5.6-a", parse_log_leaf, _check_leaf),
        _pair("note", "5.4-a", parse_note, format_note),
        _pair("checkpoint", "5.5-a", parse_checkpoint, format_checkpoint, text=True),
        Target("signed-checkpoint", "5.5-a", _parse_signed_checkpoint, _check_signed_checkpoint),
        _pair("vkey", "5.4-i", parse_vkey, format_vkey, text=True),
        Target("tile-path", "5.3-b", lambda d: parse_tile_path(_text(d)), _check_tile_path),
        Target("hash-tile", "5.3-c", _parse_hash_tile, _check_hash_tile),
        _pair("entry-bundle", "5.3-f", parse_entry_bundle, format_entry_bundle),
        _pair("status-leaf", "5.8-c", parse_status_leaf, format_status_leaf),
        _pair("smt-proof", "5.8-f", parse_proof, format_proof),
        _pair("credential-text", "9.7-c", parse_credential_text, format_credential_text),
        Target("credential-binary", "9.7-d", _parse_binary, _check_binary),
        _pair("presentation", "9.7-e", parse_presentation, format_presentation),
        Target("trust-policy", "9.7-b", parse_trust_policy, _check_trust_policy),
        _pair("identity", "4.3-d", parse_identity, format_identity),
        _pair("identity-disclosure", "4.3-e", parse_identity_disclosure, format_identity_disclosure),
        Target("export", "5.7-b", _parse_export, _check_export),
        _pair("add-checkpoint", "6.2-a", parse_add_checkpoint, format_add_checkpoint),
        _pair("cosignature-lines", "6.2-e", parse_cosignature_lines, format_cosignature_lines),
        _pair("tree-size", "6.2-c", parse_tree_size, format_tree_size),
    ]
}


# --- seeds -------------------------------------------------------------------------------------------

ORIGIN = "registry.example/log"
T0 = 1_767_225_600_000


def _key(label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"fuzz seed key {label}".encode()).digest())


def _signed(statement: Any, *keys: SigningKey) -> Entry:
    entry = entry_from_statement(statement)
    for k in keys:
        entry = sign_entry(entry, k)
    return entry


def _built() -> list[bytes]:
    """Valid inputs of every format, from fixed seeds."""
    f1, f2, council, m1, m2, new = (_key(n) for n in ("founder 1", "founder 2", "council", "m1", "m2", "new"))
    mid = {k: MemberId(k.public_key) for k in (f1, f2, m1, m2)}
    digest = hashlib.sha256(b"fuzz").digest()
    texts = {"en": "I oppose the war.\n", "ru": "Я против войны.\n"}
    founders = tuple(sorted((mid[f1], mid[f2])))
    entries = [
        _signed(PolicyStatement(ORIGIN, T0, 0, founders, (council.public_key,), 1, texts, Params()), council),
        _signed(Declare(ORIGIN, T0, mid[m1], declaration_hash(texts["en"]), digest, mid[f1]), m1, f1),
        _signed(Declare(ORIGIN, T0, mid[m2], declaration_hash(texts["ru"]), None, None), m2),
        _signed(Vouch(ORIGIN, T0 + 1, mid[f2], mid[m1], digest), f2, m1),
        _signed(Vouch(ORIGIN, T0 + 2, mid[f1], mid[m2], None), f1, m2),
        _signed(Unvouch(ORIGIN, T0 + 3, mid[f2], mid[m1]), f2),
        *(_signed(Revoke(ORIGIN, T0 + 4, mid[m2], r, digest if r.by_council else None),
                  council if r.by_council else m2) for r in Reason),
        _signed(Reinstate(ORIGIN, T0 + 5, mid[m2], None), council),
        _signed(Rotate(ORIGIN, T0 + 6, mid[m1], new.public_key), m1, new),
    ]
    seeds = [format_entry(e) for e in entries]
    leaves = [format_leaf(i, T0 + i, e) for i, e in enumerate(entries)]
    state_leaf = format_state_leaf(StateLeaf(len(leaves), T0 + 99, digest))
    leaves.append(state_leaf)
    tree = MerkleTree(MemoryNodeStore())
    tree.extend(leaf_hash(leaf) for leaf in leaves)
    signer = NoteSigner(ORIGIN, _key("log"))
    note = sign_checkpoint(Checkpoint(ORIGIN, len(leaves), tree.root()), signer)
    witnesses = [(_key(f"witness {n}"), f"witness{n}.example") for n in (1, 2)]
    cosigs = [cosign(k, name, note.text, 1_767_225_700 + n) for n, (k, name) in enumerate(witnesses)]
    cosigned = add_signatures(note, cosigs)
    smt = SparseMerkleTree()
    for i in range(5):
        smt = smt.set(hashlib.sha256(b"%d" % i).digest(), b"value %d" % i)
    status = StatusLeaf(new.public_key, Status.VERIFIED, 3, digest)
    policy = TrustPolicy(ORIGIN, signer.verifier,
                         tuple(NoteVerifier(name, SIG_TYPE_COSIGNATURE, k.public_key) for k, name in witnesses), 1)
    export = [format_header(ExportHeader(ORIGIN, signer.vkey, len(leaves)))]
    for i, leaf in enumerate(leaves):
        export.append(format_leaf_line(i, leaf))
        if i % 3 == 2 or i == len(leaves) - 1:
            sized = sign_checkpoint(Checkpoint(ORIGIN, i + 1, tree.root(i + 1)), signer)
            export.append(format_checkpoint_line(i + 1, format_note(sized)))
    seeds += [*leaves, format_note(note), format_note(cosigned), note.text.encode(), signer.vkey.encode()]
    seeds += [tile_path(0, 0).encode(), tile_path(2, 1_234_067, 5).encode(), tile_entries_path(1000, 17).encode()]
    hashes = [hashlib.sha256(b"%d" % i).digest() for i in range(TILE_WIDTH)]
    seeds += [bytes([w - 1]) + format_hash_tile(hashes[:w]) for w in (1, 3, TILE_WIDTH)]
    seeds += [format_entry_bundle(leaves), format_entry_bundle([b"", b"x"])]
    seeds += [format_status_leaf(status), format_proof(smt.prove(hashlib.sha256(b"3").digest())),
              format_proof(smt.prove(digest))]
    seeds += [format_trust_policy(policy).encode(), b"".join(export)]
    seeds += [format_add_checkpoint(AddCheckpoint(0, (), format_note(note))),
              format_add_checkpoint(AddCheckpoint(3, tuple(tree.consistency_proof(3, len(leaves))), format_note(note))),
              format_cosignature_lines(cosigs), format_tree_size(0), format_tree_size(12345)]
    seeds += [b'{"a":[1,-2,true,false,null,"\\u0000\xc3\xa9\\"\\\\"],"b":{}}', b"[]", b'"\xf0\x9f\x98\x80"']
    return seeds


def _strings(value: object, key: str = "") -> Iterator[bytes]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)
    elif isinstance(value, str):
        yield value.encode("utf-8", "surrogatepass")
        if key.endswith("hex") and re.fullmatch(r"(?:[0-9a-f]{2})+", value):
            yield bytes.fromhex(value)
        if key.endswith("b64"):
            with contextlib.suppress(ValueError):
                yield base64.b64decode(value, validate=True)


def _derived(data: bytes) -> Iterator[bytes]:
    """Inputs of the inner formats found inside an input of an outer one (a credential inside a
    presentation, leaves and checkpoints inside an export, an entry inside a leaf)."""
    with contextlib.suppress(*TYPED):
        credential = parse_presentation(data).credential
        yield format_credential_text(credential)
        yield format_credential_binary(credential)
    with contextlib.suppress(*TYPED):
        yield format_credential_binary(parse_credential_text(data))
    with contextlib.suppress(*TYPED):
        for record in _parse_export(data)[1]:
            yield record.leaf if isinstance(record, ExportLeaf) else record.note
    with contextlib.suppress(*TYPED):
        yield format_entry(parse_leaf(data).entry)
    with contextlib.suppress(*TYPED):
        yield parse_note(data).text.encode("utf-8")


@functools.cache
def corpus() -> tuple[bytes, ...]:
    """Every candidate seed: the built inputs, every string (and hex or base64 value) of the vectors,
    and the inner inputs found in both."""
    found = set(_built())
    for path in sorted(VECTORS.rglob("*.json")):
        found.update(_strings(json.loads(path.read_text("utf-8"))))
    for data in list(found):
        for inner in _derived(data):
            found.add(inner)
            found.update(_derived(inner))
    return tuple(sorted(found, key=lambda b: (len(b), b)))


@functools.cache
def seeds(name: str) -> tuple[bytes, ...]:
    """The inputs of the corpus that target `name` accepts (and whose value it wants), shortest first."""
    target = TARGETS[name]
    accepted = []
    for data in corpus():
        try:
            value = target.parse(data)
        except TYPED:
            continue
        if target.wanted(value):
            accepted.append(data)
    return tuple(accepted)


# --- atheris -----------------------------------------------------------------------------------------


# Tokens of the formats, for libFuzzer's dictionary: JSON field names and values, line keywords.
_TOKENS: tuple[bytes, ...] = tuple(
    t.encode("utf-8")
    for t in (
        '"signatures":', '"statement":', '"key":', '"sig":', '"type":', '"origin":', '"created_ms":', '"v":1',
        '"entry":', '"index":', '"logged_ms":', '"state":', '"root":', ":null", ":true", ":false", '":"', '","',
        *(f'"{k}"' for k in StatementType), *(f'"{r}"' for r in Reason), '"member":', '"voucher":',
        '"subject":', '"commitment":', '"sponsor":', '"declaration":', '"evidence":', '"new_key":',
        '"params":', '"council":', '"founders":', '"threshold":', '"version":', '"declarations":',
        "\\u00", "\\ud800", "9007199254740991", "\u2014 ", "\n\n", "old ", "extra ", "index ", "challenge ",
        "signature ", "disclosure ", "log ", "witness ", "group ", "quorum ", "max-age ", "none", "all", "any",
        "tile/", "entries/", ".p/", "/x", "c2sp.org/tlog-proof@v1", "antiwar-registry/presentation/v1",
        "registry.example/log", "==", "=\n",
    )
)


def _escape(token: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02x}" for b in token)


def _instrument(atheris: Any) -> None:
    """Add coverage feedback to the functions of `crypto` and `registry` only (atheris.instrument_all
    would patch every loaded function of every library, which takes minutes)."""
    ours = (str(ROOT / "crypto"), str(ROOT / "registry"))
    for obj in gc.get_objects():
        code = getattr(obj, "__code__", None) if isinstance(obj, types.FunctionType) else None
        if isinstance(code, types.CodeType) and code.co_filename.startswith(ours):
            atheris.instrument_func(obj)


def _child(name: str, seconds: int, artifacts: Path, work: Path | None) -> None:
    """Run libFuzzer on one target in this process; libFuzzer exits it (stats on stderr). The corpus,
    the dictionary and the export target's scratch file go to `work`, which the parent removes."""
    import atheris  # type: ignore[import-not-found, import-untyped, unused-ignore]

    target = TARGETS[name]
    work = work or Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    os.environ["FUZZ_SCRATCH"] = str(work)
    corpus_dir = work / "corpus"
    corpus_dir.mkdir(exist_ok=True)
    valid = seeds(name)
    for i, data in enumerate(valid):
        (corpus_dir / f"seed-{i}").write_bytes(data)
    longest = max((len(s) for s in valid), default=0)
    dictionary = work / "tokens.dict"
    dictionary.write_text("".join(f'"{_escape(token)}"\n' for token in _TOKENS), "ascii")
    _instrument(atheris)
    args = [sys.argv[0], f"-max_total_time={seconds}", "-print_final_stats=1", "-rss_limit_mb=2048",
            f"-max_len={max(4096, 2 * longest)}", f"-artifact_prefix={artifacts}/{name}-", "-timeout=10",
            f"-dict={dictionary}", str(corpus_dir)]

    def one(data: bytes) -> None:
        target(data)

    atheris.Setup(args, one)
    atheris.Fuzz()


@dataclass
class Outcome:
    name: str
    executions: int
    seconds: int
    ok: bool
    detail: str


def run_target(name: str, seconds: int, artifacts: Path) -> Outcome:
    """Fuzz one target in a child process and read libFuzzer's final statistics."""
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as work:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--seconds", str(seconds),
                   "--artifacts", str(artifacts), "--work", work]
        done = subprocess.run(command, check=False, capture_output=True, text=True, errors="replace",
                              timeout=seconds * 3 + 300)
    execs = re.search(r"stat::number_of_executed_units: (\d+)", done.stderr)
    failed = done.returncode != 0 or "==ERROR" in done.stderr or "Uncaught Python exception" in done.stderr
    detail = "\n".join(done.stderr.splitlines()[-40:]) if failed else ""
    return Outcome(name, int(execs.group(1)) if execs else 0, seconds, not failed, detail)


def run_input(name: str, path: Path) -> int:
    data = path.read_bytes()
    print("accepted and round-tripped" if TARGETS[name](data) else "refused with a typed error")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", choices=sorted(TARGETS), metavar="TARGET")
    parser.add_argument("--all", action="store_true", help="fuzz every target in turn")
    parser.add_argument("--list", action="store_true", help="list the targets and their seed counts")
    parser.add_argument("--seconds", type=int, default=60, help="time per target (default 60)")
    parser.add_argument("--input", type=Path, help="run TARGET on one input file and report")
    parser.add_argument("--artifacts", type=Path, default=Path(tempfile.gettempdir()) / "fuzz-artifacts",
                        help="where libFuzzer writes failing inputs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.seconds, args.artifacts, args.work)
        return 0
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name:22} §{target.section:6} {len(seeds(name)):4} seeds")
        return 0
    if args.target and args.input:
        return run_input(args.target, args.input)
    names = sorted(TARGETS) if args.all else [args.target] if args.target else []
    if not names:
        parser.error("name a TARGET, or --all, or --list")
    args.artifacts.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for name in names:
        outcome = run_target(name, args.seconds, args.artifacts)
        outcomes.append(outcome)
        verdict = "ok" if outcome.ok else "FAILED"
        print(f"{name:22} {outcome.executions:>11,} executions in {outcome.seconds} s "
              f"({outcome.executions // max(1, outcome.seconds):>7,}/s)  {verdict}", flush=True)
        if not outcome.ok:
            print(outcome.detail, flush=True)
    for outcome in outcomes:
        print(f"fuzz_execs_{outcome.name.replace('-', '_')}={outcome.executions}")
    print(f"fuzz_execs_total={sum(o.executions for o in outcomes)}")
    print(f"fuzz_failures={sum(not o.ok for o in outcomes)}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
