"""Hypothesis tests of crypto/canonical.py (protocol §4.1) against the `rfc8785` reference.

Also the in-suite version of the canonical-JSON fuzz target: whatever bytes come in, the parsers raise
only typed errors, and whatever they accept as canonical formats back to the same bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import rfc8785
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from crypto import canonical
from crypto.canonical import MAX_DEPTH, MAX_SAFE_INTEGER, decode, decode_canonical, encode
from crypto.errors import CryptoError, MalformedEncoding

# Characters that stress the encoder: every control character, the JSON specials, DEL, the line
# separators, non-ASCII in and above the BMP, the private use area (sorts after surrogates in UTF-16) and
# noncharacters. Surrogates are excluded: they are not Unicode scalar values.
_SPECIAL_CHARS = [chr(c) for c in range(0x20)] + [
    '"',
    "\\",
    "/",
    "[",
    "]",
    "{",
    "}",
    "\x7f",
    "\x80",
    "\u00e9",
    "\u0416",
    "\u2028",
    "\u2029",
    "\ud7ff",
    "\ue000",
    "\uf8ff",
    "\ufb33",
    "\ufeff",
    "\ufffd",
    "\uffff",
    "\U00010000",
    "\U0001f54a",
    "\U0001f600",
    "\U000f0000",
    "\U0010ffff",
]
_chars = st.one_of(
    st.sampled_from(_SPECIAL_CHARS),
    st.characters(codec="utf-8"),  # every scalar value: surrogates cannot be encoded
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
)
texts = st.text(_chars, max_size=12)
keys = st.one_of(texts, st.sampled_from(["a", "b", "A", "", "\ufb33", "\U0001f600", "\ue000", "\uffff"]))
integers = st.one_of(
    st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
    st.sampled_from([0, -1, 1, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, MAX_SAFE_INTEGER - 1, 2**31, -(2**32)]),
)
scalars = st.one_of(st.none(), st.booleans(), integers, texts)
# Values of the profile, as decode returns them (dicts and lists).
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=25,
)


def _same(a: Any, b: Any) -> bool:
    """Equality that does not confuse True with 1 or a tuple with a list."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@pytest.mark.spec("4.1-m", "4.1-i", "4.1-j", "4.1-k")
@settings(max_examples=500)
@given(values)
@example({"\ufb33": 1, "\U0001f600": 2, "\ue000": 3, "\U00010000": 4, "\uffff": 5})
@example("".join(chr(c) for c in range(0x80)) + "\u2028\u2029\ufeff")
@example([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, True, False, None, 0])
def test_encode_equals_rfc8785(value: Any) -> None:
    assert encode(value) == rfc8785.dumps(value)


@pytest.mark.spec("4.1-l")
@settings(max_examples=400)
@given(values)
def test_decode_canonical_inverts_encode(value: Any) -> None:
    data = encode(value)
    assert _same(decode_canonical(data), value)
    assert _same(decode(data), value)


@pytest.mark.spec("4.1-l", "4.1-h")
@settings(max_examples=300)
@given(values, st.integers(0, 4), st.booleans(), st.randoms(use_true_random=False))
def test_any_spelling_decodes_to_the_same_value_and_reencodes_stably(
    value: Any, indent: int, ascii_only: bool, random: Any
) -> None:
    """Other whitespace, member order and escapes: decode accepts, encode restores the canonical bytes."""
    data = encode(value)

    def shuffled(item: Any) -> Any:
        if isinstance(item, dict):
            members = [(k, shuffled(v)) for k, v in item.items()]
            random.shuffle(members)
            return dict(members)
        if isinstance(item, list):
            return [shuffled(v) for v in item]
        return item

    spelling = json.dumps(shuffled(value), indent=indent or None, ensure_ascii=ascii_only).encode()
    decoded = decode(spelling)
    assert _same(decoded, value)
    assert encode(decoded) == data
    if spelling != data:
        with pytest.raises(MalformedEncoding):
            decode_canonical(spelling)


@pytest.mark.spec("4.1-g")
@settings(max_examples=200)
@given(values.filter(lambda v: isinstance(v, list | dict)), st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3))
def test_depth_limit_applies_alike_to_encode_and_decode(value: Any, extra: int) -> None:
    for _ in range(extra):
        value = [value]
    data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if _depth(value) <= MAX_DEPTH:
        assert _same(decode(data), value)
        assert encode(value) == rfc8785.dumps(value)
    else:
        with pytest.raises(MalformedEncoding):
            encode(value)
        with pytest.raises(MalformedEncoding):
            decode(data)


@pytest.mark.spec("4.1-g")
@settings(max_examples=300)
@given(values, st.integers(0, 40), st.booleans())
def test_depth_prescan_ignores_string_contents(value: Any, extra: int, ascii_only: bool) -> None:
    """The bracket count that runs before parsing agrees with the nesting of the parsed value."""
    for _ in range(extra):
        value = {"[\\\"{": value}
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert canonical._depth(text) == _depth(value)


@pytest.mark.spec("4.1-b")
@settings(max_examples=200)
@given(st.one_of(st.integers(min_value=MAX_SAFE_INTEGER + 1), st.integers(max_value=-MAX_SAFE_INTEGER - 1)))
def test_integers_out_of_range_are_refused_both_ways(number: int) -> None:
    with pytest.raises(MalformedEncoding):
        encode({"n": [number]})
    with pytest.raises(MalformedEncoding):
        decode(b'{"n":[' + str(number).encode() + b"]}")


@pytest.mark.spec("4.1-a")
@settings(max_examples=200)
@given(st.floats(allow_nan=True, allow_infinity=True), values)
def test_a_float_anywhere_is_refused_both_ways(number: float, value: Any) -> None:
    with pytest.raises(MalformedEncoding):
        encode([value, {"f": number}])
    assume(math.isfinite(number))
    with pytest.raises(MalformedEncoding):
        decode(json.dumps([value, {"f": number}]).encode())


# --- fuzzing: only typed errors escape, and accepted canonical input round-trips ----------------------


def _parse_all_ways(data: bytes) -> None:
    for parse in (decode, decode_canonical):
        try:
            value = parse(data)
        except CryptoError:
            continue
        if parse is decode_canonical:
            # Parse then format is byte-identical for anything accepted as canonical.
            assert encode(value) == data
        else:
            assert decode_canonical(encode(value)) == value


@pytest.mark.spec("4.1-c", "4.1-h")
@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_random_bytes_raise_only_typed_errors(data: bytes) -> None:
    _parse_all_ways(data)


@pytest.mark.spec("4.1-h")
@settings(max_examples=500)
@given(st.text(st.one_of(st.sampled_from(list('{}[]":,\\ -0123456789eE.tfnurlsaINy\ud800')), _chars), max_size=40))
def test_random_text_raises_only_typed_errors(text: str) -> None:
    _parse_all_ways(text.encode("utf-8", "surrogatepass"))


_ESCAPE_PIECES = [
    "\\ud800",
    "\\udbff",
    "\\ud83d",
    "\\uDC00",
    "\\ude00",
    "\\udfff",
    "\\u0041",
    "\\\\",
    "a",
    "\U0001f600",
]


@pytest.mark.spec("4.1-d")
@settings(max_examples=400)
@given(st.lists(st.sampled_from(_ESCAPE_PIECES), max_size=6), st.booleans())
def test_decoded_strings_never_hold_surrogates(pieces: list[str], as_key: bool) -> None:
    """Whatever mix of surrogate escapes comes in, a string that decodes is made of scalar values."""
    string = '"' + "".join(pieces) + '"'
    text = "{" + string + ":1}" if as_key else "[" + string + "]"
    try:
        value = decode(text.encode())
    except MalformedEncoding:
        return
    decoded = next(iter(value)) if isinstance(value, dict) else value[0]  # type: ignore[index]
    assert isinstance(decoded, str)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in decoded)
    decoded.encode("utf-8")


@pytest.mark.spec("4.1-l")
@settings(max_examples=500)
@given(values, st.data())
def test_mutated_canonical_bytes_raise_only_typed_errors(value: Any, data: st.DataObject) -> None:
    original = bytearray(encode(value))
    mutations = data.draw(st.integers(1, 3))
    for _ in range(mutations):
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "replace"]))
        position = data.draw(st.integers(0, len(original)))
        byte = data.draw(st.sampled_from(list(b'{}[]":,\\ -019eu.\x00\x7f\x80\xc3\xed\xff')))
        if kind == "insert":
            original.insert(position, byte)
        elif position < len(original):
            if kind == "flip":
                original[position] ^= 1 << data.draw(st.integers(0, 7))
            elif kind == "delete":
                del original[position]
            else:
                original[position] = byte
    _parse_all_ways(bytes(original))
