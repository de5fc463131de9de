"""``open_consent_store(url)``: the consent store of the exchange store's database."""

from __future__ import annotations

from gateway.consent.store import ConsentStore
from gateway.consent.store_postgres import PostgresConsentStore
from gateway.consent.store_sqlite import SqliteConsentStore
from storage import InvalidStoreUrlError, parse_store_url

__all__ = ["open_consent_store"]


def open_consent_store(url: str) -> ConsentStore:
    """The consent store of the database ``url`` names (not yet opened)."""
    parsed = parse_store_url(url)
    if parsed.backend == "sqlite" and parsed.path is not None:
        return SqliteConsentStore(parsed.path)
    if parsed.backend == "postgresql" and parsed.dsn is not None:
        return PostgresConsentStore(parsed.dsn)
    raise InvalidStoreUrlError(f"no consent store for {parsed.display}")
