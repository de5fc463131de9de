"""``interop bench`` at a tiny size on real brokers and databases, so the harness cannot rot.

It starts every process the real command starts (gateways, audit indexers, connectors,
floor client and responder, the direct registry, load generators) and checks that each
scenario measured something and that every figure the report prints exists. No
assertion on speed. Besides the default configuration (SQLite, one open broker), the
production configuration runs once: the PostgreSQL stores on the session's server and a
private 3-node cluster with SCRAM logins and ACLs (the slowest test here: its own three
JVMs start and stop, about 90 s on 2 loaded cores).

Sizes are the smoke test's, not ``--quick``'s: quick's 0.5 s runs at concurrency 64 can
end before a single exchange on a loaded machine, which is fine for a look and not for an
assertion that every scenario answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from benchmarks.batch_bench import run_batch_bench
from benchmarks.errors import BenchConfigError
from benchmarks.report import RATIOS, render_text
from benchmarks.runner import BenchOptions, run_bench
from benchmarks.scenarios import DIRECT, E2E, FLOOR, SCALE_OUT
from benchmarks.target import BenchTarget, start_target
from bus import BrokerUnavailableError, probe_cluster


def _smoke_options(work_dir: Path) -> BenchOptions:
    return BenchOptions(
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
        work_dir=work_dir,
    )


def _assert_every_scenario_answered(doc: dict[str, Any]) -> None:
    assert json.loads(json.dumps(doc)) == doc
    assert set(doc["scenarios"]) == {FLOOR, DIRECT, E2E, SCALE_OUT}
    for name, per in doc["scenarios"].items():
        assert set(per) == {"1", "4"}, name
        for concurrency, figures in per.items():
            where = f"{name} c={concurrency}: {figures['error_kinds']}"
            assert figures["errors"] == 0, where
            assert figures["throughput_per_s"]["median"] > 0, where
            assert figures["p99_ms"] is not None, where
    # The indexer runs apart in every configuration, and its CPU is counted.
    assert "e2e-indexer" in doc["scenarios"][E2E]["4"]["cpu_ms_per_exchange"]


def test_bench_measures_every_scenario(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Each scenario answers without errors at each concurrency; ratios, CPU per process
    and audit proof figures are all present; the document is JSON."""
    progress: list[str] = []
    doc = run_bench(_smoke_options(tmp_path), BenchTarget(kafka_bootstrap), progress.append)

    _assert_every_scenario_answered(doc)
    assert doc["configuration"]["store"] == "sqlite"
    assert doc["configuration"]["kafka_auth"] == "none"
    e2e_cpu = doc["scenarios"][E2E]["4"]["cpu_ms_per_exchange"]
    assert {"e2e-gateway-1", "e2e-connector-1", "e2e-client"} <= set(e2e_cpu)
    assert "broker" not in e2e_cpu  # a broker the bench did not start is not its to measure
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
        run_bench(options, BenchTarget("127.0.0.1:9"), lambda _line: None)
    assert err.value.code == "BENCH_CONFIG_INVALID"
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").iterdir())


async def _bench_databases(server_dsn: str) -> set[str]:
    admin = await asyncpg.connect(server_dsn)
    try:
        rows = await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'bench_%'")
    finally:
        await admin.close()
    return {str(row["datname"]) for row in rows}


def test_bench_on_the_production_configuration(postgres_server: str, tmp_path: Path) -> None:
    """``--store postgres --nodes 3`` (authenticated by default), in one run since each part
    costs its own start: the bench's 3-node cluster refuses an anonymous client; every
    scenario (the floor too) answers through its SCRAM logins and ACLs; gateways, their
    audit indexers and connectors keep state in the run's PostgreSQL databases (no SQLite
    file is written), which are gone afterwards; the document and header say all this."""
    before = asyncio.run(_bench_databases(postgres_server))
    progress: list[str] = []
    with contextlib.ExitStack() as stack:
        target = start_target(
            stack,
            nodes=3,
            auth=True,
            store="postgres",
            progress=progress.append,
            postgres_dsn=postgres_server,
        )
        info = asyncio.run(probe_cluster(target.admin(), timeout_s=10))
        assert info.broker_count == 3
        with pytest.raises(BrokerUnavailableError):
            asyncio.run(probe_cluster(target.bootstrap, timeout_s=3))
        doc = run_bench(_smoke_options(tmp_path), target, progress.append)

    _assert_every_scenario_answered(doc)
    configuration = doc["configuration"]
    assert configuration["store"] == "postgres"
    assert configuration["kafka_nodes"] == 3
    assert configuration["replication_factor"] == 3
    assert configuration["min_insync_replicas"] == 2
    assert configuration["kafka_auth"] == "SASL/SCRAM-SHA-512 + ACLs"
    assert "configuration: postgres store" in render_text(doc)
    # The nodes the bench started compete with the parts for the machine: measured too.
    e2e_cpu = doc["scenarios"][E2E]["4"]["cpu_ms_per_exchange"]
    assert {"broker-1", "broker-2", "broker-3"} <= set(e2e_cpu)
    assert all(e2e_cpu[f"broker-{n}"]["median"] > 0 for n in (1, 2, 3))
    assert any("3-node Kafka cluster" in line for line in progress)
    gateway = yaml.safe_load((tmp_path / "e2e_2x2-gateway-2.yaml").read_text())
    connector = yaml.safe_load((tmp_path / "e2e_2x2-connector-2.yaml").read_text())
    assert gateway["gateway"]["store_url"].startswith("postgresql://")
    assert connector["connector"]["reply_store_url"].startswith("postgresql://")
    assert sorted(p.name for p in tmp_path.glob("*.db")) == []
    assert asyncio.run(_bench_databases(postgres_server)) == before


def test_the_batch_bench_measures_both_rates(kafka_bootstrap: str) -> None:
    """``interop bench --batch`` at a tiny size: both gateways finish their batch with
    every item found, and report items per second. No assertion on speed."""
    progress: list[str] = []
    figures = run_batch_bench(BenchTarget(kafka_bootstrap), progress.append, sizes=(10, 60))
    assert set(figures) == {"default", "unthrottled"}
    assert figures["default"]["counts"] == {"found": 10}
    assert figures["unthrottled"]["counts"] == {"found": 60}
    assert all(f["items_per_s"] > 0 for f in figures.values())
    assert any("unthrottled" in line and "items/s" in line for line in progress)
