"""`registry show`: a statement file, readably (protocol §9.5).

Parses the file, verifies every signature already in it (for the origin the statement names), and
prints the statement's type and fields, the signers by fingerprint, and which named parties have not
signed yet. Reads one file; no log, no network, no clock.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import click

from crypto import canonical
from crypto.keys import fingerprint

from ..errors import Rejected
from ..statements import (
    Declare,
    Entry,
    PolicyStatement,
    Reinstate,
    Revoke,
    Rotate,
    Unvouch,
    Vouch,
    declaration_hash,
    verify_entry,
)
from .app import cli, fail
from .keys_io import read_statement_file

__all__ = ["describe_entry", "entry_summary", "show", "verified_file"]


def _time(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms // 1000, tz=datetime.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def _key(key: bytes | None) -> str:
    return "-" if key is None else f"{key.hex()} ({fingerprint(key)})"


def _hex(value: bytes | None) -> str:
    return "-" if value is None else value.hex()


def _parties(entry: Entry) -> Sequence[tuple[str, bytes | None]]:
    """The parties whose signatures the statement needs, by member id; None for 'm of the council'."""
    stmt = entry.statement
    match stmt:
        case PolicyStatement() | Reinstate():
            return [("council", None)]
        case Declare():
            return [("member", stmt.member)] + ([("sponsor", stmt.sponsor)] if stmt.sponsor is not None else [])
        case Vouch():
            return [("voucher", stmt.voucher), ("subject", stmt.subject)]
        case Unvouch():
            return [("voucher", stmt.voucher)]
        case Revoke():
            return [("council", None)] if stmt.reason.by_council else [("member", stmt.member)]
        case Rotate():
            return [("member", stmt.member), ("new key", stmt.new_key)]


def _signer_roles(entry: Entry) -> list[tuple[bytes, list[str]]]:
    """Each signature's key with the roles it fills in the statement."""
    stmt = entry.statement
    parties = _parties(entry)
    result: list[tuple[bytes, list[str]]] = []
    for sig in entry.signatures:
        roles = [role for role, key in parties if key == sig.key]
        if isinstance(stmt, PolicyStatement) and stmt.version == 0 and sig.key in stmt.council:
            roles.append("council")
        elif ("council", None) in parties:
            roles.append("council (checked against the council in force when submitted)")
        result.append((sig.key, roles))
    return result


def _missing(entry: Entry) -> list[str]:
    """The named parties (by member id) who have not signed yet."""
    return [role for role, key in _parties(entry) if key is not None and key not in entry.signers]


def entry_summary(entry: Entry) -> dict[str, object]:
    """A JSON-ready description: the statement as signed, its hash, signers and missing parties."""
    stmt = entry.statement
    summary: dict[str, object] = {
        "type": str(entry.type),
        "statement": canonical.decode(entry.payload),
        "payload_sha256": hashlib.sha256(entry.payload).hexdigest(),
        "signatures": [
            {"key": key.hex(), "fingerprint": fingerprint(key), "roles": roles} for key, roles in _signer_roles(entry)
        ],
        "missing": _missing(entry),
    }
    if isinstance(stmt, PolicyStatement):
        summary["declaration_hashes"] = {
            lang: declaration_hash(text).hex() for lang, text in sorted(stmt.declarations.items())
        }
    return summary


def describe_entry(entry: Entry, *, texts: bool = False) -> list[str]:
    """The lines `registry show` prints for an entry whose signatures verified."""
    stmt = entry.statement
    lines = [f"type: {entry.type}", f"origin: {stmt.origin}"]
    lines.append(f"created_ms: {stmt.created_ms} ({_time(stmt.created_ms)})")
    match stmt:
        case PolicyStatement():
            lines.append(f"version: {stmt.version}" + (" (genesis)" if stmt.version == 0 else " (amendment)"))
            lines.append(f"founders ({len(stmt.founders)}):")
            lines += [f"  {_key(k)}" for k in stmt.founders]
            lines.append(f"council ({len(stmt.council)}), threshold {stmt.threshold} of {len(stmt.council)}:")
            lines += [f"  {_key(k)}" for k in stmt.council]
            lines.append("params:")
            lines += [f"  {name} = {str(getattr(stmt.params, name)).lower()}" for name in type(stmt.params).__slots__]
            lines.append("declarations (sha256 of the UTF-8 text, as `declare` names them):")
            for lang, text in sorted(stmt.declarations.items()):
                lines.append(f"  {lang}: {declaration_hash(text).hex()}")
                if texts:
                    lines += [f"    | {line}" for line in text.splitlines()]
        case Declare():
            lines += [f"member: {_key(stmt.member)}", f"declaration: {stmt.declaration.hex()}"]
            lines += [f"identity commitment: {_hex(stmt.commitment)}", f"sponsor: {_key(stmt.sponsor)}"]
        case Vouch():
            lines += [f"voucher: {_key(stmt.voucher)}", f"subject: {_key(stmt.subject)}"]
            lines.append(f"commitment: {_hex(stmt.commitment)}")
        case Unvouch():
            lines += [f"voucher: {_key(stmt.voucher)}", f"subject: {_key(stmt.subject)}"]
        case Revoke():
            lines += [f"member: {_key(stmt.member)}", f"reason: {stmt.reason}"]
            lines.append(f"evidence sha256: {_hex(stmt.evidence)}")
        case Reinstate():
            lines += [f"member: {_key(stmt.member)}", f"evidence sha256: {_hex(stmt.evidence)}"]
        case Rotate():
            lines += [f"member: {_key(stmt.member)}", f"new key: {_key(stmt.new_key)}"]
    lines.append(f"payload sha256: {entry.payload_hash.hex()}")
    if not entry.signatures:
        lines.append("signatures: none (an unsigned draft)")
    else:
        lines.append(f"signatures ({len(entry.signatures)}, all verify):")
        for key, roles in _signer_roles(entry):
            named = ", ".join(roles) or "a key the statement does not name (a rotated key?)"
            lines.append(f"  {fingerprint(key)} {key.hex()} {named}")
    if isinstance(stmt, PolicyStatement) or (isinstance(stmt, Revoke) and stmt.reason.by_council):
        lines.append("needs: signatures of m keys of the council in force (the genesis: of its own council)")
    elif isinstance(stmt, Reinstate):
        lines.append("needs: signatures of m keys of the council in force")
    missing = _missing(entry)
    if missing:
        lines.append(f"not signed yet by: {', '.join(missing)}")
    return lines


def verified_file(path: Path) -> Entry:
    """Read a statement file and verify the signatures in it; exit 1 with the code if either fails."""
    entry = read_statement_file(path)
    if entry.signatures:
        try:
            verify_entry(entry, entry.statement.origin)
        except Rejected as exc:
            fail(exc.rejection)
    return entry


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for machines.")
def show(file: Path, as_json: bool) -> None:
    """Print the statement file FILE readably: type, fields, signers, and who has not signed yet.

    Every signature in the file is verified for the origin the statement names. Whether the statement
    would be accepted depends on the log's state: `registry submit` decides that.

    Exit codes: 0 the file parses and its signatures verify; 1 it does not (prints
    `error: <code>: <message>` on stderr); 2 usage error.
    """
    entry = verified_file(file)
    if as_json:
        click.echo(json.dumps(entry_summary(entry), indent=2, sort_keys=True))
    else:
        for line in describe_entry(entry):
            click.echo(line)
