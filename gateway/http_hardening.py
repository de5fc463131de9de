"""The HTTP edge's own defences, in front of authentication and the handlers.

* **One value per credential and control header, one per query parameter.** Which of two
  ``Authorization`` headers (an auditor's key and a town's) or two ``Idempotency-Key``s
  is meant cannot be told, and proxies disagree on it: a request repeating one is a 400,
  as is a repeated query parameter (except those documented as repeatable).
* **A body larger than allowed is refused by its ``Content-Length``** before a byte of it
  is read (a 999,999,999-byte announcement with a tiny body is a 413 at once, not a wait).
* **Failed authentications are throttled per client address**: once an address has used
  up its failures for the window, each further request *whose credentials fail* gets 429
  with ``Retry-After`` instead of 401, so API keys cannot be guessed at line rate. A
  request with good credentials is served: members behind one NAT or proxy share an
  address, and anyone could otherwise lock them all out with 30 bad keys a minute.
* **Responses say nothing about the server** (no aiohttp/Python version in ``Server``) and
  no API response is cached (``Cache-Control: no-store``): they carry personal data.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.errors import (
    FieldProblem,
    InvalidRequestError,
    PayloadTooLargeError,
    RateLimitedError,
)

__all__ = [
    "SERVER_NAME",
    "FailedAuthThrottle",
    "check_single_values",
    "edge_middleware",
    "harden_responses",
]

SERVER_NAME: Final = "interop-bus"
_SINGLE_HEADERS: Final = (
    "Authorization",
    "Idempotency-Key",
    "Prefer",
    "Content-Type",
    "Content-Length",
    "traceparent",
)
_REPEATABLE_PARAMS: Final = frozenset({"type"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def check_single_values(request: web.Request) -> None:
    """400 when a credential/control header or a query parameter is given twice."""
    headers = [name for name in _SINGLE_HEADERS if len(request.headers.getall(name, [])) > 1]
    if headers:
        raise InvalidRequestError(
            f"header(s) given more than once: {', '.join(headers)}",
            [FieldProblem(f"/headers/{name}", "give it once") for name in headers],
        )
    params = sorted(
        {
            name[:40]
            for name in request.query
            if name not in _REPEATABLE_PARAMS and len(request.query.getall(name)) > 1
        }
    )
    if params:
        raise InvalidRequestError(
            f"query parameter(s) given more than once: {', '.join(params)}",
            [FieldProblem(f"/{name}", "give it once") for name in params],
        )


class FailedAuthThrottle:
    """Failed authentications per client address in fixed windows (bounded memory)."""

    def __init__(
        self,
        *,
        limit: int = 20,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 10_000,
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._max = max_addresses
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def check(self, address: str) -> None:
        """``RateLimitedError`` while ``address`` has used up its failures this window."""
        entry = self._windows.get(address)
        if entry is None:
            return
        started, count = entry
        remaining = started + self._window_s - self._clock()
        if remaining <= 0:
            del self._windows[address]
        elif count >= self._limit:
            raise RateLimitedError(
                f"too many failed authentications from this address ({self._limit} per "
                f"{self._window_s:g} s)",
                retry_after_s=max(1, math.ceil(remaining)),
            )

    def failure(self, address: str) -> None:
        now = self._clock()
        started, count = self._windows.pop(address, (now, 0))
        if now - started >= self._window_s:
            started, count = now, 0
        self._windows[address] = (started, count + 1)
        while len(self._windows) > self._max:
            self._windows.popitem(last=False)


def edge_middleware(
    *,
    max_body_bytes: int,
    auth_failures: FailedAuthThrottle | None,
    body_limits: Mapping[str, int] | None = None,
) -> Middleware:
    """The middleware of this module (place it right after the error middleware).

    ``body_limits``: paths allowed another body limit than ``max_body_bytes`` (the batch
    route takes thousands of items; it reads its body with that limit itself).
    """
    limits = dict(body_limits or {})

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        check_single_values(request)
        length = request.content_length
        limit = limits.get(request.path, max_body_bytes)
        if length is not None and length > limit:
            raise PayloadTooLargeError(
                f"the request body exceeds the configured limit of {limit} bytes"
            )
        response = await handler(request)
        if auth_failures is not None and response.status == 401:
            address = request.remote or "unknown"
            auth_failures.check(address)  # used up: 429 rather than another 401
            auth_failures.failure(address)
        return response

    return middleware


async def harden_responses(_request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: no server banner, nothing cached."""
    response.headers["Server"] = SERVER_NAME
    response.headers["Cache-Control"] = "no-store"
