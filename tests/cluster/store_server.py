"""The cluster suite's PostgreSQL server: where the gateway's and the connectors' stores
live (the production topology: replicas share PostgreSQL), and the lever that crashes it
and starts it again (issue #15, "the PostgreSQL store restarted mid-load").

The server is ``devservers.postgres`` (Debian's package, installed on demand), in a
directory of its own outside pytest's private tmp (under root it runs as ``postgres``,
who must reach it). Two databases: ``gateway`` (exchanges, consents, audit index) and
``connectors`` (the three connectors' reply store, one table keyed by exchange id).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg

from devservers.postgres import PostgresRunner, RunningPostgres

__all__ = ["DATABASES", "StoreServer", "store_server"]

DATABASES: Final = ("gateway", "connectors")


@dataclass
class StoreServer:
    """One running PostgreSQL server and its levers."""

    runner: PostgresRunner
    running: RunningPostgres

    def url(self, database: str) -> str:
        """The DSN of one of ``DATABASES`` (the superuser's: the stores migrate their tables)."""
        return self.running.dsn_for(database)

    def crash(self) -> None:
        """Every server process quits at once (``pg_ctl stop -m immediate``: no goodbye to
        the clients, no checkpoint; the next start recovers from the WAL)."""
        self.runner.stop(mode="immediate")

    def start(self) -> None:
        """Start it again on the same port and data (a no-op while it runs)."""
        self.running = self.runner.start(self.running.port)


@contextmanager
def store_server() -> Iterator[StoreServer]:
    """A fresh server with ``DATABASES`` created; stopped and removed afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="interop-cluster-pg-"))
    runner = PostgresRunner(data_dir)
    try:
        running = runner.start()
        asyncio.run(_create_databases(running.dsn))
        yield StoreServer(runner, running)
    finally:
        runner.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def _create_databases(dsn: str) -> None:
    admin = await asyncpg.connect(dsn)
    try:
        for name in DATABASES:
            await admin.execute(f'CREATE DATABASE "{name}"')
            # The dev server runs with synchronous_commit=off (speed, throw-away data): a
            # crash then loses the last ~0.6 s of acknowledged commits, which no
            # production store accepts. These databases commit durably, as production's do
            # (a database's setting wins over the server's command line).
            await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = on')
    finally:
        await admin.close()
