"""The ``sql`` adapter: one parameterised SELECT over any SQLAlchemy asyncio database."""

from connectors.adapters.sql.adapter import FACTORY, SqlAdapter, SqlAdapterFactory
from connectors.adapters.sql.settings import SqlSettings

__all__ = ["FACTORY", "SqlAdapter", "SqlAdapterFactory", "SqlSettings"]
