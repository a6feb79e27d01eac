"""Tamper any byte (issue 7 item 5; scripts/tamper.py --tampers 100): `registry audit --data DIR`
detects every single-byte change to stored leaves, tree nodes, checkpoints, the columns derived from
the leaves and the meta row, names the first bad index, checkpoint or meta column, and raises no false
alarm on the clean log (protocol §8.2, §5.6-h).

Also the targeted cases of the data-directory audit's own checks (`registry.store_audit`): a stored tree
node that differs from the one recomputed from the leaves, a missing node, and a checkpoint row that does
not verify at its own size.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from crypto.checkpoint import Checkpoint, format_checkpoint, open_checkpoint, sign_checkpoint
from crypto.note import format_note
from crypto.notekey import parse_vkey
from registry.audit import AuditCheck, AuditReport
from registry.datadir import DB_FILE, open_data_dir
from registry.store import Store
from registry.store_audit import audit_store
from tests.reliability import load_script

tamper = load_script("tamper")

TAMPERS = 100
ENTRIES = 200


@pytest.fixture(name="clean", scope="module")
def clean_fixture(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A data directory with a synthetic log of about 200 leaves (built once for the module)."""
    return tamper.build_log(tmp_path_factory.mktemp("tamper") / "clean", ENTRIES, 3)


def _copy(clean: Any, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(clean.path, target)
    return target


def _audit(path: Path) -> AuditReport:
    data = open_data_dir(path)
    with Store.open(data.database_url({}), writable=False) as store:
        return audit_store(store, parse_vkey(data.config.log_vkey))


def _sql(path: Path, statement: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path / DB_FILE) as conn:
        rows = conn.execute(statement, params).fetchall()
    conn.close()
    return rows


@pytest.mark.spec("8.2-a", "8.2-b", "8.2-g", "5.6-h")
def test_every_single_byte_tamper_is_detected_and_named(tmp_path: Path) -> None:
    report = tamper.run_tampers(tmp_path, tampers=TAMPERS, entries=ENTRIES, seed=3)
    assert report.clean_ok, "false alarm on the clean log"
    assert report.missed == [], "\n".join(report.lines())
    assert report.misnamed == [], "\n".join(report.lines())
    made = {v.tamper.category for v in report.verdicts}
    assert {"entry_leaf", "tree_node", "checkpoint", "payload_hash", "logged_ms", "meta_row"} <= made
    if report.rows.get("state_leaf"):
        assert "state_leaf" in made


def test_the_clean_log_audits_ok(clean: Any) -> None:
    report = _audit(clean.path)
    assert report.ok, report.message
    assert report.size == clean.size


@pytest.mark.spec("5.6-h")
@pytest.mark.parametrize(("level", "index"), [(0, 0), (0, 77), (1, 5), (3, 2), (6, 1)])
def test_a_changed_tree_node_is_named_by_the_first_leaf_it_covers(
    clean: Any, tmp_path: Path, level: int, index: int
) -> None:
    path = _copy(clean, tmp_path)
    ((value,),) = _sql(path, 'SELECT hash FROM tree_nodes WHERE level = ? AND "index" = ?', level, index)
    changed = bytes([value[0] ^ 0x01]) + value[1:]
    _sql(path, 'UPDATE tree_nodes SET hash = ? WHERE level = ? AND "index" = ?', changed, level, index)
    report = _audit(path)
    assert not report.ok
    assert report.check is AuditCheck.TREE_NODE
    assert report.code == "audit_mismatch"
    assert report.first_bad_index == index << level
    assert f"({level}, {index})" in (report.message or "")


def test_a_missing_tree_node_is_named(clean: Any, tmp_path: Path) -> None:
    path = _copy(clean, tmp_path)
    _sql(path, 'DELETE FROM tree_nodes WHERE level = 2 AND "index" = 4')
    report = _audit(path)
    assert not report.ok and report.check is AuditCheck.TREE_NODE
    assert report.first_bad_index == 4 << 2


@pytest.mark.spec("8.2-b")
def test_a_checkpoint_that_does_not_verify_is_named_by_its_row(clean: Any, tmp_path: Path) -> None:
    path = _copy(clean, tmp_path)
    size = clean.checkpoint_sizes[len(clean.checkpoint_sizes) // 2]
    ((note,),) = _sql(path, "SELECT note FROM checkpoints WHERE size = ?", size)
    changed = bytes(note).replace(b"\n\n", b"\n\n ", 1)
    _sql(path, "UPDATE checkpoints SET note = ? WHERE size = ?", changed, size)
    report = _audit(path)
    assert not report.ok
    assert report.check is AuditCheck.CHECKPOINT_SIGNATURE
    assert report.bad_checkpoint_size == size


@pytest.mark.spec("8.2-b")
def test_a_checkpoint_row_holding_another_size_is_named(clean: Any, tmp_path: Path) -> None:
    """A note signed by the log for one size, stored in the row of another: it verifies, but not there."""
    path = _copy(clean, tmp_path)
    sizes = clean.checkpoint_sizes
    ((note,),) = _sql(path, "SELECT note FROM checkpoints WHERE size = ?", sizes[1])
    _sql(path, "UPDATE checkpoints SET note = ? WHERE size = ?", note, sizes[2])
    report = _audit(path)
    assert not report.ok
    assert report.check is AuditCheck.CHECKPOINT_SIZE
    assert report.bad_checkpoint_size == sizes[2]


def test_the_cli_names_a_changed_node(clean: Any, tmp_path: Path) -> None:
    path = _copy(clean, tmp_path)
    _sql(path, 'UPDATE tree_nodes SET hash = ? WHERE level = 1 AND "index" = 9', b"\x00" * 32)
    code, report = tamper.audit(path)
    assert code == 1
    failure = report["failure"]
    assert failure["check"] == "tree_node" and failure["index"] == 18


def test_a_forged_checkpoint_for_the_right_size_with_another_root_is_caught_by_the_replay(
    clean: Any, tmp_path: Path
) -> None:
    """Signed by the log key (a stolen key): the row check passes, the replay's root check names it."""
    path = _copy(clean, tmp_path)
    data = open_data_dir(path)
    size = clean.checkpoint_sizes[3]
    ((note,),) = _sql(path, "SELECT note FROM checkpoints WHERE size = ?", size)
    cp, _ = open_checkpoint(bytes(note), parse_vkey(data.config.log_vkey))
    forged = format_note(sign_checkpoint(Checkpoint(cp.origin, size, b"\x07" * 32), data.signer()))
    assert format_checkpoint(cp) != format_checkpoint(Checkpoint(cp.origin, size, b"\x07" * 32))
    _sql(path, "UPDATE checkpoints SET note = ? WHERE size = ?", forged, size)
    report = _audit(path)
    assert not report.ok
    assert report.check is AuditCheck.CHECKPOINT_ROOT
    assert report.bad_checkpoint_size == size and report.first_bad_index == size - 1
