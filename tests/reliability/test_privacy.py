"""No personal data (issue 7, item 11; protocol §9.1-g, §12-a): canary strings (an e-mail address, a
phone number, an IP address and a name in Cyrillic) are sent to a real `registry serve` in every header
and in every field a client controls: the body of every POST (as raw text, in every field of a
statement, as extra fields and keys, in non-canonical and oversized bodies) and the path and query of
every GET, while valid statements are accepted. Afterwards no file the server wrote (the SQLite
database and its -wal, read while the server runs and after it stopped, the data directory, its working
and temporary directories) and nothing it printed holds any canary, in UTF-8, percent-encoded or
JSON-escaped. No answer echoes one either.

The server binds to 127.0.0.2, so that its clients reach it from 127.0.0.1: that address must appear
nowhere either (no client address is logged or stored).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from registry.errors import ErrorCode, Rejected
from registry.statements import Declare, MemberId, declaration_hash, parse_entry

ROOT = Path(__file__).resolve().parents[2]
CANARIES = {
    "email": "olga.kanareikina@example.org",
    "phone": "+7 916 555-01-77",
    "phone_digits": "79165550177",
    "ip": "203.0.113.77",
    "name": "Ольга Канарейкина",
}
CLIENT_ADDRESS = "127.0.0.1"
SERVER_HOST = "127.0.0.2"  # loopback too; the kernel gives its clients the source address 127.0.0.1


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flood_script", ROOT / "scripts" / "flood.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("flood_script", module)
    spec.loader.exec_module(module)
    return module


flood = _load()


def spellings(value: str) -> set[bytes]:
    """The forms in which a canary could sit in a file: UTF-8, percent-encoded, JSON-escaped."""
    return {
        value.encode("utf-8"),
        urllib.parse.quote(value, safe="").encode("ascii"),
        urllib.parse.quote_plus(value).encode("ascii"),
        json.dumps(value)[1:-1].encode("ascii"),
    }


NEEDLES = {spelling: name for name, value in CANARIES.items() for spelling in spellings(value)}


def headers_with(value: str) -> dict[bytes, bytes]:
    """Every header a client could use to leak who it is, carrying the canary `value`."""
    raw = value.encode("utf-8")
    return {
        b"User-Agent": raw,
        b"X-Forwarded-For": raw + b", " + CANARIES["ip"].encode(),
        b"X-Real-IP": raw,
        b"Forwarded": b"for=" + raw + b";proto=http;by=" + CANARIES["ip"].encode(),
        b"Cookie": b"session=" + raw + b"; email=" + CANARIES["email"].encode(),
        b"Referer": b"https://example.org/?q=" + raw,
        b"From": raw,
        b"Authorization": b"Bearer " + raw,
        b"Origin": b"https://" + raw,
        b"Via": b"1.1 " + raw,
        b"Accept-Language": raw,
        b"X-Canary-Note": raw,
    }


def field_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from field_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*prefix, i)
            yield from field_paths(v, (*prefix, i))


def with_value(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(value))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


def bodies(valid: bytes, value: str) -> Iterator[bytes]:
    """POST bodies holding the canary `value` in every place a client can put it."""
    template = json.loads(valid)
    raw = value.encode("utf-8")
    yield raw
    yield json.dumps({"note": value}, ensure_ascii=False).encode("utf-8")
    yield json.dumps(with_value(template, ("statement",), {**template["statement"], value: value}),
                     ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")  # fmt: skip
    for path in field_paths(template):
        changed = with_value(template, path, value)
        yield json.dumps(changed, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
        yield json.dumps(changed, ensure_ascii=True, indent=1).encode("ascii")
    yield b'{"note":"' + raw + b'","pad":"' + b"x" * 70_000 + b'"}'


def get_paths(member: bytes, value: str) -> Iterator[str]:
    """Every GET operation with the canary `value` in its path and its query."""
    q = urllib.parse.urlencode({"email": CANARIES["email"], "name": value, "ip": CANARIES["ip"]})
    quoted = urllib.parse.quote(value, safe="")
    yield f"/v1/members/{quoted}?{q}"
    yield f"/v1/members/{member.hex()}?{q}"
    yield f"/v1/proof/inclusion?index={quoted}&size=1&{q}"
    yield f"/v1/proof/inclusion?index=0&size=1&{q}"
    yield f"/v1/proof/consistency?old=1&new={quoted}&{q}"
    yield f"/v1/proof/consistency?old=0&new=1&{q}"
    yield f"/v1/policy?{q}"
    yield f"/healthz?{q}"
    yield f"/checkpoint?{q}"
    yield f"/tile/0/{quoted}?{q}"
    yield f"/tile/entries/000.p/1?{q}"
    yield f"/{quoted}/{quoted}?{q}"
    yield f"/v1/entries?{q}"  # a GET on a POST path: 405


def find_canaries(data: bytes) -> set[str]:
    found = {name for needle, name in NEEDLES.items() if needle in data}
    if CLIENT_ADDRESS.encode() in data:
        found.add("client address 127.0.0.1")
    return found


def scan(folder: Path) -> dict[str, set[str]]:
    """Every file under `folder` that holds a canary, with the canaries it holds."""
    hits = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            found = find_canaries(path.read_bytes())
            if found:
                hits[str(path.relative_to(folder))] = found
    return hits


@pytest.mark.spec("9.1-g", "12-a", "9.1-a")
def test_no_canary_and_no_client_address_reaches_any_file_or_output(tmp_path: Path) -> None:
    control = " ".join(CANARIES.values()).encode() + b" 127.0.0.1"
    assert find_canaries(control) == {*CANARIES, "client address 127.0.0.1"}  # the scan finds what it must
    server_dir = tmp_path / "server"  # everything the server can write to: data, cwd, TMPDIR, HOME
    for sub in ("work", "tmp", "home"):
        (server_dir / sub).mkdir(parents=True)
    now = time.time_ns() // 1_000_000
    log = flood.make_log(server_dir, now)
    env = {"TMPDIR": str(server_dir / "tmp"), "HOME": str(server_dir / "home")}
    server = flood.start_server(log.data, server_dir, batch_ms=20, host=SERVER_HOST, extra_env=env,
                               cwd=server_dir / "work")
    en = declaration_hash(flood.DECLARATIONS["en"])
    free_founders = log.founders[flood.SPONSORED :]  # these have not used their statement of the day
    answers: list[httpx.Response] = []
    try:
        assert not find_canaries(json.dumps([str(p) for p in server_dir.rglob("*")]).encode())
        size_before = flood.tree_size(server.url)
        for n, value in enumerate(CANARIES.values()):
            with httpx.Client(base_url=server.url, headers=headers_with(value), timeout=60) as client:
                # A valid statement, accepted while the canary headers are sent (so the database is
                # written), its identity commitment an opaque hash that covers the canaries.
                member = flood.key(f"privacy member {n}")
                sponsor = free_founders[n]
                commitment = hashlib.sha256(json.dumps(CANARIES).encode()).digest()
                valid = flood.signed(Declare(flood.ORIGIN, now, MemberId(member.public_key), en, commitment,
                                             MemberId(sponsor.public_key)), member, sponsor)  # fmt: skip
                response = client.post("/v1/entries", content=valid)
                assert response.status_code == 201, response.text
                answers.append(response)
                for body in bodies(valid, value):
                    for path in ("/v1/entries", "/v1/validate"):
                        answers.append(client.post(path, content=body, headers={"content-type": "application/json"}))
                for path in get_paths(member.public_key, value):
                    answers.append(client.get(path))
        assert flood.tree_size(server.url) > size_before  # the accepted statements are in the log
        assert {r.status_code for r in answers} >= {200, 201, 400, 404, 405, 413}
        assert not any(r.status_code >= 500 for r in answers)
        # The database and its -wal while the server runs.
        running = scan(server_dir)
    finally:
        output = server.stop()
    assert "Application startup complete" in output  # the server's output was captured
    for response in answers:
        # No answer reflects the client's text. (A number sent as a tree size, such as the phone number
        # in digits, may be named back in a 404 "no proof up to size N": not stored, not logged.)
        echoed = find_canaries(response.content + str(response.headers).encode()) - {"phone_digits"}
        assert not echoed, (response.request.url, response.text)
    stopped = scan(server_dir)
    assert running == {} and stopped == {}, {"while running": running, "after stopping": stopped}
    assert not find_canaries(output.encode("utf-8")), output


@pytest.mark.spec("12-a", "4.2-b")
def test_a_refused_entry_never_echoes_the_names_of_its_unknown_fields(tmp_path: Path) -> None:
    """Found by the test above: the message of a statement with an unknown field named the field, so a
    client's text (here an e-mail address) came back in the error body and could reach any log."""
    log = flood.make_log(tmp_path, 1_767_225_600_000)
    valid = json.loads(flood.make_payloads(log, 1)["unsponsored"][0])
    for value in CANARIES.values():
        for where in (("statement",), ()):
            changed = with_value(valid, (*where, value), 1) if where else {**valid, value: 1}
            data = json.dumps(changed, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
            with pytest.raises(Rejected) as caught:
                parse_entry(data)
            assert caught.value.code is ErrorCode.MALFORMED_ENTRY
            assert "1 unknown field" in caught.value.message
            assert not find_canaries(caught.value.message.encode("utf-8"))
