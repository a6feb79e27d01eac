"""The SDK (`registry.client`) and the remote audit (`registry.remote_audit`) against the real app in this
process (protocol §9.6): error mapping per status, verified receipts, typed reads, bounded answers, and
incremental audits over tiles with a cache, including rollback, fork, tampering and interruption.

The app is `api.app.create_app` over a data directory on SQLite, driven through starlette's TestClient
(a sync httpx client with the app's lifespan). Where a test needs a dishonest or broken server it wraps
that real app in `Rewriting`, a transport that changes the real answers.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from api.app import Settings, create_app
from crypto.checkpoint import open_checkpoint, sign_checkpoint
from crypto.note import format_note
from crypto.notekey import NoteSigner, NoteVerifier, parse_vkey
from crypto.proof import verify_consistency, verify_inclusion
from registry.client import (
    RateLimited,
    Receipt,
    RegistryClient,
    ServerError,
    ServerUnreachable,
    verify_receipt,
)
from registry.errors import ErrorCode, Rejected
from registry.remote_audit import RemoteAuditFailed, audit_server, fetch_plan
from registry.state import Status
from registry.statements import Params, Vouch, format_entry
from registry.tilecache import CacheBusy, TileCache
from tests.factory import ORIGIN, Log, key, mid, signed
from tests.integration.serverlog import BULK_PARAMS, append, bulk_log, declarations, log_key, make_data_dir

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note that it prefers another httpx package
    from starlette.testclient import TestClient

BASE = "http://testserver"


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)


class Served:
    """A data directory served by the real app in this process; `client()` makes SDK clients on it."""

    def __init__(self, directory: Path, vkey: str, log: Log) -> None:
        self.directory, self.vkey, self.log = directory, vkey, log
        self.verifier = parse_vkey(vkey)
        self.requests: list[str] = []
        self._test_client: TestClient | None = None

    def __enter__(self) -> Served:
        self._test_client = TestClient(create_app(self.directory, Settings(batch_ms=0)), base_url=BASE)
        self._test_client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._test_client is not None:
            self._test_client.__exit__(None, None, None)

    @property
    def http(self) -> TestClient:
        if self._test_client is None:
            raise RuntimeError("not started")
        return self._test_client

    def client(self, rewrite: Rewrite | None = None, *, verifier: NoteVerifier | None = None,
               hooks: dict[str, list[Callable[..., object]]] | None = None) -> RegistryClient:
        transport = Rewriting(self, rewrite)
        return RegistryClient(BASE, transport=transport, log_verifier=verifier, event_hooks=hooks)


Rewrite = Callable[[httpx.Request, int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


class Rewriting(httpx.BaseTransport):
    """Forwards to the real app, records every path, and lets a test change the real answer."""

    def __init__(self, served: Served, rewrite: Rewrite | None) -> None:
        self.served, self.rewrite = served, rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.served.requests.append(request.url.path.lstrip("/"))
        forwarded = self.served.http.build_request(
            request.method, str(request.url), content=request.read(), headers={
                k: v for k, v in request.headers.items() if k.lower() not in ("host", "accept-encoding")
            },
        )
        real = self.served.http.send(forwarded)
        status, headers, body = real.status_code, {
            k: v for k, v in real.headers.items() if k.lower() not in ("content-length", "content-encoding")
        }, real.content
        if self.rewrite is not None:
            status, headers, body = self.rewrite(request, status, headers, body)
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


def _served(tmp_path: Path, name: str = "log", params: Params | None = None) -> Served:
    log = Log.standard(params=params or BULK_PARAMS)
    vkey = make_data_dir(tmp_path / name, log)
    return Served(tmp_path / name, vkey, log)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with _served(tmp_path) as s:
        yield s


def _declare(log: Log, n: int) -> bytes:
    return declarations(log, n, 1)[0]


# --- submit and receipts ---------------------------------------------------------------------------


@pytest.mark.spec("9.6-b")
def test_submit_returns_a_verified_receipt(served: Served) -> None:
    entry = _declare(served.log, 500)
    with served.client(verifier=served.verifier) as client:
        receipt = client.submit(entry)
    assert receipt.index == 2  # after the genesis and its state leaf
    assert receipt.tree_size == 4  # and the batch's own state leaf
    assert receipt.checkpoint_verified is True
    cp, _ = open_checkpoint(receipt.checkpoint, served.verifier)
    assert cp.root_hash == receipt.root_hash
    verify_inclusion(receipt.leaf_hash, receipt.index, cp.size, receipt.inclusion_proof, cp.root_hash)
    # Without a log key the proof is still checked, the signature is not.
    with served.client() as client:
        second = client.submit(_declare(served.log, 501))
    assert (second.index, second.checkpoint_verified) == (4, False)


def _receipt(served: Served) -> tuple[Receipt, bytes]:
    entry = _declare(served.log, 510)
    with served.client() as client:
        return client.submit(entry), entry


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


@pytest.mark.spec("9.6-b")
@pytest.mark.parametrize("tamper, code", [
    (lambda r, e: dataclasses.replace(r, inclusion_proof=(_flip(r.inclusion_proof[0]),)), ErrorCode.BAD_PROOF),
    (lambda r, e: dataclasses.replace(r, inclusion_proof=r.inclusion_proof + r.inclusion_proof), ErrorCode.BAD_PROOF),
    (lambda r, e: dataclasses.replace(r, leaf_hash=_flip(r.leaf_hash)), ErrorCode.BAD_PROOF),
    (lambda r, e: dataclasses.replace(r, logged_ms=r.logged_ms + 1), ErrorCode.BAD_PROOF),
    (lambda r, e: dataclasses.replace(r, index=0), ErrorCode.BAD_PROOF),
    (lambda r, e: dataclasses.replace(r, tree_size=r.tree_size + 1), ErrorCode.BAD_PROOF),
    (lambda r, e: dataclasses.replace(r, root_hash=_flip(r.root_hash)), ErrorCode.BAD_PROOF),
], ids=["proof-node", "proof-long", "leaf-hash", "logged-ms", "index", "tree-size", "root-hash"])
def test_tampered_receipt_is_refused(served: Served, tamper: Callable[[Receipt, bytes], Receipt],
                                     code: ErrorCode) -> None:
    receipt, entry = _receipt(served)
    verify_receipt(receipt, entry, served.verifier)
    with pytest.raises(ServerError) as info:
        verify_receipt(tamper(receipt, entry), entry, served.verifier)
    assert info.value.code is code


@pytest.mark.spec("9.6-b")
def test_receipt_for_another_entry_is_refused(served: Served) -> None:
    receipt, _ = _receipt(served)
    other = format_entry(served.log.declare(key(999), None))
    with pytest.raises(ServerError) as info:
        verify_receipt(receipt, other, served.verifier)
    assert info.value.code is ErrorCode.BAD_PROOF


@pytest.mark.spec("9.6-b")
def test_receipt_checkpoint_signed_by_another_key_is_refused(served: Served) -> None:
    receipt, entry = _receipt(served)
    cp, _ = open_checkpoint(receipt.checkpoint, served.verifier)
    forged = format_note(sign_checkpoint(cp, NoteSigner(ORIGIN, log_key("impostor"))))
    tampered = dataclasses.replace(receipt, checkpoint=forged)
    verify_receipt(tampered, entry)  # without the log key, the signature is not checked
    with pytest.raises(ServerError) as info:
        verify_receipt(tampered, entry, served.verifier)
    assert info.value.code is ErrorCode.BAD_SIGNATURE


@pytest.mark.spec("9.6-b")
def test_submit_refuses_a_receipt_the_server_tampered_with(served: Served) -> None:
    def tamper(request: httpx.Request, status: int, headers: dict[str, str], body: bytes):
        if request.url.path == "/v1/entries" and status == 201:
            obj = json.loads(body)
            obj["inclusion_proof"][0] = _flip(bytes.fromhex(obj["inclusion_proof"][0])).hex()
            body = json.dumps(obj).encode()
        return status, headers, body

    with served.client(tamper) as client, pytest.raises(ServerError) as info:
        client.submit(_declare(served.log, 520))
    assert info.value.code is ErrorCode.BAD_PROOF


# --- error mapping ------------------------------------------------------------------------------------


def _vouch_self(log: Log) -> bytes:
    return format_entry(signed(Vouch(ORIGIN, log.now_ms, mid(key(1)), mid(key(1)), None), key(1)))


def _bad_signature(log: Log) -> bytes:
    entry = log.declare(key(530), None)
    sig = entry.signatures[0]
    broken = dataclasses.replace(entry, signatures=(dataclasses.replace(sig, signature=_flip(sig.signature)),))
    return format_entry(broken)


@pytest.mark.spec("9.6-a")
def test_error_statuses_become_the_core_rejections(served: Served) -> None:
    log = served.log
    accepted = _declare(log, 540)
    with served.client() as client:
        client.submit(accepted)
        cases: list[tuple[Callable[[], object], int, type[Exception], ErrorCode]] = [
            (lambda: client.submit(b"{not json"), 400, Rejected, ErrorCode.MALFORMED_ENCODING),
            (lambda: client.inclusion_proof(5, 3), 400, Rejected, ErrorCode.MALFORMED_ENCODING),
            (lambda: client.submit(_bad_signature(log)), 403, Rejected, ErrorCode.BAD_SIGNATURE),
            (lambda: client.member(key(777).public_key), 404, Rejected, ErrorCode.UNKNOWN_MEMBER),
            (lambda: client.consistency_proof(1, 10_000), 404, Rejected, ErrorCode.NOT_FOUND),
            (lambda: client.submit(accepted), 409, Rejected, ErrorCode.DUPLICATE_ENTRY),
            (lambda: client.submit(b" " * 70_000), 413, Rejected, ErrorCode.TOO_LARGE),
            (lambda: client.submit(_vouch_self(log)), 422, Rejected, ErrorCode.SELF_VOUCH),
        ]
        for call, status, kind, code in cases:
            served.requests.clear()
            with pytest.raises(kind) as info:
                call()
            assert info.value.code is code, (status, info.value)  # type: ignore[attr-defined]
            assert type(info.value) is kind, status


@pytest.mark.spec("9.6-a")
def test_rate_limited_is_a_rejection_with_retry_after(tmp_path: Path) -> None:
    params = dataclasses.replace(BULK_PARAMS, max_pending_members=1)
    with _served(tmp_path, params=params) as s, s.client() as client:
        client.submit(_declare(s.log, 550))
        with pytest.raises(RateLimited) as info:
            client.submit(format_entry(s.log.declare(key(551), None)))
    assert isinstance(info.value, Rejected)
    assert info.value.code is ErrorCode.RATE_LIMITED
    assert info.value.rejection.section == "7.8-b"
    assert info.value.retry_after_s is not None and info.value.retry_after_s > 0


@pytest.mark.spec("9.6-a")
def test_unavailable_server_raises_server_unreachable(tmp_path: Path) -> None:
    s = _served(tmp_path)
    # Not started: the app answers 503 `unavailable` with Retry-After until its lifespan runs.
    s._test_client = TestClient(create_app(s.directory), base_url=BASE)
    with s.client() as client, pytest.raises(ServerUnreachable) as info:
        client.policy()
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert info.value.retry_after_s is not None


def _rewrite_error(status: int, body: bytes) -> Rewrite:
    def rewrite(request: httpx.Request, _s: int, headers: dict[str, str], _b: bytes):
        return status, {"content-type": "application/json"}, body
    return rewrite


@pytest.mark.spec("9.6-a")
def test_unknown_code_becomes_internal_with_its_message_kept(served: Served) -> None:
    body = json.dumps({"code": "new_rule_2030", "message": "a rule this client predates", "section": "7.99-a"})
    with served.client(_rewrite_error(422, body.encode())) as client, pytest.raises(Rejected) as info:
        client.validate(_declare(served.log, 560))
    assert info.value.code is ErrorCode.INTERNAL
    assert "new_rule_2030" in info.value.message and "a rule this client predates" in info.value.message
    assert info.value.rejection.section == "7.99-a"


@pytest.mark.spec("9.6-a")
def test_server_failure_and_unreadable_bodies(served: Served) -> None:
    generic = b'{"code":"internal","message":"internal error","section":""}'
    with served.client(_rewrite_error(500, generic)) as client, pytest.raises(ServerError) as info:
        client.policy()
    assert info.value.code is ErrorCode.INTERNAL
    # An error status without a readable body keeps the status's meaning.
    with served.client(_rewrite_error(404, b"<html>not here</html>")) as client, pytest.raises(Rejected) as rej:
        client.policy()
    assert rej.value.code is ErrorCode.NOT_FOUND
    # A 200 that is not the promised JSON is the server's fault, not a rejection.
    with served.client(_rewrite_error(200, b"[1, 2]")) as client, pytest.raises(ServerError) as bad:
        client.policy()
    assert bad.value.code is ErrorCode.MALFORMED_ENCODING


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.spec("9.6-a")
def test_unreachable_server_raises_server_unreachable() -> None:
    with RegistryClient(f"http://127.0.0.1:{_closed_port()}", timeout_s=5) as client:
        with pytest.raises(ServerUnreachable) as info:
            client.checkpoint()
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert "127.0.0.1" not in info.value.message


def test_base_url_must_be_http() -> None:
    for url in ("ftp://example.org", "example.org", "http://", "http://h/?q=1"):
        with pytest.raises(ServerError) as info:
            RegistryClient(url)
        assert info.value.code is ErrorCode.MALFORMED_ENCODING


# --- bounded answers ------------------------------------------------------------------------------------


@pytest.mark.spec("9.6-c")
def test_oversized_answers_are_refused(served: Served) -> None:
    huge = b"x" * (2 << 20)
    with served.client(_rewrite_error(200, huge)) as client, pytest.raises(ServerError) as info:
        client.checkpoint()
    assert info.value.code is ErrorCode.TOO_LARGE
    # A gzip body is bounded after decoding: 64 MiB of zeros compress to about 64 KiB.
    bomb = gzip.compress(b"\0" * (64 << 20))

    def gzipped(request: httpx.Request, status: int, headers: dict[str, str], body: bytes):
        return 200, {"content-encoding": "gzip", "content-type": "application/json"}, bomb

    with served.client(gzipped) as client, pytest.raises(ServerError) as info2:
        client.policy()
    assert info2.value.code is ErrorCode.TOO_LARGE
    # A tile is exactly its width's bytes.
    with served.client(_rewrite_error(200, b"\0" * 33)) as client, pytest.raises(ServerError) as info3:
        client.tile(0, 0, 1)
    assert info3.value.code in (ErrorCode.TOO_LARGE, ErrorCode.MALFORMED_ENCODING)


@pytest.mark.spec("9.6-c")
def test_gzip_answers_are_decoded(served: Served) -> None:
    def gzipped(request: httpx.Request, status: int, headers: dict[str, str], body: bytes):
        return status, {**headers, "content-encoding": "gzip"}, gzip.compress(body)

    with served.client(gzipped) as client:
        assert client.policy().origin == ORIGIN
        assert client.checkpoint().startswith(ORIGIN.encode())


# --- typed reads -------------------------------------------------------------------------------------------


def test_member_policy_validate_and_proofs(served: Served) -> None:
    entry = _declare(served.log, 570)
    with served.client() as client:
        first = client.checkpoint()
        receipt = client.submit(entry)
        found = client.member(key(570).public_key)
        assert found.view.status is Status.PENDING
        assert found.view.history == (receipt.index,)
        assert found.tree_size == receipt.tree_size
        founder = client.member(key(1).public_key).view
        assert founder.founder and founder.status is Status.VERIFIED
        policy = client.policy()
        assert policy.params == BULK_PARAMS
        assert policy.origin == ORIGIN and policy.version == 0
        assert set(policy.declarations) == {"en", "ru"}
        assert client.validate(_declare(Log.standard(params=BULK_PARAMS), 571)) is None
        verdict = client.validate(_vouch_self(served.log))
        assert verdict is not None and verdict.code is ErrorCode.SELF_VOUCH and verdict.section
        assert client.health() == receipt.tree_size
        old, _ = open_checkpoint(first, served.verifier)
        new, _ = open_checkpoint(client.checkpoint(), served.verifier)
        verify_consistency(old.size, new.size, old.root_hash, new.root_hash,
                           client.consistency_proof(old.size, new.size))
        proof = client.inclusion_proof(receipt.index, new.size)
        verify_inclusion(receipt.leaf_hash, receipt.index, new.size, proof, new.root_hash)


def test_event_hooks_see_every_request(served: Served) -> None:
    seen: list[str] = []
    with served.client(hooks={"request": [lambda request: seen.append(request.url.path)]}) as client:
        client.checkpoint()
        client.tile(0, 0, 1)
        client.entry_bundle(0, 1)
    assert seen == ["/checkpoint", "/tile/0/000.p/1", "/tile/entries/000.p/1"]


# --- the remote audit ----------------------------------------------------------------------------------


def _audit(served: Served, cache_dir: Path, rewrite: Rewrite | None = None,
           verifier: NoteVerifier | None = None):
    served.requests.clear()
    with served.client(rewrite) as client, TileCache.open(cache_dir) as cache:
        return audit_server(client, cache, verifier or served.verifier)


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """A data directory with 601 leaves (2 full bundles and a partial one), and a copy of it at 300.

    Each batch ends with a state leaf: 2 (genesis and its state leaf) + 297 + 1 = 300, then + 300 + 1.
    """
    root = tmp_path_factory.mktemp("big")
    log = bulk_log()
    vkey = make_data_dir(root / "log", log)
    append(root / "log", declarations(log, 1000, 297))
    shutil.copytree(root / "log", root / "prefix")
    append(root / "log", declarations(log, 2000, 300))
    return root / "log", vkey, root / "prefix"


def _copy(src: Path, dst: Path, vkey: str) -> Served:
    """A copy of a data directory, served; its Log only makes fresh declarations (any key not used yet)."""
    shutil.copytree(src, dst)
    return Served(dst, vkey, bulk_log())


def _accepted_size(cache_dir: Path, verifier: NoteVerifier) -> int | None:
    with TileCache.open(cache_dir) as cache:
        note = cache.checkpoint()
    return None if note is None else open_checkpoint(note, verifier)[0].size


@pytest.mark.spec("9.6-d", "9.6-h", "9.6-g")
def test_incremental_audit_fetches_only_what_is_new(big_dir: tuple[Path, str, Path], tmp_path: Path) -> None:
    src, vkey, _ = big_dir
    cache_dir = tmp_path / "cache"
    s = _copy(src, tmp_path / "log", vkey)
    with s:
        first = _audit(s, cache_dir)
        assert first.report.ok and first.report.size == 601
        assert sorted(s.requests) == fetch_plan(0, 601)
        assert (first.stats.bundles_fetched, first.stats.bundles_cached) == (3, 0)
        assert first.previous is None
        assert _accepted_size(cache_dir, s.verifier) == 601
        # Nothing new: the checkpoint, the partial tiles and the partial bundle only.
        again = _audit(s, cache_dir)
        assert again.report.ok and sorted(s.requests) == fetch_plan(601, 601)
        assert (again.stats.bundles_fetched, again.stats.bundles_cached) == (1, 2)
        # New entries through the server: five batches of one entry and its state leaf.
        with s.client() as client:
            for n in range(3000, 3005):
                client.submit(_declare(s.log, n))
        third = _audit(s, cache_dir)
        assert third.report.ok and third.report.size == 611
        assert sorted(s.requests) == fetch_plan(601, 611)
    # Across a tile boundary: the new full level-0 tile and bundle and the new partials only.
    append(s.directory, declarations(s.log, 4000, 170))
    with s:
        fourth = _audit(s, cache_dir)
        assert fourth.report.ok and fourth.report.size == 782
        assert sorted(s.requests) == fetch_plan(611, 782)
        assert "tile/entries/001" not in s.requests and "tile/entries/002" in s.requests
        assert (fourth.stats.bundles_fetched, fourth.stats.bundles_cached) == (2, 2)
        assert fourth.previous is not None and fourth.previous.size == 611
        assert fourth.report.counts["pending"] == 772
    assert _accepted_size(cache_dir, s.verifier) == 782


@pytest.mark.spec("9.6-e")
def test_rollback_to_a_smaller_checkpoint_is_refused(big_dir: tuple[Path, str, Path], tmp_path: Path) -> None:
    src, vkey, prefix = big_dir
    cache_dir = tmp_path / "cache"
    with _copy(src, tmp_path / "log", vkey) as s:
        assert _audit(s, cache_dir).report.ok
    # The same log key, a prefix of the same log: a rolled-back server.
    with _copy(prefix, tmp_path / "prefix", vkey) as p:
        with pytest.raises(RemoteAuditFailed) as info:
            _audit(p, cache_dir)
    failure = info.value
    assert failure.code is ErrorCode.AUDIT_MISMATCH and failure.check == "rollback"
    assert (failure.old_size, failure.new_size) == (601, 300)
    assert "300" in failure.message and "601" in failure.message
    assert _accepted_size(cache_dir, p.verifier) == 601


@pytest.mark.spec("9.6-e")
def test_forked_log_is_refused(big_dir: tuple[Path, str, Path], tmp_path: Path) -> None:
    src, vkey, prefix = big_dir
    cache_dir = tmp_path / "cache"
    with _copy(src, tmp_path / "log", vkey) as s:
        assert _audit(s, cache_dir).report.ok
    # The same first 300 leaves, then others: a larger tree that does not extend the accepted one.
    fork = _copy(prefix, tmp_path / "fork", vkey)
    append(fork.directory, declarations(fork.log, 5000, 400))
    with fork, pytest.raises(RemoteAuditFailed) as info:
        _audit(fork, cache_dir)
    assert info.value.code is ErrorCode.BAD_PROOF and info.value.check == "consistency"
    assert (info.value.old_size, info.value.new_size) == (601, 701)
    # Another root at the accepted size itself.
    same = _copy(prefix, tmp_path / "same", vkey)
    append(same.directory, declarations(same.log, 6000, 300))
    with same, pytest.raises(RemoteAuditFailed) as info2:
        _audit(same, cache_dir)
    assert info2.value.code is ErrorCode.AUDIT_MISMATCH and info2.value.check == "fork"
    assert _accepted_size(cache_dir, same.verifier) == 601


@pytest.mark.spec("9.6-d")
def test_checkpoint_under_another_key_is_refused(served: Served, tmp_path: Path) -> None:
    impostor = NoteSigner(ORIGIN, log_key("impostor")).verifier
    with pytest.raises(RemoteAuditFailed) as info:
        _audit(served, tmp_path / "cache", verifier=impostor)
    assert info.value.code is ErrorCode.BAD_SIGNATURE and info.value.check == "checkpoint_signature"
    assert served.requests == ["checkpoint"]


def _flip_in(path: str, position: int = -1) -> Rewrite:
    def rewrite(request: httpx.Request, status: int, headers: dict[str, str], body: bytes):
        if request.url.path.lstrip("/") == path and body:
            data = bytearray(body)
            data[position] ^= 1
            body = bytes(data)
        return status, headers, body
    return rewrite


@pytest.mark.spec("9.6-d", "9.6-g")
@pytest.mark.parametrize("path, check", [
    ("tile/entries/001", "bundles"),
    ("tile/entries/002.p/89", "bundles"),
    ("tile/0/001", "tiles"),
    ("tile/0/002.p/89", "tiles"),
    ("tile/1/000.p/2", "tiles"),
])
def test_tampered_tiles_and_bundles_are_refused(big_dir: tuple[Path, str, Path], tmp_path: Path, path: str,
                                                check: str) -> None:
    src, vkey, _ = big_dir
    cache_dir = tmp_path / "cache"
    with _copy(src, tmp_path / "log", vkey) as s:
        with pytest.raises(RemoteAuditFailed) as info:
            _audit(s, cache_dir, _flip_in(path))
        assert info.value.code is ErrorCode.BAD_PROOF and info.value.check == check
        assert _accepted_size(cache_dir, s.verifier) is None
        # The honest answer is accepted afterwards, reusing what was verified.
        assert _audit(s, cache_dir).report.ok


@pytest.mark.spec("9.6-g")
def test_corrupted_cache_files_are_fetched_again(big_dir: tuple[Path, str, Path], tmp_path: Path) -> None:
    src, vkey, _ = big_dir
    cache_dir = tmp_path / "cache"
    with _copy(src, tmp_path / "log", vkey) as s:
        assert _audit(s, cache_dir).report.ok
        (cache_dir / "tile/entries/000").write_bytes(b"\0\1x")
        tile = cache_dir / "tile/0/001"
        tile.write_bytes(_flip(tile.read_bytes()))
        result = _audit(s, cache_dir)
        assert result.report.ok
        assert result.stats.refetched == 2
        assert "tile/entries/000" in s.requests and "tile/0/001" in s.requests
        assert "tile/entries/001" not in s.requests


@pytest.mark.spec("9.6-g")
def test_interrupted_audit_leaves_a_usable_cache(big_dir: tuple[Path, str, Path], tmp_path: Path) -> None:
    src, vkey, _ = big_dir
    cache_dir = tmp_path / "cache"

    def cut(request: httpx.Request, status: int, headers: dict[str, str], body: bytes):
        if request.url.path == "/tile/entries/001":
            raise httpx.ConnectError("connection reset")
        return status, headers, body

    with _copy(src, tmp_path / "log", vkey) as s:
        with pytest.raises(ServerUnreachable):
            _audit(s, cache_dir, cut)
        assert _accepted_size(cache_dir, s.verifier) is None
        assert not any((cache_dir / "tmp").iterdir())
        result = _audit(s, cache_dir)
        assert result.report.ok
        assert "tile/entries/000" not in s.requests and "tile/entries/001" in s.requests
        assert result.stats.bundles_cached == 1


def test_cache_is_locked_while_in_use(tmp_path: Path) -> None:
    with TileCache.open(tmp_path / "cache"):
        with pytest.raises(CacheBusy) as info:
            TileCache.open(tmp_path / "cache")
        assert info.value.code is ErrorCode.UNAVAILABLE
    TileCache.open(tmp_path / "cache").close()


@pytest.mark.spec("9.6-h")
def test_fetch_plan_vectors() -> None:
    root = Path(__file__).resolve().parents[1] / "vectors" / "client"
    cases = sorted(root.glob("*.json"))
    assert cases
    for path in cases:
        case = json.loads(path.read_text("utf-8"))
        assert fetch_plan(case["old_size"], case["new_size"]) == case["fetched"], path.name
