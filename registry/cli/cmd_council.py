"""Council commands of `registry`: policies, council revocations and reinstatements (protocol §7.2, §7.6).

`policy new` makes the genesis policy (version 0), `policy amend` an amendment (version n+1), and
`policy sign` adds a council signature in place. `council revoke` and `council reinstate` make
unsigned drafts that m council members then sign in place with `council sign`. Every file is a
statement file (protocol §9.5-a). A council revocation stores only the SHA-256 of the evidence file,
never the evidence (protocol §9.5-f).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Final

import click

from crypto import canonical
from crypto.keys import SigningKey, fingerprint

from ..errors import ErrorCode, Rejected, Rejection
from ..rules import REQUIRED_LANGUAGES
from ..statements import (
    Entry,
    MemberId,
    Params,
    PolicyStatement,
    Reason,
    Reinstate,
    Revoke,
    format_statement,
    parse_statement,
)
from .app import cli, fail, fail_usage
from .cmd_show import describe_entry, entry_summary, verified_file
from .keys_io import make_statement, now_ms, read_statement_file, sign_statement_file
from .options import FILE_PATH, KEY_PATH, MEMBER_ID, OUT_PATH, origin_option, shipped_declarations

__all__ = ["council", "parse_param_settings", "policy"]

_PARAM_NAMES: Final = tuple(f.name for f in fields(Params))
_COUNCIL_REASONS: Final = (Reason.FRAUD.value, Reason.DECLARATION_BREACH.value)
_DIR_PATH: Final = click.Path(path_type=Path, file_okay=False, exists=True)


def parse_param_settings(settings: Sequence[str], base: Params) -> Params:
    """Apply `NAME=VALUE` settings to `base`; raise click.BadParameter naming the allowed names."""
    values: dict[str, Any] = {}
    for setting in settings:
        name, sep, raw = setting.partition("=")
        name = name.strip()
        if not sep or name not in _PARAM_NAMES:
            raise click.BadParameter(
                f"'{setting}': expected NAME=VALUE with NAME one of {', '.join(_PARAM_NAMES)}", param_hint="--set"
            )
        raw = raw.strip().lower()
        if isinstance(getattr(base, name), bool):
            if raw not in ("true", "false"):
                raise click.BadParameter(f"'{setting}': {name} must be true or false", param_hint="--set")
            values[name] = raw == "true"
        else:
            try:
                values[name] = int(raw, 10)
            except ValueError:
                raise click.BadParameter(f"'{setting}': {name} must be an integer", param_hint="--set") from None
    return replace(base, **values)


def _read_declarations(folder: Path | None) -> dict[str, str]:
    """The declaration texts: `<lang>.txt` files of `folder`, or the texts shipped with the package."""
    if folder is None:
        return shipped_declarations()
    texts: dict[str, str] = {}
    for path in sorted(folder.glob("*.txt")):
        try:
            texts[path.stem] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeError):
            fail_usage(f"cannot read {path} as UTF-8 text")
    return texts


def _checked_policy(statement: PolicyStatement) -> PolicyStatement:
    """Refuse, as a usage error, a policy the parser or the rules would refuse (bounds, languages)."""
    for lang in REQUIRED_LANGUAGES:
        if lang not in statement.declarations:
            fail_usage(f"a policy must hold a declaration in '{lang}' (a file {lang}.txt)")
    try:
        parsed = parse_statement(canonical.decode(format_statement(statement)))
    except Rejected as exc:
        fail_usage(f"the policy is not valid: {exc.rejection.message}")
    if not isinstance(parsed, PolicyStatement):  # pragma: no cover - a policy always parses as one
        fail_usage("the policy is not valid")
    return parsed


def _sorted_keys(keys: Sequence[bytes], option: str) -> tuple[bytes, ...]:
    if len(set(keys)) != len(keys):
        fail_usage(f"{option} names the same key twice")
    return tuple(sorted(keys))


# --- policy ----------------------------------------------------------------------------------------


@cli.group()
def policy() -> None:
    """Make, sign and show policies: the genesis of a log and its amendments (protocol §7.2)."""


_SET_HELP: Final = f"Set a rule parameter, NAME=VALUE (repeatable). Names: {', '.join(_PARAM_NAMES)}."
_DECL_HELP: Final = "A folder of <lang>.txt declaration texts (default: the texts shipped with this program)."


@policy.command("new")
@origin_option()
@click.option("--founder", "founders", type=MEMBER_ID, multiple=True, required=True, help="A founder's member id.")
@click.option("--council", "council_keys", type=MEMBER_ID, multiple=True, required=True, help="A council key.")
@click.option("--threshold", type=click.IntRange(min=1), required=True, help="Council signatures needed (m of n).")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE", help=_SET_HELP)
@click.option("--declarations", "decl_dir", type=_DIR_PATH, default=None, help=_DECL_HELP)
@click.option("--out", "out", type=OUT_PATH, required=True, help="The policy file to write (unsigned).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def policy_new(
    origin: str,
    founders: tuple[bytes, ...],
    council_keys: tuple[bytes, ...],
    threshold: int,
    settings: tuple[str, ...],
    decl_dir: Path | None,
    out: Path,
    force: bool,
) -> None:
    """Make the genesis policy (version 0) of a new log, unsigned.

    Founders are verified from genesis; the council's m of n keys sign amendments, council
    revocations and reinstatements. The declaration texts (at least en and ru) come from the files
    shipped with this program unless --declarations DIR is given. Then at least THRESHOLD council
    members sign it: `registry policy sign FILE --key KEY`.

    Output: the path on stdout. Exit codes: 0 written; 2 usage error (a bad --set name or value, a
    threshold above the council size, a missing language).
    """
    if threshold > len(council_keys):
        fail_usage(f"--threshold {threshold} is more than the {len(council_keys)} council keys")
    params = parse_param_settings(settings, Params())
    statement = PolicyStatement(
        origin=origin,
        created_ms=now_ms(),
        version=0,
        founders=tuple(MemberId(k) for k in _sorted_keys(founders, "--founder")),
        council=_sorted_keys(council_keys, "--council"),
        threshold=threshold,
        declarations=_read_declarations(decl_dir),
        params=params,
    )
    make_statement(_checked_policy(statement), [], out, force=force)
    click.echo(f"next: at least {threshold} council members sign it: registry policy sign {out} --key KEY", err=True)


@policy.command("amend")
@click.argument("current", type=FILE_PATH)
@click.option("--council", "council_keys", type=MEMBER_ID, multiple=True, help="Replace the council (repeatable).")
@click.option("--threshold", type=click.IntRange(min=1), default=None, help="Replace the threshold m.")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE", help=_SET_HELP)
@click.option("--declarations", "decl_dir", type=_DIR_PATH, default=None, help="Replace the declaration texts.")
@click.option("--version", "version", type=click.IntRange(min=1), default=None, help="Default: CURRENT's + 1.")
@click.option("--out", "out", type=OUT_PATH, required=True, help="The amendment file to write (unsigned).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def policy_amend(
    current: Path,
    council_keys: tuple[bytes, ...],
    threshold: int | None,
    settings: tuple[str, ...],
    decl_dir: Path | None,
    version: int | None,
    out: Path,
    force: bool,
) -> None:
    """Make an amendment of the policy in force CURRENT (a policy file), unsigned.

    The amendment has version n+1, names no founders, and keeps everything of CURRENT that the
    options do not change (--set changes single parameters of CURRENT). It must be signed by m keys
    of the council in force (CURRENT's), even when it names a new council.

    Output: the path on stdout. Exit codes: 0 written; 1 CURRENT does not parse; 2 usage error.
    """
    entry = read_statement_file(current)
    old = entry.statement
    if not isinstance(old, PolicyStatement):
        fail_usage(f"{current} holds a {entry.type} statement, not a policy")
    council = _sorted_keys(council_keys, "--council") if council_keys else old.council
    new_threshold = threshold if threshold is not None else old.threshold
    if new_threshold > len(council):
        fail_usage(f"--threshold {new_threshold} is more than the {len(council)} council keys")
    statement = PolicyStatement(
        origin=old.origin,
        created_ms=now_ms(),
        version=version if version is not None else old.version + 1,
        founders=(),
        council=council,
        threshold=new_threshold,
        declarations=_read_declarations(decl_dir) if decl_dir is not None else dict(old.declarations),
        params=parse_param_settings(settings, old.params),
    )
    make_statement(_checked_policy(statement), [], out, force=force)
    click.echo(
        f"next: {old.threshold} members of the council in force sign it: registry policy sign {out} --key KEY",
        err=True,
    )


@policy.command("sign")
@click.argument("file", type=FILE_PATH)
@click.option("--key", "key_path", type=KEY_PATH, required=True, help="A council member's key file.")
def policy_sign(file: Path, key_path: Path) -> None:
    """Add a council signature to the policy in FILE (in place, atomically).

    A genesis policy is signed by its own council, so a key outside its council list is refused; an
    amendment is signed by the council in force, which only the log knows.

    Output: the path on stdout. Exit codes: 0 signed; 1 FILE does not parse, a signature in it does
    not verify, or the key is not in a genesis policy's council; 2 usage error.
    """

    def check(entry: Entry, key: SigningKey) -> None:
        stmt = entry.statement
        if isinstance(stmt, PolicyStatement) and stmt.version == 0 and key.public_key not in stmt.council:
            fail(
                Rejection(
                    ErrorCode.UNEXPECTED_SIGNATURE,
                    f"key {fingerprint(key.public_key)} is not in the council of this genesis policy",
                    "7.2-g",
                )
            )

    sign_statement_file(file, key_path, (PolicyStatement,), "policy sign", check)


@policy.command("show")
@click.argument("file", type=FILE_PATH)
@click.option("--text", "texts", is_flag=True, help="Also print the declaration texts.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for machines.")
def policy_show(file: Path, texts: bool, as_json: bool) -> None:
    """Print the policy in FILE: council, threshold, parameters and the declaration hashes.

    A declaration hash is the SHA-256 of the UTF-8 text: what `registry declare` signs.

    Exit codes: 0 shown; 1 FILE does not parse or a signature in it does not verify; 2 usage error.
    """
    entry = verified_file(file)
    if not isinstance(entry.statement, PolicyStatement):
        fail_usage(f"{file} holds a {entry.type} statement, not a policy")
    if as_json:
        click.echo(json.dumps(entry_summary(entry), indent=2, sort_keys=True))
        return
    for line in describe_entry(entry, texts=texts):
        click.echo(line)


# --- council revocation and reinstatement ----------------------------------------------------------


@cli.group()
def council() -> None:
    """Council statements: revoke for fraud or declaration breach, reinstate on appeal (protocol §7.6)."""


def _evidence_hash(path: Path) -> bytes:
    """SHA-256 of the evidence file: the log stores this hash, never the evidence (protocol §9.5-f)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 16), b""):
                digest.update(block)
    except OSError as exc:
        fail_usage(f"cannot read the evidence file {path}: {exc.strerror}")
    return digest.digest()


def _council_draft(statement: Revoke | Reinstate, out: Path, force: bool) -> None:
    make_statement(statement, [], out, force=force)
    click.echo(f"next: m council members sign it: registry council sign {out} --key KEY", err=True)


@council.command("revoke")
@click.option("--member", "member", type=MEMBER_ID, required=True, help="The member id to revoke.")
@click.option("--reason", type=click.Choice(_COUNCIL_REASONS), required=True, help="Why.")
@click.option("--evidence", type=FILE_PATH, required=True, help="The evidence file (only its SHA-256 is kept).")
@origin_option()
@click.option("--out", "out", type=OUT_PATH, required=True, help="The statement file to write (unsigned).")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def council_revoke(member: bytes, reason: str, evidence: Path, origin: str, out: Path, force: bool) -> None:
    """Draft a council revocation of member ID for fraud or declaration breach.

    The statement carries the SHA-256 of the evidence file, never the evidence: keep the file, the
    hash lets anyone holding it prove what the decision rested on. A fraud revocation voids every
    vouch the member gave, gives a strike to each of their vouchers, and members verified only
    thanks to them drop back to pending.

    Output: the path on stdout. Exit codes: 0 written; 2 usage error.
    """
    statement = Revoke(origin, now_ms(), MemberId(member), Reason(reason), _evidence_hash(evidence))
    _council_draft(statement, out, force)


@council.command("reinstate")
@click.option("--member", "member", type=MEMBER_ID, required=True, help="The member id to reinstate.")
@click.option("--evidence", type=FILE_PATH, default=None, help="The appeal's evidence file (only its SHA-256).")
@origin_option()
@click.option("--out", "out", type=OUT_PATH, required=True, help="The statement file to write (unsigned).")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def council_reinstate(member: bytes, evidence: Path | None, origin: str, out: Path, force: bool) -> None:
    """Draft the reinstatement of member ID after a council revocation (the appeal path).

    What the revocation voided is restored and the strikes it gave are lifted.

    Output: the path on stdout. Exit codes: 0 written; 2 usage error.
    """
    evidence_hash = None if evidence is None else _evidence_hash(evidence)
    _council_draft(Reinstate(origin, now_ms(), MemberId(member), evidence_hash), out, force)


@council.command("sign")
@click.argument("file", type=FILE_PATH)
@click.option("--key", "key_path", type=KEY_PATH, required=True, help="A council member's key file.")
def council_sign(file: Path, key_path: Path) -> None:
    """Add a council signature to the council revocation or reinstatement in FILE (in place).

    Output: the path on stdout. Exit codes: 0 signed; 1 FILE does not parse or a signature in it does
    not verify; 2 usage error (FILE is not a council statement).
    """
    entry = read_statement_file(file)
    stmt = entry.statement
    if isinstance(stmt, Revoke) and not stmt.reason.by_council:
        fail_usage(f"{file} is a member's own revocation; only its member signs it")
    sign_statement_file(file, key_path, (Revoke, Reinstate), "council sign")
