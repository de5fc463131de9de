"""The ``connector:`` section of a connector's settings: everything one connector process
serves, validated at start-up.

It is a section of the one settings root (``interop.settings.InteropSettings``), loaded
once by ``interop connector run`` from the YAML file (``kafka:`` and ``connector:``) and
the environment (``INTEROP__CONNECTOR__...`` variables override the file, ``__`` between
levels, e.g. ``INTEROP__CONNECTOR__REPLY_STORE_URL=postgresql://...``, best for secrets),
then passed in explicitly. Every problem is reported at once, each naming its field and
the file::

    connector.yaml: invalid settings: connector.services.0.retry.max_attempts: Input
    should be less than or equal to 20; connector.services.0.adapter.url: Field required

A service is served either by an adapter (``adapter: {kind: sql|rest|soap|file, ...}``
with the adapter package's own settings, plus a ``mapping`` from legacy fields to the
response schema) or by a Python handler (``handler: "package.module:function"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final

import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from bus import InvalidIdentifierError, KafkaSettings, parse_member_id, parse_service_id
from connectors.adapters.base import LegacyError
from connectors.adapters.registry import adapter_factory
from connectors.circuit import CircuitPolicy
from connectors.retry import RetryPolicy
from contracts import DEFAULT_CATALOGUE_DIR
from contracts.errors import validation_problems
from storage import StoreUrlSetting

__all__ = [
    "AdapterConfig",
    "ConnectorSettings",
    "HealthSettings",
    "ServiceConfig",
    "TimeoutSettings",
    "settings_file_document",
]

_MIN_DIGEST_KEY_CHARS: Final = 32
_VERSION_RE: Final = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?")
_HANDLER_RE: Final = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def _member(text: str) -> str:
    try:
        return parse_member_id(text)
    except InvalidIdentifierError as exc:
        raise ValueError(exc.message) from None


def _service(text: str) -> str:
    try:
        return parse_service_id(text)
    except InvalidIdentifierError as exc:
        raise ValueError(exc.message) from None


class AdapterConfig(BaseModel):
    """``kind`` and the adapter's own settings (checked by its ``FACTORY.settings_model``)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    kind: Annotated[str, Field(min_length=1)]

    @property
    def settings(self) -> dict[str, Any]:
        """Everything but ``kind``: the adapter package's settings document."""
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _adapter_settings(self) -> AdapterConfig:
        try:
            factory = adapter_factory(self.kind)
        except LegacyError as exc:
            raise ValueError(exc.detail) from None
        try:
            factory.settings_model.model_validate(self.settings)
        except pydantic.ValidationError as exc:
            problems = validation_problems(exc, ", ")
            raise ValueError(f"{self.kind} adapter settings: {problems}") from None
        return self


class TimeoutSettings(BaseModel):
    """How long a legacy call may take (the exchange's deadline bounds everything)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    """One attempt; a slower one is a retriable timeout."""
    reply_margin_s: Annotated[float, Field(ge=0, le=10)] = 0.2
    """Kept free before the deadline to store and produce the reply."""


class ServiceConfig(BaseModel):
    """One service version this connector serves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: Annotated[str, AfterValidator(_service)]
    version: Annotated[str, Field(pattern=_VERSION_RE.pattern)]
    """``MAJOR.MINOR`` the provider implements (its reader/writer schemas); ``MAJOR`` alone
    takes the newest locked minor of that major."""
    adapter: AdapterConfig | None = None
    handler: Annotated[str, Field(pattern=_HANDLER_RE.pattern)] | None = None
    """``package.module:function``: an async handler (see ``connectors.sdk``)."""
    mapping: dict[str, Any] | None = None
    """Legacy field -> response field (``connectors.mapping``); required with an adapter."""
    concurrency: Annotated[int, Field(ge=1, le=1024)] = 8
    """At most this many legacy calls at once (protects a fragile registry)."""
    max_in_flight: Annotated[int, Field(ge=1, le=4096)] | None = None
    """Records handled at once (default: twice ``concurrency``; replays need no slot)."""
    timeouts: TimeoutSettings = TimeoutSettings()
    retry: RetryPolicy = RetryPolicy()
    circuit: CircuitPolicy = CircuitPolicy()
    group_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,200}$")] | None = None
    """Consumer group (default ``interop.connector.<member>.<service>.v<major>``)."""

    @property
    def major(self) -> int:
        return int(self.version.split(".", maxsplit=1)[0])

    @model_validator(mode="after")
    def _one_answerer(self) -> ServiceConfig:
        if (self.adapter is None) == (self.handler is None):
            raise ValueError("give exactly one of adapter or handler")
        if self.adapter is not None and self.mapping is None:
            raise ValueError("an adapter needs a mapping from its fields to the response")
        return self


class HealthSettings(BaseModel):
    """Where ``/healthz``, ``/readyz`` and ``/metrics`` are served.

    ``enabled: false`` serves none (e.g. several connectors in one test process); port 0
    takes a free port (logged at start-up).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65_535)] = 9464
    enabled: bool = True


class ConnectorSigningSettings(BaseModel):
    """The key this connector signs its replies and audit events with (Ed25519).

    Its public key is in the members file under this connector's member, with the same
    ``key_id`` (``interop keys new --member <id>`` makes both). Give the private key
    inline (raw 32-byte base64 or PEM) or as a file (mode 0600), not both.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: Annotated[
        str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/+-]*$")
    ]
    private_key: SecretStr | None = None
    private_key_file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ConnectorSigningSettings:
        if (self.private_key is None) == (self.private_key_file is None):
            raise ValueError("give exactly one of private_key or private_key_file")
        return self


class ConnectorSettings(BaseModel):
    """The ``connector:`` section of a connector's settings file (``interop.settings``
    composes it into the one root; ``kafka`` is the root's unless given here)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    member_id: Annotated[str, AfterValidator(_member)]
    """The provider administration this connector answers for (``interop_provider``)."""
    kafka: KafkaSettings = KafkaSettings()
    services: Annotated[list[ServiceConfig], Field(min_length=1)]
    catalogue_dir: Path = DEFAULT_CATALOGUE_DIR
    reply_store_url: StoreUrlSetting = SecretStr("sqlite:///.interop/connector-replies.db")
    reply_retention_days: Annotated[float, Field(gt=0, le=3650)] = 7.0
    gateway_keys: dict[str, SecretStr] = {}
    """Key id -> the gateway's Ed25519 public key (raw 32-byte base64 or PEM). Several
    during a key rotation. Requests signed with any other key are refused."""
    members_file: Path | None = None
    """The members file (or a copy with only ids, roles and ``signing_keys``): the keys of
    every member with the ``gateway`` role are trusted for requests, next to
    ``gateway_keys``."""
    signing: ConnectorSigningSettings | None = None
    """This connector's own key: replies and audit events are signed with it. Without
    it they go unsigned, and a gateway that verifies replies refuses them."""
    field_keys: dict[str, SecretStr] = {}
    """Key id -> this provider's X25519 private key (raw 32-byte base64): opens the personal
    fields the gateway sealed for it (``bus.field_encryption``); several during a rotation.
    Give the public halves to the gateway's members file (``encryption_keys``). With keys
    configured, a request whose personal fields arrive in clear is refused."""
    allow_unsigned: bool = False
    """Development only: accept unsigned requests when no gateway key is configured."""
    audit_digest_key: SecretStr
    """HMAC-SHA-256 key of the payload digests in audit records; at least 32 characters."""
    health: HealthSettings = HealthSettings()
    shutdown_timeout_s: Annotated[float, Field(ge=0, le=300)] = 15.0
    """On SIGTERM, how long in-flight requests may take to finish."""
    instance_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")] | None = None
    """A stable name unique to this replica (a pod name): the connector then joins its
    consumer groups as a static member (``<instance_id>.<service>.v<major>``), so after a
    crash it gets its partitions back at once instead of after the session timeout. Two
    running replicas must never share it: they take the partitions from each other in turn
    and answer some requests twice, until the broker fences one (FENCED_INSTANCE_ID), which
    then exits 1 naming this setting."""

    @field_validator("audit_digest_key")
    @classmethod
    def _long_enough(cls, key: SecretStr) -> SecretStr:
        if len(key.get_secret_value()) < _MIN_DIGEST_KEY_CHARS:
            raise ValueError(f"must be at least {_MIN_DIGEST_KEY_CHARS} characters")
        return key

    @model_validator(mode="after")
    def _keys_and_services(self) -> ConnectorSettings:
        if not self.gateway_keys and self.members_file is None and not self.allow_unsigned:
            raise ValueError(
                "gateway_keys: give the gateway's public key(s) (key id: base64 or PEM) or "
                "members_file; allow_unsigned: true is for development only"
            )
        seen: set[tuple[str, int]] = set()
        for service in self.services:
            key = (service.service, service.major)
            if key in seen:
                raise ValueError(f"services: {service.service} v{service.major} is listed twice")
            seen.add(key)
        return self


def settings_file_document(section: Mapping[str, Any]) -> dict[str, Any]:
    """The YAML document of a connector's settings file (``interop.settings``' root) for a
    ``connector:`` section given flat, its ``kafka`` lifted to the root where it belongs."""
    connector = dict(section)
    kafka = connector.pop("kafka", None)
    return ({} if kafka is None else {"kafka": kafka}) | {"connector": connector}
