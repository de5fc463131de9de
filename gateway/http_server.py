"""The gateway's HTTP server: aiohttp's, with two edges aiohttp leaves open closed.

* **Parser errors are problems.** A request aiohttp cannot parse (a header over its
  limit, a malformed request line, a lying ``Content-Length``) is answered by aiohttp
  itself, before any middleware, as ``text/plain`` quoting the parser's message. Here it is
  an RFC 9457 problem (``MALFORMED_HTTP``) that quotes nothing, and the connection closes.
* **Slow clients are cut.** A connection that has not delivered a complete request head
  within ``header_timeout_s`` of opening is closed (aiohttp waits for its keep-alive timeout,
  75 s by default, and 200 trickling connections held a worker's sockets for good). Bodies
  are bounded where they are read (``read_body``, ``reading_body``), and a body that
  fails to decode or a client gone mid-body is a problem, not a 500.

``gateway_runner(app, ...)`` is an ``AppRunner`` whose connections use this handler.
aiohttp offers no public hook for the handler class, so the runner swaps the class of the
server it builds for a subclass that makes ours; ``tests/integration/gateway`` drives it
over raw sockets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from gateway.errors import (
    ClientClosedRequestError,
    InvalidRequestError,
    UnsupportedMediaTypeError,
)
from gateway.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE

__all__ = [
    "DEFAULT_BODY_TIMEOUT_S",
    "DEFAULT_HEADER_TIMEOUT_S",
    "gateway_runner",
    "read_body",
    "reading_body",
]

DEFAULT_HEADER_TIMEOUT_S: Final = 10.0
DEFAULT_BODY_TIMEOUT_S: Final = 10.0
# What aiohttp's request parser decompresses without brotli installed (it refuses ``br``
# itself, as a malformed request).
_DECODED_CODINGS: Final = frozenset({"identity", "gzip", "x-gzip", "deflate"})


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
            "detail": _parser_detail(exc) if status < 500 else "internal error",
        }
        response = web.Response(
            status=status, text=json.dumps(body), content_type=PROBLEM_CONTENT_TYPE
        )
        response.force_close()
        return response


def _parser_detail(exc: BaseException | None) -> str:
    """What was wrong, in our words: the parser's message quotes the request."""
    if isinstance(exc, LineTooLong):
        return f"the request line or a header is longer than {exc.args[1]} bytes"
    return "the HTTP request could not be read"


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
    """The request body, or a problem when it cannot be had (``reading_body``)."""
    async with reading_body(request, timeout_s):
        return await request.read()


@asynccontextmanager
async def reading_body(
    request: web.Request, timeout_s: float = DEFAULT_BODY_TIMEOUT_S
) -> AsyncIterator[None]:
    """Bound the reading of ``request``'s body and turn each way it fails into a problem:
    a content coding aiohttp would pass through undecoded (415), a body that does not
    arrive within ``timeout_s`` or does not decode (400), a client gone mid-body (499).
    aiohttp raises the last two as bare exceptions, which would be answered, logged and
    counted as 500s: any client could raise the gateway's error rate at will."""
    _check_content_coding(request.headers.getall("Content-Encoding", []))
    try:
        async with asyncio.timeout(timeout_s):
            yield
    except TimeoutError:
        raise InvalidRequestError(
            f"the request body did not arrive within {timeout_s:g} s"
        ) from None
    except RequestPayloadError:
        raise InvalidRequestError(
            "the request body could not be decoded as its Content-Encoding says"
        ) from None
    except ConnectionResetError:
        raise ClientClosedRequestError("the client closed the connection mid-body") from None


def _check_content_coding(values: list[str]) -> None:
    """415 unless every ``Content-Encoding`` is one aiohttp decodes: it passes any other
    coding through as if the body were plain, so ``zzz`` would be read as JSON."""
    codings = [c.strip().lower() for value in values for c in value.split(",")]
    unknown = [c for c in codings if c not in _DECODED_CODINGS]
    if unknown:
        raise UnsupportedMediaTypeError(
            f"Content-Encoding {unknown[0][:40]!r} is not supported: send the body as it"
            " is, or gzip or deflate it"
        )
