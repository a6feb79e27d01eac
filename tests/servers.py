"""The server child processes of the tests: scripts/serverproc.py re-exported, not copied (`registry serve`
and `registry witness serve` as subprocesses on loopback ports; see that module)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "scripts"))

from serverproc import ROOT, Server, ServerStartError, child_env, free_port, free_ports

__all__ = ["ROOT", "Server", "ServerStartError", "child_env", "free_port", "free_ports"]
