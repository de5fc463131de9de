"""The results document and the table: ratios per round, ratios printed first."""

from __future__ import annotations

import json

import pytest

from benchmarks.audit_cost import AppendFigures, ProofFigures
from benchmarks.indexer_cost import IndexerFigures
from benchmarks.report import (
    configuration_line,
    machine_line,
    ratios,
    render_text,
    results_document,
)
from benchmarks.scenarios import DIRECT, E2E, FLOOR, SCALE_OUT, RunFigures
from benchmarks.target import BenchTarget, new_broker_auth


def _run(throughput: float, p99: float, cpu: dict[str, float] | None = None) -> RunFigures:
    return RunFigures(
        throughput=throughput,
        p50_ms=p99 / 2,
        p95_ms=p99 * 0.9,
        p99_ms=p99,
        ok=int(throughput),
        errors=0,
        error_kinds={},
        cpu_ms_per_exchange=cpu or {"gateway": 0.5},
    )


RUNS = {
    FLOOR: {64: [_run(1000, 10), _run(500, 20)]},
    E2E: {64: [_run(600, 15), _run(400, 30)]},
    DIRECT: {64: [_run(2000, 5), _run(2000, 5)]},
    SCALE_OUT: {64: [_run(900, 12), _run(500, 30)]},
}


def test_ratios_are_taken_within_each_round() -> None:
    """Round 1: 600/1000, round 2: 400/500: the ratio spread is over those, not over
    the ratio of medians (500/750), so a slow round for both does not skew it."""
    table = ratios(RUNS)
    throughput = table["e2e/floor throughput"][64]
    assert throughput is not None
    assert (throughput.min, throughput.max) == pytest.approx((0.6, 0.8))
    p99 = table["e2e/floor p99"][64]
    assert p99 is not None
    assert p99.median == pytest.approx(1.5)
    scale = table["scale-out 2/1 throughput"][64]
    assert scale is not None
    assert scale.median == pytest.approx((1.5 + 1.25) / 2)


def test_a_missing_scenario_gives_no_ratio() -> None:
    """Without the floor there is no e2e/floor ratio (None), and no crash."""
    table = ratios({E2E: RUNS[E2E]})
    assert table["e2e/floor throughput"][64] is None


def test_document_is_json_and_text_puts_ratios_first() -> None:
    """The JSON file holds every figure; the table shows ratios before absolute figures."""
    doc = results_document(
        RUNS,
        appends=AppendFigures(1000, 12345.0),
        indexer=IndexerFigures(500, 4321.0),
        proofs=[ProofFigures(1000, 3.0, 4.0, 10.0, 10.5)],
        options={"runs": 2, "duration_s": 1.0},
        notes=["a note"],
    )
    parsed = json.loads(json.dumps(doc))
    assert parsed["scenarios"][E2E]["64"]["throughput_per_s"]["median"] == 500
    assert parsed["scenarios"][E2E]["64"]["cpu_ms_per_exchange"]["gateway"]["max"] == 0.5
    assert parsed["audit"]["proofs"][0]["size"] == 1000
    assert parsed["machine"]["nproc"] >= 1
    text = render_text(doc)
    assert text.index("Ratios") < text.index("Absolute figures") < text.index("CPU ms")
    assert "12,345 events/s" in text
    assert "indexer append" in text
    assert "4,321 events/s" in text
    assert parsed["audit"]["indexer_events"] == 500
    assert "note: a note" in text


def test_header_says_which_configuration_ran_and_on_what_load() -> None:
    """The production configuration's document and header name the store, the brokers
    with replication and min.insync.replicas, the auth, the cores and the load average
    at the start; the indexer line names the PostgreSQL index."""
    target = BenchTarget(
        "127.0.0.1:1,127.0.0.1:3,127.0.0.1:5",
        nodes=3,
        auth=new_broker_auth(),
        postgres_dsn="postgresql://u:secret-password@127.0.0.1:5/postgres",
    )
    doc = results_document(
        RUNS,
        appends=None,
        indexer=IndexerFigures(500, 4321.0),
        proofs=[],
        options={"runs": 1, "duration_s": 5.0},
        configuration=target.configuration(),
        load_average=(1.234, 0.5, 0.25),
    )
    parsed = json.loads(json.dumps(doc))
    assert parsed["configuration"]["store"] == "postgres"
    assert parsed["configuration"]["kafka_nodes"] == 3
    assert parsed["machine"]["load_average_at_start"] == [1.23, 0.5, 0.25]
    header = render_text(doc).splitlines()[:3]
    assert header[1] == (
        "configuration: postgres store, audit indexer in its own process; Kafka 3 brokers "
        "(replication factor 3, min.insync.replicas 2, acks=all), "
        "auth: SASL/SCRAM-SHA-512 + ACLs"
    )
    assert header[2].startswith(f"machine: {parsed['machine']['nproc']} CPU(s), ")
    assert header[2].endswith("load average at start 1.23 0.50 0.25 (1/5/15 min)")
    text = render_text(doc)
    assert "topic -> PostgreSQL index" in text
    assert "secret-password" not in text
    assert "secret-password" not in json.dumps(doc)


def test_default_configuration_and_an_old_document() -> None:
    """One open broker with SQLite is said as such; a document from before the
    configuration was recorded still renders and says so."""
    line = configuration_line(BenchTarget("127.0.0.1:9092").configuration())
    assert line == (
        "configuration: sqlite store, audit indexer in its own process; Kafka 1 broker "
        "(replication factor 1, min.insync.replicas 1, acks=all), auth: none"
    )
    assert configuration_line(None) == "configuration: not recorded"
    assert machine_line({"nproc": 2, "cpu_model": "x", "memory_mb": 1}).endswith(
        "load average at start unknown (1/5/15 min)"
    )
