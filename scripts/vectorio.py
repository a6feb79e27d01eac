"""Writing and checking the test-vector files (protocol §11): shared by every scripts/gen_vectors_*.py.

A generator builds {case name: file text} for each directory it owns; `main` then either writes the
files (removing `*.json` files no case produces) or, with `--check`, compares them with the files on
disk and exits 1 if any differs, is missing or is left over. The formatting of each area's files is
chosen by its generator through `render`, so that regenerating never rewrites a committed file.

Deliberately not here: what the vectors contain, which is each generator's own business.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["check_vectors", "main", "render", "write_vectors"]

ROOT = Path(__file__).resolve().parent.parent


def render(case: object, *, indent: int = 2, sort_keys: bool = True, ensure_ascii: bool = False) -> str:
    """The exact text of one vector file: JSON with the given layout and a final newline."""
    return json.dumps(case, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii) + "\n"


def check_vectors(directory: Path, files: Mapping[str, str]) -> list[str]:
    """Case names whose DIR/<name>.json differs from `files`, is missing, or has no case; sorted."""
    on_disk = {path.stem: path for path in directory.glob("*.json")} if directory.is_dir() else {}
    stale = [name for name, text in files.items() if name not in on_disk or _read(on_disk[name]) != text]
    extra = [name for name in on_disk if name not in files]
    return sorted(stale + extra)


def write_vectors(directory: Path, files: Mapping[str, str]) -> None:
    """Write DIR/<name>.json for every case and remove the `*.json` files no case produces."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.json"):
        if path.stem not in files:
            path.unlink()
    for name, text in files.items():
        (directory / f"{name}.json").write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None, build: Callable[[], Mapping[Path, Mapping[str, str]]], doc: str | None) -> int:
    """Run a generator: write its vectors, or with `--check` exit 1 if the files on disk differ.

    `build()` returns {directory: {case name: file text}}. `--out DIR` replaces the directory of a
    generator that writes only one. `doc` is the generator's docstring; its first line describes it.
    """
    parser = argparse.ArgumentParser(description=(doc or "").strip().split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    parser.add_argument("--out", type=Path, help="write or check DIR instead (generators with one directory)")
    args = parser.parse_args(argv)
    targets = dict(build())
    if args.out is not None:
        if len(targets) != 1:
            parser.error("--out needs a generator that writes one directory")
        targets = {args.out: next(iter(targets.values()))}
    stale: list[str] = []
    for directory, files in targets.items():
        if args.check:
            stale += [f"{_shown(directory)}/{name}.json" for name in check_vectors(directory, files)]
        else:
            write_vectors(directory, files)
            print(f"wrote {len(files)} vectors to {_shown(directory)}")
    for name in stale:
        print(f"stale: {name}")
    if args.check and not stale:
        print(f"{sum(len(files) for files in targets.values())} vectors up to date")
    return 1 if stale else 0


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _shown(directory: Path) -> str:
    directory = directory.resolve()
    return str(directory.relative_to(ROOT)) if directory.is_relative_to(ROOT) else str(directory)
