"""STYLE §1 as a test: who may import whom, the version pin of protocol §0, and the public names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import crypto
import registry

ROOT = Path(__file__).resolve().parents[2]
CORE = {
    "errors", "statements", "state", "rules", "replay", "audit",
    "statetree", "identity", "trust", "credential", "presentation", "verify",
}  # fmt: skip
THIRD_PARTY_ALLOWED_IN_CRYPTO = {"nacl", "cryptography"}
FORBIDDEN_IN_CORE = {"sqlmodel", "sqlalchemy", "fastapi", "httpx", "uvicorn", "click", "psycopg", "api", "logging"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    package = path.parent.relative_to(ROOT).parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return names


def top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_crypto_imports_nothing_of_ours() -> None:
    for path in modules("crypto"):
        for name in imports(path):
            assert top(name) not in {"registry", "api"}, f"{path} imports {name}"
            if top(name) not in {"crypto"}:
                assert top(name) in THIRD_PARTY_ALLOWED_IN_CRYPTO or top(name) in _stdlib(), f"{path}: {name}"


def test_registry_core_imports_no_shell() -> None:
    for stem in CORE:
        path = ROOT / "registry" / f"{stem}.py"
        for name in imports(path):
            assert top(name) not in FORBIDDEN_IN_CORE, f"{path} imports {name}"
            if name.startswith("registry."):
                assert name.split(".")[1] in CORE, f"core module {path.name} imports shell module {name}"


def test_nothing_imports_api() -> None:
    for package in ("crypto", "registry", "scripts"):
        for path in modules(package):
            assert not any(top(n) == "api" for n in imports(path)), f"{path} imports api"


def test_client_never_imports_store() -> None:
    path = ROOT / "registry" / "client.py"
    if not path.exists():
        pytest.skip("registry/client.py arrives with the REST API work")
    assert not any(n.startswith("registry.store") for n in imports(path))


def test_protocol_version_matches_spec() -> None:
    spec = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    match = re.search(r"Protocol version \*\*([^*]+)\*\*", spec)
    assert match is not None
    assert match.group(1) == registry.PROTOCOL_VERSION


def test_public_names_are_pinned() -> None:
    assert sorted(crypto.__all__) == [
        "BadKey",
        "BadProof",
        "BadSignature",
        "CryptoError",
        "MalformedEncoding",
        "TooLarge",
    ]
    assert sorted(registry.__all__) == sorted(
        ["PROTOCOL_VERSION", "ErrorCode", "Rejected", "Rejection", "RegistryError"]
    )


def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names)
