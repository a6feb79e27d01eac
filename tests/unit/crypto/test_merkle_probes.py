"""The transparency-dev/merkle proof probes (196 JSON files) against crypto.proof's verifiers.

The files are not committed: they are read from ../shared/vectors/merkle next to the checkout, or from the
folder named by REGISTRY_MERKLE_VECTORS. Each file is one probe (see SOURCE.md there): a valid proof that
must verify (`wantErr` false) or a valid proof broken in one way that must be rejected. Hashes are base64.

One deliberate difference: protocol §5.1-e requires every hash to be 32 bytes, while one upstream happy
path ("sizes are equal (one) and proof is empty") uses 12-byte placeholder roots. We reject it as
malformed_encoding, and check that the same case with 32-byte roots verifies.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

import pytest

from crypto.errors import BadProof, MalformedEncoding
from crypto.proof import verify_consistency, verify_inclusion

ENV_VAR = "REGISTRY_MERKLE_VECTORS"
EXPECTED_FILES = 196
# Probe (relative path) -> why our verdict differs from upstream's `wantErr`.
DEVIATIONS = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": (
        "upstream accepts 12-byte placeholder roots; protocol §5.1-e requires 32-byte hashes"
    ),
}


def _probe_dir() -> Path:
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "vectors" / "merkle"


def _probe_files() -> list[Any]:
    folder = _probe_dir()
    files = sorted(folder.rglob("*.json")) if folder.is_dir() else []
    if not files:
        reason = f"merkle probe files not found in {folder} (set {ENV_VAR} to the transparency-dev testdata copy)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="probes-absent")]
    return [pytest.param(p, id=p.relative_to(folder).as_posix()) for p in files]


def _b64(value: str | None) -> bytes:
    try:
        return base64.b64decode(value or "", validate=True)
    except binascii.Error as exc:  # a probe file we cannot read is a broken fixture, not a pass
        raise AssertionError(f"probe holds invalid base64: {value!r}") from exc


def _verify(probe: dict[str, Any]) -> None:
    proof = [_b64(p) for p in probe["proof"] or []]
    if "leafIdx" in probe:
        verify_inclusion(_b64(probe["leafHash"]), probe["leafIdx"], probe["treeSize"], proof, _b64(probe["root"]))
    else:
        verify_consistency(probe["size1"], probe["size2"], _b64(probe["root1"]), _b64(probe["root2"]), proof)


@pytest.mark.spec("5.2-b", "5.2-d", "5.2-e", "5.2-f", "5.2-g")
@pytest.mark.parametrize("path", _probe_files())
def test_probe(path: Path) -> None:
    probe = json.loads(path.read_text(encoding="utf-8"))
    relative = path.relative_to(_probe_dir()).as_posix()
    if relative in DEVIATIONS:
        with pytest.raises(MalformedEncoding):
            _verify(probe)
        padded = dict(probe, root1=base64.b64encode(_b64(probe["root1"]).ljust(32, b"\0")).decode())
        padded["root2"] = padded["root1"]
        _verify(padded)  # the rule the probe checks (equal sizes, equal roots, empty proof) holds
        return
    if probe["wantErr"]:
        with pytest.raises((BadProof, MalformedEncoding)):
            _verify(probe)
    else:
        _verify(probe)


def test_probe_folder_is_complete_when_present() -> None:
    folder = _probe_dir()
    if not folder.is_dir():
        pytest.skip(f"merkle probe files not found in {folder} (set {ENV_VAR})")
    files = sorted(folder.rglob("*.json"))
    assert len(files) == EXPECTED_FILES
    wants = [json.loads(p.read_text(encoding="utf-8"))["wantErr"] for p in files]
    assert wants.count(False) >= 10 and wants.count(True) >= 150
    for relative in DEVIATIONS:
        assert (folder / relative).is_file()
