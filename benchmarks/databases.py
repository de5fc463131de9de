"""The bench's stores: SQLite files in the work directory, or PostgreSQL databases of one run.

With PostgreSQL every run creates its own databases on the server (names unique to the
run, so a shared server is fine) and drops them when it ends, even after a failure:

* ``s<N>_gateways``: the exchange store, consent store and audit index of scenario N's
  gateways and of its audit indexer process, shared by the replicas as in production;
* ``s<N>_connectors``: the reply store of scenario N's connectors (one consumer group);
* ``indexer``: the index the audit indexer's catch-up rate is measured into.

With SQLite each gateway replica and each connector has its own file (a file cannot be
shared across hosts), and the scenario's indexer writes the first replica's.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from benchmarks.errors import BenchConfigError

__all__ = ["StoreLayout", "run_databases"]

_PURPOSES: Final = ("s1_gateways", "s1_connectors", "s2_gateways", "s2_connectors", "indexer")


@dataclass(frozen=True, slots=True)
class StoreLayout:
    """The store URL of every part of one run."""

    work_dir: Path
    databases: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Purpose (``s1_gateways``...) -> DSN; empty with SQLite."""

    def gateway(self, scenario: int, replica: str) -> str:
        return self._url(f"s{scenario}_gateways", replica)

    def connector(self, scenario: int, name: str) -> str:
        return self._url(f"s{scenario}_connectors", f"{name}-replies")

    def indexer(self, name: str) -> str:
        return self._url("indexer", name)

    def _url(self, purpose: str, file_stem: str) -> str:
        dsn = self.databases.get(purpose)
        return dsn if dsn is not None else f"sqlite:///{self.work_dir / (file_stem + '.db')}"


def _database_dsn(server_dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(server_dsn)._replace(path="/" + database))


async def _admin(server_dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(server_dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        # The DSN holds a password: name the kind of failure, never the DSN.
        raise BenchConfigError(
            f"cannot reach the PostgreSQL server for the bench ({type(exc).__name__})"
        ) from None


@asynccontextmanager
async def run_databases(work_dir: Path, server_dsn: str | None) -> AsyncIterator[StoreLayout]:
    """The run's store layout; with ``server_dsn`` (a superuser's), its databases exist
    inside the block and are dropped after it."""
    if server_dsn is None:
        yield StoreLayout(work_dir)
        return
    token = secrets.token_hex(4)
    names = {purpose: f"bench_{token}_{purpose}" for purpose in _PURPOSES}
    created: list[str] = []
    try:
        admin = await _admin(server_dsn)
        try:
            for name in names.values():
                await admin.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
        finally:
            await admin.close()
        yield StoreLayout(
            work_dir, {purpose: _database_dsn(server_dsn, name) for purpose, name in names.items()}
        )
    finally:
        if created:
            admin = await _admin(server_dsn)
            try:
                for name in created:
                    # FORCE: a part that did not stop cleanly may still hold a connection.
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
