"""The audit indexer process's ``/readyz`` (``gateway.indexer_process``) against a real
broker: ready only when its partition is assigned, its last round went through and the
broker answers. An outside pass found it 200 through an 80 s broker outage and through
23 failed index writes."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bus import KafkaSettings
from bus.broker_wait import BrokerWait
from devservers.ports import free_server_port
from gateway.indexer_process import _serve_health


class _Indexer:
    """What ``/readyz`` asks of an ``AuditIndexer``."""

    def __init__(self) -> None:
        self.failing: str | None = None
        self.stats = None

    async def wait_assigned(self, timeout_s: float) -> None:
        return None


async def _readyz(kafka: KafkaSettings, indexer: _Indexer) -> tuple[int, dict[str, Any]]:
    port = free_server_port()
    runner = await _serve_health(indexer, kafka, "127.0.0.1", port, BrokerWait())  # type: ignore[arg-type]
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/readyz") as response,
        ):
            return response.status, await response.json()
    finally:
        await runner.cleanup()


async def test_ready_only_with_a_broker_and_a_last_round_that_went_through(
    kafka_bootstrap: str,
) -> None:
    indexer = _Indexer()
    assert await _readyz(KafkaSettings(bootstrap_servers=kafka_bootstrap), indexer) == (
        200,
        {"status": "ready"},
    )
    indexer.failing = "BUS_AUDIT_INDEX_UNAVAILABLE"
    status, body = await _readyz(KafkaSettings(bootstrap_servers=kafka_bootstrap), indexer)
    assert status == 503
    assert body["checks"] == {"index": "the last round failed (BUS_AUDIT_INDEX_UNAVAILABLE)"}
    indexer.failing = None
    nobody = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_server_port()}")
    status, body = await asyncio.wait_for(_readyz(nobody, indexer), timeout=30)
    assert status == 503
    assert set(body["checks"]) == {"broker"}
    assert body["checks"]["broker"] == "the Kafka broker does not answer"
