"""The `registry` command: the root group, exit codes and shared helpers (protocol §9, STYLE §9).

Exit codes: 0 success, 1 rejected or failed verification (prints code and message), 2 usage error,
3 server unreachable. Results go to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import sys
from typing import Final, NoReturn

import click

from crypto.errors import CryptoError

from ..errors import RegistryError, Rejection

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_UNREACHABLE", "EXIT_USAGE", "cli", "fail", "fail_crypto", "fail_usage"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="antiwar-registry")
def cli() -> None:
    """The anti-war membership registry: a signed, append-only log of membership statements.

    Members make and sign statements as files on their own machine (keygen, declare, vouch, ...),
    gather co-signatures offline, and submit them. Auditors replay the whole log and check every
    signature, rule, tree hash and checkpoint.

    Exit codes: 0 success; 1 rejected or failed verification (the code and message are printed);
    2 usage error; 3 server unreachable.
    """


def fail(rejection: Rejection) -> NoReturn:
    """Print a rejection as `error: <code>: <message>` on stderr and exit 1."""
    click.echo(f"error: {rejection.code}: {rejection.message}", err=True)
    sys.exit(EXIT_FAILED)


def fail_registry(error: RegistryError) -> NoReturn:
    fail(error.rejection)


def fail_crypto(error: CryptoError) -> NoReturn:
    click.echo(f"error: {error.code}: {error.message}", err=True)
    sys.exit(EXIT_FAILED)


def fail_usage(message: str) -> NoReturn:
    click.echo(f"usage error: {message}", err=True)
    sys.exit(EXIT_USAGE)
