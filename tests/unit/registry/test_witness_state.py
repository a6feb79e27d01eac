"""registry/witness/state.py: the witness's state file, its compare-and-swap and its durability settings
(protocol §6.2-d, §6.2-e)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from registry.errors import RegistryError
from registry.witness.state import WitnessedHead, WitnessState
from tests.witnessing import race

R = [hashlib.sha256(bytes([i])).digest() for i in range(64)]


def head(size: int, root: int, origin: str = "log.example/a") -> WitnessedHead:
    return WitnessedHead(origin, size, R[root], b"note %d %d" % (size, root))


@pytest.mark.spec("6.2-e")
def test_state_is_opened_with_wal_and_synchronous_full(tmp_path: Path) -> None:
    with WitnessState.open(tmp_path / "s.sqlite3") as state:
        state.advance(None, head(1, 1))
    conn = sqlite3.connect(tmp_path / "s.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


@pytest.mark.spec("6.2-e")
def test_a_database_that_cannot_use_wal_is_refused() -> None:
    with pytest.raises(RegistryError) as info:
        WitnessState.open(Path(":memory:"))
    assert info.value.code == "unavailable"


@pytest.mark.spec("6.2-e")
def test_advance_is_a_compare_and_swap(tmp_path: Path) -> None:
    with WitnessState.open(tmp_path / "s.sqlite3") as state:
        assert state.latest("log.example/a") is None
        assert state.advance(None, head(3, 1))
        assert not state.advance(None, head(4, 2))  # expected "no head", but there is one
        assert not state.advance(head(2, 1), head(4, 2))  # wrong expected size
        assert not state.advance(head(3, 9), head(4, 2))  # right size, wrong root
        assert state.advance(head(3, 1), head(4, 2))
        assert state.latest("log.example/a") == head(4, 2)
        assert state.advance(head(3, 1), head(4, 2))  # already there: nothing to do, still true
        assert state.latest("log.example/b") is None


@pytest.mark.spec("6.2-e")
def test_state_survives_reopening(tmp_path: Path) -> None:
    with WitnessState.open(tmp_path / "s.sqlite3") as state:
        state.advance(None, head(3, 1))
        state.advance(None, head(7, 5, "log.example/b"))
    with WitnessState.open(tmp_path / "s.sqlite3") as state:
        assert state.latest("log.example/a") == head(3, 1)
        assert [h.origin for h in state.origins()] == ["log.example/a", "log.example/b"]


@pytest.mark.spec("6.2-e", "6.2-d")
def test_concurrent_advances_from_one_head_succeed_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with WitnessState.open(path) as state:
        state.advance(None, head(10, 0))
    states = [WitnessState.open(path) for _ in range(4)]
    for round_ in range(5):
        base = states[0].latest("log.example/a")
        # Sixteen different roots for one size, from one head, on four connections.
        def attempt(i: int, base: WitnessedHead | None = base, size: int = 11 + round_) -> bool:
            return states[i % 4].advance(base, head(size, 1 + i))

        won = race(16, attempt)
        wins = [i for i, ok in enumerate(won) if ok]
        assert len(wins) == 1
        assert states[0].latest("log.example/a") == head(11 + round_, 1 + wins[0])
    for s in states:
        s.close()
