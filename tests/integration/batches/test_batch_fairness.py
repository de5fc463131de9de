"""Interactive exchanges keep their latency while a 10,000-item batch runs (issue #17).

The issue's bound (interactive p99 at most twice what it is without a batch) is measured
and printed, not asserted: on a shared 2-core machine a p99 of a few hundred samples is
noise-bound. What is asserted is the mechanism that gives the bound: the batch's items
leave at the configured per-provider rate (never more than ``burst + rate * T`` in any
window of T seconds), and interactive requests are answered while the batch is running,
not queued behind its items.
"""

from __future__ import annotations

import io
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.batches.conftest import FIGURES
from tests.integration.batches.support import (
    batch_body,
    get_batch,
    read_results,
    wait_finished,
    wait_sent,
)
from tests.integration.gateway.support import RunningGateway, http, start_gateway

_SAMPLES = 100
_RATE_SAMPLE = 60
"""Items sent before the batch is cancelled: three seconds of the default rate."""


async def _interactive_latencies(
    gw: RunningGateway, label: str, samples: int = _SAMPLES
) -> list[float]:
    latencies = []
    async with aiohttp.ClientSession() as session:
        for i in range(samples):
            body = gw.body(f"FOUND-{label}-{i}")
            started = time.perf_counter()
            async with session.post(
                f"{gw.base_url}/v1/exchanges",
                json=body,
                headers=gw.headers(Prefer="wait=10"),
            ) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append(time.perf_counter() - started)
    return latencies


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def test_interactive_latency_with_a_10000_item_batch_running(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """Default rate (20 items/s, burst 5): batch items never exceed it; 100 interactive
    exchanges all complete while the batch is far from done; p99 with and without the
    batch is printed."""
    overrides: dict[str, Any] = {"rate_limit": {"rate_per_s": 1000.0, "burst": 1000}}
    async with start_gateway(kafka_bootstrap, tmp_path, unique_name, **overrides) as gw:
        settings = gw.settings.batches
        assert (settings.rate_per_provider, settings.burst_per_provider) == (20.0, 5)
        await _interactive_latencies(gw, "warm", samples=20)  # connections, caches
        without = await _interactive_latencies(gw, "alone")
        subjects = [f"FOUND-b-{i}" for i in range(10_000)]
        # A body of ~1.4 MB: aiohttp wants a stream for that, not one bytes object.
        status, _, batch = await http(
            "POST",
            f"{gw.base_url}/v1/batches",
            headers=gw.headers(**{"Content-Type": "application/json"}),
            data=io.BytesIO(json.dumps(batch_body(gw, subjects)).encode()),
        )
        assert status == 202, batch
        with_batch = await _interactive_latencies(gw, "busy")
        _, during = await get_batch(gw, batch["id"])
        assert during["state"] == "running"
        assert during["progress"] < 0.2  # the interactive ones did not wait for the batch
        # Enough items for the rate check, however fast the interactive ones were.
        await wait_sent(gw, batch["id"], items=_RATE_SAMPLE, timeout_s=60)
        status, _, _ = await http(
            "DELETE", f"{gw.base_url}/v1/batches/{batch['id']}", headers=gw.headers()
        )
        assert status == 200
        await wait_finished(gw, batch["id"], timeout_s=60)
        lines = await read_results(gw, batch["id"])
    sent = sorted(
        datetime.fromisoformat(line["exchange"]["created_at"]).timestamp()
        for line in lines
        if line["exchange"] is not None
    )
    assert len(sent) >= _RATE_SAMPLE
    worst = max(sum(1 for t in sent[i:] if t < start + 1.0) for i, start in enumerate(sent))
    # burst + rate x 1 s, +1 for the millisecond rounding of created_at.
    assert worst <= settings.burst_per_provider + settings.rate_per_provider + 1, worst
    span = sent[-1] - sent[0]
    FIGURES.append(
        f"interactive p50/p99 without a batch: {_p(without, 50) * 1000:.0f}/"
        f"{_p(without, 99) * 1000:.0f} ms; with a 10,000-item batch running: "
        f"{_p(with_batch, 50) * 1000:.0f}/{_p(with_batch, 99) * 1000:.0f} ms "
        f"(ratio of p99s {_p(with_batch, 99) / _p(without, 99):.2f})"
    )
    FIGURES.append(
        f"batch items at the default rate: {len(sent)} in {span:.1f} s "
        f"({(len(sent) - 1) / span:.1f}/s), at most {worst} in any 1 s window"
    )
