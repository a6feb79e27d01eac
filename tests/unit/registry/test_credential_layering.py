"""STYLE §1 for the credential modules: they belong to the pure core (no shell, no I/O libraries)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.unit.test_layering import FORBIDDEN_IN_CORE, imports, top

ROOT = Path(__file__).resolve().parents[3]
CREDENTIAL_CORE = ("statetree", "identity", "trust", "credential", "presentation", "verify")
ALLOWED_REGISTRY = {"errors", "statements", "state", "rules", "replay", *CREDENTIAL_CORE}


@pytest.mark.spec("8.1-k")
@pytest.mark.parametrize("stem", CREDENTIAL_CORE)
def test_credential_modules_import_only_the_core(stem: str) -> None:
    path = ROOT / "registry" / f"{stem}.py"
    for name in imports(path):
        assert top(name) not in FORBIDDEN_IN_CORE, f"{path} imports {name}"
        assert top(name) not in {"socket", "urllib", "http", "ssl", "segno", "os", "time"}, f"{path} imports {name}"
        if name.startswith("registry."):
            assert name.split(".")[1] in ALLOWED_REGISTRY, f"core module {stem} imports {name}"
        else:
            assert top(name) in {"crypto", "registry"} or top(name) in sys.stdlib_module_names, f"{stem}: {name}"


def test_smt_imports_only_the_standard_library_and_crypto() -> None:
    for name in imports(ROOT / "crypto" / "smt.py"):
        assert top(name) == "crypto" or top(name) in sys.stdlib_module_names, name
