"""`registry log ...`: the log operator's witness configuration of a local data directory (protocol
§6.3): `add-witness`, `remove-witness`, `set-quorum`, `witnesses`.

The configuration is DIR/witnesses.json (`registry.witness.config`), replaced atomically by each
change; a running server reads it when it starts. (`registry witness ...` is the witness's own role.)

Exit codes: 0 success; 1 refused (`error: <code>: <message>`); 2 usage error.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..datadir import open_data_dir
from ..errors import RegistryError
from ..trust import format_trust_policy
from ..witness.config import (
    WitnessConfig,
    add_witness,
    load_witness_config,
    remove_witness,
    save_witness_config,
    set_quorum,
    trust_policy,
)
from .app import cli, fail

__all__ = ["log"]

_DATA_HELP = "The log's data directory (made by `registry init`)."


@cli.group()
def log() -> None:
    """Configure the log of a local data directory: its witnesses and their quorum (protocol §6.3).

    A log with witnesses publishes a checkpoint, and answers the submissions it covers, only once
    QUORUM of its witnesses have cosigned it. Changes take effect when the server next starts.
    """


def _load(data_path: Path) -> WitnessConfig:
    try:
        open_data_dir(data_path)
        return load_witness_config(data_path)
    except RegistryError as exc:
        fail(exc.rejection)


def _save(data_path: Path, config: WitnessConfig) -> None:
    try:
        save_witness_config(data_path, config)
    except RegistryError as exc:
        fail(exc.rejection)


@log.command("add-witness")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path, file_okay=False), help=_DATA_HELP)
@click.option("--vkey", required=True, help="The witness's verifier key (type 0x04, from `registry witness init`).")
@click.option("--url", required=True, help="The witness's submission URL; the log POSTs to URL/add-checkpoint.")
def add_witness_command(data_path: Path, vkey: str, url: str) -> None:
    """Add a witness. The quorum is unchanged (raise it with `set-quorum`).

    Exit codes: 0 added; 1 refused (`bad_key`: not a type 0x04 vkey, or a name or key already
    configured; `malformed_encoding`: not an http(s) URL; `not_found`: not a data directory).
    """
    config = _load(data_path)
    try:
        config = add_witness(config, vkey, url)
    except RegistryError as exc:
        fail(exc.rejection)
    _save(data_path, config)
    click.echo(f"{len(config.witnesses)} witnesses, quorum {config.quorum}")


@log.command("remove-witness")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path, file_okay=False), help=_DATA_HELP)
@click.option("--vkey", "vkey", required=True, metavar="VKEY|NAME", help="The witness's vkey or name.")
def remove_witness_command(data_path: Path, vkey: str) -> None:
    """Remove a witness.

    Exit codes: 0 removed; 1 refused (`not_found`: no such witness; `bad_key`: the quorum would then
    exceed the number of witnesses, lower it first).
    """
    config = _load(data_path)
    try:
        config = remove_witness(config, vkey)
    except RegistryError as exc:
        fail(exc.rejection)
    _save(data_path, config)
    click.echo(f"{len(config.witnesses)} witnesses, quorum {config.quorum}")


@log.command("set-quorum")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path, file_okay=False), help=_DATA_HELP)
@click.argument("quorum", type=click.IntRange(0, None))
def set_quorum_command(data_path: Path, quorum: int) -> None:
    """Require QUORUM cosignatures on every checkpoint before it is published (0: none).

    Exit codes: 0 set; 1 refused (`bad_key`: QUORUM above the number of witnesses).
    """
    config = _load(data_path)
    try:
        config = set_quorum(config, quorum)
    except RegistryError as exc:
        fail(exc.rejection)
    _save(data_path, config)
    click.echo(f"{len(config.witnesses)} witnesses, quorum {config.quorum}")


@log.command("witnesses")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path, file_okay=False), help=_DATA_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--policy", "as_policy", is_flag=True,
              help="Print the trust policy for verifiers of this log (log key, witnesses, quorum; §9.7).")
def witnesses_command(data_path: Path, as_json: bool, as_policy: bool) -> None:
    """List the configured witnesses (name, URL, vkey) and the quorum.

    Exit codes: 0 printed; 1 not a data directory or a broken witnesses.json; 2 usage error.
    """
    try:
        data = open_data_dir(data_path)
        config = load_witness_config(data_path)
    except RegistryError as exc:
        fail(exc.rejection)
    if as_policy:
        try:
            policy = trust_policy(config, data.config.log_vkey)
        except RegistryError as exc:
            fail(exc.rejection)
        click.echo(format_trust_policy(policy), nl=False)
        return
    if as_json:
        items = [{"name": w.name, "url": w.url, "vkey": w.vkey} for w in config.witnesses]
        click.echo(json.dumps({"quorum": config.quorum, "witnesses": items}, sort_keys=True))
        return
    for w in config.witnesses:
        click.echo(f"{w.name} {w.url} {w.vkey}")
    click.echo(f"quorum {config.quorum} of {len(config.witnesses)}")
