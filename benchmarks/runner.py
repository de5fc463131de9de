"""One bench: broker, deployment, scenarios measured in rounds, audit cost, results.

Order: check the broker answers, create the run's databases (PostgreSQL), topics, ACLs
(an authenticated broker) and files, start every scenario's processes, then for each
concurrency warm every scenario up once and measure ``runs`` rounds, each round running
every scenario back to back. The processes stop before the audit cost is measured in this
process, so the two never compete for CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchmarks.audit_cost import (
    AppendFigures,
    ProofFigures,
    append_throughput,
    bulk_tree,
    proof_times,
)
from benchmarks.databases import StoreLayout, run_databases
from benchmarks.deployment import Deployment, prepare
from benchmarks.errors import BenchConfigError
from benchmarks.indexer_cost import IndexerFigures, indexer_throughput
from benchmarks.report import results_document
from benchmarks.scenarios import (
    Launcher,
    Scenario,
    start_direct,
    start_end_to_end,
    start_floor,
)
from benchmarks.target import BenchTarget
from bus import BusError, probe_cluster

__all__ = ["BenchOptions", "run_bench"]

Progress = Callable[[str], None]


class BenchOptions(BaseModel):
    """What to measure and how long."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runs: int = Field(default=3, ge=1, le=50)
    duration_s: float = Field(default=4.0, gt=0, le=600)
    warmup_s: float = Field(default=1.0, ge=0, le=600)
    concurrencies: tuple[int, ...] = (1, 16, 64)
    audit_sizes: tuple[int, ...] = (1_000, 100_000, 1_000_000)
    audit_appends: int = Field(default=100_000, ge=1)
    indexer_events: int = Field(default=20_000, ge=1)
    proof_samples: int = Field(default=500, ge=1)
    work_dir: Path | None = None
    profile_dir: Path | None = None
    """When set, gateways and providers run under pyinstrument (pstats files here)."""

    @classmethod
    def quick(cls, **overrides: Any) -> BenchOptions:
        """About 30 s on a warm broker: enough to see every part work, not to quote."""
        values: dict[str, Any] = {
            "runs": 2,
            "duration_s": 0.5,
            "warmup_s": 0.3,
            "audit_sizes": (1_000, 10_000),
            "audit_appends": 5_000,
            "indexer_events": 1_000,
            "proof_samples": 50,
        }
        values.update(overrides)
        return cls.model_validate(values)


async def _measure(
    scenarios: Sequence[Scenario], options: BenchOptions, progress: Progress
) -> None:
    for concurrency in options.concurrencies:
        if options.warmup_s > 0:
            for scenario in scenarios:
                await scenario.measure(concurrency, options.warmup_s, keep=False)
        for round_ in range(options.runs):
            for scenario in scenarios:
                figures = await scenario.measure(concurrency, options.duration_s, keep=True)
                progress(
                    f"c={concurrency:<3} round {round_ + 1}/{options.runs} {scenario.name:8} "
                    f"{figures.throughput:8.0f}/s p99 {figures.p99_ms or 0:7.1f} ms"
                    + (f" errors {figures.errors}" if figures.errors else "")
                )


def _audit(options: BenchOptions, progress: Progress) -> tuple[AppendFigures, list[ProofFigures]]:
    appends = append_throughput(options.audit_appends)
    progress(f"audit append: {appends.events_per_s:,.0f} events/s")
    proofs = []
    for size in options.audit_sizes:
        tree, leaves = bulk_tree(size)
        figures = proof_times(tree, leaves, samples=options.proof_samples)
        del tree, leaves
        progress(
            f"audit size {size:,}: inclusion {figures.inclusion_us:.1f} us, "
            f"consistency {figures.consistency_us:.1f} us"
        )
        proofs.append(figures)
    return appends, proofs


async def _start_all(dep: Deployment, launcher: Launcher) -> list[Scenario]:
    """Start every scenario side by side (the processes' imports and broker joins
    overlap); if one fails, the others are cancelled and the first error is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(start_floor(dep, launcher)),
                group.create_task(start_direct(dep, launcher)),
                group.create_task(start_end_to_end(dep, launcher, replicas=1)),
                group.create_task(start_end_to_end(dep, launcher, replicas=2)),
            ]
    except ExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return [task.result() for task in tasks]


async def _run_scenarios(
    options: BenchOptions, dep: Deployment, logs: Path, progress: Progress
) -> dict[str, Any]:
    launcher = Launcher(logs, options.profile_dir)
    try:
        scenarios = await _start_all(dep, launcher)
        for scenario in scenarios:
            scenario.shared = dep.target.shared_servers
        progress("all processes ready")
        await _measure(scenarios, options, progress)
    finally:
        await launcher.stop_all()
    return {scenario.name: scenario.runs for scenario in scenarios}


async def _scenarios(
    options: BenchOptions, target: BenchTarget, work_dir: Path, progress: Progress
) -> tuple[dict[str, Any], IndexerFigures]:
    logs = work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if options.profile_dir is not None:
        options.profile_dir.mkdir(parents=True, exist_ok=True)
    admin = target.admin()
    try:
        await probe_cluster(admin, timeout_s=10)
    except BusError as exc:
        raise BenchConfigError(f"no broker answers at {target.bootstrap}: {exc}") from exc
    async with run_databases(work_dir, target.postgres_dsn) as stores:
        dep = await prepare(work_dir, target, stores)
        progress(
            f"topics ready (run {dep.token}, {target.store} stores); "
            f"starting processes, logs in {logs}"
        )
        runs = await _run_scenarios(options, dep, logs, progress)
        indexer = await _indexer(options, target, stores)
    progress(f"audit indexer: {indexer.events_per_s:,.0f} events/s")
    return runs, indexer


async def _indexer(
    options: BenchOptions, target: BenchTarget, stores: StoreLayout
) -> IndexerFigures:
    return await indexer_throughput(
        target.admin(),
        stores.indexer,
        options.indexer_events,
        replication_factor=target.replication_factor,
    )


def _notes(target: BenchTarget) -> list[str]:
    store = "SQLite" if target.store == "sqlite" else "PostgreSQL"
    return [
        f"end to end: interop gateway ({store} store, consent, audit trail on, requests "
        "signed), its audit indexer as its own process (interop audit index), and interop "
        "connector run with an in-memory handler",
    ]


def run_bench(
    options: BenchOptions,
    target: BenchTarget,
    progress: Progress,
    *,
    load_average: tuple[float, float, float] | None = None,
) -> dict[str, Any]:
    """Run everything on ``target``; return the results document
    (``report.results_document``). The caller owns the broker and the PostgreSQL server
    (``interop bench`` starts private ones unless given ``--bootstrap``/``--postgres``);
    the run creates its own topics, ACLs and databases, and drops the databases.

    ``load_average``: the machine's before anything of the bench started (the caller's
    broker start counts in the 1-minute figure otherwise); by default, now."""
    load_average = load_average or os.getloadavg()
    with contextlib.ExitStack() as stack:
        if options.work_dir is not None:
            work_dir = options.work_dir
            work_dir.mkdir(parents=True, exist_ok=True)
        else:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        runs, indexer = asyncio.run(_scenarios(options, target, work_dir, progress))
    appends, proofs = _audit(options, progress)
    return results_document(
        runs,
        appends=appends,
        indexer=indexer,
        proofs=proofs,
        options=options.model_dump(mode="json"),
        configuration=target.configuration(),
        load_average=load_average,
        notes=_notes(target),
    )
