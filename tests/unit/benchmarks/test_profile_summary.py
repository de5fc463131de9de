"""Summaries of pyinstrument sessions: busy time ranked, idle left out, ours attributed."""

from __future__ import annotations

from pathlib import Path

from pyinstrument import Profiler

from benchmarks.audit_cost import append_throughput
from benchmarks.profile_summary import render, summarize


def test_busy_code_of_ours_is_ranked_and_rendered(tmp_path: Path) -> None:
    """Profiling Merkle appends charges their time to our functions, and the rendered
    section names the process and both rankings."""
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    append_throughput(30_000)
    profiler.stop()
    path = tmp_path / "worker-1.pyisession"
    assert profiler.last_session is not None
    profiler.last_session.save(str(path))

    profile = summarize(path, top=5)

    assert profile.name == "worker-1"
    assert profile.busy_s > 0
    assert len(profile.top) <= 5
    assert sum(c.share for c in profile.top) <= 1.0 + 1e-9
    ours = {(c.function, c.where.split("/")[0]) for c in profile.top_ours}
    assert any(where in {"bus", "benchmarks"} for _, where in ours), ours
    text = render([profile])
    assert "worker-1: busy" in text
    assert "by the innermost function of ours:" in text
