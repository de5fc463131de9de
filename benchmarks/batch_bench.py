"""``interop bench --batch``: batch items per second at the default rate and unthrottled.

Two stacks of one connector process and one ``interop gateway`` process, each on its own
service copy, reply group and stores (SQLite, or PostgreSQL with ``--store postgres``): one
gateway with the default batch settings (20 items/s per provider), one unthrottled. A batch of the
registry's subjects (cycled) is posted to each; the figure is items over the time from
the POST to the batch's ``finished`` state, as a caller sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import aiohttp

from benchmarks.databases import run_databases
from benchmarks.deployment import PARTITIONS, Deployment, GatewaySpec, prepare
from benchmarks.processes import Child
from benchmarks.registry_data import document_numbers
from benchmarks.scenarios import Launcher, free_port, http_ready
from benchmarks.target import BenchTarget

__all__ = ["UNTHROTTLED", "run_batch_bench"]

UNTHROTTLED: Final[dict[str, Any]] = {
    "rate_per_provider": 100_000.0,
    "burst_per_provider": 1000,
    "max_in_flight": 1000,
    "poll_interval_s": 0.2,
}
Progress = Callable[[str], None]


def _batch(service: str, items: int) -> dict[str, Any]:
    numbers = document_numbers()
    return {
        "service": service,
        "version": "1",
        "purpose": "social-benefits",
        "official": "official-bench",
        "items": [
            {
                "subject": numbers[i % len(numbers)],
                "data": {"document_type": "DNI", "document_number": numbers[i % len(numbers)]},
            }
            for i in range(items)
        ],
    }


async def _one(dep: Deployment, port: int, service: str, items: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {dep.api_key}"}
    base = f"http://127.0.0.1:{port}/v1/batches"
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.post(base, json=_batch(service, items), headers=headers) as r:
            body = await r.json()
            if r.status != 202:
                raise RuntimeError(f"the gateway refused the batch: {r.status} {body}")
        while True:
            async with session.get(f"{base}/{body['id']}", headers=headers) as r:
                state = await r.json()
            if state["state"] == "finished":
                break
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started
    return {
        "items": items,
        "seconds": round(elapsed, 2),
        "items_per_s": round(items / elapsed, 1),
        "counts": {k: v for k, v in state["counts"].items() if v},
    }


async def _run(
    target: BenchTarget, work_dir: Path, sizes: tuple[int, int], progress: Progress
) -> dict[str, Any]:
    logs = work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    launcher = Launcher(logs)
    async with run_databases(work_dir, target.postgres_dsn) as stores:
        dep = await prepare(work_dir, target, stores)
        # One stack per scenario copy (its own service, reply group, connector and
        # stores), so the two gateways' workers never see each other's batch.
        stacks = [("default", 1, None), ("unthrottled", 2, UNTHROTTLED)]
        servers: list[tuple[Child, int]] = []
        specs: list[GatewaySpec] = []
        for name, scenario, batches in stacks:
            connector_port = free_port()
            config = dep.connector_config(f"batch-{name}-connector", scenario, connector_port)
            servers.append(
                (
                    launcher.interop(f"batch-{name}-connector", ["connector", "run", str(config)]),
                    connector_port,
                )
            )
            spec = GatewaySpec(
                f"batch-{name}",
                free_port(),
                dep.gateway_group(scenario),
                tuple(range(PARTITIONS)),
                scenario=scenario,
                batches=batches,
            )
            specs.append(spec)
            servers.append(
                (
                    launcher.interop(
                        spec.name, ["gateway", "--config", str(dep.gateway_config(spec))]
                    ),
                    spec.port,
                )
            )
        try:
            for child, _ in servers:
                await launcher.start(child)
            await asyncio.gather(*(http_ready(child, port) for child, port in servers))
            progress("batch: processes ready")
            figures: dict[str, Any] = {}
            for (name, scenario, _), spec, items in zip(stacks, specs, sizes, strict=True):
                service = dep.services[scenario - 1]
                figures[name] = result = await _one(dep, spec.port, service, items)
                progress(
                    f"batch {name:12} {items} items: "
                    f"{result['items_per_s']:.1f} items/s ({result['seconds']} s)"
                )
        finally:
            await launcher.stop_all()
    return figures


def run_batch_bench(
    target: BenchTarget, progress: Progress, *, sizes: tuple[int, int] = (200, 2000)
) -> dict[str, Any]:
    """Items/s of a batch at the default rate and unthrottled (``sizes``: items of each)."""
    with contextlib.ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-batch-")))
        return asyncio.run(_run(target, work_dir, sizes, progress))
