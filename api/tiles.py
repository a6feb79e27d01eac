"""The log for mirrors: `/checkpoint`, hash tiles and entry bundles in the C2SP tlog-tiles layout
(protocol §9.4, §5.3; c2sp.org/tlog-tiles v0.1.0).

Every answer is computed from one snapshot of the sequencer's tree size, so a tile and the checkpoint
a client read before it always agree. Paths are parsed by `crypto.tiles.parse_tile_path`, tiles made by
`crypto.tiles.hash_tile` over the store's nodes, bundles by `crypto.tiles.format_entry_bundle` over the
stored leaf bytes.

Deliberately not here: compression (a reverse proxy or CDN gzips bundles), pruning.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import Response

from crypto.errors import MalformedEncoding
from crypto.tiles import TILE_HEIGHT, TILE_WIDTH, format_entry_bundle, hash_tile, parse_tile_path
from registry.errors import ErrorCode, RegistryError, Rejection

from .errors import openapi_errors
from .runtime import Runtime

__all__ = ["FULL_CACHE", "SHORT_CACHE", "available_width", "tiles_router"]

FULL_CACHE: Final = "public, max-age=31536000, immutable"
"""Cache-Control of a full tile or bundle: it never changes ([9.4-d])."""
SHORT_CACHE: Final = "public, max-age=2"
"""Cache-Control of the checkpoint and of partial tiles ([9.4-a], [9.4-d])."""

_OCTETS: Final = "application/octet-stream"
_TEXT: Final = "text/plain; charset=utf-8"


def available_width(level: int, index: int, tree_size: int) -> int:
    """How many hashes of tile (level, index) exist in the tree of `tree_size` leaves (0 to 256)."""
    nodes = tree_size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, nodes - index * TILE_WIDTH))


def _not_found(message: str, section: str) -> RegistryError:
    return RegistryError(Rejection(ErrorCode.NOT_FOUND, message, section))


def tiles_router(runtime: Runtime) -> APIRouter:
    """The routes of §9.4 over `runtime`'s log."""
    router = APIRouter(tags=["tiles"])

    @router.get(
        "/checkpoint",
        response_class=Response,
        responses={
            200: {"description": "the latest signed checkpoint note",
                  "content": {_TEXT: {"schema": {"type": "string"}}}},
            **openapi_errors(404, 503),
        },
        summary="The latest published checkpoint (c2sp.org/tlog-tiles), cosigned when the log has witnesses",
    )
    async def get_checkpoint() -> Response:
        log = runtime.log
        note = log.published_checkpoint
        if note is None:
            if log.publisher is not None and log.publisher.witnessed and log.sequencer.latest_checkpoint:
                # protocol §6.3-b: a checkpoint is public only once its witnesses' quorum cosigned it.
                message = "no checkpoint of this log has reached its witnesses' quorum yet"
                raise RegistryError(Rejection(ErrorCode.WITNESS_QUORUM_UNAVAILABLE, message, "6.3-b"))
            raise _not_found("the log has no checkpoint yet", "9.4-a")
        # protocol §9.4-a: the note byte for byte as signed, cached for seconds only.
        return Response(note, media_type=_TEXT, headers={"Cache-Control": SHORT_CACHE})

    @router.get(
        "/tile/{tile_path:path}",
        response_class=Response,
        responses={
            200: {
                "description": "a hash tile (tile/<L>/<N>[.p/<W>]) or an entry bundle (tile/entries/<N>[.p/<W>])",
                "content": {_OCTETS: {"schema": {"type": "string", "format": "binary"}}},
            },
            **openapi_errors(400, 404, 503),
        },
        summary="A hash tile or an entry bundle (c2sp.org/tlog-tiles)",
    )
    def get_tile(
        tile_path: str = PathParam(description="<L>/<N>[.p/<W>] or entries/<N>[.p/<W>], N as x001/x234/067"),
    ) -> Response:
        # A plain `def`: FastAPI runs it in its thread pool, so the database reads below never block
        # the event loop.
        try:
            level, index, width, is_entries = parse_tile_path(f"tile/{tile_path}")
        except MalformedEncoding as exc:  # protocol §9.4-b, §5.3-b
            raise RegistryError(Rejection(ErrorCode.MALFORMED_ENCODING, exc.message, "5.3-b")) from None
        log = runtime.log
        size = log.sequencer.size  # one snapshot: the tile is answered as of this tree size
        if width > available_width(level, index, size):
            what = "entry bundle" if is_entries else "tile"
            raise _not_found(f"the {what} does not exist at the latest tree size {size}", "9.4-b")
        if is_entries:
            start = index * TILE_WIDTH
            body = format_entry_bundle(log.sequencer.leaves(start, start + width))  # protocol §9.4-c
        else:
            # The tile as it stood when the tree had exactly its `width` hashes: the first `width`
            # hashes of the tile now, which never change.
            body = hash_tile(log.store.nodes, level, index, (index * TILE_WIDTH + width) << (TILE_HEIGHT * level))
        cache = FULL_CACHE if width == TILE_WIDTH else SHORT_CACHE  # protocol §9.4-d
        return Response(body, media_type=_OCTETS, headers={"Cache-Control": cache})

    return router
