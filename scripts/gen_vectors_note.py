#!/usr/bin/env python3
"""Write the signed-note, checkpoint and cosignature vectors to tests/vectors/note/ (protocol §11.2).

Deterministic: keys come from fixed seeds (SHA-256 of fixed labels), timestamps are fixed, and Ed25519
is deterministic, so two runs write identical files. The published vectors (c2sp.org/signed-note,
golang.org/x/mod sumdb/note, the tlog-cosignature example checkpoint) are typed in as published.

Each file is one case: `desc`, `kind` (which operation the case exercises), `inputs`, and either
`expected` (a valid case) or `expected_error` (the error code) with the spec `section` it breaks.
Kinds:
  note         parse_note(inputs.note) then verify_note with inputs.vkeys
  sign         parse_signer_key(inputs.skey).sign(inputs.text)
  vkey         parse_vkey(inputs.vkey)
  checkpoint   open_checkpoint(inputs.note, parse_vkey(inputs.log_vkey), origin=inputs.origin)
  cosign       cosign(SigningKey.from_seed(inputs.witness_seed_hex), name, checkpoint_text, timestamp)
  cosignatures parse_note(inputs.note) then verify_cosignatures with inputs.witness_vkeys, inputs.quorum
A note that is not valid UTF-8 is given as `note_hex` instead of `note`.

Usage: scripts/gen_vectors_note.py [--check]   (--check: exit 1 if the files differ from a fresh build)
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

from crypto.checkpoint import Checkpoint, format_checkpoint, sign_checkpoint
from crypto.cosignature import cosign, cosigner_vkey
from crypto.keys import SigningKey
from crypto.note import (
    Note,
    NoteSignature,
    add_signatures,
    format_note,
)
from crypto.notekey import NoteSigner, parse_signer_key, sign_note

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "note"

# Published vectors, quoted exactly.
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
XMOD_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
XMOD_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
XMOD_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
XMOD_LINE = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_LINE = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
SOFA_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
GOCHECK_SEED = hashlib.sha256(b"gocheck witness seed").digest()
GOCHECK_NAME = "gocheck.example/witness"
GOCHECK_TIME = 1679315147
GOCHECK_VKEY = "gocheck.example/witness+73f3faf3+BKPdc4FaSsQMJgsg3Z/KAJCl7Isbx4Mt1bSrpRbteX8M"
GOCHECK_LINE = (
    "— gocheck.example/witness c/P68wAAAABkGFDLlMNff0s5xuZLt6mcTQUDY16XPkThcALpi45QGBGElf4ARIUXTt4dKfJrzSkqkN"
    "UVzFiLkQgkWVko9BMtn6JFCQ==\n"
)

# This project's keys, from fixed seeds.
LOG_ORIGIN = "registry.example/log"
LOG_SEED = hashlib.sha256(b"antiwar-registry test log seed").digest()
WITNESS_NAMES = ("witness1.registry.example", "witness2.registry.example", "witness3.registry.example")
WITNESS_SEEDS = tuple(hashlib.sha256(f"antiwar-registry test witness {i}".encode()).digest() for i in (1, 2, 3))
WITNESS_TIME = 1767225600  # 2026-01-01T00:00:00Z
# RFC 6962 root of the 8-leaf reference tree (protocol §11.1) and of the empty tree.
ROOT_8 = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
ROOT_0 = hashlib.sha256(b"").digest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _ok(desc: str, kind: str, inputs: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {"desc": desc, "kind": kind, "inputs": inputs, "expected": expected}


def _bad(desc: str, kind: str, inputs: dict[str, Any], code: str, section: str) -> dict[str, Any]:
    return {"desc": desc, "kind": kind, "inputs": inputs, "expected_error": code, "section": section}


def _note(text: str) -> dict[str, Any]:
    return {"note": text, "vkeys": [XMOD_VKEY]}


def _line(name: str, raw: bytes) -> str:
    return f"— {name} {_b64(raw)}\n"


def _note_cases() -> dict[str, dict[str, Any]]:
    c: dict[str, dict[str, Any]] = {}
    xmod = XMOD_TEXT + "\n" + XMOD_LINE
    peter_raw = base64.b64decode(XMOD_LINE.split(" ")[2])
    c["c2sp-example"] = _ok(
        "the c2sp.org/signed-note example verifies under its published vkey",
        "note",
        {"note": C2SP_NOTE, "vkeys": [C2SP_VKEY]},
        {"text": "This is an example message.\n", "verified": ["example.com/foo"]},
    )
    c["xmod-peterneumann"] = _ok(
        "the x/mod sumdb/note doubly-signed example: PeterNeumann verifies, EnochRoot is unknown and ignored",
        "note",
        {"note": xmod + ENOCH_LINE, "vkeys": [XMOD_VKEY]},
        {"text": XMOD_TEXT, "verified": ["PeterNeumann"]},
    )
    c["xmod-peterneumann-sign"] = _ok(
        "signing the x/mod text with the published skey reproduces the published signature line",
        "sign",
        {"skey": XMOD_SKEY, "text": XMOD_TEXT},
        {"vkey": XMOD_VKEY, "signature_line": XMOD_LINE},
    )
    c["text-with-empty-lines"] = _ok(
        "a text may hold empty lines; the signatures start after the last one",
        "note",
        _note_signed("first\n\nthird\n\n"),
        {"text": "first\n\nthird\n\n", "verified": ["PeterNeumann"]},
    )
    c["unknown-signatures-only"] = _bad(
        "only the EnochRoot signature, from a key the verifier does not know",
        "note",
        {"note": XMOD_TEXT + "\n" + ENOCH_LINE, "vkeys": [XMOD_VKEY]},
        "bad_signature",
        "5.4-f",
    )
    c["known-signature-fails"] = _bad(
        "the PeterNeumann signature over a text changed by one character",
        "note",
        _note(XMOD_TEXT.replace("answer", "Answer") + "\n" + XMOD_LINE),
        "bad_signature",
        "5.4-f",
    )
    c["known-signature-fails-beside-valid"] = _bad(
        "a valid PeterNeumann line, then a line under the trusted c2sp key (name and ID) with a wrong signature",
        "note",
        {
            "note": xmod + _line("example.com/foo", bytes.fromhex("530d903a") + peter_raw[4:]),
            "vkeys": [XMOD_VKEY, C2SP_VKEY],
        },
        "bad_signature",
        "5.4-f",
    )
    c["no-blank-line"] = _bad(
        "the signature line follows the text with no empty line",
        "note",
        _note(XMOD_TEXT + XMOD_LINE),
        "malformed_encoding",
        "5.4-a",
    )
    c["no-final-newline"] = _bad(
        "the last signature line lacks its newline", "note", _note(xmod[:-1]), "malformed_encoding", "5.4-a"
    )
    c["control-character"] = _bad(
        "a tab in the note text",
        "note",
        _note(XMOD_TEXT.replace(" ", "\t", 1) + "\n" + XMOD_LINE),
        "malformed_encoding",
        "5.4-b",
    )
    c["crlf-line-endings"] = _bad(
        "CRLF line endings", "note", _note(xmod.replace("\n", "\r\n")), "malformed_encoding", "5.4-b"
    )
    invalid = (XMOD_TEXT + "\n" + XMOD_LINE).encode().replace(b"cryptography", b"crypt\xffgraphy")
    c["invalid-utf8"] = _bad(
        "a byte 0xff in the text",
        "note",
        {"note_hex": invalid.hex(), "vkeys": [XMOD_VKEY]},
        "malformed_encoding",
        "5.4-b",
    )
    c["missing-em-dash"] = _bad(
        "the signature line starts with a hyphen instead of U+2014",
        "note",
        _note(XMOD_TEXT + "\n" + XMOD_LINE.replace("—", "-", 1)),
        "malformed_encoding",
        "5.4-c",
    )
    c["bad-base64"] = _bad(
        "a character outside the base64 alphabet in the signature",
        "note",
        _note(XMOD_TEXT + "\n" + XMOD_LINE.replace("x08go/", "x08go!")),
        "malformed_encoding",
        "5.4-c",
    )
    c["unpadded-base64"] = _bad(
        "the signature's base64 without its '=' padding",
        "note",
        _note(XMOD_TEXT + "\n" + XMOD_LINE.replace("=\n", "\n")),
        "malformed_encoding",
        "5.4-c",
    )
    c["noncanonical-base64"] = _bad(
        "the last base64 digit changed so that its unused bits are not zero (same bytes, other text)",
        "note",
        _note(XMOD_TEXT + "\n" + XMOD_LINE.replace("AM=\n", "AN=\n")),
        "malformed_encoding",
        "5.4-c",
    )
    c["signature-too-short"] = _bad(
        "a signature of 4 bytes: a key ID and nothing else",
        "note",
        _note(xmod + _line("EnochRoot", b"\x01\x02\x03\x04")),
        "malformed_encoding",
        "5.4-c",
    )
    c["empty-name"] = _bad(
        "an empty key name (two spaces after the dash)",
        "note",
        _note(xmod + "—  " + XMOD_LINE.split(" ")[2]),
        "malformed_encoding",
        "5.4-d",
    )
    c["plus-in-name"] = _bad(
        "a '+' in a key name",
        "note",
        _note(xmod + ENOCH_LINE.replace("EnochRoot", "Enoch+Root")),
        "malformed_encoding",
        "5.4-d",
    )
    c["unicode-space-in-name"] = _bad(
        "a no-break space (U+00A0) in a key name",
        "note",
        _note(xmod + ENOCH_LINE.replace("EnochRoot", "Enoch\u00a0Root")),
        "malformed_encoding",
        "5.4-d",
    )
    c["duplicate-signature"] = _bad(
        "the same PeterNeumann signature line twice",
        "note",
        _note(xmod + XMOD_LINE),
        "malformed_encoding",
        "5.4-g",
    )
    many = "".join(_line(f"w{i}.example", i.to_bytes(4, "big") + b"\x00" * 64) for i in range(100))
    c["too-many-signatures"] = _bad(
        "101 signature lines, over the limit of 100", "note", _note(xmod + many), "too_large", "5.4-h"
    )
    c["sixteen-signatures"] = _ok(
        "the valid signature and 15 unknown ones: 16 lines are always accepted",
        "note",
        _note(xmod + "".join(many.splitlines(keepends=True)[:15])),
        {"text": XMOD_TEXT, "verified": ["PeterNeumann"]},
    )
    return c


def _note_signed(text: str) -> dict[str, Any]:
    note = sign_note(text, [parse_signer_key(XMOD_SKEY)])
    return {"note": format_note(note).decode(), "vkeys": [XMOD_VKEY]}


def _vkey_cases() -> dict[str, dict[str, Any]]:
    c: dict[str, dict[str, Any]] = {}
    c["vkey-c2sp-example"] = _ok(
        "the c2sp.org/signed-note example verifier key",
        "vkey",
        {"vkey": C2SP_VKEY},
        {
            "name": "example.com/foo",
            "key_id_hex": "530d903a",
            "sig_type": 1,
            "public_key_hex": base64.b64decode(C2SP_VKEY.split("+", 2)[2])[1:].hex(),
        },
    )
    c["vkey-wrong-key-id"] = _bad(
        "the c2sp vkey with its key ID changed in the last hex digit",
        "vkey",
        {"vkey": C2SP_VKEY.replace("530d903a", "530d903b")},
        "bad_key",
        "5.4-i",
    )
    c["vkey-uppercase-key-id"] = _bad(
        "the x/mod vkey with its key ID in uppercase hex",
        "vkey",
        {"vkey": XMOD_VKEY.replace("c74f20a3", "C74F20A3")},
        "bad_key",
        "5.4-i",
    )
    raw = base64.b64decode(XMOD_VKEY.split("+", 2)[2])
    ecdsa = b"\x02" + raw[1:]
    c["vkey-unsupported-type"] = _bad(
        "type byte 0x02 (ECDSA), which this protocol does not accept",
        "vkey",
        {"vkey": f"PeterNeumann+{_kid('PeterNeumann', ecdsa)}+{_b64(ecdsa)}"},
        "bad_key",
        "5.4-i",
    )
    identity = b"\x01" + b"\x01" + b"\x00" * 31
    c["vkey-small-order-key"] = _bad(
        "an Ed25519 public key that encodes the identity point (small order)",
        "vkey",
        {"vkey": f"example.com/weak+{_kid('example.com/weak', identity)}+{_b64(identity)}"},
        "bad_key",
        "5.4-i",
    )
    return c


def _kid(name: str, type_and_key: bytes) -> str:
    return hashlib.sha256(name.encode() + b"\n" + type_and_key).digest()[:4].hex()


def _log() -> NoteSigner:
    return NoteSigner(name=LOG_ORIGIN, key=SigningKey.from_seed(LOG_SEED))


def _witness_vkeys() -> list[str]:
    return [
        cosigner_vkey(n, SigningKey.from_seed(s).public_key) for n, s in zip(WITNESS_NAMES, WITNESS_SEEDS, strict=True)
    ]


def _cosigned(note: Note, count: int) -> Note:
    sigs = [
        cosign(SigningKey.from_seed(s), n, note.text, WITNESS_TIME + i)
        for i, (n, s) in enumerate(zip(WITNESS_NAMES[:count], WITNESS_SEEDS[:count], strict=True))
    ]
    return add_signatures(note, sigs)


def _checkpoint_cases() -> dict[str, dict[str, Any]]:
    c: dict[str, dict[str, Any]] = {}
    log = _log()
    cp8 = Checkpoint(origin=LOG_ORIGIN, size=8, root_hash=ROOT_8)
    signed8 = format_note(_cosigned(sign_checkpoint(cp8, log), 2)).decode()
    c["registry-checkpoint"] = _ok(
        "this log's checkpoint of the 8-leaf RFC 6962 reference tree, with two witness cosignatures",
        "checkpoint",
        {"note": signed8, "log_vkey": log.vkey, "origin": LOG_ORIGIN},
        {"origin": LOG_ORIGIN, "size": 8, "root_hash_hex": ROOT_8.hex()},
    )
    empty = format_note(sign_checkpoint(Checkpoint(LOG_ORIGIN, 0, ROOT_0), log)).decode()
    c["registry-checkpoint-empty-tree"] = _ok(
        "this log's checkpoint of the empty tree: size 0 and SHA-256 of the empty string",
        "checkpoint",
        {"note": empty, "log_vkey": log.vkey, "origin": None},
        {"origin": LOG_ORIGIN, "size": 0, "root_hash_hex": ROOT_0.hex()},
    )
    body8 = format_checkpoint(cp8)
    root8 = _b64(ROOT_8)

    def bad_text(case: str, desc: str, text: str, section: str) -> None:
        note = format_note(sign_note(text, [log])).decode()
        c[case] = _bad(
            desc, "checkpoint", {"note": note, "log_vkey": log.vkey, "origin": None}, "malformed_encoding", section
        )

    bad_text("checkpoint-extension-line", "a signed checkpoint with one extension line", body8 + "extension\n", "5.5-a")
    bad_text("checkpoint-size-leading-zero", "tree size written 08", body8.replace("\n8\n", "\n08\n"), "5.5-c")
    bad_text("checkpoint-size-plus-sign", "tree size written +8", body8.replace("\n8\n", "\n+8\n"), "5.5-c")
    bad_text("checkpoint-size-over-limit", "tree size 2^63", body8.replace("\n8\n", f"\n{1 << 63}\n"), "5.5-c")
    bad_text("checkpoint-root-31-bytes", "a root hash of 31 bytes", body8.replace(root8, _b64(ROOT_8[:31])), "5.5-d")
    bad_text(
        "checkpoint-root-33-bytes", "a root hash of 33 bytes", body8.replace(root8, _b64(ROOT_8 + b"\x00")), "5.5-d"
    )
    other = NoteSigner(name="registry.example/other", key=SigningKey.from_seed(LOG_SEED))
    c["checkpoint-origin-not-key-name"] = _bad(
        "a checkpoint for registry.example/log signed by the same key under the name registry.example/other",
        "checkpoint",
        {"note": format_note(sign_note(body8, [other])).decode(), "log_vkey": other.vkey, "origin": None},
        "bad_signature",
        "5.5-f",
    )
    c["checkpoint-unexpected-origin"] = _bad(
        "a valid checkpoint opened by a client that expects another origin",
        "checkpoint",
        {"note": signed8, "log_vkey": log.vkey, "origin": "registry.example/elsewhere"},
        "bad_signature",
        "5.5-f",
    )
    c["checkpoint-cosigner-key-as-log-key"] = _bad(
        "a checkpoint opened with a witness's type 0x04 key in place of the log key",
        "checkpoint",
        {"note": signed8, "log_vkey": _witness_vkeys()[0], "origin": None},
        "bad_key",
        "5.4-j",
    )
    return c


def _cosignature_cases() -> dict[str, dict[str, Any]]:
    c: dict[str, dict[str, Any]] = {}
    c["gocheck-cosignature"] = _ok(
        "the cross-implementation cosignature: seed SHA-256('gocheck witness seed') over the spec's example body",
        "cosign",
        {
            "witness_seed_hex": GOCHECK_SEED.hex(),
            "name": GOCHECK_NAME,
            "timestamp": GOCHECK_TIME,
            "checkpoint_text": SOFA_TEXT,
        },
        {
            "vkey": GOCHECK_VKEY,
            "signature_line": GOCHECK_LINE,
            "message": f"cosignature/v1\ntime {GOCHECK_TIME}\n{SOFA_TEXT}",
        },
    )
    c["gocheck-cosignature-verify"] = _ok(
        "the example checkpoint with its (unverifiable) log signature and the gocheck cosignature: quorum 1",
        "cosignatures",
        {"note": SOFA_TEXT + "\n" + _SOFA_LOG_LINE + GOCHECK_LINE, "witness_vkeys": [GOCHECK_VKEY], "quorum": 1},
        {"timestamps": {GOCHECK_NAME: GOCHECK_TIME}},
    )
    log = _log()
    note = _cosigned(sign_checkpoint(Checkpoint(LOG_ORIGIN, 8, ROOT_8), log), 2)
    encoded = format_note(note).decode()
    vkeys = _witness_vkeys()
    c["registry-cosignatures"] = _ok(
        "this log's checkpoint cosigned by two of three trusted witnesses, quorum 2",
        "cosignatures",
        {"note": encoded, "witness_vkeys": vkeys, "quorum": 2},
        {"timestamps": {WITNESS_NAMES[0]: WITNESS_TIME, WITNESS_NAMES[1]: WITNESS_TIME + 1}},
    )
    c["cosignatures-below-quorum"] = _bad(
        "two valid cosignatures where the policy requires three",
        "cosignatures",
        {"note": encoded, "witness_vkeys": vkeys, "quorum": 3},
        "bad_signature",
        "6.1-e",
    )
    first = note.signatures[1]
    later = NoteSignature(first.name, first.key_id, (WITNESS_TIME + 60).to_bytes(8, "big") + first.signature[8:])
    c["cosignature-timestamp-changed"] = _bad(
        "a witness's cosignature with its timestamp moved one minute later",
        "cosignatures",
        {"note": format_note(add_signatures(note, [later])).decode(), "witness_vkeys": vkeys, "quorum": 1},
        "bad_signature",
        "6.1-c",
    )
    short = NoteSignature(first.name, first.key_id, first.signature[8:])
    c["cosignature-without-timestamp"] = _bad(
        "a witness's cosignature line holding only the 64-byte Ed25519 signature",
        "cosignatures",
        {"note": format_note(add_signatures(note, [short])).decode(), "witness_vkeys": vkeys, "quorum": 1},
        "bad_signature",
        "6.1-b",
    )
    c["cosignature-log-key-as-witness"] = _bad(
        "the log's type 0x01 key given as a witness key",
        "cosignatures",
        {"note": encoded, "witness_vkeys": [log.vkey], "quorum": 1},
        "bad_key",
        "5.4-j",
    )
    return c


# The log signature of the tlog-checkpoint example; its public key is not published.
_SOFA_LOG_LINE = (
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+z"
    "yWE+xeMcTOAYQ8=\n"
)


def build_vectors() -> dict[str, dict[str, Any]]:
    """Every case, by file name (without `.json`)."""
    cases: dict[str, dict[str, Any]] = {}
    for part in (_note_cases(), _vkey_cases(), _checkpoint_cases(), _cosignature_cases()):
        cases.update(part)
    return cases


def render(case: dict[str, Any]) -> str:
    """The exact file content of one case."""
    return vectorio.render(case)


def main(argv: list[str]) -> int:
    return vectorio.main(argv, lambda: {OUT: {n: render(c) for n, c in build_vectors().items()}}, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
