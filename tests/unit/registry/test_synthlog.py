"""The synthetic log generator of the replay benchmark (scripts/synthlog.py): a small log audits clean."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from crypto.notekey import parse_vkey
from registry.audit import AuditCheck, audit
from registry.export import read_export
from registry.rules import Context, apply, genesis
from registry.state import Status
from registry.statements import Reason, Revoke, StatementType, VerifiedEntry, parse_leaf, verify_entry

ROOT = Path(__file__).resolve().parents[3]
ENTRIES = 600
SEED = b"test synthlog"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("synthlog", ROOT / "scripts" / "synthlog.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("synthlog", module)
    spec.loader.exec_module(module)
    return module


synthlog = _load()
# Rare actions weighted up, and log time stretched to 30 minutes an entry so that members outgrow the
# voucher minimum age of one day, so that 600 entries hold every kind, every revocation reason, a
# suspension and a cascade. (Every leaf of a batch of 256 has one log time, protocol §5.6-j, so no one
# vouches within the batch they joined in: a log of three batches.)
MIX = synthlog.Mix(unvouch=4.0, revoke_self=6.0, revoke_council=5.0, reinstate=3.0, rotate=5.0)
STEP_MS = 30 * 60_000


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Any]:
    path = tmp_path_factory.mktemp("synth") / "log.export"
    vkey, stats = synthlog.write_synthetic_export(path, ENTRIES, seed=SEED, founders=20, mix=MIX, step_ms=STEP_MS)
    return path, vkey, stats


def test_small_synthetic_log_audits_clean(export: tuple[Path, str, Any]) -> None:
    path, vkey, stats = export
    log = read_export(path)
    assert log.header.tree_size == ENTRIES
    assert log.header.log_vkey == vkey
    checkpoints = [note for _, note in log.checkpoints()]
    assert len(checkpoints) == 3  # at 256, 512 and the end
    report = audit(log.leaves(), checkpoints, parse_vkey(vkey), workers=1)
    assert report.ok, report
    assert report.size == ENTRIES
    assert dict(report.counts) == stats.counts
    assert stats.entries == ENTRIES - 3  # leaves 255, 511 and 599 are state leaves (protocol §5.8-i)
    assert not stats.rejected


def test_synthetic_log_has_every_statement_kind_and_reason(export: tuple[Path, str, Any]) -> None:
    path, _, stats = export
    kinds: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    signatures = 0
    for data in read_export(path).leaves():
        if data.startswith(b'{"index":'):  # a state leaf
            continue
        entry = parse_leaf(data).entry
        kinds[str(entry.type)] += 1
        signatures += len(entry.signatures)
        if isinstance(entry.statement, Revoke):
            reasons[str(entry.statement.reason)] += 1
    assert set(kinds) == {str(t) for t in StatementType}
    assert set(reasons) == {str(r) for r in Reason}
    assert kinds == stats.kinds
    assert signatures == stats.signatures
    assert stats.counts[str(Status.SUSPENDED)] > 0  # fraud strikes suspended a voucher
    assert stats.cascade_drops > 0  # members fell back to pending


def test_same_seed_gives_the_same_log_and_another_seed_another() -> None:
    one = [leaf for _, _, leaf in synthlog.SyntheticLog(SEED, founders=5).leaves(60)]
    two = [leaf for _, _, leaf in synthlog.SyntheticLog(SEED, founders=5).leaves(60)]
    other = [leaf for _, _, leaf in synthlog.SyntheticLog(b"other", founders=5).leaves(60)]
    assert one == two
    assert one[0] != other[0]
    assert len(one) == 60


def test_generated_entries_verify_and_replay_to_the_generator_state() -> None:
    log = synthlog.SyntheticLog(SEED, founders=5)
    leaves = [leaf for _, _, leaf in log.leaves(80)]
    state = None
    for data in leaves:
        leaf = parse_leaf(data)
        verified = verify_entry(leaf.entry, synthlog.SYNTH_ORIGIN)  # every signature is real
        if state is None:
            state = genesis(verified, Context(leaf.index, leaf.logged_ms))
        else:
            state = apply(state, VerifiedEntry(verified.entry), Context(leaf.index, leaf.logged_ms))
    assert state == log.state


def test_generator_parameters_are_the_documented_relaxed_ones() -> None:
    params = synthlog.SYNTH_PARAMS
    assert (params.voucher_min_age_days, params.vouch_quota) == (1, 1000)
    assert params.vouch_threshold == 2 and params.max_pending_vouchees == 2 and params.strike_limit == 2
    assert "voucher_min_age_days=1" in synthlog.describe_params()


@pytest.mark.parametrize("workers", [1, 2])
def test_audit_in_small_chunks_finds_a_bad_signature_in_order(
    export: tuple[Path, str, Any], monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """The parallel replay keeps a bounded window of chunks in flight and still reports in log order."""
    import registry.audit

    monkeypatch.setattr(registry.audit, "_CHUNK", 16)  # 600 leaves: 38 chunks, more than the window of 8
    path, vkey, _ = export
    log = read_export(path)
    leaves = list(log.leaves())
    checkpoints = [note for _, note in log.checkpoints()]
    clean = audit(leaves, checkpoints, parse_vkey(vkey), workers=workers)
    assert clean.ok, clean
    bad_index = 250
    leaf = leaves[bad_index]
    at = leaf.index(b'"sig":"') + len(b'"sig":"') + 40  # a base64 digit inside the first signature
    swapped = b"B" if leaf[at : at + 1] != b"B" else b"C"
    leaves[bad_index] = leaf[:at] + swapped + leaf[at + 1 :]
    report = audit(leaves, checkpoints, parse_vkey(vkey), workers=workers)
    assert not report.ok
    assert report.first_bad_index == bad_index
    assert report.check is AuditCheck.LEAF_SIGNATURE
    assert report.code == "bad_signature"
    assert report.size == bad_index
