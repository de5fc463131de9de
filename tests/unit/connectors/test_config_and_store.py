"""connector.yaml errors name their field and file; the SQLite reply store keeps the first
reply of an exchange."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bus import ReplyStatus
from connectors.config import ConnectorSettings, settings_file_document
from connectors.reply_store import StoredReply
from connectors.reply_store_sqlite import SqliteReplyStore
from interop.settings import SettingsError, load_settings
from storage.urls import parse_store_url

KEY = "k" * 40


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(settings_file_document(doc)), encoding="utf-8")
    return path


def load_connector_settings(path: Path) -> ConnectorSettings:
    """What ``interop connector run`` reads: the root's ``connector`` section."""
    settings = load_settings(path, only="connector").connector
    assert settings is not None
    return settings


def _valid() -> dict[str, Any]:
    return {
        "member_id": "es.ine.padron",
        "audit_digest_key": KEY,
        "allow_unsigned": True,
        "services": [
            {
                "service": "register.residence-certificate",
                "version": "1.1",
                "handler": "tests.unit.connectors.fakes:nothing",
            }
        ],
    }


def _error(tmp_path: Path, doc: dict[str, Any]) -> str:
    with pytest.raises(SettingsError) as caught:
        load_connector_settings(_write(tmp_path, doc))
    return caught.value.message


def test_a_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    """Defaults: SQLite reply store, concurrency 8, three attempts."""
    settings = load_connector_settings(_write(tmp_path, _valid()))
    [service] = settings.services
    assert service.major == 1
    assert service.concurrency == 8
    assert service.retry.max_attempts == 3
    assert "sqlite:///" in settings.reply_store_url.get_secret_value()


def test_errors_name_the_file_and_every_bad_field(tmp_path: Path) -> None:
    """Two problems, both reported with their dotted path and the file name."""
    doc = _valid()
    doc["services"][0]["retry"] = {"max_attempts": 99}
    doc["services"][0]["concurrency"] = 0
    message = _error(tmp_path, doc)
    assert str(tmp_path / "connector.yaml") in message
    assert "services.0.retry.max_attempts" in message
    assert "services.0.concurrency" in message


def test_handler_and_adapter_are_exclusive(tmp_path: Path) -> None:
    """Neither: refused, naming the service entry."""
    doc = _valid()
    del doc["services"][0]["handler"]
    assert "exactly one of adapter or handler" in _error(tmp_path, doc)


def test_an_unknown_adapter_kind_lists_the_known_ones(tmp_path: Path) -> None:
    """adapter.kind: ftp -> the known kinds are listed."""
    doc = _valid()
    del doc["services"][0]["handler"]
    doc["services"][0]["adapter"] = {"kind": "ftp"}
    doc["services"][0]["mapping"] = {}
    message = _error(tmp_path, doc)
    assert "services.0.adapter" in message
    assert "sql" in message


def test_gateway_keys_are_required_unless_unsigned_is_allowed(tmp_path: Path) -> None:
    """No keys and no allow_unsigned: refused with what to do."""
    doc = _valid()
    del doc["allow_unsigned"]
    assert "gateway_keys" in _error(tmp_path, doc)


def test_short_digest_key_and_in_memory_store_are_refused(tmp_path: Path) -> None:
    """A 5-character key and sqlite:///:memory: are both named."""
    doc = _valid()
    doc["audit_digest_key"] = "short"
    doc["reply_store_url"] = "sqlite:///:memory:"
    message = _error(tmp_path, doc)
    assert "audit_digest_key: must be at least 32 characters" in message
    assert "reply_store_url" in message
    assert "in-memory" in message


def test_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """INTEROP__CONNECTOR__REPLY_STORE_URL wins over the file (secrets come this way)."""
    monkeypatch.setenv("INTEROP__CONNECTOR__REPLY_STORE_URL", "postgresql://u:pw@db:5432/x")
    settings = load_connector_settings(_write(tmp_path, _valid()))
    assert settings.reply_store_url.get_secret_value() == "postgresql://u:pw@db:5432/x"
    assert "pw" not in repr(settings)


def test_a_missing_file_and_bad_yaml_are_one_line_errors(tmp_path: Path) -> None:
    """No traceback: a SettingsError naming the file."""
    with pytest.raises(SettingsError, match="no such configuration file"):
        load_connector_settings(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("services: [unclosed", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"bad\.yaml: not valid YAML"):
        load_connector_settings(bad)


def test_store_urls_redact_passwords() -> None:
    """The display form never shows the password."""
    parsed = parse_store_url("postgresql://app:s3cret@db:5432/replies")
    assert "s3cret" not in parsed.display
    assert parse_store_url("sqlite:///x/y.db").path == Path("x/y.db")


async def test_sqlite_store_keeps_the_first_reply_and_purges_old_ones(tmp_path: Path) -> None:
    """put twice: the first reply wins and is returned; purge drops old ones; reopen keeps."""
    store = SqliteReplyStore(tmp_path / "r" / "replies.db")
    await store.open()
    now = datetime.now(UTC)
    first = StoredReply("ex-1", ReplyStatus.OK, None, b"\x00first", now)
    second = StoredReply("ex-1", ReplyStatus.ERROR, "PROVIDER_UNAVAILABLE", b"", now)
    assert await store.put(first) == first
    assert (await store.put(second)).value == b"\x00first"
    old = StoredReply("ex-old", ReplyStatus.NOT_FOUND, None, b"", now - timedelta(days=9))
    await store.put(old)
    assert await store.purge(now - timedelta(days=7)) == 1
    await store.close()
    reopened = SqliteReplyStore(tmp_path / "r" / "replies.db")
    await reopened.open()
    kept = await reopened.get("ex-1")
    assert kept is not None
    assert (kept.status, kept.value) == (ReplyStatus.OK, b"\x00first")
    assert await reopened.get("ex-old") is None
    await reopened.close()
