"""The export file reader and writer (protocol §5.7), driven by tests/vectors/export/."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.checkpoint import open_checkpoint
from crypto.merkle import leaf_hash, root_from_leaf_hashes
from crypto.notekey import parse_vkey
from registry.errors import ErrorCode, RegistryError
from registry.export import (
    EXPORT_FORMAT,
    MAX_LINE_SIZE,
    ExportCheckpoint,
    ExportLeaf,
    read_export,
)
from registry.replay import replay

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "export"
CASES = sorted(p.stem for p in VECTORS.glob("*.json"))


def _case(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text("utf-8"))
    return case


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "log.export"
    path.write_bytes(text.encode("utf-8"))
    return path


def _read_all(path: Path) -> tuple[Any, list[bytes], list[int]]:
    export = read_export(path)
    leaves = list(export.leaves())
    sizes = [size for size, _ in export.checkpoints()]
    return export.header, leaves, sizes


def test_vectors_exist() -> None:
    assert "valid-three-entries" in CASES and len(CASES) >= 15


@pytest.mark.spec("5.7-a", "5.7-b")
@pytest.mark.parametrize("name", CASES)
def test_export_vector(name: str, tmp_path: Path) -> None:
    case = _case(name)
    path = _write(tmp_path, case["inputs"]["file"])
    if "expected_error" in case:
        with pytest.raises(RegistryError) as info:
            _read_all(path)
        assert info.value.code == case["expected_error"]
        return
    header, leaves, sizes = _read_all(path)
    expected = case["expected"]
    assert (header.origin, header.log_vkey, header.tree_size) == (
        expected["origin"],
        expected["log_vkey"],
        expected["tree_size"],
    )
    assert [hashlib.sha256(leaf).hexdigest() for leaf in leaves] == expected["leaf_sha256"]
    assert sizes == expected["checkpoint_sizes"]


@pytest.mark.spec("5.7-a")
def test_valid_export_replays_and_its_checkpoints_verify(tmp_path: Path) -> None:
    path = _write(tmp_path, _case("valid-three-entries")["inputs"]["file"])
    export = read_export(path)
    state = replay(export.leaves())
    assert state.size == export.header.tree_size == 6  # three entries, each sealed by a state leaf
    verifier = parse_vkey(export.header.log_vkey)
    hashes: list[bytes] = []
    for record in export.records():
        if isinstance(record, ExportLeaf):
            hashes.append(leaf_hash(record.leaf))
        else:
            assert isinstance(record, ExportCheckpoint)
            cp, _ = open_checkpoint(record.note, verifier, origin=export.header.origin)
            assert cp.size == record.size == len(hashes)
            assert cp.root_hash == root_from_leaf_hashes(hashes)


@pytest.mark.spec("5.7-a")
def test_valid_export_header_is_the_first_line(tmp_path: Path) -> None:
    text = _case("valid-three-entries")["inputs"]["file"]
    first = json.loads(text.split("\n")[0])
    assert first["format"] == EXPORT_FORMAT
    assert text.endswith("\n")


@pytest.mark.spec("5.7-c")
def test_a_line_over_the_limit_is_refused(tmp_path: Path) -> None:
    text = _case("valid-three-entries")["inputs"]["file"]
    lines = text.split("\n")
    lines[1] = json.dumps({"index": 0, "leaf": "A" * MAX_LINE_SIZE}, separators=(",", ":"))
    with pytest.raises(RegistryError) as info:
        _read_all(_write(tmp_path, "\n".join(lines)))
    assert info.value.code is ErrorCode.MALFORMED_ENCODING


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as info:
        read_export(tmp_path / "absent.export")
    assert info.value.code is ErrorCode.NOT_FOUND


def test_records_yield_the_good_records_before_the_first_bad_line(tmp_path: Path) -> None:
    path = _write(tmp_path, _case("leaf-index-wrong")["inputs"]["file"])
    seen = []
    with pytest.raises(RegistryError) as info:
        for record in read_export(path).records():
            seen.append(record)
    assert [type(r) for r in seen] == [ExportLeaf, ExportLeaf, ExportCheckpoint]
    assert "line 5" in info.value.message
