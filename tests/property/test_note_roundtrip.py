"""Hypothesis: signed notes, checkpoints and vkeys round-trip, and junk raises only typed errors (§5.4, §5.5)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.checkpoint import MAX_TREE_SIZE, Checkpoint, format_checkpoint, parse_checkpoint
from crypto.cosignature import cosign, verify_cosignature
from crypto.errors import CryptoError
from crypto.keys import SigningKey
from crypto.note import (
    Note,
    NoteSignature,
    format_note,
    parse_note,
)
from crypto.notekey import (
    SIG_TYPE_COSIGNATURE,
    NoteSigner,
    NoteVerifier,
    format_vkey,
    parse_signer_key,
    parse_vkey,
    sign_note,
    verify_note,
)

_WHITE = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(chr(c) for c in range(0x2000, 0x200B))
# Characters a note text may hold: anything but control characters (newline is added separately) and
# lone surrogates.
_text_char = st.characters(codec="utf-8", min_codepoint=0x20)
_line = st.text(_text_char, max_size=40)
note_texts = st.lists(_line, min_size=1, max_size=6).map(lambda lines: "\n".join(lines) + "\n")
key_names = st.text(
    st.characters(codec="utf-8", min_codepoint=0x21, exclude_characters="+" + _WHITE),
    min_size=1,
    max_size=30,
)
signatures = st.builds(
    NoteSignature,
    name=key_names,
    key_id=st.binary(min_size=4, max_size=4),
    signature=st.binary(min_size=1, max_size=100),
)


@st.composite
def notes(draw: st.DrawFn) -> Note:
    text = draw(note_texts)
    sigs = draw(st.lists(signatures, min_size=1, max_size=20, unique_by=lambda s: (s.name, s.key_id)))
    return Note(text=text, signatures=tuple(sigs))


checkpoints = st.builds(
    Checkpoint,
    origin=key_names.filter(lambda o: len(o.encode()) <= 255),
    size=st.integers(min_value=0, max_value=MAX_TREE_SIZE),
    root_hash=st.binary(min_size=32, max_size=32),
)

_KEYS = [SigningKey.from_seed(hashlib.sha256(bytes([i])).digest()) for i in range(4)]


@pytest.mark.spec("5.4-a", "5.4-c")
@given(notes())
def test_note_format_parse_round_trip(note: Note) -> None:
    encoded = format_note(note)
    parsed = parse_note(encoded)
    assert parsed == note
    assert format_note(parsed) == encoded
    assert parse_note(encoded.decode("utf-8")) == note


@pytest.mark.spec("5.4-e", "5.4-f")
@settings(max_examples=50)
@given(note_texts, key_names, st.integers(min_value=0, max_value=3))
def test_signed_notes_verify_and_a_changed_text_does_not(text: str, name: str, k: int) -> None:
    signer = NoteSigner(name=name, key=_KEYS[k])
    note = parse_note(format_note(sign_note(text, [signer])))
    assert verify_note(note, [signer.verifier]) == (signer.verifier,)
    changed = Note(text=text + "x\n", signatures=note.signatures)
    with pytest.raises(CryptoError):
        verify_note(changed, [signer.verifier])


@pytest.mark.spec("6.1-c")
@settings(max_examples=50)
@given(checkpoints, st.integers(min_value=0, max_value=2**63 - 1))
def test_cosignatures_verify_at_any_timestamp(cp: Checkpoint, timestamp: int) -> None:
    witness = NoteVerifier(name="w.example", sig_type=SIG_TYPE_COSIGNATURE, public_key=_KEYS[0].public_key)
    body = format_checkpoint(cp)
    assert verify_cosignature(witness, body, cosign(_KEYS[0], "w.example", body, timestamp)) == timestamp


@pytest.mark.spec("5.5-a", "5.5-b", "5.5-c", "5.5-d")
@given(checkpoints)
def test_checkpoint_format_parse_round_trip(cp: Checkpoint) -> None:
    text = format_checkpoint(cp)
    assert parse_checkpoint(text) == cp
    assert format_checkpoint(parse_checkpoint(text)) == text


@pytest.mark.spec("5.4-i")
@given(key_names, st.integers(min_value=0, max_value=3), st.sampled_from([1, 4]))
def test_vkey_format_parse_round_trip(name: str, k: int, sig_type: int) -> None:
    verifier = NoteVerifier(name=name, sig_type=sig_type, public_key=_KEYS[k].public_key)
    assert parse_vkey(format_vkey(verifier)) == verifier


# --- Junk raises only typed errors --------------------------------------------------------------------

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_note_like = st.lists(
    st.one_of(
        _line,
        st.builds(lambda n, b: f"— {n} {b}", key_names, st.text(_B64, max_size=100)),
        st.text(st.characters(), max_size=20),
    ),
    max_size=8,
).map(lambda lines: "\n".join(lines) + "\n")


@pytest.mark.spec("5.4-a", "5.4-b", "5.4-c")
@given(st.one_of(st.binary(max_size=300), _note_like.map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_parse_note_raises_only_typed_errors_on_junk_bytes(data: bytes) -> None:
    try:
        note = parse_note(data)
    except CryptoError:
        return
    assert format_note(note) == data


@pytest.mark.spec("5.4-a", "5.4-b")
@given(st.one_of(st.text(max_size=300), _note_like))
def test_parse_note_raises_only_typed_errors_on_junk_text(data: str) -> None:
    try:
        note = parse_note(data)
    except CryptoError:
        return
    assert format_note(note) == data.encode("utf-8")


@pytest.mark.spec("5.5-a")
@given(
    st.one_of(
        st.text(max_size=200),
        st.lists(st.text(st.characters(), max_size=50), max_size=5).map(lambda ls: "\n".join(ls) + "\n"),
        st.tuples(key_names, st.text("0123456789+-_ ", max_size=25), st.text(_B64, max_size=50)).map(
            lambda t: f"{t[0]}\n{t[1]}\n{t[2]}\n"
        ),
    )
)
def test_parse_checkpoint_raises_only_typed_errors_on_junk(text: str) -> None:
    try:
        cp = parse_checkpoint(text)
    except CryptoError:
        return
    assert format_checkpoint(cp) == text


@pytest.mark.spec("5.4-i", "5.4-k")
@given(
    st.one_of(
        st.text(max_size=200),
        st.tuples(key_names, st.text("0123456789abcdefABCDEF", max_size=9), st.binary(max_size=40)).map(
            lambda t: f"{t[0]}+{t[1]}+{base64.b64encode(t[2]).decode()}"
        ),
    )
)
def test_parse_vkey_and_signer_key_raise_only_typed_errors_on_junk(text: str) -> None:
    try:
        verifier = parse_vkey(text)
    except CryptoError:
        pass
    else:
        assert format_vkey(verifier) == text
    try:
        parse_signer_key("PRIVATE+KEY+" + text)
    except CryptoError:
        pass
