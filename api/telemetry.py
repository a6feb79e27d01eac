"""FastAPI's built-in OpenTelemetry, switched off for every app of this package (protocol §9.1-g).

FastAPI records a span, metrics and log records for each request as soon as an OpenTelemetry provider
is configured in the process, or when `FASTAPI_OTEL_AUTO_CONFIGURE=true` makes it add exporters from
the environment: the request path and query, the method, the status, validation failures with their
input, trace context taken from the client's headers. A hosting platform or an operator's monitoring
setup can configure a provider without anyone reading this code, and the records would then leave the
server for a collector: exactly the request lines §9.1-g forbids the server to keep. So every app built
here passes `NO_TELEMETRY`, and no environment variable can turn it back on.

Deliberately not here: the server's own log lines (no request data; `api.app`), uvicorn's access log
(off in `registry serve`).
"""

from __future__ import annotations

from typing import Final

from fastapi.telemetry import TelemetryConfig

__all__ = ["NO_TELEMETRY"]

NO_TELEMETRY: Final[TelemetryConfig] = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}
"""The `telemetry` argument of every `FastAPI(...)` in this package."""
