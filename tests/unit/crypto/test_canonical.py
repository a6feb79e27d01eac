"""Unit tests of crypto/canonical.py: the canonical JSON profile of protocol §4.1."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from collections import OrderedDict
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest

from crypto import canonical
from crypto.canonical import (
    DEFAULT_MAX_SIZE,
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    decode,
    decode_canonical,
    encode,
)
from crypto.errors import CryptoError, MalformedEncoding, TooLarge

ROOT = Path(__file__).resolve().parents[3]
VECTOR_DIR = ROOT / "tests" / "vectors" / "canonical"

# The literal example of protocol §4.1, as the spec prints it.
SPEC_EXAMPLE_TEXT = (
    b'{ "statement": { "n": -42, "ok": true, "note": "line1\\nline2\\u0007",\n'
    b'                 "\\u00e9t\\u00e9": null, "\\ud83d\\udd4a": "peace", "\\ufb33": [],\n'
    b'                 "Z": 9007199254740991 },\n'
    b'  "kind": "example" }\n'
)
SPEC_EXAMPLE_HEX = (
    "7b226b696e64223a226578616d706c65222c2273746174656d656e74223a7b225a223a393030373139393235343734303939"
    "312c226e223a2d34322c226e6f7465223a226c696e65315c6e6c696e65325c7530303037222c226f6b223a747275652c22c3"
    "a974c3a9223a6e756c6c2c22f09f958a223a227065616365222c22efacb3223a5b5d7d7d"
)
SPEC_EXAMPLE_CANONICAL = (
    '{"kind":"example","statement":{"Z":9007199254740991,"n":-42,"note":"line1\\nline2\\u0007",'
    '"ok":true,"été":null,"\U0001f54a":"peace","\ufb33":[]}}'
).encode()


def _malformed(call: Any, *args: Any, **kwargs: Any) -> MalformedEncoding:
    """Run call and return its MalformedEncoding (not TooLarge), failing on anything else."""
    with pytest.raises(MalformedEncoding) as info:
        call(*args, **kwargs)
    assert type(info.value) is MalformedEncoding
    assert info.value.code == "malformed_encoding"
    return info.value


def _nest(depth: int, *, objects: bool = False) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value} if objects else [value]
    return value


# --- API -------------------------------------------------------------------------------------------


def test_public_names_are_pinned() -> None:
    assert canonical.__all__ == [
        "DEFAULT_MAX_SIZE",
        "MAX_DEPTH",
        "MAX_SAFE_INTEGER",
        "JSONValue",
        "decode",
        "decode_canonical",
        "encode",
    ]
    assert MAX_SAFE_INTEGER == 9007199254740991
    assert DEFAULT_MAX_SIZE == 65536
    assert MAX_DEPTH == 32


# --- the literal example ---------------------------------------------------------------------------


@pytest.mark.spec("4.1-i", "4.1-j", "4.1-k")
def test_spec_example_encodes_to_the_printed_bytes() -> None:
    value = decode(SPEC_EXAMPLE_TEXT)
    assert encode(value) == bytes.fromhex(SPEC_EXAMPLE_HEX) == SPEC_EXAMPLE_CANONICAL
    assert len(SPEC_EXAMPLE_CANONICAL) == 136


@pytest.mark.spec("4.1-l")
def test_spec_example_canonical_bytes_are_accepted_by_decode_canonical() -> None:
    assert decode_canonical(SPEC_EXAMPLE_CANONICAL) == decode(SPEC_EXAMPLE_TEXT)


@pytest.mark.spec("4.1-l")
def test_spec_example_source_text_is_not_canonical() -> None:
    _malformed(decode_canonical, SPEC_EXAMPLE_TEXT)


# --- member order (4.1-i) --------------------------------------------------------------------------


@pytest.mark.spec("4.1-i")
def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+FB33 < U+1F600 as code points, but the UTF-16 form of U+1F600 starts with D83D < FB33.
    assert encode({"\ufb33": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb33":1}'.encode()
    assert encode({"\U0001f600": 2, "\ufb33": 1}) == '{"\U0001f600":2,"\ufb33":1}'.encode()


@pytest.mark.spec("4.1-i")
def test_keys_sort_ascii_bmp_and_astral_together() -> None:
    value = {"b": 0, "a": 1, "\u00e9": 2, "A": 3, "\uffff": 4, "\U00010000": 5, "": 6, "aa": 7, "\ue000": 8}
    expected = '{"":6,"A":3,"a":1,"aa":7,"b":0,"\u00e9":2,"\U00010000":5,"\ue000":8,"\uffff":4}'
    assert encode(value) == expected.encode()


@pytest.mark.spec("4.1-i")
def test_nested_objects_are_sorted_and_array_order_is_kept() -> None:
    value = {"z": [{"y": 1, "x": 2}, 3, 1], "a": {"\U0001f54a": 0, "\ufb33": 1, "b": [2, 1]}}
    expected = '{"a":{"b":[2,1],"\U0001f54a":0,"\ufb33":1},"z":[{"x":2,"y":1},3,1]}'
    assert encode(value) == expected.encode()


@pytest.mark.spec("4.1-i")
def test_utf16_order_applies_when_only_a_value_holds_astral_characters() -> None:
    # A non-ASCII value must not disturb the order of plain keys.
    assert encode({"b": "\U0001f600", "a": "\ufb33"}) == '{"a":"\ufb33","b":"\U0001f600"}'.encode()


@pytest.mark.spec("4.1-i", "4.1-l")
def test_decode_canonical_rejects_code_point_key_order() -> None:
    _malformed(decode_canonical, '{"\ufb33":1,"\U0001f600":2}'.encode())
    assert decode_canonical('{"\U0001f600":2,"\ufb33":1}'.encode()) == {"\U0001f600": 2, "\ufb33": 1}


@pytest.mark.spec("4.1-i", "4.1-l")
def test_decode_canonical_rejects_unsorted_members() -> None:
    _malformed(decode_canonical, b'{"b":1,"a":2}')
    _malformed(decode_canonical, b'{"a":{"d":1,"c":2}}')


# --- string escaping (4.1-j) -----------------------------------------------------------------------

_SHORT_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}


@pytest.mark.spec("4.1-j")
@pytest.mark.parametrize("code", range(0x20))
def test_control_characters_use_short_or_lowercase_escapes(code: int) -> None:
    expected = _SHORT_ESCAPES.get(code, f"\\u{code:04x}")
    assert encode(chr(code)) == f'"{expected}"'.encode()
    assert decode_canonical(f'"{expected}"'.encode()) == chr(code)


@pytest.mark.spec("4.1-j")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"', b'"\\""'),
        ("\\", b'"\\\\"'),
        ("/", b'"/"'),
        ("\x7f", b'"\x7f"'),
        ("\u2028\u2029", '"\u2028\u2029"'.encode()),
        ("\ufeff", '"\ufeff"'.encode()),
        ("Нет войне", '"Нет войне"'.encode()),
        ("\U0001f600", b'"\xf0\x9f\x98\x80"'),
        ("\uffff", b'"\xef\xbf\xbf"'),
        ("", b'""'),
    ],
)
def test_other_characters_are_literal_utf8(text: str, expected: bytes) -> None:
    assert encode(text) == expected
    assert decode_canonical(expected) == text


@pytest.mark.spec("4.1-j", "4.1-l")
@pytest.mark.parametrize(
    "data",
    [
        b'"\\u00e9"',  # escaped instead of literal
        b'"\\/"',  # escaped solidus
        b'"\\u001F"',  # uppercase hex
        b'"\\u0041"',  # escaped ASCII letter
        b'"\\u0009"',  # long form of \t
        b'"\\u000a"',  # long form of \n
        b'"\\u0022"',  # long form of \"
        b'"\\u007f"',  # DEL escaped
        b'"\\u2028"',  # U+2028 escaped
        b'"\\ud83d\\ude00"',  # escaped surrogate pair instead of literal U+1F600
        b'{"\\u0061":1}',  # escaped key
    ],
)
def test_decode_canonical_rejects_non_canonical_escapes(data: bytes) -> None:
    decode(data)  # valid JSON of the profile
    _malformed(decode_canonical, data)


# --- whitespace, integers and literals (4.1-k) -----------------------------------------------------


@pytest.mark.spec("4.1-k", "4.1-l")
@pytest.mark.parametrize(
    "data",
    [b'{"a": 1}', b'{"a" :1}', b'{ "a":1}', b'{"a":1 }', b"[1, 2]", b" 1", b"1 ", b"1\n", b"\t[]", b"[\r\n]"],
)
def test_decode_canonical_rejects_whitespace(data: bytes) -> None:
    decode(data)
    _malformed(decode_canonical, data)


@pytest.mark.spec("4.1-k", "4.1-l")
def test_negative_zero_integer_decodes_to_zero_but_is_not_canonical() -> None:
    assert decode(b"-0") == 0
    assert encode(decode(b"-0")) == b"0"
    _malformed(decode_canonical, b"-0")


@pytest.mark.spec("4.1-k")
def test_booleans_are_never_numbers() -> None:
    assert encode(True) == b"true"
    assert encode(False) == b"false"
    assert encode(None) == b"null"
    assert encode([True, 1, False, 0]) == b"[true,1,false,0]"
    assert encode({"t": True, "one": 1}) == b'{"one":1,"t":true}'
    decoded = decode(b"[true,1,false,0]")
    assert isinstance(decoded, list)
    assert [type(item) for item in decoded] == [bool, int, bool, int]


@pytest.mark.spec("4.1-k")
def test_integers_use_shortest_decimal_form() -> None:
    assert encode([0, -1, 10, -MAX_SAFE_INTEGER]) == b"[0,-1,10,-9007199254740991]"


# --- floats (4.1-a) --------------------------------------------------------------------------------


@pytest.mark.spec("4.1-a")
@pytest.mark.parametrize(
    "data",
    [
        b"1.0",
        b"0.5",
        b"-0.0",
        b"1e3",
        b"1E3",
        b"1e+3",
        b"1e-3",
        b"-0e0",
        b"1.5e-3",
        b"1e400",
        b"[1.0]",
        b'{"a":1.0}',
        b'{"a":[0,{"b":2.25}]}',
    ],
)
def test_decode_rejects_every_float_spelling(data: bytes) -> None:
    _malformed(decode, data)
    _malformed(decode_canonical, data)


@pytest.mark.spec("4.1-a")
@pytest.mark.parametrize("data", [b"NaN", b"Infinity", b"-Infinity", b"[NaN]", b'{"a":Infinity}'])
def test_decode_rejects_nan_and_infinity(data: bytes) -> None:
    _malformed(decode, data)


@pytest.mark.spec("4.1-a")
@pytest.mark.parametrize(
    "value", [1.0, 0.5, -0.0, float("nan"), float("inf"), [1, 2.0], {"a": {"b": 1e300}}, (0.1,)]
)
def test_encode_refuses_floats(value: object) -> None:
    error = _malformed(encode, value)
    assert "float" in error.message


# --- integer range (4.1-b) -------------------------------------------------------------------------


@pytest.mark.spec("4.1-b")
@pytest.mark.parametrize("number", [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 0, 1, -1])
def test_integers_at_the_bounds_are_accepted(number: int) -> None:
    data = str(number).encode()
    assert encode(number) == data
    assert decode_canonical(data) == number
    assert decode_canonical(b"[" + data + b"]") == [number]
    assert decode_canonical(b'{"n":' + data + b"}") == {"n": number}


@pytest.mark.spec("4.1-b")
@pytest.mark.parametrize("number", [MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 2**64, -(2**100)])
def test_integers_outside_the_range_are_rejected(number: int) -> None:
    _malformed(encode, number)
    _malformed(encode, [number])
    _malformed(encode, {"n": number})
    _malformed(decode, str(number).encode())
    _malformed(decode, b"[" + str(number).encode() + b"]")
    _malformed(decode, b'{"n":' + str(number).encode() + b"}")


@pytest.mark.spec("4.1-b")
def test_huge_integer_token_is_refused_without_conversion() -> None:
    # Longer than Python's 4300-digit conversion limit: must be a typed error, not ValueError.
    _malformed(decode, b"9" * 60000)
    _malformed(decode, b"-" + b"1" * 5000)


@pytest.mark.spec("4.1-b")
def test_integer_subclasses_encode_as_integers() -> None:
    class Level(IntEnum):
        HIGH = 7

    assert encode({"level": Level.HIGH}) == b'{"level":7}'


# --- UTF-8 (4.1-c) ---------------------------------------------------------------------------------


@pytest.mark.spec("4.1-c")
@pytest.mark.parametrize(
    "data",
    [
        b'"\xff"',  # never valid in UTF-8
        b'"\xc3"',  # truncated two-byte sequence
        b'"\xe2\x82"',  # truncated three-byte sequence
        b'"\x80"',  # lone continuation byte
        b'"\xc0\xaf"',  # overlong '/'
        b'"\xe0\x80\xaf"',  # overlong '/' in three bytes
        b'"\xf0\x80\x80\xaf"',  # overlong '/' in four bytes
        b'"\xed\xa0\x80"',  # encoded high surrogate U+D800
        b'"\xed\xbf\xbf"',  # encoded low surrogate U+DFFF
        b'"\xed\xa0\xbd\xed\xb8\x80"',  # CESU-8 pair for U+1F600
        b'"\xf4\x90\x80\x80"',  # above U+10FFFF
        b'{"\xff":1}',  # in a key
    ],
)
def test_decode_rejects_invalid_utf8(data: bytes) -> None:
    error = _malformed(decode, data)
    assert "UTF-8" in error.message


@pytest.mark.spec("4.1-c")
@pytest.mark.parametrize("data", [b"\xef\xbb\xbf{}", b"\xef\xbb\xbf1", b"\xef\xbb\xbf"])
def test_decode_rejects_a_byte_order_mark(data: bytes) -> None:
    _malformed(decode, data)


@pytest.mark.spec("4.1-c")
def test_byte_order_mark_character_inside_a_string_is_allowed() -> None:
    assert decode_canonical('"\ufeff"'.encode()) == "\ufeff"


# --- surrogates (4.1-d) ----------------------------------------------------------------------------


@pytest.mark.spec("4.1-d")
@pytest.mark.parametrize(
    "data",
    [
        b'"\\ud800"',
        b'"\\udbff"',
        b'"\\udc00"',
        b'"\\uDFFF"',
        b'"\\udc00\\ud800"',  # reversed pair
        b'"\\ud800a"',  # high surrogate, then a letter
        b'"\\ud800\\u0041"',  # high surrogate, then an escaped letter
        b'"a\\ud83d"',  # high surrogate at the end
        b'{"\\ud800":1}',  # in a key
        b'[1,{"k":["\\udfff"]}]',  # nested
    ],
)
def test_decode_rejects_lone_surrogate_escapes(data: bytes) -> None:
    error = _malformed(decode, data)
    assert "surrogate" in error.message


@pytest.mark.spec("4.1-d")
def test_escaped_surrogate_pair_is_one_character() -> None:
    assert decode(b'"\\ud83d\\ude00"') == "\U0001f600"
    assert decode(b'"\\uD83D\\uDE00"') == "\U0001f600"


@pytest.mark.spec("4.1-d")
def test_escaped_backslash_before_u_is_not_a_surrogate_escape() -> None:
    assert decode_canonical(b'"\\\\ud800"') == "\\ud800"


@pytest.mark.spec("4.1-d")
@pytest.mark.parametrize("value", ["\ud800", "a\udfff", ["\udc00"], {"k": "\ud83d"}, {"\ud800": 1}])
def test_encode_refuses_lone_surrogates(value: object) -> None:
    error = _malformed(encode, value)
    assert "surrogate" in error.message


@pytest.mark.spec("4.1-d", "4.1-i")
def test_encode_refuses_lone_surrogate_key_on_the_utf16_sorting_path() -> None:
    _malformed(encode, {"\ud800": 1, "\U0001f600": 2, "\ufb33": 3})


# --- duplicate keys (4.1-e) ------------------------------------------------------------------------


@pytest.mark.spec("4.1-e")
@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":2}',
        b'{"a":1,"a":1}',
        b'{"a":1,"\\u0061":2}',
        b'{"\\u00e9":1,"\xc3\xa9":2}',
        b'{"\\ud83d\\ude00":1,"\xf0\x9f\x98\x80":2}',
        b'{"x":[{"k":null,"k":null}]}',
        b'{"a":1,"b":2,"a":3}',
    ],
)
def test_decode_rejects_duplicate_keys(data: bytes) -> None:
    error = _malformed(decode, data)
    assert "duplicate" in error.message


@pytest.mark.spec("4.1-e")
def test_equal_keys_in_different_objects_are_fine() -> None:
    assert decode_canonical(b'{"a":{"a":1},"b":{"a":2}}') == {"a": {"a": 1}, "b": {"a": 2}}


# --- size limit (4.1-f) ----------------------------------------------------------------------------


@pytest.mark.spec("4.1-f")
def test_input_over_the_default_limit_is_too_large() -> None:
    at_limit = b'"' + b"a" * (DEFAULT_MAX_SIZE - 2) + b'"'
    assert len(at_limit) == DEFAULT_MAX_SIZE
    assert decode_canonical(at_limit) == "a" * (DEFAULT_MAX_SIZE - 2)
    over = b'"' + b"a" * (DEFAULT_MAX_SIZE - 1) + b'"'
    with pytest.raises(TooLarge) as info:
        decode(over)
    assert info.value.code == "too_large"
    with pytest.raises(TooLarge):
        decode_canonical(over)


@pytest.mark.spec("4.1-f")
def test_caller_may_set_a_smaller_limit() -> None:
    assert decode(b"[1]", max_size=3) == [1]
    with pytest.raises(TooLarge) as info:
        decode(b"[1] ", max_size=3)
    assert info.value.code == "too_large"
    with pytest.raises(TooLarge):
        decode_canonical(b"[10]", max_size=3)


@pytest.mark.spec("4.1-f")
def test_size_is_checked_before_anything_else() -> None:
    # Invalid UTF-8, a BOM or too deep: still too_large, so no work is done on an oversized input.
    for data in (b"\xff" * 11, b"\xef\xbb\xbf" + b"[" * 40, b"1.0 garbage"):
        with pytest.raises(TooLarge):
            decode(data, max_size=10)


@pytest.mark.spec("4.1-f")
def test_too_large_is_a_malformed_encoding() -> None:
    assert issubclass(TooLarge, MalformedEncoding)


@pytest.mark.spec("4.1-f")
@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_bytes_like_inputs_are_measured_in_bytes(wrap: Any) -> None:
    assert decode(wrap(b'{"a":[1]}')) == {"a": [1]}
    assert decode_canonical(wrap(b'{"a":[1]}')) == {"a": [1]}
    with pytest.raises(TooLarge):
        decode(wrap(b"[1, 2]"), max_size=5)
    wide: Any = memoryview(b"[1,2,34]").cast("I")  # 2 items of 4 bytes: its size is 8 bytes
    with pytest.raises(TooLarge):
        decode(wide, max_size=7)


# --- depth (4.1-g) ---------------------------------------------------------------------------------


@pytest.mark.spec("4.1-g")
@pytest.mark.parametrize("objects", [False, True])
def test_nesting_to_the_limit_is_accepted(objects: bool) -> None:
    value = _nest(MAX_DEPTH, objects=objects)
    data = encode(value)
    assert decode_canonical(data) == value


@pytest.mark.spec("4.1-g")
@pytest.mark.parametrize("objects", [False, True])
def test_nesting_over_the_limit_is_rejected(objects: bool) -> None:
    value = _nest(MAX_DEPTH + 1, objects=objects)
    _malformed(encode, value)
    data = json.dumps(value, separators=(",", ":")).encode()
    error = _malformed(decode, data)
    assert "nested" in error.message


@pytest.mark.spec("4.1-g")
def test_mixed_nesting_over_the_limit_is_rejected() -> None:
    data = b'{"a":[' * 16 + b'{"b":1}' + b"]}" * 16  # 33 containers
    _malformed(decode, data)
    assert decode(b'{"a":[' * 16 + b"1" + b"]}" * 16) is not None  # 32 containers


@pytest.mark.spec("4.1-g")
def test_brackets_inside_strings_do_not_count() -> None:
    data = b'["' + b"[{" * 200 + b'\\"]}' * 3 + b'"]'
    assert decode_canonical(data) == ["[{" * 200 + '"]}' * 3]


@pytest.mark.spec("4.1-g")
@pytest.mark.parametrize("depth", [1000, 20000])
def test_very_deep_input_is_a_typed_error_not_recursion(depth: int) -> None:
    limit = 10 * depth
    _malformed(decode, b"[" * depth + b"]" * depth, max_size=limit)
    _malformed(decode, b"[" * depth, max_size=limit)
    _malformed(decode, b'{"a":' * depth + b"1" + b"}" * depth, max_size=limit)


@pytest.mark.spec("4.1-g")
@pytest.mark.parametrize("tail", [b"", b"\\", b'"]'])
def test_depth_check_is_linear_on_many_escaped_quotes(tail: bytes) -> None:
    # Thousands of \" after an open string: a naive string pattern restarts at every quote and takes
    # seconds (quadratic); the check must stay linear and still answer with a typed error.
    data = b"[" * 40 + b'"' + b'\\"' * 30000 + tail
    _malformed(decode, data)


@pytest.mark.spec("4.1-g")
def test_encode_refuses_reference_cycles() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    _malformed(encode, cycle)
    loop: dict[str, Any] = {}
    loop["self"] = loop
    _malformed(encode, loop)


# --- one value, RFC 8259 syntax (4.1-h) ------------------------------------------------------------


@pytest.mark.spec("4.1-h")
@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1}x',
        b"1 2",
        b"[]]",
        b'{"a":1}}',
        b"[] []",
        b"null\x00",
        b"",
        b"   ",
        b'"a\tb"',  # raw control character
        b'"a\nb"',
        b'"\x00"',
        b'"\\x41"',  # unknown escape
        b'"\\u12"',  # short \u escape
        b'"abc',  # unterminated string
        b"01",
        b"+1",
        b"-",
        b".5",
        b"[1,]",
        b'{"a":1,}',
        b"'a'",
        b"[1/*x*/]",
        b"// c\n1",
        b"tru",
        b"True",
        b"nul",
        b"{a:1}",
        b'{"a" 1}',
        b"[1 2]",
        b"\x0b1",  # vertical tab is not JSON whitespace
        "\u00a01".encode(),  # nor is U+00A0
    ],
)
def test_decode_rejects_syntax_errors_and_trailing_data(data: bytes) -> None:
    _malformed(decode, data)
    _malformed(decode_canonical, data)


@pytest.mark.spec("4.1-h")
def test_decode_accepts_surrounding_json_whitespace() -> None:
    assert decode(b' \t\r\n{ "b" : [ 1 , 2 ] , "a" : null } \n') == {"a": None, "b": [1, 2]}


# --- decode_canonical (4.1-l) ----------------------------------------------------------------------


@pytest.mark.spec("4.1-l")
@pytest.mark.parametrize(
    "data",
    [
        b"{}",
        b"[]",
        b'""',
        b"0",
        b"null",
        b"[true,false,null]",
        b'{"a":[1,{"b":"c"}],"b":-5}',
        '{"a":"Нет войне","é":"\U0001f54a"}'.encode(),
    ],
)
def test_canonical_bytes_round_trip_exactly(data: bytes) -> None:
    value = decode_canonical(data)
    assert encode(value) == data


@pytest.mark.spec("4.1-l")
def test_non_canonical_rejection_names_the_reason() -> None:
    error = _malformed(decode_canonical, b'{"a": 1}')
    assert "canonical" in error.message


# --- encoder input types ---------------------------------------------------------------------------


def test_encode_accepts_mappings_and_tuples() -> None:
    assert encode(types.MappingProxyType({"b": 1, "a": (2, 3)})) == b'{"a":[2,3],"b":1}'
    assert encode(OrderedDict([("b", 1), ("a", 2)])) == b'{"a":2,"b":1}'
    assert encode((1, ("x",), {"k": ()})) == b'[1,["x"],{"k":[]}]'
    proxy = types.MappingProxyType({"\ufb33": 1, "\U0001f600": (2,)})
    assert encode({"m": proxy}) == '{"m":{"\U0001f600":[2],"\ufb33":1}}'.encode()


def test_encode_accepts_str_subclasses() -> None:
    class Name(str):
        pass

    assert encode({Name("k"): Name("v")}) == b'{"k":"v"}'


@pytest.mark.parametrize("key", [1, None, True, 1.5, ("a",), b"a"])
def test_encode_refuses_non_string_keys(key: object) -> None:
    error = _malformed(encode, {key: 1})
    assert "keys must be strings" in error.message


@pytest.mark.parametrize("value", [b"bytes", bytearray(b"x"), {1, 2}, frozenset(), object(), 1j, [len]])
def test_encode_refuses_unsupported_types(value: object) -> None:
    _malformed(encode, value)


def test_decode_refuses_text_input() -> None:
    _malformed(decode, "{}")
    _malformed(decode_canonical, None)


def test_errors_are_crypto_errors_with_stable_codes() -> None:
    assert issubclass(MalformedEncoding, CryptoError)
    assert MalformedEncoding.code == "malformed_encoding"
    assert TooLarge.code == "too_large"


# --- vectors ---------------------------------------------------------------------------------------


def _vector_files() -> list[Path]:
    return sorted(VECTOR_DIR.glob("*.json"))


def test_vector_directory_is_populated() -> None:
    assert len(_vector_files()) >= 60


@pytest.mark.spec("4.1-a", "4.1-b", "4.1-c", "4.1-d", "4.1-e", "4.1-f", "4.1-g", "4.1-h")
@pytest.mark.spec("4.1-i", "4.1-j", "4.1-k", "4.1-l")
@pytest.mark.parametrize("path", _vector_files(), ids=lambda path: path.stem)
def test_vector(path: Path) -> None:
    vector = json.loads(path.read_text(encoding="utf-8"))
    assert vector["desc"]
    kwargs = {"max_size": vector["max_size"]} if "max_size" in vector else {}

    def run() -> bytes:
        if vector["op"] == "encode":
            return encode(vector["input"])
        parse = decode if vector["op"] == "decode" else decode_canonical
        return encode(parse(bytes.fromhex(vector["input_hex"]), **kwargs))

    if "expected_error" in vector:
        with pytest.raises(CryptoError) as info:
            run()
        assert info.value.code == vector["expected_error"]
    else:
        assert run().hex() == vector["expected_hex"]
        if vector["op"] == "decode_canonical":
            assert vector["expected_hex"] == vector["input_hex"]


def test_vectors_match_their_generator() -> None:
    spec = importlib.util.spec_from_file_location("gen_vectors_canonical", ROOT / "scripts/gen_vectors_canonical.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_vectors_canonical", module)
    spec.loader.exec_module(module)
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in _vector_files()}
    assert module.build() == on_disk
