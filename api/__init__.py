"""The registry's REST API: a FastAPI app over one log (protocol §9, §10).

`api.app.create_app` builds the app; `api.app.app_from_env` is the factory `registry serve` starts by
its import path. Nothing in `crypto`, `registry` or `scripts` imports this package (STYLE §1): clients
reach it over HTTP only.
"""

from __future__ import annotations

from .app import LogSource, Settings, app_from_env, create_app
from .errors import STATUS
from .runtime import OpenedLog

__all__ = ["STATUS", "LogSource", "OpenedLog", "Settings", "app_from_env", "create_app"]
