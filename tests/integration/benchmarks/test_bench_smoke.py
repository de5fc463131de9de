"""``interop bench`` at a tiny size on the real broker, so the harness cannot rot.

It starts every process the real command starts (gateways, connectors, floor client and
responder, the direct registry, load generators) and checks that each scenario measured
something and that every figure the report prints exists. No assertion on speed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.batch_bench import run_batch_bench
from benchmarks.errors import BenchConfigError
from benchmarks.report import RATIOS, render_text
from benchmarks.runner import BenchOptions, run_bench
from benchmarks.scenarios import DIRECT, E2E, FLOOR, SCALE_OUT


def test_bench_measures_every_scenario(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Each scenario answers without errors at each concurrency; ratios, CPU per process
    and audit proof figures are all present; the document is JSON."""
    options = BenchOptions(
        # Long enough that a loaded machine still completes exchanges at concurrency 1
        # (the gateway's audit indexer may be catching up on the shared broker's log).
        runs=1,
        duration_s=1.5,
        warmup_s=1.0,
        concurrencies=(1, 4),
        audit_sizes=(100, 1000),
        audit_appends=200,
        indexer_events=300,
        proof_samples=10,
        work_dir=tmp_path,
    )
    progress: list[str] = []
    doc = run_bench(options, kafka_bootstrap, progress.append)

    assert json.loads(json.dumps(doc)) == doc
    assert set(doc["scenarios"]) == {FLOOR, DIRECT, E2E, SCALE_OUT}
    for name, per in doc["scenarios"].items():
        assert set(per) == {"1", "4"}, name
        for concurrency, figures in per.items():
            where = f"{name} c={concurrency}: {figures['error_kinds']}"
            assert figures["errors"] == 0, where
            assert figures["throughput_per_s"]["median"] > 0, where
            assert figures["p99_ms"] is not None, where
    e2e_cpu = doc["scenarios"][E2E]["4"]["cpu_ms_per_exchange"]
    assert {"e2e-gateway-1", "e2e-connector-1", "e2e-client"} <= set(e2e_cpu)
    assert set(doc["scenarios"][SCALE_OUT]["4"]["cpu_ms_per_exchange"]) >= {
        "e2e_2x2-gateway-1",
        "e2e_2x2-gateway-2",
        "e2e_2x2-connector-1",
        "e2e_2x2-connector-2",
    }
    for label, *_ in RATIOS:
        assert doc["ratios"][label]["4"] is not None, label
    assert [p["size"] for p in doc["audit"]["proofs"]] == [100, 1000]
    assert doc["audit"]["append_events"] == 200
    assert doc["audit"]["indexer_events"] == 300
    assert doc["audit"]["indexer_events_per_s"] > 0
    text = render_text(doc)
    assert text.index("Ratios") < text.index("Absolute figures")
    assert any("round 1/1 e2e_2x2" in line for line in progress)


def test_no_broker_is_one_clear_error(tmp_path: Path) -> None:
    """A bootstrap address nobody answers on fails with BENCH_CONFIG_INVALID naming it,
    before any process is started."""
    options = BenchOptions.quick(work_dir=tmp_path)
    with pytest.raises(BenchConfigError, match=r"no broker answers at 127\.0\.0\.1:9") as err:
        run_bench(options, "127.0.0.1:9", lambda _line: None)
    assert err.value.code == "BENCH_CONFIG_INVALID"
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())


def test_the_batch_bench_measures_both_rates(kafka_bootstrap: str) -> None:
    """``interop bench --batch`` at a tiny size: both gateways finish their batch with
    every item found, and report items per second. No assertion on speed."""
    progress: list[str] = []
    figures = run_batch_bench(kafka_bootstrap, progress.append, sizes=(10, 60))
    assert set(figures) == {"default", "unthrottled"}
    assert figures["default"]["counts"] == {"found": 10}
    assert figures["unthrottled"]["counts"] == {"found": 60}
    assert all(f["items_per_s"] > 0 for f in figures.values())
    assert any("unthrottled" in line and "items/s" in line for line in progress)
