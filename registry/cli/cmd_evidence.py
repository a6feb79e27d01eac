"""`registry evidence check FILE`: decide whether an evidence file proves that a log signed two
inconsistent checkpoints (protocol §6.4). Offline; reads one file.

Exit codes: 0 the evidence holds; 1 it proves nothing (the reason is printed); 2 usage error.
"""

from __future__ import annotations

from pathlib import Path

import click

from crypto.checkpoint import parse_checkpoint
from crypto.note import parse_note

from ..errors import ErrorCode, RegistryError, Rejection
from ..evidence import MAX_EVIDENCE_SIZE, parse_evidence, verify_evidence
from .app import cli, fail

__all__ = ["evidence"]


@cli.group()
def evidence() -> None:
    """Check evidence of a misbehaving log (split views, forks), as written by auditors and witnesses."""


@evidence.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--log-key", "log_vkey", default=None, metavar="VKEY",
              help="Require the evidence to be about this log key (its type 0x01 vkey).")
def check(file: Path, log_vkey: str | None) -> None:
    """Check FILE: two checkpoints signed by one log key and the consistency path between them.

    The evidence holds when both checkpoints verify under the key and either have the same size and
    different root hashes, or the path leads to the newer root hash but not to the older one. A
    failing proof alone proves nothing: anyone can send a wrong proof.

    Exit codes: 0 the evidence holds ("evidence holds: the log signed inconsistent checkpoints");
    1 it does not (`error: <code>: <message>`); 2 usage error.
    """
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_EVIDENCE_SIZE + 1)
    except OSError as exc:
        fail(Rejection(ErrorCode.NOT_FOUND, f"cannot read {file}: {exc.strerror}"))
    try:
        ev = parse_evidence(data)
        if log_vkey is not None and ev.log_vkey != log_vkey:
            fail(Rejection(ErrorCode.BAD_KEY, "the evidence is about another log key", "6.4-d"))
        verify_evidence(ev)
    except RegistryError as exc:
        fail(exc.rejection)
    older = parse_checkpoint(parse_note(ev.older).text)
    newer = parse_checkpoint(parse_note(ev.newer).text)
    click.echo(f"log {ev.log_vkey}")
    click.echo(f"checkpoint {older.size} {older.root_hash.hex()}")
    click.echo(f"checkpoint {newer.size} {newer.root_hash.hex()}")
    click.echo("evidence holds: the log signed inconsistent checkpoints")
