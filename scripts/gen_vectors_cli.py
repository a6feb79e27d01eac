#!/usr/bin/env python3
"""Write the statement-file vectors to tests/vectors/cli/ (protocol §9.5, §11).

Deterministic: keys come from fixed seeds (SHA-256 of fixed labels), times are fixed, and Ed25519 is
deterministic, so two runs write identical files.

Each file is one case: `desc`, `kind`, `inputs`, and either `expected` (a valid case) or
`expected_error` (the error code) with the spec `section` it breaks. Kinds:
  revocation   the pre-signed revocation certificate `registry keygen` writes for the key with seed
               inputs.seed_hex: expected.file is the exact file content, expected.member the member id
  draft        an unsigned council revocation draft (`registry council revoke`): inputs.evidence is the
               evidence file's text, expected.file the exact file content
  file         parse inputs.file (a statement file) and verify its signatures: expected_error

Usage: scripts/gen_vectors_cli.py [--check]   (--check: exit 1 if the files differ from a fresh build)
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/vectorio.py, also when loaded by a test

import vectorio

from crypto.keys import SigningKey
from registry.statements import MemberId, Reason, Revoke, entry_from_statement, format_entry, sign_entry

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "cli"
ORIGIN = "registry.example/log"
CREATED_MS = 1_700_000_000_000


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"gen_vectors_cli/{label}".encode()).digest()


def _certificate(seed: bytes, reason: Reason = Reason.KEY_COMPROMISED) -> str:
    key = SigningKey.from_seed(seed)
    statement = Revoke(ORIGIN, CREATED_MS, MemberId(key.public_key), reason, None)
    return format_entry(sign_entry(entry_from_statement(statement), key)).decode("ascii")


def build_vectors() -> dict[str, dict[str, Any]]:
    """Every case, by file name (without `.json`)."""
    cases: dict[str, dict[str, Any]] = {}
    seed = _seed("member")
    key = SigningKey.from_seed(seed)
    certificate = _certificate(seed)
    cases["revocation-certificate"] = {
        "desc": "the pre-signed revocation certificate of a new key: reason key_compromised, evidence null",
        "kind": "revocation",
        "inputs": {"seed_hex": seed.hex(), "origin": ORIGIN, "created_ms": CREATED_MS, "reason": "key_compromised"},
        "expected": {"file": certificate, "member": key.public_key.hex()},
    }
    cases["revocation-certificate-duress"] = {
        "desc": "a revocation certificate made with --revocation-reason duress (keeps the vouches the key gave)",
        "kind": "revocation",
        "inputs": {"seed_hex": seed.hex(), "origin": ORIGIN, "created_ms": CREATED_MS, "reason": "duress"},
        "expected": {"file": _certificate(seed, Reason.DURESS), "member": key.public_key.hex()},
    }
    evidence = "evidence file: the same passport photo in two declarations\n"
    draft = format_entry(
        entry_from_statement(
            Revoke(
                ORIGIN,
                CREATED_MS,
                MemberId(key.public_key),
                Reason.FRAUD,
                hashlib.sha256(evidence.encode("utf-8")).digest(),
            )
        )
    ).decode("ascii")
    cases["council-revoke-draft"] = {
        "desc": "an unsigned council revocation draft: an empty signature list and the evidence's SHA-256 only",
        "kind": "draft",
        "inputs": {"origin": ORIGIN, "created_ms": CREATED_MS, "member": key.public_key.hex(), "evidence": evidence},
        "expected": {"file": draft},
    }
    cases["certificate-trailing-newline"] = {
        "desc": "a valid certificate with a newline appended: not the exact canonical entry bytes",
        "kind": "file",
        "inputs": {"file": certificate + "\n"},
        "expected_error": "malformed_encoding",
        "section": "9.5-a",
    }
    cases["certificate-pretty-printed"] = {
        "desc": "a valid certificate re-indented by an editor: valid JSON, not canonical",
        "kind": "file",
        "inputs": {"file": json.dumps(json.loads(certificate), indent=2)},
        "expected_error": "malformed_encoding",
        "section": "9.5-a",
    }
    tampered = certificate.replace(f'"created_ms":{CREATED_MS}', f'"created_ms":{CREATED_MS + 1}')
    cases["certificate-tampered-created-ms"] = {
        "desc": "a certificate whose created_ms was changed after signing: canonical, but the signature fails",
        "kind": "file",
        "inputs": {"file": tampered},
        "expected_error": "bad_signature",
        "section": "9.5-b",
    }
    cases["certificate-other-reason"] = {
        "desc": "a certificate whose reason was changed to withdrawn after signing",
        "kind": "file",
        "inputs": {"file": certificate.replace('"key_compromised"', '"withdrawn"')},
        "expected_error": "bad_signature",
        "section": "9.5-b",
    }
    return cases


def render(case: dict[str, Any]) -> str:
    """The exact file content of one case."""
    return vectorio.render(case)


def main(argv: list[str]) -> int:
    return vectorio.main(argv, lambda: {OUT: {n: render(c) for n, c in build_vectors().items()}}, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
