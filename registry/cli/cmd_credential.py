"""`registry credential`, `registry challenge`, `registry present`, `registry verify`: fetching,
presenting and checking credentials offline (protocol §8.1, §9.7), and the QR code of a credential's
binary form.

`registry verify` reads the presentation and the trust policy and runs the steps of §8.1 with the
machine's clock; it never opens a network connection (STYLE §9): everything it needs is in the two
files. This module is shell: it reads files, the clock and the OS random generator.
"""

from __future__ import annotations

import datetime
import json
import secrets
import time
from pathlib import Path
from typing import Final, NoReturn

import click

from crypto.errors import CryptoError
from crypto.keyfile import read_public_key
from crypto.keys import fingerprint

from ..credential import (
    BINARY_MAGIC,
    Credential,
    format_credential_binary,
    format_credential_text,
    parse_credential_text,
)
from ..errors import ErrorCode, RegistryError, Rejected, Rejection
from ..identity import ATTRIBUTES, parse_identity_disclosure
from ..presentation import (
    MIN_CHALLENGE_SIZE,
    format_presentation,
    make_presentation,
    parse_challenge,
    parse_presentation,
)
from ..trust import parse_duration, parse_trust_policy
from ..verify import Verdict, VerificationFailed, check_presentation, verify_credential
from .app import EXIT_FAILED, cli, fail, fail_usage
from .cmd_identity import OUT_PATH, read_small_file
from .keys_io import load_key, write_file_atomic
from .server_io import SERVER_HELP, fail_remote, open_client

__all__ = ["base45_encode", "challenge", "credential", "present", "verify", "write_qr"]

_FILE_PATH: Final = click.Path(path_type=Path, dir_okay=False, exists=True)
_BASE45: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def base45_encode(data: bytes) -> str:
    """RFC 9285 base45: every two bytes become three characters of the QR alphanumeric alphabet."""
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = n % 45, n // 45
        d, e = n % 45, n // 45
        out += [_BASE45[c], _BASE45[d], _BASE45[e]]
    if len(data) % 2:
        n = data[-1]
        out += [_BASE45[n % 45], _BASE45[n // 45]]
    return "".join(out)


def write_qr(credential: Credential, path: Path, *, force: bool = False) -> str:
    """Write the QR code of the credential's binary form, base45 in alphanumeric mode (§9.7-d).

    Returns the QR version and error level used, e.g. "30-M". The format is chosen by the file
    name: `.png` or `.svg`. Exits 2 when the file exists and `force` is false.
    """
    if path.suffix.lower() not in (".png", ".svg"):
        fail_usage("--qr takes a .png or .svg file name")
    if path.exists() and not force:
        fail_usage(f"refusing to overwrite {path} (use --force)")
    try:
        # Only --qr needs segno (a dependency of this option alone): every other command runs without it.
        import segno  # noqa: PLC0415
    except ImportError:
        fail(Rejection(ErrorCode.UNAVAILABLE, "--qr needs the segno package (pip install 'segno>=1.6')", "9.7-d"))
    content = base45_encode(format_credential_binary(credential))
    for level in ("m", "l"):
        try:
            qr = segno.make_qr(content, error=level, boost_error=False)
            break
        except segno.DataOverflowError:
            continue
    else:
        fail(Rejection(ErrorCode.TOO_LARGE, "the credential does not fit one QR code", "9.7-d"))
    qr.save(str(path), scale=4, border=4)
    return f"{qr.version}-{qr.error}"


@cli.command()
@click.option("--key", "key_path", type=_FILE_PATH, required=True, help="Your key file (only its public key is read).")
@click.option("--server", required=True, help=SERVER_HELP)
@click.option("--out", type=OUT_PATH, required=True, help="The credential file to write (mode 0600).")
@click.option("--binary", is_flag=True, help="Write the compact binary form instead of the text form.")
@click.option("--qr", "qr_path", type=OUT_PATH, help="Also write the binary form as a QR code (.png or .svg).")
@click.option("--trust", "policy_path", type=_FILE_PATH, help="Check the credential against this trust policy.")
@click.option("--force", is_flag=True, help="Replace the outputs if they exist.")
def credential(
    key_path: Path, server: str, out: Path, binary: bool, qr_path: Path | None, policy_path: Path | None, force: bool
) -> None:
    """Fetch your credential from a registry server (GET /v1/credential) and write it.

    With --trust, steps 1 to 5 of the offline check (signature, witnesses, state leaf, freshness,
    status tree proof) are run before anything is written. The status it proves is printed; a
    credential that says `revoked` is still written (it is what the log says).

    Exit codes: 0 written; 1 refused (unknown member, a credential that does not check out);
    2 usage error; 3 server unreachable.
    """
    try:
        member = read_public_key(key_path)
    except CryptoError as exc:
        fail(Rejection(ErrorCode.BAD_KEY, exc.message, "3.4-c"))
    try:
        with open_client(server) as client:
            fetched = client.credential(member)
    except RegistryError as exc:
        fail_remote(exc)
    if policy_path is not None:
        try:
            policy = parse_trust_policy(read_small_file(policy_path, 65_536))
        except Rejected as exc:
            fail(exc.rejection)
        try:
            verify_credential(fetched, policy, now_ms=time.time_ns() // 1_000_000)
        except VerificationFailed as exc:
            _report_failure(exc.step, exc.step_name, exc.rejection, False)
    data = format_credential_binary(fetched) if binary else format_credential_text(fetched)
    try:
        write_file_atomic(out, data, force=force, mode=0o600)
    except FileExistsError as exc:
        fail_usage(str(exc))
    except OSError as exc:
        fail(Rejection(ErrorCode.UNAVAILABLE, f"cannot write {out}: {exc.strerror}"))
    if qr_path is not None:
        version = write_qr(fetched, qr_path, force=force)
        click.echo(f"wrote {qr_path}: QR version {version}", err=True)
    leaf = fetched.leaf
    click.echo(f"wrote {out}: member {fingerprint(fetched.member_id)}, status {leaf.status} since log entry "
               f"{leaf.since}, tree size {fetched.checkpoint.size}, as of {_when(fetched.state.logged_ms)}",
               err=True)  # fmt: skip
    if leaf.status.value != "verified":
        click.echo(f"warning: this credential says {leaf.status}: verifiers will refuse it", err=True)


@cli.command()
def challenge() -> None:
    """Print a fresh random challenge (16 bytes, hex) for a holder to sign with `registry present`.

    Use each challenge once, and pass it to `registry verify --challenge` to refuse replayed
    presentations. Exit code 0.
    """
    click.echo(secrets.token_bytes(MIN_CHALLENGE_SIZE).hex())


@cli.command()
@click.argument("credential_file", metavar="CREDENTIAL", type=_FILE_PATH)
@click.option("--key", "key_path", type=_FILE_PATH, required=True, help="Your key file (the current key).")
@click.option("--challenge", "challenge_hex", required=True, help="The verifier's challenge (hex).")
@click.option("--disclose", "disclosure_path", type=_FILE_PATH, help="A disclosure file to show with it.")
@click.option("--out", type=OUT_PATH, required=True, help="The presentation file to write.")
@click.option("--force", is_flag=True, help="Replace the output if it exists.")
def present(
    credential_file: Path, key_path: Path, challenge_hex: str, disclosure_path: Path | None, out: Path, force: bool
) -> None:
    """Sign a verifier's challenge for CREDENTIAL (text form), optionally with a disclosure.

    Exit codes: 0 written; 1 unreadable credential, key or disclosure, or a key that is not the one
    the credential names; 2 usage error.
    """
    try:
        nonce = parse_challenge(challenge_hex)
    except Rejected as exc:
        fail_usage(exc.message)
    data = read_small_file(credential_file)
    if data.startswith(BINARY_MAGIC):
        fail_usage("present needs the credential's text form (the binary form is for QR codes)")
    try:
        credential = parse_credential_text(data)
        disclosure = None
        if disclosure_path is not None:
            disclosure = parse_identity_disclosure(read_small_file(disclosure_path))
        presentation = make_presentation(credential, load_key(key_path), nonce, disclosure)
        write_file_atomic(out, format_presentation(presentation), force=force)
    except Rejected as exc:
        fail(exc.rejection)
    except FileExistsError as exc:
        fail_usage(str(exc))
    except OSError as exc:
        fail(Rejection(ErrorCode.UNAVAILABLE, f"cannot write {out}: {exc.strerror}"))
    click.echo(f"wrote {out}", err=True)


def _when(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms // 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(ms: int) -> str:
    minutes = ms // 60_000
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _verdict_json(verdict: Verdict) -> dict[str, object]:
    return {
        "valid": True,
        "member": verdict.member_id.hex(),
        "key": verdict.key.hex(),
        "status": str(verdict.status),
        "since_index": verdict.since,
        "origin": verdict.origin,
        "tree_size": verdict.tree_size,
        "state_logged_ms": verdict.state_logged_ms,
        "fresh_ms": verdict.fresh_ms,
        "age_ms": verdict.age_ms,
        "freshness_from": "witnesses" if verdict.quorum else "state_leaf",
        "witnesses": list(verdict.witnesses),
        "quorum": verdict.quorum,
        "challenge_checked": verdict.challenge_checked,
        "attributes": dict(verdict.attributes),
    }


def _print_verdict(verdict: Verdict) -> None:
    click.echo("VALID: a verified member of the registry")
    key_note = "" if verdict.key == verdict.member_id else f" (current key {fingerprint(verdict.key)})"
    click.echo(f"member:     {fingerprint(verdict.member_id)}{key_note}")
    click.echo(f"status:     {verdict.status} since log entry {verdict.since}")
    if verdict.quorum:
        source = f"cosigned by {len(verdict.witnesses)} witnesses, {verdict.quorum} required"
    else:
        source = "time of the log's state leaf; no witness quorum was required"
    click.echo(f"as of:      {_when(verdict.fresh_ms)} ({source}); age {_age(verdict.age_ms)}")
    click.echo(f"log:        {verdict.origin}, tree size {verdict.tree_size}")
    if verdict.challenge_checked:
        click.echo("challenge:  the holder signed your challenge with the member's key")
    else:
        click.echo("challenge:  NOT CHECKED (no --challenge given): the presentation may be a replay")
    if verdict.attributes:
        for name, value in verdict.attributes.items():
            click.echo(f"attribute:  {name} = {value}")
        click.echo("            (these match the member's identity commitment; compare them with the document)")
    else:
        click.echo("attributes: none disclosed")


@cli.command()
@click.argument("presentation_file", metavar="PRESENTATION", type=_FILE_PATH)
@click.option("--trust", "policy_path", type=_FILE_PATH, required=True, help="Your trust policy file.")
@click.option("--challenge", "challenge_hex", help="The challenge you issued (hex); strongly recommended.")
@click.option("--max-age", "max_age", help="Override the policy's maximum credential age (e.g. 24h).")
@click.option("--require", "required", default="", help="Comma-separated attributes that must be disclosed.")
@click.option("--at", "at_ms", type=int, help="Check freshness as of this time (ms since the epoch), not now.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def verify(
    presentation_file: Path,
    policy_path: Path,
    challenge_hex: str | None,
    max_age: str | None,
    required: str,
    at_ms: int | None,
    as_json: bool,
) -> None:
    """Check a PRESENTATION offline against your trust POLICY (protocol §8.1); no network is used.

    Steps, in order: 1 log signature, 2 witness cosignatures and quorum, 3 state leaf inclusion,
    4 freshness, 5 status tree proof, 6 status verified, 7 holder's signature over the challenge,
    8 disclosed attributes against the identity commitment.

    Exit codes: 0 every step passed (the verdict is printed); 1 a step failed (printed with its
    number and code); 2 usage error.
    """
    try:
        expected = None if challenge_hex is None else parse_challenge(challenge_hex)
        max_age_ms = None if max_age is None else parse_duration(max_age)
    except Rejected as exc:
        fail_usage(exc.message)
    names = [a.strip() for a in required.split(",") if a.strip()]
    if any(n not in ATTRIBUTES for n in names):
        fail_usage(f"--require takes names among {', '.join(ATTRIBUTES)}")
    try:
        policy = parse_trust_policy(read_small_file(policy_path, 65_536))
        presentation = parse_presentation(read_small_file(presentation_file, 81_920))
    except Rejected as exc:
        _report_failure(0, "parse", exc.rejection, as_json)
    now_ms = time.time_ns() // 1_000_000 if at_ms is None else at_ms
    result = check_presentation(
        presentation, policy, now_ms=now_ms, challenge=expected, max_age_ms=max_age_ms, required_attributes=names
    )
    if isinstance(result, VerificationFailed):
        _report_failure(result.step, result.step_name, result.rejection, as_json)
    if as_json:
        click.echo(json.dumps(_verdict_json(result), sort_keys=True, ensure_ascii=False))
    else:
        _print_verdict(result)


def _report_failure(step: int, name: str, rejection: Rejection, as_json: bool) -> NoReturn:
    if as_json:
        body = {
            "valid": False,
            "step": step,
            "step_name": name,
            "code": str(rejection.code),
            "message": rejection.message,
            "section": rejection.section,
        }
        click.echo(json.dumps(body, sort_keys=True))
    else:
        click.echo(f"INVALID: step {step} ({name}) failed: {rejection.code}: {rejection.message}")
    click.echo(f"error: {rejection.code}: step {step} ({name}): {rejection.message}", err=True)
    raise SystemExit(EXIT_FAILED)

