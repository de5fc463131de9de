"""The legacy registry's rows, held in memory by every provider the bench runs.

The connector's handler, the direct HTTP registry and (by size) the floor all answer the
same residence certificates, so the scenarios differ only in the path the bytes travel.
The registry knows ``SUBJECTS`` people: a load generator cycles through them, so requests
(keyed by subject pseudonym on the bus) spread over every partition as real traffic does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Final

__all__ = ["SUBJECTS", "document_numbers", "lookup", "lookup_json"]

SUBJECTS: Final = 256
_DNI_LETTERS: Final = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni(number: int) -> str:
    """A well-formed Spanish DNI (8 digits and the check letter of number mod 23)."""
    return f"{number:08d}{_DNI_LETTERS[number % 23]}"


def document_numbers() -> list[str]:
    """The documents the registry knows, in a fixed order."""
    return [_dni(10_000_000 + i) for i in range(SUBJECTS)]


_ROW: Final[dict[str, Any]] = {
    "registered": True,
    "municipality_code": "28005",
    "municipality_name": "Alcalá de Henares",
    "registered_since": date(2019, 3, 1),
    "certified_at": datetime(2026, 5, 9, 10, 0, tzinfo=UTC),
    "household_size": 3,
}
_KNOWN: Final = frozenset(document_numbers())


def lookup(document_number: str) -> dict[str, Any] | None:
    """The registry row of a document number (dates as ``date``/``datetime``), or None."""
    return dict(_ROW) if document_number in _KNOWN else None


def lookup_json(document_number: str) -> dict[str, Any] | None:
    """The same row as the registry's own JSON API serves it (ISO 8601 strings)."""
    row = lookup(document_number)
    if row is None:
        return None
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()}
