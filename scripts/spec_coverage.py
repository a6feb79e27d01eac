#!/usr/bin/env python3
"""Check that every normative ID in docs/protocol.md is cited by a test, and every cited ID exists.

A normative sentence carries an ID such as `[7.3-b]`; a test cites it with `@pytest.mark.spec("7.3-b")`
(several IDs may be given in one marker). Exits 1 and lists the gaps when either direction fails.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ID_IN_SPEC = re.compile(r"\[(\d+(?:\.\d+)*-[a-z]{1,2})\]")
MARKER = re.compile(r"mark\.spec\(([^)]*)\)")
ID_IN_MARKER = re.compile(r"[\"'](\d+(?:\.\d+)*-[a-z]{1,2})[\"']")


def spec_ids(text: str) -> set[str]:
    return set(ID_IN_SPEC.findall(text))


def cited_ids(test_root: Path) -> dict[str, list[str]]:
    cited: dict[str, list[str]] = {}
    for path in sorted(test_root.rglob("*.py")):
        for marker in MARKER.findall(path.read_text(encoding="utf-8")):
            for spec_id in ID_IN_MARKER.findall(marker):
                cited.setdefault(spec_id, []).append(str(path.relative_to(ROOT)))
    return cited


def main() -> int:
    spec = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    defined = spec_ids(spec)
    cited = cited_ids(ROOT / "tests")
    untested = sorted(defined - cited.keys(), key=_order)
    unknown = sorted(cited.keys() - defined, key=_order)
    for spec_id in untested:
        print(f"untested: [{spec_id}] has no test citing it")
    for spec_id in unknown:
        print(f"unknown: {spec_id} is cited by {', '.join(sorted(set(cited[spec_id])))} but not in docs/protocol.md")
    print(f"spec ids: {len(defined)} defined, {len(defined & cited.keys())} tested")
    if not defined:
        print("no normative ids found in docs/protocol.md")
        return 1
    return 1 if untested or unknown else 0


def _order(spec_id: str) -> tuple[int, ...]:
    numbers, letter = spec_id.split("-")
    return (*(int(n) for n in numbers.split(".")), *(ord(c) for c in letter))


if __name__ == "__main__":
    sys.exit(main())
