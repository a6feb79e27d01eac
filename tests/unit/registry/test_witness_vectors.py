"""The add-checkpoint vectors of tests/vectors/witness (protocol §6.2), run through a fresh witness, and
the generator's determinism (scripts/gen_vectors_witness.py --check)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.witness import status_for_refusal
from crypto.keys import SigningKey
from crypto.notekey import parse_vkey
from registry.errors import RegistryError
from registry.witness.protocol import OldSizeMismatch, format_cosignature_lines, format_tree_size
from registry.witness.state import WitnessState
from registry.witness.witness import Witness

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "tests" / "vectors" / "witness"


def _vectors() -> list[Any]:
    return [json.loads(p.read_text(encoding="utf-8")) | {"name": p.stem} for p in sorted(VECTORS.glob("*.json"))]


def answer(witness: Witness, body: bytes) -> tuple[int, bytes, str | None]:
    """What api/witness.py answers: status, body, and the error code (None for 200 and 409)."""
    try:
        return 200, format_cosignature_lines(witness.add_checkpoint(body)), None
    except OldSizeMismatch as exc:
        return 409, format_tree_size(exc.latest_size), None
    except RegistryError as exc:
        return status_for_refusal(exc), b"", str(exc.code)


def test_there_are_witness_vectors() -> None:
    assert len(_vectors()) >= 15


@pytest.mark.spec("6.2-a", "6.2-c", "6.2-d", "6.2-h")
@pytest.mark.parametrize("case", _vectors(), ids=lambda c: c["name"])
def test_witness_vector(case: dict[str, Any], tmp_path: Path) -> None:
    inputs = case["inputs"]
    key = SigningKey.from_seed(bytes.fromhex(inputs["witness_seed_hex"]))
    logs = [parse_vkey(v) for v in inputs["log_vkeys"]]
    with WitnessState.open(tmp_path / "state.sqlite3") as state:
        witness = Witness(inputs["witness_name"], key, logs, state, lambda: int(inputs["time"]))
        for body in inputs["accepted"]:
            assert answer(witness, body.encode("utf-8"))[0] == 200
        status, body, code = answer(witness, inputs["request"].encode("utf-8"))
    if "expected" in case:
        assert (status, body.decode("utf-8")) == (case["expected"]["status"], case["expected"]["body"]), case["desc"]
    else:
        assert (status, code) == (case["status"], case["expected_error"]), case["desc"]


def test_vectors_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_vectors_witness.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
