#!/usr/bin/env python3
"""Write the export-file vectors to tests/vectors/export/ (protocol §5.7, §11).

The valid case is the export of a real three-entry log (a genesis policy and two sponsored declarations)
built by the sequencer in a temporary SQLite database: keys come from fixed seeds, the clock is fixed and
Ed25519 is deterministic, so two runs write identical files. Every other case breaks that file in one way.

Each file is one case: `desc`, `section`, `inputs.file` (the whole export text), and either `expected`
(origin, log_vkey, tree_size, the SHA-256 of each leaf, the checkpoint sizes) or `expected_error` (the
error code `read_export` and a full read of its records raise).

Usage: scripts/gen_vectors_export.py [--check]   (--check: exit 1 if the files differ from a fresh build)
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/vectorio.py, also when loaded by a test

import vectorio
from scriptlog import signed as _signed

from crypto.keys import SigningKey
from crypto.notekey import NoteSigner
from registry.export import write_export
from registry.sequencer import init_log
from registry.statements import (
    Declare,
    MemberId,
    Params,
    PolicyStatement,
    declaration_hash,
)
from registry.store import Store

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "export"
ORIGIN = "registry.example/log"
T0 = 1_767_225_600_000
DECLARATIONS = {"en": "I oppose the war. (vector text)\n", "ru": "Я против войны. (текст вектора)\n"}


def _key(label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"export vector key {label}".encode()).digest())



def valid_export() -> str:
    founder, council, alice, bob = _key("founder"), _key("council"), _key("alice"), _key("bob")
    policy = PolicyStatement(
        ORIGIN, T0, 0, (MemberId(founder.public_key),), (council.public_key,), 1, DECLARATIONS, Params()
    )
    declares = [
        Declare(ORIGIN, T0 + 1000, MemberId(k.public_key), declaration_hash(DECLARATIONS["en"]), None,
                MemberId(founder.public_key))
        for k in (alice, bob)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/log.sqlite3", create=True)
        try:
            clock = iter([T0 + 60_000, T0 + 120_000, T0 + 180_000])
            signer = NoteSigner(ORIGIN, _key("log"))
            sequencer, _ = init_log(store, signer, lambda: next(clock), _signed(policy, council))
            sequencer.submit(_signed(declares[0], alice, founder))
            sequencer.submit(_signed(declares[1], bob, founder))
            write_export(store, Path(tmp) / "log.export")
        finally:
            store.close()
        return (Path(tmp) / "log.export").read_text("utf-8")


def _replace_line(text: str, number: int, line: str) -> str:
    lines = text.split("\n")
    lines[number - 1] = line
    return "\n".join(lines)


def _drop_line(text: str, number: int) -> str:
    lines = text.split("\n")
    del lines[number - 1]
    return "\n".join(lines)


def _swap_lines(text: str, a: int, b: int) -> str:
    lines = text.split("\n")
    lines[a - 1], lines[b - 1] = lines[b - 1], lines[a - 1]
    return "\n".join(lines)


def _edit(text: str, number: int, **changes: Any) -> str:
    obj = json.loads(text.split("\n")[number - 1])
    obj.update(changes)
    return _replace_line(text, number, json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def cases() -> dict[str, dict[str, Any]]:
    good = valid_export()
    lines = good.split("\n")[:-1]
    header = json.loads(lines[0])
    leaves = [base64.b64decode(json.loads(line)["leaf"]) for line in lines if '"leaf"' in line]
    sizes = [json.loads(line)["size"] for line in lines if '"checkpoint"' in line]
    leaf_b64: str = json.loads(lines[1])["leaf"]
    out: dict[str, dict[str, Any]] = {
        "valid-three-entries": {
            "desc": "the export of a log of a genesis policy and two sponsored declarations, one checkpoint per entry",
            "section": "5.7-a",
            "inputs": {"file": good},
            "expected": {
                "origin": header["origin"],
                "log_vkey": header["log_vkey"],
                "tree_size": header["tree_size"],
                "leaf_sha256": [hashlib.sha256(leaf).hexdigest() for leaf in leaves],
                "checkpoint_sizes": sizes,
            },
        },
        "valid-empty-log": {
            "desc": "a log without entries exports its header only",
            "section": "5.7-a",
            "inputs": {"file": _edit(lines[0] + "\n", 1, tree_size=0)},
            "expected": {
                "origin": header["origin"],
                "log_vkey": header["log_vkey"],
                "tree_size": 0,
                "leaf_sha256": [],
                "checkpoint_sizes": [],
            },
        },
    }

    def bad(name: str, desc: str, text: str, section: str = "5.7-b") -> None:
        out[name] = {"desc": desc, "section": section, "inputs": {"file": text}, "expected_error": "malformed_encoding"}

    bad("empty-file", "an empty file has no header", "", "5.7-a")
    bad("wrong-format", "the header names another format", _edit(good, 1, format="antiwar-registry-export/v2"), "5.7-a")
    bad("header-extra-field", "the header carries a field the format does not define", _edit(good, 1, note="x"),
        "5.7-a")
    bad("header-not-canonical", "the header has a space after a colon",
        _replace_line(good, 1, lines[0].replace('":', '": ', 1)), "5.7-a")
    bad("tree-size-too-large", "the header claims more leaves than the file holds", _edit(good, 1, tree_size=4))
    bad("tree-size-too-small", "the file holds a leaf beyond the header's tree size", _edit(good, 1, tree_size=2))
    bad("leaf-index-gap", "the second entry leaf is missing (a state leaf follows the first one's state leaf)",
        _drop_line(good, 5))
    bad("leaf-index-wrong", "a leaf line names another index", _edit(good, 5, index=7))
    bad("checkpoint-before-its-leaf", "a checkpoint line comes before the leaf that completes its size",
        _swap_lines(good, 6, 7))
    bad("missing-final-checkpoint", "the file ends after the last leaf, without the checkpoint of the tree size",
        "\n".join(lines[:-1]) + "\n")
    bad("truncated-line", "the last line was cut before its newline", good[:-1])
    # "eA==" is the base64 of b"x"; "eB==" decodes to the same byte with non-zero padding bits.
    bad("leaf-not-canonical-base64", "a leaf's base64 has non-zero padding bits", _edit(good, 2, leaf="eB=="))
    bad("leaf-not-base64", "a leaf's base64 has a character outside the alphabet",
        _edit(good, 2, leaf=leaf_b64[:-4] + "A*=="))
    bad("leaf-empty", "a leaf line holds no bytes", _edit(good, 2, leaf=""))
    bad("unknown-line", "a line that is neither a leaf nor a checkpoint", _replace_line(good, 3, '{"comment":"x"}'))
    bad("not-json", "a line that is not JSON", _replace_line(good, 2, "index 0"))
    bad("crlf", "CRLF line endings", good.replace("\n", "\r\n"))
    return out


def build() -> dict[str, str]:
    return {f"{name}.json": vectorio.render(case, sort_keys=False) for name, case in cases().items()}


def main() -> int:
    return vectorio.main(None, lambda: {OUT: {n.removesuffix(".json"): t for n, t in build().items()}}, __doc__)


if __name__ == "__main__":
    sys.exit(main())
