"""The one settings root of every ``interop`` process, and the one loader.

``InteropSettings`` is composed of the packages' own models: ``kafka`` (``bus``), and one
section per process kind, ``gateway`` (``gateway.settings``) and ``connector``
(``connectors.config``). A process reads its file with ``load_settings`` and names the
section it needs; a shared file may hold several (the topics Job mounts the gateway's).

Loaded once, in the entry point, from a YAML file and the environment; then passed in
explicitly (no singleton). Environment variables override the file and use ``__`` between
levels: ``INTEROP__GATEWAY__HTTP__PORT=8081``, ``INTEROP__KAFKA__BOOTSTRAP_SERVERS=...``,
``INTEROP__CONNECTOR__AUDIT_DIGEST_KEY=...`` (secrets are best given this way).

The connector's Kafka settings are the root's ``kafka`` unless its section names its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import pydantic
import yaml
from pydantic import model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from bus import KafkaSettings
from connectors.config import ConnectorSettings
from contracts.errors import InteropError, validation_problems
from gateway.settings import GatewaySettings

__all__ = ["InteropSettings", "Section", "SettingsError", "load_settings"]

Section = Literal["kafka", "gateway", "connector"]


class SettingsError(InteropError):
    """The configuration file or environment does not make valid settings."""

    code = "INTEROP_SETTINGS_INVALID"


class InteropSettings(BaseSettings):
    """Kafka client settings and one section per process kind (each optional here; the
    loader requires the one a process runs)."""

    model_config = SettingsConfigDict(
        env_prefix="INTEROP__",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    gateway: GatewaySettings | None = None
    connector: ConnectorSettings | None = None

    only: ClassVar[Section | None] = None
    """Set by ``load_settings(only=...)``: the other sections are not read at all (the
    topics command needs only ``kafka`` from a file that also holds the gateway's)."""

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if cls.only is not None:
            data = {k: v for k, v in data.items() if k in (cls.only, "kafka")}
        connector = data.get("connector")
        if isinstance(connector, dict) and "kafka" not in connector and "kafka" in data:
            data = {**data, "connector": {**connector, "kafka": data["kafka"]}}
        return data

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


def load_settings(config_file: Path | None, *, only: Section | None = None) -> InteropSettings:
    """Read ``config_file`` (YAML) and the environment into the root.

    ``only``: read just that section (and ``kafka``), and require it. ``SettingsError``
    lists every problem, one ``section.field: what is wrong`` each, never a traceback.
    """
    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"{config_file}: no such configuration file")
    where = config_file or "the environment"

    class FromFile(InteropSettings):
        model_config = SettingsConfigDict(yaml_file=config_file)

    FromFile.only = only
    try:
        settings = FromFile()
    except pydantic.ValidationError as exc:
        raise SettingsError(f"{where}: invalid settings: {validation_problems(exc)}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{where}: not valid YAML: {exc}") from None
    except (ValueError, OSError) as exc:  # unreadable file, not a mapping at the top
        raise SettingsError(f"{where}: cannot be read: {exc}") from None
    if only is not None and only != "kafka" and getattr(settings, only) is None:
        raise SettingsError(f"{where}: no `{only}:` section")
    return settings
