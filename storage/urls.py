"""Store URLs: which backend, where, and how to name it without leaking its password.

Shared by every store of the project (the gateway's exchange, consent and audit stores, a
connector's reply store), so one URL form means the same everywhere.

``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` (SQLAlchemy's
convention: three slashes, then the path) pick SQLite; ``postgresql://`` (or
``postgres://``) URLs pick PostgreSQL and go to asyncpg unchanged. ``sqlite:///:memory:``
is refused: an in-memory store forgets everything when its process restarts (pending
exchanges, consents, the replies that make a redelivered request cheap).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, SecretStr

from contracts.errors import InteropError

__all__ = [
    "InvalidStoreUrlError",
    "StoreUrl",
    "StoreUrlSetting",
    "parse_store_url",
    "redact_url",
]

_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_SCHEMES = ("postgresql", "postgres")


class InvalidStoreUrlError(InteropError, ValueError):
    """The store URL names no backend we have, or no usable location (a config error).
    A ``ValueError`` too, so settings validators report it as a field problem."""

    code = "STORE_URL_INVALID"


@dataclass(frozen=True, slots=True)
class StoreUrl:
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
    """``url`` with its password (if any) replaced by ``***``; unparseable input hidden."""
    try:
        parts = urlsplit(url)
        if "password=" in parts.query:  # libpq also reads ?password=...
            query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
            parts = parts._replace(query=query)
        if parts.password is None:
            return urlunsplit(parts)
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal needs its brackets back
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        netloc = f"{parts.username or ''}:***@{host}{port}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        # A malformed URL may still hold a password somewhere: show only its scheme.
        return url.split(":", 1)[0] + "://<unparseable>"


def parse_store_url(url: str) -> StoreUrl:
    """Parse a store URL or raise ``InvalidStoreUrlError`` saying what is accepted."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        if not url.startswith(_SQLITE_PREFIX) or len(url) == len(_SQLITE_PREFIX):
            raise InvalidStoreUrlError(
                f"a SQLite store URL is sqlite:///<path to a file>, got {url!r}"
            )
        path = url[len(_SQLITE_PREFIX) :]
        if path == ":memory:" or path.startswith("file:") or "?" in path:
            raise InvalidStoreUrlError(
                "sqlite:///:memory: (and URI filenames or options) are not supported: an "
                "in-memory store forgets everything on restart; give a file path"
            )
        return StoreUrl(backend="sqlite", path=Path(path))
    if scheme in _POSTGRES_SCHEMES:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise InvalidStoreUrlError(
                f"malformed PostgreSQL store URL {redact_url(url)!r}"
            ) from None
        if not parts.hostname and "host=" not in parts.query:
            raise InvalidStoreUrlError(
                f"the PostgreSQL store URL {redact_url(url)!r} names no host: "
                "postgresql://user:password@host:port/database"
            )
        return StoreUrl(backend="postgresql", dsn=url)
    shown = redact_url(url) if "://" in url else "<not a URL>"
    raise InvalidStoreUrlError(
        f"unsupported store URL {shown!r}: use sqlite:///<path> or "
        "postgresql://user:password@host:port/database"
    )


def _checked(url: SecretStr) -> SecretStr:
    parse_store_url(url.get_secret_value())  # a ValueError: pydantic names the field
    return url


StoreUrlSetting = Annotated[SecretStr, AfterValidator(_checked)]
"""A store URL in settings (gateway, connectors), refused at load time when it names no
backend we have, with one sentence saying what is accepted."""
