"""The gateway's settings: one nested model of the root ``InteropSettings``.

Loaded once by the entry point (``interop gateway --config FILE``, file + environment)
and passed in explicitly; no module-level instance. Secrets (the store URL, which may hold
a password, and the key of the subject pseudonyms) are ``SecretStr``: they never appear
in a repr, a log line or an error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from bus import InvalidIdentifierError, parse_gateway_group_id
from bus.audit import AuditSettings
from contracts import DEFAULT_CATALOGUE_DIR
from gateway.auth import TlsSettings
from gateway.console import ConsoleSettings
from storage import StoreUrlSetting

__all__ = [
    "BatchSettings",
    "ExchangeSettings",
    "GatewaySettings",
    "HttpSettings",
    "RateLimitSettings",
    "SigningSettings",
]

_MIN_HMAC_KEY_CHARS = 32


def _gateway_group(text: str) -> str:
    try:
        return parse_gateway_group_id(text)
    except InvalidIdentifierError as exc:
        raise ValueError(exc.message) from exc


class HttpSettings(BaseModel):
    """Where the gateway listens and how much it accepts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65_535)] = 8080
    max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 256 * 1024
    """Larger request bodies are answered 413 PAYLOAD_TOO_LARGE without being read."""
    auth_failures_per_minute: Annotated[int, Field(ge=1, le=100_000)] = 30
    """Failed authentications one client address may make per minute; then its failing
    requests get 429 (good credentials from it are still served)."""


class ExchangeSettings(BaseModel):
    """Bounds of the exchange lifecycle: nobody waits without one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_wait_s: Annotated[float, Field(ge=0, le=300)] = 30.0
    """The cap on ``Prefer: wait=N``; a larger N is served as this many seconds."""
    default_wait_s: Annotated[float, Field(ge=0, le=300)] = 0.0
    """How long a POST without ``Prefer: wait`` waits (0: answer 202 at once)."""
    max_deadline_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    """The cap on an exchange's deadline (else the service's ``timeout_ms``)."""
    max_waiting: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    """How many callers may wait for a reply at once; more are answered 202."""
    expiry_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    """How often overdue exchanges are marked timed out in the store."""
    result_retention_days: Annotated[float, Field(gt=0, le=3650)] = 30.0
    """How long a provider's answer is kept after its exchange ended; then it is erased
    (the exchange's record and audit events stay)."""
    retention_interval_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    """How often results past retention are erased."""
    shutdown_timeout_s: Annotated[float, Field(ge=0, le=300)] = 10.0
    """On shutdown, how long in-flight requests may take to finish."""


class BatchSettings(BaseModel):
    """Batch exchanges (``POST /v1/batches``, ``docs/batches.md``): limits and fairness."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    """Mount the batch API and run the batch worker in this replica."""
    max_items: Annotated[int, Field(ge=1, le=100_000)] = 10_000
    """The most items one batch may hold; a larger batch is refused (400)."""
    max_body_bytes: Annotated[int, Field(ge=1024, le=256 * 1024 * 1024)] = 16 * 1024 * 1024
    """The body limit of ``POST /v1/batches`` only (other routes keep ``http.max_body_bytes``)."""
    rate_per_provider: Annotated[float, Field(gt=0, le=100_000)] = 20.0
    """Batch items sent per second to one provider by this replica (a token bucket), so
    interactive exchanges keep their latency."""
    burst_per_provider: Annotated[int, Field(ge=1, le=10_000)] = 5
    """How many batch items may go out at once after a pause (the bucket's size)."""
    max_in_flight: Annotated[int, Field(ge=1, le=10_000)] = 100
    """Items of one batch sent and not yet answered, at most."""
    lease_s: Annotated[float, Field(ge=1, le=3600)] = 10.0
    """How long a replica's claim on a batch lasts unless renewed; a dead replica's
    batches are taken over this long after it stopped renewing."""
    poll_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    """How often the worker looks for batches to work on and renews its leases."""


class RateLimitSettings(BaseModel):
    """Per-member token bucket (per replica)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    rate_per_s: Annotated[float, Field(gt=0)] = 50.0
    burst: Annotated[int, Field(ge=1)] = 100


class SigningSettings(BaseModel):
    """The key the gateway signs requests with (Ed25519; connectors hold its public key).

    Give the private key inline (``private_key``: raw 32-byte base64 or PEM) or as a file
    (``private_key_file``), not both. With neither, the gateway makes a key for this run
    only and logs its public key: fine for development, refused by every connector that
    was not told that key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: Annotated[
        str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/+-]*$")
    ] = "gateway-dev"
    """Travels in ``interop_key_id``; change it with the key, so connectors can trust both
    keys during a rotation."""
    private_key: SecretStr | None = None
    private_key_file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SigningSettings:
        if self.private_key is not None and self.private_key_file is not None:
            raise ValueError("give private_key or private_key_file, not both")
        return self


class GatewaySettings(BaseModel):
    """Everything one gateway replica needs besides the Kafka client settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    http: HttpSettings = HttpSettings()
    exchanges: ExchangeSettings = ExchangeSettings()
    batches: BatchSettings = BatchSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    member_id: Annotated[str, Field(min_length=1, max_length=200)] = "interop.gateway"
    """The gateway's own client id on the bus (requests carry the caller's member id)."""
    gateway_group: Annotated[str, AfterValidator(_gateway_group)] = "dev"
    """Replicas of one group share the reply topic ``interop.rep.<group>``."""
    reply_partitions: tuple[Annotated[int, Field(ge=0, le=10_000)], ...] = (0, 1, 2, 3)
    """The partitions of the reply topic this replica owns (disjoint across replicas)."""
    reply_offsets: Literal["committed", "latest"] = "committed"
    """``committed``: resume the reply topic where this replica stopped (no reply skipped
    across a restart); ``latest``: start at the end (development only)."""
    store_url: StoreUrlSetting = SecretStr("sqlite:///.interop/gateway.db")
    members_file: Path = Path(".interop/members.yaml")
    catalogue_dir: Path = DEFAULT_CATALOGUE_DIR
    tls: TlsSettings | None = None
    subject_hmac_key: SecretStr
    """The key of the subject pseudonyms (HMAC-SHA-256); at least 32 characters."""
    audit: AuditSettings = AuditSettings()
    """The audit trail (topic, write timeout) and its indexer (checkpoint key, origin)."""
    signing: SigningSettings = SigningSettings()
    """The key every request this gateway produces is signed with."""
    field_encryption: Literal["required", "when_keyed"] = "when_keyed"
    """Requests' personal fields are sealed for their provider (``bus.field_encryption``)
    when it lists an encryption key in the members file. ``required``: a provider without
    one is refused (503) rather than sent identifiers in clear; use it in production once
    every provider has a key (``interop dev`` does)."""
    console: ConsoleSettings = ConsoleSettings()
    """The web console under ``/console/`` (``docs/console.md``)."""
    verify_replies: bool = True
    """Accept only replies signed by the exchange's provider and bound to the request
    (``gateway.reply_verification``); ``false`` is for development only."""

    @field_validator("reply_partitions")
    @classmethod
    def _distinct(cls, partitions: tuple[int, ...]) -> tuple[int, ...]:
        if not partitions or len(set(partitions)) != len(partitions):
            raise ValueError("list at least one partition, each once")
        return partitions

    @field_validator("subject_hmac_key")
    @classmethod
    def _long_enough(cls, key: SecretStr) -> SecretStr:
        if len(key.get_secret_value()) < _MIN_HMAC_KEY_CHARS:
            raise ValueError(f"must be at least {_MIN_HMAC_KEY_CHARS} characters")
        return key

    @property
    def reply_offsets_group(self) -> str | None:
        """The consumer group that stores this group's reply offsets (no membership)."""
        if self.reply_offsets == "latest":
            return None
        return f"interop.gateway.{self.gateway_group}.replies"
