"""RFC 9457 problem details: how every gateway error reaches the caller.

``error_middleware`` is the one place where exceptions become HTTP responses: a
``GatewayError`` becomes its problem; aiohttp's own HTTP errors (no route, wrong method,
body too large) become the matching problem; anything else is logged with its type and
answered as a bare 500 problem that reveals nothing (and is a bug to fix).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog
from aiohttp import web

from gateway.errors import (
    GatewayError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ProviderError,
    UnsupportedMediaTypeError,
)
from gateway.redaction import safe_path

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "PROBLEM_TYPE_BASE",
    "ServerFailureLog",
    "error_middleware",
    "problem_response",
]

PROBLEM_CONTENT_TYPE: Final = "application/problem+json"
# Problem type URIs name the stable code; they are identifiers, not necessarily links.
PROBLEM_TYPE_BASE: Final = "https://interop-bus.eu/problems/"

_log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem_body(error: GatewayError, *, instance: str | None = None) -> dict[str, Any]:
    """The JSON object of one problem (RFC 9457 members plus ``code`` and ``errors``)."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + error.code.lower().replace("_", "-"),
        "title": error.title,
        "status": error.status,
        "detail": error.public_detail,
        "code": error.code,
    }
    if instance is not None:
        body["instance"] = instance
    if isinstance(error, InvalidRequestError) and error.problems:
        body["errors"] = [{"pointer": p.pointer, "detail": p.message} for p in error.problems]
    if isinstance(error, ProviderError) and error.provider_code:
        body["provider_code"] = error.provider_code
    return body


def problem_response(error: GatewayError, *, instance: str | None = None) -> web.Response:
    """The HTTP response for ``error`` (with ``Retry-After`` when it says when to retry)."""
    response = web.Response(
        status=error.status,
        text=json.dumps(problem_body(error, instance=instance)),
        content_type=PROBLEM_CONTENT_TYPE,
    )
    if error.retry_after_s is not None:
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


def _from_http_exception(exc: web.HTTPException) -> GatewayError | None:
    if isinstance(exc, web.HTTPNotFound):
        return NotFoundError("no such resource")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowedError(
            f"{exc.method} is not allowed here; allowed: {', '.join(sorted(exc.allowed_methods))}"
        )
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLargeError("the request body exceeds the configured limit")
    if isinstance(exc, web.HTTPUnsupportedMediaType):
        return UnsupportedMediaTypeError(exc.text or "unsupported media type")
    return None


class ServerFailureLog:
    """Logs the gateway's own failures (5xx problems) for operators, with the message the
    caller does not see (a store's driver text, say): the first of each code at once, then
    at most one line per code every ``window_s``, saying how many it stood for. A store
    refusing every write answered 900 requests 503 with no line in the log."""

    def __init__(
        self,
        window_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        log: Any = None,
    ) -> None:
        self._window_s = window_s
        self._clock = clock
        self._log = _log if log is None else log
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def failed(self, error: GatewayError) -> None:
        now, code = self._clock(), error.code
        last = self._last.get(code)
        if last is not None and now - last < self._window_s:
            self._suppressed[code] = self._suppressed.get(code, 0) + 1
            return
        self._last[code] = now
        self._log.warning(
            "request_failed",
            error_code=code,
            status=error.status,
            error=error.message,
            suppressed=self._suppressed.pop(code, 0),
        )


_FAILURES = ServerFailureLog()


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into a problem response; never a stack trace, never HTML."""
    try:
        return await handler(request)
    except GatewayError as error:
        if error.status >= 500:
            _FAILURES.failed(error)
        return problem_response(error, instance=safe_path(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like pass through
        translated = _from_http_exception(exc)
        if translated is None:
            return web.Response(
                status=exc.status,
                text=json.dumps(
                    {
                        "type": "about:blank",
                        "title": exc.reason,
                        "status": exc.status,
                        "code": "HTTP_" + str(exc.status),
                    }
                ),
                content_type=PROBLEM_CONTENT_TYPE,
            )
        response = problem_response(translated, instance=safe_path(request))
        if isinstance(exc, web.HTTPMethodNotAllowed):
            # RFC 9110 15.5.6: a 405 must say which methods the resource supports.
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response
    except Exception as exc:  # the last line of defence: log the type, reveal nothing
        _log.error("unhandled_error", path=safe_path(request), exception_type=type(exc).__name__)
        return problem_response(GatewayError("internal error"), instance=safe_path(request))
