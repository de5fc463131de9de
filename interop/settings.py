"""The root settings of an ``interop`` process: one object composed of per-package models.

Loaded once, in the entry point, from a YAML file and the environment; then passed in
explicitly (no singleton). Environment variables override the file and use ``__`` between
levels: ``INTEROP__GATEWAY__HTTP__PORT=8081``, ``INTEROP__KAFKA__BOOTSTRAP_SERVERS=...``,
``INTEROP__GATEWAY__SUBJECT_HMAC_KEY=...`` (secrets are best given this way).
"""

from __future__ import annotations

from pathlib import Path

import pydantic
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from bus import KafkaSettings
from contracts.errors import InteropError
from gateway.settings import GatewaySettings

__all__ = ["InteropSettings", "SettingsError", "load_settings"]


class SettingsError(InteropError):
    """The configuration file or environment does not make valid settings."""

    code = "INTEROP_SETTINGS_INVALID"


class InteropSettings(BaseSettings):
    """Kafka client settings and the gateway's (connectors and audit join later)."""

    model_config = SettingsConfigDict(
        env_prefix="INTEROP__",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    gateway: GatewaySettings

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file; the file is set by load_settings.
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None) -> InteropSettings:
    """Read ``config_file`` (YAML) and the environment; ``SettingsError`` lists every problem."""
    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"{config_file}: no such configuration file")

    class FromFile(InteropSettings):
        model_config = SettingsConfigDict(yaml_file=config_file)

    try:
        return FromFile()
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'top level'}: {err['msg']}"
            for err in exc.errors()
        )
        where = config_file or "the environment"
        raise SettingsError(f"{where}: invalid settings: {problems}") from exc
