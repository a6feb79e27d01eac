"""Member commands of `registry`: keys and the statements a member signs (protocol §7.3-§7.9, §9.5).

`keygen` makes a key and its pre-signed revocation certificate; `declare`, `sponsor`, `vouch`,
`accept`, `unvouch`, `revoke`, `revocation` and `rotate` make or co-sign statement files. Every
statement is a file (protocol §9.5-a) so that the signatures of several parties can be gathered
offline: the first party makes the file and signs it, the next co-signs it in place. Nothing here
talks to a log; `registry submit` does (registry/cli/cmd_log.py).

The clock is read here (`created_ms`), never in the core. Which keys a statement needs is decided by
the rules engine when the statement is submitted; these commands only refuse what would clearly fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import click

from crypto.errors import CryptoError
from crypto.keyfile import write_key_file
from crypto.keys import SigningKey, fingerprint

from ..errors import ErrorCode, Rejection
from ..statements import (
    Declare,
    Entry,
    MemberId,
    PolicyStatement,
    Reason,
    Revoke,
    Rotate,
    Unvouch,
    Vouch,
    declaration_hash,
    entry_from_statement,
    sign_entry,
)
from .app import cli, fail, fail_crypto, fail_usage
from .keys_io import (
    PASSPHRASE_ENV,
    load_key,
    make_statement,
    new_passphrase,
    now_ms,
    read_statement_file,
    sign_statement_file,
    write_statement_file,
)
from .options import (
    FILE_PATH,
    HEX32,
    KEY_PATH,
    MEMBER_ID,
    OUT_PATH,
    key_option,
    origin_option,
    out_option,
    shipped_declarations,
)

__all__ = [
    "accept",
    "declare",
    "keygen",
    "revocation",
    "revocation_certificate",
    "revoke",
    "rotate",
    "sponsor",
    "unvouch",
    "vouch",
]

_MEMBER_REASONS: Final = (Reason.WITHDRAWN.value, Reason.KEY_COMPROMISED.value, Reason.DURESS.value)


def _acting_member(key: SigningKey, as_member: bytes | None) -> MemberId:
    """The member id a key acts for: its own public key, or the id it was rotated from (`--as`)."""
    return MemberId(as_member if as_member is not None else key.public_key)


_AS_HELP: Final = "Your member id, if KEY is not the key you declared with (after a rotation)."


# --- keygen and the pre-signed revocation certificate ----------------------------------------------


def revocation_certificate(
    key: SigningKey, origin: str, created_ms: int, reason: Reason = Reason.KEY_COMPROMISED, member: bytes | None = None
) -> Entry:
    """The pre-signed revocation certificate of `key` (protocol §9.5-c).

    A `revoke` statement for `member` (default: the key's own member id), with no evidence, signed by
    `key` alone for the log `origin`.

    Raises:
        MalformedEncoding (`malformed_encoding`): `origin` breaks protocol §3.3-d.
    """
    statement = Revoke(origin, created_ms, _acting_member(key, member), reason, None)
    return sign_entry(entry_from_statement(statement), key)


@cli.command()
@click.option("--out", "out", type=OUT_PATH, required=True, help="The key file to create (never overwritten).")
@origin_option(required=False)
@click.option(
    "--revocation-reason",
    type=click.Choice(_MEMBER_REASONS),
    default=Reason.KEY_COMPROMISED.value,
    show_default=True,
    help="The reason the pre-signed revocation certificate gives.",
)
@click.option("--encrypt", is_flag=True, help=f"Encrypt the key with a passphrase (${PASSPHRASE_ENV} or a prompt).")
def keygen(out: Path, origin: str | None, revocation_reason: str, encrypt: bool) -> None:
    """Create a new member key in FILE (mode 0600) and its revocation certificate FILE.revocation.

    The certificate is a `revoke` statement signed in advance by the new key. Give it to a trusted
    friend: if you are arrested or lose the key, they submit it and your membership ends. Because
    every signature is bound to one log, the certificate needs --origin (or $REGISTRY_ORIGIN);
    without it, no certificate is written and you can make one later with `registry revocation`.

    With --encrypt the key is stored under a passphrase, read from $REGISTRY_PASSPHRASE or typed twice
    on a terminal (nothing prompts when stdin is not a terminal).

    Output: the last line on stdout is the member id (64 hex digits, the public key). Exit codes:
    0 success; 1 the key could not be written; 2 usage error (FILE or FILE.revocation exists).
    """
    cert_path = out.with_name(out.name + ".revocation")
    if out.exists():
        fail_usage(f"refusing to overwrite the existing key file {out}")
    if origin is not None and cert_path.exists():
        fail_usage(f"refusing to overwrite the existing revocation certificate {cert_path}")
    passphrase = new_passphrase() if encrypt else None
    key = SigningKey.generate()
    try:
        write_key_file(out, key, passphrase)
    except FileExistsError:
        fail_usage(f"refusing to overwrite the existing key file {out}")
    except CryptoError as exc:
        fail_crypto(exc)
    except OSError as exc:
        fail(Rejection(ErrorCode.UNAVAILABLE, f"cannot write the key file {out}: {exc.strerror}"))
    member_id = key.public_key.hex()
    state = "mode 0600, encrypted" if encrypt else "mode 0600"
    click.echo(f"wrote key {out} ({state}), fingerprint {fingerprint(key.public_key)}", err=True)
    if origin is None:
        click.echo(
            f"no revocation certificate written: it must name the log's origin. Make it with\n"
            f"  registry revocation --key {out} --origin ORIGIN --out {cert_path}",
            err=True,
        )
    else:
        entry = revocation_certificate(key, origin, now_ms(), Reason(revocation_reason))
        write_statement_file(cert_path, entry, private=True)
        click.echo(
            f"wrote revocation certificate {cert_path} (reason {revocation_reason}): give it to a trusted friend",
            err=True,
        )
    click.echo(member_id)


@cli.command()
@key_option("The member's key file (the key in force: after a rotation, the new one).")
@origin_option()
@click.option(
    "--reason", type=click.Choice(_MEMBER_REASONS), default=Reason.KEY_COMPROMISED.value, show_default=True
)
@click.option("--member", "member", type=MEMBER_ID, default=None, help="The member id (default: KEY's public key).")
@out_option
def revocation(key_path: Path, origin: str, reason: str, member: bytes | None, out: Path, force: bool) -> None:
    """Make a pre-signed revocation certificate, to hand to a trusted friend (written with mode 0600).

    Anyone holding the file can submit it to end the membership, so keep it as safe as the key. After
    a rotation, make a new one with the new key and --member ID (the old certificate no longer works).

    Output: the path on stdout. Exit codes: 0 written; 1 bad key; 2 usage error.
    """
    key = load_key(key_path)
    entry = revocation_certificate(key, origin, now_ms(), Reason(reason), member)
    write_statement_file(out, entry, force=force, private=True)
    click.echo(str(out))


@cli.command()
@key_option("The member's key file (the key in force).")
@click.option("--reason", type=click.Choice(_MEMBER_REASONS), required=True, help="Why the membership ends.")
@origin_option()
@click.option("--member", "member", type=MEMBER_ID, default=None, help="The member id (default: KEY's public key).")
@out_option
def revoke(key_path: Path, reason: str, origin: str, member: bytes | None, out: Path, force: bool) -> None:
    """Revoke your own membership: a `revoke` statement signed by your key (protocol §7.6).

    `key_compromised` also voids the vouches that key gave; `withdrawn` and `duress` keep them.
    Council revocations (fraud, declaration breach) are made with `registry council revoke`.

    Output: the path on stdout. Exit codes: 0 written; 1 bad key; 2 usage error.
    """
    key = load_key(key_path)
    statement = Revoke(origin, now_ms(), _acting_member(key, member), Reason(reason), None)
    make_statement(statement, [key], out, force=force)


# --- joining ---------------------------------------------------------------------------------------


def _declaration_from_policy(path: Path, lang: str, origin: str) -> bytes:
    entry = read_statement_file(path)
    stmt = entry.statement
    if not isinstance(stmt, PolicyStatement):
        fail_usage(f"{path} holds a {entry.type} statement, not a policy")
    if stmt.origin != origin:
        fail_usage(f"the policy {path} is for origin {stmt.origin}, not {origin}")
    if lang not in stmt.declarations:
        fail_usage(f"the policy has no declaration in '{lang}' (it has: {', '.join(sorted(stmt.declarations))})")
    return declaration_hash(stmt.declarations[lang])


@cli.command()
@key_option("The new member's key file (from `registry keygen`).")
@origin_option()
@click.option("--declaration", "lang", required=True, help="The language of the declaration you sign: en, ru, ...")
@click.option("--policy", "policy_path", type=FILE_PATH, default=None, help="Take the text from this policy file.")
@click.option("--declaration-hash", "decl_hash", type=HEX32, default=None, help="Sign this declaration hash.")
@click.option("--identity-commitment", "commitment", type=HEX32, default=None, help="Your identity commitment.")
@click.option("--sponsor", "sponsor_id", type=MEMBER_ID, default=None, help="The member id of your sponsor.")
@out_option
def declare(
    key_path: Path,
    origin: str,
    lang: str,
    policy_path: Path | None,
    decl_hash: bytes | None,
    commitment: bytes | None,
    sponsor_id: bytes | None,
    out: Path,
    force: bool,
) -> None:
    """Declare: sign a declaration against the war and ask to join, with a sponsor (protocol §7.3).

    The statement names the SHA-256 of the declaration text in language LANG: by default of the text
    shipped with this program, or of the text in the policy file given with --policy, or exactly the
    hash given with --declaration-hash. It must be a text of the policy in force.

    The sponsor is part of what you sign, so name them now with --sponsor ID. They then co-sign the
    file in place with `registry sponsor FILE --key SPONSOR_KEY`. A log whose policy requires a sponsor
    (the default) refuses a declaration without one.

    Output: the path on stdout. Exit codes: 0 written; 1 bad key; 2 usage error.
    """
    if policy_path is not None and decl_hash is not None:
        fail_usage("give either --policy or --declaration-hash, not both")
    if decl_hash is None:
        if policy_path is not None:
            decl_hash = _declaration_from_policy(policy_path, lang, origin)
        else:
            texts = shipped_declarations()
            if lang not in texts:
                fail_usage(f"no shipped declaration in '{lang}' (there are: {', '.join(sorted(texts))})")
            decl_hash = declaration_hash(texts[lang])
    key = load_key(key_path)
    if sponsor_id == key.public_key:
        fail(Rejection(ErrorCode.SELF_VOUCH, "a member cannot sponsor themselves", "7.4-a"))
    sponsor_member = None if sponsor_id is None else MemberId(sponsor_id)
    statement = Declare(origin, now_ms(), MemberId(key.public_key), decl_hash, commitment, sponsor_member)
    make_statement(statement, [key], out, force=force)
    if sponsor_id is None:
        click.echo("note: no sponsor named; a log that requires a sponsor will refuse this declaration", err=True)
    else:
        click.echo(f"next: the sponsor co-signs it: registry sponsor {out} --key SPONSOR_KEY", err=True)


@cli.command()
@click.argument("file", type=FILE_PATH)
@key_option("The sponsor's key file.")
@click.option("--as", "as_member", type=MEMBER_ID, default=None, help=_AS_HELP)
def sponsor(file: Path, key_path: Path, as_member: bytes | None) -> None:
    """Co-sign, as its sponsor, the declaration in FILE (in place).

    The declaration must name you as sponsor (by your member id); a file naming another sponsor, or
    none, is refused: the new member makes it again with `registry declare --sponsor ID`. Your
    signature counts as the first vouch for the new member (protocol §7.3-j).

    Output: the path on stdout. Exit codes: 0 signed; 1 the file does not parse, a signature in it does
    not verify, or it names another sponsor; 2 usage error.
    """

    def check(entry: Entry, key: SigningKey) -> None:
        stmt = entry.statement
        if not isinstance(stmt, Declare):  # pragma: no cover - sign_statement_file checked the kind
            return
        me = _acting_member(key, as_member)
        if stmt.sponsor is None:
            fail(Rejection(ErrorCode.UNEXPECTED_SIGNATURE, "the declaration names no sponsor", "7.3-i"))
        if stmt.sponsor != me:
            fail(
                Rejection(
                    ErrorCode.UNEXPECTED_SIGNATURE,
                    f"the declaration names sponsor {fingerprint(stmt.sponsor)}, not {fingerprint(me)}",
                    "7.3-i",
                )
            )

    sign_statement_file(file, key_path, (Declare,), "sponsor", check)


# --- vouching --------------------------------------------------------------------------------------


@cli.command()
@key_option("The voucher's key file.")
@click.option("--member", "member", type=MEMBER_ID, required=True, help="The member id you vouch for.")
@origin_option()
@click.option("--commitment", type=HEX32, default=None, help="The subject's identity commitment, if they declared one.")
@click.option("--as", "as_member", type=MEMBER_ID, default=None, help=_AS_HELP)
@out_option
def vouch(
    key_path: Path,
    member: bytes,
    origin: str,
    commitment: bytes | None,
    as_member: bytes | None,
    out: Path,
    force: bool,
) -> None:
    """Vouch that you confirmed the identity behind member ID (protocol §7.4).

    The subject must accept the vouch by countersigning the file: `registry accept FILE --key KEY`.
    No statement can be attached to a member without their consent. --commitment must equal the
    identity commitment the subject declared.

    Output: the path on stdout. Exit codes: 0 written; 1 bad key or self-vouch; 2 usage error.
    """
    key = load_key(key_path)
    voucher = _acting_member(key, as_member)
    if voucher == member:
        fail(Rejection(ErrorCode.SELF_VOUCH, "a member cannot vouch for themselves", "7.4-a"))
    make_statement(Vouch(origin, now_ms(), voucher, MemberId(member), commitment), [key], out, force=force)
    click.echo(f"next: the subject countersigns it: registry accept {out} --key SUBJECT_KEY", err=True)


@cli.command()
@click.argument("file", type=FILE_PATH)
@key_option("The subject's key file.")
def accept(file: Path, key_path: Path) -> None:
    """Accept the vouch in FILE by countersigning it as its subject (in place).

    The vouch names the subject by member id, the key that declared. After a rotation the key in
    force differs: it is accepted, with a warning, and the log checks it is that member's key.

    Output: the path on stdout. Exit codes: 0 signed; 1 the file does not parse or a signature in it
    does not verify; 2 usage error.
    """

    def check(entry: Entry, key: SigningKey) -> None:
        stmt = entry.statement
        if isinstance(stmt, Vouch) and stmt.subject != key.public_key:
            click.echo(
                f"warning: the vouch names subject {fingerprint(stmt.subject)}, this key is "
                f"{fingerprint(key.public_key)}; the log accepts it only if this is that member's key in force",
                err=True,
            )

    sign_statement_file(file, key_path, (Vouch,), "accept", check)


@cli.command()
@key_option("The voucher's key file.")
@click.option("--member", "member", type=MEMBER_ID, required=True, help="The member id whose vouch you withdraw.")
@origin_option()
@click.option("--as", "as_member", type=MEMBER_ID, default=None, help=_AS_HELP)
@out_option
def unvouch(key_path: Path, member: bytes, origin: str, as_member: bytes | None, out: Path, force: bool) -> None:
    """Withdraw your vouch for member ID (protocol §7.5). Signed by you alone.

    Output: the path on stdout. Exit codes: 0 written; 1 bad key; 2 usage error.
    """
    key = load_key(key_path)
    make_statement(Unvouch(origin, now_ms(), _acting_member(key, as_member), MemberId(member)), [key], out, force=force)


# --- rotation --------------------------------------------------------------------------------------


@cli.command()
@key_option("The key in force (it is retired by the rotation).")
@click.option("--new-key", "new_key_path", type=KEY_PATH, required=True, help="The new key file (`registry keygen`).")
@origin_option()
@click.option("--member", "member", type=MEMBER_ID, default=None, help="The member id (default: KEY's public key).")
@out_option
def rotate(
    key_path: Path, new_key_path: Path, origin: str, member: bytes | None, out: Path, force: bool
) -> None:
    """Move a membership to a new key, signed by both keys (protocol §7.9).

    Status, vouches and history carry over; the old key can sign nothing afterwards. Your member id
    stays the key you declared with: pass it with --member ID when KEY is itself a rotated key. The
    revocation certificates made with the old key stop working: make a new one with
    `registry revocation --key NEW_KEY --member ID`.

    Output: the path on stdout. Exit codes: 0 written; 1 bad key; 2 usage error.
    """
    key = load_key(key_path)
    new_key = load_key(new_key_path)
    if new_key.public_key == key.public_key:
        fail_usage("--new-key must be a different key from --key")
    member_id = _acting_member(key, member)
    make_statement(Rotate(origin, now_ms(), member_id, new_key.public_key), [key, new_key], out, force=force)
    click.echo(
        f"next: once it is in the log, make a new revocation certificate:\n"
        f"  registry revocation --key {new_key_path} --member {member_id.hex()} --origin {origin} --out FILE",
        err=True,
    )
