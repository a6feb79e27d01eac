"""Tests for registry.atomic: the one atomic-write helper of the shell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry.atomic import open_atomic, write_atomic


def _leftovers(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def test_write_atomic_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"old")
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_write_atomic_without_overwrite_refuses_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        write_atomic(path, b"new", overwrite=False)
    assert path.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_write_atomic_without_overwrite_creates_new_file(tmp_path: Path) -> None:
    path = tmp_path / "out"
    write_atomic(path, b"data", overwrite=False, fsync_dir=True)
    assert path.read_bytes() == b"data"
    assert _leftovers(tmp_path) == []


def test_write_atomic_exact_mode_ignores_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "exact", b"x", mode=0o644, exact_mode=True)
        write_atomic(tmp_path / "masked", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert (tmp_path / "exact").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "masked").stat().st_mode & 0o777 == 0o600


def test_write_atomic_uses_given_temp_dir(tmp_path: Path) -> None:
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    write_atomic(tmp_path / "out", b"data", temp_dir=temp_dir, fsync=False)
    assert (tmp_path / "out").read_bytes() == b"data"
    assert os.listdir(temp_dir) == []


def test_open_atomic_failure_in_block_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), open_atomic(path) as file:
        file.write(b"partial")
        raise RuntimeError("stop")
    assert path.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []
