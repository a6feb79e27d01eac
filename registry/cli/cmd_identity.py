"""`registry identity`: commit to identity attributes, disclose some, check a disclosure (protocol §4.3, §9.7).

`commit` runs on the member's device: it draws the salts from the operating system, writes the
identity file with mode 0600 (it holds personal data and the salts that hide them; it never leaves
the device) and prints the commitment that goes into `registry declare --identity-commitment`.
`show` writes a disclosure of chosen attributes; `check` is what a voucher or a verifier runs on one.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Final

import click

from ..errors import ErrorCode, Rejected, Rejection
from ..identity import (
    ATTRIBUTES,
    DECOY_COUNT,
    SALT_SIZE,
    check_identity_disclosure,
    disclose,
    format_identity,
    format_identity_disclosure,
    make_identity,
    normalize_attribute,
    parse_identity,
    parse_identity_disclosure,
)
from .app import EXIT_FAILED, cli, fail, fail_usage
from .keys_io import stdin_is_terminal, write_file_atomic

__all__ = ["OUT_PATH", "identity", "identity_check", "identity_commit", "identity_show", "read_small_file"]

_PRIVATE: Final = 0o600
_FILE_PATH: Final = click.Path(path_type=Path, dir_okay=False, exists=True)
OUT_PATH: Final = click.Path(path_type=Path, dir_okay=False, writable=True)
_PROMPTS: Final = {
    "family_name": "Family name (as in the passport's machine-readable zone)",
    "given_names": "Given names",
    "birth_date": "Birth date (YYYY-MM-DD)",
    "document_number": "Passport number",
    "issuing_state": "Issuing state (ICAO code, e.g. RUS)",
}


def read_small_file(path: Path, limit: int = 1 << 20) -> bytes:
    """Read a file of at most `limit` bytes; exit 1 (`not_found` / `too_large`) otherwise."""
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        fail(Rejection(ErrorCode.NOT_FOUND, f"cannot read {path}: {exc.strerror}"))
    if len(data) > limit:
        fail(Rejection(ErrorCode.TOO_LARGE, f"{path} is longer than {limit} bytes"))
    return data


def _write_private(path: Path, data: bytes, force: bool) -> None:
    try:
        write_file_atomic(path, data, force=force, mode=_PRIVATE)
    except FileExistsError as exc:
        fail_usage(str(exc))
    except OSError as exc:
        fail(Rejection(ErrorCode.UNAVAILABLE, f"cannot write {path}: {exc.strerror}"))


@cli.group()
def identity() -> None:
    """Identity commitments and selective disclosure (protocol §4.3).

    The attributes of your passport stay on your device; only a 32-byte commitment goes into the log.
    """


@identity.command("commit")
@click.option("--out", type=OUT_PATH, required=True, help="The identity file to write (mode 0600).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--family-name", help="Family name, as the passport's machine-readable zone spells it.")
@click.option("--given-names", help="Given names (may be empty).")
@click.option("--birth-date", help="Birth date, YYYY-MM-DD or DD.MM.YYYY.")
@click.option("--document-number", help="Passport number.")
@click.option("--issuing-state", help="ICAO code of the issuing state, e.g. RUS.")
def identity_commit(
    out: Path,
    force: bool,
    family_name: str | None,
    given_names: str | None,
    birth_date: str | None,
    document_number: str | None,
    issuing_state: str | None,
) -> None:
    """Commit to your identity attributes; write the identity file and print the commitment.

    Missing attributes are asked for on a terminal (never when stdin is not a terminal: exit 2).
    Values are normalised as the machine-readable zone writes them: Latin capitals (Cyrillic is
    transliterated by the ICAO 9303 table), one space between name parts, dates as YYYY-MM-DD.
    The file holds your personal data and the salts that hide it: keep it on this device. The last
    line on stdout is the commitment, for `registry declare --identity-commitment`.

    Exit codes: 0 written; 1 a value cannot be normalised; 2 usage error.
    """
    given = {
        "family_name": family_name,
        "given_names": given_names,
        "birth_date": birth_date,
        "document_number": document_number,
        "issuing_state": issuing_state,
    }
    missing = [name for name, value in given.items() if value is None]
    if missing and not stdin_is_terminal():
        fail_usage("missing " + ", ".join("--" + m.replace("_", "-") for m in missing) + " (stdin is not a terminal)")
    values: dict[str, str] = {}
    try:
        for name in ATTRIBUTES:
            raw = given[name]
            while raw is None:
                text: str = click.prompt(_PROMPTS[name], default="" if name == "given_names" else None, err=True)
                try:
                    normalize_attribute(name, text)
                    raw = text
                except Rejected as exc:
                    click.echo(f"  {exc.message}", err=True)
            values[name] = raw
        salts = [secrets.token_bytes(SALT_SIZE) for _ in ATTRIBUTES]
        decoys = [secrets.token_bytes(SALT_SIZE) for _ in range(DECOY_COUNT)]
        made = make_identity(values, salts, decoys)
    except Rejected as exc:
        fail(exc.rejection)
    _write_private(out, format_identity(made), force)
    for d in made.disclosures:
        click.echo(f"{d.name}: {d.value}", err=True)
    click.echo(f"wrote {out} (mode 0600; keep it on this device)", err=True)
    click.echo(made.commitment.hex())


@identity.command("show")
@click.argument("file", type=_FILE_PATH)
@click.option("--attributes", required=True, help=f"Comma-separated attributes to disclose: {', '.join(ATTRIBUTES)}.")
@click.option("--out", type=OUT_PATH, required=True, help="The disclosure file to write (mode 0600).")
@click.option("--force", is_flag=True, help="Replace the output if it exists.")
def identity_show(file: Path, attributes: str, out: Path, force: bool) -> None:
    """Write a disclosure of the chosen attributes of the identity FILE, and nothing else.

    The disclosure lets its reader check the shown values against your commitment; the other
    attributes stay hidden. Exit codes: 0 written; 1 unreadable identity file; 2 usage error.
    """
    names = [a.strip() for a in attributes.split(",") if a.strip()]
    unknown = [n for n in names if n not in ATTRIBUTES]
    if not names or unknown or len(set(names)) != len(names):
        fail_usage(f"--attributes takes distinct names among {', '.join(ATTRIBUTES)}")
    try:
        made = parse_identity(read_small_file(file))
        shown = disclose(made, names)
    except Rejected as exc:
        fail(exc.rejection)
    _write_private(out, format_identity_disclosure(shown), force)
    click.echo(f"wrote {out}: discloses {', '.join(n for n in ATTRIBUTES if n in names)}", err=True)


@identity.command("check")
@click.argument("disclosure", type=_FILE_PATH)
@click.option("--commitment", "commitment_hex", required=True, help="The identity commitment to check against (hex).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def identity_check(disclosure: Path, commitment_hex: str, as_json: bool) -> None:
    """Check a DISCLOSURE against an identity commitment and print the disclosed attributes.

    Compare the printed values with the passport in front of you. Exit codes: 0 the attributes
    match the commitment; 1 they do not (or the file is malformed); 2 usage error.
    """
    text = commitment_hex.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        fail_usage("--commitment takes 64 hex digits")
    commitment = bytes.fromhex(text)
    try:
        shown = parse_identity_disclosure(read_small_file(disclosure))
    except Rejected as exc:
        fail(exc.rejection)
    rejection = check_identity_disclosure(shown, commitment)
    if as_json:
        result = {
            "attributes": dict(shown.attributes),
            "commitment": commitment.hex(),
            "match": rejection is None,
            "code": None if rejection is None else str(rejection.code),
        }
        click.echo(json.dumps(result, sort_keys=True, ensure_ascii=False))
    else:
        for name, value in shown.attributes.items():
            click.echo(f"{name}: {value}")
        click.echo("match: the attributes match the commitment" if rejection is None else "match: NO")
    if rejection is not None:
        click.echo(f"error: {rejection.code}: {rejection.message}", err=True)
        raise SystemExit(EXIT_FAILED)
