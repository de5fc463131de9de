"""``GET /v1/batches/{id}/results``: one line per item, NDJSON or CSV, resumable by cursor.

A line gives the item's index, the caller's ``item_ref``, its exchange id, its status, an
error code when it has one, the cursor that resumes *after* it, and (NDJSON) the exchange
exactly as ``GET /v1/exchanges/{id}`` shows it (data included when found) or (CSV) its
``found`` flag and its data as one JSON cell. No line carries a subject identifier.

The cursor is opaque to callers: ``base64url("v1:" + index)``. A malformed one is a 400
with a pointer to the query parameter.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from typing import Any, Final

from gateway.batches.records import BatchItem
from gateway.errors import FieldProblem, InvalidRequestError
from gateway.exchanges_api import exchange_json
from gateway.store.base import ExchangeRecord, ExchangeStatus

__all__ = [
    "CSV_COLUMNS",
    "csv_header",
    "csv_line",
    "decode_cursor",
    "encode_cursor",
    "ndjson_line",
    "result_fields",
]

CSV_COLUMNS: Final = (
    "index",
    "item_ref",
    "exchange_id",
    "status",
    "error_code",
    "found",
    "data",
    "cursor",
)
_CURSOR_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,40}")


def encode_cursor(index: int) -> str:
    """The cursor that resumes after item ``index``."""
    return base64.urlsafe_b64encode(f"v1:{index}".encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The index a cursor resumes after (-1: from the start); 400 if it is not ours."""
    if cursor is None or cursor == "":
        return -1
    problem = InvalidRequestError(
        "the cursor is not one this API gave out",
        [FieldProblem("/cursor", "use the cursor of a results line, or none")],
    )
    if _CURSOR_RE.fullmatch(cursor) is None:
        raise problem
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise problem from None
    version, _, number = text.partition(":")
    if version != "v1" or not number.isdigit() or len(number) > 9:
        raise problem
    return int(number)


def result_fields(item: BatchItem, record: ExchangeRecord | None) -> dict[str, Any]:
    """One item's result line as a JSON object."""
    return {
        "index": item.index,
        "item_ref": item.item_ref,
        "exchange_id": item.exchange_id,
        "status": item.status.value,
        "error_code": item.error_code,
        "exchange": None if record is None else exchange_json(record),
        "cursor": encode_cursor(item.index),
    }


def ndjson_line(item: BatchItem, record: ExchangeRecord | None) -> bytes:
    """One NDJSON line (ends with a newline)."""
    return (json.dumps(result_fields(item, record), ensure_ascii=False) + "\n").encode("utf-8")


def _row(values: list[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue().encode("utf-8")


def csv_header() -> bytes:
    """The CSV header line (RFC 4180, CRLF)."""
    return _row(list(CSV_COLUMNS))


def csv_line(item: BatchItem, record: ExchangeRecord | None) -> bytes:
    """One CSV line: ``data`` is the provider's data as one JSON cell (empty otherwise)."""
    completed = record is not None and record.status is ExchangeStatus.COMPLETED
    found = "" if not completed or record is None else str(record.reply_status == "ok").lower()
    data = ""
    if completed and record is not None and record.result is not None:
        data = json.dumps(dict(record.result), ensure_ascii=False, separators=(",", ":"))
    return _row(
        [
            item.index,
            item.item_ref or "",
            item.exchange_id or "",
            item.status.value,
            item.error_code or "",
            found,
            data,
            encode_cursor(item.index),
        ]
    )
