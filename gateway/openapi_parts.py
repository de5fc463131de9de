"""What every route module's OpenAPI declaration shares (``gateway.openapi`` assembles
the document from them): the problem body of an error response and the security
requirement of an authenticated route."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["PROBLEM_CONTENT", "SECURED", "problem"]

PROBLEM_CONTENT: Final = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}
SECURED: Final[list[dict[str, list[str]]]] = [{"apiKey": []}, {"mutualTLS": []}]
"""An API key or a client certificate (``gateway.auth``)."""


def problem(description: str) -> dict[str, Any]:
    """An error response: ``description`` and an RFC 9457 problem body."""
    return {"description": description, "content": PROBLEM_CONTENT}
