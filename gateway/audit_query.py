"""Reading the audit API's inputs: query parameters and cursors, each refused with a 400
and a pointer, never a 500 (a time that overflows on conversion to UTC, a cursor or index
past what the database can hold, an identifier with a wrong check letter).

And writing its CSV safely: a cell that a spreadsheet would run as a formula is escaped
(OWASP's CSV injection rule), since ``official`` and other fields are the callers' text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from bus.audit import InvalidCursorError, decode_cursor
from gateway.consent.subjects import InvalidSubjectError, subject_pseudonym
from gateway.errors import FieldProblem, InvalidRequestError

__all__ = [
    "MAX_INDEX",
    "check_params",
    "csv_cell",
    "csv_row",
    "query_int",
    "query_time",
    "read_cursor",
    "subject_ref",
]

MAX_INDEX: Final = 2**63 - 1
"""The largest leaf index or size a BIGINT column holds: anything above is refused."""
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r", "\n")


def check_params(request: web.Request, allowed: frozenset[str]) -> None:
    """400 on an unknown or repeated query parameter (which copy is meant is unclear)."""
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise InvalidRequestError(
            f"unknown query parameter(s): {', '.join(u[:40] for u in unknown)}",
            [FieldProblem(f"/{u[:40]}", "unknown parameter") for u in unknown],
        )
    repeated = sorted(
        {name for name in request.query if name != "type" and len(request.query.getall(name)) > 1}
    )
    if repeated:
        raise InvalidRequestError(
            f"query parameter(s) given more than once: {', '.join(repeated)}",
            [FieldProblem(f"/{name}", "give it once") for name in repeated],
        )


def query_int(text: str | None, name: str, *, default: int | None, low: int) -> int | None:
    """A whole number between ``low`` and ``MAX_INDEX`` (``default`` when absent)."""
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_INDEX:
        raise InvalidRequestError(
            f"{name} must be a whole number up to {MAX_INDEX}",
            [FieldProblem(f"/{name}", "not a whole number in range")],
        )
    value = int(text)
    if value < low:
        raise InvalidRequestError(
            f"{name} must be at least {low}", [FieldProblem(f"/{name}", f"below {low}")]
        )
    return value


def query_time(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 time with a zone, as UTC; 400 when malformed or out of range in UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            raise ValueError("naive")
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidRequestError(
            f"{name} must be an ISO 8601 time with a zone between years 1 and 9999 in UTC",
            [FieldProblem(f"/{name}", "not an ISO 8601 time with a zone, in range")],
        ) from None


def read_cursor(cursor: str | None) -> int:
    """The leaf index a cursor continues after (-1 for none); 400 if not ours."""
    if not cursor:
        return -1
    try:
        after = decode_cursor(cursor[:200])
    except InvalidCursorError as exc:
        raise InvalidRequestError(
            exc.message, [FieldProblem("/cursor", "unknown cursor")]
        ) from None
    if after > MAX_INDEX:
        raise InvalidRequestError(
            "the cursor is not one this API handed out",
            [FieldProblem("/cursor", "unknown cursor")],
        )
    return after


def subject_ref(key: bytes, subject: str, pointer: str) -> str:
    """The pseudonym of ``subject``; 400 at ``pointer`` (never echoing it) if malformed."""
    if not subject or len(subject) > 256:
        raise InvalidRequestError(
            "the subject identifier has 1 to 256 characters",
            [FieldProblem(pointer, "1 to 256 characters")],
        )
    try:
        return subject_pseudonym(key, subject)
    except InvalidSubjectError as exc:
        raise InvalidRequestError(
            "the subject identifier is not valid", [FieldProblem(pointer, str(exc))]
        ) from None


def csv_cell(value: Any) -> Any:
    """``value``, with a leading apostrophe when a spreadsheet would run it as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(document: Mapping[str, Any]) -> dict[str, Any]:
    """Every cell of one CSV row made safe (``csv_cell``)."""
    return {name: csv_cell(value) for name, value in document.items()}
