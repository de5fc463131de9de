"""Settings of the ``rest`` adapter (the ``adapter:`` block with ``kind: rest``)."""

from __future__ import annotations

import enum
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from connectors.adapters.http_client import HttpSettings
from connectors.adapters.request_values import Template

__all__ = ["RestSettings", "StatusOutcome"]


class StatusOutcome(enum.StrEnum):
    """What an HTTP status means for the lookup."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"
    PROTOCOL = "protocol"


class RestSettings(HttpSettings):
    """A JSON API answering one GET (or POST) per request."""

    kind: Literal["rest"] = "rest"
    base_url: str
    """Scheme, host, port and any fixed path prefix: ``https://padron.example/api``."""
    method: Literal["GET", "POST"] = "GET"
    path: str = ""
    """Path template appended to base_url; each ``{field}`` is percent-encoded as one segment."""
    query: dict[str, str] = Field(default_factory=dict)
    """Query parameters: name -> template; values are percent-encoded."""
    json_body: dict[str, str] | None = None
    """POST only: JSON object of name -> request field (dotted path), values as typed."""
    record_pointer: str = ""
    """RFC 6901 pointer to the record in the JSON answer ("" = the whole body)."""
    not_found_when_pointer_missing: bool = False
    """A 200 whose body lacks the pointer (or holds null there) means not found."""
    status_map: dict[int, StatusOutcome] = Field(default_factory=dict)
    """Overrides: e.g. ``{204: not_found, 410: not_found}``. Default: 200 found, 404 not
    found, 5xx and 429 unavailable (retriable), other 4xx rejected, anything else protocol."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("base_url must be an absolute http:// or https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("base_url takes no query or fragment: use 'query'")
        return value.rstrip("/")

    @field_validator("path")
    @classmethod
    def _path_template(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError("path must start with '/'")
        Template(value, str)  # raises ValueError naming what is malformed
        return value

    @field_validator("query")
    @classmethod
    def _query_templates(cls, value: dict[str, str]) -> dict[str, str]:
        for template in value.values():
            Template(template, str)
        return value

    @field_validator("record_pointer")
    @classmethod
    def _pointer(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError("a JSON pointer is empty or starts with '/' (RFC 6901)")
        return value

    @field_validator("status_map")
    @classmethod
    def _statuses(cls, value: dict[int, StatusOutcome]) -> dict[int, StatusOutcome]:
        bad = [code for code in value if not 100 <= code <= 599]
        if bad:
            raise ValueError(f"not HTTP status codes: {bad}")
        return value

    @model_validator(mode="after")
    def _body_needs_post(self) -> RestSettings:
        if self.json_body is not None and self.method != "POST":
            raise ValueError("json_body is sent with method: POST only")
        return self

    def outcome(self, status: int) -> StatusOutcome:
        """What ``status`` means, overrides first."""
        if status in self.status_map:
            return self.status_map[status]
        if status == 200:
            return StatusOutcome.FOUND
        if status == 404:
            return StatusOutcome.NOT_FOUND
        if status >= 500 or status in {408, 429}:
            return StatusOutcome.UNAVAILABLE
        if 400 <= status < 500:
            return StatusOutcome.REJECTED
        return StatusOutcome.PROTOCOL
