"""What of a request may be logged or echoed: its route, never the identifiers in it.

A path can hold a citizen's identifier (older clients of the accesses endpoint put it
there) and a query string can hold a subject (``?subject=``). Logs, problem ``instance``
members and metrics use ``safe_path``: the matched route's pattern
(``/v1/exchanges/{exchange_id}``) or, for a path no route matched, the path with every
segment that holds a digit replaced, and never the query string.
"""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web

__all__ = ["AccessLogFilter", "ParserLogFilter", "install_log_filters", "safe_path"]

_REDACTED: Final = "{redacted}"
_MAX_SEGMENTS: Final = 12
_ACCESS_EXTRAS: Final = ("first_request_line", "request_header", "response_header")


def safe_path(request: web.BaseRequest) -> str:
    """The route pattern of ``request``, or its path with identifier-like segments hidden."""
    match_info = getattr(request, "match_info", None)
    route = getattr(match_info, "route", None)
    resource = getattr(route, "resource", None)
    canonical = getattr(resource, "canonical", None)
    if isinstance(canonical, str) and canonical:
        return canonical
    segments = request.path.split("/")[: _MAX_SEGMENTS + 1]
    return "/".join(
        _REDACTED if any(c.isdigit() for c in s) or len(s) > 40 else s for s in segments
    )


class ParserLogFilter(logging.Filter):
    """Keep aiohttp's HTTP parser errors out of the logs' reach of secrets.

    aiohttp logs a malformed request (a header over its limit, a bad request line) with
    the exception, whose message quotes the start of the offending line: an
    ``Authorization: Bearer <key>`` header or a URL with an identifier. This filter keeps
    the record but replaces its message by the exception's type and drops the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None or "Error handling request" in str(record.msg):
            kind = type(exc).__name__ if exc is not None else "unknown"
            record.msg = "http_request_rejected_by_parser"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.__dict__["error_type"] = kind
        return True


class AccessLogFilter(logging.Filter):
    """aiohttp's access log writes the request line (path and query) verbatim: it is
    redacted to the status line only. ``interop gateway`` runs without it (metrics and
    our own log lines cover requests); this guards embedders who turn it on."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = "http_request (access log line redacted: paths can hold identifiers)"
        record.args = None
        for key in _ACCESS_EXTRAS:  # aiohttp copies the request line into these too
            record.__dict__.pop(key, None)
        return True


def install_log_filters() -> None:
    """Attach the filters to aiohttp's loggers once per process."""
    for name, kind in (("aiohttp.server", ParserLogFilter), ("aiohttp.access", AccessLogFilter)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
