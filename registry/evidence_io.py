"""Evidence files on disk (protocol §6.4): written by witnesses that refuse an inconsistent checkpoint
and by auditors that refuse a rollback or a fork.

Shell code: one atomic write. The format and its check are `registry.evidence` (pure).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from .atomic import write_atomic
from .evidence import Evidence, format_evidence

__all__ = ["write_evidence_file"]

_FILE_MODE: Final = 0o644
_DIR_MODE: Final = 0o700


def write_evidence_file(directory: Path, evidence: Evidence) -> Path:
    """Write `evidence` as DIR/evidence-<hash>.json (atomically, fsynced) and return its path.

    The name is derived from the content, so the same evidence is written once.

    Raises:
        OSError: the file cannot be written; nothing is left at its path.
    """
    data = format_evidence(evidence)
    directory = Path(directory)
    directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    path = directory / f"evidence-{hashlib.sha256(data).hexdigest()[:16]}.json"
    if path.exists():
        return path
    write_atomic(path, data, mode=_FILE_MODE, exact_mode=True)
    return path
