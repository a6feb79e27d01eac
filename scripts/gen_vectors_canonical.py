#!/usr/bin/env python3
"""Write the canonical JSON test vectors (protocol §4.1) to tests/vectors/canonical/.

Each case is declared here with its input and the outcome the spec requires: an error code, or for a
valid input the canonical bytes. The expected bytes are computed with `crypto.canonical` and, when the
`rfc8785` reference is installed, checked against it; every declared error code is checked against the
implementation. The script refuses to write anything if a check fails, so the vectors never record a
behaviour the spec does not require. Output is deterministic (no randomness, sorted keys).

Vector format: {"desc", "op": "encode" | "decode" | "decode_canonical", "input" (a JSON value, for encode)
or "input_hex" (the bytes, for the parsers), optional "max_size", and "expected_hex" or "expected_error"}.

Usage: scripts/gen_vectors_canonical.py [--check]   (--check: compare with the files on disk, write nothing)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/vectorio.py, also when loaded by a test

import vectorio

from crypto.canonical import MAX_SAFE_INTEGER, decode, decode_canonical, encode
from crypto.errors import CryptoError

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "vectors" / "canonical"
MALFORMED = "malformed_encoding"
TOO_LARGE = "too_large"

SPEC_EXAMPLE: dict[str, Any] = {
    "statement": {
        "n": -42,
        "ok": True,
        "note": "line1\nline2\u0007",
        "\u00e9t\u00e9": None,
        "\U0001f54a": "peace",
        "\ufb33": [],
        "Z": MAX_SAFE_INTEGER,
    },
    "kind": "example",
}


@dataclass(frozen=True)
class Case:
    name: str
    desc: str
    op: str
    value: Any = None  # for op == "encode"
    data: bytes = b""  # for the parsers
    error: str | None = None
    max_size: int | None = None


def _cases() -> list[Case]:
    spec_bytes = encode(SPEC_EXAMPLE)
    nested_32 = b"[" * 32 + b"]" * 32
    controls = "".join(chr(c) for c in range(0x20)) + '"\\/\x7f\u2028\u2029\ufeff\U0001f600'
    enc, dec, canon = "encode", "decode", "decode_canonical"
    return [
        # --- valid: encoding -------------------------------------------------------------------
        Case("spec-example", "the literal example of protocol §4.1", enc, value=SPEC_EXAMPLE),
        Case(
            "key-order-utf16",
            "keys sorted by UTF-16 code units: U+FB33 sorts after U+1F600 (surrogate D83D)",
            enc,
            value={"\ufb33": 1, "\U0001f600": 2, "\u00e9": 3, "z": 4, "Z": 5, "": 6, "aa": 7, "a": 8},
        ),
        Case(
            "string-escapes",
            "controls escaped as JCS requires (short forms and lowercase \\u00xx); /, DEL, U+2028, "
            "U+2029, U+FEFF and non-BMP characters literal",
            enc,
            value=controls,
        ),
        Case(
            "integer-bounds",
            "the largest and smallest integers of the profile, zero and small negatives",
            enc,
            value=[MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 0, -1, 1],
        ),
        Case("literals", "true, false and null are never numbers", enc, value=[True, False, None, 1, 0]),
        Case("empty-containers", "empty object, array and string", enc, value={"a": {}, "b": [], "c": ""}),
        # --- valid: parsing --------------------------------------------------------------------
        Case("spec-example-canonical", "the canonical bytes of the §4.1 example", canon, data=spec_bytes),
        Case("depth-32", "32 nested arrays: the deepest allowed", canon, data=nested_32),
        Case(
            "brackets-inside-string",
            "brackets inside a string do not count towards the depth limit",
            canon,
            data=b'["' + b"[" * 100 + b'"]',
        ),
        Case(
            "decode-whitespace-and-order",
            "decode (not canonical) accepts whitespace and any member order; expected_hex is the "
            "canonical encoding of the result",
            dec,
            data=b' {\n  "b" : [ 1 , 2 ],\t"a" : "\\u00e9\\/" }\r\n',
        ),
        Case(
            "decode-surrogate-pair-escape",
            "an escaped surrogate pair is one character (U+1F600), literal in canonical form",
            dec,
            data=b'"\\ud83d\\ude00"',
        ),
        Case("size-at-limit", "an input exactly max_size bytes long is accepted", canon, data=b"[1]",
             max_size=3),
        # --- rejected by every parser ------------------------------------------------------------
        Case("duplicate-key", "an object with two equal keys", dec, data=b'{"a":1,"a":2}', error=MALFORMED),
        Case(
            "duplicate-key-after-unescape",
            "keys equal only after unescaping",
            dec,
            data=b'{"a":1,"\\u0061":2}',
            error=MALFORMED,
        ),
        Case("duplicate-key-nested", "duplicate keys in a nested object", dec,
             data=b'{"x":[{"k":null,"k":null}]}', error=MALFORMED),
        Case("float-fraction", "an integral float 1.0", dec, data=b"1.0", error=MALFORMED),
        Case("float-exponent", "an exponent 1e3", dec, data=b"1e3", error=MALFORMED),
        Case("float-exponent-upper", "an exponent 1E+3", dec, data=b"1E+3", error=MALFORMED),
        Case("float-negative-zero", "-0.0", dec, data=b"-0.0", error=MALFORMED),
        Case("float-in-object", "a float member value", dec, data=b'{"a":0.5}', error=MALFORMED),
        Case("nan", "NaN is not JSON", dec, data=b"[NaN]", error=MALFORMED),
        Case("infinity", "Infinity is not JSON", dec, data=b"Infinity", error=MALFORMED),
        Case("negative-infinity", "-Infinity is not JSON", dec, data=b"-Infinity", error=MALFORMED),
        Case("integer-too-large", "2^53", dec, data=b"9007199254740992", error=MALFORMED),
        Case("integer-too-small", "-(2^53)", dec, data=b"[-9007199254740992]", error=MALFORMED),
        Case("integer-huge", "a 400-digit integer", dec, data=b"1" * 400, error=MALFORMED),
        Case("invalid-utf8-byte", "the byte FF inside a string", dec, data=b'"\xff"', error=MALFORMED),
        Case("invalid-utf8-truncated", "a two-byte sequence cut short", dec, data=b'"\xc3"', error=MALFORMED),
        Case("overlong-utf8", "'/' encoded as the overlong C0 AF", dec, data=b'"\xc0\xaf"', error=MALFORMED),
        Case("overlong-utf8-three-bytes", "'/' encoded as E0 80 AF", dec, data=b'"\xe0\x80\xaf"',
             error=MALFORMED),
        Case("encoded-surrogate-utf8", "U+D800 encoded as ED A0 80", dec, data=b'"\xed\xa0\x80"',
             error=MALFORMED),
        Case("utf8-above-max-code-point", "F4 90 80 80 (above U+10FFFF)", dec, data=b'"\xf4\x90\x80\x80"',
             error=MALFORMED),
        Case("utf8-bom", "a UTF-8 byte order mark before the value", dec, data=b"\xef\xbb\xbf{}",
             error=MALFORMED),
        Case("lone-high-surrogate-escape", "\\ud800 alone", dec, data=b'"\\ud800"', error=MALFORMED),
        Case("lone-low-surrogate-escape", "\\udc00 alone", dec, data=b'"\\udc00"', error=MALFORMED),
        Case("reversed-surrogate-pair", "low then high surrogate", dec, data=b'"\\udc00\\ud800"',
             error=MALFORMED),
        Case("high-surrogate-then-letter", "a high surrogate followed by 'a'", dec, data=b'"\\ud800a"',
             error=MALFORMED),
        Case("lone-surrogate-in-key", "a lone surrogate in an object key", dec, data=b'{"\\udbff":1}',
             error=MALFORMED),
        Case("trailing-garbage", "bytes after the value", dec, data=b'{"a":1}x', error=MALFORMED),
        Case("trailing-value", "a second value", dec, data=b"1 2", error=MALFORMED),
        Case("trailing-bracket", "an extra closing bracket", dec, data=b"[]]", error=MALFORMED),
        Case("raw-control-character", "a raw TAB inside a string", dec, data=b'"a\tb"', error=MALFORMED),
        Case("unknown-escape", "the escape \\x", dec, data=b'"\\x41"', error=MALFORMED),
        Case("leading-zero", "the number 01", dec, data=b"01", error=MALFORMED),
        Case("plus-sign", "the number +1", dec, data=b"+1", error=MALFORMED),
        Case("trailing-comma", "a trailing comma in an array", dec, data=b"[1,]", error=MALFORMED),
        Case("single-quotes", "a single-quoted string", dec, data=b"'a'", error=MALFORMED),
        Case("comment", "a comment", dec, data=b"[1/*x*/]", error=MALFORMED),
        Case("empty", "no value at all", dec, data=b"", error=MALFORMED),
        Case("too-deep", "33 nested arrays", dec, data=b"[" * 33 + b"]" * 33, error=MALFORMED),
        Case("too-deep-objects", "33 nested objects", dec, data=b'{"a":' * 33 + b"1" + b"}" * 33,
             error=MALFORMED),
        Case("too-large", "one byte over max_size, refused before parsing", dec, data=b"[1] ", max_size=3,
             error=TOO_LARGE),
        Case("too-large-invalid-utf8", "size is checked before UTF-8", dec, data=b"\xff" * 5, max_size=4,
             error=TOO_LARGE),
        # --- valid JSON, but not canonical ------------------------------------------------------
        Case("non-canonical-whitespace", "a space after ':'", canon, data=b'{"a": 1}', error=MALFORMED),
        Case("non-canonical-trailing-newline", "a final newline", canon, data=b'{"a":1}\n', error=MALFORMED),
        Case("non-canonical-key-order", "members not sorted", canon, data=b'{"b":1,"a":2}', error=MALFORMED),
        Case(
            "non-canonical-key-order-code-point",
            "members in code-point order instead of UTF-16 order (U+FB33 before U+1F600)",
            canon,
            data='{"\ufb33":1,"\U0001f600":2}'.encode(),
            error=MALFORMED,
        ),
        Case("non-canonical-escaped-non-ascii", "\\u00e9 escaped instead of literal", canon,
             data=b'"\\u00e9"', error=MALFORMED),
        Case("non-canonical-escaped-solidus", "the escape \\/", canon, data=b'"\\/"', error=MALFORMED),
        Case("non-canonical-uppercase-hex", "\\u001F instead of \\u001f", canon, data=b'"\\u001F"',
             error=MALFORMED),
        Case("non-canonical-escaped-ascii", "\\u0041 instead of A", canon, data=b'"\\u0041"', error=MALFORMED),
        Case("non-canonical-long-escape-for-tab", "\\u0009 instead of \\t", canon, data=b'"\\u0009"',
             error=MALFORMED),
        Case("non-canonical-escaped-surrogate-pair", "an emoji written as an escaped pair", canon,
             data=b'"\\ud83d\\ude00"', error=MALFORMED),
        Case("non-canonical-negative-zero", "the integer -0 (canonical: 0)", canon, data=b"-0",
             error=MALFORMED),
        # --- refused by the encoder --------------------------------------------------------------
        Case("encode-float", "a float value", enc, value={"a": 1.5}, error=MALFORMED),
        Case("encode-integral-float", "the float 1.0 is still a float", enc, value=[1.0], error=MALFORMED),
        Case("encode-integer-too-large", "2^53", enc, value=[MAX_SAFE_INTEGER + 1], error=MALFORMED),
        Case("encode-integer-too-small", "-(2^53)", enc, value=-MAX_SAFE_INTEGER - 1, error=MALFORMED),
        Case("encode-lone-surrogate", "a string with a lone surrogate", enc, value="a\ud800",
             error=MALFORMED),
        Case("encode-lone-surrogate-key", "a key with a lone surrogate", enc, value={"\udc00": 1},
             error=MALFORMED),
        Case("encode-too-deep", "33 nested arrays", enc, value=_nest(33), error=MALFORMED),
    ]


def _nest(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _outcome(case: Case) -> tuple[str, str]:
    """Run the implementation on a case: ("expected_hex", hex) or ("expected_error", code)."""
    kwargs = {} if case.max_size is None else {"max_size": case.max_size}
    try:
        if case.op == "encode":
            result = encode(case.value)
        elif case.op == "decode":
            result = encode(decode(case.data, **kwargs))
        else:
            result = encode(decode_canonical(case.data, **kwargs))
    except CryptoError as error:
        return "expected_error", error.code
    return "expected_hex", result.hex()


def _reference(case: Case) -> bytes | None:
    """The `rfc8785` encoding of a valid encode case's value, or None when it is not installed."""
    try:
        import rfc8785
    except ImportError:
        return None
    return bytes(rfc8785.dumps(case.value))


def build() -> dict[str, str]:
    """Return {file name: file text} for every vector; raise SystemExit if a declared outcome fails."""
    files: dict[str, str] = {}
    for case in _cases():
        kind, outcome = _outcome(case)
        declared = ("expected_error", case.error) if case.error else ("expected_hex", outcome)
        if (kind, outcome) != declared:
            raise SystemExit(f"{case.name}: implementation gives {kind}={outcome}, declared {declared}")
        if case.op == "encode" and kind == "expected_hex":
            reference = _reference(case)
            if reference is not None and reference.hex() != outcome:
                raise SystemExit(f"{case.name}: differs from rfc8785")
        if case.op == "decode_canonical" and kind == "expected_hex" and outcome != case.data.hex():
            raise SystemExit(f"{case.name}: canonical input re-encodes differently")
        vector: dict[str, Any] = {"desc": case.desc, "op": case.op, kind: outcome}
        if case.op == "encode":
            vector["input"] = case.value
        else:
            vector["input_hex"] = case.data.hex()
        if case.max_size is not None:
            vector["max_size"] = case.max_size
        files[f"{case.name}.json"] = vectorio.render(vector, ensure_ascii=True)
    if len(files) != len(_cases()):
        raise SystemExit("two cases share a name")
    return files


def main() -> int:
    return vectorio.main(None, lambda: {OUT_DIR: {n.removesuffix(".json"): t for n, t in build().items()}}, __doc__)


if __name__ == "__main__":
    sys.exit(main())
