"""`registry witness ...`: the witness's own role (protocol §6.2). `init` makes a witness directory and
key; `serve` runs the C2SP tlog-witness server for the logs whose keys it is given; `show` prints the
witness's vkey and what it has cosigned.

The server is started by its import path (`api.witness:app_from_env`, a factory), with the directory
and the log keys in environment variables: the CLI never imports `api` (STYLE §1). No access log, no
client address anywhere, loopback unless `--host` says otherwise.

Exit codes: 0 success; 1 refused (`error: <code>: <message>`); 2 usage error; 3 cannot serve.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Final

import click
import uvicorn

from crypto.errors import CryptoError
from crypto.keys import SigningKey
from crypto.notekey import SIG_TYPE_ED25519, parse_vkey

from ..errors import RegistryError
from ..witness.directory import create_witness_dir, open_witness_dir
from ..witness.state import WitnessState
from .app import cli, fail, fail_usage

__all__ = ["APP_FACTORY", "LOGS_ENV", "WITNESS_DIR_ENV", "witness"]

APP_FACTORY: Final = "api.witness:app_from_env"
# The names `api.witness` reads (api.witness.WITNESS_DIR_ENV, LOGS_ENV); a test keeps them equal.
WITNESS_DIR_ENV: Final = "REGISTRY_WITNESS_DIR"
LOGS_ENV: Final = "REGISTRY_WITNESS_LOGS"
_DEFAULT_HOST: Final = "127.0.0.1"
_MAX_CONNECTIONS: Final = 1024


@cli.group()
def witness() -> None:
    """Run a witness: cosign a log's checkpoints after checking they extend what it saw (protocol §6.2).

    A witness keeps, per log, the latest tree size and root hash it cosigned, and cosigns a new
    checkpoint only with a consistency proof from there: it never cosigns two different trees of one
    size. Give its vkey (printed by `init`) to the log operator (`registry log add-witness`) and to
    verifiers (their trust policy).
    """


@witness.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--name", required=True,
              help="The witness's key name, a schema-less URL such as witness1.example.org (no space, no '+').")
def init(directory: Path, name: str) -> None:
    """Create a witness in DIRECTORY: its cosigning key (mode 0600) and witness.json.

    DIRECTORY is created with mode 0700 and may exist only if empty. Prints the witness's verifier key
    (type 0x04, `cosignature/v1`) on the last line.

    Exit codes: 0 created; 1 refused (a non-empty directory, an invalid name); 2 usage error.
    """
    try:
        created = create_witness_dir(directory, name, SigningKey.generate())
    except RegistryError as exc:
        fail(exc.rejection)
    click.echo(f"witness directory: {created.path}", err=True)
    click.echo(created.vkey)


@witness.command("serve")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--log", "logs", multiple=True, required=True, metavar="VKEY",
              help="A log to witness: its type 0x01 verifier key, whose name is the log's origin. Repeatable.")
@click.option("--host", default=_DEFAULT_HOST, show_default=True, help="Address to bind.")
@click.option("--port", default=8100, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
def serve(directory: Path, logs: tuple[str, ...], host: str, port: int) -> None:
    """Serve C2SP tlog-witness POST /add-checkpoint for the logs given with --log.

    Answers 200 with a cosignature line, 409 (text/x.tlog.size) when the old size is not the
    witness's latest, 404 for an unknown log, 403 for a bad log signature, 400 for a malformed
    request and 422 for a checkpoint inconsistent with what it cosigned before. Log-signed
    checkpoints refused as inconsistent are kept in DIRECTORY/evidence/.

    Exit codes: 0 stopped; 1 not a witness directory, a bad key; 2 usage error; 3 cannot bind.
    """
    for vkey in logs:
        try:
            verifier = parse_vkey(vkey)
        except CryptoError as exc:
            fail_usage(f"--log {vkey!r}: {exc.message}")
        if verifier.sig_type != SIG_TYPE_ED25519:
            fail_usage(f"--log {vkey!r} is a witness (type 0x04) key; a log key has type 0x01")
    try:
        opened = open_witness_dir(directory)
        opened.key()  # fail before binding when the key is missing or wrong
    except RegistryError as exc:
        fail(exc.rejection)
    os.environ[WITNESS_DIR_ENV] = str(directory.resolve())
    os.environ[LOGS_ENV] = " ".join(logs)
    click.echo(f"witness {opened.vkey} on http://{host}:{port}", err=True)
    uvicorn.run(
        APP_FACTORY,
        host=host,
        port=port,
        factory=True,
        workers=1,
        lifespan="on",
        access_log=False,  # protocol §9.1-g: no request lines, no addresses
        proxy_headers=False,
        server_header=False,
        limit_concurrency=_MAX_CONNECTIONS,
        log_level="warning",
    )


@witness.command("show")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show(directory: Path, as_json: bool) -> None:
    """Print the witness's vkey and, per log origin, the latest tree size and root hash it cosigned.

    Exit codes: 0 printed; 1 not a witness directory; 2 usage error.
    """
    try:
        opened = open_witness_dir(directory)
        with WitnessState.open(opened.state_path) as state:
            heads = state.origins()
    except RegistryError as exc:
        fail(exc.rejection)
    if as_json:
        logs = [{"origin": h.origin, "root_hash": h.root_hash.hex(), "tree_size": h.size} for h in heads]
        click.echo(json.dumps({"logs": logs, "name": opened.name, "vkey": opened.vkey}, sort_keys=True))
        return
    for h in heads:
        click.echo(f"{h.origin} {h.size} {base64.b64encode(h.root_hash).decode('ascii')}")
    click.echo(opened.vkey)
