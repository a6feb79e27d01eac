"""`registry serve`: the REST API of protocol §9 over a local data directory.

The server is started by its import path (`api.app:app_from_env`, a factory), with the data directory
and the batch window passed in environment variables: the CLI never imports `api` (STYLE §1).

Privacy (protocol §9.1-g, §9.1-h): uvicorn runs without an access log, without trusting
`X-Forwarded-For` (so no client address is ever even computed from headers), without a `Server` header,
and bound to 127.0.0.1 unless `--host` says otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import click
import uvicorn

from ..datadir import open_data_dir
from ..errors import RegistryError
from .app import cli, fail

__all__ = [
    "APP_FACTORY",
    "BATCH_MS_ENV",
    "DATA_ENV",
    "DEFAULT_HOST",
    "FULL_CHECK_ENV",
    "SNAPSHOT_EVERY_ENV",
    "serve",
    "uvicorn_options",
]

APP_FACTORY: Final = "api.app:app_from_env"
# The names `api.app` reads (api.app.DATA_ENV, .BATCH_MS_ENV, .FULL_CHECK_ENV); a test keeps them equal.
DATA_ENV: Final = "REGISTRY_SERVE_DATA"
BATCH_MS_ENV: Final = "REGISTRY_SERVE_BATCH_MS"
FULL_CHECK_ENV: Final = "REGISTRY_SERVE_FULL_CHECK"
SNAPSHOT_EVERY_ENV: Final = "REGISTRY_SERVE_SNAPSHOT_EVERY"
DEFAULT_HOST: Final = "127.0.0.1"
_MAX_CONNECTIONS: Final = 4096
"""Open connections beyond this get uvicorn's own 503: memory stays bounded whatever clients do."""


def uvicorn_options(host: str, port: int) -> dict[str, object]:
    """The uvicorn settings of `registry serve` (also used by the benchmark, to measure the same server)."""
    return {
        "host": host,
        "port": port,
        "factory": True,
        "workers": 1,  # one process: the log has exactly one sequencer
        "lifespan": "on",
        "access_log": False,  # protocol §9.1-g: no request lines, no addresses
        "proxy_headers": False,  # never read X-Forwarded-For / Forwarded
        "server_header": False,
        "limit_concurrency": _MAX_CONNECTIONS,
        "log_level": "info",
        # "auto" (uvicorn's default, said here on purpose): httptools and uvloop, both dependencies, where
        # they are installed; h11 and asyncio otherwise. The C parser and loop cost about 40% less CPU per
        # request, which is what a flood of refused submissions takes from members' reads.
        "http": "auto",
        "loop": "auto",
    }


@cli.command()
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The log's data directory (made by `registry init`).",
)
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to bind. Anything but loopback exposes the log's write endpoint to the network.",
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option(
    "--batch-ms",
    default=250,
    show_default=True,
    type=click.IntRange(0, 60_000),
    help="Longest wait, in milliseconds, before a batch of statements is committed.",
)
@click.option(
    "--full-check",
    is_flag=True,
    help="Run every leaf through the rules at start, ignoring the start-up snapshot "
    "(slower; what `registry audit --data` does).",
)
@click.option(
    "--snapshot-every",
    default=16_384,
    show_default=True,
    type=click.IntRange(1, None),
    help="Write a new start-up snapshot, in the background, each time the log has grown by this "
    "many leaves (or a sixteenth of the last snapshot's size, if more).",
)
def serve(data_path: Path, host: str, port: int, batch_ms: int, full_check: bool, snapshot_every: int) -> None:
    """Serve the log of a data directory over HTTP (protocol §9).

    Opens the database (config.json, then DATABASE_URL, then DIR/log.sqlite3) and checks the whole
    stored log: every row, leaf hash, tree node and the latest checkpoint, and every leaf through the
    rules, or only those after the start-up snapshot when the store holds a valid one (protocol §9.1-i;
    the server writes one every 16,384 leaves; --full-check ignores it). Then it serves the REST API
    and the tlog-tiles of the log until interrupted. POST /v1/entries answers only once a statement is
    committed under a signed checkpoint. There is no access log, and no client address is logged or
    stored.

    Exit codes: 0 stopped; 1 not a data directory or a bad key; 2 usage error; 3 the log could not be
    opened or the port could not be bound (the reason is on stderr).
    """
    try:
        data = open_data_dir(data_path)
        data.signer()  # fail before starting a server when the key is missing or wrong
    except RegistryError as exc:
        fail(exc.rejection)
    os.environ[DATA_ENV] = str(data_path.resolve())
    os.environ[BATCH_MS_ENV] = str(batch_ms)
    os.environ[FULL_CHECK_ENV] = "1" if full_check else ""
    os.environ[SNAPSHOT_EVERY_ENV] = str(snapshot_every)
    uvicorn.run(APP_FACTORY, **uvicorn_options(host, port))  # type: ignore[arg-type]
