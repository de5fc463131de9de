"""The closed-loop driver against in-memory targets (no network)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from benchmarks.closed_loop import LoadCommand, closed_loop


async def test_counts_successes_and_errors_by_kind() -> None:
    """Successes carry latencies; failures are counted per kind, exceptions by type."""
    calls = 0

    async def call(worker: int) -> str | None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls % 5 == 0:
            return "http_503"
        if calls % 7 == 0:
            raise ConnectionResetError("peer went away")
        return None

    report = await closed_loop(call, LoadCommand(concurrency=4, duration_s=0.05))
    assert report.ok > 0
    assert report.errors == sum(report.error_kinds.values())
    assert set(report.error_kinds) <= {"http_503", "ConnectionResetError"}
    assert "http_503" in report.error_kinds
    assert report.p50_ms is not None
    assert report.p99_ms is not None
    assert report.p50_ms <= report.p95_ms <= report.p99_ms  # type: ignore[operator]
    assert report.throughput == pytest.approx(report.ok / report.elapsed_s)


async def test_every_worker_runs() -> None:
    """Concurrency N means N workers each sending: all of them are seen."""
    seen: set[int] = set()

    async def call(worker: int) -> str | None:
        seen.add(worker)
        await asyncio.sleep(0)
        return None

    await closed_loop(call, LoadCommand(concurrency=8, duration_s=0.02))
    assert seen == set(range(8))


async def test_all_failures_leave_no_percentiles() -> None:
    """With no success there is no latency to report: None, not a made-up zero."""

    async def call(worker: int) -> str | None:
        await asyncio.sleep(0)
        return "timeout"

    report = await closed_loop(call, LoadCommand(concurrency=2, duration_s=0.02))
    assert report.ok == 0
    assert report.p99_ms is None
    assert report.errors > 0


def test_command_bounds() -> None:
    """A command with zero workers or no duration is refused with the field named."""
    with pytest.raises(ValidationError, match="concurrency"):
        LoadCommand(concurrency=0, duration_s=1)
    with pytest.raises(ValidationError, match="duration_s"):
        LoadCommand(concurrency=1, duration_s=0)
