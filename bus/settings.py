"""Settings of the bus's Kafka clients (one nested model of the application's settings).

Loaded once by the entry point (pydantic-settings at the root) and passed in explicitly;
there is no module-level instance. TLS/SASL fields come with the production deployment.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = ["KafkaSettings"]

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
    client_id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")] = (
        "interop-bus"
    )

    # Producer: a few milliseconds of lingering batches concurrent requests into one
    # produce request without adding noticeable latency; batches are bounded so that one
    # slow partition cannot hold megabytes of memory.
    linger_ms: Annotated[int, Field(ge=0, le=100)] = 5
    max_batch_size: Annotated[int, Field(ge=1024, le=1_048_576)] = 65_536
    max_request_size: Annotated[int, Field(ge=1024, le=16_777_216)] = 1_048_576
    # Only gzip needs no extra native library in aiokafka.
    compression_type: Literal["gzip"] | None = None

    # How long a single Kafka client request (metadata, produce, commit) may take.
    request_timeout_ms: Annotated[int, Field(ge=1000, le=300_000)] = 30_000

    # Consumer groups: how fast a dead member is noticed; a rebalance pauses the whole
    # group (aiokafka has no cooperative rebalancing), so handlers are kept short.
    session_timeout_ms: Annotated[int, Field(ge=6000, le=300_000)] = 10_000
    heartbeat_interval_ms: Annotated[int, Field(ge=100, le=100_000)] = 3_000
    max_poll_interval_ms: Annotated[int, Field(ge=10_000, le=3_600_000)] = 300_000

    # Request-reply: the deadline of a request when the caller gives none, and how many
    # requests one requester may have waiting for a reply at once.
    default_request_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    max_pending_requests: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
