"""The Hypothesis version of scripts/fuzz.py: every fuzz target on random and on mutated valid inputs.

A target either accepts its input and formats it back byte for byte (a fixed point for the two formats
that accept several spellings), or refuses it with a typed error (`CryptoError`, `RegistryError`).
The targets and their seeds are loaded from the script, so the suite and the long atheris runs test the
same functions (protocol §4.1 to §4.3, §5.3 to §5.8, §6.2, §9.7).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.witness.protocol import parse_cosignature_lines

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_targets", ROOT / "scripts" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_targets", module)
    spec.loader.exec_module(module)
    return module


fuzz = _load()
NAMES = sorted(fuzz.TARGETS)
# Bytes that matter to the formats: JSON punctuation, note and path separators, digits, base64, the em
# dash's first byte, invalid UTF-8 and control characters.
INTERESTING = list(b'{}[]":,\\ \n-+/.x019aefpAZ=\x00\x7f\x80\xc3\xe2\xed\xff')


@st.composite
def mutated(draw: st.DrawFn, name: str) -> bytes:
    """A valid seed of target `name`, then 1 to 4 edits: flip a bit, insert, delete, replace, truncate,
    duplicate a slice, or splice in a slice of another seed."""
    valid = fuzz.seeds(name)
    data = bytearray(draw(st.sampled_from(valid)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "replace", "truncate", "repeat", "splice"]))
        position = draw(st.integers(0, len(data)))
        if kind == "insert":
            data[position:position] = bytes([draw(st.sampled_from(INTERESTING))])
        elif kind == "truncate":
            del data[position:]
        elif kind == "repeat":
            end = draw(st.integers(position, min(len(data), position + 64)))
            data[position:position] = data[position:end]
        elif kind == "splice":
            other = draw(st.sampled_from(valid))
            start = draw(st.integers(0, len(other)))
            data[position : position + draw(st.integers(0, 16))] = other[start : start + draw(st.integers(0, 64))]
        elif position < len(data):
            if kind == "flip":
                data[position] ^= 1 << draw(st.integers(0, 7))
            elif kind == "delete":
                del data[position : position + draw(st.integers(1, 4))]
            else:
                data[position] = draw(st.sampled_from(INTERESTING))
    return bytes(data)


@pytest.mark.spec("4.1-l", "4.2-a", "5.4-a", "5.5-a", "9.7-c", "9.7-d", "9.7-e")
@pytest.mark.parametrize("name", NAMES)
def test_every_seed_is_accepted_and_formats_back_byte_for_byte(name: str) -> None:
    valid = fuzz.seeds(name)
    assert valid, f"target {name} has no valid seed"
    for data in valid:
        assert fuzz.TARGETS[name](data), data[:80]


def test_every_statement_kind_and_every_format_has_a_target() -> None:
    from registry.statements import StatementType

    assert {f"entry-{kind}" for kind in StatementType} <= set(NAMES)
    assert {"canonical", "leaf", "note", "checkpoint", "signed-checkpoint", "credential-text", "credential-binary",
            "presentation", "tile-path", "hash-tile", "entry-bundle", "trust-policy", "export"} <= set(NAMES)


@pytest.mark.spec("4.1-c", "4.2-e", "5.3-b", "5.4-a", "9.7-b")
@settings(max_examples=60)
@given(data=st.data())
@pytest.mark.parametrize("name", NAMES)
def test_random_bytes_are_refused_with_typed_errors_or_round_trip(name: str, data: st.DataObject) -> None:
    raw = data.draw(st.one_of(st.binary(max_size=96), st.lists(st.sampled_from(INTERESTING), max_size=48).map(bytes)))
    fuzz.TARGETS[name](raw)


@pytest.mark.spec("4.1-l", "4.2-a", "5.3-f", "5.5-a", "5.6-a", "5.7-b", "5.8-f", "9.7-c", "9.7-d", "9.7-e")
@settings(max_examples=120)
@given(data=st.data())
@pytest.mark.parametrize("name", NAMES)
def test_mutated_valid_inputs_are_refused_with_typed_errors_or_round_trip(name: str, data: st.DataObject) -> None:
    fuzz.TARGETS[name](data.draw(mutated(name)))


def test_a_target_reports_a_round_trip_failure_and_an_untyped_error() -> None:
    """The harness itself: a lax parser and a raw exception are both caught, not hidden."""
    lax = fuzz.Target("lax", "", lambda d: d.strip(), lambda d, v: fuzz._same(v, d, "strip"))
    assert lax(b"x")
    with pytest.raises(fuzz.RoundTripFailure):
        lax(b" x")
    raw = fuzz.Target("raw", "", lambda d: d.decode("ascii"), lambda d, v: None)
    with pytest.raises(UnicodeDecodeError):
        raw(b"\xff")


@pytest.mark.spec("6.2-h")
def test_cosignature_lines_refuse_a_note_text_before_the_lines() -> None:
    """Found by the cosignature-lines target: an answer holding text and an empty line before its
    signature lines was accepted, the text silently dropped."""
    line = fuzz.seeds("cosignature-lines")[0]
    assert parse_cosignature_lines(line)
    from registry.witness.protocol import MalformedRequest

    for junk in (b"first\n\n", b"x\n\n\n", b"\n"):
        with pytest.raises(MalformedRequest):
            parse_cosignature_lines(junk + line)
