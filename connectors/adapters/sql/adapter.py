"""The ``sql`` adapter: 0 rows -> NotFound, 1 row -> Found, more -> PROTOCOL (or the first).

Every request value reaches the database as a bound parameter (SQLAlchemy ``text`` with
``:name`` binds), so a document number is never SQL. The engine hides parameters in its
own messages (``hide_parameters``), and SQLAlchemy's errors are translated in one place,
:func:`_translate`, into ``LegacyError`` kinds the runtime's retry policy understands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

import structlog
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from connectors.adapters.base import (
    Adapter,
    Found,
    LegacyConfigurationError,
    LegacyError,
    LegacyProtocolError,
    LegacyRejectedError,
    LegacyTimeoutError,
    LegacyUnavailableError,
    LookupResult,
    NotFound,
)
from connectors.adapters.request_values import field_value
from connectors.adapters.sql.settings import SqlSettings

__all__ = ["FACTORY", "SqlAdapter", "SqlAdapterFactory"]

_log = structlog.get_logger(__name__)
_SQLITE_SCHEMA_MESSAGES = ("no such table", "no such column", "near ", "ambiguous column")


class SqlAdapter:
    """One database, one query; the engine's pool is opened in ``open``."""

    def __init__(self, settings: SqlSettings) -> None:
        self._settings = settings
        self._query = text(settings.query)
        self._binds = {name: settings.request_field(name) for name in settings.bind_names}
        self._engine: AsyncEngine | None = None

    async def open(self) -> None:
        """Create the pool and connect once, so a wrong URL or password fails at start-up."""
        url = self._settings.url.get_secret_value()
        try:
            engine = create_async_engine(
                url,
                pool_size=self._settings.pool_size,
                max_overflow=0,
                pool_pre_ping=True,
                hide_parameters=True,
            )
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, TypeError) as exc:
            raise LegacyConfigurationError(
                f"cannot use the database URL: {type(exc).__name__}"
            ) from exc
        self._engine = engine
        try:
            async with asyncio.timeout(self._settings.timeout_s), engine.connect():
                pass
        except BaseException as exc:
            await engine.dispose()
            self._engine = None
            if isinstance(exc, Exception):
                raise _translate(exc) from exc
            raise
        _log.info("sql_adapter_opened", dialect=engine.dialect.name, binds=sorted(self._binds))

    async def close(self) -> None:
        """Close every pooled connection."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def lookup(self, request: Mapping[str, Any]) -> LookupResult:
        """Run the query with the request's values bound; map the rows to the answer."""
        if self._engine is None:
            raise LegacyConfigurationError("the sql adapter is not open")
        values = {bind: field_value(request, path) for bind, path in self._binds.items()}
        try:
            async with asyncio.timeout(self._settings.timeout_s), self._engine.connect() as conn:
                result = await conn.execute(self._query, values)
                rows = result.mappings().fetchmany(2)
        except (sa_exc.SQLAlchemyError, OSError, TimeoutError) as exc:
            raise _translate(exc) from exc
        if not rows:
            return NotFound()
        if len(rows) > 1 and self._settings.multiple_rows == "error":
            raise LegacyProtocolError(
                "the query returned more than one row for one request (multiple_rows: error)",
            )
        return Found(dict(rows[0]))


def _translate(exc: Exception) -> LegacyError:  # noqa: PLR0911 - one branch per family
    """The one place SQLAlchemy and driver errors become ``LegacyError`` kinds."""
    if isinstance(exc, LegacyError):
        return exc
    if isinstance(exc, TimeoutError):
        return LegacyTimeoutError("the database did not answer in time")
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection free in time
        return LegacyTimeoutError("no database connection became free in time")
    if isinstance(exc, sa_exc.DBAPIError) and (
        isinstance(exc, sa_exc.ProgrammingError) or _sqlite_schema_problem(exc)
    ):
        # A missing table or column, a syntax error: the configuration, not the request.
        # These messages name tables and columns, never bound values.
        reason = str(exc.orig).splitlines()[0][:200] if exc.orig is not None else ""
        return LegacyConfigurationError(f"the query failed: {reason}")
    if isinstance(exc, sa_exc.DataError):
        # The database refused a value's type or length; its message may echo the value.
        return LegacyRejectedError("the database refused a request value")
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError)):
        return LegacyUnavailableError(f"the database is unavailable ({_orig_name(exc)})")
    if isinstance(exc, OSError):
        return LegacyUnavailableError(f"cannot reach the database ({type(exc).__name__})")
    if isinstance(exc, sa_exc.DBAPIError):
        return LegacyUnavailableError(f"database error ({_orig_name(exc)})")
    return LegacyProtocolError(f"unexpected database failure ({type(exc).__name__})")


def _sqlite_schema_problem(exc: Exception) -> bool:
    """SQLite reports a missing table or a syntax error as an OperationalError."""
    if not isinstance(exc, sa_exc.OperationalError) or exc.orig is None:
        return False
    message = str(exc.orig)
    return message.startswith(_SQLITE_SCHEMA_MESSAGES)


def _orig_name(exc: sa_exc.DBAPIError | sa_exc.DisconnectionError) -> str:
    orig = getattr(exc, "orig", None)
    return type(orig).__name__ if orig is not None else type(exc).__name__


class SqlAdapterFactory:
    """Builds ``SqlAdapter`` from ``SqlSettings``."""

    kind: ClassVar[str] = "sql"
    settings_model: ClassVar[type[BaseModel]] = SqlSettings

    def build(self, settings: BaseModel) -> Adapter:
        """A closed adapter; the runtime opens it."""
        if not isinstance(settings, SqlSettings):
            raise TypeError("the sql adapter needs SqlSettings")
        return SqlAdapter(settings)


FACTORY = SqlAdapterFactory()
