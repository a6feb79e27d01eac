"""The HTTP face of a witness: C2SP tlog-witness `POST /add-checkpoint` (protocol §6.2).

The statuses are the ones tlog-witness fixes for each refusal (this protocol's §6.2-c), so this module
maps the refusal classes of `registry.witness.protocol` to statuses itself instead of going through
`api.errors.STATUS` (the REST API's table, for the registry's own endpoints):

    MalformedRequest 400 (413 for `too_large`)   UnknownLog 404   BadLogSignature 403
    OldSizeMismatch 409, body `<size>\\n`, Content-Type text/x.tlog.size
    InconsistentCheckpoint 422                    state file unavailable 503

A 200 carries the cosignature line(s) as `text/plain; charset=utf-8`; other errors carry the project's
JSON error body `{"code", "message", "section"}`. `GET /healthz` answers `ok`; `GET /` names the
witness (its vkey and the origins it witnesses).

Started by `registry witness serve` through its import path (`api.witness:app_from_env`, a factory):
the witness directory, the log keys and nothing else arrive in environment variables. Privacy as in
protocol §9.1-g: no access log, no client address anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import Response

from crypto.errors import CryptoError
from crypto.notekey import NoteVerifier, parse_vkey
from registry.errors import ErrorCode, RegistryError, Rejection
from registry.witness.directory import open_witness_dir
from registry.witness.protocol import (
    MAX_REQUEST_SIZE,
    TREE_SIZE_CONTENT_TYPE,
    BadLogSignature,
    InconsistentCheckpoint,
    MalformedRequest,
    OldSizeMismatch,
    UnknownLog,
    format_cosignature_lines,
    format_tree_size,
)
from registry.witness.witness import Witness

from .telemetry import NO_TELEMETRY

__all__ = ["LOGS_ENV", "WITNESS_DIR_ENV", "app_from_env", "create_witness_app", "status_for_refusal"]

WITNESS_DIR_ENV: Final = "REGISTRY_WITNESS_DIR"
LOGS_ENV: Final = "REGISTRY_WITNESS_LOGS"
"""The log vkeys, separated by white space (a vkey holds none)."""

_TEXT: Final = "text/plain; charset=utf-8"
_JSON: Final = "application/json"


def status_for_refusal(exc: RegistryError) -> int:
    """The tlog-witness status of a refusal (protocol §6.2-c)."""
    if isinstance(exc, OldSizeMismatch):
        return 409
    if isinstance(exc, UnknownLog):
        return 404
    if isinstance(exc, BadLogSignature):
        return 403
    if isinstance(exc, InconsistentCheckpoint):
        return 422
    if isinstance(exc, MalformedRequest):
        return 413 if exc.code == ErrorCode.TOO_LARGE else 400
    return 503 if exc.code == ErrorCode.UNAVAILABLE else 500


def _error(rejection: Rejection, status: int) -> Response:
    if status == 500:
        rejection = Rejection(ErrorCode.INTERNAL, "internal error", "")
    body = json.dumps(
        {"code": str(rejection.code), "message": rejection.message, "section": rejection.section}, separators=(",", ":")
    )
    return Response(body, status_code=status, media_type=_JSON)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is over `limit` bytes (counted while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_witness_app(witness: Witness) -> FastAPI:
    """The witness's app. The caller owns `witness` (and closes its state after the app stops)."""
    app = FastAPI(
        title="antiwar-registry witness", openapi_url=None, docs_url=None, redoc_url=None, telemetry=NO_TELEMETRY
    )

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        body = await _read_body(request, MAX_REQUEST_SIZE)
        if body is None:
            message = f"an add-checkpoint body is at most {MAX_REQUEST_SIZE} bytes"
            return _error(Rejection(ErrorCode.TOO_LARGE, message, "6.2-a"), 413)
        try:
            # Verifying, the fsync'd compare-and-swap and signing block: run them off the event loop.
            lines = await asyncio.to_thread(witness.add_checkpoint, body)
        except OldSizeMismatch as exc:
            # protocol §6.2-c: the witness's size, for the client to resend from.
            # Exactly this media type, without the charset Starlette adds to text/* types.
            return Response(
                format_tree_size(exc.latest_size), status_code=409, headers={"content-type": TREE_SIZE_CONTENT_TYPE}
            )
        except RegistryError as exc:
            return _error(exc.rejection, status_for_refusal(exc))
        return Response(format_cosignature_lines(lines), status_code=200, media_type=_TEXT)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response("ok\n", media_type=_TEXT)

    @app.get("/")
    async def about() -> Response:
        text = f"witness {witness.vkey}\n" + "".join(f"log {origin}\n" for origin in witness.origins)
        return Response(text, media_type=_TEXT)

    return app


def _log_keys(text: str) -> Sequence[NoteVerifier]:
    keys: list[NoteVerifier] = []
    for vkey in text.split():
        try:
            keys.append(parse_vkey(vkey))
        except CryptoError as exc:
            raise RegistryError(Rejection(ErrorCode.BAD_KEY, f"a log vkey: {exc.message}", "6.2-b")) from None
    return keys


def app_from_env() -> FastAPI:
    """The app of `registry witness serve`: the directory in `REGISTRY_WITNESS_DIR`, the log keys in
    `REGISTRY_WITNESS_LOGS`. The state file is opened at startup and closed at shutdown.

    Raises:
        RegistryError (`malformed_encoding`, `bad_key`, `not_found`, `unavailable`): a missing variable,
            a bad vkey, not a witness directory, or a state file that cannot be opened durably.
    """
    directory, logs = os.environ.get(WITNESS_DIR_ENV, ""), os.environ.get(LOGS_ENV, "")
    if not directory or not logs.strip():
        message = f"{WITNESS_DIR_ENV} must name a witness directory and {LOGS_ENV} hold at least one log vkey"
        raise RegistryError(Rejection(ErrorCode.MALFORMED_ENCODING, message, "6.2-b"))
    witness = open_witness_dir(Path(directory)).open(_log_keys(logs), lambda: int(time.time()))
    app = create_witness_app(witness)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            witness.state.close()

    app.router.lifespan_context = lifespan
    return app
