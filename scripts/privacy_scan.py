#!/usr/bin/env python3
"""Scan for personal data (issue 7, item 11; protocol §9.1-g, §12-a): canary strings (an e-mail address,
a phone number, an IP address and a name in Cyrillic) are sent to the log server, a witness and a mirror,
each a real process on loopback in a temporary directory, in every header and every field a client
controls; afterwards no file they wrote and nothing they printed holds any canary, and no answer echoes
one.

The processes, each in its own directory with its own working directory, TMPDIR and HOME:

    log      `registry serve` on a log whose policy requires a sponsor (scripts/flood.py's log)
    witness  `registry witness serve`, witnessing that log
    mirror   `registry mirror` runs copying that log, from the log itself and from hostile upstreams
             (UPSTREAM_MODES: canaries in every answer's headers, as tiles, as the code, message and
             section of 400, 404, 500 and 503 answers, as the checkpoint), and `registry serve-mirror`
             serving the copy

What is sent, per round and per canary, each request with the canary in every header a client could use
to say who it is (User-Agent, X-Forwarded-For, Forwarded, Cookie, Referer, From, Authorization, ...):

    log      a valid sponsored declaration (accepted: the database is written) and every POST body that
             carries the canary (raw, in every field of a statement, as extra fields and keys, indented,
             oversized) to /v1/entries and /v1/validate; the canary in the path and query of every GET
    witness  a valid add-checkpoint of the log's checkpoint (accepted: the state is written) carrying an
             extra signature line named by the canary; bodies with the canary as old size, proof line,
             note, origin, extension line, oversized; a log-signed fork (refused as inconsistent: an
             evidence file is written); the canary in the path and query of every GET and POST
    mirror   the canary in the path, query and body of GETs and POSTs to `serve-mirror`

The servers bind to 127.0.0.2 and their clients reach them from 127.0.0.1: that address must appear
nowhere either. Every file under the temporary directory is scanned while the servers run (SQLite
databases with their -wal and -shm files, state files, evidence files) and again after they stopped,
for each canary in UTF-8, percent-encoded and JSON-escaped; so is every answer (body and headers).

A number sent as a tree size (the phone number in digits) may be named back in an answer ("no proof up
to size N"): not stored, not logged, so answers are not checked for that one spelling.

Prints the figures and one `name=value` line each; exits 1 on any canary hit, 0 otherwise.
tests/reliability/test_privacy.py runs `run_scan` for one round and asserts on its report.

Usage: scripts/privacy_scan.py [--rounds R]    (R at most 3 grow the log; later rounds resend the rest)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import flood
import httpx
from scriptlog import DECLARATIONS, signed
from serverproc import Server, child_env, free_port

from crypto.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from crypto.note import Note, NoteSignature, add_signatures, format_note, parse_note
from registry.datadir import open_data_dir
from registry.statements import Declare, MemberId, declaration_hash
from registry.witness.protocol import MAX_REQUEST_SIZE

CANARIES = {
    "email": "olga.kanareikina@example.org",
    "phone": "+7 916 555-01-77",
    "phone_digits": "79165550177",
    "ip": "203.0.113.77",
    "name": "Ольга Канарейкина",
}
CLIENT_ADDRESS = "127.0.0.1"
SERVER_HOST = "127.0.0.2"  # loopback too; the kernel gives its clients the source address 127.0.0.1
NUMBER_ECHO = "phone_digits"  # may be named back as a number in an answer, never stored


def spellings(value: str) -> set[bytes]:
    """The forms in which a canary could sit in a file: UTF-8, percent-encoded, JSON-escaped."""
    return {
        value.encode("utf-8"),
        urllib.parse.quote(value, safe="").encode("ascii"),
        urllib.parse.quote_plus(value).encode("ascii"),
        json.dumps(value)[1:-1].encode("ascii"),
    }


NEEDLES = {spelling: name for name, value in CANARIES.items() for spelling in spellings(value)}


def find_canaries(data: bytes) -> set[str]:
    """The canaries (and the client address) that `data` holds in any spelling."""
    found = {name for needle, name in NEEDLES.items() if needle in data}
    if CLIENT_ADDRESS.encode() in data:
        found.add(f"client address {CLIENT_ADDRESS}")
    return found


@dataclass
class Scan:
    """The files under a folder that hold a canary (relative path: canaries), and what was read."""

    hits: dict[str, set[str]] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0


def scan(folder: Path) -> Scan:
    """Read every file under `folder` (names too) and report those that hold a canary."""
    result = Scan()
    for path in sorted(folder.rglob("*")):
        relative = str(path.relative_to(folder))
        found = find_canaries(relative.encode("utf-8"))
        if path.is_file():
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # a temporary file removed while the servers run
                continue
            result.files += 1
            result.bytes += len(data)
            found |= find_canaries(data)
        if found:
            result.hits[relative] = found
    return result


# --- what a client sends --------------------------------------------------------------------------


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


def query(value: str) -> str:
    return urllib.parse.urlencode({"email": CANARIES["email"], "name": value, "ip": CANARIES["ip"]})


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


def log_bodies(valid: bytes, value: str) -> Iterator[bytes]:
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


def log_get_paths(member: bytes, value: str) -> Iterator[str]:
    """Every GET operation of the log server with the canary `value` in its path and its query."""
    q, quoted = query(value), urllib.parse.quote(value, safe="")
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


def key_name(value: str) -> str:
    """The canary as a note key name (no space, no '+'): itself when it can be one, else the e-mail."""
    return value if not any(c in value for c in " +") else CANARIES["email"]


def canary_signature(value: str) -> NoteSignature:
    """A signature line under a key name of the client's choosing: a verifier ignores it (§5.4-f)."""
    return NoteSignature(key_name(value), hashlib.sha256(value.encode()).digest()[:4], b"\x01" * 64)


def add_checkpoint_body(old: int, proof: list[bytes], note: bytes) -> bytes:
    return b"old %d\n%s\n%s" % (old, b"".join(base64.b64encode(h) + b"\n" for h in proof), note)


def witness_bodies(note: bytes, latest: int, fork: bytes, value: str) -> Iterator[bytes]:
    """add-checkpoint bodies that carry the canary `value` and are refused; `note` is the log's latest
    checkpoint (the witness holds size `latest`), `fork` a log-signed note of size `latest` with another
    root hash."""
    raw = value.encode("utf-8")
    marked = format_note(add_signatures(parse_note(note), [canary_signature(value)]))
    zero = base64.b64encode(bytes(32))
    yield raw
    yield json.dumps({"note": value}, ensure_ascii=False).encode("utf-8")
    yield b"old " + raw + b"\n\n" + note
    yield b"old 0\n" + raw + b"\n\n" + note
    yield b"old 0\n\n" + raw
    yield b"old 0\n\n" + raw + b"\n1\n" + zero + b"\n\n" + canary_signature(value).format_line().encode()
    text, _, signatures = note.partition(b"\n\n")
    yield b"old %d\n\n%s%s\n\n%s" % (latest, text, b"\n" + raw, signatures)  # an extension line: 403
    yield add_checkpoint_body(latest + 1, [], marked)  # old size unknown to the witness: 409 or 400
    yield add_checkpoint_body(latest, [bytes(32)], marked)  # a proof that does not verify: 422
    yield add_checkpoint_body(latest, [], fork)  # a fork, kept as evidence: 422
    yield b"old 0\n\n" + raw + b"x" * MAX_REQUEST_SIZE  # 413


def witness_paths(value: str) -> Iterator[tuple[str, str]]:
    q, quoted = query(value), urllib.parse.quote(value, safe="")
    yield "GET", f"/?{q}"
    yield "GET", f"/healthz?{q}"
    yield "GET", f"/add-checkpoint?{q}"  # 405
    yield "GET", f"/{quoted}/{quoted}?{q}"
    yield "POST", f"/{quoted}?{q}"
    yield "POST", f"/healthz?{q}"


def mirror_paths(value: str) -> Iterator[tuple[str, str]]:
    q, quoted = query(value), urllib.parse.quote(value, safe="")
    yield "GET", f"/checkpoint?{q}"
    yield "GET", f"/healthz?{q}"
    yield "GET", f"/tile/0/{quoted}?{q}"
    yield "GET", f"/tile/entries/{quoted}?{q}"
    yield "GET", f"/tile/0/000?{q}"
    yield "GET", f"/{quoted}/{quoted}?{q}"
    yield "GET", f"/log.vkey?{q}"
    yield "POST", f"/checkpoint?{q}"  # 405
    yield "POST", f"/tile/0/000.p/1?{q}"


# --- processes ------------------------------------------------------------------------------------


def sandbox(root: Path, name: str) -> Path:
    """root/name with its own work (the cwd), tmp (TMPDIR) and home (HOME) directories."""
    box = root / name
    for sub in ("work", "tmp", "home"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    return box


def sandbox_env(box: Path) -> dict[str, str]:
    """The environment of a process in `box`: no DATABASE_URL, TMPDIR and HOME inside `box`."""
    return child_env(extra={"TMPDIR": str(box / "tmp"), "HOME": str(box / "home")})


def run_clis(box: Path, jobs: dict[str, list[str]]) -> dict[str, tuple[int, str]]:
    """Run `registry ARGS` for every job at once in `box`, each to completion; job NAME's output is kept in
    box/NAME.out and .err. Returns each job's exit code and output."""
    started = {}
    for name, args in jobs.items():
        with open(box / f"{name}.out", "wb") as o, open(box / f"{name}.err", "wb") as e:
            started[name] = subprocess.Popen([sys.executable, "-m", "registry", *args], stdout=o, stderr=e,
                                             cwd=box / "work", env=sandbox_env(box))  # fmt: skip
    results = {}
    for name, process in started.items():
        rc = process.wait(timeout=300)
        results[name] = (rc, "".join((box / f"{name}.{s}").read_text("utf-8", "replace") for s in ("out", "err")))
    return results


def start_server(box: Path, args: list[str], port: int) -> Server:
    """A `registry` server subcommand (witness serve, serve-mirror) on SERVER_HOST:`port`, started in
    `box`, its output in box/server.out and .err; `stop()` is Ctrl-C's SIGINT."""
    server = Server((sys.executable, "-m", "registry", *args, "--host", SERVER_HOST, "--port", str(port)), port,
                    SERVER_HOST, box / "server.out", box / "server.err", sandbox_env(box), box / "work")  # fmt: skip
    return server.start()


UPSTREAM_MODES = {
    "headers": "the log's answers, with canaries in every header",
    "tiles": "canary bytes as every hash tile",
    "tile_errors": "a 404 with canaries as code, message and section for every tile",
    "checkpoint": "canaries as the checkpoint",
    "refused": "a 400 with canaries as code, message and section for the checkpoint",
    "unavailable": "a 503 with canaries in its body and Retry-After for the checkpoint",
    "failing": "a 500 with canaries in its body for the checkpoint",
}
"""How each hostile upstream answers `registry mirror` (on top of the canary headers every one sends)."""


class HostileUpstream:
    """A log server as a mirror could meet it: answers from the real log at `log_url`, with canaries in
    every answer's headers, and what `mode` adds (UPSTREAM_MODES). Runs in this process, on loopback."""

    def __init__(self, log_url: str, mode: str) -> None:
        self.log_url, self.mode, self.served = log_url, mode, 0
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, media = upstream.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers_with(CANARIES["name"]).items():
                    self.send_header(name.decode(), value.decode("latin-1"))
                self.send_header("Set-Cookie", f"visitor={CANARIES['email']}")
                self.send_header("Retry-After", CANARIES["phone"])
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path: str) -> tuple[int, bytes, str]:
        self.served += 1
        canaries = " ".join(CANARIES.values())
        error = json.dumps({"code": canaries, "message": canaries, "section": canaries}, ensure_ascii=False).encode()
        checkpoint, tile = path == "/checkpoint", path.startswith("/tile/")
        if checkpoint and self.mode == "checkpoint":
            note = Note(f"{canaries}\n1\n{canaries}\n", (canary_signature(CANARIES["email"]),))
            return 200, format_note(note), "text/plain; charset=utf-8"
        if checkpoint and self.mode in ("refused", "unavailable", "failing"):
            return {"refused": 400, "unavailable": 503, "failing": 500}[self.mode], error, "application/json"
        if tile and self.mode == "tiles" and not path.startswith("/tile/entries/"):
            width = int(path.rpartition(".p/")[2]) if ".p/" in path else 256
            return 200, (canaries.encode() * 200)[: 32 * width], "application/octet-stream"
        if tile and self.mode == "tile_errors":
            return 404, error, "application/json"
        real = httpx.get(self.log_url + path, timeout=60)
        return real.status_code, real.content, real.headers.get("content-type", "application/octet-stream")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- the scan -------------------------------------------------------------------------------------


@dataclass
class Report:
    """What one scan sent, got and found."""

    requests: Counter[str] = field(default_factory=Counter)
    """Requests sent, by server (log, witness, mirror, and upstream: answered to `registry mirror`)."""
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    echoes: list[tuple[str, str, set[str]]] = field(default_factory=list)
    """Answers that named a canary: (server, URL, canaries)."""
    mirror_runs: dict[str, int] = field(default_factory=dict)
    """Exit code of each `registry mirror` run, by upstream."""
    running: Scan = field(default_factory=Scan)
    stopped: Scan = field(default_factory=Scan)
    outputs: dict[str, str] = field(default_factory=dict)
    """Everything each server printed, by server."""
    output_hits: dict[str, set[str]] = field(default_factory=dict)
    log_growth: int = 0

    @property
    def hits(self) -> int:
        return len(self.running.hits) + len(self.stopped.hits) + len(self.echoes) + len(self.output_hits)

    def record(self, server: str, response: httpx.Response) -> None:
        self.requests[server] += 1
        self.statuses.setdefault(server, Counter())[response.status_code] += 1
        found = find_canaries(response.content + str(response.headers).encode()) - {NUMBER_ECHO}
        if found:
            self.echoes.append((server, str(response.request.url), found))


def _proof(log_url: str, old: int, new: int) -> list[bytes]:
    answer = httpx.get(f"{log_url}/v1/proof/consistency", params={"old": old, "new": new}, timeout=60)
    answer.raise_for_status()
    return [bytes.fromhex(h) for h in answer.json()["consistency_proof"]]


def probe_log(report: Report, url: str, log: flood.FloodLog, round_: int, now_ms: int) -> None:
    """One round of canaries to the log server; while founders have their statement of the day left,
    one valid sponsored declaration per canary is accepted too."""
    en = declaration_hash(DECLARATIONS["en"])
    free = log.founders[flood.SPONSORED :]  # these have not used their statement of the day
    for n, value in enumerate(CANARIES.values()):
        with httpx.Client(base_url=url, headers=headers_with(value), timeout=60) as client:
            member = flood.key(f"privacy member {round_} {n}")
            sponsor = free[(round_ * len(CANARIES) + n) % len(free)]
            commitment = hashlib.sha256(json.dumps(CANARIES).encode() + bytes([round_])).digest()
            valid = signed(Declare(flood.ORIGIN, now_ms, MemberId(member.public_key), en, commitment,
                                   MemberId(sponsor.public_key)), member, sponsor)  # fmt: skip
            if round_ * len(CANARIES) + n < len(free):
                report.record("log", client.post("/v1/entries", content=valid))
            for body in log_bodies(valid, value):
                for path in ("/v1/entries", "/v1/validate"):
                    report.record("log", client.post(path, content=body, headers={"content-type": "application/json"}))
            for path in log_get_paths(member.public_key, value):
                report.record("log", client.get(path))


@dataclass
class WitnessProbe:
    """The witness under test and the size of the latest checkpoint it cosigned (as this scan sent it)."""

    url: str
    log_url: str
    log_data: Path
    latest: int = 0

    def fork(self, size: int, value: str) -> bytes:
        """A checkpoint of `size` signed with the log's key, with another root hash, and a canary line."""
        signer = open_data_dir(self.log_data).signer()
        cp = Checkpoint(flood.ORIGIN, size, hashlib.sha256(value.encode()).digest())
        return format_note(add_signatures(sign_checkpoint(cp, signer), [canary_signature(value)]))

    def round(self, report: Report) -> None:
        note = httpx.get(f"{self.log_url}/checkpoint", timeout=60).content
        size = parse_checkpoint(parse_note(note).text).size
        for value in CANARIES.values():
            with httpx.Client(base_url=self.url, headers=headers_with(value), timeout=60) as client:
                # Accepted: the witness stores the checkpoint; the extra line is one a verifier ignores.
                marked = format_note(add_signatures(parse_note(note), [canary_signature(value)]))
                body = add_checkpoint_body(self.latest, _proof(self.log_url, self.latest, size), marked)
                answer = client.post(f"/add-checkpoint?{query(value)}", content=body)
                report.record("witness", answer)
                if answer.status_code != 200:
                    raise RuntimeError(f"the witness refused the log's checkpoint: {answer.status_code} {answer.text}")
                self.latest = size
                for body in witness_bodies(note, self.latest, self.fork(size, value), value):
                    report.record("witness", client.post("/add-checkpoint", content=body))
                for method, path in witness_paths(value):
                    report.record("witness", client.request(method, path, content=value.encode()))


def probe_mirror(report: Report, url: str) -> None:
    for value in CANARIES.values():
        with httpx.Client(base_url=url, headers=headers_with(value), timeout=60) as client:
            for method, path in mirror_paths(value):
                report.record("mirror", client.request(method, path, content=value.encode()))


def run_scan(root: Path, rounds: int = 1) -> Report:
    """Start the log, a witness and a mirror under `root`, send the canaries `rounds` times, scan."""
    report = Report()
    now_ms = time.time_ns() // 1_000_000
    log_box, witness_box, mirror_box = sandbox(root, "log"), sandbox(root, "witness"), sandbox(root, "mirror")
    log = flood.make_log(log_box, now_ms)
    vkey = json.loads((log.data / "config.json").read_text())["log_vkey"]
    (rc, output), = run_clis(witness_box, {"init": ["witness", "init", str(witness_box / "dir"),
                                                    "--name", "witness.privacy.example"]}).values()  # fmt: skip
    if rc != 0:
        raise RuntimeError(output)
    servers: dict[str, Server] = {}
    upstreams = {mode: HostileUpstream("", mode) for mode in UPSTREAM_MODES}
    try:
        log_server = Server.serve(
            log.data,
            host=SERVER_HOST,
            port=free_port(SERVER_HOST),
            batch_ms=20,
            out=log_box / "server.out",
            err=log_box / "server.err",
            env=sandbox_env(log_box),
        )
        log_server.cwd = log_box / "work"
        servers["log"] = log_server.start()
        log_url = log_server.url
        for upstream in upstreams.values():
            upstream.log_url = log_url
        size_before = flood.tree_size(log_url)
        servers["witness"] = start_server(
            witness_box, ["witness", "serve", str(witness_box / "dir"), "--log", vkey], free_port(SERVER_HOST)
        )
        witness = WitnessProbe(servers["witness"].url, log_url, log.data)
        copy = mirror_box / "dir"
        for round_ in range(rounds):
            probe_log(report, log_url, log, round_, now_ms)
            witness.round(report)
            # The copy from the log, then from the upstream that only adds headers; the refused runs at
            # once, each on its own copy (a copy is locked by the run updating it).
            for name, source in (("log", log_url), ("headers", upstreams["headers"].url)):
                ((report.mirror_runs[name], _),) = run_clis(
                    mirror_box, {f"mirror-{name}": ["mirror", "--server", source, str(copy), "--log-key", vkey]}
                ).values()
            refused = {f"mirror-{mode}": ["mirror", "--server", u.url, str(mirror_box / f"dir-{mode}"),
                                          "--log-key", vkey]
                       for mode, u in upstreams.items() if mode != "headers"}  # fmt: skip
            for job, (rc, _) in run_clis(mirror_box, refused).items():
                report.mirror_runs[job.removeprefix("mirror-")] = rc
            if "mirror" not in servers:
                servers["mirror"] = start_server(mirror_box, ["serve-mirror", str(copy)], free_port(SERVER_HOST))
            probe_mirror(report, servers["mirror"].url)
        report.log_growth = flood.tree_size(log_url) - size_before
        report.requests["upstream"] = sum(u.served for u in upstreams.values())
        report.running = scan(root)  # while the servers run: SQLite -wal and -shm files too
    finally:
        for upstream in upstreams.values():
            upstream.close()
        for name, server in servers.items():
            report.outputs[name] = server.stop()
    report.stopped = scan(root)
    for name, text in report.outputs.items():
        found = find_canaries(text.encode("utf-8"))
        if found:
            report.output_hits[name] = found
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of canaries (default 3)")
    args = parser.parse_args()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="privacy-scan-") as tmp:
        control = find_canaries(" ".join(CANARIES.values()).encode() + b" " + CLIENT_ADDRESS.encode())
        if len(control) != len(CANARIES) + 1:
            raise SystemExit("the scan does not find its own canaries")
        report = run_scan(Path(tmp), args.rounds)
    for server in ("log", "witness", "mirror"):
        statuses = " ".join(f"{s}:{n}" for s, n in sorted(report.statuses[server].items()))
        print(f"{server:9} {report.requests[server]:6} requests  {statuses}")
    print(f"hostile upstreams answered {report.requests['upstream']} requests of `registry mirror`")
    print(f"mirror runs (exit code by upstream): {report.mirror_runs}")
    for label, result in (("while running", report.running), ("after stopping", report.stopped)):
        print(f"scanned {label}: {result.files} files, {result.bytes} bytes; hits {result.hits or 'none'}")
    print(
        f"server output scanned: {sum(len(t) for t in report.outputs.values())} characters; "
        f"hits {report.output_hits or 'none'}"
    )
    print(f"answers echoing a canary: {report.echoes or 'none'}")
    figures = {
        "requests": sum(report.requests.values()) - report.requests["upstream"],
        "log_growth": report.log_growth,
        "files_scanned": report.running.files + report.stopped.files,
        "bytes_scanned": report.running.bytes + report.stopped.bytes,
        "canary_hits": report.hits,
        "seconds": round(time.monotonic() - start, 1),
    }
    for name, value in figures.items():
        print(f"{name}={value}")
    return 1 if report.hits else 0


if __name__ == "__main__":
    sys.exit(main())
