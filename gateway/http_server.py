"""The gateway's HTTP server: aiohttp's, with two edges aiohttp leaves open closed.

* **Parser errors are problems.** A request aiohttp cannot parse (a header over its
  limit, a malformed request line, a lying ``Content-Length``) is answered by aiohttp
  itself, before any middleware, as ``text/plain`` quoting the parser's message. Here it is
  an RFC 9457 problem (``MALFORMED_HTTP``) that quotes nothing, and the connection closes.
* **Slow clients are cut.** A connection that has not delivered a complete request head
  within ``header_timeout_s`` of opening is closed (aiohttp waits for its keep-alive timeout,
  75 s by default, and 200 trickling connections held a worker's sockets for good). Bodies
  are bounded where they are read (``read_body``).

``gateway_runner(app, ...)`` is an ``AppRunner`` whose connections use this handler.
aiohttp offers no public hook for the handler class, so the runner swaps the class of the
server it builds for a subclass that makes ours; ``tests/integration/gateway`` drives it
over raw sockets.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from gateway.errors import InvalidRequestError
from gateway.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE

__all__ = ["DEFAULT_BODY_TIMEOUT_S", "DEFAULT_HEADER_TIMEOUT_S", "gateway_runner", "read_body"]

DEFAULT_HEADER_TIMEOUT_S: Final = 10.0
DEFAULT_BODY_TIMEOUT_S: Final = 10.0


class _ProblemRequestHandler(RequestHandler):
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        asyncio.get_running_loop().call_later(self.header_timeout_s, self._cut_if_silent)

    def _cut_if_silent(self) -> None:
        # No request head parsed yet (aiohttp counts a request once its head is complete).
        if self._request_count == 0 and self.transport is not None:
            self.transport.close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        self.log_exception("Error handling request", exc_info=exc)  # ParserLogFilter'd
        if request.writer.output_size > 0:
            raise ConnectionError("the response was already started")
        phrase = HTTPStatus(status).phrase
        code = "MALFORMED_HTTP" if status < 500 else "GATEWAY_ERROR"
        body = {
            "type": PROBLEM_TYPE_BASE + code.lower().replace("_", "-"),
            "title": phrase,
            "status": status,
            "code": code,
            "detail": "the HTTP request could not be read" if status < 500 else "internal error",
        }
        response = web.Response(
            status=status, text=json.dumps(body), content_type=PROBLEM_CONTENT_TYPE
        )
        response.force_close()
        return response


def _server_making(handler_class: type[RequestHandler]) -> type[Server]:
    class _Server(Server):
        def __call__(self) -> RequestHandler:
            return handler_class(self, loop=self._loop, **self._kwargs)

    return _Server


class _GatewayRunner(web.AppRunner):
    def __init__(self, app: web.Application, *, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._handler_class = type(
            "GatewayRequestHandler",
            (_ProblemRequestHandler,),
            {"header_timeout_s": header_timeout_s},
        )

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _server_making(self._handler_class)
        return server


def gateway_runner(
    app: web.Application, *, header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S, **kwargs: Any
) -> web.AppRunner:
    """An ``AppRunner`` for the gateway (problem-shaped parser errors, slow heads cut)."""
    return _GatewayRunner(app, header_timeout_s=header_timeout_s, **kwargs)


async def read_body(request: web.Request, timeout_s: float = DEFAULT_BODY_TIMEOUT_S) -> bytes:
    """The request body, or a 400 when it does not arrive within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        raise InvalidRequestError(
            f"the request body did not arrive within {timeout_s:g} s"
        ) from None
