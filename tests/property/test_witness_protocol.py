"""Hypothesis: the add-checkpoint body and the size body round-trip byte for byte (protocol §6.2-a,
§6.2-c)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.witness.protocol import (
    MAX_PROOF_HASHES,
    AddCheckpoint,
    format_add_checkpoint,
    format_tree_size,
    parse_add_checkpoint,
    parse_tree_size,
)

SIZES = st.integers(min_value=0, max_value=(1 << 63) - 1)
HASHES = st.lists(st.binary(min_size=32, max_size=32), max_size=MAX_PROOF_HASHES).map(tuple)
NOTES = st.binary(min_size=1, max_size=300)


@pytest.mark.spec("6.2-a")
@given(SIZES, HASHES, NOTES)
def test_add_checkpoint_body_round_trips(old: int, proof: tuple[bytes, ...], checkpoint: bytes) -> None:
    request = AddCheckpoint(old, proof, checkpoint)
    body = format_add_checkpoint(request)
    assert parse_add_checkpoint(body) == request
    assert format_add_checkpoint(parse_add_checkpoint(body)) == body


@pytest.mark.spec("6.2-c")
@given(SIZES)
def test_tree_size_body_round_trips(size: int) -> None:
    assert parse_tree_size(format_tree_size(size)) == size
