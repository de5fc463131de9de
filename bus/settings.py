"""Settings of the bus's Kafka clients (one nested model of the application's settings).

Loaded once by the entry point (pydantic-settings at the root) and passed in explicitly;
there is no module-level instance. The security fields (TLS, mTLS, SASL/SCRAM) are turned
into aiokafka arguments in exactly one place, ``bus.kafka_security``, which every producer,
consumer and admin client of the bus uses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from bus.signed_time import MAX_REQUEST_LIFETIME_S

__all__ = ["KafkaSecurityProtocol", "KafkaSettings", "SaslMechanism"]

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512"]

_BOOTSTRAP_RE: Final = re.compile(r"[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}")


def _check_bootstrap(value: str) -> str:
    servers = [part.strip() for part in value.split(",")]
    if not servers or any(_BOOTSTRAP_RE.fullmatch(server) is None for server in servers):
        raise ValueError("must be a comma-separated list of host:port")
    return ",".join(servers)


class KafkaSettings(BaseModel):
    """How the bus's producers and consumers talk to Kafka."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: Annotated[str, AfterValidator(_check_bootstrap)] = "127.0.0.1:9092"
    """Comma-separated ``host:port`` of some brokers of the cluster."""
    client_id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")] = (
        "interop-bus"
    )
    """Names this process in the brokers' logs, quotas and ACL audit."""

    # Producer: no lingering. Request-reply is a chain of produces (audit, request, reply,
    # audit) each waiting for its acks, so every millisecond of linger is paid several
    # times per exchange; and aiokafka batches anyway while a produce is in flight (one
    # per partition with idempotence). Measured with interop bench's floor on 2 cores:
    # linger 5 ms -> 0 took c=64 from ~2,300 to ~8,500 request-replies/s and p99 from 45
    # to 13 ms. Batches are bounded so one slow partition cannot hold megabytes of memory.
    linger_ms: Annotated[int, Field(ge=0, le=100)] = 0
    """How long the producer waits to batch concurrent records."""
    max_batch_size: Annotated[int, Field(ge=1024, le=1_048_576)] = 65_536
    max_request_size: Annotated[int, Field(ge=1024, le=16_777_216)] = 1_048_576
    # Only gzip needs no extra native library in aiokafka.
    compression_type: Literal["gzip"] | None = None
    """Producer compression (only gzip needs no native library)."""

    # How long a single Kafka client request (metadata, produce, commit) may take.
    request_timeout_ms: Annotated[int, Field(ge=1000, le=300_000)] = 30_000
    """How long one Kafka client request (metadata, produce, commit) may take."""

    # Consumer groups: how fast a dead member is noticed; a rebalance pauses the whole
    # group (aiokafka has no cooperative rebalancing), so handlers are kept short.
    session_timeout_ms: Annotated[int, Field(ge=6000, le=300_000)] = 10_000
    """How fast a dead consumer-group member is noticed."""
    heartbeat_interval_ms: Annotated[int, Field(ge=100, le=100_000)] = 3_000
    max_poll_interval_ms: Annotated[int, Field(ge=10_000, le=3_600_000)] = 300_000

    # Request-reply: the deadline of a request when the caller gives none, and how many
    # requests one requester may have waiting for a reply at once.
    default_request_timeout_s: Annotated[float, Field(gt=0, le=MAX_REQUEST_LIFETIME_S)] = 10.0
    """Deadline of a request-reply call when the caller gives none."""
    max_pending_requests: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    """Requests one requester may have waiting for a reply at once."""

    # Security (Kafka's own names, so they read like a broker's client.properties).
    security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    """``SSL`` or ``SASL_SSL`` in production; ``PLAINTEXT`` only on a development broker."""
    ssl_cafile: Path | None = None
    """PEM file of the CA(s) that signed the brokers' certificates (else the system's)."""
    ssl_certfile: Path | None = None
    """PEM client certificate (chain) for mutual TLS; give it with ``ssl_keyfile``."""
    ssl_keyfile: Path | None = None
    """PEM private key of ``ssl_certfile``."""
    ssl_key_password: SecretStr | None = None
    """Password of an encrypted ``ssl_keyfile``."""
    ssl_check_hostname: bool = True
    """Check that the broker's certificate names the host connected to; keep it on."""
    sasl_mechanism: SaslMechanism | None = None
    """SASL/SCRAM mechanism for ``SASL_SSL`` / ``SASL_PLAINTEXT``."""
    sasl_username: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    """SCRAM user name (the broker's ``kafka-configs --alter --add-config SCRAM-...``)."""
    sasl_password: SecretStr | None = None
    """SCRAM password; give it through the environment (a Secret), not the file."""

    @model_validator(mode="after")
    def _coherent_security(self) -> KafkaSettings:
        # A half-configured security setup must fail at load time, naming the field,
        # not as an opaque handshake failure at the first connection.
        tls = self.security_protocol in ("SSL", "SASL_SSL")
        sasl = self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")
        tls_fields = {
            "ssl_cafile": self.ssl_cafile,
            "ssl_certfile": self.ssl_certfile,
            "ssl_keyfile": self.ssl_keyfile,
            "ssl_key_password": self.ssl_key_password,
        }
        if not tls:
            given = [name for name, value in tls_fields.items() if value is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} need security_protocol SSL or SASL_SSL, "
                    f"not {self.security_protocol}"
                )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("give ssl_certfile and ssl_keyfile together (mutual TLS)")
        if self.ssl_key_password is not None and self.ssl_keyfile is None:
            raise ValueError("ssl_key_password needs ssl_keyfile")
        sasl_fields = {
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_username": self.sasl_username,
            "sasl_password": self.sasl_password,
        }
        if sasl:
            missing = [name for name, value in sasl_fields.items() if value is None]
            if missing:
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs {', '.join(missing)}"
                )
        else:
            given = [name for name, value in sasl_fields.items() if value is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} need security_protocol SASL_SSL or SASL_PLAINTEXT, "
                    f"not {self.security_protocol}"
                )
        return self
