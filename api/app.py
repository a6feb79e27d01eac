"""The FastAPI app of the registry's REST API (protocol §9.1 to §9.4).

`create_app(source, settings)` builds the app over a log: a data directory (opened with the store and
the sequencer when the app starts) or any `LogSource` (tests). `app_from_env()` is the factory that
`registry serve` hands to uvicorn by its import path, so that nothing imports `api` (STYLE §1).

One process serves one log with one sequencer: the batcher (`api.batcher`) is the only caller of its
writes; request handlers read its published snapshot (`Sequencer.state`, `.size`, ...), which the
sequencer replaces, never mutates. Handlers that read the database are plain `def`s, which FastAPI runs
in its thread pool, so the event loop never waits on a disk.

Privacy (§9.1-g): no handler reads the client's address or headers other than `Content-Length`; the
server runs without an access log; errors carry no personal data.

Deliberately not here: the rules (the core), the code-to-status table (`api.errors`), the tiles
(`api.tiles`), the server process (`registry serve`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crypto.checkpoint import open_checkpoint
from crypto.errors import CryptoError
from registry import PROTOCOL_VERSION
from registry.credential import format_credential_text
from registry.datadir import open_data_dir
from registry.errors import ErrorCode, RegistryError, Rejection
from registry.sequencer import Clock, Sequencer
from registry.store import Store
from registry.trust import TrustPolicy, format_trust_policy
from registry.witness.config import load_witness_config, trust_policy
from registry.witness.publisher import Publisher

from .batcher import DEFAULT_BATCH_MS, DEFAULT_MAX_BATCH, DEFAULT_MAX_PENDING, Batcher, Sequenced
from .errors import ApiError, error_response, install_error_handlers, openapi_errors
from .runtime import OpenedLog, Runtime
from .schemas import (
    ConsistencyProofBody,
    CredentialBody,
    HealthBody,
    InclusionProofBody,
    MemberBody,
    PolicyBody,
    ReceiptBody,
    TrustBody,
    ValidateBody,
    member_body,
    policy_body,
    receipt_body,
)
from .telemetry import NO_TELEMETRY
from .tiles import tiles_router

__all__ = [
    "BATCH_MS_ENV",
    "DATA_ENV",
    "FULL_CHECK_ENV",
    "MAX_BODY",
    "SNAPSHOT_EVERY_ENV",
    "LogSource",
    "Settings",
    "app_from_env",
    "create_app",
    "data_dir_source",
    "system_clock",
]

MAX_BODY: Final = 65_536
"""Largest request body the server reads ([9.1-c])."""
DATA_ENV: Final = "REGISTRY_SERVE_DATA"
"""The data directory `app_from_env` serves (set by `registry serve`)."""
BATCH_MS_ENV: Final = "REGISTRY_SERVE_BATCH_MS"
"""The batch window of `app_from_env`, in milliseconds (set by `registry serve --batch-ms`)."""
SNAPSHOT_EVERY_ENV: Final = "REGISTRY_SERVE_SNAPSHOT_EVERY"
"""How many leaves the log grows by between two start-up snapshots (set by `registry serve
--snapshot-every`; default `Sequencer.SNAPSHOT_EVERY`)."""
FULL_CHECK_ENV: Final = "REGISTRY_SERVE_FULL_CHECK"
"""`1`: `app_from_env` runs every leaf through the rules at start, ignoring the start-up snapshot
(set by `registry serve --full-check`)."""

_MAX_INT: Final = 2**63 - 1
_JSON: Final = "application/json"

LogSource = Callable[[], AbstractContextManager[OpenedLog]]
"""Opens the log when the app starts and closes it when the app stops."""

_log = logging.getLogger("api")


@dataclass(frozen=True, slots=True)
class Settings:
    """Server settings. Requires batch_ms >= 0 and 1 <= max_batch <= max_pending."""

    batch_ms: int = DEFAULT_BATCH_MS
    max_batch: int = DEFAULT_MAX_BATCH
    max_pending: int = DEFAULT_MAX_PENDING
    max_body: int = MAX_BODY
    freeze_heap: bool = False
    """Move every object alive once the log is loaded out of the cyclic collector's reach (`gc.freeze`).
    `registry serve` sets it; an app in a test process does not (it would freeze the tests' objects)."""


def system_clock() -> int:
    """Milliseconds since the Unix epoch: the sequencer's clock in production."""
    return time.time_ns() // 1_000_000


def data_dir_source(
    path: Path,
    env: Mapping[str, str],
    clock: Clock = system_clock,
    *,
    full_check: bool = False,
    snapshot_every: int | None = None,
) -> LogSource:
    """A `LogSource` over the data directory `path`: its database (by `DataDir.database_url(env)`) opened
    for writing, and its sequencer, which checks the stored log when opened: from its start-up snapshot
    when there is a usable one (protocol §9.1-i), or every leaf through the rules with `full_check`."""

    @contextmanager
    def opened() -> Iterator[OpenedLog]:
        data = open_data_dir(path)
        signer = data.signer()
        witnesses = load_witness_config(path)
        with Store.open(data.database_url(env), writable=True) as store:
            sequencer = Sequencer.open(store, signer, clock, full_check=full_check, snapshot_every=snapshot_every)
            if not witnesses.witnesses:
                yield OpenedLog(store, sequencer)
                return
            # protocol §6.3-b: checkpoints are published once the witnesses' quorum cosigned them.
            publisher = Publisher(sequencer.verifier, witnesses, sequencer.consistency_proof, directory=path)
            try:
                publisher.restore(lambda size: _stored_root(sequencer, size))
                publisher.start_retries(lambda: sequencer.latest_checkpoint)
                yield OpenedLog(store, sequencer, publisher)
            finally:
                publisher.close()

    return opened


def _stored_root(sequencer: Sequencer, size: int) -> bytes | None:
    """The root hash of the checkpoint the log stored for `size`, or None."""
    note = sequencer.checkpoint(size)
    if note is None:
        return None
    try:
        cp, _ = open_checkpoint(note, sequencer.verifier)
    except CryptoError:
        return None
    return cp.root_hash


# --- request helpers ------------------------------------------------------------------------------------


def _json(model: BaseModel, status: int = 200, *, exclude_none: bool = False) -> Response:
    return Response(model.model_dump_json(exclude_none=exclude_none), status_code=status, media_type=_JSON)


def _too_large(limit: int) -> ApiError:
    return ApiError(Rejection(ErrorCode.TOO_LARGE, f"a request body must be at most {limit} bytes", "9.1-c"))


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing it as soon as it is over `limit` bytes ([9.1-c])."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    # protocol §9.1-c: counted while reading, whatever Content-Length says; a chunked body is read
    # no further than one chunk past the limit.
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


_ENTRY_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "description": "the entry's canonical bytes (protocol §4.2): a statement file's content",
        "content": {
            _JSON: {
                "schema": {
                    "type": "object",
                    "required": ["signatures", "statement"],
                    "properties": {
                        "signatures": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["key", "sig"],
                                "properties": {"key": {"type": "string"}, "sig": {"type": "string"}},
                            },
                        },
                        "statement": {"type": "object"},
                    },
                }
            }
        },
    }
}


class _StartupFailureMessage:
    """What the server prints when the log cannot be opened: `error: CODE: MESSAGE`, not a traceback.

    uvicorn prints the message of a failed lifespan startup, which Starlette fills with the traceback of
    the exception. A log that cannot be opened (a database that is not durable, a store that disagrees
    with its checkpoints, a wrong key: `unavailable`, `audit_mismatch`, ...) is the operator's to fix,
    not a bug: its code and sentence say what is wrong (they carry no personal data, §10). Any other
    exception keeps its traceback. The process still exits with uvicorn's startup-failure status, 3.
    """

    def __init__(self, app: ASGIApp, failures: list[Rejection]) -> None:
        self.app = app
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_startup_failure(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and self.failures:
                failure = self.failures[-1]
                message = {"type": message["type"], "message": f"error: {failure.code}: {failure.message}"}
            await send(message)

        await self.app(scope, receive, send_startup_failure)


def _openapi_without_default_422(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI documents a 422 for every operation with parameters; ours answer 400 instead ([9.1-b])."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.get("responses", {})
                if "HTTPValidationError" in str(responses.get("422", "")):
                    del responses["422"]
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
        return schema

    return openapi


# --- the app ----------------------------------------------------------------------------------------------


def create_app(source: Path | LogSource, settings: Settings | None = None) -> FastAPI:
    """Build the API over a log.

    Args:
        source: a data directory (its database chosen by config.json, then `DATABASE_URL`, then the
            SQLite default) or a `LogSource`. The log is opened when the app starts (its lifespan),
            replayed and checked by `Sequencer.open`, and closed when it stops.
        settings: batch window and limits; the defaults of protocol §9.

    Returns:
        The app. Until its lifespan has started every operation answers 503 `unavailable`.
    """
    settings = settings or Settings()
    opener = data_dir_source(source, os.environ) if isinstance(source, Path) else source
    runtime = Runtime()

    startup_failures: list[Rejection] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            try:
                log = stack.enter_context(opener())
            except RegistryError as exc:
                startup_failures.append(exc.rejection)  # printed alone by _StartupFailureMessage
                raise
            batcher = Batcher(
                log.sequencer,
                batch_ms=settings.batch_ms,
                max_batch=settings.max_batch,
                max_pending=settings.max_pending,
                publisher=log.publisher,
            )
            batcher.start()
            runtime.attach(log, batcher)
            if settings.freeze_heap:
                # The loaded log's state is hundreds of thousands of objects that live as long as the
                # process. Left to the cyclic collector, every full collection traverses them all and
                # answers nothing meanwhile: under the flood of scripts/flood.py, 40-80 ms pauses, which
                # were the reads' p99 (65 ms against 4 ms unloaded; 7 ms once frozen). Objects made
                # later are collected as usual.
                gc.collect()
                gc.freeze()
            _log.info(
                "serving the log %s at tree size %d (the rules were run from leaf %d at start)",
                log.sequencer.origin,
                log.sequencer.size,
                log.sequencer.replayed_from,
            )
            try:
                yield
            finally:
                await batcher.close()
                runtime.detach()

    app = FastAPI(
        title="Anti-war membership registry",
        version=PROTOCOL_VERSION,
        description="The REST API of protocol §9. Errors are {code, message, section}; codes in §10.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=NO_TELEMETRY,  # protocol §9.1-g: no request records leave the server (api.telemetry)
    )
    install_error_handlers(app)
    app.add_middleware(_StartupFailureMessage, failures=startup_failures)
    app.openapi = _openapi_without_default_422(app)  # type: ignore[method-assign]

    @app.post(
        "/v1/entries",
        status_code=201,
        response_model=ReceiptBody,
        responses={
            201: {"description": "sequenced and committed under a signed checkpoint"},
            **openapi_errors(400, 403, 404, 409, 413, 422, 429, 503),
        },
        openapi_extra=_ENTRY_BODY,
        summary="Submit a signed statement",
    )
    async def submit_entry(request: Request) -> Response:
        """The answer comes once the statement is durably sequenced under a signed checkpoint ([9.2-a])."""
        body = await _read_body(request, settings.max_body)
        result = await runtime.batcher.submit(body)
        if isinstance(result, Rejection):  # protocol §9.2-c: refused, nothing written
            return error_response(result)
        return _json(_receipt(result), 201)

    @app.post(
        "/v1/validate",
        response_model=ValidateBody,
        responses={
            200: {"description": '{"ok": true}, or {"ok": false, "code", "message", "section"}'},
            **openapi_errors(413, 503),
        },
        openapi_extra=_ENTRY_BODY,
        summary="Dry run: would this statement be accepted now?",
    )
    async def validate_entry(request: Request) -> Response:
        body = await _read_body(request, settings.max_body)
        sequencer = runtime.sequencer
        rejection = await asyncio.to_thread(sequencer.validate, body)  # protocol §9.2-e: writes nothing
        if rejection is None:
            return _json(ValidateBody(ok=True), exclude_none=True)
        verdict = ValidateBody(ok=False, code=str(rejection.code), message=rejection.message, section=rejection.section)
        return _json(verdict)

    @app.get(
        "/v1/members/{member_id}",
        response_model=MemberBody,
        responses=openapi_errors(400, 404, 503),
        summary="A member's status, vouch count and history",
    )
    async def get_member(
        member_id: str = PathParam(
            pattern=r"^[0-9a-f]{64}$", description="member id, or a current or retired key: 64 lowercase hex"
        ),
    ) -> Response:
        state = runtime.sequencer.state  # one snapshot, read without a lock
        member = None if state is None else state.resolve(bytes.fromhex(member_id))
        if state is None or member is None:
            raise RegistryError(Rejection(ErrorCode.UNKNOWN_MEMBER, "no member has this id or key in the log", "7.3-e"))
        return _json(member_body(state.view(member), state.size))

    @app.get(
        "/v1/policy",
        response_model=PolicyBody,
        responses=openapi_errors(404, 503),
        summary="The policy in force and its declaration texts",
    )
    async def get_policy() -> Response:
        state = runtime.sequencer.state
        if state is None:
            raise RegistryError(Rejection(ErrorCode.NOT_FOUND, "the log has no policy yet", "9.3-b"))
        return _json(policy_body(state.policy, state.size))

    @app.get(
        "/v1/proof/inclusion",
        response_model=InclusionProofBody,
        responses=openapi_errors(400, 404, 503),
        summary="RFC 6962 inclusion proof of an index in a tree size",
    )
    def get_inclusion_proof(index: int = Query(ge=0, le=_MAX_INT), size: int = Query(ge=0, le=_MAX_INT)) -> Response:
        if index >= size:  # protocol §9.3-c
            raise RegistryError(Rejection(ErrorCode.MALFORMED_ENCODING, "index must be below size", "9.3-c"))
        proof = runtime.sequencer.inclusion_proof(index, size)  # not_found beyond the tree size
        return _json(InclusionProofBody(index=index, tree_size=size, inclusion_proof=[h.hex() for h in proof]))

    @app.get(
        "/v1/proof/consistency",
        response_model=ConsistencyProofBody,
        responses=openapi_errors(400, 404, 503),
        summary="RFC 6962 consistency proof between two tree sizes",
    )
    def get_consistency_proof(old: int = Query(ge=0, le=_MAX_INT), new: int = Query(ge=0, le=_MAX_INT)) -> Response:
        if old > new:  # protocol §9.3-d
            raise RegistryError(Rejection(ErrorCode.MALFORMED_ENCODING, "old must not be above new", "9.3-d"))
        proof = runtime.sequencer.consistency_proof(old, new)  # not_found beyond the tree size
        return _json(ConsistencyProofBody(old=old, new=new, consistency_proof=[h.hex() for h in proof]))

    @app.get(
        "/v1/credential/{member_id}",
        response_model=CredentialBody,
        responses=openapi_errors(400, 404, 503),
        summary="A member's credential (c2sp.org/tlog-proof text form) for offline verification",
    )
    def get_credential(
        member_id: str = PathParam(
            pattern=r"^[0-9a-f]{64}$", description="member id, or a current or retired key: 64 lowercase hex"
        ),
    ) -> Response:
        log = runtime.log
        note = None
        if log.publisher is not None and log.publisher.witnessed:
            # protocol §6.3-b: a credential carries the published checkpoint, with its cosignatures.
            note = log.published_checkpoint
            if note is None:
                message = "no checkpoint of this log has reached its witnesses' quorum yet"
                raise RegistryError(Rejection(ErrorCode.WITNESS_QUORUM_UNAVAILABLE, message, "6.3-b"))
        credential = log.sequencer.credential(bytes.fromhex(member_id), note)  # one snapshot ([9.7-i])
        body = CredentialBody(
            member=credential.member_id.hex(),
            status=str(credential.leaf.status),
            tree_size=credential.checkpoint.size,
            credential=format_credential_text(credential).decode("utf-8"),
        )
        return _json(body)

    @app.get(
        "/v1/trust",
        response_model=TrustBody,
        responses=openapi_errors(503),
        summary="The trust policy this registry publishes (c2sp.org/tlog-policy lines, §9.7-b)",
    )
    async def get_trust() -> Response:
        log = runtime.log
        sequencer = log.sequencer
        policy = TrustPolicy(origin=sequencer.origin, log=sequencer.verifier)
        if log.publisher is not None:  # protocol §6.3-e: the witnesses and the quorum it publishes with
            policy = trust_policy(log.publisher.config, sequencer.verifier.vkey)
        return _json(TrustBody(policy=format_trust_policy(policy)))

    @app.get("/healthz", response_model=HealthBody, responses=openapi_errors(503), summary="Liveness")
    async def healthz() -> Response:
        if not runtime.batcher.running:
            raise RegistryError(Rejection(ErrorCode.UNAVAILABLE, "the server is not sequencing statements", "9.3-e"))
        return _json(HealthBody(status="ok", tree_size=runtime.sequencer.size))

    app.include_router(tiles_router(runtime))
    return app


def _receipt(result: Sequenced) -> ReceiptBody:
    return receipt_body(result.receipt, result.logged_ms, result.tree_size)


def app_from_env() -> FastAPI:
    """The app of `registry serve`: the data directory in `REGISTRY_SERVE_DATA`, the batch window in
    `REGISTRY_SERVE_BATCH_MS`, `REGISTRY_SERVE_FULL_CHECK=1` for a start that runs every leaf through the
    rules. Also sends this package's log lines (no request data) to stderr.

    Raises:
        RegistryError (`malformed_encoding`): the variables are missing or malformed.
    """
    data = os.environ.get(DATA_ENV, "")
    batch_ms = os.environ.get(BATCH_MS_ENV, str(DEFAULT_BATCH_MS))
    if not data or not batch_ms.isdigit():
        message = f"{DATA_ENV} must name a data directory and {BATCH_MS_ENV} be a number of milliseconds"
        raise RegistryError(Rejection(ErrorCode.MALFORMED_ENCODING, message, ""))
    if not _log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(name)s: %(message)s"))
        _log.addHandler(handler)
        _log.setLevel(logging.INFO)
    full_check = os.environ.get(FULL_CHECK_ENV, "") == "1"
    every = os.environ.get(SNAPSHOT_EVERY_ENV, "")
    snapshot_every = int(every) if every.isdigit() and int(every) > 0 else None
    settings = Settings(batch_ms=int(batch_ms), freeze_heap=True)
    source = data_dir_source(Path(data), os.environ, full_check=full_check, snapshot_every=snapshot_every)
    return create_app(source, settings)
