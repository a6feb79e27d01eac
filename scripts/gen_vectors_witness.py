#!/usr/bin/env python3
"""Write the witness and evidence vectors: tests/vectors/witness/ (C2SP tlog-witness add-checkpoint,
protocol §6.2) and tests/vectors/evidence/ (evidence files, protocol §6.4).

Deterministic: the log key is SHA-256("antiwar-registry test log seed") named `registry.example/log`
(as in tests/vectors/note), witness 1 is SHA-256("antiwar-registry test witness 1") named
`witness1.registry.example`, the logs' entries are `entry <i>` (a fork's are `fork <i>` past the
common prefix), cosigning times are fixed, and Ed25519 is deterministic.

Witness cases (`kind` "add-checkpoint"): a fresh witness with `witness_seed_hex`, `witness_name`,
`log_vkeys` and a clock fixed at `time` first accepts every body of `accepted` (each answered 200), then
answers `request`: `expected` is `{"status", "body"}` (200 with the exact cosignature line, or 409 with
the size body), or `expected_error` is the refusal's code with its `status` and `section`.

Evidence cases (`kind` "evidence"): `inputs.file` is the evidence file's text; `expected` is "holds",
or `expected_error` is the code `check_evidence` (or `parse_evidence`) answers.

Usage: scripts/gen_vectors_witness.py [--check]   (--check: exit 1 if the files differ from a fresh build)
"""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/vectorio.py, also when loaded by a test

import vectorio

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.cosignature import cosign, cosigner_vkey
from crypto.keys import SigningKey
from crypto.merkle import MerkleTree, leaf_hash
from crypto.nodestore import MemoryNodeStore
from crypto.note import Note, format_note, parse_note
from crypto.notekey import NoteSigner, sign_note
from registry.evidence import Evidence, consistency_path, format_evidence
from registry.witness.protocol import AddCheckpoint, format_add_checkpoint

ROOT = Path(__file__).resolve().parent.parent
OUT_WITNESS = ROOT / "tests" / "vectors" / "witness"
OUT_EVIDENCE = ROOT / "tests" / "vectors" / "evidence"

ORIGIN = "registry.example/log"
LOG = NoteSigner(ORIGIN, SigningKey.from_seed(hashlib.sha256(b"antiwar-registry test log seed").digest()))
OTHER_LOG = NoteSigner("other.example/log", SigningKey.from_seed(hashlib.sha256(b"another log").digest()))
IMPOSTOR = NoteSigner(ORIGIN, SigningKey.from_seed(hashlib.sha256(b"impostor").digest()))
WITNESS_SEED = hashlib.sha256(b"antiwar-registry test witness 1").digest()
WITNESS_NAME = "witness1.registry.example"
TIME = 1767225600


class _Log:
    def __init__(self, signer: NoteSigner = LOG) -> None:
        self.signer = signer
        self.tree = MerkleTree(MemoryNodeStore())

    def append(self, count: int, tag: bytes = b"entry ") -> _Log:
        for _ in range(count):
            self.tree.append(leaf_hash(tag + str(self.tree.size).encode()))
        return self

    def checkpoint(self, size: int | None = None) -> bytes:
        size = self.tree.size if size is None else size
        return format_note(sign_checkpoint(Checkpoint(self.signer.name, size, self.tree.root(size)), self.signer))


def _body(old: int, proof: list[bytes] | tuple[bytes, ...], checkpoint: bytes) -> str:
    return format_add_checkpoint(AddCheckpoint(old, tuple(proof), checkpoint)).decode("utf-8")


def _raw_body(old: str, proof: list[bytes], checkpoint: bytes) -> str:
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old}\n{lines}\n{checkpoint.decode('utf-8')}"


def _witness_case(desc: str, accepted: list[str], request: str, status: int, *, body: str | None = None,
                  error: str | None = None, section: str = "") -> dict[str, Any]:
    case: dict[str, Any] = {
        "desc": desc,
        "kind": "add-checkpoint",
        "inputs": {
            "accepted": accepted,
            "log_vkeys": [LOG.vkey],
            "request": request,
            "time": TIME,
            "witness_name": WITNESS_NAME,
            "witness_seed_hex": WITNESS_SEED.hex(),
        },
    }
    if error is None:
        case["expected"] = {"body": body, "status": status}
    else:
        case["expected_error"] = error
        case["status"] = status
        case["section"] = section
    return case


def _cosignature_line(checkpoint: bytes) -> str:
    text = parse_note(checkpoint).text
    return cosign(SigningKey.from_seed(WITNESS_SEED), WITNESS_NAME, text, TIME).format_line()


def witness_cases() -> dict[str, dict[str, Any]]:
    log = _Log().append(13)
    five, thirteen = log.checkpoint(5), log.checkpoint(13)
    first = _body(0, [], five)
    grow = _body(5, log.tree.consistency_proof(5, 13), thirteen)
    proof = log.tree.consistency_proof(5, 13)
    flipped = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    fork = _Log().append(3).append(10, tag=b"fork ")
    fork5 = _Log().append(4).append(1, tag=b"fork ")
    tampered = format_note(Note(parse_note(five).text, parse_note(thirteen).signatures))
    extension = format_note(sign_note(f"{ORIGIN}\n5\n{base64.b64encode(log.tree.root(5)).decode()}\next\n", [LOG]))
    empty = _Log().checkpoint()
    bogus_empty = format_note(sign_checkpoint(Checkpoint(ORIGIN, 0, b"\x01" * 32), LOG))
    c: dict[str, dict[str, Any]] = {}
    c["first-checkpoint"] = _witness_case("a first checkpoint, old size 0, no proof: cosigned", [], first, 200,
                                          body=_cosignature_line(five))
    c["grow-with-proof"] = _witness_case("from the cosigned size 5 to 13 with the consistency proof", [first], grow,
                                         200, body=_cosignature_line(thirteen))
    c["same-checkpoint-again"] = _witness_case("the latest checkpoint again, old size = its size: cosigned again",
                                               [first], _body(5, [], five), 200, body=_cosignature_line(five))
    c["empty-tree"] = _witness_case("the empty tree's checkpoint", [], _body(0, [], empty), 200,
                                    body=_cosignature_line(empty))
    c["stale-old-size"] = _witness_case("old size 5, but the witness holds 13: 409 with its size", [first, grow],
                                        _body(5, proof, thirteen), 409, body="13\n")
    c["old-size-unknown-to-witness"] = _witness_case("old size 5 sent to a witness that holds nothing: 409 with 0",
                                                     [], grow, 409, body="0\n")
    c["unknown-origin"] = _witness_case("a checkpoint of a log the witness is not configured for", [],
                                        _body(0, [], _Log(OTHER_LOG).append(2).checkpoint()), 404,
                                        error="not_found", section="6.2-c")
    c["wrong-log-key"] = _witness_case("signed by another key with the log's name", [],
                                       _body(0, [], _Log(IMPOSTOR).append(5).checkpoint()), 403,
                                       error="bad_signature", section="6.2-c")
    c["log-signature-fails"] = _witness_case("the log's signature line of size 13 under the text of size 5", [],
                                             _body(0, [], tampered), 403, error="bad_signature", section="6.2-c")
    c["old-size-above-checkpoint"] = _witness_case("old size 6 above the checkpoint's size 5", [],
                                                   _body(6, [], five), 400, error="malformed_encoding",
                                                   section="6.2-a")
    c["old-size-leading-zero"] = _witness_case("'old 05'", [], _raw_body("05", [], five), 400,
                                               error="malformed_encoding", section="6.2-a")
    c["proof-line-not-base64"] = _witness_case("a proof line that is not base64", [first],
                                               f"old 5\nnot base64\n\n{thirteen.decode()}", 400,
                                               error="malformed_encoding", section="6.2-a")
    c["checkpoint-extension-line"] = _witness_case("a log-signed note with an extension line", [],
                                                   _body(0, [], extension), 400, error="malformed_encoding",
                                                   section="6.2-c")
    c["old-size-zero-nonempty-proof"] = _witness_case("old size 0 with a proof hash", [],
                                                      _body(0, [log.tree.root(3)], five), 422, error="bad_proof",
                                                      section="6.2-c")
    c["flipped-bit-proof"] = _witness_case("one bit of the first proof hash flipped", [first],
                                           _body(5, flipped, thirteen), 422, error="bad_proof", section="6.2-c")
    c["truncated-proof"] = _witness_case("the last proof hash missing", [first], _body(5, proof[:-1], thirteen),
                                         422, error="bad_proof", section="6.2-c")
    c["second-root-same-size"] = _witness_case("size 5 again with another root (a fork): never cosigned", [first],
                                               _body(5, [], fork5.checkpoint()), 422, error="bad_proof",
                                               section="6.2-d")
    c["forked-checkpoint-genuine-proof"] = _witness_case(
        "a fork of size 13 whose proof from 5 is genuine for the fork's own tree", [first],
        _body(5, fork.tree.consistency_proof(5, 13), fork.checkpoint()), 422, error="bad_proof", section="6.2-d")
    c["empty-tree-wrong-root"] = _witness_case("a size-0 checkpoint whose root is not SHA-256 of nothing", [],
                                               _body(0, [], bogus_empty), 422, error="bad_proof", section="6.2-c")
    return c


def _evidence_case(desc: str, evidence: Evidence | bytes, *, error: str | None = None) -> dict[str, Any]:
    data = evidence if isinstance(evidence, bytes) else format_evidence(evidence)
    case: dict[str, Any] = {"desc": desc, "kind": "evidence", "inputs": {"file": data.decode("utf-8")}}
    if error is None:
        case["expected"] = "holds"
    else:
        case["expected_error"] = error
        case["section"] = "6.4-b" if error == "malformed_encoding" else "6.4-c"
    return case


def evidence_cases() -> dict[str, dict[str, Any]]:
    honest = _Log().append(20)
    fork = _Log().append(7).append(13, tag=b"fork ")
    fork8 = _Log().append(5).append(8, tag=b"fork ")
    fork_path = consistency_path(10, fork.tree.consistency_proof(10, 20), fork.tree.root(10))
    pow2_path = consistency_path(8, fork8.tree.consistency_proof(8, 13), fork8.tree.root(8))
    honest_path = consistency_path(10, honest.tree.consistency_proof(10, 20), honest.tree.root(10))
    flipped = (honest_path[0][:-1] + bytes([honest_path[0][-1] ^ 1]), *honest_path[1:])
    vkey = LOG.vkey
    h10, f20 = honest.checkpoint(10), fork.checkpoint()
    c: dict[str, dict[str, Any]] = {}
    c["fork-with-newer-path"] = _evidence_case(
        "size 10 of one history, size 20 of a fork after entry 7, with the fork's path: holds",
        Evidence(vkey, h10, f20, fork_path))
    c["fork-at-power-of-two-size"] = _evidence_case(
        "size 8 and a fork of size 13, the path starting with the fork's hash of its first 8 leaves: holds",
        Evidence(vkey, honest.checkpoint(8), fork8.checkpoint(), pow2_path))
    c["same-size-different-roots"] = _evidence_case(
        "two checkpoints of size 20 with different roots: holds", Evidence(vkey, honest.checkpoint(), f20, ()))
    c["empty-tree-bogus-root"] = _evidence_case(
        "a size-0 checkpoint whose root is not the empty tree's: holds",
        Evidence(vkey, format_note(sign_checkpoint(Checkpoint(ORIGIN, 0, b"\x01" * 32), LOG)), h10, ()))
    c["consistent-checkpoints"] = _evidence_case(
        "sizes 10 and 20 of one history with the genuine path: proves nothing",
        Evidence(vkey, h10, honest.checkpoint(), honest_path), error="bad_proof")
    c["same-tree-twice"] = _evidence_case(
        "one checkpoint twice", Evidence(vkey, h10, h10, ()), error="bad_proof")
    c["wrong-path-flipped-bit"] = _evidence_case(
        "an honest pair with a path whose first hash has a flipped bit: a failing proof proves nothing",
        Evidence(vkey, h10, honest.checkpoint(), flipped), error="bad_proof")
    c["truncated-path"] = _evidence_case(
        "the fork's path without its last hash", Evidence(vkey, h10, f20, fork_path[:-1]), error="bad_proof")
    c["power-of-two-older-root-prepended"] = _evidence_case(
        "size 8 and a fork of size 13, the path starting with the older root (all a witness has): proves nothing",
        Evidence(vkey, honest.checkpoint(8), fork8.checkpoint(),
                 consistency_path(8, fork8.tree.consistency_proof(8, 13), honest.tree.root(8))),
        error="bad_proof")
    c["signed-by-another-key"] = _evidence_case(
        "the newer checkpoint signed by another key with the log's name",
        Evidence(vkey, h10, _Log(IMPOSTOR).append(7).append(13, tag=b"fork ").checkpoint(), fork_path),
        error="bad_signature")
    c["witness-key-as-log-key"] = _evidence_case(
        "a witness (type 0x04) key given as the log key",
        Evidence(cosigner_vkey(WITNESS_NAME, SigningKey.from_seed(WITNESS_SEED).public_key), h10, f20, fork_path),
        error="bad_key")
    c["checkpoints-in-wrong-order"] = _evidence_case(
        "the larger checkpoint first", Evidence(vkey, f20, h10, fork_path), error="malformed_encoding")
    good = format_evidence(Evidence(vkey, h10, f20, fork_path))
    c["not-canonical-json"] = _evidence_case("a valid file with a final newline", good + b"\n",
                                             error="malformed_encoding")
    c["uppercase-hex-path"] = _evidence_case(
        "a path hash in uppercase hex", good.replace(fork_path[0].hex().encode(), fork_path[0].hex().upper().encode()),
        error="malformed_encoding")
    return c


def render(case: dict[str, Any]) -> str:
    """The exact file content of one case."""
    return vectorio.render(case)


def main(argv: list[str]) -> int:
    def build() -> dict[Path, dict[str, str]]:
        return {
            OUT_WITNESS: {n: render(c) for n, c in witness_cases().items()},
            OUT_EVIDENCE: {n: render(c) for n, c in evidence_cases().items()},
        }

    return vectorio.main(argv, build, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
