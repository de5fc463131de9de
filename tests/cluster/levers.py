"""The cluster's levers and gauges: who leads what, a node SIGKILLed / stopped / started
again (as an operator would, with ``KafkaCluster``), replication back to full, the
gateway's ``/readyz`` replication detail, and the window in which clients saw errors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import Any, Final

import aiohttp
from aiokafka.admin import AIOKafkaAdminClient

from devservers.kafka_cluster import KafkaCluster
from tests.faults.load import Load
from tests.faults.system import System

__all__ = [
    "AUDIT_TOPIC",
    "REQUEST_TOPIC",
    "error_window",
    "fully_replicated",
    "kill_node",
    "leaders",
    "out_of_every_isr",
    "readyz",
    "start_node",
    "stop_node",
]

AUDIT_TOPIC: Final = "interop.audit"
REQUEST_TOPIC: Final = "interop.req.register.residence-certificate.v1"
"""The request topic the load writes to (``tests.faults.load.residence_request``)."""
_HOST: Final = "127.0.0.1"


async def describe(system: System, topics: list[str]) -> list[dict[str, Any]]:
    """aiokafka's describe_topics for ``topics`` (any live node answers)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=system.bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        return await admin.describe_topics(topics)
    finally:
        await admin.close()


async def leaders(system: System, topic: str) -> dict[int, int]:
    """Partition -> the node leading it."""
    [described] = await describe(system, [topic])
    return {p["partition"]: p["leader"] for p in described["partitions"]}


def kill_node(system: System, node_id: int) -> None:
    """SIGKILL one node's JVM: no controlled shutdown, no flush (a lost machine)."""
    running = KafkaCluster(system.kafka_dir).node(node_id).status()
    assert running is not None, f"node {node_id} is not running"
    os.kill(running.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while KafkaCluster(system.kafka_dir).node(node_id).status() is not None:
        assert time.monotonic() < deadline, f"node {node_id} survived SIGKILL"
        time.sleep(0.05)


def stop_node(system: System, node_id: int) -> None:
    """Stop one node cleanly (SIGTERM: controlled shutdown moves its leaderships first)."""
    assert KafkaCluster(system.kafka_dir).node(node_id).stop(), f"node {node_id} was not running"


def start_node(system: System, node_id: int) -> None:
    """Start one node again on its own ports and data; returns once it answers."""
    KafkaCluster(system.kafka_dir).node(node_id).restart(_HOST)


async def fully_replicated(system: System, since: float, timeout_s: float = 90) -> float:
    """Seconds from ``since`` until every partition of the bus's topics has all its
    replicas in sync again (the returned node caught up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(Exception):
            admin = AIOKafkaAdminClient(bootstrap_servers=system.bootstrap)
            await admin.start()
            try:
                names = [t for t in await admin.list_topics() if t.startswith("interop.")]
                described = await admin.describe_topics(names)
            finally:
                await admin.close()
            if all(len(p["isr"]) == len(p["replicas"]) for t in described for p in t["partitions"]):
                return time.monotonic() - since
        assert time.monotonic() < deadline, "replication not back to full"
        await asyncio.sleep(0.5)


async def out_of_every_isr(system: System, node_id: int, timeout_s: float = 30) -> float:
    """Seconds until no partition of the bus's topics counts ``node_id`` in sync (the
    controller fenced it, after broker.session.timeout.ms, and shrank the ISRs)."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            admin = AIOKafkaAdminClient(bootstrap_servers=system.bootstrap)
            await admin.start()
            try:
                names = [t for t in await admin.list_topics() if t.startswith("interop.")]
                described = await admin.describe_topics(names)
            finally:
                await admin.close()
            if all(node_id not in p["isr"] for t in described for p in t["partitions"]):
                return time.monotonic() - started
        assert time.monotonic() - started < timeout_s, f"node {node_id} still in an ISR"
        await asyncio.sleep(0.5)


async def readyz(system: System) -> tuple[int, dict[str, Any]]:
    """The gateway's ``/readyz``: status and body ((0, {}) while it does not answer)."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(f"{system.url}/readyz") as response,
        ):
            body = await response.json(content_type=None)
            return response.status, body if isinstance(body, dict) else {}
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return 0, {}


async def gateway_gauge(system: System, name: str) -> float | None:
    """One unlabelled gauge of the gateway's ``/metrics``."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.get(f"{system.url}/metrics") as response,
    ):
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def error_window(load: Load, since: float) -> tuple[int, float, float]:
    """(errors, seconds from ``since`` to the first error's answer, to the last one's)
    over the error answers given after ``since``; (0, 0, 0) if none."""
    failed = [a for a in load.answers if not a.accepted and a.answered_at >= since]
    if not failed:
        return 0, 0.0, 0.0
    first = min(a.answered_at for a in failed) - since
    last = max(a.answered_at for a in failed) - since
    return len(failed), first, last
