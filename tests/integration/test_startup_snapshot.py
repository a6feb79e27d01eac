"""Start-up snapshots (protocol §9.1-i, `registry.snapshot`): a sequencer that starts from the store's
snapshot has the state, status tree and root of a full replay, still refuses every store the full
start-up refuses, and refuses a snapshot that is not this log's or disagrees with it. On SQLite, and on
PostgreSQL when its URL is set."""

from __future__ import annotations

import hashlib
import hmac
import pickle
import struct
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
import sqlalchemy as sa

import registry.snapshot
from registry.errors import ErrorCode
from registry.sequencer import Sequencer, _paced, load_log
from registry.snapshot import Snapshot, format_snapshot, open_snapshot, snapshot_key
from registry.statetree import StateLeaf, parse_log_leaf, state_payload_hash
from registry.store import Store, StoreMismatch, StoreUnavailable
from registry.store.models import ENTRIES, SNAPSHOTS
from registry.store_rows import leaf_columns
from tests.integration.logdata import (
    ORIGIN,
    Community,
    ManualClock,
    log_signer,
    open_store_fixture,  # noqa: F401 - fixture
    revoke_entry,
    store_url_fixture,  # noqa: F401 - fixture
    vouch_entry,
)
from tests.integration.test_sequencer import STORE_TAMPERS, _declares, _new_log

OpenStore = Callable[..., Store]


def _grown_log(open_store: OpenStore) -> tuple[Sequencer, Community]:
    """A log of several batches: declarations, a vouch and a revocation (size 10)."""
    sequencer, community = _new_log(open_store)
    sequencer.submit_batch(_declares(community, 0, 3))
    sequencer.submit(vouch_entry(community.founders[1], Community.member(0)))
    sequencer.submit(revoke_entry(Community.member(2)))
    return sequencer, community


def _store_snapshot(store_url: str, data: bytes, size: int) -> None:
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        SNAPSHOTS.create(conn, checkfirst=True)
        conn.execute(SNAPSHOTS.delete())
        conn.execute(SNAPSHOTS.insert(), {"id": 1, "size": size, "data": data})
    engine.dispose()


def _refused_at_open(open_store: OpenStore, store_url: str, data: bytes, size: int) -> StoreMismatch:
    """Store `data` as the start-up snapshot of `size`: the StoreMismatch that `Sequencer.open` raises."""
    _store_snapshot(store_url, data, size)
    with pytest.raises(StoreMismatch) as info:
        Sequencer.open(open_store(), log_signer(), ManualClock())
    return info.value


def _tagged(snapshot: Snapshot) -> bytes:
    return format_snapshot(snapshot_key(log_signer()), ORIGIN, snapshot)


def _snapshot_of(sequencer: Sequencer) -> Snapshot:
    state = sequencer.state
    assert state is not None
    return Snapshot(sequencer.size, sequencer.root_hash, state, sequencer.status_tree)


# --- the same log, faster -----------------------------------------------------------------------------


@pytest.mark.spec("9.1-i")
def test_open_from_a_snapshot_gives_the_state_tree_and_root_of_a_full_replay(open_store: OpenStore) -> None:
    sequencer, community = _grown_log(open_store)
    snapshot_size = sequencer.write_snapshot()
    assert snapshot_size == sequencer.size
    sequencer.submit_batch(_declares(community, 3, 2))  # leaves after the snapshot are replayed
    fast = Sequencer.open(open_store(), log_signer(), ManualClock())
    full = Sequencer.open(open_store(), log_signer(), ManualClock(), full_check=True)
    assert fast.replayed_from == snapshot_size and full.replayed_from == 0
    assert fast.size == full.size == sequencer.size
    assert fast.state == full.state == sequencer.state
    assert fast.status_tree.root == full.status_tree.root == sequencer.status_tree.root
    assert (fast.root_hash, fast.latest_checkpoint) == (full.root_hash, full.latest_checkpoint)
    member = Community.member(0).public_key
    assert fast.credential(member) == full.credential(member)


@pytest.mark.spec("9.1-i")
def test_a_snapshot_made_by_other_replay_code_is_not_used(
    open_store: OpenStore, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sequencer, _ = _grown_log(open_store)
    monkeypatch.setattr(registry.snapshot, "replay_code_digest", lambda: b"\x07" * 32)
    data = _tagged(_snapshot_of(sequencer))
    monkeypatch.undo()
    _store_snapshot(store_url, data, sequencer.size)
    again = Sequencer.open(open_store(), log_signer(), ManualClock())
    assert again.replayed_from == 0
    assert again.state == sequencer.state


def test_a_snapshot_round_trips(open_store: OpenStore) -> None:
    sequencer, _ = _grown_log(open_store)
    snapshot = _snapshot_of(sequencer)
    opened = open_snapshot(snapshot_key(log_signer()), ORIGIN, _tagged(snapshot))
    assert opened is not None
    assert (opened.size, opened.root_hash, opened.state) == (snapshot.size, snapshot.root_hash, snapshot.state)
    assert opened.tree.root == snapshot.tree.root


def test_pauses_between_the_pieces_leave_the_snapshot_unchanged(open_store: OpenStore) -> None:
    sequencer, _ = _grown_log(open_store)
    snapshot = _snapshot_of(sequencer)
    pauses = 0

    def pause() -> None:
        nonlocal pauses
        pauses += 1

    paced = format_snapshot(snapshot_key(log_signer()), ORIGIN, snapshot, pause=pause)
    assert paced == _tagged(snapshot)
    # one pause after every piece: the bare state, and each map and the status leaves ended by None
    assert pauses >= 1 + len(registry.snapshot._MAPS) + 1 + 1


def test_a_background_writer_rests_after_each_stretch_of_work_and_not_before() -> None:
    now = [0.0]
    slept: list[float] = []
    pause = _paced(work_s=0.002, rest_s=0.001, clock=lambda: now[0], sleep=slept.append)
    now[0] = 0.0015
    pause()
    assert slept == []  # 1.5 ms of work: go on
    now[0] = 0.0021
    pause()
    assert slept == [0.001]  # 2.1 ms: rest, and count the work again from here
    now[0] = 0.0035
    pause()
    assert slept == [0.001]
    now[0] = 0.0042
    pause()
    assert slept == [0.001, 0.001]


# --- what the start-up still refuses ------------------------------------------------------------------


def _tamper_payload_hash(conn: sa.Connection) -> None:
    conn.execute(ENTRIES.update().where(ENTRIES.c.index == 2).values(payload_hash=b"\x05" * 32))


def _tamper_logged_ms(conn: sa.Connection) -> None:
    conn.execute(ENTRIES.update().where(ENTRIES.c.index == 1).values(logged_ms=ENTRIES.c.logged_ms + 1))


@pytest.mark.spec("5.6-h", "9.1-i")
@pytest.mark.parametrize(
    "tamper",
    [*STORE_TAMPERS, _tamper_payload_hash, _tamper_logged_ms],
    ids=lambda f: f.__name__.removeprefix("_tamper_"),
)
def test_open_from_a_snapshot_refuses_a_store_that_disagrees_with_itself(
    open_store: OpenStore, store_url: str, tamper: Callable[[sa.Connection], None]
) -> None:
    sequencer, community = _new_log(open_store)
    sequencer.submit_batch(_declares(community, 0, 3))
    assert sequencer.write_snapshot() == sequencer.size  # every tampered row is one the snapshot covers
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        tamper(conn)
    engine.dispose()
    with pytest.raises(StoreMismatch) as info:
        Sequencer.open(open_store(), log_signer(), ManualClock())
    assert info.value.code is ErrorCode.AUDIT_MISMATCH


@pytest.mark.spec("9.1-i")
@pytest.mark.parametrize(
    ("tamper", "column", "index"), [(_tamper_payload_hash, "payload_hash", 2), (_tamper_logged_ms, "logged_ms", 1)]
)
def test_open_from_a_snapshot_names_the_row_and_column_that_disagree_with_its_leaf(
    open_store: OpenStore, store_url: str, tamper: Callable[[sa.Connection], None], column: str, index: int
) -> None:
    sequencer, community = _new_log(open_store)
    sequencer.submit_batch(_declares(community, 0, 3))
    sequencer.write_snapshot()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        tamper(conn)
    engine.dispose()
    with pytest.raises(StoreMismatch) as info:
        Sequencer.open(open_store(), log_signer(), ManualClock())
    # the same words as the audit of a data directory (registry.store_rows): row, column, both values
    assert info.value.message.startswith(f"the stored row of leaf {index} has {column} ")


@pytest.mark.spec("9.1-i")
def test_a_snapshot_with_a_changed_byte_is_refused(open_store: OpenStore, store_url: str) -> None:
    sequencer, _ = _grown_log(open_store)
    sequencer.write_snapshot()
    stored = open_store().snapshot()
    assert stored is not None
    size, data = stored
    for at in (len(data) // 2, len(data) - 1, 40):  # the body, its last byte, the tag
        changed = data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]
        refused = _refused_at_open(open_store, store_url, changed, size)
        assert refused.code is ErrorCode.AUDIT_MISMATCH
        assert "snapshot" in refused.message


@pytest.mark.spec("9.1-i")
def test_a_snapshot_tagged_with_another_key_is_refused(open_store: OpenStore, store_url: str) -> None:
    sequencer, _ = _grown_log(open_store)
    forged = format_snapshot(snapshot_key(log_signer(label="other")), ORIGIN, _snapshot_of(sequencer))
    refused = _refused_at_open(open_store, store_url, forged, sequencer.size)
    assert "not tagged with this log's key" in refused.message
    # A full check does not read the snapshot.
    assert Sequencer.open(open_store(), log_signer(), ManualClock(), full_check=True).size == sequencer.size


@pytest.mark.spec("9.1-i")
def test_a_tagged_snapshot_of_another_tree_is_refused(open_store: OpenStore, store_url: str) -> None:
    sequencer, _ = _grown_log(open_store)
    snapshot = _snapshot_of(sequencer)
    other_tree = _tagged(Snapshot(snapshot.size, b"\x09" * 32, snapshot.state, snapshot.tree))
    assert "is not of the stored tree" in _refused_at_open(open_store, store_url, other_tree, snapshot.size).message


@pytest.mark.spec("9.1-i", "5.8-i")
def test_a_tagged_snapshot_whose_status_tree_is_not_the_state_leafs_is_refused(
    open_store: OpenStore, store_url: str
) -> None:
    sequencer, _ = _grown_log(open_store)
    snapshot = _snapshot_of(sequencer)
    key, value = next(snapshot.tree.items())
    changed = snapshot.tree.set(key, value[:-1] + bytes([value[-1] ^ 1]))  # another commitment
    data = _tagged(Snapshot(snapshot.size, snapshot.root_hash, snapshot.state, changed))
    assert "state leaf" in _refused_at_open(open_store, store_url, data, snapshot.size).message


@pytest.mark.spec("9.1-i")
def test_a_tagged_snapshot_whose_members_disagree_with_its_status_tree_is_refused(
    open_store: OpenStore, store_url: str
) -> None:
    sequencer, _ = _grown_log(open_store)
    snapshot = _snapshot_of(sequencer)
    state = snapshot.state
    member_id, member = next(iter(state.members.items()))
    members = state.members.set(member_id, replace(member, commitment=b"\x03" * 32))
    changed = Snapshot(snapshot.size, snapshot.root_hash, replace(state, members=members), snapshot.tree)
    refused = _refused_at_open(open_store, store_url, _tagged(changed), snapshot.size)
    assert "disagrees with its state" in refused.message


@pytest.mark.spec("9.1-i")
def test_a_tagged_snapshot_that_would_build_other_objects_is_refused_without_running_them(
    open_store: OpenStore, store_url: str
) -> None:
    sequencer, _ = _grown_log(open_store)
    good = _tagged(_snapshot_of(sequencer))
    magic = good[: good.index(b"\n") + 1]
    (length,) = struct.unpack(">I", good[len(magic) + 32 : len(magic) + 36])
    header = good[len(magic) + 36 : len(magic) + 36 + length]

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("a snapshot ran code",))

    signed = struct.pack(">I", len(header)) + header + pickle.dumps(Boom())
    data = magic + hmac.new(snapshot_key(log_signer()), signed, hashlib.sha256).digest() + signed
    with pytest.raises(StoreMismatch) as info:
        open_snapshot(snapshot_key(log_signer()), ORIGIN, data)
    assert "malformed" in info.value.message


def test_a_snapshot_of_another_origin_is_refused(open_store: OpenStore) -> None:
    sequencer, _ = _grown_log(open_store)
    data = _tagged(_snapshot_of(sequencer))
    with pytest.raises(StoreMismatch):
        open_snapshot(snapshot_key(log_signer()), "other.example/log", data)


# --- writing snapshots --------------------------------------------------------------------------------


@pytest.mark.spec("9.1-i")
def test_the_sequencer_writes_a_snapshot_in_the_background_once_due(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Sequencer, "SNAPSHOT_EVERY", 4)
    sequencer, community = _new_log(open_store)
    store = open_store()
    sequencer.submit_batch(_declares(community, 0, 4))  # size 7 > 4: due
    for _ in range(500):  # bounded wait for the background thread
        with sequencer._lock:
            if not sequencer._snapshotting:
                break
        time.sleep(0.01)
    stored = store.snapshot()
    assert stored is not None and stored[0] == sequencer.size
    again = Sequencer.open(open_store(writable=False), log_signer(), ManualClock())
    assert again.replayed_from == sequencer.size and again.state == sequencer.state


def test_put_snapshot_refuses_a_size_above_the_tree_and_keeps_a_larger_one(open_store: OpenStore) -> None:
    sequencer, _ = _grown_log(open_store)
    store = open_store()
    with pytest.raises(StoreMismatch):
        store.put_snapshot(sequencer.size + 1, b"x")
    assert store.put_snapshot(sequencer.size, b"newer")
    assert not store.put_snapshot(sequencer.size - 1, b"older")
    assert store.snapshot() == (sequencer.size, b"newer")
    with pytest.raises(StoreUnavailable):
        open_store(writable=False).put_snapshot(1, b"x")


def test_a_snapshot_of_several_pieces_is_stored_byte_for_byte_and_replaced_whole(open_store: OpenStore) -> None:
    # SQLite writes the value in pieces of 4 MiB (registry.store.store._insert_in_pieces); PostgreSQL whole.
    sequencer, _ = _grown_log(open_store)
    store = open_store()
    large = hashlib.shake_256(b"a snapshot").digest((4 << 20) * 2 + 123)
    assert store.put_snapshot(sequencer.size - 1, large)
    assert store.snapshot() == (sequencer.size - 1, large)
    assert store.put_snapshot(sequencer.size, b"shorter")  # a newer, shorter value leaves nothing of the old
    assert store.snapshot() == (sequencer.size, b"shorter")


def test_a_store_without_the_snapshot_table_has_no_snapshot(open_store: OpenStore) -> None:
    _grown_log(open_store)
    assert open_store().snapshot() is None


def test_load_log_without_a_key_ignores_the_snapshot(open_store: OpenStore, store_url: str) -> None:
    sequencer, _ = _grown_log(open_store)
    _store_snapshot(store_url, b"not a snapshot", sequencer.size)
    assert load_log(open_store()).replayed_from == 0
    with pytest.raises(StoreMismatch):
        Sequencer.open(open_store(), log_signer(), ManualClock())


# --- the row check without parsing ------------------------------------------------------------------


def test_leaf_columns_agree_with_the_parsed_leaf_for_every_leaf(open_store: OpenStore) -> None:
    sequencer, _ = _grown_log(open_store)
    for index, leaf in enumerate(sequencer.leaves(0, sequencer.size)):
        parsed = parse_log_leaf(leaf)
        if isinstance(parsed, StateLeaf):
            expected = (parsed.index, parsed.logged_ms, state_payload_hash(leaf))
        else:
            expected = (parsed.index, parsed.logged_ms, parsed.entry.payload_hash)
        assert parsed.index == index
        assert leaf_columns(leaf) == expected


def test_leaf_columns_give_none_for_other_shapes() -> None:
    assert leaf_columns(b"") is None
    assert leaf_columns(b'{"entry":{"signatures":[]}}') is None
    assert leaf_columns(b'{"index":1,"logged_ms":x,"state":{}}') is None
    assert leaf_columns(b'{"entry":{"signatures":[],"statement":{}},"index":1,"logged_ms":+2}') is None
