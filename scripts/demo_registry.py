"""Create a local DEMONSTRATION registry (used by ./scripts/run when no registry exists yet).

Layout under DIR (default ./data):

    DIR/log/          the log's data directory (registry/datadir.py): config.json, log.key, log.sqlite3
    DIR/demo-keys/    demo founder and council keys (mode 0600), and NOT-FOR-REAL-USE.txt

The genesis policy names three demo founders and a council of three demo keys with threshold 2, with
the default rule parameters except `voucher_min_age_days=0`, so that a newcomer can try vouching at
once. Whoever holds these key files controls the demo registry: they are for trying the software on
one machine, never for a registry that real people use. The database is the embedded SQLite file
unless `DATABASE_URL` is set.

Usage: python scripts/demo_registry.py [DIR] [--origin ORIGIN]
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
import sys
import time
from pathlib import Path

from crypto.keyfile import write_key_file
from crypto.keys import SigningKey
from registry.datadir import create_data_dir
from registry.errors import RegistryError
from registry.sequencer import init_log
from registry.statements import MemberId, Params, PolicyStatement, entry_from_statement, format_entry, sign_entry
from registry.store import Store

DEFAULT_ORIGIN = "localhost/antiwar-registry-demo"
FOUNDERS = 3
COUNCIL = 3
THRESHOLD = 2
BANNER = """\
=====================================================================================
  DEMONSTRATION REGISTRY. Its founder and council keys are plain files in
  {keys}
  Anyone who can read them controls this registry. Use it only to try the software;
  never let real people join it.
====================================================================================="""


def _declarations() -> dict[str, str]:
    folder = importlib.resources.files("registry") / "declarations"
    return {
        item.name[: -len(".txt")]: item.read_text(encoding="utf-8")
        for item in sorted(folder.iterdir(), key=lambda i: i.name)
        if item.name.endswith(".txt")
    }


def create_demo(root: Path, origin: str = DEFAULT_ORIGIN) -> Path:
    """Create the demo registry under `root`; returns the log's data directory. Refuses an existing one."""
    keys_dir = root / "demo-keys"
    log_dir = root / "log"
    if log_dir.exists() or keys_dir.exists():
        raise SystemExit(f"{root} already holds a demo registry or part of one; remove it or choose another")
    keys_dir.mkdir(mode=0o700, parents=True)
    os.chmod(keys_dir, 0o700)
    founders = [SigningKey.generate() for _ in range(FOUNDERS)]
    council = [SigningKey.generate() for _ in range(COUNCIL)]
    for i, k in enumerate(founders, 1):
        write_key_file(keys_dir / f"founder-{i}.key", k)
    for i, k in enumerate(council, 1):
        write_key_file(keys_dir / f"council-{i}.key", k)
    (keys_dir / "NOT-FOR-REAL-USE.txt").write_text(BANNER.format(keys=keys_dir) + "\n", encoding="utf-8")
    now = time.time_ns() // 1_000_000
    policy = PolicyStatement(
        origin=origin,
        created_ms=now,
        version=0,
        founders=tuple(sorted(MemberId(k.public_key) for k in founders)),
        council=tuple(sorted(k.public_key for k in council)),
        threshold=THRESHOLD,
        declarations=_declarations(),
        params=Params(voucher_min_age_days=0),
    )
    entry = entry_from_statement(policy)
    for k in council[:THRESHOLD]:
        entry = sign_entry(entry, k)
    data = create_data_dir(log_dir, origin, None, SigningKey.generate())
    with Store.open(data.database_url(os.environ), writable=True, create=True) as store:
        init_log(store, data.signer(), lambda: now, format_entry(entry))
    return log_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default="data", type=Path)
    parser.add_argument("--origin", default=DEFAULT_ORIGIN)
    args = parser.parse_args()
    try:
        log_dir = create_demo(args.dir, args.origin)
    except RegistryError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    print(BANNER.format(keys=(args.dir / "demo-keys").resolve()), file=sys.stderr)
    print(f"created the demonstration registry {args.origin} in {log_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
