"""Server child processes for the scripts and the tests: `python -m registry serve` (or `registry witness
serve`) started as a subprocess on a loopback port, waited for on GET /healthz, stopped as Ctrl-C does or
killed with SIGKILL (as a power cut or the OOM killer would), started again on the same port, its output
kept in files and its memory read from /proc (protocol §9; the witness server of §6.2).

Public interfaces only: a server is started by its command line and reached over HTTP, never imported
(STYLE §1). It makes no data directory and chooses no database: the data directory's config.json does,
and the child's environment carries no `DATABASE_URL` unless the caller passes one in `env`.

Import it as `serverproc` with scripts/ on sys.path (the scripts), or through tests/servers.py (the tests).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

__all__ = ["ROOT", "Server", "ServerStartError", "child_env", "free_port", "free_ports"]

ROOT = Path(__file__).resolve().parent.parent
"""The checkout: the children's working directory, so that `python -m registry` finds this code."""

DATABASE_URL_ENV = "DATABASE_URL"  # registry.datadir.DATABASE_URL_ENV; not imported, so that this loads alone


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now (another process may take it before we do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> int:
    """A first port such that it and the next `count - 1` are free on `host` now.

    Raises:
        RuntimeError: no such range found in 50 tries.
    """
    for _ in range(50):
        base = free_port(host)
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free consecutive ports")


def child_env(drop: Iterable[str] = (DATABASE_URL_ENV,), extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the names in `drop` (by default `DATABASE_URL`, so that the data
    directory alone chooses the database), plus `extra`."""
    dropped = set(drop)
    return {k: v for k, v in os.environ.items() if k not in dropped} | dict(extra or {})


class ServerStartError(RuntimeError):
    """The server exited, or did not answer its readiness check in time; the message holds the end of its
    output (the files may hold the output of earlier runs too)."""


@dataclass
class Server:
    """A server in a child process that we start, stop, kill and start again by its process id.

    Build one with `Server.serve(...)` (`registry serve`) or `Server.witness(...)` (`registry witness
    serve`), or directly with any `command` that serves `ready_path` on `host:port`. Nothing runs until
    `start()`. Its stdout is appended to `out` and its stderr to `err` (to `out` when `err` is None); both
    None: discarded. Owner: the thread that created it; it is not shared between threads.
    """

    command: tuple[str, ...]
    port: int
    host: str = "127.0.0.1"
    out: Path | None = None
    err: Path | None = None
    env: Mapping[str, str] = field(default_factory=child_env)
    cwd: Path = ROOT
    ready_path: str = "/healthz"
    stop_signal: int = signal.SIGINT
    """What `stop()` sends: SIGINT as Ctrl-C does, or SIGTERM as a service manager does."""
    stop_timeout_s: float = 20.0
    """How long `stop()` waits before SIGKILL."""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    ready_s: float = field(default=0.0, init=False)
    """Seconds the last `start()` took until the server answered."""

    @classmethod
    def serve(
        cls,
        data: Path,
        *,
        port: int | None = None,
        host: str | None = None,
        batch_ms: int | None = None,
        extra: Sequence[str] = (),
        out: Path | None = None,
        err: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path = ROOT,
        stop_signal: int = signal.SIGINT,
        stop_timeout_s: float = 20.0,
    ) -> Server:
        """`python -m registry serve --data DATA [--host H] --port P [--batch-ms MS] EXTRA...` (not started).

        `host` and `batch_ms` are passed only when given, so that the server's defaults can be tested (its
        default host is 127.0.0.1). `port`: a free port by default. `env`: `child_env()` by default. `cwd`:
        the checkout by default (another directory needs the package installed, as in the project's venv).
        """
        port = free_port() if port is None else port
        command = [sys.executable, "-m", "registry", "serve", "--data", str(data)]
        if host is not None:
            command += ["--host", host]
        command += ["--port", str(port)]
        if batch_ms is not None:
            command += ["--batch-ms", str(batch_ms)]
        return cls(tuple(command) + tuple(extra), port, host or "127.0.0.1", out, err,
                   child_env() if env is None else env, cwd, stop_signal=stop_signal,
                   stop_timeout_s=stop_timeout_s)  # fmt: skip

    @classmethod
    def witness(
        cls,
        directory: Path,
        log_vkeys: Sequence[str],
        *,
        port: int | None = None,
        out: Path | None = None,
        err: Path | None = None,
    ) -> Server:
        """`python -m registry witness serve DIR --port P --log VKEY...` (not started), stopped by SIGTERM
        (SIGKILL after 10 s), with the checkout on PYTHONPATH."""
        port = free_port() if port is None else port
        command = [sys.executable, "-m", "registry", "witness", "serve", str(directory), "--port", str(port)]
        for vkey in log_vkeys:
            command += ["--log", vkey]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return cls(tuple(command), port, "127.0.0.1", out, err, env, stop_signal=signal.SIGTERM,
                   stop_timeout_s=10.0)  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the server was not started")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> Server:
        """Start the process and return at once (see `wait_ready`)."""
        # The files are closed here once the child holds its own copies of their descriptors.
        stdout = open(self.out, "ab") if self.out is not None else None
        stderr = open(self.err, "ab") if self.err is not None else None
        if stderr is not None:
            errors: int | IO[bytes] = stderr
        else:
            errors = subprocess.STDOUT if stdout is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                list(self.command),
                stdout=stdout if stdout is not None else subprocess.DEVNULL,
                stderr=errors,
                cwd=self.cwd,
                env=dict(self.env),
            )
        finally:
            for f in (stdout, stderr):
                if f is not None:
                    f.close()
        return self

    def wait_ready(self, timeout_s: float = 60.0, poll_s: float = 0.1) -> float:
        """Wait until GET `ready_path` answers 200; returns the seconds waited.

        Raises:
            ServerStartError: the process exited, or did not answer within `timeout_s` (it is then
                killed); the message holds the last 40 lines of its output.
        """
        t0 = time.monotonic()
        while self.process is not None and time.monotonic() - t0 < timeout_s:
            try:
                if httpx.get(f"{self.url}{self.ready_path}", timeout=2).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(poll_s)
        self.kill()
        code = None if self.process is None else self.process.returncode
        raise ServerStartError(f"the server did not start (exit {code}); its last output:\n{self.tail(40)}")

    def start(self, timeout_s: float = 60.0, poll_s: float = 0.1) -> Server:
        """`launch()`, then `wait_ready()`; records the seconds it took in `ready_s`. Starting again after
        `stop()` or `kill()` reuses the port, the command and the output files (appended to).

        Raises:
            ServerStartError: as `wait_ready`.
        """
        t0 = time.monotonic()
        self.launch()
        self.wait_ready(timeout_s, poll_s)
        self.ready_s = time.monotonic() - t0
        return self

    def kill(self) -> None:
        """SIGKILL, as a power cut or the OOM killer would: no shutdown code runs. Waits for the exit."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> str:
        """A clean stop (`stop_signal`), or SIGKILL after `stop_timeout_s`; returns everything the server
        printed (see `output`)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.output()

    def restart(self, timeout_s: float = 60.0, poll_s: float = 0.1) -> Server:
        """`kill()` (if running), then `start()` on the same port."""
        self.kill()
        return self.start(timeout_s, poll_s)

    def output(self) -> str:
        """What the server printed so far: `out`, then `err` (empty when discarded)."""
        texts = []
        for path in (self.out, self.err):
            if path is not None:
                try:
                    texts.append(path.read_text("utf-8", "replace"))
                except OSError:
                    pass
        return "".join(texts)

    def tail(self, lines: int = 20) -> str:
        """The last `lines` lines of `output()`."""
        return "\n".join(self.output().splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far, in seconds (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) of the server process, in kB (Linux /proc)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        return {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
                if line.startswith(("VmRSS:", "VmHWM:"))}  # fmt: skip
