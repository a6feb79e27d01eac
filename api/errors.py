"""The one table from error code to HTTP status, and the error responses of the API (protocol §9.1, §10).

Every error the API returns goes through `error_response`: the body is `{"code", "message", "section"}`
([9.1-a]), the status is `STATUS[code]`, a 429 or 503 carries `Retry-After` ([9.1-e]), and anything
mapped to 500 gets one generic body so that no internal detail reaches a client ([9.1-f]).

Deliberately not here: deciding whether something is an error (the core and the routes do that).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry.errors import ErrorCode, RegistryError, Rejection

__all__ = [
    "GENERIC_INTERNAL",
    "RETRY_AFTER_SECONDS",
    "STATUS",
    "ApiError",
    "codes_for",
    "error_body",
    "error_response",
    "install_error_handlers",
    "openapi_errors",
    "status_for",
]

_log = logging.getLogger("api")

E = ErrorCode
STATUS: Final[Mapping[ErrorCode, int]] = MappingProxyType(
    {
        # malformed: the request cannot be read (400)
        E.MALFORMED_ENCODING: 400,
        E.MALFORMED_ENTRY: 400,
        E.BAD_KEY: 400,
        E.BAD_REASON: 400,
        # too large (413)
        E.TOO_LARGE: 413,
        # bad signature (403)
        E.BAD_SIGNATURE: 403,
        # unknown (404)
        E.UNKNOWN_MEMBER: 404,
        E.NOT_FOUND: 404,
        # duplicate or conflict with the log (409)
        E.DUPLICATE_ENTRY: 409,
        E.ALREADY_MEMBER: 409,
        E.ALREADY_VOUCHED: 409,
        # a broken rule (422)
        E.BAD_PROOF: 422,
        E.WRONG_ORIGIN: 422,
        E.INSUFFICIENT_SIGNATURES: 422,
        E.UNEXPECTED_SIGNATURE: 422,
        E.BAD_TIME: 422,
        E.NOT_GENESIS: 422,
        E.UNKNOWN_DECLARATION: 422,
        E.SPONSOR_REQUIRED: 422,
        E.SELF_VOUCH: 422,
        E.VOUCHER_NOT_VERIFIED: 422,
        E.VOUCHER_TOO_NEW: 422,
        E.VOUCHER_SUSPENDED: 422,
        E.QUOTA_EXCEEDED: 422,
        E.TOO_MANY_PENDING: 422,
        E.NO_SUCH_VOUCH: 422,
        E.COMMITMENT_MISMATCH: 422,
        E.MEMBER_REVOKED: 422,
        E.NOT_REVOKED_BY_COUNCIL: 422,
        E.KEY_RETIRED: 422,
        E.BAD_POLICY: 422,
        # rate limited by the flood limits of §7.8 (429)
        E.RATE_LIMITED: 429,
        # the sequencer cannot take the statement now (503)
        E.UNAVAILABLE: 503,
        # anything else (500, generic body)
        E.AUDIT_MISMATCH: 500,
        E.INTERNAL: 500,
    }
)
"""Code -> HTTP status (protocol §10). The only such table: routes never choose a status for an error."""

RETRY_AFTER_SECONDS: Final[Mapping[int, int]] = MappingProxyType({429: 60, 503: 1})
"""The `Retry-After` hint per status ([9.1-e])."""

GENERIC_INTERNAL: Final = Rejection(ErrorCode.INTERNAL, "internal error", "")
"""The only body of a 500 ([9.1-f])."""

_JSON: Final = "application/json"


class ApiError(Exception):
    """An error the API answers with; carries the `Rejection` and, optionally, an explicit status.

    `status` is None except for the few HTTP-level answers that have no code of their own (405).
    """

    def __init__(self, rejection: Rejection, *, status: int | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(f"{rejection.code}: {rejection.message}")
        self.rejection: Final = rejection
        self.status: Final = status
        self.headers: Final = dict(headers or {})


def status_for(code: ErrorCode) -> int:
    """The HTTP status of `code`; 500 for a code missing from the table (a test keeps it total)."""
    return STATUS.get(code, 500)


def codes_for(status: int) -> list[str]:
    """The codes a body of `status` can carry, sorted (for the OpenAPI description)."""
    if status == 500:
        return [str(ErrorCode.INTERNAL)]
    return sorted(str(code) for code, s in STATUS.items() if s == status)


def error_body(rejection: Rejection) -> bytes:
    """The JSON error body {"code", "message", "section"} (compact, keys in this order)."""
    return json.dumps(
        {"code": str(rejection.code), "message": rejection.message, "section": rejection.section},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def error_response(
    rejection: Rejection, *, status: int | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """The response for `rejection`: status from the table, Retry-After on 429/503, generic 500 body."""
    code_status = status if status is not None else status_for(rejection.code)
    if code_status >= 500 and code_status != 503:
        rejection = GENERIC_INTERNAL  # protocol §9.1-f: no internal detail in a 500
    all_headers = dict(headers or {})
    retry = RETRY_AFTER_SECONDS.get(code_status)
    if retry is not None:
        all_headers.setdefault("Retry-After", str(retry))
    return Response(error_body(rejection), status_code=code_status, headers=all_headers, media_type=_JSON)


def _error_schema(codes: Iterable[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["code", "message", "section"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string", "enum": list(codes)},
            "message": {"type": "string"},
            "section": {"type": "string"},
        },
    }


_STATUS_TEXT: Final[Mapping[int, str]] = MappingProxyType(
    {
        400: "malformed request or statement",
        403: "a signature does not verify",
        404: "unknown member or object",
        409: "conflicts with the log (duplicate)",
        413: "request body over 65,536 bytes",
        422: "a membership rule is broken",
        429: "rate limited by the flood limits (Retry-After)",
        500: "internal error (generic body)",
        503: "the sequencer cannot take the statement now (Retry-After)",
    }
)


def openapi_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for the given error statuses, each with the codes it can carry (§10).

    500 is always added: any operation can fail internally.
    """
    result: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 500}):
        codes = codes_for(status)
        entry: dict[str, Any] = {
            "description": f"{_STATUS_TEXT[status]}; code: {', '.join(codes)}",
            "content": {_JSON: {"schema": _error_schema(codes)}},
        }
        if status in RETRY_AFTER_SECONDS:
            entry["headers"] = {
                "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
            }
        result[status] = entry
    return result


async def _registry_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return error_response(exc.rejection, status=exc.status, headers=exc.headers)
    if isinstance(exc, RegistryError):
        if status_for(exc.code) == 500:
            _log.error("internal error: %s", exc.code)
        return error_response(exc.rejection)
    return await _internal(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    # protocol §9.1-b: a request we cannot read is 400 malformed_encoding, never FastAPI's 422.
    where = "a parameter"
    if isinstance(exc, RequestValidationError) and exc.errors():
        loc = exc.errors()[0].get("loc", ())
        if len(loc) >= 2 and isinstance(loc[-1], str):
            where = f"parameter {loc[-1]!r}"
    return error_response(Rejection(ErrorCode.MALFORMED_ENCODING, f"{where} is missing or not valid", "9.1-b"))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    if status == 404:
        return error_response(Rejection(ErrorCode.NOT_FOUND, "no such path", "9.1-a"))
    if status == 405:
        headers = dict(exc.headers or {}) if isinstance(exc, StarletteHTTPException) else {}
        rejection = Rejection(ErrorCode.MALFORMED_ENCODING, "this path does not support the method", "9.1-a")
        return error_response(rejection, status=405, headers=headers)
    if 400 <= status < 500:
        return error_response(Rejection(ErrorCode.MALFORMED_ENCODING, "the request is not valid", "9.1-b"))
    return await _internal(request, exc)


async def _internal(request: Request, exc: Exception) -> Response:
    # The traceback goes to the operator's log; it names no client (protocol §9.1-g) and the client
    # gets the generic body only (§9.1-f).
    _log.error("internal error: %s", type(exc).__name__, exc_info=exc)
    return error_response(GENERIC_INTERNAL)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error of `app` through `error_response`."""
    app.add_exception_handler(RegistryError, _registry_error)
    app.add_exception_handler(ApiError, _registry_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal)
