"""Gateway-side failures are the gateway's, bounded in time, and do not burn the key.

The audit trail here writes to a topic that does not exist yet (the broker refuses to
create topics on demand), so every REQUESTED write fails for real; creating the topic is
the trail coming back. Issue #14, items 2, 3 and 4.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bus.audit.event import AuditEventCodec, EventRow
from bus.settings import KafkaSettings
from tests.integration.bus.kafka_helpers import read_topic
from tests.integration.gateway.support import http, start_gateway


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()


async def _events_until(
    kafka: KafkaSettings, topic: str, done: Callable[[list[EventRow]], bool]
) -> list[EventRow]:
    """Every event on ``topic`` once ``done`` holds for them (AssertionError after 30 s)."""
    codec = AuditEventCodec()
    deadline = time.monotonic() + 30
    while True:
        rows = [codec.decode(r.value) for r in await read_topic(kafka, topic, count=1)]
        if done(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError([(r.type, r.outcome, r.exchange_id) for r in rows])


async def test_a_503d_key_retried_after_the_trail_returns_proceeds(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Trail down: 503 (never 502 PROVIDER_ERROR) within the audit write bound, nothing
    sent. Trail back: the same Idempotency-Key and body start a new exchange that completes
    with the provider's data; the refused one stays failed with a gateway code, and its
    FAILED closing event, owed while the trail was down, reaches the log once it is back."""
    audit_topic = unique_name("late-audit")
    async with start_gateway(
        kafka_bootstrap,
        tmp_path,
        unique_name,
        audit={"topic": audit_topic, "write_timeout_s": 1.0, "indexer": {"enabled": False}},
    ) as gw:
        body = gw.body(unique_name("FOUND"))
        headers = gw.headers(Prefer="wait=10", **{"Idempotency-Key": "retry-me-1"})
        url = f"{gw.base_url}/v1/exchanges"
        started = time.monotonic()
        status, _, problem = await http("POST", url, headers=headers, json=body)
        elapsed = time.monotonic() - started
        assert status == 503, problem
        assert problem["code"] == "SERVICE_UNAVAILABLE"
        assert "provider_code" not in problem
        assert elapsed < 5.0, elapsed
        assert gw.provider.requests == []
        status, _, again = await http("POST", url, headers=headers, json=body)
        assert status == 503, again
        assert again["detail"] != problem["detail"]  # the key was free: a new exchange
        refused = {p["detail"].split(":")[0].removeprefix("exchange ") for p in (problem, again)}

        await _create_topic(kafka_bootstrap, audit_topic)  # the trail comes back

        deadline = time.monotonic() + 30
        while True:
            status, reply_headers, done = await http("POST", url, headers=headers, json=body)
            if status != 503 or time.monotonic() > deadline:
                break
        assert status == 200, done
        assert done["status"] == "completed"
        assert done["data"]["municipality_code"] == "28005"
        assert "Idempotent-Replayed" not in reply_headers
        # Now the key names the completed exchange: a replay returns it.
        status, replay_headers, replay = await http("POST", url, headers=headers, json=body)
        assert (status, replay["id"]) == (200, done["id"])
        assert replay_headers["Idempotent-Replayed"] == "true"
        assert len(gw.provider.requests) == 1

        def closed(rows: list[EventRow]) -> bool:
            failed = [r for r in rows if r.type == "FAILED" and r.exchange_id in refused]
            return {r.exchange_id for r in failed} == refused

        rows = await _events_until(gw.kafka, audit_topic, closed)
        owed = [r for r in rows if r.exchange_id in refused and r.type == "FAILED"]
        assert {r.outcome for r in owed} == {"GATEWAY_AUDIT_FAILED"}
        assert len({r.event_id for r in owed}) == 2  # one closing event each
        assert [r.type for r in rows if r.exchange_id == done["id"]] == [
            "REQUESTED",
            "COMPLETED",
        ]


async def test_readyz_says_not_ready_while_audit_writes_fail_and_ready_once_they_land(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """The broker answers, but the trail refuses writes: after the grace period /readyz is
    503 naming ``audit_trail`` (not the broker, not the store); once the trail takes a
    write again, /readyz is 200 with every check ok."""
    audit_topic = unique_name("late-audit")
    async with start_gateway(
        kafka_bootstrap,
        tmp_path,
        unique_name,
        audit={"topic": audit_topic, "write_timeout_s": 1.0, "indexer": {"enabled": False}},
    ) as gw:
        url = f"{gw.base_url}/v1/exchanges"
        status, _, ready = await http("GET", f"{gw.base_url}/readyz")
        assert status == 200, ready
        deadline = time.monotonic() + 30
        while True:
            posted, _, _ = await http("POST", url, headers=gw.headers(), json=gw.body())
            assert posted == 503
            status, _, problem = await http("GET", f"{gw.base_url}/readyz")
            if status == 503 or time.monotonic() > deadline:
                break
        assert status == 503, problem
        assert "audit_trail" in problem["detail"]
        assert "broker" not in problem["detail"]
        assert "store" not in problem["detail"]

        await _create_topic(kafka_bootstrap, audit_topic)  # the trail comes back
        deadline = time.monotonic() + 30
        while True:
            posted, _, _ = await http(
                "POST", url, headers=gw.headers(Prefer="wait=10"), json=gw.body()
            )
            status, _, ready = await http("GET", f"{gw.base_url}/readyz")
            if (posted, status) == (200, 200) or time.monotonic() > deadline:
                break
        assert (posted, status) == (200, 200), ready
        replication = ready["checks"].pop("kafka_replication")
        assert replication.startswith("healthy"), replication
        assert ready["checks"] == {"broker": "ok", "audit_trail": "ok", "store": "ok"}
