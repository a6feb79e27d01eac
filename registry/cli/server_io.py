"""The `--server URL` side of the command line: opening a client and turning its errors into exit codes.

Commands that talk to a server do it only through `registry.client` (STYLE §1). A server that cannot
be reached, times out or answers 503 exits 3; a rejection or an answer that does not verify exits 1
with `error: <code>: <message>`; a URL that is not http(s) exits 2 (protocol §9.5, §9.6).
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from crypto.errors import CryptoError
from crypto.notekey import NoteVerifier, parse_vkey

from ..client import RateLimited, RegistryClient, ServerUnreachable
from ..errors import RegistryError
from .app import EXIT_UNREACHABLE, fail, fail_crypto, fail_usage

__all__ = ["SERVER_HELP", "fail_remote", "open_client", "parse_log_key"]

SERVER_HELP = "The registry server's base URL, e.g. http://127.0.0.1:8000 (instead of --data)."


def open_client(url: str, log_verifier: NoteVerifier | None = None) -> RegistryClient:
    """A client for `url`; exits 2 when it is not an http(s) URL."""
    try:
        return RegistryClient(url, log_verifier=log_verifier)
    except RegistryError as exc:
        fail_usage(exc.message)


def parse_log_key(vkey: str) -> NoteVerifier:
    """Parse a C2SP verifier key; exits 1 with `bad_key` when it is not one."""
    try:
        return parse_vkey(vkey)
    except CryptoError as exc:
        fail_crypto(exc)


def fail_remote(exc: RegistryError) -> NoReturn:
    """Exit 3 for an unreachable server, else 1; print the code, the message and any Retry-After hint."""
    retry = getattr(exc, "retry_after_s", None)
    if isinstance(exc, ServerUnreachable | RateLimited) and retry is not None:
        click.echo(f"the server asks to retry after {retry} s", err=True)
    if isinstance(exc, ServerUnreachable):
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        sys.exit(EXIT_UNREACHABLE)
    fail(exc.rejection)
