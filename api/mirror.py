"""The HTTP face of a mirror: `GET /checkpoint` and `GET /tile/...` served read-only from a mirror
directory, at the same C2SP tlog-tiles paths as the log's own server (protocol §6.5-c, §9.4).

Only the checkpoint and canonical tile paths are answered (`registry.mirror.read_mirror_file`); every
other path is 404. Full tiles and bundles carry an immutable cache header, the checkpoint and partial
tiles a short one, as the log's server does. Nothing is written: `registry mirror` updates the
directory, and its checkpoint is replaced atomically after the files it needs.

Started by `registry serve-mirror DIR` through its import path (`api.mirror:app_from_env`). No access
log, no client address anywhere (protocol §9.1-g).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import Response

from registry.errors import ErrorCode, RegistryError, Rejection
from registry.mirror import is_full_path, read_mirror_file

from .telemetry import NO_TELEMETRY

__all__ = ["MIRROR_DIR_ENV", "app_from_env", "create_mirror_app"]

MIRROR_DIR_ENV: Final = "REGISTRY_MIRROR_DIR"
_FULL_CACHE: Final = "public, max-age=31536000, immutable"
_SHORT_CACHE: Final = "public, max-age=2"


def _not_found() -> Response:
    body = {"code": "not_found", "message": "the mirror has no such file", "section": "6.5-c"}
    return Response(json.dumps(body, separators=(",", ":")), status_code=404, media_type="application/json")


def create_mirror_app(directory: Path) -> FastAPI:
    """The read-only app over a mirror directory."""
    app = FastAPI(
        title="antiwar-registry mirror", openapi_url=None, docs_url=None, redoc_url=None, telemetry=NO_TELEMETRY
    )

    @app.get("/checkpoint")
    def checkpoint() -> Response:
        data = read_mirror_file(directory, "checkpoint")
        if data is None:
            return _not_found()
        return Response(data, media_type="text/plain; charset=utf-8", headers={"Cache-Control": _SHORT_CACHE})

    @app.get("/tile/{tile_path:path}")
    def tile(tile_path: str) -> Response:
        relative = f"tile/{tile_path}"
        data = read_mirror_file(directory, relative)
        if data is None:
            return _not_found()
        cache = _FULL_CACHE if is_full_path(relative) else _SHORT_CACHE
        return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", media_type="text/plain; charset=utf-8")

    return app


def app_from_env() -> FastAPI:
    """The app of `registry serve-mirror`: the directory in `REGISTRY_MIRROR_DIR`.

    Raises:
        RegistryError (`malformed_encoding`): the variable is missing.
    """
    directory = os.environ.get(MIRROR_DIR_ENV, "")
    if not directory:
        raise RegistryError(Rejection(ErrorCode.MALFORMED_ENCODING, f"{MIRROR_DIR_ENV} must name a mirror", "6.5-c"))
    return create_mirror_app(Path(directory))
