"""What both exchange-store backends share: the column list, value checks and JSON.

Each backend maps ``ExchangeRecord`` to its own column types (TEXT in SQLite, TIMESTAMPTZ
and JSON in PostgreSQL); the checks here run before either sees a value, so a record one
backend refuses is refused by the other too, with the same ``ValueError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from gateway.store.base import ExchangeRecord, ExchangeStatus

__all__ = [
    "COLUMNS",
    "FINAL_STATUSES",
    "check_record",
    "check_text",
    "decode_result",
    "encode_result",
    "record_from_row",
    "utc",
]

# The dataclass's field order is the column order of both schemas.
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ExchangeRecord))

FINAL_STATUSES = frozenset(s for s in ExchangeStatus if s is not ExchangeStatus.PENDING)

_TIME_COLUMNS = ("created_at", "deadline", "completed_at")


def utc(value: datetime, name: str) -> datetime:
    """``value`` in UTC; a naive datetime is refused (its zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got a naive one")
    return value.astimezone(UTC)


def check_text(name: str, value: str | None) -> None:
    """Refuse NUL characters: PostgreSQL's text type cannot hold them, SQLite can.

    Refusing them in both keeps the backends interchangeable (the gateway validates its
    input long before this; reaching here with a NUL is a bug, not a 503).
    """
    if value is not None and "\x00" in value:
        raise ValueError(f"{name} contains a NUL character, which the store cannot hold")


def check_record(record: ExchangeRecord) -> None:
    """Refuse what one of the backends cannot store verbatim (NULs, naive datetimes)."""
    for name in COLUMNS:
        value = getattr(record, name)
        if isinstance(value, str):
            check_text(name, value)
        elif isinstance(value, datetime):
            utc(value, name)


def encode_result(result: Mapping[str, Any] | None) -> str | None:
    """The provider's data as JSON text (NUL characters inside strings become ``\\u0000``).

    NaN and infinities are refused: they are not JSON and PostgreSQL rejects them.
    """
    if result is None:
        return None
    return json.dumps(dict(result), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def decode_result(text: str | None) -> Mapping[str, Any] | None:
    if text is None:
        return None
    decoded: dict[str, Any] = json.loads(text)
    return decoded


def record_from_row(
    row: Mapping[str, Any], parse_time: Callable[[Any], datetime]
) -> ExchangeRecord:
    """Build a record from a row keyed by column name; ``parse_time`` reads the backend's
    time representation into an aware UTC datetime."""
    values: dict[str, Any] = {name: row[name] for name in COLUMNS}
    for name in _TIME_COLUMNS:
        if values[name] is not None:
            values[name] = parse_time(values[name])
    values["status"] = ExchangeStatus(values["status"])
    values["result"] = decode_result(values["result"])
    return ExchangeRecord(**values)
