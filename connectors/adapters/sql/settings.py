"""Settings of the ``sql`` adapter (the ``adapter:`` block with ``kind: sql``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["SqlSettings"]

_READ_ONLY = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)


class SqlSettings(BaseModel):
    """A read-only query whose ``:name`` bind parameters are filled from request fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sql"] = "sql"
    url: SecretStr
    """SQLAlchemy URL with an asyncio driver: ``sqlite+aiosqlite:///padron.db``,
    ``postgresql+asyncpg://user:pass@host/db``. A secret: it may hold a password."""
    query: str = Field(min_length=1)
    """One SELECT (or WITH ... SELECT) with ``:name`` bind parameters, never formatted text."""
    params: dict[str, str] = Field(default_factory=dict)
    """Bind parameter -> request field (dotted path); unlisted binds read the same-named field."""
    pool_size: int = Field(default=5, ge=1, le=100)
    """Connections kept open; also the most concurrent queries this adapter runs."""
    timeout_s: float = Field(default=5.0, gt=0, le=300)
    """Bound on connecting plus running the query."""
    multiple_rows: Literal["error", "first"] = "error"
    """More than one row: a PROTOCOL error (the key is not unique) or take the first."""

    @field_validator("query")
    @classmethod
    def _read_only_and_bound(cls, query: str) -> str:
        if not _READ_ONLY.match(query):
            raise ValueError("the query must be a SELECT (or WITH ... SELECT): adapters only read")
        if "{" in query:
            raise ValueError(
                "the query must take request values as :name bind parameters, not {placeholders}:"
                " values are never formatted into SQL"
            )
        return query

    @field_validator("url")
    @classmethod
    def _async_driver(cls, url: SecretStr) -> SecretStr:
        try:
            parsed = make_url(url.get_secret_value())
        except ArgumentError:
            raise ValueError("not a SQLAlchemy database URL") from None
        if "+" not in parsed.drivername:
            raise ValueError(
                f"name an asyncio driver in the URL (e.g. {parsed.drivername}+asyncpg or "
                f"{parsed.drivername}+aiosqlite), not the default blocking one"
            )
        return url

    @model_validator(mode="after")
    def _params_are_binds(self) -> SqlSettings:
        unknown = sorted(set(self.params) - set(self.bind_names))
        if unknown:
            raise ValueError(f"params {unknown} are not :bind parameters of the query")
        return self

    @property
    def bind_names(self) -> list[str]:
        """The query's bind parameter names."""
        return list(text(self.query).compile().params)

    def request_field(self, bind: str) -> str:
        """The request field a bind parameter is filled from."""
        return self.params.get(bind, bind)
