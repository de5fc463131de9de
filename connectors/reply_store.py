"""The reply store: what makes a redelivered request cheap and its reply identical.

Kafka delivers at least once: a connector that crashed after replying but before
committing sees the request again. The runtime keeps every reply it produced, by
exchange id, and answers a redelivery from here, so the legacy registry is asked once
and the requester always gets the same reply bytes. ``put`` keeps the *first* reply of
an exchange (``INSERT ... ON CONFLICT DO NOTHING``) and returns whichever reply is
stored, so two connector replicas racing on one exchange still send the same answer.

Backends: SQLite (default, one connector machine) in ``reply_store_sqlite``, PostgreSQL
(several replicas) in ``reply_store_postgres``; ``open_reply_store(url)`` picks one from a
store URL (``storage.urls``, the same form as the gateway's).
Both keep a per-component ``schema_version`` row (component ``connector_replies``), so
they may share a database with other components' tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from bus import ReplyStatus

__all__ = [
    "COMPONENT",
    "ReplyStore",
    "StoredReply",
]

COMPONENT: Final = "connector_replies"
_SQLITE_PREFIX: Final = "sqlite:///"


@dataclass(frozen=True, slots=True)
class StoredReply:
    """One produced reply: status, error code and the exact value bytes sent."""

    exchange_id: str
    status: ReplyStatus
    error_code: str | None
    value: bytes
    created_at: datetime


class ReplyStore(Protocol):
    """Replies by exchange id; every method raises ``ReplyStoreError`` on failure."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, exchange_id: str) -> StoredReply | None: ...

    async def put(self, reply: StoredReply) -> StoredReply:
        """Keep ``reply`` unless one is stored for its exchange; return the stored one."""
        ...

    async def purge(self, older_than: datetime) -> int:
        """Forget replies created before ``older_than``; how many went."""
        ...

    async def ping(self) -> None: ...
