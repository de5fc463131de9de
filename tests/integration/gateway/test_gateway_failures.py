"""Gateway-side failures are the gateway's, bounded in time, and do not burn the key.

The audit trail here writes to a topic that does not exist yet (the broker refuses to
create topics on demand), so every REQUESTED write fails for real; creating the topic is
the trail coming back. Issue #14, items 2 and 3.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.gateway.support import http, start_gateway


async def test_a_503d_key_retried_after_the_trail_returns_proceeds(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Trail down: 503 (never 502 PROVIDER_ERROR) within the audit write bound, nothing
    sent. Trail back: the same Idempotency-Key and body start a new exchange that completes
    with the provider's data; the refused one stays failed with a gateway code."""
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

        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(audit_topic, 1, 1)])
        finally:
            await admin.close()

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
