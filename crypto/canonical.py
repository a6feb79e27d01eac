"""Canonical JSON: the RFC 8785 (JCS) profile of protocol §4.1.

Every signed payload of the registry is a JSON text in this profile: objects, arrays, strings, `true`,
`false`, `null` and integers with |n| <= 2^53-1; no floats anywhere. `encode` writes the canonical bytes
(RFC 8785: members sorted by the UTF-16 code units of their keys, ECMAScript string escaping, no
whitespace). `decode` is a strict parser, and `decode_canonical` additionally requires that the input
is already canonical: it is what every signature check uses (protocol §4.1-l).

Both directions run on the standard library's C `json` module: this module only adds the checks JCS and
the profile require (types, integer range, duplicate keys, lone surrogates, depth, size) and puts keys in
UTF-16 order where that differs from code-point order. The standard library's escaping with
`ensure_ascii=False` is exactly the ECMAScript `JSON.stringify` escaping RFC 8785 §3.2.2.2 fixes
(verified against the `rfc8785` reference in tests/property/test_canonical.py).

Deliberately not here: I/O, signatures and domain separation (crypto/signing), schemas of statements.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from itertools import accumulate
from typing import Final, NoReturn, TypeAlias

from crypto.errors import MalformedEncoding, TooLarge

__all__ = [
    "DEFAULT_MAX_SIZE",
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "JSONValue",
    "decode",
    "decode_canonical",
    "encode",
]

MAX_SAFE_INTEGER: Final = 2**53 - 1
"""Largest integer magnitude allowed (protocol §4.1-b): the largest an IEEE 754 double holds exactly."""

DEFAULT_MAX_SIZE: Final = 65536
"""Default input size limit in bytes (protocol §4.1-f); a caller may pass a smaller one."""

MAX_DEPTH: Final = 32
"""Most arrays and objects that may enclose one another (protocol §4.1-g); a scalar alone has depth 0."""

JSONValue: TypeAlias = "bool | int | str | list[JSONValue] | dict[str, JSONValue] | None"
"""A value of the profile as `decode` returns it."""

# "-" and 16 digits: 2^53-1 = 9007199254740991 has 16 digits, so a longer integer token is out of
# range without converting it (converting a long digit string costs CPU quadratic in its length).
_MAX_INT_TOKEN_LENGTH: Final = 17

_UTF8_BOM: Final = b"\xef\xbb\xbf"

# A \u escape of a UTF-16 surrogate (D800-DFFF). Only texts with one can decode to a lone surrogate: the
# strict UTF-8 decoder already refuses encoded surrogates (ED A0 80 ...).
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
# A JSON string literal, escapes included; used to blank strings out before counting brackets. An
# unterminated string runs to the end of the text (json rejects it anyway). The possessive quantifiers and
# the end alternative mean a match never fails once begun: no backtracking, so the scan is linear even
# for texts made of thousands of escaped quotes (a naive pattern retries from each one: quadratic).
_STRING_LITERAL: Final = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_BRACKET: Final = re.compile(r"[\[\]{}]")
_BRACKET_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}

# Keys whose code-point order may differ from their UTF-16 order: only a key with a character in
# U+E000..U+FFFF compared with one above U+FFFF (whose UTF-16 form starts with a surrogate D800-DBFF)
# sorts differently. Keys below U+E000 throughout (all ASCII keys, Latin, Cyrillic, ...) never do.
_UTF16_REORDERED: Final = re.compile("[\ue000-\U0010ffff]")
_PLAIN_SCALARS: Final = frozenset({str, int, bool, type(None)})


# --- encoding ----------------------------------------------------------------------------------------


def encode(value: object) -> bytes:
    """Return the canonical bytes of a value of the profile (protocol §4.1).

    Accepts `dict` and any other `Mapping` with `str` keys, `list` and `tuple`, `str`, `int`, `bool`
    (`True` is `true`, never `1`) and `None`. Subclasses encode as their base type.

    Args:
        value: the value to encode; it is not modified.

    Returns:
        The RFC 8785 serialization: UTF-8, no whitespace, members in UTF-16 key order.

    Raises:
        MalformedEncoding: `malformed_encoding` for a float, an integer outside ±(2^53-1), a non-`str`
            key, a lone surrogate in a string or key, an unsupported type, or nesting deeper than
            `MAX_DEPTH` (which includes reference cycles).
    """
    _scan(value, 1)
    return _format(value)


def _format(value: object) -> bytes:
    """Serialize a value already known to be in the profile (checked by `_scan` or built by `decode`)."""
    try:
        # json's sort_keys sorts by code point, which is the UTF-16 order unless a key holds a character
        # of U+E000..U+FFFF or above U+FFFF; neither can be in an all-ASCII text, and one regex
        # search rules both out for most other texts, so the copy in canonical order is rarely needed.
        text = _DUMPS_SORTED(value)
        if not text.isascii() and _UTF16_REORDERED.search(text) is not None:
            text = _DUMPS_ORDERED(_rebuild(value))
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # protocol §4.1-d: the strict UTF-8 (or UTF-16, for sorting) codec refuses a lone surrogate.
        raise MalformedEncoding("a string or key contains a lone surrogate") from None
    except (TypeError, ValueError):
        # Only reachable through a container subclass that misreports its items after _scan.
        raise MalformedEncoding("value cannot be encoded as canonical JSON") from None


def _scan(value: object, depth: int) -> None:
    """Raise `MalformedEncoding` unless `value` is in the profile.

    `depth` counts the containers enclosing `value`'s own members, starting at 1 for a top-level
    container. Scalars inside containers are checked inline: this walk is on every encode's path.
    """
    if isinstance(value, dict):
        items: Iterable[tuple[object, object]] = value.items()
    elif isinstance(value, list | tuple):
        if depth > MAX_DEPTH:
            _too_deep()
        for element in value:
            kind = type(element)
            if kind is str or kind is bool or element is None:
                continue
            if kind is int and -MAX_SAFE_INTEGER <= element <= MAX_SAFE_INTEGER:
                continue
            _scan(element, depth + 1)
        return
    elif isinstance(value, Mapping):
        items = value.items()
    else:
        _check_scalar(value)
        return
    # An object: a dict or another mapping.
    if depth > MAX_DEPTH:
        _too_deep()
    for key, member in items:
        if type(key) is not str and not isinstance(key, str):
            raise MalformedEncoding(f"object keys must be strings, not {type(key).__name__}")
        kind = type(member)
        if kind is str or kind is bool or member is None:
            continue
        if type(member) is int and -MAX_SAFE_INTEGER <= member <= MAX_SAFE_INTEGER:
            continue
        _scan(member, depth + 1)


def _check_scalar(value: object) -> None:
    """Accept a non-container value of the profile or raise `MalformedEncoding`."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return
        _int_out_of_range()
    if isinstance(value, float):
        # protocol §4.1-a: no floats anywhere, not even integral ones such as 1.0.
        raise MalformedEncoding("floats are not allowed in canonical JSON; use an integer")
    raise MalformedEncoding(f"type {type(value).__name__} cannot be encoded as canonical JSON")


def _rebuild(value: object) -> object:
    """Copy a value of the profile into dicts and lists whose insertion order is the canonical order."""
    if isinstance(value, list | tuple):
        return [element if type(element) in _PLAIN_SCALARS else _rebuild(element) for element in value]
    if isinstance(value, Mapping):
        keys = sorted(value)  # code-point order: right unless a key holds U+E000 or above
        joined = "".join(keys)
        if not joined.isascii() and _UTF16_REORDERED.search(joined) is not None:
            keys.sort(key=_utf16_sort_key)
        result = {}
        for key in keys:
            member = value[key]
            result[key] = member if type(member) in _PLAIN_SCALARS else _rebuild(member)
        return result
    return value


def _utf16_sort_key(key: str) -> bytes:
    # protocol §4.1-i (RFC 8785 §3.2.3): compare keys as arrays of UTF-16 code units. Big-endian code
    # units compare byte-wise in the same order as the units themselves; a lone surrogate raises
    # UnicodeEncodeError, which _format reports.
    return key.encode("utf-16-be")


def _mapping_as_dict(value: object) -> object:
    # json calls this for what it cannot encode itself; after _scan that is only a non-dict Mapping.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(type(value).__name__)


def _too_deep() -> NoReturn:
    raise MalformedEncoding(f"arrays and objects are nested deeper than {MAX_DEPTH} levels")


def _int_out_of_range() -> NoReturn:
    raise MalformedEncoding("integer outside the range -(2^53-1) .. 2^53-1")


_DUMPS_SORTED: Final = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    allow_nan=False,
    sort_keys=True,
    check_circular=False,  # _scan's depth limit already refuses cycles
    default=_mapping_as_dict,
).encode
_DUMPS_ORDERED: Final = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    allow_nan=False,
    sort_keys=False,
    check_circular=False,
    default=_mapping_as_dict,
).encode


# --- decoding ----------------------------------------------------------------------------------------


def decode(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> JSONValue:
    """Parse a JSON text of the profile strictly (protocol §4.1); canonical form is not required.

    Whitespace between tokens and any member order are accepted; use `decode_canonical` for signed
    payloads.

    Args:
        data: the UTF-8 bytes of one JSON text (bytes, bytearray or memoryview).
        max_size: the size limit in bytes; inputs longer than this are refused before parsing.

    Returns:
        The value, with `dict` for objects and `list` for arrays.

    Raises:
        TooLarge: `too_large` when `data` is longer than `max_size`.
        MalformedEncoding: `malformed_encoding` for invalid UTF-8 (including overlong forms and encoded
            surrogates), a byte order mark, a lone surrogate escape, a duplicate key, a float or
            exponent, NaN or Infinity, an integer outside ±(2^53-1), nesting deeper than `MAX_DEPTH`,
            trailing data, or any other JSON syntax error.
    """
    raw: object = data  # callers outside mypy's reach may pass anything
    if not isinstance(raw, bytes):
        if not isinstance(raw, bytearray | memoryview):
            raise MalformedEncoding(f"expected bytes, not {type(raw).__name__}")
        size = raw.nbytes if isinstance(raw, memoryview) else len(raw)
        if size > max_size:
            raise TooLarge(f"input is {size} bytes, over the limit of {max_size}")
        data = bytes(raw)
    if len(data) > max_size:  # protocol §4.1-f: refuse before doing any work on the content
        raise TooLarge(f"input is {len(data)} bytes, over the limit of {max_size}")
    if data.startswith(_UTF8_BOM):  # protocol §4.1-c
        raise MalformedEncoding("input starts with a UTF-8 byte order mark")
    try:
        text = data.decode("utf-8")  # strict: refuses overlong forms and encoded surrogates (4.1-c)
    except UnicodeDecodeError as error:
        raise MalformedEncoding(f"invalid UTF-8 at byte {error.start}") from None
    # protocol §4.1-g: counting brackets (those inside strings too) bounds the depth from above, so the
    # exact count, which must skip string contents, is only needed for texts with many brackets.
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        _too_deep()
    try:
        value: JSONValue = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise MalformedEncoding(f"invalid JSON: {error.msg} at character {error.pos}") from None
    except RecursionError:  # unreachable after the depth check; kept so no raw error can escape
        _too_deep()
    # protocol §4.1-d: json turns a lone "\ud800" escape into a str holding a surrogate. Only a text
    # with a surrogate escape can produce one; encoding such a value strictly finds it.
    if _SURROGATE_ESCAPE.search(text) is not None:
        try:
            _DUMPS_ORDERED(value).encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedEncoding("a string or key contains a lone surrogate escape") from None
    return value


def decode_canonical(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> JSONValue:
    """Parse a JSON text that must already be in canonical form (protocol §4.1-l).

    This is the parser for every signed payload: the signature covers these exact bytes, so a second
    spelling of the same value (other whitespace, member order or escapes) is refused rather than
    silently normalised.

    Args:
        data: the UTF-8 bytes of one JSON text.
        max_size: the size limit in bytes; inputs longer than this are refused before parsing.

    Returns:
        The value; `encode` of it gives back `data` exactly.

    Raises:
        TooLarge: `too_large` when `data` is longer than `max_size`.
        MalformedEncoding: `malformed_encoding` for everything `decode` refuses, and for a text that
            is valid but not canonical.
    """
    value = decode(data, max_size=max_size)
    if _format(value) != data:
        raise MalformedEncoding("input is valid JSON but is not in canonical form")
    return value


def _object_from_pairs(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # protocol §4.1-e: keys are compared after unescaping, so "a" and "\u0061" are duplicates.
        raise MalformedEncoding("an object has a duplicate key")
    return obj


def _parse_int(token: str) -> int:
    # protocol §4.1-b: length first, so a 60,000-digit token is refused without converting it.
    if len(token) > _MAX_INT_TOKEN_LENGTH:
        _int_out_of_range()
    number = int(token)  # json hands over only -?(0|[1-9][0-9]*) in ASCII: this cannot fail
    if number > MAX_SAFE_INTEGER or number < -MAX_SAFE_INTEGER:
        _int_out_of_range()
    return number


def _parse_float(token: str) -> NoReturn:
    # protocol §4.1-a: any fraction or exponent (1.0, 1e3, -0.0) is a float, even if integral.
    raise MalformedEncoding("floats are not allowed in canonical JSON; use an integer")


def _parse_constant(token: str) -> NoReturn:
    raise MalformedEncoding("NaN and Infinity are not allowed in canonical JSON")


def _depth(text: str) -> int:
    """Return the deepest nesting of arrays and objects in `text`, ignoring brackets inside strings."""
    skeleton = _STRING_LITERAL.sub("", text)
    return max(accumulate(map(_BRACKET_STEP.__getitem__, _BRACKET.findall(skeleton))), default=0)


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_object_from_pairs,
    parse_int=_parse_int,
    parse_float=_parse_float,
    parse_constant=_parse_constant,
    strict=True,  # raw control characters inside strings are errors, as RFC 8259 requires
)
