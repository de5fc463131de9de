"""``StoreLifecycle``: what every store does with its database, whatever the backend."""

from __future__ import annotations

from typing import ClassVar, Protocol

from storage.migrations import Migrations

__all__ = ["Database", "StoreLifecycle"]


class Database(Protocol):
    """A store's database (``SqliteDatabase``, ``PostgresDatabase``)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...


class StoreLifecycle:
    """Open, close and ping through the store's database; a store subclass says what it
    is (``name``, ``component``, ``migrations``, ``error``) and keeps its own SQL."""

    name: ClassVar[str]
    component: ClassVar[str]
    migrations: ClassVar[Migrations]
    error: ClassVar[type[Exception]]
    _database: Database

    async def open(self) -> None:
        """Connect and migrate the schema (idempotent, safe for concurrent replicas)."""
        await self._database.open()

    async def close(self) -> None:
        """Release the connection or pool; safe to call twice."""
        await self._database.close()

    async def ping(self) -> None:
        """One trivial query; the store's error if it does not answer (for /readyz)."""
        await self._database.ping()
