"""`registry trust`: write a verifier's trust policy file (protocol §9.7-a, §9.7-b).

The policy names the log (origin and key), the witnesses and how many of them must cosign, and the
maximum age of a credential. A verifier gets the keys out of band (from the registry's publications,
from people it trusts) and keeps the file; `registry verify --trust POLICY` reads nothing else.
"""

from __future__ import annotations

from pathlib import Path

import click

from crypto.errors import BadKey
from crypto.notekey import parse_vkey

from ..errors import ErrorCode, RegistryError, Rejected, Rejection
from ..trust import DEFAULT_MAX_AGE_MS, TrustPolicy, format_trust_policy, parse_duration
from .app import cli, fail, fail_usage
from .cmd_identity import OUT_PATH
from .keys_io import write_file_atomic
from .server_io import SERVER_HELP, fail_remote, open_client

__all__ = ["trust", "write_policy"]


def write_policy(policy: TrustPolicy, out: Path, force: bool) -> None:
    """Write a policy file atomically (mode 0644: it holds only public keys)."""
    try:
        write_file_atomic(out, format_trust_policy(policy).encode("utf-8"), force=force)
    except FileExistsError as exc:
        fail_usage(str(exc))
    except OSError as exc:
        fail(Rejection(ErrorCode.UNAVAILABLE, f"cannot write {out}: {exc.strerror}"))


@cli.command()
@click.option("--origin", help="The log's origin (the name of its key).")
@click.option("--log-key", "log_key", help="The log's verifier key (vkey, type 0x01).")
@click.option("--server", help="Instead: write the policy this server publishes (GET /v1/trust). " + SERVER_HELP)
@click.option("--witness", "witness_keys", multiple=True, help="A witness's verifier key (type 0x04); repeatable.")
@click.option("--quorum", type=int, default=None, help="How many witnesses must cosign (default: all of them).")
@click.option("--max-age", "max_age", default=None, help="Maximum credential age (ms/s/m/h/d; default 72h).")
@click.option("--out", type=OUT_PATH, required=True, help="The policy file to write.")
@click.option("--force", is_flag=True, help="Replace the output if it exists.")
def trust(
    origin: str | None,
    log_key: str | None,
    server: str | None,
    witness_keys: tuple[str, ...],
    quorum: int | None,
    max_age: str | None,
    out: Path,
    force: bool,
) -> None:
    """Write a trust policy for `registry verify` (C2SP tlog-policy lines and a max-age line).

    Either from --origin and --log-key (and --witness, --quorum), obtained out of band, or with
    --server the policy a registry publishes: compare its keys out of band before relying on it.

    Exit codes: 0 written; 1 a key or value is refused (printed with its code); 2 usage error;
    3 server unreachable.
    """
    if server is not None:
        if origin or log_key or witness_keys or quorum is not None:
            fail_usage("--server takes the whole policy from the server; give no --origin, --log-key or --witness")
        try:
            with open_client(server) as client:
                published = client.trust_policy()
        except RegistryError as exc:
            fail_remote(exc)
        try:
            if max_age is not None:
                published = TrustPolicy(
                    published.origin, published.log, published.witnesses, published.quorum, parse_duration(max_age)
                )
        except Rejected as exc:
            fail(exc.rejection)
        write_policy(published, out, force)
        click.echo(f"wrote {out}: the policy of {server} (log {published.origin}, "
                   f"{len(published.witnesses)} witnesses); check its keys out of band", err=True)  # fmt: skip
        return
    if origin is None or log_key is None:
        fail_usage("give --origin and --log-key, or --server")
    try:
        log = parse_vkey(log_key)
        witnesses = tuple(parse_vkey(w) for w in witness_keys)
        max_age_ms = parse_duration(max_age or "72h")
        policy = TrustPolicy(
            origin=origin,
            log=log,
            witnesses=witnesses,
            quorum=len(witnesses) if quorum is None else quorum,
            max_age_ms=max_age_ms or DEFAULT_MAX_AGE_MS,
        )
    except BadKey as exc:
        fail(Rejection(ErrorCode.BAD_KEY, exc.message, "9.7-a"))
    except Rejected as exc:
        fail(exc.rejection)
    write_policy(policy, out, force)
    click.echo(f"wrote {out}: log {origin}, {len(witnesses)} witnesses, quorum {policy.quorum}", err=True)
