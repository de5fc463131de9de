"""Cluster administration: is the broker there, and (with topics) provisioning.

aiokafka's admin client is wrapped here and nowhere else; its errors become ``BusError``s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bus.errors import BrokerUnavailableError

__all__ = ["ClusterInfo", "probe_cluster", "wait_for_cluster"]


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """What a metadata request says about the cluster."""

    cluster_id: str | None
    controller_id: int | None
    broker_count: int


async def probe_cluster(bootstrap_servers: str, *, timeout_s: float = 5.0) -> ClusterInfo:
    """Send one metadata request; raise ``BrokerUnavailableError`` if it is not answered."""
    request_timeout_ms = max(1000, int(timeout_s * 1000))
    with _quiet_connection_errors():
        return await _describe(bootstrap_servers, request_timeout_ms, timeout_s)


async def _describe(
    bootstrap_servers: str, request_timeout_ms: int, timeout_s: float
) -> ClusterInfo:
    client = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=request_timeout_ms,
        client_id="interop-probe",
    )
    try:
        async with asyncio.timeout(timeout_s):
            await client.start()
            described = await client.describe_cluster()
    except (KafkaError, OSError, TimeoutError) as exc:
        raise BrokerUnavailableError(
            f"no Kafka broker answered a metadata request at {bootstrap_servers}: "
            f"{type(exc).__name__}"
        ) from exc
    finally:
        await client.close()
    brokers = described.get("brokers") or []
    if not brokers:
        raise BrokerUnavailableError(f"the broker at {bootstrap_servers} lists no brokers yet")
    return ClusterInfo(
        cluster_id=described.get("cluster_id"),
        controller_id=described.get("controller_id"),
        broker_count=len(brokers),
    )


@contextlib.contextmanager
def _quiet_connection_errors() -> Iterator[None]:
    """A refused connection is the expected answer of a probe; aiokafka logs it as an ERROR.

    The outcome is reported through the raised ``BrokerUnavailableError`` instead.
    """
    logger = logging.getLogger("aiokafka")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


async def wait_for_cluster(
    bootstrap_servers: str, *, timeout_s: float, interval_s: float = 0.25
) -> ClusterInfo:
    """Probe until the broker answers or ``timeout_s`` passes (then re-raise the last error)."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            return await probe_cluster(bootstrap_servers, timeout_s=max(1.0, min(5.0, remaining)))
        except BrokerUnavailableError:
            if time.monotonic() + interval_s >= deadline:
                raise
        await asyncio.sleep(interval_s)
