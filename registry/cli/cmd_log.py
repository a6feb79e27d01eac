"""Log commands on a local data directory: `init`, `submit`, `status`, `export` (protocol §5.6, §5.7, §9).

They work through the store and the sequencer (`--data DIR`); `submit` and `status` also take
`--server URL` and then go through the client only (STYLE §1).
Exit codes: 0 success, 1 rejected or failed (`error: <code>: <message>` on stderr), 2 usage error,
3 server unreachable.
Which database a data directory uses is explained in `registry.datadir` (config.json, then
`DATABASE_URL`, then DIR/log.sqlite3).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import click

from crypto.errors import CryptoError
from crypto.keys import SigningKey

from ..datadir import DataDir, create_data_dir, open_data_dir, remove_data_dir_files
from ..errors import ErrorCode, RegistryError, Rejected, Rejection
from ..export import write_export
from ..rules import Context, genesis
from ..sequencer import Sequencer, init_log, load_log
from ..state import MemberView
from ..statements import MAX_ENTRY_SIZE, parse_entry, verify_entry
from ..store import Store
from .app import cli, fail, fail_crypto, fail_usage
from .keys_io import now_ms
from .server_io import SERVER_HELP, fail_remote, open_client, parse_log_key

__all__ = ["export", "init", "status", "submit"]

_DATA_HELP = "The log's data directory (made by `registry init`)."


def _fail_registry(exc: RegistryError) -> NoReturn:
    fail(exc.rejection)


def _read_entry_file(path: Path) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read(MAX_ENTRY_SIZE + 1)
    except OSError as exc:
        fail(Rejection(ErrorCode.NOT_FOUND, f"cannot read {path}: {exc.strerror}"))


def _open_store(data: DataDir, *, writable: bool) -> Store:
    return Store.open(data.database_url(os.environ), writable=writable)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--policy", "policy_path", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The signed genesis policy (a statement file from `registry policy new` and `policy sign`).")
@click.option("--origin", required=True, help="The log's origin, e.g. registry.example.org/log; also its key name.")
@click.option("--database", "database_url", default=None, metavar="URL",
              help="sqlite:///PATH or postgresql+psycopg://...; recorded in DIR/config.json, where it wins over "
              "DATABASE_URL. Default: DATABASE_URL if set, else DIR/log.sqlite3.")
def init(directory: Path, policy_path: Path, origin: str, database_url: str | None) -> None:
    """Create a log in DIRECTORY and sequence its genesis policy at index 0.

    Creates DIRECTORY (mode 0700; it may exist only if empty), the log's signing key DIRECTORY/log.key
    (mode 0600; it never leaves the directory), DIRECTORY/config.json, and the database, then appends
    the policy with the first checkpoint. Refuses a database that already holds a log. Prints the log's
    verifier key (a C2SP vkey, to give to verifiers and witnesses) on the last line.

    Exit codes: 0 created; 1 refused (the policy, a non-empty directory or database); 2 usage error.
    """
    policy = _read_entry_file(policy_path)
    now = now_ms()
    try:  # refuse a bad policy before anything is created
        genesis(verify_entry(parse_entry(policy), origin), Context(0, now))
    except Rejected as exc:
        fail(exc.rejection)
    key = SigningKey.generate()
    existed = directory.exists()
    try:
        data = create_data_dir(directory, origin, database_url, key)
    except RegistryError as exc:
        _fail_registry(exc)
    sequenced = False
    try:
        url = data.database_url(os.environ)
        with Store.open(url, writable=True, create=True) as store:
            sequencer, receipt = init_log(store, data.signer(), lambda: now, policy)
            sequenced = True
            shown_url = store.url
    except BaseException as exc:
        if not sequenced:
            # Remove what this command created; a database left holding an empty log (meta row only)
            # is replaced by the next init.
            remove_data_dir_files(directory, remove_dir=not existed)
        if isinstance(exc, RegistryError):
            _fail_registry(exc)
        raise
    click.echo(f"created the log {origin} in {directory}")
    click.echo(f"database: {shown_url}")
    click.echo(f"genesis: index {receipt.index}, tree size {sequencer.size}")
    click.echo(sequencer.verifier.vkey)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--data", "data_path", type=click.Path(path_type=Path, file_okay=False), help=_DATA_HELP)
@click.option("--server", "server_url", metavar="URL", help=SERVER_HELP)
@click.option("--log-key", "log_key", metavar="VKEY",
              help="With --server: the log's verifier key; the receipt's checkpoint signature is then checked.")
def submit(file: Path, data_path: Path | None, server_url: str | None, log_key: str | None) -> None:
    """Append the statement FILE to the log: a local data directory (--data) or a server (--server).

    The entry is checked by the rules engine and, if accepted, committed with a new signed checkpoint
    before its index is printed (the last line of stdout). With --server the receipt is verified
    first: the leaf hash recomputed from FILE, the inclusion proof against the checkpoint's root hash,
    and, with --log-key, the checkpoint's signature.

    Exit codes: 0 appended; 1 rejected (the code and message on stderr; nothing appended) or a receipt
    that does not verify; 2 usage error; 3 server unreachable.
    """
    if (data_path is None) == (server_url is None):
        fail_usage("give exactly one of --data DIR or --server URL")
    entry = _read_entry_file(file)
    if server_url is not None:
        verifier = None if log_key is None else parse_log_key(log_key)
        try:
            with open_client(server_url, verifier) as client:
                receipt = client.submit(entry)
        except RegistryError as exc:
            fail_remote(exc)
        click.echo(f"logged at index {receipt.index} under the checkpoint of size {receipt.tree_size}; "
                   f"inclusion proof verified{'' if verifier is None else ', checkpoint signature verified'}",
                   err=True)
        click.echo(str(receipt.index))
        return
    if data_path is None:
        fail_usage("give exactly one of --data DIR or --server URL")
    if log_key is not None:
        fail_usage("--log-key goes with --server")
    try:
        data = open_data_dir(data_path)
        with _open_store(data, writable=True) as store:
            sequencer = Sequencer.open(store, data.signer(), now_ms)
            result = sequencer.submit(entry)
    except RegistryError as exc:
        _fail_registry(exc)
    if isinstance(result, Rejection):
        fail(result)
    click.echo(str(result.index))


def _parse_id(value: str) -> bytes:
    if len(value) != 64 or value != value.lower():
        fail_usage("ID must be a member id or key: 64 lowercase hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        fail_usage("ID must be a member id or key: 64 lowercase hex digits")


def _view_json(view: MemberView, tree_size: int) -> dict[str, object]:
    return {
        "member": view.member_id.hex(),
        "key": view.key.hex(),
        "status": str(view.status),
        "valid_vouches": view.valid_vouches,
        "founder": view.founder,
        "commitment": None if view.commitment is None else view.commitment.hex(),
        "revocation_reason": None if view.revocation_reason is None else str(view.revocation_reason),
        "strikes": view.strikes,
        "history": list(view.history),
        "tree_size": tree_size,
    }


@cli.command()
@click.argument("member_id", metavar="ID")
@click.option("--data", "data_path", type=click.Path(path_type=Path, file_okay=False), help=_DATA_HELP)
@click.option("--server", "server_url", metavar="URL", help=SERVER_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(member_id: str, data_path: Path | None, server_url: str | None, as_json: bool) -> None:
    """Show a member's status, from a local data directory (--data) or a server (--server).

    ID is a member id, or a member's current or retired key (64 hex digits). With --data the whole log
    is replayed and checked against its latest checkpoint first; with --server the server's replay is
    shown (`registry audit --server` checks it). With --json prints {"member", "key", "status",
    "valid_vouches", "founder", "commitment", "revocation_reason", "strikes", "history" (the indexes
    of the member's entries), "tree_size"}.

    Exit codes: 0 found; 1 unknown member (unknown_member) or a log that fails its checks; 2 usage
    error; 3 server unreachable.
    """
    if (data_path is None) == (server_url is None):
        fail_usage("give exactly one of --data DIR or --server URL")
    ident = _parse_id(member_id)
    if server_url is not None:
        try:
            with open_client(server_url) as client:
                found = client.member(ident)
        except RegistryError as exc:
            fail_remote(exc)
        _print_status(found.view, found.tree_size, as_json)
        return
    if data_path is None:
        fail_usage("give exactly one of --data DIR or --server URL")
    try:
        data = open_data_dir(data_path)
        with _open_store(data, writable=False) as store:
            log = load_log(store)
    except RegistryError as exc:
        _fail_registry(exc)
    member = None if log.state is None else log.state.resolve(ident)
    if log.state is None or member is None:
        fail(Rejection(ErrorCode.UNKNOWN_MEMBER, "no member has this id or key in the log", "7.3-e"))
    _print_status(log.state.view(member), log.size, as_json)


def _print_status(view: MemberView, tree_size: int, as_json: bool) -> None:
    document = _view_json(view, tree_size)
    if as_json:
        click.echo(json.dumps(document, sort_keys=True))
        return
    history = ", ".join(str(i) for i in view.history) or "-"
    click.echo(f"member:          {document['member']}")
    click.echo(f"key:             {document['key']}")
    click.echo(f"status:          {view.status}")
    click.echo(f"valid vouches:   {view.valid_vouches}")
    click.echo(f"founder:         {'yes' if view.founder else 'no'}")
    click.echo(f"commitment:      {document['commitment'] or '-'}")
    click.echo(f"revocation:      {document['revocation_reason'] or '-'}")
    click.echo(f"strikes:         {view.strikes}")
    click.echo(f"entries:         {history}")
    click.echo(f"log tree size:   {tree_size}")


def _progress() -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        click.echo(f"\rexporting: {done}/{total} leaves", err=True, nl=done == total)

    return show


@cli.command()
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path, file_okay=False), help=_DATA_HELP)
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="The export file.")
@click.option("--force", is_flag=True, help="Replace an existing FILE.")
def export(data_path: Path, out: Path, force: bool) -> None:
    """Write the whole log (leaves with their index and log time, and every checkpoint) to one file.

    The file is JSON lines (protocol §5.7): a header with the origin, the log's verifier key and the
    tree size, then each leaf in index order, each checkpoint right after the leaf that completes it.
    It is written to a temporary file and moved into place. Progress is shown on a terminal.

    Exit codes: 0 written; 1 failed; 2 usage error (including an existing FILE without --force).
    """
    try:
        data = open_data_dir(data_path)
        with _open_store(data, writable=False) as store:
            header = write_export(store, out, force=force, progress=_progress())
    except FileExistsError as exc:
        fail_usage(str(exc))
    except OSError as exc:
        fail(Rejection(ErrorCode.UNAVAILABLE, f"cannot write {out}: {exc.strerror}"))
    except RegistryError as exc:
        _fail_registry(exc)
    except CryptoError as exc:
        fail_crypto(exc)
    click.echo(f"exported {header.tree_size} leaves of {header.origin} to {out}")
