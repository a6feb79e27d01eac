"""`registry audit`: replay a whole log from genesis and check everything (protocol §8.2).

Sources: a local data directory (`--data DIR`, the operator's own store, whose checkpoint rows, entry
rows' derived columns, meta row and tree nodes are checked too: `registry.store_audit`), an export file
(`--log FILE --log-key VKEY`), or a server (`--server URL [--cache DIR]`, protocol §9.6: fetched as
tiles through the client, incrementally when a cache is kept; see `audit_remote`). Prints the tree
size, the root hash and the members per status
(`--json` for machines); on any discrepancy exits 1 naming the first bad index and the failing check.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import click

from crypto.errors import CryptoError
from crypto.notekey import NoteVerifier, parse_vkey

from ..audit import AuditCheck, AuditReport, audit
from ..datadir import open_data_dir
from ..errors import RegistryError
from ..export import read_export
from ..store import Store
from ..store_audit import audit_store
from ..trust import MAX_POLICY_SIZE, parse_trust_policy
from .app import EXIT_FAILED, cli, fail_crypto, fail_registry, fail_usage
from .audit_remote import run_remote_audit
from .cmd_identity import read_small_file

__all__ = ["audit_command"]


def _progress(total: int | None) -> Callable[[int], None] | None:
    """A progress line on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(done: int) -> None:
        of = f"/{total:,}" if total else ""
        click.echo(f"\raudited {done:,}{of} entries", err=True, nl=False)

    return show


def _print_report(report: AuditReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
        return
    click.echo(f"tree size: {report.size}")
    click.echo(f"root hash: {report.root_hash.hex()}")
    click.echo(f"checkpoints checked: {report.checkpoints}")
    for status, count in report.counts.items():
        click.echo(f"{status}: {count}")
    if report.ok:
        click.echo("audit: ok")


def _finish(report: AuditReport, as_json: bool) -> None:
    if sys.stderr.isatty():
        click.echo("", err=True)
    _print_report(report, as_json)
    if not report.ok:
        if report.first_bad_index is not None:
            where = f"entry {report.first_bad_index}"
        elif report.bad_checkpoint_size is not None:
            where = f"checkpoint of size {report.bad_checkpoint_size}"
        elif report.check is AuditCheck.META_ROW:  # [8.2-g]: the message names the column
            where = "the meta row"
        else:
            where = "the log"
        click.echo(f"error: {report.code}: audit failed at {where} ({report.check}): {report.message}", err=True)
        sys.exit(EXIT_FAILED)


def _run(
    leaves: Iterable[bytes], checkpoints: list[bytes], verifier: NoteVerifier, total: int | None, workers: int
) -> AuditReport:
    return audit(leaves, checkpoints, verifier, workers=workers, progress=_progress(total))


@cli.command("audit")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Audit a local data directory (made by `registry init`).",
)
@click.option(
    "--log",
    "log_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Audit an export file (made by `registry export`); needs --log-key.",
)
@click.option(
    "--server",
    "server_url",
    metavar="URL",
    help="Audit the log a server publishes (its checkpoint, tiles and entry bundles over HTTP).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="With --server: keep the log key, the accepted checkpoint, full tiles and bundles here, so "
    "that the next run fetches only what is new and refuses a rollback.",
)
@click.option(
    "--log-key",
    "log_key",
    metavar="VKEY",
    help="The log's verifier key (C2SP vkey), obtained out of band. Required with --log, and with "
    "--server unless the --cache directory stored it on first use.",
)
@click.option(
    "--mirror",
    "mirror_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Audit a mirror directory (made by `registry mirror`) with no network; its log key is the one "
    "it was made for, unless --log-key or --trust says otherwise.",
)
@click.option(
    "--trust",
    "trust_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="With --server or --mirror: a trust policy (§9.7); the checkpoint must carry its witnesses' "
    "quorum, and the policy's log key is the log's key.",
)
@click.option(
    "--evidence",
    "evidence_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write the evidence file of a refused rollback, fork or inconsistent checkpoint "
    "(default: CACHE/evidence).",
)
@click.option(
    "--workers",
    default=0,
    show_default=True,
    type=click.IntRange(0, 256),
    help="Processes that verify signatures (0: all cores, 1: none besides this one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit_command(
    data_dir: Path | None,
    log_file: Path | None,
    server_url: str | None,
    cache_dir: Path | None,
    log_key: str | None,
    mirror_dir: Path | None,
    trust_path: Path | None,
    evidence_dir: Path | None,
    workers: int,
    as_json: bool,
) -> None:
    """Replay the whole log from genesis, verifying every signature, rule, tree hash and checkpoint.

    Prints the tree size, the root hash and the number of members per status. With --server it first
    verifies the server's checkpoint signature, its consistency with the checkpoint the --cache
    accepted last time (a smaller or inconsistent one is refused, and an evidence file that
    `registry evidence check` validates is written), with --trust its witnesses' quorum, and every tile
    and entry bundle it reads; what it fetched and reused is said on stderr. --mirror DIR does the same
    on a mirror's copy, with no network. Exit codes: 0 the log verifies; 1 a
    discrepancy (the first bad entry index or checkpoint and the failing check are printed as
    `error: <code>: ...`); 2 usage error; 3 server unreachable.
    """
    if sum(source is not None for source in (data_dir, log_file, server_url, mirror_dir)) != 1:
        fail_usage("give exactly one of --data DIR, --log FILE, --server URL or --mirror DIR")
    remote = server_url is not None or mirror_dir is not None
    if cache_dir is not None and not remote:
        fail_usage("--cache goes with --server or --mirror")
    if (trust_path is not None or evidence_dir is not None) and not remote:
        fail_usage("--trust and --evidence go with --server or --mirror")
    if remote:
        policy = None
        if trust_path is not None:
            try:
                policy = parse_trust_policy(read_small_file(trust_path, MAX_POLICY_SIZE))
            except RegistryError as exc:
                fail_registry(exc)
        report = run_remote_audit(
            server_url,
            cache_dir,
            log_key,
            workers,
            as_json,
            _progress(None),
            mirror_dir=mirror_dir,
            policy=policy,
            evidence_dir=evidence_dir,
        )
        _finish(report, as_json)
        return
    try:
        if log_file is not None:
            if not log_key:
                fail_usage("--log needs --log-key VKEY: the log's key, obtained out of band")
            verifier = parse_vkey(log_key)
            export = read_export(log_file)
            if export.header.log_vkey != log_key:
                click.echo(
                    "warning: the export names another log key than --log-key; auditing with --log-key", err=True
                )
            checkpoints = [note for _, note in export.checkpoints()]
            report = _run(export.leaves(), checkpoints, verifier, export.header.tree_size, workers)
        elif data_dir is not None:
            data = open_data_dir(data_dir)
            verifier = parse_vkey(data.config.log_vkey)
            store = Store.open(data.database_url(os.environ), writable=False)
            try:
                # The replay, plus the store's own rows: checkpoints, entry rows, meta row, nodes (`store_audit`).
                report = audit_store(store, verifier, workers=workers, progress=_progress(store.tree_size()))
            finally:
                store.close()
    except RegistryError as exc:
        fail_registry(exc)
    except CryptoError as exc:
        fail_crypto(exc)
    else:
        _finish(report, as_json)
