"""The gateway refuses an exchange at once when the partitions it needs refuse writes.

On the one test broker a request topic with replication factor 1 and
``min.insync.replicas=2`` refuses every write (``NotEnoughReplicas``), exactly as a
cluster with two of three brokers gone does. The gateway's replication health sees it,
and a POST is refused before anything is stored or sent: 503 ``BUS_REFUSING_WRITES``
with ``Retry-After``, at once; with ``min.insync.replicas`` back at 1, the same
Idempotency-Key proceeds and completes. ``/readyz`` stays 200 meanwhile (other services'
exchanges go on) and says "refusing". The topic's setting is restored in any case (the
broker is shared).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bus import RequestTopic, parse_service_id
from bus.admin import admin_client
from bus.settings import KafkaSettings
from tests.integration.gateway.support import RunningGateway, http, start_gateway


async def _set_min_isr(kafka: KafkaSettings, topic: str, value: int) -> None:
    admin = admin_client(kafka)
    await admin.start()
    try:
        resource = ConfigResource(
            ConfigResourceType.TOPIC, topic, {"min.insync.replicas": str(value)}
        )
        await admin.alter_configs([resource])
    finally:
        await admin.close()


async def _until_gate(gw: RunningGateway, topic: str, *, refusing: bool) -> None:
    """Until the gateway's replication health says ``topic`` refuses writes (or not)."""
    deadline = time.monotonic() + 30
    while gw.gateway.replication.latest().refuses(topic) is not refusing:
        assert time.monotonic() < deadline, gw.gateway.replication.latest()
        await asyncio.sleep(0.2)


async def test_partitions_refusing_writes_are_refused_at_once_then_recover(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Below min ISR: 503 BUS_REFUSING_WRITES with Retry-After in well under a second,
    nothing stored under the key, nothing sent, /readyz still 200 but saying "refusing";
    back to min ISR 1: the same key completes with the provider's data."""
    async with start_gateway(kafka_bootstrap, tmp_path, unique_name) as gw:
        topic = RequestTopic(parse_service_id(gw.cat.residence), 1).name
        url = f"{gw.base_url}/v1/exchanges"
        headers = gw.headers(Prefer="wait=10", **{"Idempotency-Key": "gate-1"})
        body = gw.body(unique_name("FOUND"))
        await _set_min_isr(gw.kafka, topic, 2)
        try:
            await _until_gate(gw, topic, refusing=True)
            started = time.monotonic()
            status, answer_headers, problem = await http("POST", url, headers=headers, json=body)
            elapsed = time.monotonic() - started
            ready, _, readiness = await http("GET", f"{gw.base_url}/readyz")
        finally:
            await _set_min_isr(gw.kafka, topic, 1)
        assert (status, problem["code"]) == (503, "BUS_REFUSING_WRITES"), problem
        assert problem["title"] == "The bus refuses writes"
        assert "nothing was stored or sent" in problem["detail"]
        assert int(answer_headers["Retry-After"]) >= 1
        assert elapsed < 1.0, elapsed
        assert gw.provider.requests == []
        assert ready == 200, readiness
        assert readiness["checks"]["kafka_replication"].startswith("refusing"), readiness
        await _until_gate(gw, topic, refusing=False)
        status, again_headers, answer = await http("POST", url, headers=headers, json=body)
    assert status == 200, answer
    assert "Idempotent-Replayed" not in again_headers  # the refused key had stored nothing
    assert answer["status"] == "completed"
    assert answer["found"] is True
