"""The PostgreSQL database of one store: its asyncpg pool, migrations, error translation.

Every PostgreSQL store (exchanges, consents, a connector's replies) holds one of these and
keeps only its own SQL. ``error`` builds the store's own exception from a message, so
callers see one error type per store. Messages name the database by its redacted URL and
never carry its password: asyncpg can echo the DSN back, so the password is scrubbed
from driver messages too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Final
from urllib.parse import unquote, urlsplit

import asyncpg

from storage.lifecycle import StoreLifecycle
from storage.migrations import Migrations, SchemaTooNewError, migrate_postgres
from storage.urls import redact_url

__all__ = ["BACKEND_ERRORS", "PostgresDatabase", "PostgresStore"]

# What asyncpg and the network raise; everything else is a bug and passes through.
# (asyncpg's remaining classes are Warnings, which it never raises.)
BACKEND_ERRORS: Final[tuple[type[BaseException], ...]] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)


class PostgresDatabase:
    """A pool over ``dsn``, with ``component`` migrated when it opens."""

    def __init__(
        self,
        dsn: str,
        *,
        name: str,
        component: str,
        migrations: Migrations,
        error: Callable[[str], Exception],
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout_s: float = 10.0,
        command_timeout_s: float = 10.0,
    ) -> None:
        self._dsn = dsn
        self.display = redact_url(dsn)
        self._password = _password_of(dsn)
        self._name = name
        self._component = component
        self._migrations = migrations
        self._error = error
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout_s = connect_timeout_s
        self._command_timeout_s = command_timeout_s
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Create the pool and migrate (idempotent; safe for replicas starting together)."""
        if self._pool is not None:
            return
        with self.translate("open"):
            pool = asyncpg.create_pool(
                self._dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._connect_timeout_s,
                command_timeout=self._command_timeout_s,
            )
            await pool  # a failed start closes its own connections
            try:
                await migrate_postgres(pool, self._component, self._migrations)
            except SchemaTooNewError as exc:
                pool.terminate()
                raise self._error(f"{self._name} {self.display} {exc}") from None
            except BaseException:
                pool.terminate()
                raise
            self._pool = pool

    async def close(self) -> None:
        """Close the pool; safe to call twice."""
        pool, self._pool = self._pool, None
        if pool is not None:
            with self.translate("close"):
                await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        """The open pool; the store's error if it is not open."""
        if self._pool is None:
            raise self._error(f"{self._name} {self.display} is not open")
        return self._pool

    async def ping(self) -> None:
        """One round trip; the store's error if the server does not answer."""
        with self.translate("answer a ping"):
            await self.pool.fetchval("SELECT 1")

    @contextlib.contextmanager
    def translate(self, action: str) -> Iterator[None]:
        """The one place where asyncpg's and the network's errors become the store's."""
        try:
            yield
        except BACKEND_ERRORS as exc:
            detail = f"{type(exc).__name__}: {exc}"
            if self._password:
                detail = detail.replace(self._password, "***")
            raise self._error(f"{self._name} {self.display} could not {action}: {detail}") from exc


class PostgresStore(StoreLifecycle):
    """What every PostgreSQL store shares: its pool, lifecycle and ping; a store subclass
    says what it is (``name``, ``component``, ``migrations``, ``error``) and keeps its SQL."""

    _database: PostgresDatabase

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout_s: float = 10.0,
        command_timeout_s: float = 10.0,
    ) -> None:
        self._database = PostgresDatabase(
            dsn,
            name=self.name,
            component=self.component,
            migrations=self.migrations,
            error=self.error,
            min_size=min_size,
            max_size=max_size,
            connect_timeout_s=connect_timeout_s,
            command_timeout_s=command_timeout_s,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._database.display!r})"


def _password_of(dsn: str) -> str | None:
    try:
        password = urlsplit(dsn).password
    except ValueError:
        return None
    return unquote(password) if password else None
