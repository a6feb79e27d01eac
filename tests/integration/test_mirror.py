"""Mirrors (protocol §6.5): `mirror_log` copies a real server's log incrementally and verified, refuses a
copy that would not extend what it holds, and the copy is audited and served without the log's server.

The server is the real app in this process (starlette's TestClient); the mirror is then read through
`MirrorTransport` (no network) and through the read-only app of `api/mirror.py`."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from api.app import Settings, create_app
from api.mirror import create_mirror_app
from crypto.notekey import parse_vkey
from crypto.tiles import tile_entries_path, tile_path, tiles_for_size
from registry.client import RegistryClient
from registry.mirror import MirrorFailed, MirrorTransport, mirror_log, mirror_log_key, read_mirror_file
from registry.remote_audit import audit_server
from registry.tilecache import TileCache
from registry.trust import TrustPolicy
from tests.integration.serverlog import append, bulk_log, declarations, make_data_dir
from tests.witnessing import witness_verifier

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

BASE = "http://testserver"


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)


@contextmanager
def serving(directory: Path) -> Iterator[RegistryClient]:
    with TestClient(create_app(directory, Settings(batch_ms=0)), base_url=BASE) as http:
        yield RegistryClient(BASE, client=http)


def grow(directory: Path, log: object, first: int, count: int) -> None:
    append(directory, declarations(log, first, count))  # type: ignore[arg-type]


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, str, object]:
    log = bulk_log()
    vkey = make_data_dir(tmp_path / "log", log)
    grow(tmp_path / "log", log, 1000, 298)  # genesis, its state leaf, 298 entries and their state leaf: 301
    return tmp_path / "log", vkey, log


def audit_mirror(mirror: Path, vkey: str, cache: Path) -> int:
    client = RegistryClient("http://mirror.invalid", transport=MirrorTransport(mirror))
    with TileCache.open(cache) as tiles:
        result = audit_server(client, tiles, parse_vkey(vkey), workers=1)
    assert result.report.ok, result.report
    return result.report.size


@pytest.mark.spec("6.5-a", "6.5-c")
def test_a_mirror_holds_every_file_at_its_tlog_tiles_path_and_audits_offline(
        source: tuple[Path, str, object], tmp_path: Path) -> None:
    directory, vkey, _ = source
    with serving(directory) as client:
        result = mirror_log(client, tmp_path / "mirror", parse_vkey(vkey))
        served_checkpoint = client.checkpoint()
    size = result.checkpoint.size
    assert size == 301 and result.previous is None
    mirror = tmp_path / "mirror"
    assert (mirror / "checkpoint").read_bytes() == served_checkpoint
    assert mirror_log_key(mirror) == vkey
    for level, index, width in tiles_for_size(size):
        assert (mirror / tile_path(level, index, width)).is_file()
    assert (mirror / tile_entries_path(0)).is_file() and (mirror / tile_entries_path(1, 45)).is_file()
    assert audit_mirror(mirror, vkey, tmp_path / "cache") == 301


@pytest.mark.spec("6.5-a")
def test_a_mirror_is_updated_incrementally(source: tuple[Path, str, object], tmp_path: Path) -> None:
    directory, vkey, log = source
    with serving(directory) as client:
        mirror_log(client, tmp_path / "mirror", parse_vkey(vkey))
    grow(directory, log, 2000, 249)  # and a state leaf: 551
    with serving(directory) as client:
        again = mirror_log(client, tmp_path / "mirror", parse_vkey(vkey))
    assert again.previous is not None and again.previous.size == 301 and again.checkpoint.size == 551
    assert again.bundles_fetched == 2  # bundle 1 (now full) and the partial bundle 2; bundle 0 reused
    assert again.reused >= 1
    assert audit_mirror(tmp_path / "mirror", vkey, tmp_path / "cache") == 551
    with serving(directory) as client:
        unchanged = mirror_log(client, tmp_path / "mirror", parse_vkey(vkey))
    assert unchanged.bundles_fetched == 1  # only the partial bundle is fetched again


@pytest.mark.spec("6.5-b")
def test_a_mirror_refuses_a_rollback_and_a_fork(source: tuple[Path, str, object], tmp_path: Path) -> None:
    directory, vkey, _ = source
    with serving(directory) as client:
        mirror_log(client, tmp_path / "mirror", parse_vkey(vkey))
    copy = (tmp_path / "mirror" / "checkpoint").read_bytes()
    # The same log key, another history: fewer entries (a rollback), then more but different ones (a fork).
    fork_log = bulk_log()
    assert make_data_dir(tmp_path / "fork", fork_log) == vkey
    grow(tmp_path / "fork", fork_log, 5000, 100)
    with serving(tmp_path / "fork") as client, pytest.raises(MirrorFailed) as info:
        mirror_log(client, tmp_path / "mirror", parse_vkey(vkey))
    assert (info.value.code, info.value.check) == ("audit_mismatch", "rollback")
    grow(tmp_path / "fork", fork_log, 6000, 400)
    with serving(tmp_path / "fork") as client, pytest.raises(MirrorFailed) as info:
        mirror_log(client, tmp_path / "mirror", parse_vkey(vkey))
    assert info.value.code == "bad_proof"
    assert (tmp_path / "mirror" / "checkpoint").read_bytes() == copy  # the copy is untouched


@pytest.mark.spec("6.5-b")
def test_a_mirror_checks_the_log_key_and_the_witness_quorum(source: tuple[Path, str, object],
                                                             tmp_path: Path) -> None:
    directory, vkey, _ = source
    other = make_data_dir(tmp_path / "other", bulk_log(), label="other")
    with serving(directory) as client:
        with pytest.raises(MirrorFailed) as info:
            mirror_log(client, tmp_path / "mirror", parse_vkey(other))
        assert info.value.code == "bad_signature"
        policy = TrustPolicy(origin=parse_vkey(vkey).name, log=parse_vkey(vkey),
                             witnesses=(witness_verifier(1),), quorum=1)
        with pytest.raises(MirrorFailed) as info:
            mirror_log(client, tmp_path / "mirror", parse_vkey(vkey), policy=policy)
        assert (info.value.code, info.value.check) == ("bad_signature", "witnesses")
        mirror_log(client, tmp_path / "mirror", parse_vkey(vkey))
        with pytest.raises(MirrorFailed) as info:
            mirror_log(client, tmp_path / "mirror", parse_vkey(other))
        assert info.value.code == "bad_key"


@pytest.mark.spec("6.5-c")
def test_a_mirror_serves_only_the_checkpoint_and_canonical_tile_paths(source: tuple[Path, str, object],
                                                                     tmp_path: Path) -> None:
    directory, vkey, _ = source
    with serving(directory) as client:
        mirror_log(client, tmp_path / "mirror", parse_vkey(vkey))
    mirror = tmp_path / "mirror"
    assert read_mirror_file(mirror, "checkpoint") is not None
    assert read_mirror_file(mirror, "tile/0/000") is not None
    for bad in ("log.vkey", "lock", "tile/0/0", "tile/0/000/../../log.vkey", "../x", "tile/entries/000.p/0",
                "tile/00/000"):
        assert read_mirror_file(mirror, bad) is None, bad
    with TestClient(create_mirror_app(mirror), base_url=BASE) as http:
        full = http.get("/tile/0/000")
        assert full.status_code == 200 and "immutable" in full.headers["cache-control"]
        partial = http.get(f"/{tile_entries_path(1, 45)}")
        assert partial.status_code == 200 and "immutable" not in partial.headers["cache-control"]
        assert http.get("/log.vkey").status_code == 404
        assert http.get("/tile/0/0").json()["code"] == "not_found"
        # The served mirror is itself a source: a second mirror copies it and audits the same log.
        second = mirror_log(RegistryClient(BASE, client=http), tmp_path / "second", parse_vkey(vkey))
    assert second.checkpoint.size == 301
    assert audit_mirror(tmp_path / "second", vkey, tmp_path / "cache2") == 301
