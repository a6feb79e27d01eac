"""Key files, passphrases and statement files for the `registry` command (protocol §3.4, §9.5).

The member-side commands make statements as files on the member's own machine, so that the
signatures of several parties (a sponsor, a subject, m council members) can be gathered offline. A
statement file holds exactly the canonical entry bytes, `format_entry(entry)` (protocol §9.5-a); a
file still waiting for its first signature is an *unsigned draft* with an empty signature list, which
only the command line reads (a log refuses it). Files are written atomically: a temporary file in the
same directory, synced, then moved into place, so that no reader ever sees half a statement.

This module is part of the shell: it reads the clock (`now_ms`), the environment and the terminal.
`make_statement` and `sign_statement_file` are the two ways every command writes a statement.
Deliberately not here: the statements themselves (registry/statements.py), the key file format
(crypto/keyfile.py), and anything that talks to a log.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import click

from crypto import canonical
from crypto.errors import BadKey, CryptoError, MalformedEncoding, TooLarge
from crypto.keyfile import key_file_is_encrypted, read_key_file
from crypto.keys import SigningKey, fingerprint

from ..atomic import write_atomic
from ..errors import ErrorCode, Rejected, Rejection
from ..statements import (
    MAX_ENTRY_SIZE,
    Entry,
    Statement,
    entry_from_statement,
    format_entry,
    parse_entry,
    parse_statement,
    sign_entry,
    verify_entry,
)
from .app import fail, fail_crypto, fail_usage

__all__ = [
    "ORIGIN_ENV",
    "PASSPHRASE_ENV",
    "load_key",
    "make_statement",
    "new_passphrase",
    "now_ms",
    "parse_statement_file",
    "read_statement_file",
    "rewrite_statement_file",
    "sign_statement_file",
    "stdin_is_terminal",
    "write_file_atomic",
    "write_statement_file",
]

PASSPHRASE_ENV: Final = "REGISTRY_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
"""Environment variable holding the passphrase of encrypted key files (never a command-line argument)."""
ORIGIN_ENV: Final = "REGISTRY_ORIGIN"
"""Environment variable giving the default of every `--origin` option."""

_STATEMENT_MODE: Final = 0o644  # statements are public; the umask applies
_PRIVATE_MODE: Final = 0o600  # a pre-signed revocation certificate lets its holder revoke the member


def now_ms() -> int:
    """The current time in integer milliseconds since the Unix epoch: the `created_ms` of new statements.

    The command line is the only place that reads the clock; the core receives times as fields.
    """
    return time.time_ns() // 1_000_000


def stdin_is_terminal() -> bool:
    """Whether a person can be prompted: nothing prompts when stdin is not a terminal (STYLE §9)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stdin
        return False


# --- keys ------------------------------------------------------------------------------------------


def _env_passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def load_key(path: Path) -> SigningKey:
    """Read a private key file, asking for its passphrase when it is encrypted.

    The passphrase comes from `REGISTRY_PASSPHRASE`, or else from a hidden prompt on a terminal. Exits
    1 (`bad_key`) for a missing, malformed or undecryptable file, and 2 when the file is encrypted and
    there is neither the variable nor a terminal.
    """
    try:
        passphrase: bytes | None = None
        if key_file_is_encrypted(path):
            passphrase = _env_passphrase()
            if passphrase is None:
                if not stdin_is_terminal():
                    fail_usage(f"the key file {path} is encrypted: set {PASSPHRASE_ENV} or run on a terminal")
                passphrase = click.prompt(f"Passphrase for {path}", hide_input=True, err=True).encode("utf-8")
        return read_key_file(path, passphrase)
    except CryptoError as exc:
        fail_crypto(exc)
    except OSError as exc:
        fail_crypto(BadKey(f"cannot read the key file {path}: {exc.strerror}"))


def new_passphrase() -> bytes:
    """The passphrase for a new encrypted key: `REGISTRY_PASSPHRASE`, or typed twice on a terminal."""
    passphrase = _env_passphrase()
    if passphrase is not None:
        return passphrase
    if not stdin_is_terminal():
        fail_usage(f"--encrypt needs a passphrase: set {PASSPHRASE_ENV} or run on a terminal")
    text: str = click.prompt("New passphrase", hide_input=True, confirmation_prompt=True, err=True)
    if not text:
        fail_usage("the passphrase must not be empty")
    return text.encode("utf-8")


# --- files -----------------------------------------------------------------------------------------


def write_file_atomic(path: Path, data: bytes, *, force: bool = False, mode: int | None = None) -> None:
    """Write `data` to `path` so that `path` holds either its old content or all of `data`, never a part.

    Args:
        path: the destination; its directory must exist.
        data: the complete content.
        force: replace an existing file; otherwise an existing file is never touched.
        mode: permission bits for a new file (the umask applies); by default 0644, or for a replaced
            file its current bits.

    Raises:
        FileExistsError: `path` exists and `force` is false.
        OSError: the file cannot be written; nothing new is left behind.
    """
    path = Path(path)
    if mode is None:
        mode = _STATEMENT_MODE
        if force:
            with contextlib.suppress(FileNotFoundError):
                mode = path.stat().st_mode & 0o777
    if not force and path.exists():
        raise FileExistsError(f"refusing to overwrite {path} (use --force)")
    try:
        # Without `force`, the file is linked into place: link() fails if `path` appeared meanwhile.
        write_atomic(path, data, mode=mode, overwrite=force)
    except FileExistsError:
        raise FileExistsError(f"refusing to overwrite {path} (use --force)") from None
    # If the process dies here the file is complete; only its directory entry may not be durable yet.


def write_statement_file(path: Path, entry: Entry, *, force: bool = False, private: bool = False) -> None:
    """Write a statement file atomically (protocol §9.5-a, §9.5-e).

    Exits 2 when the file exists and `force` is false, 1 when it cannot be written.
    """
    try:
        write_file_atomic(path, format_entry(entry), force=force, mode=_PRIVATE_MODE if private else None)
    except FileExistsError as exc:
        fail_usage(str(exc))
    except OSError as exc:
        fail(Rejection(ErrorCode.UNAVAILABLE, f"cannot write {path}: {exc.strerror}"))
    except Rejected as exc:
        fail(exc.rejection)


def rewrite_statement_file(path: Path, entry: Entry) -> None:
    """Replace a statement file in place, atomically, keeping its permission bits (after a signature)."""
    write_statement_file(path, entry, force=True)


def parse_statement_file(data: bytes) -> Entry:
    """Parse the content of a statement file: a canonical entry, or an unsigned draft (protocol §9.5-a).

    Raises:
        Rejected: as `registry.statements.parse_entry` (`too_large`, `malformed_encoding`,
            `malformed_entry`, `bad_key`, `bad_reason`).
    """
    try:
        obj = canonical.decode_canonical(data, max_size=MAX_ENTRY_SIZE)
    except TooLarge as exc:
        raise Rejected(
            Rejection(ErrorCode.TOO_LARGE, f"a statement file must be at most {MAX_ENTRY_SIZE} bytes", "4.2-a")
        ) from exc
    except MalformedEncoding as exc:
        raise Rejected(Rejection(ErrorCode.MALFORMED_ENCODING, exc.message, "4.1-a")) from exc
    if isinstance(obj, dict) and set(obj) == {"signatures", "statement"} and obj["signatures"] == []:
        # An unsigned draft: the statement alone decides its canonical bytes.
        entry = entry_from_statement(parse_statement(obj["statement"]))
        if format_entry(entry) != data:
            raise Rejected(Rejection(ErrorCode.MALFORMED_ENTRY, "the draft is not in canonical form", "9.5-a"))
        return entry
    entry = parse_entry(data)
    # protocol §9.5-a: the file is exactly format_entry(entry); parse_entry checks canonical JSON,
    # sorted signatures and the statement's fields, so formatting gives back the same bytes.
    if format_entry(entry) != data:
        raise Rejected(Rejection(ErrorCode.MALFORMED_ENTRY, "the statement file is not in canonical form", "9.5-a"))
    return entry


def read_statement_file(path: Path) -> Entry:
    """Read and parse a statement file; exit 1 with the error code if it cannot be read or parsed."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_ENTRY_SIZE + 1)
    except OSError as exc:
        fail(Rejection(ErrorCode.NOT_FOUND, f"cannot read {path}: {exc.strerror}"))
    try:
        return parse_statement_file(data)
    except Rejected as exc:
        fail(exc.rejection)


# --- making and co-signing statement files ----------------------------------------------------------


def make_statement(
    statement: Statement, keys: Sequence[SigningKey], out: Path, *, force: bool, private: bool = False
) -> Entry:
    """Sign `statement` with `keys` (possibly none: an unsigned draft) and write it to `out` atomically."""
    entry = entry_from_statement(statement)
    try:
        for key in keys:
            entry = sign_entry(entry, key)
    except CryptoError as exc:
        fail_crypto(exc)
    write_statement_file(out, entry, force=force, private=private)
    click.echo(str(out))
    return entry


def sign_statement_file(
    path: Path,
    key_path: Path,
    kinds: tuple[type, ...],
    command: str,
    check: Callable[[Entry, SigningKey], None] | None = None,
) -> Entry:
    """Add the signature of the key at `key_path` to the statement file `path`, in place, atomically.

    The signatures already present are verified first (protocol §9.5-b): nobody co-signs a file that
    was altered after an earlier party signed it. `check` may refuse a key that the statement does not
    name. Prints the path on stdout and the signer's fingerprint on stderr.
    """
    entry = read_statement_file(path)
    if not isinstance(entry.statement, kinds):
        names = " or ".join(k.__name__.lower().replace("policystatement", "policy") for k in kinds)
        fail_usage(f"{path} holds a {entry.type} statement; {command} signs a {names} statement")
    if entry.signatures:
        try:
            verify_entry(entry, entry.statement.origin)
        except Rejected as exc:
            fail(exc.rejection)
    key = load_key(key_path)
    if check is not None:
        check(entry, key)
    if key.public_key in entry.signers:
        click.echo(f"note: key {fingerprint(key.public_key)} had already signed {path}", err=True)
    try:
        signed = sign_entry(entry, key)
    except CryptoError as exc:
        fail_crypto(exc)
    rewrite_statement_file(path, signed)
    count = len(signed.signatures)
    click.echo(f"signed {entry.type} with key {fingerprint(key.public_key)}: signatures: {count}", err=True)
    click.echo(str(path))
    return signed
