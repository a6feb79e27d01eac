#!/usr/bin/env python3
"""Benchmark the canonical JSON encoder and parser (protocol §4.1) against the `rfc8785` reference.

The object is shaped like a typical signed statement (about 600 canonical bytes): a nested object of
hex strings and integers with a list of two signature objects. Prints microseconds per call (best of
several rounds) and ends with one `name=value` line per headline figure.

Usage: scripts/bench_canonical.py [--rounds N] [--number N]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto.canonical import decode, decode_canonical, encode


def _hex(label: str, size: int = 32) -> str:
    return hashlib.sha256(label.encode()).digest()[:size].hex()


def typical_statement() -> dict[str, Any]:
    """A statement-shaped object with fixed contents (no randomness)."""
    return {
        "version": 1,
        "type": "vouch",
        "origin": "registry.example.org/log",
        "body": {
            "voucher": _hex("voucher"),
            "subject": _hex("subject"),
            "created_ms": 1767225600000,
            "expires_ms": 1798761600000,
            "sequence": 17,
        },
        "signatures": [
            {"key_id": _hex("k1", 4), "alg": "ed25519", "sig": _hex("s1") + _hex("s1b")},
            {"key_id": _hex("k2", 4), "alg": "ed25519", "sig": _hex("s2") + _hex("s2b")},
        ],
    }


def _best_us(stmt: object, number: int, rounds: int) -> float:
    times = timeit.repeat(stmt, number=number, repeat=rounds)  # type: ignore[arg-type]
    return min(times) / number * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()

    value = typical_statement()
    canonical = encode(value)
    if decode_canonical(canonical) != value:
        print("round trip failed", file=sys.stderr)
        return 1
    non_ascii = {**value, "note": "Нет войне \U0001f54a", "\ufb33": 1, "\U0001f600": 2}

    figures: dict[str, float] = {
        "encode_us": _best_us(lambda: encode(value), args.number, args.rounds),
        "decode_us": _best_us(lambda: decode(canonical), args.number, args.rounds),
        "decode_canonical_us": _best_us(lambda: decode_canonical(canonical), args.number, args.rounds),
        "encode_utf16_keys_us": _best_us(lambda: encode(non_ascii), args.number, args.rounds),
    }
    try:
        import rfc8785
    except ImportError:
        print("rfc8785 not installed: reference figure skipped")
    else:
        if rfc8785.dumps(value) != canonical or rfc8785.dumps(non_ascii) != encode(non_ascii):
            print("encode differs from rfc8785.dumps", file=sys.stderr)
            return 1
        figures["rfc8785_dumps_us"] = _best_us(lambda: rfc8785.dumps(value), args.number // 4, args.rounds)
        figures["speedup_vs_rfc8785"] = figures["rfc8785_dumps_us"] / figures["encode_us"]

    print(f"statement: {len(canonical)} canonical bytes; best of {args.rounds} x {args.number} calls")
    for name, figure in figures.items():
        print(f"{name}={figure:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
