"""docs/threat-model.md stays true to the code: every test it cites (`dir/file.py::name`) exists, and
every script it names (`scripts/x.py`) is there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THREAT_MODEL = ROOT / "docs" / "threat-model.md"
_TEST = re.compile(r"`([a-z_/]+\.py)::([A-Za-z_][A-Za-z0-9_]*)`")
_SCRIPT = re.compile(r"`(scripts/[a-z_]+\.py)")


def test_every_cited_test_exists() -> None:
    text = THREAT_MODEL.read_text("utf-8")
    cited = _TEST.findall(text)
    assert len(cited) > 50
    missing = []
    for path, name in cited:
        source = (ROOT / "tests" / path).read_text("utf-8") if (ROOT / "tests" / path).is_file() else ""
        # a test function, a test class, or a name bound to one (a Hypothesis state machine's TestCase)
        if not re.search(rf"^(def|class) {name}\b|^{name} = ", source, re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_every_cited_script_exists() -> None:
    scripts = set(_SCRIPT.findall(THREAT_MODEL.read_text("utf-8")))
    assert scripts and [s for s in sorted(scripts) if not (ROOT / s).is_file()] == []
