"""The `registry` command line (STYLE §9). Each module adds its commands to the root group."""

from __future__ import annotations

from .app import cli

__all__ = ["cli", "main"]


def _load_commands() -> None:
    # Importing a command module registers its commands on `cli`.
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{info.name}")


def main() -> None:
    """Entry point of the `registry` console script."""
    _load_commands()
    cli(prog_name="registry")
