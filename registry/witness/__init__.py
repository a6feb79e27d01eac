"""Witnesses (protocol §6.2, §6.3): the witness's own side (`witness`: checks, state, cosigning; `state`:
its SQLite state file; `directory`: its key and configuration on disk), the wire format of C2SP
tlog-witness (`protocol`), the log's side (`client`: send checkpoints, collect a quorum) and the
operator's configuration (`config`: DIR/witnesses.json).

Shell package: files, SQLite, HTTP. The HTTP server itself is `api/witness.py`.
"""

from __future__ import annotations

from .client import Collected, QuorumUnavailable, WitnessEndpoint, WitnessPool, collect_cosignatures
from .config import WitnessConfig, load_witness_config, save_witness_config
from .protocol import AddCheckpoint, WitnessRefusal, format_add_checkpoint, parse_add_checkpoint
from .state import WitnessedHead, WitnessState
from .witness import Witness

__all__ = [
    "AddCheckpoint",
    "Collected",
    "QuorumUnavailable",
    "Witness",
    "WitnessConfig",
    "WitnessEndpoint",
    "WitnessPool",
    "WitnessRefusal",
    "WitnessState",
    "WitnessedHead",
    "collect_cosignatures",
    "format_add_checkpoint",
    "load_witness_config",
    "parse_add_checkpoint",
    "save_witness_config",
]
