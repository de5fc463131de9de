"""A gateway and ``interop audit index`` starting together on one PostgreSQL database.

Both migrate it at once: the gateway its exchange store, consent store and audit index,
the indexer process the audit index. They share the ``schema_version`` table; without one
lock for every component's migration, two ``CREATE TABLE IF NOT EXISTS`` collide in
PostgreSQL's catalogue (a duplicate-key error that stopped the gateway in the cluster
suite). Seen with real servers only, so tested with one.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from bus.audit import AuditIndex
from gateway.consent.backends import open_consent_store
from gateway.store import open_store


class _Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...


async def _open_together(stores: list[_Store]) -> None:
    try:
        await asyncio.gather(*(store.open() for store in stores))
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_every_store_migrates_one_fresh_database_at_once(postgres_dsn: str) -> None:
    """The stores of a gateway and of an indexer process open the same fresh database
    concurrently: all open and the audit index starts empty; a second round is a no-op."""
    index = AuditIndex(postgres_dsn)
    await _open_together(
        [
            open_store(postgres_dsn),
            open_consent_store(postgres_dsn),
            index,
            AuditIndex(postgres_dsn),
        ]
    )
    await index.open()
    try:
        state = await index.state()
        assert (state.next_offset, state.tree_size) == (0, 0)
    finally:
        await index.close()
    await _open_together([open_store(postgres_dsn), AuditIndex(postgres_dsn)])
