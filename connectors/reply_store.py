"""The reply store: what makes a redelivered request cheap and its reply identical.

Kafka delivers at least once: a connector that crashed after replying but before
committing sees the request again. The runtime keeps every reply it produced, by
exchange id, and answers a redelivery from here, so the legacy registry is asked once
and the requester always gets the same reply bytes. ``put`` keeps the *first* reply of
an exchange (``INSERT ... ON CONFLICT DO NOTHING``) and returns whichever reply is
stored, so two connector replicas racing on one exchange still send the same answer.

Backends: SQLite (default, one connector machine) in ``reply_store_sqlite``, PostgreSQL
(several replicas) in ``reply_store_postgres``; ``open_reply_store(url)`` picks one.
Both keep a per-component ``schema_version`` row (component ``connector_replies``), so
they may share a database with other components' tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from bus import ReplyStatus

__all__ = [
    "COMPONENT",
    "InvalidReplyStoreUrlError",
    "ReplyStore",
    "ReplyStoreUrl",
    "StoredReply",
    "parse_reply_store_url",
    "redact_url",
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


class InvalidReplyStoreUrlError(ValueError):
    """The reply-store URL names no backend we have (a configuration error)."""


@dataclass(frozen=True, slots=True)
class ReplyStoreUrl:
    """A parsed store URL: ``path`` for SQLite, ``dsn`` (with its password) for PostgreSQL."""

    backend: Literal["sqlite", "postgresql"]
    path: Path | None = None
    dsn: str | None = None

    @property
    def display(self) -> str:
        """The URL as it may appear in messages and logs (password replaced)."""
        if self.backend == "sqlite":
            return f"{_SQLITE_PREFIX}{self.path}"
        return redact_url(self.dsn or "")


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (unparseable: only the scheme)."""
    try:
        parts = urlsplit(url)
        if "password=" in parts.query:
            parts = parts._replace(
                query=re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
            )
        if parts.password is None:
            return urlunsplit(parts)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}{port}"))
    except ValueError:
        return url.split(":", 1)[0] + "://<unparseable>"


def parse_reply_store_url(url: str) -> ReplyStoreUrl:
    """``sqlite:///<path>`` or ``postgresql://user:pw@host:port/db``; else a clear error."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        path = url[len(_SQLITE_PREFIX) :] if url.startswith(_SQLITE_PREFIX) else ""
        if not path:
            raise InvalidReplyStoreUrlError(
                "a SQLite reply store URL is sqlite:///<path to a file>"
            )
        if path == ":memory:" or path.startswith("file:") or "?" in path:
            raise InvalidReplyStoreUrlError(
                "an in-memory SQLite reply store forgets every reply on restart, so "
                "redelivered requests would reach the registry again: give a file path"
            )
        return ReplyStoreUrl(backend="sqlite", path=Path(path))
    if scheme in ("postgresql", "postgres"):
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise InvalidReplyStoreUrlError(
                f"malformed PostgreSQL URL {redact_url(url)!r}"
            ) from None
        if not parts.hostname and "host=" not in parts.query:
            raise InvalidReplyStoreUrlError(
                f"the PostgreSQL URL {redact_url(url)!r} names no host: "
                "postgresql://user:password@host:port/database"
            )
        return ReplyStoreUrl(backend="postgresql", dsn=url)
    raise InvalidReplyStoreUrlError(
        "unsupported reply store URL: use sqlite:///<path> or "
        "postgresql://user:password@host:port/database"
    )
