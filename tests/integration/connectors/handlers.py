"""Python handlers the connector integration tests name in connector.yaml.

``counting`` records every call (exchange id, process id) in the SQLite file named by
``INTEROP_TEST_CALLS_DB``, so the kill test can count legacy calls per exchange and per
process incarnation. ``residence`` answers by document number: ``MISSING-...`` not found,
``DOWN-...`` a retriable legacy failure, anything else found.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from connectors import (
    Found,
    HandlerContext,
    LegacyUnavailableError,
    NotFound,
)
from connectors.sdk import Answer

FOUND_RECORD: dict[str, Any] = {
    "registered": True,
    "municipality_code": "28005",
    "municipality_name": "Alcalá de Henares",
    "registered_since": date(2019, 3, 1),
    "certified_at": datetime(2026, 5, 9, 10, 0, tzinfo=UTC),
    "household_size": 3,
}


async def residence(request: Mapping[str, Any], _ctx: HandlerContext) -> Answer:
    """Found / not found / down by the document number's prefix."""
    document = str(request["document_number"])
    if document.startswith("MISSING"):
        return NotFound()
    if document.startswith("DOWN"):
        raise LegacyUnavailableError("the padrón database refuses connections")
    return Found(FOUND_RECORD)


_connection: sqlite3.Connection | None = None


def _calls_db() -> sqlite3.Connection:
    global _connection  # noqa: PLW0603 - one connection per connector process
    if _connection is None:
        _connection = sqlite3.connect(os.environ["INTEROP_TEST_CALLS_DB"], timeout=30)
        _connection.execute("PRAGMA journal_mode = WAL")
        _connection.execute(
            "CREATE TABLE IF NOT EXISTS calls (exchange_id TEXT NOT NULL, pid INTEGER NOT NULL)"
        )
        _connection.commit()
    return _connection


async def counting(request: Mapping[str, Any], ctx: HandlerContext) -> Answer:
    """Record the call durably, then answer found."""
    db = _calls_db()
    db.execute("INSERT INTO calls VALUES (?, ?)", (ctx.exchange_id, os.getpid()))
    db.commit()
    return await residence(request, ctx)
