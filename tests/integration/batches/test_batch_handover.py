"""A batch passes from one replica's worker to another's, on PostgreSQL.

The gateway runs on the session's real PostgreSQL. Its worker is stopped mid-batch (as a
replica shutting down: it releases its leases); a second worker with another owner id
(another replica's, sharing the store and the exchange service) takes the batch over,
reads back the items already sent (their outcomes reach it through the exchange store,
not through its own replies) and sends the rest. Nothing is sent twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from gateway.batches import BatchMetrics, BatchWorker
from tests.integration.batches.support import batch_body, get_batch, read_results, wait_finished
from tests.integration.gateway.support import http, poll_until, start_gateway


async def test_a_released_batch_is_finished_by_another_worker_without_resending(
    kafka_bootstrap: str,
    tmp_path: Path,
    unique_name: Callable[[str], str],
    postgres_dsn: str,
) -> None:
    """60 items at 10/s; the first worker stops after ~15 are found; the second finishes
    the batch: 60 found, 60 distinct exchanges, each seen once by the provider."""
    overrides: dict[str, Any] = {
        "store_url": postgres_dsn,
        "batches": {"rate_per_provider": 10.0, "burst_per_provider": 1, "poll_interval_s": 0.2},
    }
    async with start_gateway(kafka_bootstrap, tmp_path, unique_name, **overrides) as gw:
        first = gw.gateway.batch_worker
        assert first is not None
        status, _, body = await http(
            "POST",
            f"{gw.base_url}/v1/batches",
            headers=gw.headers(),
            json=batch_body(gw, [f"FOUND-{i}" for i in range(60)]),
        )
        assert status == 202, body

        async def counts() -> dict[str, int]:
            return dict((await get_batch(gw, body["id"]))[1]["counts"])

        await poll_until(counts, lambda c: c["found"] >= 15, timeout_s=30, what="15 found")
        await first.stop()
        stopped = await counts()
        assert stopped["pending"] > 0  # work was left for the other replica
        stored = await gw.gateway.batch_store.get(body["id"])
        assert stored is not None
        assert stored.owner is None  # released, not left to expire
        second = BatchWorker(
            store=gw.gateway.batch_store,
            exchanges=gw.gateway.service,
            exchange_store=gw.gateway.store,
            directory=gw.gateway.directory,
            settings=gw.settings.batches,
            metrics=BatchMetrics(CollectorRegistry()),
            owner="another-replica",
        )
        second.start()
        try:
            final = await wait_finished(gw, body["id"], timeout_s=60)
        finally:
            await second.stop()
        assert final["counts"]["found"] == 60
        lines = await read_results(gw, body["id"])
        ids = [line["exchange_id"] for line in lines]
        assert len(set(ids)) == 60
        seen = Counter(envelope.exchange_id for envelope in gw.provider.requests)
        assert all(seen[i] == 1 for i in ids)
        assert sum(seen.values()) == 60
