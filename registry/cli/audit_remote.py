"""`registry audit --server URL [--cache DIR]`: the remote audit on the command line (protocol §9.6).

Chooses the log key (`--log-key`, else the one the cache stored on first use: trust on first use,
said on stderr; refused without either, [9.6-f]), opens and locks the cache (or a temporary one that
is removed afterwards), runs `registry.remote_audit.audit_server`, and reports on stderr what it
fetched and what it reused. The report itself is printed by `cmd_audit`, as for the offline audit.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import click

from crypto.notekey import NoteVerifier, format_vkey

from ..audit import AuditReport
from ..client import RegistryClient
from ..errors import ErrorCode, RegistryError, Rejection
from ..mirror import MirrorTransport, mirror_log_key
from ..remote_audit import RemoteAuditFailed, audit_server
from ..tilecache import TileCache
from ..trust import TrustPolicy
from .app import EXIT_FAILED, fail, fail_usage
from .server_io import fail_remote, open_client, parse_log_key

__all__ = ["run_remote_audit"]


def _say(message: str) -> None:
    click.echo(message, err=True)


def _fetch_progress() -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        click.echo(f"\rchecked {done:,}/{total:,} entry bundles", err=True, nl=done == total)

    return show


def _choose_key(cache: TileCache, given: str | None, keep: bool) -> NoteVerifier:
    """--log-key, or the key stored on first use; store a given key in a new cache ([9.6-f])."""
    stored = cache.log_key() if keep else None
    if given is not None:
        verifier = parse_log_key(given)
        if stored is not None and parse_log_key(stored) != verifier:
            fail(Rejection(ErrorCode.BAD_KEY, f"this cache belongs to another log key ({stored}); use another "
                           "--cache directory for another log", "9.6-f"))
        if keep and stored is None:
            cache.set_log_key(verifier.vkey)
            _say(f"stored the log key in the cache: later runs may omit --log-key ({verifier.vkey})")
        return verifier
    if stored is None:
        fail_usage("--server needs --log-key VKEY (the log's key, obtained out of band) unless the --cache "
                   "directory already holds one from an earlier run")
    _say(f"using the log key stored in the cache on first use (trust on first use): {stored}")
    return parse_log_key(stored)


def _print_failure(exc: RemoteAuditFailed, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({
            "ok": False,
            "failure": {
                "check": exc.check,
                "code": str(exc.code),
                "message": exc.message,
                "accepted_size": exc.old_size,
                "checkpoint_size": exc.new_size,
                "evidence": None if exc.evidence is None else str(exc.evidence),
            },
        }, indent=2, sort_keys=True))


def run_remote_audit(
    server_url: str | None,
    cache_dir: Path | None,
    log_key: str | None,
    workers: int,
    as_json: bool,
    progress: Callable[[int], None] | None,
    *,
    mirror_dir: Path | None = None,
    policy: TrustPolicy | None = None,
    evidence_dir: Path | None = None,
) -> AuditReport:
    """Run the remote audit of a server, or of a mirror directory (no network, protocol §6.5-c); exit 1,
    2 or 3 itself on anything but a replay report. With `policy`, the checkpoint must carry its
    witnesses' quorum; a refused rollback, fork or inconsistency leaves an evidence file (§6.4-a) in
    `evidence_dir` (default: CACHE/evidence)."""
    if policy is not None:
        if log_key is not None and parse_log_key(log_key) != policy.log:
            fail_usage("--log-key and the trust policy name different log keys")
        log_key = format_vkey(policy.log)
    if mirror_dir is not None and log_key is None:
        log_key = mirror_log_key(mirror_dir)
    temporary = None
    if cache_dir is None:
        if log_key is None:
            fail_usage("--server without --cache needs --log-key VKEY (the log's key, obtained out of band)")
        temporary = tempfile.TemporaryDirectory(prefix="registry-audit-")
        cache_dir = Path(temporary.name)
        _say("no --cache: the whole log is fetched and nothing is kept for the next run")
    if evidence_dir is None and temporary is None:
        evidence_dir = cache_dir / "evidence"
    try:
        if mirror_dir is not None:
            # protocol §6.5-c: the copy is read like a server, through a transport over its files.
            client = RegistryClient("http://mirror.invalid", transport=MirrorTransport(mirror_dir))
        else:
            client = open_client(server_url or "")
        try:
            with TileCache.open(cache_dir) as cache:
                verifier = _choose_key(cache, log_key, keep=temporary is None)
                result = audit_server(client, cache, verifier, workers=workers, progress=progress,
                                      fetch_progress=_fetch_progress(), notice=_say, policy=policy,
                                      evidence_dir=evidence_dir)
        finally:
            client.close()
    except RemoteAuditFailed as exc:
        _print_failure(exc, as_json)
        if exc.evidence is not None:
            _say(f"evidence written to {exc.evidence} (check it with: registry evidence check FILE)")
        click.echo(f"error: {exc.code}: audit failed ({exc.check}): {exc.message}", err=True)
        sys.exit(EXIT_FAILED)
    except RegistryError as exc:
        fail_remote(exc)
    finally:
        if temporary is not None:
            temporary.cleanup()
    s = result.stats
    _say(f"fetched {s.tiles_fetched} tiles and {s.bundles_fetched} entry bundles; reused {s.tiles_cached} "
         f"tiles and {s.bundles_cached} entry bundles from the cache"
         + (f"; fetched {s.refetched} again after a failed check" if s.refetched else ""))
    if result.report.ok and temporary is None:
        before = "none" if result.previous is None else str(result.previous.size)
        _say(f"accepted the checkpoint of size {result.checkpoint.size} (previously accepted: {before})")
    return result.report
