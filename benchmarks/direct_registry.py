"""The legacy registry's own HTTP endpoint, answering from memory: life without the bus.

``POST /residence`` with ``{"document_type": ..., "document_number": ...}`` answers the
registry row as JSON (404 when unknown, 400 on a body that is not such an object). This
is what a back-office calls when it talks to one registry directly: no authentication,
no consent, no audit, no Kafka. The ratio end-to-end / direct is the price of the bus.
"""

from __future__ import annotations

import json

from aiohttp import web

from benchmarks.registry_data import lookup_json

__all__ = ["RESIDENCE_PATH", "registry_app"]

RESIDENCE_PATH = "/residence"


async def _residence(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.read())
    except ValueError:
        return web.json_response({"error": "the body is not JSON"}, status=400)
    number = body.get("document_number") if isinstance(body, dict) else None
    if not isinstance(number, str):
        return web.json_response({"error": "document_number (a string) is required"}, status=400)
    row = lookup_json(number)
    if row is None:
        return web.json_response({"error": "not registered"}, status=404)
    return web.json_response({"found": True, "data": row})


def registry_app() -> web.Application:
    """The registry's aiohttp application."""
    app = web.Application()
    app.router.add_post(RESIDENCE_PATH, _residence)
    return app
