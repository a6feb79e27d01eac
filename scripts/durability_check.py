#!/usr/bin/env python3
"""The durability guard (issue 7 item 4; protocol §5.6-e): the registry refuses to write, and the server
refuses to start, on a database whose commits would not survive a power cut; it accepts the safe ones.

Each configuration is tried for real, and the verdict printed as a table of configuration -> accepted or
refused, with the error code:

  store   `Store.open(url, writable=True)`, the call the server makes at start-up, on a fresh database,
          with the unsafe setting made on each new connection after the store's own settings (the
          store's `connect_hook`, a setting that "did not take"), or by the URL itself;
  server  `registry serve` as a child process with `DATABASE_URL` set: accepted when GET /healthz
          answers, refused when it exits saying "refusing to write" (exit code 3);
  verdict `durability_problem` on the settings alone, for a setting no client can change: PostgreSQL's
          `fsync` is server-wide (changing it would affect every database of the server), so it is
          judged, not set.

SQLite always runs (temporary files). PostgreSQL runs when a URL is given (`--postgres URL` or
REGISTRY_TEST_POSTGRES_URL), each configuration in a fresh schema dropped afterwards; its session
settings go through `SET` on the connection or `options=-c...` in the URL, never the server's config.

Exit code 1 when an unsafe configuration is accepted, a safe one refused, or a refusal is not the
guard's (code `unavailable`, "refusing to write"). Ends with one name=value line per figure.

Usage: scripts/durability_check.py [--postgres URL] [--servers all|refusals|none]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/crash_loop.py, scripts/serverproc.py

from crash_loop import postgres_schema
from scriptlog import DECLARATIONS
from serverproc import Server, ServerStartError, child_env
from sqlalchemy.engine import make_url

from crypto.keys import SigningKey
from crypto.notekey import NoteSigner
from registry.datadir import DATABASE_URL_ENV, create_data_dir
from registry.errors import RegistryError
from registry.sequencer import init_log
from registry.statements import MemberId, Params, PolicyStatement, entry_from_statement, format_entry, sign_entry
from registry.store import NotDurable, Store, durability_problem

ORIGIN = "durability.registry.example/log"
T0 = 1_767_225_600_000
POSTGRES_URL_ENV = "REGISTRY_TEST_POSTGRES_URL"
_REFUSAL = re.compile(r"(\w+): refusing to write: ([^\n]*)")


@dataclass(frozen=True)
class Config:
    """One configuration to try."""

    database: str  # "sqlite" or "postgresql"
    name: str
    safe: bool
    how: str  # "store", "server" or "verdict"
    hook: str | None = None
    """SQL run on each new connection after the store's own settings (store only)."""
    url_options: str = ""
    """PostgreSQL `-c name=value` options added to the URL."""
    in_memory: bool = False
    """SQLite: `sqlite://`, a database in memory, instead of a file."""
    settings: tuple[tuple[str, str], ...] = ()
    """For `verdict`: the settings judged."""


@dataclass(frozen=True)
class Outcome:
    config: Config
    verdict: str  # "accepted", "refused" or "error"
    code: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.verdict == ("accepted" if self.config.safe else "refused")


SQLITE: tuple[Config, ...] = (
    Config("sqlite", "journal_mode=WAL synchronous=FULL (the store's own)", True, "store"),
    Config("sqlite", "synchronous=EXTRA", True, "store", "PRAGMA synchronous = EXTRA"),
    Config("sqlite", "synchronous=NORMAL", False, "store", "PRAGMA synchronous = NORMAL"),
    Config("sqlite", "synchronous=OFF", False, "store", "PRAGMA synchronous = OFF"),
    Config("sqlite", "journal_mode=DELETE", False, "store", "PRAGMA journal_mode = DELETE"),
    Config("sqlite", "journal_mode=TRUNCATE", False, "store", "PRAGMA journal_mode = TRUNCATE"),
    Config("sqlite", "journal_mode=MEMORY", False, "store", "PRAGMA journal_mode = MEMORY"),
    Config("sqlite", "journal_mode=OFF", False, "store", "PRAGMA journal_mode = OFF"),
    Config("sqlite", "in-memory database (no WAL possible)", False, "store", in_memory=True),
)
SQLITE_SERVER: tuple[Config, ...] = (
    Config("sqlite", "the data directory's file", True, "server"),
    Config("sqlite", "DATABASE_URL=sqlite:// (in memory, no WAL)", False, "server", in_memory=True),
)
_SYNC_OFF = "-csynchronous_commit=off"
POSTGRES: tuple[Config, ...] = (
    Config("postgresql", "fsync=on synchronous_commit=on (the server's)", True, "store"),
    Config("postgresql", "synchronous_commit=local", True, "store", "SET synchronous_commit = local"),
    Config("postgresql", "synchronous_commit=remote_write", True, "store", "SET synchronous_commit = remote_write"),
    Config("postgresql", "synchronous_commit=off (SET)", False, "store", "SET synchronous_commit = off"),
    Config("postgresql", "synchronous_commit=off (URL options)", False, "store", url_options=_SYNC_OFF),
    Config("postgresql", "fsync=off", False, "verdict", settings=(("fsync", "off"), ("synchronous_commit", "on"))),
)
POSTGRES_SERVER: tuple[Config, ...] = (
    Config("postgresql", "DATABASE_URL of a fresh schema", True, "server"),
    Config("postgresql", "DATABASE_URL with -csynchronous_commit=off", False, "server", url_options=_SYNC_OFF),
)


# --- a log to open -----------------------------------------------------------------------------------


def _key(label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"durability {label}".encode()).digest())


def _genesis() -> bytes:
    founder, council = _key("founder"), _key("council")
    policy = PolicyStatement(ORIGIN, T0, 0, (MemberId(founder.public_key),), (council.public_key,), 1,
                             DECLARATIONS, Params())  # fmt: skip
    return format_entry(sign_entry(entry_from_statement(policy), council))


def _make_log(folder: Path, database_url: str | None) -> Path:
    """A data directory whose log (a genesis) is in `database_url`, or in its own SQLite file."""
    data = create_data_dir(folder, ORIGIN, None, _key("log"))
    with Store.open(database_url or data.database_url({}), create=True) as store:
        init_log(store, data.signer(), lambda: T0, _genesis())
    return data.path


def _with_options(url: str, options: str) -> str:
    """`url` with PostgreSQL `-c` options appended to any it has (its search_path, say)."""
    parsed = make_url(url)
    existing = parsed.query.get("options", "")
    joined = " ".join(o for o in (existing if isinstance(existing, str) else " ".join(existing), options) if o)
    return parsed.update_query_dict({"options": joined}).render_as_string(hide_password=False)


# --- the tries ---------------------------------------------------------------------------------------


def _hook(sql: str) -> Callable[[Any], None]:
    def run(dbapi_connection: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()

    return run


def try_store(config: Config, url: str) -> Outcome:
    """Open a writable store at `url` (with the configuration's hook) and write its meta row."""
    if config.url_options:
        url = _with_options(url, config.url_options)
    hook = _hook(config.hook) if config.hook else None
    try:
        with Store.open(url, writable=True, create=True, connect_hook=hook) as store:
            store.initialize(ORIGIN, NoteSigner(ORIGIN, _key("log")).vkey)
    except NotDurable as exc:
        return Outcome(config, "refused", str(exc.code), f"{exc.rejection.section}: {exc.rejection.message}")
    except RegistryError as exc:
        return Outcome(config, "error", str(exc.code), exc.rejection.message)
    return Outcome(config, "accepted", "", "")


def try_server(config: Config, folder: Path, url: str | None) -> Outcome:
    """Start `registry serve` on a log in `url` (None: the data directory's SQLite file)."""
    data = _make_log(folder / "log", url)
    server_url = "sqlite://" if config.in_memory else url
    if server_url and config.url_options:
        server_url = _with_options(server_url, config.url_options)
    env = child_env(extra={DATABASE_URL_ENV: server_url} if server_url else None)
    server = Server.serve(data, env=env, out=folder / "server.out", err=folder / "server.err")
    try:
        server.start(timeout_s=60)
    except ServerStartError:
        output = server.output()
        match = _REFUSAL.search(output)
        if match is None:
            last = output.strip().splitlines()[-1:] or ["no output"]
            return Outcome(config, "error", f"exit {server.process.returncode if server.process else '?'}", last[0])
        return Outcome(config, "refused", match.group(1),
                       f"exit {server.process.returncode if server.process else '?'}: {match.group(2)}")  # fmt: skip
    server.stop()
    return Outcome(config, "accepted", "", "GET /healthz 200")


def try_verdict(config: Config) -> Outcome:
    problem = durability_problem(config.database, dict(config.settings))
    if problem is None:
        return Outcome(config, "accepted", "", "")
    return Outcome(config, "refused", str(NotDurable(problem).code), f"5.6-e: {problem}")


def run_config(config: Config, postgres: str) -> Outcome:
    """Try one configuration in a fresh database of its own."""
    with tempfile.TemporaryDirectory(prefix="durability-") as tmp:
        folder = Path(tmp)
        if config.how == "verdict":
            return try_verdict(config)
        database: AbstractContextManager[str | None]
        if config.database == "postgresql":
            database = postgres_schema(postgres, "durability")
        elif config.how == "store":
            database = nullcontext("sqlite://" if config.in_memory else f"sqlite:///{folder / 'log.sqlite3'}")
        else:
            database = nullcontext(None)
        with database as url:
            if config.how == "server":
                return try_server(config, folder, url)
            assert url is not None
            return try_store(config, url)


def configurations(postgres: str, servers: str = "all") -> list[Config]:
    """The configurations to try; `servers`: "all", "refusals" (only the unsafe server starts) or "none"."""
    result = list(SQLITE) + list(SQLITE_SERVER)
    if postgres:
        result += list(POSTGRES) + list(POSTGRES_SERVER)
    return [c for c in result if c.how != "server" or servers == "all" or (servers == "refusals" and not c.safe)]


def run_all(postgres: str, *, servers: str = "all", workers: int = 4) -> list[Outcome]:
    """Every configuration of `configurations`, in table order; the server starts run `workers` at a time."""
    configs = configurations(postgres, servers)
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(run_config, c, postgres) if c.how == "server" else None for c in configs]
        return [run_config(c, postgres) if f is None else f.result() for c, f in zip(configs, futures, strict=True)]


# --- main --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get(POSTGRES_URL_ENV, ""),
                        help=f"a PostgreSQL URL (postgresql+psycopg://...); default ${POSTGRES_URL_ENV}")  # fmt: skip
    parser.add_argument("--servers", choices=("all", "refusals", "none"), default="all",
                        help="which `registry serve` configurations to start: all (default), only the unsafe "
                             "ones that must refuse, or none")  # fmt: skip
    args = parser.parse_args()

    outcomes = run_all(args.postgres, servers=args.servers)
    if not args.postgres:
        print(f"postgresql: skipped (no --postgres URL and no {POSTGRES_URL_ENV})")
    print(f"{'database':10} {'via':7} {'configuration':48} {'expected':8} {'outcome':8} {'code':12} detail")
    for o in outcomes:
        mark = "" if o.ok else "   <-- WRONG"
        expected = "accept" if o.config.safe else "refuse"
        print(f"{o.config.database:10} {o.config.how:7} {o.config.name:48} {expected:8} {o.verdict:8} "
              f"{o.code or '-':12} {o.detail}{mark}")  # fmt: skip
    unsafe = [o for o in outcomes if not o.config.safe]
    safe = [o for o in outcomes if o.config.safe]
    figures = {
        "durability_configurations": len(outcomes),
        "durability_postgresql_configurations": sum(o.config.database == "postgresql" for o in outcomes),
        "durability_server_starts": sum(o.config.how == "server" for o in outcomes),
        "durability_unsafe": len(unsafe),
        "durability_unsafe_refused": sum(o.verdict == "refused" and o.code == "unavailable" for o in unsafe),
        "durability_unsafe_accepted": sum(o.verdict == "accepted" for o in unsafe),
        "durability_safe": len(safe),
        "durability_safe_accepted": sum(o.verdict == "accepted" for o in safe),
        "durability_safe_refused": sum(o.verdict == "refused" for o in safe),
        "durability_errors": sum(o.verdict == "error" for o in outcomes),
    }
    for name, value in figures.items():
        print(f"{name}={value}")
    ok = figures["durability_unsafe_refused"] == len(unsafe) and figures["durability_safe_accepted"] == len(safe)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
