"""The status tree derived from the state, status leaves and state leaves (protocol §5.8)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from crypto import smt
from registry.errors import ErrorCode, Rejected
from registry.state import Status
from registry.statements import Leaf, Params, Reason
from registry.statetree import (
    StateLeaf,
    StatusLeaf,
    apply_state_leaf,
    build_status_tree,
    check_state_leaf,
    format_state_leaf,
    format_status_leaf,
    parse_log_leaf,
    parse_state_leaf,
    parse_status_leaf,
    state_leaf_hash,
    status_key,
)
from tests.credfactory import status_tree_of
from tests.factory import Log, key, mid

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "credential"


def _vector(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    return case


def _leaf(log: Log, n: int) -> StatusLeaf:
    _, tree = status_tree_of(log.leaves)
    value = tree.get(status_key(mid(key(n))))
    assert value is not None
    return parse_status_leaf(value)


@pytest.mark.spec("5.8-c")
def test_status_key_is_the_domain_separated_hash_of_the_member_id() -> None:
    member = key(11).public_key
    assert status_key(member) == hashlib.sha256(b"antiwar-registry/v1\nstatus-key\n" + member).digest()


@pytest.mark.spec("5.8-c")
def test_status_leaf_round_trips_and_parses_strictly() -> None:
    leaf = StatusLeaf(key(11).public_key, Status.SUSPENDED, 2**40, None)
    data = format_status_leaf(leaf)
    assert len(data) == 73 and data[32] == 2 and data[41:] == bytes(32)
    assert parse_status_leaf(data) == leaf
    for bad in (data[:-1], data + b"\x00", data[:32] + b"\x04" + data[33:], data[:33] + b"\xff" * 8 + data[41:]):
        with pytest.raises(Rejected) as info:
            parse_status_leaf(bad)
        assert info.value.code is ErrorCode.MALFORMED_ENCODING


@pytest.mark.spec("5.8-c")
def test_since_is_the_index_at_which_the_status_took_its_value() -> None:
    log = Log.standard()
    member = key(11)
    log.submit(log.declare(member, key(1)))  # index 1, in the genesis batch: pending
    assert (_leaf(log, 11).status, _leaf(log, 11).since) == (Status.PENDING, 1)
    log.submit(log.vouch(key(2), member))  # index 3 (a state leaf at 2 closes the genesis batch): verified
    assert (_leaf(log, 11).status, _leaf(log, 11).since) == (Status.VERIFIED, 3)
    log.submit(log.rotate(member, key(21)))  # index 5: new key, same status
    leaf = _leaf(log, 11)
    assert (leaf.key, leaf.status, leaf.since) == (key(21).public_key, Status.VERIFIED, 3)
    log.submit(log.revoke_self(key(21), Reason.WITHDRAWN))  # index 7
    assert (_leaf(log, 11).status, _leaf(log, 11).since) == (Status.REVOKED, 7)
    founder = _leaf(log, 1)
    assert (founder.status, founder.since, founder.commitment) == (Status.VERIFIED, 0, None)


@pytest.mark.spec("5.8-c")
def test_a_cascade_updates_the_leaves_of_members_the_statement_does_not_name() -> None:
    log = Log.standard()
    a, b = key(11), key(12)
    log.join(a, key(1), key(2))
    log.join(b, a, key(3))
    assert _leaf(log, 12).status is Status.VERIFIED
    log.submit(log.council_revoke(a))  # fraud: voids a's vouch for b; b drops to pending
    assert _leaf(log, 12).status is Status.PENDING
    state, tree = status_tree_of(log.leaves)
    assert tree.root == build_status_tree(state, {m: _since(tree, m) for m in state.members}).root


def _since(tree: smt.SparseMerkleTree, member: bytes) -> int:
    value = tree.get(status_key(member))
    assert value is not None
    return parse_status_leaf(value).since


@pytest.mark.spec("5.8-c")
def test_a_strike_limit_amendment_changes_the_leaves_of_struck_members() -> None:
    log = Log.standard(params=Params(voucher_min_age_days=0, strike_limit=2))
    a = key(11)
    log.join(a, key(1), key(2))
    log.submit(log.council_revoke(a))  # key(1) and key(2) get one strike each
    assert _leaf(log, 1).status is Status.VERIFIED
    log.submit(log.amend(Params(voucher_min_age_days=0, strike_limit=1)))
    assert _leaf(log, 1).status is Status.SUSPENDED


@pytest.mark.spec("5.8-h")
def test_state_leaf_round_trips_and_parses_strictly() -> None:
    leaf = StateLeaf(5, 1_767_225_600_000, hashlib.sha256(b"root").digest())
    data = format_state_leaf(leaf)
    assert parse_state_leaf(data) == leaf
    assert state_leaf_hash(leaf) == hashlib.sha256(b"\x00" + data).digest()
    bad = [
        data.replace(b'"v":1', b'"v":2'),
        data.replace(b"4813", b"4C13"),
        data.replace(b'"index":5', b'"index":-5'),
        data.replace(b'{"index"', b'{"extra":1,"index"'),
        data.replace(b":", b": ", 1),
        b"[]",
    ]
    for b in bad:
        with pytest.raises(Rejected) as info:
            parse_state_leaf(b)
        assert info.value.code is ErrorCode.MALFORMED_ENCODING
    with pytest.raises(Rejected) as info:
        parse_state_leaf(b" " * 1025)
    assert info.value.code is ErrorCode.TOO_LARGE


@pytest.mark.spec("11.3-a", "5.8-c", "5.8-h")
def test_leaf_vectors() -> None:
    case = _vector("status-leaf")
    i = case["inputs"]
    leaf = StatusLeaf(bytes.fromhex(i["key"]), Status(i["status"]), i["since"], bytes.fromhex(i["commitment"]))
    assert format_status_leaf(leaf).hex() == case["expected"]["hex"]
    assert status_key(bytes.fromhex(i["key"])).hex() == case["expected"]["tree_key"]
    case = _vector("state-leaf")
    i = case["inputs"]
    state = StateLeaf(i["index"], i["logged_ms"], bytes.fromhex(i["root"]))
    assert format_state_leaf(state).decode() == case["expected"]["bytes"]
    assert state_leaf_hash(state).hex() == case["expected"]["leaf_hash"]


@pytest.mark.spec("5.8-h", "5.8-i")
def test_state_leaves_are_checked_for_place_time_and_root() -> None:
    log = Log.standard()
    log.join(key(11), key(1), key(2))
    state, tree = status_tree_of(log.leaves)
    good = StateLeaf(state.size, state.last_logged_ms, tree.root)
    assert parse_log_leaf(format_state_leaf(good)) == good
    assert isinstance(parse_log_leaf(log.leaves[0]), Leaf)
    after = apply_state_leaf(state, good, tree)
    assert (after.size, after.last_logged_ms, after.members) == (state.size + 1, good.logged_ms, state.members)
    cases = [
        (replace(good, index=state.size + 1), ErrorCode.MALFORMED_ENTRY),
        (replace(good, logged_ms=state.last_logged_ms - 1), ErrorCode.BAD_TIME),
        (replace(good, root=bytes(32)), ErrorCode.AUDIT_MISMATCH),
    ]
    for leaf, code in cases:
        rejection = check_state_leaf(state, leaf, tree)
        assert rejection is not None and rejection.code is code
        with pytest.raises(Rejected):
            apply_state_leaf(state, leaf, tree)
