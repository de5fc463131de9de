"""The file adapter over real CSV and fixed-width files, changed while the adapter runs."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from connectors.adapters.base import Found, LegacyError, LegacyErrorKind, NotFound
from connectors.adapters.file import FileAdapter, FileSettings

CSV_HEADER = "NUM_DOC;NOMBRE;SITUACION\n"


async def wait_until(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    """Poll ``condition`` until it holds, failing after ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


def write_atomically(path: Path, content: bytes) -> None:
    """What a well-behaved export job does: write aside, then rename over the old file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def append(path: Path, content: bytes) -> None:
    """What a careless export job does: grow the same file in place."""
    with open(path, "ab") as handle:
        handle.write(content)


def remove(path: Path) -> None:
    """The export vanishes (a job deleting it before writing the next one)."""
    path.unlink()


def csv_settings(path: Path, **overrides: Any) -> FileSettings:
    values: dict[str, Any] = {
        "path": path,
        "format": "csv",
        "encoding": "latin-1",
        "delimiter": ";",
        "key_column": "NUM_DOC",
        "key_field": "document_number",
        "poll_interval_s": 0.05,
        **overrides,
    }
    return FileSettings.model_validate(values)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A latin-1 social-security export with one good line per person and two bad lines."""
    path = tmp_path / "afiliacion.csv"
    path.write_bytes(
        (
            CSV_HEADER
            + "12345678Z;Begoña Muñoz;A\n"
            + "X1234567L;Iñaki;B;EXTRA\n"  # line 3: one field too many
            + "\n"
            + "87654321X;José;C\n"
            + ";Nadie;A\n"  # line 6: empty key
            + 'Y7654321G;"unterminated;A\n'  # line 7: a broken quote
        ).encode("latin-1")
    )
    return path


@pytest.fixture
async def adapter(export: Path) -> AsyncIterator[FileAdapter]:
    """An opened adapter over the export, closed after the test."""
    opened = FileAdapter(csv_settings(export))
    await opened.open()
    yield opened
    await opened.close()


async def test_latin1_csv_lookups_and_normalised_keys(adapter: FileAdapter) -> None:
    """Records decode from latin-1; keys match without case or blanks; others are NotFound."""
    found = await adapter.lookup({"document_number": " 12345678z "})
    assert isinstance(found, Found)
    assert found.record == {"NUM_DOC": "12345678Z", "NOMBRE": "Begoña Muñoz", "SITUACION": "A"}
    assert isinstance(await adapter.lookup({"document_number": "00000000T"}), NotFound)


async def test_malformed_lines_are_reported_with_line_numbers_and_skipped(export: Path) -> None:
    """Each bad line is logged with its number and reason, never its content."""
    adapter = FileAdapter(csv_settings(export))
    with capture_logs() as logs:
        await adapter.open()
    await adapter.close()
    assert adapter.index is not None
    assert [(m.line, m.reason.split(" (")[0]) for m in adapter.index.malformed] == [
        (3, "expected 3 fields, got 4"),
        (6, "the key column 'NUM_DOC' is empty"),
        (7, "not a CSV record"),
    ]
    warned = [e for e in logs if e["event"] == "file_line_malformed"]
    assert [e["line"] for e in warned] == [3, 6, 7]
    assert not any("Iñaki" in str(e) or "X1234567L" in str(e) for e in logs)
    assert isinstance(await adapter.lookup({"document_number": "87654321X"}), Found)


async def test_bytes_invalid_in_the_encoding_are_one_malformed_line(tmp_path: Path) -> None:
    """A latin-1 byte in a UTF-8 export spoils its line only."""
    path = tmp_path / "x.csv"
    path.write_bytes(b"NUM_DOC;NOMBRE;SITUACION\n1;Mu\xf1oz;A\n2;Ok;B\n")
    adapter = FileAdapter(csv_settings(path, encoding="utf-8"))
    await adapter.open()
    await adapter.close()
    assert adapter.index is not None
    assert [(m.line, m.reason) for m in adapter.index.malformed] == [(2, "not valid utf-8 text")]
    assert set(adapter.index.records) == {"2"}


async def test_a_replaced_export_is_picked_up_while_running(
    adapter: FileAdapter, export: Path
) -> None:
    """Renaming a new export over the old one swaps the index: new people, old ones gone."""
    write_atomically(export, (CSV_HEADER + "55555555K;Nueva;A\n").encode("latin-1"))
    await wait_until(lambda: adapter.generation == 2)
    assert isinstance(await adapter.lookup({"document_number": "55555555K"}), Found)
    assert isinstance(await adapter.lookup({"document_number": "12345678Z"}), NotFound)


async def test_an_export_rewritten_in_place_is_picked_up(
    adapter: FileAdapter, export: Path
) -> None:
    """A job that truncates and rewrites the same file (same inode) is noticed too."""
    append(export, "44444444A;Añadida;B\n".encode("latin-1"))
    await wait_until(lambda: adapter.generation == 2)
    found = await adapter.lookup({"document_number": "44444444A"})
    assert isinstance(found, Found)
    assert found.record["SITUACION"] == "B"


async def test_a_failed_reload_keeps_the_old_index(adapter: FileAdapter, export: Path) -> None:
    """A header without the key column, then a vanished file: the old data keeps answering."""
    with capture_logs() as logs:
        write_atomically(export, b"OTRA;COSA\n1;2\n")
        await wait_until(lambda: adapter.reload_failures >= 1)
        assert isinstance(await adapter.lookup({"document_number": "12345678Z"}), Found)
        remove(export)
        await wait_until(lambda: adapter.reload_failures >= 2)
        assert isinstance(await adapter.lookup({"document_number": "12345678Z"}), Found)
    failures = [e for e in logs if e["event"] == "file_reload_failed"]
    assert "no key column 'NUM_DOC'" in failures[0]["reason"]
    assert "cannot stat" in failures[-1]["reason"]
    assert adapter.generation == 1
    write_atomically(export, (CSV_HEADER + "33333333P;Vuelve;A\n").encode("latin-1"))
    await wait_until(lambda: adapter.generation == 2)
    assert isinstance(await adapter.lookup({"document_number": "33333333P"}), Found)


async def test_fixed_width_export_with_short_lines(tmp_path: Path) -> None:
    """Copybook positions (1-based); trimmed trailing fields are empty; a cut key is malformed."""
    path = tmp_path / "mainframe.txt"
    path.write_bytes(
        (
            "CABECERA 20260301\n"
            + "12345678Z"
            + "MUÑOZ GARCIA".ljust(20)
            + "0120110203\n"
            + "X1234567LPEREZ\n"
            + "8765\n"
        ).encode("latin-1")
    )
    adapter = FileAdapter(
        FileSettings.model_validate(
            {
                "path": path,
                "format": "fixed",
                "encoding": "latin-1",
                "skip_lines": 1,
                "key_column": "dni",
                "key_field": "document_number",
                "fixed_columns": [
                    {"name": "dni", "start": 1, "length": 9},
                    {"name": "apellidos", "start": 10, "length": 20},
                    {"name": "regimen", "start": 30, "length": 2},
                    {"name": "fecha", "start": 32, "length": 8},
                ],
            }
        )
    )
    await adapter.open()
    await adapter.close()
    found = await adapter.lookup({"document_number": "12345678Z"})
    assert isinstance(found, Found)
    assert found.record == {
        "dni": "12345678Z",
        "apellidos": "MUÑOZ GARCIA        ",
        "regimen": "01",
        "fecha": "20110203",
    }
    short = await adapter.lookup({"document_number": "X1234567L"})
    assert isinstance(short, Found)
    assert short.record["regimen"] == ""
    assert adapter.index is not None
    assert [(m.line, m.reason) for m in adapter.index.malformed] == [
        (4, "the line ends before the key column")
    ]


async def test_duplicated_keys_are_a_protocol_error_or_first_wins(tmp_path: Path) -> None:
    """Two lines for one person: an error by default, the first line with `first`."""
    path = tmp_path / "dup.csv"
    path.write_bytes((CSV_HEADER + "1;A;A\n1;B;B\n").encode("latin-1"))
    strict = FileAdapter(csv_settings(path))
    await strict.open()
    await strict.close()
    with pytest.raises(LegacyError) as caught:
        await strict.lookup({"document_number": "1"})
    assert caught.value.kind is LegacyErrorKind.PROTOCOL
    first = FileAdapter(csv_settings(path, multiple_rows="first"))
    await first.open()
    await first.close()
    found = await first.lookup({"document_number": "1"})
    assert isinstance(found, Found)
    assert found.record["NOMBRE"] == "A"


async def test_a_missing_export_refuses_to_start(tmp_path: Path) -> None:
    """No file at start-up: open() fails as UNAVAILABLE naming the file, not a traceback."""
    adapter = FileAdapter(csv_settings(tmp_path / "nada.csv"))
    with pytest.raises(LegacyError, match=r"cannot read the export 'nada\.csv'") as caught:
        await adapter.open()
    assert caught.value.kind is LegacyErrorKind.UNAVAILABLE
