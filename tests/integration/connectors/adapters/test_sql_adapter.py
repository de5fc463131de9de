"""The sql adapter against a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from connectors.adapters.base import Found, LegacyError, LegacyErrorKind, NotFound
from connectors.adapters.sql import SqlAdapter, SqlSettings
from tests.integration.conftest import free_port

ROWS = [
    ("DNI", "12345678Z", "Ana", "08019", date(2011, 2, 3)),
    ("NIE", "X1234567L", "Bo", "28079", date(2020, 5, 6)),
    ("DNI", "87654321X", "Cai", "46250", date(2015, 1, 1)),
    ("DNI", "87654321X", "Cai", "41091", date(2019, 1, 1)),  # a duplicated key
]
CREATE = (
    "CREATE TABLE habitantes (tipo_doc VARCHAR(8), num_doc VARCHAR(16), nombre VARCHAR(40),"
    " cod_mun VARCHAR(5), fecha_alta DATE)"
)
QUERY = (
    "SELECT nombre, cod_mun, fecha_alta FROM habitantes"
    " WHERE tipo_doc = :document_type AND num_doc = :number"
)


def _sqlite(path: Path) -> str:
    with sqlite3.connect(path) as db:
        db.execute(CREATE)
        db.executemany(
            "INSERT INTO habitantes VALUES (?, ?, ?, ?, ?)",
            [(*row[:4], row[4].isoformat()) for row in ROWS],
        )
    return f"sqlite+aiosqlite:///{path}"


async def _postgres(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(CREATE)
        await conn.executemany("INSERT INTO habitantes VALUES ($1, $2, $3, $4, $5)", ROWS)
    finally:
        await conn.close()
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh real database: a SQLite file path, or a PostgreSQL DSN (``postgres_dsn``)."""
    if request.param == "sqlite":
        return str(tmp_path / "padron.db")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@pytest.fixture
async def database_url(empty_database: str) -> str:
    """The SQLAlchemy URL of the database, with ``habitantes`` created and filled."""
    if empty_database.startswith("postgresql://"):
        return await _postgres(empty_database)
    return _sqlite(Path(empty_database))


def settings(url: str, **overrides: Any) -> SqlSettings:
    values: dict[str, Any] = {
        "url": SecretStr(url),
        "query": QUERY,
        "params": {"number": "subject.document_number", "document_type": "subject.document_type"},
        "pool_size": 2,
        "timeout_s": 10,
        **overrides,
    }
    return SqlSettings.model_validate(values)


@pytest.fixture
async def adapter(database_url: str) -> AsyncIterator[SqlAdapter]:
    """An opened adapter over the database, closed after the test."""
    opened = SqlAdapter(settings(database_url))
    await opened.open()
    yield opened
    await opened.close()


def request_for(document_type: str, number: str) -> dict[str, Any]:
    return {"subject": {"document_type": document_type, "document_number": number}}


async def test_one_row_is_found_with_its_columns(adapter: SqlAdapter) -> None:
    """A unique row comes back under its column names, dates as dates (or ISO text)."""
    result = await adapter.lookup(request_for("NIE", "X1234567L"))
    assert isinstance(result, Found)
    assert result.record["nombre"] == "Bo"
    assert result.record["cod_mun"] == "28079"
    assert str(result.record["fecha_alta"]) == "2020-05-06"


async def test_no_row_is_not_found(adapter: SqlAdapter) -> None:
    """Another document type with the same number is a different subject."""
    assert isinstance(await adapter.lookup(request_for("NIE", "12345678Z")), NotFound)


async def test_injection_text_is_only_ever_a_value(adapter: SqlAdapter) -> None:
    """A quote-laden document number matches nothing and leaves the table intact."""
    evil = "x' OR '1'='1'; DROP TABLE habitantes; --"
    assert isinstance(await adapter.lookup(request_for("DNI", evil)), NotFound)
    assert isinstance(await adapter.lookup(request_for("DNI", "12345678Z")), Found)


async def test_two_rows_are_a_protocol_error_unless_first_is_asked(
    adapter: SqlAdapter, database_url: str
) -> None:
    """A non-unique key is the registry's problem, reported; `multiple_rows: first` allows it."""
    with pytest.raises(LegacyError) as caught:
        await adapter.lookup(request_for("DNI", "87654321X"))
    assert caught.value.kind is LegacyErrorKind.PROTOCOL
    assert "87654321X" not in caught.value.detail
    first = SqlAdapter(
        settings(database_url, query=QUERY + " ORDER BY fecha_alta", multiple_rows="first")
    )
    await first.open()
    try:
        result = await first.lookup(request_for("DNI", "87654321X"))
    finally:
        await first.close()
    assert isinstance(result, Found)
    assert result.record["cod_mun"] == "46250"


async def test_a_missing_table_is_a_configuration_error(database_url: str) -> None:
    """A query over a table that does not exist fails as CONFIGURATION, without the value."""
    broken = SqlAdapter(settings(database_url, query=QUERY.replace("habitantes", "nadie")))
    await broken.open()
    try:
        with pytest.raises(LegacyError) as caught:
            await broken.lookup(request_for("DNI", "12345678Z"))
    finally:
        await broken.close()
    assert caught.value.kind is LegacyErrorKind.CONFIGURATION
    assert not caught.value.retriable
    assert "12345678Z" not in str(caught.value)


async def test_a_request_without_the_bound_field_is_a_configuration_error(
    adapter: SqlAdapter,
) -> None:
    """params naming a field the request lacks is reported with the field's path."""
    with pytest.raises(LegacyError, match=r"subject\.document_number"):
        await adapter.lookup({"subject": {"document_type": "DNI"}})


async def test_an_unreachable_postgres_is_unavailable_and_retriable() -> None:
    """Nothing listens on the port: open() fails fast as UNAVAILABLE, retriable."""
    url = f"postgresql+asyncpg://u:p@127.0.0.1:{free_port()}/db"
    adapter = SqlAdapter(settings(url, timeout_s=5))
    with pytest.raises(LegacyError) as caught:
        await adapter.open()
    assert caught.value.kind in {LegacyErrorKind.UNAVAILABLE, LegacyErrorKind.TIMEOUT}
    assert caught.value.retriable


async def test_an_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    """A database file in a directory that does not exist cannot be opened."""
    adapter = SqlAdapter(settings(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db"))
    before = set(threading.enumerate())
    with pytest.raises(LegacyError) as caught:
        await adapter.open()
    assert caught.value.kind is LegacyErrorKind.UNAVAILABLE
    # aiosqlite stops the failed connection's worker thread asynchronously, and that
    # thread reports back to the loop: let it finish before the test's loop closes.
    started = [t for t in threading.enumerate() if t not in before]
    deadline = time.monotonic() + 10
    while any(t.is_alive() for t in started):
        assert time.monotonic() < deadline, "aiosqlite's worker thread did not stop"
        await asyncio.sleep(0.01)


async def test_lookup_before_open_is_refused(tmp_path: Path) -> None:
    """A runtime that forgot open() gets a clear error, not an AttributeError."""
    adapter = SqlAdapter(settings(_sqlite(tmp_path / "x.db")))
    with pytest.raises(LegacyError, match="not open"):
        await adapter.lookup(request_for("DNI", "1"))


async def test_a_slow_query_times_out_and_the_pool_recovers(
    postgres_dsn: str,
) -> None:
    """PostgreSQL stuck in pg_sleep: TIMEOUT (retriable); the next query works again."""
    url = await _postgres(postgres_dsn)
    slow = SqlAdapter(
        settings(
            url,
            query="SELECT nombre FROM habitantes, pg_sleep(:pause)"
            " WHERE tipo_doc = :document_type AND num_doc = :number",
            params={
                "number": "subject.document_number",
                "document_type": "subject.document_type",
                "pause": "pause",
            },
            timeout_s=0.5,
        )
    )
    await slow.open()
    try:
        with pytest.raises(LegacyError) as caught:
            await slow.lookup({**request_for("DNI", "12345678Z"), "pause": 30})
        assert caught.value.kind is LegacyErrorKind.TIMEOUT
        assert caught.value.retriable
        result = await slow.lookup({**request_for("DNI", "12345678Z"), "pause": 0})
    finally:
        await slow.close()
    assert isinstance(result, Found)
    assert result.record["nombre"] == "Ana"
