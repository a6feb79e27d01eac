"""`registry mirror --server URL DIR` and `registry serve-mirror DIR`: keep and serve a verified copy of
a log (protocol §6.5).

`mirror` copies what is new of the server's checkpoint, hash tiles and entry bundles into DIR,
verifying each against the checkpoint, and refuses a checkpoint that does not extend the copy.
`serve-mirror` serves DIR read-only at the same tlog-tiles paths (started by its import path,
`api.mirror:app_from_env`; the CLI never imports `api`). `registry audit --mirror DIR` audits a copy
without a network.

Exit codes: 0 success; 1 refused or failed verification (`error: <code>: <message>`); 2 usage error;
3 server unreachable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import click
import uvicorn

from crypto.notekey import format_vkey

from ..client import ServerError, ServerUnreachable
from ..errors import RegistryError
from ..mirror import MirrorFailed, mirror_log, mirror_log_key
from ..trust import MAX_POLICY_SIZE, TrustPolicy, parse_trust_policy
from .app import EXIT_FAILED, EXIT_UNREACHABLE, cli, fail, fail_usage
from .cmd_identity import read_small_file
from .server_io import open_client, parse_log_key

__all__ = ["APP_FACTORY", "MIRROR_DIR_ENV", "mirror", "serve_mirror"]

APP_FACTORY: Final = "api.mirror:app_from_env"
MIRROR_DIR_ENV: Final = "REGISTRY_MIRROR_DIR"  # api.mirror.MIRROR_DIR_ENV; a test keeps them equal


def _policy(path: Path | None) -> TrustPolicy | None:
    if path is None:
        return None
    try:
        return parse_trust_policy(read_small_file(path, MAX_POLICY_SIZE))
    except RegistryError as exc:
        fail(exc.rejection)


@cli.command("mirror")
@click.option("--server", "server_url", required=True, metavar="URL", help="The log's server (or another mirror).")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--log-key", "log_key", metavar="VKEY",
              help="The log's verifier key, obtained out of band; needed on the first run unless --trust gives "
              "it (then kept in DIR).")
@click.option("--trust", "trust_path", type=click.Path(path_type=Path, dir_okay=False),
              help="A trust policy (§9.7): its log key, and its witnesses' quorum required on the checkpoint.")
def mirror(server_url: str, directory: Path, log_key: str | None, trust_path: Path | None) -> None:
    """Copy the log a server publishes into DIRECTORY, verifying every file, incrementally.

    Fetches the checkpoint, verifies the log's signature (and with --trust the witnesses' quorum),
    refuses a checkpoint smaller than the copy's or not extending it, verifies every new tile against
    the checkpoint and every new entry bundle against its tile, and writes the checkpoint last.

    Exit codes: 0 copied; 1 refused (the failing check is printed); 2 usage error; 3 unreachable.
    """
    policy = _policy(trust_path)
    stored = mirror_log_key(directory)
    given = log_key or (None if policy is None else format_vkey(policy.log))
    if given is None and stored is None:
        fail_usage("the first run needs --log-key VKEY or --trust POLICY (the log's key, obtained out of band)")
    verifier = parse_log_key(given or stored or "")
    if policy is not None and policy.log != verifier:
        fail_usage("the trust policy names another log key")
    client = open_client(server_url)
    try:
        result = mirror_log(client, directory, verifier, policy=policy)
    except MirrorFailed as exc:
        click.echo(f"error: {exc.code}: mirror refused ({exc.check}): {exc.message}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except ServerUnreachable as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        raise SystemExit(EXIT_UNREACHABLE) from None
    except (ServerError, RegistryError) as exc:
        fail(exc.rejection)
    finally:
        client.close()
    before = "none" if result.previous is None else str(result.previous.size)
    click.echo(f"fetched {result.tiles_fetched} tiles and {result.bundles_fetched} entry bundles; "
               f"reused {result.reused} from the copy", err=True)
    click.echo(f"mirrored checkpoint of size {result.checkpoint.size} (previously: {before})")


@cli.command("serve-mirror")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8200, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
def serve_mirror(directory: Path, host: str, port: int) -> None:
    """Serve a mirror DIRECTORY read-only: GET /checkpoint and /tile/... at the tlog-tiles paths.

    Exit codes: 0 stopped; 1 not a mirror directory; 2 usage error; 3 cannot bind.
    """
    if mirror_log_key(directory) is None:
        fail_usage(f"{directory} is not a mirror directory (run registry mirror first)")
    os.environ[MIRROR_DIR_ENV] = str(directory.resolve())
    uvicorn.run(APP_FACTORY, host=host, port=port, factory=True, workers=1, access_log=False,
                proxy_headers=False, server_header=False, log_level="warning")
