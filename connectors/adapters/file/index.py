"""Reading an export into an in-memory index, line by line, never failing on one line.

``build_index`` is synchronous and pure apart from reading the file: the adapter runs it
in a worker thread and swaps the result in only when it is complete. A line that cannot
be read (wrong field count, bytes not valid in the encoding, an empty key, a broken quote)
becomes a ``MalformedLine`` with its 1-based line number and a reason that never quotes
the line (it holds personal data), and is skipped. Only a file that cannot be read at all,
or a CSV header without the key column, fails the whole build.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from connectors.adapters.base import (
    LegacyConfigurationError,
    LegacyUnavailableError,
)
from connectors.adapters.file.settings import FileSettings

__all__ = ["FileIndex", "FileStamp", "MalformedLine", "build_index", "file_stamp", "normalise"]

FileStamp = tuple[int, int, int]
"""(mtime_ns, size, inode): changes when the export is rewritten or replaced."""


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """A skipped line: where it is and why (never its content)."""

    line: int
    reason: str


@dataclass(frozen=True)
class FileIndex:
    """One complete load of the export."""

    stamp: FileStamp
    records: MappingProxyType[str, MappingProxyType[str, Any]]
    duplicates: frozenset[str]
    malformed: tuple[MalformedLine, ...]
    lines: int


def file_stamp(path: os.PathLike[str] | str) -> FileStamp:
    """The stamp of the file now; OSError if it cannot be stat'ed."""
    info = os.stat(path)
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def normalise(key: str, settings: FileSettings) -> str:
    """The key as the index stores it."""
    return key.strip().upper() if settings.normalise_key else key


def build_index(settings: FileSettings) -> FileIndex:
    """Read the export; raise ``LegacyError`` only when the file as a whole is unusable."""
    try:
        stamp = file_stamp(settings.path)
        with open(settings.path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise LegacyUnavailableError(
            f"cannot read the export {settings.path.name!r} ({type(exc).__name__})",
        ) from exc
    records: dict[str, MappingProxyType[str, Any]] = {}
    duplicates: set[str] = set()
    malformed: list[MalformedLine] = []
    count = 0
    for number, fields in _rows(raw, settings, malformed):
        count = number
        key = normalise(fields[settings.key_column], settings)
        if not key:
            malformed.append(
                MalformedLine(number, f"the key column {settings.key_column!r} is empty")
            )
            continue
        if key in records:
            duplicates.add(key)
            if settings.multiple_rows != "last":
                continue
        records[key] = MappingProxyType(fields)
    return FileIndex(
        stamp=stamp,
        records=MappingProxyType(records),
        duplicates=frozenset(duplicates),
        malformed=tuple(malformed),
        lines=count,
    )


def _lines(raw: bytes, settings: FileSettings) -> Iterator[tuple[int, str | None]]:
    """(1-based number, text or None when not valid in the encoding), after skip_lines."""
    for number, line in enumerate(raw.splitlines(), start=1):
        if number <= settings.skip_lines:
            continue
        try:
            yield number, line.decode(settings.encoding)
        except UnicodeDecodeError:
            yield number, None


def _rows(
    raw: bytes, settings: FileSettings, malformed: list[MalformedLine]
) -> Iterator[tuple[int, dict[str, str]]]:
    names: list[str] | None = None
    if settings.format == "fixed":
        assert settings.fixed_columns is not None  # noqa: S101 - the settings ensure it
        names = [c.name for c in settings.fixed_columns]
    elif not settings.header:
        names = settings.columns
    for number, text in _lines(raw, settings):
        if text is None:
            malformed.append(MalformedLine(number, f"not valid {settings.encoding} text"))
            continue
        if not text.strip():
            continue  # blank lines (a trailing newline, padding) hold no record
        if settings.format == "fixed":
            fields = _fixed(text, settings)
            if fields is None:
                malformed.append(MalformedLine(number, "the line ends before the key column"))
                continue
            yield number, fields
            continue
        try:
            values = next(
                csv.reader(
                    [text], delimiter=settings.delimiter, quotechar=settings.quotechar, strict=True
                )
            )
        except csv.Error as exc:
            malformed.append(MalformedLine(number, f"not a CSV record ({exc})"))
            continue
        if names is None:
            names = _header(values, settings)
            continue
        if len(values) != len(names):
            malformed.append(
                MalformedLine(number, f"expected {len(names)} fields, got {len(values)}")
            )
            continue
        yield number, dict(zip(names, values, strict=True))


def _header(values: list[str], settings: FileSettings) -> list[str]:
    names = [v.strip() for v in values]
    if settings.key_column not in names:
        raise LegacyConfigurationError(
            f"the CSV header has no key column {settings.key_column!r} (columns: {names})",
        )
    if len(set(names)) != len(names):
        raise LegacyConfigurationError("the CSV header repeats a column name")
    return names


def _fixed(text: str, settings: FileSettings) -> dict[str, str] | None:
    assert settings.fixed_columns is not None  # noqa: S101 - the settings ensure it
    key = next(c for c in settings.fixed_columns if c.name == settings.key_column)
    if len(text) < key.end:
        return None
    # Mainframe exports trim trailing blanks: a short line has empty trailing fields.
    return {c.name: text[c.start - 1 : c.end] for c in settings.fixed_columns}
