"""SQL persistence shared by every store of the project: not Kafka plumbing, so not in ``bus``.

* ``storage.urls``: store URLs (``sqlite:///path``, ``postgresql://...``), parsed and
  redacted; ``StoreUrlSetting`` for settings models.
* ``storage.sqlite``: one SQLite file per store (WAL, busy timeout, private file modes,
  migrations, error translation) and ``SqliteStore``, the lifecycle every SQLite store shares.
* ``storage.postgres``: one asyncpg pool per store and ``PostgresStore``, likewise.
* ``storage.migrations``: numbered, append-only schema migrations for both backends.

Imports flow one way: ``contracts`` <- ``storage`` <- ``bus`` <- {``gateway``,
``connectors``} <- ``interop``. Each store (exchanges, consents, replies, the audit index)
keeps its own SQL in its own package.
"""

from storage.migrations import MIGRATION_LOCK_KEY, Migrations, SchemaTooNewError
from storage.postgres import PostgresDatabase, PostgresStore
from storage.sqlite import SqliteDatabase, SqliteStore, create_private
from storage.urls import (
    InvalidStoreUrlError,
    StoreUrl,
    StoreUrlSetting,
    parse_store_url,
    redact_url,
)

__all__ = [
    "MIGRATION_LOCK_KEY",
    "InvalidStoreUrlError",
    "Migrations",
    "PostgresDatabase",
    "PostgresStore",
    "SchemaTooNewError",
    "SqliteDatabase",
    "SqliteStore",
    "StoreUrl",
    "StoreUrlSetting",
    "create_private",
    "parse_store_url",
    "redact_url",
]
