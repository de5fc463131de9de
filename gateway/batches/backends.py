"""``open_batch_store(url)``: the batch store in the database the exchange store uses."""

from __future__ import annotations

from gateway.batches.records import BatchStore
from gateway.batches.store_postgres import PostgresBatchStore
from gateway.batches.store_sqlite import SqliteBatchStore
from storage import InvalidStoreUrlError, parse_store_url

__all__ = ["open_batch_store"]


def open_batch_store(url: str) -> BatchStore:
    """The batch store of the database ``url`` names (not yet opened)."""
    parsed = parse_store_url(url)
    if parsed.backend == "sqlite" and parsed.path is not None:
        return SqliteBatchStore(parsed.path)
    if parsed.backend == "postgresql" and parsed.dsn is not None:
        return PostgresBatchStore(parsed.dsn)
    raise InvalidStoreUrlError(f"no batch store for {parsed.display}")
