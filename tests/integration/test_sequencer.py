"""The sequencer on SQLite and PostgreSQL: admission, batches, receipts, restart checks, injected
failures before and after commit, and two sequencers on one database (protocol §5.6)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from crypto.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint, sign_checkpoint
from crypto.merkle import MerkleTree, leaf_hash
from crypto.nodestore import MemoryNodeStore
from crypto.note import format_note, parse_note
from crypto.notekey import NoteSigner
from crypto.proof import verify_consistency, verify_inclusion
from registry.errors import ErrorCode, RegistryError, Rejected, Rejection
from registry.sequencer import Receipt, Sequencer, init_log, load_log
from registry.statements import Params, format_leaf, parse_entry, parse_leaf
from registry.statetree import StateLeaf, parse_log_leaf, parse_state_leaf
from registry.store import STEPS, LogExists, NoLog, Store, StoreMismatch, WriteConflict
from registry.store.models import CHECKPOINTS, ENTRIES, META, NODES
from tests.integration.logdata import (
    ORIGIN,
    T0,
    Community,
    ManualClock,
    declare_entry,
    genesis_entry,
    key,
    log_signer,
    open_store_fixture,  # noqa: F401 - fixture
    revoke_entry,
    store_url_fixture,  # noqa: F401 - fixture
    vouch_entry,
)
from tests.integration.test_store import FailOnce, InjectedFault

OpenStore = Callable[..., Store]
DAY_MS = 86_400_000
# Generous quotas so that a few founders can sponsor many members in one test.
BUSY = Params(vouch_threshold=1, vouch_quota=10_000, rate_limit_per_day=100_000, max_pending_vouchees=1000)


def _genesis(community: Community, params: Params | None = None) -> bytes:
    return genesis_entry(list(community.founders), list(community.council), params=params)


def _new_log(open_store: OpenStore, *, params: Params | None = None, **kwargs: object) -> tuple[Sequencer, Community]:
    community = Community.make()
    store = open_store(**kwargs)
    sequencer, receipt = init_log(store, log_signer(), ManualClock(), _genesis(community, params))
    assert receipt.index == 0
    return sequencer, community


def _declares(community: Community, start: int, count: int) -> list[bytes]:
    founders = community.founders
    return [declare_entry(Community.member(i), founders[i % len(founders)]) for i in range(start, start + count)]


def _check_receipt(sequencer: Sequencer, receipt: Receipt) -> None:
    cp, _ = open_checkpoint(receipt.checkpoint, log_signer().verifier, origin=ORIGIN)
    verify_inclusion(receipt.leaf_hash, receipt.index, cp.size, receipt.inclusion_proof, cp.root_hash)
    assert leaf_hash(sequencer.leaf(receipt.index)) == receipt.leaf_hash


def _raw(store_url: str) -> sa.Engine:
    return sa.create_engine(store_url)


# --- admission and receipts ---------------------------------------------------------------------------


@pytest.mark.spec("5.6-d", "5.6-i", "5.8-i")
def test_genesis_and_a_batch_get_receipts_that_verify(open_store: OpenStore) -> None:
    sequencer, community = _new_log(open_store)
    # The genesis is sealed by a state leaf: leaves 0 and 1, the first checkpoint of size 2.
    assert sequencer.size == 2 and isinstance(parse_log_leaf(sequencer.leaf(1)), StateLeaf)
    results = sequencer.submit_batch(_declares(community, 0, 3))
    assert [r.index for r in results if isinstance(r, Receipt)] == [2, 3, 4]
    for receipt in results:
        assert isinstance(receipt, Receipt)
        _check_receipt(sequencer, receipt)
    assert sequencer.size == 6
    assert sequencer.latest_checkpoint == results[0].checkpoint  # type: ignore[union-attr]
    assert sequencer.state is not None and sequencer.state.size == 6
    # The batch ends with a state leaf holding the status tree root after its entries.
    sealed = parse_state_leaf(sequencer.leaf(5))
    assert sealed.index == 5 and sealed.root == sequencer.status_tree.root
    assert sealed.logged_ms == parse_leaf(sequencer.leaf(4)).logged_ms


@pytest.mark.spec("5.6-a", "5.6-b")
def test_leaf_wraps_the_entry_with_its_tree_position_and_log_time(open_store: OpenStore) -> None:
    sequencer, community = _new_log(open_store)
    raw = _declares(community, 0, 1)[0]
    receipt = sequencer.submit(raw)
    assert isinstance(receipt, Receipt)
    leaf = parse_leaf(sequencer.leaf(receipt.index))
    assert leaf.index == receipt.index == 2
    assert sequencer.leaf(2) == format_leaf(2, leaf.logged_ms, parse_entry(raw))


@pytest.mark.spec("5.6-j")
def test_a_rejected_entry_does_not_advance_the_batch(open_store: OpenStore) -> None:
    sequencer, community = _new_log(open_store, params=BUSY)
    first, second = _declares(community, 0, 2)
    stranger = declare_entry(Community.member(90), Community.member(91))  # sponsor is no member
    results = sequencer.submit_batch([first, stranger, first, b"{not json", second])
    assert isinstance(results[0], Receipt) and results[0].index == 2
    assert isinstance(results[1], Rejection) and results[1].code is ErrorCode.UNKNOWN_MEMBER
    assert isinstance(results[2], Rejection) and results[2].code is ErrorCode.DUPLICATE_ENTRY
    assert isinstance(results[3], Rejection) and results[3].code is ErrorCode.MALFORMED_ENCODING
    assert isinstance(results[4], Receipt) and results[4].index == 3
    assert results[0].checkpoint == results[4].checkpoint
    assert sequencer.size == 5  # and the state leaf at 4


@pytest.mark.spec("5.6-f", "5.6-j")
def test_one_batch_signs_one_checkpoint_and_shares_one_log_time(open_store: OpenStore) -> None:
    sequencer, community = _new_log(open_store, params=BUSY)
    before = len(list(sequencer._store.iter_checkpoints()))
    results = sequencer.submit_batch(_declares(community, 0, 5))
    assert len({r.checkpoint for r in results if isinstance(r, Receipt)}) == 1
    assert len(list(sequencer._store.iter_checkpoints())) == before + 1
    times = {parse_log_leaf(leaf).logged_ms for leaf in sequencer.leaves(2, 8)}  # 5 entries, 1 state leaf
    assert len(times) == 1


@pytest.mark.spec("5.6-c")
def test_log_time_never_decreases_when_the_clock_goes_back(open_store: OpenStore) -> None:
    clock = ManualClock(T0 + 5000)
    community = Community.make()
    sequencer, _ = init_log(open_store(), log_signer(), clock, _genesis(community, BUSY))
    clock.now = T0 + 1000  # the clock steps back
    receipt = sequencer.submit(_declares(community, 0, 1)[0])
    assert isinstance(receipt, Receipt)
    assert parse_leaf(sequencer.leaf(2)).logged_ms == T0 + 5000
    clock.now = T0 + 9000
    sequencer.submit(_declares(community, 1, 1)[0])
    assert parse_leaf(sequencer.leaf(4)).logged_ms == T0 + 9000


def test_a_batch_of_rejections_writes_nothing_and_signs_nothing(open_store: OpenStore) -> None:
    sequencer, community = _new_log(open_store)
    head = sequencer.latest_checkpoint
    results = sequencer.submit_batch([community.genesis(), b"", revoke_entry(Community.member(5))])
    assert [r.code for r in results if isinstance(r, Rejection)] == [
        ErrorCode.DUPLICATE_ENTRY,
        ErrorCode.MALFORMED_ENCODING,
        ErrorCode.UNKNOWN_MEMBER,
    ]
    assert sequencer.size == 2 and sequencer.latest_checkpoint == head
    assert [s for s, _ in sequencer._store.iter_checkpoints()] == [2]
    assert sequencer.submit_batch([]) == []


def test_validate_is_a_dry_run(open_store: OpenStore) -> None:
    sequencer, community = _new_log(open_store)
    entry = _declares(community, 0, 1)[0]
    assert sequencer.validate(entry) is None
    assert sequencer.size == 2
    sequencer.submit(entry)
    rejection = sequencer.validate(entry)
    assert rejection is not None and rejection.code is ErrorCode.DUPLICATE_ENTRY
    assert sequencer.validate(b"[]") is not None


def test_proofs_and_ranges_match_an_in_memory_tree(open_store: OpenStore) -> None:
    sequencer, community = _new_log(open_store, params=BUSY)
    for start, count in ((0, 1), (1, 6), (7, 2), (9, 13)):
        sequencer.submit_batch(_declares(community, start, count))
    size = sequencer.size
    leaves = sequencer.leaves(0, size)
    memory = MerkleTree(MemoryNodeStore(), 0)
    memory.extend(leaf_hash(leaf) for leaf in leaves)
    assert sequencer.root_hash == memory.root()
    for index, tree_size in ((0, 1), (3, 8), (7, 8), (20, size), (0, size)):
        assert sequencer.inclusion_proof(index, tree_size) == memory.inclusion_proof(index, tree_size)
    for old in (1, 2, 8, 10, size):
        proof = sequencer.consistency_proof(old, size)
        assert proof == memory.consistency_proof(old, size)
        verify_consistency(old, size, memory.root(old), memory.root(), proof)
    # Checkpoints at 2, 4, 11, 14 and 28: each batch adds its entries and a state leaf.
    assert sequencer.checkpoint(11) is not None and sequencer.checkpoint(5) is None
    assert sequencer.checkpoint(size + 1) is None
    for bad in (lambda: sequencer.leaf(size), lambda: sequencer.leaves(2, size + 1),
                lambda: sequencer.inclusion_proof(size, size), lambda: sequencer.consistency_proof(2, size + 1),
                lambda: sequencer.leaves(3, 2)):
        with pytest.raises(RegistryError) as info:
            bad()
        assert info.value.code is ErrorCode.NOT_FOUND


# --- genesis ----------------------------------------------------------------------------------------------


@pytest.mark.spec("5.6-i")
def test_init_refuses_a_bad_genesis_and_leaves_an_empty_log(open_store: OpenStore) -> None:
    community = Community.make()
    store = open_store()
    other = genesis_entry(list(community.founders), list(community.council), origin="other.example/log")
    with pytest.raises(Rejected) as info:
        init_log(store, log_signer(), ManualClock(), other)
    assert info.value.code is ErrorCode.WRONG_ORIGIN
    with pytest.raises(Rejected) as info:
        init_log(store, log_signer(), ManualClock(), _declares(community, 0, 1)[0])
    assert info.value.code is ErrorCode.NOT_GENESIS
    assert store.tree_size() == 0 and store.latest_checkpoint() is None
    sequencer, receipt = init_log(store, log_signer(), ManualClock(), community.genesis())
    assert receipt.index == 0 and sequencer.size == 2


@pytest.mark.spec("5.6-i")
def test_init_refuses_a_database_that_holds_a_log(open_store: OpenStore) -> None:
    sequencer, community = _new_log(open_store)
    with pytest.raises(LogExists):
        init_log(open_store(), log_signer(label="intruder"), ManualClock(), community.genesis())
    assert load_log(sequencer._store).size == 2


def test_open_refuses_a_database_without_a_log(open_store: OpenStore) -> None:
    with pytest.raises(NoLog):
        Sequencer.open(open_store(), log_signer(), ManualClock())


# --- restart ----------------------------------------------------------------------------------------------


@pytest.mark.spec("5.6-h")
def test_reopen_replays_to_the_same_state_and_root(open_store: OpenStore) -> None:
    sequencer, community = _new_log(open_store)
    sequencer.submit_batch(_declares(community, 0, 2))
    sequencer.submit(vouch_entry(community.founders[2], Community.member(0)))
    again = Sequencer.open(open_store(), log_signer(), ManualClock())
    assert (again.size, again.root_hash, again.latest_checkpoint) == (
        sequencer.size,
        sequencer.root_hash,
        sequencer.latest_checkpoint,
    )
    assert again.state == sequencer.state


@pytest.mark.spec("5.6-h")
def test_open_refuses_another_signing_key(open_store: OpenStore) -> None:
    _new_log(open_store)
    with pytest.raises(StoreMismatch) as info:
        Sequencer.open(open_store(), log_signer(label="other"), ManualClock())
    assert info.value.code is ErrorCode.AUDIT_MISMATCH


def _tamper_leaf(conn: sa.Connection) -> None:
    leaf = bytes(conn.execute(sa.select(ENTRIES.c.leaf).where(ENTRIES.c.index == 2)).scalar_one())
    flipped = leaf.replace(b'"logged_ms":', b'"logged_ms":1')  # a valid leaf with another log time
    conn.execute(ENTRIES.update().where(ENTRIES.c.index == 2).values(leaf=flipped))


def _tamper_signature_byte(conn: sa.Connection) -> None:
    leaf = bytes(conn.execute(sa.select(ENTRIES.c.leaf).where(ENTRIES.c.index == 2)).scalar_one())
    at = leaf.index(b'"sig":"') + 10
    changed = leaf[:at] + (b"A" if leaf[at : at + 1] != b"A" else b"B") + leaf[at + 1 :]
    conn.execute(ENTRIES.update().where(ENTRIES.c.index == 2).values(leaf=changed))


def _tamper_node(level: int, index: int) -> Callable[[sa.Connection], None]:
    def tamper(conn: sa.Connection) -> None:
        conn.execute(NODES.update().where(NODES.c.level == level, NODES.c.index == index).values(hash=b"\x00" * 32))

    tamper.__name__ = f"_tamper_node_{level}_{index}"
    return tamper


def _tamper_missing_node(conn: sa.Connection) -> None:
    conn.execute(NODES.delete().where(NODES.c.level == 1, NODES.c.index == 1))


def _tamper_checkpoint_root(conn: sa.Connection) -> None:
    size = conn.execute(sa.select(sa.func.max(CHECKPOINTS.c.size))).scalar_one()
    forged = format_note(sign_checkpoint(Checkpoint(ORIGIN, size, b"\x01" * 32), log_signer()))
    conn.execute(CHECKPOINTS.update().where(CHECKPOINTS.c.size == size).values(note=forged))


def _tamper_checkpoint_key(conn: sa.Connection) -> None:
    row = conn.execute(sa.select(CHECKPOINTS.c.size, CHECKPOINTS.c.note).order_by(CHECKPOINTS.c.size.desc())).first()
    assert row is not None
    size, note = row
    cp = parse_checkpoint(parse_note(bytes(note)).text)
    forged = format_note(sign_checkpoint(cp, NoteSigner(ORIGIN, key("other"))))
    conn.execute(CHECKPOINTS.update().where(CHECKPOINTS.c.size == size).values(note=forged))


def _tamper_tree_size(conn: sa.Connection) -> None:
    conn.execute(META.update().values(tree_size=META.c.tree_size - 1))


def _tamper_missing_leaf(conn: sa.Connection) -> None:
    conn.execute(ENTRIES.delete().where(ENTRIES.c.index == 2))


def _tamper_missing_checkpoint(conn: sa.Connection) -> None:
    conn.execute(CHECKPOINTS.delete())


STORE_TAMPERS: list[Callable[[sa.Connection], None]] = [
    _tamper_leaf,
    _tamper_signature_byte,
    _tamper_node(0, 1),  # a leaf hash
    _tamper_node(1, 0),  # an interior node no proof of the latest size reads
    _tamper_node(2, 0),  # the root of the size-4 tree
    _tamper_missing_node,
    _tamper_checkpoint_root,
    _tamper_checkpoint_key,
    _tamper_tree_size,
    _tamper_missing_leaf,
    _tamper_missing_checkpoint,
]
"""Changes to the log that `_new_log` and three declarations store, each of which `Sequencer.open` must
refuse; tests/integration/test_startup_snapshot.py makes them under a start-up snapshot too."""


@pytest.mark.spec("5.6-h")
@pytest.mark.parametrize("tamper", STORE_TAMPERS, ids=lambda f: f.__name__.removeprefix("_tamper_"))
def test_open_refuses_a_store_that_disagrees_with_itself(
    open_store: OpenStore, store_url: str, tamper: Callable[[sa.Connection], None]
) -> None:
    sequencer, community = _new_log(open_store)
    sequencer.submit_batch(_declares(community, 0, 3))
    engine = _raw(store_url)
    with engine.begin() as conn:
        tamper(conn)
    engine.dispose()
    with pytest.raises(StoreMismatch) as info:
        Sequencer.open(open_store(), log_signer(), ManualClock())
    assert info.value.code is ErrorCode.AUDIT_MISMATCH


# --- injected failures (issue 7 item 2) ------------------------------------------------------------------


@pytest.mark.spec("5.6-d")
@pytest.mark.parametrize("step", STEPS)
def test_failure_before_commit_changes_nothing_and_a_retry_succeeds(open_store: OpenStore, step: str) -> None:
    faults = FailOnce()
    sequencer, community = _new_log(open_store, faults=faults, params=BUSY)
    state, size, head = sequencer.state, sequencer.size, sequencer.latest_checkpoint
    batch = _declares(community, 0, 3)
    faults.before = step
    with pytest.raises(InjectedFault):
        sequencer.submit_batch(batch)
    assert sequencer.state is state and sequencer.size == size and sequencer.latest_checkpoint == head
    reopened = Sequencer.open(open_store(), log_signer(), ManualClock())
    assert reopened.size == size
    results = sequencer.submit_batch(batch)
    assert [r.index for r in results if isinstance(r, Receipt)] == [2, 3, 4]
    for receipt in results:
        _check_receipt(sequencer, receipt)  # type: ignore[arg-type]


@pytest.mark.spec("5.6-d")
def test_failure_after_commit_keeps_the_batch_for_a_restarted_sequencer(open_store: OpenStore) -> None:
    faults = FailOnce()
    sequencer, community = _new_log(open_store, faults=faults)
    entry = _declares(community, 0, 1)[0]
    faults.after = "append"
    with pytest.raises(InjectedFault):
        sequencer.submit(entry)
    reopened = Sequencer.open(open_store(), log_signer(), ManualClock())
    assert reopened.size == 4
    assert parse_leaf(reopened.leaf(2)).entry == parse_entry(entry)
    # The sequencer that saw the failure catches up before its next write: a resubmission is a duplicate.
    again = sequencer.submit(entry)
    assert isinstance(again, Rejection) and again.code is ErrorCode.DUPLICATE_ENTRY
    assert sequencer.size == 4 and sequencer.root_hash == reopened.root_hash
    assert sequencer.status_tree.root == reopened.status_tree.root
    receipt = sequencer.submit(_declares(community, 1, 1)[0])
    assert isinstance(receipt, Receipt) and receipt.index == 4


# --- two sequencers on one database (issue 7 item 3) ----------------------------------------------------


def _checkpoint_sizes(store_url: str) -> list[int]:
    engine = _raw(store_url)
    with engine.connect() as conn:
        sizes = [int(s) for s in conn.execute(sa.select(CHECKPOINTS.c.size).order_by(CHECKPOINTS.c.size)).scalars()]
    engine.dispose()
    return sizes


@pytest.mark.spec("5.6-g", "5.6-f")
def test_the_second_sequencer_fails_without_writing(open_store: OpenStore, store_url: str) -> None:
    first, community = _new_log(open_store)
    second = Sequencer.open(open_store(), log_signer(), ManualClock())
    mine, theirs = _declares(community, 0, 2)
    assert isinstance(first.submit(mine), Receipt)
    with pytest.raises(WriteConflict) as info:
        second.submit(theirs)
    assert info.value.code is ErrorCode.UNAVAILABLE
    with pytest.raises(WriteConflict):  # it stays fenced: restart it to take over
        second.submit(theirs)
    assert second.size == 2
    log = load_log(open_store())
    assert log.size == 4 and log.state is not None
    assert log.state.member(Community.member(0).public_key) is not None
    assert log.state.member(Community.member(1).public_key) is None
    assert _checkpoint_sizes(store_url) == [2, 4]


@pytest.mark.spec("5.6-g", "5.6-f")
def test_two_concurrent_sequencers_never_fork_the_log(open_store: OpenStore, store_url: str) -> None:
    _, community = _new_log(open_store, params=BUSY)
    sequencers = [Sequencer.open(open_store(), log_signer(), ManualClock()) for _ in range(2)]
    receipts: list[list[Receipt]] = [[], []]
    conflicts = [0, 0]
    barrier = threading.Barrier(2)

    def run(worker: int) -> None:
        barrier.wait()
        for batch in range(20):
            entries = _declares(community, 1000 * worker + 10 * batch, 3)
            try:
                results = sequencers[worker].submit_batch(entries)
            except WriteConflict:
                conflicts[worker] += 1
                return
            receipts[worker].extend(r for r in results if isinstance(r, Receipt))

    threads = [threading.Thread(target=run, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = load_log(open_store())  # replays and checks leaves, nodes and the latest checkpoint
    every = receipts[0] + receipts[1]
    assert sum(conflicts) >= 1  # at most one sequencer can keep writing
    final = Sequencer.open(open_store(), log_signer(), ManualClock())
    indexes = {r.index for r in every}
    assert len(indexes) == len(every)
    sealed = set(range(2, log.size)) - indexes  # every other leaf is the state leaf of a batch of 3
    assert len(sealed) == len(every) // 3 and log.size == 2 + len(every) + len(sealed)
    assert all(isinstance(parse_log_leaf(final.leaf(i)), StateLeaf) for i in sealed)
    for receipt in every:
        assert leaf_hash(final.leaf(receipt.index)) == receipt.leaf_hash
        _check_receipt(final, receipt)
    sizes = _checkpoint_sizes(store_url)
    assert len(sizes) == len(set(sizes)) and sizes[-1] == log.size


@pytest.mark.spec("5.8-j", "5.8-i")
def test_open_refuses_a_state_leaf_whose_root_is_not_the_replayed_status_tree(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sequencer, community = _new_log(open_store)
    import registry.sequencer

    # A faulty sequencer that forgets to update the status tree: its state leaf holds a stale root,
    # while the leaves, nodes and checkpoint agree with each other.
    monkeypatch.setattr(registry.sequencer, "advance_status_tree", lambda tree, *args: tree)
    receipt = sequencer.submit(_declares(community, 0, 1)[0])
    assert isinstance(receipt, Receipt)
    monkeypatch.undo()
    with pytest.raises(StoreMismatch) as info:
        Sequencer.open(open_store(), log_signer(), ManualClock())
    assert info.value.code is ErrorCode.AUDIT_MISMATCH
    assert "index 3" in info.value.message
