"""A start-up snapshot's body is read only after its tag verified (protocol §9.1-i), but even a body that
the key holder tagged may be any bytes (a bug, a disk error under a stale tag, a hostile operator): its
reader must then refuse it with `audit_mismatch`, and raise nothing else."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import canonical
from registry.snapshot import _MAGIC, SNAPSHOT_VERSION, open_snapshot, replay_code_digest
from registry.store import StoreMismatch

KEY = bytes(range(32))
ORIGIN = "registry.example/log"


def _tagged(body: bytes) -> bytes:
    header = canonical.encode(
        {"code": replay_code_digest().hex(), "origin": ORIGIN, "root": "00" * 32, "size": 3, "v": SNAPSHOT_VERSION}
    )
    signed = struct.pack(">I", len(header)) + header + body
    return _MAGIC + hmac.new(KEY, signed, hashlib.sha256).digest() + signed


@pytest.mark.spec("9.1-i")
@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=512))
def test_any_tagged_body_is_read_or_refused_as_audit_mismatch(body: bytes) -> None:
    try:
        open_snapshot(KEY, ORIGIN, _tagged(body))
    except StoreMismatch:
        pass


@pytest.mark.spec("9.1-i")
@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0, max_value=255))
def test_pickle_opcodes_in_a_tagged_body_are_read_or_refused(prefix: bytes, opcode: int) -> None:
    """Bodies that start like a pickle (protocol 4 or 5 header) and continue with any opcode."""
    body = b"\x80\x04" + bytes([opcode]) + prefix
    try:
        open_snapshot(KEY, ORIGIN, _tagged(body))
    except StoreMismatch:
        pass
