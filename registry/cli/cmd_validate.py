"""`registry validate`: would a statement file be accepted now? The dry run of `submit` (protocol §9.2-e).

With `--data DIR` the local log is replayed and the rules engine is run at the next index and the
current time; with `--server URL` the server's `POST /v1/validate` answers. Nothing is written either
way, and a positive answer is not a promise: statements logged in between can change the verdict.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..datadir import open_data_dir
from ..errors import ErrorCode, RegistryError, Rejected, Rejection
from ..rules import Context, check, genesis
from ..sequencer import load_log
from ..statements import MAX_ENTRY_SIZE, parse_entry, verify_entry
from ..store import Store
from .app import cli, fail, fail_usage
from .keys_io import now_ms
from .server_io import SERVER_HELP, fail_remote, open_client

__all__ = ["validate"]


def _read(path: Path) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read(MAX_ENTRY_SIZE + 1)
    except OSError as exc:
        fail(Rejection(ErrorCode.NOT_FOUND, f"cannot read {path}: {exc.strerror}"))


def _validate_local(data_path: Path, entry_bytes: bytes) -> Rejection | None:
    """The rules engine at the local log's next index and max(now, last log time), as the sequencer would."""
    try:
        data = open_data_dir(data_path)
        with Store.open(data.database_url(os.environ), writable=False) as store:
            log = load_log(store)
    except RegistryError as exc:
        fail(exc.rejection)
    state = log.state
    now = max(now_ms(), 0 if state is None else state.last_logged_ms)  # protocol §5.6-c
    try:
        entry = parse_entry(entry_bytes)
        if state is None:
            genesis(verify_entry(entry, log.origin), Context(0, now))
            return None
        return check(state, verify_entry(entry, state.origin), Context(state.size, now))
    except Rejected as exc:
        return exc.rejection


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--data", "data_path", type=click.Path(path_type=Path, file_okay=False),
              help="The log's data directory (made by `registry init`).")
@click.option("--server", "server_url", metavar="URL", help=SERVER_HELP)
@click.option("--json", "as_json", is_flag=True,
              help='Print {"ok": true} or {"ok": false, "code", "message", "section"} on stdout.')
def validate(file: Path, data_path: Path | None, server_url: str | None, as_json: bool) -> None:
    """Check whether the statement FILE would be accepted now, without submitting it.

    Runs the same rules engine as `submit` against the current state of the log, at the current time.
    Councils use it before collecting signatures, members before submitting. Nothing is written.

    Exit codes: 0 it would be accepted; 1 it would be rejected (`error: <code>: <message>` on stderr);
    2 usage error; 3 server unreachable.
    """
    if (data_path is None) == (server_url is None):
        fail_usage("give exactly one of --data DIR or --server URL")
    entry = _read(file)
    if server_url is not None:
        try:
            with open_client(server_url) as client:
                rejection = client.validate(entry)
        except RegistryError as exc:
            fail_remote(exc)
    elif data_path is not None:
        rejection = _validate_local(data_path, entry)
    if as_json:
        body: dict[str, object] = {"ok": True} if rejection is None else {
            "ok": False, "code": str(rejection.code), "message": rejection.message, "section": rejection.section
        }
        click.echo(json.dumps(body, sort_keys=True))
    if rejection is not None:
        fail(rejection)
    if not as_json:
        click.echo("ok: the statement would be accepted now")
