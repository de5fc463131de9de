"""A connector's /readyz says whether it can take requests (issue #14, item 8).

A dedicated real broker (its own data directory, ports below the ephemeral range) so the
test can stop it: not ready before the first assignment, ready once every service holds
partitions, 503 while the broker is down, ready again by itself when it returns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from bus.audit.trail import MemoryAuditTrail
from connectors import ConnectorRuntime
from devservers.kafka import KafkaRunner
from tests.integration.conftest import free_port
from tests.integration.connectors.support import make_world
from tests.integration.gateway.support import http


async def _status(port: int) -> tuple[int, str]:
    status, _, body = await http("GET", f"http://127.0.0.1:{port}/readyz")
    return status, str(body)


async def _until(port: int, wanted: int, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = await _status(port)
        if status == wanted:
            return body
        assert time.monotonic() < deadline, f"/readyz stayed {status} ({body}), not {wanted}"
        await asyncio.sleep(0.2)


async def test_readiness_follows_assignment_and_the_broker(
    tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """503 until partitions are assigned; 200; 503 with the broker stopped; 200 again."""
    runner = KafkaRunner(tmp_path / "kafka")
    port, controller = free_port(), free_port()
    broker = await asyncio.to_thread(runner.start, port=port, controller_port=controller)
    try:
        world = await make_world(broker.bootstrap_servers, tmp_path, unique_name)
        runtime = ConnectorRuntime(
            world.connector_settings(health={"enabled": True, "port": 0}),
            audit=lambda _producer: MemoryAuditTrail(),
        )
        await runtime.start()
        try:
            assert runtime.health is not None
            health = runtime.health.port
            if not [c for c in runtime._consumers if c.assignment]:
                status, body = await _status(health)
                assert status == 503, body
            await runtime.wait_assigned(timeout_s=30)
            await _until(health, 200, timeout_s=15)
            await asyncio.to_thread(runner.stop)
            body = await _until(health, 503, timeout_s=15)
            assert "broker" in body
            await asyncio.to_thread(runner.start, port=port, controller_port=controller)
            await _until(health, 200, timeout_s=60)
        finally:
            await runtime.stop()
    finally:
        await asyncio.to_thread(runner.stop)
