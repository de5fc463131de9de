"""Values taken from the decoded request: dotted field paths and escaped text templates.

Adapters never format a request value into a query language by hand. SQL binds them as
parameters; REST and SOAP render them through :class:`Template`, which escapes every value
for its target (URL path segment, query value, XML text) so a document number such as
``1/../admin`` or ``<x>`` stays data. Templates use ``{field}`` or ``{record.field}``
placeholders naming request fields; ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connectors.adapters.base import LegacyConfigurationError

__all__ = ["FieldPath", "Template", "as_text", "field_value"]

FieldPath = str
"""A dotted path into the request record (``document_number``, ``subject.document_number``)."""

_MISSING = object()


def field_value(request: Mapping[str, Any], path: FieldPath) -> Any:
    """The request value at ``path``; a CONFIGURATION error names the path when absent."""
    current: Any = request
    for part in path.split("."):
        if not isinstance(current, Mapping):
            current = _MISSING
            break
        current = current.get(part, _MISSING)
        if current is _MISSING:
            break
    if current is _MISSING:
        raise LegacyConfigurationError(f"the request has no field {path!r} (adapter settings)")
    return current


def as_text(value: Any) -> str:
    """A request value as the text a legacy system expects (ISO dates, lower-case booleans)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (str, int, float, Decimal)):
        return str(value)
    raise LegacyConfigurationError(
        f"a {type(value).__name__} request value cannot be written into a template",
    )


class Template:
    """A text template whose placeholders are request fields, each escaped by ``escape``."""

    def __init__(self, text: str, escape: Callable[[str], str]) -> None:
        self._escape = escape
        self._parts: list[tuple[str, FieldPath | None]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ValueError(f"template {text!r} is malformed: {exc}") from exc
        for literal, name, spec, conversion in parsed:
            if name is not None and (spec or conversion):
                raise ValueError(f"placeholder {{{name}}} takes no format spec or conversion")
            if name == "":
                raise ValueError("empty placeholder {} in template: name a request field")
            self._parts.append((literal, name))

    @property
    def fields(self) -> list[FieldPath]:
        """The request fields the template reads, in order."""
        return [name for _, name in self._parts if name is not None]

    def sample(self) -> str:
        """The template with every placeholder as ``0``: to check its shape at start-up."""
        return "".join(literal + ("0" if name is not None else "") for literal, name in self._parts)

    def render(self, request: Mapping[str, Any]) -> str:
        """The template with each placeholder replaced by the escaped request value."""
        out: list[str] = []
        for literal, name in self._parts:
            out.append(literal)
            if name is not None:
                out.append(self._escape(as_text(field_value(request, name))))
        return "".join(out)
