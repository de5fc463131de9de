"""The items file of ``interop batch submit``: CSV in, a batch's ``items`` out.

One header line, then one item per line (RFC 4180; UTF-8, a BOM tolerated). Columns:

* ``subject`` (required): the subject's identifier;
* ``item_ref``, ``consent_ref`` (optional): the caller's reference, a consent reference;
* the request ``data``, either as one ``data`` column holding a JSON object, or as
  ``data.<field>`` columns, one string field each (an empty cell leaves the field out).
  Use the ``data`` column for fields that are not strings.

Every problem names its line (the header is line 1), never a cell's value: the file
holds identifiers.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Final

from contracts.errors import InteropError

__all__ = ["ItemsFileError", "parse_items", "read_items"]

_KNOWN: Final = frozenset({"subject", "item_ref", "consent_ref", "data"})


class ItemsFileError(InteropError):
    """The items file cannot be read as a batch (which line, and why)."""

    code = "BATCH_ITEMS_FILE"


def read_items(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The items of ``path`` and, per item, its line number in the file."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ItemsFileError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ItemsFileError(f"{path}: is not UTF-8 text") from None
    return parse_items(text, source=str(path))


def parse_items(text: str, *, source: str = "items") -> tuple[list[dict[str, Any]], list[int]]:
    """Parse CSV ``text``; ``ItemsFileError`` naming the first bad line."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ItemsFileError(f"{source}: is empty (expected a header line)") from None
    except csv.Error as exc:
        raise ItemsFileError(f"{source} line 1: unreadable CSV ({exc})") from None
    header = [name.strip() for name in header]
    fields = [name.removeprefix("data.") for name in header if name.startswith("data.")]
    unknown = [n for n in header if n not in _KNOWN and not n.startswith("data.")]
    if "subject" not in header:
        raise ItemsFileError(f"{source} line 1: no 'subject' column")
    if unknown:
        raise ItemsFileError(f"{source} line 1: unknown column(s) {', '.join(unknown)}")
    if "data" in header and fields:
        raise ItemsFileError(f"{source} line 1: give a 'data' column or data.<field> columns")
    if len(set(header)) != len(header) or any(not f for f in fields):
        raise ItemsFileError(f"{source} line 1: a column is named twice, or 'data.' alone")
    items: list[dict[str, Any]] = []
    lines: list[int] = []
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ItemsFileError(
                    f"{source} line {line}: {len(row)} cells, the header has {len(header)}"
                )
            items.append(_item(dict(zip(header, row, strict=True)), source, line))
            lines.append(line)
    except csv.Error as exc:
        raise ItemsFileError(f"{source} line {reader.line_num}: unreadable CSV ({exc})") from None
    if not items:
        raise ItemsFileError(f"{source}: holds no items")
    return items, lines


def _item(cells: dict[str, str], source: str, line: int) -> dict[str, Any]:
    subject = cells["subject"].strip()
    if not subject:
        raise ItemsFileError(f"{source} line {line}: the subject is empty")
    if "data" in cells:
        try:
            data = json.loads(cells["data"]) if cells["data"].strip() else {}
        except json.JSONDecodeError:
            raise ItemsFileError(f"{source} line {line}: 'data' is not JSON") from None
        if not isinstance(data, dict):
            raise ItemsFileError(f"{source} line {line}: 'data' is not a JSON object")
    else:
        data = {
            name.removeprefix("data."): value
            for name, value in cells.items()
            if name.startswith("data.") and value != ""
        }
    item: dict[str, Any] = {"subject": subject, "data": data}
    for name in ("item_ref", "consent_ref"):
        value = cells.get(name, "").strip()
        if value:
            item[name] = value
    return item
