"""Store URLs and the factory: which backend a URL picks, and what never leaks from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.store import InvalidStoreUrlError, SqliteExchangeStore, open_store, parse_store_url
from storage.urls import redact_url


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///gateway.db", Path("gateway.db")),
        ("sqlite:///.interop/gateway.db", Path(".interop/gateway.db")),
        ("sqlite:////var/lib/interop/gateway.db", Path("/var/lib/interop/gateway.db")),
    ],
)
def test_sqlite_urls_follow_the_three_slash_convention(url: str, path: Path) -> None:
    """Three slashes then a relative path; a fourth slash makes it absolute."""
    parsed = parse_store_url(url)
    assert parsed.backend == "sqlite"
    assert parsed.path == path
    store = open_store(url)
    assert isinstance(store, SqliteExchangeStore)
    assert store.path == path


@pytest.mark.parametrize(
    "url", ["sqlite:///:memory:", "sqlite://", "sqlite:///", "sqlite:///x.db?mode=ro", "sqlite:x"]
)
def test_unusable_sqlite_urls_are_refused(url: str) -> None:
    """In-memory databases, URI options and missing paths are configuration errors."""
    with pytest.raises(InvalidStoreUrlError, match="sqlite"):
        open_store(url)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:s3cret-pw@h/db",
        "redis://:s3cret-pw@h:6379",
        "s3cret-pw",
        "",
        "postgresql://u:s3cret-pw@h:notaport/db",
        "postgresql://u:s3cret-pw@/db",
    ],
)
def test_unsupported_urls_say_what_is_accepted_and_hide_the_password(url: str) -> None:
    """An unknown scheme or bad URL is an InvalidStoreUrlError (a ValueError) without secrets."""
    with pytest.raises(InvalidStoreUrlError) as info:
        open_store(url)
    assert isinstance(info.value, ValueError)
    assert "s3cret-pw" not in str(info.value)
    assert "postgresql://" in str(info.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:s3cret@db.example:5432/x", "postgresql://u:***@db.example:5432/x"),
        ("postgresql://u:s3cret@[::1]:5432/x", "postgresql://u:***@[::1]:5432/x"),
        ("postgresql://u@h/x?password=s3cret&sslmode=require", None),
        ("postgresql://h/x", "postgresql://h/x"),
    ],
)
def test_redact_url_hides_passwords_wherever_they_are(url: str, shown: str | None) -> None:
    """Passwords in the authority and in ``?password=`` are replaced by ``***``."""
    redacted = redact_url(url)
    assert "s3cret" not in redacted
    if shown is not None:
        assert redacted == shown
    else:
        assert "password=***" in redacted
        assert "sslmode=require" in redacted
