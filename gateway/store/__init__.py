"""The exchange store: one interface (``base``), SQLite by default, PostgreSQL when shared.

``open_store(url)`` builds the backend the URL names; it does not connect. The caller
awaits ``store.open()`` (which creates or migrates the schema) and ``store.close()``.
"""

from __future__ import annotations

from gateway.store.base import CreateOutcome, ExchangeRecord, ExchangeStatus, ExchangeStore
from gateway.store.postgres import PostgresExchangeStore
from gateway.store.sqlite import SqliteExchangeStore
from storage import InvalidStoreUrlError, StoreUrl, parse_store_url, redact_url

__all__ = [
    "CreateOutcome",
    "ExchangeRecord",
    "ExchangeStatus",
    "ExchangeStore",
    "InvalidStoreUrlError",
    "PostgresExchangeStore",
    "SqliteExchangeStore",
    "StoreUrl",
    "open_store",
    "parse_store_url",
    "redact_url",
]


def open_store(url: str) -> ExchangeStore:
    """The store ``url`` names, not yet opened; ``InvalidStoreUrlError`` if it names none."""
    parsed = parse_store_url(url)
    if parsed.backend == "sqlite" and parsed.path is not None:
        return SqliteExchangeStore(parsed.path)
    if parsed.backend == "postgresql" and parsed.dsn is not None:
        return PostgresExchangeStore(parsed.dsn)
    raise InvalidStoreUrlError(f"no exchange store for {parsed.display}")
