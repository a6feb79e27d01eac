"""Shared options and parameter types of the `registry` statement commands (protocol §9.5).

Member ids, keys and hashes are 64 hex digits on the command line and bytes inside; a member id or
key is checked as an Ed25519 public key (protocol §3.2) before any file is touched, so a bad one is a
usage error (exit 2). Also the declaration texts shipped with the package. No I/O beyond reading them.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeAlias

import click

from crypto.domain import check_origin
from crypto.errors import BadKey
from crypto.keys import check_public_key

from .keys_io import ORIGIN_ENV

__all__ = [
    "FILE_PATH",
    "HEX32",
    "KEY_PATH",
    "MEMBER_ID",
    "OUT_PATH",
    "key_option",
    "origin_option",
    "out_option",
    "shipped_declarations",
]



if TYPE_CHECKING:
    _ParamBase: TypeAlias = click.ParamType[bytes]
else:  # click < 8.2 has no type parameters on ParamType
    _ParamBase = click.ParamType


class _Hex32(_ParamBase):
    """32 bytes as 64 hex digits; with `key=True`, also a valid Ed25519 public key (protocol §3.2)."""

    def __init__(self, name: str, *, key: bool) -> None:
        self.name = name
        self._key = key

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> bytes:
        if isinstance(value, bytes):
            return value
        text = str(value).strip().lower()
        try:
            raw = bytes.fromhex(text) if len(text) == 64 else b""
        except ValueError:
            raw = b""
        if len(raw) != 32:
            self.fail("expected 64 hex digits", param, ctx)
        if self._key:
            try:
                check_public_key(raw)
            except BadKey as exc:
                self.fail(f"not a valid member id or key: {exc.message}", param, ctx)
        return raw


MEMBER_ID: Final = _Hex32("ID", key=True)
HEX32: Final = _Hex32("HEX", key=False)
OUT_PATH: Final = click.Path(path_type=Path, dir_okay=False, writable=True)
KEY_PATH: Final = click.Path(path_type=Path, dir_okay=False, exists=True)
FILE_PATH: Final = click.Path(path_type=Path, dir_okay=False, exists=True)


def _origin_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and (problem := check_origin(value)) is not None:
        raise click.BadParameter(problem)
    return value


def origin_option(*, required: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """`--origin ORIGIN`, defaulting to the environment variable REGISTRY_ORIGIN."""
    return click.option(
        "--origin",
        envvar=ORIGIN_ENV,
        required=required,
        callback=_origin_callback,
        help=f"The log's origin; every signature is bound to it (default: ${ORIGIN_ENV}).",
    )


def out_option(f: Callable[..., None]) -> Callable[..., None]:
    """`--out FILE` (required) and `--force`."""
    f = click.option("--force", is_flag=True, help="Replace FILE if it exists.")(f)
    return click.option("--out", "out", type=OUT_PATH, required=True, help="The statement file to write.")(f)


def key_option(help_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """`--key FILE` (required), passed to the command as `key_path`."""
    return click.option("--key", "key_path", type=KEY_PATH, required=True, help=help_text)


def shipped_declarations() -> dict[str, str]:
    """The declaration texts shipped with the package (registry/declarations/<lang>.txt), by language."""
    texts: dict[str, str] = {}
    folder = importlib.resources.files("registry") / "declarations"
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".txt"):
            texts[item.name[: -len(".txt")]] = item.read_text(encoding="utf-8")
    return texts
