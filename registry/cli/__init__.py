"""The `registry` command line (STYLE §9). Each `cmd_*` module adds its commands to the root group."""

from __future__ import annotations

import importlib
import pkgutil

from .app import cli

__all__ = ["cli", "main"]


def load_commands() -> None:
    """Import every `cmd_*` module; importing one registers its commands on `cli`."""
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{info.name}")


def main() -> None:
    """Entry point of the `registry` console script."""
    load_commands()
    cli(prog_name="registry")
