"""`registry serve` as a real uvicorn process on a free loopback port (protocol §9): a member joins, is
vouched for and is revoked over HTTP; receipts, the checkpoint and the tiles verify with the log's key;
and the server's output holds no client address, request line or client-supplied header."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from crypto.checkpoint import open_checkpoint
from crypto.notekey import parse_vkey
from crypto.tiles import (
    parse_entry_bundle,
    tile_entries_path,
    tile_path,
    tiles_for_size,
    verify_entry_bundle,
    verify_tiles,
)
from registry.cli import cli, load_commands
from registry.statements import Reason, Revoke
from tests.integration.apisupport import check_receipt, member_id, signed
from tests.integration.logdata import ORIGIN, T0, Community, declare_entry, vouch_entry
from tests.servers import Server


@dataclass
class LogServer:
    """A started `registry serve` and the verifier key of the log it serves."""

    process: Server
    vkey: str

    @property
    def url(self) -> str:
        return self.process.url

    def stop(self) -> str:
        """Stop the server (as Ctrl-C does) and return everything it printed."""
        return self.process.stop()


def start_server(tmp_path: Path, community: Community, *extra: str) -> LogServer:
    """`registry init` a log of `community`, then `registry serve --data DIR --port P EXTRA...` (no --host:
    the default, loopback), its stdout and stderr in tmp_path/server.out and server.err."""
    load_commands()
    policy = tmp_path / "policy.json"
    policy.write_bytes(community.genesis())
    data = tmp_path / "log"
    args = ["init", str(data), "--policy", str(policy), "--origin", ORIGIN]
    result = CliRunner().invoke(cli, args, env={"DATABASE_URL": None})
    assert result.exit_code == 0, result.stderr
    vkey = result.stdout.splitlines()[-1]
    server = Server.serve(data, extra=extra, out=tmp_path / "server.out", err=tmp_path / "server.err")
    return LogServer(server.start(), vkey)


@pytest.fixture
def community() -> Community:
    return Community.make()


@pytest.fixture
def server(tmp_path: Path, community: Community) -> Iterator[LogServer]:
    srv = start_server(tmp_path, community, "--batch-ms", "20")
    yield srv
    srv.stop()


def submit(client: httpx.Client, server: LogServer, entry: bytes) -> dict[str, object]:
    response = client.post("/v1/entries", content=entry, headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    # The checkpoint's signature with the log's published key, the inclusion proof against its root.
    check_receipt(body, entry, verifier=parse_vkey(server.vkey))
    return body


def status(client: httpx.Client, key_hex: str) -> str:
    response = client.get(f"/v1/members/{key_hex}")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


@pytest.mark.spec("9.2-a", "9.3-a", "9.4-a", "9.4-b", "9.4-c", "9.1-h")
def test_member_joins_is_vouched_for_and_revoked_over_http(server: LogServer, community: Community) -> None:
    founders = community.founders
    newcomer = Community.member(1)
    with httpx.Client(base_url=server.url, timeout=30) as client:  # 127.0.0.1: the default --host
        submit(client, server, declare_entry(newcomer, founders[0]))
        assert status(client, newcomer.public_key.hex()) == "pending"
        submit(client, server, vouch_entry(founders[1], newcomer))
        assert status(client, newcomer.public_key.hex()) == "verified"
        revoke = signed(Revoke(ORIGIN, T0, member_id(newcomer), Reason.WITHDRAWN, None), newcomer)
        receipt = submit(client, server, revoke)
        assert status(client, newcomer.public_key.hex()) == "revoked"
        assert client.post("/v1/entries", content=revoke).json()["code"] == "duplicate_entry"

        # The checkpoint verifies with the log's published key and covers every receipt.
        note = client.get("/checkpoint").content
        checkpoint, _ = open_checkpoint(note, parse_vkey(server.vkey), origin=ORIGIN)
        assert checkpoint.size == receipt["tree_size"] > receipt["index"]  # type: ignore[operator]
        # A mirror's view: the tiles of that size rebuild the root; the bundles hash to the tiles.
        tiles = {(level, index): client.get("/" + tile_path(level, index, width)).content
                 for level, index, width in tiles_for_size(checkpoint.size)}
        verify_tiles(checkpoint.size, checkpoint.root_hash, tiles)
        bundle = client.get("/" + tile_entries_path(0, checkpoint.size)).content
        verify_entry_bundle(parse_entry_bundle(bundle, checkpoint.size), tiles[(0, 0)])


@pytest.mark.spec("9.1-g")
def test_server_output_holds_no_address_request_line_or_client_header(tmp_path: Path, community: Community) -> None:
    server = start_server(tmp_path, community)
    canaries = {
        "X-Forwarded-For": "203.0.113.77",
        "Forwarded": "for=198.51.100.23",
        "X-Real-IP": "192.0.2.99",
        "User-Agent": "canary-agent-5f1e",
        "Referer": "https://canary-referer.example/",
    }
    try:
        with httpx.Client(base_url=server.url, headers=canaries, timeout=30) as client:
            client.get("/healthz")
            client.get("/v1/members/" + "ab" * 32)  # unknown: an error answer
            client.get("/v1/members/canary-path-7c2d")
            client.get("/v1/proof/inclusion?index=canary-query-19a4&size=1")
            client.post("/v1/entries", content=b'{"canary-body-88e1":1}')
            client.post("/v1/entries", content=declare_entry(Community.member(1), community.founders[0]))
            client.get("/tile/0/000.p/2")
            client.get("/no-such-path-canary-3b7e")
            client.post("/v1/entries", content=b"x" * 70_000)
    finally:
        output = server.stop()
    assert "Application startup complete" in output  # we did capture the server's output
    for value in [*canaries.values(), "canary-path-7c2d", "canary-query-19a4", "canary-body-88e1", "no-such-path"]:
        assert value not in output
    assert not re.search(r'"(GET|POST|PUT|DELETE|HEAD) /', output), output
    assert not re.search(r"\d+\.\d+\.\d+\.\d+:\d+ - ", output), output  # uvicorn's access-log prefix
    # The only address printed is the one the server binds to, in its startup line.
    for line in output.splitlines():
        if "127.0.0.1" in line:
            assert "Uvicorn running on http://127.0.0.1:" in line, line
