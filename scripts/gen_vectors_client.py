#!/usr/bin/env python3
"""Write the remote-audit fetch-plan vectors to tests/vectors/client/ (protocol §9.6-h, §11).

Each case names the tree size a cache accepted (`old_size`, 0 for a first run) and the size of the
server's new checkpoint (`new_size`), and lists, sorted, every path an incremental audit fetches: the
checkpoint, each partial tile of the new size, each full tile and full entry bundle that was not yet
full at the old size, and the partial entry bundle of the new size. Everything else comes from the cache.
The lists are computed from the tlog-tiles layout alone (`crypto.tiles`), so two runs write identical files.

Usage: scripts/gen_vectors_client.py [--check]   (--check: exit 1 if the files differ from a fresh build)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/vectorio.py, also when loaded by a test

import vectorio

from crypto.tiles import TILE_HEIGHT, TILE_WIDTH, tile_entries_path, tile_path, tiles_for_size

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "client"

CASES: list[tuple[str, int, int, str]] = [
    ("first-run-one-leaf", 0, 1, "a first run on a log holding only its genesis"),
    ("first-run-601", 0, 601, "a first run: two full bundles and a partial one"),
    ("nothing-new-601", 601, 601, "the same size again: only the checkpoint and the partial tiles and bundle"),
    ("within-partial-601-606", 601, 606, "new leaves inside the same partial level-0 tile"),
    ("across-tile-606-776", 606, 776, "the partial tile became full: it and its bundle are fetched once more"),
    ("tile-becomes-full-255-256", 255, 256, "the first level-0 tile becomes full; level 1 appears"),
    ("level-2-appears-65535-65536", 65535, 65536, "the first level-1 tile becomes full; level 2 appears"),
    ("spec-example-65536-70000", 65536, 70000, "the tlog-tiles example size, from a cache at 65,536"),
]


def plan(old_size: int, new_size: int) -> list[str]:
    """The fetch plan, from the definition in the module docstring (independent of registry code)."""
    paths = {"checkpoint"}
    for level, index, width in tiles_for_size(new_size):
        full_at_old = width == TILE_WIDTH and (index + 1) << (TILE_HEIGHT * (level + 1)) <= old_size
        if not full_at_old:
            paths.add(tile_path(level, index, width))
            if level == 0:
                paths.add(tile_entries_path(index, width))
    return sorted(paths)


def build() -> dict[str, str]:
    files = {}
    for name, old, new, desc in CASES:
        case = {"desc": desc, "section": "9.6-h", "old_size": old, "new_size": new, "fetched": plan(old, new)}
        files[f"{name}.json"] = vectorio.render(case, ensure_ascii=True)
    return files


def main() -> int:
    return vectorio.main(None, lambda: {OUT: {n.removesuffix(".json"): t for n, t in build().items()}}, __doc__)


if __name__ == "__main__":
    sys.exit(main())
