"""Settings errors are one sentence naming the field, never a traceback or a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop.settings import SettingsError, load_settings

_KEY = "k" * 40


@pytest.mark.parametrize(
    "url",
    ["mysql://user:hunter22@db/exchanges", "sqlite://", "postgresql:///no-host", "file.db"],
)
def test_a_bad_gateway_store_url_is_refused_at_load_time(tmp_path: Path, url: str) -> None:
    """The gateway's ``store_url`` is checked like the connectors' reply store URL: the
    error names the field and what is accepted, and never shows the password."""
    config = tmp_path / "gateway.yaml"
    config.write_text(f'gateway:\n  store_url: "{url}"\n  subject_hmac_key: "{_KEY}"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    message = caught.value.message
    assert "gateway.store_url" in message
    assert "sqlite:///" in message or "postgresql://user:password@host" in message
    assert "hunter22" not in message
    assert "\n" not in message
    assert caught.value.code == "INTEROP_SETTINGS_INVALID"


def test_a_good_gateway_store_url_loads(tmp_path: Path) -> None:
    """A PostgreSQL URL with a password loads and keeps the password secret."""
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f'gateway:\n  store_url: "postgresql://u:pw@db:5432/x"\n  subject_hmac_key: "{_KEY}"\n'
    )
    settings = load_settings(config)
    assert settings.gateway.store_url.get_secret_value() == "postgresql://u:pw@db:5432/x"
    assert "pw" not in repr(settings.gateway.store_url)
