"""The connector's ops endpoints: ``/healthz``, ``/readyz`` and ``/metrics``.

``/healthz`` answers 200 while the process serves at all (a liveness probe restarts it
otherwise). ``/readyz`` answers 200 only when the runtime says it is ready (started,
reply store answering) and 503 with the reason otherwise. ``/metrics`` is the
Prometheus text format of the connector's registry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["HealthServer", "Readiness"]

Readiness = Callable[[], Awaitable[str | None]]
"""Returns None when ready, else why not (no personal data: it is served)."""


class HealthServer:
    """A small aiohttp server on its own port."""

    def __init__(
        self, *, host: str, port: int, registry: CollectorRegistry, readiness: Readiness
    ) -> None:
        self._host = host
        self._port = port
        self._registry = registry
        self._readiness = readiness
        self._runner: web.AppRunner | None = None
        self.port = port

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        sockets = [s for s in (runner.addresses or [])]
        if sockets and isinstance(sockets[0], tuple):
            self.port = int(sockets[0][1])  # the real port when 0 was asked

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        reason = await self._readiness()
        if reason is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "reason": reason}, status=503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        response = web.Response(body=body)
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response
