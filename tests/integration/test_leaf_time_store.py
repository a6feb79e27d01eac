"""A stored log whose batch gives one entry another log time (protocol §8.2-h): an operator that rewrote its
leaves, tree nodes and checkpoints consistently is still caught, by `registry audit --data` (check
`leaf_time`, code `bad_time`, at that leaf) and by a sequencer that opens the store (§5.6-h). Runs on
SQLite and on PostgreSQL (skipped with a message when REGISTRY_TEST_POSTGRES_URL is unset)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.merkle import MerkleTree, hash_leaves
from crypto.nodestore import MemoryNodeStore
from crypto.note import format_note
from registry.audit import AuditCheck
from registry.errors import ErrorCode
from registry.sequencer import load_log
from registry.statements import format_leaf, parse_leaf
from registry.statetree import StateLeaf, parse_log_leaf, state_payload_hash
from registry.store import Append, Store, StoredEntry, StoreMismatch
from registry.store_audit import audit_store
from tests.credfactory import log_signer
from tests.factory import ORIGIN, T0, Log, key
from tests.integration.logdata import open_store_fixture, store_url_fixture  # noqa: F401 - fixtures

OpenStore = Callable[..., Store]
BATCH_MS = T0 + 3_600_000
BAD_INDEX = 4
"""The second of three entries of the batch [3, 7) (its state leaf at 6)."""


def _leaves() -> list[bytes]:
    log = Log.standard()
    log.submit(log.declare(key(11), key(1)))
    entries = (log.declare(key(12), key(1)), log.vouch(key(2), key(11)), log.declare(key(13), key(2)))
    for entry in entries:
        log.now_ms = BATCH_MS  # one batch, one log time
        log.submit(entry)
    log.seal()
    return log.leaves


def _row(data: bytes) -> StoredEntry:
    leaf = parse_log_leaf(data)
    if isinstance(leaf, StateLeaf):
        return StoredEntry(leaf.index, data, state_payload_hash(data), leaf.logged_ms)
    return StoredEntry(leaf.index, data, leaf.entry.payload_hash, leaf.logged_ms)


def _store(open_store: OpenStore, leaves: list[bytes]) -> Store:
    """A store holding `leaves`, one batch per state leaf, with the tree nodes and a checkpoint signed by
    the log's key for each, as an operator that rewrote its log would write them."""
    store = open_store()
    signer = log_signer(ORIGIN)
    store.initialize(ORIGIN, signer.vkey)
    nodes = MemoryNodeStore()
    size = 0
    batch: list[bytes] = []
    for data in leaves:
        batch.append(data)
        if not isinstance(parse_log_leaf(data), StateLeaf):
            continue
        extension = MerkleTree(nodes, size).extend(hash_leaves(batch))
        note = format_note(sign_checkpoint(Checkpoint(ORIGIN, extension.tree_size, extension.root_hash), signer))
        store.append(Append(size, tuple(_row(x) for x in batch), extension.runs, note))
        size, batch = extension.tree_size, []
    return store


def _with_time(leaves: list[bytes], index: int, logged_ms: int) -> list[bytes]:
    changed = list(leaves)
    changed[index] = format_leaf(index, logged_ms, parse_leaf(leaves[index]).entry)
    return changed


@pytest.mark.spec("8.2-h", "8.2-g")
def test_the_audit_of_a_clean_store_passes(open_store: OpenStore) -> None:
    store = _store(open_store, _leaves())
    report = audit_store(store, log_signer(ORIGIN).verifier)
    assert report.ok, report.message
    assert load_log(store).size == 7


@pytest.mark.spec("8.2-h", "8.2-g", "5.6-h")
def test_a_rewritten_leaf_time_is_named_by_the_audit_and_refused_at_start(open_store: OpenStore) -> None:
    store = _store(open_store, _with_time(_leaves(), BAD_INDEX, BATCH_MS + 60_000))
    report = audit_store(store, log_signer(ORIGIN).verifier)
    assert not report.ok
    assert (report.check, report.code, report.first_bad_index) == (AuditCheck.LEAF_TIME, "bad_time", BAD_INDEX)
    with pytest.raises(StoreMismatch) as refused:
        load_log(store)
    assert refused.value.code is ErrorCode.AUDIT_MISMATCH
    assert f"index {BAD_INDEX}" in refused.value.message and "bad_time" in refused.value.message
