"""Two ``interop connector run`` processes for one provider sharing ``instance_id`` (KIP-345
static membership): a misconfiguration that must not lose a request, and must end in a
clear error from the member the broker fenced, while the other keeps serving.

A dedicated broker (its log is read for the fencing), one signing requester, two real
connector processes with their own health port and reply store; requests flow the whole
time. What aiokafka 0.14 lets happen today is asserted hard where it already holds (no
request lost; a connector that gives up exits 1 naming the setting; the broker saw the
second member take the instance id) and marked xfail where it does not (see the reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml

from bus import BusProducer, Requester
from connectors import settings_file_document
from devservers.kafka import KafkaRunner
from tests.integration.bus.kafka_helpers import wait_for
from tests.integration.conftest import free_port
from tests.integration.connectors.support import (
    DIGEST_KEY,
    KEY_ID,
    PROVIDER,
    World,
    make_world,
    terminate,
)
from tests.integration.gateway.support import http

ROOT = Path(__file__).resolve().parents[3]
INSTANCE_ID = "replica-0"
OBSERVE_S = 40.0  # the whole window; it ends early once one connector has exited
SETTLE_S = 5.0  # requests keep flowing this long after an exit: the survivor must serve them
ANSWERS_S = 30.0


@dataclass
class Replica:
    """One connector process and what it left behind."""

    name: str
    config: Path
    log: Path
    health_port: int
    process: subprocess.Popen[bytes] | None = None

    def events(self) -> list[dict[str, object]]:
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def plain_lines(self) -> list[str]:
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return [line for line in lines if line and not line.startswith("{")]


def _replica(name: str, world: World, bootstrap: str, tmp_path: Path) -> Replica:
    replica = Replica(name, tmp_path / f"{name}.yaml", tmp_path / f"{name}.log", free_port())
    section = {
        "member_id": PROVIDER,
        "kafka": {"bootstrap_servers": bootstrap, "heartbeat_interval_ms": 500},
        "catalogue_dir": str(world.cat.root),
        # Each replica its own store, as two pods with a local SQLite file would have.
        "reply_store_url": f"sqlite:///{tmp_path / (name + '-replies.db')}",
        "gateway_keys": {KEY_ID: world.public_key_text()},
        "audit_digest_key": DIGEST_KEY,
        "health": {"enabled": True, "host": "127.0.0.1", "port": replica.health_port},
        "instance_id": INSTANCE_ID,  # the misconfiguration under test: both use it
        "shutdown_timeout_s": 5,
        "services": [
            {
                "service": world.service,
                "version": "1.1",
                "handler": "tests.integration.connectors.handlers:counting",
                "group_id": f"{world.group}-connector",
            }
        ],
    }
    replica.config.write_text(yaml.safe_dump(settings_file_document(section)), encoding="utf-8")
    return replica


def _start(replica: Replica, calls_db: Path) -> None:
    env = {**os.environ, "INTEROP_TEST_CALLS_DB": str(calls_db), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "interop", "--log-format", "json", "connector", "run"]
    with replica.log.open("ab") as sink:
        replica.process = subprocess.Popen(
            [*command, str(replica.config)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


async def _ready(replica: Replica) -> int | None:
    """The /readyz status, or None when nothing answers on the port."""
    try:
        status, _, _ = await http("GET", f"http://127.0.0.1:{replica.health_port}/readyz")
    except aiohttp.ClientError:
        return None
    return status


async def _until_ready(replica: Replica, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while await _ready(replica) != 200:
        assert replica.process is not None
        assert replica.process.poll() is None, replica.log.read_text(encoding="utf-8")[-3000:]
        assert time.monotonic() < deadline, f"{replica.name} not ready in {timeout_s}s"
        await asyncio.sleep(0.2)


def _calls(calls_db: Path) -> Counter[str]:
    """Handler calls per exchange id, over both processes."""
    with sqlite3.connect(calls_db, timeout=30) as db:
        return Counter(
            exchange_id for (exchange_id,) in db.execute("SELECT exchange_id FROM calls")
        )


async def _send(world: World, requester: Requester, sent: list[str], count: int) -> None:
    for _ in range(count):
        envelope = world.envelope(requester, deadline_s=120)
        await requester.send(world.outbound(), envelope, world.request_value("FOUND-1"))
        sent.append(envelope.exchange_id)


async def _observe(
    world: World, requester: Requester, replicas: list[Replica], sent: list[str]
) -> dict[str, set[int | None]]:
    """Send two requests per round until one replica exited (plus SETTLE_S) or OBSERVE_S
    passed; returns every /readyz status each replica showed meanwhile."""
    seen: dict[str, set[int | None]] = {r.name: set() for r in replicas}
    deadline = time.monotonic() + OBSERVE_S
    while time.monotonic() < deadline:
        await _send(world, requester, sent, 2)
        for replica in replicas:
            seen[replica.name].add(await _ready(replica))
        exited = any(r.process is not None and r.process.poll() is not None for r in replicas)
        if exited:
            deadline = min(deadline, time.monotonic() + SETTLE_S)
        await asyncio.sleep(0.5)
    return seen


async def test_two_connectors_sharing_an_instance_id(
    tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """The first connector serves; a second starts with the same instance_id while requests
    keep coming. None may be lost; the fenced one must say why, exit 1, and stop serving."""
    runner = KafkaRunner(tmp_path / "kafka")
    broker = await asyncio.to_thread(runner.start, port=free_port(), controller_port=free_port())
    calls_db = tmp_path / "calls.db"
    replicas: list[Replica] = []
    try:
        world = await make_world(broker.bootstrap_servers, tmp_path, unique_name)
        first, second = (_replica(n, world, broker.bootstrap_servers, tmp_path) for n in "ab")
        replicas = [first, second]
        sent: list[str] = []
        async with BusProducer(world.kafka) as producer, world.requester(producer) as requester:
            _start(first, calls_db)
            await _until_ready(first, timeout_s=60)
            await _send(world, requester, sent, 10)
            _start(second, calls_db)
            seen = await _observe(world, requester, replicas, sent)
            with contextlib.suppress(AssertionError):  # the assertions below say what is missing
                await wait_for(
                    lambda: len(world.replies) >= len(sent), timeout_s=ANSWERS_S, what="replies"
                )
    finally:
        for replica in replicas:
            terminate(replica.process)
        await asyncio.to_thread(runner.stop)
    broker_log = runner.broker_log.read_text(encoding="utf-8", errors="replace")
    codes = {r.name: r.process.returncode for r in replicas if r.process is not None}
    calls = _calls(calls_db)
    twice = sorted(eid for eid, n in calls.items() if n > 1)

    # Holds today. No request is lost: every exchange got at least one reply.
    assert set(world.replies) == set(sent), f"{len(set(sent) - set(world.replies))} unanswered"
    # The broker let the second member take the instance id from the first.
    assert f"groupInstanceId={INSTANCE_ID}." in broker_log
    assert "Replacing previously mapped member" in broker_log
    # A connector that stops on its own does so with exit code 1 and one line naming the
    # setting to change, after logging which consumer was fenced; never 0, never a traceback.
    for replica in replicas:
        assert replica.process is not None
        if codes[replica.name] in (0, -signal.SIGTERM):
            continue  # stopped by this test
        assert codes[replica.name] == 1, replica.log.read_text(encoding="utf-8")[-3000:]
        assert f"instance_id: another running connector uses '{INSTANCE_ID}'" in "\n".join(
            replica.plain_lines()
        )
        fenced = [e for e in replica.events() if e.get("event") == "consumer_fenced"]
        assert fenced
        assert fenced[0]["error_code"] == "BUS_INSTANCE_FENCED"
        assert "Traceback" not in replica.log.read_text(encoding="utf-8")

    # The intended behaviour, not reached with aiokafka 0.14 (see the module's report).
    exited = [name for name, code in codes.items() if code == 1]
    if len(exited) != 1 or twice:
        pytest.xfail(
            f"exited with 1: {exited} (codes {codes}); {len(twice)} of {len(sent)} exchanges "
            f"handled twice; readiness seen {seen}. aiokafka 0.14 heartbeats (v0/v1) carry no "
            "group.instance.id, so the replaced member gets UNKNOWN_MEMBER_ID, rejoins as a "
            "restarted static member and replaces the other in turn (ping-pong); "
            "FENCED_INSTANCE_ID only arrives when a replacement lands between a member's "
            "JoinGroup and SyncGroup."
        )
    survivor = next(r for r in replicas if r.name not in exited)
    assert 200 in seen[survivor.name]
    assert codes[survivor.name] in (0, -signal.SIGTERM)  # it was still running
