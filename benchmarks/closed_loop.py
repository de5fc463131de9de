"""The closed-loop load driver: N workers, each sending its next request when the last ends.

A closed loop measures what a fixed number of waiting clerks get (throughput follows from
latency), and it can never overload the system into a queueing collapse the way an open
loop at a fixed rate can. The driver knows nothing about HTTP or Kafka: a target is an
async ``call(worker)`` that returns None on success or a short, stable error kind.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field

from benchmarks.stats import percentile

__all__ = ["Call", "LoadCommand", "LoadReport", "closed_loop", "own_cpu_ms"]

Call = Callable[[int], Awaitable[str | None]]
"""One request by worker ``i``: None when it succeeded, else an error kind (no payload)."""


class LoadCommand(BaseModel):
    """What the orchestrator asks a load process for (one JSON line on its stdin)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    concurrency: int = Field(ge=1, le=4096)
    duration_s: float = Field(gt=0, le=600)


class LoadReport(BaseModel):
    """What one measured run produced (one JSON line on the load process's stdout)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    concurrency: int
    ok: int
    errors: int
    error_kinds: dict[str, int]
    elapsed_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    cpu_ms: float
    """CPU time (user + system) the load process itself spent during the run."""

    @property
    def throughput(self) -> float:
        """Successful exchanges per second."""
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0


def own_cpu_ms() -> float:
    """User + system CPU time of this process so far, in milliseconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000.0


async def closed_loop(call: Call, command: LoadCommand) -> LoadReport:
    """Run ``command.concurrency`` workers for ``command.duration_s``; report what they saw.

    Only requests that finished before the deadline count, and the elapsed time runs
    until the last of them finished: the in-flight tail neither inflates nor deflates
    the throughput. A request that raises counts as an error of its exception's type.
    """
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    start = time.perf_counter()
    deadline = start + command.duration_s
    last_end = start
    cpu_before = own_cpu_ms()

    async def worker(index: int) -> None:
        nonlocal last_end
        while True:
            sent = time.perf_counter()
            if sent >= deadline:
                return
            try:
                failure = await call(index)
            except Exception as exc:  # a benchmark reports failures, it does not die of them
                failure = type(exc).__name__
            done = time.perf_counter()
            if done > deadline:
                return
            last_end = max(last_end, done)
            if failure is None:
                latencies.append((done - sent) * 1000.0)
            else:
                errors[failure] += 1

    await asyncio.gather(*(worker(i) for i in range(command.concurrency)))
    cpu_ms = own_cpu_ms() - cpu_before
    latencies.sort()
    has = bool(latencies)
    return LoadReport(
        concurrency=command.concurrency,
        ok=len(latencies),
        errors=sum(errors.values()),
        error_kinds=dict(errors),
        elapsed_s=max(last_end - start, 1e-9),
        p50_ms=percentile(latencies, 0.50) if has else None,
        p95_ms=percentile(latencies, 0.95) if has else None,
        p99_ms=percentile(latencies, 0.99) if has else None,
        cpu_ms=cpu_ms,
    )
