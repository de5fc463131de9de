"""The ``rest`` adapter: build the URL from escaped request values, read the JSON answer.

The status decides first (``RestSettings.outcome``); only a "found" answer's body is read,
as JSON, and the record is taken at ``record_pointer``. The record must be a JSON object:
its keys are the legacy field names the mapping reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from pydantic import BaseModel

from connectors.adapters.base import (
    Adapter,
    Found,
    LegacyErrorKind,
    LegacyProtocolError,
    LookupResult,
    NotFound,
    legacy_error,
)
from connectors.adapters.http_client import LegacyHttpClient
from connectors.adapters.request_values import Template, as_text, field_value
from connectors.adapters.rest.settings import RestSettings, StatusOutcome

__all__ = ["FACTORY", "RestAdapter", "RestAdapterFactory"]

_MISSING = object()


def _segment(value: str) -> str:
    # safe="" also encodes "/": a value can never add or climb path segments.
    return quote(value, safe="")


class RestAdapter:
    """One legacy JSON endpoint."""

    def __init__(self, settings: RestSettings) -> None:
        self._settings = settings
        self._client = LegacyHttpClient(settings)
        self._path = Template(settings.path, _segment)
        self._query = {name: Template(t, str) for name, t in settings.query.items()}

    async def open(self) -> None:
        """Open the connection pool (the API is first called by the first lookup)."""
        await self._client.open()

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.close()

    def url_for(self, request: Mapping[str, Any]) -> str:
        """The URL asked for ``request``: path segments and query values percent-encoded."""
        url = self._settings.base_url + self._path.render(request)
        if self._query:
            url += "?" + urlencode({k: t.render(request) for k, t in self._query.items()})
        return url

    async def lookup(self, request: Mapping[str, Any]) -> LookupResult:
        """Call the API and map its status and body to the answer."""
        body: bytes | None = None
        headers = {"Accept": "application/json"}
        if self._settings.json_body is not None:
            payload = {k: field_value(request, p) for k, p in self._settings.json_body.items()}
            body = json.dumps(payload, default=as_text).encode()
            headers["Content-Type"] = "application/json"
        answer = await self._client.send(
            self._settings.method, self.url_for(request), body=body, headers=headers
        )
        outcome = self._settings.outcome(answer.status)
        if outcome is StatusOutcome.NOT_FOUND:
            return NotFound()
        if outcome is not StatusOutcome.FOUND:
            kind = LegacyErrorKind(outcome.value)
            raise legacy_error(kind, f"the API answered HTTP {answer.status}")
        return self._record(answer.body)

    def _record(self, body: bytes) -> LookupResult:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise LegacyProtocolError("the answer is not valid JSON") from None
        record = _resolve(document, self._settings.record_pointer)
        if record is _MISSING or record is None:
            if self._settings.not_found_when_pointer_missing:
                return NotFound()
            raise LegacyProtocolError(
                f"the answer has nothing at record_pointer {self._settings.record_pointer!r}",
            )
        if not isinstance(record, dict):
            raise LegacyProtocolError(
                f"the record at {self._settings.record_pointer!r} is a "
                f"{type(record).__name__}, not a JSON object",
            )
        return Found(record)


def _resolve(document: Any, pointer: str) -> Any:
    """RFC 6901: ``_MISSING`` when a token does not exist."""
    if not pointer:
        return document
    current = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            current = current.get(token, _MISSING)
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return _MISSING
        if current is _MISSING:
            return _MISSING
    return current


class RestAdapterFactory:
    """Builds ``RestAdapter`` from ``RestSettings``."""

    kind: ClassVar[str] = "rest"
    settings_model: ClassVar[type[BaseModel]] = RestSettings

    def build(self, settings: BaseModel) -> Adapter:
        """A closed adapter; the runtime opens it."""
        if not isinstance(settings, RestSettings):
            raise TypeError("the rest adapter needs RestSettings")
        return RestAdapter(settings)


FACTORY = RestAdapterFactory()
