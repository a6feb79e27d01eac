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

_STATUS_BY_VALUE: Final[Mapping[str, int]] = MappingProxyType(
    {
        # malformed: the request cannot be read (400)
        "malformed_encoding": 400,
        "malformed_entry": 400,
        "bad_key": 400,
        "bad_reason": 400,
        # too large (413)
        "too_large": 413,
        # bad signature (403)
        "bad_signature": 403,
        # unknown (404)
        "unknown_member": 404,
        "not_found": 404,
        # duplicate or conflict with the log (409)
        "duplicate_entry": 409,
        "already_member": 409,
        "already_vouched": 409,
        # a broken rule, or a proof or credential that does not check out (422)
        "bad_proof": 422,
        "wrong_origin": 422,
        "insufficient_signatures": 422,
        "unexpected_signature": 422,
        "bad_time": 422,
        "not_genesis": 422,
        "unknown_declaration": 422,
        "sponsor_required": 422,
        "self_vouch": 422,
        "voucher_not_verified": 422,
        "voucher_too_new": 422,
        "voucher_suspended": 422,
        "quota_exceeded": 422,
        "too_many_pending": 422,
        "no_such_vouch": 422,
        "commitment_mismatch": 422,
        "member_revoked": 422,
        "not_revoked_by_council": 422,
        "key_retired": 422,
        "bad_policy": 422,
        # offline credential verification (§8.1); the server never answers these, but the table is total
        "stale_credential": 422,
        "wrong_challenge": 422,
        "not_verified": 422,
        "attribute_mismatch": 422,
        "undisclosed_attribute": 422,
        # rate limited by the flood limits of §7.8 (429)
        "rate_limited": 429,
        # the sequencer cannot take the statement now (503)
        "unavailable": 503,
        # committed, but fewer witnesses than the quorum cosigned its checkpoint (503, §6.3-c)
        "witness_quorum_unavailable": 503,
        # anything else (500, generic body)
        "audit_mismatch": 500,
        "internal": 500,
    }
)
# Keyed by the codes' wire values (which never change, STYLE §4); a test checks the table is total.
STATUS: Final[Mapping[ErrorCode, int]] = MappingProxyType(
    {code: _STATUS_BY_VALUE[code.value] for code in ErrorCode if code.value in _STATUS_BY_VALUE}
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
        503: "the sequencer cannot take the statement now, or its witnesses' quorum was not reached (Retry-After)",
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
