"""The legacy registry's answer, held in memory by every provider the bench runs.

The end-to-end provider, the direct HTTP registry and the floor all answer the same
residence certificate, so the scenarios differ only in the path the bytes travel.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["REGISTRY", "SUBJECT_DOCUMENT", "lookup"]

SUBJECT_DOCUMENT: Final = "12345678Z"

REGISTRY: Final[dict[str, dict[str, Any]]] = {
    SUBJECT_DOCUMENT: {
        "registered": True,
        "municipality_code": "28005",
        "municipality_name": "Alcalá de Henares",
        "registered_since": "2019-03-01",
        "certified_at": "2026-05-09T10:00:00.000Z",
        "household_size": 3,
    }
}


def lookup(document_number: str) -> dict[str, Any] | None:
    """The registry row of a document number, or None (the registry does not know it)."""
    return REGISTRY.get(document_number)
